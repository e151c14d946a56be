"""Builder, engines, execution contexts and the runtime, with numpy in and out."""
import contextlib
import json
import os
import tempfile
import threading

import numpy as np

from . import _C
from ._logging import make_log_function
from .errors import InvalidArgumentError, file_error, integer_argument, path_argument, read_file

_NP_DTYPES = {
    _C.DataType.float32: np.dtype(np.float32),
    _C.DataType.float16: np.dtype(np.float16),
    _C.DataType.int8: np.dtype(np.int8),
    _C.DataType.int32: np.dtype(np.int32),
    _C.DataType.bool: np.dtype(np.bool_),
}


def numpy_dtype(dtype):
    """The numpy dtype of a :class:`gie.DataType`."""
    try:
        return _NP_DTYPES[dtype]
    except (KeyError, TypeError):
        raise InvalidArgumentError(f"numpy_dtype: {dtype!r} is not a gie.DataType "
                                   f"({', '.join(str(d) for d in _NP_DTYPES)})") from None


def _device(value):
    if isinstance(value, str):
        try:
            return {"cpu": _C.DeviceType.CPU, "gpu": _C.DeviceType.GPU, "cuda": _C.DeviceType.GPU,
                    "auto": _C.DeviceType.AUTO}[value.lower()]
        except KeyError:
            raise InvalidArgumentError(f"unknown device '{value}' (use 'cpu', 'gpu' or 'auto')") from None
    return value


# ---- BuilderConfig conveniences -------------------------------------------------------------------

def _get_max_batch(self):
    return self._max_batch


def _set_max_batch(self, value):
    value = integer_argument(value, "max_batch")
    self.set_batch_range(min(self.min_batch, value), value, value)


def _get_batch_range(self):
    return (self.min_batch, self.opt_batch, self._max_batch)


def _set_batch_range(self, value):
    try:
        values = list(value)
    except TypeError:
        values = None
    if values is None or len(values) != 3:
        raise InvalidArgumentError(f"batch_range must be (min, opt, max), not {value!r}")
    self.set_batch_range(*[integer_argument(v, "batch_range") for v in values])



_C.BuilderConfig.max_batch = property(_get_max_batch, _set_max_batch, doc="Largest batch (dimension 0) the engine accepts.")
_C.BuilderConfig.batch_range = property(_get_batch_range, _set_batch_range, doc="(min, opt, max) batch.")
_orig_device = _C.BuilderConfig.device
_C.BuilderConfig.device = property(_orig_device.fget, lambda self, v: _orig_device.fset(self, _device(v)),
                                   doc="gie.DeviceType.CPU / GPU / AUTO, or 'cpu' / 'gpu' / 'auto'.")


def _flag_property(flag):
    return property(lambda self: self.get_flag(flag), lambda self, on: self.set_flag(flag) if on else self.clear_flag(flag))


# TensorRT's spelling of the two float types, beside gie's numpy-like names.
_C.DataType.FLOAT = _C.DataType.float32
_C.DataType.HALF = _C.DataType.float16
_C.BuilderConfig.fp16 = _flag_property(_C.BuilderFlag.FP16)
_C.BuilderConfig.int8 = _flag_property(_C.BuilderFlag.INT8)
_C.BuilderConfig.tf32 = _flag_property(_C.BuilderFlag.TF32)
_C.BuilderConfig.refittable = _flag_property(_C.BuilderFlag.REFIT)
_C.BuilderConfig.refittable.__doc__ = "Allow gie.Refitter to replace the engine's weights later without a rebuild."
_C.BuilderConfig.tf32.__doc__ = ("GPU FP32: allow tensor-core tactics of FP32 accuracy (3xTF32). Default True; False keeps "
                                 "every FP32 product on the CUDA cores.")


def _get_timing_cache(self):
    return self._timing_cache or None


def _set_timing_cache(self, path):
    self._timing_cache = "" if path is None or path == "" else path_argument(path, "timing_cache")


if hasattr(_C.BuilderConfig, "_timing_cache"):
    _C.BuilderConfig.timing_cache = property(
        _get_timing_cache, _set_timing_cache,
        doc="Timing-cache file (str or path; None = none): read before tactic selection, rewritten after the build.")


# ---- optimization profiles (issue 15) -------------------------------------------------------------

def _profile_shape(value, what):
    """A shape of a profile as a tuple of ints; InvalidArgumentError naming ``what``."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise InvalidArgumentError(f"{what} must be a sequence of integers, not {type(value).__name__} {value!r}")
    return tuple(integer_argument(d, what) for d in value)


def _profile_set_shape(self, input, min, opt, max):
    """Sets the smallest, typical (tactics are timed at profile 0's) and largest shape of ``input``."""
    shapes = [_profile_shape(v, f"set_shape('{input}'): {k}") for k, v in (("min", min), ("opt", opt), ("max", max))]
    for sel, shape in zip((_C.OptProfileSelector.MIN, _C.OptProfileSelector.OPT, _C.OptProfileSelector.MAX), shapes):
        self.set_dimensions(input, sel, shape)


def _profile_get_shape(self, input):
    """(min, opt, max) of ``input``, or None where the profile does not name it."""
    shapes = tuple(self.get_dimensions(input, s) for s in
                   (_C.OptProfileSelector.MIN, _C.OptProfileSelector.OPT, _C.OptProfileSelector.MAX))
    return None if all(v is None for v in shapes) else shapes


_C.OptimizationProfile.set_shape = _profile_set_shape
_C.OptimizationProfile.get_shape = _profile_get_shape


def _profile_entry(name, value):
    """(min, opt, max) from ``value``: a triple of shapes, or one shape (min = opt = max)."""
    what = f"add_profile: input '{name}'"
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise InvalidArgumentError(f"{what} needs (min, opt, max) shapes or one shape, not {type(value).__name__} {value!r}")
    if len(value) == 3 and all(hasattr(v, "__iter__") and not isinstance(v, (str, bytes)) for v in value):
        return tuple(_profile_shape(v, f"{what} {k}") for k, v in zip(("min", "opt", "max"), value))
    shape = _profile_shape(value, f"{what} shape")
    return shape, shape, shape


def _add_profile(self, shapes):
    """Adds an optimization profile ``{input: (min, opt, max)}`` (or ``{input: shape}`` for one fixed shape) and
    returns its index. Every input with a dynamic (-1) dimension needs its range in every profile; inputs without
    one may be left out. Do not combine with ``max_batch`` / ``set_batch_range``: use one or the other."""
    if not isinstance(shapes, dict) or not shapes:
        raise InvalidArgumentError(f"add_profile takes a non-empty dict {{input name: (min, opt, max)}}, not {shapes!r}")
    builder = getattr(self, "_builder", None)
    if builder is None:
        raise InvalidArgumentError("add_profile: this config was not made by gie.Builder.create_config(); use "
                                   "builder.create_optimization_profile() and config.add_optimization_profile(p)")
    profile = builder.create_optimization_profile()
    for name, value in shapes.items():
        if not isinstance(name, str):
            raise InvalidArgumentError(f"add_profile: input names must be str, not {type(name).__name__} {name!r}")
        profile.set_shape(name, *_profile_entry(name, value))
    return self.add_optimization_profile(profile)


_C.BuilderConfig.add_profile = _add_profile


def write_file_atomically(path, data, what):
    """Writes ``data`` (bytes) to ``path`` so that an existing file is replaced only once the new one is complete;
    an OSError becomes :class:`gie.FileError` "``what`` 'path': reason", and whatever was there stays intact."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        # The temporary file sits next to the target (os.replace is atomic only within one file system).
        fd, tmp = tempfile.mkstemp(prefix=".gie-", dir=directory)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise file_error(what, path, e) from e
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


class Builder:
    """Creates networks and configs and builds engines. Logs through Python's ``logging`` (logger ``gie``)."""

    def __init__(self, logger=None):
        self._impl = _C._Builder(make_log_function(logger))

    def create_network(self):
        return self._impl.create_network()

    def create_config(self):
        config = self._impl.create_config()
        config._builder = self  # config.add_profile creates its profiles here
        return config

    def create_optimization_profile(self):
        """An empty :class:`gie.OptimizationProfile` (TensorRT's spelling; ``config.add_profile`` does it in one
        call): ``p.set_shape(name, min, opt, max)`` then ``config.add_optimization_profile(p)``. Owned by this
        builder."""
        return self._impl.create_optimization_profile()

    @property
    def platform_has_gpu(self):
        return self._impl.platform_has_gpu

    def build(self, network, config=None):
        """Optimizes ``network`` for ``config`` (default: CPU/GPU auto, batch 1) and returns an :class:`Engine`."""
        if config is None:
            config = self.create_config()
        return Engine(self._impl.build(network, config))


class Engine:
    """An optimized network. Immutable; create one :class:`ExecutionContext` per thread."""

    def __init__(self, impl):
        self._impl = impl
        # Immutable, and read on every execute: asked once.
        io = impl._io_tensors
        self._inputs = tuple(n for n, is_input in io if is_input)
        self._outputs = tuple(n for n, is_input in io if not is_input)

    @property
    def io_tensor_names(self):
        return list(self._inputs + self._outputs)

    @property
    def input_names(self):
        return list(self._inputs)

    @property
    def output_names(self):
        return list(self._outputs)

    def get_tensor_shape(self, name):
        """The planned (largest) shape: for inputs the largest of every profile's max shapes, for outputs what
        follows from those. A context's ``get_tensor_shape`` gives the shapes of its current inputs."""
        return self._impl.get_tensor_shape(name)

    @property
    def num_optimization_profiles(self):
        """Number of optimization profiles (1 for an engine built without profiles: its batch range)."""
        return self._impl.num_optimization_profiles

    def get_profile_shape(self, name, profile=0):
        """(min, opt, max) shapes of input ``name`` in optimization profile ``profile``."""
        profile = integer_argument(profile, "get_profile_shape: profile")
        return tuple(self._impl._get_profile_shape(name, profile, s) for s in
                     (_C.OptProfileSelector.MIN, _C.OptProfileSelector.OPT, _C.OptProfileSelector.MAX))

    def get_tensor_dtype(self, name):
        return self._impl.get_tensor_dtype(name)

    def get_tensor_format(self, name):
        """The memory format of an input's or output's buffer (gie.TensorFormat; LINEAR unless the network's
        tensor.allowed_formats allowed NHWC / HWC8). execute() converts numpy arrays, which keep the logical
        (N, C, H, W) shape; device tensors must already be in the format: shape (N, H, W, C) for NHWC and
        (N, H, W, C rounded up to 8) for HWC8, C-contiguous."""
        return self._impl.get_tensor_format(name)

    @property
    def min_batch(self):
        return self._impl.min_batch

    @property
    def max_batch(self):
        return self._impl.max_batch

    @property
    def device(self):
        return self._impl.device

    @property
    def num_kernels(self):
        return self._impl.num_kernels

    @property
    def activation_memory_size(self):
        return self._impl.activation_memory_size

    def layer_info(self):
        """The build report: kernels (name, source_layers, tactic, dtype, format, shapes, offsets), memory totals."""
        text = self._impl._layer_info_json()
        try:
            return json.loads(text)
        except ValueError as e:  # the network description is stored verbatim in the file: a modified file can break it
            from .errors import InvalidEngineError
            raise InvalidEngineError(f"the engine's build report is not valid JSON ({e}); was the file modified?") from None

    def serialize(self):
        """The engine file as bytes."""
        return self._impl.serialize()

    def save(self, path):
        """Writes the engine file atomically: an existing file is replaced only once the new one is complete.
        A file that cannot be written (missing folder, a directory, read-only or full file system) raises
        :class:`gie.FileError` naming ``path``; whatever was there stays intact."""
        path = path_argument(path, "save: path")
        write_file_atomically(path, self.serialize(), "cannot save the engine to")

    def create_execution_context(self):
        return ExecutionContext(self._impl.create_execution_context(), self)

    def __repr__(self):
        return (f"<gie.Engine device={str(self.device).split('.')[-1]} kernels={self.num_kernels} "
                f"inputs={self.input_names} outputs={self.output_names} batch={self.min_batch}..{self.max_batch}>")


class ExecutionContext:
    """Runs an engine. Owns its activation memory; use one context per thread.

    One context per thread is enforced: a call made while another thread is inside one on the same context
    raises :class:`gie.InvalidArgumentError` ("already in use by another thread") at once, without waiting and
    without touching the other thread's run. :meth:`execute` binds, runs and returns as one such call.

    On a GPU engine it also owns device staging buffers for host (numpy) inputs and outputs, allocated once
    per tensor at the engine's largest batch, and a CUDA stream of its own (:attr:`stream`).
    """

    def __init__(self, impl, engine):
        self._impl = impl
        self.engine = engine
        self._profiler = None
        self._gpu = None
        # Held for the whole of each call below. The C++ context refuses concurrent calls too, but execute()
        # is several of them (shapes, addresses, run): another thread's binding in between would make this
        # thread read that thread's inputs and write its outputs.
        self._busy = threading.Lock()
        if engine.device == _C.DeviceType.GPU:
            from .interop import GpuRunner

            self._gpu = GpuRunner(impl, engine)

    @contextlib.contextmanager
    def _exclusive(self, what):
        if not self._busy.acquire(blocking=False):
            raise InvalidArgumentError(f"{what}: the execution context is already in use by another thread; use one "
                                       "context per thread (engine.create_execution_context())")
        try:
            yield
        finally:
            self._busy.release()

    @property
    def is_gpu(self):
        return self._gpu is not None

    @property
    def stream(self):
        """GPU engines: this context's own stream (a cudaStream_t as int), used when no other is given."""
        if self._gpu is None:
            raise InvalidArgumentError("a CPU engine's context has no stream")
        return self._gpu.stream

    @property
    def cuda_graph(self):
        """GPU: replay enqueue as a CUDA graph, re-captured when input shapes or bound addresses change.
        Defaults to the engine's build setting (config.cuda_graph)."""
        return self._impl.cuda_graph

    @cuda_graph.setter
    def cuda_graph(self, on):
        self._impl.cuda_graph = bool(on)

    def enqueue(self, stream=None):
        """Runs with the shapes and addresses already set, asynchronously on ``stream`` (an int cudaStream_t or
        a torch/cupy stream; default: this context's own stream). CPU engines run synchronously."""
        from .interop import native_stream, stream_handle

        s = stream_handle(stream)  # validated for CPU engines too
        with self._exclusive("enqueue"):
            if self._gpu is None:
                self._impl.enqueue(0)
            else:
                self._impl.enqueue(self._gpu.stream if s is None else native_stream(s))

    def synchronize(self, stream=None):
        """Waits for ``stream`` (default: this context's own stream). Nothing to do for CPU engines."""
        if self._gpu is None:
            return
        from .interop import native_stream, stream_handle

        s = stream_handle(stream)
        _C.gpu_stream_synchronize(self._gpu.stream if s is None else native_stream(s))

    def set_input_shape(self, name, shape):
        """Shape of input ``name`` for the next runs: fixed dimensions as built, dynamic ones within the selected
        optimization profile's range (an error names the input, the dimension and the range)."""
        with self._exclusive("set_input_shape"):
            self._impl.set_input_shape(name, shape)

    def set_optimization_profile(self, index):
        """Selects the optimization profile whose ranges the input shapes must lie in; sets every input to that
        profile's max shape. A new context uses profile 0."""
        with self._exclusive("set_optimization_profile"):
            self._impl.set_optimization_profile(index)

    @property
    def optimization_profile(self):
        """Index of the selected optimization profile (settable: same as :meth:`set_optimization_profile`)."""
        return self._impl.optimization_profile

    @optimization_profile.setter
    def optimization_profile(self, index):
        self.set_optimization_profile(index)

    def get_tensor_shape(self, name):
        with self._exclusive("get_tensor_shape"):
            return self._impl.get_tensor_shape(name)

    def set_tensor_address(self, name, address):
        with self._exclusive("set_tensor_address"):
            self._impl.set_tensor_address(name, address)

    def execute_bound(self):
        """Runs with the shapes and addresses already set (C++-style use)."""
        with self._exclusive("execute_bound"):
            self._impl._execute()

    @property
    def profiler(self):
        return self._profiler

    @profiler.setter
    def profiler(self, fn):
        """A callable(kernel_name, milliseconds) called after each kernel, or None."""
        if fn is not None and not callable(fn):
            raise InvalidArgumentError(f"profiler must be a callable(kernel_name, milliseconds) or None, not "
                                       f"{type(fn).__name__}")
        self._profiler = fn
        self._impl._set_profiler(fn)

    def _check_inputs(self, inputs):
        eng = self.engine
        if not isinstance(inputs, dict):
            if len(eng.input_names) == 1:
                inputs = {eng.input_names[0]: inputs}
            else:
                raise InvalidArgumentError(f"inputs must be a dict {{name: array}} for the inputs {eng.input_names}")
        unknown = sorted(set(inputs) - set(eng.input_names))
        if unknown:
            raise InvalidArgumentError(f"unknown input(s) {unknown}; the engine's inputs are {eng.input_names}")
        missing = [n for n in eng.input_names if n not in inputs]
        if missing:
            raise InvalidArgumentError(f"missing input(s) {missing}; the engine's inputs are {eng.input_names}")
        return inputs

    def execute(self, inputs, outputs=None, stream=None):
        """Runs synchronously. ``inputs``: {name: array or tensor} (or just the array for a one-input engine);
        returns {name: array or tensor} for every output.

        Arrays must have the engine's dtype and its fixed dimensions; dynamic ones (dimension 0 of an engine
        built for a batch range, the -1 dimensions of an engine built with optimization profiles) may take any
        value within the selected profile's range. ``outputs`` may supply preallocated arrays.

        CPU engines take numpy arrays (and anything numpy can convert, torch tensors included) and return
        numpy arrays; ``stream`` is checked but not used.

        GPU engines also take device tensors, zero-copy: torch CUDA tensors, cupy arrays, anything with
        ``__cuda_array_interface__`` or a CUDA ``__dlpack__`` (C-contiguous). numpy arrays are copied through
        device staging buffers. Outputs given as device tensors are written in place, numpy ones are copied
        into; missing outputs are created like the inputs (torch CUDA tensors for torch inputs, cupy arrays
        for cupy inputs, else numpy), or as ``outputs='numpy' | 'torch' | 'cupy'`` says. Runs on ``stream``
        (int cudaStream_t, torch or cupy stream), by default torch's / cupy's current stream for torch /
        cupy inputs, else the context's own stream, and waits for it before returning.
        """
        inputs = self._check_inputs(inputs)
        if self._gpu is None:
            from .interop import stream_handle

            stream_handle(stream)  # unused, but a bad value is a bug that a GPU engine would hit
        with self._exclusive("execute"):
            if self._gpu is not None:
                return self._gpu.run(inputs, outputs, stream, sync=True)
            return self._execute_host(inputs, outputs)

    def _execute_host(self, inputs, outputs):
        from .interop import check_outputs

        eng = self.engine
        check_outputs(outputs, eng.output_names, ("numpy",))  # CPU engines return numpy arrays
        if isinstance(outputs, str):
            outputs = None
        keep = []
        for name in eng.input_names:
            arr = _host_array(inputs[name], f"input '{name}'")
            expected = numpy_dtype(eng.get_tensor_dtype(name))
            if arr.dtype != expected:
                raise InvalidArgumentError(f"input '{name}' has dtype {arr.dtype}; the engine expects {expected} "
                                           f"(convert with .astype(np.{expected.name}))")
            if not arr.flags.c_contiguous:  # (np.ascontiguousarray would also make a 0-d array 1-d)
                arr = np.ascontiguousarray(arr)
            self._impl.set_input_shape(name, arr.shape)
            arr = to_stored_layout(arr, eng.get_tensor_format(name))
            self._impl.set_tensor_address(name, arr.ctypes.data)
            keep.append(arr)
        result, stored = {}, {}
        for name in eng.output_names:
            shape = self._impl.get_tensor_shape(name)
            dtype = numpy_dtype(eng.get_tensor_dtype(name))
            out = None if outputs is None else outputs.get(name)
            if out is None:
                out = _empty_output(name, shape, dtype)
            elif (not isinstance(out, np.ndarray) or tuple(out.shape) != tuple(shape) or out.dtype != dtype
                  or not out.flags.c_contiguous or not out.flags.writeable):
                raise InvalidArgumentError(f"output '{name}' must be a writable C-contiguous numpy array of shape "
                                           f"{tuple(shape)} and dtype {dtype}")
            fmt = eng.get_tensor_format(name)
            if fmt != _C.TensorFormat.LINEAR:
                stored[name] = (fmt, _empty_output(name, stored_shape(shape, fmt), dtype))
                self._impl.set_tensor_address(name, stored[name][1].ctypes.data)
            else:
                self._impl.set_tensor_address(name, out.ctypes.data)
            result[name] = out
        # execute_bound reuses these addresses: the arrays must outlive this call (a caller may drop them).
        self._bound_arrays = (keep, result, stored)
        self._impl._execute()
        for name, (fmt, buf) in stored.items():
            result[name][...] = from_stored_layout(buf, result[name].shape, fmt)
        del keep
        return result

    def execute_async(self, inputs, outputs=None, stream=None):
        """GPU engines: binds device tensors (as :meth:`execute`) and enqueues on ``stream`` without waiting.
        Outputs: a dict of device tensors written in place, or created like the inputs ('torch' / 'cupy').
        Keep the tensors alive and unchanged until the stream reaches this work. The context is free for the next
        call as soon as this returns, but its activation memory is in use until the stream gets there: run the
        next work of this context on the same stream (or synchronize first)."""
        if self._gpu is None:
            raise InvalidArgumentError("execute_async needs a GPU engine; this engine runs on the CPU (use execute)")
        inputs = self._check_inputs(inputs)
        with self._exclusive("execute_async"):
            return self._gpu.run(inputs, outputs, stream, sync=False)


def stored_shape(shape, fmt):
    """The shape of the buffer holding a logical (N, C, H, W) tensor in format ``fmt``: itself for LINEAR,
    (N, H, W, C) for NHWC, (N, H, W, C rounded up to 8) for HWC8."""
    if fmt == _C.TensorFormat.LINEAR:
        return tuple(shape)
    n, c, h, w = shape
    return (n, h, w, (c + 7) // 8 * 8 if fmt == _C.TensorFormat.HWC8 else c)


def to_stored_layout(arr, fmt):
    """A logical (N, C, H, W) array laid out in format ``fmt`` (padding channels zero)."""
    if fmt == _C.TensorFormat.LINEAR:
        return arr
    out = np.zeros(stored_shape(arr.shape, fmt), arr.dtype)
    out[..., :arr.shape[1]] = arr.transpose(0, 2, 3, 1)
    return out


def from_stored_layout(buf, shape, fmt):
    """The logical (N, C, H, W) view of a buffer in format ``fmt``."""
    if fmt == _C.TensorFormat.LINEAR:
        return buf
    return buf[..., :shape[1]].transpose(0, 3, 1, 2)


def _empty_output(name, shape, dtype):
    """The array execute() returns for output `name`; shapes within gie's limits can still exceed host memory."""
    try:
        return np.empty(shape, dtype=dtype)
    except MemoryError:
        from .errors import OutOfMemoryError
        raise OutOfMemoryError(f"output '{name}' of shape {tuple(shape)} ({np.dtype(dtype).itemsize * int(np.prod(shape, dtype=object))} "
                               "bytes) does not fit in host memory") from None


def _host_array(value, what):
    from .interop import host_array

    return host_array(value, what)


class Runtime:
    """Loads engine files. Needs no parser or network definition."""

    def __init__(self, logger=None):
        self._impl = _C._Runtime(make_log_function(logger))

    def deserialize(self, data):
        """An engine from the bytes of an engine file (bytes, bytearray, memoryview or any buffer)."""
        if isinstance(data, str):
            raise InvalidArgumentError("deserialize takes the engine file's bytes, not a str (to read a file, use "
                                       "Runtime.load(path))")
        try:
            if not isinstance(data, bytes):
                data = memoryview(data).tobytes()
        except TypeError:
            raise InvalidArgumentError(f"deserialize takes bytes (or a buffer), not {type(data).__name__}") from None
        return Engine(self._impl.deserialize(data))

    def load(self, path):
        """An engine from an engine file; :class:`gie.FileError` (naming ``path``) if it cannot be read."""
        return self.deserialize(read_file(path_argument(path, "load: path"), "cannot read the engine file"))
