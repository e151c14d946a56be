// INT8 element-wise arithmetic, the CPU reference (variant "int8"; docs/int8.md): SUM (a residual add), SUB, PROD,
// MAX and MIN of two INT8 tensors of one shape, each with its own scale; computed in FP32 on the dequantized values
// (a * s_a + b * s_b for SUM) and requantized with the output's scale (round half to even, saturate), or written
// as FP32.
#include "common/parallel.h"
#include "kernels/int8_cpu.h"
#include "layers/elementwise.h"

namespace gie {
namespace {

using namespace cpu::int8cpu;

class ElementWiseInt8Cpu final : public Kernel<ElementWiseInt8Cpu, ElementWiseOp> {
public:
    GIE_INT8_KERNEL_COMMON

    //! SUM, SUB, PROD, MAX, MIN; both inputs INT8 of the output's shape (no broadcasting); output INT8 or FLOAT; LINEAR.
    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t nIn, int32_t) const noexcept override {
        return op_.int8Computes(pos, inOut) && (quantizedLinear(inOut[pos]) || (pos >= nIn && floatLinear(inOut[pos])));
    }

protected:
    void run(const KernelCall& c) const override {
        using E = ElementWiseOperation;
        const int64_t n = volume(c.outDims(0));
        const TensorDesc &da = c.inDesc[0], &db = c.inDesc[1];
        parallelFor(n, n, [&](int64_t i) {
            const float a = loadReal(c.inputs[0], da, i), b = loadReal(c.inputs[1], db, i);
            float y;
            switch (op_.op) {
                case E::kSUM: y = a + b; break;
                case E::kSUB: y = a - b; break;
                case E::kPROD: y = a * b; break;
                case E::kMAX: y = a > b ? a : b; break;
                default: y = a < b ? a : b; break;
            }
            storeReal(c.outputs[0], c.outDesc[0], i, y);
        });
    }
};
GIE_REGISTER_KERNEL(ElementWiseInt8Cpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
