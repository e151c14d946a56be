"""Whole models in FP16 on the GPU (issue 12): ResNet-50, GoogLeNet and YOLOv2 from the model zoo and an ONNX
import, built with config.fp16 (the builder times FP16 against FP32 per layer): results within 1e-2 of the FP32
engine's largest magnitude, classifiers agree with FP32 on top-1 for >= 99% of 256 random inputs."""
import os
import sys

import numpy as np
import pytest

import gie
from gie import model_zoo

pytestmark = pytest.mark.gpu


def _engine(spec, batch, out, fp16, net_from=None):
    builder = gie.Builder()
    net = builder.create_network()
    if net_from is None:
        spec.to_gie(net, batch=batch, mark=[out])
    else:
        net = net_from(builder)
    config = builder.create_config()
    config.device = "gpu"
    config.max_batch = batch
    config.fp16 = fp16
    return builder.build(net, config)


def _compare(e16, e32, spec, out, n, batch, classifier):
    kinds = [(k["type"], k["precision"]) for k in e16.layer_info()["kernels"]]
    half = [t for t, p in kinds if p == "float16"]
    assert any(t == "Convolution" for t in half), f"no FP16 convolution was chosen: {kinds}"
    c16, c32 = e16.create_execution_context(), e32.create_execution_context()
    agree = total = 0
    worst = 0.0
    for start in range(0, n, batch):
        x = spec.random_input(batch, seed=1000 + start)
        a, b = c16.execute({"data": x})[out], c32.execute({"data": x})[out]
        assert np.isfinite(a).all()
        worst = max(worst, float(np.abs(a - b).max() / np.abs(b).max()))
        if classifier:
            agree += int((a.argmax(axis=1) == b.argmax(axis=1)).sum())
            total += batch
    assert worst < 1e-2, f"FP16 differs from FP32 by {worst:.2e} of the largest magnitude"
    if classifier:
        assert agree / total >= 0.99, f"top-1 agreement {agree}/{total}"
    return worst


@pytest.mark.parametrize("model,image,out,n,batch", [("resnet50", 224, "logits", 256, 64), ("googlenet", 224, "loss3/classifier", 256, 64),
                                                     ("yolov2", 416, "output", 16, 8)])
def test_zoo_model_fp16(model, image, out, n, batch):
    spec = model_zoo.describe(model, seed=0, image=image)
    e16, e32 = _engine(spec, batch, out, True), _engine(spec, batch, out, False)
    _compare(e16, e32, spec, out, n, batch, classifier=model != "yolov2")


def test_onnx_import_fp16(tmp_path):
    pytest.importorskip("onnx")
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
    import onnx_export

    spec = model_zoo.describe("resnet50", seed=2, image=96)
    model = onnx_export.to_onnx(spec, outputs=["logits"])
    path = tmp_path / "resnet50.onnx"
    path.write_bytes(model.SerializeToString())

    def net_from(builder):
        return gie.parse(str(path), builder=builder, batch=32)

    e16 = _engine(spec, 32, "logits", True, net_from)
    e32 = _engine(spec, 32, "logits", False, net_from)
    _compare(e16, e32, spec, "logits", 64, 32, classifier=True)
