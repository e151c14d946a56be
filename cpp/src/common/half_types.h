// The FP16 type rule, defined once for every depth that applies it: the ops' own type rules (ElementWise, Unary:
// layers/*.h), the CPU FP16-storage wrapper (plugin/half_storage_cpu.h: outputTypesHalfAsFloat) and the GPU
// kernels with FP16 paths (cuda/fp16.cuh), and the builder's negotiation (floatClass).
#pragma once

#include <vector>

#include "gie/types.h"

namespace gie {

//! FLOAT and HALF are one class: the builder chooses per tensor which of the two stores it.
inline bool floatClass(DataType t) { return t == DataType::kFLOAT || t == DataType::kHALF; }

//! Output types under FP16 storage of a type rule written for FLOAT: `rules(in, out)` runs with HALF inputs read as
//! FLOAT, and its FLOAT outputs become HALF when the float inputs were all HALF (a HALF and a FLOAT input give FLOAT,
//! the wider). Throws what `rules` throws.
template <typename Rules>
void halfAsFloatTypes(const std::vector<DataType>& given, std::vector<DataType>& out, Rules&& rules) {
    std::vector<DataType> in = given;
    bool half = false, single = false;
    for (DataType& t : in) {
        if (t == DataType::kHALF) {
            half = true;
            t = DataType::kFLOAT;
        } else if (t == DataType::kFLOAT) {
            single = true;
        }
    }
    rules(static_cast<const std::vector<DataType>&>(in), out);
    if (half && !single)
        for (DataType& t : out)
            if (t == DataType::kFLOAT) t = DataType::kHALF;
}

}  // namespace gie
