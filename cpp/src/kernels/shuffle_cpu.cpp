// CPU Shuffle: transpose -> reshape -> transpose for any element type.
//
// A transpose is first simplified (size-1 dimensions dropped, dimensions that stay adjacent merged); what
// is left is either a plain copy, a gather of contiguous rows (the innermost dimension stays innermost), or
// a blocked 2-D transpose between the input's and the output's innermost dimensions, repeated over the
// remaining dimensions. A reshape is free (same bytes). When both transposes move data, the first one goes
// to the workspace.
#include <algorithm>
#include <cstring>

#include "common/parallel.h"
#include "layers/shuffle.h"

namespace gie {
namespace {

constexpr int64_t kTile = 32;

//! A transpose reduced to its essential dimensions: out dim k is in dim perm[k].
struct TransposePlan {
    int rank = 0;
    int64_t inDims[Dims::MAX_DIMS];
    int perm[Dims::MAX_DIMS];
    bool isCopy() const {
        for (int k = 0; k < rank; ++k)
            if (perm[k] != k) return false;
        return true;
    }
};

TransposePlan simplify(const Dims& in, const std::vector<int64_t>& perm) {
    // Drop size-1 dimensions.
    int r = in.nbDims;
    int newIndex[Dims::MAX_DIMS];
    int64_t dims[Dims::MAX_DIMS];
    int n = 0;
    for (int i = 0; i < r; ++i) {
        newIndex[i] = in.d[i] == 1 ? -1 : n;
        if (in.d[i] != 1) dims[n++] = in.d[i];
    }
    int p[Dims::MAX_DIMS];
    int m = 0;
    for (int k = 0; k < r; ++k) {
        int src = static_cast<int>(perm[static_cast<size_t>(k)]);
        if (newIndex[src] >= 0) p[m++] = newIndex[src];
    }
    // Merge runs where consecutive output dims are consecutive input dims.
    // groupOf[input dim] -> merged group; build groups in input order.
    bool startsGroup[Dims::MAX_DIMS];
    for (int i = 0; i < n; ++i) startsGroup[i] = true;
    for (int k = 1; k < m; ++k)
        if (p[k] == p[k - 1] + 1) startsGroup[p[k]] = false;
    int group[Dims::MAX_DIMS];
    TransposePlan plan;
    int g = -1;
    for (int i = 0; i < n; ++i) {
        if (startsGroup[i]) {
            ++g;
            plan.inDims[g] = 1;
        }
        group[i] = g;
        plan.inDims[g] *= dims[i];
    }
    plan.rank = g + 1;
    int q = 0;
    for (int k = 0; k < m; ++k)
        if (startsGroup[p[k]]) plan.perm[q++] = group[p[k]];
    return plan;
}

template <typename T>
void transposeTyped(const T* src, T* dst, const TransposePlan& pl) {
    const int r = pl.rank;
    int64_t inStride[Dims::MAX_DIMS], outDims[Dims::MAX_DIMS], outStride[Dims::MAX_DIMS];
    int64_t acc = 1;
    for (int i = r - 1; i >= 0; --i) {
        inStride[i] = acc;
        acc *= pl.inDims[i];
    }
    const int64_t total = acc;
    for (int k = 0; k < r; ++k) outDims[k] = pl.inDims[pl.perm[k]];
    acc = 1;
    for (int k = r - 1; k >= 0; --k) {
        outStride[k] = acc;
        acc *= outDims[k];
    }
    // Input stride of output dim k.
    int64_t srcStrideOf[Dims::MAX_DIMS];
    for (int k = 0; k < r; ++k) srcStrideOf[k] = inStride[pl.perm[k]];

    if (pl.perm[r - 1] == r - 1) {
        // Rows of the innermost dimension are contiguous on both sides.
        const int64_t row = outDims[r - 1];
        const int64_t rows = total / row;
        parallelFor(rows, total, [&](int64_t ri) {
            int64_t rem = ri, off = 0;
            for (int k = r - 2; k >= 0; --k) {
                int64_t c = rem % outDims[k];
                rem /= outDims[k];
                off += c * srcStrideOf[k];
            }
            std::memcpy(dst + ri * row, src + off, static_cast<size_t>(row) * sizeof(T));
        });
        return;
    }
    // Blocked 2-D transpose: output dim a = r-1 (contiguous in the output, input stride sA) against output
    // dim b holding input dim r-1 (contiguous in the input, output stride oB).
    int b = 0;
    for (int k = 0; k < r; ++k)
        if (pl.perm[k] == r - 1) b = k;
    const int64_t nA = outDims[r - 1], nB = outDims[b];
    const int64_t sA = srcStrideOf[r - 1], oB = outStride[b];
    int others[Dims::MAX_DIMS];
    int no = 0;
    for (int k = 0; k < r - 1; ++k)
        if (k != b) others[no++] = k;
    int64_t outer = total / (nA * nB);
    const int64_t tilesA = (nA + kTile - 1) / kTile;
    parallelFor(outer * tilesA, total, [&](int64_t task) {
        int64_t oi = task / tilesA, ta = task % tilesA;
        int64_t rem = oi, srcOff = 0, dstOff = 0;
        for (int j = no - 1; j >= 0; --j) {
            int k = others[j];
            int64_t c = rem % outDims[k];
            rem /= outDims[k];
            srcOff += c * srcStrideOf[k];
            dstOff += c * outStride[k];
        }
        const int64_t a0 = ta * kTile, a1 = std::min(nA, a0 + kTile);
        for (int64_t b0 = 0; b0 < nB; b0 += kTile) {
            const int64_t b1 = std::min(nB, b0 + kTile);
            for (int64_t ib = b0; ib < b1; ++ib) {
                const T* s = src + srcOff + ib;
                T* d = dst + dstOff + ib * oB;
                for (int64_t ia = a0; ia < a1; ++ia) d[ia] = s[ia * sA];
            }
        }
    });
}

//! dst = transpose(src of shape `in`, perm) for elements of `elem` bytes. src and dst must not overlap.
void transposeAny(const void* src, void* dst, const Dims& in, const std::vector<int64_t>& perm, size_t elem) {
    int64_t n = volume(in);
    if (n == 0) return;
    TransposePlan pl = simplify(in, perm);
    if (pl.rank <= 1 || pl.isCopy()) {
        if (src != dst) std::memcpy(dst, src, static_cast<size_t>(n) * elem);
        return;
    }
    switch (elem) {
        case 1: transposeTyped(static_cast<const uint8_t*>(src), static_cast<uint8_t*>(dst), pl); break;
        case 2: transposeTyped(static_cast<const uint16_t*>(src), static_cast<uint16_t*>(dst), pl); break;
        case 4: transposeTyped(static_cast<const uint32_t*>(src), static_cast<uint32_t*>(dst), pl); break;
        case 8: transposeTyped(static_cast<const uint64_t*>(src), static_cast<uint64_t*>(dst), pl); break;
        default: fail(ErrorCode::kUNSUPPORTED, "Shuffle: unsupported element size ", elem);
    }
}

//! The CPU's steps of ShuffleOp::runCall.
struct CpuSteps {
    static bool movesData(const Dims& in, const std::vector<int64_t>& perm) {
        TransposePlan pl = simplify(in, perm);
        return !(pl.rank <= 1 || pl.isCopy());
    }
    static void copy(const void* src, void* dst, size_t bytes) {
        if (dst != src) std::memcpy(dst, src, bytes);
    }
    static void transpose(const void* src, void* dst, const Dims& in, const std::vector<int64_t>& perm, size_t elem) {
        transposeAny(src, dst, in, perm, elem);
    }
};

class ShuffleCpu final : public Kernel<ShuffleCpu, ShuffleOp> {
public:
    using Kernel::Kernel;
    size_t getWorkspaceSize() const noexcept override { return workspace_; }

protected:
    void configureKernel(const TensorDesc* in, int32_t, const TensorDesc*, int32_t) override {
        // Both transposes present: the first goes through the workspace (sized for the largest shapes).
        workspace_ = op_.workspaceBytes(in[0]);
    }
    void run(const KernelCall& c) const override { op_.runCall(c, workspace_, CpuSteps{}); }

private:
    size_t workspace_ = 0;
};
GIE_REGISTER_KERNEL(ShuffleCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
