// Winograd F(2x2, 3x3) convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks").
//
// Each 2x2 block of outputs ("tile") of channel k is A^T [ sum_c (G g_kc G^T) .* (B^T d_c B) ] A, where d_c is
// the 4x4 input patch of the tile (stride 2 between tiles) and g_kc the 3x3 filter. With the 16 positions xi of
// the 4x4 transformed domain separated, the sum over c is 16 independent GEMMs
//   M[xi] (K x tiles) = U[xi] (K x C) * V[xi] (C x tiles),
// 16 multiply-adds per tile and channel pair instead of the direct convolution's 36 (2.25x fewer). U is
// transformed and pre-packed at construction. The tiles are processed in blocks of whole tile rows so that a
// block's V and M (16 x (C + K) x tiles floats) stay in L2: transform the block's input, run the 16 GEMMs,
// transform the outputs (bias, residual and activation applied there, the activation through the same row
// function as every other CPU epilogue). Blocks are independent: with enough of them each thread takes whole
// blocks (serial GEMMs, no synchronisation); otherwise the blocks run one after another with parallel GEMMs.
//
// Accuracy: the transforms only add, subtract and halve (exact up to one rounding per step); the error is of
// the order of the direct convolution's (tests/cpp/test_gemm_conv.cpp checks it against a double reference).
#include "winograd_cpu.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <type_traits>

#include "common/parallel.h"

#if defined(__x86_64__) || defined(__i386__)
#define GIE_WG_X86 1
#define GIE_WG_AVX2 __attribute__((target("avx2,fma")))
#define GIE_WG_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma,prefer-vector-width=512")))
#else
#define GIE_WG_X86 0
#endif
#define GIE_WG_AI __attribute__((always_inline)) inline

namespace gie::cpu {
namespace {

struct InArgs {
  const float* x;  // image n, first channel of the range
  int64_t C, H, W, pt, pl, TX, ty0, ty1;  // C: channels in the range
  float* V;      // [16][all channels][nb], at the range's first channel
  int64_t nb;    // tiles in the block
  int64_t CN;    // all channels * nb: the distance between V[xi] and V[xi + 1]
  float* tmp;    // scratch: 10 * (TX + 1) floats
};

// VL floats: one register of the ISA (AVX-512 16, AVX2 8, SSE 4), so that the 24 live values of a transform fit
// in registers.
template <int VL>
struct Vec {
  typedef float T __attribute__((vector_size(VL * 4)));
  typedef int32_t I __attribute__((vector_size(VL * 4)));
};
template <int VL>  // (by reference: a vector return value would change the ABI of a default-target instance)
GIE_WG_AI void ld(typename Vec<VL>::T& v, const float* p) {
  std::memcpy(&v, p, sizeof v);
}
template <int VL>
GIE_WG_AI void st(float* p, const typename Vec<VL>::T& v) {
  std::memcpy(p, &v, sizeof v);
}

// Runs f(width, tx) on the next tiles from tx (returns the new tx): full vectors of VL, then the last ones as one
// vector of the widest width that fits ending at the last tile (overlapping tiles already done: the transforms
// store, they never accumulate, so a tile done twice gives the same values), 1 at a time below 4 tiles.
template <int W>
using Width = std::integral_constant<int, W>;
template <int VL, class F>
GIE_WG_AI int64_t forTiles(int64_t TX, int64_t tx, const F& f) {
  if (tx + VL <= TX) {
    f(Width<VL>{}, tx);
    return tx + VL;
  }
  if constexpr (VL > 4) {
    if (TX >= VL) {
      f(Width<VL>{}, TX - VL);
      return TX;
    }
    if (VL > 8 && TX >= 8) return forTiles<(VL > 8 ? 8 : 4)>(TX, tx, f);
  }
  if (TX >= 4) {
    f(Width<4>{}, std::min(tx, TX - 4));
    return std::min(tx, TX - 4) + 4;
  }
  f(Width<1>{}, tx);
  return tx + 1;
}

// The 16 transformed values of W tiles from tx (E / O: even / odd columns of the 4 padded input rows, length L).
// d B per row i: (d0 - d2, d1 + d2, d2 - d1, d1 - d3) with d0..d3 = e[tx], o[tx], e[tx+1], o[tx+1]; then
// B^T (d B): rows (h0 - h2, h1 + h2, h2 - h1, h1 - h3).
template <int W>
GIE_WG_AI void inputTiles(const float* E, const float* O, int64_t L, float* v, int64_t CN, int64_t tx) {
  using V = typename Vec<W>::T;
  V h[4][4];
  for (int i = 0; i < 4; ++i) {
    V d0, d1, d2, d3;
    ld<W>(d0, E + i * L + tx);
    ld<W>(d1, O + i * L + tx);
    ld<W>(d2, E + i * L + tx + 1);
    ld<W>(d3, O + i * L + tx + 1);
    h[i][0] = d0 - d2;
    h[i][1] = d1 + d2;
    h[i][2] = d2 - d1;
    h[i][3] = d1 - d3;
  }
  for (int j = 0; j < 4; ++j) {
    st<W>(v + (0 + j) * CN + tx, h[0][j] - h[2][j]);
    st<W>(v + (4 + j) * CN + tx, h[1][j] + h[2][j]);
    st<W>(v + (8 + j) * CN + tx, h[2][j] - h[1][j]);
    st<W>(v + (12 + j) * CN + tx, h[1][j] - h[3][j]);
  }
}

// V[xi][c][t] = (B^T d B)[xi] for the tiles t of rows [ty0, ty1). A tile's 4 input columns 2tx-pl .. 2tx-pl+3
// are the even / odd columns tx, tx + 1 of the zero-padded row, so the row is split into even and odd halves
// once and every tile then reads 4 contiguous arrays (VL tiles per vector).
template <int VL>
GIE_WG_AI void inputBody(const InArgs& a) {
  const int64_t TX = a.TX, L = TX + 1, HW = a.H * a.W, CN = a.CN;
  float* __restrict E = a.tmp;        // [4][L] even columns of the 4 padded rows
  float* __restrict O = E + 4 * L;    // [4][L] odd columns
  float* __restrict row = O + 4 * L;  // one padded row, 2L floats
  const int64_t jLo = std::min(a.pl, 2 * L), jHi = std::min(a.pl + a.W, 2 * L);
  for (int64_t c = 0; c < a.C; ++c) {
    const float* xc = a.x + c * HW;
    for (int64_t ty = a.ty0; ty < a.ty1; ++ty) {
      for (int i = 0; i < 4; ++i) {
        float* __restrict e = E + i * L;
        float* __restrict o = O + i * L;
        const int64_t ih = 2 * ty - a.pt + i;
        if (ih < 0 || ih >= a.H || jHi <= jLo) {
          std::fill(e, e + L, 0.f);
          std::fill(o, o + L, 0.f);
          continue;
        }
        std::fill(row, row + jLo, 0.f);
        std::memcpy(row + jLo, xc + ih * a.W + (jLo - a.pl), static_cast<size_t>(jHi - jLo) * sizeof(float));
        std::fill(row + jHi, row + 2 * L, 0.f);
        for (int64_t m = 0; m < L; ++m) {
          e[m] = row[2 * m];
          o[m] = row[2 * m + 1];
        }
      }
      float* v = a.V + c * a.nb + (ty - a.ty0) * TX;
      for (int64_t tx = 0; tx < TX;) tx = forTiles<VL>(TX, tx, [&](auto w, int64_t t) __attribute__((always_inline)) { inputTiles<decltype(w)::value>(E, O, L, v, CN, t); });
    }
  }
}

struct OutArgs {
  const float* M;  // [16][K][nb]
  int64_t K, nb, TX, ty0, ty1, P, Q;
  float* y;          // image n, channel 0 (channel stride P*Q)
  const float* res;  // same layout as y, nullable
  const float* bias; // nullable
  float* tmp;        // scratch: 4 * (TX + 1) floats
};

// Output rows r0 / r1 (2 floats per tile) of W tiles from tx: A^T M, rows (m0 + m1 + m2, m1 - m2 - m3), then (.) A,
// columns the same way, + b. m: the block row's first tile of M[0] (M[xi] at m + xi * KN).
template <int W>
GIE_WG_AI void outputTiles(const float* m, int64_t KN, float b, float* r0, float* r1, int64_t tx) {
  using V = typename Vec<W>::T;
  V s[2][4];
  for (int j = 0; j < 4; ++j) {
    V m0, m1, m2, m3;
    ld<W>(m0, m + j * KN + tx);
    ld<W>(m1, m + (4 + j) * KN + tx);
    ld<W>(m2, m + (8 + j) * KN + tx);
    ld<W>(m3, m + (12 + j) * KN + tx);
    s[0][j] = m0 + m1 + m2;
    s[1][j] = m1 - m2 - m3;
  }
  for (int i = 0; i < 2; ++i) {
    const V y0 = (s[i][0] + s[i][1] + s[i][2]) + b, y1 = (s[i][1] - s[i][2] - s[i][3]) + b;
    float* r = (i ? r1 : r0) + 2 * tx;
    if constexpr (W == 1) {
      r[0] = y0[0];
      r[1] = y1[0];
    } else {
      using I = typename Vec<W>::I;
      I lo, hi;  // interleave (y0[0], y1[0], y0[1], y1[1], ...): first and second half
      for (int l = 0; l < W; ++l) {
        lo[l] = (l % 2 ? W : 0) + l / 2;
        hi[l] = (l % 2 ? W : 0) + W / 2 + l / 2;
      }
      st<W>(r, __builtin_shuffle(y0, y1, lo));
      st<W>(r + W, __builtin_shuffle(y0, y1, hi));
    }
  }
}

// y[k][2ty + i][2tx + j] = (A^T M A)[i][j] + bias[k] (+ residual) for the block's tiles, rows / columns past
// P / Q dropped.
template <int VL>
GIE_WG_AI void outputBody(const OutArgs& a, int64_t k) {
  const int64_t TX = a.TX, KN = a.K * a.nb, PQ = a.P * a.Q, W2 = 2 * TX;
  float* __restrict r0 = a.tmp;  // the tile row's two output rows, 2 * TX columns each
  float* __restrict r1 = r0 + W2;
  const float b = a.bias ? a.bias[k] : 0.f;
  const float* mk = a.M + k * a.nb;
  for (int64_t ty = a.ty0; ty < a.ty1; ++ty) {
    const float* m = mk + (ty - a.ty0) * TX;
    for (int64_t tx = 0; tx < TX;)
      tx = forTiles<VL>(TX, tx, [&](auto w, int64_t t) __attribute__((always_inline)) { outputTiles<decltype(w)::value>(m, KN, b, r0, r1, t); });
    for (int i = 0; i < 2; ++i) {
      const int64_t oh = 2 * ty + i;
      if (oh >= a.P) break;
      const float* __restrict src = i ? r1 : r0;
      float* __restrict yr = a.y + k * PQ + oh * a.Q;
      if (a.res) {
        const float* __restrict rr = a.res + k * PQ + oh * a.Q;
        for (int64_t q = 0; q < a.Q; ++q) yr[q] = src[q] + rr[q];
      } else {
        std::memcpy(yr, src, static_cast<size_t>(a.Q) * sizeof(float));
      }
    }
  }
}

void inputScalar(const InArgs& a) { inputBody<4>(a); }
void outputScalar(const OutArgs& a, int64_t k) { outputBody<4>(a, k); }
#if GIE_WG_X86
GIE_WG_AVX2 void inputAvx2(const InArgs& a) { inputBody<8>(a); }
GIE_WG_AVX2 void outputAvx2(const OutArgs& a, int64_t k) { outputBody<8>(a, k); }
GIE_WG_AVX512 void inputAvx512(const InArgs& a) { inputBody<16>(a); }
GIE_WG_AVX512 void outputAvx512(const OutArgs& a, int64_t k) { outputBody<16>(a, k); }
#endif

// Bytes of V and M a block may use (both in L2 with the packing buffers; Zen 4 / Skylake-SP: 1 MB of L2).
constexpr int64_t kBlockBytes = 2 << 20;

}  // namespace

bool WinogradF2x3::eligible(const Conv2dParams& p) {
  return p.groups == 1 && p.R == 3 && p.S == 3 && p.strideH == 1 && p.strideW == 1 && p.dilH == 1 &&
         p.dilW == 1 && p.P() >= 1 && p.Q() >= 1;
}

bool WinogradF2x3::profitable(const Conv2dParams& p) {
  // Few channels: the transforms (per input / output channel) cost more than the 2.25x fewer multiply-adds
  // save. Below 4x4 outputs the tiles pad too much.
  return eligible(p) && p.C >= 32 && p.K >= 32 && p.P() >= 4 && p.Q() >= 4;
}

WinogradF2x3::WinogradF2x3(const Conv2dParams& p, const float* w) : p_(p) {
  P_ = p.P();
  Q_ = p.Q();
  TY_ = (P_ + 1) / 2;
  TX_ = (Q_ + 1) / 2;
  const int64_t C = p.C, K = p.K;
  // U = G g G^T, G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]], in double, one rounding.
  std::vector<float> U(static_cast<size_t>(16 * K * C));
  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < C; ++c) {
      const float* g = w + (k * C + c) * 9;
      double Gg[4][3];
      for (int j = 0; j < 3; ++j) {
        const double g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
        Gg[0][j] = g0;
        Gg[1][j] = 0.5 * (g0 + g1 + g2);
        Gg[2][j] = 0.5 * (g0 - g1 + g2);
        Gg[3][j] = g2;
      }
      for (int i = 0; i < 4; ++i) {
        const double a0 = Gg[i][0], a1 = Gg[i][1], a2 = Gg[i][2];
        const double u[4] = {a0, 0.5 * (a0 + a1 + a2), 0.5 * (a0 - a1 + a2), a2};
        for (int j = 0; j < 4; ++j) U[((i * 4 + j) * K + k) * C + c] = static_cast<float>(u[j]);
      }
    }
  const gemm::Isa isa = gemm::activeIsa();
  u_.resize(16);
  for (int xi = 0; xi < 16; ++xi) gemm::packA(u_[xi], isa, false, K, C, U.data() + xi * K * C, C);
  // Tile rows per block: V and M within kBlockBytes, the tile rows split evenly.
  const int64_t maxTiles = std::max<int64_t>(1, kBlockBytes / (16 * (C + K) * 4));
  const int64_t maxRows = std::max<int64_t>(1, maxTiles / TX_);
  const int64_t blocks = (TY_ + maxRows - 1) / maxRows;
  rowsPerBlock_ = (TY_ + blocks - 1) / blocks;
}

void WinogradF2x3::run(int64_t batch, const float* x, float* y, int64_t yBatchStride, const Epilogue& ep,
                       int64_t xBatchStride) const {
  const int64_t C = p_.C, K = p_.K, TX = TX_;
  const gemm::Isa isa = u_[0].isa;
  auto inFn = inputScalar;
  auto outFn = outputScalar;
#if GIE_WG_X86
  if (isa == gemm::Isa::kAvx512) {
    inFn = inputAvx512;
    outFn = outputAvx512;
  } else if (isa == gemm::Isa::kAvx2) {
    inFn = inputAvx2;
    outFn = outputAvx2;
  }
#endif
  const int64_t blocksPer = (TY_ + rowsPerBlock_ - 1) / rowsPerBlock_, items = batch * blocksPer;
  const int T = inParallelLoop() ? 1 : cpuThreads();
  // Whole blocks per thread when there are enough of them, else one block at a time with parallel GEMMs.
  const bool blockParallel = T > 1 && items >= T;
  const int gemmThreads = blockParallel || T == 1 ? 1 : 0;
  // Scratch of a transform: 10 * (TX + 1) floats per thread.
  auto scratch = [TX]() -> float* {
    static thread_local std::vector<float> tmp;
    if (tmp.size() < static_cast<size_t>(10 * (TX + 1))) tmp.resize(static_cast<size_t>(10 * (TX + 1)));
    return tmp.data();
  };
  auto one = [&](int64_t item) {
    const int64_t n = item / blocksPer, blk = item % blocksPer;
    const int64_t ty0 = blk * rowsPerBlock_, ty1 = std::min(TY_, ty0 + rowsPerBlock_), nb = (ty1 - ty0) * TX;
    static thread_local gemm::AlignedFloats buf;
    const size_t need = static_cast<size_t>(16 * (C + K) * nb);
    if (buf.size() < need) buf.resize(need);
    float* V = buf.data();
    float* M = V + 16 * C * nb;
    // Transforms over channel ranges: on all threads when the block is the only work, else on this one.
    const int64_t chunks = gemmThreads == 1 ? 1 : 4 * T;
    const float* xn = x + n * xBatchStride;
    parallelForThreads(chunks, gemmThreads, [&](int64_t ci) {
      const int64_t c0 = C * ci / chunks, c1 = C * (ci + 1) / chunks;
      inFn(InArgs{xn + c0 * p_.H * p_.W, c1 - c0, p_.H, p_.W, p_.padTop, p_.padLeft, TX, ty0, ty1, V + c0 * nb, nb,
                  C * nb, scratch()});
    });
    for (int xi = 0; xi < 16; ++xi) {
      const gemm::PlainB pb{V + xi * C * nb, nb, false};
      gemm::gemmPacked(u_[xi], gemm::BSource{gemm::packPlainB, &pb}, nb, 1.f, 0.f, M + xi * K * nb, nb,
                       gemm::OutputEpi{}, gemmThreads);
    }
    float* yn = y + n * yBatchStride;
    const int64_t oh0 = 2 * ty0, oh1 = std::min(P_, 2 * ty1);
    parallelForThreads(chunks, gemmThreads, [&](int64_t ci) {
      const OutArgs oa{M, K, nb, TX, ty0, ty1, P_, Q_, yn, ep.residual ? ep.residual + n * yBatchStride : nullptr,
                       ep.bias, scratch()};
      for (int64_t k = K * ci / chunks; k < K * (ci + 1) / chunks; ++k) {
        outFn(oa, k);
        if (ep.act != kNoActivation)
          gemm::activateRow(yn + k * P_ * Q_ + oh0 * Q_, (oh1 - oh0) * Q_, ep.act, ep.alpha, ep.beta);
      }
    });
  };
  if (blockParallel) {
    parallelForThreads(items, T, one);
    return;
  }
  for (int64_t it = 0; it < items; ++it) one(it);
}

}  // namespace gie::cpu
