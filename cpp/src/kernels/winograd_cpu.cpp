// Winograd F(2x2, 3x3) and F(4x4, 3x3) convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks").
//
// Each M x M block of outputs ("tile") of channel k is A^T [ sum_c (G g_kc G^T) .* (B^T d_c B) ] A, where d_c is
// the N x N input patch of the tile (N = M + 2, stride M between tiles) and g_kc the 3x3 filter. With the N*N
// positions xi of the transformed domain separated, the sum over c is N*N independent GEMMs
//   M[xi] (K x tiles) = U[xi] (K x C) * V[xi] (C x tiles),
// N*N multiply-adds per tile and channel pair instead of the direct convolution's 9*M*M (F(2x2): 16 for 36,
// 2.25x fewer; F(4x4): 36 for 144, 4x fewer). U is
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
  float* tmp;    // scratch: (N * M + M) * (TX + 1) floats
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

// The 1-D transforms of F(M x M, 3 x 3) (Lavin & Gray; F(4, 3) with the points 0, +-1, +-2): N = M + 2 inputs,
// B^T d (input), A^T m (output), G g (filter, in double at construction).
template <int M, class V>
GIE_WG_AI void bt1d(const V (&d)[M + 2], V (&t)[M + 2]) {
  if constexpr (M == 2) {
    t[0] = d[0] - d[2];
    t[1] = d[1] + d[2];
    t[2] = d[2] - d[1];
    t[3] = d[1] - d[3];
  } else {
    const V four = V{} + 4.f, five = V{} + 5.f, two = V{} + 2.f;
    t[0] = four * d[0] - five * d[2] + d[4];
    t[1] = (d[3] + d[4]) - four * (d[1] + d[2]);
    t[2] = four * (d[1] - d[2]) + (d[4] - d[3]);
    t[3] = two * (d[3] - d[1]) + (d[4] - d[2]);
    t[4] = two * (d[1] - d[3]) + (d[4] - d[2]);
    t[5] = four * d[1] - five * d[3] + d[5];
  }
}
template <int M, class V>
GIE_WG_AI void at1d(const V (&m)[M + 2], V (&o)[M]) {
  if constexpr (M == 2) {
    o[0] = m[0] + m[1] + m[2];
    o[1] = m[1] - m[2] - m[3];
  } else {
    const V two = V{} + 2.f, four = V{} + 4.f, eight = V{} + 8.f;
    const V a = m[1] + m[2], b = m[1] - m[2], c = m[3] + m[4], d = m[3] - m[4];
    o[0] = m[0] + a + c;
    o[1] = b + two * d;
    o[2] = a + four * c;
    o[3] = b + eight * d + m[5];
  }
}
template <int M>
void g1d(const double (&g)[3], double* u) {  // u: M + 2 values
  if constexpr (M == 2) {
    u[0] = g[0];
    u[1] = 0.5 * (g[0] + g[1] + g[2]);
    u[2] = 0.5 * (g[0] - g[1] + g[2]);
    u[3] = g[2];
  } else {
    u[0] = g[0] / 4;
    u[1] = -(g[0] + g[1] + g[2]) / 6;
    u[2] = -(g[0] - g[1] + g[2]) / 6;
    u[3] = g[0] / 24 + g[1] / 12 + g[2] / 6;
    u[4] = g[0] / 24 - g[1] / 12 + g[2] / 6;
    u[5] = g[2];
  }
}

// The N*N transformed values V[xi] (xi = a*N + b, stored CN apart) of W tiles from tx. Ph: the M column phases of
// the N padded input rows ([row][phase][L]); input column j of tile tx is phase j % M at tx + j / M.
template <int M, int W>
GIE_WG_AI void inputTiles(const float* Ph, int64_t L, float* v, int64_t CN, int64_t tx) {
  constexpr int N = M + 2;
  using V = typename Vec<W>::T;
  V h[N][N];  // h[i] = B^T (row i)
  for (int i = 0; i < N; ++i) {
    V d[N];
    for (int j = 0; j < N; ++j) ld<W>(d[j], Ph + (i * M + j % M) * L + tx + j / M);
    bt1d<M>(d, h[i]);
  }
  for (int b = 0; b < N; ++b) {
    V col[N], t[N];
    for (int i = 0; i < N; ++i) col[i] = h[i][b];
    bt1d<M>(col, t);
    for (int a = 0; a < N; ++a) st<W>(v + (a * N + b) * CN + tx, t[a]);
  }
}

template <int M, int VL>
GIE_WG_AI void inputBody(const InArgs& a) {
  constexpr int N = M + 2;
  const int64_t TX = a.TX, L = TX + 1, HW = a.H * a.W, CN = a.CN;
  float* __restrict Ph = a.tmp;           // [N rows][M phases][L]
  float* __restrict row = Ph + N * M * L;  // one padded row, M * L floats
  const int64_t jLo = std::min(a.pl, M * L), jHi = std::min(a.pl + a.W, M * L);
  for (int64_t c = 0; c < a.C; ++c) {
    const float* xc = a.x + c * HW;
    for (int64_t ty = a.ty0; ty < a.ty1; ++ty) {
      for (int i = 0; i < N; ++i) {
        float* __restrict ph = Ph + i * M * L;
        const int64_t ih = M * ty - a.pt + i;
        if (ih < 0 || ih >= a.H || jHi <= jLo) {
          std::fill(ph, ph + M * L, 0.f);
          continue;
        }
        std::fill(row, row + jLo, 0.f);
        std::memcpy(row + jLo, xc + ih * a.W + (jLo - a.pl), static_cast<size_t>(jHi - jLo) * sizeof(float));
        std::fill(row + jHi, row + M * L, 0.f);
        for (int q = 0; q < M; ++q)
          for (int64_t m = 0; m < L; ++m) ph[q * L + m] = row[M * m + q];
      }
      float* v = a.V + c * a.nb + (ty - a.ty0) * TX;
      for (int64_t tx = 0; tx < TX;)
        tx = forTiles<VL>(TX, tx, [&](auto w, int64_t t) __attribute__((always_inline)) {
          inputTiles<M, decltype(w)::value>(Ph, L, v, CN, t);
        });
    }
  }
}

struct OutArgs {
  const float* M;  // [N*N][K][nb]
  int64_t K, nb, TX, ty0, ty1, P, Q;
  float* y;          // image n, channel 0 (channel stride P*Q)
  const float* res;  // same layout as y, nullable
  const float* bias; // nullable
  float* tmp;        // scratch: M * M * (TX + 1) floats
};

// (x0[0], x1[0], x0[1], x1[1], ...): the first and the second half of the 2-way interleave.
template <int W, class V>
GIE_WG_AI void interleave(const V& x0, const V& x1, V& lo, V& hi) {
  using I = typename Vec<W>::I;
  I ml, mh;
  for (int l = 0; l < W; ++l) {
    ml[l] = (l % 2 ? W : 0) + l / 2;
    mh[l] = (l % 2 ? W : 0) + W / 2 + l / 2;
  }
  lo = __builtin_shuffle(x0, x1, ml);
  hi = __builtin_shuffle(x0, x1, mh);
}

// Output rows r[0..M) (M floats per tile) of W tiles from tx: A^T (.) A of the N*N values, + b. m: the block row's
// first tile of M[0] (M[xi] at m + xi * KN).
template <int M, int W>
GIE_WG_AI void outputTiles(const float* m, int64_t KN, float b, float* const (&r)[M], int64_t tx) {
  constexpr int N = M + 2;
  using V = typename Vec<W>::T;
  V s[M][N];  // s[.][b] = A^T (column b)
  for (int bb = 0; bb < N; ++bb) {
    V col[N], o[M];
    for (int a = 0; a < N; ++a) ld<W>(col[a], m + (a * N + bb) * KN + tx);
    at1d<M>(col, o);
    for (int i = 0; i < M; ++i) s[i][bb] = o[i];
  }
  const V bv = V{} + b;
  for (int i = 0; i < M; ++i) {
    V o[M];
    at1d<M>(s[i], o);
    for (int j = 0; j < M; ++j) o[j] += bv;
    float* ri = r[i] + M * tx;
    if constexpr (W == 1) {
      for (int j = 0; j < M; ++j) ri[j] = o[j][0];
    } else if constexpr (M == 2) {
      V lo, hi;
      interleave<W>(o[0], o[1], lo, hi);
      st<W>(ri, lo);
      st<W>(ri + W, hi);
    } else {  // 4-way: interleave (0, 2) and (1, 3), then the pairs
      V a0, a1, b0, b1, c0, c1, c2, c3;
      interleave<W>(o[0], o[2], a0, a1);
      interleave<W>(o[1], o[3], b0, b1);
      interleave<W>(a0, b0, c0, c1);
      interleave<W>(a1, b1, c2, c3);
      st<W>(ri, c0);
      st<W>(ri + W, c1);
      st<W>(ri + 2 * W, c2);
      st<W>(ri + 3 * W, c3);
    }
  }
}

// y[k][M ty + i][M tx + j] = (A^T Mk A)[i][j] + bias[k] (+ residual) for the block's tiles, rows / columns past
// P / Q dropped.
template <int M, int VL>
GIE_WG_AI void outputBody(const OutArgs& a, int64_t k) {
  constexpr int N = M + 2;
  const int64_t TX = a.TX, KN = a.K * a.nb, PQ = a.P * a.Q, WM = M * (TX + 1);
  float* r[M];  // the tile row's M output rows
  for (int i = 0; i < M; ++i) r[i] = a.tmp + i * WM;
  const float b = a.bias ? a.bias[k] : 0.f;
  const float* mk = a.M + k * a.nb;
  (void)N;
  for (int64_t ty = a.ty0; ty < a.ty1; ++ty) {
    const float* m = mk + (ty - a.ty0) * TX;
    for (int64_t tx = 0; tx < TX;)
      tx = forTiles<VL>(TX, tx, [&](auto w, int64_t t) __attribute__((always_inline)) {
        outputTiles<M, decltype(w)::value>(m, KN, b, r, t);
      });
    for (int i = 0; i < M; ++i) {
      const int64_t oh = M * ty + i;
      if (oh >= a.P) break;
      const float* __restrict src = r[i];
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

using InFn = void (*)(const InArgs&);
using OutFn = void (*)(const OutArgs&, int64_t);
template <int M>
void inputScalar(const InArgs& a) { inputBody<M, 4>(a); }
template <int M>
void outputScalar(const OutArgs& a, int64_t k) { outputBody<M, 4>(a, k); }
#if GIE_WG_X86
template <int M>
GIE_WG_AVX2 void inputAvx2(const InArgs& a) { inputBody<M, 8>(a); }
template <int M>
GIE_WG_AVX2 void outputAvx2(const OutArgs& a, int64_t k) { outputBody<M, 8>(a, k); }
template <int M>
GIE_WG_AVX512 void inputAvx512(const InArgs& a) { inputBody<M, 16>(a); }
template <int M>
GIE_WG_AVX512 void outputAvx512(const OutArgs& a, int64_t k) { outputBody<M, 16>(a, k); }
#endif
template <int M>
void transformFns(gemm::Isa isa, InFn& in, OutFn& out) {
  in = inputScalar<M>;
  out = outputScalar<M>;
#if GIE_WG_X86
  if (isa == gemm::Isa::kAvx512) {
    in = inputAvx512<M>;
    out = outputAvx512<M>;
  } else if (isa == gemm::Isa::kAvx2) {
    in = inputAvx2<M>;
    out = outputAvx2<M>;
  }
#endif
}

// Bytes of V and M a block may use (measured on the ResNet-50 shapes: 2 MB beat 0.5 and 1 MB by 5-15%; Zen 4
// has 1 MB of L2 per core, the rest comes from L3).
constexpr int64_t kBlockBytes = 2 << 20;

}  // namespace

bool WinogradConv3x3::eligible(const Conv2dParams& p) {
  // Padding of at most 2 (every output sees at least one input): the transforms' rounding error scales with
  // the magnitude of the tile's inputs, so an output made only of padding would get a small non-zero value
  // instead of the bias.
  return p.groups == 1 && p.R == 3 && p.S == 3 && p.strideH == 1 && p.strideW == 1 && p.dilH == 1 &&
         p.dilW == 1 && p.padTop <= 2 && p.padLeft <= 2 && p.padBottom <= 2 && p.padRight <= 2 && p.P() >= 1 &&
         p.Q() >= 1;
}

bool WinogradConv3x3::profitable(const Conv2dParams& p) {
  // Few channels: the transforms (per input / output channel) cost more than the fewer multiply-adds save.
  // Below 4x4 outputs the tiles pad too much.
  return eligible(p) && p.C >= 32 && p.K >= 32 && p.P() >= 4 && p.Q() >= 4;
}

int WinogradConv3x3::tileFor(const Conv2dParams& p) {
  // F(4x4): 2.25 multiply-adds per output instead of F(2x2)'s 4, but 36 GEMMs on a quarter as many tiles; on
  // planes below 8x8 (ResNet-50's 7x7) too few tiles are left for the GEMMs and the padding of 4x4 tiles.
  return p.P() >= 8 && p.Q() >= 8 ? 4 : 2;
}

WinogradConv3x3::WinogradConv3x3(const Conv2dParams& p, const float* w, int tile) : p_(p), m_(tile) {
  if (m_ != 2 && m_ != 4) m_ = tileFor(p);
  const int M = m_, N = M + 2, NN = N * N;
  P_ = p.P();
  Q_ = p.Q();
  TY_ = (P_ + M - 1) / M;
  TX_ = (Q_ + M - 1) / M;
  const int64_t C = p.C, K = p.K;
  // U = G g G^T in double, one rounding.
  std::vector<float> U(static_cast<size_t>(NN * K * C));
  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < C; ++c) {
      const float* g = w + (k * C + c) * 9;
      double Gg[6][3];  // G g: N rows
      for (int j = 0; j < 3; ++j) {
        const double col[3] = {g[j], g[3 + j], g[6 + j]};
        double u[6];
        if (M == 2) g1d<2>(col, u);
        else g1d<4>(col, u);
        for (int i = 0; i < N; ++i) Gg[i][j] = u[i];
      }
      for (int i = 0; i < N; ++i) {
        const double row[3] = {Gg[i][0], Gg[i][1], Gg[i][2]};
        double u[6];
        if (M == 2) g1d<2>(row, u);
        else g1d<4>(row, u);
        for (int j = 0; j < N; ++j) U[((i * N + j) * K + k) * C + c] = static_cast<float>(u[j]);
      }
    }
  const gemm::Isa isa = gemm::activeIsa();
  u_.resize(static_cast<size_t>(NN));
  for (int xi = 0; xi < NN; ++xi) gemm::packA(u_[xi], isa, false, K, C, U.data() + xi * K * C, C);
  // Tile rows per block: V and M within kBlockBytes, the tile rows split evenly.
  const int64_t maxTiles = std::max<int64_t>(1, kBlockBytes / (NN * (C + K) * 4));
  const int64_t maxRows = std::max<int64_t>(1, maxTiles / TX_);
  const int64_t blocks = (TY_ + maxRows - 1) / maxRows;
  rowsPerBlock_ = (TY_ + blocks - 1) / blocks;
}

void WinogradConv3x3::run(int64_t batch, const float* x, float* y, int64_t yBatchStride, const Epilogue& ep,
                          int64_t xBatchStride) const {
  const int64_t C = p_.C, K = p_.K, TX = TX_;
  const int M = m_, NN = (M + 2) * (M + 2);
  InFn inFn;
  OutFn outFn;
  if (M == 2) transformFns<2>(u_[0].isa, inFn, outFn);
  else transformFns<4>(u_[0].isa, inFn, outFn);
  const int64_t blocksPer = (TY_ + rowsPerBlock_ - 1) / rowsPerBlock_, items = batch * blocksPer;
  const int T = inParallelLoop() ? 1 : cpuThreads();
  // Whole blocks per thread when there are enough of them, else one block at a time with parallel GEMMs.
  const bool blockParallel = T > 1 && items >= T;
  const int gemmThreads = blockParallel || T == 1 ? 1 : 0;
  // A single block (ResNet-50's 14x14 and 7x7 layers: 16 tiles) split inside each of its NN GEMMs gave each thread
  // half of 16 columns, one 8-wide micro-tile column at half the 16-wide kernel's rate, and NN loops to wait for:
  // 2 threads ran these layers 1.05-1.11x faster than one (bench/cpu_layer_compare.py, Zen 3). With at least 4 GEMMs
  // per thread (or an even share) the threads take whole GEMMs instead: one loop, full-width tiles.
  const bool xiParallel = !blockParallel && T > 1 && (NN >= 4 * T || NN % T == 0);
  // Scratch of a transform (input: N*M phase rows + a padded row of M*(TX+1); output: M rows of M*(TX+1)).
  const size_t tmpLen = static_cast<size_t>(((M + 2) * M + M) * (TX + 1));
  auto scratch = [tmpLen]() -> float* {
    static thread_local std::vector<float> tmp;
    if (tmp.size() < tmpLen) tmp.resize(tmpLen);
    return tmp.data();
  };
  auto one = [&](int64_t item) {
    const int64_t n = item / blocksPer, blk = item % blocksPer;
    const int64_t ty0 = blk * rowsPerBlock_, ty1 = std::min(TY_, ty0 + rowsPerBlock_), nb = (ty1 - ty0) * TX;
    static thread_local gemm::AlignedFloats buf;
    const size_t need = static_cast<size_t>(NN * (C + K) * nb);
    if (buf.size() < need) buf.resize(need);
    float* V = buf.data();
    float* Mt = V + NN * C * nb;
    // Transforms over channel ranges: on all threads when the block is the only work, else on this one.
    const int64_t chunks = gemmThreads == 1 ? 1 : 4 * T;
    const float* xn = x + n * xBatchStride;
    parallelForThreads(chunks, gemmThreads, [&](int64_t ci) {
      const int64_t c0 = C * ci / chunks, c1 = C * (ci + 1) / chunks;
      inFn(InArgs{xn + c0 * p_.H * p_.W, c1 - c0, p_.H, p_.W, p_.padTop, p_.padLeft, TX, ty0, ty1, V + c0 * nb, nb,
                  C * nb, scratch()});
    });
    auto gemmXi = [&](int64_t xi, int threads) {
      const gemm::PlainB pb{V + xi * C * nb, nb, false};
      gemm::gemmPacked(u_[xi], gemm::BSource{gemm::packPlainB, &pb}, nb, 1.f, 0.f, Mt + xi * K * nb, nb,
                       gemm::OutputEpi{}, threads);
    };
    if (xiParallel) {
      parallelForThreads(NN, T, [&](int64_t xi) { gemmXi(xi, 1); });
    } else {
      for (int xi = 0; xi < NN; ++xi) gemmXi(xi, gemmThreads);
    }
    float* yn = y + n * yBatchStride;
    const int64_t oh0 = M * ty0, oh1 = std::min(P_, M * ty1);
    parallelForThreads(chunks, gemmThreads, [&](int64_t ci) {
      const OutArgs oa{Mt, K, nb, TX, ty0, ty1, P_, Q_, yn, ep.residual ? ep.residual + n * yBatchStride : nullptr,
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
