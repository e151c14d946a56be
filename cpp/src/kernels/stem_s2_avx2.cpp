// 3x3 stride-2 convolution with few input channels on AVX2, pixels in lanes (the MobileNetV2 / EfficientNet-B0 stem,
// 3 -> 32 @224). Each input row is split once into its even and odd columns (as depthwise_s2_avx2.cpp: two 128-bit
// inserts and two shufps per 16 floats), kept in a ring of 3 rows per input channel, so that tap s of 8 consecutive
// output pixels is one contiguous load from those rows. A block is 4 output channels x NV vectors of 8 pixels: per
// tap NV loads, 4 weight broadcasts and 4 * NV FMAs; then bias, residual and the register activation, contiguous
// stores. The im2col GEMM this replaces spends most of its time packing the 27-row im2col panel, which serves only 32
// output channels.
#include "stem_s2_avx2.h"

#include <algorithm>

#include "gemm.h"
#include "vector_activation.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace gie::cpu {

bool stemS2Eligible(int64_t C, int64_t K, int64_t R, int64_t S, int64_t strideH, int64_t strideW, int64_t dilH,
                    int64_t dilW, int64_t groups, int64_t padTop, int64_t padLeft, int64_t Q) {
  return R == 3 && S == 3 && strideH == 2 && strideW == 2 && dilH == 1 && dilW == 1 && groups == 1 && C >= 1 &&
         C <= kStemS2MaxC && K % 4 == 0 && K > 0 && padTop >= 0 && padLeft >= 0 && padLeft <= 1 && Q >= 8;
}

void stemS2PackWeights(const float* w, int64_t K, int64_t C, float* out) {
  const int64_t taps = C * 9;
  for (int64_t k = 0; k < K; ++k)
    for (int64_t t = 0; t < taps; ++t) out[((k / 4) * taps + t) * 4 + k % 4] = w[k * taps + t];
}

#if defined(__x86_64__) || defined(__i386__)
namespace {

#define GIE_STEM_AVX2 __attribute__((target("avx2,fma")))
typedef float Vec8 __attribute__((vector_size(32)));

// Input row xr (W floats) split into XE[j] = xr[2j] and XO[j] = xr[2j + 1]; positions past the row are not written
// (they stay zero: the ring is zeroed per call and every row of a call has the same width).
GIE_STEM_AVX2 inline void splitRow(const float* __restrict xr, int64_t W, float* __restrict XE, float* __restrict XO) {
  int64_t j = 0;
  for (; 2 * j + 16 <= W; j += 8) {
    const float* s = xr + 2 * j;
    const __m256 a = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(s)), _mm_loadu_ps(s + 8), 1);
    const __m256 b = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(s + 4)), _mm_loadu_ps(s + 12), 1);
    _mm256_storeu_ps(XE + j, _mm256_shuffle_ps(a, b, 0x88));
    _mm256_storeu_ps(XO + j, _mm256_shuffle_ps(a, b, 0xdd));
  }
  for (; 2 * j < W; ++j) {
    XE[j] = xr[2 * j];
    if (2 * j + 1 < W) XO[j] = xr[2 * j + 1];
  }
}

struct BlockOut {
  float* y[4];          // the 4 channels' output rows
  const float* res[4];  // their residual rows (nullptr: none)
  float bias[4];
  bool regAct;
  bool clip;            // the activation is ReLU / clip / ReLU6 (max(lo), then min(hi); hi = +inf for ReLU)
  float lo, hi;
  const DwRegActT<Vec8>* finish;
};

// 4 channels x NV vectors from column q; `tail` lanes of the last vector (past the row end) are neither read from the
// residual nor stored. Not inlined: inside the row loop the activation's and the mask's registers would push the
// 4 * NV accumulators (12 of the 16 ymm registers for NV = 3) to the stack.
template <int NV>
GIE_STEM_AVX2 __attribute__((noinline)) void block(const float* const* taps, int64_t ntaps, const float* wk,
                                                   const BlockOut& o, int64_t q, int tail) {
  __m256 acc[4][NV];
#pragma GCC unroll 4
  for (int k = 0; k < 4; ++k)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[k][v] = _mm256_set1_ps(o.bias[k]);
  for (int64_t t = 0; t < ntaps; ++t) {
    const float* s = taps[t] + q;
    __m256 xv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) xv[v] = _mm256_loadu_ps(s + 8 * v);
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
      const __m256 wv = _mm256_broadcast_ss(wk + 4 * t + k);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[k][v] = _mm256_fmadd_ps(wv, xv[v], acc[k][v]);
    }
  }
  if (!tail && !o.res[0] && (o.clip || !o.regAct)) {  // the common case, branch-free: whole vectors, no residual
    const __m256 lo = _mm256_set1_ps(o.lo), hi = _mm256_set1_ps(o.hi);
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        __m256 u = acc[k][v];
        if (o.clip) u = _mm256_min_ps(_mm256_max_ps(u, lo), hi);  // operand order: activation_math.h's maxf / minf
        _mm256_storeu_ps(o.y[k] + q + 8 * v, u);
      }
    return;
  }
  const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(8 - tail), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
#pragma GCC unroll 4
  for (int k = 0; k < 4; ++k)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      __m256 u = acc[k][v];
      const bool part = v == NV - 1 && tail;
      const int64_t c = q + 8 * v;
      if (o.res[k])
        u = _mm256_add_ps(u, part ? _mm256_maskload_ps(o.res[k] + c, mask) : _mm256_loadu_ps(o.res[k] + c));
      if (o.regAct) {
        Vec8 z = reinterpret_cast<Vec8>(u);
        (*o.finish)(z);
        u = reinterpret_cast<__m256>(z);
      }
      if (part) _mm256_maskstore_ps(o.y[k] + c, mask, u);
      else _mm256_storeu_ps(o.y[k] + c, u);
    }
}

}  // namespace

GIE_STEM_AVX2 void stemS2RowsAvx2(const StemS2Args& a, int64_t p0, int64_t p1) {
  // Per ring slot: 8 zeros, XO (len), XE (len); len >= 8 * Qv + 1 (tap 2 of the last vector's pixels with pl = 0) and
  // >= the split's (W + 1) / 2. Tap s of output q reads padded column 2q + s - pl: for pl = 0 XE[q], XO[q], XE[q + 1];
  // for pl = 1 XO[q - 1] (the zeros before XO at q = 0), XE[q], XO[q]. Columns past the row read zeros (the right
  // padding); rows outside the input read the last slot, all zeros.
  const int64_t C = a.C, Qv = (a.Q + 7) / 8, len = (std::max(8 * Qv + 1, (a.W + 1) / 2) + 7) / 8 * 8,
                slotLen = 8 + 2 * len, ntaps = 9 * C;
  // Zeroed when this thread's previous call had another geometry: every call of the same (C, W, len) writes the same
  // positions (those below (W + 1) / 2 of each split row), so the zeros stay where they are.
  static thread_local gemm::AlignedFloats scratch;
  static thread_local int64_t key[3] = {-1, -1, -1};
  const size_t need = static_cast<size_t>((3 * C + 1) * slotLen);
  if (scratch.size() < need) {
    scratch.resize(need);
    key[0] = -1;
  }
  float* ring = scratch.data();
  if (key[0] != C || key[1] != a.W || key[2] != len) {
    std::fill(ring, ring + need, 0.f);
    key[0] = C, key[1] = a.W, key[2] = len;
  }
  int64_t tag[3 * kStemS2MaxC];
  std::fill(tag, tag + 3 * C, int64_t(-1));
  const float* taps[9 * kStemS2MaxC];
  const DwRegActT<Vec8> finish(a.act, a.actAlpha, a.actBeta);
  BlockOut o{};
  o.regAct = DwRegActKinds::inRegisters(a.act);
  o.clip = a.act == ActivationType::kRELU || a.act == ActivationType::kCLIP || a.act == ActivationType::kRELU6;
  o.lo = a.act == ActivationType::kCLIP ? a.actAlpha : 0.f;
  o.hi = a.act == ActivationType::kCLIP ? a.actBeta : a.act == ActivationType::kRELU6 ? 6.f
                                                                                    : __builtin_inff();
  o.finish = &finish;
  const int tail = static_cast<int>(8 * Qv - a.Q);
  const int64_t PQ = a.P * a.Q;
  for (int64_t p = p0; p < p1; ++p) {
    for (int64_t c = 0; c < C; ++c)
      for (int64_t r = 0; r < 3; ++r) {
        const int64_t ih = 2 * p - a.pt + r;
        float* slot = ring + 3 * C * slotLen;
        if (ih >= 0 && ih < a.H) {
          const int64_t si = c * 3 + ih % 3;
          slot = ring + si * slotLen;
          if (tag[si] != ih) {
            splitRow(a.x + (c * a.H + ih) * a.W, a.W, slot + 8 + len, slot + 8);
            tag[si] = ih;
          }
        }
        const float* XO = slot + 8;
        const float* XE = XO + len;
        const float** T = taps + c * 9 + r * 3;
        T[0] = a.pl ? XO - 1 : XE;
        T[1] = a.pl ? XE : XO;
        T[2] = a.pl ? XO : XE + 1;
      }
    for (int64_t k0 = 0; k0 < a.K; k0 += 4) {
      for (int k = 0; k < 4; ++k) {
        o.y[k] = a.y + (k0 + k) * PQ + p * a.Q;
        o.res[k] = a.res ? a.res + (k0 + k) * PQ + p * a.Q : nullptr;
        o.bias[k] = a.bias ? a.bias[k0 + k] : 0.f;
      }
      const float* wk = a.w + k0 * ntaps;
      int64_t v = 0;
      for (; v + 3 <= Qv; v += 3) block<3>(taps, ntaps, wk, o, 8 * v, v + 3 == Qv ? tail : 0);
      if (Qv - v == 2) block<2>(taps, ntaps, wk, o, 8 * v, tail);
      else if (Qv - v == 1) block<1>(taps, ntaps, wk, o, 8 * v, tail);
      if (!o.regAct && a.act != kNoActivation)  // after the residual, rows in L1
        for (int k = 0; k < 4; ++k) gemm::activateRow(o.y[k], a.Q, a.act, a.actAlpha, a.actBeta);
    }
  }
}
#else
void stemS2RowsAvx2(const StemS2Args&, int64_t, int64_t) {}
#endif

}  // namespace gie::cpu
