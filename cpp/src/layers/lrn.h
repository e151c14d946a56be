// LRN shape rules: local response normalization across channels (dimension 1), Caffe semantics:
//   y = x / (k + alpha / n * sum_{c' in [c - n/2, c + n/2]} x[c']^2) ^ beta,   n = window_size (odd)
// The window is clipped at the first/last channel (but the divisor stays n).
#pragma once

#include <cmath>

#include "gie/network.h"
#include "plugin/builtin.h"

namespace gie {

struct LRNOp : OpBase {
    static constexpr const char* kType = "LRN";
    static std::vector<FieldSpec> fieldSpecs() {
        return {{"window_size", PluginFieldType::kINT64}, {"alpha", PluginFieldType::kFLOAT32},
                {"beta", PluginFieldType::kFLOAT32}, {"k", PluginFieldType::kFLOAT32}};
    }
    int64_t window;
    float alpha, beta, k;

    explicit LRNOp(const FieldMap& f) {
        window = f.getInt("window_size", 5);
        alpha = f.getFloat("alpha", 1.f);
        beta = f.getFloat("beta", 0.75f);
        k = f.getFloat("k", 1.f);
        GIE_CHECK(window >= 1 && window % 2 == 1, ErrorCode::kINVALID_ARGUMENT, "LRN: window_size must be a positive odd number, got ",
                  window);
        GIE_CHECK(std::isfinite(alpha), ErrorCode::kINVALID_ARGUMENT, "LRN: alpha must be finite, got ", alpha);
        GIE_CHECK(std::isfinite(beta), ErrorCode::kINVALID_ARGUMENT, "LRN: beta must be finite, got ", beta);
        GIE_CHECK(std::isfinite(k), ErrorCode::kINVALID_ARGUMENT, "LRN: k must be finite, got ", k);
    }
    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 1, 1, kType);
        GIE_CHECK(in[0].nbDims >= 2, ErrorCode::kINVALID_MODEL, "LRN normalizes across channels (dimension 1) and needs an input of rank >= 2, got ",
                  toString(in[0]));
        out[0] = in[0];
    }
};

}  // namespace gie
