// GPU LayerNorm (kernels/layer_norm_cpu.cpp is the reference): the tensor viewed as (outer, n, inner) around the
// axis; per (outer, inner) column mean = sum x / n, var = sum (x - mean)^2 / n (two passes over the row, the
// second one reads L1/L2), y = (x - mean) * rsqrt(var + eps) * scale[k] + bias[k].
// float32 and float16 tensors run the same kernels (T = __half): loads widen to float, every sum and reduction
// (warp shuffles, shared memory across warps) is FP32, and only the stored output is rounded to half.
//
// Tactics:
//   row_warp    inner == 1 (normalised over the last axis: transformer tokens): one warp per row.
//   row_block   inner == 1, long rows: 256 threads per row, warp then block reduction.
//   column      any inner (the channel axis of NCHW, ConvNeXt): one thread per (outer, inner) column, loads
//               coalesced across consecutive columns.
//   column_split8 / column_split32
//               any inner, few columns (ConvNeXt's last stage at batch 1: 49 columns of 768 channels, where `column`
//               runs 49 threads serially over 3 x 768 loads): a block of 256 threads takes 8 or 32 consecutive
//               columns, one per lane position, and splits the axis over its 32 or 8 thread groups (strided k); the
//               partial sums meet in shared memory, added in a fixed order (deterministic; the order differs
//               from `column`'s, so results may differ in the last bits).
// HALF HWC8 over the channel axis of a 4-D tensor (ConvNeXt's LayerNorm between a depthwise convolution and a 1x1
// one, both HWC8): each pixel's channels are one contiguous row, so the row tactics run on it (row pitch Cp, the
// padding channels written as zeros) and no Reformat is needed on either side; the column tactics are refused.
// scale / bias (FP32) are uploaded in initialize(); absent ones are not read (kAffine false).
#include <cmath>
#include <cstdint>

#include "common.cuh"
#include "common/format.h"
#include "fp16.cuh"
#include "layers/layer_norm.h"

namespace gie {
namespace {

//! Sum of v over the TPR threads of one row (TPR 32: a warp; 256: the block, through `red`).
template <int TPR>
__device__ __forceinline__ float rowSum(float v, float* red) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if constexpr (TPR == 32) {
        return v;
    } else {
        const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
        if (lane == 0) red[warp] = v;
        __syncthreads();
        float s = 0.f;
#pragma unroll
        for (int w = 0; w < TPR / 32; ++w) s += red[w];
        __syncthreads();  // red is reused by the next reduction
        return s;
    }
}

//! Where the rows lie: row r is pixel p = r % pq of image r / pq, at image * bs + p * ld (LINEAR: pq = rows, ld = n,
//! bs unused; HALF HWC8 over channels: a pixel's C channels then Cp - C zero padding channels, ld = Cp).
struct RowGeometry {
    int64_t pq = 1, ld = 0, bsIn = 0, bsOut = 0;
};

template <int TPR, bool kAffine, typename T>
__global__ void __launch_bounds__(256) layerNormRows(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int n, RowGeometry geo,
                                                     float eps, const float* __restrict__ scale, const float* __restrict__ bias) {
    __shared__ float red[TPR == 32 ? 1 : TPR / 32];
    constexpr int kRowsPerBlock = 256 / TPR;
    const int lane = threadIdx.x % TPR;
    const float invN = 1.f / static_cast<float>(n);
    // Every thread of a row group runs the same iterations (the shuffles need the whole warp; row_block's
    // __syncthreads the whole block): rows past the end are computed on nothing and not stored.
    const int64_t first = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock;
    const int64_t step = static_cast<int64_t>(gridDim.x) * kRowsPerBlock;
    for (int64_t base = first; base < rows; base += step) {
        const int64_t row = base + threadIdx.x / TPR;
        const bool valid = row < rows;
        // (no 64-bit division where every row is in image 0: LINEAR, where pq = rows, or one HWC8 image)
        const int64_t img = valid && geo.pq < rows ? row / geo.pq : 0, px = valid ? row - img * geo.pq : 0;
        const T* __restrict__ xr = x + img * geo.bsIn + px * geo.ld;
        float s = 0.f;
        if (valid)
            for (int i = lane; i < n; i += TPR) s += cuda::ldFloat(xr + i);
        const float mean = rowSum<TPR>(s, red) * invN;
        float v = 0.f;
        if (valid)
            for (int i = lane; i < n; i += TPR) {
                const float d = cuda::ldFloat(xr + i) - mean;
                v += d * d;
            }
        const float rstd = rsqrtf(rowSum<TPR>(v, red) * invN + eps);
        if (!valid) continue;
        T* __restrict__ yr = y + img * geo.bsOut + px * geo.ld;
        for (int i = lane; i < n; i += TPR) {
            float o = (cuda::ldFloat(xr + i) - mean) * rstd;
            if (kAffine) o = o * __ldg(scale + i) + __ldg(bias + i);
            yr[i] = cuda::fromFloat<T>(o);
        }
        for (int i = n + lane; i < geo.ld; i += TPR) yr[i] = cuda::fromFloat<T>(0.f);  // HWC8 padding channels
    }
}

template <bool kAffine, typename T>
__global__ void __launch_bounds__(256) layerNormColumns(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int n, int64_t inner,
                                                        float eps, const float* __restrict__ scale, const float* __restrict__ bias) {
    const int64_t cols = outer * inner;
    const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
    const float invN = 1.f / static_cast<float>(n);
    for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < cols; j += step) {
        const int64_t o = j / inner, i = j - o * inner;
        const int64_t base = o * n * inner + i;
        const T* __restrict__ xp = x + base;
        float s = 0.f;
        for (int k = 0; k < n; ++k) s += cuda::ldFloat(xp + k * inner);
        const float mean = s * invN;
        float v = 0.f;
        for (int k = 0; k < n; ++k) {
            const float d = cuda::ldFloat(xp + k * inner) - mean;
            v += d * d;
        }
        const float rstd = rsqrtf(v * invN + eps);
        T* __restrict__ yp = y + base;
        for (int k = 0; k < n; ++k) {
            float r = (cuda::ldFloat(xp + k * inner) - mean) * rstd;
            if (kAffine) r = r * __ldg(scale + k) + __ldg(bias + k);
            yp[k * inner] = cuda::fromFloat<T>(r);
        }
    }
}

//! CT consecutive columns per block of 256 threads, the axis split over the 256 / CT thread groups of a column.
template <int CT, bool kAffine, typename T>
__global__ void __launch_bounds__(256) layerNormColumnsSplit(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int n, int64_t inner,
                                                             float eps, const float* __restrict__ scale, const float* __restrict__ bias) {
    constexpr int S = 256 / CT;
    __shared__ float red[S][CT];
    const int c = static_cast<int>(threadIdx.x) % CT, part = static_cast<int>(threadIdx.x) / CT;
    const int64_t cols = outer * inner;
    const float invN = 1.f / static_cast<float>(n);
    // Block-uniform loop (the barriers need every thread): columns past the end sum nothing and store nothing.
    for (int64_t j0 = static_cast<int64_t>(blockIdx.x) * CT; j0 < cols; j0 += static_cast<int64_t>(gridDim.x) * CT) {
        const int64_t j = j0 + c;
        const bool valid = j < cols;
        const int64_t o = valid ? j / inner : 0, i = valid ? j - o * inner : 0;
        const T* __restrict__ xp = x + o * n * inner + i;
        float s = 0.f;
        if (valid)
            for (int k = part; k < n; k += S) s += cuda::ldFloat(xp + static_cast<int64_t>(k) * inner);
        red[part][c] = s;
        __syncthreads();
        float tot = 0.f;
#pragma unroll 8
        for (int w = 0; w < S; ++w) tot += red[w][c];
        __syncthreads();  // red is reused below
        const float mean = tot * invN;
        float v = 0.f;
        if (valid)
            for (int k = part; k < n; k += S) {
                const float d = cuda::ldFloat(xp + static_cast<int64_t>(k) * inner) - mean;
                v += d * d;
            }
        red[part][c] = v;
        __syncthreads();
        float var = 0.f;
#pragma unroll 8
        for (int w = 0; w < S; ++w) var += red[w][c];
        __syncthreads();
        const float rstd = rsqrtf(var * invN + eps);
        if (!valid) continue;
        T* __restrict__ yp = y + o * n * inner + i;
        for (int k = part; k < n; k += S) {
            float r = (cuda::ldFloat(xp + static_cast<int64_t>(k) * inner) - mean) * rstd;
            if (kAffine) r = r * __ldg(scale + k) + __ldg(bias + k);
            yp[static_cast<int64_t>(k) * inner] = cuda::fromFloat<T>(r);
        }
    }
}

enum Tactic : int32_t { kRowWarp = 0, kRowBlock = 1, kColumn = 2, kColumnSplit8 = 3, kColumnSplit32 = 4, kNbTactics = 5 };
const char* const kTacticNames[kNbTactics] = {"row_warp", "row_block256", "column", "column_split8", "column_split32"};
inline bool columnTactic(int t) { return t == kColumn || t == kColumnSplit8 || t == kColumnSplit32; }
constexpr int64_t kRowWarpMax = 4096;  // longer rows: 128 loads per lane and up, a block per row is faster

class LayerNormGpu final : public cuda::FloatOrHalfKernel<LayerNormGpu, LayerNormOp> {
public:
    using FloatOrHalfKernel::FloatOrHalfKernel;

    int32_t getNbTactics() const noexcept override { return kNbTactics; }
    const char* getTacticName(int32_t t) const noexcept override { return t >= 0 && t < kNbTactics ? kTacticNames[t] : "invalid"; }
    //! FLOAT / HALF LINEAR (FloatOrHalfKernel), and HALF HWC8 in and out when normalizing over the channels of a 4-D
    //! tensor.
    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t nIn, int32_t nOut) const noexcept override {
        if (pos >= 0 && inOut[0].format == TensorFormat::kHWC8) {
            if (inOut[0].type != DataType::kHALF || inOut[0].dims.nbDims != 4 || (op_.axis != 1 && op_.axis != -3)) return false;
            return pos == 0 || (inOut[pos].type == DataType::kHALF && inOut[pos].format == TensorFormat::kHWC8);
        }
        return FloatOrHalfKernel::supportsFormatCombination(pos, inOut, nIn, nOut);
    }

    int32_t setTactic(int32_t t) noexcept override {
        if (t < 0 || t >= kNbTactics) return -1;
        if (!columnTactic(t) && !innerOne_) return -1;
        if (columnTactic(t) && hwc8_) return -1;
        tactic_ = t;
        return 0;
    }
    int32_t getTactic() const noexcept override { return tactic_; }

    void initializeKernel() override {
        // One array (scale then bias, defaults filled in) so that the kernels read both from one pointer.
        if (op_.scale.empty() && op_.bias.empty()) return;
        const size_t n = op_.scale.empty() ? op_.bias.size() : op_.scale.size();
        std::vector<float> sb(2 * n);
        for (size_t k = 0; k < n; ++k) {
            sb[k] = op_.scaleAt(static_cast<int64_t>(k));
            sb[n + k] = op_.biasAt(static_cast<int64_t>(k));
        }
        affineLen_ = static_cast<int64_t>(n);
        affine_ = cuda::upload(sb, "LayerNorm scale and bias");
    }
    void terminate() noexcept override { affine_.reset(); }

protected:
    void configureKernel(const TensorDesc* in, int32_t, const TensorDesc*, int32_t) override {
        const Dims& d = in[0].dims;
        const int ax = normalizeAxis(op_.axis, d.nbDims, "LayerNorm");
        hwc8_ = in[0].format == TensorFormat::kHWC8;
        GIE_CHECK(!hwc8_ || (d.nbDims == 4 && ax == 1), ErrorCode::kINTERNAL, "LayerNorm (GPU): HWC8 only over the channels of a 4-D tensor");
        innerOne_ = hwc8_ || splitAtAxis(d, ax).inner == 1;
        GIE_CHECK(d.d[ax] < (int64_t{1} << 31), ErrorCode::kUNSUPPORTED, "LayerNorm (GPU): the axis has ", d.d[ax], " elements");
        tactic_ = !innerOne_ ? kColumn : d.d[ax] <= kRowWarpMax ? kRowWarp : kRowBlock;
    }

    void run(const KernelCall& c) const override {
        if (cuda::halfCall(c)) runTyped<__half>(c);
        else runTyped<float>(c);
    }

private:
    template <typename T>
    void runTyped(const KernelCall& c) const {
        const Dims& d = c.inDims(0);
        const int ax = normalizeAxis(op_.axis, d.nbDims, "LayerNorm");
        const AxisSplit sp = splitAtAxis(d, ax);
        const int64_t outer = sp.outer, inner = sp.inner, n64 = d.d[ax];
        if (outer * n64 * inner == 0) return;
        GIE_CHECK(n64 < (int64_t{1} << 31), ErrorCode::kUNSUPPORTED, "LayerNorm (GPU): the axis has ", n64, " elements");
        const bool affine = static_cast<bool>(affine_);
        GIE_CHECK(!affine || affineLen_ == n64, ErrorCode::kINTERNAL, "LayerNorm (GPU): ", affineLen_, " scale values for an axis of ", n64);
        const int n = static_cast<int>(n64);
        const T* x = c.in<T>(0);
        T* y = c.out<T>(0);
        const float* sc = affine ? affine_->as<float>() : nullptr;
        const float* bi = affine ? sc + n : nullptr;
        const float eps = op_.epsilon;
        cudaStream_t s = cuda::streamOf(c);
        int t = tactic_;
        RowGeometry geo;  // LINEAR rows: one image of `outer` rows n apart
        int64_t rows = outer;
        if (c.inDesc[0].format == TensorFormat::kHWC8) {  // (supportsFormatCombination: HALF, 4-D, over the channels)
            rows = d.d[0] * d.d[2] * d.d[3];
            geo.pq = d.d[2] * d.d[3];
            geo.ld = storedChannels(n64, TensorFormat::kHWC8);
            geo.bsIn = batchStrideOf(c.inDesc[0]);
            geo.bsOut = batchStrideOf(c.outDesc[0]);
            if (columnTactic(t)) t = n64 <= kRowWarpMax ? kRowWarp : kRowBlock;
        } else {
            geo.pq = outer > 0 ? outer : 1;
            geo.ld = n64;
            if (inner != 1 && !columnTactic(t)) t = kColumn;  // axis 0 (the batch) changes length with the batch
        }
        switch (t) {
            case kRowWarp: {
                const int64_t cap = static_cast<int64_t>(cuda::numSMs()) * 32;
                const int64_t blocks = cuda::ceilDiv(rows, 256 / 32);
                const unsigned grid = static_cast<unsigned>(blocks < cap ? blocks : cap);
                if (affine) layerNormRows<32, true, T><<<grid, 256, 0, s>>>(x, y, rows, n, geo, eps, sc, bi);
                else layerNormRows<32, false, T><<<grid, 256, 0, s>>>(x, y, rows, n, geo, eps, sc, bi);
                cuda::checkLaunch("layerNormRows<32>");
                return;
            }
            case kRowBlock: {
                const int64_t cap = static_cast<int64_t>(cuda::numSMs()) * 16;
                const unsigned grid = static_cast<unsigned>(rows < cap ? rows : cap);
                if (affine) layerNormRows<256, true, T><<<grid, 256, 0, s>>>(x, y, rows, n, geo, eps, sc, bi);
                else layerNormRows<256, false, T><<<grid, 256, 0, s>>>(x, y, rows, n, geo, eps, sc, bi);
                cuda::checkLaunch("layerNormRows<256>");
                return;
            }
            case kColumnSplit8:
            case kColumnSplit32: {
                const int ct = t == kColumnSplit8 ? 8 : 32;
                const int64_t cap = static_cast<int64_t>(cuda::numSMs()) * 8;
                const int64_t blocks = cuda::ceilDiv(outer * inner, ct);
                const unsigned grid = static_cast<unsigned>(blocks < cap ? blocks : cap);
                if (t == kColumnSplit8) {
                    if (affine) layerNormColumnsSplit<8, true, T><<<grid, 256, 0, s>>>(x, y, outer, n, inner, eps, sc, bi);
                    else layerNormColumnsSplit<8, false, T><<<grid, 256, 0, s>>>(x, y, outer, n, inner, eps, sc, bi);
                } else {
                    if (affine) layerNormColumnsSplit<32, true, T><<<grid, 256, 0, s>>>(x, y, outer, n, inner, eps, sc, bi);
                    else layerNormColumnsSplit<32, false, T><<<grid, 256, 0, s>>>(x, y, outer, n, inner, eps, sc, bi);
                }
                cuda::checkLaunch("layerNormColumnsSplit");
                return;
            }
            default: {
                const unsigned grid = cuda::gridFor(outer * inner, 256);
                if (affine) layerNormColumns<true, T><<<grid, 256, 0, s>>>(x, y, outer, n, inner, eps, sc, bi);
                else layerNormColumns<false, T><<<grid, 256, 0, s>>>(x, y, outer, n, inner, eps, sc, bi);
                cuda::checkLaunch("layerNormColumns");
                return;
            }
        }
    }

    std::shared_ptr<cuda::DeviceArray> affine_;
    int64_t affineLen_ = 0;
    bool innerOne_ = false;
    bool hwc8_ = false;  // configured on HALF HWC8 (rows of channels; the column tactics refused)
    int32_t tactic_ = kRowWarp;
};
GIE_REGISTER_KERNEL(LayerNormGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
