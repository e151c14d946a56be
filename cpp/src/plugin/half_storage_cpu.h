// FP16 storage for every CPU kernel, by conversion: the CPU backend is the reference for the GPU's FP16
// kernels, which load half, compute in FP32 and round to half only where they store. A CPU kernel K that
// computes in FP32 gets the same rounding points from this wrapper: HALF inputs are widened to FP32
// scratch, K runs in FP32, and its FP32 results are rounded to HALF (nearest even) into the outputs. The
// weights that a GPU FP16 kernel stores as half (Op::halfWeightFields(): GEMM operands; biases and other
// per-channel parameters stay FP32) are rounded to half values when the kernel is configured with a HALF
// input. Kernels that handle a HALF tensor natively (copies, gathers, casts) keep doing so.
//
// GIE_REGISTER_KERNEL(K, DeviceType::kCPU) registers HalfStorageCpu<K>; GPU kernels are registered as they are.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "common/half.h"
#include "common/half_types.h"
#include "plugin/builtin.h"

namespace gie {

//! Rounds every value of the float field `name` to the nearest half value (kept as float).
inline void roundFieldToHalf(FieldMap& f, const char* name) {
    if (!f.has(name)) return;
    std::vector<float> v = f.floats(name);
    for (float& x : v) x = halfToFloat(floatToHalf(x));
    f.setFloats(name, v);
}

//! Output types of an FP32 kernel run with FP16 storage, whose type rules name FLOAT (Unary, ElementWise, ...):
//! the FP16 type rule (common/half_types.h halfAsFloatTypes) around `rules(in, n, out)` (a getOutputDataTypes).
//! Shared by HalfStorageCpu and the GPU kernels with FP16 paths (cuda/fp16.cuh).
template <typename Rules>
int32_t outputTypesHalfAsFloat(const DataType* in, int32_t n, DataType* out, int32_t nOut, Rules&& rules) noexcept {
    try {
        std::vector<DataType> types(static_cast<size_t>(nOut));
        int32_t rc = 0;
        halfAsFloatTypes(std::vector<DataType>(in, in + n), types, [&](const std::vector<DataType>& widened, std::vector<DataType>& o) {
            rc = rules(widened.data(), n, o.data());
        });
        if (rc == 0) std::copy(types.begin(), types.end(), out);
        return rc;
    } catch (...) {
        recordCurrentException(nullptr);
        return -1;
    }
}

template <typename K>
class HalfStorageCpu final : public IPlugin {
public:
    using OpType = typename K::OpType;
    static constexpr const char* kVariant = KernelVariant<K>::value;

    explicit HalfStorageCpu(FieldMap fields) : inner_(std::make_unique<K>(std::move(fields))) {}
    HalfStorageCpu(const HalfStorageCpu& o) : inner_(std::make_unique<K>(*o.inner_)), convert_(o.convert_), scratch_(o.scratch_) {}

    const char* getPluginType() const noexcept override { return inner_->getPluginType(); }
    const char* getPluginVersion() const noexcept override { return inner_->getPluginVersion(); }
    IPlugin* clone() const noexcept override {
        try {
            return new HalfStorageCpu(*this);
        } catch (...) {
            recordCurrentException(nullptr);
            return nullptr;
        }
    }
    int32_t getNbOutputs() const noexcept override { return inner_->getNbOutputs(); }
    int32_t getOutputDimensions(const Dims* in, int32_t n, Dims* out) const noexcept override { return inner_->getOutputDimensions(in, n, out); }
    //! The kernel's own rules where they take the types (copies and casts take HALF natively), else the rules for
    //! FLOAT with HALF storage (outputTypesHalfAsFloat): an engine file stores the HALF types the builder chose.
    int32_t getOutputDataTypes(const DataType* in, int32_t n, DataType* out) const noexcept override {
        if (inner_->getOutputDataTypes(in, n, out) == 0) return 0;
        const int32_t rc = outputTypesHalfAsFloat(in, n, out, inner_->getNbOutputs(),
                                                  [this](const DataType* i, int32_t k, DataType* o) { return inner_->getOutputDataTypes(i, k, o); });
        if (rc == 0) clearLastError();  // the first attempt's error does not apply
        return rc;
    }
    //! Natively supported, or supported as FP32 with every HALF position (linear only) converted.
    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t nIn, int32_t nOut) const noexcept override {
        if (inner_->supportsFormatCombination(pos, inOut, nIn, nOut)) return true;
        try {
            std::vector<TensorDesc> widened(inOut, inOut + pos + 1);
            if (!widen(widened)) return false;
            return inner_->supportsFormatCombination(pos, widened.data(), nIn, nOut);
        } catch (...) {
            return false;
        }
    }
    bool supportsStridedOutput() const noexcept override { return inner_->supportsStridedOutput(); }
    bool supportsStridedInput() const noexcept override { return inner_->supportsStridedInput(); }

    int32_t configure(const TensorDesc* in, int32_t nIn, const TensorDesc* out, int32_t nOut) noexcept override {
        try {
            std::vector<TensorDesc> all(in, in + nIn);
            all.insert(all.end(), out, out + nOut);
            bool native = true;
            for (int32_t p = 0; p < nIn + nOut && native; ++p) native = inner_->supportsFormatCombination(p, all.data(), nIn, nOut);
            convert_.assign(all.size(), false);
            scratch_.assign(all.size(), 0);
            if (!native) {
                for (size_t p = 0; p < all.size(); ++p) convert_[p] = all[p].type == DataType::kHALF;
                std::vector<TensorDesc> widened = all;
                GIE_CHECK(widen(widened), ErrorCode::kUNSUPPORTED, getPluginType(), ": FP16 storage on the CPU needs linear tensors");
                for (size_t p = 0; p < all.size(); ++p)
                    if (convert_[p]) {
                        widened[p].strides = packedStrides(widened[p].dims);
                        scratch_[p] = alignUp(static_cast<size_t>(volume(widened[p].dims)) * sizeof(float));
                    }
                if (nIn > 0 && all[0].type == DataType::kHALF) {  // the weights a GPU FP16 kernel keeps in half
                    FieldMap f = inner_->fields();
                    for (const char* name : OpType::halfWeightFields()) roundFieldToHalf(f, name);
                    inner_ = std::make_unique<K>(std::move(f));
                }
                all = widened;
            }
            return inner_->configure(all.data(), nIn, all.data() + nIn, nOut);
        } catch (...) {
            recordCurrentException(nullptr);
            return -1;
        }
    }
    size_t getWorkspaceSize() const noexcept override {
        size_t s = alignUp(inner_->getWorkspaceSize());
        for (size_t b : scratch_) s += b;
        return s;
    }
    int32_t getNbTactics() const noexcept override { return inner_->getNbTactics(); }
    const char* getTacticName(int32_t t) const noexcept override { return inner_->getTacticName(t); }
    int32_t setTactic(int32_t t) noexcept override { return inner_->setTactic(t); }
    int32_t getTactic() const noexcept override { return inner_->getTactic(); }
    int32_t initialize() noexcept override { return inner_->initialize(); }
    void terminate() noexcept override { inner_->terminate(); }

    int32_t enqueue(const TensorDesc* inDesc, const TensorDesc* outDesc, const void* const* inputs, void* const* outputs, void* workspace,
                    void* stream) const noexcept override {
        bool any = false;
        for (bool c : convert_) any = any || c;
        if (!any) return inner_->enqueue(inDesc, outDesc, inputs, outputs, workspace, stream);
        try {
            const int32_t nIn = static_cast<int32_t>(convert_.size()) - inner_->getNbOutputs();
            const int32_t nOut = inner_->getNbOutputs();
            std::vector<TensorDesc> in(inDesc, inDesc + nIn), out(outDesc, outDesc + nOut);
            std::vector<const void*> ip(inputs, inputs + nIn);
            std::vector<void*> op(outputs, outputs + nOut);
            auto* base = static_cast<uint8_t*>(workspace);
            size_t off = alignUp(inner_->getWorkspaceSize());
            std::vector<float*> outScratch(static_cast<size_t>(nOut), nullptr);
            for (int32_t p = 0; p < nIn + nOut; ++p) {
                if (!convert_[static_cast<size_t>(p)]) continue;
                auto* buf = reinterpret_cast<float*>(base + off);
                off += scratch_[static_cast<size_t>(p)];
                TensorDesc& d = p < nIn ? in[static_cast<size_t>(p)] : out[static_cast<size_t>(p - nIn)];
                if (p < nIn) {
                    copyRows(d, static_cast<const uint16_t*>(inputs[p]), buf, true);
                    ip[static_cast<size_t>(p)] = buf;
                } else {
                    op[static_cast<size_t>(p - nIn)] = buf;
                    outScratch[static_cast<size_t>(p - nIn)] = buf;
                }
                d.type = DataType::kFLOAT;
                d.strides = packedStrides(d.dims);
            }
            if (int32_t rc = inner_->enqueue(in.data(), out.data(), ip.data(), op.data(), base, stream)) return rc;
            for (int32_t o = 0; o < nOut; ++o)
                if (outScratch[static_cast<size_t>(o)]) copyRows(outDesc[o], static_cast<uint16_t*>(outputs[o]), outScratch[static_cast<size_t>(o)], false);
            return 0;
        } catch (...) {
            recordCurrentException(nullptr);
            return -1;
        }
    }
    size_t getSerializationSize() const noexcept override { return inner_->getSerializationSize(); }
    void serialize(void* buffer) const noexcept override { inner_->serialize(buffer); }

private:
    static size_t alignUp(size_t b) { return (b + 63) / 64 * 64; }
    //! HALF positions become FLOAT; false if one of them is not linear.
    static bool widen(std::vector<TensorDesc>& d) {
        for (auto& t : d)
            if (t.type == DataType::kHALF) {
                if (t.format != TensorFormat::kLINEAR) return false;
                t.type = DataType::kFLOAT;
            }
        return true;
    }
    //! Half tensor `h` (its batch stride may exceed the packed one) <-> packed floats `f`.
    static void copyRows(const TensorDesc& d, const uint16_t* hIn, float* f, bool toFloat) { copyRowsImpl(d, const_cast<uint16_t*>(hIn), f, toFloat); }
    static void copyRows(const TensorDesc& d, uint16_t* hOut, float* f, bool toFloat) { copyRowsImpl(d, hOut, f, toFloat); }
    static void copyRowsImpl(const TensorDesc& d, uint16_t* h, float* f, bool toFloat) {
        const int64_t n = volume(d.dims);
        if (n == 0) return;
        const int64_t batch = d.dims.nbDims > 0 ? d.dims.d[0] : 1;
        const int64_t item = n / std::max<int64_t>(batch, 1);
        const int64_t stride = d.dims.nbDims > 0 && d.strides.nbDims > 0 ? d.strides.d[0] : item;
        for (int64_t b = 0; b < batch; ++b) {
            uint16_t* hb = h + b * stride;
            float* fb = f + b * item;
            if (toFloat)
                for (int64_t i = 0; i < item; ++i) fb[i] = halfToFloat(hb[i]);
            else
                for (int64_t i = 0; i < item; ++i) hb[i] = floatToHalf(fb[i]);
        }
    }

    std::unique_ptr<K> inner_;
    std::vector<bool> convert_;   // per input/output position: widened from / rounded to HALF around inner_
    std::vector<size_t> scratch_;  // FP32 scratch bytes per converted position, at the configured shapes
};

template <typename K, DeviceType D>
struct RegisteredKernel {
    using type = K;
};
template <typename K>
struct RegisteredKernel<K, DeviceType::kCPU> {
    using type = HalfStorageCpu<K>;
};

}  // namespace gie
