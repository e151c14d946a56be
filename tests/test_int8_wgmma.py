"""The Hopper INT8 tactics (docs/int8.md "Hopper tactics"; cuda/kernels/gemm_wgmma_s8.cuh): the 1x1 convolution's
wgmma1x1_s8_128x128x128_s4_chw4 and wgmma1x1_s8_128x64x128_s6_chw4 (CHW4 pixels gathered with cp.async) and the
fully connected layer's
wgmma_s8_128x128x128_s4 (TMA rows), each forced and compared EXACTLY with the CPU INT8 reference, as
tests/test_int8_gpu.py does for the dp4a / mma.sync tactics (whose helpers this file uses; its docstring says why
equality is the right bar): INT32 sums are exact and the epilogue is the same requantStore.

Shapes are awkward for the 128 x 128 x 128-byte tiles: output channels and pixel / row counts not multiples of the
tile (nor of 64, one consumer warpgroup's rows), reductions shorter than one k-tile, with a tail, and longer than the
4-stage ring (its phases wrap), input channels not multiples of 4 (CHW4 padding). Every output type (INT8, FP16,
FP32), the fused residual (INT8 or float) + ReLU, an INT8 concatenation slice as the output. Off Hopper (or without
sm_90a code) the tactics must not be offered, and the tests that force them skip with that reason.
"""
import numpy as np
import pytest

import gie
import util
from gpu_util import wgmma_expected
from test_int8_gpu import (OBEY, build_both, check_conv_residual_relu_fused, check_conv_then_fully_connected_relu, compare,
                           conv_layer, fc_id, fc_weights, kinds, pin)

pytestmark = pytest.mark.gpu

F32 = np.float32
CONV_WGMMA = ["wgmma1x1_s8_128x128x128_s4_chw4", "wgmma1x1_s8_128x64x128_s6_chw4"]  # cuda/kernels/conv2d_int8.cu
FC_WGMMA = "wgmma_s8_128x128x128_s4"            # cuda/kernels/fully_connected_int8.cu
OUT_TYPES = {"float32": gie.float32, "float16": gie.float16, "int8": gie.int8}


def need_hopper():
    if not wgmma_expected():
        pytest.skip("the INT8 wgmma tactics need a compute capability 9.0 GPU and a build with sm_90a code")


def layer(engine, type_):
    ks = [k for k in engine.layer_info()["kernels"] if k["type"] == type_]
    assert len(ks) == 1, engine.layer_info()["kernels"]
    return ks[0]


def offered(engine, type_):
    k = layer(engine, type_)
    return [t["tactic"] for t in k.get("tactic_times_ms") or []] or [k["tactic"]]


def one_by_one(N, C, H, W, K):
    return (N, C, H, W, K, (1, 1), (1, 1), (0, 0), (0, 0), (1, 1))


# N, C, H, W, K
CONV_CASES = [
    (3, 64, 14, 14, 130),   # 588 pixels (not a multiple of 64), 2 channel tiles (the second 2 wide), 64-byte reduction
    (2, 5, 9, 7, 7),        # C = 5: CHW4 padding channels in the reduction; K = 7: a partial CHW4 output group
    (1, 300, 7, 7, 256),    # 300-byte reduction: 3 k-tiles, the last 44 bytes
    (13, 17, 1, 1, 9),      # batch 13 of a 1x1 plane
    (2, 520, 9, 9, 136),    # 5 k-tiles: the 4-stage ring wraps
    (1, 1200, 4, 4, 64),    # 10 k-tiles: the ring's phases flip twice
    (4, 64, 28, 28, 256),   # 25 pixel tiles
]
CONV_IDS = [f"n{c[0]}c{c[1]}_{c[2]}x{c[3]}k{c[4]}" for c in CONV_CASES]


@pytest.mark.parametrize("tactic", CONV_WGMMA)
@pytest.mark.parametrize("out_type", list(OUT_TYPES))
@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv_wgmma_matches_cpu(case, out_type, tactic, rng):
    need_hopper()
    x = (rng.standard_normal(case[:4]) * 1.5).astype(F32)
    seed = int(rng.integers(1 << 30))
    define = lambda net, t: pin(conv_layer(net, t["x"], one_by_one(*case), np.random.default_rng(seed)), OUT_TYPES[out_type])
    ranges = lambda t, o: {t["x"]: float(np.abs(x).max()) * 0.8, **({o: 6.0} if out_type == "int8" else {})}
    cpu, gpu = build_both(define, {"x": x}, ranges, force={"Convolution": tactic})
    assert kinds(gpu, "Convolution") == ["int8"] and kinds(cpu, "Convolution") == ["int8"]
    conv = layer(gpu, "Convolution")
    assert (conv["tactic"], conv["tactic_architecture"]) == (tactic, "sm_90a")
    compare(cpu, gpu, {"x": x})


@pytest.mark.parametrize("tactic", CONV_WGMMA)
@pytest.mark.parametrize("residual", ["int8", "float", None])
@pytest.mark.parametrize("case", [CONV_CASES[0], CONV_CASES[1], CONV_CASES[4]], ids=[CONV_IDS[0], CONV_IDS[1], CONV_IDS[4]])
def test_conv_wgmma_residual_relu_fused(case, residual, tactic, rng):
    """1x1 conv + bias + residual add + ReLU in the wgmma kernel's epilogue, INT8 CHW4 out; the residual INT8 CHW4
    (its own scale) or FLOAT LINEAR (no range)."""
    need_hopper()
    check_conv_residual_relu_fused(one_by_one(*case), residual, tactic, rng)


@pytest.mark.parametrize("tactic", CONV_WGMMA)
def test_conv_wgmma_into_concat_slices(tactic, rng):
    """Two 1x1 convolutions writing INT8 CHW4 slices of one eliminated concatenation (one shared range), then a third
    reading it, all on the wgmma tactic: the epilogue writes with the slice's batch stride. The CPU reference keeps
    the concatenation (as in test_int8_gpu.test_concatenation_of_convolutions_int8)."""
    need_hopper()
    x = (rng.standard_normal((3, 40, 6, 6)) * 1.5).astype(F32)

    def define(net, t):
        a = conv_layer(net, t["x"], one_by_one(3, 40, 6, 6, 12), np.random.default_rng(1))
        b = conv_layer(net, t["x"], one_by_one(3, 40, 6, 6, 20), np.random.default_rng(2))
        cat = net.add_concatenation([a.output(0), b.output(0)], axis=1)
        d = conv_layer(net, cat.output(0), one_by_one(3, 32, 6, 6, 7), np.random.default_rng(3))
        for conv in (a, b, d):
            conv.precision = gie.int8
        for tensor, amax in ((t["x"], 4.0), (a.output(0), 5.0), (b.output(0), 5.0), (cat.output(0), 5.0)):
            tensor.set_dynamic_range(-amax, amax)
        return d.output(0)

    def configure(config, force):
        config.int8 = True
        config.set_flag(OBEY)
        if force:
            config.force_tactic("Convolution", tactic)

    cpu = util.build(define, {"x": x}, device="cpu", configure=lambda c: configure(c, False), passes_off=("concat_elimination",))
    gpu = util.build(define, {"x": x}, device="gpu", configure=lambda c: configure(c, True))
    ks = gpu.layer_info()["kernels"]
    assert [k["tactic"] for k in ks if k["type"] == "Convolution"] == [tactic] * 3, ks
    assert not [k for k in ks if k["type"] == "Concatenation"], ks
    outs = [o for k in ks if k["type"] == "Convolution" for o in k["outputs"] if o.get("view_of")]
    assert sorted((o["dtype"], o["format"]) for o in outs) == [("int8", "chw4")] * 2, ks
    compare(cpu, gpu, {"x": x})


def test_conv_wgmma_offered_only_for_1x1_on_hopper(rng):
    """The builder's own timing (nothing forced): on Hopper the wgmma tactics are timed for a 1x1 convolution (the
    times are printed: the figure that says whether they win) and never for a 3x3 one; elsewhere never."""
    x = (rng.standard_normal((8, 256, 28, 28))).astype(F32)
    define = lambda net, t: pin(conv_layer(net, t["x"], one_by_one(8, 256, 28, 28, 256), np.random.default_rng(3)), gie.int8)
    ranges = lambda t, o: {t["x"]: 3.0, o: 6.0}
    cpu, gpu = build_both(define, {"x": x}, ranges)
    tactics = offered(gpu, "Convolution")
    print("1x1 256 -> 256 @ 28x28, batch 8, INT8 tactic times (ms):", layer(gpu, "Convolution").get("tactic_times_ms"))
    layout = "_nhwc" if layer(gpu, "Convolution")["tactic"].endswith("_nhwc") else "_chw4"  # the times of the chosen layout
    assert all((t.replace("_chw4", layout) in tactics) == wgmma_expected() for t in CONV_WGMMA), tactics
    compare(cpu, gpu, {"x": x}, batches=[8])
    case3 = (2, 16, 8, 8, 16, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1))
    x3 = rng.standard_normal(case3[:4]).astype(F32)
    define3 = lambda net, t: pin(conv_layer(net, t["x"], case3, np.random.default_rng(4)), gie.int8)
    _, gpu3 = build_both(define3, {"x": x3}, ranges)
    assert not {t.replace("_chw4", lay) for t in CONV_WGMMA for lay in ("_chw4", "_nhwc")} & set(offered(gpu3, "Convolution"))


# N, input shape after N, axis, K
FC_CASES = [
    (13, (64,), 1, 10),          # one 64-byte k-tile part, 13 rows
    (1, (2048,), 1, 1000),       # ResNet-50's classifier at batch 1: 16 k-tiles (the ring wraps), 8 channel tiles
    (130, (48,), 1, 300),        # 130 rows (2 row tiles, the second 2 rows), K = 300
    (3, (272,), 1, 130),         # a 16-byte k-tile tail
    (2, (4, 3, 16), 2, 7),       # axis 2: 8 rows of 48 values
    (3, (6, 4, 4), 1, 33),       # 4-D: CHW4 (rows of 2 words x 16 pixels = 128 bytes) or LINEAR (96), as negotiated
]
FC_IDS = [fc_id(c) for c in FC_CASES]


def fc_define(case, w, b, out_type, relu=False):
    N, shape, axis, K = case

    def define(net, t):
        fc = net.add_fully_connected(t["x"], K, w, b, axis=axis)
        if not relu:
            return pin(fc, OUT_TYPES[out_type])
        fc.precision = gie.int8
        act = net.add_activation(fc.output(0), gie.ActivationType.RELU)
        act.set_output_type(0, OUT_TYPES[out_type])
        return act.output(0)
    return define


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("out_type", list(OUT_TYPES))
@pytest.mark.parametrize("case", FC_CASES, ids=FC_IDS)
def test_fully_connected_wgmma_matches_cpu(case, out_type, relu, rng):
    need_hopper()
    x = (rng.standard_normal((case[0],) + case[1]) * 1.5).astype(F32)
    w, b = fc_weights(case, rng)
    ranges = lambda t, o: {t["x"]: float(np.abs(x).max()) * 0.8, **({o: 3.0} if out_type == "int8" else {})}
    cpu, gpu = build_both(fc_define(case, w, b, out_type, relu), {"x": x}, ranges, force={"FullyConnected": FC_WGMMA})
    assert kinds(gpu, "FullyConnected") == ["int8"] and kinds(cpu, "FullyConnected") == ["int8"]
    if relu:
        assert not kinds(gpu, "Activation"), gpu.layer_info()["kernels"]
    fc = layer(gpu, "FullyConnected")
    assert (fc["tactic"], fc["tactic_architecture"]) == (FC_WGMMA, "sm_90a")
    print("FullyConnected input format on the GPU:", fc["inputs"][0]["format"])
    compare(cpu, gpu, {"x": x})


def test_fully_connected_wgmma_needs_rows_of_16_bytes(rng):
    """Rows of 37 bytes cannot be a TMA row pitch: the tactic is not offered (the dp4a / mma.sync ones take the layer),
    on any GPU."""
    case = (5, (37,), 1, 9)
    x = rng.standard_normal((5, 37)).astype(F32)
    w, b = fc_weights(case, rng)
    cpu, gpu = build_both(fc_define(case, w, b, "float32"), {"x": x}, lambda t, o: {t["x"]: 3.0})
    assert FC_WGMMA not in offered(gpu, "FullyConnected")
    compare(cpu, gpu, {"x": x})


def test_fully_connected_wgmma_offered_on_hopper_only(rng):
    """The builder's own timing for ResNet-50's classifier at batch 256 (printed: whether wgmma wins)."""
    case = (256, (2048,), 1, 1000)
    x = rng.standard_normal((256, 2048)).astype(F32)
    w, b = fc_weights(case, rng)
    cpu, gpu = build_both(fc_define(case, w, b, "float32"), {"x": x}, lambda t, o: {t["x"]: 3.0})
    print("FC 2048 -> 1000, batch 256, INT8 tactic times (ms):", layer(gpu, "FullyConnected").get("tactic_times_ms"))
    assert (FC_WGMMA in offered(gpu, "FullyConnected")) == wgmma_expected()
    compare(cpu, gpu, {"x": x}, batches=[256, 3])


def test_conv_then_fully_connected_wgmma(rng):
    """conv (INT8 CHW4 out) -> FC + ReLU on the wgmma tactics: the FC reads the convolution's tensor as rows of
    C4 * H * W words (weights permuted to CHW4 order, padding channels 0) or, after a Reformat, LINEAR rows."""
    need_hopper()
    check_conv_then_fully_connected_relu((3, 8, 4, 4, 6, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1)), FC_WGMMA, rng)
