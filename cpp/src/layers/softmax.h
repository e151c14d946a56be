// Softmax / LogSoftmax over one axis.
#pragma once

#include "plugin/builtin.h"

namespace gie {

struct SoftmaxOp : OpBase {
    static constexpr const char* kType = "Softmax";
    static std::vector<FieldSpec> fieldSpecs() { return {{"axis", PluginFieldType::kINT64}, {"log", PluginFieldType::kINT64}}; }
    int64_t axis;
    bool log;
    explicit SoftmaxOp(const FieldMap& f) : axis(f.getInt("axis", 1)), log(f.getInt("log", 0) != 0) {}
    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 1, 1, kType);
        normalizeAxis(axis, in[0].nbDims, "Softmax");
        out[0] = in[0];
    }
};

}  // namespace gie
