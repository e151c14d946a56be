#include <cstdlib>
#include <cstring>
#include <mutex>

#include "backend/backend.h"
#include "common/error.h"

namespace gie {
namespace {

class CpuBackend final : public Backend {
public:
    DeviceType device() const override { return DeviceType::kCPU; }
    const char* name() const override { return "cpu"; }
    bool available() const override { return true; }
    void* allocate(size_t bytes, const char* what) override {
        size_t rounded = (bytes + 255) / 256 * 256;
        void* p = std::aligned_alloc(256, rounded ? rounded : 256);
        GIE_CHECK(p, ErrorCode::kOUT_OF_MEMORY, "out of host memory allocating ", bytes, " bytes for ", what);
        return p;
    }
    void release(void* p) override { std::free(p); }
    void copy(void* dst, const void* src, size_t bytes, CopyKind, void*) override {
        if (bytes) std::memcpy(dst, src, bytes);
    }
    void synchronize(void*) override {}
};

Backend* gBackends[2] = {nullptr, nullptr};

}  // namespace

void registerBackend(Backend* b) { gBackends[static_cast<int>(b->device())] = b; }

Backend* findBackend(DeviceType device) {
    static CpuBackend cpu;
    if (device == DeviceType::kCPU) return &cpu;
    if (device == DeviceType::kGPU) return gBackends[1];
    Backend* gpu = gBackends[1];
    return gpu && gpu->available() ? gpu : &cpu;
}

Backend& getBackend(DeviceType device) {
    Backend* b = findBackend(device);
    GIE_CHECK(b, ErrorCode::kNO_DEVICE, "this gie was built without CUDA kernels, so there is no GPU backend; build with CUDA or use the CPU device");
    GIE_CHECK(b->available(), ErrorCode::kNO_DEVICE, "no usable GPU: ", b->name(), " backend reports no device (or the driver is too old)");
    return *b;
}

}  // namespace gie
