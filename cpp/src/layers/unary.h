// Unary shape/type rules: output shaped and typed like the input.
//   NOT: bool. ABS, NEG, SIGN: float32 or int32. Everything else: float32.
#pragma once

#include "common/half_types.h"
#include "gie/network.h"
#include "plugin/builtin.h"

namespace gie {

inline const char* unaryOpName(UnaryOperation op) {
    static const char* const names[] = {"EXP",  "LOG",  "SQRT", "RECIP", "ABS",   "NEG",   "SIN",   "COS",
                                        "TAN",  "SINH", "COSH", "ASIN",  "ACOS",  "ATAN",  "ASINH", "ACOSH",
                                        "ATANH", "CEIL", "FLOOR", "ERF", "NOT", "SIGN", "ROUND"};
    int i = static_cast<int>(op);
    return i >= 0 && i <= static_cast<int>(UnaryOperation::kROUND) ? names[i] : "?";
}

struct UnaryOp : OpBase {
    static constexpr const char* kType = "Unary";
    static std::vector<FieldSpec> fieldSpecs() { return {{"op", PluginFieldType::kINT64}}; }
    UnaryOperation op;

    explicit UnaryOp(const FieldMap& f) {
        GIE_CHECK(f.has("op"), ErrorCode::kINVALID_ARGUMENT, "Unary needs the field 'op' (a UnaryOperation)");
        int64_t v = f.getInt("op", 0);
        GIE_CHECK(v >= 0 && v <= static_cast<int64_t>(UnaryOperation::kROUND), ErrorCode::kINVALID_ARGUMENT, "Unary: unknown op ", v,
                  " (field 'op' must be a UnaryOperation, 0..22)");
        op = static_cast<UnaryOperation>(v);
    }
    bool typeOk(DataType t) const {
        if (op == UnaryOperation::kNOT) return t == DataType::kBOOL;
        if (op == UnaryOperation::kABS || op == UnaryOperation::kNEG || op == UnaryOperation::kSIGN)
            return t == DataType::kFLOAT || t == DataType::kINT32;
        return t == DataType::kFLOAT;
    }
    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 1, 1, kType);
        out[0] = in[0];
    }
    void outputTypes(const std::vector<DataType>& given, std::vector<DataType>& out) const {
        GIE_CHECK(given.size() == 1, ErrorCode::kINVALID_MODEL, "Unary takes 1 input, got ", given.size());
        // Type rules: FLOAT and HALF are one class (common/half_types.h: the builder chooses the storage); supports()
        // is the kernel's.
        halfAsFloatTypes(given, out, [&](const std::vector<DataType>& in, std::vector<DataType>& o) {
            GIE_CHECK(typeOk(in[0]), ErrorCode::kINVALID_MODEL, "Unary ", unaryOpName(op), " does not take ", dataTypeName(given[0]),
                      " input (", op == UnaryOperation::kNOT ? "it needs bool"
                                  : (op == UnaryOperation::kABS || op == UnaryOperation::kNEG || op == UnaryOperation::kSIGN)
                                      ? "it takes float32 or int32"
                                      : "it takes float32",
                      ")");
            o[0] = in[0];
        });
    }
    bool supports(int pos, const TensorDesc* inOut, int, int) const {
        if (inOut[pos].format != TensorFormat::kLINEAR) return false;
        return pos == 0 ? typeOk(inOut[0].type) : inOut[pos].type == inOut[0].type;
    }
};

}  // namespace gie
