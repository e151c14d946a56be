// Recognises LayerNorm spelled as several layers, as torch exports F.layer_norm before opset 17, as the ONNX
// importer expands LayerNormalization, and as ConvNeXt writes its "LayerNorm over channels" by hand:
//   m = ReduceMean(x, [a]); d = x - m; v = ReduceMean(Pow(d, 2) or d * d, [a]);
//   n = d / Sqrt(v + eps); [n = n * scale]; [n = n + bias]              -> one LayerNorm layer over axis a
// (d may be computed twice, as ConvNeXt's reference code does.) Runs before fold_constant_operands, while scale
// and bias are still element-wise constant operands. It matches only what is exactly a LayerNorm: both means
// over the same one axis with kept dimensions, epsilon added to the variance (not to the standard deviation),
// every intermediate tensor read only inside the pattern and not a network output, and the result of x's shape.
// scale / bias are taken only when they are constants that vary along axis a alone (shape (n) against the last
// axis, (n, 1, 1) against NCHW's channels, or one value); otherwise the product / sum stays a layer of its own.
#include <algorithm>

#include "layers/reduce.h"
#include "passes/pattern_match.h"

namespace gie {
namespace {

class RecognizeLayerNorm final : public RecognizerPass {
public:
    const char* name() const override { return "recognize_layer_norm"; }

private:
    //! The one axis a ReduceMean node with kept dimensions reduces (normalised), or -1.
    int meanAxis(int ni) const {
        if (ni < 0 || !isNode(ni, "Reduce", 1)) return -1;
        const IrNode& n = node(ni);
        if (n.fields.getInt("op", -1) != static_cast<int64_t>(ReduceOperation::kAVG) || n.fields.getInt("keep_dims", 1) != 1) return -1;
        const std::vector<int64_t> axes = n.fields.ints("axes");
        const int rank = tensor(n.inputs[0]).dims.nbDims;
        if (axes.size() != 1 || axes[0] < -rank || axes[0] >= rank) return -1;
        return static_cast<int>(axes[0] < 0 ? axes[0] + rank : axes[0]);
    }
    //! The values of constant c, if it varies along axis `ax` of a rank-`rank` tensor with `len` elements there
    //! and nowhere else (one value: repeated); else empty.
    std::vector<float> perAxis(int c, int ax, int rank, int64_t len) const {
        std::vector<float> v = constFloats(c);
        if (v.empty()) return {};
        const Dims& d = tensor(c).dims;
        if (v.size() == 1) return std::vector<float>(static_cast<size_t>(len), v[0]);
        if (d.nbDims > rank || static_cast<int64_t>(v.size()) != len) return {};
        for (int i = 0; i < d.nbDims; ++i) {  // right-aligned against the tensor (numpy broadcasting)
            const int at = rank - d.nbDims + i;
            if (d.d[i] != 1 && at != ax) return {};
        }
        return v;
    }

    bool match(int r1, PassContext& ctx) override {
        const int ax = meanAxis(r1);
        if (ax < 0) return false;
        const int x = node(r1).inputs[0];
        const int mean = node(r1).outputs[0];
        const IrTensor& xt = tensor(x);
        if (xt.type != DataType::kFLOAT || tensor(mean).isOutput) return false;
        // Readers of the mean: one or two x - mean (ConvNeXt computes it twice).
        std::vector<int> subs = g_->consumers(mean);
        if (subs.empty() || subs.size() > 2) return false;
        std::vector<int> readers;  // of the differences: the square and the division
        for (int s : subs) {
            if (!isElementWise(s, ElementWiseOperation::kSUB) || node(s).inputs[0] != x || node(s).inputs[1] != mean) return false;
            if (tensor(node(s).outputs[0]).isOutput) return false;
            for (int r : g_->consumers(node(s).outputs[0])) readers.push_back(r);
        }
        if (readers.size() != 2 || readers[0] == readers[1]) return false;
        auto isDiff = [&](int t) { return std::any_of(subs.begin(), subs.end(), [&](int s) { return node(s).outputs[0] == t; }); };
        auto isSquare = [&](int n) {
            const IrNode& q = node(n);
            if (isElementWise(n, ElementWiseOperation::kPOW)) return isDiff(q.inputs[0]) && isScalar(q.inputs[1], 2.0);
            return isElementWise(n, ElementWiseOperation::kPROD) && q.inputs[0] == q.inputs[1] && isDiff(q.inputs[0]);
        };
        const int sq = isSquare(readers[0]) ? readers[0] : isSquare(readers[1]) ? readers[1] : -1;
        const int div = sq == readers[0] ? readers[1] : readers[0];
        if (sq < 0 || !isElementWise(div, ElementWiseOperation::kDIV) || !isDiff(node(div).inputs[0])) return false;
        if (subs.size() == 2 && node(sq).inputs[0] == node(div).inputs[0]) return false;  // the other difference unused
        // Variance, + eps, sqrt, and the division by it.
        const int r2 = soleReader(node(sq).outputs[0]);
        if (meanAxis(r2) != ax) return false;
        const int e = soleReader(node(r2).outputs[0]);
        if (!isElementWise(e, ElementWiseOperation::kSUM)) return false;
        const int epsT = otherInput(e, node(r2).outputs[0]);
        if (epsT < 0 || volume(tensor(epsT).dims) != 1) return false;
        const std::vector<float> eps = constFloats(epsT);
        if (eps.size() != 1 || !(eps[0] >= 0.f)) return false;
        const int sd = soleReader(node(e).outputs[0]);
        if (!isUnary(sd, UnaryOperation::kSQRT) || soleReader(node(sd).outputs[0]) != div || node(div).inputs[1] != node(sd).outputs[0])
            return false;
        std::vector<int> matched{div, sd, e, r2, sq};
        matched.insert(matched.end(), subs.begin(), subs.end());
        matched.push_back(r1);
        // Optional affine tail: * scale, then + bias (constants along the axis only); tail nodes go in front.
        const int rank = xt.dims.nbDims;
        const int64_t len = xt.dims.d[ax];
        std::vector<float> scale, bias;
        int last = div;
        int nx = soleReader(node(last).outputs[0]);
        if (isElementWise(nx, ElementWiseOperation::kPROD)) {
            scale = perAxis(otherInput(nx, node(last).outputs[0]), ax, rank, len);
            if (!scale.empty()) {
                matched.insert(matched.begin(), nx);
                last = nx;
                nx = soleReader(node(last).outputs[0]);
            }
        }
        if (isElementWise(nx, ElementWiseOperation::kSUM)) {
            bias = perAxis(otherInput(nx, node(last).outputs[0]), ax, rank, len);
            if (!bias.empty()) {
                matched.insert(matched.begin(), nx);
                last = nx;
            }
        }
        if (!sameShape(x, node(last).outputs[0])) return false;
        replace(matched, x, ax, eps[0], scale, bias, ctx);
        return true;
    }

    void replace(const std::vector<int>& matched, int x, int ax, float eps, const std::vector<float>& scale,
                 const std::vector<float>& bias, PassContext& ctx) {
        std::vector<std::string> sources;
        std::string names;
        describe(matched, sources, names);
        for (size_t i = 1; i < matched.size(); ++i) node(matched[i]).dead = true;
        IrNode& r = node(matched[0]);
        r.type = "LayerNorm";
        r.fields = FieldMap();
        r.fields.setInt("axis", ax);
        r.fields.setFloat("epsilon", eps);
        if (!scale.empty()) r.fields.setFloats("scale", scale);
        if (!bias.empty()) r.fields.setFloats("bias", bias);
        r.inputs = {x};
        r.sourceLayers = sources;
        const std::string line = "recognize_layer_norm: " + names + " became one LayerNorm over axis " + std::to_string(ax) +
                                 (scale.empty() ? "" : " with scale") + (bias.empty() ? "" : " and bias");
        r.notes.push_back(line);
        ctx.log.push_back(line);
    }
};

}  // namespace

std::unique_ptr<Pass> makeRecognizeLayerNorm() { return std::make_unique<RecognizeLayerNorm>(); }

}  // namespace gie
