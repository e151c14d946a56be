// GPU Slice for any element type, the same semantics as kernels/slice_cpu.cpp: element i of a sliced
// dimension is input[start + i * stride] (stride may be negative), leading dimensions without values are
// kept whole. Packed input and output (like the CPU kernel, no strided views are declared).
//
// The slice is a strided gather (strided_copy.cuh): base = sum start[k] * xs[k], strides stride[k] * xs[k];
// dimensions that stay adjacent merge, so a slice of whole inner rows is a row copy in up to 16-byte units,
// a unit-stride window of the innermost dimension copies rows, and negative or non-unit innermost strides
// run one thread per element.
#include <cstdint>

#include "common.cuh"
#include "kernels/strided_copy.cuh"
#include "layers/slice.h"

namespace gie {
namespace {

class SliceGpu final : public Kernel<SliceGpu, SliceOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        const Dims& x = c.inDims(0);
        const Dims& y = c.outDims(0);
        if (volume(y) == 0) return;
        int64_t st[Dims::MAX_DIMS], sz[Dims::MAX_DIMS], sd[Dims::MAX_DIMS];
        op_.full(c, st, sz, sd);
        const int elem = dataTypeSize(c.inDesc[0].type);
        GIE_CHECK(elem == 1 || elem == 2 || elem == 4, ErrorCode::kUNSUPPORTED, "Slice: unsupported data type ",
                  dataTypeName(c.inDesc[0].type));
        cuda::StridedView v;
        if (x.nbDims == 0) {  // a scalar: one element
            v.rank = 1;
            v.n[0] = 1;
            v.s[0] = 1;
        } else {
            const Dims xs = packedStrides(x);
            v.rank = x.nbDims;
            for (int i = 0; i < x.nbDims; ++i) {
                v.n[i] = y.d[i];
                v.s[i] = sd[i] * xs.d[i];
                v.base += st[i] * xs.d[i];
            }
        }
        cuda::stridedCopy(c.inputs[0], c.outputs[0], v, elem, cuda::streamOf(c));
    }
};
GIE_REGISTER_KERNEL(SliceGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
