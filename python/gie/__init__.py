"""gie: a GPU inference optimizer and runtime, with a CPU reference backend.

    import gie
    builder = gie.Builder()
    net = builder.create_network()
    ...
    engine = builder.build(net, config)
    out = engine.create_execution_context().execute({"data": batch})
"""
import json
import os

from . import _C  # noqa: E402
from ._C import (ActivationType, BuilderFlag, DataType, DeviceType, ElementWiseOperation, ErrorCode, PaddingMode,
                 PoolingType, ReduceOperation, ResizeCoordinateTransformation, ResizeMode, ResizeRoundMode, ScaleMode,
                 TensorFormat, UnaryOperation, NetworkDefinition, BuilderConfig, Layer, Tensor, OptimizationProfile,
                 OptProfileSelector)
from .errors import (DeviceMismatchError, Error, FileError, InternalError, InvalidArgumentError, InvalidEngineError,
                     InvalidModelError, NoDeviceError, OutOfMemoryError, UnsupportedError, VersionMismatchError)
from . import network as _network  # noqa: F401  (installs the add_* helpers)
from .engine import Builder, Engine, ExecutionContext, Runtime, numpy_dtype
from . import interop  # noqa: E402
from .session import InferenceSession, NodeArg  # noqa: E402
from .plugins import Plugin, PluginTensorDesc, plugin_abi_version, register_plugin  # noqa: E402  (Python plugins, issue 17)
from .refit import Refitter  # noqa: E402

float32 = DataType.float32
float16 = DataType.float16
int8 = DataType.int8
int32 = DataType.int32
bool_ = DataType.bool

__version__ = "{}.{}.{}".format(_C.version() // 10000, _C.version() // 100 % 100, _C.version() % 100)


from .parsers import parse  # noqa: E402
from .calibration import (DataCalibrator, EntropyCalibrator, Int8Calibrator, MinMaxCalibrator,  # noqa: E402
                          PercentileCalibrator, calibrate)


def __getattr__(name):
    if name in ("OnnxParser", "CaffeParser", "DarknetParser"):
        from . import parsers
        return getattr(parsers, name)
    if name in ("ray", "serve"):  # imported on first use: they import Ray, an optional dependency
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'gie' has no attribute '{name}'")


def load_library(path):
    """Loads a plugin library (.so); its creators register themselves for building and loading engines.
    A library that cannot be loaded, or that registers no plugin creator, raises InvalidArgumentError naming it."""
    from .errors import path_argument

    _C.load_library(path_argument(path, "load_library: path"))


def registered_plugins():
    """[(name, version, device)] of every registered kernel/plugin creator."""
    return _C.registered_plugins()


_BUILD_INFO_DEFAULTS = {"cuda": False, "cuda_version": None, "cuda_archs": [], "gpu_available": False, "gpu_name": None,
                        "compute_capability": None, "driver_version": None, "gpu_error": None}


def build_info():
    """What this gie was built with and what it finds now, as a dict:

    version (str), cuda (bool: CUDA kernels compiled in), cuda_version (toolkit, e.g. "13.0", or None),
    cuda_archs (list of int, e.g. [80, 90]), gpu_available (bool: a usable GPU now), gpu_name,
    compute_capability (e.g. "9.0"), driver_version (str or None), gpu_error (why no GPU is usable, or None),
    sm90a_code (bool: built for an sm_90a target, which holds the Hopper wgmma/TMA tactics), wgmma_tactics (bool:
    those tactics can run here: a compute capability 9.0 GPU running the sm_90a code).
    """
    info = {"version": __version__}
    fn = getattr(_C, "build_info_json", None)
    raw = json.loads(fn()) if fn is not None else {"cuda": _C.cuda_compiled(), "gpu_available": Builder().platform_has_gpu}
    for key, default in _BUILD_INFO_DEFAULTS.items():
        value = raw.get(key, default)
        info[key] = list(value) if isinstance(default, list) and value is not None else value
    info["cuda"] = bool(info["cuda"])
    info["gpu_available"] = bool(info["gpu_available"])
    for key, value in raw.items():  # anything newer, too
        info.setdefault(key, value)
    return info


def set_gpu_allocator(allocator):
    """Routes gie's device memory (engine weights, activations, workspaces, staging buffers) through
    ``allocator``: an object with ``allocate(size, alignment) -> int`` (a device pointer; 0 or None = out of
    memory) and ``deallocate(ptr)``, called from any thread (gie takes the GIL). ``None`` restores cudaMalloc.
    Install it before building engines: memory goes back to the allocator that gave it, which stays alive
    until then. Exceptions raised by the allocator are reported through ``sys.unraisablehook`` and count as
    out of memory. :class:`gie.interop.TorchAllocator` and :class:`gie.interop.CupyAllocator` use torch's and
    cupy's caching allocators."""
    _C.set_gpu_allocator(allocator)


def get_gpu_allocator():
    """The allocator installed with :func:`set_gpu_allocator`, or None (cudaMalloc, or one set from C++)."""
    return _C.get_gpu_allocator()


def include_dir():
    """Folder holding the public C++ headers (gie/gie.h), for plugin libraries and native apps."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "include")


def library_dir():
    """Folder holding libgie.so."""
    return os.path.dirname(os.path.abspath(__file__))


def cmake_dir():
    """Folder holding gieConfig.cmake, for ``cmake -Dgie_DIR=...`` (native apps and plugin libraries)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "cmake")


__all__ = [
    "ActivationType", "BuilderFlag", "DataType", "DeviceType", "ElementWiseOperation", "ErrorCode", "PaddingMode",
    "PoolingType", "ReduceOperation", "ResizeCoordinateTransformation", "ResizeMode", "ResizeRoundMode", "ScaleMode",
    "TensorFormat", "UnaryOperation", "NetworkDefinition", "BuilderConfig", "Layer", "Tensor", "Builder", "Engine",
    "ExecutionContext", "Runtime", "Error", "InvalidArgumentError", "FileError", "InvalidModelError", "UnsupportedError",
    "InvalidEngineError", "VersionMismatchError", "DeviceMismatchError", "OutOfMemoryError", "NoDeviceError",
    "InternalError", "float32", "float16", "int8", "int32", "bool_", "load_library", "registered_plugins", "build_info",
    "cmake_dir", "include_dir", "library_dir", "numpy_dtype", "parse", "OnnxParser", "CaffeParser", "DarknetParser",
    "set_gpu_allocator", "get_gpu_allocator", "interop", "InferenceSession", "NodeArg",
    "Int8Calibrator", "DataCalibrator", "EntropyCalibrator", "MinMaxCalibrator", "PercentileCalibrator", "calibrate",
    "Plugin", "PluginTensorDesc", "register_plugin", "plugin_abi_version", "Refitter", "OptimizationProfile", "OptProfileSelector",
]
