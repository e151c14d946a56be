// Integer tensor-core implicit GEMM with a cp.async pipeline (sm_80+; docs/int8.md "GPU kernels"): the GEMM of
// int8_implicit_gemm.cuh (rows M = output pixels, columns = the output channels of one group, grid z = group,
// reduction over kk = (r*S + s)*C4 + cg CHW4 words, 4 channels per word) with larger block tiles, for the INT8
// convolution (conv2d_int8.cu) and fully connected layer (fully_connected_int8.cu). Instantiated once, in
// int8_imma_gemm.cu; the tactics' names and launches are immaTactics().
//
// Shared memory per stage: A [BM pixels][16 words] then B [BN channels][16 words]: rows of 64 bytes (64 input
// channels), four 16-byte chunks each, chunk c of row r stored at convf16::swizzle<4>(r, c). That is byte for byte
// the FP16 implicit GEMM's stage with BK = 32 halves, and the s8 fragments of mma.m16n8k32 are byte-compatible with
// the f16 fragments of mma.m16n8k16 (PTX ISA: A regs {rows g, g+8} x {k bytes 4t..4t+3, 16+4t..}, i.e. words t and
// t + 4 of a row of 8 words; B regs words t and t + 4 of column g; C {c0, c1} row g / {c2, c3} row g + 8, columns
// 2t, 2t + 1): so one ldmatrix.x4 (b16) per 16 x 32-byte A fragment and per pair of 8-column B fragments, free of
// bank conflicts, exactly as in conv2d_implicit_gemm_f16.cuh, whose swizzle and ldmatrix this file uses.
//
// Loads: A is CHW4, so a pixel's words are H*W words apart and consecutive pixels of one word are adjacent: each
// element is a 4-byte cp.async (zero-filled through src-size 0 for padding, rows past M and words past the
// reduction; padding reads as q = 0 as on the CPU). Lane l of a warp takes pixel l / 4 of an 8-pixel group and word
// l % 4 of each 16-byte chunk: 8 pixels x 4 words per instruction (32-byte sectors, whole), and the 32 shared words
// it writes fall in 32 different banks. B (the weights) is packed on the host channel-major, [group][channel, rows
// padded to 128][reduction words, padded to 16] (packImmaWeights), so each row's stage is four 16-byte cp.async
// without bounds checks (the padding is zeros). A 3-4 stage pipeline keeps STAGES - 1 tiles in flight.
// An INT8 NHWC input (the _nhwc tactics: groups == 1, C % 16 == 0) fills the same stage with one 16-byte cp.async per
// chunk instead: the chunk's 16 channels of one pixel at one tap are contiguous (immaGemmKernel's NHWC parameter).
//
// Epilogue straight from the accumulator registers: lanes t and t ^ 1 of a quad exchange two accumulators
// (__shfl_xor) so that the even lane holds channels 4u .. 4u + 3 of row g and the odd one the same channels of row
// g + 8: one CHW4 group, which the common requantStore (int8_common.cuh) finishes with the CPU's float arithmetic.
#pragma once

#include <cstdint>
#include <vector>

#include "conv2d_implicit_gemm_f16.cuh"  // convf16::swizzle, convf16::ldmatrixX4; conv_common.cuh: cp.async
#include "int8_implicit_gemm.cuh"

namespace gie {
namespace cuda {
namespace int8gpu {

//! d += a * b for one m16n8k32 tile of s8 (sm_80+): A 16 x 32 bytes (4 words), B 32 x 8 (b0, b1).
__device__ __forceinline__ void mmaS8(int (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
    __trap();  // the host never selects an integer tensor-core tactic below sm_80
#endif
}

constexpr int kImmaBK = 16;         // reduction words (64 input channels) per stage
constexpr int kImmaRowAlign = 128;  // the packed weights' channel rows are padded to the largest BN

//! The weights as the IMMA tactics read them (see packImmaWeights): rowWords words per channel row, gs per group.
struct ImmaWeightsView {
    const int* w = nullptr;
    int64_t gs = 0;
    int rowWords = 0;
};

//! Channel-major weights: word (g, k, kk) = word (g, kk, k) of the dp4a / imma_128x64x32 packing; zero padding to
//! kImmaRowAlign channels and kImmaBK reduction words.
struct ImmaWeights {
    std::vector<int32_t> words;
    int64_t rows = 0, rowWords = 0;
};

inline ImmaWeights packImmaWeights(const Int8GemmWeights& p, int64_t groups, int64_t Kg, const char* layer) {
    ImmaWeights t;
    t.rows = roundUpTo(Kg, kImmaRowAlign);
    t.rowWords = roundUpTo(p.kred, kImmaBK);
    GIE_CHECK(groups * t.rows * t.rowWords < (int64_t(1) << 31), ErrorCode::kUNSUPPORTED, layer, " (INT8 GPU): ", groups * Kg,
              " output channels x ", p.kred, " reduction words are too many");
    t.words.assign(static_cast<size_t>(groups * t.rows * t.rowWords), 0);
    for (int64_t g = 0; g < groups; ++g)
        for (int64_t k = 0; k < Kg; ++k)
            for (int64_t kk = 0; kk < p.kred; ++kk)
                t.words[static_cast<size_t>((g * t.rows + k) * t.rowWords + kk)] = p.packed[static_cast<size_t>(g * p.kredPad * p.kPad + kk * p.kPad + k)];
    return t;
}

//! Block tile BM x BN, warp tile WM x WN, STAGES shared stages, MINB blocks per SM (the register budget).
template <int BM_, int BN_, int WM_, int WN_, int STAGES_, int MINB_>
struct ImmaGeometry {
    static constexpr int BM = BM_, BN = BN_, WM = WM_, WN = WN_, STAGES = STAGES_, MINB = MINB_;
    static constexpr int WARPS_M = BM / WM, WARPS = WARPS_M * (BN / WN), THREADS = WARPS * 32;
    static constexpr int MI = WM / 16, NI = WN / 8;
    static constexpr int A_PIX = BM / (8 * WARPS);         // CHW4: 8-pixel groups per warp (pixels per thread)
    static constexpr int B_ROWS_PER_PASS = THREADS / 4;    // 4 chunks per row
    static constexpr int A_ITERS = BM / B_ROWS_PER_PASS;   // NHWC: pixel rows per thread (one 16-byte chunk each)
    static constexpr int B_ITERS = BN / B_ROWS_PER_PASS;
    static constexpr int STAGE_WORDS = (BM + BN) * kImmaBK;
    static constexpr int SMEM_BYTES = STAGES * STAGE_WORDS * 4;
    static_assert(BM % WM == 0 && BN % WN == 0 && WM % 16 == 0 && WN % 16 == 0, "warp tiles of whole ldmatrix.x4 fragments");
    static_assert(BM % (8 * WARPS) == 0 && BM % B_ROWS_PER_PASS == 0 && BN % B_ROWS_PER_PASS == 0 && B_ROWS_PER_PASS % 8 == 0,
                  "load passes keep the swizzle");
    static_assert(BN <= kImmaRowAlign && kImmaRowAlign % BN == 0, "weight rows padded to whole tiles");
};

//! Split-K (groups == 1 only): block z reduces k-tiles [z*tilesPerSplit, +tilesPerSplit) and writes its exact INT32
//! sums to partial[z][M][K4] (K4: K rounded up to 4); immaSplitReduce adds the splits and runs the epilogue.
struct ImmaSplit {
    int* partial = nullptr;
    int tilesPerSplit = 1 << 30;
};

//! One block tile: rows [x*BM, +BM) x channels [y*BN, +BN) of group z (SPLIT: of split z), the whole reduction.
//! ONE_BY_ONE: a 1x1 kernel, stride 1, no padding (P = H, Q = W): the input word of reduction index kk at output pixel
//! pq is kk*H*W + pq (CHW4) or pq*C4 + kk (NHWC), no tap walk and no bounds but M and the reduction's end.
//! NHWC: the input is INT8 NHWC with C % 16 == 0 and groups == 1 (a.C4 = C / 4 words per pixel, a.xbs words per
//! image): a 16-byte chunk of a stage row (16 channels of one pixel at one tap: C4 % 4 == 0, so a chunk never spans
//! two taps) is 16 contiguous bytes of the input, one 16-byte cp.async (zero-filled for padding, rows past M and the
//! reduction's end). Thread tid copies chunk tid % 4 of rows tid / 4 + i * THREADS / 4, the weights' pattern: a warp
//! reads 8 pixels x 64 bytes. The shared layout, the weights and the arithmetic are the CHW4 kernel's.
template <class G, bool ONE_BY_ONE, bool SPLIT, bool NHWC = false>
__global__ void __launch_bounds__(G::THREADS, G::MINB) immaGemmKernel(const Int8GemmParams a, const ImmaWeightsView wv, const ImmaSplit sk) {
    constexpr int BM = G::BM, BK = kImmaBK, MI = G::MI, NI = G::NI;
    extern __shared__ __align__(128) int immaSmem[];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp % G::WARPS_M, wn = warp / G::WARPS_M;
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * G::BN, grp = SPLIT ? 0 : blockIdx.z;
    // This block's k-tiles: [tile0, tile0 + kTiles) (a split with none writes zero sums).
    const int tile0 = SPLIT ? blockIdx.z * sk.tilesPerSplit : 0;
    const int kTiles = max(0, min((a.kred + kImmaBK - 1) / kImmaBK - tile0, SPLIT ? sk.tilesPerSplit : 1 << 30));
    const int PQ = a.P * a.Q, HW = a.H * a.W;

    // A, CHW4: pixel rows (warp + j*WARPS)*8 + lane/4 of the tile, word aw of each chunk. NHWC: rows tid/4 + j*THREADS/4,
    // chunk tid % 4 (aw then names the chunk: the thread's 4 words are kk .. kk + 3 with kk = kb + aw*4). Per pixel: its
    // image (and group) base and top-left input position (a row past M gets an ah0 that no tap brings into the image).
    constexpr int A_N = NHWC ? G::A_ITERS : G::A_PIX, A_ROW_STEP = G::B_ROWS_PER_PASS;  // (A_ROW_STEP: NHWC)
    const int aw = NHWC ? tid & 3 : lane & 3, ar = NHWC ? tid >> 2 : lane >> 2;
    const int* aBase[A_N];
    int ah0[A_N], aw0[A_N];
#pragma unroll
    for (int j = 0; j < A_N; ++j) {
        const int m = m0 + (NHWC ? ar + j * A_ROW_STEP : (warp + j * G::WARPS) * 8 + ar);
        const int mm = m < a.M ? m : 0;
        const int n = mm / PQ, pq = mm - n * PQ, p = pq / a.Q, q = pq - p * a.Q;
        aBase[j] = a.x + static_cast<int64_t>(n) * a.xbs +
                   (NHWC ? (ONE_BY_ONE ? static_cast<int64_t>(pq) * a.C4 : 0)
                         : static_cast<int64_t>(grp) * a.C4 * HW + (ONE_BY_ONE ? pq : 0));
        ah0[j] = m < a.M ? (ONE_BY_ONE ? 0 : p * a.sh - a.pt) : -(1 << 30);  // ONE_BY_ONE: 0 marks a row < M
        aw0[j] = q * a.sw - a.pl;
    }
    // Reduction position of word kb + c*4 + aw (CHW4; NHWC: kb + aw*4, c = 0 only) of the next stage (kb: the stage's
    // first word): its channel word cg and its tap (r, s) scaled by the dilation (rd, sd). (Fewer registers than
    // keeping offsets: the 128 x 128 tile has 128 per thread.)
    constexpr int A_POS = NHWC ? 1 : 4;
    int kb = tile0 * BK, cg[A_POS] = {}, rd[A_POS] = {}, sd[A_POS] = {};
    auto seek = [&](int c) {  // by division (at the start, and when a stage spans several taps)
        const int k = NHWC ? kb + aw * 4 : kb + c * 4 + aw, rs = k / a.C4, r = rs / a.S;
        cg[c] = k - rs * a.C4;
        rd[c] = r * a.dh;
        sd[c] = (rs - r * a.S) * a.dw;
    };
    if (!ONE_BY_ONE) {
#pragma unroll
        for (int c = 0; c < A_POS; ++c) seek(c);
    }
    // CHW4: + the swizzled chunk; NHWC: the whole offset of row ar's chunk aw (rows ar + j*A_ROW_STEP keep the swizzle)
    const int aOffS = NHWC ? ar * BK + convf16::swizzle<4>(ar, aw) * 4 : ar * BK + aw;

    // B: channel rows tid/4 + i*B_ROWS_PER_PASS, chunk tid % 4.
    const int bc = tid & 3, br = tid >> 2;
    // (a 32-bit offset from the group's weights: packImmaWeights keeps every index below 2^31; one register less)
    const int* bGroup = wv.w + grp * wv.gs;
    int bSrc = (n0 + br) * wv.rowWords + bc * 4 + tile0 * BK;
    const int bOffS = br * BK + convf16::swizzle<4>(br, bc) * 4;

    auto loadTile = [&](int stage) {
        int* as = immaSmem + stage * G::STAGE_WORDS;
        int* bs = as + BM * BK;
        if constexpr (NHWC) {
            const int k = kb + aw * 4;  // the chunk's first reduction word
            const bool kValid = k < a.kred;
#pragma unroll
            for (int j = 0; j < A_N; ++j) {
                bool valid;
                const int* src;
                if (ONE_BY_ONE) {
                    valid = kValid && ah0[j] == 0;
                    src = valid ? aBase[j] + k : a.x;
                } else {
                    const int h = ah0[j] + rd[0], w = aw0[j] + sd[0];
                    valid = kValid && static_cast<unsigned>(h) < static_cast<unsigned>(a.H) && static_cast<unsigned>(w) < static_cast<unsigned>(a.W);
                    src = valid ? aBase[j] + ((h * a.W + w) * a.C4 + cg[0]) : a.x;  // offset formed only inside the image
                }
                conv::cpAsync16(as + aOffS + j * A_ROW_STEP * BK, reinterpret_cast<const float*>(src), valid);
            }
        }
#pragma unroll
        for (int c = 0; c < 4 && !NHWC; ++c) {
            const int so = aOffS + convf16::swizzle<4>(ar, c) * 4;
            const bool kValid = kb + c * 4 + aw < a.kred;
#pragma unroll
            for (int j = 0; j < A_N; ++j) {
                bool valid;
                const int* src;
                if (ONE_BY_ONE) {
                    valid = kValid && ah0[j] == 0;
                    src = valid ? aBase[j] + (kb + c * 4 + aw) * HW : a.x;
                } else {
                    const int h = ah0[j] + rd[c], w = aw0[j] + sd[c];
                    valid = kValid && static_cast<unsigned>(h) < static_cast<unsigned>(a.H) && static_cast<unsigned>(w) < static_cast<unsigned>(a.W);
                    src = valid ? aBase[j] + (cg[c] * HW + h * a.W + w) : a.x;  // offset formed only inside the image
                }
                conv::cpAsync4(as + (warp + j * G::WARPS) * 8 * BK + so, reinterpret_cast<const float*>(src), valid);
            }
        }
#pragma unroll
        for (int i = 0; i < G::B_ITERS; ++i)
            conv::cpAsync16(bs + bOffS + i * G::B_ROWS_PER_PASS * BK, reinterpret_cast<const float*>(bGroup + (bSrc + i * G::B_ROWS_PER_PASS * wv.rowWords)),
                            true);
        bSrc += BK;
        kb += BK;
        if constexpr (!ONE_BY_ONE) {
#pragma unroll
            for (int c = 0; c < A_POS; ++c) {
                if (a.C4 >= BK) {  // at most one carry into the tap
                    cg[c] += BK;
                    if (cg[c] >= a.C4) {
                        cg[c] -= a.C4;
                        sd[c] += a.dw;
                        if (sd[c] == a.S * a.dw) {
                            sd[c] = 0;
                            rd[c] += a.dh;
                        }
                    }
                } else {
                    seek(c);
                }
            }
        }
    };

    int acc[MI][NI][4];
#pragma unroll
    for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NI; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][j][e] = 0;

#pragma unroll
    for (int st = 0; st < G::STAGES - 1; ++st) {
        if (st < kTiles) loadTile(st);
        conv::cpAsyncCommit();
    }
    // ldmatrix rows / chunks of this lane (as conv2d_implicit_gemm_f16.cuh): A quarters (rows 0-7 | 8-15) x
    // (words 0-3 | 4-7); B (n 0-7, words 0-3), (n 0-7, words 4-7), (n 8-15, words 0-3), (n 8-15, words 4-7).
    // Fragment mi (nj) is 16 rows further: the same swizzle, a constant offset.
    const int aRowL = wm * G::WM + (lane & 15), aChunkL = lane >> 4;
    const int bRowL = wn * G::WN + (lane & 7) + ((lane >> 4) << 3), bChunkL = (lane >> 3) & 1;
    // k step 1 reads chunks 2 and 3 instead of 0 and 1: swizzle(r, c ^ 2) = swizzle(r, c) ^ 2, i.e. word offset ^ 8
    // (one register each instead of two: the 128 x 128 tile is at its 128-register budget).
    const int aOff = aRowL * BK + convf16::swizzle<4>(aRowL, aChunkL) * 4;
    const int bOff = bRowL * BK + convf16::swizzle<4>(bRowL, bChunkL) * 4;
    auto loadFragments = [&](uint32_t (&af)[MI][4], uint32_t (&bf)[NI][2], const int* as, const int* bs, int ks) {
#pragma unroll
        for (int mi = 0; mi < MI; ++mi) convf16::ldmatrixX4(af[mi], as + (aOff ^ (ks << 3)) + mi * 16 * BK);
#pragma unroll
        for (int nj = 0; nj < NI / 2; ++nj) {
            uint32_t t[4];
            convf16::ldmatrixX4(t, bs + (bOff ^ (ks << 3)) + nj * 16 * BK);
            bf[2 * nj][0] = t[0];
            bf[2 * nj][1] = t[1];
            bf[2 * nj + 1][0] = t[2];
            bf[2 * nj + 1][1] = t[3];
        }
    };
    for (int it = 0; it < kTiles; ++it) {
        conv::cpAsyncWait<G::STAGES - 2>();
        __syncthreads();  // tile `it` is visible to all; everyone is done with the stage reloaded below
        const int* as = immaSmem + (it % G::STAGES) * G::STAGE_WORDS;
        const int* bs = as + BM * BK;
        uint32_t af[MI][4], bf[NI][2];
        loadFragments(af, bf, as, bs, 0);  // first: the loads below then hide the ldmatrix latency
        const int next = it + G::STAGES - 1;
        if (next < kTiles) loadTile(next % G::STAGES);
        conv::cpAsyncCommit();
#pragma unroll
        for (int ks = 0; ks < 2; ++ks) {  // two k32 steps of 8 words per stage
            if (ks > 0) loadFragments(af, bf, as, bs, ks);
#pragma unroll
            for (int mi = 0; mi < MI; ++mi)
#pragma unroll
                for (int ni = 0; ni < NI; ++ni) mmaS8(acc[mi][ni], af[mi], bf[ni][0], bf[ni][1]);
        }
    }
    conv::cpAsyncWait<0>();  // nothing is left in flight (the last groups are empty) before the block exits

    // NHWC kernels writing INT8 NHWC with K % 16 == 0 (a uniform condition: every thread takes the same branch): the
    // block tile's requantized bytes go through shared memory (rows of BN bytes, BN + 16 apart) so that every 16
    // output channels of a pixel leave in one 16-byte store (8 threads: 128 contiguous bytes) instead of 4-byte words.
    if constexpr (NHWC && !SPLIT) {
        constexpr int PITCH = G::BN + 16, CHUNKS = G::BN / 16;
        static_assert(BM * PITCH <= G::SMEM_BYTES, "the staged tile fits the stages");
        if (a.ep.y.kind == kInt8Nhwc && (a.K & 15) == 0 && (a.ep.y.bs & 15) == 0 && (reinterpret_cast<uintptr_t>(a.ep.y.p) & 15) == 0) {
            __syncthreads();  // every warp has read its last fragments before the stages are overwritten
            unsigned char* st = reinterpret_cast<unsigned char*>(immaSmem);
            const int t = lane & 3;
            const bool odd = t & 1;
#pragma unroll
            for (int mi = 0; mi < MI; ++mi) {
                const int rl = wm * G::WM + mi * 16 + (lane >> 2) + (odd ? 8 : 0), m = m0 + rl;
                const int n = m < a.M ? m / PQ : 0, pq = m - n * PQ;
#pragma unroll
                for (int ni = 0; ni < NI; ++ni) {
                    int* c = acc[mi][ni];  // (the swap of the register epilogue below: one 4-channel group per lane)
                    const int r0 = __shfl_xor_sync(0xffffffffu, odd ? c[0] : c[2], 1);
                    const int r1 = __shfl_xor_sync(0xffffffffu, odd ? c[1] : c[3], 1);
                    const int v[4] = {odd ? r0 : c[0], odd ? r1 : c[1], odd ? c[2] : r0, odd ? c[3] : r1};
                    const int cll = wn * G::WN + ni * 8 + 2 * (t & 2), cl = n0 + cll;
                    if (m >= a.M || cl >= a.K) continue;
                    float y[4];
                    requantValues(a.ep, n, cl, pq, PQ, v, cl, 4, y);
                    *reinterpret_cast<unsigned*>(st + rl * PITCH + cll) = quantWord(y, a.ep.y.scale, 4);
                }
            }
            __syncthreads();
            for (int i = tid; i < BM * CHUNKS; i += G::THREADS) {
                const int rl = i / CHUNKS, ch = i - rl * CHUNKS, m = m0 + rl, cl = n0 + ch * 16;
                if (m >= a.M || cl >= a.K) continue;
                const int n = m / PQ, pq = m - n * PQ;
                *reinterpret_cast<int4*>(static_cast<signed char*>(a.ep.y.p) + n * a.ep.y.bs + static_cast<int64_t>(pq) * a.K + cl) =
                    *reinterpret_cast<const int4*>(st + rl * PITCH + ch * 16);
            }
            return;
        }
    }

    // Epilogue from registers (see the file comment): the even lane of a pair finishes row g, the odd one row g + 8,
    // both for channels cl .. cl + 3. Channels past K (groups == 1) are CHW4 padding, written as 0 by requantStore.
    const int t = lane & 3;
    const bool odd = t & 1;
    const int K4 = (a.K + 3) & ~3;
#pragma unroll
    for (int mi = 0; mi < MI; ++mi) {
        const int m = m0 + wm * G::WM + mi * 16 + (lane >> 2) + (odd ? 8 : 0);
        const bool rowOk = m < a.M;
        const int n = rowOk ? m / PQ : 0, pq = m - n * PQ;
#pragma unroll
        for (int ni = 0; ni < NI; ++ni) {
            int* c = acc[mi][ni];
            const int r0 = __shfl_xor_sync(0xffffffffu, odd ? c[0] : c[2], 1);
            const int r1 = __shfl_xor_sync(0xffffffffu, odd ? c[1] : c[3], 1);
            const int v[4] = {odd ? r0 : c[0], odd ? r1 : c[1], odd ? c[2] : r0, odd ? c[3] : r1};
            const int cl = n0 + wn * G::WN + ni * 8 + 2 * (t & 2);
            if (!rowOk || cl >= K4) continue;
            if constexpr (SPLIT)
                *reinterpret_cast<int4*>(sk.partial + (static_cast<int64_t>(blockIdx.z) * a.M + m) * K4 + cl) = make_int4(v[0], v[1], v[2], v[3]);
            else
                requantStore(a.ep, n, grp * a.K + cl, pq, PQ, v, grp * a.kPad + cl, min(4, a.K - cl));
        }
    }
}

//! Split-K's second step: the sum over the splits of partial[z][m][cl .. cl+3], then the epilogue. Block (x, y): pixels
//! x*256 .. +256 (consecutive threads, coalesced CHW4 / LINEAR stores) of CHW4 groups y, y + gridDim.y, ... (32-bit
//! indices: a 64-bit division would be a call).
//! static: this header is included by several .cu files (one copy of the kernel per file that launches it).
static __global__ void __launch_bounds__(256) immaSplitReduce(const Int8GemmParams a, const int* __restrict__ partial, int splits) {
    const int K4 = (a.K + 3) & ~3, PQ = a.P * a.Q;
    const int m = blockIdx.x * blockDim.x + threadIdx.x;
    if (m >= a.M) return;
    const int n = m / PQ, pq = m - n * PQ;
    const int64_t slice = static_cast<int64_t>(a.M) * K4;
    for (int cl = blockIdx.y * 4; cl < K4; cl += gridDim.y * 4) {
        const int* src = partial + static_cast<int64_t>(m) * K4 + cl;
        int4 s = __ldg(reinterpret_cast<const int4*>(src));
        for (int z = 1; z < splits; ++z) {
            const int4 t = __ldg(reinterpret_cast<const int4*>(src + z * slice));
            s = make_int4(s.x + t.x, s.y + t.y, s.z + t.z, s.w + t.w);
        }
        const int v[4] = {s.x, s.y, s.z, s.w};
        requantStore(a.ep, n, cl, pq, PQ, v, cl, min(4, a.K - cl));
    }
}

//! The IMMA tactics: names (conv with the _chw4 suffix, FC without; the convolution on an INT8 NHWC input with _nhwc),
//! shared memory, split-K factor (1: none; else groups == 1 only, with a workspace of immaWorkspaceBytes), and their
//! launches.
struct ImmaTactic {
    const char* convName;
    const char* fcName;
    const char* nhwcName;
    int smemBytes;
    int splits;
    void (*prepare)();  //!< opts in to smemBytes of dynamic shared memory for every variant (host, idempotent)
    //! workspace: immaWorkspaceBytes(splits, M, K) bytes, 16-byte aligned (unused without split-K)
    void (*launch)(const Int8GemmParams& a, const ImmaWeightsView& w, int groups, void* workspace, cudaStream_t stream);
    //! The same on an INT8 NHWC input (groups == 1, C % 16 == 0, a.x 16-byte aligned, a.C4 = C / 4 words per pixel)
    void (*launchNhwc)(const Int8GemmParams& a, const ImmaWeightsView& w, int groups, void* workspace, cudaStream_t stream);
};
constexpr int kImmaTactics = 5;
inline size_t immaWorkspaceBytes(int splits, int64_t M, int64_t K) {
    return splits > 1 ? static_cast<size_t>(splits) * static_cast<size_t>(M) * static_cast<size_t>((K + 3) / 4 * 4) * sizeof(int) : 0;
}
//! kImmaTactics entries (defined in int8_imma_gemm.cu).
const ImmaTactic* immaTactics();

//! Whether tactic i runs here: sm_80+ and its shared memory within the device's opt-in limit.
bool immaTacticRuns(int i) noexcept;

}  // namespace int8gpu
}  // namespace cuda
}  // namespace gie
