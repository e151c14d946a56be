// The small interface that keeps ir/, passes/ and engine/ free of device code: memory, copies,
// streams. The CPU backend is always present; the CUDA backend registers itself when compiled in.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "gie/types.h"

namespace gie {

enum class CopyKind { kHostToDevice, kDeviceToHost, kDeviceToDevice };

class Backend {
public:
    virtual ~Backend() = default;
    virtual DeviceType device() const = 0;
    virtual const char* name() const = 0;
    //! Whether the device is usable now (a GPU present, driver new enough).
    virtual bool available() const = 0;
    //! Throws kOUT_OF_MEMORY naming `what` on failure. Returns a 256-byte aligned pointer.
    virtual void* allocate(size_t bytes, const char* what) = 0;
    virtual void release(void* p) = 0;
    virtual void copy(void* dst, const void* src, size_t bytes, CopyKind kind, void* stream) = 0;
    virtual void synchronize(void* stream) = 0;
    //! Device compute capability (major*10+minor) for GPUs, 0 for the CPU.
    virtual int computeCapability() const { return 0; }
    //! The device's name (timing-cache keys, reports).
    virtual std::string deviceName() const { return "cpu"; }

    // Streams, events and graphs: GPU only (the CPU backend runs everything synchronously and returns nullptr).
    virtual void* createStream() { return nullptr; }
    virtual void destroyStream(void*) {}
    //! `timing` events can measure elapsed time; others are cheaper (synchronization only).
    virtual void* createEvent(bool timing) { (void)timing; return nullptr; }
    virtual void destroyEvent(void*) {}
    virtual void recordEvent(void* event, void* stream) { (void)event; (void)stream; }
    virtual void waitEvent(void* stream, void* event) { (void)stream; (void)event; }
    virtual void synchronizeEvent(void* event) { (void)event; }
    virtual float elapsedMs(void* start, void* end) { (void)start; (void)end; return 0.f; }
    //! Stream capture into a graph: begin, then end returns an executable graph (nullptr if unsupported).
    virtual void beginCapture(void* stream) { (void)stream; }
    virtual void* endCapture(void* stream) { (void)stream; return nullptr; }
    virtual void launchGraph(void* graph, void* stream) { (void)graph; (void)stream; }
    virtual void destroyGraph(void* graph) { (void)graph; }
    //! Throws if a kernel launched earlier on this device failed (sticky errors).
    virtual void checkErrors(const char* when) { (void)when; }
    //! Build-time allocation cache of the calling thread (GPU: cuda_backend.cu), nested on / off calls: while on,
    //! memory this thread frees goes to a free list that its later allocations of a similar size reuse, instead of
    //! cudaFree / cudaMalloc for each tactic timed (every timing initializes and terminates its kernel: weights,
    //! workspace); off (the outermost) returns the free list to the device. No effect on the CPU backend.
    virtual void buildAllocationCache(bool on) { (void)on; }
};

//! Scoped Backend::buildAllocationCache(true) / (false).
class BuildAllocationCacheScope {
public:
    BuildAllocationCacheScope(Backend& b, bool enabled) : b_(enabled ? &b : nullptr) {
        if (b_) b_->buildAllocationCache(true);
    }
    ~BuildAllocationCacheScope() {
        if (b_) b_->buildAllocationCache(false);
    }
    BuildAllocationCacheScope(const BuildAllocationCacheScope&) = delete;
    BuildAllocationCacheScope& operator=(const BuildAllocationCacheScope&) = delete;

private:
    Backend* b_;
};

//! The backend for a device (kAUTO resolves to the GPU when available). Throws kNO_DEVICE if the
//! device is not compiled in or not usable.
Backend& getBackend(DeviceType device);
//! nullptr if not compiled in.
Backend* findBackend(DeviceType device);
//! Called by the CUDA backend's static initializer.
void registerBackend(Backend* backend);

//! Owns one allocation of a backend.
class DeviceBuffer {
public:
    DeviceBuffer() = default;
    DeviceBuffer(Backend& b, size_t bytes, const char* what) : backend_(&b), size_(bytes) {
        if (bytes) ptr_ = b.allocate(bytes, what);
    }
    ~DeviceBuffer() { reset(); }
    DeviceBuffer(DeviceBuffer&& o) noexcept : backend_(o.backend_), ptr_(o.ptr_), size_(o.size_) { o.ptr_ = nullptr; }
    DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
        if (this != &o) {
            reset();
            backend_ = o.backend_;
            ptr_ = o.ptr_;
            size_ = o.size_;
            o.ptr_ = nullptr;
        }
        return *this;
    }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    void reset() {
        if (ptr_) backend_->release(ptr_);
        ptr_ = nullptr;
    }
    void* get() const { return ptr_; }
    size_t size() const { return size_; }

private:
    Backend* backend_ = nullptr;
    void* ptr_ = nullptr;
    size_t size_ = 0;
};

}  // namespace gie
