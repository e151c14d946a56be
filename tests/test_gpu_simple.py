"""GPU kernels of the simple layers (Pooling, LRN, Softmax/LogSoftmax, Identity, Constant, Activation, Unary, PRelu,
Scale, Cast) against the CPU kernels: awkward shapes, every mode, type and tactic, batch 13 and 1, strided
(concatenation slice / horizontally fused) inputs and outputs where the kernels accept them."""
import numpy as np
import pytest

import gie
from gpu_util import compare_gpu_cpu, each_tactic, gpu_tactics, randn

pytestmark = pytest.mark.gpu

N = 13  # max batch; compare_gpu_cpu also runs batch 1


# ---- Pooling ---------------------------------------------------------------------------------------------------

POOL_CASES = [
    # id, (C, H, W), window, fields
    ("3x3_s2", (13, 17, 13), (3, 3), dict(stride=(2, 2))),
    ("3x3_s2_pad1", (7, 17, 13), (3, 3), dict(stride=(2, 2), pre_padding=(1, 1))),
    ("3x3_s2_pad1_incl", (7, 17, 13), (3, 3), dict(stride=(2, 2), pre_padding=(1, 1), exclude_padding=0)),
    ("3x3_s2_ceil", (33, 14, 14), (3, 3), dict(stride=(2, 2), ceil_mode=1)),
    ("3x3_s2_pad1_ceil_incl", (3, 10, 7), (3, 3), dict(stride=(2, 2), pre_padding=(1, 1), ceil_mode=1, exclude_padding=0)),
    ("3x3_s1_pad1", (5, 7, 7), (3, 3), dict(pre_padding=(1, 1))),
    ("2x2_s2", (33, 17, 13), (2, 2), dict(stride=(2, 2))),
    ("2x2_s2_ceil", (7, 17, 13), (2, 2), dict(stride=(2, 2), ceil_mode=1)),
    ("2x2_s1", (3, 8, 8), (2, 2), dict()),
    ("ceil_caffe_drop", (2, 5, 5), (2, 2), dict(stride=(2, 2), pre_padding=(1, 1), ceil_mode=1)),
    ("ceil_caffe_drop_incl", (2, 5, 5), (2, 2), dict(stride=(2, 2), pre_padding=(1, 1), ceil_mode=1, exclude_padding=0)),
    ("asym_pad", (3, 7, 9), (3, 2), dict(stride=(2, 1), pre_padding=(2, 0), post_padding=(0, 1))),
    ("asym_pad_incl", (3, 7, 9), (3, 2), dict(stride=(2, 1), pre_padding=(2, 0), post_padding=(0, 1), exclude_padding=0)),
    ("5x5_s3_pad2", (4, 19, 16), (5, 5), dict(stride=(3, 3), pre_padding=(2, 2), ceil_mode=1)),
    ("1x7_s1", (3, 6, 11), (1, 7), dict(pre_padding=(0, 3))),
    ("window_eq_input", (7, 5, 6), (5, 6), dict()),             # a whole-plane window without the global flag
    ("window_eq_input_7x7", (33, 7, 7), (7, 7), dict()),
    ("window_eq_input_padded", (3, 5, 6), (5, 6), dict(pre_padding=(1, 1), exclude_padding=0)),
    ("1x1_spatial", (13, 1, 1), (1, 1), dict()),
    ("1x1_window_s2", (3, 9, 8), (1, 1), dict(stride=(2, 2))),
]


def pool_define(kind, window, fields, glob=False):
    def define(net, t):
        layer = net.add_pooling(t["x"], kind, window)
        for k, v in fields.items():
            setattr(layer, k, v)
        if glob:
            setattr(layer, "global", 1)
        return layer.output(0)
    return define


def pool_input(rng, kind, shape):
    # Negative values make "padding is never a max candidate" observable.
    return randn(rng, (N,) + shape, shift=-3.0 if kind == gie.PoolingType.MAX else 0.0)


@pytest.mark.parametrize("kind", [gie.PoolingType.MAX, gie.PoolingType.AVERAGE], ids=["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES, ids=[c[0] for c in POOL_CASES])
def test_pooling(case, kind, rng):
    _, shape, window, fields = case
    each_tactic(pool_define(kind, window, fields), {"x": pool_input(rng, kind, shape)}, "Pooling", must_have=("direct",))


@pytest.mark.parametrize("kind", [gie.PoolingType.MAX, gie.PoolingType.AVERAGE], ids=["max", "avg"])
@pytest.mark.parametrize("shape", [(33, 7, 7), (13, 13, 13), (7, 8, 8), (3, 56, 56), (5, 1, 1), (3, 17, 13), (2, 64, 67)],
                         ids=str)
def test_pooling_global(kind, shape, rng):
    """Global pooling: warp-per-plane (float4 when H*W % 4 == 0), block-per-plane and direct tactics."""
    each_tactic(pool_define(kind, (1, 1), {}, glob=True), {"x": pool_input(rng, kind, shape)}, "Pooling",
                must_have=("direct",))


def test_pooling_global_large_values(rng):
    """Average of large values with many terms: the GPU's tree order stays within float rounding of the CPU's."""
    x = randn(rng, (N, 4, 31, 29), scale=10.0, shift=1000.0)
    each_tactic(pool_define(gie.PoolingType.AVERAGE, (1, 1), {}, glob=True), {"x": x}, "Pooling", rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("kind", [gie.PoolingType.MAX, gie.PoolingType.AVERAGE], ids=["max", "avg"])
def test_pooling_writes_into_concat_slice(kind, rng):
    """Two poolings concatenated on channels write straight into their slices (strided output)."""
    def define(net, t):
        a = net.add_pooling(t["x"], kind, (3, 3))
        a.stride = (2, 2)
        a.padding = (1, 1)
        b = net.add_pooling(t["x"], gie.PoolingType.MAX, (2, 2))
        b.stride = (2, 2)
        b.ceil_mode = 1
        return net.add_concatenation([a.output(0), b.output(0)], axis=1).output(0)  # both (N, 7, 9, 7)

    compare_gpu_cpu(define, {"x": randn(rng, (N, 7, 17, 13))})


@pytest.mark.parametrize("shape", [(33, 7, 7), (3, 8, 8)], ids=str)
def test_global_pooling_writes_into_concat_slice(shape, rng):
    """Global max and average poolings written into channel slices, with every tactic."""
    def define(net, t):
        outs = []
        for kind in (gie.PoolingType.MAX, gie.PoolingType.AVERAGE):
            g = net.add_pooling(t["x"], kind, (1, 1))
            setattr(g, "global", 1)
            outs.append(g.output(0))
        return net.add_concatenation(outs, axis=1).output(0)

    each_tactic(define, {"x": randn(rng, (N,) + shape)}, "Pooling")


@pytest.mark.parametrize("glob", [False, True], ids=["3x3_s2", "global"])
def test_pooling_reads_fused_convolution_slice(glob, rng):
    """Sibling 1x1 convolutions merge (horizontal fusion); the poolings read channel slices of the wide output."""
    C, K1, K2 = 5, 7, 3
    w1 = randn(rng, (K1, C, 1, 1), 0.3)
    w2 = randn(rng, (K2, C, 1, 1), 0.3)
    b1 = randn(rng, (K1,))
    b2 = randn(rng, (K2,))

    def define(net, t):
        outs = []
        for w, b, kind in ((w1, b1, gie.PoolingType.MAX), (w2, b2, gie.PoolingType.AVERAGE)):
            conv = net.add_convolution(t["x"], w.shape[0], (1, 1), w, b).output(0)
            p = net.add_pooling(conv, kind, (3, 3))
            if glob:
                setattr(p, "global", 1)
            else:
                p.stride = (2, 2)
            outs.append(p.output(0))
        return outs

    inputs = {"x": randn(rng, (N, C, 17, 13))}
    for t in gpu_tactics(define, inputs, "Pooling"):
        compare_gpu_cpu(define, inputs, force={"Pooling": t}, rtol=1e-4, atol=1e-4)


# ---- LRN -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("window,alpha,beta,k", [
    (5, 1e-4, 0.75, 1.0),    # AlexNet
    (5, 2e-4, 0.75, 2.0),
    (3, 0.5, 0.5, 1.0),
    (1, 1.0, 1.0, 0.5),
    (7, 0.3, 0.6, 1.5),      # generic pow
    (9, 0.1, 0.75, 1.0),     # window wider than 7 channels
    (31, 0.01, 1.0, 1.0),    # window wider than every channel count below
])
@pytest.mark.parametrize("shape", [(7, 17, 13), (3, 5, 5), (33, 7, 7), (13, 1, 1)], ids=str)
def test_lrn(shape, window, alpha, beta, k, rng):
    x = randn(rng, (N,) + shape, scale=2.0)
    compare_gpu_cpu(lambda net, t: net.add_lrn(t["x"], window, alpha, beta, k).output(0), {"x": x}, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(7,), (5, 9), (4, 3, 2, 5)], ids=str)
def test_lrn_other_ranks(shape, rng):
    x = randn(rng, (N,) + shape, scale=3.0)
    compare_gpu_cpu(lambda net, t: net.add_lrn(t["x"], 3, 0.7, 0.75, 1.0).output(0), {"x": x}, rtol=2e-5, atol=1e-6)


# ---- Softmax / LogSoftmax --------------------------------------------------------------------------------------

SOFTMAX_CASES = [
    # shape without batch, axis
    ((3, 4, 5), 1), ((3, 4, 5), 2), ((3, 4, 5), 3), ((3, 4, 5), -1), ((3, 4, 5), -3), ((3, 4, 5), 0),
    ((1000,), 1),       # row_warp, float4
    ((1001,), 1),       # row_warp, scalar
    ((1024,), -1),
    ((33,), 1), ((7,), 1), ((1,), 1), ((2,), 1), ((16,), 1), ((128,), 1), ((129,), 1),
    ((4096,), 1),       # row_block, float4
    ((5003,), 1),       # row_block, scalar
    ((3000, 7), 1),     # long axis, few columns: col_block
    ((7, 3000), 1),     # many columns
    ((17, 13, 3), 2),
    ((2, 7, 1, 1), 1),  # inner of size 1 through trailing unit dims
    ((), 0),            # rank 1, over the batch: the axis length changes with the batch
]


def softmax_define(axis, log):
    def define(net, t):
        fn = net.add_log_softmax if log else net.add_softmax
        return fn(t["x"], axis=axis).output(0)
    return define


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,axis", SOFTMAX_CASES, ids=[f"{s}-axis{a}" for s, a in SOFTMAX_CASES])
def test_softmax(shape, axis, log, rng):
    x = randn(rng, (N,) + shape, scale=4.0)
    each_tactic(softmax_define(axis, log), {"x": x}, "Softmax", must_have=("col_thread",), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,axis", [((300,), 1), ((2000,), 1), ((40, 6), 1), ((5, 2), 1)], ids=str)
def test_softmax_large_logits_and_infinities(shape, axis, log, rng):
    """Large logits (max subtraction), -inf entries (masks; leading ones included) and one row with +inf."""
    x = randn(rng, (N,) + shape, scale=40.0, shift=500.0)
    xm = np.moveaxis(x, axis, -1)  # a view: writes go to x
    xm[..., 0] = -np.inf           # the first element of every row along the axis
    xm[1, ..., 1::3] = -np.inf
    xm[2, ..., -1] = np.inf        # the whole row becomes NaN on the CPU; the GPU must agree
    each_tactic(softmax_define(axis, log), {"x": x}, "Softmax", rtol=1e-5, atol=1e-5)


def test_softmax_all_minus_inf_row(rng):
    x = randn(rng, (N, 9))
    x[3] = -np.inf  # NaN on the CPU (exp(-inf + inf))
    for log in (False, True):
        each_tactic(softmax_define(1, log), {"x": x}, "Softmax")


# ---- Identity / Constant ---------------------------------------------------------------------------------------

TYPES = {"float32": np.float32, "float16": np.float16, "int8": np.int8, "int32": np.int32, "bool": np.bool_}


def typed(rng, shape, dtype):
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype in (np.int8, np.int32):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)
    return randn(rng, shape).astype(dtype)


@pytest.mark.parametrize("shape", [(7,), (3, 5), (13, 17, 13), (1, 1, 1), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("dtype", list(TYPES), ids=list(TYPES))
def test_identity(dtype, shape, rng):
    x = typed(rng, (N,) + shape, TYPES[dtype])
    compare_gpu_cpu(lambda net, t: net.add_identity(t["x"]).output(0), {"x": x}, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", list(TYPES), ids=list(TYPES))
@pytest.mark.parametrize("shapes", [((3, 5), (4, 5)), ((1, 7, 3), (2, 7, 3)), ((4, 4), (8, 4))], ids=str)
def test_identity_copies_into_concat_slices(dtype, shapes, rng):
    """Concatenating network inputs: an Identity copies each into its slice (strided output, any type/size)."""
    a = typed(rng, (N,) + shapes[0], TYPES[dtype])
    b = typed(rng, (N,) + shapes[1], TYPES[dtype])
    compare_gpu_cpu(lambda net, t: net.add_concatenation([t["a"], t["b"], t["a"]], axis=1).output(0), {"a": a, "b": b},
                    rtol=0, atol=0)


@pytest.mark.parametrize("passes_off", [(), ("constant_folding",)], ids=["default", "no_folding"])
@pytest.mark.parametrize("dtype", ["float32", "int32", "float16", "int64", "int8"])
def test_constant(dtype, passes_off, rng):
    shape = (3, 7, 5)
    if dtype in ("int32", "int64"):
        value = rng.integers(-2**31, 2**31 - 1, shape, dtype=np.int64)
        if dtype == "int64":
            value.flat[:4] = [2**40, -2**40, 2**31, -2**31 - 1]  # saturate to int32
    elif dtype == "int8":
        value = rng.integers(-128, 128, shape).astype(np.int8)
    else:
        value = rng.standard_normal(shape).astype(dtype)

    def define(net, t):
        if dtype in ("int64", "int8"):  # the raw field types (add_constant would convert them to int32)
            c = net.add_layer("Constant", [], {"shape": np.asarray(shape, np.int64), "weights": np.ascontiguousarray(value).ravel()})
        else:
            c = net.add_constant(shape, value)
        return [net.add_identity(t["x"]).output(0), c.output(0)]

    compare_gpu_cpu(define, {"x": randn(rng, (N, 3))}, rtol=0, atol=0, passes_off=passes_off)


# ---- Activation ------------------------------------------------------------------------------------------------

ACT_NAMES = [n for n in dir(gie.ActivationType) if n.isupper() and n not in ("name", "value")]
ACT_PARAMS = {
    "LEAKY_RELU": (0.2, None), "ELU": (0.7, None), "SELU": (1.5, 1.2), "CLIP": (-0.5, 1.25),
    "HARD_SIGMOID": (0.3, 0.4), "SCALED_TANH": (1.7, 0.66), "THRESHOLDED_RELU": (0.25, None),
}


def act_input(rng, shape):
    x = rng.uniform(-8, 8, shape).astype(np.float32)
    specials = np.array([0.0, -0.0, 1e-4, -1e-4, 1e-7, -1e-7, 0.25, -0.5, 1.25, 1.0, -1.0, 3.0, -3.0, 6.0, 6.5, 20.0, 20.5,
                         -20.5, 25.0, -30.0, 2.5, 90.0, -90.0, 1e30, -1e30, np.inf, -np.inf], np.float32)
    x.reshape(-1)[:specials.size] = specials
    return x


def test_activation_types_are_all_covered():
    assert len(ACT_NAMES) == 18, ACT_NAMES


@pytest.mark.parametrize("shape", [(3, 17, 13), (7,), (4, 4, 4)], ids=str)
@pytest.mark.parametrize("name,params", [(n, "default") for n in ACT_NAMES] + [(n, "explicit") for n in ACT_PARAMS])
def test_activation(name, params, shape, rng):
    t = getattr(gie.ActivationType, name)
    alpha, beta = ACT_PARAMS[name] if params == "explicit" else (None, None)
    x = act_input(rng, (N,) + shape)
    compare_gpu_cpu(lambda net, tens: net.add_activation(tens["x"], t, alpha=alpha, beta=beta).output(0), {"x": x},
                    rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shapes", [((3, 5, 7), (5, 5, 7)), ((4, 4, 4), (8, 4, 4))], ids=["odd", "aligned"])
def test_activation_writes_into_concat_slice(shapes, rng):
    A = gie.ActivationType

    def define(net, t):
        a = net.add_activation(t["a"], A.RELU).output(0)
        b = net.add_activation(t["b"], A.SIGMOID).output(0)
        c = net.add_activation(t["a"], A.GELU).output(0)
        return net.add_concatenation([a, b, c], axis=1).output(0)

    compare_gpu_cpu(define, {"a": act_input(rng, (N,) + shapes[0]), "b": act_input(rng, (N,) + shapes[1])}, rtol=1e-5, atol=1e-6)


# ---- Unary -----------------------------------------------------------------------------------------------------

U = gie.UnaryOperation
UNARY_FLOAT = {  # op -> input maker (values inside the domain, plus edge values)
    "EXP": lambda r, s: r.uniform(-80, 80, s), "LOG": lambda r, s: r.uniform(1e-6, 1e6, s),
    "SQRT": lambda r, s: r.uniform(0, 1e4, s), "RECIP": lambda r, s: r.uniform(-10, 10, s),
    "ABS": lambda r, s: r.standard_normal(s), "NEG": lambda r, s: r.standard_normal(s),
    "SIN": lambda r, s: r.uniform(-100, 100, s), "COS": lambda r, s: r.uniform(-100, 100, s),
    "TAN": lambda r, s: r.uniform(-1.5, 1.5, s), "SINH": lambda r, s: r.uniform(-10, 10, s),
    "COSH": lambda r, s: r.uniform(-10, 10, s), "ASIN": lambda r, s: r.uniform(-1, 1, s),
    "ACOS": lambda r, s: r.uniform(-1, 1, s), "ATAN": lambda r, s: r.uniform(-50, 50, s),
    "ASINH": lambda r, s: r.uniform(-50, 50, s), "ACOSH": lambda r, s: r.uniform(1, 50, s),
    "ATANH": lambda r, s: r.uniform(-0.99, 0.99, s), "CEIL": lambda r, s: r.uniform(-10, 10, s),
    "FLOOR": lambda r, s: r.uniform(-10, 10, s), "ERF": lambda r, s: r.uniform(-4, 4, s),
    "SIGN": lambda r, s: np.round(r.standard_normal(s)), "ROUND": lambda r, s: np.round(r.uniform(-8, 8, s) * 2) / 2,
}


def test_unary_float_ops_are_all_covered():
    names = [n for n in dir(U) if n.isupper() and n not in ("name", "value")]
    assert sorted(names) == sorted(list(UNARY_FLOAT) + ["NOT"])


@pytest.mark.parametrize("shape", [(7, 9), (4, 8), (1,)], ids=str)
@pytest.mark.parametrize("op", list(UNARY_FLOAT))
def test_unary_float(op, shape, rng):
    x = UNARY_FLOAT[op](rng, (N,) + shape).astype(np.float32)
    if op in ("ROUND", "SIGN", "CEIL", "FLOOR", "ABS", "NEG"):
        x.reshape(-1)[:6] = [0.5, -0.5, 2.5, -2.5, -0.0, np.nan][:x.size]
        tol = dict(rtol=0, atol=0)
    else:
        tol = dict(rtol=2e-6, atol=1e-6)
    compare_gpu_cpu(lambda net, t: net.add_unary(t["x"], getattr(U, op)).output(0), {"x": x}, **tol)


def test_unary_float_special_values(rng):
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -1e-40, 1e38, -1e38, 8388607.5, -8388607.5, 16777216.0],
                 np.float32)
    x = np.tile(x, (N, 1))
    for op in UNARY_FLOAT:
        with np.errstate(all="ignore"):
            compare_gpu_cpu(lambda net, t, op=op: net.add_unary(t["x"], getattr(U, op)).output(0), {"x": x}, rtol=2e-6, atol=0)


@pytest.mark.parametrize("shape", [(7, 9), (4, 8)], ids=str)
@pytest.mark.parametrize("op", ["ABS", "NEG", "SIGN"])
def test_unary_int32(op, shape, rng):
    x = rng.integers(-2**31, 2**31, (N,) + shape, dtype=np.int64).astype(np.int32)
    x.reshape(-1)[:4] = [-2**31, 2**31 - 1, 0, -1]
    compare_gpu_cpu(lambda net, t: net.add_unary(t["x"], getattr(U, op)).output(0), {"x": x}, rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(7, 9), (16,), (3,)], ids=str)
def test_unary_not(shape, rng):
    x = rng.random((N,) + shape) < 0.5
    compare_gpu_cpu(lambda net, t: net.add_unary(t["x"], U.NOT).output(0), {"x": x}, rtol=0, atol=0)


# ---- PRelu -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(7, 17, 13), (4, 4, 4), (33,), (3, 5), (13, 1, 1)], ids=str)
@pytest.mark.parametrize("shared", [False, True], ids=["per_channel", "shared"])
def test_prelu(shape, shared, rng):
    slope = randn(rng, (1 if shared else shape[0],), 0.5)
    x = randn(rng, (N,) + shape)
    x.reshape(-1)[:2] = [-0.0, 0.0]
    compare_gpu_cpu(lambda net, t: net.add_prelu(t["x"], slope).output(0), {"x": x}, rtol=0, atol=0)


# ---- Scale -----------------------------------------------------------------------------------------------------

M = gie.ScaleMode


@pytest.mark.parametrize("weights", ["shift", "scale", "power", "shift_scale", "all", "all_power_one", "none"])
@pytest.mark.parametrize("mode,axis,shape", [
    (M.UNIFORM, None, (7, 17, 13)), (M.UNIFORM, None, (4, 4)),
    (M.CHANNEL, None, (7, 17, 13)), (M.CHANNEL, None, (8, 4, 4)), (M.CHANNEL, 2, (3, 5, 7)), (M.CHANNEL, -1, (3, 5, 7)),
    (M.CHANNEL, None, (33,)),
    (M.ELEMENTWISE, None, (7, 5, 3)), (M.ELEMENTWISE, None, (4, 2, 2)), (M.ELEMENTWISE, 2, (3, 5, 7)),
    (M.ELEMENTWISE, 3, (3, 5, 8)),
], ids=lambda v: str(v))
def test_scale(mode, axis, shape, weights, rng):
    full = (N,) + shape
    if mode == M.UNIFORM:
        count = 1
    else:
        a = 1 if axis is None else axis % len(full)
        count = full[a] if mode == M.CHANNEL else int(np.prod(full[a:]))
    shift = randn(rng, (count,)) if weights in ("shift", "shift_scale", "all", "all_power_one") else None
    scale = randn(rng, (count,)) if weights in ("scale", "shift_scale", "all", "all_power_one") else None
    power = None
    if weights in ("power", "all"):
        power = rng.choice(np.array([1.0, 2.0, 0.5, -1.0, 3.0, 1.7], np.float32), count).astype(np.float32)
        if count > 1:
            power[0] = 1.0  # mixed: pow runs only where the power is not 1
    elif weights == "all_power_one":
        power = np.ones(count, np.float32)
    x = randn(rng, full)
    if power is not None:  # keep the base positive so that fractional powers stay real
        x = np.abs(x) + 0.1
        if scale is not None:
            scale = np.abs(scale) + 0.1
        if shift is not None:
            shift = np.abs(shift)
    compare_gpu_cpu(lambda net, t: net.add_scale(t["x"], mode, shift, scale, power, channel_axis=axis).output(0), {"x": x},
                    rtol=2e-6, atol=1e-6, passes_off=("remove_noops",))


def test_scale_negative_base_and_zero_signs(rng):
    """pow of a negative base with a fractional power is NaN on both; -0 * 1 + 0 is +0 on both."""
    x = randn(rng, (N, 3, 5))
    x[0, 0, :2] = [-0.0, 0.0]
    power = np.array([0.5, 2.0, 1.0], np.float32)
    with np.errstate(invalid="ignore"):
        compare_gpu_cpu(lambda net, t: net.add_scale(t["x"], M.CHANNEL, np.zeros(3, np.float32), None, power).output(0), {"x": x},
                        rtol=2e-6, atol=0, passes_off=("remove_noops",))


# ---- Cast ------------------------------------------------------------------------------------------------------

CAST_NP = {gie.float32: np.float32, gie.float16: np.float16, gie.int8: np.int8, gie.int32: np.int32, gie.bool_: np.bool_}
CAST_TYPES = list(CAST_NP)


def cast_source(rng, shape, src):
    n = int(np.prod(shape))
    if src in (gie.float32, gie.float16):
        v = rng.uniform(-300, 300, n)
        v[: n // 4] = rng.uniform(-1.5, 1.5, n // 4)
        specials = [0.0, -0.0, 0.5, -0.5, 127.5, -128.7, 127.9, -128.9, 300.7, -300.7, np.nan, np.inf, -np.inf,
                    65504.0, 65519.99, 65520.0, 6e-8, 3e-8, 2.9e-8, 1e-10, -2.5, 1 + 2**-11, 1 + 3 * 2**-11]
        if src == gie.float32:
            specials += [3e9, -3e9, 2147483648.0, -2147483648.0, 2147483520.0, 1e-40, 1e6, -1e6]
        v[: min(n, len(specials))] = specials[: min(n, len(specials))]
        with np.errstate(over="ignore"):
            return v.astype(CAST_NP[src]).reshape(shape)
    if src == gie.bool_:
        return (rng.random(shape) < 0.5)
    if src == gie.int8:
        return rng.integers(-128, 128, shape).astype(np.int8)
    v = rng.integers(-2**31, 2**31, n, dtype=np.int64)
    v[: n // 2] = rng.integers(-300, 300, n // 2)
    specials = [0, 1, -1, 127, -128, 128, -129, 2**31 - 1, -2**31, 16777217, -16777217, 65504, 65520, 100000]
    v[: min(n, len(specials))] = specials[: min(n, len(specials))]
    return v.astype(np.int32).reshape(shape)


@pytest.mark.parametrize("shape", [(7,), (16,), (3, 5, 7), (64, 33)], ids=str)
@pytest.mark.parametrize("dst", CAST_TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("src", CAST_TYPES, ids=lambda t: t.name)
def test_cast(src, dst, shape, rng):
    x = cast_source(rng, (N,) + shape, src)
    compare_gpu_cpu(lambda net, t: net.add_cast(t["x"], dst).output(0), {"x": x}, rtol=0, atol=0)


def test_cast_every_half_value():
    h = np.arange(0, 2**16, dtype=np.uint16).view(np.float16).reshape(16, 4096)
    for dst in CAST_TYPES:
        compare_gpu_cpu(lambda net, t, dst=dst: net.add_cast(t["x"], dst).output(0), {"x": h}, rtol=0, atol=0)


def test_cast_float_to_half_rounding(rng):
    # Round to nearest even around every binade, subnormals, overflow.
    e = rng.integers(-26, 16, 4096)
    m = rng.integers(0, 2**23, 4096)
    x = (np.ldexp(1.0 + m / 2.0**23, e) * rng.choice([-1.0, 1.0], 4096)).astype(np.float32).reshape(8, 512)
    compare_gpu_cpu(lambda net, t: net.add_cast(t["x"], gie.float16).output(0), {"x": x}, rtol=0, atol=0)
