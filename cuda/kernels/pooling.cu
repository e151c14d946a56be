// GPU pooling (max / average; float32 or float16, computed in float32 and rounded once at the store; NCHW, NHWC
// or HWC8, the output in the input's type and format), the same semantics as kernels/pooling_cpu.cpp: the window of
// output (p, q) covers rows [p*sh - pt, min(p*sh - pt + kh, H + pb)) clipped to the input (likewise
// columns); max starts at -FLT_MAX and skips NaN (m < v ? v : m); average sums the in-range values in
// row-major order and divides by the clipped count (exclude_padding) or the unclipped one. Either side
// may be a channel slice of a wider tensor (batch strides from the TensorDesc).
//
// Tactics (shapes are read from the descriptors at every call):
//   direct          one thread per output; 2x2 and 3x3 windows are unrolled at compile time. Channels-last
//                   tensors: one thread per output pixel and group of 8 channels (16-byte vectors) when the
//                   stored channels allow, else per output element; HWC8 padding channels written as 0.
//   global_warp     one warp per (n, c) plane, for windows covering the whole unpadded plane
//                   (global pooling; NCHW only); 4-element loads (float4, 4 halves) when the plane size and
//                   alignment allow.
//   global_block256 one 256-thread block per plane, for large planes.
#include <cfloat>
#include <cstdint>

#include "common.cuh"
#include "common/format.h"
#include "fp16.cuh"
#include "layers/pooling.h"
#include "pack8.cuh"

namespace gie {
namespace {

struct PoolParams {
    int C, H, W, P, Q;
    int kh, kw, sh, sw, pt, pl, pb, pr;
    int64_t xBatchStride, yBatchStride;
    bool exclude;
};

__device__ __forceinline__ float maxNoNan(float m, float v) { return m < v ? v : m; }  // std::max(m, v)

// One thread per output element. KH/KW > 0: the window size is a compile-time constant (unrolled with
// per-tap bounds checks, the same taps and order as the clipped loops); 0: runtime loops.
template <bool kMax, int KH, int KW, typename Idx, typename T>
__global__ void __launch_bounds__(256) poolDirect(const T* __restrict__ x, T* __restrict__ y, PoolParams p, Idx total) {
    const Idx step = static_cast<Idx>(gridDim.x) * blockDim.x;
    for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
        const Idx q = i % p.Q;
        const Idx t = i / p.Q;
        const Idx pp = t % p.P;
        const Idx nc = t / p.P;
        const Idx n = nc / p.C, c = nc % p.C;
        const T* __restrict__ xp =
            x + static_cast<int64_t>(n) * p.xBatchStride + static_cast<int64_t>(c) * (static_cast<int64_t>(p.H) * p.W);
        const int h0 = static_cast<int>(pp) * p.sh - p.pt, w0 = static_cast<int>(q) * p.sw - p.pl;
        const int kh = KH > 0 ? KH : p.kh, kw = KW > 0 ? KW : p.kw;
        const int h1 = min(h0 + kh, p.H + p.pb), w1 = min(w0 + kw, p.W + p.pr);
        const int hs = max(h0, 0), he = min(h1, p.H), ws = max(w0, 0), we = min(w1, p.W);
        float r;
        if (KH > 0 && KW > 0) {
            // Taps inside [hs, he) x [ws, we) are exactly those with 0 <= h < H, 0 <= w < W (h < h0 + kh
            // always holds and H <= H + pb).
            float acc = kMax ? -FLT_MAX : 0.f;
#pragma unroll
            for (int a = 0; a < KH; ++a) {
                const int h = h0 + a;
                if (h >= 0 && h < p.H) {
#pragma unroll
                    for (int b = 0; b < KW; ++b) {
                        const int w = w0 + b;
                        if (w >= 0 && w < p.W) {
                            const float v = cuda::ldFloat(xp + h * p.W + w);
                            acc = kMax ? maxNoNan(acc, v) : acc + v;
                        }
                    }
                }
            }
            r = acc;
        } else {
            float acc = kMax ? -FLT_MAX : 0.f;
            for (int h = hs; h < he; ++h) {
                const T* __restrict__ row = xp + h * p.W;
                for (int w = ws; w < we; ++w) {
                    const float v = cuda::ldFloat(row + w);
                    acc = kMax ? maxNoNan(acc, v) : acc + v;
                }
            }
            r = acc;
        }
        if (!kMax) {
            const int64_t count = p.exclude ? static_cast<int64_t>(he - hs) * (we - ws) : static_cast<int64_t>(h1 - h0) * (w1 - w0);
            r = count > 0 ? r / static_cast<float>(count) : 0.f;
        }
        y[static_cast<int64_t>(n) * p.yBatchStride + static_cast<int64_t>(c) * (static_cast<int64_t>(p.P) * p.Q) +
          static_cast<int64_t>(pp) * p.Q + q] = cuda::fromFloat<T>(r);
    }
}

template <bool kMax>
__device__ __forceinline__ float combine(float a, float b) {
    return kMax ? maxNoNan(a, b) : a + b;
}

// Channels-last (NHWC / HWC8, both sides the same format with Cp stored channels per pixel): one thread per
// (n, p, q, group of V channels), channels fastest, so a warp reads and writes contiguous channel runs; V = 8:
// 16-byte loads and stores of halves (two of floats) when Cp, the batch strides and the pointers allow. The same
// taps in the same order as poolDirect for every channel; padding channels (c >= C) are written as 0.
template <bool kMax, int V, typename Idx, typename T>
__global__ void __launch_bounds__(256) poolDirectCl(const T* __restrict__ x, T* __restrict__ y, PoolParams p, int Cp, Idx groups,
                                                    Idx total) {
    const Idx step = static_cast<Idx>(gridDim.x) * blockDim.x;
    for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
        Idx t = i / groups;
        const int c0 = static_cast<int>(i - t * groups) * V;
        const Idx q = t % p.Q;
        t /= p.Q;
        const Idx pp = t % p.P;
        const Idx n = t / p.P;
        const int h0 = static_cast<int>(pp) * p.sh - p.pt, w0 = static_cast<int>(q) * p.sw - p.pl;
        const int h1 = min(h0 + p.kh, p.H + p.pb), w1 = min(w0 + p.kw, p.W + p.pr);
        const int hs = max(h0, 0), he = min(h1, p.H), ws = max(w0, 0), we = min(w1, p.W);
        const T* __restrict__ xn = x + static_cast<int64_t>(n) * p.xBatchStride + c0;
        float acc[V];
#pragma unroll
        for (int j = 0; j < V; ++j) acc[j] = kMax ? -FLT_MAX : 0.f;
        for (int h = hs; h < he; ++h) {
            for (int w = ws; w < we; ++w) {
                const T* __restrict__ xp = xn + (static_cast<int64_t>(h) * p.W + w) * Cp;
                float v[V];
                if constexpr (V == 8) {
                    cuda::load8(xp, v);
                } else {
                    v[0] = cuda::ldFloat(xp);
                }
#pragma unroll
                for (int j = 0; j < V; ++j) acc[j] = combine<kMax>(acc[j], v[j]);
            }
        }
        if (!kMax) {
            const int64_t count = p.exclude ? static_cast<int64_t>(he - hs) * (we - ws) : static_cast<int64_t>(h1 - h0) * (w1 - w0);
#pragma unroll
            for (int j = 0; j < V; ++j) acc[j] = count > 0 ? acc[j] / static_cast<float>(count) : 0.f;
        }
#pragma unroll
        for (int j = 0; j < V; ++j)
            if (c0 + j >= p.C) acc[j] = 0.f;
        T* __restrict__ yp = y + static_cast<int64_t>(n) * p.yBatchStride + (static_cast<int64_t>(pp) * p.Q + q) * Cp + c0;
        if constexpr (V == 8) cuda::store8(yp, acc);
        else *yp = cuda::fromFloat<T>(acc[0]);
    }
}

template <bool kMax>
__device__ __forceinline__ float warpReduce(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float u = __shfl_xor_sync(0xffffffffu, v, o);
        v = kMax ? fmaxf(v, u) : v + u;  // both operands are non-NaN partial maxima or sums
    }
    return v;
}

//! 4 elements at p (aligned to 4 elements) as floats: a float4, or 4 halves in 8 bytes.
__device__ __forceinline__ float4 load4(const float* p) { return __ldg(reinterpret_cast<const float4*>(p)); }
__device__ __forceinline__ float4 load4(const __half* p) {
    const uint2 q = __ldg(reinterpret_cast<const uint2*>(p));
    const float2 a = __half22float2(*reinterpret_cast<const __half2*>(&q.x));
    const float2 b = __half22float2(*reinterpret_cast<const __half2*>(&q.y));
    return make_float4(a.x, a.y, b.x, b.y);
}

// Partial result of one thread over elements [begin, HW) with step `step` (vectorized when kVec: HW is a
// multiple of 4 and xp aligned to 4 elements).
template <bool kMax, bool kVec, typename T>
__device__ __forceinline__ float planePartial(const T* __restrict__ xp, int HW, int begin, int step) {
    float acc = kMax ? -FLT_MAX : 0.f;
    if (kVec) {
        const int n4 = HW >> 2;
        for (int i = begin; i < n4; i += step) {
            const float4 v = load4(xp + 4 * i);
            acc = combine<kMax>(acc, v.x);
            acc = combine<kMax>(acc, v.y);
            acc = combine<kMax>(acc, v.z);
            acc = combine<kMax>(acc, v.w);
        }
    } else {
        for (int i = begin; i < HW; i += step) acc = combine<kMax>(acc, cuda::ldFloat(xp + i));
    }
    return acc;
}

__device__ __forceinline__ float finish(bool isMax, float r, int HW) {
    if (isMax) return r;
    return HW > 0 ? r / static_cast<float>(HW) : 0.f;
}

// One warp per (n, c) plane; the window covers the whole plane (count = H * W either way).
template <bool kMax, bool kVec, typename T>
__global__ void __launch_bounds__(256) poolGlobalWarp(const T* __restrict__ x, T* __restrict__ y, int C, int HW,
                                                      int64_t xBatchStride, int64_t yBatchStride, unsigned planes) {
    const int lane = threadIdx.x & 31;
    const unsigned warpsTotal = gridDim.x * (blockDim.x >> 5);
    for (unsigned plane = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); plane < planes; plane += warpsTotal) {
        const int64_t n = plane / static_cast<unsigned>(C), c = plane % static_cast<unsigned>(C);
        const T* __restrict__ xp = x + n * xBatchStride + c * HW;
        float r = warpReduce<kMax>(planePartial<kMax, kVec>(xp, HW, lane, 32));
        if (lane == 0) y[n * yBatchStride + c] = cuda::fromFloat<T>(finish(kMax, r, HW));
    }
}

// One block of 256 threads per plane.
template <bool kMax, bool kVec, typename T>
__global__ void __launch_bounds__(256) poolGlobalBlock(const T* __restrict__ x, T* __restrict__ y, int C, int HW,
                                                       int64_t xBatchStride, int64_t yBatchStride, unsigned planes) {
    __shared__ float part[8];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (unsigned plane = blockIdx.x; plane < planes; plane += gridDim.x) {
        const int64_t n = plane / static_cast<unsigned>(C), c = plane % static_cast<unsigned>(C);
        const T* __restrict__ xp = x + n * xBatchStride + c * HW;
        float r = warpReduce<kMax>(planePartial<kMax, kVec>(xp, HW, threadIdx.x, 256));
        if (lane == 0) part[warp] = r;
        __syncthreads();
        if (warp == 0) {
            r = lane < 8 ? part[lane] : (kMax ? -FLT_MAX : 0.f);
            r = warpReduce<kMax>(r);
            if (lane == 0) y[n * yBatchStride + c] = cuda::fromFloat<T>(finish(kMax, r, HW));
        }
        __syncthreads();  // part[] is reused by the next plane
    }
}

enum Tactic : int32_t { kDirect = 0, kGlobalWarp = 1, kGlobalBlock = 2, kNbTactics = 3 };
const char* const kTacticNames[kNbTactics] = {"direct", "global_warp", "global_block256"};

class PoolingGpu final : public cuda::FloatOrHalfKernel<PoolingGpu, PoolingOp> {
public:
    using FloatOrHalfKernel::FloatOrHalfKernel;
    bool supportsStridedOutput() const noexcept override { return true; }
    bool supportsStridedInput() const noexcept override { return true; }
    //! FLOAT or HALF, LINEAR, NHWC or HWC8; the output in the input's type and format.
    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        const TensorDesc& d = inOut[pos];
        if ((d.type != DataType::kFLOAT && d.type != DataType::kHALF) || !implementedFormat(d.format)) return false;
        return pos == 0 || (d.type == inOut[0].type && d.format == inOut[0].format);
    }

    int32_t getNbTactics() const noexcept override { return kNbTactics; }
    const char* getTacticName(int32_t t) const noexcept override { return t >= 0 && t < kNbTactics ? kTacticNames[t] : "invalid"; }
    int32_t setTactic(int32_t t) noexcept override {
        if (t < 0 || t >= kNbTactics) return -1;
        if (t != kDirect && (!wholePlane_ || channelsLast_)) return -1;
        tactic_ = t;
        return 0;
    }
    int32_t getTactic() const noexcept override { return tactic_; }

protected:
    void configureKernel(const TensorDesc* in, int32_t, const TensorDesc*, int32_t) override {
        const Dims& x = in[0].dims;
        checkLimits(x);
        channelsLast_ = isChannelsLast(in[0].format);
        wholePlane_ = coversPlane(x.d[2], x.d[3]);
        tactic_ = wholePlane_ && !channelsLast_ ? kGlobalWarp : kDirect;
    }

    //! The sizes the kernels' int coordinates hold (checked at configure and at every call).
    void checkLimits(const Dims& x) const {
        GIE_CHECK(x.nbDims == 4, ErrorCode::kINVALID_MODEL, "Pooling needs a 4D NCHW input, got ", toString(x));
        int64_t H = x.d[2], W = x.d[3], kh, kw;
        op_.window(H, W, kh, kw);
        const int64_t lim = int64_t{1} << 28;  // keeps every window coordinate (p * sh - pt + kh, H + pb) in int
        GIE_CHECK(H * W < (int64_t{1} << 31) && H < lim && W < lim && kh < lim && kw < lim && op_.sh < lim && op_.sw < lim &&
                      op_.pt < lim && op_.pl < lim && op_.pb < lim && op_.pr < lim && x.d[1] < (int64_t{1} << 31),
                  ErrorCode::kUNSUPPORTED, "Pooling (GPU): planes of ", H, "x", W, " or the window parameters are too large");
    }

    //! Whether one unpadded window covers the whole H x W plane (global pooling).
    bool coversPlane(int64_t H, int64_t W) const {
        int64_t kh, kw;
        op_.window(H, W, kh, kw);
        return op_.global || (op_.pt == 0 && op_.pl == 0 && op_.pb == 0 && op_.pr == 0 && kh == H && kw == W);
    }

    void run(const KernelCall& c) const override {
        if (cuda::halfCall(c)) runTyped<__half>(c);
        else runTyped<float>(c);
    }

private:
    template <typename T>
    void runTyped(const KernelCall& c) const {
        const Dims& xd = c.inDims(0);
        const Dims& yd = c.outDims(0);
        checkLimits(xd);
        const int64_t N = xd.d[0], C = xd.d[1], H = xd.d[2], W = xd.d[3], P = yd.d[2], Q = yd.d[3];
        if (N * C * P * Q == 0) return;
        const T* x = c.in<T>(0);
        T* y = c.out<T>(0);
        const int64_t xbs = c.inDesc[0].strides.d[0], ybs = c.outDesc[0].strides.d[0];
        const bool isMax = op_.type == PoolingType::kMAX;
        cudaStream_t s = cuda::streamOf(c);
        // The plane tactics need a window covering exactly these planes (shapes are read here, not at configure:
        // a call with other spatial sizes than the configured ones runs the direct kernel).
        const bool cl = isChannelsLast(c.inDesc[0].format);
        int tactic = tactic_;
        if (tactic != kDirect && (cl || !coversPlane(H, W))) tactic = kDirect;

        if (tactic != kDirect) {
            const int HW = static_cast<int>(H * W);
            GIE_CHECK(N * C < (int64_t{1} << 31), ErrorCode::kUNSUPPORTED, "Pooling (GPU): too many planes");
            const unsigned planes = static_cast<unsigned>(N * C);
            const bool vec = HW % 4 == 0 && xbs % 4 == 0 && cuda::alignedTo(x, 4 * sizeof(T));
            if (tactic == kGlobalWarp) {
                const unsigned grid = cuda::gridFor(static_cast<int64_t>(planes) * 32, 256);
                launchGlobal(poolGlobalWarp<true, true, T>, poolGlobalWarp<true, false, T>, poolGlobalWarp<false, true, T>,
                             poolGlobalWarp<false, false, T>, isMax, vec, grid, s, x, y, static_cast<int>(C), HW, xbs, ybs, planes);
                cuda::checkLaunch("poolGlobalWarp");
            } else {
                const int64_t cap = static_cast<int64_t>(cuda::numSMs()) * 8;
                const unsigned grid = static_cast<unsigned>(planes < cap ? planes : cap);
                launchGlobal(poolGlobalBlock<true, true, T>, poolGlobalBlock<true, false, T>, poolGlobalBlock<false, true, T>,
                             poolGlobalBlock<false, false, T>, isMax, vec, grid, s, x, y, static_cast<int>(C), HW, xbs, ybs, planes);
                cuda::checkLaunch("poolGlobalBlock");
            }
            return;
        }

        PoolParams p;
        int64_t kh, kw;
        op_.window(H, W, kh, kw);
        p.C = static_cast<int>(C);
        p.H = static_cast<int>(H);
        p.W = static_cast<int>(W);
        p.P = static_cast<int>(P);
        p.Q = static_cast<int>(Q);
        p.kh = static_cast<int>(kh);
        p.kw = static_cast<int>(kw);
        p.sh = op_.global ? 1 : static_cast<int>(op_.sh);
        p.sw = op_.global ? 1 : static_cast<int>(op_.sw);
        p.pt = op_.global ? 0 : static_cast<int>(op_.pt);
        p.pl = op_.global ? 0 : static_cast<int>(op_.pl);
        p.pb = op_.global ? 0 : static_cast<int>(op_.pb);
        p.pr = op_.global ? 0 : static_cast<int>(op_.pr);
        p.xBatchStride = xbs;
        p.yBatchStride = ybs;
        p.exclude = op_.excludePadding;
        if (cl) {
            const int64_t cp = storedChannels(C, c.inDesc[0].format);
            const bool vec = cp % 8 == 0 && xbs % 8 == 0 && ybs % 8 == 0 && cuda::aligned16(x, y);
            const int64_t groups = vec ? cp / 8 : cp;
            const int64_t total = N * P * Q * groups;
            const unsigned grid = cuda::gridFor(total, 256);
            if (total < (int64_t{1} << 31)) launchCl<uint32_t, T>(isMax, vec, p, static_cast<int>(cp), grid, s, x, y, static_cast<uint32_t>(groups), static_cast<uint32_t>(total));
            else launchCl<uint64_t, T>(isMax, vec, p, static_cast<int>(cp), grid, s, x, y, static_cast<uint64_t>(groups), static_cast<uint64_t>(total));
            cuda::checkLaunch("poolDirectCl");
            return;
        }
        const int64_t total = N * C * P * Q;
        const unsigned grid = cuda::gridFor(total, 256);
        if (total < (int64_t{1} << 31)) launchDirect<uint32_t, T>(isMax, p, grid, s, x, y, static_cast<uint32_t>(total));
        else launchDirect<uint64_t, T>(isMax, p, grid, s, x, y, static_cast<uint64_t>(total));
        cuda::checkLaunch("poolDirect");
    }

    template <typename K, typename T>
    static void launchGlobal(K maxVec, K maxScalar, K avgVec, K avgScalar, bool isMax, bool vec, unsigned grid, cudaStream_t s,
                             const T* x, T* y, int C, int HW, int64_t xbs, int64_t ybs, unsigned planes) {
        K k = isMax ? (vec ? maxVec : maxScalar) : (vec ? avgVec : avgScalar);
        k<<<grid, 256, 0, s>>>(x, y, C, HW, xbs, ybs, planes);
    }

    template <typename Idx, typename T>
    static void launchCl(bool isMax, bool vec, const PoolParams& p, int cp, unsigned grid, cudaStream_t s, const T* x, T* y, Idx groups,
                         Idx total) {
        if (isMax) {
            if (vec) poolDirectCl<true, 8, Idx, T><<<grid, 256, 0, s>>>(x, y, p, cp, groups, total);
            else poolDirectCl<true, 1, Idx, T><<<grid, 256, 0, s>>>(x, y, p, cp, groups, total);
        } else {
            if (vec) poolDirectCl<false, 8, Idx, T><<<grid, 256, 0, s>>>(x, y, p, cp, groups, total);
            else poolDirectCl<false, 1, Idx, T><<<grid, 256, 0, s>>>(x, y, p, cp, groups, total);
        }
    }

    template <typename Idx, typename T>
    static void launchDirect(bool isMax, const PoolParams& p, unsigned grid, cudaStream_t s, const T* x, T* y, Idx total) {
        if (isMax) launchDirectT<true, Idx, T>(p, grid, s, x, y, total);
        else launchDirectT<false, Idx, T>(p, grid, s, x, y, total);
    }
    template <bool kMax, typename Idx, typename T>
    static void launchDirectT(const PoolParams& p, unsigned grid, cudaStream_t s, const T* x, T* y, Idx total) {
        if (p.kh == 3 && p.kw == 3) poolDirect<kMax, 3, 3, Idx, T><<<grid, 256, 0, s>>>(x, y, p, total);
        else if (p.kh == 2 && p.kw == 2) poolDirect<kMax, 2, 2, Idx, T><<<grid, 256, 0, s>>>(x, y, p, total);
        else poolDirect<kMax, 0, 0, Idx, T><<<grid, 256, 0, s>>>(x, y, p, total);
    }

    bool wholePlane_ = false;
    bool channelsLast_ = false;  // configured for NHWC / HWC8: the direct tactic only
    int32_t tactic_ = kDirect;
};
GIE_REGISTER_KERNEL(PoolingGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
