// INT8 fully connected layer, the CPU reference (variant "int8"; docs/int8.md): INT8 LINEAR input flattened from
// `axis` on, weights quantized per output channel at configure, exact INT32 dot products (bias in accumulator
// units), then the requantization epilogue (kernels/int8_cpu.h): fused activation, INT8 or FP32 out.
#include <vector>

#include "common/parallel.h"
#include "kernels/int8_cpu.h"
#include "layers/fully_connected.h"

namespace gie {
namespace {

using namespace cpu::int8cpu;

class FullyConnectedInt8Cpu final : public Kernel<FullyConnectedInt8Cpu, FullyConnectedOp> {
public:
    GIE_INT8_KERNEL_COMMON

    GIE_INT8_DATA_INPUT_FORMATS

protected:
    void configureKernel(const TensorDesc* in, int32_t, const TensorDesc*, int32_t) override {
        const int64_t perK = op_.inputsPerOutput();
        layer_ = configureLayer(fields_, op_, perK, in[0].scale, "FullyConnected");
    }
    void run(const KernelCall& c) const override {
        const int64_t K = op_.K, perK = op_.inputsPerOutput();
        const int64_t M = volume(c.outDims(0)) / K;
        const auto* xq = c.in<int8_t>(0);
        parallelFor(M, M * K * perK, [&](int64_t m) {
            std::vector<int32_t> acc(static_cast<size_t>(K));
            std::vector<float> row(static_cast<size_t>(K));
            const int8_t* xr = xq + m * perK;
            for (int64_t k = 0; k < K; ++k) {
                const int8_t* wk = layer_.weights.q.data() + k * perK;
                int32_t a = layer_.requant.bias[static_cast<size_t>(k)];
                for (int64_t i = 0; i < perK; ++i) a += static_cast<int32_t>(xr[i]) * static_cast<int32_t>(wk[i]);
                acc[static_cast<size_t>(k)] = a;
            }
            epilogueRow(acc.data(), K, layer_.requant.mult.data(), 1, nullptr, nullptr, layer_.ep, c.outputs[0], c.outDesc[0], m * K, row.data());
        });
    }

private:
    ConfiguredLayer layer_;
};
GIE_REGISTER_KERNEL(FullyConnectedInt8Cpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
