"""GPU Convolution and Deconvolution (FP32, NCHW) against the CPU kernels: awkward shapes (odd channels, 1x1 and
odd spatial sizes, K / C / P*Q not multiples of any tile), stride, padding, dilation, groups, depthwise, 7x7
kernels, every tactic forced in turn (implicit GEMM tiles on CUDA cores and 3xTF32 tensor cores, their 1x1 and
split-K variants, depthwise, naive direct), fused bias / activation / residual epilogues, strided outputs (a
concatenation of convolutions) and strided inputs (slices of horizontally fused convolutions), batch 13 and 1.

Weights are scaled by 1/sqrt(fan-in) as in real networks, so outputs are O(1) and rtol = atol = 1e-4 covers
the different FP32 summation orders (and the ~2^-21 relative error per product of 3xTF32)."""
import numpy as np
import pytest

import gie
from gpu_util import build_gpu, compare_gpu_cpu, each_tactic, each_tactic_per_kernel, gpu_tactics, randn

pytestmark = pytest.mark.gpu

N = 13  # max batch; compare_gpu_cpu also runs batch 1
TOL = dict(rtol=1e-4, atol=1e-4)


def conv_weights(rng, K, Cg, R, S, bias=True):
    w = randn(rng, (K, Cg, R, S), 1.0 / np.sqrt(Cg * R * S))
    b = randn(rng, (K,), 0.5) if bias else None
    return w, b


def conv_kernels(info):
    return [k for k in info["kernels"] if k["type"] == "Convolution"]


# ---- every tactic over awkward shapes --------------------------------------------------------------------------

CONV_CASES = [
    # id, C, H, W, K, (R, S), fields, bias
    ("3x3_pad1_odd_channels", 3, 17, 13, 7, (3, 3), dict(padding=1), True),
    ("3x3_c33_k13", 33, 9, 11, 13, (3, 3), dict(padding=1), True),
    ("1x1", 13, 8, 8, 33, (1, 1), dict(), True),                    # H*W % 4 == 0: the gemm1x1 loader
    ("1x1_odd_spatial", 7, 17, 13, 9, (1, 1), dict(), True),        # H*W odd: generic loader only
    ("1x1_stride2", 33, 14, 14, 13, (1, 1), dict(stride=2), True),
    ("7x7_stride2_pad3", 3, 23, 19, 8, (7, 7), dict(stride=2, padding=3), True),
    ("3x3_stride2", 7, 17, 13, 13, (3, 3), dict(stride=2), False),
    ("asym_padding_stride", 5, 9, 10, 7, (3, 3), dict(pre_padding=(1, 2), post_padding=(2, 0), stride=(2, 3)), True),
    ("dilation2", 3, 11, 12, 4, (3, 3), dict(dilation=2, padding=2), True),
    ("dilation_mixed_rect", 6, 12, 9, 5, (3, 2), dict(dilation=(2, 3), padding=(1, 0)), True),
    ("groups2", 6, 8, 8, 10, (3, 3), dict(num_groups=2, padding=1), True),
    ("groups3_stride2", 9, 9, 7, 6, (3, 3), dict(num_groups=3, stride=2), True),
    ("depthwise", 7, 9, 9, 7, (3, 3), dict(num_groups=7, padding=1), True),
    ("depthwise_5x5_stride2", 8, 10, 11, 8, (5, 5), dict(num_groups=8, stride=2, padding=2), True),
    ("depthwise_multiplier2", 3, 7, 7, 6, (3, 3), dict(num_groups=3), True),
    ("1x1_spatial_input", 9, 1, 1, 4, (1, 1), dict(), True),
    ("3x3_on_1x1_padded", 3, 1, 1, 5, (3, 3), dict(padding=1), True),
    ("kernel_equals_input", 2, 5, 5, 3, (5, 5), dict(), True),
    ("7x7_output", 64, 7, 7, 130, (3, 3), dict(padding=1), True),   # K > 128, P*Q = 49: split-K territory
    ("deep_reduction", 160, 5, 5, 20, (3, 3), dict(padding=1), True),  # Kdim = 1440: many k-tiles per split
]


def case_define(case, w, b, act=None):
    _, C, H, W, K, (R, S), fields, _ = case

    def define(net, t):
        y = net.add_convolution(t["x"], K, (R, S), w, b, **fields).output(0)
        if act is not None:
            y = net.add_activation(y, act[0], *act[1:]).output(0)
        return y
    return define


@pytest.mark.parametrize("case", CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_convolution_every_tactic(case, rng):
    _, C, H, W, K, (R, S), fields, has_bias = case
    groups = fields.get("num_groups", 1)
    w, b = conv_weights(rng, K, C // groups, R, S, has_bias)
    must = ["direct_naive"]
    if groups == 1:
        must += ["implicit_gemm_64x64x8_4x4", "implicit_gemm_3xtf32_64x64x16_w32x32"]
    if groups == C:
        must.append("depthwise_direct")
    if (R, S) == (1, 1) and "stride" not in fields and (H * W) % 4 == 0:
        must += ["gemm1x1_128x128x8_8x8", "gemm1x1_3xtf32_128x128x16_w64x32"]
    winograd = (R, S) == (3, 3) and groups == 1 and "stride" not in fields and "dilation" not in fields
    if winograd:
        must += ["winograd2x2_64x64x8_4x4", "winograd2x2_3xtf32_128x128x16_w64x32"]
    tactics = each_tactic(case_define(case, w, b), {"x": randn(rng, (N, C, H, W))}, "Convolution", must_have=must)
    if (R, S) != (1, 1) or "stride" in fields or (H * W) % 4:
        assert not any(t.startswith("gemm1x1") for t in tactics), tactics
    if not winograd:
        assert not any(t.startswith("winograd") for t in tactics), tactics
    if groups != C:
        assert "depthwise_direct" not in tactics


def test_convolution_tactic_names_are_stable(rng):
    """The families and tile names the builder reports (engine files and timing caches refer to them)."""
    w, b = conv_weights(rng, 24, 16, 1, 1)
    tactics = gpu_tactics(lambda net, t: net.add_convolution(t["x"], 24, (1, 1), w, b).output(0),
                          {"x": randn(rng, (1, 16, 4, 4))}, "Convolution")
    for name in ["implicit_gemm_128x128x8_8x8", "implicit_gemm_32x32x8_4x4", "implicit_gemm_3xtf32_128x64x16_w64x32",
                 "gemm1x1_64x32x8_4x4", "gemm1x1_3xtf32_64x32x16_w32x16", "direct_naive"]:
        assert name in tactics, (name, tactics)
    assert any("_splitk" in t for t in tactics), tactics  # a 1-block problem: split-K is offered


@pytest.mark.parametrize("C,R", [(1024, 3), (4096, 1)], ids=["3x3_c1024", "1x1_c4096"])
def test_3xtf32_is_as_accurate_as_fp32_on_deep_sums(C, R, rng):
    """Same-sign products (positive inputs and weights) summed over K = C*R*R terms: an accumulation that
    truncates instead of rounding drifts by about K ulps, which the tensor cores do within an MMA chain. Every
    3xTF32 tactic must stay within 3x the error of the worst CUDA-core FP32 direct tactic (float64 reference).
    Winograd's transforms subtract, so its sums cancel more (about 4x the direct error in a float32 numpy
    emulation of this case): every Winograd tactic, CUDA-core or 3xTF32, must stay within 10x."""
    K, H = 24, 7
    x = np.abs(randn(rng, (3, C, H, H))) + 0.5
    w = (np.abs(randn(rng, (K, C, R, R))) + 0.5) / (C * R * R)
    pad = R // 2
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ref = np.zeros((3, K, H, H))
    for r in range(R):
        for s in range(R):
            ref += np.einsum("nchw,kc->nkhw", xp[:, :, r:r + H, s:s + H], w[:, :, r, s].astype(np.float64))

    def define(net, t):
        return net.add_convolution(t["x"], K, (R, R), w, None, padding=(pad, pad)).output(0)

    errors = {}
    for tactic in gpu_tactics(define, {"x": x}, "Convolution"):
        if "splitk" in tactic or tactic == "direct_naive":
            continue
        engine = build_gpu(define, {"x": x}, force={"Convolution": tactic})
        got = next(iter(engine.create_execution_context().execute({"x": x}).values()))
        errors[tactic] = float(np.max(np.abs(got - ref) / np.abs(ref)))
    fp32 = [e for t, e in errors.items() if "3xtf32" not in t and "winograd" not in t]
    tc = {t: e for t, e in errors.items() if "3xtf32" in t and "winograd" not in t}
    wino = {t: e for t, e in errors.items() if "winograd" in t}
    assert fp32 and tc and (wino or R != 3), errors
    bound = max(3 * max(fp32), 1e-6)
    bad = {t: e for t, e in tc.items() if e > bound}
    assert not bad, f"3xTF32 tactics less accurate than FP32 (bound {bound:.2e}): {bad}; all: {errors}"
    bound = max(10 * max(fp32), 1e-6)
    bad = {t: e for t, e in wino.items() if e > bound}
    assert not bad, f"Winograd tactics less accurate than 10x FP32 (bound {bound:.2e}): {bad}; all: {errors}"


@pytest.mark.parametrize("tactic", ["winograd2x2_64x64x8_4x4", "winograd2x2_3xtf32_128x128x16_w64x32"])
def test_winograd_runs_large_batches_in_chunks(tactic, rng):
    """One image's Winograd transforms take 16 * (C + K) * tiles floats (133 MB here), so a batch of 5 runs as
    chunks of 4 and 1 images within the 512 MiB workspace bound; bias, residual and ReLU fused, odd P and Q
    (a last tile row and column half outside the image)."""
    C, K, H, W, B = 8, 8, 719, 721, 5
    w, b = conv_weights(rng, K, C, 3, 3)
    x = randn(rng, (B, C, H, W))
    r = randn(rng, (B, K, H, W))

    def define(net, t):
        y = net.add_convolution(t["x"], K, (3, 3), w, b, padding=1).output(0)
        y = net.add_elementwise(t["r"], y, gie.ElementWiseOperation.SUM).output(0)
        return net.add_activation(y, gie.ActivationType.RELU).output(0)

    info = compare_gpu_cpu(define, {"x": x, "r": r}, force={"Convolution": tactic}, **TOL)
    assert conv_kernels(info)[0]["tactic"] == tactic
    tiles = ((H + 1) // 2) * ((W + 1) // 2)
    chunk = (512 << 20) // (16 * (C + K) * 4 * tiles)
    assert chunk == 4  # the batch of 5 runs as 4 + 1
    assert info["memory"]["workspace_bytes"] == 16 * (C + K) * 4 * chunk * tiles, info["memory"]


# ---- fused epilogues -------------------------------------------------------------------------------------------

ACTS = [
    ("relu", (gie.ActivationType.RELU,)),
    ("leaky", (gie.ActivationType.LEAKY_RELU, 0.1)),
    ("clip", (gie.ActivationType.CLIP, -0.3, 0.4)),
    ("sigmoid", (gie.ActivationType.SIGMOID,)),
    ("silu", (gie.ActivationType.SILU,)),
]


FUSED_ACT_CASES = [(CONV_CASES[2], a) for a in ACTS] + [(CONV_CASES[1], ACTS[0]), (CONV_CASES[18], ACTS[1])]


@pytest.mark.parametrize("case,act", FUSED_ACT_CASES, ids=[f"{c[0]}-{a[0]}" for c, a in FUSED_ACT_CASES])
def test_convolution_fused_activation_every_tactic(case, act, rng):
    """An Activation after the convolution fuses into its epilogue, in every tactic (the GEMM epilogue, the
    split-K reduction, the direct kernels)."""
    _, C, H, W, K, (R, S), fields, _ = case
    w, b = conv_weights(rng, K, C, R, S)
    define = case_define(case, w, b, act=act[1])
    inputs = {"x": randn(rng, (N, C, H, W))}
    for t in gpu_tactics(define, inputs, "Convolution"):
        info = compare_gpu_cpu(define, inputs, force={"Convolution": t}, **TOL)
        assert [k["type"] for k in info["kernels"]] == ["Convolution"], "the activation was not fused"


@pytest.mark.parametrize("act", ACTS[:3], ids=[a[0] for a in ACTS[:3]])
def test_convolution_fused_activation_default_tactic(act, rng):
    """The tactic the builder picks by timing, on a ResNet-like layer."""
    w, b = conv_weights(rng, 64, 64, 3, 3)
    define = lambda net, t: net.add_activation(net.add_convolution(t["x"], 64, (3, 3), w, b, padding=1).output(0),
                                                act[1][0], *act[1][1:]).output(0)
    compare_gpu_cpu(define, {"x": randn(rng, (4, 64, 14, 14))}, **TOL)


RESIDUAL_CASES = [
    # id, C, H, W, K, (R, S), fields
    ("1x1_expand", 16, 8, 8, 33, (1, 1), dict()),
    ("3x3_odd", 7, 17, 13, 13, (3, 3), dict(padding=1)),
    ("1x1_7x7_plane", 40, 7, 7, 72, (1, 1), dict()),
    ("3x3_stride2", 5, 9, 9, 6, (3, 3), dict(stride=2, padding=1)),
]


@pytest.mark.parametrize("case", RESIDUAL_CASES, ids=[c[0] for c in RESIDUAL_CASES])
def test_convolution_fused_residual_every_tactic(case, rng):
    """relu(conv(x) + bias + r): the ElementWise SUM and the ReLU fuse into the convolution (residual input)."""
    _, C, H, W, K, (R, S), fields = case
    w, b = conv_weights(rng, K, C, R, S)
    x = randn(rng, (N, C, H, W))
    P = (H + 2 * fields.get("padding", 0) - R) // fields.get("stride", 1) + 1
    Q = (W + 2 * fields.get("padding", 0) - S) // fields.get("stride", 1) + 1
    r = randn(rng, (N, K, P, Q))

    def define(net, t):
        y = net.add_convolution(t["x"], K, (R, S), w, b, **fields).output(0)
        y = net.add_elementwise(t["r"], y, gie.ElementWiseOperation.SUM).output(0)
        return net.add_activation(y, gie.ActivationType.RELU).output(0)

    inputs = {"x": x, "r": r}
    for t in gpu_tactics(define, inputs, "Convolution"):
        info = compare_gpu_cpu(define, inputs, force={"Convolution": t}, **TOL)
        convs = conv_kernels(info)
        assert len(info["kernels"]) == 1 and len(convs[0]["inputs"]) == 2, "residual add / ReLU not fused"


def test_convolution_residual_chain(rng):
    """A bottleneck-like chain: 1x1 -> 3x3 -> 1x1 + identity, ReLUs fused, default tactics."""
    C, M = 32, 16
    w1, b1 = conv_weights(rng, M, C, 1, 1)
    w2, b2 = conv_weights(rng, M, M, 3, 3)
    w3, b3 = conv_weights(rng, C, M, 1, 1)

    def define(net, t):
        relu = gie.ActivationType.RELU
        y = net.add_activation(net.add_convolution(t["x"], M, (1, 1), w1, b1).output(0), relu).output(0)
        y = net.add_activation(net.add_convolution(y, M, (3, 3), w2, b2, padding=1).output(0), relu).output(0)
        y = net.add_convolution(y, C, (1, 1), w3, b3).output(0)
        return net.add_activation(net.add_elementwise(y, t["x"], gie.ElementWiseOperation.SUM).output(0), relu).output(0)

    info = compare_gpu_cpu(define, {"x": randn(rng, (N, C, 14, 14))}, **TOL)
    assert len(conv_kernels(info)) == 3 and len(info["kernels"]) == 3


# ---- strided outputs and inputs --------------------------------------------------------------------------------

def concat_define(rng, C, specs):
    """Convolutions of x (K, (R, S), fields) concatenated on channels: each writes into its slice."""
    params = [(K, RS, f) + conv_weights(rng, K, C, *RS) for K, RS, f in specs]

    def define(net, t):
        outs = [net.add_convolution(t["x"], K, RS, w, b, **f).output(0) for K, RS, f, w, b in params]
        return net.add_concatenation(outs, axis=1).output(0)
    return define


@pytest.mark.parametrize("spatial", [(17, 13), (8, 8), (7, 7)], ids=str)
def test_convolutions_write_into_concat_slices_every_tactic(spatial, rng):
    """Inception-style branches (1x1, 3x3, 5x5 of different widths) concatenated: strided outputs."""
    C = 7
    define = concat_define(rng, C, [(5, (1, 1), {}), (13, (3, 3), dict(padding=1)), (3, (5, 5), dict(padding=2))])
    offered, infos = each_tactic_per_kernel(define, {"x": randn(rng, (N, C) + spatial)}, "Convolution")
    assert len(offered) == 3
    for info in infos:
        assert not any(k["type"] == "Concatenation" for k in info["kernels"]), "the concatenation was not eliminated"


def test_convolution_into_concat_slice_with_activation(rng):
    """Convolutions with fused activations writing next to a copied network input in one concatenation."""
    C = 6
    w1, b1 = conv_weights(rng, 9, C, 3, 3)
    w2, b2 = conv_weights(rng, 4, C, 1, 1)

    def define(net, t):
        a = net.add_activation(net.add_convolution(t["x"], 9, (3, 3), w1, b1, padding=1).output(0),
                               gie.ActivationType.LEAKY_RELU, 0.2).output(0)
        c = net.add_activation(net.add_convolution(t["x"], 4, (1, 1), w2, b2).output(0), gie.ActivationType.RELU).output(0)
        return net.add_concatenation([t["x"], a, c], axis=1).output(0)

    each_tactic_per_kernel(define, {"x": randn(rng, (N, C, 11, 9))}, "Convolution")


@pytest.mark.parametrize("spatial", [(8, 8), (9, 7)], ids=str)
def test_convolutions_read_fused_sibling_slices_every_tactic(spatial, rng):
    """Sibling 1x1 convolutions of x merge (horizontal fusion); the 3x3 and 1x1 convolutions after them read
    channel slices of the merged output (strided inputs)."""
    C, K1, K2 = 6, 5, 11
    w1, b1 = conv_weights(rng, K1, C, 1, 1)
    w2, b2 = conv_weights(rng, K2, C, 1, 1)
    w3, b3 = conv_weights(rng, 7, K1, 3, 3)
    w4, b4 = conv_weights(rng, 3, K2, 1, 1)

    def define(net, t):
        relu = gie.ActivationType.RELU
        a = net.add_activation(net.add_convolution(t["x"], K1, (1, 1), w1, b1).output(0), relu).output(0)
        c = net.add_activation(net.add_convolution(t["x"], K2, (1, 1), w2, b2).output(0), relu).output(0)
        return [net.add_convolution(a, 7, (3, 3), w3, b3, padding=1).output(0), net.add_convolution(c, 3, (1, 1), w4, b4).output(0)]

    offered, infos = each_tactic_per_kernel(define, {"x": randn(rng, (N, C) + spatial)}, "Convolution")
    assert len(offered) == 3, f"the sibling 1x1 convolutions were not merged: {list(offered)}"


def test_convolution_strided_input_and_output(rng):
    """A convolution that reads a slice of a merged 1x1 convolution and writes into a concatenation slice."""
    C = 8
    w1, b1 = conv_weights(rng, 12, C, 1, 1)
    w2, b2 = conv_weights(rng, 4, C, 1, 1)
    w3, b3 = conv_weights(rng, 9, 12, 3, 3)
    w4, b4 = conv_weights(rng, 5, 4, 3, 3)

    def define(net, t):
        a = net.add_convolution(t["x"], 12, (1, 1), w1, b1).output(0)
        c = net.add_convolution(t["x"], 4, (1, 1), w2, b2).output(0)
        ya = net.add_convolution(a, 9, (3, 3), w3, b3, padding=1).output(0)
        yc = net.add_convolution(c, 5, (3, 3), w4, b4, padding=1).output(0)
        return net.add_concatenation([yc, ya], axis=1).output(0)

    offered, infos = each_tactic_per_kernel(define, {"x": randn(rng, (N, C, 12, 12))}, "Convolution")
    assert len(offered) == 3
    assert not any(k["type"] == "Concatenation" for k in infos[0]["kernels"])


# ---- larger layers at the tactic the builder picks -------------------------------------------------------------

LAYER_CASES = [
    # id, (N, C, H, W), K, (R, S), fields
    ("resnet_conv1", (2, 3, 56, 56), 64, (7, 7), dict(stride=2, padding=3)),
    ("resnet_3x3_b1", (1, 128, 28, 28), 128, (3, 3), dict(padding=1)),
    ("resnet_1x1_7x7_b1", (1, 512, 7, 7), 2048, (1, 1), dict()),
    ("resnet_1x1_s2", (3, 256, 14, 14), 512, (1, 1), dict(stride=2)),
    ("yolo_3x3_13x13", (2, 256, 13, 13), 512, (3, 3), dict(padding=1)),
    ("googlenet_5x5", (5, 32, 14, 14), 64, (5, 5), dict(padding=2)),
]


@pytest.mark.parametrize("case", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_convolution_network_layers(case, rng):
    _, shape, K, (R, S), fields = case
    w, b = conv_weights(rng, K, shape[1], R, S)
    define = lambda net, t: net.add_activation(net.add_convolution(t["x"], K, (R, S), w, b, **fields).output(0),
                                                gie.ActivationType.RELU).output(0)
    compare_gpu_cpu(define, {"x": randn(rng, shape)}, **TOL)


# ---- Deconvolution ---------------------------------------------------------------------------------------------

DECONV_CASES = [
    # (C, H, W), K, (R, S), stride, pre, post, dilation, groups, output_padding, bias
    ((3, 5, 5), 4, (3, 3), (1, 1), (0, 0), (0, 0), (1, 1), 1, (0, 0), True),
    ((3, 5, 7), 4, (3, 3), (2, 2), (1, 1), (1, 1), (1, 1), 1, (1, 1), True),
    ((4, 4, 3), 6, (2, 3), (2, 3), (0, 1), (1, 0), (1, 1), 2, (0, 0), False),
    ((2, 1, 1), 3, (3, 3), (1, 1), (0, 0), (0, 0), (1, 1), 1, (0, 0), True),
    ((5, 6, 6), 5, (1, 1), (1, 1), (0, 0), (0, 0), (1, 1), 1, (0, 0), True),
    ((4, 5, 4), 4, (1, 1), (1, 1), (0, 0), (0, 0), (1, 1), 4, (0, 0), False),
    ((6, 5, 6), 6, (3, 3), (2, 2), (1, 1), (1, 1), (1, 1), 6, (1, 0), True),
    ((3, 4, 5), 2, (3, 2), (1, 2), (2, 1), (0, 1), (2, 3), 1, (0, 1), True),
    ((8, 7, 9), 16, (4, 4), (2, 2), (1, 1), (1, 1), (1, 1), 1, (0, 0), True),
    ((2, 3, 3), 2, (2, 2), (3, 3), (0, 0), (0, 0), (1, 1), 1, (2, 2), True),
    ((16, 9, 11), 33, (5, 3), (3, 2), (2, 1), (3, 0), (1, 2), 1, (1, 1), True),
    ((16, 12, 12), 32, (3, 3), (2, 2), (1, 1), (0, 0), (1, 1), 1, (1, 1), True),
    ((8, 6, 5), 12, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1), 4, (0, 0), True),
    ((33, 13, 13), 7, (4, 4), (2, 2), (1, 1), (1, 1), (1, 1), 1, (0, 0), True),
    ((13, 17, 13), 9, (3, 3), (2, 2), (1, 1), (1, 1), (2, 2), 1, (1, 1), False),
]


def deconv_define(case, w, b, act=None):
    (C, H, W), K, RS, stride, pre, post, dil, groups, outpad, _ = case

    def define(net, t):
        layer = net.add_deconvolution(t["x"], K, RS, w, b, stride=stride, pre_padding=pre, post_padding=post, dilation=dil,
                                      num_groups=groups, output_padding=outpad)
        if act is not None:
            layer.activation_type = int(act[0])
            layer.activation_alpha = act[1]
            layer.activation_beta = act[2]
        return layer.output(0)
    return define


def deconv_weights(rng, case):
    (C, H, W), K, (R, S), stride, pre, post, dil, groups, outpad, has_bias = case
    w = randn(rng, (C, K // groups, R, S), 1.0 / np.sqrt(C // groups * R * S))
    b = randn(rng, (K,), 0.5) if has_bias else None
    return w, b


@pytest.mark.parametrize("case", DECONV_CASES, ids=[f"deconv{i}" for i in range(len(DECONV_CASES))])
def test_deconvolution(case, rng):
    w, b = deconv_weights(rng, case)
    each_tactic(deconv_define(case, w, b), {"x": randn(rng, (N,) + case[0])}, "Deconvolution")


DECONV_ACTS = [
    ("relu", (gie.ActivationType.RELU, 0.0, 0.0)),
    ("leaky", (gie.ActivationType.LEAKY_RELU, 0.1, 0.0)),
    ("clip", (gie.ActivationType.CLIP, -0.5, 0.7)),
    ("sigmoid", (gie.ActivationType.SIGMOID, 0.0, 0.0)),
    ("scaled_tanh", (gie.ActivationType.SCALED_TANH, 1.5, 0.7)),
    ("softplus", (gie.ActivationType.SOFTPLUS, 0.0, 0.0)),
    ("gelu_tanh", (gie.ActivationType.GELU_TANH, 0.0, 0.0)),
]


@pytest.mark.parametrize("act", DECONV_ACTS, ids=[a[0] for a in DECONV_ACTS])
def test_deconvolution_activation_fields(act, rng):
    case = DECONV_CASES[1]
    w, b = deconv_weights(rng, case)
    compare_gpu_cpu(deconv_define(case, w, b, act[1]), {"x": randn(rng, (N,) + case[0])}, **TOL)


def test_deconvolution_fused_activation_layer(rng):
    """An Activation layer after the deconvolution fuses into its fields."""
    case = DECONV_CASES[8]
    w, b = deconv_weights(rng, case)
    define = lambda net, t: net.add_activation(deconv_define(case, w, b)(net, t), gie.ActivationType.RELU).output(0)
    info = compare_gpu_cpu(define, {"x": randn(rng, (N,) + case[0])}, **TOL)
    assert [k["type"] for k in info["kernels"]] == ["Deconvolution"]


def test_deconvolution_then_convolution(rng):
    """An upsampling decoder step: deconvolution (stride 2) feeding a 3x3 convolution."""
    C, K = 16, 8
    wd = randn(rng, (C, K, 2, 2), 1.0 / np.sqrt(C * 4))
    wc, bc = conv_weights(rng, 5, K, 3, 3)

    def define(net, t):
        y = net.add_deconvolution(t["x"], K, (2, 2), wd, None, stride=2).output(0)
        return net.add_convolution(y, 5, (3, 3), wc, bc, padding=1).output(0)

    compare_gpu_cpu(define, {"x": randn(rng, (N, C, 9, 7))}, **TOL)
