// CPU Slice for any element type: one task per output row; unit-stride rows are a memcpy.
#include <cstring>

#include "common/parallel.h"
#include "layers/slice.h"

namespace gie {
namespace {

template <typename T>
void sliceTyped(const T* src, T* dst, const Dims& x, const Dims& y, const int64_t* st, const int64_t* sd) {
    const int r = x.nbDims;
    if (r == 0) {
        dst[0] = src[0];
        return;
    }
    const Dims xs = packedStrides(x);
    const int64_t W = y.d[r - 1];
    const int64_t rows = volume(y) / W;
    const int64_t s0 = st[r - 1], ds = sd[r - 1];
    parallelFor(rows, volume(y), [&](int64_t row) {
        int64_t rem = row, off = s0;
        for (int i = r - 2; i >= 0; --i) {
            int64_t c = rem % y.d[i];
            rem /= y.d[i];
            off += (st[i] + c * sd[i]) * xs.d[i];
        }
        const T* s = src + off;
        T* d = dst + row * W;
        if (ds == 1) {
            std::memcpy(d, s, static_cast<size_t>(W) * sizeof(T));
        } else {
            for (int64_t j = 0; j < W; ++j) d[j] = s[j * ds];
        }
    });
}

class SliceCpu final : public Kernel<SliceCpu, SliceOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        const Dims& x = c.inDims(0);
        const Dims& y = c.outDims(0);
        if (volume(y) == 0) return;
        int64_t st[Dims::MAX_DIMS], sz[Dims::MAX_DIMS], sd[Dims::MAX_DIMS];
        op_.full(c, st, sz, sd);
        switch (dataTypeSize(c.inDesc[0].type)) {
            case 1: sliceTyped(c.in<uint8_t>(0), c.out<uint8_t>(0), x, y, st, sd); break;
            case 2: sliceTyped(c.in<uint16_t>(0), c.out<uint16_t>(0), x, y, st, sd); break;
            case 4: sliceTyped(c.in<uint32_t>(0), c.out<uint32_t>(0), x, y, st, sd); break;
            default: fail(ErrorCode::kUNSUPPORTED, "Slice: unsupported data type ", dataTypeName(c.inDesc[0].type));
        }
    }
};
GIE_REGISTER_KERNEL(SliceCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
