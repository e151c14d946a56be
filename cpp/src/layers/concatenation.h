// Concatenation shape rules: N >= 1 inputs of one type and rank, equal in every dimension but `axis`
// (default 1, negative counts from the end).
#pragma once

#include "gie/network.h"
#include "plugin/builtin.h"

namespace gie {

struct ConcatenationOp : OpBase {
    static constexpr const char* kType = "Concatenation";
    static std::vector<FieldSpec> fieldSpecs() { return {{"axis", PluginFieldType::kINT64}}; }
    int64_t axisField;

    explicit ConcatenationOp(const FieldMap& f) { axisField = f.getInt("axis", 1); }

    int axis(int rank) const { return normalizeAxis(axisField, rank, "Concatenation"); }

    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        GIE_CHECK(!in.empty(), ErrorCode::kINVALID_MODEL, "Concatenation needs at least one input");
        const int rank = in[0].nbDims;
        GIE_CHECK(rank >= 1, ErrorCode::kINVALID_MODEL, "Concatenation: input 0 is a scalar ", toString(in[0]), "; inputs need rank >= 1");
        const int a = axis(rank);
        Dims o = in[0];
        for (size_t i = 1; i < in.size(); ++i) {
            GIE_CHECK(in[i].nbDims == rank, ErrorCode::kINVALID_MODEL, "Concatenation: input ", i, " ", toString(in[i]), " has rank ",
                      in[i].nbDims, " but input 0 ", toString(in[0]), " has rank ", rank);
            for (int k = 0; k < rank; ++k) {
                if (k == a) continue;
                GIE_CHECK(in[i].d[k] == in[0].d[k], ErrorCode::kINVALID_MODEL, "Concatenation on axis ", a, ": input ", i, " ",
                          toString(in[i]), " differs from input 0 ", toString(in[0]), " in dimension ", k);
            }
            o.d[a] = checkedAdd(o.d[a], in[i].d[a], ErrorCode::kINVALID_MODEL, "Concatenation: dimension ", a, " of the output");
        }
        out[0] = o;
    }
    void outputTypes(const std::vector<DataType>& in, std::vector<DataType>& out) const {
        for (size_t i = 1; i < in.size(); ++i)
            GIE_CHECK(in[i] == in[0], ErrorCode::kINVALID_MODEL, "Concatenation: input ", i, " is ", dataTypeName(in[i]),
                      " but input 0 is ", dataTypeName(in[0]), "; all inputs must have one type");
        out[0] = in.empty() ? DataType::kFLOAT : in[0];
    }
    bool supports(int pos, const TensorDesc* inOut, int, int) const {
        return inOut[pos].format == TensorFormat::kLINEAR && inOut[pos].type == inOut[0].type;
    }
};

}  // namespace gie
