"""Typed exceptions. Every failure inside gie raises a subclass of :class:`gie.Error`, also for bad values
given from Python (wrong types, out-of-range integers, None, unusable paths)."""
import functools
import os
import re

from . import _C


class Error(Exception):
    """Base class of every gie error. ``code`` is a :class:`gie.ErrorCode`."""

    code = _C.ErrorCode.INTERNAL


class InvalidArgumentError(Error, ValueError, TypeError):
    """A bad value or a value of the wrong type (hence also a ValueError and a TypeError)."""

    code = _C.ErrorCode.INVALID_ARGUMENT


class FileError(InvalidArgumentError, OSError):
    """A file gie was asked to read or write could not be. The message names the file; also an OSError whose
    ``errno`` and ``filename`` are the system's."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


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


_BY_CODE = {  # FileError is raised from Python only
    int(cls.code): cls
    for cls in (InvalidArgumentError, InvalidModelError, UnsupportedError, InvalidEngineError, VersionMismatchError,
                DeviceMismatchError, OutOfMemoryError, NoDeviceError, InternalError)
}
_C._set_error_classes(_BY_CODE)


_FILE_ERRORS = {}


def file_error(what, path, err):
    """A :class:`FileError` for OSError ``err`` raised while doing ``what`` (e.g. "cannot save the engine to") with
    ``path``, naming ``path`` and never a temporary file gie used on the way. It is also an instance of ``err``'s
    class (FileNotFoundError, PermissionError, ...), so that code catching those keeps working."""
    cls = FileError
    if type(err) is not OSError and issubclass(type(err), OSError):
        cls = _FILE_ERRORS.get(type(err))
        if cls is None:
            cls = _FILE_ERRORS[type(err)] = type("FileError", (FileError, type(err)), {"__module__": __name__})
    e = cls(f"{what} '{path}': {err.strerror or err}")
    e.errno, e.strerror, e.filename = err.errno, err.strerror, os.fspath(path)
    return e


def read_file(path, what):
    """The bytes of file ``path``, or a :class:`FileError` "``what`` '``path``': reason"."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise file_error(what, path, e) from e


def integer_argument(value, what):
    """``value`` as an int (ints, numpy integers, gie enums; not bool, float or None), or InvalidArgumentError
    naming ``what``. Range checks are the caller's (C++ checks what it stores)."""
    if isinstance(value, bool) or not (hasattr(type(value), "__index__") or type(value).__module__.startswith("gie")):
        raise InvalidArgumentError(f"{what} must be an integer, not {type(value).__name__} {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"{what} must be an integer, not {type(value).__name__} {value!r}: {e}") from None


def path_argument(value, what):
    """``value`` as a str path (str, bytes or os.PathLike), or InvalidArgumentError naming ``what``."""
    try:
        path = os.fspath(value)
    except TypeError:
        raise InvalidArgumentError(f"{what} must be a path (str or os.PathLike), not {type(value).__name__} "
                                   f"{value!r}") from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path or "\0" in path:
        raise InvalidArgumentError(f"{what} must be a non-empty path without NUL characters, not {path!r}")
    return path


# ---- pybind11 argument mismatches -----------------------------------------------------------------
# pybind11 raises a bare TypeError ("f(): incompatible function arguments ...") when a Python value cannot be
# converted to a bound C++ parameter (None for a string, 2**64 for an int64, a str for an enum). Every bound
# method and property is wrapped once here to raise InvalidArgumentError instead, naming the call, what it
# takes and what it was given.

_SIGNATURE = re.compile(r"^\s*\d+\. \((.*)\)(?: -> .*)?$", re.M)


_READABLE = ((re.compile(r"typing\.SupportsInt \| typing\.SupportsIndex"), "int"),
             (re.compile(r"typing\.SupportsFloat \| typing\.SupportsIndex"), "float"),
             (re.compile(r"gie\._C\."), "gie."))


def _short_repr(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _mismatch_message(qualname, text, args, kwargs):
    sigs = [m.group(1).split(", ") for m in _SIGNATURE.finditer(text)]
    got = [_short_repr(a) for a in args] + [f"{k}={_short_repr(v)}" for k, v in kwargs.items()]
    message = f"{qualname}: wrong argument type(s); it takes ({') or ('.join(', '.join(s) for s in sigs)}), got ({', '.join(got)})"
    for pattern, readable in _READABLE:
        message = pattern.sub(readable, message)
    return message


def _translating(fn, qualname, method=True):
    head = f"{getattr(fn, '__name__', '')}(): incompatible function arguments"

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TypeError as e:
            text = str(e)
            if not text.startswith(head) and not text.startswith("(): incompatible function arguments"):
                raise
            # A method's first parameter (and argument) is the object itself.
            if method:
                text = re.sub(r"\((?:self|arg0): gie\._C\.\w+(?:, )?", "(", text)
            raise InvalidArgumentError(_mismatch_message(qualname, text, args[1:] if method else args, kwargs)) from None

    call.__qualname__ = qualname
    return call


def _is_bound(obj):
    return type(obj).__name__ in ("instancemethod", "builtin_function_or_method")


def _translate_bound_errors():
    for name, value in list(vars(_C).items()):
        if _is_bound(value):
            setattr(_C, name, _translating(value, f"gie.{name.lstrip('_')}", method=False))
        elif isinstance(value, type) and value.__module__ == "gie._C" and not hasattr(value, "__members__"):
            for attr, member in list(vars(value).items()):
                qual = f"{name.lstrip('_')}.{attr.lstrip('_')}"
                if attr.startswith("__") or attr == "_pybind11_conduit_v1_":
                    continue
                if _is_bound(member):
                    setattr(value, attr, _translating(member, qual))
                elif isinstance(member, property):
                    setattr(value, attr, property(
                        member.fget and _translating(member.fget, qual),
                        member.fset and _translating(member.fset, f"setting {qual}"), None, member.__doc__))


_translate_bound_errors()
