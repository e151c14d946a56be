"""channels_first_blocks (cpp/src/passes/channels_first_blocks.cpp): ConvNeXt's channels-last block
Transpose (0,2,3,1) -> LayerNorm -> Linear -> GELU -> Linear -> Transpose (0,3,1,2) -> * layer_scale -> + x runs on
NCHW: no Shuffle, each Linear a 1x1 Convolution, the layer scale and the residual folded into the second one.

The graphs are built by hand with onnx.helper as torch exports them (opset 17: LayerNormalization, MatMul + Add,
GELU as Div / Erf / Add / Mul / Mul), at awkward sizes; one test exports a CNBlock written in torch (skipped without
torch). Every engine is compared with onnxruntime and with the engine built with the pass off; near misses (another
permutation, a tensor read twice or a network output, a mix along another axis, a constant varying along another
axis, a pinned precision) must be left alone and still compute the right thing."""
import math

import numpy as np
import pytest

import gie
import util
from gpu_util import compare_gpu_cpu, gpu

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

n = helper.make_node
PASS = "channels_first_blocks"


def _cnblock_nodes(c, opts):
    """Nodes and initializers of a torchvision CNBlock (eval) on x (N, c, H, W) as the opset-17 export writes it.
    opts: perm_in / perm_out (the Transposes), extra_output (a tensor also marked as an output), mix_w (a MatMul by
    a constant (W, W) on the left: mixes along the width), scale_shape (a constant multiplied in after the GELU)."""
    rng = opts["rng"]
    h = 4 * c
    f = np.float32
    inits = {
        "dw_w": rng.standard_normal((c, 1, 7, 7)).astype(f) * 0.2, "dw_b": rng.standard_normal(c).astype(f) * 0.1,
        "ln_g": rng.uniform(0.5, 1.5, c).astype(f), "ln_b": rng.standard_normal(c).astype(f) * 0.1,
        "w1": rng.standard_normal((c, h)).astype(f) / math.sqrt(c), "b1": rng.standard_normal(h).astype(f) * 0.1,
        "w2": rng.standard_normal((h, c)).astype(f) / math.sqrt(h), "b2": rng.standard_normal(c).astype(f) * 0.1,
        "gamma": rng.uniform(0.5, 1.5, (c, 1, 1)).astype(f),
        "sqrt2": np.array(math.sqrt(2.0), f), "one": np.array(1.0, f), "half": np.array(0.5, f),
    }
    nodes = [n("Conv", ["x", "dw_w", "dw_b"], ["dw"], group=c, kernel_shape=[7, 7], pads=[3, 3, 3, 3]),
             n("Transpose", ["dw"], ["t"], perm=opts.get("perm_in", [0, 2, 3, 1])),
             n("LayerNormalization", ["t", "ln_g", "ln_b"], ["ln"], axis=-1, epsilon=1e-6)]
    src = "ln"
    if "mix_w" in opts:
        inits["mix"] = rng.standard_normal((opts["mix_w"], opts["mix_w"])).astype(f) * 0.3
        nodes.append(n("MatMul", ["mix", "ln"], ["lnm"]))
        src = "lnm"
    nodes += [n("MatMul", [src, "w1"], ["m1"]), n("Add", ["m1", "b1"], ["a1"]),
              n("Div", ["a1", "sqrt2"], ["g0"]), n("Erf", ["g0"], ["g1"]), n("Add", ["g1", "one"], ["g2"]),
              n("Mul", ["a1", "g2"], ["g3"]), n("Mul", ["g3", "half"], ["g4"])]
    src = "g4"
    if "scale_shape" in opts:
        inits["s"] = rng.uniform(0.5, 1.5, opts["scale_shape"]).astype(f)
        nodes.append(n("Mul", ["g4", "s"], ["g5"]))
        src = "g5"
    nodes += [n("MatMul", [src, "w2"], ["m2"]), n("Add", ["m2", "b2"], ["a2"]),
              n("Transpose", ["a2"], ["tb"], perm=opts.get("perm_out", [0, 3, 1, 2])),
              n("Mul", ["tb", "gamma"], ["ls"]), n("Add", ["ls", "x"], ["out"])]
    return nodes, inits


def _model(c, hw, rng, dynamic=("N",), **opts):
    nodes, inits = _cnblock_nodes(c, dict(opts, rng=rng))
    shape = [d if d in dynamic else v for d, v in zip(("N", "C", "H", "W"), (1, c) + tuple(hw))]
    outputs = [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["o0", "o1", "o2", "o3"])]
    if "extra_output" in opts:
        outputs.append(helper.make_tensor_value_info(opts["extra_output"], TensorProto.FLOAT, ["e0", "e1", "e2", "e3"]))
    g = helper.make_graph(nodes, "cnblock", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)], outputs,
                          initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def _build(m, passes_off=(), max_batch=3, profile=None, precision_pins=()):
    """precision_pins: layer types pinned to FP32 (ILayer.precision)."""
    builder = gie.Builder()
    net = gie.OnnxParser(builder=builder).parse(m)
    for i in range(net.num_layers):
        layer = net.get_layer(i)
        if layer.type in precision_pins:
            layer.precision = gie.DataType.FLOAT
    config = builder.create_config()
    config.device = "cpu"
    if profile:
        config.add_profile({"x": profile})
    else:
        config.max_batch = max_batch
    for p in passes_off:
        config.set_pass_enabled(p, False)
    return builder.build(net, config)


def _check(m, xs, rtol=1e-5, **build):
    """The engine with the pass and the one without it vs onnxruntime at each input; returns the first engine."""
    engine = _build(m, **build)
    plain = _build(m, passes_off=(PASS,), **build)
    for x in xs:
        ref = util.ort_run(m, {"x": x})
        got = engine.create_execution_context().execute({"x": x})
        off = plain.create_execution_context().execute({"x": x})
        for k, r in ref.items():
            scale = float(np.abs(r).max())
            for what, y in (("with the pass", got[k]), ("pass off", off[k])):
                assert y.shape == r.shape, (k, what)
                err = float(np.abs(y - r).max()) / scale
                assert err <= rtol, f"{k} {what} at {x.shape}: max |err| / max |ref| = {err:.2e}"
    return engine


def _types(engine):
    return [k["type"] for k in engine.layer_info()["kernels"]]


def _lines(engine, prefix=PASS + ":"):
    return [p for p in engine.layer_info()["passes"] if p.startswith(prefix)]


def _notes(engine):
    return [note for k in engine.layer_info()["kernels"] for note in k.get("notes", [])]


@pytest.mark.parametrize("c,hw,batch", [(24, (7, 9), 1), (40, (13, 11), 3), (24, (10, 13), 3)])
def test_cnblock_runs_channels_first(c, hw, batch, rng):
    m = _model(c, hw, rng)
    x = rng.standard_normal((batch, c) + hw).astype(np.float32)
    engine = _check(m, [x])
    # dw conv, LayerNorm over the channels, conv 1x1 (+ bias, GELU), conv 1x1 (+ bias, layer scale, residual)
    assert _types(engine) == ["Convolution", "LayerNorm", "Convolution", "Convolution"], _types(engine)
    assert len(_lines(engine)) == 1 and "2 FullyConnected -> 1x1 Convolution" in _lines(engine)[0], _lines(engine)
    # later passes: both bias Adds and the layer scale fold into the convolutions' weights, GELU and the residual
    # Add into their epilogues
    assert len(_lines(engine, "fold_scale:")) == 3, engine.layer_info()["passes"]
    assert len(_lines(engine, "fuse_epilogue: fused activation")) == 1, engine.layer_info()["passes"]
    assert len(_lines(engine, "fuse_epilogue: fused residual add")) == 1, engine.layer_info()["passes"]
    last = engine.layer_info()["kernels"][-1]
    assert [t["name"] for t in last["inputs"]] == ["g4", "x"] and last["fields"]["kernel_size"] == [1, 1], last
    # the pass off: the Shuffles and FullyConnected layers stay
    plain = _build(m, passes_off=(PASS,))
    assert _types(plain).count("Shuffle") == 2 and _types(plain).count("FullyConnected") == 2, _types(plain)


def test_dynamic_batch_height_and_width(rng):
    """N, H and W follow the input (one profile): the permutations do not depend on them, so the pass applies."""
    m = _model(24, (9, 9), rng, dynamic=("N", "H", "W"))
    xs = [rng.standard_normal(s).astype(np.float32) for s in [(1, 24, 7, 8), (3, 24, 13, 9), (2, 24, 11, 11)]]
    engine = _check(m, xs, profile=((1, 24, 7, 7), (2, 24, 9, 9), (3, 24, 13, 13)))
    assert "Shuffle" not in _types(engine) and _types(engine).count("Convolution") == 3, _types(engine)


def test_layer_norm_2d_alone(rng):
    """torchvision's LayerNorm2d (stem, downsampling, classifier): Transpose, LayerNorm, Transpose."""
    c = 40
    inits = {"g": rng.uniform(0.5, 1.5, c).astype(np.float32), "b": rng.standard_normal(c).astype(np.float32)}
    nodes = [n("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]), n("LayerNormalization", ["t", "g", "b"], ["ln"], axis=-1,
                                                                 epsilon=1e-6),
             n("Transpose", ["ln"], ["out"], perm=[0, 3, 1, 2])]
    g = helper.make_graph(nodes, "ln2d", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", c, 5, 3])],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["o0", "o1", "o2", "o3"])],
                          initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    x = (rng.standard_normal((3, c, 5, 3)) * 3 + 1).astype(np.float32)
    engine = _check(m, [x])
    assert _types(engine) == ["LayerNorm"], _types(engine)


NEAR_MISSES = {
    # a permutation that is not (0, 2, 3, 1) / (0, 3, 1, 2): the LayerNorm and Linears act along the height
    "other_permutations": dict(perm_in=[0, 3, 2, 1], perm_out=[0, 3, 2, 1]),
    # the GELU's input is also a network output
    "network_output_between": dict(extra_output="a1"),
    # a MatMul by a constant on the left mixes along the width
    "mix_along_width": dict(mix_w=9),
    # a constant varying along the width (and the 4 * 24 channels) multiplied in
    "constant_along_width": dict(scale_shape=(9, 96)),
    "constant_along_height": dict(scale_shape=(7, 1, 1)),
}


@pytest.mark.parametrize("case", sorted(NEAR_MISSES))
def test_near_misses_are_left_alone(case, rng):
    c, hw = 24, (7, 9)
    m = _model(c, hw, rng, **NEAR_MISSES[case])
    x = rng.standard_normal((2, c) + hw).astype(np.float32)
    engine = _check(m, [x])
    assert not _lines(engine), _lines(engine)
    assert _types(engine).count("Shuffle") == 2, _types(engine)
    notes = [s for s in _notes(engine) if s.startswith(PASS)]
    if case != "other_permutations":  # the block starts as one: the first Shuffle says where it stopped
        assert any("not rewritten" in s for s in notes), notes


def test_second_reader_inside_the_block(rng):
    """The LayerNorm's output also feeds a second branch: the block is left as it is."""
    m = _model(24, (7, 9), rng)
    g = m.graph
    g.node.append(n("ReduceSum", ["ln"], ["side"], keepdims=1))
    g.output.append(helper.make_tensor_value_info("side", TensorProto.FLOAT, ["s0", "s1", "s2", "s3"]))
    x = rng.standard_normal((2, 24, 7, 9)).astype(np.float32)
    # 1e-4: the ReduceSum adds 1,512 values of both signs in FP32 in another order than onnxruntime (1.2e-5 seen with
    # some seeds at 1e-5)
    engine = _check(m, [x], rtol=1e-4)
    assert not _lines(engine)
    assert any("has another reader" in s for s in _notes(engine)), _notes(engine)


def test_layers_pinned_differently_are_left_alone(rng):
    """Only the FullyConnected layers pinned (to FP32): the block's layers are not pinned alike."""
    m = _model(24, (7, 9), rng)
    x = rng.standard_normal((2, 24, 7, 9)).astype(np.float32)
    engine = _check(m, [x], precision_pins=("FullyConnected",))
    assert not _lines(engine)
    assert "Shuffle" in _types(engine)
    assert any("not all pinned alike" in s for s in _notes(engine)), _notes(engine)


# ---- the network API: FullyConnected layers with their bias, a Scale along the last axis ------------------------------

def _api_block(c, rng):
    """define(net, t) of x -> Shuffle (0,2,3,1) -> LayerNorm -> FC (4c, bias, axis 3) -> GELU -> Scale CHANNEL on axis
    3 -> FC (c, bias) -> Shuffle (0,3,1,2) -> Scale CHANNEL (layer scale) -> + x, and its float64 numpy reference."""
    f = np.float32
    g, b = rng.uniform(0.5, 1.5, c).astype(f), rng.standard_normal(c).astype(f) * 0.1
    w1, b1 = rng.standard_normal((4 * c, c)).astype(f) / math.sqrt(c), rng.standard_normal(4 * c).astype(f) * 0.1
    s1 = rng.uniform(0.5, 1.5, 4 * c).astype(f)
    w2, b2 = rng.standard_normal((c, 4 * c)).astype(f) / math.sqrt(4 * c), rng.standard_normal(c).astype(f) * 0.1
    gamma = rng.uniform(0.5, 1.5, c).astype(f)

    def define(net, t):
        y = net.add_shuffle(t["x"], first_transpose=(0, 2, 3, 1)).output(0)
        y = net.add_layer_norm(y, -1, 1e-6, g, b).output(0)
        y = net.add_fully_connected(y, 4 * c, w1, b1, axis=3).output(0)
        y = net.add_activation(y, gie.ActivationType.GELU).output(0)
        y = net.add_scale(y, gie.ScaleMode.CHANNEL, scale=s1, channel_axis=3).output(0)
        y = net.add_fully_connected(y, c, w2, b2, axis=3).output(0)
        y = net.add_shuffle(y, first_transpose=(0, 3, 1, 2)).output(0)
        y = net.add_scale(y, gie.ScaleMode.CHANNEL, scale=gamma).output(0)
        return net.add_elementwise(y, t["x"], gie.ElementWiseOperation.SUM).output(0)

    def reference(x):
        t = x.astype(np.float64).transpose(0, 2, 3, 1)
        m, v = t.mean(-1, keepdims=True), t.var(-1, keepdims=True)
        t = (t - m) / np.sqrt(v + 1e-6) * g + b
        t = t @ w1.T.astype(np.float64) + b1
        t = 0.5 * t * (1 + np.vectorize(math.erf)(t / math.sqrt(2)))
        t = (t * s1) @ w2.T.astype(np.float64) + b2
        return t.transpose(0, 3, 1, 2) * gamma.reshape(c, 1, 1) + x

    return define, reference


@pytest.mark.parametrize("pin", [None, gie.DataType.FLOAT])
def test_network_api_block(pin, rng):
    """FullyConnected layers with a bias become 1x1 convolutions with it, a Scale along axis 3 one along axis 1; with
    every layer pinned to one precision the block is rewritten too (the layers keep the pin)."""
    c = 40
    define, reference = _api_block(c, rng)
    if pin is not None:
        inner = define

        def define(net, t):
            out = inner(net, t)
            for i in range(net.num_layers):
                net.get_layer(i).precision = pin
            return out

    x = rng.standard_normal((3, c, 9, 13)).astype(np.float32)
    engine = util.build(define, {"x": x})
    plain = util.build(define, {"x": x}, passes_off=(PASS,))
    got = engine.create_execution_context().execute({"x": x})["out0"]
    off = plain.create_execution_context().execute({"x": x})["out0"]
    ref = reference(x)
    for what, y in (("with the pass", got), ("pass off", off)):
        err = float(np.abs(y - ref).max()) / float(np.abs(ref).max())
        assert err <= 1e-5, f"{what}: {err:.2e}"
    # the Scale after the GELU stays a layer (nothing folds across an activation); it now scales axis 1
    assert _types(engine) == ["LayerNorm", "Convolution", "Scale", "Convolution"], _types(engine)
    scale = engine.layer_info()["kernels"][2]
    assert scale["fields"].get("channel_axis") == [1], scale["fields"]
    assert _types(plain).count("Shuffle") == 2, _types(plain)


@gpu
@pytest.mark.parametrize("fp16", [False, True])
def test_gpu_block_runs_channels_first(fp16, rng):
    """On the GPU the block's FullyConnected layers run as 1x1 convolutions (FP16: the HWC8 tensor-core tactics, with
    Reformats around the LINEAR LayerNorm) and no Shuffle is left; the output equals the CPU engine's."""
    c = 40
    define, _ = _api_block(c, rng)
    x = rng.standard_normal((3, c, 9, 13)).astype(np.float32)
    tol = dict(rtol=3e-2, atol=3e-2) if fp16 else dict(rtol=1e-4, atol=1e-4)
    info = compare_gpu_cpu(define, {"x": x}, fp16=fp16, expect_half=("Convolution", "LayerNorm") if fp16 else (), **tol)
    types = [k["type"] for k in info["kernels"]]
    assert "Shuffle" not in types and "FullyConnected" not in types and types.count("Convolution") == 2, types


def test_torch_cnblock_export(rng, tmp_path):
    """A CNBlock written as torchvision writes it, exported by torch (skipped without torch)."""
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class CNBlock(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
            self.norm = nn.LayerNorm(c, eps=1e-6)
            self.fc1, self.act, self.fc2 = nn.Linear(c, 4 * c), nn.GELU(), nn.Linear(4 * c, c)
            self.layer_scale = nn.Parameter(torch.rand(c, 1, 1) + 0.5)

        def forward(self, x):
            y = self.dw(x).permute(0, 2, 3, 1)
            y = self.fc2(self.act(self.fc1(self.norm(y)))).permute(0, 3, 1, 2)
            return self.layer_scale * y + x

    torch.manual_seed(int(rng.integers(1 << 31)))
    c, hw = 40, (11, 8)
    block = CNBlock(c).eval()
    with torch.no_grad():
        for p in block.norm.parameters():
            p.add_(torch.randn(p.shape) * 0.2)
    path = str(tmp_path / "cnblock.onnx")
    kw = dict(input_names=["x"], output_names=["out"], opset_version=17, dynamic_axes={"x": {0: "N"}, "out": {0: "N"}})
    try:
        torch.onnx.export(block, torch.randn(1, c, *hw), path, dynamo=False, **kw)
    except TypeError:  # a torch without the dynamo argument
        torch.onnx.export(block, torch.randn(1, c, *hw), path, **kw)
    m = onnx.load(path)
    xs = [rng.standard_normal((b, c) + hw).astype(np.float32) for b in (1, 3)]
    engine = _check(m, xs)
    for x in xs:
        with torch.no_grad():
            ref = block(torch.from_numpy(x)).numpy()
        got = engine.create_execution_context().execute({"x": x})["out"]
        assert float(np.abs(got - ref).max()) / float(np.abs(ref).max()) <= 1e-5
    assert _types(engine) == ["Convolution", "LayerNorm", "Convolution", "Convolution"], _types(engine)


def test_refit_from_the_whole_network():
    """The FullyConnected layers' weights now live in convolutions (another layer type), so the build report says to
    refit them from the whole network; that refit gives the new weights' result, and by name it is refused clearly."""
    def network(seed):
        define, reference = _api_block(24, np.random.default_rng(seed))
        net = gie.Builder().create_network()
        x = net.add_input("x", gie.float32, (2, 24, 7, 9))
        out = define(net, {"x": x})
        for i in range(net.num_layers):
            net.get_layer(i).name = f"{net.get_layer(i).type}_{i}"
        net.mark_output(out, "y")
        return net, reference

    builder = gie.Builder()
    config = builder.create_config()
    config.device, config.refittable, config.max_batch = "cpu", True, 2
    engine = builder.build(network(1)[0], config)
    assert _types(engine) == ["LayerNorm", "Convolution", "Scale", "Convolution"], _types(engine)
    x = np.random.default_rng(3).standard_normal((2, 24, 7, 9)).astype(np.float32)
    new, reference = network(2)
    before = engine.create_execution_context().execute({"x": x})["y"]
    gie.Refitter(engine).set_network(new).refit()
    got = engine.create_execution_context().execute({"x": x})["y"]
    want = reference(x)
    assert float(np.abs(before - want).max()) > 0.1  # the new weights change the result
    assert float(np.abs(got - want).max()) / float(np.abs(want).max()) <= 1e-5
    with pytest.raises(gie.InvalidArgumentError, match="refit them from the whole network"):
        gie.Refitter(engine).set_weights("FullyConnected_2", "kernel", np.zeros(96 * 24, np.float32)).refit()
