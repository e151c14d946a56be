// The integer tensor-core tactics of the INT8 convolution and fully connected layer (int8_imma_gemm.cuh): their
// tiles, instantiated once here.
//   imma_128x128x64_s4   8 warps of 64 x 32, 4 stages (64 KiB), 2 blocks per SM: the general tile;
//   imma_256x128x64_s3   8 warps of 64 x 64, 3 stages (72 KiB), 1 block per SM: large grids (big batch);
//   imma_64x64x64_s4     4 warps of 32 x 32, 4 stages (32 KiB), 4 blocks per SM: small grids (batch 1, 7x7 planes).
#include "int8_imma_gemm.cuh"

namespace gie {
namespace cuda {
namespace int8gpu {
namespace {

template <class G>
void prepareTile() {
    GIE_CUDA_CHECK(cudaFuncSetAttribute(immaGemmKernel<G, false>, cudaFuncAttributeMaxDynamicSharedMemorySize, G::SMEM_BYTES));
    GIE_CUDA_CHECK(cudaFuncSetAttribute(immaGemmKernel<G, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, G::SMEM_BYTES));
}

template <class G>
void launchTile(const Int8GemmParams& a, const ImmaWeightsView& w, int groups, cudaStream_t stream) {
    const int K4 = (a.K + 3) & ~3;
    const dim3 grid(static_cast<unsigned>(ceilDiv(a.M, G::BM)), static_cast<unsigned>(ceilDiv(K4, G::BN)), static_cast<unsigned>(groups));
    const bool oneByOne = a.R == 1 && a.S == 1 && a.sh == 1 && a.sw == 1 && a.pt == 0 && a.pl == 0 && a.P == a.H && a.Q == a.W;
    if (oneByOne) immaGemmKernel<G, true><<<grid, G::THREADS, G::SMEM_BYTES, stream>>>(a, w);
    else immaGemmKernel<G, false><<<grid, G::THREADS, G::SMEM_BYTES, stream>>>(a, w);
    checkLaunch("immaGemmKernel");
}

using Tile128 = ImmaGeometry<128, 128, 64, 32, 4, 2>;
using Tile256 = ImmaGeometry<256, 128, 64, 64, 3, 1>;
using Tile64 = ImmaGeometry<64, 64, 32, 32, 4, 4>;

const ImmaTactic kTactics[kImmaTactics] = {
    {"imma_128x128x64_s4_chw4", "imma_128x128x64_s4", Tile128::SMEM_BYTES, prepareTile<Tile128>, launchTile<Tile128>},
    {"imma_256x128x64_s3_chw4", "imma_256x128x64_s3", Tile256::SMEM_BYTES, prepareTile<Tile256>, launchTile<Tile256>},
    {"imma_64x64x64_s4_chw4", "imma_64x64x64_s4", Tile64::SMEM_BYTES, prepareTile<Tile64>, launchTile<Tile64>},
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
