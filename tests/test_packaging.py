"""The installed package: the command line (python -m gie), the files native code builds against, the demo."""
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import gie
from gie import models

REPO = Path(__file__).resolve().parent.parent


def gie_env():
    """The environment for a child Python that must import this same gie (also from a dev build)."""
    env = os.environ.copy()
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(gie.__file__)))  # no resolve(): dev builds symlink
    env["PYTHONPATH"] = os.pathsep.join([pkg_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def run_gie(*args, timeout=300):
    """Runs ``python -m gie ARGS`` outside the source tree; returns the completed process."""
    return subprocess.run([sys.executable, "-m", "gie", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=tempfile.gettempdir(), env=gie_env())


def test_version():
    proc = run_gie("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == f"gie {gie.__version__}"
    assert "build_info" in proc.stdout and '"gpu_available"' in proc.stdout and '"cuda"' in proc.stdout


def test_cmake_dir():
    proc = run_gie("--cmake-dir")
    assert proc.returncode == 0, proc.stderr
    path = Path(proc.stdout.strip())
    assert path == Path(gie.cmake_dir())
    assert (path / "gieConfig.cmake").is_file(), f"no gieConfig.cmake in {path}"
    assert (path / "gieConfigVersion.cmake").is_file()
    assert list(path.glob("gieTargets*.cmake")), f"no gieTargets*.cmake in {path}"


def test_include_dir():
    proc = run_gie("--include-dir")
    assert proc.returncode == 0, proc.stderr
    path = Path(proc.stdout.strip())
    assert path == Path(gie.include_dir())
    for header in ("gie.h", "types.h", "network.h", "builder.h", "engine.h", "plugin.h"):
        assert (path / "gie" / header).is_file(), f"missing {path / 'gie' / header}"


def test_library_dir():
    proc = run_gie("--library-dir")
    assert proc.returncode == 0, proc.stderr
    path = Path(proc.stdout.strip())
    assert (path / "libgie.so").is_file(), f"no libgie.so in {path}"
    assert list(path.glob("_C*.so")), f"no extension module in {path}"


def test_no_command_prints_help():
    proc = run_gie()
    assert proc.returncode == 2
    assert "demo" in proc.stdout


def test_demo():
    proc = run_gie("demo", "--runs", "5")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    m = re.search(r"max abs difference vs numpy reference: (\S+)", out)
    assert m, out
    assert float(m.group(1)) < 1e-4, out
    assert re.search(r"\d+ kernels, arena \d+ bytes", out), out
    for batch in (1, 8):
        assert re.search(rf"latency batch {batch}: median [\d.]+ ms", out), out
    expected = "GPU" if gie.build_info()["gpu_available"] else "CPU"
    assert f"building on the {expected}" in out


def test_console_script():
    script = Path(sys.executable).parent / "gie"
    if not script.exists():
        pytest.skip("the 'gie' console script is installed only by pip (not in a dev build)")
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"gie {gie.__version__}")


def test_lenet_model_matches_reference():
    model = models.lenet(seed=3)
    engine = models.build(model, device="cpu", max_batch=4)
    x = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    prob = engine.create_execution_context().execute({"data": x})["prob"]
    ref = models.lenet_reference(model.weights, x)
    assert prob.shape == (3, 10)
    np.testing.assert_allclose(prob.sum(axis=1), 1.0, atol=1e-5)
    assert np.abs(prob - ref).max() < 1e-4
    # Same seed, same weights; another seed, other weights.
    assert all(np.array_equal(model.weights[k], models.lenet(seed=3).weights[k]) for k in model.weights)
    assert not np.array_equal(model.weights["conv1.kernel"], models.lenet(seed=4).weights["conv1.kernel"])


def test_readme_and_ci_run_the_same_tests():
    readme, ci = REPO / "README.md", REPO / ".ci" / "run"
    if not readme.is_file() or not ci.is_file():
        pytest.skip("needs the source tree (README.md, .ci/run)")
    command = "python -m pytest tests -q"
    assert command in readme.read_text(), "README.md must show the test command"
    assert command in ci.read_text(), ".ci/run must run the README's test command"


def test_readme_python_quick_start(tmp_path, monkeypatch):
    readme = REPO / "README.md"
    if not readme.is_file():
        pytest.skip("needs the source tree (README.md)")
    text = readme.read_text()
    section = text.split("## Python quick start", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)  # it writes lenet.gie
    exec(compile(code, "README.md (Python quick start)", "exec"), {})
    assert (tmp_path / "lenet.gie").is_file()
