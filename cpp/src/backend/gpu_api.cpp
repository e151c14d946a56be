// The parts of gie/gpu.h that exist in every build: the allocator slot, and (without CUDA) the build
// information and device helpers that report that no GPU backend was compiled in.
#include <atomic>

#include "common/error.h"
#include "gie/gpu.h"

namespace gie {
namespace {
std::atomic<IGpuAllocator*> gAllocator{nullptr};
}

void setGpuAllocator(IGpuAllocator* allocator) noexcept { gAllocator.store(allocator); }
IGpuAllocator* getGpuAllocator() noexcept { return gAllocator.load(); }

#ifndef GIE_WITH_CUDA
namespace {
template <typename R>
R noCuda(R r) {
    setLastError(ErrorCode::kNO_DEVICE, "this gie was built without CUDA kernels, so there is no GPU backend");
    return r;
}
}  // namespace

const char* getBuildInfoJson() noexcept {
    return "{\"cuda\": false, \"cuda_version\": null, \"cuda_archs\": [], \"gpu_available\": false, \"gpu_name\": null, "
           "\"compute_capability\": null, \"driver_version\": null, \"gpu_error\": \"built without CUDA kernels\", \"sm90a_code\": false, "
           "\"wgmma_tactics\": false}";
}
void* gpuAllocate(size_t) noexcept { return noCuda<void*>(nullptr); }
void gpuFree(void*) noexcept {}
bool gpuCopy(void*, const void*, size_t, GpuCopyKind, void*) noexcept { return noCuda(false); }
void* gpuStreamCreate() noexcept { return noCuda<void*>(nullptr); }
void gpuStreamDestroy(void*) noexcept {}
bool gpuStreamSynchronize(void*) noexcept { return noCuda(false); }
void* gpuHostAllocate(size_t) noexcept { return noCuda<void*>(nullptr); }
void gpuHostFree(void*) noexcept {}
bool gpuIsDevicePointer(const void*) noexcept { return false; }
#endif

}  // namespace gie
