// INT8 fully connected layer, the CPU reference (variant "int8"; docs/int8.md): INT8 LINEAR input flattened from
// `axis` on, weights quantized per output channel at configure, exact INT32 dot products (bias in accumulator
// units), then the requantization epilogue (kernels/int8_cpu.h): fused activation, INT8 or FP32 out.
#include <vector>

#include "common/parallel.h"
#include "kernels/int8_cpu.h"
#include "layers/fully_connected.h"
#include "layers/fused_activation.h"

namespace gie {
namespace {

using namespace cpu::int8cpu;

class FullyConnectedInt8Cpu final : public Kernel<FullyConnectedInt8Cpu, FullyConnectedOp> {
public:
    GIE_INT8_KERNEL_COMMON

    //! INT8 input; INT8 or FLOAT output; LINEAR.
    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        return int8DataInput(pos, inOut[pos]);
    }

protected:
    void configureKernel(const TensorDesc* in, int32_t, const TensorDesc*, int32_t) override {
        const int64_t perK = op_.inputsPerOutput();
        QuantizedLayer q = quantizeLayer(fields_, op_.K, perK, in[0].scale, "FullyConnected");
        weights_ = std::move(q.weights);
        requant_ = std::move(q.requant);
        setEpilogueActivation(op_.activation, op_.actAlpha, op_.actBeta, ep_, "FullyConnected (INT8)");
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
                const int8_t* wk = weights_.q.data() + k * perK;
                int32_t a = requant_.bias[static_cast<size_t>(k)];
                for (int64_t i = 0; i < perK; ++i) a += static_cast<int32_t>(xr[i]) * static_cast<int32_t>(wk[i]);
                acc[static_cast<size_t>(k)] = a;
            }
            epilogueRow(acc.data(), K, requant_.mult.data(), 1, nullptr, nullptr, ep_, c.outputs[0], c.outDesc[0], m * K, row.data());
        });
    }

private:
    ChannelWeights weights_;
    Requant requant_;
    cpu::Epilogue ep_;
};
GIE_REGISTER_KERNEL(FullyConnectedInt8Cpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
