"""Typed exceptions. Every failure inside gie raises a subclass of :class:`gie.Error`."""
from . import _C


class Error(Exception):
    """Base class of every gie error. ``code`` is a :class:`gie.ErrorCode`."""

    code = _C.ErrorCode.INTERNAL


class InvalidArgumentError(Error, ValueError):
    code = _C.ErrorCode.INVALID_ARGUMENT


class InvalidModelError(Error, ValueError):
    code = _C.ErrorCode.INVALID_MODEL


class UnsupportedError(Error):
    code = _C.ErrorCode.UNSUPPORTED


class InvalidEngineError(Error):
    code = _C.ErrorCode.INVALID_ENGINE


class VersionMismatchError(InvalidEngineError):
    code = _C.ErrorCode.VERSION_MISMATCH


class DeviceMismatchError(InvalidEngineError):
    code = _C.ErrorCode.DEVICE_MISMATCH


class OutOfMemoryError(Error, MemoryError):
    code = _C.ErrorCode.OUT_OF_MEMORY


class NoDeviceError(Error):
    code = _C.ErrorCode.NO_DEVICE


class InternalError(Error):
    code = _C.ErrorCode.INTERNAL


_BY_CODE = {
    int(cls.code): cls
    for cls in (InvalidArgumentError, InvalidModelError, UnsupportedError, InvalidEngineError, VersionMismatchError,
                DeviceMismatchError, OutOfMemoryError, NoDeviceError, InternalError)
}
_C._set_error_classes(_BY_CODE)
