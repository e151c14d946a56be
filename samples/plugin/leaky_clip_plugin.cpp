// gie sample plugin library: "LeakyClip", a CPU kernel written only against gie's public headers.
//
//            | lo + slope * (x - lo)   x < lo
//   y(x) =   | x                       lo <= x <= hi
//            | hi + slope * (x - hi)   x > hi
//
// Fields: lo, hi, slope (float scalars; defaults -1, 1, 0.01). lo <= hi and all three finite.
//
// Build it as its own shared library against an installed gie (see CMakeLists.txt next to this file):
//   cmake -S samples/plugin -B build/leaky_clip -Dgie_DIR=$(python -m gie --cmake-dir)
//   cmake --build build/leaky_clip
// then load it before building or loading engines that use it:
//   gie.load_library("build/leaky_clip/libleaky_clip_plugin.so")
//   y = net.add_plugin("LeakyClip", [x], {"lo": -1.0, "hi": 1.0, "slope": 0.1}).get_output(0)
//
// The rules every plugin follows (docs/plugins.md):
//   * no exception leaves a gie-facing method (all are noexcept; failures are return values, explained
//     with gie::setLastError);
//   * enqueue is const and may run on several threads at once (one instance is shared by every
//     execution context of an engine), so it reads only its own immutable fields;
//   * the serialized form is versioned and deserializePlugin checks every byte count before reading.
#include <gie/plugin.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>

namespace {

constexpr const char* kPluginName = "LeakyClip";
constexpr const char* kPluginVersion = "1";
constexpr uint32_t kFormatVersion = 1;  // of the serialized bytes below

struct Params {
    float lo = -1.0f;
    float hi = 1.0f;
    float slope = 0.01f;
};

std::string str(float v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", static_cast<double>(v));
    return buf;
}

// Returns an empty string when the parameters are valid, else why not.
std::string check(const Params& p) {
    if (!std::isfinite(p.lo) || !std::isfinite(p.hi) || !std::isfinite(p.slope))
        return "fields 'lo', 'hi' and 'slope' must be finite";
    if (p.lo > p.hi) return "field 'lo' (" + str(p.lo) + ") must be <= field 'hi' (" + str(p.hi) + ")";
    return {};
}

void reportError(gie::ErrorCode code, const std::string& msg) noexcept {
    gie::setLastError(code, msg.c_str());
}

// Reads a scalar field given as any float or integer type. Returns false (and says why) otherwise.
bool readScalar(const gie::PluginField& f, float& out, std::string& why) {
    if (f.length != 1 || f.data == nullptr) {
        why = std::string("field '") + f.name + "' must hold exactly one value, got " + std::to_string(f.length);
        return false;
    }
    switch (f.type) {
        case gie::PluginFieldType::kFLOAT32: out = *static_cast<const float*>(f.data); return true;
        case gie::PluginFieldType::kFLOAT64: out = static_cast<float>(*static_cast<const double*>(f.data)); return true;
        case gie::PluginFieldType::kINT32: out = static_cast<float>(*static_cast<const int32_t*>(f.data)); return true;
        case gie::PluginFieldType::kINT64: out = static_cast<float>(*static_cast<const int64_t*>(f.data)); return true;
        default:
            why = std::string("field '") + f.name + "' must be a float or integer scalar";
            return false;
    }
}

class LeakyClipPlugin final : public gie::IPlugin {
public:
    explicit LeakyClipPlugin(const Params& p) : p_(p) {}

    const char* getPluginType() const noexcept override { return kPluginName; }
    const char* getPluginVersion() const noexcept override { return kPluginVersion; }
    gie::IPlugin* clone() const noexcept override { return new (std::nothrow) LeakyClipPlugin(*this); }

    // Elementwise: one output of the input's shape and type.
    int32_t getNbOutputs() const noexcept override { return 1; }
    int32_t getOutputDimensions(const gie::Dims* inputs, int32_t nbInputs, gie::Dims* outputs) const noexcept override {
        if (nbInputs != 1) {
            gie::setLastError(gie::ErrorCode::kINVALID_MODEL, "LeakyClip takes exactly 1 input");
            return -1;
        }
        outputs[0] = inputs[0];
        return 0;
    }

    // float32, linear, for the input and the output.
    bool supportsFormatCombination(int32_t pos, const gie::TensorDesc* inOut, int32_t nbInputs,
                                   int32_t nbOutputs) const noexcept override {
        (void)nbInputs;
        (void)nbOutputs;
        return inOut[pos].type == gie::DataType::kFLOAT && inOut[pos].format == gie::TensorFormat::kLINEAR;
    }

    int32_t enqueue(const gie::TensorDesc* inputDesc, const gie::TensorDesc* outputDesc, const void* const* inputs,
                    void* const* outputs, void* workspace, void* stream) const noexcept override {
        (void)outputDesc;
        (void)workspace;
        (void)stream;  // a CPU plugin gets host pointers and no stream
        int64_t n = 1;
        for (int32_t i = 0; i < inputDesc[0].dims.nbDims; ++i) n *= inputDesc[0].dims.d[i];
        const float* x = static_cast<const float*>(inputs[0]);
        float* y = static_cast<float*>(outputs[0]);
        const float lo = p_.lo, hi = p_.hi, slope = p_.slope;
        for (int64_t i = 0; i < n; ++i) {
            const float v = x[i];
            y[i] = v < lo ? lo + slope * (v - lo) : (v > hi ? hi + slope * (v - hi) : v);
        }
        return 0;
    }

    // Serialized form: uint32 format version, then lo, hi, slope as float32 (native byte order).
    size_t getSerializationSize() const noexcept override { return sizeof(uint32_t) + 3 * sizeof(float); }
    void serialize(void* buffer) const noexcept override {
        char* b = static_cast<char*>(buffer);
        const uint32_t version = kFormatVersion;
        std::memcpy(b, &version, sizeof version);
        b += sizeof version;
        const float values[3] = {p_.lo, p_.hi, p_.slope};
        std::memcpy(b, values, sizeof values);
    }

private:
    Params p_;
};

class LeakyClipCreator final : public gie::IPluginCreator {
public:
    LeakyClipCreator() {
        fields_[0].name = "lo";
        fields_[1].name = "hi";
        fields_[2].name = "slope";
        for (auto& f : fields_) f.type = gie::PluginFieldType::kFLOAT32;
        fc_.nbFields = 3;
        fc_.fields = fields_;
    }

    const char* getPluginName() const noexcept override { return kPluginName; }
    const char* getPluginVersion() const noexcept override { return kPluginVersion; }
    gie::DeviceType getDeviceType() const noexcept override { return gie::DeviceType::kCPU; }
    const gie::PluginFieldCollection* getFieldNames() noexcept override { return &fc_; }

    gie::IPlugin* createPlugin(const char* layerName, const gie::PluginFieldCollection* fields) noexcept override {
        try {
            Params p;
            std::string why;
            for (int32_t i = 0; fields && i < fields->nbFields; ++i) {
                const gie::PluginField& f = fields->fields[i];
                const std::string name = f.name ? f.name : "";
                float* target = name == "lo" ? &p.lo : name == "hi" ? &p.hi : name == "slope" ? &p.slope : nullptr;
                if (!target) why = "unknown field '" + name + "' (LeakyClip fields: lo, hi, slope)";
                else readScalar(f, *target, why);
                if (!why.empty()) break;
            }
            if (why.empty()) why = check(p);
            if (!why.empty()) {
                reportError(gie::ErrorCode::kINVALID_ARGUMENT,
                            std::string("LeakyClip layer '") + (layerName ? layerName : "") + "': " + why);
                return nullptr;
            }
            return new LeakyClipPlugin(p);
        } catch (...) {  // std::bad_alloc from the strings or new
            gie::setLastError(gie::ErrorCode::kOUT_OF_MEMORY, "LeakyClip: out of memory");
            return nullptr;
        }
    }

    gie::IPlugin* deserializePlugin(const char* layerName, const void* data, size_t length) noexcept override {
        try {
            const std::string where = std::string("LeakyClip kernel '") + (layerName ? layerName : "") + "': ";
            // Never trust `length`: check it before every read.
            if (data == nullptr || length != sizeof(uint32_t) + 3 * sizeof(float)) {
                reportError(gie::ErrorCode::kINVALID_ENGINE,
                            where + "expected 16 bytes of fields, got " + std::to_string(length));
                return nullptr;
            }
            const char* b = static_cast<const char*>(data);
            uint32_t version = 0;
            std::memcpy(&version, b, sizeof version);
            if (version != kFormatVersion) {
                reportError(gie::ErrorCode::kVERSION_MISMATCH,
                            where + "fields of format version " + std::to_string(version) + ", this library reads " +
                                std::to_string(kFormatVersion));
                return nullptr;
            }
            float values[3];
            std::memcpy(values, b + sizeof version, sizeof values);
            Params p;
            p.lo = values[0];
            p.hi = values[1];
            p.slope = values[2];
            const std::string why = check(p);  // a tampered file must not produce a nonsensical kernel
            if (!why.empty()) {
                reportError(gie::ErrorCode::kINVALID_ENGINE, where + why);
                return nullptr;
            }
            return new LeakyClipPlugin(p);
        } catch (...) {
            gie::setLastError(gie::ErrorCode::kOUT_OF_MEMORY, "LeakyClip: out of memory");
            return nullptr;
        }
    }

private:
    gie::PluginField fields_[3];
    gie::PluginFieldCollection fc_;
};

}  // namespace

// Registers the creator when the library is loaded (gie.load_library / IPluginRegistry::loadLibrary).
GIE_REGISTER_PLUGIN_CREATOR(LeakyClipCreator);
