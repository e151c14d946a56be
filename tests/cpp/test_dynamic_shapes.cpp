// Dynamic shapes, phase 1 (issue 15), through the C++ API on the CPU backend:
//   - network-level shapes with -1 input dimensions (two-seed inference) report -1 where a shape follows them;
//   - a convolutional network with dynamic H/W (and a channel concatenation that concat elimination turns into
//     views) run at 3 shapes within one profile equals, at each, an engine built for exactly that shape;
//   - out-of-profile shapes are refused naming the input, the dimension and the range; two profiles and
//     setOptimizationProfile; serialize / deserialize keeps the profiles;
//   - crafted format-4 files (bad profile count, min > max, rank mismatch, a profile beyond the planned shape) are
//     refused with kINVALID_ENGINE; a format-3 file (no profile table) still loads with the batch-range profile;
//   - profile errors at build time (missing input, fixed dimension, batch range together with profiles);
//   - the no-profile batch-range path keeps its behaviour and messages.
// Prints "N passed, M failed". `test_dynamic_shapes --write-seed FILE` also writes the two-profile engine (the
// engine-file fuzz target's explicit-shapes seed, tests/fuzz_corpus/engine/profiles.gie).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "gie/gie.h"
#include "plugin_harness.h"

using namespace gie;

namespace {
using harness::check;
using testcheck::QuietLogger;

std::string lastMessage() { return harness::lastError(""); }
bool lastErrorHas(ErrorCode code, const std::string& text) {
    const char* msg = nullptr;
    const ErrorCode c = getLastError(&msg);
    const bool ok = c == code && msg && std::strstr(msg, text.c_str());
    if (!ok) std::printf("  (last error %d: %s)\n", static_cast<int>(c), msg ? msg : "");
    return ok;
}

Dims d4(int64_t a, int64_t b, int64_t c, int64_t e) { return dims4(a, b, c, e); }
bool same(const Dims& a, const Dims& b) {
    if (a.nbDims != b.nbDims) return false;
    for (int i = 0; i < a.nbDims; ++i)
        if (a.d[i] != b.d[i]) return false;
    return true;
}
int64_t vol(const Dims& d) {
    int64_t v = 1;
    for (int i = 0; i < d.nbDims; ++i) v *= d.d[i];
    return v;
}

std::vector<float> randomVector(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    std::vector<float> v(n);
    for (float& x : v) x = u(rng);
    return v;
}

//! x (input dims) -> [3x3 conv 3->4 + ReLU, 1x1 conv 3->5] -> channel concat (9) -> 3x3 stride-2 conv 9->2 -> y.
//! The concatenation's producers write into their slices (concat elimination: views).
struct ConvNet {
    std::vector<float> w1 = randomVector(4 * 3 * 9, 1), b1 = randomVector(4, 2), w2 = randomVector(5 * 3, 3), b2 = randomVector(5, 4),
                       w3 = randomVector(2 * 9 * 9, 5), b3 = randomVector(2, 6);
    ITensor* conv1Out = nullptr;
    ITensor* y = nullptr;
    std::unique_ptr<INetworkDefinition> make(IBuilder& builder, const Dims& inputDims) {
        std::unique_ptr<INetworkDefinition> net(builder.createNetwork());
        ITensor* x = net->addInput("x", DataType::kFLOAT, inputDims);
        IConvolutionLayer* c1 = net->addConvolution(*x, 4, dims2(3, 3), {DataType::kFLOAT, w1.data(), 108}, {DataType::kFLOAT, b1.data(), 4});
        c1->setPadding(dims2(1, 1));
        ILayer* r1 = net->addActivation(*c1->getOutput(0), ActivationType::kRELU);
        IConvolutionLayer* c2 = net->addConvolution(*x, 5, dims2(1, 1), {DataType::kFLOAT, w2.data(), 15}, {DataType::kFLOAT, b2.data(), 5});
        ITensor* parts[2] = {r1->getOutput(0), c2->getOutput(0)};
        IConcatenationLayer* cat = net->addConcatenation(parts, 2);
        IConvolutionLayer* c3 = net->addConvolution(*cat->getOutput(0), 2, dims2(3, 3), {DataType::kFLOAT, w3.data(), 162}, {DataType::kFLOAT, b3.data(), 2});
        c3->setStride(dims2(2, 2));
        c3->setPadding(dims2(1, 1));
        c3->getOutput(0)->setName("y");
        net->markOutput(*c3->getOutput(0));
        conv1Out = c1->getOutput(0);
        y = c3->getOutput(0);
        return net;
    }
};

IOptimizationProfile* profile(IBuilder& b, const Dims& mn, const Dims& opt, const Dims& mx) {
    IOptimizationProfile* p = b.createOptimizationProfile();
    p->setDimensions("x", OptProfileSelector::kMIN, mn);
    p->setDimensions("x", OptProfileSelector::kOPT, opt);
    p->setDimensions("x", OptProfileSelector::kMAX, mx);
    return p;
}

std::unique_ptr<IEngine> buildFixed(IBuilder& builder, ConvNet& cn, const Dims& shape) {
    auto net = cn.make(builder, shape);
    std::unique_ptr<IBuilderConfig> cfg(builder.createBuilderConfig());
    cfg->setDevice(DeviceType::kCPU);
    cfg->setBatchRange(shape.d[0], shape.d[0], shape.d[0]);
    return std::unique_ptr<IEngine>(builder.buildEngine(*net, *cfg));
}

//! Runs `ctx` (its profile selected) at input shape `shape`; empty on failure.
std::vector<float> run(IExecutionContext& ctx, const Dims& shape, uint32_t seed) {
    std::vector<float> x = randomVector(static_cast<size_t>(vol(shape)), seed);
    if (!ctx.setInputShape("x", shape)) return {};
    const Dims ys = ctx.getTensorShape("y");
    if (ys.nbDims != 4) return {};
    std::vector<float> y(static_cast<size_t>(vol(ys)), NAN);  // poisoned
    ctx.setTensorAddress("x", x.data());
    ctx.setTensorAddress("y", y.data());
    if (!ctx.execute()) return {};
    return y;
}

bool close(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.empty() || a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (!(std::fabs(a[i] - b[i]) <= 1e-4f * (1.f + std::fabs(b[i])))) return false;
    return true;
}

std::string shapeName(const Dims& d) {
    std::string s = "(";
    for (int i = 0; i < d.nbDims; ++i) s += (i ? "," : "") + std::to_string(d.d[i]);
    return s + ")";
}

// ---- engine file crafting ---------------------------------------------------------------------------------

constexpr size_t kHeader = 64;
void putU32(std::vector<uint8_t>& f, size_t at, uint32_t v) { std::memcpy(f.data() + at, &v, 4); }
void fixHeader(std::vector<uint8_t>& f) {
    const uint64_t body = f.size() - kHeader;
    std::memcpy(f.data() + 32, &body, 8);
    putU32(f, 40, crc32c(f.data() + kHeader, body));
    putU32(f, 56, crc32c(f.data(), 56));
}
void appendDims(std::vector<uint8_t>& b, const Dims& d) {
    const int32_t n = d.nbDims;
    b.insert(b.end(), reinterpret_cast<const uint8_t*>(&n), reinterpret_cast<const uint8_t*>(&n) + 4);
    for (int i = 0; i < d.nbDims; ++i) b.insert(b.end(), reinterpret_cast<const uint8_t*>(&d.d[i]), reinterpret_cast<const uint8_t*>(&d.d[i]) + 8);
}
//! The bytes of an engine's profile table (explicit flag, count, per profile per input min/opt/max) for a
//! single-input engine, as format 4 writes them.
std::vector<uint8_t> profileTable(const IEngine& e, bool explicitShapes) {
    std::vector<uint8_t> b{static_cast<uint8_t>(explicitShapes ? 1 : 0)};
    const uint32_t n = static_cast<uint32_t>(e.getNbOptimizationProfiles());
    b.insert(b.end(), reinterpret_cast<const uint8_t*>(&n), reinterpret_cast<const uint8_t*>(&n) + 4);
    for (int32_t i = 0; i < e.getNbOptimizationProfiles(); ++i)
        for (OptProfileSelector s : {OptProfileSelector::kMIN, OptProfileSelector::kOPT, OptProfileSelector::kMAX})
            appendDims(b, e.getProfileShape("x", i, s));
    return b;
}
size_t findBytes(const std::vector<uint8_t>& hay, const std::vector<uint8_t>& needle) {
    auto it = std::search(hay.begin() + kHeader, hay.end(), needle.begin(), needle.end());
    return it == hay.end() ? 0 : static_cast<size_t>(it - hay.begin());
}
bool refused(IRuntime& rt, const std::vector<uint8_t>& file, const std::string& text) {
    std::unique_ptr<IEngine> e(rt.deserializeEngine(file.data(), file.size()));
    return !e && lastErrorHas(ErrorCode::kINVALID_ENGINE, text);
}

}  // namespace

int main(int argc, char** argv) {
    const char* seedPath = argc == 3 && std::strcmp(argv[1], "--write-seed") == 0 ? argv[2] : nullptr;
    QuietLogger logger;
    std::unique_ptr<IBuilder> builder(createBuilder(logger));
    std::unique_ptr<IRuntime> runtime(createRuntime(logger));
    ConvNet cn;

    // ---- network-level shapes --------------------------------------------------------------------------------
    {
        auto net = cn.make(*builder, d4(-1, 3, -1, -1));
        check(net && same(cn.conv1Out->getDimensions(), d4(-1, 4, -1, -1)), "network shapes: conv output follows the dynamic dims");
        check(net && same(cn.y->getDimensions(), d4(-1, 2, -1, -1)), "network shapes: strided conv output is dynamic in N, H, W");
        auto fixedNet = cn.make(*builder, d4(2, 3, 10, 12));
        check(fixedNet && same(cn.y->getDimensions(), d4(2, 2, 5, 6)), "network shapes: a fixed network is unchanged");
        // A rule that fails at the sample sizes fails at add time, naming the layer.
        std::unique_ptr<INetworkDefinition> bad(builder->createNetwork());
        ITensor* x = bad->addInput("x", DataType::kFLOAT, d4(1, 3, -1, -1));
        IShuffleLayer* sh = bad->addShuffle(*x);
        sh->setReshapeDimensions(dims2(3, 100));
        check(sh->getOutput(0)->getDimensions().nbDims == -1 && lastErrorHas(ErrorCode::kINVALID_MODEL, "layer 'Shuffle_0' (Shuffle): shape inference failed"),
              "network shapes: a reshape to a fixed size of a dynamic input fails shape inference, naming the layer");
        check(!bad->addInput("z", DataType::kFLOAT, d4(1, -2, 3, 3)), "addInput refuses -2");
    }

    // ---- one profile, 3 shapes, against fixed-shape engines (concat elimination's views at each H/W) -----------
    const Dims mn = d4(1, 3, 8, 8), opt = d4(2, 3, 16, 16), mx = d4(2, 3, 24, 24);
    std::unique_ptr<IEngine> dyn;
    {
        auto net = cn.make(*builder, d4(-1, 3, -1, -1));
        std::unique_ptr<IBuilderConfig> cfg(builder->createBuilderConfig());
        cfg->setDevice(DeviceType::kCPU);
        check(cfg->addOptimizationProfile(profile(*builder, mn, opt, mx)) == 0 && cfg->getNbOptimizationProfiles() == 1, "addOptimizationProfile -> 0");
        dyn.reset(builder->buildEngine(*net, *cfg));
        check(dyn != nullptr, "build with a dynamic-H/W profile: " + lastMessage());
    }
    if (dyn) {
        check(std::string(dyn->getLayerInformation()).find("\"view_of\"") != std::string::npos, "concat elimination made views in the dynamic engine");
        check(dyn->getNbOptimizationProfiles() == 1 && same(dyn->getProfileShape("x", 0, OptProfileSelector::kOPT), opt), "getProfileShape opt");
        check(same(dyn->getTensorShape("x"), mx), "engine getTensorShape gives the planned (largest) shape");
        check(dyn->getProfileShape("nope", 0, OptProfileSelector::kMIN).nbDims == -1 && lastErrorHas(ErrorCode::kINVALID_ARGUMENT, "'nope'"),
              "getProfileShape: unknown input");
        check(dyn->getProfileShape("x", 1, OptProfileSelector::kMIN).nbDims == -1 && lastErrorHas(ErrorCode::kINVALID_ARGUMENT, "1 optimization profile"),
              "getProfileShape: profile out of range");
        std::unique_ptr<IExecutionContext> ctx(dyn->createExecutionContext());
        check(ctx->getOptimizationProfile() == 0 && same(ctx->getTensorShape("x"), mx), "a new context has profile 0 at its max shapes");
        uint32_t seed = 10;
        for (const Dims& s : {d4(1, 3, 8, 8), d4(2, 3, 13, 17), d4(2, 3, 24, 24), d4(1, 3, 20, 9)}) {
            std::unique_ptr<IEngine> fixed = buildFixed(*builder, cn, s);
            std::unique_ptr<IExecutionContext> fctx(fixed ? fixed->createExecutionContext() : nullptr);
            std::vector<float> got = run(*ctx, s, seed), want = fctx ? run(*fctx, s, seed) : std::vector<float>();
            check(!want.empty() && close(got, want), "dynamic engine at " + shapeName(s) + " equals the fixed-shape engine");
            ++seed;
        }
        // Out of the profile: named input, dimension and range; nothing changes.
        check(!ctx->setInputShape("x", d4(1, 3, 30, 8)) &&
                  lastErrorHas(ErrorCode::kINVALID_ARGUMENT, "input 'x' dimension 2 is 30, outside optimization profile 0's range [8, 24] (min (1, 3, 8, 8), max (2, 3, 24, 24))"),
              "out-of-profile H refused with the range");
        check(!ctx->setInputShape("x", d4(3, 3, 8, 8)) && lastErrorHas(ErrorCode::kINVALID_ARGUMENT, "dimension 0 is 3"), "out-of-profile N refused");
        check(!ctx->setInputShape("x", d4(1, 4, 8, 8)) && lastErrorHas(ErrorCode::kINVALID_ARGUMENT, "dimension 1 is 4, outside optimization profile 0's range [3, 3]"),
              "a fixed dimension refused");
        check(!ctx->setInputShape("x", dims3(1, 3, 8)) && lastErrorHas(ErrorCode::kINVALID_ARGUMENT, "has 4 dimensions"), "rank mismatch refused");
        check(same(ctx->getTensorShape("x"), d4(1, 3, 20, 9)), "a refused shape changes nothing");
        check(!ctx->setOptimizationProfile(1) && lastErrorHas(ErrorCode::kINVALID_ARGUMENT, "1 optimization profile(s)"), "setOptimizationProfile out of range");
    }

    // ---- two profiles, setOptimizationProfile, serialize / deserialize -----------------------------------------
    std::unique_ptr<IEngine> two;
    {
        auto net = cn.make(*builder, d4(-1, 3, -1, -1));
        std::unique_ptr<IBuilderConfig> cfg(builder->createBuilderConfig());
        cfg->setDevice(DeviceType::kCPU);
        cfg->addOptimizationProfile(profile(*builder, d4(1, 3, 8, 8), d4(1, 3, 12, 12), d4(1, 3, 16, 16)));
        check(cfg->addOptimizationProfile(profile(*builder, d4(2, 3, 16, 16), d4(2, 3, 24, 24), d4(3, 3, 32, 28))) == 1, "second profile -> 1");
        two.reset(builder->buildEngine(*net, *cfg));
        check(two != nullptr, "build with two profiles: " + lastMessage());
    }
    if (two) {
        check(two->getNbOptimizationProfiles() == 2 && same(two->getProfileShape("x", 1, OptProfileSelector::kMAX), d4(3, 3, 32, 28)),
              "two profiles reported");
        check(same(two->getTensorShape("x"), d4(3, 3, 32, 28)), "planned shape: the max over the profiles");
        std::unique_ptr<IExecutionContext> ctx(two->createExecutionContext());
        check(!ctx->setInputShape("x", d4(2, 3, 20, 20)) && lastErrorHas(ErrorCode::kINVALID_ARGUMENT, "dimension 0 is 2, outside optimization profile 0's range [1, 1]"),
              "profile 0 refuses profile 1's shapes");
        check(ctx->setOptimizationProfile(1) && ctx->getOptimizationProfile() == 1 && same(ctx->getTensorShape("x"), d4(3, 3, 32, 28)),
              "setOptimizationProfile(1) selects it at its max shapes");
        const Dims s = d4(2, 3, 20, 27);
        std::unique_ptr<IEngine> fixed = buildFixed(*builder, cn, s);
        std::unique_ptr<IExecutionContext> fctx(fixed->createExecutionContext());
        const std::vector<float> want = run(*fctx, s, 77);
        check(close(run(*ctx, s, 77), want), "profile 1 at (2,3,20,27) equals the fixed-shape engine");
        std::unique_ptr<IHostMemory> blob(two->serialize());
        if (seedPath) {
            FILE* out = std::fopen(seedPath, "wb");
            check(out && std::fwrite(blob->data(), 1, blob->size(), out) == blob->size() && std::fclose(out) == 0, "seed written");
        }
        std::unique_ptr<IEngine> back(runtime->deserializeEngine(blob->data(), blob->size()));
        check(back && back->getNbOptimizationProfiles() == 2, "round trip keeps the profile count: " + lastMessage());
        if (back) {
            bool all = true;
            for (int32_t i = 0; i < 2; ++i)
                for (OptProfileSelector sel : {OptProfileSelector::kMIN, OptProfileSelector::kOPT, OptProfileSelector::kMAX})
                    all = all && same(back->getProfileShape("x", i, sel), two->getProfileShape("x", i, sel));
            check(all, "round trip keeps every profile shape");
            std::unique_ptr<IExecutionContext> bctx(back->createExecutionContext());
            check(bctx->setOptimizationProfile(1) && close(run(*bctx, s, 77), want), "the deserialized engine runs profile 1");
        }

        // ---- crafted format-4 files ---------------------------------------------------------------------------
        const std::vector<uint8_t> file(static_cast<const uint8_t*>(blob->data()), static_cast<const uint8_t*>(blob->data()) + blob->size());
        const std::vector<uint8_t> table = profileTable(*two, true);
        const size_t at = findBytes(file, table);
        check(at > 0, "the profile table is where format 4 puts it");
        if (at > 0) {
            const size_t count = at + 1, dims0 = at + 5;  // min of profile 0: nbDims, then 4 dims
            for (uint32_t bad : {0u, 65u, 0xFFFFFFFFu}) {
                std::vector<uint8_t> f = file;
                putU32(f, count, bad);
                fixHeader(f);
                check(refused(*runtime, f, "optimization profiles (an engine has 1 to 64)"), "bad profile count " + std::to_string(bad) + " refused");
            }
            {
                std::vector<uint8_t> f = file;  // profile 0 min H = 100 > its max 16
                const int64_t big = 100;
                std::memcpy(f.data() + dims0 + 4 + 2 * 8, &big, 8);
                fixHeader(f);
                check(refused(*runtime, f, "optimization profile 0 gives input 'x' min (1, 3, 100, 8)"), "min > max refused");
            }
            {
                std::vector<uint8_t> f = file;  // profile 0 min of rank 3: drop its last dimension
                const int32_t three = 3;
                std::memcpy(f.data() + dims0, &three, 4);
                f.erase(f.begin() + static_cast<long>(dims0 + 4 + 3 * 8), f.begin() + static_cast<long>(dims0 + 4 + 4 * 8));
                fixHeader(f);
                check(refused(*runtime, f, "they must have its rank"), "rank mismatch refused");
            }
            {
                std::vector<uint8_t> f = file;  // profile 1 max W = 1000, beyond the planned 28
                const size_t p1max = dims0 + 5 * (4 + 4 * 8);
                const int64_t big = 1000;
                std::memcpy(f.data() + p1max + 4 + 3 * 8, &big, 8);
                fixHeader(f);
                check(refused(*runtime, f, "<= (3, 3, 32, 28) (its planned shape)"), "a profile beyond the planned shape refused");
            }
            {
                std::vector<uint8_t> f = file;  // explicit flag cleared: the table is not the batch range's
                f[at] = 0;
                fixHeader(f);
                check(refused(*runtime, f, "corrupt"), "explicit-shapes flag cleared refused");
            }
        }
    }

    // ---- a channel concatenation whose channel counts are dynamic stays a copy ------------------------------------
    {
        std::unique_ptr<INetworkDefinition> net(builder->createNetwork());
        ITensor* x = net->addInput("x", DataType::kFLOAT, d4(1, -1, 4, 4));
        ITensor* parts[2] = {net->addActivation(*x, ActivationType::kRELU)->getOutput(0), net->addActivation(*x, ActivationType::kSIGMOID)->getOutput(0)};
        ILayer* cat = net->addConcatenation(parts, 2);
        cat->getOutput(0)->setName("y");
        net->markOutput(*cat->getOutput(0));
        check(same(cat->getOutput(0)->getDimensions(), d4(1, -1, 4, 4)), "network shapes: concat of dynamic channels is dynamic");
        std::unique_ptr<IBuilderConfig> cfg(builder->createBuilderConfig());
        cfg->setDevice(DeviceType::kCPU);
        cfg->addOptimizationProfile(profile(*builder, d4(1, 1, 4, 4), d4(1, 3, 4, 4), d4(1, 6, 4, 4)));
        std::unique_ptr<IEngine> e(builder->buildEngine(*net, *cfg));
        check(e && std::string(e->getLayerInformation()).find("its channel counts follow dynamic input dimensions") != std::string::npos,
              "concat elimination keeps a concatenation of dynamic channels: " + lastMessage());
        if (e) {
            std::unique_ptr<IExecutionContext> ctx(e->createExecutionContext());
            for (int64_t c : {2, 5}) {
                const Dims s = d4(1, c, 4, 4);
                std::vector<float> x0 = randomVector(static_cast<size_t>(vol(s)), 40), y(static_cast<size_t>(2 * vol(s)), NAN);
                bool ok = ctx->setInputShape("x", s) && same(ctx->getTensorShape("y"), d4(1, 2 * c, 4, 4)) && ctx->setTensorAddress("x", x0.data()) &&
                          ctx->setTensorAddress("y", y.data()) && ctx->execute();
                for (size_t i = 0; ok && i < x0.size(); ++i)
                    ok = std::fabs(y[i] - std::max(x0[i], 0.f)) < 1e-6f && std::fabs(y[x0.size() + i] - 1.f / (1.f + std::exp(-x0[i]))) < 1e-5f;
                check(ok, "dynamic-channel concat at C=" + std::to_string(c) + ": " + lastMessage());
            }
        }
    }

    // ---- the no-profile batch-range path, and a format-3 file ----------------------------------------------------
    {
        std::unique_ptr<INetworkDefinition> net(builder->createNetwork());
        ITensor* x = net->addInput("x", DataType::kFLOAT, d4(-1, 3, 8, 8));  // -1 in dimension 0 means the batch range
        ILayer* c = net->addConvolution(*x, 4, dims2(3, 3), {DataType::kFLOAT, cn.w1.data(), 108}, {DataType::kFLOAT, cn.b1.data(), 4});
        c->getOutput(0)->setName("y");
        net->markOutput(*c->getOutput(0));
        check(same(c->getOutput(0)->getDimensions(), d4(-1, 4, 6, 6)), "no-profile network: dimension 0 is dynamic");
        std::unique_ptr<IBuilderConfig> cfg(builder->createBuilderConfig());
        cfg->setDevice(DeviceType::kCPU);
        cfg->setBatchRange(1, 2, 4);
        std::unique_ptr<IEngine> e(builder->buildEngine(*net, *cfg));
        check(e != nullptr, "no-profile build with -1 in dimension 0: " + lastMessage());
        if (e) {
            check(e->getNbOptimizationProfiles() == 1 && same(e->getProfileShape("x", 0, OptProfileSelector::kMIN), d4(1, 3, 8, 8)) &&
                      same(e->getProfileShape("x", 0, OptProfileSelector::kMAX), d4(4, 3, 8, 8)) && e->getMinBatch() == 1 && e->getMaxBatch() == 4,
                  "no-profile engine: one profile from the batch range");
            std::unique_ptr<IExecutionContext> ctx(e->createExecutionContext());
            check(!ctx->setInputShape("x", d4(5, 3, 8, 8)) && lastErrorHas(ErrorCode::kINVALID_ARGUMENT, "input 'x': batch 5 is outside the engine's batch range [1, 4]"),
                  "no-profile: the batch-range message is unchanged");
            check(!ctx->setInputShape("x", d4(2, 3, 9, 8)) && lastErrorHas(ErrorCode::kINVALID_ARGUMENT, "input 'x' must have shape (batch, 3, 8, 8)"),
                  "no-profile: the fixed-shape message is unchanged");
            check(ctx->setInputShape("x", d4(3, 3, 8, 8)) && same(ctx->getTensorShape("y"), d4(3, 4, 6, 6)), "no-profile: batch 3 runs");
            // Format 3: the same engine without the profile table loads with the batch-range profile.
            std::unique_ptr<IHostMemory> blob(e->serialize());
            std::vector<uint8_t> f(static_cast<const uint8_t*>(blob->data()), static_cast<const uint8_t*>(blob->data()) + blob->size());
            const std::vector<uint8_t> table = profileTable(*e, false);
            // Format 6's view tails: an i32 -1 after each tensor's view parent (-1) and view offset (0), in the tensor table
            // (before the profile table); format 3 has none.
            const std::vector<uint8_t> noView{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
            int tails = 0;
            for (size_t pos = kHeader, end = findBytes(f, table); end > 0;) {
                const auto it =
                    std::search(f.begin() + static_cast<long>(pos), f.begin() + static_cast<long>(end), noView.begin(), noView.end());
                if (it == f.begin() + static_cast<long>(end)) break;
                pos = static_cast<size_t>(it - f.begin()) + 12;
                f.erase(f.begin() + static_cast<long>(pos), f.begin() + static_cast<long>(pos + 4));
                end -= 4;
                ++tails;
            }
            check(tails == 2, "no-profile engine: its two tensors' view tails are in the file");
            const size_t at = findBytes(f, table);
            check(at > 0, "no-profile engine: the batch-range profile table is in the file");
            if (at > 0) {
                f.erase(f.begin() + static_cast<long>(at), f.begin() + static_cast<long>(at + table.size()));
                // Format 5's per-step tactic tables: the one step (tactic "default") has none (two u32 0s after its
                // tactic name); a format-3 step ends its tactic with the name.
                std::vector<uint8_t> tactic{7, 0, 0, 0, 'd', 'e', 'f', 'a', 'u', 'l', 't'};
                const std::vector<uint8_t> noTables(8, 0);
                std::vector<uint8_t> pattern = tactic;
                pattern.insert(pattern.end(), noTables.begin(), noTables.end());
                const size_t step = findBytes(f, pattern);
                check(step > 0, "no-profile engine: the step's empty per-profile tactic table is in the file");
                if (step > 0) f.erase(f.begin() + static_cast<long>(step + tactic.size()), f.begin() + static_cast<long>(step + pattern.size()));
                putU32(f, 8, 3);
                fixHeader(f);
                std::unique_ptr<IEngine> old(runtime->deserializeEngine(f.data(), f.size()));
                check(old && old->getNbOptimizationProfiles() == 1 && same(old->getProfileShape("x", 0, OptProfileSelector::kOPT), d4(2, 3, 8, 8)),
                      "a format-3 file loads with the batch-range profile: " + lastMessage());
                if (old) {
                    std::unique_ptr<IExecutionContext> octx(old->createExecutionContext());
                    check(close(run(*octx, d4(3, 3, 8, 8), 5), run(*ctx, d4(3, 3, 8, 8), 5)), "the format-3 engine runs as the original");
                }
            }
        }
        // A -1 beyond dimension 0 without a profile.
        std::unique_ptr<INetworkDefinition> net2(builder->createNetwork());
        ITensor* x2 = net2->addInput("x", DataType::kFLOAT, d4(1, 3, -1, 8));
        ILayer* r = net2->addActivation(*x2, ActivationType::kRELU);
        net2->markOutput(*r->getOutput(0));
        std::unique_ptr<IEngine> none(builder->buildEngine(*net2, *cfg));
        check(!none && lastErrorHas(ErrorCode::kINVALID_ARGUMENT, "input 'x' dimension 2 is dynamic (-1); add an optimization profile that gives its range"),
              "no profile for a dynamic H refused");
    }

    // ---- profile errors at build time --------------------------------------------------------------------------
    {
        auto net = cn.make(*builder, d4(-1, 3, -1, -1));
        IOptimizationProfile* bad = builder->createOptimizationProfile();
        bad->setDimensions("x", OptProfileSelector::kMIN, d4(1, 3, 9, 9));
        bad->setDimensions("x", OptProfileSelector::kOPT, d4(1, 3, 8, 8));
        bad->setDimensions("x", OptProfileSelector::kMAX, d4(1, 3, 10, 10));
        std::unique_ptr<IBuilderConfig> cfg(builder->createBuilderConfig());
        check(!bad->isValid() && cfg->addOptimizationProfile(bad) == -1 && lastErrorHas(ErrorCode::kINVALID_ARGUMENT, "min <= opt <= max"),
              "an invalid profile is not added");
        check(!bad->setDimensions("x", OptProfileSelector::kMIN, d4(0, 3, 8, 8)), "setDimensions refuses 0");
        IOptimizationProfile* other = builder->createOptimizationProfile();
        other->setDimensions("z", OptProfileSelector::kMIN, d4(1, 3, 8, 8));
        other->setDimensions("z", OptProfileSelector::kOPT, d4(1, 3, 8, 8));
        other->setDimensions("z", OptProfileSelector::kMAX, d4(1, 3, 8, 8));
        cfg->setDevice(DeviceType::kCPU);
        cfg->addOptimizationProfile(other);
        check(!std::unique_ptr<IEngine>(builder->buildEngine(*net, *cfg)) && lastErrorHas(ErrorCode::kINVALID_ARGUMENT, "profile 0 gives shapes for 'z'"),
              "a profile for an unknown input refused");
        std::unique_ptr<IBuilderConfig> cfg2(builder->createBuilderConfig());
        cfg2->setDevice(DeviceType::kCPU);
        cfg2->addOptimizationProfile(profile(*builder, d4(1, 4, 8, 8), d4(1, 4, 8, 8), d4(1, 4, 8, 8)));
        check(!std::unique_ptr<IEngine>(builder->buildEngine(*net, *cfg2)) &&
                  lastErrorHas(ErrorCode::kINVALID_ARGUMENT, "input 'x' dimension 1 is fixed at 3 but the profile gives [4, 4]"),
              "a profile that changes a fixed dimension refused");
        std::unique_ptr<IBuilderConfig> cfg3(builder->createBuilderConfig());
        cfg3->setDevice(DeviceType::kCPU);
        cfg3->setBatchRange(1, 1, 2);
        cfg3->addOptimizationProfile(profile(*builder, mn, opt, mx));
        check(!std::unique_ptr<IEngine>(builder->buildEngine(*net, *cfg3)) && lastErrorHas(ErrorCode::kINVALID_ARGUMENT, "use one or the other"),
              "batch range together with profiles refused");
        std::unique_ptr<IBuilderConfig> cfg4(builder->createBuilderConfig());
        cfg4->setDevice(DeviceType::kCPU);
        check(!std::unique_ptr<IEngine>(builder->buildEngine(*net, *cfg4)) && lastErrorHas(ErrorCode::kINVALID_ARGUMENT, "dimension 2 is dynamic"),
              "a dynamic network without profiles refused");
    }

    return harness::finish(false);
}
