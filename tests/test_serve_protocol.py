"""The Open Inference Protocol parsing/encoding and the batch runner of gie serve, without Ray (they are plain
Python); the served end to end is tests/test_serving.py."""
import concurrent.futures
import json
import subprocess
import sys
import threading

import numpy as np
import pytest

import gie
from gie.serve import protocol
from gie.serve.protocol import ModelSpec, ProtocolError, encode_infer_response, parse_infer_request
from gie.serve.runner import EngineRunner

SPEC = ModelSpec("m", [("x", "FP32", [-1, 2, 3]), ("mask", "BOOL", [-1, 2])], [("y", "FP32", [-1, 4]),
                                                                               ("k", "INT32", [-1])], max_batch=4)


def _req(inputs, **extra):
    return json.dumps({"inputs": inputs, **extra}).encode()


def _x(batch=1, data=None):
    return {"name": "x", "shape": [batch, 2, 3], "datatype": "FP32",
            "data": data if data is not None else list(range(6 * batch))}


def _mask(batch=1):
    return {"name": "mask", "shape": [batch, 2], "datatype": "BOOL", "data": [True, False] * batch}


def test_json_request_parses_to_arrays():
    r = parse_infer_request(SPEC, _req([_x(2, [[[0, 1, 2], [3, 4, 5]], [[6, 7, 8], [9, 10, 11]]]), _mask(2)], id="a"))
    assert r.id == "a" and r.batch == 2
    np.testing.assert_array_equal(r.inputs["x"], np.arange(12, dtype=np.float32).reshape(2, 2, 3))
    assert r.inputs["x"].dtype == np.float32 and r.inputs["mask"].dtype == np.bool_
    assert r.outputs == [("y", False), ("k", False)]


@pytest.mark.parametrize("inputs, extra, message", [
    ([_x(), {**_mask(), "name": "msk"}], {}, "unknown input 'msk'; model 'm' has inputs 'x', 'mask'"),
    ([_x()], {}, "missing input 'mask'"),
    ([{**_x(), "datatype": "FP64"}, _mask()], {}, "input 'x': datatype \"FP64\"; model 'm' expects FP32"),
    ([{**_x(), "shape": [1, 3, 2]}, _mask()], {}, "input 'x': shape [1, 3, 2] does not match the model's [-1, 2, 3]"),
    ([{**_x(), "shape": [0, 2, 3], "data": []}, _mask()], {}, "input 'x': shape [0, 2, 3]"),
    ([{**_x(), "shape": [1, 2]}, _mask()], {}, "input 'x': shape [1, 2] does not match"),
    ([_x(data=[1, 2]), _mask()], {}, "input 'x': 'data' has 2 elements; shape [1, 2, 3] needs 6"),
    ([_x(data=["a"] * 6), _mask()], {}, "input 'x': 'data' is not a list of FP32 values"),
    ([_x(2), _mask(1)], {}, "the inputs' first (batch) dimensions differ: 'x' 2, 'mask' 1"),
    ([_x(), _mask(), _x()], {}, "input 'x' is given twice"),
    ([_x(), _mask()], {"outputs": [{"name": "z"}]}, "unknown output 'z'; model 'm' has outputs 'y', 'k'"),
    ([_x(), _mask()], {"outputs": [{"name": "y", "parameters": {"binary_data": "yes"}}]},
     "output 'y': parameter binary_data must be true or false"),
    ([{k: v for k, v in _x().items() if k != "data"}, _mask()], {}, "input 'x': no 'data' and no binary_data_size"),
    ([], {}, "the request has no 'inputs' list"),
])
def test_malformed_requests_name_what_is_wrong(inputs, extra, message):
    with pytest.raises(ProtocolError) as e:
        parse_infer_request(SPEC, _req(inputs, **extra))
    assert e.value.status == 400
    assert message in str(e.value)


def test_not_json():
    with pytest.raises(ProtocolError, match="not valid JSON.*Inference-Header-Content-Length"):
        parse_infer_request(SPEC, b"\x00\x01binary")


def _binary_body(x, mask, outputs=None):
    head = json.dumps({"inputs": [
        {"name": "x", "shape": list(x.shape), "datatype": "FP32", "parameters": {"binary_data_size": x.nbytes}},
        {"name": "mask", "shape": list(mask.shape), "datatype": "BOOL",
         "parameters": {"binary_data_size": mask.nbytes}}], **({"outputs": outputs} if outputs else {})}).encode()
    return head + x.tobytes() + mask.tobytes(), len(head)


def test_binary_request_and_response_round_trip():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 3)).astype(np.float32)
    mask = rng.random((3, 2)) < 0.5
    body, n = _binary_body(x, mask, outputs=[{"name": "k", "parameters": {"binary_data": True}}, {"name": "y"}])
    r = parse_infer_request(SPEC, body, str(n))
    np.testing.assert_array_equal(r.inputs["x"], x)
    np.testing.assert_array_equal(r.inputs["mask"], mask)
    assert r.outputs == [("k", True), ("y", False)]

    results = {"y": rng.standard_normal((3, 4)).astype(np.float32), "k": np.array([1, -2, 3], np.int32)}
    content, headers = encode_infer_response(SPEC, r, results)
    head_len = int(headers[protocol.HEADER_LENGTH])
    doc = json.loads(content[:head_len])
    assert [o["name"] for o in doc["outputs"]] == ["k", "y"]
    k, y = doc["outputs"]
    assert k["datatype"] == "INT32" and k["parameters"] == {"binary_data_size": 12} and "data" not in k
    np.testing.assert_array_equal(np.frombuffer(content[head_len:], "<i4"), results["k"])
    assert y["shape"] == [3, 4] and y["datatype"] == "FP32"
    np.testing.assert_array_equal(np.array(y["data"], np.float32).reshape(3, 4), results["y"])


def test_binary_output_for_all_outputs_by_request_parameter():
    r = parse_infer_request(SPEC, _req([_x(), _mask()], parameters={"binary_data_output": True}))
    assert r.outputs == [("y", True), ("k", True)]
    content, headers = encode_infer_response(SPEC, r, {"y": np.zeros((1, 4), np.float32), "k": np.zeros(1, np.int32)})
    assert headers["content-type"] == "application/octet-stream"
    assert len(content) == int(headers[protocol.HEADER_LENGTH]) + 16 + 4


@pytest.mark.parametrize("change, message", [
    (lambda body, n: (body[:-1], str(n)), "input 'mask': binary_data_size 6 runs past the end"),
    (lambda body, n: (body + b"\0", str(n)), "1 bytes of binary data that no input's binary_data_size accounts for"),
    (lambda body, n: (body, "x"), "Inference-Header-Content-Length must be an integer"),
    (lambda body, n: (body, str(len(body) + 1)), "Inference-Header-Content-Length is"),
])
def test_malformed_binary_requests(change, message):
    body, n = _binary_body(np.zeros((3, 2, 3), np.float32), np.zeros((3, 2), bool))
    with pytest.raises(ProtocolError) as e:
        parse_infer_request(SPEC, *change(body, n))
    assert message in str(e.value)


def test_binary_size_must_match_shape():
    head = json.dumps({"inputs": [
        {"name": "x", "shape": [1, 2, 3], "datatype": "FP32", "parameters": {"binary_data_size": 20}},
        _mask()]}).encode()
    with pytest.raises(ProtocolError, match=r"input 'x': binary_data_size is 20 bytes; shape \[1, 2, 3\] of FP32 "
                                            "needs 24"):
        parse_infer_request(SPEC, head + b"\0" * 20, str(len(head)))


def _engine(max_batch=4, device="cpu"):
    rng = np.random.default_rng(3)
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (1, 5))
    fc = net.add_fully_connected(x, 3, rng.standard_normal((3, 5)).astype(np.float32),
                                 rng.standard_normal(3).astype(np.float32))
    net.mark_output(fc.output(0), "y")
    config = builder.create_config()
    config.device = device
    config.max_batch = max_batch
    return builder.build(net, config)


def test_model_spec_from_engine():
    spec = ModelSpec.from_engine(_engine(), "fc")
    assert spec.metadata() == {"name": "fc", "versions": ["1"], "platform": "gie_cpu",
                               "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 5]}],
                               "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 3]}],
                               "parameters": {"max_batch_size": 4}}
    # Served with smaller batches, the metadata says so; a larger request is capped at the engine's maximum.
    assert ModelSpec.from_engine(_engine(), "fc", 2).metadata()["parameters"] == {"max_batch_size": 2}
    assert ModelSpec.from_engine(_engine(), "fc", 99).max_batch == 4


def test_runner_batches_requests_and_splits_them_back():
    """Requests of 1, 3, 2 and 7 samples run as engine batches of at most 4 and come back per request, each
    equal to the engine run on that request alone."""
    engine = _engine(max_batch=4)
    runner = EngineRunner(engine.serialize(), contexts=2)
    rng = np.random.default_rng(4)
    reqs = [{"x": rng.standard_normal((n, 5)).astype(np.float32)} for n in (1, 3, 2, 7)]
    ctx = engine.create_execution_context()
    for req, got in zip(reqs, runner.run_requests(reqs)):
        n = req["x"].shape[0]
        want = np.concatenate([ctx.execute({"x": req["x"][i:i + 4]})["y"] for i in range(0, n, 4)])
        assert got["y"].shape == (n, 3)
        np.testing.assert_allclose(got["y"], want, rtol=1e-6, atol=1e-6)


@pytest.mark.gpu
def test_gpu_runner_from_many_threads_equals_direct_execution():
    """What a GPU replica holds (EngineRunner over a GPU engine: a pool of contexts shared by the batching threads;
    Ray is not on the GPU machine, so the replica core runs here without it): 16 threads x 20 requests of 1..9
    samples, each result equal to the CPU engine's on the same request."""
    gpu, cpu = _engine(max_batch=4, device="gpu"), _engine(max_batch=4)
    runner = EngineRunner(gpu.serialize(), contexts=3)
    ref_ctx = cpu.create_execution_context()

    lock = threading.Lock()

    def ref_ctx_execute(x):
        with lock:  # one CPU context: one thread at a time
            return ref_ctx.execute({"x": x})["y"]

    def one(seed):
        rng = np.random.default_rng(seed)
        reqs = [{"x": rng.standard_normal((int(rng.integers(1, 10)), 5)).astype(np.float32)} for _ in range(20)]
        for req, got in zip(reqs, runner.run_requests(reqs)):
            x = req["x"]
            want = np.concatenate([ref_ctx_execute(x[i:i + 4]) for i in range(0, x.shape[0], 4)])
            np.testing.assert_allclose(got["y"], want, rtol=1e-5, atol=1e-5)
        return len(reqs)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        assert sum(pool.map(one, range(16))) == 320


def test_serve_without_ray_says_how_to_install(tmp_path):
    code = ("import sys; sys.modules['ray'] = None\n"
            "from gie.__main__ import main\n"
            "sys.exit(main(['serve', 'lenet']))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    assert "needs Ray Serve" in r.stderr and 'pip install "gie[serve]"' in r.stderr
