"""Python conveniences over the network API: typed ``add_*`` helpers and layer fields as attributes.

Every helper calls ``NetworkDefinition.add_layer(type, inputs, fields)``; layer parameters are fields
(see docs/layers.md), readable and writable as attributes: ``pool.stride = (2, 2)``.
"""
import builtins
import enum

import numpy as np

from . import _C
from .errors import InvalidArgumentError, integer_argument

# Fields that hold weights: always numpy arrays.
_ARRAY_FIELDS = {"kernel", "bias", "weights", "shift", "scale", "power", "slope"}


def _to_field(value, name="value"):
    """A layer field's value as a string or numpy array; InvalidArgumentError naming field ``name`` otherwise."""
    if isinstance(value, (str, np.ndarray)):
        return value
    if isinstance(value, (enum.Enum,)) or hasattr(value, "__int__") and type(value).__module__.startswith("gie"):
        return np.asarray([int(value)], dtype=np.int64)
    try:
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
            raise InvalidArgumentError(f"field '{name}': cannot use {value!r} as a layer field (numbers or a string)")
    except (OverflowError, ValueError, TypeError) as e:
        if isinstance(e, InvalidArgumentError):
            raise
        # numpy: an int beyond int64, a ragged or mixed sequence
        raise InvalidArgumentError(f"field '{name}': cannot use {value!r} as a layer field: {e}") from None
    try:  # torch / cupy / anything array-like
        return np.asarray(value)
    except Exception as e:  # noqa: BLE001
        raise InvalidArgumentError(f"field '{name}': cannot use {type(value).__name__} as a layer field: {e}") from None


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
        self._set_field("pre_padding", _to_field(value, "pre_padding"))
        self._set_field("post_padding", _to_field(value, "post_padding"))
        return
    if name in _field_names(self):
        self._set_field(name, _to_field(value, name))
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
    try:
        arr = np.asarray(w)
    except (ValueError, TypeError) as e:  # ragged or mixed sequences
        raise InvalidArgumentError(f"{name} weights must be a numeric array: {e}") from None
    if arr.dtype.kind not in "fiu":
        raise InvalidArgumentError(f"{name} weights must be numeric, got dtype {arr.dtype}")
    if arr.dtype == np.float16:
        return np.ascontiguousarray(arr).ravel()
    return np.ascontiguousarray(arr, dtype=dtype).ravel()


def _fields(**kw):
    """Drops None values and converts the rest."""
    return {k: _to_field(v, k) for k, v in kw.items() if v is not None}


def _pair(v, what):
    """An int or a sequence of ints as a tuple ((v, v) for an int); InvalidArgumentError naming ``what``."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return (v, v)
    if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
        raise InvalidArgumentError(f"{what} must be an int or a sequence of ints, not {type(v).__name__} {v!r}")
    return tuple(integer_argument(x, what) for x in v)


def _ints(v, what):
    """A sequence of ints as a tuple; InvalidArgumentError naming ``what``."""
    if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
        raise InvalidArgumentError(f"{what} must be a sequence of ints, not {type(v).__name__} {v!r}")
    return tuple(integer_argument(x, what) for x in v)


def _enum(value, enum_type, what):
    """A gie enum value (or its int) as an int; InvalidArgumentError listing the values otherwise."""
    if isinstance(value, enum_type) or (isinstance(value, (int, np.integer)) and not isinstance(value, bool)):
        return int(value)
    names = ", ".join(f"gie.{enum_type.__name__}.{n}" for n in enum_type.__members__)
    raise InvalidArgumentError(f"{what} must be one of {names}; not {type(value).__name__} {value!r}")


def _opt(fn, v, *args):
    return None if v is None else fn(v, *args)


def _tensors(inputs, what):
    if isinstance(inputs, (str, bytes)) or not hasattr(inputs, "__iter__"):
        raise InvalidArgumentError(f"{what} must be a list of gie.Tensor, not {type(inputs).__name__} {inputs!r}")
    return list(inputs)


def _float(v, what):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise InvalidArgumentError(f"{what} must be a number, not {type(v).__name__} {v!r}")
    return float(v)


def _floats(v, what):
    if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
        raise InvalidArgumentError(f"{what} must be a sequence of numbers, not {type(v).__name__} {v!r}")
    return tuple(_float(x, what) for x in v)


def _add(net, type_, inputs, **fields):
    return net.add_layer(type_, _tensors(inputs, f"{type_} inputs"), _fields(**fields))


def add_convolution(self, input, num_output_maps, kernel_shape, kernel, bias=None, *, stride=None, padding=None,
                    pre_padding=None, post_padding=None, dilation=None, num_groups=None):
    """Convolution with kernel (K, C/groups, R, S) and optional bias (K,)."""
    if padding is not None:
        pre_padding = post_padding = _pair(padding, "add_convolution: padding")
    return _add(self, "Convolution", [input], num_output_maps=integer_argument(num_output_maps, "add_convolution: num_output_maps"),
                kernel_size=_pair(kernel_shape, "add_convolution: kernel_shape"),
                kernel=_weights(kernel, "kernel"), bias=_weights(bias, "bias"), stride=_opt(_pair, stride, "add_convolution: stride"),
                pre_padding=pre_padding, post_padding=post_padding,
                dilation=_opt(_pair, dilation, "add_convolution: dilation"),
                num_groups=_opt(integer_argument, num_groups, "add_convolution: num_groups"))


def add_deconvolution(self, input, num_output_maps, kernel_shape, kernel, bias=None, *, stride=None, padding=None,
                      pre_padding=None, post_padding=None, dilation=None, num_groups=None, output_padding=None):
    """Transposed convolution with kernel (C, K/groups, R, S) and optional bias (K,)."""
    if padding is not None:
        pre_padding = post_padding = _pair(padding, "add_deconvolution: padding")
    return _add(self, "Deconvolution", [input], num_output_maps=integer_argument(num_output_maps, "add_deconvolution: num_output_maps"),
                kernel_size=_pair(kernel_shape, "add_deconvolution: kernel_shape"),
                kernel=_weights(kernel, "kernel"), bias=_weights(bias, "bias"), stride=_opt(_pair, stride, "add_deconvolution: stride"),
                pre_padding=pre_padding, post_padding=post_padding,
                dilation=_opt(_pair, dilation, "add_deconvolution: dilation"),
                num_groups=_opt(integer_argument, num_groups, "add_deconvolution: num_groups"),
                output_padding=_opt(_pair, output_padding, "add_deconvolution: output_padding"))


def add_fully_connected(self, input, num_outputs, kernel, bias=None, *, axis=None):
    """Flattens dims [axis:] (C, H, W for NCHW) and multiplies by kernel (num_outputs, flat)."""
    return _add(self, "FullyConnected", [input], num_outputs=integer_argument(num_outputs, "add_fully_connected: num_outputs"),
                kernel=_weights(kernel, "kernel"),
                bias=_weights(bias, "bias"), axis=_opt(integer_argument, axis, "add_fully_connected: axis"))


def add_matrix_multiply(self, a, b, *, transpose_a=False, transpose_b=False):
    """numpy.matmul semantics (batch dims broadcast), with optional transposes of the last two dims."""
    return _add(self, "MatrixMultiply", [a, b], transpose_a=int(transpose_a), transpose_b=int(transpose_b))


def add_pooling(self, input, type, window_size, *, stride=None, padding=None):
    """2D max/average pooling on NCHW. Stride defaults to 1 (set ``layer.stride``)."""
    return _add(self, "Pooling", [input], pooling_type=_enum(type, _C.PoolingType, "add_pooling: type"),
                window_size=_pair(window_size, "add_pooling: window_size"), stride=_opt(_pair, stride, "add_pooling: stride"),
                pre_padding=_opt(_pair, padding, "add_pooling: padding"), post_padding=_opt(_pair, padding, "add_pooling: padding"))


def add_activation(self, input, type, alpha=None, beta=None):
    return _add(self, "Activation", [input], activation_type=_enum(type, _C.ActivationType, "add_activation: type"), alpha=alpha,
                beta=beta)


def add_softmax(self, input, axis=1):
    return _add(self, "Softmax", [input], axis=integer_argument(axis, "add_softmax: axis"))


def add_log_softmax(self, input, axis=1):
    return _add(self, "Softmax", [input], axis=integer_argument(axis, "add_log_softmax: axis"), log=1)


def add_concatenation(self, inputs, axis=1):
    return _add(self, "Concatenation", inputs, axis=integer_argument(axis, "add_concatenation: axis"))


def add_elementwise(self, a, b, op):
    return _add(self, "ElementWise", [a, b], op=_enum(op, _C.ElementWiseOperation, "add_elementwise: op"))


def add_unary(self, input, op):
    return _add(self, "Unary", [input], op=_enum(op, _C.UnaryOperation, "add_unary: op"))


def add_identity(self, input):
    return _add(self, "Identity", [input])


def add_constant(self, shape, weights):
    """A constant tensor; float arrays become float32, integer arrays int32."""
    try:
        arr = np.asarray(weights)
    except (ValueError, TypeError) as e:  # ragged or mixed sequences
        raise InvalidArgumentError(f"add_constant: weights must be a numeric array: {e}") from None
    if arr.dtype.kind == "f" and arr.dtype != np.float16:
        arr = arr.astype(np.float32)
    elif arr.dtype.kind in "iub":
        arr = arr.astype(np.int32)
    return self.add_layer("Constant", [], {"shape": _to_field(_ints(shape, "add_constant: shape"), "shape"),
                                           "weights": np.ascontiguousarray(arr).ravel()})


def add_lrn(self, input, window, alpha, beta, k=1.0):
    """Local response normalization across channels (Caffe semantics)."""
    return _add(self, "LRN", [input], window_size=integer_argument(window, "add_lrn: window"), alpha=_float(alpha, "add_lrn: alpha"),
                beta=_float(beta, "add_lrn: beta"), k=_float(k, "add_lrn: k"))


def add_scale(self, input, mode, shift=None, scale=None, power=None, *, channel_axis=None):
    """y = (x * scale + shift) ** power, per tensor (UNIFORM), per channel or per element."""
    return _add(self, "Scale", [input], mode=_enum(mode, _C.ScaleMode, "add_scale: mode"), shift=_weights(shift, "shift"), scale=_weights(scale, "scale"),
                power=_weights(power, "power"), channel_axis=_opt(integer_argument, channel_axis, "add_scale: channel_axis"))


def add_shuffle(self, input, *, first_transpose=None, reshape=None, second_transpose=None, zero_is_placeholder=None):
    """Transpose -> reshape (0 copies a dimension, -1 is inferred) -> transpose."""
    runtime = isinstance(reshape, _C.Tensor)  # a shape tensor: the reshape computed at run time
    return _add(self, "Shuffle", [input, reshape] if runtime else [input],
                first_transpose=_opt(_ints, first_transpose, "add_shuffle: first_transpose"),
                reshape=None if runtime else _opt(_ints, reshape, "add_shuffle: reshape"),
                second_transpose=_opt(_ints, second_transpose, "add_shuffle: second_transpose"),
                zero_is_placeholder=int(zero_is_placeholder) if zero_is_placeholder is not None else None)


def add_padding(self, input, pre_padding, post_padding, *, mode=None, value=None):
    """Pads every dimension: pre/post per dimension (constant, reflect or edge)."""
    return _add(self, "Padding", [input], pre_padding=_ints(pre_padding, "add_padding: pre_padding"),
                post_padding=_ints(post_padding, "add_padding: post_padding"),
                mode=_opt(_enum, mode, _C.PaddingMode, "add_padding: mode"), value=value)


def add_reduce(self, input, op, axes, keep_dims=True):
    axes = (axes,) if isinstance(axes, (int, np.integer)) else _ints(axes, "add_reduce: axes")
    return _add(self, "Reduce", [input], op=_enum(op, _C.ReduceOperation, "add_reduce: op"), axes=axes, keep_dims=int(bool(keep_dims)))


def add_slice(self, input, start, size, stride=None):
    """Element i of each dim is input[start + i * stride] (stride may be negative)."""
    start = _ints(start, "add_slice: start")
    return _add(self, "Slice", [input], start=start, size=_ints(size, "add_slice: size"),
                stride=_ints(stride, "add_slice: stride") if stride is not None else tuple([1] * len(start)))


def add_resize(self, input, mode, *, output_shape=None, scales=None, coordinate_transformation=None, nearest_mode=None,
               cubic_coeff=None):
    """Nearest or (multi)linear resize to ``output_shape`` or by ``scales`` (one per dimension)."""
    runtime = isinstance(output_shape, _C.Tensor)  # a shape tensor: the output dims computed at run time
    return _add(self, "Resize", [input, output_shape] if runtime else [input], mode=_enum(mode, _C.ResizeMode, "add_resize: mode"),
                output_dims=None if runtime else _opt(_ints, output_shape, "add_resize: output_shape"),
                scales=_opt(_floats, scales, "add_resize: scales"),
                coordinate_transformation=_opt(_enum, coordinate_transformation, _C.ResizeCoordinateTransformation,
                                               "add_resize: coordinate_transformation"),
                nearest_mode=_opt(_enum, nearest_mode, _C.ResizeRoundMode, "add_resize: nearest_mode"))


def add_gather(self, data, indices, axis=0):
    """numpy.take(data, indices, axis) with int32 indices (negative indices count from the end)."""
    return _add(self, "Gather", [data, indices], axis=integer_argument(axis, "add_gather: axis"))


def add_shape(self, input):
    """A shape tensor holding the dimensions of ``input``, computed on the host at run time (TensorRT's add_shape).
    Arithmetic on shape tensors: ``add_layer("ShapeOp", ...)`` (docs/dynamic_shapes.md "Shape tensors"); readers:
    ``add_shuffle(x, reshape=shape_tensor)``, ``add_resize(x, mode, output_shape=shape_tensor)``."""
    return _add(self, "ShapeOp", [input], op=0)


def add_cast(self, input, to_type):
    return _add(self, "Cast", [input], to=_enum(to_type, _C.DataType, "add_cast: to_type"))


def add_prelu(self, input, slope):
    """PReLU with one slope per channel (dimension 1) or a single shared slope."""
    return _add(self, "PRelu", [input], slope=_weights(slope, "slope"))


def add_layer_norm(self, input, axis=-1, epsilon=1e-5, scale=None, bias=None):
    """LayerNorm over one axis (-1: the last; 1: the channels of NCHW): (x - mean) / sqrt(var + epsilon) * scale + bias,
    with optional scale and bias of one value per element of the axis."""
    try:
        eps = float(epsilon)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"add_layer_norm: epsilon must be a number, not {epsilon!r}") from None
    return _add(self, "LayerNorm", [input], axis=integer_argument(axis, "add_layer_norm: axis"), epsilon=eps,
                scale=_weights(scale, "scale"), bias=_weights(bias, "bias"))


def add_plugin(self, type, inputs, fields=None):
    """A layer of a registered plugin type (built from its creator with ``fields``)."""
    if fields is not None and not isinstance(fields, dict):
        raise InvalidArgumentError(f"add_plugin('{type}'): fields must be a dict {{name: value}}, not {builtins.type(fields).__name__}")
    return self.add_layer(type, _tensors(inputs, f"add_plugin('{type}'): inputs"),
                          {k: _to_field(v, k) for k, v in (fields or {}).items()})


_bound_add_input = _C.NetworkDefinition.add_input


def add_input(self, name, dtype, shape):
    """A network input. Any dimension may be -1 (or None): dynamic, its range given by an optimization profile
    (``config.add_profile``); without profiles dimension 0 follows the config's batch range."""
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise InvalidArgumentError(f"add_input('{name}'): shape must be a sequence of integers (-1 or None for a "
                                   f"dynamic dimension), not {type(shape).__name__} {shape!r}")
    return _bound_add_input(self, name, dtype, tuple(-1 if d is None else d for d in shape))


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
