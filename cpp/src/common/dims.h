// Helpers over gie::Dims.
#pragma once

#include <string>
#include <vector>

#include "common/error.h"
#include "gie/types.h"

namespace gie {

inline int64_t volume(const Dims& d) {
    int64_t v = 1;
    for (int i = 0; i < d.nbDims; ++i) v *= d.d[i];
    return v;
}

inline bool operator==(const Dims& a, const Dims& b) {
    if (a.nbDims != b.nbDims) return false;
    for (int i = 0; i < a.nbDims; ++i)
        if (a.d[i] != b.d[i]) return false;
    return true;
}
inline bool operator!=(const Dims& a, const Dims& b) { return !(a == b); }

inline std::string toString(const Dims& d) {
    std::string s = "(";
    for (int i = 0; i < d.nbDims; ++i) s += (i ? ", " : "") + std::to_string(d.d[i]);
    if (d.nbDims == 1) s += ",";
    return s + ")";
}

inline Dims dimsFrom(const std::vector<int64_t>& v) {
    GIE_CHECK(v.size() <= static_cast<size_t>(Dims::MAX_DIMS), ErrorCode::kINVALID_ARGUMENT, "a shape has ", v.size(), " dimensions; at most 8 are supported");
    Dims d;
    d.nbDims = static_cast<int32_t>(v.size());
    for (size_t i = 0; i < v.size(); ++i) d.d[i] = v[i];
    return d;
}
inline std::vector<int64_t> toVector(const Dims& d) { return std::vector<int64_t>(d.d, d.d + std::max(0, d.nbDims)); }

//! d seen as outer x d[axis] x inner: the products of the dimensions before and after `axis`.
struct AxisSplit {
    int64_t outer, inner;
};
inline AxisSplit splitAtAxis(const Dims& d, int axis) {
    AxisSplit s{1, 1};
    for (int i = 0; i < axis; ++i) s.outer *= d.d[i];
    for (int i = axis + 1; i < d.nbDims; ++i) s.inner *= d.d[i];
    return s;
}

//! Packed (row-major) strides in elements.
inline Dims packedStrides(const Dims& d) {
    Dims s;
    s.nbDims = d.nbDims;
    int64_t acc = 1;
    for (int i = d.nbDims - 1; i >= 0; --i) {
        s.d[i] = acc;
        acc *= d.d[i];
    }
    return s;
}

inline const char* dataTypeName(DataType t) {
    switch (t) {
        case DataType::kFLOAT: return "float32";
        case DataType::kHALF: return "float16";
        case DataType::kINT8: return "int8";
        case DataType::kINT32: return "int32";
        case DataType::kBOOL: return "bool";
    }
    return "unknown";
}

inline bool validDataType(int32_t t) { return t >= 0 && t <= 4; }

//! Normalizes a possibly negative axis against rank, or fails naming `what`.
inline int normalizeAxis(int64_t axis, int rank, const std::string& what) {
    if (axis < -rank || axis >= rank) fail(ErrorCode::kINVALID_ARGUMENT, what, ": axis ", axis, " is out of range for rank ", rank);
    return static_cast<int>(axis < 0 ? axis + rank : axis);
}

}  // namespace gie
