// The C++ refit API (gie/engine.h IRefitter, issue 18): an FC engine built with BuilderFlag::kREFIT takes new
// weights by layer name and computes with them in a new engine, the original unchanged; mismatches and an engine
// built without the flag are refused with kINVALID_ARGUMENT naming the layer. Public API only.
// Prints "N passed, M failed".
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gie/gie.h"

#include "test_check.h"

using namespace gie;
using namespace testcheck;

namespace {
//! y = W x + b with x (1, 3), W (2, 3), b (2).
std::unique_ptr<IEngine> buildFc(ILogger& logger, bool refittable, const std::vector<float>& w, const std::vector<float>& b) {
    std::unique_ptr<IBuilder> builder(createBuilder(logger));
    std::unique_ptr<INetworkDefinition> net(builder->createNetwork());
    const int64_t d[2] = {1, 3};
    ITensor* x = net->addInput("x", DataType::kFLOAT, makeDims(2, d));
    ILayer* fc = net->addFullyConnected(*x, 2, Weights{DataType::kFLOAT, w.data(), 6}, Weights{DataType::kFLOAT, b.data(), 2});
    fc->setName("fc");
    fc->getOutput(0)->setName("y");
    net->markOutput(*fc->getOutput(0));
    std::unique_ptr<IBuilderConfig> cfg(builder->createBuilderConfig());
    cfg->setDevice(DeviceType::kCPU);
    if (refittable) cfg->setFlag(BuilderFlag::kREFIT);
    return std::unique_ptr<IEngine>(builder->buildEngine(*net, *cfg));
}

std::vector<float> run(IEngine& e, std::vector<float> x) {
    std::vector<float> y(2, NAN);
    std::unique_ptr<IExecutionContext> ctx(e.createExecutionContext());
    ctx->setTensorAddress("x", x.data());
    ctx->setTensorAddress("y", y.data());
    if (!ctx->execute()) y.assign(2, NAN);
    return y;
}

bool lastErrorHas(ErrorCode code, const char* text) {
    const char* msg = nullptr;
    return getLastError(&msg) == code && msg && std::strstr(msg, text);
}
}  // namespace

int main() {
    QuietLogger logger;
    const std::vector<float> w = {1, 2, 3, 4, 5, 6}, b = {0.5f, -1}, x = {1, -1, 2};
    std::unique_ptr<IEngine> plain = buildFc(logger, false, w, b);
    check(plain != nullptr, "build without kREFIT");
    std::unique_ptr<IRefitter> none(createRefitter(*plain, logger));
    check(!none && lastErrorHas(ErrorCode::kINVALID_ARGUMENT, "not built refittable"), "an engine built without kREFIT is refused");

    std::unique_ptr<IEngine> engine = buildFc(logger, true, w, b);
    check(engine != nullptr, "build with kREFIT");
    std::unique_ptr<IRefitter> r(createRefitter(*engine, logger));
    check(r != nullptr, "createRefitter");
    const std::vector<float> w2 = {0, 1, 0, 1, 0, 0}, b2 = {10, 20};
    check(r->setWeights("fc", "kernel", w2.data(), 6), "setWeights kernel");
    check(r->setWeights("fc", "bias", b2.data(), 2), "setWeights bias");
    check(!r->setWeights("fc", "kernel", w2.data(), 5) && lastErrorHas(ErrorCode::kINVALID_ARGUMENT, "layer 'fc' field 'kernel': 5 values"),
          "a count mismatch is refused naming the layer");
    check(!r->setWeights("fc2", "kernel", w2.data(), 6) && lastErrorHas(ErrorCode::kINVALID_ARGUMENT, "named 'fc2'"), "an unknown layer is refused");
    std::unique_ptr<IEngine> refitted(r->refitEngine());
    check(refitted != nullptr, "refitEngine");
    if (refitted) {
        const std::vector<float> y = run(*refitted, x);  // W2 x + b2 = (-1 + 10, 1 + 20)
        check(y[0] == 9 && y[1] == 21, "the refitted engine computes with the new weights");
    }
    const std::vector<float> y0 = run(*engine, x);  // W x + b = (1 - 2 + 6 + 0.5, 4 - 5 + 12 - 1)
    check(y0[0] == 5.5f && y0[1] == 10, "the original engine is unchanged");
    return finish();
}
