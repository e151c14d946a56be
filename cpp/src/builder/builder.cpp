// IBuilder / IBuilderConfig: network -> IR -> passes -> kernels (placement, format checks, tactic
// timing) -> memory plan -> engine.
#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <set>

#include "backend/backend.h"
#include "builder/memory_planner.h"
#include "common/dims.h"
#include "common/error.h"
#include "common/json.h"
#include "engine/engine.h"
#include "gie/builder.h"
#include "ir/graph.h"
#include "network/network.h"
#include "passes/pass.h"

namespace gie {
namespace {

class BuilderConfigImpl final : public IBuilderConfig {
public:
    void setDevice(DeviceType d) noexcept override { device_ = d; }
    DeviceType getDevice() const noexcept override { return device_; }
    void setFlag(BuilderFlag f) noexcept override { flags_ |= 1ull << static_cast<int>(f); }
    void clearFlag(BuilderFlag f) noexcept override { flags_ &= ~(1ull << static_cast<int>(f)); }
    bool getFlag(BuilderFlag f) const noexcept override { return flags_ & (1ull << static_cast<int>(f)); }
    bool setBatchRange(int64_t mn, int64_t opt, int64_t mx) noexcept override {
        if (!(mn >= 1 && mn <= opt && opt <= mx)) {
            setLastError(ErrorCode::kINVALID_ARGUMENT, strcat("batch range must satisfy 1 <= min <= opt <= max, got (", mn, ", ", opt, ", ", mx, ")"));
            return false;
        }
        min_ = mn;
        opt_ = opt;
        max_ = mx;
        return true;
    }
    int64_t getMinBatch() const noexcept override { return min_; }
    int64_t getOptBatch() const noexcept override { return opt_; }
    int64_t getMaxBatch() const noexcept override { return max_; }
    void setWorkspaceLimit(size_t b) noexcept override { workspace_ = b; }
    size_t getWorkspaceLimit() const noexcept override { return workspace_; }
    bool setPassEnabled(const char* pass, bool enabled) noexcept override {
        auto names = allPassNames();
        if (!pass || std::find(names.begin(), names.end(), pass) == names.end()) {
            std::string all;
            for (auto& n : names) all += (all.empty() ? "" : ", ") + n;
            setLastError(ErrorCode::kINVALID_ARGUMENT, strcat("unknown pass '", pass ? pass : "", "' (passes: ", all, ")"));
            return false;
        }
        if (enabled)
            disabled_.erase(pass);
        else
            disabled_.insert(pass);
        return true;
    }
    bool getPassEnabled(const char* pass) const noexcept override { return pass && !disabled_.count(pass); }
    void setInt8Calibrator(IInt8Calibrator* c) noexcept override { calibrator_ = c; }
    IInt8Calibrator* getInt8Calibrator() const noexcept override { return calibrator_; }
    uint64_t flags() const { return flags_; }

private:
    DeviceType device_ = DeviceType::kAUTO;
    uint64_t flags_ = 0;
    int64_t min_ = 1, opt_ = 1, max_ = 1;
    size_t workspace_ = 0;
    std::set<std::string> disabled_;
    IInt8Calibrator* calibrator_ = nullptr;
};

//! A network output must be written by a kernel into the caller's buffer: if it is a network input
//! or a constant, copy it with an Identity kernel.
void ensureOutputsProduced(Graph& g) {
    for (int& out : g.outputs) {
        IrTensor& t = g.tensors[static_cast<size_t>(out)];
        if ((g.producer(out) >= 0 || g.hasViews(out)) && !t.constant) continue;
        GIE_CHECK(!t.isInput, ErrorCode::kINVALID_MODEL, "tensor '", t.name,
                  "' is both a network input and a network output; add an Identity layer and mark its output instead");
        IrTensor copy = t;
        t.isOutput = false;
        t.name += "_value";
        int src = out;
        int dst = g.addTensor(copy);
        g.tensors[static_cast<size_t>(dst)].constant.reset();
        IrNode n;
        n.name = copy.name + "_copy";
        n.type = "Identity";
        n.inputs = {src};
        n.outputs = {dst};
        n.notes = {"inserted: the output '" + copy.name + "' is a constant, so a kernel copies it into the output buffer"};
        g.nodes.push_back(std::move(n));
        out = dst;
    }
}

std::string describeTypes(const std::vector<TensorDesc>& d, size_t nIn) {
    std::string s;
    for (size_t i = 0; i < d.size(); ++i)
        s += strcat(i ? ", " : "", i < nIn ? "in" : "out", i < nIn ? i : i - nIn, "=", dataTypeName(d[i].type));
    return s;
}

//! Times one kernel's tactics on random data of the real shapes; returns per-tactic median ms.
std::vector<double> timeTactics(IPlugin& k, const std::vector<TensorDesc>& in, const std::vector<TensorDesc>& out, Backend& b) {
    std::vector<DeviceBuffer> bufs;
    std::vector<const void*> inP;
    std::vector<void*> outP;
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> dist(-1.f, 1.f);
    for (const auto& d : in) {
        size_t bytes = static_cast<size_t>(volume(d.dims) * dataTypeSize(d.type));
        std::vector<uint8_t> host(bytes, 0);
        if (d.type == DataType::kFLOAT)
            for (size_t i = 0; i + 4 <= bytes; i += 4) {
                float v = dist(rng);
                std::memcpy(&host[i], &v, 4);
            }
        bufs.emplace_back(b, bytes + 1, "tactic timing input");
        b.copy(bufs.back().get(), host.data(), bytes, CopyKind::kHostToDevice, nullptr);
        inP.push_back(bufs.back().get());
    }
    for (const auto& d : out) {
        bufs.emplace_back(b, static_cast<size_t>(volume(d.dims) * dataTypeSize(d.type)) + 1, "tactic timing output");
        outP.push_back(bufs.back().get());
    }
    std::vector<double> times;
    for (int32_t t = 0; t < k.getNbTactics(); ++t) {
        if (k.setTactic(t) != 0) {
            times.push_back(1e30);
            continue;
        }
        DeviceBuffer ws(b, k.getWorkspaceSize() + 1, "tactic timing workspace");
        std::vector<double> runs;
        for (int r = 0; r < 6; ++r) {
            auto t0 = std::chrono::steady_clock::now();
            int32_t rc = k.enqueue(in.data(), out.data(), inP.data(), outP.data(), ws.get(), nullptr);
            b.synchronize(nullptr);
            auto t1 = std::chrono::steady_clock::now();
            if (rc != 0) {
                runs.assign(1, 1e30);
                break;
            }
            if (r > 0) runs.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());  // first run warms up
        }
        std::sort(runs.begin(), runs.end());
        times.push_back(runs[runs.size() / 2]);
    }
    return times;
}

EngineStep makeStep(const Graph& g, const IrNode& n, const std::vector<TensorDesc>& all, DeviceType device, Backend& backend,
                    size_t workspaceLimit) {
    EngineStep s;
    s.name = n.name;
    s.sourceLayers = n.sourceLayers;
    s.notes = n.notes;
    s.device = device;
    IPluginCreator* creator = nullptr;
    if (n.userPlugin) {
        creator = getPluginRegistry()->getCreator(n.userPlugin->getPluginType(), n.userPlugin->getPluginVersion(), device);
        GIE_CHECK(creator, ErrorCode::kUNSUPPORTED, "plugin layer '", n.name, "' has type '", n.userPlugin->getPluginType(),
                  "' version '", n.userPlugin->getPluginVersion(), "', but no creator for it is registered for this device; "
                  "engines are deserialized through the creator, so register it (or load its library) before building");
        s.plugin.reset(n.userPlugin->clone());
    } else {
        creator = getPluginRegistry()->getCreator(n.type.c_str(), nullptr, device);
        GIE_CHECK(creator, ErrorCode::kUNSUPPORTED, "layer '", n.name, "': no ", device == DeviceType::kGPU ? "GPU" : "CPU",
                  " kernel or plugin is registered for type '", n.type, "'");
        s.plugin.reset(creator->createPlugin(n.name.c_str(), n.fields.collection()));
    }
    if (!s.plugin) {
        const char* msg = nullptr;
        getLastError(&msg);
        fail(ErrorCode::kINVALID_MODEL, "cannot create the kernel for layer '", n.name, "'", msg && *msg ? std::string(": ") + msg : std::string());
    }
    s.type = s.plugin->getPluginType();
    s.version = s.plugin->getPluginVersion();
    int32_t nIn = static_cast<int32_t>(n.inputs.size()), nOut = static_cast<int32_t>(n.outputs.size());
    for (int32_t p = 0; p < nIn + nOut; ++p) {
        const TensorDesc& d = all[static_cast<size_t>(p)];
        bool strided = d.dims.nbDims > 0 && d.strides.d[0] != packedStrides(d.dims).d[0];
        bool ok = !strided || (p < nIn ? s.plugin->supportsStridedInput() : s.plugin->supportsStridedOutput());
        GIE_CHECK(ok, ErrorCode::kINTERNAL, "layer '", n.name, "': a pass gave it a strided ", p < nIn ? "input" : "output",
                  " its kernel does not support");
    }
    for (int32_t p = 0; p < nIn + nOut; ++p)
        GIE_CHECK(s.plugin->supportsFormatCombination(p, all.data(), nIn, nOut), ErrorCode::kUNSUPPORTED, "layer '", n.name, "' (",
                  s.type, "): the kernel does not support ", p < nIn ? "input " : "output ", p < nIn ? p : p - nIn, " as ",
                  dataTypeName(all[static_cast<size_t>(p)].type), " linear (types: ", describeTypes(all, static_cast<size_t>(nIn)), ")");
    std::vector<TensorDesc> in(all.begin(), all.begin() + nIn), out(all.begin() + nIn, all.end());
    if (s.plugin->configure(in.data(), nIn, out.data(), nOut) != 0) {
        const char* msg = nullptr;
        getLastError(&msg);
        fail(ErrorCode::kINVALID_MODEL, "layer '", n.name, "': configure failed", msg && *msg ? std::string(": ") + msg : std::string());
    }
    int32_t nt = s.plugin->getNbTactics();
    if (nt > 1) {
        auto times = timeTactics(*s.plugin, in, out, backend);
        int best = -1;
        for (int32_t t = 0; t < nt; ++t) {
            s.plugin->setTactic(t);
            bool fits = workspaceLimit == 0 || s.plugin->getWorkspaceSize() <= workspaceLimit;
            s.tacticTimes.emplace_back(s.plugin->getTacticName(t), times[static_cast<size_t>(t)]);
            if (fits && times[static_cast<size_t>(t)] < 1e29 && (best < 0 || times[static_cast<size_t>(t)] < times[static_cast<size_t>(best)])) best = t;
        }
        GIE_CHECK(best >= 0, ErrorCode::kUNSUPPORTED, "layer '", n.name, "': no tactic runs within the workspace limit of ", workspaceLimit, " bytes");
        s.tacticIndex = best;
    }
    GIE_CHECK(s.plugin->setTactic(s.tacticIndex) == 0, ErrorCode::kINTERNAL, "layer '", n.name, "': setTactic failed");
    s.tactic = s.plugin->getTacticName(s.tacticIndex);
    GIE_CHECK(workspaceLimit == 0 || s.plugin->getWorkspaceSize() <= workspaceLimit, ErrorCode::kUNSUPPORTED, "layer '", n.name,
              "' needs ", s.plugin->getWorkspaceSize(), " bytes of workspace, over the limit of ", workspaceLimit);
    return s;
}

EnginePlan makePlan(Graph& g, DeviceType device, const BuilderConfigImpl& config, int layersBefore, const PassContext& pctx) {
    Backend& backend = getBackend(device);
    EnginePlan p;
    p.device = device;
    p.computeCapability = backend.computeCapability();
    p.flags = config.flags();
    p.minBatch = config.getMinBatch();
    p.optBatch = config.getOptBatch();
    p.maxBatch = config.getMaxBatch();
    p.layersBefore = layersBefore;
    for (const auto& line : pctx.log) p.buildLog += line + "\n";

    auto order = g.topologicalOrder();
    std::vector<int> producerStep(g.tensors.size(), -1);
    for (size_t i = 0; i < order.size(); ++i)
        for (int o : g.nodes[static_cast<size_t>(order[i])].outputs) producerStep[static_cast<size_t>(o)] = static_cast<int>(i);

    p.tensors.resize(g.tensors.size());
    for (size_t t = 0; t < g.tensors.size(); ++t) {
        const IrTensor& it = g.tensors[t];
        EngineTensor& et = p.tensors[t];
        et.name = it.name;
        et.dims = it.dims;
        et.type = it.type;
        et.bytes = it.bytes();
        if (it.isInput) {
            et.kind = TensorKind::kInput;
        } else if (it.isOutput) {
            et.kind = TensorKind::kOutput;
        } else if (it.constant && producerStep[t] < 0) {
            et.kind = TensorKind::kConstant;
            et.constant = static_cast<int32_t>(p.constants.size());
            p.constants.push_back(*it.constant);
        } else {
            et.kind = TensorKind::kActivation;
        }
    }
    p.inputs.assign(g.inputs.begin(), g.inputs.end());
    p.outputs.assign(g.outputs.begin(), g.outputs.end());

    for (size_t t = 0; t < g.tensors.size(); ++t) {
        p.tensors[t].viewOf = g.tensors[t].viewOf;
        p.tensors[t].viewOffset = g.tensors[t].viewOffset;
    }
    for (int ni : order) {
        const IrNode& node = g.nodes[static_cast<size_t>(ni)];
        std::vector<TensorDesc> descs;
        for (int t : node.inputs) descs.push_back(tensorDesc(p, t, p.tensors[static_cast<size_t>(t)].dims));
        for (int t : node.outputs) descs.push_back(tensorDesc(p, t, p.tensors[static_cast<size_t>(t)].dims));
        EngineStep s = makeStep(g, node, descs, device, backend, config.getWorkspaceLimit());
        s.inputs.assign(g.nodes[static_cast<size_t>(ni)].inputs.begin(), g.nodes[static_cast<size_t>(ni)].inputs.end());
        s.outputs.assign(g.nodes[static_cast<size_t>(ni)].outputs.begin(), g.nodes[static_cast<size_t>(ni)].outputs.end());
        p.workspaceBytes = std::max<uint64_t>(p.workspaceBytes, s.plugin->getWorkspaceSize());
        p.steps.push_back(std::move(s));
    }

    // Memory plan over activations.
    std::vector<MemoryRequest> reqs;
    std::vector<size_t> reqTensor;
    std::vector<int> lastUse(g.tensors.size(), -1);
    for (size_t s = 0; s < p.steps.size(); ++s)
        for (int32_t t : p.steps[s].inputs) lastUse[static_cast<size_t>(t)] = static_cast<int>(s);
    // A view lives inside its parent: the parent's lifetime covers its views' lifetimes.
    std::vector<int> first(g.tensors.size(), INT32_MAX), last(g.tensors.size(), -1);
    for (size_t t = 0; t < p.tensors.size(); ++t) {
        size_t owner = p.tensors[t].viewOf >= 0 ? static_cast<size_t>(p.tensors[t].viewOf) : t;
        if (producerStep[t] >= 0) first[owner] = std::min(first[owner], producerStep[t]);
        last[owner] = std::max({last[owner], lastUse[t], producerStep[t]});
    }
    for (size_t t = 0; t < p.tensors.size(); ++t) {
        if (p.tensors[t].kind != TensorKind::kActivation || p.tensors[t].viewOf >= 0) continue;
        GIE_CHECK(first[t] != INT32_MAX, ErrorCode::kINTERNAL, "tensor '", p.tensors[t].name, "' has no producer");
        MemoryRequest r;
        r.bytes = p.tensors[t].bytes;
        r.first = first[t];
        r.last = std::max(first[t], last[t]);
        reqs.push_back(r);
        reqTensor.push_back(t);
    }
    MemoryPlan mp = planMemory(reqs);
    for (size_t i = 0; i < reqs.size(); ++i) p.tensors[reqTensor[i]].offset = mp.offsets[i];
    p.arenaBytes = static_cast<uint64_t>(mp.arenaBytes);
    p.noReuseBytes = static_cast<uint64_t>(mp.noReuseBytes);
    p.lowerBoundBytes = static_cast<uint64_t>(mp.lowerBoundBytes);
    return p;
}

//! Every shape must also be computable at the smallest batch (a reshape to a fixed size would not be).
void checkBatchRange(const EnginePlan& p) {
    if (p.minBatch == p.maxBatch) return;
    std::vector<Dims> dims(p.tensors.size());
    for (size_t t = 0; t < p.tensors.size(); ++t) dims[t] = p.tensors[t].dims;
    for (int32_t t : p.inputs) dims[static_cast<size_t>(t)].d[0] = p.minBatch;
    for (const auto& s : p.steps) {
        std::vector<Dims> in, out(s.outputs.size());
        for (int32_t t : s.inputs) in.push_back(dims[static_cast<size_t>(t)]);
        if (s.plugin->getOutputDimensions(in.data(), static_cast<int32_t>(in.size()), out.data()) != 0) {
            const char* msg = nullptr;
            getLastError(&msg);
            fail(ErrorCode::kINVALID_MODEL, "layer '", s.name, "' cannot run at batch ", p.minBatch,
                 " (the smallest of the batch range)", msg && *msg ? std::string(": ") + msg : std::string());
        }
        for (size_t i = 0; i < out.size(); ++i) {
            const auto& et = p.tensors[static_cast<size_t>(s.outputs[i])];
            GIE_CHECK(volume(out[i]) * dataTypeSize(et.type) <= et.bytes, ErrorCode::kINVALID_MODEL, "tensor '", et.name,
                      "' is larger at batch ", p.minBatch, " than at batch ", p.maxBatch, "; dimension 0 must be the batch");
            dims[static_cast<size_t>(s.outputs[i])] = out[i];
            if (et.viewOf >= 0 && out[i].nbDims > 0) dims[static_cast<size_t>(et.viewOf)].d[0] = out[i].d[0];
            for (size_t v = 0; v < p.tensors.size(); ++v)
                if (p.tensors[v].viewOf == s.outputs[i] && out[i].nbDims > 0) dims[v].d[0] = out[i].d[0];
        }
    }
}

//! The network as defined (before any pass), for reports and before/after drawings.
std::string describeNetwork(const Graph& g) {
    JsonWriter j;
    j.beginObject();
    j.key("layers").beginArray();
    for (int ni : g.topologicalOrder()) {
        const IrNode& n = g.nodes[static_cast<size_t>(ni)];
        j.beginObject().key("name").value(n.name).key("type").value(n.type);
        j.key("inputs").beginArray();
        for (int t : n.inputs) j.value(g.tensors[static_cast<size_t>(t)].name);
        j.endArray().key("outputs").beginArray();
        for (int t : n.outputs) j.value(g.tensors[static_cast<size_t>(t)].name);
        j.endArray().key("output_shapes").beginArray();
        for (int t : n.outputs) j.dims(g.tensors[static_cast<size_t>(t)].dims);
        j.endArray().endObject();
    }
    j.endArray();
    j.key("network_inputs").beginArray();
    for (int t : g.inputs) j.value(g.tensors[static_cast<size_t>(t)].name);
    j.endArray().key("network_outputs").beginArray();
    for (int t : g.outputs) j.value(g.tensors[static_cast<size_t>(t)].name);
    j.endArray().endObject();
    return j.str();
}

class BuilderImpl final : public IBuilder {
public:
    explicit BuilderImpl(ILogger& logger) : logger_(&logger) {}
    INetworkDefinition* createNetwork() noexcept override {
        return apiGuard<INetworkDefinition*>(logger_, nullptr, [] { return new NetworkImpl(); });
    }
    IBuilderConfig* createBuilderConfig() noexcept override {
        return apiGuard<IBuilderConfig*>(logger_, nullptr, [] { return new BuilderConfigImpl(); });
    }
    bool platformHasGpu() const noexcept override {
        Backend* b = findBackend(DeviceType::kGPU);
        return b && b->available();
    }
    IEngine* buildEngine(const INetworkDefinition& network, const IBuilderConfig& config) noexcept override {
        return apiGuard<IEngine*>(logger_, nullptr, [&]() -> IEngine* {
            const auto* net = dynamic_cast<const NetworkImpl*>(&network);
            const auto* cfg = dynamic_cast<const BuilderConfigImpl*>(&config);
            GIE_CHECK(net && cfg, ErrorCode::kINVALID_ARGUMENT, "buildEngine: network/config were not created by this library");
            GIE_CHECK(net->getNbOutputs() > 0, ErrorCode::kINVALID_MODEL, "the network has no outputs; mark at least one tensor as an output");
            DeviceType device = config.getDevice();
            if (device == DeviceType::kAUTO) device = platformHasGpu() ? DeviceType::kGPU : DeviceType::kCPU;
            getBackend(device);  // fails early with NO_DEVICE
            auto t0 = std::chrono::steady_clock::now();
            Graph g = Graph::fromNetwork(*net, cfg->getMaxBatch());
            int layersBefore = g.liveNodes();
            std::string networkJson = describeNetwork(g);
            PassContext ctx;
            ctx.device = device;
            ctx.logger = logger_;
            for (auto& pass : makeAllPasses()) {
                if (!cfg->getPassEnabled(pass->name())) continue;
                int changes = pass->run(g, ctx);
                log(ILogger::Severity::kVERBOSE, strcat("pass ", pass->name(), ": ", changes, " change(s)"));
            }
            ensureOutputsProduced(g);
            EnginePlan plan = makePlan(g, device, *cfg, layersBefore, ctx);
            plan.networkJson = std::move(networkJson);
            checkBatchRange(plan);
            double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            log(ILogger::Severity::kINFO, strcat("built ", device == DeviceType::kGPU ? "GPU" : "CPU", " engine in ", static_cast<int64_t>(ms),
                                                 " ms: ", layersBefore, " layers -> ", plan.steps.size(), " kernels; activation arena ",
                                                 plan.arenaBytes, " bytes (no reuse ", plan.noReuseBytes, ", lower bound ", plan.lowerBoundBytes, ")"));
            return new EngineImpl(std::move(plan), logger_);
        });
    }

private:
    void log(ILogger::Severity s, const std::string& m) { logMessage(logger_, s, m); }
    ILogger* logger_;
};

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

IBuilder* createBuilder(ILogger& logger) noexcept {
    return apiGuard<IBuilder*>(&logger, nullptr, [&] { return new BuilderImpl(logger); });
}

IRuntime* createRuntime(ILogger& logger) noexcept {
    return apiGuard<IRuntime*>(&logger, nullptr, [&] { return new RuntimeImpl(logger); });
}

}  // namespace gie
