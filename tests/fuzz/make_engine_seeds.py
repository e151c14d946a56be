"""Writes the seed engines of the engine-file fuzz target (tests/fuzz/fuzz_engine.cpp) into
tests/fuzz_corpus/engine: small CPU engines covering FP32, FP16 with Reformats, channels-last I/O, concatenation
views and a fused convolution epilogue. Run after an engine-format change:
    PYTHONPATH=build/dev/pkg python3 tests/fuzz/make_engine_seeds.py [SEED.gie ...]   (no names: every seed)
The folder also holds fp32_format3.gie (fp32.gie as format 3 wrote it: the loader still reads format 3) and
profiles.gie (two optimization profiles over dynamic N/H/W: build/dev/tests/cpp/test_dynamic_shapes --write-seed FILE).
shape_tensors.gie holds a shape program (ShapeOp steps: SHAPE, SLICE, REDUCE, CONST, CONCAT) read by a run-time
reshape. profile_tactics.gie (format 5) has two profiles and a per-profile tactic table on its convolution: no CPU kernel
offers two tactics, so profile 1's alternate instance repeats the kernel's tactic ("default"), which loads and runs (the
fuzzer reaches the alternates' clone, configure and run); the others are formats 3 and 4."""
import os
import struct
import sys

import numpy as np

import gie

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz_corpus", "engine")


def build(name, fp16=False, hwc8=False):
    rng = np.random.default_rng(0)
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (2, 3, 6, 6))
    if hwc8:
        x.allowed_formats = [gie.TensorFormat.HWC8]
    a = net.add_convolution(x, 4, (3, 3), rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
                            rng.standard_normal(4).astype(np.float32), padding=1)
    r = net.add_activation(a.output(0), gie.ActivationType.RELU).output(0)
    b = net.add_convolution(x, 2, (1, 1), rng.standard_normal((2, 3, 1, 1)).astype(np.float32),
                            np.zeros(2, np.float32)).output(0)
    c = net.add_concatenation([r, b]).output(0)
    p = net.add_pooling(c, gie.PoolingType.MAX, (2, 2))
    p.stride = (2, 2)
    y = net.add_softmax(p.output(0)).output(0)
    net.mark_output(y, "y")
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = 2
    config.fp16 = fp16
    data = builder.build(net, config).serialize()
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    return len(data)


def build_shape_tensors(name):
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (-1, -1, 4))
    s = net.add_shape(x).output(0)
    nl = net.add_layer("ShapeOp", [s], {"op": 5, "start": 0, "end": 2}).output(0)
    rows = net.add_layer("ShapeOp", [nl], {"op": 7, "reduce": 1}).output(0)
    minus1 = net.add_layer("ShapeOp", [], {"op": 1, "values": [-1]}).output(0)
    target = net.add_layer("ShapeOp", [rows, minus1], {"op": 4}).output(0)
    net.mark_output(net.add_shuffle(x, reshape=target).output(0), "y")
    config = builder.create_config()
    config.device = "cpu"
    config.add_profile({"x": ((1, 1, 4), (2, 3, 4), (4, 8, 4))})
    data = builder.build(net, config).serialize()
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    return len(data)


def build_profile_tactics(name):
    """A two-profile CPU engine whose first step gets an alternate (tactic "default", index 0) run by profile 1, spliced
    into the file (tests/engine_layout.py gives the offsets; body size and checksums recomputed)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from engine_layout import fix_crcs, parse

    rng = np.random.default_rng(0)
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (-1, 3, -1, -1))
    c = net.add_convolution(x, 4, (3, 3), rng.standard_normal((4, 3, 3, 3)).astype(np.float32), np.zeros(4, np.float32), padding=1)
    net.mark_output(net.add_activation(c.output(0), gie.ActivationType.RELU).output(0), "y")
    config = builder.create_config()
    config.device = "cpu"
    config.add_profile({"x": ((1, 3, 4, 4), (1, 3, 6, 6), (2, 3, 8, 8))})
    config.add_profile({"x": ((4, 3, 4, 4), (8, 3, 8, 8), (8, 3, 8, 8))})
    data = bytearray(builder.build(net, config).serialize())
    nums = {n.path: n for n in parse(bytes(data))["nums"]}
    alt, table = nums["step[0].alternates.count"], nums["step[0].profile_kernel.count"]
    assert int(alt) == 0 and int(table) == 0
    # Back to front, so that the earlier offset stays valid.
    data[table.offset:table.offset + 4] = struct.pack("<Iii", 2, 0, 1)
    data[alt.offset:alt.offset + 4] = struct.pack("<II", 1, 7) + b"default" + struct.pack("<i", 0)
    struct.pack_into("<Q", data, 32, len(data) - 64)
    data = fix_crcs(data)
    engine = gie.Runtime().deserialize(data)
    assert [k["profile_tactics"] for k in engine.layer_info()["kernels"]][0] == ["default", "default"]
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    return len(data)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    wanted = set(sys.argv[1:])  # seed file names to remake; none: all
    makers = [(name, lambda n, kw=kw: build(n, **kw)) for name, kw in
              (("fp32.gie", {}), ("fp16.gie", {"fp16": True}), ("fp16_hwc8.gie", {"fp16": True, "hwc8": True}))]
    makers += [("shape_tensors.gie", build_shape_tensors), ("profile_tactics.gie", build_profile_tactics)]
    for name, make in makers:
        if not wanted or name in wanted:
            print(name, make(name), "bytes")
