// Run-time shape tensors (issue 15 phase 2) through the C++ API on the CPU backend:
//   - addShape gives a shape tensor (isShapeTensor, its own shape (rank,), getShapeValue with -1 where dynamic);
//   - ShapeOp layers (addLayer) compute (N * L, -1) on the host; a Shuffle takes it through setInput(1, ...) and the
//     engine reshapes at every shape of the profile, also after serialize / deserialize;
//   - a shape tensor where a layer reads data, or as a network output, is refused.
// Prints "N passed, M failed".
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "gie/gie.h"
#include "plugin_harness.h"

using namespace gie;

namespace {
using harness::check;
using testcheck::QuietLogger;

Dims dims(std::vector<int64_t> v) { return makeDims(static_cast<int32_t>(v.size()), v.data()); }

ITensor* shapeOp(INetworkDefinition& net, std::vector<ITensor*> in, std::vector<std::pair<const char*, std::vector<int64_t>>> fields) {
    std::vector<PluginField> fs;
    for (auto& f : fields) {
        PluginField p;
        p.name = f.first;
        p.data = f.second.data();
        p.type = PluginFieldType::kINT64;
        p.length = static_cast<int64_t>(f.second.size());
        fs.push_back(p);
    }
    PluginFieldCollection fc{static_cast<int32_t>(fs.size()), fs.data()};
    ILayer* l = net.addLayer("ShapeOp", in.data(), static_cast<int32_t>(in.size()), &fc);
    return l ? l->getOutput(0) : nullptr;
}

bool runs(IEngine& e, const Dims& shape) {
    std::unique_ptr<IExecutionContext> ctx(e.createExecutionContext());
    if (!ctx->setInputShape("x", shape)) return false;
    const Dims ys = ctx->getTensorShape("y");
    const int64_t n = shape.d[0] * shape.d[1] * shape.d[2];
    if (ys.nbDims != 2 || ys.d[0] != shape.d[0] * shape.d[1] || ys.d[1] != shape.d[2]) return false;
    std::vector<float> x(static_cast<size_t>(n)), y(static_cast<size_t>(n), -1.f);
    for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = static_cast<float>(i);
    ctx->setTensorAddress("x", x.data());
    ctx->setTensorAddress("y", y.data());
    return ctx->execute() && x == y;
}
}  // namespace

int main() {
    QuietLogger logger;
    std::unique_ptr<IBuilder> builder(createBuilder(logger));
    std::unique_ptr<INetworkDefinition> net(builder->createNetwork());
    ITensor* x = net->addInput("x", DataType::kFLOAT, dims({-1, -1, 4}));
    ILayer* shapeLayer = net->addShape(*x);
    ITensor* s = shapeLayer ? shapeLayer->getOutput(0) : nullptr;
    check(s && s->isShapeTensor() && s->getDimensions().nbDims == 1 && s->getDimensions().d[0] == 3, "addShape: a shape tensor of shape (3,)");
    const Dims v = s ? s->getShapeValue() : Dims{};
    check(v.nbDims == 3 && v.d[0] == -1 && v.d[1] == -1 && v.d[2] == 4, "getShapeValue: -1 where the input is dynamic");
    check(!x->isShapeTensor() && x->getShapeValue().nbDims == -1, "a data tensor is not a shape tensor");
    ITensor* nl = shapeOp(*net, {s}, {{"op", {5}}, {"start", {0}}, {"end", {2}}});
    ITensor* prod = shapeOp(*net, {nl}, {{"op", {7}}, {"reduce", {1}}});
    ITensor* minus1 = shapeOp(*net, {}, {{"op", {1}}, {"values", {-1}}});
    ITensor* target = shapeOp(*net, {prod, minus1}, {{"op", {4}}});
    check(target && target->getDimensions().d[0] == 2, "ShapeOp CONCAT of two values");
    IShuffleLayer* sh = net->addShuffle(*x);
    check(sh && sh->setInput(1, *target), "Shuffle::setInput(1, shape tensor) appends the run-time reshape");
    ITensor* y = sh->getOutput(0);
    const Dims yd = y->getDimensions();
    check(yd.nbDims == 2 && yd.d[0] == -1 && yd.d[1] == 4, "the reshaped tensor: (N * L, 4), dynamic where it follows N and L");
    check(!net->markOutput(*s), "a shape tensor is not a network output");
    check(!net->addActivation(*s, ActivationType::kRELU), "a layer that reads data refuses a shape tensor");
    y->setName("y");
    net->markOutput(*y);
    std::unique_ptr<IBuilderConfig> cfg(builder->createBuilderConfig());
    cfg->setDevice(DeviceType::kCPU);
    IOptimizationProfile* p = builder->createOptimizationProfile();
    p->setDimensions("x", OptProfileSelector::kMIN, dims({1, 1, 4}));
    p->setDimensions("x", OptProfileSelector::kOPT, dims({2, 3, 4}));
    p->setDimensions("x", OptProfileSelector::kMAX, dims({4, 8, 4}));
    cfg->addOptimizationProfile(p);
    std::unique_ptr<IEngine> e(builder->buildEngine(*net, *cfg));
    check(e && runs(*e, dims({1, 1, 4})) && runs(*e, dims({3, 5, 4})) && runs(*e, dims({4, 8, 4})), "the run-time reshape at three shapes");
    if (e) {
        std::unique_ptr<IHostMemory> m(e->serialize());
        std::unique_ptr<IRuntime> rt(createRuntime(logger));
        std::unique_ptr<IEngine> back(rt->deserializeEngine(m->data(), m->size()));
        check(back && runs(*back, dims({2, 7, 4})), "the shape program survives serialize / deserialize");
    }
    return harness::finish(false);
}
