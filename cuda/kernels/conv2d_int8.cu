// GPU INT8 convolution with dp4a or integer tensor cores (variant "int8"; docs/int8.md): the CPU reference's arithmetic
// (kernels/convolution_int8_cpu.cpp) on the GPU. Input INT8 CHW4 (one 32-bit word = 4 channels of a pixel, the
// operand of __dp4a); weights quantized per output channel at configure (int8cpu::quantizePerChannel, the CPU's
// own code); exact INT32 accumulation with the bias in accumulator units; then the float epilogue of
// cuda/kernels/int8_common.cuh: y = float(acc) * (s_x * s_w[k]) [+ residual] -> activation -> INT8 CHW4 with the
// output's scale, or FLOAT / HALF LINEAR. The residual is INT8 CHW4 (with its scale) or FLOAT / HALF LINEAR.
// Any kernel size, stride, padding, dilation and groups.
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
// Both also run a grouped convolution whose groups have a multiple of 4 input and output channels (grid z = group,
// int8_implicit_gemm.cuh; the fully connected layer uses the same GEMM). Two direct tactics for groups > 1:
//   direct_grouped_chw4   one thread per pixel and CHW4 output group: any C / groups and K / groups (byte products);
//   depthwise_chw4        C = K = groups: one input word and one weight word per tap give the 4 channels' products.
// And on Hopper with sm_90a code (offered only where cuda::wgmma::available()), for 1x1, stride-1, unpadded,
// ungrouped convolutions:
//   wgmma1x1_s8_128x128x128_s4_chw4   one GEMM [N*H*W pixels x C4*4] x [C4*4 x K] on wgmma m64n128k32 s8
//                         (gemm_wgmma_s8.cuh), 128 x 128 tiles, 4 stages: the producer warpgroup gathers the pixels'
//                         channel words from CHW4 with cp.async into 128B-swizzled K-major tiles (CHW4 is not
//                         K-contiguous, so no TMA box fits), the weights come by TMA; the same requantStore epilogue,
//                         residual and output formats;
//   wgmma1x1_s8_128x64x128_s6_chw4    the same with 128 x 64 tiles (m64n64k32) and 6 stages, for K <= 64 layers.
// And the integer tensor-core tactics with larger tiles and a cp.async pipeline (int8_imma_gemm.cuh, sm_80+; the same
// GEMM and groups): imma_128x128x64_s4_chw4, imma_256x128x64_s3_chw4, imma_64x64x64_s4_chw4, and with split-K (groups
// = 1, a workspace of INT32 partial sums) imma_64x64x64_s4_split4_chw4, imma_64x64x64_s4_split8_chw4.
// INT8 NHWC input (channels-last, groups = 1, C % 16 == 0; docs/int8.md): the same IMMA tiles with a 16-byte chunk
// loader (imma_*_nhwc: 16 channels of a pixel at one tap are 16 contiguous bytes), and on sm_90a for 1x1 stride-1
// unpadded convolutions wgmma1x1_s8_128x128x128_s4_nhwc / wgmma1x1_s8_128x64x128_s6_nhwc, where the input is a
// row-major [N*H*W][C] matrix loaded by TMA like the fully connected layer's (no gather). Every tactic writes INT8
// NHWC outputs (K % 4 == 0: one word per 4 channels) and reads INT8 NHWC residuals as well as CHW4 / float ones.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "gemm_wgmma_s8.cuh"
#include "int8_common.cuh"
#include "int8_imma_gemm.cuh"
#include "int8_implicit_gemm.cuh"
#include "kernels/int8_cpu.h"
#include "layers/convolution.h"
#include "layers/fused_activation.h"

namespace gie {
namespace cuda {
namespace int8gpu {

constexpr int kBM = kGemmBM, kBN = kGemmBN, kBK = kGemmBK, kThreads = 256;
// Row pitches (words) of the shared tiles: + 8 words makes the mma fragment loads (rows t, t+4; columns g) free of
// bank conflicts (row r starts at bank 8r); the dp4a int4 loads stay 16-byte aligned.
constexpr int kAP = kBM + 8, kBP = kBN + 8, kCP = kBN + 4;
constexpr int kTileWords = 2 * kBK * kAP + 2 * kBK * kBP, kCWords = kBM * kCP;

// The reduction index kk = (r*S + s)*C4 + cg (channel group fastest): a thread's load position advances by kBK
// words per tile with a carry into (s, r) instead of divisions.
struct RedPos {
    int cg, r, s;
};
__device__ __forceinline__ void advance(RedPos& p, int step, const Int8GemmParams& a) {
    p.cg += step;
    while (p.cg >= a.C4) {
        p.cg -= a.C4;
        if (++p.s == a.S) p.s = 0, ++p.r;
    }
}

template <bool kMma>
__global__ void __launch_bounds__(kThreads, 2) convInt8(const Int8GemmParams a) {
    __shared__ __align__(16) int smem[kTileWords > kCWords ? kTileWords : kCWords];
    auto As = reinterpret_cast<int(*)[kBK][kAP]>(smem);                  // [2][kBK][kAP]
    auto Bs = reinterpret_cast<int(*)[kBK][kBP]>(smem + 2 * kBK * kAP);  // [2][kBK][kBP]
    const int tid = threadIdx.x;
    const int m0 = blockIdx.x * kBM, n0 = blockIdx.y * kBN, grp = blockIdx.z;
    const int PQ = a.P * a.Q, HW = a.H * a.W;

    // A (input) loads: pixel am, reduction rows tid/kBM + 2j (j < 4).
    constexpr int kAPer = kBK * kBM / kThreads, kARowStep = kThreads / kBM;
    const int am = tid % kBM, ar = tid / kBM;
    const int mg = m0 + am;
    const bool mValid = mg < a.M;
    int h0 = 0, w0 = 0;
    const int* xn = a.x;
    const signed char* xbn = a.xb;
    if (mValid) {
        const int n = mg / PQ, pq = mg - n * PQ, p = pq / a.Q, q = pq - p * a.Q;
        h0 = p * a.sh - a.pt;
        w0 = q * a.sw - a.pl;
        if (a.xb) xbn = a.xb + static_cast<int64_t>(n) * a.xbs;
        else xn = a.x + static_cast<int64_t>(n) * a.xbs + static_cast<int64_t>(grp) * a.C4 * HW;
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
    const int* wcol = a.w + grp * a.wgs + n0 + bn;

    int aReg[kAPer], bReg[kBPer];
    auto loadTiles = [&](int k0) {
#pragma unroll
        for (int j = 0; j < kAPer; ++j) {
            int v = 0;
            if (mValid && pos[j].r < a.R) {
                if (a.xb) {  // a LINEAR row that is not whole words: the word of bytes 4cg .. 4cg+3 (0 past the row)
                    unsigned u = 0;
#pragma unroll
                    for (int b = 0; b < 4; ++b)
                        if (4 * pos[j].cg + b < a.flat) u |= static_cast<unsigned>(static_cast<unsigned char>(__ldg(xbn + 4 * pos[j].cg + b))) << (8 * b);
                    v = static_cast<int>(u);
                } else {
                    const int h = h0 + pos[j].r * a.dh, w = w0 + pos[j].s * a.dw;
                    if (h >= 0 && h < a.H && w >= 0 && w < a.W) v = __ldg(xn + pos[j].cg * HW + h * a.W + w);
                }
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
            uint32_t af[2][4], bf[4][2];
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
                for (int nt = 0; nt < 4; ++nt) mmaS8(acc[mt * 4 + nt], af[mt], bf[nt][0], bf[nt][1]);
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

    // Epilogue: the 4 channels of a thread are one CHW4 group (n0, ty*4 and, with groups, K per group are multiples
    // of 4); channels past K (groups == 1) are CHW4 padding, written as 0.
    const int cl = n0 + ty * 4;
    if (cl >= ((a.K + 3) & ~3)) return;
    const int valid = min(4, a.K - cl);
    const int c0 = grp * a.K + cl, pc = grp * a.kPad + cl;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const int m = m0 + (i < 4 ? tx * 4 + i : 64 + tx * 4 + (i - 4));
        if (m >= a.M) continue;
        const int n = m / PQ, pq = m - n * PQ;
        requantStore(a.ep, n, c0, pq, PQ, acc[i], pc, valid);
    }
}

void launchInt8Gemm(const Int8GemmParams& a, int groups, bool mma, cudaStream_t stream) {
    const dim3 grid(static_cast<unsigned>(ceilDiv(a.M, kBM)), static_cast<unsigned>(a.kPad / kBN), static_cast<unsigned>(groups));
    if (mma) convInt8<true><<<grid, kThreads, 0, stream>>>(a);
    else convInt8<false><<<grid, kThreads, 0, stream>>>(a);
    checkLaunch(mma ? "convInt8<imma>" : "convInt8<dp4a>");
}

bool immaRuns() noexcept {
    try {
        return deviceProps().major >= 8;
    } catch (...) {
        return false;
    }
}

// ---- direct grouped / depthwise -------------------------------------------------------------------------------------
struct Int8DirectParams {
    const int* x = nullptr;            // CHW4 words [N][C4][H*W], batch stride xbs words
    const signed char* wq = nullptr;   // generic: [K][Cg][R][S] bytes (the CPU's layout)
    const int* wdw = nullptr;          // depthwise: [R*S][K4] words, channel k in byte k % 4 of word k / 4
    Int8Epilogue ep;                   // bias / mult: [K4 * 4]
    int64_t xbs = 0;
    int N = 0, H = 0, W = 0, K = 0, K4 = 0, Cg = 0, Kg = 0, P = 0, Q = 0, R = 0, S = 0;
    int sh = 1, sw = 1, pt = 0, pl = 0, dh = 1, dw = 1;
};

//! f(h, w, r, s) for every tap of the window at (h0, w0) that lies inside the H x W input (padding reads as q = 0).
template <typename F>
__device__ __forceinline__ void forEachTap(const Int8DirectParams& a, int h0, int w0, F&& f) {
    for (int r = 0; r < a.R; ++r) {
        const int h = h0 + r * a.dh;
        if (h < 0 || h >= a.H) continue;
        for (int s = 0; s < a.S; ++s) {
            const int w = w0 + s * a.dw;
            if (w >= 0 && w < a.W) f(h, w, r, s);
        }
    }
}

//! One thread per (image, CHW4 output group, output pixel), pixels fastest (coalesced words).
template <bool kDw>
__global__ void __launch_bounds__(256) convInt8Direct(const Int8DirectParams a) {
    const int PQ = a.P * a.Q, HW = a.H * a.W;
    const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (idx >= static_cast<int64_t>(a.N) * a.K4 * PQ) return;
    const int pq = static_cast<int>(idx % PQ);
    const int64_t rest = idx / PQ;
    const int kw = static_cast<int>(rest % a.K4), n = static_cast<int>(rest / a.K4);
    const int p = pq / a.Q, q = pq - p * a.Q, h0 = p * a.sh - a.pt, w0 = q * a.sw - a.pl;
    const int* xn = a.x + static_cast<int64_t>(n) * a.xbs;
    int acc[4] = {0, 0, 0, 0};
    if constexpr (kDw) {
        // Output channel k reads input channel k: output group kw is input word kw.
        const int* xc = xn + static_cast<int64_t>(kw) * HW;
        forEachTap(a, h0, w0, [&](int h, int w, int r, int s) {
            const int xv = __ldg(xc + h * a.W + w), wv = __ldg(a.wdw + (r * a.S + s) * a.K4 + kw);
#pragma unroll
            for (int j = 0; j < 4; ++j) acc[j] += byteOf(xv, j) * byteOf(wv, j);
        });
    } else {
        const auto* xb = reinterpret_cast<const signed char*>(xn);
#pragma unroll 1
        for (int j = 0; j < 4; ++j) {
            const int k = kw * 4 + j;
            if (k >= a.K) break;
            const int cBegin = (k / a.Kg) * a.Cg;
            const signed char* wk = a.wq + static_cast<int64_t>(k) * a.Cg * a.R * a.S;
            int sum = 0;
            for (int ci = 0; ci < a.Cg; ++ci) {
                const int c = cBegin + ci;
                const signed char* xc = xb + static_cast<int64_t>(c >> 2) * HW * 4 + (c & 3);
                forEachTap(a, h0, w0, [&](int h, int w, int r, int s) {
                    sum += static_cast<int>(__ldg(xc + (h * a.W + w) * 4)) * static_cast<int>(__ldg(wk + (ci * a.R + r) * a.S + s));
                });
            }
#pragma unroll
            for (int i = 0; i < 4; ++i)  // a constant index keeps acc in registers
                if (i == j) acc[i] = sum;
        }
    }
    requantStore(a.ep, n, kw * 4, pq, PQ, acc, kw * 4, min(4, a.K - kw * 4));
}

}  // namespace int8gpu
}  // namespace cuda

namespace {

using namespace cuda::int8gpu;

using WgmmaS8Ep = cuda::wgmma::S8Epilogue<true>;       // CHW4 input (gathered): lanes along the pixels
using WgmmaS8NhwcEp = cuda::wgmma::S8Epilogue<false>;  // NHWC input (TMA): lanes along the channel groups (NHWC outputs)

template <class Ep>
struct WgmmaS8TacticOf {
    const char* name;
    int BN, BM, smemBytes;
    void (*prepare)();
    void (*launch)(const CUtensorMap&, const CUtensorMap&, const cuda::wgmma::Chw4Source&, const Ep&, int64_t, int64_t, int, cudaStream_t);
};
using WgmmaS8Tactic = WgmmaS8TacticOf<WgmmaS8Ep>;
using WgmmaS8NhwcTactic = WgmmaS8TacticOf<WgmmaS8NhwcEp>;

template <class T, class Ep = WgmmaS8Ep>
WgmmaS8TacticOf<Ep> wgmmaS8Tactic(const char* name) {
    return {name, T::BN, T::BM, T::SMEM_BYTES, &cuda::wgmma::prepareS8<T, Ep>, &cuda::wgmma::launchS8<T, Ep>};
}

//! Tactic kWgmma + i of ConvolutionInt8Gpu.
const std::vector<WgmmaS8Tactic>& wgmmaS8Tactics() {
    static const std::vector<WgmmaS8Tactic> list = {
        wgmmaS8Tactic<cuda::wgmma::S8Tile<128, 4, true>>("wgmma1x1_s8_128x128x128_s4_chw4"),
        wgmmaS8Tactic<cuda::wgmma::S8Tile<64, 6, true>>("wgmma1x1_s8_128x64x128_s6_chw4"),
    };
    return list;
}
//! The NHWC input's wgmma tactics: A by TMA (rows of C bytes), not gathered.
const std::vector<WgmmaS8NhwcTactic>& wgmmaS8NhwcTactics() {
    static const std::vector<WgmmaS8NhwcTactic> list = {
        wgmmaS8Tactic<cuda::wgmma::S8Tile<128, 4, false>, WgmmaS8NhwcEp>("wgmma1x1_s8_128x128x128_s4_nhwc"),
        wgmmaS8Tactic<cuda::wgmma::S8Tile<64, 6, false>, WgmmaS8NhwcEp>("wgmma1x1_s8_128x64x128_s6_nhwc"),
    };
    return list;
}

class ConvolutionInt8Gpu final : public Kernel<ConvolutionInt8Gpu, ConvolutionOp> {
public:
    GIE_INT8_KERNEL_COMMON

    //! Tensors are read and written with their descriptors' batch strides (an INT8 CHW4 slice of an eliminated
    //! concatenation, docs/int8.md).
    bool supportsStridedInput() const noexcept override { return true; }
    bool supportsStridedOutput() const noexcept override { return true; }

    //! Input 0 INT8 CHW4, or INT8 NHWC with C % 16 == 0 and groups == 1 (the _nhwc tactics); the residual INT8 CHW4, INT8
    //! NHWC (C % 4 == 0) or FLOAT / HALF LINEAR; the output INT8 CHW4, INT8 NHWC (K % 4 == 0) or FLOAT / HALF LINEAR.
    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        const TensorDesc& d = inOut[pos];
        const bool nhwc = pos == 0 ? op_.groups == 1 && quantizedNhwc(d, 16) : quantizedNhwc(d, 4);
        return (quantizedChw4(d) || nhwc || (pos > 0 && floatLinear4(d))) && imageFits32(d);
    }
    int32_t getNbTactics() const noexcept override { return wgmmaNhwcFirst() + static_cast<int32_t>(wgmmaS8NhwcTactics().size()); }
    const char* getTacticName(int32_t t) const noexcept override {
        if (isImma(t)) return immaTactics()[t - kImmaFirst].convName;
        if (isImmaNhwc(t)) return immaTactics()[t - immaNhwcFirst()].nhwcName;
        if (isWgmmaNhwc(t)) return wgmmaS8NhwcTactics()[static_cast<size_t>(t - wgmmaNhwcFirst())].name;
        return t == kDp4a ? "dp4a_128x64x8_chw4" : t == kImma ? "imma_128x64x32_chw4" : t == kDirect ? "direct_grouped_chw4"
               : t == kDepthwise ? "depthwise_chw4" : isWgmma(t) ? wgmmaS8Tactics()[static_cast<size_t>(t - kWgmma)].name : "invalid";
    }
    //! The GEMM tactics take groups == 1 or groups of a multiple of 4 input and output channels; the direct ones groups > 1;
    //! wgmma 1x1, stride-1, unpadded convolutions without groups on an sm_90a device. An INT8 NHWC input (configure)
    //! runs only the _nhwc tactics, a CHW4 one only the others.
    int32_t setTactic(int32_t t) noexcept override {
        bool ok;
        if (nhwcIn_)
            ok = isImmaNhwc(t) ? immaOk_ && immaTacticRuns(t - immaNhwcFirst()) : isWgmmaNhwc(t) && wgmmaOk_ && cuda::wgmma::available();
        else
            ok = isImma(t) ? immaOk_ && immaTacticRuns(t - kImmaFirst) && (immaTactics()[t - kImmaFirst].splits == 1 || op_.groups == 1)
                 : t == kDp4a ? gemmOk_ : t == kImma ? gemmOk_ && immaRuns() : t == kDirect ? op_.groups > 1
                 : t == kDepthwise ? depthwise_ : isWgmma(t) && wgmmaOk_ && cuda::wgmma::available();
        if (!ok) return -1;
        tactic_ = t;
        return 0;
    }
    int32_t getTactic() const noexcept override { return tactic_; }
    //! Split-K tactics: the INT32 partial sums of every split at the largest output given to configure.
    size_t getWorkspaceSize() const noexcept override {
        if (!configured_) return 0;
        if (isImma(tactic_)) return immaWorkspaceBytes(immaTactics()[tactic_ - kImmaFirst].splits, maxM_, op_.K);
        if (isImmaNhwc(tactic_)) return immaWorkspaceBytes(immaTactics()[tactic_ - immaNhwcFirst()].splits, maxM_, op_.K);
        return 0;
    }

    void initializeKernel() override {
        GIE_CHECK(configured_, ErrorCode::kINTERNAL, "Convolution (INT8 GPU): initialize before configure");
        terminate();
        if (isWgmma(tactic_) || isWgmmaNhwc(tactic_)) {
            const char* name = getTacticName(tactic_);
            const int smem = isWgmma(tactic_) ? wgmmaS8Tactics()[static_cast<size_t>(tactic_ - kWgmma)].smemBytes
                                              : wgmmaS8NhwcTactics()[static_cast<size_t>(tactic_ - wgmmaNhwcFirst())].smemBytes;
            GIE_CHECK(smem <= static_cast<int>(cuda::deviceProps().sharedMemPerBlockOptin), ErrorCode::kUNSUPPORTED,
                      "Convolution (INT8 GPU): tactic ", name, " needs ", smem, " bytes of shared memory per block");
            if (isWgmma(tactic_)) wgmmaS8Tactics()[static_cast<size_t>(tactic_ - kWgmma)].prepare();
            else wgmmaS8NhwcTactics()[static_cast<size_t>(tactic_ - wgmmaNhwcFirst())].prepare();
            wgmmaWeights_ = cuda::upload(wgmmaW_.rows, "Convolution INT8 weights (wgmma)");
        }
        if (gemmOk_) {
            // (The wgmma tactics read only the bias and scales of this packing.)
            if (!isWgmma(tactic_) && !isWgmmaNhwc(tactic_)) weights_ = cuda::upload(gemm_.packed, "Convolution INT8 weights");
            bias_ = cuda::upload(gemm_.bias, "Convolution INT8 bias");
            mult_ = cuda::upload(gemm_.mult, "Convolution INT8 scales");
            if (immaOk_ && immaRuns()) {
                immaWeights_ = cuda::upload(imma_.words, "Convolution INT8 weights (IMMA)");
                for (int i = 0; i < kImmaTactics; ++i)
                    if (immaTacticRuns(i)) immaTactics()[i].prepare();
            }
        }
        if (op_.groups > 1) {
            directWeights_ = cuda::upload(directQ_, "Convolution INT8 weights (grouped)");
            if (depthwise_) depthwiseWeights_ = cuda::upload(depthwiseWords_, "Convolution INT8 weights (depthwise)");
            directBias_ = cuda::upload(directBiasHost_, "Convolution INT8 bias (grouped)");
            directMult_ = cuda::upload(directMultHost_, "Convolution INT8 scales (grouped)");
        }
    }
    void terminate() noexcept override {
        weights_.reset();
        wgmmaWeights_.reset();
        bias_.reset();
        mult_.reset();
        immaWeights_.reset();
        directWeights_.reset();
        depthwiseWeights_.reset();
        directBias_.reset();
        directMult_.reset();
    }

protected:
    void configureKernel(const TensorDesc* in, int32_t, const TensorDesc* out, int32_t) override {
        const int64_t C = in[0].dims.d[1], G = op_.groups, RS = op_.R * op_.S;
        maxM_ = out[0].dims.d[0] * out[0].dims.d[2] * out[0].dims.d[3];
        nhwcIn_ = in[0].format == TensorFormat::kNHWC;
        GIE_CHECK(G >= 1 && C % G == 0 && op_.K % G == 0, ErrorCode::kINVALID_MODEL, "Convolution (INT8 GPU): ", C, " input and ", op_.K,
                  " output channels are not divisible into ", G, " groups");
        const int64_t Cg = C / G, Kg = op_.K / G, perK = Cg * RS;
        const cpu::int8cpu::QuantizedLayer quantized = cpu::int8cpu::quantizeLayer(fields_, op_.K, perK, in[0].scale, "Convolution");
        const cpu::int8cpu::ChannelWeights& w = quantized.weights;
        const cpu::int8cpu::Requant& rq = quantized.requant;
        setEpilogueActivation(op_.activation, op_.actAlpha, op_.actBeta, ep_, "Convolution (INT8)");
        C4_ = storedChannels(C, TensorFormat::kCHW4) / 4;
        // A group's input channels must start on a word and its output channels fill whole CHW4 groups for the GEMM.
        gemmOk_ = G == 1 || (Cg % 4 == 0 && Kg % 4 == 0);
        depthwise_ = G > 1 && Cg == 1 && Kg == 1;
        if (gemmOk_) {
            try {
                gemm_ = packInt8Gemm(w, rq, G, Kg, Cg, RS, "Convolution");
            } catch (const Error&) {
                if (G == 1) throw;
                gemmOk_ = false;  // too large for the GEMM's 32-bit indexing: the direct tactics remain
            }
        }
        // wgmma: B rows of C4 * 4 bytes (the CHW4 words of a pixel; for an NHWC input, C % 16 == 0, the same bytes are
        // the channels in order: one packing for both); bias and scales those of gemm_. Packed only where the tactic can run.
        wgmmaOk_ = G == 1 && gemmOk_ && op_.R == 1 && op_.S == 1 && op_.sh == 1 && op_.sw == 1 && op_.pt == 0 && op_.pl == 0 &&
                   op_.pb == 0 && op_.pr == 0 && cuda::wgmma::available();
        wgmmaW_ = wgmmaOk_ ? cuda::wgmma::packS8Weights(w, op_.K, C, 1, true) : cuda::wgmma::S8Weights{};
        immaOk_ = false;
        imma_ = ImmaWeights();
        if (gemmOk_) {
            try {
                imma_ = packImmaWeights(gemm_, G, Kg, "Convolution");
                immaOk_ = true;
            } catch (const Error&) {
                // padded to the larger tiles, too large for 32-bit indexing: the other GEMM tactics remain
            }
        }
        if (G > 1) {
            const int64_t K4 = (op_.K + 3) / 4;
            directQ_ = w.q;
            directBiasHost_.assign(static_cast<size_t>(K4 * 4), 0);
            directMultHost_.assign(static_cast<size_t>(K4 * 4), 0.f);
            std::copy(rq.bias.begin(), rq.bias.end(), directBiasHost_.begin());
            std::copy(rq.mult.begin(), rq.mult.end(), directMultHost_.begin());
            depthwiseWords_.clear();
            if (depthwise_) {
                depthwiseWords_.assign(static_cast<size_t>(RS * K4), 0);
                for (int64_t k = 0; k < op_.K; ++k)
                    for (int64_t rs = 0; rs < RS; ++rs) {
                        auto& word = depthwiseWords_[static_cast<size_t>(rs * K4 + k / 4)];
                        word = static_cast<int32_t>(static_cast<uint32_t>(word) |
                                                    static_cast<uint32_t>(static_cast<uint8_t>(w.q[static_cast<size_t>(k * RS + rs)])) << (8 * (k % 4)));
                    }
            }
        }
        configured_ = true;
        // A default until the builder picks by timing.
        tactic_ = nhwcIn_ ? immaNhwcFirst() : gemmOk_ ? (immaRuns() ? kImma : kDp4a) : depthwise_ ? kDepthwise : kDirect;
    }

    void run(const KernelCall& c) const override {
        GIE_CHECK(configured_ && (weights_ || wgmmaWeights_ || directWeights_), ErrorCode::kINTERNAL,
                  "Convolution (INT8 GPU) run before configure/initialize");
        const Dims& x = c.inDims(0);
        const Dims& y = c.outDims(0);
        GIE_CHECK(storedChannels(x.d[1], TensorFormat::kCHW4) / 4 == C4_, ErrorCode::kINTERNAL, "Convolution (INT8 GPU): input has ", x.d[1],
                  " channels, configured for ", C4_ * 4);
        const int64_t M = x.d[0] * y.d[2] * y.d[3];
        if (M == 0) return;
        GIE_CHECK(M < (int64_t(1) << 31), ErrorCode::kUNSUPPORTED, "Convolution (INT8 GPU): ", M, " output pixels per call exceed 2^31");
        GIE_CHECK(cuda::alignedTo(c.inputs[0], 4) && cuda::alignedTo(c.outputs[0], 4), ErrorCode::kINTERNAL,
                  "Convolution (INT8 GPU): tensors must be 4-byte aligned");
        const bool gemm = tactic_ == kDp4a || tactic_ == kImma || isImma(tactic_) || isWgmma(tactic_) || isImmaNhwc(tactic_) || isWgmmaNhwc(tactic_);
        GIE_CHECK(nhwcIn_ == (isImmaNhwc(tactic_) || isWgmmaNhwc(tactic_)) && (c.inDesc[0].format == TensorFormat::kNHWC) == nhwcIn_,
                  ErrorCode::kINTERNAL, "Convolution (INT8 GPU): tactic ", getTacticName(tactic_), " run on an input in ",
                  formatName(c.inDesc[0].format));
        // The NHWC loaders copy 16 bytes (cp.async, TMA) from the input: engine tensors are aligned.
        GIE_CHECK(!nhwcIn_ || cuda::aligned16(c.inputs[0]), ErrorCode::kINTERNAL, "Convolution (INT8 GPU): tactic ", getTacticName(tactic_),
                  " needs a 16-byte aligned input");
        Int8Epilogue ep;
        ep.bias = gemm ? bias_->as<int>() : directBias_->as<int>();
        ep.mult = gemm ? mult_->as<float>() : directMult_->as<float>();
        ep.y = realTensor(c.outputs[0], c.outDesc[0]);
        if (c.nbInputs == 2) ep.res = realTensor(c.inputs[1], c.inDesc[1]);
        ep.act = static_cast<int>(ep_.act);
        ep.alpha = ep_.alpha;
        ep.beta = ep_.beta;
        if (!gemm) {
            Int8DirectParams a;
            a.x = c.in<int>(0);
            a.wq = directWeights_->as<signed char>();
            a.wdw = depthwiseWeights_ ? depthwiseWeights_->as<int>() : nullptr;
            a.ep = ep;
            a.xbs = c.inDesc[0].strides.d[0] / 4;
            a.N = static_cast<int>(x.d[0]);
            a.H = static_cast<int>(x.d[2]);
            a.W = static_cast<int>(x.d[3]);
            a.K = static_cast<int>(op_.K);
            a.K4 = static_cast<int>((op_.K + 3) / 4);
            a.Cg = static_cast<int>(x.d[1] / op_.groups);
            a.Kg = static_cast<int>(op_.K / op_.groups);
            a.P = static_cast<int>(y.d[2]);
            a.Q = static_cast<int>(y.d[3]);
            setGeometry(a);
            const int64_t threads = x.d[0] * a.K4 * y.d[2] * y.d[3];
            GIE_CHECK(cuda::ceilDiv(threads, 256) < (int64_t(1) << 31), ErrorCode::kUNSUPPORTED, "Convolution (INT8 GPU): output too large");
            const unsigned blocks = static_cast<unsigned>(cuda::ceilDiv(threads, 256));
            if (tactic_ == kDepthwise) convInt8Direct<true><<<blocks, 256, 0, cuda::streamOf(c)>>>(a);
            else convInt8Direct<false><<<blocks, 256, 0, cuda::streamOf(c)>>>(a);
            cuda::checkLaunch(tactic_ == kDepthwise ? "convInt8Direct<depthwise>" : "convInt8Direct<grouped>");
            return;
        }
        if (isWgmmaNhwc(tactic_)) {
            // The input is a row-major [N*H*W][C] matrix (packed NHWC, C % 16 == 0): a TMA map of M rows of C bytes.
            const WgmmaS8NhwcTactic& t = wgmmaS8NhwcTactics()[static_cast<size_t>(tactic_ - wgmmaNhwcFirst())];
            GIE_CHECK(y.d[2] == x.d[2] && y.d[3] == x.d[3] && c.inDesc[0].strides.d[0] == x.d[1] * x.d[2] * x.d[3], ErrorCode::kINTERNAL,
                      "Convolution (INT8 wgmma): output ", toString(y), " is not the 1x1 convolution's of the packed NHWC input ", toString(x));
            CUtensorMap ta, tb;
            cuda::wgmma::encodeS8Map(&ta, c.inputs[0], x.d[1], M, x.d[1], t.BM);
            cuda::wgmma::encodeS8Map(&tb, wgmmaWeights_->as<int8_t>(), wgmmaW_.pitch, op_.K, wgmmaW_.pitch, t.BN);
            WgmmaS8NhwcEp wep;
            wep.e = ep;
            wep.M = static_cast<int>(M);
            wep.K = static_cast<int>(op_.K);
            wep.HW = static_cast<int>(x.d[2] * x.d[3]);
            t.launch(ta, tb, cuda::wgmma::Chw4Source{}, wep, M, op_.K, static_cast<int>(wgmmaW_.rowBytes), cuda::streamOf(c));
            return;
        }
        if (isWgmma(tactic_)) {
            const WgmmaS8Tactic& t = wgmmaS8Tactics()[static_cast<size_t>(tactic_ - kWgmma)];
            GIE_CHECK(y.d[2] == x.d[2] && y.d[3] == x.d[3], ErrorCode::kINTERNAL, "Convolution (INT8 wgmma): output ", toString(y),
                      " is not the 1x1 convolution's of input ", toString(x));
            cuda::wgmma::Chw4Source src;
            src.x = c.in<int>(0);
            src.xbs = c.inDesc[0].strides.d[0] / 4;
            src.HW = static_cast<int>(x.d[2] * x.d[3]);
            src.C4 = static_cast<int>(C4_);
            src.M = static_cast<int>(M);
            CUtensorMap ta{}, tb;  // A is gathered (ta unused)
            cuda::wgmma::encodeS8Map(&tb, wgmmaWeights_->as<int8_t>(), wgmmaW_.pitch, op_.K, wgmmaW_.pitch, t.BN);
            WgmmaS8Ep wep;
            wep.e = ep;
            wep.M = static_cast<int>(M);
            wep.K = static_cast<int>(op_.K);
            wep.HW = src.HW;
            t.launch(ta, tb, src, wep, M, op_.K, static_cast<int>(wgmmaW_.rowBytes), cuda::streamOf(c));
            return;
        }
        Int8GemmParams a;
        a.x = c.in<int>(0);
        a.w = weights_->as<int>();
        a.wgs = gemm_.kredPad * gemm_.kPad;
        a.ep = ep;
        a.xbs = c.inDesc[0].strides.d[0] / 4;
        a.H = static_cast<int>(x.d[2]);
        a.W = static_cast<int>(x.d[3]);
        a.C4 = static_cast<int>(gemm_.C4);
        a.K = static_cast<int>(op_.K / op_.groups);
        a.P = static_cast<int>(y.d[2]);
        a.Q = static_cast<int>(y.d[3]);
        setGeometry(a);
        a.kred = static_cast<int>(gemm_.kred);
        a.kPad = static_cast<int>(gemm_.kPad);
        a.M = static_cast<int>(M);
        if (isImma(tactic_) || isImmaNhwc(tactic_)) {
            GIE_CHECK(immaWeights_, ErrorCode::kINTERNAL, "Convolution (INT8 GPU): ", getTacticName(tactic_), " run without its weights");
            ImmaWeightsView wv;
            wv.w = immaWeights_->as<int>();
            wv.gs = imma_.rows * imma_.rowWords;
            wv.rowWords = static_cast<int>(imma_.rowWords);
            const ImmaTactic& t = immaTactics()[isImma(tactic_) ? tactic_ - kImmaFirst : tactic_ - immaNhwcFirst()];
            GIE_CHECK(t.splits == 1 || (c.workspace && cuda::aligned16(c.workspace) && M <= maxM_), ErrorCode::kINTERNAL, "Convolution (INT8 GPU): split-K tactic ",
                      getTacticName(tactic_), " got no aligned workspace or more than the configured ", maxM_, " output pixels");
            (isImma(tactic_) ? t.launch : t.launchNhwc)(a, wv, static_cast<int>(op_.groups), c.workspace, cuda::streamOf(c));
            return;
        }
        launchInt8Gemm(a, static_cast<int>(op_.groups), tactic_ == kImma, cuda::streamOf(c));
    }

private:
    // kImmaFirst + i: immaTactics()[i]; kWgmma + i: wgmmaS8Tactics()[i]; then (after them, so that the indices engine
    // files hold stay valid) the NHWC input's: immaNhwcFirst() + i: immaTactics()[i]'s launchNhwc, wgmmaNhwcFirst() + i:
    // wgmmaS8NhwcTactics()[i].
    static constexpr int32_t kDp4a = 0, kImma = 1, kDirect = 2, kDepthwise = 3, kImmaFirst = 4, kWgmma = kImmaFirst + kImmaTactics;
    static bool isImma(int32_t t) { return t >= kImmaFirst && t < kImmaFirst + kImmaTactics; }
    static bool isWgmma(int32_t t) { return t >= kWgmma && t < kWgmma + static_cast<int32_t>(wgmmaS8Tactics().size()); }
    static int32_t immaNhwcFirst() { return kWgmma + static_cast<int32_t>(wgmmaS8Tactics().size()); }
    static int32_t wgmmaNhwcFirst() { return immaNhwcFirst() + kImmaTactics; }
    static bool isImmaNhwc(int32_t t) { return t >= immaNhwcFirst() && t < wgmmaNhwcFirst(); }
    static bool isWgmmaNhwc(int32_t t) { return t >= wgmmaNhwcFirst() && t < wgmmaNhwcFirst() + static_cast<int32_t>(wgmmaS8NhwcTactics().size()); }
    template <typename Params>
    void setGeometry(Params& a) const {
        a.R = static_cast<int>(op_.R);
        a.S = static_cast<int>(op_.S);
        a.sh = static_cast<int>(op_.sh);
        a.sw = static_cast<int>(op_.sw);
        a.pt = static_cast<int>(op_.pt);
        a.pl = static_cast<int>(op_.pl);
        a.dh = static_cast<int>(op_.dh);
        a.dw = static_cast<int>(op_.dw);
    }
    int32_t tactic_ = kDp4a;
    cpu::Epilogue ep_;
    bool configured_ = false, gemmOk_ = false, immaOk_ = false, depthwise_ = false, wgmmaOk_ = false;
    bool nhwcIn_ = false;  // the input is INT8 NHWC (configure): only the _nhwc tactics
    cuda::wgmma::S8Weights wgmmaW_;
    int64_t C4_ = 0, maxM_ = 0;  // maxM_: N*P*Q at the largest shapes (split-K's workspace)
    Int8GemmWeights gemm_;
    ImmaWeights imma_;
    std::vector<int8_t> directQ_;
    std::vector<int32_t> depthwiseWords_, directBiasHost_;
    std::vector<float> directMultHost_;
    std::shared_ptr<cuda::DeviceArray> weights_, wgmmaWeights_, bias_, mult_, immaWeights_, directWeights_, depthwiseWeights_, directBias_, directMult_;
};
GIE_REGISTER_KERNEL(ConvolutionInt8Gpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
