// GPU Deconvolution (transposed 2-D convolution, NCHW linear; FP32, or FP16 storage with FP32 math): the semantics of
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
// FP16 storage (x and y kHALF): the packed weights are converted to half at initialize (the KT weights of a tap
// are then one 8- or 16-byte load), x is read as half, the sums are FP32, y is rounded to half; the bias stays
// FP32. Shapes (C, H, W, P, Q) come from the descriptors of each call; configure checks the limits for the
// largest ones.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "common.cuh"
#include "float_or_half.cuh"
#include "gie/network.h"
#include "layers/convolution.h"

namespace gie {
namespace {

struct DeconvShape {
    const void* x;      // T
    const void* w;      // T, packed [G][R][S][Cg][KgPad]
    const float* bias;  // nullable
    void* y;            // T
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

//! grid: x = pixel blocks of the largest phase, y = G * ceil(Kg / KT), z = n * sh * sw + phase. T: the element
//! type of x, y and the packed weights.
template <int KT, typename T>
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
    const T* xg = static_cast<const T*>(d.x) + (static_cast<int64_t>(n) * d.C + static_cast<int64_t>(g) * d.Cg) * HW;
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
            const T* xp = xg + static_cast<int64_t>(h) * d.W + w;
            const T* wp = static_cast<const T*>(d.w) + ((static_cast<int64_t>(g) * d.R + r) * d.S + s) * d.Cg * d.KgPad + ko0;
            for (int c = 0; c < d.Cg; ++c) {
                const float xv = cuda::loadF(xp + c * HW);
                const T* w4 = wp + static_cast<int64_t>(c) * d.KgPad;
#pragma unroll
                for (int t4 = 0; t4 < KT / 4; ++t4) {
                    const float4 wv = cuda::load4F(w4 + t4 * 4);
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
        cuda::storeF(static_cast<T*>(d.y) + (static_cast<int64_t>(n) * d.K + k) * PQ + static_cast<int64_t>(oy) * d.Q + ox, v);
    }
}

class DeconvolutionGpu final : public Kernel<DeconvolutionGpu, DeconvolutionOp> {
public:
    explicit DeconvolutionGpu(FieldMap f) : Kernel(std::move(f)) {
        GIE_CHECK(op_.activation == -1 || isActivationType(op_.activation), ErrorCode::kINVALID_ARGUMENT,
                  "Deconvolution: unknown activation_type ", op_.activation);
    }
    const char* getTacticName(int32_t t) const noexcept override { return t == 0 ? "gather_by_phase" : "invalid"; }
    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        return cuda::floatOrHalfLinear(pos, inOut);
    }

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
        weights_ = half_ ? cuda::upload(cuda::toHalfBits(pk), "Deconvolution packed weights (FP16)") : cuda::upload(pk, "Deconvolution packed weights");
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
        half_ = in[0].type == DataType::kHALF;
        maxN_ = x.d[0];
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
        const Dims& xd = c.inDims(0);
        const Dims& yd = c.outDims(0);
        const int64_t N = xd.d[0];
        if (N <= 0) return;
        // Any shape up to the configured one (configure checked the kernel's limits for that).
        GIE_CHECK(xd.nbDims == 4 && yd.nbDims == 4 && xd.d[1] == C_ && yd.d[1] == op_.K && N <= maxN_ && xd.d[2] <= H_ && xd.d[3] <= W_ &&
                      yd.d[2] <= P_ && yd.d[3] <= Q_,
                  ErrorCode::kINVALID_ARGUMENT, "Deconvolution: shapes ", toString(xd), " -> ", toString(yd), " exceed the configured (",
                  maxN_, ", ", C_, ", ", H_, ", ", W_, ") -> (", maxN_, ", ", op_.K, ", ", P_, ", ", Q_, ")");
        const bool half = c.inDesc[0].type == DataType::kHALF;
        GIE_CHECK(half == half_, ErrorCode::kINVALID_ARGUMENT, "Deconvolution: configured for ", half_ ? "FP16" : "FP32",
                  " tensors, called with ", half ? "FP16" : "FP32");
        DeconvShape d;
        d.x = c.inputs[0];
        d.w = weights_->get();
        d.bias = bias_ ? bias_->as<float>() : nullptr;
        d.y = c.outputs[0];
        d.C = static_cast<int>(C_);
        d.H = static_cast<int>(xd.d[2]);
        d.W = static_cast<int>(xd.d[3]);
        d.K = static_cast<int>(op_.K);
        d.P = static_cast<int>(yd.d[2]);
        d.Q = static_cast<int>(yd.d[3]);
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
        d.phaseRows = static_cast<int>(cuda::ceilDiv(yd.d[2], op_.sh));
        d.phaseCols = static_cast<int>(cuda::ceilDiv(yd.d[3], op_.sw));
        d.act = static_cast<int>(op_.activation);
        d.alpha = op_.actAlpha;
        d.beta = op_.actBeta;
        const int64_t phasePixels = static_cast<int64_t>(d.phaseRows) * d.phaseCols;
        dim3 grid(static_cast<unsigned>(cuda::ceilDiv(phasePixels, 128)), static_cast<unsigned>(G_ * cuda::ceilDiv(Kg_, kt_)),
                  static_cast<unsigned>(N * op_.sh * op_.sw));
        cudaStream_t stream = cuda::streamOf(c);
        if (half) {
            if (kt_ == 4) deconvGatherKernel<4, __half><<<grid, 128, 0, stream>>>(d);
            else deconvGatherKernel<8, __half><<<grid, 128, 0, stream>>>(d);
        } else {
            if (kt_ == 4) deconvGatherKernel<4, float><<<grid, 128, 0, stream>>>(d);
            else deconvGatherKernel<8, float><<<grid, 128, 0, stream>>>(d);
        }
        cuda::checkLaunch("deconvGatherKernel");
    }

private:
    bool configured_ = false;
    bool half_ = false;  // configured for FP16 storage (packed weights uploaded as half)
    int64_t maxN_ = 0, C_ = 0, H_ = 0, W_ = 0, P_ = 0, Q_ = 0, G_ = 1, Cg_ = 0, Kg_ = 0, kt_ = 8, kgPad_ = 0;
    std::shared_ptr<cuda::DeviceArray> weights_, bias_;
};
GIE_REGISTER_KERNEL(DeconvolutionGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
