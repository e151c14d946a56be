"""Darknet importer: ``.cfg`` (+ optional ``.weights``) -> gie NetworkDefinition. The import itself is the C++
importer (``gie/darknet_parser.h``); this module keeps the Python API and the numpy helpers.

    net = gie.parse("yolov2-voc.cfg", "yolov2-voc.weights")          # or DarknetParser().parse(cfg, weights)
    engine = gie.Builder().build(net, config)
    raw = engine.create_execution_context().execute({"data": x})["region30"]
    boxes = gie.parsers.darknet_parser.decode_region(raw, "yolov2-voc.cfg")

[region] / [yolo] sections are not computed by the engine: the network outputs their raw input map (named
``region<i>`` / ``yolo<i>``, i = the section's layer index) and :func:`decode_region` decodes it in numpy.
While a "Region" plugin is registered (samples/yolov2), [region] becomes that plugin layer instead (outputs
``region<i>_boxes`` / ``_scores`` / ``_classes`` / ``_count``). See docs/darknet.md.
"""
import os

import numpy as np

from .. import _C
from ..errors import InvalidArgumentError

__all__ = ["DarknetParser", "read_cfg", "decode_region"]


def _cfg_bytes(text):
    if isinstance(text, str):
        return text.encode("utf-8", "surrogatepass")
    return bytes(text)


def read_cfg(text):
    """Splits cfg text into sections: a list of (kind, {key: value}) in file order (no validation of values)."""
    return [(kind, opts) for _, kind, opts in _C._darknet_sections(_cfg_bytes(text))]


class DarknetParser:
    """Imports a Darknet .cfg (+ .weights) into a gie NetworkDefinition.

    Options: ``seed`` (random weights without a weights file, default 0), ``batch`` (overrides [net] batch),
    ``input_name`` (default "data").
    """

    def __init__(self, builder=None, seed=0, batch=None, input_name="data"):
        self.builder = builder
        self.seed = seed
        self.batch = batch
        self.input_name = input_name
        self.heads = []   # [(output name, section kind, options dict, net width, net height)]

    def parse(self, cfg, weights=None):
        """cfg: path to a .cfg file; weights: optional path to a .weights file (else seeded random weights)."""
        text = _read_file(cfg, "cfg")
        data = _read_file(weights, "weights") if weights is not None else None
        return self.parse_text(text, data)

    def parse_text(self, text, weights_bytes=None):
        """Like :meth:`parse` from the cfg text and the bytes of a weights file (or None)."""
        import gie
        from .._logging import make_log_function

        builder = self.builder if self.builder is not None else gie.Builder()
        net = builder.create_network()
        imp = _C._DarknetImporter(net, make_log_function())
        imp.set_options(int(self.seed), 0 if self.batch is None else int(self.batch), self.input_name)
        text = _cfg_bytes(text)
        imp.parse(text, None if weights_bytes is None else bytes(weights_bytes))
        self.heads = []
        if imp.heads:
            secs = _C._darknet_sections(text)
            opts = {index: o for index, _, o in secs}
            width, height = int(secs[0][2]["width"]), int(secs[0][2]["height"])
            self.heads = [(name, kind, opts[index], width, height) for name, kind, index in imp.heads]
        return net


def _read_file(path, what):
    try:
        with open(os.fspath(path), "rb") as f:
            return f.read()
    except OSError as e:
        raise InvalidArgumentError(f"darknet {what} file '{path}': {e.strerror or e}") from None


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))   # no overflow for large |x|


def decode_region(output, cfg, layer=None, net_size=None):
    """Decodes the raw map of a [region] (YOLOv2) or [yolo] (YOLOv3/v4) section, in numpy.

    output: (N, C, H, W) raw map (the engine output ``region<i>`` / ``yolo<i>``).
    cfg: a .cfg path, cfg text, or the options dict of the section (then ``net_size=(width, height)`` is needed
    for [yolo]). layer: which region/yolo section (its layer index) when the cfg has several.

    Returns (N, A*H*W, 5 + classes) float32: per box ``x, y, w, h`` (centre and size relative to the image, 0..1),
    objectness, then per-class scores times objectness (softmax or sigmoid; see docs/darknet.md).
    Box order: anchor-major, then row, then column (darknet's order).
    """
    if isinstance(cfg, dict):
        # A section's options: decoded through the same reader as a cfg holding just that section.
        kind = "yolo" if "mask" in cfg else "region"
        nw, nh = net_size if net_size is not None else (1, 1)
        text = f"[net]\nwidth={nw}\nheight={nh}\n[{kind}]\n" + "".join(f"{k}={v}\n" for k, v in cfg.items())
        layer = None
        if net_size is None and kind == "yolo":
            raise InvalidArgumentError("decode_region: [yolo] needs the network size (net_size=(width, height))")
    elif isinstance(cfg, (str, os.PathLike)) and os.path.exists(os.fspath(cfg)):
        text = _read_file(cfg, "cfg")
    else:
        text = cfg
    head = _C._darknet_head(_cfg_bytes(text), -1 if layer is None else int(layer))
    kind = head["kind"]
    nw, nh = (head["width"], head["height"]) if net_size is None else net_size
    out = np.asarray(output, np.float64)
    if out.ndim != 4:
        raise InvalidArgumentError(f"decode_region: output must be (N, C, H, W), got shape {out.shape}")
    n, c, h, w = out.shape
    classes = head["classes"]
    if kind == "region":
        num = head["num"]
        coords = head["coords"]
        anchors = np.array(head["anchors"]).reshape(num, 2)
        ent = coords + 1 + classes
        if c != num * ent:
            raise InvalidArgumentError(f"decode_region: {c} channels, expected {num * ent}")
        v = out.reshape(n, num, ent, h, w)
        gx = np.arange(w).reshape(1, 1, 1, w)
        gy = np.arange(h).reshape(1, 1, h, 1)
        bx = (gx + _sigmoid(v[:, :, 0])) / w
        by = (gy + _sigmoid(v[:, :, 1])) / h
        bw = np.exp(v[:, :, 2]) * anchors[:, 0].reshape(1, num, 1, 1) / w
        bh = np.exp(v[:, :, 3]) * anchors[:, 1].reshape(1, num, 1, 1) / h
        obj = _sigmoid(v[:, :, 4])
        cls = v[:, :, 5:]
        if head["softmax"]:
            e = np.exp(cls - cls.max(axis=2, keepdims=True))
            cls = e / e.sum(axis=2, keepdims=True)
        else:
            cls = _sigmoid(cls)
        cls = cls * obj[:, :, None]
        a = num
    else:
        mask = head["mask"]
        anchors = np.array(head["anchors"]).reshape(len(mask), 2)
        a = len(mask)
        ent = 5 + classes
        if c != a * ent:
            raise InvalidArgumentError(f"decode_region: {c} channels, expected {a * ent}")
        sxy = head["scale_x_y"]
        v = out.reshape(n, a, ent, h, w)
        gx = np.arange(w).reshape(1, 1, 1, w)
        gy = np.arange(h).reshape(1, 1, h, 1)
        bx = (gx + _sigmoid(v[:, :, 0]) * sxy - (sxy - 1) / 2) / w
        by = (gy + _sigmoid(v[:, :, 1]) * sxy - (sxy - 1) / 2) / h
        bw = np.exp(v[:, :, 2]) * anchors[:, 0].reshape(1, a, 1, 1) / nw
        bh = np.exp(v[:, :, 3]) * anchors[:, 1].reshape(1, a, 1, 1) / nh
        obj = _sigmoid(v[:, :, 4])
        cls = _sigmoid(v[:, :, 5:]) * obj[:, :, None]
    boxes = np.concatenate([np.stack([bx, by, bw, bh, obj], axis=2), cls], axis=2)  # (n, a, 5+classes, h, w)
    return np.ascontiguousarray(boxes.transpose(0, 1, 3, 4, 2)).reshape(n, a * h * w, 5 + classes).astype(np.float32)
