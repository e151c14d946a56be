"""Python plugins used by tests/test_python_plugins.py and tests/test_plugin_check.py; importing this module registers
them (a process that loads an engine using them imports it first).

    PyScale     y = alpha * x + beta (fields alpha, beta); cpu and gpu (cupy or torch on the plugin's stream)
    PySplitMax  two outputs: x reversed along dimension 1 (float32) and its argmax over dimension 1 (int32)
    PyFields    every kind of field: y = x * sum(weights) + count (+ 1 if on; label and flags only serialized)
    PyFails     enqueue raises
    PyChannelsLast  y = (c + 1) * x in NHWC only (strided numpy views)
"""
import numpy as np

import gie


def _gpu_module():
    try:
        import cupy
        return "cupy", cupy
    except ImportError:
        import torch
        return "torch", torch


@gie.register_plugin
class Scale(gie.Plugin):
    name = "PyScale"
    device = ("cpu", "gpu")
    fields = {"alpha": 2.0, "beta": 0.0}

    def validate(self):
        if not np.isfinite(self.alpha) or self.alpha == 0:
            raise ValueError(f"field 'alpha' must be finite and non-zero, not {self.alpha}")

    def enqueue(self, inputs, outputs, stream):
        if stream is None:  # the CPU: numpy views of gie's buffers
            np.multiply(inputs[0], np.float32(self.alpha), out=outputs[0])
            outputs[0] += np.float32(self.beta)
            return
        kind, mod = _gpu_module()  # the GPU: device arrays, work enqueued on gie's stream
        if kind == "cupy":
            with mod.cuda.ExternalStream(stream):
                y = mod.asarray(outputs[0])
                mod.multiply(mod.asarray(inputs[0]), self.alpha, out=y)
                y += self.beta
        else:
            s = mod.cuda.ExternalStream(stream) if stream else mod.cuda.default_stream()
            with mod.cuda.stream(s):
                y = mod.as_tensor(outputs[0], device="cuda")
                y.copy_(mod.as_tensor(inputs[0], device="cuda") * self.alpha + self.beta)


@gie.register_plugin
class SplitMax(gie.Plugin):
    name = "PySplitMax"
    num_outputs = 2

    def output_shapes(self, input_shapes):
        s = input_shapes[0]
        return [s, s[:1] + s[2:]]

    def output_dtypes(self, input_dtypes):
        return [np.float32, np.int32]

    def supports_format(self, pos, dtypes, formats, num_inputs):
        want = np.int32 if pos == 2 else np.float32
        return dtypes[pos] == want and formats[pos] == "linear"

    def enqueue(self, inputs, outputs, stream):
        outputs[0][...] = inputs[0][:, ::-1]
        outputs[1][...] = inputs[0].argmax(axis=1)


@gie.register_plugin
class Fields(gie.Plugin):
    name = "PyFields"
    fields = {"count": 3, "weights": [0.5, 0.25], "flags": [1, 2, 3], "label": "none", "on": False}

    def enqueue(self, inputs, outputs, stream):
        outputs[0][...] = inputs[0] * np.float32(sum(self.weights)) + np.float32(self.count + (1 if self.on else 0))


@gie.register_plugin
class Fails(gie.Plugin):
    name = "PyFails"

    def enqueue(self, inputs, outputs, stream):
        raise RuntimeError("deliberate failure in a Python enqueue")


@gie.register_plugin
class ChannelsLast(gie.Plugin):
    """y[n, c, h, w] = (c + 1) * x, taking and giving NHWC only: the arrays are logical (N, C, H, W) views whose
    channel stride is one element."""
    name = "PyChannelsLast"
    formats = [(np.float32, "nhwc")]

    def enqueue(self, inputs, outputs, stream):
        x, y = inputs[0], outputs[0]
        assert x.strides[1] == x.itemsize and y.strides[1] == y.itemsize, (x.strides, y.strides)
        y[...] = x * np.arange(1, x.shape[1] + 1, dtype=np.float32)[None, :, None, None]
