#include "plugin/fields.h"

#include <cstring>

#include "common/half.h"

namespace gie {

size_t fieldElementSize(PluginFieldType t) {
    switch (t) {
        case PluginFieldType::kFLOAT16: return 2;
        case PluginFieldType::kFLOAT32: return 4;
        case PluginFieldType::kFLOAT64: return 8;
        case PluginFieldType::kINT8: return 1;
        case PluginFieldType::kINT16: return 2;
        case PluginFieldType::kINT32: return 4;
        case PluginFieldType::kINT64: return 8;
        case PluginFieldType::kCHAR: return 1;
        default: return 0;
    }
}

const char* fieldTypeName(PluginFieldType t) {
    switch (t) {
        case PluginFieldType::kFLOAT16: return "float16";
        case PluginFieldType::kFLOAT32: return "float32";
        case PluginFieldType::kFLOAT64: return "float64";
        case PluginFieldType::kINT8: return "int8";
        case PluginFieldType::kINT16: return "int16";
        case PluginFieldType::kINT32: return "int32";
        case PluginFieldType::kINT64: return "int64";
        case PluginFieldType::kCHAR: return "char";
        default: return "unknown";
    }
}

PluginField Field::view() const {
    PluginField f;
    f.name = name.c_str();
    f.data = data.empty() ? nullptr : data.data();
    f.type = type;
    f.length = length;
    return f;
}

FieldMap::FieldMap(const PluginFieldCollection* fc) {
    if (!fc) return;
    GIE_CHECK(fc->nbFields >= 0 && (fc->nbFields == 0 || fc->fields), ErrorCode::kINVALID_ARGUMENT,
              "field collection has ", fc->nbFields, " fields but no field array");
    for (int32_t i = 0; i < fc->nbFields; ++i) set(fc->fields[i]);
}

Field* FieldMap::findMutable(const std::string& name) {
    for (auto& f : fields_)
        if (f.name == name) return &f;
    return nullptr;
}

const Field* FieldMap::find(const std::string& name) const {
    for (const auto& f : fields_)
        if (f.name == name) return &f;
    return nullptr;
}

void FieldMap::set(const PluginField& pf) {
    GIE_CHECK(pf.name && *pf.name, ErrorCode::kINVALID_ARGUMENT, "a field has no name");
    size_t es = fieldElementSize(pf.type);
    GIE_CHECK(es > 0, ErrorCode::kINVALID_ARGUMENT, "field '", pf.name, "' has an unknown type");
    GIE_CHECK(pf.length >= 0, ErrorCode::kINVALID_ARGUMENT, "field '", pf.name, "' has negative length ", pf.length);
    GIE_CHECK(pf.length == 0 || pf.data, ErrorCode::kINVALID_ARGUMENT, "field '", pf.name, "' has ", pf.length,
              " elements but no data");
    Field f;
    f.name = pf.name;
    f.type = pf.type;
    f.length = pf.length;
    f.data.resize(static_cast<size_t>(pf.length) * es);
    if (!f.data.empty()) std::memcpy(f.data.data(), pf.data, f.data.size());
    if (Field* old = findMutable(f.name))
        *old = std::move(f);
    else
        fields_.push_back(std::move(f));
}

void FieldMap::setInts(const std::string& name, const std::vector<int64_t>& v) {
    PluginField f;
    f.name = name.c_str();
    f.data = v.data();
    f.type = PluginFieldType::kINT64;
    f.length = static_cast<int64_t>(v.size());
    set(f);
}

void FieldMap::setFloats(const std::string& name, const std::vector<float>& v) {
    PluginField f;
    f.name = name.c_str();
    f.data = v.data();
    f.type = PluginFieldType::kFLOAT32;
    f.length = static_cast<int64_t>(v.size());
    set(f);
}

void FieldMap::setString(const std::string& name, const std::string& s) {
    PluginField f;
    f.name = name.c_str();
    f.data = s.data();
    f.type = PluginFieldType::kCHAR;
    f.length = static_cast<int64_t>(s.size());
    set(f);
}

bool FieldMap::remove(const std::string& name) {
    for (auto it = fields_.begin(); it != fields_.end(); ++it)
        if (it->name == name) {
            fields_.erase(it);
            return true;
        }
    return false;
}

namespace {
template <typename T>
T readAs(const Field& f, int64_t i) {
    const uint8_t* p = f.data.data() + static_cast<size_t>(i) * fieldElementSize(f.type);
    switch (f.type) {
        case PluginFieldType::kFLOAT16: { uint16_t h; std::memcpy(&h, p, 2); return static_cast<T>(halfToFloat(h)); }
        case PluginFieldType::kFLOAT32: { float v; std::memcpy(&v, p, 4); return static_cast<T>(v); }
        case PluginFieldType::kFLOAT64: { double v; std::memcpy(&v, p, 8); return static_cast<T>(v); }
        case PluginFieldType::kINT8: return static_cast<T>(static_cast<int8_t>(*p));
        case PluginFieldType::kINT16: { int16_t v; std::memcpy(&v, p, 2); return static_cast<T>(v); }
        case PluginFieldType::kINT32: { int32_t v; std::memcpy(&v, p, 4); return static_cast<T>(v); }
        case PluginFieldType::kINT64: { int64_t v; std::memcpy(&v, p, 8); return static_cast<T>(v); }
        case PluginFieldType::kCHAR: return static_cast<T>(static_cast<int8_t>(*p));
        default: return T();
    }
}
}  // namespace

std::vector<int64_t> FieldMap::ints(const std::string& name, const std::vector<int64_t>& fallback) const {
    const Field* f = find(name);
    if (!f) return fallback;
    GIE_CHECK(f->type != PluginFieldType::kFLOAT16 && f->type != PluginFieldType::kFLOAT32 &&
                  f->type != PluginFieldType::kFLOAT64,
              ErrorCode::kINVALID_ARGUMENT, "field '", name, "' must hold integers, not ", fieldTypeName(f->type));
    std::vector<int64_t> v(static_cast<size_t>(f->length));
    for (int64_t i = 0; i < f->length; ++i) v[static_cast<size_t>(i)] = readAs<int64_t>(*f, i);
    return v;
}

int64_t FieldMap::getInt(const std::string& name, int64_t fallback) const {
    auto v = ints(name);
    if (!find(name)) return fallback;
    GIE_CHECK(v.size() == 1, ErrorCode::kINVALID_ARGUMENT, "field '", name, "' must hold one integer, it holds ", v.size());
    return v[0];
}

std::vector<float> FieldMap::floats(const std::string& name, const std::vector<float>& fallback) const {
    const Field* f = find(name);
    if (!f) return fallback;
    GIE_CHECK(f->type != PluginFieldType::kCHAR, ErrorCode::kINVALID_ARGUMENT, "field '", name, "' must hold numbers, not a string");
    std::vector<float> v(static_cast<size_t>(f->length));
    if (f->type == PluginFieldType::kFLOAT32) {
        if (!v.empty()) std::memcpy(v.data(), f->data.data(), v.size() * 4);
    } else {
        for (int64_t i = 0; i < f->length; ++i) v[static_cast<size_t>(i)] = readAs<float>(*f, i);
    }
    return v;
}

float FieldMap::getFloat(const std::string& name, float fallback) const {
    if (!find(name)) return fallback;
    auto v = floats(name);
    GIE_CHECK(v.size() == 1, ErrorCode::kINVALID_ARGUMENT, "field '", name, "' must hold one number, it holds ", v.size());
    return v[0];
}

std::string FieldMap::getString(const std::string& name, const std::string& fallback) const {
    const Field* f = find(name);
    if (!f) return fallback;
    GIE_CHECK(f->type == PluginFieldType::kCHAR || f->type == PluginFieldType::kINT8, ErrorCode::kINVALID_ARGUMENT,
              "field '", name, "' must hold a string");
    return std::string(reinterpret_cast<const char*>(f->data.data()), f->data.size());
}

int64_t FieldMap::count(const std::string& name) const {
    const Field* f = find(name);
    return f ? f->length : 0;
}

void FieldMap::validate(const std::vector<FieldSpec>& specs, const std::string& owner) const {
    if (specs.empty()) return;
    for (const auto& f : fields_) {
        bool known = false;
        for (const auto& s : specs) known = known || f.name == s.name;
        if (!known) {
            std::string names;
            for (const auto& s : specs) names += (names.empty() ? "" : ", ") + std::string(s.name);
            fail(ErrorCode::kINVALID_ARGUMENT, owner, ": unknown field '", f.name, "' (known fields: ", names, ")");
        }
    }
}

const PluginFieldCollection* FieldMap::collection() const {
    views_.clear();
    for (const auto& f : fields_) views_.push_back(f.view());
    fc_.nbFields = static_cast<int32_t>(views_.size());
    fc_.fields = views_.data();
    return &fc_;
}

void FieldMap::serialize(ByteWriter& w) const {
    w.put<uint32_t>(static_cast<uint32_t>(fields_.size()));
    for (const auto& f : fields_) {
        w.putString(f.name);
        w.put<int32_t>(static_cast<int32_t>(f.type));
        w.put<int64_t>(f.length);
        w.putBytes(f.data.data(), f.data.size());
    }
}

size_t FieldMap::serializedSize() const {
    size_t n = sizeof(uint32_t);  // the layout serialize(ByteWriter&) writes
    for (const auto& f : fields_) n += sizeof(uint32_t) + f.name.size() + sizeof(int32_t) + sizeof(int64_t) + f.data.size();
    return n;
}

FieldMap FieldMap::deserialize(ByteReader& r) {
    FieldMap m;
    uint32_t n = r.get<uint32_t>("field count");
    if (n > r.remaining()) fail(r.code(), r.what(), ": field count ", n, " exceeds the data");
    for (uint32_t i = 0; i < n; ++i) {
        Field f;
        f.name = r.getString("field name", 4096);
        int32_t type = r.get<int32_t>("field type");
        f.type = static_cast<PluginFieldType>(type);
        size_t es = fieldElementSize(f.type);
        if (es == 0) fail(r.code(), r.what(), ": field '", f.name, "' has unknown type ", type);
        f.length = r.get<int64_t>("field length");
        if (f.length < 0 || static_cast<uint64_t>(f.length) > r.remaining() / es)
            fail(r.code(), r.what(), ": field '", f.name, "' length ", f.length, " exceeds the data that remains");
        const uint8_t* b = r.getBytes(static_cast<size_t>(f.length) * es, "field data");
        f.data.assign(b, b + static_cast<size_t>(f.length) * es);
        m.fields_.push_back(std::move(f));
    }
    return m;
}

std::vector<uint8_t> FieldMap::serialize() const {
    ByteWriter w;
    serialize(w);
    return std::move(w.buffer());
}

FieldMap FieldMap::deserialize(const void* data, size_t size, const std::string& what) {
    ByteReader r(data, size, what);
    FieldMap m = deserialize(r);
    if (r.remaining() != 0) fail(ErrorCode::kINVALID_ENGINE, what, ": ", r.remaining(), " unexpected trailing bytes");
    return m;
}

}  // namespace gie
