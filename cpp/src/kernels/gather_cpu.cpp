// CPU Gather (numpy.take): for each outer index (dims before axis) and each index value, one contiguous
// slab of the trailing dims is copied. Indices are checked first; an out-of-range index fails the call.
#include <cstring>

#include "common/parallel.h"
#include "layers/gather.h"

namespace gie {
namespace {

class GatherCpu final : public Kernel<GatherCpu, GatherOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        const GatherOp::CallLayout l = op_.layout(c);
        const int64_t outer = l.outer, inner = l.inner, axisLen = l.axisLen, nIdx = l.nIdx;  // inner in bytes
        const int32_t* idx = c.in<int32_t>(1);
        for (int64_t j = 0; j < nIdx; ++j) {
            int64_t v = idx[j];
            if (v < -axisLen || v >= axisLen)
                fail(ErrorCode::kINVALID_ARGUMENT, "Gather: index ", v, " (element ", j, " of indices ", toString(c.inDims(1)),
                     ") is out of range for axis ", l.axis, " of size ", axisLen, " of data ", toString(c.inDims(0)));
        }
        if (outer == 0 || nIdx == 0 || inner == 0) return;
        const uint8_t* x = c.in<uint8_t>(0);
        uint8_t* y = c.out<uint8_t>(0);
        parallelFor(outer * nIdx, outer * nIdx * (inner / 4 + 4), [&](int64_t t) {
            const int64_t o = t / nIdx, j = t % nIdx;
            int64_t v = idx[j];
            if (v < 0) v += axisLen;
            std::memcpy(y + t * inner, x + (o * axisLen + v) * inner, static_cast<size_t>(inner));
        });
    }
};
GIE_REGISTER_KERNEL(GatherCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
