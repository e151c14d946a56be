"""The ONNX importer is the C++ one (gie/onnx_parser.h): importing needs no onnx package, and the op list the
Python side reports comes from C++."""
import os
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import gie  # noqa: E402
from gie.parsers.onnx_parser import supported_ops  # noqa: E402

SCRIPT = r"""
import sys
sys.modules["onnx"] = None          # importing onnx now raises ImportError
import numpy as np
import gie
builder = gie.Builder()
net = gie.parse(sys.argv[1], builder=builder)
cfg = builder.create_config()
cfg.device = "cpu"
cfg.max_batch = 3
x = np.arange(3 * 6, dtype=np.float32).reshape(3, 6) - 8
y = builder.build(net, cfg).create_execution_context().execute({"x": x})["y"]
np.save(sys.argv[2], y)
"""


def test_import_without_the_onnx_package(tmp_path):
    # dynamic batch + a shape subgraph that must fold (Shape -> Gather -> Unsqueeze -> Concat -> Reshape)
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Gather", ["s", "zero"], ["b"], axis=0),
             helper.make_node("Unsqueeze", ["b", "axes"], ["b1"]),
             helper.make_node("Concat", ["b1", "dims"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["r"]), helper.make_node("Relu", ["r"], ["y"])]
    inits = [numpy_helper.from_array(np.array(0, np.int64), "zero"), numpy_helper.from_array(np.array([0], np.int64), "axes"),
             numpy_helper.from_array(np.array([2, 3], np.int64), "dims")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 3])], inits)
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    out = tmp_path / "y.npy"
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(path), str(out)], capture_output=True, text=True,
                       env=dict(os.environ), timeout=120)
    assert r.returncode == 0, r.stderr
    x = np.arange(3 * 6, dtype=np.float32).reshape(3, 6) - 8
    np.testing.assert_array_equal(np.load(out), np.maximum(x, 0).reshape(3, 2, 3))


def test_supported_ops_come_from_the_cpp_importer():
    ops = supported_ops()
    assert {"Conv", "Shape", "Constant", "Range", "Reshape"} <= ops
    assert "NoSuchOp" not in ops


def test_unsupported_nodes_listed_at_once_with_plugin_fallback_off():
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="r1"), helper.make_node("Relu", ["a"], ["y"], name="r2")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    gie.OnnxParser(plugin_fallback=False).parse(m)  # built-in op: no plugin needed
    m.graph.node[0].op_type = "NoSuchOpA"
    m.graph.node[1].op_type = "NoSuchOpB"
    with pytest.raises(gie.UnsupportedError, match=r"2 ONNX node\(s\)(.|\n)*'r1' NoSuchOpA(.|\n)*'r2' NoSuchOpB"):
        gie.OnnxParser(check=False, plugin_fallback=False).parse(m)


def test_folded_node_without_outputs_is_harmless():
    # Found by scripts/fuzz.sh onnx (UBSan): folding a node that names no output read past an empty output list.
    # A release build reads garbage without crashing, so the sanitizer run over tests/fuzz_corpus/onnx
    # (crash_fold_no_outputs.onnx) is what fails without the fix; this checks the import itself.
    i = [numpy_helper.from_array(np.array([1, 2], np.int64), "a"), numpy_helper.from_array(np.array([3], np.int64), "b")]
    nodes = [helper.make_node("Concat", ["a", "b"], [], axis=0), helper.make_node("Relu", ["x"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], i)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    net = gie.OnnxParser(check=False).parse(m)
    assert net.num_outputs == 1



_FOLDS = [  # (op, inputs as numpy arrays, attributes): ops imported only when their inputs are known
    ("ArgMax", [np.array([[1, 5, 5], [7, 0, 7]], np.float32)], {"axis": 1}),
    ("ArgMin", [np.array([[1, 5, 1], [7, 0, 0]], np.float32)], {"axis": 1, "keepdims": 0, "select_last_index": 1}),
    ("IsNaN", [np.array([1, np.nan, np.inf], np.float32)], {}),
    ("IsInf", [np.array([1, -np.inf, np.inf, np.nan], np.float32)], {"detect_negative": 0}),
    ("NonZero", [np.array([[0, 2, 0], [3, 0, 4]], np.int64)], {}),
    ("Trilu", [np.arange(12, dtype=np.float32).reshape(3, 4), np.array(1, np.int64)], {"upper": 0}),
    ("CumSum", [np.arange(6, dtype=np.float32).reshape(2, 3), np.array(1, np.int64)], {"exclusive": 1, "reverse": 1}),
    ("EyeLike", [np.zeros((3, 4), np.float32)], {"k": 1}),
    ("BitShift", [np.array([16, 4, 1], np.uint32), np.array([1, 2, 3], np.uint32)], {"direction": "RIGHT"}),
    ("TopK", [np.array([[3, 1, 3, 2], [0, 9, 8, 9]], np.float32), np.array([2], np.int64)], {"axis": 1}),
    ("GatherElements", [np.array([[1, 2], [3, 4]], np.float32), np.array([[0, 0], [1, 0]], np.int64)], {"axis": 1}),
    ("GatherElements", [np.arange(12, dtype=np.float32).reshape(3, 4), np.array([[-1, 0, -3, 2], [2, -2, 1, -1]], np.int64)], {}),
    ("OneHot", [np.array([0, 2, -1], np.int64), np.array(3, np.int64), np.array([0, 5], np.float32)], {"axis": -1}),
    ("Range", [np.array(1, np.int64), np.array(10, np.int64), np.array(3, np.int64)], {}),
    ("Where", [np.array([True, False]), np.array([1, 2], np.float32), np.array([3, 4], np.float32)], {}),
]


@pytest.mark.parametrize("op,ins,attrs", _FOLDS, ids=[f[0] for f in _FOLDS])
def test_known_inputs_fold_like_the_onnx_reference(op, ins, attrs):
    from onnx.reference import ReferenceEvaluator
    names = [f"i{k}" for k in range(len(ins))]
    outs = ["o0", "o1"] if op == "TopK" else ["o0"]
    node = helper.make_node(op, names, outs, **attrs)
    inits = [numpy_helper.from_array(v, n) for v, n in zip(ins, names)]
    g = helper.make_graph([node, helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])] +
                          [helper.make_empty_tensor_value_info(o) for o in outs], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    expected = ReferenceEvaluator(m).run(None, {"x": np.zeros((1, 2), np.float32)})[1:]
    builder = gie.Builder()
    net = gie.OnnxParser(builder=builder, check=False).parse(m)
    assert op not in {layer.type for layer in net.layers}
    cfg = builder.create_config()
    cfg.device = "cpu"
    got = builder.build(net, cfg).create_execution_context().execute({"x": np.zeros((1, 2), np.float32)})
    for o, e in zip(outs, expected):
        np.testing.assert_array_equal(got[o], np.asarray(e).astype(got[o].dtype), err_msg=f"{op} output {o}")


def test_dangling_input_beats_the_checker_with_external_data(tmp_path):
    # test_onnx_fuzz found it: the importer refused a node reading an undefined name, the wrapper then ran
    # onnx.checker, whose loader raised a non-gie ValidationError for the (missing) external data file.
    w = numpy_helper.from_array(np.ones((3, 2, 1, 1), np.float32), "w")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "weights.bin"), ("offset", "0"), ("length", "24")):
        e = w.external_data.add()
        e.key, e.value = k, v
    node = helper.make_node("Conv", ["x", "w", "nope"], ["y"], name="conv_ext", kernel_shape=[1, 1])
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    path = tmp_path / "model.onnx"
    path.write_bytes(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())
    with pytest.raises(gie.InvalidModelError, match="reads 'nope'"):
        gie.OnnxParser().parse(str(path))


@pytest.mark.parametrize("op,inputs", [("Pow", ["x"]), ("Mod", ["x"]), ("GreaterOrEqual", ["x"]), ("MatMul", ["x"])])
def test_missing_inputs_are_invalid_models(op, inputs):
    # A converter that reads input 1 of a node that has one must refuse the model, not read out of range.
    g = helper.make_graph([helper.make_node(op, inputs, ["y"], name="n")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(gie.InvalidModelError, match=rf"node 'n' \({op}\)"):
        gie.OnnxParser(check=False).parse(m)


@pytest.mark.parametrize("op", ["Pad", "Slice", "Resize"])
def test_rank0_constant_tensors_refused_not_crashed(op):
    # test_onnx_fuzz found it (a segfault): Pad of a folded scalar indexed dimension 0 of a rank-0 tensor.
    # The scalar comes from Shape -> Gather (folded), so the op sees a rank-0 Constant layer.
    inits = [numpy_helper.from_array(np.array(0, np.int64), "i0"), numpy_helper.from_array(np.array([1, 1], np.int64), "p"),
             numpy_helper.from_array(np.array([0], np.int64), "st"), numpy_helper.from_array(np.array([1], np.int64), "en"),
             numpy_helper.from_array(np.array([], np.float32), "roi"), numpy_helper.from_array(np.array([2.0], np.float32), "sc")]
    second = {"Pad": ["s0", "p"], "Slice": ["s0", "st", "en"], "Resize": ["s0", "roi", "sc"]}[op]
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Gather", ["s", "i0"], ["s0"], axis=0),
             helper.make_node("Relu", ["x"], ["r"]), helper.make_node(op, second, ["y"], name="n")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                           helper.make_tensor_value_info("r", TensorProto.FLOAT, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(gie.Error):
        gie.OnnxParser(check=False).parse(m)


def test_slice_with_a_huge_step():
    # scripts/fuzz.sh onnx (UBSan) found it: the element count of a slice overflowed for a step near 2^63.
    inits = [numpy_helper.from_array(np.array(v, np.int64), n)
             for v, n in (([0], "st"), ([6], "en"), ([1], "ax"), ([2 ** 63 - 1], "sp"))]
    node = helper.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["y"], name="s")
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    builder = gie.Builder()
    net = gie.OnnxParser(builder=builder, check=False).parse(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]))
    cfg = builder.create_config()
    cfg.device = "cpu"
    x = np.arange(6, dtype=np.float32).reshape(1, 6)
    np.testing.assert_array_equal(builder.build(net, cfg).create_execution_context().execute({"x": x})["y"], x[:, :1])


def test_plugin_tensor_attribute_without_a_tensor():
    # scripts/fuzz.sh onnx found it: a TENSOR attribute with no tensor, handed to a plugin, was a null dereference.
    node = helper.make_node("Identity", ["x"], ["y"], name="p", domain="my.domain")
    a = node.attribute.add()
    a.name, a.type = "w", onnx.AttributeProto.TENSOR
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("my.domain", 1)])
    with pytest.raises(gie.InvalidModelError, match="tensor attribute 'w' holds no tensor"):
        gie.OnnxParser(check=False).parse(m)


def _ssa_model(nodes, inputs=("x",), inits=()):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(i, TensorProto.FLOAT, [1, 4]) for i in inputs],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                          [numpy_helper.from_array(np.full((1, 4), v, np.float32), n) for n, v in inits])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


_R = helper.make_node


@pytest.mark.parametrize("model,message", [
    (_ssa_model([_R("Relu", ["x"], ["y"], name="a"), _R("Sigmoid", ["x"], ["y"], name="b")]),
     r"node 'b' \(Sigmoid\) writes 'y', which node 'a' \(Relu\) already writes"),
    (_ssa_model([_R("Split", ["x"], ["y", "y"], name="s", axis=1)]), r"node 's' \(Split\) writes 'y', which it already"),
    (_ssa_model([_R("Relu", ["x"], ["x"], name="r"), _R("Relu", ["x"], ["y"])]),
     r"node 'r' \(Relu\) writes 'x', which is already a graph input"),
    (_ssa_model([_R("Relu", ["x"], ["w"]), _R("Add", ["x", "w"], ["y"])], inits=[("w", 1.0)]),
     r"node 'Relu' \(Relu\) writes 'w', which is already a graph initializer"),
    (_ssa_model([_R("Relu", ["x"], ["y"])], inputs=("x", "x")), r"graph input 'x' is declared twice"),
    (_ssa_model([_R("Add", ["x", "w"], ["y"])], inits=[("w", 1.0), ("w", 2.0)]), r"initializer 'w' is defined twice"),
], ids=["two_producers", "one_node_twice", "writes_an_input", "writes_an_initializer", "input_twice",
        "initializer_twice"])
def test_a_tensor_defined_twice_is_an_invalid_model(model, message):
    # onnx.checker's single-static-assignment rule: before, the later definition silently replaced the earlier one
    # (or, for a repeated input, addInput's InvalidArgumentError surfaced)
    with pytest.raises(onnx.checker.ValidationError):
        onnx.checker.check_model(model)
    with pytest.raises(gie.InvalidModelError, match=message):
        gie.OnnxParser(check=False).parse(model)


def test_an_input_with_an_initializer_is_still_a_defaulted_input():
    m = _ssa_model([_R("Add", ["x", "w"], ["y"])], inputs=("x", "w"), inits=[("w", 2.0)])
    net = gie.OnnxParser(check=False).parse(m)
    assert [t.name for t in net.inputs] == ["x"]
