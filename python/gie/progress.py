"""A small progress bar for the command line, drawn on stderr only when stderr is a terminal.

    from gie.progress import Progress
    with Progress("timing", total=100) as bar:      # a bar: "timing  [#####.....]  50/100  0.8 s"
        for _ in range(100):
            run_once()
            bar.update()
    with Progress("building"):                       # no total: a spinner with the elapsed time
        engine = builder.build(net, config)
    bar = Progress("calibrating", animate=False)     # no thread: the spinner and count move on update()

Nothing is written when the stream is not a terminal (piped output, CI logs, tests), when ``TERM=dumb``,
when ``GIE_NO_PROGRESS`` is set, or when ``enabled=False``; the bar then costs nothing. The line is erased
when the bar closes, so the command's own output is unchanged.
"""
import os
import sys
import threading
import time

__all__ = ["Progress", "progress_enabled"]

_SPINNER = "|/-\\"


def progress_enabled(stream=None):
    """Whether a progress bar would be drawn on ``stream`` (default: stderr)."""
    stream = sys.stderr if stream is None else stream
    if os.environ.get("GIE_NO_PROGRESS") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a real file
        return False


class Progress:
    """A progress bar (``total`` given) or a spinner (``total=None``) on a terminal; silent otherwise."""

    def __init__(self, label, total=None, stream=None, enabled=None, width=30, interval=0.1, animate=True):
        self.label = label
        self.total = total
        self.count = 0
        self.stream = sys.stderr if stream is None else stream
        self.enabled = progress_enabled(self.stream) if enabled is None else bool(enabled)
        self.width = width
        self.interval = interval
        self._start = time.perf_counter()
        self._last_draw = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self._closed = False
        self._spin = 0
        if self.enabled:
            self._draw(force=True)
            # A spinner animates by itself (the step may run in C++ without callbacks); animate=False: it moves
            # on update() only, and no thread outlives a caller that cannot promise to close() the bar.
            if total is None and animate:
                self._thread = threading.Thread(target=self._animate, name="gie-progress", daemon=True)
                self._thread.start()

    # -- public ---------------------------------------------------------------------------------------
    def update(self, n=1):
        self.count += n
        if self.enabled:
            self._draw()

    def close(self):
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        if self.enabled:
            with self._lock:
                self.stream.write("\r\033[K")
                self.stream.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- drawing --------------------------------------------------------------------------------------
    def _animate(self):
        while not self._stop.wait(self.interval):
            self._draw(force=True)

    def _line(self):
        elapsed = time.perf_counter() - self._start
        if self.total is not None:
            frac = min(1.0, self.count / self.total) if self.total > 0 else 1.0
            filled = int(round(frac * self.width))
            bar = "#" * filled + "." * (self.width - filled)
            return f"{self.label}  [{bar}]  {self.count}/{self.total}  {elapsed:.1f} s"
        self._spin = (self._spin + 1) % len(_SPINNER)
        count = f"{self.count}  " if self.count else ""
        return f"{self.label}  {_SPINNER[self._spin]}  {count}{elapsed:.1f} s"

    def _draw(self, force=False):
        now = time.perf_counter()
        if not force and now - self._last_draw < self.interval and self.count != self.total:
            return
        with self._lock:
            if self._closed and not force:
                return
            self._last_draw = now
            self.stream.write("\r\033[K" + self._line())
            self.stream.flush()
