"""GPU FP16 Convolution (issue 12 item 5) against the CPU FP16 reference: the tensor-core implicit GEMM (variant
"f16_hwc8_mma": every tile, generic and 1x1 tactics) and the FP16 depthwise kernel (variant "f16_hwc8_depthwise")
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
from gpu_util import compare_gpu_cpu, randn

pytestmark = pytest.mark.gpu

N = 13  # max batch; compare_gpu_cpu also runs batch 1
TOL = dict(rtol=5e-3, atol=5e-3)
CHAIN_TOL = dict(rtol=1e-2, atol=1e-2)

# Tile names of conv2d_implicit_gemm_f16.cu (stable tactic names).
TILES = ["128x128x32_w64x64_s4", "128x128x32_w32x64_s4", "128x128x64_w64x64_s3", "256x128x32_w64x64_s3",
         "128x256x32_w64x64_s3", "128x64x32_w64x32_s4", "64x128x32_w32x64_s4", "64x64x32_w32x32_s4"]
GEMM = [f"hmma_{t}_hwc8" for t in TILES]
GEMM_1X1 = [f"hmma1x1_{t}_hwc8" for t in TILES]
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
]


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
    _, C, H, W, K, (R, S), fields, has_bias = case
    w, b = conv_weights(rng, K, C, R, S, has_bias)
    define = case_define(case, w, b)
    inputs = {"x": randn(rng, (N, C, H, W))}
    for tactic in (GEMM_1X1 if is_1x1(R, S, fields) else GEMM):
        info = fp16(define, inputs, tactic)
        assert [k["tactic"] for k in conv_kernels(info)] == [tactic]


def test_fp16_convolution_tactics_follow_the_kernel_shape(rng):
    """The 1x1 tactics run only 1x1 / stride 1 / unpadded convolutions, the generic ones only the others."""
    w, b = conv_weights(rng, 8, 8, 1, 1)
    one = lambda net, t: net.add_convolution(t["x"], 8, (1, 1), w, b).output(0)
    w3, b3 = conv_weights(rng, 8, 8, 3, 3)
    three = lambda net, t: net.add_convolution(t["x"], 8, (3, 3), w3, b3, padding=1).output(0)
    x = {"x": randn(rng, (2, 8, 6, 6))}
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
EPILOGUE_CASES = [CASES[0], CASES[10], CASES[8]]


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
    for tactic in (GEMM_1X1 if is_1x1(R, S, fields) else GEMM):
        info = fp16(define, inputs, tactic)
        convs = conv_kernels(info)
        assert len(convs) == 1 and len(convs[0]["inputs"]) == 2, "residual add not fused"
        assert not any(k["type"] in ("ElementWise", "Activation") for k in info["kernels"])


@pytest.mark.parametrize("case", [CASES[0], CASES[11]], ids=[CASES[0][0], CASES[11][0]])
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
    for tactic in ((GEMM_1X1 if is_1x1(R, S, fields) else GEMM)[i] for i in (0, 5, 7)):
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


@pytest.mark.parametrize("tactic", [GEMM[0], GEMM[7]])
def test_fp16_convolutions_write_into_concat_slices(tactic, rng):
    """Inception-style 3x3 branches of different widths concatenated (each may write its slice: strided output)."""
    C, H, W = 13, 9, 7
    params = [(K,) + conv_weights(rng, K, C, 3, 3) for K in (5, 17, 8)]

    def define(net, t):
        outs = [net.add_convolution(t["x"], K, (3, 3), w, b, padding=1).output(0) for K, w, b in params]
        return net.add_concatenation(outs, axis=1).output(0)

    fp16(define, {"x": randn(rng, (N, C, H, W))}, tactic)


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
    assert [k["tactic"] for k in conv_kernels(info)] == [DEPTHWISE]


def test_fp16_depthwise_residual_and_chain(rng):
    """MobileNet-like: 1x1 expand (tensor cores) -> depthwise 3x3 + ReLU -> 1x1 project + residual."""
    C, E = 13, 40
    w1, b1 = conv_weights(rng, E, C, 1, 1)
    wd, bd = conv_weights(rng, E, 1, 3, 3)
    w2, b2 = conv_weights(rng, C, E, 1, 1)

    def define(net, t):
        y = net.add_activation(net.add_convolution(t["x"], E, (1, 1), w1, b1).output(0), gie.ActivationType.RELU).output(0)
        y = net.add_convolution(y, E, (3, 3), wd, bd, padding=1, num_groups=E).output(0)
        y = net.add_elementwise(y, t["r"], gie.ElementWiseOperation.SUM).output(0)
        y = net.add_activation(y, gie.ActivationType.RELU).output(0)
        y = net.add_convolution(y, C, (1, 1), w2, b2).output(0)
        return net.add_elementwise(y, t["x"], gie.ElementWiseOperation.SUM).output(0)

    inputs = {"x": randn(rng, (N, C, 9, 9)), "r": randn(rng, (N, E, 9, 9))}
    info = compare_gpu_cpu(define, inputs, fp16=True, expect_half=("Convolution",), **CHAIN_TOL)
    assert DEPTHWISE in [k["tactic"] for k in conv_kernels(info)]


def test_fp16_depthwise_refuses_channel_multipliers(rng):
    """groups == C but K == 2C (multiplier 2) is not this kernel's: forcing it fails naming the tactic."""
    w, b = conv_weights(rng, 6, 1, 3, 3)
    define = lambda net, t: net.add_convolution(t["x"], 6, (3, 3), w, b, num_groups=3).output(0)
    with pytest.raises(gie.Error, match=DEPTHWISE):
        fp16(define, {"x": randn(rng, (2, 3, 5, 5))}, DEPTHWISE)
