"""ONNX importer: builds a gie network from an ONNX model (opsets 7 and later) through the public network API.

    net = gie.OnnxParser().parse("model.onnx")          # or a onnx.ModelProto
    engine = gie.Builder().build(net, config)

Values that can be computed at import time (initializers, Constant nodes, Shape of tensors whose shapes are
known, and every node whose inputs are all known) are folded with numpy, so shape-computing subgraphs
(Shape -> Gather -> Concat -> Reshape) disappear. The symbolic batch dimension (dimension 0 of the inputs)
is tracked through folded shapes as a sentinel value and becomes a ``0`` (copy) or ``-1`` in reshapes; values
derived from it are "symbolic" (``OnnxParser.symbolic``), and folding never materializes a tensor whose size
depends on them (nor any tensor over ``onnx_ops.MAX_FOLD_ELEMENTS`` elements made from smaller inputs).
See docs/onnx.md for the op table and limits.
"""
import os

import numpy as np

from .. import _C
from ..errors import InvalidArgumentError, InvalidModelError, UnsupportedError

# Stands for the run-time batch inside folded shape values (a prime well above any real dimension).
BATCH = 1000003


class _Unsupported(Exception):
    pass


def _onnx():
    try:
        import onnx
    except ImportError as e:  # pragma: no cover
        raise UnsupportedError("the ONNX importer needs the 'onnx' package (pip install onnx)") from e
    return onnx


# ONNX TensorProto data type -> numpy dtype used for folded values / gie dtype for tensors
def _gie_dtype(np_dtype):
    k = np.dtype(np_dtype)
    if k == np.float16:
        return _C.DataType.float16
    if k.kind == "f":
        return _C.DataType.float32
    if k == np.bool_:
        return _C.DataType.bool
    if k == np.int8:
        return _C.DataType.int8
    if k.kind in "iu":
        return _C.DataType.int32
    raise _Unsupported(f"data type {k} has no gie equivalent")


def _np_of_gie(dt):
    return {_C.DataType.float32: np.float32, _C.DataType.float16: np.float16, _C.DataType.int32: np.int32,
            _C.DataType.int8: np.int8, _C.DataType.bool: np.bool_}[dt]


def _attrs(node):
    onnx = _onnx()
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode()
        elif a.type == onnx.AttributeProto.TENSOR:
            v = onnx.numpy_helper.to_array(v)
        elif isinstance(v, list) and v and isinstance(v[0], bytes):
            v = [x.decode() for x in v]
        out[a.name] = v
    return out


def tt_known(elem_type):
    from onnx import TensorProto
    return elem_type in (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.INT8,
                         TensorProto.INT16, TensorProto.INT32, TensorProto.INT64, TensorProto.UINT8,
                         TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64, TensorProto.BOOL)


class OnnxParser:
    """Imports ONNX models.

    Options: ``batch`` (the size used for a symbolic dimension 0 at definition time, default 1),
    ``input_shapes`` ({name: shape} overriding the model's input shapes), ``check`` (run onnx.checker,
    default True), ``base_dir`` (folder for external data when parsing a ModelProto).
    """

    def __init__(self, builder=None, batch=1, input_shapes=None, check=True, base_dir=None, importer=None,
                 plugin_fallback=True):
        from ..engine import Builder
        self.builder = builder if builder is not None else Builder()
        self.batch = int(batch)
        self.input_shapes = dict(input_shapes or {})
        self.check = check
        self.base_dir = base_dir
        self.plugin_fallback = bool(plugin_fallback)
        # "python" (this module, the default until the C++ importer passes every importer test) or "cpp"
        # (gie/onnx_parser.h through gie._C); GIE_ONNX_IMPORTER selects it for whole test runs.
        self.importer = importer or os.environ.get("GIE_ONNX_IMPORTER", "python")
        if self.importer not in ("python", "cpp"):
            raise InvalidArgumentError(f"OnnxParser: importer must be 'python' or 'cpp', not {self.importer!r}")

    # ---- entry -----------------------------------------------------------------------------------
    def parse(self, model):
        if self.importer == "cpp":
            return self._parse_cpp(model)
        onnx = _onnx()
        base_dir = self.base_dir
        if isinstance(model, (str, bytes, os.PathLike)):
            path = os.fspath(model)
            base_dir = os.path.dirname(os.path.abspath(path))
            try:
                model = onnx.load(path, load_external_data=False)
            except Exception as e:
                raise InvalidModelError(f"cannot read ONNX model '{path}': {e}") from None
        elif not isinstance(model, onnx.ModelProto):
            raise InvalidModelError(f"expected a path or onnx.ModelProto, got {type(model).__name__}")
        self.model = model
        self.opset = 1
        for imp in model.opset_import:
            if imp.domain in ("", "ai.onnx"):
                self.opset = imp.version
        if self.opset < 7:
            raise UnsupportedError(f"ONNX opset {self.opset} is not supported (the importer reads opset 7 and later; "
                                   f"convert with onnx.version_converter)")
        g = model.graph
        self._check_strings(g)
        self._check_structure(g)
        self.consts = {}
        for init in g.initializer:
            self.consts[init.name] = self._read_initializer(init, base_dir)
        for sp in getattr(g, "sparse_initializer", []):
            raise UnsupportedError(f"sparse initializer '{sp.values.name}' is not supported")
        if self.check:
            self._run_checker(model)
        return self._convert(g)

    # Errors the C++ importer finds before converting nodes; the Python importer raised them before onnx.checker.
    _CPP_EARLY = ("cannot read ONNX model", "ONNX opset", "the name of node #", "the op_type of node #",
                  "the domain of node #", "an input/output name of node #", "an attribute name of node #",
                  "string attribute '", "a graph input/output/value_info name", "an initializer name",
                  "an external_data ", "the graph has a cycle", "graph output '", "initializer '", "external data",
                  "sparse initializer", "ONNX model:")

    def _parse_cpp(self, model):
        """The C++ importer (gie/onnx_parser.h). onnx.checker and the schema check of empty inputs still run here
        when the onnx package is installed and check=True (they need onnx's schemas); the C++ importer does not
        need the onnx package."""
        path = data = None
        base_dir = self.base_dir
        if isinstance(model, (str, bytes, os.PathLike)):
            path = os.fspath(model)
            if isinstance(path, bytes):
                path = os.fsdecode(path)
        else:
            try:
                data = model.SerializeToString()
            except AttributeError:
                raise InvalidModelError(f"expected a path or onnx.ModelProto, got {type(model).__name__}") from None
        self.net = self.builder.create_network()
        shapes = {k: tuple(int(d) for d in v) for k, v in self.input_shapes.items()}
        error = None
        try:
            _C._parse_onnx(self.net, path, data, None if base_dir is None else os.fspath(base_dir), self.batch, shapes,
                           self.plugin_fallback)
        except (InvalidModelError, UnsupportedError) as e:
            if str(e).startswith(self._CPP_EARLY):
                raise
            error = e
        if self.check:
            try:
                onnx = _onnx()
            except UnsupportedError:
                onnx = None
            if onnx is not None:
                m = model if data is not None else onnx.load(path, load_external_data=False)
                if any(i.data_location == onnx.TensorProto.EXTERNAL for i in m.graph.initializer):
                    m = None  # the checker cannot see external data here; the C++ importer has read it
                if m is not None:
                    self.consts = {}
                    self._run_checker(m)
        if error is not None:
            raise error
        return self.net

    def _run_checker(self, model):
        onnx = _onnx()
        m = model
        if any(i.data_location == onnx.TensorProto.EXTERNAL for i in model.graph.initializer):
            m = onnx.ModelProto()
            m.CopyFrom(model)
            for i in m.graph.initializer:
                if i.data_location == onnx.TensorProto.EXTERNAL:
                    arr = self.consts[i.name]
                    i.CopyFrom(onnx.numpy_helper.from_array(arr, i.name))
        try:
            onnx.checker.check_model(m)
        except onnx.checker.ValidationError as e:
            msg = str(e).strip().splitlines()
            raise InvalidModelError("ONNX model is invalid: " + " | ".join(l for l in msg if l.strip())[:2000]) from None
        except UnicodeDecodeError as e:  # the checker's message quotes a name that is not valid UTF-8
            msg = e.object.decode("utf-8", "replace").strip().splitlines() if isinstance(e.object, bytes) else [str(e)]
            raise InvalidModelError("ONNX model is invalid (a name is not valid UTF-8): "
                                    + " | ".join(l for l in msg if l.strip())[:2000]) from None

    def _check_strings(self, g):
        # protobuf hands out a string field that is not valid UTF-8 as bytes: refuse it here, naming the field
        def bad(v, what, is_bytes=False):
            if isinstance(v, bytes):
                if is_bytes:  # a bytes field (string attributes): must decode
                    try:
                        v.decode("utf-8")
                        return
                    except UnicodeDecodeError:
                        pass
                raise InvalidModelError(f"{what} {v!r} is not valid UTF-8")
        for k, n in enumerate(g.node):
            bad(n.name, f"the name of node #{k}")
            where = f"node #{k} '{n.name}'"
            bad(n.op_type, f"the op_type of {where}")
            bad(n.domain, f"the domain of {where}")
            for i in list(n.input) + list(n.output):
                bad(i, f"an input/output name of {where}")
            for a in n.attribute:
                bad(a.name, f"an attribute name of {where}")
                bad(a.s, f"string attribute '{a.name}' of {where}", True)
                for x in a.strings:
                    bad(x, f"string attribute '{a.name}' of {where}", True)
        for vi in list(g.input) + list(g.output) + list(g.value_info):
            bad(vi.name, "a graph input/output/value_info name")
        for t in g.initializer:
            bad(t.name, "an initializer name")
            for e in t.external_data:
                bad(e.key, f"an external_data key of initializer '{t.name}'")
                bad(e.value, f"an external_data value of initializer '{t.name}'")

    def _check_structure(self, g):
        known = {i.name for i in g.input} | {i.name for i in g.initializer} | {""}
        produced = {}
        for n in g.node:
            for o in n.output:
                if o:
                    produced[o] = n
        # Cycles / dangling names, independent of node order.
        for n in g.node:
            for i in n.input:
                if i not in known and i not in produced:
                    raise InvalidModelError(f"node '{n.name or n.op_type}' ({n.op_type}) reads '{i}', which no node, "
                                            f"input or initializer defines")
        order, state = [], {}
        for start in g.node:
            if state.get(id(start)):
                continue
            stack = [(start, iter(start.input))]
            state[id(start)] = 1
            while stack:
                node, it = stack[-1]
                nxt = None
                for i in it:
                    p = produced.get(i)
                    if p is not None and i not in known:
                        s = state.get(id(p), 0)
                        if s == 1:
                            raise InvalidModelError(f"the graph has a cycle through node '{p.name or p.op_type}' "
                                                    f"({p.op_type}, output '{i}')")
                        if s == 0:
                            nxt = p
                            break
                if nxt is None:
                    state[id(node)] = 2
                    order.append(node)
                    stack.pop()
                else:
                    state[id(nxt)] = 1
                    stack.append((nxt, iter(nxt.input)))
        for o in g.output:
            if o.name not in known and o.name not in produced:
                raise InvalidModelError(f"graph output '{o.name}' is not produced by any node")
        self.order = order

    def _read_initializer(self, init, base_dir):
        onnx = _onnx()
        if init.data_location != onnx.TensorProto.EXTERNAL:
            try:
                return onnx.numpy_helper.to_array(init)
            except Exception as e:  # data size / dims / data type disagree
                raise InvalidModelError(f"initializer '{init.name}' is malformed (data type {init.data_type}, "
                                        f"dims {list(init.dims)}): {type(e).__name__}: {e}") from None
        info = {e.key: e.value for e in init.external_data}
        loc = info.get("location", "")
        if base_dir is None:
            raise InvalidModelError(f"initializer '{init.name}' uses external data '{loc}', but the model has no "
                                    f"directory (parse a file, or pass base_dir=)")
        if not loc or os.path.isabs(loc) or loc.startswith(("/", "\\")) or os.path.splitdrive(loc)[0]:
            raise InvalidModelError(f"external data file '{loc}' of initializer '{init.name}' is refused: "
                                    f"absolute paths are not allowed")
        if "\0" in loc:
            raise InvalidModelError(f"external data file {loc!r} of initializer '{init.name}' is refused: "
                                    f"the name holds a NUL character")
        parts = loc.replace("\\", "/").split("/")
        if ".." in parts:
            raise InvalidModelError(f"external data file '{loc}' of initializer '{init.name}' is refused: "
                                    f"'..' leaves the model's directory")
        root = os.path.realpath(base_dir)
        full = os.path.realpath(os.path.join(root, loc))
        if os.path.commonpath([root, full]) != root:
            raise InvalidModelError(f"external data file '{loc}' of initializer '{init.name}' is refused: it "
                                    f"resolves outside the model's directory")
        if not os.path.isfile(full):
            raise InvalidModelError(f"external data file '{loc}' of initializer '{init.name}' does not exist")
        try:
            offset = int(info.get("offset", 0) or 0)
            length = info.get("length")
            length = int(length) if length not in (None, "") else None
        except ValueError:
            raise InvalidModelError(f"external data of initializer '{init.name}' has a malformed offset/length "
                                    f"({info.get('offset')!r}, {info.get('length')!r})") from None
        size = os.path.getsize(full)
        if offset < 0 or offset > size or (length is not None and (length < 0 or offset + length > size)):
            raise InvalidModelError(f"external data of initializer '{init.name}': offset {offset} / length "
                                    f"{length} lie outside '{loc}' ({size} bytes)")
        with open(full, "rb") as f:
            f.seek(offset)
            raw = f.read(length) if length is not None else f.read()
        t = onnx.TensorProto()
        t.CopyFrom(init)
        del t.external_data[:]
        t.data_location = onnx.TensorProto.DEFAULT
        t.raw_data = raw
        try:
            return onnx.numpy_helper.to_array(t)
        except Exception as e:
            raise InvalidModelError(f"external data '{loc}' of initializer '{init.name}' is malformed: {e}") from None

    # ---- conversion ------------------------------------------------------------------------------
    def _convert(self, g):
        onnx = _onnx()
        from .. import registered_plugins
        from . import onnx_ops
        self.net = self.builder.create_network()
        self.tensors = {}
        self.dynamic_batch = False
        self.batch_source = None   # a network input whose dimension 0 is the symbolic batch
        self.symbolic = set()      # known values derived from the batch sentinel (Shape of a dynamic tensor)
        # Names some node or the graph reads (a Dropout mask nobody reads is not computed).
        self.consumed = {i for n in g.node for i in n.input if i} | {o.name for o in g.output}
        self._check_required_inputs(g)
        inits = set(self.consts)
        for vi in g.input:
            if vi.name in inits:
                continue
            if not vi.type.HasField("tensor_type") or not tt_known(vi.type.tensor_type.elem_type):
                raise UnsupportedError(f"input '{vi.name}' is not a tensor of a supported type "
                                       f"(sequence, optional, map and string inputs are not supported)")
            tt = vi.type.tensor_type
            np_dt = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type)
            dynamic_input = False
            if vi.name in self.input_shapes:
                shape = tuple(int(d) for d in self.input_shapes[vi.name])
            else:
                shape = []
                for k, d in enumerate(tt.shape.dim):
                    if d.HasField("dim_value"):
                        shape.append(d.dim_value)
                    elif k == 0:
                        shape.append(self.batch)
                        self.dynamic_batch = True
                        dynamic_input = True
                    else:
                        raise UnsupportedError(f"input '{vi.name}' has a symbolic dimension {k} "
                                               f"('{d.dim_param}'); only dimension 0 (the batch) may be symbolic "
                                               f"(pass input_shapes=)")
            if not shape:
                raise UnsupportedError(f"input '{vi.name}' is a scalar (rank 0); gie inputs need a dimension 0, "
                                       f"the batch")
            if any(d <= 0 for d in shape):
                raise UnsupportedError(f"input '{vi.name}' has shape {tuple(shape)}; empty dimensions are not "
                                       f"supported")
            try:
                dt = _gie_dtype(np_dt)
            except _Unsupported as e:
                raise UnsupportedError(f"input '{vi.name}': {e}") from None
            self.tensors[vi.name] = self.net.add_input(vi.name, dt, tuple(shape))
            if dynamic_input and self.batch_source is None:
                self.batch_source = self.tensors[vi.name]
        plugins = {p[0] for p in registered_plugins()}
        # Pass 1: every node type nobody can import, listed all at once.
        missing = []
        for n in self.order:
            if n.domain not in ("", "ai.onnx") and n.op_type not in plugins:
                missing.append(n)
            elif n.op_type not in onnx_ops.CONVERTERS and n.op_type not in onnx_ops.FOLD_ONLY \
                    and n.op_type not in onnx_ops.SPECIAL_FOLD and n.op_type not in plugins:
                missing.append(n)
        errors = []
        dead = set()
        missing = {id(n) for n in missing}
        for n in self.order:
            if id(n) in missing:
                errors.append(self._describe(n, "no converter"))
                dead.update(n.output)
                continue
            if any(i in dead for i in n.input):
                dead.update(n.output)
                continue
            try:
                self._convert_node(n, plugins, onnx_ops)
            except _Unsupported as e:
                errors.append(self._describe(n, str(e)))
                dead.update(n.output)
            except InvalidModelError as e:
                raise InvalidModelError(f"node '{n.name or n.op_type}' ({n.op_type}): {e}") from None
            except UnsupportedError as e:
                errors.append(self._describe(n, str(e)))
                dead.update(n.output)
            except Exception as e:  # a malformed node (missing attribute, bad value)
                if isinstance(e, (InvalidModelError,)) or type(e).__module__.startswith("gie"):
                    raise
                raise InvalidModelError(f"node '{n.name or n.op_type}' ({n.op_type}): "
                                        f"{type(e).__name__}: {e}") from None
        if errors:
            raise UnsupportedError(f"{len(errors)} ONNX node(s) cannot be imported:\n  " + "\n  ".join(errors))
        for o in g.output:
            try:
                t = self.tensor(o.name)
            except _Unsupported as e:  # a folded (constant) output gie cannot hold
                raise UnsupportedError(f"graph output '{o.name}': {e}") from None
            if t.is_network_output or t.is_network_input or o.name in [x.name for x in self.net.outputs]:
                t = self.net.add_identity(t).output(0)
            self.net.mark_output(t, o.name)
        return self.net

    def _check_required_inputs(self, g):
        """An empty input name means "absent": allowed only where the op's schema marks the input optional
        (onnx.checker refuses it for single inputs, but not inside a variadic list such as Concat's)."""
        from onnx import defs
        opt = defs.OpSchema.FormalParameterOption
        for n in g.node:
            if n.domain not in ("", "ai.onnx") or all(n.input):
                continue
            try:
                formal = defs.get_schema(n.op_type, self.opset, "").inputs
            except Exception:  # no schema (unknown op): reported as unsupported later
                continue
            for k, name in enumerate(n.input):
                if name or not formal:
                    continue
                f = formal[min(k, len(formal) - 1)]
                if k >= len(formal) and f.option != opt.Variadic:
                    continue  # more inputs than the schema has: the checker's (or the converter's) error
                if f.option != opt.Optional:
                    raise InvalidModelError(f"node '{n.name or n.op_type}' ({n.op_type}): input {k} ('{f.name}') "
                                            f"is required, but its name is empty (an empty name means a missing "
                                            f"input, allowed only for optional inputs)")

    def _describe(self, n, why):
        return f"'{n.name or '(unnamed)'}' {n.domain + '.' if n.domain else ''}{n.op_type} (opset {self.opset}): {why}"

    def _convert_node(self, n, plugins, onnx_ops):
        a = _attrs(n)
        ins = list(n.input)
        if n.domain not in ("", "ai.onnx"):  # a custom-domain op: only a plugin can take it
            layer = self.net.add_plugin(n.op_type, [self.tensor(i) for i in ins if i],
                                        {k: tuple(v) if isinstance(v, list) else v for k, v in a.items()})
            for k, o in enumerate(n.output):
                if o:
                    self.tensors[o] = layer.output(k)
            return
        if n.op_type in onnx_ops.VALIDATORS:  # what the spec forbids is refused whether the node folds or not
            onnx_ops.VALIDATORS[n.op_type](self, n, a)
        # Constant folding: every (non-empty) input known.
        why = None
        if n.op_type in onnx_ops.SPECIAL_FOLD:
            vals = onnx_ops.SPECIAL_FOLD[n.op_type](self, n, a)
            if vals is not None:
                self._set_consts(n, vals)
                return
        elif all(i == "" or i in self.consts for i in ins) and n.op_type not in onnx_ops.NO_FOLD:
            why = onnx_ops.fold_refusal(self, n)
            vals = onnx_ops.fold(self, n) if why is None else None
            if vals is not None:
                self._set_consts(n, vals)
                return
            if why is not None and n.op_type not in onnx_ops.CONVERTERS:
                raise _Unsupported(why)
        if n.op_type in onnx_ops.CONVERTERS:
            try:
                outs = onnx_ops.CONVERTERS[n.op_type](self, n, a)
            except _Unsupported as e:
                if why is None:
                    raise
                raise _Unsupported(f"{why}; as a layer: {e}") from None
        elif n.op_type in plugins:
            fields = {}
            for k, v in a.items():
                if isinstance(v, list):
                    v = tuple(v)
                fields[k] = v
            layer = self.net.add_plugin(n.op_type, [self.tensor(i) for i in ins if i], fields)
            outs = [layer.output(k) for k in range(len(n.output))]
        else:
            raise _Unsupported("inputs are not all constant")
        if not isinstance(outs, (list, tuple)):
            outs = [outs]
        for o, t in zip(n.output, outs):
            if o:
                if hasattr(t, "output"):
                    t = t.output(0)
                self.tensors[o] = t
                if n.name and hasattr(t, "producer"):
                    try:
                        t.producer.name = n.name
                    except Exception:
                        pass

    def _set_consts(self, n, vals):
        # A value computed from the batch sentinel is symbolic: its multiples of BATCH stand for the batch.
        symbolic = any(i in self.symbolic for i in n.input if i) or (
            n.op_type == "Shape" and self.dynamic_batch and any(np.any(np.asarray(v) == BATCH) for v in vals))
        for o, v in zip(n.output, vals):
            if o:
                self.consts[o] = v
                if symbolic:
                    self.symbolic.add(o)

    # ---- helpers used by the converters ----------------------------------------------------------
    def is_const(self, name):
        return name in self.consts

    def const(self, name):
        return self.consts[name]

    def tensor(self, name, dtype=None):
        """The gie tensor of ``name``; a known value becomes a Constant layer (cast to dtype)."""
        if name in self.tensors:
            return self.tensors[name]
        if name in self.consts:
            v = np.asarray(self.consts[name])
            if dtype is not None:
                v = v.astype(_np_of_gie(dtype))
            return self.constant(v)
        raise InvalidModelError(f"tensor '{name}' is not defined")

    def constant(self, v):
        v = np.asarray(v)
        if v.dtype == np.bool_:  # add_constant stores integers as int32: cast back
            t = self.net.add_constant(v.shape, v.astype(np.int32)).output(0)
            return self.net.add_cast(t, _C.DataType.bool).output(0)
        if v.dtype.kind == "f" and v.dtype != np.float16:
            v = v.astype(np.float32)
        elif v.dtype.kind in "iub":
            if v.size and (v.max() > 2**31 - 1 or v.min() < -2**31):
                v = np.clip(v, -2**31, 2**31 - 1)
            v = v.astype(np.int32)
        else:
            raise _Unsupported(f"constant of type {v.dtype}")
        return self.net.add_constant(v.shape, v).output(0)

    def shape(self, name):
        if name in self.consts:
            return tuple(np.shape(self.consts[name]))
        return tuple(self.tensor(name).shape)
