// INT8 calibration from C++ (issue 14): a C++ IInt8Calibrator through buildEngine (cache written once, then read
// without a batch being asked for; an error a calibrator records fails the build with it), and the optimizer
// passes keeping the calibrated ranges on the tensors that survive them (conv + BatchNorm-as-Scale + ReLU: the
// fused convolution writes the ReLU's output, which keeps the ReLU's range; sibling convolutions fused
// horizontally give the wide output the largest range; a removed no-op leaves its range on the tensor that
// replaces it). Prints "N passed, M failed".
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "builder/calibration.h"
#include "common/dims.h"
#include "gie/gie.h"
#include "ir/graph.h"
#include "network/network.h"
#include "passes/pass.h"

#include "test_check.h"

using namespace gie;
using namespace testcheck;

namespace {
Dims dims(std::initializer_list<int64_t> v) {
    Dims d;
    d.nbDims = static_cast<int32_t>(v.size());
    int i = 0;
    for (int64_t x : v) d.d[i++] = x;
    return d;
}

//! Batches of random inputs for one network input "x" of shape (batch, 3, 8, 8).
class VectorCalibrator final : public IInt8Calibrator {
public:
    VectorCalibrator(int nBatches, int batch, Algorithm a) : batch_(batch), algorithm_(a) {
        std::mt19937 rng(3);
        std::normal_distribution<float> nd(0.f, 1.f);
        for (int b = 0; b < nBatches; ++b) {
            std::vector<float> v(static_cast<size_t>(batch) * 3 * 8 * 8);
            for (float& x : v) x = nd(rng) * static_cast<float>(b + 1);
            batches_.push_back(std::move(v));
        }
    }
    int32_t getBatchSize() const noexcept override { return batch_; }
    bool getBatch(void* const* bindings, const char* const* names, const TensorDesc* inputs, int32_t n) noexcept override {
        ++calls;
        if (failAt == calls) {
            setLastError(ErrorCode::kINVALID_ARGUMENT, "camera unplugged");
            return false;
        }
        if (next_ >= batches_.size()) return false;
        if (n != 1 || std::strcmp(names[0], "x") != 0 || inputs[0].type != DataType::kFLOAT || inputs[0].dims.d[0] != batch_) {
            setLastError(ErrorCode::kINVALID_ARGUMENT, "unexpected input");
            return false;
        }
        std::memcpy(bindings[0], batches_[next_].data(), batches_[next_].size() * sizeof(float));
        ++next_;
        return true;
    }
    const void* readCalibrationCache(size_t& length) noexcept override {
        length = cacheIn.size();
        return cacheIn.empty() ? nullptr : cacheIn.data();
    }
    void writeCalibrationCache(const void* data, size_t length) noexcept override {
        cacheOut.assign(static_cast<const char*>(data), length);
        ++writes;
    }
    Algorithm getAlgorithm() const noexcept override { return algorithm_; }

    float maxAbsInput() const {
        float m = 0;
        for (const auto& b : batches_)
            for (float x : b) m = std::max(m, std::fabs(x));
        return m;
    }

    std::string cacheIn, cacheOut;
    int calls = 0, writes = 0, failAt = -1;

private:
    int32_t batch_;
    Algorithm algorithm_;
    std::vector<std::vector<float>> batches_;
    size_t next_ = 0;
};

std::vector<float> randomWeights(size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.f, 0.3f);
    std::vector<float> w(n);
    for (float& x : w) x = nd(rng);
    return w;
}

//! x -> conv 3x3 (pad 1) -> BatchNorm (a channel Scale) -> ReLU -> two sibling 1x1 convs -> max pools -> sum -> Identity
//! -> sigmoid -> out.
struct Net {
    std::unique_ptr<INetworkDefinition> net;
    std::vector<std::vector<float>> w;
    ITensor* identityOut = nullptr;
    Net(IBuilder& b) : net(b.createNetwork()) {
        w = {randomWeights(4 * 3 * 9, 1), randomWeights(4, 2), randomWeights(4, 3), randomWeights(4, 4), randomWeights(16, 5),
             randomWeights(16, 6)};
        for (float& s : w[3]) s = 1.f + std::fabs(s);
        ITensor* x = net->addInput("x", DataType::kFLOAT, dims({1, 3, 8, 8}));
        auto* conv = net->addConvolution(*x, 4, dims({3, 3}), {DataType::kFLOAT, w[0].data(), 4 * 3 * 9},
                                         {DataType::kFLOAT, w[1].data(), 4});
        conv->setPadding(dims({1, 1}));
        conv->getOutput(0)->setName("conv");
        auto* bn = net->addScale(*conv->getOutput(0), ScaleMode::kCHANNEL, {DataType::kFLOAT, w[2].data(), 4}, {DataType::kFLOAT, w[3].data(), 4},
                                 {});
        bn->getOutput(0)->setName("bn");
        auto* relu = net->addActivation(*bn->getOutput(0), ActivationType::kRELU);
        relu->getOutput(0)->setName("relu");
        auto* a = net->addConvolution(*relu->getOutput(0), 4, dims({1, 1}), {DataType::kFLOAT, w[4].data(), 16}, {});
        a->getOutput(0)->setName("a");
        auto* c = net->addConvolution(*relu->getOutput(0), 4, dims({1, 1}), {DataType::kFLOAT, w[5].data(), 16}, {});
        c->getOutput(0)->setName("c");
        // Pooling reads a channel slice on the CPU (so the siblings can merge) and keeps the add out of the convolutions.
        auto* pa = net->addPooling(*a->getOutput(0), PoolingType::kMAX, dims({2, 2}));
        auto* pc = net->addPooling(*c->getOutput(0), PoolingType::kMAX, dims({2, 2}));
        auto* sum = net->addElementWise(*pa->getOutput(0), *pc->getOutput(0), ElementWiseOperation::kSUM);
        sum->getOutput(0)->setName("sum");
        auto* id = net->addIdentity(*sum->getOutput(0));
        identityOut = id->getOutput(0);
        identityOut->setName("id");
        auto* out = net->addActivation(*identityOut, ActivationType::kSIGMOID);
        out->getOutput(0)->setName("out");
        net->markOutput(*out->getOutput(0));
    }
};

const IrTensor* findTensor(const Graph& g, const std::string& name) {
    for (const auto& t : g.tensors)
        if (t.name == name) return &t;
    return nullptr;
}

void testPassesKeepRanges(IBuilder& builder, ILogger& logger) {
    Net n(builder);
    n.identityOut->setDynamicRange(-7.f, 7.f);  // set by hand; the calibrated value of "sum" is elsewhere
    VectorCalibrator cal(3, 2, IInt8Calibrator::Algorithm::kMINMAX);
    CalibrationResult r = calibrateNetwork(*n.net, cal, &logger, false);
    check(r.batches == 3 && cal.writes == 1, "three batches calibrated, the cache written once");
    check(r.amax.at("x") == cal.maxAbsInput(), "minmax range of the input is its max |x| over all batches");
    check(r.amax.at("id") == 7.f && r.calibrated.at("id") != 7.f, "a range set by hand wins over the calibrated one");
    check(r.amax.at("relu") <= r.amax.at("bn"), "ReLU range <= BatchNorm range");

    Graph g = Graph::fromNetwork(*static_cast<NetworkImpl*>(n.net.get()), 2);
    const int applied = applyDynamicRanges(g, r.amax);
    check(applied == static_cast<int>(r.amax.size()) - 1, "every float tensor but the hand-set one gets the calibrated range");
    check(findTensor(g, "id")->dynamicRange == 7.f, "the hand-set range stays");
    PassContext ctx;
    for (auto& pass : makeAllPasses()) pass->run(g, ctx);
    int convs = 0;
    for (const auto& node : g.nodes)
        if (!node.dead && node.type == "Convolution") ++convs;
    check(convs == 2, "conv + BN + ReLU became one convolution and the siblings another (" + std::to_string(convs) + ")");
    check(!findTensor(g, "conv") && !findTensor(g, "bn"), "the conv and BN outputs are gone (folded, fused)");
    const IrTensor* relu = findTensor(g, "relu");
    check(relu && relu->dynamicRange == r.amax.at("relu"), "the fused convolution's output (the ReLU's) keeps the ReLU's range");
    check(findTensor(g, "x")->dynamicRange == r.amax.at("x"), "the input keeps its range");
    const IrTensor* a = findTensor(g, "a");
    const IrTensor* c = findTensor(g, "c");
    check(a && c && a->viewOf >= 0 && a->viewOf == c->viewOf, "the sibling 1x1 convolutions were fused horizontally");
    if (a && c && a->viewOf >= 0) {
        const float wide = g.tensors[static_cast<size_t>(a->viewOf)].dynamicRange;
        check(wide == std::max(r.amax.at("a"), r.amax.at("c")), "the wide output's range is the largest of its slices'");
        check(a->dynamicRange == r.amax.at("a") && c->dynamicRange == r.amax.at("c"), "each slice keeps its own range");
    }
    check(!findTensor(g, "id"), "the Identity was removed");
    const IrTensor* sum = findTensor(g, "sum");
    check(sum && sum->dynamicRange == r.amax.at("sum"), "the Identity's input keeps its own range");
}

void testRemovedNoopLeavesItsRange(IBuilder& builder) {
    Net n(builder);
    n.identityOut->setDynamicRange(-7.f, 7.f);  // only the no-op's output has a range
    Graph g = Graph::fromNetwork(*static_cast<NetworkImpl*>(n.net.get()), 1);
    PassContext ctx;
    for (auto& pass : makeAllPasses()) pass->run(g, ctx);
    const IrTensor* sum = findTensor(g, "sum");
    check(!findTensor(g, "id") && sum && sum->dynamicRange == 7.f, "a removed Identity leaves its range on the tensor that replaces it");
}

void testBuilderUsesTheCalibrator(IBuilder& builder) {
    Net n(builder);
    std::unique_ptr<IBuilderConfig> cfg(builder.createBuilderConfig());
    cfg->setDevice(DeviceType::kCPU);
    cfg->setFlag(BuilderFlag::kINT8);
    VectorCalibrator first(2, 3, IInt8Calibrator::Algorithm::kENTROPY);
    cfg->setInt8Calibrator(&first);
    std::unique_ptr<IEngine> e(builder.buildEngine(*n.net, *cfg));
    check(e && first.calls == 3 && first.writes == 1, "the build calibrates (2 batches + the end) and writes the cache");
    check(first.cacheOut.rfind("gie-calibration-cache 1\n", 0) == 0 && first.cacheOut.find("\nalgorithm entropy\n") != std::string::npos,
          "the cache names itself and the algorithm");

    VectorCalibrator again(2, 3, IInt8Calibrator::Algorithm::kENTROPY);
    again.cacheIn = first.cacheOut;
    cfg->setInt8Calibrator(&again);
    e.reset(builder.buildEngine(*n.net, *cfg));
    check(e && again.calls == 0 && again.writes == 0, "with the cache the build asks for no batch and writes nothing");

    VectorCalibrator minmax(2, 3, IInt8Calibrator::Algorithm::kMINMAX);
    minmax.cacheIn = first.cacheOut;
    cfg->setInt8Calibrator(&minmax);
    e.reset(builder.buildEngine(*n.net, *cfg));
    const char* msg = nullptr;
    const ErrorCode code = getLastError(&msg);
    check(!e && code == ErrorCode::kINVALID_ARGUMENT && msg && std::strstr(msg, "'entropy' algorithm, but the calibrator asks for 'minmax'"),
          "a cache of another algorithm is refused, saying so");

    VectorCalibrator failing(2, 3, IInt8Calibrator::Algorithm::kENTROPY);
    failing.failAt = 2;
    cfg->setInt8Calibrator(&failing);
    e.reset(builder.buildEngine(*n.net, *cfg));
    const ErrorCode code2 = getLastError(&msg);
    check(!e && code2 == ErrorCode::kINVALID_ARGUMENT && msg && std::strstr(msg, "getBatch (batch 2) failed: camera unplugged"),
          "an error the calibrator records fails the build with it");

    cfg->clearFlag(BuilderFlag::kINT8);
    VectorCalibrator unused(2, 3, IInt8Calibrator::Algorithm::kENTROPY);
    cfg->setInt8Calibrator(&unused);
    e.reset(builder.buildEngine(*n.net, *cfg));
    check(e && unused.calls == 0, "without the INT8 flag the calibrator is not used");
}

//! Batches of 2 for "x" (N, 3, H, W) with dynamic H and W: getBatchShapes gives each batch's (H, W) from `sizes` in
//! turn (sizes empty: it leaves the -1s, so the build takes profile 0's opt); records what it was asked and given.
class ShapesCalibrator final : public IInt8Calibrator {
public:
    explicit ShapesCalibrator(std::vector<std::pair<int64_t, int64_t>> sizes, int nBatches) : sizes_(std::move(sizes)), left_(nBatches) {}
    int32_t getBatchSize() const noexcept override { return 2; }
    bool getBatchShapes(const char* const*, Dims* shapes, int32_t n) noexcept override {
        asked.push_back(shapes[0]);
        if (n == 1 && !sizes_.empty()) {
            shapes[0].d[2] = sizes_[next_ % sizes_.size()].first;
            shapes[0].d[3] = sizes_[next_ % sizes_.size()].second;
        }
        ++next_;
        return true;
    }
    bool getBatch(void* const* bindings, const char* const*, const TensorDesc* inputs, int32_t) noexcept override {
        if (left_-- == 0) return false;
        given.push_back(inputs[0].dims);
        const int64_t n = inputs[0].dims.d[0] * inputs[0].dims.d[1] * inputs[0].dims.d[2] * inputs[0].dims.d[3];
        for (int64_t i = 0; i < n; ++i) static_cast<float*>(bindings[0])[i] = static_cast<float>((i * 7919) % 201 - 100) / 100.f;
        return true;
    }
    const void* readCalibrationCache(size_t& length) noexcept override {
        length = 0;
        return nullptr;
    }
    void writeCalibrationCache(const void*, size_t) noexcept override {}
    Algorithm getAlgorithm() const noexcept override { return Algorithm::kMINMAX; }
    std::vector<Dims> asked, given;

private:
    std::vector<std::pair<int64_t, int64_t>> sizes_;
    size_t next_ = 0;
    int left_;
};

void testDynamicShapesCalibration(IBuilder& builder) {
    std::unique_ptr<INetworkDefinition> net(builder.createNetwork());
    const std::vector<float> w = randomWeights(4 * 3 * 9, 7);
    ITensor* x = net->addInput("x", DataType::kFLOAT, dims({-1, 3, -1, -1}));
    auto* conv = net->addConvolution(*x, 4, dims({3, 3}), {DataType::kFLOAT, w.data(), 4 * 3 * 9}, {});
    conv->setPadding(dims({1, 1}));
    net->markOutput(*conv->getOutput(0));
    std::unique_ptr<IBuilderConfig> cfg(builder.createBuilderConfig());
    cfg->setDevice(DeviceType::kCPU);
    cfg->setFlag(BuilderFlag::kINT8);
    IOptimizationProfile* p = builder.createOptimizationProfile();
    p->setDimensions("x", OptProfileSelector::kMIN, dims({1, 3, 8, 8}));
    p->setDimensions("x", OptProfileSelector::kOPT, dims({2, 3, 16, 12}));
    p->setDimensions("x", OptProfileSelector::kMAX, dims({2, 3, 32, 32}));
    cfg->addOptimizationProfile(p);

    ShapesCalibrator two({{8, 8}, {24, 20}}, 2);
    cfg->setInt8Calibrator(&two);
    std::unique_ptr<IEngine> e(builder.buildEngine(*net, *cfg));
    check(e && two.given.size() == 2 && two.given[0] == dims({2, 3, 8, 8}) && two.given[1] == dims({2, 3, 24, 20}),
          "each batch runs at the shapes getBatchShapes gave");
    check(!two.asked.empty() && two.asked[0] == dims({2, 3, -1, -1}), "getBatchShapes is asked with -1 at the dynamic dimensions");

    ShapesCalibrator defaults({}, 1);
    cfg->setInt8Calibrator(&defaults);
    e.reset(builder.buildEngine(*net, *cfg));
    check(e && defaults.given.size() == 1 && defaults.given[0] == dims({2, 3, 16, 12}), "a -1 left takes profile 0's opt");

    ShapesCalibrator outside({{8, 40}}, 1);
    cfg->setInt8Calibrator(&outside);
    e.reset(builder.buildEngine(*net, *cfg));
    const char* msg = nullptr;
    const ErrorCode code = getLastError(&msg);
    check(!e && code == ErrorCode::kINVALID_ARGUMENT && msg &&
              std::strstr(msg, "input 'x' dimension 3 of calibration batch 1 is 40, outside every optimization profile (profile 0: [8, 32])"),
          std::string("a batch outside every profile is refused naming the input, the dimension and the range: ") + (msg ? msg : ""));
}

}  // namespace

int main() {
    QuietLogger logger;
    std::unique_ptr<IBuilder> builder(createBuilder(logger));
    try {
        testPassesKeepRanges(*builder, logger);
        testRemovedNoopLeavesItsRange(*builder);
        testBuilderUsesTheCalibrator(*builder);
        testDynamicShapesCalibration(*builder);
    } catch (const std::exception& e) {
        check(false, std::string("exception: ") + e.what());
    }
    return finish();
}
