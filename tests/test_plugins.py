"""User plugins: libraries compiled at test time against the installed headers, loaded with gie.load_library,
used by type name (add_plugin) and as instances (the native addPluginLayer program), serialized into engines.

Plugin sources: samples/plugin/leaky_clip_plugin.cpp (the sample) and tests/plugins/*.cpp. Every test that
needs a compiler is skipped when there is none (set CXX to pick one).
"""
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gie
from util import assert_close

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
LEAKY_CLIP_SRC = os.path.join(REPO, "samples", "plugin", "leaky_clip_plugin.cpp")
TEST_KERNELS_SRC = os.path.join(HERE, "plugins", "test_kernels.cpp")
APP_SRC = os.path.join(HERE, "plugins", "plugin_layer_app.cpp")
CUSTOM_PLUGIN_SAMPLE = os.path.join(REPO, "samples", "python", "custom_plugin.py")


def _find_compiler():
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


CXX = _find_compiler()
needs_cxx = pytest.mark.skipif(CXX is None, reason="no C++ compiler (c++/g++/clang++) on PATH")


def _compile_cmd(src, out, executable=False):
    lib = gie.library_dir()
    kind = ["-pthread"] if executable else ["-shared", "-fPIC"]
    return [CXX, "-std=c++17", "-O2", *kind, f"-I{gie.include_dir()}", src, f"-L{lib}", "-lgie",
            f"-Wl,-rpath,{lib}", "-o", str(out)]


def _compile_all(jobs):
    """jobs: [(src, out, executable)]; compiles them in parallel, fails the test with the compiler output."""
    procs = [(src, subprocess.Popen(_compile_cmd(src, out, exe), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True)) for src, out, exe in jobs]
    errors = []
    for src, p in procs:
        log, _ = p.communicate()
        if p.returncode != 0:
            errors.append(f"compiling {src} failed:\n{log}")
    assert not errors, "\n".join(errors)
    return [str(out) for _, out, _ in jobs]


@pytest.fixture(scope="session")
def libs(tmp_path_factory):
    """Compiles and loads the plugin libraries once per session: {"leaky_clip": path, "test_kernels": path}."""
    if CXX is None:
        pytest.skip("no C++ compiler")
    d = tmp_path_factory.mktemp("plugins")
    leaky, kernels = _compile_all([(LEAKY_CLIP_SRC, d / "libleaky_clip.so", False),
                                   (TEST_KERNELS_SRC, d / "libtest_kernels.so", False)])
    gie.load_library(leaky)
    gie.load_library(kernels)
    return {"leaky_clip": leaky, "test_kernels": kernels}


def leaky_clip_ref(x, lo, hi, slope):
    x = x.astype(np.float32)
    lo, hi, slope = np.float32(lo), np.float32(hi), np.float32(slope)
    return np.where(x < lo, lo + slope * (x - lo), np.where(x > hi, hi + slope * (x - hi), x)).astype(np.float32)


def build(define, inputs, max_batch=None, configure=None):
    """define(net, {name: tensor}) -> {output name: tensor}; returns the CPU engine (``configure(config)`` last)."""
    builder = gie.Builder()
    net = builder.create_network()
    tensors = {name: net.add_input(name, {np.dtype(np.float32): gie.float32, np.dtype(np.float16): gie.float16}[a.dtype],
                                   a.shape) for name, a in inputs.items()}
    for name, t in define(net, tensors).items():
        net.mark_output(t, name)
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = max_batch or max(a.shape[0] for a in inputs.values())
    if configure is not None:
        configure(config)
    return builder.build(net, config)


def leaky_clip_net(net, t, lo=-1.0, hi=0.5, slope=0.1):
    layer = net.add_plugin("LeakyClip", [t["x"]], {"lo": lo, "hi": hi, "slope": slope})
    layer.name = "clip"
    return {"y": layer.output(0)}


# ---- the registry --------------------------------------------------------------------------------------

def test_builtin_kernels_share_the_registry():
    reg = gie.registered_plugins()
    for name in ("Convolution", "Pooling", "FullyConnected", "Activation", "Softmax"):
        assert (name, "1", "cpu") in reg, f"built-in {name} missing from {reg}"


def test_load_nonexistent_library_reports_dlerror(tmp_path):
    missing = tmp_path / "libdoes_not_exist.so"
    with pytest.raises(gie.Error) as e:
        gie.load_library(missing)
    assert "libdoes_not_exist.so" in str(e.value)
    assert "No such file or directory" in str(e.value)  # dlerror's text


def test_load_non_library_file_reports_dlerror(tmp_path):
    bogus = tmp_path / "libbogus.so"
    bogus.write_text("not an ELF file\n" * 10)
    with pytest.raises(gie.Error) as e:
        gie.load_library(bogus)
    assert "libbogus.so" in str(e.value) and ("ELF" in str(e.value) or "too short" in str(e.value))


def test_loaded_plugins_are_registered(libs):
    reg = gie.registered_plugins()
    for name in ("LeakyClip", "SplitHalf", "ArgMaxChannel", "TwoTactics", "HalfOnly", "AlwaysFails", "FloatLinearOnly", "ChannelScale"):
        assert (name, "1", "cpu") in reg
    gie.load_library(libs["leaky_clip"])  # loading the same file again is a no-op
    assert gie.registered_plugins().count(("LeakyClip", "1", "cpu")) == 1


@needs_cxx
def test_duplicate_creator_is_refused(libs, tmp_path, rng):
    (copy,) = _compile_all([(LEAKY_CLIP_SRC, tmp_path / "libleaky_clip_copy.so", False)])
    with pytest.raises(gie.Error) as e:
        gie.load_library(copy)
    msg = str(e.value)
    assert "LeakyClip" in msg and "already registered" in msg and "libleaky_clip_copy.so" in msg
    assert gie.registered_plugins().count(("LeakyClip", "1", "cpu")) == 1
    # The registry still works: the first creator stays in use.
    x = rng.standard_normal((2, 3, 4)).astype(np.float32) * 2
    y = build(leaky_clip_net, {"x": x}).create_execution_context().execute({"x": x})["y"]
    assert_close(y, leaky_clip_ref(x, -1.0, 0.5, 0.1))


# ---- plugin ABI version (gie_plugin_abi_version, exported by every library that includes gie/plugin.h) ----

def _compile_library(out, sources, extra=()):
    lib = gie.library_dir()
    cmd = [CXX, "-std=c++17", "-O2", "-shared", "-fPIC", f"-I{gie.include_dir()}", *map(str, sources), f"-L{lib}", "-lgie",
           f"-Wl,-rpath,{lib}", *extra, "-o", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return str(out)


@needs_cxx
def test_library_of_another_plugin_abi_is_refused_naming_both_versions(libs, tmp_path):
    # A second file defines the version function strongly: the header's weak one gives way, as in a library built
    # against a gie whose plugin interface differs.
    other = tmp_path / "abi999.cpp"
    other.write_text('#include <cstdint>\nextern "C" int32_t gie_plugin_abi_version() noexcept { return 999; }\n'
                     'extern "C" int32_t gie_plugin_gie_version() noexcept { return 90807; }\n')
    lib = _compile_library(tmp_path / "libleaky_abi999.so", [LEAKY_CLIP_SRC, other])
    with pytest.raises(gie.VersionMismatchError) as e:
        gie.load_library(lib)
    msg = str(e.value)
    assert "libleaky_abi999.so" in msg and "plugin ABI version 999" in msg and "gie 9.8.7" in msg, msg
    assert f"plugin ABI version {gie.plugin_abi_version()}" in msg and f"gie {gie.__version__}" in msg, msg
    # Its creators were never registered: not even refused as duplicates of the LeakyClip already loaded.
    assert "already registered" not in msg
    assert gie.registered_plugins().count(("LeakyClip", "1", "cpu")) == 1
    with pytest.raises(gie.VersionMismatchError):  # and it stays refused
        gie.load_library(lib)


@needs_cxx
def test_library_without_abi_version_is_refused(libs, tmp_path):
    """A library built before the check (simulated by hiding the exported symbols) is refused, not guessed at."""
    script = tmp_path / "hide.map"
    script.write_text("{ global: *; local: gie_plugin_abi_version; gie_plugin_gie_version; };\n")
    lib = _compile_library(tmp_path / "libleaky_noabi.so", [LEAKY_CLIP_SRC], [f"-Wl,--version-script={script}"])
    with pytest.raises(gie.VersionMismatchError) as e:
        gie.load_library(lib)
    msg = str(e.value)
    assert "libleaky_noabi.so" in msg and "exports no plugin ABI version" in msg and "Rebuild" in msg, msg


# ---- LeakyClip by type name ----------------------------------------------------------------------------

def test_leaky_clip_matches_numpy(libs, rng):
    x = (rng.standard_normal((3, 4, 5, 6)) * 3).astype(np.float32)
    engine = build(lambda net, t: leaky_clip_net(net, t, lo=-1.0, hi=0.5, slope=0.1), {"x": x})
    ctx = engine.create_execution_context()
    assert_close(ctx.execute({"x": x})["y"], leaky_clip_ref(x, -1.0, 0.5, 0.1))
    assert_close(ctx.execute({"x": x[:1]})["y"], leaky_clip_ref(x[:1], -1.0, 0.5, 0.1))  # smaller batch
    kernels = engine.layer_info()["kernels"]
    assert [k["type"] for k in kernels] == ["LeakyClip"]


def test_plugin_fields_are_layer_attributes(libs):
    net = gie.Builder().create_network()
    x = net.add_input("x", gie.float32, (1, 4))
    layer = net.add_plugin("LeakyClip", [x], {"lo": -2.0, "hi": 3.0})
    assert layer.type == "LeakyClip"
    assert layer.lo == -2.0 and layer.hi == 3.0 and layer.slope is None  # unset: the plugin's default
    layer.slope = 0.5
    assert layer.slope == 0.5
    with pytest.raises(gie.Error, match="'hi'"):
        layer.hi = -5.0  # lo > hi: the creator rejects it, the layer keeps its old value
    assert layer.hi == 3.0


def test_create_plugin_rejects_bad_fields(libs):
    net = gie.Builder().create_network()
    x = net.add_input("x", gie.float32, (1, 4))
    with pytest.raises(gie.InvalidArgumentError) as e:
        net.add_plugin("LeakyClip", [x], {"lo": 1.0, "hi": -1.0})
    assert "'lo'" in str(e.value) and "'hi'" in str(e.value)
    with pytest.raises(gie.InvalidArgumentError, match="unknown field 'gain'"):
        net.add_plugin("LeakyClip", [x], {"gain": 2.0})
    with pytest.raises(gie.InvalidArgumentError, match="'slope'"):
        net.add_plugin("LeakyClip", [x], {"slope": "steep"})
    with pytest.raises(gie.InvalidArgumentError, match="'slope'"):
        net.add_plugin("LeakyClip", [x], {"slope": [0.1, 0.2]})
    with pytest.raises(gie.InvalidArgumentError, match="unknown field 'axis'"):
        net.add_plugin("SplitHalf", [x], {"axis": 1})
    assert net.num_layers == 0  # nothing half-added


def test_unknown_plugin_type_names_the_type():
    net = gie.Builder().create_network()
    x = net.add_input("x", gie.float32, (1, 4))
    with pytest.raises(gie.UnsupportedError, match="NoSuchPlugin"):
        net.add_plugin("NoSuchPlugin", [x])


# ---- engine files --------------------------------------------------------------------------------------

def test_engine_round_trip_in_the_same_process(libs, rng, tmp_path):
    x = (rng.standard_normal((2, 8)) * 2).astype(np.float32)
    engine = build(leaky_clip_net, {"x": x})
    expected = engine.create_execution_context().execute({"x": x})["y"]
    again = gie.Runtime().deserialize(engine.serialize())
    np.testing.assert_array_equal(again.create_execution_context().execute({"x": x})["y"], expected)
    path = tmp_path / "clip.gie"
    engine.save(path)
    loaded = gie.Runtime().load(path)
    np.testing.assert_array_equal(loaded.create_execution_context().execute({"x": x})["y"], expected)


def test_tampered_fields_are_refused_by_the_helpers(libs, rng):
    """LeakyClip's fields (gie/plugin_helpers.h layout: magic, layout version, lo, hi, slope) edited inside an engine file
    whose checksums were recomputed: Params::validate runs on deserialized fields too, and a wrong layout is refused."""
    import struct
    from engine_layout import fix_crcs

    x = rng.standard_normal((2, 8)).astype(np.float32)
    data = build(leaky_clip_net, {"x": x}).serialize()
    fields = struct.pack("<II3f", 0x31504C47, 1, -1.0, 0.5, 0.1)
    at = data.find(fields)
    assert at > 0 and data.find(fields, at + 1) < 0
    lo_above_hi = fix_crcs(data[:at] + struct.pack("<II3f", 0x31504C47, 1, 2.0, 0.5, 0.1) + data[at + len(fields):])
    with pytest.raises(gie.InvalidEngineError, match=r"LeakyClip kernel 'clip'.*field 'lo' \(2\) must be <= field 'hi' \(0\.5\)"):
        gie.Runtime().deserialize(lo_above_hi)
    other_layout = fix_crcs(data[:at] + struct.pack("<II3f", 0x31504C47, 7, -1.0, 0.5, 0.1) + data[at + len(fields):])
    with pytest.raises(gie.Error, match="layout version 1 of gie/plugin_helpers.h"):
        gie.Runtime().deserialize(other_layout)
    np.testing.assert_array_equal(gie.Runtime().deserialize(data).create_execution_context().execute({"x": x})["y"],
                                  leaky_clip_ref(x, -1.0, 0.5, 0.1))


_SUBPROCESS = textwrap.dedent("""
    import sys
    import numpy as np
    import gie
    engine_path, x_path, y_path, lib = sys.argv[1:5]
    if lib:
        gie.load_library(lib)
    try:
        engine = gie.Runtime().load(engine_path)
    except gie.UnsupportedError as e:
        print("UNSUPPORTED:", e)
        sys.exit(3)
    x = np.load(x_path)
    np.save(y_path, engine.create_execution_context().execute({"x": x})["y"])
    print("OK")
""")


def fresh_env():
    """The environment of a fresh interpreter that imports this gie."""
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(gie.__file__)))
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (pkg_root, os.environ.get("PYTHONPATH")) if p))


def _run_fresh(args, prelude=""):
    """Runs _SUBPROCESS (after the Python code ``prelude``) in a fresh interpreter with this gie."""
    return subprocess.run([sys.executable, "-c", prelude + _SUBPROCESS, *map(str, args)], capture_output=True, text=True,
                          env=fresh_env(), timeout=300)


def test_engine_in_a_fresh_process_needs_the_library(libs, rng, tmp_path):
    x = (rng.standard_normal((2, 3, 5)) * 2).astype(np.float32)
    engine = build(leaky_clip_net, {"x": x})
    expected = engine.create_execution_context().execute({"x": x})["y"]
    engine.save(tmp_path / "clip.gie")
    np.save(tmp_path / "x.npy", x)

    r = _run_fresh([tmp_path / "clip.gie", tmp_path / "x.npy", tmp_path / "y.npy", ""])
    assert r.returncode == 3, f"expected UnsupportedError, got rc {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert "LeakyClip" in r.stdout and "load_library" in r.stdout
    # The engine recorded which library its LeakyClip came from: the message names it.
    assert os.path.realpath(libs["leaky_clip"]) in r.stdout, r.stdout
    # So does `gie explain` in a process without the library (the same hint, from the file's kernel list).
    r = subprocess.run([sys.executable, "-m", "gie", "explain", str(tmp_path / "clip.gie")], capture_output=True, text=True,
                       env=fresh_env(), timeout=300)
    assert r.returncode == 1 and os.path.realpath(libs["leaky_clip"]) in r.stdout + r.stderr, r.stdout + r.stderr

    r = _run_fresh([tmp_path / "clip.gie", tmp_path / "x.npy", tmp_path / "y.npy", libs["leaky_clip"]])
    assert r.returncode == 0, f"rc {r.returncode}\n{r.stdout}\n{r.stderr}"
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)


# ---- plugin behaviours ---------------------------------------------------------------------------------

def test_enqueue_failure_raises_and_process_survives(libs, rng):
    def define(net, t):
        layer = net.add_plugin("AlwaysFails", [t["x"]])
        layer.name = "boom"
        return {"y": layer.output(0)}

    x = rng.standard_normal((1, 4)).astype(np.float32)
    ctx = build(define, {"x": x}).create_execution_context()
    for _ in range(2):  # the context stays usable (and keeps failing cleanly)
        with pytest.raises(gie.Error) as e:
            ctx.execute({"x": x})
        assert "'boom'" in str(e.value) and "AlwaysFails" in str(e.value)
        assert "deliberate failure in enqueue" in str(e.value)  # the plugin's own setLastError message
    y = build(leaky_clip_net, {"x": x}).create_execution_context().execute({"x": x})["y"]
    assert_close(y, leaky_clip_ref(x, -1.0, 0.5, 0.1))


def test_multi_output_plugin_feeds_other_layers(libs, rng):
    def define(net, t):
        split = net.add_plugin("SplitHalf", [t["x"]])
        assert split.num_outputs == 2
        a, b = split.output(0), split.output(1)
        assert a.shape == (2, 3, 5) and b.shape == (2, 3, 5)
        relu = net.add_activation(a, gie.ActivationType.RELU)
        clip = net.add_plugin("LeakyClip", [b], {"lo": -0.5, "hi": 0.5, "slope": 0.0})
        return {"a": a, "relu_a": relu.output(0), "clip_b": clip.output(0)}

    x = rng.standard_normal((2, 6, 5)).astype(np.float32)
    out = build(define, {"x": x}).create_execution_context().execute({"x": x})
    np.testing.assert_array_equal(out["a"], x[:, :3])
    np.testing.assert_array_equal(out["relu_a"], np.maximum(x[:, :3], 0))
    assert_close(out["clip_b"], leaky_clip_ref(x[:, 3:], -0.5, 0.5, 0.0))


def test_plugin_with_int32_output(libs, rng):
    def define(net, t):
        layer = net.add_plugin("ArgMaxChannel", [t["x"]])
        assert layer.output(0).dtype == gie.int32
        return {"idx": layer.output(0)}

    x = rng.standard_normal((3, 7, 2, 4)).astype(np.float32)
    engine = build(define, {"x": x})
    assert engine.get_tensor_dtype("idx") == gie.int32
    idx = engine.create_execution_context().execute({"x": x})["idx"]
    assert idx.dtype == np.int32 and idx.shape == (3, 2, 4)
    np.testing.assert_array_equal(idx, np.argmax(x, axis=1))


def test_builder_picks_the_faster_tactic(libs, rng, tmp_path):
    def define(net, t):
        layer = net.add_plugin("TwoTactics", [t["x"]])
        layer.name = "twice"
        return {"y": layer.output(0)}

    x = rng.standard_normal((2, 16)).astype(np.float32)
    engine = build(define, {"x": x})
    (k,) = [k for k in engine.layer_info()["kernels"] if k["type"] == "TwoTactics"]
    times = {t["tactic"]: t["ms"] for t in k["tactic_times_ms"]}
    assert set(times) == {"slow", "fast"}
    assert times["slow"] > times["fast"] and times["slow"] >= 2.0  # "slow" sleeps 3 ms per call
    assert k["tactic"] == "fast"
    # The choice travels with the engine file.
    engine.save(tmp_path / "t.gie")
    loaded = gie.Runtime().load(tmp_path / "t.gie")
    (k2,) = [k for k in loaded.layer_info()["kernels"] if k["type"] == "TwoTactics"]
    assert k2["tactic"] == "fast"
    np.testing.assert_array_equal(loaded.create_execution_context().execute({"x": x})["y"], 2 * x)


def test_unsupported_input_type_fails_the_build(libs, rng):
    def define(net, t):
        layer = net.add_plugin("HalfOnly", [t["x"]])
        layer.name = "negate"
        return {"y": layer.output(0)}

    x32 = rng.standard_normal((2, 5)).astype(np.float32)
    with pytest.raises(gie.UnsupportedError) as e:
        build(define, {"x": x32})
    msg = str(e.value)
    assert "'negate'" in msg and "HalfOnly" in msg and "float32" in msg
    # The type it does support builds and runs.
    x16 = x32.astype(np.float16)
    y = build(define, {"x": x16}).create_execution_context().execute({"x": x16})["y"]
    assert y.dtype == np.float16
    np.testing.assert_array_equal(y, -x16)


# ---- precision and format negotiation around plugins (issue 12) -----------------------------------------

def _kernels(engine):
    return [(k["type"], k["precision"], k["format"]) for k in engine.layer_info()["kernels"]]


def test_fp32_plugin_in_fp16_network_gets_a_reformat_on_each_side(libs, rng):
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)

    def define(net, t):
        a = net.add_activation(t["x"], gie.ActivationType.SIGMOID).output(0)
        b = net.add_plugin("FloatLinearOnly", [a]).output(0)
        return {"y": net.add_activation(b, gie.ActivationType.TANH).output(0)}

    engine = build(define, {"x": x}, configure=lambda c: setattr(c, "fp16", True))
    kinds = _kernels(engine)
    assert kinds == [("Reformat", "float16", "linear"), ("Activation", "float16", "linear"), ("Reformat", "float16", "linear"),
                     ("FloatLinearOnly", "float32", "linear"), ("Reformat", "float16", "linear"), ("Activation", "float16", "linear"),
                     ("Reformat", "float16", "linear")], kinds
    # FP16 storage between the steps: sigmoid rounded to half, +1 in FP32, rounded again, tanh, rounded.
    h = lambda v: v.astype(np.float16).astype(np.float32)
    s = h(1 / (1 + np.exp(-h(x).astype(np.float64)))).astype(np.float32)
    ref = h(np.tanh(h(s + 1).astype(np.float64)).astype(np.float32))
    y = engine.create_execution_context().execute({"x": x})["y"]
    np.testing.assert_allclose(y, ref, rtol=0, atol=2e-3)


def test_reformat_cheaper_than_staying_linear(libs, rng):
    # ChannelScale takes 20 ms in LINEAR and almost nothing in NHWC: the builder times both (and the
    # Reformats the NHWC choice needs) and must pick NHWC with a Reformat on each side.
    x = rng.standard_normal((2, 5, 4, 3)).astype(np.float32)

    def define(net, t):
        layer = net.add_plugin("ChannelScale", [t["x"]])
        layer.name = "scale"
        return {"y": layer.output(0)}

    engine = build(define, {"x": x})
    kinds = _kernels(engine)
    assert kinds == [("Reformat", "float32", "nhwc"), ("ChannelScale", "float32", "nhwc"), ("Reformat", "float32", "linear")], kinds
    scale = next(k for k in engine.layer_info()["kernels"] if k["type"] == "ChannelScale")
    assert any(n.startswith("negotiated: in0=float32 NHWC") and "best rejected: in0=float32 LINEAR" in n for n in scale["notes"]), scale["notes"]
    y = engine.create_execution_context().execute({"x": x})["y"]
    np.testing.assert_array_equal(y, x * np.arange(1, 6, dtype=np.float32)[None, :, None, None])
    # Declaring the output NHWC removes the second Reformat; execute still takes and returns NCHW numpy arrays.
    def define_nhwc(net, t):
        y = define(net, t)["y"]
        net.mark_output(y, "y")
        y.allowed_formats = [gie.TensorFormat.NHWC]
        return {}

    engine = build(define_nhwc, {"x": x})
    assert [k[0] for k in _kernels(engine)] == ["Reformat", "ChannelScale"]
    assert engine.get_tensor_format("y") == gie.TensorFormat.NHWC
    y = engine.create_execution_context().execute({"x": x})["y"]
    np.testing.assert_array_equal(y, x * np.arange(1, 6, dtype=np.float32)[None, :, None, None])


# ---- native: addPluginLayer from a C++ program ---------------------------------------------------------

@needs_cxx
def test_native_add_plugin_layer_program(tmp_path):
    (exe,) = _compile_all([(APP_SRC, tmp_path / "plugin_layer_app", True)])
    r = subprocess.run([exe], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"rc {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "PASSED" in r.stdout


# ---- the sample: CMake + find_package(gie) -------------------------------------------------------------

@needs_cxx
@pytest.mark.skipif(shutil.which("cmake") is None, reason="no cmake")
@pytest.mark.skipif(not os.path.isfile(os.path.join(gie.cmake_dir(), "gieConfig.cmake")),
                    reason="this gie has no CMake package")
def test_custom_plugin_sample_builds_with_cmake_and_runs():
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(gie.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (pkg_root, os.environ.get("PYTHONPATH")) if p))
    r = subprocess.run([sys.executable, CUSTOM_PLUGIN_SAMPLE], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, f"rc {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "PASSED" in r.stdout
