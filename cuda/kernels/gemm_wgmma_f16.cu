// Host side of the Hopper wgmma GEMM (gemm_wgmma_f16.cuh): the availability check, the tensor-map encoder reached
// through the runtime's driver entry point (gie does not link libcuda), and the GEMM tactic hgemm_wgmma_128x128x64_s4
// of gemm.cuh (FullyConnected: C = act(A * B^T + bias), A [M][K] and B [N][K] half, K-contiguous).
#include <cudaTypedefs.h>

#include <mutex>

#include "gemm.cuh"
#include "gemm_wgmma_f16.cuh"

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

bool wgmmaEligible(const Params& p) {
    return p.half && !p.transA && p.transB && p.batch.count == 1 && p.K > 0 && p.lda % 8 == 0 && p.ldb % 8 == 0 && aligned16(p.A, p.B) &&
           wgmma::available();
}

void prepareWgmma() { wgmma::prepare<WgmmaTile, WgmmaGemmEpilogue>(); }

void launchWgmma(const Params& p, cudaStream_t stream) {
    static std::once_flag once;
    std::call_once(once, prepareWgmma);
    CUtensorMap a, b;
    wgmma::encodeTensorMap(&a, p.A, static_cast<uint64_t>(p.K), static_cast<uint64_t>(p.M), static_cast<uint64_t>(p.lda) * 2,
                           WgmmaTile::BK, WgmmaTile::BM);
    wgmma::encodeTensorMap(&b, p.B, static_cast<uint64_t>(p.K), static_cast<uint64_t>(p.N), static_cast<uint64_t>(p.ldb) * 2,
                           WgmmaTile::BK, WgmmaTile::BN);
    wgmma::launch<WgmmaTile>(a, b, WgmmaGemmEpilogue{p}, p.M, p.N, p.K, stream);
}

}  // namespace gemm
}  // namespace cuda
}  // namespace gie
