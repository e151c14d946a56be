// Op converters of the ONNX importer. Each takes (importer, node, attributes) and returns the output
// tensors; it throws Unsupported for a case gie cannot express (collected with every other such node) and
// gie::Error(kINVALID_MODEL) for what the ONNX spec forbids.
#include <algorithm>
#include <cmath>
#include <limits>

#include "parsers/onnx/onnx_importer.h"

namespace gie {
namespace onnx {
namespace {

using E = ElementWiseOperation;
using U = UnaryOperation;
using R = ReduceOperation;
using A = ActivationType;
using Outs = std::vector<ITensor*>;

int64_t normAxis(int64_t ax, int64_t rank) { return ax < 0 ? ax + rank : ax; }
int64_t rankOf(ITensor* t) { return int64_t(dynamicDimsOf(t).size()); }
//! Throws Unsupported when spatial dimension 2 or 3 of `x` (shape `xs`) is dynamic: for padding that depends on it.
void needStaticHW(ITensor* x, const std::vector<int64_t>& xs, const char* why) {
    for (size_t k = 2; k < xs.size(); ++k)
        if (xs[k] < 0) throw Unsupported(strcat(why, ": ", dynamicDimNeeded(x, xs, k)));
}

bool optIn(const NodeProto& n, size_t k) { return k < n.input.size() && !n.input[k].empty(); }

//! A known input (nullptr when absent); Unsupported when present but computed at run time.
const Value* constIn(Importer& p, const NodeProto& n, size_t k, const char* what) {
    if (!optIn(n, k)) return nullptr;
    if (!p.isConst(n.input[k])) throw Unsupported(strcat(what, " (input ", k, ") must be known at import time"));
    return &p.constant(n.input[k]);
}

//! gie tensors of names with one type: known values take the type of the first real tensor.
std::vector<ITensor*> sameType(Importer& p, const std::vector<std::string>& names) {
    const DataType* dt = nullptr;
    DataType t;
    for (const auto& nm : names) {
        auto it = p.tensors.find(nm);
        if (it != p.tensors.end()) {
            t = it->second->getType();
            dt = &t;
            break;
        }
    }
    std::vector<ITensor*> r;
    for (const auto& nm : names) r.push_back(p.tensor(nm, dt));
    return r;
}

std::vector<std::string> presentInputs(const NodeProto& n) {
    std::vector<std::string> r;
    for (const auto& i : n.input)
        if (!i.empty()) r.push_back(i);
    return r;
}

std::string typeList(const std::vector<DataType>& ts) {
    std::string s;
    for (size_t k = 0; k < ts.size(); ++k) s += (k ? ", " : "") + std::string(dataTypeName(ts[k]));
    return s;
}

bool oneOf(DataType t, const std::vector<DataType>& ts) { return std::find(ts.begin(), ts.end(), t) != ts.end(); }

const std::vector<DataType> kARITH{DataType::kFLOAT, DataType::kINT32};
const std::vector<DataType> kCMP{DataType::kFLOAT, DataType::kINT32, DataType::kBOOL};
const std::vector<DataType> kLOGIC{DataType::kBOOL};

ITensor* addSlice(Importer& p, ITensor* x, std::vector<int64_t> start, std::vector<int64_t> size,
                  std::vector<int64_t> stride) {
    const auto xs = dimsOf(x);
    // rank-0 tensors (folded scalars made Constant layers) have no dimension 0 to keep
    if (start.empty() || xs.empty()) fail(ErrorCode::kINVALID_MODEL, "IndexError: slicing a tensor of rank 0");
    if (start[0] == 0 && size[0] == xs[0] && stride[0] == 1) {
        if (start.size() == 1) return p.identity(x);
        return p.slice(x, {start.begin() + 1, start.end()}, {size.begin() + 1, size.end()}, {stride.begin() + 1, stride.end()});
    }
    return p.slice(x, start, size, stride);
}

ITensor* activation(Importer& p, ITensor* x, A type, const float* alpha, const float* beta) {
    Fields f;
    f.i("activation_type", int64_t(type));
    if (alpha) f.f("alpha", *alpha);
    if (beta) f.f("beta", *beta);
    return p.add("Activation", {x}, f)->getOutput(0);
}

//! A run-time tensor of shape (batch,) + v.shape[1:] holding v (shape (1, ...)) for every sample: what a
//! constant expanded to the symbolic batch becomes. The batch comes from the first dynamic input: its
//! (batch,) slice compared with itself (x > x is false even for NaN) gives int32 zeros that Gather v[0].
ITensor* batchBroadcast(Importer& p, const Value& v) {
    ITensor* src = p.batchSource;
    if (!src) throw Unsupported("a constant expanded to the batch size needs an input with a symbolic batch");
    const auto ss = dimsOf(src);
    const size_t r = ss.size();
    std::vector<int64_t> size(r, 1);
    size[0] = ss[0];
    ITensor* col = addSlice(p, src, std::vector<int64_t>(r, 0), size, std::vector<int64_t>(r, 1));
    if (r > 1) col = p.reshape(col, {0});
    ITensor* zeros = p.cast(p.elementwise(col, col, E::kGREATER), DataType::kINT32);
    Fields f;
    f.i("axis", 0);
    return p.add("Gather", {p.constantTensor(v), zeros}, f)->getOutput(0);
}

//! A constant shape input and whether it holds batch multiples (a symbolic value from Shape).
std::vector<int64_t> batchTarget(Importer& p, const NodeProto& n, size_t k, const char* what, bool* symbolic) {
    const Value* v = constIn(p, n, k, what);
    if (!v) throw Unsupported(strcat(what, " (input ", k, ") must be known at import time"));
    std::vector<int64_t> shape = v->ints();
    *symbolic = false;
    if (p.dynamicBatch && p.symbolic.count(n.input[k]))
        for (int64_t s : shape) *symbolic = *symbolic || s >= kBATCH;
    return shape;
}

// numpy broadcasting of two shapes (ValueError text as numpy words it).
std::vector<int64_t> broadcast(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
    const size_t r = std::max(a.size(), b.size());
    std::vector<int64_t> out(r);
    for (size_t k = 0; k < r; ++k) {
        const int64_t x = k < r - a.size() ? 1 : a[k - (r - a.size())];
        const int64_t y = k < r - b.size() ? 1 : b[k - (r - b.size())];
        if (x != y && x != 1 && y != 1)
            fail(ErrorCode::kINVALID_MODEL, "ValueError: shape mismatch: objects cannot be broadcast to a single shape");
        out[k] = x == 1 ? y : x;
    }
    return out;
}

// ---- elementwise / activations -------------------------------------------------------------------

E binOp(const std::string& op) {
    static const std::map<std::string, E> m{{"Add", E::kSUM}, {"Sub", E::kSUB}, {"Mul", E::kPROD}, {"Div", E::kDIV},
                                            {"Pow", E::kPOW}, {"Max", E::kMAX}, {"Min", E::kMIN}, {"Sum", E::kSUM},
                                            {"Equal", E::kEQUAL}, {"Greater", E::kGREATER}, {"Less", E::kLESS},
                                            {"And", E::kAND}, {"Or", E::kOR}, {"Xor", E::kXOR}};
    return m.at(op);
}

Outs binary(Importer& p, const NodeProto& n, const Attrs& a) {
    const E op = binOp(n.opType);
    const auto names = presentInputs(n);
    if (n.opType == "Pow" && names.size() == 2 && p.isConst(names[1]) && p.tensors.count(names[0])) {
        const Value& b = p.constant(names[1]);
        if (b.size() == 1 && b.at(0) == 2.0 && p.tensors[names[0]]->getType() == DataType::kFLOAT) {
            ITensor* x = p.tensor(names[0]);
            return {p.elementwise(x, x, E::kPROD)};
        }
    }
    if ((n.opType == "Add" || n.opType == "Sub" || n.opType == "Mul" || n.opType == "Div") && a.i("broadcast", 1) == 1 &&
        a.has("axis"))
        throw Unsupported("legacy 'axis' broadcasting");
    auto ts = sameType(p, names);
    if (n.opType == "Pow" && ts.at(0)->getType() != ts.at(1)->getType())
        throw Unsupported("Pow with different base and exponent types");
    const auto& allowed = (op == E::kAND || op == E::kOR || op == E::kXOR) ? kLOGIC
                          : (op == E::kEQUAL || op == E::kGREATER || op == E::kLESS) ? kCMP : kARITH;
    for (ITensor* t : ts)
        if (!oneOf(t->getType(), allowed))
            throw Unsupported(strcat(n.opType, " of ", dataTypeName(t->getType()), " tensors (gie takes ", typeList(allowed), ")"));
    ITensor* out = ts.at(0);
    for (size_t k = 1; k < ts.size(); ++k) out = p.elementwise(out, ts[k], op);
    if (ts.size() == 1) out = p.identity(out);
    return {out};
}

Outs mean(Importer& p, const NodeProto& n, const Attrs&) {
    auto ts = sameType(p, presentInputs(n));
    ITensor* out = ts.at(0);
    for (size_t k = 1; k < ts.size(); ++k) out = p.elementwise(out, ts[k], E::kSUM);
    return {p.elementwise(out, p.scalarLike(out, double(ts.size())), E::kDIV)};
}

Outs cmpOrEqual(Importer& p, const NodeProto& n, const Attrs&) {
    auto ts = sameType(p, {n.input.begin(), n.input.end()});
    for (ITensor* t : ts)
        if (!oneOf(t->getType(), kARITH))
            throw Unsupported(strcat(n.opType, " of ", dataTypeName(t->getType()), " tensors (float32 / int32 only)"));
    const E strict = n.opType == "GreaterOrEqual" ? E::kGREATER : E::kLESS;
    ITensor* eq = p.elementwise(ts.at(0), ts.at(1), E::kEQUAL);
    return {p.elementwise(eq, p.elementwise(ts.at(0), ts.at(1), strict), E::kOR)};
}

Outs mod(Importer& p, const NodeProto& n, const Attrs& a) {
    if (a.i("fmod", 0)) throw Unsupported("Mod with fmod=1");
    auto ts = sameType(p, {n.input.begin(), n.input.end()});
    for (ITensor* t : ts)
        if (!oneOf(t->getType(), kARITH))
            throw Unsupported(strcat("Mod of ", dataTypeName(t->getType()), " tensors (float32 / int32 only)"));
    return {p.elementwise(ts.at(0), ts.at(1), E::kMOD)};
}

const std::map<std::string, U>& unaryOps() {
    static const std::map<std::string, U> m{
        {"Exp", U::kEXP}, {"Log", U::kLOG}, {"Sqrt", U::kSQRT}, {"Reciprocal", U::kRECIP}, {"Abs", U::kABS},
        {"Neg", U::kNEG}, {"Sin", U::kSIN}, {"Cos", U::kCOS}, {"Tan", U::kTAN}, {"Sinh", U::kSINH},
        {"Cosh", U::kCOSH}, {"Asin", U::kASIN}, {"Acos", U::kACOS}, {"Atan", U::kATAN}, {"Asinh", U::kASINH},
        {"Acosh", U::kACOSH}, {"Atanh", U::kATANH}, {"Ceil", U::kCEIL}, {"Floor", U::kFLOOR}, {"Erf", U::kERF},
        {"Not", U::kNOT}, {"Sign", U::kSIGN}, {"Round", U::kROUND}};
    return m;
}

Outs unary(Importer& p, const NodeProto& n, const Attrs&) {
    return {p.unary(p.tensor(n.input.at(0)), unaryOps().at(n.opType))};
}

Converter act(A type, const char* alphaName = nullptr, float alphaDef = 0, const char* betaName = nullptr, float betaDef = 0) {
    return [=](Importer& p, const NodeProto& n, const Attrs& a) -> Outs {
        float al = alphaName ? a.f(alphaName, alphaDef) : 0, be = betaName ? a.f(betaName, betaDef) : 0;
        return {activation(p, p.tensor(n.input.at(0)), type, alphaName ? &al : nullptr, betaName ? &be : nullptr)};
    };
}

Outs gelu(Importer& p, const NodeProto& n, const Attrs& a) {
    const A t = a.s("approximate", "none") == "tanh" ? A::kGELU_TANH : A::kGELU;
    return {activation(p, p.tensor(n.input.at(0)), t, nullptr, nullptr)};
}

Outs clip(Importer& p, const NodeProto& n, const Attrs& a) {
    double lo, hi;
    if (p.opset < 11) {
        lo = a.f("min", -INFINITY);
        hi = a.f("max", INFINITY);
    } else {
        const Value* l = constIn(p, n, 1, "Clip min");
        const Value* h = constIn(p, n, 2, "Clip max");
        if ((l && l->size() != 1) || (h && h->size() != 1))
            fail(ErrorCode::kINVALID_MODEL, "TypeError: only length-1 arrays can be converted to Python scalars");
        lo = l ? l->at(0) : -INFINITY;
        hi = h ? h->at(0) : INFINITY;
    }
    ITensor* x = p.tensor(n.input.at(0));
    if (x->getType() == DataType::kINT32) {
        ITensor* out = x;
        if (lo != -INFINITY) out = p.elementwise(out, p.scalarLike(x, lo, kINT32), E::kMAX);
        if (hi != INFINITY) out = p.elementwise(out, p.scalarLike(x, hi, kINT32), E::kMIN);
        return {out};
    }
    if (x->getType() != DataType::kFLOAT)
        throw Unsupported(strcat("Clip of ", dataTypeName(x->getType()), " tensors (float32 / int32 only)"));
    float fl = float(lo), fh = float(hi);
    return {activation(p, x, A::kCLIP, &fl, &fh)};
}

Outs prelu(Importer& p, const NodeProto& n, const Attrs&) {
    ITensor* x = p.tensor(n.input.at(0));
    const auto xs = dimsOf(x);
    if (p.isConst(n.input.at(1)) && x->getType() == DataType::kFLOAT) {
        const Value& s = p.constant(n.input[1]);
        const size_t r = xs.size();
        bool perChannel = r >= 2 && s.shape.size() == r - 1 && s.shape[0] == xs[1];
        for (size_t k = 1; perChannel && k < s.shape.size(); ++k) perChannel = s.shape[k] == 1;
        if (s.size() == 1 || perChannel) {
            Fields f;
            f.floats("slope", s.floats());
            return {p.add("PRelu", {x}, f)->getOutput(0)};
        }
    }
    const DataType dt = x->getType();
    ITensor* slope = p.tensor(n.input[1], &dt);
    ITensor* zero = p.scalarLike(x, 0.0);
    ITensor* pos = p.elementwise(x, zero, E::kMAX);
    ITensor* neg = p.elementwise(x, zero, E::kMIN);
    return {p.elementwise(pos, p.elementwise(neg, slope, E::kPROD), E::kSUM)};
}

// ---- conv / pool ---------------------------------------------------------------------------------

std::vector<int64_t> spatialPads(const Attrs& a, const std::vector<int64_t>& inHW, const std::vector<int64_t>& k,
                                 const std::vector<int64_t>& s, const std::vector<int64_t>& d, size_t nsp) {
    std::vector<int64_t> pads = a.ints("pads", std::vector<int64_t>(2 * nsp, 0));
    const std::string ap = a.s("auto_pad", "NOTSET");
    if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
        pads.assign(2 * nsp, 0);
        for (size_t i = 0; i < nsp; ++i) {
            if (s[i] == 0) fail(ErrorCode::kINVALID_MODEL, "ZeroDivisionError: integer division or modulo by zero");
            const int64_t out = -((-inHW[i]) / s[i] - ((-inHW[i]) % s[i] != 0 && ((-inHW[i]) < 0) != (s[i] < 0) ? 1 : 0));
            const int64_t total = std::max<int64_t>((out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - inHW[i], 0);
            const int64_t small = total / 2;
            if (ap == "SAME_UPPER") { pads[i] = small; pads[i + nsp] = total - small; }
            else { pads[i] = total - small; pads[i + nsp] = small; }
        }
    } else if (ap == "VALID") {
        pads.assign(2 * nsp, 0);
    }
    if (pads.size() < 2 * nsp) fail(ErrorCode::kINVALID_MODEL, "IndexError: pads has ", pads.size(), " values, expected ", 2 * nsp);
    return pads;
}

std::vector<int64_t> need2(const std::vector<int64_t>& v, const char* what) {
    if (v.size() < 2) fail(ErrorCode::kINVALID_MODEL, "IndexError: ", what, " has ", v.size(), " values, expected 2");
    return v;
}

Outs conv(Importer& p, const NodeProto& n, const Attrs& a) {
    ITensor* x = p.tensor(n.input.at(0));
    const auto xs = dynamicDimsOf(x);  // H and W only for auto_pad SAME_*
    if (xs.size() != 4) throw Unsupported(strcat("only 2D convolution (4D input) is supported, got rank ", xs.size()));
    const Value* w = constIn(p, n, 1, "Conv weights");
    if (!w) fail(ErrorCode::kINVALID_MODEL, "Conv needs weights");
    const Value* b = constIn(p, n, 2, "Conv bias");
    if (w->shape.size() != 4) throw Unsupported(strcat("Conv weights of rank ", w->shape.size()));
    const std::vector<int64_t> k(w->shape.begin() + 2, w->shape.end());
    const auto s = need2(a.ints("strides", {1, 1}), "strides");
    const auto d = need2(a.ints("dilations", {1, 1}), "dilations");
    if (a.s("auto_pad", "NOTSET").rfind("SAME", 0) == 0) needStaticHW(x, xs, "auto_pad SAME");
    const auto pads = spatialPads(a, {xs[2], xs[3]}, k, s, d, 2);
    const int64_t g = a.i("group", 1);
    Fields f;
    f.i("num_output_maps", w->shape[0]).ints("kernel_size", k).floats("kernel", w->floats());
    if (b) f.floats("bias", b->floats());
    f.ints("stride", {s[0], s[1]}).ints("pre_padding", {pads[0], pads[1]}).ints("post_padding", {pads[2], pads[3]});
    f.ints("dilation", {d[0], d[1]}).i("num_groups", g);
    return {p.add("Convolution", {x}, f)->getOutput(0)};
}

Outs convTranspose(Importer& p, const NodeProto& n, const Attrs& a) {
    ITensor* x = p.tensor(n.input.at(0));
    const auto xs = dynamicDimsOf(x);  // H and W only for auto_pad SAME_* / output_shape
    if (xs.size() != 4)
        throw Unsupported(strcat("only 2D transposed convolution (4D input) is supported, got rank ", xs.size()));
    const Value* w = constIn(p, n, 1, "ConvTranspose weights");
    if (!w) fail(ErrorCode::kINVALID_MODEL, "ConvTranspose needs weights");
    const Value* b = constIn(p, n, 2, "ConvTranspose bias");
    if (w->shape.size() != 4) throw Unsupported(strcat("ConvTranspose weights of rank ", w->shape.size()));
    const int64_t g = a.i("group", 1);
    const std::vector<int64_t> k(w->shape.begin() + 2, w->shape.end());
    const auto s = need2(a.ints("strides", {1, 1}), "strides");
    const auto d = need2(a.ints("dilations", {1, 1}), "dilations");
    auto op = need2(a.ints("output_padding", {0, 0}), "output_padding");
    auto pads = a.ints("pads", {0, 0, 0, 0});
    if (pads.size() < 4) fail(ErrorCode::kINVALID_MODEL, "IndexError: pads has ", pads.size(), " values, expected 4");
    const std::string ap = a.s("auto_pad", "NOTSET");
    if (a.has("output_shape") || ap == "SAME_UPPER" || ap == "SAME_LOWER") {
        needStaticHW(x, xs, "output_shape or auto_pad SAME");
        std::vector<int64_t> outs;
        if (a.has("output_shape")) {
            auto os = a.ints("output_shape", {});
            if (os.size() < 2) fail(ErrorCode::kINVALID_MODEL, "IndexError: output_shape has fewer than 2 values");
            outs = {os[os.size() - 2], os[os.size() - 1]};
        } else {
            outs = {xs[2] * s[0], xs[3] * s[1]};
        }
        for (size_t i = 0; i < 2; ++i) {
            int64_t total = s[i] * (xs[2 + i] - 1) + op[i] + (k[i] - 1) * d[i] + 1 - outs[i];
            if (total < 0) {
                op[i] -= total;
                total = 0;
            }
            if (ap == "SAME_UPPER") { pads[i] = total / 2; pads[i + 2] = total - total / 2; }
            else { pads[i] = total - total / 2; pads[i + 2] = total / 2; }
        }
    } else if (ap == "VALID") {
        pads = {0, 0, 0, 0};
    }
    Fields f;
    f.i("num_output_maps", w->shape[1] * g).ints("kernel_size", k).floats("kernel", w->floats());
    if (b) f.floats("bias", b->floats());
    f.ints("stride", {s[0], s[1]}).ints("pre_padding", {pads[0], pads[1]}).ints("post_padding", {pads[2], pads[3]});
    f.ints("dilation", {d[0], d[1]}).i("num_groups", g).ints("output_padding", {op[0], op[1]});
    return {p.add("Deconvolution", {x}, f)->getOutput(0)};
}

Outs pool(Importer& p, const NodeProto& n, const Attrs& a) {
    int nout = 0;
    for (const auto& o : n.output) nout += !o.empty();
    if (nout > 1) throw Unsupported("MaxPool with an Indices output");
    ITensor* x = p.tensor(n.input.at(0));
    const auto xs = dynamicDimsOf(x);  // H and W only for auto_pad SAME_* and the window check
    if (xs.size() != 4) throw Unsupported(strcat("only 2D pooling (4D input) is supported, got rank ", xs.size()));
    if (x->getType() != DataType::kFLOAT)
        throw Unsupported(strcat("pooling of ", dataTypeName(x->getType()), " tensors (float32 only)"));
    const auto k = need2(a.req("kernel_shape").ints, "kernel_shape");
    const auto s = need2(a.ints("strides", {1, 1}), "strides");
    const auto d = a.ints("dilations", {1, 1});
    if (d != std::vector<int64_t>{1, 1}) throw Unsupported("pooling with dilations");
    if (a.i("storage_order", 0)) throw Unsupported("storage_order=1");
    if (a.s("auto_pad", "NOTSET").rfind("SAME", 0) == 0) needStaticHW(x, xs, "auto_pad SAME");
    const auto pads = spatialPads(a, {xs[2], xs[3]}, k, s, d, 2);
    // (a dynamic H or W: the Pooling layer's shape rule checks the window against every shape in the profile)
    const int64_t padded[2] = {xs[2] + pads[0] + pads[2], xs[3] + pads[1] + pads[3]};
    if ((xs[2] > 0 && k[0] > padded[0]) || (xs[3] > 0 && k[1] > padded[1]))
        fail(ErrorCode::kINVALID_MODEL, "pooling window (", k[0], ", ", k[1], ") is larger than the padded input (",
             padded[0], ", ", padded[1], ") (input (", xs[2], ", ", xs[3], "), pads ", shapeStr(pads), ")");
    const PoolingType typ = n.opType == "MaxPool" ? PoolingType::kMAX : PoolingType::kAVERAGE;
    // All fields at once: the window may need the padding to fit, so the layer must never exist without it.
    Fields f;
    f.i("pooling_type", int64_t(typ)).ints("window_size", {k[0], k[1]}).ints("stride", {s[0], s[1]});
    f.ints("pre_padding", {pads[0], pads[1]}).ints("post_padding", {pads[2], pads[3]}).i("ceil_mode", a.i("ceil_mode", 0) ? 1 : 0);
    if (typ == PoolingType::kAVERAGE) f.i("exclude_padding", a.i("count_include_pad", 0) ? 0 : 1);
    return {p.add("Pooling", {x}, f)->getOutput(0)};
}

Outs globalPool(Importer& p, const NodeProto& n, const Attrs&) {
    ITensor* x = p.tensor(n.input.at(0));
    std::vector<int64_t> axes;
    for (int64_t k = 2; k < rankOf(x); ++k) axes.push_back(k);
    return {p.reduce(x, n.opType == "GlobalAveragePool" ? R::kAVG : R::kMAX, axes, true)};
}

// ---- normalization -------------------------------------------------------------------------------

Outs batchnorm(Importer& p, const NodeProto& n, const Attrs& a) {
    int nout = 0;
    for (const auto& o : n.output) nout += !o.empty();
    if (nout > 1 || a.i("training_mode", 0)) throw Unsupported("training mode (extra outputs)");
    ITensor* x = p.tensor(n.input.at(0));
    const Value* v[4];
    for (size_t k = 1; k <= 4; ++k) {
        v[k - 1] = constIn(p, n, k, "BatchNormalization parameters");
        if (!v[k - 1]) fail(ErrorCode::kINVALID_MODEL, "BatchNormalization needs 5 inputs");
    }
    const double eps = a.f("epsilon", 1e-5f);
    const int64_t c = v[0]->size();
    for (int j = 1; j < 4; ++j)
        if (v[j]->size() != c && v[j]->size() != 1)
            fail(ErrorCode::kINVALID_MODEL, "ValueError: operands could not be broadcast together");
    std::vector<float> scale(static_cast<size_t>(c), 0.f), shift(static_cast<size_t>(c), 0.f);
    for (int64_t k = 0; k < c; ++k) {
        auto at = [&](int j) { return v[j]->at(v[j]->size() == 1 ? 0 : k); };
        const double sc = at(0) / std::sqrt(at(3) + eps);
        scale[size_t(k)] = float(sc);
        shift[size_t(k)] = float(at(1) - at(2) * sc);
    }
    if (rankOf(x) < 2) throw Unsupported("BatchNormalization of a rank-1 tensor");
    Fields f;
    f.i("mode", int64_t(ScaleMode::kCHANNEL)).floats("shift", shift).floats("scale", scale);
    return {p.add("Scale", {x}, f)->getOutput(0)};
}

ITensor* normalize(Importer& p, ITensor* x, const std::vector<int64_t>& axes, double eps, std::vector<ITensor*>* stats) {
    ITensor* m = p.reduce(x, R::kAVG, axes, true);
    ITensor* dlt = p.elementwise(x, m, E::kSUB);
    ITensor* var = p.reduce(p.elementwise(dlt, dlt, E::kPROD), R::kAVG, axes, true);
    var = p.elementwise(var, p.scalarLike(x, eps), E::kSUM);
    ITensor* sd = p.unary(var, U::kSQRT);
    if (stats) *stats = {m, sd};
    return p.elementwise(dlt, sd, E::kDIV);
}

Outs instancenorm(Importer& p, const NodeProto& n, const Attrs& a) {
    ITensor* x = p.tensor(n.input.at(0));
    std::vector<int64_t> axes;
    for (int64_t k = 2; k < rankOf(x); ++k) axes.push_back(k);
    ITensor* y = normalize(p, x, axes, a.f("epsilon", 1e-5f), nullptr);
    const Value* sc = constIn(p, n, 1, "InstanceNormalization scale");
    const Value* b = constIn(p, n, 2, "InstanceNormalization bias");
    if (!sc || !b) fail(ErrorCode::kINVALID_MODEL, "InstanceNormalization needs scale and bias");
    Fields f;
    f.i("mode", int64_t(ScaleMode::kCHANNEL)).floats("shift", b->floats()).floats("scale", sc->floats());
    return {p.add("Scale", {y}, f)->getOutput(0)};
}

Outs layernorm(Importer& p, const NodeProto& n, const Attrs& a) {
    ITensor* x = p.tensor(n.input.at(0));
    if (x->getType() != DataType::kFLOAT)
        throw Unsupported(strcat("LayerNormalization of ", dataTypeName(x->getType()), " tensors (float32 only)"));
    const int64_t r = rankOf(x);
    const int64_t axis = normAxis(a.i("axis", -1), r);
    if (axis == 0) throw Unsupported("LayerNormalization over the batch dimension (axis 0)");
    std::vector<int64_t> axes;
    for (int64_t k = axis; k < r; ++k) axes.push_back(k);
    std::vector<ITensor*> stats;
    ITensor* y = normalize(p, x, axes, a.f("epsilon", 1e-5f), &stats);
    const DataType dt = x->getType();
    y = p.elementwise(y, p.tensor(n.input.at(1), &dt), E::kPROD);
    if (optIn(n, 2)) y = p.elementwise(y, p.tensor(n.input[2], &dt), E::kSUM);
    return {y, stats[0], p.unary(stats[1], U::kRECIP)};
}

Outs lrn(Importer& p, const NodeProto& n, const Attrs& a) {
    const int64_t size = a.req("size").i;
    if (size % 2 == 0) throw Unsupported("LRN with an even size");
    Fields f;
    f.i("window_size", size).f("alpha", a.f("alpha", 1e-4f)).f("beta", a.f("beta", 0.75f)).f("k", a.f("bias", 1.0f));
    return {p.add("LRN", {p.tensor(n.input.at(0))}, f)->getOutput(0)};
}

Outs softmax(Importer& p, const NodeProto& n, const Attrs& a) {
    ITensor* x = p.tensor(n.input.at(0));
    const auto xs = dynamicDimsOf(x);  // the values only for the opset < 13 flattening below
    const int64_t r = int64_t(xs.size());
    const bool log = n.opType == "LogSoftmax";
    auto add = [&](ITensor* t, int64_t axis) {
        Fields f;
        f.i("axis", axis);
        if (log) f.i("log", 1);
        return p.add("Softmax", {t}, f)->getOutput(0);
    };
    if (p.opset >= 13) return {add(x, normAxis(a.i("axis", -1), r))};
    const int64_t axis = normAxis(a.i("axis", 1), r);
    if (axis < 0 || axis >= r) fail(ErrorCode::kINVALID_MODEL, "axis ", a.i("axis", 1), " is out of range for rank ", r);
    if (axis == r - 1) return {add(x, axis)};
    if (axis == 0) throw Unsupported("opset < 13 Softmax with axis 0 (flattens the batch)");
    dimsOf(x);  // restores dimensions 1.. below: they must be known
    std::vector<int64_t> flat(size_t(axis), 0);
    flat.push_back(-1);
    ITensor* y = add(p.reshape(x, flat), axis);
    std::vector<int64_t> back{0};
    back.insert(back.end(), xs.begin() + 1, xs.end());
    return {p.reshape(y, back)};
}

// ---- matrix ops ----------------------------------------------------------------------------------

Outs gemm(Importer& p, const NodeProto& n, const Attrs& a) {
    const double alpha = a.f("alpha", 1.0f), beta = a.f("beta", 1.0f);
    const int64_t ta = a.i("transA", 0), tb = a.i("transB", 0);
    ITensor* x = p.tensor(n.input.at(0));
    const bool hasC = optIn(n, 2);
    if (!ta && p.isConst(n.input.at(1)) && rankOf(x) == 2 && (!hasC || p.isConst(n.input[2]))) {
        const Value& wv = p.constant(n.input[1]);
        if (wv.shape.size() == 2) {
            // w: (M, K) = (tb ? w : w.T) * alpha
            const int64_t r0 = wv.shape[0], r1 = wv.shape[1];
            const int64_t m = tb ? r0 : r1, kk = tb ? r1 : r0;
            std::vector<float> w(size_t(m * kk));
            for (int64_t i = 0; i < m; ++i)
                for (int64_t j = 0; j < kk; ++j)
                    w[size_t(i * kk + j)] = float(double(float(wv.at(tb ? i * r1 + j : j * r1 + i))) * float(alpha));
            std::vector<float> bias;
            bool biasOk = !hasC;
            if (hasC) {
                const Value& cv = p.constant(n.input[2]);
                if (cv.size() == m || cv.size() == 1) {
                    bias.resize(size_t(m));
                    for (int64_t i = 0; i < m; ++i) bias[size_t(i)] = float(double(float(cv.at(cv.size() == 1 ? 0 : i))) * beta);
                    biasOk = true;
                } else if (cv.shape.size() == 2 && cv.shape[0] == 1) {
                    for (int64_t i = 0; i < cv.size(); ++i) bias.push_back(float(double(float(cv.at(i))) * beta));
                    biasOk = true;
                }
            }
            if (biasOk) {
                Fields f;
                f.i("num_outputs", m).floats("kernel", w);
                if (hasC) f.floats("bias", bias);
                return {p.add("FullyConnected", {x}, f)->getOutput(0)};
            }
        }
    }
    const DataType dt = x->getType();
    Fields f;
    f.i("transpose_a", ta ? 1 : 0).i("transpose_b", tb ? 1 : 0);
    ITensor* y = p.add("MatrixMultiply", {x, p.tensor(n.input[1], &dt)}, f)->getOutput(0);
    if (alpha != 1.0) y = p.elementwise(y, p.constantTensor(Value::ofFloats(kFLOAT, {1, 1}, {float(alpha)})), E::kPROD);
    if (hasC) {
        ITensor* ct = p.tensor(n.input[2], &dt);
        if (beta != 1.0) {
            const size_t rk = std::max<size_t>(dimsOf(ct).size(), 1);
            ct = p.elementwise(ct, p.constantTensor(Value::ofFloats(kFLOAT, std::vector<int64_t>(rk, 1), {float(beta)})), E::kPROD);
        }
        y = p.elementwise(y, ct, E::kSUM);
    }
    return {y};
}

Outs matmul(Importer& p, const NodeProto& n, const Attrs&) {
    ITensor* xa = p.tensor(n.input.at(0));
    const DataType dt = xa->getType();
    // x (..., K) times a constant (K, N) matrix (torch nn.Linear on a sequence, a transformer's MLP) is a
    // FullyConnected over the last axis: fuse_epilogue can then fold the bias Add and the activation after it. Only
    // the last dimension must be known (the others may be dynamic).
    const auto xs = dynamicDimsOf(xa);
    if (dt == DataType::kFLOAT && xs.size() >= 2 && p.isConst(n.input.at(1))) {
        const Value& wv = p.constant(n.input[1]);
        if (wv.isFloat() && wv.shape.size() == 2 && wv.shape[0] == xs.back() && wv.shape[0] > 0 && wv.shape[1] > 0) {
            const int64_t kk = wv.shape[0], m = wv.shape[1];
            std::vector<float> w(size_t(m * kk));  // (N, K): the transpose
            for (int64_t i = 0; i < m; ++i)
                for (int64_t j = 0; j < kk; ++j) w[size_t(i * kk + j)] = float(wv.at(j * m + i));
            Fields f;
            f.i("num_outputs", m).floats("kernel", w).i("axis", int64_t(xs.size()) - 1);
            return {p.add("FullyConnected", {xa}, f)->getOutput(0)};
        }
    }
    Fields f;
    f.i("transpose_a", 0).i("transpose_b", 0);
    return {p.add("MatrixMultiply", {xa, p.tensor(n.input.at(1), &dt)}, f)->getOutput(0)};
}

// ---- shape ops -----------------------------------------------------------------------------------

Outs identity(Importer& p, const NodeProto& n, const Attrs&) { return {p.identity(p.tensor(n.input.at(0)))}; }

Outs dropout(Importer& p, const NodeProto& n, const Attrs&) {
    const Value* tm = constIn(p, n, 2, "Dropout training_mode");
    if (tm && tm->size() && tm->at(0) != 0) {
        const Value* ratio = constIn(p, n, 1, "Dropout ratio");
        if (!ratio || !ratio->size() || ratio->at(0) != 0.0) throw Unsupported("Dropout in training mode (random)");
    }
    ITensor* x = p.tensor(n.input.at(0));
    ITensor* y = p.identity(x);
    if (n.output.size() < 2 || !p.consumed.count(n.output[1])) return {y};
    if (p.opset < 10)  // a float mask: the reference gives ones, onnxruntime zeros
        throw Unsupported("the mask output of Dropout before opset 10 is read (its inference value is ambiguous)");
    if (!oneOf(x->getType(), kCMP)) throw Unsupported(strcat("Dropout mask of a ", dataTypeName(x->getType()), " tensor"));
    // Inference keeps every element: the mask is all true (x > x is false everywhere, NaN included).
    return {y, p.unary(p.elementwise(x, x, E::kGREATER), U::kNOT)};
}

Outs castOp(Importer& p, const NodeProto& n, const Attrs& a) {
    const DataType dt = gieType(int32_t(a.req("to").i));
    ITensor* x = p.tensor(n.input.at(0));
    if (x->getType() == dt) return {p.identity(x)};
    return {p.cast(x, dt)};
}

// Validates a Reshape target against the spec (0 copies a dimension unless allowzero, at most one -1, no
// value below -1, element counts equal) and returns the target as written; `symbolic` says whether it was
// computed from the batch sentinel (counts are compared at the definition batch).
std::vector<int64_t> reshapeTarget(Importer& p, const NodeProto& n, const Attrs& a, const std::vector<int64_t>& in,
                                   bool* symbolic) {
    std::vector<int64_t> shape;
    if (p.opset < 5) {
        shape = a.req("shape").ints;
        *symbolic = false;
    } else {
        shape = batchTarget(p, n, 1, "Reshape shape", symbolic);
    }
    const bool allowzero = a.i("allowzero", 0) != 0;
    const int64_t total = volume(in);
    std::vector<int64_t> dims;
    std::vector<bool> unknown;
    int64_t minus = 0;
    bool zero = false;
    for (size_t i = 0; i < shape.size(); ++i) {
        const int64_t s = shape[i];
        if (s < -1)
            fail(ErrorCode::kINVALID_MODEL, "target shape ", listStr(shape), ": dimension ", i, " is ", s, " (only -1 may be negative)");
        if (s == 0) zero = true;
        if (s == 0 && !allowzero) {
            if (i >= in.size())
                fail(ErrorCode::kINVALID_MODEL, "target shape ", listStr(shape), ": dimension ", i,
                     " is 0 (copy), but the input ", shapeStr(in), " has rank ", in.size());
            dims.push_back(in[i]);
        } else if (s == -1) {
            ++minus;
            dims.push_back(-1);
        } else if (*symbolic && s % kBATCH == 0) {
            dims.push_back(s / kBATCH * p.batch);
        } else {
            dims.push_back(s);
        }
    }
    if (minus > 1) fail(ErrorCode::kINVALID_MODEL, "target shape ", listStr(shape), " has more than one -1");
    if (allowzero && zero && minus)
        fail(ErrorCode::kINVALID_MODEL, "target shape ", listStr(shape), " has both 0 and -1 with allowzero=1");
    int64_t known = 1;
    for (int64_t d : dims)
        if (d != -1) known = volume({known, d});
    std::string why;
    if (!minus && known != total) why = strcat("the target has ", known, " elements");
    else if (minus && (known == 0 || total % known)) why = strcat(total, " is not a multiple of the product ", known,
                                                                  " of the other target dimensions");
    else return shape;
    fail(ErrorCode::kINVALID_MODEL, "cannot reshape the input ", shapeStr(in), " (", total, " elements) to ", listStr(shape), ": ", why);
}

void checkReshape(Importer& p, const NodeProto& n, const Attrs& a) {
    bool sym;
    reshapeTarget(p, n, a, p.shape(n.input.at(0)), &sym);
}

Outs reshapeOp(Importer& p, const NodeProto& n, const Attrs& a) {
    ITensor* x = p.tensor(n.input.at(0));
    const auto xs = dimsOf(x);
    bool symbolic;
    const auto shape = reshapeTarget(p, n, a, xs, &symbolic);
    std::vector<int64_t> out = shape;
    if (symbolic) {
        // A batch multiple becomes the batch copy (0) at position 0, else the inferred dimension; a -1
        // already there does not depend on the batch, so it takes its value at the definition batch.
        const bool copy = !shape.empty() && shape[0] == kBATCH && !xs.empty() && xs[0] == p.batch;
        std::vector<size_t> follow;
        for (size_t i = 0; i < shape.size(); ++i)
            if (shape[i] >= kBATCH && shape[i] % kBATCH == 0 && !(i == 0 && copy)) follow.push_back(i);
        if (copy) out[0] = 0;
        if (follow.size() > 1) throw Unsupported(strcat("Reshape to ", listStr(shape), ": more than one dimension depends on the batch"));
        if (!follow.empty()) {
            auto m1 = std::find(out.begin(), out.end(), -1);
            if (m1 != out.end()) {
                int64_t fixed = 1;
                for (size_t i = 0; i < shape.size(); ++i) {
                    const int64_t s = shape[i];
                    if (s == -1) continue;
                    fixed *= s == 0 ? xs.at(i) : s >= kBATCH ? s / kBATCH * p.batch : s;
                }
                *m1 = fixed ? volume(xs) / fixed : 0;
            }
            out[follow[0]] = -1;
        }
    }
    // Keep the batch dynamic when the leading dimension stays that of the input.
    if (!out.empty() && out[0] > 0 && !xs.empty() && out[0] == xs[0] && p.dynamicBatch) out[0] = 0;
    return {p.reshape(x, out)};
}

Outs flatten(Importer& p, const NodeProto& n, const Attrs& a) {
    ITensor* x = p.tensor(n.input.at(0));
    const int64_t axis = normAxis(a.i("axis", 1), rankOf(x));
    if (axis == 0) return {p.reshape(x, {1, -1})};
    if (axis == 1) return {p.reshape(x, {0, -1})};
    const auto xs = dimsOf(x);
    int64_t inner = 1;
    for (size_t k = size_t(std::max<int64_t>(axis, 0)); k < xs.size(); ++k) inner *= xs[k];
    return {p.reshape(x, {-1, inner})};
}

Outs transpose(Importer& p, const NodeProto& n, const Attrs& a) {
    ITensor* x = p.tensor(n.input.at(0));
    std::vector<int64_t> perm;
    if (a.has("perm")) perm = a.ints("perm", {});
    else for (int64_t k = rankOf(x) - 1; k >= 0; --k) perm.push_back(k);
    return {p.shuffle(x, &perm, nullptr)};
}

std::vector<int64_t> axesArg(Importer& p, const NodeProto& n, const Attrs& a, bool* given, size_t k = 1) {
    *given = true;
    if (a.has("axes")) return a.ints("axes", {});
    const Value* v = constIn(p, n, k, "axes");
    if (!v) {
        *given = false;
        return {};
    }
    return v->ints();
}

Outs squeeze(Importer& p, const NodeProto& n, const Attrs& a) {
    ITensor* x = p.tensor(n.input.at(0));
    const auto shape = dimsOf(x);
    bool given;
    auto axes = axesArg(p, n, a, &given);
    std::set<int64_t> ax;
    if (!given) {
        for (size_t i = 1; i < shape.size(); ++i)
            if (shape[i] == 1) ax.insert(int64_t(i));
    } else {
        for (int64_t v : axes) ax.insert(normAxis(v, int64_t(shape.size())));
    }
    std::vector<int64_t> nw;
    for (size_t i = 0; i < shape.size(); ++i)
        if (!ax.count(int64_t(i))) nw.push_back(shape[i]);
    if (ax.count(0)) {
        // With a fixed batch (every shape known at import, the engine built for that batch) dimension 0 is an axis
        // like the others (a transformer's attention moves the batch away from it and squeezes / unsqueezes there).
        if (p.dynamicBatch) throw Unsupported("Squeeze of dimension 0 (the batch) with a dynamic batch");
        if (shape.empty() || shape[0] != 1) fail(ErrorCode::kINVALID_MODEL, "Squeeze of dimension 0, which is ", shape.empty() ? 0 : shape[0], ", not 1");
        if (nw.empty()) throw Unsupported("Squeeze to a rank-0 tensor");
        return {p.reshape(x, nw)};
    }
    std::vector<int64_t> r{0};
    if (nw.size() > 1) r.insert(r.end(), nw.begin() + 1, nw.end());
    return {p.reshape(x, r)};
}

Outs unsqueeze(Importer& p, const NodeProto& n, const Attrs& a) {
    ITensor* x = p.tensor(n.input.at(0));
    bool given;
    auto axes = axesArg(p, n, a, &given);
    const auto xs = dimsOf(x);
    const int64_t r = int64_t(xs.size() + axes.size());
    std::vector<int64_t> norm;
    for (int64_t v : axes) norm.push_back(normAxis(v, r));
    std::sort(norm.begin(), norm.end());
    const bool atBatch = !norm.empty() && norm[0] == 0;
    if (atBatch && p.dynamicBatch) throw Unsupported("Unsqueeze at dimension 0 (the batch) with a dynamic batch");
    std::vector<int64_t> nw = xs;
    for (int64_t v : norm) {
        if (v < 0 || v > int64_t(nw.size())) fail(ErrorCode::kINVALID_MODEL, "axis ", v, " is out of range");
        nw.insert(nw.begin() + v, 1);
    }
    if (nw.empty()) fail(ErrorCode::kINVALID_MODEL, "IndexError: Unsqueeze of a rank-0 tensor without axes");
    if (atBatch) return {p.reshape(x, nw)};  // a fixed batch: every dimension given (see squeeze)
    std::vector<int64_t> res{0};
    res.insert(res.end(), nw.begin() + 1, nw.end());
    return {p.reshape(x, res)};
}

void sliceParams(const std::vector<int64_t>& shape, const std::vector<int64_t>& starts, const std::vector<int64_t>& ends,
                 const std::vector<int64_t>& axes, const std::vector<int64_t>& steps, std::vector<int64_t>& start,
                 std::vector<int64_t>& size, std::vector<int64_t>& stride) {
    const int64_t r = int64_t(shape.size());
    start.assign(size_t(r), 0);
    size = shape;
    stride.assign(size_t(r), 1);
    const size_t cnt = std::min({starts.size(), ends.size(), axes.size(), steps.size()});
    for (size_t k = 0; k < cnt; ++k) {
        const int64_t ax = normAxis(axes[k], r);
        if (ax < 0 || ax >= r) fail(ErrorCode::kINVALID_MODEL, "IndexError: slice axis ", axes[k], " out of range");
        const int64_t dim = shape[size_t(ax)];
        const int64_t sp = steps[k];
        if (sp == 0) throw Unsupported("Slice step 0");
        int64_t s = starts[k] < 0 ? starts[k] + dim : starts[k];
        int64_t e = ends[k] < 0 ? ends[k] + dim : ends[k];
        int64_t c;
        if (sp > 0) {
            s = std::min(std::max<int64_t>(s, 0), dim);
            e = std::min(std::max<int64_t>(e, 0), dim);
            c = sliceCount(e - s, sp);
        } else {
            s = std::min(std::max<int64_t>(s, 0), dim - 1);
            e = std::min(std::max<int64_t>(e, -1), dim - 1);
            c = sliceCount(s - e, sp);
        }
        start[size_t(ax)] = s;
        size[size_t(ax)] = c;
        stride[size_t(ax)] = c <= 1 ? 1 : sp;  // one element: the step does not matter (and may be huge)
    }
}

Outs sliceOp(Importer& p, const NodeProto& n, const Attrs& a) {
    ITensor* x = p.tensor(n.input.at(0));
    const auto xs = dimsOf(x);
    const int64_t r = int64_t(xs.size());
    std::vector<int64_t> starts, ends, axes, steps;
    if (p.opset < 10) {
        starts = a.req("starts").ints;
        ends = a.req("ends").ints;
        if (a.has("axes")) axes = a.ints("axes", {});
        else for (size_t k = 0; k < starts.size(); ++k) axes.push_back(int64_t(k));
        steps.assign(starts.size(), 1);
    } else {
        const Value* s = constIn(p, n, 1, "Slice starts");
        const Value* e = constIn(p, n, 2, "Slice ends");
        if (!s || !e) fail(ErrorCode::kINVALID_MODEL, "Slice needs starts and ends");
        starts = s->ints();
        ends = e->ints();
        const Value* ax = constIn(p, n, 3, "Slice axes");
        if (ax) axes = ax->ints();
        else for (size_t k = 0; k < starts.size(); ++k) axes.push_back(int64_t(k));
        const Value* sp = constIn(p, n, 4, "Slice steps");
        if (sp) steps = sp->ints();
        else steps.assign(starts.size(), 1);
    }
    for (auto& e : ends) e = e > 0 ? std::min<int64_t>(e, int64_t(1) << 62) : std::max<int64_t>(e, -(int64_t(1) << 62));
    std::vector<int64_t> start, size, stride;
    sliceParams(xs, starts, ends, axes, steps, start, size, stride);
    bool batchAxis = false;
    for (int64_t ax : axes) batchAxis = batchAxis || normAxis(ax, r) == 0;
    if (batchAxis && p.dynamicBatch && !(start[0] == 0 && size[0] == xs[0] && stride[0] == 1))
        throw Unsupported("Slice of dimension 0 (the batch) with a dynamic batch");
    return {addSlice(p, x, start, size, stride)};
}

Outs split(Importer& p, const NodeProto& n, const Attrs& a) {
    ITensor* x = p.tensor(n.input.at(0));
    const auto xs = dimsOf(x);
    const int64_t r = int64_t(xs.size());
    const int64_t axis = normAxis(a.i("axis", 0), r);
    if (axis == 0 && p.dynamicBatch) throw Unsupported("Split along dimension 0 (the batch) with a dynamic batch");
    if (axis < 0 || axis >= r) fail(ErrorCode::kINVALID_MODEL, "IndexError: axis out of range");
    const int64_t nout = int64_t(n.output.size());
    std::vector<int64_t> sizes;
    if (a.has("split")) {
        sizes = a.ints("split", {});
    } else if (const Value* v = constIn(p, n, 1, "Split sizes")) {
        sizes = v->ints();
    } else {
        const int64_t dim = xs[size_t(axis)];
        const int64_t num = a.i("num_outputs", nout);
        if (num <= 0) fail(ErrorCode::kINVALID_MODEL, "ZeroDivisionError: num_outputs is ", num);
        const int64_t chunk = (dim + num - 1) / num;
        sizes.assign(size_t(num - 1), chunk);
        sizes.push_back(dim - chunk * (num - 1));
    }
    Outs outs;
    int64_t off = 0;
    for (int64_t sz : sizes) {
        std::vector<int64_t> start(size_t(r), 0), size = xs;
        start[size_t(axis)] = off;
        size[size_t(axis)] = sz;
        outs.push_back(addSlice(p, x, start, size, std::vector<int64_t>(size_t(r), 1)));
        off += sz;
    }
    return outs;
}

Outs pad(Importer& p, const NodeProto& n, const Attrs& a) {
    ITensor* x = p.tensor(n.input.at(0));
    const int64_t r = rankOf(x);
    std::vector<int64_t> pads, axes;
    float value;
    if (p.opset < 11) {
        pads = a.has("pads") ? a.ints("pads", {}) : a.ints("paddings", {});
        value = a.f("value", 0.0f);
        for (int64_t k = 0; k < r; ++k) axes.push_back(k);
    } else {
        const Value* pv = constIn(p, n, 1, "Pad pads");
        if (!pv) fail(ErrorCode::kINVALID_MODEL, "Pad needs pads");
        pads = pv->ints();
        const Value* v = constIn(p, n, 2, "Pad constant_value");
        value = !v || v->size() == 0 ? 0.0f : float(v->at(0));
        const Value* ax = constIn(p, n, 3, "Pad axes");
        if (!ax) for (int64_t k = 0; k < r; ++k) axes.push_back(k);
        else for (int64_t v2 : ax->ints()) axes.push_back(normAxis(v2, r));
    }
    const size_t k = axes.size();
    if (r == 0) fail(ErrorCode::kINVALID_MODEL, "IndexError: padding a tensor of rank 0");
    if (pads.size() < 2 * k) fail(ErrorCode::kINVALID_MODEL, "IndexError: list index out of range");
    std::vector<int64_t> pre(size_t(r), 0), post(size_t(r), 0);
    for (size_t j = 0; j < k; ++j) {
        if (axes[j] < 0 || axes[j] >= r) fail(ErrorCode::kINVALID_MODEL, "IndexError: list assignment index out of range");
        pre[size_t(axes[j])] = pads[j];
        post[size_t(axes[j])] = pads[j + k];
    }
    const std::string m = a.s("mode", "constant");
    PaddingMode mode;
    if (m == "constant") mode = PaddingMode::kCONSTANT;
    else if (m == "reflect") mode = PaddingMode::kREFLECT;
    else if (m == "edge") mode = PaddingMode::kEDGE;
    else throw Unsupported(strcat("Pad mode '", m, "'"));
    auto addPad = [&](std::vector<int64_t> a0, std::vector<int64_t> b0) {
        Fields f;
        f.ints("pre_padding", a0).ints("post_padding", b0).i("mode", int64_t(mode)).f("value", value);
        return p.add("Padding", {x}, f)->getOutput(0);
    };
    if (pre[0] || post[0]) {
        if (p.dynamicBatch) throw Unsupported("Pad of dimension 0 (the batch) with a dynamic batch");
        return {addPad(pre, post)};
    }
    if (r == 1) return {p.identity(x)};
    return {addPad({pre.begin() + 1, pre.end()}, {post.begin() + 1, post.end()})};
}

Outs reduce(Importer& p, const NodeProto& n, const Attrs& a) {
    ITensor* x = p.tensor(n.input.at(0));
    const int64_t r = rankOf(x);
    bool given;
    auto axes = axesArg(p, n, a, &given);
    const bool keep = a.i("keepdims", 1) != 0;
    if (axes.empty()) {
        if (a.i("noop_with_empty_axes", 0)) return {p.identity(x)};
        for (int64_t k = 0; k < r; ++k) axes.push_back(k);
    }
    std::set<int64_t> sorted;
    for (int64_t v : axes) sorted.insert(normAxis(v, r));
    axes.assign(sorted.begin(), sorted.end());
    if (sorted.count(0) && !keep) throw Unsupported("reducing away dimension 0 (the batch)");
    if (x->getType() != DataType::kFLOAT) throw Unsupported("Reduce of a non-float tensor");
    const std::string& t = n.opType;
    if (t == "ReduceSumSquare" || t == "ReduceL2") x = p.elementwise(x, x, E::kPROD);
    else if (t == "ReduceL1") x = p.unary(x, U::kABS);
    else if (t == "ReduceLogSumExp") x = p.unary(x, U::kEXP);
    static const std::map<std::string, R> ops{{"ReduceMean", R::kAVG}, {"ReduceSum", R::kSUM}, {"ReduceMax", R::kMAX},
                                              {"ReduceMin", R::kMIN}, {"ReduceProd", R::kPROD}};
    auto it = ops.find(t);
    ITensor* y = p.reduce(x, it == ops.end() ? R::kSUM : it->second, axes, keep);
    if (t == "ReduceL2") y = p.unary(y, U::kSQRT);
    else if (t == "ReduceLogSum" || t == "ReduceLogSumExp") y = p.unary(y, U::kLOG);
    return {y};
}

Outs concat(Importer& p, const NodeProto& n, const Attrs& a) {
    auto ts = sameType(p, presentInputs(n));
    Fields f;
    f.i("axis", a.i("axis", p.opset < 4 ? 1 : 0));
    return {p.add("Concatenation", ts, f)->getOutput(0)};
}

// ONNX: indices must lie in [-d, d-1] for the gathered axis of size d. Known indices are checked here (they
// become int32 in gie, so an int64 index beyond int32 would otherwise wrap to another element); run-time
// indices are int32 tensors checked by the Gather kernel.
void checkGather(Importer& p, const NodeProto& n, const Attrs& a) {
    const auto shape = p.shape(n.input.at(0));
    const int64_t r = int64_t(shape.size());
    int64_t ax = a.i("axis", 0);
    if (!(-r <= ax && ax < r)) fail(ErrorCode::kINVALID_MODEL, "axis ", ax, " is out of range for data of rank ", r);
    ax = normAxis(ax, r);
    if (n.input.size() < 2 || !p.isConst(n.input[1])) return;
    const Value& idx = p.constant(n.input[1]);
    if (idx.isFloat() || idx.dtype == kBOOL)
        fail(ErrorCode::kINVALID_MODEL, "indices have type ", tensorTypeName(idx.dtype), "; ONNX Gather takes int32 or int64 indices");
    if (ax == 0 && p.dynamicBatch && !p.isConst(n.input[0])) return;  // gathering along the batch: refused by the converter
    const int64_t d = shape[size_t(ax)];
    if (idx.size()) {
        const int64_t lo = *std::min_element(idx.i.begin(), idx.i.end());
        const int64_t hi = *std::max_element(idx.i.begin(), idx.i.end());
        if (lo < -d || hi >= d)
            fail(ErrorCode::kINVALID_MODEL, "index ", lo < -d ? lo : hi, " is out of range [", -d, ", ", d - 1, "] for axis ",
                 ax, " (size ", d, ") of data ", shapeStr(shape));
    }
}

Outs gather(Importer& p, const NodeProto& n, const Attrs& a) {
    ITensor* data = p.tensor(n.input.at(0));
    const int64_t axis = normAxis(a.i("axis", 0), rankOf(data));
    // (A known table's dimension 0 is not the batch: an embedding lookup by run-time positions is fine.)
    if (axis == 0 && p.dynamicBatch && !p.isConst(n.input[0]))
        throw Unsupported("Gather along dimension 0 (the batch) with a dynamic batch");
    ITensor* idx;
    if (p.isConst(n.input.at(1))) {
        const Value& v = p.constant(n.input[1]);
        idx = p.constantTensor(Value::ofInts(kINT32, v.shape, v.ints()));
    } else {
        idx = p.tensor(n.input[1]);
        if (idx->getType() != DataType::kINT32) idx = p.cast(idx, DataType::kINT32);
    }
    Fields f;
    f.i("axis", axis);
    return {p.add("Gather", {data, idx}, f)->getOutput(0)};
}

Outs resize(Importer& p, const NodeProto& n, const Attrs& a) {
    ITensor* x = p.tensor(n.input.at(0));
    const auto xs = dynamicDimsOf(x);  // the values only with sizes (scales follow any input size)
    const int64_t r = int64_t(xs.size());
    if (r == 0) fail(ErrorCode::kINVALID_MODEL, "IndexError: resizing a tensor of rank 0");
    const std::string modeS = a.s("mode", "nearest");
    ResizeMode mode;
    if (modeS == "nearest") mode = ResizeMode::kNEAREST;
    else if (modeS == "linear" || modeS == "bilinear") mode = ResizeMode::kLINEAR;
    else throw Unsupported(strcat("resize mode '", modeS, "'"));
    std::vector<double> scales;
    std::vector<int64_t> sizes;
    bool hasScales = false;
    ITensor* runtimeSizes = nullptr;
    std::string ct, nm;
    auto constScales = [&](size_t k, const char* what) {
        const Value* v = constIn(p, n, k, what);
        if (!v) fail(ErrorCode::kINVALID_MODEL, "TypeError: ", what, " is missing");
        std::vector<double> s;
        for (int64_t i = 0; i < v->size(); ++i) s.push_back(v->at(i));
        return s;
    };
    if (n.opType == "Upsample") {
        ct = "asymmetric";
        nm = "floor";
        if (a.has("scales")) for (float f : a.floats("scales", {})) scales.push_back(f);
        else scales = constScales(1, "Upsample scales");
        hasScales = true;
    } else if (p.opset < 11) {
        ct = "asymmetric";
        nm = "floor";
        scales = constScales(1, "Resize scales");
        hasScales = true;
    } else {
        ct = a.s("coordinate_transformation_mode", "half_pixel");
        nm = a.s("nearest_mode", "round_prefer_floor");
        if (optIn(n, 3) && !p.isConst(n.input[3]) && p.tensor(n.input[3])->isShapeTensor())
            runtimeSizes = p.tensor(n.input[3]);  // sizes computed at run time (a shape tensor: onnx_shape_tensors.cpp)
        const Value* sv = runtimeSizes ? nullptr : constIn(p, n, 2, "Resize scales");
        const Value* zv = runtimeSizes ? nullptr : constIn(p, n, 3, "Resize sizes");
        if (a.i("antialias", 0)) throw Unsupported("antialias");
        if (a.s("keep_aspect_ratio_policy", "stretch") != "stretch") throw Unsupported("keep_aspect_ratio_policy");
        if (zv && zv->size()) {
            sizes = zv->ints();
        } else if (sv && sv->size()) {
            for (int64_t i = 0; i < sv->size(); ++i) scales.push_back(sv->at(i));
            hasScales = true;
        } else if (!runtimeSizes) {
            throw Unsupported("Resize without scales or sizes");
        }
        if (a.has("axes") && runtimeSizes) throw Unsupported("Resize with axes and run-time sizes");
        if (a.has("axes")) {
            std::vector<int64_t> axes;
            for (int64_t v : a.ints("axes", {})) axes.push_back(normAxis(v, r));
            std::vector<double> full(size_t(r), 1.0);
            if (!hasScales) dimsOf(x);
            if (!hasScales)
                for (int64_t k = 0; k < r; ++k) full[size_t(k)] = double(xs[size_t(k)]);
            for (size_t j = 0; j < axes.size(); ++j) {
                if (axes[j] < 0 || axes[j] >= r || j >= (hasScales ? scales.size() : sizes.size()))
                    fail(ErrorCode::kINVALID_MODEL, "IndexError: list index out of range");
                full[size_t(axes[j])] = hasScales ? scales[j] : double(sizes[j]);
            }
            if (hasScales) scales = full;
            else {
                sizes.clear();
                for (double v : full) sizes.push_back(int64_t(v));
            }
        }
    }
    static const std::map<std::string, ResizeCoordinateTransformation> cts{
        {"half_pixel", ResizeCoordinateTransformation::kHALF_PIXEL},
        {"asymmetric", ResizeCoordinateTransformation::kASYMMETRIC},
        {"align_corners", ResizeCoordinateTransformation::kALIGN_CORNERS},
        {"pytorch_half_pixel", ResizeCoordinateTransformation::kPYTORCH_HALF_PIXEL}};
    static const std::map<std::string, ResizeRoundMode> nms{{"round_prefer_floor", ResizeRoundMode::kROUND_PREFER_FLOOR},
                                                            {"round_prefer_ceil", ResizeRoundMode::kROUND_PREFER_CEIL},
                                                            {"floor", ResizeRoundMode::kFLOOR},
                                                            {"ceil", ResizeRoundMode::kCEIL}};
    auto cit = cts.find(ct);
    if (cit == cts.end()) throw Unsupported(strcat("coordinate_transformation_mode '", ct, "'"));
    auto nit = nms.find(nm);
    if (nit == nms.end()) throw Unsupported(strcat("nearest_mode '", nm, "'"));
    Fields f;
    f.i("mode", int64_t(mode)).i("coordinate_transformation", int64_t(cit->second));
    if (mode == ResizeMode::kNEAREST) f.i("nearest_mode", int64_t(nit->second));
    if (hasScales) {
        if (scales.empty()) fail(ErrorCode::kINVALID_MODEL, "IndexError: Resize scales are empty");
        if (scales[0] != 1.0) throw Unsupported("resizing dimension 0 (the batch)");
        std::vector<float> fs(scales.begin(), scales.end());
        f.floats("scales", fs);
    } else if (runtimeSizes) {
        const Dims sd = runtimeSizes->getDimensions();
        if (sd.nbDims != 1 || sd.d[0] != r)
            fail(ErrorCode::kINVALID_MODEL, "Resize: run-time sizes of shape ", toString(sd), " for a ", r, "-D input");
        return {p.add("Resize", {x, runtimeSizes}, f)->getOutput(0)};
    } else {
        if (sizes.empty()) fail(ErrorCode::kINVALID_MODEL, "IndexError: Resize sizes are empty");
        dimsOf(x);  // sizes are checked against the input's dimensions: they must be known
        if (sizes[0] != xs[0]) throw Unsupported("resizing dimension 0 (the batch)");
        f.ints("output_dims", sizes);
    }
    return {p.add("Resize", {x}, f)->getOutput(0)};
}

Outs depthToSpace(Importer& p, const NodeProto& n, const Attrs& a) {
    ITensor* x = p.tensor(n.input.at(0));
    const int64_t b = a.req("blocksize").i;
    const auto xs = dimsOf(x);
    if (xs.size() != 4) fail(ErrorCode::kINVALID_MODEL, "ValueError: not enough values to unpack (expected 4, got ", xs.size(), ")");
    if (b <= 0) fail(ErrorCode::kINVALID_MODEL, "ZeroDivisionError: blocksize ", b);
    const int64_t c = xs[1], h = xs[2], w = xs[3];
    ITensor* t;
    if (a.s("mode", "DCR") == "DCR") {
        std::vector<int64_t> rs{0, b, b, c / (b * b), h, w}, tr{0, 3, 4, 1, 5, 2};
        t = p.shuffle(x, nullptr, &rs, &tr);
    } else {
        std::vector<int64_t> rs{0, c / (b * b), b, b, h, w}, tr{0, 1, 4, 2, 5, 3};
        t = p.shuffle(x, nullptr, &rs, &tr);
    }
    return {p.reshape(t, {0, c / (b * b), h * b, w * b})};
}

Outs spaceToDepth(Importer& p, const NodeProto& n, const Attrs& a) {
    ITensor* x = p.tensor(n.input.at(0));
    const int64_t b = a.req("blocksize").i;
    const auto xs = dimsOf(x);
    if (xs.size() != 4) fail(ErrorCode::kINVALID_MODEL, "ValueError: not enough values to unpack (expected 4, got ", xs.size(), ")");
    if (b <= 0) fail(ErrorCode::kINVALID_MODEL, "ZeroDivisionError: blocksize ", b);
    const int64_t c = xs[1], h = xs[2], w = xs[3];
    std::vector<int64_t> perm = a.s("mode", "DCR") == "CRD" ? std::vector<int64_t>{0, 1, 3, 5, 2, 4}
                                                             : std::vector<int64_t>{0, 3, 5, 1, 2, 4};
    std::vector<int64_t> rs{0, c, h / b, b, w / b, b};
    ITensor* t = p.shuffle(x, nullptr, &rs, &perm);
    return {p.reshape(t, {0, c * b * b, h / b, w / b})};
}

Outs expand(Importer& p, const NodeProto& n, const Attrs&) {
    bool symbolic;
    const auto shape = batchTarget(p, n, 1, "Expand shape", &symbolic);
    if (p.isConst(n.input.at(0)) && symbolic) {  // a constant (e.g. a class token) expanded to the batch
        const Value& v = p.constant(n.input[0]);
        bool ok = shape[0] == kBATCH && shape.size() >= v.shape.size();
        for (size_t k = 1; ok && k < shape.size(); ++k) ok = shape[k] < kBATCH;
        if (!ok) throw Unsupported(strcat("Expand of a constant to ", listStr(shape), ": only dimension 0 may follow the batch"));
        std::vector<int64_t> tgt{1};
        tgt.insert(tgt.end(), shape.begin() + 1, shape.end());
        return {batchBroadcast(p, broadcastValue(v, tgt))};
    }
    ITensor* x = p.tensor(n.input[0]);
    const auto xs = dimsOf(x);
    std::vector<int64_t> tgt;
    for (int64_t s : shape) tgt.push_back(s != kBATCH ? s : 1);
    std::vector<int64_t> out = broadcast(xs, tgt);
    if (out.empty()) throw Unsupported("Expand of a rank-0 tensor");
    if (out.size() == xs.size()) out[0] = 1;  // the batch comes from x
    else if (p.dynamicBatch) throw Unsupported("Expand to a higher rank with a dynamic batch");
    if (x->getType() == DataType::kBOOL) throw Unsupported("Expand of a bool tensor");
    if (x->getType() != DataType::kFLOAT && x->getType() != DataType::kINT32)
        throw Unsupported(strcat("Expand of DataType.", dataTypeName(x->getType())));
    const int64_t total = volume(out);
    Value ones = x->getType() == DataType::kFLOAT ? Value::ofFloats(kFLOAT, out, std::vector<float>(size_t(total), 1.f))
                                                  : Value::ofInts(kINT32, out, std::vector<int64_t>(size_t(total), 1));
    return {p.elementwise(x, p.constantTensor(ones), E::kPROD)};
}

Outs constantOfShape(Importer& p, const NodeProto& n, const Attrs& a) {
    // Reached only when folding would make a batch-sized constant: that becomes a run-time broadcast.
    bool symbolic;
    const auto shape = batchTarget(p, n, 0, "ConstantOfShape shape", &symbolic);
    bool ok = symbolic && !shape.empty() && shape[0] == kBATCH;
    for (size_t k = 1; ok && k < shape.size(); ++k) ok = shape[k] < kBATCH;
    if (!ok) throw Unsupported(strcat("ConstantOfShape ", listStr(shape), ": too large to fold, and only dimension 0 may follow the batch"));
    Value fill = Value::ofFloats(kFLOAT, {1}, {0.f});
    if (const AttributeProto* v = a.node->attr("value"))
        if (v->t) fill = decodeTensor(*v->t, nullptr, "ConstantOfShape value");
    std::vector<int64_t> s{1};
    s.insert(s.end(), shape.begin() + 1, shape.end());
    const int64_t total = volume(s);
    Value r;
    r.dtype = fill.dtype;
    r.shape = s;
    if (fill.isFloat()) r.f.assign(size_t(total), fill.f.empty() ? 0.f : fill.f[0]);
    else r.i.assign(size_t(total), fill.i.empty() ? 0 : fill.i[0]);
    return {batchBroadcast(p, r)};
}

Outs tile(Importer& p, const NodeProto& n, const Attrs&) {
    bool symbolic;
    const auto reps = batchTarget(p, n, 1, "Tile repeats", &symbolic);
    if (p.isConst(n.input.at(0)) && symbolic) {  // a constant repeated batch times (torch's x.repeat(B, 1, 1))
        const Value& v = p.constant(n.input[0]);
        bool ok = reps[0] == kBATCH && v.shape.size() == reps.size() && !v.shape.empty() && v.shape[0] == 1;
        for (size_t k = 1; ok && k < reps.size(); ++k) ok = reps[k] < kBATCH;
        if (!ok) throw Unsupported(strcat("Tile of a constant ", shapeStr(v.shape), " by ", listStr(reps),
                                          ": only dimension 0 may follow the batch"));
        std::vector<int64_t> r1 = reps;
        r1[0] = 1;  // np.tile(v, [1] + reps[1:])
        const Value r = tileValue(v, r1);
        return {batchBroadcast(p, r)};
    }
    ITensor* x = p.tensor(n.input[0]);
    if (reps.empty() || reps[0] != 1) throw Unsupported("Tile along dimension 0 (the batch)");
    ITensor* out = x;
    for (size_t ax = 0; ax < reps.size(); ++ax) {
        if (reps[ax] == 1) continue;
        if (reps[ax] < 0 || reps[ax] > 65536) fail(ErrorCode::kINVALID_MODEL, "Tile repeats ", reps[ax], " out of range");
        std::vector<ITensor*> copies(size_t(reps[ax]), out);
        Fields f;
        f.i("axis", int64_t(ax));
        out = p.add("Concatenation", copies, f)->getOutput(0);
    }
    if (out == x) out = p.identity(x);
    return {out};
}

}  // namespace

const std::map<std::string, Converter>& converters() {
    static const std::map<std::string, Converter> m = [] {
        std::map<std::string, Converter> c{
            {"Conv", conv}, {"ConvTranspose", convTranspose}, {"Gemm", gemm}, {"MatMul", matmul},
            {"Add", binary}, {"Sub", binary}, {"Mul", binary}, {"Div", binary}, {"Pow", binary}, {"Max", binary},
            {"Min", binary}, {"Sum", binary}, {"Mean", mean}, {"Equal", binary}, {"Greater", binary}, {"Less", binary},
            {"And", binary}, {"Or", binary}, {"Xor", binary}, {"Mod", mod}, {"GreaterOrEqual", cmpOrEqual},
            {"LessOrEqual", cmpOrEqual},
            {"Relu", act(A::kRELU)}, {"Sigmoid", act(A::kSIGMOID)}, {"Tanh", act(A::kTANH)},
            {"LeakyRelu", act(A::kLEAKY_RELU, "alpha", 0.01f)}, {"Elu", act(A::kELU, "alpha", 1.0f)},
            {"Selu", act(A::kSELU, "alpha", 1.67326319217681884765625f, "gamma", 1.05070102214813232421875f)},
            {"Softplus", act(A::kSOFTPLUS)}, {"Softsign", act(A::kSOFTSIGN)},
            {"HardSigmoid", act(A::kHARD_SIGMOID, "alpha", 0.2f, "beta", 0.5f)}, {"HardSwish", act(A::kHARD_SWISH)},
            {"ThresholdedRelu", act(A::kTHRESHOLDED_RELU, "alpha", 1.0f)}, {"Mish", act(A::kMISH)}, {"Gelu", gelu},
            {"Clip", clip}, {"PRelu", prelu},
            {"MaxPool", pool}, {"AveragePool", pool}, {"GlobalAveragePool", globalPool}, {"GlobalMaxPool", globalPool},
            {"BatchNormalization", batchnorm}, {"InstanceNormalization", instancenorm},
            {"LayerNormalization", layernorm}, {"LRN", lrn}, {"Softmax", softmax}, {"LogSoftmax", softmax},
            {"Concat", concat}, {"Flatten", flatten}, {"Reshape", reshapeOp}, {"Transpose", transpose},
            {"Squeeze", squeeze}, {"Unsqueeze", unsqueeze}, {"Slice", sliceOp}, {"Split", split}, {"Pad", pad},
            {"Gather", gather}, {"Cast", castOp}, {"Resize", resize}, {"Upsample", resize},
            {"DepthToSpace", depthToSpace}, {"SpaceToDepth", spaceToDepth}, {"Expand", expand}, {"Tile", tile},
            {"Identity", identity}, {"Dropout", dropout}, {"ConstantOfShape", constantOfShape}};
        for (const auto& kv : unaryOps()) c[kv.first] = unary;
        addQdqConverters(c);
        for (const char* r : {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare",
                              "ReduceL2", "ReduceL1", "ReduceLogSum", "ReduceLogSumExp"})
            c[r] = reduce;
        return c;
    }();
    return m;
}

const std::map<std::string, Validator>& validators() {
    static const std::map<std::string, Validator> m{{"Gather", checkGather}, {"Reshape", checkReshape}};
    return m;
}

}  // namespace onnx
}  // namespace gie
