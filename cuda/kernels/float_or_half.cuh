// FP32 / FP16 storage for the GPU kernels that compute in FP32 whatever they load (the GEMM family and the
// linear-format convolution): which (type, format) combinations they accept, and the host side of half weights.
// The numerics contract (notes of issue 12, shared with the CPU reference): load half, compute in FP32, round
// to half (nearest even) only where stored; the Op's halfWeightFields() are held as half values, biases in FP32.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>
#include <vector>

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

}  // namespace cuda
}  // namespace gie
