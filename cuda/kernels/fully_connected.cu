// GPU FullyConnected: Y[M, K] = X[M, flat] * W[K, flat]^T + bias, fused activation, on the hand-written
// SGEMM of gemm.cuh (same semantics as kernels/fully_connected_cpu.cpp: rows M = volume(Y) / K, bias per
// output column, rows of a 2-D output written strides[0] apart so that an axis-1 FC can write straight
// into a slice of a concatenation buffer).
//
// The weights are uploaded once with their rows padded to a multiple of 4 floats (zeros), so every weight
// row is float4-readable whatever `flat` is. Tactics: the tile SGEMMs, split-K (batch-1..few FCs with a
// large input), and gemv_warp_dot (one warp per output, float4 loads of the weight row, up to 4 input rows
// per pass) -- see gemm.cuh.
// FP16 storage (input and output kHALF, LINEAR; the input may also be HWC8 where its bytes lie as LINEAR ones: (N, C, 1, 1)
// with C % 8 == 0, the pooled features of an FP16 convolution stack, read with no Reformat before): the weights are converted to half at initialize (rows padded
// the same way), the GEMM loads half and computes in FP32 (gemm.cuh), or multiplies halves on tensor cores with
// FP32 accumulation (the hgemm_mma_* tactics on sm_80+, and hgemm_wgmma_* on sm_90a where the input's row length is a
// multiple of 8, hgemm_wgmma_persist_* there too, timed against the others); the bias stays FP32.
#include "common.cuh"
#include "float_or_half.cuh"
#include "kernels/gemm.cuh"
#include "kernels/gemm_wgmma_f16.cuh"
#include "layers/fully_connected.h"
#include "layers/fused_activation.h"

namespace gie {
namespace {

class FullyConnectedGpu final : public Kernel<FullyConnectedGpu, FullyConnectedOp> {
public:
    explicit FullyConnectedGpu(FieldMap f) : Kernel(std::move(f)) {
        cpu::Epilogue ep;
        setEpilogueActivation(op_.activation, op_.actAlpha, op_.actBeta, ep, "FullyConnected");
        act_ = static_cast<int>(ep.act);
        alpha_ = ep.alpha;
        beta_ = ep.beta;
    }

    bool supportsStridedOutput() const noexcept override { return op_.axis == 1; }  // (N, K) rows, ldc apart
    //! FLOAT or HALF LINEAR, one type; the input may also be HALF HWC8 laid out as LINEAR (N, C % 8 == 0, 1, 1).
    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        return cuda::floatOrHalfLinear(pos, inOut) || (pos == 0 && cuda::hwc8LaidOutAsLinear(inOut[0]));
    }

    int32_t getNbTactics() const noexcept override { return cuda::gemm::kNbTactics; }
    const char* getTacticName(int32_t t) const noexcept override { return cuda::gemm::tacticName(t); }
    int32_t setTactic(int32_t t) noexcept override {
        if (t < 0 || t >= cuda::gemm::kNbTactics) return -1;
        if (cuda::gemm::isSplitK(t) && splits_[t] <= 1) return -1;  // nothing to split for these shapes
        if (t == cuda::gemm::kGemv && std::min(maxM_, op_.K) > cuda::gemm::kGemvMaxSide) return -1;
        if (cuda::gemm::isHmma(t) && !cuda::gemm::hmmaAvailable(half_)) return -1;
        // sm_90a: FP16, input rows (flat halves) and weight rows (ldw) 16-byte pitches; the pointers are checked per run.
        if (cuda::gemm::isWgmma(t) && !(half_ && op_.inputsPerOutput() % 8 == 0 && cuda::wgmma::available())) return -1;
        tactic_ = t;
        return 0;
    }
    int32_t getTactic() const noexcept override { return tactic_; }
    size_t getWorkspaceSize() const noexcept override {
        if (!cuda::gemm::isSplitK(tactic_)) return 0;
        return cuda::gemm::splitKWorkspace(static_cast<int>(maxM_), static_cast<int>(op_.K), 1, splits_[tactic_]);
    }

    void initializeKernel() override {
        const int64_t K = op_.K, flat = op_.inputsPerOutput(), ldw = ldw_();
        std::vector<float> w = fields_.floats("kernel");
        GIE_CHECK(static_cast<int64_t>(w.size()) == K * flat, ErrorCode::kINTERNAL, "FullyConnected: kernel size");
        std::vector<float> padded(static_cast<size_t>(K * ldw), 0.f);
        for (int64_t k = 0; k < K; ++k)
            std::copy(w.begin() + k * flat, w.begin() + (k + 1) * flat, padded.begin() + k * ldw);
        weights_ = half_ ? cuda::upload(cuda::toHalfBits(padded), "FullyConnected weights (FP16)") : cuda::upload(padded, "FullyConnected weights");
        std::vector<float> b = fields_.floats("bias");
        bias_ = b.empty() ? nullptr : cuda::upload(b, "FullyConnected bias");
        if (tactic_ == cuda::gemm::kWgmmaPersist128x128) cuda::gemm::prepareWgmmaPersistent();
        else if (cuda::gemm::isWgmma(tactic_)) cuda::gemm::prepareWgmma();
    }
    void terminate() noexcept override {
        weights_.reset();
        bias_.reset();
    }

protected:
    void configureKernel(const TensorDesc* inputs, int32_t, const TensorDesc* outputs, int32_t) override {
        half_ = inputs[0].type == DataType::kHALF;
        const int64_t K = op_.K, flat = op_.inputsPerOutput();
        maxM_ = volume(outputs[0].dims) / K;
        GIE_CHECK(maxM_ < INT_MAX - 1024 && K < INT_MAX - 1024 && flat < INT_MAX - 1024, ErrorCode::kUNSUPPORTED,
                  "FullyConnected: GEMM dimensions too large (", maxM_, " x ", K, " x ", flat, ")");
        for (int t = 0; t < cuda::gemm::kNbTactics; ++t)
            splits_[t] = cuda::gemm::isSplitK(t) ? cuda::gemm::chooseSplits(t, static_cast<int>(maxM_), static_cast<int>(K),
                                                                             static_cast<int>(flat), 1)
                                                 : 1;
    }

    void run(const KernelCall& c) const override {
        GIE_CHECK(weights_, ErrorCode::kINTERNAL, "FullyConnected GPU kernel run before initialize()");
        const bool half = c.inDesc[0].type == DataType::kHALF;
        GIE_CHECK(half == half_, ErrorCode::kINVALID_ARGUMENT, "FullyConnected: configured for ", half_ ? "FP16" : "FP32",
                  " tensors, called with ", half ? "FP16" : "FP32");
        const Dims& y = c.outDims(0);
        const int64_t K = op_.K, flat = op_.inputsPerOutput();
        const int64_t M = volume(y) / K;
        if (M == 0) return;
        cuda::gemm::Params p;
        p.M = static_cast<int>(M);
        p.N = static_cast<int>(K);
        p.K = static_cast<int>(flat);
        p.half = half;
        p.A = c.inputs[0];
        p.lda = flat;
        p.B = weights_->get();
        p.ldb = ldw_();
        p.transB = true;
        p.padB = true;
        p.C = c.outputs[0];
        // Rows are written ldc apart: a 2D output may be a slice of a wider concatenation buffer.
        p.ldc = y.nbDims == 2 ? c.outDesc[0].strides.d[0] : K;
        p.bias = bias_ ? bias_->as<float>() : nullptr;
        p.biasMode = bias_ ? cuda::gemm::kBiasPerColumn : cuda::gemm::kBiasNone;
        p.act = act_;
        p.alpha = alpha_;
        p.beta = beta_;
        cuda::gemm::prepare(p);
        cuda::gemm::run<false, true, false, false>(p, tactic_, splits_[tactic_], c.workspace, getWorkspaceSize(),
                                                   cuda::streamOf(c));
    }

private:
    int64_t ldw_() const { return cuda::ceilDiv(op_.inputsPerOutput(), 4) * 4; }

    int act_ = static_cast<int>(kNoActivation);  // ActivationType, -1: none
    float alpha_ = 0.f, beta_ = 0.f;
    int64_t maxM_ = 1;
    bool half_ = false;  // configured for FP16 storage (weights uploaded as half)
    int tactic_ = cuda::gemm::kTile64x64;
    int splits_[cuda::gemm::kNbTactics] = {1, 1, 1, 1, 1, 1, 1, 1};
    std::shared_ptr<cuda::DeviceArray> weights_, bias_;
};
GIE_REGISTER_KERNEL(FullyConnectedGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
