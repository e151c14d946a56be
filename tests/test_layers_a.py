"""Layers A: ElementWise, Unary, Scale, PRelu, LRN, Concatenation, Cast, Gather on the CPU backend.

Every result is compared with an independent numpy implementation written here. Each engine is built
for the largest batch of its inputs and then also run at smaller batches (e.g. built for 5, run at 2
and 1), comparing every run with the reference on the sliced inputs.

Tolerances: exact for integer/bool/copy results; float32 arithmetic rtol 1e-5, atol 1e-6; float32
transcendental functions (checked against float64 references) rtol 1e-5, atol 1e-6 unless stated.
"""
import math

import numpy as np
import pytest

import gie
from util import assert_close, build, concat_case

EW = gie.ElementWiseOperation
U = gie.UnaryOperation

# ---- helpers ------------------------------------------------------------------------------------------


def const(net, arr):
    """A Constant layer holding `arr` with its exact shape (rank 0 allowed) and dtype (float32/float16/int32)."""
    arr = np.asarray(arr)
    return net.add_layer("Constant", [], {"shape": np.asarray(arr.shape, dtype=np.int64),
                                          "weights": np.ascontiguousarray(arr).ravel()}).output(0)


def _compare(actual, expected, rtol, atol, what):
    expected = np.asarray(expected)
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != expected {expected.dtype}"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != expected {expected.shape}"
    if expected.dtype.kind in "biu" or expected.dtype == np.bool_:
        bad = actual != expected
        assert not bad.any(), (f"{what}: {bad.sum()} of {bad.size} elements differ; first at "
                               f"{np.argwhere(bad)[0]}: got {actual[bad][0]}, expected {expected[bad][0]}")
    elif expected.dtype == np.float16:
        same = (actual.view(np.uint16) == expected.view(np.uint16)) | (np.isnan(actual) & np.isnan(expected))
        assert same.all(), (f"{what}: {(~same).sum()} float16 values differ; first at {np.argwhere(~same)[0]}: "
                            f"got {actual[~same][0]}, expected {expected[~same][0]}")
    else:
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf while measuring the error
            assert_close(actual, expected, rtol=rtol, atol=atol, what=what)


def check(define, inputs, ref, *, rtol=1e-5, atol=1e-6, batches=None):
    """Builds for the batch of `inputs` (dimension 0), runs at that batch and at the smaller `batches`
    (default 2 and 1), and compares every output with ref(sliced inputs) (a value or list of values)."""
    engine = build(define, inputs)
    ctx = engine.create_execution_context()
    full = max(np.asarray(a).shape[0] for a in inputs.values())
    runs = sorted({full, *(b for b in (batches if batches is not None else (2, 1)) if b <= full)}, reverse=True)
    for b in runs:
        sub = {k: np.ascontiguousarray(v[:b]) for k, v in inputs.items()}
        res = ctx.execute(sub)
        outs = [res[f"out{i}"] for i in range(len(res))]
        exp = ref(sub)
        if not isinstance(exp, (list, tuple)):
            exp = [exp]
        assert len(outs) == len(exp)
        for i, (o, e) in enumerate(zip(outs, exp)):
            _compare(o, e, rtol, atol, f"batch {b} out{i}")


# ---- ElementWise --------------------------------------------------------------------------------------

ARITH = [EW.SUM, EW.PROD, EW.MAX, EW.MIN, EW.SUB, EW.DIV, EW.POW, EW.FLOOR_DIV, EW.MOD]
LOGIC = [EW.AND, EW.OR, EW.XOR]
COMPARE = [EW.EQUAL, EW.GREATER, EW.LESS]


def ref_float(op, a, b):
    with np.errstate(all="ignore"):
        return {EW.SUM: np.add, EW.PROD: np.multiply, EW.MAX: np.maximum, EW.MIN: np.minimum, EW.SUB: np.subtract,
                EW.DIV: np.true_divide, EW.POW: np.power, EW.FLOOR_DIV: np.floor_divide,
                EW.MOD: np.remainder}[op](a, b).astype(np.float32)


def ref_int(op, a, b):
    """int32 semantics written out in int64 and wrapped to int32 (numpy wraps the same way)."""
    a64 = np.broadcast_to(a, np.broadcast_shapes(a.shape, b.shape)).astype(np.int64)
    b64 = np.broadcast_to(b, a64.shape).astype(np.int64)
    nz = np.where(b64 == 0, 1, b64)
    if op == EW.SUM:
        r = a64 + b64
    elif op == EW.PROD:
        r = a64 * b64
    elif op == EW.SUB:
        r = a64 - b64
    elif op == EW.MAX:
        r = np.where(a64 > b64, a64, b64)
    elif op == EW.MIN:
        r = np.where(a64 < b64, a64, b64)
    elif op == EW.DIV:  # truncation toward zero, x / 0 == 0
        r = np.where(b64 == 0, 0, np.sign(a64) * np.sign(nz) * (np.abs(a64) // np.abs(nz)))
    elif op == EW.FLOOR_DIV:  # Python //, x // 0 == 0
        r = np.array([x // y if y else 0 for x, y in zip(a64.ravel().tolist(), b64.ravel().tolist())], dtype=np.int64)
        r = r.reshape(a64.shape)
    elif op == EW.MOD:  # Python %, x % 0 == 0
        r = np.array([x % y if y else 0 for x, y in zip(a64.ravel().tolist(), b64.ravel().tolist())], dtype=np.int64)
        r = r.reshape(a64.shape)
    elif op == EW.POW:  # exact integer power, wrapped
        r = np.array([pow(x, y, 2**32) for x, y in zip(a64.ravel().tolist(), b64.ravel().tolist())], dtype=np.int64)
        r = r.reshape(a64.shape)
    else:
        raise AssertionError(op)
    r = (r + 2**31) % 2**32 - 2**31
    return r.astype(np.int32)


# (shape of a, shape of b, which operands are constants: "" | "a" | "b"). Inputs carry the batch in dim 0.
EW_SHAPES = [
    ((5, 3, 4, 7), (5, 3, 4, 7), ""),          # same shape
    ((5, 3, 4, 7), (1,), "b"),                  # scalar-like vector
    ((5, 3, 4, 7), (), "b"),                    # rank-0 scalar
    ((5, 3, 4, 7), (3, 1, 1), "b"),             # per-channel vector, lower rank
    ((5, 3, 1, 1), (1, 3, 1, 1), "b"),          # 1x1 spatial
    ((5, 1, 4, 1), (5, 3, 1, 6), ""),           # broadcast on both sides
    ((6,), (6,), ""),                           # rank 1
    ((5, 2, 1, 3, 1), (5, 1, 4, 1, 2), ""),     # rank 5
    ((7,), (5, 3, 7), "a"),                     # the constant is the first input, lower rank
    ((5, 5), (5, 1), ""),                       # broadcast along the last dim
    ((5, 33, 17, 19), (33, 1, 1), "b"),         # large enough for the parallel, chunked path
    ((5, 33, 17, 19), (5, 33, 17, 19), ""),     # large same shape
    ((5, 7, 130, 3), (5, 1, 130, 1), ""),       # large, chunk boundaries inside rows
]


def _ew_define(op, const_side):
    def define(net, t):
        a = const(net, t["_a"]) if "a" in const_side else t["a"]
        b = const(net, t["_b"]) if "b" in const_side else t["b"]
        return net.add_elementwise(a, b, op).output(0)
    return define


def _ew_check(op, a, b, const_side, ref, **kw):
    inputs = {}
    if "a" not in const_side:
        inputs["a"] = a
    if "b" not in const_side:
        inputs["b"] = b
    consts = {"_a": a, "_b": b}

    def define(net, t):
        return _ew_define(op, const_side)(net, {**t, **consts})

    def reference(sub):
        return ref(sub.get("a", a), sub.get("b", b))

    check(define, inputs, reference, **kw)


def _float_operands(rng, op, sa, sb):
    a = rng.uniform(-4, 4, sa).astype(np.float32)
    b = rng.uniform(-4, 4, sb).astype(np.float32)
    if op == EW.POW:
        a = rng.uniform(0.1, 3, sa).astype(np.float32)
        b = rng.uniform(-2.5, 2.5, sb).astype(np.float32)
    if op in (EW.DIV, EW.FLOOR_DIV, EW.MOD):
        b = (np.sign(b) + (b == 0)) * (np.abs(b) + 0.25)
        b = b.astype(np.float32)
    if op in (EW.MAX, EW.MIN):  # some ties
        a = np.round(a).astype(np.float32)
        b = np.round(b).astype(np.float32)
    return np.asarray(a, np.float32), np.asarray(b, np.float32)


@pytest.mark.parametrize("sa,sb,const_side", EW_SHAPES, ids=[f"{a}-{b}-{c or 'inputs'}" for a, b, c in EW_SHAPES])
@pytest.mark.parametrize("op", ARITH, ids=lambda o: o.name)
def test_elementwise_float(rng, op, sa, sb, const_side):
    a, b = _float_operands(rng, op, sa, sb)
    # FLOOR_DIV / MOD results jump at multiples of b; tiny differences in a/b may legitimately flip them,
    # but numpy and gie use the same float32 algorithm, so the tolerance stays tight.
    _ew_check(op, a, b, const_side, lambda x, y: ref_float(op, x, y), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("sa,sb,const_side", EW_SHAPES[:10], ids=[f"{a}-{b}-{c or 'inputs'}" for a, b, c in EW_SHAPES[:10]])
@pytest.mark.parametrize("op", ARITH, ids=lambda o: o.name)
def test_elementwise_int32(rng, op, sa, sb, const_side):
    if op in (EW.SUM, EW.SUB, EW.PROD):  # full range: exercises wrap-around
        a = rng.integers(-2**31, 2**31, sa, dtype=np.int64).astype(np.int32)
        b = rng.integers(-2**31, 2**31, sb, dtype=np.int64).astype(np.int32)
    elif op == EW.POW:
        a = rng.integers(-9, 10, sa).astype(np.int32)
        b = rng.integers(0, 12, sb).astype(np.int32)
    else:  # includes zeros in b: x / 0, x // 0 and x % 0 are 0
        a = rng.integers(-50, 51, sa).astype(np.int32)
        b = rng.integers(-7, 8, sb).astype(np.int32)
    a, b = np.asarray(a, np.int32), np.asarray(b, np.int32)
    _ew_check(op, a, b, const_side, lambda x, y: ref_int(op, x, y))


def test_elementwise_int32_matches_numpy_where_numpy_defines_it(rng):
    # Independent cross-check of ref_int against numpy's own int32 ops (nonzero divisors).
    a = rng.integers(-1000, 1000, (5, 40)).astype(np.int32)
    b = rng.integers(1, 30, (5, 40)).astype(np.int32) * rng.choice([-1, 1], (5, 40)).astype(np.int32)
    for op, f in [(EW.FLOOR_DIV, np.floor_divide), (EW.MOD, np.remainder), (EW.SUM, np.add), (EW.PROD, np.multiply)]:
        np.testing.assert_array_equal(ref_int(op, a, b), f(a, b))
    _ew_check(EW.FLOOR_DIV, a, b, "", np.floor_divide)
    _ew_check(EW.MOD, a, b, "", np.remainder)


def test_elementwise_int32_edge_values():
    imin, imax = np.iinfo(np.int32).min, np.iinfo(np.int32).max
    a = np.array([[imin, imin, imax, 7, -7, 7, -7, 0, 2, -3, 1, -1, -1, 5]], dtype=np.int32)
    b = np.array([[-1, 1, -1, 0, 0, -2, 2, 0, 31, 3, -5, -4, -3, -1]], dtype=np.int32)
    _ew_check(EW.DIV, a, b, "", lambda x, y: np.array([[imin, imin, -imax, 0, 0, -3, -3, 0, 0, -1, 0, 0, 0, -5]], np.int32))
    _ew_check(EW.FLOOR_DIV, a, b, "", lambda x, y: np.array([[imin, imin, -imax, 0, 0, -4, -4, 0, 0, -1, -1, 0, 0, -5]], np.int32))
    _ew_check(EW.MOD, a, b, "", lambda x, y: np.array([[0, 0, 0, 0, 0, -1, 1, 0, 2, 0, -4, -1, -1, 0]], np.int32))
    # POW: 2**31 wraps to INT_MIN; negative exponents give the truncated real result.
    _ew_check(EW.POW, a, b, "", lambda x, y: np.array([[0, imin, 0, 1, 1, 0, 49, 1, imin, -27, 1, 1, -1, 0]], np.int32))


def test_elementwise_float_special_values():
    nan, inf = np.float32(np.nan), np.float32(np.inf)
    a = np.array([[nan, 1, nan, -0.0, 5, -5, 5, -5, 7.5, -7.5, inf, 1, 0, -1]], dtype=np.float32)
    b = np.array([[1, nan, nan, 0.0, 3, 3, -3, -3, 2.5, 2.5, 2, inf, 0, 0]], dtype=np.float32)
    for op in (EW.MAX, EW.MIN, EW.FLOOR_DIV, EW.MOD, EW.SUM, EW.DIV):
        _ew_check(op, a, b, "", lambda x, y, op=op: ref_float(op, x, y))
    # MAX/MIN propagate NaN like np.maximum / np.minimum (not like fmax)
    _ew_check(EW.MAX, a[:, :3], b[:, :3], "", lambda x, y: np.full((1, 3), np.nan, np.float32))


@pytest.mark.parametrize("sa,sb", [((5, 3, 4), (5, 3, 4)), ((5, 1, 4), (5, 3, 1)), ((6,), (6,)), ((5, 2, 3, 1, 2), (5, 1, 3, 4, 1))])
@pytest.mark.parametrize("op", LOGIC, ids=lambda o: o.name)
def test_elementwise_logical(rng, op, sa, sb):
    a = rng.random(sa) < 0.5
    b = rng.random(sb) < 0.5
    f = {EW.AND: np.logical_and, EW.OR: np.logical_or, EW.XOR: np.logical_xor}[op]
    _ew_check(op, a, b, "", f)


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.bool_])
@pytest.mark.parametrize("sa,sb,const_side", [((5, 3, 4, 7), (5, 3, 4, 7), ""), ((5, 1, 4, 1), (5, 3, 1, 6), ""),
                                              ((5, 3, 4), (4,), "b"), ((5, 40, 41, 21), (5, 40, 1, 21), "")])
@pytest.mark.parametrize("op", COMPARE, ids=lambda o: o.name)
def test_elementwise_compare(rng, op, sa, sb, const_side, dtype):
    if dtype == np.bool_ and const_side:
        pytest.skip("no bool constants")
    a = rng.integers(-2, 3, sa).astype(dtype)  # small value set -> many equal pairs
    b = rng.integers(-2, 3, sb).astype(dtype)
    if dtype == np.float32:
        a = (a + rng.choice([0, 0.5], sa)).astype(np.float32)
        b = (b + rng.choice([0, 0.5], sb)).astype(np.float32)
    f = {EW.EQUAL: np.equal, EW.GREATER: np.greater, EW.LESS: np.less}[op]
    _ew_check(op, np.asarray(a), np.asarray(b), const_side, lambda x, y: f(x, y))


def test_elementwise_compare_nan():
    a = np.array([[np.nan, 1, np.nan, 2]], np.float32)
    b = np.array([[np.nan, np.nan, 1, 2]], np.float32)
    for op, exp in [(EW.EQUAL, [0, 0, 0, 1]), (EW.GREATER, [0, 0, 0, 0]), (EW.LESS, [0, 0, 0, 0])]:
        _ew_check(op, a, b, "", lambda x, y, exp=exp: np.array([exp], dtype=np.bool_))


def test_elementwise_typed_cpp_add_matches_field_name(rng):
    # The generic add_layer with the documented field name gives the same result as add_elementwise.
    a = rng.standard_normal((2, 3)).astype(np.float32)
    b = rng.standard_normal((2, 3)).astype(np.float32)
    check(lambda net, t: net.add_layer("ElementWise", [t["a"], t["b"]], {"op": np.array([int(EW.SUB)], np.int64)}).output(0),
          {"a": a, "b": b}, lambda s: s["a"] - s["b"])


def test_elementwise_errors():
    f = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(gie.Error, match=r"cannot be broadcast.*dimension 2.*4 vs 5"):
        build(lambda net, t: net.add_elementwise(t["a"], t["b"], EW.SUM).output(0), {"a": f, "b": np.zeros((2, 3, 5), np.float32)})
    with pytest.raises(gie.Error, match=r"cannot be broadcast"):
        build(lambda net, t: net.add_elementwise(t["a"], const(net, np.zeros((2, 4), np.float32)), EW.PROD).output(0), {"a": f})
    with pytest.raises(gie.Error, match=r"same type.*float32 and int32"):
        build(lambda net, t: net.add_elementwise(t["a"], t["b"], EW.SUM).output(0), {"a": f, "b": f.astype(np.int32)})
    with pytest.raises(gie.Error, match=r"SUM does not take bool"):
        build(lambda net, t: net.add_elementwise(t["a"], t["b"], EW.SUM).output(0), {"a": f > 0, "b": f > 0})
    with pytest.raises(gie.Error, match=r"AND does not take float32.*needs bool"):
        build(lambda net, t: net.add_elementwise(t["a"], t["b"], EW.AND).output(0), {"a": f, "b": f})
    with pytest.raises(gie.InvalidArgumentError, match=r"unknown op 99"):
        build(lambda net, t: net.add_layer("ElementWise", [t["a"], t["a"]], {"op": np.array([99], np.int64)}).output(0), {"a": f})
    with pytest.raises(gie.Error, match=r"needs the field 'op'"):
        build(lambda net, t: net.add_layer("ElementWise", [t["a"], t["a"]], {}).output(0), {"a": f})
    with pytest.raises(gie.Error, match=r"takes 2 inputs, got 1"):
        build(lambda net, t: net.add_layer("ElementWise", [t["a"]], {"op": np.array([0], np.int64)}).output(0), {"a": f})


# ---- Unary --------------------------------------------------------------------------------------------

def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _round_half_even(x):
    # Independent of np.round: floor, then resolve exact halves toward the even neighbour.
    fl = np.floor(x)
    d = x - fl
    up = (d > 0.5) | ((d == 0.5) & (np.mod(fl, 2) != 0))
    return fl + up


# op -> (input sampler, float64 reference)
UNARY_FLOAT = {
    U.EXP: (lambda r, s: r.uniform(-10, 10, s), np.exp),
    U.LOG: (lambda r, s: r.uniform(1e-3, 100, s), np.log),
    U.SQRT: (lambda r, s: r.uniform(0, 100, s), np.sqrt),
    U.RECIP: (lambda r, s: r.choice([-1, 1], s) * r.uniform(0.01, 100, s), lambda x: 1.0 / x),
    U.ABS: (lambda r, s: r.uniform(-5, 5, s), np.abs),
    U.NEG: (lambda r, s: r.uniform(-5, 5, s), np.negative),
    U.SIN: (lambda r, s: r.uniform(-10, 10, s), np.sin),
    U.COS: (lambda r, s: r.uniform(-10, 10, s), np.cos),
    U.TAN: (lambda r, s: r.uniform(-1.4, 1.4, s), np.tan),
    U.SINH: (lambda r, s: r.uniform(-8, 8, s), np.sinh),
    U.COSH: (lambda r, s: r.uniform(-8, 8, s), np.cosh),
    U.ASIN: (lambda r, s: r.uniform(-0.999, 0.999, s), np.arcsin),
    U.ACOS: (lambda r, s: r.uniform(-0.999, 0.999, s), np.arccos),
    U.ATAN: (lambda r, s: r.uniform(-20, 20, s), np.arctan),
    U.ASINH: (lambda r, s: r.uniform(-20, 20, s), np.arcsinh),
    U.ACOSH: (lambda r, s: r.uniform(1, 50, s), np.arccosh),
    U.ATANH: (lambda r, s: r.uniform(-0.99, 0.99, s), np.arctanh),
    U.CEIL: (lambda r, s: r.uniform(-5, 5, s) * r.choice([1, 0], s) + r.integers(-3, 4, s) * r.choice([0, 1], s), np.ceil),
    U.FLOOR: (lambda r, s: r.uniform(-5, 5, s) * r.choice([1, 0], s) + r.integers(-3, 4, s) * r.choice([0, 1], s), np.floor),
    U.ERF: (lambda r, s: r.uniform(-4, 4, s), _erf),
    U.SIGN: (lambda r, s: r.uniform(-3, 3, s) * r.choice([0, 1], s), np.sign),
    U.ROUND: (lambda r, s: np.where(r.random(s) < 0.5, r.integers(-20, 21, s) / 2.0, r.uniform(-10, 10, s)), _round_half_even),
}
UNARY_SHAPES = [(5,), (5, 7), (5, 1, 1, 1), (5, 3, 5, 7), (5, 2, 1, 3, 5), (5, 3, 100, 71)]


@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("op", list(UNARY_FLOAT), ids=lambda o: o.name)
def test_unary_float(rng, op, shape):
    sample, f = UNARY_FLOAT[op]
    x = np.asarray(sample(rng, shape), dtype=np.float32)
    # Reference in float64 on the exact float32 inputs, rounded to float32.
    check(lambda net, t: net.add_unary(t["x"], op).output(0), {"x": x},
          lambda s: f(s["x"].astype(np.float64)).astype(np.float32), rtol=1e-5, atol=1e-6)


def test_unary_round_is_half_to_even():
    x = np.array([[0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, 3.5, -3.5, 1e8 + 0.0, 2.4, -2.6]], np.float32)
    check(lambda net, t: net.add_unary(t["x"], U.ROUND).output(0), {"x": x},
          lambda s: np.array([[0, 2, 2, -0, -2, -2, 0, 4, -4, 1e8, 2, -3]], np.float32))
    np.testing.assert_array_equal(_round_half_even(x.astype(np.float64)), np.round(x.astype(np.float64)))


def test_unary_special_values():
    x = np.array([[np.nan, np.inf, -np.inf, 0.0, -0.0]], np.float32)
    for op, exp in [(U.SIGN, [np.nan, 1, -1, 0, 0]), (U.ABS, [np.nan, np.inf, np.inf, 0, 0]), (U.EXP, [np.nan, np.inf, 0, 1, 1]),
                    (U.ROUND, [np.nan, np.inf, -np.inf, 0, 0]), (U.RECIP, [np.nan, 0, 0, np.inf, -np.inf])]:
        check(lambda net, t, op=op: net.add_unary(t["x"], op).output(0), {"x": x},
              lambda s, exp=exp: np.array([exp], np.float32))
    check(lambda net, t: net.add_unary(t["x"], U.LOG).output(0), {"x": np.array([[-1.0, 0.0]], np.float32)},
          lambda s: np.array([[np.nan, -np.inf]], np.float32))


@pytest.mark.parametrize("shape", [(5,), (5, 3, 4), (5, 1, 1, 1), (5, 2, 3, 1, 4), (5, 64, 130)], ids=str)
@pytest.mark.parametrize("op", [U.ABS, U.NEG, U.SIGN], ids=lambda o: o.name)
def test_unary_int32(rng, op, shape):
    x = rng.integers(-1000, 1001, shape).astype(np.int32)
    x.flat[0] = 0
    ref = {U.ABS: lambda v: np.where(v < 0, -v, v), U.NEG: lambda v: 0 - v,
           U.SIGN: lambda v: (v > 0).astype(np.int32) - (v < 0).astype(np.int32)}[op]
    check(lambda net, t: net.add_unary(t["x"], op).output(0), {"x": x}, lambda s: ref(s["x"]).astype(np.int32))


def test_unary_int32_extremes():
    imin, imax = np.iinfo(np.int32).min, np.iinfo(np.int32).max
    x = np.array([[imin, imax, -1, 0]], np.int32)
    for op, exp in [(U.ABS, [imin, imax, 1, 0]), (U.NEG, [imin, -imax, 1, 0]), (U.SIGN, [-1, 1, -1, 0])]:
        check(lambda net, t, op=op: net.add_unary(t["x"], op).output(0), {"x": x}, lambda s, exp=exp: np.array([exp], np.int32))


@pytest.mark.parametrize("shape", [(5,), (5, 3, 4), (5, 2, 1, 3, 2)], ids=str)
def test_unary_not(rng, shape):
    x = rng.random(shape) < 0.5
    check(lambda net, t: net.add_unary(t["x"], U.NOT).output(0), {"x": x}, lambda s: np.logical_not(s["x"]))


def test_unary_errors():
    f = np.zeros((2, 3), np.float32)
    with pytest.raises(gie.Error, match=r"Unary NOT does not take float32.*needs bool"):
        build(lambda net, t: net.add_unary(t["x"], U.NOT).output(0), {"x": f})
    with pytest.raises(gie.Error, match=r"Unary SIN does not take int32.*float32"):
        build(lambda net, t: net.add_unary(t["x"], U.SIN).output(0), {"x": f.astype(np.int32)})
    with pytest.raises(gie.Error, match=r"Unary ABS does not take bool.*float32 or int32"):
        build(lambda net, t: net.add_unary(t["x"], U.ABS).output(0), {"x": f > 0})
    with pytest.raises(gie.InvalidArgumentError, match=r"unknown op 23"):
        build(lambda net, t: net.add_layer("Unary", [t["x"]], {"op": np.array([23], np.int64)}).output(0), {"x": f})
    with pytest.raises(gie.Error, match=r"unknown field 'axis'"):
        build(lambda net, t: net.add_layer("Unary", [t["x"]], {"op": np.array([0], np.int64), "axis": np.array([1], np.int64)})
              .output(0), {"x": f})


# ---- Scale --------------------------------------------------------------------------------------------

def ref_scale(x, mode, shift, scale, power, axis):
    x = x.astype(np.float64)
    ax = axis % x.ndim if x.ndim else 0
    if mode == gie.ScaleMode.UNIFORM:
        wshape = ()
    elif mode == gie.ScaleMode.CHANNEL:
        wshape = (x.shape[ax],) + (1,) * (x.ndim - ax - 1)
    else:
        wshape = x.shape[ax:]
    def w(v, default):
        return np.float64(default) if v is None else np.asarray(v, np.float64).reshape(wshape)
    return ((x * w(scale, 1) + w(shift, 0)) ** w(power, 1)).astype(np.float32)


SCALE_CASES = [  # shape, channel_axis (None = default 1)
    ((5, 3, 4, 7), None), ((5, 3), None), ((5, 1, 1, 1), None), ((5, 7, 1, 1), None), ((5, 2, 3, 4, 5), None),
    ((5, 3, 4, 7), 2), ((5, 3, 4, 7), -1), ((5, 6, 40, 50), None), ((5, 4, 3), -2), ((5, 2, 3, 4), -3),
]


@pytest.mark.parametrize("weights", ["shift", "scale", "power", "shift+scale", "all", "none"])
@pytest.mark.parametrize("shape,axis", SCALE_CASES, ids=[f"{s}-axis{a}" for s, a in SCALE_CASES])
@pytest.mark.parametrize("mode", [gie.ScaleMode.UNIFORM, gie.ScaleMode.CHANNEL, gie.ScaleMode.ELEMENTWISE], ids=lambda m: m.name)
def test_scale(rng, mode, shape, axis, weights):
    ax = 1 if axis is None else axis % len(shape)
    count = {gie.ScaleMode.UNIFORM: 1, gie.ScaleMode.CHANNEL: shape[ax],
             gie.ScaleMode.ELEMENTWISE: int(np.prod(shape[ax:]))}[mode]
    use_power = "power" in weights or weights == "all"
    x = (rng.uniform(0.5, 2.0, shape) if use_power else rng.standard_normal(shape)).astype(np.float32)
    shift = rng.uniform(0.0, 1.0, count).astype(np.float32) if "shift" in weights or weights == "all" else None
    scale = rng.uniform(0.5, 2.0, count).astype(np.float32) if "scale" in weights or weights == "all" else None
    power = rng.uniform(-2.0, 3.0, count).astype(np.float32) if use_power else None
    if power is not None:
        power[0] = 1.0  # exercise the power == 1 shortcut next to real powers

    def define(net, t):
        return net.add_scale(t["x"], mode, shift, scale, power, channel_axis=axis).output(0)

    check(define, {"x": x}, lambda s: ref_scale(s["x"], mode, shift, scale, power, ax),
          rtol=2e-5 if use_power else 1e-5, atol=1e-6)


def test_scale_batchnorm(rng):
    # BatchNorm folded into CHANNEL scale/shift: y = (x - mean) / sqrt(var + eps) * gamma + beta
    C = 5
    x = rng.standard_normal((3, C, 6, 6)).astype(np.float32)
    mean, var = rng.standard_normal(C), rng.uniform(0.5, 2, C)
    gamma, beta = rng.standard_normal(C), rng.standard_normal(C)
    s = gamma / np.sqrt(var + 1e-5)
    b = beta - mean * s
    expect = lambda d: (((d["x"].astype(np.float64) - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5)) * gamma[:, None, None]
                        + beta[:, None, None]).astype(np.float32)
    check(lambda net, t: net.add_scale(t["x"], gie.ScaleMode.CHANNEL, shift=b, scale=s).output(0), {"x": x}, expect,
          rtol=1e-5, atol=1e-5)


def test_scale_float16_weights(rng):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    scale = np.array([0.5, 1.25, -2.0], np.float16)
    check(lambda net, t: net.add_scale(t["x"], gie.ScaleMode.CHANNEL, scale=scale).output(0), {"x": x},
          lambda s: s["x"] * scale.astype(np.float32)[:, None])


def test_scale_cpp_typed_add_fields(rng):
    # The generic layer with the documented field names.
    x = rng.standard_normal((2, 3)).astype(np.float32)
    fields = {"mode": np.array([1], np.int64), "scale": np.array([1, 2, 3], np.float32), "shift": np.array([0.5, 0, -1], np.float32)}
    check(lambda net, t: net.add_layer("Scale", [t["x"]], fields).output(0), {"x": x},
          lambda s: s["x"] * np.array([1, 2, 3], np.float32) + np.array([0.5, 0, -1], np.float32))


def test_scale_errors():
    x = np.zeros((2, 3, 4, 5), np.float32)
    M = gie.ScaleMode
    with pytest.raises(gie.Error, match=r"UNIFORM: weights 'scale' need 1 value, got 3"):
        build(lambda net, t: net.add_scale(t["x"], M.UNIFORM, scale=np.ones(3)).output(0), {"x": x})
    with pytest.raises(gie.Error, match=r"CHANNEL: the weights have 4 values but the input \(2, 3, 4, 5\).*needs 3"):
        build(lambda net, t: net.add_scale(t["x"], M.CHANNEL, shift=np.ones(4)).output(0), {"x": x})
    with pytest.raises(gie.Error, match=r"ELEMENTWISE: the weights have 3 values.*needs 60"):
        build(lambda net, t: net.add_scale(t["x"], M.ELEMENTWISE, shift=np.ones(3)).output(0), {"x": x})
    with pytest.raises(gie.Error, match=r"weights 'scale' have 4 values but 'shift' has 3"):
        build(lambda net, t: net.add_scale(t["x"], M.CHANNEL, shift=np.ones(3), scale=np.ones(4)).output(0), {"x": x})
    with pytest.raises(gie.Error, match=r"unknown mode 3"):
        build(lambda net, t: net.add_scale(t["x"], 3, shift=np.ones(3)).output(0), {"x": x})
    with pytest.raises(gie.Error, match=r"channel_axis: axis 4 is out of range for rank 4"):
        build(lambda net, t: net.add_scale(t["x"], M.CHANNEL, shift=np.ones(3), channel_axis=4).output(0), {"x": x})


# ---- PRelu --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(5, 3, 4, 7), (5, 3), (5, 1, 1, 1), (5, 7, 1, 1), (5, 2, 3, 2, 2), (5, 16, 60, 40), (6,)], ids=str)
@pytest.mark.parametrize("per_channel", [False, True])
def test_prelu(rng, shape, per_channel):
    if per_channel and len(shape) < 2:
        pytest.skip("rank 1 has no channel dimension")
    C = shape[1] if per_channel else 1
    slope = rng.uniform(-0.5, 0.5, C).astype(np.float32)
    x = rng.standard_normal(shape).astype(np.float32)
    x.flat[0] = 0.0

    def ref(s):
        v = s["x"]
        sl = slope.reshape((C,) + (1,) * (v.ndim - 2)) if per_channel else slope[0]
        return np.where(v >= 0, v, v * sl).astype(np.float32)

    check(lambda net, t: net.add_prelu(t["x"], slope).output(0), {"x": x}, ref)


def test_prelu_errors():
    x = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(gie.Error, match=r"'slope' has 4 values but the input \(2, 3, 4\) has 3 channels"):
        build(lambda net, t: net.add_prelu(t["x"], np.ones(4)).output(0), {"x": x})
    with pytest.raises(gie.Error, match=r"need a channel dimension"):
        build(lambda net, t: net.add_prelu(t["x"], np.ones(2)).output(0), {"x": np.zeros((2,), np.float32)})
    with pytest.raises(gie.Error, match=r"PRelu needs the field 'slope'"):
        build(lambda net, t: net.add_layer("PRelu", [t["x"]], {}).output(0), {"x": x})


# ---- LRN ----------------------------------------------------------------------------------------------

def ref_lrn(x, n, alpha, beta, k):
    x = x.astype(np.float64)
    C = x.shape[1]
    y = np.empty_like(x)
    for c in range(C):
        lo, hi = max(0, c - n // 2), min(C - 1, c + n // 2)
        s = np.sum(x[:, lo:hi + 1] ** 2, axis=1)
        y[:, c] = x[:, c] / (k + alpha / n * s) ** beta
    return y.astype(np.float32)


LRN_CASES = [  # shape, window, alpha, beta, k
    ((5, 7, 4, 5), 5, 1e-4, 0.75, 1.0), ((5, 7, 4, 5), 3, 0.5, 0.75, 2.0), ((5, 3, 3, 3), 7, 2.0, 0.5, 1.0),
    ((5, 1, 2, 2), 5, 1.0, 0.75, 1.0), ((5, 16), 5, 1.0, 1.0, 1.5), ((5, 6, 9), 1, 1.0, 0.75, 1.0),
    ((5, 4, 2, 3, 2), 3, 0.3, 0.6, 0.8), ((5, 11, 1, 1), 5, 1.0, 0.75, 1.0), ((5, 32, 21, 23), 5, 1e-2, 0.75, 1.0),
    ((5, 2, 600), 9, 1.5, 2.0, 1.0),
]


@pytest.mark.parametrize("shape,n,alpha,beta,k", LRN_CASES, ids=[str(c) for c in LRN_CASES])
def test_lrn(rng, shape, n, alpha, beta, k):
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    check(lambda net, t: net.add_lrn(t["x"], n, alpha, beta, k).output(0), {"x": x},
          lambda s: ref_lrn(s["x"], n, alpha, beta, k), rtol=1e-5, atol=1e-6)


def test_lrn_errors():
    x = np.zeros((2, 3, 4, 4), np.float32)
    with pytest.raises(gie.Error, match=r"window_size must be a positive odd number, got 4"):
        build(lambda net, t: net.add_lrn(t["x"], 4, 1.0, 0.75, 1.0).output(0), {"x": x})
    with pytest.raises(gie.Error, match=r"window_size must be a positive odd number, got -1"):
        build(lambda net, t: net.add_lrn(t["x"], -1, 1.0, 0.75, 1.0).output(0), {"x": x})
    with pytest.raises(gie.Error, match=r"beta must be finite"):
        build(lambda net, t: net.add_lrn(t["x"], 3, 1.0, float("nan"), 1.0).output(0), {"x": x})
    with pytest.raises(gie.Error, match=r"LRN normalizes across channels.*rank >= 2"):
        build(lambda net, t: net.add_lrn(t["x"], 3, 1.0, 0.75, 1.0).output(0), {"x": np.zeros((4,), np.float32)})


# ---- Concatenation ------------------------------------------------------------------------------------

CONCAT_DTYPES = [np.float32, np.int32, np.float16, np.int8, np.bool_]


def _random(rng, shape, dtype):
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    return rng.integers(-100, 100, shape).astype(dtype)


CONCAT_CASES = [  # shape of every input except along the axis, axis (None = default 1), sizes along the axis
    ((5, 0, 4, 5), None, [3, 1, 2]), ((5, 4, 0, 5), 2, [1, 4]), ((5, 4, 5, 0), -1, [2, 3, 1, 1]),
    ((5, 4, 5, 0), 3, [5]), ((5, 0), None, [3, 4]), ((5, 0, 1, 1), 1, [1, 1, 1]), ((5, 3, 0), -1, [2, 7]),
    ((5, 2, 3, 0, 2), 3, [1, 2, 3]), ((5, 0, 40, 50), 1, [3, 5]), ((0, 3, 4), 0, [5, 5, 5]), ((0, 5, 3), -3, [5, 5]),
    ((5, 3, 0), 2, [1, 1]),
]


@pytest.mark.parametrize("dtype", CONCAT_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("base,axis,sizes", CONCAT_CASES, ids=[f"{b}-axis{a}-{s}" for b, a, s in CONCAT_CASES])
def test_concatenation(rng, base, axis, sizes, dtype):
    arrays, ax, define = concat_case(base, axis, sizes, lambda shape: _random(rng, shape, dtype))
    names = list(arrays)
    # Concatenating along the batch axis: every input must be run at the same batch (the engine checks
    # the shapes), the reference slices each input.
    check(define, arrays, lambda s: np.concatenate([s[k] for k in names], axis=ax))


def test_concatenation_errors():
    a = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(gie.Error, match=r"input 1 \(2, 3, 5\) differs from input 0 \(2, 3, 4\) in dimension 2"):
        build(lambda net, t: net.add_concatenation([t["a"], t["b"]]).output(0), {"a": a, "b": np.zeros((2, 3, 5), np.float32)})
    with pytest.raises(gie.Error, match=r"axis 3 is out of range for rank 3"):
        build(lambda net, t: net.add_concatenation([t["a"], t["a"]], axis=3).output(0), {"a": a})
    with pytest.raises(gie.Error, match=r"axis -4 is out of range for rank 3"):
        build(lambda net, t: net.add_concatenation([t["a"], t["a"]], axis=-4).output(0), {"a": a})
    with pytest.raises(gie.Error, match=r"input 1 is int32 but input 0 is float32"):
        build(lambda net, t: net.add_concatenation([t["a"], t["b"]]).output(0), {"a": a, "b": a.astype(np.int32)})
    with pytest.raises(gie.Error, match=r"input 1 \(2, 3\) has rank 2 but input 0 \(2, 3, 4\) has rank 3"):
        build(lambda net, t: net.add_concatenation([t["a"], t["b"]]).output(0), {"a": a, "b": np.zeros((2, 3), np.float32)})


# ---- Cast ---------------------------------------------------------------------------------------------

NP_OF = {gie.float32: np.float32, gie.float16: np.float16, gie.int8: np.int8, gie.int32: np.int32, gie.bool_: np.bool_}
CAST_TYPES = [gie.float32, gie.float16, gie.int8, gie.int32, gie.bool_]


def _cast_source(rng, shape, src):
    """Values representable in `src` and in range for every target (so plain numpy astype is the reference)."""
    if src in (gie.float32, gie.float16):
        v = rng.uniform(-127, 127, shape)
        v = np.where(rng.random(shape) < 0.2, np.round(v), v)  # integral values
        v = np.where(rng.random(shape) < 0.1, 0.0, v)
        v = np.where(rng.random(shape) < 0.1, rng.uniform(-1, 1, shape), v)  # |x| < 1 truncates to 0
        return v.astype(NP_OF[src])
    if src == gie.bool_:
        return rng.random(shape) < 0.5
    return rng.integers(-128, 128, shape).astype(NP_OF[src])


@pytest.mark.parametrize("shape", [(5, 3, 4), (5,), (5, 1, 1, 1, 1), (5, 64, 200)], ids=str)
@pytest.mark.parametrize("dst", CAST_TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("src", CAST_TYPES, ids=lambda t: t.name)
def test_cast(rng, src, dst, shape):
    x = _cast_source(rng, shape, src)
    check(lambda net, t: net.add_cast(t["x"], dst).output(0), {"x": x}, lambda s: s["x"].astype(NP_OF[dst]))


def test_cast_float_to_half_rounding(rng):
    # Rounding to nearest even, subnormals, overflow to inf, NaN.
    x = np.concatenate([rng.standard_normal(500) * 10.0 ** rng.integers(-8, 6, 500),
                        [65504, 65519.99, 65520, 1e6, -1e6, 6e-8, 3e-8, 2.9e-8, 1e-10, 0.0, -0.0, 1 + 2**-11, 1 + 3 * 2**-11,
                         np.inf, -np.inf, np.nan]]).astype(np.float32)[None]
    with np.errstate(over="ignore"):
        check(lambda net, t: net.add_cast(t["x"], gie.float16).output(0), {"x": x}, lambda s: s["x"].astype(np.float16))
    h = np.arange(0, 2**16, dtype=np.uint16).view(np.float16)[None]  # every half value back to float32 (exact)
    check(lambda net, t: net.add_cast(t["x"], gie.float32).output(0), {"x": h}, lambda s: s["x"].astype(np.float32))


def test_cast_saturation():
    x = np.array([[300.7, -300.7, 127.9, -128.9, 3e9, -3e9, np.nan, np.inf, -np.inf, -0.99, 2.5]], np.float32)
    check(lambda net, t: net.add_cast(t["x"], gie.int8).output(0), {"x": x},
          lambda s: np.array([[127, -128, 127, -128, 127, -128, 0, 127, -128, 0, 2]], np.int8))
    imax, imin = np.iinfo(np.int32).max, np.iinfo(np.int32).min
    check(lambda net, t: net.add_cast(t["x"], gie.int32).output(0), {"x": x},
          lambda s: np.array([[300, -300, 127, -128, imax, imin, 0, imax, imin, 0, 2]], np.int32))
    check(lambda net, t: net.add_cast(t["x"], gie.bool_).output(0), {"x": x},
          lambda s: np.array([[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]], np.bool_))
    i = np.array([[1000, -1000, 127, -128, 128, -129, imax, imin]], np.int32)
    check(lambda net, t: net.add_cast(t["x"], gie.int8).output(0), {"x": i},
          lambda s: np.array([[127, -128, 127, -128, 127, -128, 127, -128]], np.int8))
    check(lambda net, t: net.add_cast(t["x"], gie.float16).output(0), {"x": i},
          lambda s: np.array([[1000, -1000, 127, -128, 128, -129, np.inf, -np.inf]], np.float16))


def test_cast_large_int_to_float():
    x = np.array([[16777217, -16777217, 2**31 - 1, 123456789]], np.int32)
    check(lambda net, t: net.add_cast(t["x"], gie.float32).output(0), {"x": x}, lambda s: s["x"].astype(np.float32))


def test_cast_errors():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(gie.Error, match=r"field 'to' is 7, not a DataType"):
        build(lambda net, t: net.add_layer("Cast", [t["x"]], {"to": np.array([7], np.int64)}).output(0), {"x": x})
    with pytest.raises(gie.Error, match=r"Cast needs the field 'to'"):
        build(lambda net, t: net.add_layer("Cast", [t["x"]], {}).output(0), {"x": x})


# ---- Gather -------------------------------------------------------------------------------------------

GATHER_CASES = [  # data shape, axis, indices shape (None = rank-0 scalar), indices from an input?
    ((5, 4, 6), 1, (3,), False), ((5, 4, 6), 2, (2, 3), False), ((5, 4, 6), -1, (2, 2, 2), False),
    ((5, 4, 6), 1, None, False), ((5, 7), 1, (4, 1), False), ((5, 3, 1, 1), 1, (6,), False),
    ((5, 2, 3, 4, 5), 3, (2, 3), False), ((5, 9, 30, 40), 1, (7,), False),
    ((7, 3), 0, (5, 4), True), ((10,), 0, (5, 6, 2), True), ((6, 4, 5), -2, (5, 3), True),
]


@pytest.mark.parametrize("dtype", CONCAT_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("dshape,axis,ishape,idx_input", GATHER_CASES, ids=[str(c) for c in GATHER_CASES])
def test_gather(rng, dshape, axis, ishape, idx_input, dtype):
    data = _random(rng, dshape, dtype)
    n = dshape[axis]
    idx = rng.integers(-n, n, () if ishape is None else ishape).astype(np.int32)
    if idx_input:
        # data is a constant (not batched), indices are the batched network input
        if dtype == np.bool_:
            pytest.skip("no bool constants")
        check(lambda net, t: net.add_gather(const(net, data), t["i"], axis).output(0), {"i": idx},
              lambda s: np.take(data, s["i"], axis=axis))
    else:
        check(lambda net, t: net.add_gather(t["d"], const(net, idx), axis).output(0), {"d": data},
              lambda s: np.take(s["d"], idx, axis=axis))


def test_gather_both_inputs(rng):
    data = rng.standard_normal((5, 4, 3)).astype(np.float32)
    idx = rng.integers(-4, 4, (5, 2)).astype(np.int32)
    check(lambda net, t: net.add_gather(t["d"], t["i"], 1).output(0), {"d": data, "i": idx},
          lambda s: np.take(s["d"], s["i"], axis=1))


def test_gather_out_of_range_index_fails_at_run_time():
    data = np.arange(10, dtype=np.float32).reshape(2, 5)
    engine = build(lambda net, t: net.add_gather(const(net, data), t["i"], 1).output(0), {"i": np.zeros((2, 3), np.int32)})
    ctx = engine.create_execution_context()
    ok = ctx.execute({"i": np.array([[0, 4, -5], [1, 2, 3]], np.int32)})["out0"]
    np.testing.assert_array_equal(ok, np.take(data, np.array([[0, 4, -5], [1, 2, 3]]), axis=1))
    with pytest.raises(gie.Error, match=r"Gather: index 5 .*out of range for axis 1 of size 5"):
        ctx.execute({"i": np.array([[0, 1, 2], [3, 4, 5]], np.int32)})
    with pytest.raises(gie.Error, match=r"Gather: index -6 .*out of range"):
        ctx.execute({"i": np.array([[-6, 1, 2]], np.int32)})
    # the context still works afterwards
    np.testing.assert_array_equal(ctx.execute({"i": np.array([[1, 1, 1]], np.int32)})["out0"], np.take(data, [[1, 1, 1]], axis=1))


def test_gather_errors():
    d = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(gie.Error, match=r"Gather: axis 3 is out of range for rank 3"):
        build(lambda net, t: net.add_gather(t["d"], const(net, np.zeros(2, np.int32)), 3).output(0), {"d": d})
    with pytest.raises(gie.Error, match=r"Gather: axis -4 is out of range for rank 3"):
        build(lambda net, t: net.add_gather(t["d"], const(net, np.zeros(2, np.int32)), -4).output(0), {"d": d})
    with pytest.raises(gie.Error, match=r"indices \(input 1\) must be int32, got float32"):
        build(lambda net, t: net.add_gather(t["d"], const(net, np.zeros(2, np.float32)), 1).output(0), {"d": d})


# ---- all layers together: engine file round trip, constant folding -----------------------------------

def _pipeline(net, t, consts):
    """x (N,3,4,5) float32, i (N,2) int32 -> one output using every layer of this file."""
    x = t["x"]
    y = net.add_scale(x, gie.ScaleMode.CHANNEL, shift=consts["shift"], scale=consts["scale"]).output(0)
    y = net.add_prelu(y, consts["slope"]).output(0)
    y = net.add_lrn(y, 3, 0.5, 0.75, 1.0).output(0)
    y = net.add_unary(y, U.SIN).output(0)
    y = net.add_concatenation([y, x], axis=1).output(0)                                   # (N, 6, 4, 5)
    g = net.add_gather(y, const(net, consts["idx"]), 1).output(0)                          # (N, 4, 4, 5)
    m = net.add_elementwise(g, const(net, consts["bias"]), EW.SUM).output(0)
    c = net.add_cast(net.add_elementwise(m, const(net, np.float32(0.0)), EW.GREATER).output(0), gie.int32).output(0)
    ci = net.add_cast(t["i"], gie.float32).output(0)                                       # (N, 2)
    ci = net.add_gather(ci, const(net, np.int32(-1)), 1).output(0)                         # (N,)
    return [m, c, ci]


def _pipeline_ref(s, consts):
    x = s["x"].astype(np.float64)
    y = x * consts["scale"][:, None, None] + consts["shift"][:, None, None]
    y = np.where(y >= 0, y, y * consts["slope"][:, None, None])
    y = ref_lrn(y.astype(np.float32), 3, 0.5, 0.75, 1.0).astype(np.float64)
    y = np.sin(y)
    y = np.concatenate([y, x], axis=1)
    g = np.take(y, consts["idx"], axis=1)
    m = (g + consts["bias"]).astype(np.float32)
    return [m, (m > 0).astype(np.int32), s["i"][:, -1].astype(np.float32)]


def test_all_layers_engine_round_trip(rng):
    consts = {"shift": rng.standard_normal(3).astype(np.float32), "scale": rng.standard_normal(3).astype(np.float32),
              "slope": rng.uniform(0, 0.3, 3).astype(np.float32), "idx": np.array([5, 0, -1, 3], np.int32),
              "bias": rng.standard_normal((4, 1, 5)).astype(np.float32)}
    inputs = {"x": rng.standard_normal((5, 3, 4, 5)).astype(np.float32), "i": rng.integers(-9, 9, (5, 2)).astype(np.int32)}
    engine = build(lambda net, t: _pipeline(net, t, consts), inputs)
    loaded = gie.Runtime().deserialize(engine.serialize())
    for eng in (engine, loaded):
        ctx = eng.create_execution_context()
        for b in (5, 2):
            sub = {k: v[:b] for k, v in inputs.items()}
            res = ctx.execute(sub)
            for i, e in enumerate(_pipeline_ref(sub, consts)):
                _compare(res[f"out{i}"], e, 1e-5, 1e-5, f"out{i} batch {b}")


def test_constant_subgraphs_fold(rng):
    # Every layer here sees only constants except the final SUM, so the constant_folding pass evaluates
    # them at build time on these CPU kernels; the result must equal the unfolded engine and numpy.
    w = rng.standard_normal((3, 4)).astype(np.float32)
    idx = np.array([[2, 0], [1, -1]], np.int32)

    def define(net, t):
        c = const(net, w)
        c = net.add_unary(c, U.ABS).output(0)
        c = net.add_scale(c, gie.ScaleMode.CHANNEL, shift=np.array([1, 2, 3], np.float32), channel_axis=0).output(0)
        c = net.add_concatenation([c, c], axis=0).output(0)                         # (6, 4)
        c = net.add_gather(c, const(net, idx), 0).output(0)                          # (2, 2, 4)
        c = net.add_cast(net.add_cast(c, gie.int32).output(0), gie.float32).output(0)
        return net.add_elementwise(t["x"], c, EW.SUM).output(0)                      # (N, 2, 2, 4)

    cc = np.abs(w) + np.array([1, 2, 3], np.float32)[:, None]
    cc = np.concatenate([cc, cc], axis=0)
    cc = np.trunc(np.take(cc, idx, axis=0)).astype(np.float32)
    x = rng.standard_normal((3, 2, 2, 4)).astype(np.float32)
    check(define, {"x": x}, lambda s: s["x"] + cc)
    unfolded = build(define, {"x": x}, passes_off=("constant_folding",))
    _compare(unfolded.create_execution_context().execute({"x": x})["out0"], x + cc, 1e-6, 1e-6, "unfolded")
