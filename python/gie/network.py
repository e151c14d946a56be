"""Python conveniences over the network API: typed ``add_*`` helpers and layer fields as attributes.

Every helper calls ``NetworkDefinition.add_layer(type, inputs, fields)``; layer parameters are fields
(see docs/layers.md), readable and writable as attributes: ``pool.stride = (2, 2)``.
"""
import enum

import numpy as np

from . import _C
from .errors import InvalidArgumentError

# Fields that hold weights: always numpy arrays.
_ARRAY_FIELDS = {"kernel", "bias", "weights", "shift", "scale", "power", "slope"}


def _to_field(value):
    if isinstance(value, (str, np.ndarray)):
        return value
    if isinstance(value, (enum.Enum,)) or hasattr(value, "__int__") and type(value).__module__.startswith("gie"):
        return np.asarray([int(value)], dtype=np.int64)
    if isinstance(value, bool):
        return np.asarray([int(value)], dtype=np.int64)
    if isinstance(value, (int, np.integer)):
        return np.asarray([value], dtype=np.int64)
    if isinstance(value, (float, np.floating)):
        return np.asarray([value], dtype=np.float32)
    if isinstance(value, (tuple, list)):
        if len(value) == 0:
            return np.zeros(0, dtype=np.int64)  # an empty shape / list of dims
        arr = np.asarray(value)
        if arr.dtype.kind in "iub":
            return arr.astype(np.int64)
        if arr.dtype.kind == "f":
            return arr.astype(np.float32)
        raise InvalidArgumentError(f"cannot use {value!r} as a layer field")
    try:  # torch / cupy / anything array-like
        return np.asarray(value)
    except Exception as e:  # noqa: BLE001
        raise InvalidArgumentError(f"cannot use {type(value).__name__} as a layer field: {e}") from None


def _from_field(name, value):
    if value is None or isinstance(value, str) or name in _ARRAY_FIELDS:
        return value
    if value.dtype.kind in "iu":
        return int(value[0]) if value.size == 1 else tuple(int(v) for v in value)
    return float(value[0]) if value.size == 1 else value


def _field_names(layer):
    names = _C.plugin_field_names(layer.type)
    return names if names else layer._field_names()


def _layer_getattr(self, name):
    if name.startswith("_"):
        raise AttributeError(name)
    if name == "padding":
        return _from_field("pre_padding", self._get_field("pre_padding"))
    if name in _field_names(self):
        return _from_field(name, self._get_field(name))
    raise AttributeError(f"layer '{self.name}' ({self.type}) has no attribute or field '{name}' "
                         f"(fields: {', '.join(_field_names(self))})")


def _layer_setattr(self, name, value):
    if name.startswith("_") or hasattr(type(self), name):
        object.__setattr__(self, name, value)
        return
    if name == "padding":
        self._set_field("pre_padding", _to_field(value))
        self._set_field("post_padding", _to_field(value))
        return
    if name in _field_names(self):
        self._set_field(name, _to_field(value))
        return
    raise AttributeError(f"layer '{self.name}' ({self.type}) has no field '{name}' (fields: {', '.join(_field_names(self))})")


def _layer_dir(self):
    return sorted(set(object.__dir__(self)) | set(_field_names(self)))


_C.Layer.__getattr__ = _layer_getattr
_C.Layer.__setattr__ = _layer_setattr
_C.Layer.__dir__ = _layer_dir
_C.Layer.__repr__ = lambda self: f"<gie.Layer '{self.name}' type={self.type}>"


def _weights(w, name, dtype=np.float32):
    if w is None:
        return None
    arr = np.asarray(w)
    if arr.dtype.kind not in "fiu":
        raise InvalidArgumentError(f"{name} weights must be numeric, got dtype {arr.dtype}")
    if arr.dtype == np.float16:
        return np.ascontiguousarray(arr).ravel()
    return np.ascontiguousarray(arr, dtype=dtype).ravel()


def _fields(**kw):
    """Drops None values and converts the rest."""
    return {k: _to_field(v) for k, v in kw.items() if v is not None}


def _pair(v):
    return (v, v) if isinstance(v, (int, np.integer)) else tuple(v)


def _add(net, type_, inputs, **fields):
    return net.add_layer(type_, list(inputs), _fields(**fields))


def add_convolution(self, input, num_output_maps, kernel_shape, kernel, bias=None, *, stride=None, padding=None,
                    pre_padding=None, post_padding=None, dilation=None, num_groups=None):
    """Convolution with kernel (K, C/groups, R, S) and optional bias (K,)."""
    if padding is not None:
        pre_padding = post_padding = _pair(padding)
    return _add(self, "Convolution", [input], num_output_maps=int(num_output_maps), kernel_size=_pair(kernel_shape),
                kernel=_weights(kernel, "kernel"), bias=_weights(bias, "bias"), stride=_pair(stride) if stride is not None else None,
                pre_padding=pre_padding, post_padding=post_padding,
                dilation=_pair(dilation) if dilation is not None else None, num_groups=num_groups)


def add_deconvolution(self, input, num_output_maps, kernel_shape, kernel, bias=None, *, stride=None, padding=None,
                      pre_padding=None, post_padding=None, dilation=None, num_groups=None, output_padding=None):
    """Transposed convolution with kernel (C, K/groups, R, S) and optional bias (K,)."""
    if padding is not None:
        pre_padding = post_padding = _pair(padding)
    return _add(self, "Deconvolution", [input], num_output_maps=int(num_output_maps), kernel_size=_pair(kernel_shape),
                kernel=_weights(kernel, "kernel"), bias=_weights(bias, "bias"), stride=_pair(stride) if stride is not None else None,
                pre_padding=pre_padding, post_padding=post_padding,
                dilation=_pair(dilation) if dilation is not None else None, num_groups=num_groups,
                output_padding=_pair(output_padding) if output_padding is not None else None)


def add_fully_connected(self, input, num_outputs, kernel, bias=None, *, axis=None):
    """Flattens dims [axis:] (C, H, W for NCHW) and multiplies by kernel (num_outputs, flat)."""
    return _add(self, "FullyConnected", [input], num_outputs=int(num_outputs), kernel=_weights(kernel, "kernel"),
                bias=_weights(bias, "bias"), axis=axis)


def add_matrix_multiply(self, a, b, *, transpose_a=False, transpose_b=False):
    """numpy.matmul semantics (batch dims broadcast), with optional transposes of the last two dims."""
    return _add(self, "MatrixMultiply", [a, b], transpose_a=int(transpose_a), transpose_b=int(transpose_b))


def add_pooling(self, input, type, window_size, *, stride=None, padding=None):
    """2D max/average pooling on NCHW. Stride defaults to 1 (set ``layer.stride``)."""
    return _add(self, "Pooling", [input], pooling_type=int(type), window_size=_pair(window_size),
                stride=_pair(stride) if stride is not None else None,
                pre_padding=_pair(padding) if padding is not None else None,
                post_padding=_pair(padding) if padding is not None else None)


def add_activation(self, input, type, alpha=None, beta=None):
    return _add(self, "Activation", [input], activation_type=int(type), alpha=alpha, beta=beta)


def add_softmax(self, input, axis=1):
    return _add(self, "Softmax", [input], axis=axis)


def add_log_softmax(self, input, axis=1):
    return _add(self, "Softmax", [input], axis=axis, log=1)


def add_concatenation(self, inputs, axis=1):
    return _add(self, "Concatenation", inputs, axis=axis)


def add_elementwise(self, a, b, op):
    return _add(self, "ElementWise", [a, b], op=int(op))


def add_unary(self, input, op):
    return _add(self, "Unary", [input], op=int(op))


def add_identity(self, input):
    return _add(self, "Identity", [input])


def add_constant(self, shape, weights):
    """A constant tensor; float arrays become float32, integer arrays int32."""
    arr = np.asarray(weights)
    if arr.dtype.kind == "f" and arr.dtype != np.float16:
        arr = arr.astype(np.float32)
    elif arr.dtype.kind in "iub":
        arr = arr.astype(np.int32)
    return self.add_layer("Constant", [], {"shape": _to_field(tuple(shape)), "weights": np.ascontiguousarray(arr).ravel()})


def add_lrn(self, input, window, alpha, beta, k=1.0):
    """Local response normalization across channels (Caffe semantics)."""
    return _add(self, "LRN", [input], window_size=int(window), alpha=float(alpha), beta=float(beta), k=float(k))


def add_scale(self, input, mode, shift=None, scale=None, power=None, *, channel_axis=None):
    """y = (x * scale + shift) ** power, per tensor (UNIFORM), per channel or per element."""
    return _add(self, "Scale", [input], mode=int(mode), shift=_weights(shift, "shift"), scale=_weights(scale, "scale"),
                power=_weights(power, "power"), channel_axis=channel_axis)


def add_shuffle(self, input, *, first_transpose=None, reshape=None, second_transpose=None, zero_is_placeholder=None):
    """Transpose -> reshape (0 copies a dimension, -1 is inferred) -> transpose."""
    return _add(self, "Shuffle", [input], first_transpose=first_transpose, reshape=reshape,
                second_transpose=second_transpose,
                zero_is_placeholder=int(zero_is_placeholder) if zero_is_placeholder is not None else None)


def add_padding(self, input, pre_padding, post_padding, *, mode=None, value=None):
    """Pads every dimension: pre/post per dimension (constant, reflect or edge)."""
    return _add(self, "Padding", [input], pre_padding=tuple(pre_padding), post_padding=tuple(post_padding),
                mode=int(mode) if mode is not None else None, value=value)


def add_reduce(self, input, op, axes, keep_dims=True):
    axes = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
    return _add(self, "Reduce", [input], op=int(op), axes=axes, keep_dims=int(keep_dims))


def add_slice(self, input, start, size, stride=None):
    """Element i of each dim is input[start + i * stride] (stride may be negative)."""
    return _add(self, "Slice", [input], start=tuple(start), size=tuple(size),
                stride=tuple(stride) if stride is not None else tuple([1] * len(start)))


def add_resize(self, input, mode, *, output_shape=None, scales=None, coordinate_transformation=None, nearest_mode=None,
               cubic_coeff=None):
    """Nearest or (multi)linear resize to ``output_shape`` or by ``scales`` (one per dimension)."""
    return _add(self, "Resize", [input], mode=int(mode), output_dims=tuple(output_shape) if output_shape is not None else None,
                scales=tuple(float(s) for s in scales) if scales is not None else None,
                coordinate_transformation=int(coordinate_transformation) if coordinate_transformation is not None else None,
                nearest_mode=int(nearest_mode) if nearest_mode is not None else None)


def add_gather(self, data, indices, axis=0):
    """numpy.take(data, indices, axis) with int32 indices (negative indices count from the end)."""
    return _add(self, "Gather", [data, indices], axis=axis)


def add_cast(self, input, to_type):
    return _add(self, "Cast", [input], to=int(to_type))


def add_prelu(self, input, slope):
    """PReLU with one slope per channel (dimension 1) or a single shared slope."""
    return _add(self, "PRelu", [input], slope=_weights(slope, "slope"))


def add_plugin(self, type, inputs, fields=None):
    """A layer of a registered plugin type (built from its creator with ``fields``)."""
    return self.add_layer(type, list(inputs), {k: _to_field(v) for k, v in (fields or {}).items()})


def mark_output(self, tensor, name=None):
    """Marks a tensor as a network output, optionally renaming it."""
    if name is not None:
        tensor.name = name
    self._mark_output(tensor)


for _name, _fn in list(globals().items()):
    if _name.startswith("add_") or _name == "mark_output":
        setattr(_C.NetworkDefinition, _name, _fn)

_C.NetworkDefinition.layers = property(lambda self: [self.get_layer(i) for i in range(self.num_layers)])
_C.NetworkDefinition.inputs = property(lambda self: [self.get_input(i) for i in range(self.num_inputs)])
_C.NetworkDefinition.outputs = property(lambda self: [self.get_output(i) for i in range(self.num_outputs)])
