"""gie serve on a local Ray (CPU engines): Open Inference Protocol requests from tritonclient (a client we did not
write) and raw HTTP, dynamic batching seen in the replicas' metrics, protocol errors, a killed replica, the
command line, and gie.ray.predict over Ray Data. Skipped when Ray Serve or tritonclient is not installed
(pip install "gie[serve]" tritonclient[http]; the test extras have them).

One small Ray for the whole module (2 CPUs, a small object store), so that it runs on a 2-core machine."""
import concurrent.futures
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import pytest

import gie

ray = pytest.importorskip("ray", reason="needs Ray (pip install \"gie[serve]\")")
pytest.importorskip("ray.serve", reason="needs Ray Serve (pip install \"gie[serve]\")")
httpclient = pytest.importorskip("tritonclient.http", reason="needs tritonclient (pip install tritonclient[http])")

import gie.serve as gserve  # noqa: E402

MAX_BATCH = 8
SHAPE = (3, 8, 8)


def _free_port():
    """A free port below the kernel's ephemeral range (where the OS hands out port 0 binds) and above Ray's worker
    ports (10002-19999): the many processes a Ray start launches bind ephemeral ports, and one of them took a port
    chosen by bind(0) before Serve's proxy could (a flake: 'Failed to bind to address')."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000..32000")


def _small_engine():
    """conv 3x3 + ReLU + pool + FC + softmax on (N, 3, 8, 8), batches 1..8, seeded weights."""
    rng = np.random.default_rng(7)
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("data", gie.float32, (1,) + SHAPE)
    conv = net.add_convolution(x, 6, (3, 3), rng.standard_normal((6, 3, 3, 3)).astype(np.float32) * 0.3,
                               rng.standard_normal(6).astype(np.float32) * 0.1)
    relu = net.add_activation(conv.output(0), gie.ActivationType.RELU)
    pool = net.add_pooling(relu.output(0), gie.PoolingType.MAX, (2, 2), stride=(2, 2))
    fc = net.add_fully_connected(pool.output(0), 10, rng.standard_normal((10, 54)).astype(np.float32) * 0.2,
                                 rng.standard_normal(10).astype(np.float32) * 0.1)
    prob = net.add_softmax(fc.output(0))
    net.mark_output(prob.output(0), "prob")
    net.mark_output(fc.output(0), "logits")
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = MAX_BATCH
    return builder.build(net, config)


@pytest.fixture(scope="module")
def engine():
    return _small_engine()


@pytest.fixture(scope="module")
def engine_file(engine, tmp_path_factory):
    path = tmp_path_factory.mktemp("serve") / "small.gie"
    engine.save(str(path))
    return str(path)


def _read_until(proc, prefix, seconds):
    lines, deadline = [], time.time() + seconds
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith(prefix):
            return lines
    raise AssertionError(f"no line starting with {prefix!r} within {seconds} s:\n" + "".join(lines))


def test_cli_serve_starts_a_local_ray(engine_file, engine):
    """`gie serve ENGINE` without --address: its own local Ray, requests answered, `gie serve --status` reports it,
    Ctrl-C stops everything.

    --status is pointed at this Ray (its GCS address, which `gie serve` prints, with token authentication on as the
    local Ray has it): address auto connects to ANY Ray running on the machine, and under pytest-xdist the other
    worker's module Ray (the `cluster` fixture), or another test run's, may be up at the same time (it was: a flake of
    `-n 2` only). The child Ray gets its own RAY_TMPDIR (short: its sockets live there), so that a `ray start`
    cluster recorded in /tmp/ray cannot capture it."""
    port = _free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1", RAY_TMPDIR=tempfile.mkdtemp(prefix="gie-ray-"))
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen([sys.executable, "-m", "gie", "serve", engine_file, "--port", str(port), "--max-batch",
                             "4", "--cpus-per-replica", "0.5"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    try:
        lines = _read_until(proc, "serving 'small'", 180)
        assert f"http://127.0.0.1:{port}/v2/models/small" in lines[-1] and "`gie serve --status`" in lines[-1]
        gcs = re.search(r"Ray at ([^)\s]+)\)", lines[-1]).group(1)
        client = httpclient.InferenceServerClient(f"127.0.0.1:{port}")
        x = np.random.default_rng(8).standard_normal((6,) + SHAPE).astype(np.float32)  # 6 > --max-batch 4
        np.testing.assert_allclose(client.infer("small", [_triton_input(x, True)]).as_numpy("prob"),
                                   np.concatenate([_direct(engine, x[:4])["prob"], _direct(engine, x[4:])["prob"]]),
                                   rtol=1e-5, atol=1e-6)
        assert client.get_model_metadata("small")["parameters"]["max_batch_size"] == 4
        st = subprocess.run([sys.executable, "-m", "gie", "serve", "--status", "--address", gcs], capture_output=True,
                            text=True, timeout=120, env=dict(os.environ, RAY_AUTH_MODE="token"))
        assert st.returncode == 0, st.stderr
        assert "application small: ApplicationStatus.RUNNING" in st.stdout, st.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
        shutil.rmtree(env["RAY_TMPDIR"], ignore_errors=True)
    assert proc.returncode == 0, out
    assert "stopping 'small'" in out


@pytest.fixture(scope="module")
def cluster():
    gcs = gserve.start_ray(num_cpus=2, object_store_memory=96 * 2**20, metrics_report_interval_ms=500)
    yield gcs
    try:
        gserve.shutdown()
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def served(cluster, engine):
    port = _free_port()
    # Two replicas of a quarter CPU each (Ray has 2 here; Ray Data's read tasks need a whole one, the predict
    # actors half); a 20 ms batch wait so that concurrent requests meet in one batch even on a loaded machine.
    url = gserve.deploy(engine, "small", replicas=2, cpus_per_replica=0.25, batch_wait_ms=20, contexts=2, port=port)
    assert url == f"http://127.0.0.1:{port}/v2/models/small"
    return port


def _direct(engine, x):
    return engine.create_execution_context().execute({"data": x})


def _triton_input(x, binary):
    inp = httpclient.InferInput("data", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    return inp


def _post(port, path, body, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", path, body=body, headers=headers or {"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, r.read(), dict(r.getheaders())
    finally:
        conn.close()


def _get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_metadata_and_health(served, engine):
    client = httpclient.InferenceServerClient(f"127.0.0.1:{served}")
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("small")
    assert not client.is_model_ready("nothere")
    meta = client.get_model_metadata("small")
    assert meta["name"] == "small" and meta["platform"] == "gie_cpu"
    assert meta["inputs"] == [{"name": "data", "datatype": "FP32", "shape": [-1, *SHAPE]}]
    assert {o["name"]: o["shape"] for o in meta["outputs"]} == {"prob": [-1, 10], "logits": [-1, 10]}
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    with pytest.raises(Exception, match="unknown model 'nothere'"):
        client.get_model_metadata("nothere")


def test_200_concurrent_requests_match_direct_execution(served, engine):
    """200 requests of 1-3 samples, 64 at a time, JSON and binary: each answer equals the engine run directly on
    the same input; the replicas formed batches of more than one request (read from Ray's metrics)."""
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((int(rng.integers(1, 4)),) + SHAPE).astype(np.float32) for _ in range(200)]
    client = httpclient.InferenceServerClient(f"127.0.0.1:{served}", concurrency=64, connection_timeout=120,
                                              network_timeout=120)
    pending = []
    for k, x in enumerate(xs):
        binary = k % 2 == 0
        outputs = [httpclient.InferRequestedOutput("prob", binary_data=binary),
                   httpclient.InferRequestedOutput("logits", binary_data=not binary)]
        pending.append(client.async_infer("small", [_triton_input(x, binary)], outputs=outputs, request_id=str(k)))
    for k, (x, p) in enumerate(zip(xs, pending)):
        result = p.get_result()
        want = _direct(engine, x)
        assert result.get_response()["id"] == str(k)
        for name in ("prob", "logits"):
            got = result.as_numpy(name)
            assert got.shape == want[name].shape
            np.testing.assert_allclose(got, want[name], rtol=1e-5, atol=1e-6, err_msg=f"request {k} output {name}")
    client.close()

    # Batches of several requests were formed: Ray's metrics (exported every 0.5 s here) show it.
    deadline, stats = time.time() + 30, {}
    while time.time() < deadline:
        stats = {k: v for k, v in gserve.replica_stats().items() if k[0] == "small"}
        if sum(s["samples"] for s in stats.values()) >= sum(len(x) for x in xs):
            break
        time.sleep(0.5)
    samples = sum(s["samples"] for s in stats.values())
    batches = sum(s["batches"] for s in stats.values())
    assert samples >= sum(len(x) for x in xs), stats
    assert batches < len(xs), f"{batches} batches for {len(xs)} requests: no batching ({stats})"
    assert max(s["max_batch_bucket"] for s in stats.values()) > 1
    assert max(s["max_batch_bucket"] for s in stats.values()) <= MAX_BATCH
    assert samples / batches > 1.0


def test_protocol_errors_do_not_disturb_other_requests(served, engine):
    rng = np.random.default_rng(2)
    good = [rng.standard_normal((2,) + SHAPE).astype(np.float32) for _ in range(40)]
    x1 = good[0][:1]
    bad = {
        "unknown input": (json.dumps({"inputs": [{"name": "dta", "shape": [1, *SHAPE], "datatype": "FP32",
                                                  "data": x1.ravel().tolist()}]}), "unknown input 'dta'"),
        "wrong shape": (json.dumps({"inputs": [{"name": "data", "shape": [1, 3, 8, 9], "datatype": "FP32",
                                                "data": [0.0] * 216}]}), "input 'data': shape [1, 3, 8, 9]"),
        "wrong datatype": (json.dumps({"inputs": [{"name": "data", "shape": [1, *SHAPE], "datatype": "INT32",
                                                   "data": [0] * 192}]}), "input 'data': datatype \"INT32\""),
        "too few values": (json.dumps({"inputs": [{"name": "data", "shape": [1, *SHAPE], "datatype": "FP32",
                                                   "data": [0.0] * 10}]}), "'data' has 10 elements"),
        "not JSON": ("{inputs: nope", "not valid JSON"),
        "unknown output": (json.dumps({"inputs": [{"name": "data", "shape": [1, *SHAPE], "datatype": "FP32",
                                                   "data": x1.ravel().tolist()}], "outputs": [{"name": "probs"}]}),
                           "unknown output 'probs'"),
    }
    client = httpclient.InferenceServerClient(f"127.0.0.1:{served}", concurrency=16, network_timeout=120)
    pending = [client.async_infer("small", [_triton_input(x, True)]) for x in good]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = {k: pool.submit(_post, served, "/v2/models/small/infer", body.encode())
                   for k, (body, _) in bad.items()}
        # Binary data whose size disagrees with the header (a raw request, as tritonclient would never send it).
        head = json.dumps({"inputs": [{"name": "data", "shape": [1, *SHAPE], "datatype": "FP32",
                                       "parameters": {"binary_data_size": 100}}]}).encode()
        answers["binary size"] = pool.submit(_post, served, "/v2/models/small/infer", head + b"\0" * 100,
                                             {"Inference-Header-Content-Length": str(len(head)),
                                              "Content-Type": "application/octet-stream"})
        answers["unknown model"] = pool.submit(_post, served, "/v2/models/other/infer", bad["not JSON"][0].encode())
    expect = {**{k: (400, m) for k, (_, m) in bad.items()},
              "binary size": (400, "binary_data_size is 100 bytes"), "unknown model": (404, "unknown model 'other'")}
    for k, fut in answers.items():
        status, body, _ = fut.result()
        assert status == expect[k][0], (k, status, body)
        assert expect[k][1] in json.loads(body)["error"], (k, body)
    for x, p in zip(good, pending):
        np.testing.assert_allclose(p.get_result().as_numpy("prob"), _direct(engine, x)["prob"], rtol=1e-5, atol=1e-6)
    client.close()
    # The tritonclient error path: the server's message comes through.
    client = httpclient.InferenceServerClient(f"127.0.0.1:{served}")
    with pytest.raises(Exception, match="input 'data': shape"):
        client.infer("small", [_triton_input(np.zeros((1, 3, 8, 7), np.float32), True)])
    client.close()


def test_large_request_is_split_into_engine_batches(served, engine):
    """A request of 21 samples (more than the engine's 8) runs in pieces and comes back whole, in order."""
    x = np.random.default_rng(3).standard_normal((21,) + SHAPE).astype(np.float32)
    client = httpclient.InferenceServerClient(f"127.0.0.1:{served}")
    got = client.infer("small", [_triton_input(x, True)]).as_numpy("logits")
    np.testing.assert_allclose(got, _direct(engine, x[:8])["logits"].tolist() + _direct(engine, x[8:16])["logits"]
                               .tolist() + _direct(engine, x[16:])["logits"].tolist(), rtol=1e-5, atol=1e-6)


def _replica_actors(app):
    return [a for a in ray.util.list_named_actors(all_namespaces=True)
            if a["namespace"] == "serve" and a["name"].startswith("SERVE_REPLICA::") and f"{app}#" in a["name"]]


def test_killed_replica_is_restarted_and_no_request_gets_a_wrong_answer(served, engine):
    from ray import serve

    rng = np.random.default_rng(4)
    inputs = [rng.standard_normal((1 + k % 3,) + SHAPE).astype(np.float32) for k in range(16)]
    wants = [_direct(engine, x)["prob"] for x in inputs]
    outcome = {"ok": 0, "failed": 0, "ok_after_kill": 0}
    wrong = []
    stop = threading.Event()
    killed_at = []

    def load(worker):
        client = httpclient.InferenceServerClient(f"127.0.0.1:{served}", network_timeout=60)
        k = worker
        while not stop.is_set():
            i = k % len(inputs)
            try:
                got = client.infer("small", [_triton_input(inputs[i], True)]).as_numpy("prob")
            except Exception:  # noqa: BLE001  a request in flight on the killed replica may fail
                outcome["failed"] += 1
            else:
                if not np.allclose(got, wants[i], rtol=1e-5, atol=1e-6):
                    wrong.append(i)
                outcome["ok"] += 1
                if killed_at:
                    outcome["ok_after_kill"] += 1
            k += 4

    threads = [threading.Thread(target=load, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        victims = _replica_actors("small")
        assert len(victims) == 2, victims
        before = {a["name"] for a in victims}
        ray.kill(ray.get_actor(victims[0]["name"], namespace="serve"), no_restart=True)
        killed_at.append(time.time())
        # Serve notices and starts a replacement (a replica it had not before); the other one answers meanwhile.
        deadline, restarted = time.time() + 90, None
        while time.time() < deadline:
            names = {a["name"] for a in _replica_actors("small")}
            dep = serve.status().applications["small"].deployments["small"]
            if (victims[0]["name"] not in names and names - before
                    and dep.replica_states.get("RUNNING", 0) == 2):
                restarted = time.time() - killed_at[0]
                break
            time.sleep(0.25)
        assert restarted is not None, f"no replacement replica within 90 s: {serve.status()}"
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not wrong, f"wrong answers for inputs {wrong}"
    assert outcome["ok_after_kill"] > 0, outcome
    # After the restart every request succeeds again.
    client = httpclient.InferenceServerClient(f"127.0.0.1:{served}")
    for x, want in zip(inputs, wants):
        np.testing.assert_allclose(client.infer("small", [_triton_input(x, True)]).as_numpy("prob"), want,
                                   rtol=1e-5, atol=1e-6)
    print(f"replica replaced after {restarted:.1f} s; {outcome}")


def test_cli_serve_joins_the_cluster_and_status_reports(cluster, served, engine_file, engine):
    """`gie serve ENGINE --address` deploys a second model beside the first; `gie serve --status` prints the
    replicas' metrics; SIGTERM removes the application."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "gie", "serve", engine_file, "--name", "cli_small",
                             "--address", cluster, "--cpus-per-replica", "0.25", "--max-batch", "4"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    try:
        lines = _read_until(proc, "serving 'cli_small'", 180)
        x = np.random.default_rng(5).standard_normal((2,) + SHAPE).astype(np.float32)
        body = json.dumps({"id": "r1", "inputs": [{"name": "data", "shape": list(x.shape), "datatype": "FP32",
                                                   "data": x.ravel().tolist()}], "outputs": [{"name": "prob"}]})
        status, raw, headers = _post(served, "/v2/models/cli_small/infer", body.encode())
        assert status == 200, raw
        doc = json.loads(raw)
        assert doc["id"] == "r1" and [o["name"] for o in doc["outputs"]] == ["prob"]
        np.testing.assert_allclose(np.array(doc["outputs"][0]["data"], np.float32).reshape(2, 10),
                                   _direct(engine, x)["prob"], rtol=1e-5, atol=1e-6)
        # The model served before still answers.
        assert _get(served, "/v2/models/small")[0] == 200
        deadline = time.time() + 30
        while True:
            st = subprocess.run([sys.executable, "-m", "gie", "serve", "--status", "--address", cluster],
                                capture_output=True, text=True, timeout=120, env=env)
            assert st.returncode == 0, st.stderr
            if "model cli_small replica" in st.stdout or time.time() > deadline:
                break
            time.sleep(1)
        assert "application cli_small: ApplicationStatus.RUNNING" in st.stdout, st.stdout
        assert "model cli_small replica" in st.stdout and "requests ok 1" in st.stdout, st.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, "".join(lines) + out
    from ray import serve

    assert "cli_small" not in serve.status().applications
    assert _get(served, "/v2/models/cli_small")[0] == 404


def test_predict_10000_samples_equals_direct_execution(cluster, served, engine_file, engine):
    n = 10_000
    rng = np.random.default_rng(6)
    x = rng.standard_normal((n,) + SHAPE).astype(np.float32)
    ids = np.arange(n, dtype=np.int64)
    out = gie.ray.predict({"id": ids, "data": x}, engine_file, batch_size=500, concurrency=1, num_cpus=0.5)
    got_ids, got_prob, got_logits = [], [], []
    for batch in out.iter_batches(batch_size=2000, batch_format="numpy"):
        got_ids.append(batch["id"])
        got_prob.append(batch["prob"])
        got_logits.append(batch["logits"])
        assert "data" not in batch  # the input column is consumed; others pass through
    order = np.argsort(np.concatenate(got_ids))
    got_ids = np.concatenate(got_ids)[order]
    np.testing.assert_array_equal(got_ids, ids)
    ctx = engine.create_execution_context()
    want = {k: np.concatenate([ctx.execute({"data": x[i:i + MAX_BATCH]})[k] for i in range(0, n, MAX_BATCH)])
            for k in ("prob", "logits")}
    np.testing.assert_allclose(np.concatenate(got_prob)[order], want["prob"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.concatenate(got_logits)[order], want["logits"], rtol=1e-5, atol=1e-6)


def test_predict_reads_npy_and_parquet_files(cluster, engine_file, engine, tmp_path):
    x = np.random.default_rng(9).standard_normal((300,) + SHAPE).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    import pyarrow.parquet as pq

    (tmp_path / "pq").mkdir()
    pq.write_table(gie.ray._arrow_table({"id": np.arange(len(x)), "data": x}), str(tmp_path / "pq" / "x.parquet"))
    want = np.concatenate([_direct(engine, x[i:i + MAX_BATCH])["prob"] for i in range(0, len(x), MAX_BATCH)])
    # The .npy file has no id column: the rows are matched by content (a row's input determines its output).
    rows = gie.ray.predict(str(tmp_path / "x.npy"), engine_file, batch_size=64, num_cpus=0.5).take_all()
    got = np.stack([r["prob"] for r in rows])
    np.testing.assert_allclose(got[np.lexsort(got.T)], want[np.lexsort(want.T)], rtol=1e-5, atol=1e-6)
    # read_args reach the reader: here, parquet read tasks that ask for a quarter CPU.
    rows = gie.ray.predict(str(tmp_path / "pq"), engine_file, batch_size=64, num_cpus=0.5,
                           read_args={"num_cpus": 0.25}).take_all()
    got = np.stack([r["prob"] for r in sorted(rows, key=lambda r: r["id"])])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_predict_errors(cluster, engine):
    with pytest.raises(gie.InvalidArgumentError, match="no column for input"):
        gie.ray.predict({"id": np.arange(4), "pixels": np.zeros((4,) + SHAPE, np.float32)}, engine)
    with pytest.raises(gie.InvalidArgumentError, match="concurrency must be at least 1"):
        gie.ray.predict(np.zeros((4,) + SHAPE, np.float32), engine, concurrency=0)
    with pytest.raises(gie.InvalidArgumentError, match="not outputs of the engine"):
        gie.ray.predict(np.zeros((4,) + SHAPE, np.float32), engine, outputs={"nope": "x"})


def test_deploy_refuses_bad_arguments(cluster, engine):
    with pytest.raises(gie.InvalidArgumentError, match="CPU engine"):
        gserve.deploy(engine, "x", gpus_per_replica=1, port=_free_port())
    with pytest.raises(gie.InvalidArgumentError, match="goes into URLs"):
        gserve.deploy(engine, "a/b", port=_free_port())
    with pytest.raises(gie.InvalidEngineError):
        gserve.deploy(b"not an engine", "x", port=_free_port())
