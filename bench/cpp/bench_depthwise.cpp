// Depthwise convolution micro-benchmark: the 3x3 / 5x5 depthwise shapes of MobileNetV2 and EfficientNet-B0
// (batch 1, "same" padding, bias + ReLU6 fused), best of 30 runs each, on the thread count of GIE_NUM_THREADS:
// the per-plane kernel against the 16-channel one and the default's choice (run alternately), which one that is
// (on AVX2 the 3x3 stride-2 row kernel for rows of >= 48 outputs) and its time.
// Build against a dev build's static library:
//   g++ -O2 -std=c++17 -Icpp/src -Icpp/include bench/cpp/bench_depthwise.cpp -o /tmp/bench_dw \
//       build/NAME/libgie_internal.a -pthread && GIE_NUM_THREADS=1 /tmp/bench_dw
#include <algorithm>
#include <chrono>
#include <cmath>
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
  double tot=0,tot2=0;
  for(auto&sh:shapes){ int64_t C=sh[0],H=sh[1],st=sh[2],R=sh[3];
    Conv2dParams p{1,C,H,H,C,R,R}; p.strideH=p.strideW=st; p.padTop=p.padLeft=p.padBottom=p.padRight=R/2; p.groups=C;
    int64_t P=p.P(),Q=p.Q(); std::mt19937 g(1); std::uniform_real_distribution<float> u(-1,1);
    std::vector<float> x(C*H*H),w(C*R*R),b(C),y(C*P*Q); for(auto&v:x)v=u(g); for(auto&v:w)v=u(g); for(auto&v:b)v=u(g);
    // the per-plane kernel (1) and the 16-channel one (2), run alternately; "auto" is the default's choice
    Conv2dCpu::setDepthwiseC16Override(1); Conv2dCpu plane(p,w.data());
    Conv2dCpu::setDepthwiseC16Override(2); Conv2dCpu c16(p,w.data());
    Conv2dCpu::setDepthwiseC16Override(0); Conv2dCpu autoConv(p,w.data());
    Epilogue ep; ep.bias=b.data(); ep.act=ActivationType::kCLIP; ep.alpha=0; ep.beta=6;
    std::vector<float> y2(y.size());
    std::vector<float> y3(y.size());
    double best=1e9,best2=1e9,best3=1e9; for(int r=0;r<30;++r){auto t0=std::chrono::steady_clock::now(); plane.run(1,x.data(),y.data(),C*P*Q,ep,nullptr);
      auto t1=std::chrono::steady_clock::now(); c16.run(1,x.data(),y2.data(),C*P*Q,ep,nullptr); auto t2=std::chrono::steady_clock::now();
      autoConv.run(1,x.data(),y3.data(),C*P*Q,ep,nullptr); auto t3=std::chrono::steady_clock::now();
      best=std::min(best,std::chrono::duration<double,std::milli>(t1-t0).count()); best2=std::min(best2,std::chrono::duration<double,std::milli>(t2-t1).count());
      best3=std::min(best3,std::chrono::duration<double,std::milli>(t3-t2).count());}
    double cs=0,md=0; for(size_t i=0;i<y.size();++i){cs+=y[i]; md=std::max({md,(double)std::fabs(y[i]-y2[i]),(double)std::fabs(y[i]-y3[i])});}
    // auto: the channel-blocked kernel, the AVX2 stride-2 row kernel (s2rows) or the per-plane one
    const char* ak=autoConv.depthwiseC16()?"c16":autoConv.depthwiseStride2Rows()?"s2rows":"plane"; tot+=best; tot2+=best3;
    printf("dw%lldx%lld s%lld C=%-4lld @%-3lld plane %.4f ms  c16 %.4f ms (%s)  %.2fx  auto=%s %.4f ms  cs=%.6g max|diff| %.1e\n",(long long)R,(long long)R,(long long)st,(long long)C,(long long)H,best,best2,c16.depthwiseC16()?"on":"n/a",best/best2,ak,best3,cs,md);}
  printf("total: plane %.3f ms, auto %.3f ms\n",tot,tot2);
}
