// Host values (decoding TensorProto payloads), attribute access, the field builder and the importer's
// network helpers.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/half.h"
#include "parsers/onnx/onnx_importer.h"

namespace gie {
namespace onnx {

std::vector<int64_t> Value::ints() const {
    if (!isFloat()) return i;
    std::vector<int64_t> r(f.size());
    for (size_t k = 0; k < f.size(); ++k) {
        const double v = f[k];
        r[k] = std::isfinite(v) && std::fabs(v) < 9.2e18 ? static_cast<int64_t>(v) : std::numeric_limits<int64_t>::min();
    }
    return r;
}

std::vector<float> Value::floats() const {
    if (isFloat()) return f;
    return std::vector<float>(i.begin(), i.end());
}

Value Value::ofInts(int32_t dtype, std::vector<int64_t> shape, std::vector<int64_t> v) {
    Value r;
    r.dtype = dtype;
    r.shape = std::move(shape);
    r.i = std::move(v);
    return r;
}

Value Value::ofFloats(int32_t dtype, std::vector<int64_t> shape, std::vector<float> v) {
    Value r;
    r.dtype = dtype;
    r.shape = std::move(shape);
    r.f = std::move(v);
    return r;
}

std::string shapeStr(const std::vector<int64_t>& s) {
    std::string r = "(";
    for (size_t k = 0; k < s.size(); ++k) r += (k ? ", " : "") + std::to_string(s[k]);
    return r + (s.size() == 1 ? ",)" : ")");
}

std::string listStr(const std::vector<int64_t>& s) {
    std::string r = "[";
    for (size_t k = 0; k < s.size(); ++k) r += (k ? ", " : "") + std::to_string(s[k]);
    return r + "]";
}

int64_t volume(const std::vector<int64_t>& s) {
    int64_t v = 1;
    for (int64_t d : s) {
        if (d < 0) return -1;
        if (d != 0 && v > (int64_t(1) << 62) / d) return int64_t(1) << 62;  // saturate: callers compare to limits
        v *= d;
    }
    return v;
}

namespace {

size_t elemSize(int32_t t) {
    switch (t) {
        case kFLOAT: case kINT32: case kUINT32: return 4;
        case kUINT8: case kINT8: case kBOOL: return 1;
        case kUINT16: case kINT16: case kFLOAT16: case kBFLOAT16: return 2;
        case kINT64: case kUINT64: case kDOUBLE: return 8;
        default: return 0;
    }
}

float bf16ToFloat(uint16_t b) {
    uint32_t u = uint32_t(b) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

template <typename T>
T load(const char* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

}  // namespace

Value decodeTensor(const TensorProto& t, const std::string* external, const std::string& what) {
    auto bad = [&](const std::string& why) -> Error {
        return Error(ErrorCode::kINVALID_MODEL, strcat(what, " is malformed (data type ", t.dataType, ", dims ",
                                                        listStr(t.dims), "): ValueError: ", why));
    };
    const int64_t vol = volume(t.dims);
    if (vol < 0) throw bad("negative dimension");
    const size_t es = elemSize(t.dataType);
    if (t.dataType == kSTRING) {
        // Kept as a shape only: a string value is refused where it is used (no gie type holds it).
        Value v;
        v.dtype = kSTRING;
        v.shape = t.dims;
        return v;
    }
    if (es == 0) throw bad(strcat("data type ", t.dataType, " is not supported"));
    Value v;
    v.dtype = t.dataType;
    v.shape = t.dims;
    const bool isF = v.isFloat();
    const std::string* raw = external ? external : (t.hasRawData ? &t.rawData : nullptr);
    auto put = [&](int64_t k, double fv, int64_t iv) {
        if (isF) v.f[size_t(k)] = static_cast<float>(fv);
        else v.i[size_t(k)] = iv;
    };
    // The element count is checked against the data actually present before anything is allocated.
    int64_t have = 0;
    if (raw) {
        if (raw->size() % es != 0 || int64_t(raw->size() / es) != vol)
            throw bad(strcat("cannot reshape array of size ", raw->size() / es, " into shape ", shapeStr(t.dims)));
        have = vol;
    } else {
        switch (t.dataType) {
            case kFLOAT: have = int64_t(t.floatData.size()); break;
            case kDOUBLE: have = int64_t(t.doubleData.size()); break;
            case kINT64: have = int64_t(t.int64Data.size()); break;
            case kUINT32: case kUINT64: have = int64_t(t.uint64Data.size()); break;
            default: have = int64_t(t.int32Data.size()); break;
        }
        if (have != vol) throw bad(strcat("cannot reshape array of size ", have, " into shape ", shapeStr(t.dims)));
    }
    if (isF) v.f.resize(size_t(vol));
    else v.i.resize(size_t(vol));
    for (int64_t k = 0; k < vol; ++k) {
        if (raw) {
            const char* p = raw->data() + size_t(k) * es;
            switch (t.dataType) {
                case kFLOAT: put(k, load<float>(p), 0); break;
                case kDOUBLE: put(k, load<double>(p), 0); break;
                case kFLOAT16: put(k, halfToFloat(load<uint16_t>(p)), 0); break;
                case kBFLOAT16: put(k, bf16ToFloat(load<uint16_t>(p)), 0); break;
                case kUINT8: put(k, 0, load<uint8_t>(p)); break;
                case kINT8: put(k, 0, load<int8_t>(p)); break;
                case kBOOL: put(k, 0, load<uint8_t>(p) != 0); break;
                case kUINT16: put(k, 0, load<uint16_t>(p)); break;
                case kINT16: put(k, 0, load<int16_t>(p)); break;
                case kINT32: put(k, 0, load<int32_t>(p)); break;
                case kUINT32: put(k, 0, load<uint32_t>(p)); break;
                case kINT64: put(k, 0, load<int64_t>(p)); break;
                case kUINT64: put(k, 0, static_cast<int64_t>(load<uint64_t>(p))); break;
            }
        } else {
            const size_t j = size_t(k);
            switch (t.dataType) {
                case kFLOAT: put(k, t.floatData[j], 0); break;
                case kDOUBLE: put(k, t.doubleData[j], 0); break;
                case kFLOAT16: put(k, halfToFloat(static_cast<uint16_t>(t.int32Data[j])), 0); break;
                case kBFLOAT16: put(k, bf16ToFloat(static_cast<uint16_t>(t.int32Data[j])), 0); break;
                case kINT64: put(k, 0, t.int64Data[j]); break;
                case kUINT32: put(k, 0, static_cast<int64_t>(static_cast<uint32_t>(t.uint64Data[j]))); break;
                case kUINT64: put(k, 0, static_cast<int64_t>(t.uint64Data[j])); break;
                // narrower integers are stored in int32_data; numpy's astype wraps them
                case kUINT8: put(k, 0, static_cast<uint8_t>(t.int32Data[j])); break;
                case kINT8: put(k, 0, static_cast<int8_t>(t.int32Data[j])); break;
                case kUINT16: put(k, 0, static_cast<uint16_t>(t.int32Data[j])); break;
                case kINT16: put(k, 0, static_cast<int16_t>(t.int32Data[j])); break;
                case kBOOL: put(k, 0, t.int32Data[j] != 0); break;
                default: put(k, 0, t.int32Data[j]); break;
            }
        }
    }
    return v;
}

// ---- Fields ------------------------------------------------------------------------------------------

Fields& Fields::raw(const char* name, PluginFieldType type, const void* data, int64_t count, size_t es) {
    names_.emplace_back(name);
    data_.emplace_back(static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + size_t(count) * es);
    PluginField f;
    f.name = names_.back().c_str();
    f.data = data_.back().data();
    f.type = type;
    f.length = count;
    fields_.push_back(f);
    return *this;
}

Fields& Fields::ints(const char* name, const std::vector<int64_t>& v) {
    return raw(name, PluginFieldType::kINT64, v.data(), int64_t(v.size()), 8);
}

Fields& Fields::floats(const char* name, const std::vector<float>& v) {
    return raw(name, PluginFieldType::kFLOAT32, v.data(), int64_t(v.size()), 4);
}

Fields& Fields::str(const char* name, const std::string& s) {
    return raw(name, PluginFieldType::kCHAR, s.data(), int64_t(s.size()), 1);
}

const PluginFieldCollection* Fields::collection() {
    fc_.nbFields = static_cast<int32_t>(fields_.size());
    fc_.fields = fields_.data();
    return &fc_;
}

// ---- Attrs -------------------------------------------------------------------------------------------

const AttributeProto& Attrs::req(const char* n) const {
    const AttributeProto* a = node->attr(n);
    if (!a) fail(ErrorCode::kINVALID_MODEL, "KeyError: '", n, "'");
    return *a;
}
int64_t Attrs::i(const char* n, int64_t def) const {
    const AttributeProto* a = node->attr(n);
    return a ? a->i : def;
}
float Attrs::f(const char* n, float def) const {
    const AttributeProto* a = node->attr(n);
    if (!a) return def;
    return a->type == kATTR_INT ? float(a->i) : a->f;
}
std::string Attrs::s(const char* n, const std::string& def) const {
    const AttributeProto* a = node->attr(n);
    return a ? a->s : def;
}
std::vector<int64_t> Attrs::ints(const char* n, const std::vector<int64_t>& def) const {
    const AttributeProto* a = node->attr(n);
    return a ? a->ints : def;
}
std::vector<float> Attrs::floats(const char* n, const std::vector<float>& def) const {
    const AttributeProto* a = node->attr(n);
    return a ? a->floats : def;
}

// ---- types -------------------------------------------------------------------------------------------

DataType gieType(int32_t t) {
    switch (t) {
        case kFLOAT16: return DataType::kHALF;
        case kFLOAT: case kDOUBLE: case kBFLOAT16: return DataType::kFLOAT;
        case kBOOL: return DataType::kBOOL;
        case kINT8: return DataType::kINT8;
        case kUINT8: case kUINT16: case kINT16: case kINT32: case kINT64: case kUINT32: case kUINT64:
            return DataType::kINT32;
        default: throw Unsupported(strcat("data type ", tensorTypeName(t), " has no gie equivalent"));
    }
}

int32_t onnxTypeOf(DataType t) {
    switch (t) {
        case DataType::kFLOAT: return kFLOAT;
        case DataType::kHALF: return kFLOAT16;
        case DataType::kINT8: return kINT8;
        case DataType::kINT32: return kINT32;
        case DataType::kBOOL: return kBOOL;
    }
    return kFLOAT;
}

std::vector<int64_t> dynamicDimsOf(const ITensor* t) {
    const Dims d = t->getDimensions();
    if (d.nbDims < 0) fail(ErrorCode::kINVALID_MODEL, "the shape of tensor '", t->getName(), "' is unknown");
    return std::vector<int64_t>(d.d, d.d + d.nbDims);
}

bool hasDynamicDim(const ITensor* t) {
    const auto d = dynamicDimsOf(t);
    return std::any_of(d.begin(), d.end(), [](int64_t v) { return v < 0; });
}

std::vector<int64_t> dimsOf(const ITensor* t) {
    std::vector<int64_t> d = dynamicDimsOf(t);
    for (size_t k = 0; k < d.size(); ++k)
        if (d[k] < 0) throw Unsupported(dynamicDimNeeded(t, d, k));
    return d;
}

std::string dynamicDimNeeded(const ITensor* t, const std::vector<int64_t>& dims, size_t k) {
    return strcat("tensor '", t->getName(), "' has shape ", shapeStr(dims), " and this node needs the value of its dynamic "
                  "dimension ", k, " at import time (this converter does not take run-time shape tensors; Shape, Reshape, "
                  "Resize sizes, Slice, Expand and ConstantOfShape do): pin the input's dimensions with input_shapes=");
}

// ---- Importer helpers --------------------------------------------------------------------------------

ILayer* Importer::add(const char* type, const std::vector<ITensor*>& inputs, Fields& fields) {
    ILayer* l = net.addLayer(type, inputs.data(), static_cast<int32_t>(inputs.size()), fields.collection());
    if (!l) {
        const char* msg = nullptr;
        const ErrorCode code = getLastError(&msg);
        throw Error(code == ErrorCode::kSUCCESS ? ErrorCode::kINTERNAL : code,
                    msg ? msg : strcat("adding a ", type, " layer failed"));
    }
    return l;
}

ILayer* Importer::add(const char* type, const std::vector<ITensor*>& inputs) {
    Fields none;
    return add(type, inputs, none);
}

ITensor* Importer::elementwise(ITensor* a, ITensor* b, ElementWiseOperation op) {
    Fields f;
    f.i("op", int64_t(op));
    return add("ElementWise", {a, b}, f)->getOutput(0);
}

ITensor* Importer::unary(ITensor* x, UnaryOperation op) {
    Fields f;
    f.i("op", int64_t(op));
    return add("Unary", {x}, f)->getOutput(0);
}

ITensor* Importer::identity(ITensor* x) { return add("Identity", {x})->getOutput(0); }

ITensor* Importer::cast(ITensor* x, DataType t) {
    Fields f;
    f.i("to", int64_t(t));
    return add("Cast", {x}, f)->getOutput(0);
}

ITensor* Importer::shuffle(ITensor* x, const std::vector<int64_t>* first, const std::vector<int64_t>* reshape,
                           const std::vector<int64_t>* second) {
    Fields f;
    if (first) f.ints("first_transpose", *first);
    if (reshape) f.ints("reshape", *reshape);
    if (second) f.ints("second_transpose", *second);
    return add("Shuffle", {x}, f)->getOutput(0);
}

ITensor* Importer::slice(ITensor* x, const std::vector<int64_t>& start, const std::vector<int64_t>& size,
                         const std::vector<int64_t>& stride) {
    Fields f;
    f.ints("start", start).ints("size", size).ints("stride", stride);
    return add("Slice", {x}, f)->getOutput(0);
}

ITensor* Importer::reduce(ITensor* x, ReduceOperation op, const std::vector<int64_t>& axes, bool keep) {
    Fields f;
    f.i("op", int64_t(op)).ints("axes", axes).i("keep_dims", keep ? 1 : 0);
    return add("Reduce", {x}, f)->getOutput(0);
}

ITensor* Importer::scalarLike(ITensor* x, double v, int32_t dtype) {
    const std::vector<int64_t> shape(dynamicDimsOf(x).size(), 1);
    Value c = dtype == kFLOAT || dtype == kFLOAT16 ? Value::ofFloats(dtype, shape, {float(v)})
                                                   : Value::ofInts(dtype, shape, {int64_t(v)});
    return constantTensor(c);
}

ITensor* Importer::constantTensor(const Value& v) {
    // float16 and string values have no Constant the Python importer made either: refused alike
    if (v.dtype == kFLOAT16 || v.dtype == kSTRING) throw Unsupported(strcat("constant of type ", tensorTypeName(v.dtype)));
    Fields f;
    f.ints("shape", v.shape);
    if (v.dtype == kBOOL) {
        std::vector<int32_t> w(v.i.begin(), v.i.end());
        f.raw("weights", PluginFieldType::kINT32, w.data(), int64_t(w.size()), 4);
        ITensor* t = add("Constant", {}, f)->getOutput(0);
        return cast(t, DataType::kBOOL);
    }
    if (v.isFloat()) {
        f.raw("weights", PluginFieldType::kFLOAT32, v.f.data(), int64_t(v.f.size()), 4);
    } else {
        std::vector<int32_t> w(v.i.size());
        for (size_t k = 0; k < w.size(); ++k)  // numpy.clip to the int32 range, as the Python importer did
            w[k] = static_cast<int32_t>(std::min<int64_t>(std::max<int64_t>(v.i[k], INT32_MIN), INT32_MAX));
        f.raw("weights", PluginFieldType::kINT32, w.data(), int64_t(w.size()), 4);
    }
    return add("Constant", {}, f)->getOutput(0);
}

ITensor* Importer::tensor(const std::string& name, const DataType* dtype) {
    auto it = tensors.find(name);
    if (it != tensors.end()) return it->second;
    auto c = consts.find(name);
    if (c == consts.end()) fail(ErrorCode::kINVALID_MODEL, "tensor '", name, "' is not defined");
    if (dtype && gieType(c->second.dtype) != *dtype) {
        Value v = c->second;
        const int32_t to = onnxTypeOf(*dtype);
        if (v.isFloat() && !(to == kFLOAT || to == kFLOAT16)) {
            v = Value::ofInts(to, v.shape, v.ints());
            if (to == kBOOL)
                for (size_t k = 0; k < v.i.size(); ++k) v.i[k] = c->second.f[k] != 0;
        } else if (!v.isFloat() && (to == kFLOAT || to == kFLOAT16)) {
            v = Value::ofFloats(to, v.shape, v.floats());
        } else {
            v.dtype = to;
            if (to == kBOOL)
                for (auto& x : v.i) x = x != 0;
            else if (to == kINT8)
                for (auto& x : v.i) x = static_cast<int8_t>(x);
        }
        return constantTensor(v);
    }
    return constantTensor(c->second);
}

std::vector<int64_t> Importer::shape(const std::string& name) {
    auto c = consts.find(name);
    if (c != consts.end()) return c->second.shape;
    return dimsOf(tensor(name));
}

}  // namespace onnx
}  // namespace gie
