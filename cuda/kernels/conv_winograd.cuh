// Winograd F(2x2, 3x3) for 3x3, stride-1, undilated, ungrouped FP32 convolutions (convolution.cu's
// winograd2x2_* tactics). With d a 4x4 input patch, g a 3x3 filter and m = (G g G^T) .* (B^T d B),
// the 2x2 output block is A^T m A, where
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1]
// (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016). 16 multiplications per 2x2
// outputs and channel instead of 36. The transforms only add, subtract and halve, so they are exact up to
// FP32 rounding of sums of at most four terms.
//
// Three steps per chunk of images:
//   1. winogradInputKernel: V[xi][c][j] = (B^T d B)[xi] for every channel c and 2x2 output tile
//      j = (n, th, tw) of the chunk; columns j in [tiles, ncols) (ncols rounds up to a multiple of 4) are zero.
//   2. the 16 GEMMs M[xi] (K x ncols) = U[xi] (K x C) * V[xi] (C x ncols): the implicit-GEMM kernels run them
//      as one grouped 1x1 convolution of a single image (16 groups of C input and K output channels, ncols
//      pixels; the packed weights of group xi are U[xi] = (G g G^T)[xi], transformed on the host).
//   3. winogradOutputKernel: y = act(A^T M A + bias + residual), written where the convolution's output
//      goes (a concatenation slice included).
// FP16 storage (E = __half): steps 1 and 3 read / write half; the transformed planes and the GEMMs are FP32.
#pragma once

#include "conv_common.cuh"

namespace gie {
namespace cuda {
namespace conv {

//! One 4-point F(2,3) input transform (B^T applied to a column of four values), in place.
__device__ __forceinline__ void winogradBt(float& d0, float& d1, float& d2, float& d3) {
    const float t0 = d0 - d2, t1 = d1 + d2, t2 = d2 - d1, t3 = d1 - d3;
    d0 = t0;
    d1 = t1;
    d2 = t2;
    d3 = t3;
}

//! V[(xi * C + c) * ncols + j] for c < C, j < ncols: the transformed 4x4 input patch of tile j of the chunk
//! (x: the chunk's first image; images nImages, tiles per image tH x tW).
template <typename E = float>
__global__ void __launch_bounds__(256)
    winogradInputKernel(const E* __restrict__ x, int64_t xStride, int C, int H, int W, int pt, int pl, int tH, int tW,
                        int nImages, int ncols, float* __restrict__ v) {
    const int tiles = tH * tW;
    const int used = nImages * tiles;
    const int64_t total = static_cast<int64_t>(C) * ncols;
    const int64_t plane = static_cast<int64_t>(C) * ncols;  // distance between the 16 transformed planes
    for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
         e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int c = static_cast<int>(e / ncols);
        const int j = static_cast<int>(e - static_cast<int64_t>(c) * ncols);
        float d[4][4];
        if (j < used) {
            const int n = j / tiles;
            const int t = j - n * tiles;
            const int th = t / tW;
            const int h0 = 2 * th - pt, w0 = 2 * (t - th * tW) - pl;
            const E* base = x + n * xStride + static_cast<int64_t>(c) * H * W;
#pragma unroll
            for (int r = 0; r < 4; ++r)
#pragma unroll
                for (int s = 0; s < 4; ++s) {
                    const int h = h0 + r, w = w0 + s;
                    d[r][s] = static_cast<unsigned>(h) < static_cast<unsigned>(H) && static_cast<unsigned>(w) < static_cast<unsigned>(W)
                                  ? loadF(base + h * W + w)
                                  : 0.f;
                }
        } else {
#pragma unroll
            for (int r = 0; r < 4; ++r)
#pragma unroll
                for (int s = 0; s < 4; ++s) d[r][s] = 0.f;
        }
#pragma unroll
        for (int s = 0; s < 4; ++s) winogradBt(d[0][s], d[1][s], d[2][s], d[3][s]);  // B^T d
#pragma unroll
        for (int r = 0; r < 4; ++r) winogradBt(d[r][0], d[r][1], d[r][2], d[r][3]);  // (B^T d) B
        float* out = v + e;
#pragma unroll
        for (int r = 0; r < 4; ++r)
#pragma unroll
            for (int s = 0; s < 4; ++s) out[(r * 4 + s) * plane] = d[r][s];
    }
}

//! y = act(A^T M A + bias + residual) for every output channel k < s.K and tile of the chunk; m holds the
//! 16 GEMM results [xi][K][ncols]. s: the real convolution, with y and the residual at the chunk's first image.
template <typename E = float>
__global__ void __launch_bounds__(256)
    winogradOutputKernel(const float* __restrict__ m, int ncols, int tH, int tW, int nImages, const ConvShape s) {
    const int tiles = tH * tW;
    const int used = nImages * tiles;
    const int64_t total = static_cast<int64_t>(s.K) * used;
    const int64_t plane = static_cast<int64_t>(s.K) * ncols;
    const int PQ = s.P * s.Q;
    for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
         e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int k = static_cast<int>(e / used);
        const int j = static_cast<int>(e - static_cast<int64_t>(k) * used);
        const float* in = m + static_cast<int64_t>(k) * ncols + j;
        float t[2][4];  // A^T M: two rows
#pragma unroll
        for (int c = 0; c < 4; ++c) {
            const float m0 = __ldg(in + (0 * 4 + c) * plane), m1 = __ldg(in + (1 * 4 + c) * plane);
            const float m2 = __ldg(in + (2 * 4 + c) * plane), m3 = __ldg(in + (3 * 4 + c) * plane);
            t[0][c] = m0 + m1 + m2;
            t[1][c] = m1 - m2 - m3;
        }
        const int n = j / tiles;
        const int tt = j - n * tiles;
        const int th = tt / tW;
        const int p0 = 2 * th, q0 = 2 * (tt - th * tW);
#pragma unroll
        for (int a = 0; a < 2; ++a) {
            const int p = p0 + a;
            if (p >= s.P) continue;
            const float y0 = t[a][0] + t[a][1] + t[a][2];
            const float y1 = t[a][1] - t[a][2] - t[a][3];
            const int pq = p * s.Q + q0;
            E* dst = outputOf<E>(s) + n * s.yStride + static_cast<int64_t>(k) * PQ;
            storeF(dst + pq, epilogueValue<E>(s, y0, n, k, pq));
            if (q0 + 1 < s.Q) storeF(dst + pq + 1, epilogueValue<E>(s, y1, n, k, pq + 1));
        }
    }
}

}  // namespace conv
}  // namespace cuda
}  // namespace gie
