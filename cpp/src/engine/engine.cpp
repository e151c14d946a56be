#include "engine/engine.h"

#include <algorithm>
#include <cstring>
#include <mutex>

#include "common/dims.h"
#include "common/error.h"
#include "common/format.h"
#include "common/json.h"
#include "engine/tactic_architecture.h"
#include "layers/convolution.h"
#include "layers/fully_connected.h"
#include "layers/int8_math.h"
#include "plugin/configure_range.h"
#include "layers/shape_op.h"
#include "plugin/fields.h"

namespace gie {

IExecutionContext* createContext(const EngineImpl& engine);  // execution_context.cpp

TensorDesc makeDesc(const Dims& dims, DataType type, TensorFormat format) {
    TensorDesc d;
    d.dims = dims;
    d.type = type;
    d.format = format;
    d.strides = formatStrides(dims, format);
    return d;
}

int64_t tensorBytes(const Dims& dims, DataType type, TensorFormat format) { return formatVolume(dims, format) * dataTypeSize(type); }

TensorDesc tensorDesc(const EnginePlan& plan, int32_t t, const Dims& dims) {
    const EngineTensor& et = plan.tensors[static_cast<size_t>(t)];
    if (et.shapeTensor) {  // `dims` is the value, which a kernel may read; the host data has no strides
        TensorDesc d;
        d.dims = dims;
        d.type = et.type;
        d.format = et.format;
        d.strides.nbDims = -1;  // common/format.h isStrided
        return d;
    }
    TensorDesc d = makeDesc(dims, et.type, et.format);
    d.scale = et.scale;
    if (et.channelSlice() && dims.nbDims > 0) d.strides.d[0] = viewItemStride(dims, plan.tensors[static_cast<size_t>(et.viewOf)].dims.d[1]);
    return d;
}

std::vector<std::vector<int>> tensorWriters(const EnginePlan& p) {
    std::vector<std::vector<int>> own(p.tensors.size()), w(p.tensors.size());
    for (size_t s = 0; s < p.steps.size(); ++s)
        for (int32_t t : p.steps[s].outputs) own[static_cast<size_t>(t)].push_back(static_cast<int>(s));
    for (size_t t = 0; t < p.tensors.size(); ++t) {
        auto& out = w[t];
        out = own[t];
        int32_t parent = p.tensors[t].viewOf;
        if (parent >= 0) out.insert(out.end(), own[static_cast<size_t>(parent)].begin(), own[static_cast<size_t>(parent)].end());
        for (size_t v = 0; v < p.tensors.size(); ++v)
            if (p.tensors[v].viewOf == static_cast<int32_t>(t)) out.insert(out.end(), own[v].begin(), own[v].end());
        std::sort(out.begin(), out.end());
        out.erase(std::unique(out.begin(), out.end()), out.end());
    }
    return w;
}

ShapeIssue propagateShapes(const EnginePlan& p, std::vector<Dims>& dims, bool checkBytes) {
    ShapeIssue issue;
    std::vector<int32_t> parentSetBy(p.tensors.size(), -1);  // the view whose shape gave a parent its shape
    auto sizeIssue = [&](size_t s, int32_t t, const Dims& d) {
        const auto& et = p.tensors[static_cast<size_t>(t)];
        const int64_t n = boundedVolume(d);  // -1 beyond 2^40 elements: larger than any plan
        if (n >= 0 && !(checkBytes && tensorBytes(d, et.type, et.format) > et.bytes)) return false;
        issue.step = static_cast<int32_t>(s);
        issue.tensor = t;
        issue.dims = d;
        return true;
    };
    for (size_t s = 0; s < p.steps.size(); ++s) {
        const auto& st = p.steps[s];
        std::vector<Dims> in, out(st.outputs.size());
        for (int32_t t : st.inputs) in.push_back(dims[static_cast<size_t>(t)]);
        if (st.plugin->getOutputDimensions(in.data(), static_cast<int32_t>(in.size()), out.data()) != 0) {
            const char* msg = nullptr;
            getLastError(&msg);
            issue.step = static_cast<int32_t>(s);
            issue.message = msg ? msg : "";
            return issue;
        }
        if (st.type == ShapeOp::kType) {  // a shape tensor's value (bounded by its rule), no memory behind it
            for (size_t i = 0; i < out.size(); ++i) dims[static_cast<size_t>(st.outputs[i])] = out[i];
            continue;
        }
        for (size_t i = 0; i < out.size(); ++i) {
            const int32_t o = st.outputs[i];
            const auto& et = p.tensors[static_cast<size_t>(o)];
            if (sizeIssue(s, o, out[i])) return issue;
            dims[static_cast<size_t>(o)] = out[i];
            if (out[i].nbDims == 0) continue;
            if (et.viewOf >= 0) {
                // A producer writing its slice of an eliminated concatenation: the slice keeps its channels, and every
                // slice of the parent has one shape (else the offsets of the slices would overlap).
                const size_t parent = static_cast<size_t>(et.viewOf);
                const Dims pd = withChannels(out[i], p.tensors[parent].dims.d[1]);
                std::string why;
                if (out[i].nbDims != et.dims.nbDims || out[i].d[1] != et.dims.d[1])
                    why = strcat("it is a channel slice of '", p.tensors[parent].name, "' planned with ", et.dims.nbDims > 1 ? et.dims.d[1] : 0,
                                 " channels and would be ", toString(out[i]));
                else if (parentSetBy[parent] >= 0 && dims[parent] != pd)
                    why = strcat("it is a channel slice of '", p.tensors[parent].name, "' and would be ", toString(out[i]), " while slice '",
                                 p.tensors[static_cast<size_t>(parentSetBy[parent])].name, "' is ",
                                 toString(withChannels(dims[parent], et.dims.d[1])), "; the slices of one concatenation must agree");
                if (!why.empty()) {
                    issue.step = static_cast<int32_t>(s);
                    issue.tensor = o;
                    issue.dims = out[i];
                    issue.message = why;
                    return issue;
                }
                if (sizeIssue(s, static_cast<int32_t>(parent), pd)) return issue;
                dims[parent] = pd;
                parentSetBy[parent] = o;
            }
            for (size_t v = 0; v < p.tensors.size(); ++v) {
                const EngineTensor& vt = p.tensors[v];
                if (vt.viewOf != o) continue;
                if (vt.channelSlice()) {
                    dims[v] = withChannels(out[i], vt.dims.d[1]);
                    continue;
                }
                // A range view reads rows of `o` that are fixed by o's leading dimensions: those must stay as planned.
                if (!rangeViewLeadingDimsKept(et.dims, out[i], vt.viewTail)) {
                    issue.step = static_cast<int32_t>(s);
                    issue.tensor = static_cast<int32_t>(v);
                    issue.dims = out[i];
                    issue.message = strcat("it reads rows ", vt.viewOffset, ".. of '", et.name, "', planned as ", toString(et.dims),
                                           ", which would be ", toString(out[i]), " (only its last ", vt.viewTail, " dimensions may change)");
                    return issue;
                }
                dims[v] = rangeViewDims(vt.dims, vt.viewTail, out[i]);
            }
        }
    }
    return issue;
}

void forEachProfileShape(const EnginePlan& p, const std::function<void(const std::vector<Dims>&)>& visit,
                         const std::function<void(size_t, OptProfileSelector)>& failed) {
    auto at = [&](const std::vector<Dims>& inputs) {
        std::vector<Dims> dims(p.tensors.size());
        for (size_t t = 0; t < p.tensors.size(); ++t) dims[t] = p.tensors[t].dims;
        for (size_t k = 0; k < p.inputs.size(); ++k) dims[static_cast<size_t>(p.inputs[k])] = inputs[k];
        return std::make_pair(!propagateShapes(p, dims, false), std::move(dims));
    };
    for (size_t i = 0; i < p.profiles.size(); ++i) {
        const auto& prof = p.profiles[i];
        for (OptProfileSelector sel : {OptProfileSelector::kMIN, OptProfileSelector::kOPT, OptProfileSelector::kMAX}) {
            std::vector<Dims> inputs;
            for (const InputRange& x : prof) inputs.push_back(x.at(sel));
            auto [ok, dims] = at(inputs);
            if (ok)
                visit(dims);
            else
                failed(i, sel);
        }
        std::vector<int> positions;  // dimension positions that vary in some input
        for (const InputRange& x : prof)
            for (int j = 0; j < x.min.nbDims; ++j)
                if (x.min.d[j] != x.max.d[j] && std::find(positions.begin(), positions.end(), j) == positions.end()) positions.push_back(j);
        if (positions.empty() || positions.size() > 4) continue;
        for (uint32_t corner = 0; corner < (1u << positions.size()); ++corner) {
            std::vector<Dims> inputs;
            for (const InputRange& x : prof) inputs.push_back(x.min);
            for (size_t k = 0; k < inputs.size(); ++k)
                for (size_t b = 0; b < positions.size(); ++b)
                    if (corner & (1u << b)) inputs[k].d[positions[b]] = prof[k].max.d[positions[b]];
            auto [ok, dims] = at(inputs);
            if (ok) visit(dims);
        }
    }
    clearLastError();  // (a skipped corner's rule recorded its refusal)
}

std::vector<TensorRange> tensorRanges(const EnginePlan& p) {
    std::vector<TensorRange> r(p.tensors.size());
    for (size_t t = 0; t < p.tensors.size(); ++t) r[t].min = r[t].max = p.tensors[t].dims;
    forEachProfileShape(p, [&](const std::vector<Dims>& dims) {
        for (size_t t = 0; t < dims.size(); ++t) {
            if (dims[t].nbDims != r[t].min.nbDims) continue;  // (a rank that changed is not a range: keep the planned dims)
            for (int j = 0; j < dims[t].nbDims; ++j) {
                r[t].min.d[j] = std::min(r[t].min.d[j], dims[t].d[j]);
                r[t].max.d[j] = std::max(r[t].max.d[j], dims[t].d[j]);
            }
        }
    }, [](size_t, OptProfileSelector) {});
    return r;
}

int32_t configureStep(const EnginePlan& p, EngineStep& s, const std::vector<TensorRange>& ranges) { return configureKernel(p, s, *s.plugin, ranges); }

int32_t configureKernel(const EnginePlan& p, const EngineStep& s, IPlugin& k, const std::vector<TensorRange>& ranges) {
    std::vector<TensorDesc> in, out;
    std::vector<Dims> mins, maxs;
    for (size_t i = 0; i < s.inputs.size() + s.outputs.size(); ++i) {
        const int32_t t = i < s.inputs.size() ? s.inputs[i] : s.outputs[i - s.inputs.size()];
        (i < s.inputs.size() ? in : out).push_back(tensorDesc(p, t, p.tensors[static_cast<size_t>(t)].dims));
        mins.push_back(ranges[static_cast<size_t>(t)].min);
        maxs.push_back(ranges[static_cast<size_t>(t)].max);
    }
    return configureKernelRange(k, in, out, &mins, &maxs);
}

void markShapeTensors(EnginePlan& p) {
    for (const auto& st : p.steps)
        if (st.type == ShapeOp::kType)
            for (int32_t o : st.outputs) p.tensors[static_cast<size_t>(o)].shapeTensor = true;
}

uint64_t planWorkspace(const EnginePlan& p) {
    uint64_t w = 0;
    for (const auto& s : p.steps) {
        w = std::max(w, kernelWorkspace(*s.plugin));
        for (const auto& a : s.alternates)
            if (a.plugin) w = std::max(w, kernelWorkspace(*a.plugin));
    }
    return w;
}

//! The index of tactic `tactic` (stored index `index`) of a step's kernel: the stored index where the kernel still gives
//! it the stored name, else the index of that name (an engine built by a gie whose kernel lists its tactics in another
//! order, or has more of them). A name the kernel no longer offers is an invalid engine.
static int32_t resolveTactic(const EngineStep& step, const std::string& tactic, int32_t index) {
    const IPlugin& k = *step.plugin;
    const int32_t n = std::max<int32_t>(k.getNbTactics(), 1);
    auto nameOf = [&](int32_t t) {
        const char* nm = k.getTacticName(t);
        return std::string(nm ? nm : "default");
    };
    if (tactic.empty() || (index >= 0 && index < n && nameOf(index) == tactic)) return index;
    std::string offered;
    for (int32_t t = 0; t < n; ++t) {
        if (nameOf(t) == tactic) return t;
        offered += (t ? ", " : "") + nameOf(t);
    }
    fail(ErrorCode::kINVALID_ENGINE, "kernel '", step.name, "' (", step.type, "): the engine uses tactic '", tactic,
         "', which this build of the kernel does not offer (it has: ", offered, "); rebuild the engine");
}

EngineImpl::EngineImpl(EnginePlan plan, ILogger* logger) : plan_(std::move(plan)), logger_(logger) {
    backend_ = &getBackend(plan_.device);
    constantBuffers_.resize(plan_.tensors.size());
    for (size_t i = 0; i < plan_.tensors.size(); ++i) {
        const auto& t = plan_.tensors[i];
        if (t.kind != TensorKind::kConstant) continue;
        const auto& bytes = plan_.constants[static_cast<size_t>(t.constant)];
        constantBuffers_[i] = DeviceBuffer(*backend_, bytes.size() + 1, ("constant '" + t.name + "'").c_str());
        backend_->copy(constantBuffers_[i].get(), bytes.data(), bytes.size(), CopyKind::kHostToDevice, nullptr);
    }
    backend_->synchronize(nullptr);
    // The workspace contexts allocate is what the kernels ask for here and now, not the file's figure: a kernel's
    // need can depend on this process (its thread count), and a modified figure must neither starve nor bloat it.
    plan_.workspaceBytes = 0;
    try {
        // (A loaded engine's kernels are configured here, with the shapes they take over its profiles; so are the
        // alternates of tactics chosen per profile, clones of their step's kernel made here, at build and at load.)
        const bool alternates = std::any_of(plan_.steps.begin(), plan_.steps.end(), [](const EngineStep& s) { return !s.alternates.empty(); });
        const std::vector<TensorRange> ranges = plan_.kernelsConfigured && !alternates ? std::vector<TensorRange>() : tensorRanges(plan_);
        for (size_t s = 0; s < plan_.steps.size(); ++s) {
            auto& step = plan_.steps[s];
            auto check = [&](int32_t rc, const char* what) {
                if (rc == 0) return;
                const char* msg = nullptr;
                getLastError(&msg);
                fail(ErrorCode::kINVALID_ENGINE, "kernel '", step.name, "' (", step.type, "): ", what, " failed",
                     msg && *msg ? std::string(": ") + msg : std::string());
            };
            if (!plan_.kernelsConfigured)
                check(configureStep(plan_, step, ranges), "configure");
            for (auto& a : step.alternates) {  // cloned before the step's kernel holds device resources
                a.plugin.reset(step.plugin->clone());
                check(a.plugin ? 0 : -1, "clone (for a tactic chosen per optimization profile)");
                check(configureKernel(plan_, step, *a.plugin, ranges), "configure");
                check(a.plugin->setTactic(resolveTactic(step, a.tactic, a.tacticIndex)), "setTactic");
            }
            check(step.plugin->setTactic(resolveTactic(step, step.tactic, step.tacticIndex)), "setTactic");
            check(step.plugin->initialize(), "initialize");
            initialized_.push_back(s);
            for (auto& a : step.alternates) {
                check(a.plugin->initialize(), "initialize");
                initializedAlternates_.push_back(a.plugin.get());
            }
        }
        plan_.workspaceBytes = planWorkspace(plan_);
    } catch (...) {
        terminateKernels();
        throw;
    }
}

EngineImpl::~EngineImpl() { terminateKernels(); }

void EngineImpl::terminateKernels() {
    for (size_t s : initialized_) plan_.steps[s].plugin->terminate();
    for (IPlugin* a : initializedAlternates_) a->terminate();
    initialized_.clear();
    initializedAlternates_.clear();
}

EnginePlan EngineImpl::takeApart(std::unique_ptr<EngineImpl> engine) {
    engine->terminateKernels();
    for (auto& s : engine->plan_.steps)  // (the next engine over the plan clones them again)
        for (auto& a : s.alternates) a.plugin.reset();
    return std::move(engine->plan_);
}

const void* EngineImpl::constantData(int32_t tensor) const { return constantBuffers_[static_cast<size_t>(tensor)].get(); }

int32_t EngineImpl::ioIndex(const char* name) const {
    if (!name) return -1;
    for (int32_t t : plan_.inputs)
        if (plan_.tensors[static_cast<size_t>(t)].name == name) return t;
    for (int32_t t : plan_.outputs)
        if (plan_.tensors[static_cast<size_t>(t)].name == name) return t;
    return -1;
}

int32_t EngineImpl::getNbIOTensors() const noexcept { return static_cast<int32_t>(plan_.inputs.size() + plan_.outputs.size()); }

const char* EngineImpl::getIOTensorName(int32_t index) const noexcept {
    if (index < 0 || index >= getNbIOTensors()) return nullptr;
    size_t i = static_cast<size_t>(index);
    int32_t t = i < plan_.inputs.size() ? plan_.inputs[i] : plan_.outputs[i - plan_.inputs.size()];
    return plan_.tensors[static_cast<size_t>(t)].name.c_str();
}

bool EngineImpl::isInput(const char* name) const noexcept {
    int32_t t = ioIndex(name);
    return t >= 0 && plan_.tensors[static_cast<size_t>(t)].kind == TensorKind::kInput;
}

Dims EngineImpl::getTensorShape(const char* name) const noexcept {
    int32_t t = ioIndex(name);
    if (t < 0) {
        setLastError(ErrorCode::kINVALID_ARGUMENT, strcat("engine has no input or output named '", name ? name : "", "'"));
        Dims d;
        d.nbDims = -1;
        return d;
    }
    return plan_.tensors[static_cast<size_t>(t)].dims;
}

std::vector<std::vector<InputRange>> batchRangeProfile(const EnginePlan& p) {
    std::vector<InputRange> r;
    for (int32_t t : p.inputs) {
        InputRange x;
        x.min = x.opt = x.max = p.tensors[static_cast<size_t>(t)].dims;
        if (x.max.nbDims >= 1) {
            x.min.d[0] = p.minBatch;
            x.opt.d[0] = p.optBatch;
            x.max.d[0] = p.maxBatch;
        }
        r.push_back(x);
    }
    return {r};
}

Dims EngineImpl::getProfileShape(const char* inputName, int32_t profileIndex, OptProfileSelector select) const noexcept {
    Dims bad;
    bad.nbDims = -1;
    return apiGuard(logger_, bad, [&] {
        const int32_t t = ioIndex(inputName);
        GIE_CHECK(t >= 0 && plan_.tensors[static_cast<size_t>(t)].kind == TensorKind::kInput, ErrorCode::kINVALID_ARGUMENT,
                  "getProfileShape: the engine has no input named '", inputName ? inputName : "", "'");
        GIE_CHECK(profileIndex >= 0 && profileIndex < getNbOptimizationProfiles(), ErrorCode::kINVALID_ARGUMENT, "getProfileShape: profile ",
                  profileIndex, " does not exist; the engine has ", getNbOptimizationProfiles(), " optimization profile(s)");
        const int s = static_cast<int>(select);
        GIE_CHECK(s >= 0 && s <= 2, ErrorCode::kINVALID_ARGUMENT, "getProfileShape: selector ", s, " is not kMIN (0), kOPT (1) or kMAX (2)");
        const size_t k = static_cast<size_t>(std::find(plan_.inputs.begin(), plan_.inputs.end(), t) - plan_.inputs.begin());
        return plan_.profiles[static_cast<size_t>(profileIndex)][k].at(select);
    });
}

DataType EngineImpl::getTensorDataType(const char* name) const noexcept {
    int32_t t = ioIndex(name);
    return t < 0 ? DataType::kFLOAT : plan_.tensors[static_cast<size_t>(t)].type;
}

TensorFormat EngineImpl::getTensorFormat(const char* name) const noexcept {
    int32_t t = ioIndex(name);
    return t < 0 ? TensorFormat::kLINEAR : plan_.tensors[static_cast<size_t>(t)].format;
}

IHostMemory* EngineImpl::serialize() const noexcept {
    return apiGuard<IHostMemory*>(logger_, nullptr, [&]() -> IHostMemory* { return new HostMemory(serializePlan(plan_)); });
}

IExecutionContext* EngineImpl::createExecutionContext() noexcept {
    return apiGuard<IExecutionContext*>(logger_, nullptr, [&] { return createContext(*this); });
}

namespace {
const char* kindName(TensorKind k) {
    switch (k) {
        case TensorKind::kActivation: return "activation";
        case TensorKind::kInput: return "input";
        case TensorKind::kOutput: return "output";
        case TensorKind::kConstant: return "constant";
    }
    return "?";
}
const char* deviceName(DeviceType d) { return d == DeviceType::kGPU ? "gpu" : "cpu"; }

//! Whether a GPU FP16 kernel of `type` holds float field `name` in half (the Ops' halfWeightFields(); only these
//! Ops declare any).
bool heldInHalf(const std::string& type, const std::string& name) {
    auto in = [&](const char* kType, const std::vector<const char*>& names) {
        return type == kType && std::any_of(names.begin(), names.end(), [&](const char* n) { return name == n; });
    };
    return in(ConvolutionOp::kType, ConvolutionOp::halfWeightFields()) || in(DeconvolutionOp::kType, DeconvolutionOp::halfWeightFields()) ||
           in(FullyConnectedOp::kType, FullyConnectedOp::halfWeightFields());
}

//! The parameters of a step for reports (gie.profile computes each step's FLOPs and bytes from them): "fields", its
//! integer fields and one-value float fields, and "weights", the element count and stored type of every float field
//! (kernel, bias, scales: what the kernel reads besides its tensors). Built-in kernels serialize as a FieldMap of
//! their creator's fields; a step whose bytes are not such a map (a user plugin with its own format) gets neither.
void writeStepFields(JsonWriter& j, const EngineStep& s, size_t serializedSize, bool halfPrecision) {
    std::vector<uint8_t> bytes(serializedSize);
    s.plugin->serialize(bytes.data());
    FieldMap f;
    try {
        f = FieldMap::deserialize(bytes.data(), bytes.size(), "step fields");
    } catch (...) {
        return;
    }
    IPluginCreator* c = getPluginRegistry()->getCreatorVariant(s.type.c_str(), s.version.c_str(), s.device, s.variant.c_str());
    const PluginFieldCollection* declared = c ? c->getFieldNames() : nullptr;
    if (!declared) return;
    for (size_t i = 0; i < f.size(); ++i) {
        bool known = false;
        for (int32_t k = 0; k < declared->nbFields && !known; ++k) known = f.at(i).name == declared->fields[k].name;
        if (!known) return;  // not the creator's fields: a format of its own that happened to parse
    }
    auto isFloat = [](PluginFieldType t) { return t == PluginFieldType::kFLOAT16 || t == PluginFieldType::kFLOAT32 || t == PluginFieldType::kFLOAT64; };
    j.key("fields").beginObject();
    for (size_t i = 0; i < f.size(); ++i) {
        const Field& x = f.at(i);
        if (x.type == PluginFieldType::kCHAR) {
            j.key(x.name).value(f.getString(x.name));
        } else if (!isFloat(x.type)) {
            j.key(x.name).beginArray();
            for (int64_t v : f.ints(x.name)) j.value(v);
            j.endArray();
        } else if (x.length == 1) {
            j.key(x.name).value(static_cast<double>(f.getFloat(x.name, 0.f)));
        }
    }
    j.endObject();
    j.key("weights").beginArray();
    for (size_t i = 0; i < f.size(); ++i) {
        const Field& x = f.at(i);
        if (!isFloat(x.type)) continue;
        const bool half = halfPrecision && s.device == DeviceType::kGPU && heldInHalf(s.type, x.name);
        j.beginObject().key("field").value(x.name).key("elements").value(x.length);
        j.key("dtype").value(dataTypeName(half ? DataType::kHALF : DataType::kFLOAT)).endObject();
    }
    j.endArray();
}
}  // namespace

const char* EngineImpl::getLayerInformation() const noexcept {
    // Written once, on first use: an engine is shared by threads, and every caller gets the same string.
    try {
        std::call_once(reportOnce_, [this] { writeReport(); });
    } catch (...) {
        recordCurrentException(logger_);
        return "{}";
    }
    return report_.c_str();
}

//! Report spelling of a format: "linear", "nhwc", "hwc8".
static std::string lowerName(const char* s) {
    std::string r(s);
    for (char& c : r) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    return r;
}

void EngineImpl::writeReport() const {
    {
        JsonWriter j;
        j.beginObject();
        j.key("device").value(deviceName(plan_.device));
        j.key("compute_capability").value(static_cast<int64_t>(plan_.computeCapability));
        j.key("batch").beginObject().key("min").value(plan_.minBatch).key("opt").value(plan_.optBatch).key("max").value(plan_.maxBatch).endObject();
        // Per profile, per input: {"min": dims, "opt": dims, "max": dims} (one profile from the batch range without explicit shapes).
        j.key("explicit_shapes").value(plan_.explicitShapes);
        j.key("optimization_profiles").beginArray();
        for (const auto& profile : plan_.profiles) {
            j.beginObject();
            for (size_t k = 0; k < profile.size(); ++k) {
                j.key(plan_.tensors[static_cast<size_t>(plan_.inputs[k])].name).beginObject();
                j.key("min").dims(profile[k].min).key("opt").dims(profile[k].opt).key("max").dims(profile[k].max).endObject();
            }
            j.endObject();
        }
        j.endArray();
        j.key("cuda_graph").value(plan_.cudaGraph);
        j.key("timing_batch").value(plan_.timingBatch);
        auto tensorJson = [&](int32_t t) {
            const auto& et = plan_.tensors[static_cast<size_t>(t)];
            j.beginObject();
            j.key("name").value(et.name);
            j.key("shape").dims(et.dims);
            j.key("dtype").value(dataTypeName(et.type));
            j.key("format").value(lowerName(formatName(et.format)));
            j.key("kind").value(kindName(et.kind));
            j.key("bytes").value(et.bytes);
            if (et.viewOf >= 0) {
                j.key("view_of").value(plan_.tensors[static_cast<size_t>(et.viewOf)].name);
                j.key("view_offset_elements").value(et.rangeView() ? rangeViewOffset(et.dims, et.viewTail, et.viewOffset)
                                                                   : viewItemOffset(et.dims, et.viewOffset));  // at the planned shape
                j.key("view_kind").value(et.rangeView() ? "rows" : "channels");
            } else if (et.kind == TensorKind::kActivation) {
                j.key("offset").value(et.offset);
            }
            j.endObject();
        };
        j.key("inputs").beginArray();
        for (int32_t t : plan_.inputs) tensorJson(t);
        j.endArray();
        j.key("outputs").beginArray();
        for (int32_t t : plan_.outputs) tensorJson(t);
        j.endArray();
        // Asked once per step and report (a plugin may count or compute it): the fields below and the memory totals.
        std::vector<size_t> serializedSizes;
        for (const auto& st : plan_.steps) serializedSizes.push_back(st.plugin->getSerializationSize());
        j.key("kernels").beginArray();
        for (size_t si = 0; si < plan_.steps.size(); ++si) {
            const EngineStep& s = plan_.steps[si];
            j.beginObject();
            j.key("name").value(s.name);
            j.key("type").value(s.type);
            j.key("version").value(s.version);
            j.key("device").value(deviceName(s.device));
            j.key("source_layers").strings(s.sourceLayers);
            j.key("tactic").value(s.tactic);
            if (s.device == DeviceType::kGPU) j.key("tactic_architecture").value(tacticArchitecture(s.tactic));
            if (plan_.profiles.size() > 1) {  // the tactic each optimization profile runs (docs/dynamic_shapes.md)
                j.key("profile_tactics").beginArray();
                for (size_t i = 0; i < plan_.profiles.size(); ++i) j.value(s.tacticFor(static_cast<int32_t>(i)));
                j.endArray();
            }
            j.key("stream").value(static_cast<int64_t>(s.stream));
            j.key("tactic_times_ms").beginArray();
            for (const auto& tt : s.tacticTimes) j.beginObject().key("tactic").value(tt.first).key("ms").value(tt.second).endObject();
            j.endArray();
            DataType dt = s.outputs.empty() ? DataType::kFLOAT : plan_.tensors[static_cast<size_t>(s.outputs[0])].type;
            TensorFormat fmt = s.outputs.empty() ? TensorFormat::kLINEAR : plan_.tensors[static_cast<size_t>(s.outputs[0])].format;
            j.key("dtype").value(dataTypeName(dt));
            j.key("format").value(lowerName(formatName(fmt)));
            // The precision it computes in: HALF when one of its float tensors is stored as HALF (FP16 kernels read and/or
            // write half and accumulate in FP32), else FLOAT; other types (an int-only kernel) as they are. INT8 kernels
            // (variant "int8") compute in INT8 whatever their output's type.
            {
                DataType prec = dt;
                bool anyFloat = false, anyHalf = false;
                for (const auto* ids : {&s.inputs, &s.outputs})
                    for (int32_t t : *ids) {
                        const DataType x = plan_.tensors[static_cast<size_t>(t)].type;
                        anyFloat = anyFloat || x == DataType::kFLOAT;
                        anyHalf = anyHalf || x == DataType::kHALF;
                    }
                if (anyHalf) prec = DataType::kHALF;
                else if (anyFloat) prec = DataType::kFLOAT;
                if (s.variant == int8::kVariant) prec = DataType::kINT8;
                j.key("precision").value(dataTypeName(prec));
                writeStepFields(j, s, serializedSizes[si], prec == DataType::kHALF);
            }
            j.key("variant").value(s.variant);
            j.key("inputs").beginArray();
            for (int32_t t : s.inputs) tensorJson(t);
            j.endArray();
            j.key("outputs").beginArray();
            for (int32_t t : s.outputs) tensorJson(t);
            j.endArray();
            j.key("notes").strings(s.notes);
            j.endObject();
        }
        j.endArray();
        j.key("memory").beginObject();
        j.key("arena_bytes").value(plan_.arenaBytes);
        j.key("no_reuse_bytes").value(plan_.noReuseBytes);
        j.key("lower_bound_bytes").value(plan_.lowerBoundBytes);
        j.key("workspace_bytes").value(plan_.workspaceBytes);
        j.key("streams").value(static_cast<int64_t>(plan_.nbStreams));
        uint64_t constBytes = 0;
        for (const auto& c : plan_.constants) constBytes += c.size();
        j.key("constant_bytes").value(constBytes);
        // Kernels own their weights (serialized with their fields): the engine's weight footprint.
        uint64_t kernelBytes = 0;
        for (size_t size : serializedSizes) kernelBytes += size;
        j.key("kernel_fields_bytes").value(kernelBytes);
        j.endObject();
        if (!plan_.buildTimes.empty()) {  // a freshly built engine: where the build's time went (not serialized)
            j.key("build_time").beginObject();
            for (const auto& [what, v] : plan_.buildTimes) j.key(what).value(v);
            j.endObject();
        }
        j.key("layers_before").value(static_cast<int64_t>(plan_.layersBefore));
        j.key("kernels_after").value(static_cast<int64_t>(plan_.steps.size()));
        j.key("network").raw(plan_.networkJson);
        j.key("passes").beginArray();
        // buildLog holds one line per pass change, separated by '\n'.
        size_t start = 0;
        while (start < plan_.buildLog.size()) {
            size_t end = plan_.buildLog.find('\n', start);
            if (end == std::string::npos) end = plan_.buildLog.size();
            if (end > start) j.value(plan_.buildLog.substr(start, end - start));
            start = end + 1;
        }
        j.endArray();
        j.endObject();
        report_ = j.str();
    }
}

}  // namespace gie
