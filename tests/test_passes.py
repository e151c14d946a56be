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


@pytest.mark.parametrize("act", ["SOFTSIGN", "SCALED_TANH", "THRESHOLDED_RELU", "GELU_TANH"])
def test_every_activation_fuses(rng, act):
    """The activations that once had no epilogue form fuse too (one formula for all kernels, issue 11 item 13)."""
    def define(net, x, rng):
        w = rng.standard_normal((4, 3, 1, 1)).astype(np.float32)
        conv = net.add_convolution(x, 4, (1, 1), w)
        conv.name = "conv"
        a = net.add_activation(conv.output(0), getattr(gie.ActivationType, act))
        a.name = "act"
        return a.output(0)

    fused, _ = _compare(define, (3, 4, 4), rng)
    assert fused.num_kernels == 1
    assert _kernel_of(fused.layer_info(), "act")["source_layers"] == ["conv", "act"]


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


FUSION_PASSES_ALL = FUSION_PASSES + ("remove_noops", "concat_elimination")


def _compare_all(define, x_shape, rng, batch=2, max_batch=3):
    seed = int(rng.integers(1 << 31))
    opt = _build(define, x_shape, seed=seed, max_batch=max_batch)
    plain = _build(define, x_shape, passes_off=FUSION_PASSES_ALL, seed=seed, max_batch=max_batch)
    for b in sorted({1, batch, max_batch}):
        x = rng.standard_normal((b,) + tuple(x_shape)).astype(np.float32)
        a = opt.create_execution_context().execute({"x": x})
        p = plain.create_execution_context().execute({"x": x})
        for k in p:
            assert_close(a[k], p[k], rtol=1e-4, atol=1e-4, what=f"{k} at batch {b}")
    return opt, plain


def _inception(net, x, rng, c_in, k1=3, k3=5, k5=2, kp=4, name="inc"):
    def conv(t, k, r, pad, nm):
        c = net.add_convolution(t, k, (r, r), rng.standard_normal((k, t.shape[1], r, r)).astype(np.float32) * 0.3,
                                rng.standard_normal(k).astype(np.float32), padding=pad)
        c.name = f"{name}/{nm}"
        return net.add_activation(c.output(0), gie.ActivationType.RELU).output(0)

    b1 = conv(x, k1, 1, 0, "1x1")
    b2 = conv(conv(x, 4, 1, 0, "3x3_reduce"), k3, 3, 1, "3x3")
    b3 = conv(conv(x, 2, 1, 0, "5x5_reduce"), k5, 5, 2, "5x5")
    pool = net.add_pooling(x, gie.PoolingType.MAX, (3, 3), padding=1)
    b4 = conv(pool.output(0), kp, 1, 0, "pool_proj")
    cat = net.add_concatenation([b1, b2, b3, b4])
    cat.name = f"{name}/output"
    return cat.output(0)


def test_inception_concat_is_eliminated(rng):
    def define(net, x, rng):
        a = _inception(net, x, rng, 5, name="inc1")
        return _inception(net, a, rng, 14, name="inc2")

    opt, plain = _compare_all(define, (5, 7, 6), rng)
    info = opt.layer_info()
    assert not [k for k in info["kernels"] if k["type"] in ("Concatenation", "Identity")], "no copy should remain"
    views = [o for k in info["kernels"] for o in k["outputs"] if "view_of" in o]
    parents = {v["view_of"] for v in views}
    assert len(views) == 8 and len(parents) == 2 and "out0" in parents, views
    # Horizontal fusion: the two reduce 1x1 convolutions of each module read their input once; the 1x1
    # branch stays separate because it writes straight into the concatenation (which reads no slices).
    merged = [k for k in info["kernels"] if "+" in k["name"]]
    assert len(merged) == 2 and all(len(k["source_layers"]) == 4 for k in merged), [k["name"] for k in merged]
    assert opt.num_kernels == 12 and plain.num_kernels == 2 * (6 + 6 + 1 + 1)  # convs, relus, pool, concat
    sliced = [i for k in info["kernels"] for i in k["inputs"] if "view_of" in i]
    assert len(sliced) == 4 and all("+" in i["view_of"] for i in sliced)
    assert sum("concat_elimination: removed" in p for p in info["passes"]) == 2
    # The concat buffer is planned once; a slice lives inside it.
    assert info["memory"]["arena_bytes"] <= plain.layer_info()["memory"]["arena_bytes"]


def test_concat_input_read_elsewhere_is_copied(rng):
    def define(net, x, rng):
        c = net.add_convolution(x, 3, (1, 1), rng.standard_normal((3, 2, 1, 1)).astype(np.float32))
        c.name = "shared_conv"
        t = net.add_activation(c.output(0), gie.ActivationType.TANH)
        cat = net.add_concatenation([c.output(0), t.output(0), x])
        cat.name = "cat"
        return cat.output(0)

    opt, _ = _compare_all(define, (2, 3, 3), rng)
    copies = [k for k in opt.layer_info()["kernels"] if k["type"] == "Identity"]
    reasons = " ".join(n for k in copies for n in k["notes"])
    assert len(copies) == 2 and "other layers read it too" in reasons and "network input" in reasons


def test_concat_on_other_axis_is_kept(rng):
    def define(net, x, rng):
        a = net.add_activation(x, gie.ActivationType.TANH)
        b = net.add_activation(x, gie.ActivationType.SIGMOID)
        cat = net.add_concatenation([a.output(0), b.output(0)], axis=2)
        return cat.output(0)

    opt, _ = _compare_all(define, (2, 3, 3), rng)
    kept = [k for k in opt.layer_info()["kernels"] if k["type"] == "Concatenation"]
    assert len(kept) == 1 and any("axis-1" in n for n in kept[0]["notes"])


def test_nested_concat_and_fc_rows(rng):
    def define(net, x, rng):
        flat = net.add_shuffle(x, reshape=(0, -1)).output(0)
        f1 = net.add_fully_connected(flat, 3, rng.standard_normal((3, 12)).astype(np.float32))
        f2 = net.add_fully_connected(flat, 2, rng.standard_normal((2, 12)).astype(np.float32))
        f3 = net.add_fully_connected(flat, 4, rng.standard_normal((4, 12)).astype(np.float32))
        inner = net.add_concatenation([f1.output(0), f2.output(0)])
        outer = net.add_concatenation([inner.output(0), f3.output(0)])
        return net.add_softmax(outer.output(0)).output(0)

    opt, _ = _compare_all(define, (3, 2, 2), rng)
    assert not [k for k in opt.layer_info()["kernels"] if k["type"] in ("Concatenation", "Identity")]


def test_noops_disappear(rng):
    def define(net, x, rng):
        a = net.add_identity(x)
        b = net.add_activation(a.output(0), gie.ActivationType.TANH)
        c = net.add_shuffle(b.output(0), reshape=(0, 0, 0, 0))
        d = net.add_padding(c.output(0), (0, 0), (0, 0))
        e = net.add_identity(d.output(0))
        return e.output(0)

    opt, plain = _compare_all(define, (2, 3, 4), rng)
    assert opt.num_kernels == 1 and plain.num_kernels == 5
    assert opt.layer_info()["kernels"][0]["type"] == "Activation"


ALL_PASSES = FUSION_PASSES_ALL + ("fold_constant_operands", "collapse_shuffles", "horizontal_fusion")


@pytest.mark.parametrize("chain", ["tt", "tr", "rt", "rr", "trt"])
def test_shuffle_chains_collapse(rng, chain):
    def define(net, x, rng):
        t = x  # (N, 4, 6, 2)
        for step in chain:
            if step == "t":
                t = net.add_shuffle(t, first_transpose=(0, 2, 3, 1) if len(t.shape) == 4 else (0, 2, 1)).output(0)
            else:
                t = net.add_shuffle(t, reshape=(0, -1, 4) if len(t.shape) == 4 else (0, 4, 6, 2)).output(0)
        return net.add_activation(t, gie.ActivationType.TANH).output(0)

    seed = int(rng.integers(1 << 31))
    opt = _build(define, (4, 6, 2), seed=seed)
    plain = _build(define, (4, 6, 2), passes_off=ALL_PASSES, seed=seed)
    for b in (1, 3):
        x = rng.standard_normal((b, 4, 6, 2)).astype(np.float32)
        a, p = opt.create_execution_context().execute({"x": x}), plain.create_execution_context().execute({"x": x})
        assert_close(a["out0"], p["out0"], rtol=0, atol=0)
    # "rr" reshapes back to the input shape: the merged reshape is a no-op and disappears too.
    assert opt.num_kernels == (1 if chain == "rr" else 2) and plain.num_kernels == len(chain) + 1


def test_constant_operands_fold_into_conv(rng):
    def define(net, x, rng):
        conv = net.add_convolution(x, 4, (3, 3), rng.standard_normal((4, 3, 3, 3)).astype(np.float32), None)
        conv.name = "conv"
        bias = net.add_constant((1, 4, 1, 1), rng.standard_normal(4).astype(np.float32))
        add = net.add_elementwise(conv.output(0), bias.output(0), gie.ElementWiseOperation.SUM)
        two = net.add_constant((1,), np.array([2.0], np.float32))
        mul = net.add_elementwise(two.output(0), add.output(0), gie.ElementWiseOperation.PROD)
        one = net.add_constant((1, 1, 1, 1), np.array([1.0], np.float32))
        noop = net.add_elementwise(mul.output(0), one.output(0), gie.ElementWiseOperation.PROD)
        zero = net.add_constant((4, 1, 1), np.zeros(4, np.float32))
        noop2 = net.add_elementwise(noop.output(0), zero.output(0), gie.ElementWiseOperation.SUB)
        return net.add_activation(noop2.output(0), gie.ActivationType.RELU).output(0)

    opt, plain = _compare_all(define, (3, 5, 5), rng)
    info = opt.layer_info()
    assert opt.num_kernels == 1, [k["name"] for k in info["kernels"]]
    assert len(info["kernels"][0]["source_layers"]) == 4  # conv, + bias, * 2, relu
    assert sum("remove_noops" in p for p in info["passes"]) == 2  # * 1 and - 0


def test_broadcast_that_grows_is_kept(rng):
    def define(net, x, rng):
        c = net.add_constant((1, 3, 2, 2), rng.standard_normal((1, 3, 2, 2)).astype(np.float32))
        small = net.add_pooling(x, gie.PoolingType.MAX, (2, 2), stride=2)  # (N, 3, 2, 2)
        return net.add_elementwise(small.output(0), c.output(0), gie.ElementWiseOperation.SUM).output(0)

    opt, _ = _compare_all(define, (3, 4, 4), rng)
    assert [k["type"] for k in opt.layer_info()["kernels"]] == ["Pooling", "ElementWise"]


def _random_shuffle(rng, shape):
    """Random Shuffle fields for an input of `shape` (batch included): optional transposes and a random regrouping
    of the volume into factors (size-1 dimensions included); returns (fields, output shape)."""
    shape = list(shape)
    fields = {}
    if rng.random() < 0.6:
        p = [int(i) for i in rng.permutation(len(shape))]
        fields["first_transpose"] = p
        shape = [shape[i] for i in p]
    if rng.random() < 0.7:
        primes = []
        for d in shape:
            k = 2
            while d > 1:
                while d % k == 0:
                    primes.append(k)
                    d //= k
                k += 1
        new, cur = [], 1
        for q in primes:
            cur *= q
            if rng.random() < 0.5:
                new.append(cur)
                cur = 1
        if cur > 1 or not new:
            new.append(cur)
        for _ in range(int(rng.integers(0, 2))):
            new.insert(int(rng.integers(0, len(new) + 1)), 1)
        shape = new[:8]
        fields["reshape"] = shape
    if rng.random() < 0.5:
        p = [int(i) for i in rng.permutation(len(shape))]
        fields["second_transpose"] = p
        shape = [shape[i] for i in p]
    return fields, shape


def _shuffle_pair_case(seed):
    """Engines of two random Shuffles (+ x + x) at one batch size, with and without collapse_shuffles; returns
    (engine, engine without the pass, input)."""
    rng = np.random.default_rng(seed)
    batch = int(rng.choice([1, 2, 3]))
    x_shape = tuple(int(v) for v in rng.choice([1, 2, 3, 5, 6, 4], size=int(rng.integers(2, 4))))
    f1, s1 = _random_shuffle(rng, (batch,) + x_shape)
    f2, _ = _random_shuffle(rng, s1)

    def build(off):
        builder = gie.Builder()
        net = builder.create_network()
        x = net.add_input("x", gie.float32, (batch,) + x_shape)
        a = net.add_shuffle(x, **{k: tuple(v) for k, v in f1.items()})
        b = net.add_shuffle(a.output(0), **{k: tuple(v) for k, v in f2.items()})
        net.mark_output(net.add_elementwise(b.output(0), b.output(0), gie.ElementWiseOperation.SUM).output(0), "out0")  # exact
        config = builder.create_config()
        config.device = "cpu"
        config.set_batch_range(batch, batch, batch)
        if off:
            config.set_pass_enabled("collapse_shuffles", False)
        return builder.build(net, config)

    return build(False), build(True), rng.standard_normal((batch,) + x_shape).astype(np.float32)


def test_shuffle_pairs_collapse_at_fixed_shapes():
    """Two random Shuffles (random transposes, regroupings of the volume with size-1 dimensions) on an engine of one
    batch size (every shape fixed): collapse_shuffles merges them when one Shuffle does both, and the result equals
    the engine with the pass off, bit for bit; most pairs merge."""
    merged = 0
    for seed in range(60):
        opt, plain, x = _shuffle_pair_case(seed)
        a, p = opt.create_execution_context().execute({"x": x}), plain.create_execution_context().execute({"x": x})
        assert_close(a["out0"], p["out0"], rtol=0, atol=0, what=f"seed {seed}")
        assert opt.num_kernels <= plain.num_kernels, seed
        merged += any(q.startswith("collapse_shuffles:") for q in opt.layer_info()["passes"])
    assert merged >= 30, merged


def test_fixed_shape_reshape_merge_needs_one_batch_size(rng):
    """torch's head split, reshape (S, B*H, d) -> transpose (1, 0, 2) -> reshape (B, H, S, d), written with the batch
    at dimension 1: one Shuffle when the engine runs one batch size; with a batch range the batch-independent rules
    cannot merge it, and each batch still gets the right result."""
    S, B, H, d = 5, 3, 2, 4

    def build(lo, hi):
        builder = gie.Builder()
        net = builder.create_network()
        x = net.add_input("x", gie.float32, (S, B, H * d))
        a = net.add_shuffle(x, reshape=(0, B * H, d), second_transpose=(1, 0, 2))
        b = net.add_shuffle(a.output(0), reshape=(B, H, -1, d))
        net.mark_output(net.add_elementwise(b.output(0), b.output(0), gie.ElementWiseOperation.SUM).output(0), "out0")  # exact
        config = builder.create_config()
        config.device = "cpu"
        config.set_batch_range(lo, hi, hi)
        return builder.build(net, config)

    x = rng.standard_normal((S, B, H * d)).astype(np.float32)
    want = 2 * x.reshape(S, B * H, d).transpose(1, 0, 2).reshape(B, H, S, d)
    fixed = build(S, S)
    assert fixed.num_kernels == 2
    assert_close(fixed.create_execution_context().execute({"x": x})["out0"], want, rtol=0, atol=0)
    ranged = build(1, S)
    assert ranged.num_kernels == 3
    for n in (S, 2):
        assert_close(ranged.create_execution_context().execute({"x": x[:n]})["out0"], want[:, :, :n], rtol=0, atol=0)


@pytest.mark.parametrize("case", ["all", "index_missing", "index_twice", "shuffles_differ", "other_reader", "batch_range"])
def test_hoist_shuffles_above_gather(case, rng):
    """Gathers of one constant index on axis 0, each followed by the same Shuffle, become one Shuffle before the
    Gathers only when the indices are each index once, every Shuffle is the same, nothing else reads the tensor and
    the shapes are fixed; the result is the same either way (the engine with the pass off, bit for bit)."""
    n0, rest = 3, (4, 5, 6)
    idx = {"index_missing": [0, 2], "index_twice": [0, 2, 2]}.get(case, [0, 1, 2])

    def build(off):
        builder = gie.Builder()
        net = builder.create_network()
        x = net.add_input("x", gie.float32, (n0,) + rest)
        xx = net.add_elementwise(x, x, gie.ElementWiseOperation.SUM).output(0)
        outs = []
        for k, i in enumerate(idx):
            ind = net.add_constant((), np.array(i, np.int32)).output(0)
            g = net.add_gather(xx, ind, axis=0).output(0)  # (4, 5, 6)
            perm = (2, 0, 1) if case == "shuffles_differ" and k == 1 else (1, 0, 2)
            outs.append(net.add_shuffle(g, reshape=(4, 5, 3, 2), second_transpose=(2, 0, 1, 3) if perm == (1, 0, 2) else (3, 0, 1, 2)).output(0))
        if case == "other_reader":
            outs.append(net.add_activation(xx, gie.ActivationType.RELU).output(0))
        for k, t in enumerate(outs):
            net.mark_output(t, f"out{k}")
        config = builder.create_config()
        config.device = "cpu"
        config.set_batch_range(1 if case == "batch_range" else n0, n0, n0)
        if off:
            config.set_pass_enabled("hoist_shuffles_above_gather", False)
        return builder.build(net, config)

    x = rng.standard_normal((n0,) + rest).astype(np.float32)
    opt, plain = build(False), build(True)
    a, p = opt.create_execution_context().execute({"x": x}), plain.create_execution_context().execute({"x": x})
    for k in p:
        assert_close(a[k], p[k], rtol=0, atol=0, what=k)
    want = 2 * x[idx[0]].reshape(4, 5, 3, 2).transpose(2, 0, 1, 3)
    assert_close(a["out0"], want, rtol=0, atol=0)
    hoisted = [q for q in opt.layer_info()["passes"] if q.startswith("hoist_shuffles_above_gather:")]
    assert bool(hoisted) == (case == "all"), hoisted
    if case == "all":
        assert [k["type"] for k in opt.layer_info()["kernels"]].count("Shuffle") == 1


FLATTEN_CASES = ["flatten", "flatten_3d", "fixed_literal", "literal_batch_range", "transpose", "other_reader", "output",
                 "partial", "pinned_unlike"]


@pytest.mark.parametrize("case", FLATTEN_CASES)
def test_flatten_into_fully_connected(case, rng):
    """Global pooling -> Flatten (a reshape (0, -1), as the ONNX importer writes it) -> FullyConnected: the FC reads
    the pooled (N, C, 1, 1) tensor with axis 1 and the Shuffle goes (no copy kernel), only when the reshape flattens
    the trailing dimensions into the FC's (last) axis at every shape and nothing else reads it; the results are
    bit-identical to the engine with the pass off, at every batch of the range."""
    C, H, W, K = 13, 3, 5, 7
    wk = rng.standard_normal((K, C * (H * W if case == "flatten_3d" else 1))).astype(np.float32)
    bias = rng.standard_normal(K).astype(np.float32)
    fixed = case in ("fixed_literal", "transpose", "other_reader", "output", "partial", "pinned_unlike")

    def build(off):
        builder = gie.Builder()
        net = builder.create_network()
        x = net.add_input("x", gie.float32, (3, C, H, W))
        if case == "flatten_3d":  # (N, C, H, W) -> (N, C*H*W): VGG's / AlexNet's flatten before the classifier
            pooled = net.add_activation(x, gie.ActivationType.TANH).output(0)
        else:
            pooled = net.add_reduce(x, gie.ReduceOperation.AVG, (2, 3), keep_dims=True).output(0)
        if case == "fixed_literal":
            sh = net.add_shuffle(pooled, reshape=(3, C))
        elif case == "literal_batch_range":  # kept: a last dimension given as a number is trusted at fixed shapes only
            sh = net.add_shuffle(pooled, reshape=(0, C))
        elif case == "transpose":  # (N, C, 1, 1) -> (N, 1, C, 1) -> (N, C): moves no data, but is no plain reshape
            sh = net.add_shuffle(pooled, first_transpose=(0, 2, 1, 3), reshape=(0, -1))
        elif case == "partial":  # (N, C, H, W) -> (N, C*H, W): merges C and H, not the trailing dimensions
            sh = net.add_shuffle(x, reshape=(3, C * H, W))
        else:
            sh = net.add_shuffle(pooled, reshape=(0, -1))
        sh.name = "flatten"
        flat = sh.output(0)
        if case == "partial":
            fc = net.add_fully_connected(flat, K, np.ascontiguousarray(wk[:, :W]), bias, axis=2)
        else:
            fc = net.add_fully_connected(flat, K, wk, bias)
        fc.name = "fc"
        if case == "pinned_unlike":
            sh.precision = gie.DataType.FLOAT
        net.mark_output(fc.output(0), "y")
        if case == "other_reader":
            net.mark_output(net.add_activation(flat, gie.ActivationType.RELU).output(0), "r")
        if case == "output":
            net.mark_output(flat, "flat")
        config = builder.create_config()
        config.device = "cpu"
        config.set_batch_range(3 if fixed else 1, 3, 3)
        if case == "pinned_unlike":
            config.set_flag(gie.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        if off:
            config.set_pass_enabled("flatten_into_fully_connected", False)
        return builder.build(net, config)

    opt, plain = build(False), build(True)
    removed = case in ("flatten", "flatten_3d", "fixed_literal")
    folded = [q for q in opt.layer_info()["passes"] if q.startswith("flatten_into_fully_connected:")]
    assert bool(folded) == removed, folded
    shuffles = [k for k in opt.layer_info()["kernels"] if k["type"] == "Shuffle"]
    assert len(shuffles) == (0 if removed else 1), [k["type"] for k in opt.layer_info()["kernels"]]
    assert len([k for k in plain.layer_info()["kernels"] if k["type"] == "Shuffle"]) == 1
    if removed:
        fc, = [k for k in opt.layer_info()["kernels"] if k["type"] == "FullyConnected"]
        assert "flatten" in fc["source_layers"] and "fc" in fc["source_layers"], fc["source_layers"]
        assert [tuple(t["shape"])[1:] for t in fc["inputs"]] == [(C, H, W) if case == "flatten_3d" else (C, 1, 1)], fc["inputs"]
    x = rng.standard_normal((3, C, H, W)).astype(np.float32)
    for b in ((3,) if fixed else (3, 1)):
        a, p = opt.create_execution_context().execute({"x": x[:b]}), plain.create_execution_context().execute({"x": x[:b]})
        for k in p:
            assert_close(a[k], p[k], rtol=0, atol=0, what=f"{k} at batch {b}")
        if case in ("flatten", "fixed_literal"):  # and an independent reference
            want = x[:b].astype(np.float64).mean(axis=(2, 3)) @ wk.T.astype(np.float64) + bias
            assert_close(a["y"], want.astype(np.float32), rtol=1e-4, atol=1e-4)
