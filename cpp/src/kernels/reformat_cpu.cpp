// CPU Reformat (layers/reformat.h): any of {FLOAT, HALF} x {LINEAR, NHWC, HWC8} and INT8 x {LINEAR, NHWC, CHW4} to any
// other, element by element through the logical strides of both descriptors (elementOffset for CHW4). INT8 values
// are real = scale * q with the descriptor's scale: quantizing rounds half to even and saturates (layers/int8_math.h).
#include <cstring>

#include "common/half.h"
#include "common/parallel.h"
#include "layers/int8_math.h"
#include "layers/reformat.h"

namespace gie {
namespace {

inline float load(const void* p, const TensorDesc& d, int64_t i) {
    if (d.type == DataType::kHALF) return halfToFloat(static_cast<const uint16_t*>(p)[i]);
    if (d.type == DataType::kINT8) return int8::dequantize(static_cast<const int8_t*>(p)[i], d.scale);
    return static_cast<const float*>(p)[i];
}
inline void store(void* p, const TensorDesc& d, int64_t i, float v) {
    if (d.type == DataType::kHALF)
        static_cast<uint16_t*>(p)[i] = floatToHalf(v);
    else if (d.type == DataType::kINT8)
        static_cast<int8_t*>(p)[i] = int8::quantize(v, d.scale);
    else
        static_cast<float*>(p)[i] = v;
}

class ReformatCpu final : public Kernel<ReformatCpu, ReformatOp> {
public:
    using Kernel::Kernel;
    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t nIn, int32_t nOut) const noexcept override {
        return op_.supportsWithInt8(pos, inOut, nIn, nOut);
    }
    void run(const KernelCall& c) const override {
        const TensorDesc& in = c.inDesc[0];
        const TensorDesc& out = c.outDesc[0];
        const Dims& d = in.dims;
        if (d.nbDims == 0) {
            store(c.outputs[0], out, 0, load(c.inputs[0], in, 0));
            return;
        }
        if (in.format == TensorFormat::kCHW4 || out.format == TensorFormat::kCHW4) {
            runChw4(c);
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
                    store(c.outputs[0], out, outOff + k * out.strides.d[last], load(c.inputs[0], in, inOff + k * in.strides.d[last]));
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

private:
    //! 4-D, one side (or both) CHW4: per (n, c) plane through elementOffset; CHW4 padding channels written as 0.
    static void runChw4(const KernelCall& c) {
        const TensorDesc& in = c.inDesc[0];
        const TensorDesc& out = c.outDesc[0];
        const Dims& d = in.dims;
        const int64_t N = d.d[0], C = d.d[1], H = d.d[2], W = d.d[3];
        parallelFor(N * C, N * C * H * W, [&](int64_t nc) {
            int64_t idx[4] = {nc / C, nc % C, 0, 0};
            for (idx[2] = 0; idx[2] < H; ++idx[2])
                for (idx[3] = 0; idx[3] < W; ++idx[3])
                    store(c.outputs[0], out, elementOffset(out, idx), load(c.inputs[0], in, elementOffset(in, idx)));
        });
        const int64_t cp = storedChannels(C, out.format);
        if (out.format != TensorFormat::kCHW4 || cp == C) return;
        auto* y = static_cast<int8_t*>(c.outputs[0]);
        for (int64_t n = 0; n < N; ++n) {
            int8_t* group = y + n * out.strides.d[0] + (C / 4) * H * W * 4;  // the last, partly padded group of 4
            for (int64_t p = 0; p < H * W; ++p)
                for (int64_t k = C % 4; k < 4; ++k) group[p * 4 + k] = 0;
        }
    }
};
GIE_REGISTER_KERNEL(ReformatCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
