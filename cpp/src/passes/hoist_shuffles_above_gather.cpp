// Hoists identical Shuffles above the Gathers that split a tensor along axis 0: when every reader of x is a Gather
// of one constant index on axis 0, the indices are all of x's first dimension once each, and every Gather's output is
// read only by a Shuffle with the same fields, one Shuffle of x (the same steps with dimension 0 kept in front) runs
// before the Gathers, which then write the Shuffles' outputs. The same work, and collapse_shuffles (next) then merges
// the hoisted Shuffle into the one producing x. torch's nn.MultiheadAttention export splits q, k, v so (Gather 0, 1,
// 2 of (3, S, B, E)), then splits each into heads alike (Reshape (S, B*H, d), Transpose (1, 0, 2), Reshape
// (B, H, S, d)): after this pass and collapse_shuffles one Shuffle writes (3, B, H, S, d) and the Gathers take
// its three contiguous parts. Fixed shapes only (PassContext::fixedShapes: the Shuffle's reshape is written at the
// build shape); repeated while it finds more.
#include <algorithm>
#include <cstring>

#include "layers/gather.h"
#include "layers/shuffle.h"
#include "passes/pattern_match.h"

namespace gie {
namespace {

class HoistShufflesAboveGather final : public Pass, protected PatternMatcher {
public:
    const char* name() const override { return "hoist_shuffles_above_gather"; }
    int run(Graph& g, PassContext& ctx) override {
        if (!ctx.fixedShapes) return 0;
        return untilNoChange([&] { return matchAll(g, [&](int ni) { return match(ni, ctx); }); });
    }

private:
    //! The index of Gather node ni if it is one constant int32 value on axis 0; else -1.
    int64_t scalarIndexOnAxis0(int ni, int64_t n) const {
        if (!isNode(ni, "Gather", 2)) return -1;
        const IrNode& gn = node(ni);
        const IrTensor& idx = tensor(gn.inputs[1]);
        if (GatherOp(gn.fields).axis(tensor(gn.inputs[0]).dims.nbDims) != 0 || idx.dims.nbDims != 0 || !idx.constant ||
            idx.type != DataType::kINT32 || idx.constant->size() != sizeof(int32_t))
            return -1;
        int32_t v;
        std::memcpy(&v, idx.constant->data(), sizeof v);
        const int64_t i = v < 0 ? v + n : v;
        return i >= 0 && i < n ? i : -1;
    }

    //! Whether Shuffle nodes a and b have the same steps.
    bool sameSteps(int a, int b) const {
        const ShuffleOp p(node(a).fields), q(node(b).fields);
        return p.hasPerm1 == q.hasPerm1 && p.perm1 == q.perm1 && p.hasReshape == q.hasReshape && p.reshape == q.reshape &&
               p.hasPerm2 == q.hasPerm2 && p.perm2 == q.perm2 && p.zeroIsPlaceholder == q.zeroIsPlaceholder;
    }

    //! Visits each tensor through its first Gather reader.
    bool match(int gi, PassContext& ctx) {
        if (!isNode(gi, "Gather", 2) || node(gi).precisionSet) return false;
        const int x = node(gi).inputs[0];
        const Dims xd = tensor(x).dims;
        if (xd.nbDims < 1 || xd.nbDims >= Dims::MAX_DIMS || tensor(x).isOutput || tensor(x).shapeTensor || tensor(x).viewOf >= 0) return false;
        const int64_t n = xd.d[0];
        const std::vector<int> readers = g_->consumers(x);
        if (readers.empty() || readers[0] != gi || static_cast<int64_t>(readers.size()) != n) return false;
        std::vector<bool> seen(static_cast<size_t>(n), false);
        std::vector<int> shuffles;
        for (int r : readers) {
            const int64_t i = scalarIndexOnAxis0(r, n);
            if (i < 0 || seen[static_cast<size_t>(i)] || node(r).precisionSet || node(r).inputs[1] == x) return false;
            seen[static_cast<size_t>(i)] = true;
            const int s = soleReader(node(r).outputs[0]);
            if (s < 0 || !isNode(s, "Shuffle", 1) || node(s).precisionSet || (!shuffles.empty() && !sameSteps(s, shuffles[0])))
                return false;
            shuffles.push_back(s);
        }
        // The Shuffle's steps on one part (x without dimension 0), at the build shape, with dimension 0 put in front.
        const ShuffleOp op(node(shuffles[0]).fields);
        Dims part;
        part.nbDims = xd.nbDims - 1;
        for (int i = 1; i < xd.nbDims; ++i) part.d[i - 1] = xd.d[i];
        Dims t1, t2, out;
        op.shapes(part, t1, t2, out);
        if (t2.nbDims + 1 > Dims::MAX_DIMS || out.nbDims + 1 > Dims::MAX_DIMS) return false;
        auto front = [](const std::vector<int64_t>& p) {
            std::vector<int64_t> q{0};
            for (int64_t v : p) q.push_back(v + 1);
            return q;
        };
        FieldMap f;
        if (op.hasPerm1) f.setInts("first_transpose", front(op.perm1));
        if (op.hasReshape) {
            std::vector<int64_t> r{n};
            r.insert(r.end(), t2.d, t2.d + t2.nbDims);
            f.setInts("reshape", r);
        }
        if (op.hasPerm2) f.setInts("second_transpose", front(op.perm2));
        IrTensor ht = tensor(x);
        ht.name = tensor(x).name + "_hoisted";
        ht.dims.nbDims = out.nbDims + 1;
        ht.dims.d[0] = n;
        for (int i = 0; i < out.nbDims; ++i) ht.dims.d[i + 1] = out.d[i];
        ht.isInput = ht.isOutput = false;
        ht.constant.reset();
        ht.dynamicDims = 0;
        const int h = g_->addTensor(ht);
        IrNode hn;
        hn.name = node(shuffles[0]).name + "_hoisted";
        hn.type = "Shuffle";
        hn.fields = f;
        hn.inputs = {x};
        hn.outputs = {h};
        std::string names;
        for (size_t k = 0; k < readers.size(); ++k) {
            IrNode& s = node(shuffles[k]);
            hn.sourceLayers.insert(hn.sourceLayers.end(), s.sourceLayers.begin(), s.sourceLayers.end());
            names += (names.empty() ? "'" : ", '") + s.name + "'";
            IrNode& gr = node(readers[k]);
            gr.inputs[0] = h;
            gr.outputs = s.outputs;
            s.dead = true;
        }
        const std::string line = "hoist_shuffles_above_gather: " + names + " became one Shuffle before the Gathers of '" + tensor(x).name + "'";
        hn.notes.push_back(line);
        ctx.log.push_back(line);
        g_->nodes.push_back(std::move(hn));
        return true;
    }
};

}  // namespace

std::unique_ptr<Pass> makeHoistShufflesAboveGather() { return std::make_unique<HoistShufflesAboveGather>(); }

}  // namespace gie
