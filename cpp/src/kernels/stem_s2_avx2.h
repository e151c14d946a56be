// 3x3 stride-2 convolution with few input channels (the MobileNetV2 / EfficientNet-B0 stem, 3 -> 32 @224), pixels
// in AVX2 lanes (stem_s2_avx2.cpp). Used by Conv2dCpu's direct path on AVX2 CPUs for the shapes of stemS2Eligible
// (conv2d_cpu.cpp decides where it pays off); the caller threads over bands of output rows.
#pragma once
#include <cstdint>

#include "epilogue.h"

namespace gie::cpu {

// 3x3, both strides 2, dilation 1, one group, left padding 0 or 1, at most kStemS2MaxC input channels, output
// channels a multiple of 4 (the kernel's channel block), output rows of 8 pixels or more.
constexpr int64_t kStemS2MaxC = 8;
bool stemS2Eligible(int64_t C, int64_t K, int64_t R, int64_t S, int64_t strideH, int64_t strideW, int64_t dilH,
                    int64_t dilW, int64_t groups, int64_t padTop, int64_t padLeft, int64_t Q);

// The layout stemS2Rows reads: per block of 4 output channels, C*9 taps (c, r, s order) x 4 channels.
void stemS2PackWeights(const float* w /*K x C x 3 x 3*/, int64_t K, int64_t C, float* out /*K * C * 9*/);

struct StemS2Args {
  const float* x;    // input, C x H x W
  float* y;          // output, K x P x Q
  const float* res;  // nullable, K x P x Q, added after the taps
  const float* w;    // stemS2PackWeights
  const float* bias; // nullable, K
  int64_t C, H, W, K, P, Q, pt, pl;
  ActivationType act;  // applied in registers when ReLU / clip / ReLU6 / leaky ReLU, else per row afterwards
  float actAlpha, actBeta;
};
// Output rows [p0, p1): y = act(bias + taps [+ res]). Thread-safe (per-thread scratch). Defined on x86 only.
void stemS2RowsAvx2(const StemS2Args& a, int64_t p0, int64_t p1);

}  // namespace gie::cpu
