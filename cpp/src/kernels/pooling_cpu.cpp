// CPU pooling (max / average, NCHW), parallel over (n, c) planes. A window that covers the whole
// unpadded plane (global pooling, e.g. squeeze-excitation) is one vectorised reduction per plane; other
// windows take the direct loop, whose interior columns (window inside the row) are vectorised over q.
#include <algorithm>
#include <cfloat>

#include "common/parallel.h"
#include "layers/pooling.h"

namespace gie {
namespace {

// Sum / max of n floats with 16 independent partial results (vectorisable without reassociation).
float planeSum(const float* x, int64_t n) {
    float part[16] = {};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; ++j) part[j] += x[i + j];
    float s = 0.f;
    for (int j = 0; j < 16; ++j) s += part[j];
    for (; i < n; ++i) s += x[i];
    return s;
}
float planeMax(const float* x, int64_t n) {
    float part[16];
    for (int j = 0; j < 16; ++j) part[j] = -FLT_MAX;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; ++j) part[j] = std::max(part[j], x[i + j]);
    float m = -FLT_MAX;
    for (int j = 0; j < 16; ++j) m = std::max(m, part[j]);
    for (; i < n; ++i) m = std::max(m, x[i]);
    return m;
}

class PoolingCpu final : public Kernel<PoolingCpu, PoolingOp> {
public:
    using Kernel::Kernel;
    bool supportsStridedOutput() const noexcept override { return true; }
    bool supportsStridedInput() const noexcept override { return true; }
    void run(const KernelCall& c) const override {
        const Dims& x = c.inDims(0);
        const Dims& y = c.outDims(0);
        int64_t N = x.d[0], C = x.d[1], H = x.d[2], W = x.d[3], P = y.d[2], Q = y.d[3];
        int64_t kh, kw;
        op_.window(H, W, kh, kw);
        int64_t sh = op_.global ? 1 : op_.sh, sw = op_.global ? 1 : op_.sw;
        int64_t pt = op_.global ? 0 : op_.pt, pl = op_.global ? 0 : op_.pl;
        int64_t pb = op_.global ? 0 : op_.pb, pr = op_.global ? 0 : op_.pr;
        const float* in = c.in(0);
        float* out = c.out(0);
        bool isMax = op_.type == PoolingType::kMAX;
        bool exclude = op_.excludePadding;
        int64_t yBatchStride = c.outDesc[0].strides.d[0], xBatchStride = c.inDesc[0].strides.d[0];
        if (P == 1 && Q == 1 && kh == H && kw == W && pt == 0 && pl == 0 && pb == 0 && pr == 0) {
            parallelFor(N * C, N * C * H * W, [&](int64_t nc) {
                const float* xp = in + (nc / C) * xBatchStride + (nc % C) * H * W;
                out[(nc / C) * yBatchStride + nc % C] =
                    isMax ? planeMax(xp, H * W) : planeSum(xp, H * W) / static_cast<float>(H * W);
            });
            return;
        }
        parallelFor(N * C, N * C * P * Q * kh * kw, [&](int64_t nc) {
            const float* xp = in + (nc / C) * xBatchStride + (nc % C) * H * W;
            float* yp = out + (nc / C) * yBatchStride + (nc % C) * P * Q;
            // Interior columns [qa, qb): the window lies inside the row, so each (h, t) is one
            // contiguous (or strided) sweep over q; same order of operations as the scalar loop.
            const int64_t qa = std::min(Q, (pl + sw - 1) / sw);
            const int64_t qb = std::max(qa, std::min(Q, W + pl - kw >= 0 ? (W + pl - kw) / sw + 1 : 0));
            for (int64_t p = 0; p < P; ++p) {
                int64_t h0 = p * sh - pt, h1 = std::min(h0 + kh, H + pb);
                int64_t hs = std::max<int64_t>(h0, 0), he = std::min(h1, H);
                float* __restrict yr = yp + p * Q;
                for (int64_t q = qa; q < qb; ++q) yr[q] = isMax ? -FLT_MAX : 0.f;
                for (int64_t h = hs; h < he; ++h)
                    for (int64_t t = 0; t < kw; ++t) {
                        const float* xr = xp + h * W - pl + t;
                        if (isMax && sw == 1) {
                            for (int64_t q = qa; q < qb; ++q) yr[q] = std::max(yr[q], xr[q]);
                        } else if (isMax) {
                            for (int64_t q = qa; q < qb; ++q) yr[q] = std::max(yr[q], xr[q * sw]);
                        } else if (sw == 1) {
                            for (int64_t q = qa; q < qb; ++q) yr[q] += xr[q];
                        } else {
                            for (int64_t q = qa; q < qb; ++q) yr[q] += xr[q * sw];
                        }
                    }
                if (!isMax) {
                    const int64_t count = exclude ? (he - hs) * kw : (h1 - h0) * kw;
                    for (int64_t q = qa; q < qb; ++q) yr[q] = count > 0 ? yr[q] / static_cast<float>(count) : 0.f;
                }
                for (int64_t q = 0; q < Q; ++q) {
                    if (q == qa) q = qb;  // interior done above
                    if (q >= Q) break;
                    int64_t w0 = q * sw - pl, w1 = std::min(w0 + kw, W + pr);
                    int64_t ws = std::max<int64_t>(w0, 0), we = std::min(w1, W);
                    if (isMax) {
                        float m = -FLT_MAX;
                        for (int64_t h = hs; h < he; ++h)
                            for (int64_t w = ws; w < we; ++w) m = std::max(m, xp[h * W + w]);
                        yr[q] = m;
                    } else {
                        float s = 0.f;
                        for (int64_t h = hs; h < he; ++h)
                            for (int64_t w = ws; w < we; ++w) s += xp[h * W + w];
                        int64_t count = exclude ? (he - hs) * (we - ws) : (h1 - h0) * (w1 - w0);
                        yr[q] = count > 0 ? s / static_cast<float>(count) : 0.f;
                    }
                }
            }
        });
    }
};
GIE_REGISTER_KERNEL(PoolingCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
