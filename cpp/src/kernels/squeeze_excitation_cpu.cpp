// CPU SqueezeExcitation (the reference): the spatial means (double sums), then the two small matrix products
// with their activations on the CPU GEMM (sgemmEpilogue: bias and activation fused, the activation through the
// shared row function of layers/activation_math.h), one gate value per channel.
#include <vector>

#include "common/parallel.h"
#include "kernels/gemm.h"
#include "layers/squeeze_excitation.h"

namespace gie {
namespace {

// Mean of n floats, summed in double in 16 independent lanes: a single running double sum is one dependent add per
// element (4 cycles each; EfficientNet-B0's 144x56x56 SE took 0.37 ms for it), the lanes vectorise without
// reassociation and keep double accuracy.
float planeMean(const float* x, int64_t n) {
    double part[16] = {};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; ++j) part[j] += x[i + j];
    double s = 0;
    for (; i < n; ++i) s += x[i];
    for (int j = 0; j < 16; ++j) s += part[j];
    return n ? static_cast<float>(s / static_cast<double>(n)) : 0.f;
}

class SqueezeExcitationCpu final : public Kernel<SqueezeExcitationCpu, SqueezeExcitationOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        const Dims& d = c.inDims(0);
        const int64_t N = d.d[0], C = d.d[1], Cs = op_.squeeze;
        const int64_t hw = volume(d) / std::max<int64_t>(N * C, 1);
        if (N * C == 0) return;
        const float* x = c.in(0);
        // The means in parallel over the (n, c) planes (one sample's SE at batch 1 would be one thread).
        std::vector<float> p(static_cast<size_t>(N * C)), h(static_cast<size_t>(N * Cs));
        parallelFor(N * C, N * C * hw, [&](int64_t nc) { p[static_cast<size_t>(nc)] = planeMean(x + nc * hw, hw); });
        // h (N x Cs) = act(p kernel1^T + bias1), y (N x C) = gate(h kernel2^T + bias2).
        const cpu::Epilogue e1{op_.bias1.empty() ? nullptr : op_.bias1.data(), nullptr, op_.act, op_.alpha, op_.beta};
        cpu::sgemmEpilogue(false, true, N, Cs, C, 1.f, p.data(), C, op_.kernel1.data(), C, 0.f, h.data(), Cs, e1);
        const cpu::Epilogue e2{op_.bias2.empty() ? nullptr : op_.bias2.data(), nullptr, op_.gate, op_.gateAlpha,
                               op_.gateBeta};
        cpu::sgemmEpilogue(false, true, N, C, Cs, 1.f, h.data(), Cs, op_.kernel2.data(), Cs, 0.f, c.out(0), C, e2);
    }
};
GIE_REGISTER_KERNEL(SqueezeExcitationCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
