"""Patterns of modern architectures as torch exports them to ONNX (issue 20): LayerNorm decomposed into
ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div[/Mul/Add] (last axis; channels of NCHW as ConvNeXt writes it), GELU's
tanh form, hard swish as x * Clip(x + 3, 0, 6) / 6; and the LayerNorm layer itself (network API, ONNX
LayerNormalization, CPU FP32/FP16, GPU FP32/FP16 against the CPU reference).

Every recognised pattern is checked three ways: the build report names it (layer_info()["passes"]), the engine
has the one kernel, and its output equals onnxruntime's and that of the engine built with the pass off. Negative
cases (epsilon added to the standard deviation, means over other axes, a mean read elsewhere, scale varying along
another axis, other constants) must not match, and still compute the right thing."""
import math

import numpy as np
import pytest

import gie
import util
from gpu_util import compare_gpu_cpu, each_tactic, fp16_config, fp16_everywhere, gpu

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

n = helper.make_node


def _model(nodes, x_shape, inits, opset=13, outputs=("out",)):
    g = helper.make_graph(nodes, "pattern", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, [f"{o}{i}" for i in range(len(x_shape))])
                           for o in outputs],
                          initializer=[numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _build(m, passes_off=(), max_batch=4):
    builder = gie.Builder()
    net = gie.OnnxParser(builder=builder).parse(m)
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = max_batch
    for p in passes_off:
        config.set_pass_enabled(p, False)
    return builder.build(net, config)


def _ort(m, x):
    return list(util.ort_run(m, {"x": x}).values())


def _fused(engine, prefix):
    return [p for p in engine.layer_info()["passes"] if p.startswith(prefix)]


def _kernel_types(engine):
    return [k["type"] for k in engine.layer_info()["kernels"]]


def _check_against_ort_and_unfused(m, x, pass_name, rtol=1e-5, atol=1e-5):
    """The engine's outputs vs onnxruntime's and vs the engine built without `pass_name`; returns the engine."""
    engine = _build(m)
    got = engine.create_execution_context().execute({"x": x})
    plain = _build(m, passes_off=(pass_name,)).create_execution_context().execute({"x": x})
    ref = _ort(m, x)
    for i, name in enumerate(o.name for o in m.graph.output):
        np.testing.assert_allclose(got[name], ref[i], rtol=rtol, atol=atol, err_msg=f"{name} vs onnxruntime")
        np.testing.assert_allclose(got[name], plain[name], rtol=rtol, atol=atol, err_msg=f"{name} vs the unfused engine")
    return engine


# ================================================================================================ LayerNorm patterns

def _ln_nodes(axis=-1, square="pow", twice=False, eps_on_std=False, var_axis=None, affine=True, scale_first=False):
    """torch's export of F.layer_norm before opset 17 (and ConvNeXt's hand-written channel LayerNorm with
    `twice`: x - mean computed for the square and again for the division)."""
    var_axis = axis if var_axis is None else var_axis
    nodes = [n("ReduceMean", ["x"], ["mean"], axes=[axis]), n("Sub", ["x", "mean"], ["d"])]
    d2 = "d"
    if twice:
        nodes.append(n("Sub", ["x", "mean"], ["d2"]))
        d2 = "d2"
    nodes.append(n("Pow", ["d", "two"], ["sq"]) if square == "pow" else n("Mul", ["d", "d"], ["sq"]))
    nodes.append(n("ReduceMean", ["sq"], ["var"], axes=[var_axis]))
    if eps_on_std:  # (x - mean) / (sqrt(var) + eps): not a LayerNorm
        nodes += [n("Sqrt", ["var"], ["sd"]), n("Add", ["sd", "eps"], ["den"])]
    else:
        nodes += [n("Add", ["var", "eps"], ["ve"]), n("Sqrt", ["ve"], ["den"])]
    nodes.append(n("Div", [d2, "den"], ["nrm"] if affine else ["out"]))
    if affine:
        nodes += [n("Mul", ["g", "nrm"] if scale_first else ["nrm", "g"], ["sc"]), n("Add", ["sc", "b"], ["out"])]
    return nodes


def _ln_inits(rng, c, gamma_shape=None, eps=1e-5):
    gs = gamma_shape or (c,)
    return {"two": np.float32(2.0), "eps": np.float32(eps), "g": rng.standard_normal(gs).astype(np.float32),
            "b": rng.standard_normal(gs).astype(np.float32)}


LN_CASES = {  # name: (x shape, node options, gamma shape or None)
    "last_axis_pow": ((3, 5, 33), dict(axis=-1), None),
    "last_axis_mul_square": ((2, 7, 17), dict(axis=2, square="mul"), None),
    "last_axis_no_affine": ((2, 4, 9), dict(axis=-1, affine=False), None),
    "channels_convnext": ((2, 6, 5, 7), dict(axis=1, twice=True, scale_first=True), (6, 1, 1)),
    "channels_rank3": ((2, 5, 11), dict(axis=1), (5, 1)),
}


@pytest.mark.parametrize("case", sorted(LN_CASES))
def test_decomposed_layer_norm_becomes_one_layer(case, rng):
    shape, opts, gshape = LN_CASES[case]
    c = shape[opts["axis"]]
    m = _model(_ln_nodes(**opts), ["N"] + list(shape[1:]), _ln_inits(rng, c, gshape))
    x = (rng.standard_normal(shape) * 3 + 1.5).astype(np.float32)
    engine = _check_against_ort_and_unfused(m, x, "recognize_layer_norm")
    assert _kernel_types(engine) == ["LayerNorm"], _kernel_types(engine)
    lines = _fused(engine, "recognize_layer_norm:")
    assert len(lines) == 1 and "LayerNorm over axis" in lines[0], engine.layer_info()["passes"]
    assert len(engine.layer_info()["kernels"][0]["source_layers"]) == len(m.graph.node)


def test_onnx_layer_normalization_imports_as_one_layer(rng):
    """Opset 17 LayerNormalization (what torch exports from opset 17 on; ConvNeXt's LayerNorm2d between two
    Transposes) runs as one LayerNorm kernel."""
    c = 24
    inits = {"g": rng.standard_normal(c).astype(np.float32), "b": rng.standard_normal(c).astype(np.float32)}
    nodes = [n("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]),
             n("LayerNormalization", ["t", "g", "b"], ["ln"], axis=-1, epsilon=1e-6),
             n("Transpose", ["ln"], ["out"], perm=[0, 3, 1, 2])]
    m = _model(nodes, ["N", c, 5, 3], inits, opset=17)
    x = (rng.standard_normal((3, c, 5, 3)) * 2).astype(np.float32)
    engine = _check_against_ort_and_unfused(m, x, "recognize_layer_norm")
    assert _kernel_types(engine).count("LayerNorm") == 1, _kernel_types(engine)
    assert not {"Reduce", "ElementWise", "Unary"} & set(_kernel_types(engine)), _kernel_types(engine)


def test_opset18_reduce_mean_with_axes_input(rng):
    """From opset 18 ReduceMean takes its axes as an input (torch exports a Constant)."""
    c = 10
    nodes = [n("Constant", [], ["ax"], value=numpy_helper.from_array(np.array([-1], np.int64)))]
    for node in _ln_nodes(axis=-1):
        if node.op_type == "ReduceMean":
            node = n("ReduceMean", [node.input[0], "ax"], list(node.output))
        nodes.append(node)
    m = _model(nodes, ["N", 3, c], _ln_inits(rng, c), opset=18)
    x = rng.standard_normal((2, 3, c)).astype(np.float32)
    engine = _check_against_ort_and_unfused(m, x, "recognize_layer_norm")
    assert _kernel_types(engine) == ["LayerNorm"]


LN_NEGATIVE = {  # name: (x shape, node options, gamma shape, what stays)
    "eps_added_to_std": ((2, 3, 8), dict(axis=-1, eps_on_std=True), None),
    "variance_over_another_axis": ((2, 3, 8), dict(axis=-1, var_axis=1), None),
}


@pytest.mark.parametrize("case", sorted(LN_NEGATIVE))
def test_near_layer_norms_are_not_rewritten(case, rng):
    shape, opts, gshape = LN_NEGATIVE[case]
    m = _model(_ln_nodes(**opts), ["N"] + list(shape[1:]), _ln_inits(rng, shape[-1], gshape))
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    engine = _check_against_ort_and_unfused(m, x, "recognize_layer_norm")
    assert not _fused(engine, "recognize_layer_norm:")
    assert "LayerNorm" not in _kernel_types(engine)


def test_two_axis_mean_is_not_rewritten(rng):
    nodes = _ln_nodes(axis=-1, affine=False)
    for node in nodes:
        if node.op_type == "ReduceMean":
            del node.attribute[:]
            node.attribute.extend([helper.make_attribute("axes", [-2, -1])])
    m = _model(nodes, ["N", 3, 8], {"two": np.float32(2), "eps": np.float32(1e-5)})
    x = rng.standard_normal((2, 3, 8)).astype(np.float32)
    engine = _check_against_ort_and_unfused(m, x, "recognize_layer_norm")
    assert not _fused(engine, "recognize_layer_norm:")


def test_mean_read_elsewhere_is_not_rewritten(rng):
    """The mean is also a network output: removing it would drop a tensor someone reads."""
    m = _model(_ln_nodes(axis=-1), ["N", 3, 8], _ln_inits(rng, 8), outputs=("out", "mean"))
    x = rng.standard_normal((2, 3, 8)).astype(np.float32)
    engine = _check_against_ort_and_unfused(m, x, "recognize_layer_norm")
    assert not _fused(engine, "recognize_layer_norm:")


def test_scale_along_another_axis_stays_a_product(rng):
    """gamma of shape (3, 1) against (N, 3, 8) normalised over the last axis varies along axis 1: the LayerNorm
    is recognised without it, and the product (and the sum after it) stay."""
    m = _model(_ln_nodes(axis=-1), ["N", 3, 8], _ln_inits(rng, 8, gamma_shape=(3, 1)))
    x = rng.standard_normal((2, 3, 8)).astype(np.float32)
    engine = _check_against_ort_and_unfused(m, x, "recognize_layer_norm")
    lines = _fused(engine, "recognize_layer_norm:")
    assert len(lines) == 1 and "with scale" not in lines[0], lines
    assert "LayerNorm" in _kernel_types(engine) and len(_kernel_types(engine)) > 1


# ================================================================================================ activations

def _act_model(kind, rng, shape=(2, 6, 8, 7)):
    """x -> the activation spelled as torch exports it -> out."""
    inits = {"half": np.float32(0.5), "one": np.float32(1.0), "three": np.float32(3.0), "six": np.float32(6.0),
             "sixth": np.float32(1 / 6), "zero": np.float32(0.0), "cube": np.float32(3.0),
             "beta": np.float32(math.sqrt(2 / math.pi)), "kappa": np.float32(0.044715), "kappa_off": np.float32(0.045),
             "five": np.float32(5.0)}
    tanh_tail = [n("Tanh", ["u"], ["t"]), n("Add", ["one", "t"], ["a"]), n("Mul", ["x", "a"], ["m"]),
                 n("Mul", ["half", "m"], ["out"])]
    # torch.onnx symbolic_opset9.gelu(approximate='tanh'): half * (x * (one + tanh(beta * (x + kappa * (x * (x * x))))))
    gelu_tanh = [n("Mul", ["x", "x"], ["sq"]), n("Mul", ["x", "sq"], ["c3"]), n("Mul", ["kappa", "c3"], ["k"]),
                 n("Add", ["x", "k"], ["s"]), n("Mul", ["beta", "s"], ["u"])] + tanh_tail
    # Hugging Face NewGELU: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * pow(x, 3))))
    gelu_tanh_pow = [n("Pow", ["x", "cube"], ["c3"]), n("Mul", ["c3", "kappa"], ["k"]), n("Add", ["k", "x"], ["s"]),
                     n("Mul", ["s", "beta"], ["u"]), n("Tanh", ["u"], ["t"]), n("Add", ["t", "one"], ["a"]),
                     n("Mul", ["x", "half"], ["hx"]), n("Mul", ["hx", "a"], ["out"])]
    clip = [n("Add", ["x", "three"], ["p"]), n("Clip", ["p", "zero", "six"], ["c"])]
    table = {
        "gelu_tanh_torch": (gelu_tanh, "GELU_TANH"),
        "gelu_tanh_pow": (gelu_tanh_pow, "GELU_TANH"),
        "hardswish_clip_div_after": (clip + [n("Mul", ["x", "c"], ["m"]), n("Div", ["m", "six"], ["out"])], "HARD_SWISH"),
        "hardswish_clip_div_first": (clip + [n("Div", ["c", "six"], ["q"]), n("Mul", ["q", "x"], ["out"])], "HARD_SWISH"),
        "hardswish_clip_times_sixth": (clip + [n("Mul", ["c", "x"], ["m"]), n("Mul", ["m", "sixth"], ["out"])], "HARD_SWISH"),
        # negatives: a kappa that is not GELU's, a clip at 5
        "gelu_tanh_other_kappa": ([n("Mul", ["x", "x"], ["sq"]), n("Mul", ["x", "sq"], ["c3"]),
                                   n("Mul", ["kappa_off", "c3"], ["k"]), n("Add", ["x", "k"], ["s"]),
                                   n("Mul", ["beta", "s"], ["u"])] + tanh_tail, None),
        "hardswish_clip_at_5": ([n("Add", ["x", "three"], ["p"]), n("Clip", ["p", "zero", "five"], ["c"]),
                                 n("Mul", ["x", "c"], ["m"]), n("Div", ["m", "six"], ["out"])], None),
    }
    nodes, expected = table[kind]
    used = {i for node in nodes for i in node.input}
    m = _model(nodes, ["N"] + list(shape[1:]), {k: v for k, v in inits.items() if k in used})
    return m, expected


ACT_KINDS = ["gelu_tanh_torch", "gelu_tanh_pow", "hardswish_clip_div_after", "hardswish_clip_div_first",
             "hardswish_clip_times_sixth", "gelu_tanh_other_kappa", "hardswish_clip_at_5"]


@pytest.mark.parametrize("kind", ACT_KINDS)
def test_activation_forms_become_one_activation(kind, rng):
    m, expected = _act_model(kind, rng)
    x = (rng.standard_normal((2, 6, 8, 7)) * 4).astype(np.float32)
    engine = _check_against_ort_and_unfused(m, x, "recognize_activations", rtol=1e-5, atol=2e-6)
    lines = _fused(engine, "recognize_activations:")
    if expected is None:
        assert not lines, lines
        assert len(_kernel_types(engine)) > 1
    else:
        assert len(lines) == 1 and f"one {expected} activation" in lines[0], lines
        assert _kernel_types(engine) == ["Activation"]


def test_gelu_tanh_fuses_into_the_convolution(rng):
    """The recognised activation then moves into the producing convolution's epilogue (fuse_epilogue)."""
    m, _ = _act_model("gelu_tanh_torch", rng)
    w = (rng.standard_normal((6, 3, 3, 3)) * 0.5).astype(np.float32)
    g = m.graph
    for node in g.node:
        node.input[:] = ["y" if i == "x" else i for i in node.input]
    g.node.insert(0, n("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1]))
    g.initializer.append(numpy_helper.from_array(w, "w"))
    g.input[0].type.tensor_type.shape.dim[1].dim_value = 3
    x = rng.standard_normal((2, 3, 8, 7)).astype(np.float32)
    engine = _check_against_ort_and_unfused(m, x, "recognize_activations", rtol=1e-4, atol=1e-5)
    assert _kernel_types(engine) == ["Convolution"], _kernel_types(engine)


# ================================================================================================ the LayerNorm layer

def _ln_ref(x, axis, eps, scale=None, bias=None):
    x64 = x.astype(np.float64)
    m = x64.mean(axis, keepdims=True)
    v = ((x64 - m) ** 2).mean(axis, keepdims=True)
    y = (x64 - m) / np.sqrt(v + eps)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    if scale is not None:
        y = y * scale.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


AWKWARD = [((3, 5, 33), -1), ((1, 1, 1), -1), ((2, 7, 1), 1), ((4, 13, 3, 5), 1), ((2, 3, 4097), 2), ((5, 6), 0)]


@pytest.mark.parametrize("shape,axis", AWKWARD)
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_layer_matches_numpy(shape, axis, affine, rng):
    if axis == 0 and affine:
        pytest.skip("scale along the batch axis: its length changes with the batch (refused, see the errors test)")
    x = (rng.standard_normal(shape) * 5 + 3).astype(np.float32)
    c = shape[axis]
    sc = rng.standard_normal(c).astype(np.float32) if affine else None
    bi = rng.standard_normal(c).astype(np.float32) if affine else None
    out, = util.run(lambda net, t: net.add_layer_norm(t["x"], axis, 1e-3, sc, bi).output(0), {"x": x})
    np.testing.assert_allclose(out, _ln_ref(x, axis, 1e-3, sc, bi), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape,axis", AWKWARD[:4])
def test_layer_norm_fp16_storage_on_the_cpu(shape, axis, rng):
    """Pinned to FP16: the input rounded to half, FP32 math, the output rounded to half once."""
    x = (rng.standard_normal(shape) * 5).astype(np.float32)
    c = shape[axis]
    sc, bi = rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32)
    define = fp16_everywhere(lambda net, t: net.add_layer_norm(t["x"], axis, 1e-5, sc, bi).output(0))
    engine = util.build(define, {"x": x}, configure=fp16_config)
    assert any(k["type"] == "LayerNorm" and k["precision"] == "float16" for k in engine.layer_info()["kernels"])
    out = engine.create_execution_context().execute({"x": x})["out0"]
    h = lambda a: np.asarray(a, np.float32).astype(np.float16).astype(np.float32)  # noqa: E731
    ref = h(_ln_ref(h(x), axis, 1e-5, sc, bi))
    np.testing.assert_allclose(out, ref, rtol=2e-3, atol=2e-3)


def test_layer_norm_bad_fields_are_clear_errors(rng):
    x = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(gie.Error, match="'scale' has 3 values but axis 2"):
        util.run(lambda net, t: net.add_layer_norm(t["x"], -1, 1e-5, np.ones(3, np.float32)).output(0), {"x": x})
    with pytest.raises(gie.InvalidArgumentError, match="epsilon"):
        util.run(lambda net, t: net.add_layer_norm(t["x"], -1, -1.0).output(0), {"x": x})
    with pytest.raises(gie.InvalidModelError, match="'scale' has 2 values but axis 0 of the input \\(1, 3, 4\\)"):
        util.run(lambda net, t: net.add_layer_norm(t["x"], 0, 1e-5, np.ones(2, np.float32)).output(0), {"x": x})
    with pytest.raises(gie.Error, match="axis 3 is out of range"):
        util.run(lambda net, t: net.add_layer_norm(t["x"], 3).output(0), {"x": x})


# ================================================================================================ GPU (coordinator)

GPU_SHAPES = [((13, 7, 33), -1), ((13, 3, 768), -1), ((13, 2, 5000), -1), ((13, 96, 7, 5), 1), ((13, 5, 1), 1),
              ((1, 768, 7, 7), 1),   # ConvNeXt's last stage at batch 1: 49 columns (column_split8 / 32)
              ((3, 37, 5, 3), 1)]    # 45 columns, an axis not a multiple of the 32 / 8 thread groups


@gpu
@pytest.mark.parametrize("shape,axis", GPU_SHAPES)
@pytest.mark.parametrize("fp16", [False, True])
def test_gpu_layer_norm_each_tactic(shape, axis, fp16, rng):
    x = (rng.standard_normal(shape) * 4 + 2).astype(np.float32)
    c = shape[axis]
    sc, bi = rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32)

    def define(net, t):
        return net.add_layer_norm(t["x"], axis, 1e-5, sc, bi).output(0)

    tol = dict(rtol=2e-3, atol=2e-3) if fp16 else dict(rtol=1e-4, atol=1e-4)
    half = dict(fp16=True, expect_half=("LayerNorm",)) if fp16 else {}
    tactics = each_tactic(define, {"x": x}, "LayerNorm", **half, **tol)
    if len(shape) == 4:  # over channels: the split-column tactics are offered
        assert {"column", "column_split8", "column_split32"} <= set(tactics), tactics


@gpu
@pytest.mark.parametrize("shape", [(3, 37, 5, 7), (2, 96, 4, 4), (1, 768, 7, 7)], ids=str)
@pytest.mark.parametrize("tactic", ["row_warp", "row_block256"])
@pytest.mark.parametrize("then_conv", [False, True], ids=["alone", "then_1x1"])
def test_gpu_layer_norm_hwc8_over_channels(shape, tactic, then_conv, rng):
    """LayerNorm over the channels of a 4-D FP16 tensor on HALF HWC8 (ConvNeXt's, between an HWC8 depthwise and an
    HWC8 1x1 convolution): the row tactics apply only there (over channels on LINEAR they are refused), so forcing one
    makes the builder run the layer on HWC8. Against the CPU reference; with a 1x1 convolution after it (C = 37: 3
    padding channels per pixel, which the LayerNorm must write as zeros for the convolution's reads), the chain too."""
    x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
    c = shape[1]
    sc, bi = rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32)
    w = (rng.standard_normal((16, c, 1, 1)) / np.sqrt(c)).astype(np.float32)

    def define(net, t):
        y = net.add_layer_norm(t["x"], 1, 1e-5, sc, bi).output(0)
        return net.add_convolution(y, 16, (1, 1), w, np.zeros(16, np.float32)).output(0) if then_conv else y

    info = compare_gpu_cpu(define, {"x": x}, force={"LayerNorm": tactic}, fp16=True, expect_half=("LayerNorm",),
                           rtol=3e-3, atol=3e-3)
    ln = [k for k in info["kernels"] if k["type"] == "LayerNorm"]
    assert len(ln) == 1 and ln[0]["tactic"] == tactic, ln
    assert ln[0]["inputs"][0]["format"] == "hwc8" and ln[0]["outputs"][0]["format"] == "hwc8", ln


@gpu
def test_gpu_layer_norm_without_affine(rng):
    x = rng.standard_normal((13, 4, 65)).astype(np.float32)
    compare_gpu_cpu(lambda net, t: net.add_layer_norm(t["x"]).output(0), {"x": x}, rtol=1e-4, atol=1e-4)


# ================================================================================================ squeeze-excitation

def _se_model(rng, c=12, cs=5, act="relu", gate="sigmoid", hw=(5, 7), pool_axes=None, extra_output=None):
    """torchvision's SqueezeExcitation as exported: GlobalAveragePool -> Conv 1x1 -> act -> Conv 1x1 -> gate ->
    Mul(gate, x)."""
    inits = {"w1": rng.standard_normal((cs, c, 1, 1)).astype(np.float32) * 0.5, "b1": rng.standard_normal(cs).astype(np.float32),
             "w2": rng.standard_normal((c, cs, 1, 1)).astype(np.float32) * 0.5, "b2": rng.standard_normal(c).astype(np.float32)}
    pool = (n("GlobalAveragePool", ["x"], ["p"]) if pool_axes is None
            else n("ReduceMean", ["x"], ["p"], axes=list(pool_axes), keepdims=1))
    acts = {"relu": [n("Relu", ["h"], ["ha"])],
            "silu": [n("Sigmoid", ["h"], ["hs"]), n("Mul", ["h", "hs"], ["ha"])]}[act]
    gates = {"sigmoid": n("Sigmoid", ["g"], ["s"]), "hardsigmoid": n("HardSigmoid", ["g"], ["s"], alpha=1 / 6, beta=0.5)}
    nodes = [pool, n("Conv", ["p", "w1", "b1"], ["h"])] + acts + [n("Conv", ["ha", "w2", "b2"], ["g"]), gates[gate],
                                                                  n("Mul", ["s", "x"], ["out"])]
    return _model(nodes, ["N", c, hw[0], hw[1]], inits, outputs=("out",) + ((extra_output,) if extra_output else ()))


@pytest.mark.parametrize("act,gate", [("relu", "hardsigmoid"), ("silu", "sigmoid")])
def test_squeeze_excitation_becomes_one_layer(act, gate, rng):
    """MobileNetV3 (ReLU, HardSigmoid) and EfficientNet (SiLU, Sigmoid) blocks."""
    m = _se_model(rng, act=act, gate=gate)
    x = (rng.standard_normal((3, 12, 5, 7)) * 2).astype(np.float32)
    engine = _check_against_ort_and_unfused(m, x, "recognize_squeeze_excitation", rtol=1e-5, atol=1e-5)
    assert sorted(_kernel_types(engine)) == ["ElementWise", "SqueezeExcitation"], _kernel_types(engine)
    lines = _fused(engine, "recognize_squeeze_excitation:")
    assert len(lines) == 1 and "squeeze 5" in lines[0], lines


def test_squeeze_excitation_near_misses_are_not_rewritten(rng):
    x = rng.standard_normal((2, 12, 5, 7)).astype(np.float32)
    for m in [_se_model(rng, pool_axes=(2,)),            # the mean over the height only
              _se_model(rng, extra_output="s")]:         # the gate is also a network output
        engine = _check_against_ort_and_unfused(m, x, "recognize_squeeze_excitation")
        assert not _fused(engine, "recognize_squeeze_excitation:")


def _se_layer(net, t, p):
    return net.add_layer("SqueezeExcitation", [t], p).output(0)


def _se_params(rng, c, cs, bias=True):
    p = {"squeeze": np.array([cs], np.int64), "kernel1": rng.standard_normal(cs * c).astype(np.float32) * 0.3,
         "kernel2": rng.standard_normal(c * cs).astype(np.float32) * 0.3,
         "activation": np.array([int(gie.ActivationType.SILU)], np.int64),
         "gate": np.array([int(gie.ActivationType.HARD_SIGMOID)], np.int64),
         "gate_alpha": np.array([1 / 6], np.float32), "gate_beta": np.array([0.5], np.float32)}
    if bias:
        p["bias1"] = rng.standard_normal(cs).astype(np.float32)
        p["bias2"] = rng.standard_normal(c).astype(np.float32)
    return p


def _se_ref(x, p):
    x64 = x.astype(np.float64)
    c, cs = x.shape[1], int(p["squeeze"][0])
    pooled = x64.reshape(x.shape[0], c, -1).mean(-1)
    h = pooled @ p["kernel1"].reshape(cs, c).T.astype(np.float64) + p.get("bias1", np.zeros(cs))
    h = h / (1 + np.exp(-h))
    g = h @ p["kernel2"].reshape(c, cs).T.astype(np.float64) + p.get("bias2", np.zeros(c))
    g = np.clip(g / 6 + 0.5, 0, 1)
    return g.reshape(x.shape[:2] + (1,) * (x.ndim - 2))


SE_SHAPES = [((3, 12, 5, 7), 5), ((1, 1, 1, 1), 1), ((2, 37, 3), 9), ((2, 40, 1, 1), 40)]


@pytest.mark.parametrize("shape,cs", SE_SHAPES)
@pytest.mark.parametrize("bias", [True, False])
def test_squeeze_excitation_layer_matches_numpy(shape, cs, bias, rng):
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    p = _se_params(rng, shape[1], cs, bias)
    out, = util.run(lambda net, t: _se_layer(net, t["x"], p), {"x": x})
    np.testing.assert_allclose(out, _se_ref(x, p), rtol=1e-5, atol=1e-6)


def test_squeeze_excitation_fp16_storage_on_the_cpu(rng):
    x = (rng.standard_normal((3, 12, 5, 7)) * 3).astype(np.float32)
    p = _se_params(rng, 12, 5)
    engine = util.build(fp16_everywhere(lambda net, t: _se_layer(net, t["x"], p)), {"x": x}, configure=fp16_config)
    assert any(k["type"] == "SqueezeExcitation" and k["precision"] == "float16" for k in engine.layer_info()["kernels"])
    out = engine.create_execution_context().execute({"x": x})["out0"]
    h = lambda a: np.asarray(a, np.float32).astype(np.float16).astype(np.float32)  # noqa: E731
    np.testing.assert_allclose(out, h(_se_ref(h(x), p)), rtol=2e-3, atol=2e-3)


def test_squeeze_excitation_bad_fields_are_clear_errors(rng):
    x = np.zeros((2, 12, 3, 3), np.float32)
    p = _se_params(rng, 11, 5)  # weights for 11 channels
    with pytest.raises(gie.InvalidModelError, match="kernel1 / kernel2 have 55 / 55 values"):
        util.run(lambda net, t: _se_layer(net, t["x"], p), {"x": x})
    p = dict(_se_params(rng, 12, 5), squeeze=np.array([0], np.int64))
    with pytest.raises(gie.InvalidArgumentError, match="squeeze > 0"):
        util.run(lambda net, t: _se_layer(net, t["x"], p), {"x": x})


@gpu
@pytest.mark.parametrize("shape,cs", [((13, 12, 5, 7), 5), ((13, 96, 56, 56), 4), ((13, 1152, 7, 7), 48), ((13, 37, 3), 9)])
@pytest.mark.parametrize("fp16", [False, True])
def test_gpu_squeeze_excitation(shape, cs, fp16, rng):
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    p = _se_params(rng, shape[1], cs)
    tol = dict(rtol=2e-3, atol=2e-3) if fp16 else dict(rtol=1e-4, atol=1e-5)
    compare_gpu_cpu(lambda net, t: _se_layer(net, t["x"], p), {"x": x}, fp16=fp16,
                    expect_half=("SqueezeExcitation",) if fp16 else (), **tol)


@gpu
@pytest.mark.parametrize("shape,cs", [((13, 12, 5, 7), 5), ((13, 1152, 7, 7), 48), ((13, 37, 3), 9), ((1, 672, 14, 14), 28)])
@pytest.mark.parametrize("fp16", [False, True])
def test_gpu_squeeze_excitation_warps_tactic(shape, cs, fp16, rng, monkeypatch):
    """se_warps_2k (the gate's two phases as many-block kernels; written without a GPU and held back until these
    tests passed on an H100, 2026-12-08), forced: against the CPU reference, and bit-identical to the
    one-block-per-sample tactic (the same lanes add the same products in the same order)."""
    from gpu_util import build_gpu
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    p = _se_params(rng, shape[1], cs)
    define = lambda net, t: _se_layer(net, t["x"], p)
    tol = dict(rtol=2e-3, atol=2e-3) if fp16 else dict(rtol=1e-4, atol=1e-5)
    monkeypatch.delenv("GIE_UNVERIFIED_TACTICS", raising=False)
    info = compare_gpu_cpu(define, {"x": x}, fp16=fp16, force={"SqueezeExcitation": "se_warps_2k"},
                           expect_half=("SqueezeExcitation",) if fp16 else (), **tol)
    assert [k["tactic"] for k in info["kernels"] if k["type"] == "SqueezeExcitation"] == ["se_warps_2k"]
    outs = [next(iter(build_gpu(define, {"x": x}, force={"SqueezeExcitation": t}, fp16=fp16)
                      .create_execution_context().execute({"x": x}).values())) for t in ("default", "se_warps_2k")]
    np.testing.assert_array_equal(outs[0], outs[1])


# ================================================================================================ bench/zoo_gpu.py

@pytest.fixture(scope="module")
def zoo():
    """bench/zoo_gpu.py loaded by path: its table code must work without torch or a GPU."""
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "zoo_gpu.py")
    spec = importlib.util.spec_from_file_location("zoo_gpu_under_test", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _t(ms):
    return {"median_ms": ms, "min_ms": ms, "p90_ms": ms, "images_per_s": 1e3 / ms, "runs": 3}


def test_zoo_arguments(zoo):
    a = zoo.parse_args([])
    assert a.batches == [1, 16, 64] and a.precisions == ["fp32", "fp16"] and a.models == list(zoo.MODELS)
    for bad in (["--models", "resnet51"], ["--batches", "0"], ["--batches", "x"], ["--precisions", "int8"],
                ["--compile-timeout", "0"]):
        with pytest.raises(SystemExit):
            zoo.parse_args(bad)


def test_zoo_ratio_to_the_best_torch_column(zoo):
    row = {"gie": _t(2.0), "eager": _t(8.0), "graph": _t(4.0), "compile": None}
    assert zoo.best_torch(row) == ("graph", 4.0)
    assert zoo.vs_best(row) == pytest.approx(0.5)
    row["compile"] = _t(1.0)
    assert zoo.best_torch(row) == ("compile", 1.0) and zoo.vs_best(row) == pytest.approx(2.0)
    assert zoo.vs_best({"gie": _t(1.0)}) is None and zoo.vs_best({"eager": _t(1.0)}) is None


def test_zoo_layout_lines(zoo):
    """--layout: one line per kernel in order, ms per profiled run ('-' for a kernel the profiler did not report)."""
    info = {"kernels": [
        {"name": "conv", "type": "Convolution", "precision": "float16", "tactic": "hmma1x1",
         "inputs": [{"dtype": "float16", "format": "hwc8"}], "outputs": [{"dtype": "float16", "format": "linear"}]},
        {"name": "ln", "type": "LayerNorm", "precision": "float16", "tactic": "column",
         "inputs": [{"dtype": "float16", "format": "linear", "view_kind": "rows"}], "outputs": []}]}
    lines = zoo.layout_lines("m batch 2 fp16: 2 kernels", info, {"conv": 0.9}, 3)
    assert lines[0] == "## m batch 2 fp16: 2 kernels" and len(lines) == 3
    assert lines[1].split()[:5] == ["0.3000", "ms", "Convolution", "float16", "hmma1x1"]
    assert "in float16/hwc8 -> out float16/linear" in lines[1] and lines[1].endswith("conv")
    assert lines[2].split()[0] == "-" and "in float16/linear(view) -> out " in lines[2]


def test_zoo_slowest_steps_and_accuracy(zoo):
    steps = zoo.slowest_steps({"a": 3.0, "b": 9.0, "c": 6.0, "d": 1.0}, {"b": "LayerNorm", "c": "Convolution"}, runs=3)
    assert steps == [("b", "LayerNorm", 3.0), ("c", "Convolution", 2.0), ("a", "?", 1.0)]
    ref = np.array([[1.0, 4.0, 2.0], [3.0, 0.0, -8.0]])
    err, top1 = zoo.accuracy(ref + np.array([[0, 0, 0.5], [0, 4.0, 0]]), ref)
    assert err == pytest.approx(4.0 / 8.0) and top1 == pytest.approx(0.5)  # row 2's argmax moved
    assert zoo.accuracy(np.full((2, 3), np.nan), ref)[0] == float("inf")
    with pytest.raises(ValueError, match="differs"):
        zoo.accuracy(np.zeros((2, 4)), ref)


def test_zoo_table(zoo):
    rows = [{"model": "convnext_tiny", "batch": 16, "precision": "fp32", "gie": _t(12.1), "eager": _t(7.1),
             "graph": _t(6.9), "compile_error": "timeout", "rel_err": 2.5e-6, "top1": 1.0,
             "slowest": [("ln1", "LayerNorm", 0.51), ("conv3", "Convolution", 0.4)], "errors": ["torch.compile: timed out"]},
            {"model": "vit_small", "batch": 1, "precision": "fp16", "errors": ["gie: UnsupportedError: x"]}]
    md = zoo.table(rows).splitlines()
    assert md[2].startswith("| model") and "slowest gie steps" in md[2]
    first = [c.strip() for c in md[4].strip("|").split("|")]
    assert first[:10] == ["convnext_tiny", "16", "fp32", "12.100", "7.100", "6.900", "timeout", "1.75 (graph)", "2.5e-06",
                          "100%"]
    assert first[10] == "ln1 LayerNorm 0.510; conv3 Convolution 0.400" and first[11] == "torch.compile: timed out"
    second = [c.strip() for c in md[5].strip("|").split("|")]
    assert second[3:10] == ["-"] * 7 and second[11] == "gie: UnsupportedError: x"


def test_model_zoo_efficientnet_squeeze_excitation_is_recognised(rng):
    """The network API's spelling (an average Pooling over the whole plane) in gie.model_zoo's EfficientNet-B0:
    all 16 blocks' gates become SqueezeExcitation layers, and the output equals the unrewritten engine's."""
    from gie import model_zoo

    spec = model_zoo.describe("efficientnet_b0", seed=0, image=64)
    x = spec.random_input(2, seed=1)
    outs, engines = [], []
    for off in ((), ("recognize_squeeze_excitation",)):
        engine = _zoo_engine(spec, off)
        engines.append(engine)
        outs.append(engine.create_execution_context().execute({spec.input_name: x}))
    assert len(_fused(engines[0], "recognize_squeeze_excitation:")) == 16
    assert _kernel_types(engines[0]).count("SqueezeExcitation") == 16
    assert not _fused(engines[1], "recognize_squeeze_excitation:")
    for name in outs[1]:
        np.testing.assert_allclose(outs[0][name], outs[1][name], rtol=1e-4, atol=1e-5 * np.abs(outs[1][name]).max())


def _zoo_engine(spec, passes_off):
    builder = gie.Builder()
    net = builder.create_network()
    spec.to_gie(net, batch=2, mark=spec.outputs)
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = 2
    for p in passes_off:
        config.set_pass_enabled(p, False)
    return builder.build(net, config)
