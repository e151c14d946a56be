"""`gie plugin check`: every sample plugin library passes it, and a library of deliberately broken plugins
(tests/plugins/broken_plugins.cpp, one broken rule each) is told exactly which rule each one breaks.

Each check runs in a fresh `python -m gie` process, as a user runs it (the library is loaded there)."""
import json
import os
import subprocess
import sys

import pytest

from test_plugins import CXX, HERE, LEAKY_CLIP_SRC, TEST_KERNELS_SRC, _compile_all, fresh_env

BROKEN_SRC = os.path.join(HERE, "plugins", "broken_plugins.cpp")
PY_PLUGINS_SRC = os.path.join(HERE, "plugins", "python_plugins.py")

pytestmark = pytest.mark.skipif(CXX is None, reason="no C++ compiler (c++/g++/clang++) on PATH")

CHECKS = ["create", "clone", "serialize round trip", "truncated bytes refused", "output shapes and types", "format combinations",
          "writes every output element", "two runs agree", "smaller batch", "threads agree", "tactics agree with tactic 0"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("plugin_check")
    leaky, kernels, broken = _compile_all([(LEAKY_CLIP_SRC, d / "libleaky_clip.so", False),
                                           (TEST_KERNELS_SRC, d / "libtest_kernels.so", False),
                                           (BROKEN_SRC, d / "libbroken.so", False)])
    return {"leaky_clip": leaky, "test_kernels": kernels, "broken": broken}


def run_check(*args):
    return subprocess.run([sys.executable, "-m", "gie", "plugin", "check", *map(str, args)], capture_output=True, text=True,
                          env=fresh_env(), timeout=300)


def statuses(r):
    """{plugin name: {check: (status, detail)}} from --json output."""
    out = {}
    for c in json.loads(r.stdout):
        out[c["name"]] = {k["check"]: (k["status"], k["detail"]) for k in c["checks"]}
        assert [k["check"] for k in c["checks"]] == CHECKS, c  # every check reported, in order
    return out


def test_leaky_clip_sample_passes_and_prints_a_table(built):
    r = run_check(built["leaky_clip"])
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["plugin", "check", "result", "detail"]
    for check in CHECKS[:-1]:
        assert any(check in line and "PASS" in line for line in lines), (check, r.stdout)
    assert any("tactics agree with tactic 0" in line and "SKIP" in line for line in lines)  # one tactic
    assert "0 failed" in lines[-1]


def test_test_kernels_pass_except_the_one_that_always_fails(built):
    r = run_check(built["test_kernels"], "--json")
    assert r.returncode == 1, r.stdout + r.stderr  # AlwaysFails fails by design
    s = statuses(r)
    assert set(s) == {"SplitHalf", "ArgMaxChannel", "TwoTactics", "HalfOnly", "AlwaysFails", "FloatLinearOnly", "ChannelScale"}
    for name, checks in s.items():
        failed = {k: d for k, (st, d) in checks.items() if st == "fail"}
        if name == "AlwaysFails":
            assert list(failed) == ["writes every output element"], failed
            assert "deliberate failure in enqueue" in failed["writes every output element"]
        else:
            assert not failed, (name, failed)
    assert s["TwoTactics"]["tactics agree with tactic 0"][0] == "pass"
    assert s["ChannelScale"]["format combinations"][1].startswith("2 accepted")  # LINEAR and NHWC
    assert s["HalfOnly"]["format combinations"][1] == "1 accepted: {in0=float16 LINEAR, out0=float16 LINEAR}"
    assert s["ArgMaxChannel"]["output shapes and types"][1] == "(2, 4, 6, 5) -> (2, 6, 5) int32"


# Each broken plugin: the check that must fail, and what its detail must say.
BROKEN = {
    "BadClone": ("clone", "clone serializes to other bytes"),
    "LosesField": ("serialize round trip", "serialize -> deserialize -> serialize changed the bytes"),
    "TrustsLength": ("truncated bytes refused", "deserializePlugin accepted the first 0 of the"),
    "NegativeShape": ("output shapes and types", "output 0 has shape (-1, 4, 6, 5)"),
    "LooksAhead": ("format combinations", "only later positions changed"),
    "SkipsLast": ("writes every output element", "1 of 240 elements keep the poison they were filled with (first: element 239)"),
    "Counts": ("two runs agree", "for the same inputs"),
    "SharedScratch": ("threads agree", "alone it was"),
    "BakesShape": ("smaller batch", "enqueue wrote output 0 past its 480 bytes"),
    "BadTactic": ("tactics agree with tactic 0", "tactic 1 ('wrong')"),
}


def test_broken_plugins_are_each_told_their_broken_rule(built):
    r = run_check(built["broken"], "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    s = statuses(r)
    assert set(s) == set(BROKEN)
    for name, (check, detail) in BROKEN.items():
        status, text = s[name][check]
        assert status == "fail" and detail in text, (name, check, status, text)
        failed = {k for k, (st, _) in s[name].items() if st == "fail"}
        # A call counter also makes the threads disagree, an element left unwritten shows at batch 1 too; nothing else
        # fails anything but its own rule.
        allowed = {check, {"Counts": "threads agree", "SkipsLast": "smaller batch"}.get(name, check)}
        assert failed <= allowed, (name, failed)


def test_type_filter_and_table_of_one_broken_plugin(built):
    r = run_check(built["broken"], "--type", "SkipsLast")
    assert r.returncode == 1
    rows = [line for line in r.stdout.splitlines() if line.startswith("SkipsLast")]
    assert len(rows) == len(CHECKS) and "BadClone" not in r.stdout
    assert any("writes every output element" in row and "FAIL" in row for row in rows)
    r = run_check(built["broken"], "--type", "BadTactic", "--type", "Counts", "--json")
    assert set(statuses(r)) == {"BadTactic", "Counts"}


def test_given_shapes_are_used(built):
    r = run_check(built["leaky_clip"], "--shape", "3x7", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert statuses(r)["LeakyClip"]["output shapes and types"][1] == "(3, 7) -> (3, 7) float32"


def test_usage_errors(built, tmp_path):
    r = run_check(tmp_path / "libnope.so")
    assert r.returncode == 2 and "no such file" in r.stderr
    r = run_check(built["leaky_clip"], "--type", "Nope")
    assert r.returncode == 2 and "registers no plugin Nope" in r.stderr and "LeakyClip" in r.stderr
    r = run_check(built["leaky_clip"], "--shape", "2xq")
    assert r.returncode == 2 and "--shape" in r.stderr
    r = run_check(built["leaky_clip"], "--shape", "2x0x3")  # accepted by the plugin: the empty tensor must work too
    assert r.returncode == 0, r.stdout + r.stderr


def _gpu_array_module():
    for name in ("cupy", "torch"):
        try:
            __import__(name)
            return name
        except ImportError:
            pass
    return None


def test_python_plugins_file_is_checked_too():
    """A .py file registers its Python plugins when the check imports it; PyFails fails its enqueue by design."""
    r = run_check(PY_PLUGINS_SRC, "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    checks = json.loads(r.stdout)
    assert {(c["name"], c["device"]) for c in checks} >= {("PyScale", "cpu"), ("PySplitMax", "cpu"), ("PyFields", "cpu"), ("PyFails", "cpu")}
    for c in checks:
        failed = {k["check"]: k["detail"] for k in c["checks"] if k["status"] == "fail"}
        if c["device"] == "gpu" and not _gpu_array_module():
            continue  # PyScale's GPU enqueue needs cupy or torch (its run checks are skipped without a GPU anyway)
        if c["name"] == "PyFails":
            assert list(failed) == ["writes every output element"] and "RuntimeError: deliberate failure" in failed["writes every output element"]
        else:
            assert not failed, (c["name"], failed)
    assert sum(k["status"] == "pass" for c in checks if c["name"] == "PySplitMax" and c["device"] == "cpu" for k in c["checks"]) == 10


def test_given_fields_replace_the_defaults(built):
    r = run_check(built["leaky_clip"], "--field", "lo=-2", "--field", "hi=0.5", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert statuses(r)["LeakyClip"]["create"] == ("pass", "fields: slope, lo, hi (given)")
    r = run_check(built["leaky_clip"], "--field", "lo=3", "--json")  # lo > the default hi: createPlugin refuses, naming it
    assert r.returncode == 1
    status, detail = statuses(r)["LeakyClip"]["create"]
    assert status == "fail" and "field 'lo' (3) must be <= field 'hi' (1)" in detail, detail
    assert all(st == "skip" for k, (st, _) in statuses(r)["LeakyClip"].items() if k != "create")
    r = run_check(built["leaky_clip"], "--field", "lo")
    assert r.returncode == 2 and "NAME=VALUE" in r.stderr
