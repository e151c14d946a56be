// FullyConnected (Caffe InnerProduct / TensorRT FC): flattens dims [axis, rank) of the input in C order
// and multiplies by kernel (K x flat): output dims = input dims [0, axis) + (K).
#pragma once

#include "plugin/builtin.h"

namespace gie {

struct FullyConnectedOp : OpBase {
    static constexpr const char* kType = "FullyConnected";
    static std::vector<const char*> halfWeightFields() { return {"kernel"}; }  // FP16 kernels keep the kernel in half
    static std::vector<FieldSpec> fieldSpecs() {
        return {{"num_outputs", PluginFieldType::kINT64}, {"kernel", PluginFieldType::kFLOAT32},
                {"bias", PluginFieldType::kFLOAT32}, {"axis", PluginFieldType::kINT64},
                {"activation_type", PluginFieldType::kINT64}, {"activation_alpha", PluginFieldType::kFLOAT32},
                {"activation_beta", PluginFieldType::kFLOAT32}};
    }
    int64_t K, axis, kernelCount, biasCount;
    int64_t activation = -1;  //!< fused activation (ActivationType), -1 = none
    float actAlpha = 0.f, actBeta = 0.f;
    explicit FullyConnectedOp(const FieldMap& f) {
        K = f.getInt("num_outputs", 0);
        GIE_CHECK(K > 0, ErrorCode::kINVALID_ARGUMENT, "FullyConnected needs num_outputs > 0, got ", K);
        axis = f.getInt("axis", 1);
        kernelCount = f.count("kernel");
        biasCount = f.count("bias");
        GIE_CHECK(kernelCount > 0 && kernelCount % K == 0, ErrorCode::kINVALID_ARGUMENT, "FullyConnected kernel has ", kernelCount,
                  " values, not a multiple of num_outputs ", K);
        GIE_CHECK(biasCount == 0 || biasCount == K, ErrorCode::kINVALID_ARGUMENT, "FullyConnected bias has ", biasCount,
                  " values, expected ", K);
        activation = f.getInt("activation_type", -1);
        actAlpha = f.getFloat("activation_alpha", 0.f);
        actBeta = f.getFloat("activation_beta", 0.f);
    }
    int64_t inputsPerOutput() const { return kernelCount / K; }
    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 1, 1, kType);
        int ax = normalizeAxis(axis, in[0].nbDims, "FullyConnected");
        GIE_CHECK(ax >= 1, ErrorCode::kINVALID_MODEL, "FullyConnected axis must be >= 1");
        int64_t flat = 1;
        for (int i = ax; i < in[0].nbDims; ++i) flat *= in[0].d[i];
        GIE_CHECK(flat == inputsPerOutput(), ErrorCode::kINVALID_MODEL, "FullyConnected input ", toString(in[0]), " flattens to ",
                  flat, " values per row but the kernel expects ", inputsPerOutput(), " (", kernelCount, " weights / ", K, " outputs)");
        Dims o;
        o.nbDims = ax + 1;
        for (int i = 0; i < ax; ++i) o.d[i] = in[0].d[i];
        o.d[ax] = K;
        out[0] = o;
    }
};

}  // namespace gie
