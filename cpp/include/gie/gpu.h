// gie public API: GPU memory allocation and what this build / this machine offers.
#pragma once

#include <cstddef>

#include "gie/types.h"

namespace gie {

//! Device memory for everything gie allocates on the GPU: engine weights, activation arenas, workspaces
//! and the staging buffers of the Python bindings. Replace it (e.g. with a framework's caching allocator)
//! with setGpuAllocator before creating engines; memory is returned to the allocator that gave it.
//! Thread-safe implementations only: contexts on several threads allocate concurrently.
class IGpuAllocator {
public:
    virtual ~IGpuAllocator() = default;
    //! Returns device memory of at least `size` bytes aligned to `alignment` (a power of two <= 256),
    //! or nullptr when out of memory (gie then fails with kOUT_OF_MEMORY naming what it was for).
    virtual void* allocate(size_t size, size_t alignment) noexcept = 0;
    virtual void deallocate(void* memory) noexcept = 0;
};

//! nullptr restores the default (cudaMalloc / cudaFree). The allocator must outlive every allocation it made.
GIE_API void setGpuAllocator(IGpuAllocator* allocator) noexcept;
GIE_API IGpuAllocator* getGpuAllocator() noexcept;

//! What this build and this machine offer, as a JSON object:
//!   {"cuda": bool (CUDA kernels compiled in), "cuda_version": "13.0" (toolkit built with) or null,
//!    "cuda_archs": [80, 90], "gpu_available": bool (a usable GPU now), "gpu_name": str or null,
//!    "compute_capability": "9.0" or null, "driver_version": "13.0" or null, "gpu_error": why not available or null}
//! The string stays valid for the life of the process.
GIE_API const char* getBuildInfoJson() noexcept;

}  // namespace gie

namespace gie {

//! Small device-memory helpers (through the allocator above), used by the Python bindings and handy in
//! native apps. On failure they return nullptr/false and record the error (getLastError); without a GPU
//! (or a build without CUDA) they fail with kNO_DEVICE.
enum class GpuCopyKind : int32_t { kHOST_TO_DEVICE = 0, kDEVICE_TO_HOST = 1, kDEVICE_TO_DEVICE = 2 };
GIE_API void* gpuAllocate(size_t bytes) noexcept;
GIE_API void gpuFree(void* memory) noexcept;
//! Asynchronous on `stream` (a cudaStream_t; nullptr = the legacy default stream). Host memory that is not
//! page-locked makes the copy synchronous with respect to the host, as in CUDA.
GIE_API bool gpuCopy(void* dst, const void* src, size_t bytes, GpuCopyKind kind, void* stream) noexcept;
GIE_API void* gpuStreamCreate() noexcept;
GIE_API void gpuStreamDestroy(void* stream) noexcept;
GIE_API bool gpuStreamSynchronize(void* stream) noexcept;
//! Page-locked host memory (for fast, truly asynchronous copies).
GIE_API void* gpuHostAllocate(size_t bytes) noexcept;
GIE_API void gpuHostFree(void* memory) noexcept;
//! Whether `pointer` is device (or managed) memory of the current device.
GIE_API bool gpuIsDevicePointer(const void* pointer) noexcept;

}  // namespace gie
