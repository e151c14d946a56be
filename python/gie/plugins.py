"""Plugins written in Python: subclass :class:`Plugin`, register it with :func:`register_plugin`, then use it by
its type name like any plugin (``net.add_plugin(Name.name, [x], fields)``, an importer's fallback for an unknown
op, an engine file).

    class Scale(gie.Plugin):
        name = "PyScale"                       # the type name: layers, importers and engine files use it
        fields = {"alpha": 2.0}                # declared fields and their defaults
        def enqueue(self, inputs, outputs, stream):
            np.multiply(inputs[0], self.alpha, out=outputs[0])

    gie.register_plugin(Scale)
    y = net.add_plugin("PyScale", [x], {"alpha": 0.5}).output(0)

gie calls the plugin from C++ with the GIL taken for each call (shapes, types, formats, enqueue, serialize), from
whatever thread builds or executes: see docs/plugins.md ("Python plugins") for the threading and cost.
"""
import json
from collections import namedtuple

import numpy as np

from . import _C
from .errors import Error, InvalidArgumentError, InvalidEngineError

__all__ = ["Plugin", "PluginTensorDesc", "register_plugin", "plugin_abi_version", "DeviceArray"]

# DataType and TensorFormat values (gie/types.h) <-> numpy dtypes and format names.
_DTYPES = {0: np.dtype(np.float32), 1: np.dtype(np.float16), 2: np.dtype(np.int8), 3: np.dtype(np.int32), 4: np.dtype(np.bool_)}
_FORMATS = {0: "linear", 1: "nhwc", 2: "chw4", 3: "chw32", 4: "hwc8"}
_SERIAL_VERSION = 1


def plugin_abi_version():
    """The plugin interface version (GIE_PLUGIN_ABI_VERSION) this gie was built with; a plugin library built
    against another one is refused by :func:`gie.load_library`."""
    return _C.plugin_abi_version()


PluginTensorDesc = namedtuple("PluginTensorDesc", "shape min max dtype format")
PluginTensorDesc.__doc__ = """One input or output as :meth:`Plugin.configure` sees it: ``shape``, the planned (largest) shape; ``min`` and
``max``, the elementwise smallest and largest shapes it takes over every optimization profile of the engine (every
shape ``enqueue`` sees lies between them; equal to ``shape`` where it never varies); ``dtype`` (numpy) and ``format``
("linear", "nhwc")."""


class DeviceArray:
    """A GPU tensor handed to a GPU plugin's ``enqueue``: ``ptr``, ``shape``, ``strides`` (bytes), ``dtype``, and the
    ``__cuda_array_interface__`` through which ``cupy.asarray(a)`` and ``torch.as_tensor(a, device="cuda")`` view it
    without copying. Valid only during the call."""

    def __init__(self, ptr, shape, strides, dtype, readonly):
        self.ptr, self.shape, self.strides, self.dtype, self.readonly = ptr, tuple(shape), tuple(strides), np.dtype(dtype), readonly

    @property
    def __cuda_array_interface__(self):
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (self.ptr, self.readonly), "strides": self.strides,
                "version": 2}

    def __repr__(self):
        return f"DeviceArray(shape={self.shape}, dtype={self.dtype}, ptr=0x{self.ptr:x})"


class Plugin:
    """Base class of a Python plugin. Class attributes:

    * ``name`` (required): the type name; ``version`` ("1"); ``device``: "cpu" (enqueue gets numpy arrays),
      "gpu" (:class:`DeviceArray` objects and the CUDA stream as an int) or ("cpu", "gpu");
    * ``fields``: ``{name: default}``; a default is a number, a bool, a string or a list of numbers. Given values
      are converted to the default's kind (a field of a list default stays a list). The instance has each field as an
      attribute; the values are serialized into engine files (as JSON) and come back at load;
    * ``num_outputs`` (1); ``formats``: the (dtype, format) pairs every input and output may take, all the same as
      input 0's (default ``[(np.float32, "linear")]``; formats "linear" and "nhwc": HWC8 is never offered).

    Methods to override: ``enqueue(inputs, outputs, stream)`` (required: write every element of each output array in
    place), ``output_shapes(input_shapes)`` (default: input 0's shape for every output; called with the concrete shapes
    of each run too), ``configure(inputs, outputs)`` (lists of :class:`PluginTensorDesc`: the chosen types and formats
    and each tensor's min/max shapes over the engine's profiles; called on each instance before it runs, at build and at
    engine load; default: nothing), ``output_dtypes(input_dtypes)``
    (default: input 0's dtype), ``supports_format(pos, dtypes, formats, num_inputs)`` (default: ``formats``, all
    positions alike; ``dtypes``/``formats`` hold positions 0..pos, inputs first) and ``validate()`` (raise ValueError for
    bad field values). Raise an exception to fail a call: gie reports it naming the layer (a :class:`gie.Error`
    subclass keeps its kind). ``enqueue`` may run on several threads (one at a time: it holds the GIL) and must not
    change the plugin.
    """

    name = None
    version = "1"
    device = "cpu"
    fields = {}
    num_outputs = 1
    formats = [(np.float32, "linear")]

    def __init__(self, **fields):
        unknown = sorted(set(fields) - set(self.fields))
        if unknown:
            raise InvalidArgumentError(f"unknown field '{unknown[0]}' ({self.name} fields: {', '.join(self.fields) or 'none'})")
        for key, default in self.fields.items():
            setattr(self, key, _convert(key, fields[key], default) if key in fields else _copy(default))
        self.validate()

    def field_values(self):
        """{name: value} of the declared fields (what is serialized)."""
        return {key: getattr(self, key) for key in self.fields}

    def validate(self):
        pass

    def output_shapes(self, input_shapes):
        return [input_shapes[0]] * self.num_outputs

    def configure(self, inputs, outputs):
        pass

    def output_dtypes(self, input_dtypes):
        return [input_dtypes[0]] * self.num_outputs

    def supports_format(self, pos, dtypes, formats, num_inputs):
        allowed = {(np.dtype(t), f) for t, f in self.formats}
        if (dtypes[pos], formats[pos]) not in allowed:
            return False
        return pos == 0 or (dtypes[pos], formats[pos]) == (dtypes[0], formats[0])

    def enqueue(self, inputs, outputs, stream):
        raise NotImplementedError(f"{type(self).__name__}.enqueue")


def _copy(v):
    return list(v) if isinstance(v, (list, tuple)) else v


def _convert(key, value, default):
    """A field value (from Python, or a numpy array from a layer field / importer attribute) in the default's kind."""
    try:
        if isinstance(default, str):
            if not isinstance(value, str):
                raise TypeError("must be a string")
            return value
        if isinstance(default, (list, tuple)):
            arr = np.asarray(value).reshape(-1)
            if arr.dtype.kind not in "biuf":
                raise TypeError("must be a list of numbers")
            kind = int if default and all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in default) else float
            return [kind(v) for v in arr.tolist()]
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf" or arr.size != 1:
            raise TypeError(f"must be one number, not {value!r}")
        v = arr.reshape(-1)[0].item()
        if isinstance(default, bool):
            return bool(v)
        if isinstance(default, int):
            if float(v) != int(v):
                raise TypeError(f"must be an integer, not {v!r}")
            return int(v)
        return float(v)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"field '{key}' {e}") from None


def _check_class(cls):
    if not (isinstance(cls, type) and issubclass(cls, Plugin)):
        raise InvalidArgumentError(f"register_plugin: expected a gie.Plugin subclass, not {cls!r}")
    if not isinstance(cls.name, str) or not cls.name:
        raise InvalidArgumentError(f"register_plugin: {cls.__qualname__}.name must be a non-empty string (the plugin type)")
    if not isinstance(cls.version, str) or not cls.version:
        raise InvalidArgumentError(f"register_plugin: {cls.__qualname__}.version must be a non-empty string")
    if not isinstance(cls.num_outputs, int) or cls.num_outputs < 1:
        raise InvalidArgumentError(f"register_plugin: {cls.__qualname__}.num_outputs must be an int >= 1")
    devices = (cls.device,) if isinstance(cls.device, str) else tuple(cls.device)
    if not devices or any(d not in ("cpu", "gpu") for d in devices):
        raise InvalidArgumentError(f"register_plugin: {cls.__qualname__}.device must be 'cpu', 'gpu' or both, not {cls.device!r}")
    for key, default in cls.fields.items():
        ok = isinstance(default, (bool, int, float, str)) or (
            isinstance(default, (list, tuple)) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in default))
        if not ok:
            raise InvalidArgumentError(f"register_plugin: {cls.__qualname__}.fields['{key}'] = {default!r}: a default must be a number, "
                                       "a bool, a string or a list of numbers")
    return devices


def register_plugin(cls, replace=False):
    """Registers a :class:`Plugin` subclass under ``cls.name`` / ``cls.version`` for its device(s); returns ``cls``
    (usable as a class decorator). Registering the same class again does nothing; another class under the same name
    and version raises InvalidArgumentError unless ``replace=True``. Every process that builds or loads an engine using
    the plugin must register it first (an engine names the class it needs)."""
    devices = _check_class(cls)
    field_kinds = {k: ("str" if isinstance(v, str) else "float" if isinstance(v, float) or (isinstance(v, (list, tuple)) and any(
        isinstance(x, float) for x in v)) else "list" if isinstance(v, (list, tuple)) else "int") for k, v in cls.fields.items()}
    origin = f"Python class '{cls.__module__}.{cls.__qualname__}'"
    for device in devices:
        _C._register_python_plugin(cls, cls.name, cls.version, device, list(field_kinds.items()), origin, replace)
    return cls


# ---- called by the C++ adapter (python/src/bindings.cpp), with the GIL held -----------------------------

def _create(cls, fields):
    return cls(**fields)


def _serialize(plugin):
    return json.dumps({"v": _SERIAL_VERSION, "fields": plugin.field_values()}, sort_keys=True, separators=(",", ":"),
                      allow_nan=True).encode()


def _deserialize(cls, data):
    try:
        doc = json.loads(bytes(data).decode())
        if not isinstance(doc, dict) or doc.get("v") != _SERIAL_VERSION or not isinstance(doc.get("fields"), dict):
            raise ValueError("not a gie Python plugin's fields")
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidEngineError(f"fields are not valid ({e})") from None
    return cls(**doc["fields"])


def _clone(plugin):
    return type(plugin)(**plugin.field_values())


def _output_shapes(plugin, shapes):
    out = [tuple(int(d) for d in s) for s in plugin.output_shapes([tuple(s) for s in shapes])]
    if len(out) != plugin.num_outputs:
        raise ValueError(f"output_shapes returned {len(out)} shapes for {plugin.num_outputs} outputs")
    return out


def _configure(plugin, inputs, outputs):
    def descs(items):
        return [PluginTensorDesc(tuple(shape), tuple(lo), tuple(hi), _DTYPES[t], _FORMATS[f]) for shape, lo, hi, t, f in items]
    plugin.configure(descs(inputs), descs(outputs))


def _output_types(plugin, types):
    out = [np.dtype(t) for t in plugin.output_dtypes([_DTYPES[t] for t in types])]
    if len(out) != plugin.num_outputs:
        raise ValueError(f"output_dtypes returned {len(out)} dtypes for {plugin.num_outputs} outputs")
    codes = {v: k for k, v in _DTYPES.items()}
    for t in out:
        if t not in codes:
            raise ValueError(f"output dtype {t} is not one gie has (float32, float16, int8, int32, bool)")
    return [codes[t] for t in out]


def _supports(plugin, pos, descs, num_inputs):
    return bool(plugin.supports_format(pos, [_DTYPES[t] for t, _ in descs], [_FORMATS[f] for _, f in descs], num_inputs))


def _enqueue(plugin, inputs, outputs, stream, gpu):
    if gpu:
        inputs = [DeviceArray(*a, readonly=True) for a in inputs]
        outputs = [DeviceArray(*a, readonly=False) for a in outputs]
    plugin.enqueue(inputs, outputs, stream if gpu else None)


def _error_code(e):
    """The gie ErrorCode (int) an exception maps to: a gie.Error keeps its kind; 0 for any other exception."""
    return int(e.code) if isinstance(e, Error) else 0
