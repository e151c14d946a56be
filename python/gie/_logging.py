"""Bridges the C++ logger to Python's :mod:`logging` (logger name ``gie``)."""
import logging

_LEVELS = {0: logging.CRITICAL, 1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO, 4: logging.DEBUG}


def make_log_function(logger=None):
    """Returns a callable(severity, message) that forwards to ``logger`` (default ``logging.getLogger('gie')``)."""
    target = logger if logger is not None else logging.getLogger("gie")
    if not callable(getattr(target, "log", None)):
        from .errors import InvalidArgumentError

        # Checked here: at log time the error could only be reported as unraisable.
        raise InvalidArgumentError(f"logger must be a logging.Logger or an object with log(level, message), not "
                                   f"{type(target).__name__}")

    def log(severity, message):
        target.log(_LEVELS.get(severity, logging.INFO), message)

    return log
