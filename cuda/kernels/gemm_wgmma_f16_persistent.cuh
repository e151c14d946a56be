// A persistent variant of the Hopper FP16 GEMM core (gemm_wgmma_f16.cuh), for the FullyConnected GEMMs of a short K and
// many rows: ConvNeXt's MLP (K = 96 .. 768 over 12k .. 200k rows) and a ViT's. The tactic that launches it
// (hgemm_wgmma_persist_128x128x64_s4, gemm_wgmma_f16.cu) is timed by the builder against the others; verified on an H100 on
// 2026-12-07 (tests/test_gpu_fp16_gemm.py, compute-sanitizer memcheck clean; bench/fc_f16.py chose it on all 10 ConvNeXt-T /
// ViT-S MLP shapes: docs/gpu.md "Hopper tactics").
//
// Why: the one-tile-per-block kernel holds ~197 KB of shared memory, so one block per SM; with K = 96 a block loads two
// k-tiles, multiplies them and spends most of its life in the epilogue, while the SM's copy engine and tensor cores wait
// for the next block (launch, barrier init, the first TMA round trip). Here a grid of at most one block per SM walks
// the output tiles (tile += gridDim.x; consecutive tiles share their A rows, so neighbouring blocks read A from L2): the
// producer runs ahead through the same 4-stage ring across tile boundaries, so the next tile's operands arrive while
// the consumers store this one. The ring's bookkeeping is the one-tile kernel's with a running k-tile counter `it`
// (stage it % STAGES, phase (it / STAGES) & 1) instead of kt; the consumers release a tile's last stage after
// wgmma.wait_group 0 (the one-tile kernel never needs to). The per-warp staging slab is the same (no block barrier:
// a warp reuses only its own slab), and Ep::store has the same contract.
#pragma once

#include "gemm_wgmma_f16.cuh"

namespace gie {
namespace cuda {
namespace wgmma {
namespace {  // internal linkage, as the one-tile kernel (see there)

//! Grid: x = blocks (<= tiles), each taking tiles blockIdx.x, + gridDim.x, ...; tile t covers rows (t / tilesN) * BM,
//! columns (t % tilesN) * BN. tmA / tmB as for wgmmaGemmKernel with Load = TmaA.
template <class T, class Ep>
__global__ void __launch_bounds__(T::THREADS, 1) wgmmaGemmPersistentKernel(const __grid_constant__ CUtensorMap tmA,
                                                                            const __grid_constant__ CUtensorMap tmB, const Ep ep, int K,
                                                                            int tilesM, int tilesN) {
#if GIE_WGMMA_DEVICE
    extern __shared__ unsigned char smemRaw[];
    unsigned char* smem = smemRaw + ((1024 - (smemAddr(smemRaw) & 1023)) & 1023);
    float* staging = reinterpret_cast<float*>(smem + T::STAGES * T::STAGE_BYTES);
    uint64_t* bars = reinterpret_cast<uint64_t*>(smem + T::STAGES * T::STAGE_BYTES + T::STAGING_BYTES);
    const uint32_t stage0 = smemAddr(smem), full0 = smemAddr(bars), empty0 = full0 + 8 * T::STAGES;

    const int wg = threadIdx.x / 128, tid = threadIdx.x % 128;
    const int kTiles = (K + T::BK - 1) / T::BK;
    const int tiles = tilesM * tilesN;
    if (threadIdx.x == 0) {
        for (int s = 0; s < T::STAGES; ++s) {
            barrierInit(full0 + 8 * s, 1);                   // the producer's arrival (+ the TMA bytes)
            barrierInit(empty0 + 8 * s, T::CONSUMERS * 128);  // every consumer thread
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();

    if (wg == 0) {  // producer: one thread issues every TMA load of every tile of this block
        if (tid != 0) return;
        uint32_t it = 0;
        for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
            const int m0 = (tile / tilesN) * T::BM, n0 = (tile % tilesN) * T::BN;
            for (int kt = 0; kt < kTiles; ++kt, ++it) {
                const uint32_t s = it % T::STAGES;
                barrierWait(empty0 + 8 * s, ((it / T::STAGES) & 1) ^ 1);
                const uint32_t full = full0 + 8 * s, a = stage0 + s * T::STAGE_BYTES;
                barrierArriveExpectTx(full, T::STAGE_BYTES);  // boxes are counted whole, zero-filled parts included
                tmaLoad2d(a, &tmA, kt * T::BK, m0, full);
                tmaLoad2d(a + T::A_BYTES, &tmB, kt * T::BK, n0, full);
            }
        }
        return;
    }

    const int c = wg - 1;  // consumer: rows [64c, 64c + 64) of each tile
    const int warp = tid / 32, lane = tid % 32, g = lane / 4, t2 = (lane % 4) * 2;
    float* st = staging + ((c * 4 + warp) * 16) * T::ES;
    float acc[T::N_SLABS][64];
    uint32_t it = 0;
    for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        const int m0 = (tile / tilesN) * T::BM, n0 = (tile % tilesN) * T::BN;
#pragma unroll
        for (int j = 0; j < T::N_SLABS; ++j)
#pragma unroll
            for (int i = 0; i < 64; ++i) acc[j][i] = 0.f;
        for (int kt = 0; kt < kTiles; ++kt, ++it) {
            const uint32_t s = it % T::STAGES;
            barrierWait(full0 + 8 * s, (it / T::STAGES) & 1);
            __syncwarp();  // the lanes leave the wait loop apart; the .aligned wgmma instructions need them together
            const uint32_t a = stage0 + s * T::STAGE_BYTES + c * 64 * 128, b = stage0 + s * T::STAGE_BYTES + T::A_BYTES;
#pragma unroll
            for (int j = 0; j < T::N_SLABS; ++j) fenceOperands(acc[j]);
            fence();
#pragma unroll
            for (int k16 = 0; k16 < T::BK / 16; ++k16)
#pragma unroll
                for (int j = 0; j < T::N_SLABS; ++j) mma64x128x16(acc[j], descriptor(a + k16 * 32), descriptor(b + j * 128 * 128 + k16 * 32));
            commitGroup();
#pragma unroll
            for (int j = 0; j < T::N_SLABS; ++j) fenceOperands(acc[j]);
            waitGroup<1>();  // the previous k-tile's group is complete: its stage can be refilled
            if (kt > 0) barrierArrive(empty0 + 8 * ((it - 1) % T::STAGES));
        }
        waitGroup<0>();
#pragma unroll
        for (int j = 0; j < T::N_SLABS; ++j) fenceOperands(acc[j]);
        if (kTiles > 0) barrierArrive(empty0 + 8 * ((it - 1) % T::STAGES));  // this tile's last stage

        // Epilogue (as the one-tile kernel's): this warp's 16 rows, 128 columns at a time, through its own slab.
        const int mw = m0 + c * 64 + warp * 16;
#pragma unroll
        for (int j = 0; j < T::N_SLABS; ++j) {
            __syncwarp();  // the previous slab's (or tile's) reads are done
#pragma unroll
            for (int q = 0; q < 16; ++q) {
                *reinterpret_cast<float2*>(st + g * T::ES + q * 8 + t2) = make_float2(acc[j][4 * q], acc[j][4 * q + 1]);
                *reinterpret_cast<float2*>(st + (g + 8) * T::ES + q * 8 + t2) = make_float2(acc[j][4 * q + 2], acc[j][4 * q + 3]);
            }
            __syncwarp();
            ep.store(st, T::ES, mw, n0 + j * 128, lane);
        }
    }
#else
    __trap();  // never offered without sm_90a code (available())
#endif
}

//! Allows the kernel its dynamic shared memory (host, idempotent).
template <class T, class Ep>
void preparePersistent() {
    GIE_CUDA_CHECK(cudaFuncSetAttribute(wgmmaGemmPersistentKernel<T, Ep>, cudaFuncAttributeMaxDynamicSharedMemorySize, T::SMEM_BYTES));
}

//! Launches min(tiles, blocks) blocks over the M x N output (blocks: the SM count; one block per SM fits).
template <class T, class Ep>
void launchPersistent(const CUtensorMap& a, const CUtensorMap& b, const Ep& ep, int64_t M, int64_t N, int K, int blocks,
                      cudaStream_t stream) {
    const int64_t tilesM = ceilDiv(M, T::BM), tilesN = ceilDiv(N, T::BN);
    GIE_CHECK(tilesM * tilesN <= 0x7fffffff, ErrorCode::kUNSUPPORTED, "wgmma GEMM: ", M, " x ", N, " output has too many tiles");
    const int64_t grid = std::max<int64_t>(1, std::min<int64_t>(tilesM * tilesN, blocks));
    wgmmaGemmPersistentKernel<T, Ep><<<static_cast<unsigned>(grid), T::THREADS, T::SMEM_BYTES, stream>>>(
        a, b, ep, K, static_cast<int>(tilesM), static_cast<int>(tilesN));
    checkLaunch("wgmmaGemmPersistentKernel");
}

}  // namespace
}  // namespace wgmma
}  // namespace cuda
}  // namespace gie
