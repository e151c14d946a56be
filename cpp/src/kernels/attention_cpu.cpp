// CPU Attention (the reference for cuda/kernels/attention.cu): per batch matrix and block of query rows,
// S = scale * Q K^T by cpu::sgemm, the mask added, each row's softmax as the Softmax kernel computes it (max
// subtracted, exp in float, the sum in double), then O = P V by cpu::sgemm. The blocks of query rows run in
// parallel (one sample and head of a long sequence still uses every thread); the GEMMs inside run single-threaded.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/parallel.h"
#include "kernels/gemm.h"
#include "layers/attention.h"

namespace gie {
namespace {

constexpr int64_t kQueryBlock = 64;

class AttentionCpu final : public Kernel<AttentionCpu, AttentionOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        std::vector<Dims> in;
        for (int i = 0; i < c.nbInputs; ++i) in.push_back(c.inDims(i));
        const auto p = op_.problem(in);
        const int64_t Sq = p.Sq, Sk = p.Sk, D = p.D, Dv = p.Dv;
        if (p.count == 0 || Sq == 0 || Dv == 0) return;
        const float* Q = c.in(0);
        const float* K = c.in(1);
        const float* V = c.in(2);
        const float* mask = p.hasMask ? c.in(3) : nullptr;
        float* O = c.out(0);
        if (Sk == 0) {  // softmax over no keys: 0 / 0, as the unfused layers give
            std::fill(O, O + p.count * Sq * Dv, std::nanf(""));
            return;
        }
        const float scale = op_.scale(D);
        const int64_t blocks = (Sq + kQueryBlock - 1) / kQueryBlock;
        parallelFor(p.count * blocks, p.count * Sq * Sk * (D + Dv + 20), [&](int64_t item) {
            const int64_t b = item / blocks, q0 = (item % blocks) * kQueryBlock, rows = std::min(kQueryBlock, Sq - q0);
            std::vector<float> s(static_cast<size_t>(rows * Sk));
            const float* kb = K + b * Sk * D;
            if (D == 0) std::fill(s.begin(), s.end(), 0.f);
            else cpu::sgemm(false, !op_.transK, rows, Sk, D, scale, Q + (b * Sq + q0) * D, D, kb, op_.transK ? Sk : D, 0.f, s.data(), Sk);
            const float* mb = mask ? mask + p.maskOffset(b) : nullptr;
            for (int64_t r = 0; r < rows; ++r) {
                float* row = s.data() + r * Sk;
                if (mb) {
                    const float* mr = mb + (q0 + r) * p.maskQStride;
                    for (int64_t j = 0; j < Sk; ++j) row[j] += mr[j * p.maskKStride];
                }
                float m = -INFINITY;
                for (int64_t j = 0; j < Sk; ++j) m = std::max(m, row[j]);
                double sum = 0;
                for (int64_t j = 0; j < Sk; ++j) {
                    row[j] = std::exp(row[j] - m);
                    sum += row[j];
                }
                const float inv = static_cast<float>(1.0 / sum);
                for (int64_t j = 0; j < Sk; ++j) row[j] *= inv;
            }
            cpu::sgemm(false, false, rows, Dv, Sk, 1.f, s.data(), Sk, V + b * Sk * Dv, Dv, 0.f, O + (b * Sq + q0) * Dv, Dv);
        });
    }
};
GIE_REGISTER_KERNEL(AttentionCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
