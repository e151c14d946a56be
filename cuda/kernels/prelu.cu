// GPU PRelu (kernels/prelu_cpu.cpp): y = x >= 0 ? x : slope * x, with one shared slope (passed by value) or one
// per channel (dimension 1; uploaded in initialize()). float4 loads/stores when the pointers are aligned and (per
// channel) the plane size is a multiple of 4, so that the 4 lanes of a vector share one channel.
#include <cstdint>

#include "common.cuh"
#include "layers/prelu.h"

namespace gie {
namespace {

__device__ __forceinline__ float prelu(float x, float s) { return x >= 0.f ? x : s * x; }

__device__ __forceinline__ float4 prelu4(float4 v, float s) {
    return make_float4(prelu(v.x, s), prelu(v.y, s), prelu(v.z, s), prelu(v.w, s));
}

// One slope. kVec: pointers 16-byte aligned; the tail (< 4 elements) is done first by the first threads.
template <bool kVec>
__global__ void __launch_bounds__(256) preluShared(const float* __restrict__ x, float* __restrict__ y, int64_t n, float s) {
    const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
    if (kVec) {
        const int64_t n4 = n >> 2;
        const int64_t t = (n4 << 2) + tid;
        if (t < n) y[t] = prelu(__ldg(x + t), s);
        const float4* __restrict__ x4 = reinterpret_cast<const float4*>(x);
        float4* __restrict__ y4 = reinterpret_cast<float4*>(y);
        for (int64_t i = tid; i < n4; i += step) y4[i] = prelu4(__ldg(x4 + i), s);
    } else {
        for (int64_t i = tid; i < n; i += step) y[i] = prelu(__ldg(x + i), s);
    }
}

// Per channel: element i (kVec: vector i of 4 elements) belongs to channel (i / inner) % C, inner counted in
// the same unit. Idx: 32-bit when the element count allows.
template <bool kVec, typename Idx>
__global__ void __launch_bounds__(256) preluChannel(const float* __restrict__ x, float* __restrict__ y, Idx units, Idx inner,
                                                    Idx C, const float* __restrict__ slope) {
    const Idx step = static_cast<Idx>(gridDim.x) * blockDim.x;
    for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < units; i += step) {
        const float s = __ldg(slope + (i / inner) % C);
        if (kVec) {
            reinterpret_cast<float4*>(y)[i] = prelu4(__ldg(reinterpret_cast<const float4*>(x) + i), s);
        } else {
            y[i] = prelu(__ldg(x + i), s);
        }
    }
}

class PReluGpu final : public Kernel<PReluGpu, PReluOp> {
public:
    using Kernel::Kernel;
    void initializeKernel() override {
        if (op_.slope.size() > 1) slope_ = cuda::upload(op_.slope, "PRelu slopes");
    }
    void terminate() noexcept override { slope_.reset(); }

    void run(const KernelCall& c) const override {
        const Dims& d = c.inDims(0);
        const int64_t n = volume(d);
        if (n == 0) return;
        const float* x = c.in(0);
        float* y = c.out(0);
        cudaStream_t s = cuda::streamOf(c);
        const bool aligned = cuda::aligned16(x, y);
        if (op_.slope.size() == 1) {
            if (aligned) preluShared<true><<<cuda::gridFor((n + 3) / 4, 256), 256, 0, s>>>(x, y, n, op_.slope[0]);
            else preluShared<false><<<cuda::gridFor(n, 256), 256, 0, s>>>(x, y, n, op_.slope[0]);
            cuda::checkLaunch("preluShared");
            return;
        }
        GIE_CHECK(slope_, ErrorCode::kINTERNAL, "PRelu (GPU): run before initialize");
        const int64_t C = d.d[1], inner = n / (d.d[0] * C);
        const bool vec = aligned && inner % 4 == 0;
        const int64_t units = vec ? n / 4 : n, innerU = vec ? inner / 4 : inner;
        const unsigned grid = cuda::gridFor(units, 256);
        const float* sl = slope_->as<float>();
        if (units < (int64_t{1} << 31)) {
            const uint32_t u = static_cast<uint32_t>(units), in = static_cast<uint32_t>(innerU), cc = static_cast<uint32_t>(C);
            if (vec) preluChannel<true, uint32_t><<<grid, 256, 0, s>>>(x, y, u, in, cc, sl);
            else preluChannel<false, uint32_t><<<grid, 256, 0, s>>>(x, y, u, in, cc, sl);
        } else {
            const uint64_t u = static_cast<uint64_t>(units), in = static_cast<uint64_t>(innerU), cc = static_cast<uint64_t>(C);
            if (vec) preluChannel<true, uint64_t><<<grid, 256, 0, s>>>(x, y, u, in, cc, sl);
            else preluChannel<false, uint64_t><<<grid, 256, 0, s>>>(x, y, u, in, cc, sl);
        }
        cuda::checkLaunch("preluChannel");
    }

private:
    std::shared_ptr<cuda::DeviceArray> slope_;
};
GIE_REGISTER_KERNEL(PReluGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
