// FP16 tensor-core implicit-GEMM convolution (sm_80+): mma.sync m16n8k16 (half in, FP32 accumulate), ldmatrix
// fragment loads and a cp.async pipeline of STAGES shared-memory stages. Used by conv2d_implicit_gemm_f16.cu.
//
// GEMM view: rows m = output pixels (n, p, q), M = N*P*Q; columns = output channels k < K; the reduction runs
// over kk = (r*S + s)*Cp + c in chunks of 8 channels (one 16-byte load of an HWC8 pixel). The weights are
// prepared on the host as half [Kpad][wRow]: row k holds kk = 0 .. kChunks*8 - 1 (zero for the padding
// channels c >= C), then zeros up to wRow, and the rows k >= K are zero, so B tiles load without bounds
// checks. A chunk of A outside the image, past the last row or past the reduction is zero-filled by cp.async.
//
// Shared memory per stage: A [BM][BK] then B [BN][BK] halves, rows of BK/8 16-byte chunks, chunk c of row r
// stored at chunk position swizzle(r, c) so that the eight rows read by one ldmatrix phase, and the rows
// written by eight consecutive threads, fall into eight different 16-byte bank groups.
// Fragments (PTX ISA, mma.m16n8k16 .f16): A regs {rows g, g+8} x {k 0-7, 8-15}, B regs {k 0-7, 8-15} of
// column g, C {c0, c1} row g / {c2, c3} row g+8, columns 2t, 2t+1 (g = lane / 4, t = lane % 4). An ldmatrix
// 8x8 matrix gives lane l row l/4, columns 2(l%4), 2(l%4)+1, so A (row-major M x K in shared memory) loads with
// ldmatrix.x4 over the four 8x8 quarters, and B (stored N x K, i.e. column-major K x N) with non-transposed
// ldmatrix as well.
//
// Split-K (splits > 1, for grids too small to fill the GPU: deep layers at small batch): block z of the grid
// reduces only k-tiles [z*tilesPerSplit, +tilesPerSplit) and writes its raw FP32 sums to partial[z][M][Kp]
// instead of running the epilogue; hmmaSplitKReduceKernel then adds the splits and runs the same epilogue
// (storeChunk8), so bias, residual and activation are applied once, to the full sum.
#pragma once

#include "conv_common.cuh"
#include "conv_f16_common.cuh"
#include "mma_f16.cuh"
#include "pdl.cuh"

namespace gie {
namespace cuda {
namespace convf16 {

//! Largest BN and BK/8 of any tile: the prepared weights are padded to these multiples.
constexpr int kMaxBN = 256;
constexpr int kMaxChunksPerRow = 8;

template <int CPR>
__device__ __forceinline__ int swizzle(int row, int chunk) {
    static_assert(CPR == 4 || CPR == 8, "rows of 4 or 8 chunks");
    if constexpr (CPR == 8)
        return chunk ^ (row & 7);          // 128-byte rows: the chunk's bank group is chunk ^ (row % 8)
    else
        return chunk ^ ((row >> 1) & 3);   // 64-byte rows: two rows per 128 bytes; (row & 1, row >> 1 & 3) differ over 8 rows
}

__device__ __forceinline__ void ldmatrixX4(uint32_t (&r)[4], const void* smem) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(cuda::conv::smemAddress(smem)));
}


template <int BM_, int BN_, int BK_, int WM_, int WN_, int STAGES_, int MINB_>
struct HmmaGeometry {
    static constexpr int BM = BM_, BN = BN_, BK = BK_, WM = WM_, WN = WN_, STAGES = STAGES_, MINB = MINB_;
    static constexpr int WARPS_M = BM / WM, WARPS_N = BN / WN;
    static constexpr int THREADS = WARPS_M * WARPS_N * 32;
    static constexpr int CPR = BK / 8;                  // 16-byte chunks per shared row
    static constexpr int ROWS_PER_PASS = THREADS / CPR;  // rows one pass of the block's loads covers
    static constexpr int A_ITERS = BM / ROWS_PER_PASS, B_ITERS = BN / ROWS_PER_PASS;
    static constexpr int MI = WM / 16, NI = WN / 8;
    static constexpr int STAGE_HALVES = (BM + BN) * BK;
    static constexpr int SMEM_BYTES = STAGES * STAGE_HALVES * 2;
    static_assert(BM % WM == 0 && BN % WN == 0 && WM % 16 == 0 && WN % 16 == 0 && BK % 16 == 0, "tile geometry");
    static_assert(THREADS % CPR == 0 && BM % ROWS_PER_PASS == 0 && BN % ROWS_PER_PASS == 0, "load passes");
    static_assert(BN <= kMaxBN && kMaxBN % BN == 0 && CPR <= kMaxChunksPerRow && kMaxChunksPerRow % CPR == 0, "weight padding");
    static_assert(WARPS_M * 16 * (BN + 8) * 4 <= SMEM_BYTES, "the epilogue staging fits the pipeline's shared memory");
};

//! Split-K of one call: partial == nullptr (no split) or FP32 sums [gridDim.z][M][Kp] (see the file comment).
struct HmmaSplit {
    float* partial = nullptr;
    int tilesPerSplit = 1 << 30;
};

//! The convolution as one GEMM tile per block: block (x, y, z) computes rows [x*BM, +BM) x channels [y*BN, +BN)
//! over k-tiles [z*tilesPerSplit, +tilesPerSplit).
//! ONE_BY_ONE: 1x1 kernel, stride 1, no padding: the reduction index is the channel chunk, no (r, s) walk.
template <class G, bool ONE_BY_ONE>
__global__ void __launch_bounds__(G::THREADS, G::MINB) hmmaConvKernel(const F16ConvArgs a, int kChunks, int wRow, const HmmaSplit sk) {
    cuda::pdlWaitThenRelease();  // (launched by launchPdl)
    constexpr int BM = G::BM, BK = G::BK, CPR = G::CPR, MI = G::MI, NI = G::NI;
    extern __shared__ __align__(128) unsigned char smemRaw[];
    __half* smem = reinterpret_cast<__half*>(smemRaw);

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp % G::WARPS_M, wn = warp / G::WARPS_M;
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * G::BN;
    const int cc = tid % CPR, rbase = tid / CPR;  // this thread's chunk column and first row in every load pass
    const int C8 = a.Cp / 8, PQ = a.P * a.Q;

    // A rows of this thread: image base pointer and the top-left input position of the receptive field
    // (a row past M gets an ih0 that no tap brings into the image).
    const __half* aRow[G::A_ITERS];
    int ih0[G::A_ITERS], iw0[G::A_ITERS];
#pragma unroll
    for (int j = 0; j < G::A_ITERS; ++j) {
        const int m = m0 + rbase + j * G::ROWS_PER_PASS;
        const int mm = m < a.M ? m : 0;
        const int n = mm / PQ, pq = mm - n * PQ;
        const int p = pq / a.Q, q = pq - p * a.Q;
        if (ONE_BY_ONE) {
            aRow[j] = a.x + static_cast<int64_t>(n) * a.xStride + static_cast<int64_t>(pq) * a.Cp;
            ih0[j] = m < a.M ? 0 : -1;
            iw0[j] = 0;
        } else {
            aRow[j] = a.x + static_cast<int64_t>(n) * a.xStride;
            ih0[j] = m < a.M ? p * a.sh - a.pt : -(1 << 30);
            iw0[j] = q * a.sw - a.pl;
        }
    }
    // This block's k-tiles: [tile0, tile0 + kTiles) (an empty range only writes zero partial sums).
    const int tile0 = blockIdx.z * sk.tilesPerSplit;
    const int kTiles = max(0, min((kChunks + CPR - 1) / CPR - tile0, sk.tilesPerSplit));
    // Reduction position of this thread's chunk in the next tile to load: kc = (r*S + s)*C8 + c8.
    int kc = tile0 * CPR + cc, c8 = kc % C8, r = 0, s = kc / C8;
    if (!ONE_BY_ONE) {
        r = s / a.S;
        s -= r * a.S;
    }
    const __half* bSrc = a.w + static_cast<int64_t>(n0 + rbase) * wRow + kc * 8;
    // Shared-memory offset (halves) of this thread's chunk in load pass 0. Pass j is j*ROWS_PER_PASS rows further,
    // a multiple of 8 rows, which leaves swizzle() unchanged: every pass of A and B is this offset plus a constant
    // (no per-tile swizzle arithmetic).
    static_assert(G::ROWS_PER_PASS % 8 == 0, "load passes keep the swizzle");
    const int sOff = rbase * BK + swizzle<CPR>(rbase, cc) * 8;

    auto loadTile = [&](int stage) {
        __half* as = smem + stage * G::STAGE_HALVES;
        __half* bs = as + BM * BK;
        const bool kValid = kc < kChunks;
#pragma unroll
        for (int j = 0; j < G::A_ITERS; ++j) {
            bool valid;
            const __half* src;
            if (ONE_BY_ONE) {
                valid = kValid && ih0[j] == 0;
                src = valid ? aRow[j] + kc * 8 : a.x;
            } else {
                const int ih = ih0[j] + r * a.dh, iw = iw0[j] + s * a.dw;
                valid = kValid && static_cast<unsigned>(ih) < static_cast<unsigned>(a.H) && static_cast<unsigned>(iw) < static_cast<unsigned>(a.W);
                src = valid ? aRow[j] + ((ih * a.W + iw) * a.Cp + c8 * 8) : a.x;  // offset formed only inside the image
            }
            cpAsyncHalf16(as + sOff + j * G::ROWS_PER_PASS * BK, src, valid);
        }
#pragma unroll
        for (int j = 0; j < G::B_ITERS; ++j)
            cpAsyncHalf16(bs + sOff + j * G::ROWS_PER_PASS * BK, bSrc + static_cast<int64_t>(j) * G::ROWS_PER_PASS * wRow, true);
        bSrc += BK;
        kc += CPR;
        if (!ONE_BY_ONE) {
            c8 += CPR;
            while (c8 >= C8) {  // C8 may be smaller than CPR: a tile then spans several taps
                c8 -= C8;
                if (++s == a.S) {
                    s = 0;
                    ++r;
                }
            }
        }
    };

    float acc[MI][NI][4];
#pragma unroll
    for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NI; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

#pragma unroll
    for (int st = 0; st < G::STAGES - 1; ++st) {
        if (st < kTiles) loadTile(st);
        cuda::conv::cpAsyncCommit();
    }
    // ldmatrix row/chunk of this lane: A quarters (rows 0-7 | 8-15) x (k 0-7 | 8-15) in lane order 0-7, 8-15,
    // 16-23, 24-31; B: (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15).
    const int aRowL = wm * G::WM + (lane & 15), aChunkL = lane >> 4;
    const int bRowL = wn * G::WN + (lane & 7) + ((lane >> 4) << 3), bChunkL = (lane >> 3) & 1;
    // Their shared offsets per 16-wide k step; fragment mi (nj) is 16*mi (16*nj) rows further, which keeps the
    // swizzle (as above): a constant added to these offsets.
    int aOff[BK / 16], bOff[BK / 16];
#pragma unroll
    for (int ks = 0; ks < BK / 16; ++ks) {
        aOff[ks] = aRowL * BK + swizzle<CPR>(aRowL, ks * 2 + aChunkL) * 8;
        bOff[ks] = bRowL * BK + swizzle<CPR>(bRowL, ks * 2 + bChunkL) * 8;
    }
    auto loadFragments = [&](uint32_t (&af)[MI][4], uint32_t (&bf)[NI][2], const __half* as, const __half* bs, int ks) {
#pragma unroll
        for (int mi = 0; mi < MI; ++mi) ldmatrixX4(af[mi], as + aOff[ks] + mi * 16 * BK);
#pragma unroll
        for (int nj = 0; nj < NI / 2; ++nj) {
            uint32_t t[4];
            ldmatrixX4(t, bs + bOff[ks] + nj * 16 * BK);
            bf[2 * nj][0] = t[0];
            bf[2 * nj][1] = t[1];
            bf[2 * nj + 1][0] = t[2];
            bf[2 * nj + 1][1] = t[3];
        }
    };
    for (int it = 0; it < kTiles; ++it) {
        cuda::conv::cpAsyncWait<G::STAGES - 2>();
        __syncthreads();  // tile `it` is visible to all; everyone is done with the stage reloaded below
        const __half* as = smem + (it % G::STAGES) * G::STAGE_HALVES;
        const __half* bs = as + BM * BK;
        uint32_t af[MI][4], bf[NI][2];
        loadFragments(af, bf, as, bs, 0);  // first: the loads below then hide the ldmatrix latency
        const int next = it + G::STAGES - 1;
        if (next < kTiles) loadTile(next % G::STAGES);
        cuda::conv::cpAsyncCommit();
#pragma unroll
        for (int ks = 0; ks < BK / 16; ++ks) {
            if (ks > 0) loadFragments(af, bf, as, bs, ks);
#pragma unroll
            for (int mi = 0; mi < MI; ++mi)
#pragma unroll
                for (int ni = 0; ni < NI; ++ni) mmaF16(acc[mi][ni], af[mi], bf[ni][0], bf[ni][1]);
        }
    }
    cuda::conv::cpAsyncWait<0>();

    // Epilogue, one 16-row slab of every warp row per pass: the accumulators go through shared memory (FP32,
    // rows of ES floats) so that each thread then finishes 8 consecutive channels of one pixel (a 16-byte HWC8
    // store).
    float* stage = reinterpret_cast<float*>(smemRaw);
    constexpr int ES = G::BN + 8, E_ROWS = G::WARPS_M * 16, CHUNKS = G::BN / 8;
    const int g = lane >> 2, t2 = (lane & 3) * 2;
    // HWC8 output without split-K and without a LINEAR residual (the common case): THREADS is a multiple of CHUNKS,
    // so every thread keeps one channel chunk for the whole epilogue (its bias loaded once, here) and walks rows: no
    // division per chunk. Its residual chunks of a pass are loaded before the pass stages the accumulators, all in
    // flight at once (one dependent load per row made a 1x1 convolution with a residual, ResNet's conv3, latency-bound
    // in the epilogue).
    static_assert(G::THREADS % CHUNKS == 0, "one channel chunk per thread");
    constexpr int ROW_STEP = G::THREADS / CHUNKS, ROWS_PER_THREAD = (E_ROWS + ROW_STEP - 1) / ROW_STEP;
    const bool hwc8Fast = a.mode == OutMode::kHalfHwc8 && !sk.partial && residualIsChunked(a);
    const int kFast = n0 + (tid % CHUNKS) * 8;
    float bias8[8];
    loadBias8(a, kFast, bias8);
#pragma unroll  // acc is indexed by mi: a rolled loop would put it in local memory
    for (int mi = 0; mi < MI; ++mi) {
        uint4 res[ROWS_PER_THREAD];
        if (hwc8Fast) {
#pragma unroll
            for (int r = 0; r < ROWS_PER_THREAD; ++r) {
                const int sr = tid / CHUNKS + r * ROW_STEP;
                const int m = m0 + (sr >> 4) * G::WM + mi * 16 + (sr & 15);
                res[r] = loadResidualChunk(a, m, kFast, sr < E_ROWS && m < a.M && kFast < a.Kp);
            }
        }
        __syncthreads();  // the previous pass (or the main loop) is done with shared memory
#pragma unroll
        for (int h = 0; h < 2; ++h)
#pragma unroll
            for (int ni = 0; ni < NI; ++ni)
                *reinterpret_cast<float2*>(stage + (wm * 16 + g + h * 8) * ES + wn * G::WN + ni * 8 + t2) =
                    make_float2(acc[mi][ni][2 * h], acc[mi][ni][2 * h + 1]);
        __syncthreads();
        if (hwc8Fast) {
            if (kFast >= a.Kp) continue;  // (after both barriers of this pass; the next pass starts with its own)
#pragma unroll
            for (int r = 0; r < ROWS_PER_THREAD; ++r) {
                const int sr = tid / CHUNKS + r * ROW_STEP;
                const int m = m0 + (sr >> 4) * G::WM + mi * 16 + (sr & 15);
                if (sr >= E_ROWS || m >= a.M) continue;
                const float4* src = reinterpret_cast<const float4*>(stage + sr * ES + (tid % CHUNKS) * 8);
                const float4 lo = src[0], hi = src[1];
                const float v[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
                float rf[8];
                unpackHalf8(res[r], rf);
                finishChunk8(a, outRow(a, m), kFast, v, bias8, rf);
            }
            continue;
        }
        // Otherwise: HWC8 (split-K partial sums, or a LINEAR residual) with consecutive threads on consecutive channel
        // chunks of a pixel; LINEAR with consecutive threads on consecutive pixels of a channel.
        const bool hwc8 = a.mode == OutMode::kHalfHwc8;
#pragma unroll 1
        for (int i = tid; i < E_ROWS * CHUNKS; i += G::THREADS) {
            const int sr = hwc8 ? i / CHUNKS : i % E_ROWS;
            const int ch = hwc8 ? i % CHUNKS : i / E_ROWS;
            const int m = m0 + (sr >> 4) * G::WM + mi * 16 + (sr & 15);
            const int k0 = n0 + ch * 8;
            if (m >= a.M || k0 >= a.Kp) continue;
            const float4* src = reinterpret_cast<const float4*>(stage + sr * ES + ch * 8);
            const float4 lo = src[0], hi = src[1];
            if (sk.partial) {  // split-K: raw sums; the reduce kernel runs the epilogue
                float4* dst = reinterpret_cast<float4*>(sk.partial + (static_cast<int64_t>(blockIdx.z) * a.M + m) * a.Kp + k0);
                dst[0] = lo;
                dst[1] = hi;
                continue;
            }
            const float v[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
            storeChunk8(a, outRow(a, m), residualRow(a, m), k0, v);
        }
    }
}

//! Split-K's second step: output chunk (m, k0 .. k0+7) = epilogue(sum over the splits of partial[z][m][k0 ..]).
//! HWC8: consecutive threads take consecutive chunks of a pixel (16-byte stores); LINEAR: consecutive pixels.
//! static: this header is included by several .cu files (one copy of the kernel per file that launches it).
static __global__ void __launch_bounds__(256) hmmaSplitKReduceKernel(const F16ConvArgs a, const float* __restrict__ partial, int splits) {
    cuda::pdlWaitThenRelease();  // (launched by launchPdl)
    const int chunks = a.Kp / 8;
    const int64_t total = static_cast<int64_t>(a.M) * chunks, slice = static_cast<int64_t>(a.M) * a.Kp;
    const bool hwc8 = a.mode == OutMode::kHalfHwc8;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int m = static_cast<int>(hwc8 ? i / chunks : i % a.M);
        const int k0 = static_cast<int>(hwc8 ? i % chunks : i / a.M) * 8;
        const float4* src = reinterpret_cast<const float4*>(partial + static_cast<int64_t>(m) * a.Kp + k0);
        float4 lo = __ldg(src), hi = __ldg(src + 1);
        for (int z = 1; z < splits; ++z) {
            src += slice / 4;
            const float4 l = __ldg(src), h = __ldg(src + 1);
            lo = make_float4(lo.x + l.x, lo.y + l.y, lo.z + l.z, lo.w + l.w);
            hi = make_float4(hi.x + h.x, hi.y + h.y, hi.z + h.z, hi.w + h.w);
        }
        const float v[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
        storeChunk8(a, outRow(a, m), residualRow(a, m), k0, v);
    }
}

//! One tile configuration: its kernels (generic and 1x1), their shared-memory opt-in and launch.
template <int BM_, int BN_, int BK_, int WM_, int WN_, int STAGES_, int MINB_>
struct HmmaTile {
    using G = HmmaGeometry<BM_, BN_, BK_, WM_, WN_, STAGES_, MINB_>;
    static constexpr int BM = BM_, BN = BN_, BK = BK_, SMEM_BYTES = G::SMEM_BYTES;
    //! Allows the dynamic shared memory (host, outside any stream capture; idempotent).
    static void prepare() {
        GIE_CUDA_CHECK(cudaFuncSetAttribute(hmmaConvKernel<G, false>, cudaFuncAttributeMaxDynamicSharedMemorySize, SMEM_BYTES));
        GIE_CUDA_CHECK(cudaFuncSetAttribute(hmmaConvKernel<G, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, SMEM_BYTES));
    }
    //! splits > 1: sk.partial holds [splits][M][Kp] floats; the caller then runs hmmaSplitKReduceKernel.
    template <bool ONE_BY_ONE>
    static void launch(const F16ConvArgs& a, int kChunks, int wRow, int splits, const HmmaSplit& sk, cudaStream_t stream) {
        const dim3 grid(static_cast<unsigned>((a.M + BM - 1) / BM), static_cast<unsigned>((a.K + BN - 1) / BN), static_cast<unsigned>(splits));
        cuda::launchPdl("hmmaConvKernel", hmmaConvKernel<G, ONE_BY_ONE>, grid, dim3(G::THREADS), SMEM_BYTES, stream, a, kChunks, wRow, sk);
    }
};

}  // namespace convf16
}  // namespace cuda
}  // namespace gie
