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
//   y = net.add_plugin("LeakyClip", [x], {"lo": -1.0, "hi": 1.0, "slope": 0.1}).output(0)
//
// gie::PluginBase (gie/plugin_helpers.h) does the rest from the field list in Params::fields: type name and
// version, clone, field declaration and parsing (unknown names, wrong types and lengths are refused naming the
// layer and the field), a versioned serialized form read back with every length checked, validation of both
// with Params::validate, float32 linear as the one format, and error reporting. What is left is the math.
// enqueue is const: one instance is shared by every execution context of an engine, on several threads.
#include <gie/plugin_helpers.h>

#include <cmath>
#include <cstdio>
#include <string>

namespace {

struct Params {
    float lo = -1.0f;
    float hi = 1.0f;
    float slope = 0.01f;
    template <typename V>
    void fields(V& v) { v("lo", lo); v("hi", hi); v("slope", slope); }
    std::string validate() const {  // "" = valid; also run on deserialized fields (a tampered engine file)
        if (!std::isfinite(lo) || !std::isfinite(hi) || !std::isfinite(slope)) return "fields 'lo', 'hi' and 'slope' must be finite";
        if (lo > hi) return "field 'lo' (" + text(lo) + ") must be <= field 'hi' (" + text(hi) + ")";
        return "";
    }
    static std::string text(float v) {
        char b[32];
        std::snprintf(b, sizeof b, "%g", static_cast<double>(v));
        return b;
    }
};

class LeakyClip final : public gie::PluginBase<LeakyClip, Params> {
public:
    static constexpr const char* kName = "LeakyClip";
    static constexpr const char* kVersion = "1";
    using PluginBase::PluginBase;

    int32_t enqueue(const gie::TensorDesc* inputDesc, const gie::TensorDesc*, const void* const* inputs, void* const* outputs,
                    void*, void*) const noexcept override {
        const int64_t n = gie::elementCount(inputDesc[0].dims);  // the shape of this call
        const float* x = static_cast<const float*>(inputs[0]);
        float* y = static_cast<float*>(outputs[0]);
        const float lo = params().lo, hi = params().hi, slope = params().slope;
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] < lo ? lo + slope * (x[i] - lo) : (x[i] > hi ? hi + slope * (x[i] - hi) : x[i]);
        return 0;
    }
};

}  // namespace

// Registers the creator when the library is loaded (gie.load_library / IPluginRegistry::loadLibrary).
GIE_REGISTER_PLUGIN_CREATOR(gie::PluginCreatorBase<LeakyClip>);
