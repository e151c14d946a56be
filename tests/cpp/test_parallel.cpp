// The CPU thread pool (common/parallel.h): every iteration runs exactly once, nested loops run serially,
// an exception from an iteration reaches the caller, several user threads may start loops at once, the
// thread count can be changed, and a loop whose workers never get scheduled still finishes (the caller
// claims every iteration), and each thread starts with its own range of iterations. Prints "N passed, M failed";
// exit code != 0 on failure.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/parallel.h"

namespace {

int gPassed = 0, gFailed = 0;
void check(bool ok, const std::string& what) {
  if (ok) {
    ++gPassed;
  } else {
    ++gFailed;
    std::printf("FAIL: %s\n", what.c_str());
  }
}

bool eachOnce(int64_t n, int threads) {
  std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
  for (auto& h : hits) h = 0;
  gie::parallelForThreads(n, threads, [&](int64_t i) { hits[static_cast<size_t>(i)].fetch_add(1); });
  for (auto& h : hits)
    if (h.load() != 1) return false;
  return true;
}

}  // namespace

int main() {
  for (int threads : {2, 3, 8}) {
    gie::setCpuThreads(threads);
    check(gie::cpuThreads() == threads, "setCpuThreads(" + std::to_string(threads) + ")");
    for (int64_t n : {1, 2, 3, 7, 64, 1000, 100003})
      for (int t : {0, 1, 2, threads})
        check(eachOnce(n, t), "each iteration once: n=" + std::to_string(n) + " threads=" + std::to_string(t) +
                                  " pool=" + std::to_string(threads));
    // many short loops back to back (workers between spinning and sleeping)
    bool ok = true;
    for (int rep = 0; rep < 3000 && ok; ++rep) ok = eachOnce(1 + rep % 5, 0);
    check(ok, "3000 short loops, pool " + std::to_string(threads));
  }
  gie::setCpuThreads(4);

  // nested loops run serially on the thread that runs the outer iteration
  std::atomic<int> nestedOnOtherThread{0}, inner{0};
  gie::parallelForThreads(8, 0, [&](int64_t) {
    const auto self = std::this_thread::get_id();
    if (!gie::inParallelLoop()) nestedOnOtherThread++;
    gie::parallelForThreads(16, 0, [&](int64_t) {
      if (std::this_thread::get_id() != self) nestedOnOtherThread++;
      inner++;
    });
  });
  check(nestedOnOtherThread == 0 && inner == 8 * 16, "nested loops run serially inside an iteration");
  check(!gie::inParallelLoop(), "inParallelLoop() false outside loops");

  // an exception thrown by an iteration (on any thread) reaches the caller; the pool stays usable
  for (int64_t bad : {0, 5, 99}) {
    bool caught = false;
    try {
      gie::parallelForThreads(100, 0, [&](int64_t i) {
        if (i == bad) throw std::runtime_error("iteration failed");
      });
    } catch (const std::runtime_error&) {
      caught = true;
    }
    check(caught, "exception from iteration " + std::to_string(bad) + " reaches the caller");
    check(eachOnce(1000, 0), "pool usable after an exception");
  }

  // loops started from several user threads at once (one gets the pool, the others run serially)
  std::atomic<int> bad{0};
  std::vector<std::thread> users;
  for (int u = 0; u < 6; ++u)
    users.emplace_back([&] {
      for (int rep = 0; rep < 300; ++rep)
        if (!eachOnce(1 + (rep * 7) % 200, 0)) bad++;
    });
  for (auto& t : users) t.join();
  check(bad == 0, "concurrent loops from 6 user threads");

  // The caller does not wait for workers that are not running: while iteration 0 (on whichever thread
  // claims it first) blocks until every other iteration is done, the others must still all complete.
  std::atomic<int> rest{0};
  const auto t0 = std::chrono::steady_clock::now();
  bool finished = true;
  gie::parallelForThreads(50, 0, [&](int64_t i) {
    if (i == 0) {
      while (rest.load() < 49) {
        if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(20)) {
          finished = false;
          return;
        }
        std::this_thread::yield();
      }
    } else {
      rest++;
    }
  });
  check(finished && rest == 49, "iterations complete while one thread is stuck in another iteration");

  // Each thread first runs its own consecutive range of chunks (parallel.h): with two threads and eight iterations,
  // each thread's first iteration waits until the other thread has started one, so both take part whatever the
  // scheduler does; then the caller's first is 0 and the worker's 4. (Claimed from one shared counter, the worker's
  // first would be 1.)
  gie::setCpuThreads(2);
  {
    std::mutex m;
    std::vector<std::pair<std::thread::id, int64_t>> firsts;  // (thread, its first iteration)
    bool timedOut = false;
    const auto caller = std::this_thread::get_id();
    const auto t0 = std::chrono::steady_clock::now();
    gie::parallelForThreads(8, 0, [&](int64_t i) {
      {
        std::lock_guard<std::mutex> lk(m);
        for (const auto& f : firsts)
          if (f.first == std::this_thread::get_id()) return;
        firsts.emplace_back(std::this_thread::get_id(), i);
      }
      for (;;) {
        {
          std::lock_guard<std::mutex> lk(m);
          if (firsts.size() >= 2) return;
        }
        if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(20)) {
          timedOut = true;
          return;
        }
        std::this_thread::yield();
      }
    });
    bool ok = !timedOut && firsts.size() == 2;
    for (const auto& f : firsts) ok = ok && f.second == (f.first == caller ? 0 : 4);
    check(ok, "two threads, 8 iterations: the caller starts with iteration 0, the worker with 4");
  }
  // Every iteration once on more threads than chunks, and on more threads than the pool has ranges (64).
  gie::setCpuThreads(70);
  for (int64_t n : {2, 5, 69, 70, 71, 1000, 4481})
    check(eachOnce(n, 0), "each iteration once: n=" + std::to_string(n) + " pool=70");

  gie::setCpuThreads(0);
  std::printf("%d passed, %d failed\n", gPassed, gFailed);
  return gFailed == 0 ? 0 : 1;
}
