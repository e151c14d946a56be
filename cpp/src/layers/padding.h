// Padding shape rules: pads any dimensions of a tensor of any rank and type.
//
// Fields: pre_padding, post_padding (one value per dimension; fewer values apply to the trailing
// dimensions, so (1, 2) pads the last two), mode PaddingMode (constant / reflect / edge; default constant),
// value (float, default 0; the constant). Negative padding crops (constant mode only). Reflect and edge
// follow numpy.pad ('reflect' mirrors without repeating the edge, repeatedly for pads wider than the
// dimension; 'edge' repeats the border value).
#pragma once

#include <vector>

#include "layers/simple.h"

namespace gie {

struct PaddingOp : AnyTypeOp {
    static constexpr const char* kType = "Padding";
    static std::vector<FieldSpec> fieldSpecs() {
        return {{"pre_padding", PluginFieldType::kINT64}, {"post_padding", PluginFieldType::kINT64},
                {"mode", PluginFieldType::kINT64}, {"value", PluginFieldType::kFLOAT32}};
    }
    std::vector<int64_t> pre, post;
    PaddingMode mode = PaddingMode::kCONSTANT;
    float value = 0.f;

    explicit PaddingOp(const FieldMap& f) {
        pre = f.ints("pre_padding");
        post = f.ints("post_padding", std::vector<int64_t>(pre.size(), 0));
        if (!f.has("pre_padding")) pre.assign(post.size(), 0);
        GIE_CHECK(pre.size() == post.size(), ErrorCode::kINVALID_ARGUMENT, "Padding: pre_padding has ", pre.size(),
                  " values but post_padding has ", post.size(), "; they need one value per padded dimension each");
        GIE_CHECK(pre.size() <= static_cast<size_t>(Dims::MAX_DIMS), ErrorCode::kINVALID_ARGUMENT, "Padding: ", pre.size(),
                  " padded dimensions given; at most 8 are supported");
        for (size_t i = 0; i < pre.size(); ++i) {
            checkedSizeField(pre[i], ErrorCode::kINVALID_ARGUMENT, "Padding pre_padding[", i, "]");
            checkedSizeField(post[i], ErrorCode::kINVALID_ARGUMENT, "Padding post_padding[", i, "]");
        }
        int64_t m = f.getInt("mode", 0);
        GIE_CHECK(m >= 0 && m <= 2, ErrorCode::kINVALID_ARGUMENT, "Padding: unknown mode ", m, " (0 constant, 1 reflect, 2 edge)");
        mode = static_cast<PaddingMode>(m);
        value = f.getFloat("value", 0.f);
        if (mode != PaddingMode::kCONSTANT)
            for (size_t i = 0; i < pre.size(); ++i)
                GIE_CHECK(pre[i] >= 0 && post[i] >= 0, ErrorCode::kINVALID_ARGUMENT, "Padding: negative padding (", pre[i], ", ", post[i],
                          ") at padded dimension ", i, " is only allowed in constant mode");
    }
    //! Full-rank pre/post padding for an input of `rank` dimensions.
    void full(int rank, int64_t* p0, int64_t* p1) const {
        GIE_CHECK(static_cast<int>(pre.size()) <= rank, ErrorCode::kINVALID_MODEL, "Padding: ", pre.size(),
                  " padding values given for a ", rank, "-dimensional input");
        int off = rank - static_cast<int>(pre.size());
        for (int i = 0; i < rank; ++i) {
            p0[i] = i < off ? 0 : pre[static_cast<size_t>(i - off)];
            p1[i] = i < off ? 0 : post[static_cast<size_t>(i - off)];
        }
    }
    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 1, 1, kType);
        const Dims& x = in[0];
        int64_t p0[Dims::MAX_DIMS], p1[Dims::MAX_DIMS];
        full(x.nbDims, p0, p1);
        out[0] = x;
        for (int i = 0; i < x.nbDims; ++i) {
            out[0].d[i] = x.d[i] + p0[i] + p1[i];
            GIE_CHECK(out[0].d[i] >= 0, ErrorCode::kINVALID_MODEL, "Padding: dimension ", i, " of ", toString(x), " padded by (", p0[i],
                      ", ", p1[i], ") would be negative");
            GIE_CHECK(mode == PaddingMode::kCONSTANT || x.d[i] > 0 || (p0[i] == 0 && p1[i] == 0), ErrorCode::kINVALID_MODEL,
                      "Padding: cannot reflect or extend dimension ", i, " of size 0 in ", toString(x));
        }
    }
    bool supports(int pos, const TensorDesc* inOut, int nIn, int) const {
        return inOut[pos].format == TensorFormat::kLINEAR && (pos < nIn || inOut[pos].type == inOut[0].type);
    }
};

}  // namespace gie
