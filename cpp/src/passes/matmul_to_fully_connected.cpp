// MatrixMultiply(x, constant W) becomes a FullyConnected over x's last axis (leading dimensions kept): what the
// ONNX importer already makes of MatMul by a (K, N) initializer, for the forms it cannot see: a MatrixMultiply
// from the network API (C++ addMatrixMultiply, Python add_matrix_multiply) over a Constant layer, a transposed
// constant (transpose_b), a constant with leading dimensions of 1 ((1, K, N) against (B, L, K)), or a weight
// that only constant_folding computes. The FullyConnected then takes the INT8 kernels (per-channel weights,
// CPU and GPU) and, like the imported one, a following bias Add and activation in its epilogue (fuse_epilogue);
// the GPU's FullyConnected has every GEMM tactic of its MatrixMultiply plus the fused epilogue, so the rewrite
// is applied in every precision. Runs after constant_folding (W must be known) and the recognisers (attention's
// MatMuls stay theirs), before fold_constant_operands / fold_scale / fuse_epilogue (which fold its bias).
// A MatrixMultiply by a constant that does not fit stays one, with a note saying why (under INT8 it runs FP32 /
// FP16: MatrixMultiply has no INT8 kernel).
#include <cstring>
#include <string>
#include <vector>

#include "common/dims.h"
#include "layers/matrix_multiply.h"
#include "passes/pass.h"

namespace gie {
namespace {

class MatMulToFullyConnected final : public Pass {
public:
    const char* name() const override { return "matmul_to_fully_connected"; }
    int run(Graph& g, PassContext& ctx) override {
        int changes = 0;
        for (int ni : g.topologicalOrder()) {
            IrNode& n = g.nodes[static_cast<size_t>(ni)];
            if (n.userPlugin || n.type != "MatrixMultiply" || n.inputs.size() != 2 || n.outputs.size() != 1) continue;
            const IrTensor& a = g.tensors[static_cast<size_t>(n.inputs[0])];
            const IrTensor& b = g.tensors[static_cast<size_t>(n.inputs[1])];
            if ((a.constant != nullptr) == (b.constant != nullptr)) continue;  // two run-time operands (or two constants: folded)
            const std::string why = a.constant ? "the constant is the first operand (its rows are not x's)" : declined(g, n);
            if (!why.empty()) {
                n.notes.push_back(std::string("matmul_to_fully_connected: kept as MatrixMultiply") +
                                  (ctx.int8 ? " (no INT8 kernel: it runs FP32 / FP16)" : "") + ": " + why);
                continue;
            }
            const bool transB = MatrixMultiplyOp(n.fields).transB;
            const int rb = b.dims.nbDims;
            const int64_t K = a.dims.d[a.dims.nbDims - 1];
            const int64_t N = transB ? b.dims.d[rb - 2] : b.dims.d[rb - 1];
            // FullyConnected's kernel is (N, K) row-major: W itself when transposed (transpose_b), else its transpose.
            std::vector<float> w(static_cast<size_t>(N * K));
            const auto* src = reinterpret_cast<const float*>(b.constant->data());
            for (int64_t o = 0; o < N; ++o)
                for (int64_t k = 0; k < K; ++k) w[static_cast<size_t>(o * K + k)] = transB ? src[o * K + k] : src[k * N + o];
            FieldMap f;
            f.setInt("num_outputs", N);
            f.setFloats("kernel", w);
            f.setInt("axis", a.dims.nbDims - 1);
            n.type = "FullyConnected";
            n.fields = std::move(f);
            n.inputs.resize(1);
            n.notes.push_back("matmul_to_fully_connected: MatrixMultiply by the constant '" + b.name +
                              "' became a FullyConnected over the last axis");
            ctx.log.push_back("matmul_to_fully_connected: '" + n.name + "' became a FullyConnected");
            ++changes;
        }
        if (changes) g.compact();
        return changes;
    }

private:
    //! Why MatrixMultiply node n (x times a constant) is not a FullyConnected over x's last axis, or "".
    static std::string declined(const Graph& g, const IrNode& n) {
        const IrTensor& a = g.tensors[static_cast<size_t>(n.inputs[0])];
        const IrTensor& b = g.tensors[static_cast<size_t>(n.inputs[1])];
        const IrTensor& y = g.tensors[static_cast<size_t>(n.outputs[0])];
        const MatrixMultiplyOp op(n.fields);
        const int ra = a.dims.nbDims, rb = b.dims.nbDims;
        if (a.type != DataType::kFLOAT || b.type != DataType::kFLOAT)
            return std::string("operands are ") + dataTypeName(a.type) + " and " + dataTypeName(b.type) + ", not float32";
        if (a.shapeTensor) return "the first operand is a shape tensor";
        if (ra < 2) return "the first operand is a vector";
        if (op.transA) return "the first operand is transposed (transpose_a)";
        if (a.dynamicDims & (1u << (ra - 1))) return "the first operand's last dimension is dynamic";
        if (rb < 2) return "the constant is a vector";
        if (rb > ra) return "the constant has more dimensions than the first operand (it broadcasts the result)";
        for (int i = 0; i + 2 < rb; ++i)
            if (b.dims.d[i] != 1) return "the constant is a stack of matrices " + toString(b.dims) + " (batch dimensions other than 1)";
        const int64_t K = a.dims.d[ra - 1], N = op.transB ? b.dims.d[rb - 2] : b.dims.d[rb - 1];
        if (K <= 0 || N <= 0) return "an empty dimension";
        if (static_cast<int64_t>(b.constant->size()) != K * N * static_cast<int64_t>(sizeof(float)))
            return "the constant holds " + std::to_string(b.constant->size()) + " bytes, not " + std::to_string(K) + " x " + std::to_string(N) + " floats";
        Dims fc = a.dims;
        fc.d[ra - 1] = N;
        if (!(y.dims == fc)) return "its output " + toString(y.dims) + " is not the input's leading dimensions and " + std::to_string(N);
        return "";
    }
};

}  // namespace

std::unique_ptr<Pass> makeMatMulToFullyConnected() { return std::make_unique<MatMulToFullyConnected>(); }

}  // namespace gie
