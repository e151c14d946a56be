// CPU DepthwisePointwise (layers/depthwise_pointwise.h): a depthwise convolution and the 1x1 convolution after it,
// computed one band of output rows at a time. Each task runs the depthwise layer on its band's rows (every channel,
// cpu::Conv2dCpu::runDepthwiseRows) into a per-thread buffer of about L2 size, then the 1x1 GEMM on those pixels
// (runPointwiseColumns) into the output; the intermediate tensor is never written out whole, and the two layers need
// one parallel loop (one wait for the slowest thread) instead of two. The results are the two convolutions' own
// (same kernels, same order of operations per output).
//
// Where the pieces cannot run by bands (no channel-blocked depthwise kernel: the scalar ISA, or an AVX2 3x3 stride-2
// layer, which takes the row kernel; a 1x1 layer on the direct or transposed GEMM path) the two convolutions run one
// after the other through the workspace, as two Convolution layers would. Input planes smaller than the configured
// one (dynamic shapes) get both convolutions prepared for the call (not cached).
#include <algorithm>
#include <memory>
#include <vector>

#include "common/parallel.h"
#include "kernels/conv2d_cpu.h"
#include "kernels/convolution_params.h"
#include "layers/depthwise_pointwise.h"
#include "layers/fused_activation.h"

namespace gie {
namespace {

//! Bytes of the depthwise band a task keeps for the 1x1 GEMM: about a Zen 3 core's L2 (512 KB). Smaller bands redo
//! more halo rows (each band transposes (rows + R - 1) input rows per channel group): MobileNetV2's four fused pairs,
//! summed per-kernel minima on Zen 3, 1 thread: 128 KB 1.48 ms, 256 KB 1.47, 512 KB 1.42, one band 1.44 (unfused
//! 1.41); 2 threads: 1.13, 0.94, 0.93, 0.94 (unfused 1.16).
constexpr int64_t kBandBytes = 512 * 1024;

class DepthwisePointwiseCpu final : public Kernel<DepthwisePointwiseCpu, DepthwisePointwiseOp> {
public:
    explicit DepthwisePointwiseCpu(FieldMap f) : Kernel(std::move(f)) {
        dwBias_ = fields_.floats("dw_bias");
        pwBias_ = fields_.floats("pw_bias");
        setEpilogueActivation(op_.dw.activation, op_.dw.actAlpha, op_.dw.actBeta, dwEp_, kType());
        setEpilogueActivation(op_.pw.activation, op_.pw.actAlpha, op_.pw.actBeta, pwEp_, kType());
    }

    size_t getWorkspaceSize() const noexcept override { return pair_ ? pair_->workspaceBytes() : 0; }

protected:
    void configureKernel(const TensorDesc* in, int32_t, const TensorDesc*, int32_t) override {
        pair_ = std::make_shared<const Pair>(make(in[0].dims));
    }
    void run(const KernelCall& c) const override {
        GIE_CHECK(pair_, ErrorCode::kINTERNAL, kType(), " kernel used before configure");
        const Dims& x = c.inDims(0);
        const cpu::Conv2dParams& cp = pair_->dw->params();
        GIE_CHECK(x.nbDims == 4 && x.d[0] <= cp.N && x.d[1] == cp.C && x.d[2] <= cp.H && x.d[3] <= cp.W,
                  ErrorCode::kINVALID_ARGUMENT, kType(), ": input ", toString(x), " exceeds the configured (", cp.N, ", ", cp.C,
                  ", ", cp.H, ", ", cp.W, ")");
        std::unique_ptr<const Pair> other;  // a smaller plane than the configured one
        if (x.d[2] != cp.H || x.d[3] != cp.W) other = std::make_unique<const Pair>(make(x));
        const Pair& pr = other ? *other : *pair_;
        cpu::Epilogue dwEp = dwEp_, pwEp = pwEp_;
        dwEp.bias = dwBias_.empty() ? nullptr : dwBias_.data();
        pwEp.bias = pwBias_.empty() ? nullptr : pwBias_.data();
        const float* res = c.nbInputs > 1 ? c.in(1) : nullptr;
        const int64_t batch = x.d[0], C = x.d[1], K = op_.pw.K;
        const int64_t P = pr.dw->params().P(), Q = pr.dw->params().Q(), PQ = P * Q;
        const float* xin = c.in(0);
        float* y = c.out(0);
        if (!pr.banded) {  // the two convolutions one after the other, the depthwise output in the workspace
            // (a smaller plane may be unbanded where the configured one is banded and has no workspace)
            std::vector<float> own;
            float* mid = static_cast<float*>(c.workspace);
            if (pr.workspaceBytes() > pair_->workspaceBytes() || !mid) {
                own.resize(pr.workspaceBytes() / sizeof(float));
                mid = own.data();
            }
            pr.dw->run(batch, xin, mid, C * PQ, dwEp, nullptr);
            pwEp.residual = res;
            pr.pw->run(batch, mid, y, K * PQ, pwEp, nullptr);
            return;
        }
        // Bands: as many rows as keep the depthwise band within kBandBytes, at least one band per thread and a multiple
        // of the thread count at batch 1 (each thread the same share).
        const int T = inParallelLoop() ? 1 : cpuThreads();
        const int64_t rowsFit = std::max<int64_t>(1, kBandBytes / (4 * C * Q));
        int64_t bands = (P + rowsFit - 1) / rowsFit;
        if (batch == 1 && T > 1) bands = std::min(P, (std::max<int64_t>(bands, T) + T - 1) / T * T);
        const int64_t HW = x.d[2] * x.d[3];
        parallelForThreads(batch * bands, 0, [&](int64_t task) {
            const int64_t n = task / bands, b = task % bands, p0 = P * b / bands, p1 = P * (b + 1) / bands;
            const int64_t pixels = (p1 - p0) * Q, ld = (pixels + 15) / 16 * 16;  // channel rows on 64-byte lines
            static thread_local cpu::gemm::AlignedFloats band;
            if (band.size() < static_cast<size_t>(C * ld)) band.resize(static_cast<size_t>(C * ld));
            pr.dw->runDepthwiseRows(xin + n * C * HW, p0, p1, band.data(), ld, dwEp);
            cpu::Epilogue e = pwEp;
            e.residual = res ? res + n * K * PQ + p0 * Q : nullptr;
            pr.pw->runPointwiseColumns(band.data(), ld, pixels, y + n * K * PQ + p0 * Q, PQ, e);
        });
    }

private:
    static const char* kType() { return DepthwisePointwiseOp::kType; }
    struct Pair {
        std::unique_ptr<const cpu::Conv2dCpu> dw, pw;
        bool banded = false;
        size_t workspaceBytes() const {  // the depthwise output of the whole batch, for the unbanded order
            const cpu::Conv2dParams& p = dw->params();
            return banded ? 0 : static_cast<size_t>(p.N * p.K * p.P() * p.Q()) * sizeof(float);
        }
    };
    //! Both convolutions prepared for input x (N, C, H, W).
    Pair make(const Dims& x) const {
        const cpu::Conv2dParams p = conv2dParams(op_.dw, x);
        Pair r;
        r.dw = std::make_unique<const cpu::Conv2dCpu>(p, fields_.floats("dw_kernel").data());
        r.pw = std::make_unique<const cpu::Conv2dCpu>(conv2dParams(op_.pw, dims4(p.N, p.K, p.P(), p.Q())),
                                                      fields_.floats("pw_kernel").data());
        r.banded = r.dw->depthwiseRowsCapable() && r.pw->pointwiseColumnsCapable();
        return r;
    }

    std::vector<float> dwBias_, pwBias_;
    cpu::Epilogue dwEp_, pwEp_;
    std::shared_ptr<const Pair> pair_;  // immutable once configured; shared by clones
};
GIE_REGISTER_KERNEL(DepthwisePointwiseCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
