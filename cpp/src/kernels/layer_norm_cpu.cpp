// CPU LayerNorm (the reference): the tensor viewed as (outer, n, inner) around the axis; per (outer, inner)
// column, mean and variance (two passes, accumulated in double so that the reference is exact to FP32 rounding
// whatever n), then y = (x - mean) * (1 / sqrt(var + eps)) * scale + bias in float. FP16 storage comes from
// HalfStorageCpu (GIE_REGISTER_KERNEL): inputs widened, this kernel, outputs rounded once.
#include <cmath>
#include <vector>

#include "common/parallel.h"
#include "layers/layer_norm.h"

namespace gie {
namespace {

class LayerNormCpu final : public Kernel<LayerNormCpu, LayerNormOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        const Dims& d = c.inDims(0);
        const int ax = normalizeAxis(op_.axis, d.nbDims, "LayerNorm");
        const AxisSplit sp = splitAtAxis(d, ax);
        const int64_t outer = sp.outer, inner = sp.inner, n = d.d[ax];
        if (outer * n * inner == 0) return;
        const float* x = c.in(0);
        float* y = c.out(0);
        parallelFor(outer, outer * n * inner * 6, [&](int64_t o) {
            for (int64_t i = 0; i < inner; ++i) {
                const float* xp = x + o * n * inner + i;
                float* yp = y + o * n * inner + i;
                double s = 0;
                for (int64_t k = 0; k < n; ++k) s += xp[k * inner];
                const double mean = s / static_cast<double>(n);
                double v = 0;
                for (int64_t k = 0; k < n; ++k) {
                    const double dk = xp[k * inner] - mean;
                    v += dk * dk;
                }
                const float rstd = static_cast<float>(1.0 / std::sqrt(v / static_cast<double>(n) + op_.epsilon));
                const float m = static_cast<float>(mean);
                for (int64_t k = 0; k < n; ++k) yp[k * inner] = (xp[k * inner] - m) * rstd * op_.scaleAt(k) + op_.biasAt(k);
            }
        });
    }
};
GIE_REGISTER_KERNEL(LayerNormCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
