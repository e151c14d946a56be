"""Refit: new weights for a built engine without a rebuild (issue 18; docs/tools.md, "Refit").

    config.refittable = True                  # at build time
    engine = builder.build(net, config)
    refitter = gie.Refitter(engine)
    refitter.set_weights("conv1", "kernel", new_kernel)   # a layer whose weights the engine holds as given
    refitter.set_model("retrained.onnx")                  # or every weight, from a model of the same architecture
    refitter.refit()                                      # the engine now runs the new weights

Kernels, tactics, formats and the memory plan stay as built: nothing is timed again.
"""
import numpy as np

from . import _C
from .engine import Engine
from .errors import InvalidArgumentError


class Refitter:
    """Replaces weights of ``engine`` (a :class:`gie.Engine` built with ``config.refittable = True``).

    Raises :class:`gie.InvalidArgumentError` at once for an engine built without it. Every mismatch (an unknown
    layer or field, another count of values, another type, another architecture) is refused naming the layer, and
    leaves the engine as it was."""

    def __init__(self, engine):
        if not isinstance(engine, Engine):
            raise InvalidArgumentError(f"gie.Refitter needs a gie.Engine, not {type(engine).__name__}")
        self._engine = engine
        self._impl = _C._Refitter(engine._impl)

    def set_weights(self, layer, field, values):
        """New values for the FP32 weight field ``field`` ("kernel", "bias", ...) of ``layer``: any array of that
        field's element count (it is flattened, C order). A layer whose weights the optimizer combined with another
        layer's (a BatchNorm folded into a convolution, merged 1x1 siblings) is refused: use :meth:`set_model` or
        :meth:`set_network`."""
        try:
            arr = np.ascontiguousarray(np.asarray(values, dtype=np.float32)).reshape(-1)
        except (TypeError, ValueError) as e:
            raise InvalidArgumentError(f"set_weights('{layer}', '{field}'): values are not numbers ({e})") from None
        self._impl.set_weights(str(layer), str(field), arr)
        return self

    def set_network(self, network):
        """Every weight from ``network`` (a :class:`gie.NetworkDefinition` of the engine's architecture), folded
        weights included: the optimizer's passes run again on it and each kernel takes its new fields."""
        self._impl.set_network(network)
        return self

    def set_model(self, path, weights=None, **parse_options):
        """:meth:`set_network` from a model file (ONNX, Caffe, Darknet; as :func:`gie.parse` reads it)."""
        from .parsers import parse

        return self.set_network(parse(path, weights=weights, **parse_options))

    def refit(self):
        """Puts the weights set so far into the engine and returns it. Contexts created before keep running the old
        weights (they hold the engine as it was); new contexts get the new ones. The refitter may be used again."""
        impl = self._impl.refit()
        self._engine._impl = impl
        return self._engine
