// CPU FullyConnected: Y[M, K] = X[M, flat] * W[K, flat]^T + bias, on the blocked GEMM.
#include "kernels/gemm.h"
#include "layers/fully_connected.h"

namespace gie {
namespace {

class FullyConnectedCpu final : public Kernel<FullyConnectedCpu, FullyConnectedOp> {
public:
    explicit FullyConnectedCpu(FieldMap f) : Kernel(std::move(f)) {
        weights_ = fields_.floats("kernel");
        bias_ = fields_.floats("bias");
    }
    void run(const KernelCall& c) const override {
        const Dims& y = c.outDims(0);
        int64_t K = op_.K, flat = op_.inputsPerOutput();
        int64_t M = volume(y) / K;
        float* out = c.out(0);
        if (!bias_.empty()) {
            for (int64_t m = 0; m < M; ++m) std::copy(bias_.begin(), bias_.end(), out + m * K);
        }
        cpu::sgemm(false, true, M, K, flat, 1.f, c.in(0), flat, weights_.data(), flat, bias_.empty() ? 0.f : 1.f, out, K);
    }

private:
    std::vector<float> weights_, bias_;
};
GIE_REGISTER_KERNEL(FullyConnectedCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
