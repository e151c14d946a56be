"""Tensors in and out of GPU engines: numpy (copied through device staging buffers) and device tensors passed
zero-copy: anything with ``__cuda_array_interface__`` (cupy, numba, torch) or ``__dlpack__`` (torch, cupy, jax).

Used by :meth:`gie.ExecutionContext.execute` / ``execute_async``; the helpers here (stream handles, allocator
adapters for torch and cupy) are public too. torch and cupy are imported only when their objects are seen.
"""
import operator
import sys
import weakref

import numpy as np

from . import _C
from .errors import InvalidArgumentError

__all__ = ["stream_handle", "TorchAllocator", "CupyAllocator", "HOST_TO_DEVICE", "DEVICE_TO_HOST", "DEVICE_TO_DEVICE"]

HOST_TO_DEVICE, DEVICE_TO_HOST, DEVICE_TO_DEVICE = 0, 1, 2

# DLPack device types
_DL_CPU, _DL_CUDA, _DL_CUDA_HOST, _DL_CUDA_MANAGED = 1, 2, 3, 13
# DLPack type codes -> numpy kind
_DL_CODES = {0: "i", 1: "u", 2: "f", 6: "b"}


# ---- streams ---------------------------------------------------------------------------------------

def stream_handle(stream):
    """The ``cudaStream_t`` (an int) of ``stream``: an int, a torch.cuda.Stream, a cupy Stream, or any object
    with ``__cuda_stream__`` (the CUDA stream protocol). 0 is the legacy default stream."""
    if stream is None:
        return None
    if isinstance(stream, bool):
        raise InvalidArgumentError(f"stream must be a cudaStream_t (int) or a stream object, not {stream!r}")
    if isinstance(stream, int):
        handle = stream
    else:
        try:
            handle = _stream_object_handle(stream)
        except (TypeError, ValueError, IndexError, AttributeError):
            handle = None
        if handle is None:
            raise InvalidArgumentError(f"stream must be a cudaStream_t (int), a torch or cupy stream, or an object "
                                       f"with __cuda_stream__; got {type(stream).__name__}")
    if not 0 <= handle < 2**64:
        raise InvalidArgumentError(f"stream {handle} is not a cudaStream_t (a non-negative pointer-sized int)")
    return handle


def _stream_object_handle(stream):
    proto = getattr(stream, "__cuda_stream__", None)
    if proto is not None:
        value = proto() if callable(proto) else proto
        return int(value[1])
    for attr in ("cuda_stream", "ptr"):  # torch.cuda.Stream, cupy.cuda.Stream
        value = getattr(stream, attr, None)
        if value is not None:
            return int(value)
    handle = getattr(stream, "handle", None)  # numba
    if handle is not None:
        return int(getattr(handle, "value", handle) or 0)
    return operator.index(stream)  # numpy integers; not floats or strings


_LEGACY_STREAM = 1  # cudaStreamLegacy


def native_stream(handle):
    """The handle to give gie for ``handle``: 0 (the legacy default stream, e.g. torch's and cupy's default) becomes
    cudaStreamLegacy, because gie's enqueue(nullptr) means the context's own stream."""
    return _LEGACY_STREAM if handle == 0 else handle


def _torch_current_stream(device):
    import torch

    return torch.cuda.current_stream(device).cuda_stream


def _cupy_current_stream():
    import cupy

    return cupy.cuda.get_current_stream().ptr


# ---- what a value is -------------------------------------------------------------------------------

def _root(obj):
    return type(obj).__module__.split(".", 1)[0]


def _is_torch(obj):
    torch = sys.modules.get("torch")  # never imported here: a torch tensor means torch is loaded
    return torch is not None and isinstance(obj, torch.Tensor)


def kind_of(value):
    """'torch' (CUDA tensor), 'cupy', 'cai' (other __cuda_array_interface__), 'dlpack' (CUDA DLPack producer) or
    'host' (numpy, torch CPU tensors, lists, CPU DLPack producers)."""
    if isinstance(value, np.ndarray):
        return "host"
    if _is_torch(value):
        return "torch" if value.is_cuda else "host"
    if hasattr(value, "__cuda_array_interface__"):
        return "cupy" if _root(value) == "cupy" else "cai"
    dev = getattr(value, "__dlpack_device__", None)
    if dev is not None and hasattr(value, "__dlpack__"):
        try:
            dtype_, _ = dev()
        except Exception:  # noqa: BLE001
            return "host"
        if int(dtype_) in (_DL_CUDA, _DL_CUDA_MANAGED):
            return "dlpack"
        if int(dtype_) not in (_DL_CPU, _DL_CUDA_HOST):
            raise InvalidArgumentError(f"{type(value).__name__} lives on DLPack device type {int(dtype_)}; gie takes "
                                       "CUDA device memory or host memory")
    return "host"


def host_array(value, what):
    """A numpy view (or copy) of a host value; CUDA tensors are copied to the host (CPU engines)."""
    if isinstance(value, np.ndarray):
        return value
    if _is_torch(value) or (hasattr(value, "detach") and hasattr(value, "cpu")):
        return value.detach().cpu().numpy()
    if hasattr(value, "get") and hasattr(value, "__cuda_array_interface__"):  # cupy
        return value.get()
    try:
        return np.asarray(value)
    except Exception as e:  # noqa: BLE001
        raise InvalidArgumentError(f"{what}: cannot convert {type(value).__name__} to an array: {e}") from None


class DeviceView:
    """A device tensor's pointer, shape, dtype and layout, and the objects that keep its memory alive."""

    __slots__ = ("kind", "obj", "ptr", "shape", "dtype", "dtype_name", "contiguous", "readonly", "stream", "keep",
                 "device")

    def __init__(self, kind, obj, ptr, shape, dtype, dtype_name, contiguous, readonly=False, stream=None, keep=None,
                 device=None):
        self.kind = kind
        self.obj = obj
        self.ptr = int(ptr)
        self.shape = tuple(int(d) for d in shape)
        self.dtype = dtype            # numpy dtype, or None when numpy has none (bfloat16, ...)
        self.dtype_name = dtype_name  # for messages
        self.contiguous = contiguous
        self.readonly = readonly
        self.stream = stream          # producer's stream to wait for (__cuda_array_interface__ v3), or None
        self.keep = keep
        self.device = device          # torch/cupy device, for allocating outputs like it

    @property
    def nbytes(self):
        return int(np.prod(self.shape, dtype=np.int64)) * (self.dtype.itemsize if self.dtype is not None else 0)


def _c_contiguous(shape, strides, unit):
    """Whether ``strides`` (in units of ``unit``) describe a packed row-major layout of ``shape``."""
    if strides is None:
        return True
    if any(d == 0 for d in shape):
        return True
    expected = unit
    for d, s in zip(reversed(shape), reversed(strides)):
        if d != 1 and s != expected:
            return False
        expected *= d
    return True


_TORCH_TO_NP = None


def _torch_dtype(t):
    global _TORCH_TO_NP
    if _TORCH_TO_NP is None:
        import torch

        _TORCH_TO_NP = {torch.float32: np.dtype(np.float32), torch.float16: np.dtype(np.float16),
                        torch.float64: np.dtype(np.float64), torch.int8: np.dtype(np.int8),
                        torch.uint8: np.dtype(np.uint8), torch.int16: np.dtype(np.int16),
                        torch.int32: np.dtype(np.int32), torch.int64: np.dtype(np.int64), torch.bool: np.dtype(np.bool_)}
    dt = _TORCH_TO_NP.get(t.dtype)
    return dt, (dt.name if dt is not None else str(t.dtype).replace("torch.", ""))


def _np_to_torch(dtype):
    import torch

    return {np.dtype(np.float32): torch.float32, np.dtype(np.float16): torch.float16, np.dtype(np.int8): torch.int8,
            np.dtype(np.int32): torch.int32, np.dtype(np.bool_): torch.bool}[np.dtype(dtype)]


def device_view(value, kind, stream, what):
    """Describes a device tensor (``kind`` from :func:`kind_of`); ``stream`` is the one gie will use (DLPack
    producers synchronize with it)."""
    if kind == "torch":
        dt, name = _torch_dtype(value)
        return DeviceView("torch", value, value.data_ptr(), value.shape, dt, name, value.is_contiguous(),
                          device=value.device)
    if kind in ("cupy", "cai"):
        cai = value.__cuda_array_interface__
        try:
            dt = np.dtype(cai["typestr"])
            name = dt.name
        except TypeError:
            dt, name = None, cai["typestr"]
        if cai.get("mask") is not None:
            raise InvalidArgumentError(f"{what}: masked arrays (__cuda_array_interface__ 'mask') are not supported")
        shape = tuple(cai["shape"])
        ptr, readonly = cai["data"]
        contiguous = _c_contiguous(shape, cai.get("strides"), dt.itemsize if dt is not None else 1)
        return DeviceView(kind, value, ptr or 0, shape, dt, name, contiguous, readonly=bool(readonly),
                          stream=cai.get("stream"), device=getattr(value, "device", None))
    if kind == "dlpack":
        s = _LEGACY_STREAM if stream in (None, 0) else stream  # DLPack: 1 is the legacy default stream
        try:
            capsule = value.__dlpack__(stream=s)
        except TypeError:
            capsule = value.__dlpack__()
        t = _C._dlpack_consume(capsule)
        code, bits, lanes = t.dtype
        dt = None
        if lanes == 1 and code in _DL_CODES:
            try:
                dt = np.dtype(f"{_DL_CODES[code]}{bits // 8}") if code != 6 else np.dtype(np.bool_)
            except TypeError:
                dt = None
        name = dt.name if dt is not None else f"dlpack(code={code}, bits={bits}, lanes={lanes})"
        if code == 4:
            name = "bfloat16"
        shape = t.shape
        return DeviceView("dlpack", value, t.ptr, shape, dt, name, _c_contiguous(shape, t.strides, 1), keep=t)
    raise AssertionError(kind)


def check_device_view(view, what, expected, shape=None, writable=False):
    """Dtype, layout, memory (and for outputs: shape and writability) of a device tensor for one engine tensor."""
    if view.dtype != expected:
        hint = (f".to(torch.{expected.name})" if view.kind == "torch" else f".astype({expected.name!r})")
        raise InvalidArgumentError(f"{what} has dtype {view.dtype_name}; the engine expects {expected} "
                                   f"(convert with {hint})")
    if not view.contiguous:
        raise InvalidArgumentError(f"{what} is not C-contiguous; call .contiguous()"
                                   + (" (torch)" if view.kind == "torch" else " / cupy.ascontiguousarray()"))
    if shape is not None and view.shape != tuple(shape):
        raise InvalidArgumentError(f"{what} has shape {view.shape}; the engine's output has shape {tuple(shape)}")
    if writable and view.readonly:
        raise InvalidArgumentError(f"{what} is read-only")
    if view.nbytes and not _C.gpu_is_device_pointer(view.ptr):
        where = f" ({view.device})" if view.device is not None else ""
        raise InvalidArgumentError(f"{what} is not CUDA device memory gie can use{where}")


def _wait_for_producer(view, stream):
    """__cuda_array_interface__ v3: work on the array may still be pending on the producer's stream; wait for it
    (on the host) unless gie uses that same stream. 1 (legacy default) and 0 are the same stream."""
    if view.stream is None:
        return
    producer = int(view.stream)
    if (producer or 1) != (stream or 1):
        _C.gpu_stream_synchronize(producer)


# ---- allocating outputs like the inputs -----------------------------------------------------------

def empty_like_kind(kind, shape, dtype, device=None):
    """A new device tensor ('torch' / 'cupy') on ``device``; returns (object, DeviceView)."""
    shape = tuple(int(d) for d in shape)
    if kind == "torch":
        import torch

        t = torch.empty(shape, dtype=_np_to_torch(dtype), device=device if device is not None else "cuda")
        return t, device_view(t, "torch", None, "output")
    if kind == "cupy":
        import cupy

        if device is not None:
            with device:
                a = cupy.empty(shape, dtype=dtype)
        else:
            a = cupy.empty(shape, dtype=dtype)
        return a, device_view(a, "cupy", None, "output")
    raise InvalidArgumentError(f"cannot allocate '{kind}' outputs; use 'numpy', 'torch' or 'cupy'")


def check_outputs(outputs, names, kinds):
    """Validates ``execute``'s ``outputs``: None, a dict {output name: array or tensor} naming only outputs of the
    engine (``names``), or one of the strings ``kinds`` (case-insensitive)."""
    if outputs is None:
        return
    quoted = [f"'{k}'" for k in kinds]
    alternatives = " or ".join(quoted) if len(quoted) < 3 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    if isinstance(outputs, str):
        if outputs.lower() not in kinds:
            raise InvalidArgumentError(f"outputs='{outputs}': use a dict {{name: array}}, or {alternatives}")
        return
    if not isinstance(outputs, dict):
        raise InvalidArgumentError(f"outputs must be a dict {{output name: array}} for the outputs {list(names)}, or "
                                   f"{alternatives}; got {type(outputs).__name__}")
    unknown = sorted((k for k in outputs if k not in names), key=repr)
    if unknown:
        raise InvalidArgumentError(f"unknown output(s) {unknown}; the engine's outputs are {list(names)}")


# ---- the GPU side of an execution context ---------------------------------------------------------

def _release(buffers, streams):
    for s in streams:
        try:
            _C.gpu_stream_synchronize(s)
        except Exception:  # noqa: BLE001
            pass
    for ptr, _ in buffers.values():
        _C.gpu_free(ptr)
    buffers.clear()
    for s in streams:
        _C.gpu_stream_destroy(s)
    streams.clear()


class GpuRunner:
    """Device staging buffers (allocated once per tensor through gie's allocator, at the engine's largest batch)
    and an own stream for one :class:`gie.ExecutionContext` of a GPU engine."""

    def __init__(self, impl, engine):
        self.impl = impl
        self.engine = engine
        self.inputs = list(engine.input_names)
        self.outputs = list(engine.output_names)
        from .engine import numpy_dtype, stored_shape

        self.dtypes = {n: numpy_dtype(engine.get_tensor_dtype(n)) for n in self.inputs + self.outputs}
        # NHWC / HWC8 inputs and outputs: device tensors come in the stored layout, numpy arrays are converted.
        self.formats = {n: engine.get_tensor_format(n) for n in self.inputs + self.outputs}
        self.max_bytes = {n: int(np.prod(stored_shape(engine.get_tensor_shape(n), self.formats[n]), dtype=np.int64)) *
                          self.dtypes[n].itemsize for n in self.inputs + self.outputs}
        self._buffers = {}   # name -> (ptr, bytes)
        self._streams = []   # [own stream] once created
        self._finalizer = weakref.finalize(self, _release, self._buffers, self._streams)

    @property
    def stream(self):
        """The context's own stream (created on first use)."""
        if not self._streams:
            self._streams.append(_C.gpu_stream_create())
        return self._streams[0]

    def staging(self, name, nbytes):
        buf = self._buffers.get(name)
        if buf is None or buf[1] < nbytes:
            if buf is not None:
                # Only execute() uses staging buffers and it synchronizes before returning: nothing pending.
                del self._buffers[name]
                _C.gpu_free(buf[0])
            size = max(int(nbytes), self.max_bytes.get(name, 0), 256)
            buf = (_C.gpu_allocate(size), size)
            self._buffers[name] = buf
        return buf[0]

    def close(self):
        self._finalizer()

    # -- shared by execute and execute_async ------------------------------------------------------

    def _default_stream(self, kinds, values):
        for name in self.inputs:
            if kinds[name] == "torch":
                return _torch_current_stream(values[name].device)
            if kinds[name] == "cupy":
                return _cupy_current_stream()
        return self.stream

    def _bind_device_input(self, name, value, kind, stream, keep):
        what = f"input '{name}'"
        view = device_view(value, kind, stream, what)
        check_device_view(view, what, self.dtypes[name])
        _wait_for_producer(view, stream)
        shape = list(view.shape)
        fmt = self.formats[name]
        if fmt != _C.TensorFormat.LINEAR:
            from .engine import stored_shape

            full = self.engine.get_tensor_shape(name)  # the planned (largest) shape: H and W may be smaller
            want = stored_shape(full, fmt)
            if len(shape) != 4 or shape[3] != want[3]:
                raise InvalidArgumentError(f"{what} is {fmt.name}: pass the device tensor in that layout, shape "
                                           f"(batch, H, W, {want[3]}) (H, W as built: {want[1]}, {want[2]}), got "
                                           f"{tuple(shape)}")
            shape = [shape[0], full[1], shape[1], shape[2]]  # set_input_shape checks H and W
        self.impl.set_input_shape(name, shape)
        self.impl.set_tensor_address(name, view.ptr)
        keep.append(view)
        return view

    def _output_kind(self, kinds, values, outputs):
        if isinstance(outputs, str):
            k = outputs.lower()  # one of them: run() checked
            dev = None
            for name in self.inputs:
                if kinds[name] == k:
                    dev = getattr(values[name], "device", None)
                    break
            return k, dev
        for name in self.inputs:
            if kinds[name] in ("torch", "cupy"):
                return kinds[name], getattr(values[name], "device", None)
        return "numpy", None

    def _bind_output(self, name, out, kind, device, stream, host_outs, keep, sync):
        from .engine import stored_shape

        logical = tuple(self.impl.get_tensor_shape(name))
        fmt = self.formats[name]
        shape = tuple(stored_shape(logical, fmt))  # device outputs are in the stored layout
        dtype = self.dtypes[name]
        what = f"output '{name}'"
        if out is None:
            if kind == "numpy":
                if not sync:
                    raise InvalidArgumentError("execute_async needs device outputs: pass outputs={name: tensor} "
                                               "or outputs='torch' / 'cupy'")
                out = np.empty(logical, dtype=dtype)
            else:
                out, view = empty_like_kind(kind, shape, dtype, device)
                if kind == "torch" and not sync and stream != native_stream(_torch_current_stream(out.device)):
                    import torch

                    out.record_stream(torch.cuda.ExternalStream(stream, device=out.device))
                self.impl.set_tensor_address(name, view.ptr)
                keep.append(view)
                return out
        okind = kind_of(out)
        if okind == "host":
            if not sync:
                raise InvalidArgumentError(f"{what}: execute_async takes device tensors only; use execute() for "
                                           "host arrays")
            arr = out.detach().numpy() if _is_torch(out) else out
            if (not isinstance(arr, np.ndarray) or tuple(arr.shape) != logical or arr.dtype != dtype
                    or not arr.flags.c_contiguous or not arr.flags.writeable):
                raise InvalidArgumentError(f"{what} must be a writable C-contiguous numpy array of shape {logical} and "
                                           f"dtype {dtype}")
            tmp = arr if fmt == _C.TensorFormat.LINEAR else np.empty(shape, dtype=dtype)
            buf = self.staging(name, tmp.nbytes)
            self.impl.set_tensor_address(name, buf)
            host_outs.append((tmp, buf, arr, fmt))
            return out
        view = device_view(out, okind, stream, what)
        check_device_view(view, what, dtype, shape=shape, writable=True)
        _wait_for_producer(view, stream)
        self.impl.set_tensor_address(name, view.ptr)
        keep.append(view)
        return out

    def run(self, inputs, outputs=None, stream=None, sync=True):
        """Binds, enqueues and (sync) waits; returns {output name: array or tensor}."""
        check_outputs(outputs, self.outputs, ("numpy", "torch", "cupy"))
        kinds = {name: kind_of(inputs[name]) for name in self.inputs}
        if not sync:
            host = [n for n in self.inputs if kinds[n] == "host"]
            if host:
                raise InvalidArgumentError(f"execute_async takes device tensors only; input(s) {host} are host "
                                           "arrays (use execute(), or move them to the GPU)")
        s = stream_handle(stream)
        if s is None:
            s = self._default_stream(kinds, inputs)
        s = native_stream(s)
        keep = []
        host_ins = []
        for name in self.inputs:
            value = inputs[name]
            if kinds[name] == "host":
                what = f"input '{name}'"
                arr = host_array(value, what)
                expected = self.dtypes[name]
                if arr.dtype != expected:
                    raise InvalidArgumentError(f"{what} has dtype {arr.dtype}; the engine expects {expected} "
                                               f"(convert with .astype(np.{expected.name}))")
                if not arr.flags.c_contiguous:  # (np.ascontiguousarray would also make a 0-d array 1-d)
                    arr = np.ascontiguousarray(arr)
                self.impl.set_input_shape(name, arr.shape)
                from .engine import to_stored_layout

                arr = to_stored_layout(arr, self.formats[name])
                buf = self.staging(name, arr.nbytes)
                self.impl.set_tensor_address(name, buf)
                host_ins.append((arr, buf))
            else:
                self._bind_device_input(name, value, kinds[name], s, keep)
        kind, device = self._output_kind(kinds, inputs, outputs)
        given = outputs if isinstance(outputs, dict) else {}
        result = {}
        host_outs = []
        for name in self.outputs:
            result[name] = self._bind_output(name, given.get(name), kind, device, s, host_outs, keep, sync)
        for arr, buf in host_ins:
            if arr.nbytes:
                _C.gpu_copy(buf, arr.ctypes.data, arr.nbytes, HOST_TO_DEVICE, s)
        self.impl.enqueue(s)
        if sync:
            for arr, buf, _, _ in host_outs:
                if arr.nbytes:
                    _C.gpu_copy(arr.ctypes.data, buf, arr.nbytes, DEVICE_TO_HOST, s)
            _C.gpu_stream_synchronize(s)
            from .engine import from_stored_layout

            for tmp, _, arr, fmt in host_outs:
                if tmp is not arr:
                    arr[...] = from_stored_layout(tmp, arr.shape, fmt)
        del keep, host_ins
        return result


# ---- allocators ------------------------------------------------------------------------------------

class TorchAllocator:
    """gie's device memory from torch's caching allocator: ``gie.set_gpu_allocator(gie.interop.TorchAllocator())``.
    ``allocations`` / ``frees`` count the calls."""

    def __init__(self, device=None):
        import torch

        self._torch = torch
        self.device = torch.cuda.current_device() if device is None else torch.device(device).index
        self.allocations = 0
        self.frees = 0

    def allocate(self, size, alignment):
        # The caching allocator's blocks are 512-byte aligned, more than gie asks (<= 256).
        ptr = self._torch.cuda.caching_allocator_alloc(max(int(size), 1), self.device)
        self.allocations += 1
        return ptr

    def deallocate(self, ptr):
        self.frees += 1
        self._torch.cuda.caching_allocator_delete(ptr)


class CupyAllocator:
    """gie's device memory from cupy's memory pool: ``gie.set_gpu_allocator(gie.interop.CupyAllocator())``."""

    def __init__(self):
        import cupy

        self._cupy = cupy
        self._live = {}

    def allocate(self, size, alignment):
        mem = self._cupy.cuda.alloc(max(int(size), 1))  # pool blocks are 512-byte aligned
        self._live[int(mem.ptr)] = mem
        return int(mem.ptr)

    def deallocate(self, ptr):
        self._live.pop(int(ptr), None)
