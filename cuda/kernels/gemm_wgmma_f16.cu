// Host side of the Hopper wgmma GEMM (gemm_wgmma_f16.cuh): the availability check, the tensor-map encoder reached
// through the runtime's driver entry point (gie does not link libcuda), and the GEMM tactics hgemm_wgmma_128x128x64_s4
// and hgemm_wgmma_persist_128x128x64_s4 (gemm_wgmma_f16_persistent.cuh) of gemm.cuh
// (FullyConnected: C = act(A * B^T + bias), A [M][K] and B [N][K] half, K-contiguous).
#include <cudaTypedefs.h>

#include <mutex>

#include "gemm.cuh"
#include "gemm_wgmma_f16.cuh"
#include "gemm_wgmma_f16_persistent.cuh"

namespace gie {
namespace cuda {
namespace wgmma {
namespace {

//! Writes 1 when this binary's code for the running device was compiled with the sm_90a features.
__global__ void probeKernel(int* out) {
#if GIE_WGMMA_DEVICE
    *out = 1;
#else
    *out = 0;
#endif
}

PFN_cuTensorMapEncodeTiled_v12000 encodeFn() {
    static PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
        void* p = nullptr;
        cudaDriverEntryPointQueryResult q = cudaDriverEntryPointSymbolNotFound;
#if CUDART_VERSION >= 12050
        cudaError_t e = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q);
#else
        cudaError_t e = cudaGetDriverEntryPoint("cuTensorMapEncodeTiled", &p, cudaEnableDefault, &q);
#endif
        if (e != cudaSuccess || q != cudaDriverEntryPointSuccess) {
            cudaGetLastError();
            p = nullptr;
        }
        return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(p);
    }();
    return fn;
}

bool probe() {
    const cudaDeviceProp& pr = deviceProps();
    if (pr.major != 9 || pr.minor != 0 || !encodeFn()) return false;  // sm_90a code runs on compute capability 9.0 only
    int* d = nullptr;
    int h = 0;
    cudaStream_t s = nullptr;
    bool ok = cudaMalloc(&d, sizeof(int)) == cudaSuccess && cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess;
    if (ok) {
        probeKernel<<<1, 1, 0, s>>>(d);
        ok = cudaGetLastError() == cudaSuccess && cudaMemcpyAsync(&h, d, sizeof(int), cudaMemcpyDeviceToHost, s) == cudaSuccess &&
             cudaStreamSynchronize(s) == cudaSuccess;
    }
    if (s) cudaStreamDestroy(s);
    if (d) cudaFree(d);
    cudaGetLastError();
    return ok && h == 1;
}

}  // namespace

bool available() noexcept {
    static std::mutex m;
    static int known[64] = {};  // 0: not checked, 1: yes, 2: no
    try {
        int dev = 0;
        if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) {
            cudaGetLastError();
            return false;
        }
        std::lock_guard<std::mutex> lock(m);
        if (!known[dev]) known[dev] = probe() ? 1 : 2;
        return known[dev] == 1;
    } catch (...) {
        return false;  // no device to ask (callers are noexcept)
    }
}

void encodeTensorMap(CUtensorMap* map, const void* base, uint64_t inner, uint64_t rows, uint64_t pitchBytes, uint32_t boxInner,
                     uint32_t boxRows) {
    PFN_cuTensorMapEncodeTiled_v12000 fn = encodeFn();
    GIE_CHECK(fn, ErrorCode::kINTERNAL, "wgmma: the driver has no cuTensorMapEncodeTiled");
    const cuuint64_t dims[2] = {inner, rows};
    const cuuint64_t strides[1] = {pitchBytes};
    const cuuint32_t box[2] = {boxInner, boxRows};
    const cuuint32_t elementStrides[2] = {1, 1};
    const CUresult r = fn(map, CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 2, const_cast<void*>(base), dims, strides, box, elementStrides,
                          CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                          CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    GIE_CHECK(r == CUDA_SUCCESS, ErrorCode::kINTERNAL, "wgmma: cuTensorMapEncodeTiled failed (error ", static_cast<int>(r), ") for ", rows,
              " rows of ", inner, " halves, pitch ", pitchBytes, " bytes, box ", boxInner, " x ", boxRows);
}

}  // namespace wgmma

namespace gemm {

using WgmmaTile = wgmma::Tile<128, 4>;

//! (Outside an anonymous namespace: the device passes without sm_90a never call it, and would warn about an unused
//! internal function.) The GEMM epilogue of a staged 16 x 128 slab: C[m][n] = half(act(acc + bias)), consecutive lanes on consecutive
//! columns (coalesced stores at any ldc).
struct WgmmaGemmEpilogue {
    Params p;
    __device__ __forceinline__ void store(const float* st, int es, int m0, int n0, int lane) const {
        __half* __restrict__ C = static_cast<__half*>(p.C);
#pragma unroll 4
        for (int i = lane; i < 16 * 128; i += 32) {
            const int r = i / 128, col = i % 128, m = m0 + r, n = n0 + col;
            if (m < p.M && n < p.N) C[static_cast<int64_t>(m) * p.ldc + n] = __float2half_rn(detail::epilogue(p, st[r * es + col], m, n));
        }
    }
};

//! The persistent tactic's epilogue (same contract and results as WgmmaGemmEpilogue, cheaper): lane l owns columns
//! n0 + 4l .. n0 + 4l + 3 of the slab: their biases are read once, each row is one float4 read of the slab and one
//! 8-byte store of 4 halves (a warp stores 256 contiguous bytes of a row) where the row is 8-byte aligned and the 4
//! columns exist, element-wise otherwise. ACT: the activation fixed at compile time (an ActivationType value, or
//! kNoActivation), or kEpActAny for the run-time switch of detail::epilogue (the same function either way, so the
//! same results). The bias is per column or absent (FullyConnected's modes).
constexpr int kEpActAny = -100;
template <int ACT>
struct WgmmaFcEpilogue {
    Params p;
    bool vec;  //!< C and ldc allow 8-byte stores of 4 consecutive columns
    __device__ __forceinline__ float act(float v) const {
        if constexpr (ACT == kEpActAny) return applyAct(p.act, v, p.alpha, p.beta);
        else if constexpr (ACT == static_cast<int>(kNoActivation)) return v;
        else return activation<static_cast<ActivationType>(ACT)>(v, p.alpha, p.beta);
    }
    __device__ __forceinline__ void store(const float* st, int es, int m0, int n0, int lane) const {
        const int n = n0 + 4 * lane;
        if (n >= p.N) return;
        const bool bias = p.biasMode == kBiasPerColumn;
        float b[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) b[e] = bias && n + e < p.N ? __ldg(p.bias + n + e) : 0.f;
        const bool whole = vec && n + 3 < p.N;
        __half* __restrict__ C = static_cast<__half*>(p.C) + n;
#pragma unroll 4
        for (int r = 0; r < 16; ++r) {
            const int m = m0 + r;
            if (m >= p.M) break;
            const float4 v = *reinterpret_cast<const float4*>(st + r * es + 4 * lane);
            // (no bias: nothing added, so that a -0 sum stays -0 as in detail::epilogue)
            const float y[4] = {act(bias ? v.x + b[0] : v.x), act(bias ? v.y + b[1] : v.y), act(bias ? v.z + b[2] : v.z),
                                act(bias ? v.w + b[3] : v.w)};
            __half* row = C + static_cast<int64_t>(m) * p.ldc;
            if (whole) {
                const __half2 lo = __floats2half2_rn(y[0], y[1]), hi = __floats2half2_rn(y[2], y[3]);
                uint2 packed;
                packed.x = *reinterpret_cast<const uint32_t*>(&lo);
                packed.y = *reinterpret_cast<const uint32_t*>(&hi);
                *reinterpret_cast<uint2*>(row) = packed;
            } else {
#pragma unroll
                for (int e = 0; e < 4; ++e)
                    if (n + e < p.N) row[e] = __float2half_rn(y[e]);
            }
        }
    }
};

bool wgmmaEligible(const Params& p) {
    return p.half && !p.transA && p.transB && p.batch.count == 1 && p.K > 0 && p.lda % 8 == 0 && p.ldb % 8 == 0 && aligned16(p.A, p.B) &&
           wgmma::available();
}

void prepareWgmma() { wgmma::prepare<WgmmaTile, WgmmaGemmEpilogue>(); }

namespace {
//! The tensor maps of A (M rows of K halves, lda apart) and B (N rows, ldb apart), boxes of one tile's k-slice.
void encodeMaps(const Params& p, CUtensorMap& a, CUtensorMap& b) {
    wgmma::encodeTensorMap(&a, p.A, static_cast<uint64_t>(p.K), static_cast<uint64_t>(p.M), static_cast<uint64_t>(p.lda) * 2,
                           WgmmaTile::BK, WgmmaTile::BM);
    wgmma::encodeTensorMap(&b, p.B, static_cast<uint64_t>(p.K), static_cast<uint64_t>(p.N), static_cast<uint64_t>(p.ldb) * 2,
                           WgmmaTile::BK, WgmmaTile::BN);
}
}  // namespace

void launchWgmma(const Params& p, cudaStream_t stream) {
    static std::once_flag once;
    std::call_once(once, prepareWgmma);
    CUtensorMap a, b;
    encodeMaps(p, a, b);
    wgmma::launch<WgmmaTile>(a, b, WgmmaGemmEpilogue{p}, p.M, p.N, p.K, stream);
}

namespace {
template <int ACT>
void launchPersistentAct(const CUtensorMap& a, const CUtensorMap& b, const Params& p, cudaStream_t stream) {
    const WgmmaFcEpilogue<ACT> ep{p, alignedTo(p.C, 8) && p.ldc % 4 == 0};
    wgmma::launchPersistent<WgmmaTile>(a, b, ep, p.M, p.N, p.K, numSMs(), stream);
}
}  // namespace

void prepareWgmmaPersistent() {
    wgmma::preparePersistent<WgmmaTile, WgmmaFcEpilogue<static_cast<int>(kNoActivation)>>();
    wgmma::preparePersistent<WgmmaTile, WgmmaFcEpilogue<static_cast<int>(ActivationType::kRELU)>>();
    wgmma::preparePersistent<WgmmaTile, WgmmaFcEpilogue<static_cast<int>(ActivationType::kGELU)>>();
    wgmma::preparePersistent<WgmmaTile, WgmmaFcEpilogue<kEpActAny>>();
}

void launchWgmmaPersistent(const Params& p, cudaStream_t stream) {
    static std::once_flag once;
    std::call_once(once, prepareWgmmaPersistent);
    CUtensorMap a, b;
    encodeMaps(p, a, b);
    GIE_CHECK(p.biasMode != kBiasPerRow, ErrorCode::kINTERNAL, "hgemm_wgmma_persist: per-row bias is not supported");
    switch (p.act) {  // the activations a transformer / ConvNeXt MLP fuses, compiled in; the others by the run-time switch
        case static_cast<int>(kNoActivation): launchPersistentAct<static_cast<int>(kNoActivation)>(a, b, p, stream); break;
        case static_cast<int>(ActivationType::kRELU): launchPersistentAct<static_cast<int>(ActivationType::kRELU)>(a, b, p, stream); break;
        case static_cast<int>(ActivationType::kGELU): launchPersistentAct<static_cast<int>(ActivationType::kGELU)>(a, b, p, stream); break;
        default: launchPersistentAct<kEpActAny>(a, b, p, stream); break;
    }
}

}  // namespace gemm
}  // namespace cuda
}  // namespace gie
