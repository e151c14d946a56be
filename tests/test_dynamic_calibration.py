"""INT8 calibration of networks whose inputs have dynamic dimensions beyond dimension 0 (issue 15 item 3): the
calibrator's batches may take any shape within one optimization profile (gie.Int8Calibrator: the arrays' shapes;
C++: IInt8Calibrator::getBatchShapes), and a batch outside every profile is refused naming the input, the dimension
and the ranges. No set_dynamic_range: every range comes from calibration."""
import numpy as np
import pytest

import gie

F32 = np.float32
PROFILES = [{"x": ((1, 3, 8, 8), (2, 3, 16, 16), (2, 3, 32, 32))}]


def conv_net(rng):
    """x (N, 3, H, W) -> conv 3x3 + ReLU -> conv 3x3 -> y, H and W dynamic."""
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (-1, 3, -1, -1))
    w1 = (rng.standard_normal((6, 3, 3, 3)) * 0.3).astype(F32)
    w2 = (rng.standard_normal((4, 6, 3, 3)) * 0.3).astype(F32)
    c1 = net.add_convolution(x, 6, (3, 3), w1, (rng.standard_normal(6) * 0.1).astype(F32), padding=(1, 1))
    r1 = net.add_activation(c1.output(0), gie.ActivationType.RELU)
    c2 = net.add_convolution(r1.output(0), 4, (3, 3), w2, np.zeros(4, F32), padding=(1, 1))
    net.mark_output(c2.output(0), "y")
    return builder, net


class ShapesCalibrator(gie.Int8Calibrator):
    """Batches of 2 at the given (H, W) sizes, in turn."""
    algorithm = "minmax"

    def __init__(self, sizes, rng, count=4):
        self.sizes, self.rng, self.count, self.given, self.batches = sizes, rng, count, [], []

    def get_batch_size(self):
        return 2

    def get_batch(self, names):
        if len(self.given) == self.count:
            return None
        h, w = self.sizes[len(self.given) % len(self.sizes)]
        x = self.rng.uniform(-1, 1, (2, 3, h, w)).astype(F32)
        self.given.append(x.shape)
        self.batches.append(x)
        return {"x": x}


def build(builder, net, calibrator=None, profiles=PROFILES):
    config = builder.create_config()
    config.device = "cpu"
    for p in profiles:
        config.add_profile(p)
    if calibrator is not None:
        config.int8 = True
        config.int8_calibrator = calibrator
    return builder.build(net, config)


def test_calibration_with_dynamic_height_and_width_at_two_sizes(rng):
    builder, net = conv_net(rng)
    cal = ShapesCalibrator([(12, 12), (24, 20)], rng)
    int8 = build(builder, net, cal)
    assert cal.given == [(2, 3, 12, 12), (2, 3, 24, 20)] * 2
    kinds = [(k["type"], k["precision"]) for k in int8.layer_info()["kernels"]]
    assert ("Convolution", "int8") in kinds, kinds
    fp32 = build(builder, net)
    c8, c32 = int8.create_execution_context(), fp32.create_execution_context()
    # On the calibration batches (min-max ranges: nothing saturates), at both sizes and at batch 1: INT8 within 5% of the
    # output's largest magnitude (a few INT8 steps through two convolutions; measured 1-2%).
    for x in cal.batches[:2] + [cal.batches[1][:1]]:
        y8, y32 = c8.execute({"x": x})["y"], c32.execute({"x": x})["y"]
        assert y8.shape == y32.shape == (x.shape[0], 4) + x.shape[2:]
        err = np.abs(y8 - y32).max()
        assert err <= 0.05 * np.abs(y32).max(), f"{x.shape}: max |int8 - fp32| = {err}, |fp32| up to {np.abs(y32).max()}"


def test_calibration_batch_outside_every_profile_is_refused(rng):
    builder, net = conv_net(rng)
    profiles = PROFILES + [{"x": ((1, 3, 40, 40), (1, 3, 48, 48), (2, 3, 64, 64))}]
    with pytest.raises(gie.InvalidArgumentError) as e:
        build(builder, net, ShapesCalibrator([(12, 12), (36, 12)], rng), profiles)
    msg = str(e.value)
    assert "input 'x' dimension 2" in msg and "is 36" in msg and "calibration batch 2" in msg, msg
    assert "profile 0: [8, 32]" in msg and "profile 1: [40, 64]" in msg, msg


def test_calibration_batch_with_a_wrong_fixed_dimension_is_refused(rng):
    builder, net = conv_net(rng)

    class WrongChannels(ShapesCalibrator):
        def get_batch(self, names):
            return {"x": np.zeros((2, 4, 12, 12), F32)}

    with pytest.raises(gie.InvalidArgumentError, match=r"input 'x' dimension 1 .* is 4 but the network fixes it at 3"):
        build(builder, net, WrongChannels([(12, 12)], rng))


def test_calibration_alternating_shapes_builds_one_runner_per_shape_set(rng):
    """A calibrator alternating between shape sets gets one runner (buffers, kernels) per set, kept (RunnerCache,
    the last 4), instead of a new one at every change of shapes; the ranges are those of a calibrator that gives the
    same batches grouped by shape (minmax: order does not matter)."""
    import logging

    class Lines(logging.Handler):
        def __init__(self):
            super().__init__(logging.DEBUG)
            self.lines = []

        def emit(self, record):
            self.lines.append(record.getMessage())

    def calibrate(sizes, count):
        builder, net = conv_net(np.random.default_rng(0))
        log = logging.getLogger("gie.test_runner_cache")
        log.setLevel(logging.DEBUG)
        log.propagate = False
        lines = Lines()
        log.addHandler(lines)
        try:
            ranges = gie.calibrate(net, ShapesCalibrator(sizes, np.random.default_rng(1), count=count), logger=log)
        finally:
            log.removeHandler(lines)
        return ranges, [m for m in lines.lines if "INT8 calibration: runner" in m]

    sizes = [(12, 12), (24, 20), (8, 16)]
    ranges, built = calibrate(sizes, count=9)
    assert len(built) == 3, built
    assert [m.split("input shapes ")[1] for m in built] == ["(2, 3, 12, 12)", "(2, 3, 24, 20)", "(2, 3, 8, 16)"], built
    # Five shape sets in turn, one more than are kept: every change builds again.
    _, built = calibrate(sizes + [(16, 8), (10, 10)], count=10)
    assert len(built) == 10, built
    # Same batches (the calibrator's generator), one shape set: one runner; same ranges as above.
    once, built = calibrate([(12, 12)], count=1)
    assert len(built) == 1 and set(once) == set(ranges)


def test_calibrate_function_without_profiles_takes_dynamic_sizes(rng):
    """gie.calibrate has no optimization profiles: the call after the last batch (no shapes to give) takes the previous
    batch's sizes instead of failing with "dimension 2 of calibration batch 3 is -1" (it did, for every network with a
    dynamic dimension beyond 0). The input's min-max range is that of the batches given."""
    _, net = conv_net(rng)
    cal = ShapesCalibrator([(12, 12), (24, 20)], rng, count=2)
    ranges = gie.calibrate(net, cal)
    assert cal.given == [(2, 3, 12, 12), (2, 3, 24, 20)]
    assert ranges["x"] == pytest.approx(max(float(np.abs(x).max()) for x in cal.batches), rel=1e-6)
    assert len(ranges) >= 4, ranges  # x, both convolutions, the ReLU
