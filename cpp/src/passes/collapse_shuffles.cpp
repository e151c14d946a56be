// Collapses a Shuffle that feeds only another Shuffle into one Shuffle, when one Shuffle does both
// (composeShuffles, passes/shuffle_compose.h: transposes compose; two reshapes merge when the first keeps the batch
// in place; with every shape fixed, any pair whose composition is one transpose and one reshape).
#include "passes/pass.h"
#include "passes/shuffle_compose.h"

namespace gie {
namespace {

class CollapseShuffles final : public Pass {
public:
    const char* name() const override { return "collapse_shuffles"; }
    //! Sweeps until nothing merges: a pair that is no one Shuffle (reshape -> transpose -> reshape) may become one
    //! once the second has merged with the Shuffle after it.
    int run(Graph& g, PassContext& ctx) override {
        return untilNoChange([&] { return sweep(g, ctx); });
    }

private:
    int sweep(Graph& g, PassContext& ctx) {
        int changes = 0;
        for (int ni : g.topologicalOrder()) {
            IrNode& s2 = g.nodes[static_cast<size_t>(ni)];
            if (s2.dead || s2.type != "Shuffle" || s2.userPlugin || s2.inputs.size() != 1) continue;
            int mid = s2.inputs[0];
            int pi = g.producer(mid);
            if (pi < 0) continue;
            IrNode& s1 = g.nodes[static_cast<size_t>(pi)];
            const IrTensor& mt = g.tensors[static_cast<size_t>(mid)];
            if (s1.type != "Shuffle" || s1.userPlugin || s1.inputs.size() != 1 || mt.isOutput || g.consumers(mid).size() != 1) continue;
            ShuffleOp a(s1.fields), b(s2.fields);
            const Dims& in = g.tensors[static_cast<size_t>(s1.inputs[0])].dims;
            FieldMap f;
            if (!composeShuffles(a, b, in, mt.dims, ctx.fixedShapes, f)) continue;
            s1.fields = std::move(f);
            s1.outputs = s2.outputs;
            s1.sourceLayers.insert(s1.sourceLayers.end(), s2.sourceLayers.begin(), s2.sourceLayers.end());
            s1.notes.push_back("collapse_shuffles: merged '" + s2.name + "'");
            ctx.log.push_back("collapse_shuffles: merged '" + s2.name + "' into '" + s1.name + "'");
            s2.dead = true;
            ++changes;
        }
        if (changes) g.compact();
        return changes;
    }
};

}  // namespace

std::unique_ptr<Pass> makeCollapseShuffles() { return std::make_unique<CollapseShuffles>(); }

}  // namespace gie
