// The CPU thread pool behind parallelFor (see parallel.h for why it is not OpenMP).
//
// One loop at a time owns the pool (busy_). Its chunks of iterations are cut into one consecutive range per
// thread; a thread claims the chunks of its own range first, then those left in the others' ranges, each from a
// counter (generation << 32) | next chunk with a compare-and-swap that also checks the generation, so a worker
// that wakes up late can neither claim a chunk of a loop that has finished nor one of the next loop under the
// old loop's function. The caller counts finished chunks (done_) and returns when all are done; it never waits
// for a worker that did not start one.
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

// An atomic read and written with relaxed ordering through plain-looking assignments and reads (the pool's loop fields).
template <typename T>
class Relaxed {
public:
    constexpr Relaxed(T v) : v_(v) {}
    Relaxed& operator=(T v) {
        v_.store(v, std::memory_order_relaxed);
        return *this;
    }
    operator T() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<T> v_;
};

class Pool {
public:
    Pool() : pid_(getpid()), spinUs_(envInt("GIE_CPU_SPIN_US", 50)) {}
    pid_t pid() const { return pid_; }

    // false when another loop holds the pool (the caller then runs its loop itself).
    bool run(int64_t n, int threads, void (*fn)(void*, int64_t), void* ctx) {
        if (busy_.exchange(true, std::memory_order_acquire)) return false;
        growTo(threads - 1);
        // Iterations are claimed in chunks of `grain` (about 8 chunks per thread): a late or preempted thread
        // holds little work. Thread t of the loop (0 = the caller, worker id + 1) owns the t-th of min(threads,
        // kMaxRanges) consecutive ranges of chunks and claims from it first, on a counter of its own cache line (no
        // line moves between cores per chunk), then from the others' ranges, whose owner may be late.
        const int64_t grain = std::max<int64_t>(1, n / (8 * int64_t(threads)));
        const int64_t chunks = (n + grain - 1) / grain;
        const int ranges = static_cast<int>(std::min<int64_t>({threads, kMaxRanges, chunks}));
        const uint32_t gen = ++gen_;
        grain_ = grain;
        total_ = n;
        chunks_ = chunks;
        ranges_ = ranges;
        fn_ = fn;
        ctx_ = ctx;
        maxWorkers_ = threads - 1;
        done_.store(0, std::memory_order_relaxed);
        error_ = nullptr;
        for (int r = 0; r < ranges; ++r)
            next_[r].v.store((static_cast<uint64_t>(gen) << 32) | static_cast<uint64_t>(rangeBegin(r, chunks, ranges)),
                             std::memory_order_relaxed);
        state_.store(gen);  // seq_cst: publishes the fields above; pairs with the sleepers_ check
        if (sleepers_.load() > 0) {
            std::lock_guard<std::mutex> lk(m_);
            cv_.notify_all();
        }
        work(gen, 0);
        for (int spins = 0; done_.load(std::memory_order_acquire) < chunks; ++spins) {
            if (spins < 2000) GIE_CPU_PAUSE();
            else std::this_thread::yield();  // a started iteration's thread was preempted
        }
        // Close the loop before the next one may set up its fields: a worker that read a range counter of this loop
        // just before its last chunk was claimed may still compare it with the *next* loop's range ends and then
        // claim a chunk "of this generation" with the next loop's function, running one of its iterations twice and
        // counting it in the next loop's done_. With every counter moved past every chunk index, that claim's
        // compare-and-swap fails.
        for (int r = 0; r < ranges; ++r)
            next_[r].v.store((static_cast<uint64_t>(gen) << 32) | 0xffffffffu, std::memory_order_release);
        std::exception_ptr err = error_;
        busy_.store(false, std::memory_order_release);
        if (err) std::rethrow_exception(err);
        return true;
    }

private:
    static constexpr int64_t kMaxRanges = 64;  // threads past the 64th only take chunks from the others' ranges
    static int64_t rangeBegin(int64_t r, int64_t chunks, int64_t ranges) { return chunks * r / ranges; }

    // Claims the next chunk of range r of loop `gen`; -1 when the range has none left (or the loop is over).
    int64_t claim(uint32_t gen, int r) {
        std::atomic<uint64_t>& ctr = next_[r].v;
        uint64_t s = ctr.load(std::memory_order_acquire);
        for (;;) {
            if (static_cast<uint32_t>(s >> 32) != gen) return -1;
            // The loop's fields read here belong to a later loop only if this one has closed; then the swap fails.
            const int64_t c = static_cast<int64_t>(s & 0xffffffffu);
            if (c >= rangeBegin(r + 1, chunks_, ranges_)) return -1;
            if (ctr.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) return c;
        }
    }

    // Runs chunks of loop `gen` as thread `slot` until none is left: its own range, then the others' in turn.
    // Finished chunks are counted once, at the end (a count per chunk moved done_'s line between the cores).
    void work(uint32_t gen, int slot) {
        if (static_cast<uint32_t>(state_.load(std::memory_order_acquire)) != gen) return;
        const int ranges = ranges_;
        if (ranges <= 0) return;
        int64_t finished = 0;
        const int first = slot < ranges ? slot : 0;
        for (int k = 0; k < ranges; ++k) {
            const int r = (first + k) % ranges;
            for (int64_t c; (c = claim(gen, r)) >= 0;) {
                const int64_t grain = grain_, end = std::min<int64_t>(total_, (c + 1) * grain);
                void (*fn)(void*, int64_t) = fn_;
                void* ctx = ctx_;
                tInLoop = true;
                try {
                    for (int64_t i = c * grain; i < end; ++i) fn(ctx, i);
                } catch (...) {
                    std::lock_guard<std::mutex> lk(errM_);
                    if (!error_) error_ = std::current_exception();
                }
                tInLoop = false;
                ++finished;
            }
        }
        if (finished) done_.fetch_add(finished, std::memory_order_release);
    }

    void growTo(int workers) {
        while (static_cast<int>(threads_.size()) < workers) {
            const int id = static_cast<int>(threads_.size());
            threads_.emplace_back([this, id] { workerMain(id); });
            threads_.back().detach();  // the pool lives until the process exits
        }
    }

    void workerMain(int id) {
        uint32_t seen = static_cast<uint32_t>(state_.load());
        for (;;) {
            uint32_t gen = static_cast<uint32_t>(state_.load(std::memory_order_acquire));
            if (gen == seen) {
                // Spin a little (the next kernel's loop usually follows within microseconds), then sleep.
                const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(spinUs_);
                while (gen == seen && spinUs_ > 0) {
                    for (int k = 0; k < 64 && gen == seen; ++k) {
                        GIE_CPU_PAUSE();
                        gen = static_cast<uint32_t>(state_.load(std::memory_order_acquire));
                    }
                    if (std::chrono::steady_clock::now() >= until) break;
                }
                if (gen == seen) {
                    std::unique_lock<std::mutex> lk(m_);
                    sleepers_.fetch_add(1);  // seq_cst: pairs with the state_ store in run()
                    while ((gen = static_cast<uint32_t>(state_.load())) == seen) cv_.wait(lk);
                    sleepers_.fetch_sub(1);
                }
            }
            seen = gen;
            if (id < maxWorkers_) work(gen, id + 1);
        }
    }

    struct alignas(64) Counter {
        std::atomic<uint64_t> v{0};  // (generation << 32) | the range's next chunk
    };

    const pid_t pid_;
    const int spinUs_;
    std::atomic<bool> busy_{false};
    // The generation of the loop in progress (or last run). The loop fields below are written by the caller holding
    // busy_ before it publishes the generation (seq_cst store) and read by workers after loading it; relaxed
    // atomics, because a worker that woke late may read them while a later loop writes them (it acts on them only
    // through a claim, which the range counter's generation then refuses).
    alignas(64) std::atomic<uint64_t> state_{0};
    uint32_t gen_ = 0;  // written only by the loop holding busy_
    alignas(64) std::atomic<int64_t> done_{0};  // chunks finished; polled by the caller
    alignas(64) Relaxed<int64_t> grain_{1}, total_{0}, chunks_{0};  // iterations per chunk, in the loop, chunks
    Relaxed<int> ranges_{0}, maxWorkers_{0};
    Relaxed<void (*)(void*, int64_t)> fn_{nullptr};
    Relaxed<void*> ctx_{nullptr};
    std::atomic<int> sleepers_{0};
    Counter next_[kMaxRanges];
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
