"""The test harness's own switches (tests/conftest.py): GIE_TEST_SHARD splits a run into disjoint shards."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def collected(target, shard=None):
    env = dict(os.environ)
    env.pop("GIE_TEST_SHARD", None)
    if shard is not None:
        env["GIE_TEST_SHARD"] = shard
    res = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                          "-p", "no:xdist", str(target)], cwd=HERE.parent, env=env, capture_output=True, text=True)
    return res.returncode, [line for line in res.stdout.splitlines() if "::" in line], res.stdout + res.stderr


def test_shards_are_disjoint_and_cover_the_run():
    rc, everything, out = collected(HERE / "test_memory_plan.py")
    assert rc == 0 and len(everything) >= 6, out
    shards = []
    for i in range(3):
        rc, ids, out = collected(HERE / "test_memory_plan.py", f"{i}/3")
        assert rc == 0, out
        assert 0 < len(ids) < len(everything)
        shards.append(ids)
    assert sorted(sum(shards, [])) == sorted(everything)
    assert len(set(sum(shards, []))) == len(everything)


@pytest.mark.parametrize("spec", ["3/3", "x", "1/0", "-1/2"])
def test_bad_shard_spec_is_a_usage_error(spec):
    rc, _, out = collected(HERE / "test_memory_plan.py", spec)
    assert rc != 0 and "GIE_TEST_SHARD" in out, out
