// CPU kernels: Identity, Constant, Activation.
#include <cstring>

#include "common/parallel.h"
#include "layers/simple.h"

namespace gie {
namespace {

class IdentityCpu final : public Kernel<IdentityCpu, IdentityOp> {
public:
    using Kernel::Kernel;
    // Copies batch item by item, so either side may be a slice of a wider tensor (concat elimination).
    bool supportsStridedOutput() const noexcept override { return true; }
    bool supportsStridedInput() const noexcept override { return true; }
    void run(const KernelCall& c) const override {
        const Dims& d = c.inDims(0);
        int64_t es = dataTypeSize(c.inDesc[0].type);
        if (d.nbDims == 0 || (c.inDesc[0].strides.d[0] == c.outDesc[0].strides.d[0] && c.inDesc[0].strides.d[0] == packedStrides(d).d[0])) {
            size_t bytes = static_cast<size_t>(volume(d) * es);
            if (bytes && c.outputs[0] != c.inputs[0]) std::memcpy(c.outputs[0], c.inputs[0], bytes);
            return;
        }
        int64_t item = volume(d) / std::max<int64_t>(d.d[0], 1) * es;
        const auto* src = static_cast<const uint8_t*>(c.inputs[0]);
        auto* dst = static_cast<uint8_t*>(c.outputs[0]);
        for (int64_t n = 0; n < d.d[0]; ++n)
            std::memcpy(dst + n * c.outDesc[0].strides.d[0] * es, src + n * c.inDesc[0].strides.d[0] * es, static_cast<size_t>(item));
    }
};
GIE_REGISTER_KERNEL(IdentityCpu, DeviceType::kCPU);

class ConstantCpu final : public Kernel<ConstantCpu, ConstantOp> {
public:
    explicit ConstantCpu(FieldMap f) : Kernel(std::move(f)) {
        value_ = op_.valueBytes(fields_);  // stored in the output type once
    }
    void run(const KernelCall& c) const override {
        if (!value_.empty()) std::memcpy(c.outputs[0], value_.data(), value_.size());
    }

private:
    std::vector<uint8_t> value_;
};
GIE_REGISTER_KERNEL(ConstantCpu, DeviceType::kCPU);

class ActivationCpu final : public Kernel<ActivationCpu, ActivationOp> {
public:
    using Kernel::Kernel;
    bool supportsStridedOutput() const noexcept override { return true; }
    void run(const KernelCall& c) const override {
        const Dims& d = c.inDims(0);
        if (d.nbDims > 0 && c.outDesc[0].strides.d[0] != packedStrides(d).d[0]) {
            // Writing into a slice of a concatenation: one packed run per batch item.
            int64_t item = volume(d) / std::max<int64_t>(d.d[0], 1);
            for (int64_t b = 0; b < d.d[0]; ++b) apply(c.in(0) + b * item, c.out(0) + b * c.outDesc[0].strides.d[0], item);
            return;
        }
        apply(c.in(0), c.out(0), volume(d));
    }

private:
    void apply(const float* x, float* y, int64_t n) const {
        const int64_t chunk = 16384;
        int64_t nChunks = (n + chunk - 1) / chunk;
        ActivationType t = op_.type;
        float a = op_.alpha, b = op_.beta;
        parallelFor(nChunks, n * 8, [&](int64_t ci) {
            int64_t end = std::min(n, (ci + 1) * chunk);
            if (t == ActivationType::kRELU) {
                for (int64_t i = ci * chunk; i < end; ++i) y[i] = x[i] > 0.f ? x[i] : 0.f;
            } else {
                for (int64_t i = ci * chunk; i < end; ++i) y[i] = activate(t, x[i], a, b);
            }
        });
    }
};
GIE_REGISTER_KERNEL(ActivationCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
