// Depthwise convolution micro-benchmark: the 3x3 / 5x5 depthwise shapes of MobileNetV2 and EfficientNet-B0
// (batch 1, "same" padding, bias + ReLU6 fused), best of 30 runs each, on the thread count of GIE_NUM_THREADS.
// Build against a dev build's static library:
//   g++ -O2 -std=c++17 -Icpp/src -Icpp/include bench/cpp/bench_depthwise.cpp -o /tmp/bench_dw \
//       build/NAME/libgie_internal.a -pthread && GIE_NUM_THREADS=1 /tmp/bench_dw
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <random>
#include "kernels/conv2d_cpu.h"
#include "kernels/gemm.h"
#include "layers/activation_math.h"
using namespace gie; using namespace gie::cpu;
int main(int argc,char**argv){
  // C, H = W, stride, R = S
  const int64_t shapes[][4] = {{32, 112, 1, 3}, {96, 112, 2, 3}, {144, 56, 1, 3}, {144, 56, 2, 3}, {192, 28, 1, 3},
                               {576, 14, 1, 3}, {960, 7, 1, 3}, {144, 56, 2, 5}, {240, 28, 2, 3}, {672, 14, 2, 5},
                               {240, 28, 1, 5}, {672, 14, 1, 5}, {1152, 7, 1, 5}};
  double tot=0;
  for(auto&sh:shapes){ int64_t C=sh[0],H=sh[1],st=sh[2],R=sh[3];
    Conv2dParams p{1,C,H,H,C,R,R}; p.strideH=p.strideW=st; p.padTop=p.padLeft=p.padBottom=p.padRight=R/2; p.groups=C;
    int64_t P=p.P(),Q=p.Q(); std::mt19937 g(1); std::uniform_real_distribution<float> u(-1,1);
    std::vector<float> x(C*H*H),w(C*R*R),b(C),y(C*P*Q); for(auto&v:x)v=u(g); for(auto&v:w)v=u(g); for(auto&v:b)v=u(g);
    Conv2dCpu conv(p,w.data()); Epilogue ep; ep.bias=b.data(); ep.act=ActivationType::kCLIP; ep.alpha=0; ep.beta=6;
    double best=1e9; for(int r=0;r<30;++r){auto t0=std::chrono::steady_clock::now(); conv.run(1,x.data(),y.data(),C*P*Q,ep,nullptr);
      best=std::min(best,std::chrono::duration<double,std::milli>(std::chrono::steady_clock::now()-t0).count());}
    double cs=0; for(auto v:y) cs+=v;
    tot+=best; printf("dw%lldx%lld s%lld C=%-4lld @%-3lld %.4f ms %.1f GFLOP/s  cs=%.6g\n",(long long)R,(long long)R,(long long)st,(long long)C,(long long)H,best,2.0*C*P*Q*R*R/best*1e-6,cs);}
  printf("total %.3f ms\n",tot);
}
