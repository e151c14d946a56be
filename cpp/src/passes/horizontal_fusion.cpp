// Horizontal fusion: sibling convolutions that read the same tensor with the same kernel size, stride,
// padding, dilation and epilogue (e.g. the 1x1 convolutions of an inception module, each already fused
// with its ReLU) become one convolution with the filters concatenated. Each original output becomes a
// channel slice (view) of the wide output, so readers find their data in place without a copy.
// Readers must accept strided (sliced) inputs; a convolution whose readers do not is left out, with
// the reason in its notes.
#include <algorithm>
#include <map>
#include <tuple>

#include "common/dims.h"
#include "layers/convolution.h"
#include "passes/pass.h"

namespace gie {
namespace {

bool readsStrided(const IrNode& n, int t, DeviceType device) {
    // A view may only feed the data input of a convolution (never its residual), or any input of a
    // kernel that declares strided inputs.
    if (n.type == "Convolution" && !n.userPlugin && n.inputs.size() > 1 && n.inputs[1] == t) return false;
    std::unique_ptr<IPlugin> k;
    if (n.userPlugin) {
        k.reset(n.userPlugin->clone());
    } else if (IPluginCreator* c = getPluginRegistry()->getCreator(n.type.c_str(), nullptr, device)) {
        k.reset(c->createPlugin(n.name.c_str(), n.fields.collection()));
    }
    return k && k->supportsStridedInput();
}

//! The fields that must match for two convolutions to merge (everything but the filters and bias).
std::string signature(const IrNode& n) {
    ConvolutionOp op(n.fields);  // parsed, so that absent fields and explicit defaults compare equal
    return strcat(op.R, ",", op.S, "|", op.sh, ",", op.sw, "|", op.pt, ",", op.pl, ",", op.pb, ",", op.pr, "|", op.dh, ",", op.dw,
                  "|", op.groups, "|", op.activation, ",", op.actAlpha, ",", op.actBeta);
}

class HorizontalFusion final : public Pass {
public:
    const char* name() const override { return "horizontal_fusion"; }
    int run(Graph& g, PassContext& ctx) override {
        int changes = 0;
        size_t nTensors = g.tensors.size();
        for (size_t x = 0; x < nTensors; ++x) {
            std::map<std::string, std::vector<int>> groups;
            for (int ci : g.consumers(static_cast<int>(x))) {
                IrNode& c = g.nodes[static_cast<size_t>(ci)];
                if (c.type != "Convolution" || c.userPlugin || c.inputs.size() != 1 || c.inputs[0] != static_cast<int>(x)) continue;
                if (c.fields.getInt("num_groups", 1) != 1) continue;
                const IrTensor& out = g.tensors[static_cast<size_t>(c.outputs[0])];
                if (out.isOutput || out.viewOf >= 0) continue;
                std::string why;
                for (int r : g.consumers(c.outputs[0]))
                    if (!readsStrided(g.nodes[static_cast<size_t>(r)], c.outputs[0], ctx.device))
                        why = "reader '" + g.nodes[static_cast<size_t>(r)].name + "' (" + g.nodes[static_cast<size_t>(r)].type +
                              ") cannot read a channel slice";
                if (!why.empty()) {
                    c.notes.push_back("horizontal_fusion: not merged with its siblings: " + why);
                    continue;
                }
                groups[signature(c)].push_back(ci);
            }
            for (auto& [sig, members] : groups) {
                if (members.size() < 2) continue;
                merge(g, static_cast<int>(x), members, ctx);
                ++changes;
            }
        }
        if (changes) g.compact();
        return changes;
    }

private:
    static void merge(Graph& g, int x, const std::vector<int>& members, PassContext& ctx) {
        IrNode merged;
        const IrNode& first = g.nodes[static_cast<size_t>(members[0])];
        merged.type = "Convolution";
        merged.fields = first.fields;
        std::vector<float> kernel, bias;
        int64_t K = 0;
        bool anyBias = false;
        for (int m : members) anyBias = anyBias || g.nodes[static_cast<size_t>(m)].fields.has("bias");
        std::string names;
        for (int m : members) {
            const IrNode& c = g.nodes[static_cast<size_t>(m)];
            auto w = c.fields.floats("kernel");
            int64_t k = c.fields.getInt("num_output_maps", 0);
            kernel.insert(kernel.end(), w.begin(), w.end());
            auto b = c.fields.floats("bias");
            if (b.empty()) b.assign(static_cast<size_t>(k), 0.f);
            bias.insert(bias.end(), b.begin(), b.end());
            K += k;
            names += (names.empty() ? "" : "+") + c.name;
            merged.sourceLayers.insert(merged.sourceLayers.end(), c.sourceLayers.begin(), c.sourceLayers.end());
            for (const auto& note : c.notes) merged.notes.push_back(c.name + ": " + note);
        }
        merged.fields.setInt("num_output_maps", K);
        merged.fields.setFloats("kernel", kernel);
        if (anyBias) merged.fields.setFloats("bias", bias);
        merged.name = names;
        merged.inputs = {x};
        const IrTensor& o0 = g.tensors[static_cast<size_t>(first.outputs[0])];
        IrTensor wide;
        wide.name = names + "_output";
        wide.dims = o0.dims;
        wide.dims.d[1] = K;
        wide.type = o0.type;
        wide.dynamicDims = o0.dynamicDims;
        // INT8: the wide tensor holds every member's output, so its range covers theirs (unset if one is unset).
        bool allRanges = true;
        for (int m : members) {
            const float r = g.tensors[static_cast<size_t>(g.nodes[static_cast<size_t>(m)].outputs[0])].dynamicRange;
            allRanges = allRanges && r >= 0;
            wide.dynamicRange = std::max(wide.dynamicRange, r);
        }
        if (!allRanges) wide.dynamicRange = -1.f;
        int w = g.addTensor(wide);
        merged.outputs = {w};
        int64_t offset = 0;
        for (int m : members) {
            IrNode& c = g.nodes[static_cast<size_t>(m)];
            IrTensor& t = g.tensors[static_cast<size_t>(c.outputs[0])];
            t.viewOf = w;
            t.viewOffset = offset;
            offset += t.dims.d[1];  // channels (IrTensor::viewOffset)
            c.dead = true;
        }
        merged.notes.push_back("horizontal_fusion: " + std::to_string(members.size()) + " sibling convolutions merged; each output is a channel slice");
        ctx.log.push_back("horizontal_fusion: merged " + names);
        g.nodes.push_back(std::move(merged));
    }
};

}  // namespace

std::unique_ptr<Pass> makeHorizontalFusion() { return std::make_unique<HorizontalFusion>(); }

}  // namespace gie
