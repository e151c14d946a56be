// Removes nodes whose outputs no network output depends on.
#include <vector>

#include "passes/pass.h"

namespace gie {
namespace {

class DeadLayerRemoval final : public Pass {
public:
    const char* name() const override { return "dead_layer_removal"; }
    int run(Graph& g, PassContext& ctx) override {
        std::vector<bool> needed(g.tensors.size(), false);
        for (int t : g.outputs) needed[static_cast<size_t>(t)] = true;
        auto order = g.topologicalOrder();
        std::vector<bool> keep(g.nodes.size(), false);
        for (auto it = order.rbegin(); it != order.rend(); ++it) {
            IrNode& n = g.nodes[static_cast<size_t>(*it)];
            bool any = false;
            for (int o : n.outputs) any = any || needed[static_cast<size_t>(o)];
            if (!any) continue;
            keep[static_cast<size_t>(*it)] = true;
            for (int in : n.inputs) needed[static_cast<size_t>(in)] = true;
        }
        int removed = 0;
        for (size_t i = 0; i < g.nodes.size(); ++i) {
            if (g.nodes[i].dead || keep[i]) continue;
            g.nodes[i].dead = true;
            ctx.log.push_back("dead_layer_removal: removed '" + g.nodes[i].name + "' (no output depends on it)");
            ++removed;
        }
        if (removed) g.compact();
        return removed;
    }
};

}  // namespace

std::unique_ptr<Pass> makeDeadLayerRemoval() { return std::make_unique<DeadLayerRemoval>(); }

}  // namespace gie
