"""fuse_depthwise_pointwise (CPU): a depthwise convolution whose output only a 1x1 convolution reads becomes
one DepthwisePointwise kernel, computed one band of output rows at a time (kernels/depthwise_pointwise_cpu.cpp).
Checked on awkward shapes (partial channel groups, odd planes, asymmetric padding, dilation, 5x5, batch > 1, a
residual, activations on either convolution) against a float64 numpy reference and against the same network built
without the pass, with poisoned outputs; with 1, 2 and 3 threads (subprocesses: the thread count is read at start-up);
against onnxruntime on an ONNX twin; stride 2 where the depthwise kernel can run by bands; and the layers it must
leave alone (AVX2's stride-2 row kernel, small planes, a second reader)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import gie
from test_layers_core import conv2d_ref
from util import assert_close

A = gie.ActivationType
# C, H, W, k, (pre pads), (post pads), dilation, K, batch, dw activation, pw activation, residual
CASES = [
    (13, 29, 31, 3, (1, 1), (1, 1), 1, 7, 1, A.RELU6, None, False),     # groups of 8 / 16 and a partial one
    (21, 61, 67, 3, (1, 1), (1, 1), 1, 10, 2, A.SILU, None, True),      # batch 2 with a residual
    (32, 112, 112, 3, (1, 1), (1, 1), 1, 16, 1, A.RELU6, None, False),  # MobileNetV2's features.1
    (19, 40, 23, 5, (2, 1), (2, 3), 1, 33, 3, A.LEAKY_RELU, A.RELU, True),  # 5x5, asymmetric padding, 33 outputs
    (9, 30, 34, 3, (2, 2), (2, 2), 2, 5, 1, None, A.RELU6, False),      # dilation 2
    (40, 28, 28, 3, (1, 1), (1, 1), 1, 3, 1, A.RELU6, None, True),      # the smallest fused plane, 3 outputs
]
IDS = [f"c{c[0]}_{c[1]}x{c[2]}_k{c[3]}d{c[6]}_K{c[7]}_n{c[8]}{'_res' if c[11] else ''}" for c in CASES]


def _act(kind, v):
    if kind is None:
        return v
    if kind == A.RELU6:
        return np.clip(v, 0, 6)
    if kind == A.RELU:
        return np.maximum(v, 0)
    if kind == A.LEAKY_RELU:
        return np.where(v >= 0, v, 0.1 * v)
    if kind == A.SILU:
        return v / (1 + np.exp(-v))
    raise AssertionError(kind)


def _data(case, seed, stride=1):
    C, H, W, k, pre, post, dil, K, n, _, _, res = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, C, H, W)).astype(np.float32)
    wd = rng.standard_normal((C, 1, k, k)).astype(np.float32)
    bd = rng.standard_normal(C).astype(np.float32)
    wp = (rng.standard_normal((K, C, 1, 1)) / np.sqrt(C)).astype(np.float32)
    bp = rng.standard_normal(K).astype(np.float32)
    P = (H + pre[0] + post[0] - dil * (k - 1) - 1) // stride + 1
    Q = (W + pre[1] + post[1] - dil * (k - 1) - 1) // stride + 1
    r = rng.standard_normal((n, K, P, Q)).astype(np.float32) if res else None
    return x, wd, bd, wp, bp, r


def _build(case, data, fuse, stride=1, second_reader=False):
    """The network act2(pw(act1(dw(x))) + r) for the CPU; returns (engine, output shape, feeds)."""
    C, H, W, k, pre, post, dil, K, n, act1, act2, res = case
    x, wd, bd, wp, bp, r = data
    builder = gie.Builder()
    net = builder.create_network()
    t = net.add_input("x", gie.float32, x.shape)
    m = net.add_convolution(t, C, (k, k), wd, bd, stride=stride, pre_padding=pre, post_padding=post,
                            dilation=(dil, dil), num_groups=C).output(0)
    if act1 is not None:
        m = net.add_activation(m, act1, alpha=0.1 if act1 == A.LEAKY_RELU else None).output(0)
    y = net.add_convolution(m, K, (1, 1), wp, bp).output(0)
    feeds = {"x": x}
    if r is not None:
        feeds["r"] = r
        y = net.add_elementwise(y, net.add_input("r", gie.float32, r.shape), gie.ElementWiseOperation.SUM).output(0)
    if act2 is not None:
        y = net.add_activation(y, act2, alpha=0.1 if act2 == A.LEAKY_RELU else None).output(0)
    net.mark_output(y, "y")
    if second_reader:
        net.mark_output(m, "m")
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = n
    if not fuse:
        config.set_pass_enabled("fuse_depthwise_pointwise", False)
    return builder.build(net, config), feeds


def _run(engine, feeds, shape):
    out = np.full(shape, np.nan, np.float32)
    engine.create_execution_context().execute(feeds, {"y": out})
    return out


def _fused_kernels(engine):
    return [k for k in engine.layer_info()["kernels"] if k["type"] == "DepthwisePointwise"]


def _reference(case, data, stride=1):
    C, H, W, k, pre, post, dil, K, n, act1, act2, res = case
    x, wd, bd, wp, bp, r = data
    m, mag = conv2d_ref(x, wd, bd, stride=(stride, stride), pre=pre, post=post, dilation=(dil, dil), groups=C)
    m = _act(act1, m)
    y = np.einsum("nchw,kc->nkhw", m, wp[:, :, 0, 0].astype(np.float64)) + bp[None, :, None, None]
    bound = np.einsum("nchw,kc->nkhw", np.abs(m) + 1e-5 * mag, np.abs(wp[:, :, 0, 0]).astype(np.float64))
    if r is not None:
        y += r
    return _act(act2, y), bound


def _cpu_flags():
    with open("/proc/cpuinfo") as f:
        return set(next((line for line in f if line.startswith("flags")), "").split())


# Whether a layer fuses follows the kernels the machine picks (fuse_depthwise_pointwise.cpp, bandable): the counts are
# checked on AVX2-only CPUs (Zen 3, where it was measured); with AVX-512 the 1x1 layers with few outputs take the direct
# kernel and 56x56 depthwise layers the per-plane one, and the scalar ISA (GIE_CPU_ISA=scalar) runs nothing by bands,
# so there only the results are checked.
AVX2_ONLY = ({"avx2", "fma"} <= _cpu_flags() and "avx512f" not in _cpu_flags() and
             os.environ.get("GIE_CPU_ISA", "avx2") == "avx2")


def check_case(case, seed, stride=1, expect_fused=True):
    data = _data(case, seed, stride)
    fused, feeds = _build(case, data, True, stride=stride)
    plain, _ = _build(case, data, False, stride=stride)
    assert len(_fused_kernels(fused)) == int(expect_fused) or not AVX2_ONLY
    assert not _fused_kernels(plain)
    ref, bound = _reference(case, data, stride)
    got = _run(fused, feeds, ref.shape)
    unfused = _run(plain, feeds, ref.shape)
    assert_close(got, ref, rtol=1e-5, atol=1e-5 * max(1.0, float(bound.max())), what=f"{case} fused vs float64")
    # the same kernels in the same order per output: equal to the unfused layers up to rounding
    assert_close(got, unfused, rtol=1e-6, atol=1e-6 * max(1.0, float(bound.max())), what=f"{case} fused vs unfused")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_fused_against_reference_and_unfused(case):
    check_case(case, CASES.index(case) + 1)


_THREADS_SCRIPT = r"""
import sys
sys.path.insert(0, sys.argv[1])
import test_depthwise_pointwise as t
for i, case in enumerate(t.CASES):
    t.check_case(case, 100 + i)
print("ok")
"""


@pytest.mark.parametrize("threads", [1, 3])
def test_fused_with_other_thread_counts(threads):
    """Bands are a multiple of the thread count at batch 1: 1 and 3 threads (the default run has the machine's)."""
    env = dict(os.environ, GIE_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    r = subprocess.run([sys.executable, "-c", _THREADS_SCRIPT, os.path.dirname(os.path.abspath(__file__))], env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]


@pytest.mark.parametrize("shape", [(57, 61), (100, 98)], ids=["q31", "q49"])
def test_stride2(shape):
    """Stride 2 fuses where the depthwise layer runs on the channel-blocked kernel: 29x31 outputs (MobileNetV2's
    features.4 is 28x28); 50x49 outputs (3x3, >= 48 a row) take AVX2's stride-2 row kernel, which cannot run by
    bands."""
    case = (13, shape[0], shape[1], 3, (1, 1), (1, 1), 1, 11, 2, A.RELU6, None, True)
    check_case(case, 5, stride=2, expect_fused=shape[1] < 96)


@pytest.mark.parametrize("what", ["small_plane", "second_reader"])
def test_not_fused(what):
    case = CASES[0]
    if what == "small_plane":  # 27 x 29 = 783 output pixels, one below the smallest fused plane
        case = (13, 27, 29) + CASES[0][3:]
    data = _data(case, 7)
    engine, feeds = _build(case, data, True, second_reader=what == "second_reader")
    assert not _fused_kernels(engine)
    if what == "small_plane":  # still the right result
        ref, bound = _reference(case, data)
        assert_close(_run(engine, feeds, ref.shape), ref, rtol=1e-5, atol=1e-5 * max(1.0, float(bound.max())))


def test_fused_against_onnxruntime():
    """MobileNetV2's inverted-residual tail as ONNX (Conv group=C, Clip 0..6, 1x1 Conv, Add): gie (fused) against
    onnxruntime on an awkward shape."""
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(11)
    C, H, W, K = 24, 37, 45, 24
    x = rng.standard_normal((1, C, H, W)).astype(np.float32)
    wd = rng.standard_normal((C, 1, 3, 3)).astype(np.float32)
    bd = rng.standard_normal(C).astype(np.float32)
    wp = (rng.standard_normal((K, C, 1, 1)) / np.sqrt(C)).astype(np.float32)
    bp = rng.standard_normal(K).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in ((wd, "wd"), (bd, "bd"), (wp, "wp"), (bp, "bp"),
                                                        (np.array(0, np.float32), "lo"), (np.array(6, np.float32), "hi"))]
    nodes = [helper.make_node("Conv", ["x", "wd", "bd"], ["m"], group=C, pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
             helper.make_node("Clip", ["m", "lo", "hi"], ["mc"]),
             helper.make_node("Conv", ["mc", "wp", "bp"], ["p"], kernel_shape=[1, 1]),
             helper.make_node("Add", ["p", "x"], ["y"])]
    graph = helper.make_graph(nodes, "dwpw", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, (1, K, H, W))], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    expected = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "dwpw.onnx")
        onnx.save(model, path)
        builder = gie.Builder()
        net = gie.parse(path, builder=builder)
        config = builder.create_config()
        config.device = "cpu"
        engine = builder.build(net, config)
    assert len(_fused_kernels(engine)) == 1 or not AVX2_ONLY
    got = _run(engine, {"x": x}, expected.shape)
    assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_fused_engine_serializes_and_refits():
    """The fused kernel's fields (dw_* / pw_*) survive an engine file, and a refit from the whole network (the fused
    weights come from two layers) gives what a fresh build on the new weights gives."""
    case = CASES[1]
    old, new = _data(case, 21), _data(case, 22)
    new = (old[0],) + new[1:5] + (old[5],)  # same input and residual, new weights

    def define(net, data):
        C, H, W, k, pre, post, dil, K, n, act1, act2, res = case
        x, wd, bd, wp, bp, r = data
        t = net.add_input("x", gie.float32, x.shape)
        dw = net.add_convolution(t, C, (k, k), wd, bd, pre_padding=pre, post_padding=post, num_groups=C)
        dw.name = "dw"
        m = net.add_activation(dw.output(0), act1).output(0)
        pw = net.add_convolution(m, K, (1, 1), wp, bp)
        pw.name = "pw"
        y = net.add_elementwise(pw.output(0), net.add_input("r", gie.float32, r.shape), gie.ElementWiseOperation.SUM)
        net.mark_output(y.output(0), "y")
        return net

    def build(data):
        b = gie.Builder()
        c = b.create_config()
        c.device = "cpu"
        c.refittable = True
        c.max_batch = case[8]
        return b.build(define(b.create_network(), data), c)

    engine = build(old)
    assert len(_fused_kernels(engine)) == 1 or not AVX2_ONLY
    feeds = {"x": old[0], "r": old[5]}
    ref_old, bound = _reference(case, old)
    loaded = gie.Runtime().deserialize(engine.serialize())
    assert len(_fused_kernels(loaded)) == len(_fused_kernels(engine))
    np.testing.assert_array_equal(_run(loaded, feeds, ref_old.shape), _run(engine, feeds, ref_old.shape))
    gie.Refitter(engine).set_network(define(gie.Builder().create_network(), new)).refit()
    ref_new, bound = _reference(case, new)
    assert np.abs(ref_new - ref_old).max() > 0.1
    got = _run(engine, feeds, ref_new.shape)
    assert_close(got, ref_new, rtol=1e-5, atol=1e-5 * max(1.0, float(bound.max())), what="refitted")
    np.testing.assert_array_equal(got, _run(build(new), feeds, ref_new.shape))


_SCALAR_SCRIPT = r"""
import sys
import numpy as np
import gie
engine = gie.Runtime().deserialize(open(sys.argv[1], "rb").read())
data = np.load(sys.argv[2])
out = np.full(data["y"].shape, np.nan, np.float32)
engine.create_execution_context().execute({"x": data["x"], "r": data["r"]}, {"y": out})
np.save(sys.argv[3], out)
"""


def test_fused_engine_on_the_scalar_isa(tmp_path):
    """An engine fused on this machine, loaded where the pieces cannot run by bands (GIE_CPU_ISA=scalar: no
    channel-blocked depthwise kernel): the kernel runs the two convolutions one after the other through its
    workspace, with the same results."""
    case = CASES[1]
    data = _data(case, 31)
    engine, feeds = _build(case, data, True)
    if not _fused_kernels(engine):
        pytest.skip("nothing fused on this machine")
    ref, bound = _reference(case, data)
    (tmp_path / "e.gie").write_bytes(engine.serialize())
    np.savez(tmp_path / "d.npz", x=feeds["x"], r=feeds["r"], y=ref.astype(np.float32))
    env = dict(os.environ, GIE_CPU_ISA="scalar")
    r = subprocess.run([sys.executable, "-c", _SCALAR_SCRIPT, str(tmp_path / "e.gie"), str(tmp_path / "d.npz"),
                        str(tmp_path / "y.npy")], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert_close(np.load(tmp_path / "y.npy"), ref, rtol=1e-5, atol=1e-5 * max(1.0, float(bound.max())), what="scalar")
