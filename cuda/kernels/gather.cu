// GPU Gather (numpy.take) for any data type with int32 indices, the layout of kernels/gather_cpu.cpp:
// output [outer, nIdx, inner] = data[outer, index, inner]; negative indices count from the end.
//
// Out-of-range indices (v < -axisLen or v >= axisLen): the CPU kernel checks every index before copying
// and fails the call (kINVALID_ARGUMENT naming the index). The GPU kernel cannot report a value it only
// sees on the device without a synchronization, so it defines the result instead: the output slab of an
// out-of-range index is filled with zero bytes (0, 0.0f, false), the call succeeds, and the other slabs
// are exact. Validate indices upstream when they come from untrusted data.
//
// One thread per unit of the trailing slab (units of 16, 8, 4, 2 or 1 bytes: the widest that divides the
// slab bytes and both pointers), 32-bit index math when the output has fewer than 2^31 units.
#include <cstdint>

#include "common.cuh"
#include "layers/gather.h"

namespace gie {
namespace {

template <int B> struct Unit;
template <> struct Unit<1> { using T = uint8_t; };
template <> struct Unit<2> { using T = uint16_t; };
template <> struct Unit<4> { using T = uint32_t; };
template <> struct Unit<8> { using T = uint2; };
template <> struct Unit<16> { using T = uint4; };

template <typename U, typename Idx>
__global__ void __launch_bounds__(256) gatherKernel(const U* __restrict__ x, const int32_t* __restrict__ idx, U* __restrict__ y,
                                                    Idx inner, Idx nIdx, int64_t axisLen, Idx total) {
    const Idx step = static_cast<Idx>(gridDim.x) * blockDim.x;
    for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
        const Idx t = i / inner;
        const Idx c = i - t * inner;
        const Idx o = t / nIdx;
        const Idx j = t - o * nIdx;
        int64_t v = __ldg(idx + j);
        if (v < 0) v += axisLen;
        U r;
        if (v >= 0 && v < axisLen) {
            r = x[(static_cast<int64_t>(o) * axisLen + v) * static_cast<int64_t>(inner) + c];
        } else {
            r = U{};  // out of range: zero bytes (see the header comment)
        }
        y[i] = r;
    }
}

int shrink(int u, int64_t v) {
    while (u > 1 && (v % u) != 0) u >>= 1;
    return u;
}

template <int B>
void launch(const KernelCall& c, int64_t outer, int64_t nIdx, int64_t innerBytes, int64_t axisLen, cudaStream_t st) {
    using U = typename Unit<B>::T;
    const int64_t inner = innerBytes / B;
    const int64_t total = outer * nIdx * inner;
    const U* x = c.in<U>(0);
    const int32_t* idx = c.in<int32_t>(1);
    U* y = c.out<U>(0);
    const unsigned grid = cuda::gridFor(total);
    if (total <= INT32_MAX)
        gatherKernel<U, uint32_t><<<grid, 256, 0, st>>>(x, idx, y, static_cast<uint32_t>(inner), static_cast<uint32_t>(nIdx), axisLen,
                                                        static_cast<uint32_t>(total));
    else
        gatherKernel<U, int64_t><<<grid, 256, 0, st>>>(x, idx, y, inner, nIdx, axisLen, total);
    cuda::checkLaunch("gather");
}

class GatherGpu final : public Kernel<GatherGpu, GatherOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        const GatherOp::CallLayout l = op_.layout(c);
        const int64_t outer = l.outer, inner = l.inner, axisLen = l.axisLen, nIdx = l.nIdx;  // inner in bytes
        if (outer == 0 || nIdx == 0 || inner == 0) return;
        int u = shrink(16, inner);
        u = shrink(u, static_cast<int64_t>(reinterpret_cast<uintptr_t>(c.inputs[0]) & 0xFFFF));
        u = shrink(u, static_cast<int64_t>(reinterpret_cast<uintptr_t>(c.outputs[0]) & 0xFFFF));
        cudaStream_t st = cuda::streamOf(c);
        switch (u) {
            case 16: launch<16>(c, outer, nIdx, inner, axisLen, st); break;
            case 8: launch<8>(c, outer, nIdx, inner, axisLen, st); break;
            case 4: launch<4>(c, outer, nIdx, inner, axisLen, st); break;
            case 2: launch<2>(c, outer, nIdx, inner, axisLen, st); break;
            default: launch<1>(c, outer, nIdx, inner, axisLen, st); break;
        }
    }
};
GIE_REGISTER_KERNEL(GatherGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
