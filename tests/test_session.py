"""gie.InferenceSession: onnxruntime's API, the engine cache (built once, loaded later, a corrupt, tampered or
stale entry rebuilt and never trusted), and the options refused rather than ignored (issue 18)."""
import json
import logging
import os

import numpy as np
import pytest

import gie

import engine_layout

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def small_onnx(path, seed=0, batch="N"):
    """Conv(3->4, 3x3, pad 1) + Relu + GlobalAveragePool + Flatten, seeded weights."""
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "B")
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["g"]),
             helper.make_node("Flatten", ["g"], ["y"])]
    graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 4])], [w, b])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def reference(path, x):
    """numpy forward pass of small_onnx's model."""
    m = onnx.load(str(path))
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    w, b = init["W"].astype(np.float64), init["B"].astype(np.float64)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((x.shape[0], 4, 8, 8))
    for i in range(3):
        for j in range(3):
            out += np.einsum("nchw,oc->nohw", xp[:, :, i:i + 8, j:j + 8], w[:, :, i, j])
    out = np.maximum(out + b[None, :, None, None], 0)
    return out.mean(axis=(2, 3))


@pytest.fixture
def model(tmp_path):
    return small_onnx(tmp_path / "small.onnx")


def _x(batch, seed=1):
    return np.random.default_rng(seed).standard_normal((batch, 3, 8, 8)).astype(np.float32)


def test_run_and_io_like_onnxruntime(model):
    sess = gie.InferenceSession(str(model), device="cpu")
    assert [(a.name, a.shape, a.dtype, a.type) for a in sess.get_inputs()] == [("x", (None, 3, 8, 8), np.float32,
                                                                                "tensor(float)")]
    assert [(a.name, a.shape) for a in sess.get_outputs()] == [("y", (None, 4))]
    x = _x(2)
    (y,) = sess.run(None, {"x": x})
    np.testing.assert_allclose(y, reference(model, x), rtol=1e-4, atol=1e-5)
    assert sess.run(["y"], {"x": x})[0].shape == (2, 4)
    assert sess.get_providers() == ["CPUExecutionProvider"]
    with pytest.raises(gie.InvalidArgumentError, match="unknown output"):
        sess.run(["nope"], {"x": x})
    with pytest.raises(gie.InvalidArgumentError, match="list of names"):
        sess.run("y", {"x": x})
    with pytest.raises(gie.InvalidArgumentError, match="input_feed"):
        sess.run(None, x)


def test_batch_grows_unless_pinned(model):
    sess = gie.InferenceSession(model, device="cpu")
    assert sess.batch_range == (1, 1, 1)
    x = _x(5)
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], reference(model, x), rtol=1e-4, atol=1e-5)
    assert sess.batch_range == (1, 5, 5)
    pinned = gie.InferenceSession(model, device="cpu", batch=(1, 2, 3))
    assert pinned.get_inputs()[0].shape == (None, 3, 8, 8)
    assert gie.InferenceSession(model, device="cpu", batch=(2, 2, 2)).get_inputs()[0].shape == (2, 3, 8, 8)
    with pytest.raises(gie.InvalidArgumentError, match="batch 5 is outside"):
        pinned.run(None, {"x": x})


def test_cache_builds_once_then_loads(model, tmp_path):
    cache = tmp_path / "cache"
    first = gie.InferenceSession(model, device="cpu", cache_dir=cache, batch=4)
    assert first.cache_status == "built"
    names = sorted(os.listdir(cache))
    assert len([n for n in names if n.endswith(".gie")]) == 1 and any(n.startswith("timing-") for n in names)
    second = gie.InferenceSession(model, device="cpu", cache_dir=cache, batch=4)
    assert second.cache_status == "loaded"
    x = _x(3)
    np.testing.assert_array_equal(second.run(None, {"x": x})[0], first.run(None, {"x": x})[0])
    # Another build option, or other model bytes, is another entry.
    assert gie.InferenceSession(model, device="cpu", cache_dir=cache, batch=4, fp16=True).cache_status == "built"
    os.makedirs(tmp_path / "other")
    other = small_onnx(tmp_path / "other" / "small.onnx", seed=5)  # same name, other weights
    sess = gie.InferenceSession(other, device="cpu", cache_dir=cache, batch=4)
    assert sess.cache_status == "built"
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], reference(other, x), rtol=1e-4, atol=1e-5)


def _entry(cache):
    (key,) = [n[:-4] for n in os.listdir(cache) if n.endswith(".gie")]
    return os.path.join(cache, key + ".gie"), os.path.join(cache, key + ".json")


def _check_rebuilt(model, cache, caplog, why):
    x = _x(2)
    with caplog.at_level(logging.WARNING, logger="gie"):
        sess = gie.InferenceSession(model, device="cpu", cache_dir=cache, batch=2)
    assert sess.cache_status.startswith("rebuilt") and why in sess.cache_status, sess.cache_status
    assert any("rebuilding" in r.getMessage() for r in caplog.records)
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], reference(model, x), rtol=1e-4, atol=1e-5)
    # The rebuilt entry is good again.
    assert gie.InferenceSession(model, device="cpu", cache_dir=cache, batch=2).cache_status == "loaded"


def test_corrupt_entry_is_rebuilt(model, tmp_path, caplog):
    cache = tmp_path / "cache"
    gie.InferenceSession(model, device="cpu", cache_dir=cache, batch=2)
    engine_path, _ = _entry(cache)
    data = bytearray(open(engine_path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(engine_path, "wb").write(bytes(data))
    _check_rebuilt(model, cache, caplog, "SHA-256")


def test_tampered_entry_is_rebuilt(model, tmp_path, caplog):
    """The engine file changed with gie's checksums and the metadata's SHA-256 recomputed (so only the loader's
    structural checks can tell): refused, rebuilt."""
    import hashlib

    cache = tmp_path / "cache"
    gie.InferenceSession(model, device="cpu", cache_dir=cache, batch=2)
    engine_path, meta_path = _entry(cache)
    data = open(engine_path, "rb").read()
    layout = engine_layout.parse(data)
    x = next(t for t in layout["tensors"] if t["name"] == "x")
    data = engine_layout.patch(data, x["dims"][1], 5)  # 5 input channels for a 3-channel convolution
    open(engine_path, "wb").write(data)
    meta = json.load(open(meta_path))
    meta["engine_sha256"] = hashlib.sha256(data).hexdigest()
    json.dump(meta, open(meta_path, "w"))
    _check_rebuilt(model, cache, caplog, "does not load")


def test_stale_and_broken_metadata_is_rebuilt(model, tmp_path, caplog):
    cache = tmp_path / "cache"
    gie.InferenceSession(model, device="cpu", cache_dir=cache, batch=2)
    _, meta_path = _entry(cache)
    meta = json.load(open(meta_path))
    meta["fields"]["library"]["version"] = "0.0.1"  # written by another gie
    json.dump(meta, open(meta_path, "w"))
    _check_rebuilt(model, cache, caplog, "metadata does not match")
    _, meta_path = _entry(cache)
    open(meta_path, "w").write("{not json")
    _check_rebuilt(model, cache, caplog, "cannot be read")
    os.unlink(meta_path)
    _check_rebuilt(model, cache, caplog, "missing")


def test_bad_timing_cache_is_dropped(model, tmp_path, caplog):
    cache = tmp_path / "cache"
    gie.InferenceSession(model, device="cpu", cache_dir=cache, batch=2)
    (timing,) = [os.path.join(cache, n) for n in os.listdir(cache) if n.startswith("timing-")]
    open(timing, "w").write("garbage\n")
    with caplog.at_level(logging.WARNING, logger="gie"):
        sess = gie.InferenceSession(model, device="cpu", cache_dir=cache, batch=3)
    assert sess.cache_status == "built"
    assert any("timing cache" in r.getMessage() for r in caplog.records)
    assert open(timing, "rb").read() != b"garbage\n"  # rewritten by the build


def test_onnx_bytes_and_modelproto(model):
    x = _x(1)
    ref = reference(model, x)
    for m in (open(model, "rb").read(), onnx.load(str(model))):
        np.testing.assert_allclose(gie.InferenceSession(m, device="cpu").run(None, {"x": x})[0], ref,
                                   rtol=1e-4, atol=1e-5)


def test_fp16_session_is_close(model):
    x = _x(2)
    y = gie.InferenceSession(model, device="cpu", fp16=True).run(None, {"x": x})[0]
    np.testing.assert_allclose(y, reference(model, x), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("kwargs, match", [
    ({"device": "cuda:1"}, "CUDA_VISIBLE_DEVICES"),
])
def test_unimplemented_options_refused(model, kwargs, match):
    with pytest.raises(gie.UnsupportedError, match=match):
        gie.InferenceSession(model, **kwargs)


@pytest.mark.parametrize("kwargs", [{"device": "tpu"}, {"batch": (3, 2, 1)}, {"batch": "8"}, {"fp16": "yes"},
                                    {"int8": "yes"}, {"calibrator": object()}])
def test_bad_arguments(model, kwargs):
    with pytest.raises(gie.InvalidArgumentError):
        gie.InferenceSession(model, **kwargs)


def test_missing_model_is_file_error(tmp_path):
    with pytest.raises(gie.FileError, match="missing.onnx"):
        gie.InferenceSession(tmp_path / "missing.onnx")


def test_error_is_raised_not_also_logged(model, caplog):
    """A failure is one exception, not also an ERROR record of the 'gie' logger (which Python's last-resort
    handler prints to stderr)."""
    sess = gie.InferenceSession(model, device="cpu", batch=1)
    with caplog.at_level(logging.WARNING, logger="gie"):
        with pytest.raises(gie.InvalidArgumentError, match="outside the engine's batch range"):
            sess.engine.create_execution_context().execute({"x": _x(3)})
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.gpu
def test_gpu_session_matches_cpu_and_caches(model, tmp_path):
    cache = tmp_path / "cache"
    x = _x(3)
    sess = gie.InferenceSession(model, device="cuda:0", cache_dir=cache)
    assert sess.get_providers() == ["CUDAExecutionProvider"] and sess.engine.device == gie.DeviceType.GPU
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], reference(model, x), rtol=1e-4, atol=1e-4)
    again = gie.InferenceSession(model, device="gpu", cache_dir=cache, batch=(1, 3, 3))
    assert again.cache_status == "loaded"
    fp16 = gie.InferenceSession(model, device="gpu", fp16=True, cache_dir=cache)
    assert fp16.cache_status == "built"  # another entry: fp16 is in the key
    np.testing.assert_allclose(fp16.run(None, {"x": x})[0], reference(model, x), rtol=2e-2, atol=2e-2)


def test_external_data_is_in_the_key(tmp_path):
    """A model whose weights live in an external data file: changing that file (not the .onnx) is another model."""
    path = small_onnx(tmp_path / "ext.onnx")
    m = onnx.load(str(path))
    onnx.save(m, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="ext.weights",
              size_threshold=0)
    cache = tmp_path / "cache"
    x = _x(1)
    first = gie.InferenceSession(path, device="cpu", cache_dir=cache)
    assert gie.InferenceSession(path, device="cpu", cache_dir=cache).cache_status == "loaded"
    data = bytearray((tmp_path / "ext.weights").read_bytes())
    data[:4] = np.float32(3.0).tobytes()  # the first weight
    (tmp_path / "ext.weights").write_bytes(bytes(data))
    changed = gie.InferenceSession(path, device="cpu", cache_dir=cache)
    assert changed.cache_status == "built"
    assert not np.array_equal(changed.run(None, {"x": x})[0], first.run(None, {"x": x})[0])


def test_unwritable_timing_cache_builds_without_one(model, tmp_path, caplog):
    """The timing cache's path cannot be read or written (a folder stands there): the session still builds."""
    cache = tmp_path / "cache"
    gie.InferenceSession(model, device="cpu", cache_dir=cache, batch=2)
    (timing,) = [os.path.join(cache, n) for n in os.listdir(cache) if n.startswith("timing-")]
    os.unlink(timing)
    os.makedirs(timing)
    with caplog.at_level(logging.WARNING, logger="gie"):
        again = gie.InferenceSession(model, device="cpu", cache_dir=cache, batch=3)
    assert again.cache_status == "built" and any("building without one" in r.getMessage() for r in caplog.records)
    x = _x(3)
    np.testing.assert_allclose(again.run(None, {"x": x})[0], reference(model, x), rtol=1e-4, atol=1e-5)


def _calibrator(seed=5, cache_file=None):
    return gie.MinMaxCalibrator(_x(16, seed=seed), batch_size=8, cache_file=cache_file)


def test_int8_session_runs_int8_kernels_and_stays_close(model, tmp_path):
    """int8=True with a calibrator: the engine runs INT8 kernels (named in the layer info) and stays within a few
    INT8 steps of the float result."""
    x = _x(4, seed=9)
    sess = gie.InferenceSession(model, device="cpu", int8=True, calibrator=_calibrator(), cache_dir=tmp_path / "c")
    kernels = [k.get("precision") or k.get("variant") for k in sess.engine.layer_info()["kernels"]]
    assert any("int8" in str(k).lower() for k in kernels), kernels
    y, ref = sess.run(None, {"x": x})[0], reference(model, x)
    assert not np.allclose(y, gie.InferenceSession(model, device="cpu").run(None, {"x": x})[0], rtol=0, atol=1e-7)
    np.testing.assert_allclose(y, ref, rtol=0.05, atol=0.05 * np.abs(ref).max())


def test_int8_session_cache_key_covers_the_ranges(model, tmp_path):
    """The engine cache reuses an INT8 engine only for the same calibration ranges: other data, other key."""
    cache = tmp_path / "c"
    assert gie.InferenceSession(model, device="cpu", int8=True, calibrator=_calibrator(5), cache_dir=cache).cache_status == "built"
    assert gie.InferenceSession(model, device="cpu", int8=True, calibrator=_calibrator(5), cache_dir=cache).cache_status == "loaded"
    assert gie.InferenceSession(model, device="cpu", int8=True, calibrator=_calibrator(6), cache_dir=cache).cache_status == "built"
    assert gie.InferenceSession(model, device="cpu", cache_dir=cache).cache_status == "built"  # float: its own key


def test_int8_session_reads_the_calibration_cache(model, tmp_path):
    """A calibrator's cache file is written by the first session and read by the next one (no data needed)."""
    calib = tmp_path / "model.calib"
    a = gie.InferenceSession(model, device="cpu", int8=True, calibrator=_calibrator(cache_file=calib))
    assert calib.exists()
    b = gie.InferenceSession(model, device="cpu", int8=True, calibrator=gie.MinMaxCalibrator(cache_file=calib))
    x = _x(2, seed=3)
    np.testing.assert_array_equal(a.run(None, {"x": x})[0], b.run(None, {"x": x})[0])
