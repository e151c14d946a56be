// FieldMap: owned, ordered named fields (layer parameters and weights). It is how built-in kernels
// receive their parameters, how layers store them, and how built-in kernels serialize themselves.
#pragma once

#include <string>
#include <vector>

#include "common/bytes.h"
#include "gie/plugin.h"

namespace gie {

size_t fieldElementSize(PluginFieldType t);
const char* fieldTypeName(PluginFieldType t);

struct Field {
    std::string name;
    PluginFieldType type = PluginFieldType::kUNKNOWN;
    int64_t length = 0;
    std::vector<uint8_t> data;  // length * element size bytes
    PluginField view() const;
};

//! A declared field of a built-in op (for IPluginCreator::getFieldNames and validation).
struct FieldSpec {
    const char* name;
    PluginFieldType type;
};

class FieldMap {
public:
    FieldMap() = default;
    //! Copies the fields; fails (kINVALID_ARGUMENT) on a bad type, negative length or null data.
    explicit FieldMap(const PluginFieldCollection* fc);

    void set(const PluginField& f);
    void setInts(const std::string& name, const std::vector<int64_t>& v);
    void setInt(const std::string& name, int64_t v) { setInts(name, {v}); }
    void setFloats(const std::string& name, const std::vector<float>& v);
    void setFloat(const std::string& name, float v) { setFloats(name, {v}); }
    void setString(const std::string& name, const std::string& s);
    bool remove(const std::string& name);

    bool has(const std::string& name) const { return find(name) != nullptr; }
    const Field* find(const std::string& name) const;
    size_t size() const { return fields_.size(); }
    const Field& at(size_t i) const { return fields_[i]; }

    // Typed reads; integer and float types convert. `what` names the owner in error messages.
    std::vector<int64_t> ints(const std::string& name, const std::vector<int64_t>& fallback = {}) const;
    int64_t getInt(const std::string& name, int64_t fallback) const;
    std::vector<float> floats(const std::string& name, const std::vector<float>& fallback = {}) const;
    float getFloat(const std::string& name, float fallback) const;
    std::string getString(const std::string& name, const std::string& fallback = "") const;
    //! Number of elements of a field (0 if absent).
    int64_t count(const std::string& name) const;

    //! Fails naming `owner` if a field is not in `specs` (empty specs accept anything).
    void validate(const std::vector<FieldSpec>& specs, const std::string& owner) const;

    //! PluginField views into this map; valid until it is modified.
    const PluginFieldCollection* collection() const;

    void serialize(ByteWriter& w) const;
    static FieldMap deserialize(ByteReader& r);
    std::vector<uint8_t> serialize() const;
    //! serialize().size(), without serializing.
    size_t serializedSize() const;
    static FieldMap deserialize(const void* data, size_t size, const std::string& what);

private:
    Field* findMutable(const std::string& name);
    std::vector<Field> fields_;
    mutable std::vector<PluginField> views_;
    mutable PluginFieldCollection fc_;
};

}  // namespace gie
