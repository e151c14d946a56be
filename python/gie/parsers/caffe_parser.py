"""Caffe importer: a deploy ``.prototxt`` (text) plus an optional ``.caffemodel`` (binary) -> gie network. The import
itself is the C++ importer (``gie/caffe_parser.h``); this class keeps the Python API.

    net = gie.parse("deploy.prototxt", "weights.caffemodel")
    parser = CaffeParser(seed=0); net = parser.parse("deploy.prototxt")   # seeded random weights
    parser.blobs["conv1"]                                                  # the weights used, Caffe layout

Both the current ``layer {}`` and the legacy V1 ``layers {}`` formats are read. Every failure is a
:class:`gie.Error` subclass whose message names the layer (and field) at fault. See docs/caffe.md.
"""
import os

from .. import _C
from ..errors import InvalidArgumentError, InvalidModelError

_DEFAULT_MAX_WEIGHTS = 1 << 28   # elements of one random-initialised blob


class CaffeParser:
    """Imports Caffe models.

    Options:
      builder: a gie.Builder (default: a new one); the network is created by it.
      seed: seed of the random weights used when no caffemodel is given, or a layer has no blobs there.
      batch: overrides dimension 0 of every input.
      outputs: names of the blobs to mark as outputs (default: every top no later layer consumes).
      plugin_fields: {layer name or type: {field: value}} for layers imported as plugins.
      max_weight_elements: largest blob generated at random (guards against absurd prototxts).
    """

    def __init__(self, builder=None, seed=0, batch=None, outputs=None, plugin_fields=None,
                 max_weight_elements=_DEFAULT_MAX_WEIGHTS):
        self.builder = builder
        self.seed = int(seed)
        self.batch = batch
        self.outputs = list(outputs) if outputs is not None else None
        self.plugin_fields = dict(plugin_fields or {})
        self.max_weight_elements = int(max_weight_elements)
        self.blobs = {}       # layer name -> [np.ndarray] as used (Caffe layouts)

    def parse(self, prototxt, weights=None):
        """prototxt: path of a text NetParameter. weights: optional path of a binary .caffemodel."""
        text = self._read(prototxt, "prototxt")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidModelError(f"prototxt '{prototxt}' is not UTF-8 text: {e}") from None
        blob = self._read(weights, "caffemodel") if weights is not None else None
        return self.parse_string(text, blob, name=os.fspath(prototxt))

    def parse_string(self, text, caffemodel=None, name="<prototxt>"):
        """Like :meth:`parse` with the prototxt text and the caffemodel bytes (or None) given directly."""
        from .._logging import make_log_function
        from ..engine import Builder
        from ..network import _to_field
        if self.builder is None:
            self.builder = Builder()
        net = self.builder.create_network()
        imp = _C._CaffeImporter(net, make_log_function())
        imp.set_options(self.seed, 0 if self.batch is None else int(self.batch), self.outputs, self.max_weight_elements)
        for key, fields in self.plugin_fields.items():
            for fname, value in (fields or {}).items():
                imp.set_plugin_field(str(key), str(fname), _to_field(value, fname))
        if isinstance(text, str):
            text = text.encode("utf-8", "surrogatepass")
        try:
            imp.parse(bytes(text), None if caffemodel is None else bytes(caffemodel), str(name))
        finally:
            self.blobs = imp.blobs()
        return net

    @staticmethod
    def _read(path, what):
        try:
            with open(os.fspath(path), "rb") as f:
                return f.read()
        except (OSError, TypeError) as e:
            raise InvalidArgumentError(f"cannot read {what} '{path}': {e}") from None
