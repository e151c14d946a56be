// Recognises scaled dot-product attention as torch exports it (nn.MultiheadAttention, F.scaled_dot_product_attention,
// a hand-written ViT / BERT block) and makes it one Attention layer (layers/attention.h):
//   MatMul(Q', K') -> [Mul | Div by a constant]* -> [Add mask] -> Softmax(last axis) -> MatMul(., V)
// where Q' is Q, possibly multiplied or divided by constants, and K' is K^T: a Transpose swapping the last two axes
// of K (or a MatMul with transpose_b), possibly with constant factors before or after it (torch's
// scaled_dot_product_attention export scales both Q and K^T by sqrt(scale)); a K' that is no such Transpose is
// taken as K^T itself (the layer's transpose_k). Every constant is one value; their product is the scale.
// Runs with the other recognisers, before fold_constant_operands turns the constant products into Scale layers and
// collapse_shuffles merges the Transpose into the head split before it.
// Only exact matches: every intermediate (scores, scaled scores, probabilities, scaled Q / K) read only inside the
// pattern and not a network output, nothing broadcast by the products, Q, K and V with the same batch dimensions,
// no layer pinned to a precision; on the GPU heads up to kAttentionGpuMaxHead wide.
#include <algorithm>
#include <cstdio>
#include <string>

#include "layers/attention.h"
#include "layers/shuffle.h"
#include "layers/softmax.h"
#include "passes/pattern_match.h"

namespace gie {
namespace {

class RecognizeAttention final : public RecognizerPass {
public:
    const char* name() const override { return "recognize_attention"; }

private:
    //! If tensor t (read only by `reader`) is a product with or a quotient by a one-value float constant that
    //! broadcasts nothing, returns its node, sets x to the other operand and multiplies `scale` by the factor; else -1.
    int scalarFactor(int t, int reader, double& scale, int& x) const {
        const int n = soleProducer(t, reader);
        if (n < 0) return -1;
        const bool mul = isElementWise(n, ElementWiseOperation::kPROD), div = isElementWise(n, ElementWiseOperation::kDIV);
        if (!mul && !div) return -1;
        const IrNode& e = node(n);
        for (int side = 0; side < 2; ++side) {
            if (div && side == 0) continue;  // c / x is no scaling
            const int c = e.inputs[static_cast<size_t>(side)], other = e.inputs[static_cast<size_t>(1 - side)];
            if (c == other || volume(tensor(c).dims) != 1 || tensor(c).dims.nbDims > tensor(other).dims.nbDims || !sameShape(other, t)) continue;
            const std::vector<float> v = constFloats(c);
            if (v.size() != 1 || (div && v[0] == 0.f)) continue;
            scale = div ? scale / static_cast<double>(v[0]) : scale * static_cast<double>(v[0]);
            x = other;
            return n;
        }
        return -1;
    }

    //! Whether node n is a Shuffle that only swaps the last two axes.
    bool isLastTwoSwap(int n) const {
        if (n < 0 || !isNode(n, "Shuffle", 1)) return false;
        const FieldMap& f = node(n).fields;
        if (f.has("reshape") || f.has("second_transpose") || !f.has("first_transpose")) return false;
        const std::vector<int64_t> perm = f.ints("first_transpose");
        const int64_t r = static_cast<int64_t>(perm.size());
        if (r < 2) return false;
        for (int64_t i = 0; i < r - 2; ++i)
            if (perm[static_cast<size_t>(i)] != i) return false;
        return perm[static_cast<size_t>(r - 2)] == r - 1 && perm[static_cast<size_t>(r - 1)] == r - 2;
    }

    //! Walks back from tensor t (read by `reader`) over constant factors (and, when `transposes`, Transposes of the
    //! last two axes, each toggling `transposed`) and returns the tensor they start from.
    int strip(int t, int reader, bool transposes, double& scale, bool& transposed, std::vector<int>& matched) const {
        for (int steps = 0; steps < 6; ++steps) {
            int x = -1;
            int n = scalarFactor(t, reader, scale, x);
            if (n < 0 && transposes) {
                n = soleProducer(t, reader);
                if (!isLastTwoSwap(n)) n = -1;
                else {
                    transposed = !transposed;
                    x = node(n).inputs[0];
                }
            }
            if (n < 0) break;
            matched.push_back(n);
            t = x;
            reader = n;
        }
        return t;
    }

    //! The scores chain ending in tensor t (read by `reader`): constant factors back to MatMul(Q', K'). Fills q, k,
    //! transposeK, scale and matched; false if t is not such a chain.
    bool scores(int t, int reader, int& q, int& k, bool& transposeK, double& scale, std::vector<int>& matched) const {
        std::vector<int> m;
        double s = 1.0;
        bool unused = false;
        const int st = strip(t, reader, false, s, unused, m);
        const int mm = soleProducer(st, m.empty() ? reader : m.back());
        if (mm < 0 || !isNode(mm, "MatrixMultiply", 2) || node(mm).fields.getInt("transpose_a", 0) != 0) return false;
        m.push_back(mm);
        const IrNode& qk = node(mm);
        if (qk.inputs[0] == qk.inputs[1]) return false;
        bool qT = false;
        q = strip(qk.inputs[0], mm, false, s, qT, m);
        // K' holds K^T unless the MatMul transposes it; each Transpose of the last two axes toggles that.
        bool kT = node(mm).fields.getInt("transpose_b", 0) == 0;
        k = strip(qk.inputs[1], mm, true, s, kT, m);
        transposeK = kT;
        scale = s;
        matched.insert(matched.end(), m.begin(), m.end());
        return true;
    }

    bool match(int sm, PassContext& ctx) override {
        if (!isNode(sm, "Softmax", 1)) return false;
        const IrNode& smn = node(sm);
        const int rank = tensor(smn.inputs[0]).dims.nbDims;
        const SoftmaxOp so(smn.fields);
        if (so.log || rank < 2 || (so.axis != rank - 1 && so.axis != -1)) return false;
        // The probabilities feed MatMul(P, V).
        const int pv = soleReader(smn.outputs[0]);
        if (pv < 0 || !isNode(pv, "MatrixMultiply", 2) || node(pv).inputs[0] != smn.outputs[0] || node(pv).inputs[1] == smn.outputs[0] ||
            node(pv).fields.getInt("transpose_a", 0) != 0 || node(pv).fields.getInt("transpose_b", 0) != 0)
            return false;
        const int v = node(pv).inputs[1];

        std::vector<int> matched{pv, sm};
        int q = -1, k = -1, mask = -1;
        bool transposeK = false;
        double scale = 1.0;
        const int in = smn.inputs[0];
        if (!scores(in, sm, q, k, transposeK, scale, matched)) {
            // scores + mask (either order)
            const int add = soleProducer(in, sm);
            if (!isElementWise(add, ElementWiseOperation::kSUM) || tensor(node(add).inputs[0]).type != DataType::kFLOAT) return false;
            matched.push_back(add);
            const IrNode& a = node(add);
            int side = 0;
            for (; side < 2; ++side)
                if (sameShape(a.inputs[static_cast<size_t>(side)], in) &&
                    scores(a.inputs[static_cast<size_t>(side)], add, q, k, transposeK, scale, matched))
                    break;
            if (side == 2) return false;
            mask = a.inputs[static_cast<size_t>(1 - side)];
            if (mask == a.inputs[static_cast<size_t>(side)] || tensor(mask).type != DataType::kFLOAT) return false;
        }
        for (int n : matched)
            if (node(n).precisionSet) return false;
        for (int t : {q, k, v})
            if (tensor(t).type != DataType::kFLOAT) return false;

        // The shapes the layer accepts, and the same result shape.
        FieldMap f;
        f.setFloat("scale", static_cast<float>(scale));
        f.setInt("transpose_k", transposeK ? 1 : 0);
        std::vector<Dims> dims{tensor(q).dims, tensor(k).dims, tensor(v).dims};
        if (mask >= 0) dims.push_back(tensor(mask).dims);
        AttentionOp::Problem p;
        try {
            p = AttentionOp(f).problem(dims);
        } catch (...) {
            return false;
        }
        if (!(p.out == tensor(node(pv).outputs[0]).dims)) return false;
        if (ctx.device == DeviceType::kGPU && (p.D > kAttentionGpuMaxHead || p.Dv > kAttentionGpuMaxHead)) {
            node(sm).notes.push_back("recognize_attention: not fused: heads of " + std::to_string(std::max(p.D, p.Dv)) +
                                     " exceed the GPU kernel's " + std::to_string(kAttentionGpuMaxHead));
            return false;
        }

        std::vector<std::string> sources;
        std::string names;
        describe(matched, sources, names);
        for (size_t i = 1; i < matched.size(); ++i) node(matched[i]).dead = true;
        IrNode& r = node(pv);
        r.type = "Attention";
        r.fields = f;
        r.inputs = {q, k, v};
        if (mask >= 0) r.inputs.push_back(mask);
        r.sourceLayers = sources;
        char sc[32];
        std::snprintf(sc, sizeof sc, "%.6g", scale);
        const std::string line = "recognize_attention: " + names + " became one Attention (scale " + sc + (mask >= 0 ? ", with mask" : "") +
                                 (transposeK ? ", K given transposed" : "") + ")";
        r.notes.push_back(line);
        ctx.log.push_back(line);
        return true;
    }
};

}  // namespace

std::unique_ptr<Pass> makeRecognizeAttention() { return std::make_unique<RecognizeAttention>(); }

}  // namespace gie
