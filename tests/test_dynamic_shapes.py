"""Dynamic shapes (issue 15, phase 1): -1 dims, optimization profiles, run-time shape checks, importers, CLI.

The dynamic-H/W detector is a hand-written ONNX graph (onnx.helper) with symbolic batch, height and width, compared
with onnxruntime at several shapes inside the profile; the Darknet test runs one engine at batches 1 and 4.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import gie

from test_cli import _ok, cli
from test_darknet_parser import NET, random_weights, ref_forward, weights_bytes
from util import assert_close

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

# The detector's profile: batch 1..4, height and width 32..96 (even: the 2x2 pooling and the 2x resize meet again).
PROFILE = ((1, 3, 32, 32), (2, 3, 64, 64), (4, 3, 96, 96))
SIZES = [(1, 3, 32, 32), (2, 3, 48, 64), (3, 3, 96, 80)]


def detector_onnx(rng, dims=("N", 3, "H", "W")):
    """A small convolutional detector with symbolic N, H, W: conv -> relu -> maxpool -> conv -> 2x resize (scales),
    concatenated with the first features, then a 1x1 head with a sigmoid (as a one-scale YOLO/FPN head)."""
    def w(name, *shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Resize", ["r2", "", "scales"], ["u2"], mode="nearest"),
        helper.make_node("Concat", ["r1", "u2"], ["cat"], axis=1),
        helper.make_node("Conv", ["cat", "w3", "b3"], ["c3"]),
        helper.make_node("Sigmoid", ["c3"], ["y"]),
    ]
    inits = [w("w1", 8, 3, 3, 3), w("b1", 8), w("w2", 8, 8, 3, 3), w("b2", 8), w("w3", 6, 16, 1, 1), w("b3", 6),
             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")]
    graph = helper.make_graph(nodes, "detector", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 6, "H", "W"])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8  # onnxruntime on the GPU machine reads IR versions up to 13; onnx writes its newest
    return m


def ort_run(model, x):
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def build(net, builder, device="cpu", profiles=(PROFILE,)):
    config = builder.create_config()
    config.device = device
    for p in profiles:
        config.add_profile({"x": p})
    return builder.build(net, config)


def parse_detector(rng, tmp_path, **kw):
    model = detector_onnx(rng, **kw)
    path = tmp_path / "detector.onnx"
    onnx.save(model, str(path))
    builder = gie.Builder()
    return model, path, builder, gie.parse(str(path), builder=builder)


# ---- ONNX with symbolic N, H, W: one engine, several shapes, against onnxruntime ----------------------------------

def _check_detector(rng, tmp_path, device):
    model, _, builder, net = parse_detector(rng, tmp_path)
    assert net.inputs[0].shape == (-1, 3, -1, -1)  # imported without input_shapes
    engine = build(net, builder, device)
    assert engine.num_optimization_profiles == 1
    assert engine.get_profile_shape("x", 0) == PROFILE
    ctx = engine.create_execution_context()
    for shape in SIZES:
        x = rng.standard_normal(shape).astype(np.float32)
        got = ctx.execute({"x": x})["y"]
        assert got.shape == (shape[0], 6) + shape[2:]
        assert_close(got, ort_run(model, x), rtol=1e-4, atol=1e-4, what=f"detector at {shape}")
        assert tuple(ctx.get_tensor_shape("y")) == got.shape
    return engine, ctx


def test_dynamic_hw_detector_matches_onnxruntime_at_three_sizes(rng, tmp_path):
    _check_detector(rng, tmp_path, "cpu")


@pytest.mark.gpu
def test_dynamic_hw_detector_matches_onnxruntime_at_three_sizes_gpu(rng, tmp_path):
    _check_detector(rng, tmp_path, "gpu")


@pytest.mark.gpu
def test_channels_last_device_input_of_dynamic_height_and_width_gpu(rng):
    # A device tensor in the input's stored layout (N, H, W, C) takes its H and W, not the planned largest ones.
    from gpu_util import to_device

    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (-1, 3, -1, -1))
    x.allowed_formats = [gie.TensorFormat.NHWC]
    net.mark_output(net.add_activation(x, gie.ActivationType.RELU).output(0), "y")
    config = builder.create_config()
    config.device = "gpu"
    config.add_profile({"x": ((1, 3, 8, 8), (1, 3, 16, 16), (2, 3, 32, 32))})
    engine = builder.build(net, config)
    assert engine.get_tensor_format("x") == gie.TensorFormat.NHWC
    ctx = engine.create_execution_context()
    v = rng.standard_normal((2, 3, 12, 20)).astype(np.float32)
    out = ctx.execute({"x": to_device(v.transpose(0, 2, 3, 1))}, outputs="numpy")
    np.testing.assert_array_equal(out["y"], np.maximum(v, 0))


def test_out_of_profile_shapes_are_refused_naming_input_dimension_and_range(rng, tmp_path):
    _, _, builder, net = parse_detector(rng, tmp_path)
    ctx = build(net, builder).create_execution_context()
    with pytest.raises(gie.InvalidArgumentError, match=r"(?s)'x'.*dimension 2.*100.*\[32, 96\]"):
        ctx.execute({"x": np.zeros((1, 3, 100, 32), np.float32)})
    with pytest.raises(gie.InvalidArgumentError, match=r"(?s)'x'.*dimension 0.*5.*\[1, 4\]"):
        ctx.set_input_shape("x", (5, 3, 32, 32))
    with pytest.raises(gie.InvalidArgumentError, match=r"(?s)'x'.*dimension 1"):  # a fixed dimension
        ctx.set_input_shape("x", (1, 4, 32, 32))
    with pytest.raises(gie.InvalidArgumentError, match="'x'"):  # the rank
        ctx.set_input_shape("x", (1, 3, 32))
    x = rng.standard_normal((1, 3, 32, 32)).astype(np.float32)  # the context still works after the refusals
    assert ctx.execute({"x": x})["y"].shape == (1, 6, 32, 32)


def test_two_profiles(rng, tmp_path):
    model, _, builder, net = parse_detector(rng, tmp_path)
    small = ((1, 3, 32, 32), (1, 3, 32, 32), (2, 3, 48, 48))
    large = ((1, 3, 64, 64), (2, 3, 96, 96), (2, 3, 128, 128))
    engine = build(net, builder, profiles=(small, large))
    assert engine.num_optimization_profiles == 2
    assert engine.get_profile_shape("x", 0) == small and engine.get_profile_shape("x", 1) == large
    ctx = engine.create_execution_context()
    assert ctx.optimization_profile == 0
    x = rng.standard_normal((2, 3, 128, 96)).astype(np.float32)
    with pytest.raises(gie.InvalidArgumentError, match="profile 0"):
        ctx.execute({"x": x})
    ctx.set_optimization_profile(1)
    assert ctx.optimization_profile == 1
    assert_close(ctx.execute({"x": x})["y"], ort_run(model, x), rtol=1e-4, atol=1e-4, what="profile 1")
    ctx.optimization_profile = 0
    x = rng.standard_normal((2, 3, 48, 32)).astype(np.float32)
    assert_close(ctx.execute({"x": x})["y"], ort_run(model, x), rtol=1e-4, atol=1e-4, what="profile 0")
    with pytest.raises(gie.InvalidArgumentError, match="2"):  # names the number of profiles
        ctx.set_optimization_profile(2)
    assert ctx.optimization_profile == 0
    with pytest.raises(gie.InvalidArgumentError):
        engine.get_profile_shape("x", 2)
    with pytest.raises(gie.InvalidArgumentError):
        engine.get_profile_shape("nope", 0)


def test_saved_engine_reloads_with_its_profiles(rng, tmp_path):
    model, _, builder, net = parse_detector(rng, tmp_path)
    small = ((1, 3, 32, 32), (1, 3, 32, 32), (2, 3, 48, 48))
    engine = build(net, builder, profiles=(small, PROFILE))
    path = tmp_path / "detector.gie"
    engine.save(str(path))
    loaded = gie.Runtime().load(str(path))
    assert loaded.num_optimization_profiles == 2
    assert [loaded.get_profile_shape("x", i) for i in range(2)] == [small, PROFILE]
    ctx = loaded.create_execution_context()
    ctx.set_optimization_profile(1)
    for shape in SIZES:
        x = rng.standard_normal(shape).astype(np.float32)
        assert_close(ctx.execute({"x": x})["y"], ort_run(model, x), rtol=1e-4, atol=1e-4, what=f"reloaded {shape}")
    with pytest.raises(gie.InvalidArgumentError, match="'x'"):
        ctx.set_input_shape("x", (8, 3, 32, 32))


def test_tensorrt_spelling_and_none_dims(rng):
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (None, 3, None, None))
    assert x.shape == (-1, 3, -1, -1)
    pool = net.add_pooling(x, gie.PoolingType.MAX, (2, 2), stride=(2, 2))
    assert pool.output(0).shape == (-1, 3, -1, -1)
    net.mark_output(pool.output(0), "y")
    profile = builder.create_optimization_profile()
    profile.set_shape("x", (1, 3, 4, 4), (1, 3, 8, 8), (2, 3, 16, 16))
    assert profile.get_shape("x") == ((1, 3, 4, 4), (1, 3, 8, 8), (2, 3, 16, 16))
    assert profile.get_shape("other") is None
    config = builder.create_config()
    config.device = "cpu"
    assert config.add_optimization_profile(profile) == 0
    assert config.num_optimization_profiles == 1
    ctx = builder.build(net, config).create_execution_context()
    v = rng.standard_normal((2, 3, 6, 10)).astype(np.float32)
    np.testing.assert_array_equal(ctx.execute({"x": v})["y"], v.reshape(2, 3, 3, 2, 5, 2).max(axis=(3, 5)))


def test_dynamic_dim_without_profile_is_a_clear_build_error():
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (1, 3, -1, -1))
    net.mark_output(net.add_activation(x, gie.ActivationType.RELU).output(0), "y")
    config = builder.create_config()
    config.device = "cpu"
    with pytest.raises(gie.Error, match=r"(?s)'x'.*dimension 2.*profile"):
        builder.build(net, config)


@pytest.mark.parametrize("shapes", [
    "not a dict", {}, {"x": ((1, 3, 4, 4), (1, 3, 4, 4))}, {"x": "1x3x4x4"}, {"x": ((1, 3, 4, 4), (1, 3, 4, 4), 5)},
    {3: (1, 3, 4, 4)},
])
def test_add_profile_refuses_bad_arguments(shapes):
    config = gie.Builder().create_config()
    with pytest.raises(gie.InvalidArgumentError):
        config.add_profile(shapes)


def test_onnx_symbolic_dims_and_pins(rng, tmp_path):
    model, path, _, net = parse_detector(rng, tmp_path, dims=(1, 3, "H", "W"))
    assert net.inputs[0].shape == (1, 3, -1, -1)
    net = gie.parse(str(path), input_shapes={"x": (1, 3, 64, 48)})  # pinned as before
    assert net.inputs[0].shape == (1, 3, 64, 48)
    model, path, _, net = parse_detector(rng, tmp_path, dims=("N", 3, 32, 32))  # a lone batch: the batch path
    assert net.inputs[0].shape == (1, 3, 32, 32)
    net = gie.parse(str(path), input_shapes={"x": (-1, 3, 32, 32)})  # -1: dynamic, for a profile over the batch
    assert net.inputs[0].shape == (-1, 3, 32, 32)


def test_onnx_float_arithmetic_on_a_run_time_shape_is_refused(tmp_path):
    # Shape of a dynamic dimension imports as a run-time shape tensor (tests/test_shape_tensors.py); float arithmetic on
    # one does not (shape tensors hold integers).
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Cast", ["s"], ["sf"], to=TensorProto.FLOAT),
             helper.make_node("Cast", ["sf"], ["si"], to=TensorProto.INT64),
             helper.make_node("Reshape", ["x", "si"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "H", 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "H", 8])])
    path = tmp_path / "shape.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    with pytest.raises(gie.UnsupportedError, match=r"(?s)Cast.*shape tensor to float"):
        gie.parse(str(path))


def test_caffe_and_darknet_inputs_have_a_dynamic_batch(tmp_path):
    (tmp_path / "m.cfg").write_text(ROUTE_GROUPS_CFG)
    assert gie.parse(str(tmp_path / "m.cfg")).inputs[0].shape == (-1, 3, 6, 8)
    (tmp_path / "d.prototxt").write_text('input: "data"\ninput_shape { dim: 10 dim: 3 dim: 8 dim: 8 }\n'
                                         'layer { name: "r" type: "ReLU" bottom: "data" top: "r" }\n')
    net = gie.parse(str(tmp_path / "d.prototxt"))
    assert net.inputs[0].shape == (-1, 3, 8, 8)


# ---- InferenceSession with profiles -------------------------------------------------------------------------------

def test_session_with_profiles(rng, tmp_path):
    model, path, _, _ = parse_detector(rng, tmp_path)
    small = ((1, 3, 32, 32), (1, 3, 32, 32), (1, 3, 48, 48))
    sess = gie.InferenceSession(str(path), device="cpu", profiles=[{"x": small}, {"x": PROFILE}])
    assert sess.get_inputs()[0].shape == (None, 3, None, None)
    assert sess.get_outputs()[0].shape == (None, 6, None, None)
    for shape in [(1, 3, 40, 40), (3, 3, 96, 64)]:  # profile 0, then one only profile 1 holds
        x = rng.standard_normal(shape).astype(np.float32)
        assert_close(sess.run(None, {"x": x})[0], ort_run(model, x), rtol=1e-4, atol=1e-4, what=f"session {shape}")
    with pytest.raises(gie.InvalidArgumentError):
        gie.InferenceSession(str(path), device="cpu", profiles={"x": PROFILE}, batch=4)


# ---- command line -------------------------------------------------------------------------------------------------

def test_cli_shapes(rng, tmp_path):
    _, path, _, _ = parse_detector(rng, tmp_path)
    engine = tmp_path / "det.gie"
    _ok(cli("build", path, "--device", "cpu", "--min-shapes", "x:1x3x32x32", "--opt-shapes", "x:2x3x64x64",
            "--max-shapes", "x:4x3x96x96", "--save", engine))
    loaded = gie.Runtime().load(str(engine))
    assert loaded.get_profile_shape("x", 0) == PROFILE
    p = _ok(cli("run", engine, "--shapes", "x:3x3x48x80", "--iterations", "2", "--warmup", "0"))
    assert "x 3x3x48x80" in p.stdout and "batch 3:" in p.stdout
    p = _ok(cli("run", engine, "--iterations", "1", "--warmup", "0"))  # profile 0's opt shapes
    assert "x 2x3x64x64" in p.stdout
    np.savez(tmp_path / "in.npz", x=rng.standard_normal((1, 3, 40, 56)).astype(np.float32))
    p = _ok(cli("run", engine, "--load-inputs", tmp_path / "in.npz", "--iterations", "1", "--warmup", "0"))
    assert "batch 1:" in p.stdout
    p = cli("run", engine, "--shapes", "x:1x3x128x32", "--iterations", "1")
    assert p.returncode == 1 and "dimension 2" in p.stderr and "Traceback" not in p.stderr, p.stderr
    # --shapes alone: built for exactly that shape, and run at it
    p = _ok(cli("run", path, "--device", "cpu", "--shapes", "x:1x3x40x56", "--iterations", "1", "--warmup", "0"))
    assert "x 1x3x40x56" in p.stdout
    # trtexec's spelling reaches the same options
    p = _ok(cli(f"--onnx={path}", "--buildOnly", "--minShapes=x:1x3x32x32", "--optShapes=x:1x3x32x32",
                "--maxShapes=x:2x3x64x64", "--device=cpu", f"--saveEngine={engine}"))
    assert gie.Runtime().load(str(engine)).get_profile_shape("x", 0)[2] == (2, 3, 64, 64)


@pytest.mark.parametrize("args, message", [
    (["--min-shapes", "x:1x3x32x32", "--max-shapes", "x:1x3x64x64"], "--opt-shapes missing"),
    (["--shapes", "x:1x3xHx32"], "positive integers"),
    (["--shapes", "x:1x3x32x32", "--batch", "4"], "one or the other"),
    (["--min-shapes", "x:1x3x32x32", "--opt-shapes", "y:1x3x32x32", "--max-shapes", "x:1x3x32x32"], "same inputs"),
    (["--shapes", "nope:1x3x32x32"], "no input named ['nope']"),
    (["--shapes", "x:1x3x32"], "4 dimensions"),
])
def test_cli_shape_errors(rng, tmp_path, args, message):
    _, path, _, _ = parse_detector(rng, tmp_path)
    p = cli("build", path, "--device", "cpu", *args)
    assert p.returncode == 2 and message in p.stderr and "Traceback" not in p.stderr, p.stderr


# ---- Darknet [route] groups= follows the run-time batch ----------------------------------------------------------

ROUTE_GROUPS_CFG = NET.format(w=8, h=6, c=3) + """
[convolutional]
filters=8
size=3
pad=1
activation=leaky
[route]
layers=-1
groups=2
group_id=1
[convolutional]
filters=4
size=1
activation=linear
[route]
layers=-1,-2
"""


def test_darknet_route_groups_runs_at_batches_1_and_4_from_one_engine(tmp_path, rng):
    # The slice of a grouped route used to hold the parse-time batch (1): batch 4 failed its shape rule.
    w = random_weights(ROUTE_GROUPS_CFG, rng)
    (tmp_path / "m.cfg").write_text(ROUTE_GROUPS_CFG)
    (tmp_path / "m.weights").write_bytes(weights_bytes(w))
    net = gie.parse(str(tmp_path / "m.cfg"), str(tmp_path / "m.weights"))
    builder = gie.Builder()
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = 4
    engine = builder.build(net, config)
    ctx = engine.create_execution_context()
    for batch in (1, 4):
        x = rng.standard_normal((batch, 3, 6, 8)).astype(np.float32)
        got = ctx.execute({"data": x})
        exp = ref_forward(ROUTE_GROUPS_CFG, w, x)
        assert sorted(got) == sorted(exp)
        for k in exp:
            assert got[k].shape[0] == batch
            assert_close(got[k], exp[k], rtol=1e-4, atol=1e-4, what=f"{k} at batch {batch}")
