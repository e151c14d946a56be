"""Darknet importer: ``.cfg`` (+ optional ``.weights``) -> gie NetworkDefinition, through the public network API.

    net = gie.parse("yolov2-voc.cfg", "yolov2-voc.weights")          # or DarknetParser().parse(cfg, weights)
    engine = gie.Builder().build(net, config)
    raw = engine.create_execution_context().execute({"data": x})["region30"]
    boxes = gie.parsers.darknet_parser.decode_region(raw, "yolov2-voc.cfg")

[region] / [yolo] sections are not computed by the engine: the network outputs their raw input map (named
``region<i>`` / ``yolo<i>``, i = the section's layer index) and :func:`decode_region` decodes it in numpy.
See docs/darknet.md.
"""
import logging
import math
import os

import numpy as np

from ..errors import InvalidArgumentError, InvalidModelError, UnsupportedError

__all__ = ["DarknetParser", "read_cfg", "decode_region"]

_log = logging.getLogger("gie")

# Limits that keep a malformed cfg from asking for absurd allocations.
MAX_DIM = 1 << 14          # width, height, channels, filters, outputs
MAX_SMALL = 64             # size, stride, groups of pooling ...
MAX_LAYERS = 10000
MAX_WEIGHTS = 1 << 27      # float values in one layer
MAX_ELEMENTS = 1 << 30     # elements of one activation tensor (per sample)

_SECTIONS = ("convolutional", "conv", "maxpool", "max", "avgpool", "avg", "connected", "conn", "route", "shortcut",
             "reorg", "upsample", "softmax", "soft", "dropout", "region", "yolo")
_ALIASES = {"conv": "convolutional", "max": "maxpool", "avg": "avgpool", "conn": "connected", "soft": "softmax"}
_ACTIVATIONS = ("leaky", "linear", "relu", "logistic", "mish", "swish", "tanh", "elu", "relu6")

# Keys darknet reads that do not change inference (training, augmentation, loss, NMS settings): ignored quietly.
# Any other key gie does not read is ignored with a warning naming it, as darknet prints "Unused field".
_TRAINING_KEYS = {
    "*": {"clip", "onlyforward", "dont_update", "burnin_update", "stopbackward", "dontload", "dontloadscales",
          "learning_rate", "dontsave", "numload", "smooth", "train_only_bn"},
    "net": {"max_batches", "learning_rate", "learning_rate_min", "sgdr_cycle", "sgdr_mult", "momentum", "decay",
            "subdivisions", "time_steps", "track", "augment_speed", "sequential_subdivisions", "try_fix_nan",
            "loss_scale", "dynamic_minibatch", "optimized_memory", "workspace_size_limit_MB", "adam", "B1", "B2",
            "eps", "inputs", "max_crop", "min_crop", "flip", "blur", "mixup", "cutmix", "mosaic", "mosaic_bound",
            "letter_box", "label_smooth_eps", "resize_step", "angle", "aspect", "saturation", "exposure", "hue",
            "power", "policy", "burn_in", "step", "scale", "steps", "scales", "seq_scales", "gamma", "center",
            "random", "gaussian_noise", "contrastive", "contrastive_jit_flip", "contrastive_color", "unsupervised",
            "attention", "adversarial_lr", "ema_alpha", "use_cuda_graph", "max_chart_loss", "equidistant_point",
            "show_receptive_field", "rotate"},
    "convolutional": {"assisted_excitation", "bin_output", "dot", "angle"},
    "maxpool": {"out_channels"},
    "softmax": {"noloss"},
    "dropout": {"dropblock", "dropblock_size_rel", "dropblock_size_abs"},
    "shortcut": {"weights_normalizion"},
    "region": {"max", "log", "sqrt", "focal_loss", "jitter", "rescore", "thresh", "classfix", "absolute", "random",
               "coord_scale", "object_scale", "noobject_scale", "mask_scale", "class_scale", "bias_match", "map"},
    "yolo": {"max", "counters_per_class", "label_smooth_eps", "max_delta", "iou_normalizer", "cls_normalizer",
             "obj_normalizer", "delta_normalizer", "iou_loss", "iou_thresh_kind", "beta_nms", "nms_kind", "jitter",
             "resize", "focal_loss", "ignore_thresh", "truth_thresh", "iou_thresh", "random", "map",
             "objectness_smooth", "track_history_size", "sim_thresh", "dets_for_track", "dets_for_show",
             "track_ciou_norm", "embedding_layer"},
}
# Keys darknet reads that change what a layer computes and gie does not implement: refused unless 0.
_UNSUPPORTED_KEYS = {
    "convolutional": ("binary", "xnor", "antialiasing", "sway", "rotate", "stretch", "stretch_sway", "flipped", "cbn"),
    "maxpool": ("antialiasing",),
    "softmax": ("spatial",),
}


class _Section:
    def __init__(self, index, kind, line):
        self.index = index      # darknet layer index (-1 for [net])
        self.kind = kind
        self.line = line
        self.options = {}
        self.lines = {}         # key -> line number
        self.used = set()

    def where(self, key=None):
        s = "[net]" if self.index < 0 else f"section {self.index} [{self.kind}]"
        s += f" (line {self.line})"
        return s + (f", key '{key}'" if key else "")

    def error(self, msg, key=None, cls=InvalidModelError):
        return cls(f"darknet cfg: {self.where(key)}: {msg}")

    def has(self, key):
        return key in self.options

    def check_keys(self):
        """Refuses set keys that change inference and gie does not implement; warns about every other key gie
        did not read (darknet prints "Unused field" for those it does not know)."""
        for key in _UNSUPPORTED_KEYS.get(self.kind, ()):
            if self.int(key, 0) != 0:
                raise self.error("is not supported (only 0)", key, UnsupportedError)
        quiet = _TRAINING_KEYS["*"] | _TRAINING_KEYS.get(self.kind, set())
        for key in self.options:
            if key not in self.used and key not in quiet:
                _log.warning("darknet cfg: %s: key '%s' (line %d) is not used by gie; ignored",
                             self.where(), key, self.lines[key])

    def _raw(self, key):
        self.used.add(key)
        return self.options[key]

    def int(self, key, default=None, lo=None, hi=None):
        if key not in self.options:
            if default is None:
                raise self.error("is required", key)
            return default
        v = self._raw(key)
        try:
            x = int(v, 10)
        except ValueError:
            try:
                f = float(v)
            except ValueError:
                raise self.error(f"'{v}' is not an integer", key) from None
            if not math.isfinite(f) or f != int(f):
                raise self.error(f"'{v}' is not an integer", key) from None
            x = int(f)
        if lo is not None and x < lo:
            raise self.error(f"{x} is below the minimum {lo}", key)
        if hi is not None and x > hi:
            raise self.error(f"{x} is above the maximum {hi}", key)
        return x

    def float(self, key, default=None):
        if key not in self.options:
            if default is None:
                raise self.error("is required", key)
            return default
        v = self._raw(key)
        try:
            x = float(v)
        except ValueError:
            raise self.error(f"'{v}' is not a number", key) from None
        if not math.isfinite(x):
            raise self.error(f"'{v}' is not finite", key)
        return x

    def str(self, key, default=None):
        if key not in self.options:
            if default is None:
                raise self.error("is required", key)
            return default
        return self._raw(key)

    def ints(self, key, default=None):
        if key not in self.options:
            if default is None:
                raise self.error("is required", key)
            return list(default)
        v = self._raw(key)
        out = []
        for p in v.split(","):
            p = p.strip()
            if not p:
                continue
            try:
                out.append(int(p, 10))
            except ValueError:
                raise self.error(f"'{p}' is not an integer", key) from None
        if not out:
            raise self.error("is an empty list", key)
        return out

    def floats(self, key, default=None):
        if key not in self.options:
            if default is None:
                raise self.error("is required", key)
            return list(default)
        out = []
        for p in self._raw(key).split(","):
            p = p.strip()
            if not p:
                continue
            try:
                x = float(p)
            except ValueError:
                raise self.error(f"'{p}' is not a number", key) from None
            if not math.isfinite(x):
                raise self.error(f"'{p}' is not finite", key)
            out.append(x)
        return out


def read_cfg(text):
    """Splits cfg text into sections: a list of (kind, {key: value}) in file order (no validation of values)."""
    return [(s.kind, dict(s.options)) for s in _read_sections(text)]


def _read_sections(text):
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidModelError(f"darknet cfg: not UTF-8 text ({e})") from None
    sections = []
    unknown = []   # every unsupported section, listed in one error after the whole file is read
    index = -1
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line[0] == "[":
            if not line.endswith("]") or len(line) < 3:
                raise InvalidModelError(f"darknet cfg: line {lineno}: malformed section header '{line[:60]}'")
            kind = line[1:-1].strip().lower()
            if not sections and kind not in ("net", "network"):
                raise InvalidModelError(f"darknet cfg: line {lineno}: the first section must be [net], got [{kind}]")
            if kind in ("net", "network"):
                if sections:
                    raise InvalidModelError(f"darknet cfg: line {lineno}: [net] may appear only once, "
                                            f"as the first section")
                sections.append(_Section(-1, "net", lineno))
                continue
            index += 1
            if index >= MAX_LAYERS:
                raise InvalidModelError(f"darknet cfg: more than {MAX_LAYERS} sections")
            sec = _Section(index, _ALIASES.get(kind, kind), lineno)
            if kind not in _SECTIONS:
                unknown.append(sec.where())
            sections.append(sec)
            continue
        if not sections:
            raise InvalidModelError(f"darknet cfg: line {lineno}: '{line[:60]}' is outside any section (missing [net])")
        if "=" not in line:
            raise sections[-1].error(f"line {lineno}: expected key=value, got '{line[:60]}'")
        key, value = line.split("=", 1)
        key = key.strip()
        if not key:
            raise sections[-1].error(f"line {lineno}: empty key")
        sections[-1].options[key] = value.strip()
        sections[-1].lines[key] = lineno
    if unknown:
        raise UnsupportedError(f"darknet cfg: {len(unknown)} section(s) of unsupported type: " + ", ".join(unknown))
    if not sections:
        raise InvalidModelError("darknet cfg: missing [net] section (the file has no sections)")
    if len(sections) == 1:
        raise InvalidModelError("darknet cfg: no layers after [net]")
    return sections


class _Weights:
    """Darknet .weights reader: header, then float32 values consumed layer by layer."""

    def __init__(self, data):
        if data is None:
            self.values = None
            return
        data = bytes(data)
        if len(data) < 12:
            raise InvalidModelError(f"darknet weights: the file has {len(data)} bytes, too short for the header (12+)")
        major, minor, revision = np.frombuffer(data[:12], "<i4").tolist()
        if major < 0 or minor < 0:
            raise InvalidModelError(f"darknet weights: bad header version {major}.{minor}")
        seen_size = 8 if major * 10 + minor >= 2 else 4
        if len(data) < 12 + seen_size:
            raise InvalidModelError(f"darknet weights: header of version {major}.{minor} needs {12 + seen_size} bytes, "
                                    f"the file has {len(data)}")
        self.version = (major, minor, revision)
        self.seen = int(np.frombuffer(data[12:12 + seen_size], "<i8" if seen_size == 8 else "<i4")[0])
        body = data[12 + seen_size:]
        if len(body) % 4:
            raise InvalidModelError(f"darknet weights: the data after the header is {len(body)} bytes, not a multiple "
                                    f"of 4 (float32)")
        self.values = np.frombuffer(body, "<f4")
        self.pos = 0

    def take(self, sec, n, what):
        v = self.values
        if self.pos + n > v.size:
            raise InvalidModelError(f"darknet weights: too few values for {sec.where()} {what}: needs {n} at float "
                                    f"offset {self.pos}, the file has {v.size - self.pos} left")
        out = v[self.pos:self.pos + n].astype(np.float32)
        self.pos += n
        if not np.isfinite(out).all():
            raise InvalidModelError(f"darknet weights: {sec.where()} {what} contains NaN or infinity")
        return out

    def finish(self, last):
        if self.values is not None and self.pos != self.values.size:
            left = self.values.size - self.pos
            raise InvalidModelError(f"darknet weights: too many values: {left} float values left "
                                    f"after the last layer with weights ({last.where() if last else 'none'})")


class _Random:
    """Seeded random weights (He-scaled, BatchNorm statistics with gain ~1) for weightless imports."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def take(self, sec, n, what):
        if what == "weights":
            fan_in = max(1, self._fan_in)
            return (self.rng.standard_normal(n, dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in)))
        if what == "biases":
            return self.rng.normal(0, 0.1, n).astype(np.float32)
        if what == "rolling variance":
            self._var = self.rng.uniform(0.5, 2.0, n).astype(np.float32)
            return self._var
        if what == "scales":
            return self.rng.uniform(0.8, 1.2, n).astype(np.float32)
        return self.rng.normal(0, 0.1, n).astype(np.float32)  # rolling mean

    def finish(self, last):
        pass


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

        if os.environ.get("GIE_DARKNET_IMPORTER", "python") == "cpp":
            return self._parse_cpp(gie, text, weights_bytes)
        sections = _read_sections(text)
        wsrc = _Weights(weights_bytes) if weights_bytes is not None else _Random(self.seed)
        builder = self.builder if self.builder is not None else gie.Builder()
        net = builder.create_network()
        self.heads = []
        _Emitter(gie, net, sections, wsrc, self).run()
        return net


    def _parse_cpp(self, gie, text, weights_bytes):
        """The C++ importer (gie/darknet_parser.h) behind the same options and errors."""
        from .. import _C
        from .._logging import make_log_function
        builder = self.builder if self.builder is not None else gie.Builder()
        net = builder.create_network()
        imp = _C._DarknetImporter(net, make_log_function())
        imp.set_options(int(self.seed), 0 if self.batch is None else int(self.batch), self.input_name)
        if isinstance(text, str):
            text = text.encode("utf-8", "surrogatepass")
        imp.parse(bytes(text), None if weights_bytes is None else bytes(weights_bytes))
        self.heads = []
        if imp.heads:
            secs = _read_sections(text)
            net_sec = secs[0]
            width, height = net_sec.int("width", None, 1, MAX_DIM), net_sec.int("height", None, 1, MAX_DIM)
            by_index = {sec.index: sec for sec in secs}
            for name, kind, index in imp.heads:
                self.heads.append((name, kind, dict(by_index[index].options), width, height))
        return net


def _read_file(path, what):
    try:
        with open(os.fspath(path), "rb") as f:
            return f.read()
    except OSError as e:
        raise InvalidArgumentError(f"darknet {what} file '{path}': {e.strerror or e}") from None


class _Emitter:
    def __init__(self, gie, net, sections, wsrc, parser):
        self.gie, self.net, self.sections, self.w, self.parser = gie, net, sections, wsrc, parser
        self.outs = []      # per layer: (tensor, (C, H, W))
        self.last_weighted = None

    # -- helpers --
    def _name(self, layer, sec, suffix=""):
        layer.name = f"{sec.index}_{sec.kind}{suffix}"
        return layer

    def _activation(self, x, sec, act):
        G = self.gie.ActivationType
        if act == "linear":
            return x
        if act == "leaky":
            layer = self.net.add_activation(x, G.LEAKY_RELU, alpha=0.1)
        elif act == "relu":
            layer = self.net.add_activation(x, G.RELU)
        elif act == "logistic":
            layer = self.net.add_activation(x, G.SIGMOID)
        elif act == "mish":
            layer = self.net.add_activation(x, G.MISH)
        elif act == "swish":
            layer = self.net.add_activation(x, G.SILU)
        elif act == "tanh":
            layer = self.net.add_activation(x, G.TANH)
        elif act == "elu":
            layer = self.net.add_activation(x, G.ELU, alpha=1.0)
        elif act == "relu6":
            layer = self.net.add_activation(x, G.RELU6)
        else:  # validated before
            raise AssertionError(act)
        return self._name(layer, sec, "/act").output(0)

    def _act_key(self, sec):
        act = sec.str("activation", "linear" if sec.kind == "shortcut" else "logistic").lower()
        if act not in _ACTIVATIONS:
            raise sec.error(f"unsupported activation '{act}' (supported: {', '.join(_ACTIVATIONS)})", "activation",
                            UnsupportedError)
        return act

    def _take(self, sec, n, what):
        if n > MAX_WEIGHTS:
            raise sec.error(f"needs {n} weight values, more than the limit {MAX_WEIGHTS}")
        return self.w.take(sec, n, what)

    def _check_elems(self, sec, shape):
        c, h, w = shape
        if c < 1 or h < 1 or w < 1:
            raise sec.error(f"output shape {shape} is empty")
        if c * h * w > MAX_ELEMENTS:
            raise sec.error(f"output shape {shape} has more than {MAX_ELEMENTS} elements")
        return shape

    def _layer_ref(self, sec, key, i):
        idx = sec.index + i if i < 0 else i
        if idx < 0 or idx >= sec.index:
            raise sec.error(f"refers to layer {i} (index {idx}), which does not exist before this section", key)
        return idx

    # -- main --
    def run(self):
        net_sec = self.sections[0]
        width = net_sec.int("width", None, 1, MAX_DIM)
        height = net_sec.int("height", None, 1, MAX_DIM)
        channels = net_sec.int("channels", 3, 1, MAX_DIM)
        batch = self.parser.batch if self.parser.batch is not None else net_sec.int("batch", 1, 1, 1 << 16)
        net_sec.used.add("batch")   # overridden: not an unused key
        if width * height * channels > MAX_ELEMENTS:
            raise net_sec.error(f"input {channels}x{height}x{width} is too large")
        self.net_w, self.net_h = width, height
        x = self.net.add_input(self.parser.input_name, self.gie.float32, (int(batch), channels, height, width))
        self.input = x
        prev = (x, (channels, height, width))
        heads = []
        net_sec.check_keys()
        for sec in self.sections[1:]:
            fn = getattr(self, "_" + sec.kind)
            res = fn(sec, prev)
            sec.check_keys()
            if sec.kind in ("region", "yolo"):
                heads.append((sec, prev[0]))
                res = prev
            self.outs.append(res)
            prev = res
        self.w.finish(self.last_weighted)
        if heads:
            for sec, t in heads:
                name = f"{sec.kind}{sec.index}"
                t = self._output_tensor(t, sec)
                self.net.mark_output(t, name)
                self.parser.heads.append((name, sec.kind, dict(sec.options), self.net_w, self.net_h))
        else:
            t = self._output_tensor(prev[0], self.sections[-1])
            self.net.mark_output(t, "output")

    def _output_tensor(self, t, sec):
        # A tensor marked twice, or the network input, gets its own identity copy.
        if t is self.input or any(t.name == o.name for o in self.net.outputs):
            t = self._name(self.net.add_identity(t), sec, "/out").output(0)
        return t

    # -- sections --
    def _convolutional(self, sec, prev):
        x, (c, h, w) = prev
        filters = sec.int("filters", 1, 1, MAX_DIM)
        size = sec.int("size", 1, 1, MAX_SMALL)
        stride = sec.int("stride", 1, 1, MAX_SMALL)
        if sec.has("stride_x") or sec.has("stride_y"):
            raise sec.error("stride_x / stride_y are not supported", "stride_x", UnsupportedError)
        if sec.int("dilation", 1, 1, MAX_SMALL) != 1:
            raise sec.error("dilation other than 1 is not supported", "dilation", UnsupportedError)
        padding = sec.int("padding", 0, 0, MAX_SMALL)
        if sec.int("pad", 0, 0, 1):
            padding = size // 2
        groups = sec.int("groups", 1, 1, MAX_DIM)
        bn = sec.int("batch_normalize", 0, 0, 1)
        act = self._act_key(sec)
        if c % groups or filters % groups:
            raise sec.error(f"input channels {c} and filters {filters} must be multiples of groups {groups}", "groups")
        oh = (h + 2 * padding - size) // stride + 1
        ow = (w + 2 * padding - size) // stride + 1
        if h + 2 * padding < size or w + 2 * padding < size:
            raise sec.error(f"kernel {size} is larger than the padded input {h}x{w} (padding {padding})", "size")
        self._check_elems(sec, (filters, oh, ow))
        nw = filters * (c // groups) * size * size
        if nw > MAX_WEIGHTS:
            raise sec.error(f"needs {nw} weights, more than the limit {MAX_WEIGHTS}", "filters")
        if isinstance(self.w, _Random):
            self.w._fan_in = (c // groups) * size * size
        biases = self._take(sec, filters, "biases")
        if bn:
            scales = self._take(sec, filters, "scales")
            mean = self._take(sec, filters, "rolling mean")
            var = self._take(sec, filters, "rolling variance")
        kernel = self._take(sec, nw, "weights").reshape(filters, c // groups, size, size)
        if isinstance(self.w, _Random) and bn:
            scales = (scales * (np.sqrt(var) + 1e-6)).astype(np.float32)
        self.last_weighted = sec
        if bn:
            if (var < 0).any():
                raise sec.error("negative rolling variance in the weights")
            s, b = _fold_bn(sec, scales, biases, mean, var)
            conv = self.net.add_convolution(x, filters, (size, size), kernel, None, stride=stride, padding=padding,
                                            num_groups=groups if groups > 1 else None)
            self._name(conv, sec)
            y = self._name(self.net.add_scale(conv.output(0), self.gie.ScaleMode.CHANNEL, shift=b, scale=s),
                           sec, "/bn").output(0)
        else:
            conv = self.net.add_convolution(x, filters, (size, size), kernel, biases, stride=stride, padding=padding,
                                            num_groups=groups if groups > 1 else None)
            y = self._name(conv, sec).output(0)
        return self._activation(y, sec, act), (filters, oh, ow)

    def _maxpool(self, sec, prev):
        x, (c, h, w) = prev
        stride = sec.int("stride", 1, 1, MAX_SMALL)   # darknet's parse_maxpool: stride 1, size = stride
        size = sec.int("size", stride, 1, MAX_SMALL)
        if sec.has("stride_x") or sec.has("stride_y") or sec.int("maxpool_depth", 0, 0, 1):
            raise sec.error("stride_x / stride_y / maxpool_depth are not supported", None, UnsupportedError)
        padding = sec.int("padding", size - 1, 0, MAX_SMALL)
        if h + padding < size or w + padding < size:
            raise sec.error(f"window {size} is larger than the padded input {h + padding}x{w + padding} (input "
                            f"{h}x{w}, padding {padding})", "size")
        oh = (h + padding - size) // stride + 1
        ow = (w + padding - size) // stride + 1
        self._check_elems(sec, (c, oh, ow))
        # Darknet: window (i, j) covers input rows i*stride - padding/2 + [0, size); rows outside are skipped.
        pre = padding // 2
        post_h = max(0, (oh - 1) * stride + size - h - pre)
        post_w = max(0, (ow - 1) * stride + size - w - pre)
        if pre >= size or (oh - 1) * stride - pre >= h or (ow - 1) * stride - pre >= w:
            # A window lying wholly in the padding: darknet outputs -FLT_MAX there; gie has no equivalent.
            raise sec.error(f"padding {padding} makes a window lie entirely outside the input", "padding",
                            UnsupportedError)
        p = self.net.add_pooling(x, self.gie.PoolingType.MAX, (size, size), stride=stride)
        if pre or post_h or post_w:
            p.pre_padding = (pre, pre)
            p.post_padding = (post_h, post_w)
        return self._name(p, sec).output(0), (c, oh, ow)

    def _avgpool(self, sec, prev):
        x, (c, h, w) = prev
        p = self.net.add_pooling(x, self.gie.PoolingType.AVERAGE, (h, w))
        return self._name(p, sec).output(0), (c, 1, 1)

    def _connected(self, sec, prev):
        x, (c, h, w) = prev
        outputs = sec.int("output", 1, 1, MAX_DIM)
        bn = sec.int("batch_normalize", 0, 0, 1)
        act = self._act_key(sec)
        nin = c * h * w
        if outputs * nin > MAX_WEIGHTS:
            raise sec.error(f"needs {outputs * nin} weights, more than the limit {MAX_WEIGHTS}", "output")
        if isinstance(self.w, _Random):
            self.w._fan_in = nin
        biases = self._take(sec, outputs, "biases")
        kernel = self._take(sec, outputs * nin, "weights").reshape(outputs, nin)
        self.last_weighted = sec
        fc = self._name(self.net.add_fully_connected(x, outputs, kernel, None if bn else biases), sec)
        y = self._name(self.net.add_shuffle(fc.output(0), reshape=(0, outputs, 1, 1)), sec, "/reshape").output(0)
        if bn:
            scales = self._take(sec, outputs, "scales")
            mean = self._take(sec, outputs, "rolling mean")
            var = self._take(sec, outputs, "rolling variance")
            if isinstance(self.w, _Random):
                scales = (scales * (np.sqrt(var) + 1e-6)).astype(np.float32)
            if (var < 0).any():
                raise sec.error("negative rolling variance in the weights")
            s, b = _fold_bn(sec, scales, biases, mean, var)
            y = self._name(self.net.add_scale(y, self.gie.ScaleMode.CHANNEL, shift=b, scale=s), sec, "/bn").output(0)
        return self._activation(y, sec, act), (outputs, 1, 1)

    def _route(self, sec, prev):
        idxs = [self._layer_ref(sec, "layers", i) for i in sec.ints("layers")]
        groups = sec.int("groups", 1, 1, MAX_DIM)
        group_id = sec.int("group_id", 0, 0, groups - 1)
        parts, shapes = [], []
        for idx in idxs:
            t, (c, h, w) = self.outs[idx]
            if groups > 1:
                if c % groups:
                    raise sec.error(f"layer {idx} has {c} channels, not a multiple of groups {groups}", "groups")
                cg = c // groups
                sl = self.net.add_slice(t, (0, group_id * cg, 0, 0), (int(self._batch()), cg, h, w))
                t = self._name(sl, sec, f"/slice{len(parts)}").output(0)
                c = cg
            parts.append(t)
            shapes.append((c, h, w))
        if any(s[1:] != shapes[0][1:] for s in shapes):
            raise sec.error(f"the routed layers {idxs} have different spatial sizes {[s[1:] for s in shapes]}",
                            "layers")
        shape = (sum(s[0] for s in shapes),) + shapes[0][1:]
        self._check_elems(sec, shape)
        if len(parts) == 1:
            return parts[0], shape
        return self._name(self.net.add_concatenation(parts, axis=1), sec).output(0), shape

    def _batch(self):
        return self.input.shape[0]

    def _shortcut(self, sec, prev):
        x, shape = prev
        frm = sec.ints("from")
        if len(frm) != 1:
            raise sec.error("only one 'from' layer is supported", "from", UnsupportedError)
        idx = self._layer_ref(sec, "from", frm[0])
        t, s2 = self.outs[idx]
        if s2 != shape:
            raise sec.error(f"layer {idx} has shape {s2}, the previous layer {shape}; only equal shapes are supported",
                            "from", UnsupportedError)
        if sec.has("weights_type") and sec.str("weights_type") != "none":
            raise sec.error("weighted shortcuts are not supported", "weights_type", UnsupportedError)
        act = self._act_key(sec)
        y = self._name(self.net.add_elementwise(x, t, self.gie.ElementWiseOperation.SUM), sec).output(0)
        return self._activation(y, sec, act), shape

    def _reorg(self, sec, prev):
        x, (c, h, w) = prev
        s = sec.int("stride", 1, 1, MAX_SMALL)
        if sec.int("reverse", 0, 0, 1) or sec.int("flatten", 0, 0, 1) or sec.int("extra", 0, 0, 0):
            raise sec.error("reverse / flatten / extra are not supported", None, UnsupportedError)
        if c % (s * s) or h % s or w % s:
            raise sec.error(f"input {c}x{h}x{w} is not divisible by stride {s} (channels by stride^2)", "stride")
        s1 = self.net.add_shuffle(x, reshape=(0, c // (s * s), h, s, w, s), second_transpose=(0, 3, 5, 1, 2, 4))
        self._name(s1, sec, "/0")
        s2 = self.net.add_shuffle(s1.output(0), reshape=(0, c * s * s, h // s, w // s))
        return self._name(s2, sec).output(0), (c * s * s, h // s, w // s)

    def _upsample(self, sec, prev):
        x, (c, h, w) = prev
        s = sec.int("stride", 2, 1, MAX_SMALL)
        scale = sec.float("scale", 1.0)
        shape = self._check_elems(sec, (c, h * s, w * s))
        G = self.gie
        r = self.net.add_resize(x, G.ResizeMode.NEAREST, scales=(1, 1, s, s),
                                coordinate_transformation=G.ResizeCoordinateTransformation.ASYMMETRIC,
                                nearest_mode=G.ResizeRoundMode.FLOOR)
        y = self._name(r, sec).output(0)
        if scale != 1.0:
            y = self._name(self.net.add_scale(y, G.ScaleMode.UNIFORM, scale=np.array([scale], np.float32)),
                           sec, "/scale").output(0)
        return y, shape

    def _softmax(self, sec, prev):
        x, (c, h, w) = prev
        if sec.int("groups", 1, 1, MAX_DIM) != 1:
            raise sec.error("groups other than 1 are not supported", "groups", UnsupportedError)
        t = sec.float("temperature", 1.0)
        if t <= 0:
            raise sec.error("must be positive", "temperature")
        if t != 1.0:
            x = self._name(self.net.add_scale(x, self.gie.ScaleMode.UNIFORM, scale=np.array([1.0 / t], np.float32)),
                           sec, "/temperature").output(0)
        # Darknet normalizes over all C*H*W values of a sample.
        if h == 1 and w == 1:
            return self._name(self.net.add_softmax(x, axis=1), sec).output(0), (c, h, w)
        f = self._name(self.net.add_shuffle(x, reshape=(0, c * h * w)), sec, "/flatten").output(0)
        y = self._name(self.net.add_softmax(f, axis=1), sec, "/softmax").output(0)
        return self._name(self.net.add_shuffle(y, reshape=(0, c, h, w)), sec).output(0), (c, h, w)

    def _dropout(self, sec, prev):
        p = sec.float("probability", 0.5)
        if not 0 <= p < 1:
            raise sec.error(f"{p} is not in [0, 1)", "probability")
        return prev   # inference: identity

    def _region(self, sec, prev):
        c, h, w = prev[1]
        num = sec.int("num", 1, 1, MAX_DIM)
        classes = sec.int("classes", 20, 0, MAX_DIM)
        coords = sec.int("coords", 4, 4, 4)
        sec.int("softmax", 0, 0, 1)   # read by decode_region
        anchors = sec.floats("anchors", [0.5] * (2 * num))
        if len(anchors) < 2 * num:
            raise sec.error(f"needs {2 * num} values (num={num}), has {len(anchors)}", "anchors")
        if c != num * (coords + 1 + classes):
            raise sec.error(f"the input has {c} channels, expected num * (coords + 1 + classes) = "
                            f"{num * (coords + 1 + classes)}", "classes")
        return prev

    def _yolo(self, sec, prev):
        c, h, w = prev[1]
        total = sec.int("num", 1, 1, MAX_DIM)
        classes = sec.int("classes", 20, 0, MAX_DIM)
        mask = sec.ints("mask", list(range(total)))
        anchors = sec.floats("anchors", [0.5] * (2 * total))
        if len(anchors) < 2 * total:
            raise sec.error(f"needs {2 * total} values (num={total}), has {len(anchors)}", "anchors")
        if any(m < 0 or m >= total for m in mask):
            raise sec.error(f"values must be in [0, num={total})", "mask")
        if c != len(mask) * (5 + classes):
            raise sec.error(f"the input has {c} channels, expected len(mask) * (5 + classes) = "
                            f"{len(mask) * (5 + classes)}", "classes")
        sec.float("scale_x_y", 1.0)
        return prev


def _fold_bn(sec, scales, biases, mean, var):
    """Darknet BN: scales * (x - mean) / (sqrt(var) + 1e-6) + biases -> (scale, shift), computed in float64."""
    s = scales.astype(np.float64) / (np.sqrt(var.astype(np.float64)) + 1e-6)
    b = biases.astype(np.float64) - mean.astype(np.float64) * s
    lim = float(np.finfo(np.float32).max)
    if not (np.abs(s) <= lim).all() or not (np.abs(b) <= lim).all():
        raise sec.error("the folded batch normalization overflows float32 (rolling variance too small for its scale)")
    return s.astype(np.float32), b.astype(np.float32)


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
    kind = None
    if isinstance(cfg, dict):
        opts = dict(cfg)
        kind = "yolo" if "mask" in opts else "region"
        nw, nh = net_size if net_size is not None else (None, None)
    else:
        text = cfg
        if isinstance(cfg, (str, os.PathLike)) and os.path.exists(os.fspath(cfg)):
            text = _read_file(cfg, "cfg")
        secs = _read_sections(text)
        heads = [s for s in secs if s.kind in ("region", "yolo")]
        if layer is not None:
            heads = [s for s in heads if s.index == layer]
        if len(heads) != 1:
            raise InvalidArgumentError(f"decode_region: the cfg has {len(heads)} matching [region]/[yolo] sections; "
                                       f"pass layer=<index>")
        sec = heads[0]
        kind, opts = sec.kind, dict(sec.options)
        nw = secs[0].int("width", None, 1, MAX_DIM)
        nh = secs[0].int("height", None, 1, MAX_DIM)
        if net_size is not None:
            nw, nh = net_size
    sec = _Section(0, kind, 0)
    sec.options = opts
    out = np.asarray(output, np.float64)
    if out.ndim != 4:
        raise InvalidArgumentError(f"decode_region: output must be (N, C, H, W), got shape {out.shape}")
    n, c, h, w = out.shape
    classes = sec.int("classes", 20, 0, MAX_DIM)
    if kind == "region":
        num = sec.int("num", 1, 1, MAX_DIM)
        coords = sec.int("coords", 4, 4, 4)
        anchors = np.array(sec.floats("anchors", [0.5] * 2 * num)[:2 * num]).reshape(num, 2)
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
        if sec.int("softmax", 0, 0, 1):
            e = np.exp(cls - cls.max(axis=2, keepdims=True))
            cls = e / e.sum(axis=2, keepdims=True)
        else:
            cls = _sigmoid(cls)
        cls = cls * obj[:, :, None]
        a = num
    else:
        total = sec.int("num", 1, 1, MAX_DIM)
        mask = sec.ints("mask", list(range(total)))
        anchors = np.array(sec.floats("anchors", [0.5] * 2 * total)[:2 * total]).reshape(total, 2)[mask]
        if nw is None or nh is None:
            raise InvalidArgumentError("decode_region: [yolo] needs the network size (net_size=(width, height))")
        a = len(mask)
        ent = 5 + classes
        if c != a * ent:
            raise InvalidArgumentError(f"decode_region: {c} channels, expected {a * ent}")
        sxy = sec.float("scale_x_y", 1.0)
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
