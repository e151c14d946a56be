// FP32 implicit-GEMM convolution on tensor cores with 3xTF32 error compensation (sm_80+), for convolution.cu.
//
// Each FP32 operand x is split into big = tf32(x) and small = tf32(x - big) (x - big is exact in FP32), and
//   a*b ~= a_small*b_big + a_big*b_small + a_big*b_big
// with FP32 accumulation (mma.sync m16n8k8 TF32). The dropped a_small*b_small term is ~2^-22 relative. The
// tensor cores truncate their sums, so each 8-deep slice's three MMAs start from zero and are added to the
// accumulator with an ordinary (rounded) FP32 add. The result has FP32-level accuracy (unlike plain TF32, which keeps only 10 mantissa bits), at three
// tensor-core MMAs per product instead of one CUDA-core FMA. The weights are split once on the host
// (tf32Round, two packed arrays); the activations are split in registers after the shared-memory load.
//
// Same GEMM view, loaders, split-K and epilogue as conv_implicit_gemm.cuh. Block tile BM x BN x BK, warps of
// WM x WN (MT = WM/16 by NT = WN/8 MMA tiles each). Shared rows are padded to BM+8 / BN+8 floats so that the
// fragment loads (row tq, column gq of an 8-row slab) hit 32 distinct banks. Stage layout:
// [A big: BK x AS][A small: BK x AS][B: BK x BS].
#pragma once

#include <cstring>

#include "conv_implicit_gemm.cuh"

namespace gie {
namespace cuda {
namespace conv {

//! Host rounding to TF32 exactly as cvt.rna.tf32.f32 (nearest, ties away from zero; low 13 bits cleared).
inline float tf32Round(float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;  // (inf / nan unchanged)
    float r;
    std::memcpy(&r, &u, 4);
    return r;
}

__device__ __forceinline__ void splitTf32(float x, uint32_t& big, uint32_t& small) {
    asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(big) : "f"(x));
    const float rest = x - __uint_as_float(big);
    asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(small) : "f"(rest));
}

//! d += a * b, one m16n8k8 TF32 MMA with FP32 accumulation.
__device__ __forceinline__ void mmaTf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
    asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

template <int BM, int BN, int BK, int WM, int WN, int STAGES>
struct Tf32x3Geometry {
    static constexpr int WARPS_M = BM / WM, WARPS_N = BN / WN;
    static constexpr int T = WARPS_M * WARPS_N * 32;
    static constexpr int MT = WM / 16, NT = WN / 8;
    static constexpr int AS = BM + 8, BS = BN + 8;  // padded shared row strides (floats)
    static constexpr int STAGE_FLOATS = BK * (2 * AS + BS);
    static constexpr int SMEM_BYTES = STAGES * STAGE_FLOATS * 4;
    static constexpr int E_ROWS = WARPS_M * 16;     // rows staged per epilogue pass (one MMA row slab per warp row)
    static constexpr int ES = BN + 8;               // staging row stride
    static_assert(BM % WM == 0 && BN % WN == 0 && WM % 16 == 0 && WN % 8 == 0 && BK % 8 == 0, "tile geometry");
    static_assert(BM % 32 == 0 && BN % 32 == 0, "bank-conflict-free padding needs BM, BN multiples of 32");
    static_assert(E_ROWS * ES <= STAGES * STAGE_FLOATS, "epilogue staging does not fit");
};

template <int BM, int BN, int BK, int WM, int WN, int STAGES, bool VEC1X1, int MINB, typename E = float>
__global__ void __launch_bounds__((BM / WM) * (BN / WN) * 32, MINB) convGemmTf32x3Kernel(const GemmArgs a) {
    using Geo = Tf32x3Geometry<BM, BN, BK, WM, WN, STAGES>;
    constexpr int T = Geo::T, MT = Geo::MT, NT = Geo::NT, AS = Geo::AS, BS = Geo::BS;
    using Loader = GemmTileLoader<BM, BN, BK, T, AS, BS, VEC1X1, true, E>;
    constexpr int B_OFF = 2 * BK * AS;  // B's offset in a stage

    extern __shared__ __align__(16) float smem[];  // STAGES x {A big, A small, B}; reused by the epilogue

    const int tid = threadIdx.x;
    const int lane = tid & 31, warp = tid >> 5;
    const int wm = warp % Geo::WARPS_M, wn = warp / Geo::WARPS_M;
    const int gq = lane >> 2, tq = lane & 3;  // MMA fragment coordinates
    const BlockTile bt(a, BM, BN);
    const int m0 = bt.m0, n0 = bt.n0;
    const SplitRange kr(a, BK);
    const Loader loader(a, tid, n0, m0, kr.g);

    float acc[MT][NT][4];
#pragma unroll
    for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int j = 0; j < NT; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

#pragma unroll
    for (int st = 0; st < STAGES - 1; ++st) {
        if (st < kr.count) loader.load(a, smem + st * Geo::STAGE_FLOATS, smem + st * Geo::STAGE_FLOATS + B_OFF, kr.begin + st, tid);
        cpAsyncCommit();
    }
    for (int it = 0; it < kr.count; ++it) {
        cpAsyncWait<STAGES - 2>();
        __syncthreads();  // tile `it` is visible to all; everyone is done with the stage reloaded below
        const int next = it + STAGES - 1;
        if (next < kr.count) {
            float* st = smem + (next % STAGES) * Geo::STAGE_FLOATS;
            loader.load(a, st, st + B_OFF, kr.begin + next, tid);
        }
        cpAsyncCommit();
        const float* as = smem + (it % STAGES) * Geo::STAGE_FLOATS + wm * WM + gq;
        const float* bs = smem + (it % STAGES) * Geo::STAGE_FLOATS + B_OFF + wn * WN + gq;
#pragma unroll
        for (int k8 = 0; k8 < BK; k8 += 8) {
            uint32_t bBig[NT][2], bSmall[NT][2];
#pragma unroll
            for (int nt = 0; nt < NT; ++nt) {
                splitTf32(bs[(k8 + tq) * BS + nt * 8], bBig[nt][0], bSmall[nt][0]);
                splitTf32(bs[(k8 + tq + 4) * BS + nt * 8], bBig[nt][1], bSmall[nt][1]);
            }
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
                // Fragment (rows gq, gq+8; columns tq, tq+4) of the pre-split weights.
                const float* ap = as + mt * 16 + (k8 + tq) * AS;
                const uint32_t aBig[4] = {__float_as_uint(ap[0]), __float_as_uint(ap[8]), __float_as_uint(ap[4 * AS]),
                                          __float_as_uint(ap[4 * AS + 8])};
                ap += BK * AS;
                const uint32_t aSmall[4] = {__float_as_uint(ap[0]), __float_as_uint(ap[8]), __float_as_uint(ap[4 * AS]),
                                            __float_as_uint(ap[4 * AS + 8])};
#pragma unroll
                for (int nt = 0; nt < NT; ++nt) {
                    // The tensor cores add with truncation (no rounding to nearest), so a long accumulation
                    // drifts toward zero by about K ulps. Each 8-deep slice is summed on its own and added to
                    // the accumulator with a rounded FP32 add, which keeps the error at FP32 level.
                    float part[4] = {0.f, 0.f, 0.f, 0.f};
                    mmaTf32(part, aSmall, bBig[nt]);
                    mmaTf32(part, aBig, bSmall[nt]);
                    mmaTf32(part, aBig, bBig[nt]);
#pragma unroll
                    for (int e = 0; e < 4; ++e) acc[mt][nt][e] += part[e];
                }
            }
        }
    }
    cpAsyncWait<0>();

    // ---- epilogue: pass mt stages MMA row slab mt of every warp row (E_ROWS rows) ----
    const GemmEpilogue<BN, T> epi(a, tid, n0);
    __syncthreads();  // every warp is done reading the pipeline buffers
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
            float* row = smem + (wm * 16 + gq) * Geo::ES + wn * WN + nt * 8 + 2 * tq;
            *reinterpret_cast<float2*>(row) = make_float2(acc[mt][nt][0], acc[mt][nt][1]);
            *reinterpret_cast<float2*>(row + 8 * Geo::ES) = make_float2(acc[mt][nt][2], acc[mt][nt][3]);
        }
        __syncthreads();
        epi.template store<Geo::E_ROWS, Geo::ES, E>(a, smem, tid, kr.g, kr.split,
                                                  [&](int sr) { return m0 + (sr / 16) * WM + mt * 16 + sr % 16; });
        __syncthreads();  // the stage is rewritten by the next pass
    }
}

//! One 3xTF32 tile configuration. prepare() (once per process and device, outside any stream capture)
//! allows its dynamic shared memory.
template <int BM_, int BN_, int BK_, int WM_, int WN_, int STAGES_, int MINB_>
struct GemmTileTf32x3 {
    using Geo = Tf32x3Geometry<BM_, BN_, BK_, WM_, WN_, STAGES_>;
    static constexpr int BM = BM_, BN = BN_, BK = BK_, kThreads = Geo::T;
    static constexpr bool kSplitWeights = true;  // reads tf32(w) and tf32(w - tf32(w)) (GemmArgs::smallOffset)
    template <typename E = float>
    static void prepare() {
        GIE_CUDA_CHECK(cudaFuncSetAttribute(convGemmTf32x3Kernel<BM_, BN_, BK_, WM_, WN_, STAGES_, false, MINB_, E>,
                                            cudaFuncAttributeMaxDynamicSharedMemorySize, Geo::SMEM_BYTES));
        GIE_CUDA_CHECK(cudaFuncSetAttribute(convGemmTf32x3Kernel<BM_, BN_, BK_, WM_, WN_, STAGES_, true, MINB_, E>,
                                            cudaFuncAttributeMaxDynamicSharedMemorySize, Geo::SMEM_BYTES));
    }
    template <bool VEC1X1, typename E = float>
    static void launch(const GemmArgs& args, cudaStream_t stream) {
        GemmArgs a = args;
        const dim3 grid = gemmGrid(a, BM, BN);
        convGemmTf32x3Kernel<BM_, BN_, BK_, WM_, WN_, STAGES_, VEC1X1, MINB_, E><<<grid, kThreads, Geo::SMEM_BYTES, stream>>>(a);
    }
};

}  // namespace conv
}  // namespace cuda
}  // namespace gie
