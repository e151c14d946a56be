"""ONNX models whose only symbolic dimension is the batch (issue 15): the importer first takes the batch path (the
parse-time batch in dimension 0, shape values folded with a batch placeholder); where that path refuses a node because
dimension 0 is not the batch there (attention moves the batch away, then gathers, squeezes, slices, pads or expands
dimension 0), the model is imported again with that dimension dynamic (-1). One engine then runs every batch of its
profile, compared here with onnxruntime at batches 1, 3 and 7. Models that import on the batch path keep it."""
import numpy as np
import pytest

import gie

from util import assert_close, ort_run

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

BATCHES = (1, 3, 7)
gpu = pytest.mark.gpu


def _export(module, example, path, axes):
    """torch.onnx.export of `module` with input x and output y, `axes` ({dim: name}) dynamic in both."""
    torch = pytest.importorskip("torch")
    kw = dict(input_names=["x"], output_names=["y"], opset_version=17, dynamic_axes={"x": axes, "y": axes})
    module.eval()
    try:
        torch.onnx.export(module, example, str(path), dynamo=False, **kw)
    except TypeError:  # a torch without the dynamo argument
        torch.onnx.export(module, example, str(path), **kw)
    return onnx.load(str(path))


def _self_attention(torch):
    class SelfAttention(torch.nn.Module):
        """Hand-written attention as timm writes it: qkv (B, S, 3, H, Dh) permuted to (3, B, H, S, Dh), unbound along
        dimension 0 (Split + Squeeze of dimension 0), and an Unsqueeze / Squeeze of dimension 0 at the end."""

        def __init__(self, d=24, heads=3):
            super().__init__()
            self.qkv, self.proj, self.heads = torch.nn.Linear(d, 3 * d), torch.nn.Linear(d, d), heads

        def forward(self, x):
            b, s, d = x.shape
            qkv = self.qkv(x).reshape(b, s, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
            a = (q @ k.transpose(-2, -1)) * (d // self.heads) ** -0.5
            y = (a.softmax(-1) @ v).transpose(1, 2).reshape(b, s, d)
            return self.proj(y).unsqueeze(0).squeeze(0)

    return SelfAttention()


class _Mha:
    """torch.nn.MultiheadAttention as a module of x alone (self-attention)."""

    @staticmethod
    def make(torch, batch_first):
        class Mha(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.m = torch.nn.MultiheadAttention(24, 3, batch_first=batch_first)

            def forward(self, x):
                return self.m(x, x, x, need_weights=False)[0]

        return Mha()


def _torch_model(kind, tmp_path, rng):
    """(ONNX model, batch axis, sample shape at batch 1) of a torch attention block with only the batch dynamic."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(int(rng.integers(1 << 31)))
    seq = 5
    if kind == "self_attention":
        module, bdim = _self_attention(torch), 0
    else:
        module, bdim = _Mha.make(torch, kind == "mha_batch_first"), 0 if kind == "mha_batch_first" else 1
    shape = (1, seq, 24) if bdim == 0 else (seq, 1, 24)
    model = _export(module, torch.randn(*shape), tmp_path / f"{kind}.onnx", {bdim: "batch"})
    return model, bdim, shape


def _profile(shape, bdim):
    def at(n):
        s = list(shape)
        s[bdim] = n
        return tuple(s)
    return at, (at(1), at(3), at(7))


def _save(model, tmp_path, name="model"):
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return str(path)


def _check(model, bdim, shape, rng, tmp_path, device="cpu", rtol=1e-4, atol=1e-4):
    """Parses `model` (one input x, one output y), checks that the batch dimension imported dynamic, builds one engine
    over batches 1..7 and compares it with onnxruntime at each of BATCHES."""
    net = gie.parse(_save(model, tmp_path, "checked"))
    dims = list(net.inputs[0].shape)
    assert dims[bdim] == -1 and all(d > 0 for i, d in enumerate(dims) if i != bdim), dims
    at, profile = _profile(shape, bdim)
    builder = gie.Builder()
    config = builder.create_config()
    config.device = device
    config.add_profile({"x": profile})
    engine = builder.build(net, config)
    ctx = engine.create_execution_context()
    for n in BATCHES:
        x = rng.standard_normal(at(n)).astype(np.float32)
        expected = ort_run(model, {"x": x})["y"]
        if device == "gpu":
            from gpu_util import poisoned_output, to_device
            buf, read = poisoned_output(expected.shape, np.float32)
            ctx.execute({"x": to_device(x)}, outputs={"y": buf})
            got = read()
        else:
            got = ctx.execute({"x": x})["y"]
        assert_close(got, expected, rtol=rtol, atol=atol, what=f"batch {n}")
    return net


TORCH_KINDS = ["self_attention", "mha_batch_first", "mha_sequence_first"]


@pytest.mark.parametrize("kind", TORCH_KINDS)
def test_torch_attention_with_only_the_batch_dynamic_runs_every_batch_from_one_engine(kind, tmp_path, rng):
    model, bdim, shape = _torch_model(kind, tmp_path, rng)
    ops = {n.op_type for n in model.graph.node}
    assert ops & {"Split", "Gather", "Squeeze", "Unsqueeze"}, ops  # the ops on dimension 0 this is about
    _check(model, bdim, shape, rng, tmp_path)


@gpu
@pytest.mark.parametrize("kind", TORCH_KINDS)
def test_torch_attention_with_only_the_batch_dynamic_gpu(kind, tmp_path, rng):
    model, bdim, shape = _torch_model(kind, tmp_path, rng)
    _check(model, bdim, shape, rng, tmp_path, device="gpu", rtol=1e-3, atol=1e-3)


def slice_pad_expand_model(rng, gather=True):
    """x (N, 4, 6) -> Transpose (4, N, 6) -> Slice [1:4] of dimension 0 -> Pad dimension 0 by (1, 2) with 0.5 ->
    Gather rows (0, 2, 5, 1) of dimension 0 -> Expand to (2, 1, 1, 1) (a higher rank: (2, 4, N, 6)) -> Mul by a
    (1, 4, 1, 6) weight -> Transpose to y (N, 2, 4, 6)."""
    def i64(name, *v):
        return numpy_helper.from_array(np.array(v, np.int64), name)

    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0, 2]),
             helper.make_node("Slice", ["t", "s0", "s1", "ax0"], ["sl"]),
             helper.make_node("Pad", ["sl", "pads", "pv"], ["pd"]),
             helper.make_node("Gather", ["pd", "rows"], ["g"], axis=0) if gather else helper.make_node("Identity", ["pd"], ["g"]),
             helper.make_node("Expand", ["g", "eshape"], ["e"]),
             helper.make_node("Mul", ["e", "w"], ["m"]),
             helper.make_node("Transpose", ["m"], ["y"], perm=[2, 0, 1, 3])]
    rows = 4 if gather else 6
    inits = [i64("s0", 1), i64("s1", 4), i64("ax0", 0), i64("pads", 1, 0, 0, 2, 0, 0),
             numpy_helper.from_array(np.array(0.5, np.float32), "pv"), i64("rows", 0, 2, 5, 1), i64("eshape", 2, 1, 1, 1),
             numpy_helper.from_array(rng.standard_normal((1, rows, 1, 6)).astype(np.float32), "w")]
    graph = helper.make_graph(nodes, "slice_pad_expand", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, rows, 6])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


@pytest.mark.parametrize("gather", [True, False])
def test_slice_pad_gather_expand_of_dimension_0_with_a_lone_symbolic_batch(gather, rng, tmp_path):
    _check(slice_pad_expand_model(rng, gather), 0, (1, 4, 6), rng, tmp_path)


@gpu
def test_slice_pad_gather_expand_of_dimension_0_with_a_lone_symbolic_batch_gpu(rng, tmp_path):
    _check(slice_pad_expand_model(rng), 0, (1, 4, 6), rng, tmp_path, device="gpu", rtol=1e-5, atol=1e-5)


def cnn_model(rng):
    """A plain CNN with a lone symbolic batch that flattens with Shape(x)[0]: the batch path imports it."""
    def w(name, *shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.2).astype(np.float32), name)

    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Shape", ["r1"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
             helper.make_node("Reshape", ["r1", "target"], ["flat"]),
             helper.make_node("Gemm", ["flat", "w2", "b2"], ["y"])]
    inits = [w("w1", 4, 3, 3, 3), w("b1", 4), w("w2", 4 * 8 * 8, 5), w("b2", 5),
             numpy_helper.from_array(np.array(0, np.int64), "zero"), numpy_helper.from_array(np.array([0], np.int64), "axes0"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus1")]
    graph = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def test_a_model_the_batch_path_imports_keeps_it(rng, tmp_path):
    # The batch path declares the parse-time batch (its engines without a profile take config.max_batch as before);
    # the models above show -1 there instead.
    path = _save(cnn_model(rng), tmp_path, "cnn")
    assert gie.parse(path).inputs[0].shape == (1, 3, 8, 8)
    assert gie.parse(path, batch=4).inputs[0].shape == (4, 3, 8, 8)
    assert gie.parse(_save(slice_pad_expand_model(rng), tmp_path)).inputs[0].shape == (-1, 4, 6)


def test_input_shapes_still_pin_a_model_the_batch_path_refuses(rng, tmp_path):
    model = slice_pad_expand_model(rng)
    path = _save(model, tmp_path)
    net = gie.parse(path, input_shapes={"x": (3, 4, 6)})  # every dimension fixed: neither path
    assert net.inputs[0].shape == (3, 4, 6)
    builder = gie.Builder()
    config = builder.create_config()
    config.device = "cpu"
    config.add_profile({"x": ((3, 4, 6),) * 3})  # dimension 0 of a fixed network is otherwise a batch range from 1
    x = rng.standard_normal((3, 4, 6)).astype(np.float32)
    got = builder.build(net, config).create_execution_context().execute({"x": x})["y"]
    assert_close(got, ort_run(model, {"x": x})["y"], rtol=1e-5, atol=1e-5, what="pinned")
    assert gie.parse(path, input_shapes={"x": (-1, 4, 6)}).inputs[0].shape == (-1, 4, 6)


def test_what_neither_path_imports_names_the_node_and_why_dimension_0_went_dynamic(tmp_path):
    # Split along dimension 0 of x itself: the batch path refuses it (dimension 0 is the batch there), and with that
    # dimension dynamic the split sizes need its value.
    nodes = [helper.make_node("Split", ["x"], ["a", "b"], axis=0),
             helper.make_node("Add", ["a", "b"], ["y"])]
    graph = helper.make_graph(nodes, "split0", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["M", 4])])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    with pytest.raises(gie.UnsupportedError, match=r"(?s)Split.*dynamic dimension 0 at import time.*dimension 0 of input 'x', the only "
                                                  r"symbolic dimension, was imported as dynamic \(-1\) because the batch path refuses "
                                                  r"node '.*' \(Split\): Split along dimension 0"):
        gie.parse(_save(m, tmp_path))


def test_a_fixed_reshape_target_of_a_dynamic_tensor_asks_for_input_shapes(tmp_path):
    # (N, 5, 16) -> (5, 16) fits batch 1 only: the batch path imports it (at batch 1, as before); with dimension 0
    # dynamic the importer says which dimension's value it needs rather than failing shape inference.
    nodes = [helper.make_node("Reshape", ["x", "s"], ["y"], name="r")]
    graph = helper.make_graph(nodes, "fixed_target", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [5, 16])],
                              [numpy_helper.from_array(np.array([5, 16], np.int64), "s")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    path = _save(m, tmp_path)
    assert gie.parse(path).inputs[0].shape == (1, 5, 16)
    with pytest.raises(gie.UnsupportedError, match=r"'r' Reshape .*the target \[5, 16\] is fixed: tensor 'x' has shape \(-1, 5, 16\) "
                                                   r"and this node needs the value of its dynamic dimension 0"):
        gie.parse(path, input_shapes={"x": (-1, 5, 16)})
