// The Hopper (sm_90a) FP16 GEMM core shared by the wgmma tactics (conv2d_wgmma_f16.cu: convolutions in HWC8;
// gemm_wgmma_f16.cu: the FullyConnected GEMM): D[M x N] = A[M x K] * B[N x K]^T, half operands, FP32 accumulation,
// B K-contiguous ("K-major") in global memory with a row pitch that is a multiple of 16 bytes.
//
// One block computes a BM x BN tile (BM = 128) with 1 + CONSUMERS warpgroups (warp specialization):
//   - warpgroup 0 is the producer (a Load policy). TmaA (A K-major in memory too, like B: the GEMM and the 1x1
//     convolution): one thread walks the k-tiles (BK = 64 halves = 128 bytes of a row) and, for each,
//     waits until ring stage s is empty (mbarrier empty[s]), announces the stage's bytes on full[s]
//     (mbarrier.arrive.expect_tx) and issues two TMA loads (cp.async.bulk.tensor.2d) of the A and B boxes into
//     stage s; the copy engine completes full[s] when the bytes have landed. Rows / columns past the tensor's
//     extent (M, N and K tails) are zero-filled by the TMA unit, so the consumers never test bounds. A gathering
//     policy (the general convolution's im2col, conv2d_wgmma_f16.cu) loads B the same way but has the whole
//     warpgroup write A with cp.async into the layout below, each thread arriving on full[s] once its copies are
//     complete and fenced to the async proxy (fenceProxyAsync).
//   - warpgroups 1..CONSUMERS are the consumers: consumer c owns rows [64c, 64c + 64) of the tile. Per k-tile it
//     waits on full[s], issues BK/16 x BN/128 wgmma.mma_async m64n128k16 (A and B from shared memory through
//     matrix descriptors), commits the group, waits until at most the current group is in flight
//     (wgmma.wait_group 1) and then releases the previous k-tile's stage (every consumer thread arrives on empty[]).
// Shared-memory layout: the TMA boxes are written with CU_TENSOR_MAP_SWIZZLE_128B: row r of a box is 128 bytes at
// r * 128, its 16-byte chunk j stored at chunk j ^ (r % 8). That is the wgmma "128B swizzle" K-major canonical
// layout: core matrices of 8 rows x 16 bytes, 8-row groups 1024 bytes apart (the descriptor's stride byte offset),
// the leading byte offset unused (1) because one wgmma's K (16 halves = 32 bytes) stays inside the 128-byte row;
// the k16 step advances the descriptor's start address by 32 bytes (the hardware applies the XOR to the absolute
// address bits, hence every stage is 1024-byte aligned). PTX ISA: "Matrix Descriptor Format" (start address >> 4 in
// bits 0-13, leading byte offset >> 4 in 16-29, stride byte offset >> 4 in 32-45, swizzle mode in 62-63: 1 = 128B).
// Accumulators (PTX ISA, wgmma D fragment of m64nNk16 .f32): warp w of the warpgroup holds rows 16w .. 16w + 15;
// lane (g = lane / 4, t = lane % 4) holds d[4j + 0/1] at row g, columns 8j + 2t, 8j + 2t + 1 and d[4j + 2/3] at
// row g + 8, the same columns. The epilogue stages a warp's 16 rows x 128 columns in shared memory (FP32, its own
// region: no barrier with the other warps) and hands them to the epilogue functor Ep (Ep::store), which writes
// them in the output's layout (the HWC8 convolution epilogue, or the GEMM's bias + activation).
//
// Everything here needs sm_90a (wgmma is arch-specific, not in plain sm_90 code): the device code is compiled only where
// __CUDA_ARCH_FEAT_SM90_ALL is defined (CMAKE_CUDA_ARCHITECTURES containing 90a); other device passes get a trap,
// and the host offers these tactics only when wgmmaAvailable() (an sm_90 device running sm_90a code).
#pragma once

#include <cuda.h>  // CUtensorMap and its enums only: cuTensorMapEncodeTiled is reached through the runtime
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"
#include "pdl.cuh"

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define GIE_WGMMA_DEVICE 1
#else
#define GIE_WGMMA_DEVICE 0
#endif

namespace gie {
namespace cuda {
namespace wgmma {

// ---- host side ----------------------------------------------------------------------------------------------

//! Whether the wgmma tactics can run here: the current device is compute capability 9.0, this binary holds sm_90a
//! code for it (a probe kernel compiled like the GEMM reports __CUDA_ARCH_FEAT_SM90_ALL), and the driver exports
//! cuTensorMapEncodeTiled. Checked once per device; false (never an exception) without a usable GPU.
bool available() noexcept;

//! A 2-D tensor map of a half matrix: `rows` rows of `inner` halves (the K extent: elements past it read as zero),
//! `pitchBytes` apart (a multiple of 16), boxes of boxInner x boxRows with 128-byte swizzle. Throws gie::Error
//! (kINTERNAL) if the driver refuses the description.
void encodeTensorMap(CUtensorMap* map, const void* base, uint64_t inner, uint64_t rows, uint64_t pitchBytes, uint32_t boxInner,
                     uint32_t boxRows);

// ---- tile geometry ------------------------------------------------------------------------------------------

template <int BN_, int STAGES_>
struct Tile {
    static constexpr int BM = 128, BN = BN_, BK = 64, STAGES = STAGES_;
    static constexpr int CONSUMERS = BM / 64;                  // consumer warpgroups, 64 rows each
    static constexpr int THREADS = 128 * (CONSUMERS + 1);      // + the producer warpgroup
    static constexpr int N_SLABS = BN / 128;                   // m64n128k16 instructions per k16 step
    static constexpr int A_BYTES = BM * BK * 2, B_BYTES = BN * BK * 2, STAGE_BYTES = A_BYTES + B_BYTES;
    static constexpr int ES = 128 + 4;                         // floats per staged epilogue row (16-byte multiple)
    static constexpr int STAGING_BYTES = CONSUMERS * 4 * 16 * ES * 4;  // one 16 x 128 slab per consumer warp
    static constexpr int BARRIER_BYTES = 2 * STAGES * 8;
    //! + 1024: the dynamic shared memory is re-aligned to 1024 bytes inside the kernel (the swizzle needs it).
    static constexpr int SMEM_BYTES = 1024 + STAGES * STAGE_BYTES + STAGING_BYTES + BARRIER_BYTES;
    static_assert(BN % 128 == 0 && BN <= 256, "TMA boxes are at most 256 rows; one wgmma covers 128 columns");
    static_assert(STAGE_BYTES % 1024 == 0 && A_BYTES % 1024 == 0, "every stage and operand 1024-byte aligned");
    static_assert(SMEM_BYTES <= 227 * 1024, "fits the opt-in shared memory of an sm_90 block");
};

// ---- device primitives (sm_90a) -----------------------------------------------------------------------------

#if GIE_WGMMA_DEVICE
__device__ __forceinline__ uint32_t smemAddr(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }

__device__ __forceinline__ void barrierInit(uint32_t bar, uint32_t count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
//! Producer: one arrival that also sets the bytes the TMA loads of this phase will complete.
__device__ __forceinline__ void barrierArriveExpectTx(uint32_t bar, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void barrierArrive(uint32_t bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
//! Waits until the phase of parity `parity` has completed (a fresh barrier counts parity 1 as completed: the
//! producer's first pass over the empty ring then does not wait).
__device__ __forceinline__ void barrierWait(uint32_t bar, uint32_t parity) {
    asm volatile(
        "{\n"
        " .reg .pred done;\n"
        "WAIT_%=:\n"
        " mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
        " @!done bra WAIT_%=;\n"
        "}\n" ::"r"(bar),
        "r"(parity)
        : "memory");
}
//! TMA: box at coordinates (inner c0, row c1) of the tensor map into shared memory, completing `bar`'s transaction.
__device__ __forceinline__ void tmaLoad2d(uint32_t dst, const CUtensorMap* map, int c0, int c1, uint32_t bar) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(dst),
        "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(bar)
        : "memory");
}
//! Matrix descriptor of a K-major operand in the 128B-swizzled layout (see the file comment).
__device__ __forceinline__ uint64_t descriptor(uint32_t addr) {
    return static_cast<uint64_t>((addr & 0x3FFFF) >> 4) | (uint64_t(1) << 16) | (uint64_t(1024 >> 4) << 32) | (uint64_t(1) << 62);
}
//! Orders this thread's earlier generic-proxy writes to shared memory (st.shared, completed cp.async) before later
//! async-proxy accesses (wgmma operand reads, TMA): a producer that fills a stage with cp.async runs it between
//! cp.async.wait_group and its arrival on full[].
__device__ __forceinline__ void fenceProxyAsync() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
__device__ __forceinline__ void fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void commitGroup() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void waitGroup() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
//! Keeps the compiler from moving accumulator accesses across the asynchronous wgmma instructions.
__device__ __forceinline__ void fenceOperands(float (&d)[64]) {
#pragma unroll
    for (int i = 0; i < 64; ++i) asm volatile("" : "+f"(d[i])::"memory");
}
//! d += A (64 x 16, descriptor da) * B (16 x 128, descriptor db), both K-major.
__device__ __forceinline__ void mma64x128x16(float (&d)[64], uint64_t da, uint64_t db) {
    asm volatile(
        "{\n"
        " .reg .pred p;\n"
        " setp.ne.b32 p, %66, 0;\n"
        " wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, "
        "%24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, "
        "%47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
        "%64, %65, p, 1, 1, 0, 0;\n"
        "}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]),
          "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]),
          "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]),
          "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]),
          "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]),
          "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]),
          "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "l"(da), "l"(db), "r"(1));
}
#endif  // GIE_WGMMA_DEVICE

// ---- producers ----------------------------------------------------------------------------------------------

//! The shared-memory ring as the producer sees it: stage s at stage0 + s * STAGE_BYTES (A, then B at + A_BYTES;
//! `base` is the same address as a generic pointer), its barriers full[s] at full0 + 8s and empty[s] at empty0 + 8s.
struct Ring {
    unsigned char* base;
    uint32_t stage0, full0, empty0;
};

//! The producer of the GEMM and the 1x1 convolution: A lies in memory as rows of K halves, so one thread loads both
//! operands with TMA (see the file comment). A Load policy provides FULL_ARRIVALS (the arrivals that complete a
//! full[] phase, besides the TMA bytes) and produce<T>(), run by every thread tid of the producer warpgroup.
struct TmaA {
    static constexpr int FULL_ARRIVALS = 1;
    template <class T>
    __device__ __forceinline__ void produce(const CUtensorMap* tmA, const CUtensorMap* tmB, const Ring& ring, int tid, int m0, int n0,
                                            int kTiles) const {
#if GIE_WGMMA_DEVICE
        if (tid != 0) return;
        for (int kt = 0; kt < kTiles; ++kt) {
            const int s = kt % T::STAGES;
            barrierWait(ring.empty0 + 8 * s, ((kt / T::STAGES) & 1) ^ 1);
            const uint32_t full = ring.full0 + 8 * s, a = ring.stage0 + s * T::STAGE_BYTES;
            barrierArriveExpectTx(full, T::STAGE_BYTES);  // boxes are counted whole, zero-filled parts included
            tmaLoad2d(a, tmA, kt * T::BK, m0, full);
            tmaLoad2d(a + T::A_BYTES, tmB, kt * T::BK, n0, full);
        }
#endif
    }
};

// ---- the kernel ---------------------------------------------------------------------------------------------

// The kernel and its host launchers have internal linkage (an unnamed namespace): every translation unit that
// includes this header gets its own instantiation. With external linkage, two .cu files instantiating the same
// <T, Ep> (the INT8 1x1 convolution's NHWC tactic and the INT8 FullyConnected did) share one host stub for two
// device modules, and the launch could reach the module whose copy never got its dynamic shared memory attribute
// (cudaErrorInvalidValue at launch on an H100, depending on which kernel a process ran first).
namespace {

//! Grid: x = M tiles, y = N tiles. tmB: B as rows n of K halves (box 64 x BN); tmA: A as rows m of K halves (box
//! 64 x BM) where Load is TmaA (another Load fills A itself and ignores it). Ep::store(stage, ES, m0, n0, lane) writes
//! a warp's staged 16 rows x 128 columns (FP32, rows ES floats apart) of output rows m0 .. m0 + 15, columns n0 ..
//! n0 + 127; rows / columns past the problem are its to skip.
template <class T, class Load, class Ep>
__global__ void __launch_bounds__(T::THREADS, 1)
    wgmmaGemmKernel(const __grid_constant__ CUtensorMap tmA, const __grid_constant__ CUtensorMap tmB, const Load load, const Ep ep, int K) {
#if GIE_WGMMA_DEVICE
    pdlWaitThenRelease();  // (launched by launchPdl)
    extern __shared__ unsigned char smemRaw[];
    // 1024-byte alignment for the swizzled stages (the launch asks for 1024 bytes of slack).
    unsigned char* smem = smemRaw + ((1024 - (smemAddr(smemRaw) & 1023)) & 1023);
    float* staging = reinterpret_cast<float*>(smem + T::STAGES * T::STAGE_BYTES);
    uint64_t* bars = reinterpret_cast<uint64_t*>(smem + T::STAGES * T::STAGE_BYTES + T::STAGING_BYTES);
    const uint32_t stage0 = smemAddr(smem), full0 = smemAddr(bars), empty0 = full0 + 8 * T::STAGES;

    const int wg = threadIdx.x / 128, tid = threadIdx.x % 128;
    const int m0 = blockIdx.x * T::BM, n0 = blockIdx.y * T::BN;
    const int kTiles = (K + T::BK - 1) / T::BK;
    if (threadIdx.x == 0) {
        for (int s = 0; s < T::STAGES; ++s) {
            barrierInit(full0 + 8 * s, Load::FULL_ARRIVALS);      // the producer's arrivals (+ the TMA bytes)
            barrierInit(empty0 + 8 * s, T::CONSUMERS * 128);      // every consumer thread
        }
        // Make the initialized barriers visible to the other threads and to the async (TMA) proxy.
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();

    if (wg == 0) {  // producer
        load.template produce<T>(&tmA, &tmB, Ring{smem, stage0, full0, empty0}, tid, m0, n0, kTiles);
        return;  // nothing below synchronizes the whole block
    }

    const int c = wg - 1;  // consumer: rows [64c, 64c + 64) of the tile
    float acc[T::N_SLABS][64];
#pragma unroll
    for (int j = 0; j < T::N_SLABS; ++j)
#pragma unroll
        for (int i = 0; i < 64; ++i) acc[j][i] = 0.f;

    for (int kt = 0; kt < kTiles; ++kt) {
        const int s = kt % T::STAGES;
        barrierWait(full0 + 8 * s, (kt / T::STAGES) & 1);
        __syncwarp();  // the lanes leave the wait loop apart; the .aligned wgmma instructions below need them together
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
        // The previous k-tile's group is complete once at most this one is in flight: its stage can be refilled.
        waitGroup<1>();
        if (kt > 0) barrierArrive(empty0 + 8 * ((kt - 1) % T::STAGES));
    }
    waitGroup<0>();
#pragma unroll
    for (int j = 0; j < T::N_SLABS; ++j) fenceOperands(acc[j]);

    // Epilogue: this warp's 16 rows, 128 columns at a time, through its own staging slab.
    const int warp = tid / 32, lane = tid % 32, g = lane / 4, t2 = (lane % 4) * 2;
    float* st = staging + ((c * 4 + warp) * 16) * T::ES;
    const int mw = m0 + c * 64 + warp * 16;
#pragma unroll
    for (int j = 0; j < T::N_SLABS; ++j) {
        __syncwarp();  // the previous slab's reads are done
#pragma unroll
        for (int q = 0; q < 16; ++q) {
            *reinterpret_cast<float2*>(st + g * T::ES + q * 8 + t2) = make_float2(acc[j][4 * q], acc[j][4 * q + 1]);
            *reinterpret_cast<float2*>(st + (g + 8) * T::ES + q * 8 + t2) = make_float2(acc[j][4 * q + 2], acc[j][4 * q + 3]);
        }
        __syncwarp();
        ep.store(st, T::ES, mw, n0 + j * 128, lane);
    }
#else
    __trap();  // never offered without sm_90a code (available())
#endif
}

//! Allows the kernel its dynamic shared memory (host, idempotent; call at initialize, outside stream capture).
template <class T, class Ep, class Load = TmaA>
void prepare() {
    GIE_CUDA_CHECK(cudaFuncSetAttribute(wgmmaGemmKernel<T, Load, Ep>, cudaFuncAttributeMaxDynamicSharedMemorySize, T::SMEM_BYTES));
}

//! Launches the tiles of an M x N output over K (the tensor maps describe A and B; see wgmmaGemmKernel; a Load that
//! gathers A itself is given b again as `a`, unused).
template <class T, class Ep, class Load = TmaA>
void launch(const CUtensorMap& a, const CUtensorMap& b, const Ep& ep, int64_t M, int64_t N, int K, cudaStream_t stream,
            const Load& load = Load{}) {
    GIE_CHECK(ceilDiv(N, T::BN) <= 65535 && ceilDiv(M, T::BM) <= 0x7fffffff, ErrorCode::kUNSUPPORTED, "wgmma GEMM: ", M, " x ", N,
              " output is too large for one grid");
    const dim3 grid(static_cast<unsigned>(ceilDiv(M, T::BM)), static_cast<unsigned>(ceilDiv(N, T::BN)));
    launchPdl("wgmmaGemmKernel", wgmmaGemmKernel<T, Load, Ep>, grid, dim3(T::THREADS), T::SMEM_BYTES, stream, a, b, load, ep, K);
}

}  // namespace
}  // namespace wgmma
}  // namespace cuda
}  // namespace gie
