// gie public API: basic types shared by every other header.
//
// Rules for the whole public API (cpp/include/gie/):
//  * No STL types cross the API; strings are NUL-terminated `const char*` whose lifetime is stated per
//    function (usually: valid until the owning object is destroyed or modified).
//  * No function throws. Failures return nullptr / false / a non-zero code, log through the ILogger
//    given to the builder or runtime, and record the error for the calling thread (getLastError()).
//  * Objects returned by create*() are owned by the caller and freed with `delete`.
#pragma once

#include <cstddef>
#include <cstdint>

#define GIE_VERSION_MAJOR 0
#define GIE_VERSION_MINOR 1
#define GIE_VERSION_PATCH 0

#if defined(_WIN32)
#define GIE_API __declspec(dllexport)
#else
#define GIE_API __attribute__((visibility("default")))
#endif

namespace gie {

//! Element types of tensors.
enum class DataType : int32_t { kFLOAT = 0, kHALF = 1, kINT8 = 2, kINT32 = 3, kBOOL = 4 };

//! Memory layouts of tensors. Only kLINEAR (row-major, dimension 0 outermost) is produced today;
//! the others are reserved so that plugins can already negotiate them.
enum class TensorFormat : int32_t { kLINEAR = 0, kNHWC = 1, kCHW4 = 2, kCHW32 = 3, kHWC8 = 4 };

//! Where an engine runs. kAUTO picks the GPU when one is usable, else the CPU.
enum class DeviceType : int32_t { kCPU = 0, kGPU = 1, kAUTO = 2 };

//! The closed set of failure kinds. Every failing call records one of these with a message.
enum class ErrorCode : int32_t {
    kSUCCESS = 0,
    kINVALID_ARGUMENT = 1,   //!< a caller passed a bad value (null, wrong shape/type, unknown name)
    kINVALID_MODEL = 2,      //!< the network/model is malformed (cycle, dangling tensor, bad params)
    kUNSUPPORTED = 3,        //!< valid but not supported (op, type/format combination, missing plugin)
    kINVALID_ENGINE = 4,     //!< an engine file is truncated, corrupt or tampered
    kVERSION_MISMATCH = 5,   //!< an engine file of another format/library version
    kDEVICE_MISMATCH = 6,    //!< an engine built for a device this machine lacks
    kOUT_OF_MEMORY = 7,
    kNO_DEVICE = 8,          //!< a GPU was requested and none is usable
    kINTERNAL = 9,
};

//! Returns a static name such as "INVALID_ENGINE".
GIE_API const char* errorCodeName(ErrorCode code) noexcept;

//! The last error recorded on the calling thread (kSUCCESS if none since clearLastError()).
//! `message` (nullable) receives a pointer valid until the next gie call on this thread.
GIE_API ErrorCode getLastError(const char** message) noexcept;
GIE_API void clearLastError() noexcept;
//! Records an error for the calling thread, exactly as gie's own failures do. Plugins call it to say why
//! a method failed (createPlugin/deserializePlugin returning nullptr, enqueue or configure returning
//! non-zero): gie puts `message` (copied; nullptr means "") into the error it reports for the layer.
GIE_API void setLastError(ErrorCode code, const char* message) noexcept;

//! Up to 8 dimensions. In a network input's declaration (INetworkDefinition::addInput) an entry of -1 marks a
//! dynamic dimension, whose range optimization profiles give (gie/builder.h, IOptimizationProfile).
struct Dims {
    static constexpr int32_t MAX_DIMS = 8;
    int32_t nbDims = 0;
    int64_t d[MAX_DIMS] = {0, 0, 0, 0, 0, 0, 0, 0};
};

inline Dims makeDims(int32_t n, const int64_t* values) noexcept {
    Dims r;
    r.nbDims = (n < 0 || n > Dims::MAX_DIMS) ? -1 : n;
    for (int32_t i = 0; i < r.nbDims; ++i) r.d[i] = values[i];
    return r;
}
inline Dims dims2(int64_t a, int64_t b) noexcept { Dims r; r.nbDims = 2; r.d[0] = a; r.d[1] = b; return r; }
inline Dims dims3(int64_t a, int64_t b, int64_t c) noexcept {
    Dims r; r.nbDims = 3; r.d[0] = a; r.d[1] = b; r.d[2] = c; return r;
}
inline Dims dims4(int64_t a, int64_t b, int64_t c, int64_t e) noexcept {
    Dims r; r.nbDims = 4; r.d[0] = a; r.d[1] = b; r.d[2] = c; r.d[3] = e; return r;
}

//! A view of weight values. gie copies them when they are handed to the network, so the caller may
//! free `values` as soon as the call that took them returns.
struct Weights {
    DataType type = DataType::kFLOAT;
    const void* values = nullptr;
    int64_t count = 0;
};

//! Which shape of an optimization profile: the smallest, the one tactics are timed at, the largest (memory is
//! planned for it).
enum class OptProfileSelector : int32_t { kMIN = 0, kOPT = 1, kMAX = 2 };
//! The most optimization profiles one engine may have.
constexpr int32_t kMAX_OPTIMIZATION_PROFILES = 64;

//! Size in bytes of one element.
inline int32_t dataTypeSize(DataType t) noexcept {
    switch (t) {
        case DataType::kFLOAT: return 4;
        case DataType::kHALF: return 2;
        case DataType::kINT8: return 1;
        case DataType::kINT32: return 4;
        case DataType::kBOOL: return 1;
    }
    return 0;
}

//! Receives log messages. Implementations must be thread-safe: builds and executions on several
//! threads may log concurrently.
class ILogger {
public:
    enum class Severity : int32_t { kINTERNAL_ERROR = 0, kERROR = 1, kWARNING = 2, kINFO = 3, kVERBOSE = 4 };
    virtual void log(Severity severity, const char* msg) noexcept = 0;
    virtual ~ILogger() = default;
};

//! Library version as MAJOR*10000 + MINOR*100 + PATCH.
GIE_API int32_t getVersion() noexcept;

}  // namespace gie
