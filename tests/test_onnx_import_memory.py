"""Importing an ONNX graph whose shape subgraph would materialize a batch-sized constant takes bounded memory (issue 15,
tests): ConstantOfShape / Expand of a shape holding Shape(x)[0] with a symbolic batch. The importer folds shapes with a
batch placeholder (about 10^6); folding such a constant would allocate gigabytes. The import runs in a child process
under RLIMIT_AS of a few hundred MiB above what the interpreter with gie loaded already maps, then builds and runs at
batches 1 and 3 against onnxruntime. (tests/test_onnx_parser.py has the vision-transformer pattern under 1 GiB.)"""
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx_child_import import import_in_child  # noqa: E402

resource = pytest.importorskip("resource", reason="resource limits (RLIMIT_AS) are POSIX only")

HEADROOM_MIB = 300

def _rlimit_works():
    if not os.path.exists("/proc/self/status"):
        return "no /proc/self/status to read the mapped size from"
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    except (ValueError, OSError) as e:
        return f"RLIMIT_AS cannot be set here: {e}"
    return None


def batch_constant_model(pattern, width):
    """x (N, width) + a constant of shape (N, width) made from Shape(x)[0]: ConstantOfShape (value 0.5) or Expand of a
    (1, width) row."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
             helper.make_node("Concat", ["n1", "w"], ["shape"], axis=0)]
    inits = [numpy_helper.from_array(np.array(0, np.int64), "zero"), numpy_helper.from_array(np.array([0], np.int64), "ax0"),
             numpy_helper.from_array(np.array([width], np.int64), "w")]
    if pattern == "ConstantOfShape":
        nodes.append(helper.make_node("ConstantOfShape", ["shape"], ["c"], value=numpy_helper.from_array(np.array([0.5], np.float32))))
    else:
        inits.append(numpy_helper.from_array(np.linspace(-1, 1, width, dtype=np.float32).reshape(1, width), "row"))
        nodes.append(helper.make_node("Expand", ["row", "shape"], ["c"]))
    nodes.append(helper.make_node("Add", ["x", "c"], ["y"]))
    graph = helper.make_graph(nodes, "batch_constant", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", width])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", width])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


@pytest.mark.parametrize("pattern", ["ConstantOfShape", "Expand"])
def test_batch_sized_constant_import_takes_bounded_memory(tmp_path, pattern):
    why = _rlimit_works()
    if why:
        pytest.skip(why)
    ort = pytest.importorskip("onnxruntime")
    width = 1024  # folded at the placeholder batch: 1000003 x 1024 floats, 4 GB
    m = batch_constant_model(pattern, width)
    x = np.random.default_rng(3).standard_normal((3, width)).astype(np.float32)
    out = import_in_child(tmp_path, m, x, headroom_mib=HEADROOM_MIB)
    assert "error" not in out, out
    assert out["largest"] < 1000003, f"a layer has {out['largest']} elements (a batch-sized constant)"
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(np.array(out["y1"], np.float32), sess.run(None, {"x": x[:1]})[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.array(out["y3"], np.float32), sess.run(None, {"x": x})[0], rtol=1e-6, atol=1e-6)
