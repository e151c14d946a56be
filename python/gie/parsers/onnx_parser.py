"""ONNX importer: Python face of the C++ importer (gie/onnx_parser.h), which builds a gie network from an ONNX
model (opsets 7 and later) through the public network API.

    net = gie.OnnxParser().parse("model.onnx")          # or a onnx.ModelProto
    engine = gie.Builder().build(net, config)

Importing needs no onnx package. Values known at import time (initializers, Constant nodes, Shape of tensors whose
shapes are known, arithmetic on them) are folded by the C++ importer, so shape-computing subgraphs disappear; see
docs/onnx.md for the op table and limits. When the onnx package is installed and ``check`` is true, the model is
also validated with ``onnx.checker`` (a Python convenience: the checker's schemas are onnx's own).
"""
import os
import re

from .. import _C
from ..errors import InvalidModelError, UnsupportedError

# Errors the C++ importer finds before converting any node (reading, opset, names, structure, initializers):
# they come before onnx.checker's verdict, as they always did.
_EARLY = ("cannot read ONNX model", "ONNX model:", "ONNX opset", "the name of node #", "the op_type of node #",
          "the domain of node #", "an input/output name of node #", "an attribute name of node #", "string attribute '",
          "a graph input/output/value_info name", "an initializer name", "an external_data ", "the graph has a cycle",
          "graph output '", "initializer '", "external data", "sparse initializer")

_DANGLING = re.compile(r"node '.*' \(.*\) reads '.*', which no node, input or initializer defines", re.S)


def _onnx_or_none():
    try:
        import onnx
    except ImportError:
        return None
    return onnx


class OnnxParser:
    """Imports ONNX models.

    Symbolic dimensions beyond 0 become dynamic (-1; a symbolic dimension 0 beside them too): build with an
    optimization profile (docs/dynamic_shapes.md). Options: ``batch`` (the size used for a lone symbolic dimension 0
    at definition time, default 1), ``input_shapes`` ({name: shape} overriding the model's input shapes, e.g.
    pinning symbolic dimensions), ``check`` (also run onnx.checker when
    the onnx package is installed, default True), ``base_dir`` (folder for external data when parsing a
    ModelProto), ``plugin_fallback`` (import op types without a converter as registered plugins, default True).
    """

    def __init__(self, builder=None, batch=1, input_shapes=None, check=True, base_dir=None, plugin_fallback=True):
        from ..engine import Builder
        self.builder = builder if builder is not None else Builder()
        self.batch = int(batch)
        self.input_shapes = dict(input_shapes or {})
        self.check = check
        self.base_dir = base_dir
        self.plugin_fallback = bool(plugin_fallback)

    def parse(self, model):
        path = data = None
        base_dir = self.base_dir
        if isinstance(model, (str, bytes, os.PathLike)):
            path = os.fsdecode(os.fspath(model))
            base_dir = os.path.dirname(os.path.abspath(path))
        else:
            try:
                data = model.SerializeToString()
            except AttributeError:
                raise InvalidModelError(f"expected a path or onnx.ModelProto, got {type(model).__name__}") from None
        net = self.builder.create_network()
        shapes = {k: tuple(int(d) for d in v) for k, v in self.input_shapes.items()}
        error = None
        try:
            _C._parse_onnx(net, path, data, None if base_dir is None else os.fspath(base_dir), self.batch, shapes,
                           self.plugin_fallback)
        except (InvalidModelError, UnsupportedError) as e:
            if str(e).startswith(_EARLY) or _DANGLING.match(str(e)):
                raise
            error = e
        onnx = _onnx_or_none() if self.check else None
        if onnx is not None:
            m = model
            if data is None:
                try:
                    m = onnx.load(path, load_external_data=False)
                except Exception as e:  # noqa: BLE001 - protobuf refuses what gie's reader let through
                    raise (error or InvalidModelError(f"cannot read ONNX model '{path}': {e}")) from None
            _run_checker(onnx, m, base_dir)
        if error is not None:
            raise error
        return net


def _run_checker(onnx, model, base_dir):
    m = model
    if any(i.data_location == onnx.TensorProto.EXTERNAL for i in model.graph.initializer):
        # The C++ importer has already read (and confined) the external data; the checker needs it inline.
        from onnx import external_data_helper
        m = onnx.ModelProto()
        m.CopyFrom(model)
        try:
            for i in m.graph.initializer:
                if i.data_location == onnx.TensorProto.EXTERNAL:
                    external_data_helper.load_external_data_for_tensor(i, base_dir)
                    del i.external_data[:]
                    i.data_location = onnx.TensorProto.DEFAULT
        except Exception:  # noqa: BLE001 - onnx cannot load what gie refused already: gie's error stands
            return
    try:
        onnx.checker.check_model(m)
    except onnx.checker.ValidationError as e:
        msg = str(e).strip().splitlines()
        raise InvalidModelError("ONNX model is invalid: " + " | ".join(l for l in msg if l.strip())[:2000]) from None
    except UnicodeDecodeError as e:  # the checker's message quotes a name that is not valid UTF-8
        msg = e.object.decode("utf-8", "replace").strip().splitlines() if isinstance(e.object, bytes) else [str(e)]
        raise InvalidModelError("ONNX model is invalid (a name is not valid UTF-8): "
                                + " | ".join(l for l in msg if l.strip())[:2000]) from None


def supported_ops():
    """The default-domain ONNX op types the importer converts or folds (registered plugins come on top)."""
    return set(_C._onnx_operators())
