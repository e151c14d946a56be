// CPU Convolution: im2col / direct 1x1 / depthwise on the blocked GEMM (kernels/conv2d_cpu.*).
//
// Shapes at enqueue: a cpu::Conv2dCpu is prepared for one input plane size (its tap ranges, GEMM orientation
// and depthwise phase geometry depend on H and W), so the one built at configure (the largest shapes) serves
// calls of that plane size, and a call with a smaller plane gets one prepared for its size, built on first use
// and kept in a small cache shared by the clones (guarded by a mutex: enqueue runs on several threads at once).
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "kernels/conv2d_cpu.h"
#include "kernels/convolution_params.h"
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
        auto w = fields_.floats("kernel");
        conv_ = std::make_shared<cpu::Conv2dCpu>(conv2dParams(op_, in[0].dims), w.data());
        others_ = std::make_shared<OtherShapes>();
    }
    void run(const KernelCall& c) const override {
        GIE_CHECK(conv_, ErrorCode::kINTERNAL, "Convolution kernel used before configure");
        const Dims& y = c.outDims(0);
        const cpu::Conv2dCpu& conv = forShape(c.inDims(0), y);
        cpu::Epilogue ep = epilogue_;
        ep.bias = bias_.empty() ? nullptr : bias_.data();
        ep.residual = c.nbInputs > 1 ? c.in(1) : nullptr;
        GIE_CHECK(c.nbInputs < 2 || (c.outDesc[0].strides.d[0] == y.d[1] * y.d[2] * y.d[3] &&
                                     c.inDesc[1].strides.d[0] == y.d[1] * y.d[2] * y.d[3]),
                  ErrorCode::kINTERNAL, "Convolution: a residual needs packed output and residual tensors");
        conv.run(c.inDims(0).d[0], c.in(0), c.out(0), c.outDesc[0].strides.d[0], ep, c.workspace, c.inDesc[0].strides.d[0]);
    }

private:
    //! Convolutions prepared for plane sizes other than the configured one, by (H, W).
    struct OtherShapes {
        std::mutex mutex;
        std::map<std::pair<int64_t, int64_t>, std::shared_ptr<const cpu::Conv2dCpu>> byPlane;
    };
    //! Beyond this many plane sizes a call prepares its convolution without keeping it (memory stays bounded).
    static constexpr size_t kMaxCachedShapes = 8;

    //! The prepared convolution for input x (any shape up to the configured one) and output y.
    const cpu::Conv2dCpu& forShape(const Dims& x, const Dims& y) const {
        const cpu::Conv2dParams& cp = conv_->params();
        GIE_CHECK(x.nbDims == 4 && y.nbDims == 4 && x.d[0] <= cp.N && x.d[1] == cp.C && x.d[2] <= cp.H && x.d[3] <= cp.W,
                  ErrorCode::kINVALID_ARGUMENT, "Convolution: input ", toString(x), " exceeds the configured (", cp.N, ", ", cp.C, ", ", cp.H,
                  ", ", cp.W, ")");
        if (x.d[2] == cp.H && x.d[3] == cp.W) return *conv_;
        thread_local std::shared_ptr<const cpu::Conv2dCpu> uncached;  // keeps an uncached one alive for the call
        cpu::Conv2dParams p = cp;
        p.H = x.d[2];
        p.W = x.d[3];
        GIE_CHECK(p.P() == y.d[2] && p.Q() == y.d[3] && y.d[1] == cp.K, ErrorCode::kINVALID_ARGUMENT, "Convolution: input ", toString(x),
                  " gives a ", p.K, "x", p.P(), "x", p.Q(), " output, the call's output is ", toString(y));
        const auto key = std::make_pair(p.H, p.W);
        {
            std::lock_guard<std::mutex> lock(others_->mutex);
            auto it = others_->byPlane.find(key);
            if (it != others_->byPlane.end()) return *it->second;
        }
        const auto w = fields_.floats("kernel");
        auto made = std::make_shared<const cpu::Conv2dCpu>(p, w.data());
        GIE_CHECK(made->workspaceSize() <= conv_->workspaceSize(), ErrorCode::kINTERNAL, "Convolution: ", toString(x), " needs ",
                  made->workspaceSize(), " bytes of workspace, more than the configured shapes' ", conv_->workspaceSize());
        std::lock_guard<std::mutex> lock(others_->mutex);
        auto it = others_->byPlane.find(key);  // another thread may have made it meanwhile
        if (it != others_->byPlane.end()) return *it->second;
        if (others_->byPlane.size() < kMaxCachedShapes) return *(others_->byPlane[key] = std::move(made));
        uncached = std::move(made);
        return *uncached;
    }

    std::vector<float> bias_;
    cpu::Epilogue epilogue_;
    std::shared_ptr<const cpu::Conv2dCpu> conv_;  // immutable once configured; shared by clones
    std::shared_ptr<OtherShapes> others_;         // shared by clones (their configured shapes are the same)
};
GIE_REGISTER_KERNEL(ConvolutionCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
