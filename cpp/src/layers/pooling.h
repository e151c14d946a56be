// Pooling shape rules (2D, NCHW): max and average, padding, ceil mode (Caffe rounding), global.
#pragma once

#include "gie/network.h"
#include "plugin/builtin.h"

namespace gie {

struct PoolingOp : OpBase {
    static constexpr const char* kType = "Pooling";
    static std::vector<FieldSpec> fieldSpecs() {
        return {{"pooling_type", PluginFieldType::kINT64}, {"window_size", PluginFieldType::kINT64},
                {"stride", PluginFieldType::kINT64},      {"pre_padding", PluginFieldType::kINT64},
                {"post_padding", PluginFieldType::kINT64}, {"exclude_padding", PluginFieldType::kINT64},
                {"ceil_mode", PluginFieldType::kINT64},   {"global", PluginFieldType::kINT64}};
    }
    PoolingType type;
    int64_t kh, kw, sh, sw, pt, pl, pb, pr;
    bool excludePadding, ceilMode, global;

    explicit PoolingOp(const FieldMap& f) {
        int64_t t = f.getInt("pooling_type", 0);
        GIE_CHECK(t == 0 || t == 1, ErrorCode::kINVALID_ARGUMENT, "unknown pooling type ", t);
        type = static_cast<PoolingType>(t);
        global = f.getInt("global", 0) != 0;
        auto win = f.ints("window_size", {1, 1});
        auto st = f.ints("stride", {1, 1});
        auto pre = f.ints("pre_padding", {0, 0});
        auto post = f.ints("post_padding", pre);
        GIE_CHECK(win.size() == 2 && st.size() == 2 && pre.size() == 2 && post.size() == 2, ErrorCode::kINVALID_ARGUMENT,
                  "Pooling supports 2D windows: window_size, stride, pre_padding and post_padding need 2 values each");
        kh = win[0]; kw = win[1]; sh = st[0]; sw = st[1]; pt = pre[0]; pl = pre[1]; pb = post[0]; pr = post[1];
        for (int i = 0; i < 2; ++i) {  // bounded: the shape arithmetic below cannot overflow
            checkedSizeField(win[i], ErrorCode::kINVALID_ARGUMENT, "Pooling window_size[", i, "]");
            checkedSizeField(st[i], ErrorCode::kINVALID_ARGUMENT, "Pooling stride[", i, "]");
            checkedSizeField(pre[i], ErrorCode::kINVALID_ARGUMENT, "Pooling pre_padding[", i, "]");
            checkedSizeField(post[i], ErrorCode::kINVALID_ARGUMENT, "Pooling post_padding[", i, "]");
        }
        GIE_CHECK(global || (kh > 0 && kw > 0), ErrorCode::kINVALID_ARGUMENT, "pooling window must be positive");
        GIE_CHECK(sh > 0 && sw > 0, ErrorCode::kINVALID_ARGUMENT, "pooling stride must be positive");
        GIE_CHECK(pt >= 0 && pl >= 0 && pb >= 0 && pr >= 0, ErrorCode::kINVALID_ARGUMENT, "pooling padding must be >= 0");
        GIE_CHECK(global || (pt < kh && pb < kh && pl < kw && pr < kw), ErrorCode::kINVALID_ARGUMENT,
                  "pooling padding must be smaller than the window");
        excludePadding = f.getInt("exclude_padding", 1) != 0;
        ceilMode = f.getInt("ceil_mode", 0) != 0;
    }
    //! Effective window for input spatial size (global pooling covers everything).
    void window(int64_t H, int64_t W, int64_t& wh, int64_t& ww) const {
        wh = global ? H : kh;
        ww = global ? W : kw;
    }
    static int64_t outSize(int64_t in, int64_t k, int64_t s, int64_t p0, int64_t p1, bool ceil) {
        int64_t span = in + p0 + p1 - k;
        if (span < 0) return 0;
        int64_t o = (ceil ? (span + s - 1) / s : span / s) + 1;
        if (ceil && (o - 1) * s >= in + p0) --o;  // the last window must start inside the input (Caffe)
        return o;
    }
    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 1, 1, kType);
        GIE_CHECK(in[0].nbDims == 4, ErrorCode::kINVALID_MODEL, "Pooling needs a 4D NCHW input, got ", toString(in[0]));
        int64_t wh, ww;
        window(in[0].d[2], in[0].d[3], wh, ww);
        out[0] = in[0];
        if (global) {
            out[0].d[2] = 1;
            out[0].d[3] = 1;
            return;
        }
        GIE_CHECK(in[0].d[2] + pt + pb >= wh && in[0].d[3] + pl + pr >= ww, ErrorCode::kINVALID_MODEL, "pooling window ", wh, "x", ww,
                  " is larger than the padded input ", in[0].d[2] + pt + pb, "x", in[0].d[3] + pl + pr, " (input ",
                  toString(in[0]), ", padding ", pt, "+", pb, " x ", pl, "+", pr, ")");
        out[0].d[2] = outSize(in[0].d[2], wh, sh, pt, pb, ceilMode);
        out[0].d[3] = outSize(in[0].d[3], ww, sw, pl, pr, ceilMode);
    }
};

}  // namespace gie
