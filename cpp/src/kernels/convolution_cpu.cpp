// CPU Convolution: im2col / direct 1x1 / depthwise on the blocked GEMM (kernels/conv2d_cpu.*).
#include <memory>

#include "kernels/conv2d_cpu.h"
#include "layers/convolution.h"
#include "layers/fused_activation.h"

namespace gie {
namespace {

class ConvolutionCpu final : public Kernel<ConvolutionCpu, ConvolutionOp> {
public:
    explicit ConvolutionCpu(FieldMap f) : Kernel(std::move(f)) {
        bias_ = fields_.floats("bias");
        setEpilogueActivation(op_.activation, op_.actAlpha, op_.actBeta, epilogue_, "Convolution");
    }

    size_t getWorkspaceSize() const noexcept override { return conv_ ? conv_->workspaceSize() : 0; }
    bool supportsStridedOutput() const noexcept override { return true; }
    bool supportsStridedInput() const noexcept override { return true; }

protected:
    void configureKernel(const TensorDesc* in, int32_t, const TensorDesc*, int32_t) override {
        const Dims& x = in[0].dims;
        cpu::Conv2dParams p;
        p.N = x.d[0]; p.C = x.d[1]; p.H = x.d[2]; p.W = x.d[3];
        p.K = op_.K; p.R = op_.R; p.S = op_.S;
        p.strideH = op_.sh; p.strideW = op_.sw;
        p.padTop = op_.pt; p.padLeft = op_.pl; p.padBottom = op_.pb; p.padRight = op_.pr;
        p.dilH = op_.dh; p.dilW = op_.dw; p.groups = op_.groups;
        auto w = fields_.floats("kernel");
        conv_ = std::make_shared<cpu::Conv2dCpu>(p, w.data());
    }
    void run(const KernelCall& c) const override {
        GIE_CHECK(conv_, ErrorCode::kINTERNAL, "Convolution kernel used before configure");
        const Dims& y = c.outDims(0);
        cpu::Epilogue ep = epilogue_;
        ep.bias = bias_.empty() ? nullptr : bias_.data();
        ep.residual = c.nbInputs > 1 ? c.in(1) : nullptr;
        GIE_CHECK(c.nbInputs < 2 || (c.outDesc[0].strides.d[0] == y.d[1] * y.d[2] * y.d[3] &&
                                     c.inDesc[1].strides.d[0] == y.d[1] * y.d[2] * y.d[3]),
                  ErrorCode::kINTERNAL, "Convolution: a residual needs packed output and residual tensors");
        conv_->run(c.inDims(0).d[0], c.in(0), c.out(0), c.outDesc[0].strides.d[0], ep, c.workspace, c.inDesc[0].strides.d[0]);
    }

private:
    std::vector<float> bias_;
    cpu::Epilogue epilogue_;
    std::shared_ptr<const cpu::Conv2dCpu> conv_;  // immutable once configured; shared by clones
};
GIE_REGISTER_KERNEL(ConvolutionCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
