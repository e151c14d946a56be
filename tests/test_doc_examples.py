"""Every example in README.md and docs/*.md runs as written (issue 18).

What runs: fenced blocks whose info string is ``python`` or ``bash``. Other fences (``console``, ``cpp``, ``json``,
``text``, none) are output or reference, never run. The blocks of one file run in document order, in one fresh
temporary folder (the working directory), so a block may use a file an earlier block wrote; python blocks share
one namespace (a later block may use the names an earlier one defined) and bash blocks run with ``bash -e`` and
``gie``, ``python`` and ``python3`` on PATH meaning this interpreter and this gie. The repository root is in
``GIE_REPO`` for blocks that read a file shipped in it (samples/...).

Markers, an HTML comment on the line just before the opening fence:

* ``<!-- doc-test: skip REASON -->``: not run, for a block that cannot run here by nature (it installs packages,
  needs a C++ toolchain run or the user's own model files); say why. A block that should run but does not is
  fixed, not skipped.
* ``<!-- doc-test: gpu -->``: runs only where a GPU is usable (in the file's ``[gpu]`` test, marked ``gpu``); the
  file's other blocks must not depend on it.

Each file gives two tests: ``[cpu]`` runs its unmarked blocks, ``[gpu]`` (marked gpu, only for files with gpu
blocks) runs the unmarked and the gpu blocks together. New docs are picked up without touching this file.
"""
import glob
import json
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = [os.path.join(REPO, "README.md")] + sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
_MARKER = re.compile(r"<!--\s*doc-test:\s*(skip|gpu)\b\s*(.*?)\s*-->")
RUN_LANGS = {"python": "python", "py": "python", "bash": "bash", "sh": "bash", "shell": "bash"}


def extract(path):
    """[(language, code, line number, marker or None, reason)] of the runnable blocks of a markdown file."""
    blocks = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m.group(1), m.group(2), m.group(3).lower()
        start = i
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        if lang not in RUN_LANGS:
            continue
        prev = next((lines[k] for k in range(start - 1, -1, -1) if lines[k].strip()), "")
        mk = _MARKER.search(prev)
        blocks.append((RUN_LANGS[lang], "\n".join(body) + "\n", start + 1, mk.group(1) if mk else None,
                       mk.group(2) if mk else ""))
    return blocks


_DRIVER = r'''
import json, os, subprocess, sys, traceback
blocks = json.load(open(sys.argv[1]))
ns = {"__name__": "__main__"}
for lang, code, line in blocks:
    print(f"--- {lang} block at line {line}", flush=True)
    if lang == "python":
        try:
            exec(compile(code, f"<{os.environ['GIE_DOC']}:{line}>", "exec"), ns)
        except SystemExit as e:
            if e.code not in (0, None):
                print(f"FAILED: python block at line {line} exited {e.code}", flush=True)
                sys.exit(1)
        except BaseException:
            traceback.print_exc()
            print(f"FAILED: python block at line {line}", flush=True)
            sys.exit(1)
    else:
        p = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", code])
        if p.returncode != 0:
            print(f"FAILED: bash block at line {line} exited {p.returncode}", flush=True)
            sys.exit(1)
'''


def _bin(tmp):
    """gie, python and python3 wrappers for bash blocks: this interpreter, this gie."""
    d = os.path.join(tmp, ".doc-bin")
    os.makedirs(d)
    for name, cmd in (("gie", f'exec "{sys.executable}" -m gie "$@"'), ("python", f'exec "{sys.executable}" "$@"'),
                      ("python3", f'exec "{sys.executable}" "$@"')):
        with open(os.path.join(d, name), "w") as f:
            f.write(f"#!/bin/sh\n{cmd}\n")
        os.chmod(os.path.join(d, name), 0o755)
    return d


def _cases():
    cases = []
    for path in DOCS:
        blocks = extract(path)
        rel = os.path.relpath(path, REPO)
        if any(m is None for _, _, _, m, _ in blocks):
            cases.append(pytest.param(path, False, id=f"{rel}[cpu]"))
        if any(m == "gpu" for _, _, _, m, _ in blocks):
            cases.append(pytest.param(path, True, id=f"{rel}[gpu]", marks=pytest.mark.gpu))
    return cases


def test_extraction_and_markers(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("# t\n\n```python\na = 1\n```\n\n<!-- doc-test: skip needs the reader's model -->\n"
                   "```bash\ngie build my.onnx\n```\n\n```console\n$ gie\n```\n\n<!-- doc-test: gpu -->\n\n"
                   "```python\nimport torch\n```\n\n- item\n\n  ```sh\n  echo hi\n  ```\n")
    assert extract(doc) == [("python", "a = 1\n", 3, None, ""), ("bash", "gie build my.onnx\n", 8, "skip",
                                                                   "needs the reader's model"),
                            ("python", "import torch\n", 18, "gpu", ""), ("bash", "echo hi\n", 24, None, "")]


def test_every_skip_says_why():
    for path in DOCS:
        for lang, _, line, marker, reason in extract(path):
            assert marker != "skip" or reason, f"{os.path.relpath(path, REPO)}:{line}: doc-test: skip without a reason"


@pytest.mark.parametrize("path, gpu", _cases())
def test_doc_examples_run(path, gpu, tmp_path):
    blocks = [(lang, code, line) for lang, code, line, marker, _ in extract(path)
              if marker is None or (gpu and marker == "gpu")]
    if gpu:  # GPU examples use torch or cupy for device tensors: without them there is nothing to show
        for module in ("torch", "cupy"):
            if any(re.search(rf"^\s*import {module}\b|^import .*\b{module}\b", code, re.M) for _, code, _ in blocks):
                pytest.importorskip(module)
    spec = tmp_path / ".blocks.json"
    spec.write_text(json.dumps(blocks))
    driver = tmp_path / ".driver.py"
    driver.write_text(_DRIVER)
    env = dict(os.environ)
    import gie

    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(gie.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([pkg_parent] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["PATH"] = _bin(str(tmp_path)) + os.pathsep + env.get("PATH", "")
    env["GIE_DOC"] = os.path.relpath(path, REPO)
    env["GIE_REPO"] = REPO
    env["GIE_NO_PROGRESS"] = "1"
    env.setdefault("MPLBACKEND", "Agg")
    p = subprocess.run([sys.executable, str(driver), str(spec)], cwd=tmp_path, capture_output=True, text=True,
                       env=env, timeout=900)
    assert p.returncode == 0, f"{env['GIE_DOC']}:\n{p.stdout[-6000:]}\n{p.stderr[-6000:]}"
