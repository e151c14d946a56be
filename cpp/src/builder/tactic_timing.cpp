#include "builder/tactic_timing.h"

namespace gie {

TacticTimingClock& tacticTimingClock() {
    thread_local TacticTimingClock c;  // one build runs on one thread; builds on other threads keep their own
    return c;
}

namespace {
using Clock = std::chrono::steady_clock;
//! Adds the time from construction to destruction to the setup clock, less what `runMs` gained meanwhile.
struct SetupTimer {
    Clock::time_point t0 = Clock::now();
    double run0 = tacticTimingClock().runMs;
    ~SetupTimer() { tacticTimingClock().setupMs += msSince(t0) - (tacticTimingClock().runMs - run0); }
};
}  // namespace

double timeTactic(IPlugin& k, int32_t t, const std::vector<TensorDesc>& in, const std::vector<TensorDesc>& out, TimingBuffers& io,
                  Backend& b, void* stream, ILogger* logger, double bestMs) {
    SetupTimer setup;
    if (k.setTactic(t) != 0) return 1e30;
    if (k.initialize() != 0) return 1e30;
    double ms = 1e30;
    try {
        DeviceBuffer ws(b, k.getWorkspaceSize() + 1, "tactic timing workspace");
        bool ok = true;
        const auto r0 = Clock::now();
        ms = medianMs(
            b, stream, [&] {
                if (ok && k.enqueue(in.data(), out.data(), io.in.data(), io.out.data(), ws.get(), stream) != 0) ok = false;
            },
            7, 3, bestMs < 1e29 ? bestMs * kTimingCutoffFactor : 1e30);
        b.synchronize(stream);
        tacticTimingClock().runMs += msSince(r0);
        if (!ok) ms = 1e30;
    } catch (const Error& e) {
        // A tactic that cannot run is skipped, saying why. A device fault (an illegal address, say) is
        // sticky: nothing can run afterwards, so it ends the build naming the tactic at fault.
        logMessage(logger, ILogger::Severity::kWARNING, strcat("tactic '", k.getTacticName(t), "' of a ", k.getPluginType(), " kernel failed: ", e.what()));
        try {
            b.checkErrors("tactic timing");
        } catch (const Error&) {
            k.terminate();
            fail(ErrorCode::kINTERNAL, "tactic '", k.getTacticName(t), "' of a ", k.getPluginType(), " kernel faulted on the device while being timed: ",
                 e.what(), " (the device is unusable in this process; force another tactic with setTacticOverride and report this)");
        }
        ms = 1e30;
    }
    k.terminate();
    return ms;
}

}  // namespace gie
