// 8 channels at a time for kernels on channels-last tensors (NHWC with C % 8 == 0, HWC8): one 16-byte access of
// halves or two of floats, as floats (fp16.cuh's 16-byte packs, which hold 4 floats or 8 halves, twice for floats).
// Used by cuda/kernels/reformat.cu and pooling.cu.
#pragma once

#include "fp16.cuh"

namespace gie {
namespace cuda {

//! The 8 elements at p (16-byte aligned) as floats.
template <typename T>
__device__ __forceinline__ void load8(const T* p, float (&v)[8]) {
    if constexpr (sizeof(T) == 2) {
        loadPack(p, v);
    } else {
        float a[4], b[4];
        loadPack(p, a);
        loadPack(p + 4, b);
#pragma unroll
        for (int i = 0; i < 4; ++i) v[i] = a[i], v[i + 4] = b[i];
    }
}

//! Stores 8 floats at p (16-byte aligned), rounded to T (nearest even).
template <typename T>
__device__ __forceinline__ void store8(T* p, const float (&v)[8]) {
    if constexpr (sizeof(T) == 2) {
        storePack(p, v);
    } else {
        const float a[4] = {v[0], v[1], v[2], v[3]}, b[4] = {v[4], v[5], v[6], v[7]};
        storePack(p, a);
        storePack(p + 4, b);
    }
}

}  // namespace cuda
}  // namespace gie
