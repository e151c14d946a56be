// Folds a Scale layer (BatchNorm after import) into the Convolution / Deconvolution / FullyConnected
// that produces its input, and a Scale into a preceding Scale. Only exact rewrites: power must be 1,
// the producer's output must feed nothing else and must not be a network output.
#include <cmath>

#include "common/dims.h"
#include "layers/scale.h"
#include "passes/pass.h"

namespace gie {
namespace {

//! Per-channel (scale, shift) of a Scale node with `channels` channels, or false (with why) if not affine per channel.
bool affinePerChannel(const IrNode& s, int64_t channels, std::vector<float>& a, std::vector<float>& b, std::string& why) {
    ScaleOp op(s.fields);
    if (op.mode == ScaleMode::kELEMENTWISE) {
        why = "ELEMENTWISE scale";
        return false;
    }
    for (float p : op.power)
        if (p != 1.f) {
            why = "power != 1";
            return false;
        }
    a.assign(static_cast<size_t>(channels), 1.f);
    b.assign(static_cast<size_t>(channels), 0.f);
    for (int64_t c = 0; c < channels; ++c) {
        size_t i = op.mode == ScaleMode::kUNIFORM ? 0 : static_cast<size_t>(c);
        if (!op.scale.empty()) a[static_cast<size_t>(c)] = op.scale[i];
        if (!op.shift.empty()) b[static_cast<size_t>(c)] = op.shift[i];
    }
    return true;
}

class FoldScale final : public Pass {
public:
    const char* name() const override { return "fold_scale"; }
    int run(Graph& g, PassContext& ctx) override {
        int changes = 0;
        for (int si : g.topologicalOrder()) {
            IrNode& s = g.nodes[static_cast<size_t>(si)];
            if (s.dead || s.type != "Scale" || s.userPlugin || s.inputs.size() != 1) continue;
            int t = s.inputs[0];
            int pi = g.producer(t);
            if (pi < 0) continue;
            IrNode& p = g.nodes[static_cast<size_t>(pi)];
            const IrTensor& tt = g.tensors[static_cast<size_t>(t)];
            bool folds = p.type == "Convolution" || p.type == "Deconvolution" || p.type == "FullyConnected" || p.type == "Scale";
            if (!folds || p.userPlugin) continue;
            auto note = [&](const std::string& why) {
                s.notes.push_back("fold_scale: not folded into '" + p.name + "': " + why);
            };
            if (tt.isOutput || g.consumers(t).size() != 1) {
                note("the producer's output is also used elsewhere");
                continue;
            }
            ScaleOp sop(s.fields);
            int rank = tt.dims.nbDims;
            int axis = sop.axis(rank);
            if (axis != 1) {
                note("channel_axis is not 1");
                continue;
            }
            int64_t channels = tt.dims.d[1];
            std::vector<float> a, b;
            std::string why;
            if (!affinePerChannel(s, channels, a, b, why)) {
                note(why);
                continue;
            }
            if (p.type == "Scale") {
                std::vector<float> a0, b0;
                ScaleOp pop(p.fields);
                if (pop.axis(rank) != 1 || !affinePerChannel(p, channels, a0, b0, why)) {
                    note(why.empty() ? "the first Scale is not per channel on axis 1" : why);
                    continue;
                }
                for (size_t c = 0; c < a.size(); ++c) {
                    b[c] = b0[c] * a[c] + b[c];
                    a[c] = a0[c] * a[c];
                }
                p.fields = FieldMap();
                p.fields.setInt("mode", static_cast<int64_t>(ScaleMode::kCHANNEL));
                p.fields.setFloats("scale", a);
                p.fields.setFloats("shift", b);
            } else {
                if (p.inputs.size() != 1 || p.fields.getInt("activation_type", -1) >= 0) {
                    note("the producer already has a fused epilogue");
                    continue;
                }
                std::vector<float> w = p.fields.floats("kernel");
                std::vector<float> bias = p.fields.floats("bias");
                if (bias.empty()) bias.assign(static_cast<size_t>(channels), 0.f);
                int64_t per = static_cast<int64_t>(w.size()) / channels;
                if (p.type == "Deconvolution") {
                    // Kernel (C, K/groups, R, S): output channel k = group(c) * K/groups + j.
                    const IrTensor& in = g.tensors[static_cast<size_t>(p.inputs[0])];
                    int64_t C = in.dims.d[1], groups = p.fields.getInt("num_groups", 1), Kg = channels / groups;
                    int64_t RS = static_cast<int64_t>(w.size()) / (C * Kg);
                    for (int64_t c = 0; c < C; ++c)
                        for (int64_t j = 0; j < Kg; ++j) {
                            int64_t k = (c / (C / groups)) * Kg + j;
                            for (int64_t r = 0; r < RS; ++r) w[static_cast<size_t>((c * Kg + j) * RS + r)] *= a[static_cast<size_t>(k)];
                        }
                } else {
                    for (int64_t k = 0; k < channels; ++k)
                        for (int64_t i = 0; i < per; ++i) w[static_cast<size_t>(k * per + i)] *= a[static_cast<size_t>(k)];
                }
                for (size_t k = 0; k < bias.size(); ++k) bias[k] = bias[k] * a[k] + b[k];
                p.fields.setFloats("kernel", w);
                p.fields.setFloats("bias", bias);
            }
            p.outputs[0] = s.outputs[0];
            p.sourceLayers.insert(p.sourceLayers.end(), s.sourceLayers.begin(), s.sourceLayers.end());
            p.notes.push_back("fold_scale: folded Scale '" + s.name + "' into the weights");
            ctx.log.push_back("fold_scale: folded '" + s.name + "' into '" + p.name + "'");
            s.dead = true;
            ++changes;
        }
        if (changes) g.compact();
        return changes;
    }
};

}  // namespace

std::unique_ptr<Pass> makeFoldScale() { return std::make_unique<FoldScale>(); }

}  // namespace gie
