"""Caffe importer (gie.parsers.caffe_parser): LeNet / GoogLeNet vs independent oracles, caffemodel round
trip, V1 format, in-place layers, every layer type vs numpy, error cases, and a fuzz regression.

Fuzzing for longer (prints executions and failures; saves new crashers into the corpus):

    PYTHONPATH=build/<name>/pkg python3 tests/test_caffe_parser.py --fuzz 600
"""
import os
import random
import sys
import time

import numpy as np
import pytest

pytest.importorskip("google.protobuf")

import gie  # noqa: E402
from gie.parsers import caffe_schema as cs  # noqa: E402
from gie.parsers.caffe_parser import CaffeParser  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "models", "caffe"))
CORPUS = os.path.join(HERE, "fuzz_corpus", "caffe")
sys.path.insert(0, os.path.join(HERE, "..", "bench"))


def _model(name):
    path = os.path.join(MODELS, name)
    if not os.path.exists(path):
        pytest.skip(f"{path} is missing (the shared model folder is not beside this checkout)")
    return path


def _run(net, feeds):
    b = gie.Builder()
    c = b.create_config()
    c.device = "cpu"
    c.max_batch = max(v.shape[0] for v in feeds.values())
    return b.build(net, c).create_execution_context().execute(feeds)


def _parse_run(text, feeds, caffemodel=None, **opts):
    p = CaffeParser(**opts)
    net = p.parse_string(text, caffemodel)
    return _run(net, feeds), p


def _close(a, b, rtol=1e-4, atol=1e-5):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# ---- numpy references (written independently of the engine) ---------------------------------------

def np_conv(x, w, b, stride=(1, 1), pad=(0, 0), dil=(1, 1), groups=1):
    n, c, h, wd = x.shape
    k, cg, r, s = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    oh = (h + 2 * pad[0] - dil[0] * (r - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * pad[1] - dil[1] * (s - 1) - 1) // stride[1] + 1
    y = np.zeros((n, k, oh, ow), np.float64)
    kg = k // groups
    for g in range(groups):
        xg = xp[:, g * cg:(g + 1) * cg]
        for i in range(r):
            for j in range(s):
                patch = xg[:, :, i * dil[0]: i * dil[0] + stride[0] * (oh - 1) + 1: stride[0],
                           j * dil[1]: j * dil[1] + stride[1] * (ow - 1) + 1: stride[1]]
                y[:, g * kg:(g + 1) * kg] += np.einsum("nchw,kc->nkhw", patch, w[g * kg:(g + 1) * kg, :, i, j])
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def np_deconv(x, w, b, stride=(1, 1), pad=(0, 0)):
    n, c, h, wd = x.shape
    _, k, r, s = w.shape
    full = np.zeros((n, k, (h - 1) * stride[0] + r, (wd - 1) * stride[1] + s))
    for i in range(h):
        for j in range(wd):
            full[:, :, i * stride[0]:i * stride[0] + r, j * stride[1]:j * stride[1] + s] += \
                np.einsum("nc,ckrs->nkrs", x[:, :, i, j], w)
    y = full[:, :, pad[0]:full.shape[2] - pad[0], pad[1]:full.shape[3] - pad[1]]
    return y + (b.reshape(1, -1, 1, 1) if b is not None else 0)


def np_pool(x, kind, k, s, p, ceil=True):
    """Caffe's PoolingLayer forward (pooling_layer.cpp semantics)."""
    n, c, h, w = x.shape
    rnd = (lambda v: -(-v // s)) if ceil else (lambda v: v // s)
    oh, ow = rnd(h + 2 * p - k) + 1, rnd(w + 2 * p - k) + 1
    if p:
        oh -= (oh - 1) * s >= h + p
        ow -= (ow - 1) * s >= w + p
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            hs, ws = i * s - p, j * s - p
            he, we = min(hs + k, h + p), min(ws + k, w + p)
            size = (he - hs) * (we - ws)
            hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, h), min(we, w)
            win = x[:, :, hs:he, ws:we]
            y[:, :, i, j] = win.max(axis=(2, 3)) if kind == "max" else win.sum(axis=(2, 3)) / size
    return y


def np_lrn(x, n, alpha, beta, k):
    c = x.shape[1]
    sq = np.pad(x.astype(np.float64) ** 2, ((0, 0), (n // 2, n // 2)) + ((0, 0),) * (x.ndim - 2))
    return x / (k + alpha / n * sum(sq[:, i:i + c] for i in range(n))) ** beta


def np_softmax(x, axis=1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ---- LeNet / GoogLeNet ----------------------------------------------------------------------------

def test_lenet_matches_numpy():
    p = CaffeParser(seed=3, batch=2)
    net = p.parse(_model("lenet.prototxt"))
    assert [t.name for t in net.outputs] == ["prob"]
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    got = _run(net, {"data": x})["prob"]
    B = p.blobs
    y = np_conv(x, *B["conv1"])
    y = np_pool(y, "max", 2, 2, 0)
    y = np_conv(y, *B["conv2"])
    y = np_pool(y, "max", 2, 2, 0)
    y = y.reshape(2, -1) @ B["ip1"][0].T + B["ip1"][1]
    y = np.maximum(y, 0) @ B["ip2"][0].T + B["ip2"][1]
    _close(got, np_softmax(y), rtol=1e-4, atol=1e-6)


def test_lenet_prototxt_batch_from_file():
    net = gie.parse(_model("lenet.prototxt"))
    # the file's batch (64) is read and checked; dimension 0 is dynamic, the batch range gives it (issue 15)
    assert net.inputs[0].shape == (-1, 1, 28, 28)
    assert net.outputs[0].shape == (-1, 10)


def _googlenet_check(p, net, spec):
    import onnx_export
    pytest.importorskip("onnxruntime")
    x = spec.random_input(1, seed=5)
    got = _run(net, {"data": x})
    ref = onnx_export.run_onnxruntime(spec, x, ["prob", "loss3/classifier"], threads=os.cpu_count())
    _close(got["loss3/classifier"], ref["loss3/classifier"], rtol=1e-4, atol=1e-4 * np.abs(ref["loss3/classifier"]).max())
    _close(got["prob"], ref["prob"], rtol=1e-4, atol=1e-6)


def test_googlenet_random_weights_match_onnxruntime():
    """The parser's seeded random weights, copied into the model-zoo GoogLeNet, run through onnxruntime."""
    pytest.importorskip("onnx")
    from gie import model_zoo
    p = CaffeParser(seed=1, batch=1, outputs=["prob", "loss3/classifier"])
    net = p.parse(_model("googlenet_deploy.prototxt"))
    spec = model_zoo.googlenet_spec(seed=0)
    used = set()
    for op in spec.ops:
        if op.kind in ("conv", "fc"):
            w, b = p.blobs[op.name]
            assert w.shape == op.weights["kernel"].shape
            op.weights["kernel"], op.weights["bias"] = w, b
            used.add(op.name)
    assert used == {k for k, v in p.blobs.items() if v}
    _googlenet_check(p, net, spec)


def _write_caffemodel(path, weights, v1=False):
    """weights: {layer name: [arrays]} -> a binary NetParameter with only names and blobs."""
    m = cs.NetParameter(name="w")
    for name, arrays in weights.items():
        lp = m.layers.add() if v1 else m.layer.add()
        lp.name = name
        for a in arrays:
            bp = lp.blobs.add()
            bp.shape.dim.extend(a.shape)
            bp.data.extend(np.asarray(a, np.float32).ravel().tolist())
    data = m.SerializeToString()
    if path is not None:
        with open(path, "wb") as f:
            f.write(data)
    return data


def test_googlenet_caffemodel_matches_onnxruntime(tmp_path):
    """Model-zoo GoogLeNet weights written as a .caffemodel, loaded with the deploy prototxt."""
    pytest.importorskip("onnx")
    from gie import model_zoo
    spec = model_zoo.googlenet_spec(seed=7)
    weights = {op.name: [op.weights["kernel"], op.weights["bias"]] for op in spec.ops if op.kind in ("conv", "fc")}
    path = tmp_path / "googlenet.caffemodel"
    _write_caffemodel(path, weights)
    p = CaffeParser(batch=1, outputs=["prob", "loss3/classifier"])
    net = p.parse(_model("googlenet_deploy.prototxt"), str(path))
    for name, arrays in weights.items():
        for a, b in zip(arrays, p.blobs[name]):
            assert np.array_equal(a.astype(np.float32), b)
    _googlenet_check(p, net, spec)


# ---- caffemodel round trip, V1, in-place ---------------------------------------------------------

TINY = """
name: "tiny"
input: "data"
input_shape { dim: 2 dim: 3 dim: 5 dim: 5 }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 stride: 2 } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" relu_param { negative_slope: 0.1 } }
layer { name: "fc" type: "InnerProduct" bottom: "conv" top: "fc" inner_product_param { num_output: 6 } }
"""


def test_caffemodel_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    w = {"conv": [rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)],
         "fc": [rng.standard_normal((6, 36)), rng.standard_normal(6)]}
    proto = tmp_path / "tiny.prototxt"
    proto.write_text(TINY)
    model = tmp_path / "tiny.caffemodel"
    _write_caffemodel(model, w)
    net = gie.parse(str(proto), str(model))
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    got = _run(net, {"data": x})["fc"]
    y = np_conv(x, *w["conv"], stride=(2, 2), pad=(1, 1))
    y = np.where(y > 0, y, 0.1 * y).reshape(2, -1) @ w["fc"][0].T + w["fc"][1]
    _close(got, y)
    # Legacy 4D blob shapes (num, channels, height, width) are accepted too.
    m = cs.NetParameter()
    for name, arrays in w.items():
        lp = m.layer.add(name=name)
        for a in arrays:
            bp = lp.blobs.add(num=1, channels=1, height=1, width=a.shape[0])
            if a.ndim == 2:
                bp.height, bp.width = a.shape
            if a.ndim == 4:
                bp.num, bp.channels, bp.height, bp.width = a.shape
            bp.data.extend(a.ravel().tolist())
    got2 = _run(CaffeParser().parse_string(TINY, m.SerializeToString()), {"data": x})["fc"]
    _close(got2, y)


def test_random_weights_are_seeded():
    a = CaffeParser(seed=4)
    a.parse_string(TINY)
    b = CaffeParser(seed=4)
    b.parse_string(TINY)
    c = CaffeParser(seed=5)
    c.parse_string(TINY)
    assert np.array_equal(a.blobs["conv"][0], b.blobs["conv"][0])
    assert not np.array_equal(a.blobs["conv"][0], c.blobs["conv"][0])


V1 = """
name: "v1net"
input: "data"
input_dim: 2 input_dim: 1 input_dim: 8 input_dim: 8
layers { name: "conv" type: CONVOLUTION bottom: "data" top: "conv"
         convolution_param { num_output: 3 kernel_size: 3 } }
layers { name: "relu" type: RELU bottom: "conv" top: "conv" }
layers { name: "pool" type: POOLING bottom: "conv" top: "pool" pooling_param { pool: AVE kernel_size: 2 stride: 2 } }
layers { name: "drop" type: DROPOUT bottom: "pool" top: "pool" }
layers { name: "ip" type: INNER_PRODUCT bottom: "pool" top: "ip" inner_product_param { num_output: 4 } }
layers { name: "prob" type: SOFTMAX bottom: "ip" top: "prob" }
"""


def test_v1_format_with_caffemodel():
    rng = np.random.default_rng(1)
    w = {"conv": [rng.standard_normal((3, 1, 3, 3)), rng.standard_normal(3)],
         "ip": [rng.standard_normal((4, 27)), rng.standard_normal(4)]}
    x = rng.standard_normal((2, 1, 8, 8)).astype(np.float32)
    out, _ = _parse_run(V1, {"data": x}, _write_caffemodel(None, w, v1=True))
    y = np_pool(np.maximum(np_conv(x, *w["conv"]), 0), "ave", 2, 2, 0)
    _close(out["prob"], np_softmax(y.reshape(2, -1) @ w["ip"][0].T + w["ip"][1]))


def test_in_place_chain_and_outputs():
    text = """
    layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 dim: 4 } } }
    layer { name: "a" type: "AbsVal" bottom: "x" top: "y" }
    layer { name: "p" type: "Power" bottom: "y" top: "y" power_param { scale: 2 shift: 1 } }
    layer { name: "t" type: "TanH" bottom: "y" top: "y" }
    layer { name: "s" type: "Sigmoid" bottom: "x" top: "z" }
    """
    x = np.random.default_rng(2).standard_normal((2, 3, 4)).astype(np.float32)
    out, p = _parse_run(text, {"x": x})
    assert set(out) == {"y", "z"}
    _close(out["y"], np.tanh(2 * np.abs(x) + 1))
    _close(out["z"], 1 / (1 + np.exp(-x)))


def test_train_phase_layers_skipped():
    text = TINY + """
    layer { name: "loss_only" type: "Sigmoid" bottom: "fc" top: "fc2" include { phase: TRAIN } }
    """
    net = CaffeParser().parse_string(text)
    assert [t.name for t in net.outputs] == ["fc"]


# ---- every layer type vs numpy ----------------------------------------------------------------------

def _one(ltype, params, shape=(2, 4, 5, 5), extra_bottoms=(), tops=("y",), blobs=None, seed=0):
    bottoms = "".join(f' bottom: "{b}"' for b in ("x",) + tuple(extra_bottoms))
    topstr = "".join(f' top: "{t}"' for t in tops)
    return (f'layer {{ name: "in" type: "Input" top: "x" input_param {{ shape {{ {" ".join(f"dim: {d}" for d in shape)} }} }} }}\n'
            f'layer {{ name: "L" type: "{ltype}"{bottoms}{topstr} {params} }}\n')


def _x(shape=(2, 4, 5, 5), seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


CASES = {
    "Convolution": ('convolution_param { num_output: 6 kernel_h: 3 kernel_w: 2 stride: 2 pad_h: 1 pad_w: 0 group: 2 }',
                    lambda x, B: np_conv(x, *B, stride=(2, 2), pad=(1, 0), groups=2)),
    "Convolution_dilated": ('convolution_param { num_output: 3 kernel_size: 3 dilation: 2 pad: 2 bias_term: false }',
                            lambda x, B: np_conv(x, B[0], None, pad=(2, 2), dil=(2, 2))),
    "Deconvolution": ('convolution_param { num_output: 3 kernel_size: 3 stride: 2 pad: 1 }',
                      lambda x, B: np_deconv(x, *B, stride=(2, 2), pad=(1, 1))),
    "InnerProduct": ('inner_product_param { num_output: 7 }', lambda x, B: x.reshape(2, -1) @ B[0].T + B[1]),
    "InnerProduct_transpose": ('inner_product_param { num_output: 7 transpose: true axis: 1 }',
                               lambda x, B: x.reshape(2, -1) @ B[0] + B[1]),
    "Pooling_max_ceil": ('pooling_param { pool: MAX kernel_size: 3 stride: 2 }', lambda x, B: np_pool(x, "max", 3, 2, 0)),
    "Pooling_ave_pad": ('pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 }',
                        lambda x, B: np_pool(x, "ave", 3, 2, 1)),
    "Pooling_floor": ('pooling_param { pool: MAX kernel_size: 2 stride: 2 round_mode: FLOOR }',
                      lambda x, B: np_pool(x, "max", 2, 2, 0, ceil=False)),
    "Pooling_global": ('pooling_param { pool: AVE global_pooling: true }', lambda x, B: x.mean(axis=(2, 3), keepdims=True)),
    "ReLU": ('', lambda x, B: np.maximum(x, 0)),
    "ReLU_leaky": ('relu_param { negative_slope: 0.2 }', lambda x, B: np.where(x > 0, x, 0.2 * x)),
    "PReLU": ('', lambda x, B: np.where(x > 0, x, B[0].reshape(1, -1, 1, 1) * x)),
    "PReLU_shared": ('prelu_param { channel_shared: true }', lambda x, B: np.where(x > 0, x, B[0][0] * x)),
    "Sigmoid": ('', lambda x, B: 1 / (1 + np.exp(-x))),
    "TanH": ('', lambda x, B: np.tanh(x)),
    "ELU": ('elu_param { alpha: 0.5 }', lambda x, B: np.where(x > 0, x, 0.5 * (np.exp(x) - 1))),
    "Power": ('power_param { power: 2 scale: 0.5 shift: 3 }', lambda x, B: (3 + 0.5 * x) ** 2),
    "Exp": ('exp_param { base: 2 scale: 0.5 shift: 1 }', lambda x, B: 2.0 ** (1 + 0.5 * x)),
    "Exp_e": ('', lambda x, B: np.exp(x)),
    "Log": ('log_param { base: 10 scale: 2 shift: 20 }', lambda x, B: np.log10(20 + 2 * x)),
    "Log_e": ('log_param { shift: 10 }', lambda x, B: np.log(10 + x)),
    "AbsVal": ('', lambda x, B: np.abs(x)),
    "BNLL": ('', lambda x, B: np.log1p(np.exp(x))),
    "LRN": ('lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 k: 2 }', lambda x, B: np_lrn(x, 3, 0.5, 0.75, 2)),
    "LRN_within": ('lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 norm_region: WITHIN_CHANNEL }',
                   lambda x, B: x * (1 + 0.5 * np_pool(x.astype(np.float64) ** 2, "ave", 3, 1, 1)) ** -0.75),
    "BatchNorm": ('batch_norm_param { eps: 0.001 }',
                  lambda x, B: (x - (B[0] / B[2][0]).reshape(1, -1, 1, 1)) /
                  np.sqrt((B[1] / B[2][0]).reshape(1, -1, 1, 1) + 0.001)),
    "Scale": ('scale_param { bias_term: true }',
              lambda x, B: x * B[0].reshape(1, -1, 1, 1) + B[1].reshape(1, -1, 1, 1)),
    "Scale_axes2": ('scale_param { axis: 1 num_axes: 2 }', lambda x, B: x * B[0].reshape(1, 4, 5, 1)),
    "Scale_uniform": ('scale_param { num_axes: 0 bias_term: true }', lambda x, B: x * B[0] + B[1]),
    "Bias": ('', lambda x, B: x + B[0].reshape(1, -1, 1, 1)),
    "Bias_chw": ('bias_param { num_axes: -1 }', lambda x, B: x + B[0][None]),
    "Softmax": ('', lambda x, B: np_softmax(x, 1)),
    "Softmax_axis": ('softmax_param { axis: -1 }', lambda x, B: np_softmax(x, -1)),
    "Flatten": ('', lambda x, B: x.reshape(2, -1)),
    "Flatten_range": ('flatten_param { axis: 2 end_axis: 3 }', lambda x, B: x.reshape(2, 4, 25)),
    "Reshape": ('reshape_param { shape { dim: 0 dim: -1 dim: 5 } }', lambda x, B: x.reshape(2, 20, 5)),
    "Reshape_axis": ('reshape_param { axis: 2 shape { dim: 25 } }', lambda x, B: x.reshape(2, 4, 25)),
    "Permute": ('permute_param { order: 0 order: 2 order: 3 order: 1 }', lambda x, B: x.transpose(0, 2, 3, 1)),
    "Dropout": ('dropout_param { dropout_ratio: 0.3 }', lambda x, B: x),
    "ArgMax_axis": ('argmax_param { axis: 1 }', lambda x, B: x.argmax(axis=1)[:, None].astype(np.float32)),
    "ArgMax": ('', lambda x, B: x.reshape(2, -1).argmax(axis=1).reshape(2, 1, 1).astype(np.float32)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_vs_numpy(case):
    params, ref = CASES[case]
    ltype = case.split("_")[0]
    x = _x()
    if ltype in ("Log", "Power"):
        x = np.abs(x) + 0.1
    out, p = _parse_run(_one(ltype, params), {"x": x}, seed=11)
    B = [b.astype(np.float64) for b in p.blobs.get("L", [])]
    _close(out["y"], ref(x.astype(np.float64), B), rtol=1e-4, atol=1e-5)


def test_eltwise_ops():
    x = _x()
    for params, ref in [('eltwise_param { operation: SUM coeff: 2 coeff: -1 coeff: 0.5 }', lambda a, b, c: 2 * a - b + 0.5 * c),
                        ('eltwise_param { operation: PROD }', lambda a, b, c: a * b * c),
                        ('eltwise_param { operation: MAX }', lambda a, b, c: np.maximum(np.maximum(a, b), c)),
                        ('', lambda a, b, c: a + b + c)]:
        text = _one("Sigmoid", "", tops=("s",)).replace('"L"', '"s"') + _one("TanH", "", tops=("t",)).split("\n")[1] \
            .replace('"L"', '"t"') + "\n" + f'layer {{ name: "e" type: "Eltwise" bottom: "x" bottom: "s" bottom: "t" top: "y" {params} }}'
        out, _ = _parse_run(text, {"x": x}, outputs=["y"])
        s, t = 1 / (1 + np.exp(-x)), np.tanh(x)
        _close(out["y"], ref(x, s, t))


def test_concat_slice_split_crop():
    x = _x((2, 6, 5, 5))
    text = """
    layer { name: "in" type: "Input" top: "x" top: "r" input_param { shape { dim: 2 dim: 6 dim: 5 dim: 5 }
                                                                     shape { dim: 2 dim: 6 dim: 3 dim: 2 } } }
    layer { name: "sp" type: "Split" bottom: "x" top: "x1" top: "x2" }
    layer { name: "sl" type: "Slice" bottom: "x1" top: "a" top: "b" top: "c" slice_param { axis: 1 slice_point: 1 slice_point: 4 } }
    layer { name: "sl2" type: "Slice" bottom: "x2" top: "d" top: "e" slice_param { axis: -1 } }
    layer { name: "cat" type: "Concat" bottom: "c" bottom: "a" concat_param { axis: 1 } top: "cat" }
    layer { name: "crop" type: "Crop" bottom: "x" bottom: "r" top: "crop" crop_param { axis: 2 offset: 1 offset: 2 } }
    layer { name: "sil" type: "Silence" bottom: "b" }
    """
    r = np.zeros((2, 6, 3, 2), np.float32)
    with pytest.raises(gie.InvalidModelError, match="sl2"):   # 5 does not split in 2
        CaffeParser().parse_string(text)
    text = text.replace("slice_param { axis: -1 }", "slice_param { axis: -1 slice_point: 2 }")
    out, _ = _parse_run(text, {"x": x, "r": r}, outputs=["cat", "d", "e", "crop"])
    _close(out["cat"], np.concatenate([x[:, 4:], x[:, :1]], axis=1))
    _close(out["d"], x[..., :2])
    _close(out["e"], x[..., 2:])
    _close(out["crop"], x[:, :, 1:4, 2:4])


def test_scale_with_two_bottoms():
    text = """
    layer { name: "in" type: "Input" top: "x" top: "s" input_param { shape { dim: 2 dim: 3 dim: 4 dim: 4 } shape { dim: 2 dim: 3 } } }
    layer { name: "sc" type: "Scale" bottom: "x" bottom: "s" top: "y" scale_param { axis: 0 } }
    """
    x, s = _x((2, 3, 4, 4)), _x((2, 3), seed=1)
    out, _ = _parse_run(text, {"x": x, "s": s})
    _close(out["y"], x * s[:, :, None, None])


def test_plugin_layer_type():
    """A Caffe type that is a registered plugin type (here the built-in 'Identity') is imported as one."""
    text = _one("Identity", "")
    x = _x()
    out, _ = _parse_run(text, {"x": x})
    _close(out["y"], x)


_PLUGIN_SCRIPT = r'''
import sys
import numpy as np, gie
from gie.parsers.caffe_parser import CaffeParser
text = """
layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 dim: 4 } } }
layer { name: "clip" type: "LeakyClip" bottom: "x" top: "y" }
"""
try:
    CaffeParser().parse_string(text)
    raise SystemExit("LeakyClip accepted before the library is loaded")
except gie.UnsupportedError as e:
    assert "LeakyClip" in str(e), e
gie.load_library(sys.argv[1])
net = CaffeParser(plugin_fields={"clip": {"lo": -1.0, "hi": 0.5, "slope": 0.1}}).parse_string(text)
b = gie.Builder(); c = b.create_config(); c.device = "cpu"; c.max_batch = 2
x = np.linspace(-3, 3, 24, dtype=np.float32).reshape(2, 3, 4)
y = b.build(net, c).create_execution_context().execute({"x": x})["y"]
ref = np.where(x < -1, -1 + 0.1 * (x + 1), np.where(x > 0.5, 0.5 + 0.1 * (x - 0.5), x))
np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
print("OK")
'''


def test_user_plugin_layer(tmp_path):
    """A Caffe type that only a loaded plugin library registers ('LeakyClip' from samples/plugin), with its
    fields from plugin_fields. Runs in a subprocess so that the registry of this process stays untouched."""
    import shutil
    import subprocess
    cxx = next((shutil.which(c) for c in (os.environ.get("CXX"), "c++", "g++") if c and shutil.which(c)), None)
    src = os.path.join(HERE, "..", "samples", "plugin", "leaky_clip_plugin.cpp")
    if cxx is None or not os.path.exists(src):
        pytest.skip("needs a C++ compiler and samples/plugin/leaky_clip_plugin.cpp")
    lib = tmp_path / "libleaky_clip.so"
    subprocess.run([cxx, "-std=c++17", "-O1", "-shared", "-fPIC", f"-I{gie.include_dir()}", src, f"-L{gie.library_dir()}",
                    "-lgie", f"-Wl,-rpath,{gie.library_dir()}", "-o", str(lib)], check=True)
    r = subprocess.run([sys.executable, "-c", _PLUGIN_SCRIPT, str(lib)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "OK" in r.stdout, r.stdout + r.stderr


# ---- errors -----------------------------------------------------------------------------------------

ERRORS = [
    ('layer { name: "a" type: "ReLU" bottom: "x" top: "y" ', gie.InvalidModelError, "syntax"),
    ('layer { name: "a" type: "ReLU" bottom: "x" top: "y" bogus_field: 1 }', gie.InvalidModelError, "bogus_field"),
    (_one("FancyLayer", ""), gie.UnsupportedError, "FancyLayer"),
    (_one("ReLU", "").replace('bottom: "x"', 'bottom: "nope"'), gie.InvalidModelError, "nope"),
    (_one("Convolution", "convolution_param { num_output: 0 kernel_size: 3 }"), gie.InvalidModelError, "num_output"),
    (_one("Convolution", "convolution_param { num_output: 2 }"), gie.InvalidModelError, "kernel_size"),
    (_one("Convolution", "convolution_param { num_output: 2 kernel_size: 9 }"), gie.Error, "'L'"),
    (_one("Pooling", "pooling_param { kernel_size: 2 pool: STOCHASTIC }"), gie.UnsupportedError, "STOCHASTIC"),
    (_one("Reshape", "reshape_param { shape { dim: 7 dim: -1 } }"), gie.InvalidModelError, "'L'"),
    (_one("Eltwise", "eltwise_param { coeff: 1 }", extra_bottoms=("x",)), gie.InvalidModelError, "coeff"),
    (_one("ArgMax", "argmax_param { top_k: 2 }"), gie.UnsupportedError, "top_k"),
    (_one("LRN", "lrn_param { local_size: 4 }"), gie.InvalidModelError, "local_size"),
    (_one("Permute", "permute_param { order: 0 order: 0 }"), gie.InvalidModelError, "order"),
    ('layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: -3 } } }', gie.InvalidModelError, "-3"),
    ('input: "x"\n', gie.InvalidModelError, "input"),
    ('', gie.InvalidModelError, "no outputs"),
]


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_errors(i):
    text, cls, match = ERRORS[i]
    with pytest.raises(cls, match=match):
        CaffeParser().parse_string(text)


def test_every_unsupported_layer_listed():
    # issue 11 item 17: all of them in one error (the layer after an unsupported one is not listed again)
    text = (_one("FancyLayer", "") + 'layer { name: "after" type: "ReLU" bottom: "y" top: "z" }\n'
            + 'layer { name: "L2" type: "OtherLayer" bottom: "x" top: "w" }\n'
            + 'layer { name: "P" type: "Pooling" bottom: "x" top: "p" pooling_param { kernel_size: 2 pool: STOCHASTIC } }\n'
            + 'layer { name: "ok" type: "ReLU" bottom: "x" top: "r" }\n')
    with pytest.raises(gie.UnsupportedError) as e:
        CaffeParser().parse_string(text)
    msg = str(e.value)
    assert msg.startswith("3 Caffe layer(s) cannot be imported"), msg
    assert "'L'" in msg and "FancyLayer" in msg and "'L2'" in msg and "OtherLayer" in msg and "STOCHASTIC" in msg
    assert "'after'" not in msg


SSD = """
layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 8 dim: 4 dim: 4 } } }
layer { name: "norm" type: "Normalize" bottom: "x" top: "n"
        norm_param { across_spatial: false scale_filler { type: "constant" value: 20 } channel_shared: false } }
layer { name: "pb" type: "PriorBox" bottom: "x" top: "pb"
        prior_box_param { min_size: 30.0 aspect_ratio: 2 flip: true variance: 0.1 variance: 0.2 step: 8 } }
layer { name: "det" type: "DetectionOutput" bottom: "x" top: "det"
        detection_output_param { num_classes: 21 nms_param { nms_threshold: 0.45 top_k: 400 } code_type: CENTER_SIZE
                                 keep_top_k: 200 confidence_threshold: 0.01 } }
layer { name: "odd" type: "Odd" bottom: "x" top: "o" odd_param { k: 3 v: [1.5, 2] name: "z" inner { deep: true } } }
"""


def test_ssd_parameter_blocks_reach_the_plugin_lookup():
    """issue 16: the SSD layers' *_param blocks (and any other plugin's) are read, so the prototxt reaches the plugin
    registry instead of failing with a syntax error; every unsupported layer is named with how to provide it."""
    with pytest.raises(gie.UnsupportedError) as e:
        CaffeParser().parse_string(SSD)
    msg = str(e.value)
    assert msg.startswith("4 Caffe layer(s) cannot be imported"), msg
    for name, ltype in (("norm", "Normalize"), ("pb", "PriorBox"), ("det", "DetectionOutput"), ("odd", "Odd")):
        assert f"layer '{name}': unknown layer type '{ltype}'" in msg and f"plugin creator named '{ltype}'" in msg, msg


def test_argmax_index_constant_is_bounded():
    # The index ramp of ArgMax is a constant as long as the reduced dimension: bounded like random blobs.
    text = _one("ArgMax", "argmax_param { axis: 1 }", shape=(1, 100))
    with pytest.raises(gie.InvalidModelError, match="layer 'L'.*ArgMax over 100 values"):
        CaffeParser(max_weight_elements=99).parse_string(text)
    CaffeParser(max_weight_elements=100).parse_string(text)


def test_import_needs_no_protobuf():
    """issue 16: importing a Caffe model needs neither protobuf nor the onnx package."""
    import subprocess
    script = ("import sys\nsys.modules['google'] = None\nsys.modules['google.protobuf'] = None\n"
              "import numpy as np, gie\nfrom gie.parsers.caffe_parser import CaffeParser\n"
              f"net = CaffeParser().parse_string({TINY!r})\n"
              "print('OK', [t.name for t in net.outputs])\n")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "OK ['fc']" in r.stdout, r.stdout + r.stderr


def test_pooling_window_larger_than_padded_input_quotes_the_padded_shape():
    with pytest.raises(gie.InvalidModelError, match=r"layer 'L'.*window \(7, 7\) is larger than the padded input "
                                                    r"\(6, 6\) \(input \(4, 4\), pad \(1, 1\)\)"):
        CaffeParser().parse_string(_one("Pooling", "pooling_param { kernel_size: 7 pad: 1 pool: AVE }", shape=(1, 2, 4, 4)))
    # a window that fits thanks to the padding is accepted
    net = CaffeParser().parse_string(_one("Pooling", "pooling_param { kernel_size: 7 pad: 1 pool: AVE }",
                                          shape=(1, 2, 5, 5)))
    assert tuple(net.outputs[0].shape) == (-1, 2, 1, 1)   # dimension 0: dynamic, the batch (issue 15)


def test_caffemodel_errors(tmp_path):
    rng = np.random.default_rng(0)
    good = {"conv": [rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)],
            "fc": [rng.standard_normal((6, 36)), rng.standard_normal(6)]}
    wrong = dict(good, conv=[rng.standard_normal((4, 3, 2, 2)), rng.standard_normal(4)])
    with pytest.raises(gie.InvalidModelError, match="layer 'conv'.*shape"):
        CaffeParser().parse_string(TINY, _write_caffemodel(None, wrong))
    few = dict(good, fc=[good["fc"][0]])
    with pytest.raises(gie.InvalidModelError, match="layer 'fc'.*1 blobs"):
        CaffeParser().parse_string(TINY, _write_caffemodel(None, few))
    data = _write_caffemodel(None, good)
    with pytest.raises(gie.InvalidModelError, match="truncated|corrupt|decode"):
        CaffeParser().parse_string(TINY, data[:len(data) // 2])
    # A blob whose data count disagrees with its declared shape.
    m = cs.NetParameter()
    lp = m.layer.add(name="conv")
    b = lp.blobs.add()
    b.shape.dim.extend([4, 3, 3, 3])
    b.data.extend([1.0] * 10)
    lp.blobs.add().data.extend([0.0] * 4)
    with pytest.raises(gie.InvalidModelError, match="conv.*10 values"):
        CaffeParser().parse_string(TINY, m.SerializeToString())
    with pytest.raises(gie.InvalidArgumentError):
        gie.parse(str(tmp_path / "missing.prototxt"))
    proto = tmp_path / "t.prototxt"
    proto.write_text(TINY)
    with pytest.raises(gie.InvalidArgumentError, match="caffemodel"):
        CaffeParser().parse(str(proto), str(tmp_path / "missing.caffemodel"))


# ---- fuzzing -------------------------------------------------------------------------------------

_FUZZ_OPTS = dict(max_weight_elements=1 << 20)


def _seed_texts():
    texts = [TINY, V1, _one("Scale", "scale_param { bias_term: true }")]
    lenet = os.path.join(MODELS, "lenet.prototxt")
    if os.path.exists(lenet):
        texts.append(open(lenet).read())
    return texts


def _tiny_model():
    rng = np.random.default_rng(0)
    return _write_caffemodel(None, {"conv": [rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)],
                                    "fc": [rng.standard_normal((6, 36)), rng.standard_normal(6)]})


_TOKENS = ["-1", "0", "4294967295", "99999999999", "-2147483648", "1e39", "nan", '"x"', "true", "MAX", "{", "}",
           "TRAIN", "7", "3.5", '"Convolution"', '"Slice"', '"Reshape"', "dim: 0", "top: \"x\"", "layer {"]


def _mutate_text(text, r):
    for _ in range(r.randint(1, 4)):
        k = r.randrange(6)
        if k == 0 and text:     # truncation
            text = text[:r.randrange(len(text))]
        elif k == 1 and text:   # character flip
            i = r.randrange(len(text))
            text = text[:i] + chr(r.randrange(32, 127)) + text[i + 1:]
        elif k in (2, 3):       # replace a number / value token (field type changes, negative / huge dims)
            words = text.split(" ")
            idx = [i for i, w in enumerate(words) if w.strip().strip("}").lstrip("-").isdigit() or w.startswith('"')]
            if idx:
                words[r.choice(idx)] = r.choice(_TOKENS)
            text = " ".join(words)
        elif k == 4:            # duplicate a line
            lines = text.split("\n")
            i = r.randrange(len(lines))
            lines.insert(r.randrange(len(lines) + 1), lines[i])
            text = "\n".join(lines)
        else:                   # delete a line
            lines = text.split("\n")
            if len(lines) > 1:
                del lines[r.randrange(len(lines))]
            text = "\n".join(lines)
    return text


def _mutate_bytes(data, r):
    data = bytearray(data)
    for _ in range(r.randint(1, 4)):
        k = r.randrange(4)
        if k == 0 and data:
            del data[r.randrange(len(data)):]
        elif k == 1 and data:
            data[r.randrange(len(data))] ^= 1 << r.randrange(8)
        elif k == 2 and data:
            data[r.randrange(len(data))] = r.choice([0, 0x7F, 0x80, 0xFF, 0x08, 0x0A, 0x12, 0x3A])
        else:
            i = r.randrange(len(data) + 1)
            data[i:i] = bytes(r.randrange(256) for _ in range(r.randint(1, 8)))
    return bytes(data)


_INTS = [0, 1, 2, 3, -1, -7, 2 ** 31 - 1, -2 ** 31, 2 ** 40, 2 ** 63 - 1, 100000]
_FLOATS = [0.0, -1.0, 1e-30, 1e30, float("nan"), float("inf"), -float("inf"), 2.5]


def _is_rep(fd):
    rep = getattr(fd, "is_repeated", None)
    return rep if rep is not None else fd.label == fd.LABEL_REPEATED


def _fields_of(msg, out):
    for fd, value in msg.ListFields():
        if fd.type == fd.TYPE_MESSAGE:
            for sub in (value if _is_rep(fd) else [value]):
                _fields_of(sub, out)
        out.append((msg, fd))
    return out


def _mutate_message(msg, r, names):
    """Structured mutation: one set field gets an extreme value (negative / huge dims, NaN, other names,
    removed or extra repeated elements)."""
    fields = _fields_of(msg, [])
    if not fields:
        return
    parent, fd = r.choice(fields)
    rep = _is_rep(fd)
    if fd.type == fd.TYPE_MESSAGE:
        if rep and len(getattr(parent, fd.name)) and r.random() < 0.5:
            del getattr(parent, fd.name)[r.randrange(len(getattr(parent, fd.name)))]
        else:
            parent.ClearField(fd.name)
        return
    cpp = fd.cpp_type
    if cpp in (fd.CPPTYPE_INT32, fd.CPPTYPE_INT64, fd.CPPTYPE_UINT32, fd.CPPTYPE_UINT64, fd.CPPTYPE_ENUM):
        lo, hi = {fd.CPPTYPE_INT32: (-2 ** 31, 2 ** 31 - 1), fd.CPPTYPE_UINT32: (0, 2 ** 32 - 1),
                  fd.CPPTYPE_INT64: (-2 ** 63, 2 ** 63 - 1), fd.CPPTYPE_UINT64: (0, 2 ** 64 - 1)}.get(cpp, (0, 0))
        if cpp == fd.CPPTYPE_ENUM:
            cands = [v.number for v in fd.enum_type.values]
        else:
            cands = [min(max(v, lo), hi) for v in _INTS]
    elif cpp in (fd.CPPTYPE_FLOAT, fd.CPPTYPE_DOUBLE):
        cands = _FLOATS
    elif cpp == fd.CPPTYPE_BOOL:
        cands = [True, False]
    else:
        cands = names + ["", "Convolution", "Slice", "Eltwise", "Concat", "Reshape", "Crop", "Scale", "BatchNorm",
                         "ArgMax", "Deconvolution", "LRN", "PReLU", "Unknown"]
    v = r.choice(cands)
    if rep:
        lst = getattr(parent, fd.name)
        k = r.randrange(3)
        if k == 0 and len(lst):
            lst[r.randrange(len(lst))] = v
        elif k == 1 and len(lst):
            del lst[r.randrange(len(lst))]
        else:
            lst.append(v)
    else:
        setattr(parent, fd.name, v)


def _structured_text(text, r):
    from google.protobuf import text_format
    m = cs.NetParameter()
    text_format.Merge(text, m)
    names = [t for lp in m.layer for t in list(lp.top) + [lp.name]]
    for _ in range(r.randint(1, 3)):
        _mutate_message(m, r, names)
    return text_format.MessageToString(m)


def _structured_bytes(data, r):
    m = cs.NetParameter()
    m.ParseFromString(data)
    for _ in range(r.randint(1, 3)):
        _mutate_message(m, r, ["conv", "fc", "relu", "x"])
    return m.SerializeToString()


def _fuzz_case(r, seeds, model):
    k = r.randrange(4)
    if k == 0:
        return _mutate_text(r.choice(seeds), r), None
    if k == 1:
        return _structured_text(r.choice(seeds), r), None
    if k == 2:
        return TINY, _mutate_bytes(model, r)
    return TINY, _structured_bytes(model, r)


def _check_one(text, model):
    """Parses; the only acceptable failure is a gie.Error. Returns None or the unexpected exception."""
    try:
        CaffeParser(**_FUZZ_OPTS).parse_string(text, model)
    except gie.Error:
        pass
    except Exception as e:  # noqa: BLE001
        return e
    return None


def _corpus():
    if not os.path.isdir(CORPUS):
        return []
    return sorted(f for f in os.listdir(CORPUS) if f.endswith(".prototxt"))


@pytest.mark.parametrize("name", _corpus())
def test_fuzz_corpus_regression(name):
    text = open(os.path.join(CORPUS, name), encoding="utf-8", errors="replace").read()
    mpath = os.path.join(CORPUS, name[:-len(".prototxt")] + ".caffemodel")
    model = open(mpath, "rb").read() if os.path.exists(mpath) else None
    assert _check_one(text, model) is None


def test_fuzz_short():
    """A short random-mutation run (fixed seed) over prototxt text and caffemodel bytes."""
    r = random.Random(1234)
    seeds, model = _seed_texts(), _tiny_model()
    deadline = time.time() + 8
    n = 0
    while time.time() < deadline:
        text, m = _fuzz_case(r, seeds, model)
        err = _check_one(text, m)
        assert err is None, repr(err)
        n += 1
    assert n > 20


try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    given = None

if given is not None:
    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def test_fuzz_hypothesis(data):
        """Hypothesis-driven: arbitrary caffemodel bytes, seed texts cut/spliced with generated text."""
        kind = data.draw(st.integers(0, 2))
        if kind == 0:
            text, model = TINY, data.draw(st.binary(max_size=300))
        elif kind == 1:
            seed = TINY if data.draw(st.booleans()) else V1
            i = data.draw(st.integers(0, len(seed)))
            text, model = seed[:i] + data.draw(st.text(max_size=40)) + seed[i:], None
        else:
            m = bytearray(_tiny_model())
            for _ in range(data.draw(st.integers(1, 4))):
                m[data.draw(st.integers(0, len(m) - 1))] = data.draw(st.integers(0, 255))
            text, model = TINY, bytes(m)
        err = _check_one(text, model)
        assert err is None, repr(err)


def fuzz(seconds, seed=None, save=True):
    r = random.Random(seed)
    seeds, model = _seed_texts(), _tiny_model()
    execs = crashes = 0
    start = time.time()
    while time.time() - start < seconds:
        text, m = _fuzz_case(r, seeds, model)
        t0 = time.time()
        err = _check_one(text, m)
        slow = time.time() - t0 > 5
        execs += 1
        if err is not None or slow:
            crashes += 1
            print(f"FAIL #{crashes}: {'slow' if slow else repr(err)[:300]}", flush=True)
            if save:
                os.makedirs(CORPUS, exist_ok=True)
                base = os.path.join(CORPUS, f"crash_{execs}_{crashes}")
                with open(base + ".prototxt", "w", encoding="utf-8", errors="replace") as f:
                    f.write(text)
                if m is not None:
                    with open(base + ".caffemodel", "wb") as f:
                        f.write(m)
    print(f"executions: {execs}, failures: {crashes}, seconds: {time.time() - start:.0f}")
    return execs, crashes


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--fuzz":
        fuzz(float(sys.argv[2]), seed=int(sys.argv[3]) if len(sys.argv) > 3 else None)
