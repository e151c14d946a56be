"""Activations (issue 11 items 13 and 18): one formula per ActivationType (cpp/src/layers/activation_math.h) used by
the CPU Activation kernel and by every fused epilogue, so that

* each activation matches a float64 numpy reference within the tolerance stated in docs/layers_core.md,
* a convolution / fully connected / deconvolution with the activation fused gives *exactly* the bits of the same
  network with fusion off (config.set_pass_enabled("fuse_epilogue", False)), and
* the scalar, AVX2 and AVX-512 code paths give the same bits.
"""
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import gie

A = gie.ActivationType
NAMES = sorted(n for n in dir(A) if n.isupper() and n not in ("name", "value"))
# Non-default alpha / beta where the activation has them (the fused kernel must see the same values).
PARAMS = {"LEAKY_RELU": (0.07, None), "ELU": (0.8, None), "SELU": (1.6732632423543772, 1.0507009873554805),
          "CLIP": (-0.6, 1.4), "HARD_SIGMOID": (0.2, 0.5), "SCALED_TANH": (1.3, 0.7), "THRESHOLDED_RELU": (0.4, None)}

# Stated accuracy against float64 (docs/layers_core.md): |y - ref| <= rtol * |ref| + atol, (rtol, atol) per activation.
# The polynomial exp / expm1 / log1p / erfc are 1-2 ulp; their compositions stay within 4 ulp (5e-7). GELU's exp
# argument x^2 / 2 is itself rounded in float, which costs up to ~30 ulp (3e-6) for |x| <= 5 and more in the tail
# beyond, where |y| < 1e-5 (3e-5 there; a float erf loses the whole tail to 1 + erf(x) = 0). Hard sigmoid rounds
# a * x + b twice, so near its zero only an absolute bound holds. ATOL_CLAMP covers results below ~1e-30, where
# exp's argument is clamped to [-87.3, 88.3].
ATOL_CLAMP = 1e-30
TOL = {n: (5e-7, ATOL_CLAMP) for n in NAMES}
TOL.update({n: (0.0, 0.0) for n in ("RELU", "RELU6", "CLIP", "THRESHOLDED_RELU")})
TOL["LEAKY_RELU"] = (6e-8, 0.0)  # one rounding
TOL["HARD_SIGMOID"] = (1.2e-7, 1e-7)
GELU_TOL = {"near": 3e-6, "tail": 3e-5}  # |x| <= 5, |x| > 5


def _erfc(v):
    return np.vectorize(math.erfc, otypes=[np.float64])(v)


def reference(name, x, a, b):
    """float64 reference of activation `name` (alpha a, beta b) at float32 points x."""
    x = x.astype(np.float64)
    with np.errstate(over="ignore"):
        if name == "RELU":
            return np.maximum(x, 0)
        if name == "SIGMOID":
            return 1 / (1 + np.exp(-x))
        if name == "TANH":
            return np.tanh(x)
        if name == "LEAKY_RELU":
            return np.where(x >= 0, x, a * x)
        if name == "ELU":
            return np.where(x > 0, x, a * np.expm1(x))
        if name == "SELU":
            return b * np.where(x > 0, x, a * np.expm1(x))
        if name == "SOFTSIGN":
            return x / (1 + np.abs(x))
        if name == "SOFTPLUS":
            return np.logaddexp(0, x)
        if name == "CLIP":
            return np.clip(x, a, b)
        if name == "HARD_SIGMOID":
            return np.clip(a * x + b, 0, 1)
        if name == "SCALED_TANH":
            return a * np.tanh(b * x)
        if name == "THRESHOLDED_RELU":
            return np.where(x > a, x, 0)
        if name == "GELU":  # 0.5 x (1 + erf(x / sqrt2)) = 0.5 x erfc(-x / sqrt2), without cancellation
            return 0.5 * x * _erfc(-x / math.sqrt(2))
        if name == "GELU_TANH":  # 0.5 x (1 + tanh u) = x / (1 + exp(-2u))
            u = math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)
            return x / (1 + np.exp(-2 * u))
        if name == "HARD_SWISH":
            return x * np.clip(x + 3, 0, 6) / 6
        if name == "MISH":
            return x * np.tanh(np.logaddexp(0, x))
        if name == "SILU":
            return x / (1 + np.exp(-x))
        if name == "RELU6":
            return np.clip(x, 0, 6)
    raise AssertionError(f"no reference for {name}")


def resolved_params(name):
    """(alpha, beta) as the kernel sees them: PARAMS, or the layer's defaults, rounded to float32."""
    defaults = {"LEAKY_RELU": (0.01, 0.0), "ELU": (1.0, 0.0), "SELU": (1.6732632423543772, 1.0507009873554805),
                "HARD_SIGMOID": (0.2, 0.5), "SCALED_TANH": (1.0, 1.0), "CLIP": (0.0, 6.0), "THRESHOLDED_RELU": (1.0, 0.0)}
    a, b = PARAMS.get(name, (None, None))
    da, db = defaults.get(name, (0.0, 0.0))
    return float(np.float32(da if a is None else a)), float(np.float32(db if b is None else b))


def test_every_type_has_a_reference():
    assert len(NAMES) == 18, NAMES
    for n in NAMES:
        reference(n, np.zeros(1, np.float32), 0.1, 0.1)


def _points():
    """A dense sweep of [-30, 30], small magnitudes (cancellation), and the clamp / threshold regions."""
    dense = np.linspace(-30, 30, 60001, dtype=np.float32)
    small = np.concatenate([np.geomspace(1e-12, 0.5, 2000), -np.geomspace(1e-12, 0.5, 2000)]).astype(np.float32)
    special = np.array([0.0, -0.0, 0.35, -0.35, 0.3499999, -0.3500001, 3.0, -3.0, 6.0, 20.0, 20.5, -20.0, 44.0,
                        -44.0, 87.0, -87.0, 88.5, -88.5, 100.0, -100.0, 1e4, -1e4, 3e38, -3e38], np.float32)
    return np.concatenate([dense, small, special])


def _run_activation(name, x, device="cpu"):
    a, b = PARAMS.get(name, (None, None))
    builder = gie.Builder()
    net = builder.create_network()
    t = net.add_input("x", gie.float32, x.shape)
    net.mark_output(net.add_activation(t, getattr(A, name), alpha=a, beta=b).output(0), "y")
    config = builder.create_config()
    config.device = device
    engine = builder.build(net, config)
    return engine.create_execution_context().execute({"x": x})["y"]


@pytest.mark.parametrize("name", NAMES)
def test_activation_matches_float64(name):
    x = _points().reshape(1, -1)
    y = _run_activation(name, x).astype(np.float64)
    a, b = resolved_params(name)
    ref = reference(name, x, a, b)
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(ref) & (np.abs(ref) < 3e38)  # skip overflowing references (x = 3e38 in GELU_TANH's x^3)
    err = np.abs(y - ref)
    rtol, atol = TOL[name]
    if name in ("GELU", "GELU_TANH"):
        rtol = np.where(np.abs(x) <= 5, GELU_TOL["near"], GELU_TOL["tail"])
    tol = rtol * np.abs(ref) + atol
    bad = finite & ~(err <= tol)
    if bad.any():
        i = np.argmax(np.where(bad, err / np.maximum(np.abs(ref), 1e-300), -1))
        raise AssertionError(f"{name}: {bad.sum()} points off; worst x={x.flat[i]!r}: got {y.flat[i]!r}, "
                             f"float64 {ref.flat[i]!r} (rel err {err.flat[i] / max(abs(ref.flat[i]), 1e-300):.3g})")
    assert np.isfinite(y[finite]).all()


@pytest.mark.parametrize("name", NAMES)
def test_nan_propagates_where_the_formula_multiplies_by_x(name):
    """NaN in gives NaN out, except for the activations built from comparisons and clamps (which pick a bound)."""
    y = _run_activation(name, np.array([[np.nan, 1.0]], np.float32))
    if name in ("RELU", "CLIP", "HARD_SIGMOID", "THRESHOLDED_RELU", "RELU6"):
        assert not np.isnan(y[0, 1])
    else:
        assert np.isnan(y[0, 0]) and not np.isnan(y[0, 1])


# ---- fused == unfused, bit for bit -----------------------------------------------------------------------------

def _conv(net, x, rng, k=(3, 3), groups=1, out=6):
    c = x.shape[1]
    w = (rng.standard_normal((out, c // groups) + k) * 0.6).astype(np.float32)
    return net.add_convolution(x, out, k, w, rng.standard_normal(out).astype(np.float32),
                               padding=(k[0] // 2, k[1] // 2), num_groups=groups)


PRODUCERS = {
    "conv3x3": lambda net, x, rng: _conv(net, x, rng).output(0),
    "conv1x1": lambda net, x, rng: _conv(net, x, rng, k=(1, 1), out=9).output(0),
    "depthwise": lambda net, x, rng: _conv(net, x, rng, groups=4, out=4).output(0),
    "fc": lambda net, x, rng: net.add_fully_connected(
        x, 13, (rng.standard_normal((13, 4 * 7 * 9)) * 0.3).astype(np.float32),
        rng.standard_normal(13).astype(np.float32)).output(0),
    "deconv": lambda net, x, rng: net.add_deconvolution(
        x, 5, (3, 3), (rng.standard_normal((4, 5, 3, 3)) * 0.5).astype(np.float32),
        rng.standard_normal(5).astype(np.float32), stride=2).output(0),
    # conv + residual add + activation: the add and the activation both move into the epilogue
    "conv_residual": lambda net, x, rng: net.add_elementwise(
        _conv(net, x, rng, out=4).output(0), x, gie.ElementWiseOperation.SUM).output(0),
}


def _build(name, producer, fuse, seed):
    a, b = PARAMS.get(name, (None, None))
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (1, 4, 7, 9))
    pre = PRODUCERS[producer](net, x, np.random.default_rng(seed))
    net.mark_output(net.add_activation(pre, getattr(A, name), alpha=a, beta=b).output(0), "y")
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = 3
    config.set_pass_enabled("fuse_epilogue", fuse)
    return builder.build(net, config)


@pytest.mark.parametrize("producer", sorted(PRODUCERS))
@pytest.mark.parametrize("name", NAMES)
def test_fused_equals_unfused_exactly(name, producer, rng):
    seed = int(rng.integers(1 << 31))
    fused = _build(name, producer, True, seed)
    plain = _build(name, producer, False, seed)
    assert fused.num_kernels == 1, "the activation (and the residual add) fuse into the producer"
    assert plain.num_kernels == (3 if producer == "conv_residual" else 2)
    x = (rng.standard_normal((3, 4, 7, 9)) * 2).astype(np.float32)
    yf = fused.create_execution_context().execute({"x": x})["y"]
    yp = plain.create_execution_context().execute({"x": x})["y"]
    assert yf.tobytes() == yp.tobytes(), (
        f"{name} after {producer}: fused differs from unfused at {np.count_nonzero(yf != yp)} of {yf.size} elements, "
        f"max |diff| {np.max(np.abs(yf.astype(np.float64) - yp))}")


# ---- the ISAs agree --------------------------------------------------------------------------------------------

_ISA_SCRIPT = r"""
import sys, numpy as np, gie
x = np.linspace(-25, 25, 4099, dtype=np.float32).reshape(1, -1)  # odd length: vector body and scalar tail
out = []
for n in sorted(k for k in dir(gie.ActivationType) if k.isupper() and k not in ("name", "value")):
    b = gie.Builder(); net = b.create_network(); t = net.add_input("x", gie.float32, x.shape)
    net.mark_output(net.add_activation(t, getattr(gie.ActivationType, n)).output(0), "y")
    c = b.create_config(); c.device = "cpu"
    out.append(b.build(net, c).create_execution_context().execute({"x": x})["y"])
sys.stdout.buffer.write(np.concatenate(out, axis=None).tobytes())
"""


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            return set(next(line for line in f if line.startswith("flags")).split())
    except (OSError, StopIteration):
        return set()


def test_isas_give_the_same_bits():
    flags = _cpu_flags()
    isas = ["scalar"] + [i for i, need in (("avx2", {"avx2", "fma"}), ("avx512", {"avx512f", "avx512dq", "avx512bw",
                                                                                 "avx512vl"})) if need <= flags]
    if len(isas) < 2:
        pytest.skip("this CPU offers only the scalar path")
    outs = {}
    for isa in isas:
        env = dict(os.environ, GIE_CPU_ISA=isa)
        outs[isa] = subprocess.run([sys.executable, "-c", _ISA_SCRIPT], env=env, check=True, capture_output=True,
                                   timeout=300).stdout
    for isa in isas[1:]:
        assert outs[isa] == outs["scalar"], f"{isa} differs from scalar"


# ---- recognize_activations: multi-layer spellings become one activation, then fuse (issue 11 item 18) ---------

SQRT2 = math.sqrt(2.0)


def _pattern_nodes(kind, helper):
    """ONNX nodes computing `out` from `y` (a convolution's output) for each spelling of an activation, the
    opset they need, and the initializers they use."""
    n = helper.make_node
    inits = {"half": np.array(0.5, np.float32), "one": np.array(1.0, np.float32),
             "sqrt2": np.array(SQRT2, np.float32), "rsqrt2": np.array(1 / SQRT2, np.float32)}
    gelu_head = [n("Div", ["y", "sqrt2"], ["d"]), n("Erf", ["d"], ["e"]), n("Add", ["e", "one"], ["a"])]
    table = {
        "silu": ([n("Sigmoid", ["y"], ["s"]), n("Mul", ["y", "s"], ["out"])], 17),
        "silu_swapped": ([n("Sigmoid", ["y"], ["s"]), n("Mul", ["s", "y"], ["out"])], 17),
        "hardswish_decomposed": ([n("HardSigmoid", ["y"], ["h"], alpha=1 / 6, beta=0.5),
                                  n("Mul", ["y", "h"], ["out"])], 17),
        "mish_decomposed": ([n("Softplus", ["y"], ["sp"]), n("Tanh", ["sp"], ["t"]), n("Mul", ["y", "t"], ["out"])], 17),
        "gelu_x_first": (gelu_head + [n("Mul", ["y", "a"], ["m"]), n("Mul", ["m", "half"], ["out"])], 17),
        "gelu_half_x": ([n("Mul", ["y", "half"], ["hx"])] + gelu_head + [n("Mul", ["hx", "a"], ["out"])], 17),
        "gelu_half_last_x": ([n("Mul", ["rsqrt2", "y"], ["d"]), n("Erf", ["d"], ["e"]), n("Add", ["one", "e"], ["a"]),
                              n("Mul", ["a", "half"], ["m"]), n("Mul", ["m", "y"], ["out"])], 17),
        "hardswish_onnx": ([n("HardSwish", ["y"], ["out"])], 17),
        "mish_onnx": ([n("Mish", ["y"], ["out"])], 18),
        "gelu_onnx": ([n("Gelu", ["y"], ["out"])], 20),
    }
    nodes, opset = table[kind]
    used = {i for node in nodes for i in node.input}
    return nodes, opset, {k: v for k, v in inits.items() if k in used}


EXPECTED = {"silu": "SILU", "silu_swapped": "SILU", "hardswish_decomposed": "HARD_SWISH", "mish_decomposed": "MISH",
            "gelu_x_first": "GELU", "gelu_half_x": "GELU", "gelu_half_last_x": "GELU", "hardswish_onnx": "HARD_SWISH",
            "mish_onnx": "MISH", "gelu_onnx": "GELU"}


def _conv_model(kind, rng, extra_output=None):
    """Conv(x) -> y -> the activation spelled as `kind` -> out. Returns (model, conv weights, conv bias)."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    nodes, opset, inits = _pattern_nodes(kind, helper)
    inits = dict(inits, w=(rng.standard_normal((6, 3, 3, 3)) * 0.5).astype(np.float32),
                 b=rng.standard_normal(6).astype(np.float32))
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])] + nodes
    outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, ["N", 6, 8, 7]) for o in ["out"] + [extra_output] * bool(extra_output)]
    g = helper.make_graph(nodes, kind, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 7])], outs,
                          initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m, inits["w"], inits["b"]


def _gie_build(m, passes_off=()):
    builder = gie.Builder()
    net = gie.OnnxParser(builder=builder).parse(m)
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = 2
    for p in passes_off:
        config.set_pass_enabled(p, False)
    return builder.build(net, config)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_activation_spellings_become_one_fused_conv(kind, rng):
    m, w, b = _conv_model(kind, rng)
    engine = _gie_build(m)
    info = engine.layer_info()
    assert engine.num_kernels == 1, [k["source_layers"] for k in info["kernels"]]
    layers = info["kernels"][0]["source_layers"]
    assert len(layers) == len(m.graph.node), layers  # the conv and every layer of the activation
    if not kind.endswith("_onnx"):
        assert any(p.startswith("recognize_activations:") and EXPECTED[kind] in p for p in info["passes"]), info["passes"]
    x = rng.standard_normal((2, 3, 8, 7)).astype(np.float32) * 2
    got = engine.create_execution_context().execute({"x": x})["out"]
    # The float64 reference of the recognised activation applied to the float64 convolution.
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    y = np.zeros((2, 6, 8, 7))
    for r in range(3):
        for s in range(3):
            y += np.einsum("nchw,kc->nkhw", xp[:, :, r:r + 8, s:s + 7], w[:, :, r, s].astype(np.float64))
    y += b[None, :, None, None]
    ref = reference(EXPECTED[kind], y, 0.0, 0.0)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["silu", "mish_decomposed", "gelu_x_first"])
def test_activation_spellings_match_onnxruntime_and_the_unrewritten_graph(kind, rng):
    m, _, _ = _conv_model(kind, rng)
    ort = pytest.importorskip("onnxruntime")
    x = rng.standard_normal((2, 3, 8, 7)).astype(np.float32) * 2
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    ref = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    fused = _gie_build(m).create_execution_context().execute({"x": x})["out"]
    plain_engine = _gie_build(m, passes_off=("recognize_activations", "fuse_epilogue"))
    assert plain_engine.num_kernels == len(m.graph.node)
    plain = plain_engine.create_execution_context().execute({"x": x})["out"]
    np.testing.assert_allclose(fused, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(plain, ref, rtol=1e-4, atol=1e-5)


def test_gate_read_elsewhere_is_not_rewritten(rng):
    """Sigmoid(y) that is also a network output must stay: the rewrite would drop a tensor someone reads."""
    m, _, _ = _conv_model("silu", rng, extra_output="s")
    engine = _gie_build(m)
    assert not any(p.startswith("recognize_activations:") for p in engine.layer_info()["passes"])
    x = rng.standard_normal((1, 3, 8, 7)).astype(np.float32)
    out = engine.create_execution_context().execute({"x": x})
    np.testing.assert_allclose(out["out"], out["s"] * (np.log(out["s"] / (1 - out["s"]))), rtol=1e-3, atol=1e-4)


def test_hard_sigmoid_with_other_slope_is_not_hard_swish(rng):
    m, _, _ = _conv_model("hardswish_decomposed", rng)
    for node in m.graph.node:
        if node.op_type == "HardSigmoid":
            del node.attribute[:]  # defaults alpha 0.2, beta 0.5: x * hard_sigmoid(x) is not a hard swish
    engine = _gie_build(m)
    assert not any(p.startswith("recognize_activations:") for p in engine.layer_info()["passes"])
    assert engine.num_kernels == 3  # conv, hard sigmoid, product (the conv output has two readers)


def test_network_api_sigmoid_product_is_the_silu_layer(rng):
    """Sigmoid + ElementWise PROD through the network API becomes the SILU layer: bit for bit the same engine output
    as a network that asks for SILU directly, in one kernel."""
    w = (rng.standard_normal((5, 4, 3, 3)) * 0.5).astype(np.float32)
    bias = rng.standard_normal(5).astype(np.float32)

    def build(spelled):
        builder = gie.Builder()
        net = builder.create_network()
        x = net.add_input("x", gie.float32, (1, 4, 7, 9))
        y = net.add_convolution(x, 5, (3, 3), w, bias, padding=(1, 1)).output(0)
        if spelled:
            s = net.add_activation(y, A.SIGMOID).output(0)
            out = net.add_elementwise(s, y, gie.ElementWiseOperation.PROD).output(0)
        else:
            out = net.add_activation(y, A.SILU).output(0)
        net.mark_output(out, "y")
        config = builder.create_config()
        config.device = "cpu"
        config.max_batch = 2
        return builder.build(net, config)

    spelled, direct = build(True), build(False)
    assert spelled.num_kernels == 1
    x = rng.standard_normal((2, 4, 7, 9)).astype(np.float32)
    a = spelled.create_execution_context().execute({"x": x})["y"]
    b = direct.create_execution_context().execute({"x": x})["y"]
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("producer", ["conv3x3", "conv1x1", "depthwise", "fc"])
@pytest.mark.parametrize("name", ["RELU", "CLIP", "LEAKY_RELU", "RELU6", "HARD_SIGMOID", "SILU", "THRESHOLDED_RELU"])
def test_fused_equals_unfused_with_nan_inputs(name, producer, rng):
    """NaN reaching an activation is treated alike fused and unfused: the epilogues' register paths for ReLU / clip /
    leaky ReLU use the comparison order of activation_math.h (a NaN is clamped to the bound, not passed)."""
    seed = int(rng.integers(1 << 31))
    fused = _build(name, producer, True, seed)
    plain = _build(name, producer, False, seed)
    x = rng.standard_normal((2, 4, 7, 9)).astype(np.float32)
    x[0, 1, 3, 4] = np.nan
    x[1, :, 0, 0] = np.nan
    yf = fused.create_execution_context().execute({"x": x})["y"]
    yp = plain.create_execution_context().execute({"x": x})["y"]
    assert np.isnan(yp).any() or name in ("RELU", "CLIP", "RELU6", "HARD_SIGMOID", "THRESHOLDED_RELU")
    assert np.array_equal(np.isnan(yf), np.isnan(yp)), f"{name} after {producer}: NaN where the other has none"
    ok = ~np.isnan(yp)
    assert yf[ok].tobytes() == yp[ok].tobytes()
