// LayerNorm shape rules: y = (x - mean) / sqrt(var + epsilon) * scale + bias, mean and var (biased, 1/n) taken
// over one axis: the last one (transformer tokens (N, T, C)) or the channel axis of NCHW (ConvNeXt's
// "LayerNorm over channels"), or any other single axis.
//
// Fields: axis (default -1; negative counts from the end), epsilon (default 1e-5, added to the variance before
// the square root, as torch and ONNX LayerNormalization do), scale and bias (optional, one value per element of
// the axis; absent: 1 and 0). The tensor is viewed as (outer, n, inner) around the axis like Softmax.
#pragma once

#include <cmath>
#include <vector>

#include "plugin/builtin.h"

namespace gie {

struct LayerNormOp : OpBase {
    static constexpr const char* kType = "LayerNorm";
    static std::vector<FieldSpec> fieldSpecs() {
        return {{"axis", PluginFieldType::kINT64},
                {"epsilon", PluginFieldType::kFLOAT32},
                {"scale", PluginFieldType::kFLOAT32},
                {"bias", PluginFieldType::kFLOAT32}};
    }
    int64_t axis;
    float epsilon;
    std::vector<float> scale, bias;

    explicit LayerNormOp(const FieldMap& f)
        : axis(f.getInt("axis", -1)), epsilon(f.getFloat("epsilon", 1e-5f)), scale(f.floats("scale")), bias(f.floats("bias")) {
        GIE_CHECK(std::isfinite(epsilon) && epsilon >= 0.f, ErrorCode::kINVALID_ARGUMENT, "LayerNorm: epsilon ", epsilon,
                  " must be finite and >= 0");
    }
    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 1, 1, kType);
        const int ax = normalizeAxis(axis, in[0].nbDims, "LayerNorm");
        const int64_t n = in[0].d[ax];
        for (const auto* p : {&scale, &bias})
            GIE_CHECK(p->empty() || static_cast<int64_t>(p->size()) == n, ErrorCode::kINVALID_MODEL, "LayerNorm: '",
                      p == &scale ? "scale" : "bias", "' has ", p->size(), " values but axis ", ax, " of the input ", toString(in[0]),
                      " has ", n, " elements; give one value per element (or none)");
        out[0] = in[0];
    }
    //! scale[k] (1 when absent) and bias[k] (0 when absent).
    float scaleAt(int64_t k) const { return scale.empty() ? 1.f : scale[static_cast<size_t>(k)]; }
    float biasAt(int64_t k) const { return bias.empty() ? 0.f : bias[static_cast<size_t>(k)]; }
};

}  // namespace gie
