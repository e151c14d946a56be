// ElementWise layers with a constant operand that is one value, or one value per channel (dimension 1),
// become Scale layers (x + c -> shift, x - c -> shift -c, x * c -> scale). The rewrite is exact, and it
// lets later passes remove them (x + 0, x * 1) or fold them into the producing convolution's weights.
#include "common/dims.h"
#include "gie/network.h"
#include "passes/pass.h"

namespace gie {
namespace {

//! Per-channel values of constant `c` broadcast against `x` (count 1 or x.dims[1]), or false.
bool channelValues(const IrTensor& c, const IrTensor& x, std::vector<float>& values) {
    if (c.type != DataType::kFLOAT || x.type != DataType::kFLOAT || c.dims.nbDims > x.dims.nbDims) return false;
    int offset = x.dims.nbDims - c.dims.nbDims;  // numpy broadcasting aligns dims from the right
    int channelDim = -1;
    for (int i = 0; i < c.dims.nbDims; ++i) {
        int xi = i + offset;
        if (c.dims.d[i] == 1) continue;
        if (xi != 1 || c.dims.d[i] != x.dims.d[1]) return false;
        channelDim = i;
    }
    const auto* v = reinterpret_cast<const float*>(c.constant->data());
    int64_t n = volume(c.dims);
    values.assign(v, v + n);
    (void)channelDim;
    return n == 1 || (x.dims.nbDims >= 2 && n == x.dims.d[1]);
}

class FoldConstantOperands final : public Pass {
public:
    const char* name() const override { return "fold_constant_operands"; }
    int run(Graph& g, PassContext& ctx) override {
        int changes = 0;
        for (int ni : g.topologicalOrder()) {
            IrNode& e = g.nodes[static_cast<size_t>(ni)];
            if (e.type != "ElementWise" || e.userPlugin || e.inputs.size() != 2) continue;
            int64_t op = e.fields.getInt("op", -1);
            bool c0 = g.tensors[static_cast<size_t>(e.inputs[0])].constant != nullptr;
            bool c1 = g.tensors[static_cast<size_t>(e.inputs[1])].constant != nullptr;
            if (c0 == c1) continue;
            int xi = c0 ? 1 : 0;
            const IrTensor& x = g.tensors[static_cast<size_t>(e.inputs[static_cast<size_t>(xi)])];
            const IrTensor& c = g.tensors[static_cast<size_t>(e.inputs[static_cast<size_t>(1 - xi)])];
            const IrTensor& out = g.tensors[static_cast<size_t>(e.outputs[0])];
            std::vector<float> v;
            if (!(out.dims == x.dims) || !channelValues(c, x, v)) continue;  // a broadcast that grows x stays
            FieldMap f;
            f.setInt("mode", static_cast<int64_t>(v.size() == 1 ? ScaleMode::kUNIFORM : ScaleMode::kCHANNEL));
            if (op == 0) {  // SUM
                f.setFloats("shift", v);
            } else if (op == 4 && xi == 0) {  // x - c
                for (float& t : v) t = -t;
                f.setFloats("shift", v);
            } else if (op == 1) {  // PROD
                f.setFloats("scale", v);
            } else {
                continue;
            }
            e.type = "Scale";
            e.fields = std::move(f);
            e.inputs = {e.inputs[static_cast<size_t>(xi)]};
            e.notes.push_back("fold_constant_operands: element-wise op with a constant became a Scale");
            ctx.log.push_back("fold_constant_operands: '" + e.name + "' became a Scale");
            ++changes;
        }
        if (changes) g.compact();
        return changes;
    }
};

}  // namespace

std::unique_ptr<Pass> makeFoldConstantOperands() { return std::make_unique<FoldConstantOperands>(); }

}  // namespace gie
