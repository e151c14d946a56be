#include "parsers/onnx/onnx_model.h"

#include <cstdio>

#include "parsers/common/protobuf_wire.h"

namespace gie {
namespace onnx {

using wire::WireReader;

const char* tensorTypeName(int32_t t) {
    switch (t) {
        case kFLOAT: return "float32";
        case kUINT8: return "uint8";
        case kINT8: return "int8";
        case kUINT16: return "uint16";
        case kINT16: return "int16";
        case kINT32: return "int32";
        case kINT64: return "int64";
        case kSTRING: return "object";
        case kBOOL: return "bool";
        case kFLOAT16: return "float16";
        case kDOUBLE: return "float64";
        case kUINT32: return "uint32";
        case kUINT64: return "uint64";
        case kCOMPLEX64: return "complex64";
        case kCOMPLEX128: return "complex128";
        case kBFLOAT16: return "bfloat16";
        default: return "unknown";
    }
}

bool isValidUtf8(const std::string& s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    size_t i = 0, n = s.size();
    while (i < n) {
        const unsigned char c = p[i];
        int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > n) return false;
        uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
        for (int k = 1; k < len; ++k) {
            if ((p[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        // overlong forms, surrogates and values past U+10FFFF are invalid, as Python's decoder says
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

std::string bytesRepr(const std::string& s) {
    const bool dq = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
    std::string r = dq ? "b\"" : "b'";
    for (unsigned char c : s) {
        if (c == '\\') r += "\\\\";
        else if (c == '\'' && !dq) r += "\\'";
        else if (c == '\n') r += "\\n";
        else if (c == '\r') r += "\\r";
        else if (c == '\t') r += "\\t";
        else if (c < 0x20 || c >= 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            r += buf;
        } else {
            r += static_cast<char>(c);
        }
    }
    return r + (dq ? "\"" : "'");
}

namespace {

void readTensor(WireReader r, TensorProto& t) {
    while (r.next()) {
        switch (r.field()) {
            case 1: r.appendInt64s(t.dims, 64); break;
            case 2: t.dataType = r.int32(); break;
            case 4: r.appendFloats(t.floatData); break;
            case 5: r.appendInt32s(t.int32Data); break;
            case 6: t.stringData.push_back(r.string()); break;
            case 7: r.appendInt64s(t.int64Data); break;
            case 8: t.name = r.string(); break;
            case 9: t.rawData = r.string(); t.hasRawData = true; break;
            case 10: r.appendDoubles(t.doubleData); break;
            case 11: r.appendUint64s(t.uint64Data); break;
            case 13: {
                WireReader e = r.message("StringStringEntryProto");
                std::pair<std::string, std::string> kv;
                while (e.next()) {
                    if (e.field() == 1) kv.first = e.string();
                    else if (e.field() == 2) kv.second = e.string();
                    else e.skip();
                }
                t.externalData.push_back(std::move(kv));
                break;
            }
            case 14: t.dataLocation = r.int32(); break;
            default: r.skip();
        }
    }
}

void readGraph(WireReader r, GraphProto& g);

void readAttribute(WireReader r, AttributeProto& a) {
    while (r.next()) {
        switch (r.field()) {
            case 1: a.name = r.string(); break;
            case 20: a.type = r.int32(); break;
            case 2: a.f = r.float32(); break;
            case 3: a.i = r.int64(); break;
            case 4: a.s = r.string(); break;
            case 5: a.t = std::make_shared<TensorProto>(); readTensor(r.message("TensorProto"), *a.t); break;
            case 6: {  // subgraphs (If/Loop/Scan) are not imported, but must still be well-formed
                GraphProto sub;
                readGraph(r.message("GraphProto"), sub);
                ++a.nbGraphs;
                break;
            }
            case 7: r.appendFloats(a.floats); break;
            case 8: r.appendInt64s(a.ints); break;
            case 9: a.strings.push_back(r.string()); break;
            case 10: {
                TensorProto t;
                readTensor(r.message("TensorProto"), t);
                break;
            }
            case 11: {
                GraphProto sub;
                readGraph(r.message("GraphProto"), sub);
                ++a.nbGraphs;
                break;
            }
            case 22: a.hasSparseTensor = true; r.skip(); break;
            default: r.skip();
        }
    }
}

void readNode(WireReader r, NodeProto& n) {
    while (r.next()) {
        switch (r.field()) {
            case 1: n.input.push_back(r.string()); break;
            case 2: n.output.push_back(r.string()); break;
            case 3: n.name = r.string(); break;
            case 4: n.opType = r.string(); break;
            case 5: n.attribute.emplace_back(); readAttribute(r.message("AttributeProto"), n.attribute.back()); break;
            case 7: n.domain = r.string(); break;
            default: r.skip();
        }
    }
}

void readValueInfo(WireReader r, ValueInfoProto& v) {
    while (r.next()) {
        if (r.field() == 1) {
            v.name = r.string();
        } else if (r.field() == 2) {
            WireReader type = r.message("TypeProto");
            while (type.next()) {
                if (type.field() != 1) { type.skip(); continue; }
                v.hasTensorType = true;
                WireReader tt = type.message("TypeProto.Tensor");
                while (tt.next()) {
                    if (tt.field() == 1) {
                        v.elemType = tt.int32();
                    } else if (tt.field() == 2) {
                        v.hasShape = true;
                        WireReader shape = tt.message("TensorShapeProto");
                        while (shape.next()) {
                            if (shape.field() != 1) { shape.skip(); continue; }
                            if (v.dims.size() >= 64) shape.error("more than 64 dimensions");
                            Dimension d;
                            WireReader dim = shape.message("TensorShapeProto.Dimension");
                            while (dim.next()) {
                                if (dim.field() == 1) { d.hasValue = true; d.value = dim.int64(); }
                                else if (dim.field() == 2) { d.hasValue = false; d.param = dim.string(); }
                                else dim.skip();
                            }
                            v.dims.push_back(std::move(d));
                        }
                    } else {
                        tt.skip();
                    }
                }
            }
        } else {
            r.skip();
        }
    }
}

void readGraph(WireReader r, GraphProto& g) {
    while (r.next()) {
        switch (r.field()) {
            case 1: g.node.emplace_back(); readNode(r.message("NodeProto"), g.node.back()); break;
            case 2: g.name = r.string(); break;
            case 5: g.initializer.emplace_back(); readTensor(r.message("TensorProto"), g.initializer.back()); break;
            case 11: g.input.emplace_back(); readValueInfo(r.message("ValueInfoProto"), g.input.back()); break;
            case 12: g.output.emplace_back(); readValueInfo(r.message("ValueInfoProto"), g.output.back()); break;
            case 13: g.valueInfo.emplace_back(); readValueInfo(r.message("ValueInfoProto"), g.valueInfo.back()); break;
            case 15: {
                WireReader sp = r.message("SparseTensorProto");
                while (sp.next()) {
                    if (sp.field() == 1) {
                        TensorProto values;
                        readTensor(sp.message("TensorProto"), values);
                        if (g.nbSparseInitializers == 0) g.firstSparseInitializerName = values.name;
                    } else {
                        sp.skip();
                    }
                }
                ++g.nbSparseInitializers;
                break;
            }
            default: r.skip();
        }
    }
}

}  // namespace

ModelProto readModel(const void* data, size_t size) {
    ModelProto m;
    WireReader r(data, size, "ONNX model", "ModelProto");
    while (r.next()) {
        switch (r.field()) {
            case 1: m.irVersion = r.int64(); break;
            case 7: m.hasGraph = true; readGraph(r.message("GraphProto"), m.graph); break;
            case 8: {
                OpsetImport o;
                WireReader op = r.message("OperatorSetIdProto");
                while (op.next()) {
                    if (op.field() == 1) o.domain = op.string();
                    else if (op.field() == 2) o.version = op.int64();
                    else op.skip();
                }
                m.opsetImport.push_back(std::move(o));
                break;
            }
            default: r.skip();
        }
    }
    return m;
}

}  // namespace onnx
}  // namespace gie
