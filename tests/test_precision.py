"""Precision and formats (issue 12) on the CPU, which runs the whole negotiation in CI: FP16 storage by
conversion (FP32 math, half where a GPU FP16 kernel stores half), precision constraints, declared I/O types
and formats, Reformats, engine files, the timing cache, whole models in FP16 against FP32."""
import numpy as np
import pytest

import gie
from gie import model_zoo


def h(a):
    """Rounded to float16 and back."""
    return np.asarray(a, np.float32).astype(np.float16).astype(np.float32)


def _conv_ref(x, w, b=None, stride=1):
    n, c, hh, ww = x.shape
    k, _, r, s = w.shape
    p, q = (hh - r) // stride + 1, (ww - s) // stride + 1
    y = np.zeros((n, k, p, q), np.float64)
    for i in range(p):
        for j in range(q):
            patch = x[:, :, i * stride:i * stride + r, j * stride:j * stride + s].astype(np.float64)
            y[:, :, i, j] = np.tensordot(patch, w.astype(np.float64), axes=([1, 2, 3], [1, 2, 3]))
    if b is not None:
        y += b[None, :, None, None]
    return y


def _build(define, shape, *, fp16=False, obey=False, prefer=False, dtype=gie.float32, max_batch=None, configure=None):
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", dtype, shape)
    define(net, x)
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = max_batch or shape[0]
    config.fp16 = fp16
    if obey:
        config.set_flag(gie.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    if prefer:
        config.set_flag(gie.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
    if configure:
        configure(config)
    return builder.build(net, config)


def _kinds(engine):
    return [(k["type"], k["precision"]) for k in engine.layer_info()["kernels"]]


@pytest.mark.parametrize("cin,cout,size,stride", [(3, 4, 3, 1), (13, 17, 1, 1), (5, 8, 3, 2)])
def test_pinned_fp16_convolution_rounds_where_the_gpu_stores_half(rng, cin, cout, size, stride):
    x = (rng.standard_normal((2, cin, 9, 7)) * 3).astype(np.float32)
    w = rng.standard_normal((cout, cin, size, size)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)

    def define(net, t):
        conv = net.add_convolution(t, cout, (size, size), w, b)
        conv.stride = (stride, stride)
        conv.precision = gie.DataType.HALF
        net.mark_output(conv.output(0), "y")

    engine = _build(define, x.shape, fp16=True, obey=True)
    assert _kinds(engine) == [("Reformat", "float16"), ("Convolution", "float16"), ("Reformat", "float16")]
    y = engine.create_execution_context().execute({"x": x})["y"]
    assert y.dtype == np.float32
    # Inputs and the kernel in half, bias in FP32, FP32 sums, the result rounded to half once.
    ref = h(_conv_ref(h(x), h(w), b, stride))
    np.testing.assert_allclose(y, ref, rtol=2e-3, atol=2e-3 * np.abs(ref).max())
    assert np.abs(y - ref).max() <= np.abs(ref).max() * 2 ** -10, "more than one half-precision rounding apart"
    # ... and differs from the FP32 engine by FP16 rounding, not more.
    def define32(net, t):
        conv = net.add_convolution(t, cout, (size, size), w, b)
        conv.stride = (stride, stride)
        net.mark_output(conv.output(0), "y")
    y32 = _build(define32, x.shape).create_execution_context().execute({"x": x})["y"]
    assert not np.array_equal(y, y32)
    np.testing.assert_allclose(y, y32, atol=1e-2 * np.abs(y32).max())


def test_fp32_build_is_unchanged(rng):
    """No FP16 flag: every kernel FP32 LINEAR, no Reformat, and the same kernels as the CPU engine always had."""
    spec = model_zoo.describe("googlenet", image=224)
    builder = gie.Builder()
    net = builder.create_network()
    spec.to_gie(net, batch=1, mark=["prob"])
    config = builder.create_config()
    config.device = "cpu"
    engine = builder.build(net, config)
    info = engine.layer_info()
    assert all(k["precision"] == "float32" and k["format"] == "linear" and k["variant"] == "" for k in info["kernels"])
    assert "Reformat" not in {k["type"] for k in info["kernels"]}
    assert all(t["dtype"] == "float32" and t["format"] == "linear" for k in info["kernels"] for t in k["inputs"] + k["outputs"])


def _zoo_engine(spec, batch, out, fp16):
    builder = gie.Builder()
    net = builder.create_network()
    spec.to_gie(net, batch=batch, mark=[out])
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = batch
    config.fp16 = fp16
    return builder.build(net, config)


def _fp16_engine(spec, batch, out):
    return _zoo_engine(spec, batch, out, True)


def _fp32_engine(spec, batch, out):
    return _zoo_engine(spec, batch, out, False)


@pytest.mark.parametrize("model,image,out,n", [("resnet50", 64, "logits", 256), ("googlenet", 224, "loss3/classifier", 64),
                                               ("yolov2", 96, "output", 8)])
def test_whole_model_fp16_on_the_cpu(model, image, out, n):
    """config.fp16 on the CPU: every float kernel stores FP16 (Reformats only at the network's FP32 input and
    output); results within 1e-2 of the FP32 engine's largest magnitude, classifiers agree on top-1."""
    spec = model_zoo.describe(model, seed=0, image=image)
    batch = min(n, 32)
    e16, e32 = _fp16_engine(spec, batch, out), _fp32_engine(spec, batch, out)
    kinds = _kinds(e16)
    assert kinds[0] == ("Reformat", "float16") and kinds[-1] == ("Reformat", "float16"), kinds[:2] + kinds[-2:]
    assert [k for k in kinds[1:-1] if k[0] == "Reformat"] == [], "no Reformat between FP16 kernels"
    assert all(p == "float16" for _, p in kinds), kinds
    c16, c32 = e16.create_execution_context(), e32.create_execution_context()
    agree = total = 0
    worst = 0.0
    for start in range(0, n, batch):
        x = spec.random_input(batch, seed=100 + start)
        a, b = c16.execute({"data": x})[out], c32.execute({"data": x})[out]
        assert np.isfinite(a).all()
        worst = max(worst, float(np.abs(a - b).max() / np.abs(b).max()))
        if model != "yolov2":
            agree += int((a.argmax(axis=1) == b.argmax(axis=1)).sum())
            total += batch
    assert worst < 1e-2, f"{model}: FP16 differs from FP32 by {worst:.2e} of the largest magnitude"
    if total:
        assert agree / total >= 0.99, f"{model}: top-1 agreement {agree}/{total}"


def test_precision_constraints(rng):
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)

    def define(net, t, out_type=None):
        conv = net.add_convolution(t, 4, (3, 3), w, np.zeros(4, np.float32))
        conv.precision = gie.DataType.HALF
        if out_type is not None:
            conv.set_output_type(0, out_type)
        act = net.add_activation(conv.output(0), gie.ActivationType.RELU)
        act.precision = gie.DataType.FLOAT
        net.mark_output(act.output(0), "y")

    # Obeyed: the convolution in FP16, the activation in FP32, a Reformat between.
    e = _build(define, x.shape, obey=True)
    assert _kinds(e) == [("Reformat", "float16"), ("Convolution", "float16"), ("Reformat", "float16"), ("Activation", "float32")]
    # set_output_type: the convolution reads FP16 and writes FP32 itself, no Reformat after it.
    e = _build(lambda n, t: define(n, t, gie.DataType.FLOAT), x.shape, obey=True)
    kinds = _kinds(e)
    assert kinds == [("Reformat", "float16"), ("Convolution", "float16"), ("Activation", "float32")], kinds
    conv = next(k for k in e.layer_info()["kernels"] if k["type"] == "Convolution")
    assert conv["inputs"][0]["dtype"] == "float16" and conv["outputs"][0]["dtype"] == "float32"
    y = e.create_execution_context().execute({"x": x})["y"]
    ref = np.maximum(_conv_ref(h(x), h(w)), 0).astype(np.float32)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-4)
    # Neither flag: the pins are ignored (FP32 everywhere), with a warning.
    e = _build(define, x.shape)
    assert {p for _, p in _kinds(e)} == {"float32"}
    net = gie.Builder().create_network()
    layer = net.add_activation(net.add_input("v", gie.float32, (1, 2)), gie.ActivationType.RELU)
    with pytest.raises(gie.InvalidArgumentError, match="FLOAT, HALF or INT8"):
        layer.set_output_type(0, gie.DataType.int32)
    with pytest.raises(gie.InvalidArgumentError, match="out of range"):
        layer.set_output_type(1, gie.DataType.HALF)


def test_declared_fp16_and_hwc8_io(rng):
    x = rng.standard_normal((2, 5, 4, 3)).astype(np.float32)

    def define(net, t):
        t.allowed_formats = [gie.TensorFormat.HWC8]
        y = net.add_activation(t, gie.ActivationType.SIGMOID).output(0)
        net.mark_output(y, "y")
        y.dtype = gie.DataType.HALF
        y.allowed_formats = [gie.TensorFormat.NHWC, gie.TensorFormat.HWC8]

    e = _build(define, x.shape, dtype=gie.float16, fp16=True)
    assert e.get_tensor_dtype("x") == gie.DataType.HALF and e.get_tensor_format("x") == gie.TensorFormat.HWC8
    assert e.get_tensor_dtype("y") == gie.DataType.HALF
    assert e.get_tensor_format("y") in (gie.TensorFormat.NHWC, gie.TensorFormat.HWC8)
    x16 = x.astype(np.float16)
    y = e.create_execution_context().execute({"x": x16})["y"]
    assert y.dtype == np.float16 and y.shape == x.shape
    np.testing.assert_allclose(y.astype(np.float32), h(1 / (1 + np.exp(-x16.astype(np.float64)))), atol=1e-3)
    # Round trip through an engine file keeps the types, formats and results.
    e2 = gie.Runtime().deserialize(e.serialize())
    assert e2.get_tensor_format("x") == gie.TensorFormat.HWC8 and e2.get_tensor_dtype("y") == gie.DataType.HALF
    np.testing.assert_array_equal(e2.create_execution_context().execute({"x": x16})["y"], y)
    # Formats that do not fit are refused at the call, naming the tensor.
    net = gie.Builder().create_network()
    v = net.add_input("v", gie.float32, (2, 3))
    with pytest.raises(gie.InvalidArgumentError, match="'v'.*4"):
        v.allowed_formats = [gie.TensorFormat.HWC8]
    a = net.add_activation(v, gie.ActivationType.RELU).output(0)
    with pytest.raises(gie.InvalidArgumentError, match="inputs and outputs"):
        a.dtype = gie.DataType.HALF


def test_fp16_engine_files_round_trip_and_half_inputs():
    """FP16 engines of networks with every common layer survive serialize/deserialize (the loader's type rules
    treat FLOAT and HALF as one class), and a network whose input is declared HALF builds (ResNet's residual adds
    included) with the same results as the FP32-input engine fed the same half values."""
    spec = model_zoo.describe("googlenet", seed=0, image=224)
    e = _fp16_engine(spec, 1, "prob")
    x = spec.random_input(1, seed=3)
    y = e.create_execution_context().execute({"data": x})["prob"]
    e2 = gie.Runtime().deserialize(e.serialize())
    np.testing.assert_array_equal(e2.create_execution_context().execute({"data": x})["prob"], y)

    spec = model_zoo.describe("resnet50", seed=0, image=32)
    builder = gie.Builder()
    net = builder.create_network()
    spec.to_gie(net, batch=2, mark=["prob"])
    net.get_input(0).dtype = gie.DataType.HALF
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = 2
    config.fp16 = True
    eh = builder.build(net, config)
    assert eh.get_tensor_dtype("data") == gie.DataType.HALF
    x = spec.random_input(2, seed=4)
    yh = eh.create_execution_context().execute({"data": x.astype(np.float16)})["prob"]
    y16 = _fp16_engine(spec, 2, "prob").create_execution_context().execute({"data": h(x)})["prob"]
    np.testing.assert_allclose(yh.astype(np.float32), y16.astype(np.float32), rtol=0, atol=2e-3)


def test_fp16_type_rule_is_one_rule_for_op_and_storage_wrapper():
    """The FP16 type rule (common/half_types.h) at both depths: ElementWise applies it in its own type rules,
    Concatenation gets it from the CPU FP16-storage wrapper. A HALF and a FLOAT input give FLOAT (the wider) for
    both (Concatenation gave HALF before), HALF inputs alone give HALF, and the mixed network builds and runs."""
    builder = gie.Builder()
    net = builder.create_network()
    a = net.add_input("a", gie.float16, (1, 2, 3, 3))
    b = net.add_input("b", gie.float32, (1, 2, 3, 3))
    cat = net.add_concatenation([a, b]).output(0)
    add = net.add_elementwise(a, b, gie.ElementWiseOperation.SUM).output(0)
    assert (cat.dtype, add.dtype) == (gie.DataType.FLOAT, gie.DataType.FLOAT)
    assert net.add_concatenation([a, a]).output(0).dtype == gie.DataType.HALF
    assert net.add_elementwise(a, a, gie.ElementWiseOperation.SUM).output(0).dtype == gie.DataType.HALF
    assert net.add_unary(a, gie.UnaryOperation.EXP).output(0).dtype == gie.DataType.HALF
    net.mark_output(cat, "cat")
    net.mark_output(add, "add")
    config = builder.create_config()
    config.device = "cpu"
    engine = builder.build(net, config)
    rng = np.random.default_rng(0)
    xa = rng.standard_normal((1, 2, 3, 3)).astype(np.float16)
    xb = rng.standard_normal((1, 2, 3, 3)).astype(np.float32)
    out = engine.create_execution_context().execute({"a": xa, "b": xb})
    assert out["cat"].dtype == np.float32 and out["add"].dtype == np.float32
    np.testing.assert_array_equal(out["cat"], np.concatenate([xa.astype(np.float32), xb], axis=1))
    np.testing.assert_allclose(out["add"], xa.astype(np.float32) + xb, rtol=1e-6)
