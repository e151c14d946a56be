"""gie.model_zoo: ResNet-50, GoogLeNet, YOLOv2, MobileNetV2 and EfficientNet-B0 build and run on the CPU and
match onnxruntime on their ONNX twins (bench/onnx_export.py, same description and weights)."""
import os
import sys

import numpy as np
import pytest

import gie
from gie import model_zoo

from util import assert_close

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import onnx_export  # noqa: E402


def _build(spec, batch, mark):
    builder = gie.Builder()
    net = builder.create_network()
    m = spec.to_gie(net, batch=batch, mark=mark)
    assert set(m.outputs) == set(spec.outputs)
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = batch
    return builder.build(net, config)


def _check_against_ort(model, image, batch=1, seed=0):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    spec = model_zoo.describe(model, seed=seed, image=image)
    outs = list(spec.outputs)
    engine = _build(spec, batch, outs)
    x = spec.random_input(batch, seed=seed + 1)
    got = engine.create_execution_context().execute({"data": x})
    ref = onnx_export.run_onnxruntime(spec, x, outs, threads=os.cpu_count())
    for name in outs:
        a, e = got[name], ref[name]
        assert a.shape == (batch,) + spec.shapes[name]
        assert np.isfinite(a).all(), f"{model}/{name}: non-finite output"
        assert np.ptp(a) > 0, f"{model}/{name}: all outputs equal"
        # rtol 1e-4 per element; atol relative to the output's magnitude (elements near zero have no
        # meaningful relative error after ~60 layers of differently-ordered float32 sums).
        assert_close(a, e, rtol=1e-4, atol=1e-4 * float(np.abs(e).max()), what=f"{model}@{image} b{batch} {name}")
    return spec, got


# ---- fast: one per model, at the smallest resolution the architecture allows to stay meaningful -------

@pytest.mark.parametrize("model,image", [("resnet50", 64), ("googlenet", 224), ("yolov2", 96), ("mobilenetv2", 96),
                                         ("efficientnet_b0", 96)])
def test_model_matches_onnxruntime(model, image):
    spec, got = _check_against_ort(model, image)
    if model != "yolov2":
        prob = got["prob"]
        np.testing.assert_allclose(prob.sum(axis=1), 1.0, rtol=1e-5)


def test_yolov2_batch2_matches_onnxruntime():
    _check_against_ort("yolov2", 64, batch=2)


# ---- full resolution (slow on a 2-core machine) ---------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("model,image,batch", [("resnet50", 224, 1), ("resnet50", 224, 2), ("googlenet", 224, 2),
                                               ("yolov2", 416, 1), ("mobilenetv2", 224, 2), ("efficientnet_b0", 224, 2)])
def test_model_full_resolution_matches_onnxruntime(model, image, batch):
    _check_against_ort(model, image, batch)


# ---- the descriptions themselves ----------------------------------------------------------------

def test_architecture_shapes_and_sizes():
    r = model_zoo.describe("resnet50")
    assert r.shapes["logits"] == (1000,) and r.shapes["layer4.2.relu"] == (2048, 7, 7)
    assert r.shapes["layer1.0.conv2"] == (64, 56, 56) and r.shapes["layer2.0.conv2"] == (128, 28, 28)  # v1.5
    assert r.shapes["layer2.0.conv1"] == (128, 56, 56)  # the stride is in the 3x3, not the first 1x1
    # torchvision's 25,557,032 parameters + BatchNorm running mean/var (2 x 26,560 channels).
    assert r.num_params() == 25_557_032 + 2 * 26_560
    assert abs(r.flops() / 2 - 4.09e9) < 0.05e9  # ~4.1 GMAC

    g = model_zoo.describe("googlenet")
    assert g.shapes["pool1/3x3_s2"] == (64, 56, 56)  # Caffe ceil rounding: 112 -> 56 (floor would give 55)
    expected = {"3a": 256, "3b": 480, "4a": 512, "4b": 512, "4c": 512, "4d": 528, "4e": 832, "5a": 832, "5b": 1024}
    for m, c in expected.items():
        assert g.shapes[f"inception_{m}/output"][0] == c
    assert g.shapes["inception_3a/output"][1:] == (28, 28) and g.shapes["inception_5b/output"][1:] == (7, 7)
    assert g.shapes["pool5/7x7_s1"] == (1024, 1, 1)
    assert not any(op.kind == "dropout" for op in g.ops)

    y = model_zoo.describe("yolov2")
    assert y.shapes["output"] == (125, 13, 13)
    assert y.shapes["reorg27"] == (256, 13, 13) and y.shapes["route28"] == (1280, 13, 13)
    assert [op.inputs for op in y.ops if op.name == "route28"] == [["reorg27", "leaky24"]]  # reorg first
    assert y.shapes["leaky16"] == (512, 26, 26)
    assert sum(op.kind == "conv" for op in y.ops) == 23


def test_mobile_architectures_match_torchvision():
    m = model_zoo.describe("mobilenetv2")
    bn = sum(op.weights["mean"].size for op in m.ops if op.kind == "bn")
    assert m.num_params() - 2 * bn == 3_504_872  # torchvision mobilenet_v2 parameter count
    dw = [op for op in m.ops if op.kind == "conv" and op.attrs.get("groups", 1) > 1]
    assert len(dw) == 17 and all(op.attrs["groups"] == m.shapes[op.inputs[0]][0] for op in dw)
    assert m.shapes["features.18.relu6"] == (1280, 7, 7) and m.shapes["features.17.project.bn"] == (320, 7, 7)
    assert sum(op.kind == "add" for op in m.ops) == 10
    assert abs(m.flops() / 2 - 0.30e9) < 0.01e9

    e = model_zoo.describe("efficientnet_b0")
    bn = sum(op.weights["mean"].size for op in e.ops if op.kind == "bn")
    assert e.num_params() - 2 * bn == 5_288_548  # torchvision efficientnet_b0 parameter count
    dw = [op for op in e.ops if op.kind == "conv" and op.attrs.get("groups", 1) > 1]
    assert sorted({op.weights["kernel"].shape[2] for op in dw}) == [3, 5] and len(dw) == 16
    assert {op.attrs["stride"] for op in dw} == {1, 2}
    assert sum(op.kind == "mul" for op in e.ops) == 16 and sum(op.kind == "add" for op in e.ops) == 9
    assert e.shapes["features.2.se.fc1"] == (4, 1, 1)  # max(1, 16 // 4)
    assert e.shapes["features.16.se.fc2"] == (1152, 1, 1)


def test_silu_onnx_twin_is_sigmoid_times_x():
    pytest.importorskip("onnx")
    model = onnx_export.to_onnx(model_zoo.describe("efficientnet_b0", image=32), outputs=["logits"], check=False)
    ops = [n.op_type for n in model.graph.node]
    # every SiLU is Sigmoid + Mul, as torch exports nn.SiLU; 16 more Sigmoids / Muls are the SE gates
    assert ops.count("Sigmoid") == ops.count("Mul") == 49 + 16
    assert "Clip" not in ops and "HardSwish" not in ops


@pytest.mark.parametrize("model", ["mobilenetv2", "efficientnet_b0"])
def test_onnx_twin_imports_into_gie(model, tmp_path):
    """gie's own ONNX importer reads the twin (Clip with scalar min / max, grouped Conv, Sigmoid + Mul, the
    broadcast SE Mul) and gives onnxruntime's result: what bench/cpu_vs_ort.py --via-onnx builds."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    spec = model_zoo.describe(model, image=64)
    m = onnx_export.to_onnx(spec, outputs=["logits"], batch=2)
    clip_bounds = [i for i in m.graph.initializer if i.name.endswith((".min", ".max"))]
    assert all(list(i.dims) == [] for i in clip_bounds)  # scalars, as the ONNX spec requires
    onnx.save(m, str(tmp_path / "twin.onnx"))
    net = gie.parse(str(tmp_path / "twin.onnx"))
    config = gie.Builder().create_config()
    config.device = "cpu"
    config.max_batch = 2
    engine = gie.Builder().build(net, config)
    x = spec.random_input(2, seed=3)
    got = engine.create_execution_context().execute({"data": x})["logits"]
    ref = onnx_export.run_onnxruntime(spec, x, ["logits"])["logits"]
    assert_close(got, ref, rtol=1e-4, atol=1e-4 * float(np.abs(ref).max()), what=f"{model} via ONNX")


def test_weights_are_seeded():
    a = model_zoo.describe("resnet50", seed=3, image=32).weights()
    b = model_zoo.describe("resnet50", seed=3, image=32).weights()
    c = model_zoo.describe("resnet50", seed=4, image=32).weights()
    assert a.keys() == b.keys() == c.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["conv1.kernel"], c["conv1.kernel"])
    assert all(v.dtype == np.float32 for v in a.values())


def test_define_adds_input_and_marks_main_output():
    builder = gie.Builder()
    net = builder.create_network()
    m = model_zoo.define_resnet50(net, seed=0, image=32)
    assert [t.name for t in net.inputs] == ["data"] and tuple(net.inputs[0].shape) == (1, 3, 32, 32)
    assert [t.name for t in net.outputs] == ["prob"]
    assert m.output is m.outputs["prob"] and "logits" in m.outputs
    assert m.spec.name == "resnet50"
    with pytest.raises(ValueError):
        model_zoo.describe("vgg16")


def test_googlenet_needs_224():
    with pytest.raises(AssertionError):
        model_zoo.describe("googlenet", image=160)


# ---- Darknet reorg ------------------------------------------------------------------------------

def _darknet_reorg_loop(x, s):
    """A literal transcription of darknet's reorg_cpu(x, w, h, c, batch, stride, forward=0, out), called as
    forward_reorg_layer does with the layer's *input* w, h, c."""
    b_, c, h, w = x.shape
    xf = x.ravel()
    out = np.empty_like(xf)
    out_c = c // (s * s)
    for b in range(b_):
        for k in range(c):
            for j in range(h):
                for i in range(w):
                    in_index = i + w * (j + h * (k + c * b))
                    c2 = k % out_c
                    offset = k // out_c
                    w2 = i * s + offset % s
                    h2 = j * s + offset // s
                    out_index = w2 + w * s * (h2 + h * s * (c2 + out_c * b))
                    out[in_index] = xf[out_index]
    return out.reshape(b_, c * s * s, h // s, w // s)


def _reorg_spec(c, h, w):
    return model_zoo.ModelSpec(
        name="reorg", input_name="data", input_shape=(c, h, w),
        ops=[model_zoo.Op("reorg", "reorg", ["data"], "out", {"stride": 2})],
        outputs=["out"], shapes={"data": (c, h, w), "out": (c * 4, h // 2, w // 2)})


def test_darknet_reorg_index_mapping(rng):
    x = rng.standard_normal((2, 8, 6, 4)).astype(np.float32)
    ref = _darknet_reorg_loop(x, 2)
    np.testing.assert_array_equal(model_zoo.darknet_reorg_reference(x, 2), ref)
    # the quirk: this is not the plain space-to-depth of the (C, H, W) tensor ...
    n, c, h, w = x.shape
    s2d = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 3, 5, 1, 2, 4).reshape(n, 4 * c, h // 2, w // 2)
    assert not np.array_equal(s2d, ref)
    # ... but the space-to-depth of the buffer read as (C/4, 2H, 2W).
    v = x.reshape(n, c // 4, 2 * h, 2 * w)
    s2d_v = v.reshape(n, c // 4, h, 2, w, 2).transpose(0, 3, 5, 1, 2, 4).reshape(n, 4 * c, h // 2, w // 2)
    np.testing.assert_array_equal(s2d_v, ref)


def test_darknet_reorg_gie_and_onnx(rng):
    spec = _reorg_spec(16, 6, 8)
    x = rng.standard_normal((2, 16, 6, 8)).astype(np.float32)
    ref = _darknet_reorg_loop(x, 2)
    got = _build(spec, 2, ["out"]).create_execution_context().execute({"data": x})["out"]
    np.testing.assert_array_equal(got, ref)
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    np.testing.assert_array_equal(onnx_export.run_onnxruntime(spec, x, check=True)["out"], ref)


def test_batchnorm_fold():
    gamma, beta, mean, var = (np.array(v, np.float32) for v in ([1.5, 0.5], [0.1, -0.2], [0.3, -1.0], [0.25, 4.0]))
    scale, shift = model_zoo.fold_batchnorm(gamma, beta, mean, var, 1e-5)
    x = np.array([2.0, 3.0])
    np.testing.assert_allclose(x * scale + shift, gamma * (x - mean) / np.sqrt(var + 1e-5) + beta, rtol=1e-6)
