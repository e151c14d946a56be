"""The CPU Reformat kernel (cpp/src/kernels/reformat_cpu.cpp; the op the builder inserts between layers that chose
different types or formats), through a network that holds the op explicitly (net.add_layer("Reformat", ...)):
float32 <-> float16 conversions against numpy's (round to nearest even, overflow to inf, subnormals, NaN), copies,
and a bad field; and through networks whose input and output are declared float16 and/or NHWC / HWC8 (every pair of
states), where the builder inserts the Reformats. The format conversions (LINEAR / NHWC / HWC8, padding channels, batch-strided views) are tested
by the C++ program tests/cpp/test_reformat.cpp against an independent reference; test_cpp_program runs it when the
dev build made it (and, in a CUDA build on a GPU machine, it compares the GPU kernel with the CPU one as well).
"""
import os
import pathlib
import subprocess

import numpy as np
import pytest

import gie
import util
from gie.engine import numpy_dtype

SPECIALS = np.array([0.0, -0.0, 1.0, -1.0, 65504.0, 65519.0, 65520.0, -70000.0, 1e-7, -3e-8, 6e-8, 2.98e-8,
                     1.0 + 2.0 ** -11, 1.0 + 3 * 2.0 ** -11, 2049.0, 2051.0, np.inf, -np.inf, np.nan], np.float32)


def reformat(to):
    return lambda net, t: net.add_layer("Reformat", [t["x"]], {"to": int(to)}).output(0)


def same_bits_or_nan(got, expected):
    """Equal bit for bit, except that any NaN matches any NaN (payloads are not specified)."""
    assert got.dtype == expected.dtype and got.shape == expected.shape
    nan = np.isnan(expected)
    assert np.array_equal(np.isnan(got), nan), "NaN positions differ"
    bits = {2: np.uint16, 4: np.uint32}[got.dtype.itemsize]
    diff = (got.view(bits) != expected.view(bits)) & ~nan
    assert not diff.any(), f"{diff.sum()} elements differ; first at {np.argwhere(diff)[0]}: {got[diff][0]!r} vs {expected[diff][0]!r}"


@pytest.mark.parametrize("shape", [(13, 3, 7, 7), (1, 13, 1, 1), (5, 19), (2, 3, 5, 7, 2), (7,)], ids=str)
def test_float32_to_float16_rounds_like_numpy(rng, shape):
    x = rng.standard_normal(shape).astype(np.float32) * np.float32(300.0)
    flat = x.reshape(-1)
    flat[: min(flat.size, SPECIALS.size)] = SPECIALS[: min(flat.size, SPECIALS.size)]
    y = util.run(reformat(gie.float16), {"x": x})[0]
    with np.errstate(over="ignore"):  # 65520 and beyond round to inf, as intended
        expected = x.astype(np.float16)
    same_bits_or_nan(y, expected)


def test_float32_to_float16_every_tie_and_neighbour():
    """Every float32 halfway between two adjacent float16 values in [1, 2) and just beside it."""
    h = np.arange(0x3C00, 0x4000, dtype=np.uint16).view(np.float16).astype(np.float64)
    mid = (h[:-1] + h[1:]) / 2
    x = np.concatenate([mid, np.nextafter(mid, 0), np.nextafter(mid, 3)]).astype(np.float32).reshape(3, -1)
    y = util.run(reformat(gie.float16), {"x": x})[0]
    same_bits_or_nan(y, x.astype(np.float16))


def test_float16_to_float32_is_exact_for_every_half():
    x = np.arange(0, 1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16).reshape(64, 1024)
    y = util.run(reformat(gie.float32), {"x": x})[0]
    same_bits_or_nan(y, x.astype(np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=lambda d: np.dtype(d).name)
def test_same_type_is_a_copy(rng, dtype):
    x = (rng.standard_normal((4, 13, 3, 5)) * 100).astype(dtype)
    to = gie.float32 if dtype == np.float32 else gie.float16
    y = util.run(reformat(to), {"x": x})[0]
    same_bits_or_nan(y, x)


@pytest.mark.parametrize("to", [3, -1])  # 2 (int8) quantizes: tests/test_int8_kernels.py
def test_bad_target_type_is_refused(to):
    with pytest.raises(gie.InvalidArgumentError, match="field 'to' is"):
        util.build(reformat(to), {"x": np.zeros((1, 3), np.float32)})


def run_cpp_program(name):
    """Runs build/NAME/tests/cpp/<name>, the C++ test program beside the dev build's package (PYTHONPATH=
    build/NAME/pkg), and asserts that it passed; skips when it was not built there (e.g. a pip install)."""
    pkg = pathlib.Path(os.path.abspath(gie.__file__)).parent.parent  # not resolved: the dev build symlinks the .py files
    exe = pkg.parent / "tests" / "cpp" / name
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        pytest.skip(f"tests/cpp/{name} was not built beside this gie package (scripts/dev_build.sh builds it)")
    res = subprocess.run([str(exe)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert " 0 failed" in res.stdout
    return res.stdout


def test_cpp_program():
    run_cpp_program("test_reformat")


# ---- network inputs and outputs declared FP16 and/or channels-last: Reformats at the engine's edges ----------------

F32, F16 = np.dtype(np.float32), np.dtype(np.float16)
LIN, NHWC, HWC8 = gie.TensorFormat.LINEAR, gie.TensorFormat.NHWC, gie.TensorFormat.HWC8
IO_STATES = [(F32, LIN), (F16, LIN), (F32, NHWC), (F16, NHWC), (F32, HWC8), (F16, HWC8)]
IO_SHAPES = [(13, 3, 7, 7), (13, 13, 1, 1), (2, 64, 9, 15), (1, 20, 5, 6)]


def build_io(shape, state_in, state_out, layer, device="cpu"):
    """x (declared dtype / format) -> layer ("relu" or "maxpool": exact in any precision) -> y (declared)."""
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float16 if state_in[0] == F16 else gie.float32, shape)
    x.allowed_formats = [state_in[1]]
    if layer == "relu":
        y = net.add_activation(x, gie.ActivationType.RELU).output(0)
    else:
        k = pool_window(shape)
        y = net.add_pooling(x, gie.PoolingType.MAX, (k, k), stride=(k, k)).output(0)
    net.mark_output(y, "y")
    y.dtype = gie.float16 if state_out[0] == F16 else gie.float32
    y.allowed_formats = [state_out[1]]
    config = builder.create_config()
    config.device = device
    config.max_batch = shape[0]
    return builder.build(net, config)


def pool_window(shape):
    return 2 if min(shape[2:]) >= 2 else 1


def io_reference(x, layer, out_dtype):
    if layer == "relu":
        y = np.maximum(x, 0)
    else:
        n, c, h, w = x.shape
        k = pool_window(x.shape)
        y = x[:, :, : h // k * k, : w // k * k].reshape(n, c, h // k, k, w // k, k).max(axis=(3, 5))
    return y.astype(out_dtype)


def io_input(rng, shape, dtype):
    return (rng.standard_normal(shape) * 100).astype(dtype)  # float32 inputs need rounding when stored as half


@pytest.mark.parametrize("layer", ["relu", "maxpool"])
@pytest.mark.parametrize("state_out", IO_STATES, ids=lambda s: f"out-{s[0].name}-{s[1].name}")
@pytest.mark.parametrize("state_in", IO_STATES, ids=lambda s: f"in-{s[0].name}-{s[1].name}")
def test_declared_io_types_and_formats(rng, state_in, state_out, layer):
    """The engine's I/O tensors have the declared type and format (execute converts numpy arrays to and from the
    stored layout); the CPU Reformats in between are exact: relu / max pooling of the input, rounded once."""
    for shape in IO_SHAPES:
        engine = build_io(shape, state_in, state_out, layer)
        assert (engine.get_tensor_format("x"), engine.get_tensor_format("y")) == (state_in[1], state_out[1])
        assert numpy_dtype(engine.get_tensor_dtype("y")) == state_out[0]
        x = io_input(rng, shape, state_in[0])
        y = engine.create_execution_context().execute({"x": x})["y"]
        same_bits_or_nan(y, io_reference(x, layer, state_out[0]))
