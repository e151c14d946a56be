// Register activations of the depthwise kernels (conv2d_cpu.cpp, depthwise_s2_avx2.cpp) on GCC vectors of any lane
// count, compiled for the ISA of the function they are inlined into.
#pragma once

#include "layers/activation_math.h"

namespace gie::cpu {

// ReLU / clip / ReLU6 / leaky ReLU on a vector, with the order and NaN handling of activation_math.h's
// formulas (minf(maxf(x, lo), hi) for clip and ReLU6); the depthwise kernels apply them in registers when no
// residual has to be added first. ReLU6 (MobileNetV2's depthwise layers) ran as a separate row pass before.
struct DwRegActKinds {
  static bool inRegisters(ActivationType t) {
    return t == ActivationType::kRELU || t == ActivationType::kCLIP || t == ActivationType::kRELU6 ||
           t == ActivationType::kLEAKY_RELU;
  }
};
template <class Vec>
struct DwRegActT : DwRegActKinds {
  ActivationType act;
  Vec lo, hi;
  float slope;
  __attribute__((always_inline)) inline DwRegActT(ActivationType t, float alpha, float beta)
      : act(t == ActivationType::kRELU6 ? ActivationType::kCLIP : t),
        lo(Vec{} + (t == ActivationType::kCLIP ? alpha : 0.f)),
        hi(Vec{} + (t == ActivationType::kCLIP ? beta : t == ActivationType::kRELU6 ? 6.f : 0.f)), slope(alpha) {}
  __attribute__((always_inline)) inline void operator()(Vec& v) const {
    if (act == ActivationType::kCLIP) {
      v = v > lo ? v : lo;
      v = v < hi ? v : hi;
    } else if (act == ActivationType::kRELU) {
      v = v > lo ? v : lo;
    } else {
      v = v >= lo ? v : v * slope;
    }
  }
};

}  // namespace gie::cpu
