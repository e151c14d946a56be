// The CUDA backend: device memory through the (replaceable) allocator, copies, streams, events, graph
// capture, device properties and build information. Registers itself with the backend registry.
#include <cuda_runtime.h>

#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "backend/backend.h"
#include "common.cuh"
#include "common/error.h"
#include "gie/gpu.h"

#ifndef GIE_CUDA_ARCHS
#define GIE_CUDA_ARCHS ""
#endif

namespace gie {
namespace cuda {
namespace wgmma {
bool available() noexcept;  // kernels/gemm_wgmma_f16.cu
}

void throwCudaError(cudaError_t e, const char* what, const char* file, int line) {
    (void)file;
    (void)line;
    cudaGetLastError();  // clear a non-sticky error so that later calls are not blamed for it
    ErrorCode code = e == cudaErrorMemoryAllocation ? ErrorCode::kOUT_OF_MEMORY
                     : (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) ? ErrorCode::kNO_DEVICE
                                                                                     : ErrorCode::kINTERNAL;
    fail(code, "CUDA error in ", what, ": ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")");
}

const cudaDeviceProp& deviceProps() {
    static std::mutex m;
    static cudaDeviceProp props[64];
    static bool read[64] = {};
    int dev = 0;
    GIE_CUDA_CHECK(cudaGetDevice(&dev));
    if (dev < 0 || dev >= 64) dev = 0;
    std::lock_guard<std::mutex> lock(m);
    if (!read[dev]) {
        GIE_CUDA_CHECK(cudaGetDeviceProperties(&props[dev], dev));
        read[dev] = true;
    }
    return props[dev];
}

namespace {

//! Whether a usable GPU is present (checked once), and why not.
struct Availability {
    bool ok = false;
    std::string why;
    int driver = 0, runtime = 0;
};

const Availability& availability() {
    static Availability a = [] {
        Availability r;
        cudaRuntimeGetVersion(&r.runtime);
        cudaError_t e = cudaDriverGetVersion(&r.driver);
        if (e != cudaSuccess || r.driver == 0) {
            r.why = "no NVIDIA driver found";
            return r;
        }
        int n = 0;
        e = cudaGetDeviceCount(&n);
        if (e == cudaErrorInsufficientDriver) {
            r.why = strcat("the NVIDIA driver supports CUDA ", r.driver / 1000, ".", (r.driver % 1000) / 10, " but gie was built with CUDA ",
                           r.runtime / 1000, ".", (r.runtime % 1000) / 10, "; update the driver");
            cudaGetLastError();
            return r;
        }
        if (e != cudaSuccess || n == 0) {
            r.why = e != cudaSuccess ? strcat("cudaGetDeviceCount failed: ", cudaGetErrorString(e)) : std::string("no CUDA device found");
            cudaGetLastError();
            return r;
        }
        r.ok = true;
        return r;
    }();
    return a;
}

size_t roundUp(size_t b) { return (b + 255) / 256 * 256; }

// Memory goes back to the allocator that gave it, even if another one has been installed since.
std::mutex gOwnersMutex;
std::unordered_map<void*, IGpuAllocator*> gOwners;

// The build-time allocation cache (Backend::buildAllocationCache), per thread: blocks cudaMalloc'ed while it is on
// are remembered with their size; freeing one (while on) synchronizes the device, as cudaFree would, and keeps the
// block for a later allocation of at least its size and at most twice it; the free list is capped (kCacheCap) and
// released when the outermost scope ends. A user allocator (setGpuAllocator) bypasses it.
struct BuildAllocCache {
    int depth = 0;
    std::multimap<size_t, void*> free;        // size -> block
    std::unordered_map<void*, size_t> sizes;  // blocks allocated while on (live or free)
    size_t freeBytes = 0;
};
thread_local BuildAllocCache tAllocCache;
constexpr size_t kCacheCap = size_t{1} << 30;

void releaseCached(BuildAllocCache& c) {
    for (auto& [size, p] : c.free) {
        c.sizes.erase(p);
        cudaFree(p);
    }
    c.free.clear();
    c.freeBytes = 0;
}

void* rawAllocate(size_t bytes, const char* what) {
    size_t n = roundUp(bytes ? bytes : 1);
    void* p = nullptr;
    BuildAllocCache& cache = tAllocCache;
    const bool cached = cache.depth > 0 && !getGpuAllocator();
    if (cached) {
        auto it = cache.free.lower_bound(n);
        if (it != cache.free.end() && it->first <= 2 * n) {
            p = it->second;
            cache.freeBytes -= it->first;
            cache.free.erase(it);
            return p;
        }
    }
    if (IGpuAllocator* a = getGpuAllocator()) {
        p = a->allocate(n, 256);
        GIE_CHECK(p, ErrorCode::kOUT_OF_MEMORY, "out of GPU memory: the user allocator returned no memory for ", bytes, " bytes (", what, ")");
        std::lock_guard<std::mutex> lock(gOwnersMutex);
        gOwners[p] = a;
        return p;
    }
    cudaError_t e = cudaMalloc(&p, n);
    if (e == cudaErrorMemoryAllocation && cached && !cache.free.empty()) {  // the free list first goes back
        cudaGetLastError();
        releaseCached(cache);
        e = cudaMalloc(&p, n);
    }
    if (e == cudaSuccess && cached) cache.sizes[p] = n;
    if (e != cudaSuccess) {
        cudaGetLastError();
        size_t freeB = 0, totalB = 0;
        cudaMemGetInfo(&freeB, &totalB);
        GIE_CHECK(e != cudaErrorMemoryAllocation, ErrorCode::kOUT_OF_MEMORY, "out of GPU memory allocating ", bytes, " bytes for ", what,
                  " (", freeB >> 20, " MiB free of ", totalB >> 20, " MiB)");
        throwCudaError(e, "cudaMalloc", __FILE__, __LINE__);
    }
    return p;
}

void rawFree(void* p) {
    if (!p) return;
    BuildAllocCache& cache = tAllocCache;
    if (cache.depth > 0) {
        auto it = cache.sizes.find(p);
        if (it != cache.sizes.end()) {
            cudaDeviceSynchronize();  // cudaFree's implicit synchronization: no kernel still reads the block
            cache.free.emplace(it->second, p);
            cache.freeBytes += it->second;
            while (cache.freeBytes > kCacheCap && !cache.free.empty()) {  // the largest blocks go back first
                auto last = std::prev(cache.free.end());
                cache.freeBytes -= last->first;
                cache.sizes.erase(last->second);
                cudaFree(last->second);
                cache.free.erase(last);
            }
            return;
        }
    }
    IGpuAllocator* owner = nullptr;
    {
        std::lock_guard<std::mutex> lock(gOwnersMutex);
        auto it = gOwners.find(p);
        if (it != gOwners.end()) {
            owner = it->second;
            gOwners.erase(it);
        }
    }
    if (owner)
        owner->deallocate(p);
    else
        cudaFree(p);
}

class CudaBackend final : public Backend {
public:
    void buildAllocationCache(bool on) override {
        BuildAllocCache& c = tAllocCache;
        if (on) {
            ++c.depth;
            return;
        }
        if (c.depth == 0 || --c.depth > 0) return;
        releaseCached(c);
        c.sizes.clear();  // live blocks from now on are freed with cudaFree
    }
    DeviceType device() const override { return DeviceType::kGPU; }
    const char* name() const override { return "cuda"; }
    bool available() const override { return availability().ok; }
    void* allocate(size_t bytes, const char* what) override { return rawAllocate(bytes, what); }
    void release(void* p) override { rawFree(p); }
    void copy(void* dst, const void* src, size_t bytes, CopyKind kind, void* stream) override {
        if (!bytes) return;
        cudaMemcpyKind k = kind == CopyKind::kHostToDevice   ? cudaMemcpyHostToDevice
                           : kind == CopyKind::kDeviceToHost ? cudaMemcpyDeviceToHost
                                                             : cudaMemcpyDeviceToDevice;
        if (stream)
            GIE_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, k, static_cast<cudaStream_t>(stream)));
        else
            GIE_CUDA_CHECK(cudaMemcpy(dst, src, bytes, k));
    }
    void synchronize(void* stream) override {
        if (stream)
            GIE_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)));
        else
            GIE_CUDA_CHECK(cudaDeviceSynchronize());
    }
    int computeCapability() const override {
        const cudaDeviceProp& p = deviceProps();
        return p.major * 10 + p.minor;
    }
    std::string deviceName() const override { return deviceProps().name; }
    void* createStream() override {
        cudaStream_t s = nullptr;
        GIE_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
        return s;
    }
    void destroyStream(void* s) override {
        if (s) cudaStreamDestroy(static_cast<cudaStream_t>(s));
    }
    void* createEvent(bool timing) override {
        cudaEvent_t e = nullptr;
        GIE_CUDA_CHECK(cudaEventCreateWithFlags(&e, timing ? cudaEventDefault : cudaEventDisableTiming));
        return e;
    }
    void destroyEvent(void* e) override {
        if (e) cudaEventDestroy(static_cast<cudaEvent_t>(e));
    }
    void recordEvent(void* e, void* s) override { GIE_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(e), static_cast<cudaStream_t>(s))); }
    void waitEvent(void* s, void* e) override {
        GIE_CUDA_CHECK(cudaStreamWaitEvent(static_cast<cudaStream_t>(s), static_cast<cudaEvent_t>(e), 0));
    }
    void synchronizeEvent(void* e) override { GIE_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(e))); }
    float elapsedMs(void* a, void* b) override {
        float ms = 0.f;
        GIE_CUDA_CHECK(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(a), static_cast<cudaEvent_t>(b)));
        return ms;
    }
    void beginCapture(void* s) override {
        GIE_CUDA_CHECK(cudaStreamBeginCapture(static_cast<cudaStream_t>(s), cudaStreamCaptureModeThreadLocal));
    }
    void* endCapture(void* s) override {
        cudaGraph_t g = nullptr;
        GIE_CUDA_CHECK(cudaStreamEndCapture(static_cast<cudaStream_t>(s), &g));
        cudaGraphExec_t exec = nullptr;
        cudaError_t e = cudaGraphInstantiateWithFlags(&exec, g, 0);
        cudaGraphDestroy(g);
        if (e != cudaSuccess) throwCudaError(e, "cudaGraphInstantiate", __FILE__, __LINE__);
        return exec;
    }
    void launchGraph(void* g, void* s) override {
        GIE_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(g), static_cast<cudaStream_t>(s)));
    }
    void destroyGraph(void* g) override {
        if (g) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(g));
    }
    void checkErrors(const char* when) override {
        cudaError_t e = cudaPeekAtLastError();
        if (e != cudaSuccess) throwCudaError(e, when, __FILE__, __LINE__);
    }
};

struct Registrar {
    Registrar() {
        static CudaBackend backend;
        registerBackend(&backend);
    }
} gRegistrar;

}  // namespace

DeviceArray::DeviceArray(size_t bytes, const char* what) : ptr_(rawAllocate(bytes, what)), bytes_(bytes) {}
DeviceArray::~DeviceArray() { rawFree(ptr_); }

std::shared_ptr<DeviceArray> upload(const void* host, size_t bytes, const char* what) {
    auto a = std::make_shared<DeviceArray>(bytes, what);
    if (bytes) GIE_CUDA_CHECK(cudaMemcpy(a->get(), host, bytes, cudaMemcpyHostToDevice));
    return a;
}

}  // namespace cuda

// ---- gie/gpu.h --------------------------------------------------------------------------------------
namespace {
template <typename R, typename F>
R guarded(R onError, F&& f) noexcept {
    try {
        if (!cuda::availability().ok) fail(ErrorCode::kNO_DEVICE, "no usable GPU: ", cuda::availability().why);
        return f();
    } catch (...) {
        recordCurrentException(nullptr);
        return onError;
    }
}
}  // namespace

const char* getBuildInfoJson() noexcept {
    static std::string json = [] {
        const auto& a = cuda::availability();
        std::string s = "{\"cuda\": true, \"cuda_version\": \"" + std::to_string(CUDART_VERSION / 1000) + "." +
                        std::to_string((CUDART_VERSION % 1000) / 10) + "\", \"cuda_archs\": [";
        std::string archs = GIE_CUDA_ARCHS;
        std::string cur;
        bool first = true;
        for (size_t i = 0; i <= archs.size(); ++i) {
            char c = i < archs.size() ? archs[i] : ',';
            if (c >= '0' && c <= '9') {
                cur += c;
            } else if (c == ',' || c == ';') {
                if (!cur.empty()) s += (first ? "" : ", ") + cur;
                if (!cur.empty()) first = false;
                cur.clear();
            } else if (c == '-') {  // "90-real": keep the number
                while (i + 1 < archs.size() && archs[i + 1] != ',' && archs[i + 1] != ';') ++i;
            }
        }
        s += "], \"gpu_available\": ";
        s += a.ok ? "true" : "false";
        auto esc = [](const std::string& v) {
            std::string o;
            for (char c : v) {
                if (c == '"' || c == '\\') o += '\\';
                if (static_cast<unsigned char>(c) >= 0x20) o += c;
            }
            return o;
        };
        if (a.ok) {
            cudaDeviceProp p{};
            int dev = 0;
            cudaGetDevice(&dev);
            cudaGetDeviceProperties(&p, dev);
            s += ", \"gpu_name\": \"" + esc(p.name) + "\", \"compute_capability\": \"" + std::to_string(p.major) + "." + std::to_string(p.minor) + "\"";
        } else {
            s += ", \"gpu_name\": null, \"compute_capability\": null";
        }
        if (a.driver)
            s += ", \"driver_version\": \"" + std::to_string(a.driver / 1000) + "." + std::to_string((a.driver % 1000) / 10) + "\"";
        else
            s += ", \"driver_version\": null";
        s += a.ok ? ", \"gpu_error\": null" : ", \"gpu_error\": \"" + esc(a.why) + "\"";
        // The Hopper tactics (cuda/kernels/gemm_wgmma_f16.cuh): compiled in (an sm_90a target), and usable here.
        s += std::string(", \"sm90a_code\": ") + (std::string(GIE_CUDA_ARCHS).find("90a") != std::string::npos ? "true" : "false");
        s += std::string(", \"wgmma_tactics\": ") + (a.ok && cuda::wgmma::available() ? "true" : "false") + "}";
        return s;
    }();
    return json.c_str();
}

void* gpuAllocate(size_t bytes) noexcept {
    return guarded<void*>(nullptr, [&] { return cuda::rawAllocate(bytes, "a gpuAllocate buffer"); });
}
void gpuFree(void* p) noexcept {
    try {
        cuda::rawFree(p);
    } catch (...) {
    }
}
bool gpuCopy(void* dst, const void* src, size_t bytes, GpuCopyKind kind, void* stream) noexcept {
    return guarded(false, [&] {
        CopyKind k = kind == GpuCopyKind::kHOST_TO_DEVICE   ? CopyKind::kHostToDevice
                     : kind == GpuCopyKind::kDEVICE_TO_HOST ? CopyKind::kDeviceToHost
                                                            : CopyKind::kDeviceToDevice;
        getBackend(DeviceType::kGPU).copy(dst, src, bytes, k, stream);
        return true;
    });
}
void* gpuStreamCreate() noexcept {
    return guarded<void*>(nullptr, [] { return getBackend(DeviceType::kGPU).createStream(); });
}
void gpuStreamDestroy(void* s) noexcept {
    if (s) cudaStreamDestroy(static_cast<cudaStream_t>(s));
}
bool gpuStreamSynchronize(void* s) noexcept {
    return guarded(false, [&] {
        getBackend(DeviceType::kGPU).synchronize(s);
        return true;
    });
}
void* gpuHostAllocate(size_t bytes) noexcept {
    return guarded<void*>(nullptr, [&] {
        void* p = nullptr;
        GIE_CUDA_CHECK(cudaMallocHost(&p, bytes ? bytes : 1));
        return p;
    });
}
void gpuHostFree(void* p) noexcept {
    if (p) cudaFreeHost(p);
}
bool gpuIsDevicePointer(const void* p) noexcept {
    if (!p || !cuda::availability().ok) return false;
    cudaPointerAttributes a{};
    if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
        cudaGetLastError();
        return false;
    }
    int dev = 0;
    cudaGetDevice(&dev);
    return (a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged) && a.device == dev;
}

}  // namespace gie
