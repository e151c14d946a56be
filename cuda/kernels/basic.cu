// GPU kernels: Identity, Constant, Activation (the semantics of kernels/basic_cpu.cpp).
//   Identity   copies any type; either side may be a channel slice of a wider tensor (batch strides).
//              The copy moves the widest unit (16/8/4/2/1 bytes) that the addresses, pitches and row size allow.
//   Constant   copies its value (converted once to the output type exactly like the CPU kernel, uploaded in
//              initialize()) into the output.
//   Activation float32 or float16 (computed in float32, rounded once at the store), the formulas of
//              layers/activation_math.h, one kernel instantiation per type; 16-byte loads/stores (float4, or 8
//              halves through half2) when aligned, a scalar tail; the output may be a slice of a wider tensor.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "common.cuh"
#include "fp16.cuh"
#include "layers/simple.h"

namespace gie {
namespace {

// ---- byte copies ---------------------------------------------------------------------------------------------
// rows x rowUnits units of U; row r of src starts at r * srcPitch units, of dst at r * dstPitch units.
template <typename U>
__global__ void __launch_bounds__(256) copyRows(const U* __restrict__ src, U* __restrict__ dst, int64_t rows, int64_t rowUnits,
                                                int64_t srcPitch, int64_t dstPitch) {
    const int64_t xStep = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
        const U* __restrict__ s = src + r * srcPitch;
        U* __restrict__ d = dst + r * dstPitch;
        for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < rowUnits; i += xStep) d[i] = s[i];
    }
}

template <typename U>
void launchCopy(const void* src, void* dst, int64_t rows, int64_t rowBytes, int64_t srcPitchBytes, int64_t dstPitchBytes,
                cudaStream_t stream) {
    const int64_t u = static_cast<int64_t>(sizeof(U));
    const int64_t rowUnits = rowBytes / u;
    const unsigned gx = cuda::gridFor(rowUnits, 256);
    const int64_t maxY = std::max<int64_t>(1, static_cast<int64_t>(cuda::numSMs()) * 32 / gx);
    const unsigned gy = static_cast<unsigned>(std::min<int64_t>(std::min<int64_t>(rows, maxY), 65535));
    copyRows<U><<<dim3(gx, gy), 256, 0, stream>>>(static_cast<const U*>(src), static_cast<U*>(dst), rows, rowUnits,
                                                  srcPitchBytes / u, dstPitchBytes / u);
    cuda::checkLaunch("copyRows");
}

//! Copies `rows` rows of rowBytes bytes (pitches in bytes) with the widest unit every address and size allows.
void copy2d(const void* src, void* dst, int64_t rows, int64_t rowBytes, int64_t srcPitchBytes, int64_t dstPitchBytes,
            cudaStream_t stream) {
    if (rows <= 0 || rowBytes <= 0) return;
    if (src == dst && srcPitchBytes == dstPitchBytes) return;
    if (srcPitchBytes == rowBytes && dstPitchBytes == rowBytes) {  // one contiguous run
        rowBytes *= rows;
        srcPitchBytes = dstPitchBytes = rowBytes;
        rows = 1;
    }
    uint64_t bits = reinterpret_cast<uintptr_t>(src) | reinterpret_cast<uintptr_t>(dst) | static_cast<uint64_t>(rowBytes);
    if (rows > 1) bits |= static_cast<uint64_t>(srcPitchBytes) | static_cast<uint64_t>(dstPitchBytes);
    if ((bits & 15) == 0) launchCopy<uint4>(src, dst, rows, rowBytes, srcPitchBytes, dstPitchBytes, stream);
    else if ((bits & 7) == 0) launchCopy<uint2>(src, dst, rows, rowBytes, srcPitchBytes, dstPitchBytes, stream);
    else if ((bits & 3) == 0) launchCopy<uint32_t>(src, dst, rows, rowBytes, srcPitchBytes, dstPitchBytes, stream);
    else if ((bits & 1) == 0) launchCopy<uint16_t>(src, dst, rows, rowBytes, srcPitchBytes, dstPitchBytes, stream);
    else launchCopy<uint8_t>(src, dst, rows, rowBytes, srcPitchBytes, dstPitchBytes, stream);
}

class IdentityGpu final : public Kernel<IdentityGpu, IdentityOp> {
public:
    using Kernel::Kernel;
    bool supportsStridedOutput() const noexcept override { return true; }
    bool supportsStridedInput() const noexcept override { return true; }
    void run(const KernelCall& c) const override {
        const Dims& d = c.inDims(0);
        const int64_t es = dataTypeSize(c.inDesc[0].type);
        cudaStream_t s = cuda::streamOf(c);
        if (d.nbDims == 0) {
            copy2d(c.inputs[0], c.outputs[0], 1, volume(d) * es, volume(d) * es, volume(d) * es, s);
            return;
        }
        const int64_t N = d.d[0];
        const int64_t item = N > 0 ? volume(d) / N : 0;
        copy2d(c.inputs[0], c.outputs[0], N, item * es, c.inDesc[0].strides.d[0] * es, c.outDesc[0].strides.d[0] * es, s);
    }
};
GIE_REGISTER_KERNEL(IdentityGpu, DeviceType::kGPU);

class ConstantGpu final : public Kernel<ConstantGpu, ConstantOp> {
public:
    using Kernel::Kernel;
    void initializeKernel() override {
        std::vector<uint8_t> value = op_.valueBytes(fields_);
        value_ = value.empty() ? nullptr : cuda::upload(value, "Constant value");
    }
    void terminate() noexcept override { value_.reset(); }
    void run(const KernelCall& c) const override {
        const int64_t bytes = volume(op_.shape) * dataTypeSize(op_.type);
        if (bytes == 0) return;
        GIE_CHECK(value_, ErrorCode::kINTERNAL, "Constant (GPU): run before initialize");
        copy2d(value_->get(), c.outputs[0], 1, bytes, bytes, bytes, cuda::streamOf(c));
    }

private:
    std::shared_ptr<cuda::DeviceArray> value_;
};
GIE_REGISTER_KERNEL(ConstantGpu, DeviceType::kGPU);

// ---- Activation ------------------------------------------------------------------------------------------------
// The formulas of layers/activation_math.h, one kernel instantiation per type and storage type (float, or __half
// computed in float and rounded once at the store).
template <int A>
__device__ __forceinline__ float act(float x, float a, float b) {
    return activation<static_cast<ActivationType>(A)>(x, a, b);
}

// rows x rowLen elements of T; x is packed (row pitch rowLen), y has row pitch yPitch. vec: rowLen, yPitch and both
// pointers are multiples of 16 bytes (or rows == 1 and only the pointers are aligned: a scalar tail).
template <int A, typename T>
__global__ void __launch_bounds__(256) activationKernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t rowLen,
                                                        int64_t yPitch, bool vec, float a, float b) {
    constexpr int kN = cuda::kPack<T>;
    const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    const int64_t xStep = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
        const T* __restrict__ xr = x + r * rowLen;
        T* __restrict__ yr = y + r * yPitch;
        int64_t done = 0;
        if (vec) {
            const int64_t nv = rowLen / kN;
            for (int64_t i = tid; i < nv; i += xStep) {
                float v[kN];
                cuda::loadPack(xr + i * kN, v);
#pragma unroll
                for (int e = 0; e < kN; ++e) v[e] = act<A>(v[e], a, b);
                cuda::storePack(yr + i * kN, v);
            }
            done = nv * kN;
        }
        for (int64_t i = done + tid; i < rowLen; i += xStep) yr[i] = cuda::fromFloat<T>(act<A>(cuda::ldFloat(xr + i), a, b));
    }
}

template <typename T>
using ActFn = void (*)(const T*, T*, int64_t, int64_t, int64_t, bool, float, float);

//! Indexed by ActivationType (GIE_ACTIVATION_TYPES lists them in enum order).
template <typename T>
ActFn<T> activationFn(ActivationType t) {
#define GIE_ACT_KERNEL_(name) activationKernel<static_cast<int>(ActivationType::name), T>,
    static constexpr ActFn<T> kKernels[] = {GIE_ACTIVATION_TYPES(GIE_ACT_KERNEL_)};
#undef GIE_ACT_KERNEL_
    return kKernels[static_cast<int>(t)];
}

class ActivationGpu final : public cuda::FloatOrHalfKernel<ActivationGpu, ActivationOp> {
public:
    using FloatOrHalfKernel::FloatOrHalfKernel;
    bool supportsStridedOutput() const noexcept override { return true; }
    void run(const KernelCall& c) const override {
        if (cuda::halfCall(c)) runTyped<__half>(c);
        else runTyped<float>(c);
    }

private:
    template <typename T>
    void runTyped(const KernelCall& c) const {
        const Dims& d = c.inDims(0);
        const int64_t n = volume(d);
        if (n == 0) return;
        const T* x = c.in<T>(0);
        T* y = c.out<T>(0);
        int64_t rows = 1, rowLen = n, yPitch = n;
        if (d.nbDims > 0 && c.outDesc[0].strides.d[0] != packedStrides(d).d[0]) {
            rows = d.d[0];
            rowLen = n / rows;
            yPitch = c.outDesc[0].strides.d[0];
        }
        constexpr int kN = cuda::kPack<T>;
        const bool aligned = cuda::aligned16(x, y);
        const bool vec = aligned && (rows == 1 || (rowLen % kN == 0 && yPitch % kN == 0));
        const unsigned gx = cuda::gridFor(vec ? (rowLen + kN - 1) / kN : rowLen, 256);
        const int64_t maxY = std::max<int64_t>(1, static_cast<int64_t>(cuda::numSMs()) * 32 / gx);
        const unsigned gy = static_cast<unsigned>(std::min<int64_t>(std::min<int64_t>(rows, maxY), 65535));
        activationFn<T>(op_.type)<<<dim3(gx, gy), 256, 0, cuda::streamOf(c)>>>(x, y, rows, rowLen, yPitch, vec, op_.alpha, op_.beta);
        cuda::checkLaunch("activationKernel");
    }
};
GIE_REGISTER_KERNEL(ActivationGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
