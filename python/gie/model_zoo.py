"""Built-in benchmark networks with seeded random weights: ResNet-50, GoogLeNet (BVLC Caffe), YOLOv2 (VOC),
MobileNetV2 and EfficientNet-B0 (torchvision).

Each model is described once, as a :class:`ModelSpec`: a list of simple ops (conv, batchnorm, relu, pool,
add, concat, fc, ...) that carry their numpy weights and the shape of every tensor. Two emitters turn a spec
into a runnable network:

* :meth:`ModelSpec.to_gie` adds it to a ``gie.NetworkDefinition`` (this module);
* ``bench/onnx_export.py`` (``to_onnx(spec)``) writes the *same* spec, weights included, as an ONNX graph
  for onnxruntime.

Because both come from one description, the gie network and its ONNX twin are the same network.

    import gie
    from gie import model_zoo
    builder = gie.Builder(); net = builder.create_network()
    m = model_zoo.define_resnet50(net, seed=0, image=224)   # adds input "data" (1, 3, 224, 224)
    net.mark_output(m.output, "prob")                         # m.outputs: {"logits": ..., "prob": ...}
    m.spec                                                    # the description (weights included)

The weights are random (not trained) but scaled (He-style, BatchNorm statistics with gain ~1) so that
activations stay O(1) through the whole depth: outputs are finite and not all equal. ``seed`` selects the
weights; the same (model, seed, image) always gives the same weights.

Layer-by-layer conventions (what the gie network and the ONNX twin both compute):

* BatchNorm: ``y = gamma * (x - mean) / sqrt(var + eps) + beta``. gie gets it folded into a Scale layer in
  CHANNEL mode (``scale = gamma / sqrt(var + eps)``, ``shift = beta - mean * scale``, computed in float64);
  ONNX gets a BatchNormalization node with the four vectors.
* Pooling ``ceil`` = Caffe rounding (gie ``ceil_mode = 1``, ONNX ``ceil_mode = 1``); MAX pooling never
  takes padding; AVERAGE pooling here never has padding.
* LRN (GoogLeNet): Caffe across-channel LRN, ``x / (k + alpha / n * sum x^2) ^ beta`` (= ONNX LRN).
* Darknet reorg (YOLOv2 passthrough): see :func:`darknet_reorg_reference`.
* Grouped / depthwise convolution (MobileNetV2, EfficientNet-B0): ``groups`` attribute of a conv (kernel
  ``(K, C/groups, R, S)``).
* ReLU6 = ``min(max(x, 0), 6)`` (gie RELU6, ONNX Clip(0, 6)); SiLU = ``x * sigmoid(x)`` (gie SILU activation;
  the ONNX twin writes Sigmoid + Mul, as torch exports ``nn.SiLU``); ``mul`` multiplies a (C, H, W) tensor by a
  (C, 1, 1) one (squeeze-excitation scale, numpy broadcasting in both emitters).
"""
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import numpy as np

__all__ = ["ModelSpec", "Op", "WeightBank", "ZooModel", "MODELS", "describe", "define", "build", "fold_batchnorm",
           "resnet50_spec", "googlenet_spec", "yolov2_spec", "mobilenetv2_spec", "efficientnet_b0_spec",
           "define_resnet50", "define_googlenet", "define_yolov2", "darknet_reorg_reference", "default_image"]


# ---- the description ------------------------------------------------------------------------------

@dataclass
class Op:
    """One op of a model description.

    kind: conv, bn, relu, relu6, leaky, silu, sigmoid, maxpool, avgpool, global_avgpool, add, mul, concat, fc,
    softmax, lrn, reorg.
    inputs / output: tensor names. attrs: plain parameters. weights: {name: float32 array}.
    """
    kind: str
    name: str
    inputs: List[str]
    output: str
    attrs: Dict = field(default_factory=dict)
    weights: Dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class ModelSpec:
    """A whole model: input "data" of shape (batch, *input_shape), ops in topological order, named outputs.

    shapes maps every tensor name to its per-sample shape (no batch dimension). outputs lists the tensors
    a caller may mark, main output first (e.g. ["prob", "logits"]).
    """
    name: str
    input_name: str
    input_shape: Tuple[int, ...]
    ops: List[Op]
    outputs: List[str]
    shapes: Dict[str, Tuple[int, ...]]
    seed: int = 0

    def weights(self) -> Dict[str, np.ndarray]:
        """{op_name.weight_name: array} of every weight the model uses."""
        return {f"{op.name}.{k}": v for op in self.ops for k, v in op.weights.items()}

    def num_params(self) -> int:
        return int(sum(v.size for op in self.ops for v in op.weights.values()))

    def flops(self) -> int:
        """Multiply-adds x 2 of the convolutions and FC layers, per sample."""
        total = 0
        for op in self.ops:
            if op.kind == "conv":
                k = op.weights["kernel"]
                total += 2 * k.size * int(np.prod(self.shapes[op.output][1:]))
            elif op.kind == "fc":
                total += 2 * op.weights["kernel"].size
        return total

    def random_input(self, batch=1, seed=1) -> np.ndarray:
        """A reproducible standard-normal input of shape (batch, *input_shape), float32."""
        rng = np.random.default_rng(seed)
        return rng.standard_normal((batch,) + tuple(self.input_shape)).astype(np.float32)

    # ---- gie emitter ----
    def to_gie(self, net, batch=1, mark=()) -> "ZooModel":
        """Adds input ``data`` (batch, C, H, W) and every op to ``net``; marks the outputs named in ``mark``.

        Returns a :class:`ZooModel` whose ``outputs`` maps every name of ``self.outputs`` to its gie tensor.
        """
        import gie  # local import: the description part of this module needs only numpy

        t = {self.input_name: net.add_input(self.input_name, gie.float32, (batch,) + tuple(self.input_shape))}
        for op in self.ops:
            layers = _emit_gie(gie, net, op, [t[i] for i in op.inputs], self.shapes)
            for i, layer in enumerate(layers):
                layer.name = op.name if i == len(layers) - 1 else f"{op.name}/{i}"
            t[op.output] = layers[-1].output(0)
        outs = {name: t[name] for name in self.outputs}
        for name in mark:
            net.mark_output(outs[name], name)
        return ZooModel(spec=self, outputs=outs)


@dataclass
class ZooModel:
    """What ``define_*`` returns: the description used (weights included) and the gie output tensors."""
    spec: ModelSpec
    outputs: Dict[str, object]

    @property
    def output(self):
        """The main output tensor (``prob`` for the classifiers, the raw 125-channel map for YOLOv2)."""
        return self.outputs[self.spec.outputs[0]]


def _emit_gie(gie, net, op, xs, shapes):
    """Adds one op; returns the layers it made (the last one produces op.output)."""
    a, w = op.attrs, op.weights
    if op.kind == "conv":
        k = w["kernel"]
        pt, pl, pb, pr = a["pads"]
        return [net.add_convolution(xs[0], k.shape[0], k.shape[2:], k, w.get("bias"), stride=a["stride"],
                                    pre_padding=(pt, pl), post_padding=(pb, pr), num_groups=a.get("groups", 1))]
    if op.kind == "bn":
        scale, shift = fold_batchnorm(w["gamma"], w["beta"], w["mean"], w["var"], a["eps"])
        return [net.add_scale(xs[0], gie.ScaleMode.CHANNEL, shift=shift, scale=scale)]
    if op.kind == "relu":
        return [net.add_activation(xs[0], gie.ActivationType.RELU)]
    if op.kind == "leaky":
        return [net.add_activation(xs[0], gie.ActivationType.LEAKY_RELU, alpha=float(a["alpha"]))]
    if op.kind == "relu6":
        return [net.add_activation(xs[0], gie.ActivationType.RELU6)]
    if op.kind == "silu":
        return [net.add_activation(xs[0], gie.ActivationType.SILU)]
    if op.kind == "sigmoid":
        return [net.add_activation(xs[0], gie.ActivationType.SIGMOID)]
    if op.kind == "mul":
        return [net.add_elementwise(xs[0], xs[1], gie.ElementWiseOperation.PROD)]
    if op.kind in ("maxpool", "avgpool"):
        pt, pl, pb, pr = a["pads"]
        ptype = gie.PoolingType.MAX if op.kind == "maxpool" else gie.PoolingType.AVERAGE
        p = net.add_pooling(xs[0], ptype, a["kernel"], stride=a["stride"])
        if any(a["pads"]):
            p.pre_padding = (pt, pl)
            p.post_padding = (pb, pr)
        if a.get("ceil"):
            p.ceil_mode = 1
        return [p]
    if op.kind == "global_avgpool":
        _, h, wd = shapes[op.inputs[0]]
        return [net.add_pooling(xs[0], gie.PoolingType.AVERAGE, (h, wd))]
    if op.kind == "add":
        return [net.add_elementwise(xs[0], xs[1], gie.ElementWiseOperation.SUM)]
    if op.kind == "concat":
        return [net.add_concatenation(xs, axis=1)]
    if op.kind == "fc":
        return [net.add_fully_connected(xs[0], w["kernel"].shape[0], w["kernel"], w.get("bias"))]
    if op.kind == "softmax":
        return [net.add_softmax(xs[0], axis=1)]
    if op.kind == "lrn":
        return [net.add_lrn(xs[0], a["size"], a["alpha"], a["beta"], a["k"])]
    if op.kind == "reorg":
        c, h, wd = shapes[op.inputs[0]]
        s = a["stride"]
        # Darknet's reorg = space-to-depth of the buffer viewed as (C/s^2, s*H, s*W); see darknet_reorg_reference.
        s1 = net.add_shuffle(xs[0], reshape=(0, c // (s * s), h, s, wd, s), second_transpose=(0, 3, 5, 1, 2, 4))
        s2 = net.add_shuffle(s1.output(0), reshape=(0, c * s * s, h // s, wd // s))
        return [s1, s2]
    raise ValueError(f"unknown op kind '{op.kind}'")


def fold_batchnorm(gamma, beta, mean, var, eps):
    """(scale, shift) of ``gamma * (x - mean) / sqrt(var + eps) + beta`` as float32, computed in float64."""
    scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
    shift = beta.astype(np.float64) - mean.astype(np.float64) * scale
    return scale.astype(np.float32), shift.astype(np.float32)


def darknet_reorg_reference(x, stride=2):
    """Darknet's ``[reorg] stride=s`` (forward, as in pjreddie/darknet), in numpy. x: (N, C, H, W).

    Darknet calls ``reorg_cpu(input, w=W, h=H, c=C, batch, stride, forward=0, output)``, whose loop is
    (out_c = C / s^2, k < C, j < H, i < W)::

        c2 = k % out_c;  off = k / out_c
        output[((n*C + k)*H + j)*W + i] = input[((n*out_c + c2)*(s*H) + j*s + off/s)*(s*W) + i*s + off%s]

    i.e. it reads the (C, H, W) input buffer as if it were (C/s^2, s*H, s*W) and writes a (C, H, W) buffer,
    which the next layer reads as (C*s^2, H/s, W/s). Equivalently: a standard space-to-depth (ONNX
    SpaceToDepth / DCR order: out channel = (dy*s + dx)*C' + c) applied to the input buffer reinterpreted as
    (C' = C/s^2, s*H, s*W). This is NOT the plain space-to-depth of the (C, H, W) tensor (the "quirk": a
    2x2 block gathers pixels from different rows/channels of the real input). YOLOv2-VOC was trained with
    this mapping, so gie and the ONNX twin both reproduce it exactly:

        reshape (N, C/s^2, H, s, W, s) -> transpose (0, 3, 5, 1, 2, 4) -> reshape (N, C*s^2, H/s, W/s)
    """
    n, c, h, w = x.shape
    s = stride
    v = x.reshape(n, c // (s * s), h, s, w, s).transpose(0, 3, 5, 1, 2, 4)
    return np.ascontiguousarray(v).reshape(n, c * s * s, h // s, w // s)


# ---- weights ----------------------------------------------------------------------------------------

class WeightBank:
    """Seeded random weights, drawn in the order the model asks for them."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def he(self, shape, fan_in, gain=2.0):
        """Normal with std sqrt(gain / fan_in) (He: gain 2 for ReLU)."""
        return self.normal(shape, np.sqrt(gain / fan_in))

    def normal(self, shape, std, mean=0.0):
        x = self.rng.standard_normal(shape, dtype=np.float32)
        x *= np.float32(std)
        if mean:
            x += np.float32(mean)
        return x

    def uniform(self, shape, lo, hi):
        return self.rng.uniform(lo, hi, shape).astype(np.float32)

    def batchnorm(self, c, gain=1.0):
        """gamma, beta, mean, var with gamma / sqrt(var) ~ gain * U(0.8, 1.2): non-trivial yet O(1)."""
        var = self.uniform(c, 0.5, 2.0)
        mean = self.normal(c, 0.1)
        gamma = (gain * self.rng.uniform(0.8, 1.2, c) * np.sqrt(var)).astype(np.float32)
        beta = self.normal(c, 0.1)
        return gamma, beta, mean, var


# ---- description builder ----------------------------------------------------------------------------

def _out_size(n, k, s, p0, p1, ceil):
    span = n + p0 + p1 - k
    o = (-(-span // s) if ceil else span // s) + 1
    if ceil and (o - 1) * s >= n + p0:
        o -= 1
    return o


class _Describer:
    def __init__(self, name, seed, input_shape):
        self.bank = WeightBank(seed)
        self.spec = ModelSpec(name=name, input_name="data", input_shape=tuple(input_shape), ops=[], outputs=[],
                              shapes={"data": tuple(input_shape)}, seed=seed)
        self._names = set()

    def _op(self, kind, name, inputs, shape, attrs=None, weights=None, output=None):
        assert name not in self._names, name
        self._names.add(name)
        out = output or name
        self.spec.ops.append(Op(kind, name, list(inputs), out, attrs or {}, weights or {}))
        self.spec.shapes[out] = tuple(int(v) for v in shape)
        return out

    def shape(self, x):
        return self.spec.shapes[x]

    def conv(self, x, k, size, stride=1, pad=0, bias=False, name=None, gain=2.0, bias_std=0.1, output=None,
             groups=1):
        c, h, w = self.shape(x)
        assert c % groups == 0 and k % groups == 0, (c, k, groups)
        cg = c // groups
        weights = {"kernel": self.bank.he((k, cg, size, size), cg * size * size, gain)}
        if bias:
            weights["bias"] = self.bank.normal(k, bias_std)
        p = _out_size(h, size, stride, pad, pad, False), _out_size(w, size, stride, pad, pad, False)
        attrs = {"stride": stride, "pads": (pad, pad, pad, pad)}
        if groups != 1:
            attrs["groups"] = groups
        return self._op("conv", name, [x], (k,) + p, attrs, weights, output)

    def bn(self, x, name, eps=1e-5, gain=1.0, params=None):
        gamma, beta, mean, var = params if params is not None else self.bank.batchnorm(self.shape(x)[0], gain)
        return self._op("bn", name, [x], self.shape(x), {"eps": eps},
                        {"gamma": gamma, "beta": beta, "mean": mean, "var": var})

    def relu(self, x, name):
        return self._op("relu", name, [x], self.shape(x))

    def leaky(self, x, name, alpha=0.1):
        return self._op("leaky", name, [x], self.shape(x), {"alpha": alpha})

    def relu6(self, x, name):
        return self._op("relu6", name, [x], self.shape(x))

    def silu(self, x, name):
        return self._op("silu", name, [x], self.shape(x))

    def sigmoid(self, x, name):
        return self._op("sigmoid", name, [x], self.shape(x))

    def mul(self, x, scale, name):
        """x (C, H, W) times scale (C, 1, 1) or the same shape."""
        xs, ss = self.shape(x), self.shape(scale)
        assert ss == xs or (ss[0] == xs[0] and ss[1:] == (1, 1)), (xs, ss)
        return self._op("mul", name, [x, scale], xs)

    def pool(self, kind, x, k, s, pad=0, ceil=False, name=None):
        c, h, w = self.shape(x)
        p = _out_size(h, k, s, pad, pad, ceil), _out_size(w, k, s, pad, pad, ceil)
        assert p[0] > 0 and p[1] > 0, f"{name}: input {h}x{w} is too small for a {k}x{k} window"
        return self._op(kind, name, [x], (c,) + p, {"kernel": (k, k), "stride": (s, s), "pads": (pad,) * 4,
                                                   "ceil": bool(ceil)})

    def global_avgpool(self, x, name):
        return self._op("global_avgpool", name, [x], (self.shape(x)[0], 1, 1))

    def add(self, a, b, name):
        assert self.shape(a) == self.shape(b), (self.shape(a), self.shape(b))
        return self._op("add", name, [a, b], self.shape(a))

    def concat(self, xs, name):
        shapes = [self.shape(x) for x in xs]
        assert all(s[1:] == shapes[0][1:] for s in shapes), shapes
        return self._op("concat", name, xs, (sum(s[0] for s in shapes),) + shapes[0][1:])

    def fc(self, x, n, name, gain=1.0):
        flat = int(np.prod(self.shape(x)))
        return self._op("fc", name, [x], (n,), {}, {"kernel": self.bank.he((n, flat), flat, gain),
                                                    "bias": self.bank.normal(n, 0.1)})

    def softmax(self, x, name):
        return self._op("softmax", name, [x], self.shape(x))

    def lrn(self, x, name, size=5, alpha=1e-4, beta=0.75, k=1.0):
        return self._op("lrn", name, [x], self.shape(x), {"size": size, "alpha": alpha, "beta": beta, "k": k})

    def reorg(self, x, name, stride=2):
        c, h, w = self.shape(x)
        assert c % (stride * stride) == 0 and h % stride == 0 and w % stride == 0, self.shape(x)
        return self._op("reorg", name, [x], (c * stride * stride, h // stride, w // stride), {"stride": stride})


# ---- ResNet-50 (torchvision v1.5) -------------------------------------------------------------------

def resnet50_spec(seed=0, image=224) -> ModelSpec:
    """ResNet-50 v1.5 (torchvision): stride in the 3x3 conv of the bottleneck, conv (no bias) + BN + ReLU,
    residual add, global average pool, FC 1000 (outputs "logits") and softmax ("prob").

    Any image >= 32 works (the feature map is image/32 before the global pool). The last BN of each residual
    branch gets a gain of 0.2 so that the residual sum grows slowly through the 16 blocks.
    """
    d = _Describer("resnet50", seed, (3, image, image))
    x = d.conv("data", 64, 7, stride=2, pad=3, name="conv1")
    x = d.relu(d.bn(x, "bn1"), "relu1")
    x = d.pool("maxpool", x, 3, 2, pad=1, name="maxpool")
    cin = 64
    for stage, (width, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], start=1):
        for b in range(blocks):
            p = f"layer{stage}.{b}"
            s = stride if b == 0 else 1
            y = d.relu(d.bn(d.conv(x, width, 1, name=f"{p}.conv1"), f"{p}.bn1"), f"{p}.relu1")
            y = d.relu(d.bn(d.conv(y, width, 3, stride=s, pad=1, name=f"{p}.conv2"), f"{p}.bn2"), f"{p}.relu2")
            y = d.bn(d.conv(y, width * 4, 1, name=f"{p}.conv3"), f"{p}.bn3", gain=0.2)
            if b == 0 and (s != 1 or cin != width * 4):
                x = d.bn(d.conv(x, width * 4, 1, stride=s, name=f"{p}.downsample.0"), f"{p}.downsample.1")
            x = d.relu(d.add(x, y, f"{p}.add"), f"{p}.relu")
            cin = width * 4
    x = d.global_avgpool(x, "avgpool")
    logits = d.fc(x, 1000, "logits")
    prob = d.softmax(logits, "prob")
    d.spec.outputs = [prob, logits]
    return d.spec


# ---- GoogLeNet (BVLC Caffe deploy) ------------------------------------------------------------------

_INCEPTION = {  # name: (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj), as in googlenet_deploy.prototxt
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64), "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64), "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128),
}


def googlenet_spec(seed=0, image=224) -> ModelSpec:
    """GoogLeNet as in BVLC googlenet_deploy.prototxt: conv (with bias) + ReLU, LRN (5, 1e-4, 0.75), max
    pooling with Caffe's ceil rounding, 9 inception modules (concat of 1x1 / 3x3 / 5x5 / pool-proj branches),
    7x7 average pool, FC 1000 ("logits"), softmax ("prob"). Dropout (inference no-op) is omitted.

    Needs image >= 224 (the last feature map must be at least 7x7 for the 7x7 average pool).
    """
    d = _Describer("googlenet", seed, (3, image, image))

    def conv_relu(x, k, size, name, stride=1, pad=0):
        return d.relu(d.conv(x, k, size, stride=stride, pad=pad, bias=True, name=name), name + "/relu")

    x = conv_relu("data", 64, 7, "conv1/7x7_s2", stride=2, pad=3)
    x = d.pool("maxpool", x, 3, 2, ceil=True, name="pool1/3x3_s2")
    x = d.lrn(x, "pool1/norm1")
    x = conv_relu(x, 64, 1, "conv2/3x3_reduce")
    x = conv_relu(x, 192, 3, "conv2/3x3", pad=1)
    x = d.lrn(x, "conv2/norm2")
    x = d.pool("maxpool", x, 3, 2, ceil=True, name="pool2/3x3_s2")
    for m in ["3a", "3b", "pool3", "4a", "4b", "4c", "4d", "4e", "pool4", "5a", "5b"]:
        if m.startswith("pool"):
            x = d.pool("maxpool", x, 3, 2, ceil=True, name=f"{m}/3x3_s2")
            continue
        n1, r3, n3, r5, n5, pp = _INCEPTION[m]
        p = f"inception_{m}"
        b1 = conv_relu(x, n1, 1, f"{p}/1x1")
        b2 = conv_relu(conv_relu(x, r3, 1, f"{p}/3x3_reduce"), n3, 3, f"{p}/3x3", pad=1)
        b3 = conv_relu(conv_relu(x, r5, 1, f"{p}/5x5_reduce"), n5, 5, f"{p}/5x5", pad=2)
        b4 = conv_relu(d.pool("maxpool", x, 3, 1, pad=1, ceil=True, name=f"{p}/pool"), pp, 1, f"{p}/pool_proj")
        x = d.concat([b1, b2, b3, b4], f"{p}/output")
    x = d.pool("avgpool", x, 7, 1, ceil=True, name="pool5/7x7_s1")
    logits = d.fc(x, 1000, "loss3/classifier")
    prob = d.softmax(logits, "prob")
    d.spec.outputs = [prob, logits]
    return d.spec


# ---- YOLOv2 (darknet yolov2-voc.cfg) ----------------------------------------------------------------

def yolov2_spec(seed=0, image=416) -> ModelSpec:
    """YOLOv2-VOC (darknet yolov2-voc.cfg) up to the last convolution: darknet conv (no bias) + BN + leaky
    (0.1), 2x2/2 max pooling, the passthrough route (layer 16 -> 1x1 conv 64 -> reorg /2) concatenated
    (reorg first, as in ``[route] layers=-1,-4``) with the 1024-channel trunk, 3x3 conv 1024, final 1x1 conv
    to 125 channels with bias, linear. The region layer (decoding) is not included: the output "output" is the
    raw (125, image/32, image/32) map. Needs image % 32 == 0.

    Darknet's BatchNorm divides by ``sqrt(var) + 1e-6`` (not ``sqrt(var + eps)``); the spec stores the
    equivalent standard parameters (``var' = (sqrt(var) + 1e-6)^2 - eps``, eps 1e-5), so both emitters compute
    darknet's normalization.
    """
    assert image % 32 == 0, "yolov2 needs an image size that is a multiple of 32"
    d = _Describer("yolov2", seed, (3, image, image))
    eps = 1e-5

    def conv_bn_leaky(x, k, size, i):
        y = d.conv(x, k, size, pad=size // 2, name=f"conv{i}", gain=2.0 / (1 + 0.1 ** 2))
        gamma, beta, mean, var = d.bank.batchnorm(k)
        var_std = ((np.sqrt(var.astype(np.float64)) + 1e-6) ** 2 - eps).astype(np.float32)
        y = d.bn(y, f"bn{i}", eps=eps, params=(gamma, beta, mean, var_std))
        return d.leaky(y, f"leaky{i}", 0.1)

    layers = {}  # darknet layer index -> tensor
    x = "data"
    idx = 0
    plan = [(32, 3), "M", (64, 3), "M", (128, 3), (64, 1), (128, 3), "M", (256, 3), (128, 1), (256, 3), "M",
            (512, 3), (256, 1), (512, 3), (256, 1), (512, 3), "M",
            (1024, 3), (512, 1), (1024, 3), (512, 1), (1024, 3), (1024, 3), (1024, 3)]
    for item in plan:  # darknet layers 0..24
        if item == "M":
            x = d.pool("maxpool", x, 2, 2, name=f"pool{idx}")
        else:
            x = conv_bn_leaky(x, item[0], item[1], idx)
        layers[idx] = x
        idx += 1
    # 25: [route] layers=-9 -> layer 16 (the last 512-channel conv, image/16)
    route = layers[16]
    # 26: 1x1 conv 64;  27: [reorg] stride=2;  28: [route] layers=-1,-4 -> concat(reorg, layer 24)
    y = conv_bn_leaky(route, 64, 1, 26)
    y = d.reorg(y, "reorg27", 2)
    x = d.concat([y, layers[24]], "route28")
    x = conv_bn_leaky(x, 1024, 3, 29)
    out = d.conv(x, 125, 1, bias=True, name="conv30", gain=1.0, output="output")
    d.spec.outputs = [out]
    return d.spec


# ---- MobileNetV2 (torchvision) -------------------------------------------------------------------

def _make_divisible(v, divisor=8):
    """torchvision's channel rounding (multiples of 8, never below 90% of v)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def mobilenetv2_spec(seed=0, image=224) -> ModelSpec:
    """MobileNetV2 (torchvision, width 1.0): conv 3x3/2 32 + BN + ReLU6, 17 inverted residual blocks (1x1
    expand + BN + ReLU6 when the expansion is not 1, depthwise 3x3 + BN + ReLU6, 1x1 project + BN, residual
    add when the stride is 1 and the channels match), 1x1 conv 1280 + BN + ReLU6, global average pool, FC
    1000 ("logits"), softmax ("prob"). Dropout is omitted. 3.5 M parameters, ~0.3 GMAC at 224.

    Any image >= 32 works. The project BN of a block with a residual gets a gain of 0.5 (residual growth).
    """
    d = _Describer("mobilenetv2", seed, (3, image, image))

    def cbr(x, k, size, name, stride=1, groups=1):
        y = d.conv(x, k, size, stride=stride, pad=(size - 1) // 2, name=name, groups=groups)
        return d.relu6(d.bn(y, name + ".bn"), name + ".relu6")

    x = cbr("data", 32, 3, "features.0", stride=2)
    cin = 32
    i = 1
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1)]:
        for b in range(n):
            p = f"features.{i}"
            stride = s if b == 0 else 1
            hidden = int(round(cin * t))
            residual = stride == 1 and cin == c
            y = x if t == 1 else cbr(x, hidden, 1, f"{p}.expand")
            y = cbr(y, hidden, 3, f"{p}.dw", stride=stride, groups=hidden)
            y = d.bn(d.conv(y, c, 1, name=f"{p}.project", gain=1.0), f"{p}.project.bn", gain=0.5 if residual else 1.0)
            x = d.add(x, y, f"{p}.add") if residual else y
            cin = c
            i += 1
    x = cbr(x, 1280, 1, f"features.{i}")
    x = d.global_avgpool(x, "avgpool")
    logits = d.fc(x, 1000, "logits")
    prob = d.softmax(logits, "prob")
    d.spec.outputs = [prob, logits]
    return d.spec


# ---- EfficientNet-B0 (torchvision) ------------------------------------------------------------------

def efficientnet_b0_spec(seed=0, image=224) -> ModelSpec:
    """EfficientNet-B0 (torchvision): conv 3x3/2 32 + BN + SiLU, 16 MBConv blocks (1x1 expand + BN + SiLU when
    the expansion is not 1, depthwise 3x3 or 5x5 + BN + SiLU, squeeze-excitation, 1x1 project + BN, residual
    add when the stride is 1 and the channels match), 1x1 conv 1280 + BN + SiLU, global average pool, FC 1000
    ("logits"), softmax ("prob"). Squeeze-excitation: global average pool -> 1x1 conv (bias) to
    max(1, block input channels / 4) -> SiLU -> 1x1 conv (bias) back -> sigmoid -> channel-wise multiply.
    Dropout and stochastic depth (inference no-ops) are omitted. 5.3 M parameters, ~0.4 GMAC at 224.

    Any image >= 32 works. The project conv's weights are scaled up (He gain 4: the SE scale, ~0.5, and SiLU
    shrink the signal) and the project BN of a block with a residual gets a gain of 0.5, so that activations
    stay O(1) through the depth.
    """
    d = _Describer("efficientnet_b0", seed, (3, image, image))

    def cbs(x, k, size, name, stride=1, groups=1):
        y = d.conv(x, k, size, stride=stride, pad=(size - 1) // 2, name=name, groups=groups)
        return d.silu(d.bn(y, name + ".bn"), name + ".silu")

    x = cbs("data", 32, 3, "features.0", stride=2)
    cin = 32
    i = 1
    for t, k, s, c, n in [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
                          (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]:
        for b in range(n):
            p = f"features.{i}"
            stride = s if b == 0 else 1
            hidden = _make_divisible(cin * t)
            residual = stride == 1 and cin == c
            y = x if t == 1 else cbs(x, hidden, 1, f"{p}.expand")
            y = cbs(y, hidden, k, f"{p}.dw", stride=stride, groups=hidden)
            sq = max(1, cin // 4)
            g = d.global_avgpool(y, f"{p}.se.avgpool")
            g = d.silu(d.conv(g, sq, 1, bias=True, name=f"{p}.se.fc1"), f"{p}.se.silu")
            g = d.sigmoid(d.conv(g, hidden, 1, bias=True, name=f"{p}.se.fc2", gain=1.0, bias_std=1.0),
                          f"{p}.se.sigmoid")
            y = d.mul(y, g, f"{p}.se.scale")
            y = d.bn(d.conv(y, c, 1, name=f"{p}.project", gain=4.0), f"{p}.project.bn", gain=0.5 if residual else 1.0)
            x = d.add(x, y, f"{p}.add") if residual else y
            cin = c
            i += 1
    x = cbs(x, 1280, 1, f"features.{i}")
    x = d.global_avgpool(x, "avgpool")
    logits = d.fc(x, 1000, "logits")
    prob = d.softmax(logits, "prob")
    d.spec.outputs = [prob, logits]
    return d.spec


# ---- public entry points ----------------------------------------------------------------------------

MODELS = {"resnet50": resnet50_spec, "googlenet": googlenet_spec, "yolov2": yolov2_spec,
          "mobilenetv2": mobilenetv2_spec, "efficientnet_b0": efficientnet_b0_spec}
_DEFAULT_IMAGE = {"resnet50": 224, "googlenet": 224, "yolov2": 416, "mobilenetv2": 224, "efficientnet_b0": 224}


def default_image(model):
    """The image size the architecture was designed for (416 for YOLOv2, 224 for the others)."""
    return _DEFAULT_IMAGE[model]


def describe(model, seed=0, image=None) -> ModelSpec:
    """The description of ``model`` (a key of :data:`MODELS`) at ``image`` x ``image``."""
    if model not in MODELS:
        raise ValueError(f"unknown model '{model}' (known: {', '.join(MODELS)})")
    return MODELS[model](seed=seed, image=image or _DEFAULT_IMAGE[model])


def define(model, net, seed=0, image=None, batch=1, mark=None) -> ZooModel:
    """Adds input "data" (batch, 3, image, image) and ``model`` to ``net``.

    mark: output names to mark (default: the main one, "prob" or "output"); () marks nothing.
    Returns a :class:`ZooModel` (``.output``, ``.outputs``, ``.spec``: the description, weights included).
    """
    spec = describe(model, seed, image)
    return spec.to_gie(net, batch=batch, mark=spec.outputs[:1] if mark is None else tuple(mark))


def define_resnet50(net, seed=0, image=224, batch=1, mark=None) -> ZooModel:
    return define("resnet50", net, seed, image, batch, mark)


def define_googlenet(net, seed=0, image=224, batch=1, mark=None) -> ZooModel:
    return define("googlenet", net, seed, image, batch, mark)


def define_yolov2(net, seed=0, image=416, batch=1, mark=None) -> ZooModel:
    return define("yolov2", net, seed, image, batch, mark)


def build(model, seed=0, image=None, max_batch=1, mark=None, device="cpu", builder=None):
    """Builds an engine for ``model``; returns (engine, spec)."""
    import gie

    builder = builder or gie.Builder()
    net = builder.create_network()
    m = define(model, net, seed=seed, image=image, batch=1, mark=mark)
    config = builder.create_config()
    config.device = device
    config.max_batch = max_batch
    return builder.build(net, config), m.spec
