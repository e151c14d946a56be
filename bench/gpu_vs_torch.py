#!/usr/bin/env python3
"""GPU latency of gie vs PyTorch (eager with cuDNN, and the same model replayed through a CUDA graph) on the
same networks with the same weights: ResNet-50, GoogLeNet (224x224) and YOLOv2 (416x416), FP32, TF32 off.

    PYTHONPATH=build/gpu/pkg python3 bench/gpu_vs_torch.py                       # all models, batch 1, 8, 64
    PYTHONPATH=build/gpu/pkg python3 bench/gpu_vs_torch.py --models resnet50 --batches 1 --runs 200
    PYTHONPATH=build/gpu/pkg python3 bench/gpu_vs_torch.py --json gpu.json --markdown gpu.md
    PYTHONPATH=build/gpu/pkg python3 bench/gpu_vs_torch.py --check-only          # batch 1: outputs only
    PYTHONPATH=build/gpu/pkg python3 bench/gpu_vs_torch.py --fp16 --torch-compile  # FP16 (issue 12), see below
    PYTHONPATH=build/gpu/pkg python3 bench/gpu_vs_torch.py --int8 --models resnet50  # INT8 (issue 14), see below

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

FP16 mode (--fp16; issue 12's benchmark; defaults there: batches 1,8,64,256, --runs 20, --warmup 5, and a
timing cache in the temporary directory, see --timing-cache): per (model, batch), YOLOv2 up to batch 64,

* gie16: the gie engine built with config.fp16 = True (the builder times FP16 and FP32 candidates per layer;
  input and output stay FP32 NCHW, converted inside the engine and counted in its time), CUDA graphs as above;
* gie32: gie's own FP32 engine, same run (built after gie16 with the same timing cache); 16/32 = gie16 ms /
  gie32 ms (issue 12 asks for < 1 at batch >= 8);
* eager16 / graph16: the torch module in .half() and channels_last (input half channels_last too), eager and
  replayed through a CUDA graph;
* compile (--torch-compile): torch.compile of that module, mode "reduce-overhead" below batch 8 and
  "max-autotune-no-cudagraphs" from batch 8, each cell in a child process killed after --compile-timeout
  seconds (a failure or timeout is reported in the row and the benchmark goes on); compile s = wall time of
  the first call;
* vs best torch = gie16 ms / the fastest torch column's ms; accuracy: rel err = max |gie16 - gie32| / max
  |gie32| on the compared output over all of the cell's input sets (torch FP32 eager is the reference where
  gie32 failed), top-1 = share of those images whose argmax agrees (classifiers); the JSON also has torch
  FP16's own error against the same reference.

INT8 mode (--int8; issue 14's benchmark): the FP16 mode plus, per cell, gie8: the gie engine built with
config.int8 = True and config.fp16 = True (INT8 where a GPU INT8 kernel exists and the builder's timing prefers
it, FP16 / FP32 elsewhere), its ranges from gie's entropy calibrator on --calib-images random images (fixed seeds,
the same for every batch; the calibration cache is kept in the temporary directory per model, image size and
seed, so only the first cell of a model calibrates); gie8 vs best torch = gie8 ms / the fastest torch column's
ms; int8 top-1 = share of images whose argmax agrees with gie FP32; int8 kernels = gie8 kernels computing in
INT8 / all. The peer stays PyTorch FP16: PyTorch has no INT8 convolution path on the GPU (its quantized
convolutions run on the CPU backends only).

Progress goes to stderr (in FP16 mode also one "ROW" line per finished cell); the table (markdown) is printed
last, to stdout; --json / --markdown files are rewritten after every cell, so a cut-off run keeps its rows.
A failure in one cell (gie build error, out of memory, ...) is printed in that row's notes and the benchmark
goes on. torch is imported only when the benchmark runs (``--help`` works without it).
"""
import argparse
import gc
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _timing  # noqa: E402

MODELS = ("resnet50", "googlenet", "yolov2")
COMPARE = {"resnet50": "logits", "googlenet": "loss3/classifier", "yolov2": "output"}
CLASSIFIERS = ("resnet50", "googlenet")  # top-1 agreement is reported for these
FP16_MAX_BATCH = {"yolov2": 64}  # issue 12's FP16 table stops there
COMPILE_MIN_AUTOTUNE_BATCH = 8  # torch.compile: reduce-overhead below, max-autotune-no-cudagraphs from here
DEFAULT_FP16_CACHE = os.path.join(tempfile.gettempdir(), "gie_gpu_vs_torch_fp16.timing_cache")
GIE_DEVICE = "gpu"  # the benchmark's gie engines (a test harness may set "cpu" with CPU tensors)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ",".join(MODELS))
    p.add_argument("--batches", default=None,
                   help="comma-separated batch sizes (default 1,8,64; with --fp16 1,8,64,256, YOLOv2 up to 64)")
    p.add_argument("--runs", type=int, default=None, help="timed runs per engine and cell (default 50; --fp16: 20)")
    p.add_argument("--warmup", type=int, default=None, help="untimed runs first (default 10; --fp16: 5)")
    p.add_argument("--rotate", type=int, default=3,
                   help="input sets cycled at batch 1 (each with its own gie context / torch graph); 1 = off")
    p.add_argument("--image", type=int, default=None, help="override the input size (default 224 / 224 / 416)")
    p.add_argument("--seed", type=int, default=0, help="weight seed")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--reports", metavar="DIR", help="write each gie engine's build report (the chosen tactic of "
                   "every kernel and the runner-up timings, as `gie inspect` prints) to DIR/<model>_b<batch>.txt "
                   "(FP16 engines: DIR/<model>_b<batch>_fp16.txt)")
    p.add_argument("--markdown", metavar="PATH", help="also write the table as a markdown file")
    p.add_argument("--skip-torch-graph", action="store_true", help="no torch CUDA-graph column")
    p.add_argument("--skip-torch", action="store_true", help="gie only (no torch timings; outputs still compared)")
    p.add_argument("--skip-gie", action="store_true", help="torch only")
    p.add_argument("--skip-gie32", action="store_true",
                   help="no gie FP32 engine (its column empty): saves a build per cell where only FP16 / INT8 matter")
    p.add_argument("--no-gie-cuda-graph", action="store_true", help="build gie engines with cuda_graph = False")
    p.add_argument("--timing-cache", metavar="PATH",
                   help="gie timing-cache file (config.timing_cache; default none; with --fp16 default "
                        f"{DEFAULT_FP16_CACHE}, 'none' for no cache)")
    p.add_argument("--no-tf32", action="store_true",
                   help="gie: no tensor-core FP32 tactics (config.tf32 = False: 3xTF32 off, CUDA-core FP32 only)")
    p.add_argument("--fold-bn", action="store_true",
                   help="torch: fold BatchNorm into the preceding convolution (a stronger eager baseline)")
    p.add_argument("--channels-last", action="store_true",
                   help="torch: channels_last (NHWC) memory format (always on for the FP16 torch columns)")
    p.add_argument("--check-only", action="store_true",
                   help="batch 1 only, no timing: compare every output of gie with torch eager; exit 1 on a "
                        "mismatch (max abs diff / max |torch| >= --tol) or an error")
    p.add_argument("--tol", type=float, default=1e-3,
                   help="relative tolerance (max abs diff / max |torch|): --check-only fails above it, the table "
                        "flags OUTPUT MISMATCH above it (default 1e-3)")
    p.add_argument("--fp16", action="store_true",
                   help="FP16 mode: gie FP16 and FP32 engines vs PyTorch FP16 channels_last (see below)")
    p.add_argument("--int8", action="store_true",
                   help="INT8 mode: the FP16 mode plus a gie INT8 engine per cell (calibrated, see below)")
    p.add_argument("--calib-images", type=int, default=64,
                   help="--int8: random images for the entropy calibration (default 64)")
    p.add_argument("--torch-compile", action="store_true",
                   help="--fp16: also a torch.compile column (reduce-overhead below batch 8, "
                        "max-autotune-no-cudagraphs from batch 8), one child process per cell")
    p.add_argument("--compile-timeout", type=float, default=300,
                   help="--torch-compile: seconds a cell's child process may take, compilation included (default "
                        "300); then it is killed and the cell says timeout")
    p.add_argument("--tol16", type=float, default=1e-2,
                   help="--fp16: the table flags FP16 ACCURACY when rel err >= this (default 1e-2, issue 12's bound) "
                        "or top-1 agreement < 99%%")
    p.add_argument("--budget-s", type=float, default=None,
                   help="wall-time budget in seconds: cells that would start after it are skipped (listed as "
                        "such) and torch.compile timeouts are cut to what is left; a cell started before it runs "
                        "to its end, so under an outer time limit leave room for one cell (e.g. 480 under 10 "
                        "minutes); default none")
    p.add_argument("--compile-child", metavar="MODEL:BATCH", help=argparse.SUPPRESS)  # internal: one compile cell
    args = p.parse_args(argv)
    if args.int8:
        args.fp16 = True  # the INT8 mode is the FP16 table with gie8 columns
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = [m for m in args.models if m not in MODELS]
    if bad:
        p.error(f"unknown model(s) {bad}; known: {', '.join(MODELS)}")
    if args.batches is None:
        args.batches = "1,8,64,256" if args.fp16 else "1,8,64"
    args.batches = [int(b) for b in args.batches.split(",") if b.strip()]
    if args.runs is None:
        args.runs = 20 if args.fp16 else 50
    if args.warmup is None:
        args.warmup = 5 if args.fp16 else 10
    if args.fp16 and args.check_only:
        p.error("--check-only compares FP32 outputs with torch; --fp16 reports its accuracy in the table")
    if args.torch_compile and not args.fp16:
        p.error("--torch-compile is part of the --fp16 mode")
    if args.fp16 and args.timing_cache is None:
        args.timing_cache = DEFAULT_FP16_CACHE
    if args.timing_cache is not None and args.timing_cache.lower() == "none":
        args.timing_cache = None
    if args.check_only:
        args.batches = [1]
    if args.runs < 1 or args.warmup < 0 or args.rotate < 1 or any(b < 1 for b in args.batches):
        p.error("--runs, --rotate and batches must be >= 1, --warmup >= 0")
    if args.compile_timeout <= 0:
        p.error("--compile-timeout must be > 0")
    return args


# ---- timing -----------------------------------------------------------------------------------------

def summarize(ms, batch):
    s = _timing.summarize(ms)
    med = s["median"]
    return {"median_ms": med, "min_ms": s["min"], "p90_ms": s["p90"], "images_per_s": batch * 1e3 / med if med > 0 else None,
            "runs": s["runs"]}


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

    def __init__(self, gie, torch, spec, batch, inputs, args, notes, fp16=False, int8_calibrator=None):
        self.torch = torch
        builder = gie.Builder()
        net = builder.create_network()
        spec.to_gie(net, batch=batch, mark=spec.outputs)
        config = builder.create_config()
        config.device = GIE_DEVICE
        config.set_batch_range(batch, batch, batch)
        if fp16 and _set_config_attr(config, ("fp16",), True) is None:
            raise RuntimeError("this gie has no config.fp16 (FP16 builds need issue 12's builder)")
        if int8_calibrator is not None:
            config.int8 = True
            config.int8_calibrator = int8_calibrator
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
            suffix = "_int8" if int8_calibrator is not None else "_fp16" if fp16 else ""
            path = os.path.join(args.reports, f"{spec.name}_b{batch}{suffix}.txt")
            title = f"{spec.name} batch {batch}" + (" INT8" if int8_calibrator is not None else " FP16" if fp16 else "")
            with open(path, "w") as f:
                f.write(report.format_report(self.engine.layer_info(), title=title) + "\n")
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


# ---- one cell: pieces shared by the FP32 and FP16 modes ----------------------------------------------

def build_gie(ctx, spec, batch, xs, row, label, fp16=False, nout=1, int8_calibrator=None):
    """Builds the gie engine of one cell and runs contexts 0..nout-1 once. Returns (GieCell, [{output name:
    tensor clone}] per context) or (None, None) after recording the error as '<label>: ...'. Row keys
    '<label>_build_s', '<label>_kernels', '<label>_cuda_graph_attr' (FP16: also '<label>_precisions')."""
    torch, gie, args, stream, notes = ctx["torch"], ctx["gie"], ctx["args"], ctx["stream"], ctx["notes"]
    try:
        with torch.cuda.stream(stream):
            gcell = GieCell(gie, torch, spec, batch, xs, args, notes, fp16=fp16, int8_calibrator=int8_calibrator)
            outs = [{k: v.clone() for k, v in gcell.outputs(i, stream).items()} for i in range(nout)]
        row[f"{label}_build_s"] = round(gcell.build_s, 2)
        row[f"{label}_kernels"] = gcell.engine.num_kernels
        row[f"{label}_cuda_graph_attr"] = gcell.graph_attr
        extra = ""
        if fp16:
            try:
                row[f"{label}_precisions"] = kernel_precisions(gcell.engine.layer_info())
                pc = row[f"{label}_precisions"]
                extra = f", {pc['half']} computing in FP16, {pc['int8']} in INT8, {pc['reformats']} reformat(s)"
            except Exception as e:  # noqa: BLE001  (the report is informative only)
                extra = f", precisions unknown ({short(e)})"
        log(f"  {label}: built in {gcell.build_s:.1f} s, {gcell.engine.num_kernels} kernels{extra}, "
            f"activation memory {gcell.engine.activation_memory_size / 2**20:.1f} MiB, "
            f"{len(gcell.contexts)} context(s)")
        try:
            from gie import report
            bt = report.build_time_line(gcell.engine.layer_info())
            if bt:
                log(f"  {label}: {bt}")
        except Exception as e:  # noqa: BLE001  (informative only)
            log(f"  {label}: build time unknown ({short(e)})")
        return gcell, outs
    except Exception as e:  # noqa: BLE001
        row["errors"].append(f"{label}: " + short(e))
        log(f"  {label} failed: {short(e)}")
        if not is_oom(e):
            log("".join(traceback.format_exception(type(e), e, e.__traceback__)[-3:]).rstrip())
        return None, None


def time_gie(ctx, gcell, batch, row, label):
    torch, args, stream = ctx["torch"], ctx["args"], ctx["stream"]
    try:
        with torch.cuda.stream(stream):
            row[label] = summarize(_timing.cuda_event_ms(torch, gcell.fns(stream), args.warmup, args.runs, stream), batch)
        log(f"  {label:<11} {row[label]['median_ms']:8.3f} ms")
    except Exception as e:  # noqa: BLE001
        row["errors"].append(f"{label} run: " + short(e))
        log(f"  {label} run failed: {short(e)}")


def time_torch(ctx, tmodel, txs, ref, spec, batch, row):
    """Times torch eager and (unless --skip-torch-graph) its CUDA graphs on txs into row['torch_eager'] /
    row['torch_graph']; ref: the eager outputs on txs[0]. Returns the graphs (the caller frees them)."""
    torch, args, stream = ctx["torch"], ctx["args"], ctx["stream"]
    graphs = None
    try:
        with torch.cuda.stream(stream):
            fns = [(lambda x: (lambda: tmodel(x)))(x) for x in txs]
            row["torch_eager"] = summarize(_timing.cuda_event_ms(torch, fns, args.warmup, args.runs, stream), batch)
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
                row["torch_graph"] = summarize(_timing.cuda_event_ms(torch, fns, args.warmup, args.runs, stream), batch)
            log(f"  torch graph {row['torch_graph']['median_ms']:8.3f} ms")
        except Exception as e:  # noqa: BLE001
            row["errors"].append("torch graph: " + short(e))
            log(f"  torch graph failed: {short(e)}")
    return graphs


def free_cuda(torch):
    gc.collect()
    try:
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
    except Exception as e:  # noqa: BLE001  (e.g. a sticky CUDA error: later cells will report it too)
        log(f"  cleanup failed: {short(e)}")


# ---- one cell (FP32) --------------------------------------------------------------------------------

def run_cell(ctx, model_name, spec, tmodel, batch):
    """Measures one (model, batch); returns a row dict. Errors are recorded in row['errors']."""
    torch, gie, args, stream = ctx["torch"], ctx["gie"], ctx["args"], ctx["stream"]
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
            gcell, gouts = build_gie(ctx, spec, batch, xs, row, "gie", fp16=False, nout=1)
            gie_out = gouts[0] if gouts else None
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
            time_gie(ctx, gcell, batch, row, "gie")
        if tmodel is not None and ref is not None and not args.skip_torch:
            graphs = time_torch(ctx, tmodel, txs, ref, spec, batch, row)
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
        free_cuda(torch)


# ---- one cell (FP16) --------------------------------------------------------------------------------

def kernel_precisions(layer_info):
    """{'half': kernels computing in FP16, 'float': in FP32, 'int8': in INT8, 'reformats': inserted Reformat kernels,
    'total'} from an engine's build report (a dict, or its JSON text)."""
    li = json.loads(layer_info) if isinstance(layer_info, (str, bytes)) else layer_info
    ks = li.get("kernels", [])
    return {"half": sum(1 for k in ks if k.get("precision") == "float16"),
            "float": sum(1 for k in ks if k.get("precision") == "float32"),
            "int8": sum(1 for k in ks if k.get("precision") == "int8"),
            "reformats": sum(1 for k in ks if k.get("type") == "Reformat"), "total": len(ks)}


def fp16_accuracy(outs, refs, classifier):
    """Accuracy of ``outs`` against ``refs``: lists of numpy arrays (one per input set, batch first) of one
    output. rel = max |out - ref| / max |ref| over all sets (inf when an output is not finite); for a
    classifier also the share of images whose argmax agrees."""
    import numpy as np

    a = np.concatenate([np.asarray(o, np.float64).reshape(len(o), -1) for o in outs])
    b = np.concatenate([np.asarray(r, np.float64).reshape(len(r), -1) for r in refs])
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {a.shape} vs {b.shape}")
    finite = bool(np.isfinite(a).all())
    d = float(np.abs(a - b).max()) if finite else float("inf")
    m = float(np.abs(b).max())
    acc = {"max_abs_diff": d, "max_abs_ref": m, "rel": d / max(m, 1e-30), "images": int(a.shape[0])}
    if classifier:
        acc["top1_agree"] = float((a.argmax(1) == b.argmax(1)).mean()) if finite else 0.0
    return acc


def fp16_ratios(row):
    """Adds the FP16 row's ratios: gie16 ms / gie32 ms, and gie16 ms / the fastest torch column's ms."""
    g16, g32 = row.get("gie16"), row.get("gie32")
    if g16 and g32:
        row["ratio_fp16_over_fp32"] = g16["median_ms"] / g32["median_ms"]
    cols = [(k, row.get(k)) for k in ("torch_eager", "torch_graph", "torch_compile") if row.get(k)]
    if cols:
        best, t = min(cols, key=lambda kt: kt[1]["median_ms"])
        row["best_torch"] = best
        if g16:
            row["ratio_gie16_over_best_torch"] = g16["median_ms"] / t["median_ms"]
        if row.get("gie8"):
            row["ratio_gie8_over_best_torch"] = row["gie8"]["median_ms"] / t["median_ms"]
    return row


def compile_mode(batch):
    return "reduce-overhead" if batch < COMPILE_MIN_AUTOTUNE_BATCH else "max-autotune-no-cudagraphs"


def _to_numpy(t):
    return t.detach().float().cpu().numpy()


def int8_calibrator(ctx, model_name, spec):
    """gie's entropy calibrator on --calib-images random images (seeds 1000..), one per model (ctx['calibrators']),
    with a calibration cache in the temporary directory: the first build of a model calibrates, later ones read it."""
    gie, args = ctx["gie"], ctx["args"]
    cals = ctx.setdefault("calibrators", {})
    if model_name not in cals:
        import numpy as np

        data = np.concatenate([spec.random_input(1, seed=1000 + i) for i in range(args.calib_images)])
        cache = os.path.join(tempfile.gettempdir(), f"gie_gpu_vs_torch_{model_name}_{spec.input_shape[1]}_s{args.seed}"
                                                    f"_n{args.calib_images}.calib")
        cals[model_name] = gie.EntropyCalibrator(data, batch_size=min(16, args.calib_images), cache_file=cache)
        log(f"  int8: calibration data {data.shape}, cache {cache}" + (" (exists)" if os.path.exists(cache) else ""))
    return cals[model_name]


def run_cell_fp16(ctx, model_name, spec, tmodels, batch):
    """Measures one (model, batch) in FP16 mode; returns a row dict. Errors are recorded in row['errors']."""
    torch, gie, args, stream = ctx["torch"], ctx["gie"], ctx["args"], ctx["stream"]
    tmodel32, tmodel16 = tmodels
    name = COMPARE[model_name]
    row = {"model": model_name, "batch": batch, "image": spec.input_shape[1], "precision": "fp16", "errors": [],
           "compare_output": name, "gie16": None, "gie32": None, "gie8": None, "torch_eager": None, "torch_graph": None,
           "torch_compile": None}
    nsets = args.rotate if batch == 1 else 1
    gcell = graphs = xs = txs = ref16 = None
    outs = {}  # "gie16" / "gie32" / "torch16" / "torch32": the compared output per input set, numpy
    try:
        xs = [torch.from_numpy(spec.random_input(batch, seed=1 + i)).to("cuda") for i in range(nsets)]
        txs = [x.half().contiguous(memory_format=torch.channels_last) for x in xs]
        torch.cuda.synchronize()
        if gie is not None and not args.skip_gie:
            # FP16 first: its build times the FP32 candidates too, so the FP32 build finds them in the cache
            engines = [("gie16", True, None)] + ([] if args.skip_gie32 else [("gie32", False, None)])
            if args.int8:
                engines.append(("gie8", True, int8_calibrator(ctx, model_name, spec)))
            for label, fp16, cal in engines:
                gcell, gouts = build_gie(ctx, spec, batch, xs, row, label, fp16=fp16, nout=nsets, int8_calibrator=cal)
                if gcell is not None:
                    outs[label] = [_to_numpy(o[name]) for o in gouts]
                    del gouts
                    time_gie(ctx, gcell, batch, row, label)
                gcell = None
                free_cuda(torch)
        elif gie is None and not args.skip_gie:
            row["errors"].append("gie: " + ctx["gie_error"])
        if tmodel16 is not None:
            try:
                with torch.cuda.stream(stream):
                    t_outs = [dict(zip(spec.outputs, tmodel16(x))) for x in txs]
                    stream.synchronize()
                ref16 = t_outs[0]
                outs["torch16"] = [_to_numpy(o[name]) for o in t_outs]
                del t_outs
            except Exception as e:  # noqa: BLE001
                row["errors"].append("torch eager: " + short(e))
                log(f"  torch eager failed: {short(e)}")

        # ---- accuracy: against gie FP32, else torch FP32 eager ----
        ref_label = "gie32" if "gie32" in outs else None
        if ref_label is None and tmodel32 is not None and ("gie16" in outs or "torch16" in outs):
            try:
                with torch.cuda.stream(stream):
                    outs["torch32"] = [_to_numpy(dict(zip(spec.outputs, tmodel32(x)))[name]) for x in xs]
                    stream.synchronize()
                ref_label = "torch32"
            except Exception as e:  # noqa: BLE001
                row["errors"].append("torch FP32 reference: " + short(e))
        if ref_label is not None:
            row["fp16_reference"] = {"gie32": "gie FP32", "torch32": "torch FP32 eager"}[ref_label]
            for label in ("gie16", "gie8", "torch16"):
                if label not in outs:
                    continue
                try:
                    acc = row[f"{label}_acc"] = fp16_accuracy(outs[label], outs[ref_label], model_name in CLASSIFIERS)
                    top1 = f", top-1 agreement {acc['top1_agree']:.1%}" if "top1_agree" in acc else ""
                    log(f"  {label} vs {row['fp16_reference']} on {name} ({acc['images']} images): max abs diff "
                        f"{acc['max_abs_diff']:.3g}, max |ref| {acc['max_abs_ref']:.3g}, rel {acc['rel']:.3g}{top1}")
                except Exception as e:  # noqa: BLE001
                    row["errors"].append(f"compare {label}: {short(e)}")
        outs.clear()

        # ---- torch timing ----
        if tmodel16 is not None and ref16 is not None and not args.skip_torch:
            graphs = time_torch(ctx, tmodel16, txs, ref16, spec, batch, row)
        graphs = ref16 = None
        if args.torch_compile and not args.skip_torch and tmodel16 is not None:
            free_cuda(torch)
            torch_compile_cell(ctx, model_name, batch, row)
        return fp16_ratios(row)
    except Exception as e:  # noqa: BLE001
        row["errors"].append(short(e))
        log(f"  cell failed: {short(e)}")
        return fp16_ratios(row)
    finally:
        del gcell, graphs, xs, txs, ref16
        free_cuda(torch)


# ---- torch.compile, one child process per cell ------------------------------------------------------

COMPILE_TAG = "COMPILE_RESULT "


def torch_compile_cell(ctx, model_name, batch, row):
    """Runs the torch.compile cell in a child process (it cannot hang the benchmark: killed with its process
    group after --compile-timeout s, or what is left of --budget-s). Fills row['torch_compile'] (timings),
    'compile_mode', 'compile_s', 'compile_vs_eager_rel', or 'compile_error' (+ the reason in row['errors'])."""
    args = ctx["args"]
    mode = row["compile_mode"] = compile_mode(batch)
    timeout = args.compile_timeout
    if args.budget_s is not None:
        timeout = min(timeout, args.budget_s - (time.perf_counter() - ctx["t0"]))
        if timeout < 30:
            row["compile_error"] = "skipped"
            row["errors"].append("torch.compile: skipped, --budget-s nearly spent")
            return
    cmd = [sys.executable, os.path.abspath(__file__), "--compile-child", f"{model_name}:{batch}",
           "--runs", str(args.runs), "--warmup", str(args.warmup), "--rotate", str(args.rotate),
           "--seed", str(args.seed)]
    if args.image is not None:
        cmd += ["--image", str(args.image)]
    if args.fold_bn:
        cmd.append("--fold-bn")
    log(f"  torch.compile ({mode}) in a child process, at most {timeout:.0f} s ...")
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)  # its own process group: the kill reaches its workers
    except Exception as e:  # noqa: BLE001
        row["compile_error"] = "error"
        row["errors"].append("torch.compile: " + short(e))
        return
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        row["compile_error"] = "timeout"
        row["errors"].append(f"torch.compile ({mode}): timed out after {timeout:.0f} s (--compile-timeout)")
        log(f"  torch.compile timed out after {time.perf_counter() - t0:.0f} s; child killed")
        return
    result = None
    for line in (out or "").splitlines():
        if line.startswith(COMPILE_TAG):
            try:
                result = json.loads(line[len(COMPILE_TAG):])
            except ValueError:
                pass
    if result is None or result.get("error"):
        tail = (err or "").strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        reason = result["error"] if result else short(RuntimeError(tail[0]))
        row["compile_error"] = "error"
        row["errors"].append(f"torch.compile ({mode}): {reason}")
        log(f"  torch.compile failed: {reason}")
        return
    row["compile_s"] = result.get("compile_s")
    row["compile_vs_eager_rel"] = result.get("vs_eager_rel")
    row["torch_compile"] = result.get("timing")
    if row["torch_compile"]:
        log(f"  torch compile {row['torch_compile']['median_ms']:6.3f} ms (compiled in {row['compile_s']:.1f} s)")


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.communicate(timeout=30)
    except Exception:  # noqa: BLE001  (a worker that left the group still holds the pipes: stop reading)
        proc.kill()


def compile_child(args):
    """The child process of one torch.compile cell: prints one COMPILE_RESULT JSON line, exit status 0."""
    result = {}
    try:
        model_name, batch = args.compile_child.split(":")
        batch = int(batch)
        import torch

        if not hasattr(torch, "compile"):
            raise RuntimeError(f"torch {torch.__version__} has no torch.compile")
        sys.path.insert(0, HERE)
        import torch_export

        _, model_zoo, _ = import_gie()
        torch.backends.cudnn.benchmark = True
        spec = model_zoo.describe(model_name, seed=args.seed, image=args.image)
        tmodel = torch_export.to_torch(spec, fold_bn=args.fold_bn).cuda().eval().half()
        tmodel = tmodel.to(memory_format=torch.channels_last)
        nsets = args.rotate if batch == 1 else 1
        txs = [torch.from_numpy(spec.random_input(batch, seed=1 + i)).to("cuda").half()
               .contiguous(memory_format=torch.channels_last) for i in range(nsets)]
        mode = result["mode"] = compile_mode(batch)
        stream = torch.cuda.Stream()
        step = getattr(getattr(torch, "compiler", None), "cudagraph_mark_step_begin", None)
        with torch.no_grad():
            with torch.cuda.stream(stream):
                ref = tmodel(txs[0])[0].clone()
                stream.synchronize()
            cmodel = torch.compile(tmodel, mode=mode)

            def call(x):
                if step is not None and mode == "reduce-overhead":
                    step()  # a new iteration for the CUDA-graph trees: the previous outputs may be overwritten
                return cmodel(x)

            t0 = time.perf_counter()
            with torch.cuda.stream(stream):
                out = call(txs[0])[0]
                stream.synchronize()
            result["compile_s"] = round(time.perf_counter() - t0, 2)
            d, m = compare(torch, out, ref)
            result["vs_eager_rel"] = d / max(m, 1e-30)
            del out
            with torch.cuda.stream(stream):
                fns = [(lambda x: (lambda: call(x)))(x) for x in txs]
                result["timing"] = summarize(_timing.cuda_event_ms(torch, fns, args.warmup, args.runs, stream), batch)
    except Exception as e:  # noqa: BLE001
        result["error"] = short(e)
    print(COMPILE_TAG + json.dumps(result), flush=True)
    return 0


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
            _model_label(r), str(r["batch"]),
            fmt(g and g["median_ms"], ".3f"), fmt(g and g["images_per_s"], ".1f"),
            fmt(te and te["median_ms"], ".3f"), fmt(te and te["images_per_s"], ".1f"),
            fmt(tg and tg["median_ms"], ".3f"), fmt(tg and tg["images_per_s"], ".1f"),
            fmt(r.get("ratio_gie_over_eager"), ".2f"), fmt(r.get("ratio_gie_over_graph"), ".2f"),
            fmt(r.get("max_abs_diff"), ".2e"), fmt(r.get("max_abs_torch"), ".3g"), notes])
    caption = (f"gie vs PyTorch (FP32, TF32 off): median latency over {args.runs} runs (ms, CUDA events), images/s = "
               f"batch / median; ratios = gie ms / torch ms (< 1: gie faster); eager = torch eager + cuDNN, graph = "
               f"torch CUDA graph; max abs diff = max |gie - torch eager| on "
               f"{'/'.join(out[m] for m in MODELS)}, max abs out = max |torch eager| there")
    if args.check_only:
        caption = (f"gie vs PyTorch eager, batch 1, outputs only (--check-only, tol {args.tol:g} relative to max "
                   f"|torch|); max abs diff / max abs out on {'/'.join(out[m] for m in MODELS)}")
    return markdown(caption, header, lines)


def build_env_note():
    """'' for a normal build; else what in the environment changes gie's tactic choices (said in every caption, so that
    a table measured with a shortcut cannot pass for a normal one)."""
    notes = []
    samples = os.environ.get("GIE_TIMING_SAMPLES")
    if samples:
        notes.append(f"GIE_TIMING_SAMPLES={samples}: gie's tactics chosen from {samples} timing sample(s), not a normal build")
    if os.environ.get("GIE_UNVERIFIED_TACTICS") == "1":
        notes.append("GIE_UNVERIFIED_TACTICS=1: tactics not yet verified on a GPU were timed too")
    return "; ".join(notes)


def markdown(caption, header, lines):
    """The caption, then a markdown table: first two columns and the last (notes) left-aligned, others right."""
    widths = [max(len(header[i]), *(len(l[i]) for l in lines)) if lines else len(header[i]) for i in range(len(header))]
    widths[-1] = 0  # no padding for the notes

    def md_row(cells):
        return "| " + " | ".join(c.ljust(w) if i < 2 or i == len(cells) - 1 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    sep = "|" + "|".join(("-" * (w + 2)) if i < 2 or i == len(widths) - 1 else ("-" * (w + 1) + ":")
                         for i, w in enumerate(widths)) + "|"
    env = build_env_note()
    caption = f"{caption} [{env}]" if env else caption
    return "\n".join([caption, "", md_row(header), sep] + [md_row(l) for l in lines])


def _model_label(r):
    return r["model"] + ("" if r["image"] == _default_image(r["model"]) else f" ({r['image']})")


def fp16_header(args):
    return (["model", "batch", "gie16 ms", "gie16 img/s", "gie32 ms", "gie32 img/s", "16/32", "eager16 ms",
             "eager16 img/s", "graph16 ms", "graph16 img/s"]
            + (["compile ms", "compile img/s", "compile s"] if args.torch_compile else [])
            + ["gie16/best torch", "rel err", "top-1", "half kernels"]
            + (["gie8 ms", "gie8 img/s", "gie8/best torch", "int8 top-1", "int8 kernels"] if args.int8 else [])
            + ["notes"])


def fp16_cells(r, args):
    """One FP16 table row (strings, in fp16_header's order)."""
    g16, g32, te, tg, tc = (r.get(k) for k in ("gie16", "gie32", "torch_eager", "torch_graph", "torch_compile"))
    acc = r.get("gie16_acc") or {}
    notes = list(r["errors"])
    ratio = r.get("ratio_fp16_over_fp32")
    if ratio is not None and r["batch"] >= 8 and not ratio < 1:
        notes.append("FP16 NOT FASTER THAN FP32")
    if acc and not acc["rel"] < args.tol16:
        notes.append(f"FP16 ACCURACY: rel {acc['rel']:.2g} >= {args.tol16:g}")
    if acc.get("top1_agree") is not None and acc["top1_agree"] < 0.99:
        notes.append(f"FP16 TOP-1: {acc['top1_agree']:.1%} < 99%")
    tacc = r.get("torch16_acc") or {}
    if tacc and not tacc["rel"] < args.tol16:
        notes.append(f"torch FP16 rel {tacc['rel']:.2g} (vs {r.get('fp16_reference')})")
    if r.get("compile_vs_eager_rel") is not None and not r["compile_vs_eager_rel"] < args.tol16:
        notes.append(f"torch.compile vs eager16 rel {r['compile_vs_eager_rel']:.2g}")
    if acc and r.get("fp16_reference") != "gie FP32":
        notes.append(f"accuracy vs {r.get('fp16_reference')}")
    best = r.get("ratio_gie16_over_best_torch")
    best_s = "-" if best is None else f"{best:.2f} ({TORCH_SHORT[r['best_torch']]})"
    pc = r.get("gie16_precisions")
    cells = [_model_label(r), str(r["batch"]),
             fmt(g16 and g16["median_ms"], ".3f"), fmt(g16 and g16["images_per_s"], ".1f"),
             fmt(g32 and g32["median_ms"], ".3f"), fmt(g32 and g32["images_per_s"], ".1f"), fmt(ratio, ".2f"),
             fmt(te and te["median_ms"], ".3f"), fmt(te and te["images_per_s"], ".1f"),
             fmt(tg and tg["median_ms"], ".3f"), fmt(tg and tg["images_per_s"], ".1f")]
    if args.torch_compile:
        cs = r.get("compile_error") or fmt(r.get("compile_s"), ".1f")
        cells += [fmt(tc and tc["median_ms"], ".3f"), fmt(tc and tc["images_per_s"], ".1f"), cs]
    cells += [best_s, fmt(acc.get("rel"), ".2e"), fmt(acc.get("top1_agree") and 100 * acc["top1_agree"], ".1f"),
              f"{pc['half']}/{pc['total']}" if pc else "-"]
    if args.int8:
        g8, acc8, pc8 = r.get("gie8"), r.get("gie8_acc") or {}, r.get("gie8_precisions")
        b8 = r.get("ratio_gie8_over_best_torch")
        cells += [fmt(g8 and g8["median_ms"], ".3f"), fmt(g8 and g8["images_per_s"], ".1f"),
                  "-" if b8 is None else f"{b8:.2f} ({TORCH_SHORT[r['best_torch']]})",
                  fmt(None if acc8.get("top1_agree") is None else 100 * acc8["top1_agree"], ".1f"),
                  f"{pc8['int8']}/{pc8['total']}" if pc8 else "-"]
    cells.append("; ".join(notes))
    return cells


TORCH_SHORT = {"torch_eager": "eager", "torch_graph": "graph", "torch_compile": "compile"}


def table_fp16(rows, args):
    out = "/".join(COMPARE[m] for m in MODELS)
    caption = (f"gie FP16 vs PyTorch FP16 (channels_last): median latency over {args.runs} runs (ms, CUDA events), "
               f"img/s = batch / median. gie16 = gie with config.fp16 (FP32 NCHW input/output converted inside "
               f"the engine), gie32 = gie's FP32 engine, same run; 16/32 = gie16 ms / gie32 ms; eager16 = torch "
               f".half() channels_last eager + cuDNN, graph16 = the same in a torch CUDA graph"
               + (f"; compile = torch.compile (reduce-overhead below batch {COMPILE_MIN_AUTOTUNE_BATCH}, "
                  f"max-autotune-no-cudagraphs from it), compile s = wall time of its first call"
                  if args.torch_compile else "")
               + f"; gie16/best torch = gie16 ms / the fastest torch column's ms (< 1: gie faster); rel err = "
               f"max |gie16 - gie32| / max |gie32| on {out} over the cell's inputs (batch 1: {args.rotate} input "
               f"sets); top-1 = % of those images whose argmax agrees (classifiers); half kernels = gie16 kernels "
               f"computing in FP16 / all"
               + ("; gie8 = gie with config.int8 and config.fp16 (entropy-calibrated on random images), gie8/best "
                  "torch likewise, int8 top-1 = % of images whose argmax agrees with gie32 (torch FP32 eager with "
                  "--skip-gie32), int8 kernels = gie8 "
                  "kernels computing in INT8 / all; PyTorch has no INT8 convolution path on the GPU, so its FP16 "
                  "columns are the peer" if args.int8 else ""))
    lines = [fp16_cells(r, args) for r in rows]
    return markdown(caption, fp16_header(args), lines) + "\n\n" + "\n".join(fp16_summary(rows))


def fp16_summary(rows):
    """Issue 12's minimum, read off the rows: FP16 faster than gie FP32 at batch >= 8; ResNet-50 batch 64."""
    big = [r for r in rows if r["batch"] >= 8]
    slow = [f"{r['model']} b{r['batch']}" for r in big if not (r.get("ratio_fp16_over_fp32") or float("inf")) < 1]
    lines = [f"gie FP16 faster than gie FP32 at batch >= 8: {len(big) - len(slow)} of {len(big)} cells"
             + (f" (not: {', '.join(slow)})" if slow else "")]
    for r in rows:
        if r["model"] == "resnet50" and r["batch"] == 64 and r["image"] == 224:
            g = r.get("gie16")
            lines.append("ResNet-50 batch 64 gie FP16: " + (f"{g['images_per_s']:,.0f} img/s" if g else "no figure")
                         + " (issue 12's minimum on the H100: 13,000 img/s)")
        if r["model"] == "resnet50" and r["image"] == 224 and r.get("precision") == "fp16" and "gie8" in r:
            g8 = r.get("gie8")
            if r["batch"] == 256:
                lines.append("ResNet-50 batch 256 gie INT8: " + (f"{g8['images_per_s']:,.0f} img/s" if g8 else "no figure")
                             + " (issue 14's target on the H100: 60,000 img/s)")
            if r["batch"] == 1:
                lines.append("ResNet-50 batch 1 gie INT8: " + (f"{g8['median_ms']:.3f} ms" if g8 else "no figure")
                             + " (issue 14's target: 0.30 ms)")
    return lines


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

def import_gie():
    """(gie or None, model_zoo, error text or None): the model zoo loads from the source tree without gie."""
    try:
        import gie
        from gie import model_zoo
        return gie, model_zoo, None
    except Exception as e:  # noqa: BLE001
        return None, _load_model_zoo(), f"import gie failed: {short(e)}"


def write_outputs(rows, meta, notes, args):
    """The table (markdown text); also writes --json / --markdown (after every cell: a cut-off run keeps them)."""
    md = table_fp16(rows, args) if args.fp16 else table(rows, args)
    if notes:
        md += "\n\n" + "\n".join(f"note: {n}" for n in sorted(notes))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "notes": sorted(notes), "rows": rows}, f, indent=1, default=str)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md + "\n")
    return md


def main(argv=None):
    args = parse_args(argv)
    if args.compile_child:
        return compile_child(args)
    t_start = time.perf_counter()
    import numpy as np  # noqa: F401  (model_zoo needs it; fail early with a clear message)

    torch = _timing.import_cuda_torch(log)
    if torch is None:
        return 2
    sys.path.insert(0, HERE)
    import torch_export

    gie, model_zoo, gie_error = import_gie()
    if gie_error:
        log(gie_error + " (torch columns only)")

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
    if args.fp16:
        meta.update({"precision": "int8" if args.int8 else "fp16", "calib_images": args.calib_images if args.int8 else None, "channels_last": True, "torch_compile": args.torch_compile,
                     "compile_timeout_s": args.compile_timeout, "timing_cache": args.timing_cache,
                     "tol16": args.tol16})
    log(f"device: {meta['device']} ({meta['device_memory_gib']} GiB), torch {meta['torch']} (CUDA {meta['cuda']}, "
        f"cuDNN {meta['cudnn']}), gie {meta['gie']} {meta['gie_build_info']}")
    if build_env_note():
        log(f"note: {build_env_note()}")
    if gie is not None and not gie.build_info().get("gpu_available", True):
        log("warning: gie reports no usable GPU (gie.build_info()['gpu_available'] is False): gie cells will fail")

    notes = set()
    stream = torch.cuda.Stream()  # a non-default stream: the legacy default stream cannot be captured
    ctx = {"torch": torch, "gie": gie, "gie_error": gie_error, "args": args, "stream": stream, "notes": notes,
           "t0": t_start}
    rows = []
    with torch.no_grad():
        for model_name in args.models:
            batches = args.batches
            if args.fp16 and model_name in FP16_MAX_BATCH:
                batches = [b for b in batches if b <= FP16_MAX_BATCH[model_name]]
                if len(batches) < len(args.batches):
                    log(f"{model_name}: FP16 mode stops at batch {FP16_MAX_BATCH[model_name]}: "
                        f"{sorted(set(args.batches) - set(batches))} skipped")
            try:
                spec = model_zoo.describe(model_name, seed=args.seed, image=args.image)
            except Exception as e:  # noqa: BLE001  (e.g. an --image the architecture does not accept)
                log(f"{model_name}: {short(e)}")
                rows += [{"model": model_name, "batch": b, "image": args.image or _default_image(model_name),
                          "errors": ["describe: " + short(e)], "compare_output": COMPARE[model_name],
                          "gie": None, "torch_eager": None, "torch_graph": None} for b in batches]
                continue
            log(f"{model_name}: input {spec.input_shape}, {spec.num_params() / 1e6:.1f} M params, "
                f"{spec.flops() / 1e9:.2f} GFLOP per image, outputs {spec.outputs}")
            tmodel, tmodel16, terr = None, None, None
            try:
                tmodel = torch_export.to_torch(spec, fold_bn=args.fold_bn).cuda().eval()
                if args.fp16:  # FP16 channels_last for timing; the FP32 module stays for a fallback reference
                    tmodel16 = torch_export.to_torch(spec, fold_bn=args.fold_bn).cuda().eval().half()
                    tmodel16 = tmodel16.to(memory_format=torch.channels_last)
                elif args.channels_last:
                    tmodel = tmodel.to(memory_format=torch.channels_last)
            except Exception as e:  # noqa: BLE001
                terr = "torch model: " + short(e)
                log("  " + terr)
            for batch in batches:
                if args.budget_s is not None and time.perf_counter() - t_start > args.budget_s:
                    log(f"{model_name} batch {batch}: skipped (--budget-s {args.budget_s:g} spent)")
                    rows.append({"model": model_name, "batch": batch, "image": spec.input_shape[1],
                                 "errors": [f"skipped: --budget-s {args.budget_s:g} spent"],
                                 "compare_output": COMPARE[model_name]})
                    continue
                log(f"{model_name} batch {batch}:")
                if args.fp16:
                    row = run_cell_fp16(ctx, model_name, spec, (tmodel, tmodel16), batch)
                else:
                    row = run_cell(ctx, model_name, spec, tmodel, batch)
                if terr:
                    row["errors"].insert(0, terr)
                rows.append(row)
                if args.fp16:
                    log("ROW | " + " | ".join(f"{h}: {c}" for h, c in zip(fp16_header(args), fp16_cells(row, args))
                                              if c not in ("", "-")))
                write_outputs(rows, meta, notes, args)
            del tmodel, tmodel16
            gc.collect()
            torch.cuda.empty_cache()

    md = write_outputs(rows, meta, notes, args)
    for path in (args.json, args.markdown):
        if path:
            log(f"wrote {path}")
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
