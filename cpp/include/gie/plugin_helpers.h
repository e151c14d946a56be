// gie public API: helpers that take the boilerplate out of writing a plugin (gie/plugin.h).
//
// A plugin's parameters are a struct with a `fields` visitor that names each member once:
//
//   struct Params {
//       float lo = -1.f, hi = 1.f;                       // the defaults
//       template <typename V> void fields(V& v) { v("lo", lo); v("hi", hi); }
//       std::string validate() const { return lo <= hi ? "" : "field 'lo' must be <= field 'hi'"; }  // optional
//   };
//   class Clip final : public gie::PluginBase<Clip, Params> {
//   public:
//       static constexpr const char* kName = "Clip";
//       static constexpr const char* kVersion = "1";
//       using PluginBase::PluginBase;
//       int32_t enqueue(...) const noexcept override;   // reads params()
//   };
//   GIE_REGISTER_PLUGIN_CREATOR(gie::PluginCreatorBase<Clip>);
//
// From that one list, PluginBase / PluginCreatorBase provide: the type name and version, clone, the declared
// fields (getFieldNames, with the defaults as their data), parsing of the fields given to createPlugin (any
// numeric type converts to a numeric member; unknown names, wrong lengths, strings for numbers and
// non-integral values for integers are refused naming the layer and the field), a versioned serialized form
// that deserializePlugin reads with every length checked, validation of both (Params::validate, if declared),
// a single-format declaration (every input and output of kType and kFormat), and error reporting through
// gie::setLastError. No exception leaves any of them.
//
// Member types a visitor accepts: float, double, int32_t, int64_t, bool, std::string, std::vector<float>,
// std::vector<int32_t>, std::vector<int64_t>.
//
// Defaults a plugin may change by redeclaring the constant in its own class (PluginBase reads Derived::kX):
//   kNbInputs (1; -1: any number >= 1), kNbOutputs (1), kType (kFLOAT), kFormat (kLINEAR), kDevice (kCPU),
//   kVariant ("").
// and by overriding the virtual methods as usual (e.g. getOutputDimensions for a non-element-wise plugin,
// supportsFormatCombination for several formats). Serialized form: uint32 kSerialMagic, uint32 helper layout
// version, then each field in visitor order (scalars as their bytes; strings and vectors as a uint64 count,
// then the elements), native byte order.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "gie/plugin.h"

namespace gie {

//! Number of elements of dims (1 for rank 0).
inline int64_t elementCount(const Dims& d) noexcept {
    int64_t n = 1;
    for (int32_t i = 0; i < d.nbDims; ++i) n *= d.d[i];
    return n;
}

//! Records an error (gie::setLastError) whose message may be built with std::string; never throws.
inline void reportPluginError(ErrorCode code, const std::string& message) noexcept { setLastError(code, message.c_str()); }

//! Runs fn() (which may throw) and returns its result; an exception becomes `onFailure`, recorded as out of
//! memory (std::bad_alloc) or an internal error naming `what`.
template <typename R, typename F>
R pluginGuard(const char* what, R onFailure, F&& fn) noexcept {
    try {
        return fn();
    } catch (const std::bad_alloc&) {
        setLastError(ErrorCode::kOUT_OF_MEMORY, what);
    } catch (...) {
        setLastError(ErrorCode::kINTERNAL, what);
    }
    return onFailure;
}

namespace plugin_detail {

constexpr uint32_t kSerialMagic = 0x31504C47u;  // "GLP1"
constexpr uint32_t kLayoutVersion = 1;

template <typename T> struct IsVector : std::false_type {};
template <typename T> struct IsVector<std::vector<T>> : std::true_type { using Elem = T; };

template <typename T>
constexpr PluginFieldType fieldTypeOf() {
    if constexpr (std::is_same_v<T, float>) return PluginFieldType::kFLOAT32;
    else if constexpr (std::is_same_v<T, double>) return PluginFieldType::kFLOAT64;
    else if constexpr (std::is_same_v<T, int32_t>) return PluginFieldType::kINT32;
    else if constexpr (std::is_same_v<T, int64_t>) return PluginFieldType::kINT64;
    else if constexpr (std::is_same_v<T, bool>) return PluginFieldType::kINT8;
    else if constexpr (std::is_same_v<T, std::string>) return PluginFieldType::kCHAR;
    else if constexpr (IsVector<T>::value) return fieldTypeOf<typename IsVector<T>::Elem>();
    else static_assert(sizeof(T) == 0, "unsupported plugin field member type");
    return PluginFieldType::kUNKNOWN;
}

//! Element i of a numeric field as double; false if the field is not numeric.
inline bool numberAt(const PluginField& f, int64_t i, double& out) {
    const void* d = f.data;
    switch (f.type) {
        case PluginFieldType::kFLOAT32: out = static_cast<const float*>(d)[i]; return true;
        case PluginFieldType::kFLOAT64: out = static_cast<const double*>(d)[i]; return true;
        case PluginFieldType::kINT8: out = static_cast<const int8_t*>(d)[i]; return true;
        case PluginFieldType::kINT16: out = static_cast<const int16_t*>(d)[i]; return true;
        case PluginFieldType::kINT32: out = static_cast<const int32_t*>(d)[i]; return true;
        case PluginFieldType::kINT64: out = static_cast<double>(static_cast<const int64_t*>(d)[i]); return true;
        default: return false;
    }
}

//! Converts a double to T, or says why not (a non-integral or out-of-range value for an integer member).
template <typename T>
bool convert(double v, T& out, std::string& why) {
    if constexpr (std::is_floating_point_v<T>) {
        out = static_cast<T>(v);
        return true;
    } else {
        const double lo = std::is_same_v<T, bool> ? 0.0 : static_cast<double>(std::numeric_limits<T>::min());
        const double hi = std::is_same_v<T, bool> ? 1.0 : static_cast<double>(std::numeric_limits<T>::max());
        if (!(v == std::floor(v)) || v < lo || v > hi || (sizeof(T) == 8 && v >= 9223372036854775807.0)) {
            why = std::is_same_v<T, bool> ? "must be 0 or 1" : "must be an integer in range";
            return false;
        }
        out = static_cast<T>(v);
        return true;
    }
}

//! Declares each field: name, type, and the default's data and length.
struct Declarer {
    std::vector<PluginField>* out;
    template <typename T>
    void operator()(const char* name, T& member) {
        PluginField f;
        f.name = name;
        f.type = fieldTypeOf<T>();
        if constexpr (std::is_same_v<T, std::string>) {
            f.data = member.data();
            f.length = static_cast<int64_t>(member.size());
        } else if constexpr (IsVector<T>::value) {
            f.data = member.data();
            f.length = static_cast<int64_t>(member.size());
        } else {
            f.data = &member;
            f.length = 1;
        }
        out->push_back(f);
    }
};

//! Sets the member named f.name from f; `found` says whether one was named so, `why` what was wrong.
struct Parser {
    explicit Parser(const PluginField& field) : f(field) {}
    const PluginField& f;
    bool found = false;
    std::string why;
    template <typename T>
    void operator()(const char* name, T& member) {
        if (found || std::strcmp(name, f.name) != 0) return;
        found = true;
        if (f.length < 0 || (f.length > 0 && !f.data)) {
            why = "has no data";
            return;
        }
        if constexpr (std::is_same_v<T, std::string>) {
            if (f.type != PluginFieldType::kCHAR) why = "must be a string";
            else member.assign(static_cast<const char*>(f.data), static_cast<size_t>(f.length));
        } else if constexpr (IsVector<T>::value) {
            T v(static_cast<size_t>(f.length));
            for (int64_t i = 0; i < f.length && why.empty(); ++i) {
                double x = 0;
                if (!numberAt(f, i, x)) why = "must hold numbers";
                else if (!convert(x, v[static_cast<size_t>(i)], why)) why = "element " + std::to_string(i) + " " + why;
            }
            if (why.empty()) member = std::move(v);
        } else {
            double x = 0;
            if (f.length != 1) why = "must hold exactly one value, got " + std::to_string(f.length);
            else if (!numberAt(f, 0, x)) why = "must be a number";
            else convert(x, member, why);
        }
    }
};

struct Sizer {
    size_t bytes = 0;
    template <typename T>
    void operator()(const char*, const T& member) {
        if constexpr (std::is_same_v<T, std::string> || IsVector<T>::value)
            bytes += sizeof(uint64_t) + member.size() * sizeof(typename T::value_type);
        else
            bytes += sizeof(T);
    }
};

struct Writer {
    char* p;
    template <typename T>
    void operator()(const char*, const T& member) {
        if constexpr (std::is_same_v<T, std::string> || IsVector<T>::value) {
            const uint64_t n = member.size();
            std::memcpy(p, &n, sizeof n);
            p += sizeof n;
            if (n) std::memcpy(p, member.data(), n * sizeof(typename T::value_type));
            p += n * sizeof(typename T::value_type);
        } else {
            std::memcpy(p, &member, sizeof member);
            p += sizeof member;
        }
    }
};

//! Reads fields back, checking every length against the bytes left; `why` names the first field that does not fit.
struct Reader {
    const char* p;
    size_t left;
    std::string why;
    bool take(void* dst, size_t n, const char* name) {
        if (!why.empty()) return false;
        if (n > left) {
            why = std::string("field '") + name + "' needs " + std::to_string(n) + " bytes, " + std::to_string(left) + " are left";
            return false;
        }
        if (n) std::memcpy(dst, p, n);
        p += n;
        left -= n;
        return true;
    }
    template <typename T>
    void operator()(const char* name, T& member) {
        if constexpr (std::is_same_v<T, std::string> || IsVector<T>::value) {
            uint64_t n = 0;
            if (!take(&n, sizeof n, name)) return;
            using E = typename T::value_type;
            if (n > left / sizeof(E)) {
                why = std::string("field '") + name + "' announces " + std::to_string(n) + " elements, more than the bytes left";
                return;
            }
            member.resize(static_cast<size_t>(n));
            take(member.data(), static_cast<size_t>(n) * sizeof(E), name);
        } else if constexpr (std::is_same_v<T, bool>) {
            uint8_t b = 0;
            if (take(&b, 1, name) && b > 1) why = std::string("field '") + name + "' is not a bool";
            member = b != 0;
        } else {
            take(&member, sizeof member, name);
        }
    }
};

template <typename P, typename = void> struct HasValidate : std::false_type {};
template <typename P> struct HasValidate<P, std::void_t<decltype(std::declval<const P&>().validate())>> : std::true_type {};

//! Params::validate() if declared ("" = valid).
template <typename P>
std::string validate(const P& p) {
    if constexpr (HasValidate<P>::value) return p.validate();
    else return {};
}

}  // namespace plugin_detail

//! Base class of a plugin whose parameters are `Params` (see the top of this file). Derived must declare
//! `static constexpr const char* kName, kVersion` and implement enqueue; everything else has a default.
template <typename Derived, typename Params>
class PluginBase : public IPlugin {
public:
    using ParamsType = Params;
    static constexpr int32_t kNbInputs = 1;   //!< -1: any number >= 1
    static constexpr int32_t kNbOutputs = 1;
    static constexpr DataType kType = DataType::kFLOAT;
    static constexpr TensorFormat kFormat = TensorFormat::kLINEAR;
    static constexpr DeviceType kDevice = DeviceType::kCPU;
    static constexpr const char* kVariant = "";

    explicit PluginBase(const Params& p) : params_(p) {}
    const Params& params() const noexcept { return params_; }

    const char* getPluginType() const noexcept override { return Derived::kName; }
    const char* getPluginVersion() const noexcept override { return Derived::kVersion; }
    IPlugin* clone() const noexcept override {
        return pluginGuard<IPlugin*>("out of memory cloning a plugin", nullptr,
                                     [&] { return new Derived(static_cast<const Derived&>(*this)); });
    }
    int32_t getNbOutputs() const noexcept override { return Derived::kNbOutputs; }
    //! Element-wise default: every output has input 0's shape (all inputs must have it too).
    int32_t getOutputDimensions(const Dims* inputs, int32_t nbInputs, Dims* outputs) const noexcept override {
        if (!checkInputCount(nbInputs)) return -1;
        for (int32_t i = 1; i < nbInputs; ++i)
            if (!sameDims(inputs[i], inputs[0])) {
                reportPluginError(ErrorCode::kINVALID_MODEL, std::string(Derived::kName) + ": input " + std::to_string(i) +
                                                                 " has another shape than input 0");
                return -1;
            }
        for (int32_t o = 0; o < getNbOutputs(); ++o) outputs[o] = inputs[0];
        return 0;
    }
    //! Single-format default: every input and output is kType in kFormat.
    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        return inOut[pos].type == Derived::kType && inOut[pos].format == Derived::kFormat;
    }
    int32_t getOutputDataTypes(const DataType*, int32_t, DataType* outputs) const noexcept override {
        for (int32_t o = 0; o < getNbOutputs(); ++o) outputs[o] = Derived::kType;
        return 0;
    }

    size_t getSerializationSize() const noexcept override {
        plugin_detail::Sizer s;
        Params copy = params_;  // the visitor takes non-const members; serialization must not touch the plugin
        copy.fields(s);
        return 2 * sizeof(uint32_t) + s.bytes;
    }
    void serialize(void* buffer) const noexcept override {
        pluginGuard<int>("out of memory serializing a plugin", 0, [&] {
            char* p = static_cast<char*>(buffer);
            const uint32_t head[2] = {plugin_detail::kSerialMagic, plugin_detail::kLayoutVersion};
            std::memcpy(p, head, sizeof head);
            plugin_detail::Writer w{p + sizeof head};
            Params copy = params_;
            copy.fields(w);
            return 0;
        });
    }

protected:
    bool checkInputCount(int32_t nbInputs) const noexcept {
        const int32_t want = Derived::kNbInputs;
        if (want < 0 ? nbInputs >= 1 : nbInputs == want) return true;
        reportPluginError(ErrorCode::kINVALID_MODEL, std::string(Derived::kName) + " takes " +
                                                         (want < 0 ? std::string("at least 1 input") : std::to_string(want) + " input(s)") +
                                                         ", got " + std::to_string(nbInputs));
        return false;
    }
    static bool sameDims(const Dims& a, const Dims& b) noexcept {
        if (a.nbDims != b.nbDims) return false;
        for (int32_t i = 0; i < a.nbDims; ++i)
            if (a.d[i] != b.d[i]) return false;
        return true;
    }

private:
    Params params_;
};

//! The creator of a PluginBase plugin: name, version, device and variant from the plugin class, fields from its
//! Params (declared with the defaults as data). Register it with GIE_REGISTER_PLUGIN_CREATOR(gie::PluginCreatorBase<P>).
template <typename Plugin>
class PluginCreatorBase : public IPluginCreator {
public:
    using Params = typename Plugin::ParamsType;
    PluginCreatorBase() {
        plugin_detail::Declarer d{&fields_};
        pluginGuard<int>("out of memory declaring plugin fields", 0, [&] {
            defaults_.fields(d);
            return 0;
        });
        fc_.nbFields = static_cast<int32_t>(fields_.size());
        fc_.fields = fields_.data();
    }
    PluginCreatorBase(const PluginCreatorBase&) = delete;  // fields_ points into defaults_
    PluginCreatorBase& operator=(const PluginCreatorBase&) = delete;

    const char* getPluginName() const noexcept override { return Plugin::kName; }
    const char* getPluginVersion() const noexcept override { return Plugin::kVersion; }
    DeviceType getDeviceType() const noexcept override { return Plugin::kDevice; }
    const char* getPluginVariant() const noexcept override { return Plugin::kVariant; }
    const PluginFieldCollection* getFieldNames() noexcept override { return &fc_; }

    IPlugin* createPlugin(const char* layerName, const PluginFieldCollection* fields) noexcept override {
        return pluginGuard<IPlugin*>("out of memory creating a plugin", nullptr, [&]() -> IPlugin* {
            Params p = defaults_;
            std::string why;
            for (int32_t i = 0; fields && i < fields->nbFields && why.empty(); ++i) {
                const PluginField& f = fields->fields[i];
                const std::string name = f.name ? f.name : "";
                plugin_detail::Parser parse(f);
                if (f.name) p.fields(parse);
                if (!parse.found) why = "unknown field '" + name + "' (" + Plugin::kName + " fields: " + fieldList() + ")";
                else if (!parse.why.empty()) why = "field '" + name + "' " + parse.why;
            }
            if (why.empty()) why = plugin_detail::validate(p);
            if (!why.empty()) {
                reportPluginError(ErrorCode::kINVALID_ARGUMENT,
                                  std::string(Plugin::kName) + " layer '" + (layerName ? layerName : "") + "': " + why);
                return nullptr;
            }
            return new Plugin(p);
        });
    }

    IPlugin* deserializePlugin(const char* layerName, const void* data, size_t length) noexcept override {
        return pluginGuard<IPlugin*>("out of memory deserializing a plugin", nullptr, [&]() -> IPlugin* {
            const std::string where = std::string(Plugin::kName) + " kernel '" + (layerName ? layerName : "") + "': ";
            uint32_t head[2] = {0, 0};
            if (!data || length < sizeof head) {
                reportPluginError(ErrorCode::kINVALID_ENGINE, where + "fields are " + std::to_string(length) + " bytes, too short");
                return nullptr;
            }
            std::memcpy(head, data, sizeof head);
            if (head[0] != plugin_detail::kSerialMagic || head[1] != plugin_detail::kLayoutVersion) {
                reportPluginError(head[0] == plugin_detail::kSerialMagic ? ErrorCode::kVERSION_MISMATCH : ErrorCode::kINVALID_ENGINE,
                                  where + "fields are not in the layout version " + std::to_string(plugin_detail::kLayoutVersion) +
                                      " of gie/plugin_helpers.h");
                return nullptr;
            }
            Params p = defaults_;
            plugin_detail::Reader r{static_cast<const char*>(data) + sizeof head, length - sizeof head, {}};
            p.fields(r);
            std::string why = r.why;
            if (why.empty() && r.left) why = std::to_string(r.left) + " unexpected bytes after the fields";
            if (why.empty()) why = plugin_detail::validate(p);  // a tampered file must not make a nonsensical kernel
            if (!why.empty()) {
                reportPluginError(ErrorCode::kINVALID_ENGINE, where + why);
                return nullptr;
            }
            return new Plugin(p);
        });
    }

private:
    std::string fieldList() const {
        std::string s;
        for (const auto& f : fields_) s += (s.empty() ? "" : ", ") + std::string(f.name);
        return s.empty() ? "none" : s;
    }
    Params defaults_;
    std::vector<PluginField> fields_;
    PluginFieldCollection fc_;
};

}  // namespace gie
