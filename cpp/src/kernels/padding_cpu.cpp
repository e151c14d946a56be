// CPU Padding (constant / reflect / edge) for any rank and element type.
//
// Every dimension gets an index map output -> input (-1 = constant). Output rows (the innermost
// dimension) are then filled with one memcpy for the interior and map look-ups for the border.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/half.h"
#include "common/parallel.h"
#include "layers/padding.h"

namespace gie {
namespace {

//! Source index of output coordinate o (input size n, pre padding p), or -1 for the constant.
int64_t sourceIndex(int64_t o, int64_t n, int64_t p, PaddingMode mode) {
    int64_t i = o - p;
    if (i >= 0 && i < n) return i;
    switch (mode) {
        case PaddingMode::kCONSTANT: return -1;
        case PaddingMode::kEDGE: return i < 0 ? 0 : n - 1;
        case PaddingMode::kREFLECT: {
            if (n == 1) return 0;
            const int64_t period = 2 * (n - 1);
            int64_t m = i % period;
            if (m < 0) m += period;
            return m < n ? m : period - m;
        }
    }
    return -1;
}

template <typename T>
void padTyped(const T* src, T* dst, const Dims& x, const Dims& y, const int64_t* p0, PaddingMode mode, T fill) {
    const int r = x.nbDims;
    if (r == 0) {
        dst[0] = src[0];
        return;
    }
    std::vector<std::vector<int64_t>> maps(static_cast<size_t>(r));
    for (int i = 0; i < r; ++i) {
        auto& m = maps[static_cast<size_t>(i)];
        m.resize(static_cast<size_t>(y.d[i]));
        for (int64_t o = 0; o < y.d[i]; ++o) m[static_cast<size_t>(o)] = sourceIndex(o, x.d[i], p0[i], mode);
    }
    Dims xs = packedStrides(x);
    const int64_t W = y.d[r - 1], inW = x.d[r - 1];
    const int64_t rows = W == 0 ? 0 : volume(y) / W;
    // Interior of a row: output [lo, hi) maps to input [lo - p, hi - p).
    const int64_t pl = p0[r - 1];
    const int64_t lo = std::max<int64_t>(0, std::min(W, pl)), hi = std::max(lo, std::min(W, pl + inW));
    const int64_t* lastMap = maps[static_cast<size_t>(r - 1)].data();
    parallelFor(rows, volume(y), [&](int64_t row) {
        T* d = dst + row * W;
        int64_t rem = row, off = 0;
        bool constantRow = false;
        for (int i = r - 2; i >= 0; --i) {
            int64_t c = rem % y.d[i];
            rem /= y.d[i];
            int64_t s = maps[static_cast<size_t>(i)][static_cast<size_t>(c)];
            if (s < 0) {
                constantRow = true;
                break;
            }
            off += s * xs.d[i];
        }
        if (constantRow) {
            std::fill(d, d + W, fill);
            return;
        }
        const T* s = src + off;
        for (int64_t o = 0; o < lo; ++o) d[o] = lastMap[o] < 0 ? fill : s[lastMap[o]];
        if (hi > lo) std::memcpy(d + lo, s + (lo - pl), static_cast<size_t>(hi - lo) * sizeof(T));
        for (int64_t o = hi; o < W; ++o) d[o] = lastMap[o] < 0 ? fill : s[lastMap[o]];
    });
}

class PaddingCpu final : public Kernel<PaddingCpu, PaddingOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        const Dims& x = c.inDims(0);
        const Dims& y = c.outDims(0);
        if (volume(y) == 0) return;
        int64_t p0[Dims::MAX_DIMS], p1[Dims::MAX_DIMS];
        op_.full(x.nbDims, p0, p1);
        const float v = op_.value;
        switch (c.inDesc[0].type) {
            case DataType::kFLOAT:
                padTyped(c.in<float>(0), c.out<float>(0), x, y, p0, op_.mode, v);
                break;
            case DataType::kINT32: {
                double r = std::nearbyint(static_cast<double>(v));
                int32_t fill = static_cast<int32_t>(std::max(-2147483648.0, std::min(2147483647.0, r)));
                padTyped(c.in<int32_t>(0), c.out<int32_t>(0), x, y, p0, op_.mode, fill);
                break;
            }
            case DataType::kHALF:
                padTyped(c.in<uint16_t>(0), c.out<uint16_t>(0), x, y, p0, op_.mode, floatToHalf(v));
                break;
            case DataType::kINT8: {
                float scale = c.outDesc[0].scale > 0.f ? c.outDesc[0].scale : 1.f;
                float q = std::nearbyint(v / scale);
                int8_t fill = static_cast<int8_t>(std::max(-128.f, std::min(127.f, q)));
                padTyped(c.in<int8_t>(0), c.out<int8_t>(0), x, y, p0, op_.mode, fill);
                break;
            }
            case DataType::kBOOL:
                padTyped(c.in<uint8_t>(0), c.out<uint8_t>(0), x, y, p0, op_.mode, static_cast<uint8_t>(v != 0.f ? 1 : 0));
                break;
        }
    }
};
GIE_REGISTER_KERNEL(PaddingCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
