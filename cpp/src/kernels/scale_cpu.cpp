// CPU Scale: y = (x * scale + shift) ^ power over rows of the input, parallel over rows / chunks.
#include <cmath>

#include "common/parallel.h"
#include "layers/scale.h"

namespace gie {
namespace {

class ScaleCpu final : public Kernel<ScaleCpu, ScaleOp> {
public:
    explicit ScaleCpu(FieldMap f) : Kernel(std::move(f)) {
        hasPower_ = false;
        for (float p : op_.power) hasPower_ = hasPower_ || p != 1.f;
    }

    void run(const KernelCall& c) const override {
        const Dims& d = c.inDims(0);
        const float* x = c.in(0);
        float* y = c.out(0);
        const int64_t n = volume(d);
        if (n == 0) return;
        const bool hs = !op_.scale.empty(), hb = !op_.shift.empty();
        const float* S = hs ? op_.scale.data() : nullptr;
        const float* B = hb ? op_.shift.data() : nullptr;
        const float* P = hasPower_ ? op_.power.data() : nullptr;

        // Applies one weight value (index w of each given weight) to a contiguous run.
        auto runSame = [&](const float* xp, float* yp, int64_t len, int64_t w) {
            float s = hs ? S[w] : 1.f, b = hb ? B[w] : 0.f;
            if (P && P[w] != 1.f) {
                float p = P[w];
                for (int64_t i = 0; i < len; ++i) yp[i] = std::pow(xp[i] * s + b, p);
            } else {
                for (int64_t i = 0; i < len; ++i) yp[i] = xp[i] * s + b;
            }
        };

        if (op_.mode == ScaleMode::kUNIFORM) {
            const int64_t chunk = 16384;
            parallelFor((n + chunk - 1) / chunk, n * (P ? 16 : 2), [&](int64_t ci) {
                int64_t s = ci * chunk, len = std::min(n, s + chunk) - s;
                runSame(x + s, y + s, len, 0);
            });
            return;
        }
        const int a = op_.axis(d.nbDims);
        const AxisSplit sp = splitAtAxis(d, a);
        const int64_t outer = sp.outer, C = d.d[a], inner = sp.inner;
        if (op_.mode == ScaleMode::kCHANNEL) {
            parallelFor(outer * C, n * (P ? 16 : 2), [&](int64_t oc) {
                runSame(x + oc * inner, y + oc * inner, inner, oc % C);
            });
            return;
        }
        // ELEMENTWISE: the weights cover one block of C * inner elements; element i uses weight i % block.
        const int64_t block = C * inner;
        const int64_t chunk = 16384;
        parallelFor((n + chunk - 1) / chunk, n * (P ? 16 : 3), [&](int64_t ci) {
            int64_t s = ci * chunk, e = std::min(n, s + chunk), w = s % block;
            for (int64_t i = s; i < e; ++i) {
                float v = x[i] * (hs ? S[w] : 1.f) + (hb ? B[w] : 0.f);
                y[i] = (P && P[w] != 1.f) ? std::pow(v, P[w]) : v;
                if (++w == block) w = 0;
            }
        });
    }

private:
    bool hasPower_ = false;
};
GIE_REGISTER_KERNEL(ScaleCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
