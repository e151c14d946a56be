"""Helpers for layer tests: build a one-off network, run it, compare with a numpy reference."""
import numpy as np

import gie


def build(define, inputs, max_batch=None, device="cpu", passes_off=(), configure=None):
    """define(net, tensors) -> output tensor or list of them; inputs: {name: array} (used for shapes/dtypes).

    Returns the engine. Dimension 0 of each input is the batch; max_batch defaults to the largest given.
    ``configure(config)``, if given, is called last before the build (e.g. config.force_tactic(...)).
    """
    builder = gie.Builder()
    net = builder.create_network()
    tensors = {}
    for name, arr in inputs.items():
        arr = np.asarray(arr)
        dt = {np.dtype(np.float32): gie.float32, np.dtype(np.int32): gie.int32, np.dtype(np.float16): gie.float16,
              np.dtype(np.int8): gie.int8, np.dtype(np.bool_): gie.bool_}[arr.dtype]
        tensors[name] = net.add_input(name, dt, arr.shape)
    outs = define(net, tensors)
    if not isinstance(outs, (list, tuple)):
        outs = [outs]
    for i, t in enumerate(outs):
        net.mark_output(t, f"out{i}")
    config = builder.create_config()
    config.device = device
    mb = max_batch or max(np.asarray(a).shape[0] for a in inputs.values())
    config.max_batch = mb
    for p in passes_off:
        config.set_pass_enabled(p, False)
    if configure is not None:
        configure(config)
    return builder.build(net, config)


def run(define, inputs, **kw):
    """Builds and runs once; returns the list of outputs (out0, out1, ...)."""
    engine = build(define, inputs, **kw)
    res = engine.create_execution_context().execute(inputs)
    return [res[f"out{i}"] for i in range(len(res))]


def ort_run(model, feeds):
    """{output name: array} of onnxruntime (CPU, graph optimizations off) on an ONNX ModelProto; skips the test when
    onnxruntime is not installed."""
    import pytest

    ort = pytest.importorskip("onnxruntime")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))


def assert_close(actual, expected, rtol=1e-5, atol=1e-5, what="output"):
    """Fails with the worst element if |actual - expected| > atol + rtol*|expected| anywhere; shapes must match."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != expected {expected.shape}"
    if actual.dtype.kind in "fc":
        assert not np.isnan(actual).any() or np.isnan(expected).any(), f"{what}: NaN in output"
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    err = np.abs(a - e)
    tol = atol + rtol * np.abs(e)
    bad = ~(err <= tol) & ~(np.isnan(a) & np.isnan(e)) & ~(np.isinf(a) & np.isinf(e) & (np.sign(a) == np.sign(e)))
    if bad.any():
        idx = np.unravel_index(np.argmax(np.where(bad, err, -1)), a.shape)
        raise AssertionError(f"{what}: {bad.sum()} of {a.size} elements differ; worst at {idx}: got {a[idx]}, "
                             f"expected {e[idx]} (abs err {err[idx]:.3g})")


def concat_case(base, axis, sizes, make):
    """One concatenation test case: inputs x0, x1, ... shaped like ``base`` but with sizes[i] on the axis
    (``make(shape)`` -> array), the axis as a non-negative index, and define(net, t) concatenating them
    (axis None: the layer's default, 1). Returns (arrays, axis, define)."""
    ax = (1 if axis is None else axis) % len(base)
    arrays = {}
    for i, n in enumerate(sizes):
        shape = list(base)
        shape[ax] = n
        arrays[f"x{i}"] = make(tuple(shape))
    names = list(arrays)

    def define(net, t):
        ts = [t[k] for k in names]
        return (net.add_concatenation(ts) if axis is None else net.add_concatenation(ts, axis=axis)).output(0)
    return arrays, ax, define
