// Hand-written FP32 SGEMM for gie's CUDA kernels (no cuBLAS): row-major, any M/N/K and leading
// dimensions, optional transposes, batches of matrices with numpy-style broadcast strides, and a fused
// epilogue  C[m, n] = act(acc + bias[n] or bias[m])  written with any row stride (ldc), so a result can
// land straight in a slice of a wider buffer.
//
//   op(A) is M x K:  A[m*lda + k], or A[k*lda + m] when transA
//   op(B) is K x N:  B[k*ldb + n], or B[n*ldb + k] when transB
//   C[m*ldc + n]     (matrix b of a batch at C + b*batch.c)
//
// Algorithms (the tactics of FullyConnected and MatrixMultiply; gemm::kNbTactics of them):
//   sgemm_BMxBNx8_TMxTN      shared-memory tiles BM x BN x 8, each thread a TM x TN register block (4x4
//                            pieces read as float4 from shared memory), two shared-memory buffers: the next
//                            tile is fetched while the current one is multiplied (one barrier per k-step).
//                            An operand contiguous in m/n goes global -> shared by cp.async (16 bytes when its
//                            layout and alignment allow, checked per call, else 4); one contiguous in k is
//                            read as float4 (or scalars) into registers and stored transposed (padded rows:
//                            no bank conflicts). Epilogue: bias, then relu / leaky / clip / none inlined with
//                            float4 stores of C; the other activations through a shared-memory staging pass
//                            (the activation code exists once, stores coalesced).
//   sgemm_splitk_...         the same tiles over K/splits slices (blockIdx.z), partial sums in the workspace,
//                            then a reduction kernel that applies the epilogue: for small M*N with large K.
//   hgemm_mma_BMxBNx32       FP16 only: tensor-core mma.sync tiles (gemm_mma_f16.cuh).
//   hgemm_mma_splitk_64x64x32  FP16 only: the 64x64 mma.sync tile over K/splits slices (blockIdx.z; slices of whole
//                            32-k steps), FP32 partial sums in the workspace, then splitKReduce (the epilogue): for
//                            the few-tile, long-K GEMMs of batch-1 transformers. Written without a GPU; its
//                            GPU tests and memcheck passed on an H100 on 2026-12-08, since then timed by default.
//   hgemm_wgmma_128x128x64_s4  FP16 only, sm_90a: TMA + wgmma warp-specialized tiles (gemm_wgmma_f16.cu) for
//                            !transA && transB, one matrix, lda and ldb multiples of 8 (wgmmaEligible); the caller
//                            offers it only where that holds (FullyConnected), a run that finds it does not falls
//                            back to the mma.sync tile.
//   hgemm_wgmma_persist_128x128x64_s4  the same tiles and conditions, a persistent grid (one block per SM walking the
//                            tiles, the next tile's loads overlapping this one's epilogue) and a vectorized epilogue with
//                            ReLU / GELU compiled in (gemm_wgmma_f16_persistent.cuh): short-K, many-row FCs (ConvNeXt's
//                            and ViT's MLPs). Timed against the others (verified on an H100 on 2026-12-07: docs/gpu.md).
//   gemv_warp_dot            one warp per dot product row(A, m) . column(B, n), both contiguous in k
//                            (!transA && transB after normalization), float4 loads; each warp handles up to 4
//                            rows of A per column of B (the B row is read once for them): batch-1..16 FC.
//
// A run never fails for shapes the tactic was not chosen for: an ineligible GEMV or a split-K whose
// workspace is too small falls back to a plain tile configuration.
//
// FP16 storage (Params::half): A, B and C hold __half; every tactic loads half, widens to FP32 in registers
// (the operands that FP32 copies into shared memory by cp.async go through registers instead, since cp.async
// cannot convert), multiplies and accumulates in FP32 exactly as the FP32 path does, and rounds to half (nearest
// even) only when it stores C; the bias stays FP32, split-K partial sums stay FP32. The kernels are templates on
// the element type E; the FP32 instantiations are the FP32 kernels as they were.
#pragma once

#include <algorithm>
#include <climits>
#include <cstdint>
#include <type_traits>

#include "common.cuh"
#include "float_or_half.cuh"

namespace gie {
namespace cuda {
namespace gemm {

constexpr int kMaxBatchDims = Dims::MAX_DIMS;

enum BiasMode : int { kBiasNone = 0, kBiasPerColumn = 1, kBiasPerRow = 2 };

//! A batch of matrices. Matrix index b decomposes in C order over size[0..nb); operand X's matrix starts
//! at X + sum(ci * x[i]) (stride 0 broadcasts); C's matrix b starts at C + b * c.
struct Batch {
    int nb = 0;
    int size[kMaxBatchDims] = {};
    int64_t a[kMaxBatchDims] = {}, b[kMaxBatchDims] = {};
    int64_t c = 0;
    int count = 1;  //!< number of matrices (product of size)
};

//! One GEMM problem (see the file comment). Fill the problem and epilogue fields; prepare() derives the rest.
struct Params {
    int M = 0, N = 0, K = 0;
    //! A, B and C hold float, or __half when `half` (FP16 storage, FP32 math).
    const void* A = nullptr;
    int64_t lda = 0;
    const void* B = nullptr;
    int64_t ldb = 0;
    void* C = nullptr;
    int64_t ldc = 0;
    bool half = false;
    bool transA = false, transB = false;
    //! The caller guarantees each stored row of A (B) is readable and zero up to its contiguous extent
    //! rounded up to a multiple of 4 (weights padded at upload): 4-element loads then need no tail handling.
    bool padA = false, padB = false;
    Batch batch;
    // epilogue
    const float* bias = nullptr;
    int biasMode = kBiasNone;
    int act = static_cast<int>(kNoActivation);  // ActivationType, -1: none
    float alpha = 0.f, beta = 0.f;
    // derived by prepare() / the launcher
    bool vecA = false, vecB = false, vecC = false;
    int splits = 1, kPerSplit = 0;
    float* partial = nullptr;
    int64_t ldp = 0;
};

// ---- tactics ---------------------------------------------------------------------------------------------
enum Tactic : int {
    kTile128x128 = 0,
    kTile128x64,
    kTile64x128,
    kTile64x64,
    kTile32x32,
    kSplitK64x64,
    kSplitK32x32,
    kGemv,
    kHmma128x128,  // FP16 only, sm_80+ (gemm_mma_f16.cuh)
    kHmma64x64,
    kWgmma128x128,  // FP16 only, sm_90a (gemm_wgmma_f16.cu): A rows and B rows K-contiguous, pitches multiples of 8
    kWgmmaPersist128x128,  // the same, persistent (gemm_wgmma_f16_persistent.cuh)
    kHmmaSplitK64x64,  // FP16 only, sm_80+: hgemm_mma_64x64x32 over K/splits slices (verified on an H100 on 2026-12-08)
    kNbTactics
};

inline const char* tacticName(int t) {
    switch (t) {
        case kTile128x128: return "sgemm_128x128x8_8x8";
        case kTile128x64: return "sgemm_128x64x8_8x8";
        case kTile64x128: return "sgemm_64x128x8_8x8";
        case kTile64x64: return "sgemm_64x64x8_8x8";
        case kTile32x32: return "sgemm_32x32x8_4x4";
        case kSplitK64x64: return "sgemm_splitk_64x64x8_8x8";
        case kSplitK32x32: return "sgemm_splitk_32x32x8_4x4";
        case kGemv: return "gemv_warp_dot";
        case kHmma128x128: return "hgemm_mma_128x128x32";
        case kHmma64x64: return "hgemm_mma_64x64x32";
        case kWgmma128x128: return "hgemm_wgmma_128x128x64_s4";
        case kWgmmaPersist128x128: return "hgemm_wgmma_persist_128x128x64_s4";
        case kHmmaSplitK64x64: return "hgemm_mma_splitk_64x64x32";
        default: return "invalid";
    }
}
inline bool isSplitK(int t) { return t == kSplitK64x64 || t == kSplitK32x32 || t == kHmmaSplitK64x64; }
inline bool isHmma(int t) { return t == kHmma128x128 || t == kHmma64x64 || t == kHmmaSplitK64x64; }
//! The sm_90a tactics (both need wgmmaEligible; FullyConnected's only).
inline bool isWgmma(int t) { return t == kWgmma128x128 || t == kWgmmaPersist128x128; }
//! Whether the tensor-core tactics can run: FP16 storage on an sm_80+ device.
inline bool hmmaAvailable(bool half) noexcept {
    if (!half) return false;
    try {
        return deviceProps().major >= 8;
    } catch (...) {
        return false;  // no device to ask (setTactic must not throw)
    }
}
inline int tileM(int t) {
    switch (t) {
        case kTile128x128: case kTile128x64: return 128;
        case kTile64x128: case kTile64x64: case kSplitK64x64: case kHmmaSplitK64x64: return 64;
        default: return 32;
    }
}
inline int tileN(int t) {
    switch (t) {
        case kTile128x128: case kTile64x128: return 128;
        case kTile128x64: case kTile64x64: case kSplitK64x64: case kHmmaSplitK64x64: return 64;
        default: return 32;
    }
}
constexpr int kTileK = 8;
//! The k step of the mma.sync tiles (gemm_mma_f16.cuh kHmmaBK): hgemm_mma_splitk's slices are multiples of it.
constexpr int kHmmaSplitStep = 32;
//! The GEMV tactic is offered when one side of the output is this small (it reads B once per 4 rows of A).
constexpr int kGemvMaxSide = 16;

namespace detail {

__device__ __forceinline__ float epilogue(const Params& p, float v, int m, int n) {
    if (p.biasMode == kBiasPerColumn) v += __ldg(p.bias + n);
    else if (p.biasMode == kBiasPerRow) v += __ldg(p.bias + m);
    return applyActCompact(p.act, v, p.alpha, p.beta);  // (unrolled epilogues: see applyActCompact)
}

// The activations cheap enough to inline for every register of a tile, as functors (the others go
// through shared memory, see the staged epilogue).
struct ActNone {
    __device__ __forceinline__ float operator()(float v) const { return v; }
};
struct ActRelu {
    __device__ __forceinline__ float operator()(float v) const { return activation<ActivationType::kRELU>(v, 0.f, 0.f); }
};
struct ActLeaky {
    float alpha;
    __device__ __forceinline__ float operator()(float v) const { return activation<ActivationType::kLEAKY_RELU>(v, alpha, 0.f); }
};
struct ActClip {  // also ReLU6 (lo 0, hi 6: the same operations)
    float lo, hi;
    __device__ __forceinline__ float operator()(float v) const { return activation<ActivationType::kCLIP>(v, lo, hi); }
};

__device__ __forceinline__ void batchOffsets(const Batch& bt, int b, int64_t& ao, int64_t& bo) {
    ao = 0;
    bo = 0;
#pragma unroll
    for (int i = kMaxBatchDims - 1; i >= 0; --i) {
        if (i < bt.nb) {
            const int s = bt.size[i];
            const int q = b / s;
            const int ci = b - q * s;
            b = q;
            ao += static_cast<int64_t>(ci) * bt.a[i];
            bo += static_cast<int64_t>(ci) * bt.b[i];
        }
    }
}

// cp.async (sm_80+): global -> shared without registers; src-size 0 writes zeros and reads nothing.
// (s: a shared-window address, __cvta_generic_to_shared). Before sm_80: plain loads and stores.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
__device__ __forceinline__ void cpAsync16(unsigned s, const void* gmem, bool ok) {
    const float4 v = ok ? __ldg(static_cast<const float4*>(gmem)) : make_float4(0.f, 0.f, 0.f, 0.f);
    asm volatile("st.shared.v4.f32 [%0], {%1, %2, %3, %4};\n" ::"r"(s), "f"(v.x), "f"(v.y), "f"(v.z), "f"(v.w) : "memory");
}
__device__ __forceinline__ void cpAsync4(unsigned s, const void* gmem, bool ok) {
    const float v = ok ? __ldg(static_cast<const float*>(gmem)) : 0.f;
    asm volatile("st.shared.f32 [%0], %1;\n" ::"r"(s), "f"(v) : "memory");
}
__device__ __forceinline__ void cpAsyncCommit() {}
__device__ __forceinline__ void cpAsyncWaitAll() {}
#else
__device__ __forceinline__ void cpAsync16(unsigned s, const void* gmem, bool ok) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(ok ? 16 : 0) : "memory");
}
__device__ __forceinline__ void cpAsync4(unsigned s, const void* gmem, bool ok) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(s), "l"(gmem), "r"(ok ? 4 : 0) : "memory");
}
__device__ __forceinline__ void cpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void cpAsyncWaitAll() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }
#endif

// Loads one operand tile (S stored rows x Q contiguous columns, in float4 chunks spread over NT threads)
// into shared memory laid out [k][m or n] (row length LDS), in two steps: load() for the next tile while
// the current one is multiplied, store() after it.
// KCONTIG: the contiguous dimension is k; the tile is BM/BN rows x BK, stored transposed: load() reads
//   float4s (or scalars) into registers, store() writes them to shared memory.
// otherwise: the stored rows are k (BK rows x BM/BN columns, stored as is): load() issues cp.async
//   straight into shared memory (16-byte copies when aligned, else 4-byte), store() does nothing; the
//   caller waits (cpAsyncWaitAll) before its barrier.
// Out-of-range m/n rows and float4 chunks are clamped to the last valid ones (their results are never
// stored); k past the end of the (split's) range reads as zero on both operands.
// E = __half: both layouts go through registers (load() widens, store() writes FP32 to shared memory).
template <int S, int Q, int NT, int LDS, bool KCONTIG, typename E = float>
struct TileLoader {
    static constexpr bool kHalf = !std::is_same<E, float>::value;
    static constexpr bool kRegPath = KCONTIG || kHalf;  // through registers (else cp.async)
    static constexpr int kChunks = S * Q / 4;
    static constexpr int kPer = (kChunks + NT - 1) / NT;
    static_assert(Q % 4 == 0, "tile columns must be a multiple of 4");
    static constexpr int kRegs = kRegPath ? kPer : 1;
    const E* ptr[kPer];
    int q[kPer];  // !KCONTIG: the chunk's m/n column (element-wise bounds of the scalar path)
    float4 v[kRegs];

    __device__ __forceinline__ static bool active(int i) {
        return kChunks % NT == 0 || static_cast<int>(threadIdx.x) + i * NT < kChunks;
    }
    __device__ __forceinline__ static int sLocal(int i) { return (static_cast<int>(threadIdx.x) + i * NT) / (Q / 4); }
    __device__ __forceinline__ static int qLocal(int i) { return ((static_cast<int>(threadIdx.x) + i * NT) % (Q / 4)) * 4; }

    // mn0: the tile's first m/n; k0: its first k; mnExt: M or N (>= 1).
    __device__ __forceinline__ void init(const E* base, int64_t ld, int mn0, int k0, int mnExt, bool vec) {
#pragma unroll
        for (int i = 0; i < kPer; ++i) {
            if (KCONTIG) {
                const int row = min(mn0 + sLocal(i), mnExt - 1);
                ptr[i] = base + static_cast<int64_t>(row) * ld + (k0 + qLocal(i));
                q[i] = 0;
            } else {
                const int col = mn0 + qLocal(i);
                q[i] = col;
                const int colc = vec ? min(col, ((mnExt - 1) / 4) * 4) : col;
                ptr[i] = base + static_cast<int64_t>(k0 + sLocal(i)) * ld + colc;
            }
        }
    }
    __device__ __forceinline__ void advance(int64_t ld) {
#pragma unroll
        for (int i = 0; i < kPer; ++i) ptr[i] += KCONTIG ? static_cast<int64_t>(Q) : ld * S;
    }
    // kLeft: how many k of the range remain from the tile's first one; mnExt: M or N; smBuf: the shared
    // address of the buffer the tile goes to (used here by the cp.async path).
    __device__ __forceinline__ void load(unsigned smBuf, bool vec, int kLeft, int mnExt) {
#pragma unroll
        for (int i = 0; i < kPer; ++i) {
            if (!active(i)) continue;
            if (KCONTIG) {
                float4 x = make_float4(0.f, 0.f, 0.f, 0.f);
                const int k = qLocal(i);
                if (vec) {
                    if (k < kLeft) x = load4F(ptr[i]);
                } else {
                    if (k < kLeft) x.x = loadF(ptr[i]);
                    if (k + 1 < kLeft) x.y = loadF(ptr[i] + 1);
                    if (k + 2 < kLeft) x.z = loadF(ptr[i] + 2);
                    if (k + 3 < kLeft) x.w = loadF(ptr[i] + 3);
                }
                v[kRegPath ? i : 0] = x;
            } else if (kHalf) {
                // Stored rows k, contiguous m/n, widened in registers; zeros past the k range and past mnExt.
                float4 x = make_float4(0.f, 0.f, 0.f, 0.f);
                if (sLocal(i) < kLeft) {
                    if (vec) {
                        x = load4F(ptr[i]);
                    } else {
                        if (q[i] < mnExt) x.x = loadF(ptr[i]);
                        if (q[i] + 1 < mnExt) x.y = loadF(ptr[i] + 1);
                        if (q[i] + 2 < mnExt) x.z = loadF(ptr[i] + 2);
                        if (q[i] + 3 < mnExt) x.w = loadF(ptr[i] + 3);
                    }
                }
                v[kRegPath ? i : 0] = x;
            } else {
                const bool kOk = sLocal(i) < kLeft;
                const unsigned dst = smBuf + static_cast<unsigned>((sLocal(i) * LDS + qLocal(i)) * 4);
                if (vec) {
                    cpAsync16(dst, ptr[i], kOk);
                } else {
#pragma unroll
                    for (int j = 0; j < 4; ++j) cpAsync4(dst + 4 * j, ptr[i] + j, kOk && q[i] + j < mnExt);
                }
            }
        }
    }
    __device__ __forceinline__ void store(float (*sm)[LDS]) const {
        if constexpr (KCONTIG) {
#pragma unroll
            for (int i = 0; i < kPer; ++i) {
                if (!active(i)) continue;
                const int sl = sLocal(i), ql = qLocal(i);
                const float4 x = v[i];
                sm[ql + 0][sl] = x.x;
                sm[ql + 1][sl] = x.y;
                sm[ql + 2][sl] = x.z;
                sm[ql + 3][sl] = x.w;
            }
        } else if constexpr (kHalf) {
#pragma unroll
            for (int i = 0; i < kPer; ++i) {
                if (!active(i)) continue;
                *reinterpret_cast<float4*>(&sm[sLocal(i)][qLocal(i)]) = v[i];  // LDS % 4 == 0 and qLocal % 4 == 0
            }
        }
    }
};

template <int BM, int BN, int TM, int TN>
struct TileShape {
    static constexpr int kThreads = (BM / TM) * (BN / TN);
    //! Blocks per SM the register budget must allow: 2 for the 256-thread tile (128 registers, which it
    //! fits without spilling); the smaller tiles keep two operand chunks a thread in flight and need more.
    static constexpr int kMinBlocks = kThreads >= 256 ? 2 : 1;
    static_assert(TM % 4 == 0 && TN % 4 == 0, "register blocks are made of 4x4 pieces");
};

//! Writes a thread's register block (bias already added) through activation f: float4 stores where the
//! row is 16-byte aligned and the 4 columns are in range.
template <int BM, int BN, int TM, int TN, typename E, class F>
__device__ __forceinline__ void storeDirect(const Params& p, E* __restrict__ C, const float (&acc)[TM][TN], int m0,
                                            int n0, int tx, int ty, F f) {
    constexpr int MSTEP = BM / (TM / 4), NSTEP = BN / (TN / 4);
#pragma unroll
    for (int i = 0; i < TM; ++i) {
        const int m = m0 + (i / 4) * MSTEP + ty * 4 + (i % 4);
        if (m >= p.M) continue;
        E* __restrict__ row = C + static_cast<int64_t>(m) * p.ldc;
#pragma unroll
        for (int d = 0; d < TN / 4; ++d) {
            const int n = n0 + d * NSTEP + tx * 4;
            if (p.vecC && n + 3 < p.N) {
                store4F(row + n, make_float4(f(acc[i][d * 4 + 0]), f(acc[i][d * 4 + 1]), f(acc[i][d * 4 + 2]), f(acc[i][d * 4 + 3])));
            } else {
#pragma unroll
                for (int j = 0; j < 4; ++j)
                    if (n + j < p.N) storeF(row + n + j, f(acc[i][d * 4 + j]));
            }
        }
    }
}

//! The tile kernel. Grid: x = M tiles, y = N tiles (from yBase), z = matrix * splits + split (from zBase).
//! E: the element type of A, B and C.
template <int BM, int BN, int BK, int TM, int TN, bool TA, bool TB, typename E = float>
__global__ void __launch_bounds__(TileShape<BM, BN, TM, TN>::kThreads, TileShape<BM, BN, TM, TN>::kMinBlocks)
sgemmTile(const Params p, int yBase, int zBase) {
    constexpr int NT = TileShape<BM, BN, TM, TN>::kThreads;
    constexpr int NTX = BN / TN;
    constexpr int LDA_S = BM + (TA ? 0 : 4);  // padding against bank conflicts of the transposing stores
    constexpr int LDB_S = BN + (TB ? 4 : 0);
    constexpr int MSTEP = BM / (TM / 4), NSTEP = BN / (TN / 4);
    __shared__ __align__(16) float As[2][BK][LDA_S];
    __shared__ __align__(16) float Bs[2][BK][LDB_S];

    const int tid = threadIdx.x;
    const int tx = tid % NTX, ty = tid / NTX;
    const int m0 = blockIdx.x * BM;
    const int n0 = (yBase + blockIdx.y) * BN;
    const int z = zBase + blockIdx.z;
    const int mat = z / p.splits;
    const int split = z - mat * p.splits;
    const int kBegin = split * p.kPerSplit;
    const int kEnd = min(p.K, kBegin + p.kPerSplit);

    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;

    const int kTiles = kEnd > kBegin ? (kEnd - kBegin + BK - 1) / BK : 0;
    if (kTiles > 0) {
        int64_t aOff, bOff;
        batchOffsets(p.batch, mat, aOff, bOff);
        // A: !TA -> stored rows m, contiguous k; TA -> stored rows k, contiguous m.
        TileLoader<TA ? BK : BM, TA ? BM : BK, NT, LDA_S, !TA, E> la;
        // B: !TB -> stored rows k, contiguous n; TB -> stored rows n, contiguous k.
        TileLoader<TB ? BN : BK, TB ? BK : BN, NT, LDB_S, TB, E> lb;
        la.init(static_cast<const E*>(p.A) + aOff, p.lda, m0, kBegin, p.M, p.vecA);
        lb.init(static_cast<const E*>(p.B) + bOff, p.ldb, n0, kBegin, p.N, p.vecB);
        const unsigned sA = static_cast<unsigned>(__cvta_generic_to_shared(&As[0][0][0]));
        const unsigned sB = static_cast<unsigned>(__cvta_generic_to_shared(&Bs[0][0][0]));
        constexpr unsigned kBufA = BK * LDA_S * 4, kBufB = BK * LDB_S * 4;
        int kLeft = kEnd - kBegin;
        la.load(sA, p.vecA, kLeft, p.M);
        lb.load(sB, p.vecB, kLeft, p.N);
        la.store(As[0]);
        lb.store(Bs[0]);
        if (TA || !TB) cpAsyncCommit();
        if (TA || !TB) cpAsyncWaitAll();
        __syncthreads();
        for (int t = 0; t < kTiles; ++t) {
            const int cur = t & 1;
            const bool more = t + 1 < kTiles;
            if (more) {
                // The next tile: cp.async operands land in the other buffer while this one is multiplied
                // (its last readers passed the barrier that ended the previous step).
                kLeft -= BK;
                la.advance(p.lda);
                lb.advance(p.ldb);
                la.load(sA + (cur ^ 1) * kBufA, p.vecA, kLeft, p.M);
                lb.load(sB + (cur ^ 1) * kBufB, p.vecB, kLeft, p.N);
                if (TA || !TB) cpAsyncCommit();
            }
#pragma unroll
            for (int k = 0; k < BK; ++k) {
                float a[TM], b[TN];
#pragma unroll
                for (int c = 0; c < TM / 4; ++c) {
                    const float4 x = *reinterpret_cast<const float4*>(&As[cur][k][c * MSTEP + ty * 4]);
                    a[c * 4 + 0] = x.x;
                    a[c * 4 + 1] = x.y;
                    a[c * 4 + 2] = x.z;
                    a[c * 4 + 3] = x.w;
                }
#pragma unroll
                for (int d = 0; d < TN / 4; ++d) {
                    const float4 x = *reinterpret_cast<const float4*>(&Bs[cur][k][d * NSTEP + tx * 4]);
                    b[d * 4 + 0] = x.x;
                    b[d * 4 + 1] = x.y;
                    b[d * 4 + 2] = x.z;
                    b[d * 4 + 3] = x.w;
                }
#pragma unroll
                for (int i = 0; i < TM; ++i)
#pragma unroll
                    for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
            }
            if (more) {
                la.store(As[cur ^ 1]);
                lb.store(Bs[cur ^ 1]);
                if (TA || !TB) cpAsyncWaitAll();
                __syncthreads();
            }
        }
    }

    if (p.splits > 1) {
        // Raw partial sums: partial[z][m][n], rows ldp apart (ldp % 4 == 0, 16-byte aligned).
        float* __restrict__ P = p.partial + static_cast<int64_t>(z) * p.M * p.ldp;
#pragma unroll
        for (int i = 0; i < TM; ++i) {
            const int m = m0 + (i / 4) * MSTEP + ty * 4 + (i % 4);
            if (m >= p.M) continue;
#pragma unroll
            for (int d = 0; d < TN / 4; ++d) {
                const int n = n0 + d * NSTEP + tx * 4;
                if (n < p.N)
                    *reinterpret_cast<float4*>(P + static_cast<int64_t>(m) * p.ldp + n) =
                        make_float4(acc[i][d * 4], acc[i][d * 4 + 1], acc[i][d * 4 + 2], acc[i][d * 4 + 3]);
            }
        }
        return;
    }

    // Bias: loaded once per register column / row.
    if (p.biasMode == kBiasPerColumn) {
#pragma unroll
        for (int d = 0; d < TN / 4; ++d)
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const int n = n0 + d * NSTEP + tx * 4 + j;
                const float bv = n < p.N ? __ldg(p.bias + n) : 0.f;
#pragma unroll
                for (int i = 0; i < TM; ++i) acc[i][d * 4 + j] += bv;
            }
    } else if (p.biasMode == kBiasPerRow) {
#pragma unroll
        for (int i = 0; i < TM; ++i) {
            const int m = m0 + (i / 4) * MSTEP + ty * 4 + (i % 4);
            const float bv = m < p.M ? __ldg(p.bias + m) : 0.f;
#pragma unroll
            for (int j = 0; j < TN; ++j) acc[i][j] += bv;
        }
    }

    E* __restrict__ C = static_cast<E*>(p.C) + static_cast<int64_t>(mat) * p.batch.c;
    switch (static_cast<ActivationType>(p.act)) {
        case kNoActivation: storeDirect<BM, BN>(p, C, acc, m0, n0, tx, ty, ActNone{}); return;
        case ActivationType::kRELU: storeDirect<BM, BN>(p, C, acc, m0, n0, tx, ty, ActRelu{}); return;
        case ActivationType::kLEAKY_RELU: storeDirect<BM, BN>(p, C, acc, m0, n0, tx, ty, ActLeaky{p.alpha}); return;
        case ActivationType::kCLIP: storeDirect<BM, BN>(p, C, acc, m0, n0, tx, ty, ActClip{p.alpha, p.beta}); return;
        case ActivationType::kRELU6: storeDirect<BM, BN>(p, C, acc, m0, n0, tx, ty, ActClip{0.f, 6.f}); return;
        default: break;
    }
    // Staged (the other activations): one register row of every thread at a time goes through shared
    // memory and the block applies the activation with coalesced stores; the register rows rotate so that
    // the (large) activation code exists once.
    constexpr int NTY = BM / TM;
    static_assert(NTY * BN <= 2 * BK * LDA_S, "staging buffer too small");
    float* stage = &As[0][0][0];
#pragma unroll 1
    for (int it = 0; it < TM; ++it) {
        __syncthreads();  // the previous readers of the staging buffer (or of the tiles) are done
#pragma unroll
        for (int d = 0; d < TN / 4; ++d)
            *reinterpret_cast<float4*>(&stage[ty * BN + d * NSTEP + tx * 4]) =
                make_float4(acc[0][d * 4], acc[0][d * 4 + 1], acc[0][d * 4 + 2], acc[0][d * 4 + 3]);
        __syncthreads();
        const int rowBase = m0 + (it / 4) * MSTEP + (it % 4);
#pragma unroll 1
        for (int e = tid; e < NTY * BN; e += NT) {
            const int r = e / BN, col = e - r * BN;
            const int m = rowBase + r * 4, n = n0 + col;
            if (m < p.M && n < p.N) storeF(C + static_cast<int64_t>(m) * p.ldc + n, applyAct(p.act, stage[e], p.alpha, p.beta));
        }
#pragma unroll
        for (int i = 0; i + 1 < TM; ++i)
#pragma unroll
            for (int j = 0; j < TN; ++j) acc[i][j] = acc[i + 1][j];
    }
}

//! Sums the split-K partials of every output, applies the epilogue, writes C (of E). (A template so that every
//! translation unit including this header may instantiate it.)
template <int BLOCK, typename E = float>
__global__ void __launch_bounds__(BLOCK) splitKReduce(const Params p, int64_t total) {
    const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
    const int64_t slice = static_cast<int64_t>(p.M) * p.ldp;
    for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total; idx += step) {
        const int n = static_cast<int>(idx % p.N);
        const int64_t t = idx / p.N;
        const int m = static_cast<int>(t % p.M);
        const int mat = static_cast<int>(t / p.M);
        const float* __restrict__ src = p.partial + static_cast<int64_t>(mat) * p.splits * slice + static_cast<int64_t>(m) * p.ldp + n;
        float s = 0.f;
        for (int k = 0; k < p.splits; ++k) s += src[k * slice];
        storeF(static_cast<E*>(p.C) + static_cast<int64_t>(mat) * p.batch.c + static_cast<int64_t>(m) * p.ldc + n, epilogue(p, s, m, n));
    }
}

//! One warp per (column n of op(B), up to MR rows of op(A)); requires !transA && transB: A rows and B
//! rows (= columns of op(B)) are both contiguous in k. Grid: x = warps (4 per block), y = matrix from zBase.
template <int MR, typename E = float>
__global__ void __launch_bounds__(128) gemvDot(const Params p, int mChunks, int zBase) {
    const int lane = threadIdx.x & 31;
    const int64_t w = static_cast<int64_t>(blockIdx.x) * 4 + (threadIdx.x >> 5);
    if (w >= static_cast<int64_t>(mChunks) * p.N) return;
    const int n = static_cast<int>(w / mChunks);
    const int m0 = static_cast<int>(w - static_cast<int64_t>(n) * mChunks) * MR;
    const int mat = zBase + blockIdx.y;
    int64_t aOff, bOff;
    batchOffsets(p.batch, mat, aOff, bOff);
    const E* __restrict__ brow = static_cast<const E*>(p.B) + bOff + static_cast<int64_t>(n) * p.ldb;
    const E* __restrict__ arow[MR];
#pragma unroll
    for (int r = 0; r < MR; ++r) arow[r] = static_cast<const E*>(p.A) + aOff + static_cast<int64_t>(min(m0 + r, p.M - 1)) * p.lda;  // clamped: read, not stored
    float acc[MR];
#pragma unroll
    for (int r = 0; r < MR; ++r) acc[r] = 0.f;
    const int K = p.K;
    if (p.vecB) {
        if (p.vecA) {
#pragma unroll 4
            for (int k = lane * 4; k < K; k += 128) {
                const float4 b = load4F(brow + k);
#pragma unroll
                for (int r = 0; r < MR; ++r) {
                    const float4 a = load4F(arow[r] + k);
                    acc[r] = fmaf(a.x, b.x, acc[r]);
                    acc[r] = fmaf(a.y, b.y, acc[r]);
                    acc[r] = fmaf(a.z, b.z, acc[r]);
                    acc[r] = fmaf(a.w, b.w, acc[r]);
                }
            }
        } else {
            // B padded or K % 4 == 0; A element-wise (tail elements of B past K are zero or absent).
#pragma unroll 2
            for (int k = lane * 4; k < K; k += 128) {
                const float4 b = load4F(brow + k);
#pragma unroll
                for (int r = 0; r < MR; ++r) {
                    const E* a = arow[r] + k;
                    acc[r] = fmaf(loadF(a), b.x, acc[r]);
                    if (k + 1 < K) acc[r] = fmaf(loadF(a + 1), b.y, acc[r]);
                    if (k + 2 < K) acc[r] = fmaf(loadF(a + 2), b.z, acc[r]);
                    if (k + 3 < K) acc[r] = fmaf(loadF(a + 3), b.w, acc[r]);
                }
            }
        }
    } else {
#pragma unroll 4
        for (int k = lane; k < K; k += 32) {
            const float b = loadF(brow + k);
#pragma unroll
            for (int r = 0; r < MR; ++r) acc[r] = fmaf(loadF(arow[r] + k), b, acc[r]);
        }
    }
#pragma unroll
    for (int r = 0; r < MR; ++r) {
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], o);
    }
    float v = acc[0];
#pragma unroll
    for (int r = 1; r < MR; ++r)
        if (lane == r) v = acc[r];
    const int m = m0 + lane;
    if (lane < MR && m < p.M)
        storeF(static_cast<E*>(p.C) + static_cast<int64_t>(mat) * p.batch.c + static_cast<int64_t>(m) * p.ldc + n, epilogue(p, v, m, n));
}

template <int BM, int BN, int TM, int TN, bool TA, bool TB, typename E = float>
void launchTile(const Params& p, cudaStream_t stream) {
    constexpr int NT = TileShape<BM, BN, TM, TN>::kThreads;
    const int64_t gx = ceilDiv(p.M, BM), gy = ceilDiv(p.N, BN);
    const int64_t gz = static_cast<int64_t>(p.batch.count) * p.splits;
    GIE_CHECK(gx <= INT_MAX, ErrorCode::kUNSUPPORTED, "GEMM: M = ", p.M, " is too large");
    for (int64_t y0 = 0; y0 < gy; y0 += 65535)
        for (int64_t z0 = 0; z0 < gz; z0 += 65535) {
            dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(std::min<int64_t>(65535, gy - y0)),
                      static_cast<unsigned>(std::min<int64_t>(65535, gz - z0)));
            sgemmTile<BM, BN, kTileK, TM, TN, TA, TB, E><<<grid, NT, 0, stream>>>(p, static_cast<int>(y0), static_cast<int>(z0));
            checkLaunch("gemm::sgemmTile");
        }
}

template <bool TA, bool TB, typename E>
void launchTileE(const Params& p, int cfg, cudaStream_t s) {
    switch (cfg) {
        case kTile128x128: launchTile<128, 128, 8, 8, TA, TB, E>(p, s); break;
        case kTile128x64: launchTile<128, 64, 8, 8, TA, TB, E>(p, s); break;
        case kTile64x128: launchTile<64, 128, 8, 8, TA, TB, E>(p, s); break;
        case kTile64x64: case kSplitK64x64: launchTile<64, 64, 8, 8, TA, TB, E>(p, s); break;
        default: launchTile<32, 32, 4, 4, TA, TB, E>(p, s); break;
    }
}
template <bool TA, bool TB>
void launchTileT(const Params& p, int cfg, cudaStream_t s) {
    if (p.half) launchTileE<TA, TB, __half>(p, cfg, s);
    else launchTileE<TA, TB, float>(p, cfg, s);
}

//! Instantiates the tile kernels for only the transpose combinations a caller can produce (NN/NT/TN/TT),
//! which keeps FullyConnected's object small.
template <bool NN, bool NT, bool TN, bool TT>
void launchTileAny(const Params& p, int cfg, cudaStream_t s) {
    if (!p.transA && !p.transB) {
        if constexpr (NN) { launchTileT<false, false>(p, cfg, s); return; }
    } else if (!p.transA && p.transB) {
        if constexpr (NT) { launchTileT<false, true>(p, cfg, s); return; }
    } else if (p.transA && !p.transB) {
        if constexpr (TN) { launchTileT<true, false>(p, cfg, s); return; }
    } else {
        if constexpr (TT) { launchTileT<true, true>(p, cfg, s); return; }
    }
    fail(ErrorCode::kINTERNAL, "GEMM: transpose combination (", p.transA, ", ", p.transB, ") not instantiated");
}

template <bool NN, bool NT, bool TN, bool TT>
void launchHmmaAny(const Params& p, int t, cudaStream_t s);  // gemm_mma_f16.cuh, included at the end

}  // namespace detail

// The sm_90a tactic (gemm_wgmma_f16.cu: one instantiation for every caller).
//! Whether hgemm_wgmma_* can run this prepared problem with these pointers on this device.
bool wgmmaEligible(const Params& p);
//! Sets the kernel's shared-memory limit (call at initialize; idempotent).
void prepareWgmma();
//! Launches hgemm_wgmma_128x128x64_s4 (wgmmaEligible(p) must hold).
void launchWgmma(const Params& p, cudaStream_t stream);
//! The persistent tactic's counterparts (hgemm_wgmma_persist_128x128x64_s4; the bias per column or none).
void prepareWgmmaPersistent();
void launchWgmmaPersistent(const Params& p, cudaStream_t stream);

// ---- host API ----------------------------------------------------------------------------------------

//! Normalizes degenerate layouts (a single row of A contiguous in k is !transA; a single column of B
//! contiguous in k is transB) and decides the vectorized paths for these pointers. Call before run().
inline void prepare(Params& p) {
    if (p.M == 1 && p.transA && p.lda == 1) {  // A is (K, 1) stored: one contiguous row
        p.transA = false;
        p.lda = std::max(p.K, 1);
    }
    if (p.N == 1 && !p.transB && p.ldb == 1) {  // B is (K, 1) stored: one contiguous column
        p.transB = true;
        p.ldb = std::max(p.K, 1);
    }
    auto batchOk = [&](const int64_t* st) {
        for (int i = 0; i < p.batch.nb; ++i)
            if (st[i] % 4 != 0) return false;
        return true;
    };
    // Operand X is readable 4 elements at a time (float4, or 8 bytes of half) when each stored row starts
    // aligned to 4 elements and the contiguous extent is a multiple of 4 (or padded).
    const size_t vecBytes = 4 * (p.half ? sizeof(__half) : sizeof(float));
    auto vec = [&](const void* ptr, int64_t ld, int rows, int contig, bool pad, const int64_t* st) {
        return cuda::alignedTo(ptr, vecBytes) && (ld % 4 == 0 || rows <= 1) && (contig % 4 == 0 || pad) && batchOk(st);
    };
    p.vecA = p.transA ? vec(p.A, p.lda, p.K, p.M, p.padA, p.batch.a) : vec(p.A, p.lda, p.M, p.K, p.padA, p.batch.a);
    p.vecB = p.transB ? vec(p.B, p.ldb, p.N, p.K, p.padB, p.batch.b) : vec(p.B, p.ldb, p.K, p.N, p.padB, p.batch.b);
    p.vecC = cuda::alignedTo(p.C, vecBytes) && (p.ldc % 4 == 0 || p.M <= 1) && (p.batch.c % 4 == 0 || p.batch.count <= 1);
}

//! Drops size-1 batch dimensions and merges neighbours whose strides are contiguous for both operands.
inline void simplifyBatch(Batch& bt) {
    Batch o = bt;
    o.nb = 0;
    for (int i = 0; i < bt.nb; ++i) {
        if (bt.size[i] == 1) continue;
        if (o.nb > 0) {
            const int j = o.nb - 1;
            if (o.a[j] == bt.a[i] * bt.size[i] && o.b[j] == bt.b[i] * bt.size[i]) {
                o.size[j] *= bt.size[i];
                o.a[j] = bt.a[i];
                o.b[j] = bt.b[i];
                continue;
            }
        }
        o.size[o.nb] = bt.size[i];
        o.a[o.nb] = bt.a[i];
        o.b[o.nb] = bt.b[i];
        ++o.nb;
    }
    bt = o;
}

//! Whether the GEMV kernel applies to a prepared problem.
inline bool gemvEligible(const Params& p) { return !p.transA && p.transB; }

//! Splits of K for the split-K tactic `t` (1 = not worth it): about 256 blocks (two waves of a 132-SM
//! GPU). Deliberately independent of the device: the workspace size recorded in an engine must not change
//! when the engine is loaded on another GPU.
inline int chooseSplits(int t, int M, int N, int K, int count) {
    const int64_t tiles = ceilDiv(M, tileM(t)) * ceilDiv(N, tileN(t)) * static_cast<int64_t>(count);
    const int64_t target = 256;
    if (tiles >= target) return 1;
    int64_t s = ceilDiv(target, tiles);
    s = std::min<int64_t>(s, std::max<int64_t>(1, K / 128));  // at least 128 k per split
    s = std::min<int64_t>(s, 64);
    if (s < 2) return 1;
    const int64_t per = ceilDiv(ceilDiv(K, s), kTileK) * kTileK;
    return static_cast<int>(ceilDiv(K, per));
}

//! Workspace bytes of a split-K run.
inline size_t splitKWorkspace(int M, int N, int count, int splits) {
    if (splits <= 1) return 0;
    const int64_t ldp = ceilDiv(N, 4) * 4;
    return static_cast<size_t>(static_cast<int64_t>(splits) * count * M * ldp) * sizeof(float) + 16;
}

//! Sets p up for a split-K run: K cut into slices of whole `step`-k steps, about `splits` of them (chooseSplits), the
//! FP32 partial sums at the first 16-byte boundary of `workspace`. False (p unchanged) when that leaves one slice or
//! the workspace is smaller than splitKWorkspace.
inline bool prepareSplitK(Params& p, int splits, int step, void* workspace, size_t workspaceBytes) {
    if (splits <= 1 || p.K <= 0 || !workspace) return false;
    const int per = static_cast<int>(ceilDiv(ceilDiv(p.K, splits), step) * step);
    const int s = static_cast<int>(ceilDiv(p.K, per));
    if (s <= 1 || splitKWorkspace(p.M, p.N, p.batch.count, s) > workspaceBytes) return false;
    p.splits = s;
    p.kPerSplit = per;
    p.ldp = ceilDiv(p.N, 4) * 4;
    const uintptr_t a = (reinterpret_cast<uintptr_t>(workspace) + 15u) & ~uintptr_t(15);
    p.partial = reinterpret_cast<float*>(a);
    return true;
}

//! The second step of a split-K run (prepareSplitK): the sums over the splits, the epilogue, C.
inline void launchSplitKReduce(const Params& p, cudaStream_t stream) {
    const int64_t total = static_cast<int64_t>(p.batch.count) * p.M * p.N;
    if (p.half) detail::splitKReduce<256, __half><<<gridFor(total, 256), 256, 0, stream>>>(p, total);
    else detail::splitKReduce<256, float><<<gridFor(total, 256), 256, 0, stream>>>(p, total);
    checkLaunch("gemm::splitKReduce");
}

//! Runs the prepared problem with tactic t on `stream` (launches only). `splits` (from chooseSplits at
//! configure) is used by the split-K tactics, with partial sums in `workspace` (splitKWorkspace bytes at
//! least, else the run falls back to one pass). NN/NT/TN/TT: the transpose combinations (after prepare) the
//! caller can produce; only those tile kernels are instantiated.
template <bool NN, bool NT, bool TN, bool TT>
void run(Params p, int t, int splits, void* workspace, size_t workspaceBytes, cudaStream_t stream) {
    if (p.M <= 0 || p.N <= 0 || p.batch.count <= 0) return;
    GIE_CHECK(p.K >= 0 && p.K < INT_MAX - 1024 && p.M < INT_MAX - 1024 && p.N < INT_MAX - 1024, ErrorCode::kUNSUPPORTED,
              "GEMM: dimensions too large (M ", p.M, ", N ", p.N, ", K ", p.K, ")");
    p.splits = 1;
    p.kPerSplit = std::max(p.K, 1);
    p.partial = nullptr;
    if (t == kGemv && gemvEligible(p)) {
        const int MR = p.M >= 4 ? 4 : (p.M >= 2 ? 2 : 1);
        const int mChunks = static_cast<int>(ceilDiv(p.M, MR));
        const int64_t warps = static_cast<int64_t>(mChunks) * p.N;
        const int64_t blocks = ceilDiv(warps, 4);
        GIE_CHECK(blocks <= INT_MAX, ErrorCode::kUNSUPPORTED, "GEMV: too many outputs");
        for (int64_t z0 = 0; z0 < p.batch.count; z0 += 65535) {
            dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(std::min<int64_t>(65535, p.batch.count - z0)));
            if (p.half) {
                if (MR == 4) detail::gemvDot<4, __half><<<grid, 128, 0, stream>>>(p, mChunks, static_cast<int>(z0));
                else if (MR == 2) detail::gemvDot<2, __half><<<grid, 128, 0, stream>>>(p, mChunks, static_cast<int>(z0));
                else detail::gemvDot<1, __half><<<grid, 128, 0, stream>>>(p, mChunks, static_cast<int>(z0));
            } else {
                if (MR == 4) detail::gemvDot<4, float><<<grid, 128, 0, stream>>>(p, mChunks, static_cast<int>(z0));
                else if (MR == 2) detail::gemvDot<2, float><<<grid, 128, 0, stream>>>(p, mChunks, static_cast<int>(z0));
                else detail::gemvDot<1, float><<<grid, 128, 0, stream>>>(p, mChunks, static_cast<int>(z0));
            }
            checkLaunch("gemm::gemvDot");
        }
        return;
    }
    if (isWgmma(t) && wgmmaEligible(p)) {
        if (t == kWgmmaPersist128x128) launchWgmmaPersistent(p, stream);
        else launchWgmma(p, stream);
        return;
    }
    if (isWgmma(t)) t = kHmma128x128;  // not offered where it does not apply; a forced run falls back
    if (t == kHmmaSplitK64x64 && hmmaAvailable(p.half)) {
        // Slices of whole 32-k steps (at most the splits chooseSplits sized the workspace for: its slices are
        // multiples of 8, so these are no fewer k each and no more in number).
        if (prepareSplitK(p, splits, kHmmaSplitStep, workspace, workspaceBytes)) {
            detail::launchHmmaAny<NN, NT, TN, TT>(p, kHmma64x64, stream);
            launchSplitKReduce(p, stream);
            return;
        }
        t = kHmma64x64;  // nothing to split here (or no workspace): the unsplit tile
    }
    if (isHmma(t) && hmmaAvailable(p.half)) {
        detail::launchHmmaAny<NN, NT, TN, TT>(p, t, stream);
        return;
    }
    int cfg = t;
    if (isHmma(t)) cfg = kTile64x64;  // FP32: not offered; a forced run falls back
    if (t == kGemv) cfg = p.M * static_cast<int64_t>(p.N) >= 512 * 512 ? kTile64x64 : kTile32x32;  // fallback
    if (isSplitK(t) && prepareSplitK(p, splits, kTileK, workspace, workspaceBytes)) {
        detail::launchTileAny<NN, NT, TN, TT>(p, cfg, stream);
        launchSplitKReduce(p, stream);
        return;
    }
    detail::launchTileAny<NN, NT, TN, TT>(p, cfg, stream);
}

}  // namespace gemm
}  // namespace cuda
}  // namespace gie

#include "gemm_mma_f16.cuh"  // the tensor-core tactics (needs the definitions above)
