// Constant folding on the host: the ops of shape subgraphs (Shape -> Gather -> Concat -> Reshape and the
// arithmetic around them) evaluated with numpy's semantics on int64 / float values. Every op computes its
// output shape first and checks it (checkFoldOutput) before allocating, so folding never materializes a
// batch-sized constant or one over kMAX_FOLD_ELEMENTS made from smaller inputs. An op this file does not
// fold is imported as a layer (its known inputs become Constant layers).
#include <algorithm>
#include <cmath>
#include <limits>

#include "parsers/onnx/onnx_fold.h"

namespace gie {
namespace onnx {

void checkFoldOutput(Importer& p, const NodeProto& n, size_t index, const std::vector<int64_t>& shape) {
    bool symbolic = false;
    int64_t inputs = 0;
    for (const auto& i : n.input) {
        if (i.empty()) continue;
        symbolic = symbolic || p.symbolic.count(i);
        if (p.isConst(i)) inputs += p.constant(i).size();
    }
    const int64_t limit = std::max(kMAX_FOLD_ELEMENTS, inputs);
    // a node may name fewer outputs than it computes (even none): quote what there is
    const std::string o = index < n.output.size() ? n.output[index] : std::string();
    if (symbolic)
        for (int64_t d : shape)
            if (d >= kBATCH)
                throw FoldRefused(strcat("output '", o, "' would be a constant whose shape follows the batch (a run-time "
                                         "value, not something to fold)"));
    for (int64_t d : shape)
        if (d < 0) throw Unsupported(strcat("negative dimension in ", shapeStr(shape)));
    const int64_t vol = volume(shape);
    if (vol > limit)
        throw FoldRefused(strcat("folding output '", o, "' would make a constant of shape ", shapeStr(shape), " (", vol,
                                 " elements, over the limit ", limit, ")"));
}

namespace fold {

int64_t normAxis(int64_t ax, int64_t rank, const char* what) {
    const int64_t a = ax < 0 ? ax + rank : ax;
    if (a < 0 || a >= rank) throw Unsupported(strcat(what, " ", ax, " out of range"));
    return a;
}

const Value& in(Importer& p, const NodeProto& n, size_t k) {
    if (k >= n.input.size() || n.input[k].empty()) throw Unsupported("missing input");
    return p.constant(n.input[k]);
}
bool hasIn(const NodeProto& n, size_t k) { return k < n.input.size() && !n.input[k].empty(); }

Value like(const Value& v, int32_t dtype, std::vector<int64_t> shape) {
    Value r;
    r.dtype = dtype;
    r.shape = std::move(shape);
    const size_t n = size_t(volume(r.shape));
    if (r.isFloat()) r.f.resize(n);
    else r.i.resize(n);
    (void)v;
    return r;
}

void copyElem(Value& r, size_t dst, const Value& v, size_t src) {
    if (r.isFloat()) r.f[dst] = v.f[src];
    else r.i[dst] = v.i[src];
}

std::vector<int64_t> stridesOf(const std::vector<int64_t>& s) {
    std::vector<int64_t> st(s.size(), 1);
    for (int64_t k = int64_t(s.size()) - 2; k >= 0; --k) st[size_t(k)] = st[size_t(k) + 1] * s[size_t(k) + 1];
    return st;
}

bool nextIndex(std::vector<int64_t>& pos, const std::vector<int64_t>& shape) {
    for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
        if (++pos[size_t(d)] < shape[size_t(d)]) return true;
        pos[size_t(d)] = 0;
    }
    return false;
}

int64_t offsetAlongAxis(const std::vector<int64_t>& pos, int64_t axis, int64_t index, const std::vector<int64_t>& shape,
                        const std::vector<int64_t>& st) {
    int64_t off = 0;
    for (size_t d = 0; d < shape.size(); ++d) {
        int64_t c = pos[d];
        if (int64_t(d) == axis) c = index < 0 ? index + shape[d] : index;
        if (c < 0 || c >= shape[d]) return -1;
        off += c * st[d];
    }
    return off;
}

std::vector<int64_t> broadcastShape(const std::vector<std::vector<int64_t>>& shapes) {
    size_t r = 0;
    for (const auto& s : shapes) r = std::max(r, s.size());
    std::vector<int64_t> out(r, 1);
    for (const auto& s : shapes)
        for (size_t k = 0; k < s.size(); ++k) {
            int64_t& o = out[r - s.size() + k];
            const int64_t d = s[k];
            if (d == o || d == 1) continue;
            if (o == 1) o = d;
            else throw Unsupported("shapes do not broadcast");
        }
    return out;
}

int64_t wrapInt(int32_t dtype, int64_t v) {
    switch (dtype) {
        case kINT32: return int32_t(v);
        case kUINT32: return uint32_t(v);
        case kINT16: return int16_t(v);
        case kUINT16: return uint16_t(v);
        case kINT8: return int8_t(v);
        case kUINT8: return uint8_t(v);
        case kBOOL: return v != 0;
        default: return v;
    }
}

int64_t mulCapped(int64_t a, int64_t b) {
    if (a == 0 || b == 0) return 0;
    return a > std::numeric_limits<int64_t>::max() / b ? std::numeric_limits<int64_t>::max() : a * b;
}

}  // namespace fold

namespace {

using namespace fold;

// Index into a broadcast input for each output element.
std::vector<size_t> broadcastIndex(const std::vector<int64_t>& in, const std::vector<int64_t>& out) {
    const size_t n = size_t(volume(out));
    std::vector<size_t> idx(n);
    const size_t off = out.size() - in.size();
    const std::vector<int64_t> ist = stridesOf(in);
    std::vector<int64_t> pos(out.size(), 0);
    for (size_t e = 0; e < n; ++e) {
        size_t k = 0;
        for (size_t d = 0; d < in.size(); ++d) k += size_t(in[d] == 1 ? 0 : pos[off + d] * ist[d]);
        idx[e] = k;
        nextIndex(pos, out);
    }
    return idx;
}

int64_t floorDiv(int64_t a, int64_t b) {
    if (b == 0) return 0;
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
}

bool binary(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    const std::string& op = n.opType;
    std::vector<const Value*> vs;
    for (size_t k = 0; k < n.input.size(); ++k)
        if (hasIn(n, k)) vs.push_back(&in(p, n, k));
    if (vs.empty()) return false;
    const bool cmp = op == "Equal" || op == "Greater" || op == "Less" || op == "GreaterOrEqual" || op == "LessOrEqual";
    const bool logic = op == "And" || op == "Or" || op == "Xor";
    if (op == "Mod" && a.i("fmod", 0) == 0 && vs[0]->isFloat()) {}  // np.mod on floats: handled below
    std::vector<std::vector<int64_t>> shapes;
    for (const Value* v : vs) shapes.push_back(v->shape);
    const std::vector<int64_t> shape = broadcastShape(shapes);
    checkFoldOutput(p, n, 0, shape);
    const bool isF = vs[0]->isFloat();
    Value r = like(*vs[0], cmp || logic ? kBOOL : vs[0]->dtype, shape);
    std::vector<std::vector<size_t>> idx;
    for (const Value* v : vs) idx.push_back(broadcastIndex(v->shape, shape));
    const size_t total = size_t(volume(shape));
    const bool fmod = a.i("fmod", 0) != 0;
    for (size_t e = 0; e < total; ++e) {
        if (isF || (op == "Pow" && vs.size() > 1 && vs[1]->isFloat())) {
            double x = vs[0]->at(int64_t(idx[0][e]));
            for (size_t j = 1; j < vs.size(); ++j) {
                const double y = vs[j]->at(int64_t(idx[j][e]));
                if (op == "Add" || op == "Sum" || op == "Mean") x = double(float(x + y));
                else if (op == "Sub") x = double(float(x - y));
                else if (op == "Mul") x = double(float(x * y));
                else if (op == "Div") x = double(float(x / y));
                else if (op == "Pow") x = double(float(std::pow(x, y)));
                else if (op == "Max") x = std::isnan(x) || std::isnan(y) ? NAN : std::max(x, y);
                else if (op == "Min") x = std::isnan(x) || std::isnan(y) ? NAN : std::min(x, y);
                else if (op == "Mod") x = fmod ? std::fmod(x, y) : x - std::floor(x / y) * y;
                else if (op == "Equal") x = x == y;
                else if (op == "Greater") x = x > y;
                else if (op == "Less") x = x < y;
                else if (op == "GreaterOrEqual") x = x >= y;
                else if (op == "LessOrEqual") x = x <= y;
                else return false;
            }
            if (op == "Mean") x = double(float(x / double(vs.size())));
            if (r.isFloat()) r.f[e] = float(x);
            else r.i[e] = cmp ? int64_t(x != 0) : int64_t(x);
        } else {
            int64_t x = vs[0]->i[idx[0][e]];
            for (size_t j = 1; j < vs.size(); ++j) {
                const int64_t y = vs[j]->at(int64_t(idx[j][e])) ;
                // wrap-around arithmetic like numpy's fixed-width integers
                if (op == "Add" || op == "Sum") x = int64_t(uint64_t(x) + uint64_t(y));
                else if (op == "Sub") x = int64_t(uint64_t(x) - uint64_t(y));
                else if (op == "Mul") x = int64_t(uint64_t(x) * uint64_t(y));
                else if (op == "Div") x = y == 0 ? 0 : (x == INT64_MIN && y == -1) ? x : x / y;
                else if (op == "Mod") x = y == 0 ? 0 : fmod ? x % y : x - floorDiv(x, y) * y;
                else if (op == "Pow") {
                    int64_t base = x, res = 1;
                    if (y < 0) res = (base == 1) ? 1 : (base == -1 ? (y % 2 ? -1 : 1) : 0);
                    else for (int64_t k = 0; k < y && k < 64; ++k) res = int64_t(uint64_t(res) * uint64_t(base));
                    x = res;
                }
                else if (op == "Max") x = std::max(x, y);
                else if (op == "Min") x = std::min(x, y);
                else if (op == "Equal") x = x == y;
                else if (op == "Greater") x = x > y;
                else if (op == "Less") x = x < y;
                else if (op == "GreaterOrEqual") x = x >= y;
                else if (op == "LessOrEqual") x = x <= y;
                else if (op == "And") x = (x != 0) && (y != 0);
                else if (op == "Or") x = (x != 0) || (y != 0);
                else if (op == "Xor") x = (x != 0) != (y != 0);
                else return false;
            }
            if (op == "Mean") return false;
            r.i[e] = x;
        }
    }
    // numpy keeps the narrow integer type: wrap to it
    if (!r.isFloat() && r.dtype != kBOOL)
        for (auto& x : r.i) x = wrapInt(r.dtype, x);
    out.push_back(std::move(r));
    return true;
}

bool unaryOp(Importer& p, const NodeProto& n, const Attrs&, std::vector<Value>& out) {
    const Value& x = in(p, n, 0);
    const std::string& op = n.opType;
    Value r = x;
    if (op == "Not") {
        for (auto& v : r.i) v = v == 0;
    } else if (r.isFloat()) {
        for (auto& v : r.f) {
            const double d = v;
            if (op == "Neg") v = float(-d);
            else if (op == "Abs") v = float(std::fabs(d));
            else if (op == "Floor") v = float(std::floor(d));
            else if (op == "Ceil") v = float(std::ceil(d));
            else if (op == "Sqrt") v = float(std::sqrt(d));
            else if (op == "Exp") v = float(std::exp(d));
            else if (op == "Log") v = float(std::log(d));
            else if (op == "Reciprocal") v = float(1.0 / d);
            else if (op == "Sign") v = float(d > 0 ? 1 : d < 0 ? -1 : d);
            else if (op == "Relu") v = float(d > 0 ? d : 0);
            else if (op == "Round") v = float(std::nearbyint(d));
            else return false;
        }
    } else {
        for (auto& v : r.i) {
            if (op == "Neg") v = int64_t(0 - uint64_t(v));
            else if (op == "Abs") v = v < 0 ? int64_t(0 - uint64_t(v)) : v;
            else if (op == "Sign") v = v > 0 ? 1 : v < 0 ? -1 : 0;
            else if (op == "Relu") v = v > 0 ? v : 0;
            else if (op == "Floor" || op == "Ceil" || op == "Round") {}
            else return false;
        }
    }
    out.push_back(std::move(r));
    return true;
}

Value castTo(const Value& x, int32_t to) {
    Value r;
    r.dtype = to;
    r.shape = x.shape;
    if (r.isFloat()) {
        r.f = x.floats();
        if (to == kFLOAT16)
            for (auto& v : r.f) v = float(v);  // values keep float precision here; gie stores float16 later
    } else if (to == kBOOL) {
        r.i.resize(size_t(x.size()));
        for (int64_t k = 0; k < x.size(); ++k) r.i[size_t(k)] = x.at(k) != 0;
    } else {
        r.i = x.ints();
        for (auto& v : r.i) v = wrapInt(to, v);
    }
    return r;
}

bool castOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    const int64_t to = a.req("to").i;
    if (to == kSTRING || to < 1 || to > kBFLOAT16 || to == kCOMPLEX64 || to == kCOMPLEX128) return false;
    const Value& x = in(p, n, 0);
    if (x.isFloat() && !(to == kFLOAT || to == kFLOAT16 || to == kDOUBLE || to == kBFLOAT16))
        for (float v : x.f)
            if (!std::isfinite(v)) return false;  // numpy's cast of NaN/inf to int is undefined: import as a layer
    out.push_back(castTo(x, int32_t(to)));
    return true;
}

bool identityOp(Importer& p, const NodeProto& n, const Attrs&, std::vector<Value>& out) {
    out.push_back(in(p, n, 0));
    return true;
}

// Reshape target rules of the spec (validated before by the Reshape validator).
bool reshapeOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    const Value& x = in(p, n, 0);
    std::vector<int64_t> target = p.opset < 5 ? a.ints("shape", {}) : in(p, n, 1).ints();
    const bool allowzero = a.i("allowzero", 0) != 0;
    int64_t known = 1, minus = -1;
    for (size_t k = 0; k < target.size(); ++k) {
        if (target[k] == 0 && !allowzero) {
            if (k >= x.shape.size()) return false;
            target[k] = x.shape[k];
        }
        if (target[k] == -1) minus = int64_t(k);
        else known *= target[k];
    }
    if (minus >= 0) {
        if (known == 0) return false;
        target[size_t(minus)] = x.size() / known;
    }
    if (volume(target) != x.size()) return false;
    Value r = x;
    r.shape = target;
    out.push_back(std::move(r));
    return true;
}

bool flattenOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    const Value& x = in(p, n, 0);
    const int64_t r = int64_t(x.shape.size());
    int64_t axis = a.i("axis", 1);
    if (axis < 0) axis += r;
    if (axis < 0 || axis > r) return false;
    int64_t outer = 1;
    for (int64_t k = 0; k < axis; ++k) outer *= x.shape[size_t(k)];
    Value v = x;
    v.shape = {outer, outer ? x.size() / outer : 0};
    out.push_back(std::move(v));
    return true;
}

std::vector<int64_t> axesOf(Importer& p, const NodeProto& n, const Attrs& a, bool* given) {
    *given = true;
    if (a.has("axes")) return a.ints("axes", {});
    if (hasIn(n, 1)) return in(p, n, 1).ints();
    *given = false;
    return {};
}

bool squeezeOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    const Value& x = in(p, n, 0);
    bool given;
    std::vector<int64_t> axes = axesOf(p, n, a, &given);
    const int64_t r = int64_t(x.shape.size());
    std::vector<bool> drop(size_t(r), false);
    if (!given) {
        for (int64_t k = 0; k < r; ++k) drop[size_t(k)] = x.shape[size_t(k)] == 1;
    } else {
        for (int64_t ax : axes) {
            const int64_t k = normAxis(ax, r);
            if (x.shape[size_t(k)] != 1) return false;
            drop[size_t(k)] = true;
        }
    }
    Value v = x;
    v.shape.clear();
    for (int64_t k = 0; k < r; ++k)
        if (!drop[size_t(k)]) v.shape.push_back(x.shape[size_t(k)]);
    out.push_back(std::move(v));
    return true;
}

bool unsqueezeOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    const Value& x = in(p, n, 0);
    bool given;
    std::vector<int64_t> axes = axesOf(p, n, a, &given);
    const int64_t r = int64_t(x.shape.size() + axes.size());
    std::vector<int64_t> norm;
    for (int64_t ax : axes) norm.push_back(normAxis(ax, r));
    std::sort(norm.begin(), norm.end());
    if (std::adjacent_find(norm.begin(), norm.end()) != norm.end()) return false;
    Value v = x;
    v.shape = x.shape;
    for (int64_t ax : norm) v.shape.insert(v.shape.begin() + ax, 1);
    out.push_back(std::move(v));
    return true;
}

bool concatOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    std::vector<const Value*> vs;
    for (size_t k = 0; k < n.input.size(); ++k)
        if (hasIn(n, k)) vs.push_back(&in(p, n, k));
    if (vs.empty()) return false;
    const int64_t r = int64_t(vs[0]->shape.size());
    if (r == 0) return false;
    const int64_t axis = normAxis(a.i("axis", 0), r);
    std::vector<int64_t> shape = vs[0]->shape;
    shape[size_t(axis)] = 0;
    for (const Value* v : vs) {
        if (int64_t(v->shape.size()) != r || v->isFloat() != vs[0]->isFloat()) return false;
        for (int64_t k = 0; k < r; ++k)
            if (k != axis && v->shape[size_t(k)] != vs[0]->shape[size_t(k)]) return false;
        shape[size_t(axis)] += v->shape[size_t(axis)];
    }
    checkFoldOutput(p, n, 0, shape);
    Value res = like(*vs[0], vs[0]->dtype, shape);
    int64_t outer = 1;
    for (int64_t k = 0; k < axis; ++k) outer *= shape[size_t(k)];
    int64_t inner = 1;
    for (int64_t k = axis + 1; k < r; ++k) inner *= shape[size_t(k)];
    size_t dst = 0;
    for (int64_t o = 0; o < outer; ++o)
        for (const Value* v : vs) {
            const int64_t chunk = v->shape[size_t(axis)] * inner;
            for (int64_t e = 0; e < chunk; ++e) copyElem(res, dst++, *v, size_t(o * chunk + e));
        }
    out.push_back(std::move(res));
    return true;
}

bool gatherOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    const Value& x = in(p, n, 0);
    const Value& idx = in(p, n, 1);
    if (idx.isFloat()) return false;
    const int64_t r = int64_t(x.shape.size());
    if (r == 0) return false;
    const int64_t axis = normAxis(a.i("axis", 0), r);
    const int64_t d = x.shape[size_t(axis)];
    std::vector<int64_t> shape(x.shape.begin(), x.shape.begin() + axis);
    shape.insert(shape.end(), idx.shape.begin(), idx.shape.end());
    shape.insert(shape.end(), x.shape.begin() + axis + 1, x.shape.end());
    checkFoldOutput(p, n, 0, shape);
    Value res = like(x, x.dtype, shape);
    int64_t outer = 1, inner = 1;
    for (int64_t k = 0; k < axis; ++k) outer *= x.shape[size_t(k)];
    for (int64_t k = axis + 1; k < r; ++k) inner *= x.shape[size_t(k)];
    size_t dst = 0;
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t j : idx.i) {
            const int64_t jj = j < 0 ? j + d : j;
            if (jj < 0 || jj >= d) return false;
            for (int64_t e = 0; e < inner; ++e) copyElem(res, dst++, x, size_t((o * d + jj) * inner + e));
        }
    out.push_back(std::move(res));
    return true;
}

bool sliceOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    const Value& x = in(p, n, 0);
    const int64_t r = int64_t(x.shape.size());
    std::vector<int64_t> starts, ends, axes, steps;
    if (p.opset < 10) {
        starts = a.ints("starts", {});
        ends = a.ints("ends", {});
        axes = a.ints("axes", {});
        if (!a.has("axes"))
            for (size_t k = 0; k < starts.size(); ++k) axes.push_back(int64_t(k));
    } else {
        starts = in(p, n, 1).ints();
        ends = in(p, n, 2).ints();
        if (hasIn(n, 3)) axes = in(p, n, 3).ints();
        else for (size_t k = 0; k < starts.size(); ++k) axes.push_back(int64_t(k));
        if (hasIn(n, 4)) steps = in(p, n, 4).ints();
    }
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size()) return false;
    std::vector<int64_t> st(size_t(r), 0), sz = x.shape, sd(size_t(r), 1);
    for (size_t k = 0; k < starts.size(); ++k) {
        const int64_t ax = normAxis(axes[k], r);
        const int64_t dim = x.shape[size_t(ax)];
        const int64_t step = steps[k];
        if (step == 0) return false;
        int64_t s = starts[k] < 0 ? starts[k] + dim : starts[k];
        int64_t e = ends[k] < 0 ? std::max<int64_t>(ends[k], -(int64_t(1) << 62)) + dim : std::min<int64_t>(ends[k], int64_t(1) << 62);
        int64_t cnt;
        if (step > 0) {
            s = std::min(std::max<int64_t>(s, 0), dim);
            e = std::min(std::max<int64_t>(e, 0), dim);
            cnt = sliceCount(e - s, step);
        } else {
            s = std::min(std::max<int64_t>(s, 0), dim - 1);
            e = std::min(std::max<int64_t>(e, -1), dim - 1);
            cnt = sliceCount(s - e, step);
        }
        st[size_t(ax)] = s;
        sz[size_t(ax)] = cnt;
        sd[size_t(ax)] = step;
    }
    Value res = like(x, x.dtype, sz);
    const std::vector<int64_t> xst = stridesOf(x.shape);
    const size_t total = size_t(volume(sz));
    std::vector<int64_t> pos(size_t(r), 0);
    for (size_t e = 0; e < total; ++e) {
        int64_t src = 0;
        for (int64_t d = 0; d < r; ++d) src += (st[size_t(d)] + pos[size_t(d)] * sd[size_t(d)]) * xst[size_t(d)];
        copyElem(res, e, x, size_t(src));
        nextIndex(pos, sz);
    }
    out.push_back(std::move(res));
    return true;
}

bool transposeOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    const Value& x = in(p, n, 0);
    const int64_t r = int64_t(x.shape.size());
    std::vector<int64_t> perm = a.ints("perm", {});
    if (!a.has("perm"))
        for (int64_t k = r - 1; k >= 0; --k) perm.push_back(k);
    if (int64_t(perm.size()) != r) return false;
    std::vector<int64_t> shape(static_cast<size_t>(r), 0);
    std::vector<bool> seen(size_t(r), false);
    for (int64_t k = 0; k < r; ++k) {
        const int64_t pk = normAxis(perm[size_t(k)], r);
        if (seen[size_t(pk)]) return false;
        seen[size_t(pk)] = true;
        perm[size_t(k)] = pk;
        shape[size_t(k)] = x.shape[size_t(pk)];
    }
    Value res = like(x, x.dtype, shape);
    const std::vector<int64_t> xst = stridesOf(x.shape);
    std::vector<int64_t> pos(size_t(r), 0);
    const size_t total = size_t(volume(shape));
    for (size_t e = 0; e < total; ++e) {
        int64_t src = 0;
        for (int64_t d = 0; d < r; ++d) src += pos[size_t(d)] * xst[size_t(perm[size_t(d)])];
        copyElem(res, e, x, size_t(src));
        nextIndex(pos, shape);
    }
    out.push_back(std::move(res));
    return true;
}

bool whereOp(Importer& p, const NodeProto& n, const Attrs&, std::vector<Value>& out) {
    const Value& c = in(p, n, 0);
    const Value& x = in(p, n, 1);
    const Value& y = in(p, n, 2);
    if (x.isFloat() != y.isFloat()) return false;
    const std::vector<int64_t> shape = broadcastShape({c.shape, x.shape, y.shape});
    checkFoldOutput(p, n, 0, shape);
    Value res = like(x, x.dtype, shape);
    const auto ci = broadcastIndex(c.shape, shape), xi = broadcastIndex(x.shape, shape), yi = broadcastIndex(y.shape, shape);
    for (size_t e = 0; e < ci.size(); ++e) {
        if (c.at(int64_t(ci[e])) != 0) copyElem(res, e, x, xi[e]);
        else copyElem(res, e, y, yi[e]);
    }
    out.push_back(std::move(res));
    return true;
}

bool constantOfShapeOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    const std::vector<int64_t> shape = in(p, n, 0).ints();
    checkFoldOutput(p, n, 0, shape);
    Value fill = Value::ofFloats(kFLOAT, {1}, {0.f});
    if (const AttributeProto* v = a.node->attr("value")) {
        if (!v->t) return false;
        fill = decodeTensor(*v->t, nullptr, "ConstantOfShape value");
        if (fill.size() < 1) return false;
    }
    Value res = like(fill, fill.dtype, shape);
    for (size_t e = 0; e < size_t(res.size()); ++e) copyElem(res, e, fill, 0);
    out.push_back(std::move(res));
    return true;
}

bool rangeOp(Importer& p, const NodeProto& n, const Attrs&, std::vector<Value>& out) {
    const Value& s = in(p, n, 0);
    const Value& l = in(p, n, 1);
    const Value& d = in(p, n, 2);
    if (s.size() != 1 || l.size() != 1 || d.size() != 1) return false;
    const double start = s.at(0), limit = l.at(0), delta = d.at(0);
    if (delta == 0) return false;
    const double cnt = std::max(0.0, std::ceil((limit - start) / delta));
    if (!std::isfinite(cnt)) return false;
    const int64_t count = int64_t(std::min(cnt, 9e15));
    checkFoldOutput(p, n, 0, {count});
    Value res = like(s, s.dtype, {count});
    for (int64_t k = 0; k < count; ++k) {
        if (res.isFloat()) res.f[size_t(k)] = float(start + double(k) * delta);
        else res.i[size_t(k)] = s.i[0] + k * d.i[0];
    }
    out.push_back(std::move(res));
    return true;
}

bool expandOp(Importer& p, const NodeProto& n, const Attrs&, std::vector<Value>& out) {
    const Value& x = in(p, n, 0);
    const std::vector<int64_t> shape = broadcastShape({x.shape, in(p, n, 1).ints()});
    checkFoldOutput(p, n, 0, shape);
    out.push_back(broadcastValue(x, shape));
    return true;
}

bool tileOp(Importer& p, const NodeProto& n, const Attrs&, std::vector<Value>& out) {
    const Value& x = in(p, n, 0);
    const std::vector<int64_t> reps = in(p, n, 1).ints();
    if (reps.size() != x.shape.size()) return false;
    std::vector<int64_t> shape(x.shape.size(), 0);
    for (size_t k = 0; k < shape.size(); ++k) {
        if (reps[k] < 0 || (reps[k] > 0 && x.shape[k] > kMAX_FOLD_ELEMENTS * 64 / reps[k])) return false;
        shape[k] = x.shape[k] * reps[k];
    }
    checkFoldOutput(p, n, 0, shape);
    out.push_back(tileValue(x, reps));
    return true;
}

bool reduceOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    const Value& x = in(p, n, 0);
    const std::string& op = n.opType;
    if (op != "ReduceSum" && op != "ReduceProd" && op != "ReduceMax" && op != "ReduceMin" && op != "ReduceMean")
        return false;
    const int64_t r = int64_t(x.shape.size());
    bool given;
    std::vector<int64_t> axes = (op == "ReduceSum" || p.opset >= 18) ? axesOf(p, n, a, &given)
                                                                      : (given = a.has("axes"), a.ints("axes", {}));
    if (axes.empty()) {
        if (a.i("noop_with_empty_axes", 0)) {
            out.push_back(x);
            return true;
        }
        for (int64_t k = 0; k < r; ++k) axes.push_back(k);
    }
    std::vector<bool> red(size_t(r), false);
    for (int64_t ax : axes) red[size_t(normAxis(ax, r))] = true;
    const bool keep = a.i("keepdims", 1) != 0;
    std::vector<int64_t> shape, kept;
    for (int64_t k = 0; k < r; ++k) {
        if (red[size_t(k)]) {
            if (keep) shape.push_back(1);
        } else {
            shape.push_back(x.shape[size_t(k)]);
        }
        kept.push_back(red[size_t(k)] ? 1 : x.shape[size_t(k)]);
    }
    if (x.size() == 0 && (op == "ReduceMax" || op == "ReduceMin")) return false;
    std::vector<double> acc(size_t(volume(kept)), op == "ReduceProd" ? 1.0 : op == "ReduceMax" ? -INFINITY
                                                                     : op == "ReduceMin" ? INFINITY : 0.0);
    std::vector<int64_t> iacc(acc.size(), op == "ReduceProd" ? 1 : op == "ReduceMax" ? INT64_MIN
                                                               : op == "ReduceMin" ? INT64_MAX : 0);
    const std::vector<int64_t> kst = stridesOf(kept);
    std::vector<int64_t> pos(size_t(r), 0);
    for (int64_t e = 0; e < x.size(); ++e) {
        int64_t dst = 0;
        for (int64_t d = 0; d < r; ++d) dst += (red[size_t(d)] ? 0 : pos[size_t(d)]) * kst[size_t(d)];
        const size_t di = size_t(dst);
        if (x.isFloat()) {
            const double v = x.f[size_t(e)];
            if (op == "ReduceSum" || op == "ReduceMean") acc[di] += v;
            else if (op == "ReduceProd") acc[di] *= v;
            else if (op == "ReduceMax") acc[di] = std::max(acc[di], v);
            else acc[di] = std::min(acc[di], v);
        } else {
            const int64_t v = x.i[size_t(e)];
            if (op == "ReduceSum" || op == "ReduceMean") iacc[di] += v;
            else if (op == "ReduceProd") iacc[di] *= v;
            else if (op == "ReduceMax") iacc[di] = std::max(iacc[di], v);
            else iacc[di] = std::min(iacc[di], v);
        }
        nextIndex(pos, x.shape);
    }
    const int64_t cnt = volume(x.shape) / std::max<int64_t>(1, volume(kept));
    Value res = like(x, x.dtype, shape);
    for (size_t k = 0; k < acc.size(); ++k) {
        if (res.isFloat()) res.f[k] = float(op == "ReduceMean" ? acc[k] / double(cnt) : acc[k]);
        else res.i[k] = op == "ReduceMean" ? iacc[k] / std::max<int64_t>(cnt, 1) : iacc[k];
    }
    out.push_back(std::move(res));
    return true;
}

// outer x dim x inner view of `shape` around `axis`.
void splitAxis(const std::vector<int64_t>& shape, int64_t axis, int64_t& outer, int64_t& dim, int64_t& inner) {
    outer = 1;
    inner = 1;
    for (int64_t k = 0; k < axis; ++k) outer *= shape[size_t(k)];
    dim = shape[size_t(axis)];
    for (size_t k = size_t(axis) + 1; k < shape.size(); ++k) inner *= shape[k];
}

bool argOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    const Value& x = in(p, n, 0);
    const int64_t r = int64_t(x.shape.size());
    if (r == 0) return false;
    const int64_t axis = normAxis(a.i("axis", 0), r);
    const bool keep = a.i("keepdims", 1) != 0, last = a.i("select_last_index", 0) != 0;
    const bool isMax = n.opType == "ArgMax";
    int64_t outer, dim, inner;
    splitAxis(x.shape, axis, outer, dim, inner);
    if (dim == 0) return false;
    std::vector<int64_t> shape;
    for (int64_t k = 0; k < r; ++k)
        if (k != axis || keep) shape.push_back(k == axis ? 1 : x.shape[size_t(k)]);
    std::vector<int64_t> res;
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            int64_t best = 0;
            double bv = x.at((o * dim) * inner + i);
            for (int64_t j = 1; j < dim; ++j) {
                const double v = x.at((o * dim + j) * inner + i);
                if (std::isnan(bv)) break;  // numpy: the first NaN wins
                const bool better = std::isnan(v) || (isMax ? (last ? v >= bv : v > bv) : (last ? v <= bv : v < bv));
                if (better) {
                    best = j;
                    bv = v;
                }
            }
            res.push_back(best);
        }
    out.push_back(Value::ofInts(kINT64, shape, res));
    return true;
}

bool isNanInfOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    const Value& x = in(p, n, 0);
    const bool neg = a.i("detect_negative", 1) != 0, pos = a.i("detect_positive", 1) != 0;
    std::vector<int64_t> r(size_t(x.size()));
    for (int64_t k = 0; k < x.size(); ++k) {
        const double v = x.at(k);
        r[size_t(k)] = n.opType == "IsNaN" ? std::isnan(v) : std::isinf(v) && ((v > 0 && pos) || (v < 0 && neg));
    }
    out.push_back(Value::ofInts(kBOOL, x.shape, r));
    return true;
}

bool nonZeroOp(Importer& p, const NodeProto& n, const Attrs&, std::vector<Value>& out) {
    const Value& x = in(p, n, 0);
    std::vector<int64_t> shape = x.shape.empty() ? std::vector<int64_t>{1} : x.shape;  // numpy treats a scalar as 1-D
    std::vector<std::vector<int64_t>> coords(shape.size());
    std::vector<int64_t> pos(shape.size(), 0);
    for (int64_t k = 0; k < x.size(); ++k) {
        if (x.at(k) != 0)
            for (size_t d = 0; d < shape.size(); ++d) coords[d].push_back(pos[d]);
        nextIndex(pos, shape);
    }
    const int64_t nnz = coords.empty() ? 0 : int64_t(coords[0].size());
    std::vector<int64_t> res;
    for (const auto& c : coords) res.insert(res.end(), c.begin(), c.end());
    out.push_back(Value::ofInts(kINT64, {int64_t(shape.size()), nnz}, res));
    return true;
}

bool triluOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    const Value& x = in(p, n, 0);
    if (x.shape.size() < 2) return false;
    const int64_t k = hasIn(n, 1) ? in(p, n, 1).ints().at(0) : 0;
    const bool upper = a.i("upper", 1) != 0;
    const int64_t rows = x.shape[x.shape.size() - 2], cols = x.shape.back();
    Value r = x;
    for (int64_t e = 0; e < x.size(); ++e) {
        const int64_t i = (e / cols) % rows, j = e % cols;
        const bool keep = upper ? j - i >= k : j - i <= k;
        if (!keep) {
            if (r.isFloat()) r.f[size_t(e)] = 0;
            else r.i[size_t(e)] = 0;
        }
    }
    out.push_back(std::move(r));
    return true;
}

bool cumSumOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    const Value& x = in(p, n, 0);
    const int64_t r = int64_t(x.shape.size());
    if (r == 0) return false;
    const int64_t axis = normAxis(in(p, n, 1).ints().at(0), r);
    const bool excl = a.i("exclusive", 0) != 0, rev = a.i("reverse", 0) != 0;
    int64_t outer, dim, inner;
    splitAxis(x.shape, axis, outer, dim, inner);
    Value res = x;
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            double accF = 0;
            int64_t accI = 0;
            for (int64_t jj = 0; jj < dim; ++jj) {
                const int64_t j = rev ? dim - 1 - jj : jj;
                const size_t e = size_t((o * dim + j) * inner + i);
                if (x.isFloat()) {
                    const double v = x.f[e];
                    if (excl) { res.f[e] = float(accF); accF = float(accF + v); }
                    else { accF = float(accF + v); res.f[e] = float(accF); }
                } else {
                    const int64_t v = x.i[e];
                    if (excl) { res.i[e] = accI; accI += v; }
                    else { accI += v; res.i[e] = accI; }
                }
            }
        }
    out.push_back(std::move(res));
    return true;
}

bool eyeLikeOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    const Value& x = in(p, n, 0);
    if (x.shape.size() != 2) return false;
    const int32_t dt = a.has("dtype") ? int32_t(a.i("dtype", kFLOAT)) : x.dtype;
    if (dt == kSTRING || dt < 1 || dt > kBFLOAT16 || dt == kCOMPLEX64 || dt == kCOMPLEX128) return false;
    const int64_t k = a.i("k", 0);
    Value r;
    r.dtype = dt;
    r.shape = x.shape;
    const int64_t rows = x.shape[0], cols = x.shape[1];
    if (r.isFloat()) r.f.assign(size_t(rows * cols), 0.f);
    else r.i.assign(size_t(rows * cols), 0);
    for (int64_t i = 0; i < rows; ++i) {
        const int64_t j = i + k;
        if (j < 0 || j >= cols) continue;
        if (r.isFloat()) r.f[size_t(i * cols + j)] = 1.f;
        else r.i[size_t(i * cols + j)] = 1;
    }
    out.push_back(std::move(r));
    return true;
}

bool bitShiftOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    const Value& x = in(p, n, 0);
    const Value& y = in(p, n, 1);
    if (x.isFloat() || y.isFloat()) return false;
    const bool left = a.s("direction", "") == "LEFT";
    if (!left && a.s("direction", "") != "RIGHT") return false;
    const std::vector<int64_t> shape = broadcastShape({x.shape, y.shape});
    checkFoldOutput(p, n, 0, shape);
    const auto xi = broadcastIndex(x.shape, shape), yi = broadcastIndex(y.shape, shape);
    const int bits = x.dtype == kUINT8 ? 8 : x.dtype == kUINT16 ? 16 : x.dtype == kUINT32 ? 32 : 64;
    std::vector<int64_t> r(xi.size());
    for (size_t e = 0; e < xi.size(); ++e) {
        const uint64_t v = uint64_t(x.i[xi[e]]), s = uint64_t(y.i[yi[e]]);
        uint64_t res = s >= 64 ? 0 : left ? v << s : v >> s;
        if (bits < 64) res &= (uint64_t(1) << bits) - 1;
        r[e] = int64_t(res);
    }
    out.push_back(Value::ofInts(x.dtype, shape, r));
    return true;
}

bool topKOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    const Value& x = in(p, n, 0);
    const int64_t r = int64_t(x.shape.size());
    if (r == 0) return false;
    const int64_t axis = normAxis(a.i("axis", -1), r);
    const std::vector<int64_t> kv = p.opset < 10 ? std::vector<int64_t>{a.i("k", 0)} : in(p, n, 1).ints();
    if (kv.size() != 1) return false;
    const int64_t k = kv[0];
    const bool largest = a.i("largest", 1) != 0;
    int64_t outer, dim, inner;
    splitAxis(x.shape, axis, outer, dim, inner);
    if (k < 0 || k > dim) return false;
    std::vector<int64_t> shape = x.shape;
    shape[size_t(axis)] = k;
    checkFoldOutput(p, n, 0, shape);
    Value vals = like(x, x.dtype, shape);
    std::vector<int64_t> idx(size_t(volume(shape)));
    std::vector<int64_t> order(static_cast<size_t>(dim), 0);
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            for (int64_t j = 0; j < dim; ++j) order[size_t(j)] = j;
            auto at = [&](int64_t j) { return x.at((o * dim + j) * inner + i); };
            // ties keep the lower index first, as the spec says
            std::stable_sort(order.begin(), order.end(), [&](int64_t u, int64_t v) {
                const double a1 = at(u), b1 = at(v);
                return largest ? a1 > b1 : a1 < b1;
            });
            for (int64_t j = 0; j < k; ++j) {
                const size_t dst = size_t((o * k + j) * inner + i);
                copyElem(vals, dst, x, size_t((o * dim + order[size_t(j)]) * inner + i));
                idx[dst] = order[size_t(j)];
            }
        }
    out.push_back(std::move(vals));
    out.push_back(Value::ofInts(kINT64, shape, idx));
    return true;
}

bool gatherElementsOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    const Value& x = in(p, n, 0);
    const Value& idx = in(p, n, 1);
    const int64_t r = int64_t(x.shape.size());
    if (r == 0 || idx.isFloat() || int64_t(idx.shape.size()) != r) return false;
    const int64_t axis = normAxis(a.i("axis", 0), r);
    Value res = like(x, x.dtype, idx.shape);
    const bool inRange = forEachAlongAxis(idx, axis, x.shape, [&](int64_t e, int64_t src) {
        if (src >= 0) copyElem(res, size_t(e), x, size_t(src));
        return src >= 0;
    });
    if (!inRange) return false;
    out.push_back(std::move(res));
    return true;
}

bool oneHotOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    const Value& idx = in(p, n, 0);
    const Value& depthV = in(p, n, 1);
    const Value& values = in(p, n, 2);
    if (depthV.size() != 1 || values.size() != 2) return false;
    const int64_t depth = int64_t(depthV.at(0));
    if (depth < 0) return false;
    const int64_t r = int64_t(idx.shape.size()) + 1;
    const int64_t axis = normAxis(a.i("axis", -1), r);
    std::vector<int64_t> shape = idx.shape;
    shape.insert(shape.begin() + axis, depth);
    checkFoldOutput(p, n, 0, shape);
    Value res = like(values, values.dtype, shape);
    int64_t outer = 1, inner = 1;
    for (int64_t k = 0; k < axis; ++k) outer *= idx.shape[size_t(k)];
    for (size_t k = size_t(axis); k < idx.shape.size(); ++k) inner *= idx.shape[k];
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t d = 0; d < depth; ++d)
            for (int64_t i = 0; i < inner; ++i) {
                int64_t v = int64_t(idx.at(o * inner + i));
                if (v < 0) v += depth;
                copyElem(res, size_t((o * depth + d) * inner + i), values, v == d ? 1 : 0);
            }
    out.push_back(std::move(res));
    return true;
}

}  // namespace

Value broadcastValue(const Value& v, const std::vector<int64_t>& shape) {
    const std::vector<int64_t> out = broadcastShape({v.shape, shape});
    Value res = like(v, v.dtype, out);
    const auto idx = broadcastIndex(v.shape, out);
    for (size_t e = 0; e < idx.size(); ++e) copyElem(res, e, v, idx[e]);
    return res;
}

Value tileValue(const Value& v, const std::vector<int64_t>& reps) {
    std::vector<int64_t> shape(v.shape.size(), 0);
    for (size_t k = 0; k < shape.size(); ++k) shape[k] = v.shape[k] * reps.at(k);
    Value res = like(v, v.dtype, shape);
    const std::vector<int64_t> st = stridesOf(v.shape);
    std::vector<int64_t> pos(shape.size(), 0);
    for (size_t e = 0; e < size_t(res.size()); ++e) {
        int64_t src = 0;
        for (size_t d = 0; d < shape.size(); ++d) src += (pos[d] % v.shape[d]) * st[d];
        copyElem(res, e, v, size_t(src));
        nextIndex(pos, shape);
    }
    return res;
}

bool isSpecialFold(const std::string& op) { return op == "Shape" || op == "Size" || op == "Constant"; }

bool foldSpecial(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    if (n.opType == "Constant") {
        if (const AttributeProto* v = n.attr("value")) {
            if (!v->t) throw Unsupported("Constant without a value");
            out.push_back(decodeTensor(*v->t, nullptr, "Constant value"));
            return true;
        }
        if (const AttributeProto* v = n.attr("value_float")) { out.push_back(Value::ofFloats(kFLOAT, {}, {v->f})); return true; }
        if (const AttributeProto* v = n.attr("value_int")) { out.push_back(Value::ofInts(kINT64, {}, {v->i})); return true; }
        if (const AttributeProto* v = n.attr("value_floats")) {
            out.push_back(Value::ofFloats(kFLOAT, {int64_t(v->floats.size())}, v->floats));
            return true;
        }
        if (const AttributeProto* v = n.attr("value_ints")) {
            out.push_back(Value::ofInts(kINT64, {int64_t(v->ints.size())}, v->ints));
            return true;
        }
        if (n.attr("sparse_value")) throw Unsupported("sparse constants");
        throw Unsupported("Constant without a value");
    }
    if (n.input.empty() || n.input[0].empty()) fail(ErrorCode::kINVALID_MODEL, n.opType, " needs an input");
    std::vector<int64_t> s;
    const bool known = p.isConst(n.input[0]);
    const ITensor* t = known ? nullptr : p.tensor(n.input[0]);
    if (known) {
        s = p.consts.at(n.input[0]).shape;
    } else {
        s = dynamicDimsOf(t);  // -1: dynamic (an input dimension other than a lone batch); refused where read below
    }
    if (n.opType == "Size") {
        if (!known && p.dynamicBatch) return false;
        for (size_t k = 0; k < s.size(); ++k)
            if (s[k] < 0) throw Unsupported(dynamicDimNeeded(t, s, k));
        out.push_back(Value::ofInts(kINT64, {}, {volume(s)}));
        return true;
    }
    const std::vector<int64_t> declared = s;
    if (!known && p.dynamicBatch && !s.empty() && s[0] > 0 && s[0] % p.batch == 0)
        s[0] = kBATCH * (s[0] / p.batch);  // dimension 0 follows the batch (a flattened (batch*k, ...) too)
    // Python slice semantics of s[start:end]
    const int64_t r = int64_t(s.size());
    int64_t start = a.i("start", 0), end = a.has("end") ? a.i("end", r) : r;
    if (start < 0) start = std::max<int64_t>(0, start + r);
    if (end < 0) end = std::max<int64_t>(0, end + r);
    start = std::min(start, r);
    end = std::min(end, r);
    std::vector<int64_t> v;
    for (int64_t k = start; k < end; ++k) {
        if (s[size_t(k)] < 0) throw Unsupported(dynamicDimNeeded(t, declared, size_t(k)));
        v.push_back(s[size_t(k)]);
    }
    out.push_back(Value::ofInts(kINT64, {int64_t(v.size())}, v));
    return true;
}

const std::map<std::string, Folder>& folders() {
    static const std::map<std::string, Folder> m = [] {
        std::map<std::string, Folder> r;
        for (const char* op : {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Mod", "Equal", "Greater",
                               "Less", "GreaterOrEqual", "LessOrEqual", "And", "Or", "Xor"})
            r[op] = binary;
        for (const char* op : {"Neg", "Abs", "Floor", "Ceil", "Sqrt", "Exp", "Log", "Reciprocal", "Sign", "Relu", "Not",
                               "Round"})
            r[op] = unaryOp;
        r["Cast"] = castOp;
        addQdqFolders(r);
        r["Identity"] = identityOp;
        r["Reshape"] = reshapeOp;
        r["Flatten"] = flattenOp;
        r["Squeeze"] = squeezeOp;
        r["Unsqueeze"] = unsqueezeOp;
        r["Concat"] = concatOp;
        r["Gather"] = gatherOp;
        r["Slice"] = sliceOp;
        r["Transpose"] = transposeOp;
        r["Where"] = whereOp;
        r["ConstantOfShape"] = constantOfShapeOp;
        r["Range"] = rangeOp;
        r["Expand"] = expandOp;
        r["Tile"] = tileOp;
        for (const char* op : {"ReduceSum", "ReduceProd", "ReduceMax", "ReduceMin", "ReduceMean"}) r[op] = reduceOp;
        r["ArgMax"] = argOp;
        r["ArgMin"] = argOp;
        r["IsNaN"] = isNanInfOp;
        r["IsInf"] = isNanInfOp;
        r["NonZero"] = nonZeroOp;
        r["Trilu"] = triluOp;
        r["CumSum"] = cumSumOp;
        r["EyeLike"] = eyeLikeOp;
        r["BitShift"] = bitShiftOp;
        r["TopK"] = topKOp;
        r["GatherElements"] = gatherElementsOp;
        r["OneHot"] = oneHotOp;
        r["Einsum"] = einsumOp;
        r["Det"] = detOp;
        r["ScatterND"] = scatterNDOp;
        r["ScatterElements"] = scatterElementsOp;
        r["GatherND"] = gatherNDOp;
        return r;
    }();
    return m;
}

const std::set<std::string>& foldOnlyOps() {
    // Ops imported only when their inputs are known; those with a converter are not listed.
    static const std::set<std::string> s = [] {
        std::set<std::string> r{"Range", "ConstantOfShape", "Equal", "Where", "NonZero", "Not", "And", "Or", "Xor",
                                "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "TopK", "ArgMax", "ArgMin", "Einsum",
                                "Trilu", "CumSum", "ScatterND", "ScatterElements", "GatherND", "GatherElements",
                                "OneHot", "Mod", "IsNaN", "IsInf", "BitShift", "EyeLike", "RandomNormal",
                                "RandomUniform", "Det"};
        for (const auto& kv : converters()) r.erase(kv.first);
        return r;
    }();
    return s;
}

const std::set<std::string>& noFoldOps() {
    static const std::set<std::string> s{"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                                         "Multinomial", "Bernoulli"};
    return s;
}

}  // namespace onnx
}  // namespace gie
