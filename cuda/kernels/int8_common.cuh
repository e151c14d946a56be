// What the GPU INT8 kernels share (docs/int8.md, "Kernels and formats"): the descriptor rules, a device view of
// a 4-D tensor an INT8 kernel reads or writes in real units (INT8 CHW4 with its scale, or FLOAT / HALF LINEAR),
// and the requantizing store. The arithmetic is layers/int8_math.h, as on the CPU reference; every float step is
// written with the _rn intrinsics so that nvcc cannot contract a product and a sum into one FMA (the CPU rounds
// each of them), which keeps the GPU bit-identical to the CPU after the float epilogue as well.
//
// CHW4 (common/format.h): element (n, c, hw) at n*bs + (c/4)*HW*4 + hw*4 + c%4, so one 32-bit word holds the 4
// channels of a group at one pixel: the unit every kernel here loads and stores (the dp4a operand). INT8 NHWC
// (the tensor-core convolutions' channels-last layout): element (n, c, hw) at n*bs + hw*C + c; with C % 4 == 0 the
// 4 channels c0 .. c0+3 (c0 % 4 == 0) of a pixel are one aligned word too, which is what the epilogue stores.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"
#include "common/format.h"
#include "layers/int8_math.h"

namespace gie {
namespace cuda {
namespace int8gpu {

// ---- host: descriptor rules ---------------------------------------------------------------------------------------
inline bool usableScale(float s) { return s > 0.f && s < 3.0e38f; }
//! A 4-D INT8 CHW4 tensor with a usable scale.
inline bool quantizedChw4(const TensorDesc& d) {
    return d.type == DataType::kINT8 && d.format == TensorFormat::kCHW4 && d.dims.nbDims == 4 && usableScale(d.scale);
}
//! A 4-D INT8 NHWC tensor with a usable scale whose channels are a multiple of `multiple` (4: a pixel's channel groups
//! are aligned words, what the epilogue's word stores and residual loads need; 16: the tensor-core loaders' 16-byte
//! chunks), packed (NHWC tensors are never views).
inline bool quantizedNhwc(const TensorDesc& d, int64_t multiple) {
    return d.type == DataType::kINT8 && d.format == TensorFormat::kNHWC && d.dims.nbDims == 4 && usableScale(d.scale) &&
           d.dims.d[1] % multiple == 0 && !isStrided(d);
}
//! A 4-D INT8 NHWC tensor of one pixel per image, (N, C, 1, 1): its bytes lie exactly as LINEAR rows of C.
inline bool nhwcLaidOutAsLinear(const TensorDesc& d) {
    return quantizedNhwc(d, 1) && d.dims.d[2] == 1 && d.dims.d[3] == 1;
}
//! An INT8 LINEAR tensor of any rank with a usable scale (a fully connected layer's 2-D input or output).
inline bool quantizedLinear(const TensorDesc& d) {
    return d.type == DataType::kINT8 && d.format == TensorFormat::kLINEAR && usableScale(d.scale);
}
//! A 4-D FLOAT or HALF LINEAR tensor (the float side of an INT8 kernel: its output when the consumer is not INT8).
inline bool floatLinear4(const TensorDesc& d) {
    return (d.type == DataType::kFLOAT || d.type == DataType::kHALF) && d.format == TensorFormat::kLINEAR && d.dims.nbDims == 4;
}
//! Every offset inside one image of these 4-D tensors fits a 32-bit int (the kernels index images in 32 bits).
inline bool imageFits32(const TensorDesc& d) {
    const int64_t n = formatVolume(d.dims, d.format) / (d.dims.d[0] > 0 ? d.dims.d[0] : 1);
    return n < (int64_t(1) << 31) && d.dims.d[0] < (int64_t(1) << 31);
}

// ---- device view of a 4-D tensor in real units ---------------------------------------------------------------------
enum Kind : int { kInt8Chw4 = 0, kFloat = 1, kHalf = 2, kInt8Linear = 3, kInt8Nhwc = 4 };

struct RealTensor {
    void* p = nullptr;  // null: absent (an optional residual)
    int kind = kFloat;
    float scale = 1.f;    // INT8: real = scale * q
    int64_t bs = 0;       // batch stride, elements
    int cp = 0;           // kInt8Nhwc: channels per pixel (C, a multiple of 4)
};

//! The view of a descriptor the kernel accepted (quantizedChw4, quantizedNhwc(d, 4), quantizedLinear or floatLinear4).
inline RealTensor realTensor(const void* p, const TensorDesc& d) {
    RealTensor t;
    t.p = const_cast<void*>(p);
    t.kind = d.type == DataType::kINT8 ? (d.format == TensorFormat::kCHW4 ? kInt8Chw4 : d.format == TensorFormat::kNHWC ? kInt8Nhwc : kInt8Linear)
             : d.type == DataType::kHALF ? kHalf : kFloat;
    t.scale = d.scale;
    t.bs = d.strides.d[0];
    t.cp = t.kind == kInt8Nhwc ? static_cast<int>(d.dims.d[1]) : 0;
    return t;
}

//! Offset of (n, c, hw) in a tensor of HW pixels per plane (kind decides CHW4, NHWC or LINEAR; a 2-D (rows, channels)
//! tensor is HW = 1 with bs = its row length).
__device__ __forceinline__ int64_t offsetOf(const RealTensor& t, int n, int c, int hw, int HW) {
    const int64_t in = t.kind == kInt8Chw4   ? (c >> 2) * (HW * 4) + hw * 4 + (c & 3)
                       : t.kind == kInt8Nhwc ? static_cast<int64_t>(hw) * t.cp + c
                                             : static_cast<int64_t>(c) * HW + hw;
    return static_cast<int64_t>(n) * t.bs + in;
}

//! float(q) * s, rounded once (what the CPU's int8::dequantize computes).
__device__ __forceinline__ float dequant(int q, float s) { return __fmul_rn(static_cast<float>(q), s); }

__device__ __forceinline__ float loadReal(const RealTensor& t, int n, int c, int hw, int HW) {
    const int64_t o = offsetOf(t, n, c, hw, HW);
    if (t.kind == kInt8Chw4 || t.kind == kInt8Linear) return dequant(__ldg(static_cast<const signed char*>(t.p) + o), t.scale);
    if (t.kind == kHalf) return __half2float(__ldg(static_cast<const __half*>(t.p) + o));
    return __ldg(static_cast<const float*>(t.p) + o);
}

//! q = clamp(round_half_even(v / s), -128, 127) as an unsigned byte (for packing into a CHW4 word).
__device__ __forceinline__ unsigned quantByte(float v, float s) { return static_cast<unsigned>(int8::quantize(v, s)) & 0xffu; }

//! The 4 values quantized with scale s into one word (channel c0 + j in byte j; bytes from `valid` on 0).
__device__ __forceinline__ unsigned quantWord(const float v[4], float s, int valid) {
    unsigned w = 0;
#pragma unroll
    for (int j = 0; j < 4; ++j)
        if (j < valid) w |= quantByte(v[j], s) << (8 * j);
    return w;
}

//! An INT8 CHW4 / NHWC tensor: a 4-channel group of a pixel is one aligned word.
__device__ __forceinline__ bool wordKind(int kind) { return kind == kInt8Chw4 || kind == kInt8Nhwc; }

//! storeGroup for an INT8 CHW4 / NHWC tensor (wordKind): the group as one word.
__device__ __forceinline__ void storeWord(const RealTensor& t, int n, int c0, int hw, int HW, const float v[4], int valid) {
    *reinterpret_cast<unsigned*>(static_cast<signed char*>(t.p) + offsetOf(t, n, c0, hw, HW)) = quantWord(v, t.scale, valid);
}

//! Stores the values of channels c0 .. c0+3 (one CHW4 group; `valid` of them are real channels, c0 + valid <= C) of
//! pixel (n, hw): INT8 CHW4 as one word (padding channels written as 0), INT8 NHWC as one word (C % 4 == 0, so all 4
//! are real), INT8 / FLOAT / HALF LINEAR element by element.
__device__ __forceinline__ void storeGroup(const RealTensor& t, int n, int c0, int hw, int HW, const float v[4], int valid) {
    if (wordKind(t.kind)) {
        storeWord(t, n, c0, hw, HW, v, valid);
        return;
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) {
        if (j >= valid) break;
        const int64_t o = offsetOf(t, n, c0 + j, hw, HW);
        if (t.kind == kInt8Linear) static_cast<signed char*>(t.p)[o] = static_cast<signed char>(int8::quantize(v[j], t.scale));
        else if (t.kind == kHalf) static_cast<__half*>(t.p)[o] = __float2half_rn(v[j]);
        else static_cast<float*>(t.p)[o] = v[j];
    }
}

//! Byte j of a CHW4 word as a signed value.
__device__ __forceinline__ int byteOf(int word, int j) { return static_cast<int>(static_cast<signed char>(static_cast<unsigned>(word) >> (8 * j))); }

//! The requantization epilogue of the INT8 convolution / fully connected kernels (the CPU's int8cpu::epilogueRow):
//! per output channel, the bias in accumulator units and the accumulator's scale s_x * s_w[k]; the optional residual;
//! the fused activation; the output in real units.
struct Int8Epilogue {
    const int* bias = nullptr;    // INT32, in accumulator units
    const float* mult = nullptr;  // s_x * s_w[k]
    RealTensor y, res;            // res.p == nullptr: no residual
    int act = -1;
    float alpha = 0.f, beta = 0.f;
};

//! y = float(acc + bias) * mult [+ residual] -> activation in v, for output channels c0 .. c0 + valid - 1 of pixel
//! (n, pq) (one CHW4 group: c0 % 4 == 0); `pc` indexes bias / mult for channel c0. WORD_RES: the residual is absent or
//! an INT8 CHW4 / NHWC word (the 4 channels' word in one load: CHW4 words always exist, padding included; NHWC
//! residuals have C % 4 == 0); otherwise it is read element by element in its kind.
template <bool WORD_RES>
__device__ __forceinline__ void requantValuesT(const Int8Epilogue& e, int n, int c0, int pq, int PQ, const int acc[4], int pc, int valid,
                                               float (&v)[4]) {
    int rw = 0;
    if (WORD_RES && e.res.p) rw = __ldg(reinterpret_cast<const int*>(static_cast<const signed char*>(e.res.p) + offsetOf(e.res, n, c0, pq, PQ)));
#pragma unroll
    for (int j = 0; j < 4; ++j) {
        float y = __fmul_rn(static_cast<float>(acc[j] + __ldg(e.bias + pc + j)), __ldg(e.mult + pc + j));
        if (e.res.p && j < valid) y = __fadd_rn(y, WORD_RES ? dequant(byteOf(rw, j), e.res.scale) : loadReal(e.res, n, c0 + j, pq, PQ));
        v[j] = applyActCompact(e.act, y, e.alpha, e.beta);  // (ReLU inline, the rest out of line: code size)
    }
}

// The rarer cases out of line, one copy per kernel: the epilogues are unrolled over 32-256 accumulator groups per
// thread, and inlining every output / residual kind into each made the INT8 GEMM kernels 55,000+ PTX lines long (slow
// from instruction fetch). The arithmetic is the same function's. The structures go by value: a reference to a kernel
// parameter would make the compiler copy the parameter to local memory and read every use from there.
static __device__ __noinline__ void requantValuesOutOfLine(const Int8Epilogue e, int n, int c0, int pq, int PQ, int a0, int a1, int a2, int a3,
                                                           int pc, int valid, float* out) {
    const int acc[4] = {a0, a1, a2, a3};
    float v[4];
    requantValuesT<false>(e, n, c0, pq, PQ, acc, pc, valid, v);
#pragma unroll
    for (int j = 0; j < 4; ++j) out[j] = v[j];
}
static __device__ __noinline__ void storeGroupOutOfLine(const RealTensor t, int n, int c0, int hw, int HW, float v0, float v1, float v2, float v3,
                                                        int valid) {
    const float v[4] = {v0, v1, v2, v3};
    storeGroup(t, n, c0, hw, HW, v, valid);
}

//! The requantization of one group (requantValuesT): inline for no residual or an INT8 word residual, out of line
//! otherwise.
__device__ __forceinline__ void requantValues(const Int8Epilogue& e, int n, int c0, int pq, int PQ, const int acc[4], int pc, int valid,
                                              float (&v)[4]) {
    if (!e.res.p || wordKind(e.res.kind)) {
        requantValuesT<true>(e, n, c0, pq, PQ, acc, pc, valid, v);
    } else {
        float o[4];
        requantValuesOutOfLine(e, n, c0, pq, PQ, acc[0], acc[1], acc[2], acc[3], pc, valid, o);
#pragma unroll
        for (int j = 0; j < 4; ++j) v[j] = o[j];
    }
}

//! requantValues, stored in the output's format (storeGroup): an INT8 CHW4 / NHWC word inline, the others out of line.
__device__ __forceinline__ void requantStore(const Int8Epilogue& e, int n, int c0, int pq, int PQ, const int acc[4], int pc, int valid) {
    float v[4];
    requantValues(e, n, c0, pq, PQ, acc, pc, valid, v);
    if (wordKind(e.y.kind))
        storeWord(e.y, n, c0, pq, PQ, v, valid);
    else
        storeGroupOutOfLine(e.y, n, c0, pq, PQ, v[0], v[1], v[2], v[3], valid);
}

}  // namespace int8gpu
}  // namespace cuda
}  // namespace gie
