// FP32 / FP16 storage for the GPU kernels that compute in FP32 whatever they load (the GEMM family and the
// linear-format convolution): which (type, format) combinations they accept, the host side of half weights,
// and the device loads/stores of either element type as float.
// The numerics contract (notes of issue 12, shared with the CPU reference): load half, compute in FP32, round
// to half (nearest even) only where stored; the Op's halfWeightFields() are held as half values, biases in FP32.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "common/format.h"
#include "common/half.h"
#include "gie/plugin.h"

namespace gie {
namespace cuda {

//! supportsFormatCombination of such a kernel: every input and output is LINEAR and of position 0's type,
//! which is kFLOAT or kHALF (all FP32 or all FP16 storage).
inline bool floatOrHalfLinear(int32_t pos, const TensorDesc* inOut) {
    const DataType t = inOut[0].type;
    return (t == DataType::kFLOAT || t == DataType::kHALF) && inOut[pos].type == t && inOut[pos].format == TensorFormat::kLINEAR;
}

//! A HALF HWC8 tensor whose bytes lie exactly as LINEAR ones: 4-D (N, C, 1, 1) with C a multiple of 8 (no channel
//! padding, one pixel per image), e.g. the globally pooled features a fully connected layer reads. A kernel that reads
//! LINEAR rows may accept it as it is, so that no Reformat runs between an HWC8 producer and it.
inline bool hwc8LaidOutAsLinear(const TensorDesc& d) {
    return d.type == DataType::kHALF && d.format == TensorFormat::kHWC8 && d.dims.nbDims == 4 && d.dims.d[1] > 0 &&
           d.dims.d[1] % 8 == 0 && d.dims.d[2] == 1 && d.dims.d[3] == 1 && !isStrided(d);
}

//! FP32 values -> IEEE half bit patterns (nearest even), for uploading as __half.
inline std::vector<uint16_t> toHalfBits(const std::vector<float>& v) {
    std::vector<uint16_t> h(v.size());
    for (size_t i = 0; i < v.size(); ++i) h[i] = floatToHalf(v[i]);
    return h;
}

//! Rounds FP32 values to the nearest half value, kept as FP32 (weights packed in FP32 layouts for FP16 storage).
inline void roundToHalfValues(std::vector<float>& v) {
    for (float& x : v) x = halfToFloat(floatToHalf(x));
}

// ---- device side: element loads and stores (FP32 for float, widened / rounded for __half) ----------------
__device__ __forceinline__ float loadF(const float* p) { return __ldg(p); }
__device__ __forceinline__ float loadF(const __half* p) { return __half2float(__ldg(p)); }
//! Four consecutive elements (p aligned to 4 elements: one 16-byte or 8-byte load).
__device__ __forceinline__ float4 load4F(const float* p) { return __ldg(reinterpret_cast<const float4*>(p)); }
__device__ __forceinline__ float4 load4F(const __half* p) {
    const uint2 raw = __ldg(reinterpret_cast<const uint2*>(p));
    const float2 lo = __half22float2(*reinterpret_cast<const __half2*>(&raw.x));
    const float2 hi = __half22float2(*reinterpret_cast<const __half2*>(&raw.y));
    return make_float4(lo.x, lo.y, hi.x, hi.y);
}
//! Stores v as the element type (half: rounded to nearest even).
__device__ __forceinline__ void storeF(float* p, float v) { *p = v; }
__device__ __forceinline__ void storeF(__half* p, float v) { *p = __float2half_rn(v); }
//! Four consecutive elements (p aligned to 4 elements).
__device__ __forceinline__ void store4F(float* p, float4 v) { *reinterpret_cast<float4*>(p) = v; }
__device__ __forceinline__ void store4F(__half* p, float4 v) {
    const __half2 lo = __floats2half2_rn(v.x, v.y), hi = __floats2half2_rn(v.z, v.w);
    uint2 raw;
    raw.x = *reinterpret_cast<const unsigned*>(&lo);
    raw.y = *reinterpret_cast<const unsigned*>(&hi);
    *reinterpret_cast<uint2*>(p) = raw;
}

}  // namespace cuda
}  // namespace gie
