// A plugin used by tests/test_dynamic_plugins.py (issue 15): what configureWithRange tells a kernel. Built at test
// time against the installed public headers only, like tests/plugins/test_kernels.cpp.
//
//   RangeRecorder  input x (float32 linear, rank r, last dimension W). Output 0: (..., ceil(W / 2)), the sums of
//                  neighbouring pairs along the last dimension (its shape follows the input's). Output 1: float32
//                  (3, r): row 0 the min and row 1 the max that configureWithRange gave input 0, row 2 the shape of
//                  this call. Its workspace is the volume of that max in floats; enqueue copies x there first and
//                  refuses a call whose shape lies outside [min, max] (so a workspace sized for less than the
//                  shapes of a run would be caught, never overrun).
//   ShapeTactics   y = 2x with tactics "per_element" (sleeps 0.2 us per element: fast on small shapes) and "fixed"
//                  (sleeps 2 ms whatever the shape); it overrides configure() only (the default configureWithRange
//                  calls it). Records nothing.
//   TacticTag      y = x + 1 (any rank) and a second output of shape (1,): the index of the tactic that ran ("plain" 0,
//                  "scratch" 1). "scratch" computes through a workspace of the input's max volume in floats (what
//                  configure gave), "plain" needs none. Its tactics cost alike: tests force the choice through the
//                  timing cache (tests/test_per_profile_tactics.py).
//   UnverifiedTag  y = x + 1 and a second output of shape (1,): the index of the tactic that ran: "plain" (0, sleeps
//                  2 ms) or "unverified_gate_test_cpu" (1, fast), under the prefix engine/tactic_architecture.h
//                  reserves for this test of its gate (tactics not yet verified on a GPU): the builder must not time
//                  it without GIE_UNVERIFIED_TACTICS=1 (tests/test_tactic_architecture.py: the gate is by name, so a
//                  CPU plugin can check it).
#include <gie/plugin.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <new>
#include <thread>

#include "test_plugin_base.h"

namespace {

class RangeRecorder final : public Base<RangeRecorder> {
public:
    static constexpr const char* kName = "RangeRecorder";

    int32_t getNbOutputs() const noexcept override { return 2; }
    int32_t getOutputDimensions(const gie::Dims* in, int32_t nbInputs, gie::Dims* out) const noexcept override {
        if (nbInputs != 1 || in[0].nbDims < 1) {
            gie::setLastError(gie::ErrorCode::kINVALID_MODEL, "RangeRecorder takes one input of rank >= 1");
            return -1;
        }
        out[0] = in[0];
        out[0].d[in[0].nbDims - 1] = (in[0].d[in[0].nbDims - 1] + 1) / 2;
        out[1].nbDims = 2;
        out[1].d[0] = 3;
        out[1].d[1] = in[0].nbDims;
        return 0;
    }
    bool supportsFormatCombination(int32_t pos, const gie::TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        return inOut[pos].type == gie::DataType::kFLOAT && inOut[pos].format == gie::TensorFormat::kLINEAR;
    }
    int32_t configure(const gie::TensorDesc*, int32_t, const gie::TensorDesc*, int32_t) noexcept override {
        gie::setLastError(gie::ErrorCode::kINTERNAL, "RangeRecorder: configure called instead of configureWithRange");
        return -1;
    }
    int32_t configureWithRange(const gie::DynamicTensorDesc* in, int32_t nbInputs, const gie::DynamicTensorDesc*, int32_t nbOutputs) noexcept override {
        if (nbInputs != 1 || nbOutputs != 2) return -1;
        min_ = in[0].min;
        max_ = in[0].max;
        for (int32_t i = 0; i < min_.nbDims; ++i)
            if (min_.d[i] > in[0].desc.dims.d[i] || in[0].desc.dims.d[i] > max_.d[i]) {
                gie::setLastError(gie::ErrorCode::kINTERNAL, "RangeRecorder: the planned dims lie outside [min, max]");
                return -1;
            }
        return 0;
    }
    size_t getWorkspaceSize() const noexcept override { return static_cast<size_t>(volume(max_)) * sizeof(float); }

    int32_t enqueue(const gie::TensorDesc* inDesc, const gie::TensorDesc* outDesc, const void* const* inputs, void* const* outputs,
                    void* workspace, void*) const noexcept override {
        const gie::Dims& d = inDesc[0].dims;
        for (int32_t i = 0; i < d.nbDims; ++i)
            if (d.nbDims != max_.nbDims || d.d[i] < min_.d[i] || d.d[i] > max_.d[i]) {
                gie::setLastError(gie::ErrorCode::kINTERNAL, "RangeRecorder: enqueue at a shape outside the configured [min, max]");
                return -1;
            }
        const int64_t w = d.d[d.nbDims - 1], rows = volume(d) / w, half = outDesc[0].dims.d[d.nbDims - 1];
        float* copy = static_cast<float*>(workspace);
        std::memcpy(copy, inputs[0], static_cast<size_t>(volume(d)) * sizeof(float));
        float* y = static_cast<float*>(outputs[0]);
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < half; ++j)
                y[r * half + j] = copy[r * w + 2 * j] + (2 * j + 1 < w ? copy[r * w + 2 * j + 1] : 0.f);
        float* info = static_cast<float*>(outputs[1]);
        for (int32_t i = 0; i < d.nbDims; ++i) {
            info[i] = static_cast<float>(min_.d[i]);
            info[d.nbDims + i] = static_cast<float>(max_.d[i]);
            info[2 * d.nbDims + i] = static_cast<float>(d.d[i]);
        }
        return 0;
    }

private:
    gie::Dims min_{}, max_{};
};

class ShapeTactics final : public Base<ShapeTactics> {
public:
    static constexpr const char* kName = "ShapeTactics";
    int32_t getNbOutputs() const noexcept override { return 1; }
    int32_t getOutputDimensions(const gie::Dims* in, int32_t, gie::Dims* out) const noexcept override {
        out[0] = in[0];
        return 0;
    }
    bool supportsFormatCombination(int32_t pos, const gie::TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        return inOut[pos].type == gie::DataType::kFLOAT && inOut[pos].format == gie::TensorFormat::kLINEAR;
    }
    int32_t configure(const gie::TensorDesc*, int32_t nbInputs, const gie::TensorDesc*, int32_t) noexcept override {
        configured_ = nbInputs == 1;
        return configured_ ? 0 : -1;
    }
    int32_t getNbTactics() const noexcept override { return 2; }
    const char* getTacticName(int32_t t) const noexcept override { return t == 0 ? "per_element" : t == 1 ? "fixed" : nullptr; }
    int32_t setTactic(int32_t t) noexcept override {
        if (t < 0 || t > 1) return -1;
        tactic_ = t;
        return 0;
    }
    int32_t getTactic() const noexcept override { return tactic_; }
    int32_t enqueue(const gie::TensorDesc* inDesc, const gie::TensorDesc*, const void* const* inputs, void* const* outputs, void*,
                    void*) const noexcept override {
        if (!configured_) {
            gie::setLastError(gie::ErrorCode::kINTERNAL, "ShapeTactics: enqueue before configure");
            return -1;
        }
        const int64_t n = volume(inDesc[0].dims);
        std::this_thread::sleep_for(tactic_ == 0 ? std::chrono::nanoseconds(200 * n) : std::chrono::nanoseconds(2000000));
        for (int64_t i = 0; i < n; ++i) static_cast<float*>(outputs[0])[i] = 2.f * static_cast<const float*>(inputs[0])[i];
        return 0;
    }

private:
    int32_t tactic_ = 0;
    bool configured_ = false;
};

class TacticTag final : public Base<TacticTag> {
public:
    static constexpr const char* kName = "TacticTag";
    int32_t getNbOutputs() const noexcept override { return 2; }
    int32_t getOutputDimensions(const gie::Dims* in, int32_t nbInputs, gie::Dims* out) const noexcept override {
        if (nbInputs != 1) return -1;
        out[0] = in[0];
        out[1].nbDims = 1;
        out[1].d[0] = 1;
        return 0;
    }
    bool supportsFormatCombination(int32_t pos, const gie::TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        return inOut[pos].type == gie::DataType::kFLOAT && inOut[pos].format == gie::TensorFormat::kLINEAR;
    }
    int32_t configure(const gie::TensorDesc* in, int32_t nbInputs, const gie::TensorDesc*, int32_t) noexcept override {
        if (nbInputs != 1) return -1;
        maxVolume_ = volume(in[0].dims);
        return 0;
    }
    size_t getWorkspaceSize() const noexcept override { return tactic_ == 1 ? static_cast<size_t>(maxVolume_) * sizeof(float) : 0; }
    int32_t getNbTactics() const noexcept override { return 2; }
    const char* getTacticName(int32_t t) const noexcept override { return t == 0 ? "plain" : t == 1 ? "scratch" : nullptr; }
    int32_t setTactic(int32_t t) noexcept override {
        if (t < 0 || t > 1) return -1;
        tactic_ = t;
        return 0;
    }
    int32_t getTactic() const noexcept override { return tactic_; }
    int32_t enqueue(const gie::TensorDesc* inDesc, const gie::TensorDesc*, const void* const* inputs, void* const* outputs, void* workspace,
                    void*) const noexcept override {
        const int64_t n = volume(inDesc[0].dims);
        if (n > maxVolume_) {
            gie::setLastError(gie::ErrorCode::kINTERNAL, "TacticTag: a call larger than configured");
            return -1;
        }
        const float* x = static_cast<const float*>(inputs[0]);
        float* y = static_cast<float*>(outputs[0]);
        if (tactic_ == 1) {
            float* w = static_cast<float*>(workspace);
            for (int64_t i = 0; i < n; ++i) w[i] = x[i] + 1.f;
            for (int64_t i = 0; i < n; ++i) y[i] = w[i];
        } else {
            for (int64_t i = 0; i < n; ++i) y[i] = x[i] + 1.f;
        }
        static_cast<float*>(outputs[1])[0] = static_cast<float>(tactic_);
        return 0;
    }

private:
    int32_t tactic_ = 0;
    int64_t maxVolume_ = 0;
};

class UnverifiedTag final : public Base<UnverifiedTag> {
public:
    static constexpr const char* kName = "UnverifiedTag";
    int32_t getNbOutputs() const noexcept override { return 2; }
    int32_t getOutputDimensions(const gie::Dims* in, int32_t nbInputs, gie::Dims* out) const noexcept override {
        if (nbInputs != 1) return -1;
        out[0] = in[0];
        out[1].nbDims = 1;
        out[1].d[0] = 1;
        return 0;
    }
    bool supportsFormatCombination(int32_t pos, const gie::TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        return inOut[pos].type == gie::DataType::kFLOAT && inOut[pos].format == gie::TensorFormat::kLINEAR;
    }
    int32_t getNbTactics() const noexcept override { return 2; }
    const char* getTacticName(int32_t t) const noexcept override { return t == 0 ? "plain" : t == 1 ? "unverified_gate_test_cpu" : nullptr; }
    int32_t setTactic(int32_t t) noexcept override {
        if (t < 0 || t > 1) return -1;
        tactic_ = t;
        return 0;
    }
    int32_t getTactic() const noexcept override { return tactic_; }
    int32_t enqueue(const gie::TensorDesc* inDesc, const gie::TensorDesc*, const void* const* inputs, void* const* outputs, void*,
                    void*) const noexcept override {
        if (tactic_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // timed, the other one would win
        const int64_t n = volume(inDesc[0].dims);
        const float* x = static_cast<const float*>(inputs[0]);
        float* y = static_cast<float*>(outputs[0]);
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] + 1.f;
        static_cast<float*>(outputs[1])[0] = static_cast<float>(tactic_);
        return 0;
    }

private:
    int32_t tactic_ = 0;
};

template <typename P>
class Creator final : public gie::IPluginCreator {
public:
    const char* getPluginName() const noexcept override { return P::kName; }
    const char* getPluginVersion() const noexcept override { return "1"; }
    gie::DeviceType getDeviceType() const noexcept override { return gie::DeviceType::kCPU; }
    const gie::PluginFieldCollection* getFieldNames() noexcept override { return &fc_; }
    gie::IPlugin* createPlugin(const char*, const gie::PluginFieldCollection* fields) noexcept override {
        if (fields && fields->nbFields > 0) {
            gie::setLastError(gie::ErrorCode::kINVALID_ARGUMENT, "this test plugin takes no fields");
            return nullptr;
        }
        return new (std::nothrow) P();
    }
    gie::IPlugin* deserializePlugin(const char* layerName, const void*, size_t length) noexcept override {
        if (length != 0) {
            gie::setLastError(gie::ErrorCode::kINVALID_ENGINE, "this test plugin expects no serialized fields");
            return nullptr;
        }
        return createPlugin(layerName, nullptr);
    }

private:
    gie::PluginFieldCollection fc_{};
};

}  // namespace

GIE_REGISTER_PLUGIN_CREATOR(Creator<RangeRecorder>);
GIE_REGISTER_PLUGIN_CREATOR(Creator<ShapeTactics>);
GIE_REGISTER_PLUGIN_CREATOR(Creator<TacticTag>);
GIE_REGISTER_PLUGIN_CREATOR(Creator<UnverifiedTag>);
