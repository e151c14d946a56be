"""The integer tensor-core tactics with large tiles and a cp.async pipeline (cuda/kernels/int8_imma_gemm.cuh:
imma_128x128x64_s4, imma_256x128x64_s3, imma_64x64x64_s4, and imma_64x64x64_s4_split4 / _split8 with split-K;
docs/int8.md), each forced, against the CPU INT8 reference: EXACT equality (tests/test_int8_gpu.py says why a one-unit difference is a bug), outputs poisoned.

Shapes: awkward ones (C and K not multiples of the tiles or of 4, odd H / W, stride 2, dilation, a 7x7 stride-2 stem
with C = 3, a 1x1 plane), every ResNet-50 convolution shape at batch 8 and 1, bias + residual + ReLU fused with an
INT8 output, INT8 / FP16 / FP32 outputs, grouped convolutions with multiples of 4 channels per group, and the fully
connected layer (rows of whole words, and byte rows, which run the imma_128x64x32 kernel).
"""
import importlib.util
import os
import re

import numpy as np
import pytest

import gie
import util
from test_int8_gpu import (CONV_CASES, CONV_IDS, FC_CASES, GROUPED_CASES, OBEY, build_both, check_conv_residual_relu_fused,
                           compare, conv_layer, conv_tactics, fc_id, fc_weights, kinds, pin)

pytestmark = pytest.mark.gpu

F32 = np.float32
# cuda/kernels/int8_imma_gemm.cu; the split-K ones take groups == 1 only
UNSPLIT = ["imma_128x128x64_s4", "imma_256x128x64_s3", "imma_64x64x64_s4"]
IMMA = UNSPLIT + ["imma_64x64x64_s4_split4", "imma_64x64x64_s4_split8"]
CONV_IMMA = [t + "_chw4" for t in IMMA]


@pytest.fixture(autouse=True)
def _needs_sm80():
    if float(gie.build_info().get("compute_capability") or 0) < 8.0:
        pytest.skip("integer tensor cores need sm_80")


def build_one(define, feeds, ranges, device, force=None):
    """One engine of test_int8_gpu.build_both's pair (config.int8, OBEY, the ranges set by hand, tactics forced):
    one CPU reference for several GPU engines."""
    def wrapped(net, t):
        out = define(net, t)
        for tensor, amax in ranges(t, out).items():
            tensor.set_dynamic_range(-amax, amax)
        return out

    def configure(config):
        config.int8 = True
        config.set_flag(OBEY)
        for kernel, tactic in (force or {}).items():
            config.force_tactic(kernel, tactic)

    return util.build(wrapped, feeds, device=device, configure=configure)


def conv_out(net, t, case, seed, out_type, groups=1):
    return pin(conv_layer(net, t["x"], case, np.random.default_rng(seed), groups=groups), out_type)


# More awkward shapes than test_int8_gpu's: more than one 256-pixel tile and 128-channel tile, K % 4 = 1, C a
# multiple of 4 but not of 16 (a stage ends inside a tap), C = 260 (a stage spans a tap boundary), a 5x5 kernel.
EXTRA_CASES = [
    (3, 20, 17, 19, 257, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1)),
    (2, 260, 9, 11, 131, (1, 1), (2, 2), (0, 0), (0, 0), (1, 1)),
    (5, 12, 13, 13, 68, (5, 5), (2, 2), (2, 2), (1, 1), (1, 1)),
]
ALL_CASES = CONV_CASES + EXTRA_CASES
ALL_IDS = CONV_IDS + [f"n{c[0]}c{c[1]}_{c[2]}x{c[3]}k{c[4]}r{c[5][0]}{c[5][1]}s{c[6][0]}" for c in EXTRA_CASES]


@pytest.mark.parametrize("tactic", CONV_IMMA)
@pytest.mark.parametrize("out_type", ["float32", "int8", "float16"])
@pytest.mark.parametrize("case", ALL_CASES, ids=ALL_IDS)
def test_conv_matches_cpu(case, out_type, tactic, rng):
    x = (rng.standard_normal(case[:4]) * 1.5).astype(F32)
    seed = int(rng.integers(1 << 30))
    out = {"int8": gie.int8, "float32": gie.float32, "float16": gie.float16}[out_type]
    define = lambda net, t: conv_out(net, t, case, seed, out)
    # (the engines' outputs are FP32 either way: a Reformat after an INT8 or FP16 convolution output)
    ranges = lambda t, o: {t["x"]: float(np.abs(x).max()) * 0.8, **({o: 6.0} if out_type == "int8" else {})}
    cpu, gpu = build_both(define, {"x": x}, ranges, force={"Convolution": tactic})
    assert kinds(gpu, "Convolution") == ["int8"] and kinds(cpu, "Convolution") == ["int8"]
    assert conv_tactics(gpu) == [tactic]
    for e in (cpu, gpu):  # the INT8 kernels themselves write the requested type (the CPU reference too)
        conv = [k for k in e.layer_info()["kernels"] if k["type"] == "Convolution"][0]
        assert conv["outputs"][0]["dtype"] == out_type, conv
    compare(cpu, gpu, {"x": x})


def _resnet50_shapes():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "conv_f16.py")
    spec = importlib.util.spec_from_file_location("conv_f16_for_imma", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # no torch needed: the shape table is plain Python
    return mod.RESNET50


RESNET50 = _resnet50_shapes()


def resnet50_case(shape, rng):
    """(x at batch 8, define, ranges) of a ResNet-50 convolution shape: conv + bias + ReLU pinned to INT8, INT8 out."""
    name, c, h, k, r, stride, pad, _ = shape
    x = rng.standard_normal((8, c, h, h)).astype(F32)
    w = (rng.standard_normal((k, c, r, r)) / np.sqrt(c * r * r)).astype(F32)
    b = (rng.standard_normal(k) * 0.1).astype(F32)

    def define(net, t):
        conv = net.add_convolution(t["x"], k, (r, r), w, b, stride=(stride, stride), padding=(pad, pad))
        conv.precision = gie.int8
        act = net.add_activation(conv.output(0), gie.ActivationType.RELU)
        act.set_output_type(0, gie.int8)
        return act.output(0)

    return x, define, lambda t, o: {t["x"]: 3.0, o: 2.0}


@pytest.mark.parametrize("shape", RESNET50, ids=[re.sub(r"\W+", "_", s[0]) for s in RESNET50])
def test_resnet50_shapes_every_tactic(shape, rng):
    """Every ResNet-50 convolution shape (bias + ReLU, INT8 out), batch 8 then 1; one CPU engine, each tactic's GPU one."""
    x, define, ranges = resnet50_case(shape, rng)
    cpu = build_one(define, {"x": x}, ranges, "cpu")
    for tactic in CONV_IMMA:
        gpu = build_one(define, {"x": x}, ranges, "gpu", {"Convolution": tactic})
        assert conv_tactics(gpu) == [tactic] and kinds(gpu, "Convolution") == ["int8"]
        compare(cpu, gpu, {"x": x}, batches=[8, 1])


@pytest.mark.parametrize("tactic", CONV_IMMA)
@pytest.mark.parametrize("residual", ["int8", "float"])
@pytest.mark.parametrize("case", [CONV_CASES[1], CONV_CASES[2], EXTRA_CASES[0]], ids=[CONV_IDS[1], CONV_IDS[2], ALL_IDS[-3]])
def test_conv_residual_relu_fused(case, residual, tactic, rng):
    """conv + bias + residual add + ReLU in the INT8 kernel, INT8 CHW4 out; the residual INT8 (its own scale) or FLOAT."""
    check_conv_residual_relu_fused(case, residual, tactic, rng)


# the GEMM's grouped cases of test_int8_gpu (4 and 68 output channels per group) and 32 / 64 channels per group
IMMA_GROUPED = [c for c in GROUPED_CASES if (c[1] // c[10]) % 4 == 0 and (c[4] // c[10]) % 4 == 0] + [
    (3, 128, 15, 15, 128, (3, 3), (2, 2), (1, 1), (1, 1), (1, 1), 4),
    (2, 256, 7, 7, 512, (1, 1), (1, 1), (0, 0), (0, 0), (1, 1), 8),
]


@pytest.mark.parametrize("tactic", [t + "_chw4" for t in UNSPLIT])
@pytest.mark.parametrize("out_type", ["float32", "int8"])
@pytest.mark.parametrize("case", IMMA_GROUPED, ids=lambda c: f"n{c[0]}c{c[1]}k{c[4]}g{c[10]}r{c[5][0]}s{c[6][0]}")
def test_grouped_conv_matches_cpu(case, out_type, tactic, rng):
    x = (rng.standard_normal(case[:4]) * 1.5).astype(F32)
    seed = int(rng.integers(1 << 30))
    define = lambda net, t: conv_out(net, t, case[:10], seed, gie.float32 if out_type == "float32" else gie.int8, groups=case[10])
    ranges = lambda t, o: {t["x"]: float(np.abs(x).max()) * 0.8, **({o: 4.0} if out_type == "int8" else {})}
    cpu, gpu = build_both(define, {"x": x}, ranges, force={"Convolution": tactic})
    assert kinds(gpu, "Convolution") == ["int8"] and conv_tactics(gpu) == [tactic]
    compare(cpu, gpu, {"x": x})


def test_conv_tactics_listed_and_timed(rng):
    """The builder times the new tactics with the old ones (an unforced build lists them all, in the layout it chose:
    CHW4 or, groups 1, NHWC); split-K only without groups (setTactic refuses it with groups, so the builder never times
    it there)."""
    for case, groups, want, absent in [(CONV_CASES[2], 1, CONV_IMMA, []),
                                       (IMMA_GROUPED[-1][:10], IMMA_GROUPED[-1][10], CONV_IMMA[:3], CONV_IMMA[3:])]:
        x = rng.standard_normal(case[:4]).astype(F32)
        define = lambda net, t: conv_out(net, t, case, 3, gie.int8, groups=groups)
        _, gpu = build_both(define, {"x": x}, lambda t, o: {t["x"]: 3.0, o: 4.0})
        conv = [k for k in gpu.layer_info()["kernels"] if k["type"] == "Convolution"][0]
        timed = {t["tactic"] for t in conv.get("tactic_times_ms") or []}
        # the times listed are those of the chosen input layout: NHWC (groups 1, C % 16 == 0) has no dp4a tactic
        layout = "_nhwc" if conv["tactic"].endswith("_nhwc") else "_chw4"
        assert groups == 1 or layout == "_chw4", conv
        assert {t.replace("_chw4", layout) for t in want} <= timed, timed
        assert layout == "_nhwc" or {"dp4a_128x64x8_chw4", "imma_128x64x32_chw4"} <= timed, timed
        assert not {t.replace("_chw4", layout) for t in absent} & timed, timed


@pytest.mark.parametrize("tactic", IMMA)
@pytest.mark.parametrize("out_type", ["float32", "int8"])
@pytest.mark.parametrize("case", FC_CASES + [(9, (2048, 1, 1), 1, 1000), (300, (260,), 1, 131)], ids=fc_id)
def test_fully_connected_matches_cpu(case, out_type, tactic, rng):
    N, shape, axis, K = case
    x = (rng.standard_normal((N,) + shape) * 1.5).astype(F32)
    w, b = fc_weights(case, rng)
    define = lambda net, t: pin(net.add_fully_connected(t["x"], K, w, b, axis=axis), gie.float32 if out_type == "float32" else gie.int8)
    ranges = lambda t, o: {t["x"]: float(np.abs(x).max()) * 0.8, **({o: 3.0} if out_type == "int8" else {})}
    cpu, gpu = build_both(define, {"x": x}, ranges, force={"FullyConnected": tactic})
    assert kinds(gpu, "FullyConnected") == ["int8"]
    assert [k["tactic"] for k in gpu.layer_info()["kernels"] if k["type"] == "FullyConnected"] == [tactic]
    compare(cpu, gpu, {"x": x})
