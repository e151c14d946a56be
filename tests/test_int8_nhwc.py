"""INT8 NHWC: channels-last INT8 for the tensor-core convolutions (docs/int8.md "Kernels and formats").

CPU part (no GPU needed): the Reformat kernels on INT8 NHWC against an independent reference
(tests/cpp/test_int8_nhwc_reformat.cpp, round trips included; on a machine with a GPU the same program compares the
GPU Reformat with the CPU's byte for byte); engine files holding INT8 NHWC where no kernel takes it, or in a rank /
type that cannot hold it, are refused at load; the CPU negotiation never stores INT8 as NHWC (no CPU kernel reads it).

GPU part (marked gpu): every _nhwc tactic (cuda/kernels/int8_imma_gemm.cuh's NHWC loader, conv2d_int8.cu's wgmma
NHWC tactics) forced, against the CPU INT8 reference: EXACT equality, as in tests/test_int8_gpu.py (which says why a
one-unit difference is a bug), outputs poisoned. Shapes: C = 16, 48, 80, 256 (C % 16 == 0), odd planes, stride 2,
asymmetric padding, dilation, 1x1 planes, K not a multiple of 4 (the output then cannot be NHWC), batch 13 and 1, a
two-convolution chain (INT8 NHWC between them: the NHWC epilogue), residual + ReLU (an INT8 NHWC residual), every
ResNet-50 shape with C % 16 == 0, an engine file round trip, and a ResNet-style bottleneck where the builder chooses.
"""
import numpy as np
import pytest

import engine_layout as L
import gie
import util
from test_reformat import run_cpp_program

F32 = np.float32
OBEY = gie.BuilderFlag.OBEY_PRECISION_CONSTRAINTS


# ---- CPU ---------------------------------------------------------------------------------------------------------


def test_cpp_program_int8_nhwc_reformat():
    """float / half LINEAR, NHWC, HWC8 <-> INT8 NHWC, INT8 NHWC <-> CHW4 / LINEAR, requantization and round trips
    against the program's own reference (and GPU == CPU where there is a GPU); INT8 HWC8 and scale 0 refused."""
    out = run_cpp_program("test_int8_nhwc_reformat")
    assert "passed" in out


def _cpu_int8_engine(rng):
    """x (float) -> Reformat -> conv 3x3 (INT8) -> ReLU -> conv 1x1 (INT8, float out): INT8 LINEAR activations."""
    x = rng.standard_normal((2, 16, 5, 5)).astype(F32)
    w1 = (rng.standard_normal((16, 16, 3, 3)) * 0.1).astype(F32)
    w2 = (rng.standard_normal((16, 16, 1, 1)) * 0.1).astype(F32)

    def define(net, t):
        c = net.add_convolution(t["x"], 16, (3, 3), w1, np.zeros(16, F32), padding=(1, 1))
        r = net.add_activation(c.output(0), gie.ActivationType.RELU)
        c2 = net.add_convolution(r.output(0), 16, (1, 1), w2, np.zeros(16, F32))
        for tensor, amax in ((t["x"], 3.0), (r.output(0), 2.0), (c2.output(0), 5.0)):
            tensor.set_dynamic_range(-amax, amax)
        return c2.output(0)

    def configure(config):
        config.int8 = True

    return util.build(define, {"x": x}, device="cpu", configure=configure), x


def _int8_tensor(parsed, rank):
    return next(t for t in parsed["tensors"] if int(t["type"].value) == 2 and int(t["nbDims"].value) == rank)


def test_cpu_negotiation_keeps_int8_linear(rng):
    """No CPU kernel reads or writes INT8 NHWC (the reference is LINEAR): the CPU engine's INT8 tensors are all LINEAR,
    although INT8 may now be stored NHWC (the Reformat kernels take it)."""
    engine, _ = _cpu_int8_engine(rng)
    states = [(d["dtype"], d["format"]) for k in engine.layer_info()["kernels"] for d in k["inputs"] + k["outputs"]]
    assert ("int8", "linear") in states, states
    assert all(f == "linear" for _, f in states), states


def test_loader_refuses_int8_nhwc_no_kernel_takes(rng):
    """An INT8 activation patched to NHWC (a valid format for INT8 now) is refused by the kernels that use it: the
    loader asks each step's kernel (the CPU INT8 convolution reads LINEAR only)."""
    engine, _ = _cpu_int8_engine(rng)
    data = engine.serialize()
    t = _int8_tensor(L.parse(data), 4)
    with pytest.raises(gie.InvalidEngineError, match="does not take"):
        gie.Runtime().deserialize(L.patch(data, t["format"], 1))


@pytest.mark.parametrize("fmt, why", [(4, "HWC8"), (2, "CHW4")])
def test_loader_refuses_formats_int8_or_float_cannot_hold(rng, fmt, why):
    """INT8 in HWC8 (float only) and float in CHW4 (INT8 only) stay refused by the tensor table's check."""
    engine, _ = _cpu_int8_engine(rng)
    data = engine.serialize()
    parsed = L.parse(data)
    t = _int8_tensor(parsed, 4) if fmt == 4 else next(t for t in parsed["tensors"] if int(t["type"].value) == 0)
    with pytest.raises(gie.InvalidEngineError, match=f"has format {why}"):
        gie.Runtime().deserialize(L.patch(data, t["format"], fmt))


def test_loader_refuses_int8_nhwc_of_rank_2(rng):
    """NHWC is 4-D only, for INT8 as for float: a 2-D INT8 tensor patched to NHWC is refused."""
    x = rng.standard_normal((4, 32)).astype(F32)
    w = (rng.standard_normal((8, 32)) * 0.2).astype(F32)

    def define(net, t):
        fc = net.add_fully_connected(t["x"], 8, w, np.zeros(8, F32), axis=1)
        r = net.add_activation(fc.output(0), gie.ActivationType.RELU)
        fc2 = net.add_fully_connected(r.output(0), 4, w[:4, :8].copy(), np.zeros(4, F32), axis=1)
        for tensor, amax in ((t["x"], 3.0), (r.output(0), 2.0)):
            tensor.set_dynamic_range(-amax, amax)
        return fc2.output(0)

    engine = util.build(define, {"x": x}, device="cpu", configure=lambda c: setattr(c, "int8", True))
    data = engine.serialize()
    t = _int8_tensor(L.parse(data), 2)
    with pytest.raises(gie.InvalidEngineError, match="has format NHWC"):
        gie.Runtime().deserialize(L.patch(data, t["format"], 1))


def test_unpatched_cpu_int8_engine_still_loads(rng):
    """(The control for the refusals above: the same file, unpatched, loads and computes what the built engine does.)"""
    engine, x = _cpu_int8_engine(rng)
    loaded = gie.Runtime().deserialize(engine.serialize())
    want = engine.create_execution_context().execute({"x": x})["out0"]
    np.testing.assert_array_equal(loaded.create_execution_context().execute({"x": x})["out0"], want)


def test_bench_conv_int8_reads_every_layout_from_the_timing_cache(tmp_path):
    """bench/conv_int8.py takes each tactic's time from the build's timing cache, so that the _nhwc tactics (timed on
    the NHWC candidate) and the _chw4 ones (on the CHW4 candidate) are both in its table whichever the engine chose:
    the fastest with an INT8 output (type 2) per tactic; float outputs, other layers and variants are left out."""
    import importlib.util
    import os
    spec = importlib.util.spec_from_file_location("conv_int8_nhwc_test", os.path.join(os.path.dirname(__file__), "..", "bench", "conv_int8.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cache = tmp_path / "timing.cache"
    lines = ["gie-timing-cache 2", "device\tNVIDIA H100 80GB HBM3 cc 9.0",
             "Convolution|1|int8|f1234abcd.99|2.2:64x64x56x56/200704,->2.2:64x64x56x56/200704,|imma_64x64x64_s4_chw4\t0.139",
             "Convolution|1|int8|f1234abcd.99|2.1:64x64x56x56/200704,->2.2:64x64x56x56/200704,|imma_64x64x64_s4_nhwc\t0.05",
             "Convolution|1|int8|f1234abcd.99|2.1:64x64x56x56/200704,->2.1:64x64x56x56/200704,|imma_64x64x64_s4_nhwc\t0.04",
             "Convolution|1|int8|f1234abcd.99|2.1:64x64x56x56/200704,->0.0:64x64x56x56/200704,|imma_128x128x64_s4_nhwc\t0.01",
             "Convolution|1|f16_hwc8_mma|f1234abcd.99|1.4:64x64x56x56/200704,->1.4:64x64x56x56/200704,|hmma_x\t0.02",
             "Reformat|1||f0.0|0.0:64x64x56x56/200704,->2.1:64x64x56x56/200704,|int8\t0.03"]
    cache.write_text("\n".join(lines) + "\n")
    assert mod.cached_int8_conv_times(str(cache)) == {"imma_64x64x64_s4_chw4": 0.139, "imma_64x64x64_s4_nhwc": 0.04}


# ---- GPU ---------------------------------------------------------------------------------------------------------

IMMA_NHWC = ["imma_128x128x64_s4_nhwc", "imma_256x128x64_s3_nhwc", "imma_64x64x64_s4_nhwc", "imma_64x64x64_s4_split4_nhwc",
             "imma_64x64x64_s4_split8_nhwc"]
WGMMA_NHWC = ["wgmma1x1_s8_128x128x128_s4_nhwc", "wgmma1x1_s8_128x64x128_s6_nhwc"]

# (N, C, H, W, K, (kr, ks), stride, pad before, pad after, dilation); C % 16 == 0
NHWC_CASES = [
    (13, 16, 9, 7, 20, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1)),       # C = 16: each 64-channel stage spans 4 taps
    (2, 48, 15, 13, 70, (3, 3), (2, 2), (1, 0), (0, 1), (1, 1)),      # stride 2, asymmetric padding, K % 4 = 2
    (3, 80, 14, 14, 130, (1, 1), (1, 1), (0, 0), (0, 0), (1, 1)),     # 1x1 (the ONE_BY_ONE loader), a stage across C
    (1, 64, 7, 9, 64, (5, 5), (1, 1), (2, 2), (2, 2), (2, 2)),        # dilation 2, batch 1
    (5, 32, 11, 11, 48, (1, 1), (2, 2), (0, 0), (0, 0), (1, 1)),      # strided 1x1 (the general loader)
    (2, 256, 9, 11, 260, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1)),     # C4 >= 16 (carries), three 128-channel tiles
    (3, 16, 1, 1, 16, (1, 1), (1, 1), (0, 0), (0, 0), (1, 1)),        # a 1x1 plane
]
NHWC_IDS = [f"n{c[0]}c{c[1]}_{c[2]}x{c[3]}k{c[4]}r{c[5][0]}s{c[6][0]}d{c[9][0]}" for c in NHWC_CASES]
WGMMA_CASES = [(13, 16, 7, 7, 20), (1, 64, 14, 14, 64), (3, 48, 3, 5, 130), (2, 256, 7, 7, 256), (4, 1024, 7, 7, 272)]


def _gpu():
    import test_int8_gpu as g  # (its helpers: build_both, compare with poisoned outputs, conv_layer, pin, ...)
    return g


def _needs_sm80():
    if not gie.build_info().get("gpu_available") or float(gie.build_info().get("compute_capability") or 0) < 8.0:
        pytest.skip("integer tensor cores need an sm_80+ GPU")


def _conv_formats(engine):
    return [([(d["dtype"], d["format"]) for d in k["inputs"]], [(d["dtype"], d["format"]) for d in k["outputs"]])
            for k in engine.layer_info()["kernels"] if k["type"] == "Convolution"]


@pytest.mark.gpu
@pytest.mark.parametrize("tactic", IMMA_NHWC)
@pytest.mark.parametrize("out_type", ["int8", "float32", "float16"])
@pytest.mark.parametrize("case", NHWC_CASES, ids=NHWC_IDS)
def test_imma_nhwc_matches_cpu(case, out_type, tactic, rng):
    _needs_sm80()
    g = _gpu()
    x = (rng.standard_normal(case[:4]) * 1.5).astype(F32)
    seed = int(rng.integers(1 << 30))
    out = {"int8": gie.int8, "float32": gie.float32, "float16": gie.float16}[out_type]
    define = lambda net, t: g.pin(g.conv_layer(net, t["x"], case, np.random.default_rng(seed)), out)
    ranges = lambda t, o: {t["x"]: float(np.abs(x).max()) * 0.8, **({o: 6.0} if out_type == "int8" else {})}
    cpu, gpu = g.build_both(define, {"x": x}, ranges, force={"Convolution": tactic})
    assert g.kinds(gpu, "Convolution") == ["int8"] and g.conv_tactics(gpu) == [tactic]
    (ins, outs), = _conv_formats(gpu)
    assert ins == [("int8", "nhwc")], ins
    assert outs[0][0] == out_type, outs
    g.compare(cpu, gpu, {"x": x}, batches=[case[0], 1])


@pytest.mark.gpu
@pytest.mark.parametrize("tactic", WGMMA_NHWC)
@pytest.mark.parametrize("out_type", ["int8", "float32"])
@pytest.mark.parametrize("case", WGMMA_CASES, ids=lambda c: f"n{c[0]}c{c[1]}_{c[2]}x{c[3]}k{c[4]}")
def test_wgmma_nhwc_matches_cpu(case, out_type, tactic, rng):
    if not gie.build_info().get("wgmma_tactics"):
        pytest.skip("the wgmma tactics need an sm_90 GPU and a build with 90a code")
    g = _gpu()
    N, C, H, W, K = case
    full = (N, C, H, W, K, (1, 1), (1, 1), (0, 0), (0, 0), (1, 1))
    x = (rng.standard_normal((N, C, H, W)) * 1.5).astype(F32)
    seed = int(rng.integers(1 << 30))
    out = gie.int8 if out_type == "int8" else gie.float32
    define = lambda net, t: g.pin(g.conv_layer(net, t["x"], full, np.random.default_rng(seed)), out)
    ranges = lambda t, o: {t["x"]: 3.0, **({o: 6.0} if out_type == "int8" else {})}
    cpu, gpu = g.build_both(define, {"x": x}, ranges, force={"Convolution": tactic})
    assert g.conv_tactics(gpu) == [tactic]
    assert _conv_formats(gpu)[0][0] == [("int8", "nhwc")]
    g.compare(cpu, gpu, {"x": x}, batches=[N, 1])


@pytest.mark.gpu
@pytest.mark.parametrize("tactic", IMMA_NHWC[:3] + WGMMA_NHWC)
def test_chain_keeps_int8_nhwc_between_convolutions(tactic, rng):
    """conv (+ReLU, INT8 out) -> conv, both on the forced _nhwc tactic: the first writes INT8 NHWC that the second reads
    without a Reformat (144 channels, K % 16 == 0: the IMMA tiles' staged 16-byte stores, over a full and a partial
    128-channel tile, and 13 x 81 pixels, a partial pixel tile); both equal the CPU."""
    if tactic.startswith("wgmma") and not gie.build_info().get("wgmma_tactics"):
        pytest.skip("the wgmma tactics need an sm_90 GPU and a build with 90a code")
    _needs_sm80()
    g = _gpu()
    x = rng.standard_normal((13, 32, 9, 9)).astype(F32)
    one = tactic.startswith("wgmma")
    r = 1 if one else 3
    w1 = (rng.standard_normal((144, 32, r, r)) / np.sqrt(32 * r * r)).astype(F32)
    w2 = (rng.standard_normal((64, 144, 1, 1)) / np.sqrt(144)).astype(F32)
    b1 = (rng.standard_normal(144) * 0.1).astype(F32)

    define = _int8_chain(g, w1, b1, w2)
    cpu, gpu = g.build_both(define, {"x": x}, lambda t, o: {t["x"]: 3.0}, force={"Convolution": tactic})
    assert g.conv_tactics(gpu) == [tactic, tactic]
    formats = _conv_formats(gpu)
    assert formats[0][1] == [("int8", "nhwc")] and formats[1][0] == [("int8", "nhwc")], formats
    assert not [k for k in gpu.layer_info()["kernels"] if k["type"] == "Reformat" and k["inputs"][0]["dtype"] == "int8"
                and k["outputs"][0]["dtype"] == "int8"], gpu.layer_info()["kernels"]
    g.compare(cpu, gpu, {"x": x})


def _int8_chain(g, w1, b1, w2):
    """define(net, tensors) for conv w1 (+ b1, "same" padding) + ReLU pinned to INT8 out (range 2) -> 1x1 conv w2 with
    a float32 output: the INT8 tensor between two convolutions whose format the chain tests look at."""
    k1, r, k2 = w1.shape[0], w1.shape[2], w2.shape[0]

    def define(net, t):
        c1 = net.add_convolution(t["x"], k1, (r, r), w1, b1, padding=(r // 2, r // 2))
        c1.precision = gie.int8
        a = net.add_activation(c1.output(0), gie.ActivationType.RELU)
        a.set_output_type(0, gie.int8)
        a.output(0).set_dynamic_range(-2.0, 2.0)
        c2 = net.add_convolution(a.output(0), k2, (1, 1), w2, np.zeros(k2, F32))
        return g.pin(c2, gie.float32)
    return define


@pytest.mark.gpu
@pytest.mark.parametrize("tactic", IMMA_NHWC)
@pytest.mark.parametrize("residual", ["int8", "float"])
def test_residual_relu_fused_nhwc(residual, tactic, rng):
    """conv + bias + residual add + ReLU in the _nhwc kernel; the residual INT8 (NHWC like the input: word loads, its
    own scale) or FLOAT."""
    _needs_sm80()
    g = _gpu()
    case = (13, 48, 9, 7, 32, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1))
    N, C, H, W, K = case[:5]
    x = (rng.standard_normal((N, C, H, W)) * 1.5).astype(F32)
    feeds = {"x": x, "r": rng.standard_normal((N, K, H, W)).astype(F32)}
    seed = int(rng.integers(1 << 30))

    def define(net, t):
        conv = g.conv_layer(net, t["x"], case, np.random.default_rng(seed))
        conv.precision = gie.int8
        y = net.add_elementwise(conv.output(0), t["r"], gie.ElementWiseOperation.SUM).output(0)
        act = net.add_activation(y, gie.ActivationType.RELU)
        act.set_output_type(0, gie.int8)
        return act.output(0)

    ranges = lambda t, o: {t["x"]: 4.0, o: 6.0, **({t["r"]: 2.5} if residual == "int8" else {})}
    cpu, gpu = g.build_both(define, feeds, ranges, force={"Convolution": tactic})
    assert g.conv_tactics(gpu) == [tactic]
    (ins, _), = _conv_formats(gpu)
    assert ins[0] == ("int8", "nhwc") and ins[1] == (("int8", "nhwc") if residual == "int8" else ("float32", "linear")), ins
    g.compare(cpu, gpu, feeds)


def _resnet50_nhwc_shapes():
    import test_int8_gpu_imma as m
    return [s for s in m.RESNET50 if s[1] % 16 == 0]


@pytest.mark.gpu
@pytest.mark.parametrize("shape", _resnet50_nhwc_shapes(), ids=lambda s: "".join(c if c.isalnum() else "_" for c in s[0]))
def test_resnet50_shapes_every_nhwc_tactic(shape, rng):
    """Every ResNet-50 convolution with C % 16 == 0 (bias + ReLU, INT8 out), batch 8 then 1; one CPU engine, each
    _nhwc tactic's GPU one (the wgmma ones where the shape is 1x1 stride 1)."""
    _needs_sm80()
    import test_int8_gpu_imma as m
    g = _gpu()
    _, c, h, k, r, stride, pad, _ = shape
    x, define, ranges = m.resnet50_case(shape, rng)
    cpu = m.build_one(define, {"x": x}, ranges, "cpu")
    tactics = list(IMMA_NHWC)
    if r == 1 and stride == 1 and pad == 0 and gie.build_info().get("wgmma_tactics"):
        tactics += WGMMA_NHWC
    for tactic in tactics:
        gpu = m.build_one(define, {"x": x}, ranges, "gpu", {"Convolution": tactic})
        assert g.conv_tactics(gpu) == [tactic] and g.kinds(gpu, "Convolution") == ["int8"]
        assert _conv_formats(gpu)[0][0] == [("int8", "nhwc")]
        g.compare(cpu, gpu, {"x": x}, batches=[8, 1])


@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["max", "average"])
@pytest.mark.parametrize("batch", [13, 1])
def test_pooling_between_nhwc_convolutions(kind, batch, rng):
    """conv (_nhwc, INT8 out) -> pooling 3x3 / 2, padding 1 (INT8) -> conv (_nhwc): the INT8 pooling also reads and
    writes NHWC (cuda/kernels/pooling_int8.cu), so the chain may stay NHWC; whatever the builder chooses around the
    pooling equals the CPU. Prints the pooling's formats."""
    _needs_sm80()
    g = _gpu()
    x = rng.standard_normal((batch, 16, 15, 13)).astype(F32)
    w1 = (rng.standard_normal((32, 16, 3, 3)) / 12).astype(F32)
    w2 = (rng.standard_normal((48, 32, 1, 1)) / 6).astype(F32)
    ptype = gie.PoolingType.MAX if kind == "max" else gie.PoolingType.AVERAGE

    def define(net, t):
        c1 = net.add_convolution(t["x"], 32, (3, 3), w1, np.zeros(32, F32), padding=(1, 1))
        c1.precision = gie.int8
        a = net.add_activation(c1.output(0), gie.ActivationType.RELU)
        a.output(0).set_dynamic_range(-2.0, 2.0)
        pool = net.add_pooling(a.output(0), ptype, (3, 3), stride=(2, 2), padding=(1, 1))
        pool.precision = gie.int8
        pool.output(0).set_dynamic_range(-1.5, 1.5)
        c2 = net.add_convolution(pool.output(0), 48, (1, 1), w2, np.zeros(48, F32))
        return g.pin(c2, gie.float32)

    cpu, gpu = g.build_both(define, {"x": x}, lambda t, o: {t["x"]: 3.0}, force={"Convolution": IMMA_NHWC[2]})
    assert g.kinds(gpu, "Pooling") == ["int8"] and g.conv_tactics(gpu) == [IMMA_NHWC[2]] * 2
    pool = next(k for k in gpu.layer_info()["kernels"] if k["type"] == "Pooling")
    print("pooling formats:", pool["inputs"][0]["format"], "->", pool["outputs"][0]["format"])
    g.compare(cpu, gpu, {"x": x}, batches=[batch])


@pytest.mark.gpu
@pytest.mark.parametrize("op", ["SUM", "MAX"])
def test_elementwise_of_nhwc_convolutions(op, rng):
    """relu(conv1(x)) + relu(conv2(x)) (or max), both convolutions on a forced _nhwc tactic: the INT8 element-wise kernel
    also takes two INT8 NHWC inputs (cuda/kernels/elementwise_int8.cu); whatever the builder chooses equals the CPU.
    Prints the element-wise kernel's formats."""
    _needs_sm80()
    g = _gpu()
    x = rng.standard_normal((13, 32, 9, 7)).astype(F32)
    ws = [(rng.standard_normal((20, 32, 3, 3)) / 17).astype(F32) for _ in range(2)]

    def define(net, t):
        outs = []
        for i, w in enumerate(ws):
            c = net.add_convolution(t["x"], 20, (3, 3), w, np.zeros(20, F32), padding=(1, 1))
            c.precision = gie.int8
            a = net.add_activation(c.output(0), gie.ActivationType.RELU)
            a.output(0).set_dynamic_range(-2.0 - i, 2.0 + i)
            outs.append(a.output(0))
        e = net.add_elementwise(outs[0], outs[1], getattr(gie.ElementWiseOperation, op))
        e.precision = gie.int8
        e.set_output_type(0, gie.int8)
        return e.output(0)

    cpu, gpu = g.build_both(define, {"x": x}, lambda t, o: {t["x"]: 3.0, o: 4.0}, force={"Convolution": IMMA_NHWC[0]})
    assert g.kinds(gpu, "ElementWise") == ["int8"] and g.conv_tactics(gpu) == [IMMA_NHWC[0]] * 2
    elt = next(k for k in gpu.layer_info()["kernels"] if k["type"] == "ElementWise")
    print("element-wise formats:", [d["format"] for d in elt["inputs"]], "->", elt["outputs"][0]["format"])
    g.compare(cpu, gpu, {"x": x})


@pytest.mark.gpu
@pytest.mark.parametrize("fc_tactic", [None, "dp4a_128x64x8"])
@pytest.mark.parametrize("batch", [13, 1])
def test_fully_connected_reads_pooled_nhwc(fc_tactic, batch, rng):
    """conv (_nhwc, INT8 out) -> global average pooling (INT8) -> FC (INT8, float out): pooled (N, C, 1, 1) INT8 NHWC
    features lie exactly as LINEAR rows of C bytes, so the GPU FullyConnected reads them as they are
    (cuda/kernels/fully_connected_int8.cu) with no Reformat between; whatever the builder chooses equals the CPU."""
    _needs_sm80()
    g = _gpu()
    x = rng.standard_normal((batch, 16, 7, 5)).astype(F32)
    w1 = (rng.standard_normal((48, 16, 3, 3)) / 12).astype(F32)
    w2 = (rng.standard_normal((10, 48)) / 7).astype(F32)
    b2 = (rng.standard_normal(10) * 0.1).astype(F32)

    def define(net, t):
        c1 = net.add_convolution(t["x"], 48, (3, 3), w1, np.zeros(48, F32), padding=(1, 1))
        c1.precision = gie.int8
        a = net.add_activation(c1.output(0), gie.ActivationType.RELU)
        a.output(0).set_dynamic_range(-2.0, 2.0)
        pool = net.add_pooling(a.output(0), gie.PoolingType.AVERAGE, (7, 5))
        pool.precision = gie.int8
        pool.output(0).set_dynamic_range(-1.0, 1.0)
        return g.pin(net.add_fully_connected(pool.output(0), 10, w2, b2), gie.float32)

    force = {"Convolution": IMMA_NHWC[2], **({"FullyConnected": fc_tactic} if fc_tactic else {})}
    cpu, gpu = g.build_both(define, {"x": x}, lambda t, o: {t["x"]: 3.0}, force=force)
    kernels = gpu.layer_info()["kernels"]
    fc = next(k for k in kernels if k["type"] == "FullyConnected")
    pool = next(k for k in kernels if k["type"] == "Pooling")
    assert fc["precision"] == "int8" and pool["precision"] == "int8", (fc["precision"], pool["precision"])
    print("pooling:", pool["inputs"][0]["format"], "->", pool["outputs"][0]["format"], "FC in:", fc["inputs"][0]["format"])
    if pool["outputs"][0]["format"] == "nhwc":
        assert fc["inputs"][0]["name"] == pool["outputs"][0]["name"] and fc["inputs"][0]["format"] == "nhwc"
    g.compare(cpu, gpu, {"x": x}, batches=[batch])


@pytest.mark.gpu
def test_engine_file_round_trip_nhwc(rng):
    """A GPU engine with INT8 NHWC tensors and an _nhwc tactic passes the loader's checks and computes the same."""
    _needs_sm80()
    g = _gpu()
    case = NHWC_CASES[0]
    x = (rng.standard_normal(case[:4]) * 1.5).astype(F32)
    define = lambda net, t: g.pin(g.conv_layer(net, t["x"], case, np.random.default_rng(5)), gie.float32)
    cpu, gpu = g.build_both(define, {"x": x}, lambda t, o: {t["x"]: 3.0}, force={"Convolution": IMMA_NHWC[0]})
    loaded = gie.Runtime().deserialize(gpu.serialize())
    assert g.conv_tactics(loaded) == [IMMA_NHWC[0]] and _conv_formats(loaded)[0][0] == [("int8", "nhwc")]
    g.compare(cpu, loaded, {"x": x})


@pytest.mark.gpu
@pytest.mark.parametrize("batch", [1, 13])
def test_bottleneck_builder_chooses(batch, rng):
    """A ResNet bottleneck (1x1 -> 3x3 -> 1x1 + identity residual, ReLUs), every convolution pinned to INT8 but the
    formats and tactics free: the builder's choice (CHW4, NHWC or both, with the Reformats it inserts) equals the
    CPU. Prints what it chose."""
    _needs_sm80()
    g = _gpu()
    C, M, H = 256, 64, 14
    x = rng.standard_normal((batch, C, H, H)).astype(F32)
    ws = [(rng.standard_normal(s) / np.sqrt(np.prod(s[1:]))).astype(F32) for s in ((M, C, 1, 1), (M, M, 3, 3), (C, M, 1, 1))]
    bs = [(rng.standard_normal(s[0]) * 0.1).astype(F32) for s in ((M,), (M,), (C,))]

    def define(net, t):
        y = t["x"]
        for i, (w, b) in enumerate(zip(ws, bs)):
            r = int(w.shape[2])
            conv = net.add_convolution(y, int(w.shape[0]), (r, r), w, b, padding=(r // 2, r // 2))
            conv.precision = gie.int8
            y = conv.output(0)
            if i == 2:
                y = net.add_elementwise(y, t["x"], gie.ElementWiseOperation.SUM).output(0)
            act = net.add_activation(y, gie.ActivationType.RELU)
            y = act.output(0)
            y.set_dynamic_range(-3.0, 3.0)
        return y

    cpu, gpu = g.build_both(define, {"x": x}, lambda t, o: {t["x"]: 4.0})
    assert g.kinds(gpu, "Convolution") == ["int8"] * 3
    print("bottleneck formats:", _conv_formats(gpu), "tactics:", g.conv_tactics(gpu))
    g.compare(cpu, gpu, {"x": x}, batches=[batch])

