"""INT8 calibration (TensorRT's calibrator shape): calibrators written in Python, built-in calibrators over data,
and :func:`calibrate`, which returns the ranges a build would use. See docs/int8.md.

    cal = gie.EntropyCalibrator("calib.npz", batch_size=32, cache_file="model.calib")
    ranges = gie.calibrate(net, cal)                 # {tensor name: amax}; writes model.calib
    config.int8 = True
    config.int8_calibrator = cal                     # the build reads model.calib: no second calibration

A calibrator is any object with ``get_batch_size()`` and ``get_batch(names)`` (-> {name: array} or None at the
end); ``read_calibration_cache()`` (-> bytes or None), ``write_calibration_cache(bytes)``, ``get_algorithm()``
("entropy", "minmax" or "percentile") and ``get_percentile()`` are optional; :class:`Int8Calibrator` provides
their defaults.
"""
import logging
import os
from collections.abc import Mapping

import numpy as np

from . import _C
from ._logging import make_log_function
from .engine import write_file_atomically
from .errors import Error, InvalidArgumentError, file_error, integer_argument, path_argument
from .progress import Progress

__all__ = ["Int8Calibrator", "DataCalibrator", "EntropyCalibrator", "MinMaxCalibrator", "PercentileCalibrator",
           "calibrate", "make_calibrator", "set_dynamic_ranges", "entropy_amax", "percentile_amax", "ALGORITHMS"]

#: Algorithm names and their IInt8Calibrator::Algorithm values.
ALGORITHMS = {"entropy": 0, "minmax": 1, "percentile": 2}

_log = logging.getLogger("gie")


def _algorithm(value, what="algorithm"):
    if isinstance(value, str) and value.lower() in ALGORITHMS:
        return value.lower()
    raise InvalidArgumentError(f"{what} must be one of {', '.join(repr(a) for a in ALGORITHMS)}, not {value!r}")


def _percentile(value, what="percentile"):
    try:
        p = float(value)
    except (TypeError, ValueError):
        p = float("nan")
    if isinstance(value, bool) or not 0 < p <= 100:
        raise InvalidArgumentError(f"{what} must be a number in (0, 100], not {value!r}")
    return p


class Int8Calibrator:
    """Base class of calibrators written in Python. Override ``get_batch_size`` and ``get_batch``; the others
    have defaults (no cache, the ``algorithm`` and ``percentile`` attributes). No ``__init__`` to call.

    - ``get_batch_size() -> int``: items per batch (dimension 0 of every input), the same for every batch.
    - ``get_batch(names) -> {name: array} | None``: the next batch, one array per network input named in
      ``names`` (shape (batch_size, ...) as the input; float inputs take float arrays, converted to float32),
      or None when there is no more data.
    - ``read_calibration_cache() -> bytes | None``: a cache written earlier; when it is given, calibration is
      skipped (get_batch is never called). A cache for another network or algorithm is refused with an error.
    - ``write_calibration_cache(cache: bytes)``: called after calibrating, with the new cache.
    - ``get_algorithm() -> str``: "entropy" (default), "minmax" or "percentile".
    - ``get_percentile() -> float``: for "percentile" (default 99.99).
    - ``num_batches`` (optional attribute): the number of batches, for the progress bar.
    """

    algorithm = "entropy"
    percentile = 99.99
    num_batches = None

    def get_batch_size(self):
        raise NotImplementedError(f"{type(self).__name__} must define get_batch_size()")

    def get_batch(self, names):
        raise NotImplementedError(f"{type(self).__name__} must define get_batch(names)")

    def read_calibration_cache(self):
        return None

    def write_calibration_cache(self, cache):
        return None

    def get_algorithm(self):
        return self.algorithm

    def get_percentile(self):
        return self.percentile


# ---- built-in calibrators over data ---------------------------------------------------------------------

class DataCalibrator(Int8Calibrator):
    """A calibrator over data, with the algorithm given. ``data`` is one of:

    - a numpy array of samples (dimension 0 counts them) for a network with one input;
    - a dict {input name: array of samples};
    - the path of an ``.npz`` file (arrays named after the inputs; for one input, a single array of any name);
    - the path of a directory of ``.npy`` files, read in name order, each one sample or a batch of samples (one
      input only);
    - an iterable of batches, each an array (one input) or a dict {input name: array}; batches may have any
      size, they are regrouped.

    Samples are grouped into batches of ``batch_size`` (default: 32, or fewer when there are fewer samples; for
    an iterable, the first batch's size); samples that do not fill a last batch are left out, with a warning.
    ``cache_file``: read when it exists (calibration is then skipped), written after calibrating. ``data`` may be
    None when ``cache_file`` exists. Each calibration starts again from the first sample (a generator, which can
    be read once, gives no batch the second time).
    """

    def __init__(self, data=None, batch_size=None, algorithm="entropy", percentile=99.99, cache_file=None):
        self.algorithm = _algorithm(algorithm)
        self.percentile = _percentile(percentile)
        self.cache_file = None if cache_file is None else path_argument(cache_file, "cache_file")
        self._source = None if data is None else _DataSource(data)
        self._batch_size = None
        if batch_size is not None:
            self._batch_size = integer_argument(batch_size, "batch_size")
            if self._batch_size < 1:
                raise InvalidArgumentError(f"batch_size must be at least 1, not {self._batch_size}")
        self._batches = None

    def get_batch_size(self):
        if self._batch_size is None:
            self._batch_size = self._source.default_batch_size() if self._source is not None else 1
        return self._batch_size

    @property
    def num_batches(self):
        n = self._source.count if self._source is not None else None
        return None if n is None else n // self.get_batch_size()

    def get_batch(self, names, shapes=None):
        if self._source is None:
            where = f"the calibration cache '{self.cache_file}' does not exist" if self.cache_file else "no cache_file"
            raise InvalidArgumentError(f"{type(self).__name__}: no calibration data was given and {where}; give data "
                                       "(an array, a dict of arrays, an .npz file, a directory of .npy files or an "
                                       "iterable of batches) to calibrate")
        if self._batches is None:
            self._batches = self._source.batches(list(names), shapes, self.get_batch_size())
        batch = next(self._batches, None)
        if batch is None:
            self._batches = None  # the next calibration starts again
        return batch

    def read_calibration_cache(self):
        if self.cache_file is None or not os.path.exists(self.cache_file):
            return None
        try:
            with open(self.cache_file, "rb") as f:
                return f.read()
        except OSError as e:
            raise file_error("cannot read the calibration cache", self.cache_file, e) from e

    def write_calibration_cache(self, cache):
        if self.cache_file is not None:
            write_file_atomically(self.cache_file, bytes(cache), "cannot write the calibration cache to")


class EntropyCalibrator(DataCalibrator):
    """:class:`DataCalibrator` with the entropy algorithm (KL divergence, TensorRT's EntropyCalibrator2)."""

    def __init__(self, data=None, batch_size=None, cache_file=None):
        super().__init__(data, batch_size, "entropy", cache_file=cache_file)


class MinMaxCalibrator(DataCalibrator):
    """:class:`DataCalibrator` with the min-max algorithm (max |x| over all batches)."""

    def __init__(self, data=None, batch_size=None, cache_file=None):
        super().__init__(data, batch_size, "minmax", cache_file=cache_file)


class PercentileCalibrator(DataCalibrator):
    """:class:`DataCalibrator` with the percentile algorithm (the ``percentile``-th percentile of |x|)."""

    def __init__(self, data=None, batch_size=None, percentile=99.99, cache_file=None):
        super().__init__(data, batch_size, "percentile", percentile, cache_file)


def make_calibrator(data=None, algorithm="entropy", batch_size=None, cache_file=None, percentile=99.99):
    """The built-in calibrator for ``algorithm`` over ``data`` (see :class:`DataCalibrator`)."""
    return DataCalibrator(data, batch_size, algorithm, percentile, cache_file)


class _DataSource:
    """Calibration data, normalised: arrays of samples by name (None: the one unnamed input), .npy files, or an
    iterable of batches."""

    def __init__(self, data):
        self.count = None
        self._files = self._arrays = self._iterable = None
        self._first = None  # an iterable's first batch, read to learn the default batch size
        if isinstance(data, (str, bytes, os.PathLike)):
            path = path_argument(data, "calibration data")
            if os.path.isdir(path):
                self._files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(".npy"))
                if not self._files:
                    raise InvalidArgumentError(f"calibration data: the directory '{path}' has no .npy file")
            elif path.lower().endswith(".npz"):
                try:
                    with np.load(path) as z:
                        self._arrays = {k: z[k] for k in z.files}
                except OSError as e:
                    raise file_error("cannot read the calibration data", path, e) from e
                except ValueError as e:
                    raise InvalidArgumentError(f"calibration data '{path}' is not a valid .npz file: {e}") from None
                if not self._arrays:
                    raise InvalidArgumentError(f"calibration data: '{path}' holds no array")
            elif not os.path.exists(path):
                raise file_error("cannot read the calibration data", path,
                                 FileNotFoundError(2, "No such file or directory"))
            else:
                raise InvalidArgumentError(f"calibration data '{path}' must be an .npz file or a directory of .npy "
                                           "files")
        elif isinstance(data, np.ndarray):
            self._arrays = {None: data}
        elif isinstance(data, Mapping):
            self._arrays = {str(k): np.asarray(v) for k, v in data.items()}
            if not self._arrays:
                raise InvalidArgumentError("calibration data: the dict is empty")
        elif hasattr(data, "__iter__"):
            self._iterable = data
        else:
            raise InvalidArgumentError("calibration data must be an array, a dict of arrays, an .npz path, a "
                                       "directory of .npy files or an iterable of batches, not "
                                       f"{type(data).__name__}")
        if self._arrays is not None:
            counts = {k: (a.shape[0] if a.ndim else None) for k, a in self._arrays.items()}
            if None in counts.values() or len(set(counts.values())) != 1:
                shown = ", ".join(f"{k or 'array'}: {self._arrays[k].shape}" for k in counts)
                raise InvalidArgumentError("calibration data: every array must hold the same number of samples along "
                                           f"dimension 0 ({shown})")
            self.count = next(iter(counts.values()))

    def default_batch_size(self):
        if self._arrays is not None:
            return max(1, min(32, self.count))
        if self._iterable is not None:
            it = iter(self._iterable)
            first = next(it, None)
            if first is None:
                raise InvalidArgumentError("calibration data: the iterable of batches is empty")
            self._first = (first, it)
            arrays = list(first.values()) if isinstance(first, Mapping) else [first]
            shape = np.shape(arrays[0]) if arrays else ()
            if not shape:
                raise InvalidArgumentError(f"calibration data: the first batch has no batch dimension (shape {shape})")
            return int(shape[0])
        return 32

    def batches(self, names, shapes, batch_size):
        """Batches {name: array} of exactly ``batch_size`` samples."""
        if self._arrays is not None:
            keys = _match_names(list(self._arrays), names)
            for start in range(0, self.count - batch_size + 1, batch_size):
                yield {n: self._arrays[k][start:start + batch_size] for n, k in keys.items()}
            _warn_left_out(self.count % batch_size, batch_size)
            return
        yield from _rebatch(self._blocks(names, shapes), batch_size)

    def _blocks(self, names, shapes):
        """Blocks of samples {name: array} of any size."""
        if self._files is not None:
            if len(names) != 1:
                raise InvalidArgumentError(f"calibration data: a directory of .npy files feeds a network with one "
                                           f"input; this one has {len(names)} ({', '.join(names)}): use an .npz file "
                                           "or a dict of arrays named after the inputs")
            rank = len(shapes[0]) if shapes else None
            for f in self._files:
                try:
                    a = np.load(f, allow_pickle=False)
                except (OSError, ValueError) as e:
                    raise InvalidArgumentError(f"calibration data: cannot read '{f}': {e}") from None
                if rank is not None and a.ndim == rank - 1:
                    a = a[None]
                elif rank is not None and a.ndim != rank:
                    raise InvalidArgumentError(f"calibration data: '{f}' has shape {a.shape}; input '{names[0]}' "
                                               f"takes samples of shape {tuple(shapes[0][1:])} (one per file) or "
                                               "batches of them")
                yield {names[0]: a}
            return
        if self._first is not None:
            first, rest = self._first
            self._first = None
            items = _chain([first], rest)
        else:
            items = iter(self._iterable)
        for item in items:
            arrays = dict(item) if isinstance(item, Mapping) else {None: item}
            keys = _match_names(list(arrays), names)
            yield {n: np.asarray(arrays[k]) for n, k in keys.items()}


def _chain(first, rest):
    yield from first
    yield from rest


def _match_names(keys, names):
    """{input name: data key}: the keys named after the inputs, or the one key for a one-input network."""
    if all(n in keys for n in names):
        return {n: n for n in names}
    if len(names) == 1 and len(keys) == 1:
        return {names[0]: keys[0]}
    shown = ", ".join("(unnamed)" if k is None else repr(k) for k in keys)
    raise InvalidArgumentError(f"calibration data has arrays {shown}, but the network's inputs are "
                               f"{', '.join(repr(n) for n in names)}: name the arrays after the inputs")


def _rebatch(blocks, batch_size):
    pending, rows = {}, 0
    for block in blocks:
        sizes = {n: np.shape(a)[0] if np.ndim(a) else 0 for n, a in block.items()}
        if len(set(sizes.values())) != 1 or 0 in sizes.values():
            raise InvalidArgumentError(f"calibration data: a batch's arrays differ in size along dimension 0, or have "
                                       f"none ({sizes})")
        for n, a in block.items():
            pending.setdefault(n, []).append(a)
        rows += next(iter(sizes.values()))
        while rows >= batch_size:
            joined = {n: np.concatenate(parts) if len(parts) > 1 else parts[0] for n, parts in pending.items()}
            yield {n: a[:batch_size] for n, a in joined.items()}
            pending = {n: [a[batch_size:]] for n, a in joined.items()}
            rows -= batch_size
    _warn_left_out(rows, batch_size)


def _warn_left_out(rows, batch_size):
    if rows:
        _log.warning(f"INT8 calibration: the last {rows} sample(s) do not fill a batch of {batch_size} and were "
                     "left out")


# ---- the bridge between a Python calibrator and gie's C++ IInt8Calibrator ------------------------------------

_DTYPES = {"float32": (np.float32, "f", "float"), "int32": (np.int32, "iu", "integer"), "bool": (np.bool_, "b", "bool")}


_NOT_FETCHED = object()


class _Bridge:
    """Calls the user's calibrator for the C++ side (python/src/bindings.cpp, PyInt8Calibrator), checks what it
    returns, and raises only gie.Error, naming the method and the input (the C++ side turns that into the build's
    error). Draws the progress bar while batches come."""

    def __init__(self, calibrator):
        for method in ("get_batch_size", "get_batch"):
            if not callable(getattr(calibrator, method, None)):
                raise InvalidArgumentError(f"an INT8 calibrator needs a {method}() method; {type(calibrator).__name__} "
                                           "has none (subclass gie.Int8Calibrator)")
        self.calibrator = calibrator
        self.error = None  # the exception a calibrator method raised, for gie.calibrate to chain
        self._bar = None
        self._batch_size = None
        self._name = type(calibrator).__name__
        self._pending = _NOT_FETCHED  # a batch shapes() fetched for the next batch()

    # What a calibrator that is not an Int8Calibrator gets for the methods it leaves out.
    _DEFAULTS = {"read_calibration_cache": lambda: None, "write_calibration_cache": lambda cache: None,
                 "get_algorithm": lambda: Int8Calibrator.algorithm, "get_percentile": lambda: Int8Calibrator.percentile}

    def _call(self, method, *args):
        fn = getattr(self.calibrator, method, None) or self._DEFAULTS[method]
        try:
            return fn(*args)
        except Error as e:
            self.error = e
            raise
        except BaseException as e:  # noqa: B902 -- anything, even KeyboardInterrupt, must not cross into C++
            self.error = e
            raise InvalidArgumentError(f"{self._name}.{method} raised {type(e).__name__}: {e}") from e

    def batch_size(self):
        self._pending = _NOT_FETCHED  # (a calibration starts)
        n = self._call("get_batch_size")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise InvalidArgumentError(f"{self._name}.get_batch_size() must return an integer >= 1, not {n!r}")
        self._batch_size = int(n)
        return self._batch_size

    def shapes(self, names, shapes):
        """Networks with dynamic dimensions (-1 in ``shapes``): fetches the next batch, keeps it for :meth:`batch`, and
        returns the shapes of its arrays (None when there is none left). gie checks them against the profiles."""
        self._pending = self._fetch(names, shapes)
        if self._pending is None:
            return None

        def shape_of(name, asked):  # (what is not an array of that input is reported by batch()'s checks)
            try:
                return tuple(int(d) for d in np.shape(self._pending[name]))
            except Exception:  # noqa: BLE001
                return tuple(asked)
        return [shape_of(n, s) if isinstance(self._pending, Mapping) else tuple(s) for n, s in zip(names, shapes)]

    def _fetch(self, names, shapes):
        try:
            if isinstance(self.calibrator, DataCalibrator):
                data = self._call("get_batch", list(names), [tuple(s) for s in shapes])
            else:
                data = self._call("get_batch", list(names))
        except BaseException:
            self.close()
            raise
        if data is None:
            self.close()
        return data

    def batch(self, names, shapes, dtypes):
        if self._pending is not _NOT_FETCHED:  # (fetched by shapes())
            data, self._pending = self._pending, _NOT_FETCHED
        else:
            data = self._fetch(names, shapes)
        if data is None:
            return None
        try:
            arrays = self._check(data, names, shapes, dtypes)
        except BaseException:
            self.close()
            raise
        if self._bar is None:
            total = getattr(self.calibrator, "num_batches", None)
            total = total if isinstance(total, int) and not isinstance(total, bool) and total > 0 else None
            self._bar = Progress("calibrating", total=total, animate=False)
        self._bar.update()
        return arrays

    def _check(self, data, names, shapes, dtypes):
        where = f"{self._name}.get_batch"
        if not isinstance(data, Mapping):
            raise InvalidArgumentError(f"{where} must return a dict {{input name: array}} or None, not "
                                       f"{type(data).__name__}")
        for key in data:
            if key not in names:
                raise InvalidArgumentError(f"{where} returned an array for {key!r}, which is not a network input "
                                           f"(the inputs are {', '.join(repr(n) for n in names)})")
        out = []
        for name, shape, dtype in zip(names, shapes, dtypes):
            if name not in data:
                raise InvalidArgumentError(f"{where} returned no array for input '{name}' (it must return one for "
                                           f"each of {', '.join(repr(n) for n in names)})")
            value = data[name]
            try:
                a = np.asarray(value)
            except Exception as e:  # a GPU tensor, an object numpy cannot read
                raise InvalidArgumentError(f"{where}: the value for input '{name}' ({type(value).__name__}) cannot "
                                           f"be read as a numpy array: {e}") from None
            np_type, kinds, kind_name = _DTYPES[dtype]
            if a.dtype.kind not in kinds:
                hint = " (scale image data to floats first)" if kinds == "f" else ""
                raise InvalidArgumentError(f"{where}: input '{name}' is {kind_name} ({dtype}), but the array has "
                                           f"dtype {a.dtype}{hint}")
            if len(a.shape) != len(shape) or any(want not in (-1, got) for got, want in zip(a.shape, shape)):
                raise InvalidArgumentError(f"{where}: the array for input '{name}' has shape {tuple(a.shape)}, "
                                           f"expected {tuple(shape)} (get_batch_size() = {shape[0]} first, then the "
                                           "input's shape)")
            out.append(np.ascontiguousarray(a, dtype=np_type))
        return out

    def read_cache(self):
        cache = self._call("read_calibration_cache")
        if cache is None:
            return None
        if isinstance(cache, str):
            cache = cache.encode()
        if not isinstance(cache, (bytes, bytearray, memoryview)):
            raise InvalidArgumentError(f"{self._name}.read_calibration_cache() must return bytes or None, not "
                                       f"{type(cache).__name__}")
        return bytes(cache)

    def write_cache(self, data):
        self.close()
        self._call("write_calibration_cache", data)

    def algorithm(self):
        return ALGORITHMS[_algorithm(self._call("get_algorithm"), f"{self._name}.get_algorithm()")]

    def percentile(self):
        return _percentile(self._call("get_percentile"), f"{self._name}.get_percentile()")

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _adapter(calibrator):
    return _C._Int8Calibrator(_Bridge(calibrator))


def _get_int8_calibrator(config):
    bridge = config._get_int8_calibrator()
    return None if bridge is None else bridge.calibrator


def _set_int8_calibrator(config, calibrator):
    config._set_int8_calibrator(None if calibrator is None else _adapter(calibrator))


_C.BuilderConfig.int8_calibrator = property(
    _get_int8_calibrator, _set_int8_calibrator,
    doc="The INT8 calibrator (a gie.Int8Calibrator or any object with its methods; None: none). Used when "
        "config.int8 is set: the build reads its cache or calibrates (docs/int8.md).")


def calibrate(network, calibrator, statistics=False, logger=None):
    """Runs INT8 calibration of ``network`` with ``calibrator`` as a build with ``config.int8`` would (or reads
    the calibrator's cache, refusing one for another network or algorithm) and returns {tensor name: amax}: the
    range |x| <= amax of every float tensor (INT8 scale = amax / 127), a range set with
    ``tensor.set_dynamic_range`` replacing the calibrated one. Writes the cache through the calibrator after
    calibrating. With ``statistics=True`` returns (ranges, stats): stats[name] = {"max", "bin_width",
    "histogram" (int64 counts of |x| per bin), "count"} ({} when the ranges came from the cache)."""
    bridge = _Bridge(calibrator)
    try:
        result = _C._calibrate(network, _C._Int8Calibrator(bridge), make_log_function(logger), bool(statistics))
    except Error as e:
        cause = bridge.error
        if cause is not None and not isinstance(cause, Exception):
            raise cause  # KeyboardInterrupt, SystemExit: the user's, not gie's
        if isinstance(cause, type(e)) and type(cause) is not type(e):
            raise cause  # a finer gie error than its code says (FileError, also an OSError): as raised
        if cause is not None:
            raise e from cause
        raise
    finally:
        bridge.close()
    ranges = dict(result["amax"])
    return (ranges, dict(result["statistics"])) if statistics else ranges


def set_dynamic_ranges(network, ranges):
    """Gives each tensor of ``network`` that has no range (``tensor.dynamic_range is None``) its entry of
    ``ranges`` ({name: amax}, e.g. from :func:`calibrate`) as ``set_dynamic_range(-amax, amax)``; a range of 0 (a
    tensor that was 0 on every batch) is left out, as the builder does. Returns how many tensors changed."""
    tensors = [network.get_input(i) for i in range(network.num_inputs)]
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        tensors += [layer.output(k) for k in range(layer.num_outputs)]
    changed = 0
    for t in tensors:
        amax = ranges.get(t.name)
        if t.dynamic_range is None and amax is not None and amax > 0:
            t.set_dynamic_range(-amax, amax)
            changed += 1
    return changed


def entropy_amax(histogram, bin_width, max_abs):
    """The entropy algorithm on a histogram of |x| (bin k counts [k * bin_width, (k + 1) * bin_width)); at most
    ``max_abs``. The search is described in docs/int8.md."""
    return _C._entropy_amax(np.asarray(histogram, dtype=np.int64), float(bin_width), float(max_abs))


def percentile_amax(histogram, bin_width, max_abs, percentile):
    """The percentile algorithm on a histogram of |x|: the upper edge of the bin where the cumulative count
    reaches ``percentile`` % of all values, at most ``max_abs``."""
    return _C._percentile_amax(np.asarray(histogram, dtype=np.int64), float(bin_width), float(max_abs),
                               _percentile(percentile))
