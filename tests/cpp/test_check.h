// The pass/fail bookkeeping every C++ test program shares: check() counts and prints failures (the first 40),
// finish() prints the "N passed, M failed" line the test runner reads and returns the exit code, and a logger that
// drops gie's messages (tests look at recorded errors instead). Header-only; include it once per program.
#pragma once

#include <cstdio>
#include <string>

#include "gie/types.h"

namespace testcheck {

inline int gPass = 0, gFail = 0;

inline void check(bool ok, const std::string& what) {
    if (ok) {
        ++gPass;
    } else {
        ++gFail;
        if (gFail <= 40) std::printf("FAILED: %s\n", what.c_str());
    }
}

//! Prints "N passed, M failed" (then `note`, e.g. " (CPU only)"); the program's exit code.
inline int finish(const char* note = "") {
    std::printf("%d passed, %d failed%s\n", gPass, gFail, note);
    return gFail == 0 ? 0 : 1;
}

class QuietLogger final : public gie::ILogger {
public:
    void log(Severity, const char*) noexcept override {}
};

}  // namespace testcheck
