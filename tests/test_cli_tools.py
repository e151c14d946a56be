"""Issue 18's command line: real inputs and outputs, --plugins, --timing-cache, --workspace, --duration, --device N,
trtexec's spellings and "did you mean", `gie compare`, and the papercuts (build time, draw -o x.png, explain MODEL,
--version | head, the program's name in usage)."""
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import gie
from gie import compare

from test_cli import _env, _ok, cli

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _small_onnx(path, extra_nodes=(), out="y"):
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "B")
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["g"]),
             helper.make_node("Flatten", ["g"], ["y"]), *extra_nodes]
    graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", 4])], [w, b])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("my.ops", 1)]), str(path))
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return _small_onnx(tmp_path_factory.mktemp("tools") / "small.onnx")


@pytest.fixture(scope="module")
def lenet(tmp_path_factory):
    path = tmp_path_factory.mktemp("tools_lenet") / "lenet.gie"
    _ok(cli("build", "lenet", "--save", path, "--batch", "1,2,4", "--device", "cpu"))
    return path


# ---- run: real inputs and outputs, --duration ------------------------------------------------------

def test_run_load_inputs_save_outputs(lenet, tmp_path):
    x = np.random.default_rng(3).random((3, 1, 28, 28), dtype=np.float32)
    np.savez(tmp_path / "in.npz", data=x.astype(np.float64))  # float64, as numpy makes it: converted
    out = tmp_path / "out.npz"
    p = _ok(cli("run", lenet, "--load-inputs", tmp_path / "in.npz", "--save-outputs", out, "--iterations", 2))
    assert "batch 3:" in p.stdout and "inputs from" in p.stdout
    expected = gie.Runtime().load(lenet).create_execution_context().execute({"data": x})["prob"]
    with np.load(out) as f:
        assert f.files == ["prob"]
        np.testing.assert_array_equal(f["prob"], expected)


@pytest.mark.parametrize("arrays, match", [
    ({"nope": np.zeros((1, 1, 28, 28), np.float32)}, r"no input named \['nope'\].*input\(s\) \['data'\] missing"),
    ({"data": np.zeros((1, 3, 28, 28), np.float32)}, r"input 'data' has shape \(1, 3, 28, 28\)"),
    ({"data": np.zeros((1, 1, 28, 28), np.bool_)}, r"input 'data' is bool"),
])
def test_run_load_inputs_refused(lenet, tmp_path, arrays, match):
    np.savez(tmp_path / "in.npz", **arrays)
    p = cli("run", lenet, "--load-inputs", tmp_path / "in.npz", "--iterations", 1)
    assert p.returncode == 2 and re.search(match, p.stderr), p.stderr
    p = cli("run", lenet, "--load-inputs", tmp_path / "missing.npz")
    assert p.returncode == 2 and "missing.npz': no such file" in p.stderr


def test_run_duration(lenet, tmp_path):
    times = tmp_path / "t.json"
    p = _ok(cli("run", lenet, "--iterations", 1, "--warmup", 0, "--duration", 0.3, "--export-times", times))
    doc = json.loads(times.read_text())
    assert doc["iterations"] == len(doc["latency_ms"]) > 1
    assert sum(doc["latency_ms"]) > 150  # the runs themselves fill most of the 0.3 s
    assert f"batch 2: {doc['iterations']} iterations" in p.stdout and "at least 0.3 s" in p.stdout


# ---- build options ---------------------------------------------------------------------------------

def test_timing_cache_and_workspace(tmp_path):
    cache = tmp_path / "t.cache"
    _ok(cli("build", "lenet", "--device", "cpu", "--timing-cache", cache))
    assert cache.exists() and cache.stat().st_size > 0
    # --workspace reaches config.workspace_limit: FP32 LeNet's CPU kernels need no workspace; FP16 storage needs
    # conversion scratch, so the build fails naming the first layer that cannot fit.
    fits = cli("inspect", "lenet", "--device", "cpu", "--workspace", "1B", "--json")
    _ok(fits)
    assert json.loads(fits.stdout)["memory"]["workspace_bytes"] <= 1
    limited = cli("inspect", "lenet", "--device", "cpu", "--fp16", "--workspace", "1B", "--json")
    assert limited.returncode == 1 and "layer 'conv1'" in limited.stderr and "over the limit of 1 bytes" in limited.stderr, limited.stderr
    p = cli("build", "lenet", "--workspace", "lots")
    assert p.returncode == 2 and "--workspace" in p.stderr


def test_plugins_option(tmp_path):
    import test_plugins

    if test_plugins.CXX is None:
        pytest.skip("no C++ compiler")
    (lib,) = test_plugins._compile_all([(test_plugins.LEAKY_CLIP_SRC, tmp_path / "libleaky_clip.so", False)])
    node = helper.make_node("LeakyClip", ["y"], ["z"], domain="my.ops", lo=-1.0, hi=0.5, slope=0.1)
    path = _small_onnx(tmp_path / "clip.onnx", extra_nodes=[node], out="z")
    engine = tmp_path / "clip.gie"
    p = cli("build", path, "--device", "cpu")
    assert p.returncode == 1 and "LeakyClip" in p.stderr, p.stderr
    _ok(cli("build", path, "--device", "cpu", "--plugins", lib, "--save", engine))
    p = cli("explain", engine)
    assert p.returncode == 1 and "NOT registered here" in p.stdout
    assert "loadable on this machine: yes" in _ok(cli("explain", engine, "--plugins", lib)).stdout
    _ok(cli("run", engine, "--plugins", lib, "--iterations", 1))
    p = cli("build", path, "--plugins", tmp_path / "nope.so")
    assert p.returncode == 2 and "nope.so': no such file" in p.stderr


def test_device_index():
    env = dict(_env(), CUDA_VISIBLE_DEVICES="3")
    p = subprocess.run([sys.executable, "-m", "gie", "build", "lenet", "--device", "2"], capture_output=True,
                       text=True, env=env)
    assert p.returncode == 2 and "CUDA_VISIBLE_DEVICES=3 makes only 1 GPU(s) visible" in p.stderr, p.stderr
    p = cli("build", "lenet", "--device", "tpu")
    assert p.returncode == 2 and "GPU index" in p.stderr
    if not gie.build_info()["gpu_available"]:
        p = cli("build", "lenet", "--device", "gpu:0")
        assert p.returncode == 1 and "Traceback" not in p.stderr


# ---- trtexec's spellings ---------------------------------------------------------------------------

def test_trtexec_spellings(model, tmp_path):
    engine = tmp_path / "m.gie"
    times = tmp_path / "t.json"
    p = _ok(cli(f"--onnx={model}", f"--saveEngine={engine}", "--shapes=x:3x3x8x8", "--iterations=2",
                "--useCudaGraph", "--dumpProfile", f"--exportTimes={times}", "--device=cpu"))
    assert "read trtexec options as: gie run" in p.stderr
    assert engine.read_bytes()[:8] == b"GIEENGN\x1a"
    doc = json.loads(times.read_text())
    assert doc["batch"] == 3 and doc["iterations"] == 2
    assert "per-kernel times" in p.stdout
    p = _ok(cli(f"--loadEngine={engine}", "--iterations=1"))
    assert "engine file" in p.stdout
    p = _ok(cli(f"--onnx={model}", "--buildOnly", "--minShapes=x:1x3x8x8", "--optShapes=x:2x3x8x8",
                "--maxShapes=x:4x3x8x8", "--device=cpu"))
    assert "batch 1..4 (opt 2)" in p.stdout


@pytest.mark.parametrize("option, hint", [
    ("--cudaGraph", "did you mean --cuda-graph?"),
    ("--iteratons=3", "did you mean --iterations?"),
    ("--exportOutput=o.json", "use --save-outputs FILE.npz"),
    ("--warmUp=200", "--warmup N counts iterations"),
    ("--loadInputs=x:x.bin", "use --load-inputs FILE.npz"),
    ("--shapes=x:Bx3", "the batch B first"),
    ("--exportLayerInfo=l.json", "gie inspect ENGINE --json"),
])
def test_unknown_options_get_a_suggestion(option, hint):
    p = cli("run", "lenet", option)
    assert p.returncode == 2 and hint in p.stderr, p.stderr
    assert "Traceback" not in p.stderr


# ---- papercuts -------------------------------------------------------------------------------------

def test_build_time_includes_defining_the_network():
    p = _ok(cli("build", "googlenet", "--device", "cpu"))
    m = re.search(r"in (\d+) ms \(define (\d+) ms \+ build (\d+) ms\)", p.stdout)
    assert m, p.stdout
    total, define, build = map(int, m.groups())
    assert abs(total - define - build) <= 1 and define > 0


def test_draw_png_written_or_refused(tmp_path):
    bare = dict(_env(), PATH=str(tmp_path / "empty"))  # neither dot nor rsvg-convert
    os.makedirs(tmp_path / "empty")
    run = [sys.executable, "-m", "gie", "draw", "lenet", "-o"]
    p = subprocess.run(run + [str(tmp_path / "x.png")], capture_output=True, text=True, env=bare)
    assert p.returncode == 2 and "writing PNG needs" in p.stderr and not (tmp_path / "x.png").exists()
    p = cli("draw", "lenet", "-o", tmp_path / "x.pdf")
    assert p.returncode == 2 and "not .pdf" in p.stderr and not (tmp_path / "x.pdf").exists()
    fake = tmp_path / "bin" / "rsvg-convert"  # records its input, answers a PNG signature
    os.makedirs(fake.parent)
    fake.write_text(f"#!/bin/sh\n{shutil.which('cat')} > {tmp_path / 'svg_in'}\nprintf '\\211PNG\\r\\n'\n")
    fake.chmod(0o755)
    p = subprocess.run(run + [str(tmp_path / "x.png"), "--renderer", "python"], capture_output=True, text=True,
                       env=dict(_env(), PATH=f"{fake.parent}:{tmp_path / 'empty'}"))
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "x.png").read_bytes().startswith(b"\x89PNG")
    assert "<svg" in (tmp_path / "svg_in").read_text()[:300]  # gie's own layout, rasterized by the tool


def test_explain_a_model_file(model):
    p = _ok(cli("explain", model, "--device", "cpu", "--fp16"))
    assert "not an engine file; explaining the engine built from it here" in p.stdout
    assert "builder flags: FP16" in p.stdout and "loadable on this machine: yes" in p.stdout


def test_version_into_a_closed_pipe():
    r, w = os.pipe()
    os.close(r)  # the reader is gone before gie writes (`gie --version | head -0`)
    p = subprocess.run([sys.executable, "-m", "gie", "--version"], stdout=w, stderr=subprocess.PIPE, text=True,
                       env=_env())
    os.close(w)
    assert p.returncode == 0 and "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr, p.stderr


def test_usage_names_the_program_as_invoked():
    code = "import sys; sys.argv[0] = '/usr/local/bin/gie'; from gie.__main__ import main; sys.exit(main())"
    p = subprocess.run([sys.executable, "-c", code, "build"], capture_output=True, text=True, env=_env())
    assert p.returncode == 2 and p.stderr.startswith("usage: gie build"), p.stderr
    assert cli("build").stderr.startswith("usage: python -m gie build")


def test_inspect_shows_onnx_tensor_names(model):
    p = _ok(cli("inspect", model, "--device", "cpu"))
    assert re.search(r"out r \(1, 4, 8, 8\)", p.stdout) and re.search(r"out g \(1, 4, 1, 1\)", p.stdout), p.stdout


# ---- compare ---------------------------------------------------------------------------------------

def test_compare_arrays():
    e = np.array([1.0, 2.0, np.nan, np.inf, 0.0], np.float32)
    a = np.array([1.0, 2.1, np.nan, np.inf, 1e-9], np.float32)
    r = compare.compare_arrays(a, e, atol=1e-6, rtol=1e-3)
    assert r["mismatches"] == 1 and not r["passed"] and r["worst_index"] == [1]
    assert r["max_abs"] == pytest.approx(0.1, rel=1e-5) and r["max_rel"] == pytest.approx(0.05, rel=1e-4)
    # Finite pairs only: one exact, 1e-9 in the first bin (0, 1e-7), 0.1 - 1e-7 in [1e-2, 1e-1).
    assert r["histogram"] == [1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0]
    assert compare.compare_arrays(a, e, atol=0.2, rtol=0)["passed"]
    r = compare.compare_arrays(np.array([np.nan], np.float32), np.array([1.0], np.float32), 1, 1)
    assert r["mismatches"] == r["nonfinite_mismatches"] == 1
    assert not compare.compare_arrays(np.zeros(3), np.zeros(4), 1, 1)["passed"]


def test_compare_against_onnxruntime_passes(model):
    pytest.importorskip("onnxruntime")
    p = _ok(cli("compare", model, "--device", "cpu", "--batch", 2, "--atol", "1e-5", "--rtol", "1e-4"))
    assert "vs onnxruntime" in p.stdout and "[PASS] y (2, 4) float32" in p.stdout and "PASSED: 1 of 1" in p.stdout
    assert "|gie - ref| histogram" in p.stdout


def test_compare_fp16_fails_tight_and_passes_loose(model, tmp_path):
    p = cli("compare", model, "--device", "cpu", "--against", "cpu", "--fp16", "--atol", "0", "--rtol", "1e-7")
    assert p.returncode == 1 and "[FAIL] y" in p.stdout and "FAILED:" in p.stdout, p.stdout + p.stderr
    p = _ok(cli("compare", model, "--device", "cpu", "--against", "fp32", "--fp16", "--atol", "0.05", "--rtol",
                "0.05", "--json"))
    doc = json.loads(p.stdout)
    assert doc["passed"] and doc["tested"] == "gie cpu fp16" and doc["reference"] == "gie cpu fp32"
    assert 0 < doc["tensors"][0]["max_abs"] < 0.05


def test_compare_mark_all_and_inputs(model, tmp_path):
    pytest.importorskip("onnxruntime")
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    p = _ok(cli("compare", model, "--device", "cpu", "--mark-all", "--inputs", tmp_path / "x.npz", "--json",
                "--save-outputs", tmp_path / "o.npz"))
    doc = json.loads(p.stdout)
    names = [t["name"] for t in doc["tensors"]]
    assert {"y", "c", "r", "g"} <= set(names) or {"y", "r", "g"} <= set(names), names
    assert doc["passed"] and doc["batch"] == 2
    with np.load(tmp_path / "o.npz") as f:
        import onnxruntime as ort

        ref = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(["y"], {"x": x})[0]
        np.testing.assert_allclose(f["y"], ref, rtol=1e-4, atol=1e-5)


def test_compare_refuses(model, lenet):
    p = cli("compare", lenet)
    assert p.returncode == 2 and "engine file" in p.stderr
    p = cli("compare", "lenet", "--against", "onnxruntime")
    assert p.returncode == 2 and "needs an ONNX model" in p.stderr
    p = _ok(cli("compare", "lenet", "--device", "cpu", "--mark-all", "--no-histogram"))
    assert "against" not in p.stderr and "vs gie cpu fp32" in p.stdout and "histogram" not in p.stdout


# ---- debug precision -------------------------------------------------------------------------------

def test_minimal_fp32_layers_is_one_minimal():
    from gie.debug_precision import minimal_fp32_layers

    layers = list("abcdefghij")
    needed = {"c", "h"}
    found, trials = minimal_fp32_layers(layers, lambda s: needed <= set(s))
    assert found == ["c", "h"] and trials < 30
    found, _ = minimal_fp32_layers(layers, lambda s: True)
    assert found == []
    # Either of two layers fixes it: one of them, not both.
    found, _ = minimal_fp32_layers(layers, lambda s: "b" in s or "g" in s)
    assert found in (["b"], ["g"])


def _shift_onnx(path):
    """Conv + Relu, then +2048, Relu, -2048 (named layers): FP16 storage of the shifted values (spacing 2 at 2048)
    loses the small ones, so those three layers, and only they, must stay FP32."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.3, "W")
    big = numpy_helper.from_array(np.array(2048.0, np.float32), "big")
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Add", ["r", "big"], ["a"], name="add_big"),
             helper.make_node("Relu", ["a"], ["s"], name="relu_big"),
             helper.make_node("Sub", ["s", "big"], ["d"], name="sub_big"),
             helper.make_node("Relu", ["d"], ["e"], name="relu_out"),
             helper.make_node("GlobalAveragePool", ["e"], ["y"], name="pool")]
    graph = helper.make_graph(nodes, "shift", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 1, 1])], [w, big])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def test_debug_precision_finds_the_layers(tmp_path):
    model = _shift_onnx(tmp_path / "shift.onnx")
    tol = ["--atol", "1e-3", "--rtol", "1e-3", "--device", "cpu"]
    p = cli("compare", model, "--fp16", "--against", "cpu", *tol)
    assert p.returncode == 1, p.stdout  # the all-FP16 engine misses the tolerance
    saved = tmp_path / "fp32.json"
    p = _ok(cli("debug", "precision", model, "--fp16", *tol, "--save", saved))
    doc = json.loads(saved.read_text())
    assert doc["passed"] and doc["layers"] == {"add_big": "fp32", "relu_big": "fp32", "sub_big": "fp32"}, doc
    assert "layers that must stay FP32 (3 of" in p.stdout
    _ok(cli("compare", model, "--fp16", "--against", "cpu", *tol, "--layer-precisions", saved,
            "--precision-constraints", "obey"))
    # A tolerance FP16 meets as it is: nothing to pin.
    p = _ok(cli("debug", "precision", model, "--fp16", "--atol", "1", "--rtol", "1", "--device", "cpu"))
    assert "no layer needs FP32" in p.stdout
    p = cli("debug", "precision", model, *tol)
    assert p.returncode == 2 and "--fp16" in p.stderr
    # trtexec's spelling of the same pins
    _ok(cli(f"--onnx={model}", "--fp16", "--device=cpu", "--layerPrecisions=add_big:fp32,relu_big:fp32,sub_big:fp32",
            "--precisionConstraints=obey", "--iterations=1"))
    p = _ok(cli("compare", model, "--fp16", "--against", "cpu", *tol, "--precision-constraints", "obey",
                "--layer-precisions", "add_big:fp32,relu_big:fp32,sub_big:fp32"))
    bad = tmp_path / "bad.json"
    bad.write_text('{"layers": {"nope": "fp32"}}')
    p = cli("build", model, "--fp16", "--layer-precisions", bad)
    assert p.returncode == 2 and "no layer 'nope'" in p.stderr


def test_mistyped_subcommand_gets_a_suggestion():
    p = cli("biuld", "lenet")
    assert p.returncode == 2 and "did you mean build?" in p.stderr, p.stderr
    p = cli("debug", "precison", "lenet")
    assert p.returncode == 2 and "did you mean precision?" in p.stderr, p.stderr
    assert all(name in cli("--help").stdout for name in ("compare", "debug"))


@pytest.mark.gpu
def test_gpu_compare_and_device_index(model, tmp_path):
    p = _ok(cli("compare", model, "--device", "0", "--against", "cpu", "--atol", "1e-4", "--rtol", "1e-4", "--json"))
    doc = json.loads(p.stdout)
    assert doc["passed"] and doc["tested"] == "gie gpu fp32"
    p = _ok(cli("compare", model, "--device", "gpu", "--fp16", "--against", "fp32", "--mark-all", "--atol", "2e-2",
                "--rtol", "2e-2", "--json"))
    assert json.loads(p.stdout)["reference"] == "gie gpu fp32"
    x = np.random.default_rng(3).standard_normal((2, 3, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "in.npz", x=x)
    _ok(cli("run", model, "--device", "gpu:0", "--load-inputs", tmp_path / "in.npz", "--save-outputs",
            tmp_path / "out.npz", "--iterations", 2))
    with np.load(tmp_path / "out.npz") as f:
        cpu = gie.InferenceSession(model, device="cpu").run(None, {"x": x})[0]
        np.testing.assert_allclose(f["y"], cpu, rtol=1e-4, atol=1e-4)
