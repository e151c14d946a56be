"""Independent numpy reference of gie's INT8 arithmetic (docs/int8.md, "Kernels and formats"): symmetric per-tensor
scales amax / 127, per-output-channel weight scales, round half to even with saturation, INT32 (here int64, exact)
accumulation, and the FP32 requantization epilogue. Shared by the tests/test_int8_*.py files."""
import numpy as np

F32 = np.float32


def scale_of(amax):
    return F32(amax) / F32(127)


def quantize(x, scale):
    """q = clamp(round_half_even(x / scale), -128, 127) in float32 arithmetic; NaN -> 0."""
    v = np.asarray(x, F32) / F32(scale)
    v = np.where(np.isnan(v), F32(0), v)
    return np.clip(np.rint(v), -128, 127).astype(np.int8)


def dequantize(q, scale):
    return q.astype(F32) * F32(scale)


def quantize_weights(w):
    """Per output channel (axis 0): (q int8, scale float32[K]); scale 1 for an all-zero channel."""
    k = w.shape[0]
    amax = np.abs(w.reshape(k, -1)).max(axis=1).astype(F32)
    s = np.where(amax > 0, amax / F32(127), F32(1)).astype(F32)
    v = np.asarray(w, F32) / s.reshape((k,) + (1,) * (w.ndim - 1))
    return np.clip(np.rint(v), -128, 127).astype(np.int8), s


def quantize_bias(b, mult):
    v = np.asarray(b, F32) / mult
    return np.clip(np.rint(v), -2147483520.0, 2147483520.0).astype(np.int64)


def conv_acc(xq, wq, stride=(1, 1), pre=(0, 0), post=None, dilation=(1, 1), groups=1):
    """Exact integer convolution (cross-correlation) of int8 arrays: int64 (N, K, P, Q)."""
    post = pre if post is None else post
    x = np.pad(xq.astype(np.int64), ((0, 0), (0, 0), (pre[0], post[0]), (pre[1], post[1])))
    N, C, H, W = x.shape
    K, Cg, R, S = wq.shape
    P = (H - dilation[0] * (R - 1) - 1) // stride[0] + 1
    Q = (W - dilation[1] * (S - 1) - 1) // stride[1] + 1
    out = np.zeros((N, K, P, Q), np.int64)
    Kg = K // groups
    w = wq.astype(np.int64)
    for g in range(groups):
        xg = x[:, g * Cg:(g + 1) * Cg]
        for r in range(R):
            for s in range(S):
                h0, w0 = r * dilation[0], s * dilation[1]
                patch = xg[:, :, h0:h0 + stride[0] * (P - 1) + 1:stride[0], w0:w0 + stride[1] * (Q - 1) + 1:stride[1]]
                out[:, g * Kg:(g + 1) * Kg] += np.einsum("nchw,kc->nkhw", patch, w[g * Kg:(g + 1) * Kg, :, r, s])
    return out


def epilogue(acc, mult, channel_axis, residual=None, act=None):
    """y = float32(acc) * mult[k] [+ residual] -> act, all in float32 (the order the kernels use)."""
    shape = [1] * acc.ndim
    shape[channel_axis] = -1
    y = acc.astype(F32) * np.asarray(mult, F32).reshape(shape)
    if residual is not None:
        y = (y + np.asarray(residual, F32)).astype(F32)
    if act == "relu":
        y = np.maximum(y, F32(0))
    return y.astype(F32)


def assert_within_one_unit(got_q, ref_q, min_exact=0.97, what="output"):
    """Quantized results: every element within one unit; nearly all equal (float ties may round differently)."""
    got_q = np.asarray(got_q, np.int64)
    ref_q = np.asarray(ref_q, np.int64)
    assert got_q.shape == ref_q.shape
    diff = np.abs(got_q - ref_q)
    assert diff.max(initial=0) <= 1, f"{what}: {int((diff > 1).sum())} elements off by more than one unit; first at {np.argwhere(diff > 1)[0]}"
    assert (diff == 0).mean() >= min_exact, f"{what}: only {(diff == 0).mean():.3f} of the elements are exact"
