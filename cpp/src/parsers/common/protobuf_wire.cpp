#include "parsers/common/protobuf_wire.h"

#include <cstring>

namespace gie {
namespace wire {

namespace {
const char* wireTypeName(WireType t) {
    switch (t) {
        case WireType::kVARINT: return "varint";
        case WireType::kFIXED64: return "fixed64";
        case WireType::kLEN: return "length-delimited";
        case WireType::kSTART_GROUP: return "start-group";
        case WireType::kEND_GROUP: return "end-group";
        case WireType::kFIXED32: return "fixed32";
    }
    return "unknown";
}
}  // namespace

WireReader::WireReader(const void* data, size_t size, std::string doc, std::string message, int depth)
    : p_(static_cast<const uint8_t*>(data)), size_(size), doc_(std::move(doc)), message_(std::move(message)),
      depth_(depth) {
    if (size_ > 0 && p_ == nullptr) error("null data");
    if (depth_ > kMaxDepth) error(strcat("messages nested deeper than ", kMaxDepth));
}

void WireReader::error(const std::string& what) const {
    if (field_ != 0)
        fail(ErrorCode::kINVALID_MODEL, doc_, ": ", message_, " field ", field_, ": ", what);
    fail(ErrorCode::kINVALID_MODEL, doc_, ": ", message_, ": ", what);
}

void WireReader::need(uint64_t n, const char* what) const {
    if (n > remaining())
        error(strcat(what, " of ", n, " bytes runs past the end of the message (", remaining(), " bytes left)"));
}

uint64_t WireReader::readVarint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (pos_ >= size_) error("truncated varint");
        const uint8_t b = p_[pos_++];
        // The 10th byte may only carry the top bit of a 64-bit value.
        if (shift == 63 && b > 1) error("varint overflows 64 bits");
        v |= uint64_t(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    error("varint longer than 10 bytes");
}

bool WireReader::next() {
    if (pos_ >= size_) return false;
    field_ = 0;  // errors in the tag itself name no field
    const uint64_t tag = readVarint();
    const uint64_t field = tag >> 3;
    const uint32_t type = static_cast<uint32_t>(tag & 7);
    if (field == 0 || field > 0x1fffffff) error(strcat("invalid field number ", field));
    if (type > 5) error(strcat("invalid wire type ", type, " for field ", field));
    field_ = static_cast<uint32_t>(field);
    type_ = static_cast<WireType>(type);
    return true;
}

void WireReader::expect(WireType t, const char* what) const {
    if (type_ != t) error(strcat("expected ", what, " (", wireTypeName(t), ") but the field is ", wireTypeName(type_)));
}

uint64_t WireReader::varint() {
    expect(WireType::kVARINT, "an integer");
    return readVarint();
}

int32_t WireReader::int32() {
    const int64_t v = int64();
    if (v < INT32_MIN || v > INT32_MAX) error(strcat("value ", v, " does not fit int32"));
    return static_cast<int32_t>(v);
}

uint32_t WireReader::fixed32() {
    expect(WireType::kFIXED32, "a 32-bit value");
    need(4, "fixed32 value");
    uint32_t v;
    std::memcpy(&v, p_ + pos_, 4);  // the wire format is little-endian, as are our targets
    pos_ += 4;
    return v;
}

uint64_t WireReader::fixed64() {
    expect(WireType::kFIXED64, "a 64-bit value");
    need(8, "fixed64 value");
    uint64_t v;
    std::memcpy(&v, p_ + pos_, 8);
    pos_ += 8;
    return v;
}

float WireReader::float32() {
    const uint32_t bits = fixed32();
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

double WireReader::float64() {
    const uint64_t bits = fixed64();
    double d;
    std::memcpy(&d, &bits, 8);
    return d;
}

const uint8_t* WireReader::bytes(size_t* size) {
    expect(WireType::kLEN, "bytes");
    const uint64_t n = readVarint();
    need(n, "length-delimited value");
    const uint8_t* start = p_ + pos_;
    pos_ += static_cast<size_t>(n);
    *size = static_cast<size_t>(n);
    return start;
}

std::string WireReader::string() {
    size_t n = 0;
    const uint8_t* b = bytes(&n);
    return std::string(reinterpret_cast<const char*>(b), n);
}

WireReader WireReader::message(const std::string& message) {
    if (type_ != WireType::kLEN) expect(WireType::kLEN, ("a " + message + " message").c_str());
    size_t n = 0;
    const uint8_t* b = bytes(&n);
    return WireReader(b, n, doc_, message, depth_ + 1);
}

template <typename T, typename Read>
void WireReader::appendPacked(std::vector<T>& out, size_t maxCount, WireType elemType, size_t minElemSize,
                              Read read) {
    if (type_ == WireType::kLEN) {
        const uint64_t n = readVarint();
        need(n, "packed repeated value");
        // Each element takes at least minElemSize bytes, so n / minElemSize bounds the count before
        // anything is allocated.
        const uint64_t maxElems = n / minElemSize;
        if (elemType != WireType::kVARINT && n % minElemSize != 0)
            error(strcat("packed ", wireTypeName(elemType), " run of ", n, " bytes is not a multiple of ", minElemSize));
        if (maxElems > maxCount || out.size() > maxCount - maxElems)
            error(strcat("more than ", maxCount, " repeated values"));
        out.reserve(out.size() + static_cast<size_t>(elemType == WireType::kVARINT ? 0 : maxElems));
        const size_t end = pos_ + static_cast<size_t>(n);
        const size_t savedSize = size_;
        size_ = end;  // confine the element reads to the packed run
        while (pos_ < end) out.push_back(read());
        size_ = savedSize;
        return;
    }
    if (type_ != elemType)
        error(strcat("expected ", wireTypeName(elemType), " or packed values but the field is ", wireTypeName(type_)));
    if (out.size() >= maxCount) error(strcat("more than ", maxCount, " repeated values"));
    out.push_back(read());
}

void WireReader::appendInt64s(std::vector<int64_t>& out, size_t maxCount) {
    appendPacked(out, maxCount, WireType::kVARINT, 1, [this] { return static_cast<int64_t>(readVarint()); });
}

void WireReader::appendInt32s(std::vector<int32_t>& out, size_t maxCount) {
    appendPacked(out, maxCount, WireType::kVARINT, 1, [this] {
        const int64_t v = static_cast<int64_t>(readVarint());
        if (v < INT32_MIN || v > INT32_MAX) error(strcat("value ", v, " does not fit int32"));
        return static_cast<int32_t>(v);
    });
}

void WireReader::appendUint64s(std::vector<uint64_t>& out, size_t maxCount) {
    appendPacked(out, maxCount, WireType::kVARINT, 1, [this] { return readVarint(); });
}

void WireReader::appendFloats(std::vector<float>& out, size_t maxCount) {
    appendPacked(out, maxCount, WireType::kFIXED32, 4, [this] {
        need(4, "float value");
        float f;
        std::memcpy(&f, p_ + pos_, 4);
        pos_ += 4;
        return f;
    });
}

void WireReader::appendDoubles(std::vector<double>& out, size_t maxCount) {
    appendPacked(out, maxCount, WireType::kFIXED64, 8, [this] {
        need(8, "double value");
        double d;
        std::memcpy(&d, p_ + pos_, 8);
        pos_ += 8;
        return d;
    });
}

void WireReader::skip() {
    switch (type_) {
        case WireType::kVARINT: readVarint(); return;
        case WireType::kFIXED64: need(8, "fixed64 value"); pos_ += 8; return;
        case WireType::kFIXED32: need(4, "fixed32 value"); pos_ += 4; return;
        case WireType::kLEN: {
            const uint64_t n = readVarint();
            need(n, "length-delimited value");
            pos_ += static_cast<size_t>(n);
            return;
        }
        case WireType::kSTART_GROUP:
        case WireType::kEND_GROUP: error("groups are not supported");
    }
}

}  // namespace wire
}  // namespace gie
