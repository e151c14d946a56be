"""GPU FP16 Convolution on Hopper (issue 13): the general implicit-GEMM wgmma tactics of variant "f16_hwc8_wgmma"
(cuda/kernels/conv2d_wgmma_f16.cu: B by TMA, A gathered by the producer warpgroup with cp.async into the 128B-swizzled
stages) forced one by one against the CPU FP16 reference, on awkward shapes (C and K not multiples of the tiles, odd
H / W, stride 2, symmetric and asymmetric padding, dilation, rectangular kernels, 3x3 / 5x5 / 7x7, H*W = 1, a
reduction whose k-tiles straddle taps), every ResNet-50 3x3 layer, its 7x7 stride-2 stem and its strided 1x1
projections, fused residual + ReLU / sigmoid / FLOAT LINEAR output epilogues, concatenation slices and a chain.
compare_gpu_cpu poisons the outputs with NaN and runs batch `batch`, then 1.

The tactics exist only in sm_90a code on a compute capability 9.0 GPU: elsewhere these tests skip, saying so, and one
test checks that forcing the tactics fails there instead (the kernel takes no layer). Tolerances as in
test_gpu_fp16_conv.py (same roundings, FP32 accumulation in another order)."""
import pytest

import gie
from gpu_util import compare_gpu_cpu, randn, wgmma_expected
from test_gpu_fp16_conv import CHAIN_TOL, TOL, conv_kernels, conv_weights, fp16, out_hw

pytestmark = pytest.mark.gpu

GENERAL = ["wgmma_128x128x64_s4_hwc8", "wgmma_128x256x64_s3_hwc8"]  # the gathering tactics, offered for non-1x1 layers
ONE_BY_ONE = ["wgmma1x1_128x128x64_s4_hwc8", "wgmma1x1_128x256x64_s3_hwc8"]
NOT_HOPPER = "the wgmma tactics need sm_90a code on a compute capability 9.0 GPU (H100/H200)"

CASES = [
    # id, C, H, W, K, (R, S), fields, batch
    ("c3_k17_3x3_pad1", 3, 17, 13, 17, (3, 3), dict(padding=1), 3),          # Cp 8: one k-tile spans 8 taps
    ("c13_k130_3x3_stride2", 13, 9, 11, 130, (3, 3), dict(stride=2), 3),     # K past 128 (N tails), no padding
    ("c20_k36_3x3_stride2_pad1_odd", 20, 15, 13, 36, (3, 3), dict(stride=2, padding=1), 3),
    ("c72_k264_5x5_pad2", 72, 9, 7, 264, (5, 5), dict(padding=2), 3),         # K past 256
    ("c13_k17_dilation2", 13, 11, 12, 17, (3, 3), dict(dilation=2, padding=2), 3),
    ("c13_k17_asym_padding", 13, 9, 10, 17, (3, 3), dict(pre_padding=(1, 2), post_padding=(2, 0), stride=(2, 3)), 3),
    ("c5_k8_2x3_rect", 5, 6, 9, 8, (2, 3), dict(), 3),
    ("c64_k17_3x3_on_1x1", 64, 1, 1, 17, (3, 3), dict(padding=1), 3),        # H*W = 1: 8 of 9 taps padding
    ("c40_k24_1x1_stride2", 40, 13, 11, 24, (1, 1), dict(stride=2), 3),       # 1x1 but not a plain GEMM
    ("c40_k24_1x1_pad1", 40, 5, 6, 24, (1, 1), dict(padding=1), 3),
    ("c1000_k40_3x3", 1000, 4, 5, 40, (3, 3), dict(padding=1), 2),           # 125 chunks a tap: k-tiles straddle taps
    ("c3_k64_7x7_stride2_pad3", 3, 23, 19, 64, (7, 7), dict(stride=2, padding=3), 3),
    ("c8_k8_3x3_m_tail", 8, 3, 43, 8, (3, 3), dict(padding=1), 1),            # M = 129: one row in the second tile
    # ResNet-50 (torchvision v1.5: the stride in the 3x3): the stem, every 3x3 shape, the strided 1x1 projections
    ("r50_stem_7x7_s2", 3, 224, 224, 64, (7, 7), dict(stride=2, padding=3), 2),
    ("r50_3x3_c64_56", 64, 56, 56, 64, (3, 3), dict(padding=1), 2),
    ("r50_3x3_c128_56_s2", 128, 56, 56, 128, (3, 3), dict(stride=2, padding=1), 2),
    ("r50_3x3_c128_28", 128, 28, 28, 128, (3, 3), dict(padding=1), 2),
    ("r50_3x3_c256_28_s2", 256, 28, 28, 256, (3, 3), dict(stride=2, padding=1), 2),
    ("r50_3x3_c256_14", 256, 14, 14, 256, (3, 3), dict(padding=1), 2),
    ("r50_3x3_c512_14_s2", 512, 14, 14, 512, (3, 3), dict(stride=2, padding=1), 2),
    ("r50_3x3_c512_7", 512, 7, 7, 512, (3, 3), dict(padding=1), 2),
    ("r50_1x1_c256_k512_s2", 256, 56, 56, 512, (1, 1), dict(stride=2), 2),
    ("r50_1x1_c512_k1024_s2", 512, 28, 28, 1024, (1, 1), dict(stride=2), 2),
    ("r50_1x1_c1024_k2048_s2", 1024, 14, 14, 2048, (1, 1), dict(stride=2), 2),
]
BY_ID = {c[0]: c for c in CASES}


def conv_define(case, w, b, act=None):
    _, C, H, W, K, RS, fields, _ = case

    def define(net, t):
        y = net.add_convolution(t["x"], K, RS, w, b, **fields).output(0)
        return net.add_activation(y, *act).output(0) if act else y
    return define


def need_hopper():
    if not wgmma_expected():
        pytest.skip(NOT_HOPPER)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_wgmma_convolution_every_tactic(case, rng):
    """Each gathering tactic forced, with ReLU fused; the layer offers exactly these two wgmma tactics (the 1x1 ones
    only take plain GEMMs) and reports sm_90a."""
    need_hopper()
    _, C, H, W, K, (R, S), fields, batch = case
    w, b = conv_weights(rng, K, C, R, S)
    define = conv_define(case, w, b, act=(gie.ActivationType.RELU,))
    inputs = {"x": randn(rng, (batch, C, H, W))}
    for tactic in GENERAL:
        info = fp16(define, inputs, tactic)
        conv, = conv_kernels(info)
        assert (conv["variant"], conv["tactic"], conv["tactic_architecture"]) == ("f16_hwc8_wgmma", tactic, "sm_90a")
        assert [t["tactic"] for t in conv["tactic_times_ms"]] == GENERAL
        assert not any(k["type"] == "Activation" for k in info["kernels"]), "the activation was not fused"


EPILOGUE_CASES = ["c13_k130_3x3_stride2", "c72_k264_5x5_pad2", "c3_k64_7x7_stride2_pad3", "r50_3x3_c256_14"]


@pytest.mark.parametrize("case_id", EPILOGUE_CASES)
def test_wgmma_convolution_epilogues(case_id, rng):
    """Fused residual + ReLU (HWC8), sigmoid (the HWC8 padding channels must stay zero), and a FLOAT LINEAR output with
    a residual and SiLU: the mma.sync kernel's epilogue, fed by the gathered wgmma mainloop."""
    need_hopper()
    case = BY_ID[case_id]
    _, C, H, W, K, (R, S), fields, batch = case
    w, b = conv_weights(rng, K, C, R, S)
    P, Q = out_hw(H, W, R, S, fields)
    inputs = {"x": randn(rng, (batch, C, H, W)), "r": randn(rng, (batch, K, P, Q))}

    def residual(net, t):
        y = net.add_convolution(t["x"], K, (R, S), w, b, **fields).output(0)
        y = net.add_elementwise(t["r"], y, gie.ElementWiseOperation.SUM).output(0)
        return net.add_activation(y, gie.ActivationType.RELU).output(0)

    def fp32_out(net, t):
        conv = net.add_convolution(t["x"], K, (R, S), w, b, **fields)
        conv.set_output_type(0, gie.float32)
        y = net.add_elementwise(conv.output(0), t["r"], gie.ElementWiseOperation.SUM).output(0)
        return net.add_activation(y, gie.ActivationType.SILU).output(0)

    for tactic in GENERAL:
        info = fp16(residual, inputs, tactic)
        convs = conv_kernels(info)
        assert len(convs) == 1 and len(convs[0]["inputs"]) == 2, "residual add not fused"
        assert not any(k["type"] in ("ElementWise", "Activation") for k in info["kernels"])
        fp16(conv_define(case, w, b, act=(gie.ActivationType.SIGMOID,)), {"x": inputs["x"]}, tactic)
        conv, = conv_kernels(fp16(fp32_out, inputs, tactic, expect_half=()))
        assert conv["tactic"] == tactic


@pytest.mark.parametrize("tactic", GENERAL)
def test_wgmma_convolutions_write_into_concat_slices(tactic, rng):
    """Inception-style branches (3x3, 5x5, dilated 3x3; none 1x1, so one forced tactic runs them all) of widths that
    are not multiples of 8 written into their LINEAR concatenation slices (strided outputs)."""
    need_hopper()
    C, H, W = 13, 9, 7
    specs = [(5, (3, 3), dict(padding=1)), (17, (5, 5), dict(padding=2)), (8, (3, 3), dict(padding=2, dilation=2))]
    params = [(K, RS, f) + conv_weights(rng, K, C, *RS) for K, RS, f in specs]
    relu = gie.ActivationType.RELU

    def define(net, t):
        outs = [net.add_activation(net.add_convolution(t["x"], K, RS, w, b, **f).output(0), relu).output(0)
                for K, RS, f, w, b in params]
        return net.add_concatenation(outs, axis=1).output(0)

    info = fp16(define, {"x": randn(rng, (3, C, H, W))}, tactic)
    assert [k["tactic"] for k in conv_kernels(info)] == [tactic] * 3


def test_wgmma_convolution_chain_and_builder_choice(rng):
    """A ResNet basic block with downsampling (3x3 stride 2 + ReLU -> 3x3, plus a 1x1 stride-2 projection, summed, ReLU;
    HWC8 between the layers, odd channel counts): each gathering tactic forced on all three convolutions, then the
    builder's own choice among every variant."""
    need_hopper()
    C, K = 40, 72
    w1, b1 = conv_weights(rng, K, C, 3, 3)
    w2, b2 = conv_weights(rng, K, K, 3, 3)
    wp, bp = conv_weights(rng, K, C, 1, 1)
    relu = gie.ActivationType.RELU

    def define(net, t):
        y = net.add_activation(net.add_convolution(t["x"], K, (3, 3), w1, b1, padding=1, stride=2).output(0), relu).output(0)
        y = net.add_convolution(y, K, (3, 3), w2, b2, padding=1).output(0)
        s = net.add_convolution(t["x"], K, (1, 1), wp, bp, stride=2).output(0)
        return net.add_activation(net.add_elementwise(y, s, gie.ElementWiseOperation.SUM).output(0), relu).output(0)

    inputs = {"x": randn(rng, (4, C, 29, 31))}
    for tactic in GENERAL:
        info = compare_gpu_cpu(define, inputs, fp16=True, force={"Convolution": tactic}, expect_half=("Convolution",), **CHAIN_TOL)
        assert [k["tactic"] for k in conv_kernels(info)] == [tactic] * 3
    info = compare_gpu_cpu(define, inputs, fp16=True, expect_half=("Convolution",), **CHAIN_TOL)
    assert len(conv_kernels(info)) == 3


def test_wgmma_tactics_follow_the_kernel_shape(rng):
    """A plain 1x1 layer (stride 1, unpadded) is offered the TMA 1x1 tactics, any other layer the gathering ones; forcing
    the other kind fails, naming the tactic."""
    need_hopper()
    w1, b1 = conv_weights(rng, 16, 24, 1, 1)
    one = lambda net, t: net.add_convolution(t["x"], 16, (1, 1), w1, b1).output(0)
    w3, b3 = conv_weights(rng, 16, 24, 3, 3)
    three = lambda net, t: net.add_convolution(t["x"], 16, (3, 3), w3, b3, padding=1).output(0)
    x = {"x": randn(rng, (2, 24, 6, 7))}
    for define, mine, other in ((one, ONE_BY_ONE, GENERAL), (three, GENERAL, ONE_BY_ONE)):
        conv, = conv_kernels(fp16(define, x, mine[0]))
        assert [t["tactic"] for t in conv["tactic_times_ms"]] == mine
        with pytest.raises(gie.Error, match=other[0]):
            fp16(define, x, other[0])


def test_wgmma_convolution_not_offered_without_hopper(rng):
    """Without sm_90a code on a compute capability 9.0 GPU the kernel takes no layer: forcing a gathering tactic fails,
    naming it, and the builder's choice still runs the layer (mma.sync)."""
    if wgmma_expected():
        pytest.skip("a Hopper GPU with sm_90a code: the tactics are offered (the other tests check them)")
    case = BY_ID["c20_k36_3x3_stride2_pad1_odd"]
    _, C, H, W, K, (R, S), fields, batch = case
    w, b = conv_weights(rng, K, C, R, S)
    inputs = {"x": randn(rng, (batch, C, H, W))}
    for tactic in GENERAL:
        with pytest.raises(gie.Error, match=tactic):
            fp16(conv_define(case, w, b), inputs, tactic)
    conv, = conv_kernels(compare_gpu_cpu(conv_define(case, w, b), inputs, fp16=True, expect_half=("Convolution",), **TOL))
    assert conv["variant"] != "f16_hwc8_wgmma"
