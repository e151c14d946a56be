"""GPU test helpers: build one network for the CPU and the GPU and compare them; list a kernel type's tactics.

    from gpu_util import gpu, compare_gpu_cpu, gpu_tactics
    pytestmark = gpu

    def test_conv(rng):
        x = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
        define = lambda net, t: net.add_convolution(t["x"], 8, (3, 3), w, b).output(0)
        for tactic in gpu_tactics(define, {"x": x}, "Convolution"):
            compare_gpu_cpu(define, {"x": x}, force={"Convolution": tactic})

GPU outputs go into device buffers (torch CUDA tensors when torch is importable, else cupy arrays) filled
with NaN (integers: an unlikely value; bool: bytes 0x5A) before each run, so a kernel that leaves elements
unwritten fails the comparison.
"""
import numpy as np
import pytest

import gie
import util

gpu = pytest.mark.gpu

_BOOL_POISON = 0x5A


def _lib():
    """'torch' or 'cupy': the library that holds the device buffers."""
    try:
        import torch

        if torch.cuda.is_available():
            return "torch"
    except ImportError:
        pass
    try:
        import cupy  # noqa: F401

        return "cupy"
    except ImportError:
        pytest.skip("GPU comparisons need torch (with CUDA) or cupy")


def _poison_value(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return float("nan")
    if dtype.kind in "iu":
        return int(np.iinfo(dtype).min) + 7
    return _BOOL_POISON


def to_device(arr, lib=None):
    """A device copy of a numpy array (torch CUDA tensor or cupy array)."""
    lib = lib or _lib()
    arr = np.ascontiguousarray(arr)
    if lib == "torch":
        import torch

        return torch.from_numpy(arr.copy()).cuda()
    import cupy

    return cupy.asarray(arr)


def poisoned_output(shape, dtype, lib=None):
    """(device buffer to pass as an output, reader() -> numpy copy of it). The buffer starts poisoned."""
    lib = lib or _lib()
    dtype = np.dtype(dtype)
    shape = tuple(int(d) for d in shape)
    if lib == "torch":
        import torch

        if dtype == np.bool_:
            raw = torch.full(shape, _BOOL_POISON, dtype=torch.uint8, device="cuda")
            buf = raw.view(torch.bool)
        else:
            tdt = {np.dtype(np.float32): torch.float32, np.dtype(np.float16): torch.float16,
                   np.dtype(np.int8): torch.int8, np.dtype(np.int32): torch.int32}[dtype]
            raw = buf = torch.full(shape, _poison_value(dtype), dtype=tdt, device="cuda")

        def read():
            torch.cuda.synchronize()
            return raw.cpu().numpy()
    else:
        import cupy

        if dtype == np.bool_:
            raw = cupy.full(shape, _BOOL_POISON, dtype=cupy.uint8)
            buf = raw.view(cupy.bool_)
        else:
            raw = buf = cupy.full(shape, _poison_value(dtype), dtype=dtype)

        def read():
            cupy.cuda.runtime.deviceSynchronize()
            return cupy.asnumpy(raw)

    if dtype != np.bool_:
        return buf, read

    def read_bool():
        raw_bytes = read()
        assert np.isin(raw_bytes, (0, 1)).all(), "bool output: elements left unwritten (or not 0/1)"
        return raw_bytes.astype(np.bool_)
    return buf, read_bool


def _batches(inputs, batches):
    full = max(np.asarray(a).shape[0] for a in inputs.values())
    seq = [full, 1] if batches is None else list(batches)
    out = []
    for b in seq:
        if int(b) not in out:
            out.append(int(b))
    return out


def fp16_everywhere(define):
    """``define`` with every layer pinned to FP16 (layer.precision = HALF); build it with fp16_config."""
    def wrapped(net, tensors):
        result = define(net, tensors)
        for i in range(net.num_layers):
            net.get_layer(i).precision = gie.DataType.HALF
        return result
    return wrapped


def fp16_config(config):
    """FP16 allowed and per-layer precision obeyed (with fp16_everywhere: every layer that can runs in FP16)."""
    config.fp16 = True
    config.set_flag(gie.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)


def check_half(engine, kernel_types, what):
    """Every kernel of a type in ``kernel_types`` computes in FP16 (precision float16 in the build report)."""
    kernels = engine.layer_info()["kernels"]
    for kt in kernel_types:
        ks = [k for k in kernels if k["type"] == kt]
        assert ks, f"{what}: no {kt} kernel in the engine (types: {sorted({k['type'] for k in kernels})})"
        for k in ks:
            assert k["precision"] == "float16", f"{what}: {kt} kernel '{k['name']}' runs in {k['precision']}, not FP16"


def build_gpu(define, inputs, force=None, max_batch=None, passes_off=(), configure=None, fp16=False):
    """util.build for the GPU, with ``force`` = {kernel type or name: tactic} through config.force_tactic; ``fp16``:
    every layer pinned to FP16 (fp16_everywhere + fp16_config)."""
    def config_fn(config):
        for kernel, tactic in (force or {}).items():
            config.force_tactic(str(kernel), str(tactic))
        if fp16:
            fp16_config(config)
        if configure is not None:
            configure(config)
    if fp16:
        define = fp16_everywhere(define)
    engine = util.build(define, inputs, max_batch=max_batch, device="gpu", passes_off=passes_off, configure=config_fn)
    assert engine.device == gie.DeviceType.GPU, f"asked for a GPU engine, got {engine.device}"
    return engine


def compare_gpu_cpu(define, inputs, rtol=1e-4, atol=1e-4, force=None, max_batch=None, batches=None, passes_off=(), fp16=False,
                    expect_half=()):
    """Builds ``define`` for the CPU and the GPU (``force``: {kernel type or name: tactic}), runs the GPU engine at
    each batch in ``batches`` (default: the inputs' batch, then 1; inputs sliced to it) with device inputs and
    NaN-poisoned device outputs, compares every output with the CPU engine's (util.assert_close) and returns
    the GPU engine's layer_info().

    ``fp16``: both engines with every layer pinned to FP16 (the CPU engine is then the FP16 reference: FP32 math,
    half storage where the GPU stores half); network I/O stay FP32 (the builder inserts Reformats). Every kernel
    whose type is in ``expect_half`` must compute in FP16 in both engines."""
    inputs = {name: np.asarray(a) for name, a in inputs.items()}
    lib = _lib()
    cpu_define = fp16_everywhere(define) if fp16 else define
    cpu_engine = util.build(cpu_define, inputs, max_batch=max_batch, device="cpu", passes_off=passes_off,
                            configure=fp16_config if fp16 else None)
    gpu_engine = build_gpu(define, inputs, force=force, max_batch=max_batch, passes_off=passes_off, fp16=fp16)
    if expect_half:
        check_half(cpu_engine, expect_half, "CPU engine")
        check_half(gpu_engine, expect_half, "GPU engine")
    cpu_ctx = cpu_engine.create_execution_context()
    gpu_ctx = gpu_engine.create_execution_context()
    for b in _batches(inputs, batches):
        sliced = {name: np.ascontiguousarray(a[:b]) for name, a in inputs.items()}
        expected = cpu_ctx.execute(sliced)
        dev_inputs = {name: to_device(a, lib) for name, a in sliced.items()}
        outs, readers = {}, {}
        for name in gpu_engine.output_names:
            outs[name], readers[name] = poisoned_output(expected[name].shape, expected[name].dtype, lib)
        res = gpu_ctx.execute(dev_inputs, outputs=outs)
        for name in gpu_engine.output_names:
            assert res[name] is outs[name], f"output '{name}': execute returned another object than the one given"
            got = readers[name]()
            util.assert_close(got, expected[name], rtol=rtol, atol=atol,
                              what=f"output '{name}' at batch {b}" + (f" (forced {force})" if force else ""))
    return gpu_engine.layer_info()


def gpu_tactics(define, inputs, kernel_type, max_batch=None, passes_off=(), fp16=False):
    """Names of the tactics the GPU kernels of type ``kernel_type`` offer for these shapes (every runnable tactic
    the builder timed, from layer_info()["kernels"][i]["tactic_times_ms"]), in first-seen order. ``fp16``: in an
    all-FP16 build (build_gpu's fp16)."""
    engine = build_gpu(define, {n: np.asarray(a) for n, a in inputs.items()}, max_batch=max_batch,
                       passes_off=passes_off, fp16=fp16)
    names = []
    for k in engine.layer_info().get("kernels", []):
        if k.get("type") != kernel_type:
            continue
        offered = [t["tactic"] for t in k.get("tactic_times_ms") or []] or [k.get("tactic")]
        for t in offered:
            if t is not None and t not in names:
                names.append(t)
    return names


def randn(rng, shape, scale=1.0, shift=0.0):
    """float32 normal samples times ``scale`` plus ``shift``."""
    return (rng.standard_normal(shape) * scale + shift).astype(np.float32)


def each_tactic(define, inputs, kernel, must_have=(), must_not=(), **kw):
    """compare_gpu_cpu (``kw``: tolerances, batches, ...) once per GPU tactic of ``kernel``, each forced, checking
    that every kernel of that type ran it; returns the tactic names."""
    tactics = gpu_tactics(define, inputs, kernel, passes_off=kw.get("passes_off", ()))
    assert tactics, f"the GPU {kernel} kernel offers no tactic"
    for t in must_have:
        assert t in tactics, f"{kernel}: tactic {t} missing from {tactics}"
    for t in must_not:
        assert t not in tactics, f"{kernel}: tactic {t} offered for these shapes: {tactics}"
    for t in tactics:
        info = compare_gpu_cpu(define, inputs, force={kernel: t}, **kw)
        chosen = [k["tactic"] for k in info["kernels"] if k["type"] == kernel]
        assert chosen and all(c == t for c in chosen), (t, chosen)
    return tactics


def each_tactic_per_kernel(define, inputs, kernel, **kw):
    """For networks with several kernels of one type but different shapes (so different tactic lists): round i
    forces tactic i (cyclically) of every such kernel, by kernel name, until each kernel ran all of its tactics.
    Returns ({kernel name: its tactics}, [layer_info of each round])."""
    engine = build_gpu(define, inputs)
    offered = {k["name"]: [t["tactic"] for t in k.get("tactic_times_ms") or []] or [k["tactic"]]
               for k in engine.layer_info()["kernels"] if k["type"] == kernel}
    assert offered, f"no {kernel} kernel"
    infos = []
    for i in range(max(len(v) for v in offered.values())):
        force = {name: ts[i % len(ts)] for name, ts in offered.items()}
        infos.append(compare_gpu_cpu(define, inputs, force=force, **kw))
    return offered, infos


def wgmma_expected():
    """Whether the Hopper tactics (wgmma + TMA, cuda/kernels/gemm_wgmma_f16.cuh) must be offered here: a compute
    capability 9.0 GPU and a build with sm_90a code. There, build_info's wgmma_tactics must agree (else the runtime
    check that registers them is broken, which a skip would hide)."""
    info = gie.build_info()
    if info.get("compute_capability") != "9.0" or not info.get("sm90a_code"):
        return False
    assert info.get("wgmma_tactics"), f"an sm_90 GPU and an sm_90a build, but the wgmma tactics are not usable: {info}"
    return True
