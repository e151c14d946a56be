// Host folding of Einsum and Det on known inputs, with the semantics of onnx.reference (numpy.einsum and
// numpy.linalg.det). Neither has a gie layer: with run-time inputs they are unsupported.
#include <algorithm>
#include <cmath>
#include <string>

#include "parsers/onnx/onnx_fold.h"

namespace gie {
namespace onnx {
namespace fold {
namespace {

constexpr int kLETTERS = 52;  // 'A'..'Z' are labels 0..25, 'a'..'z' 26..51: numpy's (ASCII) order

//! One side of an einsum equation: its letter labels in order and where its ellipsis stands (-1: none).
struct Term {
    std::vector<int> labels;
    int ellipsisAt = -1;
};

Term parseTerm(const std::string& s, const std::string& what) {
    Term t;
    for (size_t k = 0; k < s.size();) {
        const char c = s[k];
        if (c >= 'A' && c <= 'Z') {
            t.labels.push_back(c - 'A');
            ++k;
        } else if (c >= 'a' && c <= 'z') {
            t.labels.push_back(26 + (c - 'a'));
            ++k;
        } else if (c == '.') {
            if (s.compare(k, 3, "...") != 0 || t.ellipsisAt >= 0)
                fail(ErrorCode::kINVALID_MODEL, "Einsum ", what, " '", s, "' has a '.' that is not part of one ellipsis ('...')");
            t.ellipsisAt = int(t.labels.size());
            k += 3;
        } else {
            fail(ErrorCode::kINVALID_MODEL, "Einsum ", what, " '", s, "' holds '", c, "'; subscripts must be letters");
        }
    }
    return t;
}

char labelChar(int l) { return l < 26 ? char('A' + l) : char('a' + (l - 26)); }

std::string termStr(const Term& t) {
    std::string s;
    for (size_t j = 0; j <= t.labels.size(); ++j) {
        if (int(j) == t.ellipsisAt) s += "...";
        if (j < t.labels.size()) s += labelChar(t.labels[j]);
    }
    return s;
}

}  // namespace

// numpy.einsum: a label repeated inside one operand takes its diagonal; labels missing from the output are
// summed over; dimensions of size 1 broadcast against the other operands' (letters and ellipsis alike); without
// "->" the output is the ellipsis dimensions followed by the labels seen exactly once, in ASCII order.
bool einsumOp(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    std::string eq;
    for (char c : a.req("equation").s)
        if (c != ' ') eq += c;
    if (eq.empty()) fail(ErrorCode::kINVALID_MODEL, "Einsum equation is empty");
    std::vector<const Value*> ops;
    for (size_t k = 0; k < n.input.size(); ++k) ops.push_back(&in(p, n, k));  // no optional inputs: all must be given
    if (ops.empty()) fail(ErrorCode::kINVALID_MODEL, "Einsum needs at least one input");
    const int32_t dtype = ops[0]->dtype;
    if (dtype == kBOOL || dtype == kSTRING)
        fail(ErrorCode::kINVALID_MODEL, "Einsum inputs have type ", tensorTypeName(dtype), "; Einsum takes numeric tensors");
    for (const Value* v : ops)
        if (v->dtype != dtype)
            fail(ErrorCode::kINVALID_MODEL, "Einsum inputs have different types (", tensorTypeName(dtype), ", ",
                 tensorTypeName(v->dtype), ")");
    const size_t arrow = eq.find("->");
    const std::string lhs = eq.substr(0, arrow);
    std::vector<Term> terms;
    for (size_t start = 0;;) {
        const size_t comma = lhs.find(',', start);
        terms.push_back(parseTerm(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start),
                                  strcat("operand ", terms.size())));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    if (terms.size() != ops.size())
        fail(ErrorCode::kINVALID_MODEL, "Einsum equation '", eq, "' names ", terms.size(), " operand(s), the node has ",
             ops.size(), " input(s)");
    // The ellipsis dimensions of every operand, right-aligned against the widest (numpy broadcasting).
    int64_t nEll = 0;
    for (size_t k = 0; k < terms.size(); ++k) {
        const int64_t r = int64_t(ops[k]->shape.size()), nl = int64_t(terms[k].labels.size());
        if (terms[k].ellipsisAt < 0 ? r != nl : r < nl)
            fail(ErrorCode::kINVALID_MODEL, "Einsum operand ", k, " has shape ", shapeStr(ops[k]->shape), ", but its subscripts '",
                 termStr(terms[k]), "' name ", nl, " dimension(s)", terms[k].ellipsisAt < 0 ? "" : " besides the ellipsis");
        if (terms[k].ellipsisAt >= 0) nEll = std::max(nEll, r - nl);
    }
    const int nLabels = kLETTERS + int(nEll);
    // Label of every dimension of every operand; sizes with size-1 broadcasting.
    std::vector<std::vector<int>> dimLabels(ops.size());
    std::vector<int64_t> size(size_t(nLabels), -1);
    std::vector<int> count(size_t(nLabels), 0);
    for (size_t k = 0; k < ops.size(); ++k) {
        const Term& t = terms[k];
        const int64_t e = int64_t(ops[k]->shape.size()) - int64_t(t.labels.size());
        for (size_t j = 0; j <= t.labels.size(); ++j) {
            if (int(j) == t.ellipsisAt)
                for (int64_t d = 0; d < e; ++d) dimLabels[k].push_back(kLETTERS + int(nEll - e + d));
            if (j < t.labels.size()) dimLabels[k].push_back(t.labels[j]);
        }
        std::vector<int64_t> own(size_t(nLabels), -1);  // a label repeated inside one operand: equal sizes (diagonal)
        for (size_t d = 0; d < dimLabels[k].size(); ++d) {
            const int l = dimLabels[k][d];
            const int64_t dim = ops[k]->shape[d];
            if (own[size_t(l)] >= 0 && own[size_t(l)] != dim)
                fail(ErrorCode::kINVALID_MODEL, "Einsum operand ", k, " repeats subscript '", labelChar(l),
                     "' over dimensions of different sizes (", own[size_t(l)], " and ", dim, ") in shape ",
                     shapeStr(ops[k]->shape));
            own[size_t(l)] = dim;
            if (l < kLETTERS) ++count[size_t(l)];
            int64_t& s = size[size_t(l)];
            if (s < 0 || s == 1) s = dim;
            else if (dim != 1 && dim != s)
                fail(ErrorCode::kINVALID_MODEL, "Einsum operands do not broadcast: ",
                     l < kLETTERS ? strcat("subscript '", labelChar(l), "'") : std::string("an ellipsis dimension"),
                     " has sizes ", s, " and ", dim, " (operand ", k, ", shape ", shapeStr(ops[k]->shape), ")");
        }
    }
    std::vector<int> outLabels;
    if (arrow == std::string::npos) {
        for (int64_t d = 0; d < nEll; ++d) outLabels.push_back(kLETTERS + int(d));
        for (int l = 0; l < kLETTERS; ++l)
            if (count[size_t(l)] == 1) outLabels.push_back(l);
    } else {
        const Term o = parseTerm(eq.substr(arrow + 2), "output");
        std::vector<bool> seen(size_t(kLETTERS), false);
        for (int l : o.labels) {
            if (count[size_t(l)] == 0)
                fail(ErrorCode::kINVALID_MODEL, "Einsum output subscript '", labelChar(l), "' appears in no operand");
            if (seen[size_t(l)]) fail(ErrorCode::kINVALID_MODEL, "Einsum output repeats subscript '", labelChar(l), "'");
            seen[size_t(l)] = true;
        }
        if (o.ellipsisAt < 0 && nEll > 0)
            fail(ErrorCode::kINVALID_MODEL, "Einsum operands have ellipsis dimensions, but the output of '", eq,
                 "' has no '...' to put them");
        for (size_t j = 0; j <= o.labels.size(); ++j) {
            if (int(j) == o.ellipsisAt)
                for (int64_t d = 0; d < nEll; ++d) outLabels.push_back(kLETTERS + int(d));
            if (j < o.labels.size()) outLabels.push_back(o.labels[j]);
        }
    }
    std::vector<bool> isOut(size_t(nLabels), false);
    for (int l : outLabels) isOut[size_t(l)] = true;
    std::vector<int> sumLabels;
    for (int l = 0; l < nLabels; ++l)
        if (size[size_t(l)] >= 0 && !isOut[size_t(l)]) sumLabels.push_back(l);
    std::vector<int64_t> outShape, sumShape;
    for (int l : outLabels) outShape.push_back(size[size_t(l)]);
    for (int l : sumLabels) sumShape.push_back(size[size_t(l)]);
    checkFoldOutput(p, n, 0, outShape);
    const int64_t steps = mulCapped(mulCapped(volume(outShape), volume(sumShape)), int64_t(ops.size()));
    if (steps > kMAX_FOLD_STEPS)
        throw FoldRefused(strcat("folding Einsum '", eq, "' would take ", steps, " multiplications (over the limit ",
                                 kMAX_FOLD_STEPS, ")"));
    // Per operand and label: the element stride that label moves (summed over repeats: the diagonal; 0 where the
    // operand broadcasts a size-1 dimension).
    std::vector<std::vector<int64_t>> stride(ops.size(), std::vector<int64_t>(size_t(nLabels), 0));
    for (size_t k = 0; k < ops.size(); ++k) {
        const std::vector<int64_t> st = stridesOf(ops[k]->shape);
        for (size_t d = 0; d < dimLabels[k].size(); ++d)
            if (ops[k]->shape[d] != 1) stride[k][size_t(dimLabels[k][d])] += st[d];
    }
    Value res = like(*ops[0], dtype, outShape);
    const bool isF = res.isFloat();
    const int64_t nOut = volume(outShape), nSum = volume(sumShape);
    std::vector<int64_t> opos(outLabels.size(), 0), spos(sumLabels.size(), 0), base(ops.size());
    for (int64_t e = 0; e < nOut; ++e) {
        for (size_t k = 0; k < ops.size(); ++k) {
            base[k] = 0;
            for (size_t j = 0; j < outLabels.size(); ++j) base[k] += opos[j] * stride[k][size_t(outLabels[j])];
        }
        double accF = 0;
        uint64_t accI = 0;
        std::fill(spos.begin(), spos.end(), 0);
        for (int64_t s = 0; s < nSum; ++s) {
            double pf = 1;
            uint64_t pi = 1;
            for (size_t k = 0; k < ops.size(); ++k) {
                int64_t off = base[k];
                for (size_t j = 0; j < sumLabels.size(); ++j) off += spos[j] * stride[k][size_t(sumLabels[j])];
                if (isF) pf *= double(ops[k]->f[size_t(off)]);
                else pi *= uint64_t(ops[k]->i[size_t(off)]);  // wrap-around, like numpy's fixed-width integers
            }
            accF += pf;
            accI += pi;
            nextIndex(spos, sumShape);
        }
        if (isF) res.f[size_t(e)] = float(accF);
        else res.i[size_t(e)] = wrapInt(dtype, int64_t(accI));
        nextIndex(opos, outShape);
    }
    out.push_back(std::move(res));
    return true;
}

// numpy.linalg.det over the last two dimensions: LU factorization with partial pivoting, in double.
bool detOp(Importer& p, const NodeProto& n, const Attrs&, std::vector<Value>& out) {
    const Value& x = in(p, n, 0);
    if (!x.isFloat())
        fail(ErrorCode::kINVALID_MODEL, "Det input has type ", tensorTypeName(x.dtype), "; Det takes floating-point tensors");
    const size_t r = x.shape.size();
    if (r < 2 || x.shape[r - 1] != x.shape[r - 2])
        fail(ErrorCode::kINVALID_MODEL, "Det input has shape ", shapeStr(x.shape),
             "; it must end in two equal dimensions (square matrices)");
    const int64_t m = x.shape[r - 1];
    const std::vector<int64_t> shape(x.shape.begin(), x.shape.end() - 2);
    checkFoldOutput(p, n, 0, shape);
    const int64_t batch = volume(shape);
    const int64_t steps = mulCapped(batch, mulCapped(m, mulCapped(m, m)));
    if (steps > kMAX_FOLD_STEPS)
        throw FoldRefused(strcat("folding Det of shape ", shapeStr(x.shape), " would take ", steps,
                                 " multiplications (over the limit ", kMAX_FOLD_STEPS, ")"));
    Value res = like(x, x.dtype, shape);
    if (batch == 0) {  // (0, m, m) holds no matrix, whatever m: allocate nothing for it
        out.push_back(std::move(res));
        return true;
    }
    std::vector<double> lu(size_t(m * m));
    for (int64_t b = 0; b < batch; ++b) {
        for (int64_t e = 0; e < m * m; ++e) lu[size_t(e)] = x.f[size_t(b * m * m + e)];
        double det = 1;
        for (int64_t c = 0; c < m && det != 0; ++c) {
            int64_t piv = c;
            for (int64_t i = c + 1; i < m; ++i)
                if (std::fabs(lu[size_t(i * m + c)]) > std::fabs(lu[size_t(piv * m + c)])) piv = i;
            if (piv != c) {
                for (int64_t j = 0; j < m; ++j) std::swap(lu[size_t(c * m + j)], lu[size_t(piv * m + j)]);
                det = -det;
            }
            const double d = lu[size_t(c * m + c)];
            det *= d;
            if (d == 0) break;
            for (int64_t i = c + 1; i < m; ++i) {
                const double f = lu[size_t(i * m + c)] / d;
                for (int64_t j = c + 1; j < m; ++j) lu[size_t(i * m + j)] -= f * lu[size_t(c * m + j)];
            }
        }
        res.f[size_t(b)] = float(det);
    }
    out.push_back(std::move(res));
    return true;
}

}  // namespace fold
}  // namespace onnx
}  // namespace gie
