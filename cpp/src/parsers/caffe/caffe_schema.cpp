#include "parsers/caffe/caffe_schema.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "common/error.h"

namespace gie {
namespace caffe {

const FieldSpec* MessageSpec::field(const std::string& n) const {
    for (const FieldSpec& f : fields)
        if (n == f.name) return &f;
    return nullptr;
}

const FieldSpec* MessageSpec::fieldByNumber(int32_t number) const {
    for (const FieldSpec& f : fields)
        if (f.number == number) return &f;
    return nullptr;
}

const char* EnumSpec::nameOf(int64_t number) const {
    for (const auto& v : values)
        if (v.second == number) return v.first;
    return nullptr;
}

bool EnumSpec::numberOf(const std::string& n, int32_t* out) const {
    for (const auto& v : values)
        if (n == v.first) {
            *out = v.second;
            return true;
        }
    return false;
}

const MessageSpec* findMessage(const std::string& name) {
    for (const MessageSpec& m : messageSpecs())
        if (name == m.name) return &m;
    return nullptr;
}

const EnumSpec* findEnum(const std::string& name) {
    for (const EnumSpec& e : enumSpecs())
        if (name == e.name) return &e;
    return nullptr;
}

const Field* Message::find(const std::string& name) const {
    for (const Field& f : fields)
        if (f.name == name) return &f;
    return nullptr;
}

Field& Message::add(const std::string& name, const FieldSpec* fs) {
    for (Field& f : fields)
        if (f.name == name) return f;
    Field f;
    f.name = name;
    f.spec = fs;
    fields.push_back(std::move(f));
    return fields.back();
}

size_t Message::count(const std::string& name) const {
    const Field* f = find(name);
    return f ? f->size() : 0;
}

namespace {
const FieldSpec* specOf(const Message& m, const std::string& name) {
    const FieldSpec* fs = m.spec ? m.spec->field(name) : nullptr;
    if (!fs) throw Error(ErrorCode::kINTERNAL, "caffe schema: no field '" + name + "' in " + m.typeName());
    return fs;
}

//! Enum names are looked up in the enum of the field's type ("enum:Name").
int64_t enumDefault(const FieldSpec& fs) {
    const EnumSpec* e = findEnum(fs.type + 5);
    int32_t v = 0;
    if (e && fs.dflt && e->numberOf(fs.dflt, &v)) return v;
    return e && !e->values.empty() ? e->values[0].second : 0;
}
}  // namespace

int64_t Message::getInt(const std::string& name) const {
    const Field* f = find(name);
    if (f && !f->values.empty()) return f->values.back().i;
    const FieldSpec* fs = specOf(*this, name);
    if (std::strncmp(fs->type, "enum:", 5) == 0) return enumDefault(*fs);
    if (!fs->dflt) return 0;
    if (std::strcmp(fs->type, "bool") == 0) return std::strcmp(fs->dflt, "true") == 0;
    return std::strtoll(fs->dflt, nullptr, 10);
}

double Message::getFloat(const std::string& name) const {
    const Field* f = find(name);
    if (f && !f->values.empty()) {
        const Value& v = f->values.back();
        return v.kind == Value::Kind::kFloat ? v.d : static_cast<double>(v.i);
    }
    const FieldSpec* fs = specOf(*this, name);
    if (!fs->dflt) return 0;
    double d = std::strtod(fs->dflt, nullptr);
    return std::strcmp(fs->type, "float") == 0 ? static_cast<double>(static_cast<float>(d)) : d;
}

std::string Message::getString(const std::string& name) const {
    const Field* f = find(name);
    if (f && !f->values.empty()) return f->values.back().s;
    const FieldSpec* fs = specOf(*this, name);
    return fs->dflt ? fs->dflt : "";
}

const Message& Message::getMessage(const std::string& name) const {
    const Field* f = find(name);
    if (f && !f->values.empty() && f->values.back().m) return *f->values.back().m;
    const FieldSpec* fs = specOf(*this, name);
    // One empty message per type, made once (the schema is immutable).
    static std::mutex mu;
    static std::map<std::string, std::unique_ptr<Message>> empties;
    std::lock_guard<std::mutex> lock(mu);
    auto& slot = empties[fs->type];
    if (!slot) {
        slot = std::make_unique<Message>();
        slot->spec = findMessage(fs->type + 4);
    }
    return *slot;
}

std::vector<int64_t> Message::ints(const std::string& name) const {
    std::vector<int64_t> out;
    if (const Field* f = find(name))
        for (const Value& v : f->values) out.push_back(v.i);
    return out;
}

std::vector<double> Message::floats(const std::string& name) const {
    std::vector<double> out;
    if (const Field* f = find(name)) {
        for (const Value& v : f->values) out.push_back(v.kind == Value::Kind::kFloat ? v.d : static_cast<double>(v.i));
        out.insert(out.end(), f->f32.begin(), f->f32.end());
        out.insert(out.end(), f->f64.begin(), f->f64.end());
    }
    return out;
}

std::vector<std::string> Message::strings(const std::string& name) const {
    std::vector<std::string> out;
    if (const Field* f = find(name))
        for (const Value& v : f->values) out.push_back(v.s);
    return out;
}

std::vector<const Message*> Message::messages(const std::string& name) const {
    std::vector<const Message*> out;
    if (const Field* f = find(name))
        for (const Value& v : f->values)
            if (v.m) out.push_back(v.m.get());
    return out;
}

std::string Message::typeName() const { return spec ? std::string("caffe.") + spec->name : std::string("<plugin parameters>"); }

}  // namespace caffe
}  // namespace gie
