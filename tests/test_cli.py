"""The command line (python -m gie build / run / inspect / draw / explain), run as subprocesses."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import gie

MAGIC = b"GIEENGN\x1a"


def _env():
    env = dict(os.environ)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(gie.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([pkg_parent] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.pop("GIE_NO_PROGRESS", None)
    return env


def cli(*args, cwd=None, timeout=300):
    """Runs ``python -m gie ARGS``; returns the CompletedProcess (text)."""
    return subprocess.run([sys.executable, "-m", "gie", *map(str, args)], capture_output=True, text=True,
                          env=_env(), cwd=cwd, timeout=timeout)


def _ok(p):
    assert p.returncode == 0, f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    assert "Traceback" not in p.stderr, p.stderr
    return p


@pytest.fixture(scope="module")
def lenet_engine(tmp_path_factory):
    """A LeNet engine file built by the CLI (batch 1..4, opt 2), and the build's output."""
    d = tmp_path_factory.mktemp("cli")
    path = d / "lenet.gie"
    p = _ok(cli("build", "lenet", "--save", path, "--batch", "1,2,4", "--device", "cpu"))
    return path, p


@pytest.fixture(scope="module")
def loaded(lenet_engine):
    return gie.Runtime().load(lenet_engine[0])


def test_help_lists_subcommands():
    p = _ok(cli("--help"))
    for name in ("demo", "build", "run", "inspect", "draw", "explain"):
        assert name in p.stdout


def test_build_saves_engine_and_prints_summary(lenet_engine, loaded):
    path, p = lenet_engine
    data = path.read_bytes()
    assert data[:8] == MAGIC
    assert f"saved {path} ({len(data)} bytes)" in p.stdout
    assert "built lenet (built-in model, seeded random weights, seed 0)" in p.stdout
    li = loaded.layer_info()
    m = re.search(r"layers: (\d+) before -> (\d+) kernels after", p.stdout)
    assert m, p.stdout
    assert int(m.group(1)) == li["layers_before"] == 8
    assert int(m.group(2)) == loaded.num_kernels == li["kernels_after"]
    assert "batch 1..4 (opt 2)" in p.stdout
    assert f"arena {li['memory']['arena_bytes']} B" in p.stdout
    assert (loaded.min_batch, loaded.max_batch) == (1, 4)


@pytest.fixture(scope="module")
def fp16_engine(tmp_path_factory):
    """LeNet built by the CLI with --fp16 on the CPU (the FP16-storage reference engine), and the build's output."""
    path = tmp_path_factory.mktemp("cli_fp16") / "lenet_fp16.gie"
    p = _ok(cli("build", "lenet", "--fp16", "--device", "cpu", "--save", path))
    return path, p, gie.Runtime().load(path)


def _precision_counts(li):
    counts = {}
    for k in li["kernels"]:
        if k["type"] != "Reformat":
            counts[k["precision"]] = counts.get(k["precision"], 0) + 1
    return counts


def test_build_fp16_makes_fp16_kernels(fp16_engine, loaded):
    path, p, engine = fp16_engine
    assert "reserved" not in p.stderr and "ignores" not in p.stderr  # --fp16 is no longer a no-op on the CPU
    li = engine.layer_info()
    counts = _precision_counts(li)
    reformats = [k for k in li["kernels"] if k["type"] == "Reformat"]
    # FP16 kernels inside, FP32 I/O by default: a Reformat after the input and one before the output
    assert counts.get("float16", 0) == loaded.num_kernels and "float32" not in counts
    assert len(reformats) == 2
    assert (engine.get_tensor_dtype("data"), engine.get_tensor_dtype("prob")) == (gie.float32, gie.float32)
    assert f"precision: {counts['float16']} kernels fp16; 2 Reformats inserted" in p.stdout
    assert json.loads(gie._C.engine_summary(path.read_bytes()))["flags"] & 0b11 == 0b01


def test_build_int8_without_ranges_says_so(tmp_path):
    path = tmp_path / "flags.gie"
    p = _ok(cli("build", "lenet", "--fp16", "--int8", "--device", "cpu", "--save", path))
    assert "--int8 without --calib-data or --calib-cache" in p.stderr
    assert "reserved" not in p.stderr
    summary = json.loads(gie._C.engine_summary(path.read_bytes()))
    assert summary["flags"] & 0b11 == 0b11
    e = _ok(cli("explain", path))
    assert "builder flags: FP16, INT8" in e.stdout and "reserved" not in e.stdout


def test_build_int8_with_calibration_data_runs_int8_kernels(tmp_path):
    data = tmp_path / "calib.npz"
    np.savez(data, data=np.random.default_rng(3).random((16, 1, 28, 28), dtype=np.float32))
    path = tmp_path / "lenet8.gie"
    p = _ok(cli("build", "lenet", "--int8", "--calib-data", data, "--calib-algo", "minmax", "--device", "cpu",
                "--save", path))
    assert "--int8 without" not in p.stderr
    engine = gie.Runtime().load(str(path))
    precisions = [k.get("precision") for k in engine.layer_info()["kernels"]]
    assert "int8" in precisions, precisions


def test_explain_prints_precisions_used(fp16_engine, lenet_engine):
    path, _, engine = fp16_engine
    counts = _precision_counts(engine.layer_info())
    out = _ok(cli("explain", path)).stdout
    assert "builder flags: FP16\n" in out
    assert f"precision: {counts['float16']} kernels fp16; 2 Reformats inserted" in out
    assert "I/O: input data fp32 linear, output prob fp32 linear" in out
    assert "Reformat v1 (cpu)        x2   registered here" in out
    fp32 = _ok(cli("explain", lenet_engine[0])).stdout
    assert re.search(r"precision: \d+ kernels fp32; no Reformat", fp32)


def test_build_io_formats_and_constraints(tmp_path):
    path = tmp_path / "io.gie"
    p = _ok(cli("build", "lenet", "--fp16", "--device", "cpu", "--precision-constraints", "prefer",
                "--input-format", "fp16:hwc8", "--output-format", "fp16:linear", "--save", path))
    assert "inputs: data (1, 1, 28, 28) float16 hwc8; outputs: prob (1, 10) float16" in p.stdout
    # lenet pins no layer's precision: the flag is recorded, and the CLI says it changes nothing
    assert "--precision-constraints prefer: no layer of lenet pins a precision" in p.stderr
    engine = gie.Runtime().load(path)
    assert engine.get_tensor_dtype("data") == gie.float16 and engine.get_tensor_format("data") == gie.TensorFormat.HWC8
    assert engine.get_tensor_dtype("prob") == gie.float16 and engine.get_tensor_format("prob") == gie.TensorFormat.LINEAR
    li = engine.layer_info()
    reformats = [k for k in li["kernels"] if k["type"] == "Reformat"]
    # the declared FP16 HWC8 input is converted once for the LINEAR kernels; the output needs no conversion
    assert [(k["inputs"][0]["name"], k["inputs"][0]["format"], k["outputs"][0]["format"]) for k in reformats] == \
        [("data", "hwc8", "linear")]
    flags = json.loads(gie._C.engine_summary(path.read_bytes()))["flags"]
    assert flags & (1 << 5) and not flags & (1 << 4)
    e = _ok(cli("explain", path)).stdout
    assert "builder flags: FP16, PREFER_PRECISION_CONSTRAINTS" in e
    assert "I/O: input data fp16 hwc8, output prob fp16 linear" in e
    r = _ok(cli("run", path, "--iterations", "2", "--warmup", "0"))  # random FP16 inputs in, FP16 out
    assert "latency (ms)" in r.stdout and "non-finite" not in r.stderr


def test_input_format_alone_keeps_the_outputs_fp32(tmp_path):
    """Declaring the input FP16 must not make the (undeclared) output FP16: outputs stay FP32 by default."""
    path = tmp_path / "in16.gie"
    p = _ok(cli("build", "lenet", "--fp16", "--device", "cpu", "--input-format", "fp16:nhwc",
                "--precision-constraints", "obey", "--save", path))
    assert "outputs: prob (1, 10) float32" in p.stdout
    engine = gie.Runtime().load(path)
    assert engine.get_tensor_format("data") == gie.TensorFormat.NHWC and engine.get_tensor_dtype("data") == gie.float16
    assert engine.get_tensor_dtype("prob") == gie.float32
    assert json.loads(gie._C.engine_summary(path.read_bytes()))["flags"] & (1 << 4)
    # without --fp16 an FP16 input is converted to FP32 once, and everything else runs in FP32
    q = _ok(cli("inspect", "lenet", "--device", "cpu", "--input-format", "fp32:hwc8"))
    assert "inputs: data (1, 1, 28, 28) float32 hwc8; outputs: prob (1, 10) float32" in q.stdout
    assert "reformats inserted (1" in q.stdout and "data fp32 hwc8 -> fp32 linear" in q.stdout


@pytest.mark.parametrize("option,spec,words", [
    ("--input-format", "fp16", "wants TYPE:FORMAT, e.g. fp16:hwc8; TYPE is one of"),
    ("--input-format", "fp8:hwc8", "TYPE is one of fp32"),
    ("--input-format", "fp16:chw16", "FORMAT one of linear"),
    ("--output-format", "int8:chw4", "chw4 is an internal INT8 layout"),
    ("--output-format", "int32:linear", "int32 cannot be set"),
    ("--input-format", "fp16:hwc8,fp32:linear", "2 specs for 1 network input (data); give one for all"),
    ("--output-format", "fp16:hwc8", "'fp16:hwc8': tensor 'prob' has 2 dimensions; NHWC and HWC8 need 4"),
])
def test_bad_io_format_is_a_usage_error(option, spec, words):
    p = cli("build", "lenet", "--device", "cpu", option, spec)
    assert p.returncode == 2, p.stdout + p.stderr
    assert p.stderr.startswith(f"error: {option}") and "Traceback" not in p.stderr
    assert words in p.stderr, p.stderr


def test_build_options_on_an_engine_file_warn(lenet_engine):
    p = _ok(cli("inspect", lenet_engine[0], "--fp16", "--input-format", "fp16:hwc8"))
    assert "--fp16, --input-format apply when MODEL is built here" in p.stderr and "ignored" in p.stderr


def test_inspect_fp16_engine_shows_precisions_and_reformats(fp16_engine):
    path, _, engine = fp16_engine
    out = _ok(cli("inspect", path)).stdout
    li = engine.layer_info()
    for i, k in enumerate(li["kernels"]):
        ins = ", ".join(f"{t['dtype'].replace('float', 'fp')} {t['format']}" for t in k["inputs"])
        outs = ", ".join(f"{t['dtype'].replace('float', 'fp')} {t['format']}" for t in k["outputs"])
        assert f"[{i}] {k['name']}  {k['type']} v1 (cpu)  fp16: {ins} -> {outs}" in out, k["name"]
    reformats = [(i, k) for i, k in enumerate(li["kernels"]) if k["type"] == "Reformat"]
    assert f"reformats inserted ({len(reformats)}" in out
    for i, k in reformats:
        ms = re.search(r", ([\d.]+) ms$", k["notes"][0]).group(1)
        assert re.search(rf"^  \[{i}\] {re.escape(k['name'])}: .* fp\d+ linear -> fp\d+ linear, {ms} ms; ", out, re.M)
        assert f"    {k['notes'][0]}" in out  # the kernel's own "inserted: ..." line
    assert "network input data -> conv1" in out and "prob -> network output prob" in out


def test_draw_fp16_engine_has_reformat_nodes(fp16_engine):
    path, _, engine = fp16_engine
    names = [k["name"] for k in engine.layer_info()["kernels"] if k["type"] == "Reformat"]
    for view in ("--after", "--both"):
        dot = _ok(cli("draw", path, view, "--format", "dot")).stdout
        nodes = [line for line in dot.splitlines() if "<b>Reformat</b>" in line]
        assert len(nodes) == len(names) == 2, view
        for name in names:
            assert any(name in line and "dashed" in line for line in nodes), (view, name)
        assert "fp32 linear → fp16 linear" in dot and "fp16: out fp16 linear" in dot


def test_build_without_save_writes_nothing(tmp_path):
    p = _ok(cli("build", "lenet", "--batch", "3", cwd=tmp_path))
    assert "batch 1..3 (opt 3)" in p.stdout
    assert "saved" not in p.stdout
    assert list(tmp_path.iterdir()) == []


def test_unknown_model_is_a_usage_error():
    p = cli("build", "alexnet")
    assert p.returncode == 2
    assert "unknown model 'alexnet'" in p.stderr and "lenet" in p.stderr
    assert "Traceback" not in p.stderr
    for cmd in ("run", "inspect", "draw"):
        q = cli(cmd, "no-such-model")
        assert q.returncode == 2 and "unknown model" in q.stderr, (cmd, q.stderr)


def test_bad_batch_option_is_a_usage_error():
    p = cli("build", "lenet", "--batch", "4,2,8")
    assert p.returncode == 2 and "MIN <= OPT <= MAX" in p.stderr


def test_unreadable_model_file_fails_cleanly(tmp_path):
    bad = tmp_path / "model.xyz"
    bad.write_text("not a model")
    p = cli("build", bad)
    assert p.returncode == 1
    assert p.stderr.startswith("error: ") and "Traceback" not in p.stderr


def _latencies(stdout):
    m = re.search(r"latency \(ms\): min ([\d.]+)\s+median ([\d.]+)\s+p90 ([\d.]+)\s+p99 ([\d.]+)\s+max ([\d.]+)",
                  stdout)
    assert m, stdout
    return [float(v) for v in m.groups()]


def test_run_engine_file_latency_and_export(lenet_engine, loaded, tmp_path):
    out = tmp_path / "times.json"
    p = _ok(cli("run", lenet_engine[0], "--batch", "2", "--iterations", "12", "--warmup", "2",
                "--export-times", out))
    lat = _latencies(p.stdout)
    assert lat[0] > 0
    assert lat == sorted(lat), lat  # min <= median <= p90 <= p99 <= max
    assert "batch 2: 12 iterations after 2 warm-up" in p.stdout
    m = re.search(r"throughput: ([\d.]+) images/s", p.stdout)
    assert m and float(m.group(1)) == pytest.approx(2 / lat[1] * 1e3, rel=0.01)
    assert p.stderr == ""  # no progress bar when stderr is not a terminal

    doc = json.loads(out.read_text())
    assert doc["batch"] == 2 and doc["iterations"] == 12 and doc["warmup"] == 2
    assert len(doc["latency_ms"]) == 12 and all(t > 0 for t in doc["latency_ms"])
    s = doc["latency_stats_ms"]
    assert s["min"] <= s["median"] <= s["p90"] <= s["p99"] <= s["max"]
    assert s["min"] == pytest.approx(min(doc["latency_ms"])) and s["max"] == pytest.approx(max(doc["latency_ms"]))
    names = [k["name"] for k in loaded.layer_info()["kernels"]]
    assert sorted(k["name"] for k in doc["kernels"]) == sorted(names)
    assert sum(k["percent"] for k in doc["kernels"]) == pytest.approx(100.0, abs=0.01)
    for k in doc["kernels"]:
        assert k["calls"] == 12 and len(k["per_iteration_ms"]) == 12
        assert k["total_ms"] == pytest.approx(sum(k["per_iteration_ms"]))
    totals = [k["total_ms"] for k in doc["kernels"]]
    assert totals == sorted(totals, reverse=True)


def test_run_profile_table(lenet_engine, loaded):
    p = _ok(cli("run", lenet_engine[0], "--iterations", "5", "--warmup", "1", "--profile"))
    assert "per-kernel times" in p.stdout
    table = p.stdout.split("per-kernel times", 1)[1]
    for k in loaded.layer_info()["kernels"]:
        assert re.search(rf"^\s+{re.escape(k['name'])}\s+{k['type']}\s+[\d.]+\s+[\d.]+\s+[\d.]+\s", table, re.M), k["name"]
    assert re.search(r"^\s+total\s+[\d.]+\s+100\.00\s", table, re.M)
    # default batch: the engine's opt batch (2)
    assert "batch 2:" in p.stdout


def test_run_builtin_model_and_batch_range(lenet_engine):
    p = _ok(cli("run", "lenet", "--batch", "3", "--iterations", "3", "--warmup", "0"))
    assert "lenet (built-in model)" in p.stdout and "batch range 1..3" in p.stdout
    assert _latencies(p.stdout)[0] > 0
    q = cli("run", lenet_engine[0], "--batch", "9")
    assert q.returncode == 2 and "outside the engine's batch range 1..4" in q.stderr


def test_inspect_report(lenet_engine, loaded):
    p = _ok(cli("inspect", lenet_engine[0]))
    li = loaded.layer_info()
    out = p.stdout
    assert f"layers before -> kernels after: {li['layers_before']} -> {loaded.num_kernels}" in out
    assert f"kernels ({loaded.num_kernels}):" in out
    for i, k in enumerate(li["kernels"]):
        assert f"[{i}] {k['name']}  {k['type']}" in out
        assert "covers: " + " + ".join(k["source_layers"]) in out
    assert "covers: ip1 + relu1" in out
    assert "applied: fuse_epilogue: fused activation 'relu1'" in out
    mem = li["memory"]
    assert re.search(rf"activation arena\s+{mem['arena_bytes']} B", out)
    assert re.search(rf"without reuse\s+{mem['no_reuse_bytes']} B", out)
    assert re.search(rf"lower bound\s+{mem['lower_bound_bytes']} B", out)
    assert "arena +" in out and "network input" in out
    assert "pass log (" in out and "fuse_epilogue: fused activation 'relu1' into 'ip1'" in out


def test_inspect_json_is_layer_info(lenet_engine, loaded):
    p = _ok(cli("inspect", lenet_engine[0], "--json"))
    assert json.loads(p.stdout) == loaded.layer_info()


def test_draw_engine_file(lenet_engine, tmp_path):
    import xml.etree.ElementTree as ET

    svg = tmp_path / "lenet.svg"
    p = _ok(cli("draw", lenet_engine[0], "-o", svg, "--both", "--renderer", "python"))
    assert f"wrote {svg}" in p.stdout
    root = ET.fromstring(svg.read_text())
    text = " ".join(t for t in root.itertext())
    for name in ("conv1", "pool1", "conv2", "pool2", "ip1", "relu1", "ip2", "prob", "kernel ip1"):
        assert name in text
    dot = tmp_path / "lenet.dot"
    _ok(cli("draw", lenet_engine[0], "-o", dot, "--after"))  # format from the extension
    assert dot.read_text().startswith("digraph gie {")
    q = _ok(cli("draw", "lenet", "--before", "--format", "dot"))  # to stdout
    assert q.stdout.startswith("digraph gie {") and "relu1" in q.stdout


def test_explain_loadable(lenet_engine):
    p = _ok(cli("explain", lenet_engine[0]))
    out = p.stdout
    fmt = int.from_bytes(lenet_engine[0].read_bytes()[8:12], "little")  # the file's format version (engine_file.cpp)
    assert fmt >= 5 and f"format version {fmt}, written by gie {gie.__version__}" in out
    assert "device: CPU" in out
    assert "batch range: 1..4 (optimized for 2)" in out
    assert "builder flags: none" in out
    assert re.search(r"precision: 7 kernels fp32; no Reformat", out)
    assert re.search(r"kernels needed: 7 kernels of 4 types", out)
    assert "Convolution v1 (cpu)" in out and "registered here" in out
    assert "loadable on this machine: yes" in out
    j = _ok(cli("explain", lenet_engine[0], "--json"))
    assert json.loads(j.stdout)["loadable"] is True


@pytest.mark.parametrize("damage,words", [
    ("truncate", "truncated"),
    ("flip_body", "checksum"),
    ("flip_header", "checksum"),
    ("magic", "not a gie engine file"),
    ("empty", ""),
])
def test_explain_damaged_file_says_why(lenet_engine, tmp_path, damage, words):
    data = bytearray(lenet_engine[0].read_bytes())
    if damage == "truncate":
        data = data[:len(data) // 2]
    elif damage == "flip_body":
        data[len(data) // 2] ^= 0xFF
    elif damage == "flip_header":
        data[13] ^= 0x01
    elif damage == "magic":
        data[:8] = b"NOTANENG"
    else:
        data = bytearray()
    bad = tmp_path / f"{damage}.gie"
    bad.write_bytes(bytes(data))
    p = cli("explain", bad)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "Traceback" not in p.stderr
    m = re.search(r"loadable on this machine: NO: (.+)", p.stdout)
    assert m and m.group(1).strip(), p.stdout
    assert "precision: unknown without loading the engine" in p.stdout
    assert words in m.group(1)
    # and the commands that load it fail cleanly too
    q = cli("inspect", bad)
    assert q.returncode == 1 and q.stderr.startswith("error: ") and "Traceback" not in q.stderr


def test_explain_missing_file():
    p = cli("explain", "no/such/engine.gie")
    assert p.returncode == 2 and "does not exist" in p.stderr
