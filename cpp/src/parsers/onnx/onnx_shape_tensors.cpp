// Run-time shape tensors in the ONNX importer (issue 15, docs/dynamic_shapes.md "Shape tensors"): Shape (or Size) of a
// tensor whose dimensions the importer cannot fold (dynamic dimensions beyond a lone batch) becomes a ShapeOp layer, the
// shape arithmetic after it becomes ShapeOp layers (host ops, layers/shape_op.h), and Reshape, Resize (sizes), Slice
// (starts / ends), Expand, ConstantOfShape and Range consume the result.
// Values that fold (every dimension known) still fold in onnx_fold.cpp; only what depends on dynamic dimensions remains.
#include <algorithm>
#include <optional>

#include "layers/shape_op.h"
#include "parsers/onnx/onnx_importer.h"

namespace gie {
namespace onnx {
namespace {

bool isShapeTensorName(Importer& p, const std::string& name) {
    if (name.empty() || p.isConst(name)) return false;
    auto it = p.tensors.find(name);
    return it != p.tensors.end() && it->second->isShapeTensor();
}

ITensor* shapeOp(Importer& p, ShapeOpCode op, const std::vector<ITensor*>& in, Fields& f, bool scalar) {
    f.i("op", int64_t(op)).i("scalar", scalar ? 1 : 0);
    return p.add(ShapeOp::kType, in, f)->getOutput(0);
}

ITensor* shapeOp(Importer& p, ShapeOpCode op, const std::vector<ITensor*>& in, bool scalar) {
    Fields f;
    return shapeOp(p, op, in, f, scalar);
}

ITensor* constShape(Importer& p, const std::vector<int64_t>& v, bool scalar = false) {
    Fields f;
    f.ints("values", v);
    return shapeOp(p, ShapeOpCode::kCONST, {}, f, scalar);
}

//! Input k of n as a shape tensor: a shape tensor, or a known integer value of rank 0 or 1 (a ShapeOp CONST). With
//! `clampBounds`, known values are clamped to the shape tensor range (Slice bounds such as INT64_MAX: "to the end").
ITensor* shapeIn(Importer& p, const NodeProto& n, size_t k, bool clampBounds = false) {
    if (k >= n.input.size() || n.input[k].empty()) fail(ErrorCode::kINVALID_MODEL, n.opType, " needs input ", k);
    const std::string& name = n.input[k];
    if (isShapeTensorName(p, name)) return p.tensors.at(name);
    if (!p.isConst(name))
        throw Unsupported(strcat("input ", k, " '", name, "' is a run-time tensor and input 0 is a shape tensor; shape arithmetic takes shape "
                                 "tensors and known values only"));
    const Value& v = p.constant(name);
    if (v.isFloat()) throw Unsupported(strcat("shape arithmetic on the float value '", name, "' (shape tensors hold integers)"));
    if (v.shape.size() > 1 || v.size() > Dims::MAX_DIMS)
        throw Unsupported(strcat("value '", name, "' of shape ", shapeStr(v.shape), " in shape arithmetic (shape tensors are 0-D or 1-D, "
                                 "at most 8 values)"));
    std::vector<int64_t> vals = v.i;
    if (clampBounds)
        for (auto& x : vals) x = std::clamp(x, -ShapeOp::kMaxValue, ShapeOp::kMaxValue);
    return constShape(p, vals, v.shape.empty());
}

bool isScalar(const ITensor* t) { return t->getDimensions().nbDims == 0; }

//! The number of values of input `name` (a shape tensor or a known 1-D value).
int64_t dynamicDimsOfShape(Importer& p, const std::string& name) {
    if (p.isConst(name)) return p.constant(name).size();
    const Dims d = p.tensors.at(name)->getDimensions();
    return d.nbDims == 0 ? 1 : d.d[0];
}

ITensor* binary(Importer& p, ITensor* a, ITensor* b, ElementWiseOperation op) {
    Fields f;
    f.i("binary", int64_t(op));
    return shapeOp(p, ShapeOpCode::kBINARY, {a, b}, f, isScalar(a) && isScalar(b));
}

//! An op of the shape subgraph whose input 0 (or another input) is a shape tensor.
std::vector<ITensor*> shapeArithmetic(Importer& p, const NodeProto& n, const Attrs& a) {
    using E = ElementWiseOperation;
    const std::string& op = n.opType;
    static const std::map<std::string, E> binaries{{"Add", E::kSUM},   {"Sub", E::kSUB},       {"Mul", E::kPROD},
                                                   {"Max", E::kMAX},   {"Min", E::kMIN},       {"Equal", E::kEQUAL},
                                                   {"Greater", E::kGREATER}, {"Less", E::kLESS}, {"Mod", E::kMOD}};
    auto bit = binaries.find(op);
    if (bit != binaries.end() || op == "Div") {
        if (op == "Mod" && a.i("fmod", 0)) throw Unsupported("Mod with fmod=1 on shape tensors");
        if ((op == "Max" || op == "Min") && n.input.size() != 2) throw Unsupported(strcat(op, " of ", n.input.size(), " shape tensors"));
        // Integer Div truncates toward zero (onnxruntime); shape values are non-negative where it matters.
        return {binary(p, shapeIn(p, n, 0), shapeIn(p, n, 1), bit != binaries.end() ? bit->second : E::kDIV)};
    }
    if (op == "Identity") return {p.tensors.at(n.input[0])};
    if (op == "Cast") {
        const int64_t to = a.i("to", 0);
        if (to == kBOOL) {
            Fields f;
            f.i("to", int64_t(DataType::kBOOL));
            ITensor* x = shapeIn(p, n, 0);
            return {shapeOp(p, ShapeOpCode::kCAST, {x}, f, isScalar(x))};
        }
        if (to == kINT64 || to == kINT32) return {p.tensors.at(n.input[0])};
        throw Unsupported(strcat("Cast of a shape tensor to ", tensorTypeName(int32_t(to)), " (shape tensors hold integers; float shape "
                                 "arithmetic is not supported)"));
    }
    if (op == "Gather") {
        if (a.i("axis", 0) != 0) fail(ErrorCode::kINVALID_MODEL, "Gather on a 1-D shape tensor needs axis 0");
        ITensor* data = shapeIn(p, n, 0);
        ITensor* idx = shapeIn(p, n, 1);
        return {shapeOp(p, ShapeOpCode::kGATHER, {data, idx}, isScalar(idx))};
    }
    if (op == "Concat") {
        std::vector<ITensor*> ins;
        for (size_t k = 0; k < n.input.size(); ++k)
            if (!n.input[k].empty()) ins.push_back(shapeIn(p, n, k));
        if (ins.size() > 8) throw Unsupported("Concat of more than 8 shape tensors");
        return {shapeOp(p, ShapeOpCode::kCONCAT, ins, false)};
    }
    if (op == "Unsqueeze" || op == "Squeeze" || op == "Reshape" || op == "Flatten") {
        ITensor* x = p.tensors.at(n.input[0]);
        if (op == "Unsqueeze" && !isScalar(x)) throw Unsupported("Unsqueeze of a 1-D shape tensor (shape tensors are 0-D or 1-D)");
        const bool toScalar = op == "Squeeze" && isScalar(x) == false && x->getDimensions().d[0] == 1;
        if (op == "Reshape") {
            const Value* s = n.input.size() > 1 && p.isConst(n.input[1]) ? &p.constant(n.input[1]) : nullptr;
            if (!s || s->size() > 1) throw Unsupported("Reshape of a shape tensor to other than 1-D (shape tensors are 0-D or 1-D)");
        }
        return {shapeOp(p, ShapeOpCode::kRESHAPE, {x}, toScalar)};
    }
    if (op == "Slice") {
        auto get = [&](size_t k, int64_t def) {
            if (k >= n.input.size() || n.input[k].empty()) return def;
            if (!p.isConst(n.input[k])) throw Unsupported("Slice of a shape tensor with run-time bounds");
            const auto v = p.constant(n.input[k]).ints();
            if (v.size() != 1) throw Unsupported("Slice of a 1-D shape tensor along more than one axis");
            return v[0];
        };
        if (get(3, 0) != 0 && get(3, 0) != -1) fail(ErrorCode::kINVALID_MODEL, "Slice of a 1-D shape tensor: axis ", get(3, 0));
        Fields f;
        const int64_t lim = ShapeOp::kMaxValue;
        f.i("start", std::clamp(get(1, 0), -lim, lim)).i("end", std::clamp(get(2, lim), -lim, lim)).i("step", get(4, 1));
        return {shapeOp(p, ShapeOpCode::kSLICE, {shapeIn(p, n, 0)}, f, false)};
    }
    if (op == "Where") return {shapeOp(p, ShapeOpCode::kSELECT, {shapeIn(p, n, 0), shapeIn(p, n, 1), shapeIn(p, n, 2)}, false)};
    if (op == "ReduceProd" || op == "ReduceSum" || op == "ReduceMax" || op == "ReduceMin") {
        Fields f;
        const ReduceOperation r = op == "ReduceProd" ? ReduceOperation::kPROD : op == "ReduceSum" ? ReduceOperation::kSUM
                                  : op == "ReduceMax" ? ReduceOperation::kMAX : ReduceOperation::kMIN;
        f.i("reduce", int64_t(r));
        return {shapeOp(p, ShapeOpCode::kREDUCE, {shapeIn(p, n, 0)}, f, a.i("keepdims", 1) == 0)};
    }
    if (op == "Shape") {  // the shape of a shape tensor is known
        return {};
    }
    throw Unsupported(strcat(op, " of a run-time shape tensor (shape tensors support Gather, Slice, Concat, Unsqueeze, Squeeze, Cast, "
                             "Add, Sub, Mul, Div, Min, Max, Mod, Equal, Greater, Less, Where, ReduceProd/Sum/Max/Min)"));
}

ITensor* gather(Importer& p, ITensor* data, const std::vector<int64_t>& idx) { return shapeOp(p, ShapeOpCode::kGATHER, {data, constShape(p, idx)}, false); }

ITensor* runtimeSlice(Importer& p, ITensor* x, ITensor* start, ITensor* size, ITensor* stride) {
    return p.add("Slice", {x, start, size, stride})->getOutput(0);
}

}  // namespace

// ONNX's clamping computed by ShapeOps, then a Slice layer with run-time start and size.
std::vector<ITensor*> sliceRuntime(Importer& p, const NodeProto& n) {
    using E = ElementWiseOperation;
    if (n.input.size() < 3 || n.input[1].empty() || n.input[2].empty()) fail(ErrorCode::kINVALID_MODEL, "Slice needs starts and ends");
    ITensor* x = p.tensor(n.input[0]);
    const int64_t r = int64_t(dynamicDimsOf(x).size());
    auto known = [&](size_t k, const char* what) -> std::vector<int64_t> {
        if (k >= n.input.size() || n.input[k].empty()) return {};
        if (!p.isConst(n.input[k])) throw Unsupported(strcat("Slice with run-time ", what));
        return p.constant(n.input[k]).ints();
    };
    const int64_t k = dynamicDimsOfShape(p, n.input[1]);
    std::vector<int64_t> axes = known(3, "axes"), steps = known(4, "steps");
    if (axes.empty())
        for (int64_t i = 0; i < k; ++i) axes.push_back(i);
    if (steps.empty()) steps.assign(size_t(k), 1);
    if (int64_t(axes.size()) != k || int64_t(steps.size()) != k) fail(ErrorCode::kINVALID_MODEL, "Slice: starts, axes and steps differ in length");
    std::vector<int64_t> idxStart(static_cast<size_t>(r), k), idxSize(static_cast<size_t>(r), 0), stride(static_cast<size_t>(r), 1);
    for (int64_t i = 0; i < r; ++i) idxSize[size_t(i)] = k + i;
    for (int64_t j = 0; j < k; ++j) {
        int64_t ax = axes[size_t(j)] < 0 ? axes[size_t(j)] + r : axes[size_t(j)];
        if (ax < 0 || ax >= r) fail(ErrorCode::kINVALID_MODEL, "Slice: axis ", axes[size_t(j)], " out of range for rank ", r);
        if (steps[size_t(j)] <= 0)
            throw Unsupported("Slice with a step <= 0 of a tensor with dynamic dimensions or with run-time bounds");
        idxStart[size_t(ax)] = j;
        idxSize[size_t(ax)] = j;
        stride[size_t(ax)] = steps[size_t(j)];
    }
    ITensor* xs = shapeOp(p, ShapeOpCode::kSHAPE, {x}, false);
    ITensor* ds = gather(p, xs, axes);
    ITensor* zero = constShape(p, {0});
    ITensor* negDs = binary(p, zero, ds, E::kSUB);
    auto bound = [&](ITensor* v) {  // clamped to [-d, d] first (no overflow), then v < 0 ? v + d : v
        Fields sf;
        v = binary(p, binary(p, v, negDs, E::kMAX), ds, E::kMIN);
        ITensor* neg = binary(p, v, zero, E::kLESS);
        return shapeOp(p, ShapeOpCode::kSELECT, {neg, binary(p, v, ds, E::kSUM), v}, sf, false);
    };
    ITensor* s = bound(shapeIn(p, n, 1, true));
    ITensor* e = bound(shapeIn(p, n, 2, true));
    std::vector<int64_t> stepM1;
    for (int64_t st : steps) stepM1.push_back(st - 1);
    ITensor* count = binary(p, binary(p, binary(p, e, s, E::kSUB), constShape(p, stepM1), E::kSUM), constShape(p, steps), E::kFLOOR_DIV);
    count = binary(p, count, zero, E::kMAX);
    ITensor* startFull = shapeOp(p, ShapeOpCode::kGATHER, {shapeOp(p, ShapeOpCode::kCONCAT, {s, zero}, false), constShape(p, idxStart)}, false);
    ITensor* sizeFull = shapeOp(p, ShapeOpCode::kGATHER, {shapeOp(p, ShapeOpCode::kCONCAT, {count, xs}, false), constShape(p, idxSize)}, false);
    return {runtimeSlice(p, x, startFull, sizeFull, constShape(p, stride))};
}

// x reshaped to the output rank, then a Slice whose stride is 0 where x has size 1 (every output element there reads
// the one input element), as TensorRT expresses broadcasting.
std::vector<ITensor*> expandRuntime(Importer& p, const NodeProto& n) {
    using E = ElementWiseOperation;
    ITensor* x = p.tensor(n.input[0]);
    ITensor* target = shapeIn(p, n, 1);
    const Dims td = target->getDimensions();
    if (td.nbDims != 1) throw Unsupported("Expand to a scalar shape tensor");
    const int64_t rx = int64_t(dynamicDimsOf(x).size()), nt = td.d[0], R = std::max(rx, nt);
    ITensor* xs = shapeOp(p, ShapeOpCode::kSHAPE, {x}, false);
    if (R > rx) {
        xs = shapeOp(p, ShapeOpCode::kCONCAT, {constShape(p, std::vector<int64_t>(size_t(R - rx), 1)), xs}, false);
        x = p.add("Shuffle", {x, xs})->getOutput(0);
    }
    if (R > nt) target = shapeOp(p, ShapeOpCode::kCONCAT, {constShape(p, std::vector<int64_t>(size_t(R - nt), 1)), target}, false);
    ITensor* out = binary(p, xs, target, E::kMAX);  // numpy broadcasting where the shapes agree (ONNX requires it)
    ITensor* one = binary(p, xs, constShape(p, {1}), E::kEQUAL);
    ITensor* stride = shapeOp(p, ShapeOpCode::kSELECT, {one, constShape(p, {0}), constShape(p, {1})}, false);
    return {runtimeSlice(p, x, constShape(p, std::vector<int64_t>(size_t(R), 0)), out, stride)};
}

namespace {

//! ConstantOfShape(shape): a (1, ..., 1) constant broadcast by a stride-0 Slice to the run-time shape.
std::vector<ITensor*> constantOfShapeRuntime(Importer& p, const NodeProto& n, const Attrs& a) {
    ITensor* shape = shapeIn(p, n, 0);
    const Dims sd = shape->getDimensions();
    if (sd.nbDims != 1 || sd.d[0] < 1) throw Unsupported("ConstantOfShape of a run-time shape with no dimensions");
    const size_t r = size_t(sd.d[0]);
    Value v = Value::ofFloats(kFLOAT, std::vector<int64_t>(r, 1), {0.f});
    if (const AttributeProto* va = n.attr("value")) {
        if (!va->t) fail(ErrorCode::kINVALID_MODEL, "ConstantOfShape value is not a tensor");
        Value given = decodeTensor(*va->t, nullptr, "ConstantOfShape value");
        if (given.size() != 1) fail(ErrorCode::kINVALID_MODEL, "ConstantOfShape value must hold one element");
        given.shape = std::vector<int64_t>(r, 1);
        v = given;
    }
    (void)a;
    ITensor* c = p.constantTensor(v);
    const std::vector<int64_t> zeros(r, 0);
    return {runtimeSlice(p, c, constShape(p, zeros), shape, constShape(p, zeros))};
}

//! Unsqueeze / Squeeze of a tensor with dynamic dimensions (dimension 0 included): a Shuffle to the run-time shape
//! Gather(Concat(Shape(x), (1,)), index), each output dimension an input dimension or the appended 1.
ITensor* squeezeRuntime(Importer& p, const NodeProto& n, const Attrs& a, ITensor* x, const std::vector<int64_t>& xs) {
    const int64_t r = int64_t(xs.size());
    std::vector<int64_t> axes = p.opset >= 13 && n.input.size() > 1 && !n.input[1].empty()
                                    ? (p.isConst(n.input[1]) ? p.constant(n.input[1]).ints() : throw Unsupported(strcat(n.opType, " with run-time axes")))
                                    : a.ints("axes", {});
    std::vector<int64_t> idx;
    if (n.opType == "Unsqueeze") {
        const int64_t outR = r + int64_t(axes.size());
        std::vector<bool> added(size_t(outR), false);
        for (int64_t ax : axes) {
            const int64_t k = ax < 0 ? ax + outR : ax;
            if (k < 0 || k >= outR || added[size_t(k)]) fail(ErrorCode::kINVALID_MODEL, "Unsqueeze: bad axis ", ax);
            added[size_t(k)] = true;
        }
        int64_t next = 0;
        for (int64_t k = 0; k < outR; ++k) idx.push_back(added[size_t(k)] ? r : next++);
    } else {
        std::vector<bool> drop(size_t(r), false);
        if (axes.empty()) throw Unsupported("Squeeze without axes of a tensor with dynamic dimensions");
        for (int64_t ax : axes) {
            const int64_t k = ax < 0 ? ax + r : ax;
            if (k < 0 || k >= r) fail(ErrorCode::kINVALID_MODEL, "Squeeze: bad axis ", ax);
            if (xs[size_t(k)] > 1) fail(ErrorCode::kINVALID_MODEL, "Squeeze: dimension ", k, " of ", shapeStr(xs), " is not 1");
            // A dynamic dimension holds 1 at most at one point of its range (a batch squeezed away: batch 1 only).
            if (xs[size_t(k)] < 0)
                throw Unsupported(strcat("Squeeze of dimension ", k, " of ", shapeStr(xs), ", which is dynamic (only a size ",
                                         "of 1 can be squeezed): pin the input's dimensions with input_shapes="));
            drop[size_t(k)] = true;
        }
        for (int64_t k = 0; k < r; ++k)
            if (!drop[size_t(k)]) idx.push_back(k);
    }
    if (idx.size() > size_t(Dims::MAX_DIMS)) throw Unsupported("more than 8 dimensions");
    ITensor* shape = shapeOp(p, ShapeOpCode::kCONCAT, {shapeOp(p, ShapeOpCode::kSHAPE, {x}, false), constShape(p, {1})}, false);
    Fields f;
    f.i("zero_is_placeholder", 0);
    return p.add("Shuffle", {x, gather(p, shape, idx)}, f)->getOutput(0);
}

//! Shape(x)[i] or Shape(x)[a:b] of dimensions that are known (dimension 2 of x (-1, 5, 16)) is a value, not a run-time
//! shape: it folds, so that arithmetic after it (float included, as in a scale 1 / sqrt(head size)) folds too.
bool foldKnownDims(Importer& p, const NodeProto& n, const Attrs& a) {
    if ((n.opType != "Gather" && n.opType != "Slice") || n.input.size() < 2 || n.input[1].empty() || n.output.empty() ||
        !p.runtimeShapes.count(n.input[0]))
        return false;
    for (size_t k = 1; k < n.input.size(); ++k)
        if (!n.input[k].empty() && (!p.isConst(n.input[k]) || p.constant(n.input[k]).isFloat())) return false;
    const auto& dims = p.runtimeShapes.at(n.input[0]);
    const int64_t d = int64_t(dims.size());
    std::vector<int64_t> picked, outShape;
    if (n.opType == "Gather") {
        if (a.i("axis", 0) != 0) return false;
        const Value& idx = p.constant(n.input[1]);
        for (int64_t i : idx.ints()) picked.push_back(i < 0 ? i + d : i);
        outShape = idx.shape;
    } else {
        auto one = [&](size_t k, int64_t def) -> std::optional<int64_t> {
            if (k >= n.input.size() || n.input[k].empty()) return def;
            const auto v = p.constant(n.input[k]).ints();
            if (v.size() != 1) return std::nullopt;
            return v[0];
        };
        const auto st = one(1, 0), en = one(2, d), ax = one(3, 0), sp = one(4, 1);
        if (!st || !en || !ax || !sp || (*ax != 0 && *ax != -1) || *sp <= 0) return false;
        auto clampIdx = [&](int64_t v) { return std::clamp(v < 0 ? v + d : v, int64_t(0), d); };
        for (int64_t k = clampIdx(*st); k < clampIdx(*en); k += *sp) picked.push_back(k);
        outShape = {int64_t(picked.size())};
    }
    std::vector<int64_t> vals;
    for (int64_t k : picked) {
        if (k < 0 || k >= d || dims[size_t(k)] < 0) return false;
        vals.push_back(dims[size_t(k)]);
    }
    p.consts[n.output[0]] = Value::ofInts(kINT64, outShape, vals);
    return true;
}

}  // namespace

ITensor* sliceAxis(Importer& p, ITensor* x, int64_t axis, int64_t start, int64_t size, int64_t stride) {
    const int64_t r = int64_t(dynamicDimsOf(x).size());
    std::vector<int64_t> idx, starts(size_t(r), 0), strides(size_t(r), 1);
    for (int64_t k = 0; k < r; ++k) idx.push_back(k == axis ? r : k);  // Shape(x) with dimension `axis` replaced by `size`
    starts[size_t(axis)] = start;
    strides[size_t(axis)] = stride;
    ITensor* xs = shapeOp(p, ShapeOpCode::kSHAPE, {x}, false);
    ITensor* sizes = gather(p, shapeOp(p, ShapeOpCode::kCONCAT, {xs, constShape(p, {size})}, false), idx);
    return runtimeSlice(p, x, constShape(p, starts), sizes, constShape(p, strides));
}

ITensor* reshapeRuntime(Importer& p, ITensor* x, const std::vector<int64_t>& target) {
    return p.add("Shuffle", {x, constShape(p, target)})->getOutput(0);
}

bool convertShapeNode(Importer& p, const NodeProto& n, const Attrs& a, std::vector<ITensor*>& outs) {
    const std::string& op = n.opType;
    if (op == "Shape" || op == "Size") {
        if (n.input.empty() || n.input[0].empty() || p.isConst(n.input[0])) return false;
        ITensor* x = p.tensor(n.input[0]);
        if (x->isShapeTensor()) return false;  // folded (its shape is known)
        const auto s = dynamicDimsOf(x);
        const int64_t r = int64_t(s.size());
        int64_t start = op == "Shape" ? a.i("start", 0) : 0, end = op == "Shape" && a.has("end") ? a.i("end", r) : r;
        if (start < 0) start = std::max<int64_t>(0, start + r);
        if (end < 0) end = std::max<int64_t>(0, end + r);
        start = std::min(start, r);
        end = std::min(end, r);
        bool dynamic = false;
        for (int64_t k = start; k < end; ++k) dynamic = dynamic || s[size_t(k)] < 0;
        if (!dynamic) return false;  // folds (onnx_fold.cpp)
        ITensor* t = shapeOp(p, ShapeOpCode::kSHAPE, {x}, false);
        if (op == "Size") {
            Fields f;
            f.i("reduce", int64_t(ReduceOperation::kPROD));
            outs = {shapeOp(p, ShapeOpCode::kREDUCE, {t}, f, true)};
            return true;
        }
        if (op == "Shape" && !n.output.empty()) p.runtimeShapes[n.output[0]] = {s.begin() + start, s.begin() + end};
        if (start != 0 || end != r) {
            Fields f;
            f.i("start", start).i("end", end).i("step", 1);
            t = shapeOp(p, ShapeOpCode::kSLICE, {t}, f, false);
        }
        outs = {t};
        return true;
    }
    if ((op == "Unsqueeze" || op == "Squeeze") && !n.input.empty() && !p.isConst(n.input[0]) && !isShapeTensorName(p, n.input[0])) {
        ITensor* x = p.tensor(n.input[0]);
        const auto xs = dynamicDimsOf(x);
        if (std::any_of(xs.begin(), xs.end(), [](int64_t d) { return d < 0; })) {
            outs = {squeezeRuntime(p, n, a, x, xs)};
            return true;
        }
    }
    if (foldKnownDims(p, n, a)) return true;
    bool any = false;
    for (const auto& i : n.input) any = any || isShapeTensorName(p, i);
    if (!any) return false;
    if (op == "Reshape" && !isShapeTensorName(p, n.input[0])) {
        if (a.i("allowzero", 0)) throw Unsupported("Reshape with allowzero=1 to a run-time shape");
        ITensor* x = p.tensor(n.input[0]);
        outs = {p.add("Shuffle", {x, p.tensors.at(n.input[1])})->getOutput(0)};
        return true;
    }
    if (op == "Resize" && !isShapeTensorName(p, n.input[0])) return false;  // the Resize converter takes run-time sizes
    if (op == "Slice" && !isShapeTensorName(p, n.input[0])) {
        outs = sliceRuntime(p, n);
        return true;
    }
    if (op == "Expand" && !isShapeTensorName(p, n.input[0])) {
        outs = expandRuntime(p, n);
        return true;
    }
    if (op == "Range") {  // a run-time count: the Range layer (layers/range.h), int32
        outs = {p.add("Range", {shapeIn(p, n, 0), shapeIn(p, n, 1), shapeIn(p, n, 2)})->getOutput(0)};
        return true;
    }
    if (op == "ConstantOfShape") {
        outs = constantOfShapeRuntime(p, n, a);
        return true;
    }
    if (op == "Shape" || op == "Size") return false;
    if (isShapeTensorName(p, n.input[0]) || op == "Concat" || op == "Where" || op == "Add" || op == "Sub" || op == "Mul" || op == "Div" ||
        op == "Max" || op == "Min" || op == "Equal" || op == "Greater" || op == "Less" || op == "Mod") {
        outs = shapeArithmetic(p, n, a);
        return true;
    }
    throw Unsupported(strcat(op, " with a run-time shape tensor input (shape tensors are read by Reshape, Resize sizes, Slice bounds, "
                             "Expand, ConstantOfShape, Range and shape arithmetic)"));
}

}  // namespace onnx
}  // namespace gie
