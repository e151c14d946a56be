// Collapses a Shuffle that feeds only another Shuffle into one Shuffle, when the composition is again
// transpose -> reshape -> transpose: transposes compose; two reshapes merge when the first keeps the
// batch (dimension 0) in place.
#include "common/dims.h"
#include "layers/shuffle.h"
#include "passes/pass.h"

namespace gie {
namespace {

std::vector<int64_t> identityPerm(int rank) {
    std::vector<int64_t> p(static_cast<size_t>(rank));
    for (int i = 0; i < rank; ++i) p[static_cast<size_t>(i)] = i;
    return p;
}

//! Transpose a then b (out[i] = in[a[b[i]]]).
std::vector<int64_t> compose(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
    std::vector<int64_t> c(b.size());
    for (size_t i = 0; i < b.size(); ++i) c[i] = a[static_cast<size_t>(b[i])];
    return c;
}

class CollapseShuffles final : public Pass {
public:
    const char* name() const override { return "collapse_shuffles"; }
    int run(Graph& g, PassContext& ctx) override {
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
            if (!a.zeroIsPlaceholder || !b.zeroIsPlaceholder) continue;
            const Dims& in = g.tensors[static_cast<size_t>(s1.inputs[0])].dims;
            int inRank = in.nbDims, midRank = mt.dims.nbDims;
            int reshapedRank = a.hasReshape ? static_cast<int>(a.reshape.size()) : inRank;
            auto p1 = a.hasPerm1 ? a.perm1 : identityPerm(inRank);
            auto p2 = a.hasPerm2 ? a.perm2 : identityPerm(reshapedRank);
            auto q1 = b.hasPerm1 ? b.perm1 : identityPerm(midRank);
            FieldMap f;
            if (!b.hasReshape) {
                auto q2 = b.hasPerm2 ? b.perm2 : identityPerm(midRank);
                if (a.hasPerm1) f.setInts("first_transpose", p1);
                if (a.hasReshape) f.setInts("reshape", a.reshape);
                f.setInts("second_transpose", compose(compose(p2, q1), q2));
            } else if (!a.hasReshape) {
                f.setInts("first_transpose", compose(compose(p1, p2), q1));
                f.setInts("reshape", b.reshape);
                if (b.hasPerm2) f.setInts("second_transpose", b.perm2);
            } else if (!a.hasPerm2 && !b.hasPerm1 && !a.reshape.empty() && a.reshape[0] == 0 && !b.reshape.empty() &&
                       (b.reshape[0] == 0 || b.reshape[0] == -1)) {
                // reshape(reshape(x)) = reshape(x): resolve the second's placeholders against the middle shape
                // (batch-independent past dimension 0, because the first keeps the batch in place).
                std::vector<int64_t> r = b.reshape;
                for (size_t i = 1; i < r.size(); ++i)
                    if (r[i] == 0) r[i] = mt.dims.d[i];
                if (a.hasPerm1) f.setInts("first_transpose", p1);
                f.setInts("reshape", r);
                if (b.hasPerm2) f.setInts("second_transpose", b.perm2);
            } else {
                continue;
            }
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
