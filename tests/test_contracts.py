"""Contracts the headers state (issue 11 item 12): bounds, call counts, pointer lifetimes and thread safety.

The native checks run tests/plugins/contracts_app.cpp, compiled at test time against the installed headers, one
check per process (a broken contract may abort the process)."""
import subprocess
import threading

import numpy as np
import pytest

import gie
from test_plugins import CXX, HERE, _compile_all, needs_cxx

APP_SRC = f"{HERE}/plugins/contracts_app.cpp"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    if CXX is None:
        pytest.skip("no C++ compiler")
    (exe,) = _compile_all([(APP_SRC, tmp_path_factory.mktemp("contracts") / "contracts_app", True)])
    return exe


@needs_cxx
@pytest.mark.parametrize("check", ["configure-once", "creators-snapshot", "long-versions", "field-pointers", "report-threads",
                                   "serialize-threads"])
def test_native_contract(app, check):
    r = subprocess.run([app, check], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"rc {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "PASSED" in r.stdout


def test_max_aux_streams_is_bounded():
    config = gie.Builder().create_config()
    config.max_aux_streams = 63
    assert config.max_aux_streams == 63
    for n in (64, 1000, 2**31 - 1, -2):
        with pytest.raises(gie.InvalidArgumentError, match=r"1\.\.63 \(the limit\), got " + str(n)):
            config.max_aux_streams = n
        assert config.max_aux_streams == 63  # unchanged


def _relu_net(builder, width):
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (1, width))
    net.mark_output(net.add_activation(x, gie.ActivationType.RELU).output(0), "y")
    return net


def test_concurrent_python_builds_share_a_timing_cache(tmp_path):
    cache = tmp_path / "timing.cache"
    builder = gie.Builder()
    errors = []

    def build(i):
        try:
            config = builder.create_config()
            config.device = "cpu"
            config.timing_cache = str(cache)
            for _ in range(20):
                engine = builder.build(_relu_net(builder, 8 + i), config)
                x = np.linspace(-1, 1, 8 + i, dtype=np.float32).reshape(1, -1)
                np.testing.assert_array_equal(engine.create_execution_context().execute({"x": x})["y"], np.maximum(x, 0))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=build, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(p.name for p in tmp_path.iterdir()) == ["timing.cache"]
    assert cache.read_text().startswith("gie-timing-cache")
