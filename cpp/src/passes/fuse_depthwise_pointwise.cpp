// CPU: a depthwise convolution whose output only a 1x1 convolution reads (MobileNetV2's depthwise -> projection;
// EfficientNet-B0's depthwise output also feeds its squeeze-excitation, so it stays apart) becomes one
// DepthwisePointwise layer (layers/depthwise_pointwise.h), which the CPU kernel computes one band of output rows at a
// time: the depthwise output lives in a per-thread band buffer instead of a whole tensor written out and read back,
// and the pair needs one parallel loop (one wait for the slowest thread) instead of two.
//
// Only where that was measured not to lose (Zen 3, AVX2: faster with 2 threads, even with 1): output planes of at
// least kMinPlane pixels (on smaller planes the bands are a few rows each and every band transposes its halo rows
// again), and layers whose CPU kernels can run by bands (bandable: e.g. not AVX2's 3x3 stride-2 row kernel, which
// MobileNetV2's features.2 keeps). Runs after fuse_epilogue (each convolution has its bias, activation and the 1x1 its
// residual by then); FP32 CPU builds without INT8 only; both layers plain FP32 (no pinned precision) and the
// depthwise layer without a residual.
#include "kernels/convolution_params.h"
#include "layers/convolution.h"
#include "passes/pattern_match.h"

namespace gie {
namespace {

//! Smallest depthwise output plane (pixels) that is fused. MobileNetV2 on Zen 3, 2 threads, per-kernel minima of the
//! fused kernel against its depthwise + 1x1 kernels: 14x14 (features.8-13) 0.19 against 0.18 ms, 0.37 / 0.34; 7x7
//! (features.15-17) 0.29 / 0.24, 0.48 / 0.35: the bands there are half or a third of the plane and redo 2 of their
//! 7 or 3-4 rows' input.
constexpr int64_t kMinPlane = 28 * 28;

class FuseDepthwisePointwise final : public RecognizerPass {
public:
    const char* name() const override { return "fuse_depthwise_pointwise"; }

private:
    bool plainFloat(int ni) const {
        const IrNode& n = node(ni);
        return !n.precisionSet || n.precision == DataType::kFLOAT;
    }

    //! Whether the CPU kernels this machine picks for the two layers can run by bands (cpu::Conv2dCpu: the depthwise
    //! layer on the channel-blocked kernel, not e.g. AVX2's 3x3 stride-2 row kernel or AVX-512's per-plane kernel on
    //! 56x56; the 1x1 on the normal-orientation GEMM, not the direct kernel): both prepared once to ask them.
    static bool bandable(const ConvolutionOp& dw, const ConvolutionOp& pw, const Dims& x, const FieldMap& dwFields,
                         const FieldMap& pwFields) {
        const cpu::Conv2dParams d = conv2dParams(dw, x);
        if (!cpu::Conv2dCpu(d, dwFields.floats("kernel").data()).depthwiseRowsCapable()) return false;
        const cpu::Conv2dParams q = conv2dParams(pw, dims4(d.N, d.K, d.P(), d.Q()));
        return cpu::Conv2dCpu(q, pwFields.floats("kernel").data()).pointwiseColumnsCapable();
    }

    bool match(int pwi, PassContext& ctx) override {
        if (ctx.device != DeviceType::kCPU || ctx.int8) return false;
        const IrNode& pn = node(pwi);
        if (pn.dead || pn.userPlugin || pn.type != "Convolution" || pn.inputs.empty() || pn.inputs.size() > 2) return false;
        const ConvolutionOp pw(pn.fields);
        if (pw.R != 1 || pw.S != 1 || pw.sh != 1 || pw.sw != 1 || pw.pt || pw.pl || pw.pb || pw.pr || pw.groups != 1) return false;
        const int mid = pn.inputs[0];
        if (pn.inputs.size() == 2 && pn.inputs[1] == mid) return false;
        const int dwi = soleProducer(mid, pwi);
        if (dwi < 0 || !isNode(dwi, "Convolution", 1)) return false;
        const IrNode& dn = node(dwi);
        const IrTensor& xt = tensor(dn.inputs[0]);
        const IrTensor& mt = tensor(mid);
        if (xt.type != DataType::kFLOAT || mt.type != DataType::kFLOAT || tensor(pn.outputs[0]).type != DataType::kFLOAT) return false;
        if (!plainFloat(dwi) || !plainFloat(pwi) || xt.dims.nbDims != 4 || mt.dims.nbDims != 4) return false;
        const ConvolutionOp dw(dn.fields);
        if (dw.groups != dw.K || xt.dims.d[1] != dw.K) return false;  // depthwise, channel multiplier 1
        for (int i = 0; i < 4; ++i)
            if (xt.dims.d[i] <= 0 || mt.dims.d[i] <= 0) return false;
        if (mt.dims.d[2] * mt.dims.d[3] < kMinPlane || !bandable(dw, pw, xt.dims, dn.fields, pn.fields)) return false;

        FieldMap f;
        for (const auto& [prefix, from] : {std::pair<const char*, const IrNode*>{"dw_", &dn}, {"pw_", &pn}})
            for (size_t i = 0; i < from->fields.size(); ++i) {
                Field x = from->fields.at(i);
                x.name = prefix + x.name;
                f.set(x.view());
            }
        std::vector<std::string> sources;
        std::string names;
        describe({pwi, dwi}, sources, names);
        node(dwi).dead = true;
        IrNode& r = node(pwi);
        r.type = "DepthwisePointwise";
        r.fields = f;
        r.inputs[0] = dn.inputs[0];
        r.sourceLayers = sources;
        const std::string line = "fuse_depthwise_pointwise: " + names + " became one DepthwisePointwise (" +
                                 std::to_string(dw.K) + " channels, " + std::to_string(mt.dims.d[2]) + "x" +
                                 std::to_string(mt.dims.d[3]) + " -> " + std::to_string(pw.K) + ")";
        r.notes.push_back(line);
        ctx.log.push_back(line);
        return true;
    }
};

}  // namespace

std::unique_ptr<Pass> makeFuseDepthwisePointwise() { return std::make_unique<FuseDepthwisePointwise>(); }

}  // namespace gie
