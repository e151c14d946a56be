// Shared pieces of the FP16 convolutions (conv2d_implicit_gemm_f16.cu, conv2d_depthwise_f16.cu): the
// (type, format) combinations they accept, the per-call arguments read from the descriptors at enqueue, and
// the fused epilogue y = act(acc + bias[k] + residual) with the store into the output's format.
//
// Formats (common/format.h): the input is HALF HWC8, element (n, c, h, w) at n*xStride + (h*W + w)*Cp + c with
// Cp = roundUp(C, 8); its padding channels are zero by contract. The output is HALF HWC8 (padding channels written
// as zeros), HALF LINEAR or FLOAT LINEAR; LINEAR outputs may have a batch stride larger than packed (a channel
// slice of a concatenation). The residual (input 1, the output's shape) has the output's format but may differ in
// type (a layer pinned to FP16 with an FP32 output type reads a HALF residual and writes FLOAT).
// FP16 numerics (issue 12): half operands, FP32 accumulation, bias / residual / activation in FP32, one
// rounding to half where a HALF output is stored.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"
#include "common/format.h"
#include "layers/convolution.h"
#include "layers/fused_activation.h"

namespace gie {
namespace cuda {
namespace convf16 {

//! How the output or the residual is stored.
enum class OutMode : int { kHalfHwc8 = 0, kHalfLinear = 1, kFloatLinear = 2 };

//! One FP16 convolution call (by value into the kernels). Offsets inside one image fit in 32 bits (checked on
//! the host); batch offsets are 64-bit.
struct F16ConvArgs {
    const __half* x = nullptr;  // HWC8
    const __half* w = nullptr;  // prepared weights (layout per kernel)
    const float* bias = nullptr;
    const void* residual = nullptr;  // the output's shape, stored as rmode says
    void* y = nullptr;
    int64_t xStride = 0, yStride = 0, rStride = 0;  // batch strides in elements
    int N = 0, H = 0, W = 0, Cp = 0;                // input; Cp = roundUp(C, 8)
    int K = 0, Kp = 0, P = 0, Q = 0;                // output; Kp = roundUp(K, 8)
    int R = 1, S = 1, sh = 1, sw = 1, pt = 0, pl = 0, dh = 1, dw = 1;
    int M = 0;                                      // N*P*Q: output pixels of this call
    int act = static_cast<int>(kNoActivation);
    float alpha = 0.f, beta = 0.f;
    OutMode mode = OutMode::kHalfHwc8, rmode = OutMode::kHalfHwc8;  // output, residual
};

// ---- host side -------------------------------------------------------------------------------------------

//! supportsFormatCombination of both FP16 convolutions: input 0 HALF HWC8; the output and the residual (input 1)
//! each HALF HWC8, HALF LINEAR or FLOAT LINEAR, both in the same format (the kernels handle any pair; the rule
//! only keeps the builder from timing pairs no network wants).
inline bool supportsF16Conv(int32_t pos, const TensorDesc* inOut, int32_t nbInputs) {
    const TensorDesc& d = inOut[pos];
    if (pos == 0) return d.type == DataType::kHALF && d.format == TensorFormat::kHWC8;
    const bool state = (d.type == DataType::kHALF && (d.format == TensorFormat::kHWC8 || d.format == TensorFormat::kLINEAR)) ||
                       (d.type == DataType::kFLOAT && d.format == TensorFormat::kLINEAR);
    if (pos == nbInputs && nbInputs == 2) return state && d.format == inOut[1].format;  // the output, after the residual
    return state;
}

//! configure's check that the builder chose a combination supportsF16Conv accepts.
inline void checkF16ConvFormats(const TensorDesc* in, int32_t nbInputs, const TensorDesc& out) {
    GIE_CHECK(nbInputs >= 1 && nbInputs <= 2, ErrorCode::kINTERNAL, "FP16 Convolution configured with ", nbInputs, " inputs");
    TensorDesc all[3];
    for (int32_t i = 0; i < nbInputs; ++i) all[i] = in[i];
    all[nbInputs] = out;
    for (int32_t p = 0; p <= nbInputs; ++p)
        GIE_CHECK(supportsF16Conv(p, all, nbInputs), ErrorCode::kINTERNAL, "FP16 Convolution configured with an unsupported ",
                  p < nbInputs ? "input " : "output ", p < nbInputs ? p : 0, " (", all[p].type == DataType::kHALF ? "HALF " : "non-HALF ",
                  formatName(all[p].format), ")");
}

inline OutMode outMode(const TensorDesc& d) {
    if (d.type == DataType::kFLOAT) return OutMode::kFloatLinear;
    return d.format == TensorFormat::kHWC8 ? OutMode::kHalfHwc8 : OutMode::kHalfLinear;
}

//! Whether one image of input x (HWC8) and output y keep every offset below 2^31 (the kernels index an image in 32 bits).
inline bool fitsInt32(const Dims& x, const Dims& y) {
    const int64_t lim = (int64_t(1) << 31) - 1;
    const int64_t img = x.d[2] * x.d[3] * storedChannels(x.d[1], TensorFormat::kHWC8);
    const int64_t out = y.d[2] * y.d[3] * storedChannels(y.d[1], TensorFormat::kHWC8);
    return img < lim && out < lim && x.d[0] * y.d[2] * y.d[3] < lim;
}

//! Arguments of one call, from the descriptors of this enqueue (nothing spatial is kept from configure).
inline F16ConvArgs makeArgs(const KernelCall& c, const ConvolutionOp& op, const float* bias, const cpu::Epilogue& ep) {
    const Dims& x = c.inDims(0);
    const Dims& y = c.outDims(0);
    F16ConvArgs a;
    a.x = c.in<__half>(0);
    a.bias = bias;
    a.residual = c.nbInputs > 1 ? c.inputs[1] : nullptr;
    a.y = c.outputs[0];
    a.xStride = batchStrideOf(c.inDesc[0]);
    a.yStride = batchStrideOf(c.outDesc[0]);
    a.rStride = c.nbInputs > 1 ? batchStrideOf(c.inDesc[1]) : 0;
    a.N = static_cast<int>(x.d[0]);
    a.H = static_cast<int>(x.d[2]);
    a.W = static_cast<int>(x.d[3]);
    a.Cp = static_cast<int>(storedChannels(x.d[1], TensorFormat::kHWC8));
    a.K = static_cast<int>(y.d[1]);
    a.Kp = static_cast<int>(storedChannels(y.d[1], TensorFormat::kHWC8));
    a.P = static_cast<int>(y.d[2]);
    a.Q = static_cast<int>(y.d[3]);
    a.R = static_cast<int>(op.R);
    a.S = static_cast<int>(op.S);
    a.sh = static_cast<int>(op.sh);
    a.sw = static_cast<int>(op.sw);
    a.pt = static_cast<int>(op.pt);
    a.pl = static_cast<int>(op.pl);
    a.dh = static_cast<int>(op.dh);
    a.dw = static_cast<int>(op.dw);
    a.M = static_cast<int>(x.d[0] * y.d[2] * y.d[3]);
    a.act = static_cast<int>(ep.act);
    a.alpha = ep.alpha;
    a.beta = ep.beta;
    a.mode = outMode(c.outDesc[0]);
    a.rmode = c.nbInputs > 1 ? outMode(c.inDesc[1]) : a.mode;
    GIE_CHECK(c.inDesc[0].type == DataType::kHALF && c.inDesc[0].format == TensorFormat::kHWC8, ErrorCode::kINTERNAL,
              "FP16 Convolution: input 0 is not HALF HWC8");
    // 16-byte input loads, HWC8 stores and HWC8 residual loads (every HWC8 batch stride is a multiple of 8 elements).
    GIE_CHECK(aligned16(a.x) && (a.mode != OutMode::kHalfHwc8 || aligned16(a.y)) && (a.rmode != OutMode::kHalfHwc8 || !a.residual || aligned16(a.residual)),
              ErrorCode::kINTERNAL, "FP16 Convolution: misaligned tensor address");
    GIE_CHECK(fitsInt32(x, y), ErrorCode::kINTERNAL, "FP16 Convolution: shapes ", toString(x), " -> ", toString(y),
              " exceed the 32-bit indexing checked at configure");
    return a;
}

// ---- device side -----------------------------------------------------------------------------------------

//! 16-byte cp.async of halves (the A gathers of the mma.sync and wgmma kernels), zero-filling when !valid (src must still be a valid address). The ignore-src
//! predicate form (PTX 7.5) maps straight onto the instruction's predicate, where the src-size form costs a few
//! integer instructions per copy in the main loop.
__device__ __forceinline__ void cpAsyncHalf16(void* smem, const __half* src, bool valid) {
    asm volatile("{\n .reg .pred ign;\n setp.eq.u32 ign, %2, 0;\n cp.async.cg.shared.global [%0], [%1], 16, ign;\n}\n"
                 ::"r"(static_cast<unsigned>(__cvta_generic_to_shared(smem))), "l"(src), "r"(static_cast<unsigned>(valid))
                 : "memory");
}

//! Offset of output pixel m (n, pq) in a tensor of the output's shape stored as `mode` with batch stride `stride`;
//! channel k is then at rowOffset + k (HWC8) or rowOffset + k*P*Q (LINEAR).
__device__ __forceinline__ int64_t rowOffset(const F16ConvArgs& a, int m, int64_t stride, OutMode mode) {
    const int pqs = a.P * a.Q;
    // Packed HWC8 (the usual case): n*stride + pq*Kp is m*Kp, no division.
    if (mode == OutMode::kHalfHwc8 && stride == static_cast<int64_t>(pqs) * a.Kp) return static_cast<int64_t>(m) * a.Kp;
    const int n = m / pqs, pq = m - n * pqs;
    return static_cast<int64_t>(n) * stride + (mode == OutMode::kHalfHwc8 ? int64_t(pq) * a.Kp : pq);
}
__device__ __forceinline__ int64_t outRow(const F16ConvArgs& a, int m) { return rowOffset(a, m, a.yStride, a.mode); }
__device__ __forceinline__ int64_t residualRow(const F16ConvArgs& a, int m) { return a.residual ? rowOffset(a, m, a.rStride, a.rmode) : 0; }

//! The bias of channels k0 .. k0+7: zero past K or without a bias.
__device__ __forceinline__ void loadBias8(const F16ConvArgs& a, int k0, float (&b)[8]) {
#pragma unroll
    for (int j = 0; j < 8; ++j) b[j] = a.bias && k0 + j < a.K ? __ldg(a.bias + k0 + j) : 0.f;
}

//! The 8 halves of a 16-byte chunk as floats.
__device__ __forceinline__ void unpackHalf8(const uint4& raw, float (&f)[8]) {
    const __half2* h = reinterpret_cast<const __half2*>(&raw);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
        const float2 x = __half22float2(h[j]);
        f[2 * j] = x.x;
        f[2 * j + 1] = x.y;
    }
}

//! True where the residual (if any) is HALF HWC8: its chunk of 8 channels is one 16-byte load (loadResidualChunk),
//! which the epilogues issue for several pixels ahead of the arithmetic.
__device__ __forceinline__ bool residualIsChunked(const F16ConvArgs& a) { return !a.residual || a.rmode == OutMode::kHalfHwc8; }

//! The raw HWC8 residual chunk of channels k0 .. k0+7 of output pixel m (zeros where !valid or without a residual;
//! the padding channels are stored zeros). Only where residualIsChunked(a).
__device__ __forceinline__ uint4 loadResidualChunk(const F16ConvArgs& a, int m, int k0, bool valid) {
    if (!a.residual || !valid) return make_uint4(0u, 0u, 0u, 0u);
    // (a plain load, as storeChunk8's: the output may share the residual's memory)
    return *reinterpret_cast<const uint4*>(static_cast<const __half*>(a.residual) + residualRow(a, m) + k0);
}

//! The residual of channels k0 .. k0+7 at residual row rRow as floats: zeros without a residual and for LINEAR
//! channels past K.
__device__ __forceinline__ void loadResidual8(const F16ConvArgs& a, int64_t rRow, int k0, float (&res)[8]) {
#pragma unroll
    for (int j = 0; j < 8; ++j) res[j] = 0.f;
    if (!a.residual) return;
    if (a.rmode == OutMode::kHalfHwc8) {  // 8 channels in one load (padding channels are zeros)
        unpackHalf8(*reinterpret_cast<const uint4*>(static_cast<const __half*>(a.residual) + rRow + k0), res);
        return;
    }
    const int64_t step = int64_t(a.P) * a.Q;  // LINEAR channel stride
#pragma unroll
    for (int j = 0; j < 8; ++j)
        if (k0 + j < a.K) {
            const int64_t i = rRow + (k0 + j) * step;
            res[j] = a.rmode == OutMode::kFloatLinear ? __ldg(static_cast<const float*>(a.residual) + i)
                                                      : __half2float(static_cast<const __half*>(a.residual)[i]);
        }
}

//! Stores channels k0 .. k0+7 (k0 a multiple of 8, < Kp) of the output pixel at yRow from the FP32 accumulators v,
//! the bias of these channels (loadBias8) and their residual res (loadResidual8 / loadResidualChunk): real channels
//! k < K get act(v + bias[k] + res); in HWC8 the padding channels [K, Kp) get zeros (one 16-byte store); LINEAR
//! channels past K are not written.
__device__ __forceinline__ void finishChunk8(const F16ConvArgs& a, int64_t yRow, int k0, const float (&v)[8], const float (&bias)[8],
                                             const float (&res)[8]) {
    const int64_t step = int64_t(a.P) * a.Q;  // LINEAR channel stride
    float o[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) o[j] = v[j] + bias[j] + res[j];
    applyActChunk(a.act, o, a.alpha, a.beta);  // (the choice once per chunk, the common kinds inline: no call)
#pragma unroll
    for (int j = 0; j < 8; ++j)
        if (k0 + j >= a.K) o[j] = 0.f;  // HWC8 padding channels
    if (a.mode == OutMode::kHalfHwc8) {
        uint4 out;
        __half2* oh = reinterpret_cast<__half2*>(&out);
#pragma unroll
        for (int j = 0; j < 4; ++j) oh[j] = __floats2half2_rn(o[2 * j], o[2 * j + 1]);
        *reinterpret_cast<uint4*>(static_cast<__half*>(a.y) + yRow + k0) = out;
        return;
    }
#pragma unroll
    for (int j = 0; j < 8; ++j) {
        if (k0 + j >= a.K) break;
        if (a.mode == OutMode::kFloatLinear)
            static_cast<float*>(a.y)[yRow + (k0 + j) * step] = o[j];
        else
            static_cast<__half*>(a.y)[yRow + (k0 + j) * step] = __float2half_rn(o[j]);
    }
}

//! finishChunk8 with the residual of row rRow loaded here.
__device__ __forceinline__ void storeChunk8(const F16ConvArgs& a, int64_t yRow, int64_t rRow, int k0, const float (&v)[8],
                                            const float (&bias)[8]) {
    float res[8];
    loadResidual8(a, rRow, k0, res);
    finishChunk8(a, yRow, k0, v, bias, res);
}

//! storeChunk8 that loads the bias itself.
__device__ __forceinline__ void storeChunk8(const F16ConvArgs& a, int64_t yRow, int64_t rRow, int k0, const float (&v)[8]) {
    float bias[8];
    loadBias8(a, k0, bias);
    storeChunk8(a, yRow, rRow, k0, v, bias);
}

}  // namespace convf16
}  // namespace cuda
}  // namespace gie
