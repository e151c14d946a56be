// The 1x1 convolutions of MobileNetV2 (batch 1, 224x224) on the GEMM path: bias + ReLU6 on the expansions, bias
// alone on the projections, best of N runs (default 30) hot and after a 64 MB flush, GFLOP/s of the hot time, and
// the sum weighted by each shape's count in the network, on the thread count of GIE_NUM_THREADS. Build against a dev
// build:
//   g++ -O2 -std=c++17 -Icpp/src -Icpp/include bench/cpp/bench_pointwise.cpp -o /tmp/bench_pw \
//       build/NAME/libgie_internal.a -pthread && GIE_NUM_THREADS=1 taskset -c 0 /tmp/bench_pw [runs]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>
#include "kernels/conv2d_cpu.h"
using namespace gie;
using namespace gie::cpu;
int main(int argc, char** argv) {
  const int64_t shapes[][4] = {  // C, K, H, relu6
      {32, 16, 112, 0}, {16, 96, 112, 1}, {96, 24, 56, 0}, {24, 144, 56, 1}, {144, 24, 56, 0}, {144, 32, 28, 0},
      {32, 192, 28, 1}, {192, 32, 28, 0}, {192, 64, 14, 0}, {64, 384, 14, 1}, {384, 64, 14, 0}, {384, 96, 14, 0},
      {96, 576, 14, 1}, {576, 96, 14, 0}, {576, 160, 7, 0}, {160, 960, 7, 1}, {960, 160, 7, 0}, {960, 320, 7, 0},
      {320, 1280, 7, 1}};
  // how often each shape occurs in MobileNetV2
  const int counts[] = {1, 1, 1, 2, 1, 1, 3, 2, 1, 4, 3, 1, 3, 2, 1, 3, 2, 1, 1};
  std::vector<char> flush(64 << 20);
  int reps = argc > 1 ? atoi(argv[1]) : 30;
  double tot[2] = {0, 0};
  int si = 0;
  for (auto& sh : shapes) {
    Conv2dParams p{1, sh[0], sh[2], sh[2], sh[1], 1, 1};
    std::mt19937 g(1);
    std::uniform_real_distribution<float> u(-1, 1);
    std::vector<float> x(p.C * p.H * p.W), w(p.K * p.C), b(p.K), y(p.K * p.P() * p.Q());
    for (auto& v : x) v = u(g);
    for (auto& v : w) v = u(g);
    for (auto& v : b) v = u(g);
    Conv2dCpu conv(p, w.data());
    Epilogue ep;
    ep.bias = b.data();
    if (sh[3]) { ep.act = ActivationType::kCLIP; ep.alpha = 0.f; ep.beta = 6.f; }
    double best[2] = {1e9, 1e9};
    for (int cold = 0; cold < 2; ++cold)
      for (int rep = 0; rep < reps; ++rep) {
        if (cold) std::fill(flush.begin(), flush.end(), static_cast<char>(rep));
        const auto t0 = std::chrono::steady_clock::now();
        conv.run(1, x.data(), y.data(), p.K * p.P() * p.Q(), ep, nullptr);
        best[cold] = std::min(best[cold], std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
    double gf = 2.0 * p.C * p.K * p.H * p.W / best[0] * 1e-6;
    std::printf("%4ld->%4ld @%3ld: hot %.3f ms (%5.1f GF/s) cold %.3f ms path %d%s\n", (long)p.C, (long)p.K, (long)p.H,
                best[0], gf, best[1], (int)conv.path(), conv.transposedGemm() ? " T" : "");
    tot[0] += counts[si] * best[0];
    tot[1] += counts[si] * best[1];
    ++si;
  }
  std::printf("weighted sum (MobileNetV2 counts): hot %.3f cold %.3f ms\n", tot[0], tot[1]);
}
