"""Caffe importer: a deploy ``.prototxt`` (text) plus an optional ``.caffemodel`` (binary) -> gie network.

    net = gie.parse("deploy.prototxt", "weights.caffemodel")
    parser = CaffeParser(seed=0); net = parser.parse("deploy.prototxt")   # seeded random weights
    parser.blobs["conv1"]                                                  # the weights used, Caffe layout

Both the current ``layer {}`` and the legacy V1 ``layers {}`` formats are read. The network is built only
through the public network API. Every failure is a :class:`gie.Error` subclass whose message names the
layer (and field) at fault. See docs/caffe.md for the supported layers.
"""
import math
import os

import numpy as np

from .. import _C
from ..errors import Error, InvalidArgumentError, InvalidModelError, UnsupportedError
from ..network import _fields

_MAX_DIMS = 8
_DEFAULT_MAX_WEIGHTS = 1 << 28   # elements of one random-initialised blob


def _schema():
    try:
        from . import caffe_schema
    except ImportError as e:  # protobuf missing
        raise UnsupportedError(f"the Caffe importer needs the 'protobuf' package: {e}") from None
    return caffe_schema


class _LayerError(Exception):
    pass


class CaffeParser:
    """Imports Caffe models.

    Options:
      builder: a gie.Builder (default: a new one); the network is created by it.
      seed: seed of the random weights used when no caffemodel is given, or a layer has no blobs there.
      batch: overrides dimension 0 of every input.
      outputs: names of the blobs to mark as outputs (default: every top no later layer consumes).
      plugin_fields: {layer name or type: {field: value}} for layers imported as plugins.
      max_weight_elements: largest blob generated at random (guards against absurd prototxts).
    """

    def __init__(self, builder=None, seed=0, batch=None, outputs=None, plugin_fields=None,
                 max_weight_elements=_DEFAULT_MAX_WEIGHTS):
        self.builder = builder
        self.seed = int(seed)
        self.batch = batch
        self.outputs = list(outputs) if outputs is not None else None
        self.plugin_fields = dict(plugin_fields or {})
        self.max_weight_elements = int(max_weight_elements)
        self.blobs = {}       # layer name -> [np.ndarray] as used (Caffe layouts)
        self.tensors = {}     # blob name -> gie tensor (last writer)

    # ---- entry points ---------------------------------------------------------------------------------
    def parse(self, prototxt, weights=None):
        """prototxt: path of a text NetParameter. weights: optional path of a binary .caffemodel."""
        text = self._read(prototxt, "prototxt")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidModelError(f"prototxt '{prototxt}' is not UTF-8 text: {e}") from None
        blob = self._read(weights, "caffemodel") if weights is not None else None
        return self.parse_string(text, blob, name=os.fspath(prototxt))

    def parse_string(self, text, caffemodel=None, name="<prototxt>"):
        """Like :meth:`parse` with the prototxt text and the caffemodel bytes (or None) given directly."""
        if os.environ.get("GIE_CAFFE_IMPORTER", "python") == "cpp":
            return self._parse_cpp(text, caffemodel, name)
        cs = _schema()
        netp = self._parse_text(cs, text, name)
        model = self._parse_binary(cs, caffemodel) if caffemodel is not None else None
        try:
            return self._convert(cs, netp, model)
        except Error:
            raise
        except RecursionError:
            raise InvalidModelError(f"{name}: the network is nested too deeply") from None
        except MemoryError:
            raise InvalidModelError(f"{name}: the network needs more memory than is available") from None

    def _parse_cpp(self, text, caffemodel, name):
        """The C++ importer (gie/caffe_parser.h) behind the same options and errors."""
        from ..engine import Builder
        from .._logging import make_log_function
        from ..network import _to_field
        if self.builder is None:
            self.builder = Builder()
        net = self.builder.create_network()
        imp = _C._CaffeImporter(net, make_log_function())
        imp.set_options(self.seed, 0 if self.batch is None else int(self.batch), self.outputs, self.max_weight_elements)
        for key, fields in self.plugin_fields.items():
            for fname, value in (fields or {}).items():
                imp.set_plugin_field(str(key), str(fname), _to_field(value, fname))
        if isinstance(text, str):
            text = text.encode("utf-8", "surrogatepass")
        try:
            imp.parse(bytes(text), None if caffemodel is None else bytes(caffemodel), str(name))
        finally:
            self.blobs = imp.blobs()
        return net

    @staticmethod
    def _read(path, what):
        try:
            with open(os.fspath(path), "rb") as f:
                return f.read()
        except (OSError, TypeError) as e:
            raise InvalidArgumentError(f"cannot read {what} '{path}': {e}") from None

    @staticmethod
    def _parse_text(cs, text, name):
        from google.protobuf import text_format
        netp = cs.NetParameter()
        try:
            text_format.Merge(text, netp)
        except text_format.ParseError as e:
            raise InvalidModelError(f"{name}: prototxt syntax error: {e}") from None
        except Exception as e:  # noqa: BLE001 - protobuf raises assorted errors on absurd input
            raise InvalidModelError(f"{name}: cannot parse the prototxt: {type(e).__name__}: {e}") from None
        return netp

    @staticmethod
    def _parse_binary(cs, data):
        from google.protobuf.message import DecodeError
        model = cs.NetParameter()
        try:
            model.ParseFromString(bytes(data))
        except DecodeError as e:
            raise InvalidModelError(f"caffemodel is truncated or corrupt: {e}") from None
        except Exception as e:  # noqa: BLE001
            raise InvalidModelError(f"cannot decode the caffemodel: {type(e).__name__}: {e}") from None
        return model

    # ---- conversion -------------------------------------------------------------------------------------
    def _convert(self, cs, netp, model):
        from ..engine import Builder
        if self.builder is None:
            self.builder = Builder()
        net = self.builder.create_network()
        self.net, self.cs = net, cs
        self.rng = np.random.default_rng(self.seed)
        self.blobs, self.tensors = {}, {}
        self._layer_names = set()
        self._model_blobs = self._index_model(model) if model is not None else {}

        layers = self._layers(cs, netp)
        # Inputs declared at the net level.
        shapes = [tuple(s.dim) for s in netp.input_shape]
        if not shapes and netp.input_dim:
            dims = list(netp.input_dim)
            if len(dims) != 4 * len(netp.input):
                raise InvalidModelError(f"net: {len(dims)} input_dim values for {len(netp.input)} inputs (need 4 each)")
            shapes = [tuple(dims[4 * i:4 * i + 4]) for i in range(len(netp.input))]
        if len(shapes) != len(netp.input):
            raise InvalidModelError(f"net: {len(netp.input)} inputs but {len(shapes)} input shapes")
        for name, shape in zip(netp.input, shapes):
            self._add_input(name, shape, "net input")

        consumed = set()
        produced = []
        # Like the ONNX importer, every layer gie cannot import is listed in one UnsupportedError: the tops of
        # such a layer are dead, and layers reading a dead blob are skipped (not listed again).
        unsupported, dead = [], set()
        for layer in layers:
            lname, ltype = layer["name"], layer["type"]
            for b in layer["bottom"]:
                if b not in self.tensors and b not in dead:
                    raise InvalidModelError(f"layer '{lname}' ({ltype}): bottom '{b}' is not produced by any earlier "
                                            f"layer or input")
                consumed.add(b)
            if any(b in dead for b in layer["bottom"]):
                dead.update(layer["top"])
                continue
            try:
                outs = self._convert_layer(layer)
            except UnsupportedError as e:
                msg = str(e)
                unsupported.append(msg if f"layer '{lname}'" in msg else f"layer '{lname}' ({ltype}): {msg}")
                dead.update(layer["top"])
                continue
            except Error as e:
                msg = str(e)
                if f"layer '{lname}'" not in msg:
                    msg = f"layer '{lname}' ({ltype}): {msg}"
                raise type(e)(msg) from None
            except (ValueError, TypeError, IndexError, KeyError, OverflowError, ZeroDivisionError,
                    AttributeError, _LayerError) as e:
                raise InvalidModelError(f"layer '{lname}' ({ltype}): {e}") from None
            if outs is None:
                continue
            if len(outs) != len(layer["top"]):
                raise InvalidModelError(f"layer '{lname}' ({ltype}): has {len(layer['top'])} tops, expected {len(outs)}")
            for top, t in zip(layer["top"], outs):
                self.tensors[top] = t
                dead.discard(top)
                consumed.discard(top)   # a new version of the blob (in-place layers)
                produced = [p for p in produced if p != top] + [top]
        if unsupported:
            raise UnsupportedError(f"{len(unsupported)} Caffe layer(s) cannot be imported:\n  "
                                   + "\n  ".join(unsupported))

        out_names = self.outputs if self.outputs is not None else [p for p in produced if p not in consumed]
        marked = set()
        for name in out_names:
            if name not in self.tensors:
                raise InvalidArgumentError(f"output '{name}' is not a blob of the network")
            t = self.tensors[name]
            if id(t) in marked or t.is_network_input:   # Split / Dropout of an input, or one tensor twice
                self._cur = name
                t = self._add("Identity", [t], "output")
            marked.add(id(t))
            net.mark_output(t, name)
        if not marked:
            raise InvalidModelError("the network has no outputs (no layer produces a blob)")
        return net

    def _layers(self, cs, netp):
        """Normalised layer dicts: name, type, bottom, top, blobs (model), msg (the LayerParameter)."""
        if netp.layer and netp.layers:
            raise InvalidModelError("net mixes 'layer' and legacy 'layers' definitions")
        out = []
        if netp.layers:
            for i, lp in enumerate(netp.layers):
                tname = cs.V1_TYPES.get(lp.type, None)
                if tname is None:
                    raise InvalidModelError(f"layers #{i} '{lp.name}': unknown V1 layer type {lp.type}")
                out.append(self._norm(lp, _V1_TO_TYPE.get(tname, tname), i))
        else:
            for i, lp in enumerate(netp.layer):
                out.append(self._norm(lp, lp.type, i))
        return [layer for layer in out if layer is not None]

    def _norm(self, lp, ltype, i):
        for rule in lp.include:
            if rule.HasField("phase") and rule.phase != 1:
                return None
        for rule in lp.exclude:
            if rule.HasField("phase") and rule.phase == 1:
                return None
        if getattr(lp, "phase", 1) == 0 and lp.HasField("phase"):
            return None
        name = lp.name or f"{ltype or 'layer'}_{i}"
        return {"name": name, "type": ltype, "bottom": list(lp.bottom), "top": list(lp.top), "msg": lp}

    def _index_model(self, model):
        blobs = {}
        for lp in list(model.layer) + list(model.layers):
            if len(lp.blobs):
                blobs[lp.name] = list(lp.blobs)
        return blobs

    # ---- helpers --------------------------------------------------------------------------------------
    def _add_input(self, name, shape, where):
        shape = tuple(int(d) for d in shape)
        if not 1 <= len(shape) <= _MAX_DIMS or any(d <= 0 or d > (1 << 31) - 1 for d in shape):
            raise InvalidModelError(f"{where} '{name}': bad input shape {shape}")
        if self.batch is not None:
            shape = (int(self.batch),) + shape[1:]
        t = self.net.add_input(name, _C.DataType.float32, shape)
        self.tensors[name] = t
        return t

    def _add(self, ltype, inputs, suffix=None, **fields):
        layer = self.net.add_layer(ltype, list(inputs), _fields(**fields))
        name = self._cur if suffix is None else f"{self._cur}/{suffix}"
        base, k = name, 1
        while name in self._layer_names:
            name, k = f"{base}_{k}", k + 1
        self._layer_names.add(name)
        layer.name = name
        return layer.output(0)

    def _blobs(self, layer, expected, init):
        """The layer's blobs as float32 arrays of the ``expected`` shapes (a list; None entries are optional
        blobs absent from the model). Taken from the caffemodel when it has the layer, else ``init(i, shape)``."""
        name = layer["name"]
        src = self._model_blobs.get(name)
        if src is None and len(layer["msg"].blobs):
            src = list(layer["msg"].blobs)
        out = []
        if src is not None:
            if len(src) < len(expected):
                raise InvalidModelError(f"layer '{name}': caffemodel has {len(src)} blobs, expected {len(expected)}")
            for i, shape in enumerate(expected):
                out.append(self._blob_array(name, i, src[i], shape))
        else:
            for i, shape in enumerate(expected):
                n = math.prod(shape)
                if n > self.max_weight_elements:
                    raise InvalidModelError(f"layer '{name}': blob {i} of shape {tuple(shape)} has {n} elements, more "
                                            f"than max_weight_elements={self.max_weight_elements}")
                out.append(np.asarray(init(i, tuple(shape)), dtype=np.float32).reshape(shape))
        self.blobs[name] = out
        return out

    @staticmethod
    def _blob_array(lname, i, blob, expected):
        if len(blob.data):
            data = np.asarray(blob.data, dtype=np.float32)
        elif len(blob.double_data):
            data = np.asarray(blob.double_data, dtype=np.float64).astype(np.float32)
        else:
            data = np.zeros(0, np.float32)
        if blob.HasField("shape"):
            shape = tuple(int(d) for d in blob.shape.dim)
        else:
            shape = tuple(int(v) for v in (blob.num, blob.channels, blob.height, blob.width))
        expected = tuple(int(d) for d in expected)

        def squeeze(s):
            s = list(s)
            while len(s) > 1 and s[0] == 1:
                s.pop(0)
            return tuple(s)
        n = math.prod(expected)
        if squeeze(shape) != squeeze(expected) and not (not blob.HasField("shape") and data.size == n
                                                        and shape == (0, 0, 0, 0)):
            raise InvalidModelError(f"layer '{lname}': blob {i} has shape {shape}, expected {expected}")
        if data.size != n:
            raise InvalidModelError(f"layer '{lname}': blob {i} has {data.size} values, expected {n} for shape {expected}")
        return data.reshape(expected)

    def _he(self, fan_in):
        std = math.sqrt(2.0 / max(1, fan_in))
        return lambda i, shape: self.rng.standard_normal(shape) * (std if i == 0 else 0.1)

    @staticmethod
    def _check_pos(lname, field, v, lo=1):
        v = int(v)
        if v < lo or v > (1 << 24):
            raise InvalidModelError(f"layer '{lname}': {field} = {v} is out of range")
        return v

    def _pair(self, lname, p, scalar, h, w, default, field, lo):
        """Caffe's (kernel|pad|stride|dilation) with repeated/scalar, _h/_w variants."""
        hv = p.HasField(h) if h else False
        wv = p.HasField(w) if w else False
        if hv or wv:
            if not (hv and wv):
                raise InvalidModelError(f"layer '{lname}': set both {h} and {w}")
            return (self._check_pos(lname, h, getattr(p, h), lo), self._check_pos(lname, w, getattr(p, w), lo))
        vals = getattr(p, scalar)
        if hasattr(vals, "__len__") and not isinstance(vals, (int, float)):
            vals = list(vals)
        elif p.HasField(scalar):
            vals = [vals]
        else:
            vals = []
        if not vals:
            if default is None:
                raise InvalidModelError(f"layer '{lname}': {scalar} is required")
            return (default, default)
        if len(vals) == 1:
            vals = vals * 2
        if len(vals) != 2:
            raise InvalidModelError(f"layer '{lname}': {scalar} has {len(vals)} values; only 2D is supported")
        return tuple(self._check_pos(lname, scalar, v, lo) for v in vals)

    # ---- layers ---------------------------------------------------------------------------------------
    def _convert_layer(self, layer):
        self._cur = layer["name"]
        ltype = layer["type"]
        fn = _CONVERTERS.get(ltype)
        if fn is not None:
            return fn(self, layer)
        plugins = {p[0] if isinstance(p, tuple) else p for p in _C.registered_plugins()}
        if ltype in plugins:
            return self._plugin(layer)
        raise UnsupportedError(f"layer '{layer['name']}': unknown layer type '{ltype}' (not a supported Caffe layer "
                               f"and not a registered plugin)")

    def _ins(self, layer, n=None, lo=None):
        b = layer["bottom"]
        if n is not None and len(b) != n:
            raise InvalidModelError(f"layer '{layer['name']}': needs {n} bottom(s), has {len(b)}")
        if lo is not None and len(b) < lo:
            raise InvalidModelError(f"layer '{layer['name']}': needs at least {lo} bottoms, has {len(b)}")
        return [self.tensors[x] for x in b]

    def _input(self, layer):
        p = layer["msg"].input_param
        tops = layer["top"]
        shapes = [tuple(s.dim) for s in p.shape]
        if len(shapes) == 1 and len(tops) > 1:
            shapes = shapes * len(tops)
        if len(shapes) != len(tops):
            raise InvalidModelError(f"layer '{layer['name']}': {len(tops)} tops but {len(shapes)} shapes")
        return [self._add_input(t, s, f"layer '{layer['name']}' top") for t, s in zip(tops, shapes)]

    def _conv(self, layer, deconv=False):
        (x,) = self._ins(layer, 1)
        name = layer["name"]
        p = layer["msg"].convolution_param
        if len(x.shape) != 4:
            raise InvalidModelError(f"layer '{name}': needs a 4D NCHW input, got shape {x.shape}")
        if p.axis != 1:
            raise UnsupportedError(f"layer '{name}': convolution_param.axis = {p.axis} (only 1)")
        k = self._check_pos(name, "num_output", p.num_output)
        g = self._check_pos(name, "group", p.group)
        kernel = self._pair(name, p, "kernel_size", "kernel_h", "kernel_w", None, "kernel_size", 1)
        pad = self._pair(name, p, "pad", "pad_h", "pad_w", 0, "pad", 0)
        stride = self._pair(name, p, "stride", "stride_h", "stride_w", 1, "stride", 1)
        dil = self._pair(name, p, "dilation", None, None, 1, "dilation", 1)
        c = x.shape[1]
        if c % g or k % g:
            raise InvalidModelError(f"layer '{name}': group {g} does not divide input channels {c} and num_output {k}")
        wshape = (c, k // g) + kernel if deconv else (k, c // g) + kernel
        expected = [wshape] + ([(k,)] if p.bias_term else [])
        blobs = self._blobs(layer, expected, self._he((c // g) * kernel[0] * kernel[1]))
        return [self._add("Deconvolution" if deconv else "Convolution", [x], num_output_maps=k, kernel_size=kernel,
                          kernel=blobs[0].ravel(), bias=blobs[1].ravel() if p.bias_term else None, stride=stride,
                          pre_padding=pad, post_padding=pad, dilation=dil, num_groups=g)]

    def _inner_product(self, layer):
        (x,) = self._ins(layer, 1)
        name = layer["name"]
        p = layer["msg"].inner_product_param
        n = self._check_pos(name, "num_output", p.num_output)
        rank = len(x.shape)
        axis = p.axis + rank if p.axis < 0 else p.axis
        if not 1 <= axis < rank:
            raise InvalidModelError(f"layer '{name}': axis {p.axis} out of range for shape {x.shape}")
        flat = math.prod(x.shape[axis:])
        expected = [(flat, n) if p.transpose else (n, flat)] + ([(n,)] if p.bias_term else [])
        blobs = self._blobs(layer, expected, self._he(flat))
        w = blobs[0].T if p.transpose else blobs[0]
        return [self._add("FullyConnected", [x], num_outputs=n, kernel=np.ascontiguousarray(w).ravel(),
                          bias=blobs[1].ravel() if p.bias_term else None, axis=axis)]

    def _pooling(self, layer):
        (x,) = self._ins(layer, 1)
        name = layer["name"]
        p = layer["msg"].pooling_param
        if len(x.shape) != 4:
            raise InvalidModelError(f"layer '{name}': needs a 4D NCHW input, got shape {x.shape}")
        if p.pool == 2:
            raise UnsupportedError(f"layer '{name}': STOCHASTIC pooling is not supported")
        ptype = 0 if p.pool == 0 else 1
        pad = self._pair(name, p, "pad", "pad_h", "pad_w", 0, "pad", 0)
        stride = self._pair(name, p, "stride", "stride_h", "stride_w", 1, "stride", 1)
        if p.global_pooling:
            window = tuple(x.shape[2:])
            if pad != (0, 0) or stride != (1, 1):
                raise InvalidModelError(f"layer '{name}': global_pooling takes no pad or stride")
        else:
            window = self._pair(name, p, "kernel_size", "kernel_h", "kernel_w", None, "kernel_size", 1)
            if pad[0] >= window[0] or pad[1] >= window[1]:
                raise InvalidModelError(f"layer '{name}': pad {pad} must be smaller than the kernel {window}")
            padded = (x.shape[2] + 2 * pad[0], x.shape[3] + 2 * pad[1])
            if window[0] > padded[0] or window[1] > padded[1]:
                raise InvalidModelError(f"layer '{name}': pooling window {window} is larger than the padded input "
                                        f"{padded} (input {tuple(x.shape[2:])}, pad {pad})")
        ptype_enum = _C.PoolingType.MAX if ptype == 0 else _C.PoolingType.AVERAGE
        fields = dict(pooling_type=int(ptype_enum), window_size=window, stride=stride, pre_padding=pad,
                      post_padding=pad, ceil_mode=int(p.round_mode == 0), exclude_padding=0)
        if p.global_pooling:
            fields.update(ceil_mode=0)
            fields["global"] = 1
        return [self._add("Pooling", [x], **fields)]

    def _act(self, layer, atype, alpha=None, beta=None):
        (x,) = self._ins(layer, 1)
        return [self._add("Activation", [x], activation_type=int(atype), alpha=alpha, beta=beta)]

    def _relu(self, layer):
        s = layer["msg"].relu_param.negative_slope
        if s == 0:
            return self._act(layer, _C.ActivationType.RELU)
        return self._act(layer, _C.ActivationType.LEAKY_RELU, alpha=float(s))

    def _prelu(self, layer):
        (x,) = self._ins(layer, 1)
        p = layer["msg"].prelu_param
        if len(x.shape) < 2:
            raise InvalidModelError(f"layer '{layer['name']}': needs rank >= 2, got {x.shape}")
        c = 1 if p.channel_shared else x.shape[1]
        (slope,) = self._blobs(layer, [(c,)], lambda i, s: self.rng.uniform(0.1, 0.4, s))
        return [self._add("PRelu", [x], slope=slope.ravel())]

    def _uniform(self, x, suffix=None, scale=1.0, shift=0.0, power=1.0):
        """y = (x * scale + shift) ** power (Scale UNIFORM), skipped when it is the identity."""
        if scale == 1.0 and shift == 0.0 and power == 1.0:
            return x
        f = np.float32
        return self._add("Scale", [x], suffix, mode=int(_C.ScaleMode.UNIFORM), scale=np.array([scale], f),
                         shift=np.array([shift], f), power=np.array([power], f))

    def _power(self, layer):
        (x,) = self._ins(layer, 1)
        p = layer["msg"].power_param
        y = self._uniform(x, None, p.scale, p.shift, p.power)
        return [y if y is not x else self._add("Identity", [x])]

    def _exp(self, layer):
        (x,) = self._ins(layer, 1)
        p = layer["msg"].exp_param
        if p.base != -1 and p.base <= 0:
            raise InvalidModelError(f"layer '{layer['name']}': exp_param.base must be -1 or positive, got {p.base}")
        lnb = 1.0 if p.base == -1 else math.log(p.base)
        y = self._uniform(x, "scale", p.scale * lnb, p.shift * lnb)
        return [self._add("Unary", [y], op=int(_C.UnaryOperation.EXP))]

    def _log(self, layer):
        (x,) = self._ins(layer, 1)
        p = layer["msg"].log_param
        if p.base != -1 and (p.base <= 0 or p.base == 1):
            raise InvalidModelError(f"layer '{layer['name']}': log_param.base must be -1 or positive and not 1")
        y = self._uniform(x, "scale", p.scale, p.shift)
        y = self._add("Unary", [y], None if p.base == -1 else "log", op=int(_C.UnaryOperation.LOG))
        if p.base != -1:
            y = self._uniform(y, None, 1.0 / math.log(p.base))
        return [y]

    def _unary(self, layer, op):
        (x,) = self._ins(layer, 1)
        return [self._add("Unary", [x], op=int(op))]

    def _lrn(self, layer):
        (x,) = self._ins(layer, 1)
        name = layer["name"]
        p = layer["msg"].lrn_param
        n = self._check_pos(name, "local_size", p.local_size)
        if n % 2 == 0:
            raise InvalidModelError(f"layer '{name}': local_size must be odd, got {n}")
        for f in ("alpha", "beta", "k"):
            if not math.isfinite(getattr(p, f)):
                raise InvalidModelError(f"layer '{name}': lrn_param.{f} must be finite")
        if p.norm_region == 0:
            return [self._add("LRN", [x], window_size=n, alpha=float(p.alpha), beta=float(p.beta), k=float(p.k))]
        # WITHIN_CHANNEL: x * (1 + alpha * avgpool_n(x^2)) ^ -beta, zero padding counted (Caffe).
        if len(x.shape) != 4:
            raise InvalidModelError(f"layer '{name}': WITHIN_CHANNEL needs a 4D input, got {x.shape}")
        sq = self._add("ElementWise", [x, x], "sq", op=int(_C.ElementWiseOperation.PROD))
        pad = (n - 1) // 2
        avg = self._add("Pooling", [sq], "pool", pooling_type=int(_C.PoolingType.AVERAGE), window_size=(n, n),
                        stride=(1, 1), pre_padding=(pad, pad), post_padding=(pad, pad), exclude_padding=0, ceil_mode=1)
        den = self._uniform(avg, "power", float(p.alpha), 1.0, -float(p.beta))
        return [self._add("ElementWise", [x, den], op=int(_C.ElementWiseOperation.PROD))]

    def _batchnorm(self, layer):
        (x,) = self._ins(layer, 1)
        name = layer["name"]
        p = layer["msg"].batch_norm_param
        if len(x.shape) < 2:
            raise InvalidModelError(f"layer '{name}': needs rank >= 2, got {x.shape}")
        c = x.shape[1]

        def init(i, s):
            return [self.rng.standard_normal(s) * 0.1, self.rng.uniform(0.5, 1.5, s), np.ones(s)][i]
        mean, var, sf = self._blobs(layer, [(c,), (c,), (1,)], init)
        f = 0.0 if sf[0] == 0 else 1.0 / float(sf[0])
        mean64, var64 = mean.astype(np.float64) * f, var.astype(np.float64) * f
        if not math.isfinite(p.eps) or np.any(var64 + p.eps <= 0):
            raise InvalidModelError(f"layer '{name}': variance + eps must be positive")
        scale = 1.0 / np.sqrt(var64 + p.eps)
        return [self._add("Scale", [x], mode=int(_C.ScaleMode.CHANNEL), scale=scale.astype(np.float32),
                          shift=(-mean64 * scale).astype(np.float32))]

    def _axes_shape(self, name, x, axis, num_axes, what):
        rank = len(x.shape)
        axis = axis + rank if axis < 0 else axis
        if not 0 <= axis <= rank:
            raise InvalidModelError(f"layer '{name}': {what}.axis out of range for shape {x.shape}")
        end = rank if num_axes == -1 else axis + num_axes
        if num_axes < -1 or end > rank:
            raise InvalidModelError(f"layer '{name}': {what}.num_axes {num_axes} out of range for shape {x.shape}")
        return axis, end, tuple(x.shape[axis:end])

    def _broadcast(self, x, arr, axis, op, suffix):
        """x (op) arr where arr covers dims [axis, axis + arr.ndim) of x."""
        rank = len(x.shape)
        shape = arr.shape + (1,) * (rank - axis - arr.ndim)
        const = self._add("Constant", [], f"{suffix}_const", shape=shape, weights=arr.astype(np.float32).ravel())
        return self._add("ElementWise", [x, const], suffix, op=int(op))

    def _scale_like(self, layer, scale_blob, bias_blob, axis, end, x):
        """Applies per-(dims[axis:end]) scale and/or bias."""
        rank = len(x.shape)
        n_ax = end - axis
        if (n_ax == 0) or (n_ax == 1 and axis >= 1) or (end == rank and axis >= 1):
            mode = _C.ScaleMode.UNIFORM if n_ax == 0 else (_C.ScaleMode.CHANNEL if n_ax == 1 else _C.ScaleMode.ELEMENTWISE)
            return self._add("Scale", [x], mode=int(mode),
                             scale=None if scale_blob is None else scale_blob.ravel(),
                             shift=None if bias_blob is None else bias_blob.ravel(),
                             channel_axis=axis if n_ax else None)
        y = x
        if scale_blob is not None:
            y = self._broadcast(y, scale_blob, axis, _C.ElementWiseOperation.PROD,
                                "scale" if bias_blob is not None else None)
        if bias_blob is not None:
            y = self._broadcast(y, bias_blob, axis, _C.ElementWiseOperation.SUM, None)
        return y

    def _scale(self, layer):
        name = layer["name"]
        p = layer["msg"].scale_param
        xs = self._ins(layer, lo=1)
        x = xs[0]
        if len(xs) == 2:
            s = xs[1]
            axis = p.axis + len(x.shape) if p.axis < 0 else p.axis
            if not 0 <= axis or tuple(x.shape[axis:axis + len(s.shape)]) != tuple(s.shape):
                raise InvalidModelError(f"layer '{name}': scale input shape {s.shape} does not match {x.shape} at "
                                        f"axis {p.axis}")
            trailing = len(x.shape) - axis - len(s.shape)
            if trailing:
                s = self._reshape_to(s, tuple(s.shape) + (1,) * trailing, "reshape")
            y = self._add("ElementWise", [x, s], "mul" if p.bias_term else None, op=int(_C.ElementWiseOperation.PROD))
            if p.bias_term:
                (b,) = self._blobs(layer, [tuple(xs[1].shape)], lambda i, sh: self.rng.standard_normal(sh) * 0.1)
                y = self._broadcast(y, b, axis, _C.ElementWiseOperation.SUM, None)
            return [y]
        if len(xs) != 1:
            raise InvalidModelError(f"layer '{name}': needs 1 or 2 bottoms, has {len(xs)}")
        axis, end, shape = self._axes_shape(name, x, p.axis, p.num_axes, "scale_param")
        expected = [shape] + ([shape] if p.bias_term else [])
        blobs = self._blobs(layer, expected,
                            lambda i, s: self.rng.uniform(0.5, 1.5, s) if i == 0 else self.rng.standard_normal(s) * 0.1)
        return [self._scale_like(layer, blobs[0], blobs[1] if p.bias_term else None, axis, end, x)]

    def _bias(self, layer):
        name = layer["name"]
        p = layer["msg"].bias_param
        xs = self._ins(layer, lo=1)
        x = xs[0]
        if len(xs) == 2:
            s = xs[1]
            axis = p.axis + len(x.shape) if p.axis < 0 else p.axis
            if tuple(x.shape[axis:axis + len(s.shape)]) != tuple(s.shape):
                raise InvalidModelError(f"layer '{name}': bias input shape {s.shape} does not match {x.shape}")
            trailing = len(x.shape) - axis - len(s.shape)
            if trailing:
                s = self._reshape_to(s, tuple(s.shape) + (1,) * trailing, "reshape")
            return [self._add("ElementWise", [x, s], op=int(_C.ElementWiseOperation.SUM))]
        if len(xs) != 1:
            raise InvalidModelError(f"layer '{name}': needs 1 or 2 bottoms, has {len(xs)}")
        axis, end, shape = self._axes_shape(name, x, p.axis, p.num_axes, "bias_param")
        (b,) = self._blobs(layer, [shape], lambda i, s: self.rng.standard_normal(s) * 0.1)
        return [self._scale_like(layer, None, b, axis, end, x)]

    def _eltwise(self, layer):
        xs = self._ins(layer, lo=2)
        name = layer["name"]
        p = layer["msg"].eltwise_param
        coeff = list(p.coeff)
        E = _C.ElementWiseOperation
        op = {0: E.PROD, 1: E.SUM, 2: E.MAX}[p.operation]
        if coeff:
            if p.operation != 1:
                raise InvalidModelError(f"layer '{name}': coeff is only for SUM")
            if len(coeff) != len(xs):
                raise InvalidModelError(f"layer '{name}': {len(coeff)} coeff values for {len(xs)} bottoms")
            xs = [self._uniform(t, f"coeff{i}", float(c)) for i, (t, c) in enumerate(zip(xs, coeff))]
        y = xs[0]
        for i, t in enumerate(xs[1:]):
            if tuple(t.shape) != tuple(xs[0].shape):
                raise InvalidModelError(f"layer '{name}': bottom shapes differ: {xs[0].shape} vs {t.shape}")
            y = self._add("ElementWise", [y, t], None if i == len(xs) - 2 else f"{i}", op=int(op))
        return [y]

    def _concat(self, layer):
        xs = self._ins(layer, lo=1)
        p = layer["msg"].concat_param
        axis = p.axis if p.HasField("axis") or not p.HasField("concat_dim") else p.concat_dim
        if len(xs) == 1:
            return [self._add("Identity", xs)]
        return [self._add("Concatenation", xs, axis=int(axis))]

    def _slice(self, layer):
        (x,) = self._ins(layer, 1)
        name = layer["name"]
        p = layer["msg"].slice_param
        rank = len(x.shape)
        axis = p.axis if p.HasField("axis") or not p.HasField("slice_dim") else p.slice_dim
        axis = axis + rank if axis < 0 else axis
        if not 0 <= axis < rank:
            raise InvalidModelError(f"layer '{name}': slice axis {p.axis} out of range for shape {x.shape}")
        n, tops = x.shape[axis], len(layer["top"])
        if tops < 1:
            raise InvalidModelError(f"layer '{name}': has no tops")
        pts = list(p.slice_point)
        if pts:
            if len(pts) != tops - 1:
                raise InvalidModelError(f"layer '{name}': {len(pts)} slice_point values for {tops} tops")
            bounds = [0] + pts + [n]
            if any(hi <= lo for lo, hi in zip(bounds[:-1], bounds[1:])):
                raise InvalidModelError(f"layer '{name}': slice_point {pts} must increase inside (0, {n})")
        else:
            if n % tops:
                raise InvalidModelError(f"layer '{name}': dimension {n} does not split into {tops} equal parts")
            bounds = [i * n // tops for i in range(tops + 1)]
        outs = []
        trail = x.shape[axis:]
        for i in range(tops):
            start = (bounds[i],) + (0,) * (len(trail) - 1)
            size = (bounds[i + 1] - bounds[i],) + tuple(trail[1:])
            outs.append(self._add("Slice", [x], f"{i}", start=start, size=size, stride=(1,) * len(start)))
        return outs

    def _split(self, layer):
        (x,) = self._ins(layer, 1)
        return [x] * len(layer["top"])

    def _passthrough(self, layer):
        (x,) = self._ins(layer, 1)
        if len(layer["top"]) != 1:
            raise InvalidModelError(f"layer '{layer['name']}': needs 1 top")
        return [x]

    def _softmax(self, layer):
        (x,) = self._ins(layer, 1)
        return [self._add("Softmax", [x], axis=int(layer["msg"].softmax_param.axis))]

    def _reshape_to(self, x, shape, suffix=None):
        shape = tuple(int(d) for d in shape)
        if shape and shape[0] == x.shape[0]:
            shape = (0,) + shape[1:]    # keeps following the run-time batch
        return self._add("Shuffle", [x], suffix, reshape=shape)

    def _flatten(self, layer):
        (x,) = self._ins(layer, 1)
        name = layer["name"]
        p = layer["msg"].flatten_param
        rank = len(x.shape)
        a = p.axis + rank if p.axis < 0 else p.axis
        e = p.end_axis + rank if p.end_axis < 0 else p.end_axis
        if not (0 <= a < rank and 0 <= e < rank and a <= e):
            raise InvalidModelError(f"layer '{name}': axis {p.axis} / end_axis {p.end_axis} out of range for {x.shape}")
        s = x.shape
        return [self._reshape_to(x, s[:a] + (math.prod(s[a:e + 1]),) + s[e + 1:])]

    def _reshape(self, layer):
        (x,) = self._ins(layer, 1)
        name = layer["name"]
        p = layer["msg"].reshape_param
        s = tuple(x.shape)
        rank = len(s)
        axis = p.axis + rank + 1 if p.axis < 0 else p.axis
        if not 0 <= axis <= rank:
            raise InvalidModelError(f"layer '{name}': reshape_param.axis {p.axis} out of range for {s}")
        end = rank if p.num_axes == -1 else axis + p.num_axes
        if p.num_axes < -1 or end > rank:
            raise InvalidModelError(f"layer '{name}': reshape_param.num_axes {p.num_axes} out of range for {s}")
        spec = [int(d) for d in p.shape.dim]
        if len(spec) + rank - (end - axis) > _MAX_DIMS:
            raise InvalidModelError(f"layer '{name}': too many dimensions")
        mid, infer = [], None
        for i, d in enumerate(spec):
            if d == 0:
                if axis + i >= rank:
                    raise InvalidModelError(f"layer '{name}': shape dim {i} is 0 but the input has no dimension {axis + i}")
                mid.append(s[axis + i])
            elif d == -1:
                if infer is not None:
                    raise InvalidModelError(f"layer '{name}': more than one -1 in shape")
                infer = i
                mid.append(1)
            elif d < -1:
                raise InvalidModelError(f"layer '{name}': shape dim {d} is invalid")
            else:
                mid.append(d)
        vol = math.prod(s[axis:end])
        known = math.prod(mid)
        if infer is not None:
            if known == 0 or vol % known:
                raise InvalidModelError(f"layer '{name}': cannot infer -1: {vol} elements into {spec}")
            mid[infer] = vol // known
        elif known != vol:
            raise InvalidModelError(f"layer '{name}': shape {spec} has {known} elements, the input {s} part has {vol}")
        return [self._reshape_to(x, s[:axis] + tuple(mid) + s[end:])]

    def _permute(self, layer):
        (x,) = self._ins(layer, 1)
        name = layer["name"]
        rank = len(x.shape)
        order = [int(o) for o in layer["msg"].permute_param.order]
        if len(set(order)) != len(order) or any(o >= rank for o in order):
            raise InvalidModelError(f"layer '{name}': permute order {order} is invalid for rank {rank}")
        order += [i for i in range(rank) if i not in order]
        if order == list(range(rank)):
            return [self._add("Identity", [x])]
        return [self._add("Shuffle", [x], first_transpose=tuple(order))]

    def _crop(self, layer):
        x, ref = self._ins(layer, 2)
        name = layer["name"]
        p = layer["msg"].crop_param
        rank = len(x.shape)
        axis = p.axis + rank if p.axis < 0 else p.axis
        if not 0 <= axis < rank or len(ref.shape) != rank:
            raise InvalidModelError(f"layer '{name}': crop axis {p.axis} / shapes {x.shape} {ref.shape} are invalid")
        offs = list(p.offset)
        n = rank - axis
        if len(offs) == 0:
            offs = [0] * n
        elif len(offs) == 1:
            offs = offs * n
        elif len(offs) != n:
            raise InvalidModelError(f"layer '{name}': {len(offs)} offsets for {n} cropped dimensions")
        size = tuple(ref.shape[axis:])
        for i, (o, sz) in enumerate(zip(offs, size)):
            if o + sz > x.shape[axis + i]:
                raise InvalidModelError(f"layer '{name}': offset {o} + size {sz} exceeds dimension {axis + i} "
                                        f"({x.shape[axis + i]})")
        return [self._add("Slice", [x], start=tuple(offs), size=size, stride=(1,) * n)]

    def _argmax(self, layer):
        (x,) = self._ins(layer, 1)
        name = layer["name"]
        p = layer["msg"].argmax_param
        if p.top_k != 1:
            raise UnsupportedError(f"layer '{name}': ArgMax with top_k = {p.top_k} (only 1 is supported)")
        if p.out_max_val:
            raise UnsupportedError(f"layer '{name}': ArgMax with out_max_val is not supported")
        rank = len(x.shape)
        if p.HasField("axis"):
            axis = p.axis + rank if p.axis < 0 else p.axis
            if not 0 <= axis < rank:
                raise InvalidModelError(f"layer '{name}': axis {p.axis} out of range for {x.shape}")
            src = x
        else:   # over all of C*H*W per sample; output (N, 1, 1)
            src = self._add("Shuffle", [x], "flat", reshape=(0, -1))
            axis = 1
        n = src.shape[axis]
        mx = self._add("Reduce", [src], "max", op=int(_C.ReduceOperation.MAX), axes=(axis,), keep_dims=1)
        eq = self._add("ElementWise", [src, mx], "eq", op=int(_C.ElementWiseOperation.EQUAL))
        eqf = self._add("Cast", [eq], "cast", to=int(_C.DataType.float32))
        ramp = np.arange(n, dtype=np.float32).reshape((n,) + (1,) * (len(src.shape) - axis - 1))
        idx = self._add("Constant", [], "index", shape=ramp.shape, weights=ramp.ravel())
        w = self._add("ElementWise", [eqf, idx], "mul", op=int(_C.ElementWiseOperation.PROD))
        # Caffe sorts (value, index) pairs descending: ties go to the largest index.
        y = self._add("Reduce", [w], None if p.HasField("axis") else "reduce", op=int(_C.ReduceOperation.MAX),
                      axes=(axis,), keep_dims=1)
        if not p.HasField("axis"):
            y = self._add("Shuffle", [y], reshape=(0, 1, 1))
        return [y]

    def _plugin(self, layer):
        xs = self._ins(layer)
        fields = dict(self.plugin_fields.get(layer["type"], {}))
        fields.update(self.plugin_fields.get(layer["name"], {}))
        lay = self.net.add_plugin(layer["type"], xs, fields)
        name, k = layer["name"], 1
        while name in self._layer_names:
            name, k = f"{layer['name']}_{k}", k + 1
        self._layer_names.add(name)
        lay.name = name
        n = lay.num_outputs
        if n < len(layer["top"]):
            raise InvalidModelError(f"layer '{layer['name']}': plugin '{layer['type']}' has {n} outputs, the layer "
                                    f"{len(layer['top'])} tops")
        return [lay.output(i) for i in range(len(layer["top"]))]

    def _silence(self, layer):
        self._ins(layer)
        return None


_V1_TO_TYPE = {
    "ABSVAL": "AbsVal", "ARGMAX": "ArgMax", "BNLL": "BNLL", "CONCAT": "Concat", "CONVOLUTION": "Convolution",
    "DECONVOLUTION": "Deconvolution", "DROPOUT": "Dropout", "ELTWISE": "Eltwise", "EXP": "Exp", "FLATTEN": "Flatten",
    "INNER_PRODUCT": "InnerProduct", "LRN": "LRN", "POOLING": "Pooling", "POWER": "Power", "RELU": "ReLU",
    "SIGMOID": "Sigmoid", "SOFTMAX": "Softmax", "SPLIT": "Split", "SLICE": "Slice", "TANH": "TanH",
    "SILENCE": "Silence", "THRESHOLD": "Threshold",
}

_CONVERTERS = {
    "Input": CaffeParser._input,
    "Convolution": CaffeParser._conv,
    "Deconvolution": lambda self, layer: self._conv(layer, deconv=True),
    "InnerProduct": CaffeParser._inner_product,
    "Pooling": CaffeParser._pooling,
    "ReLU": CaffeParser._relu,
    "PReLU": CaffeParser._prelu,
    "Sigmoid": lambda self, layer: self._act(layer, _C.ActivationType.SIGMOID),
    "TanH": lambda self, layer: self._act(layer, _C.ActivationType.TANH),
    "ELU": lambda self, layer: self._act(layer, _C.ActivationType.ELU, alpha=float(layer["msg"].elu_param.alpha)),
    "BNLL": lambda self, layer: self._act(layer, _C.ActivationType.SOFTPLUS),
    "AbsVal": lambda self, layer: self._unary(layer, _C.UnaryOperation.ABS),
    "Power": CaffeParser._power,
    "Exp": CaffeParser._exp,
    "Log": CaffeParser._log,
    "LRN": CaffeParser._lrn,
    "BatchNorm": CaffeParser._batchnorm,
    "Scale": CaffeParser._scale,
    "Bias": CaffeParser._bias,
    "Eltwise": CaffeParser._eltwise,
    "Concat": CaffeParser._concat,
    "Slice": CaffeParser._slice,
    "Split": CaffeParser._split,
    "Softmax": CaffeParser._softmax,
    "Flatten": CaffeParser._flatten,
    "Reshape": CaffeParser._reshape,
    "Permute": CaffeParser._permute,
    "Dropout": CaffeParser._passthrough,
    "Crop": CaffeParser._crop,
    "ArgMax": CaffeParser._argmax,
    "Silence": CaffeParser._silence,
}
