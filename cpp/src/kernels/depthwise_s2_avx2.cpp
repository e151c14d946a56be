// Depthwise 3x3 stride 2 on AVX2, one channel plane at a time: each input row is split once into its even and odd
// columns (per 16 floats two 128-bit inserts and two shufps), kept in a ring of 3 rows, and every output row is 9
// vector FMAs per 8 output pixels from those rows (tap s of output q reads split column q + s / 2 of the even
// columns for s = 0, 2 and of the odd ones for s = 1, the left padding folded into the split), stored as computed.
// The 8-channel kernel (conv2d_cpu.cpp) transposes every input pixel into channel-blocked rows and every output
// pixel back, ~55% of its time on MobileNetV2's 96ch@112 stride-2 layer (perf).
#include "depthwise_s2_avx2.h"

#include <algorithm>

#include "gemm.h"
#include "vector_activation.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace gie::cpu {

bool dwStride2RowsEligible(int64_t W, int64_t R, int64_t S, int64_t strideH, int64_t strideW, int64_t dilH,
                           int64_t dilW, int64_t padTop, int64_t padLeft, int64_t Q, int64_t multiplier) {
  return R == 3 && S == 3 && strideH == 2 && strideW == 2 && dilH == 1 && dilW == 1 && multiplier == 1 &&
         W % 2 == 0 && padLeft >= 0 && padLeft <= 1 && padTop >= 0 && Q >= 48;
}

#if defined(__x86_64__) || defined(__i386__)
namespace {

#define GIE_S2_AVX2 __attribute__((target("avx2,fma")))
#define GIE_S2_AI __attribute__((always_inline)) inline
typedef float Vec8 __attribute__((vector_size(32)));  // __m256 without its may_alias attribute (template argument)

// Rows ahead whose lines the split prefetches (one per 16 floats): the input usually comes from L3 (MobileNetV2's
// 96ch@112 layer reads 4.8 MB), and one row of splitting and FMAs is too short to hide its latency (96ch@112, hot:
// 0.242 -> 0.237 ms).
constexpr int64_t kPrefetchRows = 4;
// Input row xr (W floats, W even) split into its even columns XE[j] = xr[2j] and odd ones XO[j] = xr[2j + 1],
// j < W / 2 (XE, XO 32-byte aligned). Each 16 floats are loaded as 128-bit quarters q0 q2 | q1 q3 (vinsertf128 from
// memory), so that shufps alone yields the even / odd columns in order: with whole 8-float loads it needed a
// lane-crossing vpermpd per vector, and the loop spent ~5 cycles per 16 floats.
GIE_S2_AVX2 GIE_S2_AI void splitRow(const float* __restrict xr, int64_t W, float* __restrict XE,
                                    float* __restrict XO) {
  const int64_t half = W / 2;
  int64_t j = 0;
  for (; j + 8 <= half; j += 8) {
    const float* s = xr + 2 * j;
    __builtin_prefetch(s + kPrefetchRows * W, 0, 3);
    const __m256 a = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(s)), _mm_loadu_ps(s + 8), 1);
    const __m256 b = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(s + 4)), _mm_loadu_ps(s + 12), 1);
    _mm256_store_ps(XE + j, _mm256_shuffle_ps(a, b, 0x88));
    _mm256_store_ps(XO + j, _mm256_shuffle_ps(a, b, 0xdd));
  }
  for (; j < half; ++j) {
    XE[j] = xr[2 * j];
    XO[j] = xr[2 * j + 1];
  }
}

// NB vectors of output row y (8 pixels each) from column q0: bias, the 9 taps (r outer, s inner: the order of the
// 8-channel kernel), the residual, the register activation.
template <int NB>
// tail: the last vector's lanes past the row end (all 0 but for the row's last block when Q % 8 != 0), neither
// read from res nor stored.
GIE_S2_AVX2 GIE_S2_AI void rowBlock(const float* const (&T)[3][3], const float* w, float bias, float* y,
                                    const float* res, int64_t q0, bool regAct, const DwRegActT<Vec8>& finish,
                                    int tail, __m256i tailMask) {
  __m256 acc[NB];
  for (int j = 0; j < NB; ++j) acc[j] = _mm256_set1_ps(bias);
#pragma GCC unroll 3
  for (int r = 0; r < 3; ++r) {
    const __m256 w0 = _mm256_set1_ps(w[3 * r]), w1 = _mm256_set1_ps(w[3 * r + 1]), w2 = _mm256_set1_ps(w[3 * r + 2]);
    const float* t0 = T[r][0] + q0;
    const float* t1 = T[r][1] + q0;
    const float* t2 = T[r][2] + q0;
#pragma GCC unroll 8
    for (int j = 0; j < NB; ++j) {
      acc[j] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(t0 + 8 * j), acc[j]);
      acc[j] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(t1 + 8 * j), acc[j]);
      acc[j] = _mm256_fmadd_ps(w2, _mm256_loadu_ps(t2 + 8 * j), acc[j]);
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < NB; ++j) {
    __m256 v = acc[j];
    const bool part = j == NB - 1 && tail;
    if (res)
      v = _mm256_add_ps(v, part ? _mm256_maskload_ps(res + q0 + 8 * j, tailMask) : _mm256_loadu_ps(res + q0 + 8 * j));
    if (regAct) {
      Vec8 u = reinterpret_cast<Vec8>(v);
      finish(u);
      v = reinterpret_cast<__m256>(u);
    }
    if (part) _mm256_maskstore_ps(y + q0 + 8 * j, tailMask, v);
    else _mm256_storeu_ps(y + q0 + 8 * j, v);
  }
}

}  // namespace

GIE_S2_AVX2 void dwStride2RowsAvx2(const DwS2Plane& a) {
  // Per ring slot: 8 zeros, XO (len), XE (len); len >= Q + 1 (tap 2 of the last pixel with pl = 0) and >= W / 2.
  // Tap s of output pixel q reads padded column 2q + s - pl: for pl = 0 XE[q], XO[q], XE[q + 1]; for pl = 1
  // XO[q - 1] (the zero before XO at q = 0), XE[q], XO[q]. Past W / 2 the columns stay zero (the split writes
  // only below), so the right padding is zeros too.
  const int64_t Qv = (a.Q + 7) / 8, len = (std::max(8 * Qv + 1, a.W / 2) + 7) / 8 * 8, slotLen = 8 + 2 * len;
  static thread_local gemm::AlignedFloats scratch;
  if (scratch.size() < static_cast<size_t>(4 * slotLen)) scratch.resize(static_cast<size_t>(4 * slotLen));
  float* ring = scratch.data();  // slots 0-2: input rows ih with ih % 3 == slot; slot 3: a zero row
  std::fill(ring, ring + 4 * slotLen, 0.f);
  int64_t tag[3] = {-1, -1, -1};
  const bool regAct = DwRegActKinds::inRegisters(a.act);
  const DwRegActT<Vec8> finish(a.act, a.actAlpha, a.actBeta);
  const int tail = static_cast<int>(8 * Qv - a.Q);
  const __m256i tailMask = _mm256_cmpgt_epi32(_mm256_set1_epi32(8 - tail), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  for (int64_t p = 0; p < a.P; ++p) {
    const float* T[3][3];
    for (int r = 0; r < 3; ++r) {
      const int64_t ih = 2 * p - a.pt + r;
      float* slot = ring + 3 * slotLen;
      if (ih >= 0 && ih < a.H) {
        slot = ring + (ih % 3) * slotLen;
        if (tag[ih % 3] != ih) {
          splitRow(a.x + ih * a.W, a.W, slot + 8 + len, slot + 8);
          tag[ih % 3] = ih;
        }
      }
      const float* XO = slot + 8;
      const float* XE = XO + len;
      T[r][0] = a.pl ? XO - 1 : XE;
      T[r][1] = a.pl ? XE : XO;
      T[r][2] = a.pl ? XO : XE + 1;
    }
    float* y = a.y + p * a.Q;
    const float* res = a.res ? a.res + p * a.Q : nullptr;
    // 8 vectors per block (independent FMA chains), then the rest in one block (no overlap: res may alias y)
    int64_t v = 0;
    for (; v + 8 <= Qv; v += 8) rowBlock<8>(T, a.w, a.bias, y, res, 8 * v, regAct, finish, v + 8 == Qv ? tail : 0, tailMask);
    switch (Qv - v) {
      case 0: break;
      case 1: rowBlock<1>(T, a.w, a.bias, y, res, 8 * v, regAct, finish, tail, tailMask); break;
      case 2: rowBlock<2>(T, a.w, a.bias, y, res, 8 * v, regAct, finish, tail, tailMask); break;
      case 3: rowBlock<3>(T, a.w, a.bias, y, res, 8 * v, regAct, finish, tail, tailMask); break;
      case 4: rowBlock<4>(T, a.w, a.bias, y, res, 8 * v, regAct, finish, tail, tailMask); break;
      case 5: rowBlock<5>(T, a.w, a.bias, y, res, 8 * v, regAct, finish, tail, tailMask); break;
      case 6: rowBlock<6>(T, a.w, a.bias, y, res, 8 * v, regAct, finish, tail, tailMask); break;
      default: rowBlock<7>(T, a.w, a.bias, y, res, 8 * v, regAct, finish, tail, tailMask); break;
    }
  }
}
#else
void dwStride2RowsAvx2(const DwS2Plane&) {}
#endif

}  // namespace gie::cpu
