// Measuring kernels for the builder: random device buffers, median times, one tactic of a configured kernel.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "common/error.h"
#include "common/format.h"
#include "common/half.h"
#include "gie/plugin.h"

namespace gie {

//! The bytes the timing inputs are filled with: kTimingPoolBytes of values drawn once per type (uniform in [-1, 1) for
//! FLOAT and HALF, zeros for the other types), tiled over each buffer. Drawing every element afresh (mt19937) cost
//! about 1 s per 100 MB on the host, once per candidate's input: most of a batch-64 ResNet-50 negotiation. A kernel's
//! time does not depend on which random values it reads.
constexpr size_t kTimingPoolBytes = size_t(1) << 20;
inline const std::vector<uint8_t>& timingPool(DataType type) {
    auto draw = [](DataType t) {
        std::vector<uint8_t> pool(kTimingPoolBytes, 0);
        std::mt19937 rng(7);
        std::uniform_real_distribution<float> dist(-1.f, 1.f);
        if (t == DataType::kFLOAT)
            for (size_t i = 0; i + 4 <= pool.size(); i += 4) {
                const float v = dist(rng);
                std::memcpy(&pool[i], &v, 4);
            }
        else if (t == DataType::kHALF)
            for (size_t i = 0; i + 2 <= pool.size(); i += 2) {
                const uint16_t v = floatToHalf(dist(rng));
                std::memcpy(&pool[i], &v, 2);
            }
        return pool;
    };
    static const std::vector<uint8_t> f = draw(DataType::kFLOAT), h = draw(DataType::kHALF), zeros = draw(DataType::kINT8);
    return type == DataType::kFLOAT ? f : type == DataType::kHALF ? h : zeros;
}

//! Device buffers with random contents for one kernel's inputs and outputs (strided views get their
//! parent's batch stride), for timing.
struct TimingBuffers {
    std::vector<DeviceBuffer> bufs;
    std::vector<const void*> in;
    std::vector<void*> out;
    TimingBuffers(const std::vector<TensorDesc>& inD, const std::vector<TensorDesc>& outD, Backend& b) {
        auto bytesOf = [](const TensorDesc& d) {
            int64_t n = formatVolume(d.dims, d.format);
            if (d.dims.nbDims > 0) n = std::max<int64_t>(n, d.strides.d[0] * d.dims.d[0]);
            return static_cast<size_t>(n * dataTypeSize(d.type));
        };
        for (const auto& d : inD) {
            const size_t bytes = bytesOf(d);
            const std::vector<uint8_t>& pool = timingPool(d.type);
            bufs.emplace_back(b, bytes + 1, "tactic timing input");
            auto* dst = static_cast<uint8_t*>(bufs.back().get());
            for (size_t off = 0; off < bytes; off += pool.size())
                b.copy(dst + off, pool.data(), std::min(pool.size(), bytes - off), CopyKind::kHostToDevice, nullptr);
            in.push_back(bufs.back().get());
        }
        for (const auto& d : outD) {
            bufs.emplace_back(b, bytesOf(d) + 1, "tactic timing output");
            out.push_back(bufs.back().get());
        }
    }
};

//! Median milliseconds of fn() (which enqueues work on `stream`), after warm-up. On the GPU each sample
//! is timed with events around `reps` back-to-back runs; on the CPU with the host clock.
//! GIE_TIMING_SAMPLES=N (1..99) overrides the number of samples; 1 also drops the warm-up and repetitions:
//! for test suites and sanitizer runs, where the choice need not be the fastest.
inline int timingSamplesOverride() {
    static const int n = [] {
        const char* v = std::getenv("GIE_TIMING_SAMPLES");
        int k = v ? std::atoi(v) : 0;
        return k >= 1 && k <= 99 ? k : 0;
    }();
    return n;
}

//! A tactic whose first timed run takes more than this many times the fastest time so far (of the same kernel at
//! the same shapes) cannot win: its timing stops there (GPU only; that run's time is its time).
constexpr double kTimingCutoffFactor = 4.0;

//! cutoffMs: stop after the first timed run if it took longer (its time is returned).
template <typename F>
double medianMs(Backend& b, void* stream, F&& fn, int samples = 7, int reps = 3, double cutoffMs = 1e30) {
    void* e0 = b.createEvent(true);
    void* e1 = b.createEvent(true);
    std::vector<double> t;
    int warmups = 2;
    if (int o = timingSamplesOverride()) {
        samples = o;
        if (o == 1) reps = 1, warmups = 0;
    }
    try {
        for (int w = 0; w < warmups; ++w) fn();
        b.synchronize(stream);
        if (e0) {  // long runs need fewer samples: keep tactic timing of big layers within a few ms each
            b.recordEvent(e0, stream);
            fn();
            b.recordEvent(e1, stream);
            b.synchronizeEvent(e1);
            float once = b.elapsedMs(e0, e1);
            if (once > 0.25f) reps = 1;
            if (once > 1.0f) samples = std::min(samples, 3);
            if (warmups == 0 || once > cutoffMs) {  // a single sample, or a tactic that cannot win: this run is it
                t.push_back(once);
                samples = 0;
            }
        }
        for (int r = 0; r < samples; ++r) {
            if (e0) {
                b.recordEvent(e0, stream);
                for (int k = 0; k < reps; ++k) fn();
                b.recordEvent(e1, stream);
                b.synchronizeEvent(e1);
                t.push_back(b.elapsedMs(e0, e1) / reps);
            } else {
                auto t0 = std::chrono::steady_clock::now();
                for (int k = 0; k < reps; ++k) fn();
                auto t1 = std::chrono::steady_clock::now();
                t.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count() / reps);
            }
        }
    } catch (...) {
        b.destroyEvent(e0);
        b.destroyEvent(e1);
        throw;
    }
    b.destroyEvent(e0);
    b.destroyEvent(e1);
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

//! Milliseconds of wall time since t (build phase and tactic timing clocks).
inline double msSince(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

//! Wall time the calling thread spent in timeTactic since the last reset, for the build report: preparing
//! (initialize, workspace, terminate) and running (warm-ups and timed runs, synchronized).
struct TacticTimingClock {
    double setupMs = 0, runMs = 0;
};
TacticTimingClock& tacticTimingClock();

//! Times tactic `t` of a configured kernel (setTactic, initialize, run, terminate); 1e30 if it cannot run.
//! bestMs: the fastest time so far of another tactic of this kernel at these shapes (1e30: none), for the cutoff.
double timeTactic(IPlugin& k, int32_t t, const std::vector<TensorDesc>& in, const std::vector<TensorDesc>& out, TimingBuffers& io,
                  Backend& b, void* stream, ILogger* logger, double bestMs = 1e30);

}  // namespace gie
