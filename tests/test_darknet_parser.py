"""Darknet importer (gie.parsers.darknet_parser): every section type against an independent numpy forward of the
cfg (written here, not sharing code with the importer), YOLOv2-VOC against the model-zoo ONNX twin run by
onnxruntime with the same weights, weights-header versions, error cases and a fuzz-corpus regression.

Long fuzzing (not part of the normal run):
    GIE_DARKNET_FUZZ_SECONDS=600 [GIE_DARKNET_FUZZ_SAVE=dir] python3 -m pytest tests/test_darknet_parser.py -k fuzz_long -s
"""
import glob
import os
import re
import struct
import sys
import time

import numpy as np
import pytest

import gie
from gie.parsers.darknet_parser import DarknetParser, decode_region

from util import assert_close

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "models", "darknet"))
CORPUS = os.path.join(HERE, "fuzz_corpus", "darknet")


def _model(name):
    """A cfg from the shared model folder beside the repository (absent on a plain clone: the test skips)."""
    path = os.path.join(MODELS, name)
    if not os.path.exists(path):
        pytest.skip(f"{path} is missing (the shared model folder is not beside this checkout)")
    return path


# ---- independent numpy reference ---------------------------------------------------------------------

def ref_sections(text):
    secs = []
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"\[(\w+)\]", line)
        if m:
            secs.append((m.group(1), {}))
        else:
            k, v = line.split("=", 1)
            secs[-1][1][k.strip()] = v.strip()
    return secs


def ref_conv(x, w, stride, pad, groups):
    n, c, h, wd = x.shape
    k, cg, r, s = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (h + 2 * pad - r) // stride + 1
    ow = (wd + 2 * pad - s) // stride + 1
    out = np.zeros((n, k, oh, ow), np.float64)
    kg = k // groups
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg].astype(np.float64)
        for i in range(r):
            for j in range(s):
                patch = xs[:, :, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
                out[:, g * kg:(g + 1) * kg] += np.einsum("nchw,kc->nkhw", patch, w[g * kg:(g + 1) * kg, :, i, j])
    return out


def ref_act(x, a):
    if a == "linear":
        return x
    if a == "leaky":
        return np.where(x > 0, x, 0.1 * x)
    if a == "relu":
        return np.maximum(x, 0)
    if a == "logistic":
        return 1 / (1 + np.exp(-x))
    if a == "mish":
        return x * np.tanh(np.log1p(np.exp(x)))
    if a == "swish":
        return x / (1 + np.exp(-x))
    raise ValueError(a)


def ref_maxpool(x, size, stride, padding):
    n, c, h, w = x.shape
    oh = (h + padding - size) // stride + 1
    ow = (w + padding - size) // stride + 1
    off = -(padding // 2)
    out = np.full((n, c, oh, ow), -np.inf)
    for i in range(oh):
        for j in range(ow):
            for a in range(size):
                for b in range(size):
                    y, xx = off + i * stride + a, off + j * stride + b
                    if 0 <= y < h and 0 <= xx < w:
                        out[:, :, i, j] = np.maximum(out[:, :, i, j], x[:, :, y, xx])
    return out


def ref_reorg(x, s):
    # darknet reorg_cpu(forward=0): out[(k*H + j)*W + i] = in[(c2*(s*H) + j*s + off/s)*(s*W) + i*s + off%s]
    n, C, H, W = x.shape
    out_c = C // (s * s)
    flat = x.reshape(n, -1)
    out = np.empty_like(flat)
    for k in range(C):
        c2, off = k % out_c, k // out_c
        for j in range(H):
            for i in range(W):
                out[:, (k * H + j) * W + i] = flat[:, (c2 * (s * H) + j * s + off // s) * (s * W) + i * s + off % s]
    return out.reshape(n, C * s * s, H // s, W // s)


def ref_forward(cfg_text, weights, x):
    """Numpy forward of a cfg; weights: flat float32 array (after the header). Returns {output name: array}."""
    secs = ref_sections(cfg_text)
    pos = [0]

    def take(n):
        v = weights[pos[0]:pos[0] + n].astype(np.float64)
        assert v.size == n
        pos[0] += n
        return v

    def bn(y, biases):
        scales, mean, var = take(len(biases)), take(len(biases)), take(len(biases))
        y = (y - mean[None, :, None, None]) / (np.sqrt(var)[None, :, None, None] + 1e-6)
        return y * scales[None, :, None, None] + biases[None, :, None, None]

    outs, res = [], {}
    y = x.astype(np.float64)
    for idx, (kind, o) in enumerate(secs[1:]):
        g = lambda k, d: o.get(k, d)  # noqa: E731
        if kind == "convolutional":
            f, size, stride = int(g("filters", 1)), int(g("size", 1)), int(g("stride", 1))
            pad = size // 2 if int(g("pad", 0)) else int(g("padding", 0))
            groups = int(g("groups", 1))
            c = y.shape[1]
            biases = take(f)
            if int(g("batch_normalize", 0)):
                scales, mean, var = take(f), take(f), take(f)
                w = take(f * c // groups * size * size).reshape(f, c // groups, size, size)
                y = ref_conv(y, w, stride, pad, groups)
                y = (y - mean[None, :, None, None]) / (np.sqrt(var)[None, :, None, None] + 1e-6)
                y = y * scales[None, :, None, None] + biases[None, :, None, None]
            else:
                w = take(f * c // groups * size * size).reshape(f, c // groups, size, size)
                y = ref_conv(y, w, stride, pad, groups) + biases[None, :, None, None]
            y = ref_act(y, g("activation", "logistic"))
        elif kind == "maxpool":
            size = int(g("size", 1))
            stride = int(g("stride", size))
            y = ref_maxpool(y, size, stride, int(g("padding", size - 1)))
        elif kind == "avgpool":
            y = y.mean(axis=(2, 3), keepdims=True)
        elif kind == "connected":
            nout = int(g("output", 1))
            flat = y.reshape(y.shape[0], -1)
            biases = take(nout)
            w = take(nout * flat.shape[1]).reshape(nout, flat.shape[1])
            y = (flat @ w.T)[:, :, None, None]
            if int(g("batch_normalize", 0)):
                y = bn(y, biases)
            else:
                y = y + biases[None, :, None, None]
            y = ref_act(y, g("activation", "logistic"))
        elif kind == "route":
            parts = []
            groups, gid = int(g("groups", 1)), int(g("group_id", 0))
            for li in [int(v) for v in g("layers", "").split(",")]:
                t = outs[idx + li if li < 0 else li]
                cg = t.shape[1] // groups
                parts.append(t[:, gid * cg:(gid + 1) * cg])
            y = np.concatenate(parts, axis=1)
        elif kind == "shortcut":
            li = int(g("from", 0))
            y = ref_act(y + outs[idx + li if li < 0 else li], g("activation", "linear"))
        elif kind == "reorg":
            y = ref_reorg(y, int(g("stride", 1)))
        elif kind == "upsample":
            s = int(g("stride", 2))
            y = y.repeat(s, axis=2).repeat(s, axis=3) * float(g("scale", 1))
        elif kind == "softmax":
            flat = y.reshape(y.shape[0], -1)
            e = np.exp(flat - flat.max(axis=1, keepdims=True))
            y = (e / e.sum(axis=1, keepdims=True)).reshape(y.shape)
        elif kind == "dropout":
            pass
        elif kind in ("region", "yolo"):
            res[f"{kind}{idx}"] = y
        else:
            raise ValueError(kind)
        outs.append(y)
    assert pos[0] == weights.size, (pos[0], weights.size)
    if not res:
        res["output"] = y
    return res


# ---- helpers ---------------------------------------------------------------------------------------------

def weights_bytes(values, major=0, minor=2, revision=0, seen=32013312):
    head = struct.pack("<iii", major, minor, revision)
    head += struct.pack("<q" if major * 10 + minor >= 2 else "<i", seen)
    return head + np.asarray(values, "<f4").tobytes()


def count_weights(cfg_text):
    """Number of weight floats a cfg needs."""
    return _walk(cfg_text)[0]


def random_weights(cfg_text, rng):
    return _fix_variances(cfg_text, rng.normal(0, 0.2, count_weights(cfg_text)).astype(np.float32))


def engine_run(net, inputs):
    builder = gie.Builder()
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = next(iter(inputs.values())).shape[0]
    engine = builder.build(net, config)
    return engine.create_execution_context().execute(inputs)


def check_cfg(tmp_path, cfg_text, rng, batch=1, rtol=1e-4, atol=1e-4, version=(0, 2)):
    w = random_weights(cfg_text, rng)
    cfgp = tmp_path / "m.cfg"
    cfgp.write_text(cfg_text)
    wp = tmp_path / "m.weights"
    wp.write_bytes(weights_bytes(w, *version))
    net = gie.parse(str(cfgp), str(wp))
    secs = ref_sections(cfg_text)
    nets = secs[0][1]
    shape = (batch, int(nets.get("channels", 3)), int(nets["height"]), int(nets["width"]))
    x = rng.standard_normal(shape).astype(np.float32)
    got = engine_run(net, {"data": x})
    exp = ref_forward(cfg_text, w, x)
    assert sorted(got) == sorted(exp)
    for k in exp:
        assert_close(got[k], exp[k], rtol=rtol, atol=atol, what=k)
    return got, exp


def _fix_variances(cfg_text, w):
    """Replaces each BN rolling-variance slot with values in [0.5, 2] (order of the darknet weights file)."""
    w = w.copy()
    for start, n in _walk(cfg_text)[1]:
        w[start:start + n] = np.linspace(0.5, 2.0, n, dtype=np.float32)
    return w


def _walk(cfg_text):
    """(number of weight floats, [(offset, count) of each BN rolling variance]) of a cfg."""
    marks = []
    secs = ref_sections(cfg_text)
    pos = 0
    net = secs[0][1]
    c, h, wd = int(net.get("channels", 3)), int(net["height"]), int(net["width"])
    chans = []
    for idx, (kind, o) in enumerate(secs[1:]):
        if kind == "convolutional":
            f, size, groups = int(o.get("filters", 1)), int(o.get("size", 1)), int(o.get("groups", 1))
            stride = int(o.get("stride", 1))
            pad = size // 2 if int(o.get("pad", 0)) else int(o.get("padding", 0))
            pos += f
            if int(o.get("batch_normalize", 0)):
                marks.append((pos + 2 * f, f))
                pos += 3 * f
            pos += f * c // groups * size * size
            c, h, wd = f, (h + 2 * pad - size) // stride + 1, (wd + 2 * pad - size) // stride + 1
        elif kind == "connected":
            nout = int(o.get("output", 1))
            pos += nout + nout * c * h * wd
            if int(o.get("batch_normalize", 0)):
                marks.append((pos + 2 * nout, nout))
                pos += 3 * nout
            c, h, wd = nout, 1, 1
        elif kind == "maxpool":
            size = int(o.get("size", 1))
            stride = int(o.get("stride", size))
            p = int(o.get("padding", size - 1))
            h, wd = (h + p - size) // stride + 1, (wd + p - size) // stride + 1
        elif kind == "avgpool":
            h = wd = 1
        elif kind == "route":
            groups = int(o.get("groups", 1))
            c = 0
            for li in [int(v) for v in o["layers"].split(",")]:
                j = idx + li if li < 0 else li
                c += chans[j][0] // groups
                h, wd = chans[j][1:]
        elif kind == "reorg":
            s = int(o.get("stride", 1))
            c, h, wd = c * s * s, h // s, wd // s
        elif kind == "upsample":
            s = int(o.get("stride", 2))
            h, wd = h * s, wd * s
        chans.append((c, h, wd))
    return pos, marks


# ---- per-section tests -----------------------------------------------------------------------------------

NET = "[net]\nbatch=1\nwidth={w}\nheight={h}\nchannels={c}\n"


@pytest.mark.parametrize("act", ["leaky", "linear", "relu", "logistic", "mish", "swish"])
def test_conv_bn_activations(tmp_path, rng, act):
    cfg = NET.format(w=9, h=7, c=3) + f"""
[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation={act}

[convolutional]
filters=6
size=3
stride=2
pad=0
padding=1
activation={act}
"""
    check_cfg(tmp_path, cfg, rng)


def test_conv_groups_and_default_activation(tmp_path, rng):
    cfg = NET.format(w=8, h=8, c=4) + """
[convolutional]
filters=8
size=3
groups=2
pad=1
[convolutional]
batch_normalize=1
filters=8
groups=8
size=3
stride=2
pad=1
activation=leaky
"""
    check_cfg(tmp_path, cfg, rng)


@pytest.mark.parametrize("size,stride,padding", [(2, 1, None), (3, 1, None), (2, 2, None), (3, 2, None), (2, 1, 0),
                                                 (3, 1, 3), (5, 1, None), (3, 2, 1)])
def test_maxpool_darknet_padding(tmp_path, rng, size, stride, padding):
    extra = f"padding={padding}\n" if padding is not None else ""
    cfg = NET.format(w=7, h=6, c=2) + f"""
[convolutional]
filters=3
size=1
activation=linear
[maxpool]
size={size}
stride={stride}
{extra}"""
    check_cfg(tmp_path, cfg, rng)


def test_route_groups_shortcut_reorg_upsample(tmp_path, rng):
    cfg = NET.format(w=8, h=8, c=3) + """
[convolutional]
batch_normalize=1
filters=8
size=3
pad=1
activation=leaky
[route]
layers=-1
groups=2
group_id=1
[convolutional]
filters=4
size=3
pad=1
activation=mish
[route]
layers = -1, -2
[shortcut]
from=-4
activation=leaky
[reorg]
stride=2
[upsample]
stride=2
[route]
layers=0,-1
[convolutional]
filters=8
size=1
activation=swish
[route]
layers=1,3,-1
groups=4
group_id=3
"""
    check_cfg(tmp_path, cfg, rng)


def test_reorg_matches_model_zoo_reference(rng):
    from gie.model_zoo import darknet_reorg_reference
    x = rng.standard_normal((2, 8, 6, 4))
    np.testing.assert_array_equal(ref_reorg(x, 2), darknet_reorg_reference(x, 2))


def test_connected_avgpool_softmax_dropout_batch(tmp_path, rng):
    cfg = NET.format(w=6, h=5, c=3).replace("batch=1", "batch=2") + """
[convolutional]
filters=4
size=3
pad=1
activation=relu
[dropout]
probability=.5
[connected]
output=10
activation=leaky
[connected]
batch_normalize=1
output=7
activation=linear
[softmax]
[route]
layers=0
[avgpool]
[upsample]
stride=3
scale=0.5
[softmax]
"""
    check_cfg(tmp_path, cfg, rng, batch=2)


def test_region_and_yolo_heads(tmp_path, rng):
    cfg = NET.format(w=8, h=8, c=3) + """
[convolutional]
filters=14
size=3
pad=1
activation=linear
[region]
anchors = 1,2, 3,4
classes=2
coords=4
num=2
softmax=1
[route]
layers=-2
[convolutional]
filters=7
size=1
activation=linear
[yolo]
mask=1
anchors=10,14, 23,27
classes=2
num=2
"""
    got, exp = check_cfg(tmp_path, cfg, rng)
    assert sorted(got) == ["region1", "yolo4"]
    # decode_region vs a direct per-box loop
    raw = got["region1"]
    boxes = decode_region(raw, cfg, layer=1)
    assert boxes.shape == (1, 2 * 8 * 8, 7)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    n, j, i = 1, 3, 5
    v = raw[0].reshape(2, 7, 8, 8)[n, :, j, i].astype(np.float64)
    e = np.exp(v[5:] - v[5:].max())
    want = [(i + sig(v[0])) / 8, (j + sig(v[1])) / 8, np.exp(v[2]) * 3 / 8, np.exp(v[3]) * 4 / 8, sig(v[4])]
    want += list(e / e.sum() * sig(v[4]))
    np.testing.assert_allclose(boxes[0, n * 64 + j * 8 + i], want, rtol=1e-5, atol=1e-6)
    yb = decode_region(got["yolo4"], cfg, layer=4)
    v = got["yolo4"][0, :, 2, 6].astype(np.float64)
    want = [(6 + sig(v[0])) / 8, (2 + sig(v[1])) / 8, np.exp(v[2]) * 23 / 8, np.exp(v[3]) * 27 / 8, sig(v[4])]
    want += list(sig(v[5:]) * sig(v[4]))
    np.testing.assert_allclose(yb[0, 2 * 8 + 6], want, rtol=1e-5, atol=1e-6)
    with pytest.raises(gie.Error):
        decode_region(raw, cfg)   # two heads: layer= needed


# ---- real cfgs -----------------------------------------------------------------------------------------

def _shrink(path, size):
    text = open(path).read()
    text = re.sub(r"(?m)^width\s*=.*$", f"width={size}", text)
    text = re.sub(r"(?m)^height\s*=.*$", f"height={size}", text)
    return text


def test_yolov2_tiny_voc_vs_numpy(tmp_path, rng):
    cfg = _shrink(_model("yolov2-tiny-voc.cfg"), 64)
    got, exp = check_cfg(tmp_path, cfg, rng, rtol=1e-4, atol=1e-4)
    assert got["region15"].shape == (1, 125, 2, 2)


def test_yolov2_tiny_voc_full_size_random_weights():
    net = gie.parse(_model("yolov2-tiny-voc.cfg"))
    assert [tuple(o.shape) for o in net.outputs] == [(-1, 125, 13, 13)]   # dimension 0: the dynamic batch
    net = gie.parse(_model("yolov2-voc.cfg"))
    assert [(o.name, tuple(o.shape)) for o in net.outputs] == [("region31", (-1, 125, 13, 13))]


def _zoo_weights(spec):
    """The model-zoo YOLOv2 spec's weights in darknet .weights order (BN: biases, scales, mean, var, kernel)."""
    vals = []
    ops = {op.name: op for op in spec.ops}
    for i in list(range(25)) + [26, 29, 30]:
        conv = ops.get(f"conv{i}")
        if conv is None:
            continue
        bn = ops.get(f"bn{i}")
        if bn is None:
            vals += [conv.weights["bias"], conv.weights["kernel"].ravel()]
        else:
            gamma, beta, mean, var_std = (bn.weights[k].astype(np.float64) for k in ("gamma", "beta", "mean", "var"))
            var_dk = (np.sqrt(var_std + bn.attrs["eps"]) - 1e-6) ** 2   # sqrt(var_dk) + 1e-6 == sqrt(var' + eps)
            vals += [beta, gamma, mean, var_dk, conv.weights["kernel"].ravel()]
    return np.concatenate([np.asarray(v, np.float32).ravel() for v in vals])


def test_yolov2_voc_vs_model_zoo_onnx_twin(tmp_path):
    pytest.importorskip("onnxruntime")
    sys.path.insert(0, os.path.join(HERE, "..", "bench"))
    import onnx_export
    from gie import model_zoo
    image = 64
    spec = model_zoo.yolov2_spec(seed=3, image=image)
    cfgp = tmp_path / "yolov2.cfg"
    cfgp.write_text(_shrink(_model("yolov2-voc.cfg"), image))
    wp = tmp_path / "yolov2.weights"
    wp.write_bytes(weights_bytes(_zoo_weights(spec)))
    net = gie.parse(str(cfgp), str(wp))
    x = spec.random_input(1, seed=5)
    got = engine_run(net, {"data": x})["region31"]
    exp = onnx_export.run_onnxruntime(spec, x, threads=os.cpu_count())[spec.outputs[0]]
    assert_close(got, exp, rtol=1e-4, atol=1e-4, what="yolov2-voc region input")


# ---- weights files ---------------------------------------------------------------------------------------

SMALL = NET.format(w=5, h=5, c=2) + """
[convolutional]
batch_normalize=1
filters=3
size=3
pad=1
activation=leaky
[connected]
output=4
activation=linear
"""


@pytest.mark.parametrize("version", [(0, 1), (0, 2), (1, 0), (0, 0)])
def test_weights_header_versions(tmp_path, rng, version):
    got, _ = check_cfg(tmp_path, SMALL, rng, version=version)


def test_header_seen_size(tmp_path):
    n = count_weights(SMALL)
    w = _fix_variances(SMALL, np.full(n, 0.5, np.float32))
    # an int32-seen file read as version 0.2 is 4 bytes short (and vice versa 4 bytes too long)
    data32 = struct.pack("<iiii", 0, 2, 0, 7) + w.astype("<f4").tobytes()
    with pytest.raises(gie.InvalidModelError, match="too few|multiple"):
        DarknetParser().parse_text(SMALL, data32)
    data64 = struct.pack("<iiiq", 0, 1, 0, 7) + w.astype("<f4").tobytes()
    with pytest.raises(gie.InvalidModelError, match="too many"):
        DarknetParser().parse_text(SMALL, data64)


def test_weights_too_few_too_many(tmp_path):
    n = count_weights(SMALL)
    w = _fix_variances(SMALL, np.full(n, 0.5, np.float32))
    DarknetParser().parse_text(SMALL, weights_bytes(w))
    with pytest.raises(gie.InvalidModelError, match=r"too few.*section 1 \[connected\]"):
        DarknetParser().parse_text(SMALL, weights_bytes(w[:-1]))
    with pytest.raises(gie.InvalidModelError, match=r"too few.*section 0 \[convolutional\]"):
        DarknetParser().parse_text(SMALL, weights_bytes(w[:10]))
    with pytest.raises(gie.InvalidModelError, match=r"too many.*section 1 \[connected\]"):
        DarknetParser().parse_text(SMALL, weights_bytes(np.concatenate([w, [1, 2]])))
    with pytest.raises(gie.InvalidModelError, match="header"):
        DarknetParser().parse_text(SMALL, b"\0" * 10)
    with pytest.raises(gie.InvalidModelError, match="multiple of 4"):
        DarknetParser().parse_text(SMALL, weights_bytes(w) + b"\0")


def test_random_weights_seeded():
    a = DarknetParser(seed=1).parse_text(SMALL)
    b = DarknetParser(seed=1).parse_text(SMALL)
    c = DarknetParser(seed=2).parse_text(SMALL)
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 5)).astype(np.float32)
    ra, rb, rc = (engine_run(n, {"data": x})["output"] for n in (a, b, c))
    np.testing.assert_array_equal(ra, rb)
    assert not np.array_equal(ra, rc)
    assert np.isfinite(ra).all()


# ---- malformed cfgs --------------------------------------------------------------------------------------

BAD = [
    ("[convolutional]\nfilters=1\n", gie.InvalidModelError, r"first section must be \[net\]"),
    ("filters=1\n", gie.InvalidModelError, "missing \\[net\\]"),
    ("", gie.InvalidModelError, "missing \\[net\\]"),
    ("[net]\nwidth=4\nheight=4\n", gie.InvalidModelError, "no layers"),
    ("[net]\nwidth=4\nheight=4\n[lstm]\n", gie.UnsupportedError, r"section 0 \[lstm\]"),
    ("[net]\nwidth=4\nheight=4\n[conv]\nfilters=0\n", gie.InvalidModelError, r"section 0 \[convolutional\].*'filters'"),
    ("[net]\nwidth=4\nheight=4\n[convolutional]\nfilters=abc\n", gie.InvalidModelError, r"'filters'.*not an integer"),
    ("[net]\nwidth=-4\nheight=4\n[convolutional]\n", gie.InvalidModelError, r"\[net\].*'width'"),
    ("[net]\nwidth=4\n[convolutional]\n", gie.InvalidModelError, r"\[net\].*'height'.*required"),
    ("[net]\nwidth=4\nheight=99999999\n[convolutional]\n", gie.InvalidModelError, r"'height'.*maximum"),
    ("[net]\nwidth=4\nheight=4\n[convolutional]\nfilters=16000\n[convolutional]\nfilters=16000\nsize=9\npad=1\n",
     gie.InvalidModelError, r"section 1 \[convolutional\].*limit"),
    ("[net]\nwidth=4\nheight=4\n[convolutional]\nsize=7\n", gie.InvalidModelError, r"section 0.*'size'"),
    ("[net]\nwidth=4\nheight=4\n[convolutional]\nactivation=gelu2\n", gie.UnsupportedError, r"'activation'"),
    ("[net]\nwidth=4\nheight=4\n[convolutional]\n[route]\nlayers=-2\n", gie.InvalidModelError,
     r"section 1 \[route\].*'layers'"),
    ("[net]\nwidth=4\nheight=4\n[convolutional]\n[route]\nlayers=1\n", gie.InvalidModelError, r"section 1 \[route\]"),
    ("[net]\nwidth=4\nheight=4\n[convolutional]\n[route]\nlayers=x\n", gie.InvalidModelError, r"'layers'"),
    ("[net]\nwidth=4\nheight=4\n[convolutional]\n[shortcut]\nfrom=-5\n", gie.InvalidModelError,
     r"section 1 \[shortcut\].*'from'"),
    ("[net]\nwidth=4\nheight=4\n[convolutional]\nfilters=3\n[reorg]\nstride=2\n", gie.InvalidModelError,
     r"section 1 \[reorg\].*'stride'"),
    ("[net]\nwidth=4\nheight=4\n[maxpool]\nsize=2\nstride=0\n", gie.InvalidModelError, r"\[maxpool\].*'stride'"),
    ("[net]\nwidth=4\nheight=4\n[upsample]\nstride=-2\n", gie.InvalidModelError, r"\[upsample\].*'stride'"),
    ("[net]\nwidth=4\nheight=4\n[convolutional]\nfilters=5\n[region]\nnum=2\nclasses=3\n", gie.InvalidModelError,
     r"section 1 \[region\].*'classes'"),
    ("[net]\nwidth=4\nheight=4\n[convolutional]\nbatch_normalize=2\n", gie.InvalidModelError, r"'batch_normalize'"),
    ("[net]\nwidth=4\nheight=4\n[convolutional]\nfilters=3\nnonsense line\n", gie.InvalidModelError, r"key=value"),
    ("[net]\nwidth=4\nheight=4\n[convolutional\n", gie.InvalidModelError, r"malformed section"),
    ("[net]\nwidth=4\nheight=4\n[dropout]\nprobability=nan\n", gie.InvalidModelError, r"'probability'"),
    ("[net]\nwidth=4\nheight=4\n[net]\n", gie.InvalidModelError, r"\[net\] may appear only once"),
]


@pytest.mark.parametrize("text,cls,pattern", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_malformed_cfg(text, cls, pattern):
    with pytest.raises(cls, match=pattern):
        DarknetParser().parse_text(text)


def test_maxpool_without_stride_uses_darknet_defaults(tmp_path, rng):
    # issue 11 item 17: darknet's parse_maxpool reads stride (default 1), then size (default stride)
    cfg = NET.format(w=6, h=6, c=2) + "[maxpool]\nsize=2\n"
    net = DarknetParser().parse_text(cfg)
    assert tuple(net.outputs[0].shape) == (-1, 2, 6, 6)   # stride 1, padding size-1 = 1; dimension 0: the batch
    check_cfg(tmp_path, cfg.replace("size=2", "size=2\nstride=1"), rng)
    net = DarknetParser().parse_text(NET.format(w=6, h=6, c=2) + "[maxpool]\nstride=2\n")
    assert tuple(net.outputs[0].shape) == (-1, 2, 3, 3)   # size 2 from the stride


def test_every_unsupported_section_listed():
    cfg = "[net]\nwidth=8\nheight=8\n[convolutional]\n[lstm]\n[convolutional]\n[local]\nsize=3\n[gru]\n"
    with pytest.raises(gie.UnsupportedError, match=r"3 section\(s\) of unsupported type: section 1 \[lstm\] \(line 5\), "
                                                   r"section 3 \[local\] \(line 7\), section 4 \[gru\] \(line 9\)"):
        DarknetParser().parse_text(cfg)


def test_unused_keys_warn(caplog):
    cfg = ("[net]\nwidth=8\nheight=8\nmomentum=0.9\nbogus_net=1\n[convolutional]\nfilters=2\nfliters=3\n"
           "learning_rate=0.1\njitter=2\n[maxpool]\nsize=2\nstride=2\nout_channels=1\n")
    with caplog.at_level("WARNING", logger="gie"):
        DarknetParser().parse_text(cfg)
    warned = [r.getMessage() for r in caplog.records if r.name == "gie"]
    assert warned == [
        "darknet cfg: [net] (line 1): key 'bogus_net' (line 5) is not used by gie; ignored",
        "darknet cfg: section 0 [convolutional] (line 6): key 'fliters' (line 8) is not used by gie; ignored",
        "darknet cfg: section 0 [convolutional] (line 6): key 'jitter' (line 10) is not used by gie; ignored"], warned


@pytest.mark.parametrize("section,key", [("convolutional", "binary"), ("convolutional", "antialiasing"),
                                         ("convolutional", "flipped"), ("maxpool", "antialiasing")])
def test_keys_that_change_inference_refused(section, key):
    cfg = NET.format(w=8, h=8, c=2) + f"[{section}]\n{key}=1\n"
    with pytest.raises(gie.UnsupportedError, match=rf"section 0 \[{section}\].*key '{key}': is not supported"):
        DarknetParser().parse_text(cfg)
    DarknetParser().parse_text(NET.format(w=8, h=8, c=2) + f"[{section}]\n{key}=0\n")


def test_missing_files(tmp_path):
    with pytest.raises(gie.InvalidArgumentError):
        gie.parse(str(tmp_path / "nope.cfg"))
    p = tmp_path / "a.cfg"
    p.write_text(SMALL)
    with pytest.raises(gie.InvalidArgumentError):
        gie.parse(str(p), str(tmp_path / "nope.weights"))


# ---- fuzzing ---------------------------------------------------------------------------------------------

def _parse_one(cfg_bytes, weights):
    try:
        DarknetParser().parse_text(cfg_bytes, weights)
    except gie.Error:
        pass


def _corpus():
    return sorted(glob.glob(os.path.join(CORPUS, "*.cfg")))


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: os.path.basename(p))
def test_fuzz_corpus_regression(path):
    """Every corpus entry parses or raises a gie.Error, quickly (a .weights with the same stem goes with it)."""
    with open(path, "rb") as f:
        cfg = f.read()
    wpath = path[:-4] + ".weights"
    weights = open(wpath, "rb").read() if os.path.exists(wpath) else None
    t0 = time.time()
    _parse_one(cfg, weights)
    assert time.time() - t0 < 20


SEEDS = [SMALL, NET.format(w=8, h=8, c=3) + """
[convolutional]
batch_normalize=1
filters=8
size=3
pad=1
activation=leaky
[maxpool]
size=2
stride=1
[route]
layers=-1,-2
groups=2
group_id=1
[shortcut]
from=-2
[reorg]
stride=2
[upsample]
stride=2
[connected]
output=5
[softmax]
[dropout]
"""]

_TOKENS = ["[net]", "[convolutional]", "[maxpool]", "[avgpool]", "[connected]", "[route]", "[shortcut]", "[reorg]",
           "[upsample]", "[softmax]", "[dropout]", "[region]", "[yolo]", "[bogus]", "filters=", "size=", "stride=",
           "pad=", "padding=", "groups=", "group_id=", "layers=", "from=", "batch_normalize=", "activation=",
           "output=", "width=", "height=", "channels=", "batch=", "num=", "classes=", "mask=", "anchors=", "-1",
           "0", "1", "2", "-9", "99999", "2147483648", "1e9", "nan", "inf", ",", "=", "\n", "#", "\x00", "é"]


def mutate(data, rng):
    """One random mutation of bytes (cfg text or weights)."""
    data = bytearray(data)
    op = rng.integers(0, 7)
    pos = int(rng.integers(0, len(data) + 1))
    if op == 0 and data:
        del data[min(pos, len(data) - 1):pos + int(rng.integers(1, 20))]
    elif op == 1:
        data[pos:pos] = _TOKENS[int(rng.integers(0, len(_TOKENS)))].encode()
    elif op == 2 and data:
        data[min(pos, len(data) - 1)] = int(rng.integers(0, 256))
    elif op == 3:
        lines = bytes(data).split(b"\n")
        i, j = rng.integers(0, len(lines), 2)
        lines[i], lines[j] = lines[j], lines[i]
        data = bytearray(b"\n".join(lines))
    elif op == 4:
        # rewrite a number
        m = list(re.finditer(rb"-?\d+", bytes(data)))
        if m:
            mm = m[int(rng.integers(0, len(m)))]
            choices = [b"0", b"-1", b"1", b"3", b"65536", b"-100", str(int(rng.integers(-50, 50))).encode()]
            v = choices[int(rng.integers(0, 7))]
            data[mm.start():mm.end()] = v
    elif op == 5 and data:
        a = int(rng.integers(0, len(data)))
        data[pos:pos] = data[a:a + int(rng.integers(1, 40))]
    else:
        data = data[:pos]
    return bytes(data)


def mutate_weights(data, rng):
    """Float-aligned mutations of a .weights file: special values, header versions, 4-byte truncation/growth."""
    data = bytearray(data)
    op = rng.integers(0, 5)
    if op == 0 and len(data) >= 24:
        i = 16 + 4 * int(rng.integers(0, (len(data) - 16) // 4))
        v = [0.0, -0.0, -1.0, 1e-30, 1e30, 3e38, -3e38, float("nan"), float("inf"), 1e-45][int(rng.integers(0, 10))]
        data[i:i + 4] = struct.pack("<f", v)
    elif op == 1:
        data[0:12] = struct.pack("<iii", *[int(v) for v in rng.choice([0, 1, 2, 10, 999, 1000, -1, 2 ** 31 - 1], 3)])
    elif op == 2:
        del data[len(data) - 4 * int(rng.integers(1, 8)):]
    elif op == 3:
        data += np.float32(rng.normal(0, 1, int(rng.integers(1, 8)))).tobytes()
    else:
        return mutate(bytes(data), rng)
    return bytes(data)


def fuzz(seconds, seed=0, corpus_dir=None, log=print):
    """Random mutations of the seed cfgs and of valid weights files. Returns (executions, failures)."""
    rng = np.random.default_rng(seed)
    pool = [s.encode() for s in SEEDS]
    wpool = []
    for s in SEEDS:
        n = count_weights(s)
        wpool.append((s.encode(), weights_bytes(_fix_variances(s, rng.normal(0, 0.3, n).astype(np.float32)))))
    execs, failures = 0, []
    t_end = time.time() + seconds
    while time.time() < t_end:
        if rng.random() < 0.3:
            cfg, w = wpool[int(rng.integers(0, len(wpool)))]
            for _ in range(int(rng.integers(1, 4))):
                w = mutate_weights(w, rng) if rng.random() < 0.7 else w
                cfg = mutate(cfg, rng) if rng.random() < 0.3 else cfg
        else:
            cfg = pool[int(rng.integers(0, len(pool)))]
            for _ in range(int(rng.integers(1, 6))):
                cfg = mutate(cfg, rng)
            w = None
        t0 = time.time()
        try:
            DarknetParser().parse_text(cfg, w)
            ok = True
        except gie.Error:
            ok = False
        except Exception as e:  # noqa: BLE001 - the point of fuzzing
            failures.append((cfg, w, repr(e)))
            log(f"FAILURE {e!r}")
            if corpus_dir:
                k = len(failures)
                with open(os.path.join(corpus_dir, f"crash{seed}_{k}.cfg"), "wb") as f:
                    f.write(cfg)
                if w is not None:
                    with open(os.path.join(corpus_dir, f"crash{seed}_{k}.weights"), "wb") as f:
                        f.write(w)
            ok = False
        dt = time.time() - t0
        if dt > 10:
            log(f"SLOW {dt:.1f}s")
            failures.append((cfg, w, f"slow {dt:.1f}s"))
        if ok and len(pool) < 300 and len(cfg) < 4000:
            pool.append(cfg)   # keep parseable variants as new seeds
        execs += 1
    return execs, failures


def test_fuzz_short():
    execs, failures = fuzz(5, seed=int(time.time()) % 1000)
    assert execs > 10
    assert not failures, failures[:3]


@pytest.mark.skipif(not os.environ.get("GIE_DARKNET_FUZZ_SECONDS"), reason="long fuzz: set GIE_DARKNET_FUZZ_SECONDS")
def test_fuzz_long():
    secs = float(os.environ["GIE_DARKNET_FUZZ_SECONDS"])
    execs, failures = fuzz(secs, seed=int(os.environ.get("GIE_DARKNET_FUZZ_SEED", "1")),
                           corpus_dir=os.environ.get("GIE_DARKNET_FUZZ_SAVE"))
    print(f"darknet fuzz: {execs} executions, {len(failures)} failures")
    assert not failures, failures[:3]


def test_hypothesis_structured_cfgs():
    """Grammar-shaped random cfgs (sections with plausible and implausible values): parse or gie.Error only."""
    hyp = pytest.importorskip("hypothesis")
    st = hyp.strategies
    value = st.one_of(st.integers(-3, 40).map(str), st.sampled_from(["leaky", "linear", "mish", "x", "", "1,2",
                                                                      "-1,-3", "0.5", "1e9", "nan"]))
    keys = st.sampled_from(["filters", "size", "stride", "pad", "padding", "groups", "group_id", "layers", "from",
                            "batch_normalize", "activation", "output", "num", "classes", "mask", "anchors", "coords",
                            "scale", "temperature", "probability"])
    kinds = st.sampled_from(["convolutional", "maxpool", "avgpool", "connected", "route", "shortcut", "reorg",
                             "upsample", "softmax", "dropout", "region", "yolo"])
    section = st.tuples(kinds, st.dictionaries(keys, value, max_size=5))

    @hyp.settings(max_examples=150, deadline=None, database=None)
    @hyp.given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 6), st.lists(section, min_size=1, max_size=8))
    def check(w, h, c, secs):
        text = f"[net]\nwidth={w}\nheight={h}\nchannels={c}\n"
        for kind, opts in secs:
            text += f"[{kind}]\n" + "".join(f"{k}={v}\n" for k, v in opts.items())
        try:
            DarknetParser().parse_text(text)
        except gie.Error:
            pass

    check()
