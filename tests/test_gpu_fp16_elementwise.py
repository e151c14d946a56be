"""FP16 GPU kernels of the element-wise family (Identity, Constant, Activation, Unary, ElementWise, Scale, PRelu,
Cast, Softmax/LogSoftmax, Reduce, LRN) against the CPU FP16 reference: gpu_util.compare_gpu_cpu(fp16=True) builds
both engines with every layer pinned to HALF (network I/O float32, the builder inserts the Reformats), asserts
that the kernel under test ran on HALF tensors in both (expect_half), runs batch 13 and 1 with poisoned outputs and
compares. Both sides load half, compute in float32 and round to half once at the store (cuda/fp16.cuh;
plugin/half_storage_cpu.h), so:
  EXACT     (rtol = atol = 0): ops that are IEEE operations on both sides in the same order (ReLU-like activations,
            + - * / max min floor_div mod, comparisons, abs / neg / ceil / floor / round / sign / sqrt / recip,
            PRelu, Scale without power, max / min reductions, copies and casts);
  HALF_ULP  (rtol 2e-3, atol 1e-6): ops whose float32 results differ by a few float ulps between the devices
            (CUDA's vs glibc's transcendental functions, FMA contraction in the device build of
            layers/activation_math.h, a float vs a double LRN window sum, double sums in another order); after
            the rounding to half they differ by at most one half ulp (2^-11 .. 2^-10 relative; 6e-8 absolute
            for subnormal halves).
Shapes are chosen for the vector paths: 16-byte packs of 8 halves with a scalar tail (element counts that are
not multiples of 8: 105, 221, 13, ...), rows that are / are not multiples of 8, per-channel planes of 16 vs 221,
half2 pairs in LRN (even vs odd planes), outputs written into concatenation slices at offsets that are not
16-byte aligned, broadcasts of every kind for ElementWise."""
import numpy as np
import pytest

import gie
from gpu_util import compare_gpu_cpu, each_tactic, gpu, randn

pytestmark = gpu

N = 13  # max batch; compare_gpu_cpu also runs batch 1
EXACT = dict(rtol=0.0, atol=0.0)
HALF_ULP = dict(rtol=2e-3, atol=1e-6)
HALF_MAX = 65504.0
CHAIN = dict(rtol=1e-2, atol=1e-3)  # several ops in a row: one half ulp of an intermediate moves the next op's result

# Element counts per sample: 105 (13 packs of 8 + 1; 1365 at batch 13: a tail of 5), 128 (packs only), 1 (batch 13:
# one pack and a tail of 5; batch 1: a lone element), 561 (70 packs + 1).
SHAPES = [(3, 5, 7), (8, 4, 4), (1,), (33, 17)]


def check16(define, inputs, kernel, tol, **kw):
    """compare_gpu_cpu in FP16, asserting that every `kernel` step ran on HALF tensors in both engines."""
    kinds = (kernel,) if isinstance(kernel, str) else tuple(kernel)
    return compare_gpu_cpu(define, inputs, fp16=True, expect_half=kinds, **tol, **kw)


def const(net, arr):
    """A Constant layer with the exact shape (rank 0 allowed) of the float32 array arr."""
    arr = np.asarray(arr, np.float32)
    return net.add_layer("Constant", [], {"shape": np.asarray(arr.shape, dtype=np.int64),
                                          "weights": np.ascontiguousarray(arr).ravel()}).output(0)


def with_specials(x, specials):
    """x with its first elements replaced by `specials` (as many as fit)."""
    flat = x.reshape(-1)
    k = min(flat.size, len(specials))
    flat[:k] = np.asarray(specials[:k], np.float32)
    return x


# ================================================================================================ Activation

ACT_NAMES = [n for n in dir(gie.ActivationType) if n.isupper() and n not in ("name", "value")]
ACT_PARAMS = {
    "LEAKY_RELU": (0.2, None), "ELU": (0.7, None), "SELU": (1.5, 1.2), "CLIP": (-0.5, 1.25),
    "HARD_SIGMOID": (0.3, 0.4), "SCALED_TANH": (1.7, 0.66), "THRESHOLDED_RELU": (0.25, None),
}
# One comparison, one IEEE multiply or a division on both sides: the same bits.
ACT_EXACT = {"RELU", "LEAKY_RELU", "CLIP", "THRESHOLDED_RELU", "RELU6", "SOFTSIGN", "HARD_SWISH"}
ACT_SPECIALS = [0.0, -0.0, 1e-4, -1e-4, 6e-8, -6e-8, 0.25, -0.5, 1.25, 1.0, -1.0, 3.0, -3.0, 6.0, 6.5, 20.0, 20.5,
                -20.5, 25.0, -30.0, 2.5, 11.0, -11.0, HALF_MAX, -HALF_MAX, 7e4, -7e4, np.inf, -np.inf, np.nan]


def act_input(rng, shape):
    return with_specials(rng.uniform(-8, 8, shape).astype(np.float32), ACT_SPECIALS)


def test_activation_types_are_all_covered():
    assert len(ACT_NAMES) == 18, ACT_NAMES


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name,params", [(n, "default") for n in ACT_NAMES] + [(n, "explicit") for n in ACT_PARAMS])
def test_activation(name, params, shape, rng):
    t = getattr(gie.ActivationType, name)
    alpha, beta = ACT_PARAMS[name] if params == "explicit" else (None, None)
    check16(lambda net, tens: net.add_activation(tens["x"], t, alpha=alpha, beta=beta).output(0),
            {"x": act_input(rng, (N,) + shape)}, "Activation", EXACT if name in ACT_EXACT else HALF_ULP)


@pytest.mark.parametrize("shapes", [((3, 5, 7), (5, 5, 7)), ((4, 4, 4), (8, 4, 4)), ((1, 3, 3), (2, 3, 3))],
                         ids=["odd_offsets", "aligned", "tiny"])
def test_activation_writes_into_concat_slice(shapes, rng):
    """Activations written straight into channel slices of a concatenation: row pitch and slice offsets that are
    (aligned: 64 and 192 halves) or are not (odd_offsets: 105 and 280 halves) whole 16-byte packs."""
    A = gie.ActivationType

    def define(net, t):
        a = net.add_activation(t["a"], A.RELU).output(0)
        b = net.add_activation(t["b"], A.SIGMOID).output(0)
        c = net.add_activation(t["a"], A.GELU).output(0)
        return net.add_concatenation([a, b, c], axis=1).output(0)

    check16(define, {"a": act_input(rng, (N,) + shapes[0]), "b": act_input(rng, (N,) + shapes[1])}, "Activation", HALF_ULP)


# ================================================================================================ Identity / Constant

@pytest.mark.parametrize("shape", [(7,), (3, 5), (13, 17, 13), (1, 1, 1), (8, 4, 4)], ids=str)
def test_identity(shape, rng):
    """An Identity on half tensors copies the halves (remove_noops off so that it stays a step)."""
    x = with_specials(randn(rng, (N,) + shape, 3.0), [np.nan, np.inf, -np.inf, -0.0, 6e-8, HALF_MAX, 7e4])
    check16(lambda net, t: net.add_identity(t["x"]).output(0), {"x": x}, "Identity", EXACT, passes_off=("remove_noops",))


@pytest.mark.parametrize("shapes", [((3, 5), (4, 5)), ((1, 7, 3), (2, 7, 3)), ((4, 4), (8, 4))], ids=str)
def test_identity_copies_into_concat_slices(shapes, rng):
    """A half tensor read twice by one concatenation: one of its slices is an Identity copy (strided output,
    2-byte elements at odd offsets)."""
    A = gie.ActivationType

    def define(net, t):
        a = net.add_activation(t["a"], A.RELU).output(0)
        b = net.add_activation(t["b"], A.RELU6).output(0)
        return net.add_concatenation([a, b, a], axis=1).output(0)

    inputs = {"a": randn(rng, (N,) + shapes[0]), "b": randn(rng, (N,) + shapes[1])}
    check16(define, inputs, ("Identity", "Activation"), EXACT)


@pytest.mark.parametrize("shape", [(3, 7, 5), (16,), (1,)], ids=str)
def test_constant_operand(shape, rng):
    """A float32 Constant feeding a half ElementWise: the builder gives the kernel the constant as half values."""
    value = randn(rng, shape, 2.0)

    def define(net, t):
        c = const(net, value)
        return net.add_elementwise(t["x"], c, gie.ElementWiseOperation.SUM).output(0)

    check16(define, {"x": randn(rng, (N,) + shape)}, "ElementWise", EXACT, passes_off=("fold_constant_operands",))


# ================================================================================================ Unary

U = gie.UnaryOperation
UNARY_FLOAT = {  # op -> input maker (values inside the domain; half-range limits apply after the input Reformat)
    "EXP": lambda r, s: r.uniform(-12, 11, s), "LOG": lambda r, s: r.uniform(1e-4, 6e4, s),
    "SQRT": lambda r, s: r.uniform(0, 6e4, s), "RECIP": lambda r, s: r.uniform(-10, 10, s),
    "ABS": lambda r, s: r.standard_normal(s), "NEG": lambda r, s: r.standard_normal(s),
    "SIN": lambda r, s: r.uniform(-100, 100, s), "COS": lambda r, s: r.uniform(-100, 100, s),
    "TAN": lambda r, s: r.uniform(-1.5, 1.5, s), "SINH": lambda r, s: r.uniform(-10, 10, s),
    "COSH": lambda r, s: r.uniform(-10, 10, s), "ASIN": lambda r, s: r.uniform(-1, 1, s),
    "ACOS": lambda r, s: r.uniform(-1, 1, s), "ATAN": lambda r, s: r.uniform(-50, 50, s),
    "ASINH": lambda r, s: r.uniform(-50, 50, s), "ACOSH": lambda r, s: r.uniform(1, 50, s),
    "ATANH": lambda r, s: r.uniform(-0.99, 0.99, s), "CEIL": lambda r, s: r.uniform(-10, 10, s),
    "FLOOR": lambda r, s: r.uniform(-10, 10, s), "ERF": lambda r, s: r.uniform(-4, 4, s),
    "SIGN": lambda r, s: np.round(r.standard_normal(s)), "ROUND": lambda r, s: np.round(r.uniform(-8, 8, s) * 4) / 4,
}
UNARY_EXACT = {"ABS", "NEG", "CEIL", "FLOOR", "ROUND", "SIGN", "SQRT", "RECIP"}


def test_unary_float_ops_are_all_covered():
    names = [n for n in dir(U) if n.isupper() and n not in ("name", "value")]
    assert sorted(names) == sorted(list(UNARY_FLOAT) + ["NOT"])


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("op", list(UNARY_FLOAT))
def test_unary(op, shape, rng):
    x = UNARY_FLOAT[op](rng, (N,) + shape).astype(np.float32)
    if op in ("ROUND", "SIGN", "CEIL", "FLOOR", "ABS", "NEG"):
        with_specials(x, [0.5, -0.5, 2.5, -2.5, -0.0, np.nan, 1.5, -1.5])
    check16(lambda net, t: net.add_unary(t["x"], getattr(U, op)).output(0), {"x": x}, "Unary",
            EXACT if op in UNARY_EXACT else HALF_ULP)


def test_unary_special_values():
    """inf, NaN, signed zeros, subnormal halves, the largest half and values beyond it (inf after the Reformat)."""
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 6e-8, -6e-8, 3e-5, HALF_MAX, -HALF_MAX, 7e4, 2047.5, -2047.5,
                  1024.5, 0.999, 1.001, 1.0, -1.0, 11.1, 12.0], np.float32)
    x = np.tile(x, (N, 1))
    for op in UNARY_FLOAT:
        with np.errstate(all="ignore"):
            check16(lambda net, t, op=op: net.add_unary(t["x"], getattr(U, op)).output(0), {"x": x}, "Unary",
                    EXACT if op in UNARY_EXACT else HALF_ULP)


# ================================================================================================ ElementWise

EW = gie.ElementWiseOperation
ARITH = [EW.SUM, EW.PROD, EW.MAX, EW.MIN, EW.SUB, EW.DIV, EW.POW, EW.FLOOR_DIV, EW.MOD]
COMPARE = [EW.EQUAL, EW.GREATER, EW.LESS]

# (shape of a, shape of b, constant side "" | "a" | "b"); dim 0 is the batch for inputs.
EW_SHAPES = [
    ((N, 3, 17, 13), (N, 3, 17, 13), ""),        # same shape, odd rows (scalar rows path)
    ((N, 8, 16, 16), (N, 8, 16, 16), ""),        # same shape, rows of 2048: 8-wide packs
    ((N, 1004), (N, 1004), ""),                  # rows of 1004 = 4 mod 8: no packs for half (float4 for float)
    ((N, 7, 17, 13), (1,), "b"),                 # scalar constant
    ((N, 64, 8, 8), (), "b"),                    # rank-0 constant, packs
    ((N, 33, 7, 7), (33, 1, 1), "b"),            # per-channel, rows of 49
    ((N, 64, 16, 16), (64, 1, 1), "b"),          # per-channel, rows of 256: packs
    ((N, 3, 1, 1), (1, 3, 1, 1), "b"),           # 1x1 spatial: general path
    ((N, 1, 4, 1), (N, 3, 1, 6), ""),            # broadcast on both sides
    ((7,), (7,), ""),                            # rank 1 (only the batch)
    ((N, 2, 1, 3, 1), (N, 1, 4, 1, 2), ""),      # rank 5
    ((7,), (N, 3, 7), "a"),                      # the constant is the first input, lower rank
    ((N, 5), (N, 1), ""),                        # per-row scalar, short rows
    ((N, 7, 130, 3), (N, 1, 130, 1), ""),        # interleaved broadcast
    ((N, 1, 37), (N, 41, 1), ""),                # outer product
    ((N, 3, 264), (1, 1, 264), "b"),             # a row vector over rows of 264 = 33 packs
]
EW_IDS = [f"{a}-{b}-{c or 'inputs'}" for a, b, c in EW_SHAPES]


def _ew_define(op, const_side, a, b):
    def define(net, t):
        x = const(net, a) if "a" in const_side else t["a"]
        y = const(net, b) if "b" in const_side else t["b"]
        return net.add_elementwise(x, y, op).output(0)
    return define


def _ew_check(op, a, b, const_side, tol):
    inputs = {k: v for k, v in (("a", a), ("b", b)) if k not in const_side}
    # fold_constant_operands would turn SUM / SUB / PROD with a constant into a Scale layer
    check16(_ew_define(op, const_side, a, b), inputs, "ElementWise", tol, passes_off=("fold_constant_operands",))


def _operands(rng, op, sa, sb):
    a = rng.uniform(-4, 4, sa).astype(np.float32)
    b = rng.uniform(-4, 4, sb).astype(np.float32)
    if op == EW.POW:
        return rng.uniform(0.1, 3, sa).astype(np.float32), rng.uniform(-2.5, 2.5, sb).astype(np.float32)
    if op in (EW.MAX, EW.MIN, EW.FLOOR_DIV, EW.MOD, EW.DIV):  # ties, exact multiples, zeros, signed zeros
        a = np.where(rng.random(sa) < 0.3, np.round(a), a)
        b = np.where(rng.random(sb) < 0.3, np.round(b), b)
        a = np.where(rng.random(sa) < 0.05, -0.0, a)
    return np.asarray(a, np.float32), np.asarray(b, np.float32)


@pytest.mark.parametrize("sa,sb,const_side", EW_SHAPES, ids=EW_IDS)
@pytest.mark.parametrize("op", ARITH, ids=lambda o: o.name)
def test_elementwise(op, sa, sb, const_side, rng):
    a, b = _operands(rng, op, sa, sb)
    _ew_check(op, a, b, const_side, HALF_ULP if op == EW.POW else EXACT)


@pytest.mark.parametrize("sa,sb,const_side", [((N, 3, 4, 7), (N, 3, 4, 7), ""), ((N, 1, 4, 1), (N, 3, 1, 6), ""),
                                              ((N, 3, 4), (4,), "b"), ((N, 40, 41, 21), (N, 40, 1, 21), ""),
                                              ((N, 512), (N, 512), ""), ((N, 9, 256), (9, 1), "b")], ids=str)
@pytest.mark.parametrize("op", COMPARE, ids=lambda o: o.name)
def test_elementwise_compare(op, sa, sb, const_side, rng):
    """Half inputs, bool output (0/1 bytes; unwritten bytes are caught by the poison)."""
    a = (rng.integers(-2, 3, sa) + rng.choice([0, 0.5], sa)).astype(np.float32)
    b = (rng.integers(-2, 3, sb) + rng.choice([0, 0.5], sb)).astype(np.float32)
    a = np.where(rng.random(sa) < 0.05, np.nan, a).astype(np.float32)
    _ew_check(op, a, b, const_side, EXACT)


def test_elementwise_special_values():
    nan, inf = np.nan, np.inf
    a = np.array([[nan, 1, nan, -0.0, 5, -5, 5, -5, 7.5, -7.5, inf, 1, 0, -1, -inf, 6e-8, -3e-5, 6, 0.0, inf, 300, HALF_MAX]],
                 np.float32)
    b = np.array([[1, nan, nan, 0.0, 3, 3, -3, -3, 2.5, 2.5, 2, inf, 0, 0, 3, 1e-3, 7, 0.1, -2.0, inf, 300, 2.0]], np.float32)
    for op in (EW.MAX, EW.MIN, EW.FLOOR_DIV, EW.MOD, EW.SUM, EW.SUB, EW.PROD, EW.DIV):  # PROD, SUM overflow to inf
        with np.errstate(all="ignore"):
            _ew_check(op, a, b, "", EXACT)


# ================================================================================================ Scale

M = gie.ScaleMode


@pytest.mark.parametrize("weights", ["shift", "scale", "power", "shift_scale", "all"])
@pytest.mark.parametrize("mode,axis,shape", [
    (M.UNIFORM, None, (7, 17, 13)), (M.UNIFORM, None, (4, 4)), (M.UNIFORM, None, (1,)),
    (M.CHANNEL, None, (7, 17, 13)),   # planes of 221: scalar
    (M.CHANNEL, None, (8, 4, 4)),     # planes of 16: packs of 8 within a channel
    (M.CHANNEL, None, (5, 4, 2)),     # planes of 8
    (M.CHANNEL, 2, (3, 5, 7)), (M.CHANNEL, -1, (3, 5, 7)), (M.CHANNEL, None, (33,)),
    (M.ELEMENTWISE, None, (7, 5, 3)),  # block of 105: scalar
    (M.ELEMENTWISE, None, (4, 2, 2)),  # block of 16: packs read 8 weights
    (M.ELEMENTWISE, 2, (3, 5, 7)), (M.ELEMENTWISE, 3, (3, 5, 8)),
], ids=lambda v: str(v))
def test_scale(mode, axis, shape, weights, rng):
    full = (N,) + shape
    if mode == M.UNIFORM:
        count = 1
    else:
        a = 1 if axis is None else axis % len(full)
        count = full[a] if mode == M.CHANNEL else int(np.prod(full[a:]))
    shift = randn(rng, (count,)) if weights in ("shift", "shift_scale", "all") else None
    scale = randn(rng, (count,)) if weights in ("scale", "shift_scale", "all") else None
    power = None
    if weights in ("power", "all"):
        power = rng.choice(np.array([1.0, 2.0, 0.5, -1.0, 3.0, 1.7], np.float32), count).astype(np.float32)
        if count > 1:
            power[0] = 1.0  # mixed: pow runs only where the power is not 1
    x = randn(rng, full)
    if power is not None:  # keep the base positive so that fractional powers stay real
        x = np.abs(x) + 0.1
        scale = None if scale is None else np.abs(scale) + 0.1
        shift = None if shift is None else np.abs(shift)
    check16(lambda net, t: net.add_scale(t["x"], mode, shift, scale, power, channel_axis=axis).output(0), {"x": x}, "Scale",
            HALF_ULP if power is not None else EXACT, passes_off=("remove_noops",))


# ================================================================================================ PRelu

@pytest.mark.parametrize("shape", [(7, 17, 13), (8, 4, 4), (4, 4, 4), (33,), (3, 5), (13, 1, 1), (3, 5, 7)], ids=str)
@pytest.mark.parametrize("shared", [False, True], ids=["per_channel", "shared"])
def test_prelu(shape, shared, rng):
    slope = randn(rng, (1 if shared else shape[0],), 0.5)
    x = with_specials(randn(rng, (N,) + shape), [-0.0, 0.0, -6e-8, -HALF_MAX, -np.inf, np.nan])
    check16(lambda net, t: net.add_prelu(t["x"], slope).output(0), {"x": x}, "PRelu", EXACT)


# ================================================================================================ Cast

@pytest.mark.parametrize("shape", [(7,), (16,), (3, 5, 7), (64, 33)], ids=str)
@pytest.mark.parametrize("dst", [gie.int32, gie.int8, gie.bool_], ids=lambda t: t.name)
def test_cast_from_half(dst, shape, rng):
    """Cast of a half tensor (the float input pinned to HALF) to an index type: truncation, saturation, NaN -> 0."""
    x = rng.uniform(-300, 300, (N,) + shape).astype(np.float32)
    with_specials(x, [0.0, -0.0, 0.5, -0.5, 127.5, -128.7, 127.9, -128.9, 300.7, np.nan, np.inf, -np.inf, HALF_MAX,
                      7e4, 6e-8, -2.5])
    check16(lambda net, t: net.add_cast(t["x"], dst).output(0), {"x": x}, "Cast", EXACT)


# ================================================================================================ Softmax

SOFTMAX_CASES = [
    # shape without batch, axis
    ((3, 4, 5), 1), ((3, 4, 5), 2), ((3, 4, 5), 3), ((3, 4, 5), -1), ((3, 4, 5), 0),
    ((1000,), 1),       # row_warp, packs of 8 (1000 % 8 == 0)
    ((1004,), 1),       # row_warp, scalars (1004 % 8 == 4)
    ((1024,), -1),
    ((33,), 1), ((7,), 1), ((1,), 1), ((2,), 1), ((16,), 1), ((256,), 1), ((264,), 1), ((129,), 1),
    ((4096,), 1),       # row_block, packs
    ((5003,), 1),       # row_block, scalars
    ((3000, 7), 1),     # long axis, few columns: col_block
    ((7, 3000), 1),     # many columns
    ((17, 13, 3), 2),
    ((2, 7, 1, 1), 1),  # inner of size 1 through trailing unit dims
    ((), 0),            # rank 1, over the batch
]


def softmax_define(axis, log):
    def define(net, t):
        fn = net.add_log_softmax if log else net.add_softmax
        return fn(t["x"], axis=axis).output(0)
    return define


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,axis", SOFTMAX_CASES, ids=[f"{s}-axis{a}" for s, a in SOFTMAX_CASES])
def test_softmax(shape, axis, log, rng):
    x = randn(rng, (N,) + shape, scale=4.0)
    each_tactic(softmax_define(axis, log), {"x": x}, "Softmax", fp16=True, expect_half=("Softmax",), **HALF_ULP)


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,axis", [((300,), 1), ((2000,), 1), ((40, 6), 1), ((5, 2), 1)], ids=str)
def test_softmax_large_logits_and_infinities(shape, axis, log, rng):
    """Logits near the half range (max subtraction), -inf entries (masks; leading ones included), one row with +inf
    (NaN on both) and values beyond 65504 (inf after the input Reformat)."""
    x = randn(rng, (N,) + shape, scale=400.0, shift=5000.0)
    xm = np.moveaxis(x, axis, -1)
    xm[..., 0] = -np.inf
    xm[1, ..., 1::3] = -np.inf
    xm[2, ..., -1] = np.inf
    xm[3, ..., 2] = 7e4
    each_tactic(softmax_define(axis, log), {"x": x}, "Softmax", fp16=True, expect_half=("Softmax",), **HALF_ULP)


# ================================================================================================ Reduce

RED = gie.ReduceOperation


@pytest.mark.parametrize("op", [RED.SUM, RED.PROD, RED.MAX, RED.MIN, RED.AVG], ids=lambda o: o.name)
@pytest.mark.parametrize("shape,axes", [
    # Teams read half2 pairs where the innermost reduced run is contiguous and even (marked "pairs").
    ((N, 5), (1,)),
    ((N, 5), (0,)),
    ((N, 3, 4), (0, 2)),              # pairs, two reduced groups around a kept one
    ((N, 3, 1, 5), (1, 2)),
    ((N, 2, 1, 6), (1, 3)),           # pairs: one merged group of 12, a lone thread per output
    ((N, 3, 4, 5, 3), (0, 2, 4)),
    ((N, 33, 7, 7), (2, 3)),          # global pooling: warp per output
    ((N, 6, 8, 8), (2, 3)),           # pairs, warp per output
    ((N, 33, 17, 13), (1,)),          # over channels: columns of 221
    ((N, 3, 700), (2,)),              # pairs
    ((N, 64, 1000), (1, 2)),          # pairs; long reductions, few outputs: split over the grid
    ((N, 3001, 5), (1,)),             # a long reduction over a strided axis (odd inner): no pairs, split
    ((N, 3000, 40), (1,)),            # columns path, split
    ((N, 7, 9, 11), (0, 1, 2, 3)),    # everything to one value (odd count)
    ((N, 3, 1, 1), (2, 3)),           # nothing to reduce: a copy
], ids=str)
@pytest.mark.parametrize("keep", [True, False], ids=["keep", "drop"])
def test_reduce(op, shape, axes, keep, rng):
    if op == RED.PROD:
        x = rng.uniform(0.95, 1.05, size=shape).astype(np.float32) * rng.choice([-1, 1], size=shape).astype(np.float32)
    else:
        x = rng.standard_normal(shape).astype(np.float32)
    check16(lambda net, t: net.add_reduce(t["x"], op, axes, keep_dims=keep).output(0), {"x": x}, "Reduce",
            EXACT if op in (RED.MAX, RED.MIN) else HALF_ULP)


@pytest.mark.parametrize("op", [RED.SUM, RED.PROD, RED.MAX, RED.MIN, RED.AVG], ids=lambda o: o.name)
def test_reduce_special_values_and_overflow(op, rng):
    """NaN / inf propagate; a SUM of 20000 values of ~8 exceeds the half range (inf on both); AVG stays finite."""
    x = (rng.standard_normal((N, 20000)) + 8.0).astype(np.float32)
    x[0, 3] = np.nan
    x[1, 5] = np.inf
    x[2, 7] = -np.inf
    x[3, :] = -0.0
    x[4, 11], x[4, 12] = np.inf, -np.inf
    check16(lambda net, t: net.add_reduce(t["x"], op, (1,), keep_dims=False).output(0), {"x": x}, "Reduce",
            EXACT if op in (RED.MAX, RED.MIN) else HALF_ULP)


# ================================================================================================ LRN

@pytest.mark.parametrize("window,alpha,beta,k", [
    (5, 1e-4, 0.75, 1.0),    # AlexNet
    (3, 0.5, 0.5, 1.0),
    (1, 1.0, 1.0, 0.5),
    (7, 0.3, 0.6, 1.5),      # generic pow
    (31, 0.01, 1.0, 1.0),    # window wider than every channel count below
])
@pytest.mark.parametrize("shape", [(7, 17, 13), (33, 8, 8), (3, 5, 5), (13, 1, 1), (4, 2, 3)], ids=str)
def test_lrn(shape, window, alpha, beta, k, rng):
    """Planes of 221, 25 and 1 (odd: one output per thread) and of 64 and 6 (even: half2 pairs)."""
    x = randn(rng, (N,) + shape, scale=2.0)
    check16(lambda net, t: net.add_lrn(t["x"], window, alpha, beta, k).output(0), {"x": x}, "LRN", HALF_ULP)


@pytest.mark.parametrize("shape", [(7,), (5, 9), (4, 3, 2, 5), (6, 4)], ids=str)
def test_lrn_other_ranks(shape, rng):
    x = randn(rng, (N,) + shape, scale=3.0)
    check16(lambda net, t: net.add_lrn(t["x"], 3, 0.7, 0.75, 1.0).output(0), {"x": x}, "LRN", HALF_ULP)


# ================================================================================================ a chain

def test_chain_stays_half(rng):
    """Scale -> PRelu -> ElementWise (residual) -> Activation -> Softmax -> Reduce in one FP16 network: every
    step runs on half tensors, the Reformats only at the network's float32 input and outputs."""
    C = 7
    x = randn(rng, (N, C, 5, 9))
    shift, scale = randn(rng, (C,)), randn(rng, (C,), 0.5)
    slope = randn(rng, (C,), 0.3)

    def define(net, t):
        s = net.add_scale(t["x"], M.CHANNEL, shift, scale, None).output(0)
        p = net.add_prelu(s, slope).output(0)
        r = net.add_elementwise(p, t["x"], EW.SUM).output(0)
        a = net.add_activation(r, gie.ActivationType.SILU).output(0)
        sm = net.add_softmax(a, axis=1).output(0)
        return [sm, net.add_reduce(a, RED.AVG, (2, 3), keep_dims=False).output(0)]

    check16(define, {"x": x}, ("Scale", "PRelu", "ElementWise", "Activation", "Softmax", "Reduce"), CHAIN)


# ================================================================================================ engine files

@pytest.mark.parametrize("kernel", ["Unary", "ElementWise", "Activation", "Scale", "PRelu", "Softmax", "Reduce", "LRN"])
def test_engine_file_reloads(kernel, tmp_path, rng):
    """A GPU FP16 engine saves and loads: the loader re-derives each kernel's output types from its stored HALF inputs
    (cuda/fp16.cuh FloatOrHalfKernel, whose op type rules name float32), and the reloaded engine gives the same bits."""
    import util
    from gpu_util import build_gpu, poisoned_output, to_device

    C = 6
    layers = {
        "Unary": lambda net, x: net.add_unary(x, U.EXP),
        "ElementWise": lambda net, x: net.add_elementwise(x, x, EW.GREATER),
        "Activation": lambda net, x: net.add_activation(x, gie.ActivationType.GELU),
        "Scale": lambda net, x: net.add_scale(x, M.CHANNEL, randn(rng, (C,)), randn(rng, (C,)), None),
        "PRelu": lambda net, x: net.add_prelu(x, randn(rng, (C,), 0.3)),
        "Softmax": lambda net, x: net.add_softmax(x, axis=1),
        "Reduce": lambda net, x: net.add_reduce(x, RED.SUM, (2, 3), keep_dims=False),
        "LRN": lambda net, x: net.add_lrn(x, 3, 0.5, 0.75, 1.0),
    }
    x = randn(rng, (N, C, 5, 4))
    engine = build_gpu(lambda net, t: layers[kernel](net, t["x"]).output(0), {"x": x}, fp16=True)
    path = tmp_path / "fp16.gie"
    engine.save(str(path))
    loaded = gie.Runtime().load(str(path))
    infos = [[(k["type"], k["precision"]) for k in e.layer_info()["kernels"]] for e in (engine, loaded)]
    assert infos[0] == infos[1] and (kernel, "float16") in infos[0], infos
    results = []
    for e in (engine, loaded):
        name = e.output_names[0]
        shape = e.create_execution_context().execute({"x": x})[name].shape
        out, read = poisoned_output(shape, np.bool_ if kernel == "ElementWise" else np.float32)
        e.create_execution_context().execute({"x": to_device(x)}, outputs={name: out})
        results.append(read())
    util.assert_close(results[1], results[0], rtol=0, atol=0, what=f"{kernel}: the reloaded engine's output")
