// GPU Scale (kernels/scale_cpu.cpp): y = (x * scale + shift) ^ power per tensor (UNIFORM: values by value), per
// channel (CHANNEL: weight (i / inner) % C along channel_axis) or per element of the trailing block
// (ELEMENTWISE: weight i % (C * inner)). Absent weights are scale 1, shift 0, power 1; pow runs only where the
// power is not 1, like the CPU kernel. x * scale + shift is rounded twice (no FMA), as on the CPU.
// float4 loads/stores when the pointers are aligned and the 4 lanes of a vector share a channel (CHANNEL:
// inner % 4 == 0) or read 4 consecutive aligned weights (ELEMENTWISE: block % 4 == 0).
#include <cstdint>

#include "common.cuh"
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

template <bool kPow>
__device__ __forceinline__ float4 apply4(float4 v, float s, float b, float p) {
    return make_float4(apply<kPow>(v.x, s, b, p), apply<kPow>(v.y, s, b, p), apply<kPow>(v.z, s, b, p), apply<kPow>(v.w, s, b, p));
}

template <bool kPow, bool kVec>
__global__ void __launch_bounds__(256) scaleUniform(const float* __restrict__ x, float* __restrict__ y, int64_t n, float s, float b,
                                                    float p) {
    const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
    if (kVec) {
        const int64_t n4 = n >> 2;
        const int64_t t = (n4 << 2) + tid;  // the tail (< 4 elements) first
        if (t < n) y[t] = apply<kPow>(__ldg(x + t), s, b, p);
        const float4* __restrict__ x4 = reinterpret_cast<const float4*>(x);
        float4* __restrict__ y4 = reinterpret_cast<float4*>(y);
        for (int64_t i = tid; i < n4; i += step) y4[i] = apply4<kPow>(__ldg(x4 + i), s, b, p);
    } else {
        for (int64_t i = tid; i < n; i += step) y[i] = apply<kPow>(__ldg(x + i), s, b, p);
    }
}

__device__ __forceinline__ float ld(const float* __restrict__ p, size_t i, float dflt) { return p ? __ldg(p + i) : dflt; }
__device__ __forceinline__ float4 ld4(const float* __restrict__ p, size_t i, float dflt) {
    return p ? __ldg(reinterpret_cast<const float4*>(p) + i) : make_float4(dflt, dflt, dflt, dflt);
}

// CHANNEL: unit i uses weight (i / inner) % C. ELEMENTWISE: unit i uses weight unit i % inner (inner = the block).
// Units are elements, or float4 vectors when kVec (inner counted in vectors).
template <int kMode, bool kPow, bool kVec, typename Idx>
__global__ void __launch_bounds__(256) scaleWeighted(const float* __restrict__ x, float* __restrict__ y, Idx units, Idx inner, Idx C,
                                                     ScaleArgs a) {
    const Idx step = static_cast<Idx>(gridDim.x) * blockDim.x;
    for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < units; i += step) {
        if (kMode == kChannel) {
            const Idx w = (i / inner) % C;
            const float s = ld(a.scale, w, 1.f), b = ld(a.shift, w, 0.f), p = kPow ? ld(a.power, w, 1.f) : 1.f;
            if (kVec) reinterpret_cast<float4*>(y)[i] = apply4<kPow>(__ldg(reinterpret_cast<const float4*>(x) + i), s, b, p);
            else y[i] = apply<kPow>(__ldg(x + i), s, b, p);
        } else {
            const Idx w = i % inner;
            if (kVec) {
                const float4 v = __ldg(reinterpret_cast<const float4*>(x) + i);
                const float4 s = ld4(a.scale, w, 1.f), b = ld4(a.shift, w, 0.f);
                const float4 p = kPow ? ld4(a.power, w, 1.f) : make_float4(1.f, 1.f, 1.f, 1.f);
                reinterpret_cast<float4*>(y)[i] = make_float4(apply<kPow>(v.x, s.x, b.x, p.x), apply<kPow>(v.y, s.y, b.y, p.y),
                                                              apply<kPow>(v.z, s.z, b.z, p.z), apply<kPow>(v.w, s.w, b.w, p.w));
            } else {
                y[i] = apply<kPow>(__ldg(x + i), ld(a.scale, w, 1.f), ld(a.shift, w, 0.f), kPow ? ld(a.power, w, 1.f) : 1.f);
            }
        }
    }
}

class ScaleGpu final : public Kernel<ScaleGpu, ScaleOp> {
public:
    explicit ScaleGpu(FieldMap f) : Kernel(std::move(f)) {
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
        const Dims& d = c.inDims(0);
        const int64_t n = volume(d);
        if (n == 0) return;
        const float* x = c.in(0);
        float* y = c.out(0);
        cudaStream_t st = cuda::streamOf(c);
        const bool aligned = cuda::aligned16(x, y);

        if (op_.mode == ScaleMode::kUNIFORM) {
            const float s = op_.scale.empty() ? 1.f : op_.scale[0], b = op_.shift.empty() ? 0.f : op_.shift[0];
            const float p = hasPower_ ? op_.power[0] : 1.f;
            const unsigned grid = cuda::gridFor(aligned ? (n + 3) / 4 : n, 256);
            if (hasPower_) {
                if (aligned) scaleUniform<true, true><<<grid, 256, 0, st>>>(x, y, n, s, b, p);
                else scaleUniform<true, false><<<grid, 256, 0, st>>>(x, y, n, s, b, p);
            } else {
                if (aligned) scaleUniform<false, true><<<grid, 256, 0, st>>>(x, y, n, s, b, p);
                else scaleUniform<false, false><<<grid, 256, 0, st>>>(x, y, n, s, b, p);
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
        const bool vec = aligned && period % 4 == 0;
        const int64_t units = vec ? n / 4 : n, periodU = vec ? period / 4 : period;
        const unsigned grid = cuda::gridFor(units, 256);
        if (units < (int64_t{1} << 31))
            launch<uint32_t>(channel, vec, grid, st, x, y, static_cast<uint32_t>(units), static_cast<uint32_t>(periodU),
                             static_cast<uint32_t>(C), a);
        else
            launch<uint64_t>(channel, vec, grid, st, x, y, static_cast<uint64_t>(units), static_cast<uint64_t>(periodU),
                             static_cast<uint64_t>(C), a);
        cuda::checkLaunch("scaleWeighted");
    }

private:
    template <typename Idx>
    void launch(bool channel, bool vec, unsigned grid, cudaStream_t st, const float* x, float* y, Idx units, Idx period, Idx C,
                const ScaleArgs& a) const {
        if (channel) launchMode<kChannel, Idx>(vec, grid, st, x, y, units, period, C, a);
        else launchMode<kElementwise, Idx>(vec, grid, st, x, y, units, period, C, a);
    }
    template <int kMode, typename Idx>
    void launchMode(bool vec, unsigned grid, cudaStream_t st, const float* x, float* y, Idx units, Idx period, Idx C,
                    const ScaleArgs& a) const {
        if (hasPower_) {
            if (vec) scaleWeighted<kMode, true, true, Idx><<<grid, 256, 0, st>>>(x, y, units, period, C, a);
            else scaleWeighted<kMode, true, false, Idx><<<grid, 256, 0, st>>>(x, y, units, period, C, a);
        } else {
            if (vec) scaleWeighted<kMode, false, true, Idx><<<grid, 256, 0, st>>>(x, y, units, period, C, a);
            else scaleWeighted<kMode, false, false, Idx><<<grid, 256, 0, st>>>(x, y, units, period, C, a);
        }
    }

    bool hasPower_ = false;
    bool initialized_ = false;
    std::shared_ptr<cuda::DeviceArray> scale_, shift_, power_;
};
GIE_REGISTER_KERNEL(ScaleGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
