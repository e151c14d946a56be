// GPU ElementWise: two inputs combined with numpy broadcasting, every op and data type of
// kernels/elementwise_cpu.cpp with the same scalar semantics:
//   float32: SUM PROD SUB DIV POW as IEEE float (POW is CUDA powf: within 2 ulp, not always the
//            correctly rounded glibc result); MAX/MIN propagate NaN (np.maximum / np.minimum);
//            FLOOR_DIV / MOD are np.floor_divide / np.remainder (the CPU's float algorithm, step by step).
//   int32:   SUM PROD SUB wrap around; DIV truncates toward zero, FLOOR_DIV / MOD as numpy; x / 0, x // 0 and
//            x % 0 are 0; INT_MIN / -1 wraps to INT_MIN; POW by repeated squaring (wrapping), a negative
//            exponent gives the truncated real result (1 for base 1, +-1 for base -1, else 0).
//   float16: the float32 ops and comparisons on values loaded as float, results rounded to half once at the store.
//   bool:    AND OR XOR on truth values (any non-zero byte is true); EQUAL GREATER LESS on float32, int32
//            or bool (bools compared as 0/1); bool outputs are 0/1 bytes.
//
// The broadcast is planned like the CPU's: size-1 output dims dropped, neighbours that both inputs walk the
// same way merged. Then:
//   rows     the innermost merged dim is >= 32 long: each input either walks it (stride 1) or holds one value
//            over it (stride 0) -- same shape, scalar operand, per-channel / per-row vectors, batch
//            broadcasting. One warp per tile of a row, the row's input offsets computed once per tile;
//            vector loads/stores (float4 / int4 / 4 bytes; 8 halves) when the row length and the pointers allow.
//   general  short innermost dims: one thread per output element over up to 8 collapsed dims (32-bit index
//            math when the output has fewer than 2^31 elements).
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "common.cuh"
#include "fp16.cuh"
#include "layers/elementwise.h"

namespace gie {
namespace {

// ---- scalar semantics (device versions of the CPU's) ----------------------------------------------------

__device__ __forceinline__ float npMax(float a, float b) { return isnan(a) ? a : (isnan(b) ? b : (a >= b ? a : b)); }
__device__ __forceinline__ float npMin(float a, float b) { return isnan(a) ? a : (isnan(b) ? b : (a <= b ? a : b)); }

__device__ __forceinline__ float floatFloorDivMod(float a, float b, float* remainder) {
    float r = fmodf(a, b);
    if (b == 0.f) {
        *remainder = r;
        return __fdiv_rn(a, b);
    }
    float q = __fdiv_rn(__fsub_rn(a, r), b);
    if (r != 0.f) {
        if ((b < 0.f) != (r < 0.f)) {
            r = __fadd_rn(r, b);
            q = __fsub_rn(q, 1.f);
        }
    } else {
        r = copysignf(0.f, b);
    }
    float fq;
    if (q != 0.f) {
        fq = floorf(q);
        if (__fsub_rn(q, fq) > 0.5f) fq = __fadd_rn(fq, 1.f);
    } else {
        fq = copysignf(0.f, __fdiv_rn(a, b));
    }
    *remainder = r;
    return fq;
}

__device__ __forceinline__ float floatFloorDiv(float a, float b) {
    float r;
    return floatFloorDivMod(a, b, &r);
}
__device__ __forceinline__ float floatMod(float a, float b) {
    float r;
    floatFloorDivMod(a, b, &r);
    return r;
}

__device__ __forceinline__ int32_t wrapNeg(int32_t a) { return static_cast<int32_t>(0u - static_cast<uint32_t>(a)); }
__device__ __forceinline__ int32_t intDiv(int32_t a, int32_t b) {
    if (b == 0) return 0;
    if (b == -1) return wrapNeg(a);
    return a / b;
}
__device__ __forceinline__ int32_t intFloorDiv(int32_t a, int32_t b) {
    if (b == 0) return 0;
    if (b == -1) return wrapNeg(a);
    int32_t q = a / b, r = a % b;
    if (r != 0 && ((r < 0) != (b < 0))) --q;
    return q;
}
__device__ __forceinline__ int32_t intMod(int32_t a, int32_t b) {
    if (b == 0 || b == -1) return 0;
    int32_t r = a % b;
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
}
__device__ __forceinline__ int32_t intPow(int32_t base, int32_t e) {
    if (e < 0) return base == 1 ? 1 : base == -1 ? ((e & 1) ? -1 : 1) : 0;
    uint32_t result = 1, b = static_cast<uint32_t>(base);
    uint32_t k = static_cast<uint32_t>(e);
    while (k) {
        if (k & 1u) result *= b;
        b *= b;
        k >>= 1;
    }
    return static_cast<int32_t>(result);
}

// ---- functors: In, Out, operator() ----------------------------------------------------------------------

#define GIE_EW_OP(Name, TIn, TOut, expr)                                                   \
    struct Name {                                                                          \
        using In = TIn;                                                                    \
        using Out = TOut;                                                                  \
        __device__ __forceinline__ TOut operator()(TIn x, TIn z) const { return (expr); }  \
    };

GIE_EW_OP(FSum, float, float, __fadd_rn(x, z))
GIE_EW_OP(FProd, float, float, __fmul_rn(x, z))
GIE_EW_OP(FSub, float, float, __fsub_rn(x, z))
GIE_EW_OP(FDiv, float, float, __fdiv_rn(x, z))
GIE_EW_OP(FMax, float, float, npMax(x, z))
GIE_EW_OP(FMin, float, float, npMin(x, z))
GIE_EW_OP(FPow, float, float, powf(x, z))
GIE_EW_OP(FFloorDiv, float, float, floatFloorDiv(x, z))
GIE_EW_OP(FMod, float, float, floatMod(x, z))
GIE_EW_OP(ISum, int32_t, int32_t, static_cast<int32_t>(static_cast<uint32_t>(x) + static_cast<uint32_t>(z)))
GIE_EW_OP(IProd, int32_t, int32_t, static_cast<int32_t>(static_cast<uint32_t>(x) * static_cast<uint32_t>(z)))
GIE_EW_OP(ISub, int32_t, int32_t, static_cast<int32_t>(static_cast<uint32_t>(x) - static_cast<uint32_t>(z)))
GIE_EW_OP(IDiv, int32_t, int32_t, intDiv(x, z))
GIE_EW_OP(IMax, int32_t, int32_t, x > z ? x : z)
GIE_EW_OP(IMin, int32_t, int32_t, x < z ? x : z)
GIE_EW_OP(IPow, int32_t, int32_t, intPow(x, z))
GIE_EW_OP(IFloorDiv, int32_t, int32_t, intFloorDiv(x, z))
GIE_EW_OP(IMod, int32_t, int32_t, intMod(x, z))
GIE_EW_OP(FEq, float, uint8_t, static_cast<uint8_t>(x == z))
GIE_EW_OP(FGt, float, uint8_t, static_cast<uint8_t>(x > z))
GIE_EW_OP(FLt, float, uint8_t, static_cast<uint8_t>(x < z))
GIE_EW_OP(IEq, int32_t, uint8_t, static_cast<uint8_t>(x == z))
GIE_EW_OP(IGt, int32_t, uint8_t, static_cast<uint8_t>(x > z))
GIE_EW_OP(ILt, int32_t, uint8_t, static_cast<uint8_t>(x < z))
GIE_EW_OP(BEq, uint8_t, uint8_t, static_cast<uint8_t>((x != 0) == (z != 0)))
GIE_EW_OP(BGt, uint8_t, uint8_t, static_cast<uint8_t>((x != 0) > (z != 0)))
GIE_EW_OP(BLt, uint8_t, uint8_t, static_cast<uint8_t>((x != 0) < (z != 0)))
GIE_EW_OP(BAnd, uint8_t, uint8_t, static_cast<uint8_t>((x != 0) & (z != 0)))
GIE_EW_OP(BOr, uint8_t, uint8_t, static_cast<uint8_t>((x != 0) | (z != 0)))
GIE_EW_OP(BXor, uint8_t, uint8_t, static_cast<uint8_t>((x != 0) ^ (z != 0)))
#undef GIE_EW_OP

// ---- kernels -------------------------------------------------------------------------------------------

template <typename T, int N>
struct alignas(N * sizeof(T)) VecN {
    T v[N];
};

struct RowsParams {
    int outerRank;
    int64_t n[Dims::MAX_DIMS - 1];
    int64_t sa[Dims::MAX_DIMS - 1];
    int64_t sb[Dims::MAX_DIMS - 1];
    int64_t len;                 // row length (elements)
    int ia, ib;                  // 1: the input walks the row; 0: one value per row
    int64_t tilesPerRow, tiles;
};

constexpr int kUnroll = 2;

// One warp per tile of kTile = 32 * VEC * kUnroll elements of a row. T, O: the storage types of the inputs and
// the output (F::In / F::Out, or __half for float ops: converted around F).
template <typename F, typename T, typename O, int VEC>
__global__ void __launch_bounds__(256) ewRows(const T* __restrict__ A, const T* __restrict__ B, O* __restrict__ Y, RowsParams p) {
    using I = typename F::In;
    constexpr int kTile = 32 * VEC * kUnroll;
    const F f;
    const int lane = threadIdx.x & 31;
    const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
    const int64_t nWarps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
    for (int64_t t = warp; t < p.tiles; t += nWarps) {
        const int64_t row = t / p.tilesPerRow;
        const int64_t c0 = (t - row * p.tilesPerRow) * kTile;
        int64_t rem = row, offA = 0, offB = 0;
        for (int k = p.outerRank - 1; k >= 0; --k) {
            const int64_t c = rem % p.n[k];
            rem /= p.n[k];
            offA += c * p.sa[k];
            offB += c * p.sb[k];
        }
        const T* __restrict__ a = A + offA;
        const T* __restrict__ b = B + offB;
        O* __restrict__ y = Y + row * p.len;
        const int w = p.len - c0 < kTile ? static_cast<int>(p.len - c0) : kTile;  // elements in this tile
        const T as = p.ia ? T() : a[0];
        const T bs = p.ib ? T() : b[0];
        if constexpr (VEC > 1) {
            // Vector path: the row length is a multiple of VEC and every row start is aligned to VEC elements.
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                const int c = (lane + 32 * u) * VEC;  // offset inside the tile
                if (c < w) {
                    const int64_t e = c0 + c;
                    VecN<T, VEC> va, vb;
                    if (p.ia) {
                        va = *reinterpret_cast<const VecN<T, VEC>*>(a + e);
                    } else {
#pragma unroll
                        for (int q = 0; q < VEC; ++q) va.v[q] = as;
                    }
                    if (p.ib) {
                        vb = *reinterpret_cast<const VecN<T, VEC>*>(b + e);
                    } else {
#pragma unroll
                        for (int q = 0; q < VEC; ++q) vb.v[q] = bs;
                    }
                    VecN<O, VEC> vy;
#pragma unroll
                    for (int q = 0; q < VEC; ++q)
                        vy.v[q] = cuda::convertTo<O>(f(cuda::convertTo<I>(va.v[q]), cuda::convertTo<I>(vb.v[q])));
                    *reinterpret_cast<VecN<O, VEC>*>(y + e) = vy;
                }
            }
        } else {
            T va[kUnroll], vb[kUnroll];
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                const int c = lane + 32 * u;
                if (c < w) {
                    va[u] = p.ia ? a[c0 + c] : as;
                    vb[u] = p.ib ? b[c0 + c] : bs;
                }
            }
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                const int c = lane + 32 * u;
                if (c < w) y[c0 + c] = cuda::convertTo<O>(f(cuda::convertTo<I>(va[u]), cuda::convertTo<I>(vb[u])));
            }
        }
    }
}

struct GeneralParams {
    int rank;
    int64_t n[Dims::MAX_DIMS];
    int64_t sa[Dims::MAX_DIMS];
    int64_t sb[Dims::MAX_DIMS];
};

template <typename F, typename T, typename O, typename Idx>
__global__ void __launch_bounds__(256) ewGeneral(const T* __restrict__ A, const T* __restrict__ B, O* __restrict__ Y, GeneralParams p,
                                                 Idx total) {
    using I = typename F::In;
    const F f;
    const Idx step = static_cast<Idx>(gridDim.x) * blockDim.x;
    for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
        Idx rem = i;
        int64_t offA = 0, offB = 0;
#pragma unroll
        for (int k = Dims::MAX_DIMS - 1; k >= 0; --k) {
            if (k < p.rank) {
                const Idx nk = static_cast<Idx>(p.n[k]);
                const Idx c = rem % nk;
                rem /= nk;
                offA += static_cast<int64_t>(c) * p.sa[k];
                offB += static_cast<int64_t>(c) * p.sb[k];
            }
        }
        Y[i] = cuda::convertTo<O>(f(cuda::convertTo<I>(A[offA]), cuda::convertTo<I>(B[offB])));
    }
}

// ---- launch --------------------------------------------------------------------------------------------

//! T, O: storage types of the inputs and the output (default: F's own; __half for float ops on half tensors).
template <typename F, typename T = typename F::In, typename O = typename F::Out>
void launch(const BroadcastPlan& pl, const void* a, const void* b, void* y, cudaStream_t st) {
    const T* A = static_cast<const T*>(a);
    const T* B = static_cast<const T*>(b);
    O* Y = static_cast<O*>(y);
    const int R = pl.rank;
    const int64_t inner = pl.n[R - 1];
    if (inner >= 32) {
        RowsParams p;
        p.outerRank = R - 1;
        for (int k = 0; k < R - 1; ++k) {
            p.n[k] = pl.n[k];
            p.sa[k] = pl.sa[k];
            p.sb[k] = pl.sb[k];
        }
        p.len = inner;
        p.ia = pl.sa[R - 1] != 0;
        p.ib = pl.sb[R - 1] != 0;
        // kVec-wide (4; 8 halves: 16 bytes) when rows are long enough to fill the lanes, a multiple of kVec,
        // and every vector access is aligned (row starts are multiples of the row length for the walking
        // inputs and the output).
        constexpr int kVec = std::is_same_v<T, __half> ? 8 : 4;
        const bool vec = inner >= 32 * kVec && inner % kVec == 0 && (!p.ia || cuda::alignedTo(A, kVec * sizeof(T))) &&
                         (!p.ib || cuda::alignedTo(B, kVec * sizeof(T))) && cuda::alignedTo(Y, kVec * sizeof(O));
        const int vw = vec ? kVec : 1;
        const int64_t tile = 32 * vw * kUnroll;
        p.tilesPerRow = cuda::ceilDiv(inner, tile);
        p.tiles = p.tilesPerRow * (pl.total / inner);
        const unsigned grid = cuda::gridFor(p.tiles * 32);
        if (vec)
            ewRows<F, T, O, kVec><<<grid, 256, 0, st>>>(A, B, Y, p);
        else
            ewRows<F, T, O, 1><<<grid, 256, 0, st>>>(A, B, Y, p);
        cuda::checkLaunch("elementwise_rows");
        return;
    }
    GeneralParams p;
    p.rank = R;
    for (int k = 0; k < Dims::MAX_DIMS; ++k) {
        p.n[k] = k < R ? pl.n[k] : 1;
        p.sa[k] = k < R ? pl.sa[k] : 0;
        p.sb[k] = k < R ? pl.sb[k] : 0;
    }
    const unsigned grid = cuda::gridFor(pl.total);
    if (pl.total <= INT32_MAX)
        ewGeneral<F, T, O, uint32_t><<<grid, 256, 0, st>>>(A, B, Y, p, static_cast<uint32_t>(pl.total));
    else
        ewGeneral<F, T, O, int64_t><<<grid, 256, 0, st>>>(A, B, Y, p, pl.total);
    cuda::checkLaunch("elementwise_general");
}

//! The float ops and comparisons on float tensors of storage type S (float, or __half computed in float).
template <typename S>
bool launchFloat(ElementWiseOperation op, const BroadcastPlan& p, const void* a, const void* b, void* y, cudaStream_t st) {
    using E = ElementWiseOperation;
    switch (op) {
        case E::kSUM: launch<FSum, S, S>(p, a, b, y, st); return true;
        case E::kPROD: launch<FProd, S, S>(p, a, b, y, st); return true;
        case E::kSUB: launch<FSub, S, S>(p, a, b, y, st); return true;
        case E::kDIV: launch<FDiv, S, S>(p, a, b, y, st); return true;
        case E::kMAX: launch<FMax, S, S>(p, a, b, y, st); return true;
        case E::kMIN: launch<FMin, S, S>(p, a, b, y, st); return true;
        case E::kPOW: launch<FPow, S, S>(p, a, b, y, st); return true;
        case E::kFLOOR_DIV: launch<FFloorDiv, S, S>(p, a, b, y, st); return true;
        case E::kMOD: launch<FMod, S, S>(p, a, b, y, st); return true;
        case E::kEQUAL: launch<FEq, S, uint8_t>(p, a, b, y, st); return true;
        case E::kGREATER: launch<FGt, S, uint8_t>(p, a, b, y, st); return true;
        case E::kLESS: launch<FLt, S, uint8_t>(p, a, b, y, st); return true;
        default: return false;
    }
}

class ElementWiseGpu final : public cuda::FloatOrHalfKernel<ElementWiseGpu, ElementWiseOp> {
public:
    using FloatOrHalfKernel::FloatOrHalfKernel;
    void run(const KernelCall& c) const override {
        const BroadcastPlan p = makeBroadcastPlan(c.outDims(0), c.inDims(0), c.inDims(1));
        if (p.total == 0) return;
        const DataType t = c.inDesc[0].type;
        const void* a = c.inputs[0];
        const void* b = c.inputs[1];
        void* y = c.outputs[0];
        cudaStream_t st = cuda::streamOf(c);
        using E = ElementWiseOperation;
        const E op = op_.op;
        if (t == DataType::kFLOAT && launchFloat<float>(op, p, a, b, y, st)) return;
        if (t == DataType::kHALF && launchFloat<__half>(op, p, a, b, y, st)) return;
        if (op_.isComparison()) {
            if (t == DataType::kINT32) {
                switch (op) {
                    case E::kEQUAL: return launch<IEq>(p, a, b, y, st);
                    case E::kGREATER: return launch<IGt>(p, a, b, y, st);
                    default: return launch<ILt>(p, a, b, y, st);
                }
            }
            if (t == DataType::kBOOL) {
                switch (op) {
                    case E::kEQUAL: return launch<BEq>(p, a, b, y, st);
                    case E::kGREATER: return launch<BGt>(p, a, b, y, st);
                    default: return launch<BLt>(p, a, b, y, st);
                }
            }
        } else if (op_.isLogical()) {
            if (t == DataType::kBOOL) {
                switch (op) {
                    case E::kAND: return launch<BAnd>(p, a, b, y, st);
                    case E::kOR: return launch<BOr>(p, a, b, y, st);
                    default: return launch<BXor>(p, a, b, y, st);
                }
            }
        } else if (t == DataType::kINT32) {
            switch (op) {
                case E::kSUM: return launch<ISum>(p, a, b, y, st);
                case E::kPROD: return launch<IProd>(p, a, b, y, st);
                case E::kSUB: return launch<ISub>(p, a, b, y, st);
                case E::kDIV: return launch<IDiv>(p, a, b, y, st);
                case E::kMAX: return launch<IMax>(p, a, b, y, st);
                case E::kMIN: return launch<IMin>(p, a, b, y, st);
                case E::kPOW: return launch<IPow>(p, a, b, y, st);
                case E::kFLOOR_DIV: return launch<IFloorDiv>(p, a, b, y, st);
                case E::kMOD: return launch<IMod>(p, a, b, y, st);
                default: break;
            }
        }
        fail(ErrorCode::kUNSUPPORTED, "ElementWise ", elementWiseOpName(op), ": no GPU kernel for ", dataTypeName(t), " inputs");
    }
};
GIE_REGISTER_KERNEL(ElementWiseGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
