// The CPU thread pool behind parallelFor (see parallel.h for why it is not OpenMP).
//
// One loop at a time owns the pool (busy_). Its chunks of iterations are claimed from state_ =
// (generation << 32) | next chunk with a compare-and-swap that also checks the generation, so a worker
// that wakes up late can neither claim a chunk of a loop that has finished nor one of the next loop under
// the old loop's function. The caller counts finished chunks (done_) and returns when all are done; it
// never waits for a worker that did not start one.
#include "common/parallel.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GIE_CPU_PAUSE() _mm_pause()
#else
#define GIE_CPU_PAUSE() std::this_thread::yield()
#endif

namespace gie {
namespace {

int envInt(const char* name, int fallback) {
    const char* v = std::getenv(name);
    if (!v || !*v) return fallback;
    char* end = nullptr;
    const long x = std::strtol(v, &end, 10);  // OMP_NUM_THREADS may be a list ("4,2"): its first value
    if (end == v || x < 0 || x > 4096) return fallback;
    return static_cast<int>(x);
}

int defaultThreads() {
    int n = envInt("GIE_NUM_THREADS", 0);
    if (n <= 0) n = envInt("OMP_NUM_THREADS", 0);
    if (n > 0) return n;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) n = CPU_COUNT(&set);
    if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
    return std::max(1, n);
}

std::atomic<int> gThreadOverride{0};
thread_local bool tInLoop = false;

class Pool {
public:
    Pool() : pid_(getpid()), spinUs_(envInt("GIE_CPU_SPIN_US", 50)) {}
    pid_t pid() const { return pid_; }

    // false when another loop holds the pool (the caller then runs its loop itself).
    bool run(int64_t n, int threads, void (*fn)(void*, int64_t), void* ctx) {
        if (busy_.exchange(true, std::memory_order_acquire)) return false;
        growTo(threads - 1);
        // Iterations are claimed in chunks of `grain` (about 8 chunks per thread): one contended atomic
        // per chunk, not per iteration, while a late or preempted thread still holds little work.
        const int64_t grain = std::max<int64_t>(1, n / (8 * int64_t(threads)));
        const int64_t chunks = (n + grain - 1) / grain;
        grain_.store(grain, std::memory_order_relaxed);
        total_.store(n, std::memory_order_relaxed);
        n_.store(chunks, std::memory_order_relaxed);
        fn_.store(fn, std::memory_order_relaxed);
        ctx_.store(ctx, std::memory_order_relaxed);
        maxWorkers_.store(threads - 1, std::memory_order_relaxed);
        done_.store(0, std::memory_order_relaxed);
        error_ = nullptr;
        const uint32_t gen = ++gen_;
        state_.store(static_cast<uint64_t>(gen) << 32);  // seq_cst: pairs with the sleepers_ check
        if (sleepers_.load() > 0) {
            std::lock_guard<std::mutex> lk(m_);
            cv_.notify_all();
        }
        work(gen);
        for (int spins = 0; done_.load(std::memory_order_acquire) < chunks; ++spins) {
            if (spins < 2000) GIE_CPU_PAUSE();
            else std::this_thread::yield();  // a started iteration's thread was preempted
        }
        // Close the loop before the next one may set up its fields: a worker that read this loop's state just
        // before its last chunk was claimed may still compare its chunk index with the *next* loop's count n_
        // (stored before the next generation is published) and then claim "chunk n" of this generation with the
        // next loop's function, running one of its iterations twice and counting it in the next loop's done_.
        // With the state moved past every chunk index, that claim's compare-and-swap fails.
        state_.store((static_cast<uint64_t>(gen) << 32) | 0xffffffffu);
        std::exception_ptr err = error_;
        busy_.store(false, std::memory_order_release);
        if (err) std::rethrow_exception(err);
        return true;
    }

private:
    // Claims and runs chunks of iterations of loop `gen` until none is left.
    void work(uint32_t gen) {
        for (;;) {
            uint64_t s = state_.load(std::memory_order_acquire);
            if (static_cast<uint32_t>(s >> 32) != gen) return;
            const int64_t c = static_cast<int64_t>(s & 0xffffffffu);
            if (c >= n_.load(std::memory_order_relaxed)) return;
            if (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel)) continue;
            auto fn = fn_.load(std::memory_order_relaxed);
            void* ctx = ctx_.load(std::memory_order_relaxed);
            const int64_t grain = grain_.load(std::memory_order_relaxed);
            const int64_t end = std::min(total_.load(std::memory_order_relaxed), (c + 1) * grain);
            tInLoop = true;
            try {
                for (int64_t i = c * grain; i < end; ++i) fn(ctx, i);
            } catch (...) {
                std::lock_guard<std::mutex> lk(errM_);
                if (!error_) error_ = std::current_exception();
            }
            tInLoop = false;
            done_.fetch_add(1, std::memory_order_release);
        }
    }

    void growTo(int workers) {
        while (static_cast<int>(threads_.size()) < workers) {
            const int id = static_cast<int>(threads_.size());
            threads_.emplace_back([this, id] { workerMain(id); });
            threads_.back().detach();  // the pool lives until the process exits
        }
    }

    void workerMain(int id) {
        uint32_t seen = static_cast<uint32_t>(state_.load() >> 32);
        for (;;) {
            uint32_t gen = static_cast<uint32_t>(state_.load(std::memory_order_acquire) >> 32);
            if (gen == seen) {
                // Spin a little (the next kernel's loop usually follows within microseconds), then sleep.
                const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(spinUs_);
                while (gen == seen && spinUs_ > 0) {
                    for (int k = 0; k < 64 && gen == seen; ++k) {
                        GIE_CPU_PAUSE();
                        gen = static_cast<uint32_t>(state_.load(std::memory_order_acquire) >> 32);
                    }
                    if (std::chrono::steady_clock::now() >= until) break;
                }
                if (gen == seen) {
                    std::unique_lock<std::mutex> lk(m_);
                    sleepers_.fetch_add(1);  // seq_cst: pairs with the state_ store in run()
                    while ((gen = static_cast<uint32_t>(state_.load() >> 32)) == seen) cv_.wait(lk);
                    sleepers_.fetch_sub(1);
                }
            }
            seen = gen;
            if (id < maxWorkers_.load(std::memory_order_relaxed)) work(gen);
        }
    }

    const pid_t pid_;
    const int spinUs_;
    std::atomic<bool> busy_{false};
    std::atomic<uint64_t> state_{0};
    uint32_t gen_ = 0;  // written only by the loop holding busy_
    std::atomic<int64_t> n_{0}, done_{0};  // chunks in the loop, chunks finished
    std::atomic<int64_t> grain_{1}, total_{0};  // iterations per chunk, iterations in the loop
    std::atomic<void (*)(void*, int64_t)> fn_{nullptr};
    std::atomic<void*> ctx_{nullptr};
    std::atomic<int> maxWorkers_{0}, sleepers_{0};
    std::exception_ptr error_;
    std::mutex errM_, m_;
    std::condition_variable cv_;
    std::vector<std::thread> threads_;
};

std::atomic<Pool*> gPool{nullptr};
std::mutex gPoolM;

Pool& pool() {
    Pool* p = gPool.load(std::memory_order_acquire);
    if (p && p->pid() == getpid()) return *p;
    std::lock_guard<std::mutex> lk(gPoolM);
    p = gPool.load();
    if (!p || p->pid() != getpid()) {  // first use, or a forked child (the parent's workers are not here)
        p = new Pool();  // never deleted: detached workers may still be parked in it at exit
        gPool.store(p, std::memory_order_release);
    }
    return *p;
}

}  // namespace

int cpuThreads() {
    static const int n = defaultThreads();
    const int o = gThreadOverride.load(std::memory_order_relaxed);
    return o > 0 ? o : n;
}

void setCpuThreads(int n) { gThreadOverride.store(n > 0 ? std::min(n, 4096) : 0); }

bool inParallelLoop() { return tInLoop; }

void parallelRun(int64_t n, int threads, void (*fn)(void*, int64_t), void* ctx) {
    if (n <= 0) return;
    const int maxT = cpuThreads();
    threads = threads <= 0 ? maxT : std::min(threads, maxT);
    if (threads > 1 && n > 1 && n < (int64_t(1) << 31) && !tInLoop && pool().run(n, threads, fn, ctx)) return;
    const bool outer = tInLoop;
    tInLoop = true;  // nested loops inside run serially
    try {
        for (int64_t i = 0; i < n; ++i) fn(ctx, i);
    } catch (...) {
        tInLoop = outer;
        throw;
    }
    tInLoop = outer;
}

}  // namespace gie
