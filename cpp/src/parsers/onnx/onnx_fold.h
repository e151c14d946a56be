// Helpers shared by the host-folding files (onnx_fold.cpp: shape-subgraph ops; onnx_fold_linalg.cpp: Einsum,
// Det; onnx_fold_scatter_gather.cpp: ScatterND, ScatterElements, GatherND) and the folders those files define.
#pragma once

#include <cstdint>
#include <vector>

#include "parsers/onnx/onnx_importer.h"

namespace gie {
namespace onnx {
namespace fold {

//! Folding may run at most this many inner steps (multiply-adds, element updates) for one node, so that a small
//! model cannot make the import run for hours; past it the node is refused (FoldRefused).
constexpr int64_t kMAX_FOLD_STEPS = int64_t(1) << 26;

//! `ax` in [-rank, rank-1] made non-negative; Unsupported("<what> <ax> out of range") otherwise.
int64_t normAxis(int64_t ax, int64_t rank, const char* what = "axis");
//! Known input `k` of `n`; Unsupported when it is absent.
const Value& in(Importer& p, const NodeProto& n, size_t k);
bool hasIn(const NodeProto& n, size_t k);
//! A zero-filled value of `dtype` and `shape`.
Value like(const Value& v, int32_t dtype, std::vector<int64_t> shape);
//! Copies element `src` of v into element `dst` of r (same dtype kind).
void copyElem(Value& r, size_t dst, const Value& v, size_t src);
//! Row-major element strides of `s`.
std::vector<int64_t> stridesOf(const std::vector<int64_t>& s);
//! Moves `pos` to the next index of `shape` (row-major); false after the last.
bool nextIndex(std::vector<int64_t>& pos, const std::vector<int64_t>& shape);
//! GatherElements' / ScatterElements' addressing: the offset (strides `st`) in a tensor of `shape` of the element at
//! `pos` with its `axis` coordinate replaced by `index` (negative: counted from the end); -1 when that element lies
//! outside `shape` (an index outside [-d, d-1], or a coordinate of pos past `shape`).
int64_t offsetAlongAxis(const std::vector<int64_t>& pos, int64_t axis, int64_t index, const std::vector<int64_t>& shape,
                        const std::vector<int64_t>& st);
//! GatherElements' / ScatterElements' walk over indices `idx` (of the rank of `shape`): f(e, offsetAlongAxis(...)) for
//! every element e of idx in row-major order, the offset -1 where e addresses outside `shape`; stops and returns false
//! when f does.
template <typename F>
bool forEachAlongAxis(const Value& idx, int64_t axis, const std::vector<int64_t>& shape, F&& f) {
    const std::vector<int64_t> st = stridesOf(shape);
    std::vector<int64_t> pos(idx.shape.size(), 0);
    for (int64_t e = 0; e < idx.size(); ++e) {
        if (!f(e, offsetAlongAxis(pos, axis, idx.i[size_t(e)], shape, st))) return false;
        nextIndex(pos, idx.shape);
    }
    return true;
}
//! numpy's broadcast of `shapes`; Unsupported when they do not broadcast.
std::vector<int64_t> broadcastShape(const std::vector<std::vector<int64_t>>& shapes);
//! `v` wrapped to the ONNX integer type `dtype` as numpy's fixed-width integers wrap (bool: v != 0).
int64_t wrapInt(int32_t dtype, int64_t v);
//! a * b, or INT64_MAX when the product (of non-negative factors) overflows: for work and size bounds.
int64_t mulCapped(int64_t a, int64_t b);

bool einsumOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out);
bool detOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out);
bool scatterNDOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out);
bool scatterElementsOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out);
bool gatherNDOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out);

}  // namespace fold
}  // namespace onnx
}  // namespace gie
