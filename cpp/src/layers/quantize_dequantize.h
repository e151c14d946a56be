// QuantizeDequantize: an ONNX QuantizeLinear -> DequantizeLinear pair on an activation (explicit quantization,
// docs/int8.md "Explicit quantization"), as one float layer: y = (clamp(round_half_even(x / scale) + zero_point,
// qmin, qmax) - zero_point) * scale. Without INT8 it runs as such (the rounding onnxruntime applies); with INT8 the
// pass fold_quantize_dequantize turns a symmetric INT8 pair (zero_point 0, [-128, 127]) whose readers all have INT8
// kernels into the dynamic range 127 * scale of the tensors it wraps and removes it, so that they quantize there.
// CPU only: on the GPU the pass removes every pair (keeping the ranges) with a warning.
#pragma once

#include <cmath>

#include "plugin/builtin.h"

namespace gie {

struct QuantizeDequantizeOp : OpBase {
    static constexpr const char* kType = "QuantizeDequantize";
    static std::vector<FieldSpec> fieldSpecs() {
        return {{"scale", PluginFieldType::kFLOAT32}, {"zero_point", PluginFieldType::kINT64}, {"qmin", PluginFieldType::kINT64},
                {"qmax", PluginFieldType::kINT64}};
    }
    float scale;
    int64_t zeroPoint, qmin, qmax;

    explicit QuantizeDequantizeOp(const FieldMap& f) {
        scale = f.getFloat("scale", 0.f);
        zeroPoint = f.getInt("zero_point", 0);
        qmin = f.getInt("qmin", -128);
        qmax = f.getInt("qmax", 127);
        GIE_CHECK(std::isfinite(scale) && scale > 0.f, ErrorCode::kINVALID_ARGUMENT, "QuantizeDequantize: scale must be positive and finite, got ",
                  scale);
        GIE_CHECK(qmin < qmax && qmin >= -(int64_t(1) << 31) && qmax < (int64_t(1) << 31) && zeroPoint >= qmin && zeroPoint <= qmax,
                  ErrorCode::kINVALID_ARGUMENT, "QuantizeDequantize: need qmin < qmax (32-bit) and qmin <= zero_point <= qmax, got [", qmin,
                  ", ", qmax, "] and ", zeroPoint);
    }
    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 1, 1, kType);
        out[0] = in[0];
    }
    //! Whether the pair is symmetric INT8, so that gie's INT8 kernels (range = 127 * scale) stand for it.
    bool symmetricInt8() const { return zeroPoint == 0 && qmin == -128 && qmax == 127; }
};

}  // namespace gie
