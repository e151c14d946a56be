"""MatMul by a constant on the INT8 FullyConnected path (docs/int8.md, "MatMul by a constant"): torch nn.Linear as
ONNX exports it (MatMul by an initializer [+ Add of the bias]) on inputs of rank 2, 3 and 4, a weight with leading
dimensions of 1, a network-API MatrixMultiply over a Constant layer (transpose_b or not, or a weight that only
constant folding computes), a two-layer MLP with INT8 between the layers, and calibration. Each INT8 CPU engine must

* run the MatMul as one FullyConnected kernel in INT8 (layer_info precision), the bias Add fused into it;
* equal, bit for bit, the integer reference (tests/int8_ref.py): x quantized with its range, the (E, D) weight
  quantized per output channel, exact integer dot products plus the bias in accumulator units, float32(acc) * mult;
* lie within the quantization error bound of the FP32 result (onnxruntime / numpy): with x = s_x q_x + e_x,
  |e_x| <= s_x / 2 (no clipping: the range is max |x|) and W = s_w q_w + e_w, |e_w| <= s_w[n] / 2 per output channel,
  |y - y_fp32| <= s_w[n]/2 sum|x| + s_x/2 sum|W[:, n]| + D s_x s_w[n] / 4 + s_x s_w[n] / 2 (the bias's rounding),
  plus float32 rounding.

Forms the pass declines (a stack of constant matrices, a constant first operand) stay MatrixMultiply in FP32 with a
note. FP32 / FP16 builds
stay correct. The GPU tests (marked gpu) require the GPU INT8 engine to equal the CPU INT8 engine exactly, each
FullyConnected tactic forced (see tests/test_int8_gpu.py for why equality, not a tolerance)."""
import numpy as np
import pytest

import gie
import int8_ref as R
import util

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

F32 = np.float32
D, E = 37, 19  # awkward: neither a multiple of 4


def linear_model(lead, w, b=None, relu_then=None):
    """x (N, *lead, D) -> MatMul(x, w) [-> Add(b)] [-> Relu -> MatMul(., w2) -> Add(b2)] -> out0; dimension 0 symbolic."""
    inits = [numpy_helper.from_array(w, "w")]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["mm"])]
    out = "mm"
    if b is not None:
        inits.append(numpy_helper.from_array(b, "b"))
        nodes.append(helper.make_node("Add", [out, "b"], ["biased"]))
        out = "biased"
    if relu_then is not None:
        w2, b2 = relu_then
        inits += [numpy_helper.from_array(w2, "w2"), numpy_helper.from_array(b2, "b2")]
        nodes += [helper.make_node("Relu", [out], ["h"]), helper.make_node("MatMul", ["h", "w2"], ["mm2"]),
                  helper.make_node("Add", ["mm2", "b2"], ["out2"])]
        out = "out2"
    nodes.append(helper.make_node("Identity", [out], ["out0"]))
    n_out = (relu_then[0] if relu_then is not None else w).shape[-1]
    g = helper.make_graph(nodes, "linear", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *lead, w.shape[-2]])],
                          [helper.make_tensor_value_info("out0", TensorProto.FLOAT, ["N", *lead, n_out])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def parse(model):
    builder = gie.Builder()
    return builder, gie.OnnxParser(builder=builder).parse(model)


def build(builder, net, device="cpu", max_batch=1, int8=True, fp16=False, pin_int8=False, force=None, passes_off=()):
    """pin_int8: every MatMul / FullyConnected layer pinned to INT8 under OBEY (the GPU tests: both devices then run
    the same INT8 arithmetic whatever the GPU's timing prefers)."""
    config = builder.create_config()
    config.device = device
    config.max_batch = max_batch
    config.int8 = int8
    config.fp16 = fp16
    if pin_int8:
        config.set_flag(gie.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        for i in range(net.num_layers):
            if net.get_layer(i).type in ("MatrixMultiply", "FullyConnected"):
                net.get_layer(i).precision = gie.int8
    for kernel, tactic in (force or {}).items():
        config.force_tactic(kernel, tactic)
    for p in passes_off:
        config.set_pass_enabled(p, False)
    return builder.build(net, config)


def run(engine, x):
    y = engine.create_execution_context().execute({"x": x})["out0"]
    poisoned = np.full(y.shape, np.nan, F32)
    engine.create_execution_context().execute({"x": x}, {"out0": poisoned})
    assert not np.isnan(poisoned).any(), "some output elements were not written"
    np.testing.assert_array_equal(poisoned, y)
    return y


def kernels(engine):
    return [(k["type"], k["precision"]) for k in engine.layer_info()["kernels"]]


def int8_linear_ref(x, amax_x, w_kn, b):
    """The INT8 CPU FullyConnected over the last axis, in numpy: x (..., D), w_kn (D, E) as MatMul takes it."""
    sx = R.scale_of(amax_x)
    wq, ws = R.quantize_weights(np.ascontiguousarray(w_kn.T))  # per output channel: rows of the (E, D) kernel
    mult = (sx * ws).astype(F32)
    acc = R.quantize(x, sx).reshape(-1, x.shape[-1]).astype(np.int64) @ wq.astype(np.int64).T
    if b is not None:
        acc = acc + R.quantize_bias(b, mult)
    return R.epilogue(acc, mult, 1).reshape(x.shape[:-1] + (w_kn.shape[1],)), sx, ws


def assert_within_quantization_bound(y, ref, x, w_kn, sx, ws):
    """|y - ref| within the bound of the module docstring, element by element (float64)."""
    ax = np.abs(x.astype(np.float64)).reshape(-1, x.shape[-1])
    aw = np.abs(w_kn.astype(np.float64))
    ws64, sx64 = ws.astype(np.float64), float(sx)
    bound = (ax.sum(1, keepdims=True) * ws64 / 2 + sx64 / 2 * aw.sum(0) + x.shape[-1] * sx64 * ws64 / 4 + sx64 * ws64 / 2
             + 1e-5 * (ax @ aw + np.abs(ref.astype(np.float64)).reshape(ax.shape[0], -1)) + 1e-6)
    err = np.abs(y.astype(np.float64) - ref.astype(np.float64)).reshape(bound.shape)
    worst = np.unravel_index(np.argmax(err - bound), err.shape)
    assert (err <= bound).all(), f"error {err[worst]:.4g} above the quantization bound {bound[worst]:.4g} at {worst}"
    # INT8 really happened: the float result differs from the quantized one somewhere
    assert err.max() > 0


def ort_run(model, x):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


# the input's dimensions after N, and the weight's leading dimensions of 1 (() for a (D, E) initializer)
CASES = [((), ()), ((3,), ()), ((3, 4), ()), ((3,), (1,)), ((3, 4), (1, 1)), ((3, 4), (1,))]
CASE_IDS = [f"rank{len(lead) + 2}_w{'1x' * len(ones)}DxE" for lead, ones in CASES]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("lead,ones", CASES, ids=CASE_IDS)
def test_onnx_matmul_runs_int8_on_the_cpu(lead, ones, bias, rng):
    N = 5
    x = (rng.standard_normal((N, *lead, D)) * 1.5).astype(F32)
    w = (rng.standard_normal((D, E)) * 0.3).astype(F32)
    w[:, 0] = 0  # an all-zero output channel (weight scale 1)
    b = rng.standard_normal(E).astype(F32) if bias else None
    m = linear_model(lead, w.reshape(ones + (D, E)), b)
    builder, net = parse(m)
    amax = float(np.abs(x).max())
    net.get_input(0).set_dynamic_range(-amax, amax)
    engine = build(builder, net, max_batch=N)
    # one INT8 FullyConnected (the bias Add fused) after the input's quantizing Reformat: no MatrixMultiply, no Add
    assert kernels(engine) == [("Reformat", "float32"), ("FullyConnected", "int8")], kernels(engine)
    y = run(engine, x)
    ref_q, sx, ws = int8_linear_ref(x, amax, w, b)
    np.testing.assert_array_equal(y, ref_q)
    assert_within_quantization_bound(y, ort_run(m, x), x, w, sx, ws)
    # the leading dimensions follow the run-time batch
    np.testing.assert_array_equal(run(engine, x[:1]), ref_q[:1])


def api_net(x, w, transpose_b, bias=None, computed=False):
    """Network API: x -> MatrixMultiply(x, Constant w) [-> ElementWise SUM with a Constant (1, ..., E) bias] -> out0.
    computed: w is Constant(w / 2) * Constant(2), known only once constant_folding has run."""
    builder = gie.Builder()
    net = builder.create_network()
    xt = net.add_input("x", gie.float32, x.shape)
    if computed:
        half = net.add_constant(w.shape, w / F32(2)).output(0)
        two = net.add_constant((1,) * w.ndim, np.full((1,) * w.ndim, 2, F32)).output(0)
        wt = net.add_elementwise(half, two, gie.ElementWiseOperation.PROD).output(0)
    else:
        wt = net.add_constant(w.shape, w).output(0)
    mm = net.add_matrix_multiply(xt, wt, transpose_b=transpose_b)
    mm.name = "linear"
    y = mm.output(0)
    if bias is not None:
        bt = net.add_constant((1,) * (x.ndim - 1) + (E,), bias).output(0)
        y = net.add_elementwise(y, bt, gie.ElementWiseOperation.SUM).output(0)
    net.mark_output(y, "out0")
    return builder, net


@pytest.mark.parametrize("transpose_b,computed", [(False, False), (True, False), (False, True)],
                         ids=["w_DxE", "w_ExD_transposed", "w_computed_by_folding"])
def test_network_api_matmul_by_constant_runs_int8(transpose_b, computed, rng):
    """Without matmul_to_fully_connected this is a MatrixMultiply in FP32 (it has no INT8 kernel): the test fails."""
    x = (rng.standard_normal((2, 7, D)) * 2).astype(F32)
    w = (rng.standard_normal((D, E)) * 0.3).astype(F32)
    b = rng.standard_normal(E).astype(F32)
    builder, net = api_net(x, np.ascontiguousarray(w.T) if transpose_b else w, transpose_b, b, computed)
    amax = float(np.abs(x).max()) * 0.9  # a range below max |x|: the largest values saturate, as calibration may make them
    net.get_input(0).set_dynamic_range(-amax, amax)
    engine = build(builder, net, max_batch=2)
    info = engine.layer_info()
    fc = [k for k in info["kernels"] if k["type"] == "FullyConnected"]
    assert kernels(engine) == [("Reformat", "float32"), ("FullyConnected", "int8")], kernels(engine)
    assert fc[0]["variant"] == "int8" and "linear" in fc[0]["source_layers"], fc[0]
    assert any(p.startswith("matmul_to_fully_connected") for p in info["passes"]), info["passes"]
    y = run(engine, x)
    ref_q, _, _ = int8_linear_ref(x, amax, w, b)
    np.testing.assert_array_equal(y, ref_q)
    # the pass switched off: a MatrixMultiply in FP32 (the FP path of the same network, still correct)
    plain = build(builder, net, max_batch=2, passes_off=("matmul_to_fully_connected",))
    assert ("MatrixMultiply", "float32") in kernels(plain), kernels(plain)
    util.assert_close(run(plain, x), x @ w + b, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("form", ["stack_of_matrices", "constant_first"])
def test_matmul_the_pass_declines_stays_float_with_a_note(form, rng):
    """A constant (2, D, E) multiplies each batch entry by its own matrix, and W x has the constant's rows: no
    FullyConnected; under INT8 the MatrixMultiply runs FP32 and its notes say why."""
    x = rng.standard_normal((2, 3, D)).astype(F32)
    builder = gie.Builder()
    net = builder.create_network()
    xt = net.add_input("x", gie.float32, x.shape)
    if form == "stack_of_matrices":
        w = (rng.standard_normal((2, D, E)) * 0.3).astype(F32)
        y = net.add_matrix_multiply(xt, net.add_constant(w.shape, w).output(0)).output(0)
        want, why = np.matmul(x, w), "stack of matrices"
    else:
        w = (rng.standard_normal((E, 3)) * 0.3).astype(F32)
        y = net.add_matrix_multiply(net.add_constant(w.shape, w).output(0), xt).output(0)
        want, why = np.matmul(w, x), "the constant is the first operand"
    net.mark_output(y, "out0")
    xt.set_dynamic_range(-4.0, 4.0)
    engine = build(builder, net, max_batch=2)
    mm = [k for k in engine.layer_info()["kernels"] if k["type"] == "MatrixMultiply"]
    assert [k["precision"] for k in mm] == ["float32"]
    assert any("kept as MatrixMultiply (no INT8 kernel" in n and why in n for n in mm[0]["notes"]), mm[0]["notes"]
    util.assert_close(run(engine, x), want, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("fp16", [False, True], ids=["fp32", "fp16"])
@pytest.mark.parametrize("transpose_b", [False, True], ids=["w_DxE", "w_ExD_transposed"])
def test_float_builds_stay_correct(transpose_b, fp16, rng):
    """Without INT8 the pass applies too (the FullyConnected has the bias / activation epilogue and, on the GPU, every
    tactic of the MatrixMultiply): FP32 to float rounding, FP16 (inputs, weights and output rounded to half) to a
    few half units."""
    x = rng.standard_normal((3, 2, 5, D)).astype(F32)
    w = (rng.standard_normal((D, E)) * 0.3).astype(F32)
    b = rng.standard_normal(E).astype(F32)
    builder, net = api_net(x, np.ascontiguousarray(w.T) if transpose_b else w, transpose_b, b)
    engine = build(builder, net, max_batch=3, int8=False, fp16=fp16)
    assert [t for t, _ in kernels(engine) if t != "Reformat"] == ["FullyConnected"], kernels(engine)
    ref = (x.astype(np.float64) @ w.astype(np.float64) + b).astype(F32)
    if fp16:
        util.assert_close(run(engine, x), ref, rtol=1e-2, atol=2e-2)
    else:
        util.assert_close(run(engine, x), ref, rtol=1e-5, atol=1e-4)


def test_mlp_int8_between_the_layers(rng):
    """Linear -> ReLU -> Linear on a sequence (a transformer MLP with ReLU): both FullyConnected layers INT8, the first
    writing INT8 (the ReLU fused, quantized with the hidden tensor's range) that the second reads; bit for bit the
    chained integer reference."""
    H = 23
    x = (rng.standard_normal((4, 6, D)) * 1.5).astype(F32)
    w1 = (rng.standard_normal((D, H)) * 0.3).astype(F32)
    b1 = rng.standard_normal(H).astype(F32) * F32(0.5)
    w2 = (rng.standard_normal((1, H, E)) * 0.3).astype(F32)  # the pass's form for the second layer
    b2 = rng.standard_normal(E).astype(F32)
    m = linear_model((6,), w1, b1, relu_then=(w2, b2))
    builder, net = parse(m)
    hidden = np.maximum(x @ w1 + b1, 0)
    amax_x, amax_h = float(np.abs(x).max()), float(hidden.max())
    for t in [net.get_input(0)] + [net.get_layer(i).output(0) for i in range(net.num_layers)]:
        if t.name == "x":
            t.set_dynamic_range(-amax_x, amax_x)
        elif t.name in ("biased", "h"):
            t.set_dynamic_range(-amax_h, amax_h)
    engine = build(builder, net, max_batch=4)
    assert kernels(engine) == [("Reformat", "float32"), ("FullyConnected", "int8"), ("FullyConnected", "int8")], kernels(engine)
    fcs = [k for k in engine.layer_info()["kernels"] if k["type"] == "FullyConnected"]
    assert fcs[0]["outputs"][0]["dtype"] == "int8", fcs[0]["outputs"]
    y = run(engine, x)
    h_ref, _, _ = int8_linear_ref(x, amax_x, w1, b1)
    hq = R.quantize(np.maximum(h_ref, F32(0)), R.scale_of(amax_h))
    ref_q, _, _ = int8_linear_ref(R.dequantize(hq, R.scale_of(amax_h)), amax_h, w2.reshape(H, E), b2)
    np.testing.assert_array_equal(y, ref_q)
    err = np.abs(y - ort_run(m, x)).max()
    assert err < 0.05 * np.abs(ort_run(m, x)).max(), err  # two quantized layers: a few percent of the output's scale


def test_calibration_covers_the_matmul(rng):
    """A calibrator (min-max) ranges x, and the engine it builds equals the reference with gie.calibrate's range of x."""
    x = (rng.standard_normal((64, 5, D)) * 1.3).astype(F32)
    w = (rng.standard_normal((1, D, E)) * 0.3).astype(F32)
    b = rng.standard_normal(E).astype(F32)
    m = linear_model((5,), w, b)
    builder, net = parse(m)
    ranges = gie.calibrate(net, gie.MinMaxCalibrator(x, batch_size=16))
    assert ranges["x"] == pytest.approx(float(np.abs(x).max()), rel=1e-6) and "mm" in ranges and "biased" in ranges
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = 16
    config.int8 = True
    config.int8_calibrator = gie.MinMaxCalibrator(x, batch_size=16)
    engine = builder.build(net, config)
    assert kernels(engine) == [("Reformat", "float32"), ("FullyConnected", "int8")], kernels(engine)
    ref_q, _, _ = int8_linear_ref(x[:16], ranges["x"], w.reshape(D, E), b)
    np.testing.assert_array_equal(run(engine, x[:16]), ref_q)


# ---- GPU: the GPU INT8 engine equals the CPU INT8 engine (run by the GPU CI) ----------------------------------------

FC_TACTICS = ["dp4a_128x64x8", "imma_128x64x32"]  # cuda/kernels/fully_connected_int8.cu (imma: sm_80+)


def _gpu_vs_cpu(make, x, tactic):
    from test_int8_gpu import compare, tactic_runs
    if not tactic_runs(tactic):
        pytest.skip(f"{tactic} needs sm_80")
    cpu = build(*make(), device="cpu", max_batch=x.shape[0], pin_int8=True)
    gpu = build(*make(), device="gpu", max_batch=x.shape[0], pin_int8=True, force={"FullyConnected": tactic})
    for e in (cpu, gpu):
        assert [p for t, p in kernels(e) if t == "FullyConnected"] == ["int8"] and "MatrixMultiply" not in dict(kernels(e)), kernels(e)
    assert [k["tactic"] for k in gpu.layer_info()["kernels"] if k["type"] == "FullyConnected"] == [tactic]
    compare(cpu, gpu, {"x": x})


@pytest.mark.gpu
@pytest.mark.parametrize("tactic", FC_TACTICS)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("lead,ones", CASES, ids=CASE_IDS)
def test_gpu_onnx_matmul_int8_equals_cpu(lead, ones, bias, tactic, rng):
    N = 13
    x = (rng.standard_normal((N, *lead, D)) * 1.5).astype(F32)
    w = (rng.standard_normal(ones + (D, E)) * 0.3).astype(F32)
    b = rng.standard_normal(E).astype(F32) if bias else None
    m = linear_model(lead, w, b)

    def make():
        builder, net = parse(m)
        net.get_input(0).set_dynamic_range(-2.5, 2.5)  # below max |x|: saturation included
        return builder, net
    _gpu_vs_cpu(make, x, tactic)


@pytest.mark.gpu
@pytest.mark.parametrize("tactic", FC_TACTICS)
@pytest.mark.parametrize("transpose_b", [False, True], ids=["w_DxE", "w_ExD_transposed"])
def test_gpu_network_api_matmul_int8_equals_cpu(transpose_b, tactic, rng):
    x = (rng.standard_normal((3, 130, 64)) * 1.5).astype(F32)  # more than one 128-row tile; rows of whole words
    w = (rng.standard_normal((64, 70)) * 0.3).astype(F32)       # 2 output-channel tiles
    b = rng.standard_normal(70).astype(F32)

    def make():
        builder = gie.Builder()
        net = builder.create_network()
        xt = net.add_input("x", gie.float32, x.shape)
        wt = net.add_constant((70, 64) if transpose_b else (64, 70), np.ascontiguousarray(w.T) if transpose_b else w).output(0)
        y = net.add_matrix_multiply(xt, wt, transpose_b=transpose_b).output(0)
        y = net.add_elementwise(y, net.add_constant((1, 1, 70), b).output(0), gie.ElementWiseOperation.SUM).output(0)
        net.mark_output(y, "out0")
        xt.set_dynamic_range(-3.0, 3.0)
        return builder, net
    _gpu_vs_cpu(make, x, tactic)
