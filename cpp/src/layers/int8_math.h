// INT8 quantization arithmetic, defined once for host and device code (docs/int8.md, "Kernels and formats").
//
// Symmetric, per tensor: a tensor whose dynamic range is amax (|max|) has scale s = amax / 127 and holds
// q = clamp(round_half_even(x / s), -128, 127), meaning real = s * q. Weights are quantized the same way per
// output channel (amax = max |w| over the channel). A convolution / fully connected layer accumulates
// sum(xq * wq) + bq exactly in INT32 (bias bq = round_half_even(b / (s_x * s_w[k])), saturated to INT32) and
// requantizes in FP32: y = float(acc) * (s_x * s_w[k]) [+ residual] -> activation -> quantize with the output's
// scale, or stored as FP32 / FP16 when the next layer does not run INT8.
#pragma once

#include <cstdint>

#include "layers/activation_math.h"  // GIE_HD

namespace gie {
namespace int8 {

//! The creator variant of every kernel that computes on quantized tensors (reads and writes INT8 with its scale). The
//! negotiation knows INT8 kernels by it: a kernel of another variant that accepts INT8 only moves bytes.
constexpr const char* kVariant = "int8";

//! The scale of a tensor whose dynamic range (|max|) is amax; 1 for a range that is not positive and finite
//! (never quantized: the negotiation keeps such tensors float).
GIE_HD float scaleOfRange(float amax) { return amax > 0.f && amax < 3.0e38f ? amax / 127.f : 1.f; }

//! round_half_even(v) clamped to [lo, hi]; NaN gives 0 (quantizing NaN has no meaningful answer; this one is
//! reproducible on every device).
GIE_HD int32_t roundClamp(float v, float lo, float hi) {
    if (!(v == v)) return 0;
    v = v < lo ? lo : (v > hi ? hi : v);
#ifdef __CUDA_ARCH__
    return __float2int_rn(v);
#else
    return static_cast<int32_t>(__builtin_rintf(v));  // the default rounding mode: to nearest, ties to even
#endif
}

//! q = clamp(round_half_even(x / s), -128, 127).
GIE_HD int8_t quantize(float x, float scale) { return static_cast<int8_t>(roundClamp(x / scale, -128.f, 127.f)); }

GIE_HD float dequantize(int8_t q, float scale) { return static_cast<float>(q) * scale; }

//! A bias value in accumulator units (s_x * s_w), saturated to the INT32 range.
GIE_HD int32_t quantizeBias(float b, float accScale) { return roundClamp(b / accScale, -2147483520.f, 2147483520.f); }

}  // namespace int8
}  // namespace gie
