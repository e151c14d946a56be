// GPU Range (layers/range.h): y[i] = start + i * delta, int32; start, delta and the count come from the shape
// tensors' values in the descriptors (host data), so the launch needs no copy.
#include <algorithm>
#include <cstdint>

#include "common.cuh"
#include "layers/range.h"

namespace gie {
namespace {

__global__ void __launch_bounds__(256) rangeKernel(int32_t* __restrict__ y, int64_t n, int64_t start, int64_t delta) {
    const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
        y[i] = static_cast<int32_t>(start + i * delta);
}

class RangeGpu final : public Kernel<RangeGpu, RangeOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        int64_t s, d, n;
        RangeOp::callParams(c, s, d, n);
        if (n <= 0) return;
        rangeKernel<<<cuda::gridFor(n, 256), 256, 0, cuda::streamOf(c)>>>(c.out<int32_t>(0), n, s, d);
        cuda::checkLaunch("rangeKernel");
    }
};
GIE_REGISTER_KERNEL(RangeGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
