// The builder's tactic timing (builder/tactic_timing.h medianMs) on a fake device whose clock advances by a set
// time per run: the number of runs and the value returned, with and without the cutoff that stops timing a
// tactic whose first timed run is already slower than kTimingCutoffFactor times the fastest so far.
#include <cstring>
#include <vector>

#include "builder/tactic_timing.h"
#include "test_check.h"

using testcheck::check;

namespace {

//! A device with timing events and a virtual clock: each run() advances it by `perRunMs`.
class FakeTimedBackend final : public gie::Backend {
public:
    double clockMs = 0, perRunMs = 0;
    int runs = 0;
    std::vector<double> stamps;
    void run() {
        clockMs += perRunMs;
        ++runs;
    }
    gie::DeviceType device() const override { return gie::DeviceType::kGPU; }
    const char* name() const override { return "fake"; }
    bool available() const override { return true; }
    void* allocate(size_t bytes, const char*) override { return ::operator new(bytes); }
    void release(void* p) override { ::operator delete(p); }
    void copy(void* dst, const void* src, size_t bytes, gie::CopyKind, void*) override { std::memcpy(dst, src, bytes); }
    void synchronize(void*) override {}
    void* createEvent(bool) override {
        stamps.push_back(0);
        return reinterpret_cast<void*>(stamps.size());  // 1-based index: never null
    }
    void recordEvent(void* e, void*) override { stamps[reinterpret_cast<size_t>(e) - 1] = clockMs; }
    float elapsedMs(void* a, void* b) override {
        return static_cast<float>(stamps[reinterpret_cast<size_t>(b) - 1] - stamps[reinterpret_cast<size_t>(a) - 1]);
    }
};

double timed(FakeTimedBackend& b, double perRunMs, double cutoffMs) {
    b.perRunMs = perRunMs;
    b.runs = 0;
    return gie::medianMs(b, nullptr, [&] { b.run(); }, 7, 3, cutoffMs);
}

}  // namespace

int main() {
    if (gie::timingSamplesOverride()) {  // GIE_TIMING_SAMPLES changes the counts this program checks
        std::printf("0 passed, 0 failed (skipped: GIE_TIMING_SAMPLES is set)\n");
        return 0;
    }
    FakeTimedBackend b;
    // a fast tactic (< 0.25 ms a run): 2 warm-ups, 1 probe, 7 samples of 3 runs each
    double ms = timed(b, 0.1, 1e30);
    check(b.runs == 2 + 1 + 7 * 3, "fast tactic, no cutoff: 24 runs (got " + std::to_string(b.runs) + ")");
    check(ms > 0.099 && ms < 0.101, "fast tactic: its median per run, 0.1 ms (got " + std::to_string(ms) + ")");
    // the same with a cutoff it stays under: unchanged
    ms = timed(b, 0.1, 0.4);
    check(b.runs == 24 && ms > 0.099 && ms < 0.101, "under the cutoff: every sample is taken");
    // over the cutoff: the probe ends it, and its time is the tactic's time
    ms = timed(b, 0.1, 0.05);
    check(b.runs == 3, "over the cutoff: 2 warm-ups and the probe only (got " + std::to_string(b.runs) + ")");
    check(ms > 0.099 && ms < 0.101, "over the cutoff: the probe's time is returned (got " + std::to_string(ms) + ")");
    // a slow tactic (> 1 ms a run): 1 rep per sample and at most 3 samples
    ms = timed(b, 2.0, 1e30);
    check(b.runs == 2 + 1 + 3, "slow tactic: 6 runs (got " + std::to_string(b.runs) + ")");
    ms = timed(b, 2.0, 1.0);
    check(b.runs == 3 && ms > 1.99 && ms < 2.01, "slow tactic over the cutoff: 3 runs, 2 ms");
    check(gie::kTimingCutoffFactor >= 2.0, "the cutoff factor leaves room for timing noise");
    return testcheck::finish();
}
