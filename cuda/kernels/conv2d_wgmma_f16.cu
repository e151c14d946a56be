// GPU Convolution, FP16 on Hopper tensor cores (variant "f16_hwc8_wgmma", sm_90a only): ungrouped convolutions as
// one GEMM [N*P*Q output pixels x R*S*Cp] x [R*S*Cp x K] on the warp-specialized wgmma pipeline of
// gemm_wgmma_f16.cuh. The weights, converted to half at initialize, are B as [K][R*S*Cp] (kk = (r*S + s)*Cp + c,
// zeros for the padding channels), loaded by TMA. A depends on the tactic:
//   - 1x1, stride 1, no padding: the input HALF HWC8 (packed) is A as it lies in memory (pixel rows of Cp halves),
//     loaded by TMA like B (TmaA);
//   - any other kernel size, stride, padding or dilation: the producer warpgroup gathers A (implicit GEMM, the
//     addressing of conv2d_implicit_gemm_f16.cuh): 128 threads copy 16-byte chunks (8 channels of one input pixel)
//     with cp.async into the 128B-swizzled stage, zero-filling taps outside the image, rows past M and chunks past
//     the reduction (WgmmaConvGather).
// Outputs, residual and epilogue are those of the mma.sync kernel (conv2d_implicit_gemm_f16.cu): HALF HWC8, HALF
// LINEAR (a concatenation slice too) or FLOAT LINEAR, fused bias / residual / activation through storeChunk8
// (conv_f16_common.cuh), so both variants round identically.
// Tactics (names stable):
//   wgmma1x1_128x128x64_s4_hwc8   1x1 stride 1 unpadded: 128 x 128 tiles, 4 TMA stages, 2 consumer warpgroups
//   wgmma1x1_128x256x64_s3_hwc8   1x1 stride 1 unpadded: 128 x 256 tiles, 3 stages (one A tile feeds 256 channels)
//   wgmma_128x128x64_s4_hwc8      every other shape: 128 x 128 tiles, 4 stages, A gathered
//   wgmma_128x256x64_s3_hwc8      every other shape: 128 x 256 tiles, 3 stages, A gathered
// Each layer is offered the pair that fits it (as hmma1x1_ / hmma_ of the mma.sync variant).
// The kernel is registered everywhere but takes a layer only where cuda::wgmma::available() (a compute capability
// 9.0 device running sm_90a code): elsewhere supportsFormatCombination refuses, so the builder never sees it and
// the mma.sync variant takes the layer. Shapes come from the descriptors at enqueue.
#include <cstdint>
#include <memory>
#include <vector>

#include "common/half.h"
#include "conv_f16_common.cuh"
#include "conv_common.cuh"  // cpAsyncCommit / cpAsyncWait
#include "gemm_wgmma_f16.cuh"

namespace gie {
namespace cuda {
namespace convf16 {

//! (These two outside an anonymous namespace: the device passes without sm_90a never call them, and would warn about
//! unused internal functions.) The HWC8 convolution epilogue of a staged 16 x 128 slab: 16 pixels x 16 chunks of 8 channels, consecutive lanes
//! on consecutive chunks of a pixel (16-byte HWC8 stores), through the mma.sync kernel's finishChunk8.
struct WgmmaConvEpilogue {
    F16ConvArgs a;
    __device__ __forceinline__ void store(const float* st, int es, int m0, int n0, int lane) const {
        if (residualIsChunked(a)) {
            // 8 chunks per lane in two groups of 4 whose residual chunks are loaded first, all in flight at once
            // (one dependent residual load per chunk made the epilogue latency-bound).
#pragma unroll 1
            for (int i0 = lane; i0 < 16 * 16; i0 += 4 * 32) {
                uint4 res[4];
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    const int i = i0 + j * 32, m = m0 + i / 16, k0 = n0 + (i % 16) * 8;
                    res[j] = loadResidualChunk(a, m, k0, m < a.M && k0 < a.Kp);
                }
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    const int i = i0 + j * 32, r = i / 16, k0 = n0 + (i % 16) * 8, m = m0 + r;
                    if (m >= a.M || k0 >= a.Kp) continue;
                    const float4* src = reinterpret_cast<const float4*>(st + r * es + (i % 16) * 8);
                    const float4 lo = src[0], hi = src[1];
                    const float v[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
                    float bias[8], rf[8];
                    loadBias8(a, k0, bias);
                    unpackHalf8(res[j], rf);
                    finishChunk8(a, outRow(a, m), k0, v, bias, rf);
                }
            }
            return;
        }
#pragma unroll 2
        for (int i = lane; i < 16 * 16; i += 32) {  // a LINEAR residual
            const int r = i / 16, k0 = n0 + (i % 16) * 8, m = m0 + r;
            if (m >= a.M || k0 >= a.Kp) continue;
            const float4* src = reinterpret_cast<const float4*>(st + r * es + (i % 16) * 8);
            const float4 lo = src[0], hi = src[1];
            const float v[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
            storeChunk8(a, outRow(a, m), residualRow(a, m), k0, v);
        }
    }
};

//! The producer of the general tactics: B (weights) by TMA, A gathered by the producer warpgroup's 128 threads.
//! Thread tid copies chunk column cc = tid % 8 (channels 8cc .. 8cc + 7 of the k-tile) of tile rows tid / 8 + 16j,
//! j < 8, so every 16-byte destination is row * 128 + (cc ^ row % 8) * 16: the 128B swizzle the TMA would write
//! (16j keeps row % 8, so one offset serves all eight rows). The reduction walk (kc = (r*S + s)*C8 + c8) is that
//! of hmmaConvKernel. A thread arrives on full[] for k-tile kt once its copies of kt are complete (cp.async.wait_group)
//! and fenced to the async proxy that wgmma reads through; it does so LAG = STAGES - 2 k-tiles later than it issued
//! them, so LAG + 1 k-tiles of copies stay in flight. The lag must stay below STAGES - 1: waiting on empty[] for k-tile
//! kt needs the consumers past k-tile kt - STAGES + 1, whose full[] this thread completed at k-tile kt - 1.
//! full[] then takes 128 arrivals plus thread 0's arrive.expect_tx for the B box.
struct WgmmaConvGather {
    F16ConvArgs a;
    int kChunks;  // R*S*Cp / 8: 16-byte chunks of the reduction
    static constexpr int FULL_ARRIVALS = 128 + 1;

    template <class T>
    __device__ __forceinline__ void produce(const CUtensorMap*, const CUtensorMap* tmB, const cuda::wgmma::Ring& ring, int tid, int m0,
                                            int n0, int kTiles) const {
#if GIE_WGMMA_DEVICE
        using namespace cuda::wgmma;
        constexpr int CPR = T::BK / 8, ROWS_PER_PASS = 128 / CPR, ITERS = T::BM / ROWS_PER_PASS, LAG = T::STAGES - 2;
        static_assert(CPR == 8 && ROWS_PER_PASS % 8 == 0 && LAG >= 1, "128-byte rows of 8 chunks; at least 3 stages");
        const int cc = tid % CPR, rbase = tid / CPR;
        const int C8 = a.Cp / 8, PQ = a.P * a.Q;
        // Per row: the image's base and the top-left input position of the receptive field (a row past M gets an
        // ih0 that no tap brings into the image).
        const __half* img[ITERS];
        int ih0[ITERS], iw0[ITERS];
#pragma unroll
        for (int j = 0; j < ITERS; ++j) {
            const int m = m0 + rbase + j * ROWS_PER_PASS, mm = m < a.M ? m : 0;
            const int n = mm / PQ, pq = mm - n * PQ, p = pq / a.Q, q = pq - p * a.Q;
            img[j] = a.x + static_cast<int64_t>(n) * a.xStride;
            ih0[j] = m < a.M ? p * a.sh - a.pt : -(1 << 30);
            iw0[j] = q * a.sw - a.pl;
        }
        int kc = cc, c8 = cc % C8, s = cc / C8, r = s / a.S;
        s -= r * a.S;
        const int dOff = rbase * 128 + ((cc ^ (rbase & 7)) << 4);
        for (int kt = 0; kt < kTiles; ++kt) {
            const int st = kt % T::STAGES;
            barrierWait(ring.empty0 + 8 * st, ((kt / T::STAGES) & 1) ^ 1);
            if (tid == 0) {
                const uint32_t full = ring.full0 + 8 * st;
                barrierArriveExpectTx(full, T::B_BYTES);
                tmaLoad2d(ring.stage0 + st * T::STAGE_BYTES + T::A_BYTES, tmB, kt * T::BK, n0, full);
            }
            unsigned char* dst = ring.base + st * T::STAGE_BYTES + dOff;
            const bool kValid = kc < kChunks;
#pragma unroll
            for (int j = 0; j < ITERS; ++j) {
                const int ih = ih0[j] + r * a.dh, iw = iw0[j] + s * a.dw;
                const bool valid = kValid && static_cast<unsigned>(ih) < static_cast<unsigned>(a.H) && static_cast<unsigned>(iw) < static_cast<unsigned>(a.W);
                const __half* src = valid ? img[j] + ((ih * a.W + iw) * a.Cp + c8 * 8) : a.x;  // offset formed only inside the image
                cpAsyncHalf16(dst + j * ROWS_PER_PASS * 128, src, valid);
            }
            cuda::conv::cpAsyncCommit();
            kc += CPR;
            c8 += CPR;
            while (c8 >= C8) {  // C8 may be smaller than CPR: a k-tile then spans several taps
                c8 -= C8;
                if (++s == a.S) {
                    s = 0;
                    ++r;
                }
            }
            if (kt >= LAG) {
                cuda::conv::cpAsyncWait<LAG>();  // k-tile kt - LAG has landed
                fenceProxyAsync();
                barrierArrive(ring.full0 + 8 * ((kt - LAG) % T::STAGES));
            }
        }
        cuda::conv::cpAsyncWait<0>();
        fenceProxyAsync();
        for (int kt = kTiles > LAG ? kTiles - LAG : 0; kt < kTiles; ++kt) barrierArrive(ring.full0 + 8 * (kt % T::STAGES));
#endif
    }
};

}  // namespace convf16
}  // namespace cuda

namespace {

using namespace cuda::convf16;

using T128x128 = cuda::wgmma::Tile<128, 4>;
using T128x256 = cuda::wgmma::Tile<256, 3>;

//! Launches one call: tmA describes the input as A (1x1 tactics; unused by the gathering ones), tmB the weights.
using WgmmaLaunchFn = void (*)(const CUtensorMap& tmA, const CUtensorMap& tmB, const F16ConvArgs& a, int kChunks, cudaStream_t stream);

struct WgmmaTactic {
    const char* name;
    bool oneByOne;  // A by TMA (1x1, stride 1, unpadded layers only) rather than gathered
    int BN, smemBytes;
    void (*prepare)();
    WgmmaLaunchFn launch;
};

template <class T>
void launchOneByOne(const CUtensorMap& tmA, const CUtensorMap& tmB, const F16ConvArgs& a, int, cudaStream_t stream) {
    cuda::wgmma::launch<T>(tmA, tmB, WgmmaConvEpilogue{a}, a.M, a.Kp, a.Cp, stream);
}

template <class T>
void launchGather(const CUtensorMap&, const CUtensorMap& tmB, const F16ConvArgs& a, int kChunks, cudaStream_t stream) {
    cuda::wgmma::launch<T>(tmB, tmB, WgmmaConvEpilogue{a}, a.M, a.Kp, kChunks * 8, stream, WgmmaConvGather{a, kChunks});
}

template <class T>
WgmmaTactic wgmmaTactic(const char* name, bool oneByOne) {
    return {name, oneByOne, T::BN, T::SMEM_BYTES,
            oneByOne ? &cuda::wgmma::prepare<T, WgmmaConvEpilogue> : &cuda::wgmma::prepare<T, WgmmaConvEpilogue, WgmmaConvGather>,
            oneByOne ? &launchOneByOne<T> : &launchGather<T>};
}

const std::vector<WgmmaTactic>& wgmmaTactics() {
    static const std::vector<WgmmaTactic> list = {
        wgmmaTactic<T128x128>("wgmma1x1_128x128x64_s4_hwc8", true),
        wgmmaTactic<T128x256>("wgmma1x1_128x256x64_s3_hwc8", true),
        // appended: tactic names, not positions, identify a tactic in engines and timing caches
        wgmmaTactic<T128x128>("wgmma_128x128x64_s4_hwc8", false),
        wgmmaTactic<T128x256>("wgmma_128x256x64_s3_hwc8", false),
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
        return op_.groups == 1 && supportsF16Conv(pos, inOut, nbInputs) && cuda::wgmma::available();
    }
    bool supportsStridedOutput() const noexcept override { return true; }  // LINEAR outputs: any batch stride

    int32_t getNbTactics() const noexcept override { return static_cast<int32_t>(wgmmaTactics().size()); }
    const char* getTacticName(int32_t t) const noexcept override {
        return t >= 0 && t < getNbTactics() ? wgmmaTactics()[static_cast<size_t>(t)].name : "invalid";
    }
    int32_t setTactic(int32_t t) noexcept override {
        if (!applicable(t)) return -1;
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
        GIE_CHECK(op_.groups == 1, ErrorCode::kINTERNAL, "Convolution (FP16 wgmma) configured with ", op_.groups, " groups");
        checkF16ConvFormats(in, nbInputs, out[0]);
        C_ = in[0].dims.d[1];
        Cp_ = storedChannels(C_, TensorFormat::kHWC8);
        kChunks_ = op_.R * op_.S * Cp_ / 8;
        const int64_t big = int64_t(1) << 28;
        // 32-bit offsets inside an image and the weights (TMA coordinates are 32-bit too); receptive-field steps far
        // from overflow (the gather's arithmetic).
        fits_ = fitsInt32(in[0].dims, out[0].dims) && op_.K < (int64_t(1) << 31) - 256 && op_.K * kChunks_ * 8 < (int64_t(1) << 31) - 1 &&
                op_.dh * op_.R < big && op_.dw * op_.S < big && op_.pt < big && op_.pl < big && op_.sh < big && op_.sw < big;
        configured_ = true;
        tactic_ = -1;  // the first that fits, until the builder picks by timing
        for (int32_t t = 0; t < getNbTactics() && tactic_ < 0; ++t)
            if (applicable(t)) tactic_ = t;
    }

    void run(const KernelCall& c) const override {
        GIE_CHECK(configured_ && tactic_ >= 0 && weights_, ErrorCode::kINTERNAL, "Convolution (FP16 wgmma) run before configure/initialize");
        GIE_CHECK(c.inDims(0).d[1] == C_, ErrorCode::kINTERNAL, "Convolution (FP16 wgmma): input has ", c.inDims(0).d[1], " channels, configured for ", C_);
        F16ConvArgs a = makeArgs(c, op_, bias_ ? bias_->as<float>() : nullptr, ep_);
        if (a.M <= 0) return;
        a.w = weights_->as<__half>();
        const WgmmaTactic& t = wgmmaTactics()[static_cast<size_t>(tactic_)];
        CUtensorMap ta, tb;
        const uint64_t reduction = static_cast<uint64_t>(kChunks_) * 8;  // halves per weight row
        cuda::wgmma::encodeTensorMap(&tb, a.w, reduction, static_cast<uint64_t>(a.K), reduction * 2, 64, static_cast<uint32_t>(t.BN));
        if (t.oneByOne) {
            // The pixels are the GEMM's rows only when the images lie back to back (the input is never strided: the
            // kernel does not claim supportsStridedInput).
            GIE_CHECK(a.xStride == int64_t(a.H) * a.W * a.Cp && a.P == a.H && a.Q == a.W, ErrorCode::kINTERNAL,
                      "Convolution (FP16 wgmma): the input is not a packed HWC8 tensor of the output's spatial size");
            cuda::wgmma::encodeTensorMap(&ta, a.x, static_cast<uint64_t>(a.Cp), static_cast<uint64_t>(a.M), static_cast<uint64_t>(a.Cp) * 2, 64, 128);
        } else {
            ta = tb;  // unused: the producer gathers A
        }
        t.launch(ta, tb, a, static_cast<int>(kChunks_), cuda::streamOf(c));
    }

private:
    bool isOneByOne() const {
        return op_.R == 1 && op_.S == 1 && op_.sh == 1 && op_.sw == 1 && op_.pt == 0 && op_.pl == 0 && op_.pb == 0 && op_.pr == 0;
    }

    //! The 1x1 tactics where the layer is a plain GEMM, the gathering ones everywhere else.
    bool applicable(int32_t t) const {
        if (!configured_ || !fits_ || t < 0 || t >= getNbTactics() || !cuda::wgmma::available()) return false;
        return wgmmaTactics()[static_cast<size_t>(t)].oneByOne == isOneByOne();
    }

    //! Weights (K, C, R, S) float -> half [K][R*S*Cp]: row k holds kk = (r*S + s)*Cp + c, zeros for c >= C (the TMA
    //! zero-fills past the row and past K).
    std::vector<uint16_t> packWeights(const std::vector<float>& w) const {
        const int64_t RS = op_.R * op_.S;
        GIE_CHECK(static_cast<int64_t>(w.size()) == op_.K * C_ * RS, ErrorCode::kINVALID_MODEL, "Convolution kernel has ", w.size(),
                  " values, expected ", op_.K * C_ * RS);
        std::vector<uint16_t> pk(static_cast<size_t>(op_.K * RS * Cp_), 0);
        for (int64_t k = 0; k < op_.K; ++k)
            for (int64_t ch = 0; ch < C_; ++ch)
                for (int64_t rs = 0; rs < RS; ++rs)
                    pk[static_cast<size_t>((k * RS + rs) * Cp_ + ch)] = floatToHalf(w[static_cast<size_t>((k * C_ + ch) * RS + rs)]);
        return pk;
    }

    cpu::Epilogue ep_;  // activation of the fused epilogue (bias / residual come per call)
    bool configured_ = false, fits_ = false;
    int64_t C_ = 0, Cp_ = 0, kChunks_ = 0;
    int32_t tactic_ = -1;
    std::shared_ptr<cuda::DeviceArray> bias_, weights_;
};
GIE_REGISTER_KERNEL(ConvolutionF16WgmmaGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
