"""Tampered engine files: one structural field changed and both checksums recomputed (what a malicious file looks
like). Each must be refused at load with gie.InvalidEngineError naming the field, or load and run; nothing may
crash. Regression tests for issue 11 items 1-5 craft the file each finding was, and a mutation fuzzer changes
every number of the file's structure (counts, ids, kinds, streams, offsets, dims, kernel fields, weight sizes)
in a subprocess so that a crash is reported with its mutant.

Long mode (under the ASan+UBSan build of scripts/asan_fuzz.sh): GIE_FUZZ_SECONDS=600 runs random mutants for
that long instead of the short deterministic set."""
import json
import os
import random
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import gie

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engine_layout import find_step, fix_crcs, parse, patch  # noqa: E402


def build_engine(kind="mixed", seed=0, max_batch=2):
    """Small CPU engines covering the kernels whose fields the loader must check.
    mixed: conv (3x3, pad 1) -> relu -> max pool 2x2 -> [concat with a second conv branch] -> elementwise sum with
    a constant -> FC -> softmax; "pool": average pooling -> tanh; "deconv": deconvolution, padding, slice, shuffle,
    resize, reduce, gather."""
    rng = np.random.default_rng(seed)
    builder = gie.Builder()
    net = builder.create_network()
    w = lambda *s: rng.standard_normal(s).astype(np.float32) * 0.3  # noqa: E731
    if kind == "pool":
        x = net.add_input("x", gie.float32, (1, 2, 6, 6))
        p = net.add_pooling(x, gie.PoolingType.AVERAGE, (2, 2))
        p.stride = (2, 2)
        p.name = "pool"
        a = net.add_activation(p.output(0), gie.ActivationType.TANH)
        net.mark_output(a.output(0), "y")
    elif kind == "mixed":
        x = net.add_input("x", gie.float32, (1, 3, 8, 8))
        c1 = net.add_convolution(x, 4, (3, 3), w(4, 3, 3, 3), w(4), padding=1)
        c1.name = "conv"
        r = net.add_activation(c1.output(0), gie.ActivationType.RELU)
        p = net.add_pooling(r.output(0), gie.PoolingType.MAX, (2, 2))
        p.stride = (2, 2)
        p.name = "pool"
        c2 = net.add_convolution(p.output(0), 2, (1, 1), w(2, 4, 1, 1), None)
        c2.name = "conv1x1"
        cat = net.add_concatenation([p.output(0), c2.output(0)])
        cat.name = "concat"
        k = net.add_constant((1, 6, 4, 4), w(1, 6, 4, 4))
        s = net.add_elementwise(cat.output(0), k.output(0), gie.ElementWiseOperation.SUM)
        s.name = "sum"
        fc = net.add_fully_connected(s.output(0), 5, w(5, 96), w(5))
        fc.name = "fc"
        sm = net.add_softmax(fc.output(0))
        sm.name = "probs"
        net.mark_output(sm.output(0), "prob")
        net.mark_output(p.output(0), "pooled")
    else:
        x = net.add_input("x", gie.float32, (1, 2, 5, 5))
        d = net.add_deconvolution(x, 3, (2, 2), w(2, 3, 2, 2), w(3), stride=2)
        d.name = "deconv"
        pd = net.add_padding(d.output(0), (1, 1), (0, 2))
        pd.name = "pad"
        sl = net.add_slice(pd.output(0), (0, 1, 2), (3, 8, 8), (1, 1, 1))
        sl.name = "slice"
        sh = net.add_shuffle(sl.output(0))
        sh.first_transpose = (0, 1, 3, 2)
        sh.name = "shuffle"
        rs = net.add_resize(sh.output(0), gie.ResizeMode.NEAREST, output_shape=(1, 3, 12, 12))
        rs.name = "resize"
        rd = net.add_reduce(rs.output(0), gie.ReduceOperation.AVG, (3,), keep_dims=False)
        rd.name = "reduce"
        idx = net.add_constant((2,), np.array([0, 2], np.int32))
        g = net.add_gather(rd.output(0), idx.output(0), axis=1)
        g.name = "gather"
        net.mark_output(g.output(0), "y")
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = max_batch
    return builder.build(net, config)


INPUT_SHAPES = {"mixed": (2, 3, 8, 8), "pool": (2, 2, 6, 6), "deconv": (2, 2, 5, 5)}


@pytest.fixture(scope="module")
def engines():
    return {k: build_engine(k).serialize() for k in INPUT_SHAPES}


def refused(data, *patterns):
    """Loading `data` must raise gie.InvalidEngineError whose message names every pattern."""
    with pytest.raises(gie.InvalidEngineError) as ei:
        gie.Runtime().deserialize(data)
    msg = str(ei.value)
    for p in patterns:
        assert p.lower() in msg.lower(), f"message {msg!r} does not mention {p!r}"
    return msg


def test_layout_parser_round_trip(engines):
    """The parser reads every byte of each engine, and patching a number with its own value changes nothing."""
    for data in engines.values():
        e = parse(data)
        assert len(e["nums"]) > 50
        for n in e["nums"][::7]:
            assert patch(data, n, n.value) == data


# ---- issue 11 items 1-5: the crafted files each finding was --------------------------------------

def test_item1_cpu_step_on_an_auxiliary_stream(engines):
    """A CPU engine has only stream 0; a step naming stream 1 indexed the (empty) auxiliary streams at execute."""
    data = engines["mixed"]
    e = parse(data)
    step = find_step(e, "Pooling")
    msg = refused(patch(data, step["stream"], 1), "stream 1", step["name"])
    assert "cpu" in msg.lower()


def test_item2_activation_marked_output_but_not_listed(engines):
    """A tensor whose kind says output must be in the output list (outputs get the caller's memory; an unlisted one
    had none and a kernel wrote through a null pointer); inputs likewise."""
    data = engines["mixed"]
    e = parse(data)
    conv = find_step(e, "Convolution")
    t = e["tensors"][int(conv["outputs"][0].value)]
    assert int(t["kind"].value) == 0
    refused(patch(data, t["kind"], 2), t["name"], "output", "output list")
    refused(patch(data, t["kind"], 1), t["name"], "input", "input list")


def test_item3_huge_convolution_padding(engines):
    """Padding of 2^55 and more overflowed volume() in shape propagation, defeating the planned-size check."""
    data = engines["mixed"]
    e = parse(data)
    conv = find_step(e, "Convolution")
    for v in (1 << 55, 1 << 61, (1 << 63) - 1):
        bad = patch(data, conv["fields"]["pre_padding"]["values"][0], v)
        refused(bad, conv["name"], "pre_padding")


def test_item4_convolution_kernel_size_against_weight_count(engines):
    """A kernel size that no longer matches the weight count read past the weights (heap over-read in packA)."""
    data = engines["mixed"]
    e = parse(data)
    conv = find_step(e, "Convolution")
    ks = conv["fields"]["kernel_size"]["values"]
    refused(patch(data, ks[0], 5), conv["name"], "kernel")
    refused(patch(data, ks[1], 4), conv["name"], "kernel")
    fc = find_step(e, "FullyConnected")
    refused(patch(data, fc["fields"]["num_outputs"]["values"][0], 6), fc["name"])


@pytest.mark.parametrize("delta", [4, 1, 128])
def test_item5_unaligned_activation_offset(engines, delta):
    """Arena offsets must keep the memory planner's alignment (misaligned float stores under UBSan)."""
    data = engines["pool"]
    e = parse(data)
    step = find_step(e, "Pooling")
    out = e["tensors"][int(step["outputs"][0].value)]
    assert int(out["kind"].value) == 0
    refused(patch(data, out["offset"], int(out["offset"].value) + delta), out["name"], "aligned")
