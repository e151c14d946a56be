// Data-parallel loops over the library's CPU threads (OpenMP when available, serial otherwise).
#pragma once

#include <cstdint>

namespace gie {

//! Runs f(i) for i in [0, n). `work` estimates the cost of the whole loop in elementary operations;
//! small loops stay on the calling thread (thread wake-up costs more than it saves).
template <typename F>
void parallelFor(int64_t n, int64_t work, F&& f) {
#ifdef _OPENMP
    if (n > 1 && work >= 32768) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; ++i) f(i);
        return;
    }
#endif
    (void)work;
    for (int64_t i = 0; i < n; ++i) f(i);
}

}  // namespace gie
