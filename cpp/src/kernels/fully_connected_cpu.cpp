// CPU FullyConnected: Y[M, K] = X[M, flat] * W[K, flat]^T + bias, on the blocked GEMM.
#include "kernels/gemm.h"
#include "layers/fully_connected.h"
#include "layers/fused_activation.h"

namespace gie {
namespace {

class FullyConnectedCpu final : public Kernel<FullyConnectedCpu, FullyConnectedOp> {
public:
    explicit FullyConnectedCpu(FieldMap f) : Kernel(std::move(f)) {
        weights_ = fields_.floats("kernel");
        bias_ = fields_.floats("bias");
        setEpilogueActivation(op_.activation, op_.actAlpha, op_.actBeta, epilogue_, "FullyConnected");
        epilogue_.bias = nullptr;  // set per call: the vector may move when the kernel is copied
    }
    bool supportsStridedOutput() const noexcept override { return op_.axis == 1; }  // (N, K) rows, ldc apart
    void run(const KernelCall& c) const override {
        const Dims& y = c.outDims(0);
        int64_t K = op_.K, flat = op_.inputsPerOutput();
        int64_t M = volume(y) / K;
        cpu::Epilogue ep = epilogue_;
        ep.bias = bias_.empty() ? nullptr : bias_.data();
        // Rows are written ldc apart: a 2D output may be a slice of a wider concatenation buffer.
        int64_t ldc = y.nbDims == 2 ? c.outDesc[0].strides.d[0] : K;
        cpu::sgemmEpilogue(false, true, M, K, flat, 1.f, c.in(0), flat, weights_.data(), flat, 0.f, c.out(0), ldc, ep);
    }

private:
    std::vector<float> weights_, bias_;
    cpu::Epilogue epilogue_;
};
GIE_REGISTER_KERNEL(FullyConnectedCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
