// Plugins that each break one rule of the plugin contract, for tests/test_plugin_check.py: `gie plugin check`
// must name exactly that rule. Built on gie/plugin_helpers.h (y = x + bias unless said otherwise), so each class
// shows only its defect:
//
//   BadClone        clone() copies a different bias                     -> clone
//   LosesField      deserializePlugin ignores the stored bias            -> serialize round trip
//   TrustsLength    deserializePlugin accepts any length                 -> truncated bytes refused
//   NegativeShape   getOutputDimensions makes a negative dimension       -> output shapes and types
//   LooksAhead      supportsFormatCombination(0) reads position 1        -> format combinations
//   SkipsLast       enqueue leaves the last output element unwritten     -> writes every output element
//   Counts          enqueue adds a call counter (a mutable member)       -> two runs agree
//   BakesShape      enqueue uses the element count seen at configure      -> smaller batch
//   SharedScratch   enqueue goes through a member scratch buffer          -> threads agree
//   BadTactic       tactic 1 adds 0.5 more than tactic 0                 -> tactics agree with tactic 0
#include <gie/plugin_helpers.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

namespace {

struct Bias {
    float bias = 1.0f;
    template <typename V>
    void fields(V& v) { v("bias", bias); }
};

template <typename Self>
class AddBias : public gie::PluginBase<Self, Bias> {
public:
    using gie::PluginBase<Self, Bias>::PluginBase;
    int32_t enqueue(const gie::TensorDesc* in, const gie::TensorDesc*, const void* const* inputs, void* const* outputs, void*,
                    void*) const noexcept override {
        const int64_t n = gie::elementCount(in[0].dims);
        for (int64_t i = 0; i < n; ++i) static_cast<float*>(outputs[0])[i] = static_cast<const float*>(inputs[0])[i] + this->params().bias;
        return 0;
    }
};

#define PLUGIN_NAME(N) static constexpr const char* kName = #N; static constexpr const char* kVersion = "1"

class BadClone final : public AddBias<BadClone> {
public:
    PLUGIN_NAME(BadClone);
    using AddBias::AddBias;
    gie::IPlugin* clone() const noexcept override { return new (std::nothrow) BadClone(Bias{params().bias + 1}); }
};

class LosesField final : public AddBias<LosesField> {
public:
    PLUGIN_NAME(LosesField);
    using AddBias::AddBias;
};
class LosesFieldCreator final : public gie::PluginCreatorBase<LosesField> {
public:
    gie::IPlugin* deserializePlugin(const char* name, const void* data, size_t length) noexcept override {
        gie::IPlugin* p = PluginCreatorBase::deserializePlugin(name, data, length);
        if (!p) return nullptr;
        delete p;
        return new (std::nothrow) LosesField(Bias{0.0f});  // the stored bias is lost
    }
};

class TrustsLength final : public AddBias<TrustsLength> {
public:
    PLUGIN_NAME(TrustsLength);
    using AddBias::AddBias;
};
class TrustsLengthCreator final : public gie::PluginCreatorBase<TrustsLength> {
public:
    gie::IPlugin* deserializePlugin(const char* name, const void* data, size_t length) noexcept override {
        if (length == getRealSize()) return PluginCreatorBase::deserializePlugin(name, data, length);
        return new (std::nothrow) TrustsLength(Bias{});  // "reads" whatever is there: the bug is accepting it
    }
    static size_t getRealSize() { return TrustsLength(Bias{}).getSerializationSize(); }
};

class NegativeShape final : public AddBias<NegativeShape> {
public:
    PLUGIN_NAME(NegativeShape);
    using AddBias::AddBias;
    int32_t getOutputDimensions(const gie::Dims* in, int32_t, gie::Dims* out) const noexcept override {
        out[0] = in[0];
        out[0].d[0] = -1;
        return 0;
    }
};

class LooksAhead final : public AddBias<LooksAhead> {
public:
    PLUGIN_NAME(LooksAhead);
    using AddBias::AddBias;
    bool supportsFormatCombination(int32_t pos, const gie::TensorDesc* io, int32_t, int32_t) const noexcept override {
        return io[pos].format == gie::TensorFormat::kLINEAR && io[1].type == gie::DataType::kFLOAT && io[pos].type == gie::DataType::kFLOAT;
    }
};

class SkipsLast final : public AddBias<SkipsLast> {
public:
    PLUGIN_NAME(SkipsLast);
    using AddBias::AddBias;
    int32_t enqueue(const gie::TensorDesc* in, const gie::TensorDesc*, const void* const* inputs, void* const* outputs, void*,
                    void*) const noexcept override {
        const int64_t n = gie::elementCount(in[0].dims) - 1;
        for (int64_t i = 0; i < n; ++i) static_cast<float*>(outputs[0])[i] = static_cast<const float*>(inputs[0])[i];
        return 0;
    }
};

class Counts final : public AddBias<Counts> {
public:
    PLUGIN_NAME(Counts);
    using AddBias::AddBias;
    Counts(const Counts& o) : AddBias(o) {}
    int32_t enqueue(const gie::TensorDesc* in, const gie::TensorDesc*, const void* const* inputs, void* const* outputs, void*,
                    void*) const noexcept override {
        const float k = static_cast<float>(calls_.fetch_add(1));
        const int64_t n = gie::elementCount(in[0].dims);
        for (int64_t i = 0; i < n; ++i) static_cast<float*>(outputs[0])[i] = static_cast<const float*>(inputs[0])[i] + k;
        return 0;
    }

private:
    mutable std::atomic<int> calls_{0};
};

class BakesShape final : public AddBias<BakesShape> {
public:
    PLUGIN_NAME(BakesShape);
    using AddBias::AddBias;
    int32_t configure(const gie::TensorDesc* in, int32_t, const gie::TensorDesc*, int32_t) noexcept override {
        n_ = gie::elementCount(in[0].dims);
        return 0;
    }
    int32_t enqueue(const gie::TensorDesc*, const gie::TensorDesc*, const void* const* inputs, void* const* outputs, void*,
                    void*) const noexcept override {
        for (int64_t i = 0; i < n_; ++i) static_cast<float*>(outputs[0])[i] = static_cast<const float*>(inputs[0])[i] + params().bias;
        return 0;
    }

private:
    int64_t n_ = 0;
};

class SharedScratch final : public AddBias<SharedScratch> {
public:
    PLUGIN_NAME(SharedScratch);
    using AddBias::AddBias;
    int32_t enqueue(const gie::TensorDesc* in, const gie::TensorDesc*, const void* const* inputs, void* const* outputs, void*,
                    void*) const noexcept override {
        const size_t n = static_cast<size_t>(gie::elementCount(in[0].dims));
        if (scratch_.size() < n) return 1;
        for (size_t i = 0; i < n; ++i) scratch_[i] = static_cast<const float*>(inputs[0])[i];  // a race between calls
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        std::memcpy(outputs[0], scratch_.data(), n * sizeof(float));
        return 0;
    }

private:
    mutable std::vector<float> scratch_ = std::vector<float>(1 << 16);
};

class BadTactic final : public AddBias<BadTactic> {
public:
    PLUGIN_NAME(BadTactic);
    using AddBias::AddBias;
    int32_t getNbTactics() const noexcept override { return 2; }
    const char* getTacticName(int32_t t) const noexcept override { return t ? "wrong" : "right"; }
    int32_t setTactic(int32_t t) noexcept override {
        if (t < 0 || t > 1) return -1;
        tactic_ = t;
        return 0;
    }
    int32_t getTactic() const noexcept override { return tactic_; }
    int32_t enqueue(const gie::TensorDesc* in, const gie::TensorDesc*, const void* const* inputs, void* const* outputs, void*,
                    void*) const noexcept override {
        const int64_t n = gie::elementCount(in[0].dims);
        for (int64_t i = 0; i < n; ++i) static_cast<float*>(outputs[0])[i] = static_cast<const float*>(inputs[0])[i] + (tactic_ ? 0.5f : 0.f);
        return 0;
    }

private:
    int32_t tactic_ = 0;
};

}  // namespace

GIE_REGISTER_PLUGIN_CREATOR(gie::PluginCreatorBase<BadClone>);
GIE_REGISTER_PLUGIN_CREATOR(LosesFieldCreator);
GIE_REGISTER_PLUGIN_CREATOR(TrustsLengthCreator);
GIE_REGISTER_PLUGIN_CREATOR(gie::PluginCreatorBase<NegativeShape>);
GIE_REGISTER_PLUGIN_CREATOR(gie::PluginCreatorBase<LooksAhead>);
GIE_REGISTER_PLUGIN_CREATOR(gie::PluginCreatorBase<SkipsLast>);
GIE_REGISTER_PLUGIN_CREATOR(gie::PluginCreatorBase<Counts>);
GIE_REGISTER_PLUGIN_CREATOR(gie::PluginCreatorBase<BakesShape>);
GIE_REGISTER_PLUGIN_CREATOR(gie::PluginCreatorBase<SharedScratch>);
GIE_REGISTER_PLUGIN_CREATOR(gie::PluginCreatorBase<BadTactic>);
