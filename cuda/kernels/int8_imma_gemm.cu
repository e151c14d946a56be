// The integer tensor-core tactics of the INT8 convolution and fully connected layer (int8_imma_gemm.cuh): their
// tiles, instantiated once here.
//   imma_128x128x64_s4   8 warps of 64 x 32, 4 stages (64 KiB), 2 blocks per SM: the general tile;
//   imma_256x128x64_s3   8 warps of 64 x 64, 3 stages (72 KiB), 1 block per SM: large grids (big batch);
//   imma_64x64x64_s4     4 warps of 32 x 32, 4 stages (32 KiB), 4 blocks per SM: small grids (batch 1, 7x7 planes);
//   imma_64x64x64_s4_split4 / _split8: the same with the reduction split 4 / 8 ways (groups == 1; INT32 partial sums
//                        in the workspace, then immaSplitReduce): deep layers at batch 1 have a few blocks otherwise.
// Each also in an INT8 NHWC variant (the convolution's _nhwc tactics: the A loader's 16-byte chunks, groups == 1).
#include "int8_imma_gemm.cuh"

#include <algorithm>

namespace gie {
namespace cuda {
namespace int8gpu {
namespace {

template <class G, bool SPLIT>
void prepareTile() {
    GIE_CUDA_CHECK(cudaFuncSetAttribute(immaGemmKernel<G, false, SPLIT>, cudaFuncAttributeMaxDynamicSharedMemorySize, G::SMEM_BYTES));
    GIE_CUDA_CHECK(cudaFuncSetAttribute(immaGemmKernel<G, true, SPLIT>, cudaFuncAttributeMaxDynamicSharedMemorySize, G::SMEM_BYTES));
    GIE_CUDA_CHECK(cudaFuncSetAttribute(immaGemmKernel<G, false, SPLIT, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, G::SMEM_BYTES));
    GIE_CUDA_CHECK(cudaFuncSetAttribute(immaGemmKernel<G, true, SPLIT, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, G::SMEM_BYTES));
}

template <class G, int SPLITS, bool NHWC = false>
void launchTile(const Int8GemmParams& a, const ImmaWeightsView& w, int groups, void* workspace, cudaStream_t stream) {
    constexpr bool kSplit = SPLITS > 1;
    const int K4 = (a.K + 3) & ~3;
    ImmaSplit sk;
    if (kSplit) {
        sk.partial = static_cast<int*>(workspace);
        sk.tilesPerSplit = ceilDiv(ceilDiv(a.kred, kImmaBK), SPLITS);
    }
    const dim3 grid(static_cast<unsigned>(ceilDiv(a.M, G::BM)), static_cast<unsigned>(ceilDiv(K4, G::BN)),
                    static_cast<unsigned>(kSplit ? SPLITS : groups));
    const bool oneByOne = a.R == 1 && a.S == 1 && a.sh == 1 && a.sw == 1 && a.pt == 0 && a.pl == 0 && a.P == a.H && a.Q == a.W;
    if (oneByOne) immaGemmKernel<G, true, kSplit, NHWC><<<grid, G::THREADS, G::SMEM_BYTES, stream>>>(a, w, sk);
    else immaGemmKernel<G, false, kSplit, NHWC><<<grid, G::THREADS, G::SMEM_BYTES, stream>>>(a, w, sk);
    checkLaunch("immaGemmKernel");
    if (kSplit) {
        const dim3 rgrid(static_cast<unsigned>(ceilDiv(a.M, 256)), static_cast<unsigned>(std::min(K4 / 4, 65535)));
        immaSplitReduce<<<rgrid, 256, 0, stream>>>(a, sk.partial, SPLITS);
        checkLaunch("immaSplitReduce");
    }
}

using Tile128 = ImmaGeometry<128, 128, 64, 32, 4, 2>;
using Tile256 = ImmaGeometry<256, 128, 64, 64, 3, 1>;
using Tile64 = ImmaGeometry<64, 64, 32, 32, 4, 4>;

const ImmaTactic kTactics[kImmaTactics] = {
    {"imma_128x128x64_s4_chw4", "imma_128x128x64_s4", "imma_128x128x64_s4_nhwc", Tile128::SMEM_BYTES, 1, prepareTile<Tile128, false>,
     launchTile<Tile128, 1>, launchTile<Tile128, 1, true>},
    {"imma_256x128x64_s3_chw4", "imma_256x128x64_s3", "imma_256x128x64_s3_nhwc", Tile256::SMEM_BYTES, 1, prepareTile<Tile256, false>,
     launchTile<Tile256, 1>, launchTile<Tile256, 1, true>},
    {"imma_64x64x64_s4_chw4", "imma_64x64x64_s4", "imma_64x64x64_s4_nhwc", Tile64::SMEM_BYTES, 1, prepareTile<Tile64, false>,
     launchTile<Tile64, 1>, launchTile<Tile64, 1, true>},
    {"imma_64x64x64_s4_split4_chw4", "imma_64x64x64_s4_split4", "imma_64x64x64_s4_split4_nhwc", Tile64::SMEM_BYTES, 4,
     prepareTile<Tile64, true>, launchTile<Tile64, 4>, launchTile<Tile64, 4, true>},
    {"imma_64x64x64_s4_split8_chw4", "imma_64x64x64_s4_split8", "imma_64x64x64_s4_split8_nhwc", Tile64::SMEM_BYTES, 8,
     prepareTile<Tile64, true>, launchTile<Tile64, 8>, launchTile<Tile64, 8, true>},
};

}  // namespace

const ImmaTactic* immaTactics() { return kTactics; }

bool immaTacticRuns(int i) noexcept {
    if (i < 0 || i >= kImmaTactics || !immaRuns()) return false;
    try {
        return kTactics[i].smemBytes <= static_cast<int>(deviceProps().sharedMemPerBlockOptin);
    } catch (...) {
        return false;
    }
}

}  // namespace int8gpu
}  // namespace cuda
}  // namespace gie
