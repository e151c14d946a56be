// CPU Resize: nearest (any element type) and multilinear (float32), ONNX coordinate transformations.
//
// Per dimension, a table maps every output coordinate to its input index (nearest) or to two input
// indices and weights (linear, with indices clamped to the border as ONNX does). Dimensions whose table
// is the identity are not interpolated. Each output row (innermost dimension) then combines the
// 2^k input rows of the k interpolated outer dimensions.
#include <cstring>
#include <vector>

#include "common/parallel.h"
#include "layers/resize.h"

namespace gie {
namespace {

struct LinearTable {
    std::vector<int64_t> i0, i1;
    std::vector<float> w0, w1;
    bool identity = true;
};

template <typename T>
void resizeNearest(const ResizeOp& op, const T* src, T* dst, const Dims& x, const Dims& y) {
    const int r = x.nbDims;
    std::vector<std::vector<int64_t>> maps(static_cast<size_t>(r));
    for (int i = 0; i < r; ++i) {
        auto& m = maps[static_cast<size_t>(i)];
        m.resize(static_cast<size_t>(y.d[i]));
        if (i == 0) {  // the batch is never resized
            for (int64_t o = 0; o < y.d[i]; ++o) m[static_cast<size_t>(o)] = o;
            continue;
        }
        const double s = op.scale(i, x.d[i], y.d[i]);
        for (int64_t o = 0; o < y.d[i]; ++o)
            m[static_cast<size_t>(o)] = op.nearest(op.source(static_cast<double>(o), x.d[i], y.d[i], s), x.d[i]);
    }
    const Dims xs = packedStrides(x);
    const int64_t W = y.d[r - 1];
    const int64_t rows = volume(y) / W;
    const int64_t* last = maps[static_cast<size_t>(r - 1)].data();
    parallelFor(rows, volume(y), [&](int64_t row) {
        int64_t rem = row, off = 0;
        for (int i = r - 2; i >= 0; --i) {
            int64_t c = rem % y.d[i];
            rem /= y.d[i];
            off += maps[static_cast<size_t>(i)][static_cast<size_t>(c)] * xs.d[i];
        }
        const T* s = src + off;
        T* d = dst + row * W;
        for (int64_t j = 0; j < W; ++j) d[j] = s[last[j]];
    });
}

void resizeLinear(const ResizeOp& op, const float* src, float* dst, const Dims& x, const Dims& y) {
    const int r = x.nbDims;
    std::vector<LinearTable> tabs(static_cast<size_t>(r));
    for (int i = 0; i < r; ++i) {
        auto& t = tabs[static_cast<size_t>(i)];
        const int64_t n = y.d[i], in = x.d[i];
        t.i0.resize(static_cast<size_t>(n));
        t.i1.resize(static_cast<size_t>(n));
        t.w0.resize(static_cast<size_t>(n));
        t.w1.resize(static_cast<size_t>(n));
        const double s = i == 0 ? 1.0 : op.scale(i, in, n);
        for (int64_t o = 0; o < n; ++o) {
            const size_t k = static_cast<size_t>(o);
            if (i == 0) {
                t.i0[k] = t.i1[k] = o;
                t.w0[k] = 1.f;
                t.w1[k] = 0.f;
                continue;
            }
            const double xo = op.source(static_cast<double>(o), in, n, s);
            const double f = std::floor(xo);
            const double frac = xo - f;
            int64_t a = static_cast<int64_t>(f), b = a + 1;
            a = a < 0 ? 0 : (a >= in ? in - 1 : a);
            b = b < 0 ? 0 : (b >= in ? in - 1 : b);
            t.i0[k] = a;
            t.i1[k] = b;
            t.w0[k] = static_cast<float>(1.0 - frac);
            t.w1[k] = static_cast<float>(frac);
            if (!(a == o && t.w1[k] == 0.f && t.w0[k] == 1.f)) t.identity = false;
        }
        if (n != in) t.identity = false;
    }
    const Dims xs = packedStrides(x);
    const int64_t W = y.d[r - 1];
    const int64_t rows = volume(y) / W;
    const LinearTable& lt = tabs[static_cast<size_t>(r - 1)];
    int interp[Dims::MAX_DIMS];
    int k = 0;
    for (int i = 0; i < r - 1; ++i)
        if (!tabs[static_cast<size_t>(i)].identity) interp[k++] = i;
    const int corners = 1 << k;
    parallelFor(rows, volume(y) * corners * 2, [&](int64_t row) {
        int64_t coord[Dims::MAX_DIMS];
        int64_t rem = row, base = 0;
        for (int i = r - 2; i >= 0; --i) {
            coord[i] = rem % y.d[i];
            rem /= y.d[i];
            if (tabs[static_cast<size_t>(i)].identity) base += coord[i] * xs.d[i];
        }
        float* d = dst + row * W;
        for (int64_t j = 0; j < W; ++j) d[j] = 0.f;
        for (int cmask = 0; cmask < corners; ++cmask) {
            float w = 1.f;
            int64_t off = base;
            for (int q = 0; q < k; ++q) {
                const LinearTable& t = tabs[static_cast<size_t>(interp[q])];
                const size_t c = static_cast<size_t>(coord[interp[q]]);
                const bool hi = (cmask >> q) & 1;
                w *= hi ? t.w1[c] : t.w0[c];
                off += (hi ? t.i1[c] : t.i0[c]) * xs.d[interp[q]];
            }
            const float* s = src + off;
            if (lt.identity) {
                for (int64_t j = 0; j < W; ++j) d[j] += w * s[j];
            } else {
                for (int64_t j = 0; j < W; ++j) {
                    const size_t c = static_cast<size_t>(j);
                    d[j] += w * (lt.w0[c] * s[lt.i0[c]] + lt.w1[c] * s[lt.i1[c]]);
                }
            }
        }
    });
}

class ResizeCpu final : public Kernel<ResizeCpu, ResizeOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        const Dims& x = c.inDims(0);
        const Dims& y = c.outDims(0);
        if (volume(y) == 0) return;
        if (op_.mode == ResizeMode::kLINEAR) {
            GIE_CHECK(c.inDesc[0].type == DataType::kFLOAT, ErrorCode::kUNSUPPORTED, "Resize: linear mode needs float32 input");
            resizeLinear(op_, c.in<float>(0), c.out<float>(0), x, y);
            return;
        }
        switch (dataTypeSize(c.inDesc[0].type)) {
            case 1: resizeNearest(op_, c.in<uint8_t>(0), c.out<uint8_t>(0), x, y); break;
            case 2: resizeNearest(op_, c.in<uint16_t>(0), c.out<uint16_t>(0), x, y); break;
            case 4: resizeNearest(op_, c.in<uint32_t>(0), c.out<uint32_t>(0), x, y); break;
            default: fail(ErrorCode::kUNSUPPORTED, "Resize: unsupported data type ", dataTypeName(c.inDesc[0].type));
        }
    }
};
GIE_REGISTER_KERNEL(ResizeCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
