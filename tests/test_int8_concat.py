"""Concatenation elimination under INT8 (docs/int8.md, "GPU kernels"): with ranges on every input and the output, a
concatenation whose inputs' ranges differ from its output's is kept (its INT8 kernel requantizes them; eliminated, its
slices would stay float), and one with a single range is still eliminated. The GPU side (INT8 CHW4 slices, and inputs
whose channels are not multiples of 4) is in tests/test_int8_gpu.py."""
import numpy as np
import pytest

import gie
import util

F32 = np.float32


def two_convs_concat(ranges, int8=True, device="cpu"):
    """x -> conv a (4 ch), conv b (8 ch) -> concat -> ReLU (so that the concatenation's inputs have one reader)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 6)).astype(F32)

    def define(net, t):
        a = net.add_convolution(t["x"], 4, (3, 3), rng.standard_normal((4, 3, 3, 3)).astype(F32), np.zeros(4, F32))
        b = net.add_convolution(t["x"], 8, (1, 1), rng.standard_normal((8, 3, 1, 1)).astype(F32), np.zeros(8, F32),
                                pre_padding=(0, 0))
        b2 = net.add_pooling(b.output(0), gie.PoolingType.MAX, (3, 3), stride=(1, 1))
        c = net.add_concatenation([a.output(0), b2.output(0)], axis=1)
        r = net.add_activation(c.output(0), gie.ActivationType.RELU)
        for tensor, amax in zip((t["x"], a.output(0), b2.output(0), c.output(0), r.output(0)), ranges):
            if amax:
                tensor.set_dynamic_range(-amax, amax)
        return r.output(0)

    def configure(config):
        config.int8 = int8

    engine = util.build(define, {"x": x}, device=device, configure=configure)
    return engine, x


def concat_kernels(engine):
    return [k for k in engine.layer_info()["kernels"] if k["type"] == "Concatenation"]


def test_ranges_that_differ_keep_the_concatenation_in_int8():
    ranges = [4.5, 20.0, 15.0, 20.0, 20.0]  # wide enough that nothing saturates
    engine, x = two_convs_concat(ranges)
    ks = concat_kernels(engine)
    assert [k["precision"] for k in ks] == ["int8"], engine.layer_info()["kernels"]
    assert any("kept: INT8: an input's range differs" in n for n in ks[0]["notes"]), ks[0]["notes"]
    # the engine computes what the FP32 one does, within a few quantization steps (20 / 127) of the tensors
    ref, _ = two_convs_concat(ranges, int8=False)
    y, y32 = (e.create_execution_context().execute({"x": x})["out0"] for e in (engine, ref))
    assert np.abs(y - y32).max() < 0.6, np.abs(y - y32).max()


def test_one_range_is_still_eliminated():
    engine, _ = two_convs_concat([3.0, 5.0, 5.0, 5.0, 5.0])
    assert concat_kernels(engine) == []


@pytest.mark.parametrize("ranges", [[3.0, 6.0, 4.0, 5.0, 5.0], [3.0, 6.0, None, 5.0, 5.0]], ids=["no_int8", "a_range_missing"])
def test_without_int8_or_with_a_range_missing_it_is_eliminated(ranges):
    engine, _ = two_convs_concat(ranges, int8=ranges[2] is None)
    assert concat_kernels(engine) == []
