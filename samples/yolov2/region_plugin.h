// The "Region" plugin: YOLOv2's [region] layer with darknet's decoding, thresholding and per-class
// non-maximum suppression, ending in a fixed-size detections tensor. Written only against gie's public
// headers; the CPU kernel is in region_plugin.cpp, the CUDA one in region_plugin_gpu.cu.
//
// Input: the raw map (N, num * (coords + 1 + classes), H, W), float32 linear (darknet's layout: per anchor,
// channels x, y, w, h, objectness, class logits).
// Outputs (per image n, `max_detections` rows; rows past count[n] are 0, class -1):
//   0 boxes   (N, max_detections, 4) float32  x, y, w, h: centre and size relative to the network input
//   1 scores  (N, max_detections)    float32  objectness * P(class)
//   2 classes (N, max_detections)    int32
//   3 count   (N)                    int32    number of valid rows
// A detection is a (box, class) pair whose score exceeds `threshold` (darknet's get_region_detections) and
// that survives greedy NMS among the boxes of its class (darknet's do_nms_sort: a box is dropped when its IoU
// with a kept box of higher score exceeds `nms_threshold`). Rows are ordered by score, descending; equal
// scores by box index (anchor-major, then row, then column), then class: the tie order is fixed, where
// darknet's qsort leaves it open.
//
// Fields: num (1), classes (20), coords (4; only 4), softmax (0: logistic class scores, 1: softmax), anchors
// (2 * num floats, in grid cells; default 0.5 each), as darknet's [region] section; threshold (0.24),
// nms_threshold (0.45), max_detections (100).
#pragma once

#include <gie/plugin.h>

#include <algorithm>
#include <cmath>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

namespace region {

constexpr const char* kPluginName = "Region";
constexpr const char* kPluginVersion = "1";
constexpr uint32_t kFormatVersion = 1;  // of the serialized fields
constexpr int32_t kMaxCount = 1 << 14;  // num, classes (as gie's Darknet importer)
constexpr int32_t kMaxDetections = 1 << 20;

struct Params {
    int32_t num = 1, classes = 20, coords = 4, softmax = 0;
    std::vector<float> anchors;  // 2 * num; empty until checked (then darknet's default 0.5)
    float threshold = 0.24f, nmsThreshold = 0.45f;
    int32_t maxDetections = 100;
};

inline std::string text(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

//! "" when valid, else why not. Fills in the default anchors.
inline std::string check(Params& p) {
    if (p.num < 1 || p.num > kMaxCount) return "field 'num' (" + std::to_string(p.num) + ") must be in [1, 16384]";
    if (p.classes < 0 || p.classes > kMaxCount)
        return "field 'classes' (" + std::to_string(p.classes) + ") must be in [0, 16384]";
    if (p.coords != 4) return "field 'coords' (" + std::to_string(p.coords) + ") must be 4";
    if (p.softmax != 0 && p.softmax != 1) return "field 'softmax' (" + std::to_string(p.softmax) + ") must be 0 or 1";
    if (p.anchors.empty()) p.anchors.assign(static_cast<size_t>(2 * p.num), 0.5f);
    if (p.anchors.size() != static_cast<size_t>(2 * p.num))
        return "field 'anchors' has " + std::to_string(p.anchors.size()) + " values, needs 2 * num = " + std::to_string(2 * p.num);
    for (float a : p.anchors)
        if (!std::isfinite(a) || a < 0) return "field 'anchors' holds " + text(a) + "; anchors must be finite and >= 0";
    if (!(p.threshold >= 0 && p.threshold < 1)) return "field 'threshold' (" + text(p.threshold) + ") must be in [0, 1)";
    if (!(p.nmsThreshold >= 0 && p.nmsThreshold <= 1))
        return "field 'nms_threshold' (" + text(p.nmsThreshold) + ") must be in [0, 1]";
    if (p.maxDetections < 1 || p.maxDetections > kMaxDetections)
        return "field 'max_detections' (" + std::to_string(p.maxDetections) + ") must be in [1, 1048576]";
    return {};
}

//! The geometry of one call, from the input dims; `why` says what is wrong with them.
struct Shape {
    int64_t n = 0, h = 0, w = 0, boxes = 0;  // boxes per image: num * h * w
    bool ok(const gie::Dims& d, const Params& p, std::string& why) {
        if (d.nbDims != 4) {
            why = "the input must be 4-D (N, C, H, W), got " + std::to_string(d.nbDims) + " dimensions";
            return false;
        }
        const int64_t c = static_cast<int64_t>(p.num) * (p.coords + 1 + p.classes);
        if (d.d[1] != c) {
            why = "the input has " + std::to_string(d.d[1]) + " channels, expected num * (coords + 1 + classes) = " + std::to_string(c);
            return false;
        }
        n = d.d[0];
        h = d.d[2];
        w = d.d[3];
        // Box and (box, class) indices are 32-bit in the sort keys (gie bounds dims by 2^40, num by 2^14).
        if (n < 0 || h < 1 || w < 1 || h > INT32_MAX || w > INT32_MAX || h * w > INT32_MAX / p.num ||
            p.num * h * w > INT32_MAX / std::max<int64_t>(p.classes, 1)) {
            why = "the input's spatial size " + std::to_string(h) + "x" + std::to_string(w) + " is empty or too large";
            return false;
        }
        boxes = p.num * h * w;
        return true;
    }
};

//! Everything but enqueue (and the CUDA workspace), shared by the CPU and GPU plugins.
class RegionPluginBase : public gie::IPlugin {
public:
    explicit RegionPluginBase(const Params& p) : p_(p) {}

    const char* getPluginType() const noexcept override { return kPluginName; }
    const char* getPluginVersion() const noexcept override { return kPluginVersion; }

    int32_t getNbOutputs() const noexcept override { return 4; }
    int32_t getOutputDimensions(const gie::Dims* inputs, int32_t nbInputs, gie::Dims* outputs) const noexcept override {
        try {
            std::string why;
            Shape s;
            if (nbInputs != 1) why = "Region takes exactly 1 input, got " + std::to_string(nbInputs);
            else s.ok(inputs[0], p_, why);
            if (!why.empty()) {
                gie::setLastError(gie::ErrorCode::kINVALID_MODEL, ("Region: " + why).c_str());
                return -1;
            }
            outputs[0] = gie::dims3(s.n, p_.maxDetections, 4);
            outputs[1] = gie::dims2(s.n, p_.maxDetections);
            outputs[2] = gie::dims2(s.n, p_.maxDetections);
            outputs[3].nbDims = 1;
            outputs[3].d[0] = s.n;
            return 0;
        } catch (...) {
            gie::setLastError(gie::ErrorCode::kOUT_OF_MEMORY, "Region: out of memory");
            return -1;
        }
    }
    int32_t getOutputDataTypes(const gie::DataType*, int32_t, gie::DataType* out) const noexcept override {
        out[0] = out[1] = gie::DataType::kFLOAT;
        out[2] = out[3] = gie::DataType::kINT32;
        return 0;
    }
    //! What the negotiation may choose: float32 linear in, float32 / int32 linear out.
    bool supportsFormatCombination(int32_t pos, const gie::TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        const gie::DataType want = pos <= 2 ? gie::DataType::kFLOAT : gie::DataType::kINT32;
        return inOut[pos].type == want && inOut[pos].format == gie::TensorFormat::kLINEAR;
    }

    // Serialized form: uint32 format version; int32 num, classes, coords, softmax, max_detections; float32
    // threshold, nms_threshold; float32 anchors[2 * num] (native byte order).
    size_t getSerializationSize() const noexcept override {
        return sizeof(uint32_t) + 5 * sizeof(int32_t) + 2 * sizeof(float) + p_.anchors.size() * sizeof(float);
    }
    void serialize(void* buffer) const noexcept override {
        char* b = static_cast<char*>(buffer);
        const uint32_t version = kFormatVersion;
        const int32_t ints[5] = {p_.num, p_.classes, p_.coords, p_.softmax, p_.maxDetections};
        const float floats[2] = {p_.threshold, p_.nmsThreshold};
        std::memcpy(b, &version, sizeof version);
        std::memcpy(b + sizeof version, ints, sizeof ints);
        std::memcpy(b + sizeof version + sizeof ints, floats, sizeof floats);
        std::memcpy(b + sizeof version + sizeof ints + sizeof floats, p_.anchors.data(), p_.anchors.size() * sizeof(float));
    }

    const Params& params() const { return p_; }

protected:
    //! The geometry of a call's (or configure's) input; false, with the error recorded, if it does not fit.
    bool shapeOf(const gie::Dims& d, Shape& s) const noexcept {
        try {
            std::string why;
            if (s.ok(d, p_, why)) return true;
            gie::setLastError(gie::ErrorCode::kINVALID_ARGUMENT, ("Region: " + why).c_str());
        } catch (...) {
            gie::setLastError(gie::ErrorCode::kOUT_OF_MEMORY, "Region: out of memory");
        }
        return false;
    }

    Params p_;
};

// ---- the creator: fields in, plugins out (one per device) ----------------------------------------------

//! Reads an integer field (int32 or int64 scalar).
inline bool readInt(const gie::PluginField& f, int32_t& out, std::string& why) {
    int64_t v = 0;
    if (f.length == 1 && f.data && f.type == gie::PluginFieldType::kINT32) v = *static_cast<const int32_t*>(f.data);
    else if (f.length == 1 && f.data && f.type == gie::PluginFieldType::kINT64) v = *static_cast<const int64_t*>(f.data);
    else {
        why = std::string("field '") + f.name + "' must be one integer";
        return false;
    }
    if (v < INT32_MIN || v > INT32_MAX) {
        why = std::string("field '") + f.name + "' (" + std::to_string(v) + ") is out of range";
        return false;
    }
    out = static_cast<int32_t>(v);
    return true;
}

//! Reads the float values of a field given as float32/64 or int32/64.
inline bool readFloats(const gie::PluginField& f, std::vector<float>& out, std::string& why) {
    out.clear();
    if (f.length < 0 || (f.length > 0 && !f.data)) {
        why = std::string("field '") + f.name + "' has no data";
        return false;
    }
    for (int64_t i = 0; i < f.length; ++i) {
        switch (f.type) {
            case gie::PluginFieldType::kFLOAT32: out.push_back(static_cast<const float*>(f.data)[i]); break;
            case gie::PluginFieldType::kFLOAT64: out.push_back(static_cast<float>(static_cast<const double*>(f.data)[i])); break;
            case gie::PluginFieldType::kINT32: out.push_back(static_cast<float>(static_cast<const int32_t*>(f.data)[i])); break;
            case gie::PluginFieldType::kINT64: out.push_back(static_cast<float>(static_cast<const int64_t*>(f.data)[i])); break;
            default:
                why = std::string("field '") + f.name + "' must hold numbers";
                return false;
        }
    }
    return true;
}

inline bool readFloat(const gie::PluginField& f, float& out, std::string& why) {
    std::vector<float> v;
    if (!readFloats(f, v, why)) return false;
    if (v.size() != 1) {
        why = std::string("field '") + f.name + "' must hold exactly one value, got " + std::to_string(v.size());
        return false;
    }
    out = v[0];
    return true;
}

template <typename Plugin, gie::DeviceType kDevice>
class RegionCreator final : public gie::IPluginCreator {
public:
    RegionCreator() {
        static const char* const names[] = {"num", "classes", "coords", "softmax", "anchors", "threshold", "nms_threshold", "max_detections"};
        static const gie::PluginFieldType types[] = {
            gie::PluginFieldType::kINT32, gie::PluginFieldType::kINT32, gie::PluginFieldType::kINT32,
            gie::PluginFieldType::kINT32, gie::PluginFieldType::kFLOAT32, gie::PluginFieldType::kFLOAT32,
            gie::PluginFieldType::kFLOAT32, gie::PluginFieldType::kINT32};
        for (int32_t i = 0; i < kNbFields; ++i) {
            fields_[i].name = names[i];
            fields_[i].type = types[i];
        }
        fc_.nbFields = kNbFields;
        fc_.fields = fields_;
    }

    const char* getPluginName() const noexcept override { return kPluginName; }
    const char* getPluginVersion() const noexcept override { return kPluginVersion; }
    gie::DeviceType getDeviceType() const noexcept override { return kDevice; }
    const gie::PluginFieldCollection* getFieldNames() noexcept override { return &fc_; }

    gie::IPlugin* createPlugin(const char* layerName, const gie::PluginFieldCollection* fields) noexcept override {
        try {
            Params p;
            std::string why;
            for (int32_t i = 0; fields && i < fields->nbFields && why.empty(); ++i) {
                const gie::PluginField& f = fields->fields[i];
                const std::string name = f.name ? f.name : "";
                if (name == "num") readInt(f, p.num, why);
                else if (name == "classes") readInt(f, p.classes, why);
                else if (name == "coords") readInt(f, p.coords, why);
                else if (name == "softmax") readInt(f, p.softmax, why);
                else if (name == "max_detections") readInt(f, p.maxDetections, why);
                else if (name == "anchors") readFloats(f, p.anchors, why);
                else if (name == "threshold") readFloat(f, p.threshold, why);
                else if (name == "nms_threshold") readFloat(f, p.nmsThreshold, why);
                else why = "unknown field '" + name + "' (Region fields: num, classes, coords, softmax, anchors, threshold, "
                           "nms_threshold, max_detections)";
            }
            if (why.empty()) why = check(p);
            if (!why.empty()) {
                gie::setLastError(gie::ErrorCode::kINVALID_ARGUMENT,
                                  (std::string("Region layer '") + (layerName ? layerName : "") + "': " + why).c_str());
                return nullptr;
            }
            return new Plugin(p);
        } catch (...) {
            gie::setLastError(gie::ErrorCode::kOUT_OF_MEMORY, "Region: out of memory");
            return nullptr;
        }
    }

    gie::IPlugin* deserializePlugin(const char* layerName, const void* data, size_t length) noexcept override {
        try {
            const std::string where = std::string("Region kernel '") + (layerName ? layerName : "") + "': ";
            const size_t fixed = sizeof(uint32_t) + 5 * sizeof(int32_t) + 2 * sizeof(float);
            if (data == nullptr || length < fixed) {
                gie::setLastError(gie::ErrorCode::kINVALID_ENGINE,
                                  (where + "expected at least " + std::to_string(fixed) + " bytes of fields, got " + std::to_string(length)).c_str());
                return nullptr;
            }
            const char* b = static_cast<const char*>(data);
            uint32_t version = 0;
            std::memcpy(&version, b, sizeof version);
            if (version != kFormatVersion) {
                gie::setLastError(gie::ErrorCode::kVERSION_MISMATCH,
                                  (where + "fields of format version " + std::to_string(version) + ", this library reads " +
                                   std::to_string(kFormatVersion)).c_str());
                return nullptr;
            }
            int32_t ints[5];
            float floats[2];
            std::memcpy(ints, b + sizeof version, sizeof ints);
            std::memcpy(floats, b + sizeof version + sizeof ints, sizeof floats);
            Params p;
            p.num = ints[0];
            p.classes = ints[1];
            p.coords = ints[2];
            p.softmax = ints[3];
            p.maxDetections = ints[4];
            p.threshold = floats[0];
            p.nmsThreshold = floats[1];
            // The anchors' count follows from num, which is checked first: never trust `length`.
            const bool numOk = p.num >= 1 && p.num <= kMaxCount;
            const size_t expected = fixed + (numOk ? 2 * static_cast<size_t>(p.num) * sizeof(float) : 0);
            std::string why = !numOk ? "field 'num' (" + std::to_string(p.num) + ") must be in [1, 16384]"
                              : length != expected ? "expected " + std::to_string(expected) + " bytes of fields, got " + std::to_string(length)
                                                   : std::string();
            if (why.empty()) {
                p.anchors.resize(2 * static_cast<size_t>(p.num));
                std::memcpy(p.anchors.data(), b + fixed, p.anchors.size() * sizeof(float));
                why = check(p);  // a tampered file must not make a nonsensical kernel
            }
            if (!why.empty()) {
                gie::setLastError(gie::ErrorCode::kINVALID_ENGINE, (where + why).c_str());
                return nullptr;
            }
            return new Plugin(p);
        } catch (...) {
            gie::setLastError(gie::ErrorCode::kOUT_OF_MEMORY, "Region: out of memory");
            return nullptr;
        }
    }

private:
    static constexpr int32_t kNbFields = 8;
    gie::PluginField fields_[kNbFields];
    gie::PluginFieldCollection fc_;
};

}  // namespace region
