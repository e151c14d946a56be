// CPU QuantizeDequantize (layers/quantize_dequantize.h): the float rounding of an ONNX Q/DQ pair, element by element.
#include <cmath>

#include "common/parallel.h"
#include "layers/quantize_dequantize.h"

namespace gie {
namespace {

class QuantizeDequantizeCpu final : public Kernel<QuantizeDequantizeCpu, QuantizeDequantizeOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        const int64_t n = volume(c.inDims(0));
        const float* x = c.in(0);
        float* y = c.out(0);
        const float s = op_.scale, zp = static_cast<float>(op_.zeroPoint), lo = static_cast<float>(op_.qmin), hi = static_cast<float>(op_.qmax);
        parallelFor(n, n, [&](int64_t i) {
            float q = std::nearbyint(x[i] / s) + zp;  // ONNX QuantizeLinear: round half to even, then add the zero point
            q = std::isnan(q) ? zp : (q < lo ? lo : (q > hi ? hi : q));
            y[i] = (q - zp) * s;  // DequantizeLinear
        });
    }
};
GIE_REGISTER_KERNEL(QuantizeDequantizeCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
