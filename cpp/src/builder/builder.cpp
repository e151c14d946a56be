// IBuilder / IBuilderConfig: network -> IR -> passes -> kernels (placement, format checks, tactic
// timing) -> memory plan -> engine.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include "backend/backend.h"
#include "engine/memory_planner.h"
#include "engine/tactic_architecture.h"
#include "builder/calibration.h"
#include "builder/negotiation.h"
#include "builder/optimize_network.h"
#include "builder/optimization_profile.h"
#include "plugin/registry.h"
#include "builder/tactic_timing.h"
#include "builder/timing_cache.h"
#include "common/dims.h"
#include "common/error.h"
#include "common/json.h"
#include "engine/engine.h"
#include "gie/builder.h"
#include "ir/graph.h"
#include "layers/int8_math.h"
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
        if (!(mn >= 1 && mn <= opt && opt <= mx && mx <= kMaxElements)) {
            setLastError(ErrorCode::kINVALID_ARGUMENT, strcat("batch range must satisfy 1 <= min <= opt <= max <= 2^40, got (", mn, ", ",
                                                              opt, ", ", mx, ")"));
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
    void setCudaGraph(bool e) noexcept override { cudaGraph_ = e; }
    bool getCudaGraph() const noexcept override { return cudaGraph_; }
    void setTimingCachePath(const char* p) noexcept override { timingCache_ = p ? p : ""; }
    const char* getTimingCachePath() const noexcept override { return timingCache_.c_str(); }
    bool setTacticOverride(const char* kernel, const char* tactic) noexcept override {
        if (!kernel || !*kernel || !tactic || !*tactic) {
            setLastError(ErrorCode::kINVALID_ARGUMENT, "setTacticOverride needs a kernel type or name and a tactic name");
            return false;
        }
        overrides_[kernel] = tactic;
        return true;
    }
    void clearTacticOverrides() noexcept override { overrides_.clear(); }
    bool setMaxAuxStreams(int32_t n) noexcept override {
        if (n < -1 || n > kMAX_AUX_STREAMS) {
            setLastError(ErrorCode::kINVALID_ARGUMENT, strcat("max auxiliary streams must be -1 (the builder decides), 0 (none) or 1..",
                                                              kMAX_AUX_STREAMS, " (the limit), got ", n));
            return false;
        }
        maxAux_ = n;
        return true;
    }
    int32_t getMaxAuxStreams() const noexcept override { return maxAux_; }
    int32_t addOptimizationProfile(const IOptimizationProfile* profile) noexcept override {
        return apiGuard(nullptr, int32_t{-1}, [&] {
            const auto* p = dynamic_cast<const OptimizationProfileImpl*>(profile);
            GIE_CHECK(p, ErrorCode::kINVALID_ARGUMENT, "addOptimizationProfile: ",
                      profile ? "the profile was not created by IBuilder::createOptimizationProfile" : "null profile");
            p->validate();
            GIE_CHECK(static_cast<int32_t>(profiles_.size()) < kMAX_OPTIMIZATION_PROFILES, ErrorCode::kINVALID_ARGUMENT,
                      "addOptimizationProfile: an engine has at most ", kMAX_OPTIMIZATION_PROFILES, " optimization profiles");
            profiles_.push_back(std::make_unique<OptimizationProfileImpl>(*p));
            return static_cast<int32_t>(profiles_.size()) - 1;
        });
    }
    int32_t getNbOptimizationProfiles() const noexcept override { return static_cast<int32_t>(profiles_.size()); }
    const IOptimizationProfile* getOptimizationProfile(int32_t i) const noexcept override {
        return i >= 0 && i < getNbOptimizationProfiles() ? profiles_[static_cast<size_t>(i)].get() : nullptr;
    }
    const std::vector<std::unique_ptr<OptimizationProfileImpl>>& profiles() const { return profiles_; }
    uint64_t flags() const { return flags_; }
    const std::map<std::string, std::string>& overrides() const { return overrides_; }
    const std::set<std::string>& disabledPasses() const { return disabled_; }

private:
    DeviceType device_ = DeviceType::kAUTO;
    uint64_t flags_ = 1ull << static_cast<int>(BuilderFlag::kTF32);
    int64_t min_ = 1, opt_ = 1, max_ = 1;
    size_t workspace_ = 0;
    std::set<std::string> disabled_;
    IInt8Calibrator* calibrator_ = nullptr;
    bool cudaGraph_ = false;
    std::string timingCache_;
    std::map<std::string, std::string> overrides_;
    int32_t maxAux_ = -1;
    std::vector<std::unique_ptr<OptimizationProfileImpl>> profiles_;  // unique_ptr: getOptimizationProfile's pointers stay valid
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

}  // namespace

Graph optimizeNetwork(const NetworkImpl& net, const std::vector<Dims>& inputDims, const std::set<std::string>& disabled, PassContext& ctx,
                      const std::map<std::string, float>* calibratedRanges) {
    Graph g = Graph::fromNetwork(net, inputDims);
    if (calibratedRanges) {
        const int n = applyDynamicRanges(g, *calibratedRanges);
        logMessage(ctx.logger, ILogger::Severity::kVERBOSE, strcat("INT8 calibration: ranges given to ", n, " tensors"));
    }
    for (auto& pass : makeAllPasses()) {
        if (disabled.count(pass->name())) continue;
        int changes = pass->run(g, ctx);
        logMessage(ctx.logger, ILogger::Severity::kVERBOSE, strcat("pass ", pass->name(), ": ", changes, " change(s)"));
    }
    ensureOutputsProduced(g);
    return g;
}

bool fixedInputShapes(const std::vector<std::vector<InputRange>>& profiles, const std::vector<Dims>& planned) {
    for (const auto& prof : profiles) {
        if (prof.size() != planned.size()) return false;
        for (size_t k = 0; k < prof.size(); ++k)
            if (!(prof[k].min == planned[k]) || !(prof[k].max == planned[k])) return false;
    }
    return !profiles.empty();
}

std::vector<std::vector<Dims>> inputShapeBounds(const std::vector<std::vector<InputRange>>& profiles) {
    std::vector<std::vector<Dims>> r;
    for (const auto& prof : profiles)
        for (OptProfileSelector s : {OptProfileSelector::kMIN, OptProfileSelector::kMAX}) {
            r.emplace_back();
            for (const InputRange& in : prof) r.back().push_back(in.at(s));
        }
    return r;
}

void noteWeightSources(Graph& optimized, const Graph& lowered) {
    auto floatFields = [](const FieldMap& f) {
        std::vector<const Field*> r;
        for (size_t i = 0; i < f.size(); ++i)
            if (f.at(i).type == PluginFieldType::kFLOAT32) r.push_back(&f.at(i));
        return r;
    };
    std::map<std::string, const IrNode*> byName;
    for (const IrNode& l : lowered.nodes) byName[l.name] = &l;
    for (IrNode& n : optimized.nodes) {
        if (n.dead || n.userPlugin) continue;
        const auto mine = floatFields(n.fields);
        if (mine.empty()) continue;
        std::string owner;
        for (const std::string& layer : n.sourceLayers) {
            auto it = byName.find(layer);
            const IrNode* src = it == byName.end() ? nullptr : it->second;
            if (!src || src->type != n.type) continue;
            // Every weight as the layer gave it; the parameters of a fused activation (fuse_epilogue) come on top.
            bool same = true;
            for (const Field* f : mine) {
                const Field* g = src->fields.find(f->name);
                same = same && (g ? g->type == f->type && g->data == f->data : f->name.rfind("activation_", 0) == 0);
            }
            if (same) owner = layer;
        }
        if (!owner.empty()) {
            n.notes.push_back(kRefitOwnNote + ("'" + owner + "'"));
            continue;
        }
        n.notes.push_back(kRefitFoldedNote + quotedList(n.sourceLayers) + "; refit them from the whole network");
    }
}

namespace {

std::string describeTypes(const std::vector<TensorDesc>& d, size_t nIn) {
    std::string s;
    for (size_t i = 0; i < d.size(); ++i)
        s += strcat(i ? ", " : "", i < nIn ? "in" : "out", i < nIn ? i : i - nIn, "=", stateName(d[i].type, d[i].format));
    return s;
}

//! The kernel of node n from the creator the negotiation chose (for a user plugin layer: a clone of its instance,
//! whose creator the negotiation found), checked against the negotiated descriptors `all` (inputs, then outputs);
//! configureSteps configures it once every step exists (the ranges come from shape propagation over the steps).
EngineStep makeStep(const IrNode& n, IPluginCreator* chosen, const std::vector<TensorDesc>& all, DeviceType device) {
    EngineStep s;
    s.name = n.name;
    s.sourceLayers = n.sourceLayers;
    s.notes = n.notes;
    s.device = device;
    IPluginCreator* creator = chosen;
    GIE_CHECK(creator, ErrorCode::kINTERNAL, "layer '", n.name, "': the negotiation chose no kernel");
    s.plugin.reset(n.userPlugin ? n.userPlugin->clone() : creator->createPlugin(n.name.c_str(), n.fields.collection()));
    s.variant = creator->getPluginVariant() ? creator->getPluginVariant() : "";
    if (std::string note = originNote(creator); !note.empty()) s.notes.push_back(note);  // for "load X first" at engine load
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
        bool strided = isStrided(d);
        bool ok = !strided || (p < nIn ? s.plugin->supportsStridedInput() : s.plugin->supportsStridedOutput());
        GIE_CHECK(ok, ErrorCode::kINTERNAL, "layer '", n.name, "': a pass gave it a strided ", p < nIn ? "input" : "output",
                  " its kernel does not support");
    }
    for (int32_t p = 0; p < nIn + nOut; ++p)
        GIE_CHECK(s.plugin->supportsFormatCombination(p, all.data(), nIn, nOut), ErrorCode::kUNSUPPORTED, "layer '", n.name, "' (",
                  s.type, "): the kernel does not support ", p < nIn ? "input " : "output ", p < nIn ? p : p - nIn, " as ",
                  stateName(all[static_cast<size_t>(p)].type, all[static_cast<size_t>(p)].format), " (types: ", describeTypes(all, static_cast<size_t>(nIn)), ")");
    return s;
}

//! Configures every step's kernel for the shapes its tensors take over the profiles (configureWithRange).
void configureSteps(EnginePlan& p) {
    const std::vector<TensorRange> ranges = tensorRanges(p);
    for (auto& s : p.steps)
        if (configureStep(p, s, ranges) != 0) {
            const char* msg = nullptr;
            getLastError(&msg);
            fail(ErrorCode::kINVALID_MODEL, "layer '", s.name, "': configure failed", msg && *msg ? std::string(": ") + msg : std::string());
        }
}

//! The shapes of the inputs (p.inputs order) in profile `profile` at `select`.
std::vector<Dims> profileInputs(const EnginePlan& p, size_t profile, OptProfileSelector select) {
    std::vector<Dims> r;
    for (const InputRange& x : p.profiles[profile]) r.push_back(x.at(select));
    return r;
}

//! Dims of every tensor with the inputs at `inputs` (views and wide parents follow their slices). With `check`,
//! fails when a shape cannot be computed or outgrows the plan; `where` names the shapes in messages ("at batch 2",
//! "at optimization profile 0's opt shapes"). An engine without explicit shapes keeps the batch wording.
std::vector<Dims> dimsAt(const EnginePlan& p, const std::vector<Dims>& inputs, bool check, const std::string& where) {
    std::vector<Dims> dims(p.tensors.size());
    for (size_t t = 0; t < p.tensors.size(); ++t) dims[t] = p.tensors[t].dims;
    for (size_t k = 0; k < p.inputs.size(); ++k) dims[static_cast<size_t>(p.inputs[k])] = inputs[k];
    if (const ShapeIssue issue = propagateShapes(p, dims, check)) {
        if (issue.tensor >= 0 && !issue.message.empty())
            fail(ErrorCode::kINVALID_MODEL, "tensor '", p.tensors[static_cast<size_t>(issue.tensor)].name, "' ", where, ": ", issue.message);
        if (issue.tensor >= 0 && !p.explicitShapes)
            fail(ErrorCode::kINVALID_MODEL, "tensor '", p.tensors[static_cast<size_t>(issue.tensor)].name, "' is larger ", where, " than at batch ",
                 p.maxBatch, "; dimension 0 must be the batch");
        if (issue.tensor >= 0)
            fail(ErrorCode::kINVALID_MODEL, "tensor '", p.tensors[static_cast<size_t>(issue.tensor)].name, "' would be ", toString(issue.dims), " ",
                 where, ", more than 2^40 elements");
        fail(ErrorCode::kINVALID_MODEL, "layer '", p.steps[static_cast<size_t>(issue.step)].name, "' cannot run ", where,
             issue.message.empty() ? std::string() : ": " + issue.message);
    }
    return dims;
}

//! The batch wording of an engine without explicit shapes, else the profile's.
std::string describeShapes(const EnginePlan& p, size_t profile, OptProfileSelector select) {
    const char* sel = select == OptProfileSelector::kMIN ? "min" : select == OptProfileSelector::kOPT ? "opt" : "max";
    if (!p.explicitShapes) {
        const int64_t b = select == OptProfileSelector::kMIN ? p.minBatch : select == OptProfileSelector::kOPT ? p.optBatch : p.maxBatch;
        return strcat("at batch ", b, select == OptProfileSelector::kMIN ? " (the smallest of the batch range)"
                                      : select == OptProfileSelector::kOPT ? " (the optimum of the batch range)" : "");
    }
    std::string shapes;
    for (const Dims& d : profileInputs(p, profile, select)) shapes += (shapes.empty() ? "" : ", ") + toString(d);
    return strcat("at optimization profile ", profile, "'s ", sel, " shapes (", shapes, ")");
}

//! The note a kernel of an engine with several profiles gets: each timed tactic's time at every profile's opt shapes
//! (each profile runs its fastest) and their total.
std::string profileTimesNote(IPlugin& k, const std::vector<double>& totals, const std::vector<std::vector<double>>& perProfile) {
    std::string note = "tactic times at the profiles' opt shapes (ms, profile 0 + 1 + ...; each profile runs its fastest):";
    char num[32];
    for (size_t t = 0; t < totals.size(); ++t) {
        if (totals[t] >= 1e29) continue;
        const char* nm = k.getTacticName(static_cast<int32_t>(t));
        note += strcat(note.back() == ':' ? " '" : "; '", nm ? nm : "?", "' ");
        for (size_t i = 0; i < perProfile[t].size(); ++i) {
            std::snprintf(num, sizeof num, "%s%.4g", i ? " + " : "", perProfile[t][i]);
            note += num;
        }
        std::snprintf(num, sizeof num, " = %.4g", totals[t]);
        note += num;
    }
    return note;
}

//! Fails, naming the layer, when the step's kernel (configured, its tactic set) needs more workspace than `limit`
//! (0: no limit). The figure is kernelWorkspace, which the engine allocates for this kernel at load.
void checkWorkspace(const EngineStep& s, size_t limit) {
    const uint64_t need = kernelWorkspace(*s.plugin);
    GIE_CHECK(limit == 0 || need <= limit, ErrorCode::kUNSUPPORTED, "layer '", s.name, "' (", s.type, s.variant.empty() ? "" : " " + s.variant,
              ", tactic '", s.tactic, "') needs ", need, " bytes of workspace, over the limit of ", limit,
              " bytes, and no other kernel or tactic for it fits; raise the workspace limit");
}

//! Records on step s the tactic each profile runs (best[i]: profile i's; best[0] is the step's own): an alternate per
//! other tactic, and the table of which instance each profile runs; neither when every profile chose the same.
void setProfileTactics(EngineStep& s, const IPlugin& k, const std::vector<int32_t>& best) {
    std::vector<int32_t> instances{best[0]};  // tactic of each instance: the step's kernel, then the alternates
    for (int32_t t : best) {
        auto it = std::find(instances.begin(), instances.end(), t);
        s.profileKernel.push_back(static_cast<int32_t>(it - instances.begin()));
        if (it != instances.end()) continue;
        instances.push_back(t);
        EngineStep::Alternate a;
        const char* nm = k.getTacticName(t);
        a.tactic = nm ? nm : "default";
        a.tacticIndex = t;
        s.alternates.push_back(std::move(a));
    }
    if (s.alternates.empty()) s.profileKernel.clear();
}

//! Chooses each kernel's tactic per optimization profile, as TensorRT does: a forced one (config overrides) for every
//! profile, else each profile's fastest at its opt shapes among the tactics that run at every profile's opt shapes and
//! fit the workspace limit. The kernel (its creator, types and formats, negotiated once for all profiles) is the same
//! for every profile: only the tactic may differ. The step's kernel runs profile 0's tactic; a profile whose fastest
//! differs gets an alternate (EngineStep::alternates, cloned by the engine). Timings come from the timing cache when it
//! has them. With several profiles a note on the kernel gives each profile's times.
void selectTactics(EnginePlan& p, const BuilderConfigImpl& config, Backend& b, TimingCache& cache, ILogger* logger) {
    p.timingBatch = p.optBatch;
    std::vector<std::vector<Dims>> dims;  // per profile, at its opt shapes
    for (size_t i = 0; i < p.profiles.size(); ++i)
        dims.push_back(dimsAt(p, profileInputs(p, i, OptProfileSelector::kOPT), false, describeShapes(p, i, OptProfileSelector::kOPT)));
    const size_t nbProfiles = dims.size();
    const size_t hitsBefore = cache.hits();
    std::string cachePath = config.getTimingCachePath();
    void* stream = b.createStream();
    size_t measured = 0;
    try {
        for (auto& s : p.steps) {
            IPlugin& k = *s.plugin;
            int32_t nt = k.getNbTactics();
            std::string forced;
            for (const auto& o : config.overrides())
                if (o.first == s.name || o.first == s.type) forced = o.second;
            const size_t limit = config.getWorkspaceLimit();
            if (nt <= 1 && forced.empty()) {
                const char* nm = k.getTacticName(0);
                s.tactic = nm ? nm : "default";
                checkWorkspace(s, limit);
                continue;
            }
            std::vector<std::vector<TensorDesc>> in(nbProfiles), out(nbProfiles);
            for (size_t i = 0; i < nbProfiles; ++i) {
                for (int32_t t : s.inputs) in[i].push_back(tensorDesc(p, t, dims[i][static_cast<size_t>(t)]));
                for (int32_t t : s.outputs) out[i].push_back(tensorDesc(p, t, dims[i][static_cast<size_t>(t)]));
            }
            if (!forced.empty()) {
                int32_t pick = -1;
                std::string names;
                for (int32_t t = 0; t < nt; ++t) {
                    const char* nm = k.getTacticName(t);
                    names += strcat(t ? ", " : "", nm ? nm : "?");
                    if (k.setTactic(t) != 0) continue;
                    if (nm && forced == nm) pick = t;
                    s.tacticTimes.emplace_back(nm ? nm : "?", -1.0);
                }
                GIE_CHECK(pick >= 0, ErrorCode::kINVALID_ARGUMENT, "kernel '", s.name, "' (", s.type, "): the forced tactic '", forced,
                          "' does not exist or cannot run for these shapes (tactics: ", names, ")");
                s.tacticIndex = pick;
                s.notes.push_back("tactic '" + forced + "' forced by the builder config");
            } else {
                std::vector<std::unique_ptr<TimingBuffers>> io(nbProfiles);
                std::vector<int32_t> best(nbProfiles, -1);  // per profile
                std::vector<double> times(static_cast<size_t>(nt), 1e30);  // the total over the profiles
                std::vector<std::vector<double>> perProfile(static_cast<size_t>(nt));
                std::vector<double> fastestSoFar(nbProfiles, 1e30);  // per profile, for the timing cutoff
                bool allowTf32 = config.getFlag(BuilderFlag::kTF32);
                const bool allowUnverified = unverifiedTacticsAllowed();
                for (int32_t t = 0; t < nt; ++t) {
                    const char* tname = k.getTacticName(t);
                    if (!allowTf32 && tname && std::strstr(tname, "tf32")) continue;  // tensor-core FP32 tactics not allowed
                    if (tname && !allowUnverified && tacticUnverified(tname)) continue;  // tactic_architecture.h
                    if (k.setTactic(t) != 0) continue;
                    double total = 0;
                    for (size_t i = 0; i < nbProfiles && total < 1e29; ++i) {
                        std::string key = TimingCache::key(k, s.variant.c_str(), in[i], out[i], k.getTacticName(t));
                        double ms = 0;
                        if (!cache.lookup(key, ms)) {
                            if (!io[i]) io[i] = std::make_unique<TimingBuffers>(in[i], out[i], b);
                            ms = timeTactic(k, t, in[i], out[i], *io[i], b, stream, logger, fastestSoFar[i]);
                            ++measured;
                            if (ms < 1e29) cache.put(key, ms);
                        }
                        fastestSoFar[i] = std::min(fastestSoFar[i], ms);
                        perProfile[static_cast<size_t>(t)].push_back(ms);
                        total += ms;
                    }
                    times[static_cast<size_t>(t)] = total;
                }
                for (int32_t t = 0; t < nt; ++t) {
                    if (times[static_cast<size_t>(t)] >= 1e29) continue;
                    k.setTactic(t);
                    s.tacticTimes.emplace_back(k.getTacticName(t), times[static_cast<size_t>(t)]);
                    bool fits = limit == 0 || kernelWorkspace(k) <= limit;
                    for (size_t i = 0; fits && i < nbProfiles; ++i) {
                        const auto& ms = perProfile[static_cast<size_t>(t)];
                        if (best[i] < 0 || ms[i] < perProfile[static_cast<size_t>(best[i])][i]) best[i] = t;
                    }
                }
                GIE_CHECK(best[0] >= 0, ErrorCode::kUNSUPPORTED, "layer '", s.name, "': no tactic runs",
                          limit ? strcat(" within the workspace limit of ", limit, " bytes") : std::string());
                std::sort(s.tacticTimes.begin(), s.tacticTimes.end(), [](const auto& a, const auto& c) { return a.second < c.second; });
                s.tacticIndex = best[0];
                setProfileTactics(s, k, best);
                if (nbProfiles > 1) s.notes.push_back(profileTimesNote(k, times, perProfile));
            }
            GIE_CHECK(k.setTactic(s.tacticIndex) == 0, ErrorCode::kINTERNAL, "layer '", s.name, "': setTactic failed");
            s.tactic = k.getTacticName(s.tacticIndex);
            checkWorkspace(s, limit);
        }
    } catch (...) {
        b.destroyStream(stream);
        throw;
    }
    b.destroyStream(stream);
    if (!cachePath.empty()) {
        cache.save(cachePath);
        logMessage(logger, ILogger::Severity::kINFO, strcat("timing cache '", cachePath, "': ", cache.hits() - hitsBefore, " timings reused, ", measured,
                                                            " measured, ", cache.size(), " entries saved"));
    }
}

//! Puts independent branches on auxiliary streams: a step continues the stream of a producer whose
//! stream has not moved on; a second consumer of the same producer (a fork) starts another stream.
void assignStreams(EnginePlan& p, int32_t maxAux) {
    std::vector<std::vector<int>> producers = tensorWriters(p);
    std::vector<int> tail;  // last step of each stream
    for (size_t i = 0; i < p.steps.size(); ++i) {
        auto& st = p.steps[i];
        int chosen = -1;
        for (int32_t t : st.inputs) {
            for (int pr : producers[static_cast<size_t>(t)])
                for (size_t k = 0; chosen < 0 && k < tail.size(); ++k)
                    if (tail[k] == pr) chosen = static_cast<int>(k);
            if (chosen >= 0) break;
        }
        if (chosen < 0) {
            if (tail.empty() || static_cast<int32_t>(tail.size()) <= maxAux)
                chosen = static_cast<int>(tail.size()), tail.push_back(-1);
            else
                chosen = static_cast<int>(std::min_element(tail.begin(), tail.end()) - tail.begin());  // the stream idle longest
        }
        tail[static_cast<size_t>(chosen)] = static_cast<int>(i);
        st.stream = chosen;
    }
}

//! The input shapes an engine is built for: its optimization profiles (inputs in network order) and what follows.
struct ResolvedProfiles {
    std::vector<std::vector<InputRange>> profiles;
    std::vector<Dims> planned;  // per input: the elementwise max over every profile's max (the IR's shapes)
    bool explicitShapes = false;
    int64_t minBatch = 1, optBatch = 1, maxBatch = 1;
};

//! The config's profiles checked against the network, or (none added) the batch range on dimension 0.
ResolvedProfiles resolveProfiles(const NetworkImpl& net, const BuilderConfigImpl& cfg) {
    ResolvedProfiles rp;
    const auto& inputs = net.inputs();
    if (cfg.profiles().empty()) {
        rp.minBatch = cfg.getMinBatch();
        rp.optBatch = cfg.getOptBatch();
        rp.maxBatch = cfg.getMaxBatch();
        std::vector<InputRange> one;
        for (const TensorImpl* in : inputs) {
            for (int k = 1; k < in->dims_.nbDims; ++k)
                GIE_CHECK(in->dims_.d[k] > 0, ErrorCode::kINVALID_ARGUMENT, "input '", in->name_, "' dimension ", k,
                          " is dynamic (-1); add an optimization profile that gives its range (config.add_profile)");
            InputRange x;
            x.min = x.opt = x.max = in->dims_;
            x.min.d[0] = rp.minBatch;
            x.opt.d[0] = rp.optBatch;
            x.max.d[0] = rp.maxBatch;
            checkedVolume(x.max, ErrorCode::kINVALID_ARGUMENT, "input '", in->name_, "' at the largest batch (", rp.maxBatch, ")");
            one.push_back(x);
            rp.planned.push_back(x.max);
        }
        rp.profiles.push_back(std::move(one));
        return rp;
    }
    GIE_CHECK(cfg.getMinBatch() == 1 && cfg.getOptBatch() == 1 && cfg.getMaxBatch() == 1, ErrorCode::kINVALID_ARGUMENT,
              "the config has both a batch range (setBatchRange / max_batch: ", cfg.getMinBatch(), ", ", cfg.getOptBatch(), ", ", cfg.getMaxBatch(),
              ") and optimization profiles; use one or the other (a profile gives dimension 0 its range)");
    rp.explicitShapes = true;
    std::string names;
    for (const TensorImpl* in : inputs) names += (names.empty() ? "'" : ", '") + in->name_ + "'";
    for (size_t i = 0; i < cfg.profiles().size(); ++i) {
        const OptimizationProfileImpl& prof = *cfg.profiles()[i];
        for (const auto& e : prof.entries())
            GIE_CHECK(std::any_of(inputs.begin(), inputs.end(), [&](const TensorImpl* in) { return in->name_ == e.input; }),
                      ErrorCode::kINVALID_ARGUMENT, "optimization profile ", i, " gives shapes for '", e.input,
                      "', which is not a network input (inputs: ", names, ")");
        std::vector<InputRange> ranges;
        for (const TensorImpl* in : inputs) {
            // An imported symbolic batch is dynamic like a -1 (its declared value only seeded the import).
            Dims decl = in->dims_;
            if (in->symbolicBatch_ && decl.nbDims > 0) decl.d[0] = -1;
            bool dynamic = false;
            for (int k = 0; k < decl.nbDims; ++k) dynamic = dynamic || decl.d[k] < 0;
            InputRange x;
            const auto* e = prof.find(in->name_);
            if (!e) {
                GIE_CHECK(!dynamic, ErrorCode::kINVALID_ARGUMENT, "input '", in->name_, "' has dynamic dimensions ", toString(decl),
                          " but optimization profile ", i, " gives it no min/opt/max shapes");
                x.min = x.opt = x.max = decl;
            } else {
                x.min = e->dims[0];
                x.opt = e->dims[1];
                x.max = e->dims[2];
                GIE_CHECK(x.min.nbDims == decl.nbDims, ErrorCode::kINVALID_ARGUMENT, "optimization profile ", i, ": input '", in->name_, "' has ",
                          decl.nbDims, " dimensions ", toString(decl), " but the profile gives ", x.min.nbDims, " (min ", toString(x.min), ")");
                for (int k = 0; k < decl.nbDims; ++k)
                    GIE_CHECK(decl.d[k] < 0 || (x.min.d[k] == decl.d[k] && x.max.d[k] == decl.d[k]), ErrorCode::kINVALID_ARGUMENT,
                              "optimization profile ", i, ": input '", in->name_, "' dimension ", k, " is fixed at ", decl.d[k], " but the profile gives [",
                              x.min.d[k], ", ", x.max.d[k], "] (min ", toString(x.min), ", max ", toString(x.max), ")");
            }
            ranges.push_back(x);
        }
        rp.profiles.push_back(std::move(ranges));
    }
    for (size_t k = 0; k < inputs.size(); ++k) {
        Dims m = rp.profiles[0][k].max;
        for (const auto& prof : rp.profiles)
            for (int j = 0; j < m.nbDims; ++j) m.d[j] = std::max(m.d[j], prof[k].max.d[j]);
        checkedVolume(m, ErrorCode::kINVALID_ARGUMENT, "input '", inputs[k]->name_, "' at the largest shape of its profiles");
        rp.planned.push_back(m);
    }
    // Dimension 0 of profile 0 over the inputs: what getMinBatch / getMaxBatch and reports call the batch range.
    rp.minBatch = rp.profiles[0][0].min.d[0];
    rp.maxBatch = rp.profiles[0][0].max.d[0];
    for (const InputRange& x : rp.profiles[0]) {
        rp.minBatch = std::min(rp.minBatch, x.min.d[0]);
        rp.maxBatch = std::max(rp.maxBatch, x.max.d[0]);
    }
    rp.optBatch = std::clamp(rp.profiles[0][0].opt.d[0], rp.minBatch, rp.maxBatch);
    return rp;
}

//! Explicit shapes: each tensor's planned bytes become the largest it takes at any profile's min, opt and max shapes
//! and, where a profile has at most 4 dynamic dimension positions, at the corners of its box (each such position at
//! its min or its max in every input at once: inputs that share a batch or a sequence length stay consistent; a
//! corner the layers refuse, two inputs that must agree but vary apart, is skipped). Fails naming the layer and the
//! profile when a min, opt or max shape cannot run.
void planProfileBytes(EnginePlan& p) {
    forEachProfileShape(p, [&](const std::vector<Dims>& dims) {
        for (size_t t = 0; t < p.tensors.size(); ++t) {
            auto& et = p.tensors[t];
            if (et.shapeTensor) continue;  // dims[t] is its value; its few bytes are planned from its own shape
            et.bytes = std::max(et.bytes, tensorBytes(dims[t], et.type, et.format));
        }
    }, [&](size_t i, OptProfileSelector sel) { dimsAt(p, profileInputs(p, i, sel), false, describeShapes(p, i, sel)); });
}

EnginePlan makePlan(Graph& g, DeviceType device, const BuilderConfigImpl& config, const ResolvedProfiles& rp, int layersBefore,
                    const PassContext& pctx, ILogger* logger) {
    Backend& backend = getBackend(device);
    EnginePlan p;
    p.device = device;
    p.computeCapability = backend.computeCapability();
    p.flags = config.flags();
    if (device != DeviceType::kGPU) p.flags &= ~(1ull << static_cast<int>(BuilderFlag::kTF32));  // GPU only
    p.minBatch = rp.minBatch;
    p.optBatch = rp.optBatch;
    p.maxBatch = rp.maxBatch;
    p.explicitShapes = rp.explicitShapes;
    p.profiles = rp.profiles;
    p.layersBefore = layersBefore;
    p.cudaGraph = config.getCudaGraph() && device == DeviceType::kGPU;
    p.kernelsConfigured = true;  // configureSteps configures each kernel; the engine must not do it again
    for (const auto& line : pctx.log) p.buildLog += line + "\n";

    // Every timed tactic initializes and terminates its kernel (weights, workspace): with GIE_BUILD_ALLOC_CACHE=1 the
    // GPU reuses the freed blocks instead of cudaFree / cudaMalloc each time (Backend::buildAllocationCache). Off by
    // default: NOT YET MEASURED ON A GPU (ResNet-50 FP16's build spent 22 of 41 s setting tactics up, H100).
    const char* allocCacheEnv = std::getenv("GIE_BUILD_ALLOC_CACHE");
    BuildAllocationCacheScope allocCache(backend, allocCacheEnv && std::strcmp(allocCacheEnv, "1") == 0);
    TimingCache cache;
    const std::string cachePath = config.getTimingCachePath();
    if (!cachePath.empty()) cache.load(cachePath, strcat(backend.deviceName(), " sm", backend.computeCapability()));
    NegotiationOptions no;
    no.device = device;
    no.fp16 = config.getFlag(BuilderFlag::kFP16);
    no.int8 = config.getFlag(BuilderFlag::kINT8);
    no.obey = config.getFlag(BuilderFlag::kOBEY_PRECISION_CONSTRAINTS) || config.getFlag(BuilderFlag::kSTRICT_TYPES);
    no.prefer = config.getFlag(BuilderFlag::kPREFER_PRECISION_CONSTRAINTS) && !no.obey;
    no.allowTf32 = config.getFlag(BuilderFlag::kTF32);
    no.workspaceLimit = config.getWorkspaceLimit();
    for (size_t i = 0; i < rp.profiles.size(); ++i) {
        no.optInputDims.push_back(profileInputs(p, i, OptProfileSelector::kOPT));
        no.minInputDims.push_back(profileInputs(p, i, OptProfileSelector::kMIN));
        no.optWhat.push_back(describeShapes(p, i, OptProfileSelector::kOPT));
    }
    no.overrides = &config.overrides();
    using Clock = std::chrono::steady_clock;
    const size_t hitsBefore = cache.hits();
    tacticTimingClock() = TacticTimingClock{};
    auto t0 = Clock::now();
    const std::vector<IPluginCreator*> creators = negotiateFormats(g, no, backend, cache, logger, p.buildLog);
    p.buildTimes.emplace_back("format_negotiation_ms", msSince(t0));
    const size_t negotiationTimings = cache.puts();

    auto order = g.topologicalOrder();
    std::vector<int> producerStep(g.tensors.size(), -1);
    for (size_t i = 0; i < order.size(); ++i)
        for (int o : g.nodes[static_cast<size_t>(order[i])].outputs) producerStep[static_cast<size_t>(o)] = static_cast<int>(i);

    p.tensors.resize(g.tensors.size());
    for (size_t t = 0; t < g.tensors.size(); ++t) {
        const IrTensor& it = g.tensors[t];
        EngineTensor& et = p.tensors[t];
        et.name = it.name;
        et.dims = it.shapeDims();
        et.shapeTensor = it.shapeTensor;
        et.type = it.type;
        et.format = it.format;
        if (it.type == DataType::kINT8 && it.dynamicRange > 0.f) et.scale = int8::scaleOfRange(it.dynamicRange);  // a quantized tensor
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
        p.tensors[t].viewTail = g.tensors[t].viewTail;
    }
    for (int ni : order) {
        const IrNode& node = g.nodes[static_cast<size_t>(ni)];
        std::vector<TensorDesc> descs;
        for (int t : node.inputs) descs.push_back(tensorDesc(p, t, p.tensors[static_cast<size_t>(t)].dims));
        for (int t : node.outputs) descs.push_back(tensorDesc(p, t, p.tensors[static_cast<size_t>(t)].dims));
        EngineStep s = makeStep(node, creators[static_cast<size_t>(ni)], descs, device);
        s.inputs.assign(g.nodes[static_cast<size_t>(ni)].inputs.begin(), g.nodes[static_cast<size_t>(ni)].inputs.end());
        s.outputs.assign(g.nodes[static_cast<size_t>(ni)].outputs.begin(), g.nodes[static_cast<size_t>(ni)].outputs.end());
        p.steps.push_back(std::move(s));
    }
    t0 = Clock::now();
    configureSteps(p);
    p.buildTimes.emplace_back("kernel_configuration_ms", msSince(t0));
    t0 = Clock::now();
    selectTactics(p, config, backend, cache, logger);
    p.buildTimes.emplace_back("tactic_selection_ms", msSince(t0));
    p.buildTimes.emplace_back("timings_measured_negotiation", static_cast<double>(negotiationTimings));
    p.buildTimes.emplace_back("timings_measured_tactic_selection", static_cast<double>(cache.puts() - negotiationTimings));
    p.buildTimes.emplace_back("timings_reused", static_cast<double>(cache.hits() - hitsBefore));
    // of the negotiation's and the tactic selection's time: preparing the tactics timed and running them
    p.buildTimes.emplace_back("tactic_setup_ms", tacticTimingClock().setupMs);
    p.buildTimes.emplace_back("tactic_runs_ms", tacticTimingClock().runMs);
    t0 = Clock::now();
    p.workspaceBytes = planWorkspace(p);
    if (device == DeviceType::kGPU && config.getMaxAuxStreams() != 0)
        assignStreams(p, config.getMaxAuxStreams() < 0 ? 3 : config.getMaxAuxStreams());
    p.nbStreams = countStreams(p);
    if (p.explicitShapes) planProfileBytes(p);
    planActivations(p);
    p.buildTimes.emplace_back("planning_ms", msSince(t0));
    return p;
}

//! Every shape must also be computable at the smallest batch (a reshape to a fixed size would not be).
void checkBatchRange(const EnginePlan& p) {
    if (p.explicitShapes || p.minBatch == p.maxBatch) return;  // (planProfileBytes checked the profiles)
    dimsAt(p, profileInputs(p, 0, OptProfileSelector::kMIN), true, describeShapes(p, 0, OptProfileSelector::kMIN));
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

//! Median ms of one enqueue of the whole engine at its optimum batch, on random inputs.
double timeEngine(EngineImpl& e, bool serial) {
    Backend& b = e.backend();
    const EnginePlan& p = e.plan();
    std::unique_ptr<IExecutionContext> ctx(e.createExecutionContext());
    GIE_CHECK(ctx, ErrorCode::kINTERNAL, "cannot create a context to time the engine");
    setContextSerial(ctx.get(), serial);
    std::vector<DeviceBuffer> bufs;
    for (size_t k = 0; k < p.inputs.size(); ++k) {
        const auto& et = p.tensors[static_cast<size_t>(p.inputs[k])];
        ctx->setInputShape(et.name.c_str(), p.profiles[0][k].opt);
        std::vector<uint8_t> host(static_cast<size_t>(et.bytes), 0);
        bufs.emplace_back(b, host.size() + 1, "engine timing input");
        b.copy(bufs.back().get(), host.data(), host.size(), CopyKind::kHostToDevice, nullptr);
        ctx->setTensorAddress(et.name.c_str(), bufs.back().get());
    }
    for (int32_t t : p.outputs) {
        const auto& et = p.tensors[static_cast<size_t>(t)];
        bufs.emplace_back(b, static_cast<size_t>(et.bytes) + 1, "engine timing output");
        ctx->setTensorAddress(et.name.c_str(), bufs.back().get());
    }
    void* stream = b.createStream();
    double ms = 1e30;
    try {
        ms = medianMs(b, stream, [&] {
            if (!ctx->enqueue(stream)) {
                const char* msg = nullptr;
                getLastError(&msg);
                fail(ErrorCode::kINTERNAL, "engine timing run failed: ", msg ? msg : "");
            }
        }, 9, 2);
    } catch (...) {
        b.destroyStream(stream);
        throw;
    }
    b.destroyStream(stream);
    return ms;
}

//! Keeps the auxiliary streams only when the whole engine runs faster with them; otherwise every step
//! goes to one stream and the activations are re-planned (concurrency needs more memory). The timing runs
//! on a trial engine over the plan, taken apart again before the plan is changed, so that the engine the
//! builder returns is constructed once, from the final plan, and never edited afterwards.
void chooseStreams(EnginePlan& p, ILogger* logger) {
    auto trial = std::make_unique<EngineImpl>(std::move(p), logger);
    double multi = timeEngine(*trial, false), serial = timeEngine(*trial, true);
    p = EngineImpl::takeApart(std::move(trial));
    char buf[160];
    if (multi < serial * 0.97) {
        std::snprintf(buf, sizeof buf, "auxiliary streams: %d streams, %.3f ms vs %.3f ms on one stream: kept", p.nbStreams, multi, serial);
        p.buildLog += std::string(buf) + "\n";
        return;
    }
    std::snprintf(buf, sizeof buf, "auxiliary streams: %d streams, %.3f ms vs %.3f ms on one stream: not faster, one stream used", p.nbStreams,
                  multi, serial);
    p.buildLog += std::string(buf) + "\n";
    for (auto& s : p.steps) s.stream = 0;
    p.nbStreams = 1;
    planActivations(p);
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
    IOptimizationProfile* createOptimizationProfile() noexcept override {
        return apiGuard<IOptimizationProfile*>(logger_, nullptr, [&] {
            std::lock_guard<std::mutex> lock(profilesMutex_);
            profiles_.push_back(std::make_unique<OptimizationProfileImpl>());
            return profiles_.back().get();
        });
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
            const ResolvedProfiles rp = resolveProfiles(*net, *cfg);
            const Graph lowered = Graph::fromNetwork(*net, rp.planned);
            int layersBefore = lowered.liveNodes();
            std::string networkJson = describeNetwork(lowered);
            std::map<std::string, float> calibrated;
            const bool calibrate = cfg->getFlag(BuilderFlag::kINT8) && cfg->getInt8Calibrator();
            CalibrationResult calibration;
            auto tc = std::chrono::steady_clock::now();
            if (calibrate)
                calibration = calibrateNetwork(*net, *cfg->getInt8Calibrator(), logger_, false, rp.explicitShapes ? &rp.profiles : nullptr, device);
            const double calibrationMs = msSince(tc);
            calibrated = calibration.amax;
            PassContext ctx;
            ctx.device = device;
            ctx.int8 = cfg->getFlag(BuilderFlag::kINT8);
            ctx.fixedShapes = fixedInputShapes(rp.profiles, rp.planned);
            ctx.inputShapeBounds = inputShapeBounds(rp.profiles);
            ctx.logger = logger_;
            if (calibrate)  // the build report's "passes" says where the ranges came from
                ctx.log.push_back(calibration.fromCache ? "int8 calibration: ranges read from the calibration cache"
                                                        : strcat("int8 calibration: ", calibration.batches, " batches on the ",
                                                                 calibration.device == DeviceType::kGPU ? "GPU" : "CPU", " (FP32)"));
            // Calibrated ranges go to the lowered graph before the passes: they keep a surviving tensor's range (a
            // fused conv + ReLU writes the ReLU's output).
            tc = std::chrono::steady_clock::now();
            Graph g = optimizeNetwork(*net, rp.planned, cfg->disabledPasses(), ctx, calibrate ? &calibrated : nullptr);
            const double passesMs = msSince(tc);
            if (cfg->getFlag(BuilderFlag::kREFIT)) {
                noteWeightSources(g, lowered);
                if (!cfg->disabledPasses().empty()) {
                    std::string names;
                    for (const auto& n : cfg->disabledPasses()) names += (names.empty() ? "" : ",") + n;
                    ctx.log.push_back(kDisabledPassesLine + names);
                }
            }
            EnginePlan plan = makePlan(g, device, *cfg, rp, layersBefore, ctx, logger_);
            plan.networkJson = std::move(networkJson);
            checkBatchRange(plan);
            double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            plan.buildTimes.insert(plan.buildTimes.begin(), {{"calibration_ms", calibrationMs}, {"optimizer_passes_ms", passesMs}});
            plan.buildTimes.emplace_back("total_ms", ms);
            std::string phases;
            for (const auto& [what, v] : plan.buildTimes)
                phases += strcat(phases.empty() ? "" : " ", what, "=", static_cast<int64_t>(v + 0.5));
            log(ILogger::Severity::kINFO, strcat("built ", device == DeviceType::kGPU ? "GPU" : "CPU", " engine in ", static_cast<int64_t>(ms),
                                                 " ms: ", layersBefore, " layers -> ", plan.steps.size(), " kernels; activation arena ",
                                                 plan.arenaBytes, " bytes (no reuse ", plan.noReuseBytes, ", lower bound ", plan.lowerBoundBytes, "); ", phases));
            if (plan.nbStreams > 1 && cfg->getMaxAuxStreams() < 0) chooseStreams(plan, logger_);
            return new EngineImpl(std::move(plan), logger_);
        });
    }

private:
    void log(ILogger::Severity s, const std::string& m) { logMessage(logger_, s, m); }
    ILogger* logger_;
    std::mutex profilesMutex_;  // createOptimizationProfile may be called from several building threads
    std::vector<std::unique_ptr<OptimizationProfileImpl>> profiles_;  // owned by the builder, as in TensorRT
};

}  // namespace

IBuilder* createBuilder(ILogger& logger) noexcept {
    return apiGuard<IBuilder*>(&logger, nullptr, [&] { return new BuilderImpl(logger); });
}

}  // namespace gie
