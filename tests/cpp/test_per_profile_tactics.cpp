// Tactics chosen per optimization profile (issue 15), through the C++ API on the CPU backend, with the TacticTag
// plugin of tests/plugins/range_plugins.cpp (compiled in: y = x + 1, a second output naming the tactic that ran,
// "plain" 0 or "scratch" 1; "scratch" needs a workspace of the largest input):
//   - forced through the timing cache (a first build writes it; the times are rewritten so that "plain" wins at
//     profile 0's opt batch 1 and "scratch" at profile 1's opt batch 64; a second build reads them), each profile runs
//     its own tactic, in one context switching profiles and in two contexts at once;
//   - the workspace holds the largest need over the per-profile kernels; the layer report names each profile's tactic;
//   - serialize / deserialize keeps the choice.
// Prints "N passed, M failed".
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "../plugins/range_plugins.cpp"  // the same TacticTag the Python tests load from a library
#include "gie/gie.h"
#include "test_check.h"

namespace {
using testcheck::check;

gie::Dims shape(int64_t n) {
    gie::Dims d;
    d.nbDims = 4;
    d.d[0] = n, d.d[1] = 4, d.d[2] = 5, d.d[3] = 5;
    return d;
}

std::unique_ptr<gie::IEngine> build(gie::IBuilder& builder, const std::string& cache) {
    std::unique_ptr<gie::INetworkDefinition> net(builder.createNetwork());
    gie::ITensor* x = net->addInput("x", gie::DataType::kFLOAT, shape(-1));
    gie::IPluginCreator* c = gie::getPluginRegistry()->getCreator("TacticTag", "1", gie::DeviceType::kCPU);
    std::unique_ptr<gie::IPlugin> tag(c ? c->createPlugin("tag", nullptr) : nullptr);
    if (!tag) return nullptr;
    gie::ILayer* l = net->addPluginLayer(&x, 1, *tag);
    l->setName("tag");
    l->getOutput(0)->setName("y");
    l->getOutput(1)->setName("tactic");
    net->markOutput(*l->getOutput(0));
    net->markOutput(*l->getOutput(1));
    std::unique_ptr<gie::IBuilderConfig> cfg(builder.createBuilderConfig());
    cfg->setDevice(gie::DeviceType::kCPU);
    cfg->setTimingCachePath(cache.c_str());
    for (auto [mn, opt, mx] : {std::array<int64_t, 3>{1, 1, 2}, std::array<int64_t, 3>{32, 64, 64}}) {
        gie::IOptimizationProfile* p = builder.createOptimizationProfile();
        p->setDimensions("x", gie::OptProfileSelector::kMIN, shape(mn));
        p->setDimensions("x", gie::OptProfileSelector::kOPT, shape(opt));
        p->setDimensions("x", gie::OptProfileSelector::kMAX, shape(mx));
        cfg->addOptimizationProfile(p);
    }
    return std::unique_ptr<gie::IEngine>(builder.buildEngine(*net, *cfg));
}

//! Rewrites the cache's TacticTag times: "plain" 0.01 ms at batch 1, "scratch" at batch 64, everything else 5 ms.
//! Returns the number of entries rewritten.
int forceTimes(const std::string& path) {
    std::ifstream in(path);
    std::string line, out;
    int n = 0;
    while (std::getline(in, line)) {
        if (line.rfind("TacticTag|", 0) == 0) {
            const std::string key = line.substr(0, line.rfind('\t'));
            const std::string tactic = key.substr(key.rfind('|') + 1);
            size_t f = 0;
            for (int i = 0; i < 4; ++i) f = key.find('|', f) + 1;  // the first descriptor: "type.format:NxCxHxW/stride"
            const long batch = std::strtol(key.c_str() + key.find(':', f) + 1, nullptr, 10);
            const bool fast = (batch == 1 && tactic == "plain") || (batch == 64 && tactic == "scratch");
            line = key + (fast ? "\t0.01" : "\t5");
            ++n;
        }
        out += line + "\n";
    }
    std::ofstream(path, std::ios::trunc) << out;
    return n;
}

//! Runs ctx (its profile selected) at batch n; the tactic it reports (-1 on failure or a wrong y).
int runAt(gie::IExecutionContext& ctx, int64_t n) {
    std::vector<float> x(static_cast<size_t>(n * 100)), y(x.size(), NAN);
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 17) - 8.f;
    float tactic = NAN;
    if (!ctx.setInputShape("x", shape(n))) return -1;
    ctx.setTensorAddress("x", x.data());
    ctx.setTensorAddress("y", y.data());
    ctx.setTensorAddress("tactic", &tactic);
    if (!ctx.execute()) return -1;
    for (size_t i = 0; i < x.size(); ++i)
        if (y[i] != x[i] + 1.f) return -1;
    return static_cast<int>(tactic);
}

bool runsPerProfile(gie::IEngine& e, const std::string& what) {
    std::unique_ptr<gie::IExecutionContext> ctx(e.createExecutionContext()), other(e.createExecutionContext());
    bool ok = ctx && other && other->setOptimizationProfile(1);
    for (auto [profile, n, tactic] : {std::array<int, 3>{0, 1, 0}, {1, 64, 1}, {1, 32, 1}, {0, 2, 0}}) {
        ok = ok && ctx->setOptimizationProfile(profile);
        const int ran = ok ? runAt(*ctx, n) : -2;
        check(ran == tactic, what + ": profile " + std::to_string(profile) + " at batch " + std::to_string(n) + " runs tactic " +
                                 std::to_string(tactic) + " (ran " + std::to_string(ran) + ")");
        ok = ok && ran == tactic;
    }
    check(ok && runAt(*other, 40) == 1 && runAt(*ctx, 1) == 0, what + ": two contexts on different profiles of one engine");
    return ok;
}

}  // namespace

int main() {
    testcheck::QuietLogger logger;
    std::unique_ptr<gie::IBuilder> builder(gie::createBuilder(logger));
    std::unique_ptr<gie::IRuntime> runtime(gie::createRuntime(logger));
    char dir[] = "/tmp/gie_per_profile_XXXXXX";
    check(mkdtemp(dir) != nullptr, "temporary directory");
    const std::string cache = std::string(dir) + "/timing.cache";

    std::unique_ptr<gie::IEngine> first = build(*builder, cache);
    check(first != nullptr, "first build (writes the timing cache)");
    check(forceTimes(cache) == 4, "the cache holds both tactics at both profiles' opt shapes");
    std::unique_ptr<gie::IEngine> engine = build(*builder, cache);
    check(engine != nullptr, "build with the forced times");
    if (engine) {
        const std::string info = engine->getLayerInformation();
        check(info.find("\"profile_tactics\":[\"plain\",\"scratch\"]") != std::string::npos, "layer information names each profile's tactic");
        runsPerProfile(*engine, "built");
        const std::string mem = info.substr(info.find("\"workspace_bytes\":") + 18);
        check(std::strtoll(mem.c_str(), nullptr, 10) >= 64 * 100 * 4, "the workspace holds profile 1's \"scratch\" (profile 0's needs none)");
        std::unique_ptr<gie::IHostMemory> file(engine->serialize());
        std::unique_ptr<gie::IEngine> loaded(file ? runtime->deserializeEngine(file->data(), file->size()) : nullptr);
        check(loaded != nullptr, "the engine file loads");
        if (loaded) runsPerProfile(*loaded, "loaded");
    }
    std::remove(cache.c_str());
    std::remove(dir);
    return testcheck::finish();
}
