// GPU INT8 concatenation (variant "int8"; docs/int8.md): the CPU reference's arithmetic
// (kernels/concatenation_int8_cpu.cpp): an input whose scale is the output's is copied byte for byte, another is
// requantized to the output's scale (dequantize, round half to even, saturate: layers/int8_math.h). Every tensor INT8
// LINEAR (any rank, any axis) or every tensor INT8 CHW4 (4-D, any axis; channel offsets need not be multiples of 4).
//
// One launch per input, one thread per element of that input (grid-stride): the input's slab goes to its offset
// along the axis. In CHW4 the output's padding channels (C .. C rounded up to 4) are written as 0 by the launch of
// the input that ends at C (the last one on axis 1; every input elsewhere, whose padding is the output's).
#include <cstdint>

#include "int8_common.cuh"
#include "kernels/int8_cpu.h"
#include "layers/concatenation.h"

namespace gie {
namespace {

using namespace cuda::int8gpu;

struct ConcatInt8Part {
    const signed char* src = nullptr;
    signed char* dst = nullptr;
    float sIn = 1.f, sOut = 1.f;
    // LINEAR: (outer, n, inner) with n the input's extent along the axis. CHW4: the input's (N, C, H, W), the channels
    // iterated (cIter >= C: the extra ones are output padding, written 0), the output's stored channels, the axis.
    int64_t outer = 0, n = 0, inner = 0, outN = 0, offset = 0;
    int64_t d[4] = {0, 0, 0, 0};
    int64_t cIter = 0, inCp = 0, outD[4] = {0, 0, 0, 0}, outCp = 0;
    int axis = 1;
};

__device__ __forceinline__ signed char requant(signed char q, float sIn, float sOut) {
    return sIn == sOut ? q : static_cast<signed char>(int8::quantize(dequant(q, sIn), sOut));
}

__global__ void __launch_bounds__(256) concatInt8Linear(const ConcatInt8Part p) {
    const int64_t total = p.outer * p.n * p.inner;
    for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t o = e / (p.n * p.inner), r = e - o * (p.n * p.inner);
        p.dst[o * p.outN * p.inner + p.offset * p.inner + r] = requant(__ldg(p.src + e), p.sIn, p.sOut);
    }
}

//! CHW4 offset of (n, c, h, w) in a tensor of Cp stored channels and H x W planes.
__device__ __forceinline__ int64_t chw4At(int64_t n, int64_t c, int64_t h, int64_t w, int64_t Cp, int64_t H, int64_t W) {
    return ((n * (Cp / 4) + c / 4) * H * W + h * W + w) * 4 + (c & 3);
}

__global__ void __launch_bounds__(256) concatInt8Chw4(const ConcatInt8Part p) {
    const int64_t H = p.d[2], W = p.d[3], C = p.d[1];
    const int64_t total = p.d[0] * p.cIter * H * W;
    for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        int64_t w = e % W, r = e / W;
        int64_t h = r % H;
        r /= H;
        int64_t c = r % p.cIter, n = r / p.cIter;
        const signed char v = c < C ? requant(__ldg(p.src + chw4At(n, c, h, w, p.inCp, H, W)), p.sIn, p.sOut) : static_cast<signed char>(0);
        // (no array indexed by the axis: it would live on the stack)
        const int64_t on = n + (p.axis == 0 ? p.offset : 0), ocn = c + (p.axis == 1 ? p.offset : 0);
        const int64_t oh = h + (p.axis == 2 ? p.offset : 0), ow = w + (p.axis == 3 ? p.offset : 0);
        p.dst[chw4At(on, ocn, oh, ow, p.outCp, p.outD[2], p.outD[3])] = v;
    }
}

class ConcatenationInt8Gpu final : public Kernel<ConcatenationInt8Gpu, ConcatenationOp> {
public:
    GIE_INT8_KERNEL_COMMON

    //! Every tensor INT8 with a usable scale, all LINEAR or all CHW4 (the format of input 0).
    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        const TensorDesc& d = inOut[pos];
        if (!(quantizedLinear(d) || quantizedChw4(d))) return false;
        return pos == 0 || d.format == inOut[0].format;
    }

protected:
    void run(const KernelCall& c) const override {
        const Dims& y = c.outDims(0);
        const int a = op_.axis(y.nbDims);
        const bool chw4 = c.outDesc[0].format == TensorFormat::kCHW4;
        const AxisSplit sp = splitAtAxis(y, a);
        int64_t at = 0;
        for (int k = 0; k < c.nbInputs; ++k) {
            const Dims& x = c.inDims(k);
            ConcatInt8Part p;
            p.src = c.in<signed char>(k);
            p.dst = c.out<signed char>(0);
            p.sIn = c.inDesc[k].scale;
            p.sOut = c.outDesc[0].scale;
            p.offset = at;
            p.axis = a;
            int64_t count = 0;
            if (chw4) {
                for (int i = 0; i < 4; ++i) p.d[i] = x.d[i], p.outD[i] = y.d[i];
                p.inCp = storedChannels(x.d[1], TensorFormat::kCHW4);
                p.outCp = storedChannels(y.d[1], TensorFormat::kCHW4);
                // The input ending at the output's last channel also writes the output's padding channels.
                p.cIter = a != 1 ? p.outCp : at + x.d[1] == y.d[1] ? p.outCp - at : x.d[1];
                count = x.d[0] * p.cIter * x.d[2] * x.d[3];
            } else {
                p.outer = sp.outer;
                p.inner = sp.inner;
                p.n = x.d[a];
                p.outN = y.d[a];
                count = p.outer * p.n * p.inner;
            }
            at += x.d[a];
            if (count == 0) continue;
            if (chw4) concatInt8Chw4<<<cuda::gridFor(count), 256, 0, cuda::streamOf(c)>>>(p);
            else concatInt8Linear<<<cuda::gridFor(count), 256, 0, cuda::streamOf(c)>>>(p);
            cuda::checkLaunch(chw4 ? "concatInt8Chw4" : "concatInt8Linear");
        }
    }
};
GIE_REGISTER_KERNEL(ConcatenationInt8Gpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
