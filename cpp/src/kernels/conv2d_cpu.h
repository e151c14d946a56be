// 2D convolution forward (NCHW, fp32) on the CPU, built on the packed GEMM in gemm.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "epilogue.h"
#include "gemm.h"

namespace gie::cpu {

class WinogradConv3x3;

struct Conv2dParams {
  int64_t N, C, H, W;  // input NCHW
  int64_t K, R, S;     // output channels, kernel h, w
  int64_t strideH = 1, strideW = 1, padTop = 0, padLeft = 0, padBottom = 0, padRight = 0,
          dilH = 1, dilW = 1, groups = 1;
  int64_t P() const;  // output H (floor)
  int64_t Q() const;  // output W (floor)
};

// A prepared convolution: weights (K, C/groups, R, S) are copied/pre-packed at construction.
// Paths: 1x1 stride-1 unpadded -> GEMM directly on the NCHW input; depthwise (groups == C, any
// channel multiplier K/C) -> direct kernel (per channel: zero-padded phase planes, all taps of 64
// outputs accumulated in vector registers, bias / residual / activation applied while hot in L1); few taps or few
// output channels on AVX-512 -> direct kernel with 16 output channels per vector (no packing; kDirect), and on AVX2
// the 3x3 stride-2 stems (few input channels) -> pixels-in-lanes kernel (stem_s2_avx2.h; kDirect too); Winograd for
// dense 3x3 stride 1; everything else -> GEMM with im2col done inside the B-panel
// packing (no full im2col matrix is materialised). For small outputs (P*Q ~ 49..196) the GEMM is
// run as Y^T = im2col^T * W^T (less padding of the vectorised dimension) and transposed on store. Bias, residual and activation are fused into
// the GEMM tile stores. run() is const and thread-safe (scratch lives in per-thread buffers).
class Conv2dCpu {
 public:
  Conv2dCpu(const Conv2dParams& p, const float* weights);
  // Bytes of scratch run() needs for the params' N. Currently 0 (workspace may be nullptr): the
  // implicit-im2col packing uses small per-thread, cache-sized buffers inside the GEMM.
  size_t workspaceSize() const;
  // x: input NCHW contiguous (batch <= p.N); y element (n,k,p,q) at
  // y[n*yBatchStride + k*P*Q + p*Q + q]; the epilogue residual uses the same indexing as y.
  // xBatchStride: elements between images of x (-1 = C*H*W; larger when x is a channel slice of a
  // wider tensor, e.g. one output of horizontally fused convolutions).
  void run(int64_t batch, const float* x, float* y, int64_t yBatchStride, const Epilogue& ep,
           void* workspace, int64_t xBatchStride = -1) const;
  const Conv2dParams& params() const { return p_; }

  // kWinograd: dense 3x3 stride-1 layers with enough channels (winograd_cpu.h).
  // kDirect: dense convolutions with C*R*S <= 512 and K <= 80 on AVX-512 (16 output channels per vector, no
  // packing), chosen for the MobileNetV2 / EfficientNet-B0 stem, their 32 -> 16 1x1 projection and 1x1 layers with
  // 16..80 output channels on 14x14..28x28 planes (docs/cpu_kernels.md); on AVX2 the same stems by
  // stem_s2_avx2.h's kernel (stemW_ non-empty).
  enum class Path : int { kGemm1x1 = 0, kIm2col = 1, kDepthwise = 2, kWinograd = 3, kDirect = 4 };
  Path path() const { return path_; }
  // GEMM paths: true when the GEMM runs transposed (rows = output pixels, columns = output
  // channels; picked for small P*Q where it pads less) and the tile is transposed on output.
  bool transposedGemm() const { return transposed_; }
  // Test/benchmark hook for convolutions constructed afterwards: 0 = automatic (default),
  // 1 = always normal orientation, 2 = transposed whenever possible.
  static void setOrientationOverride(int mode);
  // Test/benchmark hook for convolutions constructed afterwards: 0 = Winograd where it is expected to pay off
  // (default), 1 = never, 2 = on every eligible shape (3x3, stride 1, dilation 1, 1 group) with the automatic
  // tile size, 3 / 4 = the same with F(2x2, 3x3) / F(4x4, 3x3) forced.
  static void setWinogradOverride(int mode);
  // Winograd path: its output tile size (2 or 4); 0 on other paths.
  int winogradTile() const;
  // Test/benchmark hook for depthwise convolutions constructed afterwards: 0 = the channel-blocked kernel (16
  // channels per vector on AVX-512, 8 on AVX2) where it is expected to pay off (default), 1 = never, 2 = whenever
  // it can run (AVX-512 or AVX2, channel multiplier 1).
  static void setDepthwiseC16Override(int mode);
  // Test/benchmark hook for convolutions constructed afterwards: -1 = the environment variable GIE_CPU_DIRECT_CONV
  // decides (default; unset = automatic), 0 = automatic, 1 = never the direct kernel, 2 = whenever it can run.
  static void setDirectOverride(int mode);
  // Depthwise: whether run() uses the channel-blocked kernel (16 channels per vector; 8 on AVX2).
  bool depthwiseC16() const { return !dwW16_.empty(); }
  // Depthwise: whether run() uses the AVX2 3x3 stride-2 row kernel (depthwise_s2_avx2.h; automatic mode only).
  bool depthwiseStride2Rows() const { return dwS2Rows_; }

  // Pieces of a depthwise convolution fused with the 1x1 convolution after it, one band of output rows at a time
  // (kernels/depthwise_pointwise_cpu.cpp). Both run on the calling thread only.
  // Depthwise layers on the channel-blocked kernel can compute any band of output rows.
  bool depthwiseRowsCapable() const { return !dwW16_.empty(); }
  // Output rows [p0, p1) of every channel of one image (x: its first input plane, planes H*W apart) into y: channel
  // k's rows at y + k * yPlane (yPlane >= (p1 - p0) * Q), row p0 first; ep without a residual.
  void runDepthwiseRows(const float* x, int64_t p0, int64_t p1, float* y, int64_t yPlane, const Epilogue& ep) const;
  // 1x1 layers on the normal-orientation GEMM (one group) can compute any run of pixels.
  bool pointwiseColumnsCapable() const { return path_ == Path::kGemm1x1 && !transposed_ && p_.groups == 1; }
  // n pixels whose C input channels are at x + c * ldx, each output channel k at y + k * ldy; ep.residual (nullable)
  // indexed as y.
  void runPointwiseColumns(const float* x, int64_t ldx, int64_t n, float* y, int64_t ldy, const Epilogue& ep) const;

 private:
  void runDirect(int64_t batch, const float* x, float* y, int64_t yBatchStride, const Epilogue& ep,
                 int64_t xBatchStride) const;
  void runDepthwise(int64_t batch, const float* x, float* y, int64_t yBatchStride,
                    const Epilogue& ep, int64_t xBatchStride) const;
  // The channel-blocked depthwise kernel on channels [c0, c0 + dwCLanes_) of one image (x: its first input plane),
  // output rows [pBegin, pEnd): pixel i (= p * Q + q) of channel c0 + l at y[l * yPlane + i - yOrigin], res alike.
  void dwGroupRows(const float* x, int64_t c0, int64_t pBegin, int64_t pEnd, float* y, const float* res,
                   int64_t yPlane, int64_t yOrigin, const Epilogue& ep) const;

  Conv2dParams p_;
  Path path_;
  int64_t P_ = 0, Q_ = 0;
  bool transposed_ = false;
  std::vector<gemm::PackedA> packed_;   // one per group (GEMM paths, normal orientation)
  std::vector<gemm::PackedB> packedB_;  // one per group (GEMM paths, transposed orientation)
  std::shared_ptr<const WinogradConv3x3> wino_;  // Winograd path
  gemm::AlignedFloats stemW_;           // direct path, AVX2 3x3 stride-2 stems: stemS2PackWeights (else empty)
  gemm::AlignedFloats directW_;         // direct path: per group of 16 output channels, C*R*S x 16 weights
  std::vector<int64_t> directOff_;      // direct path: per tap, its input offset for output pixel 0
  int64_t directWp_ = 0;                // direct path: zero-padded input row (0: reads the input itself, 1x1)
  gemm::AlignedFloats dwW16_;           // depthwise, channel-blocked kernel: per group of dwCLanes_ channels,
                                        // R*S x dwCLanes_ weights
  int64_t dwCLanes_ = 0;                // its channels per vector: 16 (AVX-512) or 8 (AVX2)
  bool dwS2Rows_ = false;               // depthwise: the AVX2 3x3 stride-2 row kernel
  std::vector<float> dwWeights_;        // depthwise: K x R x S
  std::vector<int64_t> dwTapOff_;       // depthwise, equal strides: offset of each tap in the phase planes
  bool dwAligned_ = false;              // depthwise: padded rows 64-byte aligned (conv2d_cpu.cpp, dwAlignedRows)
  // Valid output ranges per kernel tap: rows p in [pLo[r], pHi[r]), cols q in [qLo[s], qHi[s]).
  std::vector<int64_t> pLo_, pHi_, qLo_, qHi_;
};

}  // namespace gie::cpu
