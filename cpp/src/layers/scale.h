// Scale shape rules: y = (x * scale + shift) ^ power, with the weights applied per tensor (UNIFORM: 1 value),
// per channel (CHANNEL: dims[channel_axis] values) or per element of the trailing block (ELEMENTWISE:
// volume(dims[channel_axis:]) values). Each weight is optional (scale 1, shift 0, power 1). BatchNorm maps here.
#pragma once

#include <string>

#include "gie/network.h"
#include "plugin/builtin.h"

namespace gie {

struct ScaleOp : OpBase {
    static constexpr const char* kType = "Scale";
    static std::vector<FieldSpec> fieldSpecs() {
        return {{"mode", PluginFieldType::kINT64},     {"shift", PluginFieldType::kFLOAT32}, {"scale", PluginFieldType::kFLOAT32},
                {"power", PluginFieldType::kFLOAT32}, {"channel_axis", PluginFieldType::kINT64}};
    }
    ScaleMode mode;
    std::vector<float> shift, scale, power;  // empty = not given
    int64_t channelAxis;
    int64_t count = 0;                       // values per given weight (0 if none is given)

    static const char* modeName(ScaleMode m) {
        return m == ScaleMode::kUNIFORM ? "UNIFORM" : m == ScaleMode::kCHANNEL ? "CHANNEL" : "ELEMENTWISE";
    }

    explicit ScaleOp(const FieldMap& f) {
        int64_t m = f.getInt("mode", 0);
        GIE_CHECK(m >= 0 && m <= 2, ErrorCode::kINVALID_ARGUMENT, "Scale: unknown mode ", m,
                  " (field 'mode' must be a ScaleMode: 0 UNIFORM, 1 CHANNEL, 2 ELEMENTWISE)");
        mode = static_cast<ScaleMode>(m);
        channelAxis = f.getInt("channel_axis", 1);
        shift = f.floats("shift");
        scale = f.floats("scale");
        power = f.floats("power");
        const char* names[] = {"shift", "scale", "power"};
        const std::vector<float>* ws[] = {&shift, &scale, &power};
        const char* first = nullptr;
        for (int i = 0; i < 3; ++i) {
            if (!f.has(names[i])) continue;
            int64_t n = static_cast<int64_t>(ws[i]->size());
            GIE_CHECK(n > 0, ErrorCode::kINVALID_ARGUMENT, "Scale: weights '", names[i], "' are empty (leave the field out instead)");
            if (mode == ScaleMode::kUNIFORM)
                GIE_CHECK(n == 1, ErrorCode::kINVALID_ARGUMENT, "Scale UNIFORM: weights '", names[i], "' need 1 value, got ", n);
            if (!first) {
                first = names[i];
                count = n;
            } else {
                GIE_CHECK(n == count, ErrorCode::kINVALID_ARGUMENT, "Scale ", modeName(mode), ": weights '", names[i], "' have ", n,
                          " values but '", first, "' has ", count, "; they must have the same count");
            }
        }
    }
    //! Normalized channel axis for an input of rank `rank` (fails naming it).
    int axis(int rank) const { return normalizeAxis(channelAxis, rank, "Scale channel_axis"); }
    //! Values per weight expected for input dims `d`.
    int64_t expectedCount(const Dims& d) const {
        if (mode == ScaleMode::kUNIFORM) return 1;
        int a = axis(d.nbDims);
        if (mode == ScaleMode::kCHANNEL) return d.d[a];
        int64_t v = 1;
        for (int i = a; i < d.nbDims; ++i) v *= d.d[i];
        return v;
    }
    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 1, 1, kType);
        if (mode != ScaleMode::kUNIFORM) {
            GIE_CHECK(in[0].nbDims >= 1, ErrorCode::kINVALID_MODEL, "Scale ", modeName(mode), " needs an input of rank >= 1");
            int64_t want = expectedCount(in[0]);
            GIE_CHECK(count == 0 || count == want, ErrorCode::kINVALID_MODEL, "Scale ", modeName(mode), ": the weights have ", count,
                      " values but the input ", toString(in[0]), " with channel_axis ", channelAxis, " needs ", want,
                      mode == ScaleMode::kCHANNEL ? " (one per channel)" : " (one per element of dims[channel_axis:])");
        }
        out[0] = in[0];
    }
};

}  // namespace gie
