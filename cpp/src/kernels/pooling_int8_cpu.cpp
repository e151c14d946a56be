// INT8 pooling, the CPU reference (variant "int8"; docs/int8.md): max takes the largest q of the window (exact),
// average sums the window's q in INT32 and divides in FP32 by the same count as the FP32 kernel (padding
// excluded or not); the result y = max * s_in or (sum * s_in) / count is written as INT8 with the output's scale
// (identical to the input's scale in the usual case, then max pooling is a pure selection) or as FP32.
#include <algorithm>
#include <vector>

#include "common/parallel.h"
#include "kernels/int8_cpu.h"
#include "layers/pooling.h"

namespace gie {
namespace {

using namespace cpu::int8cpu;

class PoolingInt8Cpu final : public Kernel<PoolingInt8Cpu, PoolingOp> {
public:
    GIE_INT8_KERNEL_COMMON

    GIE_INT8_DATA_INPUT_FORMATS

protected:
    void run(const KernelCall& c) const override {
        const Dims& x = c.inDims(0);
        const Dims& y = c.outDims(0);
        const int64_t N = x.d[0], C = x.d[1], H = x.d[2], W = x.d[3], P = y.d[2], Q = y.d[3];
        int64_t kh, kw;
        op_.window(H, W, kh, kw);
        const int64_t sh = op_.global ? 1 : op_.sh, sw = op_.global ? 1 : op_.sw;
        const int64_t pt = op_.global ? 0 : op_.pt, pl = op_.global ? 0 : op_.pl;
        const int64_t pb = op_.global ? 0 : op_.pb, pr = op_.global ? 0 : op_.pr;
        const bool isMax = op_.type == PoolingType::kMAX;
        const float sIn = c.inDesc[0].scale;
        const auto* xq = c.in<int8_t>(0);
        parallelFor(N * C, N * C * P * Q * kh * kw, [&](int64_t nc) {
            const int8_t* xp = xq + nc * H * W;
            for (int64_t p = 0; p < P; ++p) {
                const int64_t h0 = p * sh - pt, h1 = std::min(h0 + kh, H + pb);
                const int64_t hs = std::max<int64_t>(h0, 0), he = std::min(h1, H);
                for (int64_t q = 0; q < Q; ++q) {
                    const int64_t w0 = q * sw - pl, w1 = std::min(w0 + kw, W + pr);
                    const int64_t ws = std::max<int64_t>(w0, 0), we = std::min(w1, W);
                    float v;
                    if (isMax) {
                        int32_t m = -128;
                        for (int64_t h = hs; h < he; ++h)
                            for (int64_t w = ws; w < we; ++w) m = std::max<int32_t>(m, xp[h * W + w]);
                        v = static_cast<float>(m) * sIn;
                    } else {
                        int32_t s = 0;
                        for (int64_t h = hs; h < he; ++h)
                            for (int64_t w = ws; w < we; ++w) s += xp[h * W + w];
                        const int64_t count = op_.excludePadding ? (he - hs) * (we - ws) : (h1 - h0) * (w1 - w0);
                        v = count > 0 ? static_cast<float>(s) * sIn / static_cast<float>(count) : 0.f;
                    }
                    storeReal(c.outputs[0], c.outDesc[0], (nc * P + p) * Q + q, v);
                }
            }
        });
    }
};
GIE_REGISTER_KERNEL(PoolingInt8Cpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
