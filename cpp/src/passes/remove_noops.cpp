// Removes layers that do nothing: Identity (what importers make of Dropout), Cast to the same type,
// Shuffles that neither permute nor change the shape, all-zero Padding, and identity Scales. Readers are
// rewired to the layer's input; if the layer's output is a network output, its producer writes it.
#include "common/dims.h"
#include "layers/shuffle.h"
#include "passes/pass.h"

namespace gie {
namespace {

bool isIdentityPerm(const std::vector<int64_t>& p) {
    for (size_t i = 0; i < p.size(); ++i)
        if (p[i] != static_cast<int64_t>(i)) return false;
    return true;
}

//! Why a node is a no-op, or "" if it is not.
std::string noopReason(const Graph& g, const IrNode& n) {
    if (n.userPlugin || n.inputs.size() != 1 || n.outputs.size() != 1) return "";
    const IrTensor& in = g.tensors[static_cast<size_t>(n.inputs[0])];
    const IrTensor& out = g.tensors[static_cast<size_t>(n.outputs[0])];
    if (!(in.dims == out.dims) || in.type != out.type) return "";
    if (n.type == "Identity") return "identity";
    if (n.type == "Cast") return "cast to the same type";
    if (n.type == "Shuffle") {
        ShuffleOp op(n.fields);
        bool keepsBatch = !op.hasReshape || (!op.reshape.empty() && (op.reshape[0] == 0 || op.reshape[0] == -1));
        if (isIdentityPerm(op.perm1) && isIdentityPerm(op.perm2) && keepsBatch) return "shuffle that keeps the shape";
        return "";
    }
    if (n.type == "Padding") {
        for (int64_t v : n.fields.ints("pre_padding")) if (v) return "";
        for (int64_t v : n.fields.ints("post_padding")) if (v) return "";
        return "zero padding";
    }
    if (n.type == "Scale") {
        for (float v : n.fields.floats("scale")) if (v != 1.f) return "";
        for (float v : n.fields.floats("shift")) if (v != 0.f) return "";
        for (float v : n.fields.floats("power")) if (v != 1.f) return "";
        return "scale by 1, shift by 0";
    }
    return "";
}

class RemoveNoops final : public Pass {
public:
    const char* name() const override { return "remove_noops"; }
    int run(Graph& g, PassContext& ctx) override {
        int changes = 0;
        for (int ni : g.topologicalOrder()) {
            IrNode& n = g.nodes[static_cast<size_t>(ni)];
            std::string why = noopReason(g, n);
            if (why.empty()) continue;
            int in = n.inputs[0], out = n.outputs[0];
            IrTensor& it = g.tensors[static_cast<size_t>(in)];
            IrTensor& ot = g.tensors[static_cast<size_t>(out)];
            if (!ot.isOutput) {
                if (it.dynamicRange < 0) it.dynamicRange = ot.dynamicRange;  // INT8: the surviving tensor keeps a range set on either
                for (auto& c : g.nodes)
                    if (!c.dead)
                        for (int& t : c.inputs)
                            if (t == out) t = in;
            } else {
                int p = g.producer(in);
                if (p < 0 || it.isOutput || it.isInput || it.constant || g.consumers(in).size() != 1) continue;  // a copy is needed
                if (ot.dynamicRange < 0) ot.dynamicRange = it.dynamicRange;
                for (int& t : g.nodes[static_cast<size_t>(p)].outputs)
                    if (t == in) t = out;
                g.nodes[static_cast<size_t>(p)].sourceLayers.insert(g.nodes[static_cast<size_t>(p)].sourceLayers.end(),
                                                                     n.sourceLayers.begin(), n.sourceLayers.end());
            }
            n.dead = true;
            ctx.log.push_back("remove_noops: removed '" + n.name + "' (" + why + ")");
            ++changes;
        }
        if (changes) g.compact();
        return changes;
    }
};

}  // namespace

std::unique_ptr<Pass> makeRemoveNoops() { return std::make_unique<RemoveNoops>(); }

}  // namespace gie
