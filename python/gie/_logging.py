"""Bridges the C++ logger to Python's :mod:`logging` (logger name ``gie``)."""
import logging

# The C++ side logs an error (severity 1) as it records it, and every such error comes back to Python as the
# exception the call raises: forwarded at ERROR level it would be printed once more (logging's last-resort handler
# prints WARNING and up), so it goes to the logger at DEBUG level. Internal errors (0) stay CRITICAL.
_LEVELS = {0: logging.CRITICAL, 1: logging.DEBUG, 2: logging.WARNING, 3: logging.INFO, 4: logging.DEBUG}


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
