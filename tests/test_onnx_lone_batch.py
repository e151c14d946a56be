"""ONNX models whose only symbolic dimension is the batch (issue 15): the importer first takes the batch path (the
parse-time batch in dimension 0, shape values folded with a batch placeholder); where that path refuses a node because
dimension 0 is not the batch there (attention moves the batch away, then gathers, squeezes, slices, pads or expands
dimension 0), the model is imported again with that dimension dynamic (-1). One engine then runs every batch of its
profile, compared here with onnxruntime at batches 1, 3 and 7. Models that import on the batch path keep it."""
import numpy as np
import pytest

import gie

from test_dynamic_batch_onnx import batch_model
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


def _mha(torch, batch_first):
    class Mha(torch.nn.Module):
        """torch.nn.MultiheadAttention on x alone (self-attention)."""

        def __init__(self):
            super().__init__()
            self.m = torch.nn.MultiheadAttention(24, 3, batch_first=batch_first)

        def forward(self, x):
            return self.m(x, x, x, need_weights=False)[0]

    return Mha()


def _mini_vit(torch):
    class MiniViT(torch.nn.Module):
        """A vision transformer in miniature: 8x8 patches, a class token expanded to the batch, position embeddings,
        two pre-norm encoder layers (nn.MultiheadAttention inside) and a head on the class token."""

        def __init__(self, d=24):
            super().__init__()
            nn = torch.nn
            self.patch = nn.Conv2d(3, d, 8, 8)
            self.cls, self.pos = nn.Parameter(torch.randn(1, 1, d)), nn.Parameter(torch.randn(1, 5, d))
            layer = nn.TransformerEncoderLayer(d, 3, 48, dropout=0.0, batch_first=True, norm_first=True)
            self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.head = nn.Linear(d, 10)

        def forward(self, x):
            p = self.patch(x).flatten(2).transpose(1, 2)
            t = torch.cat([self.cls.expand(x.shape[0], -1, -1), p], 1) + self.pos
            return self.head(self.enc(t)[:, 0])

    return MiniViT()


def _torch_model(kind, tmp_path, rng):
    """(ONNX model, batch axis, sample shape at batch 1) of a torch attention block with only the batch dynamic."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(int(rng.integers(1 << 31)))
    seq = 5
    if kind == "self_attention":
        module, bdim, shape = _self_attention(torch), 0, (1, seq, 24)
    elif kind == "mini_vit":
        module, bdim, shape = _mini_vit(torch), 0, (1, 3, 16, 16)
    elif kind == "mha_batch_first":
        module, bdim, shape = _mha(torch, True), 0, (1, seq, 24)
    else:  # the batch in dimension 1: never the batch path, always dynamic
        module, bdim, shape = _mha(torch, False), 1, (seq, 1, 24)
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


TORCH_KINDS = ["self_attention", "mha_batch_first", "mha_sequence_first", "mini_vit"]


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


def test_tile_of_dimension_0_with_a_lone_symbolic_batch(rng, tmp_path):
    """x (N, 4, 6) -> Transpose (4, N, 6) -> Tile (2, 1, 3) -> Transpose back: y (N, 8, 18)."""
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0, 2]),
             helper.make_node("Tile", ["t", "reps"], ["r"]),
             helper.make_node("Transpose", ["r"], ["y"], perm=[1, 0, 2])]
    graph = helper.make_graph(nodes, "tile0", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8, 18])],
                              [numpy_helper.from_array(np.array([2, 1, 3], np.int64), "reps")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    _check(m, 0, (1, 4, 6), rng, tmp_path)


@gpu
def test_slice_pad_gather_expand_of_dimension_0_with_a_lone_symbolic_batch_gpu(rng, tmp_path):
    _check(slice_pad_expand_model(rng), 0, (1, 4, 6), rng, tmp_path, device="gpu", rtol=1e-5, atol=1e-5)


def test_a_model_the_batch_path_imports_keeps_it(rng, tmp_path):
    # The batch path declares the parse-time batch (its engines without a profile take config.max_batch as before);
    # the models above show -1 there instead.
    path = _save(batch_model(rng), tmp_path, "cnn")  # conv, relu, flatten by Shape(x)[0], gemm
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
    expected = (r"(?s)Split.*dynamic dimension 0 at import time.*dimension 0 of input 'x', the only symbolic dimension, was "
                r"imported as dynamic \(-1\) because the batch path refuses node '.*' \(Split\): Split along dimension 0")
    with pytest.raises(gie.UnsupportedError, match=expected):
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
    expected = (r"'r' Reshape .*the target \[5, 16\] is fixed: tensor 'x' has shape \(-1, 5, 16\) and this node needs the "
                r"value of its dynamic dimension 0")
    with pytest.raises(gie.UnsupportedError, match=expected):
        gie.parse(path, input_shapes={"x": (-1, 5, 16)})
