// SqueezeExcitation shape rules: the gate of a squeeze-and-excitation block (MobileNetV3, EfficientNet),
//   p = mean of x over its spatial dimensions (2..)            (N, C)
//   h = act(kernel1 p + bias1)                                 (N, squeeze)
//   y = gate(kernel2 h + bias2)                                 (N, C, 1, ..., 1)
// which the network then multiplies with x (the channel scale). recognize_squeeze_excitation makes it from
// GlobalAveragePool -> 1x1 Conv -> activation -> 1x1 Conv -> Sigmoid / HardSigmoid; it can also be added directly.
//
// Fields: squeeze (the hidden width), kernel1 (squeeze x C, row-major), bias1 (squeeze, optional), activation /
// alpha / beta (an ActivationType with its parameters), kernel2 (C x squeeze), bias2 (C, optional), gate /
// gate_alpha / gate_beta (the gate's ActivationType, e.g. SIGMOID, HARD_SIGMOID with 1/6, 1/2).
#pragma once

#include <vector>

#include "gie/network.h"
#include "layers/activation_math.h"
#include "plugin/builtin.h"

namespace gie {

struct SqueezeExcitationOp : OpBase {
    static constexpr const char* kType = "SqueezeExcitation";
    static std::vector<FieldSpec> fieldSpecs() {
        return {{"squeeze", PluginFieldType::kINT64},     {"kernel1", PluginFieldType::kFLOAT32}, {"bias1", PluginFieldType::kFLOAT32},
                {"activation", PluginFieldType::kINT64},  {"alpha", PluginFieldType::kFLOAT32},   {"beta", PluginFieldType::kFLOAT32},
                {"kernel2", PluginFieldType::kFLOAT32},   {"bias2", PluginFieldType::kFLOAT32},   {"gate", PluginFieldType::kINT64},
                {"gate_alpha", PluginFieldType::kFLOAT32}, {"gate_beta", PluginFieldType::kFLOAT32}};
    }
    int64_t squeeze;
    std::vector<float> kernel1, bias1, kernel2, bias2;
    ActivationType act, gate;
    float alpha, beta, gateAlpha, gateBeta;

    explicit SqueezeExcitationOp(const FieldMap& f)
        : squeeze(f.getInt("squeeze", 0)), kernel1(f.floats("kernel1")), bias1(f.floats("bias1")), kernel2(f.floats("kernel2")),
          bias2(f.floats("bias2")), alpha(f.getFloat("alpha", 0.f)), beta(f.getFloat("beta", 0.f)),
          gateAlpha(f.getFloat("gate_alpha", 0.f)), gateBeta(f.getFloat("gate_beta", 0.f)) {
        GIE_CHECK(squeeze > 0, ErrorCode::kINVALID_ARGUMENT, "SqueezeExcitation needs squeeze > 0, got ", squeeze);
        const int64_t a = f.getInt("activation", static_cast<int64_t>(ActivationType::kRELU));
        const int64_t g = f.getInt("gate", static_cast<int64_t>(ActivationType::kSIGMOID));
        GIE_CHECK(isActivationType(a) && isActivationType(g), ErrorCode::kINVALID_ARGUMENT, "SqueezeExcitation: unknown activation ",
                  isActivationType(a) ? g : a);
        act = static_cast<ActivationType>(a);
        gate = static_cast<ActivationType>(g);
        GIE_CHECK(bias1.empty() || static_cast<int64_t>(bias1.size()) == squeeze, ErrorCode::kINVALID_ARGUMENT,
                  "SqueezeExcitation: bias1 has ", bias1.size(), " values, expected squeeze = ", squeeze);
    }
    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 1, 1, kType);
        GIE_CHECK(in[0].nbDims >= 3, ErrorCode::kINVALID_MODEL, "SqueezeExcitation needs (N, C, spatial...), got ", toString(in[0]));
        const int64_t C = in[0].d[1];
        GIE_CHECK(static_cast<int64_t>(kernel1.size()) == squeeze * C && static_cast<int64_t>(kernel2.size()) == squeeze * C,
                  ErrorCode::kINVALID_MODEL, "SqueezeExcitation: kernel1 / kernel2 have ", kernel1.size(), " / ", kernel2.size(),
                  " values; the input ", toString(in[0]), " with squeeze ", squeeze, " needs ", squeeze * C, " each");
        GIE_CHECK(bias2.empty() || static_cast<int64_t>(bias2.size()) == C, ErrorCode::kINVALID_MODEL, "SqueezeExcitation: bias2 has ",
                  bias2.size(), " values, expected C = ", C);
        out[0] = in[0];
        for (int i = 2; i < out[0].nbDims; ++i) out[0].d[i] = 1;
    }
};

}  // namespace gie
