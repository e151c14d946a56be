// The subset of caffe.proto gie reads (tables in caffe_schema_tables.cpp), and the message tree both the
// prototxt (text) and the caffemodel (binary) readers produce. Accessors return the schema's defaults for
// absent fields, as protobuf does.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace gie {
namespace caffe {

enum class Label { kOptional, kRepeated, kPacked };

struct FieldSpec {
    const char* name;
    int32_t number;
    const char* type;   // "float", "int32", ..., "msg:Name", "enum:Name"
    Label label;
    const char* dflt;   // nullptr: the type's zero
};

struct MessageSpec {
    const char* name;
    std::vector<FieldSpec> fields;
    const FieldSpec* field(const std::string& n) const;
    const FieldSpec* fieldByNumber(int32_t number) const;
};

struct EnumSpec {
    const char* name;
    std::vector<std::pair<const char*, int32_t>> values;
    const char* nameOf(int64_t number) const;   // nullptr if none
    bool numberOf(const std::string& n, int32_t* out) const;
};

const std::vector<EnumSpec>& enumSpecs();
const std::vector<MessageSpec>& messageSpecs();
const MessageSpec* findMessage(const std::string& name);
const EnumSpec* findEnum(const std::string& name);

struct Message;

//! One value of a field. Numbers keep their type: integers (also bools and enum numbers) in `i`, floating
//! point in `d` (float fields already rounded to float32), strings and enum names in `s`.
struct Value {
    enum class Kind { kInt, kFloat, kBool, kString, kEnum, kMessage } kind = Kind::kInt;
    int64_t i = 0;
    double d = 0;
    std::string s;
    std::shared_ptr<Message> m;
};

struct Field {
    std::string name;
    const FieldSpec* spec = nullptr;   // nullptr in a schema-less block
    std::vector<Value> values;
    // Repeated float / double fields keep their values packed here instead (blob data can be large).
    std::vector<float> f32;
    std::vector<double> f64;
    size_t size() const { return values.size() + f32.size() + f64.size(); }
};

//! Whether a field's values go to Field::f32 / f64.
inline bool packedFloats(const FieldSpec* fs);

//! A message. `spec` is nullptr for a schema-less block (a plugin's *_param gie has no table for).
struct Message {
    const MessageSpec* spec = nullptr;
    std::vector<Field> fields;   // in first-seen order

    const Field* find(const std::string& name) const;
    Field& add(const std::string& name, const FieldSpec* fs);
    bool has(const std::string& name) const { return find(name) != nullptr; }
    size_t count(const std::string& name) const;

    // Singular accessors: the last value when present, else the schema default.
    int64_t getInt(const std::string& name) const;
    double getFloat(const std::string& name) const;
    bool getBool(const std::string& name) const { return getInt(name) != 0; }
    std::string getString(const std::string& name) const;
    //! The nested message, or an empty one of the field's type (so its defaults read through).
    const Message& getMessage(const std::string& name) const;
    std::vector<int64_t> ints(const std::string& name) const;
    std::vector<double> floats(const std::string& name) const;
    std::vector<std::string> strings(const std::string& name) const;
    std::vector<const Message*> messages(const std::string& name) const;
    //! The type name ("caffe.LayerParameter") for messages.
    std::string typeName() const;
};

inline bool packedFloats(const FieldSpec* fs) {
    return fs && fs->label != Label::kOptional && (fs->type[0] == 'f' || fs->type[0] == 'd') &&
           (fs->type[1] == 'l' || fs->type[1] == 'o');   // "float" / "double"
}

}  // namespace caffe
}  // namespace gie
