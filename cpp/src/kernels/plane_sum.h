// Sum of a plane of floats in 16 independent partial sums of type Acc (float: pooling's global average; double:
// SqueezeExcitation's means). A single running sum is one dependent add per element (4 cycles each); the lanes
// vectorise without reassociation, so every ISA gives the same bits.
#pragma once

#include <cstdint>

namespace gie::cpu {

template <class Acc>
inline Acc planeSum(const float* x, int64_t n) {
    Acc part[16] = {};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; ++j) part[j] += x[i + j];
    Acc s = 0;
    for (int j = 0; j < 16; ++j) s += part[j];
    for (; i < n; ++i) s += x[i];
    return s;
}

}  // namespace gie::cpu
