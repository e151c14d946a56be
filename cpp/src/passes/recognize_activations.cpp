// Recognises activations that a model spells as several layers and replaces each by one Activation layer, which
// costs one pass over memory instead of two or five and which fuse_epilogue then moves into the producing
// convolution / fully connected layer (EfficientNet's SiLU after every convolution becomes part of the conv):
//   Mul(x, Sigmoid(x))                               -> SILU        (Swish; the ONNX export of torch SiLU)
//   Mul(x, HardSigmoid(x; alpha 1/6, beta 1/2))      -> HARD_SWISH  (torch hardswish exported before opset 14)
//   Mul(x, Tanh(Softplus(x)))                        -> MISH
//   x * 0.5 * (1 + Erf(x / sqrt 2))                  -> GELU        (the three orders of the two products; the
//                                                                    division may be a product by 1 / sqrt 2)
// Runs before fold_constant_operands, while the constants 0.5, 1 and sqrt 2 are still element-wise operands.
// Every intermediate tensor must have that one reader and not be a network output, and nothing broadcasts: x
// and the result have the same shape. The rewrite is exact in real arithmetic; in float it rounds as the one
// formula of layers/activation_math.h does (within the tolerances of docs/layers_core.md).
#include <cmath>
#include <cstring>

#include "common/dims.h"
#include "gie/network.h"
#include "layers/simple.h"
#include "passes/pass.h"

namespace gie {
namespace {

class RecognizeActivations final : public Pass {
public:
    const char* name() const override { return "recognize_activations"; }
    int run(Graph& g, PassContext& ctx) override {
        g_ = &g;
        int changes = 0;
        for (int ni : g.topologicalOrder()) {
            if (node(ni).dead) continue;
            std::vector<int> matched;  // the replaced nodes, the result first
            int x = -1;
            ActivationType t{};
            if (!matchGateProduct(ni, matched, x, t) && !matchGelu(ni, matched, x, t)) continue;
            replace(matched, x, t, ctx);
            ++changes;
        }
        if (changes) g.compact();
        return changes;
    }

private:
    Graph* g_ = nullptr;

    IrNode& node(int i) const { return g_->nodes[static_cast<size_t>(i)]; }
    const IrTensor& tensor(int i) const { return g_->tensors[static_cast<size_t>(i)]; }

    bool isActivation(int ni, ActivationType t) const {
        const IrNode& n = node(ni);
        return !n.dead && !n.userPlugin && n.type == "Activation" && n.inputs.size() == 1 &&
               n.fields.getInt("activation_type", -1) == static_cast<int64_t>(t);
    }
    bool isElementWise(int ni, ElementWiseOperation op) const {
        const IrNode& n = node(ni);
        return !n.dead && !n.userPlugin && n.type == "ElementWise" && n.inputs.size() == 2 &&
               n.fields.getInt("op", -1) == static_cast<int64_t>(op);
    }
    //! The node reading tensor t, if it is the only one and t is not a network output; else -1.
    int soleReader(int t) const {
        if (tensor(t).isOutput) return -1;
        std::vector<int> c = g_->consumers(t);
        return c.size() == 1 ? c[0] : -1;
    }
    //! The input of two-input node ni that is not t (-1 if both are t or neither is).
    int otherInput(int ni, int t) const {
        const IrNode& n = node(ni);
        if (n.inputs[0] == t && n.inputs[1] != t) return n.inputs[1];
        if (n.inputs[1] == t && n.inputs[0] != t) return n.inputs[0];
        return -1;
    }
    //! Whether tensor t is a float constant holding one value, close to `v` (relative `tol`).
    bool isScalar(int t, double v, double tol = 0.0) const {
        if (t < 0) return false;
        const IrTensor& c = tensor(t);
        if (!c.constant || c.type != DataType::kFLOAT || volume(c.dims) != 1 || c.constant->size() != sizeof(float))
            return false;
        float got;
        std::memcpy(&got, c.constant->data(), sizeof(float));
        return std::fabs(static_cast<double>(got) - v) <= tol * std::fabs(v);
    }
    //! x and the result of the pattern have the same shape and are float (no broadcast hides in the pattern).
    bool sameShape(int x, int result) const {
        const IrTensor& a = tensor(x);
        const IrTensor& b = tensor(result);
        return a.type == DataType::kFLOAT && b.type == DataType::kFLOAT && a.dims == b.dims;
    }

    //! Mul(x, gate(x)) where gate is Sigmoid, HardSigmoid(1/6, 1/2) or Tanh(Softplus(x)); ni is the gate's first
    //! node.
    bool matchGateProduct(int ni, std::vector<int>& matched, int& x, ActivationType& t) const {
        const IrNode& first = node(ni);
        if (first.dead || first.userPlugin || first.type != "Activation" || first.inputs.size() != 1) return false;
        x = first.inputs[0];
        int gateOut = first.outputs[0];
        std::vector<int> gate{ni};
        if (isActivation(ni, ActivationType::kSIGMOID)) {
            t = ActivationType::kSILU;
        } else if (isActivation(ni, ActivationType::kHARD_SIGMOID)) {
            ActivationOp op(first.fields);  // resolves the defaults (0.2, 0.5): not a hard swish
            if (std::fabs(op.alpha - 1.0 / 6.0) > 1e-6 || op.beta != 0.5f) return false;
            t = ActivationType::kHARD_SWISH;
        } else if (isActivation(ni, ActivationType::kSOFTPLUS)) {
            const int th = soleReader(gateOut);
            if (th < 0 || !isActivation(th, ActivationType::kTANH)) return false;
            gate.push_back(th);
            gateOut = node(th).outputs[0];
            t = ActivationType::kMISH;
        } else {
            return false;
        }
        const int m = soleReader(gateOut);
        if (m < 0 || !isElementWise(m, ElementWiseOperation::kPROD) || otherInput(m, gateOut) != x) return false;
        if (!sameShape(x, node(m).outputs[0])) return false;
        matched = {m};
        matched.insert(matched.end(), gate.begin(), gate.end());
        return true;
    }

    //! x * 0.5 * (1 + Erf(x / sqrt 2)) in any of its three product orders; ni is the Erf.
    bool matchGelu(int ni, std::vector<int>& matched, int& x, ActivationType& t) const {
        const IrNode& e = node(ni);
        if (e.dead || e.userPlugin || e.type != "Unary" || e.inputs.size() != 1 ||
            e.fields.getInt("op", -1) != static_cast<int64_t>(UnaryOperation::kERF))
            return false;
        // Erf's input: x / sqrt2 or x * (1 / sqrt2), read only by the Erf.
        const int u = e.inputs[0];
        const int d = g_->producer(u);
        if (d < 0 || soleReader(u) != ni) return false;
        constexpr double kSqrt2 = 1.4142135623730951;
        if (isElementWise(d, ElementWiseOperation::kDIV) && isScalar(node(d).inputs[1], kSqrt2, 1e-6)) {
            x = node(d).inputs[0];
        } else if (isElementWise(d, ElementWiseOperation::kPROD)) {
            const IrNode& dn = node(d);
            if (isScalar(dn.inputs[1], 1.0 / kSqrt2, 1e-6)) x = dn.inputs[0];
            else if (isScalar(dn.inputs[0], 1.0 / kSqrt2, 1e-6)) x = dn.inputs[1];
            else return false;
        } else {
            return false;
        }
        // 1 + Erf(...)
        const int a = soleReader(e.outputs[0]);
        if (a < 0 || !isElementWise(a, ElementWiseOperation::kSUM) || !isScalar(otherInput(a, e.outputs[0]), 1.0)) return false;
        const int aOut = node(a).outputs[0];
        const int m1 = soleReader(aOut);
        if (m1 < 0 || !isElementWise(m1, ElementWiseOperation::kPROD)) return false;
        const int y = otherInput(m1, aOut);
        if (y < 0) return false;
        std::vector<int> found;
        if (y == x) {  // (x * (1 + erf)) * 0.5
            const int m2 = soleReader(node(m1).outputs[0]);
            if (m2 < 0 || !isElementWise(m2, ElementWiseOperation::kPROD) ||
                !isHalf(otherInput(m2, node(m1).outputs[0])))
                return false;
            found = {m2, m1};
        } else if (isHalf(y)) {  // ((1 + erf) * 0.5) * x
            const int m2 = soleReader(node(m1).outputs[0]);
            if (m2 < 0 || !isElementWise(m2, ElementWiseOperation::kPROD) || otherInput(m2, node(m1).outputs[0]) != x)
                return false;
            found = {m2, m1};
        } else {  // (x * 0.5) * (1 + erf)
            const int h = g_->producer(y);
            if (h < 0 || soleReader(y) != m1 || !isElementWise(h, ElementWiseOperation::kPROD)) return false;
            const IrNode& hn = node(h);
            const bool ok = (hn.inputs[0] == x && isHalf(hn.inputs[1])) || (hn.inputs[1] == x && isHalf(hn.inputs[0]));
            if (!ok) return false;
            found = {m1, h};
        }
        if (!sameShape(x, node(found[0]).outputs[0])) return false;
        found.push_back(a);
        found.push_back(ni);
        found.push_back(d);
        matched = found;
        t = ActivationType::kGELU;
        return true;
    }
    bool isHalf(int t) const { return isScalar(t, 0.5); }

    //! The result node matched[0] becomes Activation t of x; the other matched nodes die.
    void replace(const std::vector<int>& matched, int x, ActivationType t, PassContext& ctx) {
        IrNode& r = node(matched[0]);
        std::vector<std::string> sources;
        std::string names;
        for (size_t i = matched.size(); i-- > 0;) {  // in the order the layers run
            IrNode& n = node(matched[i]);
            sources.insert(sources.end(), n.sourceLayers.begin(), n.sourceLayers.end());
            names += (names.empty() ? "'" : ", '") + n.name + "'";
            if (i > 0) n.dead = true;
        }
        const char* what = t == ActivationType::kSILU         ? "SILU"
                           : t == ActivationType::kHARD_SWISH ? "HARD_SWISH"
                           : t == ActivationType::kMISH       ? "MISH"
                                                              : "GELU";
        r.type = "Activation";
        r.fields = FieldMap();
        r.fields.setInt("activation_type", static_cast<int64_t>(t));
        r.inputs = {x};
        r.sourceLayers = sources;
        r.notes.push_back(std::string("recognize_activations: ") + names + " became one " + what + " activation");
        ctx.log.push_back(std::string("recognize_activations: ") + names + " became one " + what + " activation");
    }
};

}  // namespace

std::unique_ptr<Pass> makeRecognizeActivations() { return std::make_unique<RecognizeActivations>(); }

}  // namespace gie
