"""Op converters of the ONNX importer (see onnx_parser.py). Each converter takes (parser, node, attrs) and
returns the output tensor(s); it raises onnx_parser._Unsupported for a case gie cannot express."""
import numpy as np

from .. import _C
from ..errors import InvalidModelError
from .onnx_parser import BATCH, _Unsupported, _gie_dtype, _np_of_gie

A = _C.ActivationType
E = _C.ElementWiseOperation
U = _C.UnaryOperation
R = _C.ReduceOperation


# ---- constant folding ----------------------------------------------------------------------------

def fold(p, n):
    """Evaluates a node whose inputs are all known with onnx's reference implementation."""
    from onnx import helper
    from onnx.reference import ReferenceEvaluator
    ins = [i for i in n.input]
    feeds = {i: np.asarray(p.consts[i]) for i in ins if i}
    try:
        g = helper.make_graph([n], "fold", [helper.make_tensor_value_info(i, 1, None) for i in feeds], [
            helper.make_tensor_value_info(o, 1, None) for o in n.output if o])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", p.opset)])
        m.ir_version = 8
        outs = ReferenceEvaluator(m).run(None, feeds)
    except Exception:
        return None
    res, k = [], 0
    for o in n.output:
        if o:
            res.append(np.asarray(outs[k]))
            k += 1
        else:
            res.append(None)
    return res


# Folding may make a tensor at most this large (in elements) unless its inputs already hold as many: an op that
# turns a small shape into a huge constant (ConstantOfShape, Expand, Tile, Range, ...) is not folded.
MAX_FOLD_ELEMENTS = 1 << 24


def _predict_shapes(p, n):
    """Output shapes of a node whose inputs are all known, from ONNX shape inference (no evaluation): a list
    with a tuple or None (unknown) per output name."""
    import onnx
    from onnx import helper, numpy_helper
    ins, inits = [], []
    for i in dict.fromkeys(x for x in n.input if x):
        v = np.asarray(p.consts[i])
        if v.size <= 4096:  # shape-like values: inference reads them (Reshape, Expand, ConstantOfShape, ...)
            inits.append(numpy_helper.from_array(v, i))
        else:
            ins.append(helper.make_tensor_value_info(i, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape))
    outs = [o for o in n.output if o]
    try:
        g = helper.make_graph([n], "predict", ins, [helper.make_empty_tensor_value_info(o) for o in outs], inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", p.opset)])
        m.ir_version = 8
        inferred = {v.name: v for v in onnx.shape_inference.infer_shapes(m, data_prop=True).graph.output}
    except Exception:
        return [None] * len(outs)
    res = []
    for o in outs:
        t = inferred[o].type.tensor_type if o in inferred else None
        if t is None or not t.HasField("shape") or not all(d.HasField("dim_value") for d in t.shape.dim):
            res.append(None)
        else:
            res.append(tuple(int(d.dim_value) for d in t.shape.dim))
    return res


def fold_refusal(p, n):
    """Why the node (all inputs known) must not be folded, or None: folding would materialize a tensor whose
    size depends on the batch sentinel, or a huge one."""
    symbolic = any(i in p.symbolic for i in n.input if i)
    limit = max(MAX_FOLD_ELEMENTS, sum(int(np.size(p.consts[i])) for i in n.input if i))
    for o, shape in zip([o for o in n.output if o], _predict_shapes(p, n)):
        if shape is None:
            if symbolic:
                return (f"output '{o}' is computed from the batch size, and its shape is not known before folding "
                        f"(folding could make a batch-sized constant)")
            continue
        if symbolic and any(d >= BATCH for d in shape):
            return (f"output '{o}' would be a constant whose shape follows the batch (a run-time value, not "
                    f"something to fold)")
        vol = int(np.prod(shape, dtype=object))
        if vol > limit:
            return (f"folding output '{o}' would make a constant of shape {shape} ({vol} elements, over the "
                    f"limit {limit})")
    return None


def _fold_shape(p, n, a):
    if n.input[0] in p.consts:
        s = np.array(np.shape(p.consts[n.input[0]]), np.int64)
    else:
        t = p.tensor(n.input[0])
        s = np.array(t.shape, np.int64)
        if p.dynamic_batch and len(s) and s[0] % p.batch == 0:
            s[0] = BATCH * (s[0] // p.batch)  # dimension 0 follows the batch (a flattened (batch*k, ...) too)
    start, end = a.get("start", 0), a.get("end", None)
    return [s[start:end]]


def _fold_size(p, n, a):
    if n.input[0] in p.consts:
        return [np.array(np.size(p.consts[n.input[0]]), np.int64)]
    t = p.tensor(n.input[0])
    if p.dynamic_batch:
        return None
    return [np.array(int(np.prod(t.shape)), np.int64)]


def _fold_constant(p, n, a):
    if "value" in a:
        return [np.asarray(a["value"])]
    for k, dt in (("value_float", np.float32), ("value_int", np.int64)):
        if k in a:
            return [np.array(a[k], dt)]
    for k, dt in (("value_floats", np.float32), ("value_ints", np.int64)):
        if k in a:
            return [np.array(a[k], dt)]
    if "sparse_value" in a:
        raise _Unsupported("sparse constants")
    raise _Unsupported("Constant without a value")


SPECIAL_FOLD = {"Shape": _fold_shape, "Size": _fold_size, "Constant": _fold_constant}
# Ops imported only when their inputs are known (folded); otherwise unsupported.
FOLD_ONLY = {"Range", "ConstantOfShape", "Equal", "Where", "NonZero", "Not", "And", "Or", "Xor", "Greater", "Less",
             "GreaterOrEqual", "LessOrEqual", "TopK", "ArgMax", "ArgMin", "Einsum", "Trilu", "CumSum",
             "ScatterND", "ScatterElements", "GatherND", "GatherElements", "OneHot", "Mod", "IsNaN", "IsInf",
             "BitShift", "EyeLike", "RandomNormal", "RandomUniform", "Det"}
NO_FOLD = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"}


# ---- helpers -------------------------------------------------------------------------------------

def _ints(v):
    return [int(x) for x in np.asarray(v).ravel()]


def _opt_input(n, k):
    return n.input[k] if len(n.input) > k and n.input[k] else None


def _const_input(p, n, k, what):
    name = _opt_input(n, k)
    if name is None:
        return None
    if not p.is_const(name):
        raise _Unsupported(f"{what} (input {k}) must be known at import time")
    return np.asarray(p.const(name))


def _same_type(p, names):
    """gie tensors of names with one type: known values take the type of the first real tensor."""
    dt = None
    for nm in names:
        if nm in p.tensors:
            dt = p.tensors[nm].dtype
            break
    return [p.tensor(nm, dt) for nm in names]


def _norm_axis(ax, rank):
    ax = int(ax)
    return ax + rank if ax < 0 else ax


def _batch_broadcast(p, v):
    """A run-time tensor of shape (batch,) + v.shape[1:] holding v (shape (1, ...)) for every sample: what a
    constant expanded to the symbolic batch becomes. The batch comes from the first dynamic input: its
    (batch,) slice compared with itself (x > x is false even for NaN) gives int32 zeros that Gather v[0]."""
    src = p.batch_source
    if src is None:
        raise _Unsupported("a constant expanded to the batch size needs an input with a symbolic batch")
    r = len(src.shape)
    col = _add_slice(p, src, [0] * r, [src.shape[0]] + [1] * (r - 1), [1] * r).output(0)
    if r > 1:
        col = p.net.add_shuffle(col, reshape=(0,)).output(0)
    zeros = p.net.add_cast(p.net.add_elementwise(col, col, E.GREATER).output(0), _C.DataType.int32).output(0)
    return p.net.add_gather(p.constant(v), zeros, 0)


def _batch_target(p, n, k, what):
    """A constant shape input and whether it holds batch multiples (a symbolic value from Shape)."""
    shape = _ints(_const_input(p, n, k, what))
    return shape, p.dynamic_batch and n.input[k] in p.symbolic and any(s >= BATCH for s in shape)


# ---- elementwise / activations -------------------------------------------------------------------

_ARITH_TYPES = (_C.DataType.float32, _C.DataType.int32)
_CMP_TYPES = (_C.DataType.float32, _C.DataType.int32, _C.DataType.bool)
_LOGIC_TYPES = (_C.DataType.bool,)
_BIN = {"Add": E.SUM, "Sub": E.SUB, "Mul": E.PROD, "Div": E.DIV, "Pow": E.POW, "Max": E.MAX, "Min": E.MIN,
        "Sum": E.SUM, "Equal": E.EQUAL, "Greater": E.GREATER, "Less": E.LESS, "And": E.AND, "Or": E.OR,
        "Xor": E.XOR}


def _binary(p, n, a):
    op = _BIN[n.op_type]
    names = [i for i in n.input if i]
    if n.op_type == "Pow" and len(names) == 2 and p.is_const(names[1]) and names[0] in p.tensors:
        b = np.asarray(p.const(names[1]))
        if b.size == 1 and float(b.ravel()[0]) == 2.0 and p.tensors[names[0]].dtype == _C.DataType.float32:
            x = p.tensor(names[0])
            return p.net.add_elementwise(x, x, E.PROD)
    if n.op_type in ("Add", "Sub", "Mul", "Div") and a.get("broadcast", 1) == 1 and "axis" in a:
        # opset < 7 legacy broadcast is not supported
        raise _Unsupported("legacy 'axis' broadcasting")
    ts = _same_type(p, names)
    if n.op_type == "Pow" and ts[0].dtype != ts[1].dtype:
        raise _Unsupported("Pow with different base and exponent types")
    allowed = _LOGIC_TYPES if op in (E.AND, E.OR, E.XOR) else _CMP_TYPES if op in (E.EQUAL, E.GREATER, E.LESS) \
        else _ARITH_TYPES
    for t in ts:
        if t.dtype not in allowed:
            raise _Unsupported(f"{n.op_type} of {t.dtype.name} tensors (gie takes "
                               f"{', '.join(d.name for d in allowed)})")
    out = ts[0]
    for t in ts[1:]:
        out = p.net.add_elementwise(out, t, op).output(0)
    if len(ts) == 1:
        out = p.net.add_identity(out).output(0)
    return out


def _mean(p, n, a):
    ts = _same_type(p, [i for i in n.input if i])
    out = ts[0]
    for t in ts[1:]:
        out = p.net.add_elementwise(out, t, E.SUM).output(0)
    return p.net.add_elementwise(out, p.constant(np.full([1] * len(out.shape), len(ts), np.float32)), E.DIV)


def _cmp_or_equal(p, n, a):
    ts = _same_type(p, list(n.input))
    for t in ts:
        if t.dtype not in _ARITH_TYPES:
            raise _Unsupported(f"{n.op_type} of {t.dtype.name} tensors (float32 / int32 only)")
    strict = E.GREATER if n.op_type == "GreaterOrEqual" else E.LESS
    eq = p.net.add_elementwise(ts[0], ts[1], E.EQUAL).output(0)
    return p.net.add_elementwise(eq, p.net.add_elementwise(ts[0], ts[1], strict).output(0), E.OR)


def _mod(p, n, a):
    if a.get("fmod", 0):
        raise _Unsupported("Mod with fmod=1")
    ts = _same_type(p, list(n.input))
    for t in ts:
        if t.dtype not in _ARITH_TYPES:
            raise _Unsupported(f"Mod of {t.dtype.name} tensors (float32 / int32 only)")
    return p.net.add_elementwise(ts[0], ts[1], E.MOD)


_UNARY = {"Exp": U.EXP, "Log": U.LOG, "Sqrt": U.SQRT, "Reciprocal": U.RECIP, "Abs": U.ABS, "Neg": U.NEG,
          "Sin": U.SIN, "Cos": U.COS, "Tan": U.TAN, "Sinh": U.SINH, "Cosh": U.COSH, "Asin": U.ASIN, "Acos": U.ACOS,
          "Atan": U.ATAN, "Asinh": U.ASINH, "Acosh": U.ACOSH, "Atanh": U.ATANH, "Ceil": U.CEIL, "Floor": U.FLOOR,
          "Erf": U.ERF, "Not": U.NOT, "Sign": U.SIGN, "Round": U.ROUND}


def _unary(p, n, a):
    return p.net.add_unary(p.tensor(n.input[0]), _UNARY[n.op_type])


def _act(type_, alpha=None, beta=None):
    def conv(p, n, a):
        al = a.get(alpha[0], alpha[1]) if alpha else None
        be = a.get(beta[0], beta[1]) if beta else None
        return p.net.add_activation(p.tensor(n.input[0]), type_, alpha=None if al is None else float(al),
                                    beta=None if be is None else float(be))
    return conv


def _gelu(p, n, a):
    t = A.GELU_TANH if a.get("approximate", "none") == "tanh" else A.GELU
    return p.net.add_activation(p.tensor(n.input[0]), t)


def _clip(p, n, a):
    if p.opset < 11:
        lo, hi = a.get("min", -np.inf), a.get("max", np.inf)
    else:
        lo_v, hi_v = _const_input(p, n, 1, "Clip min"), _const_input(p, n, 2, "Clip max")
        lo = -np.inf if lo_v is None else float(lo_v)
        hi = np.inf if hi_v is None else float(hi_v)
    x = p.tensor(n.input[0])
    if x.dtype == _C.DataType.int32:
        out = x
        if lo != -np.inf:
            out = p.net.add_elementwise(out, p.constant(np.full([1] * len(x.shape), lo, _np_of_gie(x.dtype))), E.MAX).output(0)
        if hi != np.inf:
            out = p.net.add_elementwise(out, p.constant(np.full([1] * len(x.shape), hi, _np_of_gie(x.dtype))), E.MIN).output(0)
        return out
    if x.dtype != _C.DataType.float32:
        raise _Unsupported(f"Clip of {x.dtype.name} tensors (float32 / int32 only)")
    return p.net.add_activation(x, A.CLIP, alpha=float(lo), beta=float(hi))


def _prelu(p, n, a):
    x = p.tensor(n.input[0])
    if p.is_const(n.input[1]) and x.dtype == _C.DataType.float32:
        s = np.asarray(p.const(n.input[1]), np.float32)
        r = len(x.shape)
        if s.size == 1:
            return p.net.add_prelu(x, s.ravel())
        # one slope per channel: shaped (C, 1, ..., 1) against (N, C, ...)
        if r >= 2 and s.ndim == r - 1 and s.shape[0] == x.shape[1] and all(d == 1 for d in s.shape[1:]):
            return p.net.add_prelu(x, s.ravel())
    # general: max(x, 0) + slope * min(x, 0)
    slope = p.tensor(n.input[1], x.dtype)
    zero = p.constant(np.zeros([1] * len(x.shape), np.float32))
    pos = p.net.add_elementwise(x, zero, E.MAX).output(0)
    neg = p.net.add_elementwise(x, zero, E.MIN).output(0)
    return p.net.add_elementwise(pos, p.net.add_elementwise(neg, slope, E.PROD).output(0), E.SUM)


# ---- conv / pool ---------------------------------------------------------------------------------

def _spatial_pads(a, in_hw, k, s, d, n_sp):
    pads = list(a.get("pads", [0] * (2 * n_sp)))
    ap = a.get("auto_pad", "NOTSET")
    if ap in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0] * (2 * n_sp)
        for i in range(n_sp):
            out = -(-in_hw[i] // s[i])
            total = max((out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - in_hw[i], 0)
            small = total // 2
            pads[i], pads[i + n_sp] = (small, total - small) if ap == "SAME_UPPER" else (total - small, small)
    elif ap == "VALID":
        pads = [0] * (2 * n_sp)
    return pads


def _conv(p, n, a):
    x = p.tensor(n.input[0])
    if len(x.shape) != 4:
        raise _Unsupported(f"only 2D convolution (4D input) is supported, got rank {len(x.shape)}")
    w = _const_input(p, n, 1, "Conv weights")
    b = _const_input(p, n, 2, "Conv bias")
    k = list(w.shape[2:])
    s = list(a.get("strides", [1, 1]))
    d = list(a.get("dilations", [1, 1]))
    pads = _spatial_pads(a, x.shape[2:], k, s, d, 2)
    g = int(a.get("group", 1))
    return p.net.add_convolution(x, w.shape[0], tuple(k), w.astype(np.float32),
                                 None if b is None else b.astype(np.float32), stride=tuple(s),
                                 pre_padding=(pads[0], pads[1]), post_padding=(pads[2], pads[3]), dilation=tuple(d),
                                 num_groups=g)


def _conv_transpose(p, n, a):
    x = p.tensor(n.input[0])
    if len(x.shape) != 4:
        raise _Unsupported(f"only 2D transposed convolution (4D input) is supported, got rank {len(x.shape)}")
    w = _const_input(p, n, 1, "ConvTranspose weights")
    b = _const_input(p, n, 2, "ConvTranspose bias")
    g = int(a.get("group", 1))
    k = list(w.shape[2:])
    s = list(a.get("strides", [1, 1]))
    d = list(a.get("dilations", [1, 1]))
    op = list(a.get("output_padding", [0, 0]))
    pads = list(a.get("pads", [0, 0, 0, 0]))
    ap = a.get("auto_pad", "NOTSET")
    if "output_shape" in a or ap in ("SAME_UPPER", "SAME_LOWER"):
        if "output_shape" in a:
            outs = list(a["output_shape"])[-2:]
        else:
            outs = [x.shape[2 + i] * s[i] for i in range(2)]
        for i in range(2):
            total = s[i] * (x.shape[2 + i] - 1) + op[i] + (k[i] - 1) * d[i] + 1 - outs[i]
            if total < 0:
                op[i] -= total
                total = 0
            if ap == "SAME_UPPER":
                pads[i], pads[i + 2] = total // 2, total - total // 2
            else:
                pads[i], pads[i + 2] = total - total // 2, total // 2
    elif ap == "VALID":
        pads = [0, 0, 0, 0]
    return p.net.add_deconvolution(x, w.shape[1] * g, tuple(k), w.astype(np.float32),
                                   None if b is None else b.astype(np.float32), stride=tuple(s),
                                   pre_padding=(pads[0], pads[1]), post_padding=(pads[2], pads[3]),
                                   dilation=tuple(d), num_groups=g, output_padding=tuple(op))


def _pool(p, n, a):
    if len([o for o in n.output if o]) > 1:
        raise _Unsupported("MaxPool with an Indices output")
    x = p.tensor(n.input[0])
    if len(x.shape) != 4:
        raise _Unsupported(f"only 2D pooling (4D input) is supported, got rank {len(x.shape)}")
    if x.dtype != _C.DataType.float32:
        raise _Unsupported(f"pooling of {x.dtype.name} tensors (float32 only)")
    k = list(a["kernel_shape"])
    s = list(a.get("strides", [1, 1]))
    d = list(a.get("dilations", [1, 1]))
    if d != [1, 1]:
        raise _Unsupported("pooling with dilations")
    if a.get("storage_order", 0):
        raise _Unsupported("storage_order=1")
    pads = _spatial_pads(a, x.shape[2:], k, s, d, 2)
    padded = tuple(x.shape[2 + i] + pads[i] + pads[i + 2] for i in range(2))
    if k[0] > padded[0] or k[1] > padded[1]:
        raise InvalidModelError(f"pooling window {tuple(k)} is larger than the padded input {padded} (input "
                                f"{tuple(x.shape[2:])}, pads {tuple(pads)})")
    typ = _C.PoolingType.MAX if n.op_type == "MaxPool" else _C.PoolingType.AVERAGE
    # All fields at once: the window may need the padding to fit, so the layer must never exist without it.
    fields = dict(pooling_type=int(typ), window_size=tuple(k), stride=tuple(s), pre_padding=(pads[0], pads[1]),
                  post_padding=(pads[2], pads[3]), ceil_mode=int(bool(a.get("ceil_mode", 0))))
    if typ == _C.PoolingType.AVERAGE:
        fields["exclude_padding"] = 0 if a.get("count_include_pad", 0) else 1
    return p.net.add_layer("Pooling", [x], fields)


def _global_pool(p, n, a):
    x = p.tensor(n.input[0])
    op = R.AVG if n.op_type == "GlobalAveragePool" else R.MAX
    return p.net.add_reduce(x, op, tuple(range(2, len(x.shape))), keep_dims=True)


# ---- normalization -------------------------------------------------------------------------------

def _batchnorm(p, n, a):
    if len([o for o in n.output if o]) > 1 or a.get("training_mode", 0):
        raise _Unsupported("training mode (extra outputs)")
    x = p.tensor(n.input[0])
    sc, bi, mean, var = [np.asarray(_const_input(p, n, k, "BatchNormalization parameters"), np.float64)
                         for k in range(1, 5)]
    eps = float(a.get("epsilon", 1e-5))
    scale = sc / np.sqrt(var + eps)
    shift = bi - mean * scale
    if len(x.shape) < 2:
        raise _Unsupported("BatchNormalization of a rank-1 tensor")
    return p.net.add_scale(x, _C.ScaleMode.CHANNEL, shift=shift.astype(np.float32), scale=scale.astype(np.float32))


def _normalize(p, x, axes, eps, stats=None):
    mean = p.net.add_reduce(x, R.AVG, axes, keep_dims=True).output(0)
    dlt = p.net.add_elementwise(x, mean, E.SUB).output(0)
    var = p.net.add_reduce(p.net.add_elementwise(dlt, dlt, E.PROD).output(0), R.AVG, axes, keep_dims=True).output(0)
    var = p.net.add_elementwise(var, p.constant(np.full([1] * len(x.shape), eps, np.float32)), E.SUM).output(0)
    std = p.net.add_unary(var, U.SQRT).output(0)
    if stats is not None:
        stats.extend([mean, std])
    return p.net.add_elementwise(dlt, std, E.DIV).output(0)


def _instancenorm(p, n, a):
    x = p.tensor(n.input[0])
    r = len(x.shape)
    y = _normalize(p, x, tuple(range(2, r)), float(a.get("epsilon", 1e-5)))
    sc = _const_input(p, n, 1, "InstanceNormalization scale").astype(np.float32)
    b = _const_input(p, n, 2, "InstanceNormalization bias").astype(np.float32)
    return p.net.add_scale(y, _C.ScaleMode.CHANNEL, shift=b, scale=sc)


def _layernorm(p, n, a):
    x = p.tensor(n.input[0])
    if x.dtype != _C.DataType.float32:
        raise _Unsupported(f"LayerNormalization of {x.dtype.name} tensors (float32 only)")
    r = len(x.shape)
    axis = _norm_axis(a.get("axis", -1), r)
    if axis == 0:
        raise _Unsupported("LayerNormalization over the batch dimension (axis 0)")
    stats = []
    y = _normalize(p, x, tuple(range(axis, r)), float(a.get("epsilon", 1e-5)), stats)
    y = p.net.add_elementwise(y, p.tensor(n.input[1], x.dtype), E.PROD).output(0)
    if _opt_input(n, 2):
        y = p.net.add_elementwise(y, p.tensor(n.input[2], x.dtype), E.SUM).output(0)
    mean, std = stats
    return [y, mean, p.net.add_unary(std, U.RECIP).output(0)]


def _lrn(p, n, a):
    size = int(a["size"])
    if size % 2 == 0:
        raise _Unsupported("LRN with an even size")
    return p.net.add_lrn(p.tensor(n.input[0]), size, float(a.get("alpha", 1e-4)), float(a.get("beta", 0.75)),
                         float(a.get("bias", 1.0)))


def _softmax(p, n, a):
    x = p.tensor(n.input[0])
    r = len(x.shape)
    log = n.op_type == "LogSoftmax"
    add = p.net.add_log_softmax if log else p.net.add_softmax
    if p.opset >= 13:
        return add(x, _norm_axis(a.get("axis", -1), r))
    axis = _norm_axis(a.get("axis", 1), r)
    if axis == r - 1:
        return add(x, axis)
    if axis == 0:
        raise _Unsupported("opset < 13 Softmax with axis 0 (flattens the batch)")
    flat = p.net.add_shuffle(x, reshape=tuple([0] * axis + [-1])).output(0)
    y = add(flat, axis).output(0)
    return p.net.add_shuffle(y, reshape=tuple([0] + list(x.shape[1:]))).output(0)


# ---- matrix ops ----------------------------------------------------------------------------------

def _gemm(p, n, a):
    alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
    ta, tb = int(a.get("transA", 0)), int(a.get("transB", 0))
    x = p.tensor(n.input[0])
    c = _opt_input(n, 2)
    if not ta and p.is_const(n.input[1]) and len(x.shape) == 2 and (c is None or p.is_const(c)):
        w = np.asarray(p.const(n.input[1]), np.float32)
        w = (w if tb else w.T) * alpha
        m = w.shape[0]
        bias = None
        if c is not None:
            cv = np.asarray(p.const(c), np.float32)
            if cv.size == m or cv.size == 1:
                bias = (np.broadcast_to(cv.reshape(-1), (m,)) * beta).astype(np.float32)
            elif cv.ndim == 2 and cv.shape[0] == 1:
                bias = (cv.reshape(-1) * beta).astype(np.float32)
        if c is None or bias is not None:
            return p.net.add_fully_connected(x, m, np.ascontiguousarray(w), bias)
    y = p.net.add_matrix_multiply(x, p.tensor(n.input[1], x.dtype), transpose_a=ta, transpose_b=tb).output(0)
    if alpha != 1.0:
        y = p.net.add_elementwise(y, p.constant(np.full((1, 1), alpha, np.float32)), E.PROD).output(0)
    if c is not None:
        ct = p.tensor(c, x.dtype)
        if beta != 1.0:
            ct = p.net.add_elementwise(ct, p.constant(np.full([1] * max(len(ct.shape), 1), beta, np.float32)),
                                       E.PROD).output(0)
        y = p.net.add_elementwise(y, ct, E.SUM).output(0)
    return y


def _matmul(p, n, a):
    xa = p.tensor(n.input[0])
    return p.net.add_matrix_multiply(xa, p.tensor(n.input[1], xa.dtype))


# ---- shape ops -----------------------------------------------------------------------------------

def _identity(p, n, a):
    return p.net.add_identity(p.tensor(n.input[0]))


def _dropout(p, n, a):
    tm = _const_input(p, n, 2, "Dropout training_mode")
    if tm is not None and bool(tm.ravel()[0]):
        ratio = _const_input(p, n, 1, "Dropout ratio")
        if ratio is None or float(ratio.ravel()[0]) != 0.0:
            raise _Unsupported("Dropout in training mode (random)")
    x = p.tensor(n.input[0])
    y = p.net.add_identity(x).output(0)
    if len(n.output) < 2 or n.output[1] not in p.consumed:
        return [y]
    if p.opset < 10:  # a float mask: the reference gives ones, onnxruntime zeros
        raise _Unsupported("the mask output of Dropout before opset 10 is read (its inference value is ambiguous)")
    if x.dtype not in _CMP_TYPES:
        raise _Unsupported(f"Dropout mask of a {x.dtype.name} tensor")
    # Inference keeps every element: the mask is all true (x > x is false everywhere, NaN included).
    return [y, p.net.add_unary(p.net.add_elementwise(x, x, E.GREATER).output(0), U.NOT).output(0)]


def _cast(p, n, a):
    from onnx import helper
    dt = _gie_dtype(helper.tensor_dtype_to_np_dtype(int(a["to"])))
    x = p.tensor(n.input[0])
    if x.dtype == dt:
        return p.net.add_identity(x)
    return p.net.add_cast(x, dt)


def _reshape_target(p, n, a, in_shape):
    """Validates a Reshape target against the spec (0 copies a dimension unless allowzero, at most one -1, no
    value below -1, element counts equal) and returns (target, symbolic): the target as written, with its
    batch multiples marked when it was computed from the batch sentinel. Counts are compared at the batch
    the network is defined with (a multiple k * BATCH counts as k * batch)."""
    if p.opset < 5:
        shape, symbolic = [int(s) for s in a["shape"]], False
    else:
        shape, symbolic = _batch_target(p, n, 1, "Reshape shape")
    allowzero = int(a.get("allowzero", 0))
    total = int(np.prod(in_shape, dtype=object))
    dims = []
    for i, s in enumerate(shape):
        if s < -1:
            raise InvalidModelError(f"target shape {shape}: dimension {i} is {s} (only -1 may be negative)")
        if s == 0 and not allowzero:
            if i >= len(in_shape):
                raise InvalidModelError(f"target shape {shape}: dimension {i} is 0 (copy), but the input "
                                        f"{tuple(in_shape)} has rank {len(in_shape)}")
            dims.append(in_shape[i])
        elif s == -1:
            dims.append(None)
        elif symbolic and s % BATCH == 0:
            dims.append(s // BATCH * p.batch)
        else:
            dims.append(s)
    if shape.count(-1) > 1:
        raise InvalidModelError(f"target shape {shape} has more than one -1")
    if allowzero and 0 in shape and -1 in shape:
        raise InvalidModelError(f"target shape {shape} has both 0 and -1 with allowzero=1")
    known = int(np.prod([d for d in dims if d is not None], dtype=object))
    if None not in dims and known != total:
        why = f"the target has {known} elements"
    elif None in dims and (known == 0 or total % known):
        why = f"{total} is not a multiple of the product {known} of the other target dimensions"
    else:
        return shape, symbolic
    raise InvalidModelError(f"cannot reshape the input {tuple(in_shape)} ({total} elements) to {shape}: {why}")


def _check_reshape(p, n, a):
    _reshape_target(p, n, a, list(p.shape(n.input[0])))


def _reshape_op(p, n, a):
    x = p.tensor(n.input[0])
    xs = list(x.shape)
    shape, symbolic = _reshape_target(p, n, a, xs)
    out = list(shape)
    if symbolic:
        # A batch multiple becomes the batch copy (0) at position 0, else the inferred dimension; a -1
        # already there does not depend on the batch, so it takes its value at the definition batch.
        copy = shape[0] == BATCH and xs[0] == p.batch  # the batch stays at dimension 0
        follow = [i for i, s in enumerate(shape) if s >= BATCH and s % BATCH == 0 and not (i == 0 and copy)]
        if copy:
            out[0] = 0
        if len(follow) > 1:
            raise _Unsupported(f"Reshape to {shape}: more than one dimension depends on the batch")
        if follow:
            if -1 in out:
                fixed = [xs[i] if s == 0 else s // BATCH * p.batch if s >= BATCH else s
                         for i, s in enumerate(shape) if s != -1]
                out[out.index(-1)] = int(np.prod(xs, dtype=object)) // int(np.prod(fixed, dtype=object))
            out[follow[0]] = -1
    # Keep the batch dynamic when the leading dimension stays that of the input.
    if out and out[0] > 0 and len(xs) and out[0] == xs[0] and p.dynamic_batch:
        out[0] = 0
    return p.net.add_shuffle(x, reshape=tuple(out))


def _flatten(p, n, a):
    x = p.tensor(n.input[0])
    r = len(x.shape)
    axis = _norm_axis(a.get("axis", 1), r)
    if axis == 0:
        return p.net.add_shuffle(x, reshape=(1, -1))
    if axis == 1:
        return p.net.add_shuffle(x, reshape=(0, -1))
    return p.net.add_shuffle(x, reshape=(-1, int(np.prod(x.shape[axis:]))))


def _transpose(p, n, a):
    x = p.tensor(n.input[0])
    perm = list(a.get("perm", list(range(len(x.shape)))[::-1]))
    return p.net.add_shuffle(x, first_transpose=tuple(perm))


def _axes(p, n, a, k=1):
    if "axes" in a:
        return list(a["axes"])
    v = _const_input(p, n, k, "axes")
    return None if v is None else _ints(v)


def _squeeze(p, n, a):
    x = p.tensor(n.input[0])
    shape = list(x.shape)
    axes = _axes(p, n, a)
    if axes is None:
        axes = [i for i, s in enumerate(shape) if s == 1 and i != 0]
    axes = {_norm_axis(ax, len(shape)) for ax in axes}
    if 0 in axes:
        raise _Unsupported("Squeeze of dimension 0 (the batch)")
    new = [s for i, s in enumerate(shape) if i not in axes]
    return p.net.add_shuffle(x, reshape=tuple([0] + new[1:]))


def _unsqueeze(p, n, a):
    x = p.tensor(n.input[0])
    axes = _axes(p, n, a)
    r = len(x.shape) + len(axes)
    axes = sorted(_norm_axis(ax, r) for ax in axes)
    if 0 in axes:
        raise _Unsupported("Unsqueeze at dimension 0 (the batch)")
    new = list(x.shape)
    for ax in axes:
        new.insert(ax, 1)
    return p.net.add_shuffle(x, reshape=tuple([0] + new[1:]))


def _slice_params(shape, starts, ends, axes, steps):
    r = len(shape)
    start, size, stride = [0] * r, list(shape), [1] * r
    for st, en, ax, sp in zip(starts, ends, axes, steps):
        ax = _norm_axis(ax, r)
        dim = shape[ax]
        if sp == 0:
            raise _Unsupported("Slice step 0")
        s, e = (st + dim if st < 0 else st), (en + dim if en < 0 else en)
        if sp > 0:
            s, e = min(max(s, 0), dim), min(max(e, 0), dim)
            cnt = max(0, -(-(e - s) // sp))
        else:
            s, e = min(max(s, 0), dim - 1), min(max(e, -1), dim - 1)
            cnt = max(0, -(-(s - e) // -sp))
        start[ax], size[ax], stride[ax] = s, cnt, sp
    return start, size, stride


def _add_slice(p, x, start, size, stride):
    if start[0] == 0 and size[0] == x.shape[0] and stride[0] == 1:
        return p.net.add_slice(x, start[1:], size[1:], stride[1:]) if len(start) > 1 else p.net.add_identity(x)
    return p.net.add_slice(x, start, size, stride)


def _slice(p, n, a):
    x = p.tensor(n.input[0])
    r = len(x.shape)
    if p.opset < 10:
        starts, ends = list(a["starts"]), list(a["ends"])
        axes = list(a.get("axes", range(len(starts))))
        steps = [1] * len(starts)
    else:
        starts = _ints(_const_input(p, n, 1, "Slice starts"))
        ends = _ints(_const_input(p, n, 2, "Slice ends"))
        ax = _const_input(p, n, 3, "Slice axes")
        axes = list(range(len(starts))) if ax is None else _ints(ax)
        sp = _const_input(p, n, 4, "Slice steps")
        steps = [1] * len(starts) if sp is None else _ints(sp)
    ends = [min(e, 2**62) if e > 0 else max(e, -2**62) for e in ends]
    start, size, stride = _slice_params(list(x.shape), starts, ends, axes, steps)
    if any(_norm_axis(ax_, r) == 0 for ax_ in axes) and p.dynamic_batch:
        if not (start[0] == 0 and size[0] == x.shape[0] and stride[0] == 1):
            raise _Unsupported("Slice of dimension 0 (the batch) with a dynamic batch")
    return _add_slice(p, x, start, size, stride)


def _split(p, n, a):
    x = p.tensor(n.input[0])
    r = len(x.shape)
    axis = _norm_axis(a.get("axis", 0), r)
    if axis == 0:
        raise _Unsupported("Split along dimension 0 (the batch)")
    nout = len(n.output)
    if "split" in a:
        sizes = list(a["split"])
    else:
        v = _const_input(p, n, 1, "Split sizes")
        if v is not None:
            sizes = _ints(v)
        else:
            dim = x.shape[axis]
            num = int(a.get("num_outputs", nout))
            chunk = -(-dim // num)
            sizes = [chunk] * (num - 1) + [dim - chunk * (num - 1)]
    outs, off = [], 0
    for sz in sizes:
        start, size = [0] * r, list(x.shape)
        start[axis], size[axis] = off, sz
        outs.append(_add_slice(p, x, start, size, [1] * r).output(0))
        off += sz
    return outs


def _pad(p, n, a):
    x = p.tensor(n.input[0])
    r = len(x.shape)
    if p.opset < 11:
        pads = list(a.get("pads", a.get("paddings", [])))
        value = float(a.get("value", 0.0))
        axes = list(range(r))
    else:
        pads = _ints(_const_input(p, n, 1, "Pad pads"))
        v = _const_input(p, n, 2, "Pad constant_value")
        value = 0.0 if v is None or v.size == 0 else float(v.ravel()[0])
        ax = _const_input(p, n, 3, "Pad axes")
        axes = list(range(r)) if ax is None else [_norm_axis(i, r) for i in _ints(ax)]
    k = len(axes)
    pre, post = [0] * r, [0] * r
    for j, ax in enumerate(axes):
        pre[ax], post[ax] = pads[j], pads[j + k]
    mode = {"constant": _C.PaddingMode.CONSTANT, "reflect": _C.PaddingMode.REFLECT,
            "edge": _C.PaddingMode.EDGE}.get(a.get("mode", "constant"))
    if mode is None:
        raise _Unsupported(f"Pad mode '{a.get('mode')}'")
    if pre[0] or post[0]:
        if p.dynamic_batch:
            raise _Unsupported("Pad of dimension 0 (the batch) with a dynamic batch")
        return p.net.add_padding(x, pre, post, mode=mode, value=value)
    if r == 1:
        return p.net.add_identity(x)
    return p.net.add_padding(x, pre[1:], post[1:], mode=mode, value=value)


_RED = {"ReduceMean": R.AVG, "ReduceSum": R.SUM, "ReduceMax": R.MAX, "ReduceMin": R.MIN, "ReduceProd": R.PROD,
        "ReduceSumSquare": R.SUM, "ReduceL2": R.SUM, "ReduceL1": R.SUM, "ReduceLogSum": R.SUM,
        "ReduceLogSumExp": R.SUM}


def _reduce(p, n, a):
    x = p.tensor(n.input[0])
    r = len(x.shape)
    axes = _axes(p, n, a)
    keep = int(a.get("keepdims", 1))
    if not axes:
        if a.get("noop_with_empty_axes", 0):
            return p.net.add_identity(x)
        axes = list(range(r))
    axes = sorted({_norm_axis(ax, r) for ax in axes})
    if 0 in axes and not keep:
        raise _Unsupported("reducing away dimension 0 (the batch)")
    if x.dtype != _C.DataType.float32:
        raise _Unsupported("Reduce of a non-float tensor")
    t = n.op_type
    if t in ("ReduceSumSquare", "ReduceL2"):
        x = p.net.add_elementwise(x, x, E.PROD).output(0)
    elif t == "ReduceL1":
        x = p.net.add_unary(x, U.ABS).output(0)
    elif t == "ReduceLogSumExp":
        x = p.net.add_unary(x, U.EXP).output(0)
    y = p.net.add_reduce(x, _RED[t], tuple(axes), keep_dims=bool(keep)).output(0)
    if t == "ReduceL2":
        y = p.net.add_unary(y, U.SQRT).output(0)
    elif t in ("ReduceLogSum", "ReduceLogSumExp"):
        y = p.net.add_unary(y, U.LOG).output(0)
    return y


def _concat(p, n, a):
    ts = _same_type(p, [i for i in n.input if i])
    return p.net.add_concatenation(ts, axis=int(a.get("axis", 1 if p.opset < 4 else 0)))


def _check_gather(p, n, a):
    """ONNX: indices must lie in [-d, d-1] for the gathered axis of size d. Known indices are checked here
    (they become int32 in gie, so an int64 index beyond int32 would otherwise wrap to another element);
    run-time indices are int32 tensors checked by the Gather kernel."""
    shape = p.shape(n.input[0])
    ax = int(a.get("axis", 0))
    if not -len(shape) <= ax < len(shape):
        raise InvalidModelError(f"axis {ax} is out of range for data of rank {len(shape)}")
    ax = _norm_axis(ax, len(shape))
    if not p.is_const(n.input[1]):
        return
    idx = np.asarray(p.const(n.input[1]))
    if idx.dtype.kind not in "iu":
        raise InvalidModelError(f"indices have type {idx.dtype}; ONNX Gather takes int32 or int64 indices")
    if ax == 0 and p.dynamic_batch and not p.is_const(n.input[0]):
        return  # gathering along the batch: refused by the converter
    d = shape[ax]
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        bad = lo if lo < -d else hi if hi >= d else None
        if bad is not None:
            raise InvalidModelError(f"index {bad} is out of range [{-d}, {d - 1}] for axis {ax} (size {d}) of "
                                    f"data {tuple(shape)}")


def _gather(p, n, a):
    data = p.tensor(n.input[0])
    axis = _norm_axis(a.get("axis", 0), len(data.shape))
    if axis == 0 and p.dynamic_batch:
        raise _Unsupported("Gather along dimension 0 (the batch) with a dynamic batch")
    if p.is_const(n.input[1]):
        idx = p.constant(np.asarray(p.const(n.input[1])).astype(np.int32))
    else:
        idx = p.tensor(n.input[1])
        if idx.dtype != _C.DataType.int32:
            idx = p.net.add_cast(idx, _C.DataType.int32).output(0)
    return p.net.add_gather(data, idx, axis)


def _resize(p, n, a):
    x = p.tensor(n.input[0])
    r = len(x.shape)
    mode_s = a.get("mode", "nearest")
    mode = {"nearest": _C.ResizeMode.NEAREST, "linear": _C.ResizeMode.LINEAR,
            "bilinear": _C.ResizeMode.LINEAR}.get(mode_s)
    if mode is None:
        raise _Unsupported(f"resize mode '{mode_s}'")
    scales = sizes = None
    if n.op_type == "Upsample":
        ct = "asymmetric"
        nm = "floor"
        scales = list(a["scales"]) if "scales" in a else list(_const_input(p, n, 1, "Upsample scales").astype(float))
    else:
        if p.opset < 11:
            ct, nm = "asymmetric", "floor"
            scales = list(_const_input(p, n, 1, "Resize scales").astype(float))
        else:
            ct = a.get("coordinate_transformation_mode", "half_pixel")
            nm = a.get("nearest_mode", "round_prefer_floor")
            sv = _const_input(p, n, 2, "Resize scales")
            zv = _const_input(p, n, 3, "Resize sizes")
            if a.get("antialias", 0):
                raise _Unsupported("antialias")
            if a.get("keep_aspect_ratio_policy", "stretch") != "stretch":
                raise _Unsupported("keep_aspect_ratio_policy")
            if zv is not None and zv.size:
                sizes = _ints(zv)
            elif sv is not None and sv.size:
                scales = [float(s) for s in sv]
            else:
                raise _Unsupported("Resize without scales or sizes")
            if "axes" in a:
                axes = [_norm_axis(ax, r) for ax in a["axes"]]
                full = [1.0] * r if scales is not None else list(x.shape)
                for j, ax in enumerate(axes):
                    full[ax] = (scales or sizes)[j]
                if scales is not None:
                    scales = full
                else:
                    sizes = [int(v) for v in full]
    ctm = {"half_pixel": _C.ResizeCoordinateTransformation.HALF_PIXEL,
           "asymmetric": _C.ResizeCoordinateTransformation.ASYMMETRIC,
           "align_corners": _C.ResizeCoordinateTransformation.ALIGN_CORNERS,
           "pytorch_half_pixel": _C.ResizeCoordinateTransformation.PYTORCH_HALF_PIXEL}.get(ct)
    if ctm is None:
        raise _Unsupported(f"coordinate_transformation_mode '{ct}'")
    nmm = {"round_prefer_floor": _C.ResizeRoundMode.ROUND_PREFER_FLOOR,
           "round_prefer_ceil": _C.ResizeRoundMode.ROUND_PREFER_CEIL,
           "floor": _C.ResizeRoundMode.FLOOR, "ceil": _C.ResizeRoundMode.CEIL}.get(nm)
    if nmm is None:
        raise _Unsupported(f"nearest_mode '{nm}'")
    if scales is not None:
        if float(scales[0]) != 1.0:
            raise _Unsupported("resizing dimension 0 (the batch)")
        return p.net.add_resize(x, mode, scales=scales, coordinate_transformation=ctm,
                                nearest_mode=nmm if mode == _C.ResizeMode.NEAREST else None)
    if sizes[0] != x.shape[0]:
        raise _Unsupported("resizing dimension 0 (the batch)")
    return p.net.add_resize(x, mode, output_shape=sizes, coordinate_transformation=ctm,
                            nearest_mode=nmm if mode == _C.ResizeMode.NEAREST else None)


def _depth_to_space(p, n, a):
    x = p.tensor(n.input[0])
    b = int(a["blocksize"])
    _, c, h, w = x.shape
    if a.get("mode", "DCR") == "DCR":
        t = p.net.add_shuffle(x, reshape=(0, b, b, c // (b * b), h, w), second_transpose=(0, 3, 4, 1, 5, 2)).output(0)
    else:
        t = p.net.add_shuffle(x, reshape=(0, c // (b * b), b, b, h, w), second_transpose=(0, 1, 4, 2, 5, 3)).output(0)
    return p.net.add_shuffle(t, reshape=(0, c // (b * b), h * b, w * b))


def _space_to_depth(p, n, a):
    x = p.tensor(n.input[0])
    b = int(a["blocksize"])
    _, c, h, w = x.shape
    perm = (0, 1, 3, 5, 2, 4) if a.get("mode", "DCR") == "CRD" else (0, 3, 5, 1, 2, 4)
    t = p.net.add_shuffle(x, reshape=(0, c, h // b, b, w // b, b), second_transpose=perm).output(0)
    return p.net.add_shuffle(t, reshape=(0, c * b * b, h // b, w // b))


def _expand(p, n, a):
    shape, symbolic = _batch_target(p, n, 1, "Expand shape")
    if p.is_const(n.input[0]) and symbolic:  # a constant (e.g. a class token) expanded to the batch
        v = np.asarray(p.const(n.input[0]))
        if shape[0] != BATCH or any(s >= BATCH for s in shape[1:]) or len(shape) < v.ndim:
            raise _Unsupported(f"Expand of a constant to {shape}: only dimension 0 may follow the batch")
        return _batch_broadcast(p, np.broadcast_to(v, np.broadcast_shapes(v.shape, (1,) + tuple(shape[1:]))))
    x = p.tensor(n.input[0])
    xs = list(x.shape)
    out = list(np.broadcast_shapes(tuple(xs), tuple(s if s != BATCH else 1 for s in shape)))
    if len(out) == len(xs):
        out[0] = 1  # the batch comes from x
    elif p.dynamic_batch:
        raise _Unsupported("Expand to a higher rank with a dynamic batch")
    if x.dtype == _C.DataType.bool:
        raise _Unsupported("Expand of a bool tensor")
    ones = p.constant(np.ones(out, _np_of_gie(x.dtype)))
    if x.dtype == _C.DataType.float32 or x.dtype == _C.DataType.int32:
        return p.net.add_elementwise(x, ones, E.PROD)
    raise _Unsupported(f"Expand of {x.dtype}")


def _constant_of_shape(p, n, a):
    # Reached only when folding would make a batch-sized constant: that becomes a run-time broadcast.
    shape, symbolic = _batch_target(p, n, 0, "ConstantOfShape shape")
    if not symbolic or shape[0] != BATCH or any(s >= BATCH for s in shape[1:]):
        raise _Unsupported(f"ConstantOfShape {shape}: too large to fold, and only dimension 0 may follow the batch")
    value = np.asarray(a.get("value", np.zeros(1, np.float32))).reshape(-1)[:1]
    return _batch_broadcast(p, np.full([1] + shape[1:], value[0], value.dtype))


def _tile(p, n, a):
    reps, symbolic = _batch_target(p, n, 1, "Tile repeats")
    if p.is_const(n.input[0]) and symbolic:  # a constant repeated batch times (torch's x.repeat(B, 1, 1))
        v = np.asarray(p.const(n.input[0]))
        if reps[0] != BATCH or any(r >= BATCH for r in reps[1:]) or v.ndim != len(reps) or v.shape[0] != 1:
            raise _Unsupported(f"Tile of a constant {v.shape} by {reps}: only dimension 0 may follow the batch")
        return _batch_broadcast(p, np.tile(v, [1] + reps[1:]))
    x = p.tensor(n.input[0])
    if reps[0] != 1:
        raise _Unsupported("Tile along dimension 0 (the batch)")
    out = x
    for ax, k in enumerate(reps):
        if k != 1:
            out = p.net.add_concatenation([out] * k, axis=ax).output(0)
    if out is x:
        out = p.net.add_identity(x).output(0)
    return out


CONVERTERS = {
    "Conv": _conv, "ConvTranspose": _conv_transpose, "Gemm": _gemm, "MatMul": _matmul,
    "Add": _binary, "Sub": _binary, "Mul": _binary, "Div": _binary, "Pow": _binary, "Max": _binary, "Min": _binary,
    "Sum": _binary, "Mean": _mean, "Equal": _binary, "Greater": _binary, "Less": _binary, "And": _binary,
    "Or": _binary, "Xor": _binary, "Mod": _mod, "GreaterOrEqual": _cmp_or_equal, "LessOrEqual": _cmp_or_equal,
    "Relu": _act(A.RELU), "Sigmoid": _act(A.SIGMOID), "Tanh": _act(A.TANH),
    "LeakyRelu": _act(A.LEAKY_RELU, ("alpha", 0.01)), "Elu": _act(A.ELU, ("alpha", 1.0)),
    "Selu": _act(A.SELU, ("alpha", 1.67326319217681884765625), ("gamma", 1.05070102214813232421875)),
    "Softplus": _act(A.SOFTPLUS), "Softsign": _act(A.SOFTSIGN),
    "HardSigmoid": _act(A.HARD_SIGMOID, ("alpha", 0.2), ("beta", 0.5)), "HardSwish": _act(A.HARD_SWISH),
    "ThresholdedRelu": _act(A.THRESHOLDED_RELU, ("alpha", 1.0)), "Mish": _act(A.MISH), "Gelu": _gelu,
    "Clip": _clip, "PRelu": _prelu,
    "MaxPool": _pool, "AveragePool": _pool, "GlobalAveragePool": _global_pool, "GlobalMaxPool": _global_pool,
    "BatchNormalization": _batchnorm, "InstanceNormalization": _instancenorm, "LayerNormalization": _layernorm,
    "LRN": _lrn, "Softmax": _softmax, "LogSoftmax": _softmax,
    "Concat": _concat, "Flatten": _flatten, "Reshape": _reshape_op, "Transpose": _transpose, "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze, "Slice": _slice, "Split": _split, "Pad": _pad, "Gather": _gather, "Cast": _cast,
    "Resize": _resize, "Upsample": _resize, "DepthToSpace": _depth_to_space, "SpaceToDepth": _space_to_depth,
    "Expand": _expand, "Tile": _tile, "Identity": _identity, "Dropout": _dropout,
}
CONVERTERS["ConstantOfShape"] = _constant_of_shape
VALIDATORS = {"Gather": _check_gather, "Reshape": _check_reshape}
CONVERTERS.update({k: _unary for k in _UNARY})
CONVERTERS.update({k: _reduce for k in _RED})
FOLD_ONLY -= set(CONVERTERS)
