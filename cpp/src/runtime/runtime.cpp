// IRuntime: turns engine files back into engines.
#include "common/error.h"
#include "engine/engine.h"

namespace gie {
namespace {

class RuntimeImpl final : public IRuntime {
public:
    explicit RuntimeImpl(ILogger& logger) : logger_(&logger) {}
    IEngine* deserializeEngine(const void* data, size_t size) noexcept override {
        return apiGuard<IEngine*>(logger_, nullptr, [&] { return new EngineImpl(deserializePlan(data, size), logger_); });
    }

private:
    ILogger* logger_;
};

}  // namespace

IRuntime* createRuntime(ILogger& logger) noexcept {
    return apiGuard<IRuntime*>(&logger, nullptr, [&] { return new RuntimeImpl(logger); });
}

}  // namespace gie
