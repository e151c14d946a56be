// Direct convolutions for convolution.cu: the reference fallback (any groups, stride, padding, dilation)
// and the depthwise kernel (one input channel per group, any channel multiplier K / C). T: the element type
// of x, y and the residual (float or __half); the weights are FP32 (for FP16, values rounded to half at
// initialize) and the sums FP32.
#pragma once

#include "conv_common.cuh"

namespace gie {
namespace cuda {
namespace conv {

//! One thread per output element (grid-stride, 64-bit indices): the obviously correct fallback.
//! w: the weights in their own layout (K, C/groups, R, S).
template <typename T = float>
__global__ void __launch_bounds__(256) convDirectKernel(const ConvShape s, const float* __restrict__ w) {
    const int64_t PQ = static_cast<int64_t>(s.P) * s.Q;
    const int64_t total = static_cast<int64_t>(s.N) * s.K * PQ;
    const int64_t HW = static_cast<int64_t>(s.H) * s.W;
    for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
         idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int q = static_cast<int>(idx % s.Q);
        int64_t t = idx / s.Q;
        const int p = static_cast<int>(t % s.P);
        t /= s.P;
        const int k = static_cast<int>(t % s.K);
        const int n = static_cast<int>(t / s.K);
        const int g = k / s.Kg;
        const T* xb = inputOf<T>(s) + n * s.xStride + g * static_cast<int64_t>(s.Cg) * HW;
        const float* wk = w + static_cast<int64_t>(k) * s.Cg * s.R * s.S;
        const int hb = p * s.sh - s.pt, wb = q * s.sw - s.pl;
        float acc = 0.f;
        for (int c = 0; c < s.Cg; ++c) {
            for (int r = 0; r < s.R; ++r) {
                const int h = hb + r * s.dh;
                if (h < 0 || h >= s.H) continue;
                const T* xrow = xb + c * HW + static_cast<int64_t>(h) * s.W;
                const float* wrow = wk + (static_cast<int64_t>(c) * s.R + r) * s.S;
                for (int sx = 0; sx < s.S; ++sx) {
                    const int ww = wb + sx * s.dw;
                    if (ww < 0 || ww >= s.W) continue;
                    acc = fmaf(loadF(xrow + ww), __ldg(wrow + sx), acc);
                }
            }
        }
        const int pq = static_cast<int>(p * static_cast<int64_t>(s.Q) + q);
        storeF(outputOf<T>(s) + n * s.yStride + static_cast<int64_t>(k) * PQ + pq, epilogueValue<T>(s, acc, n, k, pq));
    }
}

//! Depthwise (C/groups == 1): output channel k reads input channel k / Kg. blockIdx.x = plane * chunks + chunk
//! with plane = n*K + k; each thread computes one output pixel of its chunk. Neighbouring threads read
//! neighbouring input pixels (coalesced); the R*S weights of the plane are the same for the whole block.
template <typename T = float>
__global__ void __launch_bounds__(256) convDepthwiseKernel(const ConvShape s, const float* __restrict__ w, int chunks) {
    const int plane = blockIdx.x / chunks;
    const int chunk = blockIdx.x - plane * chunks;
    const int PQ = s.P * s.Q;
    const int pq = chunk * blockDim.x + threadIdx.x;
    if (pq >= PQ) return;
    const int n = plane / s.K;
    const int k = plane - n * s.K;
    const int c = k / s.Kg;
    const int p = pq / s.Q, q = pq - p * s.Q;
    const T* xc = inputOf<T>(s) + n * s.xStride + static_cast<int64_t>(c) * s.H * s.W;
    const float* wk = w + k * s.R * s.S;
    const int hb = p * s.sh - s.pt, wb = q * s.sw - s.pl;
    float acc = 0.f;
    for (int r = 0; r < s.R; ++r) {
        const int h = hb + r * s.dh;
        if (static_cast<unsigned>(h) >= static_cast<unsigned>(s.H)) continue;
        const T* xrow = xc + h * s.W;
        const float* wrow = wk + r * s.S;
        for (int sx = 0; sx < s.S; ++sx) {
            const int ww = wb + sx * s.dw;
            if (static_cast<unsigned>(ww) < static_cast<unsigned>(s.W)) acc = fmaf(loadF(xrow + ww), __ldg(wrow + sx), acc);
        }
    }
    storeF(outputOf<T>(s) + n * s.yStride + static_cast<int64_t>(k) * PQ + pq, epilogueValue<T>(s, acc, n, k, pq));
}

}  // namespace conv
}  // namespace cuda
}  // namespace gie
