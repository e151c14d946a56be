// CPU PRelu: per (n, c) plane with that channel's slope, parallel over planes (or chunks for one slope).
#include "common/parallel.h"
#include "layers/prelu.h"

namespace gie {
namespace {

class PReluCpu final : public Kernel<PReluCpu, PReluOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        const Dims& d = c.inDims(0);
        const float* x = c.in(0);
        float* y = c.out(0);
        const int64_t n = volume(d);
        if (n == 0) return;
        auto apply = [](const float* xp, float* yp, int64_t len, float s) {
            for (int64_t i = 0; i < len; ++i) yp[i] = xp[i] >= 0.f ? xp[i] : s * xp[i];
        };
        if (op_.slope.size() == 1) {
            const int64_t chunk = 16384;
            float s = op_.slope[0];
            parallelFor((n + chunk - 1) / chunk, n * 2, [&](int64_t ci) {
                int64_t b = ci * chunk;
                apply(x + b, y + b, std::min(n, b + chunk) - b, s);
            });
            return;
        }
        const int64_t C = d.d[1], inner = n / (d.d[0] * C);
        parallelFor(d.d[0] * C, n * 2, [&](int64_t nc) { apply(x + nc * inner, y + nc * inner, inner, op_.slope[nc % C]); });
    }
};
GIE_REGISTER_KERNEL(PReluCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
