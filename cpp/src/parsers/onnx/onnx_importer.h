// Internals of the ONNX importer shared by its files: host values (known tensors), the importer state that
// converters read and write, and the field-collection helper that builds layers through addLayer().
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/dims.h"
#include "common/error.h"
#include "gie/network.h"
#include "parsers/onnx/onnx_model.h"

namespace gie {
namespace onnx {

//! Stands for the run-time batch inside folded shape values (a prime well above any real dimension).
constexpr int64_t kBATCH = 1000003;
//! Folding may make a tensor at most this large (in elements) unless its inputs already hold as many.
constexpr int64_t kMAX_FOLD_ELEMENTS = int64_t(1) << 24;

//! A value known at import time. Floating types (float32/16, bfloat16, double) live in `f`, integers and
//! bool in `i`; `dtype` keeps the ONNX element type, so folding follows numpy's types.
struct Value {
    int32_t dtype = kFLOAT;
    std::vector<int64_t> shape;
    std::vector<float> f;
    std::vector<int64_t> i;

    bool isFloat() const { return dtype == kFLOAT || dtype == kFLOAT16 || dtype == kDOUBLE || dtype == kBFLOAT16; }
    int64_t size() const { return isFloat() ? int64_t(f.size()) : int64_t(i.size()); }
    double at(int64_t k) const { return isFloat() ? double(f[size_t(k)]) : double(i[size_t(k)]); }
    //! The values as integers (floats truncated toward zero, like numpy's astype).
    std::vector<int64_t> ints() const;
    std::vector<float> floats() const;
    static Value ofInts(int32_t dtype, std::vector<int64_t> shape, std::vector<int64_t> v);
    static Value ofFloats(int32_t dtype, std::vector<int64_t> shape, std::vector<float> v);
};

//! numpy-style shape text: "(2, 3)", "(5,)", "()".
std::string shapeStr(const std::vector<int64_t>& s);
//! Python list text: "[1, -1]".
std::string listStr(const std::vector<int64_t>& s);
int64_t volume(const std::vector<int64_t>& s);
//! Elements a slice takes from `span` positions with |step| >= 1 (ceil(span / |step|), no overflow).
inline int64_t sliceCount(int64_t span, int64_t step) {
    if (span <= 0) return 0;
    const uint64_t st = step < 0 ? uint64_t(0) - uint64_t(step) : uint64_t(step);
    return int64_t(1 + uint64_t(span - 1) / st);
}

//! Decodes an initializer / tensor attribute. `external` holds the bytes of external data (if any).
//! Throws gie::Error(kINVALID_MODEL) when data type, dims and data disagree.
Value decodeTensor(const TensorProto& t, const std::string* external, const std::string& what);

//! A case gie cannot express: collected and reported with every other unsupported node.
class Unsupported : public std::runtime_error {
public:
    explicit Unsupported(const std::string& m) : std::runtime_error(m) {}
};

//! A refusal of the batch path only (a lone symbolic batch declared at the parse-time batch, shape values folded with
//! kBATCH): an op on dimension 0, which the batch path takes to be the batch, or a folded shape that shows dimension 0
//! does not follow the batch. The parser then imports the model again with that dimension dynamic (-1), where these
//! ops are imported like any other (onnx_parser.cpp, OnnxParser::run).
class BatchPathRefused : public Unsupported {
public:
    explicit BatchPathRefused(const std::string& m) : Unsupported(m) {}
};

//! Folding would materialize a batch-sized or huge constant: the node is imported as a layer instead
//! (or reported unsupported with this reason when it has no converter).
class FoldRefused : public std::runtime_error {
public:
    explicit FoldRefused(const std::string& m) : std::runtime_error(m) {}
};

//! Builds the PluginFieldCollection of one layer; keeps the copied names and values alive.
class Fields {
public:
    Fields& i(const char* name, int64_t v) { return ints(name, {v}); }
    Fields& ints(const char* name, const std::vector<int64_t>& v);
    Fields& f(const char* name, float v) { return floats(name, {v}); }
    Fields& floats(const char* name, const std::vector<float>& v);
    Fields& raw(const char* name, PluginFieldType type, const void* data, int64_t count, size_t elemSize);
    Fields& str(const char* name, const std::string& s);
    const PluginFieldCollection* collection();

private:
    std::deque<std::string> names_;
    std::deque<std::vector<uint8_t>> data_;
    std::vector<PluginField> fields_;
    PluginFieldCollection fc_;
};

//! Attribute access with the node's defaults.
struct Attrs {
    const NodeProto* node;
    bool has(const char* n) const { return node->attr(n) != nullptr; }
    int64_t i(const char* n, int64_t def) const;
    float f(const char* n, float def) const;
    std::string s(const char* n, const std::string& def) const;
    std::vector<int64_t> ints(const char* n, const std::vector<int64_t>& def) const;
    std::vector<float> floats(const char* n, const std::vector<float>& def) const;
    //! Throws kINVALID_MODEL when a required attribute is missing.
    const AttributeProto& req(const char* n) const;
};

class Importer;
using Converter = std::function<std::vector<ITensor*>(Importer&, const NodeProto&, const Attrs&)>;
using Validator = std::function<void(Importer&, const NodeProto&, const Attrs&)>;
//! Folds a node whose inputs are known; false when it cannot (then it is imported as a layer).
using Folder = std::function<bool(Importer&, const NodeProto&, const Attrs&, std::vector<Value>&)>;

const std::map<std::string, Converter>& converters();
const std::map<std::string, Validator>& validators();
//! QuantizeLinear / DequantizeLinear (onnx_qdq.cpp): their converters and folders, added to the tables above.
void addQdqConverters(std::map<std::string, Converter>& c);
void addQdqFolders(std::map<std::string, Folder>& f);
//! Throws FoldRefused when output `index` of `n` (all inputs known) would be a constant of `shape` that
//! follows the batch or is over the folding limit.
void checkFoldOutput(Importer& p, const NodeProto& n, size_t index, const std::vector<int64_t>& shape);
//! numpy.broadcast_to(v, broadcast(v.shape, shape)); Unsupported if the shapes do not broadcast.
Value broadcastValue(const Value& v, const std::vector<int64_t>& shape);
//! numpy.tile(v, reps), len(reps) == rank of v.
Value tileValue(const Value& v, const std::vector<int64_t>& reps);
//! Host folding of the ops that appear in shape subgraphs (Shape, Gather, Concat, arithmetic, ...).
const std::map<std::string, Folder>& folders();
//! Ops imported only when their inputs are known (folded); otherwise unsupported.
const std::set<std::string>& foldOnlyOps();
//! Ops never folded (random).
const std::set<std::string>& noFoldOps();
//! Shape, Size and Constant: folded whenever possible, whatever their inputs.
bool foldSpecial(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out);
bool isSpecialFold(const std::string& op);
//! Shape / Size of a tensor with dynamic dimensions, shape arithmetic on shape tensors and Reshape to a shape tensor
//! (onnx_shape_tensors.cpp): fills `outs` and returns true, or returns false for the other converters.
bool convertShapeNode(Importer& p, const NodeProto& n, const Attrs& a, std::vector<ITensor*>& outs);
//! Slice(data, starts, ends[, axes, steps]) computed at run time (ShapeOps clamp the bounds): for shape-tensor bounds, or
//! known bounds on a tensor with dynamic dimensions. Steps must be known and positive.
std::vector<ITensor*> sliceRuntime(Importer& p, const NodeProto& n);
//! Expand(x, shape) by a stride-0 Slice to the broadcast shape computed at run time (shape: a shape tensor or known).
std::vector<ITensor*> expandRuntime(Importer& p, const NodeProto& n);
//! x[start : start + size : stride] along dimension `axis` only, the other dimensions whole (they may be dynamic).
ITensor* sliceAxis(Importer& p, ITensor* x, int64_t axis, int64_t start, int64_t size, int64_t stride);
//! Reshape of a tensor with dynamic dimensions to a known target (0 copies, -1 infers, as ONNX without allowzero).
ITensor* reshapeRuntime(Importer& p, ITensor* x, const std::vector<int64_t>& target);

struct ImportOptions {
    int64_t batch = 1;
    std::map<std::string, std::vector<int64_t>> inputShapes;
    bool pluginFallback = true;
};

class Importer {
public:
    Importer(INetworkDefinition& net, ILogger& logger, const ImportOptions& opts) : net(net), logger(logger), opts(opts) {}

    INetworkDefinition& net;
    ILogger& logger;
    const ImportOptions& opts;
    int64_t opset = 1;
    int64_t batch = 1;
    bool dynamicBatch = false;
    ITensor* batchSource = nullptr;
    std::map<std::string, Value> consts;
    std::map<std::string, ITensor*> tensors;
    std::set<const ITensor*> named;  //!< tensors already given their ONNX name (the first name wins)
    std::set<std::string> symbolic;
    //! Outputs of Shape made run-time shape tensors: the values, -1 where dynamic (a Gather of known ones folds).
    std::map<std::string, std::vector<int64_t>> runtimeShapes;
    std::set<std::string> consumed;
    //! Outputs of QuantizeLinear on run-time tensors (held dequantized): their scale and zero point (onnx_qdq.cpp).
    struct Quantized {
        float scale;
        int64_t zeroPoint;
    };
    std::map<std::string, Quantized> quantized;
    //! Tensor names read by a node other than DequantizeLinear, or graph outputs.
    std::set<std::string> readOutsideDequantize;

    bool isConst(const std::string& name) const { return consts.count(name) != 0; }
    //! A known value; string values (kept as a shape only) are refused here, where they would be used.
    const Value& constant(const std::string& name) const {
        const Value& v = consts.at(name);
        if (v.dtype == kSTRING) throw Unsupported("constant of type object");
        return v;
    }
    //! The gie tensor of `name`; a known value becomes a Constant layer (cast to `dtype` if given).
    ITensor* tensor(const std::string& name, const DataType* dtype = nullptr);
    //! A Constant layer holding `v` (bool via int32 + Cast; integers clipped to int32).
    ITensor* constantTensor(const Value& v);
    std::vector<int64_t> shape(const std::string& name);

    //! addLayer that throws the recorded error on failure.
    ILayer* add(const char* type, const std::vector<ITensor*>& inputs, Fields& fields);
    ILayer* add(const char* type, const std::vector<ITensor*>& inputs);
    // The helpers the converters share (the network API's typed calls, as the Python helpers name them).
    ITensor* elementwise(ITensor* a, ITensor* b, ElementWiseOperation op);
    ITensor* unary(ITensor* x, UnaryOperation op);
    ITensor* identity(ITensor* x);
    ITensor* cast(ITensor* x, DataType t);
    ITensor* shuffle(ITensor* x, const std::vector<int64_t>* firstTranspose, const std::vector<int64_t>* reshape,
                     const std::vector<int64_t>* secondTranspose = nullptr);
    ITensor* reshape(ITensor* x, const std::vector<int64_t>& dims) { return shuffle(x, nullptr, &dims); }
    ITensor* slice(ITensor* x, const std::vector<int64_t>& start, const std::vector<int64_t>& size,
                   const std::vector<int64_t>& stride);
    ITensor* reduce(ITensor* x, ReduceOperation op, const std::vector<int64_t>& axes, bool keep);
    ITensor* scalarLike(ITensor* x, double v, int32_t dtype = kFLOAT);
};

//! The shape of `t`; Unsupported (dynamicDimNeeded) if a dimension is dynamic (-1): for converters that compute
//! with the dimensions' values.
std::vector<int64_t> dimsOf(const ITensor* t);
//! The shape of `t` with -1 for dynamic dimensions: for converters that only need the rank or fixed dimensions.
std::vector<int64_t> dynamicDimsOf(const ITensor* t);
//! Whether `t` has a dynamic (-1) dimension.
bool hasDynamicDim(const ITensor* t);
//! The Unsupported message for a node that needs the value of dynamic dimension `k` of `t`.
std::string dynamicDimNeeded(const ITensor* t, const std::vector<int64_t>& dims, size_t k);
//! The gie type of an ONNX element type; throws Unsupported naming it ("data type int64 ...").
DataType gieType(int32_t onnxType);
int32_t onnxTypeOf(DataType t);

}  // namespace onnx
}  // namespace gie
