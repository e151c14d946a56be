// Data-parallel loops over the library's CPU threads (a small thread pool of its own; see parallel.cpp).
//
// Why not OpenMP: at the end of an OpenMP parallel region the calling thread waits at a barrier for every
// thread of the team, including one that the OS has not scheduled yet. On a machine busy with other
// processes that wait is a whole scheduler time slice (milliseconds) per kernel, and a network runs
// hundreds of parallel loops. Here the iterations are claimed in small chunks (about 8 per thread), each thread
// from its own range first and then from the others', the calling thread claims too, and it waits only for chunks
// another thread has actually started: a worker that has not woken up yet simply finds nothing left to do (the
// same idea as onnxruntime's pool).
//
// Thread count: cpuThreads() = GIE_NUM_THREADS when set, else OMP_NUM_THREADS (its first value; kept from
// the OpenMP days), else the number of CPUs this process may run on. Idle workers spin for GIE_CPU_SPIN_US microseconds
// (default 50) after a loop, waiting for the next one, then sleep; 0 never spins (best on a busy machine).
// Loops may be started from several user threads at once: one of them gets the pool, the others run their
// iterations on their own thread. Nested loops (a parallelFor inside an iteration) run serially.
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

namespace gie {

//! Threads a parallel loop may use, the calling thread included (>= 1).
int cpuThreads();
//! Test/benchmark hook: changes cpuThreads() for loops started afterwards (n <= 0 restores the default).
void setCpuThreads(int n);
//! True on a thread that is running an iteration of a parallel loop (nested loops run serially).
bool inParallelLoop();

//! Runs fn(ctx, i) for i in [0, n) on up to `threads` threads (0 = cpuThreads()), the caller included;
//! returns when every iteration has finished. Chunks of consecutive iterations are claimed dynamically: the
//! chunks are cut into one consecutive range per thread (thread 0 = the caller), and each thread runs its own
//! range first, in increasing order, then takes what is left of the others' (a late or descheduled thread's share
//! is not waited for). So with n == T each thread normally runs the iteration of its own index, and two loops that
//! split the same data the same way run each part on the same core.
void parallelRun(int64_t n, int threads, void (*fn)(void*, int64_t), void* ctx);

//! Runs f(i) for i in [0, n) on up to `threads` threads (0 = cpuThreads()) with no cost threshold.
template <typename F>
void parallelForThreads(int64_t n, int threads, F&& f) {
    if (n <= 0) return;
    if (n == 1 || threads == 1 || inParallelLoop() || cpuThreads() == 1) {
        for (int64_t i = 0; i < n; ++i) f(i);
        return;
    }
    using Fn = std::remove_reference_t<F>;
    parallelRun(n, threads, [](void* c, int64_t i) { (*static_cast<Fn*>(c))(i); },
                const_cast<void*>(static_cast<const void*>(&f)));
}

//! Runs f(i) for i in [0, n). `work` estimates the cost of the whole loop in elementary operations;
//! small loops stay on the calling thread (waking a thread costs more than it saves).
template <typename F>
void parallelFor(int64_t n, int64_t work, F&& f) {
    if (n > 1 && work >= 32768) {
        parallelForThreads(n, 0, std::forward<F>(f));
        return;
    }
    for (int64_t i = 0; i < n; ++i) f(i);
}

}  // namespace gie
