// CPU MatrixMultiply: one cpu::sgemm per batch matrix (numpy.matmul broadcasting).
//
// When B has no batch dimensions and A is a stack of untransposed matrices, the stack is folded into one
// tall GEMM. Many or small matrices run one GEMM per thread; a few large ones use the GEMM's own threading.
#include <cstring>

#include "common/parallel.h"
#include "kernels/gemm.h"
#include "layers/matrix_multiply.h"

namespace gie {
namespace {

class MatrixMultiplyCpu final : public Kernel<MatrixMultiplyCpu, MatrixMultiplyOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        const Dims& a = c.inDims(0);
        const Dims& b = c.inDims(1);
        const auto p = op_.problem(a, b);
        const float* A = c.in(0);
        const float* B = c.in(1);
        float* C = c.out(0);
        const int64_t M = p.M, N = p.N, K = p.K;
        const int64_t count = volume(p.batch);
        if (count == 0 || M == 0 || N == 0) return;
        if (K == 0) {
            std::memset(C, 0, static_cast<size_t>(count * M * N) * sizeof(float));
            return;
        }
        const bool ta = op_.transA && !p.aVec;
        const bool tb = op_.transB && !p.bVec;
        const int64_t lda = ta ? M : K;
        const int64_t ldb = p.bVec ? 1 : (tb ? K : N);
        const int64_t aMat = M * K, bMat = K * N, cMat = M * N;

        const int64_t aCount = volume(p.aBatch), bCount = volume(p.bBatch);
        if (bCount == 1 && aCount == count && !ta) {
            // A's matrices are consecutive rows of one (count*M, K) matrix.
            cpu::sgemm(false, tb, count * M, N, K, 1.f, A, lda, B, ldb, 0.f, C, N);
            return;
        }
        // Offsets of each operand's matrix for a broadcast batch index.
        const int nb = p.batch.nbDims;
        int64_t aStride[Dims::MAX_DIMS], bStride[Dims::MAX_DIMS];
        int64_t as = aMat, bs = bMat;
        for (int i = nb - 1; i >= 0; --i) {
            aStride[i] = p.aBatch.d[i] == 1 ? 0 : as;
            bStride[i] = p.bBatch.d[i] == 1 ? 0 : bs;
            as *= p.aBatch.d[i];
            bs *= p.bBatch.d[i];
        }
        auto one = [&](int64_t bi) {
            int64_t rem = bi, ao = 0, bo = 0;
            for (int i = nb - 1; i >= 0; --i) {
                const int64_t ci = rem % p.batch.d[i];
                rem /= p.batch.d[i];
                ao += ci * aStride[i];
                bo += ci * bStride[i];
            }
            cpu::sgemm(ta, tb, M, N, K, 1.f, A + ao, lda, B + bo, ldb, 0.f, C + bi * cMat, N);
        };
        const int64_t work = M * N * K;
        const int64_t threads = cpuThreads();
        // Enough matrices to keep every thread busy (or too small to split): one GEMM per thread at a time.
        if (count > 1 && (work < (int64_t(1) << 18) || count >= 2 * threads)) {
            parallelFor(count, count * work, one);  // the GEMMs run single-threaded inside
        } else {
            for (int64_t bi = 0; bi < count; ++bi) one(bi);
        }
    }
};
GIE_REGISTER_KERNEL(MatrixMultiplyCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
