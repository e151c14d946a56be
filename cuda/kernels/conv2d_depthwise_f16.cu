// GPU Convolution, FP16 depthwise (variant "f16_hwc8_depthwise"): groups == input channels == output channels,
// any kernel size, stride, padding and dilation. Input HALF HWC8; output HALF HWC8, HALF LINEAR or FLOAT LINEAR
// (a residual in the output's format, HALF or FLOAT), with the fused epilogue of conv_f16_common.cuh.
// One thread computes 8 channels of one output pixel: per tap one 16-byte load of the input pixel and one of the
// tap's 8 weights (half [R*S][Cp], zero in the padding channels), FP32 accumulation. Consecutive threads take
// consecutive channel chunks of a pixel, so the loads of a warp are contiguous. Tactics: "depthwise_hwc8_f16" (that),
// "depthwise_hwc8_f16_q4" (4 output pixels of a row per thread, kernel widths 3 / 5 / 7: below).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/half.h"
#include "conv_f16_common.cuh"
#include "fp16.cuh"  // loadPack

namespace gie {
namespace {

using namespace cuda::convf16;

__device__ __forceinline__ void fmaHalf8(float (&acc)[8], const uint4& x, const uint4& w) {
    const __half2* xh = reinterpret_cast<const __half2*>(&x);
    const __half2* wh = reinterpret_cast<const __half2*>(&w);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
        const float2 xf = __half22float2(xh[j]), wf = __half22float2(wh[j]);
        acc[2 * j] = fmaf(xf.x, wf.x, acc[2 * j]);
        acc[2 * j + 1] = fmaf(xf.y, wf.y, acc[2 * j + 1]);
    }
}

__global__ void __launch_bounds__(256) depthwiseF16Kernel(const F16ConvArgs a) {
    const int C8 = a.Cp / 8, PQ = a.P * a.Q;
    const int64_t total = static_cast<int64_t>(a.M) * C8;
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const int m = static_cast<int>(i / C8), c8 = static_cast<int>(i - int64_t(m) * C8);
        const int n = m / PQ, pq = m - n * PQ, p = pq / a.Q, q = pq - p * a.Q;
        const __half* xn = a.x + static_cast<int64_t>(n) * a.xStride + c8 * 8;
        const __half* wc = a.w + c8 * 8;
        float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
        for (int r = 0; r < a.R; ++r) {
            const int ih = p * a.sh - a.pt + r * a.dh;
            if (static_cast<unsigned>(ih) >= static_cast<unsigned>(a.H)) continue;
            for (int s = 0; s < a.S; ++s) {
                const int iw = q * a.sw - a.pl + s * a.dw;
                if (static_cast<unsigned>(iw) >= static_cast<unsigned>(a.W)) continue;
                const uint4 xv = __ldg(reinterpret_cast<const uint4*>(xn + (ih * a.W + iw) * a.Cp));
                const uint4 wv = __ldg(reinterpret_cast<const uint4*>(wc + (r * a.S + s) * a.Cp));
                fmaHalf8(acc, xv, wv);
            }
        }
        storeChunk8(a, outRow(a, m), residualRow(a, m), c8 * 8, acc);
    }
}

//! Tactic depthwise_hwc8_f16_q4: one thread computes 8 channels of QT = 4 consecutive output pixels of a row, for
//! kernel widths S in {3, 5, 7}, column strides SW in {1, 2} and column dilation 1. Per kernel row it loads the S
//! taps' weights once (converted to float) and the (QT - 1) * SW + S input pixels the 4 outputs share once each,
//! instead of one input and one weight load (and their conversions) per tap and output: ConvNeXt's 7x7 reads 17
//! 16-byte chunks per kernel row for 4 outputs where the one-pixel kernel reads 56. The FMAs of each output run in
//! the same (r, s) order as depthwiseF16Kernel's, on the same values: the results are bit-identical.
template <int S, int SW>
__global__ void __launch_bounds__(256) depthwiseRowsF16Kernel(const F16ConvArgs a) {
    constexpr int QT = 4, COLS = (QT - 1) * SW + S;
    const int C8 = a.Cp / 8, QG = (a.Q + QT - 1) / QT, PQ = a.P * a.Q;
    const int images = a.M / PQ;
    const int64_t total = static_cast<int64_t>(images) * a.P * QG * C8;
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const int c8 = static_cast<int>(i % C8);
        const int64_t rest = i / C8;
        const int qg = static_cast<int>(rest % QG);
        const int np = static_cast<int>(rest / QG), n = np / a.P, p = np - n * a.P;
        const int q0 = qg * QT, iw0 = q0 * SW - a.pl;
        const __half* xn = a.x + static_cast<int64_t>(n) * a.xStride + c8 * 8;
        const __half* wc = a.w + c8 * 8;
        float acc[QT][8];
#pragma unroll
        for (int o = 0; o < QT; ++o)
#pragma unroll
            for (int k = 0; k < 8; ++k) acc[o][k] = 0.f;
        for (int r = 0; r < a.R; ++r) {
            const int ih = p * a.sh - a.pt + r * a.dh;
            if (static_cast<unsigned>(ih) >= static_cast<unsigned>(a.H)) continue;
            float wf[S][8];
#pragma unroll
            for (int s = 0; s < S; ++s) cuda::loadPack(wc + (r * S + s) * a.Cp, wf[s]);
            const __half* xr = xn + static_cast<int64_t>(ih) * a.W * a.Cp;
#pragma unroll
            for (int c = 0; c < COLS; ++c) {
                const int iw = iw0 + c;
                if (static_cast<unsigned>(iw) >= static_cast<unsigned>(a.W)) continue;  // (the one-pixel kernel skips it too)
                float xf[8];
                cuda::loadPack(xr + static_cast<int64_t>(iw) * a.Cp, xf);
#pragma unroll
                for (int o = 0; o < QT; ++o) {
                    const int s = c - o * SW;  // compile-time after unrolling
                    if (s < 0 || s >= S) continue;
#pragma unroll
                    for (int k = 0; k < 8; ++k) acc[o][k] = fmaf(xf[k], wf[s][k], acc[o][k]);
                }
            }
        }
#pragma unroll
        for (int o = 0; o < QT; ++o) {
            const int q = q0 + o;
            if (q >= a.Q) break;
            const int m = (n * a.P + p) * a.Q + q;
            storeChunk8(a, outRow(a, m), residualRow(a, m), c8 * 8, acc[o]);
        }
    }
}

//! Whether depthwiseRowsF16Kernel has an instance for this layer (S, column stride, column dilation 1).
inline bool rowsKernelApplies(int64_t S, int64_t sw, int64_t dw) { return (S == 3 || S == 5 || S == 7) && (sw == 1 || sw == 2) && dw == 1; }

class ConvolutionF16DepthwiseGpu final : public Kernel<ConvolutionF16DepthwiseGpu, ConvolutionOp> {
public:
    static constexpr const char* kVariant = "f16_hwc8_depthwise";

    explicit ConvolutionF16DepthwiseGpu(FieldMap f) : Kernel(std::move(f)) {
        setEpilogueActivation(op_.activation, op_.actAlpha, op_.actBeta, ep_, "Convolution");
    }

    //! Depthwise with channel multiplier 1 only (K == groups == C).
    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t nbInputs, int32_t) const noexcept override {
        if (op_.K != op_.groups || (inOut[0].dims.nbDims == 4 && inOut[0].dims.d[1] != op_.groups)) return false;
        return supportsF16Conv(pos, inOut, nbInputs);
    }
    bool supportsStridedOutput() const noexcept override { return true; }  // LINEAR outputs: any batch stride

    int32_t getNbTactics() const noexcept override { return 2; }
    const char* getTacticName(int32_t t) const noexcept override {
        return t == 0 ? "depthwise_hwc8_f16" : t == 1 ? "depthwise_hwc8_f16_q4" : "invalid";
    }
    int32_t setTactic(int32_t t) noexcept override {
        if (!configured_ || (t != 0 && t != 1)) return -1;
        if (t == 1 && !rowsKernelApplies(op_.S, op_.sw, op_.dw)) return -1;
        tactic_ = t;
        return 0;
    }
    int32_t getTactic() const noexcept override { return tactic_; }

    void initializeKernel() override {
        GIE_CHECK(configured_, ErrorCode::kINTERNAL, "Convolution (FP16 depthwise): initialize before configure");
        terminate();
        auto bias = fields_.floats("bias");
        if (!bias.empty()) bias_ = cuda::upload(bias, "Convolution bias");
        // (C, 1, R, S) float -> half [R*S][Cp], zeros in the padding channels (they then accumulate zeros).
        const auto w = fields_.floats("kernel");
        const int64_t RS = op_.R * op_.S, cp = storedChannels(C_, TensorFormat::kHWC8);
        GIE_CHECK(static_cast<int64_t>(w.size()) == C_ * RS, ErrorCode::kINVALID_MODEL, "Convolution kernel has ", w.size(),
                  " values, expected ", C_ * RS);
        std::vector<uint16_t> pk(static_cast<size_t>(RS * cp), 0);
        for (int64_t ch = 0; ch < C_; ++ch)
            for (int64_t rs = 0; rs < RS; ++rs) pk[static_cast<size_t>(rs * cp + ch)] = floatToHalf(w[static_cast<size_t>(ch * RS + rs)]);
        weights_ = cuda::upload(pk, "Convolution FP16 depthwise weights");
    }
    void terminate() noexcept override {
        bias_.reset();
        weights_.reset();
    }

protected:
    void configureKernel(const TensorDesc* in, int32_t nbInputs, const TensorDesc* out, int32_t) override {
        checkF16ConvFormats(in, nbInputs, out[0]);
        C_ = in[0].dims.d[1];
        GIE_CHECK(op_.K == op_.groups && C_ == op_.groups, ErrorCode::kINTERNAL, "Convolution (FP16 depthwise) configured for ", C_,
                  " channels, ", op_.K, " outputs and ", op_.groups, " groups");
        GIE_CHECK(fitsInt32(in[0].dims, out[0].dims) && op_.R * op_.S * storedChannels(C_, TensorFormat::kHWC8) < (int64_t(1) << 31),
                  ErrorCode::kUNSUPPORTED, "Convolution (FP16 depthwise): ", toString(in[0].dims), " exceeds 32-bit indexing");
        configured_ = true;
    }

    void run(const KernelCall& c) const override {
        GIE_CHECK(configured_ && weights_, ErrorCode::kINTERNAL, "Convolution (FP16 depthwise) run before configure/initialize");
        GIE_CHECK(c.inDims(0).d[1] == C_, ErrorCode::kINTERNAL, "Convolution (FP16 depthwise): input has ", c.inDims(0).d[1],
                  " channels, configured for ", C_);
        F16ConvArgs a = makeArgs(c, op_, bias_ ? bias_->as<float>() : nullptr, ep_);
        if (a.M <= 0) return;
        a.w = weights_->as<__half>();
        cudaStream_t st = cuda::streamOf(c);
        if (tactic_ == 1 && rowsKernelApplies(a.S, a.sw, a.dw)) {
            const int64_t work = int64_t(a.M / (a.P * a.Q)) * a.P * ((a.Q + 3) / 4) * (a.Cp / 8);
            const unsigned grid = cuda::gridFor(work);
            if (a.S == 3) a.sw == 1 ? depthwiseRowsF16Kernel<3, 1><<<grid, 256, 0, st>>>(a) : depthwiseRowsF16Kernel<3, 2><<<grid, 256, 0, st>>>(a);
            else if (a.S == 5) a.sw == 1 ? depthwiseRowsF16Kernel<5, 1><<<grid, 256, 0, st>>>(a) : depthwiseRowsF16Kernel<5, 2><<<grid, 256, 0, st>>>(a);
            else a.sw == 1 ? depthwiseRowsF16Kernel<7, 1><<<grid, 256, 0, st>>>(a) : depthwiseRowsF16Kernel<7, 2><<<grid, 256, 0, st>>>(a);
            cuda::checkLaunch("depthwiseRowsF16Kernel");
            return;
        }
        depthwiseF16Kernel<<<cuda::gridFor(int64_t(a.M) * (a.Cp / 8)), 256, 0, st>>>(a);
        cuda::checkLaunch("depthwiseF16Kernel");
    }

private:
    cpu::Epilogue ep_;
    bool configured_ = false;
    int32_t tactic_ = 0;
    int64_t C_ = 0;
    std::shared_ptr<cuda::DeviceArray> bias_, weights_;
};
GIE_REGISTER_KERNEL(ConvolutionF16DepthwiseGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
