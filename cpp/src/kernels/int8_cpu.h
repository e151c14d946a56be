// What the INT8 CPU reference kernels (kernels/*_int8_cpu.cpp) share: the descriptor rules, per-output-channel
// weight quantization, and the requantization epilogue of a row of INT32 accumulators. The arithmetic itself is
// layers/int8_math.h (host and device).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "gie/plugin.h"
#include "kernels/epilogue.h"
#include "kernels/gemm.h"
#include "layers/fused_activation.h"
#include "layers/int8_math.h"

namespace gie::cpu::int8cpu {

//! Type rules of an INT8 kernel: its quantized INT8 inputs stand for float tensors, so `rules` (the layer's
//! getOutputDataTypes) runs with them read as FLOAT; the outputs come out FLOAT (the class: the builder stores them
//! FLOAT, HALF or INT8, and an engine file's loader checks the exact types with supportsFormatCombination).
template <typename Rules>
int32_t outputTypesQuantizedAsFloat(const DataType* in, int32_t n, DataType* out, Rules&& rules) noexcept {
    try {
        std::vector<DataType> widened(in, in + n);
        for (DataType& t : widened)
            if (t == DataType::kINT8) t = DataType::kFLOAT;
        return rules(widened.data(), n, out);
    } catch (...) {
        recordCurrentException(nullptr);
        return -1;
    }
}
//! What every INT8 kernel class (derived from Kernel<Self, Op>) declares first: its variant, the constructor,
//! and the type rules above.
#define GIE_INT8_KERNEL_COMMON                                                                                   \
    static constexpr const char* kVariant = ::gie::int8::kVariant;                                                 \
    using Kernel::Kernel;                                                                                       \
    int32_t getOutputDataTypes(const DataType* in, int32_t n, DataType* out) const noexcept override {          \
        return ::gie::cpu::int8cpu::outputTypesQuantizedAsFloat(                                               \
            in, n, out, [this](const DataType* i, int32_t k, DataType* o) { return Kernel::getOutputDataTypes(i, k, o); }); \
    }

//! An INT8 tensor (LINEAR) with a usable scale.
inline bool quantizedLinear(const TensorDesc& d) {
    return d.type == DataType::kINT8 && d.format == TensorFormat::kLINEAR && d.scale > 0.f && d.scale < 3.0e38f;
}
inline bool floatLinear(const TensorDesc& d) { return d.type == DataType::kFLOAT && d.format == TensorFormat::kLINEAR; }
//! The usual INT8 kernel rule: position 0 (the data input) INT8; the others INT8 or FLOAT (FP16 through the CPU's
//! FP16 storage wrapper); all LINEAR.
inline bool int8DataInput(int32_t pos, const TensorDesc& d) { return quantizedLinear(d) || (pos > 0 && floatLinear(d)); }
//! The format rule of an INT8 kernel class that takes int8DataInput (convolution, fully connected, pooling).
#define GIE_INT8_DATA_INPUT_FORMATS                                                                                \
    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t, int32_t) const noexcept override { \
        return ::gie::cpu::int8cpu::int8DataInput(pos, inOut[pos]);                                              \
    }

//! Weights quantized symmetrically per output channel: q[k * perK + i] = round_half_even(w / scale[k]),
//! scale[k] = max_i |w[k * perK + i]| / 127 (1 for an all-zero channel).
struct ChannelWeights {
    std::vector<int8_t> q;
    std::vector<float> scale;
};
inline ChannelWeights quantizePerChannel(const float* w, int64_t K, int64_t perK) {
    ChannelWeights r;
    r.q.resize(static_cast<size_t>(K * perK));
    r.scale.resize(static_cast<size_t>(K));
    for (int64_t k = 0; k < K; ++k) {
        float amax = 0.f;
        for (int64_t i = 0; i < perK; ++i) {
            const float a = w[k * perK + i] < 0.f ? -w[k * perK + i] : w[k * perK + i];
            GIE_CHECK(a == a && a < 3.0e38f, ErrorCode::kINVALID_ARGUMENT, "INT8 weights: output channel ", k, " has a non-finite weight");
            amax = a > amax ? a : amax;
        }
        const float s = int8::scaleOfRange(amax);
        r.scale[static_cast<size_t>(k)] = s;
        for (int64_t i = 0; i < perK; ++i) r.q[static_cast<size_t>(k * perK + i)] = int8::quantize(w[k * perK + i], s);
    }
    return r;
}

//! Per output channel: the accumulator's scale (s_x * s_w[k]) and the bias in accumulator units.
struct Requant {
    std::vector<float> mult;
    std::vector<int32_t> bias;
};
inline Requant makeRequant(const ChannelWeights& w, float inScale, const std::vector<float>& bias) {
    Requant r;
    r.mult.resize(w.scale.size());
    r.bias.assign(w.scale.size(), 0);
    for (size_t k = 0; k < w.scale.size(); ++k) {
        r.mult[k] = inScale * w.scale[k];
        if (!bias.empty()) r.bias[k] = int8::quantizeBias(bias[k], r.mult[k]);
    }
    return r;
}

//! A convolution's or fully connected layer's INT8 weights and requantization (what every INT8 kernel of them, CPU and
//! GPU, configures from): per-channel weights of K outputs x perK products, the bias from the `bias` field, and the
//! INT32 bound: |sum| <= perK * 128 * 127 must fit the accumulator (the one the GPU's dp4a / imma use too).
struct QuantizedLayer {
    ChannelWeights weights;
    Requant requant;
};
template <typename Fields>
QuantizedLayer quantizeLayer(const Fields& fields, int64_t K, int64_t perK, float inScale, const char* layer) {
    GIE_CHECK(perK <= (int64_t(1) << 31) / (128 * 128), ErrorCode::kUNSUPPORTED, layer, " (INT8): ", perK,
              " products per output exceed what an INT32 accumulator holds");
    const std::vector<float> kernel = fields.floats("kernel");
    GIE_CHECK(static_cast<int64_t>(kernel.size()) == K * perK, ErrorCode::kINVALID_MODEL, layer, " kernel has ", kernel.size(),
              " values, expected ", K * perK);
    QuantizedLayer q;
    q.weights = quantizePerChannel(kernel.data(), K, perK);
    q.requant = makeRequant(q.weights, inScale, fields.has("bias") ? fields.floats("bias") : std::vector<float>());
    return q;
}

//! What a CPU convolution or fully connected INT8 kernel configures (`op`: its K and fused-activation fields):
//! quantizeLayer, then the epilogue's activation (an unknown one fails naming "<layer> (INT8)").
struct ConfiguredLayer : QuantizedLayer {
    Epilogue ep;
};
template <typename Fields, typename Op>
ConfiguredLayer configureLayer(const Fields& fields, const Op& op, int64_t perK, float inScale, const char* layer) {
    ConfiguredLayer c;
    static_cast<QuantizedLayer&>(c) = quantizeLayer(fields, op.K, perK, inScale, layer);
    setEpilogueActivation(op.activation, op.actAlpha, op.actBeta, c.ep, (std::string(layer) + " (INT8)").c_str());
    return c;
}

//! A tensor read or written element by element in real units: INT8 (with its scale) or FLOAT.
inline float loadReal(const void* p, const TensorDesc& d, int64_t i) {
    return d.type == DataType::kINT8 ? int8::dequantize(static_cast<const int8_t*>(p)[i], d.scale) : static_cast<const float*>(p)[i];
}
inline void storeReal(void* p, const TensorDesc& d, int64_t i, float v) {
    if (d.type == DataType::kINT8)
        static_cast<int8_t*>(p)[i] = int8::quantize(v, d.scale);
    else
        static_cast<float*>(p)[i] = v;
}

//! The requantization epilogue of n accumulators, written to out[offset .. offset + n):
//! y = float(acc[i]) * mult[i * multStep] [+ residual] -> activation -> INT8 (output scale) or FLOAT. multStep is 0
//! for a row of one output channel (convolution), 1 for a row across channels (fully connected). `row`: n floats of scratch.
inline void epilogueRow(const int32_t* acc, int64_t n, const float* mult, int64_t multStep, const void* residual, const TensorDesc* resDesc,
                        const Epilogue& ep, void* out, const TensorDesc& outDesc, int64_t offset, float* row) {
    for (int64_t i = 0; i < n; ++i) row[i] = static_cast<float>(acc[i]) * mult[i * multStep];
    if (residual)
        for (int64_t i = 0; i < n; ++i) row[i] += loadReal(residual, *resDesc, offset + i);
    if (ep.act != kNoActivation) gemm::activateRow(row, n, ep.act, ep.alpha, ep.beta);
    for (int64_t i = 0; i < n; ++i) storeReal(out, outDesc, offset + i, row[i]);
}

}  // namespace gie::cpu::int8cpu
