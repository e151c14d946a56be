// Recognises the gate of a squeeze-and-excitation block as torchvision's MobileNetV3 / EfficientNet export it:
//   GlobalAveragePool(x) -> 1x1 Conv -> activation -> 1x1 Conv -> Sigmoid | HardSigmoid -> Mul with x
// (the pool as the ONNX importer makes it, a Reduce AVG over the spatial axes, or as the network API spells it, an
// average Pooling whose window covers the unpadded input)
// and makes the pool, both convolutions and both activations one SqueezeExcitation layer (layers/
// squeeze_excitation.h: one pooling kernel and one small per-sample kernel on the GPU instead of a pooling and two
// convolutions with fused activations); the Mul (the channel scale) stays. Runs after recognize_activations (EfficientNet's SiLU is one Activation by then) and before
// fuse_epilogue would move the activations into the convolutions. Only exact matches: the mean over every spatial
// dimension with kept dimensions, plain 1x1 convolutions (stride 1, no padding, one group, no fused epilogue),
// every intermediate read only inside the pattern, and the gate read by one product with x.
#include "layers/convolution.h"
#include "layers/pooling.h"
#include "layers/reduce.h"
#include "layers/simple.h"
#include "passes/pattern_match.h"

namespace gie {
namespace {

class RecognizeSqueezeExcitation final : public RecognizerPass {
public:
    const char* name() const override { return "recognize_squeeze_excitation"; }

private:
    //! A 1x1 convolution that is a plain matrix-vector product per sample.
    bool isPointwiseConv(int ni) const {
        if (ni < 0 || !isNode(ni, "Convolution", 1)) return false;
        const ConvolutionOp c(node(ni).fields);
        return c.R == 1 && c.S == 1 && c.sh == 1 && c.sw == 1 && c.pt == 0 && c.pl == 0 && c.pb == 0 && c.pr == 0 && c.dh == 1 &&
               c.dw == 1 && c.groups == 1 && c.activation < 0;
    }

    //! Node ni averages its input (N, C, spatial...) over every spatial dimension into (N, C, 1, ...).
    bool isGlobalMean(int ni) const {
        if (ni < 0 || node(ni).inputs.size() != 1) return false;
        const IrNode& pn = node(ni);
        const Dims& xd = tensor(pn.inputs[0]).dims;
        const int rank = xd.nbDims;
        if (rank < 3) return false;
        if (isNode(ni, "Reduce", 1)) {
            if (pn.fields.getInt("op", -1) != static_cast<int64_t>(ReduceOperation::kAVG) || pn.fields.getInt("keep_dims", 1) != 1) return false;
            std::vector<bool> reduced(static_cast<size_t>(rank), false);
            for (int64_t ax : pn.fields.ints("axes")) {
                if (ax < -rank || ax >= rank) return false;
                reduced[static_cast<size_t>(ax < 0 ? ax + rank : ax)] = true;
            }
            for (int i = 0; i < rank; ++i)
                if (reduced[static_cast<size_t>(i)] != (i >= 2)) return false;
            return true;
        }
        if (!isNode(ni, "Pooling", 1) || rank != 4) return false;
        const PoolingOp po(pn.fields);
        if (po.type != PoolingType::kAVERAGE || po.pt || po.pl || po.pb || po.pr) return false;
        int64_t wh = 0, ww = 0;
        po.window(xd.d[2], xd.d[3], wh, ww);
        const Dims& od = tensor(pn.outputs[0]).dims;
        return wh == xd.d[2] && ww == xd.d[3] && od.nbDims == 4 && od.d[2] == 1 && od.d[3] == 1;
    }

    bool match(int s, PassContext& ctx) override {
        if (!isActivation(s, ActivationType::kSIGMOID) && !isActivation(s, ActivationType::kHARD_SIGMOID)) return false;
        const int c2 = soleProducer(node(s).inputs[0], s);
        if (!isPointwiseConv(c2)) return false;
        const int a = soleProducer(node(c2).inputs[0], c2);
        if (a < 0 || !isNode(a, "Activation", 1)) return false;
        const int c1 = soleProducer(node(a).inputs[0], a);
        if (!isPointwiseConv(c1)) return false;
        const int p = soleProducer(node(c1).inputs[0], c1);
        if (!isGlobalMean(p)) return false;
        const int x = node(p).inputs[0];
        const IrTensor& xt = tensor(x);
        if (xt.type != DataType::kFLOAT) return false;
        // The gate feeds one channel-scale product with x.
        const int m = soleReader(node(s).outputs[0]);
        if (!isElementWise(m, ElementWiseOperation::kPROD) || otherInput(m, node(s).outputs[0]) != x) return false;
        const ConvolutionOp k1(node(c1).fields), k2(node(c2).fields);
        if (k2.K != xt.dims.d[1]) return false;
        const ActivationOp act(node(a).fields), gate(node(s).fields);

        const std::vector<int> matched{s, c2, a, c1, p};
        std::vector<std::string> sources;
        std::string names;
        describe(matched, sources, names);
        FieldMap f;
        f.setInt("squeeze", k1.K);
        f.setFloats("kernel1", node(c1).fields.floats("kernel"));
        if (k1.biasCount) f.setFloats("bias1", node(c1).fields.floats("bias"));
        f.setInt("activation", static_cast<int64_t>(act.type));
        f.setFloat("alpha", act.alpha);
        f.setFloat("beta", act.beta);
        f.setFloats("kernel2", node(c2).fields.floats("kernel"));
        if (k2.biasCount) f.setFloats("bias2", node(c2).fields.floats("bias"));
        f.setInt("gate", static_cast<int64_t>(gate.type));
        f.setFloat("gate_alpha", gate.alpha);
        f.setFloat("gate_beta", gate.beta);
        for (size_t i = 1; i < matched.size(); ++i) node(matched[i]).dead = true;
        IrNode& r = node(s);
        r.type = "SqueezeExcitation";
        r.fields = f;
        r.inputs = {x};
        r.sourceLayers = sources;
        const std::string line = "recognize_squeeze_excitation: " + names + " became one SqueezeExcitation (squeeze " +
                                 std::to_string(k1.K) + ") feeding the channel scale '" + node(m).name + "'";
        r.notes.push_back(line);
        ctx.log.push_back(line);
        return true;
    }
};

}  // namespace

std::unique_ptr<Pass> makeRecognizeSqueezeExcitation() { return std::make_unique<RecognizeSqueezeExcitation>(); }

}  // namespace gie
