"""gie Python sample: LeNet through the network API, an engine file, and a check against numpy.

    python samples/python/lenet.py [--engine lenet.gie] [--batch 4] [--device cpu|gpu|auto]

Steps: define the network layer by layer (random weights from a fixed seed) -> build an engine for
batches 1..8 -> save it to an engine file -> load the file with a Runtime -> run a batch -> compare with
an independent numpy forward pass (gie.models.lenet_reference). Exits 1 if the results differ.
"""
import argparse
import os
import sys
import tempfile

import numpy as np

import gie
from gie.models import lenet_reference


def make_weights(seed=0):
    rng = np.random.default_rng(seed)

    def he(shape, fan_in):
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    return {
        "conv1.kernel": he((20, 1, 5, 5), 25), "conv1.bias": np.zeros(20, np.float32),
        "conv2.kernel": he((50, 20, 5, 5), 500), "conv2.bias": np.zeros(50, np.float32),
        "ip1.kernel": he((500, 800), 800), "ip1.bias": np.full(500, 0.01, np.float32),
        "ip2.kernel": he((10, 500), 500), "ip2.bias": np.zeros(10, np.float32),
    }


def define_lenet(net, w):
    data = net.add_input("data", gie.float32, (1, 1, 28, 28))  # dimension 0 is the batch
    conv1 = net.add_convolution(data, 20, (5, 5), w["conv1.kernel"], w["conv1.bias"])
    pool1 = net.add_pooling(conv1.output(0), gie.PoolingType.MAX, (2, 2))
    pool1.stride = (2, 2)  # layer parameters are attributes
    conv2 = net.add_convolution(pool1.output(0), 50, (5, 5), w["conv2.kernel"], w["conv2.bias"])
    pool2 = net.add_pooling(conv2.output(0), gie.PoolingType.MAX, (2, 2), stride=(2, 2))
    ip1 = net.add_fully_connected(pool2.output(0), 500, w["ip1.kernel"], w["ip1.bias"])
    relu1 = net.add_activation(ip1.output(0), gie.ActivationType.RELU)
    ip2 = net.add_fully_connected(relu1.output(0), 10, w["ip2.kernel"], w["ip2.bias"])
    prob = net.add_softmax(ip2.output(0))
    net.mark_output(prob.output(0), "prob")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", help="engine file to write and load (default: a temporary file)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu", "auto"])
    args = parser.parse_args(argv)

    weights = make_weights(seed=0)
    builder = gie.Builder()
    net = builder.create_network()
    define_lenet(net, weights)
    config = builder.create_config()
    config.device = args.device
    config.max_batch = 8
    engine = builder.build(net, config)
    print(engine)

    with tempfile.TemporaryDirectory() as tmp:
        path = args.engine or os.path.join(tmp, "lenet.gie")
        engine.save(path)
        print(f"saved {path} ({os.path.getsize(path)} bytes)")
        engine = gie.Runtime().load(path)

    context = engine.create_execution_context()
    x = np.random.default_rng(1).random((args.batch, 1, 28, 28), dtype=np.float32)
    prob = context.execute({"data": x})["prob"]
    ref = lenet_reference(weights, x)
    diff = float(np.abs(prob - ref).max())
    print(f"prob {prob.shape}: classes {prob.argmax(1).tolist()}, row sums {np.round(prob.sum(1), 6).tolist()}")
    print(f"max abs difference vs numpy: {diff:.3g}")
    ok = diff < 1e-4
    print("PASSED" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
