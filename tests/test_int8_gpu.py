"""The GPU INT8 kernels (docs/int8.md: convolution on CHW4 with its dp4a and integer tensor-core tactics, grouped and
depthwise convolution, the fully connected layer, each tactic forced; pooling, element-wise, concatenation, the INT8
Reformat paths; calibration on the GPU)
against the CPU INT8 reference (itself checked against numpy in tests/test_int8_kernels.py), and the digits CNN built
for the GPU in INT8.

Each network is built for the CPU and for the GPU with config.int8 and OBEY_PRECISION_CONSTRAINTS, the layer under
test pinned to INT8 (layer.precision) and its output pinned to float32 or int8 (set_output_type), so that both
engines run the same INT8 arithmetic whatever the GPU's timing prefers: quantize the inputs (Reformat), the INT8
kernel, and for an INT8 output a dequantizing Reformat. Inputs are random with awkward sizes (channels not multiples
of 4, odd H / W, stride 2, padding, more than one 128-pixel x 64-channel tile, batch 13 and 1); GPU outputs are
poisoned device buffers (gpu_util).

Expected: EXACT equality. The integer part is exact on both devices (INT32 accumulation, the bias added in INT32,
max of q, INT32 window sums); the float epilogue is the same sequence of IEEE operations in the same order
(float(acc) * mult, + residual (float(q) * s), ReLU, x / s rounded half to even and saturated): the GPU writes them
with the _rn intrinsics, so nvcc cannot contract a product and a sum into one FMA, and the CPU INT8 files are built
for baseline x86-64, which has no FMA instruction to contract into (the activation rows are built with
-ffp-contract=off). A 1-unit difference would therefore be a bug, not rounding.
"""
import logging

import numpy as np
import pytest

import gie
import util
from gpu_util import poisoned_output, to_device

pytestmark = pytest.mark.gpu

F32 = np.float32
OBEY = gie.BuilderFlag.OBEY_PRECISION_CONSTRAINTS


def build_both(define, feeds, ranges, max_batch=None, force=None, passes_off=()):
    """define(net, tensors) -> output tensor (it pins what it tests); ranges(tensors, out) -> {tensor: amax};
    force: {kernel type: tactic} for the GPU build. Returns (cpu engine, gpu engine)."""
    def wrapped(net, t):
        out = define(net, t)
        for tensor, amax in ranges(t, out).items():
            tensor.set_dynamic_range(-amax, amax)
        return out

    def configure(config):
        config.int8 = True
        config.set_flag(OBEY)

    def configure_gpu(config):
        configure(config)
        for kernel, tactic in (force or {}).items():
            config.force_tactic(kernel, tactic)

    cpu = util.build(wrapped, feeds, max_batch=max_batch, device="cpu", configure=configure, passes_off=passes_off)
    gpu = util.build(wrapped, feeds, max_batch=max_batch, device="gpu", configure=configure_gpu, passes_off=passes_off)
    return cpu, gpu


def kinds(engine, type_):
    return [k["precision"] for k in engine.layer_info()["kernels"] if k["type"] == type_]


def compare(cpu, gpu, feeds, batches=None):
    """Runs both engines at each batch (default: the feeds' batch, then 1) and requires equal outputs."""
    full = max(a.shape[0] for a in feeds.values())
    cctx, gctx = cpu.create_execution_context(), gpu.create_execution_context()
    for b in batches or [full, 1]:
        sliced = {k: np.ascontiguousarray(v[:b]) for k, v in feeds.items()}
        want = cctx.execute(sliced)["out0"]
        buf, read = poisoned_output(want.shape, want.dtype)
        gctx.execute({k: to_device(v) for k, v in sliced.items()}, outputs={"out0": buf})
        got = read()
        assert not np.isnan(got).any(), f"batch {b}: {np.isnan(got).sum()} output elements left unwritten"
        bad = np.argwhere(got != want)
        assert bad.size == 0, (f"batch {b}: {len(bad)} of {got.size} elements differ, first at {tuple(bad[0])}: "
                               f"GPU {got[tuple(bad[0])]} CPU {want[tuple(bad[0])]}")


def pin(layer, out_type):
    layer.precision = gie.int8
    layer.set_output_type(0, out_type)
    return layer.output(0)


# N, C, H, W, K, (R, S), stride, pre, post, dilation
CONV_CASES = [
    (13, 5, 9, 7, 7, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1)),
    (2, 37, 15, 13, 70, (3, 3), (2, 2), (1, 0), (0, 1), (1, 1)),    # 2 channel tiles, K % 4 = 2, stride 2
    (3, 64, 14, 14, 130, (1, 1), (1, 1), (0, 0), (0, 0), (1, 1)),   # 1x1, 3 channel tiles, > 4 pixel tiles
    (1, 3, 23, 23, 9, (7, 7), (2, 2), (3, 3), (3, 3), (1, 1)),      # a ResNet stem-like layer, C = 3
    (2, 6, 11, 9, 5, (3, 2), (1, 2), (2, 1), (2, 1), (2, 1)),       # dilated, asymmetric padding
    (4, 17, 1, 1, 9, (1, 1), (1, 1), (0, 0), (0, 0), (1, 1)),       # 1x1 plane
]
CONV_IDS = [f"n{c[0]}c{c[1]}_{c[2]}x{c[3]}k{c[4]}r{c[5][0]}{c[5][1]}s{c[6][0]}" for c in CONV_CASES]


def out_hw(case):
    N, C, H, W, K, (kr, ks), stride, pre, post, dil = case
    return ((H + pre[0] + post[0] - dil[0] * (kr - 1) - 1) // stride[0] + 1,
            (W + pre[1] + post[1] - dil[1] * (ks - 1) - 1) // stride[1] + 1)


def conv_layer(net, x, case, rng, groups=1):
    N, C, H, W, K, (kr, ks), stride, pre, post, dil = case
    w = (rng.standard_normal((K, C // groups, kr, ks)) * 0.3).astype(F32)
    w[0] = 0  # an all-zero output channel (weight scale 1)
    b = rng.standard_normal(K).astype(F32)
    return net.add_convolution(x, K, (kr, ks), w, b, stride=stride, pre_padding=pre, post_padding=post, dilation=dil,
                               num_groups=groups)


TACTICS = ["dp4a_128x64x8_chw4", "imma_128x64x32_chw4"]  # cuda/kernels/conv2d_int8.cu (imma: sm_80+)


def tactic_runs(tactic):
    return not tactic.startswith("imma") or float(gie.build_info().get("compute_capability") or 0) >= 8.0


def conv_tactics(engine):
    return [k["tactic"] for k in engine.layer_info()["kernels"] if k["type"] == "Convolution"]


@pytest.mark.parametrize("tactic", TACTICS)
@pytest.mark.parametrize("out_type", ["float32", "int8"])
@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv_matches_cpu(case, out_type, tactic, rng):
    if not tactic_runs(tactic):
        pytest.skip(f"{tactic} needs sm_80")
    x = (rng.standard_normal(case[:4]) * 1.5).astype(F32)
    seed = int(rng.integers(1 << 30))
    define = lambda net, t: pin(conv_layer(net, t["x"], case, np.random.default_rng(seed)), gie.float32 if out_type == "float32" else gie.int8)
    # some inputs saturate (amax below max |x|); the INT8 output range clips some outputs too
    ranges = lambda t, o: {t["x"]: float(np.abs(x).max()) * 0.8, **({o: 6.0} if out_type == "int8" else {})}
    cpu, gpu = build_both(define, {"x": x}, ranges, force={"Convolution": tactic})
    assert kinds(gpu, "Convolution") == ["int8"] and kinds(cpu, "Convolution") == ["int8"]
    assert conv_tactics(gpu) == [tactic]
    compare(cpu, gpu, {"x": x})


@pytest.mark.parametrize("tactic", TACTICS)
@pytest.mark.parametrize("residual", ["int8", "float", None])
@pytest.mark.parametrize("case", CONV_CASES[:3], ids=CONV_IDS[:3])
def test_conv_residual_relu_fused_int8_output(case, residual, tactic, rng):
    """conv + bias + residual add + ReLU in one INT8 kernel writing INT8 CHW4 (dequantized by the output Reformat);
    the residual INT8 (quantized by a Reformat, its own scale) or FLOAT (no range: it stays float)."""
    if not tactic_runs(tactic):
        pytest.skip(f"{tactic} needs sm_80")
    check_conv_residual_relu_fused(case, residual, tactic, rng)


def check_conv_residual_relu_fused(case, residual, tactic, rng):
    """conv + bias [+ residual add] + ReLU, INT8 out, the convolution's tactic forced on the GPU; the residual "int8"
    (its own range), "float" (none) or None. Both engines must fuse it all into the INT8 convolution and agree
    (also for tests/test_int8_gpu_imma.py and tests/test_int8_wgmma.py's tactics)."""
    N, C, H, W, K = case[:5]
    P, Q = out_hw(case)
    x = (rng.standard_normal((N, C, H, W)) * 1.5).astype(F32)
    feeds = {"x": x}
    if residual:
        feeds["r"] = rng.standard_normal((N, K, P, Q)).astype(F32)
    seed = int(rng.integers(1 << 30))

    def define(net, t):
        conv = conv_layer(net, t["x"], case, np.random.default_rng(seed))
        conv.precision = gie.int8
        y = conv.output(0)
        if residual:
            y = net.add_elementwise(y, t["r"], gie.ElementWiseOperation.SUM).output(0)
        act = net.add_activation(y, gie.ActivationType.RELU)
        act.set_output_type(0, gie.int8)
        return act.output(0)

    ranges = lambda t, o: {t["x"]: 4.0, o: 6.0, **({t["r"]: 2.5} if residual == "int8" else {})}
    cpu, gpu = build_both(define, feeds, ranges, force={"Convolution": tactic})
    assert conv_tactics(gpu) == [tactic]
    for e in (cpu, gpu):
        assert kinds(e, "Convolution") == ["int8"] and not kinds(e, "ElementWise") and not kinds(e, "Activation"), \
            e.layer_info()["kernels"]
    compare(cpu, gpu, feeds)


# N, C, H, W, K, (R, S), stride, pre, post, dilation, groups
GROUPED_CASES = [
    (2, 8, 9, 9, 8, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1), 2),          # 4 channels per group in and out: GEMM too
    (2, 64, 8, 8, 136, (1, 1), (1, 1), (0, 0), (0, 0), (1, 1), 2),        # 2 groups of 68 output channels (2 tiles each)
    (3, 16, 7, 7, 24, (3, 3), (2, 2), (1, 1), (1, 1), (1, 1), 4),         # K / groups = 6: direct only
    (1, 6, 5, 5, 9, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1), 3),           # C / groups = 2, K / groups = 3
    (13, 7, 9, 9, 7, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1), 7),          # depthwise, C = 7 (CHW4 padding), batch 13
    (2, 32, 14, 14, 32, (5, 5), (2, 2), (2, 2), (1, 2), (1, 1), 32),      # depthwise 5x5 stride 2, asymmetric padding
    (1, 12, 9, 8, 12, (3, 3), (1, 1), (2, 2), (2, 2), (2, 2), 12),        # depthwise dilated
    (2, 4, 8, 8, 8, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1), 4),           # depthwise with multiplier 2: direct only
]
GROUPED_TACTICS = TACTICS + ["direct_grouped_chw4", "depthwise_chw4"]


def grouped_tactic_applies(case, tactic):
    """What ConvolutionInt8Gpu::setTactic accepts (cuda/kernels/conv2d_int8.cu)."""
    C, K, groups = case[1], case[4], case[10]
    cg, kg = C // groups, K // groups
    if tactic == "direct_grouped_chw4":
        return True
    if tactic == "depthwise_chw4":
        return cg == 1 and kg == 1
    return cg % 4 == 0 and kg % 4 == 0


@pytest.mark.parametrize("tactic", GROUPED_TACTICS)
@pytest.mark.parametrize("out_type", ["float32", "int8"])
@pytest.mark.parametrize("case", GROUPED_CASES, ids=lambda c: f"n{c[0]}c{c[1]}k{c[4]}g{c[10]}r{c[5][0]}s{c[6][0]}d{c[9][0]}")
def test_grouped_conv_matches_cpu(case, out_type, tactic, rng):
    if not grouped_tactic_applies(case, tactic):
        pytest.skip(f"{tactic} does not take these groups")
    if not tactic_runs(tactic):
        pytest.skip(f"{tactic} needs sm_80")
    x = (rng.standard_normal(case[:4]) * 1.5).astype(F32)
    seed = int(rng.integers(1 << 30))
    define = lambda net, t: pin(conv_layer(net, t["x"], case[:10], np.random.default_rng(seed), groups=case[10]),
                                gie.float32 if out_type == "float32" else gie.int8)
    ranges = lambda t, o: {t["x"]: float(np.abs(x).max()) * 0.8, **({o: 4.0} if out_type == "int8" else {})}
    cpu, gpu = build_both(define, {"x": x}, ranges, force={"Convolution": tactic})
    assert kinds(gpu, "Convolution") == ["int8"] and kinds(cpu, "Convolution") == ["int8"]
    assert conv_tactics(gpu) == [tactic]
    compare(cpu, gpu, {"x": x})


def test_grouped_conv_fused_residual_relu(rng):
    """Depthwise conv + bias + INT8 residual + ReLU in one INT8 kernel (the direct tactics share the GEMM's epilogue)."""
    case = (3, 10, 7, 7, 10, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1))
    x = (rng.standard_normal(case[:4]) * 1.5).astype(F32)
    r = rng.standard_normal((3, 10, 7, 7)).astype(F32)

    def define(net, t):
        conv = conv_layer(net, t["x"], case, np.random.default_rng(5), groups=10)
        conv.precision = gie.int8
        s = net.add_elementwise(conv.output(0), t["r"], gie.ElementWiseOperation.SUM)
        act = net.add_activation(s.output(0), gie.ActivationType.RELU)
        act.set_output_type(0, gie.int8)
        return act.output(0)

    for tactic in ("direct_grouped_chw4", "depthwise_chw4"):
        cpu, gpu = build_both(define, {"x": x, "r": r}, lambda t, o: {t["x"]: 4.0, t["r"]: 2.5, o: 6.0},
                              force={"Convolution": tactic})
        assert conv_tactics(gpu) == [tactic]
        assert kinds(gpu, "Convolution") == ["int8"] and not kinds(gpu, "ElementWise"), gpu.layer_info()["kernels"]
        compare(cpu, gpu, {"x": x, "r": r})


FC_TACTICS = ["dp4a_128x64x8", "imma_128x64x32"]  # cuda/kernels/fully_connected_int8.cu
# N, input shape after N, axis, K
FC_CASES = [
    (13, (37,), 1, 10),          # LINEAR rows of 37 bytes: read byte by byte
    (3, (64,), 1, 1),            # K = 1, rows of whole words
    (1, (2048,), 1, 1000),       # ResNet-50's classifier at batch 1
    (3, (5, 3, 3), 1, 3),        # 4-D, C = 5: CHW4 (padded) or LINEAR, as the negotiation picks
    (2, (4, 3, 5), 2, 130),      # axis 2: rows of 15 values, 3 channel tiles
    (130, (9, 1, 1), 1, 7),      # more than one 128-row tile
]


def fc_id(case):
    return f"n{case[0]}_{'x'.join(map(str, case[1]))}_ax{case[2]}_k{case[3]}"


def fc_weights(case, rng):
    N, shape, axis, K = case
    flat = int(np.prod(((N,) + shape)[axis:]))
    w = (rng.standard_normal((K, flat)) * 0.2).astype(F32)
    w[0] = 0  # an all-zero output channel (weight scale 1)
    return w, rng.standard_normal(K).astype(F32)


def fc_input_formats(engine):
    return [k["inputs"][0]["format"] for k in engine.layer_info()["kernels"] if k["type"] == "FullyConnected"]


@pytest.mark.parametrize("tactic", FC_TACTICS)
@pytest.mark.parametrize("out_type", ["float32", "int8"])
@pytest.mark.parametrize("case", FC_CASES, ids=fc_id)
def test_fully_connected_matches_cpu(case, out_type, tactic, rng):
    if not tactic_runs(tactic):
        pytest.skip(f"{tactic} needs sm_80")
    N, shape, axis, K = case
    x = (rng.standard_normal((N,) + shape) * 1.5).astype(F32)
    w, b = fc_weights(case, rng)
    define = lambda net, t: pin(net.add_fully_connected(t["x"], K, w, b, axis=axis), gie.float32 if out_type == "float32" else gie.int8)
    ranges = lambda t, o: {t["x"]: float(np.abs(x).max()) * 0.8, **({o: 3.0} if out_type == "int8" else {})}
    cpu, gpu = build_both(define, {"x": x}, ranges, force={"FullyConnected": tactic})
    assert kinds(gpu, "FullyConnected") == ["int8"] and kinds(cpu, "FullyConnected") == ["int8"]
    assert [k["tactic"] for k in gpu.layer_info()["kernels"] if k["type"] == "FullyConnected"] == [tactic]
    print("FullyConnected input format on the GPU:", fc_input_formats(gpu))
    compare(cpu, gpu, {"x": x})


@pytest.mark.parametrize("tactic", FC_TACTICS)
def test_conv_then_fully_connected_relu_int8(tactic, rng):
    """conv (INT8 out) -> FC + ReLU (INT8 out): the FC reads the convolution's INT8 tensor (CHW4 straight from the
    convolution, or through an INT8 Reformat to LINEAR, as the GPU's timing decides); both stay INT8."""
    if not tactic_runs(tactic):
        pytest.skip(f"{tactic} needs sm_80")
    check_conv_then_fully_connected_relu((3, 5, 6, 6, 6, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1)), tactic, rng)


def check_conv_then_fully_connected_relu(case, tactic, rng):
    """conv ``case`` (INT8 out; K = 6 channels: CHW4 padding into the FC) -> FC of 11 outputs + ReLU (INT8 out), the
    FC's tactic forced on the GPU: both engines keep both INT8 with the ReLU fused, and agree (also for
    tests/test_int8_wgmma.py's tactic)."""
    P, Q = out_hw(case)
    x = rng.standard_normal(case[:4]).astype(F32)
    w = (rng.standard_normal((11, case[4] * P * Q)) * 0.1).astype(F32)
    b = rng.standard_normal(11).astype(F32)
    mids = []

    def define(net, t):
        conv = conv_layer(net, t["x"], case, np.random.default_rng(7))
        conv.precision = gie.int8
        fc = net.add_fully_connected(conv.output(0), 11, w, b)
        fc.precision = gie.int8
        act = net.add_activation(fc.output(0), gie.ActivationType.RELU)
        act.set_output_type(0, gie.int8)
        mids[:] = [conv.output(0)]
        return act.output(0)

    cpu, gpu = build_both(define, {"x": x}, lambda t, o: {t["x"]: 3.0, mids[0]: 6.0, o: 4.0}, force={"FullyConnected": tactic})
    assert [k["tactic"] for k in gpu.layer_info()["kernels"] if k["type"] == "FullyConnected"] == [tactic]
    for e in (cpu, gpu):
        assert kinds(e, "Convolution") == ["int8"] and kinds(e, "FullyConnected") == ["int8"] and not kinds(e, "Activation"), \
            e.layer_info()["kernels"]
    print("FullyConnected input format on the GPU:", fc_input_formats(gpu))
    compare(cpu, gpu, {"x": x})


POOL_CASES = [
    # N, C, H, W, type, window, stride, padding, exclude_padding
    (13, 5, 9, 7, "max", (3, 3), (2, 2), (1, 1), True),
    (2, 6, 8, 11, "average", (3, 3), (2, 2), (1, 1), True),
    (2, 6, 8, 11, "average", (3, 3), (2, 2), (1, 1), False),
    (3, 37, 7, 7, "average", (7, 7), (1, 1), (0, 0), True),  # ResNet's global average pooling shape
    (1, 3, 5, 5, "max", (2, 2), (1, 1), (0, 0), True),
]


@pytest.mark.parametrize("out", ["float32", "int8", "int8_rescaled"])
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"{c[4]}_c{c[1]}_{c[2]}x{c[3]}_ex{int(c[8])}")
def test_pooling_matches_cpu(case, out, rng):
    N, C, H, W, kind, win, stride, pad, exclude = case
    x = (rng.standard_normal((N, C, H, W)) * 2).astype(F32)

    def define(net, t):
        ptype = gie.PoolingType.MAX if kind == "max" else gie.PoolingType.AVERAGE
        p = net.add_pooling(t["x"], ptype, win, stride=stride, padding=pad)
        p.exclude_padding = int(exclude)
        return pin(p, gie.float32 if out == "float32" else gie.int8)

    # "int8": the output keeps the input's scale (max pooling is then a pure selection); "int8_rescaled": another scale
    ranges = lambda t, o: {t["x"]: 5.0, **({o: 5.0} if out == "int8" else {o: 1.7} if out == "int8_rescaled" else {})}
    cpu, gpu = build_both(define, {"x": x}, ranges)
    assert kinds(gpu, "Pooling") == ["int8"] and kinds(cpu, "Pooling") == ["int8"]
    compare(cpu, gpu, {"x": x})


@pytest.mark.parametrize("op", ["SUM", "SUB", "PROD", "MAX", "MIN"])
@pytest.mark.parametrize("out", ["float32", "int8"])
def test_elementwise_matches_cpu(op, out, rng):
    shape = (13, 6, 5, 7)
    a = (rng.standard_normal(shape) * 2).astype(F32)
    b = rng.standard_normal(shape).astype(F32)
    define = lambda net, t: pin(net.add_elementwise(t["a"], t["b"], getattr(gie.ElementWiseOperation, op)),
                                gie.float32 if out == "float32" else gie.int8)
    ranges = lambda t, o: {t["a"]: 5.0, t["b"]: 2.0, **({o: 4.0} if out == "int8" else {})}
    cpu, gpu = build_both(define, {"a": a, "b": b}, ranges)
    assert kinds(gpu, "ElementWise") == ["int8"]
    compare(cpu, gpu, {"a": a, "b": b})


def test_conv_chain_int8_between_layers(rng):
    """conv + ReLU -> max pool -> conv -> element-wise SUM with the pool's output (a residual): INT8 CHW4 goes from
    layer to layer on the GPU (the only Reformats quantize the input and dequantize the output) and equals the CPU."""
    x = rng.standard_normal((5, 7, 12, 12)).astype(F32)
    c1 = (5, 7, 12, 12, 12, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1))
    c2 = (5, 12, 6, 6, 12, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1))
    mids = []

    def define(net, t):
        a = conv_layer(net, t["x"], c1, np.random.default_rng(1))
        r = net.add_activation(a.output(0), gie.ActivationType.RELU)
        p = net.add_pooling(r.output(0), gie.PoolingType.MAX, (2, 2), stride=(2, 2))
        b = conv_layer(net, p.output(0), c2, np.random.default_rng(2))
        s = net.add_elementwise(b.output(0), p.output(0), gie.ElementWiseOperation.SUM)
        for layer in (a, p, b, s):
            layer.precision = gie.int8
        s.set_output_type(0, gie.int8)
        mids[:] = [r.output(0), p.output(0), b.output(0)]
        return s.output(0)

    ranges = lambda t, o: {t["x"]: 3.0, mids[0]: 8.0, mids[1]: 8.0, mids[2]: 10.0, o: 12.0}
    cpu, gpu = build_both(define, {"x": x}, ranges)
    ks = gpu.layer_info()["kernels"]
    # (the SUM may fuse into the second convolution as its residual: then 3 kernels)
    assert all(k["precision"] == "int8" for k in ks if k["type"] != "Reformat"), ks
    assert [k["type"] for k in ks if k["type"] != "Reformat"][:3] == ["Convolution", "Pooling", "Convolution"], ks
    assert sum(k["type"] == "Reformat" for k in ks) == 2, ks
    compare(cpu, gpu, {"x": x})


def test_digits_int8_on_the_gpu_within_a_point_of_fp32(tmp_path, caplog):
    """The trained digits CNN (tests/digits_model.py) built for the GPU with INT8 ranges from numpy min-max, its
    convolutions, poolings and the fully connected layer pinned to INT8 (PREFER): test accuracy within 1 point of the
    GPU FP32 engine, every pinned layer INT8 (no warning about a layer without a GPU INT8 kernel)."""
    pytest.importorskip("sklearn")
    onnx = pytest.importorskip("onnx")
    import digits_model
    m = digits_model.train()
    path = tmp_path / "digits.onnx"
    onnx.save(m.onnx_model(), str(path))
    acts = m.forward(m.x_train[:256])
    ranges = {k: float(max(-v.min(), v.max())) for k, v in acts.items()}

    def build(device, int8):
        builder = gie.Builder()
        net = gie.OnnxParser(builder=builder).parse(str(path))
        if int8:
            from test_int8_digits import LAYERS
            net.get_input(0).set_dynamic_range(-ranges["input"], ranges["input"])
            for layer, (_, name) in zip(net.layers, LAYERS):
                layer.output(0).set_dynamic_range(-ranges[name], ranges[name])
                if layer.type in ("Convolution", "Pooling", "FullyConnected"):
                    layer.precision = gie.int8
        config = builder.create_config()
        config.device = device
        config.max_batch = len(m.x_test)
        config.int8 = int8
        config.set_flag(gie.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
        return builder.build(net, config)

    def logits(engine):
        return engine.create_execution_context().execute({"input": m.x_test})["logits"]

    g32 = build("gpu", False)
    with caplog.at_level(logging.WARNING, logger="gie"):
        g8 = build("gpu", True)
    assert not any("the GPU has no INT8 kernel" in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]
    assert "int8" in kinds(g8, "Convolution") and "int8" in kinds(g8, "Pooling") and kinds(g8, "FullyConnected") == ["int8"], \
        g8.layer_info()["kernels"]
    y32, y8 = logits(g32), logits(g8)
    acc32, acc8 = m.accuracy(y32, m.y_test), m.accuracy(y8, m.y_test)
    print(f"digits on the GPU: FP32 {acc32:.4f}, INT8 {acc8:.4f}; max |logit error| {np.abs(y8 - y32).max():.4f}")
    assert acc32 >= 0.97
    assert acc8 >= acc32 - 0.01


CONCAT_CASES = [
    ([(2, 3, 5, 5), (2, 6, 5, 5), (2, 1, 5, 5)], 1),   # channel offsets 3 and 9 (not CHW4 words), C = 10 (padded)
    ([(13, 8, 4, 4), (13, 4, 4, 4)], 1),               # whole CHW4 words, batch 13
    ([(2, 5, 3, 4), (2, 5, 2, 4)], 2),                 # along H, C = 5
    ([(3, 7, 2, 3), (3, 7, 2, 1)], 3),                 # along W
    ([(13, 7), (13, 30)], 1),                          # 2-D: LINEAR only
]


@pytest.mark.parametrize("scales", ["shared", "mixed"])
@pytest.mark.parametrize("case", CONCAT_CASES, ids=lambda c: f"{'+'.join('x'.join(map(str, s[1:])) for s in c[0])}_ax{c[1]}")
def test_concatenation_matches_cpu(case, scales, rng):
    """The GPU INT8 concatenation (cuda/kernels/concatenation_int8.cu) against the CPU: inputs with the output's scale
    copied, others requantized. Concatenation elimination is off (it turns an axis-1 concatenation's inputs into float
    slices of its output): this tests the kernel."""
    shapes, axis = case
    xs = {f"x{i}": (rng.standard_normal(sh) * 2).astype(F32) for i, sh in enumerate(shapes)}
    amaxes = [3.0] * len(shapes) if scales == "shared" else [2.0, 5.0, 3.0][:len(shapes)]

    def define(net, t):
        c = net.add_concatenation([t[f"x{i}"] for i in range(len(shapes))], axis=axis)
        return pin(c, gie.int8)

    ranges = lambda t, o: {**{t[f"x{i}"]: a for i, a in enumerate(amaxes)}, o: 3.0}
    cpu, gpu = build_both(define, xs, ranges, passes_off=("concat_elimination",))
    assert kinds(gpu, "Concatenation") == ["int8"] and kinds(cpu, "Concatenation") == ["int8"], gpu.layer_info()["kernels"]
    print("Concatenation formats on the GPU:",
          [[x["format"] for x in k["inputs"]] for k in gpu.layer_info()["kernels"] if k["type"] == "Concatenation"])
    compare(cpu, gpu, xs)


@pytest.mark.parametrize("kind", ["shared", "mixed", "channels_not_4"])
def test_concatenation_of_convolutions_int8(kind, rng, tmp_path):
    """conv a (8 channels) and conv b (12, or 6) -> concatenation -> conv d, all INT8. "shared" (one range on a, b
    and the concatenation): eliminated, a and b write INT8 CHW4 slices of its output (no Concatenation kernel, no
    Reformat between); "mixed" (ranges differ): kept, the INT8 concatenation requantizes; "channels_not_4": kept on
    the GPU (a 6-channel slice cannot be CHW4 words). The CPU reference keeps the concatenation (its INT8
    convolutions do not write into slices): the same numbers, since a slice written with the output's scale holds
    what the INT8 copy of a same-scale input holds. Equal bit for bit; the reloaded engine too."""
    x = rng.standard_normal((3, 5, 9, 9)).astype(F32)
    kb = 6 if kind == "channels_not_4" else 12

    def define(net, t):
        a = conv_layer(net, t["x"], (3, 5, 9, 9, 8, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1)), np.random.default_rng(1))
        b = conv_layer(net, t["x"], (3, 5, 9, 9, kb, (1, 1), (1, 1), (0, 0), (0, 0), (1, 1)), np.random.default_rng(2))
        cat = net.add_concatenation([a.output(0), b.output(0)], axis=1)
        d = conv_layer(net, cat.output(0), (3, 8 + kb, 9, 9, 7, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1)), np.random.default_rng(3))
        # a kept concatenation pinned too: unpinned, the builder may time a FLOAT one faster (it did on a loaded H100:
        # convolutions with FLOAT outputs, a FLOAT concatenation, a Reformat), which is not what this tests
        for layer in (a, b, d) + ((cat,) if kind != "shared" else ()):
            layer.precision = gie.int8
        ra, rb = (6.0, 9.0) if kind == "mixed" else (8.0, 8.0)
        for tensor, amax in ((t["x"], 3.0), (a.output(0), ra), (b.output(0), rb), (cat.output(0), 8.0)):
            tensor.set_dynamic_range(-amax, amax)
        return d.output(0)

    def configure(config):
        config.int8 = True
        config.set_flag(OBEY)

    cpu = util.build(define, {"x": x}, device="cpu", configure=configure, passes_off=("concat_elimination",))
    gpu = util.build(define, {"x": x}, device="gpu", configure=configure)
    ks = gpu.layer_info()["kernels"]
    print("GPU kernels:", [(k["type"], k.get("tactic"), [(x["dtype"], x["format"]) for x in k["inputs"]],
                            [(x["dtype"], x["format"]) for x in k["outputs"]]) for k in ks])
    assert [k["precision"] for k in ks if k["type"] == "Convolution"] == ["int8"] * 3, ks
    if kind == "shared":
        assert not [k for k in ks if k["type"] == "Concatenation"], ks
        outs = [o for k in ks if k["type"] == "Convolution" for o in k["outputs"] if o.get("view_of")]
        assert sorted((o["dtype"], o["format"]) for o in outs) == [("int8", "chw4")] * 2, ks
        assert sum(k["type"] == "Reformat" for k in ks) == 1, ks  # only the input's quantization
    else:
        assert [k["precision"] for k in ks if k["type"] == "Concatenation"] == ["int8"], ks
    compare(cpu, gpu, {"x": x})
    f = tmp_path / "concat_int8.gie"
    gpu.save(str(f))
    compare(cpu, gie.Runtime().load(str(f)), {"x": x})


def _calibration_net(builder):
    rng = np.random.default_rng(11)
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (16, 3, 12, 12))
    conv = net.add_convolution(x, 8, (3, 3), (rng.standard_normal((8, 3, 3, 3)) * 0.4).astype(F32),
                               rng.standard_normal(8).astype(F32), pre_padding=(1, 1), post_padding=(1, 1))
    relu = net.add_activation(conv.output(0), gie.ActivationType.RELU)
    pool = net.add_pooling(relu.output(0), gie.PoolingType.AVERAGE, (2, 2), stride=(2, 2))
    fc = net.add_fully_connected(pool.output(0), 10, (rng.standard_normal((10, 8 * 6 * 6)) * 0.1).astype(F32), np.zeros(10, F32))
    net.mark_output(fc.output(0))
    return net


def _read_cache(path):
    lines = path.read_text().splitlines()
    return {k: float(v) for k, v in (ln.rsplit(": ", 1) for ln in lines if ": " in ln and not ln.startswith("#"))}


@pytest.mark.parametrize("algorithm", ["minmax", "percentile", "entropy"])
def test_gpu_calibration_ranges_equal_cpu(algorithm, tmp_path):
    """A build for the GPU calibrates on the GPU (FP32 kernels, the report says so); its ranges equal the CPU
    calibration's within float rounding (min-max: relative 1e-5; the histogram algorithms: two bins of the
    2048, whose width is at most max / 1024, since the FP32 kernels round differently)."""
    data = (np.random.default_rng(3).standard_normal((64, 3, 12, 12)) * 2).astype(F32)
    ranges, reports = {}, {}
    for device in ("cpu", "gpu"):
        cache = tmp_path / f"{device}.calib"
        builder = gie.Builder()
        config = builder.create_config()
        config.device = device
        config.int8 = True
        config.int8_calibrator = gie.DataCalibrator(data, batch_size=16, algorithm=algorithm, cache_file=str(cache))
        engine = builder.build(_calibration_net(builder), config)
        reports[device] = [p for p in engine.layer_info()["passes"] if p.startswith("int8 calibration")]
        ranges[device] = _read_cache(cache)
    assert reports["cpu"] == ["int8 calibration: 4 batches on the CPU (FP32)"], reports
    assert reports["gpu"] == ["int8 calibration: 4 batches on the GPU (FP32)"], reports
    cpu, gpu = ranges["cpu"], ranges["gpu"]
    assert cpu.keys() == gpu.keys() and len(cpu) == 5, (cpu, gpu)
    maxima = gie.calibrate(_calibration_net(gie.Builder()), gie.MinMaxCalibrator(data, batch_size=16))  # max |x| (CPU)
    for name in cpu:
        tol = maxima[name] * 1e-5 if algorithm == "minmax" else 2 * maxima[name] / 1024 + 1e-6
        assert abs(gpu[name] - cpu[name]) <= tol, (name, cpu[name], gpu[name], maxima[name])
