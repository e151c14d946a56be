// GPU Convolution (NCHW linear; FP32, or FP16 storage with FP32 math): y = act(conv(x, W) + bias[k] + residual),
// the semantics of kernels/convolution_cpu.cpp. Tactics (timed by the builder; names are stable):
//   implicit_gemm_<BMxBNxBK>_<TMxTN>[_splitk<S>]          CUDA-core implicit GEMM, any shape (conv_implicit_gemm.cuh)
//   implicit_gemm_3xtf32_<BMxBNxBK>_w<WMxWN>[_splitk<S>]  the same GEMM on tensor cores, 3xTF32 (FP32-accurate;
//                                                         conv_tf32x3.cuh)
//   gemm1x1_...                                           the GEMMs above with 16-byte input loads, for 1x1
//                                                         stride-1 unpadded convolutions with H*W % 4 == 0
//   winograd2x2_<tile>                                    Winograd F(2x2, 3x3) (conv_winograd.cuh): transforms
//                                                         around 16 GEMMs on the tiles above; 3x3, stride 1, no
//                                                         dilation or groups; images in chunks (kWinogradChunkBytes)
//   depthwise_direct                                      C/groups == 1 (conv_direct.cuh)
//   direct_naive                                          one thread per output; supports everything
// Split-K tactics write partial sums into the workspace and a second kernel reduces them and applies the
// epilogue; they are offered only where the unsplit grid would not fill the GPU.
// Strided input (a channel slice of a wider tensor) and strided output (a slice of a concatenation) are
// honoured through the batch strides of the tensor descriptors.
// Shapes: configure() sees the largest shapes and sizes the workspace and the 32-bit index checks for them;
// run() reads N, H, W, P, Q from the descriptors of the call (any shape up to the configured one per dimension),
// so nothing here depends on the spatial size at configure (the im2col table holds (c, r*dh, s*dw) only).
// FP16 storage (every float tensor kHALF, LINEAR): x, y and the residual are read and written as half, every
// tactic computes in FP32 (the kernels are templates on the element type); the weights are rounded to half
// values at initialize and kept in the FP32 packed layouts (so the GEMMs' weight loads are unchanged; the same
// numbers as half weights), the bias stays FP32.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "common.cuh"
#include "common/format.h"  // batchStrideOf
#include "conv_direct.cuh"
#include "conv_implicit_gemm.cuh"
#include "conv_tf32x3.cuh"
#include "conv_winograd.cuh"
#include "float_or_half.cuh"
#include "layers/convolution.h"
#include "layers/fused_activation.h"

namespace gie {
namespace {

using namespace cuda::conv;

using LaunchFn = void (*)(const GemmArgs&, cudaStream_t);

//! A GEMM tile configuration and its B loaders, per element type (index 0: float, 1: __half).
struct TileInfo {
    const char* name;
    int BM, BN, BK;
    bool splitWeights;  // 3xTF32: packed weights as tf32(w) followed by tf32(w - tf32(w))
    void (*prepare[2])();
    LaunchFn generic[2], oneByOne[2];
    bool splitK;  // offered with split-K variants
};

template <typename Tl>
TileInfo tileInfo(const char* name, bool splitK) {
    return {name,
            Tl::BM,
            Tl::BN,
            Tl::BK,
            Tl::kSplitWeights,
            {&Tl::template prepare<float>, &Tl::template prepare<__half>},
            {&Tl::template launch<false, float>, &Tl::template launch<false, __half>},
            {&Tl::template launch<true, float>, &Tl::template launch<true, __half>},
            splitK};
}

// CUDA-core tiles.            BM   BN  BK TM TN stages minBlocks
using Tile128x128 = GemmTile<128, 128, 8, 8, 8, 4, 2>;
using Tile128x64 = GemmTile<128, 64, 8, 8, 4, 3, 2>;
using Tile64x128 = GemmTile<64, 128, 8, 4, 8, 3, 2>;
using Tile64x64 = GemmTile<64, 64, 8, 4, 4, 3, 3>;
using Tile64x32 = GemmTile<64, 32, 8, 4, 4, 3, 4>;
using Tile32x64 = GemmTile<32, 64, 8, 4, 4, 3, 4>;
using Tile32x32 = GemmTile<32, 32, 8, 4, 4, 3, 6>;
// 3xTF32 tensor-core tiles.            BM   BN  BK  WM  WN stages minBlocks
using TcTile128x128 = GemmTileTf32x3<128, 128, 16, 64, 32, 3, 2>;
using TcTile128x64 = GemmTileTf32x3<128, 64, 16, 64, 32, 3, 3>;
using TcTile64x128 = GemmTileTf32x3<64, 128, 16, 64, 32, 3, 3>;
using TcTile64x64 = GemmTileTf32x3<64, 64, 16, 32, 32, 3, 4>;
using TcTile64x32 = GemmTileTf32x3<64, 32, 16, 32, 16, 3, 4>;
using TcTile32x128 = GemmTileTf32x3<32, 128, 16, 32, 32, 3, 4>;

const std::vector<TileInfo>& tiles() {
    static const std::vector<TileInfo> list = {
        tileInfo<Tile128x128>("128x128x8_8x8", false),
        tileInfo<Tile128x64>("128x64x8_8x4", true),
        tileInfo<Tile64x128>("64x128x8_4x8", false),
        tileInfo<Tile64x64>("64x64x8_4x4", true),
        tileInfo<Tile64x32>("64x32x8_4x4", true),
        tileInfo<Tile32x64>("32x64x8_4x4", true),
        tileInfo<Tile32x32>("32x32x8_4x4", true),
        tileInfo<TcTile128x128>("3xtf32_128x128x16_w64x32", false),
        tileInfo<TcTile128x64>("3xtf32_128x64x16_w64x32", true),
        tileInfo<TcTile64x128>("3xtf32_64x128x16_w64x32", false),
        tileInfo<TcTile64x64>("3xtf32_64x64x16_w32x32", true),
        tileInfo<TcTile64x32>("3xtf32_64x32x16_w32x16", true),
        tileInfo<TcTile32x128>("3xtf32_32x128x16_w32x32", false),
    };
    return list;
}

enum class Algo { kGemm, kGemm1x1, kWinograd, kDepthwise, kDirect };

//! Workspace bound of the Winograd tactics: the transformed input and the GEMM results of as many images
//! as fit run at a time.
constexpr int64_t kWinogradChunkBytes = int64_t(512) << 20;

struct TacticDesc {
    std::string name;
    Algo algo;
    int tile;    // index into tiles() for the GEMM algorithms
    int splits;  // split-K factor (1: none)
};

const std::vector<TacticDesc>& tactics() {
    static const std::vector<TacticDesc> list = [] {
        std::vector<TacticDesc> v;
        const auto& t = tiles();
        for (Algo a : {Algo::kGemm, Algo::kGemm1x1}) {
            const std::string prefix = a == Algo::kGemm ? "implicit_gemm_" : "gemm1x1_";
            for (size_t i = 0; i < t.size(); ++i) v.push_back({prefix + t[i].name, a, static_cast<int>(i), 1});
            for (size_t i = 0; i < t.size(); ++i)
                if (t[i].splitK)
                    for (int sp : {2, 4, 8, 16})
                        v.push_back({prefix + t[i].name + "_splitk" + std::to_string(sp), a, static_cast<int>(i), sp});
        }
        for (size_t i = 0; i < t.size(); ++i) v.push_back({std::string("winograd2x2_") + t[i].name, Algo::kWinograd, static_cast<int>(i), 1});
        v.push_back({"depthwise_direct", Algo::kDepthwise, -1, 1});
        v.push_back({"direct_naive", Algo::kDirect, -1, 1});
        return v;
    }();
    return list;
}

int64_t roundUp(int64_t v, int64_t m) { return (v + m - 1) / m * m; }


class ConvolutionGpu final : public Kernel<ConvolutionGpu, ConvolutionOp> {
public:
    explicit ConvolutionGpu(FieldMap f) : Kernel(std::move(f)) {
        cpu::Epilogue ep;
        setEpilogueActivation(op_.activation, op_.actAlpha, op_.actBeta, ep, "Convolution");
        act_ = static_cast<int>(ep.act);
        alpha_ = ep.alpha;
        beta_ = ep.beta;
    }

    bool supportsStridedOutput() const noexcept override { return true; }
    bool supportsStridedInput() const noexcept override { return true; }
    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        return cuda::floatOrHalfLinear(pos, inOut);
    }

    int32_t getNbTactics() const noexcept override { return static_cast<int32_t>(tactics().size()); }
    const char* getTacticName(int32_t t) const noexcept override {
        return t >= 0 && t < getNbTactics() ? tactics()[static_cast<size_t>(t)].name.c_str() : "invalid";
    }
    int32_t setTactic(int32_t t) noexcept override {
        if (!applicable(t)) return -1;
        tactic_ = t;
        return 0;
    }
    int32_t getTactic() const noexcept override { return tactic_; }

    size_t getWorkspaceSize() const noexcept override {
        if (!configured_ || tactic_ < 0) return 0;
        const TacticDesc& d = tactics()[static_cast<size_t>(tactic_)];
        if (d.algo == Algo::kWinograd) return static_cast<size_t>(winogradBytes(winogradChunk(maxN_, P_, Q_, kWinogradChunkBytes), P_, Q_));
        if (d.splits <= 1) return 0;
        return static_cast<size_t>(d.splits) * static_cast<size_t>(op_.K) * static_cast<size_t>(maxN_ * P_ * Q_) * sizeof(float);
    }

    void initializeKernel() override {
        GIE_CHECK(configured_ && tactic_ >= 0, ErrorCode::kINTERNAL, "Convolution: initialize before configure");
        terminate();
        auto bias = fields_.floats("bias");
        if (!bias.empty()) bias_ = cuda::upload(bias, "Convolution bias");
        auto w = fields_.floats("kernel");
        if (half_) cuda::roundToHalfValues(w);  // FP16 weights, held as FP32 values (see the file comment)
        const Algo algo = tactics()[static_cast<size_t>(tactic_)].algo;
        if (algo == Algo::kGemm || algo == Algo::kGemm1x1 || algo == Algo::kWinograd) {
            const TileInfo& tile = tiles()[static_cast<size_t>(tactics()[static_cast<size_t>(tactic_)].tile)];
            // (the Winograd GEMMs run on the FP32 transformed planes whatever the tensors' type)
            tile.prepare[half_ && algo != Algo::kWinograd ? 1 : 0]();
            std::vector<float> pk = algo == Algo::kWinograd ? packWinogradWeights(w) : packWeights(w);
            smallOffset_ = 0;
            if (tile.splitWeights) {
                smallOffset_ = static_cast<int64_t>(pk.size());
                pk.resize(pk.size() * 2);
                for (int64_t i = 0; i < smallOffset_; ++i) {
                    const float big = tf32Round(pk[static_cast<size_t>(i)]);
                    pk[static_cast<size_t>(smallOffset_ + i)] = tf32Round(pk[static_cast<size_t>(i)] - big);
                    pk[static_cast<size_t>(i)] = big;
                }
            }
            splitWeights_ = tile.splitWeights;
            packed_ = cuda::upload(pk, "Convolution packed weights");
            if (algo != Algo::kWinograd) table_ = cuda::upload(makeTable(), "Convolution im2col table");
        } else {
            weights_ = cuda::upload(w, "Convolution weights");
        }
    }
    void terminate() noexcept override {
        bias_.reset();
        weights_.reset();
        packed_.reset();
        table_.reset();
    }

protected:
    void configureKernel(const TensorDesc* in, int32_t, const TensorDesc* out, int32_t) override {
        const Dims& x = in[0].dims;
        const Dims& y = out[0].dims;
        maxN_ = x.d[0];
        half_ = in[0].type == DataType::kHALF;
        C_ = x.d[1];
        H_ = x.d[2];
        W_ = x.d[3];
        P_ = y.d[2];
        Q_ = y.d[3];
        G_ = op_.groups;
        Cg_ = C_ / G_;
        Kg_ = op_.K / G_;
        kdim_ = Cg_ * op_.R * op_.S;
        kdimPad_ = roundUp(kdim_, kKdimAlign);
        mPad_ = roundUp(Kg_, 4);
        sms_ = cuda::numSMs();
        const int64_t lim = (int64_t(1) << 31) - 1;
        // 32-bit index math inside one image / one packed weight array (the fast kernels rely on it).
        const int64_t paddedImage = (C_ + 1) * (H_ + op_.pt + op_.pb + 1) * (W_ + op_.pl + op_.pr + 1);
        const int64_t cols = maxN_ * P_ * Q_;
        fits32_ = paddedImage < lim && cols < lim && op_.K <= lim / std::max<int64_t>(cols, 1) &&
                  G_ * kdimPad_ * mPad_ + kPackSlack < lim &&
                  H_ + op_.pt + op_.pb < (int64_t(1) << 28) && W_ + op_.pl + op_.pr < (int64_t(1) << 28) &&
                  op_.dh * op_.R < (int64_t(1) << 28) && op_.dw * op_.S < (int64_t(1) << 28);
        configured_ = true;
        // A reasonable default until the builder picks by timing.
        tactic_ = -1;
        for (const char* name : {"gemm1x1_64x64x8_4x4", "implicit_gemm_64x64x8_4x4", "depthwise_direct", "direct_naive"}) {
            int t = indexOf(name);
            if (t >= 0 && applicable(t)) {
                tactic_ = t;
                break;
            }
        }
    }

    void run(const KernelCall& c) const override {
        GIE_CHECK(configured_ && tactic_ >= 0, ErrorCode::kINTERNAL, "Convolution kernel used before configure");
        const Dims& xd = c.inDims(0);
        const Dims& yd = c.outDims(0);
        const int64_t N = xd.d[0];
        if (N <= 0) return;
        // Any shape up to the configured one: the workspace and the 32-bit index checks were sized for that.
        GIE_CHECK(xd.nbDims == 4 && yd.nbDims == 4 && xd.d[1] == C_ && yd.d[1] == op_.K && N <= maxN_ && xd.d[2] <= H_ &&
                      xd.d[3] <= W_ && yd.d[2] <= P_ && yd.d[3] <= Q_,
                  ErrorCode::kINVALID_ARGUMENT, "Convolution: shapes ", toString(xd), " -> ", toString(yd), " exceed the configured (",
                  maxN_, ", ", C_, ", ", H_, ", ", W_, ") -> (", maxN_, ", ", op_.K, ", ", P_, ", ", Q_, ")");
        const bool half = c.inDesc[0].type == DataType::kHALF;
        GIE_CHECK(half == half_, ErrorCode::kINVALID_ARGUMENT, "Convolution: configured for ", half_ ? "FP16" : "FP32",
                  " tensors, called with ", half ? "FP16" : "FP32");
        ConvShape s;
        s.x = c.in(0);  // FP32-typed pointers to elements of either type (conv_common.cuh)
        s.y = c.out(0);
        s.xStride = batchStrideOf(c.inDesc[0]);
        s.yStride = batchStrideOf(c.outDesc[0]);
        s.ep.bias = bias_ ? bias_->as<float>() : nullptr;
        s.ep.residual = c.nbInputs > 1 ? c.in(1) : nullptr;
        s.rStride = c.nbInputs > 1 ? batchStrideOf(c.inDesc[1]) : 0;
        s.ep.act = act_;
        s.ep.alpha = alpha_;
        s.ep.beta = beta_;
        s.N = static_cast<int>(N);
        s.C = static_cast<int>(C_);
        s.H = static_cast<int>(xd.d[2]);
        s.W = static_cast<int>(xd.d[3]);
        s.K = static_cast<int>(op_.K);
        s.P = static_cast<int>(yd.d[2]);
        s.Q = static_cast<int>(yd.d[3]);
        s.R = static_cast<int>(op_.R);
        s.S = static_cast<int>(op_.S);
        s.G = static_cast<int>(G_);
        s.Cg = static_cast<int>(Cg_);
        s.Kg = static_cast<int>(Kg_);
        s.sh = static_cast<int>(op_.sh);
        s.sw = static_cast<int>(op_.sw);
        s.pt = static_cast<int>(op_.pt);
        s.pl = static_cast<int>(op_.pl);
        s.dh = static_cast<int>(op_.dh);
        s.dw = static_cast<int>(op_.dw);
        if (half)
            launch<__half>(s, c.workspace, cuda::streamOf(c));
        else
            launch<float>(s, c.workspace, cuda::streamOf(c));
    }

private:
    //! Runs the chosen tactic on the call's shapes (in s); E: the element type of x, y and the residual.
    template <typename E>
    void launch(const ConvShape& s, void* workspace, cudaStream_t stream) const {
        const TacticDesc& d = tactics()[static_cast<size_t>(tactic_)];
        const int64_t N = s.N, PQ = int64_t(s.P) * s.Q;
        const int ti = std::is_same<E, float>::value ? 0 : 1;

        if (d.algo == Algo::kDirect || d.algo == Algo::kDepthwise) {
            GIE_CHECK(weights_, ErrorCode::kINTERNAL, "Convolution: tactic ", d.name, " run before initialize()");
            if (d.algo == Algo::kDepthwise) {
                const int threads = static_cast<int>(std::min<int64_t>(256, roundUp(PQ, 32)));
                const int chunks = static_cast<int>(cuda::ceilDiv(PQ, threads));
                const int64_t blocks = N * op_.K * chunks;
                convDepthwiseKernel<E><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(s, weights_->as<float>(), chunks);
                cuda::checkLaunch("convDepthwiseKernel");
            } else {
                const int64_t total = N * op_.K * PQ;
                const int64_t blocks = std::min<int64_t>(cuda::ceilDiv(total, 256), int64_t(sms_) * 32);
                convDirectKernel<E><<<static_cast<unsigned>(std::max<int64_t>(blocks, 1)), 256, 0, stream>>>(s, weights_->as<float>());
                cuda::checkLaunch("convDirectKernel");
            }
            return;
        }

        if (d.algo == Algo::kWinograd) {
            runWinograd<E>(s, d, workspace, stream);
            return;
        }
        const TileInfo& t = tiles()[static_cast<size_t>(d.tile)];
        GIE_CHECK(packed_ && table_ && splitWeights_ == t.splitWeights, ErrorCode::kINTERNAL, "Convolution: tactic ", d.name,
                  " run without its initialize()");
        GemmArgs a;
        a.s = s;
        a.wpk = packed_->as<float>();
        a.smallOffset = smallOffset_;
        a.table = table_->as<int4>();
        a.ncols = static_cast<int>(N * PQ);
        a.kdimPad = static_cast<int>(kdimPad_);
        a.mPad = static_cast<int>(mPad_);
        const int kTiles = static_cast<int>(kdimPad_ / t.BK);
        a.splits = d.splits;
        a.kTilesPerSplit = static_cast<int>(cuda::ceilDiv(kTiles, d.splits));
        if (d.splits > 1) {
            GIE_CHECK(workspace, ErrorCode::kINTERNAL, "Convolution: split-K tactic ", d.name, " got no workspace");
            a.partial = static_cast<float*>(workspace);
        }
        // The 1x1 loader reads four pixels at once: it needs H*W % 4 == 0 for this call's shape and aligned image
        // bases (16 bytes for FP32, 8 for FP16); otherwise the generic loader (the table covers 1x1 too) runs.
        const bool vec1x1 = d.algo == Algo::kGemm1x1 && PQ % 4 == 0 && s.xStride % 4 == 0 &&
                            cuda::alignedTo(s.x, 4 * sizeof(E));
        (vec1x1 ? t.oneByOne[ti] : t.generic[ti])(a, stream);
        cuda::checkLaunch(vec1x1 ? "convGemmKernel<1x1>" : "convGemmKernel");
        if (d.splits > 1) {
            const int64_t slice = op_.K * N * PQ;
            const int64_t blocks = std::min<int64_t>(cuda::ceilDiv(slice, 256), int64_t(sms_) * 16);
            splitKReduceKernel<E><<<static_cast<unsigned>(std::max<int64_t>(blocks, 1)), 256, 0, stream>>>(a.partial, d.splits,
                                                                                                          a.ncols, s);
            cuda::checkLaunch("splitKReduceKernel");
        }
    }

    static int indexOf(const char* name) {
        const auto& l = tactics();
        for (size_t i = 0; i < l.size(); ++i)
            if (l[i].name == name) return static_cast<int>(i);
        return -1;
    }

    //! Whether tactic t can run the configured shapes (and is worth timing).
    bool applicable(int32_t t) const {
        if (!configured_ || t < 0 || t >= getNbTactics()) return false;
        const TacticDesc& d = tactics()[static_cast<size_t>(t)];
        const int64_t lim = (int64_t(1) << 31) - 1;
        switch (d.algo) {
            case Algo::kDirect:  // always possible; not worth timing on large problems the GEMMs can run
                return !fits32_ || maxN_ * op_.K * P_ * Q_ * kdim_ <= (int64_t(1) << 30);
            case Algo::kDepthwise: {
                const int64_t chunks = cuda::ceilDiv(P_ * Q_, 256);
                return Cg_ == 1 && fits32_ && maxN_ * op_.K * chunks < lim;
            }
            case Algo::kWinograd: {
                if (!(op_.R == 3 && op_.S == 3 && op_.sh == 1 && op_.sw == 1 && op_.dh == 1 && op_.dw == 1 && G_ == 1 && fits32_))
                    return false;
                // One image's transforms must fit the chunk bound; the GEMM's 32-bit indexing (16 groups of
                // max(C, K) channels by ncols columns) then fits too.
                return winogradBytes(1, P_, Q_) <= kWinogradChunkBytes && 16 * std::max(C_, op_.K) * winogradCols(1, P_, Q_) < lim;
            }
            case Algo::kGemm1x1:
                if (!(op_.R == 1 && op_.S == 1 && op_.sh == 1 && op_.sw == 1 && op_.pt == 0 && op_.pl == 0 && op_.pb == 0 &&
                      op_.pr == 0 && (H_ * W_) % 4 == 0))
                    return false;
                [[fallthrough]];
            case Algo::kGemm: {
                if (!fits32_) return false;
                const TileInfo& ti = tiles()[static_cast<size_t>(d.tile)];
                if (G_ * d.splits > 65535 || cuda::ceilDiv(Kg_, ti.BM) * cuda::ceilDiv(maxN_ * P_ * Q_, ti.BN) >= lim) return false;
                if (d.splits == 1) return true;
                // Split-K: only where the unsplit grid leaves SMs idle, and with >= 2 k-tiles per split and
                // no empty split (otherwise it duplicates a smaller split factor).
                const int64_t kTiles = kdimPad_ / ti.BK;
                const int64_t perSplit = cuda::ceilDiv(kTiles, d.splits);
                const int64_t blocks = cuda::ceilDiv(maxN_ * P_ * Q_, ti.BN) * cuda::ceilDiv(Kg_, ti.BM) * G_;
                return perSplit >= 2 && cuda::ceilDiv(kTiles, perSplit) == d.splits && blocks < 2 * int64_t(sms_) &&
                       int64_t(d.splits) * op_.K * maxN_ * P_ * Q_ < (int64_t(1) << 40);
            }
        }
        return false;
    }

    //! Weights (K, Cg, R, S) -> [G][kdimPad][mPad] (kk-major) plus kPackSlack zeros.
    std::vector<float> packWeights(const std::vector<float>& w) const {
        GIE_CHECK(static_cast<int64_t>(w.size()) == op_.K * kdim_, ErrorCode::kINVALID_MODEL, "Convolution kernel has ", w.size(),
                  " values, expected ", op_.K * kdim_);
        std::vector<float> pk(static_cast<size_t>(G_ * kdimPad_ * mPad_ + kPackSlack), 0.f);
        for (int64_t g = 0; g < G_; ++g)
            for (int64_t m = 0; m < Kg_; ++m) {
                const float* src = w.data() + (g * Kg_ + m) * kdim_;
                float* dst = pk.data() + g * kdimPad_ * mPad_ + m;
                for (int64_t kk = 0; kk < kdim_; ++kk) dst[kk * mPad_] = src[kk];
            }
        return pk;
    }

    // ---- Winograd F(2x2, 3x3), for output planes P x Q ----
    static int64_t winogradTiles(int64_t P, int64_t Q) { return ((P + 1) / 2) * ((Q + 1) / 2); }
    //! GEMM columns for `images` images: their 2x2 output tiles, rounded up to a multiple of 4 (16-byte loads).
    static int64_t winogradCols(int64_t images, int64_t P, int64_t Q) { return roundUp(images * winogradTiles(P, Q), 4); }
    //! Workspace of a chunk: V [16][C][cols] then M [16][K][cols].
    int64_t winogradBytes(int64_t images, int64_t P, int64_t Q) const {
        return 16 * (C_ + op_.K) * winogradCols(images, P, Q) * int64_t(sizeof(float));
    }
    //! Images per chunk: as many as `budget` bytes hold (at least 1), at most the batch N. The workspace is
    //! sized with the configured shapes and kWinogradChunkBytes; a call with smaller shapes gets its chunk from
    //! the workspace it has, so it never needs more.
    int64_t winogradChunk(int64_t N, int64_t P, int64_t Q, int64_t budget) const {
        const int64_t n = std::max<int64_t>(1, N);
        if (winogradBytes(n, P, Q) <= budget) return n;
        return std::clamp<int64_t>(budget / winogradBytes(1, P, Q), 1, n);  // winogradBytes(k) <= k * winogradBytes(1)
    }

    //! U = G g G^T per (k, c), as the grouped 1x1 GEMM's packed weights: group xi (the 16 positions of the
    //! 4x4 transform), [roundUp(C, kKdimAlign)][mPad] each.
    std::vector<float> packWinogradWeights(const std::vector<float>& w) const {
        GIE_CHECK(static_cast<int64_t>(w.size()) == op_.K * kdim_, ErrorCode::kINVALID_MODEL, "Convolution kernel has ", w.size(),
                  " values, expected ", op_.K * kdim_);
        const int64_t kp = roundUp(C_, kKdimAlign);
        std::vector<float> pk(static_cast<size_t>(16 * kp * mPad_ + kPackSlack), 0.f);
        static const double Gm[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
        for (int64_t k = 0; k < op_.K; ++k)
            for (int64_t ch = 0; ch < C_; ++ch) {
                const float* g = w.data() + (k * C_ + ch) * 9;
                double gt[4][3];  // G g
                for (int i = 0; i < 4; ++i)
                    for (int s = 0; s < 3; ++s) gt[i][s] = Gm[i][0] * g[s] + Gm[i][1] * g[3 + s] + Gm[i][2] * g[6 + s];
                for (int i = 0; i < 4; ++i)
                    for (int j = 0; j < 4; ++j) {
                        const double u = gt[i][0] * Gm[j][0] + gt[i][1] * Gm[j][1] + gt[i][2] * Gm[j][2];
                        pk[static_cast<size_t>(((i * 4 + j) * kp + ch) * mPad_ + k)] = static_cast<float>(u);
                    }
            }
        return pk;
    }

    //! The three steps of conv_winograd.cuh per chunk of images, in the workspace.
    template <typename E>
    void runWinograd(const ConvShape& s, const TacticDesc& d, void* workspace, cudaStream_t stream) const {
        const TileInfo& t = tiles()[static_cast<size_t>(d.tile)];
        GIE_CHECK(packed_ && splitWeights_ == t.splitWeights, ErrorCode::kINTERNAL, "Convolution: tactic ", d.name,
                  " run without its initialize()");
        GIE_CHECK(workspace && cuda::aligned16(workspace), ErrorCode::kINTERNAL, "Convolution: tactic ", d.name,
                  " needs a 16-byte aligned workspace");
        const int tH = (s.P + 1) / 2, tW = (s.Q + 1) / 2;
        const int64_t chunk = winogradChunk(s.N, s.P, s.Q, static_cast<int64_t>(getWorkspaceSize()));
        GIE_CHECK(winogradBytes(chunk, s.P, s.Q) <= static_cast<int64_t>(getWorkspaceSize()), ErrorCode::kINTERNAL,
                  "Convolution: tactic ", d.name, " has too small a workspace for ", s.P, "x", s.Q, " outputs");
        float* v = static_cast<float*>(workspace);
        float* m = v + 16 * C_ * winogradCols(chunk, s.P, s.Q);
        for (int64_t n0 = 0; n0 < s.N; n0 += chunk) {
            const int nc = static_cast<int>(std::min<int64_t>(chunk, s.N - n0));
            const int ncols = static_cast<int>(winogradCols(nc, s.P, s.Q));
            const int64_t inElems = C_ * int64_t(ncols);
            winogradInputKernel<E><<<static_cast<unsigned>(std::min<int64_t>(cuda::ceilDiv(inElems, 256), int64_t(sms_) * 32)), 256, 0,
                                     stream>>>(reinterpret_cast<const E*>(s.x) + n0 * s.xStride, s.xStride, s.C, s.H, s.W, s.pt, s.pl, tH, tW, nc, ncols, v);
            cuda::checkLaunch("winogradInputKernel");
            // The 16 GEMMs as one grouped 1x1 convolution of one image with ncols pixels.
            GemmArgs a;
            a.s.x = v;
            a.s.y = m;
            a.s.xStride = 16 * inElems;
            a.s.yStride = 16 * op_.K * int64_t(ncols);
            a.s.N = 1;
            a.s.C = static_cast<int>(16 * C_);
            a.s.H = 1;
            a.s.W = ncols;
            a.s.K = static_cast<int>(16 * op_.K);
            a.s.P = 1;
            a.s.Q = ncols;
            a.s.R = a.s.S = 1;
            a.s.G = 16;
            a.s.Cg = static_cast<int>(C_);
            a.s.Kg = static_cast<int>(op_.K);
            a.wpk = packed_->as<float>();
            a.smallOffset = smallOffset_;
            a.ncols = ncols;
            a.kdimPad = static_cast<int>(roundUp(C_, kKdimAlign));
            a.mPad = static_cast<int>(mPad_);
            a.splits = 1;
            a.kTilesPerSplit = a.kdimPad / t.BK;
            t.oneByOne[0](a, stream);  // FP32 transformed planes whatever E is
            cuda::checkLaunch("convGemmKernel<winograd>");
            ConvShape o = s;
            o.y = reinterpret_cast<float*>(reinterpret_cast<E*>(s.y) + n0 * s.yStride);
            if (o.ep.residual) o.ep.residual = reinterpret_cast<const float*>(reinterpret_cast<const E*>(s.ep.residual) + n0 * s.rStride);
            const int64_t outElems = op_.K * int64_t(nc) * tH * tW;
            winogradOutputKernel<E><<<static_cast<unsigned>(std::min<int64_t>(cuda::ceilDiv(outElems, 256), int64_t(sms_) * 32)), 256, 0,
                                   stream>>>(m, ncols, tH, tW, nc, o);
            cuda::checkLaunch("winogradOutputKernel");
        }
    }

    //! kk = (c, r, s) -> {c, r*dh, s*dw, 0}; padding rows never valid. Independent of H and W (see conv_implicit_gemm.cuh).
    std::vector<int32_t> makeTable() const {
        std::vector<int32_t> tbl(static_cast<size_t>(kdimPad_) * 4, 0);
        const int64_t RS = op_.R * op_.S;
        for (int64_t kk = 0; kk < kdimPad_; ++kk) {
            int32_t* e = &tbl[static_cast<size_t>(kk) * 4];
            if (kk >= kdim_) {
                e[1] = kInvalid;
                continue;
            }
            const int64_t ch = kk / RS, r = (kk / op_.S) % op_.R, sx = kk % op_.S;
            e[0] = static_cast<int32_t>(ch);
            e[1] = static_cast<int32_t>(r * op_.dh);
            e[2] = static_cast<int32_t>(sx * op_.dw);
        }
        return tbl;
    }

    int act_ = static_cast<int>(kNoActivation);  // ActivationType, -1: none
    float alpha_ = 0.f, beta_ = 0.f;
    bool configured_ = false, fits32_ = false;
    bool half_ = false;  // configured for FP16 storage (weights rounded to half at initialize)
    int64_t maxN_ = 0, C_ = 0, H_ = 0, W_ = 0, P_ = 0, Q_ = 0, G_ = 1, Cg_ = 0, Kg_ = 0, kdim_ = 0, kdimPad_ = 0, mPad_ = 0;
    int sms_ = 1;
    int32_t tactic_ = -1;
    int64_t smallOffset_ = 0;    // packed_: offset of the tf32 remainders (3xTF32 tactics)
    bool splitWeights_ = false;  // packed_ holds split weights
    std::shared_ptr<cuda::DeviceArray> bias_, weights_, packed_, table_;
};
GIE_REGISTER_KERNEL(ConvolutionGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
