"""ONNX importer fuzzing: corpus regression, a short random smoke run and an opt-in long run.

Every failure of ``gie.parse`` / ``OnnxParser.parse`` on a mutated model, and of building and running the engine
of a network that did parse, must be a ``gie.Error`` -- never another exception, a crash or a hang (> 10 s).

Mutations start from small valid seed models made with onnx.helper (conv/relu/pool/gemm, concat/reshape with a
shape-computing subgraph, slice/resize, batchnorm, external data) and are either byte-level (truncation, bit and
byte flips, insertions) on the serialized model or structural on the ModelProto (wrong attribute types, odd
dims/pads/strides/kernels, dangling names, cycles, duplicate outputs, missing or resized initializers, unknown
ops, opset extremes, hostile external-data locations).

Long fuzzing (each batch in its own subprocess, so a segfault or a hang is caught and its input saved):
    GIE_ONNX_FUZZ_SECONDS=600 [GIE_ONNX_FUZZ_SAVE=dir] [GIE_ONNX_FUZZ_SEED=1] \
        python3 -m pytest tests/test_onnx_fuzz.py -k fuzz_long -s
or directly: python3 tests/test_onnx_fuzz.py SECONDS SAVE_DIR [SEED]
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

import gie

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "fuzz_corpus", "onnx")
F = TensorProto.FLOAT
SLOW_S = 10.0


# ---- seed models ---------------------------------------------------------------------------------------------

def _w(rng, *shape):
    return rng.normal(0, 0.5, shape).astype(np.float32)


def _model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "fuzz", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                          [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs], list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    for o in m.graph.output:  # onnx.checker wants an output shape: a symbolic one will do
        if not o.type.tensor_type.HasField("shape"):
            o.type.tensor_type.shape.dim.add().dim_param = "unk"
    return m


def seed_models(rng=None):
    """Small valid models, {name: (ModelProto, {external file name: bytes})}."""
    rng = rng or np.random.default_rng(0)
    seeds = {}
    seeds["conv_relu_pool_gemm"] = (_model(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                          strides=[1, 1]),
         helper.make_node("Relu", ["c"], ["r"], name="relu"),
         helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
         helper.make_node("Flatten", ["p"], ["f"], name="flat", axis=1),
         helper.make_node("Gemm", ["f", "gw", "gb"], ["y"], name="gemm", transB=1, alpha=1.0, beta=1.0)],
        [("x", F, ["N", 2, 6, 6])], [("y", F, None)],
        [numpy_helper.from_array(_w(rng, 4, 2, 3, 3), "w"), numpy_helper.from_array(_w(rng, 4), "b"),
         numpy_helper.from_array(_w(rng, 5, 36), "gw"), numpy_helper.from_array(_w(rng, 5), "gb")]), {})
    seeds["concat_shape_reshape"] = (_model(
        [helper.make_node("Concat", ["x", "x2"], ["c"], name="cat", axis=1),
         helper.make_node("Shape", ["c"], ["s"], name="shape"),
         helper.make_node("Gather", ["s", "i0"], ["s0"], name="gather", axis=0),
         helper.make_node("Unsqueeze", ["s0", "ax"], ["s0u"], name="unsq"),
         helper.make_node("Concat", ["s0u", "tail"], ["ns"], name="cat2", axis=0),
         helper.make_node("Reshape", ["c", "ns"], ["y"], name="reshape")],
        [("x", F, ["N", 2, 3]), ("x2", F, ["N", 1, 3])], [("y", F, None)],
        [numpy_helper.from_array(np.array(0, np.int64), "i0"), numpy_helper.from_array(np.array([0], np.int64), "ax"),
         numpy_helper.from_array(np.array([-1], np.int64), "tail")]), {})
    seeds["slice_resize"] = (_model(
        [helper.make_node("Slice", ["x", "st", "en", "axs", "stp"], ["s"], name="slice"),
         helper.make_node("Resize", ["s", "", "sc"], ["y"], name="resize", mode="nearest")],
        [("x", F, [1, 2, 6, 6])], [("y", F, None)],
        [numpy_helper.from_array(np.array([1, 1], np.int64), "st"),
         numpy_helper.from_array(np.array([5, 6], np.int64), "en"),
         numpy_helper.from_array(np.array([2, 3], np.int64), "axs"),
         numpy_helper.from_array(np.array([1, 2], np.int64), "stp"),
         numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "sc")]), {})
    seeds["batchnorm_add_pool"] = (_model(
        [helper.make_node("BatchNormalization", ["x", "g", "bb", "mu", "var"], ["bn"], name="bn", epsilon=1e-5),
         helper.make_node("Add", ["bn", "x"], ["a"], name="add"),
         helper.make_node("AveragePool", ["a"], ["ap"], name="avg", kernel_shape=[2, 2], pads=[0, 0, 1, 1]),
         helper.make_node("GlobalAveragePool", ["ap"], ["y"], name="gap")],
        [("x", F, ["N", 3, 5, 5])], [("y", F, None)],
        [numpy_helper.from_array(_w(rng, 3), "g"), numpy_helper.from_array(_w(rng, 3), "bb"),
         numpy_helper.from_array(_w(rng, 3), "mu"),
         numpy_helper.from_array(np.abs(_w(rng, 3)) + 0.5, "var")]), {})
    seeds["transpose_matmul_softmax"] = (_model(
        [helper.make_node("Transpose", ["x"], ["t"], name="tr", perm=[0, 2, 1]),
         helper.make_node("MatMul", ["t", "m"], ["mm"], name="mm"),
         helper.make_node("Softmax", ["mm"], ["sm"], name="sm", axis=-1),
         helper.make_node("ReduceSum", ["sm", "rax"], ["y"], name="rs", keepdims=0)],
        [("x", F, ["N", 3, 4])], [("y", F, None)],
        [numpy_helper.from_array(_w(rng, 3, 2), "m"), numpy_helper.from_array(np.array([1], np.int64), "rax")]),
        {})
    # ops that only fold (no gie layer): Einsum, Det, ScatterND, ScatterElements, GatherND on known inputs
    seeds["fold_einsum_det"] = (_model(
        [helper.make_node("Einsum", ["ea", "eb"], ["w"], name="einsum", equation="...ij,jk"),
         helper.make_node("Einsum", ["w"], ["w2"], name="einsum_diag", equation="bii->bi"),
         helper.make_node("Det", ["dm"], ["d"], name="det"),
         helper.make_node("ReduceSum", ["d"], ["ds"], name="dsum", keepdims=0),
         helper.make_node("Mul", ["x", "w2"], ["m"], name="mul"),
         helper.make_node("Mul", ["m", "ds"], ["y"], name="scale")],
        [("x", F, ["N", 2, 3])], [("y", F, None)],
        [numpy_helper.from_array(_w(rng, 2, 3, 4), "ea"), numpy_helper.from_array(_w(rng, 4, 3), "eb"),
         numpy_helper.from_array(_w(rng, 2, 3, 3), "dm")]), {})
    seeds["fold_scatter_gather"] = (_model(
        [helper.make_node("ScatterND", ["c0", "i0", "u0"], ["s"], name="scatternd", reduction="add"),
         helper.make_node("ScatterElements", ["c1", "i1", "u1"], ["se"], name="scatterel", axis=1, reduction="mul"),
         helper.make_node("GatherND", ["se", "i2"], ["g"], name="gathernd", batch_dims=0),
         helper.make_node("Add", ["x", "s"], ["a"], name="add"),
         helper.make_node("Add", ["a", "g"], ["y"], name="add2")],
        [("x", F, ["N", 3])], [("y", F, None)],
        [numpy_helper.from_array(_w(rng, 3), "c0"), numpy_helper.from_array(np.array([[0], [-1], [0]], np.int64), "i0"),
         numpy_helper.from_array(_w(rng, 3), "u0"), numpy_helper.from_array(_w(rng, 2, 3), "c1"),
         numpy_helper.from_array(np.array([[2, 0, -1], [1, 1, 0]], np.int64), "i1"),
         numpy_helper.from_array(_w(rng, 2, 3), "u1"), numpy_helper.from_array(np.array([[1]], np.int64), "i2")]), {})
    # external data: the conv weights live in a side file next to the model
    m = _model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv_ext", kernel_shape=[1, 1])],
               [("x", F, ["N", 2, 3, 3])], [("y", F, None)], [numpy_helper.from_array(_w(rng, 3, 2, 1, 1), "w")])
    raw = m.graph.initializer[0].raw_data
    init = m.graph.initializer[0]
    init.ClearField("raw_data")
    init.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "weights.bin"), ("offset", "0"), ("length", str(len(raw)))):
        e = init.external_data.add()
        e.key, e.value = k, v
    seeds["external_data"] = (m, {"weights.bin": raw})
    return seeds


# ---- running one input ---------------------------------------------------------------------------------------

def _feeds(net, rng):
    feeds = {}
    for t in net.inputs:
        shape = tuple(t.shape)
        if min(shape, default=1) < 0 or int(np.prod(shape, dtype=np.float64)) > 1 << 20:
            return None  # (a dynamic dimension, issue 15: building needs an optimization profile)
        dt = {gie.DataType.float32: np.float32, gie.DataType.float16: np.float16, gie.DataType.int32: np.int32,
              gie.DataType.int8: np.int8, gie.DataType.bool: np.bool_}.get(t.dtype, np.float32)
        feeds[t.name] = rng.normal(0, 1, shape).astype(dt) if dt in (np.float32, np.float16) else \
            rng.integers(0, 2, shape).astype(dt)
    return feeds


def run_model_file(path, check=True, rng=None):
    """parse -> build -> execute. Returns 'ok', 'noexec' or 'error:<gie class>'; other exceptions propagate."""
    rng = rng or np.random.default_rng(0)
    builder = gie.Builder()
    try:
        net = gie.OnnxParser(builder=builder, check=check).parse(path)
        feeds = _feeds(net, rng)
        if feeds is None:
            return "noexec"
        cfg = builder.create_config()
        cfg.device = "cpu"
        b = max([v.shape[0] for v in feeds.values()] or [1])
        cfg.max_batch = b
        cfg.batch_range = (b, b, b)
        eng = builder.build(net, cfg)
        eng.create_execution_context().execute(feeds)
        return "ok"
    except gie.Error as e:
        assert str(e).strip(), f"{type(e).__name__} without a message"
        return "error:" + type(e).__name__


def write_case(d, data, side):
    path = os.path.join(d, "model.onnx")
    with open(path, "wb") as f:
        f.write(data)
    for name, blob in side.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(blob)
    return path


# ---- mutations -----------------------------------------------------------------------------------------------

_BYTES = [b"\x00", b"\xff", b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", b"\x08\x01", b"\x12\x00", b"\x1a\x7f",
          b"\x3a\x02\x08\x01", b"Conv", b"Relu", b"\x01\x02\x03\x04"]
_ODD_INTS = [0, -1, -2, 1, 2, 3, 7, 1000, 65536, 2 ** 31 - 1, 2 ** 31, -2 ** 31, 2 ** 62, -2 ** 62]
_OPS = ["Conv", "Relu", "MaxPool", "Gemm", "Concat", "Reshape", "Slice", "Resize", "BatchNormalization", "Shape",
        "Gather", "Unsqueeze", "Squeeze", "Transpose", "MatMul", "Softmax", "Add", "Mul", "Div", "Flatten",
        "ConvTranspose", "AveragePool", "GlobalAveragePool", "Pad", "Split", "Tile", "Expand", "Where", "Cast",
        "Range", "ConstantOfShape", "ReduceMean", "TopK", "LSTM", "Loop", "If", "NonZero", "Identity", "Constant",
        "Einsum", "FooBar", ""]


def mutate_bytes(data, rng):
    data = bytearray(data)
    op = int(rng.integers(0, 6))
    pos = int(rng.integers(0, len(data) + 1))
    if op == 0:
        data = data[:pos]
    elif op == 1 and data:
        i = min(pos, len(data) - 1)
        data[i] ^= 1 << int(rng.integers(0, 8))
    elif op == 2 and data:
        data[min(pos, len(data) - 1)] = int(rng.integers(0, 256))
    elif op == 3:
        data[pos:pos] = _BYTES[int(rng.integers(0, len(_BYTES)))]
    elif op == 4 and data:
        del data[pos:pos + int(rng.integers(1, 16))]
    else:
        a = int(rng.integers(0, len(data) + 1))
        data[pos:pos] = data[a:a + int(rng.integers(1, 32))]
    return bytes(data)


def _pick(rng, seq):
    return seq[int(rng.integers(0, len(seq)))] if len(seq) else None


def _odd_attr(a, rng):
    AP = onnx.AttributeProto
    k = int(rng.integers(0, 6))
    if k == 0 and a.type == AP.INTS and len(a.ints):
        a.ints[int(rng.integers(0, len(a.ints)))] = _pick(rng, _ODD_INTS)
    elif k == 1 and a.type == AP.INTS:
        vals = list(a.ints)
        if vals and rng.random() < 0.5:
            vals.pop()
        else:
            vals.append(_pick(rng, _ODD_INTS))
        del a.ints[:]
        a.ints.extend(vals)
    elif k == 2 and a.type == AP.INT:
        a.i = _pick(rng, _ODD_INTS)
    elif k == 3 and a.type == AP.FLOAT:
        a.f = float(_pick(rng, [0.0, -1.0, 1e30, float("nan"), float("inf"), -float("inf")]))
    else:  # wrong attribute type
        new = [helper.make_attribute(a.name, 1.5), helper.make_attribute(a.name, "same"),
               helper.make_attribute(a.name, [1.0, 2.0]), helper.make_attribute(a.name, 3),
               helper.make_attribute(a.name, [3, 3]), helper.make_attribute(a.name, ["a", "b"]),
               helper.make_attribute(a.name, numpy_helper.from_array(np.zeros(2, np.float32)))]
        a.CopyFrom(_pick(rng, new))


def mutate_struct(m, side, rng):
    """One structural mutation of a ModelProto (in place). Returns the (possibly new) side-file dict."""
    g = m.graph
    side = dict(side)
    nodes = list(g.node)
    op = int(rng.integers(0, 20))
    n = _pick(rng, nodes)
    if op == 0 and n is not None and len(n.attribute):
        _odd_attr(_pick(rng, n.attribute), rng)
    elif op == 1 and n is not None:  # add an attribute (known name, odd value)
        name = _pick(rng, ["kernel_shape", "pads", "strides", "dilations", "group", "axis", "axes", "perm", "mode",
                           "auto_pad", "transA", "keepdims", "epsilon", "bogus"])
        val = _pick(rng, [[0, 0], [-1, 2], [2 ** 31, 1], [1, 1, 1, 1, 1, 1], 0, -3, 99, "SAME_UPPER", "VALID", "x",
                          1e-9, [0.5]])
        for a in list(n.attribute):
            if a.name == name:
                n.attribute.remove(a)
        n.attribute.append(helper.make_attribute(name, val))
    elif op == 2 and g.input:  # odd input dims
        vi = _pick(rng, g.input)
        dims = vi.type.tensor_type.shape.dim
        if len(dims):
            d = dims[int(rng.integers(0, len(dims)))]
            if rng.random() < 0.2:
                d.dim_param = "H"
            else:
                d.dim_value = _pick(rng, [0, -1, 1, 2, 100, 2 ** 20, 2 ** 40])
        elif rng.random() < 0.5:
            vi.type.tensor_type.shape.dim.add().dim_value = 2
    elif op == 3 and g.input:  # input rank / dtype
        vi = _pick(rng, g.input)
        if rng.random() < 0.5:
            vi.type.tensor_type.elem_type = _pick(rng, [0, 2, 3, 6, 7, 8, 9, 10, 11, 14, 16, 17, 99])
        else:
            dims = vi.type.tensor_type.shape.dim
            if len(dims) and rng.random() < 0.5:
                del dims[len(dims) - 1]
            else:
                dims.add().dim_value = int(rng.integers(1, 4))
    elif op == 4 and n is not None and len(n.input):  # dangling input name
        n.input[int(rng.integers(0, len(n.input)))] = _pick(rng, ["nope", "", "x"])
    elif op == 5 and len(nodes) >= 1:  # cycle / forward reference
        i = int(rng.integers(0, len(nodes)))
        j = int(rng.integers(i, len(nodes)))
        if len(nodes[i].input) and len(nodes[j].output):
            nodes[i].input[0] = nodes[j].output[0]
    elif op == 6 and len(nodes) >= 2:  # duplicate outputs
        a, b = _pick(rng, nodes), _pick(rng, nodes)
        if len(a.output) and len(b.output):
            a.output[0] = b.output[0]
    elif op == 7:  # duplicate / bogus graph output
        if g.output and rng.random() < 0.5:
            g.output.add().CopyFrom(g.output[0])
        else:
            g.output.add().CopyFrom(helper.make_tensor_value_info(_pick(rng, ["x", "nope", "s", "c", "r"]), F, None))
    elif op == 8 and g.initializer:  # missing initializer
        g.initializer.remove(_pick(rng, g.initializer))
    elif op == 9 and g.initializer:  # wrong initializer size / dims
        init = _pick(rng, g.initializer)
        if init.data_location == TensorProto.EXTERNAL:
            return mutate_external(init, side, rng)
        if rng.random() < 0.5 and len(init.dims):
            init.dims[int(rng.integers(0, len(init.dims)))] = _pick(rng, [0, -1, 1, 3, 7, 2 ** 31, 2 ** 40])
        else:
            arr = numpy_helper.to_array(init)
            flat = arr.reshape(-1)
            k = int(rng.integers(0, 3))
            flat = flat[:-1] if (k == 0 and flat.size) else np.concatenate([flat, flat[:1]]) if k == 1 else flat
            new = numpy_helper.from_array(flat.copy(), init.name)
            if k < 2:
                new.ClearField("dims")
                new.dims.extend(arr.shape if arr.ndim else [])
            else:
                new.dims.extend([])
            init.CopyFrom(new)
    elif op == 10 and g.initializer:  # wrong initializer dtype
        init = _pick(rng, g.initializer)
        if rng.random() < 0.5:
            init.data_type = _pick(rng, [0, 1, 2, 3, 5, 6, 7, 9, 10, 11, 16, 99])
        else:
            arr = numpy_helper.to_array(init) if init.data_location != TensorProto.EXTERNAL else np.zeros(3)
            dt = _pick(rng, [np.int64, np.float64, np.int32, np.float16, np.bool_, np.uint8, np.int8])
            init.CopyFrom(numpy_helper.from_array(arr.astype(dt), init.name))
    elif op == 11 and n is not None:  # unknown / different op type
        n.op_type = _pick(rng, _OPS)
        if rng.random() < 0.1:
            n.domain = _pick(rng, ["com.microsoft", "ai.onnx.ml", "x"])
    elif op == 12:  # opset extremes
        ver = _pick(rng, [1, 6, 7, 9, 11, 13, 18, 21, 28, 29, 1000, 2 ** 62, -1, 0])
        m.opset_import[0].version = ver
        if rng.random() < 0.2:
            m.opset_import.add().CopyFrom(helper.make_opsetid(_pick(rng, ["", "ai.onnx", "weird"]), ver))
    elif op == 13:
        m.ir_version = _pick(rng, [0, 1, 3, 7, 10, 11, 99, -1])
    elif op == 14 and n is not None and len(nodes) > 1:  # remove a node
        g.node.remove(n)
    elif op == 15 and len(nodes) > 1:  # reorder
        i, j = rng.integers(0, len(nodes), 2)
        a, b = onnx.NodeProto(), onnx.NodeProto()
        a.CopyFrom(g.node[int(i)])
        b.CopyFrom(g.node[int(j)])
        g.node[int(i)].CopyFrom(b)
        g.node[int(j)].CopyFrom(a)
    elif op == 16 and n is not None:  # duplicate a node / extra inputs / outputs
        k = int(rng.integers(0, 3))
        if k == 0:
            g.node.add().CopyFrom(n)
        elif k == 1:
            n.input.append(_pick(rng, ["x", "", "w", "nope"]))
        else:
            n.output.append(_pick(rng, ["extra", "", "x"]))
    elif op == 17:  # a Constant node with an odd value feeding a node
        val = _pick(rng, [np.array([], np.int64), np.array([0], np.int64), np.array([-1, -1], np.int64),
                          np.array([2 ** 40], np.int64), np.array(3.5, np.float32), np.zeros((0, 3), np.float32),
                          np.array([1, 2, 3, 4], np.int64), np.array([np.nan], np.float32)])
        g.node.insert(0, helper.make_node("Constant", [], ["kc"], name="kconst", value=numpy_helper.from_array(val)))
        tgt = _pick(rng, list(g.node)[1:])
        if tgt is not None and len(tgt.input):
            tgt.input[int(rng.integers(0, len(tgt.input)))] = "kc"
    elif op == 18:  # an initializer that shadows an input / a node output
        name = _pick(rng, [vi.name for vi in g.input] + [o for nd in nodes for o in nd.output])
        if name:
            g.initializer.append(numpy_helper.from_array(np.ones((1, 2), np.float32), name))
    else:
        ext = [i for i in g.initializer if i.data_location == TensorProto.EXTERNAL]
        if ext:
            return mutate_external(_pick(rng, ext), side, rng)
        if n is not None and len(n.attribute):
            _odd_attr(_pick(rng, n.attribute), rng)
    return side


def mutate_external(init, side, rng):
    info = {e.key: e for e in init.external_data}
    k = int(rng.integers(0, 6))
    if k == 0 and "location" in info:
        info["location"].value = _pick(rng, ["../weights.bin", "/etc/passwd", "nope.bin", "", "sub/../weights.bin",
                                             "C:\\w.bin", "weights.bin\x00x", "."])
    elif k == 1 and "offset" in info:
        info["offset"].value = _pick(rng, ["-1", "3", "999999", "abc", "", str(2 ** 63)])
    elif k == 2 and "length" in info:
        info["length"].value = _pick(rng, ["-1", "0", "5", "999999", "x", str(2 ** 63)])
    elif k == 3:
        for key in list(side):
            side[key] = side[key][:int(rng.integers(0, len(side[key]) + 1))]
    elif k == 4:
        side.clear()
    else:
        init.data_location = TensorProto.DEFAULT
    return side


def make_input(seeds, rng):
    """(serialized model bytes, side files, check flag) for one fuzz execution."""
    name = _pick(rng, sorted(seeds))
    m0, side = seeds[name]
    m = onnx.ModelProto()
    m.CopyFrom(m0)
    for _ in range(int(rng.integers(1, 4))):
        try:
            side = mutate_struct(m, side, rng)
        except Exception:  # noqa: BLE001 - a mutation that reads an already broken initializer
            pass
    try:
        data = m.SerializeToString()
    except Exception:  # noqa: BLE001 - e.g. an invalid UTF-8 string the fuzzer wrote
        data = m0.SerializeToString()
    if rng.random() < 0.3:
        for _ in range(int(rng.integers(1, 4))):
            data = mutate_bytes(data, rng)
    return data, side, bool(rng.random() < 0.5)


# ---- in-process fuzz loop (smoke test) ----------------------------------------------------------------------

def fuzz(seconds, seed=0, corpus_dir=None, log=print):
    """Random mutations in this process. Returns (executions, failures, outcome counts)."""
    rng = np.random.default_rng(seed)
    seeds = seed_models()
    execs, failures, counts = 0, [], {}
    t_end = time.time() + seconds
    with tempfile.TemporaryDirectory() as d:
        while time.time() < t_end:
            data, side, check = make_input(seeds, rng)
            case = os.path.join(d, str(execs))
            os.mkdir(case)
            path = write_case(case, data, side)
            t0 = time.time()
            try:
                res = run_model_file(path, check=check, rng=rng)
            except Exception as e:  # noqa: BLE001 - the point of fuzzing
                res = "FAIL " + repr(e)[:300]
                failures.append((data, side, res))
                log(res)
                if corpus_dir:
                    _save(corpus_dir, f"fail{seed}_{len(failures)}", data, side)
            dt = time.time() - t0
            if dt > SLOW_S:
                failures.append((data, side, f"slow {dt:.1f}s"))
                log(f"SLOW {dt:.1f}s")
            key = "FAIL" if res.startswith("FAIL") else res
            counts[key] = counts.get(key, 0) + 1
            shutil.rmtree(case, ignore_errors=True)
            execs += 1
    return execs, failures, counts


def _save(dst, stem, data, side):
    os.makedirs(dst, exist_ok=True)
    with open(os.path.join(dst, stem + ".onnx"), "wb") as f:
        f.write(data)
    for k, v in side.items():  # side files go into a folder of the same stem, next to the model
        sd = os.path.join(dst, stem + ".d")
        os.makedirs(sd, exist_ok=True)
        with open(os.path.join(sd, k), "wb") as f:
            f.write(v)


# ---- subprocess batches (long fuzzing: catches crashes and hangs) -------------------------------------------

def _worker(seed, count, workdir):
    """Runs `count` inputs; before each writes it to workdir/cur.* so the parent can save it on a crash/hang."""
    rng = np.random.default_rng(seed)
    seeds = seed_models()
    case = os.path.join(workdir, "case")
    for k in range(count):
        data, side, check = make_input(seeds, rng)
        shutil.rmtree(case, ignore_errors=True)
        os.makedirs(case)
        path = write_case(case, data, side)
        with open(os.path.join(workdir, "cur.json"), "w") as f:
            json.dump({"k": k, "check": check, "t": time.time()}, f)
        t0 = time.time()
        try:
            res = run_model_file(path, check=check, rng=rng)
        except Exception as e:  # noqa: BLE001
            res = "FAIL " + repr(e)[:500].replace("\n", " ")
        dt = time.time() - t0
        print(json.dumps({"k": k, "res": res, "dt": round(dt, 3), "check": check}), flush=True)
        if res.startswith("FAIL") or dt > SLOW_S:
            shutil.copytree(case, os.path.join(workdir, f"keep{k}"))


def fuzz_subprocess(seconds, seed=1, save_dir=None, batch=200, log=print):
    """Batches of inputs, each batch in a fresh python process. Returns (executions, failures, counts)."""
    execs, failures, counts = 0, [], {}
    t_end = time.time() + seconds
    b = 0
    while time.time() < t_end:
        wd = tempfile.mkdtemp(prefix="onnxfuzz")
        bseed = seed * 100003 + b
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([HERE] + sys.path))
        p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", str(bseed), str(batch), wd],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        lines = []
        import threading
        th = threading.Thread(target=lambda: lines.extend(p.stdout), daemon=True)
        th.start()
        hung = False
        while p.poll() is None:
            time.sleep(0.5)
            try:
                with open(os.path.join(wd, "cur.json")) as f:
                    cur = json.load(f)
            except Exception:  # noqa: BLE001 - not written yet / being written
                continue
            done = sum(1 for ln in list(lines) if ln.startswith("{") and f'"k": {cur["k"]},' in ln)
            if not done and time.time() - cur["t"] > 3 * SLOW_S:
                hung = True
                p.kill()
        p.wait()
        th.join(5)
        for ln in lines:
            if not ln.startswith("{"):
                continue
            r = json.loads(ln)
            execs += 1
            key = "FAIL" if r["res"].startswith("FAIL") else r["res"]
            counts[key] = counts.get(key, 0) + 1
            if r["res"].startswith("FAIL") or r["dt"] > SLOW_S:
                what = r["res"] if r["res"].startswith("FAIL") else f"slow {r['dt']}s"
                failures.append((bseed, r["k"], what))
                log(f"batch {bseed} #{r['k']}: {what}")
                _keep(wd, f"keep{r['k']}", save_dir, f"b{bseed}_{r['k']}")
        if p.returncode != 0:
            try:
                with open(os.path.join(wd, "cur.json")) as f:
                    cur = json.load(f)
            except Exception:  # noqa: BLE001
                cur = {"k": -1}
            what = "hang" if hung else f"crash rc={p.returncode}"
            tail = "".join(lines[-5:])[-500:]
            failures.append((bseed, cur["k"], what + " " + tail))
            log(f"batch {bseed} #{cur['k']}: {what}\n{tail}")
            execs += 1
            _keep(wd, "case", save_dir, f"b{bseed}_{cur['k']}_{what.split()[0]}")
        shutil.rmtree(wd, ignore_errors=True)
        b += 1
    return execs, failures, counts


def _keep(wd, sub, save_dir, stem):
    src = os.path.join(wd, sub)
    if not save_dir or not os.path.isdir(src):
        return
    os.makedirs(save_dir, exist_ok=True)
    shutil.copyfile(os.path.join(src, "model.onnx"), os.path.join(save_dir, stem + ".onnx"))
    others = [x for x in os.listdir(src) if x != "model.onnx"]
    if others:
        os.makedirs(os.path.join(save_dir, stem + ".d"), exist_ok=True)
        for x in others:
            shutil.copyfile(os.path.join(src, x), os.path.join(save_dir, stem + ".d", x))


# ---- tests ---------------------------------------------------------------------------------------------------

def _corpus():
    return sorted(glob.glob(os.path.join(CORPUS, "*.onnx")))


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: os.path.basename(p))
def test_fuzz_corpus_regression(path, tmp_path):
    """Every corpus entry parses, builds and runs, or raises a gie.Error, quickly (checker on and off).

    Side files (external data) of ``name.onnx`` live in ``name.d/`` and are copied next to the model."""
    shutil.copyfile(path, tmp_path / "model.onnx")
    sd = path[:-5] + ".d"
    if os.path.isdir(sd):
        for x in os.listdir(sd):
            shutil.copyfile(os.path.join(sd, x), tmp_path / x)
    for check in (True, False):
        t0 = time.time()
        run_model_file(str(tmp_path / "model.onnx"), check=check)
        assert time.time() - t0 < SLOW_S


def test_seed_models_run(tmp_path):
    """The seeds are valid: they import, build and run."""
    for name, (m, side) in seed_models().items():
        d = tmp_path / name
        d.mkdir()
        assert run_model_file(write_case(str(d), m.SerializeToString(), side)) == "ok", name


def test_fuzz_short():
    execs, failures, counts = fuzz(5, seed=int(time.time()) % 1000)
    assert execs > 10
    assert not failures, failures[:3]


@pytest.mark.skipif(not os.environ.get("GIE_ONNX_FUZZ_SECONDS"), reason="long fuzz: set GIE_ONNX_FUZZ_SECONDS")
def test_fuzz_long():
    secs = float(os.environ["GIE_ONNX_FUZZ_SECONDS"])
    execs, failures, counts = fuzz_subprocess(secs, seed=int(os.environ.get("GIE_ONNX_FUZZ_SEED", "1")),
                                              save_dir=os.environ.get("GIE_ONNX_FUZZ_SAVE"))
    print(f"onnx fuzz: {execs} executions, {len(failures)} failures, outcomes {counts}")
    assert not failures, failures[:3]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        _worker(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        secs = float(sys.argv[1]) if len(sys.argv) > 1 else 60
        save = sys.argv[2] if len(sys.argv) > 2 else None
        seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
        e, fl, c = fuzz_subprocess(secs, seed=seed, save_dir=save)
        print(f"onnx fuzz: {e} executions, {len(fl)} failures, outcomes {c}")
        for x in fl:
            print(x)
