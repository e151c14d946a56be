// INT8 concatenation, the CPU reference (variant "int8"; docs/int8.md): INT8 inputs, INT8 output, LINEAR, any axis.
// An input whose scale equals the output's (a shared scale) is copied byte for byte; another is requantized to the
// output's scale (dequantize, round half to even, saturate).
#include <cstring>

#include "common/parallel.h"
#include "kernels/int8_cpu.h"
#include "layers/concatenation.h"

namespace gie {
namespace {

using namespace cpu::int8cpu;

class ConcatenationInt8Cpu final : public Kernel<ConcatenationInt8Cpu, ConcatenationOp> {
public:
    GIE_INT8_KERNEL_COMMON

    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        return quantizedLinear(inOut[pos]);
    }

protected:
    void run(const KernelCall& c) const override {
        const Dims& y = c.outDims(0);
        const int a = op_.axis(y.nbDims);
        int64_t outer = 1, inner = 1;
        for (int i = 0; i < a; ++i) outer *= y.d[i];
        for (int i = a + 1; i < y.nbDims; ++i) inner *= y.d[i];
        const int64_t outRow = y.d[a] * inner;
        auto* out = c.out<int8_t>(0);
        const float sOut = c.outDesc[0].scale;
        int64_t at = 0;
        for (int k = 0; k < c.nbInputs; ++k) {
            const int64_t row = c.inDims(k).d[a] * inner;
            const auto* in = c.in<int8_t>(k);
            const float sIn = c.inDesc[k].scale;
            parallelFor(outer, outer * row, [&](int64_t o) {
                int8_t* dst = out + o * outRow + at;
                const int8_t* src = in + o * row;
                if (sIn == sOut) {
                    std::memcpy(dst, src, static_cast<size_t>(row));
                    return;
                }
                for (int64_t i = 0; i < row; ++i) dst[i] = int8::quantize(int8::dequantize(src[i], sIn), sOut);
            });
            at += row;
        }
    }
};
GIE_REGISTER_KERNEL(ConcatenationInt8Cpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
