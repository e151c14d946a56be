// CPU LRN across channels: for a block of spatial positions of one batch item, a running window sum of
// squares (in double) slides over the channels. Parallel over (batch item, spatial block).
#include <cmath>
#include <vector>

#include "common/parallel.h"
#include "layers/lrn.h"

namespace gie {
namespace {

class LRNCpu final : public Kernel<LRNCpu, LRNOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        const Dims& d = c.inDims(0);
        const int64_t N = d.d[0], C = d.d[1], S = splitAtAxis(d, 1).inner;
        if (N * C * S == 0) return;
        const float* x = c.in(0);
        float* y = c.out(0);
        const int64_t half = op_.window / 2;
        const double scale = static_cast<double>(op_.alpha) / static_cast<double>(op_.window);
        const double k = op_.k;
        const float negBeta = -op_.beta;
        const int betaKind = op_.beta == 0.75f ? 0 : op_.beta == 0.5f ? 1 : op_.beta == 1.f ? 2 : 3;
        const int64_t blk = 256;
        const int64_t nBlocks = (S + blk - 1) / blk;
        parallelFor(N * nBlocks, N * C * S * 8, [&](int64_t task) {
            const int64_t n = task / nBlocks, s0 = (task % nBlocks) * blk, len = std::min(S, s0 + blk) - s0;
            const float* xb = x + n * C * S + s0;
            float* yb = y + n * C * S + s0;
            double acc[blk];
            float base[blk];
            for (int64_t i = 0; i < len; ++i) acc[i] = 0.0;
            auto add = [&](int64_t ch, double sign) {
                const float* xp = xb + ch * S;
                for (int64_t i = 0; i < len; ++i) acc[i] += sign * static_cast<double>(xp[i]) * xp[i];
            };
            for (int64_t ch = 0; ch <= std::min(half, C - 1); ++ch) add(ch, 1.0);  // window of channel 0
            for (int64_t ch = 0; ch < C; ++ch) {
                const float* xp = xb + ch * S;
                float* yp = yb + ch * S;
                for (int64_t i = 0; i < len; ++i) {
                    double sum = acc[i] > 0.0 ? acc[i] : 0.0;  // guard tiny negative drift
                    base[i] = static_cast<float>(k + scale * sum);
                }
                switch (betaKind) {  // y = x * base^-beta, with the common exponents spelled out
                    case 0: for (int64_t i = 0; i < len; ++i) yp[i] = xp[i] / std::sqrt(base[i] * std::sqrt(base[i])); break;
                    case 1: for (int64_t i = 0; i < len; ++i) yp[i] = xp[i] / std::sqrt(base[i]); break;
                    case 2: for (int64_t i = 0; i < len; ++i) yp[i] = xp[i] / base[i]; break;
                    default: for (int64_t i = 0; i < len; ++i) yp[i] = xp[i] * std::pow(base[i], negBeta); break;
                }
                if (ch + half + 1 < C) add(ch + half + 1, 1.0);
                if (ch - half >= 0) add(ch - half, -1.0);
            }
        });
    }
};
GIE_REGISTER_KERNEL(LRNCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
