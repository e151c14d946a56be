"""INT8 in the precision and format negotiation (docs/int8.md, docs/optimizer.md): which layers become INT8 (those
with an INT8 kernel whose tensors have ranges), the quantize / dequantize Reformats inserted at the edges, tensors
without ranges staying float (with a warning that counts them), precision constraints (set_precision(INT8),
set_output_type(INT8), FLOAT pins) under OBEY / PREFER, and the GPU building INT8 like the CPU."""
import logging

import numpy as np
import pytest

import gie

F32 = np.float32


AMAX = {"x": 4.5, "c1": 12.0, "c2": 12.0}  # wide enough that nothing saturates for these weights


def make_chain(rng, ranges=("x", "c1", "c2"), softmax=True):
    """x -> conv1 + ReLU -> conv2 -> [softmax]; ranges (AMAX) on the named tensors. Returns (builder, net, layers)."""
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (2, 3, 8, 8))
    w1 = (rng.standard_normal((5, 3, 3, 3)) * 0.3).astype(F32)
    w2 = (rng.standard_normal((4, 5, 3, 3)) * 0.3).astype(F32)
    c1 = net.add_convolution(x, 5, (3, 3), w1, np.zeros(5, F32), padding=(1, 1))
    r1 = net.add_activation(c1.output(0), gie.ActivationType.RELU)
    c2 = net.add_convolution(r1.output(0), 4, (3, 3), w2, np.zeros(4, F32), padding=(1, 1))
    out = c2.output(0)
    layers = {"c1": c1, "r1": r1, "c2": c2}
    if softmax:
        sm = net.add_softmax(out)
        layers["sm"] = sm
        out = sm.output(0)
    net.mark_output(out, "y")
    tensors = {"x": x, "c1": r1.output(0), "c2": c2.output(0)}
    for name in ranges:
        tensors[name].set_dynamic_range(-AMAX[name], AMAX[name])
    return builder, net, layers


def build(builder, net, *, int8=True, flag=None, device="cpu"):
    config = builder.create_config()
    config.device = device
    config.max_batch = 2
    config.int8 = int8
    if flag is not None:
        config.set_flag(flag)
    return builder.build(net, config)


def kernels(engine):
    return [(k["name"], k["type"], k["precision"]) for k in engine.layer_info()["kernels"]]


def reformat_notes(engine):
    return [n for k in engine.layer_info()["kernels"] if k["type"] == "Reformat" for n in k["notes"] if n.startswith("inserted")]


def run(engine, x):
    return engine.create_execution_context().execute({"x": x})["y"]


def test_layers_with_ranges_become_int8_and_reformats_quantize_at_the_edges(rng):
    builder, net, _ = make_chain(rng)
    engine = build(builder, net)
    ks = kernels(engine)
    assert [(t, p) for _, t, p in ks] == [("Reformat", "float32"), ("Convolution", "int8"), ("Convolution", "int8"),
                                          ("Softmax", "float32")], ks
    # quantize the input; conv1 writes INT8 for conv2 (no Reformat between them); conv2 writes FLOAT for the softmax
    assert reformat_notes(engine) == [n for n in reformat_notes(engine) if "float32 LINEAR -> int8 LINEAR" in n]
    assert len(reformat_notes(engine)) == 1
    x = np.clip(rng.standard_normal((2, 3, 8, 8)), -4.5, 4.5).astype(F32)
    y8, y32 = run(engine, x), run(build(builder, net, int8=False), x)
    assert np.abs(y8 - y32).max() < 0.15  # softmax probabilities (of 4 classes) of a network whose ranges hold


def test_without_the_flag_ranges_change_nothing(rng):
    builder, net, _ = make_chain(rng)
    assert all(p == "float32" for _, _, p in kernels(build(builder, net, int8=False)))


def test_tensors_without_ranges_stay_float_with_a_warning(rng, caplog):
    builder, net, _ = make_chain(rng, ranges=("c1", "c2"))  # no range on the input: conv1 stays FP32
    with caplog.at_level(logging.WARNING, logger="gie"):
        engine = build(builder, net)
    ks = {n: p for n, _, p in kernels(engine)}
    assert ks["Convolution_0"] == "float32" and ks["Convolution_2"] == "int8", ks
    msgs = [r.getMessage() for r in caplog.records if "no dynamic range" in r.getMessage()]
    assert len(msgs) == 1 and "2 of 4 float tensors" in msgs[0] and "'x'" in msgs[0], msgs


def test_no_ranges_at_all_warns_that_the_engine_has_no_int8(rng, caplog):
    builder, net, _ = make_chain(rng, ranges=())
    with caplog.at_level(logging.WARNING, logger="gie"):
        engine = build(builder, net)
    assert all(p == "float32" for _, _, p in kernels(engine))
    msgs = [r.getMessage() for r in caplog.records if "no kernel was chosen in INT8" in r.getMessage()]
    assert len(msgs) == 1 and "has ranges on its tensors" in msgs[0], msgs


@pytest.mark.gpu
def test_gpu_int8_losing_on_timing_is_not_called_missing_ranges(rng, caplog):
    # On the GPU INT8 competes with FP32/FP16 by timing: with every tensor ranged, an engine without INT8 kernels
    # must say that timing chose otherwise (an H100 ResNet-50 once got the "no ranges" wording for that case).
    builder, net, _ = make_chain(rng, softmax=False)
    with caplog.at_level(logging.WARNING, logger="gie"):
        engine = build(builder, net, device="gpu")
    msgs = [r.getMessage() for r in caplog.records if "no kernel was chosen in INT8" in r.getMessage()]
    if any(p == "int8" for _, _, p in kernels(engine)):
        assert not msgs, msgs
    else:
        assert len(msgs) == 1 and "timing" in msgs[0] and "has ranges on its tensors" not in msgs[0], msgs


def test_obey_int8_precision_without_a_range_fails_naming_the_layer_and_tensor(rng):
    builder, net, layers = make_chain(rng, ranges=("c1", "c2"))
    layers["c1"].precision = gie.int8
    with pytest.raises(gie.UnsupportedError, match=r"Convolution_0.*precision int8.*input 'x' has no dynamic range"):
        build(builder, net, flag=gie.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)


def test_obey_int8_convolution_reads_a_float_residual_without_a_range(rng):
    """A convolution pinned INT8 (OBEY) whose fused residual has no range: the INT8 kernel reads the residual as
    float (it supports that) instead of the build failing for the residual; the result stays within INT8 error of
    the float engine. The input without a range is still refused (test above)."""
    def define():
        builder = gie.Builder()
        net = builder.create_network()
        x = net.add_input("x", gie.float32, (2, 3, 8, 8))
        r = net.add_input("r", gie.float32, (2, 5, 8, 8))
        w = (np.random.default_rng(7).standard_normal((5, 3, 3, 3)) * 0.3).astype(F32)
        conv = net.add_convolution(x, 5, (3, 3), w, np.zeros(5, F32), padding=(1, 1))
        conv.precision = gie.int8
        add = net.add_elementwise(conv.output(0), r, gie.ElementWiseOperation.SUM)
        act = net.add_activation(add.output(0), gie.ActivationType.RELU)
        net.mark_output(act.output(0), "y")
        x.set_dynamic_range(-4.5, 4.5)
        act.output(0).set_dynamic_range(-12.0, 12.0)
        return builder, net

    feeds = {"x": rng.standard_normal((2, 3, 8, 8)).astype(F32), "r": rng.standard_normal((2, 5, 8, 8)).astype(F32)}
    engine = build(*define(), flag=gie.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    ks = kernels(engine)
    assert [p for _, t, p in ks if t == "Convolution"] == ["int8"] and not [k for k in ks if k[1] == "ElementWise"], ks
    y = engine.create_execution_context().execute(feeds)["y"]
    ref = build(*define(), int8=False).create_execution_context().execute(feeds)["y"]
    np.testing.assert_allclose(y, ref, rtol=0, atol=0.15)


def test_prefer_int8_precision_without_a_range_warns_and_builds_float(rng, caplog):
    builder, net, layers = make_chain(rng, ranges=("c1", "c2"))
    layers["c1"].precision = gie.int8
    with caplog.at_level(logging.WARNING, logger="gie"):
        engine = build(builder, net, flag=gie.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
    assert dict((n, p) for n, _, p in kernels(engine))["Convolution_0"] == "float32"
    assert any("Convolution_0" in r.getMessage() and "preferred" in r.getMessage() for r in caplog.records)


def test_float_precision_pin_keeps_a_layer_fp32_under_int8(rng):
    builder, net, layers = make_chain(rng)
    layers["c2"].precision = gie.float32
    engine = build(builder, net, flag=gie.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    ks = {n: p for n, _, p in kernels(engine)}
    assert ks["Convolution_0"] == "int8" and ks["Convolution_2"] == "float32", ks
    # conv1 now writes FLOAT for its FP32 consumer rather than INT8 plus a dequantizing Reformat
    assert len(reformat_notes(engine)) == 1


def test_int8_precision_pin_without_the_int8_flag(rng):
    """Like FP16, a layer pinned to INT8 runs INT8 under OBEY even without config.int8 (its tensors have ranges)."""
    builder, net, layers = make_chain(rng)
    layers["c2"].precision = gie.int8
    engine = build(builder, net, int8=False, flag=gie.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    ks = {n: p for n, _, p in kernels(engine)}
    assert ks["Convolution_0"] == "float32" and ks["Convolution_2"] == "int8", ks


def test_obey_int8_output_type(rng):
    builder, net, layers = make_chain(rng, softmax=False)
    layers["c2"].set_output_type(0, gie.int8)
    engine = build(builder, net, flag=gie.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    notes = reformat_notes(engine)
    assert any("int8 LINEAR -> float32 LINEAR" in n for n in notes), notes  # the network output is dequantized
    conv2 = [k for k in engine.layer_info()["kernels"] if k["name"] == "Convolution_2"][0]
    assert conv2["precision"] == "int8" and conv2["dtype"] == "int8", conv2


def test_obey_int8_output_type_without_a_range_fails(rng):
    builder, net, layers = make_chain(rng, ranges=("x", "c1"), softmax=False)
    layers["c2"].set_output_type(0, gie.int8)
    with pytest.raises(gie.UnsupportedError, match=r"Convolution_2.*output type int8 is required for output 'y', which has no dynamic range"):
        build(builder, net, flag=gie.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)


def test_flatten_with_one_scale_moves_int8_and_with_two_stays_float(rng):
    def make(flat_amax):
        builder = gie.Builder()
        net = builder.create_network()
        x = net.add_input("x", gie.float32, (3, 4, 2, 2))
        p = net.add_pooling(x, gie.PoolingType.MAX, (1, 1))
        f = net.add_shuffle(p.output(0))
        f.reshape = (0, 16)
        fc = net.add_fully_connected(f.output(0), 5, rng.standard_normal((5, 16)).astype(F32), np.zeros(5, F32))
        net.mark_output(fc.output(0), "y")
        for t, a in ((x, 2.0), (p.output(0), 2.0), (f.output(0), flat_amax)):
            t.set_dynamic_range(-a, a)
        return {k["type"]: k["precision"] for k in build(builder, net).layer_info()["kernels"]}, builder
    same, _ = make(2.0)
    assert same["Shuffle"] == "int8" and same["FullyConnected"] == "int8", same
    other, _ = make(3.0)
    assert other["Shuffle"] == "float32", other  # a byte copy cannot change the scale


def test_int8_engine_save_load_round_trip(rng, tmp_path):
    builder, net, _ = make_chain(rng)
    engine = build(builder, net)
    x = rng.standard_normal((2, 3, 8, 8)).astype(F32)
    path = tmp_path / "int8.gie"
    engine.save(str(path))
    again = gie.Runtime().load(str(path))
    np.testing.assert_array_equal(run(again, x), run(engine, x))
    assert kernels(again) == kernels(engine)


@pytest.mark.gpu
def test_gpu_builds_int8_where_pinned_and_matches_the_cpu(rng, caplog):
    """The GPU has INT8 kernels (dp4a convolution on CHW4): convolutions pinned to INT8 run INT8 there, with no
    "no GPU INT8 kernels" warning, and give the CPU reference's logits (the softmax runs in float on both)."""
    builder, net, layers = make_chain(rng)
    for name in ("c1", "c2"):
        layers[name].precision = gie.int8
    # c2's output has a range, so it may be stored INT8 (then dequantized for the softmax) or float; the engines
    # compare bit for bit only with the same choice, which timing makes per device: pinned float on both.
    layers["c2"].set_output_type(0, gie.float32)
    with caplog.at_level(logging.WARNING, logger="gie"):
        engine = build(builder, net, device="gpu", flag=gie.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    assert [p for _, t, p in kernels(engine) if t == "Convolution"] == ["int8", "int8"], kernels(engine)
    assert not any("no GPU INT8 kernels" in r.getMessage() for r in caplog.records)
    x = rng.standard_normal((2, 3, 8, 8)).astype(F32)
    cpu = build(builder, net, flag=gie.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    layout = [(k["type"], k["tactic"], [(t["dtype"], t["format"]) for t in k["outputs"]]) for k in engine.layer_info()["kernels"]]
    np.testing.assert_allclose(run(engine, x), run(cpu, x), rtol=1e-5, atol=1e-6, err_msg=str(layout))
