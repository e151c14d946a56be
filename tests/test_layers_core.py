"""Core layers (Convolution, Pooling, FullyConnected, Activation, Softmax/LogSoftmax, Identity, Constant) against
independent float64 numpy references, each on an engine built for max batch 5 and run at batches 1, 2 and 5."""
import math

import numpy as np
import pytest

import gie
from util import assert_close, build

BATCHES = (1, 2, 5)
MAX_BATCH = 5


# ---- numpy references (float64) -------------------------------------------------------------------

def conv2d_ref(x, w, b=None, stride=(1, 1), pre=(0, 0), post=None, dilation=(1, 1), groups=1):
    """Direct convolution (cross-correlation) in float64. Returns (result, sum of |terms|)."""
    post = pre if post is None else post
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    N, C, H, W = x.shape
    K, Cg, R, S = w.shape
    assert Cg * groups == C and K % groups == 0
    sh, sw = stride
    dh, dw = dilation
    P = (H + pre[0] + post[0] - dh * (R - 1) - 1) // sh + 1
    Q = (W + pre[1] + post[1] - dw * (S - 1) - 1) // sw + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pre[0], post[0]), (pre[1], post[1])))
    out = np.zeros((N, K, P, Q))
    mag = np.zeros((N, K, P, Q))
    Kg = K // groups
    for g in range(groups):
        xs = xp[:, g * Cg:(g + 1) * Cg]
        ws = w[g * Kg:(g + 1) * Kg]
        for r in range(R):
            for s in range(S):
                patch = xs[:, :, r * dh: r * dh + sh * (P - 1) + 1: sh, s * dw: s * dw + sw * (Q - 1) + 1: sw]
                out[:, g * Kg:(g + 1) * Kg] += np.einsum("ncpq,kc->nkpq", patch, ws[:, :, r, s])
                mag[:, g * Kg:(g + 1) * Kg] += np.einsum("ncpq,kc->nkpq", np.abs(patch), np.abs(ws[:, :, r, s]))
    if b is not None:
        out += np.asarray(b, np.float64)[None, :, None, None]
        mag += np.abs(np.asarray(b, np.float64))[None, :, None, None]
    return out, mag


def pool_out_size(n, k, s, p0, p1, ceil):
    span = n + p0 + p1 - k
    if ceil:
        o = -(-span // s) + 1
        if (o - 1) * s >= n + p0:  # Caffe: the last window must start inside input + pre padding
            o -= 1
    else:
        o = span // s + 1
    return o


def pool2d_ref(x, kind, window, stride=(1, 1), pre=(0, 0), post=None, exclude_padding=True, ceil_mode=False):
    post = pre if post is None else post
    x = np.asarray(x, np.float64)
    N, C, H, W = x.shape
    kh, kw = window
    sh, sw = stride
    P = pool_out_size(H, kh, sh, pre[0], post[0], ceil_mode)
    Q = pool_out_size(W, kw, sw, pre[1], post[1], ceil_mode)
    out = np.zeros((N, C, P, Q))
    for p in range(P):
        h0 = p * sh - pre[0]
        h1 = min(h0 + kh, H + post[0])  # windows are clipped to the padded input
        hs, he = max(h0, 0), min(h1, H)
        for q in range(Q):
            w0 = q * sw - pre[1]
            w1 = min(w0 + kw, W + post[1])
            ws, we = max(w0, 0), min(w1, W)
            win = x[:, :, hs:he, ws:we]
            assert win.size > 0
            if kind == gie.PoolingType.MAX:
                out[:, :, p, q] = win.max(axis=(2, 3))
            else:
                count = (he - hs) * (we - ws) if exclude_padding else (h1 - h0) * (w1 - w0)
                out[:, :, p, q] = win.sum(axis=(2, 3)) / count
    return out


def softmax_ref(x, axis, log=False):
    x = np.asarray(x, np.float64)
    m = x.max(axis=axis, keepdims=True)
    e = np.exp(x - m)
    s = e.sum(axis=axis, keepdims=True)
    return (x - m - np.log(s)) if log else e / s


_erf = np.vectorize(math.erf, otypes=[np.float64])


def _softplus(x):
    return np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20))))


def activation_ref(t, x, alpha, beta):
    A = gie.ActivationType
    x = np.asarray(x, np.float64)
    if t == A.RELU:
        return np.maximum(x, 0)
    if t == A.SIGMOID:
        return 1 / (1 + np.exp(-x))
    if t == A.TANH:
        return np.tanh(x)
    if t == A.LEAKY_RELU:
        return np.where(x >= 0, x, alpha * x)
    if t == A.ELU:
        return np.where(x >= 0, x, alpha * (np.exp(x) - 1))
    if t == A.SELU:
        return beta * np.where(x >= 0, x, alpha * (np.exp(x) - 1))
    if t == A.SOFTSIGN:
        return x / (1 + np.abs(x))
    if t == A.SOFTPLUS:
        return _softplus(x)
    if t == A.CLIP:
        return np.minimum(np.maximum(x, alpha), beta)
    if t == A.HARD_SIGMOID:
        return np.maximum(0, np.minimum(1, alpha * x + beta))
    if t == A.SCALED_TANH:
        return alpha * np.tanh(beta * x)
    if t == A.THRESHOLDED_RELU:
        return np.where(x > alpha, x, 0)
    if t == A.GELU:
        return 0.5 * x * (1 + _erf(x / math.sqrt(2)))
    if t == A.GELU_TANH:
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    if t == A.HARD_SWISH:
        return x * np.clip(x + 3, 0, 6) / 6
    if t == A.MISH:
        return x * np.tanh(_softplus(x))
    if t == A.SILU:
        return x / (1 + np.exp(-x))
    if t == A.RELU6:
        return np.clip(x, 0, 6)
    raise AssertionError(f"no reference for {t}")


# Defaults of cpp/src/layers/simple.h (docs/layers_core.md).
ACT_DEFAULTS = {
    "LEAKY_RELU": (0.01, 0.0), "ELU": (1.0, 0.0), "SELU": (1.6732632423543772, 1.0507009873554805),
    "HARD_SIGMOID": (0.2, 0.5), "SCALED_TANH": (1.0, 1.0), "CLIP": (0.0, 6.0), "THRESHOLDED_RELU": (1.0, 0.0),
}
# Non-default parameters per type (alpha, beta); types not listed take none.
ACT_PARAMS = {
    "LEAKY_RELU": (0.2, None), "ELU": (0.7, None), "SELU": (1.5, 1.2), "CLIP": (-0.5, 1.25),
    "HARD_SIGMOID": (0.3, 0.4), "SCALED_TANH": (1.7, 0.66), "THRESHOLDED_RELU": (0.25, None),
}


# ---- helpers -------------------------------------------------------------------------------------

def conv_assert(actual, ref_and_mag, rtol=1e-4, what="conv"):
    """|actual - ref| <= rtol * sum|terms| (+ a tiny floor for all-zero sums)."""
    ref, mag = ref_and_mag
    actual = np.asarray(actual, np.float64)
    assert actual.shape == ref.shape, f"{what}: shape {actual.shape} != expected {ref.shape}"
    assert np.isfinite(actual).all(), f"{what}: non-finite output"
    err = np.abs(actual - ref)
    tol = rtol * mag + 1e-6
    bad = err > tol
    if bad.any():
        idx = np.unravel_index(np.argmax(np.where(bad, err / tol, -1)), ref.shape)
        raise AssertionError(f"{what}: {bad.sum()} of {ref.size} elements differ; worst at {idx}: got {actual[idx]}, "
                             f"expected {ref[idx]} (abs err {err[idx]:.3g}, allowed {tol[idx]:.3g})")


def run_batches(define, shape, rng, ref, compare, batches=BATCHES, dtype=np.float32, make=None, **build_kw):
    """Builds an engine for max batch 5 from input 'x' of `shape` (without batch), runs it at each batch with
    fresh random inputs and compares every output with ref(x) via compare(actual, expected, what)."""
    make = make or (lambda n: rng.standard_normal((n,) + tuple(shape)).astype(dtype))
    engine = build(define, {"x": make(MAX_BATCH)}, max_batch=MAX_BATCH, **build_kw)
    assert engine.max_batch == MAX_BATCH
    ctx = engine.create_execution_context()
    for n in batches:
        x = make(n)
        got = ctx.execute({"x": x})
        expected = ref(x)
        if not isinstance(expected, list):  # a tuple is one expected value (e.g. (ref, magnitude))
            expected = [expected]
        assert len(got) == len(expected)
        for i, e in enumerate(expected):
            compare(got[f"out{i}"], e, f"batch {n} out{i}")
    return engine


def close(rtol=1e-5, atol=1e-5):
    return lambda a, e, what: assert_close(a, e, rtol=rtol, atol=atol, what=what)


def exact(actual, expected, what):
    """Same dtype, shape and values."""
    expected = np.asarray(expected)
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    np.testing.assert_array_equal(actual, expected, err_msg=what)


# ---- Convolution ---------------------------------------------------------------------------------

CONV_CASES = [
    # id, C, H, W, K, (R, S), kwargs, bias
    ("3x3_odd_channels", 3, 9, 11, 5, (3, 3), dict(padding=1), True),
    ("1x1", 7, 6, 5, 9, (1, 1), dict(), True),
    ("1x1_stride2", 5, 7, 8, 3, (1, 1), dict(stride=2), True),
    ("7x7_stride2_pad3", 3, 19, 17, 8, (7, 7), dict(stride=2, padding=3), True),
    ("stride2_3x3", 4, 10, 9, 6, (3, 3), dict(stride=2), True),
    ("asym_padding", 3, 8, 7, 4, (3, 2), dict(pre_padding=(2, 0), post_padding=(0, 1)), True),
    ("asym_padding_stride", 5, 9, 10, 7, (3, 3), dict(pre_padding=(1, 2), post_padding=(2, 0), stride=(2, 3)), True),
    ("dilation2", 3, 11, 12, 4, (3, 3), dict(dilation=2, padding=2), True),
    ("dilation_mixed", 2, 12, 9, 3, (3, 2), dict(dilation=(2, 3), padding=(1, 0)), True),
    ("groups2", 6, 8, 8, 10, (3, 3), dict(num_groups=2, padding=1), True),
    ("groups2_stride2", 4, 9, 7, 6, (3, 3), dict(num_groups=2, stride=2), True),
    ("depthwise", 5, 9, 9, 5, (3, 3), dict(num_groups=5, padding=1), True),
    ("depthwise_stride2", 8, 10, 11, 8, (5, 5), dict(num_groups=8, stride=2, padding=2), True),
    ("depthwise_multiplier2", 3, 7, 7, 6, (3, 3), dict(num_groups=3), True),
    ("no_bias", 3, 7, 6, 5, (3, 3), dict(padding=1), False),
    ("no_bias_1x1", 6, 4, 4, 2, (1, 1), dict(), False),
    ("1x1_spatial_input", 9, 1, 1, 4, (1, 1), dict(), True),
    ("1x1_spatial_input_padded", 3, 1, 1, 4, (3, 3), dict(padding=1), True),
    ("kernel_equals_input", 2, 5, 5, 3, (5, 5), dict(), True),
    ("wide_output", 3, 5, 5, 33, (3, 3), dict(padding=1), True),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_convolution(case, rng):
    _, C, H, W, K, (R, S), kw, has_bias = case
    groups = kw.get("num_groups", 1)
    w = rng.standard_normal((K, C // groups, R, S)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32) if has_bias else None

    def define(net, t):
        return net.add_convolution(t["x"], K, (R, S), w, b, **kw).output(0)

    def to_pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)

    pre = to_pair(kw["padding"]) if "padding" in kw else kw.get("pre_padding", (0, 0))
    post = to_pair(kw["padding"]) if "padding" in kw else kw.get("post_padding", pre)
    ref_kw = dict(stride=to_pair(kw.get("stride", 1)), pre=pre, post=post, dilation=to_pair(kw.get("dilation", 1)),
                  groups=groups)
    run_batches(define, (C, H, W), rng, lambda x: conv2d_ref(x, w, b, **ref_kw), lambda a, e, what: conv_assert(a, e, what=what))


def test_convolution_layer_fields_after_add(rng):
    """Fields set on the layer after add_convolution (stride, padding, dilation, groups) take effect."""
    C, K = 4, 6
    w = rng.standard_normal((K, C // 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)

    def define(net, t):
        conv = net.add_convolution(t["x"], K, (3, 3), w, b, num_groups=2)
        conv.stride = (2, 1)
        conv.pre_padding = (1, 2)
        conv.post_padding = (0, 1)
        conv.dilation = (1, 2)
        return conv.output(0)

    run_batches(define, (C, 9, 10), rng,
                lambda x: conv2d_ref(x, w, b, stride=(2, 1), pre=(1, 2), post=(0, 1), dilation=(1, 2), groups=2),
                lambda a, e, what: conv_assert(a, e, what=what))


def test_convolution_batch3(rng):
    C, K = 3, 4
    w = rng.standard_normal((K, C, 3, 3)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    run_batches(lambda net, t: net.add_convolution(t["x"], K, (3, 3), w, b, padding=1).output(0), (C, 8, 8), rng,
                lambda x: conv2d_ref(x, w, b, pre=(1, 1)), lambda a, e, what: conv_assert(a, e, what=what),
                batches=(3, 1, 3, 5))


def test_convolution_tolerance_can_fail(rng):
    """The conv comparison rejects an output that is off by a small relative amount (guards the harness)."""
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    ref = conv2d_ref(x, w)
    with pytest.raises(AssertionError):
        conv_assert(ref[0] * (1 + 1e-3), ref)
    with pytest.raises(AssertionError):
        conv_assert(ref[0][:, :, :-1], ref)


# ---- Pooling -------------------------------------------------------------------------------------

POOL_CASES = [
    # id, (C, H, W), window, kwargs
    ("2x2_s2", (3, 8, 8), (2, 2), dict(stride=(2, 2))),
    ("3x3_s1", (2, 7, 6), (3, 3), dict()),
    ("3x3_s2_pad1", (3, 9, 10), (3, 3), dict(stride=(2, 2), pre_padding=(1, 1))),
    ("3x3_s2_pad1_incl", (3, 9, 10), (3, 3), dict(stride=(2, 2), pre_padding=(1, 1), exclude_padding=0)),
    ("asym_pad", (2, 7, 9), (3, 2), dict(stride=(2, 1), pre_padding=(2, 0), post_padding=(0, 1))),
    ("asym_pad_incl", (2, 7, 9), (3, 2), dict(stride=(2, 1), pre_padding=(2, 0), post_padding=(0, 1), exclude_padding=0)),
    ("ceil_3x3_s2", (3, 8, 8), (3, 3), dict(stride=(2, 2), ceil_mode=1)),
    ("ceil_3x3_s2_pad1", (3, 10, 7), (3, 3), dict(stride=(2, 2), pre_padding=(1, 1), ceil_mode=1)),
    ("ceil_3x3_s2_pad1_incl", (3, 10, 7), (3, 3), dict(stride=(2, 2), pre_padding=(1, 1), ceil_mode=1, exclude_padding=0)),
    # Caffe rounding drops a window that would start in the padding: H=5,k=2,s=2,p=1 -> ceil gives 4, Caffe 3.
    ("ceil_caffe_drop", (2, 5, 5), (2, 2), dict(stride=(2, 2), pre_padding=(1, 1), ceil_mode=1)),
    ("ceil_caffe_drop_incl", (2, 5, 5), (2, 2), dict(stride=(2, 2), pre_padding=(1, 1), ceil_mode=1, exclude_padding=0)),
    ("ceil_exact", (2, 7, 7), (3, 3), dict(stride=(2, 2), ceil_mode=1)),
    ("ceil_stride3", (1, 11, 13), (3, 3), dict(stride=(3, 3), ceil_mode=1)),
    ("window_eq_input", (4, 5, 6), (5, 6), dict()),
    ("1x1_spatial", (5, 1, 1), (1, 1), dict()),
]


@pytest.mark.parametrize("kind", [gie.PoolingType.MAX, gie.PoolingType.AVERAGE], ids=["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES, ids=[c[0] for c in POOL_CASES])
def test_pooling(case, kind, rng):
    _, shape, window, kw = case

    def define(net, t):
        layer = net.add_pooling(t["x"], kind, window)
        for k, v in kw.items():
            setattr(layer, k, v)
        return layer.output(0)

    pre = kw.get("pre_padding", (0, 0))
    ref_kw = dict(stride=kw.get("stride", (1, 1)), pre=pre, post=kw.get("post_padding", pre),
                  exclude_padding=bool(kw.get("exclude_padding", 1)), ceil_mode=bool(kw.get("ceil_mode", 0)))
    # Negative inputs make "padding is never a max candidate" observable.
    make = (lambda n: (rng.standard_normal((n,) + shape) - 3.0).astype(np.float32)) if kind == gie.PoolingType.MAX else None
    run_batches(define, shape, rng, lambda x: pool2d_ref(x, kind, window, **ref_kw), close(), make=make)


@pytest.mark.parametrize("H,k,s,pad,floor_out,ceil_out", [
    (8, 3, 2, 0, 3, 4),   # ceil rounds up
    (6, 3, 2, 1, 3, 4),
    (10, 3, 3, 0, 3, 4),
    (4, 3, 3, 2, 2, 2),   # plain ceil would give 3; the 3rd window would start at 6 >= 4 + 2 (Caffe drops it)
    (5, 2, 2, 1, 3, 3),   # plain ceil would give 4; the 4th window would start at 6 >= 5 + 1
    (7, 3, 2, 1, 4, 4),
])
def test_pooling_ceil_mode_output_shapes(H, k, s, pad, floor_out, ceil_out):
    """Output sizes with and without ceil_mode (hand-computed, Caffe rounding)."""
    assert pool_out_size(H, k, s, pad, pad, False) == floor_out
    assert pool_out_size(H, k, s, pad, pad, True) == ceil_out
    net = gie.Builder().create_network()
    x = net.add_input("x", gie.float32, (1, 2, H, H + 1))
    p = net.add_pooling(x, gie.PoolingType.MAX, (k, k))
    p.stride = (s, s)
    p.padding = (pad, pad)
    assert p.output(0).shape[:3] == (1, 2, floor_out)
    p.ceil_mode = 1
    assert p.output(0).shape[:3] == (1, 2, ceil_out)
    assert p.output(0).shape[3] == pool_out_size(H + 1, k, s, pad, pad, True)
    p.ceil_mode = 0
    assert p.output(0).shape[:3] == (1, 2, floor_out)


@pytest.mark.parametrize("kind", [gie.PoolingType.MAX, gie.PoolingType.AVERAGE], ids=["max", "avg"])
@pytest.mark.parametrize("shape", [(3, 7, 5), (4, 1, 1), (2, 16, 3)])
def test_pooling_global(kind, shape, rng):
    def define(net, t):
        layer = net.add_pooling(t["x"], kind, (1, 1))
        setattr(layer, "global", 1)
        return layer.output(0)

    def ref(x):
        x = x.astype(np.float64)
        return x.max(axis=(2, 3), keepdims=True) if kind == gie.PoolingType.MAX else x.mean(axis=(2, 3), keepdims=True)

    run_batches(define, shape, rng, ref, close())


# ---- FullyConnected ------------------------------------------------------------------------------

def fc_ref(x, w, b, axis=1):
    x = np.asarray(x, np.float64)
    axis = axis % x.ndim
    lead = x.shape[:axis]
    flat = x.reshape(lead + (-1,))
    y = flat @ w.astype(np.float64).T
    mag = np.abs(flat) @ np.abs(w.astype(np.float64)).T
    if b is not None:
        y = y + b
        mag = mag + np.abs(b)
    return y, mag


@pytest.mark.parametrize("shape,K,axis,bias", [
    ((5, 3, 4), 7, None, True),      # 4D NCHW flattened (C, H, W)
    ((13,), 9, None, True),          # 2D input
    ((13,), 1, None, False),
    ((1, 1, 1), 3, None, True),      # 1x1x1 after global pooling
    ((4, 3, 5), 6, 2, True),         # axis 2: (N, 4, 15) -> (N, 4, 6)
    ((4, 3, 5), 6, 3, True),         # axis 3: (N, 4, 3, 6)
    ((4, 3, 5), 6, -1, False),       # negative axis
    ((50, 4, 4), 33, None, True),    # wide flat
])
def test_fully_connected(shape, K, axis, bias, rng):
    full = (MAX_BATCH,) + shape
    ax = 1 if axis is None else axis % len(full)
    flat = int(np.prod(full[ax:]))
    w = rng.standard_normal((K, flat)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32) if bias else None

    def define(net, t):
        layer = net.add_fully_connected(t["x"], K, w, b, axis=axis)
        expected = full[:ax] + (K,)
        assert layer.output(0).shape == expected
        return layer.output(0)

    run_batches(define, shape, rng, lambda x: fc_ref(x, w, b, ax),
                lambda a, e, what: conv_assert(a, e, what=what))


def test_fully_connected_flattens_chw_order(rng):
    """A 4D input is flattened as (C, H, W) in C order: a one-hot weight picks exactly x[n, c, h, w]."""
    C, H, W = 3, 4, 5
    w = np.zeros((3, C * H * W), np.float32)
    picks = [(0, 0, 0), (2, 3, 4), (1, 2, 0)]
    for k, (c, h, ww) in enumerate(picks):
        w[k, c * H * W + h * W + ww] = 1.0

    def ref(x):
        return np.stack([x[:, c, h, ww] for (c, h, ww) in picks], axis=1).astype(np.float64)

    run_batches(lambda net, t: net.add_fully_connected(t["x"], 3, w).output(0), (C, H, W), rng, ref, close(0, 0))


# ---- Activation ----------------------------------------------------------------------------------

ACT_NAMES = [n for n in dir(gie.ActivationType) if n.isupper() and n not in ("name", "value")]


def act_inputs(rng, n):
    x = rng.uniform(-6, 6, (n, 3, 4, 7)).astype(np.float32)
    # Interesting points: 0, +-small, the thresholds/clip bounds, around +-3 (hard swish) and the softplus cutoff.
    specials = np.array([0.0, -0.0, 1e-4, -1e-4, 0.25, -0.5, 1.25, 1.0, -1.0, 3.0, -3.0, 6.0, 6.5, 20.5, -20.5,
                         25.0, -30.0, 2.5], np.float32)
    flat = x.reshape(-1)
    flat[:specials.size] = specials
    return x


def test_activation_types_are_all_covered():
    assert len(ACT_NAMES) == 18, ACT_NAMES
    for n in ACT_NAMES:
        activation_ref(getattr(gie.ActivationType, n), np.zeros(1), 0.1, 0.1)


@pytest.mark.parametrize("name,params", [(n, "default") for n in ACT_NAMES] + [(n, "explicit") for n in ACT_PARAMS])
def test_activation(name, params, rng):
    t = getattr(gie.ActivationType, name)
    if params == "explicit":
        alpha, beta = ACT_PARAMS[name]
        ra = alpha
        rb = ACT_DEFAULTS.get(name, (0.0, 0.0))[1] if beta is None else beta
    else:
        alpha = beta = None
        ra, rb = ACT_DEFAULTS.get(name, (0.0, 0.0))
    ra, rb = float(np.float32(ra)), float(np.float32(rb))

    def define(net, tens):
        layer = net.add_activation(tens["x"], t, alpha=alpha, beta=beta)
        return layer.output(0)

    run_batches(define, None, rng, lambda x: activation_ref(t, x, ra, rb), close(1e-5, 1e-5),
                make=lambda n: act_inputs(rng, n))


def test_activation_alpha_beta_set_as_attributes(rng):
    A = gie.ActivationType

    def define(net, t):
        a = net.add_activation(t["x"], A.CLIP)
        a.alpha = -1.5
        a.beta = 0.75
        b = net.add_activation(t["x"], A.LEAKY_RELU)
        b.alpha = 0.3
        return [a.output(0), b.output(0)]

    run_batches(define, (4, 6), rng, lambda x: [activation_ref(A.CLIP, x, -1.5, 0.75), activation_ref(A.LEAKY_RELU, x, 0.3, 0)],
                close())


def test_activation_large_tensor_multithreaded_chunks(rng):
    """More than one 16384-element chunk per batch exercises the parallel split."""
    run_batches(lambda net, t: net.add_activation(t["x"], gie.ActivationType.SILU).output(0), (5, 71, 97), rng,
                lambda x: activation_ref(gie.ActivationType.SILU, x, 0, 0), close())


# ---- Softmax / LogSoftmax ------------------------------------------------------------------------

@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [0, 1, 2, 3, -1, -2, -3, -4])
def test_softmax_4d_every_axis(axis, log, rng):
    def define(net, t):
        fn = net.add_log_softmax if log else net.add_softmax
        return fn(t["x"], axis=axis).output(0)

    make = lambda n: (rng.standard_normal((n, 3, 4, 5)) * 4).astype(np.float32)  # noqa: E731
    run_batches(define, None, rng, lambda x: softmax_ref(x, axis, log), close(1e-5, 1e-6), make=make)


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,axis", [((10,), 1), ((10,), 0), ((10,), -1), ((2, 7), 2), ((2, 7), 1),
                                        ((1,), 1), ((3, 2, 2, 2), 4)])
def test_softmax_other_ranks(shape, axis, log, rng):
    def define(net, t):
        fn = net.add_log_softmax if log else net.add_softmax
        return fn(t["x"], axis=axis).output(0)

    run_batches(define, shape, rng, lambda x: softmax_ref(x, axis, log), close(1e-5, 1e-6))


def test_softmax_default_axis_is_1_and_large_logits(rng):
    def define(net, t):
        return [net.add_softmax(t["x"]).output(0), net.add_log_softmax(t["x"]).output(0)]

    # Large logits must not overflow (max subtraction).
    make = lambda n: (rng.standard_normal((n, 6, 3)) * 40 + 500).astype(np.float32)  # noqa: E731
    run_batches(define, None, rng, lambda x: [softmax_ref(x, 1), softmax_ref(x, 1, True)], close(1e-5, 1e-5), make=make)


def test_softmax_bad_axis():
    net = gie.Builder().create_network()
    x = net.add_input("x", gie.float32, (1, 4, 3))
    with pytest.raises(gie.Error, match="axis"):
        net.add_softmax(x, axis=3)
    with pytest.raises(gie.Error, match="axis"):
        net.add_log_softmax(x, axis=-4)


# ---- Identity / Constant -------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.int32], ids=["float32", "int32"])
def test_identity(dtype, rng):
    make = lambda n: (rng.integers(-1000, 1000, (n, 3, 5)) if dtype == np.int32  # noqa: E731
                      else rng.standard_normal((n, 3, 5))).astype(dtype)
    engine = run_batches(lambda net, t: net.add_identity(t["x"]).output(0), None, rng, lambda x: x, exact, make=make)
    assert engine.get_tensor_dtype("out0") == (gie.int32 if dtype == np.int32 else gie.float32)


def test_identity_chain_and_two_outputs(rng):
    def define(net, t):
        a = net.add_identity(t["x"]).output(0)
        b = net.add_identity(a).output(0)
        return [a, b]

    run_batches(define, (2, 3), rng, lambda x: [x, x], exact)


@pytest.mark.parametrize("kind", ["float32", "int32"])
def test_constant(kind, rng):
    shape = (2, 3, 4)
    if kind == "float32":
        value = rng.standard_normal(shape).astype(np.float32)
    else:
        value = rng.integers(-2**31, 2**31 - 1, shape, dtype=np.int64).astype(np.int32)

    def define(net, t):
        c = net.add_constant(shape, value)
        assert c.output(0).shape == shape
        assert c.output(0).dtype == (gie.float32 if kind == "float32" else gie.int32)
        return [net.add_identity(t["x"]).output(0), c.output(0), net.add_identity(c.output(0)).output(0)]

    for passes_off in ((), ("constant_folding",)):
        engine = run_batches(define, (3,), rng, lambda x: [x, value, value], exact, passes_off=passes_off)
        assert engine.get_tensor_shape("out1") == shape
        assert engine.get_tensor_shape("out2") == shape


def test_constant_feeds_activation_and_softmax(rng):
    """Constant -> Activation -> Softmax, folded or not, gives the reference values."""
    value = rng.standard_normal((1, 5, 2)).astype(np.float32)

    def define(net, t):
        c = net.add_constant(value.shape, value)
        a = net.add_activation(c.output(0), gie.ActivationType.TANH)
        s = net.add_softmax(a.output(0), axis=1)
        return [net.add_identity(t["x"]).output(0), s.output(0)]

    expected = softmax_ref(np.tanh(value.astype(np.float64)), 1)
    for passes_off in ((), ("constant_folding",)):
        run_batches(define, (2,), rng, lambda x: [x, expected], close(1e-5, 1e-6), passes_off=passes_off)


def test_constant_wrong_count():
    net = gie.Builder().create_network()
    with pytest.raises(gie.Error, match="needs 6 values, got 5"):
        net.add_constant((2, 3), np.zeros(5, np.float32))


# ---- LeNet end to end ----------------------------------------------------------------------------

def test_lenet_end_to_end(rng):
    w1 = (rng.standard_normal((20, 1, 5, 5)) * 0.2).astype(np.float32)
    b1 = (rng.standard_normal(20) * 0.1).astype(np.float32)
    w2 = (rng.standard_normal((50, 20, 5, 5)) * 0.045).astype(np.float32)
    b2 = (rng.standard_normal(50) * 0.1).astype(np.float32)
    w3 = (rng.standard_normal((500, 800)) * 0.035).astype(np.float32)
    b3 = (rng.standard_normal(500) * 0.1).astype(np.float32)
    w4 = (rng.standard_normal((10, 500)) * 0.15).astype(np.float32)
    b4 = (rng.standard_normal(10) * 0.1).astype(np.float32)

    builder = gie.Builder()
    net = builder.create_network()
    data = net.add_input("data", gie.float32, (1, 1, 28, 28))
    conv1 = net.add_convolution(data, 20, (5, 5), w1, b1)
    pool1 = net.add_pooling(conv1.output(0), gie.PoolingType.MAX, (2, 2))
    pool1.stride = (2, 2)
    conv2 = net.add_convolution(pool1.output(0), 50, (5, 5), w2, b2)
    pool2 = net.add_pooling(conv2.output(0), gie.PoolingType.MAX, (2, 2))
    pool2.stride = (2, 2)
    assert pool2.output(0).shape == (1, 50, 4, 4)
    fc1 = net.add_fully_connected(pool2.output(0), 500, w3, b3)
    relu = net.add_activation(fc1.output(0), gie.ActivationType.RELU)
    fc2 = net.add_fully_connected(relu.output(0), 10, w4, b4)
    prob = net.add_softmax(fc2.output(0))
    net.mark_output(prob.output(0), "prob")
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = MAX_BATCH
    engine = builder.build(net, config)
    assert engine.input_names == ["data"] and engine.output_names == ["prob"]
    assert engine.get_tensor_shape("prob") == (MAX_BATCH, 10)

    def forward(x):
        y, _ = conv2d_ref(x, w1, b1)
        y = pool2d_ref(y, gie.PoolingType.MAX, (2, 2), (2, 2))
        y, _ = conv2d_ref(y, w2, b2)
        y = pool2d_ref(y, gie.PoolingType.MAX, (2, 2), (2, 2))
        y = y.reshape(len(x), -1) @ w3.T.astype(np.float64) + b3
        y = np.maximum(y, 0)
        logits = y @ w4.T.astype(np.float64) + b4
        return logits, softmax_ref(logits, 1)

    ctx = engine.create_execution_context()
    for n in BATCHES:
        x = rng.uniform(0, 1, (n, 1, 28, 28)).astype(np.float32)
        logits, expected = forward(x)
        assert logits.std() > 0.5, "the test network should produce non-trivial logits"
        got = ctx.execute({"data": x})["prob"]
        assert_close(got, expected, rtol=1e-4, atol=1e-6, what=f"LeNet prob at batch {n}")
        np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5)
        assert (got.argmax(1) == expected.argmax(1)).all()
