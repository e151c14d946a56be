// Turns a channels-last block back into a channels-first one. torchvision's ConvNeXt writes its block (CNBlock) and
// its LayerNorm2d channels-last:
//   Transpose (0, 2, 3, 1) -> LayerNorm over the last axis -> Linear (4C) -> GELU -> Linear (C) -> Transpose (0, 3, 1, 2)
// which imports as two Shuffles (a data pass each) around FullyConnected layers over rows of C values. Every layer
// between the two Shuffles acts along the last axis alone, so the block computes the same on NCHW with both Shuffles
// gone: the LayerNorm over axis 1, each FullyConnected a 1x1 Convolution (its kernel (K, C) is the (K, C, 1, 1) one),
// activations as they are, constants along the last axis re-broadcast as (C, 1, 1). The bias Adds, ConvNeXt's layer
// scale and the residual Add then fold into the convolutions (fold_constant_operands, fold_scale, fuse_epilogue run
// later), which have the tensor-core tactics of 1x1 convolutions (HWC8) on the GPU.
//
// Matched exactly: a Shuffle whose only effect is the permutation (0, 2, 3, 1) of a 4-D float tensor (transposes
// composed; no reshape, no shape input), then one or more layers, each the only reader of the previous output:
//   LayerNorm over axis 3; FullyConnected over axis 3 with one input (a fused activation moves with it);
//   Activation; Scale UNIFORM, or CHANNEL / ELEMENTWISE with channel_axis 3; ElementWise with a float result of the
//   tensor and itself or a float constant that is one value or varies along the last axis alone (numpy broadcasting,
//   the tensor not grown),
// then a Shuffle that is the permutation (0, 3, 1, 2) alone. No tensor from the first Shuffle's output to the second
// Shuffle's input is a network output; no layer of the pattern has a pinned output type, and either none is pinned
// to a precision or all are, to the same one (the layers keep it); the channel dimensions between the Shuffles are
// not dynamic. Batch, height and width may be: the permutations and the rewritten layers do not depend on them. The
// last layer writes the second Shuffle's output (the same shape), so that tensor's readers, or the network output it
// is, see no change.
// Runs after the recognisers and matmul_to_fully_connected (the LayerNorm, GELU and FullyConnected layers exist) and
// before fold_constant_operands (the re-broadcast constants become Scales there) and collapse_shuffles (which would
// merge the last Shuffle of ConvNeXt's classifier LayerNorm2d into the Flatten after it).
#include <numeric>

#include "layers/fully_connected.h"
#include "layers/layer_norm.h"
#include "layers/scale.h"
#include "layers/shuffle.h"
#include "passes/pattern_match.h"

namespace gie {
namespace {

const std::vector<int64_t> kToChannelsLast{0, 2, 3, 1};
const std::vector<int64_t> kToChannelsFirst{0, 3, 1, 2};

class ChannelsFirstBlocks final : public RecognizerPass {
public:
    const char* name() const override { return "channels_first_blocks"; }

private:
    //! The permutation Shuffle node s applies, if that is all it does (no reshape, no shape input); else empty.
    std::vector<int64_t> purePermutation(int s) const {
        if (!isNode(s, "Shuffle", 1)) return {};
        const ShuffleOp op(node(s).fields);
        const size_t rank = static_cast<size_t>(tensor(node(s).inputs[0]).dims.nbDims);
        if (op.hasReshape || (op.hasPerm1 && op.perm1.size() != rank) || (op.hasPerm2 && op.perm2.size() != rank)) return {};
        std::vector<int64_t> p(rank);
        std::iota(p.begin(), p.end(), 0);
        if (op.hasPerm1) p = op.perm1;
        if (op.hasPerm2) {  // out[i] = t1[perm2[i]] = in[p[perm2[i]]]
            std::vector<int64_t> q(rank);
            for (size_t i = 0; i < rank; ++i) q[i] = p[static_cast<size_t>(op.perm2[i])];
            p = q;
        }
        return p;
    }
    bool outputTypePinned(int ni) const {
        for (const auto& o : node(ni).outputTypes)
            if (o.first) return true;
        return false;
    }
    //! Whether nodes a and b are pinned alike: neither, or both to one precision (the layers keep their pins; the
    //! Shuffles, which only move data, go).
    bool samePin(int a, int b) const {
        const IrNode& x = node(a);
        const IrNode& y = node(b);
        return x.precisionSet == y.precisionSet && (!x.precisionSet || x.precision == y.precision);
    }
    //! Whether constant c broadcast against a rank-4 tensor varies along its last axis (of length len) alone.
    bool alongLastAxis(int c, int64_t len) const {
        const IrTensor& ct = tensor(c);
        if (constFloats(c).empty() || ct.dims.nbDims > 4) return false;
        for (int i = 0; i + 1 < ct.dims.nbDims; ++i)
            if (ct.dims.d[i] != 1) return false;
        const int64_t last = ct.dims.nbDims ? ct.dims.d[ct.dims.nbDims - 1] : 1;
        return last == 1 || last == len;
    }
    //! Why layer ni cannot run on NCHW for its input t, an (N, H, W, C) tensor (empty: it can).
    std::string lastAxisOnly(int ni, int t) const {
        const IrNode& n = node(ni);
        const IrTensor& out = tensor(n.outputs.size() == 1 ? n.outputs[0] : t);
        const int64_t C = tensor(t).dims.d[3];
        if (n.userPlugin || n.outputs.size() != 1) return "a plugin or a layer with several outputs";
        if (out.type != DataType::kFLOAT || out.dims.nbDims != 4) return "its output is not a 4-D float tensor";
        if ((out.dynamicDims >> 3) & 1u) return "its channel (last) dimension is dynamic";
        if (outputTypePinned(ni)) return "its output type is pinned";
        if (isNode(ni, "LayerNorm", 1))
            return normalizeAxis(LayerNormOp(n.fields).axis, 4, "LayerNorm") == 3 ? "" : "the LayerNorm is over another axis";
        if (isNode(ni, "FullyConnected", 1)) {
            const bool last = normalizeAxis(FullyConnectedOp(n.fields).axis, 4, "FullyConnected") == 3;
            return last ? "" : "the FullyConnected is over another axis";
        }
        if (isNode(ni, "Activation", 1)) return "";
        if (isNode(ni, "Scale", 1)) {
            const ScaleOp op(n.fields);
            return op.mode == ScaleMode::kUNIFORM || op.axis(4) == 3 ? "" : "the Scale's channel axis is not the last";
        }
        if (isNode(ni, "ElementWise", 2)) {
            const int c = otherInput(ni, t);
            if (c < 0 && n.inputs[0] == t) return "";  // t with itself
            if (!(out.dims == tensor(t).dims)) return "the element-wise op broadcasts the tensor to a larger shape";
            return alongLastAxis(c, C) ? "" : "the other operand is not a constant varying along the last axis alone";
        }
        return "it is a " + n.type + " layer";
    }

    bool match(int s1, PassContext& ctx) override {
        if (purePermutation(s1) != kToChannelsLast) return false;
        const int x = node(s1).inputs[0];
        if (tensor(x).type != DataType::kFLOAT) return false;
        // Follow the sole readers to a Shuffle (0, 3, 1, 2).
        std::vector<int> chain;
        int t = node(s1).outputs[0];
        std::string why;
        int s2 = -1;
        for (;;) {
            const int r = soleReader(t);
            if (r < 0) {
                why = "'" + tensor(t).name + "' has another reader or is a network output";
                break;
            }
            if (isNode(r, "Shuffle", 1)) {
                if (purePermutation(r) == kToChannelsFirst) s2 = r;
                else why = "it ends in Shuffle '" + node(r).name + "', which is not the permutation (0, 3, 1, 2) alone";
                break;
            }
            why = lastAxisOnly(r, t);
            if (!why.empty()) {
                why = "'" + node(r).name + "' does not act along the last axis alone: " + why;
                break;
            }
            chain.push_back(r);
            t = node(r).outputs[0];
        }
        if (chain.empty()) return false;  // (0, 2, 3, 1) then (0, 3, 1, 2): collapse_shuffles' and remove_noops' work
        if (s2 >= 0) {
            bool alike = samePin(s2, s1);
            for (int ni : chain) alike = alike && samePin(ni, s1);
            if (!alike) why = "its layers are not all pinned alike (ILayer::setPrecision)";
            if (outputTypePinned(s1) || outputTypePinned(s2)) why = "a Shuffle's output type is pinned";
        }
        if (!why.empty()) {  // a channels-last block that stops short: say where
            node(s1).notes.push_back("channels_first_blocks: not rewritten: " + why);
            return false;
        }
        const int y = node(s2).outputs[0];
        const Dims& xd = tensor(x).dims;
        const Dims& last = tensor(t).dims;
        if (!(tensor(y).dims == dims4(xd.d[0], last.d[3], xd.d[2], xd.d[3]))) return false;
        rewrite(s1, chain, s2, ctx);
        return true;
    }

    //! (N, H, W, C) -> (N, C, H, W) for the shape and the dynamic-dimension bits of tensor t.
    void toChannelsFirst(int t) {
        IrTensor& u = g_->tensors[static_cast<size_t>(t)];
        const Dims d = u.dims;
        u.dims = dims4(d.d[0], d.d[3], d.d[1], d.d[2]);
        const uint32_t b = u.dynamicDims;
        u.dynamicDims = (b & ~0xFu) | (b & 1u) | (((b >> 3) & 1u) << 1) | (((b >> 1) & 1u) << 2) | (((b >> 2) & 1u) << 3);
    }
    //! A copy of constant c shaped (C, 1, 1) (one value: c itself) for an NCHW tensor.
    int rebroadcast(int c) {
        const IrTensor& ct = tensor(c);
        const int64_t n = volume(ct.dims);
        if (n == 1) return c;
        IrTensor u = ct;
        u.name = ct.name + "_channels_first";
        u.dims = dims3(n, 1, 1);
        u.isInput = u.isOutput = false;
        u.dynamicDims = 0;
        return g_->addTensor(u);
    }
    void rewrite(int s1, const std::vector<int>& chain, int s2, PassContext& ctx) {
        int prev = node(s1).inputs[0], convs = 0;
        std::string names;
        for (size_t i = 0; i < chain.size(); ++i) {
            const int ni = chain[i];
            const int old = i == 0 ? node(s1).outputs[0] : node(chain[i - 1]).outputs[0];
            IrNode& n = node(ni);
            for (int& u : n.inputs) u = u == old ? prev : rebroadcast(u);
            std::string what;
            if (n.type == "LayerNorm") {
                n.fields.setInt("axis", 1);
                what = "a LayerNorm over axis 1";
            } else if (n.type == "FullyConnected") {
                const FullyConnectedOp op(n.fields);
                FieldMap f;
                f.setInt("num_output_maps", op.K);
                f.setInts("kernel_size", {1, 1});
                f.setFloats("kernel", n.fields.floats("kernel"));
                if (op.biasCount) f.setFloats("bias", n.fields.floats("bias"));
                if (op.activation >= 0) {
                    f.setInt("activation_type", op.activation);
                    f.setFloat("activation_alpha", op.actAlpha);
                    f.setFloat("activation_beta", op.actBeta);
                }
                n.type = "Convolution";
                n.fields = std::move(f);
                what = "a 1x1 Convolution (was a FullyConnected over the last axis)";
                ++convs;
            } else if (n.type == "Scale") {
                const ScaleOp op(n.fields);
                if (op.mode != ScaleMode::kUNIFORM) {
                    n.fields.setInt("mode", static_cast<int64_t>(ScaleMode::kCHANNEL));
                    n.fields.setInt("channel_axis", 1);
                }
                what = "a Scale along axis 1";
            } else {
                what = n.type + " on NCHW";
            }
            if (i + 1 < chain.size()) toChannelsFirst(n.outputs[0]);
            else n.outputs[0] = node(s2).outputs[0];
            n.notes.push_back("channels_first_blocks: runs channels-first: " + what);
            names += (names.empty() ? "'" : ", '") + n.name + "'";
            prev = n.outputs[0];
        }
        // The Shuffles' source layers go to the layers that stand in their places.
        IrNode& first = node(chain.front());
        first.sourceLayers.insert(first.sourceLayers.begin(), node(s1).sourceLayers.begin(), node(s1).sourceLayers.end());
        IrNode& lastNode = node(chain.back());
        lastNode.sourceLayers.insert(lastNode.sourceLayers.end(), node(s2).sourceLayers.begin(), node(s2).sourceLayers.end());
        node(s1).dead = node(s2).dead = true;
        ctx.log.push_back("channels_first_blocks: removed Shuffles '" + node(s1).name + "' and '" + node(s2).name + "'; " +
                          names + " run on NCHW (" + std::to_string(convs) + " FullyConnected -> 1x1 Convolution)");
    }
};

}  // namespace

std::unique_ptr<Pass> makeChannelsFirstBlocks() { return std::make_unique<ChannelsFirstBlocks>(); }

}  // namespace gie
