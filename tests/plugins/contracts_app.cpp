// Contracts of the public C++ API that only a native program can check (issue 11 item 12): what the headers
// promise about call counts, pointer lifetimes and threads. tests/test_contracts.py compiles it against the
// installed headers and libgie.so and runs one check per process:
//
//   c++ -std=c++17 -O2 -pthread -I<gie.include_dir()> contracts_app.cpp -L<gie.library_dir()> -lgie
//       -Wl,-rpath,<gie.library_dir()> -o contracts_app && ./contracts_app CHECK
//
//   configure-once     IPlugin::configure runs once per instance: once at build, once at engine load
//   creators-snapshot  an array from getAllCreators keeps its contents across later (de)registrations
//   long-versions      version lookup with 20- and 21-digit versions (std::stoll used to abort the process)
//   field-pointers     ILayer::getField pointers stay valid beyond 64 calls and track the field's value
//   report-threads     getLayerInformation from many threads at once: one string, the same for all
//   serialize-threads  IEngine::serialize from many threads at once: identical bytes
//
// Prints "PASSED" and exits 0 when every check of CHECK passes.
#include <gie/gie.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
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

std::atomic<int> failures{0};
void expect(bool ok, const std::string& what) {
    if (ok) return;
    const char* msg = nullptr;
    gie::ErrorCode code = gie::getLastError(&msg);
    std::fprintf(stderr, "FAILED: %s (last error %s: %s)\n", what.c_str(), gie::errorCodeName(code), msg ? msg : "");
    ++failures;
}

//! Runs fn(i) on n threads that all start at the same moment.
void onThreads(int n, const std::function<void(int)>& fn) {
    std::mutex mu;
    std::condition_variable cv;
    int ready = 0;
    bool go = false;
    std::vector<std::thread> ts;
    for (int i = 0; i < n; ++i)
        ts.emplace_back([&, i] {
            {
                std::unique_lock<std::mutex> lock(mu);
                if (++ready == n) {
                    go = true;
                    cv.notify_all();
                }
                cv.wait(lock, [&] { return go; });
            }
            fn(i);
        });
    for (auto& t : ts) t.join();
}

// ---- configure-once: a plugin that counts configure calls ------------------------------------------

std::atomic<int> gConfigures{0};
std::atomic<int> gBadOrder{0};  // initialize or enqueue before configure, or configure twice on one instance

//! y = x + 1. The element count per batch item is taken at configure, so an unconfigured instance fails.
class CountConfigure final : public gie::IPlugin {
public:
    const char* getPluginType() const noexcept override { return "CountConfigure"; }
    const char* getPluginVersion() const noexcept override { return "1"; }
    gie::IPlugin* clone() const noexcept override { return new (std::nothrow) CountConfigure(*this); }
    int32_t getNbOutputs() const noexcept override { return 1; }
    int32_t getOutputDimensions(const gie::Dims* in, int32_t nbInputs, gie::Dims* out) const noexcept override {
        if (nbInputs != 1) return -1;
        out[0] = in[0];
        return 0;
    }
    bool supportsFormatCombination(int32_t pos, const gie::TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        return inOut[pos].type == gie::DataType::kFLOAT && inOut[pos].format == gie::TensorFormat::kLINEAR;
    }
    int32_t configure(const gie::TensorDesc* in, int32_t, const gie::TensorDesc*, int32_t) noexcept override {
        ++gConfigures;
        if (++configures_ > 1) ++gBadOrder;
        item_ = 1;
        for (int32_t i = 1; i < in[0].dims.nbDims; ++i) item_ *= in[0].dims.d[i];
        return 0;
    }
    int32_t initialize() noexcept override {
        if (configures_ == 0) ++gBadOrder;
        return 0;
    }
    int32_t enqueue(const gie::TensorDesc* inDesc, const gie::TensorDesc*, const void* const* inputs, void* const* outputs, void*,
                    void*) const noexcept override {
        if (item_ == 0) return -1;
        const int64_t n = inDesc[0].dims.d[0] * item_;
        for (int64_t i = 0; i < n; ++i) static_cast<float*>(outputs[0])[i] = static_cast<const float*>(inputs[0])[i] + 1.0f;
        return 0;
    }
    size_t getSerializationSize() const noexcept override { return 0; }
    void serialize(void*) const noexcept override {}

private:
    int configures_ = 0;
    int64_t item_ = 0;
};

template <typename P>
class SimpleCreator final : public gie::IPluginCreator {
public:
    SimpleCreator(const char* name, const char* version) : name_(name), version_(version) {}
    const char* getPluginName() const noexcept override { return name_; }
    const char* getPluginVersion() const noexcept override { return version_; }
    gie::DeviceType getDeviceType() const noexcept override { return gie::DeviceType::kCPU; }
    const gie::PluginFieldCollection* getFieldNames() noexcept override { return &fc_; }
    gie::IPlugin* createPlugin(const char*, const gie::PluginFieldCollection*) noexcept override { return new (std::nothrow) P(); }
    gie::IPlugin* deserializePlugin(const char*, const void*, size_t) noexcept override { return new (std::nothrow) P(); }

private:
    const char* name_;
    const char* version_;
    gie::PluginFieldCollection fc_{};
};

SimpleCreator<CountConfigure> gCountCreator("CountConfigure", "1");

bool runOnce(gie::IEngine& engine, const char* what) {
    std::unique_ptr<gie::IExecutionContext> ctx(engine.createExecutionContext());
    std::vector<float> x(2 * 6), y(x.size(), 0.0f);
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
    bool ok = ctx && ctx->setInputShape("x", gie::dims2(2, 6)) && ctx->setTensorAddress("x", x.data()) &&
              ctx->setTensorAddress("y", y.data()) && ctx->execute();
    for (size_t i = 0; ok && i < y.size(); ++i) ok = y[i] == x[i] + 1.0f;
    expect(ok, std::string(what) + ": the plugin computes x + 1");
    return ok;
}

void checkConfigureOnce(Logger& logger) {
    expect(gie::getPluginRegistry()->registerCreator(gCountCreator), "registerCreator");
    std::unique_ptr<gie::IBuilder> builder(gie::createBuilder(logger));
    std::unique_ptr<gie::INetworkDefinition> net(builder->createNetwork());
    gie::ITensor* x = net->addInput("x", gie::DataType::kFLOAT, gie::dims2(2, 6));
    CountConfigure plugin;
    gie::ITensor* inputs[] = {x};
    gie::ILayer* l = net->addPluginLayer(inputs, 1, plugin);
    expect(l != nullptr, "addPluginLayer");
    if (!l) return;
    l->getOutput(0)->setName("y");
    net->markOutput(*l->getOutput(0));
    std::unique_ptr<gie::IBuilderConfig> config(builder->createBuilderConfig());
    config->setDevice(gie::DeviceType::kCPU);
    config->setBatchRange(1, 2, 2);
    expect(gConfigures == 0, "no configure while the network is defined");
    std::unique_ptr<gie::IEngine> engine(builder->buildEngine(*net, *config));
    expect(engine != nullptr, "buildEngine");
    if (!engine) return;
    expect(gConfigures == 1, "configure runs once at build (it ran " + std::to_string(gConfigures.load()) + " times)");
    runOnce(*engine, "built engine");
    std::unique_ptr<gie::IHostMemory> blob(engine->serialize());
    std::unique_ptr<gie::IRuntime> runtime(gie::createRuntime(logger));
    std::unique_ptr<gie::IEngine> loaded(runtime->deserializeEngine(blob->data(), blob->size()));
    expect(loaded != nullptr, "deserializeEngine");
    if (!loaded) return;
    expect(gConfigures == 2, "configure runs once more at engine load (in all " + std::to_string(gConfigures.load()) + " times)");
    runOnce(*loaded, "loaded engine");
    expect(gBadOrder == 0, "configure once per instance, before initialize");
}

// ---- creators-snapshot / long-versions -------------------------------------------------------------

void checkCreatorsSnapshot() {
    gie::IPluginRegistry* reg = gie::getPluginRegistry();
    static SimpleCreator<CountConfigure> a("SnapshotA", "1"), b("SnapshotB", "1");
    int32_t n0 = 0;
    gie::IPluginCreator* const* before = reg->getAllCreators(&n0);
    const std::vector<gie::IPluginCreator*> beforeCopy(before, before + n0);
    expect(reg->registerCreator(a) && reg->registerCreator(b), "registerCreator");
    int32_t n1 = 0;
    gie::IPluginCreator* const* with = reg->getAllCreators(&n1);
    expect(n1 == n0 + 2, "getAllCreators counts the two new creators");
    const std::vector<gie::IPluginCreator*> withCopy(with, with + n1);
    // Other threads ask for the list while creators come and go; every caller's array must stay as it was.
    onThreads(8, [&](int i) {
        for (int k = 0; k < 200; ++k) {
            int32_t n = 0;
            gie::IPluginCreator* const* mine = reg->getAllCreators(&n);
            const std::vector<gie::IPluginCreator*> copy(mine, mine + n);
            if (i == 0) {
                reg->deregisterCreator(a);
                reg->registerCreator(a);
            }
            if (std::vector<gie::IPluginCreator*>(mine, mine + n) != copy) {
                expect(false, "an array from getAllCreators changed under another thread's calls");
                return;
            }
        }
    });
    expect(reg->deregisterCreator(a), "deregisterCreator");
    int32_t n2 = 0;
    reg->getAllCreators(&n2);
    expect(n2 == n0 + 1, "getAllCreators after a deregistration");
    expect(std::vector<gie::IPluginCreator*>(before, before + n0) == beforeCopy, "the first array is unchanged");
    expect(std::vector<gie::IPluginCreator*>(with, with + n1) == withCopy, "the second array is unchanged after a deregistration");
    reg->deregisterCreator(b);
}

void checkLongVersions() {
    gie::IPluginRegistry* reg = gie::getPluginRegistry();
    static SimpleCreator<CountConfigure> v20("VersionProbe", "99999999999999999999"), v21("VersionProbe", "100000000000000000000"),
        v9("VersionProbe", "9"), v2x("VersionProbe", "2.99999999999999999999999");
    for (auto* c : {&v20, &v9, &v21, &v2x}) expect(reg->registerCreator(*c), std::string("register version ") + c->getPluginVersion());
    expect(reg->getCreator("VersionProbe", nullptr, gie::DeviceType::kCPU) == &v21, "the highest version is the 21-digit one");
    expect(reg->getCreator("VersionProbe", "", gie::DeviceType::kAUTO) == &v21, "\"\" also means the highest version");
    expect(reg->getCreator("VersionProbe", "99999999999999999999", gie::DeviceType::kCPU) == &v20, "an exact 20-digit version");
    reg->deregisterCreator(v21);
    expect(reg->getCreator("VersionProbe", nullptr, gie::DeviceType::kCPU) == &v20, "20 digits beat 9 and 2.x");
    reg->deregisterCreator(v20);
    expect(reg->getCreator("VersionProbe", nullptr, gie::DeviceType::kCPU) == &v9, "9 beats 2.99999999999999999999999");
}

// ---- field-pointers ----------------------------------------------------------------------------------

void checkFieldPointers(Logger& logger) {
    std::unique_ptr<gie::IBuilder> builder(gie::createBuilder(logger));
    std::unique_ptr<gie::INetworkDefinition> net(builder->createNetwork());
    gie::ITensor* x = net->addInput("x", gie::DataType::kFLOAT, gie::dims2(1, 3));
    std::vector<float> w = {1, 2, 3, 4, 5, 6}, b = {7, 8};
    gie::IFullyConnectedLayer* fc = net->addFullyConnected(*x, 2, gie::Weights{gie::DataType::kFLOAT, w.data(), 6},
                                                           gie::Weights{gie::DataType::kFLOAT, b.data(), 2});
    expect(fc != nullptr, "addFullyConnected");
    if (!fc) return;
    const gie::PluginField* kernel = fc->getField("kernel");
    expect(kernel && kernel->length == 6, "getField('kernel')");
    if (!kernel) return;
    std::vector<const gie::PluginField*> seen;
    for (int i = 0; i < 200; ++i) {
        seen.push_back(fc->getField(i % 2 ? "bias" : "kernel"));
        seen.push_back(fc->getFieldAt(i % fc->getNbFields()));
    }
    expect(fc->getField("kernel") == kernel, "getField returns the same pointer for a field, after 400 other calls");
    auto readsKernel = [&](const gie::PluginField* f, const std::vector<float>& want) {
        return f->name && std::string(f->name) == "kernel" && f->type == gie::PluginFieldType::kFLOAT32 &&
               f->length == static_cast<int64_t>(want.size()) && std::memcmp(f->data, want.data(), want.size() * 4) == 0;
    };
    expect(readsKernel(kernel, w), "the first pointer still describes the kernel after 400 calls");
    // Changing another field keeps the pointer valid; changing this one updates what it describes.
    std::vector<float> b2 = {-1, -2};
    expect(fc->setFloats("bias", b2.data(), 2), "setField('bias')");
    expect(readsKernel(kernel, w), "the kernel's pointer after setting the bias");
    std::vector<float> w2 = {6, 5, 4, 3, 2, 1};
    expect(fc->setFloats("kernel", w2.data(), 6), "setField('kernel')");
    expect(readsKernel(kernel, w2), "the kernel's pointer shows the new value");
    for (const gie::PluginField* f : seen) expect(f && f->name && (f->length == 6 || f->length == 2 || f->length == 1), "an earlier pointer");
}

// ---- report-threads / serialize-threads ---------------------------------------------------------------

//! Makes two threads meet inside an engine call: the first caller of arrive() waits (up to 300 ms) for a
//! second. Where a contract says one thread computes and the others wait (getLayerInformation), nobody
//! comes and it times out; where threads used to race through an unguarded cache, this makes them overlap.
struct Rendezvous {
    std::mutex mu;
    std::condition_variable cv;
    int arrived = 0;
    bool on = false;
    void reset(bool enable) {
        std::lock_guard<std::mutex> lock(mu);
        arrived = 0;
        on = enable;
    }
    int calls() {
        std::lock_guard<std::mutex> lock(mu);
        return arrived;
    }
    void arrive() {
        std::unique_lock<std::mutex> lock(mu);
        if (!on) return;
        if (++arrived >= 2) {
            cv.notify_all();
            return;
        }
        cv.wait_for(lock, std::chrono::milliseconds(300), [&] { return arrived >= 2; });
    }
} gMeet;

//! y = x; its getSerializationSize (called by getLayerInformation and serialize, before the kernels after
//! it) is the meeting point.
class Meet final : public gie::IPlugin {
public:
    const char* getPluginType() const noexcept override { return "Meet"; }
    const char* getPluginVersion() const noexcept override { return "1"; }
    gie::IPlugin* clone() const noexcept override { return new (std::nothrow) Meet(*this); }
    int32_t getNbOutputs() const noexcept override { return 1; }
    int32_t getOutputDimensions(const gie::Dims* in, int32_t, gie::Dims* out) const noexcept override {
        out[0] = in[0];
        return 0;
    }
    bool supportsFormatCombination(int32_t pos, const gie::TensorDesc* inOut, int32_t, int32_t) const noexcept override {
        return inOut[pos].type == gie::DataType::kFLOAT && inOut[pos].format == gie::TensorFormat::kLINEAR;
    }
    int32_t enqueue(const gie::TensorDesc* inDesc, const gie::TensorDesc*, const void* const* inputs, void* const* outputs, void*,
                    void*) const noexcept override {
        int64_t n = 1;
        for (int32_t i = 0; i < inDesc[0].dims.nbDims; ++i) n *= inDesc[0].dims.d[i];
        std::memcpy(outputs[0], inputs[0], static_cast<size_t>(n) * sizeof(float));
        return 0;
    }
    size_t getSerializationSize() const noexcept override {
        try {
            gMeet.arrive();
        } catch (...) {
        }
        return 0;
    }
    void serialize(void*) const noexcept override {}
};

SimpleCreator<Meet> gMeetCreator("Meet", "1");

//! x (1, width) -> layers x [FullyConnected width -> width, Sigmoid] -> y: many kernels (a long report) or
//! large weights (long serialization).
std::unique_ptr<gie::IEngine> buildChain(gie::IBuilder& builder, int seed, int layers, int64_t width) {
    std::unique_ptr<gie::INetworkDefinition> net(builder.createNetwork());
    gie::ITensor* t = net->addInput("x", gie::DataType::kFLOAT, gie::dims2(1, width));
    Meet meet;
    t = net->addPluginLayer(&t, 1, meet)->getOutput(0);
    std::vector<float> w(static_cast<size_t>(width * width)), b(static_cast<size_t>(width));
    for (int i = 0; i < layers; ++i) {
        for (size_t k = 0; k < w.size(); ++k) w[k] = static_cast<float>((static_cast<int>(k) * 31 + i * 7 + seed) % 19) / 100.0f - 0.09f;
        for (size_t k = 0; k < b.size(); ++k) b[k] = static_cast<float>(k % 5) / 10.0f;
        auto* fc = net->addFullyConnected(*t, width, gie::Weights{gie::DataType::kFLOAT, w.data(), width * width},
                                          gie::Weights{gie::DataType::kFLOAT, b.data(), width});
        auto* act = net->addActivation(*fc->getOutput(0), gie::ActivationType::kSIGMOID);
        t = act->getOutput(0);
    }
    t->setName("y");
    net->markOutput(*t);
    std::unique_ptr<gie::IBuilderConfig> config(builder.createBuilderConfig());
    config->setDevice(gie::DeviceType::kCPU);
    return std::unique_ptr<gie::IEngine>(builder.buildEngine(*net, *config));
}

void checkReportThreads(Logger& logger) {
    std::unique_ptr<gie::IBuilder> builder(gie::createBuilder(logger));
    for (int round = 0; round < 3; ++round) {
        auto engine = buildChain(*builder, round, 400, 16);
        expect(engine != nullptr, "buildEngine");
        if (!engine) return;
        const int n = 8;
        std::vector<const char*> ptr(n);
        std::vector<std::string> text(n);
        gMeet.reset(true);
        onThreads(n, [&](int i) {
            ptr[static_cast<size_t>(i)] = engine->getLayerInformation();
            text[static_cast<size_t>(i)] = ptr[static_cast<size_t>(i)];
        });
        // The report asks each kernel for its serialized size once: one call means one thread wrote it.
        expect(gMeet.calls() == 1, "the report is written once, by one thread (written " + std::to_string(gMeet.calls()) + " times)");
        gMeet.reset(false);
        const std::string once = engine->getLayerInformation();
        for (int i = 0; i < n; ++i) {
            expect(ptr[static_cast<size_t>(i)] == ptr[0], "every thread gets the same report pointer (round " + std::to_string(round) + ")");
            expect(text[static_cast<size_t>(i)] == once, "every thread reads the whole report");
        }
        expect(once.size() > 1000 && once.find("\"kernels\"") != std::string::npos, "the report lists the kernels");
        if (failures) return;
    }
}

void checkSerializeThreads(Logger& logger) {
    std::unique_ptr<gie::IBuilder> builder(gie::createBuilder(logger));
    std::unique_ptr<gie::IRuntime> runtime(gie::createRuntime(logger));
    std::vector<char> file;
    for (int round = 0; round < 4; ++round) {
        // A built engine, then one loaded from its file: each serialized by many threads before anything else.
        std::unique_ptr<gie::IEngine> engine = round % 2 == 0 ? buildChain(*builder, round, 24, 384)
                                                              : std::unique_ptr<gie::IEngine>(runtime->deserializeEngine(file.data(), file.size()));
        expect(engine != nullptr, round % 2 == 0 ? "buildEngine" : "deserializeEngine");
        if (!engine) return;
        const int n = 8;
        std::vector<std::string> got(n);
        gMeet.reset(true);
        onThreads(n, [&](int i) {
            std::unique_ptr<gie::IHostMemory> m(engine->serialize());
            if (m) got[static_cast<size_t>(i)].assign(static_cast<const char*>(m->data()), m->size());
        });
        gMeet.reset(false);
        std::unique_ptr<gie::IHostMemory> once(engine->serialize());
        const std::string want(static_cast<const char*>(once->data()), once->size());
        for (int i = 0; i < n; ++i) expect(got[static_cast<size_t>(i)] == want, "every thread serializes the same bytes");
        file.assign(want.begin(), want.end());
        if (failures) return;
    }
}

}  // namespace

int main(int argc, char** argv) {
    Logger logger;
    const std::string check = argc > 1 ? argv[1] : "";
    if (check == "configure-once") checkConfigureOnce(logger);
    else if (check == "creators-snapshot") checkCreatorsSnapshot();
    else if (check == "long-versions") checkLongVersions();
    else if (check == "field-pointers") checkFieldPointers(logger);
    else if (check == "report-threads" || check == "serialize-threads") {
        expect(gie::getPluginRegistry()->registerCreator(gMeetCreator), "registerCreator(Meet)");
        if (check == "report-threads") checkReportThreads(logger);
        else checkSerializeThreads(logger);
    }
    else {
        std::fprintf(stderr, "usage: contracts_app CHECK (see the comment at the top)\n");
        return 2;
    }
    if (failures) {
        std::printf("%d FAILED\n", failures.load());
        return 1;
    }
    std::printf("PASSED\n");
    return 0;
}
