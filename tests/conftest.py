import os

import numpy as np
import pytest

import gie


def pytest_collection_modifyitems(config, items):
    if gie.build_info()["gpu_available"]:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (gie found none)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng(request):
    # A different but reproducible stream per test.
    seed = abs(hash(request.node.nodeid)) % (2**32)
    return np.random.default_rng(seed)


@pytest.fixture
def device():
    return os.environ.get("GIE_TEST_DEVICE", "cpu")
