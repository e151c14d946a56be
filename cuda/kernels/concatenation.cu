// GPU Concatenation: any element type (a byte copy), the same layout rules as
// kernels/concatenation_cpu.cpp. For every index of the dimensions before `axis`, input i's contiguous slab
// of row_i bytes goes to offset_i of the output slab.
//
// One launch copies up to 16 inputs (their pointers, row sizes and offsets passed by value; more inputs
// take more launches): blockIdx.y picks the input, the x blocks stride over that input's units, reading
// it contiguously and writing contiguous runs of the output. Units are 16, 8, 4, 2 or 1 bytes: the widest
// dividing every row size, offset, the output slab and every pointer.
#include <algorithm>
#include <cstdint>

#include "common.cuh"
#include "layers/concatenation.h"

namespace gie {
namespace {

constexpr int kMaxIn = 16;

struct ConcatParams {
    const void* src[kMaxIn];
    int64_t row[kMaxIn];     // units per input slab
    int64_t offset[kMaxIn];  // units from the start of the output slab
    int64_t total[kMaxIn];   // units of input i (outer * row)
    int64_t outRow;          // units per output slab
};

template <int B> struct Unit;
template <> struct Unit<1> { using T = uint8_t; };
template <> struct Unit<2> { using T = uint16_t; };
template <> struct Unit<4> { using T = uint32_t; };
template <> struct Unit<8> { using T = uint2; };
template <> struct Unit<16> { using T = uint4; };

template <typename U, typename Idx>
__global__ void __launch_bounds__(256) concatKernel(U* __restrict__ dst, ConcatParams p) {
    const int i = blockIdx.y;
    const Idx total = static_cast<Idx>(p.total[i]);
    const Idx row = static_cast<Idx>(p.row[i]);
    const U* __restrict__ src = static_cast<const U*>(p.src[i]);
    U* __restrict__ d = dst + p.offset[i];
    const int64_t outRow = p.outRow;
    const Idx step = static_cast<Idx>(gridDim.x) * blockDim.x;
    for (Idx u = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; u < total; u += step) {
        const Idx o = u / row;
        const Idx c = u - o * row;
        d[static_cast<int64_t>(o) * outRow + c] = src[u];
    }
}

int shrink(int u, int64_t v) {
    while (u > 1 && (v % u) != 0) u >>= 1;
    return u;
}

template <int B>
void launch(const KernelCall& c, int first, int count, const int64_t* rowBytes, const int64_t* offBytes, int64_t outer,
            int64_t outRowBytes, cudaStream_t st) {
    using U = typename Unit<B>::T;
    ConcatParams p{};
    int64_t maxTotal = 0;
    for (int k = 0; k < count; ++k) {
        p.src[k] = c.inputs[first + k];
        p.row[k] = rowBytes[first + k] / B;
        p.offset[k] = offBytes[first + k] / B;
        p.total[k] = outer * p.row[k];
        if (p.total[k] > maxTotal) maxTotal = p.total[k];
    }
    p.outRow = outRowBytes / B;
    if (maxTotal == 0) return;
    // x blocks for the largest input; blocks past a smaller input's end exit at once.
    int64_t bx = cuda::ceilDiv(maxTotal, 256);
    const int64_t cap = std::max<int64_t>(static_cast<int64_t>(cuda::numSMs()) * 32 / count, static_cast<int64_t>(cuda::numSMs()) * 4);
    if (bx > cap) bx = cap;
    const dim3 grid(static_cast<unsigned>(bx), static_cast<unsigned>(count));
    U* dst = static_cast<U*>(c.outputs[0]);
    if (maxTotal <= INT32_MAX)
        concatKernel<U, uint32_t><<<grid, 256, 0, st>>>(dst, p);
    else
        concatKernel<U, int64_t><<<grid, 256, 0, st>>>(dst, p);
    cuda::checkLaunch("concatenation");
}

class ConcatenationGpu final : public Kernel<ConcatenationGpu, ConcatenationOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        const Dims& od = c.outDims(0);
        const int a = op_.axis(od.nbDims);
        const int64_t es = dataTypeSize(c.outDesc[0].type);
        const AxisSplit sp = splitAtAxis(od, a);
        const int64_t outer = sp.outer, inner = sp.inner * es;  // inner in bytes
        const int64_t outRow = od.d[a] * inner;
        if (outer == 0 || outRow == 0) return;
        cudaStream_t st = cuda::streamOf(c);
        int64_t rowBytes[256], offBytes[256];
        GIE_CHECK(c.nbInputs <= 256, ErrorCode::kUNSUPPORTED, "Concatenation: at most 256 inputs on the GPU, got ", c.nbInputs);
        int64_t offset = 0;
        for (int i = 0; i < c.nbInputs; ++i) {
            rowBytes[i] = c.inDims(i).d[a] * inner;
            offBytes[i] = offset;
            offset += rowBytes[i];
        }
        for (int first = 0; first < c.nbInputs; first += kMaxIn) {
            const int count = c.nbInputs - first < kMaxIn ? c.nbInputs - first : kMaxIn;
            int u = shrink(16, outRow);
            u = shrink(u, static_cast<int64_t>(reinterpret_cast<uintptr_t>(c.outputs[0]) & 0xFFFF));
            for (int k = first; k < first + count; ++k) {
                u = shrink(u, rowBytes[k]);
                u = shrink(u, offBytes[k]);
                u = shrink(u, static_cast<int64_t>(reinterpret_cast<uintptr_t>(c.inputs[k]) & 0xFFFF));
            }
            switch (u) {
                case 16: launch<16>(c, first, count, rowBytes, offBytes, outer, outRow, st); break;
                case 8: launch<8>(c, first, count, rowBytes, offBytes, outer, outRow, st); break;
                case 4: launch<4>(c, first, count, rowBytes, offBytes, outer, outRow, st); break;
                case 2: launch<2>(c, first, count, rowBytes, offBytes, outer, outRow, st); break;
                default: launch<1>(c, first, count, rowBytes, offBytes, outer, outRow, st); break;
            }
        }
    }
};
GIE_REGISTER_KERNEL(ConcatenationGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
