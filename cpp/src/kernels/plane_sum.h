// Sum of a plane of floats in 16 independent partial sums of type Acc (float: pooling's global average; double:
// SqueezeExcitation's means). A single running sum is one dependent add per element (4 cycles each); the lanes
// vectorise without reassociation, so every ISA gives the same bits.
#pragma once

#include <cstdint>

#include "kernels/gemm.h"

namespace gie::cpu {

template <class Acc>
__attribute__((always_inline)) inline Acc planeSumBody(const float* x, int64_t n) {
    Acc part[16] = {};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; ++j) part[j] += x[i + j];
    Acc s = 0;
    for (int j = 0; j < 16; ++j) s += part[j];
    for (; i < n; ++i) s += x[i];
    return s;
}

template <class Acc>
inline Acc planeSumScalar(const float* x, int64_t n) {
    return planeSumBody<Acc>(x, n);
}
#if defined(__x86_64__) || defined(__i386__)
// The library is built without -march: the default instantiation is SSE2, two double lanes per register, which
// left EfficientNet-B0's largest SqueezeExcitation kernels (144x56x56, 32x112x112: 0.07-0.08 ms each, 1 thread)
// bound by the conversions and adds of the means. No FMA target: there is nothing to contract.
template <class Acc>
__attribute__((target("avx2"))) inline Acc planeSumAvx2(const float* x, int64_t n) {
    return planeSumBody<Acc>(x, n);
}
template <class Acc>
__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2"))) inline Acc planeSumAvx512(const float* x, int64_t n) {
    return planeSumBody<Acc>(x, n);
}
#endif

//! planeSum for the ISA of gemm::activeIsa() (GIE_CPU_ISA): fetch once per kernel call, call per plane.
template <class Acc>
using PlaneSumFn = Acc (*)(const float* x, int64_t n);
template <class Acc>
inline PlaneSumFn<Acc> planeSumFn() {
#if defined(__x86_64__) || defined(__i386__)
    const gemm::Isa isa = gemm::activeIsa();
    if (isa == gemm::Isa::kAvx512) return planeSumAvx512<Acc>;
    if (isa == gemm::Isa::kAvx2) return planeSumAvx2<Acc>;
#endif
    return planeSumScalar<Acc>;
}

}  // namespace gie::cpu
