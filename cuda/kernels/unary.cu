// GPU Unary (the semantics of kernels/unary_cpu.cpp): float32 ops with the CUDA math library's accurate
// functions (no fast-math intrinsics), ROUND half to even with the CPU's own algorithm, SIGN(NaN) = NaN; float16
// tensors run the same float32 ops (loaded as float, rounded to half once at the store);
// int32 ABS/NEG/SIGN wrapping like numpy (ABS(INT_MIN) == INT_MIN), bool NOT. One kernel instantiation per
// op (no switch in the loop); 16-byte vector loads/stores when the pointers are aligned, scalar tail.
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "common.cuh"
#include "fp16.cuh"
#include "layers/unary.h"

namespace gie {
namespace {

template <typename T>
struct alignas(16) Vec16 {
    static constexpr int kN = 16 / static_cast<int>(sizeof(T));
    T v[kN];
};

// kVec: both pointers are 16-byte aligned; 16-byte vectors, then the (< 16 / sizeof(T)) tail elements.
template <typename T, bool kVec, typename F>
__global__ void __launch_bounds__(256) mapKernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, F f) {
    const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
    if (kVec) {
        using V = Vec16<T>;
        const int64_t nv = n / V::kN;
        const int64_t t = nv * V::kN + tid;  // the tail first (the grid has at least kN threads), so that
        if (t < n) y[t] = f(x[t]);           // nothing but the loop state lives across the loop's calls
        const V* __restrict__ xv = reinterpret_cast<const V*>(x);
        V* __restrict__ yv = reinterpret_cast<V*>(y);
        for (int64_t i = tid; i < nv; i += step) {
            V a = xv[i];
#pragma unroll
            for (int e = 0; e < V::kN; ++e) a.v[e] = f(a.v[e]);
            yv[i] = a;
        }
    } else {
        for (int64_t i = tid; i < n; i += step) y[i] = f(x[i]);
    }
}

template <typename T, typename F>
void launchMap(const void* x, void* y, int64_t n, cudaStream_t s, F f) {
    const bool vec = cuda::aligned16(x, y);
    if (vec) {
        const unsigned grid = cuda::gridFor((n + Vec16<T>::kN - 1) / Vec16<T>::kN, 256);
        mapKernel<T, true, F><<<grid, 256, 0, s>>>(static_cast<const T*>(x), static_cast<T*>(y), n, f);
    } else {
        mapKernel<T, false, F><<<cuda::gridFor(n, 256), 256, 0, s>>>(static_cast<const T*>(x), static_cast<T*>(y), n, f);
    }
    cuda::checkLaunch("unary mapKernel");
}

__device__ __forceinline__ float roundHalfEven(float x) {  // the CPU's algorithm, bit for bit
    float r = floorf(x);
    const float d = x - r;
    // d == 0.5 implies |x| < 2^23, so r converts to an integer exactly (fmod(r, 2) != 0 <=> r is odd).
    if (d > 0.5f || (d == 0.5f && (static_cast<long long>(r) & 1))) r += 1.f;
    return r;
}

template <int OP>
struct FloatOp {
    __device__ __forceinline__ float operator()(float v) const {
        using U = UnaryOperation;
        constexpr U op = static_cast<U>(OP);
        if (op == U::kEXP) return expf(v);
        if (op == U::kLOG) return logf(v);
        if (op == U::kSQRT) return sqrtf(v);
        if (op == U::kRECIP) return 1.f / v;
        if (op == U::kABS) return fabsf(v);
        if (op == U::kNEG) return -v;
        if (op == U::kSIN) return sinf(v);
        if (op == U::kCOS) return cosf(v);
        if (op == U::kTAN) return tanf(v);
        if (op == U::kSINH) return sinhf(v);
        if (op == U::kCOSH) return coshf(v);
        if (op == U::kASIN) return asinf(v);
        if (op == U::kACOS) return acosf(v);
        if (op == U::kATAN) return atanf(v);
        if (op == U::kASINH) return asinhf(v);
        if (op == U::kACOSH) return acoshf(v);
        if (op == U::kATANH) return atanhf(v);
        if (op == U::kCEIL) return ceilf(v);
        if (op == U::kFLOOR) return floorf(v);
        if (op == U::kERF) return erff(v);
        if (op == U::kSIGN) return v > 0.f ? 1.f : v < 0.f ? -1.f : v;  // 0 stays 0, NaN stays NaN
        if (op == U::kROUND) return roundHalfEven(v);
        return v;
    }
};

template <int OP>
struct IntOp {
    __device__ __forceinline__ int32_t operator()(int32_t v) const {
        using U = UnaryOperation;
        constexpr U op = static_cast<U>(OP);
        if (op == U::kABS) return v < 0 ? static_cast<int32_t>(0u - static_cast<uint32_t>(v)) : v;
        if (op == U::kNEG) return static_cast<int32_t>(0u - static_cast<uint32_t>(v));
        if (op == U::kSIGN) return static_cast<int32_t>((v > 0) - (v < 0));
        return v;
    }
};

struct NotOp {
    __device__ __forceinline__ uint8_t operator()(uint8_t v) const { return static_cast<uint8_t>(v == 0); }
};

//! A float op on storage type T: computed in float, rounded to T once (T = float: the op itself).
template <typename T, typename F>
struct InFloat {
    __device__ __forceinline__ T operator()(T v) const { return cuda::fromFloat<T>(F()(cuda::toFloat(v))); }
};

template <typename T, int OP>
void launchFloatOp(const void* x, void* y, int64_t n, cudaStream_t s) {
    if constexpr (std::is_same_v<T, float>) launchMap<float>(x, y, n, s, FloatOp<OP>());
    else launchMap<T>(x, y, n, s, InFloat<T, FloatOp<OP>>());
}

using FloatLauncher = void (*)(const void*, void*, int64_t, cudaStream_t);

template <typename T, int... OPS>
FloatLauncher floatLauncher(int op, std::integer_sequence<int, OPS...>) {
    static constexpr FloatLauncher fns[] = {launchFloatOp<T, OPS>...};
    return fns[op];
}

class UnaryGpu final : public cuda::FloatOrHalfKernel<UnaryGpu, UnaryOp> {
public:
    using FloatOrHalfKernel::FloatOrHalfKernel;
    void run(const KernelCall& c) const override {
        const int64_t n = volume(c.inDims(0));
        if (n == 0) return;
        cudaStream_t s = cuda::streamOf(c);
        const UnaryOperation op = op_.op;
        using U = UnaryOperation;
        static_assert(static_cast<int>(U::kROUND) == 22, "floatLauncher covers every UnaryOperation");
        using AllOps = std::make_integer_sequence<int, 23>;
        switch (c.inDesc[0].type) {
            case DataType::kFLOAT:
                if (op != U::kNOT) {
                    floatLauncher<float>(static_cast<int>(op), AllOps())(c.inputs[0], c.outputs[0], n, s);
                    return;
                }
                break;
            case DataType::kHALF:
                if (op != U::kNOT) {
                    floatLauncher<__half>(static_cast<int>(op), AllOps())(c.inputs[0], c.outputs[0], n, s);
                    return;
                }
                break;
            case DataType::kINT32:
                if (op == U::kABS) { launchMap<int32_t>(c.inputs[0], c.outputs[0], n, s, IntOp<static_cast<int>(U::kABS)>()); return; }
                if (op == U::kNEG) { launchMap<int32_t>(c.inputs[0], c.outputs[0], n, s, IntOp<static_cast<int>(U::kNEG)>()); return; }
                if (op == U::kSIGN) { launchMap<int32_t>(c.inputs[0], c.outputs[0], n, s, IntOp<static_cast<int>(U::kSIGN)>()); return; }
                break;
            case DataType::kBOOL:
                if (op == U::kNOT) { launchMap<uint8_t>(c.inputs[0], c.outputs[0], n, s, NotOp()); return; }
                break;
            default: break;
        }
        fail(ErrorCode::kUNSUPPORTED, "Unary ", unaryOpName(op), ": no GPU kernel for ", dataTypeName(c.inDesc[0].type));
    }
};
GIE_REGISTER_KERNEL(UnaryGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
