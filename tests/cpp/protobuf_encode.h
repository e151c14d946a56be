// A minimal protobuf wire-format writer for C++ tests that build ONNX / caffemodel inputs without libprotobuf.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace pbenc {

using Buf = std::string;

inline void varint(Buf& b, uint64_t v) {
    while (v >= 0x80) {
        b.push_back(static_cast<char>(v | 0x80));
        v >>= 7;
    }
    b.push_back(static_cast<char>(v));
}
inline void tag(Buf& b, uint32_t field, uint32_t wireType) { varint(b, (uint64_t(field) << 3) | wireType); }
inline void intField(Buf& b, uint32_t field, int64_t v) {
    tag(b, field, 0);
    varint(b, uint64_t(v));
}
inline void lenField(Buf& b, uint32_t field, const Buf& payload) {
    tag(b, field, 2);
    varint(b, payload.size());
    b += payload;
}
inline void floatField(Buf& b, uint32_t field, float f) {
    tag(b, field, 5);
    char tmp[4];
    std::memcpy(tmp, &f, 4);
    b.append(tmp, 4);
}
inline void packedInts(Buf& b, uint32_t field, const std::vector<int64_t>& v) {
    Buf p;
    for (int64_t x : v) varint(p, uint64_t(x));
    lenField(b, field, p);
}
inline void packedFloats(Buf& b, uint32_t field, const std::vector<float>& v) {
    Buf p(v.size() * 4, '\0');
    if (!v.empty()) std::memcpy(&p[0], v.data(), v.size() * 4);
    lenField(b, field, p);
}

}  // namespace pbenc
