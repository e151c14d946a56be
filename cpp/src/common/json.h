// A minimal JSON writer for reports (no parsing needed in the core).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gie/types.h"

namespace gie {

class JsonWriter {
public:
    JsonWriter& beginObject() { sep(); out_ += '{'; first_.push_back(true); return *this; }
    JsonWriter& endObject() { out_ += '}'; first_.pop_back(); return *this; }
    JsonWriter& beginArray() { sep(); out_ += '['; first_.push_back(true); return *this; }
    JsonWriter& endArray() { out_ += ']'; first_.pop_back(); return *this; }
    JsonWriter& key(const std::string& k) {
        sep();
        str(k);
        out_ += ':';
        afterKey_ = true;
        return *this;
    }
    JsonWriter& value(const std::string& s) { sep(); str(s); return *this; }
    JsonWriter& value(const char* s) { return value(std::string(s)); }
    JsonWriter& value(int64_t v) { sep(); out_ += std::to_string(v); return *this; }
    JsonWriter& value(uint64_t v) { sep(); out_ += std::to_string(v); return *this; }
    JsonWriter& value(int v) { return value(static_cast<int64_t>(v)); }
    JsonWriter& value(double v);
    JsonWriter& value(bool b) { sep(); out_ += b ? "true" : "false"; return *this; }
    //! Inserts already-serialized JSON (must be valid).
    JsonWriter& raw(const std::string& json) { sep(); out_ += json.empty() ? "null" : json; return *this; }
    JsonWriter& dims(const Dims& d) {
        beginArray();
        for (int i = 0; i < d.nbDims; ++i) value(static_cast<int64_t>(d.d[i]));
        return endArray();
    }
    JsonWriter& strings(const std::vector<std::string>& v) {
        beginArray();
        for (const auto& s : v) value(s);
        return endArray();
    }
    const std::string& str() const { return out_; }

private:
    void sep() {
        if (afterKey_) {
            afterKey_ = false;
            return;
        }
        if (!first_.empty()) {
            if (!first_.back()) out_ += ',';
            first_.back() = false;
        }
    }
    void str(const std::string& s);
    std::string out_;
    std::vector<bool> first_;
    bool afterKey_ = false;
};

}  // namespace gie
