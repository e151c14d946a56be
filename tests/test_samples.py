"""The samples: the C++ LeNet app built with CMake against the installed package, and the Python sample."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gie

REPO = Path(__file__).resolve().parent.parent
CPP_SAMPLE = REPO / "samples" / "cpp" / "lenet"
PY_SAMPLE = REPO / "samples" / "python" / "lenet.py"


def gie_env():
    """The environment for a child process that must use this same gie (also from a dev build)."""
    env = os.environ.copy()
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(gie.__file__)))  # no resolve(): dev builds symlink
    env["PYTHONPATH"] = os.pathsep.join([pkg_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def _cxx_compiler():
    for name in [os.environ.get("CXX"), "c++", "g++", "clang++"]:
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_cpp_lenet_sample(tmp_path):
    if not CPP_SAMPLE.is_dir():
        pytest.skip(f"needs the source tree ({CPP_SAMPLE} not found)")
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed (pip install cmake, or the system package)")
    if _cxx_compiler() is None:
        pytest.skip("no C++ compiler found (set CXX, or install g++ / clang++)")
    build = tmp_path / "build"
    configure = ["cmake", "-S", str(CPP_SAMPLE), "-B", str(build), f"-Dgie_DIR={gie.cmake_dir()}",
                 "-DCMAKE_BUILD_TYPE=Release"]
    if shutil.which("ninja"):
        configure += ["-G", "Ninja"]
    _run(configure, timeout=300)
    _run(["cmake", "--build", str(build)], timeout=600)
    exe = build / "lenet_sample"
    assert exe.is_file()
    # No LD_LIBRARY_PATH: libgie.so must be found through the program's RPATH.
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    engine_file = tmp_path / "lenet.gie"
    proc = _run([str(exe), str(engine_file)], cwd=tmp_path, env=env, timeout=300)
    assert "PASSED" in proc.stdout, proc.stdout
    assert engine_file.is_file() and engine_file.stat().st_size > 0
    # The engine file the C++ sample wrote loads in Python too (one format for both APIs).
    engine = gie.Runtime().load(engine_file)
    assert engine.input_names == ["data"] and engine.output_names == ["prob"]
    assert engine.max_batch == 2


def test_python_lenet_sample(tmp_path):
    if not PY_SAMPLE.is_file():
        pytest.skip(f"needs the source tree ({PY_SAMPLE} not found)")
    engine_file = tmp_path / "lenet.gie"
    proc = _run([sys.executable, str(PY_SAMPLE), "--engine", str(engine_file), "--batch", "3"], cwd=tmp_path,
                env=gie_env(), timeout=300)
    assert "PASSED" in proc.stdout, proc.stdout
    assert engine_file.is_file()
