"""Plugins in engines with dynamic shapes (issue 15): configureWithRange / Plugin.configure see each tensor's min and
max over every optimization profile, output shapes follow the run's input shapes, and the workspace is sized for the
max. The C++ plugin (tests/plugins/range_plugins.cpp) is compiled at test time against the installed headers."""
import re

import numpy as np
import pytest

import gie

# Two profiles over (N, C, H, W): min/max over both are (1, 2, 3, 4) .. (3, 2, 9, 20).
PROFILES = [{"x": ((1, 2, 3, 4), (2, 2, 5, 8), (2, 2, 5, 10))},
            {"x": ((2, 2, 6, 11), (3, 2, 8, 16), (3, 2, 9, 20))}]


def pair_sums(x):
    w = x.shape[-1]
    padded = np.concatenate([x, np.zeros(x.shape[:-1] + (w % 2,), np.float32)], axis=-1)
    return padded[..., 0::2] + padded[..., 1::2]


def build(plugin, profiles=PROFILES, workspace_limit=None):
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (-1, 2, -1, -1))
    layer = net.add_plugin(plugin, [x], {})
    layer.name = "rec"
    net.mark_output(layer.output(0), "y")
    if layer.num_outputs > 1:
        net.mark_output(layer.output(1), "info")
    config = builder.create_config()
    config.device = "cpu"
    for p in profiles:
        config.add_profile(p)
    if workspace_limit is not None:
        config.workspace_limit = workspace_limit
    return builder.build(net, config)


def run_shapes(engine, rng):
    ctx = engine.create_execution_context()
    seen = []
    for profile, shape in [(0, (1, 2, 3, 4)), (0, (2, 2, 5, 7)), (1, (3, 2, 9, 20)), (1, (2, 2, 6, 11))]:
        ctx.set_optimization_profile(profile)
        x = rng.standard_normal(shape).astype(np.float32)
        ctx.set_input_shape("x", shape)
        # getOutputDimensions with this run's concrete dims: the output shape follows W.
        assert ctx.get_tensor_shape("y") == shape[:-1] + ((shape[-1] + 1) // 2,)
        out = ctx.execute({"x": x})
        np.testing.assert_allclose(out["y"], pair_sums(x), rtol=1e-6, atol=1e-6)
        seen.append(out.get("info"))
    return seen


def test_cpp_plugin_gets_min_max_over_profiles_and_runs_at_several_shapes(range_plugins_lib, rng, tmp_path):
    engine = build("RangeRecorder")
    for shape, info in zip([(1, 2, 3, 4), (2, 2, 5, 7), (3, 2, 9, 20), (2, 2, 6, 11)], run_shapes(engine, rng)):
        assert info.tolist() == [[1, 2, 3, 4], [3, 2, 9, 20], list(shape)]
    # The workspace is the plugin's need at the max: the volume of (3, 2, 9, 20) in floats.
    assert engine.layer_info()["memory"]["workspace_bytes"] >= 3 * 2 * 9 * 20 * 4
    # A loaded engine configures its kernels again with the same ranges.
    path = tmp_path / "rec.gie"
    engine.save(path)
    loaded = gie.Runtime().load(path)
    info = run_shapes(loaded, rng)[2]
    assert info.tolist() == [[1, 2, 3, 4], [3, 2, 9, 20], [3, 2, 9, 20]]


def test_cpp_plugin_workspace_grows_with_the_profile(range_plugins_lib):
    small = build("RangeRecorder", [{"x": ((1, 2, 3, 4), (1, 2, 3, 4), (1, 2, 4, 8))}])
    large = build("RangeRecorder", [{"x": ((1, 2, 3, 4), (1, 2, 3, 4), (2, 2, 16, 32))}])
    assert small.layer_info()["memory"]["workspace_bytes"] >= 2 * 4 * 8 * 4
    assert large.layer_info()["memory"]["workspace_bytes"] >= 2 * 2 * 16 * 32 * 4
    # A limit between the two needs: the small profile builds, the large one is refused naming the layer.
    limit = 2 * 2 * 16 * 32 * 4 - 1
    build("RangeRecorder", [{"x": ((1, 2, 3, 4), (1, 2, 3, 4), (1, 2, 4, 8))}], workspace_limit=limit)
    with pytest.raises(gie.Error, match="layer 'rec'.*workspace"):
        build("RangeRecorder", [{"x": ((1, 2, 3, 4), (1, 2, 3, 4), (2, 2, 16, 32))}], workspace_limit=limit)


class PyRangeRecorder(gie.Plugin):
    """Python twin of RangeRecorder: y = pair sums along the last dimension; records what configure was given."""
    name = "PyRangeRecorder"
    configured = []  # (inputs, outputs) of every configure call, class-wide: the engine holds clones

    def output_shapes(self, input_shapes):
        s = input_shapes[0]
        return [s[:-1] + ((s[-1] + 1) // 2,)]

    def configure(self, inputs, outputs):
        PyRangeRecorder.configured.append((inputs, outputs))

    def enqueue(self, inputs, outputs, stream):
        outputs[0][...] = pair_sums(inputs[0])


def test_python_plugin_gets_min_max_over_profiles(rng, tmp_path):
    gie.register_plugin(PyRangeRecorder)
    PyRangeRecorder.configured.clear()
    engine = build("PyRangeRecorder")
    run_shapes(engine, rng)
    ins, outs = PyRangeRecorder.configured[-1]
    assert ins[0].min == (1, 2, 3, 4) and ins[0].max == (3, 2, 9, 20) and ins[0].shape == (3, 2, 9, 20)
    assert ins[0].dtype == np.float32 and ins[0].format == "linear"
    assert outs[0].min == (1, 2, 3, 2) and outs[0].max == (3, 2, 9, 10)
    path = tmp_path / "py.gie"
    engine.save(path)
    PyRangeRecorder.configured.clear()
    run_shapes(gie.Runtime().load(path), rng)
    assert [(d.min, d.max) for d in PyRangeRecorder.configured[-1][0]] == [((1, 2, 3, 4), (3, 2, 9, 20))]


def test_python_plugin_configure_error_names_the_layer():
    class Refuses(gie.Plugin):
        name = "PyRefusesRange"

        def configure(self, inputs, outputs):
            if inputs[0].max[-1] > 8:
                raise ValueError(f"width up to {inputs[0].max[-1]} is more than 8")

        def enqueue(self, inputs, outputs, stream):
            outputs[0][...] = inputs[0]

    gie.register_plugin(Refuses)
    build("PyRefusesRange", [{"x": ((1, 2, 3, 4), (1, 2, 3, 4), (1, 2, 4, 8))}])
    with pytest.raises(gie.Error, match=r"rec.*configure.*width up to 16 is more than 8"):
        build("PyRefusesRange", [{"x": ((1, 2, 3, 4), (1, 2, 3, 4), (1, 2, 4, 16))}])


# ---- tactics timed at every profile's opt shapes, chosen per profile (issue 15) -----------------------------

def test_tactics_are_timed_at_every_profile_and_each_runs_its_fastest(range_plugins_lib, rng):
    """ShapeTactics' "per_element" is the faster at profile 0's small opt shape and far slower at profile 1's large
    one ("fixed" has the least total): profile 0 runs "per_element", profile 1 "fixed", as TensorRT chooses per profile.
    (tests/test_per_profile_tactics.py forces the choice through the timing cache and checks which tactic ran.)"""
    profiles = [{"x": ((1, 2, 1, 4), (1, 2, 4, 8), (2, 2, 8, 8))},
                {"x": ((1, 2, 32, 32), (4, 2, 96, 96), (4, 2, 96, 96))}]
    engine = build("ShapeTactics", profiles)
    (k,) = [k for k in engine.layer_info()["kernels"] if k["name"] == "rec"]
    assert k["tactic"] == "per_element" and k["profile_tactics"] == ["per_element", "fixed"], k
    (note,) = [n for n in k["notes"] if n.startswith("tactic times at the profiles' opt shapes")]
    for tactic in ("per_element", "fixed"):
        times = re.search(rf"'{tactic}' ([0-9.e+-]+) \+ ([0-9.e+-]+) = ([0-9.e+-]+)", note)
        assert times, note
        p0, p1, total = (float(v) for v in times.groups())
        assert abs(p0 + p1 - total) <= 1e-3 * total + 1e-3, note
        if tactic == "per_element":
            assert p1 > 10, note  # 0.2 us x 73728 elements at profile 1's opt
    ctx = engine.create_execution_context()
    for profile, shape in [(0, (2, 2, 3, 8)), (1, (3, 2, 40, 50))]:
        ctx.set_optimization_profile(profile)
        x = rng.standard_normal(shape).astype(np.float32)
        np.testing.assert_array_equal(ctx.execute({"x": x})["y"], 2 * x)


def test_one_profile_has_no_per_profile_note(range_plugins_lib):
    engine = build("ShapeTactics", [{"x": ((1, 2, 1, 4), (1, 2, 4, 8), (2, 2, 8, 8))}])
    (k,) = [k for k in engine.layer_info()["kernels"] if k["name"] == "rec"]
    assert k["tactic"] == "per_element" and not any(n.startswith("tactic times") for n in k["notes"]), k
