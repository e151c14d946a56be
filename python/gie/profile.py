"""Where the time goes: each step's work (FLOPs, bytes moved) and the device's peaks, for ``gie run --profile``.

The accounting is computed from ``engine.layer_info()`` alone: every kernel entry carries its input and output
tensors (shape at the engine's largest batch, dtype, format and ``bytes``, which include the padding channels of
a blocked format such as HWC8) and, for built-in kernels, its ``fields`` (kernel size, groups, fused activation,
...) and ``weights`` (element count and stored type of each float field). Nothing here re-derives a shape.

    work = profile.engine_work(engine.layer_info(), batch=8)    # {kernel name: {"flops", "bytes", ...}}
    peaks = profile.device_peaks(engine.layer_info())            # measured once per device, then cached
    rows = profile.annotate(kernel_rows, work, peaks)             # adds TFLOP/s, GB/s, bound, fraction of peak

Conventions (documented in docs/cli.md, "Work, peaks and bounds"):

* A multiply-add is 2 FLOPs. Convolution: 2 * output elements * (C/groups) * R * S (stride and dilation act
  through the output shape); Deconvolution: 2 * input elements * (K/groups) * R * S; FullyConnected:
  2 * output elements * inputs per output; MatrixMultiply: 2 * output elements * the shared dimension.
  A fused epilogue adds 1 FLOP per output element for each of bias, residual and activation, so that a fused
  network counts what the unfused one does.
* Element-wise work is 1 FLOP per output element (Activation, Unary, PRelu; ElementWise: one per input
  beyond the first; Scale: one per present shift/scale/power). Pooling: window elements per output
  (the whole input plane for global pooling); Reduce: 1 per input element; Softmax: 5 per element (max,
  subtract, exp, sum, divide); LRN: 2 * window + 3 per element; linear Resize: one 3-FLOP interpolation per
  corner pair (2^d - 1 of them for d resized axes) per output element.
* Data movement (Reformat, Cast, Shuffle, Slice, Concatenation, Padding, Gather, Identity, Constant, nearest
  Resize) is 0 FLOPs. A kernel this module does not know (a user plugin) has ``flops`` None.
* Bytes moved = every input and output tensor at its stored type and format + the kernel's float fields (its
  weights) at their stored type (GPU FP16 kernels hold convolution/FC kernels in half). Activations scale
  linearly with the batch; constants and weights do not.
"""

import json
import math
import os
import platform
import time

import numpy as np

_DTYPE_BYTES = {"float32": 4, "float16": 2, "int8": 1, "int32": 4, "bool": 1}

# 1 FLOP per output element.
_ELEMENTWISE = {"Activation", "Unary", "PRelu"}
_DATA_MOVEMENT = {"Reformat", "Cast", "Shuffle", "Slice", "Concatenation", "Padding", "Gather", "Identity", "Constant"}


def _volume(shape):
    return int(np.prod(shape, dtype=np.int64)) if shape else 1


def _field(k, name, default):
    """First value of integer field ``name`` of kernel entry ``k`` (its declared default when absent)."""
    v = k.get("fields", {}).get(name)
    if v is None:
        return default
    return v[0] if isinstance(v, list) else v


def _weight_elements(k, name):
    return sum(w["elements"] for w in k.get("weights", []) if w["field"] == name)


def _epilogue(k, out_elems, residual):
    """The fused epilogue's FLOPs: bias, residual add and activation, 1 per output element each."""
    n = 1 if _weight_elements(k, "bias") > 0 else 0
    n += 1 if residual else 0
    n += 1 if _field(k, "activation_type", -1) >= 0 else 0
    return n * out_elems


def step_flops(k):
    """FLOPs of one kernel entry of layer_info at the shapes it reports (the engine's largest batch); None for a
    kernel type without a formula (a user plugin)."""
    t = k["type"]
    ins = [i["shape"] for i in k.get("inputs", [])]
    outs = [o["shape"] for o in k.get("outputs", [])]
    out = _volume(outs[0]) if outs else 0
    if t in _DATA_MOVEMENT:
        return 0
    if "fields" not in k:
        return None  # not a built-in kernel's fields: a user plugin that merely shares a name
    if t == "Convolution":
        r, s = k["fields"]["kernel_size"]
        groups = _field(k, "num_groups", 1)
        return 2 * out * (ins[0][1] // groups) * r * s + _epilogue(k, out, len(ins) > 1)
    if t == "Deconvolution":
        r, s = k["fields"]["kernel_size"]
        groups = _field(k, "num_groups", 1)
        return 2 * _volume(ins[0]) * (_field(k, "num_output_maps", 0) // groups) * r * s + _epilogue(k, out, False)
    if t == "FullyConnected":
        per_output = _weight_elements(k, "kernel") // _field(k, "num_outputs", 1)
        return 2 * out * per_output + _epilogue(k, out, False)
    if t == "MatrixMultiply":
        a = ins[0]
        inner = a[0] if len(a) == 1 else (a[-2] if _field(k, "transpose_a", 0) else a[-1])
        return 2 * out * inner
    if t in _ELEMENTWISE:
        return out
    if t == "ElementWise":
        return out * max(1, len(ins) - 1)
    if t == "Scale":
        return out * max(1, sum(1 for f in ("shift", "scale", "power") if _weight_elements(k, f) > 0))
    if t == "Pooling":
        if _field(k, "global", 0):
            window = _volume(ins[0][2:])
        else:
            window = _volume(k["fields"]["window_size"])
        return out * window
    if t == "Reduce":
        return _volume(ins[0])
    if t == "Softmax":
        return 5 * out
    if t == "LRN":
        return out * (2 * _field(k, "window_size", 1) + 3)
    if t == "Resize":
        if _field(k, "mode", 0) == 0:
            return 0
        resized = sum(1 for a, b in zip(ins[0], outs[0]) if a != b)
        return out * 3 * (2 ** resized - 1)
    return None


def _scale_for(tensor, batch_scale):
    return 1.0 if tensor.get("kind") == "constant" else batch_scale


def step_work(k, batch_scale=1.0):
    """{"flops", "bytes", "weight_bytes", "precision"} of one kernel entry; ``batch_scale`` = run batch / the
    engine's largest batch (the shapes layer_info reports)."""
    flops = step_flops(k)
    weight_bytes = sum(w["elements"] * _DTYPE_BYTES.get(w["dtype"], 4) for w in k.get("weights", []))
    tensor_bytes = sum(t["bytes"] * _scale_for(t, batch_scale) for t in k.get("inputs", []) + k.get("outputs", []))
    return {"flops": None if flops is None else flops * batch_scale, "bytes": tensor_bytes + weight_bytes,
            "weight_bytes": weight_bytes, "precision": k.get("precision", "float32")}


def engine_work(layer_info, batch=None):
    """{kernel name: step_work} for a run at ``batch`` (default: the engine's largest batch)."""
    top = int(layer_info.get("batch", {}).get("max") or 1)
    scale = (batch if batch is not None else top) / top
    return {k["name"]: step_work(k, scale) for k in layer_info.get("kernels", [])}


# ---- peaks -----------------------------------------------------------------------------------------------

def cache_path():
    """Where measured peaks are kept: $GIE_CACHE_DIR, else $XDG_CACHE_HOME/gie, else ~/.cache/gie (peaks.json)."""
    base = os.environ.get("GIE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "gie")
    return os.path.join(base, "peaks.json")


def _device_key(device):
    import gie

    info = gie.build_info()
    if device == "gpu":
        return f"gpu|{info.get('gpu_name')}|cc {info.get('compute_capability')}|gie {info['version']}"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    threads = os.environ.get("OMP_NUM_THREADS", str(os.cpu_count()))
    return f"cpu|{cpu}|{threads} threads|gie {info['version']}"


def _best_seconds(fn, repeats):
    fn()
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _gie_gemm_tflops(device, fp16, m, n, k, repeats):
    """TFLOP/s of gie's own FullyConnected kernel on an (m x k) . (k x n) product, timed by the profiler (the
    kernel alone, not the Reformats an FP16 build adds at the I/O)."""
    import gie

    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (m, k))
    rng = np.random.default_rng(0)
    fc = net.add_fully_connected(x, n, rng.standard_normal((n, k), dtype=np.float32) * 0.01)
    net.mark_output(fc.output(0), "y")
    config = builder.create_config()
    config.device = device
    config.fp16 = fp16
    if fp16:  # the FP16 roof: the GEMM itself in half, whatever the builder would time faster
        fc.precision = gie.float16
        config.set_flag(gie.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    config.max_batch = m
    engine = builder.build(net, config)
    ctx = engine.create_execution_context()
    ctx.execute({"x": rng.standard_normal((m, k), dtype=np.float32)})
    fc_names = {e["name"] for e in engine.layer_info()["kernels"] if e["type"] == "FullyConnected"}
    times = []
    ctx.profiler = lambda name, ms: times.append(ms) if name in fc_names else None
    try:
        for _ in range(repeats + 1):
            ctx.execute_bound()
    finally:
        ctx.profiler = None
    best_ms = min(times[1:] or times)
    return 2.0 * m * n * k / (best_ms * 1e-3) / 1e12


def _torch_gemm_tflops(dtype, size, repeats):
    import torch

    a = torch.randn(size, size, device="cuda", dtype=dtype)
    b = torch.randn(size, size, device="cuda", dtype=dtype)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.matmul(a, b)
    best = math.inf
    for _ in range(repeats):
        start.record()
        torch.matmul(a, b)
        end.record()
        end.synchronize()
        best = min(best, start.elapsed_time(end))
    return 2.0 * size ** 3 / (best * 1e-3) / 1e12


def _torch_usable():
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _gpu_copy_gbps(nbytes, repeats):
    """Device-to-device copy bandwidth (read + write) through gie's own copy."""
    from . import _C

    src, dst = _C.gpu_allocate(nbytes), _C.gpu_allocate(nbytes)
    stream = _C.gpu_stream_create()
    try:
        def copy():
            _C.gpu_copy(dst, src, nbytes, 2, stream)  # 2: device to device (gie/gpu.h GpuCopyKind)
            _C.gpu_stream_synchronize(stream)
        return 2.0 * nbytes / _best_seconds(copy, repeats) / 1e9
    finally:
        _C.gpu_stream_destroy(stream)
        _C.gpu_free(src)
        _C.gpu_free(dst)


def _host_copy_gbps(nbytes, repeats):
    """Host memcpy bandwidth (read + write) of numpy's copy between two large buffers."""
    src = np.ones(nbytes, dtype=np.uint8)
    dst = np.empty_like(src)
    return 2.0 * nbytes / _best_seconds(lambda: np.copyto(dst, src), repeats) / 1e9


def measure_peaks(device):
    """Measures the device's compute and memory peaks (a few seconds): {"tflops": {precision: TFLOP/s},
    "gbps": GB/s, "tflops_source": ..., "gbps_source": ...}."""
    if device == "gpu":
        if _torch_usable():
            import torch

            prev = torch.backends.cuda.matmul.allow_tf32
            torch.backends.cuda.matmul.allow_tf32 = False
            try:
                tflops = {"float16": _torch_gemm_tflops(torch.float16, 8192, 10),
                          "float32": _torch_gemm_tflops(torch.float32, 4096, 5)}
            finally:
                torch.backends.cuda.matmul.allow_tf32 = prev
            source = "measured: torch.matmul 8192^3 FP16 (tensor cores) and 4096^3 FP32 (TF32 off)"
        else:
            tflops = {"float16": _gie_gemm_tflops("gpu", True, 4096, 4096, 4096, 5),
                      "float32": _gie_gemm_tflops("gpu", False, 4096, 4096, 4096, 5)}
            source = "measured: gie FullyConnected 4096x4096x4096, FP16 and FP32"
        return {"tflops": tflops, "gbps": _gpu_copy_gbps(1 << 30, 10), "tflops_source": source,
                "gbps_source": "measured: device-to-device copy of 1 GiB (read + write)"}
    fp32 = _gie_gemm_tflops("cpu", False, 256, 1024, 1024, 5)
    # The CPU backend computes FP16 storage in FP32 (plugin/half_storage_cpu.h): one roof for both.
    return {"tflops": {"float32": fp32, "float16": fp32},
            "gbps": _host_copy_gbps(256 << 20, 5),
            "tflops_source": "measured: gie CPU FullyConnected 256x1024x1024 (FP16 computes in FP32 on the CPU)",
            "gbps_source": "measured: numpy copy of 256 MiB (read + write)"}


def device_peaks(layer_info, tflops=None, gbps=None, measure=True):
    """The peaks for the engine's device: ``tflops`` / ``gbps`` where given (used for every precision), the
    rest measured once per device (and gie version) and cached in :func:`cache_path`. ``measure`` False: what
    the cache holds, else None for the missing ones."""
    device = layer_info.get("device", "cpu")
    peaks = {"device": device, "tflops": None, "gbps": None, "tflops_source": None, "gbps_source": None}
    if tflops is not None:
        peaks["tflops"] = {"float32": float(tflops), "float16": float(tflops)}
        peaks["tflops_source"] = "given (--peak-tflops)"
    if gbps is not None:
        peaks["gbps"] = float(gbps)
        peaks["gbps_source"] = "given (--peak-gbps)"
    if tflops is not None and gbps is not None:
        return peaks
    key = _device_key(device)
    path = cache_path()
    try:
        with open(path) as f:
            cache = json.load(f)
        if not isinstance(cache, dict):
            cache = {}
    except (OSError, ValueError):
        cache = {}
    entry = cache.get(key)
    if entry is not None:
        entry = dict(entry, tflops_source=f"{entry['tflops_source']} (cached in {path})",
                     gbps_source=f"{entry['gbps_source']} (cached in {path})")
    elif measure:
        entry = measure_peaks(device)
        cache[key] = entry
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = path + f".{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                json.dump(cache, f, indent=1)
            os.replace(tmp, path)  # another process may measure at the same time: the file is whole either way
        except OSError:
            pass  # a read-only home: measured again next time
    if entry is not None:
        for what in ("tflops", "gbps"):
            if peaks[what] is None:
                peaks[what] = entry[what]
                peaks[what + "_source"] = entry[what + "_source"]
    return peaks


# ---- per-step results ------------------------------------------------------------------------------------

def annotate(rows, work, peaks):
    """Adds to each profiled row (``name``, ``mean_ms``) its work and roofline numbers: flops, bytes, tflops,
    gbps (achieved), intensity (FLOP/byte), peak_tflops (for its precision), bound ("compute" when its intensity
    reaches the ridge point peak FLOP/s / peak bytes/s, else "memory") and peak_fraction (achieved / the roof that
    bounds it). Unknown values are None. Returns ``rows``."""
    for r in rows:
        w = work.get(r["name"], {"flops": None, "bytes": None, "precision": "float32"})
        seconds = r["mean_ms"] * 1e-3
        flops, nbytes = w["flops"], w["bytes"]
        peak_t = (peaks.get("tflops") or {}).get(w["precision"], (peaks.get("tflops") or {}).get("float32"))
        peak_b = peaks.get("gbps")
        r.update(flops=flops, bytes=nbytes, precision=w["precision"], peak_tflops=peak_t,
                 tflops=flops / seconds / 1e12 if flops is not None and seconds > 0 else None,
                 gbps=nbytes / seconds / 1e9 if nbytes is not None and seconds > 0 else None,
                 intensity=flops / nbytes if flops is not None and nbytes else None,
                 bound=None, peak_fraction=None)
        if r["intensity"] is not None and peak_t and peak_b:
            ridge = peak_t * 1e12 / (peak_b * 1e9)
            if r["intensity"] >= ridge:
                r["bound"] = "compute"
                r["peak_fraction"] = r["tflops"] / peak_t if r["tflops"] is not None else None
            else:
                r["bound"] = "memory"
                r["peak_fraction"] = r["gbps"] / peak_b if r["gbps"] is not None else None
    return rows


def _num(v, fmt):
    return "-" if v is None else format(v, fmt)


def format_table(rows, iterations, peaks):
    """The text ``gie run --profile`` prints: per kernel, its time and share, its work and what it achieved next
    to the peaks."""
    name_w = max([len("kernel")] + [len(k["name"]) for k in rows])
    type_w = max([len("type")] + [len(k["type"]) for k in rows])
    tflops = peaks.get("tflops") or {}
    lines = [f"peaks ({peaks.get('device', '?')}): "
             + (", ".join(f"{p} {v:.4g} TFLOP/s" for p, v in sorted(tflops.items())) or "TFLOP/s unknown")
             + f" [{peaks.get('tflops_source') or 'not measured'}]; "
             + (f"{peaks['gbps']:.4g} GB/s" if peaks.get("gbps") else "GB/s unknown")
             + f" [{peaks.get('gbps_source') or 'not measured'}]",
             f"per-kernel times, mean over {iterations} profiled iterations (run separately from the timed "
             f"iterations above), slowest first; bound: compute or memory (roofline), % peak of that roof:",
             f"  {'kernel':<{name_w}}  {'type':<{type_w}}  {'mean ms':>10}  {'%':>6}  {'cum %':>6}  {'GFLOP':>9}  "
             f"{'MB':>9}  {'TFLOP/s':>8}  {'GB/s':>8}  {'FLOP/B':>7}  {'bound':>7}  {'% peak':>6}"]
    cum = 0.0
    for k in rows:
        cum += k["percent"]
        flops, nbytes = k.get("flops"), k.get("bytes")
        frac = k.get("peak_fraction")
        lines.append(f"  {k['name']:<{name_w}}  {k['type']:<{type_w}}  {k['mean_ms']:>10.4f}  {k['percent']:>6.2f}  "
                     f"{cum:>6.1f}  {_num(None if flops is None else flops / 1e9, '9.4f'):>9}  "
                     f"{_num(None if nbytes is None else nbytes / 1e6, '9.3f'):>9}  {_num(k.get('tflops'), '8.4f'):>8}  "
                     f"{_num(k.get('gbps'), '8.2f'):>8}  {_num(k.get('intensity'), '7.2f'):>7}  "
                     f"{k.get('bound') or '-':>7}  {_num(None if frac is None else 100 * frac, '6.1f'):>6}")
    total = sum(k["mean_ms"] for k in rows)
    known = [k for k in rows if k.get("flops") is not None]
    tf = sum(k["flops"] for k in known)
    tb = sum(k["bytes"] for k in rows if k.get("bytes") is not None)
    seconds = total * 1e-3
    lines.append(f"  {'total':<{name_w}}  {'':<{type_w}}  {total:>10.4f}  {100.0 if rows else 0.0:>6.2f}  {'':>6}  "
                 f"{tf / 1e9:>9.4f}  {tb / 1e6:>9.3f}  {_num(tf / seconds / 1e12 if seconds > 0 else None, '8.4f'):>8}  "
                 f"{_num(tb / seconds / 1e9 if seconds > 0 else None, '8.2f'):>8}")
    if len(known) < len(rows):
        lines.append(f"  ({len(rows) - len(known)} kernel(s) of a type without a FLOP formula: '-', left out of the total)")
    return "\n".join(lines)
