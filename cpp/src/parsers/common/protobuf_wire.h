// A small reader of the protobuf wire format (varint, fixed32/64, length-delimited, packed repeated
// fields), enough for the ONNX and caffemodel subsets without depending on libprotobuf.
//
// It never trusts the input: every length and count is checked against the bytes that remain before
// anything is read or allocated, varints longer than 10 bytes are refused, and nested messages are
// bounded by a depth limit. Every failure throws gie::Error(ErrorCode::kINVALID_MODEL) whose message
// names the document ("ONNX model"), the message being read and the field number.
//
// Usage:
//   WireReader r(data, size, "ONNX model", "ModelProto");
//   while (r.next()) {
//       switch (r.field()) {
//           case 7: { WireReader g = r.message("GraphProto"); ... } break;
//           case 1: version = r.int64(); break;
//           default: r.skip();
//       }
//   }
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"

namespace gie {
namespace wire {

enum class WireType : uint32_t { kVARINT = 0, kFIXED64 = 1, kLEN = 2, kSTART_GROUP = 3, kEND_GROUP = 4, kFIXED32 = 5 };

//! Nested messages deeper than this are refused (ONNX graphs nest through subgraph attributes).
constexpr int kMaxDepth = 64;

class WireReader {
public:
    //! `doc` names the whole input ("ONNX model", "caffemodel"), `message` the message type being read.
    //! The reader only views `data`; the caller keeps it alive.
    WireReader(const void* data, size_t size, std::string doc, std::string message, int depth = 0);

    //! Advances to the next field; false at the end of the message. Throws on a malformed tag.
    bool next();
    uint32_t field() const { return field_; }
    WireType wireType() const { return type_; }

    // Scalar values of the current field. Each checks the wire type and throws naming the field.
    uint64_t varint();
    int64_t int64() { return static_cast<int64_t>(varint()); }
    //! An int32 field: negative values are sign-extended 10-byte varints; values outside int32 are refused.
    int32_t int32();
    bool boolean() { return varint() != 0; }
    uint32_t fixed32();
    uint64_t fixed64();
    float float32();
    double float64();

    //! The raw bytes of a length-delimited field (a view into the input, valid as long as it is).
    const uint8_t* bytes(size_t* size);
    std::string string();
    //! A nested message; `message` names its type for errors.
    WireReader message(const std::string& message);

    // Repeated scalar fields accept both encodings: one element per field (unpacked) or a packed
    // length-delimited run. Each call appends what the current field holds. `maxCount` bounds the
    // total elements `out` may hold afterwards (a corrupt file must not allocate without limit).
    void appendInt64s(std::vector<int64_t>& out, size_t maxCount = kDefaultMaxCount);
    void appendInt32s(std::vector<int32_t>& out, size_t maxCount = kDefaultMaxCount);
    void appendUint64s(std::vector<uint64_t>& out, size_t maxCount = kDefaultMaxCount);
    void appendFloats(std::vector<float>& out, size_t maxCount = kDefaultMaxCount);
    void appendDoubles(std::vector<double>& out, size_t maxCount = kDefaultMaxCount);

    //! Skips the current field (any wire type; groups are refused: neither ONNX nor Caffe uses them).
    void skip();

    //! Throws kINVALID_MODEL naming the document, message and current field.
    [[noreturn]] void error(const std::string& what) const;

    size_t remaining() const { return size_ - pos_; }
    const std::string& doc() const { return doc_; }
    const std::string& messageName() const { return message_; }
    int depth() const { return depth_; }

    static constexpr size_t kDefaultMaxCount = size_t(1) << 31;

private:
    uint64_t readVarint();
    void expect(WireType t, const char* what) const;
    //! Checks that n bytes remain.
    void need(uint64_t n, const char* what) const;
    template <typename T, typename Read>
    void appendPacked(std::vector<T>& out, size_t maxCount, WireType elemType, size_t minElemSize, Read read);

    const uint8_t* p_;
    size_t size_;
    size_t pos_ = 0;
    std::string doc_;
    std::string message_;
    int depth_;
    uint32_t field_ = 0;
    WireType type_ = WireType::kVARINT;
};

}  // namespace wire
}  // namespace gie
