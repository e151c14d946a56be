"""FP16 on the GPU: Pooling and the data-movement kernels (Concatenation, Slice, Shuffle, Resize, Padding, Gather;
cuda/kernels/*.cu) against the CPU FP16 reference, and the GPU Reformat kernel in an engine (and, when the dev build
made them, the C++ programs that test Reformat in every type / format pair and Pooling in NHWC / HWC8).

Every FP16 test goes through gpu_util.compare_gpu_cpu(..., fp16=True, expect_half=(kernel,)): the network is built
for the CPU and the GPU with the FP16 flag, OBEY_PRECISION_CONSTRAINTS and every layer's precision HALF; network
inputs and outputs stay float32, so the builder inserts Reformats at both ends; the kernel under test must run
with HALF float tensors in both engines; the GPU engine runs on NaN-poisoned device outputs at the built batch (13)
and at batch 1.

Tolerances: both engines round the float32 inputs to half identically (the Reformat kernels agree bit for bit:
tests/cpp/test_reformat.cpp), so data movement, max pooling and nearest resize must match exactly (0). Average
pooling and linear resize load the same halves and compute in float32; the direct pooling kernel and the resize
kernel repeat the CPU's operations in its order, the plane (global) pooling tactics sum in another order, so a
float32 difference of a few ulp may round to the neighbouring half: rtol = atol = 1e-3 (one half ulp is 2^-10
relative).
"""
import numpy as np
import pytest

import gie
from gie.engine import from_stored_layout, stored_shape, to_stored_layout
from gpu_util import compare_gpu_cpu, each_tactic, gpu, poisoned_output, randn, to_device
from test_gpu_simple import pool_define
from test_reformat import IO_SHAPES, IO_STATES, build_io, io_input, run_cpp_program

pytestmark = gpu

B = 13  # the built batch; compare_gpu_cpu also runs batch 1
HALF_ULP = 1e-3
HWC8 = gie.TensorFormat.HWC8
RT = gie.ResizeCoordinateTransformation
RM = gie.ResizeRoundMode


def check(define, inputs, kernel, rtol=0.0, atol=0.0, **kw):
    info = compare_gpu_cpu(define, inputs, fp16=True, expect_half=(kernel,), rtol=rtol, atol=atol, **kw)
    kinds = [(k.get("type"), k.get("device")) for k in info.get("kernels", [])]
    assert (kernel, "gpu") in kinds, f"no GPU {kernel} kernel in the engine: {kinds}"
    return info


def const(net, arr):
    arr = np.asarray(arr)
    return net.add_layer("Constant", [], {"shape": np.asarray(arr.shape, dtype=np.int64),
                                          "weights": np.ascontiguousarray(arr).ravel()}).output(0)


# ================================================================================================ Pooling

POOL_CASES = [  # name, input shape without the batch (C, H, W), window, fields
    ("3x3_s2_pad1", (13, 17, 13), (3, 3), dict(stride=(2, 2), pre_padding=(1, 1))),
    ("3x3_s2_pad1_incl", (3, 7, 7), (3, 3), dict(stride=(2, 2), pre_padding=(1, 1), exclude_padding=0)),
    ("2x2_s2_ceil", (13, 7, 7), (2, 2), dict(stride=(2, 2), ceil_mode=1)),
    ("3x3_s1", (8, 9, 9), (3, 3), dict()),
    ("1x7_s1_pad", (3, 6, 11), (1, 7), dict(pre_padding=(0, 3))),
    ("5x5_s3_pad2_ceil", (5, 19, 16), (5, 5), dict(stride=(3, 3), pre_padding=(2, 2), ceil_mode=1)),
    ("window_eq_input_7x7", (13, 7, 7), (7, 7), dict()),
    ("1x1_spatial", (13, 1, 1), (1, 1), dict()),
]
KINDS = [gie.PoolingType.MAX, gie.PoolingType.AVERAGE]


def pool_tolerance(kind):
    return dict(rtol=0.0, atol=0.0) if kind == gie.PoolingType.MAX else dict(rtol=HALF_ULP, atol=HALF_ULP)


def pool_each_tactic(define, x, kind, **kw):
    each_tactic(define, {"x": x}, "Pooling", fp16=True, expect_half=("Pooling",), **pool_tolerance(kind), **kw)


@pytest.mark.parametrize("kind", KINDS, ids=["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES, ids=[c[0] for c in POOL_CASES])
def test_pooling_fp16(case, kind, rng):
    _, shape, window, fields = case
    x = randn(rng, (B,) + shape, shift=-3.0 if kind == gie.PoolingType.MAX else 0.0)  # padding never a max candidate
    pool_each_tactic(pool_define(kind, window, fields), x, kind)


@pytest.mark.parametrize("kind", KINDS, ids=["max", "avg"])
@pytest.mark.parametrize("shape", [(13, 7, 7), (3, 1, 1), (64, 8, 8), (5, 56, 56), (3, 17, 13)], ids=str)
def test_global_pooling_fp16(kind, shape, rng):
    """Warp-per-plane (4 halves per load when H*W % 4 == 0), block-per-plane and direct tactics in FP16."""
    pool_each_tactic(pool_define(kind, (1, 1), {}, glob=True), randn(rng, (B,) + shape), kind)


def test_global_average_fp16_large_values(rng):
    """Values near 1000 (half ulp 0.5): the plane tactics' sums differ from the CPU's only in float32 rounding."""
    x = randn(rng, (B, 4, 31, 29), scale=10.0, shift=1000.0)
    pool_each_tactic(pool_define(gie.PoolingType.AVERAGE, (1, 1), {}, glob=True), x, gie.PoolingType.AVERAGE)


@pytest.mark.parametrize("kind", KINDS, ids=["max", "avg"])
def test_pooling_fp16_writes_into_concat_slice(kind, rng):
    """Two FP16 poolings concatenated on channels write straight into their half slices (strided output)."""
    a = pool_define(kind, (3, 3), dict(stride=(2, 2), pre_padding=(1, 1)))
    b = pool_define(gie.PoolingType.MAX, (2, 2), dict(stride=(2, 2), ceil_mode=1))  # both (B, 5, 9, 7)
    define = lambda net, t: net.add_concatenation([a(net, t), b(net, t)], axis=1).output(0)
    check(define, {"x": randn(rng, (B, 5, 17, 13))}, "Pooling", **pool_tolerance(kind))


# ================================================================================================ Concatenation

CONCAT_CASES = [  # inputs' shape with 0 on the axis, axis, sizes along the axis
    ((B, 0, 7, 7), 1, [3, 5, 13]),
    ((B, 4, 0, 5), 2, [1, 4]),
    ((B, 3, 5, 0), 3, [2, 3, 1]),
    ((B, 0, 16), 1, [4, 8, 12]),      # 16-byte units
    ((B, 0, 1, 1), 1, [1] * 20),      # more inputs than one launch takes, 2-byte rows
]


@pytest.mark.parametrize("base,axis,sizes", CONCAT_CASES, ids=[f"{b}-axis{a}-{len(s)}in" for b, a, s in CONCAT_CASES])
def test_concatenation_fp16(rng, base, axis, sizes):
    arrays = {}
    for i, n in enumerate(sizes):
        shape = list(base)
        shape[axis] = n
        arrays[f"x{i}"] = randn(rng, tuple(shape))
    names = list(arrays)
    define = lambda net, t: net.add_concatenation([t[k] for k in names], axis=axis).output(0)
    check(define, arrays, "Concatenation", passes_off=("concat_elimination",))


# ================================================================================================ Slice, Shuffle

@pytest.mark.parametrize("shape,start,size,stride", [
    ((B, 3, 5, 6), (0, 1, 0), (3, 2, 6), (1, 2, 1)),        # whole rows
    ((B, 3, 5, 6), (2, 4, 5), (2, 3, 3), (-1, -1, -2)),     # negative strides
    ((B, 13, 7, 7), (1, 0, 1), (5, 7, 3), (2, 1, 2)),
    ((B, 7, 70), (1, 3), (5, 64), (1, 1)),                  # long unit-stride rows
], ids=str)
def test_slice_fp16(rng, shape, start, size, stride):
    x = randn(rng, shape)
    check(lambda net, t: net.add_slice(t["x"], start, size, stride).output(0), {"x": x}, "Slice")


@pytest.mark.parametrize("shape,first,reshape,second", [
    ((B, 32, 7, 7), (0, 2, 3, 1), None, None),              # NCHW -> NHWC, tiled transpose of 2-byte elements
    ((B, 3, 17, 13), (0, 2, 3, 1), None, None),             # a short innermost side: one thread per element
    ((B, 13, 1, 1), (0, 2, 3, 1), None, None),              # moves nothing once size-1 dims drop
    ((B, 6, 4, 5), (0, 2, 1, 3), (0, 8, 15), (0, 2, 1)),    # both transposes move data (workspace)
    ((B, 5, 7), None, (0, 35), None),                       # a reshape only
    ((B, 19, 1152), None, (0, 19, 3, 6, 64), (2, 0, 3, 1, 4)),  # ViT's q / k / v split: rows of 8 16-byte units
    ((B, 6, 19, 64), (0, 2, 1, 3), (0, 19, 384), None),     # the heads merged back
    ((B, 4, 9, 36), (0, 2, 1, 3), None, None),              # rows of 9 8-byte units
], ids=str)
def test_shuffle_fp16(rng, shape, first, reshape, second):
    x = randn(rng, shape)
    check(lambda net, t: net.add_shuffle(t["x"], first_transpose=first, reshape=reshape, second_transpose=second).output(0),
          {"x": x}, "Shuffle")


# ================================================================================================ Padding, Gather

PAD = {"constant": gie.PaddingMode.CONSTANT, "reflect": gie.PaddingMode.REFLECT, "edge": gie.PaddingMode.EDGE}


@pytest.mark.parametrize("mode,value", [("constant", 1.5), ("constant", 0.1), ("constant", 1e6), ("reflect", None),
                                        ("edge", None)])
@pytest.mark.parametrize("shape,pre,post", [((B, 3, 7, 7), (0, 1, 2), (0, 2, 1)), ((B, 13, 1, 1), (1, 1), (2, 0)),
                                            ((B, 5, 9), (3,), (4,))], ids=str)
def test_padding_fp16(rng, mode, value, shape, pre, post):
    """The fill value is rounded to half like the CPU's (0.1 inexact, 1e6 to inf)."""
    x = randn(rng, shape)
    check(lambda net, t: net.add_padding(t["x"], pre, post, mode=PAD[mode], value=value).output(0), {"x": x}, "Padding")


@pytest.mark.parametrize("dshape,axis,ishape", [((B, 13, 7), 1, (5,)), ((B, 13, 7), 2, (2, 3)), ((B, 3, 1, 1), 1, (6,)),
                                                ((B, 9, 30, 40), 1, (7,))], ids=str)
def test_gather_fp16_data_input(rng, dshape, axis, ishape):
    data = randn(rng, dshape)
    n = dshape[axis]
    idx = rng.integers(-n, n, ishape).astype(np.int32)
    check(lambda net, t: net.add_gather(t["d"], const(net, idx), axis).output(0), {"d": data}, "Gather")


def test_gather_fp16_index_input(rng):
    """Float constant data (converted to half by the builder), int32 indices from a network input."""
    data = randn(rng, (7, 13))
    idx = rng.integers(-7, 7, (B, 4)).astype(np.int32)
    check(lambda net, t: net.add_gather(const(net, data), t["i"], 0).output(0), {"i": idx}, "Gather")


# ================================================================================================ Resize

RESIZE_CASES = [
    ((B, 3, 4, 5), (B, 3, 8, 10), None),
    ((B, 13, 7, 7), None, (1.0, 1.0, 2.0, 2.0)),
    ((B, 3, 7, 7), (B, 3, 1, 1), None),
    ((B, 2, 1, 1), (B, 2, 3, 4), None),
    ((B, 3, 6, 5), None, (1.0, 1.0, 0.5, 2.5)),
    ((B, 3, 9), (B, 3, 4), None),
]


@pytest.mark.parametrize("ct", [RT.HALF_PIXEL, RT.ASYMMETRIC, RT.ALIGN_CORNERS, RT.PYTORCH_HALF_PIXEL], ids=lambda c: c.name)
@pytest.mark.parametrize("shape,out_shape,scales", RESIZE_CASES, ids=str)
def test_resize_nearest_fp16(rng, ct, shape, out_shape, scales):
    x = randn(rng, shape)
    check(lambda net, t: net.add_resize(t["x"], gie.ResizeMode.NEAREST, output_shape=out_shape, scales=scales,
                                        coordinate_transformation=ct, nearest_mode=RM.ROUND_PREFER_FLOOR).output(0),
          {"x": x}, "Resize")


@pytest.mark.parametrize("ct", [RT.HALF_PIXEL, RT.ASYMMETRIC, RT.ALIGN_CORNERS, RT.PYTORCH_HALF_PIXEL], ids=lambda c: c.name)
@pytest.mark.parametrize("shape,out_shape,scales", RESIZE_CASES, ids=str)
def test_resize_linear_fp16(rng, ct, shape, out_shape, scales):
    x = randn(rng, shape)
    check(lambda net, t: net.add_resize(t["x"], gie.ResizeMode.LINEAR, output_shape=out_shape, scales=scales,
                                        coordinate_transformation=ct).output(0), {"x": x}, "Resize", rtol=HALF_ULP, atol=HALF_ULP)


# ================================================================================================ Reformat

@pytest.mark.parametrize("src,to", [(np.float32, gie.float16), (np.float16, gie.float32), (np.float16, gie.float16),
                                    (np.float32, gie.float32)], ids=["f32->f16", "f16->f32", "f16->f16", "f32->f32"])
@pytest.mark.parametrize("shape", [(B, 3, 7, 7), (B, 13, 1, 1), (B, 64, 9, 15), (B, 5), (B, 2, 3, 5, 7)], ids=str)
def test_reformat_layer(rng, src, to, shape):
    """A Reformat layer in an engine (type conversion between LINEAR tensors; the format pairs are covered by
    tests/cpp/test_reformat.cpp): GPU == CPU bit for bit, with values that overflow half and half subnormals."""
    x = (rng.standard_normal(shape) * 300).astype(np.float32)
    flat = x.reshape(-1)
    flat[:8] = [65504.0, 65520.0, -70000.0, 1e-7, -3e-8, 0.0, -0.0, 1.0 + 2.0 ** -11]
    with np.errstate(over="ignore"):
        x = x.astype(src)
    info = compare_gpu_cpu(lambda net, t: net.add_layer("Reformat", [t["x"]], {"to": int(to)}).output(0), {"x": x},
                           rtol=0.0, atol=0.0)
    assert ("Reformat", "gpu") in [(k.get("type"), k.get("device")) for k in info["kernels"]]


@pytest.mark.parametrize("layer", ["relu", "maxpool"])
@pytest.mark.parametrize("state_out", IO_STATES, ids=lambda s: f"out-{s[0].name}-{s[1].name}")
@pytest.mark.parametrize("state_in", IO_STATES, ids=lambda s: f"in-{s[0].name}-{s[1].name}")
def test_declared_io_types_and_formats_gpu(rng, state_in, state_out, layer):
    """Inputs / outputs declared float16 and/or NHWC / HWC8: the GPU engine takes and fills device tensors in the
    stored layout (zero-copy), its Reformats (or channels-last pooling) give the CPU engine's values bit for bit,
    every output element is written (NaN poison) and HWC8 padding channels come out +0."""
    for shape in IO_SHAPES:
        cpu = build_io(shape, state_in, state_out, layer, device="cpu")
        gpu_engine = build_io(shape, state_in, state_out, layer, device="gpu")
        x = io_input(rng, shape, state_in[0])
        expected = cpu.create_execution_context().execute({"x": x})["y"]
        fin, fout = gpu_engine.get_tensor_format("x"), gpu_engine.get_tensor_format("y")
        assert (fin, fout) == (state_in[1], state_out[1])
        buf, read = poisoned_output(stored_shape(expected.shape, fout), state_out[0])
        gpu_engine.create_execution_context().execute({"x": to_device(to_stored_layout(x, fin))}, outputs={"y": buf})
        raw = read()
        got = from_stored_layout(raw, expected.shape, fout)
        same = np.ascontiguousarray(got).view(np.uint8) == np.ascontiguousarray(expected).view(np.uint8)
        assert same.all(), f"{shape}: {(~same).sum()} bytes differ from the CPU engine's"
        if fout == HWC8:
            assert not raw[..., expected.shape[1]:].view(np.uint8).any(), "HWC8 padding channels not zeroed"


def test_cpp_programs_on_the_gpu():
    """The C++ kernel tests (tests/cpp/test_reformat.cpp: Reformat in every type / format pair; test_pooling_formats.cpp:
    Pooling in NHWC and HWC8) when the dev build made them; here they must run their GPU part."""
    for name in ("test_reformat", "test_pooling_formats"):
        out = run_cpp_program(name)
        assert "GPU part skipped" not in out, out[-2000:]
