// The CPU Activation kernel and the activation row function of every CPU epilogue (gemm.h activationRowFn).
//
// One row function per ISA (scalar, AVX2, AVX-512), each the formulas of layers/activation_math.h in a plain
// loop that GCC vectorises (-fno-trapping-math lets it if-convert the selects). This file is compiled with
// -ffp-contract=off (CMakeLists.txt): with contraction,
// the AVX2/AVX-512 bodies would fuse a * b + c into FMAs where the scalar tail or another ISA does not, and the
// same input would round differently depending on where it sits in a row. Without it every path does the same
// IEEE operations in the same order, so the Activation kernel, the GEMM / convolution / deconvolution epilogues
// and the ISAs all agree bit for bit. The formulas' explicit FMAs (actmath::fma) do not break this: they are one
// rounding everywhere (an FMA instruction in the AVX2 / AVX-512 rows, an exact libm fmaf call in the scalar one).
#include <algorithm>
#include <cstring>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "common/parallel.h"
#include "kernels/gemm.h"
#include "layers/activation_math.h"
#include "layers/simple.h"

#if defined(__x86_64__) || defined(__i386__)
#define GIE_ACT_X86 1
#define GIE_ACT_AVX2 __attribute__((target("avx2,fma")))
#define GIE_ACT_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma,prefer-vector-width=512")))
#else
#define GIE_ACT_X86 0
#endif
#define GIE_ACT_INLINE __attribute__((always_inline)) inline

namespace gie {
namespace cpu::gemm {
namespace {

template <ActivationType T>
GIE_ACT_INLINE void rowDistinct(const float* __restrict x, float* __restrict y, int64_t n, float a, float b) {
    for (int64_t i = 0; i < n; ++i) y[i] = activation<T>(x[i], a, b);
}
template <ActivationType T>
GIE_ACT_INLINE void rowInPlace(float* p, int64_t n, float a, float b) {
    for (int64_t i = 0; i < n; ++i) p[i] = activation<T>(p[i], a, b);
}

#if GIE_ACT_X86
// SiLU rows written with intrinsics: activation<kSILU>'s operations one for one, so the same bits (the scalar
// rows run the formula itself; tests/test_cpu_fast_paths.py compares the ISAs over the whole float range). GCC
// if-converts the clamps and the out-of-range factor of actmath::exp into four compares, two blends and mask
// moves per vector (vmaxps / vminps are not IEEE ternaries for it), a third of the row's instructions: 0.38 ->
// 0.2x ns per element on Zen 4. The factor is replaced by its effect on SiLU: above x = 87.3 e^-x is clamped to
// e^-87.3 instead of 0, and 1 + e^-87.3 rounds to 1 as 1 + 0 does; below x = -88.3 e^-x is inf and x / inf is
// x * 0 (-0, NaN for -inf).
#define GIE_SILU_CONSTANTS_                                                                                    \
    constexpr float kLo = -87.3f, kHi = 88.3f, kLog2e = 1.44269504089f, kRound = 12582912.f;                   \
    constexpr float kLn2Hi = -0.693359375f, kLn2Lo = 2.12194440e-4f;                                           \
    constexpr float kP0 = 1.9875691500e-4f, kP1 = 1.3981999507e-3f, kP2 = 8.3334519073e-3f,                    \
                    kP3 = 4.1665795894e-2f, kP4 = 1.6666665459e-1f, kP5 = 5.0000001201e-1f;
// U vectors at a time, each step written for all U before the next (lock-step): one vector per loop iteration left
// the row bound by its ~70-cycle dependency chain (the scheduler holds only a few iterations), and GCC keeps
// separate calls in program order. Same operations per element, so the same bits. AVX2 on Zen 3, an 8192-float
// row in L1: 0.575 -> 0.460 ns per element with U = 4.
#define GIE_SILU_STEP_(expr) _Pragma("GCC unroll 4") for (int u = 0; u < U; ++u) expr;
// The steps both ISAs share, W = 512 or 256 (the intrinsics' width); each ISA's siluVecs below adds its own two:
// y * 2^n (AVX-512's scalef; AVX2 multiplies by the power of two built from t's bits: the same rounding, exact
// scaling, one rounding where the product is denormal) and the x < -88.3 tail (x * 0).
#define GIE_SILU_EXP_STEPS_(W)                                                                                  \
    /* actmath::exp(-x): the clamps (max(lo, n) / min(hi, .) return n when it is NaN, as the ternaries do). */ \
    GIE_SILU_STEP_(xc[u] = _mm##W##_min_ps(_mm##W##_set1_ps(kHi),                                               \
                                           _mm##W##_max_ps(_mm##W##_set1_ps(kLo),                               \
                                                           _mm##W##_xor_ps(x[u], _mm##W##_set1_ps(-0.f)))))     \
    GIE_SILU_STEP_(t[u] = _mm##W##_fmadd_ps(xc[u], _mm##W##_set1_ps(kLog2e), _mm##W##_set1_ps(kRound)))         \
    GIE_SILU_STEP_(fn[u] = _mm##W##_sub_ps(t[u], _mm##W##_set1_ps(kRound)))                                     \
    GIE_SILU_STEP_(r[u] = _mm##W##_fmadd_ps(fn[u], _mm##W##_set1_ps(kLn2Hi), xc[u]))                            \
    GIE_SILU_STEP_(r[u] = _mm##W##_fmadd_ps(fn[u], _mm##W##_set1_ps(kLn2Lo), r[u]))                             \
    GIE_SILU_STEP_(p[u] = _mm##W##_fmadd_ps(_mm##W##_set1_ps(kP0), r[u], _mm##W##_set1_ps(kP1)))                \
    GIE_SILU_STEP_(p[u] = _mm##W##_fmadd_ps(p[u], r[u], _mm##W##_set1_ps(kP2)))                                 \
    GIE_SILU_STEP_(p[u] = _mm##W##_fmadd_ps(p[u], r[u], _mm##W##_set1_ps(kP3)))                                 \
    GIE_SILU_STEP_(p[u] = _mm##W##_fmadd_ps(p[u], r[u], _mm##W##_set1_ps(kP4)))                                 \
    GIE_SILU_STEP_(p[u] = _mm##W##_fmadd_ps(p[u], r[u], _mm##W##_set1_ps(kP5)))                                 \
    GIE_SILU_STEP_(e[u] = _mm##W##_add_ps(_mm##W##_fmadd_ps(_mm##W##_mul_ps(p[u], r[u]), r[u], r[u]),          \
                                          _mm##W##_set1_ps(1.f)))
template <int U>
GIE_ACT_AVX512 GIE_ACT_INLINE void siluVecs(__m512 (&x)[U]) {
    GIE_SILU_CONSTANTS_
    __m512 xc[U], t[U], fn[U], r[U], p[U], e[U];
    GIE_SILU_EXP_STEPS_(512)
    GIE_SILU_STEP_(e[u] = _mm512_scalef_ps(e[u], fn[u]))
    GIE_SILU_STEP_(e[u] = _mm512_div_ps(x[u], _mm512_add_ps(_mm512_set1_ps(1.f), e[u])))
    GIE_SILU_STEP_(x[u] = _mm512_mask_mul_ps(e[u], _mm512_cmp_ps_mask(x[u], _mm512_set1_ps(-kHi), _CMP_LT_OQ), x[u],
                                             _mm512_setzero_ps()))
}
template <int U>
GIE_ACT_AVX2 GIE_ACT_INLINE void siluVecs(__m256 (&x)[U]) {
    GIE_SILU_CONSTANTS_
    __m256 xc[U], t[U], fn[U], r[U], p[U], e[U];
    GIE_SILU_EXP_STEPS_(256)
    GIE_SILU_STEP_(e[u] = _mm256_mul_ps(e[u], _mm256_castsi256_ps(_mm256_slli_epi32(
                       _mm256_add_epi32(_mm256_castps_si256(t[u]),
                                        _mm256_set1_epi32(static_cast<int>(127u - 0x4B400000u))), 23))))
    GIE_SILU_STEP_(e[u] = _mm256_div_ps(x[u], _mm256_add_ps(_mm256_set1_ps(1.f), e[u])))
    GIE_SILU_STEP_(x[u] = _mm256_blendv_ps(e[u], _mm256_mul_ps(x[u], _mm256_setzero_ps()),
                                           _mm256_cmp_ps(x[u], _mm256_set1_ps(-kHi), _CMP_LT_OQ)))
}
GIE_ACT_AVX512 void siluRowAvx512(const float* x, float* y, int64_t n) {
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512 v[4];
        for (int u = 0; u < 4; ++u) v[u] = _mm512_loadu_ps(x + i + 16 * u);
        siluVecs(v);
        for (int u = 0; u < 4; ++u) _mm512_storeu_ps(y + i + 16 * u, v[u]);
    }
    for (; i + 16 <= n; i += 16) {
        __m512 v[1] = {_mm512_loadu_ps(x + i)};
        siluVecs(v);
        _mm512_storeu_ps(y + i, v[0]);
    }
    if (i < n) {
        const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
        __m512 v[1] = {_mm512_maskz_loadu_ps(m, x + i)};
        siluVecs(v);
        _mm512_mask_storeu_ps(y + i, m, v[0]);
    }
}
GIE_ACT_AVX2 void siluRowAvx2(const float* x, float* y, int64_t n) {
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 v[4];
        for (int u = 0; u < 4; ++u) v[u] = _mm256_loadu_ps(x + i + 8 * u);
        siluVecs(v);
        for (int u = 0; u < 4; ++u) _mm256_storeu_ps(y + i + 8 * u, v[u]);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 v[1] = {_mm256_loadu_ps(x + i)};
        siluVecs(v);
        _mm256_storeu_ps(y + i, v[0]);
    }
    for (; i < n; ++i) y[i] = activation<ActivationType::kSILU>(x[i], 0.f, 0.f);
}
#undef GIE_SILU_EXP_STEPS_
#undef GIE_SILU_STEP_
#undef GIE_SILU_CONSTANTS_
#endif

// Force-inlined into the per-ISA wrappers below (a default-target callee may be inlined into a wider target).
GIE_ACT_INLINE void rowBody(const float* x, float* y, int64_t n, ActivationType t, float a, float b) {
    switch (t) {
#define GIE_ROW_CASE_(name)                                                  \
    case ActivationType::name:                                               \
        if (x == y) rowInPlace<ActivationType::name>(y, n, a, b);            \
        else rowDistinct<ActivationType::name>(x, y, n, a, b);               \
        return;
        GIE_ACTIVATION_TYPES(GIE_ROW_CASE_)
#undef GIE_ROW_CASE_
        default:  // kNoActivation
            if (x != y) std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float));
            return;
    }
}

void rowScalar(const float* x, float* y, int64_t n, ActivationType t, float a, float b) { rowBody(x, y, n, t, a, b); }
#if GIE_ACT_X86
GIE_ACT_AVX2 void rowAvx2(const float* x, float* y, int64_t n, ActivationType t, float a, float b) {
    if (t == ActivationType::kSILU) return siluRowAvx2(x, y, n);
    rowBody(x, y, n, t, a, b);
}
GIE_ACT_AVX512 void rowAvx512(const float* x, float* y, int64_t n, ActivationType t, float a, float b) {
    if (t == ActivationType::kSILU) return siluRowAvx512(x, y, n);
    rowBody(x, y, n, t, a, b);
}
#endif

}  // namespace

ActivationRowFn activationRowFn(Isa isa) {
#if GIE_ACT_X86
    if (isa == Isa::kAvx512) return rowAvx512;
    if (isa == Isa::kAvx2) return rowAvx2;
#endif
    (void)isa;
    return rowScalar;
}

void activateRow(float* p, int64_t n, ActivationType act, float alpha, float beta) {
    activationRowFn(activeIsa())(p, p, n, act, alpha, beta);
}

}  // namespace cpu::gemm

namespace {

class ActivationCpu final : public Kernel<ActivationCpu, ActivationOp> {
public:
    using Kernel::Kernel;
    bool supportsStridedOutput() const noexcept override { return true; }
    void run(const KernelCall& c) const override {
        const Dims& d = c.inDims(0);
        if (d.nbDims > 0 && c.outDesc[0].strides.d[0] != packedStrides(d).d[0]) {
            // Writing into a slice of a concatenation: one packed run per batch item.
            int64_t item = volume(d) / std::max<int64_t>(d.d[0], 1);
            for (int64_t b = 0; b < d.d[0]; ++b) apply(c.in(0) + b * item, c.out(0) + b * c.outDesc[0].strides.d[0], item);
            return;
        }
        apply(c.in(0), c.out(0), volume(d));
    }

private:
    void apply(const float* x, float* y, int64_t n) const {
        const int64_t chunk = 16384;
        const int64_t nChunks = (n + chunk - 1) / chunk;
        const cpu::gemm::ActivationRowFn row = cpu::gemm::activationRowFn(cpu::gemm::activeIsa());
        parallelFor(nChunks, n * 8, [&](int64_t ci) {
            const int64_t begin = ci * chunk, end = std::min(n, begin + chunk);
            row(x + begin, y + begin, end - begin, op_.type, op_.alpha, op_.beta);
        });
    }
};
GIE_REGISTER_KERNEL(ActivationCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
