"""The INT8 CPU reference kernels (convolution, fully connected, pooling, element-wise, concatenation) and the INT8
Reformat against the independent numpy integer reference tests/int8_ref.py: awkward shapes (channels not multiples
of 4, 1x1 planes, groups, dilation, asymmetric padding), batch 1 and 13, outputs poisoned with NaN before each run.
With a FP32 output the result must equal float32(acc) * (s_x * s_w[k]) bit for bit (exact INT32 accumulation, bias
included); with an INT8 output (pinned with set_output_type, dequantized by the engine's output Reformat) every
value must lie within one quantization unit of the reference after the epilogue."""
import numpy as np
import pytest

import gie
import int8_ref as R

F32 = np.float32


def build_run(define, feeds, ranges, *, prefer=True, passes_off=(), max_batch=None):
    """define(net, inputs) -> output tensor (marked "y"); ranges: {tensor: amax} applied after define. Returns
    (output, engine); the output buffer is poisoned with NaN."""
    builder = gie.Builder()
    net = builder.create_network()
    ins = {k: net.add_input(k, gie.float32, v.shape) for k, v in feeds.items()}
    out = define(net, ins)
    net.mark_output(out, "y")
    for t, amax in ranges(ins, out).items():
        t.set_dynamic_range(-amax, amax)
    config = builder.create_config()
    config.device = "cpu"
    config.int8 = True
    config.max_batch = max_batch or max(v.shape[0] for v in feeds.values())
    if prefer:
        config.set_flag(gie.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
    for p in passes_off:
        config.set_pass_enabled(p, False)
    engine = builder.build(net, config)
    y = engine.create_execution_context().execute(feeds)["y"]
    poisoned = np.full(y.shape, np.nan, np.float32)
    engine.create_execution_context().execute(feeds, {"y": poisoned})
    assert not np.isnan(poisoned).any(), "some output elements were not written"
    np.testing.assert_array_equal(poisoned, y)
    return y, engine


def kernels(engine):
    return [(k["type"], k["precision"]) for k in engine.layer_info()["kernels"]]


CONV_CASES = [
    # N, C, H, W, K, (R, S), stride, pre, post, dilation, groups
    (1, 3, 9, 7, 5, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1), 1),
    (13, 5, 6, 6, 7, (3, 3), (2, 2), (1, 0), (0, 1), (1, 1), 1),
    (2, 6, 8, 8, 6, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1), 6),     # depthwise
    (2, 4, 7, 9, 6, (3, 2), (1, 2), (2, 1), (2, 1), (2, 1), 2),     # grouped, dilated
    (3, 17, 1, 1, 9, (1, 1), (1, 1), (0, 0), (0, 0), (1, 1), 1),    # 1x1 plane
    (1, 1, 5, 11, 3, (5, 5), (1, 1), (2, 2), (2, 2), (1, 1), 1),
]
CONV_IDS = [f"n{c[0]}c{c[1]}_{c[2]}x{c[3]}k{c[4]}r{c[5][0]}{c[5][1]}s{c[6][0]}g{c[10]}" for c in CONV_CASES]


def conv_case(case, rng):
    N, C, H, W, K, (kr, ks), stride, pre, post, dil, groups = case
    x = rng.standard_normal((N, C, H, W)).astype(F32) * F32(1.5)
    w = rng.standard_normal((K, C // groups, kr, ks)).astype(F32) * F32(0.3)
    w[0] = 0  # an all-zero output channel (weight scale 1)
    b = rng.standard_normal(K).astype(F32)
    return x, w, b


def add_conv(net, x, w, b, case):
    N, C, H, W, K, (kr, ks), stride, pre, post, dil, groups = case
    return net.add_convolution(x, K, (kr, ks), w, b, stride=stride, pre_padding=pre, post_padding=post, dilation=dil, num_groups=groups)


@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv_accumulation_is_exact(case, rng):
    """FP32 output: float32(sum(xq * wq) + bq) * (s_x * s_w[k]) bit for bit."""
    x, w, b = conv_case(case, rng)
    amax = float(np.abs(x).max()) * 0.8  # some inputs saturate
    y, engine = build_run(lambda net, t: add_conv(net, t["x"], w, b, case).output(0), {"x": x}, lambda t, o: {t["x"]: amax})
    assert ("Convolution", "int8") in kernels(engine)
    sx = R.scale_of(amax)
    wq, ws = R.quantize_weights(w)
    mult = (sx * ws).astype(F32)
    N, C, H, W, K, rs, stride, pre, post, dil, groups = case
    acc = R.conv_acc(R.quantize(x, sx), wq, stride, pre, post, dil, groups)
    acc += R.quantize_bias(b, mult).reshape(1, -1, 1, 1)
    assert np.abs(acc).max() < 2 ** 24  # float32(acc) is exact, so the comparison below checks acc itself
    np.testing.assert_array_equal(y, R.epilogue(acc, mult, 1))


@pytest.mark.parametrize("residual", ["int8", "float", None])
@pytest.mark.parametrize("case", CONV_CASES[:4], ids=CONV_IDS[:4])
def test_conv_epilogue_residual_relu_int8_output(case, residual, rng):
    """conv + residual add + ReLU fused into one INT8 kernel writing INT8 (set_output_type): within one unit."""
    x, w, b = conv_case(case, rng)
    N, C, H, W, K, rs, stride, pre, post, dil, groups = case
    P = (H + pre[0] + post[0] - dil[0] * (rs[0] - 1) - 1) // stride[0] + 1
    Q = (W + pre[1] + post[1] - dil[1] * (rs[1] - 1) - 1) // stride[1] + 1
    feeds = {"x": x}
    if residual:
        feeds["r"] = rng.standard_normal((N, K, P, Q)).astype(F32)

    def define(net, t):
        y = add_conv(net, t["x"], w, b, case).output(0)
        if residual:
            y = net.add_elementwise(y, t["r"], gie.ElementWiseOperation.SUM).output(0)
        act = net.add_activation(y, gie.ActivationType.RELU)
        act.set_output_type(0, gie.int8)
        return act.output(0)

    ax, ar, ay = 4.0, 2.5, 6.0
    ranges = lambda t, o: {**{t["x"]: ax, o: ay}, **({t["r"]: ar} if residual == "int8" else {})}
    y, engine = build_run(define, feeds, ranges)
    ks = kernels(engine)
    assert ("Convolution", "int8") in ks and sum(k[0] == "Convolution" for k in ks) == 1, ks  # one fused kernel
    sx, sy = R.scale_of(ax), R.scale_of(ay)
    wq, ws = R.quantize_weights(w)
    mult = (sx * ws).astype(F32)
    acc = R.conv_acc(R.quantize(x, sx), wq, stride, pre, post, dil, groups) + R.quantize_bias(b, mult).reshape(1, -1, 1, 1)
    res = None
    if residual == "int8":
        res = R.dequantize(R.quantize(feeds["r"], R.scale_of(ar)), R.scale_of(ar))
    elif residual == "float":
        res = feeds["r"]
    ref_q = R.quantize(R.epilogue(acc, mult, 1, res, "relu"), sy)
    got_q = np.rint(y / sy)
    np.testing.assert_array_equal(y, R.dequantize(got_q.astype(np.int8), sy))  # the output is INT8 dequantized
    R.assert_within_one_unit(got_q, ref_q)


@pytest.mark.parametrize("batch", [1, 13])
@pytest.mark.parametrize("shape,axis", [((3, 5, 7), 1), ((5, 3, 1, 1), 1), ((2, 4, 3), 2)], ids=["chw", "c11", "axis2"])
def test_fully_connected(batch, shape, axis, rng):
    shape = (batch,) + shape[1:]
    x = rng.standard_normal(shape).astype(F32)
    flat = int(np.prod(shape[axis:]))
    K = 11
    w = (rng.standard_normal((K, flat)) * 0.2).astype(F32)
    b = rng.standard_normal(K).astype(F32)
    amax = 2.5

    def define(net, t):
        return net.add_fully_connected(t["x"], K, w, b, axis=axis).output(0)

    y, engine = build_run(define, {"x": x}, lambda t, o: {t["x"]: amax})
    assert ("FullyConnected", "int8") in kernels(engine)
    sx = R.scale_of(amax)
    wq, ws = R.quantize_weights(w)
    mult = (sx * ws).astype(F32)
    xq = R.quantize(x, sx).reshape(-1, flat).astype(np.int64)
    acc = xq @ wq.astype(np.int64).T + R.quantize_bias(b, mult)
    np.testing.assert_array_equal(y.reshape(-1, K), R.epilogue(acc, mult, 1))


def test_fully_connected_relu_int8_output(rng):
    x = rng.standard_normal((13, 37)).astype(F32)
    w = (rng.standard_normal((6, 37)) * 0.2).astype(F32)
    b = rng.standard_normal(6).astype(F32)

    def define(net, t):
        fc = net.add_fully_connected(t["x"], 6, w, b)
        act = net.add_activation(fc.output(0), gie.ActivationType.RELU)
        act.set_output_type(0, gie.int8)
        return act.output(0)

    y, engine = build_run(define, {"x": x}, lambda t, o: {t["x"]: 3.0, o: 2.0})
    sx, sy = R.scale_of(3.0), R.scale_of(2.0)
    wq, ws = R.quantize_weights(w)
    mult = (sx * ws).astype(F32)
    acc = R.quantize(x, sx).astype(np.int64) @ wq.astype(np.int64).T + R.quantize_bias(b, mult)
    R.assert_within_one_unit(np.rint(y / sy), R.quantize(R.epilogue(acc, mult, 1, None, "relu"), sy))


def pool_ref_int(xq, kind, window, stride, pre, post, exclude, sx):
    N, C, H, W = xq.shape
    P = (H + pre[0] + post[0] - window[0]) // stride[0] + 1
    Q = (W + pre[1] + post[1] - window[1]) // stride[1] + 1
    y = np.zeros((N, C, P, Q), F32)
    for p in range(P):
        h0 = p * stride[0] - pre[0]
        h1 = min(h0 + window[0], H + post[0])
        hs, he = max(h0, 0), min(h1, H)
        for q in range(Q):
            w0 = q * stride[1] - pre[1]
            w1 = min(w0 + window[1], W + post[1])
            ws, we = max(w0, 0), min(w1, W)
            win = xq[:, :, hs:he, ws:we].astype(np.int64)
            if kind == "max":
                y[:, :, p, q] = win.max(axis=(2, 3)).astype(F32) * sx
            else:
                count = (he - hs) * (we - ws) if exclude else (h1 - h0) * (w1 - w0)
                y[:, :, p, q] = (win.sum(axis=(2, 3)).astype(F32) * sx) / F32(count)
    return y


POOL_CASES = [
    # N, C, H, W, window, stride, pre, post, exclude
    (1, 3, 9, 7, (2, 2), (2, 2), (0, 0), (0, 0), True),
    (13, 5, 8, 8, (3, 3), (2, 2), (1, 1), (1, 1), True),
    (2, 6, 7, 9, (3, 2), (1, 2), (1, 0), (1, 1), False),
    (3, 17, 5, 5, (5, 5), (1, 1), (0, 0), (0, 0), True),
]


@pytest.mark.parametrize("out", ["float", "int8", "int8_other_scale"])
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES, ids=[f"n{c[0]}c{c[1]}_{c[2]}x{c[3]}w{c[4][0]}{c[4][1]}" for c in POOL_CASES])
def test_pooling(case, kind, out, rng):
    N, C, H, W, window, stride, pre, post, exclude = case
    x = rng.standard_normal((N, C, H, W)).astype(F32) * F32(2)
    ax, ay = 3.0, (3.0 if out == "int8" else 2.0)

    def define(net, t):
        p = net.add_pooling(t["x"], gie.PoolingType.MAX if kind == "max" else gie.PoolingType.AVERAGE, window)
        p.stride, p.pre_padding, p.post_padding = stride, pre, post
        p.exclude_padding = int(exclude)
        if out != "float":
            p.set_output_type(0, gie.int8)
        return p.output(0)

    y, engine = build_run(define, {"x": x}, lambda t, o: {t["x"]: ax, **({o: ay} if out != "float" else {})})
    assert any(k["type"] == "Pooling" and k.get("variant") == "int8" for k in engine.layer_info()["kernels"])
    sx = R.scale_of(ax)
    ref = pool_ref_int(R.quantize(x, sx), kind, window, stride, pre, post, exclude, sx)
    if out == "float":
        if kind == "max":
            np.testing.assert_array_equal(y, ref)
        else:
            np.testing.assert_allclose(y, ref, rtol=2e-7, atol=0)
    else:
        sy = R.scale_of(ay)
        R.assert_within_one_unit(np.rint(y / sy), R.quantize(ref, sy), min_exact=0.99 if out == "int8" else 0.97)


@pytest.mark.parametrize("op", ["SUM", "SUB", "PROD", "MAX", "MIN"])
@pytest.mark.parametrize("shape", [(1, 3, 5, 7), (13, 6), (2, 5, 1, 1)], ids=str)
def test_elementwise(op, shape, rng):
    a = rng.standard_normal(shape).astype(F32) * F32(2)
    b = rng.standard_normal(shape).astype(F32)
    aa, ab, ay = 3.0, 1.5, 4.0

    def define(net, t):
        e = net.add_elementwise(t["a"], t["b"], getattr(gie.ElementWiseOperation, op))
        e.set_output_type(0, gie.int8)
        return e.output(0)

    y, engine = build_run(define, {"a": a, "b": b}, lambda t, o: {t["a"]: aa, t["b"]: ab, o: ay})
    assert ("ElementWise", "int8") in kernels(engine)
    ra = R.dequantize(R.quantize(a, R.scale_of(aa)), R.scale_of(aa))
    rb = R.dequantize(R.quantize(b, R.scale_of(ab)), R.scale_of(ab))
    ref = {"SUM": ra + rb, "SUB": ra - rb, "PROD": ra * rb, "MAX": np.maximum(ra, rb), "MIN": np.minimum(ra, rb)}[op]
    sy = R.scale_of(ay)
    R.assert_within_one_unit(np.rint(y / sy), R.quantize(ref.astype(F32), sy))


@pytest.mark.parametrize("batch", [1, 13])
@pytest.mark.parametrize("axis", [1, 2])
def test_concatenation_shared_and_requantized(batch, axis, rng):
    """Inputs with the output's scale are copied, the others requantized. (Concatenation elimination, which turns the
    inputs into float slices of the output, is off: this tests the INT8 kernel.)"""
    shapes = [(batch, 3, 5, 2), (batch, 1, 5, 2), (batch, 6, 5, 2)] if axis == 1 else [(batch, 3, 1, 2), (batch, 3, 4, 2), (batch, 3, 2, 2)]
    xs = {f"x{i}": rng.standard_normal(s).astype(F32) * F32(2) for i, s in enumerate(shapes)}
    amaxes = [3.0, 1.0, 5.0]

    def define(net, t):
        c = net.add_concatenation([t[f"x{i}"] for i in range(3)], axis=axis)
        c.set_output_type(0, gie.int8)
        return c.output(0)

    y, engine = build_run(define, xs, lambda t, o: {**{t[f"x{i}"]: a for i, a in enumerate(amaxes)}, o: 3.0},
                          passes_off=("concat_elimination",))
    assert ("Concatenation", "int8") in kernels(engine)
    sy = R.scale_of(3.0)
    parts = [R.dequantize(R.quantize(xs[f"x{i}"], R.scale_of(a)), R.scale_of(a)) for i, a in enumerate(amaxes)]
    ref = R.quantize(np.concatenate(parts, axis=axis), sy)
    got = np.rint(y / sy)
    R.assert_within_one_unit(got, ref)
    # the input with the output's scale is copied exactly
    n0 = shapes[0][axis]
    np.testing.assert_array_equal(np.take(got, range(n0), axis=axis), R.quantize(xs["x0"], sy))


def test_quantize_rounds_half_to_even_and_saturates():
    """The quantizing Reformat (scale 1: amax 127) on ties, saturation, infinities and NaN; a max pooling of a 1x1
    window reads it back exactly."""
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, 127.49, 127.5, 300, -128.5, -300, np.inf, -np.inf, np.nan, 3.0000002],
                 F32).reshape(1, 1, 1, -1)

    def define(net, t):
        p = net.add_pooling(t["x"], gie.PoolingType.MAX, (1, 1))
        return p.output(0)

    y, engine = build_run(define, {"x": x}, lambda t, o: {t["x"]: 127.0}, prefer=False)
    notes = [n for k in engine.layer_info()["kernels"] if k["type"] == "Reformat" for n in k["notes"]]
    assert any("-> int8 LINEAR" in n for n in notes), notes
    expected = [0, 2, 2, -0, -2, -2, 126, 127, 127, 127, -128, -128, 127, -128, 0, 3]
    np.testing.assert_array_equal(y.reshape(-1), np.array(expected, F32))


def test_cpp_program_int8_reformat_and_chw4():
    """tests/cpp/test_int8_reformat.cpp: quantize / re-layout / dequantize through CHW4 against its own reference,
    and the GPU Reformat accepting INT8 (where the build has one)."""
    from test_reformat import run_cpp_program
    run_cpp_program("test_int8_reformat")
