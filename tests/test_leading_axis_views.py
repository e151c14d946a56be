"""leading_axis_views (docs/optimizer.md): a Gather of one constant index, or a Slice with stride 1 (Split: Slices), that
takes a contiguous run of rows (its axis has only 1s before it) becomes a view of its input at a row offset, so no kernel
runs. Every case is compared with numpy (or onnxruntime) and with the pass disabled, and the kernel count is checked."""
import os
import struct
import sys

import numpy as np
import pytest

import gie
from gie import report
from engine_layout import fix_crcs, parse
from util import assert_close, ort_run

PASS = "leading_axis_views"
HERE = os.path.dirname(os.path.abspath(__file__))


def _qkv(net, x):
    """(B, 4, 3, 128) -> sigmoid -> (3, B, 4, 128): a produced tensor whose rows are split like a ViT's q, k, v."""
    s = net.add_activation(x, gie.ActivationType.SIGMOID).output(0)
    return net.add_shuffle(s, first_transpose=(2, 0, 1, 3)).output(0)


def _qkv_ref(x):
    return (1 / (1 + np.exp(-x.astype(np.float64)))).transpose(2, 0, 1, 3)


def _index(net, value, shape=()):
    return net.add_constant(shape, np.array(value, np.int32).reshape(shape)).output(0)


def _tanh(net, t):
    return net.add_activation(t, gie.ActivationType.TANH).output(0)


def _build(define, shape, passes_off=(), device="cpu", fp16=False, batches=None, profile=None, dtype=gie.float32):
    """define(net, x) -> outputs. batches=(min, opt, max): a batch range on dimension 0 (default: fixed at shape[0]);
    profile=(min, opt, max) shapes: an optimization profile for an input with dimension 0 dynamic."""
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", dtype, ((-1,) + tuple(shape[1:])) if profile else tuple(shape))
    outs = define(net, x)
    for i, t in enumerate(outs if isinstance(outs, (list, tuple)) else [outs]):
        net.mark_output(t, f"out{i}")
    config = builder.create_config()
    config.device = device
    config.fp16 = fp16
    if profile:
        p = builder.create_optimization_profile()
        p.set_shape("x", *profile)
        config.add_optimization_profile(p)
    else:
        config.set_batch_range(*(batches or (shape[0],) * 3))
    for name in passes_off:
        config.set_pass_enabled(name, False)
    return builder.build(net, config)


def _run(engine, x):
    out = engine.create_execution_context().execute({"x": x})
    return [out[f"out{i}"] for i in range(len(out))]


def _views(engine):
    """Names of the tensors the kernels read that are range views, and the pass's log lines."""
    info = engine.layer_info()
    views = {t["name"] for k in info["kernels"] for t in k["inputs"] if t.get("view_kind") == "rows"}
    return views, [p for p in info.get("passes", []) if p.startswith(PASS)]


def _layout(engine):
    """(type, precision, [(input dtype, format)], [(output dtype, format)]) per kernel: the failure messages' detail."""
    io = lambda ts: [(t["dtype"], t["format"]) + (("view",) if t.get("view_kind") else ()) for t in ts]
    return [(k["type"], k["precision"], io(k["inputs"]), io(k["outputs"])) for k in engine.layer_info()["kernels"]]


def _computing(engine):
    """The number of kernels other than Reformats: with FP16 the GPU builder may choose by timing FP32 for a small layer
    and convert around it (on an H100 on 2026-12-07 the FP16 counts differed between runs so), which is not the pass's."""
    return sum(k["type"] != "Reformat" for k in engine.layer_info()["kernels"])


def _check(define, refs, shape, xs, removed, tol=1e-5, **kw):
    """Builds with and without the pass; both match refs(x) at every x in xs; the pass removes `removed` kernels
    (Reformats not counted: _computing)."""
    on, off = _build(define, shape, **kw), _build(define, shape, passes_off=(PASS,), **kw)
    for x in xs:
        a, b = _run(on, x), _run(off, x)
        for i, e in enumerate(refs(x)):
            assert_close(a[i], e, rtol=tol, atol=tol, what=f"out{i} with the pass")
            assert_close(b[i], e, rtol=tol, atol=tol, what=f"out{i} without the pass")
    assert _computing(off) - _computing(on) == removed, (_computing(on), _computing(off), _views(on), _layout(on), _layout(off))
    return on, off


def _x(rng, b, c=4, dtype=np.float32):
    return rng.standard_normal((b, c, 3, 128)).astype(dtype)


@pytest.mark.parametrize("index", [0, 1, 2, -1])
def test_gather_axis0_scalar_index_is_a_view(rng, index):
    def define(net, x):
        return _tanh(net, net.add_gather(_qkv(net, x), _index(net, index), axis=0).output(0))

    on, _ = _check(define, lambda x: [np.tanh(_qkv_ref(x)[index])], (3, 4, 3, 128), [_x(rng, 3)], removed=1)
    views, log = _views(on)
    assert len(views) == 1 and len(log) == 1 and "Gather" in log[0], log
    assert [k["type"] for k in on.layer_info()["kernels"]] == ["Activation", "Shuffle", "Activation"]


def test_gather_with_one_element_index_keeps_its_axis(rng):
    def define(net, x):
        return _tanh(net, net.add_gather(_qkv(net, x), _index(net, [2], (1,)), axis=0).output(0))

    _check(define, lambda x: [np.tanh(_qkv_ref(x)[2:3])], (2, 4, 3, 128), [_x(rng, 2)], removed=1)


def test_gather_on_axis1_after_a_unit_dimension(rng):
    """(1, 3, B, 4, 128): dimension 0 is 1, so the rows of axis 1 are contiguous too."""
    def define(net, x):
        t = net.add_shuffle(_qkv(net, x), reshape=(1, 3, -1, 4, 128)).output(0)
        return _tanh(net, net.add_gather(t, _index(net, 1), axis=1).output(0))

    _check(define, lambda x: [np.tanh(_qkv_ref(x)[None, 1])], (2, 4, 3, 128), [_x(rng, 2)], removed=1)


def test_gather_on_a_non_leading_axis_is_kept(rng):
    def define(net, x):
        return _tanh(net, net.add_gather(_qkv(net, x), _index(net, 1), axis=1).output(0))

    on, _ = _check(define, lambda x: [np.tanh(_qkv_ref(x)[:, 1])], (2, 4, 3, 128), [_x(rng, 2)], removed=0)
    gather = next(k for k in on.layer_info()["kernels"] if k["type"] == "Gather")
    assert any(PASS + ": kept: dimension 0" in n for n in gather["notes"]), gather["notes"]


def test_slice_axis0_stride1_is_a_view_and_stride2_is_kept(rng):
    shape = (2, 4, 3, 128)

    def define(net, x):
        t = _qkv(net, x)
        a = net.add_slice(t, (1, 0, 0, 0), (2, 2, 4, 128)).output(0)       # rows 1, 2: a view
        b = net.add_slice(t, (0, 0, 0, 0), (2, 2, 4, 128), (2, 1, 1, 1)).output(0)  # rows 0, 2: not contiguous
        c = net.add_slice(t, (0, 0, 0, 0), (3, 2, 2, 128)).output(0)       # a part of every row: not contiguous
        return [_tanh(net, a), _tanh(net, b), _tanh(net, c)]

    def refs(x):
        q = _qkv_ref(x)
        return [np.tanh(q[1:3]), np.tanh(q[0:3:2]), np.tanh(q[:, :, :2])]

    on, _ = _check(define, refs, shape, [_x(rng, 2)], removed=1)
    notes = [n for k in on.layer_info()["kernels"] if k["type"] == "Slice" for n in k["notes"]]
    assert any("stride along dimension 0 is 2" in n for n in notes) and any("before its axis 2, is not 1" in n for n in notes), notes


def test_split_on_axis0_is_views(rng, tmp_path):
    """torch.split along dimension 0 of a static batch (ONNX Split: Slices), against onnxruntime."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Sigmoid", ["x"], ["s"]),
             helper.make_node("Split", ["s", "sizes"], ["a", "b", "c"], axis=0),
             helper.make_node("Tanh", ["a"], ["y0"]), helper.make_node("Tanh", ["b"], ["y1"]), helper.make_node("Tanh", ["c"], ["y2"])]
    graph = helper.make_graph(nodes, "split0", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6, 5, 128])],
                              [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, [n, 5, 128]) for i, n in enumerate((2, 3, 1))],
                              [helper.make_tensor("sizes", TensorProto.INT64, [3], [2, 3, 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    x = rng.standard_normal((6, 5, 128)).astype(np.float32)
    ref = ort_run(model, {"x": x})
    path = str(tmp_path / "split0.onnx")
    onnx.save(model, path)
    engines = []
    for off in ((), (PASS,)):
        builder = gie.Builder()
        net = gie.OnnxParser(builder=builder).parse(path)
        config = builder.create_config()
        config.device = "cpu"
        config.set_batch_range(6, 6, 6)
        for name in off:
            config.set_pass_enabled(name, False)
        engine = builder.build(net, config)
        out = engine.create_execution_context().execute({"x": x})
        for k in ref:
            assert_close(out[k], ref[k], rtol=1e-5, atol=1e-6, what=k)
        engines.append(engine)
    assert engines[1].num_kernels - engines[0].num_kernels == 3, (engines[0].num_kernels, engines[1].num_kernels)


def test_views_of_views_are_views_of_the_first_parent(rng):
    """A Gather of a Slice's rows, and a Gather along axis 1 of a Gather's (1, 4, 128) rows (4 of them per row of the
    first): views of the Shuffle's output at the summed offsets."""
    def define(net, x):
        q = _qkv(net, x)  # (3, 1, 4, 128)
        part = net.add_slice(q, (1, 0, 0, 0), (2, 1, 4, 128)).output(0)
        g1 = net.add_gather(q, _index(net, 1), axis=0).output(0)
        return [_tanh(net, net.add_gather(part, _index(net, 1), axis=0).output(0)),
                _tanh(net, net.add_gather(g1, _index(net, 2), axis=1).output(0))]

    def refs(x):
        q = _qkv_ref(x)
        return [np.tanh(q[2]), np.tanh(q[1][:, 2])]

    on, _ = _check(define, refs, (1, 4, 3, 128), [_x(rng, 1)], removed=4)
    log = _views(on)[1]
    assert any("rows [2, 3) of" in p for p in log) and any("rows [6, 7) of" in p for p in log), log


def test_one_view_read_by_two_kernels(rng):
    def define(net, x):
        g = net.add_gather(_qkv(net, x), _index(net, 1), axis=0).output(0)
        return [_tanh(net, g), net.add_activation(g, gie.ActivationType.RELU).output(0)]

    def refs(x):
        q = _qkv_ref(x)[1]
        return [np.tanh(q), np.maximum(q, 0)]

    _check(define, refs, (3, 4, 3, 128), [_x(rng, 3)], removed=1)


def test_a_gather_that_is_a_network_output_keeps_its_kernel(rng):
    def define(net, x):
        q = _qkv(net, x)
        return [net.add_gather(q, _index(net, 2), axis=0).output(0), _tanh(net, net.add_gather(q, _index(net, 0), axis=0).output(0))]

    def refs(x):
        q = _qkv_ref(x)
        return [q[2], np.tanh(q[0])]

    on, _ = _check(define, refs, (2, 4, 3, 128), [_x(rng, 2)], removed=1)
    gather = next(k for k in on.layer_info()["kernels"] if k["type"] == "Gather")
    assert any("its output is a network output" in n for n in gather["notes"]), gather["notes"]


def test_rows_of_a_network_input_or_output_are_kept(rng):
    """The input's buffer is the caller's, and so is an output's: a Gather from either keeps its kernel."""
    def define(net, x):
        q = _qkv(net, x)
        from_input = net.add_gather(x, _index(net, 1), axis=0).output(0)  # rows of x (batch fixed at 2)
        return [q, _tanh(net, net.add_gather(q, _index(net, 0), axis=0).output(0)), _tanh(net, from_input)]

    def refs(x):
        q = _qkv_ref(x)
        return [q, np.tanh(q[0]), np.tanh(x[1])]

    on, _ = _check(define, refs, (2, 4, 3, 128), [_x(rng, 2)], removed=0)
    notes = sorted(n for k in on.layer_info()["kernels"] if k["type"] == "Gather" for n in k["notes"] if n.startswith(PASS))
    assert len(notes) == 2 and "input is a network input" in notes[0] and "input is a network output" in notes[1], notes


def test_misaligned_rows_and_out_of_range_index_are_kept(rng):
    """A row of (3, 5, 7) is 35 elements: row 1 would start off the 256-byte arena alignment kernels may assume."""
    def define(net, x):
        s = net.add_activation(x, gie.ActivationType.SIGMOID).output(0)
        return _tanh(net, net.add_gather(s, _index(net, 1), axis=0).output(0))

    on, _ = _check(define, lambda x: [np.tanh(1 / (1 + np.exp(-x[1].astype(np.float64))))], (3, 5, 7),
                   [rng.standard_normal((3, 5, 7)).astype(np.float32)], removed=0)
    notes = [n for k in on.layer_info()["kernels"] for n in k["notes"] if n.startswith(PASS)]
    assert notes and "256 bytes" in notes[0], notes

    def bad(net, x):
        return _tanh(net, net.add_gather(_qkv(net, x), _index(net, 3), axis=0).output(0))

    engine = _build(bad, (2, 4, 3, 128))
    gather = next(k for k in engine.layer_info()["kernels"] if k["type"] == "Gather")
    assert any("index 3 is out of range" in n for n in gather["notes"]), gather["notes"]
    with pytest.raises(gie.Error):
        _run(engine, _x(rng, 2))


@pytest.mark.parametrize("mode", ["batch_range", "profile"])
def test_dynamic_batch_views_follow_the_run_time_shape(rng, mode):
    """The batch is in the view's tail (3, B, 4, 128): its offset follows B at every run."""
    def define(net, x):
        q = _qkv(net, x)
        return [_tanh(net, net.add_gather(q, _index(net, i), axis=0).output(0)) for i in range(3)]

    kw = dict(batches=(1, 2, 5)) if mode == "batch_range" else dict(profile=((1, 4, 3, 128), (2, 4, 3, 128), (5, 4, 3, 128)))
    xs = [_x(rng, b) for b in (5, 1, 3, 2)]
    on, _ = _check(define, lambda x: [np.tanh(q) for q in _qkv_ref(x)], (5, 4, 3, 128), xs, removed=3, **kw)
    assert len(_views(on)[0]) == 3


def test_rows_along_the_dynamic_batch_are_kept(rng):
    """Rows of dimension 0 when dimension 0 is the batch: their offsets would move, so the Slice runs."""
    def define(net, x):
        s = net.add_activation(x, gie.ActivationType.SIGMOID).output(0)
        t = net.add_slice(s, (0, 0, 0, 0), (1, 4, 3, 128)).output(0)
        return _tanh(net, t)

    on, _ = _check(define, lambda x: [np.tanh(1 / (1 + np.exp(-x[:1].astype(np.float64))))], (3, 4, 3, 128),
                   [_x(rng, 3), _x(rng, 2)], removed=0, batches=(1, 2, 3))
    notes = [n for k in on.layer_info()["kernels"] for n in k["notes"] if n.startswith(PASS)]
    assert notes and "changes with the input shapes" in notes[0], notes


def test_fp16_cpu(rng):
    def define(net, x):
        q = _qkv(net, x)
        return [_tanh(net, net.add_gather(q, _index(net, i), axis=0).output(0)) for i in range(3)]

    on, _ = _check(define, lambda x: [np.tanh(q) for q in _qkv_ref(x)], (2, 4, 3, 128), [_x(rng, 2)], removed=3, tol=2e-3, fp16=True)
    kernels = on.layer_info()["kernels"]
    views = [t for k in kernels for t in k["inputs"] if t.get("view_kind") == "rows"]
    parents = {t["name"]: t for k in kernels for t in k["outputs"]}
    # The views and their parent have one type and LINEAR, whichever type the negotiation chose.
    states = {(t["dtype"], t["format"]) for t in views} | {(parents[t["view_of"]]["dtype"], parents[t["view_of"]]["format"]) for t in views}
    assert len(views) == 3 and len(states) == 1 and next(iter(states))[1] == "linear", states


def test_serialize_round_trip_keeps_the_views(rng):
    def define(net, x):
        q = _qkv(net, x)
        return [_tanh(net, net.add_gather(q, _index(net, i), axis=0).output(0)) for i in range(3)]

    engine = _build(define, (5, 4, 3, 128), batches=(1, 3, 5))
    data = bytes(engine.serialize())
    loaded = gie.Runtime().deserialize(data)
    assert loaded.num_kernels == engine.num_kernels and _views(loaded)[0] == _views(engine)[0]
    for b in (5, 2):
        x = _x(rng, b)
        for a, e in zip(_run(loaded, x), [np.tanh(q) for q in _qkv_ref(x)]):
            assert_close(a, e, rtol=1e-5, atol=1e-5)
    seen = [t for k in loaded.layer_info()["kernels"] for t in k["inputs"] if t.get("view_kind") == "rows"]
    assert sorted(t["view_offset_elements"] for t in seen) == [0, 5 * 4 * 128, 2 * 5 * 4 * 128]  # at the planned batch 5
    assert all(report.tensor_location(t).startswith("rows of ") for t in seen)
    tensors = parse(data)["tensors"]
    views = [t for t in tensors if int(t["viewTail"]) >= 0]
    assert len(views) == 3 and sorted(int(t["viewOffset"]) for t in views) == [0, 1, 2]
    assert all(int(t["viewTail"]) == 3 for t in views)


def _engine_with_views():
    def define(net, x):
        q = _qkv(net, x)
        return [_tanh(net, net.add_gather(q, _index(net, i), axis=0).output(0)) for i in range(3)]

    return bytes(_build(define, (2, 4, 3, 128)).serialize())


@pytest.mark.parametrize("field,value,match", [
    ("viewOffset", 3, "outside the parent's 3 rows"),        # rows 3..4 of 3
    ("viewOffset", -1, "outside the parent's"),
    ("viewOffset", (1 << 62), "outside the parent's"),        # no overflow on the way
    ("viewTail", 4, "exceeds the rank"),                     # the view has rank 3
    ("viewTail", -2, "view tail -2"),
    ("viewOf", -1, "view tail"),                             # a tail without a parent
])
def test_crafted_view_fields_are_refused(field, value, match):
    data = _engine_with_views()
    t = next(t for t in parse(data)["tensors"] if int(t["viewTail"]) >= 0 and int(t["viewOffset"]) == 2)
    num = t[field]
    b = bytearray(data)
    struct.pack_into(num.fmt, b, num.offset, value)
    with pytest.raises(gie.InvalidEngineError, match=match) as e:
        gie.Runtime().deserialize(fix_crcs(bytes(b)))
    assert field == "viewOf" or t["name"] in str(e.value)


def test_crafted_range_view_that_a_kernel_writes_is_refused():
    data = _engine_with_views()
    e = parse(data)
    view = next(i for i, t in enumerate(e["tensors"]) if int(t["viewTail"]) >= 0)
    out = next(s for s in e["steps"] if s["type"] == "Activation" and int(s["outputs"][0]) != view and
               e["tensors"][int(s["outputs"][0])]["kind"].value == 0)
    b = bytearray(data)
    struct.pack_into("<i", b, out["outputs"][0].offset, view)
    with pytest.raises(gie.InvalidEngineError, match="a range view"):
        gie.Runtime().deserialize(fix_crcs(bytes(b)))


def _vit_small(tmp_path):
    """(bench/zoo_gpu, ONNX path, input, torch's output) for torchvision's ViT (bench/zoo_gpu.py vit_small, 6 blocks) at
    batch 2; skips without torch / torchvision."""
    torch = pytest.importorskip("torch")
    sys.path.insert(0, os.path.join(HERE, "..", "bench"))
    try:
        import zoo_gpu

        model = zoo_gpu.make_model(torch, "vit_small", 0)
    except Exception as e:  # noqa: BLE001 (a torchvision that does not import here)
        pytest.skip(f"torchvision's VisionTransformer is not available: {e}")
    path = str(tmp_path / "vit.onnx")
    zoo_gpu.export_onnx(torch, model, 2, path, 17)
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = model(x).numpy()
    return zoo_gpu, path, x.numpy(), ref


def test_vit_small_gathers_become_views(tmp_path):
    """The 3 q/k/v Gathers per encoder block are views; the engine still matches torch."""
    zoo_gpu, path, x, ref = _vit_small(tmp_path)
    counts = {}
    for off in ((), (PASS,)):
        engine = zoo_gpu.build_engine(gie, path, 2, "cpu", False, off)
        out = engine.create_execution_context().execute({"x": x})["y"]
        err, top1 = zoo_gpu.accuracy(out, ref)
        assert err <= 1e-4 and top1 == 1.0, (off, err, top1)
        counts[off] = (engine.num_kernels, sum(k["type"] == "Gather" for k in engine.layer_info()["kernels"]))
    assert counts[(PASS,)][0] - counts[()][0] == 18 and counts[()][1] == counts[(PASS,)][1] - 18, counts


# ---- GPU (run by the lead on a GPU) -------------------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.parametrize("fp16", [False, True])
def test_gpu_views_match_cpu(rng, fp16):
    def define(net, x):
        q = _qkv(net, x)
        outs = [_tanh(net, net.add_gather(q, _index(net, i), axis=0).output(0)) for i in range(3)]
        outs.append(_tanh(net, net.add_slice(q, (1, 0, 0, 0), (2, 3, 4, 128)).output(0)))
        return outs

    def refs(x):
        q = _qkv_ref(x)
        return [np.tanh(v) for v in q] + [np.tanh(q[1:3])]

    tol = 3e-3 if fp16 else 1e-5
    on, off = _check(define, refs, (3, 4, 3, 128), [_x(rng, 3)], removed=4, tol=tol, device="gpu", fp16=fp16)
    kernels = on.layer_info()["kernels"]
    views = [t for k in kernels for t in k["inputs"] if t.get("view_kind") == "rows"]
    parents = {t["name"]: t for k in kernels for t in k["outputs"]}
    states = {(t["dtype"], t["format"]) for t in views} | {(parents[t["view_of"]]["dtype"], parents[t["view_of"]]["format"]) for t in views}
    assert len(views) == 4 and len(states) == 1 and next(iter(states))[1] == "linear", states


@pytest.mark.gpu
def test_gpu_dynamic_batch_and_round_trip(rng):
    def define(net, x):
        q = _qkv(net, x)
        return [_tanh(net, net.add_gather(q, _index(net, i), axis=0).output(0)) for i in range(3)]

    kw = dict(profile=((1, 4, 3, 128), (2, 4, 3, 128), (6, 4, 3, 128)), device="gpu")
    xs = [_x(rng, b) for b in (6, 1, 4)]
    on, _ = _check(define, lambda x: [np.tanh(q) for q in _qkv_ref(x)], (6, 4, 3, 128), xs, removed=3, **kw)
    loaded = gie.Runtime().deserialize(on.serialize())
    for x in xs:
        for a, e in zip(_run(loaded, x), [np.tanh(q) for q in _qkv_ref(x)]):
            assert_close(a, e, rtol=1e-5, atol=1e-5)


@pytest.mark.gpu
def test_gpu_vit_small_fp16_gathers_become_views(tmp_path):
    zoo_gpu, path, x, ref = _vit_small(tmp_path)
    kernels = {}
    for off in ((), (PASS,)):
        engine = zoo_gpu.build_engine(gie, path, 2, "gpu", True, off)
        out = engine.create_execution_context().execute({"x": x})["y"]
        err, top1 = zoo_gpu.accuracy(out, ref)
        assert err <= 3e-2, (off, err)
        kernels[off] = _computing(engine)
    assert kernels[(PASS,)] - kernels[()] == 18, kernels


@pytest.mark.parametrize("device", ["cpu", pytest.param("gpu", marks=pytest.mark.gpu)])
def test_pass_runs_by_default(rng, device, monkeypatch):
    """The pass runs in a default build on both devices (in GPU builds since its GPU tests passed on an H100 on
    2026-12-07; GIE_UNVERIFIED_TACTICS concerns tactics only); set_pass_enabled(name, True) on a pass that is on
    changes nothing, set_pass_enabled(name, False) switches it off."""
    monkeypatch.delenv("GIE_UNVERIFIED_TACTICS", raising=False)

    def define(net, x):
        q = _qkv(net, x)
        return [_tanh(net, net.add_gather(q, _index(net, i), axis=0).output(0)) for i in range(3)]

    builder = gie.Builder()
    net = builder.create_network()
    outs = define(net, net.add_input("x", gie.float32, (3, 4, 3, 128)))
    for i, t in enumerate(outs):
        net.mark_output(t, f"out{i}")
    x = _x(rng, 3)
    found = {}
    for enabled in (None, True, False):
        config = builder.create_config()
        config.device = device
        config.set_batch_range(3, 3, 3)
        if enabled is not None:
            config.set_pass_enabled(PASS, enabled)
        assert config.get_pass_enabled(PASS) == (enabled is not False)
        engine = builder.build(net, config)
        views, log = _views(engine)
        gathers = [k["type"] for k in engine.layer_info()["kernels"]].count("Gather")
        found[enabled] = (len(views), len(log), gathers)
        for a, e in zip(_run(engine, x), [np.tanh(q) for q in _qkv_ref(x)]):
            assert_close(a, e, rtol=1e-5, atol=1e-5, what=f"set_pass_enabled: {enabled}")
    assert found == {None: (3, 3, 0), True: (3, 3, 0), False: (0, 0, 3)}, found
