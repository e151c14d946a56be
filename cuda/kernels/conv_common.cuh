// Shared pieces of the NCHW (linear) convolution kernels (convolution.cu): the shape/epilogue parameters
// every conv kernel receives by value, element loads/stores for FP32 and FP16 storage, cp.async wrappers,
// and the epilogue value.
//
// Conventions (all kernels): input x is N x C x H x W with batch stride xStride (>= C*H*W: the input may
// be a channel slice of a wider tensor), output y is N x K x P x Q with batch stride yStride (the output
// may be a channel slice of a concatenation buffer), the optional residual is shaped like y with batch
// stride rStride. The shapes are those of the call (read from the descriptors at enqueue); inside one image
// every offset fits in 32 bits (checked at configure time for the largest shapes); batch offsets are 64-bit.
// x, y and the residual hold elements of type T (float, or __half for the FP16 path: loaded as half,
// computed in FP32, rounded to half (nearest even) where stored); the kernels are templates on T.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"
#include "float_or_half.cuh"  // loadF / storeF

namespace gie {
namespace cuda {
namespace conv {

//! Shape and epilogue of one convolution call (by value into every kernel). x, y and ep.residual point to
//! elements of the kernel's T (see the file comment); they keep their FP32 pointer types (as in DeviceEpilogue)
//! and a kernel reads them through inputOf<T>(), outputOf<T>() and residualOf<T>().
struct ConvShape {
    const float* x = nullptr;
    float* y = nullptr;
    DeviceEpilogue ep;          // bias[k] (FP32), residual (rStride, T), activation
    int64_t xStride = 0, yStride = 0, rStride = 0;
    int N = 0;                  // batch of this call
    int C = 0, H = 0, W = 0, K = 0, P = 0, Q = 0, R = 0, S = 0;
    int G = 1, Cg = 0, Kg = 0;  // groups, channels per group
    int sh = 1, sw = 1, pt = 0, pl = 0, dh = 1, dw = 1;
};

template <typename T>
__device__ __forceinline__ const T* inputOf(const ConvShape& s) { return reinterpret_cast<const T*>(s.x); }
template <typename T>
__device__ __forceinline__ T* outputOf(const ConvShape& s) { return reinterpret_cast<T*>(s.y); }
template <typename T>
__device__ __forceinline__ const T* residualOf(const ConvShape& s) { return reinterpret_cast<const T*>(s.ep.residual); }

//! y = act(acc + bias[k] + residual) for output channel k of image n at in-plane offset pq.
template <typename T = float>
__device__ __forceinline__ float epilogueValue(const ConvShape& s, float acc, int n, int k, int pq) {
    if (s.ep.bias) acc += __ldg(s.ep.bias + k);
    if (s.ep.residual)
        acc += loadF(residualOf<T>(s) + static_cast<int64_t>(n) * s.rStride + static_cast<int64_t>(k) * (s.P * s.Q) + pq);
    return applyActCompact(s.ep.act, acc, s.ep.alpha, s.ep.beta);  // (unrolled epilogues: see applyActCompact)
}

// ---- cp.async (sm_80+) --------------------------------------------------------------------------------
__device__ __forceinline__ unsigned smemAddress(const void* p) { return static_cast<unsigned>(__cvta_generic_to_shared(p)); }

//! 4-byte async copy; zero-fills the destination when !valid (src is then not read but must be a valid pointer).
__device__ __forceinline__ void cpAsync4(void* smem, const float* src, bool valid) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smemAddress(smem)), "l"(src), "r"(valid ? 4 : 0)
                 : "memory");
}
//! 16-byte async copy (both addresses 16-byte aligned), bypassing L1; zero-fills when !valid.
__device__ __forceinline__ void cpAsync16(void* smem, const float* src, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smemAddress(smem)), "l"(src), "r"(valid ? 16 : 0)
                 : "memory");
}
__device__ __forceinline__ void cpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cpAsyncWait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

}  // namespace conv
}  // namespace cuda
}  // namespace gie
