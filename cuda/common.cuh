// Shared by every CUDA kernel of gie: error checks, the stream of a call, device memory from the
// backend's allocator (so a user-replaced allocator sees every allocation), device properties, and the
// fused-epilogue activations in device code (layers/activation_math.h, the formulas the CPU uses).
//
// A GPU kernel is the same Kernel<Self, Op> as a CPU one (plugin/builtin.h), registered for the GPU:
//   class FooGpu final : public Kernel<FooGpu, FooOp> { void run(const KernelCall& c) const override; };
//   GIE_REGISTER_KERNEL(FooGpu, DeviceType::kGPU);
// run() gets device pointers and c.stream (a cudaStream_t); it only launches kernels on that stream:
// no allocation, no synchronization, no host<->device copies. Weights are uploaded in initialize()
// (once per engine, shared by all its contexts) into DeviceArray members, released in terminate().
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "common/error.h"
#include "kernels/epilogue.h"
#include "layers/activation_math.h"
#include "plugin/builtin.h"

namespace gie {
namespace cuda {

//! Throws gie::Error (kOUT_OF_MEMORY for allocation failures, else kINTERNAL) naming the call.
void throwCudaError(cudaError_t e, const char* what, const char* file, int line);

#define GIE_CUDA_CHECK(expr)                                                     \
    do {                                                                         \
        cudaError_t gie_e_ = (expr);                                             \
        if (gie_e_ != cudaSuccess) ::gie::cuda::throwCudaError(gie_e_, #expr, __FILE__, __LINE__); \
    } while (0)

//! After a launch: throws if the launch failed (bad configuration, no kernel image for this GPU).
inline void checkLaunch(const char* kernel) {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) throwCudaError(e, kernel, __FILE__, __LINE__);
}

inline cudaStream_t streamOf(const KernelCall& c) { return static_cast<cudaStream_t>(c.stream); }

//! Properties of the current device, read once per device.
const cudaDeviceProp& deviceProps();
inline int numSMs() { return deviceProps().multiProcessorCount; }

//! Device memory from the GPU backend's allocator (the user's, if one is set). Movable, not copyable;
//! kernels hold it through shared_ptr so that clones share uploaded weights.
class DeviceArray {
public:
    DeviceArray() = default;
    DeviceArray(size_t bytes, const char* what);
    ~DeviceArray();
    DeviceArray(const DeviceArray&) = delete;
    DeviceArray& operator=(const DeviceArray&) = delete;
    void* get() const { return ptr_; }
    size_t size() const { return bytes_; }
    template <typename T>
    T* as() const { return static_cast<T*>(ptr_); }

private:
    void* ptr_ = nullptr;
    size_t bytes_ = 0;
};

//! Allocates and copies host data to the device (synchronously; for initialize(), never for run()).
std::shared_ptr<DeviceArray> upload(const void* host, size_t bytes, const char* what);
template <typename T>
std::shared_ptr<DeviceArray> upload(const std::vector<T>& v, const char* what) {
    return upload(v.data(), v.size() * sizeof(T), what);
}

inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
//! Whether p is a multiple of `bytes`.
inline bool alignedTo(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }
//! Whether every pointer is 16-byte aligned (float4 / int4 accesses).
template <typename... T>
inline bool aligned16(const T*... p) {
    return (((reinterpret_cast<uintptr_t>(p) & 15u) == 0) && ...);
}
//! A 1-D grid for n elements with `block` threads, capped to a multiple of the SM count (grid-stride loops).
inline unsigned gridFor(int64_t n, int block = 256) {
    int64_t blocks = ceilDiv(n, block);
    int64_t cap = static_cast<int64_t>(numSMs()) * 32;
    if (blocks > cap) blocks = cap;
    return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

// ---- fused-epilogue activation in device code: the formulas of layers/activation_math.h ---------------------
//! act: an ActivationType value, or -1 (kNoActivation) for none.
__device__ __forceinline__ float applyAct(int act, float x, float alpha, float beta) {
    return activation(static_cast<ActivationType>(act), x, alpha, beta);
}

//! applyAct, out of line: one copy of the formulas per kernel instead of one per unrolled epilogue element. Inlined
//! into a GEMM epilogue unrolled over 32-128 accumulators, the switch over every activation made kernels tens of
//! thousands of instructions long (the INT8 GEMMs' PTX: 58,000 lines), slow from instruction fetch alone.
static __device__ __noinline__ float applyActOutOfLine(int act, float x, float alpha, float beta) { return applyAct(act, x, alpha, beta); }

//! The epilogue activation of the unrolled GEMM / convolution epilogues: none and ReLU (the common cases) inline, the
//! others out of line (applyActOutOfLine). The same arithmetic as applyAct.
__device__ __forceinline__ float applyActCompact(int act, float x, float alpha, float beta) {
    constexpr int kRelu = static_cast<int>(ActivationType::kRELU);
    if (act == kRelu) return applyAct(kRelu, x, 0.f, 0.f);
    return act < 0 ? x : applyActOutOfLine(act, x, alpha, beta);
}

//! The activation of N values (one epilogue chunk) with the choice made once per chunk: none and the activations of
//! modern networks (ReLU, ReLU6 / clip, leaky ReLU, GELU in both forms, SiLU, hard swish, sigmoid) inline, N copies
//! each; the others through applyActOutOfLine. For epilogues that run as a rolled loop over chunks (the FP16
//! convolution's storeChunk8): an out-of-line call there, with the accumulators of the later passes live across it,
//! made the compiler save and restore them around every element (ConvNeXt's 1x1 + GELU ran 3x slower than with ReLU).
//! The same arithmetic as applyAct.
template <int N>
__device__ __forceinline__ void applyActChunk(int act, float (&v)[N], float alpha, float beta) {
    using A = ActivationType;
#define GIE_ACT_CHUNK_CASE_(name)                                                    \
    case static_cast<int>(A::name):                                                  \
        _Pragma("unroll") for (int j = 0; j < N; ++j) v[j] = activation<A::name>(v[j], alpha, beta); \
        return;
    switch (act) {
        GIE_ACT_CHUNK_CASE_(kRELU)
        GIE_ACT_CHUNK_CASE_(kRELU6)
        GIE_ACT_CHUNK_CASE_(kCLIP)
        GIE_ACT_CHUNK_CASE_(kLEAKY_RELU)
        GIE_ACT_CHUNK_CASE_(kGELU)
        GIE_ACT_CHUNK_CASE_(kGELU_TANH)
        GIE_ACT_CHUNK_CASE_(kSILU)
        GIE_ACT_CHUNK_CASE_(kHARD_SWISH)
        GIE_ACT_CHUNK_CASE_(kSIGMOID)
        default:
            if (act < 0) return;
#pragma unroll
            for (int j = 0; j < N; ++j) v[j] = applyActOutOfLine(act, v[j], alpha, beta);
            return;
    }
#undef GIE_ACT_CHUNK_CASE_
}

//! The epilogue as passed to device code: y = act(acc + bias[k] + residual[index of y]).
struct DeviceEpilogue {
    const float* bias = nullptr;      // per output channel, nullable
    const float* residual = nullptr;  // same layout and strides as the output, nullable
    int act = static_cast<int>(kNoActivation);  // ActivationType, -1: none
    float alpha = 0.f, beta = 0.f;
};

}  // namespace cuda
}  // namespace gie
