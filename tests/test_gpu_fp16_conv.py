"""GPU FP16 Convolution (issue 12 item 5, issue 13) against the CPU FP16 reference: the tensor-core implicit GEMM
(variant "f16_hwc8_mma": every tactic the kernel offers for the shape, each forced: every tile, generic and 1x1,
the BN = 32 tiles of narrow outputs and the split-K tactics of small grids) and the FP16 depthwise kernel (variant "f16_hwc8_depthwise")
on awkward shapes (C_in 3 / 13 / 64, C_out 1 / 17 / 64 / 130, 1x1, 3x3, 7x7 stride 2, dilation, asymmetric
padding, H*W = 1, batch 13 then 1), fused bias / residual / ReLU / SiLU / sigmoid epilogues, FP16 and FP32
outputs, outputs written into a concatenation slice, and chains (HWC8 between convolutions).

Tolerances: weights are scaled by 1/sqrt(fan-in), so outputs are O(1). Both engines round the same values to half
at the same points (inputs, weights, outputs) and accumulate in FP32 in different orders, so an output may
differ by one half ulp (2^-10 relative) plus FP32 rounding: rtol = atol = 5e-3 for one layer, 1e-2 through
chains (a one-ulp difference in an intermediate propagates)."""
import numpy as np
import pytest

import gie
from gpu_util import build_gpu, compare_gpu_cpu, randn, wgmma_expected

pytestmark = pytest.mark.gpu

N = 13  # max batch; compare_gpu_cpu also runs batch 1
TOL = dict(rtol=5e-3, atol=5e-3)
CHAIN_TOL = dict(rtol=1e-2, atol=1e-2)

# Tile names of conv2d_implicit_gemm_f16.cu (stable tactic names).
TILES = ["128x128x32_w64x64_s4", "128x128x32_w32x64_s4", "128x128x64_w64x64_s3", "256x128x32_w64x64_s3",
         "128x256x32_w64x64_s3", "128x64x32_w64x32_s4", "64x128x32_w32x64_s4", "64x64x32_w32x32_s4"]
GEMM = [f"hmma_{t}_hwc8" for t in TILES]
GEMM_1X1 = [f"hmma1x1_{t}_hwc8" for t in TILES]
NARROW_TILES = ["128x32x32_w32x32_s4", "256x32x32_w64x32_s4"]  # offered for K <= 64 only
SPLITK_TILES = ["128x128x32_w64x64_s4", "128x64x32_w64x32_s4", "64x64x32_w32x32_s4"]
DEPTHWISE = "depthwise_hwc8_f16"


def fp16(define, inputs, tactic, tol=TOL, expect_half=("Convolution",), **kw):
    return compare_gpu_cpu(define, inputs, fp16=True, force={"Convolution": tactic}, expect_half=expect_half, **tol, **kw)


def conv_weights(rng, K, Cg, R, S, bias=True):
    w = randn(rng, (K, Cg, R, S), 1.0 / np.sqrt(Cg * R * S))
    return w, (randn(rng, (K,), 0.5) if bias else None)


def out_hw(H, W, R, S, fields):
    pre = fields.get("pre_padding", (fields.get("padding", 0),) * 2)
    post = fields.get("post_padding", pre)
    st = fields.get("stride", 1)
    st = st if isinstance(st, tuple) else (st, st)
    dil = fields.get("dilation", 1)
    dil = dil if isinstance(dil, tuple) else (dil, dil)
    P = (H + pre[0] + post[0] - dil[0] * (R - 1) - 1) // st[0] + 1
    Q = (W + pre[1] + post[1] - dil[1] * (S - 1) - 1) // st[1] + 1
    return P, Q


def is_1x1(R, S, fields):
    return (R, S) == (1, 1) and not any(fields.get(k) for k in ("stride", "padding", "pre_padding", "post_padding"))


def conv_kernels(info):
    return [k for k in info["kernels"] if k["type"] == "Convolution"]


def offered_tactics(define, inputs, first):
    """Builds with tactic ``first`` forced (checked against the reference) and returns every tactic the FP16
    convolution offered for the shape (a forced build lists the runnable tactics)."""
    conv, = conv_kernels(fp16(define, inputs, first))
    assert conv["variant"] == "f16_hwc8_mma" and conv["tactic"] == first
    return [t["tactic"] for t in conv["tactic_times_ms"]]


def splitk(tactic, splits):
    return tactic.replace("_hwc8", f"_splitk{splits}_hwc8")


def check_offer(offered, K, one):
    """The tactic list follows the kernel shape: the prefix (1x1 or generic), every plain tile, the BN = 32 tiles
    exactly when K <= 64, split-K only on the split-K tiles."""
    prefix = "hmma1x1_" if one else "hmma_"
    assert all(t.startswith(prefix) for t in offered), offered
    plain = [prefix + t + "_hwc8" for t in TILES + (NARROW_TILES if K <= 64 else [])]
    assert [t for t in offered if "splitk" not in t] == plain
    for t in offered:
        if "splitk" in t:
            assert any(t.startswith(prefix + tile + "_splitk") for tile in SPLITK_TILES), t


# ---- the implicit GEMM: every tactic over awkward shapes ---------------------------------------------------

CASES = [
    # id, C, H, W, K, (R, S), fields, bias
    ("c3_k17_3x3_pad1", 3, 17, 13, 17, (3, 3), dict(padding=1), True),
    ("c13_k1_3x3_stride2", 13, 9, 11, 1, (3, 3), dict(stride=2), True),
    ("c64_k64_3x3", 64, 14, 14, 64, (3, 3), dict(padding=1), True),
    ("c3_k64_7x7_stride2_pad3", 3, 23, 19, 64, (7, 7), dict(stride=2, padding=3), False),
    ("c13_k17_dilation2", 13, 11, 12, 17, (3, 3), dict(dilation=2, padding=2), True),
    ("c13_k17_asym_padding", 13, 9, 10, 17, (3, 3), dict(pre_padding=(1, 2), post_padding=(2, 0), stride=(2, 3)), True),
    ("c13_k17_1x1_stride2", 13, 14, 14, 17, (1, 1), dict(stride=2), True),         # 1x1 with stride: generic
    ("c64_k17_3x3_on_1x1_padded", 64, 1, 1, 17, (3, 3), dict(padding=1), True),    # H*W = 1
    ("c72_k130_3x3_deep", 72, 5, 5, 130, (3, 3), dict(padding=1), True),           # K > 128, many k tiles
    ("c3_k1_1x1", 3, 7, 9, 1, (1, 1), dict(), True),
    ("c13_k17_1x1", 13, 8, 8, 17, (1, 1), dict(), True),
    ("c64_k64_1x1_hw1", 64, 1, 1, 64, (1, 1), dict(), True),                       # H*W = 1
    ("c264_k130_1x1", 264, 7, 7, 130, (1, 1), dict(), False),                      # Cp a multiple of 8, > 256
    # issue 13: deep layers at small spatial size (144 / 32 k-tiles: split-K up to 16), padded C and K, stride 2
    ("c512_k40_3x3_deep_splitk", 512, 3, 5, 40, (3, 3), dict(padding=1), True),
    ("c1024_k20_1x1_deep_splitk", 1024, 7, 7, 20, (1, 1), dict(), True),
    ("c20_k36_3x3_stride2_odd", 20, 15, 13, 36, (3, 3), dict(stride=2, padding=1), True),
]
# (case id, tactics that must be offered): split-K where the k-tiles allow every factor
MUST_OFFER = {
    "c512_k40_3x3_deep_splitk": [splitk(GEMM[7], s) for s in (2, 4, 8, 16)] + [splitk(GEMM[0], 16)],
    "c1024_k20_1x1_deep_splitk": [splitk(GEMM_1X1[7], s) for s in (2, 4, 8, 16)] + [splitk(GEMM_1X1[5], 8)],
    "c64_k64_3x3": [splitk(GEMM[7], 2), splitk(GEMM[7], 4)],
    "c3_k17_3x3_pad1": [splitk(GEMM[0], 2)],
}


def case_define(case, w, b, act=None):
    _, C, H, W, K, (R, S), fields, _ = case

    def define(net, t):
        y = net.add_convolution(t["x"], K, (R, S), w, b, **fields).output(0)
        if act is not None:
            y = net.add_activation(y, act[0], *act[1:]).output(0)
        return y
    return define


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_fp16_convolution_every_tactic(case, rng):
    name, C, H, W, K, (R, S), fields, has_bias = case
    w, b = conv_weights(rng, K, C, R, S, has_bias)
    define = case_define(case, w, b)
    inputs = {"x": randn(rng, (N, C, H, W))}
    one = is_1x1(R, S, fields)
    offered = offered_tactics(define, inputs, (GEMM_1X1 if one else GEMM)[0])
    check_offer(offered, K, one)
    for t in MUST_OFFER.get(name, []):
        assert t in offered, f"{t} not offered: {offered}"
    for tactic in offered[1:]:
        info = fp16(define, inputs, tactic)
        assert [k["tactic"] for k in conv_kernels(info)] == [tactic]


def test_fp16_convolution_tactics_follow_the_kernel_shape(rng):
    """The 1x1 tactics run only 1x1 / stride 1 / unpadded convolutions, the generic ones only the others."""
    w, b = conv_weights(rng, 8, 8, 1, 1)
    one = lambda net, t: net.add_convolution(t["x"], 8, (1, 1), w, b).output(0)
    w3, b3 = conv_weights(rng, 8, 8, 3, 3)
    three = lambda net, t: net.add_convolution(t["x"], 8, (3, 3), w3, b3, padding=1).output(0)
    x = {"x": randn(rng, (2, 8, 6, 6))}
    for define, tactics in ((one, GEMM_1X1), (three, GEMM)):
        check_offer(offered_tactics(define, x, tactics[0]), 8, tactics is GEMM_1X1)
    with pytest.raises(gie.Error, match="hmma_64x64x32_w32x32_s4_hwc8"):
        fp16(one, x, GEMM[-1])
    with pytest.raises(gie.Error, match="hmma1x1_64x64x32_w32x32_s4_hwc8"):
        fp16(three, x, GEMM_1X1[-1])


# ---- fused epilogues -----------------------------------------------------------------------------------------

ACTS = [
    ("relu", (gie.ActivationType.RELU,)),
    ("silu", (gie.ActivationType.SILU,)),
    ("sigmoid", (gie.ActivationType.SIGMOID,)),   # sigmoid(0) != 0: the HWC8 padding channels must stay zero
    ("leaky", (gie.ActivationType.LEAKY_RELU, 0.1)),
]
EPILOGUE_CASES = [CASES[0], CASES[10], CASES[8], CASES[13], CASES[14]]


@pytest.mark.parametrize("act", ACTS, ids=[a[0] for a in ACTS])
@pytest.mark.parametrize("case", EPILOGUE_CASES, ids=[c[0] for c in EPILOGUE_CASES])
def test_fp16_convolution_fused_activation(case, act, rng):
    _, C, H, W, K, (R, S), fields, _ = case
    w, b = conv_weights(rng, K, C, R, S)
    define = case_define(case, w, b, act=act[1])
    inputs = {"x": randn(rng, (N, C, H, W))}
    for tactic in ((GEMM_1X1 if is_1x1(R, S, fields) else GEMM)[i] for i in (0, 7)):
        info = fp16(define, inputs, tactic)
        assert not any(k["type"] == "Activation" for k in info["kernels"]), "the activation was not fused"


@pytest.mark.parametrize("case", EPILOGUE_CASES, ids=[c[0] for c in EPILOGUE_CASES])
def test_fp16_convolution_fused_residual_every_tactic(case, rng):
    """relu(conv(x) + bias + r): the SUM and the ReLU fuse into the convolution (residual in the output's format)."""
    _, C, H, W, K, (R, S), fields, _ = case
    w, b = conv_weights(rng, K, C, R, S)
    P, Q = out_hw(H, W, R, S, fields)

    def define(net, t):
        y = net.add_convolution(t["x"], K, (R, S), w, b, **fields).output(0)
        y = net.add_elementwise(t["r"], y, gie.ElementWiseOperation.SUM).output(0)
        return net.add_activation(y, gie.ActivationType.RELU).output(0)

    inputs = {"x": randn(rng, (N, C, H, W)), "r": randn(rng, (N, K, P, Q))}
    one = is_1x1(R, S, fields)
    offered = offered_tactics(define, inputs, (GEMM_1X1 if one else GEMM)[0])
    check_offer(offered, K, one)
    for tactic in offered:
        info = fp16(define, inputs, tactic)
        convs = conv_kernels(info)
        assert len(convs) == 1 and len(convs[0]["inputs"]) == 2, "residual add not fused"
        assert not any(k["type"] in ("ElementWise", "Activation") for k in info["kernels"])


FP32_OUT_CASES = [CASES[0], CASES[11], CASES[14]]


@pytest.mark.parametrize("case", FP32_OUT_CASES, ids=[c[0] for c in FP32_OUT_CASES])
def test_fp16_convolution_fp32_output(case, rng):
    """HALF HWC8 in, FLOAT LINEAR out (layer.set_output_type), with bias, residual and SiLU."""
    _, C, H, W, K, (R, S), fields, _ = case
    w, b = conv_weights(rng, K, C, R, S)
    P, Q = out_hw(H, W, R, S, fields)

    def define(net, t):
        conv = net.add_convolution(t["x"], K, (R, S), w, b, **fields)
        conv.set_output_type(0, gie.float32)
        y = net.add_elementwise(conv.output(0), t["r"], gie.ElementWiseOperation.SUM).output(0)
        return net.add_activation(y, gie.ActivationType.SILU).output(0)

    inputs = {"x": randn(rng, (N, C, H, W)), "r": randn(rng, (N, K, P, Q))}
    base = GEMM_1X1 if is_1x1(R, S, fields) else GEMM
    conv, = conv_kernels(fp16(define, inputs, base[0], expect_half=()))
    offered = [t["tactic"] for t in conv["tactic_times_ms"]]
    # a few plain tiles, and every narrow-tile and split-K tactic (the LINEAR stores of their epilogues)
    for tactic in [base[5], base[7]] + [t for t in offered if "splitk" in t or "x32x32_w" in t]:
        fp16(define, inputs, tactic, expect_half=())


# ---- networks: HWC8 between convolutions, concatenation slices, ResNet-like blocks ---------------------------

def test_fp16_convolution_chain(rng):
    """1x1 -> 3x3 stride 2 -> 1x1 + projection shortcut, ReLUs fused, odd channel counts: HWC8 between the layers."""
    C, M, K = 13, 17, 33
    w1, b1 = conv_weights(rng, M, C, 1, 1)
    w2, b2 = conv_weights(rng, M, M, 3, 3)
    w3, b3 = conv_weights(rng, K, M, 1, 1)
    wp, bp = conv_weights(rng, K, C, 1, 1)
    relu = gie.ActivationType.RELU

    def define(net, t):
        y = net.add_activation(net.add_convolution(t["x"], M, (1, 1), w1, b1).output(0), relu).output(0)
        y = net.add_activation(net.add_convolution(y, M, (3, 3), w2, b2, padding=1, stride=2).output(0), relu).output(0)
        y = net.add_convolution(y, K, (1, 1), w3, b3).output(0)
        s = net.add_convolution(t["x"], K, (1, 1), wp, bp, stride=2).output(0)
        return net.add_activation(net.add_elementwise(y, s, gie.ElementWiseOperation.SUM).output(0), relu).output(0)

    info = compare_gpu_cpu(define, {"x": randn(rng, (N, C, 15, 15))}, fp16=True, expect_half=("Convolution",), **CHAIN_TOL)
    assert len(conv_kernels(info)) == 4


@pytest.mark.parametrize("tactic", [GEMM[0], GEMM[7], "hmma_128x32x32_w32x32_s4_hwc8", splitk(GEMM[7], 2)])
def test_fp16_convolutions_write_into_concat_slices(tactic, rng):
    """Inception-style branches of different widths concatenated (each may write its LINEAR slice: strided output).
    Kernel sizes / dilations differ so that horizontal fusion leaves them apart, none is 1x1 (one forced tactic)."""
    C, H, W = 13, 9, 7
    specs = [(5, (3, 3), dict(padding=1)), (17, (5, 5), dict(padding=2)), (8, (3, 3), dict(padding=2, dilation=2))]
    params = [(K, RS, f) + conv_weights(rng, K, C, *RS) for K, RS, f in specs]

    def define(net, t):
        outs = [net.add_convolution(t["x"], K, RS, w, b, **f).output(0) for K, RS, f, w, b in params]
        return net.add_concatenation(outs, axis=1).output(0)

    fp16(define, {"x": randn(rng, (N, C, H, W))}, tactic)


# ---- the Hopper path: TMA + wgmma 1x1 convolutions (variant "f16_hwc8_wgmma", sm_90a) ---------------------------

WGMMA = ["wgmma1x1_128x128x64_s4_hwc8", "wgmma1x1_128x256x64_s3_hwc8"]
WGMMA_CASES = [
    # id, C, H, W, K, batch (compare_gpu_cpu also runs batch 1)
    ("c8_k17", 8, 9, 7, 17, 3),              # the reduction is one zero-filled k-tile (8 of 64 channels)
    ("c24_k40", 24, 5, 5, 40, 3),
    ("c13_k130", 13, 11, 13, 130, 3),        # padding channels (Cp 16), K past 128: N tails in both tiles
    ("c1000_k264", 1000, 3, 5, 264, 3),      # a k-tail inside the last k-tile (1000 = 15*64 + 40), M < one tile
    ("c2048_k8", 2048, 2, 3, 8, 1),          # one output chunk, 32 k-tiles (the ring wraps many times)
    # ResNet-50's 1x1 stride-1 shapes
    ("r50_c64_k64_56", 64, 56, 56, 64, 3), ("r50_c64_k256_56", 64, 56, 56, 256, 3), ("r50_c256_k64_56", 256, 56, 56, 64, 3),
    ("r50_c256_k128_56", 256, 56, 56, 128, 3), ("r50_c128_k512_28", 128, 28, 28, 512, 3),
    ("r50_c512_k128_28", 512, 28, 28, 128, 3), ("r50_c512_k256_28", 512, 28, 28, 256, 3),
    ("r50_c256_k1024_14", 256, 14, 14, 1024, 3), ("r50_c1024_k256_14", 1024, 14, 14, 256, 3),
    ("r50_c1024_k512_14", 1024, 14, 14, 512, 3), ("r50_c512_k2048_7", 512, 7, 7, 2048, 3),
    ("r50_c2048_k512_7", 2048, 7, 7, 512, 3),
]


def one_by_one(C, K, rng, act=None):
    w, b = conv_weights(rng, K, C, 1, 1)

    def define(net, t):
        y = net.add_convolution(t["x"], K, (1, 1), w, b).output(0)
        return net.add_activation(y, *act).output(0) if act else y
    return define


@pytest.mark.parametrize("case", WGMMA_CASES, ids=[c[0] for c in WGMMA_CASES])
def test_fp16_convolution_wgmma_every_tactic(case, rng):
    """Each wgmma tactic forced against the CPU FP16 reference; offered exactly where sm_90a code runs on a compute
    capability 9.0 GPU (elsewhere forcing it fails: the kernel takes no layer there)."""
    _, C, H, W, K, batch = case
    define = one_by_one(C, K, rng, act=(gie.ActivationType.RELU,))
    inputs = {"x": randn(rng, (batch, C, H, W))}
    if not wgmma_expected():
        with pytest.raises(gie.Error, match=WGMMA[0]):
            fp16(define, inputs, WGMMA[0])
        return
    for tactic in WGMMA:
        conv, = conv_kernels(fp16(define, inputs, tactic))
        assert (conv["variant"], conv["tactic"], conv["tactic_architecture"]) == ("f16_hwc8_wgmma", tactic, "sm_90a")
        assert [t["tactic"] for t in conv["tactic_times_ms"]] == WGMMA


WGMMA_EPILOGUE_CASES = [WGMMA_CASES[2], WGMMA_CASES[3], WGMMA_CASES[10]]


@pytest.mark.parametrize("case", WGMMA_EPILOGUE_CASES, ids=[c[0] for c in WGMMA_EPILOGUE_CASES])
def test_fp16_convolution_wgmma_epilogues(case, rng):
    """Fused residual + ReLU (HWC8), sigmoid (the padding channels stay zero), and FLOAT LINEAR output with a residual
    and SiLU: the epilogue is the mma.sync kernel's, fed from the wgmma accumulators."""
    if not wgmma_expected():
        pytest.skip("needs sm_90a code on a compute capability 9.0 GPU")
    _, C, H, W, K, batch = case
    w, b = conv_weights(rng, K, C, 1, 1)
    inputs = {"x": randn(rng, (batch, C, H, W)), "r": randn(rng, (batch, K, H, W))}

    def residual(net, t):
        y = net.add_convolution(t["x"], K, (1, 1), w, b).output(0)
        y = net.add_elementwise(t["r"], y, gie.ElementWiseOperation.SUM).output(0)
        return net.add_activation(y, gie.ActivationType.RELU).output(0)

    def fp32_out(net, t):
        conv = net.add_convolution(t["x"], K, (1, 1), w, b)
        conv.set_output_type(0, gie.float32)
        y = net.add_elementwise(conv.output(0), t["r"], gie.ElementWiseOperation.SUM).output(0)
        return net.add_activation(y, gie.ActivationType.SILU).output(0)

    for tactic in WGMMA:
        convs = conv_kernels(fp16(residual, inputs, tactic))
        assert len(convs) == 1 and len(convs[0]["inputs"]) == 2, "residual add not fused"
        fp16(one_by_one(C, K, rng, act=(gie.ActivationType.SIGMOID,)), {"x": inputs["x"]}, tactic)
        fp16(fp32_out, inputs, tactic, expect_half=())


def test_fp16_convolution_wgmma_concat_slices_and_only_1x1(rng):
    """Branches written into their LINEAR concatenation slices (strided outputs); a 3x3 or strided 1x1 layer is not
    offered the 1x1 wgmma tactics (forcing one fails; test_gpu_wgmma_conv.py tests their gathering tactics), and the
    builder's own choice (timed among both variants) for a big 1x1 layer is right."""
    if not wgmma_expected():
        pytest.skip("needs sm_90a code on a compute capability 9.0 GPU")
    C = 40
    params = [(K,) + conv_weights(rng, K, C, 1, 1) for K in (24, 136)]
    relu = gie.ActivationType.RELU

    def define(net, t):
        outs = [net.add_activation(net.add_convolution(t["x"], K, (1, 1), w, b).output(0), relu).output(0) for K, w, b in params]
        return net.add_concatenation(outs, axis=1).output(0)
    for tactic in WGMMA:
        fp16(define, {"x": randn(rng, (3, C, 9, 11))}, tactic)
    w3, b3 = conv_weights(rng, 16, C, 3, 3)
    three = lambda net, t: net.add_convolution(t["x"], 16, (3, 3), w3, b3, padding=1).output(0)
    w1, b1 = conv_weights(rng, 16, C, 1, 1)
    strided = lambda net, t: net.add_convolution(t["x"], 16, (1, 1), w1, b1, stride=2).output(0)
    for define in (three, strided):
        with pytest.raises(gie.Error, match=WGMMA[0]):
            fp16(define, {"x": randn(rng, (2, C, 8, 8))}, WGMMA[0])
    big = one_by_one(256, 1024, rng)
    compare_gpu_cpu(big, {"x": randn(rng, (8, 256, 14, 14))}, fp16=True, expect_half=("Convolution",), **TOL)


# ---- depthwise -------------------------------------------------------------------------------------------------

DW_CASES = [
    # id, C, H, W, (R, S), fields
    ("c13_3x3_pad1", 13, 9, 11, (3, 3), dict(padding=1)),
    ("c13_3x3_stride2", 13, 10, 9, (3, 3), dict(stride=2, padding=1)),
    ("c64_5x5_stride2_pad2", 64, 14, 14, (5, 5), dict(stride=2, padding=2)),
    ("c8_3x3_dilation2", 8, 9, 9, (3, 3), dict(dilation=2, padding=2)),
    ("c3_3x3_on_1x1", 3, 1, 1, (3, 3), dict(padding=1)),
    ("c17_asym", 17, 8, 9, (3, 2), dict(pre_padding=(0, 1), post_padding=(2, 0), stride=(1, 2))),
]


@pytest.mark.parametrize("case", DW_CASES, ids=[c[0] for c in DW_CASES])
def test_fp16_depthwise(case, rng):
    _, C, H, W, (R, S), fields = case
    w, b = conv_weights(rng, C, 1, R, S)
    define = lambda net, t: net.add_activation(net.add_convolution(t["x"], C, (R, S), w, b, num_groups=C, **fields).output(0),
                                                gie.ActivationType.SIGMOID).output(0)
    info = fp16(define, {"x": randn(rng, (N, C, H, W))}, DEPTHWISE)
    assert [(k["tactic"], k["variant"]) for k in conv_kernels(info)] == [(DEPTHWISE, "f16_hwc8_depthwise")]


DEPTHWISE_Q4 = "depthwise_hwc8_f16_q4"  # 4 output pixels of a row per thread: kernel widths 3 / 5 / 7, column stride 1 / 2
Q4_CASES = [
    # id, C, H, W, (R, S), fields (output widths not multiples of 4; padding on both sides; kernel wider than the image)
    ("c13_3x3_pad1_q11", 13, 9, 11, (3, 3), dict(padding=1)),
    ("c13_3x3_stride2_q5", 13, 10, 9, (3, 3), dict(stride=2, padding=1)),
    ("c64_5x5_stride2_pad2", 64, 14, 14, (5, 5), dict(stride=2, padding=2)),
    ("c96_7x7_pad3_convnext", 96, 14, 14, (7, 7), dict(padding=3)),
    ("c40_7x7_pad3_on_3x5", 40, 3, 5, (7, 7), dict(padding=3)),
    ("c24_5x3_rowdil2", 24, 11, 13, (5, 3), dict(pre_padding=(4, 1), post_padding=(4, 1), dilation=(2, 1))),
    ("c16_7x7_stride2_nopad", 16, 17, 23, (7, 7), dict(stride=2)),
]


@pytest.mark.parametrize("case", Q4_CASES, ids=[c[0] for c in Q4_CASES])
def test_fp16_depthwise_q4(case, rng):
    """The 4-pixel depthwise tactic against the CPU FP16 reference (GELU fused, as ConvNeXt's blocks do not, to cover
    the chunk epilogue), and bit-identical to the one-pixel tactic (same FMAs in the same order)."""
    _, C, H, W, (R, S), fields = case
    w, b = conv_weights(rng, C, 1, R, S)

    def define(net, t):
        y = net.add_convolution(t["x"], C, (R, S), w, b, num_groups=C, **fields).output(0)
        return net.add_activation(y, gie.ActivationType.GELU).output(0)

    inputs = {"x": randn(rng, (N, C, H, W))}
    info = fp16(define, inputs, DEPTHWISE_Q4)
    assert [k["tactic"] for k in conv_kernels(info)] == [DEPTHWISE_Q4]
    outs = []
    for tactic in (DEPTHWISE, DEPTHWISE_Q4):
        engine = build_gpu(define, inputs, force={"Convolution": tactic}, fp16=True)
        outs.append(next(iter(engine.create_execution_context().execute(inputs).values())))
    np.testing.assert_array_equal(outs[0], outs[1])


def test_fp16_depthwise_q4_refused_where_it_does_not_apply(rng):
    """Column dilation 2 or a kernel width outside 3 / 5 / 7: forcing the 4-pixel tactic fails at build, naming it."""
    for (R, S), fields in (((3, 3), dict(dilation=2, padding=2)), ((3, 2), dict(padding=1)), ((3, 3), dict(stride=(1, 3)))):
        w, b = conv_weights(rng, 8, 1, R, S)
        define = lambda net, t: net.add_convolution(t["x"], 8, (R, S), w, b, num_groups=8, **fields).output(0)
        with pytest.raises(gie.Error, match=DEPTHWISE_Q4):
            fp16(define, {"x": randn(rng, (2, 8, 9, 9))}, DEPTHWISE_Q4)


def test_fp16_depthwise_residual_and_chain(rng):
    """MobileNet-like: 1x1 expand (tensor cores) -> depthwise 3x3 + ReLU -> 1x1 project + residual."""
    C, E = 13, 40
    w1, b1 = conv_weights(rng, E, C, 1, 1)
    wd, bd = conv_weights(rng, E, 1, 3, 3)
    w2, b2 = conv_weights(rng, C, E, 1, 1)

    def define(net, t):
        y = net.add_activation(net.add_convolution(t["x"], E, (1, 1), w1, b1).output(0), gie.ActivationType.RELU).output(0)
        dw = net.add_convolution(y, E, (3, 3), wd, bd, padding=1, num_groups=E)
        dw.name = "dw"
        y = net.add_elementwise(dw.output(0), t["r"], gie.ElementWiseOperation.SUM).output(0)
        y = net.add_activation(y, gie.ActivationType.RELU).output(0)
        y = net.add_convolution(y, C, (1, 1), w2, b2).output(0)
        return net.add_elementwise(y, t["x"], gie.ElementWiseOperation.SUM).output(0)

    inputs = {"x": randn(rng, (N, C, 9, 9)), "r": randn(rng, (N, E, 9, 9))}
    # At these small shapes the builder may well time another kernel faster: force the depthwise one by name.
    info = compare_gpu_cpu(define, inputs, fp16=True, expect_half=("Convolution",), force={"dw": DEPTHWISE}, **CHAIN_TOL)
    assert DEPTHWISE in [k["tactic"] for k in conv_kernels(info)]


def test_fp16_depthwise_refuses_channel_multipliers(rng):
    """groups == C but K == 2C (multiplier 2) is not this kernel's: the FP16 build with its tactic forced fails (no
    FP16 kernel takes the layer, or none offers the tactic) instead of running it."""
    w, b = conv_weights(rng, 6, 1, 3, 3)
    define = lambda net, t: net.add_convolution(t["x"], 6, (3, 3), w, b, num_groups=3).output(0)
    with pytest.raises(gie.Error, match="Convolution"):
        fp16(define, {"x": randn(rng, (2, 3, 5, 5))}, DEPTHWISE)
