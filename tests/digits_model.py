"""A small trained CNN for the INT8 accuracy tests (issue 14): scikit-learn's bundled 8x8 digits, trained in numpy
(seeded, a few seconds on one core), exported to ONNX with onnx.helper.

    conv 3x3 (1 -> 8, pad 1) + BatchNorm + ReLU + max pool 2  ->  8 x 4 x 4
    conv 3x3 (8 -> 16, pad 1) + BatchNorm + ReLU + max pool 2 -> 16 x 2 x 2
    flatten -> Gemm (64 -> 10) -> logits

``train()`` returns a DigitsModel: the parameters, the data split (train / test, 1347 / 450 images, stratified),
``forward(x)`` (numpy, float32, inference mode: BatchNorm with its running statistics) returning every named
activation, ``accuracy(logits, labels)`` and ``onnx_model()``. The ONNX tensor names are those of ``forward``.

    python tests/digits_model.py [out.onnx]     # trains, prints the test accuracy, writes the ONNX file
"""
import sys
import time

import numpy as np

F32 = np.float32
EPS = 1e-5
# The activations forward() returns, in order: the ONNX tensor names of the exported graph.
NAMES = ["input", "conv1", "bn1", "relu1", "pool1", "conv2", "bn2", "relu2", "pool2", "flat", "logits"]


def _im2col(x):
    """3x3, pad 1, stride 1: (N, C, H, W) -> (N, C*9, H*W)."""
    n, c, h, w = x.shape
    p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.empty((n, c, 9, h * w), x.dtype)
    for r in range(3):
        for s in range(3):
            cols[:, :, r * 3 + s] = p[:, :, r:r + h, s:s + w].reshape(n, c, h * w)
    return cols.reshape(n, c * 9, h * w)


def _col2im(cols, shape):
    n, c, h, w = shape
    cols = cols.reshape(n, c, 9, h, w)
    p = np.zeros((n, c, h + 2, w + 2), cols.dtype)
    for r in range(3):
        for s in range(3):
            p[:, :, r:r + h, s:s + w] += cols[:, :, r * 3 + s]
    return p[:, :, 1:-1, 1:-1]


def _conv(x, w, b):
    n, _, h, ww = x.shape
    cols = _im2col(x)
    y = np.einsum("kc,ncp->nkp", w.reshape(w.shape[0], -1), cols) + b.reshape(1, -1, 1)
    return y.reshape(n, w.shape[0], h, ww).astype(F32), cols


def _pool(x):
    n, c, h, w = x.shape
    r = x.reshape(n, c, h // 2, 2, w // 2, 2)
    y = r.max(axis=(3, 5))
    mask = r == y[:, :, :, None, :, None]
    return y, mask


class DigitsModel:
    def __init__(self, params, data):
        self.p = params
        self.x_train, self.y_train, self.x_test, self.y_test = data

    def forward(self, x):
        """Inference (BatchNorm with running statistics); {name: float32 array} for every name in NAMES."""
        p = self.p
        a = {"input": np.asarray(x, F32)}
        h = a["input"]
        for i in (1, 2):
            h = a[f"conv{i}"] = _conv(h, p[f"w{i}"], p[f"b{i}"])[0]
            inv = (p[f"gamma{i}"] / np.sqrt(p[f"var{i}"] + F32(EPS))).astype(F32)
            h = a[f"bn{i}"] = ((h - p[f"mean{i}"].reshape(1, -1, 1, 1)) * inv.reshape(1, -1, 1, 1) + p[f"beta{i}"].reshape(1, -1, 1, 1)).astype(F32)
            h = a[f"relu{i}"] = np.maximum(h, F32(0))
            h = a[f"pool{i}"] = _pool(h)[0]
        a["flat"] = h.reshape(h.shape[0], -1)
        a["logits"] = (a["flat"] @ p["w3"].T + p["b3"]).astype(F32)
        return a

    @staticmethod
    def accuracy(logits, labels):
        return float((np.argmax(logits, axis=1) == labels).mean())

    def onnx_model(self):
        import onnx
        from onnx import TensorProto, helper, numpy_helper
        p = self.p
        inits = [numpy_helper.from_array(np.asarray(v, F32), k) for k, v in p.items()]
        nodes = []
        prev = "input"
        for i in (1, 2):
            nodes += [
                helper.make_node("Conv", [prev, f"w{i}", f"b{i}"], [f"conv{i}"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                helper.make_node("BatchNormalization", [f"conv{i}", f"gamma{i}", f"beta{i}", f"mean{i}", f"var{i}"], [f"bn{i}"],
                                 epsilon=EPS),
                helper.make_node("Relu", [f"bn{i}"], [f"relu{i}"]),
                helper.make_node("MaxPool", [f"relu{i}"], [f"pool{i}"], kernel_shape=[2, 2], strides=[2, 2]),
            ]
            prev = f"pool{i}"
        nodes += [helper.make_node("Flatten", ["pool2"], ["flat"], axis=1),
                  helper.make_node("Gemm", ["flat", "w3", "b3"], ["logits"], transB=1)]
        graph = helper.make_graph(nodes, "digits_cnn", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
                                  [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="gie tests/digits_model.py")
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def load_data(seed=0):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    x = (d.images.astype(F32) / F32(16) - F32(0.5)).reshape(-1, 1, 8, 8)
    x_tr, x_te, y_tr, y_te = train_test_split(x, d.target, test_size=450, random_state=seed, stratify=d.target)
    return x_tr.astype(F32), y_tr, x_te.astype(F32), y_te


def train(seed=0, epochs=30, batch=32, lr=3e-3):
    data = load_data(seed)
    x_tr, y_tr = data[0], data[1]
    rng = np.random.default_rng(seed)

    def he(shape, fan_in):
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(F32)

    p = {"w1": he((8, 1, 3, 3), 9), "b1": np.zeros(8, F32), "gamma1": np.ones(8, F32), "beta1": np.zeros(8, F32),
         "mean1": np.zeros(8, F32), "var1": np.ones(8, F32),
         "w2": he((16, 8, 3, 3), 72), "b2": np.zeros(16, F32), "gamma2": np.ones(16, F32), "beta2": np.zeros(16, F32),
         "mean2": np.zeros(16, F32), "var2": np.ones(16, F32),
         "w3": he((10, 64), 64), "b3": np.zeros(10, F32)}
    trainable = ["w1", "b1", "gamma1", "beta1", "w2", "b2", "gamma2", "beta2", "w3", "b3"]
    m = {k: np.zeros_like(p[k]) for k in trainable}
    v = {k: np.zeros_like(p[k]) for k in trainable}
    step = 0
    for epoch in range(epochs):
        order = rng.permutation(len(x_tr))
        rate = lr * (0.5 * (1 + np.cos(np.pi * epoch / epochs)))  # cosine decay
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            xb, yb = x_tr[idx], y_tr[idx]
            n = len(idx)
            cache = []
            h = xb
            for li in (1, 2):  # forward, BatchNorm in training mode
                z, cols = _conv(h, p[f"w{li}"], p[f"b{li}"])
                mu = z.mean(axis=(0, 2, 3))
                var = z.var(axis=(0, 2, 3))
                inv = 1.0 / np.sqrt(var + EPS)
                xhat = (z - mu.reshape(1, -1, 1, 1)) * inv.reshape(1, -1, 1, 1)
                bn = p[f"gamma{li}"].reshape(1, -1, 1, 1) * xhat + p[f"beta{li}"].reshape(1, -1, 1, 1)
                r = np.maximum(bn, 0)
                pooled, mask = _pool(r)
                p[f"mean{li}"] = (0.9 * p[f"mean{li}"] + 0.1 * mu).astype(F32)
                p[f"var{li}"] = (0.9 * p[f"var{li}"] + 0.1 * var * z[:, 0].size / max(z[:, 0].size - 1, 1)).astype(F32)
                cache.append((h, cols, xhat, inv, bn, mask, r.shape))
                h = pooled
            flat = h.reshape(n, -1)
            logits = flat @ p["w3"].T + p["b3"]
            e = np.exp(logits - logits.max(axis=1, keepdims=True))
            prob = e / e.sum(axis=1, keepdims=True)
            dlog = prob
            dlog[np.arange(n), yb] -= 1
            dlog /= n
            g = {"w3": dlog.T @ flat, "b3": dlog.sum(axis=0)}
            dh = (dlog @ p["w3"]).reshape(h.shape)
            for li in (2, 1):  # backward
                hin, cols, xhat, inv, bn, mask, rshape = cache[li - 1]
                nn_, c, hh, ww = rshape
                dr = (mask * dh[:, :, :, None, :, None]).reshape(rshape)
                dbn = dr * (bn > 0)
                g[f"gamma{li}"] = (dbn * xhat).sum(axis=(0, 2, 3))
                g[f"beta{li}"] = dbn.sum(axis=(0, 2, 3))
                dxhat = dbn * p[f"gamma{li}"].reshape(1, -1, 1, 1)
                cnt = nn_ * hh * ww
                dz = (inv.reshape(1, -1, 1, 1) / cnt) * (cnt * dxhat - dxhat.sum(axis=(0, 2, 3)).reshape(1, -1, 1, 1)
                                                         - xhat * (dxhat * xhat).sum(axis=(0, 2, 3)).reshape(1, -1, 1, 1))
                dzf = dz.reshape(nn_, c, hh * ww)
                w = p[f"w{li}"]
                g[f"w{li}"] = np.einsum("nkp,ncp->kc", dzf, cols).reshape(w.shape)
                g[f"b{li}"] = dzf.sum(axis=(0, 2))
                if li > 1:
                    dh = _col2im(np.einsum("kc,nkp->ncp", w.reshape(w.shape[0], -1), dzf), hin.shape)
            step += 1
            for k in trainable:  # Adam
                m[k] = 0.9 * m[k] + 0.1 * g[k]
                v[k] = 0.999 * v[k] + 0.001 * g[k] * g[k]
                mh = m[k] / (1 - 0.9 ** step)
                vh = v[k] / (1 - 0.999 ** step)
                p[k] = (p[k] - rate * mh / (np.sqrt(vh) + 1e-8)).astype(F32)
    return DigitsModel(p, data)


if __name__ == "__main__":
    t0 = time.time()
    model = train()
    acc = model.accuracy(model.forward(model.x_test)["logits"], model.y_test)
    print(f"trained in {time.time() - t0:.1f} s: test accuracy {acc:.4f} on {len(model.y_test)} images")
    if len(sys.argv) > 1:
        import onnx
        onnx.save(model.onnx_model(), sys.argv[1])
        print("wrote", sys.argv[1])
