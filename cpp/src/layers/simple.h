// Shape rules of the layers whose output is shaped like an input: Identity, Constant, Activation (the
// activation formulas: layers/activation_math.h).
#pragma once

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>

#include "gie/network.h"
#include "layers/activation_math.h"
#include "plugin/builtin.h"

namespace gie {

//! Ops that accept any data type on every input and output.
struct AnyTypeOp : OpBase {
    bool supports(int pos, const TensorDesc* inOut, int, int) const { return inOut[pos].format == TensorFormat::kLINEAR; }
};

struct IdentityOp : AnyTypeOp {
    static constexpr const char* kType = "Identity";
    static std::vector<FieldSpec> fieldSpecs() { return {}; }
    explicit IdentityOp(const FieldMap&) {}
    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 1, 1, kType);
        out[0] = in[0];
    }
    //! Identity outputs keep the input type (a copy); supports() only needs them to match.
    bool supports(int pos, const TensorDesc* inOut, int nIn, int) const {
        return inOut[pos].format == TensorFormat::kLINEAR && (pos < nIn || inOut[pos].type == inOut[0].type);
    }
};

struct ConstantOp : AnyTypeOp {
    static constexpr const char* kType = "Constant";
    static std::vector<FieldSpec> fieldSpecs() {
        return {{"shape", PluginFieldType::kINT64}, {"weights", PluginFieldType::kFLOAT32}};
    }
    Dims shape;
    DataType type = DataType::kFLOAT;
    explicit ConstantOp(const FieldMap& f) {
        shape = dimsFrom(f.ints("shape"));
        const Field* w = f.find("weights");
        GIE_CHECK(w, ErrorCode::kINVALID_ARGUMENT, "Constant needs 'weights'");
        switch (w->type) {
            case PluginFieldType::kFLOAT32: case PluginFieldType::kFLOAT64: type = DataType::kFLOAT; break;
            case PluginFieldType::kFLOAT16: type = DataType::kHALF; break;
            case PluginFieldType::kINT8: type = DataType::kINT8; break;
            case PluginFieldType::kINT16: case PluginFieldType::kINT32: case PluginFieldType::kINT64: type = DataType::kINT32; break;
            default: fail(ErrorCode::kINVALID_ARGUMENT, "Constant weights of type ", fieldTypeName(w->type), " are not supported");
        }
        const int64_t n = checkedVolume(shape, ErrorCode::kINVALID_ARGUMENT, "Constant shape");
        GIE_CHECK(w->length == n, ErrorCode::kINVALID_ARGUMENT, "Constant of shape ", toString(shape), " needs ", n, " values, got ",
                  w->length);
    }
    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 0, 0, kType);
        out[0] = shape;
    }
    void outputTypes(const std::vector<DataType>&, std::vector<DataType>& out) const { out[0] = type; }
    //! The value in the output type, as every backend stores it (int64 -> int32 saturated, float64 -> float32).
    std::vector<uint8_t> valueBytes(const FieldMap& f) const {
        const Field* w = f.find("weights");
        const int64_t n = w->length;
        std::vector<uint8_t> v(static_cast<size_t>(n * dataTypeSize(type)));
        if (type == DataType::kINT32) {
            auto iv = f.ints("weights");
            for (int64_t i = 0; i < n; ++i) {
                int32_t x = static_cast<int32_t>(std::max<int64_t>(INT32_MIN, std::min<int64_t>(INT32_MAX, iv[static_cast<size_t>(i)])));
                std::memcpy(&v[static_cast<size_t>(i) * 4], &x, 4);
            }
        } else if (type == DataType::kFLOAT) {
            auto fv = f.floats("weights");
            if (n) std::memcpy(v.data(), fv.data(), v.size());
        } else if (n) {
            std::memcpy(v.data(), w->data.data(), v.size());
        }
        return v;
    }
};

struct ActivationOp : OpBase {
    static constexpr const char* kType = "Activation";
    static std::vector<FieldSpec> fieldSpecs() {
        return {{"activation_type", PluginFieldType::kINT64}, {"alpha", PluginFieldType::kFLOAT32}, {"beta", PluginFieldType::kFLOAT32}};
    }
    ActivationType type;
    float alpha, beta;
    explicit ActivationOp(const FieldMap& f) {
        int64_t t = f.getInt("activation_type", 0);
        GIE_CHECK(isActivationType(t), ErrorCode::kINVALID_ARGUMENT, "unknown activation type ", t);
        type = static_cast<ActivationType>(t);
        // Defaults follow the usual frameworks: LeakyReLU 0.01, ELU 1, SELU (1.6733, 1.0507), HardSigmoid (0.2, 0.5).
        float da = 0.f, db = 0.f;
        switch (type) {
            case ActivationType::kLEAKY_RELU: da = 0.01f; break;
            case ActivationType::kELU: da = 1.f; break;
            case ActivationType::kSELU: da = 1.6732632423543772f; db = 1.0507009873554805f; break;
            case ActivationType::kHARD_SIGMOID: da = 0.2f; db = 0.5f; break;
            case ActivationType::kSCALED_TANH: da = 1.f; db = 1.f; break;
            case ActivationType::kCLIP: da = 0.f; db = 6.f; break;
            case ActivationType::kTHRESHOLDED_RELU: da = 1.f; break;
            default: break;
        }
        alpha = f.getFloat("alpha", da);
        beta = f.getFloat("beta", db);
    }
    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 1, 1, kType);
        out[0] = in[0];
    }
};

}  // namespace gie
