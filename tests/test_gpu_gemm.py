"""GPU FullyConnected and MatrixMultiply (the hand-written SGEMM of cuda/kernels/gemm.cuh) against the CPU kernels:
odd sizes (flat 7*7*13 = 637, 33 outputs, K = 1), batch 13 and 1, with and without bias, every fused activation,
FC axes 2 / 3 / -1, strided outputs (FCs written straight into their slices of a concatenation), and MatMul with
every transpose combination, broadcast batch dimensions, 1-D operands, both operands from the network, and every
tactic of both kernels forced in turn (tile SGEMMs 128x128 .. 32x32, split-K, the warp-per-dot GEMV).

Weights are scaled by 1/sqrt(fan-in) so outputs are O(1): rtol = atol = 1e-4 covers the different FP32 summation
orders of the GPU tiles / split-K partial sums / warp reductions and the CPU GEMM."""
import numpy as np
import pytest

import gie
import gpu_util
from gpu_util import compare_gpu_cpu, each_tactic_per_kernel, gpu_tactics, randn

pytestmark = pytest.mark.gpu

N = 13  # max batch; compare_gpu_cpu also runs batch 1
TOL = dict(rtol=1e-4, atol=1e-4)

TILE_TACTICS = ["sgemm_128x128x8_8x8", "sgemm_128x64x8_8x8", "sgemm_64x128x8_8x8", "sgemm_64x64x8_8x8",
                "sgemm_32x32x8_4x4"]
SPLITK_TACTICS = ["sgemm_splitk_64x64x8_8x8", "sgemm_splitk_32x32x8_4x4"]
GEMV = "gemv_warp_dot"
ALL_TACTICS = TILE_TACTICS + SPLITK_TACTICS + [GEMV]


def each_tactic(define, inputs, kernel, **kw):
    """gpu_util.each_tactic, and every tactic offered is one of ALL_TACTICS."""
    tactics = gpu_util.each_tactic(define, inputs, kernel, **kw)
    assert set(tactics) <= set(ALL_TACTICS), tactics
    return tactics


def kernels_of(info, kernel_type):
    return [k for k in info["kernels"] if k["type"] == kernel_type]


# ================================================================================================ FullyConnected

def fc_weights(rng, K, flat, bias=True):
    w = randn(rng, (K, flat), 1.0 / np.sqrt(flat))
    b = randn(rng, (K,), 0.5) if bias else None
    return w, b


FC_CASES = [
    # id, input shape without the batch, num_outputs, axis, bias, batch
    ("chw_13x7x7_to_33", (13, 7, 7), 33, None, True, N),       # flat 637: no float4 loads of the input
    ("chw_13x7x7_to_33_nobias", (13, 7, 7), 33, None, False, N),
    ("flat_2048_to_1000_batch1", (2048,), 1000, None, True, 1),  # GEMV / split-K territory
    ("flat_2048_to_1000_batch4", (2048,), 1000, None, True, 4),
    ("odd_13_to_7", (13,), 7, None, True, N),
    ("one_output", (5, 3, 4), 1, None, False, N),
    ("global_pooled_64x1x1", (64, 1, 1), 10, None, True, N),
    ("single_input", (1, 1, 1), 3, None, True, N),
    ("axis2", (4, 3, 5), 6, 2, True, N),                         # (N, 4, 15) -> (N, 4, 6): M = 4N rows
    ("axis3", (4, 3, 5), 6, 3, True, 7),
    ("negative_axis", (4, 3, 5), 6, -1, False, 5),
    ("many_rows", (96, 40), 130, 2, True, N),                    # M = 1248, N = 130: several 128x128 tiles
    ("deep_1000_to_64", (1000,), 64, None, True, 3),             # K = 1000 with few outputs: split-K
    ("aligned_256_to_128", (256,), 128, None, True, N),          # flat % 4 == 0: float4 input loads
]


def fc_define(case, w, b, act=None):
    _, _, K, axis, _, _ = case

    def define(net, t):
        y = net.add_fully_connected(t["x"], K, w, b, axis=axis).output(0)
        if act is not None:
            y = net.add_activation(y, act[0], *act[1:]).output(0)
        return y
    return define


def fc_rows(case):
    """(rows M, outputs N) of the FC's GEMM at the case's batch."""
    _, shape, K, axis, _, batch = case
    full = (batch,) + shape
    ax = 1 if axis is None else axis % len(full)
    return int(np.prod(full[:ax])), K


@pytest.mark.parametrize("case", FC_CASES, ids=[c[0] for c in FC_CASES])
def test_fully_connected_every_tactic(case, rng):
    _, shape, K, axis, has_bias, batch = case
    full = (batch,) + shape
    ax = 1 if axis is None else axis % len(full)
    flat = int(np.prod(full[ax:]))
    w, b = fc_weights(rng, K, flat, has_bias)
    M, Nout = fc_rows(case)
    must = list(TILE_TACTICS)
    must_not = []
    if min(M, Nout) <= 16:
        must.append(GEMV)
    else:
        must_not.append(GEMV)
    if M * Nout <= 64 * 64 and flat >= 256:
        must += SPLITK_TACTICS  # one output tile, at least two 128-deep slices of K
    if flat < 256:
        must_not += SPLITK_TACTICS
    each_tactic(fc_define(case, w, b), {"x": randn(rng, full)}, "FullyConnected", must_have=must, must_not=must_not)


def test_fully_connected_batches_below_max(rng):
    """Built for batch 13, run at 13, 5, 2 and 1 with every tactic (the tactic was chosen for the largest shapes)."""
    case = FC_CASES[0]
    w, b = fc_weights(rng, 33, 637)
    each_tactic(fc_define(case, w, b), {"x": randn(rng, (N, 13, 7, 7))}, "FullyConnected", batches=(13, 5, 2, 1))


def test_fully_connected_tactic_names_are_stable(rng):
    """A batch-1 FC 2048 -> 1000 offers every tactic (engine files and timing caches refer to the names)."""
    w, b = fc_weights(rng, 1000, 2048)
    tactics = gpu_tactics(lambda net, t: net.add_fully_connected(t["x"], 1000, w, b).output(0),
                          {"x": randn(rng, (1, 2048))}, "FullyConnected")
    assert sorted(tactics) == sorted(ALL_TACTICS), tactics


ACTS = [
    ("relu", (gie.ActivationType.RELU,)),
    ("leaky", (gie.ActivationType.LEAKY_RELU, 0.1)),
    ("clip", (gie.ActivationType.CLIP, -0.3, 0.4)),
    ("relu6", (gie.ActivationType.RELU6,)),
    ("sigmoid", (gie.ActivationType.SIGMOID,)),
    ("tanh", (gie.ActivationType.TANH,)),
    ("elu", (gie.ActivationType.ELU, 0.7)),
    ("selu", (gie.ActivationType.SELU,)),
    ("silu", (gie.ActivationType.SILU,)),
    ("gelu", (gie.ActivationType.GELU,)),
    ("hard_swish", (gie.ActivationType.HARD_SWISH,)),
    ("hard_sigmoid", (gie.ActivationType.HARD_SIGMOID, 0.2, 0.5)),
    ("softplus", (gie.ActivationType.SOFTPLUS,)),
    ("mish", (gie.ActivationType.MISH,)),
]


@pytest.mark.parametrize("act", ACTS, ids=[a[0] for a in ACTS])
@pytest.mark.parametrize("case", [FC_CASES[0], FC_CASES[2], FC_CASES[11]], ids=lambda c: c[0])
def test_fully_connected_fused_activation_every_tactic(case, act, rng):
    """FC + Activation fuse into one kernel whose epilogue applies bias and activation: the cheap activations
    straight from the registers, the others through the staged (shared-memory) epilogue, the split-K
    reduction or the GEMV's lanes -- every tactic."""
    _, shape, K, axis, has_bias, batch = case
    full = (batch,) + shape
    ax = 1 if axis is None else axis % len(full)
    flat = int(np.prod(full[ax:]))
    w, b = fc_weights(rng, K, flat, has_bias)
    define = fc_define(case, w, b, act[1])
    x = {"x": randn(rng, full, 2.0)}  # spread the pre-activations over both sides of the kinks
    each_tactic(define, x, "FullyConnected")
    info = compare_gpu_cpu(define, x, **TOL)
    assert not kernels_of(info, "Activation"), "the activation was not fused into the FullyConnected kernel"
    fc = kernels_of(info, "FullyConnected")
    assert len(fc) == 1 and any("fused activation" in n for n in fc[0]["notes"]), fc


def concat_fc_define(rng, flat, specs):
    """FCs of x (num_outputs, activation or None) concatenated on axis 1: each writes into its slice."""
    layers = []
    for K, act in specs:
        w, b = fc_weights(rng, K, flat)
        layers.append((K, w, b, act))

    def define(net, t):
        outs = []
        for K, w, b, act in layers:
            y = net.add_fully_connected(t["x"], K, w, b).output(0)
            if act is not None:
                y = net.add_activation(y, *act).output(0)
            outs.append(y)
        return net.add_concatenation(outs, axis=1).output(0)
    return define


@pytest.mark.parametrize("specs", [
    [(33, None), (7, None)],                                                       # second slice at column 33
    [(4, None), (8, (gie.ActivationType.RELU,)), (12, (gie.ActivationType.SIGMOID,))],  # 16-byte aligned slices
    [(1, None), (1000, (gie.ActivationType.TANH,)), (3, None)],                    # wide and 1-wide slices
], ids=["33_7", "4_8relu_12sigmoid", "1_1000tanh_3"])
def test_fully_connected_writes_into_concat_slices_every_tactic(specs, rng):
    """Strided outputs: each FC writes its rows ldc = sum(K) apart into the concatenation buffer."""
    define = concat_fc_define(rng, 637, specs)
    offered, infos = each_tactic_per_kernel(define, {"x": randn(rng, (N, 13, 7, 7))}, "FullyConnected")
    assert len(offered) == len(specs)
    for info in infos:
        assert not kernels_of(info, "Concatenation"), "the concatenation was not eliminated"
        assert not kernels_of(info, "Identity"), "an FC output was copied into the concatenation"


def test_fully_connected_concat_at_batch_1(rng):
    """The strided output at batch 1 (one row: the GEMV and split-K paths write a single strided row)."""
    define = concat_fc_define(rng, 2048, [(1000, None), (24, (gie.ActivationType.RELU,))])
    offered, infos = each_tactic_per_kernel(define, {"x": randn(rng, (1, 2048))}, "FullyConnected")
    for info in infos:
        assert not kernels_of(info, "Concatenation")


# ================================================================================================ MatrixMultiply

def stored(shape, trans):
    """The stored shape of an operand whose logical (transposed) shape is `shape`."""
    return shape[:-2] + (shape[-1], shape[-2]) if trans and len(shape) >= 2 else shape


MM_CASES = [
    # id, logical A shape, logical B shape; A is a network input (dim 0 = batch), B a constant
    ("stack_times_matrix", (N, 7, 33), (33, 5)),        # folds into one (N*7, 33) GEMM when A is not transposed
    ("rows_times_matrix", (N, 33), (33, 70)),           # M = batch: 1 row at batch 1
    ("broadcast_b_batch", (N, 3, 70, 17), (1, 17, 9)),
    ("broadcast_both", (N, 1, 5, 8), (4, 8, 6)),         # batch (N, 1) x (4,) -> (N, 4)
    ("matrix_times_vector", (N, 9), (9,)),              # N = 1: the GEMV (one warp per row)
    ("stack_times_vector", (N, 6, 20), (20,)),
    ("large_tiles", (N, 150, 33), (33, 77)),            # M = 1950 folded: many 128-row tiles
    ("deep_k", (N, 1000), (1000, 20)),                  # split-K
    ("stack_70x130_times_130x90", (N, 70, 130), (130, 90)),  # transposed A: a batched launch, B broadcast
]


# x times a constant matrix becomes a FullyConnected (matmul_to_fully_connected): off, to test the MatrixMultiply kernel
KEEP_MM = ("matmul_to_fully_connected",)


def mm_define(sb, b_const, ta, tb):
    def define(net, t):
        b = net.add_constant(b_const.shape, b_const).output(0)
        return net.add_matrix_multiply(t["a"], b, transpose_a=ta, transpose_b=tb).output(0)
    return define


@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)],
                         ids=["nn", "tn", "nt", "tt"])
@pytest.mark.parametrize("case", MM_CASES, ids=[c[0] for c in MM_CASES])
def test_matrix_multiply_every_tactic(case, ta, tb, rng):
    _, sa, sb = case
    if len(sa) == 2 and ta:
        pytest.skip("a transposed 2-D input would have K as its batch dimension (invalid at batch 1)")
    a = randn(rng, stored(sa, ta))
    b = randn(rng, stored(sb, tb), 1.0 / np.sqrt(sa[-1]))
    tactics = each_tactic(mm_define(sb, b, ta, tb), {"a": a}, "MatrixMultiply", must_have=TILE_TACTICS, passes_off=KEEP_MM)
    if len(sb) == 1 and not ta:
        assert GEMV in tactics, tactics  # rows of A and the vector B are both contiguous in k


@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)],
                         ids=["nn", "tn", "nt", "tt"])
@pytest.mark.parametrize("sa,sb", [
    ((N, 6, 17), (N, 17, 11)),
    ((N, 1, 9, 4), (N, 3, 4, 7)),      # A's batch dimension 1 broadcasts against B's 3
    ((N, 2, 33, 65), (N, 1, 65, 3)),
    ((N, 1, 40), (N, 40, 1)),          # batched dot products: M = N = 1 per matrix
], ids=["same_batch", "broadcast_a", "broadcast_b", "batched_dots"])
def test_matrix_multiply_two_inputs_every_tactic(sa, sb, ta, tb, rng):
    """Both operands from the network (both sliced to the run's batch)."""
    a = randn(rng, stored(sa, ta))
    b = randn(rng, stored(sb, tb), 1.0 / np.sqrt(sa[-1]))
    define = lambda net, t: net.add_matrix_multiply(t["a"], t["b"], transpose_a=ta, transpose_b=tb).output(0)
    each_tactic(define, {"a": a, "b": b}, "MatrixMultiply", must_have=TILE_TACTICS)


def test_matrix_multiply_vector_times_stack(rng):
    """A 1-D constant A (K,) times a stack of input matrices: M = 1, the dimension dropped from the result,
    A broadcast over B's batch."""
    a = randn(rng, (9,))
    b = randn(rng, (N, 9, 4), 1.0 / 3)

    def define(net, t):
        av = net.add_constant(a.shape, a).output(0)
        return net.add_matrix_multiply(av, t["b"]).output(0)
    each_tactic(define, {"b": b}, "MatrixMultiply", must_have=TILE_TACTICS)

    def define_t(net, t):  # B transposed: the vector times the rows of B (contiguous in k): the GEMV
        av = net.add_constant(a.shape, a).output(0)
        return net.add_matrix_multiply(av, t["b"], transpose_b=True).output(0)
    bt = randn(rng, (N, 4, 9), 1.0 / 3)
    tactics = each_tactic(define_t, {"b": bt}, "MatrixMultiply", must_have=TILE_TACTICS)
    assert GEMV in tactics, tactics


def test_matrix_multiply_batches_below_max(rng):
    """Built for batch 13, run at 13, 6 and 1 (the broadcast batch shrinks with the run)."""
    a = randn(rng, (N, 3, 70, 17))
    b = randn(rng, (1, 17, 9), 0.25)
    each_tactic(mm_define(b.shape, b, False, False), {"a": a}, "MatrixMultiply", batches=(13, 6, 1), passes_off=KEEP_MM)
