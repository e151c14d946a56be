"""gie: a GPU inference optimizer and runtime, with a CPU reference backend.

    import gie
    builder = gie.Builder()
    net = builder.create_network()
    ...
    engine = builder.build(net, config)
    out = engine.create_execution_context().execute({"data": batch})
"""
import os

# CPU threads (OpenMP) spin only briefly before sleeping between parallel regions. libgomp's default
# (300000 spins) lets idle threads burn a core; on a busy machine that made ResNet-50 2-3x slower than
# onnxruntime, with a short spin ~1.2x. Must be set before the library (and libgomp) loads; a value the
# user set wins.
os.environ.setdefault("GOMP_SPINCOUNT", "20000")

from . import _C  # noqa: E402
from ._C import (ActivationType, BuilderFlag, DataType, DeviceType, ElementWiseOperation, ErrorCode, PaddingMode,
                 PoolingType, ReduceOperation, ResizeCoordinateTransformation, ResizeMode, ResizeRoundMode, ScaleMode,
                 TensorFormat, UnaryOperation, NetworkDefinition, BuilderConfig, Layer, Tensor)
from .errors import (DeviceMismatchError, Error, InternalError, InvalidArgumentError, InvalidEngineError, InvalidModelError,
                     NoDeviceError, OutOfMemoryError, UnsupportedError, VersionMismatchError)
from . import network as _network  # noqa: F401  (installs the add_* helpers)
from .engine import Builder, Engine, ExecutionContext, Runtime, numpy_dtype

float32 = DataType.float32
float16 = DataType.float16
int8 = DataType.int8
int32 = DataType.int32
bool_ = DataType.bool

__version__ = "{}.{}.{}".format(_C.version() // 10000, _C.version() // 100 % 100, _C.version() % 100)


from .parsers import parse  # noqa: E402


def __getattr__(name):
    if name in ("OnnxParser", "CaffeParser", "DarknetParser"):
        from . import parsers
        return getattr(parsers, name)
    raise AttributeError(f"module 'gie' has no attribute '{name}'")


def load_library(path):
    """Loads a plugin library (.so); its creators register themselves for building and loading engines."""
    _C.load_library(os.fspath(path))


def registered_plugins():
    """[(name, version, device)] of every registered kernel/plugin creator."""
    return _C.registered_plugins()


def build_info():
    """What this gie was built with and what it finds now."""
    return {
        "version": __version__,
        "cuda": _C.cuda_compiled(),
        "gpu_available": Builder().platform_has_gpu,
    }


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
    "ExecutionContext", "Runtime", "Error", "InvalidArgumentError", "InvalidModelError", "UnsupportedError",
    "InvalidEngineError", "VersionMismatchError", "DeviceMismatchError", "OutOfMemoryError", "NoDeviceError",
    "InternalError", "float32", "float16", "int8", "int32", "bool_", "load_library", "registered_plugins", "build_info",
    "cmake_dir", "include_dir", "library_dir", "numpy_dtype", "parse", "OnnxParser", "CaffeParser", "DarknetParser",
]
