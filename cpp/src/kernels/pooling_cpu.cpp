// CPU pooling (max / average, NCHW), parallel over (n, c) planes. A window that covers the whole
// unpadded plane (global pooling, e.g. squeeze-excitation) is one vectorised reduction per plane; max pooling
// with AVX2 / AVX-512 is separable (below); other windows take the direct loop, whose interior columns
// (window inside the row) are vectorised over q.
#include <algorithm>
#include <cfloat>
#include <vector>

#include "common/parallel.h"
#include "kernels/gemm.h"
#include "kernels/plane_sum.h"
#include "layers/pooling.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GIE_POOL_X86 1
#define GIE_POOL_AVX2 __attribute__((target("avx2,fma")))
#define GIE_POOL_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))
#else
#define GIE_POOL_X86 0
#endif

namespace gie {
namespace {

// ---- separable max pooling ------------------------------------------------------------------------------
// The direct loop costs kh*kw scalar-ish operations per output and, for stride 2, strided loads (GoogLeNet's
// 14 max pools took 4.5 ms against onnxruntime's 0.6 ms). Max is exact and order-free, so each output row is
// computed in two vectorised passes: the column maxima of the window's valid input rows into a row buffer
// padded with -FLT_MAX (the padding), then the maxima of kw neighbours of that row with stride sw. Same
// results as the direct loop, bit for bit: it starts every window at -FLT_MAX and ignores NaN inputs
// (MAXPS(x, m) returns m when x is NaN), and so does this (buffer starts at -FLT_MAX, max(x, m) per row).
struct MaxRowArgs {
    const float* plane;  // input plane (H x W)
    float* out;          // output plane (P x Q)
    float* buf;          // row buffer, bufLen floats
    int64_t H, W, P, Q, kh, kw, sh, sw, pt, pl, bufLen;
};

#if GIE_POOL_X86
GIE_POOL_AVX512 void maxPlaneAvx512(const MaxRowArgs& a) {
    const __m512 lowest = _mm512_set1_ps(-FLT_MAX);
    float* buf = a.buf;
    for (int64_t i = 0; i < a.bufLen; i += 16) _mm512_storeu_ps(buf + i, lowest);
    float* col = buf + a.pl;  // column w of the input at col[w]
    // evens of (lo, hi): elements 0, 2, ..., 30
    const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (int64_t p = 0; p < a.P; ++p) {
        const int64_t h0 = p * a.sh - a.pt;
        const int64_t hs = std::max<int64_t>(h0, 0), he = std::min(h0 + a.kh, a.H);
        for (int64_t w = 0; w < a.W; w += 16) {
            const __mmask16 m = a.W - w >= 16 ? static_cast<__mmask16>(0xFFFF)
                                               : static_cast<__mmask16>((1u << (a.W - w)) - 1u);
            __m512 v = lowest;
            for (int64_t h = hs; h < he; ++h) v = _mm512_max_ps(_mm512_maskz_loadu_ps(m, a.plane + h * a.W + w), v);
            _mm512_mask_storeu_ps(col + w, m, v);
        }
        float* y = a.out + p * a.Q;
        for (int64_t q = 0; q < a.Q; q += 16) {
            const __mmask16 m = a.Q - q >= 16 ? static_cast<__mmask16>(0xFFFF)
                                               : static_cast<__mmask16>((1u << (a.Q - q)) - 1u);
            __m512 v = lowest;
            if (a.sw == 1) {
                for (int64_t t = 0; t < a.kw; ++t) v = _mm512_max_ps(_mm512_loadu_ps(buf + q + t), v);
            } else if (a.sw == 2) {
                for (int64_t t = 0; t < a.kw; ++t) {
                    const float* s = buf + 2 * q + t;
                    v = _mm512_max_ps(_mm512_permutex2var_ps(_mm512_loadu_ps(s), evens, _mm512_loadu_ps(s + 16)), v);
                }
            } else {
                alignas(64) float tmp[16];
                for (int j = 0; j < 16; ++j) {
                    float mx = -FLT_MAX;
                    const float* s = buf + (q + j) * a.sw;
                    if (q + j < a.Q)
                        for (int64_t t = 0; t < a.kw; ++t) mx = std::max(mx, s[t]);
                    tmp[j] = mx;
                }
                v = _mm512_load_ps(tmp);
            }
            _mm512_mask_storeu_ps(y + q, m, v);
        }
    }
}

GIE_POOL_AVX2 void maxPlaneAvx2(const MaxRowArgs& a) {
    const __m256 lowest = _mm256_set1_ps(-FLT_MAX);
    float* buf = a.buf;
    for (int64_t i = 0; i < a.bufLen; i += 8) _mm256_storeu_ps(buf + i, lowest);
    float* col = buf + a.pl;
    for (int64_t p = 0; p < a.P; ++p) {
        const int64_t h0 = p * a.sh - a.pt;
        const int64_t hs = std::max<int64_t>(h0, 0), he = std::min(h0 + a.kh, a.H);
        int64_t w = 0;
        for (; w + 8 <= a.W; w += 8) {
            __m256 v = lowest;
            for (int64_t h = hs; h < he; ++h) v = _mm256_max_ps(_mm256_loadu_ps(a.plane + h * a.W + w), v);
            _mm256_storeu_ps(col + w, v);
        }
        for (; w < a.W; ++w) {
            float v = -FLT_MAX;
            for (int64_t h = hs; h < he; ++h) v = std::max(v, a.plane[h * a.W + w]);
            col[w] = v;
        }
        float* y = a.out + p * a.Q;
        int64_t q = 0;
        if (a.sw == 1)
            for (; q + 8 <= a.Q; q += 8) {
                __m256 v = lowest;
                for (int64_t t = 0; t < a.kw; ++t) v = _mm256_max_ps(_mm256_loadu_ps(buf + q + t), v);
                _mm256_storeu_ps(y + q, v);
            }
        for (; q < a.Q; ++q) {
            float v = -FLT_MAX;
            const float* s = buf + q * a.sw;
            for (int64_t t = 0; t < a.kw; ++t) v = std::max(v, s[t]);
            y[q] = v;
        }
    }
}
#endif

using MaxPlaneFn = void (*)(const MaxRowArgs&);
MaxPlaneFn maxPlaneFn() {
#if GIE_POOL_X86
    const cpu::gemm::Isa isa = cpu::gemm::activeIsa();
    if (isa == cpu::gemm::Isa::kAvx512) return maxPlaneAvx512;
    if (isa == cpu::gemm::Isa::kAvx2) return maxPlaneAvx2;
#endif
    return nullptr;
}

// Max of n floats with 16 independent partial results (vectorisable without reassociation), as planeSum.
float planeMax(const float* x, int64_t n) {
    float part[16];
    for (int j = 0; j < 16; ++j) part[j] = -FLT_MAX;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; ++j) part[j] = std::max(part[j], x[i + j]);
    float m = -FLT_MAX;
    for (int j = 0; j < 16; ++j) m = std::max(m, part[j]);
    for (; i < n; ++i) m = std::max(m, x[i]);
    return m;
}

class PoolingCpu final : public Kernel<PoolingCpu, PoolingOp> {
public:
    using Kernel::Kernel;
    bool supportsStridedOutput() const noexcept override { return true; }
    bool supportsStridedInput() const noexcept override { return true; }
    void run(const KernelCall& c) const override {
        const Dims& x = c.inDims(0);
        const Dims& y = c.outDims(0);
        int64_t N = x.d[0], C = x.d[1], H = x.d[2], W = x.d[3], P = y.d[2], Q = y.d[3];
        int64_t kh, kw;
        op_.window(H, W, kh, kw);
        int64_t sh = op_.global ? 1 : op_.sh, sw = op_.global ? 1 : op_.sw;
        int64_t pt = op_.global ? 0 : op_.pt, pl = op_.global ? 0 : op_.pl;
        int64_t pb = op_.global ? 0 : op_.pb, pr = op_.global ? 0 : op_.pr;
        const float* in = c.in(0);
        float* out = c.out(0);
        bool isMax = op_.type == PoolingType::kMAX;
        bool exclude = op_.excludePadding;
        int64_t yBatchStride = c.outDesc[0].strides.d[0], xBatchStride = c.inDesc[0].strides.d[0];
        if (P == 1 && Q == 1 && kh == H && kw == W && pt == 0 && pl == 0 && pb == 0 && pr == 0) {
            const cpu::PlaneSumFn<float> planeSum = cpu::planeSumFn<float>();
            parallelFor(N * C, N * C * H * W, [&](int64_t nc) {
                const float* xp = in + (nc / C) * xBatchStride + (nc % C) * H * W;
                out[(nc / C) * yBatchStride + nc % C] =
                    isMax ? planeMax(xp, H * W) : planeSum(xp, H * W) / static_cast<float>(H * W);
            });
            return;
        }
        if (isMax) {
            if (const MaxPlaneFn fn = maxPlaneFn()) {
                // row buffer: pl padding columns, the W columns, then padding up to the last window's end
                // ((Q-1)*sw + kw), plus 32 floats read past it by the last (masked-out) stride-2 vector
                const int64_t used = std::max(pl + W, (Q - 1) * sw + kw);
                const int64_t bufLen = (used + 2 * 16 + 32 + 15) / 16 * 16;
                parallelFor(N * C, N * C * (P * W * kh + P * Q * kw) / 4, [&](int64_t nc) {
                    static thread_local std::vector<float> buf;
                    if (buf.size() < static_cast<size_t>(bufLen)) buf.resize(static_cast<size_t>(bufLen));
                    const MaxRowArgs a{in + (nc / C) * xBatchStride + (nc % C) * H * W,
                                       out + (nc / C) * yBatchStride + (nc % C) * P * Q,
                                       buf.data(), H, W, P, Q, kh, kw, sh, sw, pt, pl, bufLen};
                    fn(a);
                });
                return;
            }
        }
        parallelFor(N * C, N * C * P * Q * kh * kw, [&](int64_t nc) {
            const float* xp = in + (nc / C) * xBatchStride + (nc % C) * H * W;
            float* yp = out + (nc / C) * yBatchStride + (nc % C) * P * Q;
            // Interior columns [qa, qb): the window lies inside the row, so each (h, t) is one
            // contiguous (or strided) sweep over q; same order of operations as the scalar loop.
            const int64_t qa = std::min(Q, (pl + sw - 1) / sw);
            const int64_t qb = std::max(qa, std::min(Q, W + pl - kw >= 0 ? (W + pl - kw) / sw + 1 : 0));
            for (int64_t p = 0; p < P; ++p) {
                int64_t h0 = p * sh - pt, h1 = std::min(h0 + kh, H + pb);
                int64_t hs = std::max<int64_t>(h0, 0), he = std::min(h1, H);
                float* __restrict yr = yp + p * Q;
                for (int64_t q = qa; q < qb; ++q) yr[q] = isMax ? -FLT_MAX : 0.f;
                for (int64_t h = hs; h < he; ++h)
                    for (int64_t t = 0; t < kw; ++t) {
                        const float* xr = xp + h * W - pl + t;
                        if (isMax && sw == 1) {
                            for (int64_t q = qa; q < qb; ++q) yr[q] = std::max(yr[q], xr[q]);
                        } else if (isMax) {
                            for (int64_t q = qa; q < qb; ++q) yr[q] = std::max(yr[q], xr[q * sw]);
                        } else if (sw == 1) {
                            for (int64_t q = qa; q < qb; ++q) yr[q] += xr[q];
                        } else {
                            for (int64_t q = qa; q < qb; ++q) yr[q] += xr[q * sw];
                        }
                    }
                if (!isMax) {
                    const int64_t count = exclude ? (he - hs) * kw : (h1 - h0) * kw;
                    for (int64_t q = qa; q < qb; ++q) yr[q] = count > 0 ? yr[q] / static_cast<float>(count) : 0.f;
                }
                for (int64_t q = 0; q < Q; ++q) {
                    if (q == qa) q = qb;  // interior done above
                    if (q >= Q) break;
                    int64_t w0 = q * sw - pl, w1 = std::min(w0 + kw, W + pr);
                    int64_t ws = std::max<int64_t>(w0, 0), we = std::min(w1, W);
                    if (isMax) {
                        float m = -FLT_MAX;
                        for (int64_t h = hs; h < he; ++h)
                            for (int64_t w = ws; w < we; ++w) m = std::max(m, xp[h * W + w]);
                        yr[q] = m;
                    } else {
                        float s = 0.f;
                        for (int64_t h = hs; h < he; ++h)
                            for (int64_t w = ws; w < we; ++w) s += xp[h * W + w];
                        int64_t count = exclude ? (he - hs) * (we - ws) : (h1 - h0) * (w1 - w0);
                        yr[q] = count > 0 ? s / static_cast<float>(count) : 0.f;
                    }
                }
            }
        });
    }
};
GIE_REGISTER_KERNEL(PoolingCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
