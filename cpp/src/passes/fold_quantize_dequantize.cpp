// Explicit quantization (docs/int8.md): a QuantizeDequantize layer (an ONNX Q/DQ pair on an activation) becomes the
// INT8 range of the tensors it wraps, and an Identity that remove_noops then drops, when
//   - INT8 is allowed, the pair is symmetric INT8 (zero point 0, [-128, 127]) and every reader of its output has an
//     INT8 kernel: range = 127 * scale, so the tensor is quantized (a Reformat or the producer's INT8 epilogue) exactly
//     where the model did, rounding and saturation included (a range set by hand wins). A pair read by a layer
//     without an INT8 kernel, or writing a network output, stays: float readers see the rounded values;
//   - the build is for the GPU, which has no kernel for it: the tensors keep the range, the rounding is not applied
//     (a warning counts these).
// Otherwise (CPU without INT8, or an asymmetric pair) it stays, and the CPU applies the rounding in float.
#include "gie/plugin.h"
#include "layers/int8_math.h"
#include "layers/quantize_dequantize.h"
#include "passes/pass.h"

namespace gie {
namespace {

//! Whether every reader of tensor t has an INT8 kernel on the device (so it reads t quantized) and t is no network output.
bool readersQuantize(const Graph& g, int t, DeviceType device) {
    if (g.tensors[static_cast<size_t>(t)].isOutput) return false;
    for (int c : g.consumers(t)) {
        const IrNode& r = g.nodes[static_cast<size_t>(c)];
        if (r.userPlugin || !getPluginRegistry()->getCreatorVariant(r.type.c_str(), nullptr, device, int8::kVariant)) return false;
    }
    return true;
}

class FoldQuantizeDequantize final : public Pass {
public:
    const char* name() const override { return "fold_quantize_dequantize"; }
    int run(Graph& g, PassContext& ctx) override {
        int changes = 0, unrounded = 0;
        for (int ni : g.topologicalOrder()) {
            IrNode& n = g.nodes[static_cast<size_t>(ni)];
            if (n.type != QuantizeDequantizeOp::kType || n.userPlugin) continue;
            const QuantizeDequantizeOp op(n.fields);
            const bool gpu = ctx.device == DeviceType::kGPU;
            const bool int8 = ctx.int8 && op.symmetricInt8() && readersQuantize(g, n.outputs[0], ctx.device);
            if (!int8 && !gpu) continue;
            if (op.symmetricInt8()) {
                const float range = 127.f * op.scale;
                for (int t : {n.inputs[0], n.outputs[0]}) {
                    IrTensor& x = g.tensors[static_cast<size_t>(t)];
                    if (!(x.dynamicRange > 0.f)) x.dynamicRange = range;
                }
            }
            if (!int8) ++unrounded;
            n.type = "Identity";
            n.fields = FieldMap();
            n.notes.push_back(int8 ? "fold_quantize_dequantize: the Q/DQ pair became the INT8 range of its tensors"
                                                              : "fold_quantize_dequantize: the GPU has no Q/DQ kernel: not rounded");
            ctx.log.push_back("fold_quantize_dequantize: '" + n.name + "' -> range " + std::to_string(127.f * op.scale));
            ++changes;
        }
        if (unrounded)
            logMessage(ctx.logger, ILogger::Severity::kWARNING,
                       strcat(unrounded, " QuantizeDequantize layer(s) (ONNX Q/DQ pairs) are not applied on the GPU, which has no kernel "
                                         "for them: their tensors run unrounded in float (their ranges are kept)"));
        return changes;
    }
};

}  // namespace

std::unique_ptr<Pass> makeFoldQuantizeDequantize() { return std::make_unique<FoldQuantizeDequantize>(); }

}  // namespace gie
