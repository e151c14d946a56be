// Moves a Shuffle across a FullyConnected so that it merges with a Shuffle on the FC's other side (one data pass
// instead of two): FC over the last axis treats each row alone, so a Shuffle that only moves rows (every step keeps
// the last dimension last and whole) can run before or after it, on rows of the FC's input width or of its output
// width. torch's nn.MultiheadAttention export has both, per attention block:
//   Transpose (B, S, E) -> (S, B, E) -> in_proj FC -> Shuffle (head split)   : the Transpose moves after the FC
//   Shuffle (heads merged, (S*B, E)) -> out_proj FC -> Reshape (S, B, E) -> Transpose (B, S, E) : it moves before
// Only when every shape is fixed (PassContext::fixedShapes: a reshape is rewritten for the other width at the build
// shape), the two Shuffles then compose (shuffle_compose.h), and every tensor between them has one reader and is no
// network output. The FC's axis becomes the last of its new input.
#include "layers/fully_connected.h"
#include "passes/pattern_match.h"
#include "passes/shuffle_compose.h"

namespace gie {
namespace {

class MoveShufflesAcrossFc final : public RecognizerPass {
public:
    const char* name() const override { return "move_shuffles_across_fc"; }

private:
    //! Shuffle node s as it would act on rows of `width` values instead (input `in` of s, last dimension replaced);
    //! false unless s only moves rows.
    static bool rowShuffle(const IrNode& s, const Dims& in, int64_t width, bool fixedShapes, ShuffleOp& out, Dims& inAtWidth) {
        const ShuffleOp op(s.fields);
        if (in.nbDims < 2) return false;
        auto keepsLast = [](const std::vector<int64_t>& p) { return !p.empty() && p.back() == static_cast<int64_t>(p.size()) - 1; };
        if ((op.hasPerm1 && !keepsLast(op.perm1)) || (op.hasPerm2 && !keepsLast(op.perm2))) return false;
        Dims t1, t2, o;
        op.shapes(in, t1, t2, o);
        if (t2.nbDims < 2 || t2.d[t2.nbDims - 1] != t1.d[t1.nbDims - 1]) return false;
        out = op;
        inAtWidth = in;
        inAtWidth.d[in.nbDims - 1] = width;
        if (op.hasReshape) {
            if (!fixedShapes) return false;
            out.reshape.assign(t2.d, t2.d + t2.nbDims);
            out.reshape.back() = width;
        }
        return true;
    }
    //! The FC's flattened axis is its input's last dimension.
    bool lastAxisFc(int f) const {
        if (!isNode(f, "FullyConnected", 1)) return false;
        const Dims& in = tensor(node(f).inputs[0]).dims;
        const FullyConnectedOp op(node(f).fields);
        return in.nbDims >= 2 && normalizeAxis(op.axis, in.nbDims, "FullyConnected") == in.nbDims - 1;
    }
    bool match(int fc, PassContext& ctx) override {
        if (!ctx.fixedShapes || !lastAxisFc(fc) || node(fc).precisionSet) return false;
        const int x = node(fc).inputs[0], y = node(fc).outputs[0];
        const int s1 = soleProducer(x, fc), s2 = soleReader(y);
        if (s1 < 0 || s2 < 0 || !isNode(s1, "Shuffle", 1) || !isNode(s2, "Shuffle", 1)) return false;
        const int64_t K = tensor(x).dims.d[tensor(x).dims.nbDims - 1], N = tensor(y).dims.d[tensor(y).dims.nbDims - 1];
        const int s1in = node(s1).inputs[0];
        ShuffleOp moved(FieldMap{});
        Dims at;
        FieldMap merged;
        // After: s1 moves past the FC (rows of N) and merges with s2.
        if (rowShuffle(node(s1), tensor(s1in).dims, N, ctx.fixedShapes, moved, at)) {
            Dims t1, t2, mid;
            moved.shapes(at, t1, t2, mid);
            if (composeShuffles(moved, ShuffleOp(node(s2).fields), at, mid, ctx.fixedShapes, merged)) {
                Dims fcOut = tensor(s1in).dims;
                fcOut.d[fcOut.nbDims - 1] = N;
                if (!(shuffled(merged, fcOut) == tensor(node(s2).outputs[0]).dims)) return false;
                IrNode& f = node(fc);
                f.inputs[0] = s1in;
                f.fields.setInt("axis", fcOut.nbDims - 1);
                g_->tensors[static_cast<size_t>(y)].dims = fcOut;
                return finish(s2, s1, merged, "'" + node(s1).name + "' moved after '" + f.name + "' and merged into '" + node(s2).name + "'", ctx);
            }
        }
        // Before: s2 moves ahead of the FC (rows of K) and merges with s1.
        if (rowShuffle(node(s2), tensor(y).dims, K, ctx.fixedShapes, moved, at) &&
            composeShuffles(ShuffleOp(node(s1).fields), moved, tensor(s1in).dims, at, ctx.fixedShapes, merged)) {
            const Dims fcIn = shuffled(merged, tensor(s1in).dims);
            Dims fcOut = fcIn;
            fcOut.d[fcOut.nbDims - 1] = N;
            if (fcIn.nbDims < 2 || !(fcOut == tensor(node(s2).outputs[0]).dims)) return false;
            IrNode& f = node(fc);
            f.fields.setInt("axis", fcIn.nbDims - 1);
            g_->tensors[static_cast<size_t>(x)].dims = fcIn;
            f.outputs = node(s2).outputs;
            return finish(s1, s2, merged, "'" + node(s2).name + "' moved before '" + f.name + "' and merged into '" + node(s1).name + "'", ctx);
        }
        return false;
    }
    static Dims shuffled(const FieldMap& f, const Dims& in) {
        Dims t1, t2, out;
        ShuffleOp(f).shapes(in, t1, t2, out);
        return out;
    }
    //! Shuffle `keep` takes the merged fields and `gone`'s source layers; `gone` dies.
    bool finish(int keep, int gone, const FieldMap& merged, const std::string& what, PassContext& ctx) {
        IrNode& k = node(keep);
        IrNode& d = node(gone);
        k.fields = merged;
        k.sourceLayers.insert(k.sourceLayers.end(), d.sourceLayers.begin(), d.sourceLayers.end());
        k.notes.push_back("move_shuffles_across_fc: " + what);
        ctx.log.push_back("move_shuffles_across_fc: " + what);
        d.dead = true;
        return true;
    }
};

}  // namespace

std::unique_ptr<Pass> makeMoveShufflesAcrossFc() { return std::make_unique<MoveShufflesAcrossFc>(); }

}  // namespace gie
