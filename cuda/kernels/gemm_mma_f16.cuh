// FP16 tensor-core tactics of the GEMM (gemm.cuh; the tactics hgemm_mma_*): the same problem (any M/N/K, leading
// dimensions, transposes, broadcast batches, bias + activation epilogue, any ldc) with A, B and C in half, on
// mma.sync m16n8k16 (half products, FP32 accumulation: the rounding differs from the SIMT FP16 path, which widens
// to FP32 before multiplying, only in the order of the FP32 sums; the products of halves are exact in FP32).
//
// Block tile BM x BN x 32, warps WARPS_M x WARPS_N, each warp a (BM/WARPS_M) x (BN/WARPS_N) tile of 16x8 MMAs.
// Both operands go to shared memory as rows of k (A: [m][k], B: [n][k], i.e. the "row.col" layout of the MMA),
// rows padded to 40 halves so that the fragment loads (32-bit, lane (g, t) reads row g, k pair t) hit 32 distinct
// banks. An operand whose stored rows are k (A transposed, B not) is transposed on its way to shared memory. The
// next k tile is loaded into registers (4 halves per chunk, one 8-byte load when the layout allows) while the
// current one is multiplied, then stored into the other buffer (one barrier per k step, as the SIMT tiles do).
// Out-of-range rows and k read as zero. Needs sm_80 (hmmaAvailable); the builder then times it against the others.
#pragma once

#include <cuda_fp16.h>

#include "mma_f16.cuh"

namespace gie {
namespace cuda {
namespace gemm {
namespace detail {

constexpr int kHmmaBK = 32;
static_assert(kHmmaBK == kHmmaSplitStep, "hgemm_mma_splitk slices k in whole steps of the tile");
constexpr int kHmmaLds = kHmmaBK + 8;  // halves per shared row: 80 bytes, conflict-free fragment loads

//! One operand tile (R rows of m or n, kHmmaBK of k) through registers into shared [R][kHmmaLds] halves.
//! KCONTIG: stored X[r * ld + k]; else X[k * ld + r] (transposed on the way).
template <int R, int NT, bool KCONTIG>
struct HalfTileLoader {
    static constexpr int kChunks = R * kHmmaBK / 4;  // 4 halves each
    static constexpr int kPer = kChunks / NT;
    static_assert(kChunks % NT == 0, "chunks spread evenly over the threads");
    uint2 v[kPer];

    __device__ __forceinline__ static int chunk(int i) { return static_cast<int>(threadIdx.x) + i * NT; }

    // rExt: M or N; K: the reduction length; vec: 4-element loads allowed (gemm::prepare's vecA / vecB).
    __device__ __forceinline__ void load(const __half* __restrict__ X, int64_t ld, int r0, int k0, int rExt, int K, bool vec) {
#pragma unroll
        for (int i = 0; i < kPer; ++i) {
            uint2 raw = make_uint2(0u, 0u);
            __half* h = reinterpret_cast<__half*>(&raw);
            const int c = chunk(i);
            if (KCONTIG) {
                const int gr = r0 + c / (kHmmaBK / 4), gk = k0 + (c % (kHmmaBK / 4)) * 4;
                if (gr < rExt) {
                    const __half* src = X + static_cast<int64_t>(gr) * ld + gk;
                    if (vec) {
                        if (gk < K) raw = __ldg(reinterpret_cast<const uint2*>(src));
                    } else {
#pragma unroll
                        for (int j = 0; j < 4; ++j)
                            if (gk + j < K) h[j] = __ldg(src + j);
                    }
                }
            } else {
                const int gk = k0 + c / (R / 4), gr = r0 + (c % (R / 4)) * 4;
                if (gk < K) {
                    const __half* src = X + static_cast<int64_t>(gk) * ld + gr;
                    if (vec) {
                        if (gr < rExt) raw = __ldg(reinterpret_cast<const uint2*>(src));
                    } else {
#pragma unroll
                        for (int j = 0; j < 4; ++j)
                            if (gr + j < rExt) h[j] = __ldg(src + j);
                    }
                }
            }
            v[i] = raw;
        }
    }
    __device__ __forceinline__ void store(__half (*S)[kHmmaLds]) const {
#pragma unroll
        for (int i = 0; i < kPer; ++i) {
            const int c = chunk(i);
            if (KCONTIG) {
                *reinterpret_cast<uint2*>(&S[c / (kHmmaBK / 4)][(c % (kHmmaBK / 4)) * 4]) = v[i];
            } else {
                const int k = c / (R / 4), r = (c % (R / 4)) * 4;
                const __half* h = reinterpret_cast<const __half*>(&v[i]);
#pragma unroll
                for (int j = 0; j < 4; ++j) S[r + j][k] = h[j];
            }
        }
    }
};

__device__ __forceinline__ uint32_t ldShared32(const __half* p) { return *reinterpret_cast<const uint32_t*>(p); }

//! Grid: x = M tiles, y = N tiles (from yBase), z = matrix * splits + split (from zBase). With p.splits > 1 (the
//! hgemm_mma_splitk tactic) a block reduces k in [split * kPerSplit, + kPerSplit) (kPerSplit a multiple of 32) and
//! stores its raw FP32 sums in p.partial[z][m][n] (rows ldp apart) for splitKReduce, which runs the epilogue.
template <int BM, int BN, int WARPS_M, int WARPS_N, bool TA, bool TB>
__global__ void __launch_bounds__(WARPS_M * WARPS_N * 32) hgemmMma(const Params p, int yBase, int zBase) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    constexpr int NT = WARPS_M * WARPS_N * 32;
    constexpr int WM = BM / WARPS_M, WN = BN / WARPS_N;
    constexpr int MI = WM / 16, NI = WN / 8;
    static_assert(WM % 16 == 0 && WN % 8 == 0, "warp tiles of whole MMAs");
    __shared__ __align__(16) __half As[2][BM][kHmmaLds];
    __shared__ __align__(16) __half Bs[2][BN][kHmmaLds];

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int g = lane >> 2, t4 = lane & 3;
    const int wm = (warp / WARPS_N) * WM, wn = (warp % WARPS_N) * WN;
    const int m0 = blockIdx.x * BM, n0 = (yBase + blockIdx.y) * BN;
    const int z = zBase + blockIdx.z;
    const int mat = z / p.splits, split = z - mat * p.splits;
    const int kBegin = p.splits > 1 ? split * p.kPerSplit : 0;
    const int kEnd = p.splits > 1 ? min(p.K, kBegin + p.kPerSplit) : p.K;  // loads past kEnd read zeros

    float acc[MI][NI][4];
#pragma unroll
    for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NI; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

    const int kTiles = kEnd > kBegin ? (kEnd - kBegin + kHmmaBK - 1) / kHmmaBK : 0;
    if (kTiles > 0) {
        int64_t aOff, bOff;
        batchOffsets(p.batch, mat, aOff, bOff);
        const __half* A = static_cast<const __half*>(p.A) + aOff;
        const __half* B = static_cast<const __half*>(p.B) + bOff;
        HalfTileLoader<BM, NT, !TA> la;  // A: !TA -> rows m, contiguous k
        HalfTileLoader<BN, NT, TB> lb;   // B: TB -> rows n, contiguous k
        la.load(A, p.lda, m0, kBegin, p.M, kEnd, p.vecA);
        lb.load(B, p.ldb, n0, kBegin, p.N, kEnd, p.vecB);
        la.store(As[0]);
        lb.store(Bs[0]);
        __syncthreads();
        for (int kt = 0; kt < kTiles; ++kt) {
            const int cur = kt & 1;
            const bool more = kt + 1 < kTiles;
            if (more) {  // the next tile into registers while this one is multiplied
                la.load(A, p.lda, m0, kBegin + (kt + 1) * kHmmaBK, p.M, kEnd, p.vecA);
                lb.load(B, p.ldb, n0, kBegin + (kt + 1) * kHmmaBK, p.N, kEnd, p.vecB);
            }
#pragma unroll
            for (int ks = 0; ks < kHmmaBK; ks += 16) {
                const int kk = ks + 2 * t4;
                uint32_t af[MI][4], bf[NI][2];
#pragma unroll
                for (int i = 0; i < MI; ++i) {
                    const int r = wm + i * 16 + g;
                    af[i][0] = ldShared32(&As[cur][r][kk]);
                    af[i][1] = ldShared32(&As[cur][r + 8][kk]);
                    af[i][2] = ldShared32(&As[cur][r][kk + 8]);
                    af[i][3] = ldShared32(&As[cur][r + 8][kk + 8]);
                }
#pragma unroll
                for (int j = 0; j < NI; ++j) {
                    const int c = wn + j * 8 + g;
                    bf[j][0] = ldShared32(&Bs[cur][c][kk]);
                    bf[j][1] = ldShared32(&Bs[cur][c][kk + 8]);
                }
#pragma unroll
                for (int i = 0; i < MI; ++i)
#pragma unroll
                    for (int j = 0; j < NI; ++j) mmaF16(acc[i][j], af[i], bf[j][0], bf[j][1]);
            }
            if (more) {
                // Buffer cur ^ 1 was last read in the previous step, which every warp finished at its barrier.
                la.store(As[cur ^ 1]);
                lb.store(Bs[cur ^ 1]);
                __syncthreads();
            }
        }
    }

    // Split-K (p.splits > 1): the raw partial sums (the reduce kernel adds the splits and runs the epilogue).
    const bool partials = p.splits > 1;
    float* __restrict__ P = partials ? p.partial + static_cast<int64_t>(z) * p.M * p.ldp : nullptr;
    __half* __restrict__ C = static_cast<__half*>(p.C) + static_cast<int64_t>(mat) * p.batch.c;
#pragma unroll
    for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int hr = 0; hr < 2; ++hr) {
            const int m = m0 + wm + i * 16 + g + hr * 8;
            if (m >= p.M) continue;
            __half* __restrict__ row = C + static_cast<int64_t>(m) * p.ldc;
#pragma unroll
            for (int j = 0; j < NI; ++j) {
                const int n = n0 + wn + j * 8 + 2 * t4;
                if (partials) {
                    if (n < p.N) P[static_cast<int64_t>(m) * p.ldp + n] = acc[i][j][2 * hr];
                    if (n + 1 < p.N) P[static_cast<int64_t>(m) * p.ldp + n + 1] = acc[i][j][2 * hr + 1];
                } else if (n + 1 < p.N) {
                    const float v0 = epilogue(p, acc[i][j][2 * hr], m, n), v1 = epilogue(p, acc[i][j][2 * hr + 1], m, n + 1);
                    if (p.vecC) {
                        *reinterpret_cast<__half2*>(row + n) = __floats2half2_rn(v0, v1);  // n even, rows 4-aligned
                    } else {
                        row[n] = __float2half_rn(v0);
                        row[n + 1] = __float2half_rn(v1);
                    }
                } else if (n < p.N) {
                    row[n] = __float2half_rn(epilogue(p, acc[i][j][2 * hr], m, n));
                }
            }
        }
#else
    __trap();  // not offered below sm_80 (hmmaAvailable)
#endif
}

template <int BM, int BN, int WARPS_M, int WARPS_N, bool TA, bool TB>
void launchHmma(const Params& p, cudaStream_t stream) {
    const int64_t gx = ceilDiv(p.M, BM), gy = ceilDiv(p.N, BN), gz = static_cast<int64_t>(p.batch.count) * p.splits;
    GIE_CHECK(gx <= INT_MAX, ErrorCode::kUNSUPPORTED, "GEMM: M = ", p.M, " is too large");
    for (int64_t y0 = 0; y0 < gy; y0 += 65535)
        for (int64_t z0 = 0; z0 < gz; z0 += 65535) {
            dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(std::min<int64_t>(65535, gy - y0)),
                      static_cast<unsigned>(std::min<int64_t>(65535, gz - z0)));
            hgemmMma<BM, BN, WARPS_M, WARPS_N, TA, TB><<<grid, WARPS_M * WARPS_N * 32, 0, stream>>>(p, static_cast<int>(y0),
                                                                                                  static_cast<int>(z0));
            checkLaunch("gemm::hgemmMma");
        }
}

template <bool TA, bool TB>
void launchHmmaT(const Params& p, int t, cudaStream_t s) {
    if (t == kHmma128x128) launchHmma<128, 128, 4, 2, TA, TB>(p, s);
    else launchHmma<64, 64, 2, 2, TA, TB>(p, s);
}

//! Like launchTileAny: only the transpose combinations the caller can produce are instantiated.
template <bool NN, bool NT, bool TN, bool TT>
void launchHmmaAny(const Params& p, int t, cudaStream_t s) {
    if (!p.transA && !p.transB) {
        if constexpr (NN) { launchHmmaT<false, false>(p, t, s); return; }
    } else if (!p.transA && p.transB) {
        if constexpr (NT) { launchHmmaT<false, true>(p, t, s); return; }
    } else if (p.transA && !p.transB) {
        if constexpr (TN) { launchHmmaT<true, false>(p, t, s); return; }
    } else {
        if constexpr (TT) { launchHmmaT<true, true>(p, t, s); return; }
    }
    fail(ErrorCode::kINTERNAL, "GEMM: transpose combination (", p.transA, ", ", p.transB, ") not instantiated");
}

}  // namespace detail
}  // namespace gemm
}  // namespace cuda
}  // namespace gie
