// GPU Reduce (float32, float16): sum / prod / max / min / average over any set of axes, keep_dims or not, the
// semantics of kernels/reduce_cpu.cpp: sums and products accumulate in double (then one rounding to
// float; the average divides the double sum by the count), max / min start at -inf / +inf and propagate NaN
// (once a NaN is seen the result is NaN). An empty reduction gives 0 (sum), 1 (prod), -inf / +inf (max /
// min) and NaN (average, 0 / 0), like the CPU. Double accumulation costs one FP64 add per 4-byte load, which
// stays memory-bound even on GPUs with slow FP64. float16 tensors run the same kernels: values loaded as float,
// the same double / float accumulators, the result rounded to half once at the store; teams read half2 pairs
// when the innermost reduced group is contiguous and even (the two halves added in order, so PROD keeps the
// CPU's sequence).
//
// Like the CPU, size-1 dims are dropped and neighbours with the same role (kept / reduced) merged into
// groups; an output index decomposes over the kept groups, a reduction index over the reduced groups.
//   columns  the innermost group is kept and >= 32 long (reduce over outer axes, e.g. over the batch or
//            over C of NCHW with H*W kept): one thread per output, the reduction walked in order with an
//            odometer; neighbouring threads read neighbouring addresses.
//   teams    otherwise (reduce over inner contiguous axes, e.g. global pooling over H*W, or short kept
//            rows): a team of 1, 32 (warp) or 256 (block) threads per output, chosen by the reduction length;
//            lanes stride over the reduction index (coalesced over contiguous runs), then warp shuffles /
//            shared memory combine the lanes.
// When there are too few outputs to fill the GPU, the reduction is split over gridDim.y: partial results
// (double) go to the workspace and a second kernel combines them in split order. Results do not depend on
// the batch or on timing (no atomics).
// Products are never split or combined from partials: the CPU multiplies in reduction order, and a double
// product of floats that are individually finite can underflow to 0 or overflow to inf part-way, so its
// special values depend on the order (a row with an early inf and thousands of values of magnitude < 1 is
// inf on the CPU, while partial products give inf * 0 = NaN). PROD runs one thread per output walking the
// reduction in order (columns without splits, or teams of 1): the exact operation sequence of the CPU kernel.
//
// HALF HWC8 input, reduced over H and W exactly (global pooling of an FP16 convolution stack: ONNX GlobalAveragePool /
// GlobalMaxPool and ReduceMean over axes 2, 3), tactic "hwc8_spatial_chunk8": one thread per (image, 8-channel chunk),
// 16-byte loads of the chunk at each pixel (neighbouring threads read neighbouring chunks of one pixel), 8 accumulators
// per thread, the same RedOp arithmetic. When there are too few chunks to fill the GPU, the pixels of a chunk are split
// into S <= 32 contiguous ranges (S threads of a block) whose partials a block combines in range order through shared
// memory (no workspace, no second kernel). The order of additions then differs from the CPU's, but a double sum of
// halves is exact while its partial sums stay below 2^29 in magnitude (every half is a multiple of 2^-24), which holds
// for any 8192 halves (each below 2^16), so SUM / AVG give the CPU's values at any split up to that many pixels; MAX / MIN combine in range order, so ties of +0 / -0 and NaN keep the CPU's
// choice; PROD never splits (each thread multiplies its chunk's pixels in order, the CPU's sequence). The output is
// HALF LINEAR ((N, C, 1, 1) or (N, C)) or, with keep_dims, HALF HWC8 (N, C, 1, 1) with its padding channels written 0.
// Written without a GPU and held back (engine/tactic_architecture.h) until its GPU tests passed on an H100 on
// 2026-12-08; since then the builder offers HWC8 to this layer and times it against the LINEAR tactics.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "common.cuh"
#include "fp16.cuh"
#include "common/format.h"
#include "layers/reduce.h"

namespace gie {
namespace {

constexpr int kMaxG = Dims::MAX_DIMS;

struct ReduceParams {
    int nk, nr;
    int64_t ksize[kMaxG], kstride[kMaxG];  // kept groups, outermost first
    int64_t rsize[kMaxG], rstride[kMaxG];  // reduced groups, outermost first
    int64_t nOut, count;
    int64_t chunk;  // reduction elements per split
    int splits;
};

// ---- op traits --------------------------------------------------------------------------------------------

template <int OP> struct RedOp;
template <> struct RedOp<static_cast<int>(ReduceOperation::kSUM)> {
    using A = double;
    static __device__ __forceinline__ A init() { return 0.0; }
    static __device__ __forceinline__ A add(A a, float v) { return a + static_cast<double>(v); }
    static __device__ __forceinline__ A combine(A a, A b) { return a + b; }
    static __device__ __forceinline__ float finish(A a, int64_t) { return static_cast<float>(a); }
};
template <> struct RedOp<static_cast<int>(ReduceOperation::kAVG)> : RedOp<static_cast<int>(ReduceOperation::kSUM)> {
    static __device__ __forceinline__ float finish(A a, int64_t n) { return static_cast<float>(a / static_cast<double>(n)); }
};
template <> struct RedOp<static_cast<int>(ReduceOperation::kPROD)> {
    using A = double;
    static __device__ __forceinline__ A init() { return 1.0; }
    static __device__ __forceinline__ A add(A a, float v) { return a * static_cast<double>(v); }
    static __device__ __forceinline__ A combine(A a, A b) { return a * b; }
    static __device__ __forceinline__ float finish(A a, int64_t) { return static_cast<float>(a); }
};
template <> struct RedOp<static_cast<int>(ReduceOperation::kMAX)> {
    using A = float;
    static __device__ __forceinline__ A init() { return -INFINITY; }
    static __device__ __forceinline__ A add(A a, float v) { return (v > a || isnan(v)) ? v : a; }
    static __device__ __forceinline__ A combine(A a, A b) { return add(a, b); }
    static __device__ __forceinline__ float finish(A a, int64_t) { return a; }
};
template <> struct RedOp<static_cast<int>(ReduceOperation::kMIN)> {
    using A = float;
    static __device__ __forceinline__ A init() { return INFINITY; }
    static __device__ __forceinline__ A add(A a, float v) { return (v < a || isnan(v)) ? v : a; }
    static __device__ __forceinline__ A combine(A a, A b) { return add(a, b); }
    static __device__ __forceinline__ float finish(A a, int64_t) { return a; }
};

// ---- index helpers ----------------------------------------------------------------------------------------

//! Input offset of output index o (decomposed over the kept groups).
__device__ __forceinline__ int64_t keptOffset(int64_t o, const ReduceParams& p) {
    int64_t off = 0;
#pragma unroll
    for (int g = kMaxG - 1; g >= 0; --g) {
        if (g < p.nk) {
            const int64_t c = o % p.ksize[g];
            o /= p.ksize[g];
            off += c * p.kstride[g];
        }
    }
    return off;
}

//! Odometer over the reduced groups: digits idx[g], input offset off.
struct Odometer {
    int64_t idx[kMaxG];
    int64_t off;
    __device__ __forceinline__ void start(int64_t r, const ReduceParams& p) {
        off = 0;
#pragma unroll
        for (int g = kMaxG - 1; g >= 0; --g) {
            if (g < p.nr) {
                idx[g] = r % p.rsize[g];
                r /= p.rsize[g];
                off += idx[g] * p.rstride[g];
            }
        }
    }
    //! Moves `step` reduction elements on (mixed-radix add; a division only when a digit wraps twice).
    __device__ __forceinline__ void advance(int64_t step, const ReduceParams& p) {
        int64_t carry = step;
#pragma unroll
        for (int g = kMaxG - 1; g >= 0; --g) {
            if (g < p.nr && carry != 0) {
                const int64_t n = p.rsize[g];
                const int64_t v = idx[g] + carry;
                int64_t nv;
                if (v < n) {
                    nv = v;
                    carry = 0;
                } else if (v - n < n) {
                    nv = v - n;
                    carry = 1;
                } else {
                    carry = v / n;
                    nv = v - carry * n;
                }
                off += (nv - idx[g]) * p.rstride[g];
                idx[g] = nv;
            }
        }
    }
};

// ---- kernels ----------------------------------------------------------------------------------------------

//! One thread per output; the innermost kept group is contiguous, so a warp reads 32 neighbours per step.
template <int OP, typename E>
__global__ void __launch_bounds__(256) reduceColumns(const E* __restrict__ x, E* __restrict__ y, double* __restrict__ partial,
                                                     ReduceParams p) {
    using R = RedOp<OP>;
    const int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (o >= p.nOut) return;
    const int s = blockIdx.y;
    const int64_t r0 = s * p.chunk;
    const int64_t r1 = r0 + p.chunk < p.count ? r0 + p.chunk : p.count;
    const E* __restrict__ xp = x + keptOffset(o, p);
    typename R::A acc = R::init();
    if (r0 < r1) {
        Odometer od;
        od.start(r0, p);
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4) {  // four loads in flight, added in order
            int64_t off[4];
#pragma unroll
            for (int u = 0; u < 4; ++u) {
                off[u] = od.off;
                od.advance(1, p);
            }
            float v[4];
#pragma unroll
            for (int u = 0; u < 4; ++u) v[u] = cuda::ldFloat(xp + off[u]);
#pragma unroll
            for (int u = 0; u < 4; ++u) acc = R::add(acc, v[u]);
        }
        for (; r < r1; ++r) {
            acc = R::add(acc, cuda::ldFloat(xp + od.off));
            od.advance(1, p);
        }
    }
    if (p.splits == 1)
        y[o] = cuda::fromFloat<E>(R::finish(acc, p.count));
    else
        partial[static_cast<int64_t>(s) * p.nOut + o] = static_cast<double>(acc);
}

template <typename A>
__device__ __forceinline__ A shflXor(A v, int m) { return __shfl_xor_sync(0xffffffffu, v, m); }

//! A team of T threads (1, 32 or 256) per output; lanes stride over the reduction index. P == 2 (halves): the
//! reduction index counts pairs of neighbouring elements of a contiguous innermost reduced group (half2 loads);
//! p.count is then the number of pairs.
template <int OP, int T, typename E, int P>
__global__ void __launch_bounds__(256) reduceTeams(const E* __restrict__ x, E* __restrict__ y, double* __restrict__ partial,
                                                   ReduceParams p) {
    using R = RedOp<OP>;
    using A = typename R::A;
    constexpr int kTeams = 256 / T;
    const int lane = T == 1 ? 0 : static_cast<int>(threadIdx.x % T);
    const int64_t o = static_cast<int64_t>(blockIdx.x) * kTeams + threadIdx.x / T;
    if (o >= p.nOut) return;  // uniform over a team (a whole block when T == 256)
    const int s = blockIdx.y;
    const int64_t r0 = s * p.chunk;
    const int64_t r1 = r0 + p.chunk < p.count ? r0 + p.chunk : p.count;
    const E* __restrict__ xp = x + keptOffset(o, p);
    A acc = R::init();
    constexpr int U = T == 1 ? 8 : 4;  // loads in flight (a lone thread walking a long reduction wants more)
    if (r0 + lane < r1) {
        Odometer od;
        od.start(r0 + lane, p);
        int64_t r = r0 + lane;
        for (; r + (U - 1) * T < r1; r += U * T) {  // U loads in flight, added in order
            int64_t off[U];
#pragma unroll
            for (int u = 0; u < U; ++u) {
                off[u] = od.off;
                od.advance(T, p);
            }
            float v[U][P];
#pragma unroll
            for (int u = 0; u < U; ++u) cuda::loadN<P>(xp + off[u], v[u]);
#pragma unroll
            for (int u = 0; u < U; ++u)
#pragma unroll
                for (int q = 0; q < P; ++q) acc = R::add(acc, v[u][q]);
        }
        for (; r < r1; r += T) {
            float v[P];
            cuda::loadN<P>(xp + od.off, v);
#pragma unroll
            for (int q = 0; q < P; ++q) acc = R::add(acc, v[q]);
            od.advance(T, p);
        }
    }
    if (T >= 32) {
#pragma unroll
        for (int m = 16; m >= 1; m >>= 1) acc = R::combine(acc, shflXor(acc, m));
    }
    if (T == 256) {
        __shared__ A warpAcc[8];
        const int warp = threadIdx.x >> 5;
        if ((threadIdx.x & 31) == 0) warpAcc[warp] = acc;
        __syncthreads();
        if (warp == 0) {
            acc = (threadIdx.x < 8) ? warpAcc[threadIdx.x] : R::init();
#pragma unroll
            for (int m = 4; m >= 1; m >>= 1) acc = R::combine(acc, shflXor(acc, m));
        }
    }
    if (lane != 0) return;
    if (p.splits == 1)
        y[o] = cuda::fromFloat<E>(R::finish(acc, p.count * P));
    else
        partial[static_cast<int64_t>(s) * p.nOut + o] = static_cast<double>(acc);
}

//! Combines the splits of each output in split order.
template <int OP, typename E>
__global__ void __launch_bounds__(256) reduceFinish(const double* __restrict__ partial, E* __restrict__ y, int64_t nOut, int splits,
                                                    int64_t count) {
    using R = RedOp<OP>;
    using A = typename R::A;
    const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < nOut; o += step) {
        A acc = R::init();
        for (int s = 0; s < splits; ++s) acc = R::combine(acc, static_cast<A>(partial[static_cast<int64_t>(s) * nOut + o]));
        y[o] = cuda::fromFloat<E>(R::finish(acc, count));
    }
}

// ---- HALF HWC8 over the spatial axes ------------------------------------------------------------------------

struct SpatialParams {
    int64_t chunks;          // N * Cp / 8: (image, 8-channel chunk) pairs
    int64_t chunksPerImage;  // Cp / 8
    int64_t hw;              // pixels per image (the reduction length)
    int64_t pixelPitch;      // Cp: elements between neighbouring pixels of x
    int64_t batchStride;     // elements between images of x
    int64_t C;               // channels (those at c >= C are HWC8 padding)
    int64_t ldy;             // output elements between images and channels stored per image: C (LINEAR) or Cp (HWC8)
    int64_t perSplit;        // pixels per split range: ceil(hw / S)
    int splitShift;          // log2(S), S <= 32 split ranges per chunk (S = 1 for PROD)
    bool packStore;          // the 8 outputs of a chunk are one aligned 16-byte store (HWC8, or LINEAR with C % 8 == 0)
};

//! The 8 halves of a chunk at p as floats: one 16-byte load (kVec: p 16-byte aligned) or 8 scalar loads.
template <bool kVec>
__device__ __forceinline__ void loadChunk8(const __half* p, float (&v)[8]) {
    if constexpr (kVec) {
        cuda::loadPack<__half>(p, v);
    } else {
#pragma unroll
        for (int j = 0; j < 8; ++j) v[j] = cuda::ldFloat(p + j);
    }
}

//! Block of 256 threads: 256 / S chunks, S split ranges of pixels each. Thread t serves chunk slot t % (256 / S) and
//! range t / (256 / S), so a warp reads neighbouring chunks of one pixel (S <= 8) or 32 / S chunk runs (S > 8).
template <int OP, bool kVec>
__global__ void __launch_bounds__(256) reduceSpatialHwc8(const __half* __restrict__ x, __half* __restrict__ y, SpatialParams p) {
    using R = RedOp<OP>;
    using A = typename R::A;
    const int perBlock = 256 >> p.splitShift;
    const int slot = static_cast<int>(threadIdx.x) & (perBlock - 1);
    const int split = static_cast<int>(threadIdx.x) >> (8 - p.splitShift);
    const int64_t g = static_cast<int64_t>(blockIdx.x) * perBlock + slot;
    const bool valid = g < p.chunks;
    const int64_t n = valid ? g / p.chunksPerImage : 0, k = g - n * p.chunksPerImage;
    A acc[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[j] = R::init();
    if (valid) {
        const __half* __restrict__ xp = x + n * p.batchStride + k * 8;
        const int64_t p0 = split * p.perSplit;
        const int64_t p1 = p0 + p.perSplit < p.hw ? p0 + p.perSplit : p.hw;
        int64_t q = p0;
        for (; q + 4 <= p1; q += 4) {  // four 16-byte loads in flight, added in pixel order
            float v[4][8];
#pragma unroll
            for (int u = 0; u < 4; ++u) loadChunk8<kVec>(xp + (q + u) * p.pixelPitch, v[u]);
#pragma unroll
            for (int u = 0; u < 4; ++u)
#pragma unroll
                for (int j = 0; j < 8; ++j) acc[j] = R::add(acc[j], v[u][j]);
        }
        for (; q < p1; ++q) {
            float v[8];
            loadChunk8<kVec>(xp + q * p.pixelPitch, v);
#pragma unroll
            for (int j = 0; j < 8; ++j) acc[j] = R::add(acc[j], v[j]);
        }
    }
    if (p.splitShift > 0) {  // uniform over the grid: every thread reaches the barrier
        __shared__ A part[8][256];  // [element][thread]: neighbouring threads, neighbouring words
#pragma unroll
        for (int j = 0; j < 8; ++j) part[j][threadIdx.x] = acc[j];
        __syncthreads();
        if (split == 0) {
            const int S = 1 << p.splitShift;
            for (int s = 1; s < S; ++s)  // in range order
#pragma unroll
                for (int j = 0; j < 8; ++j) acc[j] = R::combine(acc[j], part[j][s * perBlock + slot]);
        }
    }
    if (split != 0 || !valid) return;
    float r[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) r[j] = k * 8 + j < p.C ? R::finish(acc[j], p.hw) : 0.f;  // HWC8 padding: 0
    __half* yp = y + n * p.ldy + k * 8;
    if (p.packStore) {
        cuda::storePack<__half>(yp, r);
    } else {
#pragma unroll
        for (int j = 0; j < 8; ++j)
            if (k * 8 + j < p.ldy) yp[j] = __float2half_rn(r[j]);
    }
}

// ---- host ---------------------------------------------------------------------------------------------------

enum class Path { kColumns, kTeam1, kTeam32, kTeam256 };

//! Groups and the launch shape for one input shape.
struct Launch {
    ReduceParams p;
    Path path;
    int64_t blocks;
};

//! Tactics: the format decides (each runs only on its own): "default" on LINEAR, "hwc8_spatial_chunk8" on HALF HWC8.
enum Tactic : int32_t { kDefault = 0, kSpatialHwc8 = 1, kNbTactics = 2 };
const char* const kTacticNames[kNbTactics] = {"default", "hwc8_spatial_chunk8"};

class ReduceGpu final : public cuda::FloatOrHalfKernel<ReduceGpu, ReduceOp> {
public:
    using FloatOrHalfKernel::FloatOrHalfKernel;
    size_t getWorkspaceSize() const noexcept override { return workspace_; }

    //! FLOAT / HALF LINEAR (FloatOrHalfKernel), and HALF HWC8 in when reducing exactly over H and W of a 4-D tensor; its
    //! output is then HALF LINEAR, or HALF HWC8 (N, C, 1, 1) with keep_dims.
    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t nIn, int32_t nOut) const noexcept override {
        if (pos >= 0 && inOut[0].format == TensorFormat::kHWC8) {
            if (inOut[0].type != DataType::kHALF || !spatialOnly(inOut[0].dims.nbDims)) return false;
            if (pos == 0) return true;
            const TensorDesc& d = inOut[pos];
            return d.type == DataType::kHALF && (d.format == TensorFormat::kLINEAR || (d.format == TensorFormat::kHWC8 && d.dims.nbDims == 4));
        }
        return FloatOrHalfKernel::supportsFormatCombination(pos, inOut, nIn, nOut);
    }

    int32_t getNbTactics() const noexcept override { return kNbTactics; }
    const char* getTacticName(int32_t t) const noexcept override { return t >= 0 && t < kNbTactics ? kTacticNames[t] : "invalid"; }
    int32_t setTactic(int32_t t) noexcept override { return t == getTactic() ? 0 : -1; }
    int32_t getTactic() const noexcept override { return hwc8_ ? kSpatialHwc8 : kDefault; }

protected:
    void configureKernel(const TensorDesc* in, int32_t, const TensorDesc*, int32_t) override {
        hwc8_ = in[0].format == TensorFormat::kHWC8;
        if (hwc8_) {  // (supportsFormatCombination: HALF, 4-D, over H and W)
            GIE_CHECK(in[0].type == DataType::kHALF && spatialOnly(in[0].dims.nbDims), ErrorCode::kINTERNAL,
                      "Reduce (GPU): HWC8 only for HALF tensors reduced over H and W");
            workspace_ = 0;
            return;
        }
        // Splits only happen for long reductions with few outputs; their partials then number at most
        // about numSMs * 2048 whatever the batch (see plan()).
        const Launch l = plan(in[0].dims, 0);
        const bool splittable = l.p.count >= 64 && op_.op != ReduceOperation::kPROD;
        workspace_ = splittable ? static_cast<size_t>(cuda::numSMs()) * 2048 * sizeof(double) : 0;
    }

    void run(const KernelCall& c) const override {
        if (c.inDesc[0].format == TensorFormat::kHWC8) runSpatialHwc8(c);
        else if (cuda::halfCall(c)) runTyped<__half>(c);
        else runTyped<float>(c);
    }

private:
    //! Whether the reduced axes of a rank-`rank` input are exactly H and W of a 4-D one (keep_dims either way).
    bool spatialOnly(int rank) const noexcept {
        if (rank != 4) return false;
        try {
            bool red[Dims::MAX_DIMS];
            op_.reducedAxes(4, red);
            return !red[0] && !red[1] && red[2] && red[3];
        } catch (...) {
            return false;  // an axis out of range or repeated: the layer's own check reports it
        }
    }

    void runSpatialHwc8(const KernelCall& c) const {
        const TensorDesc& xd = c.inDesc[0];
        const TensorDesc& yd = c.outDesc[0];
        GIE_CHECK(xd.type == DataType::kHALF && yd.type == DataType::kHALF && spatialOnly(xd.dims.nbDims), ErrorCode::kINTERNAL,
                  "Reduce (GPU): HWC8 only for HALF tensors reduced over H and W");
        const int64_t N = xd.dims.d[0], C = xd.dims.d[1];
        const int64_t cp = storedChannels(C, TensorFormat::kHWC8);
        SpatialParams p;
        p.chunksPerImage = cp / 8;
        p.chunks = N * p.chunksPerImage;
        if (p.chunks == 0) return;
        p.hw = xd.dims.d[2] * xd.dims.d[3];
        p.pixelPitch = cp;
        p.batchStride = batchStrideOf(xd);
        p.C = C;
        const bool hwc8Out = yd.format == TensorFormat::kHWC8;
        p.ldy = hwc8Out ? cp : C;
        const __half* x = c.in<__half>(0);
        __half* y = c.out<__half>(0);
        p.packStore = (hwc8Out || C % 8 == 0) && cuda::alignedTo(y, 16);
        // Split the pixels when the chunks alone leave the GPU short of about 1024 threads per SM (S <= 32, at least
        // one pixel per range); never for PROD (the CPU's sequence).
        int shift = 0;
        if (op_.op != ReduceOperation::kPROD) {
            const int64_t target = static_cast<int64_t>(cuda::numSMs()) * 1024;
            while (shift < 5 && (int64_t{2} << shift) <= p.hw && (p.chunks << shift) < target) ++shift;
        }
        p.splitShift = shift;
        p.perSplit = cuda::ceilDiv(p.hw, int64_t{1} << shift);
        const int64_t blocks = cuda::ceilDiv(p.chunks, int64_t{256} >> shift);
        GIE_CHECK(blocks <= INT32_MAX, ErrorCode::kUNSUPPORTED, "Reduce (GPU): ", N, " images of ", C, " channels are too many");
        const bool vec = cuda::alignedTo(x, 16) && p.batchStride % 8 == 0;
        cudaStream_t st = cuda::streamOf(c);
        withOp(op_.op, [&](auto k) { launchSpatial<decltype(k)::value>(vec, blocks, x, y, p, st); });
    }
    //! Calls f(std::integral_constant<int, OP>) for the operation: the one place that maps ReduceOperation onto the
    //! kernels' template argument.
    template <typename F>
    static void withOp(ReduceOperation op, F&& f) {
        switch (op) {
            case ReduceOperation::kSUM: f(std::integral_constant<int, static_cast<int>(ReduceOperation::kSUM)>{}); break;
            case ReduceOperation::kPROD: f(std::integral_constant<int, static_cast<int>(ReduceOperation::kPROD)>{}); break;
            case ReduceOperation::kMAX: f(std::integral_constant<int, static_cast<int>(ReduceOperation::kMAX)>{}); break;
            case ReduceOperation::kMIN: f(std::integral_constant<int, static_cast<int>(ReduceOperation::kMIN)>{}); break;
            case ReduceOperation::kAVG: f(std::integral_constant<int, static_cast<int>(ReduceOperation::kAVG)>{}); break;
        }
    }
    template <int OP>
    static void launchSpatial(bool vec, int64_t blocks, const __half* x, __half* y, const SpatialParams& p, cudaStream_t st) {
        const unsigned grid = static_cast<unsigned>(blocks);
        if (vec) reduceSpatialHwc8<OP, true><<<grid, 256, 0, st>>>(x, y, p);
        else reduceSpatialHwc8<OP, false><<<grid, 256, 0, st>>>(x, y, p);
        cuda::checkLaunch("reduceSpatialHwc8");
    }

    template <typename E>
    void runTyped(const KernelCall& c) const {
        const Launch l = plan(c.inDims(0), workspace_ / sizeof(double));
        if (l.p.nOut == 0) return;
        const E* x = c.in<E>(0);
        E* y = c.out<E>(0);
        double* partial = static_cast<double*>(c.workspace);
        cudaStream_t st = cuda::streamOf(c);
        if constexpr (std::is_same_v<E, __half>) {
            if (pairable(l, x)) return launchOp<2>(pairs(l), x, y, partial, st);
        }
        launchOp<1>(l, x, y, partial, st);
    }

    template <int P, typename E>
    void launchOp(const Launch& l, const E* x, E* y, double* partial, cudaStream_t st) const {
        withOp(op_.op, [&](auto k) { launch<decltype(k)::value, P>(l, x, y, partial, st); });
    }

    //! Whether a team launch can read pairs of halves: the innermost group is reduced, contiguous and even (every
    //! other stride is then a multiple of it, so every pair is 4-byte aligned when x is).
    static bool pairable(const Launch& l, const void* x) {
        const ReduceParams& p = l.p;
        return l.path != Path::kColumns && p.nr > 0 && p.rstride[p.nr - 1] == 1 && p.rsize[p.nr - 1] % 2 == 0 &&
               cuda::alignedTo(x, 4);
    }
    //! The launch over pairs: the innermost reduced group halved with stride 2, count and splits in pairs.
    static Launch pairs(Launch l) {
        ReduceParams& p = l.p;
        p.rsize[p.nr - 1] /= 2;
        p.rstride[p.nr - 1] = 2;
        p.count /= 2;
        p.chunk = cuda::ceilDiv(p.count, p.splits);
        if (p.chunk > 0) p.splits = static_cast<int>(cuda::ceilDiv(p.count, p.chunk));  // no empty split
        return l;
    }

    //! maxPartials: workspace capacity in doubles (0: no splits).
    Launch plan(const Dims& x, size_t maxPartials) const {
        int64_t sizes[Dims::MAX_DIMS];
        bool role[Dims::MAX_DIMS];
        const int ng = op_.groupDims(x, sizes, role);
        Launch l;
        ReduceParams& p = l.p;
        p.nk = p.nr = 0;
        int64_t stride = 1, strides[Dims::MAX_DIMS];
        for (int g = ng - 1; g >= 0; --g) {
            strides[g] = stride;
            stride *= sizes[g];
        }
        for (int g = 0; g < ng; ++g) {
            if (role[g]) {
                p.rsize[p.nr] = sizes[g];
                p.rstride[p.nr++] = strides[g];
            } else {
                p.ksize[p.nk] = sizes[g];
                p.kstride[p.nk++] = strides[g];
            }
        }
        for (int g = p.nk; g < kMaxG; ++g) p.ksize[g] = 1, p.kstride[g] = 0;
        for (int g = p.nr; g < kMaxG; ++g) p.rsize[g] = 1, p.rstride[g] = 0;
        p.nOut = 1;
        for (int g = 0; g < p.nk; ++g) p.nOut *= p.ksize[g];
        p.count = 1;
        for (int g = 0; g < p.nr; ++g) p.count *= p.rsize[g];
        p.splits = 1;
        p.chunk = p.count;
        const int64_t sms = cuda::numSMs();
        const bool innerKept = ng > 0 && !role[ng - 1];
        const bool inOrder = op_.op == ReduceOperation::kPROD;  // sequential, like the CPU (see the top)
        int64_t splits = 1;
        if (innerKept && p.ksize[p.nk - 1] >= 32) {
            l.path = Path::kColumns;
            const int64_t colBlocks = cuda::ceilDiv(p.nOut, 256);
            if (colBlocks < 2 * sms) splits = std::min(cuda::ceilDiv(4 * sms, colBlocks), p.count / 64);
            l.blocks = colBlocks;
        } else {
            int t = inOrder || p.count <= 16 ? 1 : p.count <= 2048 ? 32 : 256;
            l.path = t == 1 ? Path::kTeam1 : t == 32 ? Path::kTeam32 : Path::kTeam256;
            l.blocks = cuda::ceilDiv(p.nOut, 256 / t);
            if (t == 256 && p.nOut < 4 * sms) splits = std::min(cuda::ceilDiv(4 * sms, p.nOut), p.count / 2048);
        }
        if (maxPartials > 0 && p.nOut > 0 && !inOrder) splits = std::min<int64_t>(splits, static_cast<int64_t>(maxPartials) / p.nOut);
        else splits = 1;
        if (splits > 65535) splits = 65535;
        if (splits >= 2) {
            p.chunk = cuda::ceilDiv(p.count, splits);
            p.splits = static_cast<int>(cuda::ceilDiv(p.count, p.chunk));  // no empty split
        }
        return l;
    }

    template <int OP, int P, typename E>
    static void launch(const Launch& l, const E* x, E* y, double* partial, cudaStream_t st) {
        const ReduceParams& p = l.p;
        const dim3 grid(static_cast<unsigned>(l.blocks), static_cast<unsigned>(p.splits));
        switch (l.path) {
            case Path::kColumns:  // never pairs (pairable())
                if constexpr (P == 1) reduceColumns<OP, E><<<grid, 256, 0, st>>>(x, y, partial, p);
                break;
            case Path::kTeam1: reduceTeams<OP, 1, E, P><<<grid, 256, 0, st>>>(x, y, partial, p); break;
            case Path::kTeam32: reduceTeams<OP, 32, E, P><<<grid, 256, 0, st>>>(x, y, partial, p); break;
            case Path::kTeam256: reduceTeams<OP, 256, E, P><<<grid, 256, 0, st>>>(x, y, partial, p); break;
        }
        cuda::checkLaunch("reduce");
        if (p.splits > 1) {
            reduceFinish<OP, E><<<cuda::gridFor(p.nOut), 256, 0, st>>>(partial, y, p.nOut, p.splits, p.count * P);
            cuda::checkLaunch("reduce_finish");
        }
    }

    size_t workspace_ = 0;
    bool hwc8_ = false;  // configured on HALF HWC8 (the spatial tactic; the LINEAR paths refused)
};
GIE_REGISTER_KERNEL(ReduceGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
