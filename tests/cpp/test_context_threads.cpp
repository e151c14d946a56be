// One execution context per thread, enforced (issue 11 item 10): while one thread is inside execute (held in
// its profiler callback), every call from another thread on the same context fails with kINVALID_ARGUMENT and
// "already in use by another thread", changes nothing, and the held run still completes correctly; contexts of
// one engine run in parallel; threads hammering one context get success or that error, never anything else.
// Prints "N passed, M failed".
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gie/gie.h"

#include "test_check.h"

using namespace gie;
using namespace testcheck;

namespace {
constexpr int64_t kC = 4, kH = 8, kW = 8;
const char* const kBusy = "already in use by another thread";

Dims shape(int64_t batch) {
    const int64_t d[4] = {batch, kC, kH, kW};
    return makeDims(4, d);
}

//! y = relu(x) over (batch, C, H, W), batch 1..4.
std::unique_ptr<IEngine> buildRelu(ILogger& logger) {
    std::unique_ptr<IBuilder> b(createBuilder(logger));
    std::unique_ptr<INetworkDefinition> net(b->createNetwork());
    ITensor* x = net->addInput("x", DataType::kFLOAT, shape(1));
    ILayer* relu = net->addActivation(*x, ActivationType::kRELU);
    relu->getOutput(0)->setName("y");
    net->markOutput(*relu->getOutput(0));
    std::unique_ptr<IBuilderConfig> cfg(b->createBuilderConfig());
    cfg->setDevice(DeviceType::kCPU);
    cfg->setBatchRange(1, 4, 4);
    return std::unique_ptr<IEngine>(b->buildEngine(*net, *cfg));
}

std::vector<float> input(int64_t batch, float seed) {
    std::vector<float> v(static_cast<size_t>(batch * kC * kH * kW));
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((static_cast<int>(i) * 7 + static_cast<int>(seed * 13)) % 11) - 5.f;
    return v;
}

bool isRelu(const std::vector<float>& x, const std::vector<float>& y) {
    for (size_t i = 0; i < x.size(); ++i)
        if (y[i] != (x[i] > 0 ? x[i] : 0.f)) return false;
    return true;
}

bool busyError() {
    const char* msg = nullptr;
    ErrorCode code = getLastError(&msg);
    return code == ErrorCode::kINVALID_ARGUMENT && msg && std::strstr(msg, kBusy);
}

//! Blocks the first kernel report until released.
class HoldingProfiler final : public IProfiler {
public:
    void reportLayerTime(const char*, float) noexcept override {
        std::unique_lock<std::mutex> lock(mu_);
        if (entered_) return;  // only the first call waits (a context that failed to refuse must not hang here)
        entered_ = true;
        cv_.notify_all();
        cv_.wait(lock, [&] { return released_; });
    }
    void waitEntered() {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return entered_; });
    }
    void release() {
        std::lock_guard<std::mutex> lock(mu_);
        released_ = true;
        cv_.notify_all();
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool entered_ = false, released_ = false;
};

void testCallsRefusedWhileExecuting(IEngine& engine) {
    std::unique_ptr<IExecutionContext> ctx(engine.createExecutionContext());
    std::vector<float> x = input(2, 1), y(x.size(), -1.f), other(x.size());
    ctx->setInputShape("x", shape(2));
    ctx->setTensorAddress("x", x.data());
    ctx->setTensorAddress("y", y.data());
    HoldingProfiler prof;
    ctx->setProfiler(&prof);
    bool ok = false;
    std::thread runner([&] { ok = ctx->execute(); });
    prof.waitEntered();
    check(!ctx->execute() && busyError(), "execute from a second thread is refused");
    check(!ctx->enqueue(nullptr) && busyError(), "enqueue from a second thread is refused");
    check(!ctx->setInputShape("x", shape(1)) && busyError(), "setInputShape from a second thread is refused");
    check(!ctx->setTensorAddress("y", other.data()) && busyError(), "setTensorAddress from a second thread is refused");
    check(ctx->getTensorShape("y").nbDims == -1 && busyError(), "getTensorShape from a second thread is refused");
    check(ctx->getTensorAddress("y") == y.data(), "a refused setTensorAddress changes nothing");
    prof.release();
    runner.join();
    check(ok && isRelu(x, y), "the held execute completes with its own bindings");
    ctx->setProfiler(nullptr);
    // Free again: the same calls now succeed from this thread.
    check(ctx->setInputShape("x", shape(2)) && ctx->execute() && isRelu(x, y), "the context is usable after the refusals");
}

void testContextsInParallel(IEngine& engine) {
    constexpr int kThreads = 6;
    std::atomic<int> good{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; ++t)
        ts.emplace_back([&, t] {
            std::unique_ptr<IExecutionContext> ctx(engine.createExecutionContext());
            bool all = true;
            for (int i = 0; i < 50; ++i) {
                int64_t batch = 1 + (t + i) % 4;
                std::vector<float> x = input(batch, static_cast<float>(t * 100 + i)), y(x.size());
                all = all && ctx->setInputShape("x", shape(batch)) && ctx->setTensorAddress("x", x.data()) &&
                      ctx->setTensorAddress("y", y.data()) && ctx->execute() && isRelu(x, y);
            }
            if (all) ++good;
        });
    for (auto& t : ts) t.join();
    check(good == kThreads, "one context per thread: every run of every thread is correct");
}

void testHammerOneContext(IEngine& engine) {
    std::unique_ptr<IExecutionContext> ctx(engine.createExecutionContext());
    std::vector<float> x = input(4, 3), y(x.size());
    ctx->setInputShape("x", shape(4));
    ctx->setTensorAddress("x", x.data());
    ctx->setTensorAddress("y", y.data());
    std::atomic<int> ok{0}, busy{0}, other{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t)
        ts.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) {
                bool r;
                switch ((t + i) % 4) {
                    case 0: r = ctx->execute(); break;
                    case 1: r = ctx->setInputShape("x", shape(4)); break;
                    case 2: r = ctx->setTensorAddress("y", y.data()); break;
                    default: r = ctx->getTensorShape("y").nbDims == 4; break;
                }
                if (r)
                    ++ok;
                else if (busyError())
                    ++busy;
                else
                    ++other;
            }
        });
    for (auto& t : ts) t.join();
    check(other == 0 && ok + busy == 800, "hammering one context: each call succeeds or is refused as busy (" + std::to_string(ok) +
                                              " ok, " + std::to_string(busy) + " busy, " + std::to_string(other) + " other)");
    std::fill(y.begin(), y.end(), -1.f);
    check(ctx->execute() && isRelu(x, y), "the hammered context still computes correctly");
}
}  // namespace

int main() {
    QuietLogger logger;
    std::unique_ptr<IEngine> engine = buildRelu(logger);
    check(engine != nullptr, "build the test engine");
    if (engine) {
        testCallsRefusedWhileExecuting(*engine);
        testContextsInParallel(*engine);
        testHammerOneContext(*engine);
    }
    return finish();
}
