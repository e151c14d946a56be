// GPU INT8 element-wise arithmetic (variant "int8"; docs/int8.md), the arithmetic of kernels/elementwise_int8_cpu.cpp:
// SUM (a residual add with two scales), SUB, PROD, MAX and MIN of two INT8 CHW4 tensors, or two INT8 NHWC tensors with
// C % 4 == 0, of the output's shape, computed in FP32 on the dequantized values and written as INT8 CHW4 / NHWC with
// the output's scale (round half to even, saturate) or as FLOAT / HALF LINEAR. One thread per (image, group of 4
// channels, pixel): two 32-bit loads, one 32-bit store (CHW4, NHWC); pixels fastest across threads for CHW4, channel
// groups fastest for NHWC (coalesced either way).
#include <cstdint>

#include "int8_common.cuh"
#include "kernels/int8_cpu.h"
#include "layers/elementwise.h"

namespace gie {
namespace {

using namespace cuda::int8gpu;

struct Int8EltParams {
    const int* a = nullptr;
    const int* b = nullptr;
    int64_t abs = 0, bbs = 0;  // batch strides, words
    float sa = 1.f, sb = 1.f;
    RealTensor y;
    int C = 0, C4 = 0, HW = 0;
    int op = 0;  // ElementWiseOperation
    bool nhwc = false;  // both inputs INT8 NHWC (else CHW4)
};

__global__ void __launch_bounds__(256) eltInt8(const Int8EltParams p, int64_t total) {
    using E = ElementWiseOperation;
    const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
        int hw, g, n;
        if (p.nhwc) {
            g = static_cast<int>(i % p.C4);
            const int64_t t = i / p.C4;
            hw = static_cast<int>(t % p.HW), n = static_cast<int>(t / p.HW);
        } else {
            hw = static_cast<int>(i % p.HW);
            const int64_t t = i / p.HW;
            g = static_cast<int>(t % p.C4), n = static_cast<int>(t / p.C4);
        }
        const int64_t in = p.nhwc ? static_cast<int64_t>(hw) * p.C4 + g : static_cast<int64_t>(g) * p.HW + hw;
        const int wa = __ldg(p.a + n * p.abs + in), wb = __ldg(p.b + n * p.bbs + in);
        float v[4];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const float x = dequant(byteOf(wa, j), p.sa), z = dequant(byteOf(wb, j), p.sb);
            switch (static_cast<E>(p.op)) {
                case E::kSUM: v[j] = __fadd_rn(x, z); break;
                case E::kSUB: v[j] = __fsub_rn(x, z); break;
                case E::kPROD: v[j] = __fmul_rn(x, z); break;
                case E::kMAX: v[j] = x > z ? x : z; break;
                default: v[j] = x < z ? x : z; break;
            }
        }
        storeGroup(p.y, n, g * 4, hw, p.HW, v, min(4, p.C - g * 4));
    }
}

class ElementWiseInt8Gpu final : public Kernel<ElementWiseInt8Gpu, ElementWiseOp> {
public:
    GIE_INT8_KERNEL_COMMON

    //! Tensors are read and written with their descriptors' batch strides (an INT8 CHW4 slice of an eliminated
    //! concatenation, docs/int8.md).
    bool supportsStridedInput() const noexcept override { return true; }
    bool supportsStridedOutput() const noexcept override { return true; }

    //! SUM, SUB, PROD, MAX, MIN; both inputs INT8 CHW4, or both INT8 NHWC (C % 4 == 0), of the output's shape (no
    //! broadcasting); output INT8 CHW4, INT8 NHWC (C % 4 == 0) or FLOAT / HALF LINEAR.
    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t nIn, int32_t) const noexcept override {
        const TensorDesc& d = inOut[pos];
        return op_.int8Computes(pos, inOut) && (quantizedChw4(d) || quantizedNhwc(d, 4) || (pos >= nIn && floatLinear4(d))) &&
               (pos == 0 || pos >= nIn || d.format == inOut[0].format) && imageFits32(d);
    }

protected:
    void run(const KernelCall& c) const override {
        const Dims& d = c.outDims(0);
        Int8EltParams p;
        p.a = c.in<int>(0);
        p.b = c.in<int>(1);
        p.abs = c.inDesc[0].strides.d[0] / 4;
        p.bbs = c.inDesc[1].strides.d[0] / 4;
        p.sa = c.inDesc[0].scale;
        p.sb = c.inDesc[1].scale;
        p.y = realTensor(c.outputs[0], c.outDesc[0]);
        p.C = static_cast<int>(d.d[1]);
        p.C4 = static_cast<int>(storedChannels(d.d[1], TensorFormat::kCHW4) / 4);
        p.HW = static_cast<int>(d.d[2] * d.d[3]);
        p.op = static_cast<int>(op_.op);
        p.nhwc = c.inDesc[0].format == TensorFormat::kNHWC;
        const int64_t total = d.d[0] * p.C4 * p.HW;
        if (total == 0) return;
        GIE_CHECK(cuda::alignedTo(c.inputs[0], 4) && cuda::alignedTo(c.inputs[1], 4) && cuda::alignedTo(c.outputs[0], 4), ErrorCode::kINTERNAL,
                  "ElementWise (INT8 GPU): tensors must be 4-byte aligned");
        eltInt8<<<cuda::gridFor(total), 256, 0, cuda::streamOf(c)>>>(p, total);
        cuda::checkLaunch("eltInt8");
    }
};
GIE_REGISTER_KERNEL(ElementWiseInt8Gpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
