"""An ONNX model whose only dynamic dimension is a symbolic batch (issue 15 item 4): config.add_profile gives dimension 0
its range exactly as for any other dynamic dimension (no "use one or the other", no parse-time batch in the profile),
and the engine matches onnxruntime at every batch of the profile. The model flattens with Shape(x)[0] (the importer
folds that with its batch placeholder)."""
import numpy as np
import pytest

import gie

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

BATCHES = (1, 3, 7)


def batch_model(rng):
    """x (N, 3, 8, 8) -> conv 3x3 -> relu -> reshape to (Shape(x)[0], -1) -> gemm -> y (N, 5)."""
    def w(name, *shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.2).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Shape", ["r1"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["r1", "target"], ["flat"]),
        helper.make_node("Gemm", ["flat", "w2", "b2"], ["y"]),
    ]
    inits = [w("w1", 4, 3, 3, 3), w("b1", 4), w("w2", 4 * 8 * 8, 5), w("b2", 5),
             numpy_helper.from_array(np.array(0, np.int64), "zero"), numpy_helper.from_array(np.array([0], np.int64), "axes0"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus1")]
    graph = helper.make_graph(nodes, "batch_only", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def test_profile_on_a_symbolic_batch_matches_onnxruntime(rng, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    model = batch_model(rng)
    path = tmp_path / "batch_only.onnx"
    onnx.save(model, str(path))
    builder = gie.Builder()
    net = gie.parse(str(path), builder=builder)
    config = builder.create_config()
    config.device = "cpu"
    profile = ((1, 3, 8, 8), (3, 3, 8, 8), (7, 3, 8, 8))
    config.add_profile({"x": profile})
    engine = builder.build(net, config)
    assert engine.get_profile_shape("x", 0) == profile  # exactly what was given
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ctx = engine.create_execution_context()
    for n in BATCHES:
        x = rng.standard_normal((n, 3, 8, 8)).astype(np.float32)
        y = ctx.execute({"x": x})["y"]
        assert y.shape == (n, 5)
        np.testing.assert_allclose(y, sess.run(None, {"x": x})[0], rtol=1e-4, atol=1e-4)
    with pytest.raises(gie.InvalidArgumentError, match=r"input 'x' dimension 0 is 8, outside optimization profile 0's range \[1, 7\]"):
        ctx.execute({"x": np.zeros((8, 3, 8, 8), np.float32)})
    # Two profiles over the batch, as for any dynamic dimension.
    config = builder.create_config()
    config.device = "cpu"
    config.add_profile({"x": ((1, 3, 8, 8), (1, 3, 8, 8), (2, 3, 8, 8))})
    config.add_profile({"x": ((3, 3, 8, 8), (7, 3, 8, 8), (7, 3, 8, 8))})
    ctx = builder.build(net, config).create_execution_context()
    ctx.set_optimization_profile(1)
    x = rng.standard_normal((7, 3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(ctx.execute({"x": x})["y"], sess.run(None, {"x": x})[0], rtol=1e-4, atol=1e-4)


def test_symbolic_batch_without_a_profile_keeps_the_batch_range(rng, tmp_path):
    path = tmp_path / "batch_only.onnx"
    onnx.save(batch_model(rng), str(path))
    builder = gie.Builder()
    net = gie.parse(str(path), builder=builder)
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = 4
    engine = builder.build(net, config)
    assert engine.get_profile_shape("x", 0) == ((1, 3, 8, 8), (4, 3, 8, 8), (4, 3, 8, 8))
