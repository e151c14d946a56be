"""CPU fast paths against float64 numpy references on awkward shapes, with outputs poisoned (NaN) before each
run: the depthwise convolution kernels (per-plane register-blocked and 16-channels-per-vector; 3x3 / 5x5,
stride 1 / 2, asymmetric padding, fused bias, residual and activation), the Winograd F(2x2, 3x3) convolution
(dense 3x3 stride 1 with >= 32 channels), the direct convolution (16 output channels per vector: C*R*S <= 32,
K <= 64; GIE_CPU_DIRECT_CONV forces it on or off), the transposed 1x1 GEMM's output pass on 7x7 planes, pooling's
vectorised interior columns and its global-window reduction."""
import numpy as np
import pytest

import gie
from test_layers_core import conv2d_ref, pool2d_ref
from util import assert_close


def _run_poisoned(net, builder, feeds, out_shape, max_batch):
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = max_batch
    engine = builder.build(net, config)
    ctx = engine.create_execution_context()
    out = np.full(out_shape, np.nan, np.float32)
    ctx.execute(feeds, {"y": out})
    return out


def _act_ref(kind, v):
    if kind is None:
        return v
    if kind == gie.ActivationType.RELU6:
        return np.clip(v, 0, 6)
    if kind == gie.ActivationType.RELU:
        return np.maximum(v, 0)
    if kind == gie.ActivationType.LEAKY_RELU:
        return np.where(v >= 0, v, 0.1 * v)
    if kind == gie.ActivationType.SILU:
        return v / (1 + np.exp(-v))
    raise AssertionError(kind)


def _run_conv(x, w, b, out_shape, act=None, res=None, alpha=None, **conv_args):
    """act(conv(x) + res) as a network (the residual an element-wise sum, which the builder fuses into the
    convolution), built for the CPU and run with poisoned outputs."""
    builder = gie.Builder()
    net = builder.create_network()
    feeds = {"x": x}
    y = net.add_convolution(net.add_input("x", gie.float32, x.shape), w.shape[0], w.shape[2:], w, b, **conv_args).output(0)
    if res is not None:
        feeds["r"] = res
        y = net.add_elementwise(y, net.add_input("r", gie.float32, res.shape), gie.ElementWiseOperation.SUM).output(0)
    if act is not None:
        y = net.add_activation(y, act, alpha=alpha).output(0)
    net.mark_output(y, "y")
    return _run_poisoned(net, builder, feeds, out_shape, x.shape[0])


DW_CASES = [
    # C, H, W, k, stride, (pre pads), (post pads)
    (3, 113, 111, 3, 1, (1, 1), (1, 1)),   # several accumulator chunks per plane
    (5, 112, 113, 3, 2, (1, 1), (1, 1)),   # stride 2, odd width
    (4, 57, 55, 5, 2, (2, 2), (2, 2)),
    (6, 15, 14, 5, 1, (2, 2), (2, 2)),
    (7, 7, 7, 5, 1, (2, 2), (2, 2)),       # EfficientNet's 7x7 planes: one short register block
    (5, 28, 27, 3, 2, (0, 0), (1, 1)),     # TF "same" padding: bottom/right only
    (9, 1, 1, 3, 1, (1, 1), (1, 1)),
    (17, 14, 14, 3, 1, (1, 1), (1, 1)),
    # the 16-channel kernel (stride 2, planes up to 28x28): a partial last group of channels, rows shorter and
    # longer than 16 pixels, asymmetric padding
    (37, 9, 11, 3, 2, (1, 1), (1, 1)),
    (20, 14, 13, 5, 1, (2, 1), (2, 3)),
    (33, 7, 7, 3, 1, (1, 1), (1, 1)),
    (16, 28, 27, 3, 1, (1, 1), (1, 1)),
    (18, 56, 55, 5, 2, (2, 2), (1, 2)),
    # the 16-channel kernel's unit-stride row blocks (8 pixels, S = 3 / 5 taps): 5x5 on 28x28 now takes it,
    # rows of 8 to 9 pixels (overlapping last block), a 3x3 whose first block starts in the padding
    (35, 28, 28, 5, 1, (2, 2), (2, 2)),
    (17, 9, 9, 5, 1, (2, 2), (2, 2)),
    (19, 12, 8, 3, 1, (1, 0), (1, 2)),
    # stride-1 outputs of 100x100 pixels and more take the 16-channel kernel too (MobileNetV2's first depthwise
    # layer): a partial last group, odd width, asymmetric padding
    (19, 101, 103, 3, 1, (1, 0), (1, 2)),
    # rows a multiple of 8 pixels (the AVX2 input transpose stores whole in-row blocks), groups of 8 channels
    # loaded by 128-bit halves: MobileNetV2's stride-2 shapes with fewer channels (a partial last group of 8 and 16),
    # several strips, bottom / right padding only
    (20, 112, 112, 3, 2, (1, 1), (1, 1)),
    (16, 56, 56, 3, 2, (1, 1), (1, 1)),
    (13, 24, 40, 3, 2, (0, 0), (1, 1)),
    (11, 16, 24, 5, 1, (2, 2), (2, 2)),
    # the AVX2 3x3 stride-2 row kernel (even width, left padding 0 / 1, >= 48 outputs per row): 49 outputs per row
    # (a partial last vector) with left padding 0; 52 with top / left padding only and an odd height; 66 (a block
    # of 8 vectors and a partial one) with right padding 2
    (5, 100, 98, 3, 2, (0, 0), (1, 1)),
    (3, 61, 104, 3, 2, (1, 1), (0, 0)),
    (9, 16, 130, 3, 2, (1, 1), (2, 2)),
]


@pytest.mark.parametrize("act", [None, gie.ActivationType.RELU6, gie.ActivationType.LEAKY_RELU, gie.ActivationType.SILU],
                         ids=["none", "relu6", "leaky", "silu"])
@pytest.mark.parametrize("case", DW_CASES, ids=[f"c{c[0]}_{c[1]}x{c[2]}_k{c[3]}s{c[4]}" for c in DW_CASES])
def test_depthwise_conv_fused_epilogue(case, act, rng):
    C, H, W, k, s, pre, post = case
    batch = 2
    x = rng.standard_normal((batch, C, H, W)).astype(np.float32)
    w = rng.standard_normal((C, 1, k, k)).astype(np.float32)
    b = rng.standard_normal(C).astype(np.float32)
    builder = gie.Builder()
    net = builder.create_network()
    t = net.add_input("x", gie.float32, (batch, C, H, W))
    conv = net.add_convolution(t, C, (k, k), w, b, stride=s, pre_padding=pre, post_padding=post, num_groups=C)
    y = conv.output(0)
    if act is not None:
        y = net.add_activation(y, act, alpha=0.1 if act == gie.ActivationType.LEAKY_RELU else None).output(0)
    net.mark_output(y, "y")
    ref, mag = conv2d_ref(x, w, b, stride=(s, s), pre=pre, post=post, groups=C)
    got = _run_poisoned(net, builder, {"x": x}, ref.shape, batch)
    assert_close(got, _act_ref(act, ref), rtol=1e-5, atol=1e-5 * max(1.0, float(mag.max())), what=f"{case} {act}")


@pytest.mark.parametrize("act", [None, gie.ActivationType.RELU], ids=["none", "relu"])
def test_depthwise_conv_fused_residual(act, rng):
    """y = act(dwconv(x) + x): the residual is added before the activation, in the output layout."""
    batch, C, H, W = 2, 6, 23, 19
    x = rng.standard_normal((batch, C, H, W)).astype(np.float32)
    w = rng.standard_normal((C, 1, 3, 3)).astype(np.float32)
    builder = gie.Builder()
    net = builder.create_network()
    t = net.add_input("x", gie.float32, (batch, C, H, W))
    conv = net.add_convolution(t, C, (3, 3), w, None, stride=1, pre_padding=(1, 1), post_padding=(1, 1), num_groups=C)
    y = net.add_elementwise(conv.output(0), t, gie.ElementWiseOperation.SUM).output(0)
    if act is not None:
        y = net.add_activation(y, act).output(0)
    net.mark_output(y, "y")
    ref, mag = conv2d_ref(x, w, None, pre=(1, 1), groups=C)
    got = _run_poisoned(net, builder, {"x": x}, ref.shape, batch)
    assert_close(got, _act_ref(act, ref + x), rtol=1e-5, atol=1e-5 * float(mag.max() + 4), what=f"residual {act}")


@pytest.mark.parametrize("act", [None, gie.ActivationType.RELU6, gie.ActivationType.LEAKY_RELU, gie.ActivationType.SILU],
                         ids=["none", "relu6", "leaky", "silu"])
@pytest.mark.parametrize("case", [(4, 30, 112, (1, 1), (1, 1)), (3, 19, 98, (0, 0), (1, 1))], ids=["q56", "q49"])
def test_depthwise_stride2_rows_residual(case, act, rng):
    """y = act(dwconv3x3_s2(x) + r): the AVX2 stride-2 row kernel adds the residual before its register activation
    (ReLU6 / leaky) and leaves SiLU to a pass over each plane; 56 and 49 outputs per row."""
    C, H, W, pre, post = case
    batch = 2
    x = rng.standard_normal((batch, C, H, W)).astype(np.float32)
    w = rng.standard_normal((C, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(C).astype(np.float32)
    ref, mag = conv2d_ref(x, w, b, stride=(2, 2), pre=pre, post=post, groups=C)
    res = rng.standard_normal(ref.shape).astype(np.float32)
    alpha = 0.1 if act == gie.ActivationType.LEAKY_RELU else None
    got = _run_conv(x, w, b, ref.shape, act, res, alpha, stride=2, pre_padding=pre, post_padding=post, num_groups=C)
    assert_close(got, _act_ref(act, ref + res), rtol=1e-5, atol=1e-5 * float(mag.max() + 4), what=f"{case} {act}")


# The per-plane kernel's register-reuse block on stride-1 3x3 / 5x5 planes of 28x28 .. 99x99 outputs (or any
# plane with a channel multiplier), whose padded rows are 64-byte aligned unless GIE_CPU_DW_ALIGN=0: rows of 16
# real columns and more (16, 17, 29, 53 wide), asymmetric padding, a channel multiplier of 2, and a plane whose
# height is not a multiple of the 4-row block.
ALIGN_CASES = [
    # C, multiplier, H, W, k, (pre pads), (post pads)
    (5, 1, 56, 53, 3, (1, 1), (1, 1)),
    (4, 1, 31, 29, 5, (2, 1), (2, 3)),
    (6, 1, 60, 17, 3, (0, 1), (2, 0)),
    (3, 2, 21, 16, 3, (1, 1), (1, 1)),
    (3, 2, 19, 23, 5, (2, 2), (2, 2)),
]


@pytest.mark.parametrize("mode", ["1", "0"], ids=["aligned", "unaligned"])
@pytest.mark.parametrize("act", [None, gie.ActivationType.RELU6, gie.ActivationType.SILU], ids=["none", "relu6", "silu"])
@pytest.mark.parametrize("case", ALIGN_CASES, ids=[f"c{c[0]}m{c[1]}_{c[2]}x{c[3]}_k{c[4]}" for c in ALIGN_CASES])
def test_depthwise_aligned_rows(case, act, mode, rng, monkeypatch):
    """The per-plane depthwise kernel with its padded rows aligned (default) and not (GIE_CPU_DW_ALIGN=0), with a
    residual and without: against float64 numpy, and both settings give the same bits (same sums in the same
    order)."""
    C, mult, H, W, k, pre, post = case
    batch = 2
    x = rng.standard_normal((batch, C, H, W)).astype(np.float32)
    w = rng.standard_normal((C * mult, 1, k, k)).astype(np.float32)
    b = rng.standard_normal(C * mult).astype(np.float32)
    ref, mag = conv2d_ref(x, w, b, pre=pre, post=post, groups=C)
    res = rng.standard_normal(ref.shape).astype(np.float32)
    conv = dict(pre_padding=pre, post_padding=post, num_groups=C)
    tol = dict(rtol=1e-5, atol=1e-5 * float(mag.max() + 4))
    outs = {}
    for m in (mode, "0" if mode == "1" else "1"):
        monkeypatch.setenv("GIE_CPU_DW_ALIGN", m)
        outs[m] = (_run_conv(x, w, b, ref.shape, act, res, **conv), _run_conv(x, w, b, ref.shape, act, **conv))
    got_res, got = outs[mode]
    assert_close(got_res, _act_ref(act, ref + res), **tol, what=f"{case} {act} residual")
    assert_close(got, _act_ref(act, ref), **tol, what=f"{case} {act}")
    other = outs["0" if mode == "1" else "1"]
    assert np.array_equal(got.view(np.uint32), other[1].view(np.uint32))
    assert np.array_equal(got_res.view(np.uint32), other[0].view(np.uint32))


WINOGRAD_CASES = [
    # C, K, H, W, (pre pads), (post pads), batch
    (32, 40, 9, 13, (1, 0), (2, 1), 2),     # odd P, asymmetric padding
    (48, 33, 15, 15, (1, 1), (1, 1), 1),    # odd P and Q: half-empty last tile row and column
    (35, 64, 6, 7, (0, 0), (0, 0), 2),      # no padding, 4x5 outputs
    (300, 33, 29, 27, (1, 1), (1, 1), 1),   # several tile blocks
    (64, 64, 56, 56, (1, 1), (1, 1), 1),    # ResNet-50's first 3x3 layer
]


@pytest.mark.parametrize("act", [None, gie.ActivationType.RELU, gie.ActivationType.SILU], ids=["none", "relu", "silu"])
@pytest.mark.parametrize("case", WINOGRAD_CASES, ids=[f"c{c[0]}k{c[1]}_{c[2]}x{c[3]}" for c in WINOGRAD_CASES])
def test_winograd_conv(case, act, rng):
    """Dense 3x3 stride-1 convolutions with enough channels run as Winograd F(2x2, 3x3): bias, residual (an
    element-wise sum with another input) and activation fused into its output transform."""
    C, K, H, W, pre, post, batch = case
    x = rng.standard_normal((batch, C, H, W)).astype(np.float32)
    w = (rng.standard_normal((K, C, 3, 3)) / np.sqrt(9 * C)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    ref, mag = conv2d_ref(x, w, b, pre=pre, post=post)
    res = rng.standard_normal(ref.shape).astype(np.float32)
    got = _run_conv(x, w, b, ref.shape, act, res, stride=1, pre_padding=pre, post_padding=post)
    assert_close(got, _act_ref(act, ref + res), rtol=1e-5, atol=1e-5 * float(mag.max() + 4), what=f"{case} {act}")


POOL_CASES = [
    # (C, H, W), window, stride, pre, post, ceil, exclude
    ((3, 9, 37), (3, 3), (1, 1), (1, 1), (1, 1), 0, 1),    # GoogLeNet's 3x3/1 pad 1 on a wide row
    ((2, 11, 45), (3, 3), (2, 2), (0, 0), (0, 0), 1, 1),   # 3x3/2 Caffe ceil rounding
    ((2, 10, 41), (3, 3), (2, 2), (1, 1), (1, 1), 1, 0),   # ceil + padding, padding counted
    ((2, 6, 33), (2, 5), (1, 3), (0, 2), (1, 2), 0, 1),    # asymmetric window / stride / padding
    ((1, 5, 20), (2, 2), (2, 2), (0, 0), (0, 0), 0, 1),
    ((2, 4, 3), (3, 3), (1, 1), (1, 1), (1, 1), 0, 0),     # no interior column at all
    # separable max pooling (AVX2 / AVX-512): rows shorter / longer than a vector, stride 2 across the
    # 32-float permute, stride 3 (scalar row pass), ceil windows past the padding, a 5x5 window
    ((5, 30, 35), (3, 3), (2, 2), (1, 1), (1, 1), 0, 1),
    ((3, 17, 33), (2, 4), (3, 3), (0, 1), (1, 2), 1, 1),
    ((19, 7, 7), (3, 3), (1, 1), (1, 1), (1, 1), 0, 1),    # GoogLeNet's 7x7 planes, 19 channels
    ((2, 19, 19), (5, 5), (1, 1), (2, 2), (2, 2), 0, 1),
    ((3, 13, 66), (3, 3), (2, 2), (0, 0), (0, 0), 1, 1),   # ceil: last window clipped to the row
]


@pytest.mark.parametrize("kind", [gie.PoolingType.MAX, gie.PoolingType.AVERAGE], ids=["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES, ids=[f"{c[0][2]}w_k{c[1][1]}s{c[2][1]}" for c in POOL_CASES])
def test_pooling_interior_columns(case, kind, rng):
    shape, window, stride, pre, post, ceil, exclude = case
    batch = 2
    x = rng.standard_normal((batch,) + shape).astype(np.float32) - (2.0 if kind == gie.PoolingType.MAX else 0.0)
    builder = gie.Builder()
    net = builder.create_network()
    t = net.add_input("x", gie.float32, (batch,) + shape)
    p = net.add_pooling(t, kind, window, stride=stride)
    p.pre_padding, p.post_padding, p.ceil_mode, p.exclude_padding = pre, post, ceil, exclude
    net.mark_output(p.output(0), "y")
    ref = pool2d_ref(x, kind, window, stride=stride, pre=pre, post=post, exclude_padding=bool(exclude),
                     ceil_mode=bool(ceil))
    got = _run_poisoned(net, builder, {"x": x}, ref.shape, batch)
    assert_close(got, ref, rtol=1e-5, atol=1e-5, what=f"{case} {kind}")


def test_max_pooling_nan_and_strided_output(rng):
    """Max pooling ignores NaN inputs (a window of NaNs gives -FLT_MAX, as the direct loop always did) and writes
    into a channel slice of a concatenation (output batch stride larger than its C*P*Q), batch 2."""
    batch, C, H, W = 2, 5, 11, 21
    x = rng.standard_normal((batch, C, H, W)).astype(np.float32)
    x[0, 1, 3, 4] = np.nan
    x[1, 2, 0:3, 0:3] = np.nan  # the whole first 3x3 window
    builder = gie.Builder()
    net = builder.create_network()
    t = net.add_input("x", gie.float32, (batch, C, H, W))
    a = net.add_pooling(t, gie.PoolingType.MAX, (3, 3), stride=(2, 2))
    b = net.add_pooling(t, gie.PoolingType.MAX, (2, 2), stride=(2, 2))  # same 5 x 10 output plane
    cat = net.add_concatenation([a.output(0), b.output(0)], axis=1)
    net.mark_output(cat.output(0), "y")
    xr = np.where(np.isnan(x), -np.finfo(np.float32).max, x)
    ref = np.concatenate([pool2d_ref(xr, gie.PoolingType.MAX, (3, 3), stride=(2, 2)),
                          pool2d_ref(xr, gie.PoolingType.MAX, (2, 2), stride=(2, 2))], axis=1)
    got = _run_poisoned(net, builder, {"x": x}, ref.shape, batch)
    assert_close(got, ref, rtol=0, atol=0, what="max pool nan / concat")


@pytest.mark.parametrize("kind", [gie.PoolingType.MAX, gie.PoolingType.AVERAGE], ids=["max", "avg"])
@pytest.mark.parametrize("shape", [(3, 56, 56), (5, 7, 7), (4, 13, 11), (2, 4, 4), (3, 1, 17)])
@pytest.mark.parametrize("how", ["global", "window"])
def test_pooling_whole_plane(shape, kind, how, rng):
    """A window equal to the plane (global pooling, squeeze-excitation) is one reduction per plane."""
    batch = 3
    x = (rng.standard_normal((batch,) + shape) * 3 + 1).astype(np.float32)
    builder = gie.Builder()
    net = builder.create_network()
    t = net.add_input("x", gie.float32, (batch,) + shape)
    p = net.add_pooling(t, kind, shape[1:] if how == "window" else (1, 1))
    if how == "global":
        setattr(p, "global", 1)
    net.mark_output(p.output(0), "y")
    xd = x.astype(np.float64)
    ref = xd.max(axis=(2, 3), keepdims=True) if kind == gie.PoolingType.MAX else xd.mean(axis=(2, 3), keepdims=True)
    got = _run_poisoned(net, builder, {"x": x}, ref.shape, batch)
    assert_close(got, ref, rtol=1e-5, atol=1e-5, what=f"{shape} {kind} {how}")


# ---- SiLU rows: the AVX2 / AVX-512 intrinsics rows give the scalar formula's bits over the whole float range ------

_SILU_SCRIPT = r"""
import sys, numpy as np, gie
rng = np.random.default_rng(5)
bits = rng.integers(0, 2**32, 1 << 20, dtype=np.uint64).astype(np.uint32)  # every exponent, NaN and inf included
special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 87.3, 87.31, -87.3, -87.31, 88.3, 88.31, -88.3, -88.29,
                    -88.31, -89.0, -1e30, 1e30, 1e-45, -1e-45, 1.1754944e-38], np.float32)
x = np.concatenate([bits.view(np.float32), special, np.linspace(-100, 100, 20001, dtype=np.float32)])
x = x[: x.size // 16 * 16 - 3].reshape(1, -1)  # not a multiple of the vector width: the tails too
b = gie.Builder(); net = b.create_network(); t = net.add_input("x", gie.float32, x.shape)
net.mark_output(net.add_activation(t, gie.ActivationType.SILU).output(0), "y")
c = b.create_config(); c.device = "cpu"
y = b.build(net, c).create_execution_context().execute({"x": x})["y"]
sys.stdout.buffer.write(x.tobytes() + y.tobytes())
"""


def test_silu_rows_same_bits_on_every_isa():
    import os
    import subprocess
    import sys
    with open("/proc/cpuinfo") as f:
        flags = set(next((line for line in f if line.startswith("flags")), "").split())
    isas = ["scalar"] + [i for i, need in (("avx2", {"avx2", "fma"}),
                                          ("avx512", {"avx512f", "avx512dq", "avx512bw", "avx512vl"})) if need <= flags]
    if len(isas) < 2:
        pytest.skip("this CPU offers only the scalar path")
    outs = {isa: subprocess.run([sys.executable, "-c", _SILU_SCRIPT], env=dict(os.environ, GIE_CPU_ISA=isa),
                                check=True, capture_output=True, timeout=300).stdout for isa in isas}
    raw = np.frombuffer(outs["scalar"], np.float32)
    x, y = raw[: raw.size // 2], raw[raw.size // 2:]
    for isa in isas[1:]:
        other = np.frombuffer(outs[isa], np.float32)[raw.size // 2:]
        diff = y.view(np.uint32) != other.view(np.uint32)
        assert not diff.any(), f"{isa}: {np.count_nonzero(diff)} results differ, e.g. x={x[diff][:5]}: {y[diff][:5]} vs " \
                               f"{other[diff][:5]}"
    # and the formula holds where it is finite (float64 reference, the tolerance of tests/test_activations.py)
    with np.errstate(over="ignore", invalid="ignore"):
        ref = x.astype(np.float64) / (1 + np.exp(-x.astype(np.float64)))
    ok = np.isfinite(ref)
    assert np.all(np.abs(y[ok] - ref[ok]) <= 5e-7 * np.abs(ref[ok]) + 1e-30)
    assert np.array_equal(np.isnan(y), np.isnan(ref) | (x == -np.inf))


# ---- SqueezeExcitation: lane-wise double means and the two products on the GEMM ---------------------------------

SE_CASES = [  # (N, C, spatial), squeeze: planes shorter and longer than the 16 lanes, 1x1 planes, batch > 4 (the
    # packed GEMM rather than the dot-product path), EfficientNet-B0's 144x56x56
    ((1, 144, 56, 56), 6), ((5, 33, 17, 19), 7), ((3, 7, 1, 1), 3), ((2, 40, 15), 9), ((6, 1152, 7, 7), 48)]


@pytest.mark.parametrize("act,gate", [("SILU", "SIGMOID"), ("RELU", "HARD_SIGMOID")])
@pytest.mark.parametrize("shape,cs", SE_CASES, ids=[f"{'x'.join(map(str, s))}_s{c}" for s, c in SE_CASES])
def test_squeeze_excitation(shape, cs, act, gate, rng):
    c = shape[1]
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)
    w1 = (rng.standard_normal((cs, c)) / np.sqrt(c)).astype(np.float32)
    w2 = (rng.standard_normal((c, cs)) / np.sqrt(cs)).astype(np.float32)
    b1 = rng.standard_normal(cs).astype(np.float32)
    b2 = rng.standard_normal(c).astype(np.float32)
    p = {"squeeze": np.array([cs], np.int64), "kernel1": w1.ravel(), "kernel2": w2.ravel(), "bias1": b1, "bias2": b2,
         "activation": np.array([int(getattr(gie.ActivationType, act))], np.int64),
         "gate": np.array([int(getattr(gie.ActivationType, gate))], np.int64),
         "gate_alpha": np.array([1 / 6], np.float32), "gate_beta": np.array([0.5], np.float32)}
    builder = gie.Builder()
    net = builder.create_network()
    t = net.add_input("x", gie.float32, x.shape)
    net.mark_output(net.add_layer("SqueezeExcitation", [t], p).output(0), "y")
    out_shape = shape[:2] + (1,) * (len(shape) - 2)
    got = _run_poisoned(net, builder, {"x": x}, out_shape, shape[0])
    m = x.astype(np.float64).reshape(shape[0], c, -1).mean(-1)
    h = m @ w1.T.astype(np.float64) + b1
    h = h / (1 + np.exp(-h)) if act == "SILU" else np.maximum(h, 0)
    g = h @ w2.T.astype(np.float64) + b2
    g = 1 / (1 + np.exp(-g)) if gate == "SIGMOID" else np.clip(g / 6 + 0.5, 0, 1)
    assert_close(got, g.reshape(out_shape), rtol=1e-5, atol=1e-6)


# The plane sums (kernels/plane_sum.h) of the SqueezeExcitation means (double) and of global average pooling
# (float) run per ISA in 16 independent lanes: every ISA must give the scalar build's bits. With identity products
# and ReLU on non-negative inputs the SqueezeExcitation output is its means exactly.
_PLANE_SUM_SCRIPT = r"""
import sys, numpy as np, gie
rng = np.random.default_rng(3)
out = []
for shape in ((2, 5, 37, 41), (1, 3, 7, 7), (1, 4, 16, 1), (1, 2, 112, 112)):
    c = shape[1]
    x = np.abs(rng.standard_normal(shape) * 10 ** rng.uniform(-3, 3, shape)).astype(np.float32)
    eye = np.eye(c, dtype=np.float32).ravel()
    relu = np.array([int(gie.ActivationType.RELU)], np.int64)
    p = {"squeeze": np.array([c], np.int64), "kernel1": eye, "kernel2": eye, "activation": relu, "gate": relu}
    b = gie.Builder(); net = b.create_network(); t = net.add_input("x", gie.float32, shape)
    net.mark_output(net.add_layer("SqueezeExcitation", [t], p).output(0), "se")
    net.mark_output(net.add_pooling(t, gie.PoolingType.AVERAGE, shape[2:]).output(0), "pool")
    cfg = b.create_config(); cfg.device = "cpu"; cfg.max_batch = shape[0]
    r = b.build(net, cfg).create_execution_context().execute({"x": x})
    out += [r["se"].ravel(), r["pool"].ravel()]
sys.stdout.buffer.write(np.concatenate(out).astype(np.float32).tobytes())
"""


def test_plane_sums_same_bits_on_every_isa():
    import os
    import subprocess
    import sys
    with open("/proc/cpuinfo") as f:
        flags = set(next((line for line in f if line.startswith("flags")), "").split())
    isas = ["scalar"] + [i for i, need in (("avx2", {"avx2"}),
                                          ("avx512", {"avx512f", "avx512dq", "avx512bw", "avx512vl"})) if need <= flags]
    if len(isas) < 2:
        pytest.skip("this CPU offers only the scalar path")
    outs = {isa: np.frombuffer(subprocess.run([sys.executable, "-c", _PLANE_SUM_SCRIPT], env=dict(os.environ, GIE_CPU_ISA=isa),
                                              check=True, capture_output=True, timeout=300).stdout, np.uint32)
            for isa in isas}
    assert outs["scalar"].size == 2 * (10 + 3 + 4 + 2)
    for isa in isas[1:]:
        assert np.array_equal(outs[isa], outs["scalar"]), f"{isa}: {np.count_nonzero(outs[isa] != outs['scalar'])} means differ"


DIRECT_CASES = [
    # C, K, H, W, k, stride, (pre pads), (post pads), dilation, batch
    (3, 32, 45, 47, 3, 2, (1, 1), (1, 1), 1, 2),    # the MobileNetV2 / EfficientNet-B0 stem, odd plane, batch 2
    (3, 33, 37, 35, 3, 2, (0, 0), (1, 1), 1, 1),    # TF "same" padding, a partial group of 16 output channels
    (2, 17, 11, 9, 3, 1, (1, 0), (1, 2), 2, 1),     # rows of 9 pixels (< 16: junk lanes), dilation 2
    (3, 7, 29, 50, 3, 3, (0, 2), (2, 0), 1, 1),     # stride 3
    (32, 16, 15, 15, 1, 1, (0, 0), (0, 0), 1, 2),   # the 32 -> 16 projection, flat 225-pixel plane (overlapping tail)
    (5, 64, 17, 19, 1, 1, (0, 0), (0, 0), 1, 1),    # flat 323 pixels: two 256-pixel chunks, 4 channel groups
    (1, 20, 64, 64, 5, 1, (2, 2), (2, 2), 1, 1),    # a plane large enough for the automatic choice
]


@pytest.mark.parametrize("mode", ["2", "0"], ids=["direct", "off"])
@pytest.mark.parametrize("act", [None, gie.ActivationType.RELU6, gie.ActivationType.SILU], ids=["none", "relu6", "silu"])
@pytest.mark.parametrize("case", DIRECT_CASES, ids=[f"c{c[0]}k{c[1]}_{c[2]}x{c[3]}_r{c[4]}s{c[5]}" for c in DIRECT_CASES])
def test_direct_conv(case, act, mode, rng, monkeypatch):
    """Dense convolutions with few taps and output channels, with GIE_CPU_DIRECT_CONV=2 (the direct kernel wherever
    it can run: AVX-512) and =0 (the GEMM paths): bias, residual (a fused element-wise sum) and activation."""
    C, K, H, W, k, s, pre, post, dil, batch = case
    monkeypatch.setenv("GIE_CPU_DIRECT_CONV", mode)
    x = rng.standard_normal((batch, C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, C, k, k)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    ref, mag = conv2d_ref(x, w, b, stride=(s, s), pre=pre, post=post, dilation=(dil, dil))
    res = rng.standard_normal(ref.shape).astype(np.float32)
    conv = dict(stride=s, pre_padding=pre, post_padding=post, dilation=dil)
    got = _run_conv(x, w, b, ref.shape, act, res, **conv)
    assert_close(got, _act_ref(act, ref + res), rtol=1e-5, atol=1e-5 * float(mag.max() + 4), what=f"{case} {act}")
    # without the residual: ReLU / clip run in registers at the store
    got = _run_conv(x, w, b, ref.shape, act, **conv)
    assert_close(got, _act_ref(act, ref), rtol=1e-5, atol=1e-5 * float(mag.max() + 4), what=f"{case} {act} no residual")


def _check_1x1(shape, act, rng):
    """A 1x1 convolution (batch 2, shape = (C, K, H, W)) with bias, with and without a residual, against conv2d_ref."""
    C, K, H, W = shape
    batch = 2
    x = rng.standard_normal((batch, C, H, W)).astype(np.float32)
    w = (rng.standard_normal((K, C, 1, 1)) / np.sqrt(C)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    ref, mag = conv2d_ref(x, w, b)
    res = rng.standard_normal(ref.shape).astype(np.float32)
    alpha = 0.1 if act == gie.ActivationType.LEAKY_RELU else None
    got = _run_conv(x, w, b, ref.shape, act, res, alpha)
    assert_close(got, _act_ref(act, ref + res), rtol=1e-5, atol=1e-5 * float(mag.max() + 4), what=f"{shape} {act}")
    got = _run_conv(x, w, b, ref.shape, act, alpha=alpha)
    assert_close(got, _act_ref(act, ref), rtol=1e-5, atol=1e-5 * float(mag.max() + 4), what=f"{shape} {act} no residual")


@pytest.mark.parametrize("act", [None, gie.ActivationType.RELU6, gie.ActivationType.LEAKY_RELU, gie.ActivationType.SILU],
                         ids=["none", "relu6", "leaky", "silu"])
@pytest.mark.parametrize("shape", [(160, 90, 7, 7), (160, 96, 7, 7), (160, 90, 5, 7)], ids=["k90", "k96", "5x7"])
def test_transposed_1x1_output_pass(shape, act, rng):
    """1x1 convolutions on 7x7-sized planes run the transposed GEMM (rows = pixels) and transpose its tiles into
    NCHW with bias, residual and activation (one or two threads): a partial group of 16 channels, 35 / 49 pixels."""
    _check_1x1(shape, act, rng)


@pytest.mark.parametrize("act", [None, gie.ActivationType.RELU6, gie.ActivationType.SILU], ids=["none", "relu6", "silu"])
@pytest.mark.parametrize("shape", [(144, 24, 23, 29), (32, 16, 40, 41), (300, 40, 9, 13), (200, 70, 19, 21),
                                   (48, 17, 3, 37)], ids=["k24", "k16_split", "two_kblocks", "k70", "k17"])
def test_1x1_gemm_b_in_place(shape, act, rng):
    """1x1 convolutions to few output channels, whose AVX2 GEMM reads the input's full 16-pixel panels in place
    (<= 48 channels, or <= 96 with >= 192 input channels) and packs only a last partial panel: pixel counts that
    are not a multiple of 16, two K blocks (300 input channels), output channels not a multiple of the 6-row tile,
    a plane that two threads split inside a panel; SiLU runs over each panel's rows after its tiles."""
    _check_1x1(shape, act, rng)
