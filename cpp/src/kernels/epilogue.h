// Fused epilogue description shared by the CPU GEMM / convolution kernels:
//   y = act(acc + bias[k] + residual[same index as y])
// The activation is any gie::ActivationType (kNoActivation: none); its formula is layers/activation_math.h,
// applied on the CPU by gemm::activateRow / gemm::activationRowFn (kernels/activation_cpu.cpp), the same
// code the unfused Activation kernel runs.
#pragma once

#include "layers/activation_math.h"

namespace gie::cpu {

struct Epilogue {  // y = act(acc + bias[k] + residual[same index as y])
  const float* bias = nullptr;      // per output channel (conv) / per column N (sgemmEpilogue), nullable
  const float* residual = nullptr;  // same layout and strides as the output, nullable
  ActivationType act = kNoActivation;
  float alpha = 0.f, beta = 0.f;
};

}  // namespace gie::cpu
