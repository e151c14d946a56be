// Implicit-GEMM convolution (FP32 math; FP32 or FP16 storage), for convolution.cu: the GEMM view, the shared
// tile loaders and epilogue, and the CUDA-core (SIMT) kernel. conv_tf32x3.cuh builds a tensor-core kernel on
// the same pieces.
//
// Per group g the convolution is the GEMM  Y_g[m][j] = sum_kk A_g[kk][m] * B_g[kk][j]  with
//   m  in [0, Kg)          output channel within the group (GEMM M),
//   j  in [0, N*P*Q)       output pixel (n, p, q) (GEMM N, "columns"),
//   kk in [0, Cg*R*S)      reduction index (c, r, s), in the weights' own (c, r, s) order.
// A is the weight matrix, pre-packed at initialize() as [G][kdimPad][mPad] (kk-major, so a BK x BM tile is
// BK rows of BM contiguous floats: 16-byte cp.async). Rows kk >= Cg*R*S are zero; columns m >= Kg hold
// whatever follows (they only feed accumulators that are never stored), and the allocation has kPackSlack
// floats of zeros at its end for the last tile's overrun.
// B is the implicit im2col of the input. The generic loader reads it element by element through a table
// kk -> {c, r*dh, s*dw}, which depends on the layer's parameters only (never on H or W: the shapes come from
// the descriptors of each call): with h = p*sh - pt + r*dh and w = q*sw - pl + s*dw, the element of column
// j = (n, p, q) is x_n[c*H*W + h*W + w] if 0 <= h < H and 0 <= w < W, else zero (padding). Table rows
// kk >= Cg*R*S carry dr = kInvalid so they always read as zero.
// The 1x1 loader (R = S = 1, stride 1, no padding, H*W % 4 == 0, aligned input) reads B[c][j] =
// x_n[c*H*W + pix] four columns at a time (FP32: 16-byte cp.async; FP16: one 8-byte load, widened).
// FP16 storage (T = __half): B goes through registers (load half, widen, store float to shared memory), since
// cp.async cannot convert; shared memory, the MMAs and the accumulators stay FP32.
//
// Grid: blockIdx.x enumerates the (M tile, column tile) pairs with the M tile fastest, so the blocks that run
// together share their input columns (read from DRAM once) and differ in weights (small, L2-resident);
// blockIdx.z = g * splits + split. Split-K (splits > 1): each split reduces its own range of k-tiles and
// writes raw sums to partial[split][K][ncols]; splitKReduceKernel sums them and applies the epilogue.
#pragma once

#include <type_traits>

#include "conv_common.cuh"

namespace gie {
namespace cuda {
namespace conv {

constexpr int kInvalid = -(1 << 29);    // a row/column offset that makes any input position invalid
constexpr int kKdimAlign = 32;          // kdimPad is a multiple of this (>= every BK)
constexpr int kPackSlack = 256;         // zero floats after the packed weights (>= every BM)

struct GemmArgs {
    ConvShape s;
    const float* wpk = nullptr;    // packed weights [G][kdimPad][mPad] + kPackSlack
    int64_t smallOffset = 0;       // 3xTF32: wpk holds tf32(w), wpk + smallOffset the same layout of tf32(w - tf32(w))
    const int4* table = nullptr;   // [kdimPad] {c, dr, ds, 0}
    float* partial = nullptr;      // split-K partial sums [splits][K][ncols]; nullptr: epilogue in the GEMM
    int ncols = 0;                 // N * P * Q
    int kdimPad = 0, mPad = 0;
    int splits = 1, kTilesPerSplit = 0;
    int mTiles = 1;                // ceil(Kg / BM), set by the launcher
};

//! The block's first GEMM row and column (see the grid layout above).
struct BlockTile {
    int m0, n0;
    __device__ __forceinline__ BlockTile(const GemmArgs& a, int bm, int bn) {
        const int nt = static_cast<int>(blockIdx.x) / a.mTiles;
        m0 = (static_cast<int>(blockIdx.x) - nt * a.mTiles) * bm;
        n0 = nt * bn;
    }
};

//! Global -> shared copies of one BK-deep k-tile: A (BK x BM) into as[kk * AS + m] and B (BK x BN) into
//! bs[kk * BS + j], with T threads. AS, BS: shared row strides in floats (multiples of 4). DUAL_A: also the
//! second weight array (wpk + smallOffset) into as[BK * AS + kk * AS + m]. E: the input's element type.
template <int BM, int BN, int BK, int T, int AS, int BS, bool VEC1X1, bool DUAL_A = false, typename E = float>
struct GemmTileLoader {
    static constexpr bool kHalf = !std::is_same<E, float>::value;
    static_assert(kKdimAlign % BK == 0 && BM <= kPackSlack && AS % 4 == 0 && BS % 4 == 0, "tile geometry");
    // A: BK*BM/4 float4 per tile.
    static constexpr int A_VECS = BK * BM / 4;
    static constexpr int A_ITERS = (A_VECS + T - 1) / T;
    // Generic B: each thread owns one column (tid % BN) and rows row0 + i*B_ROW_STEP.
    static constexpr int B_ROW_STEP = T / BN;
    static_assert(VEC1X1 || (T % BN == 0 && B_ROW_STEP <= BK && BK % B_ROW_STEP == 0), "generic B loader mapping");
    static constexpr int B_ROWS = VEC1X1 ? 1 : BK / B_ROW_STEP;
    // 1x1 B: each thread owns four columns and rows row0 + i*V_ROW_STEP.
    static constexpr int BN4 = BN / 4;
    static constexpr int V_ROW_STEP = T / BN4;
    static_assert(!VEC1X1 || (T % BN4 == 0 && (V_ROW_STEP >= BK || BK % V_ROW_STEP == 0)), "1x1 B loader mapping");
    static constexpr int V_ROWS = V_ROW_STEP >= BK ? 1 : BK / V_ROW_STEP;

    const float* wg;          // this block's first A column of group g
    const E* xcol;            // image base of this thread's column(s) (group applied); x when out of range
    int h0 = kInvalid, w0 = 0;  // generic loader: top-left input position of the column
    int hw;                     // H * W of this call
    bool colValid = false;      // 1x1 loader
    int col, row0;

    __device__ __forceinline__ GemmTileLoader(const GemmArgs& a, int tid, int n0, int m0, int g) {
        const ConvShape& s = a.s;
        const int HW = s.H * s.W;
        hw = HW;
        wg = a.wpk + static_cast<int64_t>(g) * a.kdimPad * a.mPad + m0;
        const E* xg = inputOf<E>(s) + static_cast<int64_t>(g) * s.Cg * HW;
        xcol = inputOf<E>(s);
        if constexpr (VEC1X1) {
            col = (tid % BN4) * 4;
            row0 = tid / BN4;
            const int j = n0 + col;
            if (j < a.ncols) {  // ncols % 4 == 0 here, so the four columns are valid together
                const int n = j / HW;
                xcol = xg + static_cast<int64_t>(n) * s.xStride + (j - n * HW);
                colValid = true;
            }
        } else {
            col = tid % BN;
            row0 = tid / BN;
            const int j = n0 + col;
            if (j < a.ncols) {
                const int PQ = s.P * s.Q;
                const int n = j / PQ;
                const int pq = j - n * PQ;
                const int p = pq / s.Q;
                const int q = pq - p * s.Q;
                h0 = p * s.sh - s.pt;
                w0 = q * s.sw - s.pl;
                xcol = xg + static_cast<int64_t>(n) * s.xStride;
            }
        }
    }

    __device__ __forceinline__ void load(const GemmArgs& a, float* as, float* bs, int kt, int tid) const {
        const ConvShape& s = a.s;
#pragma unroll
        for (int it = 0; it < A_ITERS; ++it) {
            const int i = tid + it * T;
            if (A_VECS % T == 0 || i < A_VECS) {
                const int kk = i / (BM / 4), m4 = (i % (BM / 4)) * 4;
                const float* src = wg + (kt * BK + kk) * a.mPad + m4;
                cpAsync16(as + kk * AS + m4, src, true);
                if constexpr (DUAL_A) cpAsync16(as + (BK + kk) * AS + m4, src + a.smallOffset, true);
            }
        }
        if constexpr (VEC1X1) {
#pragma unroll
            for (int it = 0; it < V_ROWS; ++it) {
                const int kk = row0 + it * V_ROW_STEP;
                if (V_ROW_STEP <= BK || kk < BK) {
                    const int c = kt * BK + kk;
                    const bool valid = colValid && c < s.Cg;
                    if constexpr (kHalf) {
                        *reinterpret_cast<float4*>(bs + kk * BS + col) = valid ? load4F(xcol + c * hw) : make_float4(0.f, 0.f, 0.f, 0.f);
                    } else {
                        cpAsync16(bs + kk * BS + col, valid ? xcol + c * hw : inputOf<E>(s), valid);
                    }
                }
            }
        } else {
#pragma unroll
            for (int it = 0; it < B_ROWS; ++it) {
                const int kk = row0 + it * B_ROW_STEP;
                const int4 t = __ldg(a.table + kt * BK + kk);
                const int h = h0 + t.y, w = w0 + t.z;
                const bool valid = static_cast<unsigned>(h) < static_cast<unsigned>(s.H) && static_cast<unsigned>(w) < static_cast<unsigned>(s.W);
                if constexpr (kHalf)
                    bs[kk * BS + col] = valid ? loadF(xcol + (t.x * hw + h * s.W + w)) : 0.f;
                else
                    cpAsync4(bs + kk * BS + col, valid ? xcol + (t.x * hw + h * s.W + w) : inputOf<E>(s), valid);
            }
        }
    }
};

//! The epilogue of a block tile, staged through shared memory: each thread stores column tid % BN of the
//! staged rows (coalesced; the activation is inlined once). Requires T % BN == 0.
template <int BN, int T>
struct GemmEpilogue {
    static_assert(T % BN == 0, "epilogue mapping");
    int col;
    bool valid;
    int64_t outOff = 0, resOff = 0;  // column offsets in y and the residual (split-K: j in the partial slice)

    __device__ __forceinline__ GemmEpilogue(const GemmArgs& a, int tid, int n0) {
        col = tid % BN;
        const int j = n0 + col;
        valid = j < a.ncols;
        if (valid) {
            const int PQ = a.s.P * a.s.Q;
            const int n = j / PQ;
            const int pq = j - n * PQ;
            outOff = a.partial ? j : n * a.s.yStride + pq;
            resOff = n * a.s.rStride + pq;
        }
    }

    //! Stores staged rows sr in [0, ROWS): value stage[sr * SS + col] belongs to GEMM row m = rowOf(sr) of group g.
    //! E: the output's (and residual's) element type.
    template <int ROWS, int SS, typename E = float, typename RowOf>
    __device__ __forceinline__ void store(const GemmArgs& a, const float* stage, int tid, int g, int split, RowOf rowOf) const {
        const ConvShape& s = a.s;
        const int PQ = s.P * s.Q;
#pragma unroll 1
        for (int sr = tid / BN; sr < ROWS; sr += T / BN) {
            const int m = rowOf(sr);
            if (!valid || m >= s.Kg) continue;
            const int k = g * s.Kg + m;
            float v = stage[sr * SS + col];
            if (a.partial) {
                a.partial[(static_cast<int64_t>(split) * s.K + k) * a.ncols + outOff] = v;
            } else {
                const int64_t plane = static_cast<int64_t>(k) * PQ;
                if (s.ep.bias) v += __ldg(s.ep.bias + k);
                if (s.ep.residual) v += loadF(residualOf<E>(s) + resOff + plane);
                storeF(outputOf<E>(s) + outOff + plane, applyAct(s.ep.act, v, s.ep.alpha, s.ep.beta));
            }
        }
    }
};

//! k-tiles [begin, begin + count) of this block's split.
struct SplitRange {
    int g, split, begin, count;
    __device__ __forceinline__ SplitRange(const GemmArgs& a, int bk) {
        g = blockIdx.z / a.splits;
        split = blockIdx.z - g * a.splits;
        begin = split * a.kTilesPerSplit;
        count = min(a.kdimPad / bk, begin + a.kTilesPerSplit) - begin;
    }
};

//! CUDA-core kernel. Block tile BM x BN, BK deep, STAGES-deep cp.async pipeline; each thread computes
//! TM x TN outputs in 4 x 4 blocks that are BM/(TM/4) rows and BN/(TN/4) columns apart (conflict-free
//! float4 shared loads). E: element type of x, y and the residual.
template <int BM, int BN, int BK, int TM, int TN, int STAGES, bool VEC1X1, int MINB, typename E = float>
__global__ void __launch_bounds__((BM / TM) * (BN / TN), MINB) convGemmKernel(const GemmArgs a) {
    constexpr int T = (BM / TM) * (BN / TN);
    constexpr int THREADS_N = BN / TN;
    constexpr int ROW_GAP = BM * 4 / TM;  // distance between a thread's 4-row blocks
    constexpr int COL_GAP = BN * 4 / TN;
    static_assert(TM % 4 == 0 && TN % 4 == 0 && BM % TM == 0 && BN % TN == 0, "thread tile");
    using Loader = GemmTileLoader<BM, BN, BK, T, BM, BN, VEC1X1, false, E>;

    // Pipeline buffers As[STAGES][BK][BM], Bs[STAGES][BK][BN]; reused by the epilogue.
    constexpr int SMEM_FLOATS = STAGES * BK * (BM + BN);
    __shared__ __align__(16) float smem[SMEM_FLOATS];
    float* const As = smem;
    float* const Bs = smem + STAGES * BK * BM;
    // Epilogue staging: E_RPP rows of each thread row's 4-row blocks per pass (TY * E_RPP rows of BN floats).
    constexpr int TY = BM / TM;
    constexpr int E_RPP = TY * 4 * BN <= SMEM_FLOATS ? 4 : TY * 2 * BN <= SMEM_FLOATS ? 2 : 1;
    static_assert(TY * E_RPP * BN <= SMEM_FLOATS, "epilogue staging does not fit");

    const int tid = threadIdx.x;
    const BlockTile bt(a, BM, BN);
    const int m0 = bt.m0, n0 = bt.n0;
    const SplitRange kr(a, BK);
    const Loader loader(a, tid, n0, m0, kr.g);

    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;
    const int tx = tid % THREADS_N, ty = tid / THREADS_N;

    // ---- main loop: STAGES-1 tiles in flight ----
#pragma unroll
    for (int st = 0; st < STAGES - 1; ++st) {
        if (st < kr.count) loader.load(a, As + st * BK * BM, Bs + st * BK * BN, kr.begin + st, tid);
        cpAsyncCommit();
    }
    for (int it = 0; it < kr.count; ++it) {
        cpAsyncWait<STAGES - 2>();
        __syncthreads();  // tile `it` is visible to all; everyone is done with the stage reloaded below
        const int next = it + STAGES - 1;
        if (next < kr.count) loader.load(a, As + (next % STAGES) * BK * BM, Bs + (next % STAGES) * BK * BN, kr.begin + next, tid);
        cpAsyncCommit();
        const float* as = As + (it % STAGES) * BK * BM;
        const float* bs = Bs + (it % STAGES) * BK * BN;
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            float av[TM], bv[TN];
#pragma unroll
            for (int i4 = 0; i4 < TM / 4; ++i4) {
                const float4 v = *reinterpret_cast<const float4*>(as + kk * BM + i4 * ROW_GAP + ty * 4);
                av[i4 * 4 + 0] = v.x; av[i4 * 4 + 1] = v.y; av[i4 * 4 + 2] = v.z; av[i4 * 4 + 3] = v.w;
            }
#pragma unroll
            for (int j4 = 0; j4 < TN / 4; ++j4) {
                const float4 v = *reinterpret_cast<const float4*>(bs + kk * BN + j4 * COL_GAP + tx * 4);
                bv[j4 * 4 + 0] = v.x; bv[j4 * 4 + 1] = v.y; bv[j4 * 4 + 2] = v.z; bv[j4 * 4 + 3] = v.w;
            }
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
        }
    }
    cpAsyncWait<0>();

    // ---- epilogue: per pass, rows i4*ROW_GAP + ty*4 + r0 + rr (rr < E_RPP) of every thread row ----
    const GemmEpilogue<BN, T> epi(a, tid, n0);
    __syncthreads();  // every warp is done reading the pipeline buffers
#pragma unroll
    for (int i4 = 0; i4 < TM / 4; ++i4) {
#pragma unroll
        for (int r0 = 0; r0 < 4; r0 += E_RPP) {
#pragma unroll
            for (int rr = 0; rr < E_RPP; ++rr)
#pragma unroll
                for (int j4 = 0; j4 < TN / 4; ++j4) {
                    const float* v = &acc[i4 * 4 + r0 + rr][j4 * 4];
                    float* dst = &smem[(ty * E_RPP + rr) * BN + j4 * COL_GAP + tx * 4];
                    *reinterpret_cast<float4*>(dst) = make_float4(v[0], v[1], v[2], v[3]);
                }
            __syncthreads();
            epi.template store<TY * E_RPP, BN, E>(a, smem, tid, kr.g, kr.split,
                                               [&](int sr) { return m0 + i4 * ROW_GAP + (sr / E_RPP) * 4 + r0 + sr % E_RPP; });
            __syncthreads();  // the stage is rewritten by the next pass
        }
    }
}

//! Sums the split-K partials [splits][K][ncols] and applies the epilogue (E: y's element type).
template <typename E = float>
__global__ void __launch_bounds__(256) splitKReduceKernel(const float* __restrict__ partial, int splits, int ncols, const ConvShape s) {
    const int64_t slice = static_cast<int64_t>(s.K) * ncols;
    const int PQ = s.P * s.Q;
    for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < slice;
         e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        float v = 0.f;
        for (int sp = 0; sp < splits; ++sp) v += __ldg(partial + sp * slice + e);
        const int k = static_cast<int>(e / ncols);
        const int j = static_cast<int>(e - static_cast<int64_t>(k) * ncols);
        const int n = j / PQ;
        const int pq = j - n * PQ;
        storeF(outputOf<E>(s) + n * s.yStride + static_cast<int64_t>(k) * PQ + pq, epilogueValue<E>(s, v, n, k, pq));
    }
}

//! Sets a.mTiles and returns the grid (BlockTile's layout) for BM x BN tiles.
inline dim3 gemmGrid(GemmArgs& a, int bm, int bn) {
    a.mTiles = (a.s.Kg + bm - 1) / bm;
    const int nTiles = (a.ncols + bn - 1) / bn;
    return dim3(static_cast<unsigned>(a.mTiles * nTiles), 1, static_cast<unsigned>(a.s.G * a.splits));
}

//! One SIMT tile configuration: its launchers and its geometry (for the host's grid and applicability checks).
template <int BM_, int BN_, int BK_, int TM_, int TN_, int STAGES_, int MINB_>
struct GemmTile {
    static constexpr int BM = BM_, BN = BN_, BK = BK_, kThreads = (BM_ / TM_) * (BN_ / TN_);
    static constexpr bool kSplitWeights = false;  // reads the plain packed weights
    template <typename E = float>
    static void prepare() {}
    template <bool VEC1X1, typename E = float>
    static void launch(const GemmArgs& args, cudaStream_t stream) {
        GemmArgs a = args;
        const dim3 grid = gemmGrid(a, BM, BN);
        convGemmKernel<BM_, BN_, BK_, TM_, TN_, STAGES_, VEC1X1, MINB_, E><<<grid, kThreads, 0, stream>>>(a);
    }
};

}  // namespace conv
}  // namespace cuda
}  // namespace gie
