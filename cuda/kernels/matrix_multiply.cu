// GPU MatrixMultiply (numpy.matmul semantics; float32, or FP16 storage with FP32 math), the same problem as
// kernels/matrix_multiply_cpu.cpp: transposes of the last two dimensions, 1-D operands as a row (A) or a
// column (B) whose dimension is dropped from the result, batch dimensions broadcast numpy-style. When B has
// no batch dimensions and A is a stack of untransposed matrices the stack is folded into one tall GEMM;
// otherwise one batched launch covers every broadcast matrix (operand offsets from per-dimension strides,
// 0 for broadcast dimensions). Inputs and output are packed (no strided support, like the CPU kernel).
//
// Tactics: the tile SGEMMs, split-K, the FP16 tensor-core tiles (hgemm_mma_*) and gemv_warp_dot of gemm.cuh (the GEMV when op(A)'s rows and op(B)'s
// columns are both contiguous in k and one side of the result is small: matrix x vector, vector x
// transposed matrix, batched dot products).
// FP16: both inputs and the output kHALF (a constant B is converted by the builder); see gemm.cuh.
#include <climits>

#include "common.cuh"
#include "float_or_half.cuh"
#include "kernels/gemm.cuh"
#include "layers/matrix_multiply.h"

namespace gie {
namespace {

class MatrixMultiplyGpu final : public Kernel<MatrixMultiplyGpu, MatrixMultiplyOp> {
public:
    using Kernel::Kernel;

    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        return cuda::floatOrHalfLinear(pos, inOut);
    }

    int32_t getNbTactics() const noexcept override { return cuda::gemm::kNbTactics; }
    const char* getTacticName(int32_t t) const noexcept override { return cuda::gemm::tacticName(t); }
    int32_t setTactic(int32_t t) noexcept override {
        if (t < 0 || t >= cuda::gemm::kNbTactics) return -1;
        if (cuda::gemm::isSplitK(t) && splits_[t] <= 1) return -1;
        if (t == cuda::gemm::kGemv && !gemvOk_) return -1;
        if (cuda::gemm::isHmma(t) && !cuda::gemm::hmmaAvailable(half_)) return -1;
        if (cuda::gemm::isWgmma(t)) return -1;  // FullyConnected's only (transposes and batches not described to it)
        tactic_ = t;
        return 0;
    }
    int32_t getTactic() const noexcept override { return tactic_; }
    size_t getWorkspaceSize() const noexcept override {
        if (!cuda::gemm::isSplitK(tactic_)) return 0;
        return cuda::gemm::splitKWorkspace(maxM_, maxN_, maxCount_, splits_[tactic_]);
    }

protected:
    void configureKernel(const TensorDesc* inputs, int32_t, const TensorDesc*, int32_t) override {
        half_ = inputs[0].type == DataType::kHALF;
        cuda::gemm::Params p;
        if (!describe(inputs[0].dims, inputs[1].dims, p)) {
            maxM_ = maxN_ = maxCount_ = 0;
            gemvOk_ = false;
            for (int& s : splits_) s = 1;
            return;
        }
        cuda::gemm::prepare(p);
        maxM_ = p.M;
        maxN_ = p.N;
        maxCount_ = p.batch.count;
        gemvOk_ = cuda::gemm::gemvEligible(p) && std::min(p.M, p.N) <= cuda::gemm::kGemvMaxSide;
        for (int t = 0; t < cuda::gemm::kNbTactics; ++t)
            splits_[t] = cuda::gemm::isSplitK(t) ? cuda::gemm::chooseSplits(t, p.M, p.N, p.K, p.batch.count) : 1;
    }

    void run(const KernelCall& c) const override {
        cuda::gemm::Params p;
        if (!describe(c.inDims(0), c.inDims(1), p)) return;  // empty result
        p.half = c.inDesc[0].type == DataType::kHALF;
        p.A = c.inputs[0];
        p.B = c.inputs[1];
        p.C = c.outputs[0];
        cuda::gemm::prepare(p);
        cuda::gemm::run<true, true, true, true>(p, tactic_, splits_[tactic_], c.workspace, getWorkspaceSize(),
                                                cuda::streamOf(c));
    }

private:
    //! The GEMM problem of inputs a, b (no pointers yet); false when the result is empty.
    bool describe(const Dims& a, const Dims& b, cuda::gemm::Params& g) const {
        const auto p = op_.problem(a, b);
        const int64_t M = p.M, N = p.N, K = p.K;
        const int64_t count = volume(p.batch);
        if (count == 0 || M == 0 || N == 0) return false;
        const bool ta = op_.transA && !p.aVec;
        const bool tb = op_.transB && !p.bVec;
        g.transA = ta;
        g.transB = tb;
        g.lda = ta ? M : K;
        g.ldb = p.bVec ? 1 : (tb ? K : N);
        g.ldc = N;
        const int64_t aMat = M * K, bMat = K * N, cMat = M * N;
        const int64_t aCount = volume(p.aBatch), bCount = volume(p.bBatch);
        int64_t rows = M, mats = count;
        cuda::gemm::Batch& bt = g.batch;
        if (bCount == 1 && aCount == count && !ta) {
            // A's matrices are consecutive rows of one (count*M, K) matrix.
            rows = count * M;
            mats = 1;
            bt.nb = 0;
        } else {
            const int nb = p.batch.nbDims;
            int64_t as = aMat, bs = bMat;
            for (int i = nb - 1; i >= 0; --i) {
                bt.size[i] = static_cast<int>(p.batch.d[i]);
                bt.a[i] = p.aBatch.d[i] == 1 ? 0 : as;
                bt.b[i] = p.bBatch.d[i] == 1 ? 0 : bs;
                as *= p.aBatch.d[i];
                bs *= p.bBatch.d[i];
            }
            bt.nb = nb;
            cuda::gemm::simplifyBatch(bt);
        }
        bt.c = cMat;
        GIE_CHECK(rows < INT_MAX - 1024 && N < INT_MAX - 1024 && K < INT_MAX - 1024 && mats < INT_MAX, ErrorCode::kUNSUPPORTED,
                  "MatrixMultiply: GEMM dimensions too large (", mats, " x ", rows, " x ", N, " x ", K, ")");
        bt.count = static_cast<int>(mats);
        g.M = static_cast<int>(rows);
        g.N = static_cast<int>(N);
        g.K = static_cast<int>(K);
        return true;
    }

    int tactic_ = cuda::gemm::kTile64x64;
    int splits_[cuda::gemm::kNbTactics] = {1, 1, 1, 1, 1, 1, 1, 1};
    int maxM_ = 0, maxN_ = 0, maxCount_ = 0;
    bool gemvOk_ = false;
    bool half_ = false;  // configured for FP16 storage (the tensor-core tactics are offered)
};
GIE_REGISTER_KERNEL(MatrixMultiplyGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
