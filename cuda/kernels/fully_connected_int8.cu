// GPU INT8 fully connected layer (variant "int8"; docs/int8.md): the CPU reference's arithmetic
// (kernels/fully_connected_int8_cpu.cpp) on the INT8 implicit GEMM of the convolution (int8_implicit_gemm.cuh, dp4a
// or integer tensor cores): weights quantized per output channel at configure with the CPU's own code, exact INT32
// dot products with the bias in accumulator units, the same float epilogue (fused activation), INT8 LINEAR or
// FLOAT / HALF LINEAR out ((rows, K), rows = volume / K).
//
// Input: INT8 CHW4 (N, C, H, W) with axis 1 (an FC after a convolution or pooling: the convolution whose kernel
// covers the whole plane, so CHW4's channel padding meets zero weights), or INT8 LINEAR of any rank (rows of `flat`
// values, read as words when a row is whole aligned words, else byte by byte).
//
// Tactics (names stable): dp4a_128x64x8 and imma_128x64x32 (the convolution's GEMM), and on Hopper with sm_90a code
// wgmma_s8_128x128x128_s4 (gemm_wgmma_s8.cuh: TMA + wgmma m64n128k32 s8, 4 stages): the input's image rows are the
// GEMM's A rows as they lie in memory (INT8 LINEAR rows of `flat` bytes, or a CHW4 image's C4 * H * W words, the
// weights permuted to that order), so it needs a row pitch that is a multiple of 16 bytes (a LINEAR `flat` or a
// CHW4 C4 * H * W * 4 that is) and a 16-byte aligned input; setTactic refuses it otherwise.
//
// Also the integer tensor-core tactics with
// larger tiles of int8_imma_gemm.cuh (imma_128x128x64_s4, imma_256x128x64_s3, imma_64x64x64_s4, and with split-K
// imma_64x64x64_s4_split4 / _split8), which read whole words: a LINEAR row that is not whole aligned words runs
// imma_128x64x32's kernel instead.
#include <cstdint>
#include <memory>
#include <vector>

#include "gemm_wgmma_s8.cuh"
#include "int8_common.cuh"
#include "int8_imma_gemm.cuh"
#include "int8_implicit_gemm.cuh"
#include "kernels/int8_cpu.h"
#include "layers/fully_connected.h"
#include "layers/fused_activation.h"

namespace gie {
namespace {

using namespace cuda::int8gpu;

using WgmmaS8Tile = cuda::wgmma::S8Tile<128, 4, false>;
using WgmmaS8Ep = cuda::wgmma::S8Epilogue<false>;  // row-major (rows, K) outputs: lanes along the channels

class FullyConnectedInt8Gpu final : public Kernel<FullyConnectedInt8Gpu, FullyConnectedOp> {
public:
    GIE_INT8_KERNEL_COMMON

    //! Input INT8 CHW4 (4-D, axis 1), INT8 NHWC laid out as LINEAR ((N, C, 1, 1): read as LINEAR rows of C bytes) or
    //! INT8 LINEAR; output INT8 LINEAR or FLOAT / HALF LINEAR.
    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        const TensorDesc& d = inOut[pos];
        if (pos == 0)
            return quantizedLinear(d) || ((quantizedChw4(d) || nhwcLaidOutAsLinear(d)) && (op_.axis == 1 || op_.axis == -3) && imageFits32(d));
        return quantizedLinear(d) || ((d.type == DataType::kFLOAT || d.type == DataType::kHALF) && d.format == TensorFormat::kLINEAR);
    }
    int32_t getNbTactics() const noexcept override { return kWgmma + 1; }
    const char* getTacticName(int32_t t) const noexcept override {
        if (isImma(t)) return immaTactics()[t - kImmaFirst].fcName;
        return t == kDp4a ? "dp4a_128x64x8" : t == kImma ? "imma_128x64x32" : t == kWgmma ? "wgmma_s8_128x128x128_s4" : "invalid";
    }
    int32_t setTactic(int32_t t) noexcept override {
        const bool ok = isImma(t) ? immaOk_ && immaTacticRuns(t - kImmaFirst)
                                  : t == kDp4a || (t == kImma && immaRuns()) || (t == kWgmma && wgmmaOk_ && cuda::wgmma::available());
        if (!ok) return -1;
        tactic_ = t;
        return 0;
    }
    int32_t getTactic() const noexcept override { return tactic_; }
    //! Split-K tactics: the INT32 partial sums of every split at the most rows given to configure.
    size_t getWorkspaceSize() const noexcept override {
        return configured_ && isImma(tactic_) ? immaWorkspaceBytes(immaTactics()[tactic_ - kImmaFirst].splits, maxRows_, op_.K) : 0;
    }

    void initializeKernel() override {
        GIE_CHECK(configured_, ErrorCode::kINTERNAL, "FullyConnected (INT8 GPU): initialize before configure");
        terminate();
        if (tactic_ == kWgmma) {
            GIE_CHECK(WgmmaS8Tile::SMEM_BYTES <= static_cast<int>(cuda::deviceProps().sharedMemPerBlockOptin), ErrorCode::kUNSUPPORTED,
                      "FullyConnected (INT8 GPU): tactic wgmma_s8_128x128x128_s4 needs ", WgmmaS8Tile::SMEM_BYTES,
                      " bytes of shared memory per block");
            cuda::wgmma::prepareS8<WgmmaS8Tile, WgmmaS8Ep>();
            weights_ = cuda::upload(wgmmaW_.rows, "FullyConnected INT8 weights (wgmma)");
        } else {
            weights_ = cuda::upload(gemm_.packed, "FullyConnected INT8 weights");
        }
        bias_ = cuda::upload(gemm_.bias, "FullyConnected INT8 bias");
        mult_ = cuda::upload(gemm_.mult, "FullyConnected INT8 scales");
        if (immaOk_ && immaRuns()) {
            immaWeights_ = cuda::upload(imma_.words, "FullyConnected INT8 weights (IMMA)");
            for (int i = 0; i < kImmaTactics; ++i)
                if (immaTacticRuns(i)) immaTactics()[i].prepare();
        }
    }
    void terminate() noexcept override {
        weights_.reset();
        bias_.reset();
        mult_.reset();
        immaWeights_.reset();
    }

protected:
    void configureKernel(const TensorDesc* in, int32_t, const TensorDesc* out, int32_t) override {
        const int64_t perK = op_.inputsPerOutput();
        maxRows_ = volume(out[0].dims) / op_.K;
        const cpu::int8cpu::QuantizedLayer q = cpu::int8cpu::quantizeLayer(fields_, op_.K, perK, in[0].scale, "FullyConnected");
        setEpilogueActivation(op_.activation, op_.actAlpha, op_.actBeta, ep_, "FullyConnected (INT8)");
        chw4_ = in[0].format == TensorFormat::kCHW4;
        // The weights' flat index is c*H*W + hw (C order) in both cases: a CHW4 input is the convolution with
        // R x S = H x W over C channels, a LINEAR one the 1x1 convolution over `flat` channels.
        const int64_t C = chw4_ ? in[0].dims.d[1] : perK, RS = chw4_ ? in[0].dims.d[2] * in[0].dims.d[3] : 1;
        GIE_CHECK(C * RS == perK, ErrorCode::kINTERNAL, "FullyConnected (INT8 GPU): input ", toString(in[0].dims), " does not flatten to ", perK);
        gemm_ = packInt8Gemm(q.weights, q.requant, 1, op_.K, C, RS, "FullyConnected");
        // wgmma (packed only where it can run): the input rows are A as they lie (a packed tensor: the FC claims no
        // strided input), so their length in bytes is the TMA's row pitch and must be a multiple of 16.
        wgmmaW_ = cuda::wgmma::available() ? cuda::wgmma::packS8Weights(q.weights, op_.K, C, RS, chw4_) : cuda::wgmma::S8Weights{};
        wgmmaOk_ = cuda::wgmma::available() && wgmmaW_.rowBytes % 16 == 0;
        immaOk_ = false;
        imma_ = ImmaWeights();
        try {
            imma_ = packImmaWeights(gemm_, 1, op_.K, "FullyConnected");
            immaOk_ = true;
        } catch (const Error&) {
            // padded to the larger tiles, too large for 32-bit indexing: the other tactics remain
        }
        configured_ = true;
        tactic_ = immaRuns() ? kImma : kDp4a;  // a default until the builder picks by timing
    }

    void run(const KernelCall& c) const override {
        GIE_CHECK(configured_ && weights_, ErrorCode::kINTERNAL, "FullyConnected (INT8 GPU) run before configure/initialize");
        const int64_t K = op_.K, flat = op_.inputsPerOutput();
        const int64_t rows = volume(c.outDims(0)) / K;
        if (rows == 0) return;
        GIE_CHECK(rows < (int64_t(1) << 31), ErrorCode::kUNSUPPORTED, "FullyConnected (INT8 GPU): ", rows, " rows per call exceed 2^31");
        if (tactic_ == kWgmma) {
            runWgmma(c, rows);
            return;
        }
        Int8GemmParams a;
        a.w = weights_->as<int>();
        a.wgs = gemm_.kredPad * gemm_.kPad;
        a.ep.bias = bias_->as<int>();
        a.ep.mult = mult_->as<float>();
        a.ep.y = realTensor(c.outputs[0], c.outDesc[0]);
        a.ep.y.bs = K;  // rows of K outputs (HW = 1 below)
        a.ep.act = static_cast<int>(ep_.act);
        a.ep.alpha = ep_.alpha;
        a.ep.beta = ep_.beta;
        a.K = static_cast<int>(K);
        a.P = a.Q = 1;
        a.C4 = static_cast<int>(gemm_.C4);
        a.kred = static_cast<int>(gemm_.kred);
        a.kPad = static_cast<int>(gemm_.kPad);
        a.M = static_cast<int>(rows);
        a.flat = static_cast<int>(flat);
        if (chw4_) {
            const Dims& x = c.inDims(0);
            GIE_CHECK(cuda::alignedTo(c.inputs[0], 4), ErrorCode::kINTERNAL, "FullyConnected (INT8 GPU): input must be 4-byte aligned");
            a.x = c.in<int>(0);
            a.xbs = c.inDesc[0].strides.d[0] / 4;
            a.H = a.R = static_cast<int>(x.d[2]);
            a.W = a.S = static_cast<int>(x.d[3]);
        } else {
            a.H = a.W = a.R = a.S = 1;
            if (flat % 4 == 0 && cuda::alignedTo(c.inputs[0], 4)) {
                a.x = c.in<int>(0);
                a.xbs = flat / 4;
            } else {
                a.xb = c.in<signed char>(0);
                a.xbs = flat;
            }
        }
        if (isImma(tactic_) && !a.xb) {
            GIE_CHECK(immaWeights_, ErrorCode::kINTERNAL, "FullyConnected (INT8 GPU): ", getTacticName(tactic_), " run without its weights");
            ImmaWeightsView wv;
            wv.w = immaWeights_->as<int>();
            wv.gs = imma_.rows * imma_.rowWords;
            wv.rowWords = static_cast<int>(imma_.rowWords);
            const ImmaTactic& t = immaTactics()[tactic_ - kImmaFirst];
            GIE_CHECK(t.splits == 1 || (c.workspace && cuda::aligned16(c.workspace) && rows <= maxRows_), ErrorCode::kINTERNAL,
                      "FullyConnected (INT8 GPU): split-K tactic ", t.fcName, " got no aligned workspace or more than the configured ", maxRows_, " rows");
            t.launch(a, wv, 1, c.workspace, cuda::streamOf(c));
            return;
        }
        launchInt8Gemm(a, 1, tactic_ != kDp4a, cuda::streamOf(c));
    }

private:
    // kImmaFirst + i: immaTactics()[i]; then the wgmma tactic
    static constexpr int32_t kDp4a = 0, kImma = 1, kImmaFirst = 2, kWgmma = kImmaFirst + kImmaTactics;
    static bool isImma(int32_t t) { return t >= kImmaFirst && t < kImmaFirst + kImmaTactics; }

    //! The wgmma tactic: A = the input's rows (rowBytes bytes each, the image's batch stride apart), B = wgmmaW_.
    void runWgmma(const KernelCall& c, int64_t rows) const {
        // Packed rows (the FC claims no strided input): a LINEAR input of any rank is `rows` rows of `flat` bytes, a
        // CHW4 one N images of C4 * H * W words.
        const int64_t pitch = wgmmaW_.rowBytes;
        GIE_CHECK(formatVolume(c.inDims(0), c.inDesc[0].format) == rows * pitch, ErrorCode::kINTERNAL,
                  "FullyConnected (INT8 wgmma): input ", toString(c.inDims(0)), " is not ", rows, " rows of ", pitch, " bytes");
        GIE_CHECK(cuda::alignedTo(c.inputs[0], 16), ErrorCode::kUNSUPPORTED, "FullyConnected (INT8 GPU): tactic wgmma_s8_128x128x128_s4 "
                  "needs a 16-byte aligned input (TMA); force another tactic");
        CUtensorMap ta, tb;
        cuda::wgmma::encodeS8Map(&ta, c.inputs[0], wgmmaW_.rowBytes, rows, pitch, WgmmaS8Tile::BM);
        cuda::wgmma::encodeS8Map(&tb, weights_->as<int8_t>(), wgmmaW_.pitch, op_.K, wgmmaW_.pitch, WgmmaS8Tile::BN);
        WgmmaS8Ep ep;
        ep.e.bias = bias_->as<int>();
        ep.e.mult = mult_->as<float>();
        ep.e.y = realTensor(c.outputs[0], c.outDesc[0]);
        ep.e.y.bs = op_.K;
        ep.e.act = static_cast<int>(ep_.act);
        ep.e.alpha = ep_.alpha;
        ep.e.beta = ep_.beta;
        ep.M = static_cast<int>(rows);
        ep.K = static_cast<int>(op_.K);
        ep.HW = 1;
        cuda::wgmma::launchS8<WgmmaS8Tile>(ta, tb, cuda::wgmma::Chw4Source{}, ep, rows, op_.K, static_cast<int>(wgmmaW_.rowBytes),
                                           cuda::streamOf(c));
    }

    int32_t tactic_ = kDp4a;
    cpu::Epilogue ep_;
    bool configured_ = false, chw4_ = false, immaOk_ = false, wgmmaOk_ = false;
    int64_t maxRows_ = 0;  // volume / K at the largest shapes (split-K's workspace)
    Int8GemmWeights gemm_;
    ImmaWeights imma_;
    cuda::wgmma::S8Weights wgmmaW_;
    std::shared_ptr<cuda::DeviceArray> weights_, bias_, mult_, immaWeights_;
};
GIE_REGISTER_KERNEL(FullyConnectedInt8Gpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
