// Single-precision GEMM: Goto-style packing + register-blocked micro-kernels.
//   AVX-512: 8 x 48 tile (24 zmm accumulators), AVX2+FMA: 6 x 16 tile (12 ymm accumulators),
//   portable scalar 4 x 8 fallback. ISA chosen at run time; intrinsics only inside
//   target-attributed functions so the file builds without -march flags.
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "common/parallel.h"

#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 intrinsic headers trigger false -Wmaybe-uninitialized (_mm512_undefined_ps).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#if defined(__x86_64__) || defined(__i386__)
#define GIE_X86 1
#include <immintrin.h>
#define GIE_AVX2 __attribute__((target("avx2,fma")))
#define GIE_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))
#else
#define GIE_X86 0
#endif
#define GIE_AI __attribute__((always_inline)) inline

namespace gie::cpu {
namespace gemm {
namespace {

// ------------------------------------------------------------------------------------------
// Scratch buffers (grow-only, 64-byte aligned, one per thread => safe for concurrent callers).
struct AlignedBuf {
  float* p = nullptr;
  size_t cap = 0;
  AlignedBuf() = default;
  AlignedBuf(const AlignedBuf&) = delete;
  AlignedBuf& operator=(const AlignedBuf&) = delete;
  ~AlignedBuf() { std::free(p); }
  float* get(size_t n) {
    if (n > cap) {
      std::free(p);
      const size_t bytes = ((n * sizeof(float) + 63) / 64) * 64 + 64;
      p = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!p) throw std::bad_alloc();
      cap = n;
    }
    return p;
  }
};
thread_local AlignedBuf tlsPackA, tlsPackB, tlsAcc;

inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t roundUp(int64_t a, int64_t b) { return ceilDiv(a, b) * b; }

// ------------------------------------------------------------------------------------------
// Tile store description handed to the micro-kernels.
struct TileEpi {
  float alpha, beta;
  int mode;   // 0: C = alpha*acc   1: C = alpha*acc + beta*C   2: C += alpha*acc
  bool last;  // last K block: apply bias / residual / activation
  const float* biasRow;  // offset to the tile's first row (nullable)
  const float* biasCol;  // offset to the tile's first column (nullable)
  const float* res;      // offset to the tile's (0,0) (nullable)
  int64_t ldr;
  int simple;  // register-fused activation: 0 none, 1 relu, 2 leaky, 3 clip (the formulas of activation_math.h)
  float a, b;  // leaky slope / clip bounds (the other activations run in gemmRegion, per row panel)
  int64_t ldb;  // B's row stride for the kernels that read B unpacked (ukrStrided), unused by the others
};
// A: micro-panel, element (row i, k) at A[k*mr + i]; B: panel, element (k, j) at B[k*W + j].
using UkrFn = void (*)(int64_t kc, const float* A, const float* B, float* C, int64_t ldc, int mrows,
                       int ncols, const TileEpi& te);

// Scalar fallback: 4 x 8 tile, panels padded to 8 columns.
void ukrScalar(int64_t kc, const float* A, const float* B, float* C, int64_t ldc, int mrows,
               int ncols, const TileEpi& te) {
  constexpr int MR = 4, NR = 8;
  float acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k, A += MR, B += NR)
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) acc[i][j] += A[i] * B[j];
  for (int i = 0; i < mrows; ++i) {
    float* c = C + i * ldc;
    for (int j = 0; j < ncols; ++j) {
      float x = te.alpha * acc[i][j];
      if (te.mode == 1) x += te.beta * c[j];
      else if (te.mode == 2) x += c[j];
      if (te.last) {
        if (te.biasRow) x += te.biasRow[i];
        if (te.biasCol) x += te.biasCol[j];
        if (te.res) x += te.res[i * te.ldr + j];
        if (te.simple == 1) x = activation<ActivationType::kRELU>(x, te.a, te.b);
        else if (te.simple == 2) x = activation<ActivationType::kLEAKY_RELU>(x, te.a, te.b);
        else if (te.simple == 3) x = activation<ActivationType::kCLIP>(x, te.a, te.b);
      }
      c[j] = x;
    }
  }
}

// Prefetches the tile's C rows (for writing) and, on the last K block, its residual rows, before the K loop:
// inside a network they are usually cold (the output buffer was last used layers ago), and the K loop
// (>= kc * MR * NV FMAs) hides the misses that the stores and residual loads after it would otherwise wait
// for (1x1 convolutions measured 15-25% slower with cold caches than hot). The AVX-512 tile skips it for K blocks
// of 32 or less (1x1 convolutions of 16-32 input channels): a loop that short hides no miss, and its 24
// prefetches per tile were ~6% of the work (16->96 @112: 0.50 -> 0.47 ms hot, 0.55 -> 0.51 ms with the caches
// flushed between runs). The AVX2 tile too (Zen 3, 1 thread, hot: 16->96 @112 0.92 -> 0.84 ms, 24->144 @56 0.417 ->
// 0.386; prefetching the C rows two tiles ahead instead was slower, 0.90 ms).
template <int MR, int WC>
GIE_AI void prefetchTile(const float* C, int64_t ldc, int mrows, const TileEpi& te) {
  for (int i = 0; i < MR; ++i) {
    if (i >= mrows) break;
    for (int j = 0; j < WC; j += 16) {
      __builtin_prefetch(C + i * ldc + j, 1, 3);
      if (te.last && te.res) __builtin_prefetch(te.res + i * te.ldr + j, 0, 3);
    }
  }
}

#if GIE_X86
// ---------------------------------- AVX2 + FMA: 6 x 16 ----------------------------------
GIE_AVX2 GIE_AI __m256 ld8(const float* p, bool full, __m256i m) {
  return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m);
}
GIE_AVX2 GIE_AI void epiStore8(float* c, __m256 x, bool full, __m256i m, const TileEpi& te,
                               float brow, const float* bcol, const float* res) {
  x = _mm256_mul_ps(x, _mm256_set1_ps(te.alpha));
  if (te.mode == 1) x = _mm256_fmadd_ps(_mm256_set1_ps(te.beta), ld8(c, full, m), x);
  else if (te.mode == 2) x = _mm256_add_ps(x, ld8(c, full, m));
  if (te.last) {
    x = _mm256_add_ps(x, _mm256_set1_ps(brow));
    if (bcol) x = _mm256_add_ps(x, ld8(bcol, full, m));
    if (res) x = _mm256_add_ps(x, ld8(res, full, m));
    if (te.simple == 1) {
      x = _mm256_max_ps(x, _mm256_setzero_ps());
    } else if (te.simple == 2) {
      const __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
      x = _mm256_blendv_ps(x, _mm256_mul_ps(x, _mm256_set1_ps(te.a)), neg);
    } else if (te.simple == 3) {
      x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(te.a)), _mm256_set1_ps(te.b));
    }
  }
  if (full) _mm256_storeu_ps(c, x);
  else _mm256_maskstore_ps(c, m, x);
}

// The common stores of a convolution tile, full 6 x W, alpha 1, no column bias, beta 0 (MODE 0: C = acc) or a later K
// block (MODE 2: C += acc); on the last K block (LAST) then + bias row [+ residual] and the register activation.
// Straight-line code with all of these fixed at compile time: the general epiStore8 tests mode / last / bias /
// residual / activation per vector, and for K blocks of 16-32 (1x1 convolutions of 16-32 input channels) those
// branches were about a third of the tile's time. Same operations in the same order as epiStore8 (x * 1.0f is
// exact), so the same bits.
template <int NV, int MODE, bool LAST, int ACT, bool RES, int ROWS>
GIE_AVX2 GIE_AI void storeTileConvAvx2(const __m256 (&acc)[ROWS][NV], float* __restrict C, int64_t ldc,
                                       const TileEpi& te) {
  const __m256 lo = _mm256_set1_ps(ACT == 1 ? 0.f : te.a), hi = _mm256_set1_ps(te.b);
#pragma GCC unroll 8
  for (int i = 0; i < ROWS; ++i) {
    const __m256 brow = _mm256_set1_ps(LAST && te.biasRow ? te.biasRow[i] : 0.f);
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      float* c = C + i * ldc + v * 8;
      __m256 x = acc[i][v];
      if (MODE == 2) x = _mm256_add_ps(x, _mm256_loadu_ps(c));
      if (LAST) {
        x = _mm256_add_ps(x, brow);
        if (RES) x = _mm256_add_ps(x, _mm256_loadu_ps(te.res + i * te.ldr + v * 8));
        if (ACT == 1) x = _mm256_max_ps(x, lo);
        if (ACT == 3) x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
      }
      _mm256_storeu_ps(c, x);
    }
  }
}
template <int NV, int MODE, int ROWS>
GIE_AVX2 GIE_AI void storeTileConvLastAvx2(const __m256 (&acc)[ROWS][NV], float* __restrict C, int64_t ldc,
                                           const TileEpi& te) {
  if (te.res) {
    if (te.simple == 0) storeTileConvAvx2<NV, MODE, true, 0, true, ROWS>(acc, C, ldc, te);
    else if (te.simple == 1) storeTileConvAvx2<NV, MODE, true, 1, true, ROWS>(acc, C, ldc, te);
    else storeTileConvAvx2<NV, MODE, true, 3, true, ROWS>(acc, C, ldc, te);
  } else {
    if (te.simple == 0) storeTileConvAvx2<NV, MODE, true, 0, false, ROWS>(acc, C, ldc, te);
    else if (te.simple == 1) storeTileConvAvx2<NV, MODE, true, 1, false, ROWS>(acc, C, ldc, te);
    else storeTileConvAvx2<NV, MODE, true, 3, false, ROWS>(acc, C, ldc, te);
  }
}

// A panel's single last column (N = 8q + 1, e.g. the 49 pixels of a 7x7 plane: three 16-wide panels and this one):
// the 6 x 8 tile spent 6 broadcasts and 6 FMAs per k on one useful lane, about half a full tile's time for 1/16 of its
// work. Here the 6 rows are the vector instead: per k one load of the A micro-panel's k-th row and one FMA with the
// broadcast B value, in four interleaved partial sums (one dependent FMA chain per k would be latency-bound), then
// the general epilogue per row. The four partial sums change the order of the K sum against the other columns
// (rounding, not the reference tolerance; the activations are the same formulas as epiStore8's).
GIE_AVX2 void ukrAvx2Col1(int64_t kc, const float* __restrict A, const float* __restrict B, float* __restrict C,
                          int64_t ldc, int mrows, const TileEpi& te) {
  constexpr int MR = 6, W = 8;
  const __m256i m6 = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  // A rows k < kc - 1 are read as 8 floats (the 2 past the row belong to row k + 1, lanes 6-7 are dropped); the last
  // row with a masked load, so nothing past the micro-panel is read.
  int64_t k = 0;
  for (; k + 4 < kc; k += 4) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(A + k * MR), _mm256_broadcast_ss(B + k * W), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(A + (k + 1) * MR), _mm256_broadcast_ss(B + (k + 1) * W), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(A + (k + 2) * MR), _mm256_broadcast_ss(B + (k + 2) * W), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(A + (k + 3) * MR), _mm256_broadcast_ss(B + (k + 3) * W), s3);
  }
  for (; k + 1 < kc; ++k) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(A + k * MR), _mm256_broadcast_ss(B + k * W), s0);
  if (k < kc) s1 = _mm256_fmadd_ps(_mm256_maskload_ps(A + k * MR, m6), _mm256_broadcast_ss(B + k * W), s1);
  alignas(32) float acc[8];
  _mm256_store_ps(acc, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (int i = 0; i < mrows; ++i) {
    float* c = C + i * ldc;
    float x = te.alpha * acc[i];
    if (te.mode == 1) x = std::fma(te.beta, *c, x);
    else if (te.mode == 2) x += *c;
    if (te.last) {
      if (te.biasRow) x += te.biasRow[i];
      if (te.biasCol) x += te.biasCol[0];
      if (te.res) x += te.res[i * te.ldr];
      if (te.simple == 1) x = activation<ActivationType::kRELU>(x, te.a, te.b);
      else if (te.simple == 2) x = activation<ActivationType::kLEAKY_RELU>(x, te.a, te.b);
      else if (te.simple == 3) x = activation<ActivationType::kCLIP>(x, te.a, te.b);
    }
    *c = x;
  }
}

// STRIDED: B is read in place, row k at B + k * te.ldb (full 16-column panels of a row-major B, see gemmRegion);
// else a packed panel, row k at B + k * W. ROWS < 6: only the micro-panel's first ROWS rows are computed (a tile
// of M's last rows when M % 6 != 0: 4 of 6 rows for M = 16, whose 6-row tile spent a third of its FMAs on the
// zero padding rows).
template <int NV, bool STRIDED = false, int ROWS = 6>
GIE_AVX2 void ukrAvx2(int64_t kc, const float* __restrict A, const float* __restrict B,
                      float* __restrict C, int64_t ldc, int mrows, int ncols, const TileEpi& te) {
  constexpr int MR = 6, W = NV * 8;
  if (!STRIDED && NV == 1 && ncols == 1) return ukrAvx2Col1(kc, A, B, C, ldc, mrows, te);
  const int64_t ldb = STRIDED ? te.ldb : W;
  if (kc > 32) prefetchTile<MR, NV * 8>(C, ldc, mrows, te);
  __m256 acc[ROWS][NV];
#pragma GCC unroll 8
  for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m256 b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) b[v] = _mm256_loadu_ps(B + v * 8);
#pragma GCC unroll 8
    for (int i = 0; i < ROWS; ++i) {
      const __m256 a = _mm256_broadcast_ss(A + i);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(a, b[v], acc[i][v]);
    }
    A += MR;
    B += ldb;
  }
  if (mrows == ROWS && ncols == W && te.mode != 1 && te.alpha == 1.f && !te.biasCol && te.simple != 2) {
    if (!te.last) {
      if (te.mode == 0) storeTileConvAvx2<NV, 0, false, 0, false, ROWS>(acc, C, ldc, te);
      else storeTileConvAvx2<NV, 2, false, 0, false, ROWS>(acc, C, ldc, te);
    } else if (te.mode == 0) {
      storeTileConvLastAvx2<NV, 0, ROWS>(acc, C, ldc, te);
    } else {
      storeTileConvLastAvx2<NV, 2, ROWS>(acc, C, ldc, te);
    }
    return;
  }
  const int lastCols = ncols - (NV - 1) * 8;
  const __m256i lastMask =
      _mm256_cmpgt_epi32(_mm256_set1_epi32(lastCols), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
#pragma GCC unroll 8
  for (int i = 0; i < ROWS; ++i) {
    if (i >= mrows) break;
    const float brow = te.biasRow ? te.biasRow[i] : 0.f;
    const float* res = te.res ? te.res + i * te.ldr : nullptr;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const bool full = v < NV - 1 || lastCols == 8;
      epiStore8(C + i * ldc + v * 8, acc[i][v], full, lastMask, te, brow,
                te.biasCol ? te.biasCol + v * 8 : nullptr, res ? res + v * 8 : nullptr);
    }
  }
}

// ---------------------------------- AVX-512: 8 x 48 ----------------------------------
GIE_AVX512 GIE_AI void epiStore16(float* c, __m512 x, __mmask16 m, const TileEpi& te, float brow,
                                  const float* bcol, const float* res) {
  x = _mm512_mul_ps(x, _mm512_set1_ps(te.alpha));
  if (te.mode == 1) x = _mm512_fmadd_ps(_mm512_set1_ps(te.beta), _mm512_maskz_loadu_ps(m, c), x);
  else if (te.mode == 2) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, c));
  if (te.last) {
    x = _mm512_add_ps(x, _mm512_set1_ps(brow));
    if (bcol) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, bcol));
    if (res) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, res));
    if (te.simple == 1) {
      x = _mm512_max_ps(x, _mm512_setzero_ps());
    } else if (te.simple == 2) {
      const __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
      x = _mm512_mask_mul_ps(x, neg, x, _mm512_set1_ps(te.a));
    } else if (te.simple == 3) {
      x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(te.a)), _mm512_set1_ps(te.b));
    }
  }
  _mm512_mask_storeu_ps(c, m, x);
}

template <int NV, int MR = 8>
GIE_AVX512 void ukrAvx512(int64_t kc, const float* __restrict A, const float* __restrict B,
                          float* __restrict C, int64_t ldc, int mrows, int ncols,
                          const TileEpi& te) {
  constexpr int W = NV * 16;
  if (kc > 32) prefetchTile<MR, NV * 16>(C, ldc, mrows, te);
  __m512 acc[MR][NV];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m512 b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_ps(B + v * 16);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512 a = _mm512_set1_ps(A[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(a, b[v], acc[i][v]);
    }
    A += MR;
    B += W;
  }
  const int lastCols = ncols - (NV - 1) * 16;
  const __mmask16 lastMask = static_cast<__mmask16>((1u << lastCols) - 1u);
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    if (i >= mrows) break;
    const float brow = te.biasRow ? te.biasRow[i] : 0.f;
    const float* res = te.res ? te.res + i * te.ldr : nullptr;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const __mmask16 m = v == NV - 1 ? lastMask : static_cast<__mmask16>(0xFFFF);
      epiStore16(C + i * ldc + v * 16, acc[i][v], m, te, brow,
                 te.biasCol ? te.biasCol + v * 16 : nullptr, res ? res + v * 16 : nullptr);
    }
  }
}
#endif  // GIE_X86

// ------------------------------------------------------------------------------------------
struct Kern {
  Isa isa;
  int mr, nr, vw;
  int64_t kcMax, nc, mc;  // K block, N block (multiple of nr), M block for packing raw A
  UkrFn ukr[3];           // indexed by (number of vw-vectors in the panel) - 1
  UkrFn ukrStrided[6];    // full nr-column panels read in place from a row-major B (te.ldb), indexed by the tile's
                          // rows - 1 (only those rows computed); nullptr: none
  UkrFn ukrRows[6];       // packed 2-vector panels, only the tile's rows computed (a last row tile of M % mr rows;
                          // M = 32, the MobileNetV2 / EfficientNet-B0 stem: 2 of 6); nullptr: none
};

const Kern kScalarKern = {Isa::kScalar, 4, 8, 8, 256, 512, 256,
                          {ukrScalar, ukrScalar, ukrScalar}, {}, {}};
#if GIE_X86
const Kern kAvx2Kern = {Isa::kAvx2, 6, 16, 8, 256, 384, 240,
                        {ukrAvx2<1>, ukrAvx2<2>, ukrAvx2<2>},
                        {ukrAvx2<2, true, 1>, ukrAvx2<2, true, 2>, ukrAvx2<2, true, 3>, ukrAvx2<2, true, 4>,
                         ukrAvx2<2, true, 5>, ukrAvx2<2, true, 6>},
                        {ukrAvx2<2, false, 1>, ukrAvx2<2, false, 2>, ukrAvx2<2, false, 3>, ukrAvx2<2, false, 4>,
                         ukrAvx2<2, false, 5>, ukrAvx2<2, false, 6>}};
const Kern kAvx512Kern = {Isa::kAvx512, 8, 48, 16, 256, 480, 240,
                          {ukrAvx512<1>, ukrAvx512<2>, ukrAvx512<3>}, {}, {}};
// 7 x 48 tile for gemmPackedB with a row count that is a multiple of 7 but not of 8: the transposed
// convolution GEMM of 7x7 / 14x14 / 28x28 output planes (49 / 196 / 784 pixel rows), which the 8-row tile
// pads to 56 / 200 / 784 rows (12.5% wasted FMAs at 7x7). Same B panels (nr = 48, vw = 16) as the 8-row tile.
const Kern kAvx512Kern7 = {Isa::kAvx512, 7, 48, 16, 256, 480, 238,
                           {ukrAvx512<1, 7>, ukrAvx512<2, 7>, ukrAvx512<3, 7>}, {}, {}};
#endif


const Kern& kernFor(Isa isa) {
#if GIE_X86
  if (isa == Isa::kAvx512) return kAvx512Kern;
  if (isa == Isa::kAvx2) return kAvx2Kern;
#endif
  (void)isa;
  return kScalarKern;
}

// The kernel gemmPackedB uses for M rows of A with B packed for `isa`.
const Kern& kernForPackedB(Isa isa, int64_t M) {
#if GIE_X86
  if (isa == Isa::kAvx512 && M % 8 != 0 && M % 7 == 0) return kAvx512Kern7;
#endif
  (void)M;
  return kernFor(isa);
}

Isa detectIsa() {
#if GIE_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("fma"))
    return Isa::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kAvx2;
#endif
  return Isa::kScalar;
}
Isa cpuIsa() {
  static const Isa isa = detectIsa();
  return isa;
}
Isa envIsa() {
  static const Isa isa = [] {
    Isa best = cpuIsa();
    if (const char* e = std::getenv("GIE_CPU_ISA")) {
      Isa want = best;
      if (!std::strcmp(e, "scalar")) want = Isa::kScalar;
      else if (!std::strcmp(e, "avx2")) want = Isa::kAvx2;
      else if (!std::strcmp(e, "avx512")) want = Isa::kAvx512;
      best = static_cast<Isa>(std::min(static_cast<int>(want), static_cast<int>(best)));
    }
    return best;
  }();
  return isa;
}
std::atomic<int> gIsaOverride{-1};

// kc used for a given K: even split into blocks of at most kcMax.
int64_t chooseKc(int64_t K, int64_t kcMax) {
  const int64_t nb = std::max<int64_t>(1, ceilDiv(K, kcMax));
  return std::max<int64_t>(1, ceilDiv(K, nb));
}

// Packs rows [m0, m0+mc) x cols [k0, k0+kc) of op(A) as micro-panels of mr rows (zero padded):
// element (row r of panel ip, k) at dst[(ip*kc + k)*mr + r].
void packABlock(const float* A, int64_t lda, bool transA, int64_t m0, int64_t mc, int64_t k0,
                int64_t kc, int mr, float* __restrict dst) {
  for (int64_t ip = 0; ip * mr < mc; ++ip) {
    float* d = dst + ip * kc * mr;
    const int rows = static_cast<int>(std::min<int64_t>(mr, mc - ip * mr));
    const int64_t mb = m0 + ip * mr;
    if (!transA) {
      for (int r = 0; r < rows; ++r) {
        const float* s = A + (mb + r) * lda + k0;
        for (int64_t k = 0; k < kc; ++k) d[k * mr + r] = s[k];
      }
      for (int r = rows; r < mr; ++r)
        for (int64_t k = 0; k < kc; ++k) d[k * mr + r] = 0.f;
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        const float* s = A + (k0 + k) * lda + mb;
        float* dk = d + k * mr;
        for (int r = 0; r < rows; ++r) dk[r] = s[r];
        for (int r = rows; r < mr; ++r) dk[r] = 0.f;
      }
    }
  }
}

// Plain-matrix B packing; NRC > 0 gives a fixed-width (vectorised) copy for full panels.
// Not transposed: row k of B outer, panels inner, so that each row of B is read as one sequential stream
// (nc floats) rather than kc streams of nr floats per panel: with B cold in cache (a convolution's input
// written by the previous layer) the panel-major order made the hardware prefetcher track kc strided streams,
// and 1x1 convolutions ran ~20% slower inside a network than in a hot-cache benchmark.
template <int NRC>
GIE_AI void packPlainBody(const PlainB& pb, int64_t k0, int64_t kc, int64_t n0, int64_t nc, int nr,
                          int vw, float* dst) {
  if (!pb.trans) {
    const int64_t full = NRC > 0 && nr == NRC ? nc / NRC * NRC : 0;  // columns in full fixed-width panels
    for (int64_t k = 0; k < kc; ++k) {
      const float* s = pb.B + (k0 + k) * pb.ldb + n0;
      // A fixed-size memcpy: GCC unrolled the element loop of the AVX2 build into 16 scalar moves (vmovss), which made
      // packing ~35% of a 1x1 144->24 convolution's time even with B in L1 (Zen 3).
      for (int64_t col = 0; col < full; col += NRC) std::memcpy(dst + col * kc + k * NRC, s + col, NRC * sizeof(float));
      // The rest: the last partial panel after the fixed-width ones, or every panel when nr is not NRC.
      for (int64_t col = full; col < nc; col += nr) {
        const int64_t pw = std::min<int64_t>(nr, nc - col), pwp = roundUp(pw, vw);
        float* __restrict d = dst + col * kc + k * pwp;
        std::memcpy(d, s + col, static_cast<size_t>(pw) * sizeof(float));
        for (int64_t j = pw; j < pwp; ++j) d[j] = 0.f;
      }
    }
    return;
  }
  // Transposed: column n of op(B) is row n of B, read along k.
  for (int64_t col = 0; col < nc; col += nr) {
    const int64_t w = std::min<int64_t>(nr, nc - col), wp = roundUp(w, vw);
    float* __restrict d = dst + col * kc;
    for (int64_t j = 0; j < w; ++j) {
      const float* s = pb.B + (n0 + col + j) * pb.ldb + k0;
      for (int64_t k = 0; k < kc; ++k) d[k * wp + j] = s[k];
    }
    if (wp > w)
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t j = w; j < wp; ++j) d[k * wp + j] = 0.f;
  }
}
void packPlainScalar(const PlainB& pb, int64_t k0, int64_t kc, int64_t n0, int64_t nc, int nr,
                     int vw, float* dst) {
  packPlainBody<0>(pb, k0, kc, n0, nc, nr, vw, dst);
}
#if GIE_X86
GIE_AVX2 void packPlainAvx2(const PlainB& pb, int64_t k0, int64_t kc, int64_t n0, int64_t nc,
                            int nr, int vw, float* dst) {
  packPlainBody<16>(pb, k0, kc, n0, nc, nr, vw, dst);
}
GIE_AVX512 void packPlainAvx512(const PlainB& pb, int64_t k0, int64_t kc, int64_t n0, int64_t nc,
                                int nr, int vw, float* dst) {
  packPlainBody<48>(pb, k0, kc, n0, nc, nr, vw, dst);
}
#endif

struct ASrc {
  const PackedA* packed;  // non-null: pre-packed
  const float* A;         // else raw op(A) (A, lda, trans) ...
  int64_t lda;
  bool trans;
  const BSource* rows;  // ... or rows produced by a B-style packer (nr = vw = mr)
};
struct BIn {
  const BSource* src;     // packed per block, or
  const PackedB* packed;  // pre-packed for the whole matrix
};

// When gemmRegion reads a PlainB with inPlace set where it lies (gemmRegionInPlaceB): up to 48 rows of A, or 96 with
// K >= 192 (AVX2, Zen 3, 1 thread, hot, bench_pointwise: 144->24 @56 0.30 -> 0.24 ms, 192->32 @28 0.14 -> 0.11,
// 384->96 @14 0.168 -> 0.163; but 16->96 @112 0.51 -> 0.58, hence no short K with more than 48 rows).
bool inPlaceB(const Kern& kr, const ASrc& a, const BIn& b, int64_t rows) {
  if (!kr.ukrStrided[0] || !a.packed || !b.src || b.src->pack != packPlainB) return false;
  const PlainB& pb = *static_cast<const PlainB*>(b.src->ctx);
  return pb.inPlace && !pb.trans && (rows <= 48 || (rows <= 96 && a.packed->K >= 192));
}
// The kernel for an mrows x ncols tile of a packed B panel: the ROWS variant for a last row tile of 2-vector panels.
UkrFn packedTileKernel(const Kern& kr, int mrows, int ncols) {
  const int nv = (ncols + kr.vw - 1) / kr.vw;
  return mrows < kr.mr && nv == 2 && kr.ukrRows[0] ? kr.ukrRows[mrows - 1] : kr.ukr[nv - 1];
}
// gemmRegion for few rows of pre-packed A (1x1 convolutions to 16-96 output channels) and a row-major B: the full
// nr-column panels of B are read where they lie (kr.ukrStrided, row stride pb.ldb), each by every row tile in turn
// while it is in L1 (with A's block: 48 x kc floats at most 48 KB, 96 x kc rows with K >= 192 partly from L2);
// only a last partial panel is packed. Packing B was 20-27% of these convolutions' time (144->24 @56): each packed
// element served only 16-96 rows.
constexpr int64_t kInPlacePrefetch = 4;  // panels (of nr columns) ahead
void gemmRegionInPlaceB(const Kern& kr, const PackedA& A, const PlainB& pb, const BSource& src, int64_t K,
                        int64_t kc, int64_t m0, int64_t m1, int64_t n0, int64_t n1, float* C, int64_t ldc,
                        const OutputEpi& ep, TileEpi te, ActivationRowFn panelAct, float* bufB) {
  const int mr = kr.mr, nr = kr.nr, vw = kr.vw;
  const int64_t Mp = roundUp(A.M, mr);
  te.ldb = pb.ldb;
  for (int64_t pc = 0; pc < K; pc += kc) {
    const int64_t kcb = std::min(kc, K - pc);
    te.mode = pc > 0 ? 2 : (te.beta == 0.f ? 0 : 1);
    te.last = pc + kcb >= K;
    const float* Ap = A.data.data() + pc * Mp + m0 * kcb;
    for (int64_t col = n0; col < n1; col += nr) {
      const int ncols = static_cast<int>(std::min<int64_t>(nr, n1 - col));
      const float* Bp = pb.B + pc * pb.ldb + col;
      const bool packed = ncols < nr;
      // The panel kInPlacePrefetch panels ahead, one line per row of B: its kcb rows are as many streams 12-50 KB
      // apart (a 112x112 or 56x56 plane per row), more than the hardware prefetchers follow, and with the input and
      // output out of cache (inside a network) every panel waited for its kcb lines from memory (Zen 3, 1 thread,
      // a 32 MB sweep between runs: 32->16 @112 0.47-0.57 ms, 0.20-0.27 with the input in cache).
      if (col + (kInPlacePrefetch + 1) * nr <= n1)
        for (int64_t k = 0; k < kcb; ++k)
          __builtin_prefetch(Bp + k * pb.ldb + kInPlacePrefetch * nr, 0, 3);
      if (packed) {
        src.pack(src.ctx, pc, kcb, col, ncols, nr, vw, bufB);
        Bp = bufB;
      }
      for (int64_t row = m0; row < m1; row += mr) {
        const int mrows = static_cast<int>(std::min<int64_t>(mr, m1 - row));
        te.biasRow = ep.biasRow ? ep.biasRow + row : nullptr;
        te.biasCol = ep.biasCol ? ep.biasCol + col : nullptr;
        te.res = ep.residual ? ep.residual + row * ep.ldr + col : nullptr;
        const UkrFn ukr = packed ? packedTileKernel(kr, mrows, ncols) : kr.ukrStrided[mrows - 1];
        ukr(kcb, Ap + (row - m0) * kcb, Bp, C + row * ldc + col, ldc, mrows, ncols, te);
      }
      if (te.last && panelAct)
        for (int64_t row = m0; row < m1; ++row) {
          float* c = C + row * ldc + col;
          panelAct(c, c, ncols, ep.act, ep.actAlpha, ep.actBeta);
        }
    }
  }
}

// Single-threaded GEMM on the C region [m0,m1) x [n0,n1). m0 must be a multiple of mr.
// With pre-packed B, n0 must be a multiple of nr.
void gemmRegion(const Kern& kr, const ASrc& a, const BIn& b, int64_t K, int64_t m0, int64_t m1,
                int64_t n0, int64_t n1, float alpha, float beta, float* C, int64_t ldc,
                const OutputEpi& ep) {
  if (m0 >= m1 || n0 >= n1) return;
  const int mr = kr.mr, nr = kr.nr, vw = kr.vw;
  const int64_t kc = a.packed ? a.packed->kc : b.packed ? b.packed->kc : chooseKc(K, kr.kcMax);
  const int64_t Mp = a.packed ? roundUp(a.packed->M, mr) : 0;
  const int64_t Np = b.packed ? roundUp(b.packed->N, nr) : 0;
  // Rows from a packer are packed once per K block as one wide panel (k-stride = padded rows),
  // so that mode sweeps the whole N range per K block.
  const int64_t ncStep = a.rows ? n1 - n0 : kr.nc;
  const int64_t mcStep = a.packed || a.rows ? m1 - m0 : kr.mc;
  const int64_t ncMax = std::min<int64_t>(ncStep, roundUp(n1 - n0, vw));
  float* bufB = b.packed ? nullptr : tlsPackB.get(static_cast<size_t>(kc * roundUp(ncMax, nr)));
  float* bufA = a.packed ? nullptr : tlsPackA.get(static_cast<size_t>(kc * roundUp(mcStep, mr)));

  TileEpi te{};
  te.alpha = alpha;
  te.beta = beta;
  te.ldr = ep.ldr;
  te.a = ep.actAlpha;
  te.b = ep.actBeta;
  // ReLU, leaky ReLU and clip are applied in registers with the same operations as activation_math.h (MAXPS /
  // MINPS operand order included), the others by the shared row function over each row of a row panel once all
  // its tiles are stored (still in L1/L2; one call per panel row rather than per tile row amortises the call).
  ActivationRowFn panelAct = nullptr;
  switch (ep.act) {
    case ActivationType::kRELU: te.simple = 1; break;
    case ActivationType::kLEAKY_RELU: te.simple = 2; break;
    case ActivationType::kCLIP: te.simple = 3; break;
    case ActivationType::kRELU6: te.simple = 3; te.a = 0.f; te.b = 6.f; break;
    default: panelAct = ep.act == kNoActivation ? nullptr : activationRowFn(kr.isa); break;
  }

  if (inPlaceB(kr, a, b, m1 - m0)) {
    gemmRegionInPlaceB(kr, *a.packed, *static_cast<const PlainB*>(b.src->ctx), *b.src, K, kc, m0, m1, n0, n1, C,
                       ldc, ep, te, panelAct, bufB);
    return;
  }
  for (int64_t jc = n0; jc < n1; jc += ncStep) {
    const int64_t nc = std::min<int64_t>(ncStep, n1 - jc);
    for (int64_t pc = 0; pc < K; pc += kc) {
      const int64_t kcb = std::min(kc, K - pc);
      te.mode = pc > 0 ? 2 : (beta == 0.f ? 0 : 1);
      te.last = pc + kcb >= K;
      const float* Bp = bufB;
      if (b.packed) Bp = b.packed->data.data() + pc * Np + jc * kcb;
      else b.src->pack(b.src->ctx, pc, kcb, jc, nc, nr, vw, bufB);
      for (int64_t ic = m0; ic < m1; ic += mcStep) {
        const int64_t mc = std::min(mcStep, m1 - ic);
        const float* Ap = bufA;
        if (a.packed) {
          Ap = a.packed->data.data() + pc * Mp + ic * kcb;
        } else if (a.rows) {  // one wide panel, then re-laid out as contiguous micro-panels
          const int64_t wp = roundUp(mc, mr);
          float* wide = tlsAcc.get(static_cast<size_t>(wp * kcb));
          a.rows->pack(a.rows->ctx, pc, kcb, ic, mc, static_cast<int>(wp), mr, wide);
          for (int64_t ip = 0; ip < wp; ip += mr)
            for (int64_t k = 0; k < kcb; ++k)
              std::memcpy(bufA + ip * kcb + k * mr, wide + k * wp + ip, mr * sizeof(float));
        } else {
          packABlock(a.A, a.lda, a.trans, ic, mc, pc, kcb, mr, bufA);
        }
        // N sub-blocks keep a kc x kr.nc slice of B hot in L2 when nc > kr.nc (a.rows mode)
        for (int64_t jb = 0; jb < nc; jb += kr.nc)
        for (int64_t ir = 0; ir < mc; ir += mr) {
          const int mrows = static_cast<int>(std::min<int64_t>(mr, mc - ir));
          const int64_t row = ic + ir;
          te.biasRow = ep.biasRow ? ep.biasRow + row : nullptr;
          const float* Apanel = Ap + ir * kcb;
          const int64_t jEnd = std::min(nc, jb + kr.nc);
          for (int64_t jr = jb; jr < jEnd; jr += nr) {
            const int ncols = static_cast<int>(std::min<int64_t>(nr, nc - jr));
            const int64_t col = jc + jr;
            te.biasCol = ep.biasCol ? ep.biasCol + col : nullptr;
            te.res = ep.residual ? ep.residual + row * ep.ldr + col : nullptr;
            packedTileKernel(kr, mrows, ncols)(kcb, Apanel, Bp + jr * kcb, C + row * ldc + col, ldc, mrows, ncols, te);
          }
          if (te.last && panelAct)
            for (int i = 0; i < mrows; ++i) {
              float* c = C + (row + i) * ldc + jc + jb;
              panelAct(c, c, jEnd - jb, ep.act, ep.actAlpha, ep.actBeta);
            }
        }
      }
    }
  }
}

// Splits the C matrix into a tm x tn grid of T tasks minimising the padded per-task work.
void chooseGrid(int T, int64_t M, int64_t N, int64_t K, const Kern& kr, int ng, bool aPacked,
                bool bPacked, int& tm, int& tn) {
  double best = std::numeric_limits<double>::max();
  tm = 1;
  tn = T;
  const int64_t mt = ceilDiv(M, kr.mr), nt = ceilDiv(N, ng);
  for (int cm = 1; cm <= T; ++cm) {
    if (T % cm) continue;
    const int cn = T / cm;
    const double rows = static_cast<double>(ceilDiv(mt, cm) * kr.mr);
    const double cols = static_cast<double>(ceilDiv(nt, cn) * ng);
    double cost = 2.0 * K * rows * cols + (bPacked ? 0.0 : 16.0 * K * cols);
    if (!aPacked) cost += 16.0 * K * rows * std::ceil(cols / kr.nc);
    if (cost < best * 0.999) {
      best = cost;
      tm = cm;
      tn = cn;
    }
  }
}

int resolveThreads(int nthreads) {
  if (nthreads == 1 || inParallelLoop()) return 1;
  return nthreads > 0 ? std::min(nthreads, cpuThreads()) : cpuThreads();
}

// Epilogue-only pass (K == 0 or alpha == 0) and the finishing pass of the direct path.
// acc (nullable) is (m1-m0) x (n1-n0) contiguous.
void finalizeBlock(const float* acc, int64_t m0, int64_t m1, int64_t n0, int64_t n1, float alpha,
                   float beta, float* C, int64_t ldc, const OutputEpi& ep, ActivationRowFn rowAct) {
  const int64_t w = n1 - n0;
  for (int64_t m = m0; m < m1; ++m) {
    float* c = C + m * ldc + n0;
    const float* ar = acc ? acc + (m - m0) * w : nullptr;
    const float br = ep.biasRow ? ep.biasRow[m] : 0.f;
    const float* bc = ep.biasCol ? ep.biasCol + n0 : nullptr;
    const float* rs = ep.residual ? ep.residual + m * ep.ldr + n0 : nullptr;
    for (int64_t j = 0; j < w; ++j) {
      float x = ar ? alpha * ar[j] : 0.f;
      if (beta != 0.f) x += beta * c[j];
      x += br;
      if (bc) x += bc[j];
      if (rs) x += rs[j];
      c[j] = x;
    }
    rowAct(c, c, w, ep.act, ep.actAlpha, ep.actBeta);
  }
}

void gemmDriver(const Kern& kr, const ASrc& a, const BIn& b, int64_t M, int64_t N, int64_t K,
                float alpha, float beta, float* C, int64_t ldc, const OutputEpi& ep, int nthreads) {
  int T = resolveThreads(nthreads);
  if (2.0 * M * N * K < 6e5) T = 1;
  if (T <= 1) {
    gemmRegion(kr, a, b, K, 0, M, 0, N, alpha, beta, C, ldc, ep);
    return;
  }
  // T tasks (or kColTasks * T, below) claimed dynamically (common/parallel.h): when a worker is not scheduled, the
  // caller runs its tasks too instead of waiting for it.
  int tm, tn;
  int ng = b.packed ? kr.nr : kr.vw;  // N split granularity
  chooseGrid(T, M, N, K, kr, ng, a.packed != nullptr, b.packed != nullptr, tm, tn);
  int64_t vt = ceilDiv(N, ng);
  const int64_t mt = ceilDiv(M, kr.mr);
  // A columns-only split of a wide C (>= 256 columns a task: output planes of 56x56 and more) runs as kColTasks
  // tasks per thread: a worker that starts late (woken from sleep: 20-30 us) or is preempted then leaves the caller
  // its last tasks instead of a whole half to wait for. Each task packs only its own columns of B, so the smaller
  // tasks cost little; the pool still gives each thread its own consecutive share first (parallel.h), the columns
  // it would have had. Their boundaries fall on whole nr-column panels (at vw = nr / 2 most tasks would end in a
  // packed half panel: 144->24 @56 0.127 -> 0.144 ms, min of 320 profiled runs).
  constexpr int kColTasks = 4;
  if (tm == 1 && N / (int64_t(tn) * kColTasks) >= 256) {
    tn *= kColTasks;
    ng = kr.nr;
    vt = ceilDiv(N, ng);
  }
  parallelForThreads(int64_t(tm) * tn, T, [&](int64_t t) {
    const int64_t im = t / tn, in = t % tn;
    const int64_t m0 = std::min(M, mt * im / tm * kr.mr), m1 = std::min(M, mt * (im + 1) / tm * kr.mr);
    const int64_t n0 = std::min(N, vt * in / tn * ng), n1 = std::min(N, vt * (in + 1) / tn * ng);
    gemmRegion(kr, a, b, K, m0, m1, n0, n1, alpha, beta, C, ldc, ep);
  });
}

// ------------------------------------------------------------------------------------------
// Direct (unpacked) path for skinny problems: M <= 4, or N <= 4 with op(A) = A.
struct Direct {
  bool transA, transB;
  int64_t M, N, K;
  const float* A;
  int64_t lda;
  const float* B;
  int64_t ldb;
  const float* at;  // contiguous rows of op(A) (M x K) when op(A) rows are not contiguous
  const float* bt;  // contiguous columns of op(B) (N x K) when needed
  bool dot;
};
GIE_AI float dotBody(const float* __restrict a, const float* __restrict b, int64_t K) {
  float s[16] = {};
  int64_t k = 0;
  for (; k + 16 <= K; k += 16)
    for (int l = 0; l < 16; ++l) s[l] += a[k + l] * b[k + l];
  float t = 0.f;
  for (; k < K; ++k) t += a[k] * b[k];
  for (int l = 0; l < 16; ++l) t += s[l];
  return t;
}
// Computes acc (m1-m0) x (n1-n0) for op(A) op(B) on the given block.
GIE_AI void directBody(const Direct& d, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                       float* __restrict acc) {
  const int64_t w = n1 - n0, K = d.K;
  if (d.dot) {
    for (int64_t m = m0; m < m1; ++m) {
      const float* ar = d.at ? d.at + m * K : d.A + m * d.lda;
      for (int64_t n = n0; n < n1; ++n)
        acc[(m - m0) * w + n - n0] = dotBody(ar, d.bt ? d.bt + n * K : d.B + n * d.ldb, K);
    }
  } else {  // M <= 4, !transB: stream rows of B
    std::fill(acc, acc + (m1 - m0) * w, 0.f);
    for (int64_t k = 0; k < K; ++k) {
      const float* br = d.B + k * d.ldb + n0;
      for (int64_t m = m0; m < m1; ++m) {
        const float av = d.transA ? d.A[k * d.lda + m] : d.A[m * d.lda + k];
        float* ac = acc + (m - m0) * w;
        for (int64_t j = 0; j < w; ++j) ac[j] += av * br[j];
      }
    }
  }
}
void directScalar(const Direct& d, int64_t m0, int64_t m1, int64_t n0, int64_t n1, float* acc) {
  directBody(d, m0, m1, n0, n1, acc);
}
#if GIE_X86
GIE_AVX2 void directAvx2(const Direct& d, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                         float* acc) {
  directBody(d, m0, m1, n0, n1, acc);
}
GIE_AVX512 void directAvx512(const Direct& d, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                             float* acc) {
  directBody(d, m0, m1, n0, n1, acc);
}
#endif

void gemmDirect(const Kern& kr, bool transA, bool transB, int64_t M, int64_t N, int64_t K,
                float alpha, const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                float* C, int64_t ldc, const OutputEpi& ep) {
  Direct d{transA, transB, M, N, K, A, lda, B, ldb, nullptr, nullptr, false};
  d.dot = (M <= 4 || !transA) && (N <= 4 || transB);
  std::vector<float> at, bt;
  if (d.dot && transA) {
    at.resize(static_cast<size_t>(M * K));
    for (int64_t k = 0; k < K; ++k)
      for (int64_t m = 0; m < M; ++m) at[m * K + k] = A[k * lda + m];
    d.at = at.data();
  }
  if (d.dot && !transB) {
    bt.resize(static_cast<size_t>(N * K));
    for (int64_t k = 0; k < K; ++k)
      for (int64_t n = 0; n < N; ++n) bt[n * K + k] = B[k * ldb + n];
    d.bt = bt.data();
  }
  auto fn = directScalar;
#if GIE_X86
  if (kr.isa == Isa::kAvx512) fn = directAvx512;
  else if (kr.isa == Isa::kAvx2) fn = directAvx2;
#endif
  int T = resolveThreads(0);
  if (2.0 * M * N * K < 2e6) T = 1;
  const bool splitN = N >= M;
  const int64_t L = splitN ? N : M;
  auto work = [&](int t, int nt) {
    const int64_t lo = L * t / nt, hi = L * (t + 1) / nt;
    if (lo >= hi) return;
    const int64_t m0 = splitN ? 0 : lo, m1 = splitN ? M : hi;
    const int64_t n0 = splitN ? lo : 0, n1 = splitN ? hi : N;
    float* acc = tlsAcc.get(static_cast<size_t>((m1 - m0) * (n1 - n0)));
    fn(d, m0, m1, n0, n1, acc);
    finalizeBlock(acc, m0, m1, n0, n1, alpha, beta, C, ldc, ep, activationRowFn(kr.isa));
  };
  if (T > 1) {
    // 4 tasks per thread when each keeps >= 64 rows or columns (a fully connected layer at batch 1: 1280 -> 1000),
    // so that a late or preempted worker leaves the caller tasks to take rather than a whole share to wait for;
    // the tasks are independent dot products, nothing is packed twice.
    const int tasks = L >= 4 * 64 * int64_t(T) ? 4 * T : T;
    parallelForThreads(tasks, T, [&](int64_t t) { work(static_cast<int>(t), tasks); });
    return;
  }
  work(0, 1);
}

void gemmGeneral(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                 const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                 int64_t ldc, const OutputEpi& ep) {
  if (M <= 0 || N <= 0) return;
  const Kern& kr = kernFor(activeIsa());
  if (K <= 0 || alpha == 0.f) {
    finalizeBlock(nullptr, 0, M, 0, N, alpha, beta, C, ldc, ep, activationRowFn(kr.isa));
    return;
  }
  if (M <= 4 || (N <= 4 && !transA)) {
    gemmDirect(kr, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep);
    return;
  }
  const PlainB pb{B, ldb, transB};
  const BSource bs{packPlainB, &pb};
  const ASrc as{nullptr, A, lda, transA, nullptr};
  gemmDriver(kr, as, BIn{&bs, nullptr}, M, N, K, alpha, beta, C, ldc, ep, 0);
}

}  // namespace

// ------------------------------------------------------------------------------------------
Isa activeIsa() {
  const int o = gIsaOverride.load(std::memory_order_relaxed);
  if (o >= 0) return static_cast<Isa>(std::min(o, static_cast<int>(cpuIsa())));
  return envIsa();
}
const char* isaName(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx2: return "avx2";
    default: return "scalar";
  }
}
void setIsaOverride(Isa isa) { gIsaOverride.store(static_cast<int>(isa)); }

Geometry geometry(Isa isa) {
  const Kern& k = kernFor(isa);
  return {k.mr, k.nr, k.vw};
}

void packA(PackedA& out, Isa isa, bool transA, int64_t M, int64_t K, const float* A, int64_t lda) {
  const Kern& kr = kernFor(isa);
  out.isa = kr.isa;
  out.M = M;
  out.K = K;
  out.kc = chooseKc(K, kr.kcMax);
  const int64_t Mp = roundUp(std::max<int64_t>(M, 1), kr.mr);
  out.data.assign(static_cast<size_t>(Mp * std::max<int64_t>(K, 1)), 0.f);
  for (int64_t pc = 0; pc < K; pc += out.kc) {
    const int64_t kcb = std::min(out.kc, K - pc);
    packABlock(A, lda, transA, 0, M, pc, kcb, kr.mr, out.data.data() + pc * Mp);
  }
}

void packPlainB(const void* ctx, int64_t k0, int64_t kc, int64_t n0, int64_t nc, int nr, int vw,
                float* dst) {
  const PlainB& pb = *static_cast<const PlainB*>(ctx);
#if GIE_X86
  const Isa cpu = cpuIsa();
  if (nr == 48 && cpu == Isa::kAvx512) return packPlainAvx512(pb, k0, kc, n0, nc, nr, vw, dst);
  if (nr == 16 && cpu >= Isa::kAvx2) return packPlainAvx2(pb, k0, kc, n0, nc, nr, vw, dst);
#endif
  packPlainScalar(pb, k0, kc, n0, nc, nr, vw, dst);
}

void gemmPacked(const PackedA& A, const BSource& B, int64_t N, float alpha, float beta, float* C,
                int64_t ldc, const OutputEpi& ep, int nthreads) {
  const Kern& kr = kernFor(A.isa);
  if (A.M <= 0 || N <= 0) return;
  if (A.K <= 0 || alpha == 0.f) {
    finalizeBlock(nullptr, 0, A.M, 0, N, alpha, beta, C, ldc, ep, activationRowFn(kr.isa));
    return;
  }
  const ASrc as{&A, nullptr, 0, false, nullptr};
  gemmDriver(kr, as, BIn{&B, nullptr}, A.M, N, A.K, alpha, beta, C, ldc, ep, nthreads);
}

void packB(PackedB& out, Isa isa, bool transB, int64_t K, int64_t N, const float* B, int64_t ldb) {
  const Kern& kr = kernFor(isa);
  out.isa = kr.isa;
  out.K = K;
  out.N = N;
  out.kc = chooseKc(K, kr.kcMax);
  const int64_t Np = roundUp(std::max<int64_t>(N, 1), kr.nr);
  out.data.assign(static_cast<size_t>(Np * std::max<int64_t>(K, 1)), 0.f);
  const PlainB pb{B, ldb, transB};
  for (int64_t pc = 0; pc < K; pc += out.kc)
    packPlainB(&pb, pc, std::min(out.kc, K - pc), 0, N, kr.nr, kr.vw, out.data.data() + pc * Np);
}

int packedBRowUnit(Isa isa, int64_t M) { return kernForPackedB(isa, M).mr; }

void gemmPackedB(const BSource& Arows, int64_t M, const PackedB& B, float alpha, float beta,
                 float* C, int64_t ldc, const OutputEpi& ep, int nthreads) {
  const Kern& kr = kernForPackedB(B.isa, M);
  if (M <= 0 || B.N <= 0) return;
  if (B.K <= 0 || alpha == 0.f) {
    finalizeBlock(nullptr, 0, M, 0, B.N, alpha, beta, C, ldc, ep, activationRowFn(kr.isa));
    return;
  }
  const ASrc as{nullptr, nullptr, 0, false, &Arows};
  gemmDriver(kr, as, BIn{nullptr, &B}, M, B.N, B.K, alpha, beta, C, ldc, ep, nthreads);
}

}  // namespace gemm

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm::OutputEpi ep;
  gemm::gemmGeneral(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep);
}

void sgemmEpilogue(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                   int64_t ldc, const Epilogue& e) {
  gemm::OutputEpi ep;
  ep.biasCol = e.bias;
  ep.residual = e.residual;
  ep.ldr = ldc;
  ep.act = e.act;
  ep.actAlpha = e.alpha;
  ep.actBeta = e.beta;
  gemm::gemmGeneral(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep);
}

}  // namespace gie::cpu
