"""Explicit quantization (docs/int8.md): an ONNX model with QuantizeLinear / DequantizeLinear pairs as QAT tools export
them (per-tensor int8 on activations, per-channel int8 weights) against onnxruntime's own result, within one
quantization step of the output: imported without INT8 (the pairs round in float, QuantizeDequantize layers) and
with INT8 (the pairs become ranges and disappear into the INT8 convolution). An asymmetric uint8 pair stays a float
rounding even with INT8. Unsupported forms are refused with a reason."""
import numpy as np
import pytest

import gie

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

F32 = np.float32


def qdq_model(rng, act_dtype=TensorProto.INT8, act_zp=0, per_channel=True):
    """x -> Q/DQ -> Conv (weights: int8 initializer -> DequantizeLinear per output channel) -> Relu -> Q/DQ -> y."""
    K, C = 6, 3
    wq = rng.integers(-127, 128, (K, C, 3, 3)).astype(np.int8)
    wq.reshape(K, -1)[:, 0] = 127 * rng.choice([-1, 1], K)  # each channel uses its full range, as QAT exports do
    ws = rng.uniform(0.002, 0.01, K).astype(F32) if per_channel else np.array(0.005, F32)
    b = rng.standard_normal(K).astype(F32) * F32(0.1)
    zp_type = np.int8 if act_dtype == TensorProto.INT8 else np.uint8
    inits = [
        numpy_helper.from_array(wq, "wq"), numpy_helper.from_array(ws, "ws"),
        numpy_helper.from_array(np.zeros(ws.shape, np.int8), "wzp"), numpy_helper.from_array(b, "b"),
        numpy_helper.from_array(np.array(0.03, F32), "sx"), numpy_helper.from_array(np.array(act_zp, zp_type), "zx"),
        numpy_helper.from_array(np.array(0.02, F32), "sy"), numpy_helper.from_array(np.array(act_zp, zp_type), "zy"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "sx", "zx"], ["xd"]),
        helper.make_node("DequantizeLinear", ["wq", "ws", "wzp"], ["w"], axis=0),
        helper.make_node("Conv", ["xd", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("QuantizeLinear", ["r", "sy", "zy"], ["rq"]),
        helper.make_node("DequantizeLinear", ["rq", "sy", "zy"], ["y"]),
    ]
    g = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", C, 7, 9])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", K, 7, 9])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def run_gie(model, x, int8):
    builder = gie.Builder()
    net = gie.OnnxParser(builder=builder).parse(model)
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = x.shape[0]
    config.int8 = int8
    engine = builder.build(net, config)
    return engine.create_execution_context().execute({"x": x})["y"], engine


def run_ort(model, x):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


@pytest.mark.parametrize("batch", [1, 13])
@pytest.mark.parametrize("int8", [False, True], ids=["float", "int8"])
def test_per_channel_qdq_matches_onnxruntime_within_one_step(batch, int8, rng):
    m = qdq_model(rng)
    x = (rng.standard_normal((batch, 3, 7, 9)) * 1.5).astype(F32)
    y, engine = run_gie(m, x, int8)
    ref = run_ort(m, x)
    step = 0.02
    err = np.abs(y - ref).max()
    assert err <= step * 1.0001, f"max |gie - onnxruntime| = {err} > one step {step}"
    assert (np.abs(y - ref) < step / 2).mean() > 0.95  # nearly all equal
    kinds = [(k["type"], k["precision"]) for k in engine.layer_info()["kernels"]]
    if int8:
        # the input pair became the convolution's input range; the output pair (a network output) rounds in float
        assert ("Convolution", "int8") in kinds and sum(t == "QuantizeDequantize" for t, _ in kinds) == 1, kinds
    else:
        assert sum(t == "QuantizeDequantize" for t, _ in kinds) == 2 and ("Convolution", "float32") in kinds, kinds


def test_without_int8_the_rounding_is_applied_exactly(rng):
    """In float the Q/DQ layers give exactly onnxruntime's values for the input pair: the output is on the grid."""
    m = qdq_model(rng)
    x = (rng.standard_normal((2, 3, 7, 9)) * 1.5).astype(F32)
    y, _ = run_gie(m, x, False)
    q = y / F32(0.02)
    np.testing.assert_allclose(q, np.rint(q), atol=1e-3)  # every output is k * scale
    assert (np.rint(q) >= 0).all() and (np.rint(q) <= 127).all()  # ReLU then int8 saturation


@pytest.mark.parametrize("int8", [False, True], ids=["float", "int8"])
def test_asymmetric_uint8_pair_rounds_in_float(int8, rng):
    m = qdq_model(rng, act_dtype=TensorProto.UINT8, act_zp=128, per_channel=False)
    x = (rng.standard_normal((3, 3, 7, 9)) * 1.5).astype(F32)
    y, engine = run_gie(m, x, int8)
    ref = run_ort(m, x)
    assert np.abs(y - ref).max() <= 0.02 * 1.0001
    kinds = [k["type"] for k in engine.layer_info()["kernels"]]
    assert kinds.count("QuantizeDequantize") == 2, kinds  # asymmetric: no INT8 range; the rounding stays


def test_dequantize_of_a_run_time_tensor_without_quantize_is_refused(rng):
    g = helper.make_graph([helper.make_node("Cast", ["x"], ["xi"], to=TensorProto.INT8),
                           helper.make_node("DequantizeLinear", ["xi", "s"], ["y"])], "bad",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                          [numpy_helper.from_array(np.array(0.1, F32), "s")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    with pytest.raises(gie.UnsupportedError, match="DequantizeLinear of a run-time tensor"):
        gie.OnnxParser().parse(m)


def test_quantize_whose_integers_are_used_is_refused():
    g = helper.make_graph([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])], "q_only",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.INT8, [1, 4])],
                          [numpy_helper.from_array(np.array(0.1, F32), "s"), numpy_helper.from_array(np.array(0, np.int8), "z")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    with pytest.raises(gie.UnsupportedError, match="QuantizeLinear of a run-time tensor whose integers are used"):
        gie.OnnxParser().parse(m)
