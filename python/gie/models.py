"""Small reference networks defined through the gie network API, with seeded random weights.

Each model is a function ``name(seed=0) -> Model``. A :class:`Model` unpacks as ``(define, weights, ...)``:

* ``define(network)`` adds the model's input(s), layers and marked output(s) to a ``gie.NetworkDefinition``
  and returns the network;
* ``weights`` is a ``{name: numpy array}`` dict (what ``define`` hands to the layers);
* ``inputs`` / ``outputs`` give the I/O tensor names (inputs with their per-sample shape, without the batch);
* ``reference(x)`` is an independent numpy forward pass (float64, no gie code) for checking engines.

    import gie, gie.models
    model = gie.models.lenet(seed=0)
    engine = gie.models.build(model, device="cpu", max_batch=8)
    out = engine.create_execution_context().execute({"data": x})["prob"]
    assert abs(out - model.reference(x)).max() < 1e-4

The weights are random (not trained): the models exercise the engine, they do not classify anything.
New models follow the same pattern: a ``name(seed=0)`` function and a ``name_reference(weights, x)``.
"""
from typing import Callable, Dict, List, NamedTuple, Tuple

import numpy as np

__all__ = ["Model", "build", "lenet", "lenet_reference"]


class Model(NamedTuple):
    define: Callable  # define(network) -> network, with inputs, layers and marked outputs added
    weights: Dict[str, np.ndarray]
    inputs: Dict[str, Tuple[int, ...]]  # input name -> per-sample shape (no batch dimension)
    outputs: List[str]
    reference: Callable  # reference(x) -> numpy output of the (single) output, for a batch x


def build(model, device="cpu", max_batch=1, builder=None):
    """Defines ``model`` in a new network and builds an engine for ``device`` with batches 1..max_batch."""
    import gie  # local import: gie.models is imported by gie's command line before gie is used

    builder = builder or gie.Builder()
    net = model.define(builder.create_network())
    config = builder.create_config()
    config.device = device
    config.max_batch = max_batch
    return builder.build(net, config)


# ---- LeNet ---------------------------------------------------------------------------------------

def _lenet_weights(seed):
    rng = np.random.default_rng(seed)

    def he(shape, fan_in):  # He-style scale so that activations stay O(1) through the layers
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    def bias(n):
        return (rng.standard_normal(n) * 0.1).astype(np.float32)

    return {
        "conv1.kernel": he((20, 1, 5, 5), 1 * 5 * 5), "conv1.bias": bias(20),
        "conv2.kernel": he((50, 20, 5, 5), 20 * 5 * 5), "conv2.bias": bias(50),
        "ip1.kernel": he((500, 800), 800), "ip1.bias": bias(500),
        "ip2.kernel": he((10, 500), 500), "ip2.bias": bias(10),
    }


def lenet(seed=0):
    """Caffe's MNIST LeNet: input "data" (N, 1, 28, 28) -> conv 5x5x20 -> maxpool 2/2 -> conv 5x5x50 ->
    maxpool 2/2 -> FC 500 -> ReLU -> FC 10 -> softmax -> output "prob" (N, 10). Weights from ``seed``."""
    import gie

    weights = _lenet_weights(seed)
    w = weights

    def define(net):
        x = net.add_input("data", gie.float32, (1, 1, 28, 28))
        c1 = net.add_convolution(x, 20, (5, 5), w["conv1.kernel"], w["conv1.bias"])
        c1.name = "conv1"
        p1 = net.add_pooling(c1.output(0), gie.PoolingType.MAX, (2, 2), stride=(2, 2))
        p1.name = "pool1"
        c2 = net.add_convolution(p1.output(0), 50, (5, 5), w["conv2.kernel"], w["conv2.bias"])
        c2.name = "conv2"
        p2 = net.add_pooling(c2.output(0), gie.PoolingType.MAX, (2, 2), stride=(2, 2))
        p2.name = "pool2"
        f1 = net.add_fully_connected(p2.output(0), 500, w["ip1.kernel"], w["ip1.bias"])
        f1.name = "ip1"
        r1 = net.add_activation(f1.output(0), gie.ActivationType.RELU)
        r1.name = "relu1"
        f2 = net.add_fully_connected(r1.output(0), 10, w["ip2.kernel"], w["ip2.bias"])
        f2.name = "ip2"
        prob = net.add_softmax(f2.output(0))
        prob.name = "prob"
        net.mark_output(prob.output(0), "prob")
        return net

    return Model(define=define, weights=weights, inputs={"data": (1, 28, 28)}, outputs=["prob"],
                 reference=lambda x: lenet_reference(weights, x))


def _conv2d_valid(x, k, b):
    """Stride-1 unpadded convolution, NCHW x (K, C, R, S), by explicit im2col (float64)."""
    n, c, h, wd = x.shape
    kk, kc, r, s = k.shape
    assert kc == c, f"conv: input has {c} channels, kernel expects {kc}"
    p, q = h - r + 1, wd - s + 1
    cols = np.empty((n, c, r, s, p, q), dtype=np.float64)
    for i in range(r):
        for j in range(s):
            cols[:, :, i, j] = x[:, :, i:i + p, j:j + q]
    out = np.tensordot(k.astype(np.float64), cols, axes=([1, 2, 3], [1, 2, 3]))  # (K, N, P, Q)
    return out.transpose(1, 0, 2, 3) + b.astype(np.float64)[None, :, None, None]


def _maxpool2x2(x):
    n, c, h, w = x.shape
    return x[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def lenet_reference(weights, x):
    """The LeNet forward pass in plain numpy (float64), independent of gie: x (N, 1, 28, 28) -> (N, 10)."""
    w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    h = np.asarray(x, dtype=np.float64)
    h = _maxpool2x2(_conv2d_valid(h, w["conv1.kernel"], w["conv1.bias"]))
    h = _maxpool2x2(_conv2d_valid(h, w["conv2.kernel"], w["conv2.bias"]))
    h = h.reshape(h.shape[0], -1) @ w["ip1.kernel"].T + w["ip1.bias"]
    h = np.maximum(h, 0.0)
    h = h @ w["ip2.kernel"].T + w["ip2.bias"]
    e = np.exp(h - h.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
