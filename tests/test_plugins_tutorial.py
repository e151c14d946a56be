"""docs/plugins.md's tutorial runs as written: its bash blocks, in order, in an empty folder (a C++ plugin built with
CMake against the installed gie, used from C++, checked, used from Python and from the ONNX importer, then the same
plugin in Python). `python` in the blocks is this interpreter."""
import os
import re
import shutil
import subprocess
import sys

import pytest

from test_plugins import fresh_env

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "plugins.md")


def tutorial_script():
    text = open(DOC, encoding="utf-8").read()
    start = text.index("## Tutorial")
    section = text[start:text.index("\n## ", start + 1)]
    return "set -e\n" + "\n".join(re.findall(r"```bash\n(.*?)```", section, re.S))


@pytest.mark.skipif(shutil.which("cmake") is None or not any(shutil.which(c) for c in ("c++", "g++", "clang++")),
                    reason="needs CMake and a C++ compiler")
def test_tutorial_runs(tmp_path):
    pytest.importorskip("onnx")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(sys.executable, bin_dir / "python")
    env = fresh_env()
    env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    work = tmp_path / "work"
    work.mkdir()
    r = subprocess.run(["bash", "-c", tutorial_script()], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    for line in ("MyScale from C++: -1 1 3 5", "MyScale from Python: [-1.  1.  3.  5.]", "MyScale from ONNX: [-4. -1.  2.  5.]",
                 "MyScalePy: [-1.  1.  3.  5.]"):
        assert line in r.stdout, r.stdout
    assert r.stdout.count("1 plugin(s), 11 checks: 0 failed, 1 skipped") == 2, r.stdout
