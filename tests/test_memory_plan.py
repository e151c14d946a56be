"""The activation memory plan, checked from engine.layer_info(): tensors whose lifetimes overlap never share bytes,
lower_bound <= arena <= no_reuse, and a simple chain needs no more than its lower bound. Results stay correct."""
import numpy as np
import pytest

import gie
from test_layers_core import conv2d_ref, pool2d_ref, softmax_ref
from util import assert_close


def lifetimes(info):
    """{tensor name: (first kernel, last kernel, offset, bytes)} for every activation, from the kernel order."""
    life = {}
    for i, k in enumerate(info["kernels"]):
        for t in k["outputs"]:
            if t["kind"] == "activation":
                assert t["name"] not in life, f"activation '{t['name']}' is written by two kernels"
                life[t["name"]] = [i, i, t["offset"], t["bytes"]]
        for t in k["inputs"]:
            if t["kind"] == "activation":
                assert t["name"] in life, f"kernel {k['name']} reads '{t['name']}' before it is written"
                first, _, off, nbytes = life[t["name"]]
                assert (off, nbytes) == (t["offset"], t["bytes"]), "one tensor reported with two placements"
                life[t["name"]][1] = i
    return {n: tuple(v) for n, v in life.items()}


def check_plan(info, expect_reuse=True):
    mem = info["memory"]
    life = lifetimes(info)
    assert life, "the network should have activations"
    arena = mem["arena_bytes"]
    for name, (first, last, off, nbytes) in life.items():
        assert 0 <= off and off + nbytes <= arena, f"'{name}' [{off}, {off + nbytes}) lies outside the arena of {arena}"
    names = sorted(life)
    for i, a in enumerate(names):
        fa, la, oa, ba = life[a]
        for b in names[i + 1:]:
            fb, lb, ob, bb = life[b]
            if fa <= lb and fb <= la:  # alive at a common kernel
                assert oa + ba <= ob or ob + bb <= oa, (
                    f"'{a}' (kernels {fa}..{la}, bytes [{oa}, {oa + ba})) and '{b}' (kernels {fb}..{lb}, "
                    f"bytes [{ob}, {ob + bb})) are alive together but share memory")
    # Bounds: the peak of simultaneously live bytes (unaligned) is a floor for any valid plan.
    n_kernels = len(info["kernels"])
    peak = max(sum(v[3] for v in life.values() if v[0] <= s <= v[1]) for s in range(n_kernels))
    total = sum(v[3] for v in life.values())
    assert mem["lower_bound_bytes"] >= peak
    assert mem["no_reuse_bytes"] >= total
    assert mem["lower_bound_bytes"] <= arena <= mem["no_reuse_bytes"]
    if expect_reuse:
        assert arena < mem["no_reuse_bytes"], "this network leaves room for reuse"
    return life


def build(define, input_shape, max_batch=4, passes_off=()):
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (1,) + tuple(input_shape))
    outs = define(net, x)
    for i, t in enumerate(outs):
        net.mark_output(t, f"out{i}")
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = max_batch
    for p in passes_off:
        config.set_pass_enabled(p, False)
    return builder.build(net, config)


# ---- a chain -------------------------------------------------------------------------------------

def chain_net(rng):
    w1 = (rng.standard_normal((8, 4, 3, 3)) * 0.3).astype(np.float32)
    w2 = (rng.standard_normal((16, 8, 3, 3)) * 0.2).astype(np.float32)
    wf = (rng.standard_normal((10, 16 * 8 * 8)) * 0.05).astype(np.float32)

    def define(net, x):
        c1 = net.add_convolution(x, 8, (3, 3), w1, padding=1)
        r1 = net.add_activation(c1.output(0), gie.ActivationType.RELU)
        p1 = net.add_pooling(r1.output(0), gie.PoolingType.MAX, (2, 2))
        p1.stride = (2, 2)
        c2 = net.add_convolution(p1.output(0), 16, (3, 3), w2, padding=1)
        r2 = net.add_activation(c2.output(0), gie.ActivationType.TANH)
        fc = net.add_fully_connected(r2.output(0), 10, wf)
        return [net.add_softmax(fc.output(0)).output(0)]

    def ref(x):
        y, _ = conv2d_ref(x, w1, pre=(1, 1))
        y = pool2d_ref(np.maximum(y, 0), gie.PoolingType.MAX, (2, 2), (2, 2))
        y, _ = conv2d_ref(y, w2, pre=(1, 1))
        y = np.tanh(y).reshape(len(x), -1) @ wf.T.astype(np.float64)
        return [softmax_ref(y, 1)]

    return define, ref, (4, 16, 16)


def test_chain_plan(rng):
    define, ref, shape = chain_net(rng)
    engine = build(define, shape, passes_off=("fuse_epilogue",))  # one activation per layer
    info = engine.layer_info()
    life = check_plan(info)
    assert len(life) == 6  # conv, relu, pool, conv, tanh, fc; softmax writes the output
    for first, last, _, _ in life.values():
        assert last == first + 1, "in a chain every activation is read by the next kernel only"
    assert info["memory"]["arena_bytes"] == info["memory"]["lower_bound_bytes"]
    assert engine.activation_memory_size == info["memory"]["arena_bytes"]
    ctx = engine.create_execution_context()
    for n in (4, 1, 3):
        x = rng.standard_normal((n,) + shape).astype(np.float32)
        assert_close(ctx.execute({"x": x})["out0"], ref(x)[0], rtol=1e-4, atol=1e-6, what=f"batch {n}")


@pytest.mark.parametrize("ops", [
    ["relu", "tanh", "sigmoid", "relu"],                         # equal sizes
    ["pool2", "relu", "pool2", "relu"],                          # shrinking
    ["relu", "pool1", "sigmoid", "pool2", "tanh", "pool1", "relu"],
    ["tanh", "pool2", "relu", "pool1", "sigmoid"],
])
def test_chain_of_activations_and_pools_reaches_lower_bound(ops, rng):
    def define(net, x):
        t = x
        for op in ops:
            if op.startswith("pool"):
                p = net.add_pooling(t, gie.PoolingType.AVERAGE, (2, 2))
                p.stride = (int(op[-1]),) * 2
                t = p.output(0)
            else:
                t = net.add_activation(t, getattr(gie.ActivationType, op.upper())).output(0)
        return [t]

    engine = build(define, (3, 24, 24))
    info = engine.layer_info()
    check_plan(info)
    assert info["memory"]["arena_bytes"] == info["memory"]["lower_bound_bytes"]


# ---- branchy networks -----------------------------------------------------------------------------

def test_branchy_plan(rng):
    w = (rng.standard_normal((6, 3, 3, 3)) * 0.3).astype(np.float32)
    w2 = (rng.standard_normal((4, 6, 1, 1)) * 0.3).astype(np.float32)

    def define(net, x):
        a = net.add_convolution(x, 6, (3, 3), w, padding=1).output(0)        # read by three branches
        b1 = net.add_activation(a, gie.ActivationType.RELU).output(0)
        b1 = net.add_pooling(b1, gie.PoolingType.MAX, (2, 2))
        b1.stride = (2, 2)
        b1 = net.add_activation(b1.output(0), gie.ActivationType.SIGMOID).output(0)
        b2 = net.add_activation(a, gie.ActivationType.TANH).output(0)
        b2 = net.add_convolution(b2, 4, (1, 1), w2).output(0)
        b2 = net.add_softmax(b2, axis=1).output(0)
        b3 = net.add_pooling(a, gie.PoolingType.AVERAGE, (3, 3))
        b3.stride = (3, 3)
        b3 = net.add_activation(b3.output(0), gie.ActivationType.ELU).output(0)
        b3 = net.add_identity(b3).output(0)
        return [b1, b2, b3]

    def ref(x):
        a, _ = conv2d_ref(x, w, pre=(1, 1))
        b1 = 1 / (1 + np.exp(-pool2d_ref(np.maximum(a, 0), gie.PoolingType.MAX, (2, 2), (2, 2))))
        b2, _ = conv2d_ref(np.tanh(a), w2)
        b2 = softmax_ref(b2, 1)
        b3 = pool2d_ref(a, gie.PoolingType.AVERAGE, (3, 3), (3, 3))
        b3 = np.where(b3 >= 0, b3, np.exp(b3) - 1)
        return [b1, b2, b3]

    engine = build(define, (3, 12, 12))
    info = engine.layer_info()
    life = check_plan(info)
    conv_out = [n for n, v in life.items() if v[1] - v[0] >= 2]
    assert conv_out, "the shared conv output must stay alive across the branches"
    ctx = engine.create_execution_context()
    for n in (4, 2, 1):
        x = rng.standard_normal((n, 3, 12, 12)).astype(np.float32)
        got = ctx.execute({"x": x})
        for i, e in enumerate(ref(x)):
            assert_close(got[f"out{i}"], e, rtol=1e-4, atol=1e-5, what=f"batch {n} out{i}")


def test_long_lived_tensor_plan(rng):
    """An early tensor read only at the end (an output branch computed last) cannot share with anything between."""
    def define(net, x):
        early = net.add_activation(x, gie.ActivationType.RELU).output(0)
        t = net.add_activation(x, gie.ActivationType.TANH).output(0)
        for _ in range(4):
            t = net.add_activation(t, gie.ActivationType.SIGMOID).output(0)
        late = net.add_activation(early, gie.ActivationType.SOFTSIGN).output(0)
        return [t, late]

    engine = build(define, (2, 40))
    info = engine.layer_info()
    check_plan(info)
    x = rng.standard_normal((3, 2, 40)).astype(np.float32)
    got = engine.create_execution_context().execute({"x": x})
    t = np.tanh(x.astype(np.float64))
    for _ in range(4):
        t = 1 / (1 + np.exp(-t))
    r = np.maximum(x, 0).astype(np.float64)
    assert_close(got["out0"], t)
    assert_close(got["out1"], r / (1 + np.abs(r)))


def test_plan_checker_detects_overlap():
    """The checker itself fails on a plan where two live tensors share bytes (guards the test)."""
    info = {
        "kernels": [
            {"name": "k0", "inputs": [], "outputs": [{"name": "a", "kind": "activation", "offset": 0, "bytes": 64}]},
            {"name": "k1", "inputs": [{"name": "a", "kind": "activation", "offset": 0, "bytes": 64}],
             "outputs": [{"name": "b", "kind": "activation", "offset": 32, "bytes": 64}]},
            {"name": "k2", "inputs": [{"name": "b", "kind": "activation", "offset": 32, "bytes": 64}],
             "outputs": [{"name": "y", "kind": "output", "bytes": 64}]},
        ],
        "memory": {"arena_bytes": 96, "no_reuse_bytes": 128, "lower_bound_bytes": 128},
    }
    with pytest.raises(AssertionError, match="share memory"):
        check_plan(info)
