// PRelu shape rules: y = x >= 0 ? x : slope * x, with one shared slope or one per channel (dimension 1).
#pragma once

#include "gie/network.h"
#include "plugin/builtin.h"

namespace gie {

struct PReluOp : OpBase {
    static constexpr const char* kType = "PRelu";
    static std::vector<FieldSpec> fieldSpecs() { return {{"slope", PluginFieldType::kFLOAT32}}; }
    std::vector<float> slope;

    explicit PReluOp(const FieldMap& f) {
        GIE_CHECK(f.has("slope"), ErrorCode::kINVALID_ARGUMENT, "PRelu needs the field 'slope' (1 value, or one per channel)");
        slope = f.floats("slope");
        GIE_CHECK(!slope.empty(), ErrorCode::kINVALID_ARGUMENT, "PRelu: 'slope' is empty; it needs 1 value or one per channel");
    }
    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 1, 1, kType);
        if (slope.size() != 1) {
            GIE_CHECK(in[0].nbDims >= 2, ErrorCode::kINVALID_MODEL, "PRelu: ", slope.size(),
                      " slopes need a channel dimension (dimension 1), but the input is ", toString(in[0]));
            GIE_CHECK(static_cast<int64_t>(slope.size()) == in[0].d[1], ErrorCode::kINVALID_MODEL, "PRelu: 'slope' has ", slope.size(),
                      " values but the input ", toString(in[0]), " has ", in[0].d[1], " channels (dimension 1); give 1 or ",
                      in[0].d[1], " values");
        }
        out[0] = in[0];
    }
};

}  // namespace gie
