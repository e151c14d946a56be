// Direct (16-output-channels-per-vector) convolution against the GEMM paths on the MobileNetV2 / EfficientNet-B0
// shapes it is meant for (and a few it loses on) (batch 1, bias + ReLU6 fused), best of 30 runs each, run alternately, hot caches and
// (second column pair) after a 64 MB flush, on the thread count of GIE_NUM_THREADS. Build against a dev build:
//   g++ -O2 -std=c++17 -Icpp/src -Icpp/include bench/cpp/bench_direct_conv.cpp -o /tmp/bench_direct \
//       build/NAME/libgie_internal.a -pthread && GIE_NUM_THREADS=1 taskset -c 0 /tmp/bench_direct
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "kernels/conv2d_cpu.h"
using namespace gie;
using namespace gie::cpu;

int main() {
  // C, K, H = W, R = S, stride, pad
  const int64_t shapes[][6] = {
      {3, 32, 224, 3, 2, 1},  {32, 16, 112, 1, 1, 0}, {144, 32, 28, 1, 1, 0}, {192, 32, 28, 1, 1, 0}, {192, 64, 14, 1, 1, 0},
      {384, 64, 14, 1, 1, 0}, {480, 80, 14, 1, 1, 0}, {240, 80, 14, 1, 1, 0}, {192, 16, 28, 1, 1, 0}, {512, 64, 14, 1, 1, 0},
      {96, 24, 56, 1, 1, 0},  {576, 96, 14, 1, 1, 0}, {960, 160, 7, 1, 1, 0}};
  std::vector<char> flush(64 << 20);
  for (auto& sh : shapes) {
    Conv2dParams p{1, sh[0], sh[2], sh[2], sh[1], sh[3], sh[3]};
    p.strideH = p.strideW = sh[4];
    p.padTop = p.padLeft = p.padBottom = p.padRight = sh[5];
    std::mt19937 g(1);
    std::uniform_real_distribution<float> u(-1, 1);
    std::vector<float> x(p.C * p.H * p.W), w(p.K * p.C * p.R * p.S), b(p.K), y(p.K * p.P() * p.Q());
    for (auto& v : x) v = u(g);
    for (auto& v : w) v = u(g);
    for (auto& v : b) v = u(g);
    Conv2dCpu::setDirectOverride(1);
    Conv2dCpu gemmConv(p, w.data());
    Conv2dCpu::setDirectOverride(2);
    Conv2dCpu direct(p, w.data());
    Conv2dCpu::setDirectOverride(0);
    Conv2dCpu autoConv(p, w.data());
    Epilogue ep;
    ep.bias = b.data();
    ep.act = ActivationType::kCLIP;
    ep.alpha = 0.f;
    ep.beta = 6.f;
    double best[2][2] = {{1e9, 1e9}, {1e9, 1e9}};
    for (int cold = 0; cold < 2; ++cold)
      for (int rep = 0; rep < 30; ++rep)
        for (int k = 0; k < 2; ++k) {
          if (cold) std::fill(flush.begin(), flush.end(), static_cast<char>(rep + k));
          const auto t0 = std::chrono::steady_clock::now();
          (k ? direct : gemmConv).run(1, x.data(), y.data(), p.K * p.P() * p.Q(), ep, nullptr);
          best[cold][k] = std::min(best[cold][k], std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
    std::printf("%3ld->%3ld %ldx%ld @%3ld s%ld: hot gemm %.3f direct %.3f | cold gemm %.3f direct %.3f ms | auto: %s\n",
                (long)p.C, (long)p.K, (long)p.R, (long)p.S, (long)p.H, (long)p.strideH, best[0][0], best[0][1], best[1][0],
                best[1][1], autoConv.path() == Conv2dCpu::Path::kDirect ? "direct" : "gemm");
  }
}
