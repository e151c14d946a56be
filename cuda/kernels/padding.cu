// GPU Padding (constant / reflect / edge) for any rank and element type, the semantics of
// kernels/padding_cpu.cpp: output coordinate o of a dimension reads input o - pre; outside [0, n) constant
// mode writes the fill value, edge clamps to the border, reflect mirrors without repeating the edge
// (periodically for pads wider than the dimension, numpy.pad 'reflect'). Negative padding crops. The fill
// value is converted like the CPU's: float32 as is, int32 rounded to nearest (ties to even) and clamped,
// float16 rounded to nearest even, int8 quantized with the output scale and clamped, bool = value != 0.
//
// Neighbouring dimensions without padding are merged, then one thread per output element maps its
// coordinates back (32-bit index math when the output has fewer than 2^31 elements); writes are coalesced,
// reads follow the input rows.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "common.cuh"
#include "common/half.h"
#include "layers/padding.h"

namespace gie {
namespace {

struct PadParams {
    int rank;
    int64_t in[Dims::MAX_DIMS];   // input sizes
    int64_t out[Dims::MAX_DIMS];  // output sizes
    int64_t pre[Dims::MAX_DIMS];
    int64_t xs[Dims::MAX_DIMS];   // input strides (elements)
};

template <int Mode, typename T, typename Idx>
__global__ void __launch_bounds__(256) padKernel(const T* __restrict__ x, T* __restrict__ y, PadParams p, T fill, Idx total) {
    const Idx step = static_cast<Idx>(gridDim.x) * blockDim.x;
    for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
        Idx rem = i;
        int64_t off = 0;
        bool constant = false;
#pragma unroll
        for (int k = Dims::MAX_DIMS - 1; k >= 0; --k) {
            if (k < p.rank) {
                const Idx nk = static_cast<Idx>(p.out[k]);
                const Idx c = rem % nk;
                rem /= nk;
                int64_t s = static_cast<int64_t>(c) - p.pre[k];
                const int64_t n = p.in[k];
                if (s < 0 || s >= n) {
                    if (Mode == static_cast<int>(PaddingMode::kCONSTANT)) {
                        constant = true;
                    } else if (Mode == static_cast<int>(PaddingMode::kEDGE)) {
                        s = s < 0 ? 0 : n - 1;
                    } else {  // reflect
                        if (n == 1) {
                            s = 0;
                        } else {
                            const int64_t period = 2 * (n - 1);
                            int64_t m = s % period;
                            if (m < 0) m += period;
                            s = m < n ? m : period - m;
                        }
                    }
                }
                off += s * p.xs[k];
            }
        }
        y[i] = constant ? fill : x[off];
    }
}

template <int Mode, typename T>
void launchTyped(const void* x, void* y, const PadParams& p, T fill, int64_t total, cudaStream_t st) {
    const unsigned grid = cuda::gridFor(total);
    if (total <= INT32_MAX)
        padKernel<Mode, T, uint32_t><<<grid, 256, 0, st>>>(static_cast<const T*>(x), static_cast<T*>(y), p, fill,
                                                           static_cast<uint32_t>(total));
    else
        padKernel<Mode, T, int64_t><<<grid, 256, 0, st>>>(static_cast<const T*>(x), static_cast<T*>(y), p, fill, total);
    cuda::checkLaunch("padding");
}

template <typename T>
void launchMode(PaddingMode mode, const void* x, void* y, const PadParams& p, T fill, int64_t total, cudaStream_t st) {
    switch (mode) {
        case PaddingMode::kCONSTANT: launchTyped<static_cast<int>(PaddingMode::kCONSTANT)>(x, y, p, fill, total, st); break;
        case PaddingMode::kREFLECT: launchTyped<static_cast<int>(PaddingMode::kREFLECT)>(x, y, p, fill, total, st); break;
        case PaddingMode::kEDGE: launchTyped<static_cast<int>(PaddingMode::kEDGE)>(x, y, p, fill, total, st); break;
    }
}

class PaddingGpu final : public Kernel<PaddingGpu, PaddingOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        const Dims& x = c.inDims(0);
        const Dims& yd = c.outDims(0);
        const int64_t total = volume(yd);
        if (total == 0) return;
        int64_t p0[Dims::MAX_DIMS], p1[Dims::MAX_DIMS];
        op_.full(x.nbDims, p0, p1);
        // Merge neighbouring unpadded dimensions (their coordinates map one to one).
        PadParams p;
        p.rank = 0;
        bool prevPlain = false;
        for (int i = 0; i < x.nbDims; ++i) {
            const bool plain = p0[i] == 0 && p1[i] == 0;
            if (plain && prevPlain) {
                p.in[p.rank - 1] *= x.d[i];
                p.out[p.rank - 1] *= x.d[i];
            } else {
                p.in[p.rank] = x.d[i];
                p.out[p.rank] = yd.d[i];
                p.pre[p.rank] = p0[i];
                ++p.rank;
            }
            prevPlain = plain;
        }
        if (p.rank == 0) {  // a scalar
            p.rank = 1;
            p.in[0] = p.out[0] = 1;
            p.pre[0] = 0;
        }
        int64_t acc = 1;
        for (int k = p.rank - 1; k >= 0; --k) {
            p.xs[k] = acc;
            acc *= p.in[k];
        }
        for (int k = p.rank; k < Dims::MAX_DIMS; ++k) {
            p.in[k] = p.out[k] = 1;
            p.pre[k] = 0;
            p.xs[k] = 0;
        }
        const float v = op_.value;
        const void* in = c.inputs[0];
        void* out = c.outputs[0];
        cudaStream_t st = cuda::streamOf(c);
        switch (c.inDesc[0].type) {
            case DataType::kFLOAT: {
                uint32_t bits;
                std::memcpy(&bits, &v, 4);
                launchMode<uint32_t>(op_.mode, in, out, p, bits, total, st);
                break;
            }
            case DataType::kINT32: {
                double r = std::nearbyint(static_cast<double>(v));
                int32_t fill = static_cast<int32_t>(std::max(-2147483648.0, std::min(2147483647.0, r)));
                launchMode<uint32_t>(op_.mode, in, out, p, static_cast<uint32_t>(fill), total, st);
                break;
            }
            case DataType::kHALF:
                launchMode<uint16_t>(op_.mode, in, out, p, floatToHalf(v), total, st);
                break;
            case DataType::kINT8: {
                float scale = c.outDesc[0].scale > 0.f ? c.outDesc[0].scale : 1.f;
                float q = std::nearbyint(v / scale);
                int8_t fill = static_cast<int8_t>(std::max(-128.f, std::min(127.f, q)));
                launchMode<uint8_t>(op_.mode, in, out, p, static_cast<uint8_t>(fill), total, st);
                break;
            }
            case DataType::kBOOL:
                launchMode<uint8_t>(op_.mode, in, out, p, static_cast<uint8_t>(v != 0.f ? 1 : 0), total, st);
                break;
        }
    }
};
GIE_REGISTER_KERNEL(PaddingGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
