"""Writes the seed engines of the engine-file fuzz target (tests/fuzz/fuzz_engine.cpp) into
tests/fuzz_corpus/engine: small CPU engines covering FP32, FP16 with Reformats, channels-last I/O, concatenation
views and a fused convolution epilogue. Run after an engine-format change:
    PYTHONPATH=build/dev/pkg python3 tests/fuzz/make_engine_seeds.py
The folder also holds fp32_format3.gie (fp32.gie as format 3 wrote it: the loader still reads format 3) and
profiles.gie (two optimization profiles over dynamic N/H/W: build/dev/tests/cpp/test_dynamic_shapes --write-seed FILE).
shape_tensors.gie holds a shape program (ShapeOp steps: SHAPE, SLICE, REDUCE, CONST, CONCAT) read by a run-time
reshape."""
import os

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


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for name, kw in (("fp32.gie", {}), ("fp16.gie", {"fp16": True}), ("fp16_hwc8.gie", {"fp16": True, "hwc8": True})):
        print(name, build(name, **kw), "bytes")
    print("shape_tensors.gie", build_shape_tensors("shape_tensors.gie"), "bytes")
