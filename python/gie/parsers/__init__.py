"""Model importers. Each builds a gie network only through the public network API.

    net = gie.parse("model.onnx")                       # or .prototxt (+ .caffemodel), .cfg (+ .weights)
    engine = gie.Builder().build(net, config)

``parse`` returns a :class:`gie.NetworkDefinition` whose builder is kept alive with it; use
``gie.Builder().build(net, config)`` (any builder) to build it.
"""
import os

from ..errors import InvalidArgumentError, InvalidModelError, path_argument


def parse(path, weights=None, builder=None, **options):
    """Imports a model file, choosing the importer from the file name:

    - ``.onnx``: ONNX (weights inside, or external data files in the model's directory)
    - ``.prototxt`` / ``.pbtxt``: Caffe deploy definition; ``weights``: optional ``.caffemodel``
    - ``.cfg``: Darknet; ``weights``: optional ``.weights``

    Without weights (Caffe, Darknet) the layers get seeded random weights, for benchmarks.
    """
    path = path_argument(path, "gie.parse: the model file")
    if weights is not None:
        weights = path_argument(weights, "gie.parse: weights")
    if not os.path.exists(path):
        raise InvalidArgumentError(f"model file '{path}' does not exist")
    if os.path.isdir(path):
        raise InvalidArgumentError(f"model file '{path}' is a directory")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".onnx":
        from .onnx_parser import OnnxParser
        return OnnxParser(builder=builder, **options).parse(path)
    if ext in (".prototxt", ".pbtxt"):
        from .caffe_parser import CaffeParser
        return CaffeParser(builder=builder, **options).parse(path, weights)
    if ext == ".cfg":
        from .darknet_parser import DarknetParser
        return DarknetParser(builder=builder, **options).parse(path, weights)
    raise InvalidModelError(f"cannot tell the format of '{path}': expected .onnx, .prototxt (Caffe) or .cfg (Darknet)")


def __getattr__(name):
    # Lazy: importing gie must not require onnx or protobuf.
    if name == "OnnxParser":
        from .onnx_parser import OnnxParser
        return OnnxParser
    if name == "CaffeParser":
        from .caffe_parser import CaffeParser
        return CaffeParser
    if name == "DarknetParser":
        from .darknet_parser import DarknetParser
        return DarknetParser
    raise AttributeError(name)
