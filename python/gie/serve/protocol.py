"""The Open Inference Protocol (KServe v2, also spoken by Triton) over HTTP: request parsing and validation
against a served engine, responses, errors. Pure functions on bytes and numpy arrays, no Ray: the Serve replica
(:mod:`gie.serve.deployment`) calls them.

Covered: ``GET /v2`` (server metadata), ``GET /v2/health/live|ready``, ``GET /v2/models/{name}[/ready]`` (model
metadata), ``POST /v2/models/{name}/infer`` with JSON tensors (``data``: a flat row-major list or nested lists)
and the binary tensor data extension (``binary_data_size`` on inputs, ``binary_data`` on requested outputs,
``binary_data_output`` on the request, the JSON header's length in ``Inference-Header-Content-Length``).
Errors are ``{"error": "..."}`` with status 400 (a malformed request: the message names the input, output or
field) or 404 (an unknown model).
"""
import json

import numpy as np

__all__ = ["ProtocolError", "ModelSpec", "InferRequest", "parse_infer_request", "encode_infer_response",
           "error_body", "datatype_of", "HEADER_LENGTH", "EXTENSIONS"]

HEADER_LENGTH = "inference-header-content-length"  # HTTP header names are case-insensitive
EXTENSIONS = ["binary_tensor_data"]

# Protocol datatype <-> numpy dtype; little-endian, as the binary extension specifies.
_DATATYPES = {"BOOL": np.dtype(np.bool_), "UINT8": np.dtype("<u1"), "UINT16": np.dtype("<u2"),
              "UINT32": np.dtype("<u4"), "UINT64": np.dtype("<u8"), "INT8": np.dtype("<i1"),
              "INT16": np.dtype("<i2"), "INT32": np.dtype("<i4"), "INT64": np.dtype("<i8"),
              "FP16": np.dtype("<f2"), "FP32": np.dtype("<f4"), "FP64": np.dtype("<f8")}


class ProtocolError(Exception):
    """A request the protocol refuses: ``status`` (400 malformed, 404 unknown model) and a message naming what."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def datatype_of(dtype):
    """The protocol's name of a numpy dtype (float32 -> "FP32")."""
    dtype = np.dtype(dtype).newbyteorder("<") if np.dtype(dtype).byteorder == ">" else np.dtype(dtype)
    for name, dt in _DATATYPES.items():
        if dt == dtype:
            return name
    raise ValueError(f"numpy dtype {dtype} has no Open Inference Protocol datatype")


def error_body(message):
    return json.dumps({"error": str(message)}).encode()


class ModelSpec:
    """What a served engine accepts and returns: name, inputs and outputs as (name, datatype, shape) with -1 for
    the batch dimension, the largest batch one engine run takes. Made from a gie engine (:meth:`from_engine`) or
    from the same facts (``ModelSpec(name, inputs, outputs, max_batch)``)."""

    def __init__(self, name, inputs, outputs, max_batch, platform="gie"):
        self.name = name
        self.inputs = [(n, d, tuple(int(v) for v in s)) for n, d, s in inputs]
        self.outputs = [(n, d, tuple(int(v) for v in s)) for n, d, s in outputs]
        self.max_batch = int(max_batch)
        self.platform = platform
        self._inputs = {n: (d, s) for n, d, s in self.inputs}
        self._outputs = {n: (d, s) for n, d, s in self.outputs}

    @classmethod
    def from_engine(cls, engine, name, max_batch=None):
        """The spec of ``engine`` served as ``name`` with batches of at most ``max_batch`` (default and at most:
        the engine's maximum)."""
        from ..engine import numpy_dtype

        def tensors(names):
            out = []
            for n in names:
                shape = list(engine.get_tensor_shape(n))
                shape[0] = -1  # dimension 0 is the batch: any count, split into runs of at most max_batch
                out.append((n, datatype_of(numpy_dtype(engine.get_tensor_dtype(n))), shape))
            return out

        platform = f"gie_{str(getattr(engine.device, 'name', engine.device)).lower()}"
        batch = min(int(max_batch or engine.max_batch), engine.max_batch)
        return cls(name, tensors(engine.input_names), tensors(engine.output_names), batch, platform)

    def metadata(self):
        def entries(ts):
            return [{"name": n, "datatype": d, "shape": list(s)} for n, d, s in ts]

        return {"name": self.name, "versions": ["1"], "platform": self.platform,
                "inputs": entries(self.inputs), "outputs": entries(self.outputs),
                "parameters": {"max_batch_size": self.max_batch}}

    def __reduce__(self):
        return (ModelSpec, (self.name, self.inputs, self.outputs, self.max_batch, self.platform))


class InferRequest:
    """A parsed, validated inference request: ``inputs`` {name: array with the batch first}, ``batch`` (samples),
    ``outputs`` [(name, as_binary)] in the order to return them, ``id`` (echoed back) or None."""

    def __init__(self, id, inputs, batch, outputs):
        self.id = id
        self.inputs = inputs
        self.batch = batch
        self.outputs = outputs


def _shape_text(shape):
    return "[" + ", ".join(str(v) for v in shape) + "]"


def _parameters(obj, where):
    params = obj.get("parameters", {})
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise ProtocolError(f"{where}: 'parameters' must be an object")
    return params


def _as_bool(value, where):
    if not isinstance(value, bool):
        raise ProtocolError(f"{where} must be true or false, not {json.dumps(value)}")
    return value


def _split_body(body, header_length):
    """(JSON header, binary tail) of a request body; the header length comes from Inference-Header-Content-Length."""
    if header_length is None:
        return body, b""
    try:
        n = int(header_length)
    except (TypeError, ValueError):
        raise ProtocolError(f"Inference-Header-Content-Length must be an integer, not '{header_length}'") from None
    if not 0 <= n <= len(body):
        raise ProtocolError(f"Inference-Header-Content-Length is {n}, but the body has {len(body)} bytes")
    return body[:n], body[n:]


def _input_array(spec, item, k, binary, offset):
    """The numpy array of request input ``item``; returns (array, new offset into the binary tail)."""
    if not isinstance(item, dict):
        raise ProtocolError(f"inputs[{k}] must be an object with name, shape, datatype and data")
    name = item.get("name")
    if not isinstance(name, str):
        raise ProtocolError(f"inputs[{k}]: 'name' must be a string")
    if name not in spec._inputs:
        raise ProtocolError(f"unknown input '{name}'; model '{spec.name}' has inputs "
                            f"{', '.join(repr(n) for n, _, _ in spec.inputs)}")
    want_type, want_shape = spec._inputs[name]
    datatype = item.get("datatype")
    if datatype != want_type:
        raise ProtocolError(f"input '{name}': datatype {json.dumps(datatype)}; model '{spec.name}' expects {want_type}")
    shape = item.get("shape")
    if (not isinstance(shape, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in shape)):
        raise ProtocolError(f"input '{name}': 'shape' must be a list of integers, not {json.dumps(shape)}")
    if (len(shape) != len(want_shape) or shape[0] < 1
            or any(got != want for got, want in zip(shape[1:], want_shape[1:]))):
        raise ProtocolError(f"input '{name}': shape {_shape_text(shape)} does not match the model's "
                            f"{_shape_text(want_shape)} (-1: any batch of 1 or more)")
    dtype = _DATATYPES[want_type]
    count = int(np.prod(shape))
    params = _parameters(item, f"input '{name}'")
    size = params.get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ProtocolError(f"input '{name}': binary_data_size must be a non-negative integer")
        if "data" in item:
            raise ProtocolError(f"input '{name}': has both 'data' and binary_data_size; give one")
        if size != count * dtype.itemsize:
            raise ProtocolError(f"input '{name}': binary_data_size is {size} bytes; shape {_shape_text(shape)} of "
                                f"{want_type} needs {count * dtype.itemsize}")
        if offset + size > len(binary):
            raise ProtocolError(f"input '{name}': binary_data_size {size} runs past the end of the body "
                                f"({len(binary) - offset} bytes of binary data left; is "
                                "Inference-Header-Content-Length set?)")
        arr = np.frombuffer(binary, dtype=dtype, count=count, offset=offset).reshape(shape)
        return arr, offset + size
    if "data" not in item:
        raise ProtocolError(f"input '{name}': no 'data' and no binary_data_size parameter")
    try:
        arr = np.asarray(item["data"], dtype=dtype)
    except (TypeError, ValueError, OverflowError) as e:
        raise ProtocolError(f"input '{name}': 'data' is not a list of {want_type} values ({e})") from None
    if arr.size != count:
        raise ProtocolError(f"input '{name}': 'data' has {arr.size} elements; shape {_shape_text(shape)} needs {count}")
    return arr.reshape(shape), offset


def parse_infer_request(spec, body, header_length=None):
    """Parses and validates the body of ``POST /v2/models/{name}/infer`` for ``spec``; raises ProtocolError."""
    head, binary = _split_body(body, header_length)
    try:
        req = json.loads(head)
    except (ValueError, UnicodeDecodeError) as e:
        hint = "" if header_length is not None else " (binary data needs the Inference-Header-Content-Length header)"
        raise ProtocolError(f"the request is not valid JSON: {e}{hint}") from None
    if not isinstance(req, dict):
        raise ProtocolError("the request must be a JSON object with 'inputs'")
    items = req.get("inputs")
    if not isinstance(items, list) or not items:
        raise ProtocolError("the request has no 'inputs' list")
    inputs, offset = {}, 0
    for k, item in enumerate(items):
        arr, offset = _input_array(spec, item, k, binary, offset)
        if item["name"] in inputs:
            raise ProtocolError(f"input '{item['name']}' is given twice")
        inputs[item["name"]] = arr
    if offset != len(binary):
        raise ProtocolError(f"the body has {len(binary) - offset} bytes of binary data that no input's "
                            "binary_data_size accounts for")
    missing = [n for n, _, _ in spec.inputs if n not in inputs]
    if missing:
        raise ProtocolError(f"missing input{'s' if len(missing) > 1 else ''} {', '.join(repr(n) for n in missing)} "
                            f"of model '{spec.name}'")
    batches = {n: a.shape[0] for n, a in inputs.items()}
    if len(set(batches.values())) > 1:
        raise ProtocolError("the inputs' first (batch) dimensions differ: "
                            + ", ".join(f"'{n}' {b}" for n, b in batches.items()))

    default_binary = _as_bool(_parameters(req, "the request").get("binary_data_output", False),
                              "parameter binary_data_output")
    wanted = req.get("outputs")
    if wanted is None:
        outputs = [(n, default_binary) for n, _, _ in spec.outputs]
    else:
        if not isinstance(wanted, list):
            raise ProtocolError("'outputs' must be a list of objects with a name")
        outputs = []
        for k, out in enumerate(wanted):
            name = out.get("name") if isinstance(out, dict) else None
            if not isinstance(name, str):
                raise ProtocolError(f"outputs[{k}]: 'name' must be a string")
            if name not in spec._outputs:
                raise ProtocolError(f"unknown output '{name}'; model '{spec.name}' has outputs "
                                    f"{', '.join(repr(n) for n, _, _ in spec.outputs)}")
            binary_out = _parameters(out, f"output '{name}'").get("binary_data", default_binary)
            outputs.append((name, _as_bool(binary_out, f"output '{name}': parameter binary_data")))
    rid = req.get("id")
    if rid is not None and not isinstance(rid, str):
        raise ProtocolError("'id' must be a string")
    return InferRequest(rid, inputs, next(iter(batches.values())), outputs)


def encode_infer_response(spec, request, results):
    """(body bytes, headers) of the response to ``request`` with ``results`` {output name: array}."""
    entries, tail = [], []
    for name, binary in request.outputs:
        arr = np.ascontiguousarray(results[name])
        entry = {"name": name, "datatype": datatype_of(arr.dtype), "shape": list(arr.shape)}
        if binary:
            data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
            entry["parameters"] = {"binary_data_size": len(data)}
            tail.append(data)
        else:
            entry["data"] = arr.ravel().tolist()
        entries.append(entry)
    doc = {"model_name": spec.name, "model_version": "1", "outputs": entries}
    if request.id is not None:
        doc["id"] = request.id
    head = json.dumps(doc, separators=(",", ":")).encode()
    if not tail:
        return head, {"content-type": "application/json"}
    return head + b"".join(tail), {"content-type": "application/octet-stream", HEADER_LENGTH: str(len(head))}
