// GPU Attention (kernels/attention_cpu.cpp is the reference): softmax(scale * Q K^T + mask) V in one kernel, flash-
// attention style, so the (Sq x Sk) scores never reach memory:
//   one 128-thread block per (batch matrix, tile of 16 query rows); each warp owns 4 rows. The block walks the keys in
//   tiles of 32: K and V tiles go to shared memory (K rows padded so that the lanes' float4 reads hit distinct banks;
//   a transposed K is read along the keys, coalesced), lane j scores key j against the warp's rows (Q staged once,
//   pre-multiplied by scale * log2 e so that the exponentials are exp2), then the online softmax: the running row
//   maximum m and sum l are updated with warp reductions and the output accumulators (each lane holds columns
//   lane, lane + 32, ... of Dv in registers) are rescaled by 2^(m_old - m_new) before the tile's P V is added.
//   The rows are divided by l once at the end.
// FP16 tensors load half, compute in FP32 (P stays FP32) and round the output to half once; the mask is read in the
// tensor type. Tactic attention_flash_mma_64x64 (FP16, heads up to 128, sm_80+; timed against the SIMT one) does the
// two products on tensor cores, P rounded to half between them (below); attention_flash_mma2_64x64 / _32x64 do the same
// arithmetic with cp.async double-buffered tiles and ldmatrix (below; verified on an H100 on 2026-12-07: GPU tests,
// compute-sanitizer memcheck and racecheck clean, docs/gpu.md; timed against the others). Heads up to
// kAttentionGpuMaxHead (D and Dv); the accumulators are sized by Dv in steps of 32 columns.
#include <algorithm>
#include <cstdint>

#include "common.cuh"
#include "float_or_half.cuh"
#include "fp16.cuh"
#include "kernels/conv_common.cuh"  // cp.async
#include "kernels/mma_f16.cuh"
#include "layers/attention.h"

namespace gie {
namespace {

constexpr int kRowsPerWarp = 4;
constexpr int kWarps = 4;
constexpr int kQueryTile = kRowsPerWarp * kWarps;  // 16
constexpr int kKeyTile = 32;                        // one key per lane
constexpr float kLog2e = 1.4426950408889634f;

struct AttnParams {
    const void *q, *k, *v, *mask;
    void* o;
    int Sq, Sk, D, Dv;
    int Dp;    // D rounded up to 4 (the Q and K rows in shared memory, zero-padded)
    int ldk;   // shared K row stride: Dp, plus 4 when Dp / 4 is even (float4 reads of 8 lanes on distinct banks)
    int qTiles;
    bool transK;
    float scaleLog2;  // scale * log2(e)
    // mask offsets: per batch dimension (C order over bsize), per query row, per key; 0 where it broadcasts
    int nb;
    int bsize[Dims::MAX_DIMS];
    int64_t mstride[Dims::MAX_DIMS];
    int64_t mq, mk;
};

//! The mask element offset of batch matrix b (AttentionOp::Problem::maskOffset on the device).
__device__ __forceinline__ int64_t maskBatchOffset(const AttnParams& p, int b) {
    int64_t off = 0;
    for (int i = p.nb - 1; i >= 0; --i) {
        off += static_cast<int64_t>(b % p.bsize[i]) * p.mstride[i];
        b /= p.bsize[i];
    }
    return off;
}

__device__ __forceinline__ float warpMax(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
__device__ __forceinline__ float warpSum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

//! DVC: 32-column groups of Dv per lane (Dv <= 32 * DVC).
template <typename T, int DVC>
__global__ void __launch_bounds__(kWarps * 32) attentionFlash(AttnParams p) {
    extern __shared__ float4 smem4[];
    float* Qs = reinterpret_cast<float*>(smem4);
    float* Ks = Qs + kQueryTile * p.Dp;
    float* Vs = Ks + kKeyTile * p.ldk;
    constexpr int ldv = DVC * 32;

    const int b = blockIdx.x / p.qTiles, q0 = (blockIdx.x % p.qTiles) * kQueryTile;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const T* __restrict__ Q = static_cast<const T*>(p.q) + static_cast<int64_t>(b) * p.Sq * p.D;
    const T* __restrict__ K = static_cast<const T*>(p.k) + static_cast<int64_t>(b) * p.Sk * p.D;
    const T* __restrict__ V = static_cast<const T*>(p.v) + static_cast<int64_t>(b) * p.Sk * p.Dv;

    for (int i = tid; i < kQueryTile * p.Dp; i += kWarps * 32) {
        const int r = i / p.Dp, d = i - r * p.Dp;
        Qs[i] = q0 + r < p.Sq && d < p.D ? cuda::loadF(Q + static_cast<int64_t>(q0 + r) * p.D + d) * p.scaleLog2 : 0.f;
    }
    // This warp's mask rows (null where there is no mask or the row is past Sq).
    const T* maskRow[kRowsPerWarp];
    {
        const int64_t off = p.mask ? maskBatchOffset(p, b) : 0;
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r) {
            const int q = q0 + warp * kRowsPerWarp + r;
            maskRow[r] = p.mask && q < p.Sq ? static_cast<const T*>(p.mask) + off + static_cast<int64_t>(q) * p.mq : nullptr;
        }
    }

    float m[kRowsPerWarp], l[kRowsPerWarp], o[kRowsPerWarp][DVC];
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
        m[r] = -INFINITY;
        l[r] = 0.f;
#pragma unroll
        for (int c = 0; c < DVC; ++c) o[r][c] = 0.f;
    }

    for (int k0 = 0; k0 < p.Sk; k0 += kKeyTile) {
        __syncthreads();  // the previous tile is consumed (and, the first time, Q is staged)
        for (int i = tid; i < kKeyTile * p.Dp; i += kWarps * 32) {
            int j, d;
            if (p.transK) {  // K^T (D, Sk): consecutive threads read consecutive keys
                d = i / kKeyTile;
                j = i - d * kKeyTile;
            } else {
                j = i / p.Dp;
                d = i - j * p.Dp;
            }
            float x = 0.f;
            if (k0 + j < p.Sk && d < p.D)
                x = cuda::loadF(p.transK ? K + static_cast<int64_t>(d) * p.Sk + k0 + j : K + static_cast<int64_t>(k0 + j) * p.D + d);
            Ks[j * p.ldk + d] = x;
        }
        for (int i = tid; i < kKeyTile * ldv; i += kWarps * 32) {
            const int j = i / ldv, c = i - j * ldv;
            Vs[i] = k0 + j < p.Sk && c < p.Dv ? cuda::loadF(V + static_cast<int64_t>(k0 + j) * p.Dv + c) : 0.f;
        }
        __syncthreads();

        // Scores of key k0 + lane against the warp's rows (log2 units).
        float s[kRowsPerWarp];
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r) s[r] = 0.f;
        const float4* kr = reinterpret_cast<const float4*>(Ks + lane * p.ldk);
        const float4* qr = reinterpret_cast<const float4*>(Qs + warp * kRowsPerWarp * p.Dp);
        const int d4n = p.Dp >> 2;
#pragma unroll 4
        for (int d4 = 0; d4 < d4n; ++d4) {
            const float4 kv = kr[d4];
#pragma unroll
            for (int r = 0; r < kRowsPerWarp; ++r) {
                const float4 qv = qr[r * d4n + d4];  // the same address for every lane: a broadcast
                s[r] = fmaf(qv.x, kv.x, s[r]);
                s[r] = fmaf(qv.y, kv.y, s[r]);
                s[r] = fmaf(qv.z, kv.z, s[r]);
                s[r] = fmaf(qv.w, kv.w, s[r]);
            }
        }
        const int key = k0 + lane;
        float pr[kRowsPerWarp];
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r) {
            float x = -INFINITY;
            if (key < p.Sk) x = maskRow[r] ? fmaf(cuda::loadF(maskRow[r] + static_cast<int64_t>(key) * p.mk), kLog2e, s[r]) : s[r];
            const float mNew = fmaxf(m[r], warpMax(x));
            // A row with every score so far -inf keeps l = 0 and o = 0 (no exp2(-inf - -inf) = NaN).
            const float corr = mNew == -INFINITY ? 1.f : exp2f(m[r] - mNew);
            pr[r] = mNew == -INFINITY ? 0.f : exp2f(x - mNew);
            l[r] = fmaf(l[r], corr, warpSum(pr[r]));
            m[r] = mNew;
#pragma unroll
            for (int c = 0; c < DVC; ++c) o[r][c] *= corr;
        }
        // o += P V over this tile's keys; p_j comes from lane j.
        const int nk = min(kKeyTile, p.Sk - k0);
#pragma unroll 4
        for (int j = 0; j < nk; ++j) {
            float vv[DVC];
#pragma unroll
            for (int c = 0; c < DVC; ++c) vv[c] = Vs[j * ldv + lane + 32 * c];
#pragma unroll
            for (int r = 0; r < kRowsPerWarp; ++r) {
                const float pj = __shfl_sync(0xffffffffu, pr[r], j);
#pragma unroll
                for (int c = 0; c < DVC; ++c) o[r][c] = fmaf(pj, vv[c], o[r][c]);
            }
        }
    }

    T* __restrict__ O = static_cast<T*>(p.o) + static_cast<int64_t>(b) * p.Sq * p.Dv;
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
        const int q = q0 + warp * kRowsPerWarp + r;
        if (q >= p.Sq) continue;
        const float inv = 1.f / l[r];  // l = 0 (no keys, or all masked): NaN, as the unfused softmax gives
#pragma unroll
        for (int c = 0; c < DVC; ++c) {
            const int col = lane + 32 * c;
            if (col < p.Dv) cuda::storeF(O + static_cast<int64_t>(q) * p.Dv + col, o[r][c] * inv);
        }
    }
}

// ---- FP16 on tensor cores (sm_80+, heads up to 128) ---------------------------------------------------------
// attentionMma: one 128-thread block per (batch matrix, 64 query rows), each warp 16 rows; keys in tiles of 64. The
// head is padded with zeros to DH (32, 64 or 128). Shared memory: Q [64][DH + 8], K [64][DH + 8] (rows of d: the
// "col" B operand of S = Q K^T as stored), V transposed [DH][64 + 8] (rows of keys: the B operand of O = P V); the
// padding makes the 32-bit fragment loads (lane (g, t): row g, pair t) hit distinct banks. Per tile a warp computes
// its 16 x 64 scores with mma.sync m16n8k16 (FP32), scales them by scale * log2 e, adds the mask, updates the row
// maxima (reduced over the 4 lanes sharing a row) and the output scale as the SIMT kernel does, and feeds
// P = exp2(S - m), rounded to half, straight from the accumulator registers into the A fragments of P V (the
// m16n8 C layout of two neighbouring key tiles is the m16k16 A layout). l sums the FP32 p per lane and is reduced
// over the quad at the end. Keys past Sk score -inf; rows past Sq are computed on zeros and not stored.
constexpr int kMmaRows = 64, kMmaKeys = 64;

template <int DH>
struct MmaSmem {
    static constexpr int ldq = DH + 8, ldvt = kMmaKeys + 8;
    static constexpr size_t bytes = (static_cast<size_t>(kMmaRows) * ldq + static_cast<size_t>(kMmaKeys) * ldq + static_cast<size_t>(DH) * ldvt) * 2;
};

__device__ __forceinline__ uint32_t ld32(const __half* p) { return *reinterpret_cast<const uint32_t*>(p); }
__device__ __forceinline__ uint32_t packHalf2(float lo, float hi) {
    const __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
}

//! One key tile of the tensor-core kernels' online softmax, for a warp's 16 rows: sc holds the raw scores of keys
//! k0 .. k0 + 63 in the m16n8 C layout (this lane: rows g and g + 8, elements 0-1 and 2-3); they are scaled to log2
//! units, the mask added, keys past Sk set to -inf; the row maxima m (reduced over the 4 lanes of a row) and sums l
//! are updated, the output tiles o rescaled by 2^(m_old - m_new), and sc left holding P = exp2(s - m) in FP32. A row
//! with every score so far -inf keeps l = 0 and o = 0 (no exp2(-inf - -inf) = NaN). l sums this lane's p only.
template <int NO>
__device__ __forceinline__ void onlineSoftmaxTile(float (&sc)[kMmaKeys / 8][4], float (&o)[NO][4], float (&m)[2], float (&l)[2],
                                                  const AttnParams& p, const __half* const (&maskRow)[2], int k0, int t4) {
    constexpr int NS = kMmaKeys / 8;
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int j = 0; j < NS; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            const int h = e >> 1, key = k0 + j * 8 + 2 * t4 + (e & 1);
            float x = -INFINITY;
            if (key < p.Sk) {
                x = sc[j][e] * p.scaleLog2;
                if (maskRow[h]) x = fmaf(__half2float(maskRow[h][static_cast<int64_t>(key) * p.mk]), kLog2e, x);
            }
            sc[j][e] = x;
            mx[h] = fmaxf(mx[h], x);
        }
    float corr[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 1));
        mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 2));
        const float mNew = fmaxf(m[h], mx[h]);
        corr[h] = mNew == -INFINITY ? 1.f : exp2f(m[h] - mNew);
        m[h] = mNew;
        l[h] *= corr[h];
    }
#pragma unroll
    for (int j = 0; j < NS; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            const int h = e >> 1;
            const float pv = m[h] == -INFINITY ? 0.f : exp2f(sc[j][e] - m[h]);
            sc[j][e] = pv;
            l[h] += pv;
        }
#pragma unroll
    for (int j = 0; j < NO; ++j) {
        o[j][0] *= corr[0];
        o[j][1] *= corr[0];
        o[j][2] *= corr[1];
        o[j][3] *= corr[1];
    }
}

template <int DH>
__global__ void __launch_bounds__(128) attentionMma(AttnParams p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    using S = MmaSmem<DH>;
    constexpr int KS = DH / 16;       // k steps of S = Q K^T
    constexpr int NO = DH / 8;        // n tiles of O
    constexpr int NS = kMmaKeys / 8;  // n tiles of S
    extern __shared__ float4 smem4[];
    __half* Qs = reinterpret_cast<__half*>(smem4);
    __half* Ks = Qs + kMmaRows * S::ldq;
    __half* Vt = Ks + kMmaKeys * S::ldq;

    const int qTile = blockIdx.x % p.qTiles, b = blockIdx.x / p.qTiles;
    const int q0 = qTile * kMmaRows;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t4 = lane & 3;
    const __half* __restrict__ Q = static_cast<const __half*>(p.q) + static_cast<int64_t>(b) * p.Sq * p.D;
    const __half* __restrict__ K = static_cast<const __half*>(p.k) + static_cast<int64_t>(b) * p.Sk * p.D;
    const __half* __restrict__ V = static_cast<const __half*>(p.v) + static_cast<int64_t>(b) * p.Sk * p.Dv;
    const __half zero = __float2half_rn(0.f);

    for (int i = tid; i < kMmaRows * DH; i += 128) {
        const int r = i / DH, d = i - r * DH;
        Qs[r * S::ldq + d] = q0 + r < p.Sq && d < p.D ? Q[static_cast<int64_t>(q0 + r) * p.D + d] : zero;
    }
    const __half* maskRow[2] = {nullptr, nullptr};
    if (p.mask) {
        const int64_t off = maskBatchOffset(p, b);
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int q = q0 + warp * 16 + g + h * 8;
            if (q < p.Sq) maskRow[h] = static_cast<const __half*>(p.mask) + off + static_cast<int64_t>(q) * p.mq;
        }
    }
    __syncthreads();
    uint32_t qf[KS][4];  // this warp's Q rows as A fragments, for every tile
#pragma unroll
    for (int s = 0; s < KS; ++s) {
        const __half* r0 = Qs + (warp * 16 + g) * S::ldq + s * 16 + 2 * t4;
        qf[s][0] = ld32(r0);
        qf[s][1] = ld32(r0 + 8 * S::ldq);
        qf[s][2] = ld32(r0 + 8);
        qf[s][3] = ld32(r0 + 8 * S::ldq + 8);
    }

    float o[NO][4];
#pragma unroll
    for (int j = 0; j < NO; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) o[j][e] = 0.f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};

    for (int k0 = 0; k0 < p.Sk; k0 += kMmaKeys) {
        __syncthreads();  // the previous tile's K and V are consumed
        for (int i = tid; i < kMmaKeys * DH; i += 128) {
            int j, d;
            if (p.transK) {  // K^T (D, Sk): consecutive threads, consecutive keys
                d = i / kMmaKeys;
                j = i - d * kMmaKeys;
            } else {
                j = i / DH;
                d = i - j * DH;
            }
            __half x = zero;
            if (k0 + j < p.Sk && d < p.D) x = p.transK ? K[static_cast<int64_t>(d) * p.Sk + k0 + j] : K[static_cast<int64_t>(k0 + j) * p.D + d];
            Ks[j * S::ldq + d] = x;
        }
        for (int i = tid; i < kMmaKeys * DH; i += 128) {
            const int j = i / DH, c = i - j * DH;
            Vt[c * S::ldvt + j] = k0 + j < p.Sk && c < p.Dv ? V[static_cast<int64_t>(k0 + j) * p.Dv + c] : zero;
        }
        __syncthreads();

        float sc[NS][4];
#pragma unroll
        for (int j = 0; j < NS; ++j) {
#pragma unroll
            for (int e = 0; e < 4; ++e) sc[j][e] = 0.f;
#pragma unroll
            for (int s = 0; s < KS; ++s) {
                const __half* kr = Ks + (j * 8 + g) * S::ldq + s * 16 + 2 * t4;
                cuda::mmaF16(sc[j], qf[s], ld32(kr), ld32(kr + 8));
            }
        }
        onlineSoftmaxTile(sc, o, m, l, p, maskRow, k0, t4);  // sc: P (FP32)
        // O += P V: key step s covers score tiles 2s and 2s + 1.
#pragma unroll
        for (int s = 0; s < kMmaKeys / 16; ++s) {
            const uint32_t pf[4] = {packHalf2(sc[2 * s][0], sc[2 * s][1]), packHalf2(sc[2 * s][2], sc[2 * s][3]),
                                    packHalf2(sc[2 * s + 1][0], sc[2 * s + 1][1]), packHalf2(sc[2 * s + 1][2], sc[2 * s + 1][3])};
#pragma unroll
            for (int j = 0; j < NO; ++j) {
                const __half* vr = Vt + (j * 8 + g) * S::ldvt + s * 16 + 2 * t4;
                cuda::mmaF16(o[j], pf, ld32(vr), ld32(vr + 8));
            }
        }
    }

    __half* __restrict__ O = static_cast<__half*>(p.o) + static_cast<int64_t>(b) * p.Sq * p.Dv;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        l[h] += __shfl_xor_sync(0xffffffffu, l[h], 1);
        l[h] += __shfl_xor_sync(0xffffffffu, l[h], 2);
        const int q = q0 + warp * 16 + g + h * 8;
        if (q >= p.Sq) continue;
        const float inv = 1.f / l[h];  // l = 0 (no keys, or all masked): NaN, as the unfused softmax gives
#pragma unroll
        for (int j = 0; j < NO; ++j) {
            const int col = j * 8 + 2 * t4;
            if (col < p.Dv) O[static_cast<int64_t>(q) * p.Dv + col] = __float2half_rn(o[j][2 * h] * inv);
            if (col + 1 < p.Dv) O[static_cast<int64_t>(q) * p.Dv + col + 1] = __float2half_rn(o[j][2 * h + 1] * inv);
        }
    }
#else
    __trap();  // not offered below sm_80
#endif
}

// ---- FP16 on tensor cores, pipelined (sm_80+; tactics attention_flash_mma2_64x64 and _32x64) --------------------
// attentionMma2<DH, WARPS>: the products, the online softmax (exp2, FP32 m and l, P rounded to half from the S
// accumulators, -inf rows kept at 0) and the mask reads are those of attentionMma above; what changes is how the
// operands reach the tensor cores:
//  * Q, K, V go global -> shared by 16-byte cp.async (8 halves; D % 8 == 0, Dv % 8 == 0 and 16-byte aligned
//    q, k, v, so that every row and chunk is 16-byte aligned), zero-filled past Sq / Sk and past D / Dv (a zero K
//    or V row keeps uninitialized shared memory, which may hold NaN bit patterns, out of 0 * x);
//  * K and V tiles are double-buffered: tile i + 1's copies are in flight while tile i is computed (one commit group
//    per tile, cp.async.wait_group 1, one __syncthreads before and one after the compute);
//  * shared rows are padded by 8 halves (16 bytes), so the eight 16-byte rows of one ldmatrix phase start 16 * 36,
//    16 * 68 or 16 * 20 bytes apart (DH 64 / 128 / 32): distinct bank quads, no conflict; cp.async writes the same;
//  * fragments by ldmatrix.x4: Q's A fragments (once, kept in registers), K's B fragments for two 8-key tiles per
//    instruction (K rows are [key][d]: the "col" B of Q K^T as stored), and V's B fragments by ldmatrix.x4.trans
//    straight from the row-major [key][dv] tile (no element-wise transpose);
//  * a warp whose 16 rows all lie past Sq only loads and synchronizes, and key blocks of 16 wholly past Sk skip both
//    products (S = 197: the last key tile holds 5 keys, and 3 of its 4 key blocks are skipped).
// Tile choice: 16 query rows per warp (the m16 of the instruction) and key tiles of 64 (16 KiB of K + V per buffer
// at D = 64: two buffers, Q and padding take 45 KiB, under the 48 KiB default, 4-5 blocks per SM). Two block sizes,
// timed by the builder: 4 warps (64 rows: one K / V tile feeds 64 rows, the least shared-memory traffic per row,
// for many batch matrices) and 2 warps (32 rows: twice the blocks for few matrices, e.g. batch 1 of ViT-S = 6
// matrices, and less padding at S = 197: 224 rows computed instead of 256). Larger key tiles would hold more S
// accumulators (64 keys: 32 floats per lane) for no fewer barriers at S <= 1024.
// Refused (setTactic) for FP32, a transposed K (p.transK), D or Dv not a multiple of 8 or over 128, or below
// sm_80; a call whose q, k, v or o is not 16-byte aligned runs attentionMma instead (the same results).
template <int DH>
struct Mma2Smem {
    static constexpr int ld = DH + 8;  // halves per shared row
    static constexpr size_t tile = static_cast<size_t>(kMmaKeys) * ld;
    static constexpr size_t bytes(int warps) { return (static_cast<size_t>(16 * warps) * ld + 4 * tile) * 2; }
};

//! Queues the 16-byte copies of rows [r0, r0 + ROWS) (of nRows) of a row-major (*, cols) half matrix into a shared
//! tile of DH + 8 halves per row, DH / 8 chunks per row, NT threads; chunks past nRows or past cols are zero-filled.
template <int DH, int ROWS, int NT>
__device__ __forceinline__ void copyTileAsync(__half* dst, const __half* __restrict__ src, int r0, int nRows, int cols, int tid) {
    constexpr int CPR = DH / 8, ld = DH + 8;
    static_assert(ROWS * CPR % NT == 0 && NT % CPR == 0, "whole passes of the block");
#pragma unroll
    for (int k = 0; k < ROWS * CPR / NT; ++k) {
        const int r = tid / CPR + k * (NT / CPR), c = tid % CPR;  // NT % CPR == 0: a thread keeps its chunk column
        const bool valid = r0 + r < nRows && c * 8 < cols;
        const __half* from = valid ? src + static_cast<int64_t>(r0 + r) * cols + c * 8 : src;  // src: a valid address
        cuda::conv::cpAsync16(dst + r * ld + c * 8, reinterpret_cast<const float*>(from), valid);
    }
}

template <int DH, int WARPS>
__global__ void __launch_bounds__(WARPS * 32) attentionMma2(AttnParams p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    using S = Mma2Smem<DH>;
    constexpr int NT = WARPS * 32, ROWS = 16 * WARPS, ld = S::ld;
    constexpr int KS = DH / 16;       // k steps of S = Q K^T
    constexpr int NO = DH / 8;        // n tiles of O
    constexpr int NS = kMmaKeys / 8;  // n tiles of S
    extern __shared__ float4 smem4[];
    __half* Qs = reinterpret_cast<__half*>(smem4);
    __half* Ks = Qs + ROWS * ld;     // two buffers of S::tile
    __half* Vs = Ks + 2 * S::tile;   // two buffers of S::tile

    const int qTile = blockIdx.x % p.qTiles, b = blockIdx.x / p.qTiles;
    const int q0 = qTile * ROWS;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t4 = lane & 3;
    const __half* __restrict__ Q = static_cast<const __half*>(p.q) + static_cast<int64_t>(b) * p.Sq * p.D;
    const __half* __restrict__ K = static_cast<const __half*>(p.k) + static_cast<int64_t>(b) * p.Sk * p.D;
    const __half* __restrict__ V = static_cast<const __half*>(p.v) + static_cast<int64_t>(b) * p.Sk * p.Dv;
    const int nTiles = (p.Sk + kMmaKeys - 1) / kMmaKeys;

    copyTileAsync<DH, ROWS, NT>(Qs, Q, q0, p.Sq, p.D, tid);
    copyTileAsync<DH, kMmaKeys, NT>(Ks, K, 0, p.Sk, p.D, tid);
    copyTileAsync<DH, kMmaKeys, NT>(Vs, V, 0, p.Sk, p.Dv, tid);
    cuda::conv::cpAsyncCommit();

    const bool active = q0 + warp * 16 < p.Sq;  // warp-uniform: a warp wholly past Sq computes nothing
    const __half* maskRow[2] = {nullptr, nullptr};
    if (p.mask) {
        const int64_t off = maskBatchOffset(p, b);
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int q = q0 + warp * 16 + g + h * 8;
            if (q < p.Sq) maskRow[h] = static_cast<const __half*>(p.mask) + off + static_cast<int64_t>(q) * p.mq;
        }
    }
    // ldmatrix lane offsets (halves): A (Q) and trans-B (V) quarters: rows lane % 16, column (lane / 16) * 8;
    // B (K): keys lane % 8 + (lane / 16) * 8, column ((lane / 8) % 2) * 8.
    const int aOff = (lane & 15) * ld + (lane >> 4) * 8;
    const int kOff = ((lane & 7) + ((lane >> 4) << 3)) * ld + ((lane >> 3) & 1) * 8;

    float o[NO][4];
#pragma unroll
    for (int j = 0; j < NO; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) o[j][e] = 0.f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
    uint32_t qf[KS][4];

    for (int it = 0; it < nTiles; ++it) {
        const int k0 = it * kMmaKeys;
        if (it + 1 < nTiles) {  // the next tile's copies, into the other buffer (freed by the last barrier below)
            const int nb = (it + 1) & 1;
            copyTileAsync<DH, kMmaKeys, NT>(Ks + nb * S::tile, K, k0 + kMmaKeys, p.Sk, p.D, tid);
            copyTileAsync<DH, kMmaKeys, NT>(Vs + nb * S::tile, V, k0 + kMmaKeys, p.Sk, p.Dv, tid);
        }
        cuda::conv::cpAsyncCommit();  // possibly empty: one group per tile keeps the wait count fixed
        cuda::conv::cpAsyncWait<1>();  // this tile's group (and, the first time, Q's) has landed
        __syncthreads();
        const __half* Kt = Ks + (it & 1) * S::tile;
        const __half* Vt = Vs + (it & 1) * S::tile;
        if (active) {
            if (it == 0) {
#pragma unroll
                for (int s = 0; s < KS; ++s) cuda::ldmatrixX4(qf[s], Qs + warp * 16 * ld + aOff + s * 16);
            }
            float sc[NS][4];
#pragma unroll
            for (int j = 0; j < NS; ++j)
#pragma unroll
                for (int e = 0; e < 4; ++e) sc[j][e] = 0.f;
#pragma unroll
            for (int jp = 0; jp < NS / 2; ++jp) {  // keys jp * 16 .. + 15: S tiles 2 jp, 2 jp + 1
                if (k0 + jp * 16 >= p.Sk) continue;
#pragma unroll
                for (int s = 0; s < KS; ++s) {
                    uint32_t kb[4];  // {b0, b1} of tile 2 jp, {b0, b1} of tile 2 jp + 1
                    cuda::ldmatrixX4(kb, Kt + jp * 16 * ld + kOff + s * 16);
                    cuda::mmaF16(sc[2 * jp], qf[s], kb[0], kb[1]);
                    cuda::mmaF16(sc[2 * jp + 1], qf[s], kb[2], kb[3]);
                }
            }
            onlineSoftmaxTile(sc, o, m, l, p, maskRow, k0, t4);  // sc: P (FP32)
            // O += P V: key step s covers S tiles 2s and 2s + 1 (their C layout is the m16k16 A layout).
#pragma unroll
            for (int s = 0; s < kMmaKeys / 16; ++s) {
                if (k0 + s * 16 >= p.Sk) continue;  // P is 0 there
                const uint32_t pf[4] = {packHalf2(sc[2 * s][0], sc[2 * s][1]), packHalf2(sc[2 * s][2], sc[2 * s][3]),
                                        packHalf2(sc[2 * s + 1][0], sc[2 * s + 1][1]), packHalf2(sc[2 * s + 1][2], sc[2 * s + 1][3])};
#pragma unroll
                for (int jp = 0; jp < NO / 2; ++jp) {
                    uint32_t vb[4];  // {b0, b1} of O tile 2 jp (columns jp * 16 ..), {b0, b1} of tile 2 jp + 1
                    cuda::ldmatrixX4Trans(vb, Vt + s * 16 * ld + aOff + jp * 16);
                    cuda::mmaF16(o[2 * jp], pf, vb[0], vb[1]);
                    cuda::mmaF16(o[2 * jp + 1], pf, vb[2], vb[3]);
                }
            }
        }
        __syncthreads();  // this tile's buffers are consumed: the next iteration's copies may overwrite them
    }
    cuda::conv::cpAsyncWait<0>();  // nothing is left in flight (the last groups are empty)

    if (!active) return;
    __half* __restrict__ O = static_cast<__half*>(p.o) + static_cast<int64_t>(b) * p.Sq * p.Dv;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        l[h] += __shfl_xor_sync(0xffffffffu, l[h], 1);
        l[h] += __shfl_xor_sync(0xffffffffu, l[h], 2);
        const int q = q0 + warp * 16 + g + h * 8;
        if (q >= p.Sq) continue;
        const float inv = 1.f / l[h];  // l = 0 (no keys, or all masked): NaN, as the unfused softmax gives
#pragma unroll
        for (int j = 0; j < NO; ++j) {
            const int col = j * 8 + 2 * t4;  // Dv % 8 == 0: col < Dv implies col + 1 < Dv; (q Dv + col) even: 4-byte aligned
            if (col < p.Dv)
                *reinterpret_cast<__half2*>(O + static_cast<int64_t>(q) * p.Dv + col) = __floats2half2_rn(o[j][2 * h] * inv, o[j][2 * h + 1] * inv);
        }
    }
#else
    __trap();  // not offered below sm_80
#endif
}

template <int DH, int WARPS>
void launchMma2(AttnParams p, int64_t count, cudaStream_t s) {
    const size_t smem = Mma2Smem<DH>::bytes(WARPS);
    if (smem > 48 * 1024) {
        const cudaError_t e = cudaFuncSetAttribute(attentionMma2<DH, WARPS>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
        GIE_CHECK(e == cudaSuccess, ErrorCode::kUNSUPPORTED, "Attention (GPU): ", smem, " bytes of shared memory per block: ", cudaGetErrorString(e));
    }
    p.qTiles = static_cast<int>(cuda::ceilDiv(p.Sq, 16 * WARPS));
    attentionMma2<DH, WARPS><<<static_cast<unsigned>(count * p.qTiles), WARPS * 32, smem, s>>>(p);
    cuda::checkLaunch("attentionMma2");
}

template <int DH>
void launchMma(AttnParams p, int64_t count, cudaStream_t s) {
    const size_t smem = MmaSmem<DH>::bytes;
    if (smem > 48 * 1024) {
        const cudaError_t e = cudaFuncSetAttribute(attentionMma<DH>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
        GIE_CHECK(e == cudaSuccess, ErrorCode::kUNSUPPORTED, "Attention (GPU): ", smem, " bytes of shared memory per block: ", cudaGetErrorString(e));
    }
    p.qTiles = static_cast<int>(cuda::ceilDiv(p.Sq, kMmaRows));
    attentionMma<DH><<<static_cast<unsigned>(count * p.qTiles), 128, smem, s>>>(p);
    cuda::checkLaunch("attentionMma");
}

template <typename T, int DVC>
void launchFlash(const AttnParams& p, int64_t count, cudaStream_t s) {
    const size_t smem = (static_cast<size_t>(kQueryTile) * p.Dp + static_cast<size_t>(kKeyTile) * p.ldk + kKeyTile * DVC * 32) * sizeof(float);
    if (smem > 48 * 1024) {
        const cudaError_t e = cudaFuncSetAttribute(attentionFlash<T, DVC>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
        GIE_CHECK(e == cudaSuccess, ErrorCode::kUNSUPPORTED, "Attention (GPU): ", smem, " bytes of shared memory per block: ", cudaGetErrorString(e));
    }
    attentionFlash<T, DVC><<<static_cast<unsigned>(count * p.qTiles), kWarps * 32, smem, s>>>(p);
    cuda::checkLaunch("attentionFlash");
}

class AttentionGpu final : public cuda::FloatOrHalfKernel<AttentionGpu, AttentionOp> {
public:
    using FloatOrHalfKernel::FloatOrHalfKernel;
    enum Tactic : int32_t { kSimt = 0, kMma, kMma2Rows64, kMma2Rows32, kNbTactics };
    int32_t getNbTactics() const noexcept override { return kNbTactics; }
    const char* getTacticName(int32_t t) const noexcept override {
        switch (t) {
            case kSimt: return "attention_flash_16x32";
            case kMma: return "attention_flash_mma_64x64";
            case kMma2Rows64: return "attention_flash_mma2_64x64";
            case kMma2Rows32: return "attention_flash_mma2_32x64";
            default: return "invalid";
        }
    }
    int32_t setTactic(int32_t t) noexcept override {
        if (t < 0 || t >= kNbTactics) return -1;
        if (t == kMma && !mmaOk_) return -1;
        if ((t == kMma2Rows64 || t == kMma2Rows32) && !mma2Ok_) return -1;
        tactic_ = t;
        return 0;
    }
    int32_t getTactic() const noexcept override { return tactic_; }

protected:
    void configureKernel(const TensorDesc* in, int32_t nbIn, const TensorDesc*, int32_t) override {
        const AttentionOp::Problem p = problemOf(in, nbIn);  // the largest shapes this kernel will run
        GIE_CHECK(p.D <= kAttentionGpuMaxHead && p.Dv <= kAttentionGpuMaxHead, ErrorCode::kUNSUPPORTED, "Attention (GPU): heads of D = ", p.D,
                  ", Dv = ", p.Dv, "; the kernel takes up to ", kAttentionGpuMaxHead);
        try {
            mmaOk_ = in[0].type == DataType::kHALF && p.D <= 128 && p.Dv <= 128 && cuda::deviceProps().major >= 8;
        } catch (...) {
            mmaOk_ = false;  // no device to ask: the SIMT kernel only
        }
        // The pipelined tactics copy 16-byte chunks of 8 halves: whole chunks per row and a plain K only.
        mma2Ok_ = mmaOk_ && p.D % 8 == 0 && p.Dv % 8 == 0 && !op_.transK;
        GIE_CHECK(p.Sq < (int64_t{1} << 30) && p.Sk < (int64_t{1} << 30) && p.count * cuda::ceilDiv(p.Sq, kQueryTile) < (int64_t{1} << 31),
                  ErrorCode::kUNSUPPORTED, "Attention (GPU): ", p.count, " matrices of ", p.Sq, " x ", p.Sk, " scores are too many");
    }
    void run(const KernelCall& c) const override {
        const AttentionOp::Problem pr = problemOf(c.inDesc, c.nbInputs);
        if (pr.count == 0 || pr.Sq == 0 || pr.Dv == 0) return;
        AttnParams p{};
        p.q = c.inputs[0];
        p.k = c.inputs[1];
        p.v = c.inputs[2];
        p.mask = pr.hasMask ? c.inputs[3] : nullptr;
        p.o = c.outputs[0];
        p.Sq = static_cast<int>(pr.Sq);
        p.Sk = static_cast<int>(pr.Sk);
        p.D = static_cast<int>(pr.D);
        p.Dv = static_cast<int>(pr.Dv);
        p.Dp = (p.D + 3) / 4 * 4;
        p.ldk = p.Dp + ((p.Dp / 4) % 2 == 0 ? 4 : 0);
        p.qTiles = static_cast<int>(cuda::ceilDiv(pr.Sq, kQueryTile));
        p.transK = op_.transK;
        p.scaleLog2 = op_.scale(pr.D) * kLog2e;
        p.nb = pr.batch.nbDims;
        for (int i = 0; i < p.nb; ++i) {
            p.bsize[i] = static_cast<int>(pr.batch.d[i]);
            p.mstride[i] = pr.maskBatchStride[i];
        }
        p.mq = pr.maskQStride;
        p.mk = pr.maskKStride;
        cudaStream_t s = cuda::streamOf(c);
        const bool half = cuda::halfCall(c);
        const bool mma2 = tactic_ == kMma2Rows64 || tactic_ == kMma2Rows32;
        if (half && (tactic_ == kMma || mma2) && pr.D <= 128 && pr.Dv <= 128) {
            const int64_t dh = std::max(pr.D, pr.Dv);
            // mma2 with a pointer that is not 16-byte aligned (or heads that changed since configure): attentionMma,
            // the same results without the 16-byte copies.
            if (mma2 && pr.D % 8 == 0 && pr.Dv % 8 == 0 && !p.transK && cuda::aligned16(p.q, p.k, p.v, p.o)) {
                const bool rows64 = tactic_ == kMma2Rows64;
                if (dh <= 32) rows64 ? launchMma2<32, 4>(p, pr.count, s) : launchMma2<32, 2>(p, pr.count, s);
                else if (dh <= 64) rows64 ? launchMma2<64, 4>(p, pr.count, s) : launchMma2<64, 2>(p, pr.count, s);
                else rows64 ? launchMma2<128, 4>(p, pr.count, s) : launchMma2<128, 2>(p, pr.count, s);
                return;
            }
            if (dh <= 32) launchMma<32>(p, pr.count, s);
            else if (dh <= 64) launchMma<64>(p, pr.count, s);
            else launchMma<128>(p, pr.count, s);
            return;
        }
        const int dvc = p.Dv <= 32 ? 1 : p.Dv <= 64 ? 2 : p.Dv <= 128 ? 4 : 8;
        switch (dvc) {
            case 1: half ? launchFlash<__half, 1>(p, pr.count, s) : launchFlash<float, 1>(p, pr.count, s); break;
            case 2: half ? launchFlash<__half, 2>(p, pr.count, s) : launchFlash<float, 2>(p, pr.count, s); break;
            case 4: half ? launchFlash<__half, 4>(p, pr.count, s) : launchFlash<float, 4>(p, pr.count, s); break;
            default: half ? launchFlash<__half, 8>(p, pr.count, s) : launchFlash<float, 8>(p, pr.count, s); break;
        }
    }

private:
    AttentionOp::Problem problemOf(const TensorDesc* in, int32_t nbIn) const {
        std::vector<Dims> dims;
        for (int32_t i = 0; i < nbIn; ++i) dims.push_back(in[i].dims);
        return op_.problem(dims);
    }

    int32_t tactic_ = kSimt;
    bool mmaOk_ = false;   // FP16, heads up to 128, sm_80+ (configure)
    bool mma2Ok_ = false;  // and D % 8 == 0, Dv % 8 == 0, K not transposed
};
GIE_REGISTER_KERNEL(AttentionGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
