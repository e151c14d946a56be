"""``gie.InferenceSession``: onnxruntime's shape of API over parse + build + engine cache + execute.

    sess = gie.InferenceSession("model.onnx", device="auto", fp16=False, cache_dir="~/.cache/gie")
    print(sess.get_inputs()[0])                     # NodeArg(name='x', shape=(None, 3, 224, 224), dtype=float32)
    (y,) = sess.run(None, {"x": x})                 # every output, in the engine's order

The first session for a model builds the engine; with ``cache_dir`` the engine (and the device's timing cache) is
kept there, keyed by the model's bytes (weights and external data files included), the gie library, the device
and the build options, and a later session loads it instead of building. A cache entry is verified before it is
used: its metadata must repeat the key's fields exactly, the engine file's SHA-256 must match the metadata, and
the engine must load (gie's loader checks its header, checksums and structure) with the inputs and outputs the
metadata lists. An entry failing any of these is deleted and rebuilt (a warning on the ``gie`` logger says why).
"""
import hashlib
import json
import logging
import os
import re
import tempfile
import threading

import numpy as np

from . import _C
from .errors import InvalidArgumentError, UnsupportedError, file_error, integer_argument, path_argument, read_file

__all__ = ["InferenceSession", "NodeArg", "CACHE_FORMAT"]

CACHE_FORMAT = 2  # bump when the entry layout or the key's fields change
_log = logging.getLogger("gie")
_ORT_TYPES = {"float32": "tensor(float)", "float16": "tensor(float16)", "int8": "tensor(int8)",
              "int32": "tensor(int32)", "bool": "tensor(bool)"}


class NodeArg:
    """An input or output of a session (onnxruntime's ``NodeArg``): ``name``, ``shape`` (a tuple; ``None`` for a
    dynamic dimension: dimension 0, the batch, unless the session's batch range is one value), ``dtype`` (numpy)
    and ``type`` (onnxruntime's spelling, e.g. ``'tensor(float)'``)."""

    __slots__ = ("name", "shape", "dtype", "type")

    def __init__(self, name, shape, dtype):
        self.name = name
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.type = _ORT_TYPES.get(self.dtype.name, f"tensor({self.dtype.name})")

    def __repr__(self):
        return f"NodeArg(name={self.name!r}, shape={self.shape}, dtype={self.dtype.name})"

    def __eq__(self, other):
        return isinstance(other, NodeArg) and (self.name, self.shape, self.dtype) == (other.name, other.shape, other.dtype)


def _sha256_file(path, h):
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)


_LOCATION = re.compile(rb"\x0a\x08location\x12")  # StringStringEntryProto{key: "location", value: ...}


def _external_data_files(model_path, data):
    """[(location, path)] of the external data files an ONNX model names: each tensor's ``location`` entry, read
    from the protobuf bytes (key "location", then the value, length-prefixed), resolved against the model's folder."""
    base = os.path.dirname(os.path.abspath(model_path))
    found = {}
    for m in _LOCATION.finditer(data):
        pos, n, shift = m.end(), 0, 0
        while pos < len(data) and shift < 35:  # the value's length, a varint
            b = data[pos]
            pos += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        loc = data[pos:pos + n].decode("utf-8", "replace")
        full = os.path.normpath(os.path.join(base, loc))
        if loc not in found and os.path.isfile(full):
            found[loc] = full
    return sorted(found.items())


class _BytesModel:
    """ONNX model bytes in the one shape OnnxParser.parse takes besides a path (a ModelProto)."""

    def __init__(self, data):
        self._data = data

    def SerializeToString(self):  # noqa: N802 - onnx's name
        return self._data


def _read_model(model, weights):
    """(what to parse, ONNX or not, digest of every byte the import reads, a name for messages)."""
    h = hashlib.sha256()
    if isinstance(model, (bytes, bytearray, memoryview)):
        data = bytes(model)
        h.update(b"onnx-bytes\0" + data)
        return _BytesModel(data), True, h.hexdigest(), "the ONNX model bytes"
    if hasattr(model, "SerializeToString") and not isinstance(model, (str, os.PathLike)):
        data = model.SerializeToString()
        h.update(b"onnx-bytes\0" + data)
        return model, True, h.hexdigest(), "the ONNX ModelProto"
    path = path_argument(model, "InferenceSession: model")
    data = read_file(path, "InferenceSession: cannot read the model file")
    is_onnx = os.path.splitext(path)[1].lower() == ".onnx"
    h.update(os.path.splitext(path)[1].lower().encode() + b"\0" + data)
    if is_onnx:
        for rel, full in _external_data_files(path, data):
            h.update(b"\0external\0" + rel.encode() + b"\0")
            _sha256_file(full, h)
    if weights is not None:
        weights = path_argument(weights, "InferenceSession: weights")
        h.update(b"\0weights\0")
        try:
            _sha256_file(weights, h)
        except OSError as e:
            raise file_error("InferenceSession: cannot read the weights file", weights, e) from e
    return path, is_onnx, h.hexdigest(), f"'{path}'"


def _library_id():
    """The gie library this process runs: version, CUDA build and the binaries' size and modification time, so
    that a rebuilt gie (kernels and tactics may differ under one version number) never reuses an engine."""
    from . import build_info

    info = build_info()
    ident = {"version": info["version"], "cuda": info["cuda"], "cuda_version": info["cuda_version"],
             "cuda_archs": info["cuda_archs"], "cache_format": CACHE_FORMAT}
    here = os.path.dirname(os.path.abspath(__file__))
    for name in sorted(os.listdir(here)):
        if name.startswith(("libgie", "_C")) and ".so" in name:
            st = os.stat(os.path.join(here, name))
            ident[name] = [st.st_size, st.st_mtime_ns]
    return ident


def _resolve_device(device):
    """'cpu' or 'gpu' from the device argument; a GPU index other than 0 is refused (gie runs on the process's
    current CUDA device: choose it with CUDA_VISIBLE_DEVICES before the process starts)."""
    from . import build_info

    if isinstance(device, int) and not isinstance(device, bool):
        device = f"gpu:{device}"
    if not isinstance(device, str):
        raise InvalidArgumentError(f"InferenceSession: device must be 'cpu', 'gpu', 'auto' or 'cuda:N', not {device!r}")
    d = device.lower()
    name, sep, index = d.partition(":")
    if name == "cuda":
        name = "gpu"
    if name not in ("cpu", "gpu", "auto") or (sep and (name != "gpu" or not index.isdigit())):
        raise InvalidArgumentError(f"InferenceSession: device must be 'cpu', 'gpu', 'auto' or 'cuda:N', not {device!r}")
    if sep and int(index) != 0:
        raise UnsupportedError(f"InferenceSession: device {device!r}: gie runs on the process's current CUDA device; "
                               f"select GPU {index} with CUDA_VISIBLE_DEVICES={index} before the process starts and "
                               "use device='cuda:0'")
    info = build_info()
    if name == "auto":
        name = "gpu" if info["gpu_available"] else "cpu"
    if name == "gpu":
        return "gpu", {"device": "gpu", "gpu_name": info["gpu_name"], "compute_capability": info["compute_capability"]}
    return "cpu", {"device": "cpu"}


def _batch_range(batch):
    if batch is None:
        return None
    if isinstance(batch, (tuple, list)):
        if len(batch) != 3:
            raise InvalidArgumentError(f"InferenceSession: batch must be N or (min, opt, max), not {batch!r}")
        lo, opt, hi = (integer_argument(b, "InferenceSession: batch") for b in batch)
    else:
        hi = integer_argument(batch, "InferenceSession: batch")
        lo, opt = 1, hi
    if not 1 <= lo <= opt <= hi:
        raise InvalidArgumentError(f"InferenceSession: batch wants 1 <= min <= opt <= max, not {batch!r}")
    return (lo, opt, hi)


def _profiles(profiles):
    """``profiles`` as a list of {input: [min, opt, max]} (JSON-able: it is part of the cache key); [] for None."""
    if profiles is None:
        return []
    if isinstance(profiles, dict):
        profiles = [profiles]
    if not isinstance(profiles, (list, tuple)) or not profiles or not all(isinstance(p, dict) and p for p in profiles):
        raise InvalidArgumentError("InferenceSession: profiles must be a dict {input name: (min, opt, max)} or a "
                                   f"non-empty list of them, not {profiles!r}")
    out = []
    for p in profiles:
        entry = {}
        for name, triple in p.items():
            try:
                mn, opt, mx = triple
                entry[str(name)] = [[integer_argument(d, f"InferenceSession: profiles['{name}']") for d in s]
                                    for s in (mn, opt, mx)]
            except (TypeError, ValueError):
                raise InvalidArgumentError(f"InferenceSession: profiles['{name}'] must be (min, opt, max) shapes, "
                                           f"not {triple!r}") from None
        out.append(entry)
    return out


def _write_atomic(path, data):
    fd, tmp = tempfile.mkstemp(prefix=".gie-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _remove(*paths):
    for p in paths:
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass


class InferenceSession:
    """Builds (or loads from ``cache_dir``) an engine for a model file and runs it, onnxruntime's way.

    ``model``: a model file (``.onnx``; ``.prototxt`` / ``.cfg`` with ``weights``), ONNX bytes or an
    ``onnx.ModelProto``. ``device``: ``'auto'`` (the GPU when one is usable), ``'cpu'``, ``'gpu'`` / ``'cuda'`` /
    ``'cuda:0'``. ``fp16``: allow FP16 kernels (``config.fp16``). ``batch``: N (batches 1..N) or (min, opt, max);
    by default the engine is built for batch 1 and rebuilt (or loaded from the cache) for a larger batch when
    ``run`` first gets one, as onnxruntime's TensorRT provider does; a given range is kept, and a batch outside it
    is an error. ``profiles``: optimization profiles instead of ``batch``, for inputs with dynamic dimensions
    (docs/dynamic_shapes.md): a dict {input name: (min, opt, max)} or a list of them; ``run`` selects the first
    profile whose ranges hold the feed's shapes. ``workspace``: ``config.workspace_limit`` in bytes.
    ``input_shapes``: {name: shape} pinning ONNX inputs' symbolic dimensions. ``cache_dir``: where to keep engines and timing caches (created;
    None: nothing is cached). ``logger``: as for :class:`gie.Builder`.

    ``int8``: allow INT8 kernels (``config.int8``) for the tensors that have ranges: from ``calibrator`` (a
    :class:`gie.Int8Calibrator`; the session calibrates once when it is created -- or the calibrator reads its
    cache -- and the ranges become part of the engine cache key, so an engine built from other ranges is never
    reused), or from the model itself (ONNX QuantizeLinear/DequantizeLinear). Tensors without a range stay float
    (the build warns). ``calibrator`` without ``int8=True`` is an error.

    ``run`` may be called from several threads at once (each thread gets its own execution context).
    """

    def __init__(self, model, *, weights=None, device="auto", fp16=False, int8=False, calibrator=None, profiles=None,
                 batch=None, workspace=None, input_shapes=None, cache_dir=None, logger=None):
        if not isinstance(int8, (bool, np.bool_)):
            raise InvalidArgumentError(f"InferenceSession: int8 must be True or False, not {int8!r}")
        if calibrator is not None and not int8:
            raise InvalidArgumentError("InferenceSession: a calibrator is used only with int8=True (INT8 calibration); "
                                       "pass int8=True or drop the calibrator")
        self._profiles = _profiles(profiles)
        if self._profiles and batch is not None:
            raise InvalidArgumentError("InferenceSession: batch and profiles: use one or the other (a profile gives "
                                       "dimension 0's range too)")
        if not isinstance(fp16, (bool, np.bool_)):
            raise InvalidArgumentError(f"InferenceSession: fp16 must be True or False, not {fp16!r}")
        self._source, self._is_onnx, self._model_digest, self._model_name = _read_model(model, weights)
        self._weights = weights
        if weights is not None and self._is_onnx:
            raise InvalidArgumentError("InferenceSession: weights is for Caffe (.caffemodel) and Darknet (.weights) "
                                       "models; an ONNX model holds its own")
        self._device, device_key = _resolve_device(device)
        self._fp16 = bool(fp16)
        self._pinned = _batch_range(batch)
        self._workspace = None if workspace is None else integer_argument(workspace, "InferenceSession: workspace")
        self._input_shapes = {str(k): tuple(int(d) for d in v) for k, v in (input_shapes or {}).items()}
        self._logger = logger
        self._cache_dir = None
        if cache_dir is not None:
            self._cache_dir = os.path.abspath(os.path.expanduser(path_argument(cache_dir, "InferenceSession: cache_dir")))
            try:
                os.makedirs(self._cache_dir, exist_ok=True)
            except OSError as e:
                raise file_error("InferenceSession: cannot create the cache folder", self._cache_dir, e) from e
        from . import registered_plugins

        self._int8 = bool(int8)
        self._ranges = self._calibrate(calibrator) if calibrator is not None else None
        self._key_base = {
            "model_sha256": self._model_digest, "library": _library_id(), "target": device_key, "fp16": self._fp16,
            "int8": self._int8, "int8_ranges_sha256": None if self._ranges is None else hashlib.sha256(
                json.dumps(sorted((k, float(v)) for k, v in self._ranges.items())).encode()).hexdigest(),
            "workspace": self._workspace, "input_shapes": {k: list(v) for k, v in sorted(self._input_shapes.items())},
            "plugins": sorted([list(map(str, p)) for p in registered_plugins()]),
            "profiles": self._profiles,
        }
        self._lock = threading.Lock()
        self._local = threading.local()
        self.cache_status = None  # 'built', 'loaded' or 'rebuilt: <why>' for the engine in use ('built' without cache)
        self._engine = None
        self._use(self._pinned or (1, 1, 1))

    # ---- the engine and its cache ------------------------------------------------------------------

    @property
    def engine(self):
        """The :class:`gie.Engine` in use."""
        return self._engine

    @property
    def batch_range(self):
        """(min, opt, max) batch of the engine in use."""
        return (self._engine.min_batch, self._batch[1], self._engine.max_batch)

    def _key(self, batch):
        fields = dict(self._key_base, batch=list(batch))
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32], fields

    def _timing_cache_path(self):
        ident = json.dumps({"library": self._key_base["library"], "target": self._key_base["target"]}, sort_keys=True)
        return os.path.join(self._cache_dir, f"timing-{hashlib.sha256(ident.encode()).hexdigest()[:16]}.cache")

    def _use(self, batch):
        key, fields = self._key(batch)
        engine = None
        status = "built"
        if self._cache_dir is not None:
            engine, why = self._load_entry(key, fields)
            if engine is not None:
                status = "loaded"
            elif why is not None:
                _log.warning("engine cache: entry %s in %s is not used (%s); rebuilding it", key, self._cache_dir, why)
                status = f"rebuilt: {why}"
        if engine is None:
            engine = self._build(batch)
            if self._cache_dir is not None:
                self._store_entry(key, fields, engine)
        self._engine, self._batch = engine, tuple(batch)
        self.cache_status = status
        self._local = threading.local()  # contexts of the previous engine are dropped with it

    def _entry_paths(self, key):
        return os.path.join(self._cache_dir, key + ".gie"), os.path.join(self._cache_dir, key + ".json")

    def _load_entry(self, key, fields):
        """(engine, None) from a verified entry; (None, None) when there is none; (None, why) when it is unusable
        (and then removed)."""
        from .engine import Runtime
        from .errors import Error

        engine_path, meta_path = self._entry_paths(key)
        if not os.path.exists(engine_path) and not os.path.exists(meta_path):
            return None, None
        why = None
        try:
            with open(meta_path, "rb") as f:
                meta = json.loads(f.read().decode("utf-8"))
            with open(engine_path, "rb") as f:
                data = f.read()
            if not isinstance(meta, dict) or meta.get("key") != key or meta.get("fields") != json.loads(json.dumps(fields)):
                why = "its metadata does not match this model, gie library, device or options"
            elif meta.get("engine_sha256") != hashlib.sha256(data).hexdigest():
                why = "the engine file's SHA-256 does not match its metadata (modified or corrupt)"
            else:
                engine = Runtime(logger=self._logger).deserialize(data)
                io = [[n, True] for n in engine.input_names] + [[n, False] for n in engine.output_names]
                if meta.get("io") != io or list(meta.get("batch") or []) != [engine.min_batch, engine.max_batch]:
                    why = "the engine's inputs, outputs or batch range differ from its metadata"
                else:
                    return engine, None
        except FileNotFoundError as e:
            why = f"'{os.path.basename(e.filename or '')}' is missing"
        except (OSError, ValueError, UnicodeDecodeError) as e:
            why = f"cannot be read: {e}"
        except Error as e:
            why = f"the engine does not load: {type(e).__name__}: {e}"
        _remove(engine_path, meta_path)
        return None, why

    def _store_entry(self, key, fields, engine):
        engine_path, meta_path = self._entry_paths(key)
        data = engine.serialize()
        meta = {"key": key, "fields": fields, "engine_sha256": hashlib.sha256(data).hexdigest(),
                "io": [[n, True] for n in engine.input_names] + [[n, False] for n in engine.output_names],
                "batch": [engine.min_batch, engine.max_batch], "model": self._model_name}
        try:  # the engine first, then the metadata that vouches for it: a half-written entry is never trusted
            _write_atomic(engine_path, data)
            _write_atomic(meta_path, json.dumps(meta, indent=1, sort_keys=True).encode())
        except OSError as e:
            _remove(engine_path)
            _log.warning("engine cache: cannot write the entry %s in %s (%s); the engine is used uncached", key,
                         self._cache_dir, e)

    def _parse(self, builder):
        from .parsers import parse
        from .parsers.onnx_parser import OnnxParser

        if self._is_onnx:
            options = {"input_shapes": self._input_shapes} if self._input_shapes else {}
            if isinstance(self._source, _BytesModel):
                options["check"] = False  # the C++ importer's checks run; onnx.checker would need a ModelProto
            return OnnxParser(builder=builder, **options).parse(self._source)
        if self._input_shapes:
            raise InvalidArgumentError("InferenceSession: input_shapes applies to ONNX models only")
        return parse(self._source, weights=self._weights, builder=builder)

    def _calibrate(self, calibrator):
        """{tensor: amax} from ``calibrator`` over the imported (unoptimized) network, as a build would compute."""
        from .calibration import calibrate
        from .engine import Builder

        return calibrate(self._parse(Builder(logger=self._logger)), calibrator, logger=self._logger)

    def _build(self, batch):
        from .engine import Builder

        builder = Builder(logger=self._logger)
        net = self._parse(builder)
        config = builder.create_config()
        config.device = self._device
        if self._profiles:
            for profile in self._profiles:
                config.add_profile(profile)
        else:
            config.set_batch_range(*batch)
        config.fp16 = self._fp16
        if self._int8:
            if self._ranges is not None:
                from .calibration import set_dynamic_ranges

                set_dynamic_ranges(net, self._ranges)
            config.int8 = True
        if self._workspace is not None:
            config.workspace_limit = self._workspace
        if self._cache_dir is None:
            return builder.build(net, config)
        path = self._timing_cache_path()
        # A timing cache that cannot be read is not trusted either: dropped, and the build redone with a fresh one;
        # one that cannot be written (a read-only cache folder) leaves the build without one.
        for attempt in ("cached", "fresh", "none"):
            config.timing_cache = path if attempt != "none" else None
            try:
                return builder.build(net, config)
            except InvalidArgumentError as e:
                if attempt == "none" or "timing" not in str(e).lower():
                    raise
                _log.warning("engine cache: timing cache %s is unusable (%s); %s", path, e,
                             "removing it and timing afresh" if attempt == "cached" else "building without one")
                try:
                    _remove(path)
                except OSError:
                    pass

    # ---- onnxruntime's API -------------------------------------------------------------------------

    def _node_args(self, names):
        from .engine import numpy_dtype

        dynamic = self._pinned is None or self._pinned[0] != self._pinned[2]
        varying = self._varying_dims() if self._profiles else {}
        out = []
        for n in names:
            shape = list(self._engine.get_tensor_shape(n))
            if self._profiles:
                shape = [None if k in varying[n] else d for k, d in enumerate(shape)]
            elif shape and dynamic:
                shape[0] = None
            out.append(NodeArg(n, shape, numpy_dtype(self._engine.get_tensor_dtype(n))))
        return out

    def _varying_dims(self):
        """{I/O name: dimensions that differ between the profiles' min and max shapes} (outputs: as they follow)."""
        engine = self._engine
        ctx = engine.create_execution_context()
        seen = {}
        for i in range(engine.num_optimization_profiles):
            ctx.set_optimization_profile(i)
            for which in (0, 2):
                for n in engine.input_names:
                    ctx.set_input_shape(n, engine.get_profile_shape(n, i)[which])
                for n in engine.input_names + engine.output_names:
                    seen.setdefault(n, []).append(tuple(ctx.get_tensor_shape(n)))
        return {n: {k for k in range(len(v[0])) if len({s[k] for s in v}) > 1} for n, v in seen.items()}

    def _select_profile(self, ctx, feeds):
        """The first profile whose ranges hold every feed's shape (profile 0 when none does: its error names the
        range)."""
        engine = self._engine
        if engine.num_optimization_profiles < 2:
            return
        shapes = {n: tuple(getattr(v, "shape", None) or np.shape(v)) for n, v in feeds.items()}
        for i in range(engine.num_optimization_profiles):
            ok = True
            for n, shape in shapes.items():
                if n not in engine.input_names:
                    continue
                lo, _, hi = engine.get_profile_shape(n, i)
                ok = ok and len(shape) == len(lo) and all(a <= d <= b for a, d, b in zip(lo, shape, hi))
            if ok:
                if ctx.optimization_profile != i:
                    ctx.set_optimization_profile(i)
                return
        if ctx.optimization_profile != 0:
            ctx.set_optimization_profile(0)

    def get_inputs(self):
        """[:class:`NodeArg`] of the inputs, in the engine's order."""
        return self._node_args(self._engine.input_names)

    def get_outputs(self):
        """[:class:`NodeArg`] of the outputs, in the engine's order."""
        return self._node_args(self._engine.output_names)

    def get_providers(self):
        """onnxruntime's name for where the session runs: ['CUDAExecutionProvider'] or ['CPUExecutionProvider']."""
        return ["CUDAExecutionProvider" if self._device == "gpu" else "CPUExecutionProvider"]

    def _grow_if_needed(self, feeds):
        if self._pinned is not None or self._profiles:
            return
        shapes = [tuple(getattr(v, "shape", None) or np.shape(v)) for v in feeds.values()]  # device tensors too
        batches = [int(shape[0]) for shape in shapes if len(shape) > 0]
        need = max(batches, default=1)
        if need <= self._engine.max_batch:
            return
        with self._lock:
            if need > self._engine.max_batch:
                _log.info("InferenceSession: batch %d exceeds the engine's batch range %d..%d; using an engine for "
                          "batches 1..%d", need, self._engine.min_batch, self._engine.max_batch, need)
                self._use((1, need, need))

    def run(self, output_names, input_feed, run_options=None):
        """Runs the model: ``input_feed`` {input name: array}; returns the outputs named in ``output_names`` (all,
        in the engine's order, when None) as a list of numpy arrays. ``run_options`` is accepted for onnxruntime
        compatibility and must be None."""
        if run_options is not None:
            raise UnsupportedError("InferenceSession.run: run_options is not supported (pass None)")
        if not isinstance(input_feed, dict):
            raise InvalidArgumentError(f"InferenceSession.run: input_feed must be a dict {{name: array}}, not "
                                       f"{type(input_feed).__name__}")
        outputs = self._engine.output_names
        if output_names is None:
            wanted = list(outputs)
        else:
            if isinstance(output_names, str):
                raise InvalidArgumentError("InferenceSession.run: output_names must be a list of names (or None), "
                                           f"not the str {output_names!r}")
            wanted = list(output_names)
            unknown = [n for n in wanted if n not in outputs]
            if unknown:
                raise InvalidArgumentError(f"InferenceSession.run: unknown output(s) {unknown}; the outputs are "
                                           f"{list(outputs)}")
        self._grow_if_needed(input_feed)
        engine = self._engine
        ctx = getattr(self._local, "ctx", None)
        if ctx is None or ctx.engine is not engine:
            ctx = self._local.ctx = engine.create_execution_context()
        self._select_profile(ctx, input_feed)
        result = ctx.execute(input_feed, outputs="numpy" if ctx.is_gpu else None)
        return [result[n] for n in wanted]

    def __repr__(self):
        return (f"<gie.InferenceSession {self._model_name} device={self._device} fp16={self._fp16} int8={self._int8} "
                f"batch={self.batch_range} cache={self.cache_status}>")
