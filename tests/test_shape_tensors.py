"""Run-time shape tensors (issue 15, phase 2): Shape of a tensor with dynamic dimensions and the arithmetic after it
run on the host at set_input_shape (ShapeOp layers), and Reshape / Resize read the result.

The ONNX graphs are written with onnx.helper the way torch.onnx exports them (torch is not installed here) and compared
with onnxruntime at several shapes from one engine.
"""
import numpy as np
import pytest

import gie

from util import assert_close

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _model(nodes, inputs, outputs, inits, name):
    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8  # onnxruntime on the GPU machine reads IR versions up to 13; onnx writes its newest
    return m


def _ort(model, feeds):
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _i64(name, *v):
    return numpy_helper.from_array(np.array(v, np.int64), name)


def _build(model, tmp_path, profile, device="cpu", name="x"):
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    builder = gie.Builder()
    net = gie.parse(str(path), builder=builder)
    config = builder.create_config()
    config.device = device
    config.add_profile({name: profile})
    return net, builder.build(net, config)


# ---- a transformer encoder as torch.onnx exports it ---------------------------------------------------------------

D, H = 16, 4
DH = D // H


def encoder_onnx(rng):
    """One encoder block over x (B, S, D), B and S symbolic: self-attention whose head split and merge reshape to
    Concat(Unsqueeze(Gather(Shape(x), 0)), Unsqueeze(Gather(Shape(x), 1)), H, DH) as the exporter writes it, Transpose,
    MatMul with broadcasting, Softmax, LayerNorm decomposed (ReduceMean, Sub, Pow, Sqrt, Div) and GELU as Erf."""
    def w(name, *shape, scale=0.3):
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    def f(name, v):
        return numpy_helper.from_array(np.array(v, np.float32), name)

    n = helper.make_node
    nodes = [
        n("Shape", ["x"], ["shape"]),
        n("Gather", ["shape", "i0"], ["b"], axis=0),
        n("Gather", ["shape", "i1"], ["s"], axis=0),
        n("Unsqueeze", ["b", "ax0"], ["b1"]),
        n("Unsqueeze", ["s", "ax0"], ["s1"]),
        n("Concat", ["b1", "s1", "nh", "dh"], ["heads_shape"], axis=0),
        n("Concat", ["b1", "s1", "dmodel"], ["merged_shape"], axis=0),
    ]
    for p in "qkv":
        nodes += [n("MatMul", ["x", f"w{p}"], [f"{p}0"]), n("Add", [f"{p}0", f"b{p}"], [f"{p}1"]),
                  n("Reshape", [f"{p}1", "heads_shape"], [f"{p}2"])]
    nodes += [
        n("Transpose", ["q2"], ["q"], perm=[0, 2, 1, 3]),
        n("Transpose", ["k2"], ["kt"], perm=[0, 2, 3, 1]),
        n("Transpose", ["v2"], ["v"], perm=[0, 2, 1, 3]),
        n("MatMul", ["q", "kt"], ["scores0"]),
        n("Div", ["scores0", "sqrt_dh"], ["scores"]),
        n("Softmax", ["scores"], ["attn"], axis=-1),
        n("MatMul", ["attn", "v"], ["ctx0"]),
        n("Transpose", ["ctx0"], ["ctx1"], perm=[0, 2, 1, 3]),
        n("Reshape", ["ctx1", "merged_shape"], ["ctx"]),
        n("MatMul", ["ctx", "wo"], ["o0"]),
        n("Add", ["o0", "bo"], ["o1"]),
        n("Add", ["x", "o1"], ["res"]),
        # LayerNorm, decomposed
        n("ReduceMean", ["res"], ["mean"], axes=[-1]),
        n("Sub", ["res", "mean"], ["cen"]),
        n("Pow", ["cen", "two"], ["sq"]),
        n("ReduceMean", ["sq"], ["var"], axes=[-1]),
        n("Add", ["var", "eps"], ["var_eps"]),
        n("Sqrt", ["var_eps"], ["std"]),
        n("Div", ["cen", "std"], ["normed"]),
        n("Mul", ["normed", "gamma"], ["scaled"]),
        n("Add", ["scaled", "beta"], ["ln"]),
        # feed-forward with GELU as Erf
        n("MatMul", ["ln", "w1"], ["h0"]),
        n("Add", ["h0", "b1w"], ["h1"]),
        n("Div", ["h1", "sqrt2"], ["h2"]),
        n("Erf", ["h2"], ["h3"]),
        n("Add", ["h3", "one"], ["h4"]),
        n("Mul", ["h1", "h4"], ["h5"]),
        n("Mul", ["h5", "half"], ["gelu"]),
        n("MatMul", ["gelu", "w2"], ["f0"]),
        n("Add", ["f0", "b2w"], ["f1"]),
        n("Add", ["ln", "f1"], ["y"]),
    ]
    inits = [_i64("i0", 0), _i64("i1", 1), _i64("ax0", 0), _i64("nh", H), _i64("dh", DH), _i64("dmodel", D),
             f("sqrt_dh", np.sqrt(DH)), f("two", 2.0), f("eps", 1e-5), f("sqrt2", np.sqrt(2.0)), f("one", 1.0), f("half", 0.5),
             w("wo", D, D), w("bo", D), w("gamma", D), w("beta", D), w("w1", D, 2 * D), w("b1w", 2 * D), w("w2", 2 * D, D),
             w("b2w", D)]
    for p in "qkv":
        inits += [w(f"w{p}", D, D), w(f"b{p}", D)]
    # numpy_helper makes 1-D scalars for the Gather indices above; torch writes 0-D ones
    inits[0] = numpy_helper.from_array(np.array(0, np.int64), "i0")
    inits[1] = numpy_helper.from_array(np.array(1, np.int64), "i1")
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", "S", D])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", "S", D])], inits, "encoder")


ENCODER_PROFILE = ((1, 1, D), (2, 8, D), (4, 24, D))
ENCODER_SHAPES = [(1, 1), (2, 5), (3, 17), (4, 24), (1, 24)]


def _check_encoder(rng, tmp_path, device):
    model = encoder_onnx(rng)
    net, engine = _build(model, tmp_path, ENCODER_PROFILE, device)
    shape_layers = [l for l in net.layers if l.type == "ShapeOp"]
    assert shape_layers, "the head split should read a run-time shape tensor"
    ctx = engine.create_execution_context()
    for b, s in ENCODER_SHAPES:
        x = rng.standard_normal((b, s, D)).astype(np.float32)
        got = ctx.execute({"x": x})["y"]
        assert got.shape == (b, s, D)
        assert_close(got, _ort(model, {"x": x})[0], rtol=1e-4, atol=1e-4, what=f"encoder at batch {b}, length {s}")


def test_transformer_encoder_matches_onnxruntime_at_several_batch_and_length_pairs(rng, tmp_path):
    _check_encoder(rng, tmp_path, "cpu")


@pytest.mark.gpu
def test_transformer_encoder_matches_onnxruntime_at_several_batch_and_length_pairs_gpu(rng, tmp_path):
    _check_encoder(rng, tmp_path, "gpu")


def test_encoder_shape_tensor_is_reported_by_the_network(rng, tmp_path):
    model = encoder_onnx(rng)
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    net = gie.parse(str(path))
    heads = [l for l in net.layers if l.type == "ShapeOp" and l.output(0).name == "heads_shape"][0].output(0)
    assert heads.is_shape_tensor and heads.shape == (4,)
    assert heads.shape_value == (-1, -1, H, DH)  # batch and length follow the input; the rest folded
    assert not net.inputs[0].is_shape_tensor and net.inputs[0].shape_value is None


# ---- segmentation: Resize back to the input's H and W --------------------------------------------------------------

def segmentation_onnx(rng):
    """conv stride 2 -> relu -> conv, then Resize (linear) with sizes = Concat(Shape(y)[:2], Shape(x)[2:]): the
    upsampling back to the input's height and width that segmentation heads export (odd sizes included)."""
    def w(name, *shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)

    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2]),
        n("Relu", ["c1"], ["r1"]),
        n("Conv", ["r1", "w2", "b2"], ["c2"]),
        n("Shape", ["c2"], ["cs"]),
        n("Slice", ["cs", "s0", "s2", "s0"], ["nc"]),
        n("Shape", ["x"], ["xs"]),
        n("Slice", ["xs", "s2", "s4", "s0"], ["hw"]),
        n("Concat", ["nc", "hw"], ["sizes"], axis=0),
        n("Resize", ["c2", "", "", "sizes"], ["y"], mode="linear", coordinate_transformation_mode="half_pixel"),
    ]
    inits = [w("w1", 8, 3, 3, 3), w("b1", 8), w("w2", 5, 8, 1, 1), w("b2", 5), _i64("s0", 0), _i64("s2", 2), _i64("s4", 4)]
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5, "H", "W"])], inits, "segmentation")


SEG_PROFILE = ((1, 3, 16, 16), (1, 3, 32, 32), (2, 3, 64, 64))


def _check_segmentation(rng, tmp_path, device):
    model = segmentation_onnx(rng)
    _, engine = _build(model, tmp_path, SEG_PROFILE, device)
    ctx = engine.create_execution_context()
    for shape in [(1, 3, 16, 16), (2, 3, 33, 47), (1, 3, 64, 40)]:
        x = rng.standard_normal(shape).astype(np.float32)
        got = ctx.execute({"x": x})["y"]
        assert got.shape == (shape[0], 5) + shape[2:]
        assert_close(got, _ort(model, {"x": x})[0], rtol=1e-4, atol=1e-4, what=f"segmentation at {shape}")


def test_segmentation_resize_to_the_input_size_matches_onnxruntime_at_three_sizes(rng, tmp_path):
    _check_segmentation(rng, tmp_path, "cpu")


@pytest.mark.gpu
def test_segmentation_resize_to_the_input_size_matches_onnxruntime_at_three_sizes_gpu(rng, tmp_path):
    _check_segmentation(rng, tmp_path, "gpu")


# ---- Slice with run-time ends, Expand, ConstantOfShape ------------------------------------------------------------

def _one_input(nodes, dims, out_dims, inits, name):
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_dims)], inits, name)


def _check(rng, tmp_path, model, profile, shapes, device="cpu"):
    _, engine = _build(model, tmp_path, profile, device)
    ctx = engine.create_execution_context()
    for shape in shapes:
        x = rng.standard_normal(shape).astype(np.float32)
        want = _ort(model, {"x": x})[0]
        got = ctx.execute({"x": x})["y"]
        assert got.shape == want.shape, f"{model.graph.name} at {shape}"
        assert_close(got, want, rtol=1e-5, atol=1e-5, what=f"{model.graph.name} at {shape}")


def slice_model():
    """The first half of the last axis, then every second element of the rest: ends and starts from Shape."""
    n = helper.make_node
    nodes = [n("Shape", ["x"], ["s"]), n("Gather", ["s", "i2"], ["l"], axis=0), n("Div", ["l", "two"], ["h"]),
             n("Unsqueeze", ["h", "ax0"], ["h1"]),
             n("Slice", ["x", "zero", "h1", "ax2"], ["a"]),
             n("Slice", ["x", "h1", "big", "ax2", "two1"], ["b"]),
             n("Neg", ["h1"], ["nh1"]) if False else n("Sub", ["zero", "h1"], ["nh1"]),
             n("Slice", ["x", "nh1", "big", "ax2"], ["c"]),  # a negative run-time start counts from the end
             n("Concat", ["a", "b", "c"], ["y"], axis=2)]
    inits = [numpy_helper.from_array(np.array(2, np.int64), "i2"), numpy_helper.from_array(np.array(2, np.int64), "two"),
             _i64("ax0", 0), _i64("zero", 0), _i64("ax2", 2), _i64("big", 2 ** 62), _i64("two1", 2)]
    return _one_input(nodes, ["N", 3, "L"], ["N", 3, "M"], inits, "slice")


def test_slice_with_run_time_starts_and_ends_matches_onnxruntime(rng, tmp_path):
    _check(rng, tmp_path, slice_model(), ((1, 3, 2), (2, 3, 16), (3, 3, 40)), [(1, 3, 2), (2, 3, 7), (3, 3, 40), (1, 3, 21)])


def expand_model():
    """x (N, 1, L) expanded to (N, 4, L) and, with a leading 2, to (2, N, 4, L): the target from Shape(x)."""
    n = helper.make_node
    nodes = [n("Shape", ["x"], ["s"]), n("Slice", ["s", "zero", "one"], ["n0"]), n("Slice", ["s", "two", "three"], ["l0"]),
             n("Concat", ["n0", "four", "l0"], ["t"], axis=0), n("Expand", ["x", "t"], ["e"]),
             n("Concat", ["two_v", "t"], ["t2"], axis=0), n("Expand", ["x", "t2"], ["e2"]),
             n("Unsqueeze", ["e", "ax0"], ["e1"]), n("Add", ["e1", "e2"], ["y"])]
    inits = [_i64("zero", 0), _i64("one", 1), _i64("two", 2), _i64("three", 3), _i64("four", 4), _i64("two_v", 2), _i64("ax0", 0)]
    return _one_input(nodes, ["N", 1, "L"], [2, "N", 4, "L"], inits, "expand")


def test_expand_to_a_run_time_shape_matches_onnxruntime(rng, tmp_path):
    _check(rng, tmp_path, expand_model(), ((1, 1, 1), (2, 1, 8), (3, 1, 20)), [(1, 1, 1), (3, 1, 20), (2, 1, 9)])


def constant_of_shape_model():
    n = helper.make_node
    nodes = [n("Shape", ["x"], ["s"]),
             n("ConstantOfShape", ["s"], ["c"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [2.5])),
             n("Mul", ["x", "c"], ["y"])]
    return _one_input(nodes, ["N", "L"], ["N", "L"], [], "constant_of_shape")


def test_constant_of_shape_of_a_run_time_shape_matches_onnxruntime(rng, tmp_path):
    _check(rng, tmp_path, constant_of_shape_model(), ((1, 1), (2, 8), (4, 30)), [(1, 1), (4, 30), (3, 11)])


@pytest.mark.gpu
def test_slice_expand_constant_of_shape_gpu(rng, tmp_path):
    _check(rng, tmp_path, slice_model(), ((1, 3, 2), (2, 3, 16), (3, 3, 40)), [(1, 3, 2), (3, 3, 40), (1, 3, 21)], "gpu")
    _check(rng, tmp_path, expand_model(), ((1, 1, 1), (2, 1, 8), (3, 1, 20)), [(1, 1, 1), (3, 1, 20)], "gpu")
    _check(rng, tmp_path, constant_of_shape_model(), ((1, 1), (2, 8), (4, 30)), [(1, 1), (3, 11)], "gpu")


# ---- errors: out of profile, over the plan, unsupported ------------------------------------------------------------

def test_out_of_profile_shape_is_refused_and_the_context_still_works(rng, tmp_path):
    model = encoder_onnx(rng)
    _, engine = _build(model, tmp_path, ENCODER_PROFILE)
    ctx = engine.create_execution_context()
    with pytest.raises(gie.InvalidArgumentError, match=r"(?s)'x'.*dimension 1.*25.*\[1, 24\]"):
        ctx.set_input_shape("x", (1, 25, D))
    x = rng.standard_normal((2, 3, D)).astype(np.float32)
    assert_close(ctx.execute({"x": x})["y"], _ort(model, {"x": x})[0], rtol=1e-4, atol=1e-4, what="after the refusal")


def test_value_dependent_shape_beyond_the_plan_is_refused(rng, tmp_path):
    """A length L * (1000 - L) peaks inside the profile [1, 999] (at 500: 250000) while the plan evaluates min (999), opt
    (100: 90000) and max (999): the run-time shape is larger than planned and is refused instead of written past the
    arena."""
    n = helper.make_node
    nodes = [n("Shape", ["x"], ["s"]), n("Slice", ["s", "one", "two"], ["l"]), n("Sub", ["k1000", "l"], ["r"]),
             n("Mul", ["l", "r"], ["m"]),
             n("ConstantOfShape", ["m"], ["c"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])),
             n("ReduceSum", ["c"], ["y"], keepdims=1)]
    model = _one_input(nodes, [1, "L"], [1], [_i64("one", 1), _i64("two", 2), _i64("k1000", 1000)], "peak")
    _, engine = _build(model, tmp_path, ((1, 1), (1, 100), (1, 999)))
    ctx = engine.create_execution_context()
    assert ctx.execute({"x": np.zeros((1, 100), np.float32)})["y"].tolist() == [90000.0]
    with pytest.raises(gie.Error, match=r"250000"):
        ctx.execute({"x": np.zeros((1, 500), np.float32)})
    assert ctx.execute({"x": np.zeros((1, 999), np.float32)})["y"].tolist() == [999.0]


def test_shape_tensor_in_an_unsupported_place_is_a_clear_error(tmp_path):
    n = helper.make_node
    nodes = [n("Shape", ["x"], ["s"]), n("Cast", ["s"], ["sf"], to=TensorProto.FLOAT), n("Add", ["x", "sf"], ["y"])]
    model = _one_input(nodes, [1, "L"], [1, "L"], [], "bad")
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    with pytest.raises(gie.UnsupportedError, match=r"(?s)Cast.*shape tensor to float"):
        gie.parse(str(path))


# ---- the network API ---------------------------------------------------------------------------------------------

def shape_api_network(builder):
    """y = reshape(x, (shape(x)[0] * shape(x)[1], -1)) through add_shape and ShapeOp layers."""
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (-1, -1, 4))
    s = net.add_shape(x).output(0)
    nl = net.add_layer("ShapeOp", [s], {"op": 5, "start": 0, "end": 2}).output(0)          # SLICE s[0:2]
    prod = net.add_layer("ShapeOp", [nl], {"op": 7, "reduce": 1}).output(0)                 # REDUCE PROD -> (1,)
    minus1 = net.add_layer("ShapeOp", [], {"op": 1, "values": [-1]}).output(0)              # CONST (-1,)
    target = net.add_layer("ShapeOp", [prod, minus1], {"op": 4}).output(0)                  # CONCAT
    y = net.add_shuffle(x, reshape=target).output(0)
    net.mark_output(y, "y")
    return net, s, target


def test_network_api_add_shape_and_run_time_reshape(rng):
    builder = gie.Builder()
    net, s, target = shape_api_network(builder)
    assert s.is_shape_tensor and s.shape == (3,) and s.shape_value == (-1, -1, 4)
    assert target.shape == (2,) and target.shape_value == (-1, -1)
    config = builder.create_config()
    config.add_profile({"x": ((1, 1, 4), (2, 3, 4), (4, 8, 4))})
    engine = builder.build(net, config)
    ctx = engine.create_execution_context()
    for shape in [(1, 1, 4), (3, 5, 4), (4, 8, 4)]:
        x = rng.standard_normal(shape).astype(np.float32)
        np.testing.assert_array_equal(ctx.execute({"x": x})["y"], x.reshape(shape[0] * shape[1], 4))
    with pytest.raises(gie.UnsupportedError, match="shape tensor"):
        net.mark_output(s)
    with pytest.raises(gie.Error, match="shape tensor"):  # a layer that reads data refuses a shape tensor
        net.add_activation(s, gie.ActivationType.RELU)


# ---- engine files: the shape program is saved, reloaded and validated ---------------------------------------------

def _api_engine():
    builder = gie.Builder()
    net, _, _ = shape_api_network(builder)
    config = builder.create_config()
    config.add_profile({"x": ((1, 1, 4), (2, 3, 4), (4, 8, 4))})
    return builder.build(net, config).serialize()


def test_engine_file_round_trip_runs_the_shape_program(rng):
    engine = gie.Runtime().deserialize(_api_engine())
    ctx = engine.create_execution_context()
    x = rng.standard_normal((3, 7, 4)).astype(np.float32)
    np.testing.assert_array_equal(ctx.execute({"x": x})["y"], x.reshape(21, 4))


def test_crafted_engine_with_a_bad_shape_program_is_refused():
    from engine_layout import parse, patch

    data = _api_engine()
    e = parse(data)
    steps = [s for s in e["steps"] if s["type"] == "ShapeOp"]
    ops = {int(s["fields"]["op"]["values"][0].value): s for s in steps}
    const = ops[1]
    cases = [
        (ops[7]["fields"]["op"]["values"][0], 42, "unknown op"),                 # an op that does not exist
        (const["fields"]["values"]["values"][0], 2 ** 40, "range"),              # a value beyond int32
        (const["fields"]["values"]["values"][0], 5, "reshape"),                  # (N*L, 5) cannot hold N*L*4 elements
        (ops[5]["fields"]["end"]["values"][0], 3, "shape tensor"),               # 3 values where the file stores 2
    ]
    for num, value, words in cases:
        with pytest.raises(gie.InvalidEngineError, match=f"(?is){words}"):
            gie.Runtime().deserialize(patch(data, num, value))
    reader = next(s for s in e["steps"] if s["type"] == "Shuffle")  # a shape tensor read as data
    shuffle_in = reader["inputs"][1]
    with pytest.raises(gie.InvalidEngineError):
        gie.Runtime().deserialize(patch(data, shuffle_in, int(reader["inputs"][0].value)))


def test_set_input_appends_a_shape_tensor_and_a_refused_one_leaves_the_layer_as_it_was():
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (-1, 6))
    s = net.add_shape(x).output(0)
    flat = net.add_layer("ShapeOp", [s], {"op": 7, "reduce": 1}).output(0)   # (N * 6,)
    sh = net.add_shuffle(x)
    with pytest.raises(gie.Error, match="must be a shape tensor"):
        sh.set_input(1, x)
    assert sh.num_inputs == 1
    sh.set_input(1, flat)                                                    # TensorRT's way: index == num_inputs
    assert sh.num_inputs == 2 and sh.output(0).shape == (-1,)


def range_model(rng):
    """Position embeddings as exported: Range(0, Shape(x)[1], 1) gathers rows of a table added to x; a second Range
    with start 1 and step 3 up to 3 * L picks every third row."""
    n = helper.make_node
    nodes = [n("Shape", ["x"], ["s"]), n("Gather", ["s", "i1"], ["l"], axis=0),
             n("Range", ["zero", "l", "one"], ["pos"]), n("Gather", ["table", "pos"], ["emb"], axis=0),
             n("Mul", ["l", "three"], ["l3"]), n("Range", ["one", "l3", "three"], ["pos3"]),
             n("Gather", ["table", "pos3"], ["emb3"], axis=0), n("Add", ["x", "emb"], ["a"]), n("Add", ["a", "emb3"], ["y"])]
    scalar = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)  # noqa: E731
    inits = [scalar("i1", 1), scalar("zero", 0), scalar("one", 1), scalar("three", 3),
             numpy_helper.from_array(rng.standard_normal((64, 8)).astype(np.float32), "table")]
    return _one_input(nodes, ["N", "L", 8], ["N", "L", 8], inits, "range")


def test_range_with_a_run_time_count_matches_onnxruntime(rng, tmp_path):
    _check(rng, tmp_path, range_model(rng), ((1, 1, 8), (2, 8, 8), (3, 21, 8)), [(1, 1, 8), (3, 21, 8), (2, 13, 8)])


@pytest.mark.gpu
def test_range_with_a_run_time_count_gpu(rng, tmp_path):
    _check(rng, tmp_path, range_model(rng), ((1, 1, 8), (2, 8, 8), (3, 21, 8)), [(1, 1, 8), (3, 21, 8)], "gpu")
