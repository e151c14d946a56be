"""Plugins written in Python (gie.Plugin + gie.register_plugin): inside networks, in saved engines loaded by another
process, through an importer's fallback for an unknown op, with several threads, and their errors. The plugins are
in tests/plugins/python_plugins.py (importing it registers them). GPU variants are marked gpu."""
import os
import sys
import threading

import numpy as np
import pytest

import gie

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "plugins"))
import python_plugins  # noqa: E402  (registers PyScale, PySplitMax, PyFields, PyFails)
from test_plugins import _run_fresh  # noqa: E402


def build(define, inputs, device="cpu", max_batch=None):
    builder = gie.Builder()
    net = builder.create_network()
    tensors = {name: net.add_input(name, gie.float32, a.shape) for name, a in inputs.items()}
    for name, t in define(net, tensors).items():
        net.mark_output(t, name)
    config = builder.create_config()
    config.device = device
    config.max_batch = max_batch or max(a.shape[0] for a in inputs.values())
    return builder.build(net, config)


def scale_net(alpha=0.5, beta=1.0):
    def define(net, t):
        layer = net.add_plugin("PyScale", [t["x"]], {"alpha": alpha, "beta": beta})
        layer.name = "scale"
        relu = net.add_activation(layer.output(0), gie.ActivationType.RELU)  # a built-in kernel after it
        return {"y": relu.output(0)}
    return define


def test_python_plugin_in_a_network_matches_numpy(rng):
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)
    engine = build(scale_net(0.5, 1.0), {"x": x})
    ctx = engine.create_execution_context()
    np.testing.assert_allclose(ctx.execute({"x": x})["y"], np.maximum(x * 0.5 + 1.0, 0), rtol=1e-6)
    np.testing.assert_allclose(ctx.execute({"x": x[:1]})["y"], np.maximum(x[:1] * 0.5 + 1.0, 0), rtol=1e-6)  # smaller batch
    kernels = engine.layer_info()["kernels"]
    assert kernels[0]["type"] == "PyScale"
    assert "plugin origin: Python class 'python_plugins.Scale'" in kernels[0]["notes"]


def test_fields_are_layer_attributes_and_validated():
    net = gie.Builder().create_network()
    x = net.add_input("x", gie.float32, (1, 4))
    layer = net.add_plugin("PyScale", [x], {"alpha": 3})  # an int for a float field: converted
    assert layer.alpha == 3.0
    layer.beta = 0.25
    assert layer.beta == 0.25
    with pytest.raises(gie.InvalidArgumentError, match="'alpha' must be finite and non-zero"):
        layer.alpha = 0.0  # validate() refuses; the layer keeps its value
    assert layer.alpha == 3.0
    with pytest.raises(gie.InvalidArgumentError, match=r"unknown field 'gamma' \(PyScale fields: alpha, beta\)"):
        net.add_plugin("PyScale", [x], {"gamma": 1.0})
    with pytest.raises(gie.InvalidArgumentError, match="field 'alpha' must be one number"):
        net.add_plugin("PyScale", [x], {"alpha": [1.0, 2.0]})
    with pytest.raises(gie.InvalidArgumentError, match="field 'count' must be an integer"):
        net.add_plugin("PyFields", [x], {"count": 2.5})


def test_every_field_kind_survives_the_engine_file(rng):
    x = rng.standard_normal((2, 6)).astype(np.float32)
    fields = {"count": 7, "weights": [1.0, 2.0, 0.5], "flags": [4, 5], "label": "héllo", "on": True}
    engine = gie.Runtime().deserialize(build(lambda net, t: {"y": net.add_plugin("PyFields", [t["x"]], fields).output(0)},
                                             {"x": x}).serialize())
    np.testing.assert_allclose(engine.create_execution_context().execute({"x": x})["y"], x * 3.5 + 8, rtol=1e-6)
    plugin = python_plugins.Fields(**fields)
    again = gie.plugins._deserialize(python_plugins.Fields, gie.plugins._serialize(plugin))
    assert again.field_values() == plugin.field_values() == {**fields}


def test_multi_output_plugin_with_an_int32_output(rng):
    x = rng.standard_normal((3, 4, 2)).astype(np.float32)

    def define(net, t):
        layer = net.add_plugin("PySplitMax", [t["x"]])
        return {"rev": layer.output(0), "arg": layer.output(1)}
    out = build(define, {"x": x}).create_execution_context().execute({"x": x})
    np.testing.assert_array_equal(out["rev"], x[:, ::-1])
    assert out["arg"].dtype == np.int32
    np.testing.assert_array_equal(out["arg"], x.argmax(axis=1))


def test_enqueue_exception_names_plugin_and_layer_and_context_stays_usable(rng):
    x = rng.standard_normal((2, 3)).astype(np.float32)

    def define(net, t):
        layer = net.add_plugin("PyFails", [t["x"]])
        layer.name = "boom"
        return {"y": layer.output(0)}
    ctx = build(define, {"x": x}).create_execution_context()
    for _ in range(2):
        with pytest.raises(gie.Error) as e:
            ctx.execute({"x": x})
        assert "PyFails" in str(e.value) and "'boom'" in str(e.value)
        assert "RuntimeError: deliberate failure in a Python enqueue" in str(e.value)


def test_contexts_on_several_threads(rng):
    engine = build(scale_net(2.0, -0.5), {"x": np.zeros((8, 16), np.float32)})
    xs = [rng.standard_normal((8, 16)).astype(np.float32) for _ in range(4)]
    errors = []

    def work(x):
        try:
            ctx = engine.create_execution_context()
            for _ in range(20):
                np.testing.assert_allclose(ctx.execute({"x": x})["y"], np.maximum(x * 2.0 - 0.5, 0), rtol=1e-6)
        except Exception as e:  # noqa: BLE001  (reported below)
            errors.append(e)
    threads = [threading.Thread(target=work, args=(x,)) for x in xs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_register_plugin_errors():
    gie.register_plugin(python_plugins.Scale)  # the same class again: nothing happens

    class Other(gie.Plugin):
        name = "PyScale"

        def enqueue(self, inputs, outputs, stream):
            pass
    with pytest.raises(gie.InvalidArgumentError, match=r"already registered from Python class 'python_plugins.Scale'.*replace=True"):
        gie.register_plugin(Other)
    with pytest.raises(gie.InvalidArgumentError, match="gie.Plugin subclass"):
        gie.register_plugin(object)

    class NoName(gie.Plugin):
        pass
    with pytest.raises(gie.InvalidArgumentError, match="name must be a non-empty string"):
        gie.register_plugin(NoName)

    class BadField(gie.Plugin):
        name = "PyBadField"
        fields = {"w": {"a": 1}}
    with pytest.raises(gie.InvalidArgumentError, match=r"fields\['w'\]"):
        gie.register_plugin(BadField)

    class Conv(gie.Plugin):  # a built-in's name: never replaced
        name = "Convolution"
    with pytest.raises(gie.InvalidArgumentError, match="already registered"):
        gie.register_plugin(Conv, replace=True)


def test_replace_registers_the_new_class(rng):
    class V1(gie.Plugin):
        name = "PyReplaceMe"

        def enqueue(self, inputs, outputs, stream):
            outputs[0][...] = inputs[0] + 1

    class V2(V1):
        def enqueue(self, inputs, outputs, stream):
            outputs[0][...] = inputs[0] + 2
    gie.register_plugin(V1)
    gie.register_plugin(V2, replace=True)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    y = build(lambda net, t: {"y": net.add_plugin("PyReplaceMe", [t["x"]]).output(0)}, {"x": x}).create_execution_context().execute({"x": x})
    np.testing.assert_allclose(y["y"], x + 2)


def test_saved_engine_in_a_fresh_process_needs_the_class_registered(rng, tmp_path):
    x = rng.standard_normal((2, 5)).astype(np.float32)
    engine = build(scale_net(-1.5, 0.25), {"x": x})
    engine.save(tmp_path / "py.gie")
    np.save(tmp_path / "x.npy", x)
    args = [tmp_path / "py.gie", tmp_path / "x.npy", tmp_path / "y.npy", ""]
    r = _run_fresh(args)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "PyScale" in r.stdout and "Python class 'python_plugins.Scale'" in r.stdout and "gie.register_plugin" in r.stdout
    r = _run_fresh(args, prelude=f"import sys; sys.path.insert(0, {os.path.join(HERE, 'plugins')!r}); import python_plugins\n")
    assert r.returncode == 0, r.stdout + r.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), np.maximum(x * -1.5 + 0.25, 0), rtol=1e-6)


def test_onnx_importer_falls_back_to_a_python_plugin(rng):
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper
    node = helper.make_node("PyScale", ["x"], ["s"], domain="custom", alpha=4.0, beta=-1.0)
    relu = helper.make_node("Relu", ["s"], ["y"])
    graph = helper.make_graph([node, relu], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("custom", 1)])
    builder = gie.Builder()
    net = gie.OnnxParser(builder).parse(model)  # "PyScale" has no converter: the registered plugin takes it
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = 2
    x = rng.standard_normal((2, 3)).astype(np.float32)
    y = builder.build(net, config).create_execution_context().execute({"x": x})["y"]
    np.testing.assert_allclose(y, np.maximum(x * 4.0 - 1.0, 0), rtol=1e-6)


@pytest.mark.gpu
def test_python_plugin_on_the_gpu(rng):
    if not gie.build_info()["gpu_available"]:
        pytest.skip("no usable GPU")
    try:
        python_plugins._gpu_module()
    except ImportError:
        pytest.skip("neither cupy nor torch")
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)
    engine = build(scale_net(0.5, 1.0), {"x": x}, device="gpu")
    assert engine.layer_info()["kernels"][0]["type"] == "PyScale"
    ctx = engine.create_execution_context()
    np.testing.assert_allclose(ctx.execute({"x": x})["y"], np.maximum(x * 0.5 + 1.0, 0), rtol=1e-6)
    again = gie.Runtime().deserialize(engine.serialize()).create_execution_context()
    np.testing.assert_allclose(again.execute({"x": x[:2]})["y"], np.maximum(x[:2] * 0.5 + 1.0, 0), rtol=1e-6)


def test_channels_last_plugin_gets_strided_views_between_reformats(rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    engine = build(lambda net, t: {"y": net.add_plugin("PyChannelsLast", [t["x"]]).output(0)}, {"x": x})
    np.testing.assert_allclose(engine.create_execution_context().execute({"x": x})["y"],
                               x * np.arange(1, 4, dtype=np.float32)[None, :, None, None], rtol=1e-6)
    assert [k["type"] for k in engine.layer_info()["kernels"]] == ["Reformat", "PyChannelsLast", "Reformat"]
