// GPU Shuffle: first transpose -> reshape -> second transpose for any element type, the same semantics
// as kernels/shuffle_cpu.cpp. A reshape moves no data. A transpose is a strided gather (strided_copy.cuh):
// size-1 dimensions are dropped and neighbours that stay adjacent merged, so what runs is a plain copy
// (or nothing, when the reshape is in place), a copy of contiguous rows (the innermost dimension stays
// innermost; 16-byte units when the row bytes and alignment allow), a 32x32 shared-memory tiled
// transpose (2-D-like transposes such as NCHW <-> NHWC with both sides >= 16), or one thread per element
// (e.g. a short innermost side such as C = 3). When both transposes move data, the first one goes to the
// workspace (sized at configure for the largest shapes), like the CPU kernel.
#include <cstdint>
#include <vector>

#include "common.cuh"
#include "kernels/strided_copy.cuh"
#include "layers/shuffle.h"

namespace gie {
namespace {

using cuda::StridedView;

//! The gather that transposes `in` (packed) by perm: output dim k is input dim perm[k].
StridedView transposeView(const Dims& in, const std::vector<int64_t>& perm) {
    const Dims xs = packedStrides(in);
    StridedView v;
    v.rank = in.nbDims;
    for (int k = 0; k < in.nbDims; ++k) {
        const int src = static_cast<int>(perm[static_cast<size_t>(k)]);
        v.n[k] = in.d[src];
        v.s[k] = xs.d[src];
    }
    return v;
}

//! The GPU's steps of ShuffleOp::runCall, on the call's stream.
struct GpuSteps {
    cudaStream_t st;
    //! Whether transposing `in` by perm moves data (anything but the identity once size-1 dims are dropped).
    static bool movesData(const Dims& in, const std::vector<int64_t>& perm) {
        const StridedView v = cuda::scSimplify(transposeView(in, perm));
        return !(v.rank == 1 && v.s[0] == 1);
    }
    void copy(const void* src, void* dst, size_t bytes) const {
        cuda::scCopyBytes(src, dst, static_cast<int64_t>(bytes), st);  // nothing when in place
    }
    void transpose(const void* src, void* dst, const Dims& in, const std::vector<int64_t>& perm, size_t elem) const {
        cuda::stridedCopy(src, dst, transposeView(in, perm), static_cast<int>(elem), st);
    }
};

class ShuffleGpu final : public Kernel<ShuffleGpu, ShuffleOp> {
public:
    using Kernel::Kernel;
    size_t getWorkspaceSize() const noexcept override { return workspace_; }

protected:
    void configureKernel(const TensorDesc* in, int32_t, const TensorDesc*, int32_t) override {
        workspace_ = op_.workspaceBytes(in[0]);
    }
    void run(const KernelCall& c) const override { op_.runCall(c, workspace_, GpuSteps{cuda::streamOf(c)}); }

private:
    size_t workspace_ = 0;
};
GIE_REGISTER_KERNEL(ShuffleGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
