// CPU pooling (max / average, NCHW), parallel over (n, c) planes.
#include <cfloat>

#include "common/parallel.h"
#include "layers/pooling.h"

namespace gie {
namespace {

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
        parallelFor(N * C, N * C * P * Q * kh * kw, [&](int64_t nc) {
            const float* xp = in + (nc / C) * xBatchStride + (nc % C) * H * W;
            float* yp = out + (nc / C) * yBatchStride + (nc % C) * P * Q;
            for (int64_t p = 0; p < P; ++p) {
                int64_t h0 = p * sh - pt, h1 = std::min(h0 + kh, H + pb);
                int64_t hs = std::max<int64_t>(h0, 0), he = std::min(h1, H);
                for (int64_t q = 0; q < Q; ++q) {
                    int64_t w0 = q * sw - pl, w1 = std::min(w0 + kw, W + pr);
                    int64_t ws = std::max<int64_t>(w0, 0), we = std::min(w1, W);
                    if (isMax) {
                        float m = -FLT_MAX;
                        for (int64_t h = hs; h < he; ++h)
                            for (int64_t w = ws; w < we; ++w) m = std::max(m, xp[h * W + w]);
                        yp[p * Q + q] = m;
                    } else {
                        float s = 0.f;
                        for (int64_t h = hs; h < he; ++h)
                            for (int64_t w = ws; w < we; ++w) s += xp[h * W + w];
                        int64_t count = exclude ? (he - hs) * (we - ws) : (h1 - h0) * (w1 - w0);
                        yp[p * Q + q] = count > 0 ? s / static_cast<float>(count) : 0.f;
                    }
                }
            }
        });
    }
};
GIE_REGISTER_KERNEL(PoolingCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
