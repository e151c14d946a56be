// CPU SqueezeExcitation (the reference): the spatial means (double sums), then per sample the two small
// matrix-vector products with their activations in float (layers/activation_math.h), one gate value per channel.
#include <vector>

#include "common/parallel.h"
#include "layers/squeeze_excitation.h"

namespace gie {
namespace {

class SqueezeExcitationCpu final : public Kernel<SqueezeExcitationCpu, SqueezeExcitationOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        const Dims& d = c.inDims(0);
        const int64_t N = d.d[0], C = d.d[1], Cs = op_.squeeze;
        const int64_t hw = volume(d) / std::max<int64_t>(N * C, 1);
        if (N * C == 0) return;
        const float* x = c.in(0);
        float* y = c.out(0);
        // The means in parallel over the (n, c) planes (one sample's SE at batch 1 would be one thread), then the
        // two small products per sample.
        std::vector<float> p(static_cast<size_t>(N * C));
        parallelFor(N * C, N * C * hw, [&](int64_t nc) {
            const float* xp = x + nc * hw;
            double s = 0;
            for (int64_t i = 0; i < hw; ++i) s += xp[i];
            p[static_cast<size_t>(nc)] = static_cast<float>(hw ? s / static_cast<double>(hw) : 0.0);
        });
        parallelFor(N, N * C * Cs * 2, [&](int64_t n) {
            std::vector<float> h(static_cast<size_t>(Cs));
            const float* pn = p.data() + n * C;
            for (int64_t j = 0; j < Cs; ++j) {
                float a = op_.bias1.empty() ? 0.f : op_.bias1[static_cast<size_t>(j)];
                const float* w = op_.kernel1.data() + j * C;
                for (int64_t ch = 0; ch < C; ++ch) a += w[ch] * pn[ch];
                h[static_cast<size_t>(j)] = activation(op_.act, a, op_.alpha, op_.beta);
            }
            for (int64_t ch = 0; ch < C; ++ch) {
                float a = op_.bias2.empty() ? 0.f : op_.bias2[static_cast<size_t>(ch)];
                const float* w = op_.kernel2.data() + ch * Cs;
                for (int64_t j = 0; j < Cs; ++j) a += w[j] * h[static_cast<size_t>(j)];
                y[n * C + ch] = activation(op_.gate, a, op_.gateAlpha, op_.gateBeta);
            }
        });
    }
};
GIE_REGISTER_KERNEL(SqueezeExcitationCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
