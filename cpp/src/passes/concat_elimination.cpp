// Concatenation elimination: the producers of a channel concatenation (axis 1) write straight into their
// slice of its output, so no copy runs. Each input becomes a view (IrTensor::viewOf) of the output.
// An input whose producer cannot write in place (its kernel ignores output strides, it has other
// readers, it is a network input/output or a constant, ...) is copied into its slice by an Identity
// kernel, and the reason goes into that kernel's notes.
#include "common/dims.h"
#include "ir/graph.h"
#include "passes/pass.h"

namespace gie {
namespace {

bool producerWritesStrided(const IrNode& p, DeviceType device) {
    std::unique_ptr<IPlugin> k;
    if (p.userPlugin) {
        k.reset(p.userPlugin->clone());
    } else {
        IPluginCreator* c = getPluginRegistry()->getCreator(p.type.c_str(), nullptr, device);
        if (c) k.reset(c->createPlugin(p.name.c_str(), p.fields.collection()));
    }
    return k && k->supportsStridedOutput();
}

//! With INT8 (docs/int8.md) the slices of an eliminated concatenation can be INT8 only with their parent's scale (and,
//! on the GPU, as CHW4 words). When every tensor has a range, a concatenation that cannot be INT8 views is kept, so
//! that its INT8 kernel copies or requantizes (eliminated, its slices would stay FP32/FP16). nullptr: eliminate it.
const char* int8KeepReason(const Graph& g, const IrNode& c, DeviceType device) {
    const IrTensor& out = g.tensors[static_cast<size_t>(c.outputs[0])];
    auto ranged = [](const IrTensor& x) { return (x.type == DataType::kFLOAT || x.type == DataType::kHALF) && x.dynamicRange > 0.f; };
    if (!ranged(out)) return nullptr;
    for (int t : c.inputs)
        if (!ranged(g.tensors[static_cast<size_t>(t)])) return nullptr;
    for (int t : c.inputs)
        if (g.tensors[static_cast<size_t>(t)].dynamicRange != out.dynamicRange)
            return "INT8: an input's range differs from the output's, so the INT8 concatenation requantizes it";
    if (device == DeviceType::kGPU && out.dims.nbDims == 4)
        for (int t : c.inputs)
            if (g.tensors[static_cast<size_t>(t)].dims.d[1] % 4 != 0)
                return "INT8: an input's channels are not a multiple of 4, so it cannot be an INT8 CHW4 slice";
    return nullptr;
}

class ConcatElimination final : public Pass {
public:
    const char* name() const override { return "concat_elimination"; }
    int run(Graph& g, PassContext& ctx) override {
        int changes = 0;
        for (int ci : g.topologicalOrder()) {
            IrNode& c = g.nodes[static_cast<size_t>(ci)];
            if (c.dead || c.type != "Concatenation" || c.userPlugin) continue;
            int out = c.outputs[0];
            const Dims od = g.tensors[static_cast<size_t>(out)].dims;
            int axis = normalizeAxis(c.fields.getInt("axis", 1), od.nbDims, "Concatenation");
            bool dynamicChannels = (g.tensors[static_cast<size_t>(out)].dynamicDims & 2u) != 0;
            for (int t : c.inputs) dynamicChannels = dynamicChannels || (g.tensors[static_cast<size_t>(t)].dynamicDims & 2u) != 0;
            if (axis != 1 || g.tensors[static_cast<size_t>(out)].viewOf >= 0 || dynamicChannels) {
                // A slice starts at a fixed channel (IrTensor::viewOffset): channel counts that follow the input shapes would move it.
                c.notes.push_back(axis != 1 ? "concat_elimination: kept: only axis-1 (channel) concatenations are written in place"
                                  : dynamicChannels ? "concat_elimination: kept: its channel counts follow dynamic input dimensions"
                                                    : "concat_elimination: kept: its output is already a slice of another buffer");
                continue;
            }
            if (const char* why = ctx.int8 ? int8KeepReason(g, c, ctx.device) : nullptr) {
                c.notes.push_back(std::string("concat_elimination: kept: ") + why);
                continue;
            }
            int64_t offset = 0;
            std::vector<int> inputs = c.inputs;
            std::string name = c.name;
            std::vector<std::string> sources = c.sourceLayers;
            c.dead = true;  // (c may be invalidated below when nodes are added)
            for (size_t i = 0; i < inputs.size(); ++i) {
                int t = inputs[i];
                IrTensor& tt = g.tensors[static_cast<size_t>(t)];
                const int64_t channels = tt.dims.d[1];
                std::string why;
                int p = g.producer(t);
                int uses = 0;
                for (int other : inputs) uses += other == t ? 1 : 0;
                if (tt.isInput) why = "it is a network input";
                else if (tt.isOutput) why = "it is also a network output";
                else if (tt.constant) why = "it is a constant";
                else if (tt.viewOf >= 0) why = "it is already a slice of another buffer";
                else if (p < 0 && !g.hasViews(t)) why = "it has no producing kernel";
                else if (uses > 1) why = "it appears more than once in the concatenation";
                else if (!g.consumers(t).empty()) why = "other layers read it too";  // (the concat itself is already dead)
                else if (p >= 0 && g.nodes[static_cast<size_t>(p)].inputs.size() > 1 && g.nodes[static_cast<size_t>(p)].type == "Convolution")
                    why = "its producer has a fused residual input";
                else if (p >= 0 && !producerWritesStrided(g.nodes[static_cast<size_t>(p)], ctx.device))
                    why = "its producer's kernel (" + g.nodes[static_cast<size_t>(p)].type + ") cannot write into a slice";
                if (why.empty()) {
                    tt.viewOf = out;
                    tt.viewOffset = offset;
                    // Views of this tensor (an inner concatenation) now live in the outer buffer.
                    for (auto& v : g.tensors)
                        if (v.viewOf == t) {
                            v.viewOf = out;
                            v.viewOffset += offset;
                        }
                    if (p >= 0)
                        g.nodes[static_cast<size_t>(p)].notes.push_back("concat_elimination: writes into its slice of '" +
                                                                        g.tensors[static_cast<size_t>(out)].name + "'");
                } else {
                    IrTensor slice = tt;
                    slice.name = tt.name + "_in_" + g.tensors[static_cast<size_t>(out)].name;
                    slice.isOutput = false;
                    slice.isInput = false;
                    slice.constant.reset();
                    slice.viewOf = out;
                    slice.viewOffset = offset;
                    int s = g.addTensor(slice);
                    IrNode copy;
                    copy.name = name + "_copy" + std::to_string(i);
                    copy.type = "Identity";
                    copy.inputs = {t};
                    copy.outputs = {s};
                    copy.sourceLayers = sources;
                    copy.notes.push_back("concat_elimination: input " + std::to_string(i) + " of '" + name + "' is copied because " + why);
                    g.nodes.push_back(std::move(copy));
                }
                offset += channels;
            }
            ctx.log.push_back("concat_elimination: removed '" + name + "' (" + std::to_string(inputs.size()) + " inputs)");
            ++changes;
        }
        if (changes) g.compact();
        return changes;
    }
};

}  // namespace

std::unique_ptr<Pass> makeConcatElimination() { return std::make_unique<ConcatElimination>(); }

}  // namespace gie
