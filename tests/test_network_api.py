"""The network API: misuse is refused early with the right exception and a message naming the culprit; fields are
attributes; shapes follow field changes; layer_info() reports kernels, memory and what the passes did."""
import numpy as np
import pytest

import gie


def new_net():
    builder = gie.Builder()
    return builder, builder.create_network()


def cpu_config(builder, max_batch=2, passes_off=()):
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = max_batch
    for p in passes_off:
        config.set_pass_enabled(p, False)
    return config


def conv_weights(K, C, R=3, S=3, seed=0):
    return np.random.default_rng(seed).standard_normal((K, C, R, S)).astype(np.float32)


# ---- adding layers -------------------------------------------------------------------------------

def test_convolution_wrong_weight_count_names_layer():
    _, net = new_net()
    x = net.add_input("x", gie.float32, (1, 3, 8, 8))
    with pytest.raises((gie.InvalidModelError, gie.InvalidArgumentError)) as ei:
        net.add_convolution(x, 4, (3, 3), np.zeros(4 * 3 * 3 * 3 - 1, np.float32))
    msg = str(ei.value)
    assert "Convolution_0" in msg and "107" in msg and "108" in msg, msg
    assert net.num_layers == 0, "a refused layer must not stay in the network"


def test_convolution_channel_mismatch_names_layer():
    _, net = new_net()
    x = net.add_input("x", gie.float32, (1, 3, 8, 8))
    net.add_identity(x)
    with pytest.raises((gie.InvalidModelError, gie.InvalidArgumentError)) as ei:
        net.add_convolution(x, 4, (3, 3), conv_weights(4, 5))  # weights for 5 input channels
    assert "Convolution_1" in str(ei.value) and "3 input channels" in str(ei.value), str(ei.value)
    assert net.num_layers == 1
    # Groups that do not divide the input channels.
    with pytest.raises((gie.InvalidModelError, gie.InvalidArgumentError), match="num_groups"):
        net.add_convolution(x, 4, (3, 3), conv_weights(4, 1), num_groups=2)
    # The network is still usable afterwards.
    conv = net.add_convolution(x, 4, (3, 3), conv_weights(4, 3))
    assert conv.output(0).shape == (1, 4, 6, 6)


@pytest.mark.parametrize("kw,pattern", [
    (dict(bias=np.zeros(3, np.float32)), "bias has 3 values, expected 4"),
    (dict(stride=0), "stride"),
    (dict(padding=-1), "padding"),
    (dict(dilation=(0, 1)), "dilation"),
])
def test_convolution_bad_parameters(kw, pattern):
    _, net = new_net()
    x = net.add_input("x", gie.float32, (1, 3, 8, 8))
    with pytest.raises(gie.InvalidArgumentError, match=pattern) as ei:
        net.add_convolution(x, 4, (3, 3), conv_weights(4, 3), **kw)
    assert "Convolution_0" in str(ei.value)


def test_convolution_kernel_larger_than_input():
    _, net = new_net()
    x = net.add_input("x", gie.float32, (1, 1, 4, 4))
    with pytest.raises(gie.InvalidModelError, match="larger than the padded input"):
        net.add_convolution(x, 1, (5, 5), conv_weights(1, 1, 5, 5))
    assert net.add_convolution(x, 1, (5, 5), conv_weights(1, 1, 5, 5), padding=1).output(0).shape == (1, 1, 2, 2)


def test_fully_connected_wrong_weight_count():
    _, net = new_net()
    x = net.add_input("x", gie.float32, (1, 2, 3, 3))
    with pytest.raises(gie.InvalidModelError, match="FullyConnected_0.*flattens to 18.*expects 17"):
        net.add_fully_connected(x, 4, np.zeros(4 * 17, np.float32))
    with pytest.raises(gie.InvalidArgumentError, match="not a multiple of num_outputs"):
        net.add_fully_connected(x, 4, np.zeros(4 * 18 + 1, np.float32))


def test_unknown_layer_type():
    _, net = new_net()
    x = net.add_input("x", gie.float32, (1, 3))
    with pytest.raises(gie.UnsupportedError, match="'NoSuchLayer'"):
        net.add_layer("NoSuchLayer", [x], {})
    assert net.num_layers == 0


def test_unknown_field():
    _, net = new_net()
    x = net.add_input("x", gie.float32, (1, 3, 4, 4))
    pool = net.add_pooling(x, gie.PoolingType.MAX, (2, 2))
    with pytest.raises(AttributeError, match="no field 'strides'"):
        pool.strides = (2, 2)
    with pytest.raises(AttributeError, match="strides"):
        _ = pool.strides
    with pytest.raises(gie.InvalidArgumentError, match="unknown field 'strides'"):
        pool._set_field("strides", np.array([2, 2], np.int64))
    with pytest.raises(gie.InvalidArgumentError, match="unknown field 'bogus'"):
        net.add_layer("Pooling", [x], {"window_size": (2, 2), "bogus": 1})
    with pytest.raises(gie.Error, match="unknown field"):
        net.add_layer("Activation", [x], {"activation_type": 0, "gamma": 1.0})


def test_field_with_wrong_value_is_refused_and_not_applied():
    _, net = new_net()
    x = net.add_input("x", gie.float32, (1, 3, 8, 8))
    pool = net.add_pooling(x, gie.PoolingType.MAX, (2, 2))
    pool.stride = (2, 2)
    with pytest.raises(gie.InvalidArgumentError, match="stride"):
        pool.stride = (0, 2)
    assert pool.stride == (2, 2)
    with pytest.raises(gie.InvalidArgumentError):
        pool.pooling_type = 7
    assert pool.pooling_type == int(gie.PoolingType.MAX)
    act = net.add_activation(x, gie.ActivationType.RELU)
    with pytest.raises(gie.InvalidArgumentError, match="activation type"):
        act.activation_type = 99
    assert pool.output(0).shape == (1, 3, 4, 4)


def test_tensor_from_another_network():
    b = gie.Builder()
    net1, net2 = b.create_network(), b.create_network()
    x1 = net1.add_input("x", gie.float32, (1, 3))
    x2 = net2.add_input("x", gie.float32, (1, 3))
    with pytest.raises(gie.InvalidArgumentError, match="tensor 'x' belongs to another network"):
        net2.add_identity(x1)
    with pytest.raises(gie.InvalidArgumentError, match="belongs to another network"):
        net2.mark_output(x1)
    ident = net2.add_identity(x2)
    with pytest.raises(gie.InvalidArgumentError, match="belongs to another network"):
        ident.set_input(0, x1)
    with pytest.raises(gie.InvalidArgumentError, match="belongs to another network"):
        net2.remove_layer(net1.add_identity(x1))
    assert net2.num_layers == 1


def test_network_without_outputs_fails_to_build():
    b, net = new_net()
    x = net.add_input("x", gie.float32, (1, 3))
    net.add_identity(x)
    with pytest.raises(gie.InvalidModelError, match="no outputs"):
        b.build(net, cpu_config(b))


def test_duplicate_input_names():
    _, net = new_net()
    net.add_input("x", gie.float32, (1, 3))
    with pytest.raises(gie.InvalidArgumentError, match="input named 'x' exists already"):
        net.add_input("x", gie.float32, (1, 4))
    assert net.num_inputs == 1


@pytest.mark.parametrize("shape", [(), (0, 3), (1, -2), (1,) * 9])
def test_bad_input_shapes(shape):
    _, net = new_net()
    with pytest.raises((gie.InvalidArgumentError, ValueError)):
        net.add_input("x", gie.float32, shape)


def test_duplicate_output_names():
    b, net = new_net()
    x = net.add_input("x", gie.float32, (1, 3))
    net.mark_output(net.add_identity(x).output(0), "y")
    net.mark_output(net.add_activation(x, gie.ActivationType.RELU).output(0), "y")
    with pytest.raises(gie.InvalidModelError, match="named 'y'"):
        b.build(net, cpu_config(b))


def test_output_named_like_an_input():
    b, net = new_net()
    x = net.add_input("x", gie.float32, (1, 3))
    net.mark_output(net.add_identity(x).output(0), "x")
    with pytest.raises(gie.InvalidModelError, match="named 'x'"):
        b.build(net, cpu_config(b))


def test_output_that_is_a_network_input():
    b, net = new_net()
    x = net.add_input("x", gie.float32, (1, 3))
    net.mark_output(net.add_identity(x).output(0), "y")
    net.mark_output(x)
    assert x.is_network_output
    with pytest.raises(gie.InvalidModelError, match="'x' is both a network input and a network output"):
        b.build(net, cpu_config(b))
    net.unmark_output(x)
    assert not x.is_network_output
    assert b.build(net, cpu_config(b)).output_names == ["y"]
    with pytest.raises(gie.InvalidArgumentError, match="not an output"):
        net.unmark_output(x)


def test_mark_output_twice_is_one_output():
    b, net = new_net()
    x = net.add_input("x", gie.float32, (1, 3))
    y = net.add_identity(x).output(0)
    net.mark_output(y, "y")
    net.mark_output(y)
    assert net.num_outputs == 1
    assert b.build(net, cpu_config(b)).output_names == ["y"]


def test_unknown_pass_name():
    b = gie.Builder()
    config = b.create_config()
    with pytest.raises(gie.InvalidArgumentError, match="unknown pass 'constant_foldin'.*constant_folding"):
        config.set_pass_enabled("constant_foldin", False)
    assert config.get_pass_enabled("constant_folding")
    config.set_pass_enabled("constant_folding", False)
    assert not config.get_pass_enabled("constant_folding")
    config.set_pass_enabled("constant_folding", True)
    assert config.get_pass_enabled("constant_folding")
    config.set_pass_enabled("dead_layer_removal", False)
    assert not config.get_pass_enabled("dead_layer_removal")


@pytest.mark.parametrize("rng_", [(0, 1, 1), (2, 1, 3), (1, 3, 2), (-1, 1, 1), (3, 3, 2), (1, 1, 0)])
def test_set_batch_range_invalid(rng_):
    config = gie.Builder().create_config()
    with pytest.raises(gie.InvalidArgumentError, match="1 <= min <= opt <= max"):
        config.set_batch_range(*rng_)
    assert config.batch_range == (1, 1, 1), "a refused range must not change the config"


def test_batch_range_properties():
    config = gie.Builder().create_config()
    config.set_batch_range(2, 3, 8)
    assert config.batch_range == (2, 3, 8)
    config.max_batch = 16
    assert config.max_batch == 16 and config.min_batch == 2
    config.max_batch = 1
    assert config.batch_range == (1, 1, 1)
    with pytest.raises(gie.InvalidArgumentError):
        config.max_batch = 0
    config.batch_range = (1, 2, 4)
    assert (config.min_batch, config.opt_batch, config.max_batch) == (1, 2, 4)


# ---- fields and shapes ---------------------------------------------------------------------------

def test_layer_field_round_trip():
    _, net = new_net()
    x = net.add_input("x", gie.float32, (1, 4, 16, 16))
    w = conv_weights(6, 2)
    b = np.arange(6, dtype=np.float32)
    conv = net.add_convolution(x, 6, (3, 3), w, b, num_groups=2)
    conv.stride = (2, 2)
    assert conv.stride == (2, 2)
    conv.pre_padding = (1, 2)
    conv.post_padding = (0, 1)
    assert conv.pre_padding == (1, 2) and conv.post_padding == (0, 1)
    conv.padding = (1, 1)
    assert conv.padding == (1, 1) and conv.pre_padding == (1, 1) and conv.post_padding == (1, 1)
    conv.dilation = (2, 1)
    assert conv.dilation == (2, 1)
    assert conv.num_groups == 2
    assert conv.num_output_maps == 6
    assert conv.kernel_size == (3, 3)
    np.testing.assert_array_equal(conv.kernel, w.ravel())
    np.testing.assert_array_equal(conv.bias, b)
    assert conv.output_padding is None  # unset field
    assert "stride" in dir(conv) and "kernel" in dir(conv)
    conv.name = "my_conv"
    assert conv.name == "my_conv" and conv.type == "Convolution"
    act = net.add_activation(conv.output(0), gie.ActivationType.LEAKY_RELU, alpha=0.25)
    assert act.alpha == 0.25 and isinstance(act.alpha, float)
    act.beta = 1.5
    assert act.beta == 1.5
    assert act.activation_type == int(gie.ActivationType.LEAKY_RELU)
    act.activation_type = gie.ActivationType.ELU
    assert act.activation_type == int(gie.ActivationType.ELU)
    pool = net.add_pooling(act.output(0), gie.PoolingType.AVERAGE, (3, 3))
    pool.exclude_padding = False
    assert pool.exclude_padding == 0
    pool.ceil_mode = True
    assert pool.ceil_mode == 1


def test_shapes_follow_field_changes():
    _, net = new_net()
    x = net.add_input("x", gie.float32, (1, 3, 12, 12))
    pool = net.add_pooling(x, gie.PoolingType.MAX, (2, 2))
    relu = net.add_activation(pool.output(0), gie.ActivationType.RELU)
    sm = net.add_softmax(relu.output(0))
    assert pool.output(0).shape == (1, 3, 11, 11)
    pool.stride = (2, 2)
    assert pool.output(0).shape == (1, 3, 6, 6)
    assert relu.output(0).shape == (1, 3, 6, 6) and sm.output(0).shape == (1, 3, 6, 6)
    pool.stride = (3, 2)
    assert sm.output(0).shape == (1, 3, 4, 6)
    pool.window_size = (4, 4)
    pool.padding = (1, 1)
    assert sm.output(0).shape == (1, 3, 4, 6)  # floor((12+2-4)/3)+1 = 4, floor((12+2-4)/2)+1 = 6
    pool.padding = (0, 0)
    assert sm.output(0).shape == (1, 3, 3, 5)
    setattr(pool, "global", 1)
    assert sm.output(0).shape == (1, 3, 1, 1)


def test_shape_error_after_field_change_then_recovery():
    _, net = new_net()
    x = net.add_input("x", gie.float32, (1, 3, 4, 4))
    pool = net.add_pooling(x, gie.PoolingType.MAX, (2, 2))
    relu = net.add_activation(pool.output(0), gie.ActivationType.RELU)
    pool.window_size = (6, 6)  # valid on its own, but larger than the input
    with pytest.raises(gie.InvalidModelError, match="larger than the padded input"):
        _ = relu.output(0).shape
    pool.padding = (1, 1)  # 4 + 2 = 6 fits: the window fits once the padding is counted
    assert relu.output(0).shape == (1, 3, 1, 1)
    pool.window_size = (7, 7)  # the message quotes the padded size, not the unpadded input
    with pytest.raises(gie.InvalidModelError, match=r"window 7x7 is larger than the padded input 6x6 \(input \(1, 3, 4, 4\)"):
        _ = relu.output(0).shape
    pool.padding = (0, 0)
    pool.window_size = (3, 3)
    assert relu.output(0).shape == (1, 3, 2, 2)


def test_set_input_changes_shapes():
    _, net = new_net()
    a = net.add_input("a", gie.float32, (1, 2, 3))
    b = net.add_input("b", gie.float32, (1, 5))
    ident = net.add_identity(a)
    assert ident.output(0).shape == (1, 2, 3)
    ident.set_input(0, b)
    assert ident.output(0).shape == (1, 5)
    assert ident.get_input(0).name == "b"
    with pytest.raises(gie.InvalidArgumentError, match="no input 3"):
        ident.set_input(3, a)


def test_removing_a_layer():
    b, net = new_net()
    x = net.add_input("x", gie.float32, (1, 4))
    relu = net.add_activation(x, gie.ActivationType.RELU)
    extra = net.add_activation(x, gie.ActivationType.TANH)  # removed below, while a later layer remains
    sig = net.add_activation(relu.output(0), gie.ActivationType.SIGMOID)
    net.mark_output(sig.output(0), "y")
    assert net.num_layers == 3
    with pytest.raises(gie.InvalidArgumentError, match="reads its output"):
        net.remove_layer(relu)
    with pytest.raises(gie.InvalidArgumentError, match="is a network output"):
        net.remove_layer(sig)
    net.remove_layer(extra)
    assert net.num_layers == 2
    assert [l.type for l in net.layers] == ["Activation", "Activation"]
    # New layers get names that do not collide with the remaining ones.
    names = [l.name for l in net.layers]
    for _ in range(3):
        names.append(net.add_activation(x, gie.ActivationType.TANH).name)
    assert len(set(names)) == len(names), names
    outs = [l.output(0).name for l in net.layers]
    assert len(set(outs)) == len(outs), outs
    engine = b.build(net, cpu_config(b))
    assert engine.output_names == ["y"]
    x_val = np.array([[-1.0, 0.0, 0.5, 3.0]], np.float32)
    np.testing.assert_allclose(engine.create_execution_context().execute({"x": x_val})["y"],
                               1 / (1 + np.exp(-np.maximum(x_val, 0))), rtol=1e-6)


def test_tensor_properties():
    _, net = new_net()
    x = net.add_input("x", gie.int32, (2, 3))
    assert x.is_network_input and not x.is_network_output and x.producer is None
    assert x.dtype == gie.int32 and x.shape == (2, 3)
    ident = net.add_identity(x)
    y = ident.output(0)
    assert y.dtype == gie.int32 and y.producer.name == ident.name
    net.mark_output(y, "y")
    assert y.name == "y" and y.is_network_output and net.outputs[0].name == "y"
    assert [t.name for t in net.inputs] == ["x"]


# ---- layer_info, dead layers, constant folding ----------------------------------------------------

def small_engine(passes_off=(), seed=0):
    rng = np.random.default_rng(seed)
    b, net = new_net()
    x = net.add_input("x", gie.float32, (1, 3, 8, 8))
    conv = net.add_convolution(x, 4, (3, 3), conv_weights(4, 3, seed=seed), rng.standard_normal(4).astype(np.float32))
    conv.name = "conv"
    relu = net.add_activation(conv.output(0), gie.ActivationType.RELU)
    relu.name = "relu"
    pool = net.add_pooling(relu.output(0), gie.PoolingType.MAX, (2, 2))
    pool.stride = (2, 2)
    pool.name = "pool"
    fc = net.add_fully_connected(pool.output(0), 5, rng.standard_normal((5, 36)).astype(np.float32))
    fc.name = "fc"
    sm = net.add_softmax(fc.output(0))
    sm.name = "softmax"
    net.mark_output(sm.output(0), "prob")
    unused = net.add_activation(conv.output(0), gie.ActivationType.TANH)  # a dead branch
    unused.name = "unused_tanh"
    unused2 = net.add_pooling(unused.output(0), gie.PoolingType.AVERAGE, (2, 2))
    unused2.name = "unused_pool"
    c = net.add_constant((1, 6), rng.standard_normal((1, 6)).astype(np.float32))
    c.name = "const"
    t = net.add_activation(c.output(0), gie.ActivationType.TANH)
    t.name = "const_tanh"
    s = net.add_activation(t.output(0), gie.ActivationType.SCALED_TANH, alpha=2.0, beta=0.5)
    s.name = "const_scaled"
    e = net.add_activation(s.output(0), gie.ActivationType.SIGMOID)
    e.name = "const_sigmoid"
    net.mark_output(e.output(0), "cval")
    # Vertical fusion would merge conv+relu only when the dead branch is gone: keep counts comparable.
    return b.build(net, cpu_config(b, max_batch=3, passes_off=tuple(passes_off) + ("fuse_epilogue",)))


def kernel_sources(info):
    return [l for k in info["kernels"] for l in k["source_layers"]]


def test_layer_info_contents():
    engine = small_engine()
    info = engine.layer_info()
    assert info["device"] == "cpu"
    assert info["batch"] == {"min": 1, "opt": 3, "max": 3}  # config.max_batch sets opt = max
    assert [t["name"] for t in info["inputs"]] == ["x"] and info["inputs"][0]["shape"] == [3, 3, 8, 8]
    assert [t["name"] for t in info["outputs"]] == ["prob", "cval"]
    kernels = info["kernels"]
    assert len(kernels) == engine.num_kernels == info["kernels_after"]
    for k in kernels:
        for key in ("name", "type", "source_layers", "tactic", "dtype", "format", "inputs", "outputs"):
            assert key in k, (key, k)
        assert isinstance(k["source_layers"], list) and k["source_layers"]
        assert isinstance(k["tactic"], str) and k["tactic"]
        assert k["dtype"] == "float32" and k["format"] == "linear"
        for t in k["inputs"] + k["outputs"]:
            assert {"name", "shape", "dtype", "kind", "bytes"} <= set(t), t
            assert t["bytes"] == int(np.prod(t["shape"])) * 4
            if t["kind"] == "activation":
                assert isinstance(t["offset"], int) and t["offset"] >= 0
                assert t["offset"] + t["bytes"] <= info["memory"]["arena_bytes"]
            else:
                assert "offset" not in t
    by_source = {k["source_layers"][0]: k for k in kernels}
    assert by_source["conv"]["type"] == "Convolution"
    assert by_source["conv"]["inputs"][0]["shape"] == [3, 3, 8, 8]
    assert by_source["conv"]["outputs"][0]["shape"] == [3, 4, 6, 6]
    assert by_source["pool"]["outputs"][0]["shape"] == [3, 4, 3, 3]
    assert by_source["fc"]["outputs"][0]["shape"] == [3, 5]
    assert by_source["softmax"]["outputs"][0]["name"] == "prob"
    assert by_source["softmax"]["outputs"][0]["kind"] == "output"
    mem = info["memory"]
    for key in ("arena_bytes", "no_reuse_bytes", "lower_bound_bytes"):
        assert isinstance(mem[key], int) and mem[key] > 0
    assert mem["lower_bound_bytes"] <= mem["arena_bytes"] <= mem["no_reuse_bytes"]
    assert mem["arena_bytes"] == engine.activation_memory_size
    assert info["layers_before"] >= 11


def test_dead_layers_are_removed():
    info = small_engine().layer_info()
    sources = kernel_sources(info)
    assert "unused_tanh" not in sources and "unused_pool" not in sources
    assert any("dead_layer_removal" in p and "unused_pool" in p for p in info["passes"]), info["passes"]
    kept = small_engine(passes_off=("dead_layer_removal",)).layer_info()
    assert "unused_tanh" in kernel_sources(kept) and "unused_pool" in kernel_sources(kept)
    assert kept["kernels_after"] == info["kernels_after"] + 2


def test_constant_subgraph_is_folded():
    folded = small_engine()
    info = folded.layer_info()
    types = [k["type"] for k in info["kernels"]]
    sources = kernel_sources(info)
    assert "Constant" not in types
    assert "const" not in sources and "const_tanh" not in sources and "const_scaled" not in sources
    assert any("constant_folding" in p and "const_tanh" in p for p in info["passes"]), info["passes"]
    assert info["memory"]["constant_bytes"] >= 6 * 4
    # The last activation writes the network output, so it stays a kernel reading a constant.
    last = next(k for k in info["kernels"] if "const_sigmoid" in k["source_layers"])
    assert last["inputs"][0]["kind"] == "constant"

    unfolded = small_engine(passes_off=("constant_folding",))
    uinfo = unfolded.layer_info()
    usources = kernel_sources(uinfo)
    assert "Constant" in [k["type"] for k in uinfo["kernels"]]
    for name in ("const", "const_tanh", "const_scaled", "const_sigmoid"):
        assert name in usources
    assert not any("constant_folding" in p for p in uinfo["passes"])
    assert uinfo["kernels_after"] == info["kernels_after"] + 3

    x = np.random.default_rng(4).standard_normal((2, 3, 8, 8)).astype(np.float32)
    a = folded.create_execution_context().execute({"x": x})
    b = unfolded.create_execution_context().execute({"x": x})
    for k in ("prob", "cval"):
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    # And both equal the numpy value of the chain.
    const = np.random.default_rng(0)
    const.standard_normal(4)
    const.standard_normal((5, 36))
    c = const.standard_normal((1, 6)).astype(np.float32).astype(np.float64)
    expected = 1 / (1 + np.exp(-(2.0 * np.tanh(0.5 * np.tanh(c)))))
    np.testing.assert_allclose(a["cval"], expected, rtol=1e-6)


def test_constant_folding_with_unary_if_available():
    if "Unary" not in [p[0] for p in gie.registered_plugins()]:
        pytest.skip("no Unary kernel in this build")
    results = []
    for passes_off in ((), ("constant_folding",)):
        b, net = new_net()
        x = net.add_input("x", gie.float32, (1, 2))
        net.mark_output(net.add_identity(x).output(0), "y")
        c = net.add_constant((2, 3), np.linspace(0.1, 1.2, 6, dtype=np.float32).reshape(2, 3))
        u = net.add_unary(c.output(0), gie.UnaryOperation.EXP)
        u.name = "exp"
        r = net.add_activation(u.output(0), gie.ActivationType.RELU)
        net.mark_output(r.output(0), "c")
        eng = b.build(net, cpu_config(b, passes_off=passes_off))
        present = "exp" in kernel_sources(eng.layer_info())
        assert present == bool(passes_off)
        results.append(eng.create_execution_context().execute({"x": np.zeros((1, 2), np.float32)})["c"])
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_allclose(results[0], np.exp(np.linspace(0.1, 1.2, 6).reshape(2, 3)), rtol=1e-6)


def test_build_does_not_modify_network():
    b, net = new_net()
    x = net.add_input("x", gie.float32, (1, 4))
    unused = net.add_activation(x, gie.ActivationType.TANH)
    net.mark_output(net.add_activation(x, gie.ActivationType.RELU).output(0), "y")
    b.build(net, cpu_config(b, max_batch=4))
    assert net.num_layers == 2 and unused.output(0).shape == (1, 4)
    assert net.inputs[0].shape == (1, 4)
