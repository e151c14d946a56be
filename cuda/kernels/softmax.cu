// GPU softmax / log-softmax over one axis, the tensor viewed as (outer, n, inner) like kernels/softmax_cpu.cpp:
//   m = max_k x_k (NaN ignored), s = sum_k exp(x_k - m),
//   softmax: y = exp(x - m) * (1 / s);   log-softmax: y = x - m - log(s).
// NaN anywhere in a row, or m = +inf, or a row of -inf gives NaN like the CPU kernel.
// s accumulates in double like the CPU kernel (terms expf(x - m) in float, rescales by exp in double), and
// the row constant is rounded once from double like the CPU's (float)log(s) / (float)(1 / s): float sums of
// thousands of terms were off by ~1e-5 relative (log-softmax abs err ~1e-5 on rows of 1024..5003).
//
// Tactics:
//   col_thread  one thread per (outer, inner) column: an online (max, sum) pass, then the output pass.
//               Coalesced when inner > 1 (consecutive threads read consecutive columns).
//   col_block   a block of 32 columns x 8 threads along the axis, partial (max, sum) pairs combined in shared
//               memory: for long axes with few columns. Needs inner > 1.
//   row_warp    inner == 1, n <= 1024: a sub-warp (1..32 lanes) per row holds the row in registers, warp
//               shuffles reduce; float4 loads when the row length and pointers allow.
//   row_block   inner == 1: a 256-thread block per row (online partials, block reduction, output pass).
// float16 tensors run the same kernels (T = __half): values are loaded as float, every sum and constant is the
// float32 path's (so FP32-or-better accumulation), and only the stored outputs are rounded to half; the vector
// loads/stores move 16 bytes (8 halves through half2) instead of a float4.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "common.cuh"
#include "fp16.cuh"
#include "layers/softmax.h"

namespace gie {
namespace {

// ---- (max, sum) pairs: s = sum exp(x - m) over the values seen, s in double ---------------------------------
// m never becomes NaN (NaN inputs are skipped by the max, like std::max(m, x)), but they make s NaN.
// Values equal to m contribute exactly 1 (so a prefix of -inf values does not produce exp(-inf + inf)).

__device__ __forceinline__ void onlineAdd(float& m, double& s, float v) {
    if (v > m) {
        s = s * exp(static_cast<double>(m) - static_cast<double>(v)) + 1.0;  // m = -inf: exp(-inf) = 0
        m = v;
    } else {
        s += v == m ? 1.0 : static_cast<double>(expf(v - m));
    }
}

__device__ __forceinline__ void combinePair(float& m, double& s, float m2, double s2) {
    const float mn = m < m2 ? m2 : m;
    s = (m == mn ? s : s * exp(static_cast<double>(m) - static_cast<double>(mn))) +
        (m2 == mn ? s2 : s2 * exp(static_cast<double>(m2) - static_cast<double>(mn)));
    m = mn;
}

//! The CPU kernel gets NaN whenever the max is +inf (exp(inf - inf)); the pairs above do not.
__device__ __forceinline__ double finalSum(float m, double s) { return m == INFINITY ? __longlong_as_double(0x7ff8000000000000ll) : s; }

template <bool kLog>
__device__ __forceinline__ float outValue(float v, float m, float k) {  // k = log(s) or 1 / s
    return kLog ? v - m - k : expf(v - m) * k;
}

//! One rounding from double, like the CPU's static_cast<float>(std::log(s)) / static_cast<float>(1.0 / s).
template <bool kLog>
__device__ __forceinline__ float rowConst(double s) {
    return kLog ? static_cast<float>(log(s)) : static_cast<float>(1.0 / s);
}

// ---- col_thread -----------------------------------------------------------------------------------------------
template <bool kLog, typename T>
__global__ void __launch_bounds__(256) softmaxColThread(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int n,
                                                        int64_t inner) {
    const int64_t cols = outer * inner;
    const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < cols; j += step) {
        const int64_t o = j / inner, i = j - o * inner;
        const int64_t base = o * n * inner + i;
        const T* __restrict__ xp = x + base;
        float m = -INFINITY;
        double s = 0.0;
        for (int k = 0; k < n; ++k) onlineAdd(m, s, cuda::ldFloat(xp + k * inner));
        const float kc = rowConst<kLog>(finalSum(m, s));
        T* __restrict__ yp = y + base;
        for (int k = 0; k < n; ++k) yp[k * inner] = cuda::fromFloat<T>(outValue<kLog>(cuda::ldFloat(xp + k * inner), m, kc));
    }
}

// ---- col_block: blockDim (32, 8) ---------------------------------------------------------------------------------
template <bool kLog, typename T>
__global__ void __launch_bounds__(256) softmaxColBlock(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int n,
                                                       int64_t inner) {
    __shared__ float sm[8][33];
    __shared__ double ss[8][33];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int64_t i = static_cast<int64_t>(blockIdx.x) * 32 + tx;
    const bool active = i < inner;
    for (int64_t o = blockIdx.y; o < outer; o += gridDim.y) {
        const int64_t base = o * n * inner + i;
        float m = -INFINITY;
        double s = 0.0;
        if (active)
            for (int k = ty; k < n; k += 8) onlineAdd(m, s, cuda::ldFloat(x + base + k * inner));
        sm[ty][tx] = m;
        ss[ty][tx] = s;
        __syncthreads();
        m = sm[0][tx];
        s = ss[0][tx];
#pragma unroll
        for (int r = 1; r < 8; ++r) combinePair(m, s, sm[r][tx], ss[r][tx]);
        const float kc = rowConst<kLog>(finalSum(m, s));
        if (active)
            for (int k = ty; k < n; k += 8)
                y[base + k * inner] = cuda::fromFloat<T>(outValue<kLog>(cuda::ldFloat(x + base + k * inner), m, kc));
        __syncthreads();  // sm/ss are reused by the next outer index
    }
}

// ---- row_warp: LPR lanes per row, NV vectors of V elements per lane (V = 1, or a 16-byte pack) -----------------
template <int LPR>
__device__ __forceinline__ float groupMax(float v) {
#pragma unroll
    for (int o = LPR / 2; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
template <int LPR>
__device__ __forceinline__ double groupSum(double v) {
#pragma unroll
    for (int o = LPR / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

template <bool kLog, int LPR, int NV, int V, typename T>
__global__ void __launch_bounds__(128) softmaxRowWarp(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int n) {
    static_assert(V == 1 || V == cuda::kPack<T>, "row_warp: scalars or 16-byte packs");
    constexpr int kRowsPerBlock = 128 / LPR;
    const int lane = threadIdx.x % LPR;
    const int64_t first = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / LPR;
    const int64_t step = static_cast<int64_t>(gridDim.x) * kRowsPerBlock;
    // Every lane of a warp runs the same number of iterations (the shuffles need all 32): rows past the end
    // are computed on nothing and not stored.
    const int64_t warpFirst = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + (threadIdx.x & ~31) / LPR;
    for (int64_t row = first, wrow = warpFirst; wrow < rows; row += step, wrow += step) {
        const bool valid = row < rows;
        const T* __restrict__ xr = x + (valid ? row : 0) * n;
        float v[NV * V];
        float m = -INFINITY;
#pragma unroll
        for (int k = 0; k < NV; ++k) {
            const int idx = (k * LPR + lane) * V;
            if (valid && idx < n) {
                if constexpr (V > 1) {
                    float q[V];
                    cuda::loadPack(xr + idx, q);
#pragma unroll
                    for (int e = 0; e < V; ++e) v[k * V + e] = q[e];
                } else {
                    v[k * V] = cuda::ldFloat(xr + idx);
                }
#pragma unroll
                for (int e = 0; e < V; ++e) m = m < v[k * V + e] ? v[k * V + e] : m;
            }
        }
        m = groupMax<LPR>(m);
        double s = 0.0;
#pragma unroll
        for (int k = 0; k < NV; ++k) {
            const int idx = (k * LPR + lane) * V;
            if (valid && idx < n) {
#pragma unroll
                for (int e = 0; e < V; ++e) s += static_cast<double>(expf(v[k * V + e] - m));
            }
        }
        s = groupSum<LPR>(s);
        const float kc = rowConst<kLog>(s);
        T* __restrict__ yr = y + (valid ? row : 0) * n;
#pragma unroll
        for (int k = 0; k < NV; ++k) {
            const int idx = (k * LPR + lane) * V;
            if (valid && idx < n) {
                if constexpr (V > 1) {
                    float q[V];
#pragma unroll
                    for (int e = 0; e < V; ++e) q[e] = outValue<kLog>(v[k * V + e], m, kc);
                    cuda::storePack(yr + idx, q);
                } else {
                    yr[idx] = cuda::fromFloat<T>(outValue<kLog>(v[k * V], m, kc));
                }
            }
        }
    }
}

// ---- row_block: 256 threads per row ------------------------------------------------------------------------
template <bool kLog, bool kVec, typename T>
__global__ void __launch_bounds__(256) softmaxRowBlock(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int n) {
    constexpr int kN = cuda::kPack<T>;
    __shared__ float sm[8];
    __shared__ double ss[8];
    __shared__ float rowM, rowK;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
        const T* __restrict__ xr = x + row * n;
        T* __restrict__ yr = y + row * n;
        float m = -INFINITY;
        double s = 0.0;
        if (kVec) {
            for (int i = threadIdx.x; i < n / kN; i += 256) {
                float q[kN];
                cuda::loadPack(xr + i * kN, q);
#pragma unroll
                for (int e = 0; e < kN; ++e) onlineAdd(m, s, q[e]);
            }
        } else {
            for (int i = threadIdx.x; i < n; i += 256) onlineAdd(m, s, cuda::ldFloat(xr + i));
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            const float m2 = __shfl_xor_sync(0xffffffffu, m, o);
            const double s2 = __shfl_xor_sync(0xffffffffu, s, o);
            combinePair(m, s, m2, s2);
        }
        if (lane == 0) {
            sm[warp] = m;
            ss[warp] = s;
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            m = sm[0];
            s = ss[0];
            for (int r = 1; r < 8; ++r) combinePair(m, s, sm[r], ss[r]);
            rowM = m;
            rowK = rowConst<kLog>(finalSum(m, s));
        }
        __syncthreads();
        m = rowM;
        const float kc = rowK;
        if (kVec) {
            for (int i = threadIdx.x; i < n / kN; i += 256) {
                float q[kN];
                cuda::loadPack(xr + i * kN, q);
#pragma unroll
                for (int e = 0; e < kN; ++e) q[e] = outValue<kLog>(q[e], m, kc);
                cuda::storePack(yr + i * kN, q);
            }
        } else {
            for (int i = threadIdx.x; i < n; i += 256) yr[i] = cuda::fromFloat<T>(outValue<kLog>(cuda::ldFloat(xr + i), m, kc));
        }
        __syncthreads();  // rowM/rowK and sm/ss are reused by the next row
    }
}

// ---- host side -------------------------------------------------------------------------------------------------
enum Tactic : int32_t { kColThread = 0, kColBlock = 1, kRowWarp = 2, kRowBlock = 3, kNbTactics = 4 };
const char* const kTacticNames[kNbTactics] = {"col_thread", "col_block_32x8", "row_warp", "row_block256"};
constexpr int kRowWarpMax = 1024;

template <typename T>
using RowWarpFn = void (*)(const T*, T*, int64_t, int);

template <bool kLog, typename T>
RowWarpFn<T> pickRowWarp(int n, bool vec, int& lpr) {
    constexpr int kN = cuda::kPack<T>;
    if (vec && n >= 32 * kN && n % kN == 0) {
        constexpr int kMaxNV = kRowWarpMax / (32 * kN);  // 8 float4s, 4 packs of 8 halves
        lpr = 32;
        int nv = (n + 32 * kN - 1) / (32 * kN);
        if (nv <= 1) return softmaxRowWarp<kLog, 32, 1, kN, T>;
        if (nv <= 2) return softmaxRowWarp<kLog, 32, 2, kN, T>;
        if (nv <= 4) return softmaxRowWarp<kLog, 32, 4, kN, T>;
        return softmaxRowWarp<kLog, 32, kMaxNV, kN, T>;
    }
    if (n <= 32) {
        lpr = n <= 1 ? 1 : n <= 2 ? 2 : n <= 4 ? 4 : n <= 8 ? 8 : n <= 16 ? 16 : 32;
        switch (lpr) {
            case 1: return softmaxRowWarp<kLog, 1, 1, 1, T>;
            case 2: return softmaxRowWarp<kLog, 2, 1, 1, T>;
            case 4: return softmaxRowWarp<kLog, 4, 1, 1, T>;
            case 8: return softmaxRowWarp<kLog, 8, 1, 1, T>;
            case 16: return softmaxRowWarp<kLog, 16, 1, 1, T>;
            default: return softmaxRowWarp<kLog, 32, 1, 1, T>;
        }
    }
    lpr = 32;
    int nv = (n + 31) / 32;
    if (nv <= 2) return softmaxRowWarp<kLog, 32, 2, 1, T>;
    if (nv <= 4) return softmaxRowWarp<kLog, 32, 4, 1, T>;
    if (nv <= 8) return softmaxRowWarp<kLog, 32, 8, 1, T>;
    if (nv <= 16) return softmaxRowWarp<kLog, 32, 16, 1, T>;
    return softmaxRowWarp<kLog, 32, 32, 1, T>;
}

class SoftmaxGpu final : public cuda::FloatOrHalfKernel<SoftmaxGpu, SoftmaxOp> {
public:
    using FloatOrHalfKernel::FloatOrHalfKernel;

    int32_t getNbTactics() const noexcept override { return kNbTactics; }
    const char* getTacticName(int32_t t) const noexcept override { return t >= 0 && t < kNbTactics ? kTacticNames[t] : "invalid"; }
    int32_t setTactic(int32_t t) noexcept override {
        if (t < 0 || t >= kNbTactics) return -1;
        if (t == kColBlock && innerOne_) return -1;
        if ((t == kRowWarp || t == kRowBlock) && !innerOne_) return -1;
        if (t == kRowWarp && axisLen_ > kRowWarpMax) return -1;
        tactic_ = t;
        return 0;
    }
    int32_t getTactic() const noexcept override { return tactic_; }

protected:
    void configureKernel(const TensorDesc* in, int32_t, const TensorDesc*, int32_t) override {
        const Dims& d = in[0].dims;
        int ax = normalizeAxis(op_.axis, d.nbDims, "Softmax");
        innerOne_ = splitAtAxis(d, ax).inner == 1;
        axisLen_ = d.d[ax];
        GIE_CHECK(axisLen_ < (int64_t{1} << 31), ErrorCode::kUNSUPPORTED, "Softmax (GPU): the axis has ", axisLen_, " elements");
        tactic_ = !innerOne_ ? kColThread : axisLen_ <= kRowWarpMax ? kRowWarp : kRowBlock;
    }

    void run(const KernelCall& c) const override {
        if (cuda::halfCall(c)) runTyped<__half>(c);
        else runTyped<float>(c);
    }

private:
    template <typename T>
    void runTyped(const KernelCall& c) const {
        const Dims& d = c.inDims(0);
        const int ax = normalizeAxis(op_.axis, d.nbDims, "Softmax");
        const AxisSplit sp = splitAtAxis(d, ax);
        const int64_t outer = sp.outer, inner = sp.inner;
        const int64_t n64 = d.d[ax];
        if (outer * n64 * inner == 0) return;
        GIE_CHECK(n64 < (int64_t{1} << 31), ErrorCode::kUNSUPPORTED, "Softmax (GPU): the axis has ", n64, " elements");
        const int n = static_cast<int>(n64);
        const T* x = c.in<T>(0);
        T* y = c.out<T>(0);
        cudaStream_t s = cuda::streamOf(c);
        const bool log = op_.log;

        // Axis 0 (the batch) changes length with the batch; fall back to a tactic valid for this call.
        int t = tactic_;
        if ((t == kRowWarp || t == kRowBlock) && inner != 1) t = kColThread;
        if (t == kRowWarp && n > kRowWarpMax) t = kRowBlock;

        switch (t) {
            case kColThread: {
                const unsigned grid = cuda::gridFor(outer * inner, 256);
                if (log) softmaxColThread<true, T><<<grid, 256, 0, s>>>(x, y, outer, n, inner);
                else softmaxColThread<false, T><<<grid, 256, 0, s>>>(x, y, outer, n, inner);
                cuda::checkLaunch("softmaxColThread");
                return;
            }
            case kColBlock: {
                GIE_CHECK(cuda::ceilDiv(inner, 32) < (int64_t{1} << 31), ErrorCode::kUNSUPPORTED, "Softmax (GPU): too many columns");
                dim3 grid(static_cast<unsigned>(cuda::ceilDiv(inner, 32)), static_cast<unsigned>(outer < 65535 ? outer : 65535));
                dim3 block(32, 8);
                if (log) softmaxColBlock<true, T><<<grid, block, 0, s>>>(x, y, outer, n, inner);
                else softmaxColBlock<false, T><<<grid, block, 0, s>>>(x, y, outer, n, inner);
                cuda::checkLaunch("softmaxColBlock");
                return;
            }
            case kRowWarp: {
                const bool vec = cuda::aligned16(x, y);
                int lpr = 32;
                RowWarpFn<T> k = log ? pickRowWarp<true, T>(n, vec, lpr) : pickRowWarp<false, T>(n, vec, lpr);
                const int64_t rowsPerBlock = 128 / lpr;
                const int64_t blocks = cuda::ceilDiv(outer, rowsPerBlock);
                const int64_t cap = static_cast<int64_t>(cuda::numSMs()) * 64;
                k<<<static_cast<unsigned>(blocks < cap ? blocks : cap), 128, 0, s>>>(x, y, outer, n);
                cuda::checkLaunch("softmaxRowWarp");
                return;
            }
            default: {
                const bool vec = n % cuda::kPack<T> == 0 && cuda::aligned16(x, y);
                const int64_t cap = static_cast<int64_t>(cuda::numSMs()) * 16;
                const unsigned grid = static_cast<unsigned>(outer < cap ? outer : cap);
                if (log) {
                    if (vec) softmaxRowBlock<true, true, T><<<grid, 256, 0, s>>>(x, y, outer, n);
                    else softmaxRowBlock<true, false, T><<<grid, 256, 0, s>>>(x, y, outer, n);
                } else {
                    if (vec) softmaxRowBlock<false, true, T><<<grid, 256, 0, s>>>(x, y, outer, n);
                    else softmaxRowBlock<false, false, T><<<grid, 256, 0, s>>>(x, y, outer, n);
                }
                cuda::checkLaunch("softmaxRowBlock");
                return;
            }
        }
    }

    bool innerOne_ = false;
    int64_t axisLen_ = 0;
    int32_t tactic_ = kColThread;
};
GIE_REGISTER_KERNEL(SoftmaxGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
