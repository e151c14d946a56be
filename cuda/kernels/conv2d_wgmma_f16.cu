// GPU Convolution, FP16 on Hopper tensor cores (variant "f16_hwc8_wgmma", sm_90a only): 1x1 convolutions with stride
// 1 and no padding, groups == 1, as one GEMM [N*H*W pixels x Cp] x [Cp x K] on the warp-specialized TMA + wgmma
// pipeline of gemm_wgmma_f16.cuh. The input HALF HWC8 (packed) is the A matrix as it lies in memory (pixel rows of
// Cp halves); the weights, converted to half at initialize, are B as [K][Cp] (zeros for the padding channels).
// Outputs, residual and epilogue are those of the mma.sync kernel (conv2d_implicit_gemm_f16.cu): HALF HWC8, HALF
// LINEAR (a concatenation slice too) or FLOAT LINEAR, fused bias / residual / activation through storeChunk8
// (conv_f16_common.cuh), so both variants round identically.
// Tactics (names stable):
//   wgmma1x1_128x128x64_s4_hwc8   128 x 128 tiles, 4 TMA stages, 2 consumer warpgroups
//   wgmma1x1_128x256x64_s3_hwc8   128 x 256 tiles, 3 stages (wide outputs: one A tile feeds 256 channels)
// The kernel is registered everywhere but takes a layer only where cuda::wgmma::available() (a compute capability
// 9.0 device running sm_90a code): elsewhere supportsFormatCombination refuses, so the builder never sees it and
// the mma.sync variant takes the layer. Shapes come from the descriptors at enqueue.
#include <cstdint>
#include <memory>
#include <vector>

#include "common/half.h"
#include "conv_f16_common.cuh"
#include "gemm_wgmma_f16.cuh"

namespace gie {
namespace cuda {
namespace convf16 {

//! (Outside an anonymous namespace: the device passes without sm_90a never call it, and would warn about an unused
//! internal function.) The HWC8 convolution epilogue of a staged 16 x 128 slab: 16 pixels x 16 chunks of 8 channels, consecutive lanes
//! on consecutive chunks of a pixel (16-byte HWC8 stores), through the mma.sync kernel's storeChunk8.
struct WgmmaConvEpilogue {
    F16ConvArgs a;
    __device__ __forceinline__ void store(const float* st, int es, int m0, int n0, int lane) const {
#pragma unroll 2
        for (int i = lane; i < 16 * 16; i += 32) {
            const int r = i / 16, k0 = n0 + (i % 16) * 8, m = m0 + r;
            if (m >= a.M || k0 >= a.Kp) continue;
            const float4* src = reinterpret_cast<const float4*>(st + r * es + (i % 16) * 8);
            const float4 lo = src[0], hi = src[1];
            const float v[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
            storeChunk8(a, outRow(a, m), residualRow(a, m), k0, v);
        }
    }
};

}  // namespace convf16
}  // namespace cuda

namespace {

using namespace cuda::convf16;

using T128x128 = cuda::wgmma::Tile<128, 4>;
using T128x256 = cuda::wgmma::Tile<256, 3>;

struct WgmmaTactic {
    const char* name;
    int BN, smemBytes;
    void (*prepare)();
    void (*launch)(const CUtensorMap&, const CUtensorMap&, const WgmmaConvEpilogue&, int64_t, int64_t, int, cudaStream_t);
};

template <class T>
WgmmaTactic wgmmaTactic(const char* name) {
    return {name, T::BN, T::SMEM_BYTES, &cuda::wgmma::prepare<T, WgmmaConvEpilogue>, &cuda::wgmma::launch<T, WgmmaConvEpilogue>};
}

const std::vector<WgmmaTactic>& wgmmaTactics() {
    static const std::vector<WgmmaTactic> list = {
        wgmmaTactic<T128x128>("wgmma1x1_128x128x64_s4_hwc8"),
        wgmmaTactic<T128x256>("wgmma1x1_128x256x64_s3_hwc8"),
    };
    return list;
}

class ConvolutionF16WgmmaGpu final : public Kernel<ConvolutionF16WgmmaGpu, ConvolutionOp> {
public:
    static constexpr const char* kVariant = "f16_hwc8_wgmma";

    explicit ConvolutionF16WgmmaGpu(FieldMap f) : Kernel(std::move(f)) {
        setEpilogueActivation(op_.activation, op_.actAlpha, op_.actBeta, ep_, "Convolution");
    }

    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t nbInputs, int32_t) const noexcept override {
        return op_.groups == 1 && isOneByOne() && supportsF16Conv(pos, inOut, nbInputs) && cuda::wgmma::available();
    }
    bool supportsStridedOutput() const noexcept override { return true; }  // LINEAR outputs: any batch stride

    int32_t getNbTactics() const noexcept override { return static_cast<int32_t>(wgmmaTactics().size()); }
    const char* getTacticName(int32_t t) const noexcept override {
        return t >= 0 && t < getNbTactics() ? wgmmaTactics()[static_cast<size_t>(t)].name : "invalid";
    }
    int32_t setTactic(int32_t t) noexcept override {
        if (!configured_ || !fits_ || t < 0 || t >= getNbTactics() || !cuda::wgmma::available()) return -1;
        tactic_ = t;
        return 0;
    }
    int32_t getTactic() const noexcept override { return tactic_; }

    void initializeKernel() override {
        GIE_CHECK(configured_ && tactic_ >= 0, ErrorCode::kINTERNAL, "Convolution (FP16 wgmma): initialize before configure");
        terminate();
        const WgmmaTactic& t = wgmmaTactics()[static_cast<size_t>(tactic_)];
        GIE_CHECK(t.smemBytes <= static_cast<int>(cuda::deviceProps().sharedMemPerBlockOptin), ErrorCode::kUNSUPPORTED,
                  "Convolution (FP16 wgmma): tactic ", t.name, " needs ", t.smemBytes, " bytes of shared memory per block");
        t.prepare();
        auto bias = fields_.floats("bias");
        if (!bias.empty()) bias_ = cuda::upload(bias, "Convolution bias");
        weights_ = cuda::upload(packWeights(fields_.floats("kernel")), "Convolution FP16 weights (wgmma)");
    }
    void terminate() noexcept override {
        bias_.reset();
        weights_.reset();
    }

protected:
    void configureKernel(const TensorDesc* in, int32_t nbInputs, const TensorDesc* out, int32_t) override {
        GIE_CHECK(op_.groups == 1 && isOneByOne(), ErrorCode::kINTERNAL, "Convolution (FP16 wgmma) configured for a layer that is not a "
                  "1x1, stride 1, unpadded convolution without groups");
        checkF16ConvFormats(in, nbInputs, out[0]);
        C_ = in[0].dims.d[1];
        Cp_ = storedChannels(C_, TensorFormat::kHWC8);
        // TMA coordinates are 32-bit: the pixel rows of the largest call, and one image's offsets (the epilogue's).
        fits_ = fitsInt32(in[0].dims, out[0].dims) && op_.K < (int64_t(1) << 31) - 256;
        configured_ = true;
        tactic_ = 0;  // a default until the builder picks by timing
    }

    void run(const KernelCall& c) const override {
        GIE_CHECK(configured_ && tactic_ >= 0 && weights_, ErrorCode::kINTERNAL, "Convolution (FP16 wgmma) run before configure/initialize");
        GIE_CHECK(c.inDims(0).d[1] == C_, ErrorCode::kINTERNAL, "Convolution (FP16 wgmma): input has ", c.inDims(0).d[1], " channels, configured for ", C_);
        F16ConvArgs a = makeArgs(c, op_, bias_ ? bias_->as<float>() : nullptr, ep_);
        if (a.M <= 0) return;
        a.w = weights_->as<__half>();
        // The pixels are the GEMM's rows only when the images lie back to back (the input is never strided: the
        // kernel does not claim supportsStridedInput).
        GIE_CHECK(a.xStride == int64_t(a.H) * a.W * a.Cp && a.P == a.H && a.Q == a.W, ErrorCode::kINTERNAL,
                  "Convolution (FP16 wgmma): the input is not a packed HWC8 tensor of the output's spatial size");
        const WgmmaTactic& t = wgmmaTactics()[static_cast<size_t>(tactic_)];
        CUtensorMap ta, tb;
        const uint64_t pitch = static_cast<uint64_t>(a.Cp) * 2;
        cuda::wgmma::encodeTensorMap(&ta, a.x, static_cast<uint64_t>(a.Cp), static_cast<uint64_t>(a.M), pitch, 64, 128);
        cuda::wgmma::encodeTensorMap(&tb, a.w, static_cast<uint64_t>(a.Cp), static_cast<uint64_t>(a.K), pitch, 64, static_cast<uint32_t>(t.BN));
        t.launch(ta, tb, WgmmaConvEpilogue{a}, a.M, a.Kp, a.Cp, cuda::streamOf(c));
    }

private:
    bool isOneByOne() const {
        return op_.R == 1 && op_.S == 1 && op_.sh == 1 && op_.sw == 1 && op_.pt == 0 && op_.pl == 0 && op_.pb == 0 && op_.pr == 0;
    }

    //! Weights (K, C, 1, 1) float -> half [K][Cp], zeros for the padding channels c >= C.
    std::vector<uint16_t> packWeights(const std::vector<float>& w) const {
        GIE_CHECK(static_cast<int64_t>(w.size()) == op_.K * C_, ErrorCode::kINVALID_MODEL, "Convolution kernel has ", w.size(),
                  " values, expected ", op_.K * C_);
        std::vector<uint16_t> pk(static_cast<size_t>(op_.K * Cp_), 0);
        for (int64_t k = 0; k < op_.K; ++k)
            for (int64_t ch = 0; ch < C_; ++ch) pk[static_cast<size_t>(k * Cp_ + ch)] = floatToHalf(w[static_cast<size_t>(k * C_ + ch)]);
        return pk;
    }

    cpu::Epilogue ep_;  // activation of the fused epilogue (bias / residual come per call)
    bool configured_ = false, fits_ = false;
    int64_t C_ = 0, Cp_ = 0;
    int32_t tactic_ = -1;
    std::shared_ptr<cuda::DeviceArray> bias_, weights_;
};
GIE_REGISTER_KERNEL(ConvolutionF16WgmmaGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
