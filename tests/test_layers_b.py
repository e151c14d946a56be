"""Layer tests: Shuffle, Padding, Reduce, Slice, Resize, MatrixMultiply, Deconvolution (CPU).

Every layer is compared with an independent numpy implementation written here (numpy.pad / numpy reductions /
indexing loops, the ONNX Resize formulas, a direct scatter loop for deconvolution). Tolerances: float32
results rtol 1e-5 (atol 1e-5); MatrixMultiply and Deconvolution |err| <= 1e-4 * (sum of |terms|) + 1e-6.
"""
import itertools
import math

import numpy as np
import pytest

import gie
from util import assert_close, build, run

RT = gie.ResizeCoordinateTransformation
RM = gie.ResizeRoundMode


def _rand(rng, shape, dtype=np.float32):
    if np.dtype(dtype) == np.bool_:
        return rng.random(shape) > 0.5
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-100, 100, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _run_fixed(define, inputs):
    """Builds for exactly the batch of the given inputs (dimension 0 of the first one) and runs once.

    For layers that index dimension 0 itself (a full-rank slice, a literal reshape, a 2-D matrix), which
    cannot run at other batches."""
    builder = gie.Builder()
    net = builder.create_network()
    tensors = {}
    for name, arr in inputs.items():
        dt = {np.dtype(np.float32): gie.float32, np.dtype(np.int32): gie.int32, np.dtype(np.float16): gie.float16,
              np.dtype(np.int8): gie.int8, np.dtype(np.bool_): gie.bool_}[arr.dtype]
        tensors[name] = net.add_input(name, dt, arr.shape)
    net.mark_output(define(net, tensors), "out0")
    config = builder.create_config()
    config.device = "cpu"
    b = next(iter(inputs.values())).shape[0]
    config.batch_range = (b, b, b)
    return builder.build(net, config).create_execution_context().execute(inputs)["out0"]


def _check_batches(define, ref, x, rtol=1e-5, atol=1e-5, batches=(5, 2, 1)):
    """Builds one engine for max batch len(x) (5) and runs it at each batch in `batches`."""
    engine = build(define, {"x": x}, max_batch=x.shape[0])
    ctx = engine.create_execution_context()
    for b in batches:
        out = ctx.execute({"x": np.ascontiguousarray(x[:b])})["out0"]
        assert_close(out, ref(x[:b]), rtol=rtol, atol=atol, what=f"batch {b}")


def _assert_close_terms(actual, expected, abs_terms, rtol=1e-4, what="output"):
    """|actual - expected| <= rtol * (sum of |terms|) + 1e-6 elementwise."""
    actual = np.asarray(actual, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != expected {expected.shape}"
    err = np.abs(actual - expected)
    tol = rtol * abs_terms + 1e-6
    bad = ~(err <= tol)
    if bad.any():
        idx = np.unravel_index(np.argmax(np.where(bad, err, -1)), err.shape)
        raise AssertionError(f"{what}: {bad.sum()} of {err.size} differ; worst at {idx}: got {actual[idx]}, "
                             f"expected {expected[idx]} (err {err[idx]:.3g}, tol {tol[idx]:.3g})")


# ================================================================================================ Shuffle

def _ref_shuffle(x, first=None, reshape=None, second=None, zero_is_placeholder=True):
    y = x if first is None else np.transpose(x, first)
    if reshape is not None:
        shape = [y.shape[i] if (v == 0 and zero_is_placeholder) else v for i, v in enumerate(reshape)]
        y = y.reshape(shape)
    return y if second is None else np.transpose(y, second)


@pytest.mark.parametrize("shape", [(5,), (3, 7), (2, 1, 5), (1, 3, 4, 5), (2, 3, 1, 4, 3), (2, 1, 3, 2, 2, 3),
                                   (2, 67, 129), (3, 33, 1, 65)])
def test_shuffle_transpose_all_perms(rng, shape):
    x = _rand(rng, shape)
    perms = list(itertools.permutations(range(len(shape))))
    if len(perms) > 24:
        perms = [perms[i] for i in rng.choice(len(perms), 24, replace=False)]
    for perm in perms:
        out, = run(lambda net, t: net.add_shuffle(t["x"], first_transpose=perm).output(0), {"x": x})
        np.testing.assert_array_equal(out, np.transpose(x, perm), err_msg=f"perm {perm}")
        out, = run(lambda net, t: net.add_shuffle(t["x"], second_transpose=perm).output(0), {"x": x})
        np.testing.assert_array_equal(out, np.transpose(x, perm), err_msg=f"second perm {perm}")


@pytest.mark.parametrize("dtype", [np.int32, np.float16, np.int8, np.bool_])
def test_shuffle_dtypes(rng, dtype):
    x = _rand(rng, (2, 3, 5, 7), dtype)
    out, = run(lambda net, t: net.add_shuffle(t["x"], first_transpose=(0, 3, 1, 2), reshape=(0, 7, 15),
                                              second_transpose=(0, 2, 1)).output(0), {"x": x})
    assert out.dtype == x.dtype
    np.testing.assert_array_equal(out, _ref_shuffle(x, (0, 3, 1, 2), (0, 7, 15), (0, 2, 1)))


@pytest.mark.parametrize("first,reshape,second,zip_", [
    (None, (0, -1), None, True),
    (None, (0, 4, 3, 5), None, True),
    (None, (-1,), None, True),
    ((0, 2, 1, 3), (0, 0, -1), None, True),
    ((0, 3, 2, 1), (0, 20, 3), (0, 2, 1), True),
    ((2, 0, 3, 1), (4, -1, 3), (2, 1, 0), True),
    (None, None, (0, 3, 1, 2), True),
    ((1, 0, 2, 3), None, (3, 1, 2, 0), True),
    (None, (4, 2, 3, 5), None, False),
    (None, (-1, 1, 5, 1), (0, 2, 3, 1), True),
])
def test_shuffle_combinations(rng, first, reshape, second, zip_):
    x = _rand(rng, (2, 4, 3, 5))
    out = _run_fixed(lambda net, t: net.add_shuffle(t["x"], first_transpose=first, reshape=reshape, second_transpose=second,
                                                    zero_is_placeholder=zip_).output(0), {"x": x})
    np.testing.assert_array_equal(out, _ref_shuffle(x, first, reshape, second, zip_))


def test_shuffle_batch_recomputed(rng):
    """Built for max batch 5, run at 5/2/1: 0 and -1 follow the run-time batch, also when the batch is folded."""
    x = _rand(rng, (5, 4, 6))
    _check_batches(lambda net, t: net.add_shuffle(t["x"], reshape=(-1, 6)).output(0), lambda a: a.reshape(-1, 6), x)
    _check_batches(lambda net, t: net.add_shuffle(t["x"], first_transpose=(2, 0, 1), reshape=(6, -1),
                                                  second_transpose=(1, 0)).output(0),
                   lambda a: np.transpose(a, (2, 0, 1)).reshape(6, -1).T, x)
    _check_batches(lambda net, t: net.add_shuffle(t["x"], reshape=(0, 2, 2, 6), second_transpose=(0, 3, 1, 2)).output(0),
                   lambda a: a.reshape(a.shape[0], 2, 2, 6).transpose(0, 3, 1, 2), x)


def test_shuffle_shape_reported(rng):
    builder = gie.Builder()
    net = builder.create_network()
    t = net.add_input("x", gie.float32, (2, 3, 4))
    layer = net.add_shuffle(t, first_transpose=(0, 2, 1), reshape=(0, -1, 2))
    assert layer.output(0).shape == (2, 6, 2)


@pytest.mark.parametrize("kw,msg", [
    (dict(first_transpose=(0, 0, 1)), "not a permutation"),
    (dict(first_transpose=(0, 1, 3)), "not a permutation"),
    (dict(first_transpose=(1, 0)), "first_transpose .* 2 entries .* 3 dimensions"),
    (dict(second_transpose=(0, 2, 1, 3)), "second_transpose .* 4 entries"),
    (dict(reshape=(2, 5)), "volume mismatch"),
    (dict(reshape=(-1, -1)), "more than one -1"),
    (dict(reshape=(-1, 7)), "not divisible"),
    (dict(reshape=(0, 0, 0, 0)), "0 .*only 3 dimensions"),
    (dict(reshape=(2, -3, 4)), "reshape .* -3"),
])
def test_shuffle_errors(kw, msg):
    builder = gie.Builder()
    net = builder.create_network()
    t = net.add_input("x", gie.float32, (2, 3, 4))
    with pytest.raises(gie.Error, match=msg):
        net.add_shuffle(t, **kw)


# ================================================================================================ Padding

def _ref_pad(x, pre, post, mode="constant", value=0.0):
    """Independent reference: numpy.pad for non-negative padding; crops first for negative (constant) padding."""
    r = x.ndim
    pre = [0] * (r - len(pre)) + list(pre)
    post = [0] * (r - len(post)) + list(post)
    crop = tuple(slice(max(0, -a), x.shape[i] - max(0, -b)) for i, (a, b) in enumerate(zip(pre, post)))
    x = x[crop]
    width = [(max(0, a), max(0, b)) for a, b in zip(pre, post)]
    if mode == "constant":
        return np.pad(x, width, mode="constant", constant_values=np.asarray(value).astype(x.dtype))
    return np.pad(x, width, mode=mode)


_PAD_MODES = {"constant": gie.PaddingMode.CONSTANT, "reflect": gie.PaddingMode.REFLECT, "edge": gie.PaddingMode.EDGE}


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
@pytest.mark.parametrize("shape,pre,post", [
    ((7,), (2,), (3,)),
    ((2, 5), (1, 2), (0, 4)),
    ((3, 4, 5), (2, 3), (1, 0)),
    ((2, 3, 4, 5), (0, 1, 2, 3), (3, 2, 1, 0)),
    ((2, 3, 1, 4, 3), (1, 2, 0, 1), (0, 2, 3, 2)),
    ((1, 2, 3, 1, 2, 3), (0, 1, 1, 0, 2, 2), (1, 0, 2, 0, 1, 4)),
    ((2, 3, 3), (5,), (7,)),  # wider than the dimension: reflect repeats periodically
    ((2, 1, 1), (2, 3), (3, 2)),  # size-1 dimensions
])
def test_padding_vs_numpy(rng, mode, shape, pre, post):
    x = _rand(rng, shape)
    value = 1.5 if mode == "constant" else None
    out, = run(lambda net, t: net.add_padding(t["x"], pre, post, mode=_PAD_MODES[mode], value=value).output(0), {"x": x})
    assert_close(out, _ref_pad(x, pre, post, mode, value or 0.0), rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [np.int32, np.float16, np.bool_, np.int8])
@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_padding_dtypes(rng, dtype, mode):
    x = _rand(rng, (2, 3, 4), dtype)
    out, = run(lambda net, t: net.add_padding(t["x"], (1, 2), (2, 1), mode=_PAD_MODES[mode], value=3.0).output(0), {"x": x})
    assert out.dtype == x.dtype
    np.testing.assert_array_equal(out, _ref_pad(x, (1, 2), (2, 1), mode, 3.0))


def test_padding_negative_crops(rng):
    x = _rand(rng, (2, 6, 7))
    out, = run(lambda net, t: net.add_padding(t["x"], (-2, 1), (1, -3)).output(0), {"x": x})
    assert_close(out, _ref_pad(x, (-2, 1), (1, -3)), rtol=0, atol=0)


def test_padding_default_is_zero_constant(rng):
    x = _rand(rng, (2, 3))
    out, = run(lambda net, t: net.add_padding(t["x"], (1,), (2,)).output(0), {"x": x})
    np.testing.assert_array_equal(out, np.pad(x, ((0, 0), (1, 2))))


def test_padding_batches(rng):
    x = _rand(rng, (5, 3, 4, 5))
    _check_batches(lambda net, t: net.add_padding(t["x"], (1, 2, 0), (0, 1, 3), mode=gie.PaddingMode.REFLECT).output(0),
                   lambda a: _ref_pad(a, (1, 2, 0), (0, 1, 3), "reflect"), x)


@pytest.mark.parametrize("kw,msg", [
    (dict(pre_padding=(1, 2), post_padding=(1,)), "pre_padding has 2 values but post_padding has 1"),
    (dict(pre_padding=(1, 1, 1, 1), post_padding=(1, 1, 1, 1)), "4 padding values given for a 3-dimensional"),
    (dict(pre_padding=(-1,), post_padding=(0,), mode=gie.PaddingMode.REFLECT), "negative padding"),
    (dict(pre_padding=(0, -5), post_padding=(0, 0)), "negative"),
    (dict(pre_padding=(1,), post_padding=(1,), mode=7), "unknown mode"),
])
def test_padding_errors(kw, msg):
    net = gie.Builder().create_network()
    t = net.add_input("x", gie.float32, (2, 3, 4))
    with pytest.raises(gie.Error, match=msg):
        net.add_padding(t, **kw)


# ================================================================================================ Reduce

_REDUCE = {
    gie.ReduceOperation.SUM: np.sum, gie.ReduceOperation.PROD: np.prod, gie.ReduceOperation.MAX: np.max,
    gie.ReduceOperation.MIN: np.min, gie.ReduceOperation.AVG: np.mean,
}


def _ref_reduce(x, op, axes, keep):
    """Reduction in float64 by an explicit loop over the kept indices (independent of the kernel's grouping)."""
    r = x.ndim
    axes = sorted({a % r for a in axes})
    kept = [i for i in range(r) if i not in axes]
    moved = np.transpose(x.astype(np.float64), kept + axes)
    flat = moved.reshape([x.shape[i] for i in kept] + [-1])
    red = _REDUCE[op](flat, axis=-1)
    if keep:
        red = red.reshape([1 if i in axes else x.shape[i] for i in range(r)])
    return red


@pytest.mark.parametrize("op", list(_REDUCE))
@pytest.mark.parametrize("shape,axes", [
    ((7,), (0,)),
    ((3, 5), (1,)),
    ((3, 5), (0,)),
    ((3, 5), (-1, -2)),
    ((2, 3, 4), (1,)),
    ((2, 3, 4), (0, 2)),
    ((2, 3, 1, 5), (1, 2)),
    ((2, 3, 4, 5), (1, 3)),
    ((2, 3, 4, 5, 3), (0, 2, 4)),
    ((2, 1, 3, 2, 4, 3), (1, 3, 5)),
    ((2, 1, 3, 2, 4, 3), (-5, -3, -2)),
    ((1, 600, 3), (1,)),
    ((2, 3, 700), (2,)),
    ((3, 1, 1), (1, 2)),
])
@pytest.mark.parametrize("keep", [True, False])
def test_reduce_vs_numpy(rng, op, shape, axes, keep):
    x = rng.uniform(0.6, 1.5, size=shape).astype(np.float32) if op == gie.ReduceOperation.PROD else _rand(rng, shape)
    out, = run(lambda net, t: net.add_reduce(t["x"], op, axes, keep_dims=keep).output(0), {"x": x})
    assert_close(out, _ref_reduce(x, op, axes, keep), rtol=1e-5, atol=1e-5)


def test_reduce_batches(rng):
    x = _rand(rng, (5, 3, 4, 6))
    _check_batches(lambda net, t: net.add_reduce(t["x"], gie.ReduceOperation.AVG, (1, 3), keep_dims=False).output(0),
                   lambda a: _ref_reduce(a, gie.ReduceOperation.AVG, (1, 3), False), x)
    _check_batches(lambda net, t: net.add_reduce(t["x"], gie.ReduceOperation.MAX, (0,), keep_dims=True).output(0),
                   lambda a: _ref_reduce(a, gie.ReduceOperation.MAX, (0,), True), x)


def test_reduce_nan_propagates():
    x = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]], np.float32)
    for op in (gie.ReduceOperation.MAX, gie.ReduceOperation.MIN, gie.ReduceOperation.SUM):
        out, = run(lambda net, t: net.add_reduce(t["x"], op, (1,), keep_dims=False).output(0), {"x": x})
        assert np.isnan(out[0]) and not np.isnan(out[1]), op


@pytest.mark.parametrize("axes,msg", [((3,), "axis 3 is out of range"), ((-4,), "axis -4 is out of range"),
                                      ((1, -2), "given twice"), ((), "axes")])
def test_reduce_errors(axes, msg):
    net = gie.Builder().create_network()
    t = net.add_input("x", gie.float32, (2, 3, 4))
    with pytest.raises(gie.Error, match=msg):
        net.add_reduce(t, gie.ReduceOperation.SUM, axes)


# ================================================================================================ Slice

def _ref_slice(x, start, size, stride):
    """Element loop: out[i...] = x[start + i * stride] on the trailing len(start) dims."""
    r = x.ndim
    k = len(start)
    start = [0] * (r - k) + list(start)
    size = list(x.shape[:r - k]) + list(size)
    stride = [1] * (r - k) + list(stride)
    out = np.empty(size, x.dtype)
    for idx in itertools.product(*[range(s) for s in size]):
        out[idx] = x[tuple(st + i * sd for st, i, sd in zip(start, idx, stride))]
    return out


def _random_slice(rng, dims):
    start, size, stride = [], [], []
    for d in dims:
        sd = int(rng.choice([1, 2, 3, -1, -2]))
        st = int(rng.integers(0, d))
        room = st // -sd + 1 if sd < 0 else (d - 1 - st) // sd + 1
        start.append(st)
        size.append(int(rng.integers(1, room + 1)))
        stride.append(sd)
    return start, size, stride


@pytest.mark.parametrize("shape", [(9,), (4, 7), (3, 5, 6), (2, 3, 4, 5), (2, 1, 3, 4, 3), (2, 3, 1, 2, 3, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.float16, np.bool_])
def test_slice_random(rng, shape, dtype):
    x = _rand(rng, shape, dtype)
    for _ in range(4):
        start, size, stride = _random_slice(rng, shape)
        out = _run_fixed(lambda net, t: net.add_slice(t["x"], start, size, stride).output(0), {"x": x})
        assert out.dtype == x.dtype
        np.testing.assert_array_equal(out, _ref_slice(x, start, size, stride), err_msg=f"{start} {size} {stride}")


def test_slice_trailing_dims_keep_batch(rng):
    x = _rand(rng, (5, 6, 8))
    _check_batches(lambda net, t: net.add_slice(t["x"], (5, 1), (3, 3), (-2, 3)).output(0),
                   lambda a: _ref_slice(a, (5, 1), (3, 3), (-2, 3)), x)


def test_slice_full_reverse(rng):
    x = _rand(rng, (2, 5, 7))
    out = _run_fixed(lambda net, t: net.add_slice(t["x"], (1, 4, 6), (2, 5, 7), (-1, -1, -1)).output(0), {"x": x})
    np.testing.assert_array_equal(out, x[::-1, ::-1, ::-1])


@pytest.mark.parametrize("args,msg", [
    (((0, 4), (1, 1), (1, 1)), "start 4 of dimension 2 is out of range"),
    (((0, 1), (1, 4), (1, 1)), "reaches index 4, out of range"),
    (((1, 1), (2, 1), (-2, 1)), "reaches index -1"),
    (((0, 0), (1, 1), (0, 1)), "stride of sliced dimension 0 is 0"),
    (((0, 0), (1, 1, 1), (1, 1)), "same number of values"),
    (((0, 0, 0, 0), (1, 1, 1, 1), (1, 1, 1, 1)), "4 values .* 3-dimensional"),
    (((-1, 0), (1, 1), (1, 1)), "start -1"),
])
def test_slice_errors(args, msg):
    net = gie.Builder().create_network()
    t = net.add_input("x", gie.float32, (2, 3, 4))
    with pytest.raises(gie.Error, match=msg):
        net.add_slice(t, *args)


# ================================================================================================ Resize

def _onnx_coord(o, in_len, out_len, scale, ct):
    """ONNX Resize coordinate transformation (opset 11+), float64."""
    o = np.asarray(o, np.float64)
    if ct == RT.HALF_PIXEL:
        return (o + 0.5) / scale - 0.5
    if ct == RT.ASYMMETRIC:
        return o / scale
    if ct == RT.ALIGN_CORNERS:
        return np.zeros_like(o) if out_len == 1 else o * (in_len - 1) / (out_len - 1)
    if ct == RT.PYTORCH_HALF_PIXEL:
        return (o + 0.5) / scale - 0.5 if out_len > 1 else np.zeros_like(o)
    raise AssertionError(ct)


def _onnx_nearest(xo, in_len, mode):
    fl = np.floor(xo)
    tie = (xo - fl) == 0.5
    if mode == RM.ROUND_PREFER_FLOOR:
        r = np.where(tie, fl, np.floor(xo + 0.5))
    elif mode == RM.ROUND_PREFER_CEIL:
        r = np.where(tie, fl + 1, np.floor(xo + 0.5))
    elif mode == RM.FLOOR:
        r = fl
    else:
        r = np.ceil(xo)
    return np.clip(r.astype(np.int64), 0, in_len - 1)


def _ref_resize(x, out_shape, scales, mode, ct, nearest_mode):
    """Separable ONNX Resize: for each resized axis, nearest -> take, linear -> 2-tap interpolation (edge clamp)."""
    y = x.astype(np.float64) if mode == gie.ResizeMode.LINEAR else x
    for ax in range(1, x.ndim):
        n_in, n_out = x.shape[ax], out_shape[ax]
        scale = float(np.float32(scales[ax])) if scales is not None else n_out / n_in
        if scales is not None and n_in == n_out and scale == 1.0:
            pass
        xo = _onnx_coord(np.arange(n_out), n_in, n_out, scale, ct)
        if mode == gie.ResizeMode.NEAREST:
            y = np.take(y, _onnx_nearest(xo, n_in, nearest_mode), axis=ax)
        else:
            x0 = np.floor(xo)
            frac = xo - x0
            i0 = np.clip(x0.astype(np.int64), 0, n_in - 1)
            i1 = np.clip(x0.astype(np.int64) + 1, 0, n_in - 1)
            shp = [1] * x.ndim
            shp[ax] = n_out
            y = np.take(y, i0, axis=ax) * (1 - frac).reshape(shp) + np.take(y, i1, axis=ax) * frac.reshape(shp)
    return y


def _out_shape(x_shape, out_shape, scales):
    if scales is not None:
        return tuple([x_shape[0]] + [int(math.floor(d * float(np.float32(s)))) for d, s in zip(x_shape[1:], scales[1:])])
    return tuple([x_shape[0]] + list(out_shape[1:]))


_RESIZE_CASES = [
    ((2, 3, 4, 5), (2, 3, 8, 10), None),
    ((2, 3, 4, 5), (2, 3, 7, 3), None),
    ((1, 2, 5, 7), (1, 2, 1, 1), None),
    ((2, 2, 1, 1), (2, 2, 3, 4), None),
    ((2, 3, 9), (2, 3, 4), None),
    ((2, 2, 3, 4, 5), (2, 2, 5, 3, 9), None),
    ((2, 3, 4, 5), None, (1.0, 1.0, 1.7, 0.6)),
    ((2, 3, 4, 5), None, (1.0, 1.0, 2.0, 3.0)),
    ((2, 3, 6, 5), None, (1.0, 1.0, 0.5, 2.5)),
    ((2, 3, 4), None, (1.0, 1.0, 3.3)),
]


@pytest.mark.parametrize("ct", [RT.HALF_PIXEL, RT.ASYMMETRIC, RT.ALIGN_CORNERS, RT.PYTORCH_HALF_PIXEL])
@pytest.mark.parametrize("nearest_mode", [RM.ROUND_PREFER_FLOOR, RM.ROUND_PREFER_CEIL, RM.FLOOR, RM.CEIL])
@pytest.mark.parametrize("shape,out_shape,scales", _RESIZE_CASES)
def test_resize_nearest(rng, ct, nearest_mode, shape, out_shape, scales):
    x = _rand(rng, shape)
    out, = run(lambda net, t: net.add_resize(t["x"], gie.ResizeMode.NEAREST, output_shape=out_shape, scales=scales,
                                             coordinate_transformation=ct, nearest_mode=nearest_mode).output(0), {"x": x})
    full = _out_shape(shape, out_shape, scales)
    np.testing.assert_array_equal(out, _ref_resize(x, full, scales, gie.ResizeMode.NEAREST, ct, nearest_mode))


@pytest.mark.parametrize("ct", [RT.HALF_PIXEL, RT.ASYMMETRIC, RT.ALIGN_CORNERS, RT.PYTORCH_HALF_PIXEL])
@pytest.mark.parametrize("shape,out_shape,scales", _RESIZE_CASES + [((2, 3, 4, 5), (2, 5, 4, 5), None)])
def test_resize_linear(rng, ct, shape, out_shape, scales):
    x = _rand(rng, shape)
    out, = run(lambda net, t: net.add_resize(t["x"], gie.ResizeMode.LINEAR, output_shape=out_shape, scales=scales,
                                             coordinate_transformation=ct).output(0), {"x": x})
    full = _out_shape(shape, out_shape, scales)
    assert_close(out, _ref_resize(x, full, scales, gie.ResizeMode.LINEAR, ct, None), rtol=1e-5, atol=1e-5)


def test_resize_matches_onnx_reference_evaluator(rng):
    """Cross-checks the kernel against onnx.reference (when onnx is installed) on every mode combination.

    The ONNX reference evaluator computes align_corners / pytorch_half_pixel with the fractional length
    scale * input when scales are given; gie (like the spec text, onnxruntime and PyTorch) uses the integer
    output length, so those combinations are compared only where scale * input is an integer."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator
    ct_names = {RT.HALF_PIXEL: "half_pixel", RT.ASYMMETRIC: "asymmetric", RT.ALIGN_CORNERS: "align_corners",
                RT.PYTORCH_HALF_PIXEL: "pytorch_half_pixel"}
    nm_names = {RM.ROUND_PREFER_FLOOR: "round_prefer_floor", RM.ROUND_PREFER_CEIL: "round_prefer_ceil", RM.FLOOR: "floor",
                RM.CEIL: "ceil"}
    checked = 0
    for shape, out_shape, scales in _RESIZE_CASES:
        x = _rand(rng, shape)
        integral = scales is None or all(float(np.float32(s)) * d == math.floor(float(np.float32(s)) * d)
                                         for s, d in zip(scales, shape))
        for mode in (gie.ResizeMode.NEAREST, gie.ResizeMode.LINEAR):
            for ct in ct_names:
                if not integral and ct in (RT.ALIGN_CORNERS, RT.PYTORCH_HALF_PIXEL):
                    continue
                for nm in (nm_names if mode == gie.ResizeMode.NEAREST else [RM.ROUND_PREFER_FLOOR]):
                    inputs = ["X", "", "scales"] if scales is not None else ["X", "", "", "sizes"]
                    node = helper.make_node("Resize", inputs, ["Y"], mode="nearest" if mode == gie.ResizeMode.NEAREST else "linear",
                                            coordinate_transformation_mode=ct_names[ct], nearest_mode=nm_names[nm])
                    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, None)],
                                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)])
                    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
                    feeds = {"X": x}
                    if scales is not None:
                        feeds["scales"] = np.asarray(scales, np.float32)
                    else:
                        feeds["sizes"] = np.asarray(out_shape, np.int64)
                    ref = ReferenceEvaluator(model).run(None, feeds)[0]
                    out, = run(lambda net, t: net.add_resize(t["x"], mode, output_shape=out_shape, scales=scales,
                                                             coordinate_transformation=ct, nearest_mode=nm).output(0), {"x": x})
                    assert_close(out, ref, what=f"{shape} {out_shape} {scales} {mode} {ct} {nm}")
                    checked += 1
    assert checked > 100


def test_resize_defaults_are_half_pixel_round_prefer_floor(rng):
    x = _rand(rng, (1, 2, 3, 5))
    out, = run(lambda net, t: net.add_resize(t["x"], gie.ResizeMode.NEAREST, output_shape=(1, 2, 7, 8)).output(0), {"x": x})
    np.testing.assert_array_equal(out, _ref_resize(x, (1, 2, 7, 8), None, gie.ResizeMode.NEAREST, RT.HALF_PIXEL,
                                                   RM.ROUND_PREFER_FLOOR))
    out, = run(lambda net, t: net.add_resize(t["x"], gie.ResizeMode.LINEAR, output_shape=(1, 2, 7, 8)).output(0), {"x": x})
    assert_close(out, _ref_resize(x, (1, 2, 7, 8), None, gie.ResizeMode.LINEAR, RT.HALF_PIXEL, None))


def test_resize_known_values():
    """Hand-checked values: 2x nearest (asymmetric floor) and 2x linear half_pixel on a 1x2 row."""
    x = np.array([[[1.0, 3.0]]], np.float32)
    out, = run(lambda net, t: net.add_resize(t["x"], gie.ResizeMode.NEAREST, scales=(1, 1, 2), nearest_mode=RM.FLOOR,
                                             coordinate_transformation=RT.ASYMMETRIC).output(0), {"x": x})
    np.testing.assert_array_equal(out, [[[1, 1, 3, 3]]])
    out, = run(lambda net, t: net.add_resize(t["x"], gie.ResizeMode.LINEAR, scales=(1, 1, 2)).output(0), {"x": x})
    assert_close(out, [[[1.0, 1.5, 2.5, 3.0]]])


def test_resize_nearest_int32(rng):
    x = _rand(rng, (2, 3, 4), np.int32)
    out, = run(lambda net, t: net.add_resize(t["x"], gie.ResizeMode.NEAREST, output_shape=(2, 5, 7)).output(0), {"x": x})
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, _ref_resize(x, (2, 5, 7), None, gie.ResizeMode.NEAREST, RT.HALF_PIXEL,
                                                   RM.ROUND_PREFER_FLOOR))


def test_resize_batches(rng):
    """output_dims[0] is ignored: the output keeps the run-time batch."""
    x = _rand(rng, (5, 2, 3, 4))
    _check_batches(lambda net, t: net.add_resize(t["x"], gie.ResizeMode.LINEAR, output_shape=(5, 2, 6, 7),
                                                 coordinate_transformation=RT.ALIGN_CORNERS).output(0),
                   lambda a: _ref_resize(a, (a.shape[0], 2, 6, 7), None, gie.ResizeMode.LINEAR, RT.ALIGN_CORNERS, None), x)
    _check_batches(lambda net, t: net.add_resize(t["x"], gie.ResizeMode.NEAREST, scales=(1, 1, 2, 1.5)).output(0),
                   lambda a: _ref_resize(a, _out_shape(a.shape, None, (1, 1, 2, 1.5)), (1, 1, 2, 1.5),
                                         gie.ResizeMode.NEAREST, RT.HALF_PIXEL, RM.ROUND_PREFER_FLOOR), x)


@pytest.mark.parametrize("kw,msg", [
    (dict(scales=(2.0, 1.0, 1.0)), r"scales\[0\] .* batch"),
    (dict(scales=(1.0, 2.0)), "scales has 2 values .* 3 dimensions"),
    (dict(output_shape=(2, 3)), "output_dims has 2 values"),
    (dict(output_shape=(2, 3, 4), scales=(1.0, 1.0, 1.0)), "either output_dims or scales"),
    (dict(), "needs output_dims or scales"),
    (dict(scales=(1.0, 1.0, -2.0)), "must be positive"),
    (dict(scales=(1.0, 1.0, 0.1)), "would be empty"),
    (dict(output_shape=(2, 3, 4), coordinate_transformation=9), "unknown coordinate_transformation"),
])
def test_resize_errors(kw, msg):
    net = gie.Builder().create_network()
    t = net.add_input("x", gie.float32, (2, 3, 4))
    with pytest.raises(gie.Error, match=msg):
        net.add_resize(t, gie.ResizeMode.NEAREST, **kw)


def test_resize_linear_rejects_int32():
    builder = gie.Builder()
    net = builder.create_network()
    t = net.add_input("x", gie.int32, (2, 3, 4))
    net.mark_output(net.add_resize(t, gie.ResizeMode.LINEAR, output_shape=(2, 6, 8)).output(0))
    config = builder.create_config()
    config.device = "cpu"
    with pytest.raises(gie.Error, match="does not support"):
        builder.build(net, config)


# ================================================================================================ MatrixMultiply

def _ref_matmul(a, b, ta, tb):
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    if ta and a.ndim >= 2:
        a64 = np.swapaxes(a64, -1, -2)
    if tb and b.ndim >= 2:
        b64 = np.swapaxes(b64, -1, -2)
    return np.matmul(a64, b64), np.matmul(np.abs(a64), np.abs(b64))


@pytest.mark.parametrize("sa,sb", [
    ((3, 4), (4, 5)),
    ((1, 1), (1, 1)),
    ((4,), (4, 5)),
    ((3, 4), (4,)),
    ((2, 3, 4), (2, 4, 5)),
    ((2, 3, 4), (4, 5)),
    ((4, 3), (2, 3, 3, 5)),
    ((2, 1, 3, 4), (5, 4, 6)),
    ((3, 1, 2, 1, 3, 4), (1, 2, 2, 3, 4, 2)),
    ((2, 3, 4), (4,)),
    ((7,), (3, 7, 2)),
    ((3, 70, 130), (3, 130, 90)),
    ((2, 150, 33), (33, 77)),
])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_matmul_vs_numpy(rng, sa, sb, ta, tb):
    sa_stored = sa[:-2] + (sa[-1], sa[-2]) if ta and len(sa) >= 2 else sa
    sb_stored = sb[:-2] + (sb[-1], sb[-2]) if tb and len(sb) >= 2 else sb
    a = _rand(rng, sa_stored)
    b = _rand(rng, sb_stored)
    # All network inputs share the batch (dimension 0), so B is a constant here.
    out = _run_fixed(lambda net, t: net.add_matrix_multiply(t["a"], net.add_constant(b.shape, b).output(0),
                                                            transpose_a=ta, transpose_b=tb).output(0), {"a": a})
    ref, terms = _ref_matmul(a, b, ta, tb)
    _assert_close_terms(out, ref, terms)


def test_matmul_vector_dot(rng):
    a, b = _rand(rng, (9,)), _rand(rng, (9,))
    out = _run_fixed(lambda net, t: net.add_matrix_multiply(t["a"], t["b"]).output(0), {"a": a, "b": b})
    ref, terms = _ref_matmul(a, b, False, False)
    _assert_close_terms(np.asarray(out).reshape(()), ref, terms)


def test_matmul_constant_weights_batches(rng):
    """A (batch, M, K) times a constant (K, N): built for batch 5, run at 5/2/1 (the folded single GEMM)."""
    x = _rand(rng, (5, 6, 17))
    w = _rand(rng, (17, 11))
    _check_batches(lambda net, t: net.add_matrix_multiply(t["x"], net.add_constant(w.shape, w).output(0)).output(0),
                   lambda a: np.matmul(a.astype(np.float64), w), x, rtol=1e-4, atol=1e-4)
    _check_batches(lambda net, t: net.add_matrix_multiply(net.add_constant(w.T.shape, np.ascontiguousarray(w.T)).output(0),
                                                          t["x"], transpose_b=True).output(0),
                   lambda a: np.matmul(w.T.astype(np.float64), np.swapaxes(a, -1, -2)), x, rtol=1e-4, atol=1e-4)


def test_matmul_two_inputs_batches(rng):
    a, b = _rand(rng, (5, 3, 8)), _rand(rng, (5, 8, 4))
    engine = build(lambda net, t: net.add_matrix_multiply(t["a"], t["b"]).output(0), {"a": a, "b": b}, max_batch=5)
    ctx = engine.create_execution_context()
    for n in (5, 2):
        out = ctx.execute({"a": a[:n], "b": b[:n]})["out0"]
        ref, terms = _ref_matmul(a[:n], b[:n], False, False)
        _assert_close_terms(out, ref, terms, what=f"batch {n}")


@pytest.mark.parametrize("sa,sb,ta,msg", [
    ((2, 3, 4), (2, 5, 6), False, "inner dimensions differ"),
    ((2, 3, 4), (2, 3, 6), True, None),
    ((2, 3, 4), (3, 4, 6), False, "do not broadcast"),
])
def test_matmul_errors(sa, sb, ta, msg):
    net = gie.Builder().create_network()
    a = net.add_input("a", gie.float32, sa)
    b = net.add_input("b", gie.float32, sb)
    if msg is None:
        assert net.add_matrix_multiply(a, b, transpose_a=ta).output(0).shape == (2, 4, 6)
        return
    with pytest.raises(gie.Error, match=msg):
        net.add_matrix_multiply(a, b, transpose_a=ta)


# ================================================================================================ Deconvolution

def _ref_deconv(x, w, b, stride, pre, post, dil, groups, outpad):
    """Direct scatter: y[n, k, h*sh - pt + r*dh, w*sw - pl + s*dw] += x[n, c, h, w] * W[c, k, r, s] (per group)."""
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    N, C, H, W = x.shape
    _, Kg, R, S = w.shape
    K = Kg * groups
    Cg = C // groups
    (sh, sw), (pt, pl), (pb, pr), (dh, dw), (oh, ow) = stride, pre, post, dil, outpad
    P = (H - 1) * sh - pt - pb + dh * (R - 1) + 1 + oh
    Q = (W - 1) * sw - pl - pr + dw * (S - 1) + 1 + ow
    big_h, big_w = (H - 1) * sh + dh * (R - 1) + 1 + oh + pt + pb, (W - 1) * sw + dw * (S - 1) + 1 + ow + pl + pr
    full = np.zeros((N, K, big_h, big_w))
    full_abs = np.zeros_like(full)
    for g in range(groups):
        xs = x64[:, g * Cg:(g + 1) * Cg]
        ws = w64[g * Cg:(g + 1) * Cg]
        for r in range(R):
            for s in range(S):
                contrib = np.einsum("nchw,ck->nkhw", xs, ws[:, :, r, s])
                contrib_abs = np.einsum("nchw,ck->nkhw", np.abs(xs), np.abs(ws[:, :, r, s]))
                hs = slice(r * dh, r * dh + (H - 1) * sh + 1, sh)
                wsl = slice(s * dw, s * dw + (W - 1) * sw + 1, sw)
                full[:, g * Kg:(g + 1) * Kg, hs, wsl] += contrib
                full_abs[:, g * Kg:(g + 1) * Kg, hs, wsl] += contrib_abs
    y = full[:, :, pt:pt + P, pl:pl + Q]
    y_abs = full_abs[:, :, pt:pt + P, pl:pl + Q]
    if b is not None:
        y = y + b.reshape(1, K, 1, 1)
        y_abs = y_abs + np.abs(b).reshape(1, K, 1, 1)
    return y, y_abs


_DECONV_CASES = [
    # (N, C, H, W), K, (R, S), stride, pre, post, dilation, groups, output_padding, bias
    ((1, 3, 5, 5), 4, (3, 3), (1, 1), (0, 0), (0, 0), (1, 1), 1, (0, 0), True),
    ((2, 3, 5, 7), 4, (3, 3), (2, 2), (1, 1), (1, 1), (1, 1), 1, (1, 1), True),
    ((2, 4, 4, 3), 6, (2, 3), (2, 3), (0, 1), (1, 0), (1, 1), 2, (0, 0), False),
    ((1, 2, 1, 1), 3, (3, 3), (1, 1), (0, 0), (0, 0), (1, 1), 1, (0, 0), True),
    ((3, 5, 6, 6), 5, (1, 1), (1, 1), (0, 0), (0, 0), (1, 1), 1, (0, 0), True),  # 1x1 direct path
    ((2, 4, 5, 4), 4, (1, 1), (1, 1), (0, 0), (0, 0), (1, 1), 4, (0, 0), False),  # depthwise 1x1
    ((2, 6, 5, 6), 6, (3, 3), (2, 2), (1, 1), (1, 1), (1, 1), 6, (1, 0), True),  # depthwise
    ((1, 3, 4, 5), 2, (3, 2), (1, 2), (2, 1), (0, 1), (2, 3), 1, (0, 1), True),  # dilation
    ((2, 8, 7, 9), 16, (4, 4), (2, 2), (1, 1), (1, 1), (1, 1), 1, (0, 0), True),
    ((1, 2, 3, 3), 2, (2, 2), (3, 3), (0, 0), (0, 0), (1, 1), 1, (2, 2), True),  # stride > kernel, output padding
    ((1, 16, 9, 11), 33, (5, 3), (3, 2), (2, 1), (3, 0), (1, 2), 1, (1, 1), True),
    ((2, 16, 12, 12), 32, (3, 3), (2, 2), (1, 1), (0, 0), (1, 1), 1, (1, 1), True),  # large: threaded GEMM per image
    ((3, 8, 6, 5), 12, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1), 4, (0, 0), True),  # many small (image, group) pairs
]


@pytest.mark.parametrize("case", _DECONV_CASES)
def test_deconvolution_vs_scatter(rng, case):
    shape, K, (R, S), stride, pre, post, dil, groups, outpad, has_bias = case
    C = shape[1]
    x = _rand(rng, shape)
    w = _rand(rng, (C, K // groups, R, S))
    b = _rand(rng, (K,)) if has_bias else None
    out, = run(lambda net, t: net.add_deconvolution(t["x"], K, (R, S), w, b, stride=stride, pre_padding=pre,
                                                    post_padding=post, dilation=dil, num_groups=groups,
                                                    output_padding=outpad).output(0), {"x": x})
    ref, terms = _ref_deconv(x, w, b, stride, pre, post, dil, groups, outpad)
    _assert_close_terms(out, ref, terms)


def test_deconvolution_batches(rng):
    x = _rand(rng, (5, 3, 4, 5))
    w = _rand(rng, (3, 4, 3, 3))
    b = _rand(rng, (4,))
    engine = build(lambda net, t: net.add_deconvolution(t["x"], 4, (3, 3), w, b, stride=(2, 2), padding=(1, 1)).output(0),
                   {"x": x}, max_batch=5)
    ctx = engine.create_execution_context()
    for n in (5, 2, 1):
        out = ctx.execute({"x": x[:n]})["out0"]
        ref, terms = _ref_deconv(x[:n], w, b, (2, 2), (1, 1), (1, 1), (1, 1), 1, (0, 0))
        _assert_close_terms(out, ref, terms, what=f"batch {n}")


@pytest.mark.parametrize("act,alpha,beta,fn", [
    (gie.ActivationType.RELU, 0.0, 0.0, lambda v: np.maximum(v, 0)),
    (gie.ActivationType.LEAKY_RELU, 0.1, 0.0, lambda v: np.where(v >= 0, v, 0.1 * v)),
    (gie.ActivationType.CLIP, -0.5, 0.7, lambda v: np.clip(v, -0.5, 0.7)),
])
def test_deconvolution_fused_activation_fields(rng, act, alpha, beta, fn):
    """The activation_type / activation_alpha / activation_beta fields (shared with Convolution) apply after the bias."""
    x = _rand(rng, (2, 3, 4, 5))
    w = _rand(rng, (3, 4, 3, 3))
    b = _rand(rng, (4,))

    def define(net, t):
        layer = net.add_deconvolution(t["x"], 4, (3, 3), w, b, stride=(2, 2), padding=(1, 1))
        layer.activation_type = int(act)
        layer.activation_alpha = alpha
        layer.activation_beta = beta
        return layer.output(0)

    out, = run(define, {"x": x})
    ref, _ = _ref_deconv(x, w, b, (2, 2), (1, 1), (1, 1), (1, 1), 1, (0, 0))
    assert_close(out, fn(ref), rtol=1e-4, atol=1e-4)


def test_deconvolution_bad_kernel_size():
    net = gie.Builder().create_network()
    t = net.add_input("x", gie.float32, (1, 3, 4, 4))
    with pytest.raises(gie.Error, match="Deconvolution kernel has"):
        net.add_deconvolution(t, 4, (3, 3), np.zeros((3, 4, 3, 2), np.float32))


# ================================================================================================ engine round trip

def test_layers_survive_serialization(rng):
    x = _rand(rng, (2, 3, 4, 5))
    w = _rand(rng, (3, 2, 2, 2))

    def define(net, t):
        y = net.add_shuffle(t["x"], first_transpose=(0, 1, 3, 2)).output(0)
        y = net.add_padding(y, (1, 0), (0, 2), mode=gie.PaddingMode.EDGE).output(0)
        y = net.add_slice(y, (0, 1), (3, 5), (2, 1)).output(0)
        y = net.add_resize(y, gie.ResizeMode.LINEAR, scales=(1, 1, 2, 1)).output(0)
        y = net.add_deconvolution(y, 2, (2, 2), w).output(0)
        y = net.add_matrix_multiply(y, y, transpose_b=True).output(0)
        return net.add_reduce(y, gie.ReduceOperation.SUM, (-1,), keep_dims=False).output(0)

    engine = build(define, {"x": x})
    ref = engine.create_execution_context().execute({"x": x})["out0"]
    engine2 = gie.Runtime().deserialize(engine.serialize())
    out = engine2.create_execution_context().execute({"x": x})["out0"]
    np.testing.assert_array_equal(out, ref)
