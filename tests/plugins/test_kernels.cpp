// Plugins used by tests/test_plugins.py, each exercising one part of the plugin contract. Built at test
// time against the installed public headers only:
//   c++ -std=c++17 -O2 -shared -fPIC -I<gie.include_dir()> test_kernels.cpp -L<gie.library_dir()> -lgie ...
//
//   SplitHalf      2 outputs: splits dimension 1 into two halves.
//   ArgMaxChannel  an int32 output (getOutputDataTypes): argmax over dimension 1, which is dropped.
//   TwoTactics     y = 2x with tactics "slow" (0, sleeps ~3 ms) and "fast" (1); the builder must pick 1.
//   HalfOnly       y = -x for float16 only (supportsFormatCombination rejects float32).
//   AlwaysFails    enqueue returns non-zero after gie::setLastError.
//   FloatLinearOnly  y = x + 1 for float32 LINEAR only (an FP32 island in an FP16 network).
//   ChannelScale   y[n, c, h, w] = (c + 1) * x, float32, in and out both LINEAR (slow: sleeps 20 ms) or both NHWC
//                  (fast): the builder must choose NHWC with Reformats around it.
// None has fields; every creator rejects any field it is given, naming it.
#include <gie/plugin.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <thread>

#include "test_plugin_base.h"

namespace {

template <typename P>
class Creator final : public gie::IPluginCreator {
public:
    const char* getPluginName() const noexcept override { return P::kName; }
    const char* getPluginVersion() const noexcept override { return "1"; }
    gie::DeviceType getDeviceType() const noexcept override { return gie::DeviceType::kCPU; }
    const gie::PluginFieldCollection* getFieldNames() noexcept override { return &fc_; }
    gie::IPlugin* createPlugin(const char* layerName, const gie::PluginFieldCollection* fields) noexcept override {
        if (fields && fields->nbFields > 0) {
            try {
                std::string msg = std::string(P::kName) + " layer '" + (layerName ? layerName : "") + "': unknown field '" +
                                  (fields->fields[0].name ? fields->fields[0].name : "") + "' (it takes none)";
                gie::setLastError(gie::ErrorCode::kINVALID_ARGUMENT, msg.c_str());
            } catch (...) {
            }
            return nullptr;
        }
        return new (std::nothrow) P();
    }
    gie::IPlugin* deserializePlugin(const char* layerName, const void* data, size_t length) noexcept override {
        (void)data;
        if (length != 0) {
            gie::setLastError(gie::ErrorCode::kINVALID_ENGINE, "expected no serialized fields");
            return nullptr;
        }
        return createPlugin(layerName, nullptr);
    }

private:
    gie::PluginFieldCollection fc_{};
};

bool isFloatLinear(const gie::TensorDesc& d) {
    return d.type == gie::DataType::kFLOAT && d.format == gie::TensorFormat::kLINEAR;
}

// ---- SplitHalf -------------------------------------------------------------------------------------

class SplitHalf final : public Base<SplitHalf> {
public:
    static constexpr const char* kName = "SplitHalf";
    int32_t getNbOutputs() const noexcept override { return 2; }
    int32_t getOutputDimensions(const gie::Dims* in, int32_t nbInputs, gie::Dims* out) const noexcept override {
        if (nbInputs != 1 || in[0].nbDims < 2 || in[0].d[1] % 2 != 0) {
            gie::setLastError(gie::ErrorCode::kINVALID_MODEL, "SplitHalf needs 1 input whose dimension 1 is even");
            return -1;
        }
        out[0] = out[1] = in[0];
        out[0].d[1] = out[1].d[1] = in[0].d[1] / 2;
        return 0;
    }
    bool supportsFormatCombination(int32_t pos, const gie::TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        return isFloatLinear(inOut[pos]);
    }
    int32_t enqueue(const gie::TensorDesc* inDesc, const gie::TensorDesc*, const void* const* inputs, void* const* outputs,
                    void*, void*) const noexcept override {
        const gie::Dims& d = inDesc[0].dims;
        const int64_t outer = d.d[0], half = d.d[1] / 2, inner = volume(d) / (d.d[0] * d.d[1]);
        const float* x = static_cast<const float*>(inputs[0]);
        for (int64_t n = 0; n < outer; ++n)
            for (int h = 0; h < 2; ++h)
                std::memcpy(static_cast<float*>(outputs[h]) + n * half * inner, x + (n * 2 + h) * half * inner,
                            static_cast<size_t>(half * inner) * sizeof(float));
        return 0;
    }
};

// ---- ArgMaxChannel ---------------------------------------------------------------------------------

class ArgMaxChannel final : public Base<ArgMaxChannel> {
public:
    static constexpr const char* kName = "ArgMaxChannel";
    int32_t getNbOutputs() const noexcept override { return 1; }
    int32_t getOutputDimensions(const gie::Dims* in, int32_t nbInputs, gie::Dims* out) const noexcept override {
        if (nbInputs != 1 || in[0].nbDims < 2) return -1;
        out[0].nbDims = in[0].nbDims - 1;
        out[0].d[0] = in[0].d[0];
        for (int32_t i = 2; i < in[0].nbDims; ++i) out[0].d[i - 1] = in[0].d[i];
        return 0;
    }
    int32_t getOutputDataTypes(const gie::DataType*, int32_t, gie::DataType* out) const noexcept override {
        out[0] = gie::DataType::kINT32;
        return 0;
    }
    bool supportsFormatCombination(int32_t pos, const gie::TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        if (inOut[pos].format != gie::TensorFormat::kLINEAR) return false;
        return inOut[pos].type == (pos == 0 ? gie::DataType::kFLOAT : gie::DataType::kINT32);
    }
    int32_t enqueue(const gie::TensorDesc* inDesc, const gie::TensorDesc*, const void* const* inputs, void* const* outputs,
                    void*, void*) const noexcept override {
        const gie::Dims& d = inDesc[0].dims;
        const int64_t N = d.d[0], C = d.d[1], inner = volume(d) / (d.d[0] * d.d[1]);
        const float* x = static_cast<const float*>(inputs[0]);
        int32_t* y = static_cast<int32_t*>(outputs[0]);
        for (int64_t n = 0; n < N; ++n)
            for (int64_t i = 0; i < inner; ++i) {
                int32_t best = 0;
                for (int64_t c = 1; c < C; ++c)
                    if (x[(n * C + c) * inner + i] > x[(n * C + best) * inner + i]) best = static_cast<int32_t>(c);
                y[n * inner + i] = best;
            }
        return 0;
    }
};

// ---- TwoTactics ------------------------------------------------------------------------------------

class TwoTactics final : public Base<TwoTactics> {
public:
    static constexpr const char* kName = "TwoTactics";
    int32_t getNbOutputs() const noexcept override { return 1; }
    int32_t getOutputDimensions(const gie::Dims* in, int32_t nbInputs, gie::Dims* out) const noexcept override {
        if (nbInputs != 1) return -1;
        out[0] = in[0];
        return 0;
    }
    bool supportsFormatCombination(int32_t pos, const gie::TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        return isFloatLinear(inOut[pos]);
    }
    int32_t getNbTactics() const noexcept override { return 2; }
    const char* getTacticName(int32_t t) const noexcept override { return t == 0 ? "slow" : t == 1 ? "fast" : "?"; }
    int32_t setTactic(int32_t t) noexcept override {
        if (t < 0 || t > 1) return -1;
        tactic_ = t;
        return 0;
    }
    int32_t getTactic() const noexcept override { return tactic_; }
    int32_t enqueue(const gie::TensorDesc* inDesc, const gie::TensorDesc*, const void* const* inputs, void* const* outputs,
                    void*, void*) const noexcept override {
        if (tactic_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(3));  // deliberately slow
        const int64_t n = volume(inDesc[0].dims);
        const float* x = static_cast<const float*>(inputs[0]);
        float* y = static_cast<float*>(outputs[0]);
        for (int64_t i = 0; i < n; ++i) y[i] = 2.0f * x[i];
        return 0;
    }

private:
    int32_t tactic_ = 0;
};

// ---- HalfOnly --------------------------------------------------------------------------------------

class HalfOnly final : public Base<HalfOnly> {
public:
    static constexpr const char* kName = "HalfOnly";
    int32_t getNbOutputs() const noexcept override { return 1; }
    int32_t getOutputDimensions(const gie::Dims* in, int32_t nbInputs, gie::Dims* out) const noexcept override {
        if (nbInputs != 1) return -1;
        out[0] = in[0];
        return 0;
    }
    bool supportsFormatCombination(int32_t pos, const gie::TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        return inOut[pos].type == gie::DataType::kHALF && inOut[pos].format == gie::TensorFormat::kLINEAR;
    }
    int32_t enqueue(const gie::TensorDesc* inDesc, const gie::TensorDesc*, const void* const* inputs, void* const* outputs,
                    void*, void*) const noexcept override {
        const int64_t n = volume(inDesc[0].dims);
        const uint16_t* x = static_cast<const uint16_t*>(inputs[0]);
        uint16_t* y = static_cast<uint16_t*>(outputs[0]);
        for (int64_t i = 0; i < n; ++i) y[i] = static_cast<uint16_t>(x[i] ^ 0x8000u);  // flip the sign bit
        return 0;
    }
};

// ---- AlwaysFails -----------------------------------------------------------------------------------

class AlwaysFails final : public Base<AlwaysFails> {
public:
    static constexpr const char* kName = "AlwaysFails";
    int32_t getNbOutputs() const noexcept override { return 1; }
    int32_t getOutputDimensions(const gie::Dims* in, int32_t nbInputs, gie::Dims* out) const noexcept override {
        if (nbInputs != 1) return -1;
        out[0] = in[0];
        return 0;
    }
    bool supportsFormatCombination(int32_t pos, const gie::TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        return isFloatLinear(inOut[pos]);
    }
    int32_t enqueue(const gie::TensorDesc*, const gie::TensorDesc*, const void* const*, void* const*, void*,
                    void*) const noexcept override {
        gie::setLastError(gie::ErrorCode::kINTERNAL, "AlwaysFails: deliberate failure in enqueue");
        return 7;
    }
};

}  // namespace

// ---- FloatLinearOnly -----------------------------------------------------------------------------------

class FloatLinearOnly final : public Base<FloatLinearOnly> {
public:
    static constexpr const char* kName = "FloatLinearOnly";
    int32_t getNbOutputs() const noexcept override { return 1; }
    int32_t getOutputDimensions(const gie::Dims* in, int32_t nbInputs, gie::Dims* out) const noexcept override {
        if (nbInputs != 1) return -1;
        out[0] = in[0];
        return 0;
    }
    bool supportsFormatCombination(int32_t pos, const gie::TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        return isFloatLinear(inOut[pos]);
    }
    int32_t enqueue(const gie::TensorDesc* inDesc, const gie::TensorDesc*, const void* const* inputs, void* const* outputs,
                    void*, void*) const noexcept override {
        const int64_t n = volume(inDesc[0].dims);
        const float* x = static_cast<const float*>(inputs[0]);
        float* y = static_cast<float*>(outputs[0]);
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] + 1.f;
        return 0;
    }
};

// ---- ChannelScale ------------------------------------------------------------------------------------

class ChannelScale final : public Base<ChannelScale> {
public:
    static constexpr const char* kName = "ChannelScale";
    int32_t getNbOutputs() const noexcept override { return 1; }
    int32_t getOutputDimensions(const gie::Dims* in, int32_t nbInputs, gie::Dims* out) const noexcept override {
        if (nbInputs != 1 || in[0].nbDims != 4) return -1;
        out[0] = in[0];
        return 0;
    }
    bool supportsFormatCombination(int32_t pos, const gie::TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        const gie::TensorDesc& d = inOut[pos];
        if (d.type != gie::DataType::kFLOAT) return false;
        if (d.format != gie::TensorFormat::kLINEAR && d.format != gie::TensorFormat::kNHWC) return false;
        return pos == 0 || d.format == inOut[0].format;
    }
    int32_t enqueue(const gie::TensorDesc* inDesc, const gie::TensorDesc*, const void* const* inputs, void* const* outputs,
                    void*, void*) const noexcept override {
        const gie::Dims& d = inDesc[0].dims;
        const int64_t n = volume(d), c = d.d[1], hw = d.d[2] * d.d[3];
        const bool nhwc = inDesc[0].format == gie::TensorFormat::kNHWC;
        if (!nhwc) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        const float* x = static_cast<const float*>(inputs[0]);
        float* y = static_cast<float*>(outputs[0]);
        for (int64_t i = 0; i < n; ++i) {
            const int64_t ch = nhwc ? i % c : (i / hw) % c;
            y[i] = static_cast<float>(ch + 1) * x[i];
        }
        return 0;
    }
};

GIE_REGISTER_PLUGIN_CREATOR(Creator<SplitHalf>);
GIE_REGISTER_PLUGIN_CREATOR(Creator<ArgMaxChannel>);
GIE_REGISTER_PLUGIN_CREATOR(Creator<TwoTactics>);
GIE_REGISTER_PLUGIN_CREATOR(Creator<HalfOnly>);
GIE_REGISTER_PLUGIN_CREATOR(Creator<AlwaysFails>);
GIE_REGISTER_PLUGIN_CREATOR(Creator<FloatLinearOnly>);
GIE_REGISTER_PLUGIN_CREATOR(Creator<ChannelScale>);
