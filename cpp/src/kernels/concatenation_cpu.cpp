// CPU Concatenation: for every index of the dimensions before `axis`, each input's contiguous slab is
// copied after the previous one. Any element type (a byte copy).
#include <cstring>

#include "common/parallel.h"
#include "layers/concatenation.h"

namespace gie {
namespace {

class ConcatenationCpu final : public Kernel<ConcatenationCpu, ConcatenationOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        const Dims& od = c.outDims(0);
        const int a = op_.axis(od.nbDims);
        const int64_t es = dataTypeSize(c.outDesc[0].type);
        const AxisSplit sp = splitAtAxis(od, a);
        const int64_t outer = sp.outer, inner = sp.inner * es;  // inner in bytes
        const int64_t outRow = od.d[a] * inner;  // bytes of one output slab
        uint8_t* y = c.out<uint8_t>(0);
        int64_t offset = 0;
        for (int i = 0; i < c.nbInputs; ++i) {
            const int64_t row = c.inDims(i).d[a] * inner;
            const uint8_t* x = c.in<uint8_t>(i);
            if (row > 0) {
                if (outer == 1) {
                    std::memcpy(y + offset, x, static_cast<size_t>(row));
                } else {
                    parallelFor(outer, outer * row / 4, [&](int64_t o) {
                        std::memcpy(y + o * outRow + offset, x + o * row, static_cast<size_t>(row));
                    });
                }
            }
            offset += row;
        }
    }
};
GIE_REGISTER_KERNEL(ConcatenationCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
