// GPU Convolution, FP16 on tensor cores (variant "f16_hwc8_mma"): implicit GEMM with mma.sync m16n8k16, ldmatrix
// and a cp.async pipeline (conv2d_implicit_gemm_f16.cuh), groups == 1, any kernel size, stride, padding and
// dilation. Input HALF HWC8; output HALF HWC8, HALF LINEAR or FLOAT LINEAR (LINEAR outputs may be a slice of a
// concatenation); optional residual in the output's format (HALF or FLOAT); fused bias / residual / activation with the
// semantics of kernels/convolution_cpu.cpp (conv_f16_common.cuh). Tactics (names stable):
//   hmma_<BM>x<BN>x<BK>_w<WM>x<WN>_s<stages>_hwc8     any convolution
//   hmma1x1_<BM>x<BN>x<BK>_w<WM>x<WN>_s<stages>_hwc8  1x1, stride 1, no padding: the reduction is the channels
//                                                     of one pixel (no im2col walk); offered instead of hmma_
//   hmma[1x1]_<tile>_splitk<S>_hwc8                   split-K over S k-ranges plus a reduce + epilogue kernel
//                                                     (workspace S*M*Kp floats); offered only where the unsplit
//                                                     grid would not fill the GPU (deep layers at small batch)
// The BN = 32 tiles (128x32, 256x32) are offered only for K <= 64 (stems and narrow branches, where the wider
// tiles spend most of their MMAs and weight loads on the zero rows past K).
// The weights are converted to half and laid out for the GEMM at initialize; every shape is read from the
// descriptors at enqueue (configure keeps only the channel count, which the weights fix).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/half.h"
#include "conv2d_implicit_gemm_f16.cuh"

namespace gie {
namespace {

using namespace cuda::convf16;

using LaunchFn = void (*)(const F16ConvArgs&, int, int, int, const HmmaSplit&, cudaStream_t);

struct HmmaTileInfo {
    const char* name;
    int BM, BN, BK, smemBytes;
    void (*prepare)();
    LaunchFn generic, oneByOne;
    bool splitK;  // also offered with split-K
};

template <typename T>
HmmaTileInfo hmmaTileInfo(const char* name, bool splitK = false) {
    return {name, T::BM, T::BN, T::BK, T::SMEM_BYTES, &T::prepare, &T::template launch<false>, &T::template launch<true>, splitK};
}

//                  BM   BN  BK  WM  WN stages minBlocks
using T128x128 = HmmaTile<128, 128, 32, 64, 64, 4, 2>;
using T128x128w8 = HmmaTile<128, 128, 32, 32, 64, 4, 2>;
using T128x128k64 = HmmaTile<128, 128, 64, 64, 64, 3, 1>;
using T256x128 = HmmaTile<256, 128, 32, 64, 64, 3, 1>;
using T128x256 = HmmaTile<128, 256, 32, 64, 64, 3, 1>;
using T128x64 = HmmaTile<128, 64, 32, 64, 32, 4, 3>;
using T64x128 = HmmaTile<64, 128, 32, 32, 64, 4, 3>;
using T64x64 = HmmaTile<64, 64, 32, 32, 32, 4, 4>;
using T128x32 = HmmaTile<128, 32, 32, 32, 32, 4, 4>;
using T256x32 = HmmaTile<256, 32, 32, 64, 32, 4, 2>;

//! Tiles of BN = 32: only for K <= kNarrowMaxK (see the file comment).
constexpr int kNarrowMaxK = 64;
//! Split-K factors offered on the splitK tiles, and the most workspace (partial sums) one may take: beyond it the
//! FP32 partials cost more memory and traffic than a fuller grid saves.
constexpr int kSplits[] = {2, 4, 8, 16};
constexpr int64_t kMaxSplitKBytes = int64_t(64) << 20;

const std::vector<HmmaTileInfo>& hmmaTiles() {
    static const std::vector<HmmaTileInfo> list = {
        hmmaTileInfo<T128x128>("128x128x32_w64x64_s4", true), hmmaTileInfo<T128x128w8>("128x128x32_w32x64_s4"),
        hmmaTileInfo<T128x128k64>("128x128x64_w64x64_s3"), hmmaTileInfo<T256x128>("256x128x32_w64x64_s3"),
        hmmaTileInfo<T128x256>("128x256x32_w64x64_s3"), hmmaTileInfo<T128x64>("128x64x32_w64x32_s4", true),
        hmmaTileInfo<T64x128>("64x128x32_w32x64_s4"),   hmmaTileInfo<T64x64>("64x64x32_w32x32_s4", true),
        // appended: tactic names, not positions, identify a tactic in engines and timing caches
        hmmaTileInfo<T128x32>("128x32x32_w32x32_s4"),   hmmaTileInfo<T256x32>("256x32x32_w64x32_s4"),
    };
    return list;
}

struct HmmaTactic {
    std::string name;
    int tile;
    bool oneByOne;
    int splits;  // split-K factor (1: none)
};

const std::vector<HmmaTactic>& hmmaTactics() {
    static const std::vector<HmmaTactic> list = [] {
        std::vector<HmmaTactic> v;
        const auto& t = hmmaTiles();
        for (bool one : {false, true})
            for (size_t i = 0; i < t.size(); ++i)
                v.push_back({std::string(one ? "hmma1x1_" : "hmma_") + t[i].name + "_hwc8", static_cast<int>(i), one, 1});
        for (bool one : {false, true})
            for (size_t i = 0; i < t.size(); ++i)
                if (t[i].splitK)
                    for (int sp : kSplits)
                        v.push_back({std::string(one ? "hmma1x1_" : "hmma_") + t[i].name + "_splitk" + std::to_string(sp) + "_hwc8",
                                     static_cast<int>(i), one, sp});
        return v;
    }();
    return list;
}

int64_t roundUpTo(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

class ConvolutionF16MmaGpu final : public Kernel<ConvolutionF16MmaGpu, ConvolutionOp> {
public:
    static constexpr const char* kVariant = "f16_hwc8_mma";

    explicit ConvolutionF16MmaGpu(FieldMap f) : Kernel(std::move(f)) {
        setEpilogueActivation(op_.activation, op_.actAlpha, op_.actBeta, ep_, "Convolution");
    }

    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t nbInputs, int32_t) const noexcept override {
        return op_.groups == 1 && supportsF16Conv(pos, inOut, nbInputs);
    }
    bool supportsStridedOutput() const noexcept override { return true; }  // LINEAR outputs: any batch stride

    int32_t getNbTactics() const noexcept override { return static_cast<int32_t>(hmmaTactics().size()); }
    const char* getTacticName(int32_t t) const noexcept override {
        return t >= 0 && t < getNbTactics() ? hmmaTactics()[static_cast<size_t>(t)].name.c_str() : "invalid";
    }
    int32_t setTactic(int32_t t) noexcept override {
        if (!applicable(t)) return -1;
        tactic_ = t;
        return 0;
    }
    int32_t getTactic() const noexcept override { return tactic_; }

    //! Split-K tactics: the partial sums of every split for the largest shapes given to configure.
    size_t getWorkspaceSize() const noexcept override {
        if (!configured_ || tactic_ < 0) return 0;
        const int splits = hmmaTactics()[static_cast<size_t>(tactic_)].splits;
        return splits > 1 ? static_cast<size_t>(splits) * static_cast<size_t>(maxM_) * static_cast<size_t>(Kp_) * sizeof(float) : 0;
    }

    void initializeKernel() override {
        GIE_CHECK(configured_ && tactic_ >= 0, ErrorCode::kINTERNAL, "Convolution (FP16): initialize before configure");
        terminate();
        const HmmaTileInfo& tile = hmmaTiles()[static_cast<size_t>(hmmaTactics()[static_cast<size_t>(tactic_)].tile)];
        GIE_CHECK(tile.smemBytes <= static_cast<int>(cuda::deviceProps().sharedMemPerBlockOptin), ErrorCode::kUNSUPPORTED,
                  "Convolution (FP16): tactic ", getTacticName(tactic_), " needs ", tile.smemBytes, " bytes of shared memory per block");
        tile.prepare();
        auto bias = fields_.floats("bias");
        if (!bias.empty()) bias_ = cuda::upload(bias, "Convolution bias");
        weights_ = cuda::upload(packWeights(fields_.floats("kernel")), "Convolution FP16 weights");
    }
    void terminate() noexcept override {
        bias_.reset();
        weights_.reset();
    }

protected:
    void configureKernel(const TensorDesc* in, int32_t nbInputs, const TensorDesc* out, int32_t) override {
        GIE_CHECK(op_.groups == 1, ErrorCode::kINTERNAL, "Convolution (FP16 tensor cores) configured with ", op_.groups, " groups");
        checkF16ConvFormats(in, nbInputs, out[0]);
        C_ = in[0].dims.d[1];
        maxM_ = out[0].dims.d[0] * out[0].dims.d[2] * out[0].dims.d[3];
        Kp_ = storedChannels(op_.K, TensorFormat::kHWC8);
        sms_ = cuda::numSMs();
        const int64_t cp = storedChannels(C_, TensorFormat::kHWC8);
        kChunks_ = op_.R * op_.S * cp / 8;
        wRow_ = roundUpTo(kChunks_, kMaxChunksPerRow) * 8;
        const int64_t lim = (int64_t(1) << 31) - 1;
        // 32-bit offsets inside an image and the weights; receptive-field steps far from overflow.
        fits_ = fitsInt32(in[0].dims, out[0].dims) && roundUpTo(op_.K, kMaxBN) * wRow_ < lim && op_.dh * op_.R < (int64_t(1) << 28) &&
                op_.dw * op_.S < (int64_t(1) << 28) && op_.pt < (int64_t(1) << 28) && op_.pl < (int64_t(1) << 28) &&
                op_.sh < (int64_t(1) << 28) && op_.sw < (int64_t(1) << 28);
        configured_ = true;
        tactic_ = -1;  // a default until the builder picks by timing
        for (const char* name : {"hmma1x1_128x128x32_w64x64_s4_hwc8", "hmma_128x128x32_w64x64_s4_hwc8"}) {
            const int t = indexOf(name);
            if (t >= 0 && applicable(t)) {
                tactic_ = t;
                break;
            }
        }
    }

    void run(const KernelCall& c) const override {
        GIE_CHECK(configured_ && tactic_ >= 0 && weights_, ErrorCode::kINTERNAL, "Convolution (FP16) run before configure/initialize");
        GIE_CHECK(c.inDims(0).d[1] == C_, ErrorCode::kINTERNAL, "Convolution (FP16): input has ", c.inDims(0).d[1], " channels, configured for ", C_);
        F16ConvArgs a = makeArgs(c, op_, bias_ ? bias_->as<float>() : nullptr, ep_);
        if (a.M <= 0) return;
        a.w = weights_->as<__half>();
        const HmmaTactic& t = hmmaTactics()[static_cast<size_t>(tactic_)];
        const HmmaTileInfo& tile = hmmaTiles()[static_cast<size_t>(t.tile)];
        HmmaSplit sk;
        if (t.splits > 1) {
            GIE_CHECK(c.workspace && cuda::aligned16(c.workspace) && a.M <= maxM_, ErrorCode::kINTERNAL, "Convolution (FP16): split-K tactic ",
                      t.name, " got no aligned workspace or more than the configured ", maxM_, " output pixels");
            sk.partial = static_cast<float*>(c.workspace);
            sk.tilesPerSplit = static_cast<int>(cuda::ceilDiv(cuda::ceilDiv(kChunks_, tile.BK / 8), t.splits));
        }
        cudaStream_t stream = cuda::streamOf(c);
        (t.oneByOne ? tile.oneByOne : tile.generic)(a, static_cast<int>(kChunks_), static_cast<int>(wRow_), t.splits, sk, stream);
        cuda::checkLaunch(t.oneByOne ? "hmmaConvKernel<1x1>" : "hmmaConvKernel");
        if (t.splits > 1) {
            const int64_t blocks = std::min<int64_t>(cuda::ceilDiv(int64_t(a.M) * (a.Kp / 8), 256), int64_t(sms_) * 16);
            cuda::launchPdl("hmmaSplitKReduceKernel", hmmaSplitKReduceKernel, dim3(static_cast<unsigned>(std::max<int64_t>(blocks, 1))), dim3(256), 0,
                            stream, a, static_cast<const float*>(sk.partial), t.splits);
        }
    }

private:
    static int indexOf(const char* name) {
        const auto& l = hmmaTactics();
        for (size_t i = 0; i < l.size(); ++i)
            if (l[i].name == name) return static_cast<int>(i);
        return -1;
    }

    bool isOneByOne() const {
        return op_.R == 1 && op_.S == 1 && op_.sh == 1 && op_.sw == 1 && op_.pt == 0 && op_.pl == 0 && op_.pb == 0 && op_.pr == 0;
    }

    //! Whether tactic t can run the configured shapes (and is worth timing): the 1x1 tactics where they apply, the
    //! generic ones elsewhere; BN = 32 tiles for narrow outputs; split-K where the unsplit grid is small.
    bool applicable(int32_t t) const {
        if (!configured_ || !fits_ || t < 0 || t >= getNbTactics()) return false;
        const HmmaTactic& d = hmmaTactics()[static_cast<size_t>(t)];
        const HmmaTileInfo& tile = hmmaTiles()[static_cast<size_t>(d.tile)];
        if (d.oneByOne != isOneByOne() || cuda::ceilDiv(op_.K, tile.BN) > 65535) return false;
        if (tile.BN == 32 && op_.K > kNarrowMaxK) return false;
        if (d.splits == 1) return true;
        // Split-K: only where the unsplit grid (at the largest shapes) leaves SMs idle, with >= 2 k-tiles per split
        // and no empty split (otherwise it repeats a smaller factor), within kMaxSplitKBytes of partial sums.
        const int64_t kTiles = cuda::ceilDiv(kChunks_, tile.BK / 8), perSplit = cuda::ceilDiv(kTiles, d.splits);
        const int64_t blocks = cuda::ceilDiv(maxM_, tile.BM) * cuda::ceilDiv(op_.K, tile.BN);
        return perSplit >= 2 && cuda::ceilDiv(kTiles, perSplit) == d.splits && blocks < 2 * int64_t(sms_) &&
               int64_t(d.splits) * maxM_ * Kp_ * int64_t(sizeof(float)) <= kMaxSplitKBytes;
    }

    //! Weights (K, C, R, S) float -> half [roundUp(K, kMaxBN)][wRow_]: row k holds kk = (r*S + s)*Cp + c, zeros
    //! for c >= C, past kChunks_*8 and in the rows k >= K (tiles then load B without bounds checks).
    std::vector<uint16_t> packWeights(const std::vector<float>& w) const {
        const int64_t cp = storedChannels(C_, TensorFormat::kHWC8), RS = op_.R * op_.S;
        GIE_CHECK(static_cast<int64_t>(w.size()) == op_.K * C_ * RS, ErrorCode::kINVALID_MODEL, "Convolution kernel has ", w.size(),
                  " values, expected ", op_.K * C_ * RS);
        std::vector<uint16_t> pk(static_cast<size_t>(roundUpTo(op_.K, kMaxBN) * wRow_), 0);
        for (int64_t k = 0; k < op_.K; ++k)
            for (int64_t ch = 0; ch < C_; ++ch)
                for (int64_t rs = 0; rs < RS; ++rs)
                    pk[static_cast<size_t>(k * wRow_ + rs * cp + ch)] = floatToHalf(w[static_cast<size_t>((k * C_ + ch) * RS + rs)]);
        return pk;
    }

    cpu::Epilogue ep_;  // activation of the fused epilogue (bias / residual come per call)
    bool configured_ = false, fits_ = false;
    int64_t C_ = 0, kChunks_ = 0, wRow_ = 0, maxM_ = 0, Kp_ = 0;  // maxM_: N*P*Q at the largest shapes
    int sms_ = 1;
    int32_t tactic_ = -1;
    std::shared_ptr<cuda::DeviceArray> bias_, weights_;
};
GIE_REGISTER_KERNEL(ConvolutionF16MmaGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
