// Microbenchmark for the CPU GEMM / convolution kernels.
//   g++ -O3 -std=c++17 -Icpp/src -Icpp/include bench/cpp/bench_gemm_conv.cpp build/X/libgie_internal.a -lpthread -o bench
//   ./bench [threads...]      (default: 1 2). GIE_CPU_ISA=avx2|scalar forces a narrower ISA,
//   GIE_CONV_ORIENT=normal|transposed forces the conv GEMM orientation.
// Reports GFLOP/s for square SGEMMs and every ResNet-50 (v1.5, batch 1, 224x224) convolution
// shape, plus the summed conv time of the whole network (each shape weighted by its count).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>


#include "common/parallel.h"
#include "kernels/conv2d_cpu.h"
#include "kernels/gemm.h"

using namespace gie::cpu;

namespace {

double nowSec() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<float> randVec(size_t n) {
  static std::mt19937 rng(7);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Best-of timing: repeats until ~minTime seconds, returns the fastest single run.
template <class F>
double timeIt(F&& f, double minTime = 0.25) {
  f();  // warm-up
  double best = 1e30, total = 0;
  int reps = 0;
  while (total < minTime || reps < 3) {
    const double t0 = nowSec();
    f();
    const double dt = nowSec() - t0;
    best = std::min(best, dt);
    total += dt;
    ++reps;
  }
  return best;
}

struct ConvShape {
  const char* name;
  int64_t C, H, K, R, stride, pad, count;
};

// ResNet-50 v1.5 (torchvision): stride-2 in the 3x3 of the first bottleneck of layers 2-4.
const ConvShape kResnet50[] = {
    {"conv1 7x7s2 3->64 @224", 3, 224, 64, 7, 2, 3, 1},
    {"1x1 64->64 @56", 64, 56, 64, 1, 1, 0, 1},
    {"3x3 64->64 @56", 64, 56, 64, 3, 1, 1, 3},
    {"1x1 64->256 @56", 64, 56, 256, 1, 1, 0, 4},
    {"1x1 256->64 @56", 256, 56, 64, 1, 1, 0, 2},
    {"1x1 256->128 @56", 256, 56, 128, 1, 1, 0, 1},
    {"3x3s2 128->128 @56", 128, 56, 128, 3, 2, 1, 1},
    {"1x1s2 256->512 @56", 256, 56, 512, 1, 2, 0, 1},
    {"1x1 128->512 @28", 128, 28, 512, 1, 1, 0, 4},
    {"1x1 512->128 @28", 512, 28, 128, 1, 1, 0, 3},
    {"3x3 128->128 @28", 128, 28, 128, 3, 1, 1, 3},
    {"1x1 512->256 @28", 512, 28, 256, 1, 1, 0, 1},
    {"3x3s2 256->256 @28", 256, 28, 256, 3, 2, 1, 1},
    {"1x1s2 512->1024 @28", 512, 28, 1024, 1, 2, 0, 1},
    {"1x1 256->1024 @14", 256, 14, 1024, 1, 1, 0, 6},
    {"1x1 1024->256 @14", 1024, 14, 256, 1, 1, 0, 5},
    {"3x3 256->256 @14", 256, 14, 256, 3, 1, 1, 5},
    {"1x1 1024->512 @14", 1024, 14, 512, 1, 1, 0, 1},
    {"3x3s2 512->512 @14", 512, 14, 512, 3, 2, 1, 1},
    {"1x1s2 1024->2048 @14", 1024, 14, 2048, 1, 2, 0, 1},
    {"1x1 512->2048 @7", 512, 7, 2048, 1, 1, 0, 3},
    {"1x1 2048->512 @7", 2048, 7, 512, 1, 1, 0, 2},
    {"3x3 512->512 @7", 512, 7, 512, 3, 1, 1, 2},
};

void benchGemm() {
  for (int64_t n : {128, 256, 512, 1024, 2048}) {
    auto A = randVec(n * n), B = randVec(n * n), C = randVec(n * n);
    const double t = timeIt([&] {
      sgemm(false, false, n, n, n, 1.f, A.data(), n, B.data(), n, 0.f, C.data(), n);
    });
    std::printf("  sgemm NN %5lld^3 : %8.3f ms  %7.1f GFLOP/s\n", (long long)n, t * 1e3,
                2.0 * n * n * n / t * 1e-9);
  }
  {  // fully-connected layer of ResNet-50: M=1
    const int64_t M = 1, N = 1000, K = 2048;
    auto A = randVec(M * K), B = randVec(N * K), C = randVec(M * N);
    const double t = timeIt([&] {
      sgemm(false, true, M, N, K, 1.f, A.data(), K, B.data(), K, 0.f, C.data(), N);
    });
    std::printf("  sgemm NT 1x1000x2048 (fc): %8.3f ms  %7.1f GFLOP/s\n", t * 1e3,
                2.0 * M * N * K / t * 1e-9);
  }
}

void benchResnet() {
  double totalMs = 0, totalFlop = 0;
  for (const ConvShape& s : kResnet50) {
    Conv2dParams p{1, s.C, s.H, s.H, s.K, s.R, s.R};
    p.strideH = p.strideW = s.stride;
    p.padTop = p.padLeft = p.padBottom = p.padRight = s.pad;
    const int64_t P = p.P(), Q = p.Q();
    auto x = randVec(s.C * s.H * s.H), w = randVec(s.K * s.C * s.R * s.R), bias = randVec(s.K);
    std::vector<float> y(s.K * P * Q);
    Conv2dCpu conv(p, w.data());
    std::vector<unsigned char> ws(conv.workspaceSize() + 1);
    Epilogue ep;
    ep.bias = bias.data();
    ep.act = gie::ActivationType::kRELU;  // conv + folded BN + ReLU
    const double t = timeIt([&] { conv.run(1, x.data(), y.data(), s.K * P * Q, ep, ws.data()); });
    const double flop = 2.0 * s.K * P * Q * s.C * s.R * s.R;
    std::printf("  %-24s x%lld: %8.3f ms  %7.1f GFLOP/s%s\n", s.name, (long long)s.count, t * 1e3,
                flop / t * 1e-9, conv.transposedGemm() ? "  (transposed)" : "");
    totalMs += t * 1e3 * s.count;
    totalFlop += flop * s.count;
  }
  std::printf("  ResNet-50 conv total: %.2f ms  (%.2f GFLOP, %.1f GFLOP/s)\n", totalMs,
              totalFlop * 1e-9, totalFlop / (totalMs * 1e-3) * 1e-9);
}

void benchDepthwise() {  // MobileNet-v2 style 3x3 depthwise convolutions (pad 1)
  const int64_t shapes[][3] = {{32, 112, 1}, {96, 112, 2}, {144, 56, 1}, {192, 28, 1}, {576, 14, 1},
                               {960, 7, 1}};
  for (auto& sh : shapes) {
    const int64_t C = sh[0], H = sh[1], st = sh[2];
    Conv2dParams p{1, C, H, H, C, 3, 3};
    p.strideH = p.strideW = st;
    p.padTop = p.padLeft = p.padBottom = p.padRight = 1;
    p.groups = C;
    const int64_t P = p.P(), Q = p.Q();
    auto x = randVec(C * H * H), w = randVec(C * 9), bias = randVec(C);
    std::vector<float> y(C * P * Q);
    Conv2dCpu conv(p, w.data());
    Epilogue ep;
    ep.bias = bias.data();
    ep.act = gie::ActivationType::kCLIP;  // ReLU6
    ep.alpha = 0.f;
    ep.beta = 6.f;
    const double t = timeIt([&] { conv.run(1, x.data(), y.data(), C * P * Q, ep, nullptr); });
    std::printf("  dw3x3 s%lld C=%-4lld @%-3lld: %8.3f ms  %7.1f GFLOP/s\n", (long long)st,
                (long long)C, (long long)H, t * 1e3, 2.0 * C * P * Q * 9 / t * 1e-9);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> threads;
  for (int i = 1; i < argc; ++i) threads.push_back(std::atoi(argv[i]));
  if (threads.empty()) threads = {1, 2};
  // GIE_CONV_ORIENT=normal|transposed forces the conv GEMM orientation (default: automatic).
  if (const char* o = std::getenv("GIE_CONV_ORIENT"))
    Conv2dCpu::setOrientationOverride(o[0] == 'n' ? 1 : o[0] == 't' ? 2 : 0);
  std::printf("ISA: %s\n", gemm::isaName(gemm::activeIsa()));
  for (int t : threads) {
    gie::setCpuThreads(t);  // before the convolutions are constructed: their GEMM orientation depends on it
    std::printf("== %d thread(s)\n", t);
    benchGemm();
    benchResnet();
    benchDepthwise();
  }
  return 0;
}
