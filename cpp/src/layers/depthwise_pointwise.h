// DepthwisePointwise shape rules: a depthwise convolution and the 1x1 convolution that alone reads its output, as
// one layer (MobileNetV2's depthwise -> projection pairs):
//   m = dw(x)                 depthwise: num_groups = input channels = num_output_maps; its bias and activation
//   y = pw(m) [+ residual]    1x1, stride 1, no padding, one group; its bias, the optional residual (input 1, shaped
//                             like y) and its activation, as a Convolution's fused epilogue
// fuse_depthwise_pointwise makes it for the CPU, where kernels/depthwise_pointwise_cpu.cpp computes it one band of
// output rows at a time (m lives in a per-thread band buffer, and the two layers share one parallel loop). CPU only
// (no GPU kernel).
//
// Fields: the depthwise convolution's Convolution fields (layers/convolution.h) named with the prefix "dw_", the 1x1
// convolution's with the prefix "pw_" (e.g. dw_kernel, dw_stride, pw_num_output_maps, pw_activation_type).
#pragma once

#include <string>
#include <vector>

#include "layers/convolution.h"

namespace gie {

struct DepthwisePointwiseOp : OpBase {
    static constexpr const char* kType = "DepthwisePointwise";
    static std::vector<FieldSpec> fieldSpecs() {
        static const std::vector<std::string> names = [] {
            std::vector<std::string> n;
            for (const char* prefix : {"dw_", "pw_"})
                for (const FieldSpec& s : ConvParamsOp::fieldSpecs()) n.push_back(prefix + std::string(s.name));
            return n;
        }();
        std::vector<FieldSpec> specs;
        const std::vector<FieldSpec> conv = ConvParamsOp::fieldSpecs();
        for (size_t i = 0; i < names.size(); ++i) specs.push_back({names[i].c_str(), conv[i % conv.size()].type});
        return specs;
    }
    static std::vector<const char*> halfWeightFields() { return {"dw_kernel", "pw_kernel"}; }
    //! The fields named `prefix`... without the prefix (one convolution's fields).
    static FieldMap part(const FieldMap& f, const std::string& prefix) {
        FieldMap r;
        for (size_t i = 0; i < f.size(); ++i) {
            const Field& x = f.at(i);
            if (x.name.rfind(prefix, 0) != 0) continue;
            Field y = x;
            y.name = x.name.substr(prefix.size());
            r.set(y.view());
        }
        return r;
    }

    ConvolutionOp dw, pw;

    explicit DepthwisePointwiseOp(const FieldMap& f) : dw(part(f, "dw_")), pw(part(f, "pw_")) {
        GIE_CHECK(dw.groups == dw.K, ErrorCode::kINVALID_ARGUMENT, kType, ": the depthwise convolution needs dw_num_groups = "
                  "dw_num_output_maps, got ", dw.groups, " and ", dw.K);
        GIE_CHECK(pw.R == 1 && pw.S == 1 && pw.sh == 1 && pw.sw == 1 && pw.pt == 0 && pw.pl == 0 && pw.pb == 0 && pw.pr == 0 &&
                      pw.groups == 1,
                  ErrorCode::kINVALID_ARGUMENT, kType, ": the pointwise convolution must be 1x1, stride 1, unpadded, one group");
    }
    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 1, 2, kType);
        GIE_CHECK(in[0].nbDims == 4 && in[0].d[1] == dw.K, ErrorCode::kINVALID_MODEL, kType, ": the depthwise convolution (",
                  dw.K, " groups and outputs) needs an (N, ", dw.K, ", H, W) input, got ", toString(in[0]));
        std::vector<Dims> mid(1);
        dw.outputDims({in[0]}, mid);
        std::vector<Dims> pin{mid[0]};
        if (in.size() == 2) pin.push_back(in[1]);
        pw.outputDims(pin, out);
    }
};

}  // namespace gie
