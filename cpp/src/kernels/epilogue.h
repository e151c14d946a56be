// Fused epilogue description shared by the CPU (and later CUDA) GEMM / convolution kernels.
//   y = act(acc + bias[k] + residual[same index as y])
#pragma once

#include <algorithm>
#include <cmath>

namespace gie::cpu {

enum class ActKind : int {
  kNone = 0,
  kRelu,
  kLeakyRelu,    // alpha
  kClip,         // [alpha, beta]
  kSigmoid,
  kTanh,
  kElu,          // alpha
  kSilu,
  kGelu,         // erf form
  kHardSwish,
  kHardSigmoid,  // alpha, beta
  kSoftplus,
  kMish,
  kSelu          // alpha, beta = gamma
};

struct Epilogue {  // y = act(acc + bias[k] + residual[same index as y])
  const float* bias = nullptr;      // per output channel (conv) / per column N (sgemmEpilogue), nullable
  const float* residual = nullptr;  // same layout and strides as the output, nullable
  ActKind act = ActKind::kNone;
  float alpha = 0.f, beta = 0.f;
};

// Scalar reference implementation of every activation (exact library math).
inline float applyAct(ActKind kind, float x, float alpha, float beta) {
  switch (kind) {
    case ActKind::kNone: return x;
    case ActKind::kRelu: return x > 0.f ? x : 0.f;
    case ActKind::kLeakyRelu: return x >= 0.f ? x : alpha * x;
    case ActKind::kClip: return std::min(std::max(x, alpha), beta);
    case ActKind::kSigmoid: {
      if (x >= 0.f) return 1.f / (1.f + std::exp(-x));
      const float e = std::exp(x);
      return e / (1.f + e);
    }
    case ActKind::kTanh: return std::tanh(x);
    case ActKind::kElu: return x > 0.f ? x : alpha * std::expm1(x);
    case ActKind::kSilu: {
      const float s = x >= 0.f ? 1.f / (1.f + std::exp(-x)) : std::exp(x) / (1.f + std::exp(x));
      return x * s;
    }
    case ActKind::kGelu: return 0.5f * x * (1.f + std::erf(x * 0.70710678118654752f));
    case ActKind::kHardSwish: return x * std::min(std::max(x + 3.f, 0.f), 6.f) * (1.f / 6.f);
    case ActKind::kHardSigmoid: return std::max(0.f, std::min(1.f, alpha * x + beta));
    case ActKind::kSoftplus:
      return x > 0.f ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
    case ActKind::kMish: {
      const float sp = x > 0.f ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
      return x * std::tanh(sp);
    }
    case ActKind::kSelu: return beta * (x > 0.f ? x : alpha * std::expm1(x));
  }
  return x;
}

}  // namespace gie::cpu
