// CPU SqueezeExcitation (the reference): the spatial means (double sums), then the two small matrix products
// with their activations on the CPU GEMM (sgemmEpilogue: bias and activation fused, the activation through the
// shared row function of layers/activation_math.h), one gate value per channel.
#include <vector>

#include "common/parallel.h"
#include "kernels/gemm.h"
#include "kernels/plane_sum.h"
#include "layers/squeeze_excitation.h"

namespace gie {
namespace {

class SqueezeExcitationCpu final : public Kernel<SqueezeExcitationCpu, SqueezeExcitationOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        const Dims& d = c.inDims(0);
        const int64_t N = d.d[0], C = d.d[1], Cs = op_.squeeze;
        const int64_t hw = volume(d) / std::max<int64_t>(N * C, 1);
        if (N * C == 0) return;
        const float* x = c.in(0);
        std::vector<float> p(static_cast<size_t>(N * C)), h(static_cast<size_t>(N * Cs));
        // The means in parallel over the (n, c) planes (one sample's SE at batch 1 would be one thread), in double,
        // 16 lanes per plane (kernels/plane_sum.h): a single running double sum took EfficientNet-B0's
        // 144x56x56 SE 0.37 ms.
        const cpu::PlaneSumFn<double> planeSum = cpu::planeSumFn<double>();
        parallelFor(N * C, N * C * hw, [&](int64_t nc) {
            const double sum = planeSum(x + nc * hw, hw);
            p[static_cast<size_t>(nc)] = hw ? static_cast<float>(sum / static_cast<double>(hw)) : 0.f;
        });
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
