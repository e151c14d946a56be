// A Shuffle that only flattens the trailing dimensions of its input into one, (d0, .., d(a-1), da, .., dr) ->
// (d0, .., d(a-1), da * .. * dr), read only by a FullyConnected layer over that last axis a, goes: the FC reads the
// Shuffle's input with axis a instead (an FC flattens dimensions [axis, rank) itself, in the same C order), so no copy
// runs. ONNX Flatten before Gemm (torchvision's classifier heads: global pooling -> Flatten -> Linear) is such a Shuffle:
// a copy kernel of its own (0.014 ms at batch 64 on an H100), and on the GPU in FP16 the FC then reads the pooled
// (N, C, 1, 1) features as they are, HWC8 included (cuda/kernels/fully_connected.cu).
// Only where the reshape is the same at every shape: its spec copies dimensions [0, a) (placeholders 0) and infers the
// last (-1), or every shape is fixed (PassContext::fixedShapes) and the reshape gives exactly that shape. Kept: a
// transpose in the Shuffle, a run-time shape input, another reader of its output (or one that is not such an FC), a
// network output, an output type set on the Shuffle or a precision pinned on it and not alike on the FC, and (INT8) an output whose dynamic range differs from the
// input's (the FC would quantize its input with another scale).
#include "layers/fully_connected.h"
#include "layers/shuffle.h"
#include "passes/pattern_match.h"

namespace gie {
namespace {

class FlattenIntoFullyConnected final : public RecognizerPass {
public:
    const char* name() const override { return "flatten_into_fully_connected"; }

private:
    //! The axis a at which Shuffle s flattens the trailing dimensions of its input into its output's last one; -1 if it
    //! does something else or might at another shape.
    int flattenAxis(const IrNode& s, bool fixedShapes) const {
        const ShuffleOp op(s.fields);
        const Dims& in = tensor(s.inputs[0]).dims;
        const Dims& out = tensor(s.outputs[0]).dims;
        auto identity = [](const std::vector<int64_t>& p) {
            for (size_t i = 0; i < p.size(); ++i)
                if (p[i] != static_cast<int64_t>(i)) return false;
            return true;
        };
        if ((op.hasPerm1 && !identity(op.perm1)) || (op.hasPerm2 && !identity(op.perm2)) || !op.hasReshape) return -1;
        const int a = out.nbDims - 1;
        if (a < 1 || a >= in.nbDims - 1 || static_cast<int>(op.reshape.size()) != out.nbDims) return -1;
        // The shape at the build shape: dimensions [0, a) kept, the rest multiplied into the last.
        int64_t flat = 1;
        for (int i = a; i < in.nbDims; ++i) flat *= in.d[i];
        for (int i = 0; i < a; ++i)
            if (out.d[i] != in.d[i]) return -1;
        if (out.d[a] != flat) return -1;
        if (fixedShapes) return a;
        // At any shape: copies of [0, a) and an inferred last dimension.
        if (!op.zeroIsPlaceholder || op.reshape[static_cast<size_t>(a)] != -1) return -1;
        for (int i = 0; i < a; ++i)
            if (op.reshape[static_cast<size_t>(i)] != 0) return -1;
        return a;
    }

    //! FC node f reads tensor y over its last axis (rank of y).
    bool fcOverLastAxis(int f, int y) const {
        if (!isNode(f, "FullyConnected", 1) || node(f).inputs[0] != y) return false;
        const FullyConnectedOp op(node(f).fields);
        const int rank = tensor(y).dims.nbDims;
        return normalizeAxis(op.axis, rank, "FullyConnected") == rank - 1;
    }

    bool match(int s, PassContext& ctx) override {
        if (!isNode(s, "Shuffle", 1)) return false;
        IrNode& sh = node(s);
        for (const auto& ot : sh.outputTypes)
            if (ot.first) return false;
        const int x = sh.inputs[0], y = sh.outputs[0];
        const IrTensor& yt = tensor(y);
        if (yt.isOutput || yt.viewOf >= 0 || yt.shapeTensor || tensor(x).shapeTensor || yt.dynamicRange != tensor(x).dynamicRange)
            return false;
        const int a = flattenAxis(sh, ctx.fixedShapes);
        if (a < 0) return false;
        const int f = soleReader(y);
        if (f < 0 || !fcOverLastAxis(f, y)) return false;
        IrNode& fc = node(f);
        // A Shuffle pinned to a precision the FC is not pinned to says how its output is stored: keep it.
        if (sh.precisionSet && !(fc.precisionSet && fc.precision == sh.precision)) return false;
        fc.inputs[0] = x;
        fc.fields.setInt("axis", a);
        fc.sourceLayers.insert(fc.sourceLayers.end(), sh.sourceLayers.begin(), sh.sourceLayers.end());
        const std::string what = "'" + sh.name + "' (" + toString(tensor(x).dims) + " -> " + toString(yt.dims) + ") removed: '" + fc.name +
                                 "' reads its input with axis " + std::to_string(a);
        fc.notes.push_back("flatten_into_fully_connected: " + what);
        ctx.log.push_back("flatten_into_fully_connected: " + what);
        sh.dead = true;
        return true;
    }
};

}  // namespace

std::unique_ptr<Pass> makeFlattenIntoFullyConnected() { return std::make_unique<FlattenIntoFullyConnected>(); }

}  // namespace gie
