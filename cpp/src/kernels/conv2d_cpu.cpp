// 2D convolution forward on the CPU: implicit-im2col GEMM, direct 1x1 GEMM, depthwise kernel.
#include "conv2d_cpu.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "common/parallel.h"
#include "depthwise_s2_avx2.h"
#include "stem_s2_avx2.h"
#include "vector_activation.h"
#include "winograd_cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GIE_CONV_X86 1
#define GIE_CONV_AVX2 __attribute__((target("avx2,fma")))
#define GIE_CONV_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))
#else
#define GIE_CONV_X86 0
#endif
#define GIE_CONV_AI __attribute__((always_inline)) inline

namespace gie::cpu {
namespace {

int64_t floorDiv(int64_t a, int64_t b) {  // b > 0
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}
int64_t ceilDivS(int64_t a, int64_t b) { return -floorDiv(-a, b); }

// Smallest / one-past-largest output index o in [0, out) with 0 <= o*stride + off < in.
void validRange(int64_t in, int64_t out, int64_t stride, int64_t off, int64_t& lo, int64_t& hi) {
  lo = std::max<int64_t>(0, ceilDivS(-off, stride));
  hi = std::min<int64_t>(out, ceilDivS(in - off, stride));
  if (hi < lo) hi = lo;
}

// Context for packing im2col(x)[k0:k0+kc, n0:n0+nc] straight into GEMM B panels.
// The GEMM store epilogue of a convolution whose output channels are the GEMM's rows: bias per row, the residual with
// leading dimension ldr, ep's activation.
gemm::OutputEpi outputRowsEpi(const Epilogue& ep, const float* biasRow, const float* residual, int64_t ldr) {
  gemm::OutputEpi oe;
  oe.biasRow = biasRow;
  oe.residual = residual;
  oe.ldr = ldr;
  oe.act = ep.act;
  oe.actAlpha = ep.alpha;
  oe.actBeta = ep.beta;
  return oe;
}

struct Im2colCtx {
  const float* x;  // first channel of the group, image n
  int64_t H, W, R, S, sh, sw, pt, pl, dh, dw, Q;
  const int64_t *pLo, *pHi, *qLo, *qHi;
};

// o[i] = x[2 * i] for i < n: the stride-2 rows of im2col (ResNet-50's and GoogLeNet's 7x7 stems, the
// stride-2 3x3 and 1x1 layers). A scalar strided copy cost the stem ~20% of its time (3 input channels:
// the packing is amortised over only 64 output channels); the vector versions deinterleave two loads.
// Neither reads past x[2 * (n - 1)] (the row may end the tensor).
GIE_CONV_AI void gatherStride2Scalar(float* __restrict o, const float* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) o[i] = x[2 * i];
}
#if GIE_CONV_X86
GIE_CONV_AVX512 inline void gatherStride2Avx512(float* __restrict o, const float* __restrict x, int64_t n) {
  const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 lo = _mm512_loadu_ps(x + 2 * i), hi = _mm512_maskz_loadu_ps(0x7FFF, x + 2 * i + 16);
    _mm512_storeu_ps(o + i, _mm512_permutex2var_ps(lo, evens, hi));
  }
  if (i < n) {
    const int64_t cnt = 2 * (n - i) - 1;  // floats x[2i .. 2(n-1)]
    const __mmask16 mlo = static_cast<__mmask16>(cnt >= 16 ? 0xFFFF : (1u << cnt) - 1u);
    const __mmask16 mhi = static_cast<__mmask16>(cnt > 16 ? (1u << (cnt - 16)) - 1u : 0u);
    const __m512 lo = _mm512_maskz_loadu_ps(mlo, x + 2 * i), hi = _mm512_maskz_loadu_ps(mhi, x + 2 * i + 16);
    _mm512_mask_storeu_ps(o + i, static_cast<__mmask16>((1u << (n - i)) - 1u),
                          _mm512_permutex2var_ps(lo, evens, hi));
  }
}
// (lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6) -> lo0 lo2 lo4 lo6 hi0 hi2 hi4 hi6
GIE_CONV_AVX2 GIE_CONV_AI __m256 evensAvx2(__m256 lo, __m256 hi) {
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0x88)), 0xD8));
}
GIE_CONV_AVX2 inline void gatherStride2Avx2(float* __restrict o, const float* __restrict x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 < n; i += 8)  // reads x[2i .. 2i + 15] <= x[2(n - 1)]
    _mm256_storeu_ps(o + i, evensAvx2(_mm256_loadu_ps(x + 2 * i), _mm256_loadu_ps(x + 2 * i + 8)));
  if (i + 8 == n) {
    // The last 8 outputs: x[2i + 15] lies past x[2(n - 1)], so the high half is a masked load of 7 floats (a
    // masked store is slow on AMD, the store is a full one). The scalar loop here took half of every 16-column
    // im2col panel of a stride-2 stem (n = 16).
    const __m256i hiMask = _mm256_cmpgt_epi32(_mm256_set1_epi32(7), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_storeu_ps(o + i, evensAvx2(_mm256_loadu_ps(x + 2 * i), _mm256_maskload_ps(x + 2 * i + 8, hiMask)));
    return;
  }
  for (; i < n; ++i) o[i] = x[2 * i];
}
#endif

// One im2col row k = (c, r, s) of one panel: the w outputs starting at output pixel (p, q), zero-padded to wp.
template <void (*Gather2)(float*, const float*, int64_t)>
GIE_CONV_AI void im2colPanelRow(const Im2colCtx& g, const float* xc, int64_t r, int64_t s, int64_t p, int64_t q,
                                int64_t w, int64_t wp, float* __restrict d) {
  const int64_t Q = g.Q;
  const int64_t pl = g.pLo[r], ph = g.pHi[r], ql = g.qLo[s], qh = g.qHi[s];
  const int64_t rOff = r * g.dh - g.pt, sOff = s * g.dw - g.pl;
  int64_t i = 0;
  while (i < w) {
    const int64_t seg = std::min(w - i, Q - q);
    float* o = d + i;
    if (p < pl || p >= ph) {
      for (int64_t t = 0; t < seg; ++t) o[t] = 0.f;
    } else {
      const int64_t lo = std::min(std::max(ql, q), q + seg);
      const int64_t hi = std::max(std::min(qh, q + seg), lo);
      for (int64_t t = 0; t < lo - q; ++t) o[t] = 0.f;
      const float* xr = xc + (p * g.sh + rOff) * g.W + sOff;  // valid for q in [lo, hi)
      if (g.sw == 1) {
        std::memcpy(o + (lo - q), xr + lo, static_cast<size_t>(hi - lo) * sizeof(float));
      } else if (g.sw == 2) {
        Gather2(o + (lo - q), xr + 2 * lo, hi - lo);
      } else {
        for (int64_t qq = lo; qq < hi; ++qq) o[qq - q] = xr[qq * g.sw];
      }
      for (int64_t t = hi - q; t < seg; ++t) o[t] = 0.f;
    }
    i += seg;
    q = 0;
    ++p;
  }
  for (int64_t t = w; t < wp; ++t) d[t] = 0.f;
}

template <void (*Gather2)(float*, const float*, int64_t)>
GIE_CONV_AI void packIm2colBody(const void* vctx, int64_t k0, int64_t kc, int64_t n0, int64_t nc,
                                int nr, int vw, float* dst) {
  const Im2colCtx& g = *static_cast<const Im2colCtx*>(vctx);
  const int64_t RS = g.R * g.S, HW = g.H * g.W, Q = g.Q;
  for (int64_t col = 0; col < nc; col += nr) {
    const int64_t w = std::min<int64_t>(nr, nc - col);
    const int64_t wp = (w + vw - 1) / vw * vw;
    float* __restrict d = dst + col * kc;
    const int64_t p0 = (n0 + col) / Q, q0 = (n0 + col) % Q;
    int64_t c = k0 / RS, rs = k0 % RS, r = rs / g.S, s = rs % g.S;
    for (int64_t k = 0; k < kc; ++k, d += wp) {
      im2colPanelRow<Gather2>(g, g.x + c * HW, r, s, p0, q0, w, wp, d);
      if (++s == g.S) {
        s = 0;
        if (++r == g.R) {
          r = 0;
          ++c;
        }
      }
    }
  }
}

void packIm2colScalar(const void* c, int64_t k0, int64_t kc, int64_t n0, int64_t nc, int nr, int vw,
                      float* dst) {
  packIm2colBody<gatherStride2Scalar>(c, k0, kc, n0, nc, nr, vw, dst);
}
#if GIE_CONV_X86
// Column stride 2 with 16-wide panels that each lie inside one output row (Q and the block's first column multiples
// of 16: the MobileNetV2 / EfficientNet-B0 stem 3->32 3x3 stride 2, 112 outputs per row): per im2col row k the
// per-tap bounds are looked up once for all panels, and a panel whose 16 outputs all read inside the input row is
// two deinterleaves of full loads (the panel's last input float x[2q + 31] is read but dropped: it lies in the
// row when the panel is not the row's last valid one, which takes the masked gather). The general packer spent
// about as long per (panel, k) on its bounds as on the copy: the im2col packing was 43% of the stem.
GIE_CONV_AVX2 void packIm2colStride2PanelsAvx2(const Im2colCtx& g, int64_t k0, int64_t kc, int64_t n0, int64_t nc,
                                               int nr, int vw, float* dst) {
  const int64_t RS = g.R * g.S, HW = g.H * g.W, Q = g.Q;
  int64_t c = k0 / RS, rs = k0 % RS, r = rs / g.S, s = rs % g.S;
  for (int64_t k = 0; k < kc; ++k) {
    const float* xc = g.x + c * HW;
    const int64_t pl = g.pLo[r], ph = g.pHi[r], ql = g.qLo[s], qh = g.qHi[s];
    const int64_t rOff = r * g.dh - g.pt, sOff = s * g.dw - g.pl;
    int64_t p = n0 / Q, q = n0 % Q;
    for (int64_t col = 0; col < nc; col += nr) {
      const int64_t w = std::min<int64_t>(nr, nc - col);
      const int64_t wp = (w + vw - 1) / vw * vw;
      float* __restrict d = dst + col * kc + k * wp;
      if (w == 16 && p >= pl && p < ph && q >= ql && q + 16 < qh) {
        const float* xr = xc + (p * g.sh + rOff) * g.W + sOff + 2 * q;
        _mm256_storeu_ps(d, evensAvx2(_mm256_loadu_ps(xr), _mm256_loadu_ps(xr + 8)));
        _mm256_storeu_ps(d + 8, evensAvx2(_mm256_loadu_ps(xr + 16), _mm256_loadu_ps(xr + 24)));
      } else {
        im2colPanelRow<gatherStride2Avx2>(g, xc, r, s, p, q, w, wp, d);
      }
      if ((q += nr) == Q) {
        q = 0;
        ++p;
      }
    }
    if (++s == g.S) {
      s = 0;
      if (++r == g.R) {
        r = 0;
        ++c;
      }
    }
  }
}
GIE_CONV_AVX2 void packIm2colAvx2(const void* c, int64_t k0, int64_t kc, int64_t n0, int64_t nc,
                                  int nr, int vw, float* dst) {
  const Im2colCtx& g = *static_cast<const Im2colCtx*>(c);
  if (g.sw == 2 && nr == 16 && vw == 8 && g.Q % 16 == 0 && (n0 % g.Q) % 16 == 0)
    return packIm2colStride2PanelsAvx2(g, k0, kc, n0, nc, nr, vw, dst);
  packIm2colBody<gatherStride2Avx2>(c, k0, kc, n0, nc, nr, vw, dst);
}
GIE_CONV_AVX512 void packIm2colAvx512(const void* c, int64_t k0, int64_t kc, int64_t n0,
                                      int64_t nc, int nr, int vw, float* dst) {
  packIm2colBody<gatherStride2Avx512>(c, k0, kc, n0, nc, nr, vw, dst);
}
#endif
using PackFn = void (*)(const void*, int64_t, int64_t, int64_t, int64_t, int, int, float*);
PackFn im2colFor(gemm::Isa isa) {
#if GIE_CONV_X86
  if (isa == gemm::Isa::kAvx512) return packIm2colAvx512;
  if (isa == gemm::Isa::kAvx2) return packIm2colAvx2;
#endif
  (void)isa;
  return packIm2colScalar;
}

// ---------------------------------- depthwise ----------------------------------
struct DwArgs {
  const float* x;  // image plane of channel c
  const float* w;  // R x S taps
  float* y;        // output plane (P x Q)
  const float* res;
  float bias;
  int64_t H, W, R, S, sh, sw, pt, pl, dh, dw, P, Q;
  const int64_t *pLo, *pHi, *qLo, *qHi;
  int64_t pb, pr;
  float* pad;  // flat path scratch: padded plane (padLen floats) and an accumulator chunk
  int64_t padLen;
  float* acc;
  const int64_t* tapOff;  // flat path: offset of tap (r, s) in the phase planes (see below)
  ActivationType act;            // applied while the rows are hot in L1
  float actAlpha, actBeta;
  bool borderZero;  // stride 1: pad already holds this geometry's zero border (an earlier plane's)
  bool alignedRows;  // dwAlignedRows: padded rows a multiple of 16 floats, pad placed on a 64-byte line
};
constexpr int64_t kDwC16LargePlane = 100 * 100;  // stride-1 outputs of at least this many pixels: 16-channel kernel
constexpr int64_t kDwChunk = 2048;  // accumulator chunk (floats), stays in L1
constexpr int64_t kDwBlock = 64;    // most outputs accumulated in registers over all taps (4 x 16 lanes; AVX2 4 x 8)
// Equal strides st: the zero-padded plane is split into st*st phase planes
//   phase[(R % st)*st + (C % st)][(R / st)*Wh + C / st] = padded(R, C),   Wh = ceil(Wp / st)
// so tap (r, s) of output i = p*Wh + q reads phase[((r*dh)%st)*st + (s*dw)%st] at
// i + ((r*dh)/st)*Wh + (s*dw)/st: one contiguous vector load per tap and block of outputs, for any
// stride, padding and dilation. Columns q >= Q of each accumulator row are junk and dropped when storing.
struct DwFlatGeom {
  int64_t Wh, planeLen;
};
// The register-reuse block below (dwRegBlock) runs 3x3 / 5x5, stride-1, dilation-1 planes of at least 4
// output rows.
inline bool dwRegEligible(int64_t st, int64_t P, int64_t R, int64_t S, int64_t dh, int64_t dw) {
  return st == 1 && dh == 1 && dw == 1 && R == S && (R == 3 || R == 5) && P >= 4;
}
// For the register-reuse block on rows of 16 columns and more, the padded plane's rows are a multiple of 16
// floats wide and runDepthwise places the buffer so that every row's first real column starts a 64-byte line:
// the centre taps' loads are then aligned (with the 58-float rows of a 56x56 plane nearly every load split a
// cache line), 3x3 144ch@56 0.162 -> 0.156 ms, 192ch@28 0.063 -> 0.060 ms (bench_depthwise, 1 thread). Only there:
// the 64-output sweep computes the junk columns Wh - Q too. GIE_CPU_DW_ALIGN=0 (env, read when a convolution is
// prepared) keeps the unaligned rows (tests compare both).
inline bool dwAlignedRows(int64_t W, int64_t st, int64_t P, int64_t R, int64_t S, int64_t dh, int64_t dw) {
  const char* e = std::getenv("GIE_CPU_DW_ALIGN");
  return !(e && std::strcmp(e, "0") == 0) && W >= 16 && dwRegEligible(st, P, R, S, dh, dw);
}
inline DwFlatGeom dwFlatGeom(int64_t H, int64_t W, int64_t pt, int64_t pb, int64_t pl, int64_t pr,
                             int64_t st, int64_t P, int64_t R, int64_t S, int64_t dh, int64_t dw, bool aligned) {
  const int64_t Hp = H + pt + pb, Wp = W + pl + pr;
  const int64_t Wh = aligned ? (Wp + 15) / 16 * 16 : (Wp + st - 1) / st;
  const int64_t rows = std::max((Hp + st - 1) / st, P + ((R - 1) * dh) / st + 1);
  // + kDwBlock: the last register block of a chunk reads up to kDwBlock - 1 floats past the outputs
  return {Wh, (rows + 1) * Wh + ((S - 1) * dw) / st + 1 + kDwBlock};
}
typedef float DwVec __attribute__((vector_size(64)));  // 16 lanes: one zmm, two ymm or four xmm
typedef int32_t DwIdx __attribute__((vector_size(64)));
// The per-plane kernel's AVX2 body works on 8 lanes (one ymm): with the 16-lane type GCC spread each vector over
// two ymm registers, spilled the register block's accumulators to the stack and scalarised the selects (ReLU /
// clip) and shuffles, and the AVX2 path ran 7-10x slower than the AVX-512 one (dw3x3 32ch@112: 1.79 ms).
typedef float DwVec8 __attribute__((vector_size(32)));
typedef int32_t DwIdx8 __attribute__((vector_size(32)));
template <class Vec>
constexpr int64_t kDwLanes = static_cast<int64_t>(sizeof(Vec) / sizeof(float));
// How the per-plane body stores a row's last, partial vector: masked AVX-512 / AVX2 moves, or element by element.
enum class DwTail { kElementwise, kAvx512, kAvx2 };
template <class Vec>
GIE_CONV_AI void dwFma(Vec& acc, float w, const float* p) {  // acc += w * p[0:lanes] (unaligned)
  Vec v;
  std::memcpy(&v, p, sizeof v);
  acc += w * v;
}
using DwRegAct = DwRegActT<DwVec>;
#if GIE_CONV_X86
// Masked 16-lane load / store of the first n < 16 floats (AVX-512 only; called from the shared
// depthwise body, which must not contain intrinsics itself).
GIE_CONV_AVX512 inline void dwMaskLoad512(DwVec& v, const float* p, int64_t n) {
  const __m512 x = _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p);
  std::memcpy(&v, &x, sizeof v);
}
GIE_CONV_AVX512 inline void dwMaskStore512(float* p, const DwVec& v, int64_t n) {
  __m512 x;
  std::memcpy(&x, &v, sizeof x);
  _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1), x);
}
// The same for the first n < 8 floats of an 8-lane vector (AVX2).
GIE_CONV_AVX2 inline __m256i dwMask256(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
GIE_CONV_AVX2 inline void dwMaskLoad256(DwVec8& v, const float* p, int64_t n) {
  const __m256 x = _mm256_maskload_ps(p, dwMask256(n));
  std::memcpy(&v, &x, sizeof v);
}
GIE_CONV_AVX2 inline void dwMaskStore256(float* p, const DwVec8& v, int64_t n) {
  __m256 x;
  std::memcpy(&x, &v, sizeof x);
  _mm256_maskstore_ps(p, dwMask256(n), x);
}
template <DwTail kTail, class Vec>
GIE_CONV_AI void dwMaskLoad(Vec& v, const float* p, int64_t n) {
  if constexpr (kTail == DwTail::kAvx512) dwMaskLoad512(v, p, n);
  else dwMaskLoad256(v, p, n);
}
template <DwTail kTail, class Vec>
GIE_CONV_AI void dwMaskStore(float* p, const Vec& v, int64_t n) {
  if constexpr (kTail == DwTail::kAvx512) dwMaskStore512(p, v, n);
  else dwMaskStore256(p, v, n);
}
#endif
// Register-reuse block of the flat sweep for dilation-1 R x S taps with stride ST (compile-time):
// J = 4 output rows x V vectors of L (the lanes of Vec) columns, starting at column c of a row (base = the phase-plane
// row of the block's first output row, at column c). Output rows j and j' read the same phase-plane
// vector for taps r, r' with j + r / ST == j' + r' / ST, so each input vector is loaded once per
// block instead of once per tap: the 64-output sweep issued one unaligned (cache-line splitting) load
// per FMA and was load-bound at about half the FMA rate. Taps are summed in the same order per output
// as the flat sweep for ST = 1. The block is stored straight into the output rows (stride Q, only
// the `valid` = Q - c real columns: no junk columns, no copy through the accumulator chunk), with the
// residual added and ReLU / clip / ReLU6 / leaky ReLU applied as the flat sweep's copy-out does.
template <class Vec, DwTail kTail, int R, int S, int ST, int V, class Fin>
GIE_CONV_AI void dwRegBlock(const float* __restrict base, int64_t planeLen, int64_t Wh,
                            const float* __restrict w, const Vec& bias, float* __restrict y,
                            const float* __restrict res, int64_t Q, int64_t valid, int64_t j0,
                            bool regAct, const Fin& finish) {
  constexpr int J = 4, U = J + (R - 1) / ST;
  constexpr int64_t L = kDwLanes<Vec>;
  Vec s[J][V];
#pragma GCC unroll 4
  for (int j = 0; j < J; ++j)
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) s[j][v] = bias;
#pragma GCC unroll 8
  for (int u = 0; u < U; ++u)
#pragma GCC unroll 2
    for (int a = 0; a < ST; ++a)
#pragma GCC unroll 5
      for (int t = 0; t < S; ++t) {
        const float* src = base + (a * ST + t % ST) * planeLen + u * Wh + t / ST;
#pragma GCC unroll 2
        for (int v = 0; v < V; ++v) {
          Vec x;
          std::memcpy(&x, src + L * v, sizeof x);
          // Keep the loaded vector in a register: GCC otherwise folds the load into every FMA that
          // uses it (one load per FMA again). Only where Vec is one register (AVX-512, AVX2).
          if constexpr (kTail != DwTail::kElementwise) asm("" : "+v"(x));
#pragma GCC unroll 4
          for (int j = 0; j < J; ++j) {
            const int r = (u - j) * ST + a;
            if (r >= 0 && r < R) s[j][v] += w[r * S + t] * x;
          }
        }
      }
#pragma GCC unroll 4
  for (int j = 0; j < J; ++j)
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) {
      const int64_t n = std::min<int64_t>(L, valid - L * v);
      if (n <= 0 || j < j0) break;  // rows j < j0 were stored by an earlier block (see dwRegChunk)
      float* yo = y + j * Q + L * v;
      Vec o = s[j][v];
      if (n == L) {
        if (res) {
          Vec rv;
          std::memcpy(&rv, res + j * Q + L * v, sizeof rv);
          o = o + rv;
        }
        if (regAct) finish(o);
        std::memcpy(yo, &o, sizeof o);
      } else if constexpr (kTail != DwTail::kElementwise) {  // the row's last columns: never touch y past Q
        // (the next plane may be another thread's): masked load / store
#if GIE_CONV_X86
        if (res) {
          Vec rv;
          dwMaskLoad<kTail>(rv, res + j * Q + L * v, n);
          o = o + rv;
        }
        if (regAct) finish(o);
        dwMaskStore<kTail>(yo, o, n);
#endif
      } else {
        float tmp[L];
        std::memcpy(tmp, &o, sizeof o);
        if (res)
          for (int64_t q = 0; q < n; ++q) tmp[q] += res[j * Q + L * v + q];
        std::memcpy(&o, tmp, sizeof o);
        if (regAct) finish(o);
        std::memcpy(tmp, &o, sizeof o);
        for (int64_t q = 0; q < n; ++q) yo[q] = tmp[q];
      }
    }
}
// Output rows [p0, p0 + rows) of the plane (P >= 4), straight into y. A last group of fewer than 4
// rows is computed as the 4 rows ending at the plane's row p0 + rows - 1 and stores only its new rows
// (recomputing a row in place would add a residual that aliases y twice): small planes (7x7) have no
// latency-bound single-vector remainder.
template <class Vec, DwTail kTail, int R, int S, int ST, int V, class Fin>
GIE_CONV_AI void dwRegChunk(const DwArgs& a, int64_t planeLen, int64_t Wh, int64_t p0, int64_t rows,
                            const Vec& bias, bool regAct, const Fin& finish) {
  constexpr int64_t CB = kDwLanes<Vec> * V;
  for (int64_t g = 0; g < rows; g += 4) {
    const int64_t gg = std::min(g, rows - 4), j0 = g - gg;  // p0 + gg >= 0 as P >= 4
    for (int64_t c = 0; c < a.Q; c += CB) {
      const int64_t off = (p0 + gg) * a.Q + c;
      dwRegBlock<Vec, kTail, R, S, ST, V>(a.pad + (p0 + gg) * Wh + c, planeLen, Wh, a.w, bias, a.y + off,
                                    a.res ? a.res + off : nullptr, a.Q, a.Q - c, j0, regAct, finish);
    }
  }
}
// The register-reuse path for the shapes it is instantiated for (3x3 / 5x5, stride 1, dilation 1, at
// least 4 output rows): returns the rows of the chunk it wrote (all of them, or 0 = none). Stride 2
// (ST = 2, phase planes) was measured 0-20% slower than the 64-output sweep on the MobileNetV2 /
// EfficientNet-B0 shapes (its phase planes are half as wide, so fewer loads are shared), so it is
// not instantiated.
template <class Vec, DwTail kTail, class Fin>
GIE_CONV_AI int64_t dwRegDispatch(const DwArgs& a, int64_t planeLen, int64_t Wh, int64_t p0, int64_t rows,
                                  const Vec& bias, bool regAct, const Fin& fin) {
  if (!dwRegEligible(a.sh, a.P, a.R, a.S, a.dh, a.dw)) return 0;
#define GIE_DW_REG_(R_, V_) dwRegChunk<Vec, kTail, R_, R_, 1, V_>(a, planeLen, Wh, p0, rows, bias, regAct, fin)
  const bool wide = a.Q > kDwLanes<Vec>;
  if (a.R == 3) wide ? GIE_DW_REG_(3, 2) : GIE_DW_REG_(3, 1);
  else wide ? GIE_DW_REG_(5, 2) : GIE_DW_REG_(5, 1);
#undef GIE_DW_REG_
  return rows;
}
// Vec: 16 lanes (AVX-512, the scalar build) or 8 (AVX2); every output sums its taps in the same order either way.
template <class Vec, DwTail kTail>
GIE_CONV_AI void dwFlatBody(const DwArgs& a) {
  constexpr int64_t L = kDwLanes<Vec>;
  const int64_t st = a.sh;
  const DwFlatGeom g =
      dwFlatGeom(a.H, a.W, a.pt, a.pb, a.pl, a.pr, st, a.P, a.R, a.S, a.dh, a.dw, a.alignedRows);
  const int64_t Wh = g.Wh;
  float* __restrict pad = a.pad;
  float* __restrict acc = a.acc;
  if (st == 1) {  // zero only the border around the copied rows, and only for a layer's first plane
    // (the copies never touch it); the rows are copied L floats at a time, the last L ending at the row's
    // end: the libc memcpy / memset calls per 56-float row took ~30% of a 56x56 plane (perf)
    if (!a.borderZero) {
      const int64_t right = Wh - a.pl - a.W;
      std::fill(pad, pad + a.pt * Wh, 0.f);
      for (int64_t ih = 0; ih < a.H; ++ih) {
        float* row = pad + (ih + a.pt) * Wh;
        for (int64_t t = 0; t < a.pl; ++t) row[t] = 0.f;
        for (int64_t t = 0; t < right; ++t) row[a.pl + a.W + t] = 0.f;
      }
      std::fill(pad + (a.H + a.pt) * Wh, pad + g.planeLen, 0.f);
    }
    for (int64_t ih = 0; ih < a.H; ++ih) {
      float* __restrict row = pad + (ih + a.pt) * Wh + a.pl;
      const float* __restrict xr = a.x + ih * a.W;
      if (a.W < L) {
        std::memcpy(row, xr, static_cast<size_t>(a.W) * 4);
        continue;
      }
      for (int64_t q = 0; q < a.W; q += L) {
        const int64_t qq = std::min(q, a.W - L);
        Vec v;
        std::memcpy(&v, xr + qq, sizeof v);
        std::memcpy(row + qq, &v, sizeof v);
      }
    }
  } else {
    std::fill(pad, pad + st * st * g.planeLen, 0.f);
    for (int64_t ih = 0; ih < a.H; ++ih) {
      const int64_t R = ih + a.pt;
      const float* xr = a.x + ih * a.W;
      if (st == 2) {
        // x[2m] goes to column phase pl % 2 at (pl / 2) + m, x[2m + 1] to the other phase at
        // (pl + 1) / 2 + m; L pairs at a time are split with one two-register shuffle.
        float* ev = pad + ((R % 2) * 2 + a.pl % 2) * g.planeLen + (R / 2) * Wh + a.pl / 2;
        float* od = pad + ((R % 2) * 2 + (a.pl + 1) % 2) * g.planeLen + (R / 2) * Wh + (a.pl + 1) / 2;
        int64_t m = 0;
        for (; 2 * m + 2 * L <= a.W; m += L) {
          Vec v0, v1, e, o;
          std::memcpy(&v0, xr + 2 * m, sizeof v0);
          std::memcpy(&v1, xr + 2 * m + L, sizeof v1);
          if constexpr (L == 16) {
            e = __builtin_shuffle(v0, v1, DwIdx{0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30});
            o = __builtin_shuffle(v0, v1, DwIdx{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31});
          } else {
            e = __builtin_shuffle(v0, v1, DwIdx8{0, 2, 4, 6, 8, 10, 12, 14});
            o = __builtin_shuffle(v0, v1, DwIdx8{1, 3, 5, 7, 9, 11, 13, 15});
          }
          std::memcpy(ev + m, &e, sizeof e);
          std::memcpy(od + m, &o, sizeof o);
        }
        for (; 2 * m < a.W; ++m) {
          ev[m] = xr[2 * m];
          if (2 * m + 1 < a.W) od[m] = xr[2 * m + 1];
        }
        continue;
      }
      for (int64_t ph = 0; ph < st; ++ph) {  // column phase
        const int64_t c0 = (ph - a.pl % st + st) % st;  // first iw with (iw + pl) % st == ph
        float* dst = pad + ((R % st) * st + ph) * g.planeLen + (R / st) * Wh + (c0 + a.pl) / st;
        const int64_t cnt = (a.W - c0 + st - 1) / st;
        for (int64_t j = 0; j < cnt; ++j) dst[j] = xr[c0 + st * j];
      }
    }
  }
  const int64_t RS = a.R * a.S;
  const Vec bias = Vec{} + a.bias;
  // ReLU / clip / ReLU6 / leaky ReLU are applied in registers when there is no residual to add first; other
  // activations (and any after a residual) run over the finished rows while they are in L1.
  const ActivationType act = a.act;
  const bool regAct = !a.res && DwRegActKinds::inRegisters(act);
  const DwRegActT<Vec> finish(act, a.actAlpha, a.actBeta);
  // Register-reuse path: chunks of a multiple of its 4-row groups (acc holds kDwChunk + 4 * Wh).
  const bool reg = dwRegEligible(st, a.P, a.R, a.S, a.dh, a.dw);
  const int64_t rowsPer = reg ? std::max<int64_t>(4, kDwChunk / Wh / 4 * 4) : std::max<int64_t>(1, kDwChunk / Wh);
  for (int64_t p0 = 0; p0 < a.P; p0 += rowsPer) {
    const int64_t rows = std::min(rowsPer, a.P - p0), n = rows * Wh, i0 = p0 * Wh;
    int64_t i = 0;
    // The register-reuse path writes the chunk's rows straight to y (done = rows), else the sweep.
    const int64_t done = reg ? dwRegDispatch<Vec, kTail>(a, g.planeLen, Wh, p0, rows, bias, regAct, finish) : 0;
    i = done * Wh;
    for (; i + 4 * L <= n; i += 4 * L) {  // all taps on 4 * L outputs held in registers
      Vec s0 = bias, s1 = bias, s2 = bias, s3 = bias;
      const float* base = pad + i0 + i;
      for (int64_t t = 0; t < RS; ++t) {
        const float* src = base + a.tapOff[t];
        const float wv = a.w[t];
        dwFma(s0, wv, src);
        dwFma(s1, wv, src + L);
        dwFma(s2, wv, src + 2 * L);
        dwFma(s3, wv, src + 3 * L);
      }
      if (regAct) {
        finish(s0);
        finish(s1);
        finish(s2);
        finish(s3);
      }
      std::memcpy(acc + i, &s0, sizeof s0);
      std::memcpy(acc + i + L, &s1, sizeof s1);
      std::memcpy(acc + i + 2 * L, &s2, sizeof s2);
      std::memcpy(acc + i + 3 * L, &s3, sizeof s3);
    }
    for (; i < n; i += L) {  // the rest (small planes: 7x7 is 63 or 77 outputs) L at a time
      Vec s0 = bias;
      const float* base = pad + i0 + i;
      for (int64_t t = 0; t < RS; ++t) dwFma(s0, a.w[t], base + a.tapOff[t]);
      if (regAct) finish(s0);
      std::memcpy(acc + i, &s0, sizeof s0);
    }
    for (int64_t pr = done; pr < rows; ++pr) {
      float* __restrict yr = a.y + (p0 + pr) * a.Q;
      const float* __restrict ar = acc + pr * Wh;
      if (a.res) {
        const float* __restrict rr = a.res + (p0 + pr) * a.Q;
        for (int64_t q = 0; q < a.Q; ++q) yr[q] = ar[q] + rr[q];
      } else {
        std::memcpy(yr, ar, static_cast<size_t>(a.Q) * 4);
      }
    }
    if (!regAct && act != kNoActivation)
      gemm::activateRow(a.y + p0 * a.Q, rows * a.Q, act, a.actAlpha, a.actBeta);
  }
}
// One output plane. Rows are accumulated in place in y (hot in L1), then finished.
GIE_CONV_AI void dwBody(const DwArgs& a) {
  for (int64_t p = 0; p < a.P; ++p) {
    float* __restrict yr = a.y + p * a.Q;
    for (int64_t q = 0; q < a.Q; ++q) yr[q] = a.bias;
    for (int64_t r = 0; r < a.R; ++r) {
      if (p < a.pLo[r] || p >= a.pHi[r]) continue;
      const float* xr = a.x + (p * a.sh + r * a.dh - a.pt) * a.W;
      for (int64_t s = 0; s < a.S; ++s) {
        const float wv = a.w[r * a.S + s];
        const int64_t lo = a.qLo[s], hi = a.qHi[s], off = s * a.dw - a.pl;
        if (a.sw == 1) {
          const float* xs = xr + off;
          for (int64_t q = lo; q < hi; ++q) yr[q] += wv * xs[q];
        } else if (a.sw == 2) {
          const float* xs = xr + off;
          for (int64_t q = lo; q < hi; ++q) yr[q] += wv * xs[2 * q];
        } else {
          for (int64_t q = lo; q < hi; ++q) yr[q] += wv * xr[q * a.sw + off];
        }
      }
    }
    if (a.res) {
      const float* rr = a.res + p * a.Q;
      for (int64_t q = 0; q < a.Q; ++q) yr[q] += rr[q];
    }
  }
}
void dwScalar(const DwArgs& a) { a.pad ? dwFlatBody<DwVec, DwTail::kElementwise>(a) : dwBody(a); }
#if GIE_CONV_X86
GIE_CONV_AVX2 void dwAvx2(const DwArgs& a) { a.pad ? dwFlatBody<DwVec8, DwTail::kAvx2>(a) : dwBody(a); }
GIE_CONV_AVX512 void dwAvx512(const DwArgs& a) { a.pad ? dwFlatBody<DwVec, DwTail::kAvx512>(a) : dwBody(a); }
#endif

// ------------------------- depthwise, 16 channels per vector (AVX-512; AVX2: 8) -------------------------
// For small planes and stride 2 the per-plane kernel above spends most of its time per plane (building the
// padded plane, a few short rows, the call), not in its FMAs (MobileNetV2's 7x7 x 960 layer: ~130 ns per
// plane). This kernel takes 16 channels at a time in the layout onnxruntime keeps between layers (NCHW16c):
// the 16 planes are transposed into a zero-padded pixel-major buffer (one 16-lane vector per pixel, 16x16
// register transposes), every output pixel is R*S vector FMAs with per-channel weight vectors (8 pixels at a
// time for independent accumulators), and the result is transposed back into the 16 NCHW planes with the
// residual added and the activation applied (ReLU / clip / ReLU6 / leaky ReLU in registers, others through
// gemm::activateRow: on the blocked results before the transpose, or after the residual). Any stride, padding and
// dilation; channel multiplier 1.
// The AVX2 build runs the same body on 8-channel groups (one ymm per pixel, NCHW8c in the scratch rows).
template <class Vec>
struct DwCArgs {
  const float* x;     // image n, first channel of the group (planes H*W apart)
  const Vec* w;       // R*S weight vectors of the group (lane l: channel c0 + l; 0 past the last channel)
  Vec bias;           // lane l: bias of channel c0 + l
  float* y;           // output of channel c0: pixel i (= p * Q + q) of channel c0 + l at y[l * yPlane + i - yOrigin]
  const float* res;   // same layout as y, nullable
  int64_t nc;         // channels in the group (<= the lanes of Vec)
  int64_t H, W, R, S, sh, sw, pt, pl, dh, dw, P, Q, Wp;
  int64_t strip;      // output rows per strip
  int64_t pBegin, pEnd;  // the output rows to compute
  int64_t yPlane, yOrigin;  // y's channel stride (P*Q for whole planes) and the pixel index at y[0] (0 for planes)
  Vec* xp;            // scratch: the strip's padded input rows, ((strip - 1) * sh + (R - 1) * dh + 1) * Wp vectors
  Vec* yp;            // scratch: strip * Q vectors
  ActivationType act;
  float actAlpha, actBeta;
};
// r[i][j] -> r[j][i] for 16 x 16 floats: log2(16) rounds of swapping the off-diagonal blocks of size d.
GIE_CONV_AI void transpose16(DwVec (&r)[16]) {
  static constexpr DwIdx lo8{0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23};
  static constexpr DwIdx hi8{8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31};
  static constexpr DwIdx lo4{0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27};
  static constexpr DwIdx hi4{4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31};
  static constexpr DwIdx lo2{0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29};
  static constexpr DwIdx hi2{2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31};
  static constexpr DwIdx lo1{0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30};
  static constexpr DwIdx hi1{1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31};
#define GIE_DW_T_ROUND_(d, lo, hi)                                   \
  for (int i = 0; i < 16; ++i)                                       \
    if (!(i & d)) {                                                  \
      const DwVec a = r[i], b = r[i + d];                            \
      r[i] = __builtin_shuffle(a, b, lo);                            \
      r[i + d] = __builtin_shuffle(a, b, hi);                        \
    }
  GIE_DW_T_ROUND_(8, lo8, hi8)
  GIE_DW_T_ROUND_(4, lo4, hi4)
  GIE_DW_T_ROUND_(2, lo2, hi2)
  GIE_DW_T_ROUND_(1, lo1, hi1)
#undef GIE_DW_T_ROUND_
}
// The same for 8 x 8 floats (AVX2), in the order whose shuffles are single AVX2 instructions (unpcklps / unpckhps,
// shufps, vperm2f128): the order of transpose16 (halves first, pairs last) made the last round's even / odd lane
// interleave two instructions each (vpermilps + vblendps), 32 shuffles per transpose instead of 24.
GIE_CONV_AI void transpose8(DwVec8 (&r)[8]) {
  static constexpr DwIdx8 unpackLo{0, 8, 1, 9, 4, 12, 5, 13}, unpackHi{2, 10, 3, 11, 6, 14, 7, 15};
  static constexpr DwIdx8 pairLo{0, 1, 8, 9, 4, 5, 12, 13}, pairHi{2, 3, 10, 11, 6, 7, 14, 15};
  static constexpr DwIdx8 halfLo{0, 1, 2, 3, 8, 9, 10, 11}, halfHi{4, 5, 6, 7, 12, 13, 14, 15};
  DwVec8 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {  // t[i] = r(i, i+1) columns 0 1 | 4 5, t[i+1]: 2 3 | 6 7
    t[i] = __builtin_shuffle(r[i], r[i + 1], unpackLo);
    t[i + 1] = __builtin_shuffle(r[i], r[i + 1], unpackHi);
  }
  for (int h = 0; h < 8; h += 4)  // u[h + j]: column j | j + 4 of rows h .. h + 3
    for (int j = 0; j < 2; ++j) {
      u[h + 2 * j] = __builtin_shuffle(t[h + j], t[h + j + 2], pairLo);
      u[h + 2 * j + 1] = __builtin_shuffle(t[h + j], t[h + j + 2], pairHi);
    }
  for (int j = 0; j < 4; ++j) {
    r[j] = __builtin_shuffle(u[j], u[j + 4], halfLo);
    r[j + 4] = __builtin_shuffle(u[j], u[j + 4], halfHi);
  }
}
GIE_CONV_AI void transposeSquare(DwVec (&r)[16]) { transpose16(r); }
GIE_CONV_AI void transposeSquare(DwVec8 (&r)[8]) { transpose8(r); }
#if GIE_CONV_X86
// r[t] = the 8 channels of pixel t of 8 consecutive pixels of 8 planes HW floats apart (the AVX2 body): the 128-bit
// halves of planes l and l + 4 are loaded into one register (vinsertf128 from memory), which leaves a 4 x 4 transpose
// in each 128-bit lane, 16 shuffles instead of transpose8's 24. The input transpose is most of a stride-2 layer's
// time. Vector extensions, not intrinsics: the caller is the ISA-neutral body.
typedef float DwVec4 __attribute__((vector_size(16)));
GIE_CONV_AI void loadTransposed8(DwVec8 (&r)[8], const float* x, int64_t HW) {
  static constexpr DwIdx8 unpackLo{0, 8, 1, 9, 4, 12, 5, 13}, unpackHi{2, 10, 3, 11, 6, 14, 7, 15};
  static constexpr DwIdx8 pairLo{0, 1, 8, 9, 4, 5, 12, 13}, pairHi{2, 3, 10, 11, 6, 7, 14, 15};
  DwVec8 a[8];  // a[l]: pixels 0-3 of planes l | l + 4; a[l + 4]: pixels 4-7
  for (int l = 0; l < 4; ++l)
    for (int h = 0; h < 2; ++h) {
      DwVec4 lo, hi;
      std::memcpy(&lo, x + l * HW + 4 * h, sizeof lo);
      std::memcpy(&hi, x + (l + 4) * HW + 4 * h, sizeof hi);
      a[l + 4 * h] = __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7);
    }
  for (int h = 0; h < 8; h += 4) {
    const DwVec8 t0 = __builtin_shuffle(a[h], a[h + 1], unpackLo), t1 = __builtin_shuffle(a[h], a[h + 1], unpackHi);
    const DwVec8 t2 = __builtin_shuffle(a[h + 2], a[h + 3], unpackLo);
    const DwVec8 t3 = __builtin_shuffle(a[h + 2], a[h + 3], unpackHi);
    r[h] = __builtin_shuffle(t0, t2, pairLo);
    r[h + 1] = __builtin_shuffle(t0, t2, pairHi);
    r[h + 2] = __builtin_shuffle(t1, t3, pairLo);
    r[h + 3] = __builtin_shuffle(t1, t3, pairHi);
  }
}
GIE_CONV_AI void loadTransposed8(DwVec (&)[16], const float*, int64_t) {}  // (never called: AVX-512 lanes)
template <class Vec, DwTail kTail>
GIE_CONV_AI void dwChannelBlockBody(const DwCArgs<Vec>& a) {
  constexpr int64_t L = kDwLanes<Vec>;
  const int64_t HW = a.H * a.W, Wp = a.Wp;
  Vec* __restrict xp = a.xp;
  Vec* __restrict yp = a.yp;
  const Vec zero = Vec{} + 0.f;
  // The strip's padded rows j = 0 .. rows-1 (padded-plane row pr0 + j, input row pr0 + j - pt): zeros
  // outside the image; the image rows are transposed L consecutive pixels of the flattened plane x L
  // channels at a time and scattered to their (row, column), so a block spans row ends. Row by row
  // transposes wasted lanes on rows that are not a multiple of 16 wide: 7 transposes for a 7x7 plane
  // instead of 4, 4 per 56-pixel row instead of 3.5; the input transpose is most of the work at stride 2.
  auto loadRows = [&](int64_t pr0, int64_t rows) __attribute__((always_inline)) {
    const int64_t ih0 = std::max<int64_t>(0, pr0 - a.pt), ih1 = std::min(a.H, pr0 - a.pt + rows);
    for (int64_t j = 0; j < rows; ++j) {
      Vec* row = xp + j * Wp;
      const int64_t ih = pr0 + j - a.pt;
      if (ih < 0 || ih >= a.H) {
        for (int64_t t = 0; t < Wp; ++t) row[t] = zero;
        continue;
      }
      for (int64_t t = 0; t < a.pl; ++t) row[t] = zero;
      for (int64_t t = a.pl + a.W; t < Wp; ++t) row[t] = zero;
    }
    if (ih1 <= ih0) return;
    const int64_t f1 = ih1 * a.W;
    Vec* dst = xp + (ih0 + a.pt - pr0) * Wp + a.pl;  // pixel f's place in the strip
    int64_t iw = 0;                                     // column of pixel f
    for (int64_t f = ih0 * a.W; f < f1; f += L) {
      const int64_t n = std::min<int64_t>(L, f1 - f);
      // past the strip's last pixel a full load stays inside the plane unless this is the plane's end
      const bool full = f + L <= HW;
      Vec r[L];
      bool loaded = false;
      if constexpr (kTail == DwTail::kAvx2) {
        if (full && a.nc == L) {
          loadTransposed8(r, a.x + f, HW);
          loaded = true;
        }
      }
      if (!loaded) {
        for (int l = 0; l < L; ++l) {
          const float* src = a.x + l * HW + f;
          if (l >= a.nc) r[l] = zero;
          else if (full) std::memcpy(&r[l], src, sizeof(Vec));
          else dwMaskLoad<kTail>(r[l], src, HW - f);
        }
        transposeSquare(r);
      }
      if (n == L && iw + L <= a.W) {  // the common case: L pixels inside one image row
        for (int t = 0; t < L; ++t) dst[t] = r[t];
        dst += L;
        if ((iw += L) == a.W) {
          iw = 0;
          dst += Wp - a.W;
        }
        continue;
      }
#pragma GCC unroll 16
      for (int t = 0; t < L; ++t)  // (unrolled with the test: a loop up to n becomes a memcpy from the stack)
        if (t < n) {
          *dst++ = r[t];
          if (++iw == a.W) {
            iw = 0;
            dst += Wp - a.W;
          }
        }
    }
  };
  // R*S taps per output pixel, 8 pixels of a row at a time
  const ActivationType act = a.act;
  const bool regAct = !a.res && DwRegActKinds::inRegisters(act);
  const DwRegActT<Vec> finish(act, a.actAlpha, a.actBeta);
  // NB pixels of output row p from column q, all taps; blocks may overlap (they store, never accumulate).
  int64_t p0 = 0;  // first output row of the strip
  auto block = [&](auto nb, int64_t p, int64_t q) __attribute__((always_inline)) {
    constexpr int NB = decltype(nb)::value;
    const Vec* xr = xp + (p - p0) * a.sh * Wp;
    Vec acc[NB];
    for (int j = 0; j < NB; ++j) acc[j] = a.bias;
    const Vec* wt = a.w;
    for (int64_t r = 0; r < a.R; ++r) {
      const Vec* src = xr + r * a.dh * Wp + q * a.sw;
      for (int64_t s = 0; s < a.S; ++s, ++wt, src += a.dw) {
        const Vec wv = *wt;
        for (int j = 0; j < NB; ++j) acc[j] += wv * src[j * a.sw];
      }
    }
    for (int j = 0; j < NB; ++j) {
      if (regAct) finish(acc[j]);
      yp[(p - p0) * a.Q + q + j] = acc[j];
    }
  };
  // The same for NB = 8 pixels of a row (or a whole row of 4-7) with unit column stride and dilation and S = 3
  // or 5 taps per row (most
  // depthwise layers): each padded-row vector is loaded once and used by every pixel that needs it (12 loads
  // instead of 40 for 5x5), the row's S weights in registers. block() issued one load per FMA plus one per
  // weight, more than the one 512-bit load per cycle Zen 4 sustains. Each accumulator gets the same FMAs in
  // the same order (s ascending per r), so the same bits.
  // Column stride 2 (ST) likewise: pixel j's tap s reads padded column 2j + s, so each of the 2 NB + S - 2 vectors
  // is loaded once for the one or two pixels using it (60 loads instead of 81 for 8 pixels of a 3x3 layer).
  auto blockUnitStride = [&](auto sTaps, auto nPix, auto colStride, int64_t p, int64_t q) __attribute__((always_inline)) {
    constexpr int S = decltype(sTaps)::value, NB = decltype(nPix)::value, ST = decltype(colStride)::value;
    const Vec* xr = xp + (p - p0) * a.sh * Wp + q * ST;
    Vec acc[NB];
    for (int j = 0; j < NB; ++j) acc[j] = a.bias;
    const Vec* wt = a.w;
    for (int64_t r = 0; r < a.R; ++r, wt += S) {
      const Vec* src = xr + r * a.dh * Wp;
      Vec w[S];
#pragma GCC unroll 8
      for (int s = 0; s < S; ++s) w[s] = wt[s];
#pragma GCC unroll 24
      for (int c = 0; c < ST * (NB - 1) + S; ++c) {
        const Vec v = src[c];
#pragma GCC unroll 8
        for (int s = 0; s < S; ++s)
          if (c - s >= 0 && (c - s) % ST == 0 && (c - s) / ST < NB) acc[(c - s) / ST] += w[s] * v;
      }
    }
    for (int j = 0; j < NB; ++j) {
      if (regAct) finish(acc[j]);
      yp[(p - p0) * a.Q + q + j] = acc[j];
    }
  };
  const int unitTaps = (a.sw == 1 || a.sw == 2) && a.dw == 1 && (a.S == 3 || a.S == 5) ? static_cast<int>(a.S) : 0;
  using One = std::integral_constant<int, 1>;
  using Two = std::integral_constant<int, 2>;
  // Strips of a.strip output rows: their padded input rows and outputs stay in L1 / L2 (a 112x112 plane of
  // 16 channels is 800 KB).
  for (p0 = a.pBegin; p0 < a.pEnd; p0 += a.strip) {
  const int64_t p1 = std::min(a.pEnd, p0 + a.strip), rowsIn = (p1 - 1 - p0) * a.sh + (a.R - 1) * a.dh + 1;
  loadRows(p0 * a.sh, rowsIn);
  for (int64_t p = p0; p < p1; ++p) {
    if (a.Q >= 8) {  // 8 independent accumulators (FMA latency); the last block ends at the row's end
      using Eight = std::integral_constant<int, 8>;
      for (int64_t q = 0; q < a.Q; q += 8) {
        const int64_t qb = std::min(q, a.Q - 8);
        if (unitTaps == 3 && a.sw == 1) blockUnitStride(std::integral_constant<int, 3>{}, Eight{}, One{}, p, qb);
        else if (unitTaps == 5 && a.sw == 1) blockUnitStride(std::integral_constant<int, 5>{}, Eight{}, One{}, p, qb);
        else if (unitTaps == 3) blockUnitStride(std::integral_constant<int, 3>{}, Eight{}, Two{}, p, qb);
        else if (unitTaps == 5) blockUnitStride(std::integral_constant<int, 5>{}, Eight{}, Two{}, p, qb);
        else block(Eight{}, p, qb);
      }
    } else if (a.Q == 7 && unitTaps == 3 && a.sw == 1) {  // 7x7 planes: one row block, no overlapping second one
      blockUnitStride(std::integral_constant<int, 3>{}, std::integral_constant<int, 7>{}, One{}, p, 0);
    } else if (a.Q == 7 && unitTaps == 5 && a.sw == 1) {
      blockUnitStride(std::integral_constant<int, 5>{}, std::integral_constant<int, 7>{}, One{}, p, 0);
    } else if (a.Q == 7 && unitTaps == 3) {
      blockUnitStride(std::integral_constant<int, 3>{}, std::integral_constant<int, 7>{}, Two{}, p, 0);
    } else if (a.Q == 7 && unitTaps == 5) {
      blockUnitStride(std::integral_constant<int, 5>{}, std::integral_constant<int, 7>{}, Two{}, p, 0);
    } else if (a.Q >= 4) {
      block(std::integral_constant<int, 4>{}, p, 0);
      block(std::integral_constant<int, 4>{}, p, a.Q - 4);
    } else {
      for (int64_t q = 0; q < a.Q; ++q) block(std::integral_constant<int, 1>{}, p, q);
    }
  }
  // Other activations (SiLU, ...) without a residual run over the strip's channel-blocked results while they are in
  // L1, before the transpose, rather than over the stored planes afterwards: the same function of the same values.
  const bool actBlocked = !regAct && act != kNoActivation && !a.res;
  if (actBlocked)
    gemm::activateRow(reinterpret_cast<float*>(yp), (p1 - p0) * a.Q * L, act, a.actAlpha, a.actBeta);
  // transpose out: L output pixels (consecutive in the flattened plane) x L channels at a time
  const int64_t iEnd = p1 * a.Q;
  for (int64_t i = p0 * a.Q; i < iEnd; i += L) {
    const int64_t n = std::min<int64_t>(L, iEnd - i);
    Vec r[L];
    for (int64_t t = 0; t < L; ++t) r[t] = t < n ? yp[i - p0 * a.Q + t] : zero;
    transposeSquare(r);
    for (int64_t l = 0; l < a.nc; ++l) {
      float* dst = a.y + l * a.yPlane + i - a.yOrigin;
      Vec v = r[l];
      if (n == L) {
        if (a.res) {
          Vec rv;
          std::memcpy(&rv, a.res + l * a.yPlane + i - a.yOrigin, sizeof rv);
          v += rv;
        }
        std::memcpy(dst, &v, sizeof v);
      } else {
        if (a.res) {
          Vec rv;
          dwMaskLoad<kTail>(rv, a.res + l * a.yPlane + i - a.yOrigin, n);
          v += rv;
        }
        dwMaskStore<kTail>(dst, v, n);
      }
    }
  }
  if (!regAct && !actBlocked && act != kNoActivation)  // after the residual
    for (int64_t l = 0; l < a.nc; ++l)
      gemm::activateRow(a.y + l * a.yPlane + p0 * a.Q - a.yOrigin, (p1 - p0) * a.Q, act, a.actAlpha, a.actBeta);
  }
}
GIE_CONV_AVX512 void dwC16Avx512(const DwCArgs<DwVec>& a) { dwChannelBlockBody<DwVec, DwTail::kAvx512>(a); }
GIE_CONV_AVX2 void dwC8Avx2(const DwCArgs<DwVec8>& a) { dwChannelBlockBody<DwVec8, DwTail::kAvx2>(a); }
#endif

// ------------------------- direct convolution, 16 output channels per vector (AVX-512) -------------------------
// Dense convolutions with few taps per output or few output channels (C*R*S <= kDirectMaxTaps, K <= kDirectMaxK):
// MobileNetV2's / EfficientNet-B0's stem (3 -> 32, 3x3 stride 2), their 32 -> 16 1x1 projection on 112x112 planes and
// their 1x1 projections to 32-80 channels on 14x14..28x28 planes. As a GEMM these have 16-80 rows (output channels)
// per packed B panel, or only K = C*R*S <= 32 steps per tile: packing the panels (stride-2 deinterleaves for the stem)
// costs a large share of the FMAs, and the 8 x 48 tile's stores too.
// Here each output pixel's 16 channels are one vector: 16 consecutive output pixels x 16 channels in 16 accumulators,
// every tap one FMA per pixel with the input value as a broadcast memory operand (no packing, no im2col), the weights
// one vector per tap; the 16 x 16 block is transposed into the 16 NCHW planes (transpose16), bias first, residual and
// activation at the store (ReLU / clip / ReLU6 / leaky ReLU in registers, others through gemm::activateRow on the
// chunk's rows while they are in L1). Padded layers read an output row's zero-padded input rows from a per-thread copy; 1x1,
// stride-1, unpadded ones read the input itself (the plane is one flat row of H*W pixels).
constexpr int64_t kDirectMaxTaps = 512;  // C*R*S
constexpr int64_t kDirectMaxK = 80;     // output channels (one pass over the input per 16)
constexpr int64_t kDirectChunk = 256;   // output pixels per row chunk (16 channels x 256 floats = 16 KB)
struct DirectArgs {
  const float* x;        // the image (first channel)
  const DwVec* w;        // per group of 16 output channels: taps vectors (lane l: channel g*16 + l)
  const int64_t* off;    // per tap: offset of its input for output pixel 0 (in the row buffer, or in x when flat)
  int64_t taps, sw;      // C*R*S, column stride
  int64_t Q, PQ, K;      // output row length (flat: H*W), plane size, channels
  int64_t C, H, W, R, sh, pt, pl, dh, Wp;  // padded layers: an output row's C*R input rows, zero-padded to Wp
  bool flat;             // 1x1, stride 1, no padding: reads x itself (the plane as one row of H*W pixels)
  const float* bias;     // K, nullable
  float* y;              // output image
  const float* res;      // nullable, indexed like y
  ActivationType act;
  float actAlpha, actBeta;
};
//! Floats of an output row's padded input rows (C*R rows of Wp, plus slack for the junk lanes of rows under 16
//! pixels: a block reads up to 16 * sw floats past a row's last output).
inline int64_t directRowsLen(int64_t C, int64_t R, int64_t Wp, int64_t sw) { return C * R * Wp + 16 * sw + 16; }
#if GIE_CONV_X86
template <int SW>
GIE_CONV_AVX512 void directC16Row(const DirectArgs& a, int64_t p, int64_t qBegin, int64_t qEnd, int64_t gBegin,
                                  int64_t gEnd) {
  const int64_t sw = SW ? SW : a.sw;
  const bool regAct = !a.res && DwRegAct::inRegisters(a.act);
  const DwRegAct finish(a.act, a.actAlpha, a.actBeta);
  const float* xrow = a.x;
  if (!a.flat) {
    // The R input rows of each channel that output row p reads, zero-padded, in a per-thread buffer (L1): a copy of
    // the whole padded image before the loop was serial and wrote 600 KB for the 224x224 stem.
    static thread_local gemm::AlignedFloats rows;
    const size_t len = static_cast<size_t>(directRowsLen(a.C, a.R, a.Wp, a.sw));
    if (rows.size() < len) rows.resize(len);
    float* d = rows.data();
    const int64_t w1 = std::min(a.W, a.Wp - a.pl);
    for (int64_t c = 0; c < a.C; ++c)
      for (int64_t r = 0; r < a.R; ++r, d += a.Wp) {
        const int64_t ih = p * a.sh - a.pt + r * a.dh;
        if (ih < 0 || ih >= a.H) {
          std::memset(d, 0, static_cast<size_t>(a.Wp) * sizeof(float));
          continue;
        }
        std::memset(d, 0, static_cast<size_t>(a.pl) * sizeof(float));
        std::memcpy(d + a.pl, a.x + (c * a.H + ih) * a.W, static_cast<size_t>(w1) * sizeof(float));
        std::memset(d + a.pl + w1, 0, static_cast<size_t>(a.Wp - a.pl - w1) * sizeof(float));
      }
    std::memset(d, 0, static_cast<size_t>(16 * a.sw + 16) * sizeof(float));
    xrow = rows.data();
  }
  for (int64_t q0 = qBegin; q0 < qEnd; q0 += kDirectChunk) {
    const int64_t q1 = std::min(qEnd, q0 + kDirectChunk);
    for (int64_t g = gBegin; g < gEnd; ++g) {
      const int64_t nc = std::min<int64_t>(16, a.K - g * 16);
      DwVec bias = DwVec{} + 0.f;
      if (a.bias)
        for (int64_t l = 0; l < nc; ++l) bias[l] = a.bias[g * 16 + l];
      const DwVec* wg = a.w + g * a.taps;
      for (int64_t q = q0; q < q1; q += 16) {
        // a row's last block ends at the row's end when it can (flat 1x1 reads have no slack past the plane) and
        // stores only its new pixels
        const int64_t qb = q + 16 <= a.Q || a.Q < 16 ? q : a.Q - 16;
        const int64_t skip = q - qb, n = std::min<int64_t>(16, a.Q - qb);
        DwVec acc[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i) acc[i] = bias;
        const float* base = xrow + qb * sw;
        for (int64_t t = 0; t < a.taps; ++t) {
          const DwVec wv = wg[t];
          const float* src = base + a.off[t];
#pragma GCC unroll 16
          for (int i = 0; i < 16; ++i) acc[i] += wv * src[i * sw];
        }
        transpose16(acc);
        const int64_t o = p * a.Q + qb;
        const __mmask16 m = static_cast<__mmask16>(((1u << n) - 1) & ~((1u << skip) - 1));
        for (int64_t l = 0; l < nc; ++l) {
          float* dst = a.y + (g * 16 + l) * a.PQ + o;
          __m512 v;
          std::memcpy(&v, &acc[l], sizeof v);
          if (a.res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, a.res + (g * 16 + l) * a.PQ + o));
          if (regAct) {
            DwVec u;
            std::memcpy(&u, &v, sizeof u);
            finish(u);
            std::memcpy(&v, &u, sizeof v);
          }
          _mm512_mask_storeu_ps(dst, m, v);
        }
      }
      if (!regAct && a.act != kNoActivation)
        for (int64_t l = 0; l < nc; ++l)
          gemm::activateRow(a.y + (g * 16 + l) * a.PQ + p * a.Q + q0, q1 - q0, a.act, a.actAlpha, a.actBeta);
    }
  }
}
// Output row p, columns qBegin .. qEnd - 1 (one chunk at most), output channel groups gBegin .. gEnd - 1.
GIE_CONV_AVX512 void directC16Avx512(const DirectArgs& a, int64_t p, int64_t qBegin, int64_t qEnd, int64_t gBegin,
                                     int64_t gEnd) {
  if (a.sw == 1) directC16Row<1>(a, p, qBegin, qEnd, gBegin, gEnd);
  else if (a.sw == 2) directC16Row<2>(a, p, qBegin, qEnd, gBegin, gEnd);
  else directC16Row<0>(a, p, qBegin, qEnd, gBegin, gEnd);
}
#endif

#if GIE_CONV_X86
// The transposed GEMM's output pass: y[k][i] = act(D[i][k] + bias[k] + res[k][i]) for channels k0 .. k1 - 1
// (at most 16; y, bias and res start at channel k0), 16 pixels x 16 channels per register transpose, the sums in
// the scalar loop's order, ReLU / clip / ReLU6 / leaky ReLU in registers (others: the caller's activateRow). The scalar
// loop (one strided load per element) and its separate activation pass took ~0.03 ms per 1x1 layer on 7x7 planes
// (MobileNetV2 / EfficientNet-B0 have 10-16 such layers). D's rows hold at least 16 floats past k0.
GIE_CONV_AVX512 void transposeOutAvx512(const float* D, int64_t ldd, int64_t PQ, int64_t k0, int64_t k1, float* y,
                                        const float* bias, const float* res, ActivationType act, float alpha,
                                        float beta) {
  const bool regAct = DwRegAct::inRegisters(act);
  const DwRegAct finish(act, alpha, beta);
  const int64_t nk = k1 - k0;
  for (int64_t i = 0; i < PQ; i += 16) {
    const int64_t n = std::min<int64_t>(16, PQ - i);
    DwVec r[16];
#pragma GCC unroll 16
    for (int t = 0; t < 16; ++t) {
      if (t < n) std::memcpy(&r[t], D + (i + t) * ldd + k0, sizeof(DwVec));
      else r[t] = DwVec{} + 0.f;
    }
    transpose16(r);
    for (int64_t l = 0; l < nk; ++l) {
      DwVec v = r[l] + (bias ? bias[l] : 0.f);
      if (res) {
        DwVec rv;
        dwMaskLoad512(rv, res + l * PQ + i, n);
        v += rv;
      }
      if (regAct) finish(v);
      dwMaskStore512(y + l * PQ + i, v, n);
    }
  }
}
#endif

std::atomic<int> gOrientation{0};
std::atomic<int> gWinograd{0};
std::atomic<int> gDwC16{0};
std::atomic<int> gDirect{-1};  // -1: GIE_CPU_DIRECT_CONV decides

// GIE_CPU_DIRECT_CONV (read at each construction, so tests can switch it): 0 = never the direct kernel, 2 = on
// every shape it can run, anything else / unset = where it is expected to pay off.
int directMode() {
  const int o = gDirect.load(std::memory_order_relaxed);
  if (o >= 0) return o;
  const char* e = std::getenv("GIE_CPU_DIRECT_CONV");
  return e && e[0] == '0' && !e[1] ? 1 : e && e[0] == '2' && !e[1] ? 2 : 0;
}

}  // namespace

void Conv2dCpu::setOrientationOverride(int mode) { gOrientation.store(mode); }
void Conv2dCpu::setWinogradOverride(int mode) { gWinograd.store(mode); }
void Conv2dCpu::setDepthwiseC16Override(int mode) { gDwC16.store(mode); }
void Conv2dCpu::setDirectOverride(int mode) { gDirect.store(mode); }

int64_t Conv2dParams::P() const {
  return (H + padTop + padBottom - dilH * (R - 1) - 1) / strideH + 1;
}
int64_t Conv2dParams::Q() const {
  return (W + padLeft + padRight - dilW * (S - 1) - 1) / strideW + 1;
}

Conv2dCpu::Conv2dCpu(const Conv2dParams& p, const float* weights) : p_(p) {
  if (p.groups <= 0 || p.C % p.groups || p.K % p.groups || p.R <= 0 || p.S <= 0 ||
      p.strideH <= 0 || p.strideW <= 0 || p.dilH <= 0 || p.dilW <= 0)
    throw std::invalid_argument("Conv2dCpu: invalid parameters");
  P_ = p.P();
  Q_ = p.Q();
  if (P_ <= 0 || Q_ <= 0) throw std::invalid_argument("Conv2dCpu: empty output");
  pLo_.resize(p.R);
  pHi_.resize(p.R);
  qLo_.resize(p.S);
  qHi_.resize(p.S);
  for (int64_t r = 0; r < p.R; ++r)
    validRange(p.H, P_, p.strideH, r * p.dilH - p.padTop, pLo_[r], pHi_[r]);
  for (int64_t s = 0; s < p.S; ++s)
    validRange(p.W, Q_, p.strideW, s * p.dilW - p.padLeft, qLo_[s], qHi_[s]);

  const int64_t Cg = p.C / p.groups, Kg = p.K / p.groups, Kdim = Cg * p.R * p.S;
  if (p.groups > 1 && p.groups == p.C) {  // depthwise, channel multiplier K / C
    path_ = Path::kDepthwise;
    dwWeights_.assign(weights, weights + p.K * p.R * p.S);
    const int c16 = gDwC16.load(std::memory_order_relaxed);
    // The 16-channel kernel wins where the per-plane kernel's per-plane work dominates: stride 2, and planes
    // up to 14x14 (measured on the MobileNetV2 / EfficientNet-B0 shapes, bench/cpp/bench_depthwise.cpp; at
    // 28x28 the per-plane kernel is ahead for 3x3 since it copies rows inline and zeroes the border once per
    // layer; for 5x5, with the unit-stride row blocks, the 16-channel kernel wins there too: 240ch 0.17 -> 0.13 ms).
    // Stride-1 planes of 112x112 and more (MobileNetV2's and EfficientNet-B0's first depthwise layer) take it too:
    // alone with its input hot in cache the per-plane kernel is faster there (32ch 0.15 against 0.19 ms), but inside
    // the network the 1.6 MB input comes from L3 or memory, and there the 16-channel kernel, which streams 16 planes
    // at once, is ahead (bench/cpu_layer_compare.py: 0.34 -> 0.29 ms, 0.41 -> 0.36 ms with EfficientNet's SiLU;
    // cold caches in the micro-benchmark: 0.33 -> 0.28 ms); on 56x56 it is not (144ch: 0.21 against 0.25 ms).
    const bool c16Wins = p.strideH > 1 || p.strideW > 1 || P_ * Q_ < 28 * 28 || (P_ * Q_ <= 28 * 28 && p.S == 5) ||
                         P_ * Q_ >= kDwC16LargePlane;
    // On AVX2 (8 channels per vector) it wins on every MobileNetV2 / EfficientNet-B0 shape, 56x56 and 28x28 stride 1
    // included (Zen 3, 1 thread, hot: 144ch@56 0.35 -> 0.23 ms, 192ch@28 0.155 -> 0.087, 32ch@112 0.28 -> 0.21): the
    // per-plane kernel's 8-lane register block shares fewer loads than the 16-lane one.
    const gemm::Isa isa = gemm::activeIsa();
    const int64_t lanes = isa == gemm::Isa::kAvx512 ? 16 : isa == gemm::Isa::kAvx2 ? 8 : 0;
    // AVX2, 3x3 stride 2 with output rows of a multiple of 8 pixels: the row kernel (depthwise_s2_avx2.h), which
    // splits each input row into even / odd columns instead of transposing every pixel (Zen 3, 1 thread, hot:
    // see docs/cpu_kernels.md).
    dwS2Rows_ = GIE_CONV_X86 && isa == gemm::Isa::kAvx2 && c16 == 0 &&
                dwStride2RowsEligible(p.W, p.R, p.S, p.strideH, p.strideW, p.dilH, p.dilW, p.padTop, p.padLeft, Q_,
                                      p.K / p.C);
    if (GIE_CONV_X86 && lanes && p.K == p.C && !dwS2Rows_ && (c16 == 2 || (c16 == 0 && (c16Wins || lanes == 8)))) {
      const int64_t RS = p.R * p.S, G = (p.K + lanes - 1) / lanes;
      dwCLanes_ = lanes;
      dwW16_.assign(static_cast<size_t>(G * RS * lanes), 0.f);
      for (int64_t k = 0; k < p.K; ++k)
        for (int64_t t = 0; t < RS; ++t) dwW16_[((k / lanes) * RS + t) * lanes + k % lanes] = weights[k * RS + t];
    }
    if (p.strideH == p.strideW) {  // tap offsets in the flat kernel's phase planes
      const int64_t st = p.strideH;
      dwAligned_ = dwAlignedRows(p.W, st, P_, p.R, p.S, p.dilH, p.dilW);
      const DwFlatGeom fg = dwFlatGeom(p.H, p.W, p.padTop, p.padBottom, p.padLeft, p.padRight, st,
                                       P_, p.R, p.S, p.dilH, p.dilW, dwAligned_);
      for (int64_t r = 0; r < p.R; ++r)
        for (int64_t s = 0; s < p.S; ++s) {
          const int64_t ro = r * p.dilH, so = s * p.dilW;
          dwTapOff_.push_back(((ro % st) * st + so % st) * fg.planeLen + (ro / st) * fg.Wh + so / st);
        }
    }
    return;
  }
  const bool is1x1 = p.R == 1 && p.S == 1 && p.strideH == 1 && p.strideW == 1 && p.padTop == 0 &&
                     p.padLeft == 0 && p.padBottom == 0 && p.padRight == 0;
  const int direct = directMode();
  // AVX2: the 3x3 stride-2 stems (few input channels, pixels in lanes, stem_s2_avx2.cpp) where the direct kernel
  // pays off on AVX-512 (below: few taps, few output channels, large planes), or on every shape it can run when
  // forced (GIE_CPU_DIRECT_CONV=2, tests). Zen 3, 1 thread, 3 -> 32 @224 with bias + ReLU6 (bench/cpp/bench_stem.cpp):
  // see docs/cpu_kernels.md.
  if (GIE_CONV_X86 && gemm::activeIsa() == gemm::Isa::kAvx2 && direct != 1 &&
      stemS2Eligible(p.C, p.K, p.R, p.S, p.strideH, p.strideW, p.dilH, p.dilW, p.groups, p.padTop, p.padLeft, Q_) &&
      (direct == 2 || (Kdim <= 32 && p.K <= 64 && P_ * Q_ >= 56 * 56))) {
    path_ = Path::kDirect;
    stemW_.resize(static_cast<size_t>(p.K * Kdim));
    stemS2PackWeights(weights, p.K, p.C, stemW_.data());
    return;
  }
  // The direct kernel (16 output channels per vector) where the GEMM's packing and tile stores outweigh its FMAs:
  // few taps per output and few output channels, on planes of 56x56 outputs and more (bench/cpp/bench_direct_conv.cpp,
  // 1 thread, hot / after a 64 MB flush: the MobileNetV2 / EfficientNet-B0 stem 3 -> 32 3x3 stride 2 0.345 -> 0.249 /
  // 0.365 -> 0.288 ms, their 32 -> 16 1x1 on 112x112 0.169 -> 0.133 / 0.200 -> 0.189 ms; 32 -> 64 on 28x28 about
  // even). A flat 1x1 plane needs 16 pixels (its last block ends at the plane's end).
  const bool directCan = GIE_CONV_X86 && gemm::activeIsa() == gemm::Isa::kAvx512 && p.groups == 1 &&
                         Kdim <= kDirectMaxTaps && p.K <= kDirectMaxK && (!is1x1 || P_ * Q_ >= 16);
  const bool directWins = (Kdim <= 32 && p.K <= 64 && P_ * Q_ >= 56 * 56) ||
                          (is1x1 && p.K % 16 == 0 && P_ * Q_ >= 14 * 14 && P_ * Q_ <= 28 * 28);
  if (directCan && direct != 1 && (direct == 2 || directWins)) {
    path_ = Path::kDirect;
    const int64_t G16 = (p.K + 15) / 16;
    directW_.assign(static_cast<size_t>(G16 * Kdim * 16), 0.f);
    for (int64_t k = 0; k < p.K; ++k)
      for (int64_t t = 0; t < Kdim; ++t) directW_[((k / 16) * Kdim + t) * 16 + k % 16] = weights[k * Kdim + t];
    if (is1x1) {  // flat: output pixel i reads input pixel i of each plane
      for (int64_t c = 0; c < p.C; ++c) directOff_.push_back(c * p.H * p.W);
      return;
    }
    // padded: each output row reads its C*R input rows from a zero-padded copy of Wp columns (every column an
    // output reads)
    directWp_ = std::max((Q_ - 1) * p.strideW + (p.S - 1) * p.dilW + 1, p.W + p.padLeft);
    for (int64_t c = 0; c < p.C; ++c)
      for (int64_t r = 0; r < p.R; ++r)
        for (int64_t s = 0; s < p.S; ++s) directOff_.push_back((c * p.R + r) * directWp_ + s * p.dilW);
    return;
  }
  const int wino = gWinograd.load(std::memory_order_relaxed);
  if (wino >= 2 ? WinogradConv3x3::eligible(p) : wino == 0 && WinogradConv3x3::profitable(p)) {
    path_ = Path::kWinograd;
    wino_ = std::make_shared<const WinogradConv3x3>(p, weights, wino == 3 ? 2 : wino == 4 ? 4 : 0);
    return;
  }
  path_ = is1x1 ? Path::kGemm1x1 : Path::kIm2col;
  const gemm::Isa isa = gemm::activeIsa();
  // Orientation: the micro-kernel pads rows to mr and columns to vw; pick the cheaper layout,
  // per thread: the normal GEMM splits the Kg rows (mr units), the transposed one the
  // pre-packed weight panels (nr units).
  const gemm::Geometry geo = gemm::geometry(isa);
  const int64_t T = cpuThreads();
  auto padTo = [](int64_t v, int64_t m) { return static_cast<double>((v + m - 1) / m * m); };
  auto perThread = [T](int64_t v, int64_t unit) {
    return static_cast<double>(((v + unit - 1) / unit + T - 1) / T * unit);
  };
  const int64_t PQ = P_ * Q_;
  const double costNormal = perThread(Kg, geo.mr) * padTo(PQ, geo.vw);
  // ~4% for the extra store traffic plus the transposing pass (~50 flop-equivalents/element).
  const double costTransposed =
      padTo(PQ, gemm::packedBRowUnit(isa, PQ)) * (T > 1 ? perThread(Kg, geo.nr) : padTo(Kg, geo.vw)) * 1.04 +
      25.0 * PQ * Kg / static_cast<double>(Kdim * T);
  const int orient = gOrientation.load(std::memory_order_relaxed);
  // AVX2 with several threads, 1x1 layers: the normal orientation. The model above does not count the transposing
  // pass, which runs on one thread below 16384 outputs; measured (Zen 3, 2 threads, hot, min of 20 alternations) the
  // transposed GEMM lost on every 1x1 shape it picked there (GoogLeNet's 5x5 layers, im2col, were even within noise,
  // so they keep the model's choice): 384->64 @14 0.086 against 0.064 ms, 960->160 @7 0.125 / 0.104,
  // 576->160 @7 0.077 / 0.061, 832->256 @7 0.31 / 0.25, 512->64 @14 0.21 / 0.16.
  const bool normalOnly = T > 1 && isa == gemm::Isa::kAvx2 && is1x1;
  transposed_ = orient == 2 || (orient == 0 && !normalOnly && costTransposed < costNormal);
  if (transposed_) {
    packedB_.resize(static_cast<size_t>(p.groups));
    for (int64_t g = 0; g < p.groups; ++g)
      gemm::packB(packedB_[g], isa, true, Kdim, Kg, weights + g * Kg * Kdim, Kdim);
  } else {
    packed_.resize(static_cast<size_t>(p.groups));
    for (int64_t g = 0; g < p.groups; ++g)
      gemm::packA(packed_[g], isa, false, Kg, Kdim, weights + g * Kg * Kdim, Kdim);
  }
}

size_t Conv2dCpu::workspaceSize() const { return 0; }

int Conv2dCpu::winogradTile() const { return wino_ ? wino_->tile() : 0; }

void Conv2dCpu::run(int64_t batch, const float* x, float* y, int64_t yBatchStride,
                    const Epilogue& ep, void* workspace, int64_t xBatchStride) const {
  (void)workspace;
  if (batch <= 0) return;
  if (xBatchStride < 0) xBatchStride = p_.C * p_.H * p_.W;
  if (path_ == Path::kDepthwise) {
    runDepthwise(batch, x, y, yBatchStride, ep, xBatchStride);
    return;
  }
  if (path_ == Path::kWinograd) {
    wino_->run(batch, x, y, yBatchStride, ep, xBatchStride);
    return;
  }
  if (path_ == Path::kDirect) {
    runDirect(batch, x, y, yBatchStride, ep, xBatchStride);
    return;
  }
  const Conv2dParams& p = p_;
  const int64_t G = p.groups, Cg = p.C / G, Kg = p.K / G, PQ = P_ * Q_, HW = p.H * p.W;
  const double flopsPer = 2.0 * Kg * PQ * Cg * p.R * p.S;
  const int64_t items = batch * G;

  auto one = [&](int64_t item, int nthreads) {
    const int64_t n = item / G, g = item % G;
    const float* xg = x + n * xBatchStride + g * Cg * HW;
    float* yg = y + n * yBatchStride + g * Kg * PQ;
    const gemm::OutputEpi oe = outputRowsEpi(ep, ep.bias ? ep.bias + g * Kg : nullptr,
                                             ep.residual ? ep.residual + n * yBatchStride + g * Kg * PQ : nullptr, PQ);
    const gemm::Isa isa = transposed_ ? packedB_[g].isa : packed_[g].isa;
    const gemm::PlainB pb{xg, HW, false, true};
    const Im2colCtx ctx{xg,  p.H,     p.W,      p.R,          p.S,          p.strideH,
                        p.strideW, p.padTop, p.padLeft, p.dilH, p.dilW, Q_,
                        pLo_.data(), pHi_.data(), qLo_.data(), qHi_.data()};
    const gemm::BSource bs = path_ == Path::kGemm1x1 ? gemm::BSource{gemm::packPlainB, &pb}
                                                     : gemm::BSource{im2colFor(isa), &ctx};
    if (!transposed_) {
      gemm::gemmPacked(packed_[g], bs, PQ, 1.f, 0.f, yg, PQ, oe, nthreads);
      return;
    }
    // D[PQ, Kg] = im2col^T * W^T, then y[k, pq] = act(D[pq, k] + bias[k] + res[k, pq]).
    const int64_t ldd = (Kg + 15) / 16 * 16 + 16;  // avoid power-of-two strides (L1 set conflicts)
    static thread_local std::vector<float> dbuf;
    if (dbuf.size() < static_cast<size_t>(PQ * ldd)) dbuf.resize(static_cast<size_t>(PQ * ldd));
    const float* D = dbuf.data();
    gemm::gemmPackedB(bs, PQ, packedB_[g], 1.f, 0.f, dbuf.data(), ldd, gemm::OutputEpi{}, nthreads);
    const bool par = nthreads != 1 && PQ * Kg > 16384;
    constexpr int64_t KB = 16, IB = 64;  // cache-blocked transpose
    parallelForThreads((Kg + KB - 1) / KB, par ? 0 : 1, [&](int64_t kb) {
      const int64_t k0 = kb * KB, k1 = std::min(Kg, k0 + KB);
#if GIE_CONV_X86
      if (isa == gemm::Isa::kAvx512) {
        transposeOutAvx512(D, ldd, PQ, k0, k1, yg + k0 * PQ, oe.biasRow ? oe.biasRow + k0 : nullptr,
                           oe.residual ? oe.residual + k0 * PQ : nullptr, ep.act, ep.alpha, ep.beta);
        if (ep.act != kNoActivation && !DwRegAct::inRegisters(ep.act))
          for (int64_t k = k0; k < k1; ++k) gemm::activateRow(yg + k * PQ, PQ, ep.act, ep.alpha, ep.beta);
        return;
      }
#endif
      for (int64_t i0 = 0; i0 < PQ; i0 += IB) {
        const int64_t i1 = std::min(PQ, i0 + IB);
        for (int64_t k = k0; k < k1; ++k) {
          float* yr = yg + k * PQ;
          const float b = oe.biasRow ? oe.biasRow[k] : 0.f;
          const float* rr = oe.residual ? oe.residual + k * PQ : nullptr;
          for (int64_t i = i0; i < i1; ++i) yr[i] = D[i * ldd + k] + b + (rr ? rr[i] : 0.f);
        }
      }
      if (ep.act != kNoActivation)
        for (int64_t k = k0; k < k1; ++k) gemm::activateRow(yg + k * PQ, PQ, ep.act, ep.alpha, ep.beta);
    });
  };

  const int T = inParallelLoop() ? 1 : cpuThreads();
  if (T > 1 && items >= 2 * T && flopsPer < 2e7) {  // many small GEMMs (groups, batch): one each
    parallelForThreads(items, T, [&](int64_t it) { one(it, 1); });
    return;
  }
  for (int64_t it = 0; it < items; ++it) one(it, 0);
}

void Conv2dCpu::runDirect(int64_t batch, const float* x, float* y, int64_t yBatchStride, const Epilogue& ep,
                          int64_t xBatchStride) const {
#if GIE_CONV_X86
  const Conv2dParams& p = p_;
  const int64_t PQ = P_ * Q_;
  const bool flat = directWp_ == 0;
  const int64_t rows = flat ? 1 : P_, Qrow = flat ? PQ : Q_, chunks = (Qrow + kDirectChunk - 1) / kDirectChunk;
  if (!stemW_.empty()) {  // AVX2 3x3 stride-2 stem: bands of 4 output rows as tasks (a band splits its rows once)
    const bool par = PQ * p.K * p.C * 9 > 200000 && !inParallelLoop() && cpuThreads() > 1;
    const int64_t band = 4, bands = (P_ + band - 1) / band;
    for (int64_t n = 0; n < batch; ++n) {
      const StemS2Args a{x + n * xBatchStride, y + n * yBatchStride,
                         ep.residual ? ep.residual + n * yBatchStride : nullptr, stemW_.data(), ep.bias,
                         p.C, p.H, p.W, p.K, P_, Q_, p.padTop, p.padLeft, ep.act, ep.alpha, ep.beta};
      parallelForThreads(bands, par ? 0 : 1, [&](int64_t b) {
        stemS2RowsAvx2(a, b * band, std::min(P_, (b + 1) * band));
      });
    }
    return;
  }
  for (int64_t n = 0; n < batch; ++n) {
    const DirectArgs a{x + n * xBatchStride, reinterpret_cast<const DwVec*>(directW_.data()), directOff_.data(),
                       static_cast<int64_t>(directOff_.size()), flat ? 1 : p.strideW, Qrow, PQ, p.K,
                       p.C, p.H, p.W, p.R, p.strideH, p.padTop, p.padLeft, p.dilH, directWp_, flat,
                       ep.bias, y + n * yBatchStride, ep.residual ? ep.residual + n * yBatchStride : nullptr,
                       ep.act, ep.alpha, ep.beta};
    // one thread: every channel group of a chunk in turn (the chunk's input stays in L1 / L2); several: the groups
    // are tasks too (a 14x14 plane is a single chunk)
    const bool par = PQ * p.K * a.taps > 200000 && !inParallelLoop() && cpuThreads() > 1;
    const int64_t G16 = (p.K + 15) / 16, gTasks = par ? G16 : 1;
    parallelForThreads(rows * chunks * gTasks, par ? 0 : 1, [&](int64_t it) {
      const int64_t g = it % gTasks, rc = it / gTasks, q0 = (rc % chunks) * kDirectChunk;
      directC16Avx512(a, rc / chunks, q0, std::min(Qrow, q0 + kDirectChunk), par ? g : 0, par ? g + 1 : G16);
    });
  }
#else
  (void)batch, (void)x, (void)y, (void)yBatchStride, (void)ep, (void)xBatchStride;
#endif
}

void Conv2dCpu::dwGroupRows(const float* x, int64_t c0, int64_t pBegin, int64_t pEnd, float* y, const float* res,
                            int64_t yPlane, int64_t yOrigin, const Epilogue& ep) const {
#if GIE_CONV_X86
  const Conv2dParams& p = p_;
  const int64_t L = dwCLanes_, RS = p.R * p.S, HW = p.H * p.W, Wp = p.W + p.padLeft + p.padRight;
  const int64_t nc = std::min<int64_t>(L, p.K - c0);
  // strip: output rows whose padded input rows take at most ~96 KB (L2; one row of a 112-wide plane: 7 KB)
  const int64_t fit = std::max<int64_t>(0, (96 * 1024 / (4 * L)) / Wp - (p.R - 1) * p.dilH - 1) / p.strideH + 1;
  const int64_t strip = std::min(P_, fit), rowsIn = (strip - 1) * p.strideH + (p.R - 1) * p.dilH + 1;
  auto one = [&](auto* vecTag, auto kernel) {
    using Vec = std::remove_pointer_t<decltype(vecTag)>;
    static thread_local gemm::AlignedFloats xs, ys;
    if (xs.size() < static_cast<size_t>(rowsIn * Wp * L)) xs.resize(static_cast<size_t>(rowsIn * Wp * L));
    if (ys.size() < static_cast<size_t>(strip * Q_ * L)) ys.resize(static_cast<size_t>(strip * Q_ * L));
    Vec bias = Vec{} + 0.f;
    if (ep.bias)
      for (int64_t l = 0; l < nc; ++l) bias[l] = ep.bias[c0 + l];
    const DwCArgs<Vec> a{x + c0 * HW, reinterpret_cast<const Vec*>(dwW16_.data()) + (c0 / L) * RS, bias, y, res,
                         nc, p.H, p.W, p.R, p.S, p.strideH, p.strideW, p.padTop, p.padLeft, p.dilH, p.dilW, P_, Q_,
                         Wp, strip, pBegin, pEnd, yPlane, yOrigin, reinterpret_cast<Vec*>(xs.data()),
                         reinterpret_cast<Vec*>(ys.data()), ep.act, ep.alpha, ep.beta};
    kernel(a);
  };
  if (L == 16) one(static_cast<DwVec*>(nullptr), dwC16Avx512);
  else one(static_cast<DwVec8*>(nullptr), dwC8Avx2);
#else
  (void)x, (void)c0, (void)pBegin, (void)pEnd, (void)y, (void)res, (void)yPlane, (void)yOrigin, (void)ep;
#endif
}

void Conv2dCpu::runDepthwiseRows(const float* x, int64_t p0, int64_t p1, float* y, int64_t yPlane,
                                 const Epilogue& ep) const {
  if (!depthwiseRowsCapable() || ep.residual || p0 < 0 || p1 > P_ || p0 >= p1 || yPlane < (p1 - p0) * Q_)
    throw std::invalid_argument("Conv2dCpu::runDepthwiseRows: not a channel-blocked depthwise layer, a residual, or "
                                "bad rows");
  for (int64_t c0 = 0; c0 < p_.K; c0 += dwCLanes_)
    dwGroupRows(x, c0, p0, p1, y + c0 * yPlane, nullptr, yPlane, p0 * Q_, ep);
}

void Conv2dCpu::runPointwiseColumns(const float* x, int64_t ldx, int64_t n, float* y, int64_t ldy,
                                    const Epilogue& ep) const {
  if (!pointwiseColumnsCapable() || n <= 0 || ldx < n || ldy < n)
    throw std::invalid_argument("Conv2dCpu::runPointwiseColumns: not a normal-orientation 1x1 GEMM, or bad sizes");
  const gemm::PlainB pb{x, ldx, false, true};
  gemm::gemmPacked(packed_[0], gemm::BSource{gemm::packPlainB, &pb}, n, 1.f, 0.f, y, ldy,
                   outputRowsEpi(ep, ep.bias, ep.residual, ldy), 1);
}

void Conv2dCpu::runDepthwise(int64_t batch, const float* x, float* y, int64_t yBatchStride,
                             const Epilogue& ep, int64_t xBatchStride) const {
  const Conv2dParams& p = p_;
  const int64_t PQ = P_ * Q_, HW = p.H * p.W, K = p.K, mult = p.K / p.C, RS = p.R * p.S;
  auto fn = dwScalar;
#if GIE_CONV_X86
  const gemm::Isa isa = gemm::activeIsa();
  if (isa == gemm::Isa::kAvx512) fn = dwAvx512;
  else if (isa == gemm::Isa::kAvx2) fn = dwAvx2;
#endif
#if GIE_CONV_X86
  if (dwS2Rows_) {
    const bool rowAct = ep.act != kNoActivation && !DwRegActKinds::inRegisters(ep.act);
    parallelForThreads(batch * K, batch * K * PQ * RS > 200000 ? 0 : 1, [&](int64_t it) {
      const int64_t n = it / K, c = it % K;
      float* yc = y + n * yBatchStride + c * PQ;
      const DwS2Plane a{x + n * xBatchStride + c * HW, yc,
                        ep.residual ? ep.residual + n * yBatchStride + c * PQ : nullptr,
                        dwWeights_.data() + c * RS, ep.bias ? ep.bias[c] : 0.f, p.H, p.W, P_, Q_, p.padTop,
                        p.padLeft, ep.act, ep.alpha, ep.beta};
      dwStride2RowsAvx2(a);
      if (rowAct) gemm::activateRow(yc, PQ, ep.act, ep.alpha, ep.beta);  // after the residual, plane in L1
    });
    return;
  }
  if (!dwW16_.empty()) {
    const int64_t L = dwCLanes_, G = (K + L - 1) / L;
    // Several threads and fewer than 4 channel groups per thread (MobileNetV2's / EfficientNet-B0's 32 channels at
    // 112x112: 4 groups): each group is also cut into bands of output rows, band-major, so that a late or preempted
    // worker leaves the caller tasks to take, and thread t (which runs the t-th share of the tasks first; parallel.h)
    // computes the rows whose pixels the next 1x1 layer's thread t reads (its GEMM splits the pixels the same way).
    const bool par = batch * K * PQ * RS > 200000;
    const int T = par && !inParallelLoop() ? cpuThreads() : 1;
    const int64_t bands =
        batch == 1 && T > 1 && G < 4 * T ? std::min<int64_t>(P_ / 8, (4 * T + G - 1) / G) : 1;
    parallelForThreads(std::max<int64_t>(bands, 1) * batch * G, par ? 0 : 1, [&](int64_t task) {
      const int64_t band = bands > 1 ? task / G : 0, it = bands > 1 ? task % G : task;
      const int64_t pBegin = bands > 1 ? P_ * band / bands : 0, pEnd = bands > 1 ? P_ * (band + 1) / bands : P_;
      const int64_t n = it / G, c0 = (it % G) * L;
      dwGroupRows(x + n * xBatchStride, c0, pBegin, pEnd, y + n * yBatchStride + c0 * PQ,
                  ep.residual ? ep.residual + n * yBatchStride + c0 * PQ : nullptr, PQ, 0, ep);
    });
    return;
  }
#endif
  const int64_t items = batch * K;
  // The flat register-blocked sweep handles any padding / dilation when both strides are equal;
  // unequal strides take the row kernel.
  const bool flat = p.strideH == p.strideW;
  const DwFlatGeom fg = dwFlatGeom(p.H, p.W, p.padTop, p.padBottom, p.padLeft, p.padRight,
                                   p.strideH, P_, p.R, p.S, p.dilH, p.dilW, dwAligned_);
  const int64_t padLen = flat ? p.strideH * p.strideH * fg.planeLen : 0;
  // The geometry whose zero border a thread's padded-plane buffer holds (stride 1 zeroes it once per layer
  // and thread; any other layer's geometry, or a reallocated buffer, zeroes it again).
  struct PadKey {
    const float* buf;
    int64_t H, W, pt, pl, Wh, len;
    bool operator==(const PadKey& o) const {
      return buf == o.buf && H == o.H && W == o.W && pt == o.pt && pl == o.pl && Wh == o.Wh && len == o.len;
    }
  };
  parallelForThreads(items, items * PQ * RS > 200000 ? 0 : 1, [&](int64_t it) {
    const int64_t n = it / K, k = it % K;
    DwArgs a{x + n * xBatchStride + (k / mult) * HW,
             dwWeights_.data() + k * RS,
             y + n * yBatchStride + k * PQ,
             ep.residual ? ep.residual + n * yBatchStride + k * PQ : nullptr,
             ep.bias ? ep.bias[k] : 0.f,
             p.H, p.W, p.R, p.S, p.strideH, p.strideW, p.padTop, p.padLeft, p.dilH, p.dilW,
             P_, Q_, pLo_.data(), pHi_.data(), qLo_.data(), qHi_.data(),
             p.padBottom, p.padRight, nullptr, padLen, nullptr, dwTapOff_.data(),
             ep.act, ep.alpha, ep.beta, false, dwAligned_};
    if (flat) {  // per-thread scratch
      static thread_local std::vector<float> padBuf, accBuf;
      static thread_local PadKey padKey{};
      if (padBuf.size() < static_cast<size_t>(padLen + 32)) padBuf.resize(static_cast<size_t>(padLen + 32));
      // aligned rows (dwAlignedRows): every padded row's first real column on a 64-byte line
      float* padBase = padBuf.data();
      if (dwAligned_) {
        const uintptr_t at = reinterpret_cast<uintptr_t>(padBase + p.padLeft);
        padBase += ((64 - at % 64) % 64) / 4;
      }
      if (p.strideH == 1) {
        const PadKey key{padBase, p.H, p.W, p.padTop, p.padLeft, fg.Wh, fg.planeLen};
        a.borderZero = key == padKey;
        padKey = key;
      } else {
        padKey = PadKey{};  // stride > 1 overwrites the whole buffer
      }
      // + 4 rows: with the register-reuse chunking (rowsPer >= 4) a sweep chunk holds up to 3 rows of any width
      const size_t accLen = static_cast<size_t>(kDwChunk + 4 * fg.Wh + kDwBlock);
      if (accBuf.size() < accLen) accBuf.resize(accLen);
      a.pad = padBase;
      a.acc = accBuf.data();
      fn(a);  // epilogue included
      return;
    }
    fn(a);
    if (ep.act != kNoActivation) gemm::activateRow(a.y, PQ, ep.act, ep.alpha, ep.beta);
  });
}

}  // namespace gie::cpu
