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

//! Whether transposing `in` by perm moves data (anything but the identity once size-1 dims are dropped).
bool movesData(const Dims& in, const std::vector<int64_t>& perm) {
    const StridedView v = cuda::scSimplify(transposeView(in, perm));
    return !(v.rank == 1 && v.s[0] == 1);
}

class ShuffleGpu final : public Kernel<ShuffleGpu, ShuffleOp> {
public:
    using Kernel::Kernel;
    size_t getWorkspaceSize() const noexcept override { return workspace_; }

protected:
    void configureKernel(const TensorDesc* in, int32_t, const TensorDesc*, int32_t) override {
        workspace_ = op_.workspaceBytes(in[0]);
    }
    void run(const KernelCall& c) const override {
        const Dims& x = c.inDims(0);
        Dims t1, t2, out;
        op_.shapes(x, t1, t2, out, c.nbInputs > 1 ? &c.inDims(1) : nullptr);
        const int elem = dataTypeSize(c.inDesc[0].type);
        const int64_t bytes = volume(x) * elem;
        if (bytes == 0) return;
        cudaStream_t st = cuda::streamOf(c);
        const bool m1 = op_.hasPerm1 && movesData(x, op_.perm1);
        const bool m2 = op_.hasPerm2 && movesData(t2, op_.perm2);
        const void* src = c.inputs[0];
        void* dst = c.outputs[0];
        if (!m1 && !m2) {
            cuda::scCopyBytes(src, dst, bytes, st);  // nothing when in place
        } else if (m1 && !m2) {
            cuda::stridedCopy(src, dst, transposeView(x, op_.perm1), elem, st);
        } else if (!m1 && m2) {
            cuda::stridedCopy(src, dst, transposeView(t2, op_.perm2), elem, st);
        } else {
            GIE_CHECK(c.workspace && workspace_ >= static_cast<size_t>(bytes), ErrorCode::kINTERNAL, "Shuffle: workspace of ",
                      workspace_, " bytes is too small for ", bytes);
            cuda::stridedCopy(src, c.workspace, transposeView(x, op_.perm1), elem, st);
            cuda::stridedCopy(c.workspace, dst, transposeView(t2, op_.perm2), elem, st);
        }
    }

private:
    size_t workspace_ = 0;
};
GIE_REGISTER_KERNEL(ShuffleGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
