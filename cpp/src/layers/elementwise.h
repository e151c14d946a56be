// ElementWise shape/type rules: two inputs combined with numpy broadcasting (ranks align from the right).
//   arithmetic (SUM PROD MAX MIN SUB DIV POW FLOOR_DIV MOD): float32 or int32, both the same; output likewise
//   logical (AND OR XOR): bool inputs, bool output
//   comparison (EQUAL GREATER LESS): float32, int32 or bool inputs (same type), bool output
#pragma once

#include <algorithm>
#include <string>

#include "common/half_types.h"
#include "gie/network.h"
#include "plugin/builtin.h"

namespace gie {

inline const char* elementWiseOpName(ElementWiseOperation op) {
    switch (op) {
        case ElementWiseOperation::kSUM: return "SUM";
        case ElementWiseOperation::kPROD: return "PROD";
        case ElementWiseOperation::kMAX: return "MAX";
        case ElementWiseOperation::kMIN: return "MIN";
        case ElementWiseOperation::kSUB: return "SUB";
        case ElementWiseOperation::kDIV: return "DIV";
        case ElementWiseOperation::kPOW: return "POW";
        case ElementWiseOperation::kFLOOR_DIV: return "FLOOR_DIV";
        case ElementWiseOperation::kAND: return "AND";
        case ElementWiseOperation::kOR: return "OR";
        case ElementWiseOperation::kXOR: return "XOR";
        case ElementWiseOperation::kEQUAL: return "EQUAL";
        case ElementWiseOperation::kGREATER: return "GREATER";
        case ElementWiseOperation::kLESS: return "LESS";
        case ElementWiseOperation::kMOD: return "MOD";
    }
    return "?";
}

//! numpy broadcasting of two shapes; fails naming `what` and the offending dimension.
inline Dims broadcastDims(const Dims& a, const Dims& b, const char* what) {
    Dims out;
    out.nbDims = std::max(a.nbDims, b.nbDims);
    for (int i = 0; i < out.nbDims; ++i) {
        int ia = a.nbDims - out.nbDims + i, ib = b.nbDims - out.nbDims + i;
        int64_t da = ia >= 0 ? a.d[ia] : 1, db = ib >= 0 ? b.d[ib] : 1;
        if (da == db || db == 1) {
            out.d[i] = da;
        } else if (da == 1) {
            out.d[i] = db;
        } else {
            fail(ErrorCode::kINVALID_MODEL, what, ": input shapes ", toString(a), " and ", toString(b),
                 " cannot be broadcast together (dimension ", i, " of the result: ", da, " vs ", db, ")");
        }
    }
    return out;
}

struct ElementWiseOp : OpBase {
    static constexpr const char* kType = "ElementWise";
    static std::vector<FieldSpec> fieldSpecs() { return {{"op", PluginFieldType::kINT64}}; }
    ElementWiseOperation op;

    explicit ElementWiseOp(const FieldMap& f) {
        GIE_CHECK(f.has("op"), ErrorCode::kINVALID_ARGUMENT, "ElementWise needs the field 'op' (an ElementWiseOperation)");
        int64_t v = f.getInt("op", 0);
        GIE_CHECK(v >= 0 && v <= static_cast<int64_t>(ElementWiseOperation::kMOD), ErrorCode::kINVALID_ARGUMENT,
                  "ElementWise: unknown op ", v, " (field 'op' must be an ElementWiseOperation, 0..14)");
        op = static_cast<ElementWiseOperation>(v);
    }
    bool isLogical() const {
        return op == ElementWiseOperation::kAND || op == ElementWiseOperation::kOR || op == ElementWiseOperation::kXOR;
    }
    bool isComparison() const {
        return op == ElementWiseOperation::kEQUAL || op == ElementWiseOperation::kGREATER || op == ElementWiseOperation::kLESS;
    }
    //! What every INT8 kernel computes (on the dequantized values, docs/int8.md): SUM, SUB, PROD, MAX, MIN, with
    //! tensor `pos` of the shape of input 0 (no broadcasting). The kernels add their own type / format rules.
    bool int8Computes(int pos, const TensorDesc* inOut) const {
        using E = ElementWiseOperation;
        if (op != E::kSUM && op != E::kSUB && op != E::kPROD && op != E::kMAX && op != E::kMIN) return false;
        return pos == 0 || inOut[pos].dims == inOut[0].dims;
    }
    bool inputTypeOk(DataType t) const {
        if (isLogical()) return t == DataType::kBOOL;
        if (isComparison()) return t == DataType::kFLOAT || t == DataType::kINT32 || t == DataType::kBOOL;
        return t == DataType::kFLOAT || t == DataType::kINT32;
    }
    DataType outputType(DataType in) const { return isLogical() || isComparison() ? DataType::kBOOL : in; }

    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 2, 2, kType);
        out[0] = broadcastDims(in[0], in[1], (std::string("ElementWise ") + elementWiseOpName(op)).c_str());
    }
    //! Type rules (network definition, engine files): FLOAT and HALF are one class, whose storage the builder
    //! chooses per tensor (common/half_types.h); supports() says what this kernel computes on.
    void outputTypes(const std::vector<DataType>& given, std::vector<DataType>& out) const {
        GIE_CHECK(given.size() == 2, ErrorCode::kINVALID_MODEL, "ElementWise takes 2 inputs, got ", given.size());
        halfAsFloatTypes(given, out, [this](const std::vector<DataType>& in, std::vector<DataType>& o) {
            GIE_CHECK(in[0] == in[1], ErrorCode::kINVALID_MODEL, "ElementWise ", elementWiseOpName(op),
                      ": both inputs must have the same type, got ", dataTypeName(in[0]), " and ", dataTypeName(in[1]));
            GIE_CHECK(inputTypeOk(in[0]), ErrorCode::kINVALID_MODEL, "ElementWise ", elementWiseOpName(op), " does not take ",
                      dataTypeName(in[0]), " inputs (", isLogical() ? "it needs bool" : isComparison() ? "it takes float32, int32 or bool"
                                                                                                   : "it takes float32 or int32", ")");
            o[0] = outputType(in[0]);
        });
    }
    bool supports(int pos, const TensorDesc* inOut, int nbInputs, int) const {
        if (inOut[pos].format != TensorFormat::kLINEAR) return false;
        if (pos == 0) return inputTypeOk(inOut[0].type);
        if (pos < nbInputs) return inOut[pos].type == inOut[0].type;
        return inOut[pos].type == outputType(inOut[0].type);
    }
};

//! How both inputs of a broadcasting element-wise op are walked for an output shape: size-1 dimensions
//! dropped, neighbours that both inputs walk the same way merged; strides in elements, 0 on broadcast
//! dimensions. Shared by the CPU and GPU kernels.
struct BroadcastPlan {
    int rank = 0;
    int64_t n[Dims::MAX_DIMS];
    int64_t sa[Dims::MAX_DIMS];
    int64_t sb[Dims::MAX_DIMS];
    int64_t total = 1;
};

//! Strides of `in` seen through the broadcast to `out` (0 on broadcast dimensions).
inline void broadcastStrides(const Dims& in, const Dims& out, int64_t* s) {
    int64_t acc = 1;
    for (int i = out.nbDims - 1; i >= 0; --i) {
        int k = in.nbDims - out.nbDims + i;
        int64_t d = k >= 0 ? in.d[k] : 1;
        s[i] = d == 1 ? 0 : acc;
        acc *= d;
    }
}

inline BroadcastPlan makeBroadcastPlan(const Dims& out, const Dims& a, const Dims& b) {
    int64_t sa[Dims::MAX_DIMS], sb[Dims::MAX_DIMS];
    broadcastStrides(a, out, sa);
    broadcastStrides(b, out, sb);
    BroadcastPlan p;
    for (int i = 0; i < out.nbDims; ++i) {
        p.total *= out.d[i];
        if (out.d[i] == 1) continue;
        if (p.rank > 0) {
            int j = p.rank - 1;
            if (p.sa[j] == sa[i] * out.d[i] && p.sb[j] == sb[i] * out.d[i]) {
                p.n[j] *= out.d[i];
                p.sa[j] = sa[i];
                p.sb[j] = sb[i];
                continue;
            }
        }
        p.n[p.rank] = out.d[i];
        p.sa[p.rank] = sa[i];
        p.sb[p.rank] = sb[i];
        ++p.rank;
    }
    if (p.rank == 0) {
        p.rank = 1;
        p.n[0] = 1;
        p.sa[0] = p.sb[0] = 0;
    }
    return p;
}

}  // namespace gie
