import os
import sys
import tempfile

import numpy as np
import pytest

import gie

# GIE_TEST_HIDE_TORCH=1 makes `import torch` fail: tests that need torch skip and GPU test buffers come from cupy.
# For compute-sanitizer runs, where torch's CUDA start-up under the sanitizer takes minutes in every process.
if os.environ.get("GIE_TEST_HIDE_TORCH") == "1":
    sys.modules["torch"] = None

# `gie run --profile` caches the peaks it measures per device (gie.profile.cache_path): the tests (and the CLI
# subprocesses they start, which inherit the environment) use a cache of their own, not the user's.
os.environ.setdefault("GIE_CACHE_DIR", tempfile.mkdtemp(prefix="gie-test-cache-"))


def _shard(spec):
    """GIE_TEST_SHARD="i/n" -> (i, n), 0 <= i < n."""
    try:
        i, n = (int(v) for v in spec.split("/"))
    except ValueError:
        raise pytest.UsageError(f"GIE_TEST_SHARD={spec!r}: expected i/n, e.g. 0/4") from None
    if not 0 <= i < n:
        raise pytest.UsageError(f"GIE_TEST_SHARD={spec!r}: i must be in [0, n)")
    return i, n


def pytest_collection_modifyitems(config, items):
    # GIE_TEST_SHARD=i/n keeps every n-th test from the i-th on (separate processes run disjoint shards; used
    # for compute-sanitizer runs, which cannot go through pytest-xdist).
    spec = os.environ.get("GIE_TEST_SHARD")
    if spec:
        i, n = _shard(spec)
        keep = [item for k, item in enumerate(items) if k % n == i]
        config.hook.pytest_deselected(items=[item for k, item in enumerate(items) if k % n != i])
        items[:] = keep
    if gie.build_info()["gpu_available"]:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (gie found none)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def range_plugins_lib(tmp_path_factory):
    """tests/plugins/range_plugins.cpp (RangeRecorder, TacticTag, ...: the dynamic-shape and per-profile tactic
    tests), compiled and loaded once per process (loading it twice would register its creators twice); its path."""
    from test_plugins import CXX, HERE, _compile_all
    if CXX is None:
        pytest.skip("no C++ compiler (c++/g++/clang++) on PATH")
    src = os.path.join(HERE, "plugins", "range_plugins.cpp")
    (lib,) = _compile_all([(src, tmp_path_factory.mktemp("range_plugins") / "librange_plugins.so", False)])
    gie.load_library(lib)
    return lib


@pytest.fixture
def rng(request):
    # A different but reproducible stream per test.
    seed = abs(hash(request.node.nodeid)) % (2**32)
    return np.random.default_rng(seed)


@pytest.fixture
def device():
    return os.environ.get("GIE_TEST_DEVICE", "cpu")


@pytest.fixture(autouse=True)
def _device_fault_check(request):
    """After every GPU test, wait for the whole device: a kernel fault (an illegal address) surfaces in the
    test that caused it instead of in whichever test next touches the GPU in this process."""
    yield
    if "gpu" in request.node.keywords and gie.build_info()["gpu_available"]:
        try:
            gie._C.gpu_stream_synchronize(0)  # the legacy default stream: cudaDeviceSynchronize
        except gie.Error as e:
            pytest.fail(f"the GPU faulted during or after this test: {e}", pytrace=False)
