// FP16 storage for GPU kernels that compute in FP32 (issue 12): a kernel templated on its storage type T (float or
// __half) loads T, computes in float and rounds to T (nearest even) only where it stores.
//   - convertTo / toFloat / fromFloat: element conversions (integer and bool types pass through unchanged);
//   - loadN / storeN: one element, or a half2 pair;
//   - loadPack / storePack: 16 bytes of T as floats (4 floats, or 8 halves converted pairwise through half2),
//     for kernels that vectorise when pointers and sizes allow and run a scalar tail otherwise;
//   - FloatOrHalfKernel: the supportsFormatCombination / output-type rule of such a kernel: every float tensor
//     is FLOAT, or every one is HALF (linear), and the op's own rule (written for FLOAT) holds with HALF read as
//     FLOAT. Index and bool tensors keep the op's rule. The CPU kernels get FP16 storage from
//     plugin/half_storage_cpu.h instead (the op's rule stays FLOAT-only there).
#pragma once

#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "common.cuh"

namespace gie {
namespace cuda {

// ---- element conversions (device) ---------------------------------------------------------------------------

template <typename To, typename From>
__device__ __forceinline__ To convertTo(From v) {
    if constexpr (std::is_same_v<To, From>) return v;
    else if constexpr (std::is_same_v<From, __half>) return static_cast<To>(__half2float(v));
    else if constexpr (std::is_same_v<To, __half>) return __float2half_rn(static_cast<float>(v));
    else return static_cast<To>(v);
}
__device__ __forceinline__ float toFloat(float v) { return v; }
__device__ __forceinline__ float toFloat(__half v) { return __half2float(v); }
template <typename T>
__device__ __forceinline__ T fromFloat(float v) { return convertTo<T>(v); }

//! Read-only cached load of one element as float.
template <typename T>
__device__ __forceinline__ float ldFloat(const T* p) { return toFloat(__ldg(p)); }

//! N = 1 element, or N = 2 neighbouring halves (one half2 load; p 4-byte aligned), as floats.
template <int N, typename T>
__device__ __forceinline__ void loadN(const T* p, float (&v)[N]) {
    if constexpr (N == 1) {
        v[0] = ldFloat(p);
    } else {
        static_assert(N == 2 && std::is_same_v<T, __half>, "loadN: one element or a pair of halves");
        const float2 f = __half22float2(__ldg(reinterpret_cast<const __half2*>(p)));
        v[0] = f.x, v[1] = f.y;
    }
}
//! Stores N = 1 element, or N = 2 neighbouring halves (one half2 store; p 4-byte aligned).
template <int N, typename T>
__device__ __forceinline__ void storeN(T* p, const float (&v)[N]) {
    if constexpr (N == 1) {
        *p = fromFloat<T>(v[0]);
    } else {
        static_assert(N == 2 && std::is_same_v<T, __half>, "storeN: one element or a pair of halves");
        *reinterpret_cast<__half2*>(p) = __floats2half2_rn(v[0], v[1]);
    }
}

// ---- 16-byte packs --------------------------------------------------------------------------------------------

//! Elements of T in 16 bytes: 4 floats, 8 halves.
template <typename T>
constexpr int kPack = 16 / static_cast<int>(sizeof(T));

//! The kPack<T> elements at p (16-byte aligned) as floats; halves convert pairwise through half2.
template <typename T>
__device__ __forceinline__ void loadPack(const T* p, float (&v)[kPack<T>]) {
    if constexpr (std::is_same_v<T, float>) {
        const float4 q = __ldg(reinterpret_cast<const float4*>(p));
        v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
    } else {
        static_assert(std::is_same_v<T, __half>, "loadPack: float or __half");
        const uint4 q = __ldg(reinterpret_cast<const uint4*>(p));
        const uint32_t w[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            __half2 h;
            std::memcpy(&h, &w[i], 4);
            const float2 f = __half22float2(h);
            v[2 * i] = f.x, v[2 * i + 1] = f.y;
        }
    }
}

//! Stores kPack<T> floats at p (16-byte aligned), rounded to T; halves round pairwise through half2 (nearest even).
//! __stwb is a plain (write-back) 16-byte store that the compiler cannot split: a struct assignment here was
//! sometimes emitted as four scalar stores in unrolled loops.
template <typename T>
__device__ __forceinline__ void storePack(T* p, const float (&v)[kPack<T>]) {
    if constexpr (std::is_same_v<T, float>) {
        __stwb(reinterpret_cast<float4*>(p), make_float4(v[0], v[1], v[2], v[3]));
    } else {
        static_assert(std::is_same_v<T, __half>, "storePack: float or __half");
        uint32_t w[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const __half2 h = __floats2half2_rn(v[2 * i], v[2 * i + 1]);
            std::memcpy(&w[i], &h, 4);
        }
        __stwb(reinterpret_cast<uint4*>(p), make_uint4(w[0], w[1], w[2], w[3]));
    }
}

// ---- the FLOAT-or-HALF rule (host) -----------------------------------------------------------------------------

//! supportsFormatCombination of a kernel whose float tensors are all FLOAT or all HALF (linear): positions
//! 0..pos are set (the builder's protocol).
template <typename Op>
bool supportsFloatOrHalf(const Op& op, int pos, const TensorDesc* inOut, int nIn, int nOut) {
    bool anyHalf = false, anyFloat = false;
    for (int p = 0; p <= pos; ++p) {
        anyHalf = anyHalf || inOut[p].type == DataType::kHALF;
        anyFloat = anyFloat || inOut[p].type == DataType::kFLOAT;
    }
    if (!anyHalf) return op.supports(pos, inOut, nIn, nOut);
    if (anyFloat) return false;
    std::vector<TensorDesc> widened(inOut, inOut + pos + 1);
    for (TensorDesc& t : widened)
        if (t.type == DataType::kHALF) {
            if (t.format != TensorFormat::kLINEAR) return false;
            t.type = DataType::kFLOAT;
        }
    return op.supports(pos, widened.data(), nIn, nOut);
}

//! Kernel<Self, Op> for a GPU kernel with FP32 and FP16 paths: float tensors all FLOAT or all HALF (linear).
//! Output types follow the op's rule with HALF inputs read as FLOAT, FLOAT outputs then becoming HALF.
template <typename Self, typename Op>
class FloatOrHalfKernel : public Kernel<Self, Op> {
public:
    using Kernel<Self, Op>::Kernel;
    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t nIn, int32_t nOut) const noexcept override {
        try {
            return supportsFloatOrHalf(this->op_, pos, inOut, nIn, nOut);
        } catch (...) {
            return false;  // out of memory
        }
    }
    int32_t getOutputDataTypes(const DataType* inputs, int32_t nbInputs, DataType* outputs) const noexcept override {
        return outputTypesHalfAsFloat(inputs, nbInputs, outputs, this->op_.nbOutputs(), [this](const DataType* i, int32_t n, DataType* o) {
            return Kernel<Self, Op>::getOutputDataTypes(i, n, o);
        });
    }
};

//! Whether a call runs the FP16 path (its first input is HALF; the rule above makes every float tensor HALF then).
inline bool halfCall(const KernelCall& c) { return c.nbInputs > 0 && c.inDesc[0].type == DataType::kHALF; }

}  // namespace cuda
}  // namespace gie
