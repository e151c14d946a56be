#include "common/error.h"

#include <new>

namespace gie {
namespace {
struct LastError {
    ErrorCode code = ErrorCode::kSUCCESS;
    std::string message;
};
thread_local LastError tLastError;
}  // namespace

const char* errorCodeName(ErrorCode code) noexcept {
    switch (code) {
        case ErrorCode::kSUCCESS: return "SUCCESS";
        case ErrorCode::kINVALID_ARGUMENT: return "INVALID_ARGUMENT";
        case ErrorCode::kINVALID_MODEL: return "INVALID_MODEL";
        case ErrorCode::kUNSUPPORTED: return "UNSUPPORTED";
        case ErrorCode::kINVALID_ENGINE: return "INVALID_ENGINE";
        case ErrorCode::kVERSION_MISMATCH: return "VERSION_MISMATCH";
        case ErrorCode::kDEVICE_MISMATCH: return "DEVICE_MISMATCH";
        case ErrorCode::kOUT_OF_MEMORY: return "OUT_OF_MEMORY";
        case ErrorCode::kNO_DEVICE: return "NO_DEVICE";
        case ErrorCode::kINTERNAL: return "INTERNAL";
    }
    return "UNKNOWN";
}

ErrorCode getLastError(const char** message) noexcept {
    if (message) *message = tLastError.message.c_str();
    return tLastError.code;
}

void clearLastError() noexcept {
    tLastError.code = ErrorCode::kSUCCESS;
    tLastError.message.clear();
}

void setLastError(ErrorCode code, const std::string& message) noexcept {
    try {
        tLastError.code = code;
        tLastError.message = message;
    } catch (...) {
        tLastError.code = code;
    }
}

void setLastError(ErrorCode code, const char* message) noexcept {
    try {
        tLastError.code = code;
        tLastError.message = message ? message : "";
    } catch (...) {
        tLastError.code = code;
    }
}

void logMessage(ILogger* logger, ILogger::Severity severity, const std::string& msg) noexcept {
    if (logger) logger->log(severity, msg.c_str());
}

void recordCurrentException(ILogger* logger) noexcept {
    ErrorCode code = ErrorCode::kINTERNAL;
    std::string msg;
    try {
        throw;
    } catch (const Error& e) {
        code = e.code();
        msg = e.what();
    } catch (const std::bad_alloc&) {
        code = ErrorCode::kOUT_OF_MEMORY;
        msg = "out of memory";
    } catch (const std::exception& e) {
        msg = std::string("internal error: ") + e.what();
    } catch (...) {
        msg = "internal error: unknown exception";
    }
    setLastError(code, msg);
    logMessage(logger, ILogger::Severity::kERROR, msg);
}

int32_t getVersion() noexcept { return GIE_VERSION_MAJOR * 10000 + GIE_VERSION_MINOR * 100 + GIE_VERSION_PATCH; }

}  // namespace gie
