// CPU Deconvolution (transposed 2-D convolution, NCHW): per image and group, cols = W^T x X with cpu::sgemm,
// then col2im scatters cols into the output, which starts as the bias.
//
// Kernel layout (C, K/groups, R, S). For group g: W_g is the (C/g) x (K/g*R*S) matrix of its input
// channels, X_g the (C/g) x (H*W) input, cols = W_g^T X_g is (K/g*R*S) x (H*W), and
// Y[k, h*sh - pt + r*dh, w*sw - pl + s*dw] += cols[(k, r, s), (h, w)]. A 1x1, stride-1, unpadded
// deconvolution needs no col2im: Y_g = W_g^T X_g directly. Small (image, group) problems run in parallel,
// one column buffer per thread; large ones use the GEMM's threading and a parallel col2im. An optional
// fused activation (activation_type / activation_alpha / activation_beta) is applied last, by the row function
// of the Activation kernel (gemm::activateRow), so fusing it changes no bit.
#include <algorithm>
#include <cstring>

#include "common/parallel.h"
#include "kernels/gemm.h"
#include "layers/convolution.h"
#include "layers/simple.h"

namespace gie {
namespace {

class DeconvolutionCpu final : public Kernel<DeconvolutionCpu, DeconvolutionOp> {
public:
    explicit DeconvolutionCpu(FieldMap f) : Kernel(std::move(f)) {
        weights_ = fields_.floats("kernel");
        bias_ = fields_.floats("bias");
        GIE_CHECK(op_.activation == -1 || isActivationType(op_.activation), ErrorCode::kINVALID_ARGUMENT,
                  "Deconvolution: unknown activation_type ", op_.activation);
    }
    size_t getWorkspaceSize() const noexcept override { return workspace_; }

protected:
    void configureKernel(const TensorDesc* in, int32_t, const TensorDesc*, int32_t) override {
        const Dims& x = in[0].dims;
        colsBytes_ = direct() ? 0 : static_cast<size_t>((op_.K / op_.groups) * op_.R * op_.S * x.d[2] * x.d[3]) * sizeof(float);
        // Small column buffers get one slot per thread so that (image, group) pairs can run in parallel.
        slots_ = 1;
        if (colsBytes_ <= (size_t(4) << 20)) slots_ = std::max(1, cpuThreads());
        workspace_ = colsBytes_ * static_cast<size_t>(slots_);
    }
    bool direct() const {
        return op_.R == 1 && op_.S == 1 && op_.sh == 1 && op_.sw == 1 && op_.pt == 0 && op_.pl == 0 && op_.pb == 0 && op_.pr == 0 &&
               op_.oph == 0 && op_.opw == 0;
    }
    void run(const KernelCall& c) const override {
        compute(c);
        if (op_.activation < 0) return;
        // Fused activation (fields activation_type / activation_alpha / activation_beta), after the bias.
        const Dims& y = c.outDims(0);
        const int64_t plane = y.d[2] * y.d[3];
        float* out = c.out(0);
        const auto t = static_cast<ActivationType>(op_.activation);
        parallelFor(y.d[0] * y.d[1], volume(y) * 8, [&](int64_t i) {
            cpu::gemm::activateRow(out + i * plane, plane, t, op_.actAlpha, op_.actBeta);
        });
    }
    void compute(const KernelCall& c) const {
        const Dims& x = c.inDims(0);
        const Dims& y = c.outDims(0);
        const int64_t N = x.d[0], C = x.d[1], H = x.d[2], W = x.d[3];
        const int64_t K = y.d[1], P = y.d[2], Q = y.d[3];
        const int64_t G = op_.groups, Cg = C / G, Kg = K / G, R = op_.R, S = op_.S;
        const int64_t HW = H * W, PQ = P * Q, rows = Kg * R * S;
        GIE_CHECK(static_cast<int64_t>(weights_.size()) == C * Kg * R * S, ErrorCode::kINVALID_MODEL, "Deconvolution kernel has ",
                  weights_.size(), " values; expected ", C * Kg * R * S);
        const float* in = c.in(0);
        float* out = c.out(0);
        const float* wt = weights_.data();

        // Output starts as the bias (or zero).
        parallelFor(N * K, N * K * PQ, [&](int64_t nk) {
            float v = bias_.empty() ? 0.f : bias_[static_cast<size_t>(nk % K)];
            std::fill(out + nk * PQ, out + (nk + 1) * PQ, v);
        });
        const int64_t pairs = N * G;  // (image, group)
        const int64_t pairWork = rows * HW * (Cg + 1);
        const bool smallPairs = pairs > 1 && pairWork < (int64_t(1) << 18);
        if (direct()) {
            auto one = [&](int64_t i) {
                const int64_t n = i / G, g = i % G;
                cpu::sgemm(true, false, Kg, HW, Cg, 1.f, wt + g * Cg * Kg, Kg, in + (n * C + g * Cg) * HW, HW, 1.f,
                           out + (n * K + g * Kg) * PQ, PQ);
            };
            if (smallPairs)
                parallelFor(pairs, pairs * pairWork, one);
            else
                for (int64_t i = 0; i < pairs; ++i) one(i);
            return;
        }
        const size_t need = static_cast<size_t>(rows * HW) * sizeof(float);
        GIE_CHECK(c.workspace && colsBytes_ >= need, ErrorCode::kINTERNAL, "Deconvolution: workspace of ", colsBytes_,
                  " bytes per slot is too small for ", need);
        const int64_t sh = op_.sh, sw = op_.sw, pt = op_.pt, pl = op_.pl, dh = op_.dh, dw = op_.dw;
        // Scatters cols (rows x HW) of one (image, group) into the output channels [k0, k1) of yg.
        auto col2im = [&](const float* cols, float* yg, int64_t k0, int64_t k1) {
            for (int64_t k = k0; k < k1; ++k) {
                float* yk = yg + k * PQ;
                for (int64_t r = 0; r < R; ++r) {
                    for (int64_t s = 0; s < S; ++s) {
                        const float* col = cols + ((k * R + r) * S + s) * HW;
                        const int64_t oy0 = r * dh - pt, ox0 = s * dw - pl;
                        // Valid w: 0 <= w*sw + ox0 < Q.
                        const int64_t w0 = ox0 >= 0 ? 0 : (-ox0 + sw - 1) / sw;
                        const int64_t w1 = Q - ox0 <= 0 ? 0 : std::min(W, (Q - ox0 + sw - 1) / sw);
                        for (int64_t h = 0; h < H; ++h) {
                            const int64_t oy = h * sh + oy0;
                            if (oy < 0 || oy >= P) continue;
                            float* yrow = yk + oy * Q;
                            const float* crow = col + h * W;
                            if (sw == 1) {
                                for (int64_t w = w0; w < w1; ++w) yrow[w + ox0] += crow[w];
                            } else {
                                for (int64_t w = w0; w < w1; ++w) yrow[w * sw + ox0] += crow[w];
                            }
                        }
                    }
                }
            }
        };
        auto gemm = [&](int64_t i, float* cols) {
            const int64_t n = i / G, g = i % G;
            cpu::sgemm(true, false, rows, HW, Cg, 1.f, wt + g * Cg * rows, rows, in + (n * C + g * Cg) * HW, HW, 0.f, cols, HW);
            return out + (n * K + g * Kg) * PQ;
        };
        const int64_t slots = std::min<int64_t>(slots_, pairs);
        if (smallPairs && slots > 1) {
            // Each slot owns a column buffer and handles pairs slot, slot + slots, ... (the GEMMs run single-threaded).
            parallelFor(slots, pairs * pairWork, [&](int64_t t) {
                float* cols = reinterpret_cast<float*>(static_cast<char*>(c.workspace) + static_cast<size_t>(t) * colsBytes_);
                for (int64_t i = t; i < pairs; i += slots) col2im(cols, gemm(i, cols), 0, Kg);
            });
            return;
        }
        float* cols = static_cast<float*>(c.workspace);
        for (int64_t i = 0; i < pairs; ++i) {
            float* yg = gemm(i, cols);
            // Each task owns one output channel, so the scatter needs no synchronisation.
            parallelFor(Kg, rows * HW, [&](int64_t k) { col2im(cols, yg, k, k + 1); });
        }
    }

private:
    std::vector<float> weights_, bias_;
    size_t colsBytes_ = 0, workspace_ = 0;
    int slots_ = 1;
};
GIE_REGISTER_KERNEL(DeconvolutionCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
