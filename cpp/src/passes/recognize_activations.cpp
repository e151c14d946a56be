// Recognises activations that a model spells as several layers and replaces each by one Activation layer, which
// costs one pass over memory instead of two or five and which fuse_epilogue then moves into the producing
// convolution / fully connected layer (EfficientNet's SiLU after every convolution becomes part of the conv):
//   Mul(x, Sigmoid(x))                               -> SILU        (Swish; the ONNX export of torch SiLU)
//   Mul(x, HardSigmoid(x; alpha 1/6, beta 1/2))      -> HARD_SWISH  (torch hardswish exported before opset 14)
//   Mul(x, Tanh(Softplus(x)))                        -> MISH
//   x * 0.5 * (1 + Erf(x / sqrt 2))                  -> GELU        (the three orders of the two products; the
//                                                                    division may be a product by 1 / sqrt 2)
//   x * 0.5 * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 x^3)))  -> GELU_TANH  (torch gelu(approximate='tanh'); x^3 as
//                                                                    Pow(x, 3), x * (x * x) or (x * x) * x)
//   x * Clip(x + 3, 0, 6) / 6                        -> HARD_SWISH  (x * relu6(x + 3) / 6, the division after either
//                                                                    product, or a product by 1 / 6)
// Runs before fold_constant_operands, while the constants 0.5, 1 and sqrt 2 are still element-wise operands.
// Every intermediate tensor must have that one reader and not be a network output, and nothing broadcasts: x
// and the result have the same shape. The rewrite is exact in real arithmetic; in float it rounds as the one
// formula of layers/activation_math.h does (within the tolerances of docs/layers_core.md).
#include <cmath>

#include "layers/simple.h"
#include "passes/pattern_match.h"

namespace gie {
namespace {

class RecognizeActivations final : public RecognizerPass {
public:
    const char* name() const override { return "recognize_activations"; }

private:
    bool match(int ni, PassContext& ctx) override {
        std::vector<int> matched;  // the replaced nodes, the result first
        int x = -1;
        ActivationType t{};
        if (!matchGateProduct(ni, matched, x, t) && !matchGelu(ni, matched, x, t) && !matchGeluTanh(ni, matched, x, t) &&
            !matchHardSwishClip(ni, matched, x, t))
            return false;
        replace(matched, x, t, ctx);
        return true;
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
        if (!isUnary(ni, UnaryOperation::kERF)) return false;
        // Erf's input: x / sqrt2 or x * (1 / sqrt2), read only by the Erf.
        const int d = soleProducer(node(ni).inputs[0], ni);
        if (d < 0) return false;
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
        if (!matchHalfXOnePlus(ni, x, matched)) return false;
        matched.push_back(d);
        t = ActivationType::kGELU;
        return true;
    }

    //! x * 0.5 * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3))) (torch's export of gelu(approximate='tanh')); ni is
    //! the Tanh.
    bool matchGeluTanh(int ni, std::vector<int>& matched, int& x, ActivationType& t) const {
        if (!isActivation(ni, ActivationType::kTANH)) return false;
        const int u = soleProducer(node(ni).inputs[0], ni);  // sqrt(2/pi) * s
        if (!isElementWise(u, ElementWiseOperation::kPROD)) return false;
        constexpr double kBeta = 0.7978845608028654, kKappa = 0.044715;
        const IrNode& un = node(u);
        const int sT = isScalar(un.inputs[0], kBeta, 1e-6) ? un.inputs[1] : isScalar(un.inputs[1], kBeta, 1e-6) ? un.inputs[0] : -1;
        const int sN = soleProducer(sT, u);  // x + kappa * x^3
        if (!isElementWise(sN, ElementWiseOperation::kSUM)) return false;
        std::vector<int> inner;
        for (int side = 0; side < 2 && inner.empty(); ++side) {
            const int cand = node(sN).inputs[static_cast<size_t>(side)];
            const int k = soleProducer(node(sN).inputs[static_cast<size_t>(1 - side)], sN);  // kappa * x^3
            if (!isElementWise(k, ElementWiseOperation::kPROD)) continue;
            const IrNode& kn = node(k);
            const int cube = isScalar(kn.inputs[0], kKappa, 1e-6) ? kn.inputs[1] : isScalar(kn.inputs[1], kKappa, 1e-6) ? kn.inputs[0] : -1;
            std::vector<int> cubeNodes;
            if (isCube(cube, k, cand, cubeNodes)) {
                x = cand;
                inner = {u, sN, k};
                inner.insert(inner.end(), cubeNodes.begin(), cubeNodes.end());
            }
        }
        if (inner.empty() || !matchHalfXOnePlus(ni, x, matched)) return false;
        matched.insert(matched.end(), inner.begin(), inner.end());
        t = ActivationType::kGELU_TANH;
        return true;
    }
    //! Tensor c, read only by `reader`, is x^3: Pow(x, 3), x * (x * x) or (x * x) * x; its nodes into `nodes`.
    bool isCube(int c, int reader, int x, std::vector<int>& nodes) const {
        const int p = soleProducer(c, reader);
        if (p < 0) return false;
        if (isElementWise(p, ElementWiseOperation::kPOW)) {
            if (node(p).inputs[0] != x || !isScalar(node(p).inputs[1], 3.0)) return false;
            nodes = {p};
            return true;
        }
        if (!isElementWise(p, ElementWiseOperation::kPROD)) return false;
        const int sq = otherInput(p, x);  // x * x
        const int q = soleProducer(sq, p);
        if (!isElementWise(q, ElementWiseOperation::kPROD) || node(q).inputs[0] != x || node(q).inputs[1] != x) return false;
        nodes = {p, q};
        return true;
    }

    //! x * Clip(x + 3, 0, 6) / 6, the division (or product by 1/6) after either product; ni is the Clip.
    bool matchHardSwishClip(int ni, std::vector<int>& matched, int& x, ActivationType& t) const {
        if (!isActivation(ni, ActivationType::kCLIP)) return false;
        const ActivationOp op(node(ni).fields);
        if (op.alpha != 0.f || op.beta != 6.f) return false;
        const int a = soleProducer(node(ni).inputs[0], ni);  // x + 3
        if (!isElementWise(a, ElementWiseOperation::kSUM)) return false;
        const IrNode& an = node(a);
        x = isScalar(an.inputs[1], 3.0) ? an.inputs[0] : isScalar(an.inputs[0], 3.0) ? an.inputs[1] : -1;
        if (x < 0) return false;
        const int r1 = soleReader(node(ni).outputs[0]);
        if (r1 < 0) return false;
        int last = -1;
        if (isElementWise(r1, ElementWiseOperation::kPROD) && otherInput(r1, node(ni).outputs[0]) == x) {  // (x * clip) / 6
            last = soleReader(node(r1).outputs[0]);
            if (last < 0 || !isSixth(last, node(r1).outputs[0])) return false;
        } else if (isSixth(r1, node(ni).outputs[0])) {  // x * (clip / 6)
            last = soleReader(node(r1).outputs[0]);
            if (!isElementWise(last, ElementWiseOperation::kPROD) || otherInput(last, node(r1).outputs[0]) != x) return false;
        } else {
            return false;
        }
        if (!sameShape(x, node(last).outputs[0])) return false;
        matched = {last, r1, ni, a};
        t = ActivationType::kHARD_SWISH;
        return true;
    }
    //! Node ni is v / 6 or v * (1 / 6) (either order of the product).
    bool isSixth(int ni, int v) const {
        if (isElementWise(ni, ElementWiseOperation::kDIV)) return node(ni).inputs[0] == v && isScalar(node(ni).inputs[1], 6.0);
        return isElementWise(ni, ElementWiseOperation::kPROD) && isScalar(otherInput(ni, v), 1.0 / 6.0, 1e-6);
    }

    //! The tail of both GELUs: x * 0.5 * (1 + e) in any of its three product orders, where e is the output of
    //! node ni; on success `found` holds the result node first, then the others down to ni.
    bool matchHalfXOnePlus(int ni, int x, std::vector<int>& found) const {
        const int eOut = node(ni).outputs[0];
        const int a = soleReader(eOut);  // 1 + e
        if (a < 0 || !isElementWise(a, ElementWiseOperation::kSUM) || !isScalar(otherInput(a, eOut), 1.0)) return false;
        const int aOut = node(a).outputs[0];
        const int m1 = soleReader(aOut);
        if (m1 < 0 || !isElementWise(m1, ElementWiseOperation::kPROD)) return false;
        const int y = otherInput(m1, aOut);
        if (y < 0) return false;
        if (y == x) {  // (x * (1 + e)) * 0.5
            const int m2 = soleReader(node(m1).outputs[0]);
            if (m2 < 0 || !isElementWise(m2, ElementWiseOperation::kPROD) || !isHalf(otherInput(m2, node(m1).outputs[0])))
                return false;
            found = {m2, m1};
        } else if (isHalf(y)) {  // ((1 + e) * 0.5) * x
            const int m2 = soleReader(node(m1).outputs[0]);
            if (m2 < 0 || !isElementWise(m2, ElementWiseOperation::kPROD) || otherInput(m2, node(m1).outputs[0]) != x)
                return false;
            found = {m2, m1};
        } else {  // (x * 0.5) * (1 + e)
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
        return true;
    }
    bool isHalf(int t) const { return isScalar(t, 0.5); }

    //! The result node matched[0] becomes Activation t of x; the other matched nodes die.
    void replace(const std::vector<int>& matched, int x, ActivationType t, PassContext& ctx) {
        std::vector<std::string> sources;
        std::string names;
        describe(matched, sources, names);
        for (size_t i = 1; i < matched.size(); ++i) node(matched[i]).dead = true;
        const char* what = t == ActivationType::kSILU         ? "SILU"
                           : t == ActivationType::kHARD_SWISH ? "HARD_SWISH"
                           : t == ActivationType::kMISH       ? "MISH"
                           : t == ActivationType::kGELU_TANH  ? "GELU_TANH"
                                                              : "GELU";
        IrNode& r = node(matched[0]);
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
