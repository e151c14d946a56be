"""ONNX importer: per-op graphs compared with onnxruntime, shape folding, dynamic batch, external data
safety, error reporting, and the model-zoo twins of bench/onnx_export.py."""
import os
import sys

import numpy as np
import pytest

import gie
from onnx_child_import import import_in_child
from util import assert_close

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

F = TensorProto.FLOAT
RNG = np.random.default_rng(1234)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def model(nodes, inputs, outputs, inits=(), opset=17):
    """inputs/outputs: [(name, elem_type, shape)]; inits: {name: array}."""
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                          [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
                          initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in dict(inits).items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    # Outputs declared without a shape get the inferred type and shape (onnx.checker wants one).
    try:
        im = onnx.shape_inference.infer_shapes(m).graph
        inferred = {v.name: v for v in list(im.value_info) + list(im.output)}
    except Exception:
        inferred = {}
    for o in m.graph.output:
        if not o.type.tensor_type.HasField("shape"):
            if o.name in inferred and inferred[o.name].type.tensor_type.HasField("shape"):
                o.CopyFrom(inferred[o.name])
            else:
                o.type.tensor_type.shape.SetInParent()
                o.type.tensor_type.shape.dim.add().dim_param = "unk"
    return m


def ort_run(m, feeds):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return s.run(None, feeds)


def gie_run(m, feeds, max_batch=None, fixed_batch=False, **opts):
    builder = gie.Builder()
    net = gie.OnnxParser(builder=builder, **opts).parse(m)
    cfg = builder.create_config()
    cfg.device = "cpu"
    cfg.max_batch = max_batch or max(v.shape[0] for v in feeds.values())
    if fixed_batch:  # layers that move dimension 0 need an engine of one batch size
        cfg.batch_range = (cfg.max_batch,) * 3
    eng = builder.build(net, cfg)
    res = eng.create_execution_context().execute(feeds)
    return [res[o.name] for o in m.graph.output]


def check(m, feeds, rtol=1e-4, atol=1e-5, **opts):
    ref = ort_run(m, feeds)
    got = gie_run(m, feeds, **opts)
    for r, g, o in zip(ref, got, m.graph.output):
        if r.dtype == np.int64:
            r = r.astype(np.int32)
        assert_close(g, r, rtol=rtol, atol=atol, what=o.name)


def unary_model(op, shape, opset=17, **attrs):
    return model([helper.make_node(op, ["x"], ["y"], **attrs)], [("x", F, shape)], [("y", F, None)], opset=opset)


# ---- element-wise and activations ----------------------------------------------------------------

@pytest.mark.parametrize("op,attrs", [
    ("Relu", {}), ("Sigmoid", {}), ("Tanh", {}), ("LeakyRelu", {"alpha": 0.2}), ("Elu", {"alpha": 0.7}),
    ("Selu", {}), ("Softplus", {}), ("Softsign", {}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
    ("HardSwish", {}), ("Gelu", {}), ("Gelu", {"approximate": "tanh"}), ("Mish", {}), ("Exp", {}), ("Abs", {}),
    ("Neg", {}), ("Floor", {}), ("Ceil", {}), ("Sin", {}), ("Cos", {}), ("Erf", {}), ("Atan", {}), ("Sign", {}),
    ("ThresholdedRelu", {"alpha": 0.3}), ("Identity", {}),
])
def test_unary_ops(op, attrs):
    opset = 20 if op == "Gelu" else 18
    check(unary_model(op, [2, 3, 5, 7], opset=opset, **attrs), {"x": rand(2, 3, 5, 7)})


@pytest.mark.parametrize("op", ["Log", "Sqrt", "Reciprocal"])
def test_positive_unary(op):
    check(unary_model(op, [3, 5, 7]), {"x": np.abs(rand(3, 5, 7)) + 0.1})


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Max", "Min"])
def test_binary_broadcast(op):
    m = model([helper.make_node(op, ["x", "c"], ["y"])], [("x", F, [2, 3, 4, 5])], [("y", F, None)],
              {"c": np.abs(rand(3, 1, 5)) + 0.5})
    check(m, {"x": rand(2, 3, 4, 5)})


def test_binary_two_inputs_and_sum():
    m = model([helper.make_node("Sum", ["a", "b", "c"], ["y"]), helper.make_node("Abs", ["y"], ["y2"]),
               helper.make_node("Pow", ["y2", "e"], ["z"])],
              [("a", F, [2, 3, 5]), ("b", F, [2, 1, 5])], [("z", F, None)], {"c": rand(5), "e": np.float32(1.5)})
    check(m, {"a": rand(2, 3, 5), "b": rand(2, 1, 5)})


@pytest.mark.parametrize("opset", [7, 13])
def test_clip(opset):
    if opset < 11:
        m = unary_model("Clip", [2, 9], opset=opset, min=-0.5, max=0.7)
    else:
        m = model([helper.make_node("Clip", ["x", "lo", "hi"], ["y"])], [("x", F, [2, 9])], [("y", F, None)],
                  {"lo": np.float32(-0.5), "hi": np.float32(0.7)}, opset=opset)
    check(m, {"x": rand(2, 9)})


@pytest.mark.parametrize("slope_shape", [(1,), (3, 1, 1), (5,)])
def test_prelu(slope_shape):
    m = model([helper.make_node("PRelu", ["x", "s"], ["y"])], [("x", F, [2, 3, 4, 5])], [("y", F, None)],
              {"s": rand(*slope_shape)})
    check(m, {"x": rand(2, 3, 4, 5)})


# ---- conv / pool / norm --------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [
    dict(pads=[1, 0, 2, 1], strides=[2, 1]), dict(group=3, dilations=[2, 1]), dict(auto_pad="SAME_UPPER", strides=[2, 2]),
    dict(auto_pad="SAME_LOWER", strides=[2, 2]), dict(auto_pad="VALID"),
])
def test_conv(kw):
    g = kw.get("group", 1)
    m = model([helper.make_node("Conv", ["x", "w", "b"], ["y"], **kw)], [("x", F, [2, 6, 9, 8])], [("y", F, None)],
              {"w": rand(9, 6 // g, 3, 2), "b": rand(9)})
    check(m, {"x": rand(2, 6, 9, 8)})


@pytest.mark.parametrize("kw", [dict(strides=[2, 2], pads=[1, 1, 1, 1]), dict(strides=[2, 1], output_padding=[1, 0]),
                                dict(group=2), dict(strides=[2, 2], output_shape=[10, 12])])
def test_conv_transpose(kw):
    g = kw.get("group", 1)
    m = model([helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], **kw)], [("x", F, [2, 4, 5, 6])],
              [("y", F, None)], {"w": rand(4, 6 // g, 3, 3), "b": rand(6)})
    check(m, {"x": rand(2, 4, 5, 6)})


@pytest.mark.parametrize("op,kw", [
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
    ("MaxPool", dict(kernel_shape=[3, 2], strides=[2, 2], ceil_mode=1)),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
    ("AveragePool", dict(kernel_shape=[2, 2], auto_pad="SAME_UPPER", strides=[2, 2])),
])
def test_pool(op, kw):
    check(unary_model(op, [2, 3, 9, 11], **kw), {"x": rand(2, 3, 9, 11)})


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
def test_global_pool(op):
    check(unary_model(op, [2, 3, 5, 7]), {"x": rand(2, 3, 5, 7)})


def test_batchnorm_instancenorm_layernorm_lrn():
    c = 4
    nodes = [helper.make_node("BatchNormalization", ["x", "g", "b", "m", "v"], ["bn"], epsilon=1e-3),
             helper.make_node("InstanceNormalization", ["bn", "g", "b"], ["in"]),
             helper.make_node("LayerNormalization", ["in", "lg", "lb"], ["ln"], axis=-2),
             helper.make_node("LRN", ["ln"], ["y"], size=3, alpha=0.01, beta=0.6, bias=1.5)]
    m = model(nodes, [("x", F, [2, c, 5, 6])], [("y", F, None)],
              {"g": rand(c), "b": rand(c), "m": rand(c), "v": np.abs(rand(c)) + 0.5, "lg": rand(5, 6), "lb": rand(6)})
    check(m, {"x": rand(2, c, 5, 6)})


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("opset,axis", [(11, 1), (11, 3), (13, 1), (13, -1)])
def test_softmax(op, opset, axis):
    check(unary_model(op, [2, 3, 4, 5], opset=opset, axis=axis), {"x": rand(2, 3, 4, 5)})


# ---- matrix ops ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kw,cshape", [({}, (7,)), (dict(transB=1, alpha=0.5, beta=2.0), (1, 7)),
                                       (dict(transA=1), (3, 7)), ({}, None)])
def test_gemm(kw, cshape):
    a_shape = [5, 3] if kw.get("transA") else [3, 5]
    b = rand(7, 5) if kw.get("transB") else rand(5, 7)
    inits = {"b": b}
    ins = ["a", "b"]
    if cshape:
        inits["c"] = rand(*cshape)
        ins.append("c")
    m = model([helper.make_node("Gemm", ins, ["y"], **kw)], [("a", F, a_shape)], [("y", F, None)], inits)
    check(m, {"a": rand(*a_shape)}, fixed_batch=bool(kw.get("transA")))


def test_matmul():
    m = model([helper.make_node("MatMul", ["a", "w"], ["t"]), helper.make_node("MatMul", ["t", "b"], ["y"])],
              [("a", F, [2, 3, 4, 5]), ("b", F, [2, 3, 6, 2])], [("y", F, None)], {"w": rand(5, 6)})
    check(m, {"a": rand(2, 3, 4, 5), "b": rand(2, 3, 6, 2)})


# ---- shape ops -----------------------------------------------------------------------------------

def test_reshape_flatten_transpose_squeeze():
    nodes = [helper.make_node("Reshape", ["x", "s"], ["r"]),
             helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1, 3]),
             helper.make_node("Unsqueeze", ["t", "ax"], ["u"]),
             helper.make_node("Squeeze", ["u", "ax"], ["q"]),
             helper.make_node("Flatten", ["q"], ["y"], axis=2)]
    m = model(nodes, [("x", F, [2, 6, 10])], [("y", F, None)],
              {"s": np.array([0, 3, -1, 5], np.int64), "ax": np.array([-1], np.int64)})
    check(m, {"x": rand(2, 6, 10)})


@pytest.mark.parametrize("opset", [9, 13])
def test_squeeze_unsqueeze_attrs(opset):
    ax = dict(axes=[2]) if opset < 13 else {}
    inits = {} if opset < 13 else {"a": np.array([2], np.int64)}
    ins = ["x"] if opset < 13 else ["x", "a"]
    m = model([helper.make_node("Unsqueeze", ins, ["u"], **ax), helper.make_node("Squeeze", ["u"] + ins[1:], ["y"], **ax)],
              [("x", F, [2, 3, 4])], [("y", F, None)], inits, opset=opset)
    check(m, {"x": rand(2, 3, 4)})


def test_unsqueeze_squeeze_at_dimension_0_with_a_fixed_batch():
    """A vision transformer's attention as torch exports it (nn.MultiheadAttention: the batch moved to dimension 1,
    then Unsqueeze / Squeeze at dimension 0): with a fixed batch every shape is known and dimension 0 is an axis
    like the others (an engine of that one batch size); compared with onnxruntime."""
    c = rand(1, 4, 3, 5)
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0, 2]),           # (4, 3, 5)
             helper.make_node("Unsqueeze", ["t", "a0"], ["u"]),                        # (1, 4, 3, 5)
             helper.make_node("Mul", ["u", "c"], ["m"]),
             helper.make_node("Transpose", ["m"], ["p"], perm=[2, 1, 0, 3]),          # (3, 4, 1, 5)
             helper.make_node("Squeeze", ["p", "a2"], ["s"]),                          # (3, 4, 5)
             helper.make_node("Transpose", ["s"], ["v"], perm=[1, 0, 2]),             # (4, 3, 5)
             helper.make_node("Unsqueeze", ["v", "a0"], ["w"]),                        # (1, 4, 3, 5)
             helper.make_node("Squeeze", ["w", "a0"], ["y"])]                          # (4, 3, 5)
    m = model(nodes, [("x", F, [3, 4, 5])], [("y", F, None)],
              {"a0": np.array([0], np.int64), "a2": np.array([2], np.int64), "c": c})
    check(m, {"x": rand(3, 4, 5)}, fixed_batch=True)


@pytest.mark.parametrize("op", ["Unsqueeze", "Squeeze"])
def test_unsqueeze_squeeze_at_dimension_0_with_a_lone_symbolic_batch_make_it_dynamic(op):
    """The batch path (dimension 0 at the parse-time batch) refuses adding or removing dimension 0; the importer then
    imports the model with that dimension dynamic (-1) instead (tests/test_onnx_lone_batch.py runs such models)."""
    m = model([helper.make_node(op, ["x", "a0"], ["y"], name="sq")], [("x", F, ["N", 3, 4])], [("y", F, None)],
              {"a0": np.array([0], np.int64)})
    if op == "Squeeze":  # removing the batch itself holds only at batch 1: refused, naming both steps
        with pytest.raises(gie.UnsupportedError, match=r"(?s)'sq' Squeeze.*Squeeze of dimension 0 of \(-1, 3, 4\), which is dynamic.*"
                                                       r"dimension 0 of input 'x', the only "
                                                       r"symbolic dimension, was imported as dynamic \(-1\) because the batch path "
                                                       r"refuses node 'sq' \(Squeeze\): Squeeze of dimension 0"):
            gie.OnnxParser(check=False).parse(m)
        return
    net = gie.OnnxParser(check=False).parse(m)
    assert net.inputs[0].shape == (-1, 3, 4)
    assert net.outputs[0].shape == (1, -1, 3, 4)


def test_expand_of_dimension_0_with_fixed_shapes():
    # Dimension 0 grows from 1 to 3: it used to stay 1 (taken for the batch, which Expand does not change).
    m = model([helper.make_node("Expand", ["x", "s"], ["y"])], [("x", F, [1, 4])], [("y", F, None)], {"s": np.array([3, 4], np.int64)})
    check(m, {"x": rand(1, 4)})


def test_tile_of_dimension_0_with_fixed_shapes():
    m = model([helper.make_node("Tile", ["x", "r"], ["y"])], [("x", F, [2, 3])], [("y", F, None)], {"r": np.array([3, 2], np.int64)})
    check(m, {"x": rand(2, 3)})


def test_squeeze_of_dimension_0_that_is_not_1():
    m = model([helper.make_node("Squeeze", ["x", "a0"], ["y"], name="sq")], [("x", F, [2, 3])], [("y", F, None)],
              {"a0": np.array([0], np.int64)})
    with pytest.raises(gie.Error, match=r"Squeeze of dimension 0, which is 2, not 1"):
        gie.OnnxParser(check=False).parse(m)


@pytest.mark.parametrize("starts,ends,axes,steps", [
    ([1, -3], [4, 100], [1, 2], [1, 1]), ([-1, 0], [-100, 7], [1, 2], [-2, 3]), ([0], [3], [-1], None),
])
def test_slice(starts, ends, axes, steps):
    inits = {"st": np.array(starts, np.int64), "en": np.array(ends, np.int64), "ax": np.array(axes, np.int64)}
    ins = ["x", "st", "en", "ax"]
    if steps:
        inits["sp"] = np.array(steps, np.int64)
        ins.append("sp")
    m = model([helper.make_node("Slice", ins, ["y"])], [("x", F, [2, 5, 8])], [("y", F, None)], inits)
    check(m, {"x": rand(2, 5, 8)})


def test_slice_opset9_attrs():
    m = unary_model("Slice", [2, 5, 8], opset=9, starts=[1, 2], ends=[4, -1], axes=[1, 2])
    check(m, {"x": rand(2, 5, 8)})


def test_split_concat():
    m = model([helper.make_node("Split", ["x", "sp"], ["a", "b", "c"], axis=2),
               helper.make_node("Concat", ["c", "a", "b"], ["y"], axis=-1)],
              [("x", F, [2, 3, 9])], [("y", F, None), ("b", F, None)], {"sp": np.array([2, 3, 4], np.int64)})
    check(m, {"x": rand(2, 3, 9)})


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_pad(mode):
    m = model([helper.make_node("Pad", ["x", "p", "v"], ["y"], mode=mode)], [("x", F, [2, 3, 4, 5])],
              [("y", F, None)], {"p": np.array([0, 1, 2, 0, 0, 0, 1, 3], np.int64), "v": np.float32(0.5)})
    check(m, {"x": rand(2, 3, 4, 5)})


@pytest.mark.parametrize("op", ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2",
                                "ReduceSumSquare", "ReduceLogSumExp"])
@pytest.mark.parametrize("opset", [11, 18])
def test_reduce(op, opset):
    if opset < 18 and not (op == "ReduceSum" and opset >= 13):
        m = unary_model(op, [2, 3, 4, 5], opset=opset, axes=[1, -1], keepdims=0)
    else:
        m = model([helper.make_node(op, ["x", "ax"], ["y"], keepdims=1)], [("x", F, [2, 3, 4, 5])],
                  [("y", F, None)], {"ax": np.array([1, -1], np.int64)}, opset=opset)
    check(m, {"x": rand(2, 3, 4, 5) * 0.5})


def test_gather_cast():
    m = model([helper.make_node("Gather", ["x", "i"], ["g"], axis=2),
               helper.make_node("Cast", ["g"], ["c"], to=TensorProto.INT32),
               helper.make_node("Cast", ["c"], ["y"], to=TensorProto.FLOAT)],
              [("x", F, [2, 3, 6])], [("y", F, None)], {"i": np.array([[5, -1], [0, 2]], np.int64)})
    check(m, {"x": rand(2, 3, 6) * 4})


@pytest.mark.parametrize("mode,ct,nm", [("nearest", "asymmetric", "floor"), ("nearest", "half_pixel", "round_prefer_ceil"),
                                        ("linear", "half_pixel", None), ("linear", "align_corners", None),
                                        ("linear", "pytorch_half_pixel", None)])
def test_resize(mode, ct, nm):
    kw = dict(mode=mode, coordinate_transformation_mode=ct)
    if nm:
        kw["nearest_mode"] = nm
    m = model([helper.make_node("Resize", ["x", "", "s"], ["y"], **kw)], [("x", F, [2, 3, 4, 5])], [("y", F, None)],
              {"s": np.array([1, 1, 2.0, 1.5], np.float32)})
    check(m, {"x": rand(2, 3, 4, 5)})


def test_resize_sizes_and_upsample():
    m = model([helper.make_node("Resize", ["x", "", "", "sz"], ["y"], mode="linear")], [("x", F, [2, 3, 4, 5])],
              [("y", F, None)], {"sz": np.array([2, 3, 7, 3], np.int64)})
    check(m, {"x": rand(2, 3, 4, 5)})
    m = model([helper.make_node("Upsample", ["x", "s"], ["y"], mode="nearest")], [("x", F, [2, 3, 4, 5])],
              [("y", F, None)], {"s": np.array([1, 1, 2, 3], np.float32)}, opset=9)
    check(m, {"x": rand(2, 3, 4, 5)})


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_depth_to_space_space_to_depth(mode):
    m = model([helper.make_node("DepthToSpace", ["x"], ["d"], blocksize=2, mode=mode),
               helper.make_node("SpaceToDepth", ["d"], ["y"], blocksize=2)],
              [("x", F, [2, 8, 3, 5])], [("y", F, None), ("d", F, None)])
    check(m, {"x": rand(2, 8, 3, 5)})


def test_expand_tile_dropout():
    m = model([helper.make_node("Expand", ["x", "s"], ["e"]), helper.make_node("Tile", ["e", "r"], ["t"]),
               helper.make_node("Dropout", ["t"], ["y"])],
              [("x", F, [2, 3, 1])], [("y", F, None)],
              {"s": np.array([1, 3, 4], np.int64), "r": np.array([1, 2, 3], np.int64)})
    check(m, {"x": rand(2, 3, 1)})


# ---- folding and dynamic batch -------------------------------------------------------------------

def _shape_subgraph_model():
    # y = Reshape(x, Concat(Shape(x)[0:1], [-1])) -- the typical exported flatten, with a symbolic batch
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["r"]),
             helper.make_node("Shape", ["r"], ["rs"]),
             helper.make_node("Slice", ["rs", "one", "two"], ["last"]),
             helper.make_node("Cast", ["last"], ["lastf"], to=TensorProto.FLOAT),
             helper.make_node("Div", ["r", "lastf"], ["y"])]
    return model(nodes, [("x", F, ["batch", 3, 4, 5])], [("y", F, ["batch", 60])],
                 {"zero": np.array(0, np.int64), "ax0": np.array([0], np.int64), "minus1": np.array([-1], np.int64),
                  "one": np.array([1], np.int64), "two": np.array([2], np.int64)})


def test_shape_subgraph_folding_dynamic_batch():
    m = _shape_subgraph_model()
    builder = gie.Builder()
    net = gie.OnnxParser(builder=builder).parse(m)
    types = [l.type for l in net.layers]
    assert "Gather" not in types and "Concatenation" not in types, types
    cfg = builder.create_config()
    cfg.device = "cpu"
    cfg.max_batch = 3
    ctx = builder.build(net, cfg).create_execution_context()
    for b in (1, 3):
        x = rand(b, 3, 4, 5)
        assert_close(ctx.execute({"x": x})["y"], ort_run(m, {"x": x})[0], rtol=1e-5)


def test_fold_only_ops_on_known_values():
    # Range / ConstantOfShape / Where / ArgMax have no gie layer, but fold when their inputs are known.
    nodes = [helper.make_node("Range", ["s0", "s1", "s2"], ["r"]),
             helper.make_node("Cast", ["r"], ["rf"], to=TensorProto.FLOAT),
             helper.make_node("Shape", ["x"], ["shp"]),
             helper.make_node("Slice", ["shp", "one", "two"], ["c"]),
             helper.make_node("ConstantOfShape", ["c"], ["ones"], value=numpy_helper.from_array(np.ones(1, np.float32))),
             helper.make_node("Greater", ["rf", "thr"], ["mask"]),
             helper.make_node("Where", ["mask", "rf", "ones"], ["w"]),
             helper.make_node("Mul", ["x", "w"], ["y"])]
    m = model(nodes, [("x", F, ["N", 4])], [("y", F, ["N", 4])],
              {"s0": np.array(0, np.int64), "s1": np.array(4, np.int64), "s2": np.array(1, np.int64),
               "one": np.array([1], np.int64), "two": np.array([2], np.int64), "thr": np.float32(1.5)})
    net = gie.OnnxParser().parse(m)
    assert [l.type for l in net.layers].count("ElementWise") == 1
    check(m, {"x": rand(3, 4)}, max_batch=3)


def test_opset_below_7_rejected():
    m = unary_model("Relu", [1, 2], opset=6)
    with pytest.raises(gie.UnsupportedError, match="opset 6"):
        gie.OnnxParser(check=False).parse(m)


# ---- model zoo twins -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def onnx_export():
    bench = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench")
    sys.path.insert(0, bench)
    try:
        import onnx_export as mod
    finally:
        sys.path.remove(bench)
    return mod


@pytest.mark.parametrize("name,image", [("resnet50", 64), ("googlenet", 224), ("yolov2", 96)])
def test_model_zoo_twins(onnx_export, name, image):
    from gie import model_zoo
    spec = model_zoo.describe(name, seed=0, image=image)
    out = spec.outputs[0]
    m = onnx_export.to_onnx(spec, outputs=[out], check=False)
    builder = gie.Builder()
    net = gie.OnnxParser(builder=builder, check=False).parse(m)
    cfg = builder.create_config()
    cfg.device = "cpu"
    cfg.max_batch = 4
    ctx = builder.build(net, cfg).create_execution_context()
    sess = onnx_export.ort_session(m, threads=2)
    for b in (1, 4):
        x = np.random.default_rng(b).random((b,) + tuple(spec.input_shape), dtype=np.float32)
        got = ctx.execute({spec.input_name: x})[out]
        ref = sess.run(None, {spec.input_name: x})[0]
        assert got.shape == ref.shape
        rel = np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-30)
        assert rel <= 1e-4, f"{name} batch {b}: max rel err {rel:.3g}"


# ---- errors --------------------------------------------------------------------------------------

def test_unsupported_ops_all_listed():
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="r"),
             helper.make_node("NonMaxSuppression", ["a", "a"], ["b"], name="nms"),
             helper.make_node("Hardmax", ["a"], ["c"], name="hm"),
             helper.make_node("Conv", ["x", "w"], ["d"], name="conv3d"),
             helper.make_node("Add", ["c", "d"], ["y"], name="add")]
    m = model(nodes, [("x", F, [1, 2, 3, 4, 5])], [("y", F, None)], {"w": rand(2, 2, 1, 1, 1)})
    with pytest.raises(gie.UnsupportedError) as e:
        gie.OnnxParser(check=False).parse(m)
    msg = str(e.value)
    for frag in ("'nms' NonMaxSuppression", "'hm' Hardmax", "'conv3d' Conv", "opset 17"):
        assert frag in msg, msg
    assert "'add'" not in msg


def test_dangling_input_and_cycle():
    m = model([helper.make_node("Relu", ["nowhere"], ["y"], name="bad_relu")], [("x", F, [1, 2])], [("y", F, None)])
    with pytest.raises(gie.InvalidModelError, match="bad_relu"):
        gie.OnnxParser().parse(m)
    m = model([helper.make_node("Add", ["x", "b"], ["a"], name="n1"), helper.make_node("Relu", ["a"], ["b"], name="n2")],
              [("x", F, [1, 2])], [("b", F, None)])
    with pytest.raises(gie.InvalidModelError, match="cycle.*'n[12]'"):
        gie.OnnxParser().parse(m)


def test_checker_failure_is_invalid_model():
    m = model([helper.make_node("Relu", ["x"], ["y"], name="r", bogus_attr=3)], [("x", F, [1, 2])], [("y", F, None)])
    with pytest.raises(gie.InvalidModelError):
        gie.OnnxParser().parse(m)
    with pytest.raises(gie.InvalidModelError):
        gie.OnnxParser().parse(42)


def _external_model(tmp_path, location, write_to=None):
    w = rand(4, 3)
    t = numpy_helper.from_array(w, "w")
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", str(w.nbytes))):
        e = t.external_data.add()
        e.key, e.value = k, v
    if write_to is not None:
        write_to.parent.mkdir(parents=True, exist_ok=True)
        write_to.write_bytes(w.tobytes())
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "ext",
                          [helper.make_tensor_value_info("x", F, [2, 4])], [helper.make_tensor_value_info("y", F, [2, 3])],
                          initializer=[t])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    d = tmp_path / "model"
    d.mkdir(exist_ok=True)
    path = d / "m.onnx"
    path.write_bytes(m.SerializeToString())
    return path, w


def test_external_data_inside_dir(tmp_path):
    path, w = _external_model(tmp_path, "weights/w.bin", tmp_path / "model" / "weights" / "w.bin")
    builder = gie.Builder()
    net = gie.parse(str(path), builder=builder)
    cfg = builder.create_config()
    cfg.device = "cpu"
    cfg.max_batch = 2
    x = rand(2, 4)
    assert_close(builder.build(net, cfg).create_execution_context().execute({"x": x})["y"], x @ w, rtol=1e-5)


def test_external_data_escapes_refused(tmp_path):
    outside = tmp_path / "secret.bin"
    path, _ = _external_model(tmp_path, str(outside), outside)
    with pytest.raises(gie.InvalidModelError, match="secret.bin"):
        gie.OnnxParser().parse(str(path))
    path, _ = _external_model(tmp_path, "../secret.bin")
    with pytest.raises(gie.InvalidModelError, match=r"\.\./secret.bin"):
        gie.OnnxParser().parse(str(path))
    link = tmp_path / "model" / "link.bin"
    link.symlink_to(outside)
    path, _ = _external_model(tmp_path, "link.bin")
    with pytest.raises(gie.InvalidModelError, match="link.bin"):
        gie.OnnxParser().parse(str(path))


# ---- plugin fallback -----------------------------------------------------------------------------

PLUGIN_SCRIPT = r"""
import sys
import numpy as np
import onnx
from onnx import helper
import gie

gie.load_library(sys.argv[1])
node = helper.make_node("LeakyClip", ["x"], ["y"], name="lc", domain="my.ops", lo=-1.0, hi=0.5, slope=0.1)
g = helper.make_graph([helper.make_node("Relu", ["x0"], ["x"]), node, helper.make_node("Neg", ["y"], ["z"])], "p",
                      [helper.make_tensor_value_info("x0", 1, ["N", 3, 4])],
                      [helper.make_tensor_value_info("z", 1, ["N", 3, 4])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("my.ops", 1)])
m.ir_version = 8
builder = gie.Builder()
net = gie.OnnxParser(builder=builder).parse(m)
assert "LeakyClip" in [l.type for l in net.layers]
cfg = builder.create_config()
cfg.device = "cpu"
cfg.max_batch = 2
x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32) * 2
r = np.maximum(x, 0)
ref = -np.where(r < -1, -1 + 0.1 * (r + 1), np.where(r > 0.5, 0.5 + 0.1 * (r - 0.5), r))
got = builder.build(net, cfg).create_execution_context().execute({"x0": x})["z"]
assert np.allclose(got, ref, rtol=1e-5, atol=1e-6), (got, ref)
print("ok")
"""


def test_plugin_fallback(tmp_path):
    """A node whose op type names a registered plugin creator becomes that plugin, attributes as fields.
    Runs in a subprocess: a creator can be registered once per process and tests/test_plugins.py loads
    the same sample library."""
    import shutil
    import subprocess
    cxx = next((shutil.which(c) for c in (os.environ.get("CXX"), "c++", "g++") if c and shutil.which(c)), None)
    if cxx is None:
        pytest.skip("no C++ compiler")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    lib = tmp_path / "libleaky_clip.so"
    subprocess.run([cxx, "-std=c++17", "-O1", "-shared", "-fPIC", f"-I{gie.include_dir()}",
                    os.path.join(repo, "samples", "plugin", "leaky_clip_plugin.cpp"), f"-L{gie.library_dir()}",
                    "-lgie", f"-Wl,-rpath,{gie.library_dir()}", "-o", str(lib)], check=True)
    script = tmp_path / "run.py"
    script.write_text(PLUGIN_SCRIPT)
    res = subprocess.run([sys.executable, str(script), str(lib)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "ok" in res.stdout, res.stdout + res.stderr


# ---- what the ONNX spec forbids is refused at import, naming the node (issue 11 items 7-9) ----------------

I64 = TensorProto.INT64


@pytest.mark.parametrize("index", [2**32 + 5, 2**62, -2**40, 8, -9])
def test_gather_constant_index_out_of_range_refused(index):
    # As int32 (gie's index type) 2**32 + 5 would read element 5 and 2**62 element 0.
    m = model([helper.make_node("Gather", ["x", "i"], ["y"], axis=1, name="g")], [("x", F, [1, 8])], [("y", F, None)],
              {"i": np.array([0, index], np.int64)})
    with pytest.raises(gie.InvalidModelError, match=rf"node 'g' \(Gather\): index {index} is out of range \[-8, 7\]"):
        gie.OnnxParser().parse(m)


def test_gather_constant_indices_in_range_and_folded_out_of_range():
    m = model([helper.make_node("Gather", ["x", "i"], ["y"], axis=1, name="g")], [("x", F, [2, 8])], [("y", F, None)],
              {"i": np.array([[7, -8], [0, -1]], np.int64)})
    check(m, {"x": rand(2, 8)})
    # both inputs known: the node would be folded, and is refused the same way
    m = model([helper.make_node("Gather", ["c", "i"], ["k"], axis=0, name="gf"),
               helper.make_node("Add", ["x", "k"], ["y"])], [("x", F, [1, 1])], [("y", F, None)],
              {"c": np.arange(4, dtype=np.float32), "i": np.array([2**32 + 1], np.int64)})
    with pytest.raises(gie.InvalidModelError, match=r"node 'gf' \(Gather\): index 4294967297 is out of range"):
        gie.OnnxParser().parse(m)


def test_gather_run_time_index_out_of_range_names_the_layer():
    m = model([helper.make_node("Gather", ["x", "i"], ["y"], axis=1, name="g")],
              [("x", F, ["N", 8]), ("i", TensorProto.INT32, ["N", 2])], [("y", F, None)])
    x = rand(1, 8)
    assert_close(gie_run(m, {"x": x, "i": np.array([[7, -8]], np.int32)})[0], x[:, [[7, 0]]].reshape(1, 1, 2))
    with pytest.raises(gie.InvalidArgumentError, match=r"kernel 'g' \(Gather\) failed: Gather: index 8 .*out of range"):
        gie_run(m, {"x": x, "i": np.array([[8, 0]], np.int32)})


@pytest.mark.parametrize("dim", [10**9, 2**31, 2**32 + 16])
@pytest.mark.parametrize("lead", [[-1], [0], []])
def test_reshape_huge_target_dimension_refused(dim, lead):
    # Such a value used to be taken for a batch multiple and became -1.
    m = model([helper.make_node("Reshape", ["x", "s"], ["y"], name="r")], [("x", F, ["N", 2, 4])], [("y", F, None)],
              {"s": np.array(lead + [dim], np.int64)})
    with pytest.raises(gie.InvalidModelError, match=rf"node 'r' \(Reshape\): cannot reshape the input \(1, 2, 4\) "
                                                    rf"\(8 elements\) to \[.*{dim}\]"):
        gie.OnnxParser().parse(m)


@pytest.mark.parametrize("target,allowzero,pattern", [
    ([1, 9], 0, "the target has 9 elements"), ([-1, -1], 0, "more than one -1"), ([2, -2, 2], 0, "dimension 1 is -2"),
    ([0, 0, 0, 0], 0, "dimension 3 is 0 \\(copy\\)"), ([0, 8], 1, "the target has 0 elements"),
    ([0, -1], 1, "both 0 and -1")])
def test_reshape_target_against_the_spec(target, allowzero, pattern):
    m = model([helper.make_node("Reshape", ["x", "s"], ["y"], name="r", allowzero=allowzero)],
              [("x", F, [1, 2, 4])], [("y", F, None)], {"s": np.array(target, np.int64)}, opset=14)
    with pytest.raises(gie.InvalidModelError, match="node 'r' \\(Reshape\\): .*" + pattern):
        gie.OnnxParser().parse(m)


def test_reshape_valid_targets_still_import():
    for target in ([0, -1], [1, 8], [-1, 2, 2, 2], [0, 0, 2, 2]):
        m = model([helper.make_node("Reshape", ["x", "s"], ["y"])], [("x", F, [1, 2, 4])], [("y", F, None)],
                  {"s": np.array(target, np.int64)})
        check(m, {"x": rand(1, 2, 4)})


def test_empty_name_for_a_required_input_refused():
    # An empty name means "absent": Concat used to drop it silently.
    m = model([helper.make_node("Concat", ["x", "", "x"], ["y"], axis=1, name="c")], [("x", F, [1, 2])],
              [("y", F, None)])
    with pytest.raises(gie.InvalidModelError, match=r"node 'c' \(Concat\): input 1 \('inputs'\) is required, but its "
                                                    r"name is empty"):
        gie.OnnxParser().parse(m)
    m = model([helper.make_node("Sum", ["x", ""], ["y"], name="s")], [("x", F, [1, 2])], [("y", F, None)])
    with pytest.raises(gie.InvalidModelError, match=r"node 's' \(Sum\): input 1"):
        gie.OnnxParser().parse(m)
    # a single required input, with the checker off (the checker catches that one itself)
    m = model([helper.make_node("Add", ["x", ""], ["y"], name="a")], [("x", F, [1, 2])], [("y", F, [1, 2])])
    with pytest.raises(gie.InvalidModelError, match=r"node 'a' \(Add\): input 1 \('B'\)"):
        gie.OnnxParser(check=False).parse(m)
    # optional inputs may be empty: Clip without min
    m = model([helper.make_node("Clip", ["x", "", "hi"], ["y"])], [("x", F, [1, 4])], [("y", F, None)],
              {"hi": np.float32(0.5)})
    check(m, {"x": rand(1, 4)})


# ---- shape arithmetic with the batch never becomes a batch-sized constant (issue 11 item 11) --------------

def _vit_like(dim):
    """A vision-transformer front end as torch exports it with a dynamic batch: patch embedding, the class
    token expanded to the batch (Shape -> Gather -> Concat -> Where -> Expand), position embeddings, zeros of
    the token shape (ConstantOfShape of Shape), a (batch*17, dim) flatten through Mul(batch, 17), a
    per-head reshape and a class-token head. Folding the batch sentinel (1000003) into constants makes
    1000003 x 17 x dim tensors."""
    nodes = [
        helper.make_node("Conv", ["x", "pw"], ["pe"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("Shape", ["x"], ["xs"]),
        helper.make_node("Gather", ["xs", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
        helper.make_node("Concat", ["n1", "cD", "m1"], ["s_flat"], axis=0),
        helper.make_node("Reshape", ["pe", "s_flat"], ["pf"]),
        helper.make_node("Transpose", ["pf"], ["tok"], perm=[0, 2, 1]),
        helper.make_node("Concat", ["n1", "m1", "m1"], ["s_cls"], axis=0),
        helper.make_node("ConstantOfShape", ["three"], ["ones3"], value=numpy_helper.from_array(np.ones(1, np.int64))),
        helper.make_node("Equal", ["s_cls", "m1"], ["eq"]),
        helper.make_node("Where", ["eq", "ones3", "s_cls"], ["s_exp"]),
        helper.make_node("Expand", ["cls", "s_exp"], ["cls_b"]),
        helper.make_node("Concat", ["cls_b", "tok"], ["t0"], axis=1),
        helper.make_node("Add", ["t0", "pos"], ["t1"]),
        helper.make_node("Shape", ["t1"], ["ts"]),
        helper.make_node("ConstantOfShape", ["ts"], ["z"], value=numpy_helper.from_array(np.zeros(1, np.float32))),
        helper.make_node("Add", ["t1", "z"], ["t2"]),
        helper.make_node("Mul", ["n1", "c17"], ["n17"]),
        helper.make_node("Concat", ["n17", "cD"], ["s2d"], axis=0),
        helper.make_node("Reshape", ["t2", "s2d"], ["flat"]),
        helper.make_node("MatMul", ["flat", "wq"], ["q"]),
        helper.make_node("Concat", ["n1", "c17", "cH", "cDh"], ["s4"], axis=0),
        helper.make_node("Reshape", ["q", "s4"], ["q4"]),
        helper.make_node("Transpose", ["q4"], ["q4t"], perm=[0, 2, 1, 3]),
        helper.make_node("Transpose", ["q4t"], ["q4b"], perm=[0, 2, 1, 3]),
        helper.make_node("Concat", ["n1", "c17", "cD"], ["s3"], axis=0),
        helper.make_node("Reshape", ["q4b", "s3"], ["t3"]),
        helper.make_node("Gather", ["t3", "zero"], ["clsout"], axis=1),
        helper.make_node("Gemm", ["clsout", "hw"], ["y"], transB=1),
    ]
    rng = np.random.default_rng(0)
    inits = {"pw": rng.standard_normal((dim, 3, 8, 8)).astype(np.float32) * 0.1, "zero": np.array(0, np.int64),
             "ax0": np.array([0], np.int64), "cD": np.array([dim], np.int64), "m1": np.array([-1], np.int64),
             "three": np.array([3], np.int64), "cls": rng.standard_normal((1, 1, dim)).astype(np.float32),
             "pos": rng.standard_normal((1, 17, dim)).astype(np.float32), "c17": np.array([17], np.int64),
             "wq": (rng.standard_normal((dim, dim)) / np.sqrt(dim)).astype(np.float32), "cH": np.array([2], np.int64),
             "cDh": np.array([dim // 2], np.int64), "hw": rng.standard_normal((10, dim)).astype(np.float32)}
    return model(nodes, [("x", F, ["N", 3, 32, 32])], [("y", F, ["N", 10])], inits)


@pytest.mark.parametrize("dim", [16, 768])
def test_vit_dynamic_batch_shape_folding_bounded_memory(tmp_path, dim):
    # With dim 768 (ViT-B) a folded batch-sized constant is 1000003 x 17 x 768 floats (52 GB), the expanded
    # class token alone 3 GB. The constants that follow the batch become run-time tensors instead (Gather of
    # the constant by batch zeros).
    m = _vit_like(dim)
    x = rand(3, 3, 32, 32)
    out = import_in_child(tmp_path, m, x, limit_mib=1024)
    assert "error" not in out, out
    assert out["peak"] < 256 << 20, f"the import allocated {out['peak'] >> 20} MiB at its peak"
    assert out["largest"] < 1000003, f"a layer has {out['largest']} elements (a batch-sized constant)"
    assert_close(np.array(out["y1"], np.float32), ort_run(m, {"x": x[:1]})[0], rtol=1e-4, atol=1e-4, what="batch 1")
    assert_close(np.array(out["y3"], np.float32), ort_run(m, {"x": x})[0], rtol=1e-4, atol=1e-4, what="batch 3")


def test_fold_limit_refuses_huge_constants(tmp_path):
    # A small shape turned into a huge constant is not folded: ConstantOfShape has no run-time layer, so the
    # node is reported (it used to allocate 4 GB).
    m = model([helper.make_node("ConstantOfShape", ["s"], ["c"], name="big"),
               helper.make_node("Add", ["x", "c"], ["y"])], [("x", F, ["N", 1])], [("y", F, None)],
              {"s": np.array([1, 1 << 15, 1 << 15], np.int64)})
    out = import_in_child(tmp_path, m, rand(3, 1), limit_mib=1024)
    assert out.get("error") == "UnsupportedError", out
    assert "'big' ConstantOfShape (opset 17): folding output 'c' would make a constant of shape (1, 32768, 32768) " \
           "(1073741824 elements" in out["message"], out["message"]


# ---- importer gaps (issue 11 item 17) ------------------------------------------------------------------

@pytest.mark.parametrize("opset", [9, 13])
@pytest.mark.parametrize("mask_used", [False, True])
def test_dropout_with_mask_output(opset, mask_used):
    nodes = [helper.make_node("Dropout", ["x"], ["y", "mask"], name="do")]
    outputs = [("y", F, None)]
    if mask_used:
        outputs.append(("mask", F if opset < 10 else TensorProto.BOOL, None))
    m = model(nodes, [("x", F, ["N", 4])], outputs, opset=opset)
    if mask_used and opset < 10:  # a float mask: onnxruntime gives zeros, the ONNX reference ones
        with pytest.raises(gie.UnsupportedError, match=r"'do' Dropout \(opset 9\): the mask output"):
            gie.OnnxParser().parse(m)
        return
    got = gie_run(m, {"x": rand(2, 4)})
    ref = ort_run(m, {"x": got[0]})
    assert_close(got[0], ref[0])
    if mask_used:
        assert got[1].shape == (2, 4) and got[1].all() and (got[1] == ref[1]).all()


@pytest.mark.parametrize("hw,pads,ceil", [(5, [1, 1, 1, 1], 0), (6, [1, 0, 0, 1], 0), (1, [3, 3, 3, 3], 0),
                                          (2, [1, 1, 1, 1], 1)])
def test_pool_window_fits_only_with_padding(hw, pads, ceil):
    k = 3 if hw == 2 else 7
    for op in ("AveragePool", "MaxPool"):
        m = model([helper.make_node(op, ["x"], ["y"], kernel_shape=[k, k], pads=pads, ceil_mode=ceil)],
                  [("x", F, ["N", 2, hw, hw])], [("y", F, None)])
        check(m, {"x": rand(2, 2, hw, hw)})


def test_pool_window_larger_than_padded_input_quotes_the_padded_shape():
    m = model([helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[7, 7], pads=[1, 1, 0, 0], name="ap")],
              [("x", F, [1, 2, 5, 5])], [("y", F, [1, 2, 1, 1])])
    with pytest.raises(gie.InvalidModelError, match=r"node 'ap' \(AveragePool\): pooling window \(7, 7\) is larger "
                                                    r"than the padded input \(6, 6\) \(input \(5, 5\)"):
        gie.OnnxParser(check=False).parse(m)
