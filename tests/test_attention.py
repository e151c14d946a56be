"""The Attention layer (softmax(scale Q K^T + mask) V in one kernel) and recognize_attention (issue 20): the layer
against numpy on awkward shapes (CPU FP32 / FP16 storage; GPU FP32 / FP16 against the CPU reference), its errors,
and the pattern as torch exports attention (a hand-written ViT block, nn.MultiheadAttention's bmm path,
scaled_dot_product_attention's sqrt-scaled Q and K^T, a BERT-style Div + additive mask), each checked three ways:
the build report names it, the engine has one Attention kernel and no Softmax, and the output equals onnxruntime's
and that of the engine built with the pass off. Near misses must not be rewritten and still compute the right thing."""
import math

import numpy as np
import pytest

import gie
import util
from gpu_util import compare_gpu_cpu, fp16_config, fp16_everywhere, gpu, gpu_tactics, poisoned_output, to_device


# ================================================================================================ the layer

def _ref(q, k, v, scale=None, mask=None, transpose_k=False):
    q64, k64, v64 = (a.astype(np.float64) for a in (q, k, v))
    kt = k64 if transpose_k else np.swapaxes(k64, -1, -2)
    s = q64 @ kt * (1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    if mask is not None:
        s = s + mask.astype(np.float64)
    s = s - s.max(-1, keepdims=True)
    e = np.exp(s)
    return (e / e.sum(-1, keepdims=True)) @ v64


def _fields(scale=None, transpose_k=False):
    f = {}
    if scale is not None:
        f["scale"] = np.array([scale], np.float32)
    if transpose_k:
        f["transpose_k"] = np.array([1], np.int64)
    return f


def _define(scale=None, transpose_k=False, mask=False):
    def define(net, t):
        ins = [t["q"], t["k"], t["v"]] + ([t["m"]] if mask else [])
        return net.add_layer("Attention", ins, _fields(scale, transpose_k)).output(0)
    return define


def _inputs(rng, b, sq, sk, d, dv, transpose_k=False, mask_shape=None, heads=()):
    q = rng.standard_normal((b, *heads, sq, d)).astype(np.float32)
    k = rng.standard_normal((b, *heads, sk, d)).astype(np.float32)
    if transpose_k:
        k = np.ascontiguousarray(np.swapaxes(k, -1, -2))
    v = rng.standard_normal((b, *heads, sk, dv)).astype(np.float32)
    inputs = {"q": q, "k": k, "v": v}
    if mask_shape is not None:
        m = (rng.standard_normal(mask_shape) * 2).astype(np.float32)
        if mask_shape[-2] > 1 and mask_shape[-1] > 1:  # causal: -inf above the diagonal (the first key stays)
            m[..., np.triu_indices(mask_shape[-2], 1, mask_shape[-1])[0], np.triu_indices(mask_shape[-2], 1, mask_shape[-1])[1]] = -np.inf
        inputs["m"] = m
    return inputs


LAYER_CASES = {  # name: (b, heads, sq, sk, d, dv, transpose_k, mask shape (broadcast to (b, *heads, sq, sk)), scale)
    "vit_like_s77_d40": (2, (3,), 77, 77, 40, 40, False, None, None),
    "one_everything": (1, (1,), 1, 1, 1, 1, False, None, 0.7),
    "cross_attention": (2, (2,), 17, 45, 24, 33, False, None, 0.2),
    "rank3_transposed_k": (3, (), 29, 31, 64, 64, True, None, None),
    "causal_mask_broadcast": (2, (3,), 33, 33, 16, 8, False, (33, 33), None),
    "padding_mask_per_sample": (2, (3,), 9, 40, 8, 12, False, (2, 1, 1, 40), 0.5),
    "rank5": (2, (2, 3), 5, 7, 12, 6, True, (2, 1, 3, 5, 7), None),
}


@pytest.mark.parametrize("case", LAYER_CASES)
def test_attention_layer_matches_numpy(case, rng):
    b, heads, sq, sk, d, dv, tk, ms, scale = LAYER_CASES[case]
    x = _inputs(rng, b, sq, sk, d, dv, tk, ms, heads)
    out, = util.run(_define(scale, tk, ms is not None), x)
    util.assert_close(out, _ref(x["q"], x["k"], x["v"], scale, x.get("m"), tk), rtol=1e-5, atol=1e-5)


def test_attention_runs_below_the_max_batch(rng):
    x = _inputs(rng, 4, 13, 13, 8, 8, heads=(2,), mask_shape=(4, 1, 1, 13))
    engine = util.build(_define(mask=True), x)
    ctx = engine.create_execution_context()
    for bs in (4, 1, 3):
        xs = {k: v[:bs] for k, v in x.items()}
        util.assert_close(ctx.execute(xs)["out0"], _ref(xs["q"], xs["k"], xs["v"], mask=xs["m"]))


def test_attention_fp16_storage_on_the_cpu(rng):
    x = _inputs(rng, 2, 21, 19, 40, 24, heads=(3,))
    engine = util.build(fp16_everywhere(_define(0.3)), x, configure=fp16_config)
    assert any(k["type"] == "Attention" and k["precision"] == "float16" for k in engine.layer_info()["kernels"])
    out = engine.create_execution_context().execute(x)["out0"]
    h = lambda a: np.asarray(a, np.float32).astype(np.float16).astype(np.float32)  # noqa: E731
    util.assert_close(out, h(_ref(h(x["q"]), h(x["k"]), h(x["v"]), 0.3)), rtol=2e-3, atol=2e-3)


def test_attention_bad_inputs_are_clear_errors(rng):
    x = _inputs(rng, 2, 5, 6, 8, 4, heads=(2,))
    bad_k = dict(x, k=x["k"][..., :7])
    with pytest.raises(gie.InvalidModelError, match="head size 7 but Q"):
        util.run(_define(), bad_k)
    with pytest.raises(gie.InvalidModelError, match="V .* has 5 rows but K has 6 keys"):
        util.run(_define(), dict(x, v=x["v"][:, :, :5]))
    with pytest.raises(gie.InvalidModelError, match="does not broadcast to the scores"):
        util.run(_define(mask=True), dict(x, m=np.zeros((2, 1, 5, 4), np.float32)))
    with pytest.raises(gie.InvalidArgumentError, match="transpose_k must be 0 or 1"):
        util.run(lambda net, t: net.add_layer("Attention", [t["q"], t["k"], t["v"]],
                                              {"transpose_k": np.array([2], np.int64)}).output(0), x)


@gpu
@pytest.mark.parametrize("case", list(LAYER_CASES) + ["head_256", "long_keys"])
@pytest.mark.parametrize("fp16", [False, True])
def test_gpu_attention_layer(case, fp16, rng):
    extra = {"head_256": (2, (2,), 19, 70, 256, 256, False, (19, 70), None),
             "long_keys": (1, (2,), 3, 1000, 64, 64, False, None, None)}
    b, heads, sq, sk, d, dv, tk, ms, scale = LAYER_CASES.get(case) or extra[case]
    x = _inputs(rng, b, sq, sk, d, dv, tk, ms, heads)
    define = _define(scale, tk, ms is not None)
    if not fp16:
        compare_gpu_cpu(define, x, rtol=1e-4, atol=1e-5)
        return
    # Every FP16 tactic, forced: the SIMT one, and the tensor-core one for heads up to 128 (P rounded to half
    # before the second product: a few half ulps of |y| < 4).
    tactics = gpu_tactics(define, x, "Attention", fp16=True)
    assert ("attention_flash_mma_64x64" in tactics) == (max(d, dv) <= 128), tactics
    for t in tactics:
        info = compare_gpu_cpu(define, x, fp16=True, expect_half=("Attention",), force={"Attention": t}, rtol=1e-2, atol=1e-2)
        assert [k["tactic"] for k in info["kernels"] if k["type"] == "Attention"] == [t]


# The pipelined tensor-core tactics (cuda/kernels/attention.cu attentionMma2: cp.async, double-buffered K / V, ldmatrix).
# The builder times them against the others (verified on an H100 on 2026-12-07; until then they were held back by
# engine/tactic_architecture.h); these tests force each, so both run whichever would win.
MMA2 = ["attention_flash_mma2_64x64", "attention_flash_mma2_32x64"]
MMA2_CASES = {  # name: (b, heads, sq, sk, d, dv, mask shape or None, dimension 0 = b); D, Dv multiples of 8, up to 128
    "sq1_sk63_d64": (2, (3,), 1, 63, 64, 64, None),
    "sq63_sk197_d64_padding_mask": (2, (3,), 63, 197, 64, 64, (2, 1, 1, 197)),
    "vit_s197_d64": (2, (6,), 197, 197, 64, 64, None),
    "sq300_sk1_d128": (1, (2,), 300, 1, 128, 128, None),
    "sq197_sk300_d128_causal": (1, (2,), 197, 300, 128, 128, (1, 1, 197, 300)),
    "sq65_sk64_d32_dv64": (3, (), 65, 64, 32, 64, None),
    "sq130_sk129_d128_dv40_mask_per_head": (1, (3,), 130, 129, 128, 40, (1, 3, 130, 129)),
    "sq77_sk77_d40_causal": (2, (3,), 77, 77, 40, 40, (2, 1, 77, 77)),
    "sq33_sk1000_d16_dv8": (2, (2,), 33, 1000, 16, 8, None),
}


def _half_io_attention(x, device, force=None):
    """Attention with float16 inputs, layer and output (no Reformat: on the GPU the kernel writes the caller's
    buffer itself, so a NaN-poisoned output catches every element it leaves unwritten)."""
    builder = gie.Builder()
    net = builder.create_network()
    t = {n: net.add_input(n, gie.float16, a.shape) for n, a in x.items()}
    layer = net.add_layer("Attention", [t["q"], t["k"], t["v"]] + ([t["m"]] if "m" in t else []), {})
    layer.precision = gie.DataType.HALF
    y = layer.output(0)
    net.mark_output(y, "y")
    y.dtype = gie.float16
    config = builder.create_config()
    config.device = device
    config.max_batch = x["q"].shape[0]
    fp16_config(config)
    if force:
        config.force_tactic("Attention", force)
    return builder.build(net, config)


def _half_inputs(rng, case):
    b, heads, sq, sk, d, dv, ms = MMA2_CASES[case]
    return {n: a.astype(np.float16) for n, a in _inputs(rng, b, sq, sk, d, dv, False, ms, heads).items()}


def _run_half_gpu(engine, x, expected_shape, misalign=()):
    """Runs the GPU engine on device copies of x into a NaN-poisoned float16 output; inputs named in `misalign` are
    passed 2 bytes past a 16-byte boundary (torch only)."""
    dev = {}
    for n, a in x.items():
        if n in misalign:
            import torch
            raw = torch.empty(a.size + 1, dtype=torch.float16, device="cuda")
            raw[1:] = torch.from_numpy(a.reshape(-1)).cuda()
            dev[n] = raw[1:].view(a.shape)
            assert dev[n].data_ptr() % 16 == 2
        else:
            dev[n] = to_device(a)
    buf, read = poisoned_output(expected_shape, np.float16)
    engine.create_execution_context().execute(dev, outputs={"y": buf})
    return read()


@gpu
@pytest.mark.parametrize("tactic", MMA2)
@pytest.mark.parametrize("case", MMA2_CASES)
def test_gpu_attention_mma2_tactics_forced(case, tactic, rng):
    """Each pipelined tactic, forced, against the CPU FP16 reference (FP32
    math on the same half inputs, half output) on Sq != Sk, Sq and Sk not multiples of 64 (1, 63, 65, 77, 129, 197,
    300, 1000 keys: several double-buffered tiles), D = Dv = 64 / 128, D != Dv, several batch matrices, with and
    without a mask (per sample, per head, causal: rows whose later keys are -inf). FP16 tolerance as the older
    tensor-core tactic (P rounded to half before P V; |y| < 4). Also the numpy float64 result within FP16 error."""
    x = _half_inputs(rng, case)
    expected = _half_io_attention(x, "cpu").create_execution_context().execute(x)["y"]
    engine = _half_io_attention(x, "gpu", force=tactic)
    kernels = engine.layer_info()["kernels"]
    assert [(k["type"], k["tactic"], k["precision"]) for k in kernels] == [("Attention", tactic, "float16")], kernels
    got = _run_half_gpu(engine, x, expected.shape)
    util.assert_close(got.astype(np.float32), expected.astype(np.float32), rtol=1e-2, atol=1e-2, what=f"{case} {tactic}")
    f32 = {n: a.astype(np.float32) for n, a in x.items()}
    util.assert_close(got.astype(np.float32), _ref(f32["q"], f32["k"], f32["v"], mask=f32.get("m")), rtol=2e-2, atol=2e-2)


@gpu
@pytest.mark.parametrize("misalign", ["q", "v"])
def test_gpu_attention_mma2_misaligned_input_falls_back(misalign, rng):
    """A q, k, v or output address that is not 16-byte aligned (here a network input the engine hands to the kernel
    as given): the mma2 tactic runs the older tensor-core kernel (attentionMma) for that call; the result is the
    same (no misaligned cp.async fault)."""
    pytest.importorskip("torch")
    x = _half_inputs(rng, "sq63_sk197_d64_padding_mask")
    expected = _half_io_attention(x, "cpu").create_execution_context().execute(x)["y"]
    got = _run_half_gpu(_half_io_attention(x, "gpu", force=MMA2[0]), x, expected.shape, misalign=(misalign,))
    util.assert_close(got.astype(np.float32), expected.astype(np.float32), rtol=1e-2, atol=1e-2)


@gpu
@pytest.mark.parametrize("tactic", MMA2)
@pytest.mark.parametrize("d,dv,transpose_k", [(12, 64, False), (64, 20, False), (64, 64, True), (136, 136, False)],
                         ids=["d12", "dv20", "transposed_k", "d136"])
def test_gpu_attention_mma2_refuses_what_it_cannot_copy(tactic, d, dv, transpose_k, rng):
    """D or Dv not a multiple of 8 (no whole 16-byte chunks), a transposed K, or heads over 128: setTactic refuses, so
    forcing the tactic is a clear error naming it; the builder's own choice still runs (the other tactics)."""
    x = _inputs(rng, 2, 13, 21, d, dv, transpose_k, None, (2,))
    define = _define(None, transpose_k)
    with pytest.raises(gie.InvalidArgumentError, match=f"forced tactic '{tactic}' does not exist or cannot run for these shapes"):
        compare_gpu_cpu(define, x, fp16=True, force={"Attention": tactic})
    info = compare_gpu_cpu(define, x, fp16=True, expect_half=("Attention",), rtol=1e-2, atol=1e-2)
    assert not [k for k in info["kernels"] if k["type"] == "Attention" and k["tactic"] in MMA2]


@gpu
def test_gpu_attention_mma2_timed_by_default(rng, monkeypatch):
    """The mma2 tactics left engine/tactic_architecture.h's list of unverified tactics: without GIE_UNVERIFIED_TACTICS
    the builder times all four FP16 tactics on a ViT-S-like attention (whichever wins, the result is right)."""
    x = _inputs(rng, 2, 197, 197, 64, 64, heads=(3,))
    monkeypatch.delenv("GIE_UNVERIFIED_TACTICS", raising=False)
    assert sorted(gpu_tactics(_define(), x, "Attention", fp16=True)) == sorted(["attention_flash_16x32", "attention_flash_mma_64x64"] + MMA2)
    compare_gpu_cpu(_define(), x, fp16=True, expect_half=("Attention",), rtol=1e-2, atol=1e-2)


# ================================================================================================ the pattern

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

n = helper.make_node


def _model(nodes, inputs, inits, outputs=(("out", 3),), opset=17):
    g = helper.make_graph(
        nodes, "attention",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)) for name, shape in inputs.items()],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, [f"{o}{i}" for i in range(rank)]) for o, rank in outputs],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _linear(rng, name, x, e_in, e_out, inits):
    """torch nn.Linear on a (B, S, E) tensor as exported: MatMul by the transposed weight, then Add the bias."""
    inits[f"{name}_w"] = (rng.standard_normal((e_in, e_out)) / math.sqrt(e_in)).astype(np.float32)
    inits[f"{name}_b"] = (rng.standard_normal(e_out) * 0.1).astype(np.float32)
    return [n("MatMul", [x, f"{name}_w"], [f"{name}_mm"]), n("Add", [f"{name}_mm", f"{name}_b"], [name])]


def _attention_block(rng, style, b=2, s=13, e=48, h=4, mask=None, softmax_axis=-1, extra_output=None, scale_shape=()):
    """x (b, s, e) -> self-attention -> output projection, as torch exports `style`:
      vit   a hand-written ViT block: one qkv Linear, Reshape (b, s, 3, h, d), Transpose (2, 0, 3, 1, 4), Gather q, k,
            v; MatMul(q, Transpose(k)) * scale; Softmax; MatMul v
      mha   nn.MultiheadAttention (need_weights, batch_first=False reshapes to (b*h, s, d)): q * sqrt(1/d) first,
            then MatMul(q, Transpose(k, (0, 2, 1)))
      sdpa  F.scaled_dot_product_attention (opset 14+): Mul(q, sqrt(scale)), Mul(Transpose(k), sqrt(scale)), the scale
            computed from Shape(q) as torch's exporter writes it
      bert  MatMul(q, Transpose(k)) / sqrt(d) + mask (a (b, 1, 1, s) input)"""
    d = e // h
    inits = {}
    nodes = []
    const = lambda name, v: inits.__setitem__(name, np.asarray(v, np.float32)) or name  # noqa: E731
    shape = lambda name, v: inits.__setitem__(name, np.asarray(v, np.int64)) or name  # noqa: E731
    if style == "vit":
        nodes += _linear(rng, "qkv", "x", e, 3 * e, inits)
        nodes += [n("Reshape", ["qkv", shape("qkv_shape", [b, s, 3, h, d])], ["qkv5"]),
                  n("Transpose", ["qkv5"], ["qkvT"], perm=[2, 0, 3, 1, 4])]
        for i, t in enumerate("qkv"):
            nodes.append(n("Gather", ["qkvT", shape(f"idx{i}", i)], [t], axis=0))
    else:
        for t in "qkv":
            nodes += _linear(rng, f"{t}p", "x", e, e, inits)
            nodes += [n("Reshape", [f"{t}p", shape(f"{t}_shape", [b, s, h, d])], [f"{t}4"]),
                      n("Transpose", [f"{t}4"], [t if style != "mha" else f"{t}h"], perm=[0, 2, 1, 3])]
            if style == "mha":
                nodes.append(n("Reshape", [f"{t}h", shape(f"{t}_bh", [b * h, s, d])], [t]))
    kt_perm = [0, 2, 1] if style == "mha" else [0, 1, 3, 2]
    scale = 1 / math.sqrt(d)
    if style == "vit":
        nodes += [n("Transpose", ["k"], ["kt"], perm=kt_perm), n("MatMul", ["q", "kt"], ["qk"]),
                  n("Mul", ["qk", const("scale", np.full(scale_shape, scale))], ["sc"])]
    elif style == "mha":
        nodes += [n("Mul", ["q", const("scale", scale)], ["qs"]), n("Transpose", ["k"], ["kt"], perm=kt_perm),
                  n("MatMul", ["qs", "kt"], ["sc"])]
    elif style == "sdpa":  # the scale as torch computes it: sqrt(1 / sqrt(q.shape[-1]))
        nodes += [n("Shape", ["q"], ["qshape"]), n("Slice", ["qshape", shape("st", [-1]), shape("en", [2 ** 62])], ["qlast"]),
                  n("Cast", ["qlast"], ["qlf"], to=TensorProto.FLOAT), n("Sqrt", ["qlf"], ["sqd"]),
                  n("Div", [const("one1", [1.0]), "sqd"], ["scl"]), n("Cast", ["scl"], ["scl2"], to=TensorProto.FLOAT),
                  n("Sqrt", ["scl2"], ["ssq"]),
                  n("Mul", ["q", "ssq"], ["qs"]), n("Transpose", ["k"], ["kt"], perm=kt_perm),
                  n("Mul", ["kt", "ssq"], ["kts"]), n("MatMul", ["qs", "kts"], ["sc"])]
    else:  # bert
        nodes += [n("Transpose", ["k"], ["kt"], perm=kt_perm), n("MatMul", ["q", "kt"], ["qk"]),
                  n("Div", ["qk", const("sqrt_d", math.sqrt(d))], ["sc"])]
    inputs = {"x": (b, s, e)}
    if mask is not None:
        inputs["mask"] = mask
        nodes.append(n("Add", ["sc", "mask"], ["scm"]))
    nodes += [n("Softmax", ["scm" if mask is not None else "sc"], ["p"], axis=softmax_axis), n("MatMul", ["p", "v"], ["ctx"])]
    if style == "mha":
        nodes.append(n("Reshape", ["ctx", shape("ctx_bh", [b, h, s, d])], ["ctx4"]))
    nodes += [n("Transpose", ["ctx4" if style == "mha" else "ctx"], ["ctxT"], perm=[0, 2, 1, 3]),
              n("Reshape", ["ctxT", shape("ctx_shape", [b, s, e])], ["ctx3"])]
    nodes += _linear(rng, "out", "ctx3", e, e, inits)
    outputs = (("out", 3),) + (((extra_output, 4),) if extra_output else ())
    return _model(nodes, inputs, inits, outputs)


def _build(m, passes_off=(), device="cpu"):
    builder = gie.Builder()
    net = gie.OnnxParser(builder=builder).parse(m)
    config = builder.create_config()
    config.device = device
    b = m.graph.input[0].type.tensor_type.shape.dim[0].dim_value
    config.set_batch_range(b, b, b)  # fixed shapes, as exported (the Reshapes name the batch)
    for p in passes_off:
        config.set_pass_enabled(p, False)
    return builder.build(net, config)


def _build_gpu(m, fp16):
    builder = gie.Builder()
    net = gie.OnnxParser(builder=builder).parse(m)
    config = builder.create_config()
    config.device = "gpu"
    b = m.graph.input[0].type.tensor_type.shape.dim[0].dim_value
    config.set_batch_range(b, b, b)
    config.fp16 = fp16
    return builder.build(net, config)


def _ort(m, feeds):
    """onnxruntime's outputs in the model's order (util.ort_run: CPU, graph optimizations off; skips without it)."""
    return list(util.ort_run(m, feeds).values())


def _check(m, feeds, rtol=1e-4, atol=1e-5):
    """The engine vs onnxruntime and vs the engine without recognize_attention; returns the engine."""
    engine = _build(m)
    got = engine.create_execution_context().execute(feeds)
    plain = _build(m, passes_off=("recognize_attention",)).create_execution_context().execute(feeds)
    ref = _ort(m, feeds)
    for i, name in enumerate(o.name for o in m.graph.output):
        util.assert_close(got[name], ref[i], rtol=rtol, atol=atol, what=f"{name} vs onnxruntime")
        util.assert_close(got[name], plain[name], rtol=rtol, atol=atol, what=f"{name} vs the unfused engine")
    return engine


def _kernel_types(engine):
    return [k["type"] for k in engine.layer_info()["kernels"]]


def _fused(engine):
    return [p for p in engine.layer_info()["passes"] if p.startswith("recognize_attention:")]


def _feeds(rng, m, mask=None):
    x = m.graph.input[0].type.tensor_type.shape.dim
    feeds = {"x": rng.standard_normal(tuple(d.dim_value for d in x)).astype(np.float32)}
    if mask is not None:
        feeds["mask"] = mask
    return feeds


@pytest.mark.parametrize("style", ["vit", "mha", "sdpa", "bert"])
def test_attention_pattern_as_torch_exports_it(style, rng):
    b, s = 2, 13
    mask = None
    if style == "bert":  # padding: the last keys of sample 1 masked out
        mask = np.zeros((b, 1, 1, s), np.float32)
        mask[1, ..., 9:] = -10000.0
    m = _attention_block(rng, style, b=b, s=s, mask=None if mask is None else mask.shape)
    engine = _check(m, _feeds(rng, m, mask))
    types = _kernel_types(engine)
    assert types.count("Attention") == 1 and "Softmax" not in types, types
    lines = _fused(engine)
    assert len(lines) == 1 and f"scale {1 / math.sqrt(12):.6g}" in lines[0], lines
    assert ("with mask" in lines[0]) == (style == "bert"), lines


def test_attention_near_misses_are_not_rewritten(rng):
    for kw in [dict(softmax_axis=-2),           # the softmax over the queries
               dict(extra_output="p"),          # the probabilities are also a network output
               dict(scale_shape=(13,))]:        # a scale per key: no one constant
        m = _attention_block(rng, "vit", **kw)
        engine = _check(m, _feeds(rng, m))
        assert not _fused(engine), kw
        assert "Attention" not in _kernel_types(engine)


def _vit_encoder_layer(rng, b=2, s=17, e=32, h=2, mlp=64):
    """A pre-norm ViT encoder layer: x + attn(LN(x)); then + MLP(LN(.)) with GELU in its Erf form."""
    m = _attention_block(rng, "vit", b=b, s=s, e=e, h=h)
    g = m.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    nodes = [nd for nd in g.node]
    for nd in nodes:  # the attention now reads LN1(x)
        nd.input[:] = ["ln1" if i == "x" else i for i in nd.input]
    inits.update({"g1": np.ones(e, np.float32) * 1.1, "b1": np.full(e, 0.1, np.float32),
                  "g2": np.ones(e, np.float32) * 0.9, "b2": np.full(e, -0.1, np.float32),
                  "half": np.float32(0.5), "one": np.float32(1.0), "sqrt2": np.float32(math.sqrt(2.0))})
    pre = [n("LayerNormalization", ["x", "g1", "b1"], ["ln1"], axis=-1, epsilon=1e-6)]
    post = [n("Add", ["x", "out"], ["r1"]), n("LayerNormalization", ["r1", "g2", "b2"], ["ln2"], axis=-1, epsilon=1e-6)]
    post += _linear(rng, "fc1", "ln2", e, mlp, inits)
    post += [n("Div", ["fc1", "sqrt2"], ["gd"]), n("Erf", ["gd"], ["ge"]), n("Add", ["ge", "one"], ["g1p"]),
             n("Mul", ["fc1", "g1p"], ["gm"]), n("Mul", ["gm", "half"], ["gelu"])]
    post += _linear(rng, "fc2", "gelu", mlp, e, inits)
    post.append(n("Add", ["r1", "fc2"], ["y"]))
    return _model(pre + nodes + post, {"x": (b, s, e)}, inits, outputs=(("y", 3),))


def test_vit_encoder_layer_fuses_attention_layer_norm_and_gelu(rng):
    m = _vit_encoder_layer(rng)
    engine = _check(m, _feeds(rng, m))
    types = _kernel_types(engine)
    assert types.count("Attention") == 1 and types.count("LayerNorm") == 2 and "Softmax" not in types, types
    assert any(p.startswith("recognize_activations:") and "GELU" in p for p in engine.layer_info()["passes"])


@gpu
@pytest.mark.parametrize("style", ["vit", "sdpa", "bert"])
@pytest.mark.parametrize("fp16", [False, True])
def test_gpu_attention_pattern(style, fp16, rng):
    b, s = 2, 77
    mask = None
    if style == "bert":
        mask = np.zeros((b, 1, 1, s), np.float32)
        mask[1, ..., 50:] = -10000.0
    m = _attention_block(rng, style, b=b, s=s, e=160, h=4, mask=None if mask is None else mask.shape)  # d = 40
    feeds = _feeds(rng, m, mask)
    engine = _build_gpu(m, fp16)
    assert _kernel_types(engine).count("Attention") == 1, _kernel_types(engine)
    got = engine.create_execution_context().execute(feeds)["out"]
    ref = _ort(m, feeds)[0]
    tol = dict(rtol=2e-2, atol=2e-2) if fp16 else dict(rtol=1e-4, atol=1e-4)
    util.assert_close(got, ref, what="GPU vs onnxruntime", **tol)


# ================================================================================================ the MLP block

def _mlp_model(rng, shape=(2, 7, 24), hidden=40, gelu=True, bias_shape=None):
    """A transformer MLP as torch exports nn.Linear on a sequence: MatMul by a constant, Add the bias, GELU (Erf form),
    MatMul, Add."""
    e = shape[-1]
    inits = {"half": np.float32(0.5), "one": np.float32(1.0), "sqrt2": np.float32(math.sqrt(2.0))}
    nodes = _linear(rng, "fc1", "x", e, hidden, inits)
    if bias_shape is not None:
        inits["fc1_b"] = inits["fc1_b"].reshape(bias_shape)
    h = "fc1"
    if gelu:
        nodes += [n("Div", ["fc1", "sqrt2"], ["gd"]), n("Erf", ["gd"], ["ge"]), n("Add", ["ge", "one"], ["g1p"]),
                  n("Mul", ["fc1", "g1p"], ["gm"]), n("Mul", ["gm", "half"], ["gelu"])]
        h = "gelu"
    nodes += _linear(rng, "fc2", h, hidden, e, inits)
    return _model(nodes, {"x": shape}, inits, outputs=(("fc2", len(shape)),))


@pytest.mark.parametrize("shape", [(2, 7, 24), (3, 24), (2, 3, 5, 24)])
def test_mlp_matmul_add_gelu_becomes_fully_connected_with_epilogue(shape, rng):
    m = _mlp_model(rng, shape)
    feeds = {"x": rng.standard_normal(shape).astype(np.float32)}
    engine = _build(m)
    got = engine.create_execution_context().execute(feeds)["fc2"]
    util.assert_close(got, _ort(m, feeds)[0], rtol=1e-4, atol=1e-5)
    kernels = engine.layer_info()["kernels"]
    assert [k["type"] for k in kernels] == ["FullyConnected", "FullyConnected"], kernels
    log = engine.layer_info()["passes"]
    # rank 2: the bias is a per-channel Scale that fold_scale folds; otherwise fuse_epilogue takes it as the FC bias
    folded = sum(("fused bias add" if len(shape) > 2 else "fold_scale: folded") in p for p in log)
    assert folded == 2 and sum("fused activation" in p for p in log) == 1, log


def test_mlp_bias_that_is_not_per_output_stays_an_add(rng):
    m = _mlp_model(rng, (2, 7, 24), gelu=False, bias_shape=(1, 1, 40))  # still per output: folded
    feeds = {"x": rng.standard_normal((2, 7, 24)).astype(np.float32)}
    engine = _build(m)
    util.assert_close(engine.create_execution_context().execute(feeds)["fc2"], _ort(m, feeds)[0], rtol=1e-4, atol=1e-5)
    assert [k["type"] for k in engine.layer_info()["kernels"]] == ["FullyConnected", "FullyConnected"]
    inits = {"w": rng.standard_normal((24, 40)).astype(np.float32), "b": rng.standard_normal((7, 40)).astype(np.float32)}
    m = _model([n("MatMul", ["x", "w"], ["mm"]), n("Add", ["mm", "b"], ["y"])], {"x": (2, 7, 24)}, inits, outputs=(("y", 3),))
    engine = _build(m)  # a bias per (position, output) is no FC bias
    util.assert_close(engine.create_execution_context().execute(feeds)["y"], _ort(m, feeds)[0], rtol=1e-4, atol=1e-5)
    assert [k["type"] for k in engine.layer_info()["kernels"]] == ["FullyConnected", "ElementWise"]


@gpu
@pytest.mark.parametrize("fp16", [False, True])
def test_gpu_mlp_block(fp16, rng):
    m = _mlp_model(rng, (4, 50, 96), hidden=384)
    feeds = {"x": rng.standard_normal((4, 50, 96)).astype(np.float32)}
    engine = _build_gpu(m, fp16)
    assert [k["type"] for k in engine.layer_info()["kernels"] if k["type"] != "Reformat"] == ["FullyConnected"] * 2
    got = engine.create_execution_context().execute(feeds)["fc2"]
    util.assert_close(got, _ort(m, feeds)[0], rtol=2e-2 if fp16 else 1e-4, atol=2e-2 if fp16 else 1e-4)


def _torch_mha_block(rng, b, s, e, h):
    """x (b, s, e) -> nn.MultiheadAttention(batch_first=False) on x.transpose(0, 1) -> back, as torch 2.x exports
    torchvision's ViT (opset 17): Transpose (1, 0, 2); in_proj MatMul + Add; Reshape (s, b, 3, e); Unsqueeze 0;
    Transpose (3, 1, 2, 0, 4); Squeeze 3; Gather q, k, v on axis 0; per head split Reshape (s, b*h, d), Transpose
    (1, 0, 2), Reshape (b, h, s, d); Mul q and K^T by sqrt(scale); MatMul; Softmax; MatMul v; Transpose (2, 0, 1, 3);
    Reshape (s*b, e); out_proj Gemm; Reshape (s, b, e); Transpose (1, 0, 2)."""
    d = e // h
    inits = {}
    shape = lambda name, v: inits.__setitem__(name, np.asarray(v, np.int64)) or name  # noqa: E731
    inits["w_in"] = (rng.standard_normal((e, 3 * e)) / math.sqrt(e)).astype(np.float32)
    inits["b_in"] = (rng.standard_normal(3 * e) * 0.1).astype(np.float32)
    inits["w_out"] = (rng.standard_normal((e, e)) / math.sqrt(e)).astype(np.float32)
    inits["b_out"] = (rng.standard_normal(e) * 0.1).astype(np.float32)
    inits["sq"] = np.asarray([math.sqrt(1 / math.sqrt(d))], np.float32)
    nodes = [n("Transpose", ["x"], ["xt"], perm=[1, 0, 2]), n("MatMul", ["xt", "w_in"], ["mm"]), n("Add", ["b_in", "mm"], ["qkv"]),
             n("Reshape", ["qkv", shape("s2", [s, b, 3, e])], ["r2"]), n("Unsqueeze", ["r2", shape("ax0", [0])], ["u"]),
             n("Transpose", ["u"], ["ut"], perm=[3, 1, 2, 0, 4]), n("Squeeze", ["ut", shape("ax3", [3])], ["sqz"])]
    for i, t in enumerate("qkv"):
        nodes += [n("Gather", ["sqz", shape(f"i{t}", i)], [f"{t}g"], axis=0),
                  n("Reshape", [f"{t}g", shape(f"{t}s3", [s, b * h, d])], [f"{t}r"]),
                  n("Transpose", [f"{t}r"], [f"{t}_tr"], perm=[1, 0, 2]),
                  n("Reshape", [f"{t}_tr", shape(f"{t}s4", [b, h, s, d])], [t])]
    nodes += [n("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]), n("Mul", ["q", "sq"], ["qs"]), n("Mul", ["kt", "sq"], ["kts"]),
              n("MatMul", ["qs", "kts"], ["sc"]), n("Softmax", ["sc"], ["p"], axis=-1), n("MatMul", ["p", "v"], ["ctx"]),
              n("Transpose", ["ctx"], ["ctxt"], perm=[2, 0, 1, 3]), n("Reshape", ["ctxt", shape("s9", [s * b, e])], ["ctx2"]),
              n("Gemm", ["ctx2", "w_out", "b_out"], ["o2"], transB=1),
              n("Reshape", ["o2", shape("s10", [s, b, e])], ["o3"]), n("Transpose", ["o3"], ["out"], perm=[1, 0, 2])]
    return _model(nodes, {"x": (b, s, e)}, inits)


@pytest.mark.parametrize("b,s,e,h", [(2, 13, 48, 4), (3, 7, 15, 3), (1, 5, 6, 1), (2, 1, 8, 2)])
def test_torch_multihead_attention_glue_collapses(b, s, e, h, rng):
    """The glue torch exports around nn.MultiheadAttention (torchvision's ViT): with the shapes fixed the per-part
    head splits move above the q / k / v Gathers as one Shuffle (hoist_shuffles_above_gather), the chains collapse
    (collapse_shuffles), the Transpose before in_proj and the Reshape / Transpose after out_proj move across the FC
    into their neighbours (move_shuffles_across_fc): FC, Shuffle, 3 Gathers, Attention, Shuffle, FC (8 kernels
    instead of 24), the same output as onnxruntime and as the engine built without those three passes. The first Gather
    (rows 0 of the Shuffle's output) is then a view (leading_axis_views): 7 kernels; the others start off the 256-byte
    alignment at these sizes (a (B, H, S, d) part is b * s * e elements) and stay."""
    m = _torch_mha_block(rng, b, s, e, h)
    feeds = _feeds(rng, m)
    engine = _check(m, feeds)
    plain = _build(m, passes_off=("collapse_shuffles", "move_shuffles_across_fc", "hoist_shuffles_above_gather", "leading_axis_views",
                                  "flatten_into_fully_connected"))  # (it would take the heads merge (S, 1, H, d) -> (S, E) into out_proj)
    util.assert_close(engine.create_execution_context().execute(feeds)["out"],
                      plain.create_execution_context().execute(feeds)["out"], rtol=1e-5, atol=1e-6, what="vs the glue kept")
    types = _kernel_types(engine)
    if h > 1 and s > 1:
        assert types == ["FullyConnected", "Shuffle", "Gather", "Gather", "Attention", "Shuffle", "FullyConnected"], types
    else:  # the heads merge without moving data: a Shuffle that only reshapes (a copy) may stay on either side of out_proj
        assert [t for t in types if t != "Shuffle"] == ["FullyConnected", "Gather", "Gather", "Attention",
                                                        "FullyConnected"] and types.count("Shuffle") == 2, types
    assert sum(p.startswith("leading_axis_views:") for p in engine.layer_info()["passes"]) == 1
    passes = engine.layer_info()["passes"]
    assert sum(p.startswith("move_shuffles_across_fc:") for p in passes) == 2, passes
    assert sum(p.startswith("hoist_shuffles_above_gather:") for p in passes) == 3, passes
    assert len(_kernel_types(plain)) == 24, _kernel_types(plain)


@gpu
@pytest.mark.parametrize("fp16", [False, True])
def test_gpu_torch_multihead_attention_glue_collapses(fp16, rng):
    """The collapsed glue on the GPU (the Shuffles and the FC over the last axis that the passes leave), built with the
    default passes (leading_axis_views included): the engine equals onnxruntime and keeps 7 kernels besides Reformats
    (the first of the 3 Gathers is a view; the others start off the 256-byte alignment: 3 * 37 * 96 elements).
    Reformats are not counted: with FP16 the builder may choose by timing FP32 for a small layer and convert around it
    (on an H100, 2026-12-07: the first FullyConnected in float32, then a Reformat to float16, 9 kernels in all)."""
    m = _torch_mha_block(rng, 3, 37, 96, 3)  # d = 32
    feeds = _feeds(rng, m)
    engine = _build_gpu(m, fp16)
    got = engine.create_execution_context().execute(feeds)["out"]
    tol = dict(rtol=2e-2, atol=2e-2) if fp16 else dict(rtol=1e-4, atol=1e-4)
    util.assert_close(got, _ort(m, feeds)[0], what="GPU vs onnxruntime", **tol)
    layout = [(k["type"], k["precision"], [(t["dtype"], t["format"], t.get("view_kind")) for t in k["inputs"]]) for k in engine.layer_info()["kernels"]]
    types = [t for t in _kernel_types(engine) if t != "Reformat"]
    assert len(types) == 7 and types.count("Attention") == 1, layout
    assert sum(p.startswith("leading_axis_views:") for p in engine.layer_info()["passes"]) == 1, engine.layer_info()["passes"]
