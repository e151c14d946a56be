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
    rowBody(x, y, n, t, a, b);
}
GIE_ACT_AVX512 void rowAvx512(const float* x, float* y, int64_t n, ActivationType t, float a, float b) {
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
