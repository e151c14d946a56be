#!/usr/bin/env python3
"""GPU latency of gie vs PyTorch (eager with cuDNN, and the same model replayed through a CUDA graph) on the
same networks with the same weights: ResNet-50, GoogLeNet (224x224) and YOLOv2 (416x416), FP32, TF32 off.

    PYTHONPATH=build/gpu/pkg python3 bench/gpu_vs_torch.py                       # all models, batch 1, 8, 64
    PYTHONPATH=build/gpu/pkg python3 bench/gpu_vs_torch.py --models resnet50 --batches 1 --runs 200
    PYTHONPATH=build/gpu/pkg python3 bench/gpu_vs_torch.py --json gpu.json --markdown gpu.md
    PYTHONPATH=build/gpu/pkg python3 bench/gpu_vs_torch.py --check-only          # batch 1: outputs only

The networks come from gie.model_zoo (one description, seeded random weights); bench/torch_export.py turns
the same description into a torch.nn.Module (same float32 weights, BatchNorm in eval mode, Caffe pooling
sizes, darknet reorg). Per (model, batch):

* gie: one engine per batch (config.device = "gpu", batch range (batch, batch, batch), config.cuda_graph =
  True where the attribute exists), run zero-copy on torch CUDA tensors: the input and output addresses are
  bound once per execution context (ctx.set_tensor_address(name, tensor.data_ptr())) and each run is
  ctx.enqueue(stream) on the benchmark's CUDA stream.
* torch eager: torch.no_grad(), model.eval(), cudnn.benchmark = True, TF32 off for matmul and cuDNN.
* torch CUDA graph: the same module captured with torch.cuda.CUDAGraph on a static input after a warm-up
  on a side stream; each run is graph.replay().

Timing: all runs on one non-default CUDA stream; per run, CUDA events recorded around the call and the end
event synchronized (so a run's figure includes the host-side launch work that the GPU waits for, not
overlapped with the next run); --warmup untimed runs, then --runs timed ones; the median is reported
(images/s = batch / median). At batch 1, --rotate input sets (each with its own gie execution context and its
own torch CUDA graph, so no address is re-bound) are cycled so that consecutive runs do not read the same
input. Ratios are gie ms / torch ms: < 1 means gie is faster. Accuracy: max |gie - torch eager| on the
compared output (logits for the classifiers, the raw 125-channel map for YOLOv2) and max |torch eager|.

Progress goes to stderr; the table (markdown) is printed last, to stdout. A failure in one cell (gie build
error, out of memory, ...) is printed in that row's notes and the benchmark goes on. torch is imported only
when the benchmark runs (``--help`` works without it).
"""
import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = ("resnet50", "googlenet", "yolov2")
COMPARE = {"resnet50": "logits", "googlenet": "loss3/classifier", "yolov2": "output"}
GIE_DEVICE = "gpu"  # the benchmark's gie engines (a test harness may set "cpu" with CPU tensors)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ",".join(MODELS))
    p.add_argument("--batches", default="1,8,64", help="comma-separated batch sizes (default 1,8,64)")
    p.add_argument("--runs", type=int, default=50, help="timed runs per engine and cell (default 50)")
    p.add_argument("--warmup", type=int, default=10, help="untimed runs first (default 10)")
    p.add_argument("--rotate", type=int, default=3,
                   help="input sets cycled at batch 1 (each with its own gie context / torch graph); 1 = off")
    p.add_argument("--image", type=int, default=None, help="override the input size (default 224 / 224 / 416)")
    p.add_argument("--seed", type=int, default=0, help="weight seed")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--reports", metavar="DIR", help="write each gie engine's build report (the chosen tactic of "
                   "every kernel and the runner-up timings, as `gie inspect` prints) to DIR/<model>_b<batch>.txt")
    p.add_argument("--markdown", metavar="PATH", help="also write the table as a markdown file")
    p.add_argument("--skip-torch-graph", action="store_true", help="no torch CUDA-graph column")
    p.add_argument("--skip-torch", action="store_true", help="gie only (no torch timings; outputs still compared)")
    p.add_argument("--skip-gie", action="store_true", help="torch only")
    p.add_argument("--no-gie-cuda-graph", action="store_true", help="build gie engines with cuda_graph = False")
    p.add_argument("--timing-cache", metavar="PATH", help="gie timing-cache file (config.timing_cache)")
    p.add_argument("--no-tf32", action="store_true",
                   help="gie: no tensor-core FP32 tactics (config.tf32 = False: 3xTF32 off, CUDA-core FP32 only)")
    p.add_argument("--fold-bn", action="store_true",
                   help="torch: fold BatchNorm into the preceding convolution (a stronger eager baseline)")
    p.add_argument("--channels-last", action="store_true", help="torch: channels_last (NHWC) memory format")
    p.add_argument("--check-only", action="store_true",
                   help="batch 1 only, no timing: compare every output of gie with torch eager; exit 1 on a "
                        "mismatch (max abs diff / max |torch| >= --tol) or an error")
    p.add_argument("--tol", type=float, default=1e-3,
                   help="relative tolerance (max abs diff / max |torch|): --check-only fails above it, the table "
                        "flags OUTPUT MISMATCH above it (default 1e-3)")
    args = p.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = [m for m in args.models if m not in MODELS]
    if bad:
        p.error(f"unknown model(s) {bad}; known: {', '.join(MODELS)}")
    args.batches = [int(b) for b in args.batches.split(",") if b.strip()]
    if args.check_only:
        args.batches = [1]
    if args.runs < 1 or args.warmup < 0 or args.rotate < 1 or any(b < 1 for b in args.batches):
        p.error("--runs, --rotate and batches must be >= 1, --warmup >= 0")
    return args


# ---- timing -----------------------------------------------------------------------------------------

def time_runs(torch, fns, warmup, runs, stream):
    """fns: callables launching one run each on ``stream`` (cycled). Returns per-run milliseconds."""
    k = len(fns)
    for i in range(warmup):
        fns[i % k]()
    torch.cuda.synchronize()
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    ms = []
    for i in range(runs):
        start.record(stream)
        fns[i % k]()
        end.record(stream)
        end.synchronize()
        ms.append(start.elapsed_time(end))
    return ms


def summarize(ms, batch):
    s = sorted(ms)
    med = statistics.median(s)
    return {"median_ms": med, "min_ms": s[0], "p90_ms": s[min(len(s) - 1, int(0.9 * len(s)))],
            "images_per_s": batch * 1e3 / med if med > 0 else None, "runs": len(s)}


# ---- gie --------------------------------------------------------------------------------------------

def _set_config_attr(config, names, value):
    """Sets the first attribute / setter of ``names`` that ``config`` has; returns its name or None."""
    for n in names:
        if n.startswith("set_"):
            if hasattr(config, n):
                getattr(config, n)(value)
                return n
        elif hasattr(config, n):
            setattr(config, n, value)
            return n
    return None


class GieCell:
    """A gie engine for one (model, batch) and one execution context per input set, bound to torch tensors."""

    def __init__(self, gie, torch, spec, batch, inputs, args, notes):
        self.torch = torch
        builder = gie.Builder()
        net = builder.create_network()
        spec.to_gie(net, batch=batch, mark=spec.outputs)
        config = builder.create_config()
        config.device = GIE_DEVICE
        config.set_batch_range(batch, batch, batch)
        want_graph = not args.no_gie_cuda_graph
        self.graph_attr = _set_config_attr(config, ("cuda_graph", "set_cuda_graph"), want_graph)
        if self.graph_attr is None:
            notes.add("gie config has no cuda_graph attribute (engines run without CUDA graphs unless the "
                      "context enables them)")
        if args.no_tf32:
            config.tf32 = False
        if args.timing_cache:
            if _set_config_attr(config, ("timing_cache", "timing_cache_path", "set_timing_cache_path"),
                                os.fspath(args.timing_cache)) is None:
                notes.add("gie config has no timing_cache attribute: --timing-cache ignored")
        t0 = time.perf_counter()
        self.engine = builder.build(net, config)
        self.build_s = time.perf_counter() - t0
        if args.reports:
            from gie import report
            os.makedirs(args.reports, exist_ok=True)
            path = os.path.join(args.reports, f"{spec.name}_b{batch}.txt")
            with open(path, "w") as f:
                f.write(report.format_report(self.engine.layer_info(), title=f"{spec.name} batch {batch}") + "\n")
        dev = str(self.engine.device).split(".")[-1].upper()
        if dev != GIE_DEVICE.upper():
            raise RuntimeError(f"gie built a {dev} engine, not a {GIE_DEVICE.upper()} one "
                               f"(gie.build_info(): {gie.build_info()})")
        self.input_name = spec.input_name
        self.contexts = []  # (context, {output name: torch tensor}, run(stream) callable)
        for x in inputs:
            ctx = self.engine.create_execution_context()
            if self.graph_attr is None and not args.no_gie_cuda_graph:
                _set_config_attr(ctx, ("cuda_graph", "set_cuda_graph"), True)
            ctx.set_input_shape(self.input_name, tuple(x.shape))
            ctx.set_tensor_address(self.input_name, x.data_ptr())
            outs = {}
            for name in self.engine.output_names:
                shape = tuple(ctx.get_tensor_shape(name))
                dtype = {"float32": torch.float32, "float16": torch.float16, "int32": torch.int32,
                         "int8": torch.int8}.get(str(self.engine.get_tensor_dtype(name)).split(".")[-1], torch.float32)
                outs[name] = torch.empty(shape, dtype=dtype, device=x.device)
                ctx.set_tensor_address(name, outs[name].data_ptr())
            self.contexts.append((ctx, outs, self._runner(ctx, notes)))
        self.x_refs = list(inputs)  # the bound inputs must outlive the contexts' use

    @staticmethod
    def _runner(ctx, notes):
        if hasattr(ctx, "enqueue"):
            return ctx.enqueue
        impl = getattr(ctx, "_impl", None)
        if impl is not None and hasattr(impl, "enqueue"):
            return impl.enqueue
        notes.add("gie ExecutionContext has no enqueue(stream): timed with the synchronous execute_bound()")
        return lambda stream: ctx.execute_bound()

    def fns(self, stream):
        s = int(stream.cuda_stream)
        return [(lambda run: (lambda: run(s)))(run) for _, _, run in self.contexts]

    def outputs(self, i, stream):
        """Runs context i once; returns its output tensors (synchronized)."""
        self.contexts[i][2](int(stream.cuda_stream))
        stream.synchronize()
        return self.contexts[i][1]


# ---- torch --------------------------------------------------------------------------------------------

def capture_graph(torch, model, x_static):
    """A CUDA graph of model(x_static); returns (graph, static outputs)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            model(x_static)
    torch.cuda.current_stream().wait_stream(side)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        out = model(x_static)
    return g, out


def compare(torch, a, b):
    """(max |a - b|, max |b|) over tensors of equal element count (shapes may differ by trailing 1s)."""
    a = a.detach().reshape(a.shape[0], -1).double()
    b = b.detach().reshape(b.shape[0], -1).double()
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {tuple(a.shape)} vs {tuple(b.shape)}")
    d = (a - b).abs()
    finite = bool(torch.isfinite(a).all().item())
    return (float(d.max().item()) if finite else float("inf")), float(b.abs().max().item())


def short(e):
    msg = f"{type(e).__name__}: {e}".replace("\n", " ").replace("|", "/")
    return msg if len(msg) <= 160 else msg[:157] + "..."


def is_oom(e):
    return "out of memory" in str(e).lower() or type(e).__name__ in ("OutOfMemoryError",)


# ---- one cell ---------------------------------------------------------------------------------------

def run_cell(ctx, model_name, spec, tmodel, batch):
    """Measures one (model, batch); returns a row dict. Errors are recorded in row['errors']."""
    torch, gie, args, stream, notes = ctx["torch"], ctx["gie"], ctx["args"], ctx["stream"], ctx["notes"]
    row = {"model": model_name, "batch": batch, "image": spec.input_shape[1], "errors": [],
           "compare_output": COMPARE[model_name], "gie": None, "torch_eager": None, "torch_graph": None}
    nsets = args.rotate if batch == 1 and not args.check_only else 1
    gcell = graphs = None
    xs = txs = None
    try:
        xs = [torch.from_numpy(spec.random_input(batch, seed=1 + i)).to("cuda") for i in range(nsets)]
        txs = [x.contiguous(memory_format=torch.channels_last) for x in xs] if args.channels_last else xs
        torch.cuda.synchronize()
        ref = None  # torch eager outputs on input set 0
        if tmodel is not None:
            try:
                with torch.cuda.stream(stream):
                    ref = dict(zip(spec.outputs, tmodel(txs[0])))
                    stream.synchronize()
            except Exception as e:  # noqa: BLE001
                row["errors"].append("torch eager: " + short(e))
                log(f"  torch eager failed: {short(e)}")
        gie_out = None
        if gie is not None and not args.skip_gie:
            try:
                with torch.cuda.stream(stream):
                    gcell = GieCell(gie, torch, spec, batch, xs, args, notes)
                    gie_out = {k: v.clone() for k, v in gcell.outputs(0, stream).items()}
                row["gie_build_s"] = round(gcell.build_s, 2)
                row["gie_kernels"] = gcell.engine.num_kernels
                row["gie_cuda_graph_attr"] = gcell.graph_attr
                log(f"  gie: built in {gcell.build_s:.1f} s, {gcell.engine.num_kernels} kernels, "
                    f"activation memory {gcell.engine.activation_memory_size / 2**20:.1f} MiB, "
                    f"{len(gcell.contexts)} context(s)")
            except Exception as e:  # noqa: BLE001
                row["errors"].append("gie: " + short(e))
                log(f"  gie failed: {short(e)}")
                if not is_oom(e):
                    log("".join(traceback.format_exception(type(e), e, e.__traceback__)[-3:]).rstrip())
                gcell = None
        elif gie is None and not args.skip_gie:
            row["errors"].append("gie: " + ctx["gie_error"])

        # ---- accuracy ----
        if ref is not None and gie_out is not None:
            diffs = {}
            for name in spec.outputs:
                if name not in gie_out:
                    continue
                try:
                    d, m = compare(torch, gie_out[name], ref[name])
                    diffs[name] = {"max_abs_diff": d, "max_abs_torch": m, "rel": d / max(m, 1e-30)}
                except Exception as e:  # noqa: BLE001
                    diffs[name] = {"error": short(e), "rel": float("inf")}
                    row["errors"].append(f"compare {name}: {short(e)}")
            row["diffs"] = diffs
            c = diffs.get(row["compare_output"], {})
            row["max_abs_diff"] = c.get("max_abs_diff")
            row["max_abs_torch"] = c.get("max_abs_torch")
            for name, d in diffs.items():
                log(f"  {name}: max |gie - torch| {d.get('max_abs_diff', float('nan')):.3g}, "
                    f"max |torch| {d.get('max_abs_torch', float('nan')):.3g}, rel {d['rel']:.3g}")
        del gie_out
        if args.check_only:
            return row

        # ---- timing ----
        if gcell is not None:
            try:
                with torch.cuda.stream(stream):
                    row["gie"] = summarize(time_runs(torch, gcell.fns(stream), args.warmup, args.runs, stream), batch)
                log(f"  gie         {row['gie']['median_ms']:8.3f} ms")
            except Exception as e:  # noqa: BLE001
                row["errors"].append("gie run: " + short(e))
                log(f"  gie run failed: {short(e)}")
        if tmodel is not None and ref is not None and not args.skip_torch:
            try:
                with torch.cuda.stream(stream):
                    fns = [(lambda x: (lambda: tmodel(x)))(x) for x in txs]
                    row["torch_eager"] = summarize(time_runs(torch, fns, args.warmup, args.runs, stream), batch)
                log(f"  torch eager {row['torch_eager']['median_ms']:8.3f} ms")
            except Exception as e:  # noqa: BLE001
                row["errors"].append("torch eager run: " + short(e))
                log(f"  torch eager run failed: {short(e)}")
            if not args.skip_torch_graph:
                try:
                    graphs = []
                    for x in txs:
                        graphs.append(capture_graph(torch, tmodel, x))
                    with torch.cuda.stream(stream):
                        graphs[0][0].replay()
                        stream.synchronize()
                        d, _ = compare(torch, graphs[0][1][0], ref[spec.outputs[0]])
                        row["torch_graph_vs_eager_max_abs_diff"] = d
                        fns = [g.replay for g, _ in graphs]
                        row["torch_graph"] = summarize(time_runs(torch, fns, args.warmup, args.runs, stream), batch)
                    log(f"  torch graph {row['torch_graph']['median_ms']:8.3f} ms")
                except Exception as e:  # noqa: BLE001
                    row["errors"].append("torch graph: " + short(e))
                    log(f"  torch graph failed: {short(e)}")
        g, te, tg = row["gie"], row["torch_eager"], row["torch_graph"]
        if g and te:
            row["ratio_gie_over_eager"] = g["median_ms"] / te["median_ms"]
        if g and tg:
            row["ratio_gie_over_graph"] = g["median_ms"] / tg["median_ms"]
        return row
    except Exception as e:  # noqa: BLE001
        row["errors"].append(short(e))
        log(f"  cell failed: {short(e)}")
        return row
    finally:
        del gcell, graphs, xs, txs
        gc.collect()
        try:
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
        except Exception as e:  # noqa: BLE001  (e.g. a sticky CUDA error: later cells will report it too)
            log(f"  cleanup failed: {short(e)}")


# ---- table ------------------------------------------------------------------------------------------

def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def table(rows, args):
    out = COMPARE
    header = ["model", "batch", "gie ms", "gie img/s", "eager ms", "eager img/s", "graph ms", "graph img/s",
              "gie/eager", "gie/graph", "max abs diff", "max abs out", "notes"]
    lines = []
    for r in rows:
        g, te, tg = r.get("gie"), r.get("torch_eager"), r.get("torch_graph")
        notes = list(r["errors"])
        diffs = r.get("diffs") or {}
        if args.check_only:
            notes += [f"{n} rel {d['rel']:.2g}" for n, d in diffs.items()]
        else:
            notes += [f"OUTPUT MISMATCH: {n} rel {d['rel']:.2g}" for n, d in diffs.items() if not d["rel"] < args.tol]
        notes = "; ".join(notes)
        lines.append([
            r["model"] + ("" if r["image"] == _default_image(r["model"]) else f" ({r['image']})"), str(r["batch"]),
            fmt(g and g["median_ms"], ".3f"), fmt(g and g["images_per_s"], ".1f"),
            fmt(te and te["median_ms"], ".3f"), fmt(te and te["images_per_s"], ".1f"),
            fmt(tg and tg["median_ms"], ".3f"), fmt(tg and tg["images_per_s"], ".1f"),
            fmt(r.get("ratio_gie_over_eager"), ".2f"), fmt(r.get("ratio_gie_over_graph"), ".2f"),
            fmt(r.get("max_abs_diff"), ".2e"), fmt(r.get("max_abs_torch"), ".3g"), notes])
    widths = [max(len(header[i]), *(len(l[i]) for l in lines)) if lines else len(header[i]) for i in range(len(header))]
    widths[-1] = 0  # no padding for the notes

    def md_row(cells):
        return "| " + " | ".join(c.ljust(w) if i < 2 or i == len(cells) - 1 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    sep = "|" + "|".join(("-" * (w + 2)) if i < 2 or i == len(widths) - 1 else ("-" * (w + 1) + ":")
                         for i, w in enumerate(widths)) + "|"
    caption = (f"gie vs PyTorch (FP32, TF32 off): median latency over {args.runs} runs (ms, CUDA events), images/s = "
               f"batch / median; ratios = gie ms / torch ms (< 1: gie faster); eager = torch eager + cuDNN, graph = "
               f"torch CUDA graph; max abs diff = max |gie - torch eager| on "
               f"{'/'.join(out[m] for m in MODELS)}, max abs out = max |torch eager| there")
    if args.check_only:
        caption = (f"gie vs PyTorch eager, batch 1, outputs only (--check-only, tol {args.tol:g} relative to max "
                   f"|torch|); max abs diff / max abs out on {'/'.join(out[m] for m in MODELS)}")
    return "\n".join([caption, "", md_row(header), sep] + [md_row(l) for l in lines])


def _default_image(model):
    return {"resnet50": 224, "googlenet": 224, "yolov2": 416}[model]


def _load_model_zoo():
    """python/gie/model_zoo.py loaded by path: the descriptions need numpy only, not the compiled gie."""
    import importlib.util

    path = os.path.join(os.path.dirname(HERE), "python", "gie", "model_zoo.py")
    mspec = importlib.util.spec_from_file_location("gie_model_zoo_standalone", path)
    mod = importlib.util.module_from_spec(mspec)
    sys.modules[mspec.name] = mod  # dataclasses look the module up while the class bodies run
    mspec.loader.exec_module(mod)
    return mod


# ---- main -------------------------------------------------------------------------------------------

def main(argv=None):
    args = parse_args(argv)
    import numpy as np  # noqa: F401  (model_zoo needs it; fail early with a clear message)

    try:
        import torch
    except ImportError as e:
        log(f"PyTorch is needed: {e}")
        return 2
    if not torch.cuda.is_available():
        log("no CUDA device visible to PyTorch")
        return 2
    sys.path.insert(0, HERE)
    import torch_export

    gie, gie_error = None, None
    try:
        import gie
        from gie import model_zoo
    except Exception as e:  # noqa: BLE001
        gie_error = f"import gie failed: {short(e)}"
        log(gie_error + " (torch columns only)")
        model_zoo = _load_model_zoo()

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    try:
        torch.set_float32_matmul_precision("highest")
    except Exception:  # noqa: BLE001
        pass
    dev = torch.cuda.get_device_properties(0)
    meta = {
        "device": torch.cuda.get_device_name(0), "device_memory_gib": round(dev.total_memory / 2**30, 1),
        "torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
        "python": platform.python_version(), "gie": getattr(gie, "__version__", None),
        "gie_build_info": (gie.build_info() if gie is not None else None), "tf32": False, "cudnn_benchmark": True,
        "runs": args.runs, "warmup": args.warmup, "rotate_batch1": args.rotate, "fold_bn": args.fold_bn,
        "channels_last": args.channels_last, "seed": args.seed, "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    log(f"device: {meta['device']} ({meta['device_memory_gib']} GiB), torch {meta['torch']} (CUDA {meta['cuda']}, "
        f"cuDNN {meta['cudnn']}), gie {meta['gie']} {meta['gie_build_info']}")
    if gie is not None and not gie.build_info().get("gpu_available", True):
        log("warning: gie reports no usable GPU (gie.build_info()['gpu_available'] is False): gie cells will fail")

    notes = set()
    stream = torch.cuda.Stream()  # a non-default stream: the legacy default stream cannot be captured
    ctx = {"torch": torch, "gie": gie, "gie_error": gie_error, "args": args, "stream": stream, "notes": notes}
    rows = []
    with torch.no_grad():
        for model_name in args.models:
            try:
                spec = model_zoo.describe(model_name, seed=args.seed, image=args.image)
            except Exception as e:  # noqa: BLE001  (e.g. an --image the architecture does not accept)
                log(f"{model_name}: {short(e)}")
                rows += [{"model": model_name, "batch": b, "image": args.image or _default_image(model_name),
                          "errors": ["describe: " + short(e)], "compare_output": COMPARE[model_name],
                          "gie": None, "torch_eager": None, "torch_graph": None} for b in args.batches]
                continue
            log(f"{model_name}: input {spec.input_shape}, {spec.num_params() / 1e6:.1f} M params, "
                f"{spec.flops() / 1e9:.2f} GFLOP per image, outputs {spec.outputs}")
            tmodel, terr = None, None
            try:
                tmodel = torch_export.to_torch(spec, fold_bn=args.fold_bn).cuda().eval()
                if args.channels_last:
                    tmodel = tmodel.to(memory_format=torch.channels_last)
            except Exception as e:  # noqa: BLE001
                terr = "torch model: " + short(e)
                log("  " + terr)
            for batch in args.batches:
                log(f"{model_name} batch {batch}:")
                row = run_cell(ctx, model_name, spec, tmodel, batch)
                if terr:
                    row["errors"].insert(0, terr)
                rows.append(row)
            del tmodel
            gc.collect()
            torch.cuda.empty_cache()

    md = table(rows, args)
    if notes:
        md += "\n\n" + "\n".join(f"note: {n}" for n in sorted(notes))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "notes": sorted(notes), "rows": rows}, f, indent=1, default=str)
        log(f"wrote {args.json}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md + "\n")
        log(f"wrote {args.markdown}")
    print(md, flush=True)

    if args.check_only:
        bad = []
        for r in rows:
            diffs = r.get("diffs") or {}
            if r["errors"] or not diffs:
                bad.append(f"{r['model']}: " + ("; ".join(r["errors"]) or "no comparison"))
            for name, d in diffs.items():
                if not d["rel"] < args.tol:
                    bad.append(f"{r['model']} {name}: max abs diff / max |torch| = {d['rel']:.3g} >= {args.tol:g}")
        for b in bad:
            log("MISMATCH " + b)
        log("check: " + ("FAILED" if bad else f"all outputs within {args.tol:g}"))
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
