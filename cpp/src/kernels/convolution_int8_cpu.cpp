// INT8 convolution, the CPU reference (variant "int8"; docs/int8.md): INT8 LINEAR input with a per-tensor scale,
// weights quantized per output channel at configure, exact INT32 accumulation of im2col rows (bias included, in
// accumulator units), then the FP32 requantization epilogue (kernels/int8_cpu.h): residual (INT8 or FP32), the fused
// activation, and INT8 (the output's scale) or FP32 out (FP16 through the CPU's FP16 storage wrapper). Any groups,
// padding, stride and dilation. Padding reads as q = 0, which is exactly 0.0 in the symmetric scheme.
#include <algorithm>
#include <cstring>

#include "common/parallel.h"
#include "layers/convolution.h"
#include "kernels/int8_cpu.h"

namespace gie {
namespace {

using namespace cpu::int8cpu;

class ConvolutionInt8Cpu final : public Kernel<ConvolutionInt8Cpu, ConvolutionOp> {
public:
    GIE_INT8_KERNEL_COMMON

    GIE_INT8_DATA_INPUT_FORMATS
    size_t getWorkspaceSize() const noexcept override { return colBytes_; }

protected:
    void configureKernel(const TensorDesc* in, int32_t, const TensorDesc* out, int32_t) override {
        const int64_t C = in[0].dims.d[1], perK = C / op_.groups * op_.R * op_.S;
        layer_ = configureLayer(fields_, op_, perK, in[0].scale, "Convolution");
        colBytes_ = static_cast<size_t>(perK * out[0].dims.d[2] * out[0].dims.d[3]);
    }

    void run(const KernelCall& c) const override {
        const Dims& x = c.inDims(0);
        const Dims& y = c.outDims(0);
        const int64_t N = x.d[0], C = x.d[1], H = x.d[2], W = x.d[3], K = y.d[1], P = y.d[2], Q = y.d[3];
        const int64_t G = op_.groups, Cg = C / G, Kg = K / G, R = op_.R, S = op_.S, PQ = P * Q, CRS = Cg * R * S;
        const auto* xq = c.in<int8_t>(0);
        const bool hasRes = c.nbInputs == 2;
        auto* col = static_cast<int8_t*>(c.workspace);
        for (int64_t n = 0; n < N; ++n)
            for (int64_t g = 0; g < G; ++g) {
                // im2col: col[(c, r, s)][(p, q)] of this image and group.
                const int8_t* xg = xq + (n * C + g * Cg) * H * W;
                parallelFor(CRS, CRS * PQ, [&](int64_t row) {
                    const int64_t ci = row / (R * S), r = row / S % R, s = row % S;
                    int8_t* dst = col + row * PQ;
                    for (int64_t p = 0; p < P; ++p) {
                        const int64_t h = p * op_.sh - op_.pt + r * op_.dh;
                        for (int64_t q = 0; q < Q; ++q) {
                            const int64_t w = q * op_.sw - op_.pl + s * op_.dw;
                            dst[p * Q + q] = h >= 0 && h < H && w >= 0 && w < W ? xg[(ci * H + h) * W + w] : int8_t(0);
                        }
                    }
                });
                parallelFor(Kg, Kg * CRS * PQ, [&](int64_t kk) {
                    const int64_t k = g * Kg + kk;
                    std::vector<int32_t> acc(static_cast<size_t>(PQ), layer_.requant.bias[static_cast<size_t>(k)]);
                    std::vector<float> row(static_cast<size_t>(PQ));
                    const int8_t* wk = layer_.weights.q.data() + k * CRS;
                    for (int64_t i = 0; i < CRS; ++i) {
                        const int32_t wv = wk[i];
                        if (wv == 0) continue;
                        const int8_t* cr = col + i * PQ;
                        int32_t* a = acc.data();
                        for (int64_t j = 0; j < PQ; ++j) a[j] += wv * static_cast<int32_t>(cr[j]);
                    }
                    epilogueRow(acc.data(), PQ, &layer_.requant.mult[static_cast<size_t>(k)], 0, hasRes ? c.inputs[1] : nullptr,
                                hasRes ? &c.inDesc[1] : nullptr, layer_.ep, c.outputs[0], c.outDesc[0], (n * K + k) * PQ, row.data());
                });
            }
    }

private:
    ConfiguredLayer layer_;
    size_t colBytes_ = 0;
};
GIE_REGISTER_KERNEL(ConvolutionInt8Cpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
