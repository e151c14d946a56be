"""INT8 accuracy on a trained network (issue 14): the digits CNN of tests/digits_model.py (numpy-trained on
scikit-learn's 8x8 digits, exported to ONNX), imported with gie's ONNX parser, with INT8 ranges set by hand
(set_dynamic_range: numpy min-max of every activation over 256 training images). On the CPU reference the INT8
engine's test accuracy must be within 0.5 points of the FP32 engine's, every layer with an INT8 kernel must run in
INT8, and the engine file must keep the scales (save / load gives the same logits)."""
import numpy as np
import pytest

import gie

pytest.importorskip("sklearn")
onnx = pytest.importorskip("onnx")
import digits_model  # noqa: E402

# The gie layers the ONNX importer makes, in order, and the digits_model activation each one outputs.
LAYERS = [("Convolution", "conv1"), ("Scale", "bn1"), ("Activation", "relu1"), ("Pooling", "pool1"),
          ("Convolution", "conv2"), ("Scale", "bn2"), ("Activation", "relu2"), ("Pooling", "pool2"),
          ("Shuffle", "flat"), ("FullyConnected", "logits")]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    m = digits_model.train()
    path = tmp_path_factory.mktemp("digits") / "digits.onnx"
    onnx.save(m.onnx_model(), str(path))
    return m, str(path)


def build(path, ranges=None, max_batch=450):
    builder = gie.Builder()
    net = gie.OnnxParser(builder=builder).parse(path)
    if ranges is not None:
        assert [(l.type, name) for l, (_, name) in zip(net.layers, LAYERS)] == [(t, n) for t, n in LAYERS]
        net.get_input(0).set_dynamic_range(-ranges["input"], ranges["input"])
        for layer, (_, name) in zip(net.layers, LAYERS):
            layer.output(0).set_dynamic_range(-ranges[name], ranges[name])
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = max_batch
    config.int8 = ranges is not None
    return builder.build(net, config)


def test_int8_accuracy_within_half_a_point_of_fp32(model, tmp_path):
    m, path = model
    acts = m.forward(m.x_train[:256])
    ranges = {k: float(max(-v.min(), v.max())) for k, v in acts.items()}
    fp32 = build(path)
    int8 = build(path, ranges)
    kinds = {(k["type"], k["precision"]) for k in int8.layer_info()["kernels"]}
    # BatchNorm folds into the convolutions, ReLU fuses into them: two INT8 convolutions, two INT8 poolings, an INT8
    # fully connected layer; the flatten moves INT8 bytes; the only Reformat quantizes the input.
    assert {("Convolution", "int8"), ("Pooling", "int8"), ("FullyConnected", "int8")} <= kinds, kinds
    assert not any(p == "float32" for t, p in kinds if t != "Reformat"), kinds
    assert sum(k["type"] == "Reformat" for k in int8.layer_info()["kernels"]) == 1

    y32 = fp32.create_execution_context().execute({"input": m.x_test})["logits"]
    y8 = int8.create_execution_context().execute({"input": m.x_test})["logits"]
    acc32, acc8 = m.accuracy(y32, m.y_test), m.accuracy(y8, m.y_test)
    ref = m.accuracy(acts["logits"], m.y_train[:256])
    print(f"digits: FP32 {acc32:.4f}, INT8 {acc8:.4f} on {len(m.y_test)} test images; max |logit error| "
          f"{np.abs(y8 - y32).max():.4f} (logits up to {np.abs(y32).max():.2f}); numpy train accuracy {ref:.4f}")
    assert acc32 >= 0.97
    assert acc8 >= acc32 - 0.005
    np.testing.assert_allclose(y32, m.forward(m.x_test)["logits"], rtol=1e-4, atol=1e-4)

    # The engine file carries the scales: a reloaded engine gives the same logits bit for bit.
    f = tmp_path / "digits_int8.gie"
    int8.save(str(f))
    again = gie.Runtime().load(str(f)).create_execution_context().execute({"input": m.x_test})["logits"]
    np.testing.assert_array_equal(again, y8)


@pytest.mark.parametrize("algorithm", ["entropy", "minmax", "percentile"])
def test_calibrated_int8_accuracy_within_one_point_of_fp32(model, tmp_path, algorithm):
    """The whole INT8 route a user takes: gie's calibrator over 256 training images (no hand-set range), the build
    calibrating and writing the cache, a second build reading the cache instead of the data; test accuracy within
    one point of FP32 for each algorithm, and both INT8 builds giving the same logits."""
    m, path = model
    cache = tmp_path / f"digits_{algorithm}.calib"

    def build_calibrated(calibrator):
        builder = gie.Builder()
        net = gie.OnnxParser(builder=builder).parse(path)
        config = builder.create_config()
        config.device = "cpu"
        config.max_batch = 450
        config.int8 = True
        config.int8_calibrator = calibrator
        return builder.build(net, config)

    first = build_calibrated(gie.DataCalibrator(m.x_train[:256], batch_size=32, algorithm=algorithm, cache_file=cache))
    assert cache.exists() and cache.stat().st_size > 0
    kinds = {(k["type"], k["precision"]) for k in first.layer_info()["kernels"]}
    assert {("Convolution", "int8"), ("FullyConnected", "int8")} <= kinds, kinds
    second = build_calibrated(gie.DataCalibrator(None, algorithm=algorithm, cache_file=cache))  # no data: the cache

    y32 = build(path).create_execution_context().execute({"input": m.x_test})["logits"]
    y8 = first.create_execution_context().execute({"input": m.x_test})["logits"]
    acc32, acc8 = m.accuracy(y32, m.y_test), m.accuracy(y8, m.y_test)
    print(f"digits, {algorithm} calibration: FP32 {acc32:.4f}, INT8 {acc8:.4f}")
    assert acc8 >= acc32 - 0.01
    np.testing.assert_array_equal(second.create_execution_context().execute({"input": m.x_test})["logits"], y8)
