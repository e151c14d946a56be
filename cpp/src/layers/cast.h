// Cast shape rules: same shape, output type = field `to` (a DataType). Any input type.
#pragma once

#include "gie/network.h"
#include "plugin/builtin.h"

namespace gie {

struct CastOp : OpBase {
    static constexpr const char* kType = "Cast";
    static std::vector<FieldSpec> fieldSpecs() { return {{"to", PluginFieldType::kINT64}}; }
    DataType to;

    explicit CastOp(const FieldMap& f) {
        GIE_CHECK(f.has("to"), ErrorCode::kINVALID_ARGUMENT, "Cast needs the field 'to' (the output DataType)");
        int64_t t = f.getInt("to", 0);
        GIE_CHECK(t >= 0 && t <= 4 && validDataType(static_cast<int32_t>(t)), ErrorCode::kINVALID_ARGUMENT, "Cast: field 'to' is ", t,
                  ", not a DataType (0 float32, 1 float16, 2 int8, 3 int32, 4 bool)");
        to = static_cast<DataType>(t);
    }
    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 1, 1, kType);
        out[0] = in[0];
    }
    void outputTypes(const std::vector<DataType>&, std::vector<DataType>& out) const { out[0] = to; }
    bool supports(int pos, const TensorDesc* inOut, int nbInputs, int) const {
        if (inOut[pos].format != TensorFormat::kLINEAR) return false;
        return pos < nbInputs ? validDataType(static_cast<int32_t>(inOut[pos].type)) : inOut[pos].type == to;
    }
};

}  // namespace gie
