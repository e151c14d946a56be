// Programmatic dependent launch (Hopper) for the kernels that opt in (the FP16 convolution and wgmma GEMM kernels).
#pragma once

#include <cuda_runtime.h>

#include <cstdlib>
#include <utility>

#include "common.cuh"

namespace gie {
namespace cuda {

// ---- programmatic dependent launch (Hopper) ------------------------------------------------------------------
// EXPERIMENTAL, OFF unless GIE_PDL=1 (docs/gpu.md): kernels launched by launchPdl may start while the kernel before
// them on the stream finishes (its last wave): they call pdlWaitThenRelease() first, which blocks until every
// earlier kernel of the stream has completed and its memory is visible (griddepcontrol.wait), then lets the next
// launchPdl kernel start its own blocks. Ordering is therefore that of plain launches; what overlaps is the launch,
// block scheduling and set-up of a kernel with the tail of the one before it.

//! Whether launchPdl asks for programmatic serialization: GIE_PDL=1 and a compute capability 9.0+ device.
inline bool pdlEnabled() {
    static const bool on = [] {
        const char* e = std::getenv("GIE_PDL");
        return e && e[0] == '1' && e[1] == 0 && deviceProps().major >= 9;
    }();
    return on;
}

//! Launches kernel<<<grid, block, smem, stream>>>(args...), with programmatic stream serialization where
//! pdlEnabled(). The kernel must call pdlWaitThenRelease() before it touches global memory.
template <typename... P, typename... A>
inline void launchPdl(const char* name, void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, A&&... args) {
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = stream;
    cfg.attrs = attr;
    cfg.numAttrs = pdlEnabled() ? 1 : 0;
    const cudaError_t e = cudaLaunchKernelEx(&cfg, kernel, std::forward<A>(args)...);
    if (e != cudaSuccess) throwCudaError(e, name, __FILE__, __LINE__);
    checkLaunch(name);
}

//! The first statement of a launchPdl kernel (no-op when launched without the attribute, and before sm_90).
__device__ __forceinline__ void pdlWaitThenRelease() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

}  // namespace cuda
}  // namespace gie
