// Attention shape rules: scaled dot-product attention as one layer,
//   out = softmax(scale * Q K^T + mask) V        (softmax over the last axis, the keys)
// Inputs: Q (batch..., Sq, D), K (batch..., Sk, D) or, with transpose_k = 1, K^T (batch..., D, Sk), V (batch...,
// Sk, Dv), and optionally an additive mask that broadcasts numpy-style to the scores (batch..., Sq, Sk) (-inf
// masks a key out). Q, K and V have the same batch dimensions (any number, none included; nothing broadcasts
// between them). Output: (batch..., Sq, Dv).
// Fields: scale (default 1 / sqrt(D)), transpose_k (default 0).
// recognize_attention makes it from MatMul(Q, Transpose(K)) -> Mul / Div by a constant [-> Add mask] -> Softmax ->
// MatMul(., V) as torch exports attention; it can also be added directly.
#pragma once

#include <cmath>
#include <vector>

#include "plugin/builtin.h"

namespace gie {

//! The largest head size (D and Dv) of the GPU kernel (cuda/kernels/attention.cu): its per-thread accumulators are
//! sized for it. recognize_attention leaves larger heads to the unfused layers when it builds for the GPU.
constexpr int64_t kAttentionGpuMaxHead = 256;

struct AttentionOp : OpBase {
    static constexpr const char* kType = "Attention";
    static std::vector<FieldSpec> fieldSpecs() {
        return {{"scale", PluginFieldType::kFLOAT32}, {"transpose_k", PluginFieldType::kINT64}};
    }
    bool hasScale = false, transK = false;
    float scaleField = 0.f;

    explicit AttentionOp(const FieldMap& f) {
        hasScale = f.has("scale");
        scaleField = f.getFloat("scale", 0.f);
        GIE_CHECK(std::isfinite(scaleField), ErrorCode::kINVALID_ARGUMENT, "Attention: scale must be finite, got ", scaleField);
        const int64_t t = f.getInt("transpose_k", 0);
        GIE_CHECK(t == 0 || t == 1, ErrorCode::kINVALID_ARGUMENT, "Attention: transpose_k must be 0 or 1, got ", t);
        transK = t != 0;
    }

    //! The problem of inputs Q, K, V [, mask]: count matrices (the batch volume), Sq, Sk, D, Dv, and the mask's
    //! element strides (0 where it broadcasts): per batch dimension (right-aligned to the batch), query and key.
    struct Problem {
        Dims batch;
        int64_t count = 1, Sq = 0, Sk = 0, D = 0, Dv = 0;
        bool hasMask = false;
        int64_t maskBatchStride[Dims::MAX_DIMS] = {};
        int64_t maskQStride = 0, maskKStride = 0;
        Dims out;
        //! The mask element offset of batch matrix b (C order over `batch`).
        int64_t maskOffset(int64_t b) const {
            int64_t off = 0;
            for (int i = batch.nbDims - 1; i >= 0; --i) {
                off += (b % batch.d[i]) * maskBatchStride[i];
                b /= batch.d[i];
            }
            return off;
        }
    };
    Problem problem(const std::vector<Dims>& in) const {
        expectInputs(in, 3, 4, kType);
        const Dims &q = in[0], &k = in[1], &v = in[2];
        GIE_CHECK(q.nbDims >= 2 && k.nbDims == q.nbDims && v.nbDims == q.nbDims, ErrorCode::kINVALID_MODEL,
                  "Attention: Q, K and V need the same rank (at least 2), got ", toString(q), ", ", toString(k), " and ", toString(v));
        const int r = q.nbDims;
        Problem p;
        p.batch.nbDims = r - 2;
        for (int i = 0; i < r - 2; ++i) {
            GIE_CHECK(k.d[i] == q.d[i] && v.d[i] == q.d[i], ErrorCode::kINVALID_MODEL, "Attention: the batch dimensions of Q ", toString(q),
                      ", K ", toString(k), " and V ", toString(v), " differ");
            p.batch.d[i] = q.d[i];
            p.count *= q.d[i];
        }
        p.Sq = q.d[r - 2];
        p.D = q.d[r - 1];
        const int64_t kd = transK ? k.d[r - 2] : k.d[r - 1];
        p.Sk = transK ? k.d[r - 1] : k.d[r - 2];
        GIE_CHECK(kd == p.D, ErrorCode::kINVALID_MODEL, "Attention: K ", toString(k), transK ? " (given transposed)" : "",
                  " has head size ", kd, " but Q ", toString(q), " has ", p.D);
        GIE_CHECK(v.d[r - 2] == p.Sk, ErrorCode::kINVALID_MODEL, "Attention: V ", toString(v), " has ", v.d[r - 2],
                  " rows but K has ", p.Sk, " keys");
        p.Dv = v.d[r - 1];
        p.out = q;
        p.out.d[r - 1] = p.Dv;
        if (in.size() == 4) {
            const Dims& m = in[3];
            GIE_CHECK(m.nbDims <= r, ErrorCode::kINVALID_MODEL, "Attention: the mask ", toString(m), " has more dimensions than the scores");
            Dims scores = p.batch;
            scores.nbDims = r;
            scores.d[r - 2] = p.Sq;
            scores.d[r - 1] = p.Sk;
            int64_t stride = 1, strides[Dims::MAX_DIMS] = {};
            for (int i = r - 1; i >= 0; --i) {
                const int mi = i - (r - m.nbDims);
                const int64_t md = mi >= 0 ? m.d[mi] : 1;
                GIE_CHECK(md == 1 || md == scores.d[i], ErrorCode::kINVALID_MODEL, "Attention: the mask ", toString(m),
                          " does not broadcast to the scores ", toString(scores));
                strides[i] = md == 1 ? 0 : stride;
                stride *= md;
            }
            p.hasMask = true;
            for (int i = 0; i < r - 2; ++i) p.maskBatchStride[i] = strides[i];
            p.maskQStride = strides[r - 2];
            p.maskKStride = strides[r - 1];
        }
        return p;
    }
    float scale(int64_t D) const { return hasScale ? scaleField : static_cast<float>(1.0 / std::sqrt(static_cast<double>(D > 0 ? D : 1))); }
    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const { out[0] = problem(in).out; }
};

}  // namespace gie
