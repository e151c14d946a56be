#!/usr/bin/env python3
"""Modern architectures on the GPU (issue 20): torchvision models with seeded weights exported to ONNX, imported
with gie, and timed against PyTorch in the same precision.

    PYTHONPATH=build/gpu/pkg python3 bench/zoo_gpu.py                              # all models, batch 1, 16, 64
    PYTHONPATH=build/gpu/pkg python3 bench/zoo_gpu.py --models convnext_tiny --batches 16 --precisions fp32
    PYTHONPATH=build/gpu/pkg python3 bench/zoo_gpu.py --no-compile --json zoo.json --markdown zoo.md
    PYTHONPATH=build/dev/pkg python3 bench/zoo_gpu.py --cpu-check --batches 1,2             # no GPU: imports + CPU accuracy

Models (torchvision, weights=None, torch.manual_seed(--seed) before construction, eval mode): resnet50,
mobilenet_v2, mobilenet_v3_large, efficientnet_b0, convnext_tiny, and vit_small (torchvision's VisionTransformer
with 6 layers, 6 heads, width 384, patch 16, 224x224: a ViT-style encoder small enough to export quickly).
Each (model, batch) is exported with fixed shapes (torch.onnx.export, --opset, the TorchScript exporter where
torch has both) and parsed with gie.OnnxParser; the engine is built for that batch with config.cuda_graph.

Per (model, batch, precision) row:
* gie: the engine (FP16: config.fp16 = True; network input and output stay FP32, converted inside the engine and
  counted in its time), bound to torch CUDA tensors, each run one ctx.enqueue on the benchmark's stream;
* eager / graph: the torch module (FP32: TF32 off for matmul and cuDNN, cudnn.benchmark on; FP16: .half() and
  channels_last, input half channels_last), called eagerly and replayed through a torch.cuda.CUDAGraph;
* compile: torch.compile of that module (mode "reduce-overhead" at batch 1, "max-autotune-no-cudagraphs" above),
  in a child process killed after --compile-timeout seconds (the row then says so and the benchmark goes on);
* vs best = gie ms / the fastest torch column's ms (< 1: gie is faster);
* rel err = max |gie - torch FP32 eager| / max |torch FP32 eager| on the logits; top-1 = share of samples whose
  argmax agrees with torch FP32;
* slowest gie steps: the three kernels with the most time in --profile-runs profiled runs (ctx.profiler), as
  "name type ms".
Timing as bench/gpu_vs_torch.py (whose helpers this script uses): CUDA events around each run on one stream,
--warmup untimed runs, the median of --runs timed ones. Progress goes to stderr, the markdown table to stdout.
torch is imported only when the benchmark runs: the table code and --help work without it (tests use them).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _timing  # noqa: E402
import gpu_vs_torch as gvt  # noqa: E402  (timing, comparison, markdown and child-process helpers)

MODELS = ("resnet50", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny", "vit_small")
PRECISIONS = ("fp32", "fp16")
TORCH_COLUMNS = ("eager", "graph", "compile")
COMPILE_TAG = "ZOO_COMPILE_RESULT "
log = gvt.log


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ",".join(MODELS))
    p.add_argument("--batches", default="1,16,64", help="comma-separated batch sizes (default 1,16,64)")
    p.add_argument("--precisions", default="fp32,fp16", help="comma-separated subset of fp32,fp16")
    p.add_argument("--runs", type=int, default=30, help="timed runs per column and cell (default 30)")
    p.add_argument("--warmup", type=int, default=5, help="untimed runs first (default 5)")
    p.add_argument("--profile-runs", type=int, default=3, help="profiled gie runs for the slowest steps (0: none)")
    p.add_argument("--seed", type=int, default=0, help="weight seed")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset of the export (default 17)")
    p.add_argument("--no-compile", action="store_true", help="no torch.compile column")
    p.add_argument("--compile-timeout", type=float, default=600.0, help="seconds per torch.compile cell (default 600)")
    p.add_argument("--workdir", default=None, help="where the ONNX files go (default: a temporary directory)")
    p.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    p.add_argument("--layout", metavar="PATH", help="append every gie engine's kernels (type, tactic, precision, input and "
                   "output dtype / format, profiled ms per run) to this text file")
    p.add_argument("--markdown", metavar="PATH", help="also write the table as a markdown file")
    p.add_argument("--cpu-check", action="store_true",
                   help="no GPU needed: export each model, build it with gie on the CPU (FP32) and compare with torch FP32 "
                        "on the CPU at each batch; prints one line per cell and exits 1 on an import error or a relative "
                        "error above 1e-4 (catches importer gaps before GPU time is spent)")
    p.add_argument("--cpu-runs", type=int, default=3,
                   help="--cpu-check: timed CPU runs per cell after the checked one (median printed; 0: no timing)")
    p.add_argument("--passes-off", default="", metavar="NAMES",
                   help="comma-separated optimizer passes to switch off in the gie builds (an A/B of one pass, e.g. "
                        "channels_first_blocks; docs/optimizer.md lists them)")
    p.add_argument("--compile-child", default=None, help=argparse.SUPPRESS)  # model:batch:precision (internal)
    args = p.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    args.passes_off = [q for q in args.passes_off.split(",") if q]
    bad = [m for m in args.models if m not in MODELS]
    if bad:
        p.error(f"unknown model(s) {','.join(bad)}; choose from {','.join(MODELS)}")
    try:
        args.batches = [int(b) for b in args.batches.split(",") if b]
    except ValueError:
        p.error(f"--batches must be comma-separated integers, got {args.batches!r}")
    if not args.batches or min(args.batches) < 1:
        p.error("--batches must name batch sizes >= 1")
    args.precisions = [q for q in args.precisions.split(",") if q]
    if not args.precisions or set(args.precisions) - set(PRECISIONS):
        p.error(f"--precisions must be a subset of {','.join(PRECISIONS)}")
    if args.runs < 1 or args.warmup < 0 or args.profile_runs < 0 or args.cpu_runs < 0:
        p.error("--runs must be >= 1, --warmup, --profile-runs and --cpu-runs >= 0")
    if args.compile_timeout <= 0:
        p.error("--compile-timeout must be > 0")
    return args


# ---- pure-Python parts (tested without torch or a GPU) -------------------------------------------------

def best_torch(row):
    """(column name, median ms) of the fastest torch column of a row, or (None, None) when none ran."""
    cols = [(c, row[c]["median_ms"]) for c in TORCH_COLUMNS if row.get(c) and row[c].get("median_ms")]
    return min(cols, key=lambda c: c[1]) if cols else (None, None)


def vs_best(row):
    """gie ms / the fastest torch column's ms, or None."""
    _, ms = best_torch(row)
    g = (row.get("gie") or {}).get("median_ms")
    return g / ms if g and ms else None


def slowest_steps(per_kernel_ms, types, runs, k=3):
    """The k kernels with the most time: [(name, type, ms per run)], most first; per_kernel_ms: {name: total ms}."""
    order = sorted(per_kernel_ms.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    return [(name, types.get(name, "?"), ms / max(runs, 1)) for name, ms in order]


def layout_lines(title, layer_info, per_kernel_ms, runs):
    """The --layout text of one engine: a title line, then one line per kernel in execution order."""
    io = lambda ts: ",".join(f"{t.get('dtype', '?')}/{t.get('format', '?')}" + ("(view)" if t.get("view_kind") else "")
                             for t in ts)
    lines = [f"## {title}"]
    for k in layer_info.get("kernels", []):
        ms = per_kernel_ms.get(k["name"])
        ms_text = f"{ms / max(runs, 1):.4f}" if ms is not None else "-"
        lines.append(f"{ms_text:>8} ms  {k.get('type', '?'):<16} {k.get('precision', '?'):<8} {k.get('tactic', '?'):<40} "
                     f"in {io(k.get('inputs', []))} -> out {io(k.get('outputs', []))}  {k['name']}")
    return lines


def accuracy(out, ref):
    """(max |out - ref| / max |ref|, share of rows whose argmax agrees) for (N, classes) arrays."""
    out = np.asarray(out, np.float64).reshape(len(out), -1)
    ref = np.asarray(ref, np.float64).reshape(len(ref), -1)
    if out.shape != ref.shape:
        raise ValueError(f"output shape {out.shape} differs from the reference's {ref.shape}")
    if not np.isfinite(out).all():
        return float("inf"), float((out.argmax(1) == ref.argmax(1)).mean())
    scale = max(float(np.abs(ref).max()), 1e-30)
    return float(np.abs(out - ref).max()) / scale, float((out.argmax(1) == ref.argmax(1)).mean())


def _ms(row, col):
    return (row.get(col) or {}).get("median_ms")


def table(rows):
    """The markdown table of the rows (one per model, batch and precision)."""
    header = ["model", "batch", "prec", "gie ms", "eager ms", "graph ms", "compile ms", "vs best", "rel err", "top-1",
              "slowest gie steps", "notes"]
    lines = []
    for r in rows:
        best, _ = best_torch(r)
        ratio = vs_best(r)
        compile_cell = gvt.fmt(_ms(r, "compile"), ".3f") if _ms(r, "compile") else (r.get("compile_error") or "-")
        steps = "; ".join(f"{n} {t} {ms:.3f}" for n, t, ms in r.get("slowest") or [])
        lines.append([r["model"], str(r["batch"]), r["precision"], gvt.fmt(_ms(r, "gie"), ".3f"), gvt.fmt(_ms(r, "eager"), ".3f"),
                      gvt.fmt(_ms(r, "graph"), ".3f"), compile_cell,
                      "-" if ratio is None else f"{ratio:.2f} ({best})", gvt.fmt(r.get("rel_err"), ".1e"),
                      "-" if r.get("top1") is None else f"{100 * r['top1']:.0f}%", steps or "-",
                      "; ".join(r.get("errors") or [])])
    caption = ("gie vs PyTorch on torchvision models (ms per batch, median; vs best = gie / the fastest torch column, "
               "< 1: gie faster; rel err against torch FP32 eager)")
    return gvt.markdown(caption, header, lines)


# ---- torch side --------------------------------------------------------------------------------------

def make_model(torch, name, seed):
    """The torchvision model `name` with weights from torch.manual_seed(seed), in eval mode (CPU, FP32)."""
    import torchvision

    torch.manual_seed(seed)
    if name == "vit_small":
        from torchvision.models.vision_transformer import VisionTransformer

        m = VisionTransformer(image_size=224, patch_size=16, num_layers=6, num_heads=6, hidden_dim=384, mlp_dim=1536)
    else:
        m = getattr(torchvision.models, name)(weights=None)
    # Non-trivial BatchNorm statistics (fresh ones are 0 / 1), so that folding them is exercised.
    g = torch.Generator().manual_seed(seed + 1)
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.copy_(torch.randn(mod.running_mean.shape, generator=g) * 0.1)
            mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=g) + 0.5)
    # torchvision zero-initializes some weights (the ViT's classifier head): every output would be 0 and the accuracy
    # columns meaningless, so such weights are drawn like the others.
    with torch.no_grad():
        for mod in m.modules():
            w = getattr(mod, "weight", None)
            if isinstance(mod, (torch.nn.Linear, torch.nn.Conv2d)) and w is not None and not w.any():
                w.copy_(torch.randn(w.shape, generator=g) / max(w[0].numel(), 1) ** 0.5)
    return m.eval()


def export_onnx(torch, model, batch, path, opset):
    x = torch.randn(batch, 3, 224, 224)
    kw = dict(input_names=["x"], output_names=["y"], opset_version=opset, do_constant_folding=True)
    try:
        torch.onnx.export(model, x, path, dynamo=False, **kw)
    except TypeError:  # a torch without the dynamo argument
        torch.onnx.export(model, x, path, **kw)


def time_torch_columns(torch, model, x, args, stream, row):
    """Fills row['eager'] and row['graph'] (timings); returns the eager output."""
    with torch.no_grad(), torch.cuda.stream(stream):
        out = model(x).float().clone()
        row["eager"] = gvt.summarize(_timing.cuda_event_ms(torch, [lambda: model(x)], args.warmup, args.runs, stream), x.shape[0])
        try:
            graph, _ = gvt.capture_graph(torch, model, x)
            row["graph"] = gvt.summarize(_timing.cuda_event_ms(torch, [graph.replay], args.warmup, args.runs, stream), x.shape[0])
        except Exception as e:  # noqa: BLE001
            row["errors"].append("torch graph: " + gvt.short(e))
    return out


def build_engine(gie, path, batch, device, fp16, passes_off=()):
    """The gie engine of the ONNX file at `path` for one batch size on `device` (GPU engines with a CUDA graph), with
    the optimizer passes named in `passes_off` switched off."""
    builder = gie.Builder()
    net = gie.OnnxParser(builder=builder).parse(path)
    config = builder.create_config()
    config.device = device
    config.set_batch_range(batch, batch, batch)
    if device == "gpu":
        config.cuda_graph = True
    config.fp16 = fp16
    for name in passes_off:
        config.set_pass_enabled(name, False)
    return builder.build(net, config)


def run_gie(gie, torch, path, batch, fp16, x, args, stream, row):
    """Builds and times the gie engine; fills row['gie'], row['slowest'], row['gie_kernels']; returns its output."""
    t0 = time.perf_counter()
    engine = build_engine(gie, path, batch, "gpu", fp16, args.passes_off)
    row["gie_build_s"] = round(time.perf_counter() - t0, 1)
    row["gie_kernels"] = engine.num_kernels
    row["gie_fused"] = [p for p in engine.layer_info().get("passes", []) if p.startswith("recognize_")]
    ctx = engine.create_execution_context()
    ctx.set_input_shape("x", tuple(x.shape))
    ctx.set_tensor_address("x", x.data_ptr())
    y = torch.empty(tuple(ctx.get_tensor_shape("y")), dtype=torch.float32, device="cuda")
    ctx.set_tensor_address("y", y.data_ptr())
    s = int(stream.cuda_stream)
    with torch.cuda.stream(stream):
        row["gie"] = gvt.summarize(_timing.cuda_event_ms(torch, [lambda: ctx.enqueue(s)], args.warmup, args.runs, stream), batch)
    out = y.clone()
    if args.profile_runs:
        li = engine.layer_info()
        types = {k["name"]: k.get("type", "?") for k in li.get("kernels", [])}
        total = {}
        ctx.profiler = lambda name, ms: total.__setitem__(name, total.get(name, 0.0) + float(ms))
        try:
            for _ in range(args.profile_runs):
                ctx.execute_bound()
        finally:
            ctx.profiler = None
        row["slowest"] = slowest_steps(total, types, args.profile_runs)
        if args.layout:
            title = f"{row.get('model', '?')} batch {batch} {'fp16' if fp16 else 'fp32'}: {engine.num_kernels} kernels"
            with open(args.layout, "a") as f:
                f.write("\n".join(layout_lines(title, li, total, args.profile_runs)) + "\n")
    return out


def compile_cell(args, model_name, batch, precision, row):
    """torch.compile in a child process, killed after --compile-timeout s."""
    mode = row["compile_mode"] = "reduce-overhead" if batch == 1 else "max-autotune-no-cudagraphs"
    cmd = [sys.executable, os.path.abspath(__file__), "--compile-child", f"{model_name}:{batch}:{precision}",
           "--runs", str(args.runs), "--warmup", str(args.warmup), "--seed", str(args.seed)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=args.compile_timeout)
    except subprocess.TimeoutExpired:
        gvt._kill_group(proc)
        row["compile_error"] = "timeout"
        row["errors"].append(f"torch.compile ({mode}): timed out after {args.compile_timeout:.0f} s")
        return
    result = next((json.loads(line[len(COMPILE_TAG):]) for line in (out or "").splitlines() if line.startswith(COMPILE_TAG)), None)
    if not result or result.get("error"):
        row["compile_error"] = "error"
        tail = (err or "").strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        row["errors"].append(f"torch.compile ({mode}): " + (result or {}).get("error", tail[0])[:160])
        return
    row["compile"] = result["timing"]
    row["compile_s"] = result.get("compile_s")


def compile_child(args):
    result = {}
    try:
        import torch

        name, batch, precision = args.compile_child.split(":")
        batch = int(batch)
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        model, x = _torch_inputs(torch, make_model(torch, name, args.seed).cuda(), batch, precision == "fp16")
        mode = "reduce-overhead" if batch == 1 else "max-autotune-no-cudagraphs"
        cmodel = torch.compile(model, mode=mode)
        stream = torch.cuda.Stream()
        with torch.no_grad(), torch.cuda.stream(stream):
            t0 = time.perf_counter()
            cmodel(x)
            stream.synchronize()
            result["compile_s"] = round(time.perf_counter() - t0, 1)
            result["timing"] = gvt.summarize(_timing.cuda_event_ms(torch, [lambda: cmodel(x)], args.warmup, args.runs, stream), batch)
    except Exception as e:  # noqa: BLE001
        result["error"] = gvt.short(e)
    print(COMPILE_TAG + json.dumps(result), flush=True)
    return 0


def _torch_inputs(torch, model, batch, fp16, seed=1):
    """(module, input) in the precision of the row: FP16 is .half() and channels_last."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 3, 224, 224, generator=g).cuda()
    if fp16:
        model = model.half().to(memory_format=torch.channels_last)
        x = x.half().contiguous(memory_format=torch.channels_last)
    return model, x


def cpu_check(args):
    """--cpu-check: import and CPU FP32 accuracy of every (model, batch), no timing."""
    import torch

    import gie

    workdir = args.workdir or tempfile.mkdtemp(prefix="gie_zoo_")
    bad = 0
    for name in args.models:
        model = make_model(torch, name, args.seed)
        for batch in args.batches:
            path = os.path.join(workdir, f"{name}_b{batch}.onnx")
            try:
                export_onnx(torch, model, batch, path, args.opset)
                x = torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(1))
                with torch.no_grad():
                    ref = model(x).numpy()
                engine = build_engine(gie, path, batch, "cpu", False, args.passes_off)
                ctx = engine.create_execution_context()
                out = ctx.execute({"x": x.numpy()})["y"]
                err, top1 = accuracy(out, ref)
                ok = err <= 1e-4
                bad += not ok
                times = []
                for _ in range(args.cpu_runs):  # wall time of execute, input copy included
                    t0 = time.perf_counter()
                    ctx.execute({"x": x.numpy()})
                    times.append((time.perf_counter() - t0) * 1e3)
                timing = f", cpu {np.median(times):.1f} ms (median of {len(times)})" if times else ""
                print(f"{name} b{batch}: {engine.num_kernels} kernels, rel err {err:.2e}, top-1 {top1:.0%}{timing}"
                      f"{'' if ok else '  ACCURACY'}", flush=True)
            except Exception as e:  # noqa: BLE001
                bad += 1
                print(f"{name} b{batch}: FAILED {gvt.short(e)}", flush=True)
    return 1 if bad else 0


def main(argv=None):
    args = parse_args(argv)
    if args.compile_child:
        return compile_child(args)
    if args.cpu_check:
        return cpu_check(args)
    torch = _timing.import_cuda_torch(log)
    if torch is None:
        return 2
    import gie

    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    workdir = args.workdir or tempfile.mkdtemp(prefix="gie_zoo_")
    stream = torch.cuda.Stream()
    rows = []
    for name in args.models:
        base = make_model(torch, name, args.seed)
        for batch in args.batches:
            path = os.path.join(workdir, f"{name}_b{batch}.onnx")
            ref = None
            try:
                export_onnx(torch, base, batch, path, args.opset)
            except Exception as e:  # noqa: BLE001
                rows.append({"model": name, "batch": batch, "precision": "-", "errors": ["export: " + gvt.short(e)]})
                log(f"{name} b{batch}: export failed: {gvt.short(e)}")
                continue
            for precision in args.precisions:
                fp16 = precision == "fp16"
                row = {"model": name, "batch": batch, "precision": precision, "errors": []}
                log(f"{name} batch {batch} {precision} ...")
                model, x = _torch_inputs(torch, make_model(torch, name, args.seed).cuda(), batch, fp16)
                try:
                    out = time_torch_columns(torch, model, x, args, stream, row)
                    if ref is None and not fp16:
                        ref = out
                except Exception as e:  # noqa: BLE001
                    row["errors"].append("torch: " + gvt.short(e))
                if ref is None:  # FP16 only: the FP32 reference still comes from torch FP32 eager
                    m32, x32 = _torch_inputs(torch, make_model(torch, name, args.seed).cuda(), batch, False)
                    with torch.no_grad():
                        ref = m32(x32).float()
                    del m32
                try:
                    gx = x.float().contiguous()
                    gout = run_gie(gie, torch, path, batch, fp16, gx, args, stream, row)
                    row["rel_err"], row["top1"] = accuracy(gout.cpu().numpy(), ref.cpu().numpy())
                except Exception as e:  # noqa: BLE001
                    row["errors"].append("gie: " + gvt.short(e))
                if not args.no_compile:
                    compile_cell(args, name, batch, precision, row)
                del model, x
                torch.cuda.empty_cache()
                rows.append(row)
                log(f"  gie {gvt.fmt(_ms(row, 'gie'), '.3f')} ms, eager {gvt.fmt(_ms(row, 'eager'), '.3f')} ms, "
                    f"vs best {gvt.fmt(vs_best(row), '.2f')}, {'; '.join(row['errors'])}")
                md = table(rows)
                if args.json:
                    with open(args.json, "w") as f:
                        json.dump(rows, f, indent=1, default=str)
                if args.markdown:
                    with open(args.markdown, "w") as f:
                        f.write(md + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
