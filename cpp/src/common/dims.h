// Helpers over gie::Dims.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "common/error.h"
#include "gie/types.h"

namespace gie {

//! Number of elements. Only for shapes already known to be within kMaxElements (checkedVolume otherwise).
inline int64_t volume(const Dims& d) {
    int64_t v = 1;
    for (int i = 0; i < d.nbDims; ++i) v *= d.d[i];
    return v;
}

// ---- overflow-checked size arithmetic ----------------------------------------------------------------
// Every shape gie accepts (network definition, shape rules, engine files) stays within kMaxElements, so that
// the products, sums, strides and byte sizes computed from it afterwards cannot overflow int64. Values that
// enter shape arithmetic from fields (paddings, strides, kernel sizes, reshape targets) are bounded alike.

//! The most elements a tensor may have (2^40: 4 TiB of float32, beyond any device's memory).
constexpr int64_t kMaxElements = int64_t{1} << 40;

//! a * b and a + b, failing with `code` and a message naming `what...` when the result overflows int64.
template <typename... A>
int64_t checkedMul(int64_t a, int64_t b, ErrorCode code, const A&... what) {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) fail(code, what..., ": ", a, " * ", b, " overflows 64-bit integers");
    return r;
}
template <typename... A>
int64_t checkedAdd(int64_t a, int64_t b, ErrorCode code, const A&... what) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) fail(code, what..., ": ", a, " + ", b, " overflows 64-bit integers");
    return r;
}

//! Elements of `d`, or -1 when a dimension is negative or the shape exceeds kMaxElements. Size-0 dimensions
//! count as 1 for the bound: the other dimensions still multiply into strides.
inline int64_t boundedVolume(const Dims& d) {
    if (d.nbDims < 0 || d.nbDims > Dims::MAX_DIMS) return -1;
    int64_t bound = 1, v = 1;
    for (int i = 0; i < d.nbDims; ++i) {
        const int64_t f = d.d[i] > 0 ? d.d[i] : 1;
        if (d.d[i] < 0 || f > kMaxElements / bound) return -1;
        bound *= f;
        v *= d.d[i];
    }
    return v;
}

inline std::string toString(const Dims& d);

//! Elements of `d`; fails with `code`, naming `what...`, the shape and its largest dimension, when a
//! dimension is negative or the shape has more than kMaxElements elements.
template <typename... A>
int64_t checkedVolume(const Dims& d, ErrorCode code, const A&... what) {
    int64_t v = boundedVolume(d);
    if (v >= 0) return v;
    int big = 0;
    for (int i = 0; i < std::min(std::max(d.nbDims, 0), Dims::MAX_DIMS); ++i) {
        if (d.d[i] < 0) fail(code, what..., " ", toString(d), ": dimension ", i, " is negative (", d.d[i], ")");
        if (d.d[i] > d.d[big]) big = i;
    }
    fail(code, what..., " ", toString(d), ", more than the 2^40 elements a tensor may have (dimension ", big, " is ", d.d[big], ")");
}

//! A size-like field value (padding, stride, kernel size, a reshape target); fails naming `what...` unless
//! |v| <= kMaxElements.
template <typename... A>
int64_t checkedSizeField(int64_t v, ErrorCode code, const A&... what) {
    if (v < -kMaxElements || v > kMaxElements) fail(code, what..., " is ", v, "; sizes are limited to 2^40");
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
    for (int i = 0; i < std::min(std::max(d.nbDims, 0), Dims::MAX_DIMS); ++i) s += (i ? ", " : "") + std::to_string(d.d[i]);
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

// ---- views (channel slices) ----------------------------------------------------------------------------
// A view (concat elimination, horizontal fusion) is the channel slice [c0, c0 + view.d[1]) of a parent that has the
// view's dims but for dimension 1. Offsets and strides follow from the view's current dims, so a view stays right
// when run-time shapes change spatial or batch dimensions.

//! Elements per channel of a view or its parent at dims `d` (the product of d[2:]).
inline int64_t viewChannelSize(const Dims& d) {
    int64_t v = 1;
    for (int i = 2; i < d.nbDims; ++i) v *= d.d[i];
    return v;
}
//! Element offset of the slice that starts at channel `c0` within each item (dimension-0 index) of the parent.
inline int64_t viewItemOffset(const Dims& view, int64_t c0) { return c0 * viewChannelSize(view); }
//! The parent's item (dimension-0) stride, which a view uses as its own: parentChannels * d[2:].
inline int64_t viewItemStride(const Dims& view, int64_t parentChannels) { return parentChannels * viewChannelSize(view); }
//! `d` with dimension 1 set to `channels`: a view's parent from the view's shape, or a view from its parent's.
inline Dims withChannels(const Dims& dims, int64_t channels) {
    Dims d = dims;
    if (d.nbDims >= 2) d.d[1] = channels;
    return d;
}


// ---- range views (leading-axis Gather / Slice / Split) -----------------------------------------------------
// A range view (passes/leading_axis_views.cpp) is a contiguous run of rows of a row-major parent: the view and its parent
// end with the same `tail` dimensions (those may follow run-time shapes), the parent seen as (product of its other
// dimensions) x (product of the tail) rows, and the view is rows [row0, row0 + product of its own other dimensions).
// Offsets follow from the current dims, so a view stays right when run-time shapes change its tail.

//! Product of d's dimensions before its last `tail` ones (its rows), or of its last `tail` ones (a row's elements).
inline int64_t rangeViewRows(const Dims& d, int tail) {
    int64_t v = 1;
    for (int i = 0; i < d.nbDims - tail; ++i) v *= d.d[i];
    return v;
}
inline int64_t rangeViewRowSize(const Dims& d, int tail) {
    int64_t v = 1;
    for (int i = std::max(0, d.nbDims - tail); i < d.nbDims; ++i) v *= d.d[i];
    return v;
}
//! Element offset in its parent of a range view that starts at row `row0`, at the view's dims `view`.
inline int64_t rangeViewOffset(const Dims& view, int tail, int64_t row0) { return row0 * rangeViewRowSize(view, tail); }
//! A range view's dims when its parent is `parent`: its planned leading dims, then the parent's last `tail` dims.
inline Dims rangeViewDims(const Dims& planned, int tail, const Dims& parent) {
    Dims d = planned;
    for (int i = 0; i < tail; ++i) d.d[d.nbDims - tail + i] = parent.d[parent.nbDims - tail + i];
    return d;
}
//! Whether `parent` (at run time) still has the leading dims it was planned with, `planned`, so that the rows a range view
//! of it reads are the rows it was made of.
inline bool rangeViewLeadingDimsKept(const Dims& planned, const Dims& parent, int tail) {
    if (planned.nbDims != parent.nbDims) return false;
    for (int i = 0; i < planned.nbDims - tail; ++i)
        if (planned.d[i] != parent.d[i]) return false;
    return true;
}

}  // namespace gie
