// Standalone correctness test for the CPU GEMM / convolution kernels.
//   g++ -O2 -std=c++17 -pthread -Icpp/src cpp/src/kernels/gemm.cpp cpp/src/kernels/conv2d_cpu.cpp
//       cpp/src/common/parallel.cpp tests/cpp/test_gemm_conv.cpp -o t
// Compares against naive double-precision references; relative error is normalised by the sum of
// |terms|. Runs every ISA the CPU supports. Prints "N passed, M failed"; exit code != 0 on failure.
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/parallel.h"
#include "kernels/conv2d_cpu.h"
#include "kernels/epilogue.h"
#include "kernels/gemm.h"

using namespace gie::cpu;
using gie::ActivationType;
using gie::kNoActivation;
using gie::activation;

namespace {

int gPassed = 0, gFailed = 0, gTransposed = 0, gWinograd = 0, gWinograd4 = 0, gDwC16 = 0, gDirect = 0;
std::mt19937 gRng(12345);

std::vector<float> randVec(size_t n, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(gRng);
  return v;
}

void check(bool ok, const std::string& what) {
  if (ok) {
    ++gPassed;
  } else {
    ++gFailed;
    if (gFailed < 30) std::printf("FAIL: %s\n", what.c_str());
  }
}

constexpr double kTol = 1e-4;
#define GIE_TEST_ACT_(name) ActivationType::name,
const ActivationType kAllActs[] = {kNoActivation, GIE_ACTIVATION_TYPES(GIE_TEST_ACT_)};
#undef GIE_TEST_ACT_
constexpr int kNumActs = static_cast<int>(sizeof(kAllActs) / sizeof(kAllActs[0]));

Epilogue makeEp(ActivationType act, const float* bias, const float* res) {
  Epilogue ep;
  ep.bias = bias;
  ep.residual = res;
  ep.act = act;
  switch (act) {
    case ActivationType::kLEAKY_RELU: ep.alpha = 0.1f; break;
    case ActivationType::kCLIP: ep.alpha = -0.5f; ep.beta = 0.7f; break;
    case ActivationType::kELU: ep.alpha = 0.9f; break;
    case ActivationType::kHARD_SIGMOID: ep.alpha = 0.2f; ep.beta = 0.5f; break;
    case ActivationType::kSELU: ep.alpha = 1.6732632f; ep.beta = 1.0507010f; break;
    case ActivationType::kSCALED_TANH: ep.alpha = 1.5f; ep.beta = 1.2f; break;
    case ActivationType::kTHRESHOLDED_RELU: ep.alpha = 0.3f; break;
    default: break;
  }
  return ep;
}

// got vs act(pre) where pre is exact (double) and absSum bounds the rounding of pre.
bool closeAct(float got, double pre, double absSum, const Epilogue& ep) {
  const double ref = activation(ep.act, static_cast<float>(pre), ep.alpha, ep.beta);
  const double err = std::fabs(static_cast<double>(got) - ref);
  // activations are at most ~2-Lipschitz (SELU with gamma*alpha ~ 1.76)
  return err <= kTol * 2.0 * (absSum + 1e-3 * std::fabs(ref)) + 1e-6 && std::isfinite(got);
}

// ------------------------------------------------------------------------------------------
std::vector<std::array<int64_t, 3>> gemmShapes() {  // M, N, K
  const int64_t sizes[] = {1, 3, 17, 64, 129, 257};
  std::vector<std::array<int64_t, 3>> shapes;
  for (int64_t M : sizes)
    for (int64_t N : sizes)
      for (int64_t K : sizes) shapes.push_back({M, N, K});
  return shapes;
}
// Skinny products large enough for several threads: the direct path's 4 tasks per thread (a fully connected layer at
// batch 1, split by columns; N <= 4, split by rows).
const std::vector<std::array<int64_t, 3>> kSkinnyThreaded = {{1, 1003, 1281}, {3, 777, 1100}, {1003, 3, 700},
                                                             {2, 600, 1700}};

void testGemm(const char* isa, const std::vector<std::array<int64_t, 3>>& shapes) {
  int cases = 0, bad = 0;
  for (const auto& [M, N, K] : shapes)
        for (int tr = 0; tr < 4; ++tr)
          for (int bt = 0; bt < 2; ++bt) {
            const bool ta = tr & 1, tb = tr & 2;
            const float alpha = 0.75f, beta = bt ? 1.f : 0.f;
            const int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 5;
            auto A = randVec((ta ? K : M) * lda), B = randVec((tb ? N : K) * ldb);
            auto C0 = randVec(M * ldc);
            std::vector<float> C = C0;
            if (beta == 0.f)
              for (int64_t m = 0; m < M; ++m)
                for (int64_t n = 0; n < N; ++n) C[m * ldc + n] = std::numeric_limits<float>::quiet_NaN();
            sgemm(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
            bool ok = true;
            for (int64_t m = 0; m < M && ok; ++m)
              for (int64_t n = 0; n < ldc; ++n) {
                if (n >= N) {  // padding between rows must be untouched
                  if (std::memcmp(&C[m * ldc + n], &C0[m * ldc + n], 4) != 0) ok = false;
                  continue;
                }
                double s = 0, as = 0;
                for (int64_t k = 0; k < K; ++k) {
                  const double a = ta ? A[k * lda + m] : A[m * lda + k];
                  const double b = tb ? B[n * ldb + k] : B[k * ldb + n];
                  s += a * b;
                  as += std::fabs(a * b);
                }
                double ref = alpha * s + beta * C0[m * ldc + n];
                double norm = alpha * as + std::fabs(beta * C0[m * ldc + n]) + 1e-30;
                const double got = C[m * ldc + n];
                if (!(std::fabs(got - ref) <= kTol * norm)) ok = false;
              }
            ++cases;
            if (!ok) {
              ++bad;
              char buf[160];
              std::snprintf(buf, sizeof buf, "[%s] sgemm M=%lld N=%lld K=%lld tA=%d tB=%d beta=%g", isa,
                            (long long)M, (long long)N, (long long)K, ta, tb, beta);
              check(false, buf);
            }
          }
  gPassed += cases - bad;
  std::printf("[%s] sgemm: %d cases, %d bad\n", isa, cases, bad);
}

void testGemmEpilogue(const char* isa) {
  const int64_t shapes[][3] = {{5, 7, 3}, {64, 129, 257}, {129, 33, 600}, {2, 300, 40}, {300, 2, 40}};
  for (auto& sh : shapes)
    for (ActivationType act : kAllActs)
      for (int var = 0; var < 2; ++var) {
        const int64_t M = sh[0], N = sh[1], K = sh[2], ldc = N + 2;
        const bool tb = var;
        auto A = randVec(M * K), B = randVec(K * N), bias = randVec(N), res = randVec(M * ldc);
        auto C0 = randVec(M * ldc);
        std::vector<float> C = C0;
        const float beta = var ? 0.5f : 0.f;
        Epilogue ep = makeEp(act, bias.data(), var ? res.data() : nullptr);
        sgemmEpilogue(false, tb, M, N, K, 1.25f, A.data(), K, B.data(), tb ? K : N, beta, C.data(), ldc, ep);
        bool ok = true;
        for (int64_t m = 0; m < M; ++m)
          for (int64_t n = 0; n < N; ++n) {
            double s = 0, as = 0;
            for (int64_t k = 0; k < K; ++k) {
              const double t = 1.25 * A[m * K + k] * (tb ? B[n * K + k] : B[k * N + n]);
              s += t;
              as += std::fabs(t);
            }
            s += beta * C0[m * ldc + n] + bias[n];
            as += std::fabs(beta * C0[m * ldc + n]) + std::fabs(bias[n]);
            if (var) {
              s += res[m * ldc + n];
              as += std::fabs(res[m * ldc + n]);
            }
            if (!closeAct(C[m * ldc + n], s, as, ep)) ok = false;
          }
        char buf[160];
        std::snprintf(buf, sizeof buf, "[%s] sgemmEpilogue M=%lld N=%lld K=%lld act=%d var=%d", isa,
                      (long long)M, (long long)N, (long long)K, (int)act, var);
        check(ok, buf);
      }
}

// ------------------------------------------------------------------------------------------
struct ConvCase {
  int64_t N, C, H, W, K, R, S, sh, sw, pt, pl, pb, pr, dh, dw, g;
};

void refConv(const Conv2dParams& p, int64_t batch, const float* x, const float* w, const float* bias,
             const float* res, int64_t ybs, std::vector<double>& pre, std::vector<double>& abs) {
  const int64_t P = p.P(), Q = p.Q(), Cg = p.C / p.groups, Kg = p.K / p.groups;
  pre.assign(batch * ybs, 0.0);
  abs.assign(batch * ybs, 0.0);
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t k = 0; k < p.K; ++k) {
      const int64_t g = k / Kg;
      for (int64_t oh = 0; oh < P; ++oh)
        for (int64_t ow = 0; ow < Q; ++ow) {
          double s = 0, a = 0;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t r = 0; r < p.R; ++r)
              for (int64_t t = 0; t < p.S; ++t) {
                const int64_t ih = oh * p.strideH - p.padTop + r * p.dilH;
                const int64_t iw = ow * p.strideW - p.padLeft + t * p.dilW;
                if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) continue;
                const double v = static_cast<double>(x[((n * p.C + g * Cg + c) * p.H + ih) * p.W + iw]) *
                                 w[((k * Cg + c) * p.R + r) * p.S + t];
                s += v;
                a += std::fabs(v);
              }
          const int64_t yi = n * ybs + (k * P + oh) * Q + ow;
          if (bias) {
            s += bias[k];
            a += std::fabs(bias[k]);
          }
          if (res) {
            s += res[yi];
            a += std::fabs(res[yi]);
          }
          pre[yi] = s;
          abs[yi] = a;
        }
    }
}

bool runConvCase(const char* isa, const ConvCase& cc, int64_t batch, ActivationType act, bool useBias,
                 bool useRes, int64_t extraStride) {
  Conv2dParams p{cc.N, cc.C, cc.H, cc.W, cc.K, cc.R, cc.S};
  p.strideH = cc.sh; p.strideW = cc.sw; p.padTop = cc.pt; p.padLeft = cc.pl;
  p.padBottom = cc.pb; p.padRight = cc.pr; p.dilH = cc.dh; p.dilW = cc.dw; p.groups = cc.g;
  const int64_t P = p.P(), Q = p.Q(), KPQ = p.K * P * Q, ybs = KPQ + extraStride;
  auto x = randVec(batch * p.C * p.H * p.W), w = randVec(p.K * (p.C / p.groups) * p.R * p.S);
  auto bias = randVec(p.K), res = randVec(batch * ybs);
  Conv2dCpu conv(p, w.data());
  gTransposed += conv.transposedGemm();
  gWinograd += conv.path() == Conv2dCpu::Path::kWinograd;
  gWinograd4 += conv.winogradTile() == 4;
  gDwC16 += conv.depthwiseC16();
  gDirect += conv.path() == Conv2dCpu::Path::kDirect;
  std::vector<unsigned char> ws(conv.workspaceSize() + 1);
  const float sentinel = -12345.f;
  std::vector<float> y(batch * ybs, sentinel);
  Epilogue ep = makeEp(act, useBias ? bias.data() : nullptr, useRes ? res.data() : nullptr);
  conv.run(batch, x.data(), y.data(), ybs, ep, ws.data());
  std::vector<double> pre, abs;
  refConv(p, batch, x.data(), w.data(), ep.bias, ep.residual, ybs, pre, abs);
  bool ok = true;
  for (int64_t n = 0; n < batch && ok; ++n)
    for (int64_t i = 0; i < ybs; ++i) {
      const int64_t yi = n * ybs + i;
      if (i >= KPQ) {
        if (y[yi] != sentinel) { ok = false; break; }
        continue;
      }
      if (!closeAct(y[yi], pre[yi], abs[yi], ep)) { ok = false; break; }
    }
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "[%s] conv N=%lld C=%lld H=%lld W=%lld K=%lld R=%lld S=%lld s=%lld,%lld pad=%lld,%lld,%lld,%lld "
                "dil=%lld,%lld g=%lld batch=%lld act=%d bias=%d res=%d extra=%lld path=%d tr=%d",
                isa, (long long)cc.N, (long long)cc.C, (long long)cc.H, (long long)cc.W, (long long)cc.K,
                (long long)cc.R, (long long)cc.S, (long long)cc.sh, (long long)cc.sw, (long long)cc.pt,
                (long long)cc.pl, (long long)cc.pb, (long long)cc.pr, (long long)cc.dh, (long long)cc.dw,
                (long long)cc.g, (long long)batch, (int)act, useBias, useRes, (long long)extraStride,
                (int)conv.path(), (int)conv.transposedGemm());
  check(ok, buf);
  return ok;
}

// The per-plane depthwise kernel keeps a thread's padded-plane buffer's zero border between planes and layers of
// the same geometry (stride 1): layers of other geometries, strides and paddings run in between on this thread
// must not leave data where the next layer expects zeros.
void testDepthwiseBorderReuse(const char* isa) {
  Conv2dCpu::setDepthwiseC16Override(1);
  //                       N  C   H   W  K  R  S sh sw pt pl pb pr dh dw g
  const ConvCase a3{1, 5, 20, 19, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 5};
  const ConvCase others[] = {
      {1, 5, 20, 19, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 5},  // stride 2 fills the whole buffer with phase planes
      {1, 5, 20, 19, 5, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 5},  // wider border
      {1, 5, 20, 19, 5, 3, 3, 1, 1, 0, 0, 2, 2, 1, 1, 5},  // same padded width, border on the other sides
      {1, 5, 20, 19, 5, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 5},  // no border: the copies cover it
  };
  for (const ConvCase& o : others) {
    runConvCase(isa, a3, 1, ActivationType::kRELU, true, false, 0);
    runConvCase(isa, o, 1, ActivationType::kRELU, true, false, 0);
    runConvCase(isa, a3, 1, ActivationType::kRELU, true, false, 0);
  }
  Conv2dCpu::setDepthwiseC16Override(0);
}

void testConv(const char* isa) {
  const ConvCase cases[] = {
      // N  C   H   W   K  R  S sh sw pt pl pb pr dh dw g
      {1, 7, 5, 6, 9, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1},        // 1x1 direct GEMM, odd channels
      {3, 64, 7, 7, 130, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1},     // 1x1, 7x7 spatial
      {2, 8, 9, 9, 16, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1},       // 1x1 stride 2
      {1, 3, 11, 13, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},      // 3x3 pad 1
      {1, 5, 8, 7, 6, 3, 2, 1, 1, 0, 2, 1, 0, 1, 1, 1},        // asymmetric pad, non-square kernel
      {3, 6, 15, 15, 17, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},     // stride 2
      {1, 4, 12, 10, 7, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1},      // dilation 2
      {2, 6, 9, 9, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2},       // groups 2
      {1, 12, 10, 9, 6, 3, 3, 2, 1, 1, 0, 2, 1, 1, 2, 3},      // groups 3, mixed stride/dil/pad
      {3, 8, 10, 11, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 8},      // depthwise
      {1, 16, 13, 12, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 16},   // depthwise stride 2
      {2, 5, 14, 9, 5, 5, 5, 1, 3, 4, 2, 3, 2, 2, 1, 5},       // depthwise 5x5, odd stride / dil
      {2, 4, 9, 7, 12, 3, 3, 2, 1, 1, 1, 0, 1, 1, 1, 4},       // depthwise, channel multiplier 3
      {1, 6, 17, 16, 6, 3, 3, 3, 3, 2, 1, 0, 2, 2, 2, 6},      // depthwise stride 3, dilation 2
      {1, 3, 70, 66, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3},      // depthwise, wide plane stride 2
      // the AVX2 3x3 stride-2 row kernel (depthwise_s2_avx2.h: even width, left padding 0 / 1, >= 48 outputs per
      // row): 49 outputs per row (a partial last vector), left padding 0; 56 outputs, bottom / right padding 0
      {2, 6, 21, 98, 6, 3, 3, 2, 2, 1, 0, 1, 1, 1, 1, 6},
      {1, 9, 30, 112, 9, 3, 3, 2, 2, 0, 1, 1, 0, 1, 1, 9},
      {1, 16, 1, 1, 33, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1},      // 1x1 spatial
      {1, 9, 1, 1, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},       // 3x3 on 1x1 input
      {1, 3, 32, 30, 64, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1},     // stem-like 7x7 s2
      {1, 64, 8, 8, 70, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},      // Kdim 576: several K blocks
      {1, 4, 40, 41, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},      // PQ > N block
      {3, 130, 6, 5, 19, 3, 3, 1, 1, 0, 1, 1, 0, 1, 1, 1},     // batch 3, Kdim 1170
      {1, 2, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 1, 1, 1},        // 1x1 output
      // depthwise shapes of MobileNetV2 / EfficientNet-B0 (odd sizes): several accumulator chunks and
      // register blocks per plane, stride 1 and 2, 3x3 and 5x5, asymmetric padding (TF "same")
      {1, 3, 113, 111, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3},    // depthwise 3x3 s1, large plane
      {2, 5, 113, 112, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 5},    // depthwise 3x3 s2, large plane
      {1, 4, 57, 55, 4, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1, 4},      // depthwise 5x5 s2
      {1, 6, 15, 14, 6, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 6},      // depthwise 5x5 s1
      {1, 7, 7, 7, 7, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 7},        // depthwise 5x5 on 7x7 (one register block)
      {1, 5, 28, 27, 5, 3, 3, 2, 2, 0, 0, 1, 1, 1, 1, 5},      // depthwise s2, padding bottom/right only
      {1, 3, 1, 1, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3},        // depthwise on 1x1
      // register-reuse depthwise path (3x3 / 5x5, stride 1): groups of 4 output rows plus 1-3
      // remainder rows, column blocks of 32 (Q > 16) or 16 with full / partial last blocks (and the
      // stride-2 sweep on the same block shapes)
      {1, 4, 32, 32, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4},      // Q = 32: two full vectors, no tail
      {2, 3, 6, 17, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3},       // Q = 17: one valid column in the tail
      {1, 4, 16, 16, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4},      // Q = 16 narrow blocks, multiplier 2
      {1, 3, 32, 32, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3},      // 3x3 s2, Q = 16
      {1, 3, 5, 40, 3, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 3},       // 5x5 s1, P = 5: one group + one row
      {1, 2, 9, 33, 6, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1, 2},       // 5x5 s2, multiplier 3, P = 5, Q = 17
      {1, 2, 4, 3, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2},        // P = 4, Q = 3
      // the AVX2 body's 8-lane vectors: blocks of 16 columns (Q > 8) or 8, full or with a masked last vector
      {1, 3, 9, 12, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3},       // Q = 12: one full vector + 4 masked columns
      {2, 2, 7, 9, 2, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 2},        // 5x5, Q = 9: one column past the first vector
      {1, 3, 8, 8, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3},        // Q = 8: exactly one 8-lane vector
      {1, 5, 7, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 5},        // 3x3 on 7x7: one masked 7-column vector
      {1, 3, 11, 23, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3},      // 3x3 s2, W = 23: one 8-pair deinterleave + tail
      // network stems: few input channels, many outputs
      {1, 3, 64, 62, 16, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1},     // ResNet-style 7x7 s2 stem
      // stride-2 rows long enough for the vector deinterleave (16 / 8 outputs) plus a tail; odd widths whose last
      // sample is the row's (and the tensor's) last float
      {1, 3, 41, 75, 19, 7, 7, 2, 2, 3, 3, 2, 3, 1, 1, 1},     // 7x7 s2, Q = 38
      {2, 11, 9, 75, 13, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1},     // 1x1 s2, Q = 38, last column read
      {1, 19, 13, 67, 21, 3, 3, 2, 2, 0, 1, 0, 0, 1, 1, 1},    // 3x3 s2, Q = 33
      {1, 2, 9, 31, 5, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1},      // 1x1 s2, Q = 16: the AVX2 gather's last 8 end the tensor
      {2, 3, 5, 15, 4, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1},      // 1x1 s2, Q = 8: one 8-output gather ending the row
      // output planes of 49 / 196 pixels: the transposed GEMM with the 7-row AVX-512 tile (no padded rows)
      {2, 40, 14, 14, 100, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1},   // 1x1 @14, 100 channels (partial panel)
      {1, 24, 14, 14, 60, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},    // 3x3 s2 -> 7x7
      {1, 37, 13, 13, 161, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1},   // 1x1 s2 -> 7x7, 161 channels
      {2, 3, 45, 47, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},      // MobileNet-style 3x3 s2 stem, batch 2
      {2, 3, 45, 47, 8, 3, 3, 2, 2, 0, 0, 1, 1, 1, 1, 1},      // TF "same" (bottom/right) padding
      {1, 2, 20, 21, 5, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1},      // 2 channels, dilation 2, stride 1
      {1, 1, 33, 31, 3, 5, 3, 1, 1, 2, 1, 2, 1, 1, 1, 1},      // 1 channel, 5x3 kernel
      // the direct kernel (16 output channels per vector; C*R*S <= 32, K <= 64): partial channel groups, rows of
      // fewer than 16 pixels (junk lanes read the padded copy's slack), rows / flat planes whose last block
      // overlaps the one before, stride 3, dilation 2, a 1x1 with K = 64, batch 3
      {3, 3, 37, 35, 33, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},     // stem-like 3x3 s2, Q = 18, K = 33
      {1, 2, 11, 9, 64, 3, 3, 1, 1, 1, 0, 1, 2, 2, 2, 1},      // Q = 8 < 16, dilation 2, asymmetric padding
      {2, 32, 15, 15, 16, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1},    // flat 1x1, 225 pixels (overlapping last block)
      {1, 5, 17, 19, 20, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1},     // flat 1x1, 323 pixels: a second 256-pixel chunk
      {1, 3, 29, 50, 7, 3, 3, 3, 3, 0, 2, 2, 0, 1, 1, 1},      // stride 3 (runtime column stride)
      // depthwise with channel counts that leave a partial group of 16 (the 16-channel kernel), Q >= 8
      {1, 37, 9, 11, 37, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 37},    // stride 2, 37 channels
      {2, 20, 14, 13, 20, 5, 5, 1, 1, 2, 1, 2, 3, 1, 1, 20},   // 5x5, asymmetric padding, batch 2
      {1, 33, 12, 19, 33, 3, 3, 1, 2, 2, 0, 1, 1, 2, 1, 33},   // unequal strides, dilation 2 rows
      // the 16-channel kernel's input transpose: blocks of 16 pixels of the flattened plane that span row
      // ends, a masked block at the plane's end, planes under 16 pixels, strips of a wide plane
      {1, 19, 7, 7, 19, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 19},     // EfficientNet 5x5 on 7x7, 19 channels
      {2, 17, 13, 15, 17, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 17},   // odd plane, stride 2
      {1, 21, 3, 2, 21, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 21},     // 6-pixel plane
      {1, 18, 23, 1, 18, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1, 18},    // one-column plane
      {1, 17, 40, 113, 17, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 17},  // 113 wide, stride 2: several strips
      {1, 31, 29, 27, 31, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1, 31},   // 5x5 stride 2, odd plane
      // wide outputs, with several threads cut into 4 column tasks per thread (gemm.cpp, kColTasks; >= 256
      // columns a task): B read in place, packed B, im2col stride 2 (stem-like)
      {1, 20, 57, 61, 12, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1},    // 1x1, 3477 pixels, 12 outputs
      {1, 24, 47, 53, 100, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1},   // 1x1, 2491 pixels, 100 outputs
      {1, 3, 115, 113, 29, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},   // 3x3 stride 2, 58 x 57 outputs
      // depthwise with fewer than 4 channel groups per thread at batch 1 (conv2d_cpu.cpp runDepthwise): with
      // several threads the groups are cut into bands of output rows (3 bands of 61 rows, 4 bands of 49)
      {1, 21, 61, 67, 21, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 21},   // 3x3 stride 1, a partial group of 5
      {1, 13, 97, 95, 13, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1, 13},   // 5x5 stride 2
  };
  int i = 0;
  for (const ConvCase& cc : cases) {
    for (int64_t batch : {int64_t(1), cc.N}) {
      const ActivationType act = kAllActs[(i++) % kNumActs];
      runConvCase(isa, cc, batch, act, i % 2 == 0, i % 3 != 0, (i % 4 == 0) ? 37 : 0);
    }
    runConvCase(isa, cc, cc.N, ActivationType::kRELU, true, true, 5);
  }
  // every activation with bias/residual combos on a GEMM conv and a depthwise conv
  const ConvCase gemmCase{2, 6, 9, 8, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  const ConvCase dwCase{2, 7, 9, 8, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 7};
  const ConvCase dwBigCase{1, 3, 61, 70, 3, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1, 3};
  const ConvCase pwCase{2, 17, 6, 5, 19, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1};
  // 1x1 layers whose GEMM has full 6 x 16 AVX2 tiles (the straight-line conv store) next to row and column tails:
  // one K block of 32, and K = 300 in two blocks (the first block's tiles take the general store)
  const ConvCase pwShortK{1, 32, 23, 29, 25, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1};
  const ConvCase pwTwoKBlocks{1, 300, 5, 7, 13, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1};
  // 1x1 layers whose AVX2 GEMM reads B in place (gemmRegionInPlaceB: <= 48 output channels, or <= 96 with >= 192
  // input channels): 70 rows over two K blocks with a partial last panel; 40 rows over 1640 pixels, which two
  // threads split at 8 columns (a region starting inside a 16-column panel)
  const ConvCase pwInPlace96{1, 200, 9, 11, 70, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1};
  const ConvCase pwInPlaceSplit{1, 64, 40, 41, 40, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1};
  // and their last row tiles of 2 and 3 rows (M % 6; the tile computes only those rows)
  const ConvCase pwInPlaceRows2{1, 24, 20, 17, 20, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1};
  const ConvCase pwInPlaceRows3{1, 40, 21, 23, 15, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1};
  // Column stride 2 with output rows of a multiple of 16 pixels (the AVX2 packer's whole-panel stride-2 path): 3x3
  // padded; 279 taps in two K blocks, the second starting at tap (1, 2) of channel 15, N blocks starting at column 64
  // of a row; 5x5 with asymmetric padding, batch 2; dilation 2
  const ConvCase s2Cases[] = {
      {1, 3, 64, 64, 10, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},
      {1, 31, 20, 160, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},
      {2, 5, 33, 65, 9, 5, 5, 2, 2, 2, 0, 1, 2, 1, 1, 1},
      {1, 4, 30, 63, 6, 3, 3, 2, 2, 1, 3, 1, 1, 2, 2, 1},
  };
  int s2i = 0;
  for (const ConvCase& cc : s2Cases)
    for (ActivationType act : {kNoActivation, ActivationType::kRELU6, ActivationType::kSILU}) {
      ++s2i;
      runConvCase(isa, cc, cc.N, act, s2i % 2 == 0, s2i % 3 == 0, s2i % 4 == 0 ? 7 : 0);
    }
  for (ActivationType act : kAllActs)
    for (int v = 0; v < 4; ++v) {
      runConvCase(isa, gemmCase, 2, act, v & 1, v & 2, v == 3 ? 11 : 0);
      runConvCase(isa, dwCase, 2, act, v & 1, v & 2, v == 3 ? 11 : 0);
      runConvCase(isa, dwBigCase, 1, act, v & 1, v & 2, v == 3 ? 11 : 0);
      runConvCase(isa, pwCase, 2, act, v & 1, v & 2, v == 3 ? 11 : 0);
      runConvCase(isa, pwShortK, 1, act, v & 1, v & 2, v == 3 ? 11 : 0);
      runConvCase(isa, pwTwoKBlocks, 1, act, v & 1, v & 2, v == 3 ? 11 : 0);
      runConvCase(isa, pwInPlace96, 1, act, v & 1, v & 2, v == 3 ? 11 : 0);
      runConvCase(isa, pwInPlaceSplit, 1, act, v & 1, v & 2, v == 3 ? 11 : 0);
      runConvCase(isa, pwInPlaceRows2, 1, act, v & 1, v & 2, v == 3 ? 11 : 0);
      runConvCase(isa, pwInPlaceRows3, 1, act, v & 1, v & 2, v == 3 ? 11 : 0);
    }
}

// Winograd F(2x2, 3x3) on awkward shapes (run with the Winograd override 2: every eligible shape): odd
// and even P / Q (a half-empty last tile row / column), asymmetric and zero / large padding, several tile
// blocks (channels large enough to split the tile rows), outputs smaller than one tile, channel counts that
// are not multiples of the micro-kernel's rows / vectors, batch 2 with a gap between images.
void testWinograd(const char* isa) {
  const ConvCase cases[] = {
      // N  C   H   W   K  R  S sh sw pt pl pb pr dh dw g
      {2, 5, 9, 8, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},        // odd P, even Q
      {1, 3, 6, 11, 2, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1},       // no padding: 4 x 9
      {1, 4, 7, 5, 3, 3, 3, 1, 1, 2, 0, 1, 2, 1, 1, 1},        // asymmetric padding
      {1, 2, 3, 3, 3, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1},        // one output
      {1, 3, 1, 1, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},        // 1x1 input, padded to a 1x1 output
      {1, 2, 4, 4, 3, 3, 3, 1, 1, 3, 3, 3, 3, 1, 1, 1},        // padding larger than the kernel (not eligible)
      {1, 3, 5, 6, 4, 3, 3, 1, 1, 2, 2, 2, 1, 1, 1, 1},        // padding 2: border outputs with one input row
      {2, 64, 15, 13, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},    // several K blocks of the GEMM
      {1, 300, 29, 27, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},   // several tile blocks (C large)
      {1, 48, 57, 56, 50, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},    // several tile blocks, wide rows
  };
  for (const ConvCase& cc : cases) {
    int i = 0;
    for (ActivationType act : {kNoActivation, ActivationType::kRELU, ActivationType::kSILU}) {
      ++i;
      runConvCase(isa, cc, cc.N, act, i != 1, i != 2, i == 3 ? 13 : 0);
    }
  }
}

// Winograd with 1, 2, 3 and 5 threads, bit for bit: a single block of tiles (ResNet-50's 14x14 and 7x7 layers) takes
// whole GEMMs per thread when there are at least 4 per thread or an even share (F(4x4)'s 36 GEMMs at 2, 3 and 5
// threads, F(2x2)'s 16 at 2 and 3), the GEMMs split by rows / columns otherwise (F(2x2) at 5 threads); 40x40 with
// F(2x2) is two blocks, one per thread at 2 threads.
void testWinogradThreads(const char* isa) {
  struct S {
    int64_t C, H, K;
  } shapes[] = {{256, 14, 256}, {96, 7, 70}, {40, 15, 33}, {64, 40, 48}};
  for (const S& s : shapes)
    for (int tile : {3, 4}) {  // the Winograd override: 3 = F(2x2), 4 = F(4x4)
      Conv2dCpu::setWinogradOverride(tile);
      Conv2dParams p{1, s.C, s.H, s.H, s.K, 3, 3};
      p.padTop = p.padLeft = p.padBottom = p.padRight = 1;
      auto x = randVec(static_cast<size_t>(s.C * s.H * s.H)), w = randVec(static_cast<size_t>(s.K * s.C * 9), -0.05f, 0.05f),
           bias = randVec(static_cast<size_t>(s.K));
      const int64_t ylen = s.K * s.H * s.H;
      std::vector<float> ref;
      bool same = true, wino = true;
      for (int T : {1, 2, 3, 5}) {
        gie::setCpuThreads(T);
        Conv2dCpu conv(p, w.data());
        wino = wino && conv.path() == Conv2dCpu::Path::kWinograd;
        std::vector<float> y(static_cast<size_t>(ylen), std::nanf(""));
        conv.run(1, x.data(), y.data(), ylen, makeEp(ActivationType::kRELU, bias.data(), nullptr), nullptr);
        if (T == 1) ref = y;
        else same = same && std::memcmp(y.data(), ref.data(), ref.size() * 4) == 0;
      }
      gie::setCpuThreads(0);
      bool finite = true;
      for (float v : ref) finite = finite && std::isfinite(v);
      check(wino && same && finite, std::string("[") + isa + "] Winograd threads 1/2/3/5 bit-identical C=" +
                                        std::to_string(s.C) + " @" + std::to_string(s.H) + " tile override " +
                                        std::to_string(tile));
    }
  Conv2dCpu::setWinogradOverride(0);
}

// The AVX2 3x3 stride-2 stem kernel (stem_s2_avx2.h: <= 8 input channels, output channels a multiple of 4, left
// padding 0 / 1, >= 8 outputs per row), forced on every shape it can run (direct override 2; on other ISAs these
// shapes take the AVX-512 direct kernel or the GEMM): odd and even widths, rows of 8 / 9 / 15 / 16 / 24 / 25 / 47 /
// 112 outputs (whole 3-vector blocks, 2- and 1-vector blocks, a masked last vector), top padding 0-2, bottom / right
// padding that leaves the last input row or column unread, every activation with and without residual and bias,
// batch 2 with a wider batch stride; then 1, 2 and 3 threads (bands of 4 output rows) bit-identical, and a layer of
// another geometry in between (the kernel keeps its zeroed row ring per geometry).
void testStemS2(const char* isa) {
  Conv2dCpu::setDirectOverride(2);
  //                   N  C   H    W   K  R  S sh sw pt pl pb pr dh dw g
  const ConvCase cases[] = {
      {1, 3, 224, 224, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},  // MobileNetV2's stem
      {2, 3, 33, 31, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},     // Q = 16, odd width
      {1, 1, 17, 16, 4, 3, 3, 2, 2, 0, 0, 0, 0, 1, 1, 1},     // Q = 7 < 8: not eligible (the GEMM), P = 8
      {1, 1, 18, 17, 4, 3, 3, 2, 2, 0, 0, 1, 1, 1, 1, 1},     // Q = 8: one vector, pads only bottom / right
      {2, 2, 20, 18, 12, 3, 3, 2, 2, 2, 1, 0, 1, 1, 1, 1},    // Q = 9: a masked second vector, top padding 2
      {1, 5, 21, 30, 16, 3, 3, 2, 2, 1, 0, 1, 1, 1, 1, 1},    // Q = 15, left padding 0
      {1, 8, 14, 47, 36, 3, 3, 2, 2, 0, 1, 0, 0, 1, 1, 1},    // 8 channels, Q = 24 (one 3-vector block), 9 blocks of 4
      {2, 4, 25, 49, 20, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},    // Q = 25
      {1, 3, 29, 95, 24, 3, 3, 2, 2, 1, 1, 1, 0, 1, 1, 1},    // Q = 47: 3-vector blocks and a masked 2-vector block
      {1, 2, 11, 226, 4, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 1},    // Q = 113: 14 vectors and one lane
  };
  int i = 0;
  for (const ConvCase& cc : cases)
    for (int64_t batch : {int64_t(1), cc.N}) {
      for (int rep = 0; rep < 2; ++rep, ++i) {
        const ActivationType act = kAllActs[i % kNumActs];
        runConvCase(isa, cc, batch, act, i % 3 != 0, i % 2 == 0, i % 4 == 1 ? 29 : 0);
      }
      runConvCase(isa, cc, batch, ActivationType::kRELU6, true, false, 0);
      runConvCase(isa, cc, batch, ActivationType::kRELU, false, true, 3);
    }
  // threads: bands of output rows on 1, 2 and 3 threads give the same bits; a 1-channel layer of another width runs on
  // the same threads in between
  Conv2dParams p{1, 3, 91, 90, 24, 3, 3};
  p.strideH = p.strideW = 2;
  p.padTop = p.padLeft = p.padBottom = p.padRight = 1;
  Conv2dParams other{1, 1, 40, 61, 8, 3, 3};
  other.strideH = other.strideW = 2;
  auto x = randVec(static_cast<size_t>(3 * 91 * 90)), w = randVec(static_cast<size_t>(24 * 27)),
       bias = randVec(24), xo = randVec(static_cast<size_t>(40 * 61)), wo = randVec(8 * 9);
  const int64_t ylen = 24 * p.P() * p.Q();
  std::vector<float> ref;
  bool same = true, stem = true;
  for (int T : {1, 2, 3}) {
    gie::setCpuThreads(T);
    Conv2dCpu conv(p, w.data()), conv2(other, wo.data());
    const bool vec = gemm::activeIsa() != gemm::Isa::kScalar;  // the direct path: AVX2's stem or AVX-512's kernel
    stem = stem && (conv.path() == Conv2dCpu::Path::kDirect) == vec && (conv2.path() == Conv2dCpu::Path::kDirect) == vec;
    for (int rep = 0; rep < 2; ++rep) {
      std::vector<float> y(static_cast<size_t>(ylen), std::nanf("")), y2(static_cast<size_t>(8 * other.P() * other.Q()));
      conv.run(1, x.data(), y.data(), ylen, makeEp(ActivationType::kRELU6, bias.data(), nullptr), nullptr);
      conv2.run(1, xo.data(), y2.data(), static_cast<int64_t>(y2.size()), makeEp(kNoActivation, nullptr, nullptr),
                nullptr);
      if (ref.empty()) ref = y;
      else same = same && std::memcmp(y.data(), ref.data(), ref.size() * 4) == 0;
    }
  }
  gie::setCpuThreads(0);
  check(stem && same, std::string("[") + isa + "] stem 3x3 s2 threads 1/2/3 bit-identical, other geometry between");
  Conv2dCpu::setDirectOverride(0);
}

void testConcurrency(const char* isa) {
  Conv2dParams p{2, 32, 20, 20, 48, 3, 3};
  p.padTop = p.padLeft = p.padBottom = p.padRight = 1;
  auto x = randVec(2 * 32 * 20 * 20), w = randVec(48 * 32 * 9), bias = randVec(48);
  Conv2dCpu conv(p, w.data());
  const int64_t ybs = 48 * 20 * 20;
  Epilogue ep = makeEp(ActivationType::kSILU, bias.data(), nullptr);
  std::vector<float> ref(2 * ybs);
  conv.run(2, x.data(), ref.data(), ybs, ep, nullptr);
  std::vector<std::vector<float>> outs(4, std::vector<float>(2 * ybs, 0.f));
  std::vector<std::thread> th;
  for (int t = 0; t < 4; ++t)
    th.emplace_back([&, t] {
      for (int rep = 0; rep < 5; ++rep) {
        conv.run(2, x.data(), outs[t].data(), ybs, ep, nullptr);
        std::vector<float> c(64 * 64);
        std::vector<float> a(64 * 70, 0.5f), b(70 * 64, 0.25f);
        sgemm(false, false, 64, 64, 70, 1.f, a.data(), 70, b.data(), 64, 0.f, c.data(), 64);
        for (float v : c)
          if (v != 70 * 0.125f) outs[t][0] = -1.f;  // poison => detected below
      }
    });
  for (auto& t : th) t.join();
  bool ok = true;
  for (int t = 0; t < 4; ++t) ok = ok && std::memcmp(outs[t].data(), ref.data(), ref.size() * 4) == 0;
  check(ok, std::string("[") + isa + "] concurrent run() from 4 threads");
}

}  // namespace

int main() {
  using gemm::Isa;
  const Isa best = gemm::activeIsa();
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (static_cast<int>(isa) > static_cast<int>(best)) continue;
    gemm::setIsaOverride(isa);
    const char* name = gemm::isaName(isa);
    testGemm(name, gemmShapes());
    testGemmEpilogue(name);
    for (int orient : {0, 1, 2}) {  // automatic, forced normal, forced transposed GEMM
      Conv2dCpu::setOrientationOverride(orient);
      testConv(name);
    }
    Conv2dCpu::setOrientationOverride(0);
    // Winograd on every eligible shape (the 3x3 stride-1 cases of testConv too) with F(2x2) and F(4x4), then
    // never.
    for (int wino : {3, 4}) {
      Conv2dCpu::setWinogradOverride(wino);
      testConv(name);
      testWinograd(name);
      testConcurrency(name);
    }
    testWinogradThreads(name);
    Conv2dCpu::setWinogradOverride(1);
    testWinograd(name);
    Conv2dCpu::setWinogradOverride(0);
    testConcurrency(name);
    // depthwise: the 16-channel kernel on every shape it can run (AVX-512, multiplier 1), then never
    for (int c16 : {2, 1}) {
      Conv2dCpu::setDepthwiseC16Override(c16);
      testConv(name);
    }
    Conv2dCpu::setDepthwiseC16Override(0);
    testDepthwiseBorderReuse(name);
    // the direct kernel on every shape it can run (AVX-512, one group, C*R*S <= 32, K <= 64), then never
    for (int direct : {2, 1}) {
      Conv2dCpu::setDirectOverride(direct);
      testConv(name);
    }
    Conv2dCpu::setDirectOverride(0);
    testStemS2(name);
  }
  // (after the cases above, whose random data stay as they were)
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (static_cast<int>(isa) > static_cast<int>(best)) continue;
    gemm::setIsaOverride(isa);
    testGemm(gemm::isaName(isa), kSkinnyThreaded);
  }
  gemm::setIsaOverride(best);
  std::printf("(%d conv cases ran the transposed GEMM orientation, %d Winograd (%d F(4x4)), %d the 16-channel "
              "depthwise kernel, %d the direct kernel)\n", gTransposed, gWinograd, gWinograd4, gDwC16, gDirect);
  std::printf("%d passed, %d failed\n", gPassed, gFailed);
  return gFailed == 0 ? 0 : 1;
}
