// GPU Cast between float32, float16, int8, int32 and bool with the rules of kernels/cast_cpu.cpp, bit for bit:
//   float -> int8/int32: truncate toward zero, saturate, NaN -> 0;  int32 -> int8: saturate;
//   anything -> bool: x != 0 (NaN -> true);  bool -> anything: 0 or 1 (any non-zero byte is true);
//   float32 -> float16: round to nearest even, overflow -> inf (cuda_fp16's __float2half_rn), NaN -> the CPU's
//   quiet NaN (sign | 0x7E00); float16 -> float32 exact, NaN payloads kept like common/half.h.
//   Same type (not bool): a copy. The INT8 quantization scale is not applied (integer values are converted).
// Four elements per thread with one vector load and one vector store when both pointers are aligned to
// 4 elements of their type; the tail (< 4 elements) is done first by the first threads.
#include <cuda_fp16.h>

#include <cstdint>

#include "common.cuh"
#include "layers/cast.h"

namespace gie {
namespace {

// Storage types: float (float32), uint16_t (float16 bits), int8_t (int8), int32_t (int32), uint8_t (bool).
template <typename T> struct IsFloating { static constexpr bool value = false; };
template <> struct IsFloating<float> { static constexpr bool value = true; };
template <> struct IsFloating<uint16_t> { static constexpr bool value = true; };

__device__ __forceinline__ float halfBitsToFloat(uint16_t h) {
    if ((h & 0x7C00u) == 0x7C00u && (h & 0x3FFu)) {  // NaN: keep the payload like common/half.h
        return __uint_as_float((static_cast<uint32_t>(h & 0x8000u) << 16) | 0x7F800000u | (static_cast<uint32_t>(h & 0x3FFu) << 13));
    }
    return __half2float(__ushort_as_half(h));
}

__device__ __forceinline__ uint16_t floatToHalfBits(float v) {
    if (isnan(v)) return static_cast<uint16_t>(((__float_as_uint(v) >> 16) & 0x8000u) | 0x7E00u);
    return __half_as_ushort(__float2half_rn(v));
}

// Widening: floating sources to float, integer sources to int32.
__device__ __forceinline__ float widen(float v) { return v; }
__device__ __forceinline__ float widen(uint16_t v) { return halfBitsToFloat(v); }
__device__ __forceinline__ int32_t widen(int8_t v) { return v; }
__device__ __forceinline__ int32_t widen(int32_t v) { return v; }
__device__ __forceinline__ int32_t widen(uint8_t v) { return v != 0; }

template <typename Dst> __device__ __forceinline__ Dst fromFloat(float v);
template <> __device__ __forceinline__ float fromFloat<float>(float v) { return v; }
template <> __device__ __forceinline__ uint16_t fromFloat<uint16_t>(float v) { return floatToHalfBits(v); }
template <> __device__ __forceinline__ int32_t fromFloat<int32_t>(float v) {
    if (isnan(v)) return 0;
    if (v >= 2147483648.f) return INT32_MAX;
    if (v <= -2147483648.f) return INT32_MIN;
    return static_cast<int32_t>(v);  // truncates toward zero
}
template <> __device__ __forceinline__ int8_t fromFloat<int8_t>(float v) {
    if (isnan(v)) return 0;
    if (v >= 127.f) return 127;
    if (v <= -128.f) return -128;
    return static_cast<int8_t>(static_cast<int32_t>(v));
}
template <> __device__ __forceinline__ uint8_t fromFloat<uint8_t>(float v) { return v != 0.f; }  // NaN != 0

template <typename Dst> __device__ __forceinline__ Dst fromInt(int32_t v);
template <> __device__ __forceinline__ float fromInt<float>(int32_t v) { return static_cast<float>(v); }
template <> __device__ __forceinline__ uint16_t fromInt<uint16_t>(int32_t v) { return floatToHalfBits(static_cast<float>(v)); }
template <> __device__ __forceinline__ int32_t fromInt<int32_t>(int32_t v) { return v; }
template <> __device__ __forceinline__ int8_t fromInt<int8_t>(int32_t v) { return static_cast<int8_t>(v > 127 ? 127 : v < -128 ? -128 : v); }
template <> __device__ __forceinline__ uint8_t fromInt<uint8_t>(int32_t v) { return v != 0; }

template <typename Src, typename Dst>
__device__ __forceinline__ Dst convert(Src v) {
    if constexpr (IsFloating<Src>::value) return fromFloat<Dst>(widen(v));
    else return fromInt<Dst>(widen(v));
}

template <typename T>
struct alignas(4 * sizeof(T)) Vec4 {
    T v[4];
};

template <typename Src, typename Dst, bool kVec>
__global__ void __launch_bounds__(256) castKernel(const Src* __restrict__ x, Dst* __restrict__ y, int64_t n) {
    const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
    if (kVec) {
        const int64_t n4 = n >> 2;
        const int64_t t = (n4 << 2) + tid;
        if (t < n) y[t] = convert<Src, Dst>(x[t]);
        const Vec4<Src>* __restrict__ xv = reinterpret_cast<const Vec4<Src>*>(x);
        Vec4<Dst>* __restrict__ yv = reinterpret_cast<Vec4<Dst>*>(y);
        for (int64_t i = tid; i < n4; i += step) {
            const Vec4<Src> a = xv[i];
            Vec4<Dst> b;
#pragma unroll
            for (int e = 0; e < 4; ++e) b.v[e] = convert<Src, Dst>(a.v[e]);
            yv[i] = b;
        }
    } else {
        for (int64_t i = tid; i < n; i += step) y[i] = convert<Src, Dst>(x[i]);
    }
}

template <typename Src, typename Dst>
void launchCast(const void* x, void* y, int64_t n, cudaStream_t s) {
    const bool vec = cuda::alignedTo(x, sizeof(Vec4<Src>)) && cuda::alignedTo(y, sizeof(Vec4<Dst>));
    if (vec) castKernel<Src, Dst, true><<<cuda::gridFor((n + 3) / 4, 256), 256, 0, s>>>(static_cast<const Src*>(x), static_cast<Dst*>(y), n);
    else castKernel<Src, Dst, false><<<cuda::gridFor(n, 256), 256, 0, s>>>(static_cast<const Src*>(x), static_cast<Dst*>(y), n);
    cuda::checkLaunch("castKernel");
}

// Same-type copy in 16-byte units where possible (bytes are whole elements; the tail in bytes).
template <bool kVec>
__global__ void __launch_bounds__(256) copyBytes(const uint8_t* __restrict__ x, uint8_t* __restrict__ y, int64_t bytes) {
    const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
    if (kVec) {
        const int64_t n16 = bytes >> 4;
        const int64_t t = (n16 << 4) + tid;
        if (t < bytes) y[t] = x[t];
        for (int64_t i = tid; i < n16; i += step) reinterpret_cast<uint4*>(y)[i] = reinterpret_cast<const uint4*>(x)[i];
    } else {
        for (int64_t i = tid; i < bytes; i += step) y[i] = x[i];
    }
}

template <typename Src>
void castFrom(DataType to, const void* x, void* y, int64_t n, cudaStream_t s) {
    switch (to) {
        case DataType::kFLOAT: launchCast<Src, float>(x, y, n, s); return;
        case DataType::kHALF: launchCast<Src, uint16_t>(x, y, n, s); return;
        case DataType::kINT8: launchCast<Src, int8_t>(x, y, n, s); return;
        case DataType::kINT32: launchCast<Src, int32_t>(x, y, n, s); return;
        case DataType::kBOOL: launchCast<Src, uint8_t>(x, y, n, s); return;
    }
    fail(ErrorCode::kUNSUPPORTED, "Cast: unknown output type ", static_cast<int>(to));
}

class CastGpu final : public Kernel<CastGpu, CastOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        const int64_t n = volume(c.inDims(0));
        if (n == 0) return;
        const DataType from = c.inDesc[0].type, to = op_.to;
        cudaStream_t s = cuda::streamOf(c);
        if (from == to && from != DataType::kBOOL) {
            if (c.outputs[0] == c.inputs[0]) return;
            const int64_t bytes = n * dataTypeSize(from);
            const bool vec = cuda::aligned16(c.inputs[0], c.outputs[0]);
            const auto* x = static_cast<const uint8_t*>(c.inputs[0]);
            auto* y = static_cast<uint8_t*>(c.outputs[0]);
            if (vec) copyBytes<true><<<cuda::gridFor((bytes + 15) / 16, 256), 256, 0, s>>>(x, y, bytes);
            else copyBytes<false><<<cuda::gridFor(bytes, 256), 256, 0, s>>>(x, y, bytes);
            cuda::checkLaunch("copyBytes");
            return;
        }
        switch (from) {
            case DataType::kFLOAT: castFrom<float>(to, c.inputs[0], c.outputs[0], n, s); return;
            case DataType::kHALF: castFrom<uint16_t>(to, c.inputs[0], c.outputs[0], n, s); return;
            case DataType::kINT8: castFrom<int8_t>(to, c.inputs[0], c.outputs[0], n, s); return;
            case DataType::kINT32: castFrom<int32_t>(to, c.inputs[0], c.outputs[0], n, s); return;
            case DataType::kBOOL: castFrom<uint8_t>(to, c.inputs[0], c.outputs[0], n, s); return;
        }
        fail(ErrorCode::kUNSUPPORTED, "Cast: unknown input type ", static_cast<int>(from));
    }
};
GIE_REGISTER_KERNEL(CastGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
