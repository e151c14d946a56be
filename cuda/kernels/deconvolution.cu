// GPU Deconvolution (transposed 2-D convolution, FP32, NCHW linear): the semantics of
// kernels/deconvolution_cpu.cpp, as a gather. Kernel layout (C, K/groups, R, S); for group g,
//   y[n, k, oy, ox] = bias[k] + sum_{c in g, r, s} x[n, c, h, w] * W[c, k - g*Kg, r, s]
//   where oy = h*sh - pt + r*dh and ox = w*sw - pl + s*dw,
// then the optional fused activation (activation_type / activation_alpha / activation_beta, the formulas of
// layers/activation_math.h).
//
// Output pixels are processed by phase (oy mod sh, ox mod sw): inside one phase the taps (r, s) that can
// reach a pixel are the same for every pixel, so a block (one phase of one image, KT output channels of one
// group) runs without divergence except at the borders. Each thread computes KT output channels of one
// pixel, reusing every input value KT times; the weights are pre-packed at initialize() as
// [G][R][S][Cg][KgPad] so that the KT weights of a tap are one or two broadcast 16-byte loads.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "common.cuh"
#include "gie/network.h"
#include "layers/convolution.h"

namespace gie {
namespace {

struct DeconvShape {
    const float* x;
    const float* w;     // packed [G][R][S][Cg][KgPad]
    const float* bias;  // nullable
    float* y;
    int C, H, W, K, P, Q, R, S, G, Cg, Kg, KgPad;
    int sh, sw, pt, pl, dh, dw;
    int phaseRows, phaseCols;  // ceil(P / sh), ceil(Q / sw): the largest phase
    int act;                   // ActivationType, or -1 (kNoActivation)
    float alpha, beta;
};

__device__ __forceinline__ int floorMod(int a, int m) {
    const int r = a % m;
    return r < 0 ? r + m : r;
}

//! grid: x = pixel blocks of the largest phase, y = G * ceil(Kg / KT), z = n * sh * sw + phase.
template <int KT>
__global__ void __launch_bounds__(128, 4) deconvGatherKernel(const DeconvShape d) {
    const int kBlocks = (d.Kg + KT - 1) / KT;
    const int g = blockIdx.y / kBlocks;
    const int ko0 = (blockIdx.y - g * kBlocks) * KT;
    const int phases = d.sh * d.sw;
    const int n = blockIdx.z / phases;
    const int phase = blockIdx.z - n * phases;
    const int py = phase / d.sw, px = phase - py * d.sw;
    const int idx = blockIdx.x * blockDim.x + threadIdx.x;
    const int i = idx / d.phaseCols, jx = idx - i * d.phaseCols;
    const int oy = py + i * d.sh, ox = px + jx * d.sw;
    if (i >= d.phaseRows || oy >= d.P || ox >= d.Q) return;

    const int64_t HW = static_cast<int64_t>(d.H) * d.W;
    const float* xg = d.x + (static_cast<int64_t>(n) * d.C + static_cast<int64_t>(g) * d.Cg) * HW;
    float acc[KT];
#pragma unroll
    for (int t = 0; t < KT; ++t) acc[t] = 0.f;

    for (int r = 0; r < d.R; ++r) {
        // oy = h*sh - pt + r*dh: this tap reaches the phase only if (py + pt - r*dh) is a multiple of sh.
        if (floorMod(py + d.pt - r * d.dh, d.sh) != 0) continue;
        const int th = oy + d.pt - r * d.dh;
        if (th < 0) continue;
        const int h = th / d.sh;
        if (h >= d.H) continue;
        for (int s = 0; s < d.S; ++s) {
            if (floorMod(px + d.pl - s * d.dw, d.sw) != 0) continue;
            const int tw = ox + d.pl - s * d.dw;
            if (tw < 0) continue;
            const int w = tw / d.sw;
            if (w >= d.W) continue;
            const float* xp = xg + static_cast<int64_t>(h) * d.W + w;
            const float* wp = d.w + ((static_cast<int64_t>(g) * d.R + r) * d.S + s) * d.Cg * d.KgPad + ko0;
            for (int c = 0; c < d.Cg; ++c) {
                const float xv = __ldg(xp + c * HW);
                const float4* w4 = reinterpret_cast<const float4*>(wp + static_cast<int64_t>(c) * d.KgPad);
#pragma unroll
                for (int t4 = 0; t4 < KT / 4; ++t4) {
                    const float4 wv = __ldg(w4 + t4);
                    acc[t4 * 4 + 0] = fmaf(xv, wv.x, acc[t4 * 4 + 0]);
                    acc[t4 * 4 + 1] = fmaf(xv, wv.y, acc[t4 * 4 + 1]);
                    acc[t4 * 4 + 2] = fmaf(xv, wv.z, acc[t4 * 4 + 2]);
                    acc[t4 * 4 + 3] = fmaf(xv, wv.w, acc[t4 * 4 + 3]);
                }
            }
        }
    }
    const int64_t PQ = static_cast<int64_t>(d.P) * d.Q;
#pragma unroll
    for (int t = 0; t < KT; ++t) {
        const int ko = ko0 + t;
        if (ko >= d.Kg) break;
        const int k = g * d.Kg + ko;
        float v = acc[t] + (d.bias ? __ldg(d.bias + k) : 0.f);
        v = cuda::applyAct(d.act, v, d.alpha, d.beta);
        d.y[(static_cast<int64_t>(n) * d.K + k) * PQ + static_cast<int64_t>(oy) * d.Q + ox] = v;
    }
}

class DeconvolutionGpu final : public Kernel<DeconvolutionGpu, DeconvolutionOp> {
public:
    explicit DeconvolutionGpu(FieldMap f) : Kernel(std::move(f)) {
        GIE_CHECK(op_.activation == -1 || isActivationType(op_.activation), ErrorCode::kINVALID_ARGUMENT,
                  "Deconvolution: unknown activation_type ", op_.activation);
    }
    const char* getTacticName(int32_t t) const noexcept override { return t == 0 ? "gather_by_phase" : "invalid"; }

    void initializeKernel() override {
        GIE_CHECK(configured_, ErrorCode::kINTERNAL, "Deconvolution: initialize before configure");
        terminate();
        const auto w = fields_.floats("kernel");
        const int64_t R = op_.R, S = op_.S;
        GIE_CHECK(static_cast<int64_t>(w.size()) == C_ * Kg_ * R * S, ErrorCode::kINVALID_MODEL, "Deconvolution kernel has ",
                  w.size(), " values; expected ", C_ * Kg_ * R * S);
        // (C, Kg, R, S) -> [G][R][S][Cg][KgPad]
        std::vector<float> pk(static_cast<size_t>(G_ * R * S * Cg_ * kgPad_), 0.f);
        for (int64_t g = 0; g < G_; ++g)
            for (int64_t c = 0; c < Cg_; ++c)
                for (int64_t ko = 0; ko < Kg_; ++ko)
                    for (int64_t r = 0; r < R; ++r)
                        for (int64_t s = 0; s < S; ++s)
                            pk[static_cast<size_t>((((g * R + r) * S + s) * Cg_ + c) * kgPad_ + ko)] =
                                w[static_cast<size_t>((((g * Cg_ + c) * Kg_ + ko) * R + r) * S + s)];
        weights_ = cuda::upload(pk, "Deconvolution packed weights");
        auto bias = fields_.floats("bias");
        if (!bias.empty()) bias_ = cuda::upload(bias, "Deconvolution bias");
    }
    void terminate() noexcept override {
        weights_.reset();
        bias_.reset();
    }

protected:
    void configureKernel(const TensorDesc* in, int32_t, const TensorDesc* out, int32_t) override {
        const Dims& x = in[0].dims;
        const Dims& y = out[0].dims;
        C_ = x.d[1];
        H_ = x.d[2];
        W_ = x.d[3];
        P_ = y.d[2];
        Q_ = y.d[3];
        G_ = op_.groups;
        Cg_ = C_ / G_;
        Kg_ = op_.K / G_;
        kt_ = Kg_ <= 4 ? 4 : 8;
        kgPad_ = (Kg_ + kt_ - 1) / kt_ * kt_;
        const int64_t lim = (int64_t(1) << 31) - 1;
        GIE_CHECK(H_ * W_ < lim && P_ * Q_ < lim && G_ * cuda::ceilDiv(Kg_, kt_) <= 65535 && x.d[0] * op_.sh * op_.sw <= 65535 &&
                      H_ + op_.pt + op_.R * op_.dh < lim / 2 && W_ + op_.pl + op_.S * op_.dw < lim / 2,
                  ErrorCode::kUNSUPPORTED, "Deconvolution: shape ", toString(x), " -> ", toString(y), " exceeds the GPU kernel's limits");
        configured_ = true;
    }

    void run(const KernelCall& c) const override {
        GIE_CHECK(configured_ && weights_, ErrorCode::kINTERNAL, "Deconvolution kernel used before initialize");
        const int64_t N = c.inDims(0).d[0];
        if (N <= 0) return;
        DeconvShape d;
        d.x = c.in(0);
        d.w = weights_->as<float>();
        d.bias = bias_ ? bias_->as<float>() : nullptr;
        d.y = c.out(0);
        d.C = static_cast<int>(C_);
        d.H = static_cast<int>(H_);
        d.W = static_cast<int>(W_);
        d.K = static_cast<int>(op_.K);
        d.P = static_cast<int>(P_);
        d.Q = static_cast<int>(Q_);
        d.R = static_cast<int>(op_.R);
        d.S = static_cast<int>(op_.S);
        d.G = static_cast<int>(G_);
        d.Cg = static_cast<int>(Cg_);
        d.Kg = static_cast<int>(Kg_);
        d.KgPad = static_cast<int>(kgPad_);
        d.sh = static_cast<int>(op_.sh);
        d.sw = static_cast<int>(op_.sw);
        d.pt = static_cast<int>(op_.pt);
        d.pl = static_cast<int>(op_.pl);
        d.dh = static_cast<int>(op_.dh);
        d.dw = static_cast<int>(op_.dw);
        d.phaseRows = static_cast<int>(cuda::ceilDiv(P_, op_.sh));
        d.phaseCols = static_cast<int>(cuda::ceilDiv(Q_, op_.sw));
        d.act = static_cast<int>(op_.activation);
        d.alpha = op_.actAlpha;
        d.beta = op_.actBeta;
        const int64_t phasePixels = static_cast<int64_t>(d.phaseRows) * d.phaseCols;
        dim3 grid(static_cast<unsigned>(cuda::ceilDiv(phasePixels, 128)), static_cast<unsigned>(G_ * cuda::ceilDiv(Kg_, kt_)),
                  static_cast<unsigned>(N * op_.sh * op_.sw));
        cudaStream_t stream = cuda::streamOf(c);
        if (kt_ == 4)
            deconvGatherKernel<4><<<grid, 128, 0, stream>>>(d);
        else
            deconvGatherKernel<8><<<grid, 128, 0, stream>>>(d);
        cuda::checkLaunch("deconvGatherKernel");
    }

private:
    bool configured_ = false;
    int64_t C_ = 0, H_ = 0, W_ = 0, P_ = 0, Q_ = 0, G_ = 1, Cg_ = 0, Kg_ = 0, kt_ = 8, kgPad_ = 0;
    std::shared_ptr<cuda::DeviceArray> weights_, bias_;
};
GIE_REGISTER_KERNEL(DeconvolutionGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
