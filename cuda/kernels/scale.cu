// GPU Scale (kernels/scale_cpu.cpp): y = (x * scale + shift) ^ power per tensor (UNIFORM: values by value), per
// channel (CHANNEL: weight (i / inner) % C along channel_axis) or per element of the trailing block
// (ELEMENTWISE: weight i % (C * inner)). Absent weights are scale 1, shift 0, power 1; pow runs only where the
// power is not 1, like the CPU kernel. x * scale + shift is rounded twice (no FMA), as on the CPU.
// float16 tensors: the same float math (weights stay float32), rounded to half once at the store.
// 16-byte loads/stores (float4, or 8 halves through half2) when the pointers are aligned and the lanes of a vector
// share a channel (CHANNEL: inner % 4 (8) == 0) or read consecutive aligned weights (ELEMENTWISE: block % 4 (8) == 0).
#include <cstdint>

#include "common.cuh"
#include "fp16.cuh"
#include "layers/scale.h"

namespace gie {
namespace {

enum Mode { kUniform = 0, kChannel = 1, kElementwise = 2 };

struct ScaleArgs {
    const float* scale;  // device arrays (nullable)
    const float* shift;
    const float* power;
};

template <bool kPow>
__device__ __forceinline__ float apply(float x, float s, float b, float p) {
    const float v = __fadd_rn(__fmul_rn(x, s), b);
    return kPow && p != 1.f ? powf(v, p) : v;
}

// Units: elements, or (kVec) 16-byte packs of kN = cuda::kPack<T> elements. The tail (< kN elements) first.
template <bool kPow, bool kVec, typename T>
__global__ void __launch_bounds__(256) scaleUniform(const T* __restrict__ x, T* __restrict__ y, int64_t n, float s, float b, float p) {
    constexpr int kN = cuda::kPack<T>;
    const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
    if (kVec) {
        const int64_t nv = n / kN;
        const int64_t t = nv * kN + tid;  // the grid has at least kN threads
        if (t < n) y[t] = cuda::fromFloat<T>(apply<kPow>(cuda::ldFloat(x + t), s, b, p));
        for (int64_t i = tid; i < nv; i += step) {
            float v[kN];
            cuda::loadPack(x + i * kN, v);
#pragma unroll
            for (int e = 0; e < kN; ++e) v[e] = apply<kPow>(v[e], s, b, p);
            cuda::storePack(y + i * kN, v);
        }
    } else {
        for (int64_t i = tid; i < n; i += step) y[i] = cuda::fromFloat<T>(apply<kPow>(cuda::ldFloat(x + i), s, b, p));
    }
}

__device__ __forceinline__ float ld(const float* __restrict__ p, size_t i, float dflt) { return p ? __ldg(p + i) : dflt; }
//! Weights kN * i .. kN * i + kN - 1 (float4 loads; p is 16-byte aligned), or dflt when p is null.
template <int kN>
__device__ __forceinline__ void ldN(const float* __restrict__ p, size_t i, float dflt, float (&v)[kN]) {
#pragma unroll
    for (int j = 0; j < kN / 4; ++j) {
        const float4 q = p ? __ldg(reinterpret_cast<const float4*>(p) + i * (kN / 4) + j) : make_float4(dflt, dflt, dflt, dflt);
        v[4 * j] = q.x, v[4 * j + 1] = q.y, v[4 * j + 2] = q.z, v[4 * j + 3] = q.w;
    }
}

// CHANNEL: unit i uses weight (i / inner) % C. ELEMENTWISE: unit i uses weight unit i % inner (inner = the block).
// Units are elements, or packs of kN elements when kVec (inner counted in packs).
template <int kMode, bool kPow, bool kVec, typename Idx, typename T>
__global__ void __launch_bounds__(256) scaleWeighted(const T* __restrict__ x, T* __restrict__ y, Idx units, Idx inner, Idx C,
                                                     ScaleArgs a) {
    constexpr int kN = cuda::kPack<T>;
    const Idx step = static_cast<Idx>(gridDim.x) * blockDim.x;
    for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < units; i += step) {
        if (kMode == kChannel) {
            const Idx w = (i / inner) % C;
            const float s = ld(a.scale, w, 1.f), b = ld(a.shift, w, 0.f), p = kPow ? ld(a.power, w, 1.f) : 1.f;
            if (kVec) {
                float v[kN];
                cuda::loadPack(x + static_cast<size_t>(i) * kN, v);
#pragma unroll
                for (int e = 0; e < kN; ++e) v[e] = apply<kPow>(v[e], s, b, p);
                cuda::storePack(y + static_cast<size_t>(i) * kN, v);
            } else {
                y[i] = cuda::fromFloat<T>(apply<kPow>(cuda::ldFloat(x + i), s, b, p));
            }
        } else {
            const Idx w = i % inner;
            if (kVec) {
                float v[kN], s[kN], b[kN], p[kN];
                cuda::loadPack(x + static_cast<size_t>(i) * kN, v);
                ldN(a.scale, w, 1.f, s);
                ldN(a.shift, w, 0.f, b);
                if (kPow) ldN(a.power, w, 1.f, p);
#pragma unroll
                for (int e = 0; e < kN; ++e) v[e] = apply<kPow>(v[e], s[e], b[e], kPow ? p[e] : 1.f);
                cuda::storePack(y + static_cast<size_t>(i) * kN, v);
            } else {
                y[i] = cuda::fromFloat<T>(
                    apply<kPow>(cuda::ldFloat(x + i), ld(a.scale, w, 1.f), ld(a.shift, w, 0.f), kPow ? ld(a.power, w, 1.f) : 1.f));
            }
        }
    }
}

class ScaleGpu final : public cuda::FloatOrHalfKernel<ScaleGpu, ScaleOp> {
public:
    explicit ScaleGpu(FieldMap f) : FloatOrHalfKernel(std::move(f)) {
        for (float p : op_.power) hasPower_ = hasPower_ || p != 1.f;
    }
    void initializeKernel() override {
        try {
            if (op_.mode != ScaleMode::kUNIFORM) {
                if (!op_.scale.empty()) scale_ = cuda::upload(op_.scale, "Scale scale");
                if (!op_.shift.empty()) shift_ = cuda::upload(op_.shift, "Scale shift");
                if (hasPower_) power_ = cuda::upload(op_.power, "Scale power");
            }
            initialized_ = true;
        } catch (...) {
            terminate();  // nothing half-uploaded stays behind
            throw;
        }
    }
    void terminate() noexcept override {
        scale_.reset();
        shift_.reset();
        power_.reset();
        initialized_ = false;
    }

    void run(const KernelCall& c) const override {
        if (cuda::halfCall(c)) runTyped<__half>(c);
        else runTyped<float>(c);
    }

private:
    template <typename T>
    void runTyped(const KernelCall& c) const {
        constexpr int kN = cuda::kPack<T>;
        const Dims& d = c.inDims(0);
        const int64_t n = volume(d);
        if (n == 0) return;
        const T* x = c.in<T>(0);
        T* y = c.out<T>(0);
        cudaStream_t st = cuda::streamOf(c);
        const bool aligned = cuda::aligned16(x, y);

        if (op_.mode == ScaleMode::kUNIFORM) {
            const float s = op_.scale.empty() ? 1.f : op_.scale[0], b = op_.shift.empty() ? 0.f : op_.shift[0];
            const float p = hasPower_ ? op_.power[0] : 1.f;
            const unsigned grid = cuda::gridFor(aligned ? (n + kN - 1) / kN : n, 256);
            if (hasPower_) {
                if (aligned) scaleUniform<true, true, T><<<grid, 256, 0, st>>>(x, y, n, s, b, p);
                else scaleUniform<true, false, T><<<grid, 256, 0, st>>>(x, y, n, s, b, p);
            } else {
                if (aligned) scaleUniform<false, true, T><<<grid, 256, 0, st>>>(x, y, n, s, b, p);
                else scaleUniform<false, false, T><<<grid, 256, 0, st>>>(x, y, n, s, b, p);
            }
            cuda::checkLaunch("scaleUniform");
            return;
        }

        GIE_CHECK(initialized_, ErrorCode::kINTERNAL, "Scale (GPU): run before initialize");
        const int ax = op_.axis(d.nbDims);
        const int64_t C = d.d[ax], inner = splitAtAxis(d, ax).inner;
        ScaleArgs a;
        a.scale = scale_ ? scale_->as<float>() : nullptr;
        a.shift = shift_ ? shift_->as<float>() : nullptr;
        a.power = power_ ? power_->as<float>() : nullptr;
        const bool channel = op_.mode == ScaleMode::kCHANNEL;
        // CHANNEL: weight (i / inner) % C; ELEMENTWISE: weight i % (C * inner), passed as `inner` with C unused.
        const int64_t period = channel ? inner : C * inner;
        const bool vec = aligned && period % kN == 0;
        const int64_t units = vec ? n / kN : n, periodU = vec ? period / kN : period;
        const unsigned grid = cuda::gridFor(units, 256);
        if (units < (int64_t{1} << 31))
            launch<uint32_t>(channel, vec, grid, st, x, y, static_cast<uint32_t>(units), static_cast<uint32_t>(periodU),
                             static_cast<uint32_t>(C), a);
        else
            launch<uint64_t>(channel, vec, grid, st, x, y, static_cast<uint64_t>(units), static_cast<uint64_t>(periodU),
                             static_cast<uint64_t>(C), a);
        cuda::checkLaunch("scaleWeighted");
    }

    template <typename Idx, typename T>
    void launch(bool channel, bool vec, unsigned grid, cudaStream_t st, const T* x, T* y, Idx units, Idx period, Idx C,
                const ScaleArgs& a) const {
        if (channel) launchMode<kChannel>(vec, grid, st, x, y, units, period, C, a);
        else launchMode<kElementwise>(vec, grid, st, x, y, units, period, C, a);
    }
    template <int kMode, typename Idx, typename T>
    void launchMode(bool vec, unsigned grid, cudaStream_t st, const T* x, T* y, Idx units, Idx period, Idx C,
                    const ScaleArgs& a) const {
        if (hasPower_) {
            if (vec) scaleWeighted<kMode, true, true, Idx, T><<<grid, 256, 0, st>>>(x, y, units, period, C, a);
            else scaleWeighted<kMode, true, false, Idx, T><<<grid, 256, 0, st>>>(x, y, units, period, C, a);
        } else {
            if (vec) scaleWeighted<kMode, false, true, Idx, T><<<grid, 256, 0, st>>>(x, y, units, period, C, a);
            else scaleWeighted<kMode, false, false, Idx, T><<<grid, 256, 0, st>>>(x, y, units, period, C, a);
        }
    }

    bool hasPower_ = false;
    bool initialized_ = false;
    std::shared_ptr<cuda::DeviceArray> scale_, shift_, power_;
};
GIE_REGISTER_KERNEL(ScaleGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
