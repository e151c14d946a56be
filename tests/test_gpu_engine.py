"""The CUDA backend as a whole: built-in models GPU vs CPU, auxiliary streams, CUDA graphs, the timing
cache, serialization of GPU engines, the profiler. Needs a GPU (pytest -m gpu); skipped elsewhere."""
import json

import numpy as np
import pytest

import gie
from gie import model_zoo, models

from util import assert_close

pytestmark = pytest.mark.gpu


def _build(model, device, max_batch, image=None, configure=None):
    builder = gie.Builder()
    net = builder.create_network()
    model_zoo.define(model, net, seed=3, image=image, batch=1)
    config = builder.create_config()
    config.device = device
    config.max_batch = max_batch
    if configure:
        configure(config)
    return builder.build(net, config)


def _relative_error(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


_CPU_CACHE = {}


def _cpu_result(model, image, x):
    key = (model, image, x.shape, hash(x.tobytes()))
    if key not in _CPU_CACHE:
        eng = _build(model, "cpu", x.shape[0], image)
        _CPU_CACHE[key] = eng.create_execution_context().execute({"data": x})
    return _CPU_CACHE[key]


@pytest.mark.parametrize("model,image", [("googlenet", 224), ("resnet50", 224), ("yolov2", 416), ("yolov2", 224)])
@pytest.mark.parametrize("batch", [1, 3])
def test_zoo_model_gpu_matches_cpu(model, image, batch):
    spec = model_zoo.describe(model, seed=3, image=image)
    x = spec.random_input(batch=batch, seed=batch)
    ref = _cpu_result(model, image, x)
    eng = _build(model, "gpu", batch, image)
    assert eng.device == gie.DeviceType.GPU
    info = eng.layer_info()
    assert all(k["device"] == "gpu" for k in info["kernels"])
    out = eng.create_execution_context().execute({"data": x})
    for name in ref:
        # Different summation orders in FP32 over deep networks: relative to the output's scale.
        assert _relative_error(out[name], ref[name]) < 2e-4, (model, name, _relative_error(out[name], ref[name]))


def test_lenet_gpu_matches_cpu():
    model = models.lenet()
    cpu = models.build(model, device="cpu", max_batch=13)
    gpu = models.build(model, device="gpu", max_batch=13)
    rng = np.random.default_rng(0)
    name = cpu.input_names[0]
    for b in (1, 13):
        x = rng.random((b,) + tuple(model.inputs[name]), dtype=np.float32)
        a = cpu.create_execution_context().execute({name: x})
        g = gpu.create_execution_context().execute({name: x})
        for k in a:
            assert_close(g[k], a[k], rtol=1e-4, atol=1e-5, what=f"lenet batch {b} {k}")


def test_batch_range_smaller_batches_and_reuse():
    spec = model_zoo.describe("googlenet", seed=3, image=224)
    eng = _build("googlenet", "gpu", 4)
    ctx = eng.create_execution_context()
    for b in (4, 1, 3, 4):
        x = spec.random_input(batch=b, seed=10 + b)
        ref = _cpu_result("googlenet", 224, x)
        out = ctx.execute({"data": x})
        assert out["prob"].shape[0] == b
        assert _relative_error(out["prob"], ref["prob"]) < 2e-4


@pytest.mark.parametrize("aux", [0, 3])
def test_aux_streams_same_result(aux):
    spec = model_zoo.describe("googlenet", seed=3, image=224)
    x = spec.random_input(batch=2, seed=5)
    ref = _cpu_result("googlenet", 224, x)

    def configure(c):
        c.max_aux_streams = aux

    eng = _build("googlenet", "gpu", 2, configure=configure)
    info = eng.layer_info()
    streams = {k["stream"] for k in info["kernels"]}
    if aux == 0:
        assert streams == {0} and info["memory"]["streams"] == 1
    else:
        assert len(streams) > 1, "GoogLeNet's inception branches should be spread over streams"
        assert info["memory"]["streams"] == len(streams)
    ctx = eng.create_execution_context()
    for _ in range(3):  # repeated runs: a race would show as a moving result
        out = ctx.execute({"data": x})
        assert _relative_error(out["prob"], ref["prob"]) < 2e-4


def test_aux_streams_decided_by_timing_is_recorded():
    eng = _build("googlenet", "gpu", 1)
    log = eng.layer_info()["passes"]
    assert any("auxiliary streams" in line for line in log), log


@pytest.mark.parametrize("aux", [0, 3])
def test_cuda_graph_matches_plain_run(aux):
    spec = model_zoo.describe("googlenet", seed=3, image=224)

    def configure(c):
        c.cuda_graph = True
        c.max_aux_streams = aux

    eng = _build("googlenet", "gpu", 4, configure=configure)
    assert eng.layer_info()["cuda_graph"] is True
    ctx = eng.create_execution_context()
    assert ctx.cuda_graph
    for b in (4, 2, 4):  # a new batch captures a new graph; the old one is replayed again
        x = spec.random_input(batch=b, seed=b)
        ref = _cpu_result("googlenet", 224, x)
        out = ctx.execute({"data": x})
        assert _relative_error(out["prob"], ref["prob"]) < 2e-4
    ctx.cuda_graph = False
    x = spec.random_input(batch=2, seed=2)
    assert _relative_error(ctx.execute({"data": x})["prob"], _cpu_result("googlenet", 224, x)["prob"]) < 2e-4


def test_timing_cache_reused_and_deterministic(tmp_path):
    cache = tmp_path / "timing.cache"

    def configure(c):
        c.timing_cache = str(cache)

    e1 = _build("resnet50", "gpu", 2, image=64, configure=configure)
    assert cache.exists()
    lines = cache.read_text().splitlines()
    assert lines[0] == "gie-timing-cache 2" and lines[1].startswith("device\t") and len(lines) > 10
    e2 = _build("resnet50", "gpu", 2, image=64, configure=configure)
    t1 = [(k["name"], k["tactic"]) for k in e1.layer_info()["kernels"]]
    t2 = [(k["name"], k["tactic"]) for k in e2.layer_info()["kernels"]]
    assert t1 == t2, "a build from a full timing cache must choose the same tactics"
    times1 = [k["tactic_times_ms"] for k in e1.layer_info()["kernels"]]
    times2 = [k["tactic_times_ms"] for k in e2.layer_info()["kernels"]]
    assert [[t["tactic"] for t in a] for a in times1] == [[t["tactic"] for t in a] for a in times2]
    assert [[t["ms"] for t in a] for a in times2] == [[pytest.approx(t["ms"], rel=1e-5) for t in a] for a in times1]
    # the build report's counts (layer_info "build_time"): the first build measured, the second only reused
    bt1, bt2 = e1.layer_info()["build_time"], e2.layer_info()["build_time"]
    measured1 = bt1["timings_measured_negotiation"] + bt1["timings_measured_tactic_selection"]
    assert measured1 >= len([k for k in times1 if len(k) > 1]) and bt1["tactic_runs_ms"] > 0, bt1
    assert bt2["timings_measured_negotiation"] + bt2["timings_measured_tactic_selection"] == 0, bt2
    assert bt2["timings_reused"] >= measured1, (bt1, bt2)


def test_timing_cache_is_keyed_by_shapes_not_weights(tmp_path):
    """Retrained weights, same architecture: the second build measures nothing new (issue 12 item 8)."""
    cache = tmp_path / "timing.cache"

    def configure(c):
        c.timing_cache = str(cache)

    _build("resnet50", "gpu", 2, image=64, configure=configure)
    first = cache.read_text().splitlines()
    assert len(first) > 10
    spec = model_zoo.describe("resnet50", seed=5, image=64)
    builder = gie.Builder()
    net = builder.create_network()
    spec.to_gie(net, batch=2, mark=["prob"])
    config = builder.create_config()
    config.device = "gpu"
    config.max_batch = 2
    configure(config)
    builder.build(net, config)
    assert cache.read_text().splitlines() == first, "different weights, same shapes: every timing must be reused"


def test_timing_cache_malformed_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.cache"
    bad.write_text("not a cache\n")

    def configure(c):
        c.timing_cache = str(bad)

    with pytest.raises(gie.InvalidArgumentError, match="timing cache"):
        _build("resnet50", "gpu", 1, image=32, configure=configure)
    assert bad.read_text() == "not a cache\n", "a malformed cache must not be overwritten"


def test_report_lists_tactics_and_runner_up():
    eng = _build("resnet50", "gpu", 8, image=64)
    convs = [k for k in eng.layer_info()["kernels"] if k["type"] == "Convolution"]
    assert convs
    multi = [k for k in convs if len(k["tactic_times_ms"]) > 1]
    assert multi, "convolutions should offer several tactics"
    for k in multi:
        times = [t["ms"] for t in k["tactic_times_ms"]]
        assert times == sorted(times)
        chosen = [t["ms"] for t in k["tactic_times_ms"] if t["tactic"] == k["tactic"]]
        assert chosen and chosen[0] <= times[0] * (1 + 1e-6), (k["name"], k["tactic"], k["tactic_times_ms"][:3])


def test_gpu_engine_roundtrip_and_profiler(tmp_path):
    spec = model_zoo.describe("yolov2", seed=3, image=224)
    eng = _build("yolov2", "gpu", 2, image=224)
    path = tmp_path / "yolo.gie"
    eng.save(str(path))
    summary = json.loads(gie._C.engine_summary(path.read_bytes()))
    assert summary["device"] == "gpu"
    eng2 = gie.Runtime().load(str(path))
    x = spec.random_input(batch=2, seed=1)
    a = eng.create_execution_context().execute({"data": x})
    ctx = eng2.create_execution_context()
    seen = []
    ctx.profiler = lambda name, ms: seen.append((name, ms))
    b = ctx.execute({"data": x})
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])  # same kernels, same tactics: bit-identical
    assert len(seen) == eng2.num_kernels and all(ms >= 0 for _, ms in seen)


def test_force_tactic_unknown_is_a_clear_error():
    def configure(c):
        c.force_tactic("Convolution", "no_such_tactic")

    with pytest.raises(gie.Error, match="no_such_tactic"):
        _build("resnet50", "gpu", 1, image=32, configure=configure)


def test_contexts_share_weights_and_run_concurrently():
    import threading

    spec = model_zoo.describe("resnet50", seed=3, image=64)
    eng = _build("resnet50", "gpu", 2, image=64)
    xs = [spec.random_input(batch=2, seed=s) for s in range(4)]
    refs = [eng.create_execution_context().execute({"data": x})["prob"] for x in xs]
    errors = []

    def worker(i):
        ctx = eng.create_execution_context()
        for _ in range(5):
            out = ctx.execute({"data": xs[i]})["prob"]
            if not np.array_equal(out, refs[i]):
                errors.append(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_tf32_flag_off_keeps_fp32_on_cuda_cores():
    def configure(c):
        c.tf32 = False

    eng = _build("resnet50", "gpu", 8, image=64, configure=configure)
    for k in eng.layer_info()["kernels"]:
        assert "tf32" not in k["tactic"]
        assert all("tf32" not in t["tactic"] for t in k["tactic_times_ms"])
    spec = model_zoo.describe("resnet50", seed=3, image=64)
    x = spec.random_input(batch=8, seed=4)
    ref = _cpu_result("resnet50", 64, x)
    out = eng.create_execution_context().execute({"data": x})
    assert _relative_error(out["prob"], ref["prob"]) < 2e-4
