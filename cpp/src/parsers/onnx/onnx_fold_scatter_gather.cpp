// Host folding of ScatterND, ScatterElements and GatherND on known inputs, with the ONNX spec's rules and
// onnx.reference's results. Indices may be negative (counted from the end); one outside [-d, d-1] makes the
// model invalid (gie::Error kINVALID_MODEL, reported with the node's name), as do shapes the spec forbids.
// None of the three has a gie layer: with run-time inputs they are unsupported.
#include <algorithm>
#include <cmath>
#include <string>

#include "parsers/onnx/onnx_fold.h"

namespace gie {
namespace onnx {
namespace fold {
namespace {

//! The spec's index types: int64 for ScatterND and GatherND, int32 or int64 for ScatterElements.
void checkIndices(const Value& idx, const char* op, bool int32Too) {
    if (idx.dtype != kINT64 && !(int32Too && idx.dtype == kINT32))
        fail(ErrorCode::kINVALID_MODEL, op, " indices have type ", tensorTypeName(idx.dtype), "; ", op, " takes ",
             int32Too ? "int32 or int64" : "int64", " indices");
}

//! `v` made non-negative for an axis of size `d`; out of [-d, d-1]: an invalid model.
int64_t indexIn(int64_t v, int64_t d, const char* op, int64_t axis, const std::vector<int64_t>& dataShape) {
    if (v < -d || v >= d)
        fail(ErrorCode::kINVALID_MODEL, op, " index ", v, " is out of range [", -d, ", ", d - 1, "] for axis ", axis,
             " (size ", d, ") of data ", shapeStr(dataShape));
    return v < 0 ? v + d : v;
}

enum class Reduction { kNONE, kADD, kMUL, kMAX, kMIN };

Reduction reductionOf(const Attrs& a, const char* op) {
    const std::string r = a.s("reduction", "none");
    if (r == "none") return Reduction::kNONE;
    if (r == "add") return Reduction::kADD;
    if (r == "mul") return Reduction::kMUL;
    if (r == "max") return Reduction::kMAX;
    if (r == "min") return Reduction::kMIN;
    fail(ErrorCode::kINVALID_MODEL, op, " reduction '", r, "' is not one of none, add, mul, max, min");
}

//! How the reference combines an element x with an update y under `max` / `min`: ScatterND uses numpy's
//! maximum / minimum (a NaN on either side wins), ScatterElements Python's max / min (x unless y compares past it).
enum class NanRule { kNUMPY, kPYTHON };

void combine(Value& r, size_t dst, const Value& u, size_t src, Reduction red, NanRule nan) {
    if (r.isFloat()) {
        float& x = r.f[dst];
        const float y = u.f[src];
        const bool anyNan = nan == NanRule::kNUMPY && (std::isnan(x) || std::isnan(y));
        switch (red) {
            case Reduction::kNONE: x = y; break;
            case Reduction::kADD: x = x + y; break;
            case Reduction::kMUL: x = x * y; break;
            case Reduction::kMAX: x = anyNan ? NAN : (y > x ? y : x); break;
            case Reduction::kMIN: x = anyNan ? NAN : (y < x ? y : x); break;
        }
        return;
    }
    int64_t& x = r.i[dst];
    const int64_t y = u.i[src];
    switch (red) {  // wrap-around, like numpy's fixed-width integers
        case Reduction::kNONE: x = y; break;
        case Reduction::kADD: x = wrapInt(r.dtype, int64_t(uint64_t(x) + uint64_t(y))); break;
        case Reduction::kMUL: x = wrapInt(r.dtype, int64_t(uint64_t(x) * uint64_t(y))); break;
        case Reduction::kMAX: x = std::max(x, y); break;
        case Reduction::kMIN: x = std::min(x, y); break;
    }
}

void checkSameType(const Value& data, const Value& updates, const char* op) {
    if (data.dtype != updates.dtype)
        fail(ErrorCode::kINVALID_MODEL, op, " updates have type ", tensorTypeName(updates.dtype), ", data ",
             tensorTypeName(data.dtype), "; they must be equal");
}

}  // namespace

// output = copy of data; output[indices[i]] (a slice of rank r-k, k = indices.shape[-1]) op= updates[i] for every
// i of indices.shape[:-1], in order.
bool scatterNDOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    const Value& data = in(p, n, 0);
    const Value& idx = in(p, n, 1);
    const Value& upd = in(p, n, 2);
    checkIndices(idx, "ScatterND", false);
    checkSameType(data, upd, "ScatterND");
    const Reduction red = reductionOf(a, "ScatterND");
    const size_t r = data.shape.size(), q = idx.shape.size();
    if (r < 1 || q < 1)
        fail(ErrorCode::kINVALID_MODEL, "ScatterND data ", shapeStr(data.shape), " and indices ", shapeStr(idx.shape),
             " must have rank >= 1");
    const int64_t k = idx.shape.back();
    if (k > int64_t(r))
        fail(ErrorCode::kINVALID_MODEL, "ScatterND indices ", shapeStr(idx.shape), " index ", k,
             " dimensions, more than data ", shapeStr(data.shape), " has");
    std::vector<int64_t> expect(idx.shape.begin(), idx.shape.end() - 1);
    expect.insert(expect.end(), data.shape.begin() + k, data.shape.end());
    if (upd.shape != expect)
        fail(ErrorCode::kINVALID_MODEL, "ScatterND updates have shape ", shapeStr(upd.shape), "; data ", shapeStr(data.shape),
             " and indices ", shapeStr(idx.shape), " need ", shapeStr(expect));
    checkFoldOutput(p, n, 0, data.shape);
    Value res = data;
    const std::vector<int64_t> st = stridesOf(data.shape);
    const int64_t inner = volume(std::vector<int64_t>(data.shape.begin() + k, data.shape.end()));
    const int64_t count = k ? idx.size() / k : volume(std::vector<int64_t>(idx.shape.begin(), idx.shape.end() - 1));
    for (int64_t u = 0; u < count; ++u) {
        int64_t off = 0;
        for (int64_t j = 0; j < k; ++j)
            off += indexIn(idx.i[size_t(u * k + j)], data.shape[size_t(j)], "ScatterND", j, data.shape) * st[size_t(j)];
        for (int64_t e = 0; e < inner; ++e) combine(res, size_t(off + e), upd, size_t(u * inner + e), red, NanRule::kNUMPY);
    }
    out.push_back(std::move(res));
    return true;
}

// output = copy of data; output[i with i[axis] = indices[i]] op= updates[i] for every i of indices.shape, in order.
bool scatterElementsOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    const Value& data = in(p, n, 0);
    const Value& idx = in(p, n, 1);
    const Value& upd = in(p, n, 2);
    checkIndices(idx, "ScatterElements", true);
    checkSameType(data, upd, "ScatterElements");
    const Reduction red = reductionOf(a, "ScatterElements");
    const int64_t r = int64_t(data.shape.size());
    if (r < 1) fail(ErrorCode::kINVALID_MODEL, "ScatterElements data must have rank >= 1, got ", shapeStr(data.shape));
    if (idx.shape.size() != data.shape.size() || upd.shape != idx.shape)
        fail(ErrorCode::kINVALID_MODEL, "ScatterElements indices ", shapeStr(idx.shape), " and updates ", shapeStr(upd.shape),
             " must have one shape, of the rank of data ", shapeStr(data.shape));
    const int64_t ax = a.i("axis", 0);
    if (ax < -r || ax >= r)
        fail(ErrorCode::kINVALID_MODEL, "ScatterElements axis ", ax, " is out of range for data of rank ", r);
    const int64_t axis = ax < 0 ? ax + r : ax;
    for (int64_t d = 0; d < r; ++d)
        if (d != axis && idx.shape[size_t(d)] > data.shape[size_t(d)])
            fail(ErrorCode::kINVALID_MODEL, "ScatterElements indices ", shapeStr(idx.shape), " exceed data ",
                 shapeStr(data.shape), " along axis ", d);
    checkFoldOutput(p, n, 0, data.shape);
    Value res = data;
    forEachAlongAxis(idx, axis, data.shape, [&](int64_t e, int64_t off) {
        // Only the index can be out of range (indices' shape was checked against data's above): indexIn reports it.
        if (off < 0) indexIn(idx.i[size_t(e)], data.shape[size_t(axis)], "ScatterElements", axis, data.shape);
        combine(res, size_t(off), upd, size_t(e), red, NanRule::kPYTHON);
        return true;
    });
    out.push_back(std::move(res));
    return true;
}

// output[b..., i...] = data[b..., indices[b..., i..., :]] (a slice of rank r-b-k), b = batch_dims leading dimensions
// shared by data and indices, k = indices.shape[-1].
bool gatherNDOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    const Value& data = in(p, n, 0);
    const Value& idx = in(p, n, 1);
    checkIndices(idx, "GatherND", false);
    const int64_t r = int64_t(data.shape.size()), q = int64_t(idx.shape.size());
    const int64_t b = a.i("batch_dims", 0);
    if (r < 1 || q < 1)
        fail(ErrorCode::kINVALID_MODEL, "GatherND data ", shapeStr(data.shape), " and indices ", shapeStr(idx.shape),
             " must have rank >= 1");
    if (b < 0 || b >= std::min(q, r))
        fail(ErrorCode::kINVALID_MODEL, "GatherND batch_dims ", b, " must lie in [0, ", std::min(q, r) - 1,
             "] for data ", shapeStr(data.shape), " and indices ", shapeStr(idx.shape));
    for (int64_t d = 0; d < b; ++d)
        if (data.shape[size_t(d)] != idx.shape[size_t(d)])
            fail(ErrorCode::kINVALID_MODEL, "GatherND data ", shapeStr(data.shape), " and indices ", shapeStr(idx.shape),
                 " differ in batch dimension ", d);
    const int64_t k = idx.shape.back();
    if (k < 1 || k > r - b)
        fail(ErrorCode::kINVALID_MODEL, "GatherND indices ", shapeStr(idx.shape), " index ", k, " dimension(s); with ",
             b, " batch dimension(s) of data ", shapeStr(data.shape), " that must lie in [1, ", r - b, "]");
    std::vector<int64_t> shape(idx.shape.begin(), idx.shape.end() - 1);
    shape.insert(shape.end(), data.shape.begin() + b + k, data.shape.end());
    checkFoldOutput(p, n, 0, shape);
    Value res = like(data, data.dtype, shape);
    const std::vector<int64_t> st = stridesOf(data.shape);
    const int64_t inner = volume(std::vector<int64_t>(data.shape.begin() + b + k, data.shape.end()));
    const int64_t batches = volume(std::vector<int64_t>(idx.shape.begin(), idx.shape.begin() + b));
    const int64_t perBatch = batches ? idx.size() / k / batches : 0;
    size_t dst = 0;
    for (int64_t bi = 0; bi < batches; ++bi)
        for (int64_t g = 0; g < perBatch; ++g) {
            const int64_t u = bi * perBatch + g;
            int64_t off = bi * (b ? st[size_t(b - 1)] : 0);
            for (int64_t j = 0; j < k; ++j)
                off += indexIn(idx.i[size_t(u * k + j)], data.shape[size_t(b + j)], "GatherND", b + j, data.shape) *
                       st[size_t(b + j)];
            for (int64_t e = 0; e < inner; ++e) copyElem(res, dst++, data, size_t(off + e));
        }
    out.push_back(std::move(res));
    return true;
}

}  // namespace fold
}  // namespace onnx
}  // namespace gie
