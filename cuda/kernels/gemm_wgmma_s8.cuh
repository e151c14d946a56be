// The Hopper (sm_90a) INT8 GEMM of the wgmma INT8 tactics (docs/int8.md "Hopper tactics"): D[M x N] = A[M x K] *
// B[N x K]^T with s8 operands and exact INT32 accumulation (wgmma.mma_async m64nNk32 .s32.s8.s8, N = BN = 128 or 64), followed by the
// INT8 kernels' requantizing epilogue (int8_common.cuh requantStore: bias in accumulator units, per-channel scale,
// residual, activation; INT8 CHW4 / INT8 LINEAR / HALF / FLOAT out), so the result is bit-identical to the dp4a and
// mma.sync tactics and to the CPU reference. Users: fully_connected_int8.cu (tactic wgmma_s8_128x128x128_s4) and
// conv2d_int8.cu (1x1 convolutions, tactics wgmma1x1_s8_128x128x128_s4_chw4 and wgmma1x1_s8_128x64x128_s6_chw4).
//
// The pipeline is the FP16 one of gemm_wgmma_f16.cuh (read its file comment; its mbarrier / TMA / descriptor
// primitives are used from there unchanged): a producer warpgroup fills a ring of STAGES shared-memory stages, two
// consumer warpgroups (64 rows each) issue wgmma from 128B-swizzled K-major tiles. What differs for s8:
//   - integer wgmma takes both operands K-major only (no transpose bits) and K = 32 bytes per instruction. A k-tile is
//     BK = 128 bytes of each row, exactly the FP16 tile's 64 halves: the same 128-byte swizzled rows, the same
//     descriptor (stride byte offset 1024), the k32 step advancing the start address by 32 bytes as the FP16 k16 one.
//   - the accumulator fragment of m64nNk32 .s32 has the .f32 one's layout (warp w: rows 16w..16w+15; lane (g, t):
//     d[4j + 0/1] at row g, columns 8j + 2t, 8j + 2t + 1, d[4j + 2/3] at row g + 8), staged through shared memory as
//     in the FP16 kernel, but as int32 and handed to S8Epilogue (requantStore on groups of 4 channels).
//   - the tensor maps: gemm_wgmma_f16.cu's encodeTensorMap describes FLOAT16 elements; an s8 matrix is described to
//     it as rows of K / 2 "halves" (the TMA copies bytes; K even and the pitch a multiple of 16 bytes, checked by
//     the callers), which moves and zero-fills exactly the same bytes as an 8-bit map would.
//   - A from an INT8 CHW4 tensor (the convolution: GATHER): CHW4 keeps 4 channels of a pixel together, not a pixel's
//     whole reduction, so no TMA box is a K-major tile. The producer warpgroup's 128 threads then gather A instead:
//     thread r copies pixel m0 + r's 32 channel words of the k-tile with cp.async (4 bytes each, zero-filled past
//     the pixels and channels; for a fixed word the warp reads 32 consecutive pixels: 128 contiguous bytes) into the
//     swizzled row r (word w at r * 128 + ((w / 4) ^ (r % 8)) * 16 + (w % 4) * 4), while thread 0 still loads B
//     with TMA. cp.async writes through the generic proxy and wgmma reads through the async proxy, so each thread
//     waits for its copies (cp.async.wait_group), issues fence.proxy.async and only then arrives on the stage's full
//     barrier (count 1 + 128: thread 0's arrive.expect_tx for the B bytes, and every gathering thread). The arrive
//     trails the copies by LAG = STAGES - 2 k-tiles so that loads stay in flight; the consumers release stage s of
//     k-tile kt - STAGES once they consume k-tile kt - STAGES + 1, which the producer announced at iteration
//     kt - STAGES + 1 + LAG <= kt - 1: the producer's wait on empty[] at iteration kt never deadlocks.
// Everything needs sm_90a, like the FP16 kernels (GIE_WGMMA_DEVICE; the host offers the tactics only where
// wgmma::available()).
#pragma once

#include <cstdint>
#include <vector>

#include "gemm_wgmma_f16.cuh"
#include "int8_common.cuh"
#include "kernels/int8_cpu.h"

namespace gie {
namespace cuda {
namespace wgmma {

// ---- tile geometry ------------------------------------------------------------------------------------------

//! BN 128 (one m64n128k32 per k32 step) or 64 (m64n64k32: output-channel counts of 64, frequent in 1x1 convolutions,
//! without half of every tile wasted).
template <int BN_, int STAGES_, bool GATHER_>
struct S8Tile {
    static constexpr int BM = 128, BN = BN_, BK = 128, STAGES = STAGES_;  // BK in bytes (= s8 elements)
    static constexpr bool GATHER = GATHER_;
    static constexpr int LAG = STAGES - 2;                     // GATHER: k-tiles between a copy and its arrive
    static constexpr int CONSUMERS = BM / 64;
    static constexpr int THREADS = 128 * (CONSUMERS + 1);
    static constexpr int A_BYTES = BM * BK, B_BYTES = BN * BK, STAGE_BYTES = A_BYTES + B_BYTES;
    static constexpr int ACC = BN / 2;                         // accumulator registers per thread
    static constexpr int ES = BN + 4;                          // ints per staged epilogue row
    static constexpr int STAGING_BYTES = CONSUMERS * 4 * 16 * ES * 4;
    static constexpr int BARRIER_BYTES = 2 * STAGES * 8;
    static constexpr int SMEM_BYTES = 1024 + STAGES * STAGE_BYTES + STAGING_BYTES + BARRIER_BYTES;
    static_assert(BN == 64 || BN == 128, "one m64n64k32 or m64n128k32 per k32 step");
    static_assert(!GATHER || LAG >= 1, "the gather producer needs at least 3 stages");
    static_assert(STAGE_BYTES % 1024 == 0 && A_BYTES % 1024 == 0, "every stage and operand 1024-byte aligned");
    static_assert(SMEM_BYTES <= 227 * 1024, "fits the opt-in shared memory of an sm_90 block");
};

//! The A operand gathered from INT8 CHW4 (GATHER tiles): pixel m = n * HW + hw of images `xbs` words apart, channel
//! word cw (4 channels) at x + n * xbs + cw * HW + hw; M pixels, C4 words per pixel.
struct Chw4Source {
    const int* x = nullptr;
    int64_t xbs = 0;
    int HW = 1, C4 = 0, M = 0;
};

//! The B operand (weights) of the INT8 wgmma tactics: row k holds output channel k's quantized weights in the byte
//! order of A's rows: c * RS + rs for an INT8 LINEAR input (the CPU's [K][C][RS] order), or the CHW4 order
//! (c / 4) * RS * 4 + rs * 4 + c % 4 (4 channels per word; the padding channels' bytes 0) for an INT8 CHW4 input;
//! rows padded with zeros to `pitch` = a multiple of 16 bytes (the TMA's row pitch).
struct S8Weights {
    std::vector<int8_t> rows;
    int64_t rowBytes = 0, pitch = 0;  // A's row length in bytes (the reduction), B's row pitch
};
inline S8Weights packS8Weights(const cpu::int8cpu::ChannelWeights& w, int64_t K, int64_t C, int64_t RS, bool chw4) {
    S8Weights p;
    p.rowBytes = chw4 ? (C + 3) / 4 * 4 * RS : C * RS;
    p.pitch = (p.rowBytes + 15) / 16 * 16;
    p.rows.assign(static_cast<size_t>(K * p.pitch), 0);
    for (int64_t k = 0; k < K; ++k)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t rs = 0; rs < RS; ++rs)
                p.rows[static_cast<size_t>(k * p.pitch + (chw4 ? (c / 4) * RS * 4 + rs * 4 + c % 4 : c * RS + rs))] =
                    w.q[static_cast<size_t>((k * C + c) * RS + rs)];
    return p;
}

// ---- device primitives (sm_90a) -----------------------------------------------------------------------------

#if GIE_WGMMA_DEVICE
template <int N>
__device__ __forceinline__ void fenceOperands(int (&d)[N]) {
#pragma unroll
    for (int i = 0; i < N; ++i) asm volatile("" : "+r"(d[i])::"memory");
}
//! d += A (64 x 32 s8, descriptor da) * B (32 x 128 s8, descriptor db), both K-major; exact INT32 sums.
__device__ __forceinline__ void mma64x128x32s8(int (&d)[64], uint64_t da, uint64_t db) {
    asm volatile(
        "{\n"
        " .reg .pred p;\n"
        " setp.ne.b32 p, %66, 0;\n"
        " wgmma.mma_async.sync.aligned.m64n128k32.s32.s8.s8 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, "
        "%24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, "
        "%47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
        "%64, %65, p;\n"
        "}\n"
        : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]), "+r"(d[4]), "+r"(d[5]), "+r"(d[6]), "+r"(d[7]), "+r"(d[8]), "+r"(d[9]),
          "+r"(d[10]), "+r"(d[11]), "+r"(d[12]), "+r"(d[13]), "+r"(d[14]), "+r"(d[15]), "+r"(d[16]), "+r"(d[17]), "+r"(d[18]),
          "+r"(d[19]), "+r"(d[20]), "+r"(d[21]), "+r"(d[22]), "+r"(d[23]), "+r"(d[24]), "+r"(d[25]), "+r"(d[26]), "+r"(d[27]),
          "+r"(d[28]), "+r"(d[29]), "+r"(d[30]), "+r"(d[31]), "+r"(d[32]), "+r"(d[33]), "+r"(d[34]), "+r"(d[35]), "+r"(d[36]),
          "+r"(d[37]), "+r"(d[38]), "+r"(d[39]), "+r"(d[40]), "+r"(d[41]), "+r"(d[42]), "+r"(d[43]), "+r"(d[44]), "+r"(d[45]),
          "+r"(d[46]), "+r"(d[47]), "+r"(d[48]), "+r"(d[49]), "+r"(d[50]), "+r"(d[51]), "+r"(d[52]), "+r"(d[53]), "+r"(d[54]),
          "+r"(d[55]), "+r"(d[56]), "+r"(d[57]), "+r"(d[58]), "+r"(d[59]), "+r"(d[60]), "+r"(d[61]), "+r"(d[62]), "+r"(d[63])
        : "l"(da), "l"(db), "r"(1));
}
//! d += A (64 x 32 s8) * B (32 x 64 s8), both K-major.
__device__ __forceinline__ void mma64x64x32s8(int (&d)[32], uint64_t da, uint64_t db) {
    asm volatile(
        "{\n"
        " .reg .pred p;\n"
        " setp.ne.b32 p, %34, 0;\n"
        " wgmma.mma_async.sync.aligned.m64n64k32.s32.s8.s8 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, "
        "%24, %25, %26, %27, %28, %29, %30, %31}, "
        "%32, %33, p;\n"
        "}\n"
        : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]), "+r"(d[4]), "+r"(d[5]), "+r"(d[6]), "+r"(d[7]), "+r"(d[8]), "+r"(d[9]),
          "+r"(d[10]), "+r"(d[11]), "+r"(d[12]), "+r"(d[13]), "+r"(d[14]), "+r"(d[15]), "+r"(d[16]), "+r"(d[17]), "+r"(d[18]),
          "+r"(d[19]), "+r"(d[20]), "+r"(d[21]), "+r"(d[22]), "+r"(d[23]), "+r"(d[24]), "+r"(d[25]), "+r"(d[26]), "+r"(d[27]),
          "+r"(d[28]), "+r"(d[29]), "+r"(d[30]), "+r"(d[31])
        : "l"(da), "l"(db), "r"(1));
}
__device__ __forceinline__ void mmaS8(int (&d)[64], uint64_t da, uint64_t db) { mma64x128x32s8(d, da, db); }
__device__ __forceinline__ void mmaS8(int (&d)[32], uint64_t da, uint64_t db) { mma64x64x32s8(d, da, db); }
//! 4 bytes global -> shared without the register file; src_bytes 0 writes zeros (and reads nothing).
__device__ __forceinline__ void cpAsync4(uint32_t dst, const void* src, uint32_t srcBytes) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(src), "r"(srcBytes) : "memory");
}
__device__ __forceinline__ void cpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cpAsyncWait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}
#endif  // GIE_WGMMA_DEVICE

// ---- the epilogue -------------------------------------------------------------------------------------------

//! Requantizes a warp's staged 16 rows x BN columns of INT32 sums through requantStore, one group of 4 output
//! channels (a CHW4 word) per step. Row m is pixel hw = m % HW of image m / HW (a fully connected layer: HW = 1, one
//! row per image, the output's batch stride its row length). kPixelsFastest: consecutive lanes on consecutive rows
//! (CHW4 / NCHW outputs: 16 consecutive pixels per channel group are contiguous), else on consecutive channel groups
//! (row-major (rows, K) outputs). Channels past K of the last group are CHW4 padding (requantStore writes them 0).
//! (Outside an anonymous namespace, as the FP16 epilogues: device passes without sm_90a never call it.)
template <bool kPixelsFastest>
struct S8Epilogue {
    int8gpu::Int8Epilogue e;
    int M = 0, K = 0, HW = 1;
    template <int BN>
    __device__ __forceinline__ void store(const int* st, int es, int m0, int n0, int lane) const {
        constexpr int G = BN / 4;  // channel groups per row
#pragma unroll 2
        for (int i = lane; i < 16 * G; i += 32) {
            const int r = kPixelsFastest ? i % 16 : i / G, gq = kPixelsFastest ? i / 16 : i % G;
            const int m = m0 + r, c0 = n0 + gq * 4;
            if (m >= M || c0 >= K) continue;
            const int4 v = *reinterpret_cast<const int4*>(st + r * es + gq * 4);
            const int acc[4] = {v.x, v.y, v.z, v.w};
            const int n = m / HW, pq = m - n * HW;
            int8gpu::requantStore(e, n, c0, pq, HW, acc, c0, min(4, K - c0));
        }
    }
};

// ---- the kernel ---------------------------------------------------------------------------------------------

// The kernel and its host launchers have internal linkage (an unnamed namespace): every translation unit that
// includes this header gets its own instantiation. With external linkage, two .cu files instantiating the same
// <T, Ep> (the INT8 1x1 convolution's NHWC tactic and the INT8 FullyConnected did) share one host stub for two
// device modules, and the launch could reach the module whose copy never got its dynamic shared memory attribute
// (cudaErrorInvalidValue at launch on an H100, depending on which kernel a process ran first).
namespace {

//! Grid: x = M tiles, y = N tiles. tmB: B as rows n of K bytes (box 128 bytes x BN rows). tmA (not GATHER): A as rows
//! m of K bytes (box 128 bytes x BM rows); src (GATHER): A in CHW4. K: the reduction in bytes (A's row length).
template <class T, class Ep>
__global__ void __launch_bounds__(T::THREADS, 1)
    wgmmaS8Kernel(const __grid_constant__ CUtensorMap tmA, const __grid_constant__ CUtensorMap tmB, const Chw4Source src, const Ep ep,
                  int K) {
#if GIE_WGMMA_DEVICE
    extern __shared__ unsigned char smemRaw[];
    unsigned char* smem = smemRaw + ((1024 - (smemAddr(smemRaw) & 1023)) & 1023);
    int* staging = reinterpret_cast<int*>(smem + T::STAGES * T::STAGE_BYTES);
    uint64_t* bars = reinterpret_cast<uint64_t*>(smem + T::STAGES * T::STAGE_BYTES + T::STAGING_BYTES);
    const uint32_t stage0 = smemAddr(smem), full0 = smemAddr(bars), empty0 = full0 + 8 * T::STAGES;

    const int wg = threadIdx.x / 128, tid = threadIdx.x % 128;
    const int m0 = blockIdx.x * T::BM, n0 = blockIdx.y * T::BN;
    const int kTiles = (K + T::BK - 1) / T::BK;
    if (threadIdx.x == 0) {
        for (int s = 0; s < T::STAGES; ++s) {
            barrierInit(full0 + 8 * s, T::GATHER ? 1 + 128 : 1);
            barrierInit(empty0 + 8 * s, T::CONSUMERS * 128);
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();

    if (wg == 0) {  // producer
        if constexpr (T::GATHER) {
            // Thread tid gathers row tid (pixel m0 + tid) of every A tile; its 32 words of k-tile kt are channel
            // words 32kt .. 32kt + 31.
            const int m = m0 + tid;
            const bool mValid = m < src.M;
            const int* xp = src.x;
            if (mValid) {
                const int n = m / src.HW, hw = m - n * src.HW;
                xp = src.x + static_cast<int64_t>(n) * src.xbs + hw;
            }
            const uint32_t rowOff = tid * 128, sw = tid & 7;
            for (int kt = 0; kt < kTiles; ++kt) {
                const int s = kt % T::STAGES;
                barrierWait(empty0 + 8 * s, ((kt / T::STAGES) & 1) ^ 1);
                const uint32_t full = full0 + 8 * s, a = stage0 + s * T::STAGE_BYTES;
                if (tid == 0) {
                    barrierArriveExpectTx(full, T::B_BYTES);
                    tmaLoad2d(a + T::A_BYTES, &tmB, kt * T::BK / 2, n0, full);  // inner coordinate in "halves"
                }
#pragma unroll 8
                for (int w = 0; w < 32; ++w) {
                    const int cw = kt * 32 + w;
                    const bool ok = mValid && cw < src.C4;
                    cpAsync4(a + rowOff + ((((w >> 2) ^ sw) << 4) | ((w & 3) << 2)), ok ? xp + static_cast<int64_t>(cw) * src.HW : src.x,
                             ok ? 4u : 0u);
                }
                cpAsyncCommit();
                if (kt >= T::LAG) {
                    cpAsyncWait<T::LAG>();
                    fenceProxyAsync();
                    barrierArrive(full0 + 8 * ((kt - T::LAG) % T::STAGES));
                }
            }
            cpAsyncWait<0>();
            fenceProxyAsync();
            for (int kt = kTiles > T::LAG ? kTiles - T::LAG : 0; kt < kTiles; ++kt) barrierArrive(full0 + 8 * (kt % T::STAGES));
        } else if (tid == 0) {
            for (int kt = 0; kt < kTiles; ++kt) {
                const int s = kt % T::STAGES;
                barrierWait(empty0 + 8 * s, ((kt / T::STAGES) & 1) ^ 1);
                const uint32_t full = full0 + 8 * s, a = stage0 + s * T::STAGE_BYTES;
                barrierArriveExpectTx(full, T::STAGE_BYTES);
                tmaLoad2d(a, &tmA, kt * T::BK / 2, m0, full);
                tmaLoad2d(a + T::A_BYTES, &tmB, kt * T::BK / 2, n0, full);
            }
        }
        return;
    }

    const int c = wg - 1;  // consumer: rows [64c, 64c + 64) of the tile
    int acc[T::ACC];
#pragma unroll
    for (int i = 0; i < T::ACC; ++i) acc[i] = 0;

    for (int kt = 0; kt < kTiles; ++kt) {
        const int s = kt % T::STAGES;
        barrierWait(full0 + 8 * s, (kt / T::STAGES) & 1);
        __syncwarp();
        const uint32_t a = stage0 + s * T::STAGE_BYTES + c * 64 * 128, b = stage0 + s * T::STAGE_BYTES + T::A_BYTES;
        fenceOperands(acc);
        fence();
#pragma unroll
        for (int k32 = 0; k32 < T::BK / 32; ++k32) mmaS8(acc, descriptor(a + k32 * 32), descriptor(b + k32 * 32));
        commitGroup();
        fenceOperands(acc);
        waitGroup<1>();
        if (kt > 0) barrierArrive(empty0 + 8 * ((kt - 1) % T::STAGES));
    }
    waitGroup<0>();
    fenceOperands(acc);

    const int warp = tid / 32, lane = tid % 32, g = lane / 4, t2 = (lane % 4) * 2;
    int* st = staging + ((c * 4 + warp) * 16) * T::ES;
#pragma unroll
    for (int q = 0; q < T::BN / 8; ++q) {
        *reinterpret_cast<int2*>(st + g * T::ES + q * 8 + t2) = make_int2(acc[4 * q], acc[4 * q + 1]);
        *reinterpret_cast<int2*>(st + (g + 8) * T::ES + q * 8 + t2) = make_int2(acc[4 * q + 2], acc[4 * q + 3]);
    }
    __syncwarp();
    ep.template store<T::BN>(st, T::ES, m0 + c * 64 + warp * 16, n0, lane);
#else
    __trap();  // never offered without sm_90a code (available())
#endif
}

//! Allows the kernel its dynamic shared memory (host, idempotent; call at initialize, outside stream capture).
template <class T, class Ep>
void prepareS8() {
    GIE_CUDA_CHECK(cudaFuncSetAttribute(wgmmaS8Kernel<T, Ep>, cudaFuncAttributeMaxDynamicSharedMemorySize, T::SMEM_BYTES));
}

//! An s8 matrix of `rows` rows of `bytes` bytes (even), `pitchBytes` apart (a multiple of 16), as a tensor map of
//! 128-byte x boxRows boxes (see the file comment: described as halves to the FP16 encoder).
inline void encodeS8Map(CUtensorMap* map, const void* base, int64_t bytes, int64_t rows, int64_t pitchBytes, int boxRows) {
    GIE_CHECK(bytes % 2 == 0 && pitchBytes % 16 == 0, ErrorCode::kINTERNAL, "wgmma INT8: rows of ", bytes, " bytes, ", pitchBytes,
              " apart, cannot be a tensor map");
    encodeTensorMap(map, base, static_cast<uint64_t>(bytes / 2), static_cast<uint64_t>(rows), static_cast<uint64_t>(pitchBytes), 64,
                    static_cast<uint32_t>(boxRows));
}

//! Launches the tiles of an M x N output over K bytes (a: ignored for GATHER tiles).
template <class T, class Ep>
void launchS8(const CUtensorMap& a, const CUtensorMap& b, const Chw4Source& src, const Ep& ep, int64_t M, int64_t N, int K,
              cudaStream_t stream) {
    GIE_CHECK(ceilDiv(N, T::BN) <= 65535 && ceilDiv(M, T::BM) <= 0x7fffffff, ErrorCode::kUNSUPPORTED, "wgmma INT8 GEMM: ", M, " x ", N,
              " output is too large for one grid");
    const dim3 grid(static_cast<unsigned>(ceilDiv(M, T::BM)), static_cast<unsigned>(ceilDiv(N, T::BN)));
    wgmmaS8Kernel<T, Ep><<<grid, T::THREADS, T::SMEM_BYTES, stream>>>(a, b, src, ep, K);
    checkLaunch("wgmmaS8Kernel");
}

}  // namespace
}  // namespace wgmma
}  // namespace cuda
}  // namespace gie
