// CPU Reformat (layers/reformat.h): any of {FLOAT, HALF} x {LINEAR, NHWC, HWC8} to any other, element by
// element through the logical strides of both descriptors.
#include <cstring>

#include "common/half.h"
#include "common/parallel.h"
#include "layers/reformat.h"

namespace gie {
namespace {

inline float load(const void* p, DataType t, int64_t i) {
    if (t == DataType::kHALF) return halfToFloat(static_cast<const uint16_t*>(p)[i]);
    return static_cast<const float*>(p)[i];
}
inline void store(void* p, DataType t, int64_t i, float v) {
    if (t == DataType::kHALF)
        static_cast<uint16_t*>(p)[i] = floatToHalf(v);
    else
        static_cast<float*>(p)[i] = v;
}

class ReformatCpu final : public Kernel<ReformatCpu, ReformatOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        const TensorDesc& in = c.inDesc[0];
        const TensorDesc& out = c.outDesc[0];
        const Dims& d = in.dims;
        if (d.nbDims == 0) {
            store(c.outputs[0], out.type, 0, load(c.inputs[0], in.type, 0));
            return;
        }
        // Rows: every logical index but the last; the last dimension is the inner loop.
        const int last = d.nbDims - 1;
        int64_t rows = 1;
        for (int i = 0; i < last; ++i) rows *= d.d[i];
        const int64_t inner = d.d[last];
        parallelFor(rows, rows * inner, [&](int64_t r) {
                int64_t rem = r, inOff = 0, outOff = 0;
                for (int i = last - 1; i >= 0; --i) {
                    const int64_t idx = rem % d.d[i];
                    rem /= d.d[i];
                    inOff += idx * in.strides.d[i];
                    outOff += idx * out.strides.d[i];
                }
                for (int64_t k = 0; k < inner; ++k)
                    store(c.outputs[0], out.type, outOff + k * out.strides.d[last], load(c.inputs[0], in.type, inOff + k * in.strides.d[last]));
        });
        // HWC8 padding channels are zero (readers may load whole 8-channel vectors).
        if (out.format == TensorFormat::kHWC8 && d.nbDims == 4 && d.d[1] % 8 != 0) {
            const int64_t cp = storedChannels(d.d[1], out.format);
            const int64_t es = dataTypeSize(out.type);
            auto* base = static_cast<uint8_t*>(c.outputs[0]);
            for (int64_t n = 0; n < d.d[0]; ++n)
                for (int64_t p = 0; p < d.d[2] * d.d[3]; ++p)
                    std::memset(base + (n * out.strides.d[0] + p * cp + d.d[1]) * es, 0, static_cast<size_t>((cp - d.d[1]) * es));
        }
    }
};
GIE_REGISTER_KERNEL(ReformatCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
