// Internal error handling: gie code throws gie::Error inside the library; every public entry point
// catches it (apiGuard) and turns it into a return value + thread-local last error + log line.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include "gie/types.h"

namespace gie {

class Error : public std::runtime_error {
public:
    Error(ErrorCode code, const std::string& msg) : std::runtime_error(msg), code_(code) {}
    ErrorCode code() const noexcept { return code_; }

private:
    ErrorCode code_;
};

namespace detail {
inline void appendAll(std::ostringstream&) {}
template <typename T, typename... Rest>
void appendAll(std::ostringstream& os, const T& v, const Rest&... rest) {
    os << v;
    appendAll(os, rest...);
}
}  // namespace detail

//! Concatenates its arguments with operator<<.
template <typename... Args>
std::string strcat(const Args&... args) {
    std::ostringstream os;
    detail::appendAll(os, args...);
    return os.str();
}

template <typename... Args>
[[noreturn]] void fail(ErrorCode code, const Args&... args) {
    throw Error(code, strcat(args...));
}

#define GIE_CHECK(cond, code, ...)                     \
    do {                                               \
        if (!(cond)) ::gie::fail((code), __VA_ARGS__); \
    } while (0)

//! Records an error for the calling thread (what getLastError() returns).
void setLastError(ErrorCode code, const std::string& message) noexcept;

//! Logs and records the exception currently being handled. Call from a catch block.
void recordCurrentException(ILogger* logger) noexcept;

//! Runs fn(); on exception records it and returns `onError`.
template <typename R, typename F>
R apiGuard(ILogger* logger, R onError, F&& fn) noexcept {
    try {
        clearLastError();
        return fn();
    } catch (...) {
        recordCurrentException(logger);
        return onError;
    }
}

void logMessage(ILogger* logger, ILogger::Severity severity, const std::string& msg) noexcept;

}  // namespace gie
