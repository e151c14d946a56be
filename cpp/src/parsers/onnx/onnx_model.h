// The subset of the ONNX protobuf schema the importer reads (onnx/onnx.proto3), decoded with the wire
// reader in parsers/common/protobuf_wire.h. Field numbers are those of onnx.proto; unknown fields are
// skipped, so newer models still load. Tensor payloads are copied out of the input buffer (raw_data is
// kept as bytes and decoded by host_tensor.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gie {
namespace onnx {

// TensorProto.DataType
enum TensorType : int32_t {
    kUNDEFINED = 0, kFLOAT = 1, kUINT8 = 2, kINT8 = 3, kUINT16 = 4, kINT16 = 5, kINT32 = 6, kINT64 = 7,
    kSTRING = 8, kBOOL = 9, kFLOAT16 = 10, kDOUBLE = 11, kUINT32 = 12, kUINT64 = 13, kCOMPLEX64 = 14,
    kCOMPLEX128 = 15, kBFLOAT16 = 16
};
//! numpy's name of an ONNX element type ("float32", "int64", ...), for messages.
const char* tensorTypeName(int32_t t);

struct TensorProto {
    std::string name;
    std::vector<int64_t> dims;
    int32_t dataType = 0;
    std::vector<float> floatData;
    std::vector<int32_t> int32Data;
    std::vector<int64_t> int64Data;
    std::vector<double> doubleData;
    std::vector<uint64_t> uint64Data;
    std::vector<std::string> stringData;
    std::string rawData;
    bool hasRawData = false;
    std::vector<std::pair<std::string, std::string>> externalData;
    int32_t dataLocation = 0;  // 0 DEFAULT, 1 EXTERNAL
};

struct GraphProto;

// AttributeProto.AttributeType
enum AttributeType : int32_t {
    kATTR_UNDEFINED = 0, kATTR_FLOAT = 1, kATTR_INT = 2, kATTR_STRING = 3, kATTR_TENSOR = 4, kATTR_GRAPH = 5,
    kATTR_FLOATS = 6, kATTR_INTS = 7, kATTR_STRINGS = 8, kATTR_TENSORS = 9, kATTR_GRAPHS = 10,
    kATTR_SPARSE_TENSOR = 11, kATTR_SPARSE_TENSORS = 12, kATTR_TYPE_PROTO = 13, kATTR_TYPE_PROTOS = 14
};

struct AttributeProto {
    std::string name;
    int32_t type = 0;
    float f = 0;
    int64_t i = 0;
    std::string s;
    std::shared_ptr<TensorProto> t;
    std::vector<float> floats;
    std::vector<int64_t> ints;
    std::vector<std::string> strings;
    bool hasSparseTensor = false;
    int32_t nbGraphs = 0;  // subgraphs are not imported; only counted
};

struct NodeProto {
    std::vector<std::string> input, output;
    std::string name, opType, domain;
    std::vector<AttributeProto> attribute;
    const AttributeProto* attr(const std::string& n) const {
        for (const auto& a : attribute)
            if (a.name == n) return &a;
        return nullptr;
    }
};

struct Dimension {
    bool hasValue = false;
    int64_t value = 0;
    std::string param;
};

struct ValueInfoProto {
    std::string name;
    bool hasTensorType = false;  // false: sequence, map, optional, sparse, or no type at all
    int32_t elemType = 0;
    bool hasShape = false;
    std::vector<Dimension> dims;
};

struct GraphProto {
    std::string name;
    std::vector<NodeProto> node;
    std::vector<TensorProto> initializer;
    int32_t nbSparseInitializers = 0;
    std::string firstSparseInitializerName;
    std::vector<ValueInfoProto> input, output, valueInfo;
};

struct OpsetImport {
    std::string domain;
    int64_t version = 0;
};

struct ModelProto {
    int64_t irVersion = 0;
    std::vector<OpsetImport> opsetImport;
    bool hasGraph = false;
    GraphProto graph;
};

//! Decodes a serialized ModelProto. Throws gie::Error(kINVALID_MODEL) naming the message and field of a
//! malformed input, and for names that are not valid UTF-8 (naming the node / attribute / initializer).
ModelProto readModel(const void* data, size_t size);

//! Python's repr() of a byte string (b'...'), used to quote names that are not valid UTF-8.
std::string bytesRepr(const std::string& s);
bool isValidUtf8(const std::string& s);

}  // namespace onnx
}  // namespace gie
