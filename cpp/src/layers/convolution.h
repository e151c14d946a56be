// Convolution and Deconvolution (2D, NCHW) shape rules and parameters.
// Convolution kernel layout: (K, C/groups, R, S). Deconvolution kernel layout: (C, K/groups, R, S).
#pragma once

#include "plugin/builtin.h"

namespace gie {

struct ConvParamsOp : OpBase {
    static std::vector<FieldSpec> fieldSpecs() {
        return {{"num_output_maps", PluginFieldType::kINT64}, {"kernel_size", PluginFieldType::kINT64},
                {"stride", PluginFieldType::kINT64},          {"pre_padding", PluginFieldType::kINT64},
                {"post_padding", PluginFieldType::kINT64},    {"dilation", PluginFieldType::kINT64},
                {"num_groups", PluginFieldType::kINT64},      {"kernel", PluginFieldType::kFLOAT32},
                {"bias", PluginFieldType::kFLOAT32},          {"output_padding", PluginFieldType::kINT64},
                {"activation_type", PluginFieldType::kINT64}, {"activation_alpha", PluginFieldType::kFLOAT32},
                {"activation_beta", PluginFieldType::kFLOAT32}};
    }
    int64_t K, R, S, sh, sw, pt, pl, pb, pr, dh, dw, groups, oph, opw, kernelCount, biasCount;
    //! Fused epilogue (set by the vertical fusion pass): activation applied after bias and the optional
    //! residual (a second input, shaped like the output). -1 = none.
    int64_t activation = -1;
    float actAlpha = 0.f, actBeta = 0.f;
    const char* what;

    ConvParamsOp(const FieldMap& f, const char* type) : what(type) {
        K = f.getInt("num_output_maps", 0);
        GIE_CHECK(K > 0, ErrorCode::kINVALID_ARGUMENT, type, " needs num_output_maps > 0, got ", K);
        auto ks = f.ints("kernel_size");
        GIE_CHECK(ks.size() == 2, ErrorCode::kINVALID_ARGUMENT, type, " supports 2D kernels: kernel_size needs 2 values, got ", ks.size());
        R = ks[0];
        S = ks[1];
        auto two = [&](const char* name, std::vector<int64_t> dflt) {
            auto v = f.ints(name, dflt);
            GIE_CHECK(v.size() == 2, ErrorCode::kINVALID_ARGUMENT, type, " field '", name, "' needs 2 values, got ", v.size());
            return v;
        };
        auto st = two("stride", {1, 1}), pre = two("pre_padding", {0, 0}), post = two("post_padding", pre), dil = two("dilation", {1, 1});
        auto op = two("output_padding", {0, 0});
        sh = st[0]; sw = st[1]; pt = pre[0]; pl = pre[1]; pb = post[0]; pr = post[1]; dh = dil[0]; dw = dil[1]; oph = op[0]; opw = op[1];
        groups = f.getInt("num_groups", 1);
        // Bounded so that the shape arithmetic below stays far from int64 overflow (a padding of 2^61 is refused here).
        const char* names[] = {"num_output_maps", "kernel_size", "kernel_size", "stride", "stride", "pre_padding", "pre_padding",
                               "post_padding", "post_padding", "dilation", "dilation", "num_groups", "output_padding", "output_padding"};
        const int64_t values[] = {K, R, S, sh, sw, pt, pl, pb, pr, dh, dw, groups, oph, opw};
        for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); ++i)
            checkedSizeField(values[i], ErrorCode::kINVALID_ARGUMENT, type, " field '", names[i], "'");
        GIE_CHECK(R > 0 && S > 0 && sh > 0 && sw > 0 && dh > 0 && dw > 0, ErrorCode::kINVALID_ARGUMENT, type,
                  ": kernel size, stride and dilation must be positive");
        GIE_CHECK(pt >= 0 && pl >= 0 && pb >= 0 && pr >= 0 && oph >= 0 && opw >= 0, ErrorCode::kINVALID_ARGUMENT, type, ": padding must be >= 0");
        GIE_CHECK(groups >= 1 && K % groups == 0, ErrorCode::kINVALID_ARGUMENT, type, ": num_output_maps ", K, " is not divisible by num_groups ", groups);
        kernelCount = f.count("kernel");
        biasCount = f.count("bias");
        GIE_CHECK(biasCount == 0 || biasCount == K, ErrorCode::kINVALID_ARGUMENT, type, " bias has ", biasCount, " values, expected ", K);
        GIE_CHECK(kernelCount > 0, ErrorCode::kINVALID_ARGUMENT, type, " needs kernel weights (field 'kernel')");
        activation = f.getInt("activation_type", -1);
        actAlpha = f.getFloat("activation_alpha", 0.f);
        actBeta = f.getFloat("activation_beta", 0.f);
    }
    //! Inputs: the data, and optionally a residual shaped like the output.
    void checkResidual(const std::vector<Dims>& in, const Dims& out) const {
        if (in.size() == 2)
            GIE_CHECK(in[1] == out, ErrorCode::kINVALID_MODEL, what, ": residual input ", toString(in[1]), " must have the output shape ",
                      toString(out));
    }
    //! Weight count K * C/groups * R * S (convolution) or C * K/groups * R * S (deconvolution) for `perGroup` = C/groups or K/groups.
    int64_t weightsNeeded(int64_t outer, int64_t perGroup) const {
        int64_t n = checkedMul(outer, perGroup, ErrorCode::kINVALID_MODEL, what, " weight count");
        n = checkedMul(n, R, ErrorCode::kINVALID_MODEL, what, " weight count");
        return checkedMul(n, S, ErrorCode::kINVALID_MODEL, what, " weight count");
    }
    //! Extent of the dilated kernel along a dimension: dilation * (size - 1) + 1.
    int64_t span(int64_t dil, int64_t size, const char* dim) const {
        return checkedMul(dil, size - 1, ErrorCode::kINVALID_MODEL, what, " dilated kernel ", dim) + 1;
    }
    void checkInput(const Dims& x) const {
        GIE_CHECK(x.nbDims == 4, ErrorCode::kINVALID_MODEL, what, " needs a 4D NCHW input, got ", toString(x));
        GIE_CHECK(x.d[1] % groups == 0, ErrorCode::kINVALID_MODEL, what, ": input channels ", x.d[1], " not divisible by num_groups ", groups);
    }
};

struct ConvolutionOp : ConvParamsOp {
    static constexpr const char* kType = "Convolution";
    static std::vector<const char*> halfWeightFields() { return {"kernel"}; }  // FP16 kernels keep the kernel in half
    explicit ConvolutionOp(const FieldMap& f) : ConvParamsOp(f, kType) {}
    // Callers have checked the kernel fits the padded input (outputDims), so these are exact and overflow-free.
    int64_t outH(int64_t H) const { return (H + pt + pb - dh * (R - 1) - 1) / sh + 1; }
    int64_t outW(int64_t W) const { return (W + pl + pr - dw * (S - 1) - 1) / sw + 1; }
    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 1, 2, kType);
        checkInput(in[0]);
        int64_t C = in[0].d[1];
        const int64_t need = weightsNeeded(K, C / groups);
        GIE_CHECK(kernelCount == need, ErrorCode::kINVALID_MODEL, "Convolution kernel has ", kernelCount,
                  " values; for ", C, " input channels it needs K*C/groups*R*S = ", K, "*", C / groups, "*", R, "*", S, " = ", need);
        GIE_CHECK(in[0].d[2] + pt + pb >= span(dh, R, "height") && in[0].d[3] + pl + pr >= span(dw, S, "width"), ErrorCode::kINVALID_MODEL,
                  "Convolution kernel ", R, "x", S, " (dilation ", dh, "x", dw, ") is larger than the padded input ", toString(in[0]));
        out[0] = dims4(in[0].d[0], K, outH(in[0].d[2]), outW(in[0].d[3]));
        checkResidual(in, out[0]);
    }
};

struct DeconvolutionOp : ConvParamsOp {
    static constexpr const char* kType = "Deconvolution";
    static std::vector<const char*> halfWeightFields() { return {"kernel"}; }  // FP16 kernels keep the kernel in half
    explicit DeconvolutionOp(const FieldMap& f) : ConvParamsOp(f, kType) {}
    // outputDims checks these with overflow-checked arithmetic first.
    int64_t outH(int64_t H) const { return (H - 1) * sh - pt - pb + dh * (R - 1) + 1 + oph; }
    int64_t outW(int64_t W) const { return (W - 1) * sw - pl - pr + dw * (S - 1) + 1 + opw; }
    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 1, 1, kType);
        checkInput(in[0]);
        int64_t C = in[0].d[1];
        const int64_t need = weightsNeeded(C, K / groups);
        GIE_CHECK(kernelCount == need, ErrorCode::kINVALID_MODEL, "Deconvolution kernel has ", kernelCount,
                  " values; for ", C, " input channels it needs C*K/groups*R*S = ", need);
        const int64_t H = in[0].d[2], W = in[0].d[3];
        if (H > 0 && W > 0) {
            checkedAdd(checkedMul(H - 1, sh, ErrorCode::kINVALID_MODEL, kType, " output height"), span(dh, R, "height") + oph,
                       ErrorCode::kINVALID_MODEL, kType, " output height");
            checkedAdd(checkedMul(W - 1, sw, ErrorCode::kINVALID_MODEL, kType, " output width"), span(dw, S, "width") + opw,
                       ErrorCode::kINVALID_MODEL, kType, " output width");
        }
        out[0] = dims4(in[0].d[0], K, outH(in[0].d[2]), outW(in[0].d[3]));
        GIE_CHECK(out[0].d[2] > 0 && out[0].d[3] > 0, ErrorCode::kINVALID_MODEL, "Deconvolution output would be empty: ", toString(out[0]));
    }
};

}  // namespace gie
