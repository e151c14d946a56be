#include "builder/tactic_timing.h"

namespace gie {

double timeTactic(IPlugin& k, int32_t t, const std::vector<TensorDesc>& in, const std::vector<TensorDesc>& out, TimingBuffers& io,
                  Backend& b, void* stream, ILogger* logger) {
    if (k.setTactic(t) != 0) return 1e30;
    if (k.initialize() != 0) return 1e30;
    double ms = 1e30;
    try {
        DeviceBuffer ws(b, k.getWorkspaceSize() + 1, "tactic timing workspace");
        bool ok = true;
        ms = medianMs(b, stream, [&] {
            if (ok && k.enqueue(in.data(), out.data(), io.in.data(), io.out.data(), ws.get(), stream) != 0) ok = false;
        });
        b.synchronize(stream);
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
