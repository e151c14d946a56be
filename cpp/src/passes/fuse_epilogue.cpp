// Vertical fusion ("CBR"): Convolution / Deconvolution / FullyConnected + bias [+ residual add]
// [+ activation] become one kernel whose epilogue applies bias, residual and activation.
//   conv -> ElementWise SUM(conv, r) [-> Activation]   : r becomes the conv's second (residual) input
//   conv -> Activation                                  : the activation moves into the conv's fields
//   FC over the last axis -> ElementWise SUM(fc, constant along that axis) : the constant becomes the FC's bias
// Declined fusions (and why) go into the node notes for the build report.
#include <cstring>
#include <functional>

#include "layers/simple.h"
#include "passes/pass.h"

namespace gie {
namespace {

bool isEpilogueProducer(const IrNode& n) {
    return !n.userPlugin && (n.type == "Convolution" || n.type == "Deconvolution" || n.type == "FullyConnected");
}

//! True if tensor `target` is computed from node `from`'s outputs (so feeding it back into `from` would be a cycle).
bool reaches(const Graph& g, int from, int target) {
    std::vector<int> stack(g.nodes[static_cast<size_t>(from)].outputs.begin(), g.nodes[static_cast<size_t>(from)].outputs.end());
    std::vector<bool> seen(g.tensors.size(), false);
    while (!stack.empty()) {
        int t = stack.back();
        stack.pop_back();
        if (t == target) return true;
        if (seen[static_cast<size_t>(t)]) continue;
        seen[static_cast<size_t>(t)] = true;
        for (int c : g.consumers(t))
            for (int o : g.nodes[static_cast<size_t>(c)].outputs) stack.push_back(o);
    }
    return false;
}

class FuseEpilogue final : public Pass {
public:
    const char* name() const override { return "fuse_epilogue"; }
    int run(Graph& g, PassContext& ctx) override {
        int changes = 0;
        for (int pi : g.topologicalOrder()) {
            IrNode& p = g.nodes[static_cast<size_t>(pi)];
            if (p.dead || !isEpilogueProducer(p)) continue;
            // Residual add, then activation, each on the single consumer of the current output.
            for (int step = 0; step < 2; ++step) {
                int t = p.outputs[0];
                const IrTensor& tt = g.tensors[static_cast<size_t>(t)];
                auto cons = g.consumers(t);
                if (tt.isOutput || cons.size() != 1) break;
                IrNode& c = g.nodes[static_cast<size_t>(cons[0])];
                if (p.fields.getInt("activation_type", -1) >= 0) break;  // nothing can follow an activation
                auto decline = [&](const std::string& why) {
                    c.notes.push_back("fuse_epilogue: not fused into '" + p.name + "': " + why);
                };
                // A layer pinned to a precision stays a kernel of that precision (ILayer::setPrecision).
                if ((c.type == "Activation" || c.type == "ElementWise") && !c.userPlugin && c.precisionSet &&
                    (!p.precisionSet || p.precision != c.precision)) {
                    decline(std::string("its precision is pinned to ") + dataTypeName(c.precision) + " and the producer's is " +
                            (p.precisionSet ? dataTypeName(p.precision) : "not"));
                    break;
                }
                if (c.type == "ElementWise" && !c.userPlugin && c.fields.getInt("op", -1) == 0 && c.inputs.size() == 2) {
                    if (p.inputs.size() != 1) break;
                    if (p.type == "FullyConnected" && foldBias(g, p, c, t, ctx)) {
                        ++changes;
                        continue;
                    }
                    if (p.type != "Convolution") {
                        decline(p.type + " has no residual epilogue");
                        break;
                    }
                    int r = c.inputs[0] == t ? c.inputs[1] : c.inputs[0];
                    if (c.inputs[0] == c.inputs[1]) {
                        decline("both addends are the convolution output");
                        break;
                    }
                    const IrTensor& rt = g.tensors[static_cast<size_t>(r)];
                    if (!(rt.dims == tt.dims) || rt.type != tt.type) {
                        decline("the other addend is broadcast or of another type");
                        break;
                    }
                    if (reaches(g, pi, r)) {
                        decline("the other addend depends on the convolution output");
                        break;
                    }
                    p.inputs.push_back(r);
                    absorb(g, p, c, "residual add", ctx);
                    ++changes;
                    continue;
                }
                if (c.type == "Activation" && !c.userPlugin) {
                    // Every activation has an epilogue form (the same formulas, layers/activation_math.h). The
                    // op resolves the defaults so that the fused kernel sees explicit values.
                    ActivationOp op(c.fields);
                    p.fields.setInt("activation_type", static_cast<int64_t>(op.type));
                    p.fields.setFloat("activation_alpha", op.alpha);
                    p.fields.setFloat("activation_beta", op.beta);
                    absorb(g, p, c, "activation", ctx);
                    ++changes;
                }
                break;
            }
        }
        if (changes) g.compact();
        return changes;
    }

private:
    //! FullyConnected over the last axis without a bias, plus a float constant that varies only along that axis
    //! (torch nn.Linear on a sequence: MatMul then Add): the constant becomes the bias.
    static bool foldBias(Graph& g, IrNode& p, IrNode& c, int t, PassContext& ctx) {
        const int r = c.inputs[0] == t ? c.inputs[1] : c.inputs[0];
        const IrTensor& rt = g.tensors[static_cast<size_t>(r)];
        const IrTensor& out = g.tensors[static_cast<size_t>(t)];
        const int rank = out.dims.nbDims;
        const int64_t K = p.fields.getInt("num_outputs", 0);
        if (r == t || p.fields.count("bias") || !rt.constant || rt.type != DataType::kFLOAT || out.type != DataType::kFLOAT ||
            p.fields.getInt("axis", 1) != rank - 1 || rt.dims.nbDims > rank || volume(rt.dims) != K ||
            rt.constant->size() != static_cast<size_t>(K) * sizeof(float) || !(g.tensors[static_cast<size_t>(c.outputs[0])].dims == out.dims))
            return false;
        for (int i = 0; i + 1 < rt.dims.nbDims; ++i)
            if (rt.dims.d[i] != 1) return false;
        std::vector<float> bias(static_cast<size_t>(K));
        std::memcpy(bias.data(), rt.constant->data(), bias.size() * sizeof(float));
        p.fields.setFloats("bias", bias);
        absorb(g, p, c, "bias add", ctx);
        return true;
    }

    static void absorb(Graph& g, IrNode& p, IrNode& c, const char* what, PassContext& ctx) {
        (void)g;
        p.outputs[0] = c.outputs[0];
        p.outputTypes = c.outputTypes;  // the pins of the output it now writes
        p.sourceLayers.insert(p.sourceLayers.end(), c.sourceLayers.begin(), c.sourceLayers.end());
        p.notes.push_back(std::string("fuse_epilogue: fused ") + what + " '" + c.name + "'");
        ctx.log.push_back(std::string("fuse_epilogue: fused ") + what + " '" + c.name + "' into '" + p.name + "'");
        c.dead = true;
    }
};

}  // namespace

std::unique_ptr<Pass> makeFuseEpilogue() { return std::make_unique<FuseEpilogue>(); }

}  // namespace gie
