// CPU Range (layers/range.h).
#include "layers/range.h"

namespace gie {
namespace {

class RangeCpu final : public Kernel<RangeCpu, RangeOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        int64_t s, d, n;
        RangeOp::callParams(c, s, d, n);
        int32_t* y = c.out<int32_t>(0);
        for (int64_t i = 0; i < n; ++i) y[i] = static_cast<int32_t>(s + i * d);
    }
};
GIE_REGISTER_KERNEL(RangeCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
