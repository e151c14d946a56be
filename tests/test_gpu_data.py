"""GPU data-movement and reduction kernels against the CPU kernels: ElementWise, Shuffle, Concatenation, Slice,
Gather, Padding, Resize, Reduce (cuda/kernels/*.cu).

Every test builds the same network for the CPU and the GPU (gpu_util.compare_gpu_cpu), runs the GPU engine on
NaN-poisoned device outputs at the built batch (13 for most) and at batch 1, and compares. Data movement and the
integer / bool / comparison ops must match bit for bit (rtol = atol = 0); float arithmetic follows the same IEEE
operations in the same order (0 tolerance too, except POW: CUDA powf is within 2 ulp); reductions accumulate in
double on both sides in different orders (1e-6).
"""
import itertools

import numpy as np
import pytest

import gie
import util
from gpu_util import build_gpu, compare_gpu_cpu, gpu, poisoned_output, to_device

pytestmark = gpu

EW = gie.ElementWiseOperation
ARITH = [EW.SUM, EW.PROD, EW.MAX, EW.MIN, EW.SUB, EW.DIV, EW.POW, EW.FLOOR_DIV, EW.MOD]
LOGIC = [EW.AND, EW.OR, EW.XOR]
COMPARE = [EW.EQUAL, EW.GREATER, EW.LESS]
DTYPES = [np.float32, np.int32, np.float16, np.int8, np.bool_]
RT = gie.ResizeCoordinateTransformation
RM = gie.ResizeRoundMode
RED = gie.ReduceOperation
B = 13  # the built batch; compare_gpu_cpu also runs batch 1


def const(net, arr):
    """A Constant layer with the exact shape (rank 0 allowed) and dtype (float32 / float16 / int32) of arr."""
    arr = np.asarray(arr)
    return net.add_layer("Constant", [], {"shape": np.asarray(arr.shape, dtype=np.int64),
                                          "weights": np.ascontiguousarray(arr).ravel()}).output(0)


def _rand(rng, shape, dtype=np.float32):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        return rng.integers(-100, 100, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _ran_on_gpu(info, kernel_type):
    kinds = [(k.get("type"), k.get("device")) for k in info.get("kernels", [])]
    assert (kernel_type, "gpu") in kinds, f"no GPU {kernel_type} kernel in the engine: {kinds}"


def check(define, inputs, kernel_type, rtol=0.0, atol=0.0, **kw):
    info = compare_gpu_cpu(define, inputs, rtol=rtol, atol=atol, **kw)
    _ran_on_gpu(info, kernel_type)
    return info


def check_fixed(define, inputs, kernel_type, rtol=0.0, atol=0.0):
    """Like check(), for networks that index dimension 0 itself: both engines are built for exactly the given batch."""
    inputs = {n: np.asarray(a) for n, a in inputs.items()}
    b = next(iter(inputs.values())).shape[0]

    def fixed(config):
        config.set_batch_range(b, b, b)

    cpu = util.build(define, inputs, device="cpu", configure=fixed)
    gpu_engine = build_gpu(define, inputs, configure=fixed)
    expected = cpu.create_execution_context().execute(inputs)
    outs, readers = {}, {}
    for name in gpu_engine.output_names:
        outs[name], readers[name] = poisoned_output(expected[name].shape, expected[name].dtype)
    gpu_engine.create_execution_context().execute({n: to_device(a) for n, a in inputs.items()}, outputs=outs)
    for name in gpu_engine.output_names:
        util.assert_close(readers[name](), expected[name], rtol=rtol, atol=atol, what=f"output '{name}'")
    _ran_on_gpu(gpu_engine.layer_info(), kernel_type)


# ================================================================================================ ElementWise

# (shape of a, shape of b, constant side "" | "a" | "b"). Inputs carry the batch in dim 0.
EW_SHAPES = [
    ((B, 3, 17, 13), (B, 3, 17, 13), ""),        # same shape, odd row (scalar rows path)
    ((B, 8, 16, 16), (B, 8, 16, 16), ""),        # same shape, vector path
    ((B, 7, 17, 13), (1,), "b"),                 # scalar constant
    ((B, 64, 8, 8), (), "b"),                    # rank-0 constant, vector path
    ((B, 33, 7, 7), (33, 1, 1), "b"),            # per-channel, rows of 49
    ((B, 64, 16, 16), (64, 1, 1), "b"),          # per-channel, vector rows of 256
    ((B, 3, 1, 1), (1, 3, 1, 1), "b"),           # 1x1 spatial: general path
    ((B, 1, 4, 1), (B, 3, 1, 6), ""),            # broadcast on both sides
    ((7,), (7,), ""),                            # rank 1 (only the batch)
    ((B, 2, 1, 3, 1), (B, 1, 4, 1, 2), ""),      # rank 5
    ((7,), (B, 3, 7), "a"),                      # the constant is the first input, lower rank
    ((B, 5), (B, 1), ""),                        # per-row scalar, short rows
    ((B, 7, 130, 3), (B, 1, 130, 1), ""),        # interleaved broadcast
    ((B, 1000), (B, 1000), ""),                  # long rows, vector path
    ((B, 1, 37), (B, 41, 1), ""),                # outer product
    ((B, 3, 40), (1, 1, 40), "b"),               # per-column vector over rows (b walks the row, a too)
]
EW_IDS = [f"{a}-{b}-{c or 'inputs'}" for a, b, c in EW_SHAPES]


def _ew_define(op, const_side, a, b):
    def define(net, t):
        x = const(net, a) if "a" in const_side else t["a"]
        y = const(net, b) if "b" in const_side else t["b"]
        return net.add_elementwise(x, y, op).output(0)
    return define


def _ew_check(op, a, b, const_side, **kw):
    inputs = {}
    if "a" not in const_side:
        inputs["a"] = a
    if "b" not in const_side:
        inputs["b"] = b
    # fold_constant_operands would turn SUM / SUB / PROD with a constant into a Scale layer
    return check(_ew_define(op, const_side, a, b), inputs, "ElementWise", passes_off=("fold_constant_operands",), **kw)


def _float_operands(rng, op, sa, sb):
    a = rng.uniform(-4, 4, sa).astype(np.float32)
    b = rng.uniform(-4, 4, sb).astype(np.float32)
    if op == EW.POW:
        a = rng.uniform(0.1, 3, sa).astype(np.float32)
        b = rng.uniform(-2.5, 2.5, sb).astype(np.float32)
        return a, b
    if op in (EW.MAX, EW.MIN, EW.FLOOR_DIV, EW.MOD, EW.DIV):  # ties, exact multiples, zeros, signed zeros
        a = np.where(rng.random(sa) < 0.3, np.round(a), a).astype(np.float32)
        b = np.where(rng.random(sb) < 0.3, np.round(b), b).astype(np.float32)
        a = np.where(rng.random(sa) < 0.05, -0.0, a).astype(np.float32)
    return np.asarray(a, np.float32), np.asarray(b, np.float32)


@pytest.mark.parametrize("sa,sb,const_side", EW_SHAPES, ids=EW_IDS)
@pytest.mark.parametrize("op", ARITH, ids=lambda o: o.name)
def test_elementwise_float(rng, op, sa, sb, const_side):
    a, b = _float_operands(rng, op, sa, sb)
    tol = dict(rtol=1e-6, atol=0.0) if op == EW.POW else {}
    _ew_check(op, a, b, const_side, **tol)


@pytest.mark.parametrize("sa,sb,const_side", EW_SHAPES, ids=EW_IDS)
@pytest.mark.parametrize("op", ARITH, ids=lambda o: o.name)
def test_elementwise_int32(rng, op, sa, sb, const_side):
    if op in (EW.SUM, EW.SUB, EW.PROD):  # full range: wrap-around
        a = rng.integers(-2**31, 2**31, sa, dtype=np.int64).astype(np.int32)
        b = rng.integers(-2**31, 2**31, sb, dtype=np.int64).astype(np.int32)
    elif op == EW.POW:
        a = rng.integers(-9, 10, sa).astype(np.int32)
        b = rng.integers(-3, 12, sb).astype(np.int32)
    else:  # zeros and -1 in b
        a = rng.integers(-50, 51, sa).astype(np.int32)
        b = rng.integers(-7, 8, sb).astype(np.int32)
    _ew_check(op, np.asarray(a, np.int32), np.asarray(b, np.int32), const_side)


def test_elementwise_int32_edge_values():
    imin, imax = np.iinfo(np.int32).min, np.iinfo(np.int32).max
    a = np.array([[imin, imin, imax, 7, -7, 7, -7, 0, 2, -3, 1, -1, -1, 5, imin, imax]], dtype=np.int32)
    b = np.array([[-1, 1, -1, 0, 0, -2, 2, 0, 31, 3, -5, -4, -3, -1, 0, 2]], dtype=np.int32)
    for op in ARITH:
        _ew_check(op, a, b, "")


def test_elementwise_float_special_values():
    nan, inf = np.float32(np.nan), np.float32(np.inf)
    a = np.array([[nan, 1, nan, -0.0, 5, -5, 5, -5, 7.5, -7.5, inf, 1, 0, -1, -inf, 1e-40, -3e-39, 6, 0.0, inf]], np.float32)
    b = np.array([[1, nan, nan, 0.0, 3, 3, -3, -3, 2.5, 2.5, 2, inf, 0, 0, 3, 1e-3, 7, 0.1, -2.0, inf]], np.float32)
    for op in (EW.MAX, EW.MIN, EW.FLOOR_DIV, EW.MOD, EW.SUM, EW.SUB, EW.PROD, EW.DIV):
        _ew_check(op, a, b, "")


@pytest.mark.parametrize("sa,sb", [((B, 3, 4), (B, 3, 4)), ((B, 1, 4), (B, 3, 1)), ((6,), (6,)),
                                   ((B, 2, 3, 1, 2), (B, 1, 3, 4, 1)), ((B, 300), (B, 300)), ((B, 7, 129), (B, 7, 1))])
@pytest.mark.parametrize("op", LOGIC, ids=lambda o: o.name)
def test_elementwise_logical(rng, op, sa, sb):
    check(lambda net, t: net.add_elementwise(t["a"], t["b"], op).output(0),
          {"a": rng.random(sa) < 0.5, "b": rng.random(sb) < 0.5}, "ElementWise")


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.bool_], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("sa,sb,const_side", [((B, 3, 4, 7), (B, 3, 4, 7), ""), ((B, 1, 4, 1), (B, 3, 1, 6), ""),
                                              ((B, 3, 4), (4,), "b"), ((B, 40, 41, 21), (B, 40, 1, 21), ""),
                                              ((B, 512), (B, 512), ""), ((B, 9, 256), (9, 1), "b")])
@pytest.mark.parametrize("op", COMPARE, ids=lambda o: o.name)
def test_elementwise_compare(rng, op, sa, sb, const_side, dtype):
    if dtype == np.bool_ and const_side:
        pytest.skip("no bool constants")
    a = rng.integers(-2, 3, sa).astype(dtype)
    b = rng.integers(-2, 3, sb).astype(dtype)
    if dtype == np.float32:
        a = (a + rng.choice([0, 0.5], sa)).astype(np.float32)
        b = (b + rng.choice([0, 0.5], sb)).astype(np.float32)
        a = np.where(rng.random(sa) < 0.05, np.nan, a).astype(np.float32)
    _ew_check(op, np.asarray(a), np.asarray(b), const_side)


def test_elementwise_bool_inputs_any_nonzero_byte(rng):
    # A bool byte may hold any non-zero value (e.g. produced by a view); the GPU compares truth values.
    a = rng.random((B, 200)) < 0.5
    b = rng.random((B, 200)) < 0.5
    for op in LOGIC + COMPARE:
        check(lambda net, t, op=op: net.add_elementwise(t["a"], t["b"], op).output(0), {"a": a, "b": b}, "ElementWise")


# ================================================================================================ Shuffle

SHUFFLE_SHAPES = [(B, 3, 17, 13), (B, 33, 65), (B, 64, 7, 7), (B, 3, 32, 32), (2, 67, 129), (B, 1, 5, 1, 3),
                  (B, 2, 3, 4, 5), (B, 40, 48)]


@pytest.mark.parametrize("shape", SHUFFLE_SHAPES, ids=str)
def test_shuffle_transposes(rng, shape):
    x = _rand(rng, shape)
    perms = [p for p in itertools.permutations(range(len(shape))) if list(p) != sorted(p)]
    if len(perms) > 12:
        perms = [perms[i] for i in rng.choice(len(perms), 12, replace=False)]
    for perm in perms:
        check(lambda net, t, perm=perm: net.add_shuffle(t["x"], first_transpose=perm).output(0), {"x": x}, "Shuffle")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape,perm", [((B, 3, 17, 13), (0, 2, 3, 1)), ((B, 64, 7, 7), (0, 2, 3, 1)), ((B, 33, 65), (0, 2, 1)),
                                        ((B, 33, 65), (1, 0, 2)), ((B, 48, 40), (2, 1, 0)), ((B, 5, 6, 7), (3, 2, 1, 0)),
                                        # rows of fewer than 32 units after widening (one thread per unit):
                                        ((B, 6, 5, 40), (0, 2, 1, 3)), ((B, 3, 7, 2, 64), (2, 0, 3, 1, 4)),
                                        ((B, 5, 3, 36), (1, 0, 2, 3))],
                         ids=str)
def test_shuffle_dtypes(rng, dtype, shape, perm):
    x = _rand(rng, shape, dtype)
    check(lambda net, t: net.add_shuffle(t["x"], first_transpose=perm).output(0), {"x": x}, "Shuffle")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("first,reshape,second", [
    ((0, 3, 1, 2), (0, 15, 7), (0, 2, 1)),   # both transposes move data: the first goes through the workspace
    ((0, 2, 1, 3), (0, 0, -1), None),
    (None, (0, -1), None),                   # pure reshape: a copy
    (None, (0, 5, 21), (0, 2, 1)),
    ((0, 3, 2, 1), (0, 35, 3), (2, 1, 0)),
])
def test_shuffle_combinations(rng, dtype, first, reshape, second):
    x = _rand(rng, (B, 3, 5, 7), dtype)
    check(lambda net, t: net.add_shuffle(t["x"], first_transpose=first, reshape=reshape, second_transpose=second).output(0),
          {"x": x}, "Shuffle")


def test_shuffle_literal_reshape_fixed_batch(rng):
    x = _rand(rng, (4, 6, 10))
    check_fixed(lambda net, t: net.add_shuffle(t["x"], reshape=(12, 20), second_transpose=(1, 0)).output(0), {"x": x}, "Shuffle")


# ================================================================================================ Concatenation

CONCAT_CASES = [  # shape of every input except along the axis, axis (None = default 1), sizes along the axis
    ((B, 0, 4, 5), None, [3, 1, 2]), ((B, 4, 0, 5), 2, [1, 4]), ((B, 4, 5, 0), -1, [2, 3, 1, 1]),
    ((B, 4, 5, 0), 3, [5]), ((B, 0), None, [3, 4]), ((B, 0, 1, 1), 1, [1, 1, 1]), ((B, 3, 0), -1, [2, 7]),
    ((B, 2, 3, 0, 2), 3, [1, 2, 3]), ((B, 0, 40, 50), 1, [3, 5]), ((0, 3, 4), 0, [5, 5, 5]),
    ((B, 0, 7, 7), 1, [1] * 20),                 # more inputs than one launch takes
    ((B, 0, 16), 1, [4, 8, 12]),                 # 16-byte units for float32
    ((B, 3, 0), 2, [33, 1, 64]),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("base,axis,sizes", CONCAT_CASES, ids=[f"{b}-axis{a}-{len(s)}in" for b, a, s in CONCAT_CASES])
def test_concatenation(rng, base, axis, sizes, dtype):
    arrays, ax, define = util.concat_case(base, axis, sizes, lambda shape: _rand(rng, shape, dtype))
    # (The 0 in `base` only marks the concatenation axis: no input is empty.) The GPU Concatenation kernel
    # itself, on every axis:
    check(define, arrays, "Concatenation", passes_off=("concat_elimination",))
    if ax != 1:
        check(define, arrays, "Concatenation")
        return
    # With the default passes concat_elimination removes channel (axis-1) concatenations: the inputs are
    # network inputs, so each is copied into its slice of the output by a GPU Identity kernel.
    info = compare_gpu_cpu(define, arrays, rtol=0.0, atol=0.0)
    kinds = [(k.get("type"), k.get("device")) for k in info.get("kernels", [])]
    assert ("Concatenation", "gpu") not in kinds, kinds
    assert kinds.count(("Identity", "gpu")) == len(sizes), kinds


# ================================================================================================ Slice

def _random_slice(rng, dims):
    start, size, stride = [], [], []
    for d in dims:
        sd = int(rng.choice([1, 1, 2, 3, -1, -2]))
        st = int(rng.integers(0, d))
        room = st // -sd + 1 if sd < 0 else (d - 1 - st) // sd + 1
        start.append(st)
        size.append(int(rng.integers(1, room + 1)))
        stride.append(sd)
    return start, size, stride


@pytest.mark.parametrize("shape", [(B, 9), (B, 4, 7), (B, 3, 5, 6), (B, 2, 3, 4, 5), (B, 3, 1, 2, 3, 4), (B, 7, 70), (B, 5, 130)],
                         ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_slice_trailing_dims(rng, shape, dtype):
    x = _rand(rng, shape, dtype)
    for _ in range(4):
        start, size, stride = _random_slice(rng, shape[1:])  # the batch stays whole
        check(lambda net, t: net.add_slice(t["x"], start, size, stride).output(0), {"x": x}, "Slice")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_slice_windows(rng, dtype):
    x = _rand(rng, (B, 6, 40, 72), dtype)
    for start, size, stride in [((1, 0, 0), (4, 40, 72), (1, 1, 1)),      # whole rows: one copy per batch
                                ((0, 3, 8), (6, 33, 64), (1, 1, 1)),      # unit-stride windows (rows path)
                                ((0, 3, 5), (6, 33, 61), (1, 1, 1)),      # unaligned rows
                                ((5, 39, 71), (6, 40, 72), (-1, -1, -1)),  # full reverse
                                ((0, 0, 1), (6, 40, 36), (1, 1, 2))]:     # every other column
        check(lambda net, t: net.add_slice(t["x"], start, size, stride).output(0), {"x": x}, "Slice")


def test_slice_full_rank_fixed_batch(rng):
    x = _rand(rng, (3, 5, 7))
    check_fixed(lambda net, t: net.add_slice(t["x"], (2, 4, 6), (2, 5, 4), (-1, -1, -2)).output(0), {"x": x}, "Slice")


# ================================================================================================ Gather

GATHER_CASES = [  # data shape, axis, indices shape (None = rank-0 scalar), indices from an input?
    ((B, 4, 6), 1, (3,), False), ((B, 4, 6), 2, (2, 3), False), ((B, 4, 6), -1, (2, 2, 2), False),
    ((B, 4, 6), 1, None, False), ((B, 7), 1, (4, 1), False), ((B, 3, 1, 1), 1, (6,), False),
    ((B, 2, 3, 4, 5), 3, (2, 3), False), ((B, 9, 30, 40), 1, (7,), False), ((B, 33, 17), 1, (13,), False),
    ((7, 3), 0, (B, 4), True), ((10,), 0, (B, 6, 2), True), ((6, 4, 5), -2, (B, 3), True), ((5, 64), 0, (B, 7), True),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("dshape,axis,ishape,idx_input", GATHER_CASES, ids=[str(c) for c in GATHER_CASES])
def test_gather(rng, dshape, axis, ishape, idx_input, dtype):
    data = _rand(rng, dshape, dtype)
    n = dshape[axis]
    idx = rng.integers(-n, n, () if ishape is None else ishape).astype(np.int32)
    if idx_input:
        if dtype in (np.bool_, np.int8):
            pytest.skip("no bool / int8 constants")
        check(lambda net, t: net.add_gather(const(net, data), t["i"], axis).output(0), {"i": idx}, "Gather")
    else:
        check(lambda net, t: net.add_gather(t["d"], const(net, idx), axis).output(0), {"d": data}, "Gather")


def test_gather_both_inputs(rng):
    data = rng.standard_normal((B, 4, 3)).astype(np.float32)
    idx = rng.integers(-4, 4, (B, 2)).astype(np.int32)
    check(lambda net, t: net.add_gather(t["d"], t["i"], 1).output(0), {"d": data, "i": idx}, "Gather")


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.float16])
def test_gather_out_of_range_indices_give_zeros_on_gpu(dtype):
    """Documented GPU behaviour (cuda/kernels/gather.cu): the slab of an out-of-range index is zero, the call succeeds
    and the other slabs are exact (the CPU kernel fails the call instead)."""
    data = (np.arange(40).reshape(2, 5, 4) + 1).astype(dtype)
    engine = build_gpu(lambda net, t: net.add_gather(const(net, data), t["i"], 1).output(0), {"i": np.zeros((3, 3), np.int32)})
    _ran_on_gpu(engine.layer_info(), "Gather")
    ctx = engine.create_execution_context()
    idx = np.array([[0, 4, -5], [5, 2, -6], [1, 2147483647, -2147483648]], np.int32)
    bad = (idx < -5) | (idx >= 5)
    out, read = poisoned_output((2, 3, 3, 4), dtype)
    ctx.execute({"i": to_device(idx)}, outputs={"out0": out})
    got = read()
    expected = np.take(data, np.where(bad, 0, idx), axis=1)
    expected[:, bad] = 0
    np.testing.assert_array_equal(got, expected)
    # The CPU engine reports the same indices as an error.
    cpu = util.build(lambda net, t: net.add_gather(const(net, data), t["i"], 1).output(0), {"i": np.zeros((3, 3), np.int32)})
    with pytest.raises(gie.Error, match=r"out of range"):
        cpu.create_execution_context().execute({"i": idx})


# ================================================================================================ Padding

_PAD_MODES = {"constant": gie.PaddingMode.CONSTANT, "reflect": gie.PaddingMode.REFLECT, "edge": gie.PaddingMode.EDGE}


@pytest.mark.parametrize("mode", list(_PAD_MODES))
@pytest.mark.parametrize("shape,pre,post", [
    ((B, 7), (2,), (3,)),
    ((B, 5), (1, 2), (0, 4)),
    ((B, 4, 5), (2, 3), (1, 0)),
    ((B, 3, 4, 5), (0, 1, 2, 3), (3, 2, 1, 0)),
    ((B, 3, 1, 4, 3), (1, 2, 0, 1), (0, 2, 3, 2)),
    ((B, 2, 3, 1, 2, 3), (0, 1, 1, 0, 2, 2), (1, 0, 2, 0, 1, 4)),
    ((B, 3, 3), (5,), (7,)),          # wider than the dimension: reflect repeats periodically
    ((B, 1, 1), (2, 3), (3, 2)),      # size-1 dimensions
    ((B, 33, 17, 13), (1, 1), (1, 1)),
    ((B, 3, 7, 7), (0, 3, 3), (0, 3, 3)),
])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_padding(rng, mode, shape, pre, post, dtype):
    x = _rand(rng, shape, dtype)
    value = 1.5 if mode == "constant" else None
    check(lambda net, t: net.add_padding(t["x"], pre, post, mode=_PAD_MODES[mode], value=value).output(0), {"x": x}, "Padding")


@pytest.mark.parametrize("value", [0.0, -2.5, 3.5, 1e10, -1e10, float("nan")])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_padding_fill_value_conversion(rng, dtype, value):
    # The fill is converted on the host by the same expressions as the CPU kernel's (NaN included).
    x = _rand(rng, (B, 3, 4), dtype)
    check(lambda net, t: net.add_padding(t["x"], (1, 2), (2, 1), value=value).output(0), {"x": x}, "Padding")


def test_padding_negative_crops(rng):
    x = _rand(rng, (B, 6, 7))
    check(lambda net, t: net.add_padding(t["x"], (-2, 1), (1, -3)).output(0), {"x": x}, "Padding")


# ================================================================================================ Resize

_RESIZE_CASES = [
    ((B, 3, 4, 5), (B, 3, 8, 10), None),
    ((B, 3, 4, 5), (B, 3, 7, 3), None),
    ((1, 2, 5, 7), (1, 2, 1, 1), None),
    ((B, 2, 1, 1), (B, 2, 3, 4), None),
    ((B, 3, 9), (B, 3, 4), None),
    ((B, 2, 3, 4, 5), (B, 2, 5, 3, 9), None),
    ((B, 3, 4, 5), None, (1.0, 1.0, 1.7, 0.6)),
    ((B, 3, 4, 5), None, (1.0, 1.0, 2.0, 3.0)),
    ((B, 3, 6, 5), None, (1.0, 1.0, 0.5, 2.5)),
    ((B, 3, 4), None, (1.0, 1.0, 3.3)),
    ((B, 3, 4, 5), (B, 5, 4, 5), None),          # the channel dim resized, the spatial ones identity
    ((B, 7, 17, 13), (B, 7, 34, 26), None),
]


@pytest.mark.parametrize("ct", [RT.HALF_PIXEL, RT.ASYMMETRIC, RT.ALIGN_CORNERS, RT.PYTORCH_HALF_PIXEL], ids=lambda c: c.name)
@pytest.mark.parametrize("nearest_mode", [RM.ROUND_PREFER_FLOOR, RM.ROUND_PREFER_CEIL, RM.FLOOR, RM.CEIL], ids=lambda m: m.name)
@pytest.mark.parametrize("shape,out_shape,scales", _RESIZE_CASES)
def test_resize_nearest(rng, ct, nearest_mode, shape, out_shape, scales):
    x = _rand(rng, shape)
    check(lambda net, t: net.add_resize(t["x"], gie.ResizeMode.NEAREST, output_shape=out_shape, scales=scales,
                                        coordinate_transformation=ct, nearest_mode=nearest_mode).output(0), {"x": x}, "Resize")


@pytest.mark.parametrize("ct", [RT.HALF_PIXEL, RT.ASYMMETRIC, RT.ALIGN_CORNERS, RT.PYTORCH_HALF_PIXEL], ids=lambda c: c.name)
@pytest.mark.parametrize("shape,out_shape,scales", _RESIZE_CASES)
def test_resize_linear(rng, ct, shape, out_shape, scales):
    x = _rand(rng, shape)
    check(lambda net, t: net.add_resize(t["x"], gie.ResizeMode.LINEAR, output_shape=out_shape, scales=scales,
                                        coordinate_transformation=ct).output(0), {"x": x}, "Resize", rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.int32, np.float16, np.int8, np.bool_], ids=lambda d: np.dtype(d).name)
def test_resize_nearest_dtypes(rng, dtype):
    x = _rand(rng, (B, 3, 5, 7), dtype)
    check(lambda net, t: net.add_resize(t["x"], gie.ResizeMode.NEAREST, output_shape=(B, 3, 11, 4)).output(0), {"x": x}, "Resize")


def test_resize_linear_special_values(rng):
    # inf / NaN inputs: the identity dims must not be interpolated (0 * inf would add NaNs), like on the CPU
    x = _rand(rng, (B, 3, 4, 5))
    x[0, 0, 1, 2] = np.inf
    x[1, 1, 2, 3] = np.nan
    x[2, 2, 0, 0] = -0.0
    for out_shape in [(B, 3, 8, 5), (B, 3, 4, 9), (B, 3, 7, 9)]:
        check(lambda net, t, o=out_shape: net.add_resize(t["x"], gie.ResizeMode.LINEAR, output_shape=o).output(0), {"x": x}, "Resize",
              rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode", [gie.ResizeMode.NEAREST, gie.ResizeMode.LINEAR], ids=lambda m: m.name)
def test_resize_after_batch_moved(rng, mode):
    """A transpose moves the batch into dimension 1, so the resized dims change with the batch: the GPU kernel then
    rebuilds its coordinate tables on the device (batch 1) instead of using the configured ones (batch 13)."""
    x = _rand(rng, (B, 3, 4))

    def define(net, t):
        y = net.add_shuffle(t["x"], first_transpose=(1, 0, 2)).output(0)  # (3, N, 4)
        return net.add_resize(y, mode, output_shape=(3, 6, 7)).output(0)

    check(define, {"x": x}, "Resize", rtol=1e-6, atol=1e-6)

    def define_scales(net, t):
        y = net.add_shuffle(t["x"], first_transpose=(1, 0, 2)).output(0)
        return net.add_resize(y, mode, scales=(1.0, 1.5, 2.0)).output(0)

    check(define_scales, {"x": x}, "Resize", rtol=1e-6, atol=1e-6)


# ================================================================================================ Reduce

@pytest.mark.parametrize("op", [RED.SUM, RED.PROD, RED.MAX, RED.MIN, RED.AVG], ids=lambda o: o.name)
@pytest.mark.parametrize("shape,axes", [
    ((B,), (0,)),
    ((B, 5), (1,)),
    ((B, 5), (0,)),
    ((B, 5), (-1, -2)),
    ((B, 3, 4), (1,)),
    ((B, 3, 4), (0, 2)),
    ((B, 3, 1, 5), (1, 2)),
    ((B, 3, 4, 5), (1, 3)),
    ((B, 3, 4, 5, 3), (0, 2, 4)),
    ((B, 1, 3, 2, 4, 3), (1, 3, 5)),
    ((B, 33, 7, 7), (2, 3)),          # global pooling: warp per output
    ((B, 33, 17, 13), (1,)),          # over channels: columns of 221
    ((B, 33, 17), (0,)),              # over the batch
    ((1, 600, 3), (1,)),              # short kept rows
    ((B, 3, 700), (2,)),
    ((B, 64, 1000), (1, 2)),          # long reductions, few outputs: split over the grid
    ((B, 4096, 3), (1,)),             # long reduction with a kept inner dim of 3
    ((B, 3000, 40), (1,)),            # columns path, split
    ((B, 7, 9, 11), (0, 1, 2, 3)),    # everything to one value
    ((B, 3, 1, 1), (2, 3)),           # nothing to reduce: a copy
])
@pytest.mark.parametrize("keep", [True, False], ids=["keep", "drop"])
def test_reduce(rng, op, shape, axes, keep):
    if op == RED.PROD:
        x = rng.uniform(0.95, 1.05, size=shape).astype(np.float32) * rng.choice([-1, 1], size=shape).astype(np.float32)
    else:
        x = _rand(rng, shape)
    check(lambda net, t: net.add_reduce(t["x"], op, axes, keep_dims=keep).output(0), {"x": x}, "Reduce", rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("op", [RED.SUM, RED.PROD, RED.MAX, RED.MIN, RED.AVG], ids=lambda o: o.name)
@pytest.mark.parametrize("shape,axes", [((B, 4, 50), (2,)), ((B, 50, 40), (1,)), ((B, 20000), (1,))])
def test_reduce_special_values(rng, op, shape, axes):
    x = _rand(rng, shape)
    x[0].flat[3] = np.nan
    x[1].flat[5] = np.inf
    x[2].flat[7] = -np.inf
    x[3].flat[:] = -0.0
    x[4].flat[11] = np.inf
    x[4].flat[12] = -np.inf
    check(lambda net, t: net.add_reduce(t["x"], op, axes, keep_dims=False).output(0), {"x": x}, "Reduce", rtol=1e-6, atol=1e-6)
