// A native program that defines a plugin inside itself and uses it through
// INetworkDefinition::addPluginLayer (no plugin library, no load_library): tests/test_plugins.py compiles
// it against the installed headers and libgie.so and runs it.
//
//   c++ -std=c++17 -O2 -pthread -I<gie.include_dir()> plugin_layer_app.cpp -L<gie.library_dir()> -lgie
//       -Wl,-rpath,<gie.library_dir()> -o plugin_layer_app && ./plugin_layer_app
//
// AppAffine: y = a * x + b (a, b held by the instance and serialized into the engine). The program
//   1. registers its creator with getPluginRegistry()->registerCreator (a second registration fails),
//   2. checks that deserializePlugin rejects malformed bytes without crashing,
//   3. builds data -> AppAffine -> ReLU, serializes, deserializes with a runtime,
//   4. runs two execution contexts on two threads at once (enqueue is const and shared) and checks
//      both against a plain C++ reference, with batches 3 and 1.
// Exit status 0 when every check passes.
#include <gie/gie.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

namespace {

class Logger : public gie::ILogger {
public:
    void log(Severity s, const char* msg) noexcept override {
        if (s <= Severity::kWARNING) std::fprintf(stderr, "[gie] %s\n", msg);
    }
};

int failures = 0;
void expect(bool ok, const char* what) {
    if (ok) return;
    const char* msg = nullptr;
    gie::ErrorCode code = gie::getLastError(&msg);
    std::fprintf(stderr, "FAILED: %s (last error %s: %s)\n", what, gie::errorCodeName(code), msg ? msg : "");
    ++failures;
}

class AppAffine final : public gie::IPlugin {
public:
    AppAffine(float a, float b) : a_(a), b_(b) {}
    const char* getPluginType() const noexcept override { return "AppAffine"; }
    const char* getPluginVersion() const noexcept override { return "2"; }
    gie::IPlugin* clone() const noexcept override { return new (std::nothrow) AppAffine(*this); }
    int32_t getNbOutputs() const noexcept override { return 1; }
    int32_t getOutputDimensions(const gie::Dims* in, int32_t nbInputs, gie::Dims* out) const noexcept override {
        if (nbInputs != 1) return -1;
        out[0] = in[0];
        return 0;
    }
    bool supportsFormatCombination(int32_t pos, const gie::TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        return inOut[pos].type == gie::DataType::kFLOAT && inOut[pos].format == gie::TensorFormat::kLINEAR;
    }
    int32_t enqueue(const gie::TensorDesc* inDesc, const gie::TensorDesc*, const void* const* inputs, void* const* outputs,
                    void*, void*) const noexcept override {
        int64_t n = 1;
        for (int32_t i = 0; i < inDesc[0].dims.nbDims; ++i) n *= inDesc[0].dims.d[i];
        const float* x = static_cast<const float*>(inputs[0]);
        float* y = static_cast<float*>(outputs[0]);
        for (int64_t i = 0; i < n; ++i) y[i] = a_ * x[i] + b_;
        return 0;
    }
    size_t getSerializationSize() const noexcept override { return 2 * sizeof(float); }
    void serialize(void* buffer) const noexcept override {
        const float v[2] = {a_, b_};
        std::memcpy(buffer, v, sizeof v);
    }

private:
    float a_, b_;
};

class AppAffineCreator final : public gie::IPluginCreator {
public:
    const char* getPluginName() const noexcept override { return "AppAffine"; }
    const char* getPluginVersion() const noexcept override { return "2"; }
    gie::DeviceType getDeviceType() const noexcept override { return gie::DeviceType::kCPU; }
    const gie::PluginFieldCollection* getFieldNames() noexcept override { return &fc_; }
    gie::IPlugin* createPlugin(const char*, const gie::PluginFieldCollection*) noexcept override {
        // Only made as an instance (addPluginLayer) in this program.
        gie::setLastError(gie::ErrorCode::kUNSUPPORTED, "AppAffine is made with addPluginLayer, not from fields");
        return nullptr;
    }
    gie::IPlugin* deserializePlugin(const char*, const void* data, size_t length) noexcept override {
        if (!data || length != 2 * sizeof(float)) {
            gie::setLastError(gie::ErrorCode::kINVALID_ENGINE, "AppAffine: expected 8 bytes of fields");
            return nullptr;
        }
        float v[2];
        std::memcpy(v, data, sizeof v);
        if (!std::isfinite(v[0]) || !std::isfinite(v[1])) {
            gie::setLastError(gie::ErrorCode::kINVALID_ENGINE, "AppAffine: non-finite coefficients");
            return nullptr;
        }
        return new (std::nothrow) AppAffine(v[0], v[1]);
    }

private:
    gie::PluginFieldCollection fc_{};
};

AppAffineCreator gCreator;  // static storage: outlives every use

std::vector<float> reference(const std::vector<float>& x, float a, float b) {
    std::vector<float> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = std::max(a * x[i] + b, 0.0f);
    return y;
}

bool runBatch(gie::IEngine& engine, int64_t batch, float a, float b, int seed) {
    std::unique_ptr<gie::IExecutionContext> ctx(engine.createExecutionContext());
    if (!ctx) return false;
    std::vector<float> x(static_cast<size_t>(batch * 4 * 5));
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((static_cast<int>(i) * 7 + seed * 13) % 23) / 5.0f - 2.0f;
    std::vector<float> y(x.size(), -99.0f);
    bool ok = ctx->setInputShape("data", gie::dims3(batch, 4, 5)) && ctx->setTensorAddress("data", x.data()) &&
              ctx->setTensorAddress("out", y.data());
    for (int rep = 0; ok && rep < 20; ++rep) ok = ctx->execute();
    if (!ok) return false;
    const std::vector<float> ref = reference(x, a, b);
    for (size_t i = 0; i < y.size(); ++i)
        if (std::fabs(y[i] - ref[i]) > 1e-6f) {
            std::fprintf(stderr, "mismatch at %zu: %g vs %g\n", i, y[i], ref[i]);
            return false;
        }
    return true;
}

}  // namespace

int main() {
    Logger logger;
    const float a = 1.5f, b = -0.25f;

    // 1. Register the creator: engines holding AppAffine are deserialized through it.
    gie::IPluginRegistry* reg = gie::getPluginRegistry();
    expect(reg->registerCreator(gCreator), "registerCreator");
    expect(!reg->registerCreator(gCreator), "a second registration of the same creator must fail");
    gie::clearLastError();
    expect(reg->getCreator("AppAffine", "2", gie::DeviceType::kCPU) == &gCreator, "getCreator finds AppAffine");

    // 2. Malformed bytes are rejected, not trusted.
    const float good[2] = {a, b};
    expect(gCreator.deserializePlugin("x", good, 4) == nullptr, "deserializePlugin rejects a truncated buffer");
    expect(gCreator.deserializePlugin("x", nullptr, 8) == nullptr, "deserializePlugin rejects a null buffer");
    std::unique_ptr<gie::IPlugin> probe(gCreator.deserializePlugin("x", good, sizeof good));
    expect(probe != nullptr, "deserializePlugin accepts its own bytes");

    // 3. data -> AppAffine -> ReLU -> out; build, serialize, deserialize.
    std::unique_ptr<gie::IBuilder> builder(gie::createBuilder(logger));
    std::unique_ptr<gie::INetworkDefinition> net(builder->createNetwork());
    gie::ITensor* data = net->addInput("data", gie::DataType::kFLOAT, gie::dims3(3, 4, 5));
    AppAffine plugin(a, b);
    gie::ITensor* inputs[] = {data};
    gie::ILayer* affine = net->addPluginLayer(inputs, 1, plugin);
    expect(affine != nullptr, "addPluginLayer");
    if (!affine) return 1;
    affine->setName("affine");
    expect(std::string(affine->getType()) == "AppAffine", "the plugin layer's type is the plugin's type name");
    gie::IActivationLayer* relu = net->addActivation(*affine->getOutput(0), gie::ActivationType::kRELU);
    expect(relu != nullptr, "addActivation");
    if (!relu) return 1;
    relu->getOutput(0)->setName("out");
    expect(net->markOutput(*relu->getOutput(0)), "markOutput");

    std::unique_ptr<gie::IBuilderConfig> config(builder->createBuilderConfig());
    config->setDevice(gie::DeviceType::kCPU);
    expect(config->setBatchRange(1, 3, 3), "setBatchRange");
    std::unique_ptr<gie::IEngine> built(builder->buildEngine(*net, *config));
    expect(built != nullptr, "buildEngine");
    if (!built) return 1;
    std::unique_ptr<gie::IHostMemory> blob(built->serialize());
    expect(blob != nullptr, "serialize");
    if (!blob) return 1;
    std::vector<char> bytes(static_cast<const char*>(blob->data()), static_cast<const char*>(blob->data()) + blob->size());
    built.reset();
    net.reset();  // the engine file alone must be enough

    std::unique_ptr<gie::IRuntime> runtime(gie::createRuntime(logger));
    std::unique_ptr<gie::IEngine> engine(runtime->deserializeEngine(bytes.data(), bytes.size()));
    expect(engine != nullptr, "deserializeEngine");
    if (!engine) return 1;

    // 4. Two contexts on two threads share the one AppAffine instance of the engine.
    bool ok1 = false, ok3 = false;
    std::thread t1([&] { ok3 = runBatch(*engine, 3, a, b, 1); });
    std::thread t2([&] { ok1 = runBatch(*engine, 1, a, b, 2); });
    t1.join();
    t2.join();
    expect(ok3, "batch 3 on thread 1 matches the reference");
    expect(ok1, "batch 1 on thread 2 matches the reference");

    // Without the creator, the same engine file cannot be loaded, and the error names the plugin.
    engine.reset();
    expect(reg->deregisterCreator(gCreator), "deregisterCreator");
    std::unique_ptr<gie::IEngine> missing(runtime->deserializeEngine(bytes.data(), bytes.size()));
    const char* msg = nullptr;
    const gie::ErrorCode code = gie::getLastError(&msg);
    expect(missing == nullptr && code == gie::ErrorCode::kUNSUPPORTED && msg && std::strstr(msg, "AppAffine"),
           "deserializing without the creator fails with UNSUPPORTED naming AppAffine");

    std::printf("%s\n", failures == 0 ? "PASSED" : "FAILED");
    return failures == 0 ? 0 : 1;
}
