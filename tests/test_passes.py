"""Optimizer passes: results with every pass equal results with the passes off, and the report says
what was fused (source_layers) and what was declined (notes)."""
import numpy as np
import pytest

import gie
from util import assert_close

FUSION_PASSES = ("fold_scale", "fuse_epilogue")


def _build(define, x_shape, passes_off=(), max_batch=3, seed=0):
    """define(net, x, rng) draws its weights from rng, so two builds with one seed are the same network."""
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (1,) + tuple(x_shape))
    outs = define(net, x, np.random.default_rng(seed))
    for i, t in enumerate(outs if isinstance(outs, (list, tuple)) else [outs]):
        net.mark_output(t, f"out{i}")
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = max_batch
    for p in passes_off:
        config.set_pass_enabled(p, False)
    return builder.build(net, config)


def _compare(define, x_shape, rng, batch=2, rtol=1e-4):
    seed = int(rng.integers(1 << 31))
    fused = _build(define, x_shape, seed=seed)
    plain = _build(define, x_shape, passes_off=FUSION_PASSES, seed=seed)
    x = rng.standard_normal((batch,) + tuple(x_shape)).astype(np.float32)
    a = fused.create_execution_context().execute({"x": x})
    b = plain.create_execution_context().execute({"x": x})
    for k in b:
        assert_close(a[k], b[k], rtol=rtol, atol=1e-4, what=k)
    return fused, plain


def _bn(net, t, c, rng, name):
    gamma = rng.uniform(0.5, 1.5, c).astype(np.float32)
    beta = rng.standard_normal(c).astype(np.float32)
    mean = rng.standard_normal(c).astype(np.float32)
    var = rng.uniform(0.5, 2.0, c).astype(np.float32)
    scale = gamma / np.sqrt(var + 1e-5)
    layer = net.add_scale(t, gie.ScaleMode.CHANNEL, shift=beta - mean * scale, scale=scale)
    layer.name = name
    return layer


def _kernel_of(info, layer):
    hits = [k for k in info["kernels"] if layer in k["source_layers"]]
    assert len(hits) == 1, f"layer {layer} in {len(hits)} kernels"
    return hits[0]


@pytest.mark.parametrize("groups", [1, 3])
def test_conv_bn_relu_becomes_one_kernel(rng, groups):
    def define(net, x, rng):
        w = rng.standard_normal((6, 6 // groups, 3, 3)).astype(np.float32) * 0.3
        conv = net.add_convolution(x, 6, (3, 3), w, rng.standard_normal(6).astype(np.float32), padding=1, num_groups=groups)
        conv.name = "conv"
        bn = _bn(net, conv.output(0), 6, rng, "bn")
        relu = net.add_activation(bn.output(0), gie.ActivationType.RELU)
        relu.name = "relu"
        return relu.output(0)

    fused, plain = _compare(define, (6, 9, 7), rng)
    info = fused.layer_info()
    assert fused.num_kernels == 1 and plain.num_kernels == 3
    k = _kernel_of(info, "conv")
    assert k["source_layers"] == ["conv", "bn", "relu"]
    assert any("fold_scale" in p for p in info["passes"]) and any("fuse_epilogue" in p for p in info["passes"])


def test_residual_block_fuses_add_and_relu(rng):
    def define(net, x, rng):
        w1 = rng.standard_normal((8, 8, 3, 3)).astype(np.float32) * 0.2
        w2 = rng.standard_normal((8, 8, 1, 1)).astype(np.float32) * 0.2
        c1 = net.add_convolution(x, 8, (3, 3), w1, None, padding=1)
        c1.name = "c1"
        r1 = net.add_activation(c1.output(0), gie.ActivationType.RELU)
        c2 = net.add_convolution(r1.output(0), 8, (1, 1), w2, rng.standard_normal(8).astype(np.float32))
        c2.name = "c2"
        bn = _bn(net, c2.output(0), 8, rng, "bn2")
        add = net.add_elementwise(bn.output(0), x, gie.ElementWiseOperation.SUM)
        add.name = "add"
        out = net.add_activation(add.output(0), gie.ActivationType.RELU)
        out.name = "relu_out"
        return out.output(0)

    fused, plain = _compare(define, (8, 5, 6), rng)
    assert fused.num_kernels == 2 and plain.num_kernels == 6
    k = _kernel_of(fused.layer_info(), "c2")
    assert k["source_layers"] == ["c2", "bn2", "add", "relu_out"]
    assert len(k["inputs"]) == 2  # data and residual


def test_unfusable_activation_is_reported(rng):
    def define(net, x, rng):
        w = rng.standard_normal((4, 3, 1, 1)).astype(np.float32)
        conv = net.add_convolution(x, 4, (1, 1), w)
        conv.name = "conv"
        act = net.add_activation(conv.output(0), gie.ActivationType.SOFTSIGN)
        act.name = "softsign"
        return act.output(0)

    fused, _ = _compare(define, (3, 4, 4), rng)
    info = fused.layer_info()
    assert fused.num_kernels == 2
    notes = _kernel_of(info, "softsign")["notes"]
    assert any("not fused" in n and "conv" in n for n in notes), notes


def test_shared_output_is_not_fused(rng):
    def define(net, x, rng):
        w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
        conv = net.add_convolution(x, 4, (3, 3), w)
        relu = net.add_activation(conv.output(0), gie.ActivationType.RELU)
        tanh = net.add_activation(conv.output(0), gie.ActivationType.TANH)
        return [relu.output(0), tanh.output(0)]

    fused, _ = _compare(define, (3, 6, 6), rng)
    assert fused.num_kernels == 3


@pytest.mark.parametrize("act", [gie.ActivationType.LEAKY_RELU, gie.ActivationType.SIGMOID, gie.ActivationType.RELU6,
                                 gie.ActivationType.SELU, gie.ActivationType.HARD_SWISH, gie.ActivationType.GELU,
                                 gie.ActivationType.CLIP, gie.ActivationType.ELU, gie.ActivationType.MISH])
def test_fc_and_conv_epilogue_activations(rng, act):
    def define(net, x, rng):
        conv = net.add_convolution(x, 5, (3, 3), rng.standard_normal((5, 3, 3, 3)).astype(np.float32), None, stride=2)
        a1 = net.add_activation(conv.output(0), act)
        fc = net.add_fully_connected(a1.output(0), 7, rng.standard_normal((7, 5 * 3 * 3)).astype(np.float32),
                                     rng.standard_normal(7).astype(np.float32))
        a2 = net.add_activation(fc.output(0), act)
        return a2.output(0)

    fused, _ = _compare(define, (3, 7, 7), rng, batch=3)
    assert fused.num_kernels == 2


def test_scale_into_fc_and_scale_into_scale(rng):
    def define(net, x, rng):
        s1 = net.add_scale(x, gie.ScaleMode.CHANNEL, shift=rng.standard_normal(3).astype(np.float32),
                           scale=rng.standard_normal(3).astype(np.float32))
        s2 = net.add_scale(s1.output(0), gie.ScaleMode.UNIFORM, shift=np.array([0.5], np.float32),
                           scale=np.array([-2.0], np.float32))
        fc = net.add_fully_connected(s2.output(0), 4, rng.standard_normal((4, 3 * 2 * 2)).astype(np.float32))
        bn = _bn(net, fc.output(0), 4, rng, "bn_fc")
        return bn.output(0)

    fused, plain = _compare(define, (3, 2, 2), rng)
    assert fused.num_kernels == 2 and plain.num_kernels == 4


def test_deconv_bn_folds(rng):
    def define(net, x, rng):
        w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.3  # (C, K/groups, R, S), groups 2: K = 6
        d = net.add_deconvolution(x, 6, (3, 3), w, rng.standard_normal(6).astype(np.float32), stride=2, num_groups=2)
        bn = _bn(net, d.output(0), 6, rng, "bn")
        return bn.output(0)

    fused, plain = _compare(define, (4, 3, 5), rng)
    assert fused.num_kernels == 1 and plain.num_kernels == 2


def test_power_scale_is_not_folded(rng):
    def define(net, x, rng):
        conv = net.add_convolution(x, 3, (1, 1), rng.standard_normal((3, 3, 1, 1)).astype(np.float32))
        s = net.add_scale(conv.output(0), gie.ScaleMode.UNIFORM, scale=np.array([2.0], np.float32),
                          power=np.array([2.0], np.float32))
        s.name = "sq"
        return s.output(0)

    fused, _ = _compare(define, (3, 4, 4), rng)
    assert fused.num_kernels == 2
    assert any("power" in n for n in _kernel_of(fused.layer_info(), "sq")["notes"])
