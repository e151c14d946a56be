// CPU softmax / log-softmax over one axis: the tensor is viewed as (outer, axis, inner).
#include <cmath>

#include "common/parallel.h"
#include "layers/softmax.h"

namespace gie {
namespace {

class SoftmaxCpu final : public Kernel<SoftmaxCpu, SoftmaxOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        const Dims& d = c.inDims(0);
        int ax = normalizeAxis(op_.axis, d.nbDims, "Softmax");
        const AxisSplit sp = splitAtAxis(d, ax);
        const int64_t outer = sp.outer, inner = sp.inner, n = d.d[ax];
        const float* x = c.in(0);
        float* y = c.out(0);
        bool log = op_.log;
        parallelFor(outer, outer * n * inner * 20, [&](int64_t o) {
            for (int64_t i = 0; i < inner; ++i) {
                const float* xp = x + o * n * inner + i;
                float* yp = y + o * n * inner + i;
                float m = -INFINITY;
                for (int64_t k = 0; k < n; ++k) m = std::max(m, xp[k * inner]);
                double s = 0;
                for (int64_t k = 0; k < n; ++k) s += std::exp(static_cast<double>(xp[k * inner] - m));
                if (log) {
                    float ls = static_cast<float>(std::log(s));
                    for (int64_t k = 0; k < n; ++k) yp[k * inner] = xp[k * inner] - m - ls;
                } else {
                    float inv = static_cast<float>(1.0 / s);
                    for (int64_t k = 0; k < n; ++k) yp[k * inner] = std::exp(xp[k * inner] - m) * inv;
                }
            }
        });
    }
};
GIE_REGISTER_KERNEL(SoftmaxCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
