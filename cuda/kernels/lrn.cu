// GPU LRN across channels (Caffe semantics, as kernels/lrn_cpu.cpp):
//   y = x * (k + alpha / n * sum_{c' in [c - n/2, c + n/2] clipped to [0, C)} x[c']^2) ^ -beta
// with beta 0.75, 0.5 and 1 spelled out exactly like the CPU kernel (x / sqrt(b * sqrt(b)), x / sqrt(b), x / b).
// One thread per output; the window's loads of neighbouring threads (consecutive spatial positions) are
// coalesced and the window's overlap between channels is served by L1. The sum of squares is a direct
// float sum over the window (the CPU slides a double accumulator; both are exact to ~1e-7 relative).
#include <cstdint>

#include "common.cuh"
#include "layers/lrn.h"

namespace gie {
namespace {

struct LrnParams {
    int C, half;
    float k, scale, negBeta;
    int betaKind;  // 0: 0.75, 1: 0.5, 2: 1, 3: any
};

template <int kBetaKind, typename Idx>
__global__ void __launch_bounds__(256) lrnKernel(const float* __restrict__ x, float* __restrict__ y, LrnParams p, Idx S,
                                                 Idx total) {
    const Idx step = static_cast<Idx>(gridDim.x) * blockDim.x;
    for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
        const int c = static_cast<int>((i / S) % static_cast<Idx>(p.C));
        const float* __restrict__ xb = x + (i - static_cast<Idx>(c) * S);  // channel 0 of this (n, s)
        const int c0 = max(c - p.half, 0), c1 = min(c + p.half, p.C - 1);
        float sum = 0.f;
        for (int cc = c0; cc <= c1; ++cc) {
            const float v = __ldg(xb + static_cast<Idx>(cc) * S);
            sum += v * v;
        }
        sum = sum > 0.f ? sum : 0.f;  // the CPU's guard (also maps NaN to 0)
        const float base = p.k + p.scale * sum;
        const float xv = __ldg(x + i);
        float r;
        if (kBetaKind == 0) r = xv / sqrtf(base * sqrtf(base));
        else if (kBetaKind == 1) r = xv / sqrtf(base);
        else if (kBetaKind == 2) r = xv / base;
        else r = xv * powf(base, p.negBeta);
        y[i] = r;
    }
}

class LRNGpu final : public Kernel<LRNGpu, LRNOp> {
public:
    using Kernel::Kernel;
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
        const unsigned grid = cuda::gridFor(total, 256);
        cudaStream_t s = cuda::streamOf(c);
        if (total < (int64_t{1} << 31)) launch<uint32_t>(p, grid, s, c.in(0), c.out(0), static_cast<uint32_t>(S), static_cast<uint32_t>(total));
        else launch<uint64_t>(p, grid, s, c.in(0), c.out(0), static_cast<uint64_t>(S), static_cast<uint64_t>(total));
        cuda::checkLaunch("lrnKernel");
    }

private:
    template <typename Idx>
    static void launch(const LrnParams& p, unsigned grid, cudaStream_t s, const float* x, float* y, Idx S, Idx total) {
        switch (p.betaKind) {
            case 0: lrnKernel<0, Idx><<<grid, 256, 0, s>>>(x, y, p, S, total); break;
            case 1: lrnKernel<1, Idx><<<grid, 256, 0, s>>>(x, y, p, S, total); break;
            case 2: lrnKernel<2, Idx><<<grid, 256, 0, s>>>(x, y, p, S, total); break;
            default: lrnKernel<3, Idx><<<grid, 256, 0, s>>>(x, y, p, S, total); break;
        }
    }
};
GIE_REGISTER_KERNEL(LRNGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
