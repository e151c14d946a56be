// The formula of every activation (gie::ActivationType), defined once for host and device code. Every kernel
// that applies an activation calls these: the CPU Activation kernel and the CPU convolution / GEMM /
// deconvolution epilogues (all through kernels/activation_cpu.cpp, which compiles them once per ISA), and on
// the GPU the Activation kernel, the fused epilogues and the deconvolution (through cuda/common.cuh).
// Because the unfused and the fused CPU paths run the same compiled row function, fusing an activation into
// a convolution or a fully connected layer changes no bit of the result.
//
// The transcendental parts are branch-free float polynomials rather than libm calls, so that GCC vectorises
// the CPU rows for AVX2 / AVX-512 and device code needs no libm: exp is Cephes' expf (about 1 ulp), expm1 adds
// a Taylor branch near 0, erfc is Numerical Recipes' erfcc (relative error < 1.2e-7 where exact arithmetic is
// used). tanh, sigmoid, softplus, the GELUs and Mish are written through them so that none loses relative
// accuracy to cancellation; tests/test_activations.py states the tolerances against float64.
// NaN inputs give NaN except where a clamp or a comparison picks a constant (ReLU, clip, hard sigmoid, ...).
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "gie/network.h"

#ifdef __CUDACC__
#define GIE_HD __host__ __device__ __forceinline__
#else
#define GIE_HD inline __attribute__((always_inline))
#endif

namespace gie {

//! "No activation" where a kernel field or an epilogue holds an ActivationType (the fields store -1).
constexpr ActivationType kNoActivation = static_cast<ActivationType>(-1);

//! Every ActivationType in enum order: X(name) per value (switches and per-type tables are generated from it).
#define GIE_ACTIVATION_TYPES(X)                                                                               \
    X(kRELU) X(kSIGMOID) X(kTANH) X(kLEAKY_RELU) X(kELU) X(kSELU) X(kSOFTSIGN) X(kSOFTPLUS) X(kCLIP)          \
    X(kHARD_SIGMOID) X(kSCALED_TANH) X(kTHRESHOLDED_RELU) X(kGELU) X(kGELU_TANH) X(kHARD_SWISH) X(kMISH) X(kSILU) \
    X(kRELU6)

namespace detail {
#define GIE_ACT_COUNT_(name) +1
constexpr int kActivationCount = 0 GIE_ACTIVATION_TYPES(GIE_ACT_COUNT_);
#undef GIE_ACT_COUNT_
#define GIE_ACT_ORDER_(name) && static_cast<int>(ActivationType::name) == (i++)
constexpr bool activationListInOrder() {
    int i = 0;
    return true GIE_ACTIVATION_TYPES(GIE_ACT_ORDER_);
}
#undef GIE_ACT_ORDER_
static_assert(kActivationCount == static_cast<int>(ActivationType::kRELU6) + 1 && activationListInOrder(),
              "GIE_ACTIVATION_TYPES lists every ActivationType in enum order");
}  // namespace detail

//! Whether `v` (a kernel field) is an ActivationType.
GIE_HD constexpr bool isActivationType(int64_t v) { return v >= 0 && v < detail::kActivationCount; }

namespace actmath {

// max / min with the operand order of x86 MAXPS / MINPS (the CPU GEMM applies ReLU and clip with them in
// registers): the second operand is returned when the comparison is false, NaN included.
GIE_HD float maxf(float x, float y) { return x > y ? x : y; }
GIE_HD float minf(float x, float y) { return x < y ? x : y; }
GIE_HD float absf(float x) { return x < 0.f ? -x : x; }

//! a * b + c rounded once. The CPU rows use it explicitly (their file is compiled without contraction): it is one
//! instruction in the AVX2 / AVX-512 rows and an exact libm fmaf in the scalar one, so every ISA gets the same bits.
GIE_HD float fma(float a, float b, float c) {
#ifdef __CUDA_ARCH__
    return __fmaf_rn(a, b, c);
#else
    return __builtin_fmaf(a, b, c);
#endif
}

//! e^x, about 1 ulp for x in [-87.3, 88.3]; below that 0, above +inf (so x / (1 + e^-x) is -0 for a huge negative
//! x, not x / FLT_MAX); NaN stays NaN. Results never are denormal floats.
//! Branch-free and select-free up to the last multiply: the CPU rows vectorise it as one straight sequence (a select
//! in the middle makes GCC compute both arms, one of them with denormals, which the FPU handles slowly).
GIE_HD float exp(float x) {
    float xc = x < -87.3f ? -87.3f : x;  // written so that NaN passes through
    xc = xc > 88.3f ? 88.3f : xc;
    // Round x / ln2 to the nearest integer n with the 1.5 * 2^23 trick: the low bits of t hold n (two's
    // complement), so 2^n is built from them without a float-to-int conversion (none of NaN; y carries the NaN).
    const float t = fma(xc, 1.44269504089f, 12582912.f);
    const float fn = t - 12582912.f;  // n in [-126, 127]
    const float r0 = fma(fn, -0.693359375f, xc);  // ln2 split in two for an exact first step (Cephes)
    const float r = fma(fn, 2.12194440e-4f, r0);
    float p = 1.9875691500e-4f;
    p = fma(p, r, 1.3981999507e-3f);
    p = fma(p, r, 8.3334519073e-3f);
    p = fma(p, r, 4.1665795894e-2f);
    p = fma(p, r, 1.6666665459e-1f);
    p = fma(p, r, 5.0000001201e-1f);
    const float y = fma(p * r, r, r) + 1.f;
    uint32_t tb;
    std::memcpy(&tb, &t, 4);
    const uint32_t sb = (tb - 0x4B400000u + 127u) << 23;  // 0x4B400000: the bits of 12582912
    float s;
    std::memcpy(&s, &sb, 4);
    const float e = y * s;
    // The out-of-range results as a factor (e is finite and > 0: e * inf = inf, e * 0 = 0, e * 1 = e), not as a
    // select of constants: GCC pushes the caller's operations (sigmoid's 1 / (1 + e)) into the arms of such a
    // select and computes each arm with its own division.
    const float big = x > 88.3f ? std::numeric_limits<float>::infinity() : 1.f;
    return e * (x < -87.3f ? 0.f : big);
}

//! e^x - 1 without cancellation near 0 (Taylor series to x^8 on |x| < 0.35, exp(x) - 1 elsewhere).
GIE_HD float expm1(float x) {
    float p = 2.4801587302e-5f;  // 1/8!
    p = fma(p, x, 1.9841269841e-4f);
    p = fma(p, x, 1.3888888889e-3f);
    p = fma(p, x, 8.3333333333e-3f);
    p = fma(p, x, 4.1666666667e-2f);
    p = fma(p, x, 1.6666666667e-1f);
    p = fma(p, x, 0.5f);
    const float small = fma(x * x, p, x);
    const float large = exp(x) - 1.f;
    return (x > -0.35f && x < 0.35f) ? small : large;
}

//! log(1 + u) for u in [0, 1]: 2 atanh(u / (2 + u)) as a series in s = u / (2 + u) <= 1/3.
GIE_HD float log1pUnit(float u) {
    const float s = u / (2.f + u), s2 = s * s;
    float p = 1.f / 15.f;
    p = fma(p, s2, 1.f / 13.f);
    p = fma(p, s2, 1.f / 11.f);
    p = fma(p, s2, 1.f / 9.f);
    p = fma(p, s2, 1.f / 7.f);
    p = fma(p, s2, 1.f / 5.f);
    p = fma(p, s2, 1.f / 3.f);
    p = fma(p, s2, 1.f);
    return 2.f * s * p;
}

//! erfc(z) for z >= 0 (Numerical Recipes erfcc: relative error < 1.2e-7 in exact arithmetic).
GIE_HD float erfcNonNeg(float z) {
    const float t = 1.f / (1.f + 0.5f * z);
    float p = 0.17087277f;
    p = fma(p, t, -0.82215223f);
    p = fma(p, t, 1.48851587f);
    p = fma(p, t, -1.13520398f);
    p = fma(p, t, 0.27886807f);
    p = fma(p, t, -0.18628806f);
    p = fma(p, t, 0.09678418f);
    p = fma(p, t, 0.37409196f);
    p = fma(p, t, 1.00002368f);
    p = fma(p, t, -1.26551223f);
    return t * exp(p - z * z);
}

GIE_HD float sigmoid(float x) { return 1.f / (1.f + exp(-x)); }

GIE_HD float tanh(float x) {  // -expm1(-2|x|) / (2 + expm1(-2|x|)), the sign restored
    const float e = expm1(-2.f * absf(x));
    const float t = -e / (2.f + e);
    return x < 0.f ? -t : t;
}

GIE_HD float softplus(float x) { return maxf(x, 0.f) + log1pUnit(exp(-absf(x))); }

}  // namespace actmath

//! The activation T of x, alpha = a, beta = b (the field meanings of docs/layers_core.md).
template <ActivationType T>
GIE_HD float activation(float x, float a, float b) {
    using A = ActivationType;
    namespace m = actmath;
    if constexpr (T == A::kRELU) return x > 0.f ? x : 0.f;
    else if constexpr (T == A::kSIGMOID) return m::sigmoid(x);
    else if constexpr (T == A::kTANH) return m::tanh(x);
    else if constexpr (T == A::kLEAKY_RELU) return x >= 0.f ? x : a * x;
    else if constexpr (T == A::kELU) return x > 0.f ? x : a * m::expm1(x);
    else if constexpr (T == A::kSELU) return b * (x > 0.f ? x : a * m::expm1(x));
    else if constexpr (T == A::kSOFTSIGN) return x / (1.f + m::absf(x));
    else if constexpr (T == A::kSOFTPLUS) return m::softplus(x);
    else if constexpr (T == A::kCLIP) return m::minf(m::maxf(x, a), b);
    else if constexpr (T == A::kHARD_SIGMOID) {
        // max(min(v, 1), 0) with NaN clamped to 1 (the comparison order of minf/maxf), written out: nvcc turned
        // the min/max form into a saturating instruction, which maps NaN to 0 on the GPU only.
        const float v = a * x + b;
        return v < 1.f ? (v > 0.f ? v : 0.f) : 1.f;
    }
    else if constexpr (T == A::kSCALED_TANH) return a * m::tanh(b * x);
    else if constexpr (T == A::kTHRESHOLDED_RELU) return x > a ? x : 0.f;
    else if constexpr (T == A::kGELU) {  // x Phi(x) = x (1 - erfc(x / sqrt2) / 2), erfc taken on |x| (no cancellation)
        const float q = 0.5f * m::erfcNonNeg(m::absf(x) * 0.70710678118654752f);
        return x * (x >= 0.f ? 1.f - q : q);
    } else if constexpr (T == A::kGELU_TANH) {  // 0.5 x (1 + tanh(u)) = x sigmoid(2u)
        const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
        return x / (1.f + m::exp(-2.f * u));
    } else if constexpr (T == A::kHARD_SWISH) return x * m::minf(m::maxf(x + 3.f, 0.f), 6.f) * (1.f / 6.f);
    else if constexpr (T == A::kMISH) {  // tanh(softplus x) = n / (n + 2), n = e^x (e^x + 2)
        const float e = m::exp(x > 20.f ? 20.f : x);
        const float n = e * (e + 2.f);
        return x * (n / (n + 2.f));
    } else if constexpr (T == A::kSILU) return x / (1.f + m::exp(-x));
    else if constexpr (T == A::kRELU6) return m::minf(m::maxf(x, 0.f), 6.f);
    else return x;
}

//! The activation t of x (kNoActivation or a value outside the enum: x).
GIE_HD float activation(ActivationType t, float x, float a, float b) {
    switch (t) {
#define GIE_ACT_CASE_(name) \
    case ActivationType::name: return activation<ActivationType::name>(x, a, b);
        GIE_ACTIVATION_TYPES(GIE_ACT_CASE_)
#undef GIE_ACT_CASE_
        default: return x;
    }
}

}  // namespace gie
