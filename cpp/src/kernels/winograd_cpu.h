// Winograd F(2x2, 3x3) / F(4x4, 3x3) convolution on the CPU (3x3, stride 1, dilation 1, one group; any
// padding). Used by Conv2dCpu for the dense 3x3 layers (ResNet, GoogLeNet), where it replaces 36 multiply-adds
// per 2x2 output tile by 16 (144 per 4x4 tile by 36): see docs/cpu_kernels.md ("Winograd").
#pragma once

#include <cstdint>
#include <vector>

#include "conv2d_cpu.h"

namespace gie::cpu {

class WinogradConv3x3 {
 public:
  // p: groups == 1, R == S == 3, strides and dilations 1 (eligible() says so). weights: K x C x 3 x 3.
  // tile: output tile size M (2 or 4); 0 = tileFor(p).
  WinogradConv3x3(const Conv2dParams& p, const float* weights, int tile = 0);
  static bool eligible(const Conv2dParams& p);
  // Whether it is expected to beat the implicit-im2col GEMM on this shape (enough channels for the
  // transforms to be a small part of the work, a plane of at least 4x4 outputs).
  static bool profitable(const Conv2dParams& p);
  // The tile size chosen for a shape: 4 on planes of at least 8x8 outputs, else 2.
  static int tileFor(const Conv2dParams& p);
  int tile() const { return m_; }
  // Same contract as Conv2dCpu::run.
  void run(int64_t batch, const float* x, float* y, int64_t yBatchStride, const Epilogue& ep,
           int64_t xBatchStride) const;

 private:
  Conv2dParams p_;
  int m_;                    // output tile size M (2 or 4)
  int64_t P_, Q_, TY_, TX_;  // output size, tiles per column / row (ceil(P/M), ceil(Q/M))
  int64_t rowsPerBlock_;     // tile rows transformed and multiplied together (their data stays in L2)
  std::vector<gemm::PackedA> u_;  // (M+2)^2 transformed weight matrices U[xi] (K x C), pre-packed
};

}  // namespace gie::cpu
