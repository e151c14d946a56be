// GPU PRelu (kernels/prelu_cpu.cpp): y = x >= 0 ? x : slope * x, with one shared slope (passed by value) or one
// per channel (dimension 1; uploaded in initialize()). float32 or float16 tensors (computed in float, slopes stay
// float32, rounded to half once at the store). 16-byte loads/stores (float4, or 8 halves through half2) when the
// pointers are aligned and (per channel) the plane size is a multiple of 4 (8), so that a vector shares one channel.
#include <cstdint>

#include "common.cuh"
#include "fp16.cuh"
#include "layers/prelu.h"

namespace gie {
namespace {

__device__ __forceinline__ float prelu(float x, float s) { return x >= 0.f ? x : s * x; }

//! prelu over a pack of kN = cuda::kPack<T> elements (16 bytes, aligned) with one slope.
template <typename T>
__device__ __forceinline__ void preluPack(const T* __restrict__ x, T* __restrict__ y, float s) {
    float v[cuda::kPack<T>];
    cuda::loadPack(x, v);
#pragma unroll
    for (int e = 0; e < cuda::kPack<T>; ++e) v[e] = prelu(v[e], s);
    cuda::storePack(y, v);
}

// One slope. kVec: pointers 16-byte aligned; the tail (< kN elements) is done first by the first threads.
template <bool kVec, typename T>
__global__ void __launch_bounds__(256) preluShared(const T* __restrict__ x, T* __restrict__ y, int64_t n, float s) {
    constexpr int kN = cuda::kPack<T>;
    const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
    if (kVec) {
        const int64_t nv = n / kN;
        const int64_t t = nv * kN + tid;
        if (t < n) y[t] = cuda::fromFloat<T>(prelu(cuda::ldFloat(x + t), s));
        for (int64_t i = tid; i < nv; i += step) preluPack(x + i * kN, y + i * kN, s);
    } else {
        for (int64_t i = tid; i < n; i += step) y[i] = cuda::fromFloat<T>(prelu(cuda::ldFloat(x + i), s));
    }
}

// Per channel: element i (kVec: pack i of kN elements) belongs to channel (i / inner) % C, inner counted in
// the same unit. Idx: 32-bit when the element count allows.
template <bool kVec, typename Idx, typename T>
__global__ void __launch_bounds__(256) preluChannel(const T* __restrict__ x, T* __restrict__ y, Idx units, Idx inner, Idx C,
                                                    const float* __restrict__ slope) {
    constexpr int kN = cuda::kPack<T>;
    const Idx step = static_cast<Idx>(gridDim.x) * blockDim.x;
    for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < units; i += step) {
        const float s = __ldg(slope + (i / inner) % C);
        if (kVec) preluPack(x + static_cast<size_t>(i) * kN, y + static_cast<size_t>(i) * kN, s);
        else y[i] = cuda::fromFloat<T>(prelu(cuda::ldFloat(x + i), s));
    }
}

class PReluGpu final : public cuda::FloatOrHalfKernel<PReluGpu, PReluOp> {
public:
    using FloatOrHalfKernel::FloatOrHalfKernel;
    void initializeKernel() override {
        if (op_.slope.size() > 1) slope_ = cuda::upload(op_.slope, "PRelu slopes");
    }
    void terminate() noexcept override { slope_.reset(); }

    void run(const KernelCall& c) const override {
        if (cuda::halfCall(c)) runTyped<__half>(c);
        else runTyped<float>(c);
    }

private:
    template <typename T>
    void runTyped(const KernelCall& c) const {
        constexpr int kN = cuda::kPack<T>;
        const Dims& d = c.inDims(0);
        const int64_t n = volume(d);
        if (n == 0) return;
        const T* x = c.in<T>(0);
        T* y = c.out<T>(0);
        cudaStream_t s = cuda::streamOf(c);
        const bool aligned = cuda::aligned16(x, y);
        if (op_.slope.size() == 1) {
            if (aligned) preluShared<true, T><<<cuda::gridFor((n + kN - 1) / kN, 256), 256, 0, s>>>(x, y, n, op_.slope[0]);
            else preluShared<false, T><<<cuda::gridFor(n, 256), 256, 0, s>>>(x, y, n, op_.slope[0]);
            cuda::checkLaunch("preluShared");
            return;
        }
        GIE_CHECK(slope_, ErrorCode::kINTERNAL, "PRelu (GPU): run before initialize");
        const int64_t C = d.d[1], inner = n / (d.d[0] * C);
        const bool vec = aligned && inner % kN == 0;
        const int64_t units = vec ? n / kN : n, innerU = vec ? inner / kN : inner;
        const unsigned grid = cuda::gridFor(units, 256);
        const float* sl = slope_->as<float>();
        if (units < (int64_t{1} << 31)) {
            const uint32_t u = static_cast<uint32_t>(units), in = static_cast<uint32_t>(innerU), cc = static_cast<uint32_t>(C);
            if (vec) preluChannel<true, uint32_t, T><<<grid, 256, 0, s>>>(x, y, u, in, cc, sl);
            else preluChannel<false, uint32_t, T><<<grid, 256, 0, s>>>(x, y, u, in, cc, sl);
        } else {
            const uint64_t u = static_cast<uint64_t>(units), in = static_cast<uint64_t>(innerU), cc = static_cast<uint64_t>(C);
            if (vec) preluChannel<true, uint64_t, T><<<grid, 256, 0, s>>>(x, y, u, in, cc, sl);
            else preluChannel<false, uint64_t, T><<<grid, 256, 0, s>>>(x, y, u, in, cc, sl);
        }
        cuda::checkLaunch("preluChannel");
    }

    std::shared_ptr<cuda::DeviceArray> slope_;
};
GIE_REGISTER_KERNEL(PReluGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
