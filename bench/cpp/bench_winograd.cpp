// Winograd F(2x2, 3x3) against the implicit-im2col GEMM on the dense 3x3 stride-1 convolutions of ResNet-50 and
// GoogLeNet (batch 1, bias + ReLU fused): both variants of a shape are run alternately (so that both see the
// same machine load) and the best of --reps runs of each is kept. Threads: GIE_NUM_THREADS.
// Build against a dev build's static library:
//   g++ -O2 -std=c++17 -Icpp/src -Icpp/include bench/cpp/bench_winograd.cpp -o /tmp/bench_wg \
//       build/NAME/libgie_internal.a -pthread && GIE_NUM_THREADS=1 /tmp/bench_wg [reps]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "kernels/conv2d_cpu.h"
#include "layers/activation_math.h"

using namespace gie;
using namespace gie::cpu;

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 20;
  // C, K, H = W, count in the network
  const int64_t shapes[][4] = {{64, 64, 56, 3},    {128, 128, 28, 3}, {256, 256, 14, 5}, {512, 512, 7, 2},  // ResNet-50
                               {64, 192, 56, 1},   {96, 128, 28, 1},  {128, 192, 28, 1}, {96, 208, 14, 1},   // GoogLeNet
                               {112, 224, 14, 1},  {128, 256, 14, 1}, {144, 288, 14, 1}, {160, 320, 14, 1},
                               {160, 320, 7, 1},   {192, 384, 7, 1}};
  double totG = 0, totW = 0;
  for (auto& sh : shapes) {
    const int64_t C = sh[0], K = sh[1], H = sh[2], cnt = sh[3];
    Conv2dParams p{1, C, H, H, K, 3, 3};
    p.padTop = p.padLeft = p.padBottom = p.padRight = 1;
    std::mt19937 g(1);
    std::uniform_real_distribution<float> u(-1, 1);
    std::vector<float> x(C * H * H), w(K * C * 9), b(K), y1(K * H * H), y2(K * H * H);
    for (auto& v : x) v = u(g);
    for (auto& v : w) v = u(g) * 0.1f;
    for (auto& v : b) v = u(g);
    Conv2dCpu::setWinogradOverride(1);
    Conv2dCpu gemmConv(p, w.data());
    Conv2dCpu::setWinogradOverride(2);
    Conv2dCpu winoConv(p, w.data());
    Conv2dCpu::setWinogradOverride(0);
    Conv2dCpu autoConv(p, w.data());
    Epilogue ep;
    ep.bias = b.data();
    ep.act = ActivationType::kRELU;
    double bestG = 1e9, bestW = 1e9;
    for (int r = 0; r < reps; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      gemmConv.run(1, x.data(), y1.data(), K * H * H, ep, nullptr);
      auto t1 = std::chrono::steady_clock::now();
      winoConv.run(1, x.data(), y2.data(), K * H * H, ep, nullptr);
      auto t2 = std::chrono::steady_clock::now();
      bestG = std::min(bestG, std::chrono::duration<double, std::milli>(t1 - t0).count());
      bestW = std::min(bestW, std::chrono::duration<double, std::milli>(t2 - t1).count());
    }
    double maxd = 0, maxy = 0;
    for (size_t i = 0; i < y1.size(); ++i) {
      maxd = std::max(maxd, (double)std::fabs(y1[i] - y2[i]));
      maxy = std::max(maxy, (double)std::fabs(y1[i]));
    }
    const bool autoW = autoConv.path() == Conv2dCpu::Path::kWinograd;
    totG += cnt * bestG;
    totW += cnt * (autoW ? bestW : bestG);
    std::printf("3x3 %4lld->%-4lld @%-3lld x%lld  gemm %.3f ms  winograd %.3f ms  %.2fx  auto=%s  max|diff| %.1e (max|y| %.1f)\n",
                (long long)C, (long long)K, (long long)H, (long long)cnt, bestG, bestW, bestG / bestW,
                autoW ? "winograd" : "gemm", maxd, maxy);
  }
  std::printf("weighted total: gemm %.3f ms, auto %.3f ms\n", totG, totW);
}
