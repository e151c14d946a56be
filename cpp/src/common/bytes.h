// Little-endian byte writer and a bounds-checked reader for engine files and plugin fields.
// The reader never trusts a size field: every read checks the bytes that remain first, so a corrupt
// length cannot make us allocate or read past the end.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "common/error.h"

namespace gie {

class ByteWriter {
public:
    template <typename T>
    void put(const T& v) {
        static_assert(std::is_trivially_copyable<T>::value, "POD only");
        const auto* p = reinterpret_cast<const uint8_t*>(&v);
        buf_.insert(buf_.end(), p, p + sizeof(T));
    }
    void putBytes(const void* data, size_t n) {
        const auto* p = static_cast<const uint8_t*>(data);
        buf_.insert(buf_.end(), p, p + n);
    }
    void putString(const std::string& s) {
        put<uint32_t>(static_cast<uint32_t>(s.size()));
        putBytes(s.data(), s.size());
    }
    //! A length-prefixed blob (u64 length).
    void putBlob(const void* data, size_t n) {
        put<uint64_t>(n);
        putBytes(data, n);
    }
    void align(size_t a) {
        while (buf_.size() % a) buf_.push_back(0);
    }
    size_t size() const { return buf_.size(); }
    std::vector<uint8_t>& buffer() { return buf_; }

private:
    std::vector<uint8_t> buf_;
};

class ByteReader {
public:
    //! `what` names the thing being read in error messages ("engine file", "plugin 'X' fields").
    ByteReader(const void* data, size_t size, std::string what, ErrorCode code = ErrorCode::kINVALID_ENGINE)
        : p_(static_cast<const uint8_t*>(data)), size_(size), what_(std::move(what)), code_(code) {}

    template <typename T>
    T get(const char* field) {
        static_assert(std::is_trivially_copyable<T>::value, "POD only");
        need(sizeof(T), field);
        T v;
        std::memcpy(&v, p_ + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }
    const uint8_t* getBytes(size_t n, const char* field) {
        need(n, field);
        const uint8_t* r = p_ + pos_;
        pos_ += n;
        return r;
    }
    std::string getString(const char* field, size_t maxLen = 1 << 20) {
        uint32_t n = get<uint32_t>(field);
        if (n > maxLen) fail(code_, what_, ": field '", field, "' has implausible length ", n);
        const uint8_t* b = getBytes(n, field);
        return std::string(reinterpret_cast<const char*>(b), n);
    }
    //! Returns a pointer into the buffer; *n receives the checked length.
    const uint8_t* getBlob(const char* field, uint64_t* n) {
        *n = get<uint64_t>(field);
        return getBytes(static_cast<size_t>(*n), field);
    }
    //! A count that will size an allocation of `elemSize`-byte items: checked against what remains.
    uint64_t getCount(const char* field, size_t elemSize) {
        uint64_t n = get<uint64_t>(field);
        if (elemSize && n > remaining() / elemSize) fail(code_, what_, ": field '", field, "' count ", n, " exceeds the data that remains (", remaining(), " bytes)");
        return n;
    }
    void align(size_t a) {
        size_t pad = (a - pos_ % a) % a;
        getBytes(pad, "alignment padding");
    }
    size_t remaining() const { return size_ - pos_; }
    size_t position() const { return pos_; }
    const std::string& what() const { return what_; }
    ErrorCode code() const { return code_; }

private:
    void need(size_t n, const char* field) const {
        if (n > size_ - pos_)
            fail(code_, what_, " is truncated: reading '", field, "' needs ", n, " bytes at offset ", pos_, " but only ",
                 size_ - pos_, " remain");
    }
    const uint8_t* p_;
    size_t size_;
    size_t pos_ = 0;
    std::string what_;
    ErrorCode code_;
};

//! CRC-32C (Castagnoli) of a byte range, for engine file checksums.
uint32_t crc32c(const void* data, size_t n, uint32_t seed = 0) noexcept;

}  // namespace gie
