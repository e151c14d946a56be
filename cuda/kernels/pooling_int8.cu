// GPU INT8 pooling (variant "int8"; docs/int8.md), the arithmetic of kernels/pooling_int8_cpu.cpp: max takes the
// largest q of the window (starting from -128, so a window wholly in the padding gives -128 as on the CPU), average
// sums the window's q in INT32 and computes (sum * s_in) / count in FP32 with the FP32 kernel's count (padding
// excluded or not); the result is written as INT8 CHW4 / NHWC with the output's scale or as FLOAT / HALF LINEAR. Input
// INT8 CHW4, or INT8 NHWC with C % 4 == 0 (between the tensor-core convolutions' NHWC layers, docs/int8.md): one thread
// per (image, group of 4 channels, output pixel) reads one 32-bit word per window tap (4 channels; __vmaxs4 for max)
// and writes one word (CHW4, NHWC) or 4 planes. CHW4: pixels fastest across threads (a group's plane is contiguous);
// NHWC: groups fastest (a pixel's channels are).
#include <cstdint>

#include "int8_common.cuh"
#include "kernels/int8_cpu.h"
#include "layers/pooling.h"

namespace gie {
namespace {

using namespace cuda::int8gpu;

struct Int8PoolParams {
    const int* x = nullptr;  // CHW4 words [N][C4][H*W] or NHWC words [N][H*W][C4], batch stride xbs words
    RealTensor y;
    int64_t xbs = 0;
    int C = 0, C4 = 0, H = 0, W = 0, P = 0, Q = 0, kh = 1, kw = 1, sh = 1, sw = 1, pt = 0, pl = 0, pb = 0, pr = 0;
    bool exclude = true, nhwc = false;
    float sIn = 1.f;
};

template <bool kMax>
__global__ void __launch_bounds__(256) poolInt8(const Int8PoolParams a, int64_t total) {
    const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
    const int PQ = a.P * a.Q, HW = a.H * a.W;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
        int pq, g, n;
        if (a.nhwc) {
            g = static_cast<int>(i % a.C4);
            const int64_t t = i / a.C4;
            pq = static_cast<int>(t % PQ), n = static_cast<int>(t / PQ);
        } else {
            pq = static_cast<int>(i % PQ);
            const int64_t t = i / PQ;
            g = static_cast<int>(t % a.C4), n = static_cast<int>(t / a.C4);
        }
        const int p = pq / a.Q, q = pq - p * a.Q;
        const int h0 = p * a.sh - a.pt, w0 = q * a.sw - a.pl;
        const int h1 = min(h0 + a.kh, a.H + a.pb), w1 = min(w0 + a.kw, a.W + a.pr);
        const int hs = max(h0, 0), he = min(h1, a.H), ws = max(w0, 0), we = min(w1, a.W);
        const int* xp = a.x + static_cast<int64_t>(n) * a.xbs + (a.nhwc ? g : static_cast<int64_t>(g) * HW);
        const int ps = a.nhwc ? a.C4 : 1;  // words from one pixel to the next
        float v[4];
        if (kMax) {
            unsigned m = 0x80808080u;  // -128 in every byte
            for (int h = hs; h < he; ++h)
                for (int w = ws; w < we; ++w) m = __vmaxs4(m, static_cast<unsigned>(__ldg(xp + (h * a.W + w) * ps)));
#pragma unroll
            for (int j = 0; j < 4; ++j) v[j] = dequant(byteOf(static_cast<int>(m), j), a.sIn);
        } else {
            int s[4] = {0, 0, 0, 0};
            for (int h = hs; h < he; ++h)
                for (int w = ws; w < we; ++w) {
                    const int word = __ldg(xp + (h * a.W + w) * ps);
#pragma unroll
                    for (int j = 0; j < 4; ++j) s[j] += byteOf(word, j);
                }
            const int count = a.exclude ? (he - hs) * (we - ws) : (h1 - h0) * (w1 - w0);
#pragma unroll
            for (int j = 0; j < 4; ++j) v[j] = count > 0 ? __fdiv_rn(dequant(s[j], a.sIn), static_cast<float>(count)) : 0.f;
        }
        storeGroup(a.y, n, g * 4, pq, PQ, v, min(4, a.C - g * 4));
    }
}

class PoolingInt8Gpu final : public Kernel<PoolingInt8Gpu, PoolingOp> {
public:
    GIE_INT8_KERNEL_COMMON

    //! Tensors are read and written with their descriptors' batch strides (an INT8 CHW4 slice of an eliminated
    //! concatenation, docs/int8.md).
    bool supportsStridedInput() const noexcept override { return true; }
    bool supportsStridedOutput() const noexcept override { return true; }

    //! INT8 CHW4 or NHWC (C % 4 == 0) input; INT8 CHW4, INT8 NHWC (C % 4 == 0) or FLOAT / HALF LINEAR output.
    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        const TensorDesc& d = inOut[pos];
        return (quantizedChw4(d) || quantizedNhwc(d, 4) || (pos > 0 && floatLinear4(d))) && imageFits32(d);
    }

protected:
    void run(const KernelCall& c) const override {
        const Dims& x = c.inDims(0);
        const Dims& y = c.outDims(0);
        int64_t kh, kw;
        op_.window(x.d[2], x.d[3], kh, kw);
        Int8PoolParams a;
        a.x = c.in<int>(0);
        a.y = realTensor(c.outputs[0], c.outDesc[0]);
        a.xbs = c.inDesc[0].strides.d[0] / 4;
        a.C = static_cast<int>(x.d[1]);
        a.C4 = static_cast<int>(storedChannels(x.d[1], TensorFormat::kCHW4) / 4);
        a.H = static_cast<int>(x.d[2]);
        a.W = static_cast<int>(x.d[3]);
        a.P = static_cast<int>(y.d[2]);
        a.Q = static_cast<int>(y.d[3]);
        a.kh = static_cast<int>(kh);
        a.kw = static_cast<int>(kw);
        a.sh = static_cast<int>(op_.global ? 1 : op_.sh);
        a.sw = static_cast<int>(op_.global ? 1 : op_.sw);
        a.pt = static_cast<int>(op_.global ? 0 : op_.pt);
        a.pl = static_cast<int>(op_.global ? 0 : op_.pl);
        a.pb = static_cast<int>(op_.global ? 0 : op_.pb);
        a.pr = static_cast<int>(op_.global ? 0 : op_.pr);
        a.exclude = op_.excludePadding;
        a.sIn = c.inDesc[0].scale;
        a.nhwc = c.inDesc[0].format == TensorFormat::kNHWC;
        const int64_t total = x.d[0] * a.C4 * a.P * a.Q;
        if (total == 0) return;
        GIE_CHECK(cuda::alignedTo(c.inputs[0], 4) && cuda::alignedTo(c.outputs[0], 4), ErrorCode::kINTERNAL,
                  "Pooling (INT8 GPU): tensors must be 4-byte aligned");
        if (op_.type == PoolingType::kMAX) poolInt8<true><<<cuda::gridFor(total), 256, 0, cuda::streamOf(c)>>>(a, total);
        else poolInt8<false><<<cuda::gridFor(total), 256, 0, cuda::streamOf(c)>>>(a, total);
        cuda::checkLaunch("poolInt8");
    }
};
GIE_REGISTER_KERNEL(PoolingInt8Gpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
