"""FP16 storage on the GPU for the GEMM family (FullyConnected, MatrixMultiply, Deconvolution) and the linear-format
Convolution kernel (issue 12 item 5): every tactic of each kernel, forced in turn, built with FP16 allowed and every
layer pinned to HALF (gpu_util.compare_gpu_cpu(..., fp16=True)), against the CPU FP16 reference (the same rounding
points: inputs and outputs of the layer in half, weights rounded to half, biases FP32, FP32 sums), on awkward shapes
(odd channels and sizes, C not a multiple of 8, 1x1 and 7x7 spatial, stride 2, groups, depthwise, fused residual
and activations), at batch 13 and 1 (several batches below the built one for a few). Outputs are poisoned.

The tactic lists come from an FP32 build: these kernels offer the same tactics for FP32 and FP16 storage (what a
tactic can run does not depend on the element type), and forcing a tactic name of the linear Convolution kernel
selects that kernel rather than another FP16 variant; FullyConnected and MatrixMultiply add the tensor-core
tactics (hgemm_mma_*) that only an FP16 build offers.

Tolerance: weights are scaled by 1/sqrt(fan-in), so outputs are O(1) (|y| < 8). The GPU and the CPU round to half
at the same points but sum in different orders, so an output can land on the neighbouring half value: one half ulp
is 2^-8 at |y| < 8, 2^-11 relative. rtol = atol = 5e-3 allows that and nothing like a wrong element."""
import numpy as np
import pytest

import gie
from gpu_util import compare_gpu_cpu, gpu_tactics, randn, wgmma_expected

pytestmark = pytest.mark.gpu

N = 13  # max batch; compare_gpu_cpu also runs batch 1
TOL = dict(rtol=5e-3, atol=5e-3)


def each_tactic_fp16(define, inputs, kernel, must_have=(), check=None, **kw):
    """compare_gpu_cpu with FP16 (every step of type ``kernel`` must run HALF) once per tactic of ``kernel``,
    forced, checking that it ran (and ``check(layer_info)`` where given); returns the tactic names."""
    off = kw.get("passes_off", ())
    tactics = gpu_tactics(define, inputs, kernel, passes_off=off)
    if kernel in ("FullyConnected", "MatrixMultiply"):
        # the tensor-core tactics: hgemm_mma_* (sm_80+) and, on sm_90a, hgemm_wgmma_* where the row pitches allow
        tactics += [t for t in gpu_tactics(define, inputs, kernel, fp16=True, passes_off=off) if t.startswith("hgemm_") and t not in tactics]
    assert tactics, f"the GPU {kernel} kernel offers no tactic"
    for t in must_have:
        assert t in tactics, f"{kernel}: tactic {t} missing from {tactics}"
    for t in tactics:
        info = compare_gpu_cpu(define, inputs, force={kernel: t}, fp16=True, expect_half=(kernel,), **TOL, **kw)
        chosen = [k["tactic"] for k in info["kernels"] if k["type"] == kernel]
        assert chosen and all(c == t for c in chosen), (t, chosen)
        if check is not None:
            check(info)
    return tactics


# ================================================================================================ FullyConnected

FC_CASES = [
    # id, input shape without the batch, num_outputs, axis, bias, batch, activation
    ("chw_13x7x7_to_33_relu", (13, 7, 7), 33, None, True, N, (gie.ActivationType.RELU,)),  # flat 637: scalar input loads
    ("flat_2048_to_1000_batch1", (2048,), 1000, None, True, 1, None),      # GEMV / split-K
    ("odd_13_to_7_nobias", (13,), 7, None, False, N, None),
    ("global_pooled_64x1x1", (64, 1, 1), 10, None, True, N, (gie.ActivationType.SIGMOID,)),  # staged epilogue
    ("axis2", (4, 3, 5), 6, 2, True, N, None),                              # M = 4N rows, ldc = 6
    ("aligned_256_to_128", (256,), 128, None, True, N, None),               # 4-element (8-byte) half loads
    ("deep_1000_to_64", (1000,), 64, None, True, 3, None),                  # split-K partials in FP32
    ("sequence_50x96_to_384_gelu", (50, 96), 384, 2, True, N, (gie.ActivationType.GELU,)),  # a transformer MLP
]


def fc_define(rng, full, K, axis, has_bias, act):
    """A FullyConnected of K outputs over axes [axis, ...) of an input shaped `full` (batch included; axis None: 1),
    random weights, an optional bias and an optional activation (a tuple: type, then its alpha / beta)."""
    ax = 1 if axis is None else axis % len(full)
    flat = int(np.prod(full[ax:]))
    w = randn(rng, (K, flat), 1.0 / np.sqrt(flat))
    b = randn(rng, (K,), 0.5) if has_bias else None

    def define(net, t):
        y = net.add_fully_connected(t["x"], K, w, b, axis=axis).output(0)
        if act is not None:
            y = net.add_activation(y, act[0], *act[1:]).output(0)
        return y
    return define


@pytest.mark.parametrize("case", FC_CASES, ids=[c[0] for c in FC_CASES])
def test_fully_connected_fp16_every_tactic(case, rng):
    _, shape, K, axis, has_bias, batch, act = case
    full = (batch,) + shape
    define = fc_define(rng, full, K, axis, has_bias, act)
    each_tactic_fp16(define, {"x": randn(rng, full)}, "FullyConnected", must_have=("sgemm_64x64x8_8x8",))


def test_fully_connected_fp16_batches_below_max(rng):
    """Built for batch 13, run at 13, 6, 2 and 1 with every tactic."""
    w = randn(rng, (33, 637), 1.0 / np.sqrt(637))
    b = randn(rng, (33,), 0.5)
    define = lambda net, t: net.add_fully_connected(t["x"], 33, w, b).output(0)
    each_tactic_fp16(define, {"x": randn(rng, (N, 13, 7, 7))}, "FullyConnected", batches=(13, 6, 2, 1))


WGMMA = "hgemm_wgmma_128x128x64_s4"  # sm_90a: TMA + wgmma (cuda/kernels/gemm_wgmma_f16.cu)
WGMMA_FC_CASES = [
    # id, flat (a multiple of 8: 16-byte row pitches for the tensor maps), num_outputs, batch, activation
    ("flat8_k17", 8, 17, 3, None),                                  # K = 8: one k-tile, mostly zero-filled
    ("flat24_k130", 24, 130, 3, (gie.ActivationType.RELU,)),       # N tail past 128
    ("flat2048_k1000", 2048, 1000, 3, None),                       # ResNet-50's classifier
    ("flat4096_k1024_rows130", 4096, 1024, 130, (gie.ActivationType.SIGMOID,)),  # M tail past 128, 64 k-tiles
    ("flat1000_k64", 1000, 64, 13, None),                           # K tail inside a k-tile (1000 = 15*64 + 40)
]


@pytest.mark.parametrize("case", WGMMA_FC_CASES, ids=[c[0] for c in WGMMA_FC_CASES])
def test_fully_connected_fp16_wgmma(case, rng):
    """The Hopper tactic, forced, at batch ``batch`` and 1; offered exactly where it can run (sm_90a code on a compute
    capability 9.0 GPU), never elsewhere."""
    _, flat, K, batch, act = case
    w = randn(rng, (K, flat), 1.0 / np.sqrt(flat))
    b = randn(rng, (K,), 0.5)

    def define(net, t):
        y = net.add_fully_connected(t["x"], K, w, b).output(0)
        return net.add_activation(y, act[0], *act[1:]).output(0) if act else y
    inputs = {"x": randn(rng, (batch, flat))}
    offered = gpu_tactics(define, inputs, "FullyConnected", fp16=True)
    if not wgmma_expected():
        assert WGMMA not in offered, offered
        return
    assert WGMMA in offered, offered
    info = compare_gpu_cpu(define, inputs, force={"FullyConnected": WGMMA}, fp16=True, expect_half=("FullyConnected",), **TOL)
    fc, = [k for k in info["kernels"] if k["type"] == "FullyConnected"]
    assert fc["tactic"] == WGMMA and fc["tactic_architecture"] == "sm_90a"


PERSIST = "hgemm_wgmma_persist_128x128x64_s4"  # sm_90a, persistent (gemm_wgmma_f16_persistent.cuh)
PERSIST_CASES = [
    # id, input shape without the batch (the FC is over its last axis), num_outputs, bias, activation
    ("rank4_k96_n384_gelu", (5, 7, 96), 384, True, gie.ActivationType.GELU),     # ConvNeXt stage 1's first FC; M = 455
    ("rank4_k200_n7_relu", (3, 11, 200), 7, True, gie.ActivationType.RELU),      # K tail 200 = 3*64 + 8; N = 7 < 4 lanes' 8
    ("rank4_k24_n96", (2, 9, 24), 96, False, None),                              # N = 96 < the 128-column tile, no bias
    ("rank2_k8_n384_gelu", (8,), 384, True, gie.ActivationType.GELU),           # one k-tile of 8 (56 zero-filled)
    ("rank2_k96_n7", (96,), 7, True, None),                                      # 13 rows, 7 columns: tails everywhere
    ("rank3_k384_n96_relu", (61, 384), 96, True, gie.ActivationType.RELU),      # ConvNeXt's second FC shape (384 -> 96)
    # 13 * 8 * 32 = 3328 rows x 1536: 312 tiles, more than any GPU's SMs, so blocks walk several tiles and the 4-stage
    # ring wraps across tile boundaries (2 k-tiles per tile)
    ("rank4_k96_n1536_gelu_many_tiles", (8, 32, 96), 1536, True, gie.ActivationType.GELU),
    ("rank3_k200_n384_sigmoid_many_tiles", (800, 200), 384, True, gie.ActivationType.SIGMOID),  # 246 tiles, 4 k-tiles, run-time act
]


@pytest.mark.parametrize("case", PERSIST_CASES, ids=[c[0] for c in PERSIST_CASES])
def test_fully_connected_fp16_wgmma_persistent(case, rng, monkeypatch):
    """The persistent Hopper tactic, forced, FC over the last axis of rank-2/3/4 inputs, at batch 13 and 1, against the
    CPU FP16 reference with poisoned outputs. The builder offers it by default (without GIE_UNVERIFIED_TACTICS: it
    left engine/tactic_architecture.h's list after this test passed on an H100), exactly where the one-tile wgmma
    tactic is."""
    _, shape, K, has_bias, act = case
    full = (N,) + shape
    flat = shape[-1]
    w = randn(rng, (K, flat), 1.0 / np.sqrt(flat))
    b = randn(rng, (K,), 0.5) if has_bias else None

    def define(net, t):
        y = net.add_fully_connected(t["x"], K, w, b, axis=len(full) - 1).output(0)
        return net.add_activation(y, act).output(0) if act is not None else y
    inputs = {"x": randn(rng, full)}
    monkeypatch.delenv("GIE_UNVERIFIED_TACTICS", raising=False)
    offered = gpu_tactics(define, inputs, "FullyConnected", fp16=True)
    if not wgmma_expected():
        assert PERSIST not in offered and WGMMA not in offered, offered
        return
    assert PERSIST in offered and WGMMA in offered, offered
    info = compare_gpu_cpu(define, inputs, force={"FullyConnected": PERSIST}, fp16=True, expect_half=("FullyConnected",), **TOL)
    fc, = [k for k in info["kernels"] if k["type"] == "FullyConnected"]
    assert fc["tactic"] == PERSIST and fc["tactic_architecture"] == "sm_90a"
    if act is not None:  # the activation ran in the FC's epilogue, not as a kernel of its own
        assert not [k for k in info["kernels"] if k["type"] == "Activation"], info["kernels"]


def test_fully_connected_fp16_wgmma_persistent_in_tactic_timing(rng, monkeypatch):
    """Every FC tactic the builder offers by default, the persistent one included, is forced in turn on ConvNeXt's MLP
    shape (rank 4, 96 -> 384, GELU) through each_tactic_fp16: the persistent tactic agrees where the others do."""
    monkeypatch.delenv("GIE_UNVERIFIED_TACTICS", raising=False)
    w = randn(rng, (384, 96), 1.0 / np.sqrt(96))
    b = randn(rng, (384,), 0.5)

    def define(net, t):
        y = net.add_fully_connected(t["x"], 384, w, b, axis=3).output(0)
        return net.add_activation(y, gie.ActivationType.GELU).output(0)
    tactics = each_tactic_fp16(define, {"x": randn(rng, (N, 3, 5, 96))}, "FullyConnected")
    assert (PERSIST in tactics) == wgmma_expected(), tactics


@pytest.mark.parametrize("outs", [(13, 20), (16, 20)], ids=["odd_offset", "aligned_offset"])
def test_fully_connected_fp16_wgmma_persistent_into_concat_slices(outs, rng):
    """Two FCs (24 -> outs) concatenated on axis 1 write into slices of one buffer (rows ldc = sum(outs) apart): with
    (13, 20) the second slice starts at an odd column (element-wise stores), with (16, 20) both may use the 8-byte
    stores at ldc = 36 != N. The persistent tactic forced on both."""
    ws = [(randn(rng, (k, 24), 1.0 / np.sqrt(24)), randn(rng, (k,), 0.5)) for k in outs]

    def define(net, t):
        ys = [net.add_fully_connected(t["x"], k, w, b).output(0) for k, (w, b) in zip(outs, ws)]
        ys[0] = net.add_activation(ys[0], gie.ActivationType.GELU).output(0)
        return net.add_concatenation(ys, axis=1).output(0)
    inputs = {"x": randn(rng, (N, 24))}
    if not wgmma_expected():
        assert PERSIST not in gpu_tactics(define, inputs, "FullyConnected", fp16=True)
        return
    info = compare_gpu_cpu(define, inputs, force={"FullyConnected": PERSIST}, fp16=True, expect_half=("FullyConnected",), **TOL)
    fcs = [k for k in info["kernels"] if k["type"] == "FullyConnected"]
    assert len(fcs) == 2 and all(k["tactic"] == PERSIST for k in fcs), fcs
    print("concatenation eliminated:", not any(k["type"] == "Concatenation" for k in info["kernels"]))


@pytest.mark.parametrize("channels", [64, 24, 20])
def test_fully_connected_fp16_reads_pooled_hwc8_without_reformat(channels, rng):
    """conv 3x3 (FP16, HWC8 where C % 8 == 0) -> global average pooling -> FC: the pooled (N, C, 1, 1) HWC8 features lie
    exactly as LINEAR rows when C % 8 == 0, so the FC reads them with no Reformat before it (issue 13, batch-1 latency);
    C = 20 pads HWC8 to 24 channels, so there the FC must not read HWC8. Every FC tactic forced, against the CPU FP16
    reference."""
    C = channels
    w1 = randn(rng, (C, 8, 3, 3), 1.0 / np.sqrt(72))
    w2 = randn(rng, (10, C), 1.0 / np.sqrt(C))
    b2 = randn(rng, (10,), 0.5)

    def define(net, t):
        c = net.add_convolution(t["x"], C, (3, 3), w1, np.zeros(C, np.float32), padding=(1, 1))
        p = net.add_pooling(c.output(0), gie.PoolingType.AVERAGE, (7, 5))
        return net.add_fully_connected(p.output(0), 10, w2, b2).output(0)
    def check(info):
        kernels = info["kernels"]
        fc = next(k for k in kernels if k["type"] == "FullyConnected")
        pool = next(k for k in kernels if k["type"] == "Pooling")
        fmt = fc["inputs"][0]["format"]
        print(fc["tactic"], "pooling out:", pool["outputs"][0]["format"], "FC in:", fmt)
        if C % 8:
            assert fmt == "linear", fmt
        elif pool["outputs"][0]["format"] == "hwc8":
            # the FC reads the pooling's output itself (no Reformat between them)
            assert fc["inputs"][0]["name"] == pool["outputs"][0]["name"] and fmt == "hwc8", (pool["outputs"], fc["inputs"])
    each_tactic_fp16(define, {"x": randn(rng, (N, 8, 7, 5))}, "FullyConnected", check=check)


def test_fully_connected_fp16_wgmma_needs_rows_of_8(rng):
    """An input row of 13 halves (26 bytes) cannot be a TMA row pitch: the tactic is not offered."""
    w = randn(rng, (20, 13), 0.3)
    define = lambda net, t: net.add_fully_connected(t["x"], 20, w, None).output(0)
    assert WGMMA not in gpu_tactics(define, {"x": randn(rng, (N, 13))}, "FullyConnected", fp16=True)


# ================================================================================================ MatrixMultiply

def stored(shape, transposed):
    """The stored shape of a logical matrix (last two dimensions swapped when transposed)."""
    if not transposed or len(shape) < 2:
        return shape
    return shape[:-2] + (shape[-1], shape[-2])


MM_CASES = [
    # id, logical A shape, logical B shape; A is a network input (dim 0 = batch), B a constant
    ("stack_times_matrix", (N, 7, 33), (33, 5)),
    ("broadcast_b_batch", (N, 3, 70, 17), (1, 17, 9)),
    ("matrix_times_vector", (N, 9), (9,)),               # the GEMV
    ("deep_k", (N, 1000), (1000, 20)),                   # split-K
    ("aligned_64x128_times_128x64", (N, 64, 128), (128, 64)),  # 8-byte half loads of both operands
]


@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)], ids=["nn", "tn", "nt", "tt"])
@pytest.mark.parametrize("case", MM_CASES, ids=[c[0] for c in MM_CASES])
def test_matrix_multiply_fp16_every_tactic(case, ta, tb, rng):
    _, sa, sb = case
    if len(sa) == 2 and ta:
        pytest.skip("a transposed 2-D input would have K as its batch dimension (invalid at batch 1)")
    a = randn(rng, stored(sa, ta))
    b = randn(rng, stored(sb, tb), 1.0 / np.sqrt(sa[-1]))

    def define(net, t):
        bc = net.add_constant(b.shape, b).output(0)
        return net.add_matrix_multiply(t["a"], bc, transpose_a=ta, transpose_b=tb).output(0)
    each_tactic_fp16(define, {"a": a}, "MatrixMultiply", must_have=("sgemm_64x64x8_8x8", "hgemm_mma_64x64x32"),
                     passes_off=("matmul_to_fully_connected",))  # else x times a constant matrix is a FullyConnected


def test_matrix_multiply_fp16_two_inputs(rng):
    """Both operands from the network, a broadcast batch dimension, batches 13, 5 and 1."""
    a = randn(rng, (N, 1, 9, 4))
    b = randn(rng, (N, 3, 4, 7), 0.5)
    define = lambda net, t: net.add_matrix_multiply(t["a"], t["b"]).output(0)
    each_tactic_fp16(define, {"a": a, "b": b}, "MatrixMultiply", batches=(13, 5, 1))


# ================================================================================================ split-K on mma.sync

SPLITK = "hgemm_mma_splitk_64x64x32"  # gemm.cuh: written without a GPU, verified on an H100 on 2026-12-08
SPLITK_FC_CASES = [
    # id, input shape with the batch, num_outputs, axis, bias, activation
    ("vit_fc2_197x1536_to_384_gelu", (1, 197, 1536), 384, 2, True, gie.ActivationType.GELU),  # 4 x 6 tiles, K = 1536
    ("classifier_2048_to_1000_batch1", (1, 2048), 1000, None, True, None),                    # M = 1
    ("k1000_tail_to_64_batch3", (3, 1000), 64, None, False, gie.ActivationType.SIGMOID),     # K = 31 * 32 + 8
    ("rows_37_k777_to_50", (N, 37, 777), 50, 2, True, gie.ActivationType.RELU),              # odd everything
]


@pytest.mark.parametrize("case", SPLITK_FC_CASES, ids=[c[0] for c in SPLITK_FC_CASES])
def test_fully_connected_fp16_splitk_mma(case, rng, monkeypatch):
    """The FP16 split-K mma.sync tactic, forced, against the CPU FP16 reference with poisoned outputs at the input's
    batch and at batch 1; the builder offers it by default unless engine/tactic_architecture.h holds it back (it did
    until these tests passed on an H100, 2026-12-08), and always with GIE_UNVERIFIED_TACTICS=1."""
    _, full, K, axis, has_bias, act = case
    define = fc_define(rng, full, K, axis, has_bias, (act,) if act is not None else None)
    inputs = {"x": randn(rng, full)}
    monkeypatch.delenv("GIE_UNVERIFIED_TACTICS", raising=False)
    assert (SPLITK in gpu_tactics(define, inputs, "FullyConnected", fp16=True)) != gie._C.tactic_unverified(SPLITK)
    monkeypatch.setenv("GIE_UNVERIFIED_TACTICS", "1")
    assert SPLITK in gpu_tactics(define, inputs, "FullyConnected", fp16=True)
    monkeypatch.delenv("GIE_UNVERIFIED_TACTICS", raising=False)
    info = compare_gpu_cpu(define, inputs, force={"FullyConnected": SPLITK}, fp16=True, expect_half=("FullyConnected",), **TOL)
    fc, = [k for k in info["kernels"] if k["type"] == "FullyConnected"]
    assert fc["tactic"] == SPLITK and fc["tactic_architecture"] == "sm_80"


def test_fully_connected_fp16_splitk_mma_refused_for_short_k(rng):
    """K = 96 (under two 128-deep slices): nothing to split, so forcing the tactic fails at build, naming it."""
    w = randn(rng, (40, 96), 0.1)
    define = lambda net, t: net.add_fully_connected(t["x"], 40, w, None).output(0)
    with pytest.raises(gie.Error, match=SPLITK):
        compare_gpu_cpu(define, {"x": randn(rng, (N, 96))}, force={"FullyConnected": SPLITK}, fp16=True, **TOL)


@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)], ids=["nn", "tn", "nt", "tt"])
def test_matrix_multiply_fp16_splitk_mma(ta, tb, rng):
    """Batched (13 x 3 matrices of 70 x 1000 times a broadcast 1000 x 20): the partial sums of every (matrix, split)
    land apart and the reduction adds each matrix's own; every transpose combination."""
    sa, sb = (N, 3, 70, 1000), (1000, 20)
    a = randn(rng, stored(sa, ta))
    b = randn(rng, stored(sb, tb), 1.0 / np.sqrt(1000))

    def define(net, t):
        bc = net.add_constant(b.shape, b).output(0)
        return net.add_matrix_multiply(t["a"], bc, transpose_a=ta, transpose_b=tb).output(0)
    info = compare_gpu_cpu(define, {"a": a}, force={"MatrixMultiply": SPLITK}, fp16=True, expect_half=("MatrixMultiply",),
                           passes_off=("matmul_to_fully_connected",), **TOL)
    assert [k["tactic"] for k in info["kernels"] if k["type"] == "MatrixMultiply"] == [SPLITK]


# ================================================================================================ Deconvolution

DECONV_CASES = [
    # id, (C, H, W), K, (R, S), stride, padding, groups, bias
    ("3x3_s1_odd", (3, 5, 7), 5, (3, 3), 1, 1, 1, True),      # Kg <= 4: KT = 4 (8-byte half weight loads)
    ("4x4_s2_c9_k12", (9, 6, 5), 12, (4, 4), 2, 1, 1, True),  # KT = 8 (16-byte half weight loads)
    ("3x3_s2_groups3", (6, 5, 6), 9, (3, 3), 2, 1, 3, False),
    ("1x1", (5, 6, 6), 7, (1, 1), 1, 0, 1, True),
    ("7x7_s2_on_1x1", (4, 1, 1), 3, (7, 7), 2, 0, 1, True),   # 7x7 output from a 1x1 input
]


@pytest.mark.parametrize("case", DECONV_CASES, ids=[c[0] for c in DECONV_CASES])
def test_deconvolution_fp16(case, rng):
    _, (C, H, W), K, (R, S), stride, pad, groups, has_bias = case
    w = randn(rng, (C, K // groups, R, S), 1.0 / np.sqrt(C // groups * R * S))
    b = randn(rng, (K,), 0.5) if has_bias else None

    def define(net, t):
        return net.add_deconvolution(t["x"], K, (R, S), w, b, stride=stride, padding=pad, num_groups=groups).output(0)
    each_tactic_fp16(define, {"x": randn(rng, (N, C, H, W))}, "Deconvolution", batches=(13, 4, 1))


# ================================================================================================ Convolution (linear)

CONV_CASES = [
    # id, C, H, W, K, (R, S), fields
    ("3x3_pad1_odd_channels", 5, 9, 7, 7, (3, 3), dict(padding=1)),     # implicit GEMM, 3xTF32, Winograd
    ("1x1_c12_k10", 12, 8, 8, 10, (1, 1), dict()),                       # gemm1x1: 8-byte half pixel loads
    ("1x1_odd_spatial", 7, 5, 3, 9, (1, 1), dict()),                     # H*W odd: generic loader
    ("7x7_stride2_pad3_groups2", 6, 15, 13, 4, (7, 7), dict(stride=2, padding=3, num_groups=2)),
    ("depthwise_3x3_stride2", 9, 9, 8, 9, (3, 3), dict(num_groups=9, stride=2, padding=1)),
    ("3x3_on_1x1", 3, 1, 1, 5, (3, 3), dict(padding=1)),
    ("7x7_output_c64_k130", 64, 7, 7, 130, (3, 3), dict(padding=1)),    # K > 128, P*Q = 49: split-K
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_convolution_linear_fp16_every_tactic(case, rng):
    _, C, H, W, K, (R, S), fields = case
    groups = fields.get("num_groups", 1)
    w = randn(rng, (K, C // groups, R, S), 1.0 / np.sqrt(C // groups * R * S))
    b = randn(rng, (K,), 0.5)
    define = lambda net, t: net.add_convolution(t["x"], K, (R, S), w, b, **fields).output(0)
    must = ["direct_naive"] + (["depthwise_direct"] if groups == C else ["implicit_gemm_64x64x8_4x4"])
    each_tactic_fp16(define, {"x": randn(rng, (N, C, H, W))}, "Convolution", must_have=must)


def test_convolution_linear_fp16_residual_relu(rng):
    """conv + bias + residual add + ReLU fused into one step: the residual is read as half in every tactic."""
    C, K = 6, 6
    w = randn(rng, (K, C, 3, 3), 1.0 / np.sqrt(C * 9))
    b = randn(rng, (K,), 0.5)

    def define(net, t):
        y = net.add_convolution(t["x"], K, (3, 3), w, b, padding=1).output(0)
        y = net.add_elementwise(y, t["x"], gie.ElementWiseOperation.SUM).output(0)
        return net.add_activation(y, gie.ActivationType.RELU).output(0)
    each_tactic_fp16(define, {"x": randn(rng, (N, C, 7, 9))}, "Convolution", batches=(13, 5, 1))
