"""gie.Refitter (issue 18): new weights for a refittable engine, without choosing kernels or tactics again.

Each refit is compared with an engine built from scratch on the new weights: the same kernels and tactics run, so the
outputs agree to rounding; the build report of the refitted engine is the original's, weights aside."""
import numpy as np
import pytest

import gie

RNG = np.random.default_rng(7)


def _conv_bn_relu_weights(seed):
    r = np.random.default_rng(seed)
    f = lambda *s: r.standard_normal(s).astype(np.float32) * 0.3  # noqa: E731
    return {"conv1.kernel": f(8, 3, 3, 3), "conv1.bias": f(8), "bn1.scale": 1 + f(8), "bn1.shift": f(8),
            "a.kernel": f(4, 8, 1, 1), "a.bias": f(4), "b.kernel": f(4, 8, 1, 1), "b.bias": f(4),
            "ca.kernel": f(4, 4, 3, 3), "cb.kernel": f(4, 4, 3, 3)}


def _conv_bn_relu(net, w, channels=8):
    """conv 3x3 -> per-channel scale (a BatchNorm, folded into the convolution) -> ReLU -> two sibling 1x1
    convolutions a, b (merged into one by horizontal fusion) -> 3x3 convolutions ca(a) * cb(b)."""
    x = net.add_input("x", gie.float32, (2, 3, 10, 10))
    c = net.add_convolution(x, channels, (3, 3), w["conv1.kernel"], w["conv1.bias"], padding=(1, 1))
    c.name = "conv1"
    bn = net.add_scale(c.output(0), gie.ScaleMode.CHANNEL, shift=w["bn1.shift"], scale=w["bn1.scale"])
    bn.name = "bn1"
    r = net.add_activation(bn.output(0), gie.ActivationType.RELU)
    r.name = "relu1"
    a = net.add_convolution(r.output(0), 4, (1, 1), w["a.kernel"], w["a.bias"])
    a.name = "a"
    b = net.add_convolution(r.output(0), 4, (1, 1), w["b.kernel"], w["b.bias"])
    b.name = "b"
    ca = net.add_convolution(a.output(0), 4, (3, 3), w["ca.kernel"])
    ca.name = "ca"
    cb = net.add_convolution(b.output(0), 4, (3, 3), w["cb.kernel"])
    cb.name = "cb"
    prod = net.add_elementwise(ca.output(0), cb.output(0), gie.ElementWiseOperation.PROD)
    prod.name = "prod"
    net.mark_output(prod.output(0), "y")
    return net


def _fc_weights(seed):
    r = np.random.default_rng(seed)
    return {"fc1.kernel": r.standard_normal((16, 12)).astype(np.float32), "fc1.bias": r.standard_normal(16).astype(np.float32),
            "fc2.kernel": r.standard_normal((5, 16)).astype(np.float32), "fc2.bias": r.standard_normal(5).astype(np.float32)}


def _fc(net, w):
    x = net.add_input("x", gie.float32, (3, 12))
    f1 = net.add_fully_connected(x, 16, w["fc1.kernel"], w["fc1.bias"])
    f1.name = "fc1"
    r = net.add_activation(f1.output(0), gie.ActivationType.RELU)
    r.name = "relu"
    f2 = net.add_fully_connected(r.output(0), 5, w["fc2.kernel"], w["fc2.bias"])
    f2.name = "fc2"
    net.mark_output(f2.output(0), "y")
    return net


def _build(define, w, device="cpu", refittable=True, fp16=False, passes_off=()):
    b = gie.Builder()
    c = b.create_config()
    c.device = device
    c.refittable = refittable
    c.fp16 = fp16
    c.max_batch = 4
    for p in passes_off:
        c.set_pass_enabled(p, False)
    return b.build(define(b.create_network(), w), c)


def _network(define, w):
    return define(gie.Builder().create_network(), w)


def _run(engine, x):
    return engine.create_execution_context().execute({"x": x})["y"]


def _kernels(engine):
    return [(k["name"], k["type"], k["tactic"], k["variant"], k["dtype"], k["format"]) for k in engine.layer_info()["kernels"]]


@pytest.mark.parametrize("fp16", [False, True])
def test_refit_folded_network_from_whole_network(fp16):
    old, new = _conv_bn_relu_weights(1), _conv_bn_relu_weights(2)
    engine = _build(_conv_bn_relu, old, fp16=fp16)
    notes = [n for k in engine.layer_info()["kernels"] for n in k["notes"]]
    assert any("computed by the optimizer from layers 'conv1', 'bn1'" in n for n in notes), notes  # BatchNorm folded
    assert any("'a', 'b'" in n and "computed by the optimizer" in n for n in notes), notes  # siblings merged
    report = engine.layer_info()
    x = RNG.standard_normal((2, 3, 10, 10)).astype(np.float32)
    before = _run(engine, x)
    old_ctx = engine.create_execution_context()
    gie.Refitter(engine).set_network(_network(_conv_bn_relu, new)).refit()
    fresh = _build(_conv_bn_relu, new, fp16=fp16)
    got, want = _run(engine, x), _run(fresh, x)
    assert np.abs(want - before).max() > 0.1  # the weights do change the result
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert engine.layer_info() == report  # kernels, tactics, formats, memory plan, notes: all as built
    np.testing.assert_array_equal(old_ctx.execute({"x": x})["y"], before)  # a context made before keeps the old weights


def test_refit_fc_by_layer_name_saves_and_reloads(tmp_path):
    old, new = _fc_weights(1), _fc_weights(2)
    engine = _build(_fc, old)
    kernels = _kernels(engine)
    r = gie.Refitter(engine)
    for layer in ("fc1", "fc2"):
        r.set_weights(layer, "kernel", new[layer + ".kernel"])
        r.set_weights(layer, "bias", new[layer + ".bias"])
    r.refit()
    x = RNG.standard_normal((3, 12)).astype(np.float32)
    want = _run(_build(_fc, new), x)
    np.testing.assert_allclose(_run(engine, x), want, rtol=1e-5, atol=1e-5)
    assert _kernels(engine) == kernels
    engine.save(tmp_path / "fc.gie")
    loaded = gie.Runtime().load(tmp_path / "fc.gie")
    np.testing.assert_allclose(_run(loaded, x), want, rtol=1e-5, atol=1e-5)
    # A reloaded engine is still refittable (the flag is in the file): back to the old weights.
    gie.Refitter(loaded).set_network(_network(_fc, old)).refit()
    np.testing.assert_allclose(_run(loaded, x), _run(_build(_fc, old), x), rtol=1e-5, atol=1e-5)


def test_refit_only_the_named_layer():
    old = _fc_weights(1)
    engine = _build(_fc, old)
    x = RNG.standard_normal((3, 12)).astype(np.float32)
    mixed = dict(old, **{"fc2.bias": old["fc2.bias"] + 1})
    gie.Refitter(engine).set_weights("fc2", "bias", mixed["fc2.bias"]).refit()
    np.testing.assert_allclose(_run(engine, x), _run(_build(_fc, mixed), x), rtol=1e-5, atol=1e-5)


def test_refit_refusals():
    w = _fc_weights(1)
    plain = _build(_fc, w, refittable=False)
    with pytest.raises(gie.InvalidArgumentError, match="not built refittable.*refittable = True"):
        gie.Refitter(plain)
    engine = _build(_fc, w)
    r = gie.Refitter(engine)
    with pytest.raises(gie.InvalidArgumentError, match=r"no kernel holding the weights of a layer named 'fc3'.*'fc1', 'fc2'"):
        r.set_weights("fc3", "kernel", np.zeros(3))
    with pytest.raises(gie.InvalidArgumentError, match=r"layer 'fc1' field 'kernel': 3 values given, the engine's has 192 \(a shape mismatch\)"):
        r.set_weights("fc1", "kernel", np.zeros(3))
    with pytest.raises(gie.InvalidArgumentError, match=r"layer 'fc1' .* no FP32 weight field 'gamma' \(its weights: kernel, bias"):
        r.set_weights("fc1", "gamma", np.zeros(3))
    # Another architecture: fc1 with 17 outputs.
    other = dict(w, **{"fc1.kernel": np.zeros((17, 12), np.float32), "fc1.bias": np.zeros(17, np.float32)})

    def wider(net, w):
        x = net.add_input("x", gie.float32, (3, 12))
        f1 = net.add_fully_connected(x, 17, w["fc1.kernel"], w["fc1.bias"])
        f1.name = "fc1"
        f2 = net.add_fully_connected(f1.output(0), 5, np.zeros((5, 17), np.float32), w["fc2.bias"])
        f2.name = "fc2"
        net.mark_output(f2.output(0), "y")
        return net

    with pytest.raises(gie.InvalidModelError, match="kernel 'fc1'"):
        r.set_network(_network(wider, other))
    # A refused refit changes nothing.
    x = RNG.standard_normal((3, 12)).astype(np.float32)
    np.testing.assert_array_equal(_run(engine, x), _run(_build(_fc, w), x))


def test_refit_folded_layer_by_name_is_refused():
    engine = _build(_conv_bn_relu, _conv_bn_relu_weights(1))
    r = gie.Refitter(engine)
    with pytest.raises(gie.InvalidArgumentError, match=r"layer 'bn1': the optimizer combined its weights .*'conv1', 'bn1'.*whole network"):
        r.set_weights("bn1", "scale", np.ones(8))
    with pytest.raises(gie.InvalidArgumentError, match=r"layer 'conv1': the optimizer combined"):
        r.set_weights("conv1", "kernel", np.ones(8 * 27))
    with pytest.raises(gie.InvalidModelError, match="kernel 'conv1'.*shape mismatch|kernel 'conv1'"):
        w = _conv_bn_relu_weights(1)
        w = dict(w, **{"conv1.kernel": np.ones((6, 3, 3, 3), np.float32), "conv1.bias": np.ones(6, np.float32),
                       "bn1.scale": np.ones(6, np.float32), "bn1.shift": np.ones(6, np.float32),
                       "a.kernel": np.ones((4, 6, 1, 1), np.float32), "b.kernel": np.ones((4, 6, 1, 1), np.float32)})
        r.set_network(_network(lambda net, w: _conv_bn_relu(net, w, channels=6), w))


@pytest.mark.gpu
def test_refit_gpu():
    old, new = _conv_bn_relu_weights(1), _conv_bn_relu_weights(2)
    engine = _build(_conv_bn_relu, old, device="gpu")
    report = engine.layer_info()
    gie.Refitter(engine).set_network(_network(_conv_bn_relu, new)).refit()
    x = RNG.standard_normal((2, 3, 10, 10)).astype(np.float32)
    np.testing.assert_allclose(_run(engine, x), _run(_build(_conv_bn_relu, new, device="gpu"), x), rtol=1e-4, atol=1e-4)
    assert engine.layer_info() == report


def test_refit_keeps_the_passes_the_engine_was_built_without():
    old, new = _conv_bn_relu_weights(1), _conv_bn_relu_weights(2)
    b = gie.Builder()
    c = b.create_config()
    c.device = "cpu"
    c.refittable = True
    c.max_batch = 4
    c.set_pass_enabled("fold_scale", False)
    engine = b.build(_conv_bn_relu(b.create_network(), old), c)
    assert "bn1" in [k["name"] for k in engine.layer_info()["kernels"]]  # not folded
    # The refit re-runs the passes the build ran: with fold_scale, 'bn1' would have no kernel to go to.
    gie.Refitter(engine).set_network(_network(_conv_bn_relu, new)).refit()
    r = gie.Refitter(engine)
    r.set_weights("bn1", "scale", new["bn1.scale"])  # unfolded: its own kernel holds its weights as given
    c2 = b.create_config()
    c2.device = "cpu"
    c2.max_batch = 4
    c2.set_pass_enabled("fold_scale", False)
    x = RNG.standard_normal((2, 3, 10, 10)).astype(np.float32)
    want = _run(b.build(_conv_bn_relu(b.create_network(), new), c2), x)
    np.testing.assert_allclose(_run(r.refit(), x), want, rtol=1e-5, atol=1e-5)


def _matmul_constant(net, w):
    x = net.add_input("x", gie.float32, (3, 12))
    c = net.add_constant(w.shape, w)
    c.name = "w"
    m = net.add_matrix_multiply(x, c.output(0))
    m.name = "mm"
    net.mark_output(m.output(0), "y")
    return net


@pytest.mark.parametrize("fp16", [False, True])
def test_refit_constant_tensors(fp16):
    """Engine constants (here a MatrixMultiply operand, kept one with matmul_to_fully_connected off; with FP16, the half
    copy the builder converted) take the new network's values; another shape is refused naming the constant."""
    old, new = RNG.standard_normal((12, 5)).astype(np.float32), RNG.standard_normal((12, 5)).astype(np.float32)
    off = ("matmul_to_fully_connected",)
    engine = _build(_matmul_constant, old, fp16=fp16, passes_off=off)
    assert "MatrixMultiply" in [k[1] for k in _kernels(engine)]
    gie.Refitter(engine).set_network(_network(_matmul_constant, new)).refit()
    x = RNG.standard_normal((3, 12)).astype(np.float32)
    np.testing.assert_array_equal(_run(engine, x), _run(_build(_matmul_constant, new, fp16=fp16, passes_off=off), x))
    with pytest.raises(gie.InvalidModelError, match="constant '.*'"):
        gie.Refitter(engine).set_network(_network(_matmul_constant, np.zeros((12, 6), np.float32)))


def test_cpp_refit_api():
    from test_reformat import run_cpp_program

    run_cpp_program("test_refit_api")
