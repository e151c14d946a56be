// Run-time shape tensors in the ONNX importer (issue 15, docs/dynamic_shapes.md "Shape tensors"): Shape (or Size) of a
// tensor whose dimensions the importer cannot fold (dynamic dimensions beyond a lone batch) becomes a ShapeOp layer, the
// shape arithmetic after it becomes ShapeOp layers (host ops, layers/shape_op.h), and Reshape / Resize consume the result.
// Values that fold (every dimension known) still fold in onnx_fold.cpp; only what depends on dynamic dimensions remains.
#include <algorithm>

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

//! Input k of n as a shape tensor: a shape tensor, or a known integer value of rank 0 or 1 (a ShapeOp CONST).
ITensor* shapeIn(Importer& p, const NodeProto& n, size_t k) {
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
    Fields f;
    f.ints("values", v.i);
    return shapeOp(p, ShapeOpCode::kCONST, {}, f, v.shape.empty());
}

bool isScalar(const ITensor* t) { return t->getDimensions().nbDims == 0; }

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

}  // namespace

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
        if (start != 0 || end != r) {
            Fields f;
            f.i("start", start).i("end", end).i("step", 1);
            t = shapeOp(p, ShapeOpCode::kSLICE, {t}, f, false);
        }
        outs = {t};
        return true;
    }
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
    if (op == "Shape" || op == "Size") return false;
    if (isShapeTensorName(p, n.input[0]) || op == "Concat" || op == "Where" || op == "Add" || op == "Sub" || op == "Mul" || op == "Div" ||
        op == "Max" || op == "Min" || op == "Equal" || op == "Greater" || op == "Less" || op == "Mod") {
        outs = shapeArithmetic(p, n, a);
        return true;
    }
    throw Unsupported(strcat(op, " with a run-time shape tensor input (shape tensors are read by Reshape and Resize sizes, and by shape "
                             "arithmetic)"));
}

}  // namespace onnx
}  // namespace gie
