// GPU INT8 convolution with dp4a or integer tensor cores (variant "int8"; docs/int8.md): the CPU reference's arithmetic
// (kernels/convolution_int8_cpu.cpp) on the GPU. Input INT8 CHW4 (one 32-bit word = 4 channels of a pixel, the
// operand of __dp4a); weights quantized per output channel at configure (int8cpu::quantizePerChannel, the CPU's
// own code); exact INT32 accumulation with the bias in accumulator units; then the float epilogue of
// cuda/kernels/int8_common.cuh: y = float(acc) * (s_x * s_w[k]) [+ residual] -> activation -> INT8 CHW4 with the
// output's scale, or FLOAT / HALF LINEAR. The residual is INT8 CHW4 (with its scale) or FLOAT / HALF LINEAR.
// groups == 1 only (a grouped convolution is refused, so the negotiation runs it in float); any kernel size,
// stride, padding and dilation.
//
// Implicit GEMM: M = N*P*Q output pixels, N = K output channels, reduction over (r, s, channel group of 4) words.
// A block computes a 128-pixel x 64-channel tile with 256 threads, stepping through the reduction 8 words (32
// channels) at a time through double-buffered shared-memory tiles loaded from registers (the next tile's global
// loads are in flight during the current tile's arithmetic). Weights are packed reduction-major ([Kred rounded to
// 8][K rounded to 64] words, zero padding), so their loads need no bounds checks; the input's padding reads as q = 0
// (exactly 0.0 in the symmetric scheme, as on the CPU). Tactics (names stable), the same tiles and epilogue:
//   dp4a_128x64x8_chw4    each thread 8 pixels x 4 channels with __dp4a (any sm_61+ GPU; the build's archs);
//   imma_128x64x32_chw4   integer tensor cores, mma.sync m16n8k32 s8.s8.s32 (sm_80+): 8 warps of 32 x 32 outputs;
//                         a word of the tiles is exactly 4 consecutive k bytes of an mma fragment, so the same
//                         shared-memory tiles feed it; the accumulators go through shared memory to the dp4a
//                         tactic's thread mapping for the common epilogue.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "int8_common.cuh"
#include "kernels/int8_cpu.h"
#include "layers/convolution.h"
#include "layers/fused_activation.h"

namespace gie {
namespace {

using namespace cuda::int8gpu;

constexpr int kBM = 128, kBN = 64, kBK = 8, kThreads = 256;
// Row pitches (words) of the shared tiles: + 8 words makes the mma fragment loads (rows t, t+4; columns g) free of
// bank conflicts (row r starts at bank 8r); the dp4a int4 loads stay 16-byte aligned.
constexpr int kAP = kBM + 8, kBP = kBN + 8, kCP = kBN + 4;
constexpr int kTileWords = 2 * kBK * kAP + 2 * kBK * kBP, kCWords = kBM * kCP;

struct Int8ConvParams {
    const int* x = nullptr;      // CHW4 words: [N][C4][H*W] with batch stride xbs (words)
    const int* w = nullptr;      // [kredPad][kPad] words, k fastest
    const int* bias = nullptr;   // [kPad] INT32, in accumulator units
    const float* mult = nullptr; // [kPad] s_x * s_w[k]
    RealTensor y, res;           // res.p == nullptr: no residual
    int64_t xbs = 0;
    int H = 0, W = 0, C4 = 0, K = 0, P = 0, Q = 0, R = 0, S = 0;
    int sh = 1, sw = 1, pt = 0, pl = 0, dh = 1, dw = 1;
    int kred = 0, kPad = 0, M = 0;
    int act = -1;
    float alpha = 0.f, beta = 0.f;
};

// The reduction index kk = (r*S + s)*C4 + cg (channel group fastest): a thread's load position advances by kBK
// words per tile with a carry into (s, r) instead of divisions.
struct RedPos {
    int cg, r, s;
};
__device__ __forceinline__ void advance(RedPos& p, int step, const Int8ConvParams& a) {
    p.cg += step;
    while (p.cg >= a.C4) {
        p.cg -= a.C4;
        if (++p.s == a.S) p.s = 0, ++p.r;
    }
}

//! d += a * b for one m16n8k32 tile of s8 (sm_80+).
__device__ __forceinline__ void mmaS8(int (&d)[4], const int (&a)[4], const int (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
    __trap();  // the host never selects this tactic below sm_80
#endif
}

template <bool kMma>
__global__ void __launch_bounds__(kThreads, 2) convInt8(const Int8ConvParams a) {
    __shared__ __align__(16) int smem[kTileWords > kCWords ? kTileWords : kCWords];
    auto As = reinterpret_cast<int(*)[kBK][kAP]>(smem);                  // [2][kBK][kAP]
    auto Bs = reinterpret_cast<int(*)[kBK][kBP]>(smem + 2 * kBK * kAP);  // [2][kBK][kBP]
    const int tid = threadIdx.x;
    const int m0 = blockIdx.x * kBM, n0 = blockIdx.y * kBN;
    const int PQ = a.P * a.Q, HW = a.H * a.W;

    // A (input) loads: pixel am, reduction rows tid/kBM + 2j (j < 4).
    constexpr int kAPer = kBK * kBM / kThreads, kARowStep = kThreads / kBM;
    const int am = tid % kBM, ar = tid / kBM;
    const int mg = m0 + am;
    const bool mValid = mg < a.M;
    int h0 = 0, w0 = 0;
    const int* xn = a.x;
    if (mValid) {
        const int n = mg / PQ, pq = mg - n * PQ, p = pq / a.Q, q = pq - p * a.Q;
        h0 = p * a.sh - a.pt;
        w0 = q * a.sw - a.pl;
        xn = a.x + static_cast<int64_t>(n) * a.xbs;
    }
    RedPos pos[kAPer];
#pragma unroll
    for (int j = 0; j < kAPer; ++j) {
        const int kk = ar + j * kARowStep, rs = kk / a.C4;
        pos[j] = {kk - rs * a.C4, rs / a.S, rs % a.S};
    }
    // B (weight) loads: channel column tid % kBN, rows tid / kBN + 4j (j < 2).
    constexpr int kBPer = kBK * kBN / kThreads, kBRowStep = kThreads / kBN;
    const int bn = tid % kBN, br = tid / kBN;
    const int* wcol = a.w + n0 + bn;

    int aReg[kAPer], bReg[kBPer];
    auto loadTiles = [&](int k0) {
#pragma unroll
        for (int j = 0; j < kAPer; ++j) {
            int v = 0;
            if (mValid && pos[j].r < a.R) {
                const int h = h0 + pos[j].r * a.dh, w = w0 + pos[j].s * a.dw;
                if (h >= 0 && h < a.H && w >= 0 && w < a.W) v = __ldg(xn + pos[j].cg * HW + h * a.W + w);
            }
            aReg[j] = v;
            advance(pos[j], kBK, a);
        }
#pragma unroll
        for (int j = 0; j < kBPer; ++j) bReg[j] = __ldg(wcol + static_cast<int64_t>(k0 + br + j * kBRowStep) * a.kPad);
    };
    auto storeTiles = [&](int buf) {
#pragma unroll
        for (int j = 0; j < kAPer; ++j) As[buf][ar + j * kARowStep][am] = aReg[j];
#pragma unroll
        for (int j = 0; j < kBPer; ++j) Bs[buf][br + j * kBRowStep][bn] = bReg[j];
    };

    // dp4a: thread (tx, ty) owns pixels tx*4 + i and 64 + tx*4 + i (i < 4), channels ty*4 + j (j < 4): acc[i][j].
    // mma: warp (wm, wn) owns pixels wm*32 .. +32 and channels wn*32 .. +32 as 2 x 4 tiles of 16 x 8; lane (g, t) holds
    // rows g, g + 8 and columns 2t, 2t + 1 of each: acc[mt * 4 + nt][0..3] (the PTX fragment order).
    const int tx = tid % 16, ty = tid / 16;
    const int lane = tid % 32, warp = tid / 32, g = lane / 4, t = lane % 4, wm = warp % 4, wn = warp / 4;
    int acc[8][4];
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = 0;

    loadTiles(0);
    storeTiles(0);
    __syncthreads();
    int buf = 0;
    for (int k0 = 0; k0 < a.kred; k0 += kBK) {
        const bool more = k0 + kBK < a.kred;
        if (more) loadTiles(k0 + kBK);
        if constexpr (kMma) {
            // One k32 step: A fragment words (row, word t / t + 4), B fragment words (word t / t + 4, column).
            int af[2][4], bf[4][2];
#pragma unroll
            for (int mt = 0; mt < 2; ++mt) {
                const int row = wm * 32 + mt * 16 + g;
                af[mt][0] = As[buf][t][row];
                af[mt][1] = As[buf][t][row + 8];
                af[mt][2] = As[buf][t + 4][row];
                af[mt][3] = As[buf][t + 4][row + 8];
            }
#pragma unroll
            for (int nt = 0; nt < 4; ++nt) {
                const int col = wn * 32 + nt * 8 + g;
                bf[nt][0] = Bs[buf][t][col];
                bf[nt][1] = Bs[buf][t + 4][col];
            }
#pragma unroll
            for (int mt = 0; mt < 2; ++mt)
#pragma unroll
                for (int nt = 0; nt < 4; ++nt) mmaS8(acc[mt * 4 + nt], af[mt], bf[nt]);
        } else {
#pragma unroll
            for (int kk = 0; kk < kBK; ++kk) {
                const int4 a0 = *reinterpret_cast<const int4*>(&As[buf][kk][tx * 4]);
                const int4 a1 = *reinterpret_cast<const int4*>(&As[buf][kk][64 + tx * 4]);
                const int4 b = *reinterpret_cast<const int4*>(&Bs[buf][kk][ty * 4]);
                const int av[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
                const int bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
                for (int i = 0; i < 8; ++i)
#pragma unroll
                    for (int j = 0; j < 4; ++j) acc[i][j] = __dp4a(av[i], bv[j], acc[i][j]);
            }
        }
        if (more) storeTiles(buf ^ 1);
        __syncthreads();
        buf ^= 1;
    }

    if constexpr (kMma) {
        // The tiles are dead (the loop ended on a barrier): the accumulators go through shared memory to the dp4a
        // mapping, where a thread's 4 channels are one CHW4 group.
        auto Cs = reinterpret_cast<int(*)[kCP]>(smem);
#pragma unroll
        for (int mt = 0; mt < 2; ++mt)
#pragma unroll
            for (int nt = 0; nt < 4; ++nt) {
                const int row = wm * 32 + mt * 16 + g, col = wn * 32 + nt * 8 + 2 * t;
                Cs[row][col] = acc[mt * 4 + nt][0];
                Cs[row][col + 1] = acc[mt * 4 + nt][1];
                Cs[row + 8][col] = acc[mt * 4 + nt][2];
                Cs[row + 8][col + 1] = acc[mt * 4 + nt][3];
            }
        __syncthreads();
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            const int4 v = *reinterpret_cast<const int4*>(&Cs[i < 4 ? tx * 4 + i : 64 + tx * 4 + (i - 4)][ty * 4]);
            acc[i][0] = v.x, acc[i][1] = v.y, acc[i][2] = v.z, acc[i][3] = v.w;
        }
    }

    // Epilogue: the 4 channels of a thread are one CHW4 group (n0 and ty*4 are multiples of 4).
    const int c0 = n0 + ty * 4;
    const int cp = (a.K + 3) & ~3;
    if (c0 >= cp) return;
    const int valid = min(4, a.K - c0);  // >= 1: c0 < cp; channels past K are CHW4 padding, written as 0
    int bias[4];
    float mult[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) bias[j] = __ldg(a.bias + c0 + j), mult[j] = __ldg(a.mult + c0 + j);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const int m = m0 + (i < 4 ? tx * 4 + i : 64 + tx * 4 + (i - 4));
        if (m >= a.M) continue;
        const int n = m / PQ, pq = m - n * PQ;
        float v[4];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            float y = __fmul_rn(static_cast<float>(acc[i][j] + bias[j]), mult[j]);
            if (a.res.p && j < valid) y = __fadd_rn(y, loadReal(a.res, n, c0 + j, pq, PQ));
            if (a.act >= 0) y = cuda::applyAct(a.act, y, a.alpha, a.beta);
            v[j] = y;
        }
        storeGroup(a.y, n, c0, pq, PQ, v, valid);
    }
}

int64_t roundUp(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

class ConvolutionInt8Gpu final : public Kernel<ConvolutionInt8Gpu, ConvolutionOp> {
public:
    GIE_INT8_KERNEL_COMMON

    //! Input 0 INT8 CHW4; the residual INT8 CHW4 or FLOAT / HALF LINEAR; the output INT8 CHW4 or FLOAT / HALF LINEAR;
    //! groups == 1.
    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        if (op_.groups != 1) return false;
        const TensorDesc& d = inOut[pos];
        return (quantizedChw4(d) || (pos > 0 && floatLinear4(d))) && imageFits32(d);
    }
    int32_t getNbTactics() const noexcept override { return 2; }
    const char* getTacticName(int32_t t) const noexcept override {
        return t == kDp4a ? "dp4a_128x64x8_chw4" : t == kImma ? "imma_128x64x32_chw4" : "invalid";
    }
    int32_t setTactic(int32_t t) noexcept override {
        if (t != kDp4a && !(t == kImma && immaRuns())) return -1;
        tactic_ = t;
        return 0;
    }
    int32_t getTactic() const noexcept override { return tactic_; }

    void initializeKernel() override {
        GIE_CHECK(configured_, ErrorCode::kINTERNAL, "Convolution (INT8 GPU): initialize before configure");
        terminate();
        weights_ = cuda::upload(packed_, "Convolution INT8 weights");
        bias_ = cuda::upload(biasHost_, "Convolution INT8 bias");
        mult_ = cuda::upload(multHost_, "Convolution INT8 scales");
    }
    void terminate() noexcept override {
        weights_.reset();
        bias_.reset();
        mult_.reset();
    }

protected:
    void configureKernel(const TensorDesc* in, int32_t, const TensorDesc* out, int32_t) override {
        GIE_CHECK(op_.groups == 1, ErrorCode::kINTERNAL, "Convolution (INT8 GPU) configured with ", op_.groups, " groups");
        const int64_t C = in[0].dims.d[1], RS = op_.R * op_.S, perK = C * RS;
        // |sum| <= perK * 128 * 127 must fit INT32 (the CPU reference checks the same bound).
        GIE_CHECK(perK <= (int64_t(1) << 31) / (128 * 128), ErrorCode::kUNSUPPORTED, "Convolution (INT8): ", perK,
                  " products per output exceed what an INT32 accumulator holds");
        const std::vector<float> kernel = fields_.floats("kernel");
        GIE_CHECK(static_cast<int64_t>(kernel.size()) == op_.K * perK, ErrorCode::kINVALID_MODEL, "Convolution kernel has ", kernel.size(),
                  " values, expected ", op_.K * perK);
        const cpu::int8cpu::ChannelWeights w = cpu::int8cpu::quantizePerChannel(kernel.data(), op_.K, perK);
        const cpu::int8cpu::Requant rq =
            cpu::int8cpu::makeRequant(w, in[0].scale, fields_.has("bias") ? fields_.floats("bias") : std::vector<float>());
        setEpilogueActivation(op_.activation, op_.actAlpha, op_.actBeta, ep_, "Convolution (INT8)");
        C4_ = storedChannels(C, TensorFormat::kCHW4) / 4;
        kred_ = RS * C4_;
        kPad_ = roundUp(op_.K, kBN);
        const int64_t kredPad = roundUp(kred_, kBK);
        GIE_CHECK(kredPad * kPad_ < (int64_t(1) << 31) && op_.K < int64_t(65535) * kBN, ErrorCode::kUNSUPPORTED, "Convolution (INT8 GPU): ",
                  op_.K, " output channels x ", kred_, " reduction words are too many");
        // Words of 4 channels (little-endian bytes: channel 4*cg + j in byte j, as in a CHW4 input word).
        packed_.assign(static_cast<size_t>(kredPad * kPad_), 0);
        for (int64_t k = 0; k < op_.K; ++k)
            for (int64_t c = 0; c < C; ++c)
                for (int64_t rs = 0; rs < RS; ++rs) {
                    const uint32_t q = static_cast<uint8_t>(w.q[static_cast<size_t>((k * C + c) * RS + rs)]);
                    auto& word = packed_[static_cast<size_t>((rs * C4_ + c / 4) * kPad_ + k)];
                    word = static_cast<int32_t>(static_cast<uint32_t>(word) | q << (8 * (c % 4)));
                }
        biasHost_.assign(static_cast<size_t>(kPad_), 0);
        multHost_.assign(static_cast<size_t>(kPad_), 0.f);
        std::copy(rq.bias.begin(), rq.bias.end(), biasHost_.begin());
        std::copy(rq.mult.begin(), rq.mult.end(), multHost_.begin());
        (void)out;
        configured_ = true;
        tactic_ = immaRuns() ? kImma : kDp4a;  // a default until the builder picks by timing
    }

    void run(const KernelCall& c) const override {
        GIE_CHECK(configured_ && weights_, ErrorCode::kINTERNAL, "Convolution (INT8 GPU) run before configure/initialize");
        const Dims& x = c.inDims(0);
        const Dims& y = c.outDims(0);
        GIE_CHECK(storedChannels(x.d[1], TensorFormat::kCHW4) / 4 == C4_, ErrorCode::kINTERNAL, "Convolution (INT8 GPU): input has ", x.d[1],
                  " channels, configured for ", C4_ * 4);
        const int64_t M = x.d[0] * y.d[2] * y.d[3];
        if (M == 0) return;
        GIE_CHECK(M < (int64_t(1) << 31), ErrorCode::kUNSUPPORTED, "Convolution (INT8 GPU): ", M, " output pixels per call exceed 2^31");
        GIE_CHECK(cuda::alignedTo(c.inputs[0], 4) && cuda::alignedTo(c.outputs[0], 4), ErrorCode::kINTERNAL,
                  "Convolution (INT8 GPU): tensors must be 4-byte aligned");
        Int8ConvParams a;
        a.x = c.in<int>(0);
        a.w = weights_->as<int>();
        a.bias = bias_->as<int>();
        a.mult = mult_->as<float>();
        a.y = realTensor(c.outputs[0], c.outDesc[0]);
        if (c.nbInputs == 2) a.res = realTensor(c.inputs[1], c.inDesc[1]);
        a.xbs = c.inDesc[0].strides.d[0] / 4;
        a.H = static_cast<int>(x.d[2]);
        a.W = static_cast<int>(x.d[3]);
        a.C4 = static_cast<int>(C4_);
        a.K = static_cast<int>(op_.K);
        a.P = static_cast<int>(y.d[2]);
        a.Q = static_cast<int>(y.d[3]);
        a.R = static_cast<int>(op_.R);
        a.S = static_cast<int>(op_.S);
        a.sh = static_cast<int>(op_.sh);
        a.sw = static_cast<int>(op_.sw);
        a.pt = static_cast<int>(op_.pt);
        a.pl = static_cast<int>(op_.pl);
        a.dh = static_cast<int>(op_.dh);
        a.dw = static_cast<int>(op_.dw);
        a.kred = static_cast<int>(kred_);
        a.kPad = static_cast<int>(kPad_);
        a.M = static_cast<int>(M);
        a.act = static_cast<int>(ep_.act);
        a.alpha = ep_.alpha;
        a.beta = ep_.beta;
        const dim3 grid(static_cast<unsigned>(cuda::ceilDiv(M, kBM)), static_cast<unsigned>(kPad_ / kBN));
        if (tactic_ == kImma) convInt8<true><<<grid, kThreads, 0, cuda::streamOf(c)>>>(a);
        else convInt8<false><<<grid, kThreads, 0, cuda::streamOf(c)>>>(a);
        cuda::checkLaunch(tactic_ == kImma ? "convInt8<imma>" : "convInt8<dp4a>");
    }

private:
    static constexpr int32_t kDp4a = 0, kImma = 1;
    //! mma.sync m16n8k32 on s8 needs sm_80 (the build's archs are 80 and up, so the code is there when this holds).
    static bool immaRuns() noexcept {
        try {
            return cuda::deviceProps().major >= 8;
        } catch (...) {
            return false;
        }
    }
    int32_t tactic_ = kDp4a;
    cpu::Epilogue ep_;
    bool configured_ = false;
    int64_t C4_ = 0, kred_ = 0, kPad_ = 0;
    std::vector<int32_t> packed_, biasHost_;
    std::vector<float> multHost_;
    std::shared_ptr<cuda::DeviceArray> weights_, bias_, mult_;
};
GIE_REGISTER_KERNEL(ConvolutionInt8Gpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
