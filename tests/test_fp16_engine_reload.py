"""FP16 engine files of layers whose type rules name float32 (Unary, ElementWise, Activation, ...): the builder stores
their float tensors as HALF, so loading the file must derive their output types with FP16 storage (HALF read as
FLOAT, FLOAT outputs as HALF; plugin/half_storage_cpu.h outputTypesHalfAsFloat). The CPU engines here; the GPU
kernels use the same rule (tests/test_gpu_fp16_elementwise.py::test_engine_file_reloads)."""
import numpy as np
import pytest

import gie
import util
from gpu_util import fp16_config, fp16_everywhere

EW, U, A = gie.ElementWiseOperation, gie.UnaryOperation, gie.ActivationType

# name -> (define, kernel type)
CASES = {
    "unary_exp": (lambda net, t: net.add_unary(t["x"], U.EXP).output(0), "Unary"),
    "unary_abs": (lambda net, t: net.add_unary(t["x"], U.ABS).output(0), "Unary"),
    "elementwise_sum": (lambda net, t: net.add_elementwise(t["x"], t["y"], EW.SUM).output(0), "ElementWise"),
    "elementwise_greater": (lambda net, t: net.add_elementwise(t["x"], t["y"], EW.GREATER).output(0), "ElementWise"),
    "activation_gelu": (lambda net, t: net.add_activation(t["x"], A.GELU).output(0), "Activation"),
    "softmax": (lambda net, t: net.add_softmax(t["x"], axis=1).output(0), "Softmax"),
    "reduce_avg": (lambda net, t: net.add_reduce(t["x"], gie.ReduceOperation.AVG, (1,), keep_dims=False).output(0), "Reduce"),
    "cast_to_int32": (lambda net, t: net.add_cast(t["x"], gie.int32).output(0), "Cast"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_fp16_cpu_engine_file_reloads(name, tmp_path, rng):
    define, kernel = CASES[name]
    inputs = {"x": (rng.standard_normal((5, 12)) * 3).astype(np.float32), "y": rng.standard_normal((5, 12)).astype(np.float32)}
    engine = util.build(fp16_everywhere(define), inputs, device="cpu", configure=fp16_config)
    ks = [k for k in engine.layer_info()["kernels"] if k["type"] == kernel]
    assert ks and all(k["precision"] == "float16" for k in ks), engine.layer_info()["kernels"]
    path = tmp_path / "fp16.gie"
    engine.save(str(path))
    loaded = gie.Runtime().load(str(path))
    assert [(k["type"], k["precision"]) for k in loaded.layer_info()["kernels"]] == \
        [(k["type"], k["precision"]) for k in engine.layer_info()["kernels"]]
    feed = {n: inputs[n] for n in engine.input_names}
    want = engine.create_execution_context().execute(feed)
    got = loaded.create_execution_context().execute(feed)
    for n in engine.output_names:
        util.assert_close(got[n], want[n], rtol=0, atol=0, what=f"{name}: output {n} of the reloaded engine")
