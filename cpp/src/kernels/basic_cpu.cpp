// CPU kernels: Identity, Constant (Activation: activation_cpu.cpp).
#include <cstring>

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

}  // namespace
}  // namespace gie
