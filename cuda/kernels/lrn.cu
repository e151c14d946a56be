// GPU LRN across channels (Caffe semantics, as kernels/lrn_cpu.cpp):
//   y = x * (k + alpha / n * sum_{c' in [c - n/2, c + n/2] clipped to [0, C)} x[c']^2) ^ -beta
// with beta 0.75, 0.5 and 1 spelled out exactly like the CPU kernel (x / sqrt(b * sqrt(b)), x / sqrt(b), x / b).
// One thread per output; the window's loads of neighbouring threads (consecutive spatial positions) are
// coalesced and the window's overlap between channels is served by L1. The sum of squares is a direct
// float sum over the window (the CPU slides a double accumulator; both are exact to ~1e-7 relative).
// float16 tensors: the same float math, rounded to half once at the store; two neighbouring positions per thread
// (half2 loads and stores) when the plane size is even.
#include <cstdint>

#include "common.cuh"
#include "fp16.cuh"
#include "layers/lrn.h"

namespace gie {
namespace {

struct LrnParams {
    int C, half;
    float k, scale, negBeta;
    int betaKind;  // 0: 0.75, 1: 0.5, 2: 1, 3: any
};

// One thread per V outputs (V == 2: two neighbouring spatial positions of one channel, S even). total and i count
// elements.
template <int kBetaKind, typename Idx, typename T, int V>
__global__ void __launch_bounds__(256) lrnKernel(const T* __restrict__ x, T* __restrict__ y, LrnParams p, Idx S, Idx total) {
    const Idx step = static_cast<Idx>(gridDim.x) * blockDim.x * V;
    for (Idx i = (static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x) * V; i < total; i += step) {
        const int c = static_cast<int>((i / S) % static_cast<Idx>(p.C));
        const T* __restrict__ xb = x + (i - static_cast<Idx>(c) * S);  // channel 0 of this (n, s)
        const int c0 = max(c - p.half, 0), c1 = min(c + p.half, p.C - 1);
        float sum[V] = {};
        for (int cc = c0; cc <= c1; ++cc) {
            float v[V];
            cuda::loadN<V>(xb + static_cast<Idx>(cc) * S, v);
#pragma unroll
            for (int e = 0; e < V; ++e) sum[e] += v[e] * v[e];
        }
        float xv[V], r[V];
        cuda::loadN<V>(x + i, xv);
#pragma unroll
        for (int e = 0; e < V; ++e) {
            const float s = sum[e] > 0.f ? sum[e] : 0.f;  // the CPU's guard (also maps NaN to 0)
            const float base = p.k + p.scale * s;
            if (kBetaKind == 0) r[e] = xv[e] / sqrtf(base * sqrtf(base));
            else if (kBetaKind == 1) r[e] = xv[e] / sqrtf(base);
            else if (kBetaKind == 2) r[e] = xv[e] / base;
            else r[e] = xv[e] * powf(base, p.negBeta);
        }
        cuda::storeN<V>(y + i, r);
    }
}

class LRNGpu final : public cuda::FloatOrHalfKernel<LRNGpu, LRNOp> {
public:
    using FloatOrHalfKernel::FloatOrHalfKernel;
    void run(const KernelCall& c) const override {
        const Dims& d = c.inDims(0);
        const int64_t N = d.d[0], C = d.d[1], S = splitAtAxis(d, 1).inner;
        const int64_t total = N * C * S;
        if (total == 0) return;
        GIE_CHECK(C < (int64_t{1} << 30), ErrorCode::kUNSUPPORTED, "LRN (GPU): too many channels (", C, ")");
        LrnParams p;
        p.C = static_cast<int>(C);
        p.half = static_cast<int>(std::min<int64_t>(op_.window / 2, int64_t{1} << 30));
        p.k = op_.k;
        p.scale = static_cast<float>(static_cast<double>(op_.alpha) / static_cast<double>(op_.window));
        p.negBeta = -op_.beta;
        p.betaKind = op_.beta == 0.75f ? 0 : op_.beta == 0.5f ? 1 : op_.beta == 1.f ? 2 : 3;
        cudaStream_t s = cuda::streamOf(c);
        if (cuda::halfCall(c)) {
            const auto* x = c.in<__half>(0);
            auto* y = c.out<__half>(0);
            if (S % 2 == 0 && cuda::alignedTo(x, 4) && cuda::alignedTo(y, 4)) launchSized<__half, 2>(p, s, x, y, S, total);
            else launchSized<__half, 1>(p, s, x, y, S, total);
        } else {
            launchSized<float, 1>(p, s, c.in(0), c.out(0), S, total);
        }
        cuda::checkLaunch("lrnKernel");
    }

private:
    template <typename T, int V>
    static void launchSized(const LrnParams& p, cudaStream_t s, const T* x, T* y, int64_t S, int64_t total) {
        const unsigned grid = cuda::gridFor(total / V, 256);
        if (total < (int64_t{1} << 31)) launch<uint32_t, T, V>(p, grid, s, x, y, static_cast<uint32_t>(S), static_cast<uint32_t>(total));
        else launch<uint64_t, T, V>(p, grid, s, x, y, static_cast<uint64_t>(S), static_cast<uint64_t>(total));
    }
    template <typename Idx, typename T, int V>
    static void launch(const LrnParams& p, unsigned grid, cudaStream_t s, const T* x, T* y, Idx S, Idx total) {
        switch (p.betaKind) {
            case 0: lrnKernel<0, Idx, T, V><<<grid, 256, 0, s>>>(x, y, p, S, total); break;
            case 1: lrnKernel<1, Idx, T, V><<<grid, 256, 0, s>>>(x, y, p, S, total); break;
            case 2: lrnKernel<2, Idx, T, V><<<grid, 256, 0, s>>>(x, y, p, S, total); break;
            default: lrnKernel<3, Idx, T, V><<<grid, 256, 0, s>>>(x, y, p, S, total); break;
        }
    }
};
GIE_REGISTER_KERNEL(LRNGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
