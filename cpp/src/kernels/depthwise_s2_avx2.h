// Depthwise 3x3 stride-2 convolution, one channel plane at a time, 8 output pixels per AVX2 vector
// (depthwise_s2_avx2.cpp). Used by Conv2dCpu's depthwise path on AVX2 CPUs for the shapes of
// dwStride2RowsEligible; the caller picks it, threads over planes and applies non-register activations.
#pragma once
#include <cstdint>

#include "epilogue.h"

namespace gie::cpu {

// 3x3, both strides 2, dilation 1, channel multiplier 1, even input width, left padding 0 or 1 (folded into the
// even / odd column split), output rows of 48 pixels or more: on shorter rows (28, 14, 7) the few vectors per row
// leave the FMA chains latency-bound and the 8-channel kernel is 1.4-3x faster (Zen 3, 1 thread, hot).
bool dwStride2RowsEligible(int64_t W, int64_t R, int64_t S, int64_t strideH, int64_t strideW, int64_t dilH,
                           int64_t dilW, int64_t padTop, int64_t padLeft, int64_t Q, int64_t multiplier);

struct DwS2Plane {
  const float* x;    // input plane, H x W
  float* y;          // output plane, P x Q
  const float* res;  // nullable, P x Q, added after the taps
  const float* w;    // 9 taps, row-major
  float bias;
  int64_t H, W, P, Q, pt, pl;
  ActivationType act;  // applied in registers when ReLU / clip / ReLU6 / leaky ReLU, else left to the caller
  float actAlpha, actBeta;
};
// y = (bias + taps) [+ res], then act where DwRegActKinds::inRegisters(act) (vector_activation.h); other
// activations are the caller's. Thread-safe (per-thread scratch). Defined on x86 only.
void dwStride2RowsAvx2(const DwS2Plane& a);

}  // namespace gie::cpu
