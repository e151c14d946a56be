// Precision and format negotiation (docs/optimizer.md, "Precision and formats").
//
// Every float tensor (FLOAT or HALF in the network) is in one of the states (type, format) with type in
// {FLOAT, HALF (when allowed)} and format in {LINEAR, NHWC, HWC8 (4-D only)}; other tensors keep their type
// in LINEAR. A candidate for a node is (creator variant, one state per input and output) that the kernel
// accepts through supportsFormatCombination. Candidates are timed on the device at the optimum batch (their
// fastest tactic), Reformats between two states of a tensor likewise. Then, as TensorRT does, dynamic
// programming along the topological order:
//   forward:  cost[t][s] = the least time to have tensor t in state s = min over the producer's candidates c
//             with t in state s of time(c) + sum over c's inputs x of min_s' (cost[x][s'] + reformat(x, s'->s_c(x)));
//   backward: in reverse topological order each node takes the candidate minimising its forward total plus the
//             reformats from its outputs' states to the states its (already decided) consumers asked for.
// This is exact on chains; where a tensor feeds several consumers each consumer's view of the producer's cost
// is optimistic (the tree approximation), and the reformats actually needed are inserted afterwards.
//
// INT8 (docs/int8.md): with kINT8 (or a layer pinned to INT8) a float tensor that has a dynamic range may also be
// in the states INT8 LINEAR / INT8 CHW4 / INT8 NHWC (scale = range / 127; NHWC for the tensor-core convolutions
// of docs/int8.md, whose Reformats the DP weighs like the FP16 formats'). Only kernels of the variant "int8" compute on
// quantized tensors; another kernel that accepts INT8 only moves bytes, so it may take quantized states just for
// the data-movement layers below with one scale on every side. On the CPU (the reference) every node that has an
// INT8 kernel computes in INT8 (the candidates with the most INT8 inputs are kept, untimed) and its outputs are
// INT8 or float as its consumers need (the DP minimises the quantize / dequantize Reformats). On the GPU the INT8
// candidates are timed against the float ones like any other (with the Reformats they force).
#include "builder/negotiation.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <set>

#include "builder/tactic_timing.h"
#include "common/dims.h"
#include "common/error.h"
#include "common/format.h"
#include "common/half_types.h"
#include "engine/engine.h"
#include "engine/tactic_architecture.h"
#include "gie/builder.h"
#include "layers/int8_math.h"
#include "plugin/configure_range.h"

namespace gie {

std::string stateName(DataType t, TensorFormat f) { return std::string(dataTypeName(t)) + " " + formatName(f); }

std::string convertedConstantName(const std::string& name, DataType t, TensorFormat f) {
    return name + "_" + dataTypeName(t) + "_" + formatName(f);
}

std::vector<uint8_t> convertConstant(const IrTensor& x, DataType type, TensorFormat format) {
    IPluginCreator* c = getPluginRegistry()->getCreator("Reformat", nullptr, DeviceType::kCPU);
    GIE_CHECK(c, ErrorCode::kINTERNAL, "no CPU Reformat kernel to convert constant '", x.name, "'");
    FieldMap f;
    f.setInt("to", static_cast<int64_t>(type));
    std::unique_ptr<IPlugin> k(c->createPlugin("constant_reformat", f.collection()));
    GIE_CHECK(k, ErrorCode::kINTERNAL, "cannot create the CPU Reformat kernel");
    TensorDesc in = makeDesc(x.dims, x.type, TensorFormat::kLINEAR), out = makeDesc(x.dims, type, format);
    GIE_CHECK(k->configure(&in, 1, &out, 1) == 0, ErrorCode::kINTERNAL, "cannot convert constant '", x.name, "' to ", stateName(type, format));
    std::vector<uint8_t> bytes(static_cast<size_t>(tensorBytes(x.dims, type, format)), 0);
    std::vector<uint8_t> ws(k->getWorkspaceSize() + 1);
    const void* ip = x.constant->data();
    void* op = bytes.data();
    GIE_CHECK(k->enqueue(&in, &out, &ip, &op, ws.data(), nullptr) == 0, ErrorCode::kINTERNAL, "cannot convert constant '", x.name, "'");
    return bytes;
}

namespace {

constexpr double kInf = 1e30;

struct State {
    DataType type = DataType::kFLOAT;
    TensorFormat format = TensorFormat::kLINEAR;
    bool operator==(const State& o) const { return type == o.type && format == o.format; }
    bool operator!=(const State& o) const { return !(*this == o); }
    bool operator<(const State& o) const { return type != o.type ? type < o.type : format < o.format; }
    std::string name() const { return stateName(type, format); }
};

//! Whether a creator's kernels compute on quantized tensors (layers/int8_math.h).
bool int8Variant(const IPluginCreator* c) { return c && std::string(c->getPluginVariant()) == int8::kVariant; }
//! Layers whose kernels only move elements: they may take quantized tensors when every side has one scale.
bool movesElements(const std::string& type) { return type == "Shuffle" || type == "Identity" || type == "Slice"; }

struct Candidate {
    IPluginCreator* creator = nullptr;  // for a user plugin layer: its type's creator (the kernel is a clone of its instance)
    std::vector<State> states;          // inputs, then outputs
    double ms = 0;                      // fastest tactic at the optimum batch; 0 when it is the node's only candidate
    std::string tactic;
    double total = kInf;                // forward DP: ms + the cheapest way to get its inputs in their states
};

std::string describeStates(const std::vector<State>& s, size_t nIn) {
    std::string r;
    for (size_t i = 0; i < s.size(); ++i) r += strcat(i ? ", " : "", i < nIn ? "in" : "out", i < nIn ? i : i - nIn, "=", s[i].name());
    return r;
}

std::string ms3(double ms) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3f ms", ms);
    return b;
}

class Negotiator {
public:
    Negotiator(Graph& g, const NegotiationOptions& o, Backend& b, TimingCache& cache, ILogger* logger, std::string& log)
        : g_(g), o_(o), b_(b), cache_(cache), logger_(logger), log_(log) {}
    ~Negotiator() {
        if (stream_) b_.destroyStream(stream_);
    }

    std::vector<IPluginCreator*> run() {
        order_ = g_.topologicalOrder();
        const size_t T = g_.tensors.size();
        producer_.assign(T, -1);
        for (int ni : order_)
            for (int t : g_.nodes[static_cast<size_t>(ni)].outputs) producer_[static_cast<size_t>(t)] = ni;
        honour_ = o_.obey || o_.prefer;
        int pinnedIgnored = 0;
        for (int ni : order_) {
            const IrNode& n = g_.nodes[static_cast<size_t>(ni)];
            bool pinned = n.precisionSet;
            for (const auto& ot : n.outputTypes) pinned = pinned || ot.first;
            if (pinned && !honour_) ++pinnedIgnored;
        }
        if (pinnedIgnored)
            logMessage(logger_, ILogger::Severity::kWARNING,
                       strcat(pinnedIgnored, " layer(s) have a precision or output type set, but neither OBEY_PRECISION_CONSTRAINTS nor "
                                             "PREFER_PRECISION_CONSTRAINTS is: the builder ignores them"));
        reformatCreator_ = getPluginRegistry()->getCreator("Reformat", nullptr, o_.device);
        computeOptDims();
        initFamilies();
        initInt8();
        enumerateAll();
        timeCandidates();
        forward();
        backward();
        return rewrite();
    }

private:
    // ---- tensors ------------------------------------------------------------------------------------
    bool isConst(int t) const { return g_.tensors[static_cast<size_t>(t)].constant && producer_[static_cast<size_t>(t)] < 0; }
    int familyRoot(int t) const {
        const IrTensor& x = g_.tensors[static_cast<size_t>(t)];
        if (x.viewOf >= 0) return x.viewOf;
        return hasViews_[static_cast<size_t>(t)] ? t : -1;
    }
    //! Whether tensor t may be quantized: a float activation (not a constant, not in a view family unless the family is
    //! INT8) with a range.
    bool quantizable(int t) const {
        const IrTensor& x = g_.tensors[static_cast<size_t>(t)];
        const int root = familyRoot(t);
        return floatClass(x.type) && !isConst(t) && (root < 0 || familyType_[static_cast<size_t>(root)] == DataType::kINT8) &&
               x.dynamicRange > 0.f && x.dynamicRange < 3.0e38f;
    }
    float scaleOf(int t) const { return int8::scaleOfRange(g_.tensors[static_cast<size_t>(t)].dynamicRange); }
    //! A tensor's state when a node takes the uniform choice (type, format) for its float tensors. A tensor that
    //! cannot be quantized stays FLOAT LINEAR under an INT8 choice.
    State stateFor(int t, DataType type, TensorFormat format) const {
        const IrTensor& x = g_.tensors[static_cast<size_t>(t)];
        if (!floatClass(x.type)) return {x.type, TensorFormat::kLINEAR};
        const int root = familyRoot(t);
        if (root >= 0) return familyState(root);
        if (type == DataType::kINT8 && !quantizable(t)) return {DataType::kFLOAT, TensorFormat::kLINEAR};
        return {type, formatFitsRank(format, x.dims.nbDims) ? format : TensorFormat::kLINEAR};
    }
    //! Descriptor of tensor t in state s with dims d (a view keeps its parent's batch stride; INT8 has t's scale).
    TensorDesc desc(int t, const State& s, const Dims& d) const {
        TensorDesc x = makeDesc(d, s.type, s.format);
        if (s.type == DataType::kINT8 && floatClass(g_.tensors[static_cast<size_t>(t)].type)) x.scale = scaleOf(t);
        const IrTensor& it = g_.tensors[static_cast<size_t>(t)];
        if (it.channelSlice() && d.nbDims > 0) x.strides.d[0] = viewItemStride(d, g_.tensors[static_cast<size_t>(it.viewOf)].dims.d[1]);
        if (it.shapeTensor) x.strides = Dims{-1, {}};  // d is the value: no layout (common/format.h isStrided)
        return x;
    }

    //! Graph::dimsAt, with the planned dims as they are when the inputs are at their planned shapes.
    std::vector<Dims> dimsAt(const std::vector<Dims>& inputs, const std::string& what) const {
        bool same = true;
        for (size_t k = 0; k < g_.inputs.size(); ++k) same = same && g_.tensors[static_cast<size_t>(g_.inputs[k])].dims == inputs[k];
        if (!same) return g_.dimsAt(inputs, what);
        std::vector<Dims> dims(g_.tensors.size());
        for (size_t t = 0; t < g_.tensors.size(); ++t) dims[t] = g_.tensors[t].dims;
        return dims;
    }

    //! Every profile's opt dims (candidates are timed at each and their times summed) and, for the ranges a candidate
    //! is configured with, each tensor's elementwise min over the profiles' min and opt dims.
    void computeOptDims() {
        GIE_CHECK(!o_.optInputDims.empty() && o_.optInputDims.size() == o_.optWhat.size() && o_.minInputDims.size() == o_.optInputDims.size(),
                  ErrorCode::kINTERNAL, "negotiation: inconsistent profile shapes");
        for (size_t i = 0; i < o_.optInputDims.size(); ++i) {
            GIE_CHECK(o_.optInputDims[i].size() == g_.inputs.size(), ErrorCode::kINTERNAL, "negotiation: ", o_.optInputDims[i].size(),
                      " opt shapes for ", g_.inputs.size(), " inputs");
            optDims_.push_back(dimsAt(o_.optInputDims[i], o_.optWhat[i]));
        }
        minDims_.resize(g_.tensors.size());
        for (size_t t = 0; t < g_.tensors.size(); ++t) minDims_[t] = g_.tensors[t].dims;
        auto lower = [&](const std::vector<Dims>& dims) {
            for (size_t t = 0; t < dims.size(); ++t)
                if (dims[t].nbDims == minDims_[t].nbDims)
                    for (int j = 0; j < dims[t].nbDims; ++j) minDims_[t].d[j] = std::min(minDims_[t].d[j], dims[t].d[j]);
        };
        for (size_t i = 0; i < o_.minInputDims.size(); ++i) {
            lower(optDims_[i]);
            try {
                lower(dimsAt(o_.minInputDims[i], o_.optWhat[i]));
            } catch (const Error&) {  // (the plan reports a min shape that cannot run, naming it)
                clearLastError();
            }
        }
    }

    //! Tensors tied by views (an eliminated concatenation and its slices) share one state: LINEAR, HALF when FP16 is
    //! allowed (or pinned) and FLOAT otherwise, lowered to FLOAT if a member's kernel cannot; or INT8 CHW4 (initInt8).
    State familyState(int root) const { return {familyType_[static_cast<size_t>(root)], familyFormat_[static_cast<size_t>(root)]}; }
    void initFamilies() {
        const size_t T = g_.tensors.size();
        hasViews_.assign(T, false);
        for (const auto& x : g_.tensors)
            if (x.viewOf >= 0) hasViews_[static_cast<size_t>(x.viewOf)] = true;
        familyType_.assign(T, DataType::kFLOAT);
        familyFormat_.assign(T, TensorFormat::kLINEAR);
        for (size_t t = 0; t < T; ++t)
            if (hasViews_[t]) familyType_[t] = floatClass(g_.tensors[t].type) && halfAllowedAnywhere() ? DataType::kHALF : g_.tensors[t].type;
    }
    bool halfAllowedAnywhere() const {
        if (o_.fp16) return true;
        if (!honour_) return false;
        for (int ni : order_)
            if (g_.nodes[static_cast<size_t>(ni)].precisionSet && g_.nodes[static_cast<size_t>(ni)].precision == DataType::kHALF) return true;
        return false;
    }

    bool pinnedInt8(const IrNode& n) const {
        if (!honour_) return false;
        bool pinned = n.precisionSet && n.precision == DataType::kINT8;
        for (const auto& ot : n.outputTypes) pinned = pinned || (ot.first && ot.second == DataType::kINT8);
        return pinned;
    }
    //! Whether INT8 states are offered at all (some kernel of the device computes INT8), and the warnings:
    //! how many float activations have no range (they stay float), or why the device builds without INT8.
    void initInt8() {
        bool pinned = false;
        for (int ni : order_) pinned = pinned || pinnedInt8(g_.nodes[static_cast<size_t>(ni)]);
        if (!o_.int8 && !pinned) return;
        int32_t count = 0;
        IPluginCreator* const* all = getPluginRegistry()->getAllCreators(&count);
        for (int32_t i = 0; i < count; ++i) int8Kernels_ = int8Kernels_ || (all[i]->getDeviceType() == o_.device && int8Variant(all[i]));
        if (!int8Kernels_) {
            logMessage(logger_, ILogger::Severity::kWARNING,
                       strcat("INT8 is allowed, but this version of gie has no ", o_.device == DeviceType::kGPU ? "GPU" : "CPU",
                              " INT8 kernels (the CPU reference has them): the engine is built without INT8"));
            return;
        }
        for (size_t t = 0; t < g_.tensors.size(); ++t)
            if (hasViews_[t] && int8Family(static_cast<int>(t))) familyType_[t] = DataType::kINT8, familyFormat_[t] = TensorFormat::kCHW4;
        int unranged = 0, inViews = 0, total = 0;
        std::string names;
        for (size_t t = 0; t < g_.tensors.size(); ++t) {
            const IrTensor& x = g_.tensors[t];
            if (!floatClass(x.type) || isConst(static_cast<int>(t)) || (producer_[t] < 0 && !x.isInput)) continue;
            ++total;
            if (!(x.dynamicRange > 0.f)) {
                if (++unranged <= 5) names += strcat(unranged > 1 ? ", '" : "'", x.name, "'");
            } else if (familyRoot(static_cast<int>(t)) >= 0 && familyType_[static_cast<size_t>(familyRoot(static_cast<int>(t)))] != DataType::kINT8) {
                ++inViews;
            }
        }
        if (unranged)
            logMessage(logger_, ILogger::Severity::kWARNING,
                       strcat("INT8: ", unranged, " of ", total, " float tensors have no dynamic range (set one with ITensor::setDynamicRange "
                              "or calibrate): they stay FP32/FP16 (", names, unranged > 5 ? ", ..." : "", ")"));
        if (inViews)
            logMessage(logger_, ILogger::Severity::kWARNING,
                       strcat("INT8: ", inViews, " tensor(s) with a range are slices of an eliminated concatenation or of fused "
                              "sibling convolutions: they stay FP32/FP16"));
        // Layer types the CPU reference runs in INT8 but this device has no INT8 kernel for: say which, since their
        // ranges are then unused.
        if (o_.device != DeviceType::kCPU) {
            std::map<std::string, int> missing;
            IPluginRegistry* reg = getPluginRegistry();
            for (int ni : order_) {
                const IrNode& n = g_.nodes[static_cast<size_t>(ni)];
                if (n.userPlugin || !int8For(n) || reg->getCreatorVariant(n.type.c_str(), nullptr, o_.device, int8::kVariant)) continue;
                if (reg->getCreatorVariant(n.type.c_str(), nullptr, DeviceType::kCPU, int8::kVariant)) ++missing[n.type];
            }
            std::string list;
            for (const auto& [type, count] : missing) list += strcat(list.empty() ? "" : ", ", type, " (", count, " layer(s))");
            if (!list.empty())
                logMessage(logger_, ILogger::Severity::kWARNING,
                           strcat("INT8: the GPU has no INT8 kernel for ", list, ": they run FP32/FP16 (the CPU reference runs them in INT8)"));
        }
    }
    //! GPU: the slices of an eliminated concatenation are INT8 CHW4 views of it (docs/int8.md) when they and it are 4-D
    //! float activations with one range (one scale: the producers' epilogues quantize with it), every slice has a
    //! multiple of 4 channels (so a slice starts on a CHW4 word and its padding is not another slice's channels), and
    //! INT8 is allowed (and not pinned away) for every producer. enumerateAll lowers the family to float when a member's
    //! kernel cannot.
    bool int8Family(int root) const {
        const IrTensor& p = g_.tensors[static_cast<size_t>(root)];
        if (o_.device != DeviceType::kGPU || producer_[static_cast<size_t>(root)] >= 0 || !floatClass(p.type) || p.isInput || p.isOutput ||
            p.dims.nbDims != 4 || !(p.dynamicRange > 0.f && p.dynamicRange < 3.0e38f))
            return false;
        for (size_t v = 0; v < g_.tensors.size(); ++v) {
            const IrTensor& x = g_.tensors[v];
            if (x.viewOf != root) continue;
            const int prod = producer_[v];
            if (!floatClass(x.type) || x.dims.nbDims != 4 || x.dims.d[1] % 4 != 0 || x.dynamicRange != p.dynamicRange || prod < 0 ||
                !int8For(g_.nodes[static_cast<size_t>(prod)]))
                return false;
            // A producer pinned to another precision or output type keeps the family float (its pin would refuse INT8).
            const IrNode& pn = g_.nodes[static_cast<size_t>(prod)];
            if (honour_ && pn.precisionSet && pn.precision != DataType::kINT8) return false;
            for (const auto& ot : pn.outputTypes)
                if (honour_ && ot.first && ot.second != DataType::kINT8) return false;
        }
        return true;
    }
    bool int8For(const IrNode& n) const {
        if (!int8Kernels_ || !(o_.int8 || pinnedInt8(n))) return false;
        for (int t : n.inputs)
            if (quantizable(t)) return true;
        for (int t : n.outputs)
            if (quantizable(t)) return true;
        return false;
    }

    // ---- candidates ---------------------------------------------------------------------------------
    std::unique_ptr<IPlugin> instance(const IrNode& n, IPluginCreator* c) const {
        std::unique_ptr<IPlugin> p(n.userPlugin ? n.userPlugin->clone() : c->createPlugin(n.name.c_str(), n.fields.collection()));
        if (!p) {
            const char* msg = nullptr;
            getLastError(&msg);
            fail(ErrorCode::kINVALID_MODEL, "cannot create the kernel for layer '", n.name, "'", msg && *msg ? std::string(": ") + msg : std::string());
        }
        return p;
    }
    std::vector<IPluginCreator*> creatorsFor(const IrNode& n) const {
        if (n.userPlugin) {
            IPluginCreator* c = getPluginRegistry()->getCreator(n.userPlugin->getPluginType(), n.userPlugin->getPluginVersion(), o_.device);
            GIE_CHECK(c, ErrorCode::kUNSUPPORTED, "plugin layer '", n.name, "' has type '", n.userPlugin->getPluginType(), "' version '",
                      n.userPlugin->getPluginVersion(), "', but no creator for it is registered for this device; "
                      "engines are deserialized through the creator, so register it (or load its library) before building");
            return {c};
        }
        std::vector<IPluginCreator*> r;
        int32_t count = 0;
        IPluginCreator* const* all = getPluginRegistry()->getAllCreators(&count);
        IPluginCreator* dflt = getPluginRegistry()->getCreator(n.type.c_str(), nullptr, o_.device);
        if (dflt) r.push_back(dflt);
        for (int32_t i = 0; i < count; ++i) {
            IPluginCreator* c = all[i];
            if (c == dflt || c->getDeviceType() != o_.device || n.type != c->getPluginName()) continue;
            if (dflt && std::string(c->getPluginVersion()) != dflt->getPluginVersion()) continue;
            r.push_back(c);
        }
        GIE_CHECK(!r.empty(), ErrorCode::kUNSUPPORTED, "layer '", n.name, "': no ", o_.device == DeviceType::kGPU ? "GPU" : "CPU",
                  " kernel or plugin is registered for type '", n.type, "'");
        return r;
    }

    //! Candidates of node ni; empty if none. `why` receives the reason when there are none.
    std::vector<Candidate> enumerate(int ni, std::string& why) {
        const IrNode& n = g_.nodes[static_cast<size_t>(ni)];
        const size_t nIn = n.inputs.size(), nOut = n.outputs.size();
        std::vector<DataType> types{DataType::kFLOAT};
        bool half = o_.fp16;
        for (int t : n.inputs) half = half || g_.tensors[static_cast<size_t>(t)].type == DataType::kHALF;
        for (int t : n.outputs) half = half || g_.tensors[static_cast<size_t>(t)].type == DataType::kHALF;
        if (honour_ && n.precisionSet && n.precision == DataType::kHALF) half = true;
        for (const auto& ot : n.outputTypes) half = half || (honour_ && ot.first && ot.second == DataType::kHALF);
        if (half) types.push_back(DataType::kHALF);
        const bool int8 = int8For(n);
        if (int8) types.push_back(DataType::kINT8);
        // An INT8 output type pinned on an output without a range (or on a device without INT8 kernels) cannot hold.
        std::vector<bool> pinHolds(nOut, true);
        for (size_t j = 0; j < nOut && j < n.outputTypes.size(); ++j) {
            const int t = n.outputs[j];
            if (!honour_ || !n.outputTypes[j].first || n.outputTypes[j].second != DataType::kINT8 || (int8 && quantizable(t))) continue;
            const std::string why = strcat("layer '", n.name, "' (", n.type, "): output type int8 is ", o_.obey ? "required" : "preferred",
                                           " for output '", g_.tensors[static_cast<size_t>(t)].name, "', which ",
                                           int8Kernels_ ? "has no dynamic range" : "cannot be INT8 (no INT8 kernels on this device)");
            GIE_CHECK(!o_.obey, ErrorCode::kUNSUPPORTED, why, " (OBEY_PRECISION_CONSTRAINTS)");
            logMessage(logger_, ILogger::Severity::kWARNING, why + "; the builder chooses");
            pinHolds[j] = false;
        }
        const TensorFormat formats[] = {TensorFormat::kLINEAR, TensorFormat::kNHWC, TensorFormat::kHWC8, TensorFormat::kCHW4};
        auto offered = [&](TensorFormat f, DataType t) { return formatFitsType(f, t); };
        std::set<std::vector<State>> combos;
        for (DataType ti : types)
            for (TensorFormat fi : formats)
                for (DataType to : types)
                    for (TensorFormat fo : formats) {
                        if (!offered(fi, ti) || !offered(fo, to)) continue;
                        std::vector<State> s;
                        for (int t : n.inputs) s.push_back(stateFor(t, ti, fi));
                        for (size_t j = 0; j < nOut; ++j) {
                            State st = stateFor(n.outputs[j], to, fo);
                            const int t = n.outputs[j];
                            if (honour_ && j < n.outputTypes.size() && n.outputTypes[j].first && pinHolds[j] &&
                                floatClass(g_.tensors[static_cast<size_t>(t)].type) && familyRoot(t) < 0) {
                                st.type = n.outputTypes[j].second;
                                if (!offered(st.format, st.type)) st.format = TensorFormat::kLINEAR;
                            }
                            s.push_back(st);
                        }
                        combos.insert(s);
                    }
        std::vector<Candidate> out;
        std::string firstReject;
        for (IPluginCreator* c : creatorsFor(n)) {
            std::unique_ptr<IPlugin> k = instance(n, c);
            for (const auto& s : combos) {
                std::vector<TensorDesc> d;
                for (size_t i = 0; i < nIn; ++i) d.push_back(desc(n.inputs[i], s[i], g_.tensors[static_cast<size_t>(n.inputs[i])].dims));
                for (size_t j = 0; j < nOut; ++j)
                    d.push_back(desc(n.outputs[j], s[nIn + j], g_.tensors[static_cast<size_t>(n.outputs[j])].dims));
                bool ok = true;
                for (size_t p = 0; p < d.size() && ok; ++p) {
                    const bool str = isStrided(d[p]);
                    ok = k->supportsFormatCombination(static_cast<int32_t>(p), d.data(), static_cast<int32_t>(nIn), static_cast<int32_t>(nOut)) &&
                         (!str || (p < nIn ? k->supportsStridedInput() : k->supportsStridedOutput()));
                    if (!ok && firstReject.empty() && s == *combos.begin())
                        firstReject = strcat("the kernel does not support ", p < nIn ? "input " : "output ", p < nIn ? p : p - nIn, " as ",
                                             str ? "a strided " : "", s[p].name(), " (types: ", describeStates(s, nIn), ")");
                }
                if (!ok || (int8 && !n.userPlugin && !int8Variant(c) && !quantizedStatesMoveOnly(n, s))) continue;
                Candidate cand;
                cand.creator = c;
                cand.states = s;
                out.push_back(std::move(cand));
            }
        }
        if (out.empty()) {
            why = firstReject.empty() ? std::string("no kernel supports any combination of types and formats of its tensors") : firstReject;
            return out;
        }
        // Precision constraints.
        auto honours = [&](const Candidate& c) {
            for (size_t p = 0; p < c.states.size(); ++p) {
                const int t = p < nIn ? n.inputs[p] : n.outputs[p - nIn];
                if (!floatClass(g_.tensors[static_cast<size_t>(t)].type) || isConst(t)) continue;
                if (p >= nIn && p - nIn < n.outputTypes.size() && n.outputTypes[p - nIn].first) {
                    if (pinHolds[p - nIn] && c.states[p].type != n.outputTypes[p - nIn].second) return false;
                } else if (n.precisionSet && c.states[p].type != n.precision &&
                           !(n.precision == DataType::kINT8 && (p >= nIn || (!quantizable(t) && int8Variant(c.creator))))) {
                    // INT8 is a compute precision: it pins the inputs that can be INT8 (those with a range); an INT8
                    // kernel may read an input without one (a float residual) as float; the outputs follow the
                    // consumers.
                    return false;
                }
            }
            return true;
        };
        bool pinned = n.precisionSet;
        for (const auto& ot : n.outputTypes) pinned = pinned || ot.first;
        if (honour_ && pinned) {
            std::vector<Candidate> kept;
            for (auto& c : out)
                if (honours(c)) kept.push_back(c);
            if (kept.empty()) {
                std::string what = n.precisionSet ? strcat("precision ", dataTypeName(n.precision)) : std::string("the output types set");
                for (int t : n.inputs)
                    if (pinnedInt8(n) && floatClass(g_.tensors[static_cast<size_t>(t)].type) && !isConst(t) && !quantizable(t))
                        what += strcat(" (input '", g_.tensors[static_cast<size_t>(t)].name, "' has no dynamic range", familyRoot(t) >= 0 ? " or is a view" : "", ")");
                for (int t : n.outputs)
                    if (pinnedInt8(n) && floatClass(g_.tensors[static_cast<size_t>(t)].type) && !quantizable(t))
                        what += strcat(" (output '", g_.tensors[static_cast<size_t>(t)].name, "' has no dynamic range)");
                GIE_CHECK(!o_.obey, ErrorCode::kUNSUPPORTED, "layer '", n.name, "' (", n.type, "): ", what,
                          " is required (OBEY_PRECISION_CONSTRAINTS) but no ", o_.device == DeviceType::kGPU ? "GPU" : "CPU",
                          " kernel supports it (it supports: ", describeStates(out.front().states, nIn), ")");
                logMessage(logger_, ILogger::Severity::kWARNING, strcat("layer '", n.name, "' (", n.type, "): ", what,
                                                                        " is preferred but no kernel supports it; the builder chooses"));
            } else {
                out = std::move(kept);
            }
        }
        if (int8)
            for (const auto& c : out)
                if (int8Variant(c.creator)) {
                    ++int8CandidateNodes_;
                    break;
                }
        // The CPU is the reference for the GPU's INT8 numerics: a node with an INT8 kernel computes in INT8 (the
        // candidates reading the most INT8 inputs), untimed; its outputs' states are left to the DP (its consumers).
        untimed_[static_cast<size_t>(ni)] = false;
        if (o_.device == DeviceType::kCPU && int8) {
            auto quantizedInputs = [&](const Candidate& c) {
                int q = 0;
                for (size_t i = 0; i < nIn; ++i) q += c.states[i].type == DataType::kINT8;
                return q;
            };
            int best = 0;
            for (auto& c : out) best = std::max(best, quantizedInputs(c));
            if (best > 0) {
                std::vector<Candidate> kept;
                for (auto& c : out)
                    if (quantizedInputs(c) == best) kept.push_back(c);
                out = std::move(kept);
                untimed_[static_cast<size_t>(ni)] = true;
                return out;
            }
        }
        // The CPU is the reference for the GPU's FP16 numerics, not a faster FP16 engine: with FP16 allowed it
        // stores every float tensor it can in HALF rather than timing the (slower, converting) FP16 kernels.
        if (o_.device == DeviceType::kCPU && o_.fp16) {
            auto halves = [&](const Candidate& c) {
                int h = 0;
                for (const auto& s : c.states) h += s.type == DataType::kHALF;
                return h;
            };
            int best = 0;
            for (auto& c : out) best = std::max(best, halves(c));
            std::vector<Candidate> kept;
            for (auto& c : out)
                if (halves(c) == best) kept.push_back(c);
            out = std::move(kept);
        }
        return out;
    }

    //! A candidate of a kernel that is not INT8-aware, with states s: acceptable when no float tensor is quantized,
    //! or when the layer only moves elements and every float tensor is quantized with one scale.
    bool quantizedStatesMoveOnly(const IrNode& n, const std::vector<State>& s) const {
        std::vector<int> ts(n.inputs);
        ts.insert(ts.end(), n.outputs.begin(), n.outputs.end());
        bool any = false, all = true, oneScale = true;
        float scale = -1.f;
        for (size_t p = 0; p < ts.size(); ++p) {
            if (!floatClass(g_.tensors[static_cast<size_t>(ts[p])].type)) continue;
            if (s[p].type != DataType::kINT8) {
                all = false;
                continue;
            }
            any = true;
            if (scale >= 0.f && scaleOf(ts[p]) != scale) oneScale = false;
            scale = scaleOf(ts[p]);
        }
        return !any || (movesElements(n.type) && all && oneScale);
    }

    void enumerateAll() {
        untimed_.assign(g_.nodes.size(), false);
        for (int attempt = 0;; ++attempt) {
            cands_.assign(g_.nodes.size(), {});
            int lowered = 0;
            for (int ni : order_) {
                std::string why;
                cands_[static_cast<size_t>(ni)] = enumerate(ni, why);
                if (!cands_[static_cast<size_t>(ni)].empty()) continue;
                const IrNode& n = g_.nodes[static_cast<size_t>(ni)];
                // A view family in HALF that this kernel cannot write or read: the family goes back to FLOAT.
                std::vector<int> touched(n.inputs);
                touched.insert(touched.end(), n.outputs.begin(), n.outputs.end());
                for (int t : touched) {
                    const int root = familyRoot(t);
                    if (root >= 0 && familyType_[static_cast<size_t>(root)] == DataType::kINT8) {
                        logMessage(logger_, ILogger::Severity::kWARNING,
                                   strcat("INT8: the slices of '", g_.tensors[static_cast<size_t>(root)].name, "' (an eliminated concatenation) stay ",
                                          "FP32/FP16: layer '", n.name, "' (", n.type, ") cannot ", "use them as INT8 CHW4 views"));
                        familyType_[static_cast<size_t>(root)] = halfAllowedAnywhere() ? DataType::kHALF : DataType::kFLOAT;
                        familyFormat_[static_cast<size_t>(root)] = TensorFormat::kLINEAR;
                        ++lowered;
                    } else if (root >= 0 && familyType_[static_cast<size_t>(root)] == DataType::kHALF) {
                        familyType_[static_cast<size_t>(root)] = DataType::kFLOAT;
                        ++lowered;
                    }
                }
                if (!lowered) fail(ErrorCode::kUNSUPPORTED, "layer '", n.name, "' (", n.type, "): ", why);
                break;
            }
            if (!lowered) return;
            GIE_CHECK(attempt < static_cast<int>(g_.tensors.size()), ErrorCode::kINTERNAL, "format negotiation does not converge");
        }
    }

    // ---- timing -------------------------------------------------------------------------------------
    void* stream() {
        if (!stream_) stream_ = b_.createStream();
        return stream_;
    }
    std::string forcedTactic(const IrNode& n) const {
        std::string forced;
        if (o_.overrides)
            for (const auto& ov : *o_.overrides)
                if (ov.first == n.name || ov.first == n.type) forced = ov.second;
        return forced;
    }
    //! The time of kernel k over the profiles' opt shapes (ins[i] / outs[i]: profile i's descs) with each profile
    //! running its fastest tactic, as the engine will (builder.cpp selectTactics), among the tactics that run at every
    //! profile (only `forced` if given); profile 0's tactic's name in tacticName. kInf when none runs.
    double fastest(IPlugin& k, const char* variant, const std::vector<std::vector<TensorDesc>>& ins, const std::vector<std::vector<TensorDesc>>& outs,
                   const std::string& forced, std::string& tacticName) {
        std::vector<std::unique_ptr<TimingBuffers>> io(ins.size());
        std::vector<double> best(ins.size(), kInf);  // per profile
        for (int32_t t = 0; t < k.getNbTactics(); ++t) {
            const char* nm = k.getTacticName(t);
            const std::string name = nm ? nm : "";
            if (!forced.empty() && name != forced) continue;
            if (!o_.allowTf32 && name.find("tf32") != std::string::npos) continue;
            if (forced.empty() && tacticUnverified(name) && !unverifiedTacticsAllowed()) continue;  // tactic_architecture.h
            if (k.setTactic(t) != 0) continue;
            if (o_.workspaceLimit && kernelWorkspace(k) > o_.workspaceLimit) continue;
            double total = 0;
            std::vector<double> times;
            for (size_t i = 0; i < ins.size() && total < kInf / 10; ++i) {
                const std::string key = TimingCache::key(k, variant, ins[i], outs[i], nm);
                double ms = 0;
                if (!cache_.lookup(key, ms)) {
                    if (!io[i]) io[i] = std::make_unique<TimingBuffers>(ins[i], outs[i], b_);
                    ms = timeTactic(k, t, ins[i], outs[i], *io[i], b_, stream(), logger_, best[i]);
                    if (ms < kInf / 10) cache_.put(key, ms);
                }
                times.push_back(ms);
                total += ms;
            }
            if (total >= kInf / 10) continue;
            if (times[0] < best[0]) tacticName = name;
            for (size_t i = 0; i < ins.size(); ++i) best[i] = std::min(best[i], times[i]);
        }
        double sum = 0;
        for (double ms : best) sum += ms;
        return std::min(sum, kInf);
    }

    void timeCandidates() {
        for (int ni : order_) {
            auto& cs = cands_[static_cast<size_t>(ni)];
            if (cs.size() <= 1) continue;  // nothing to choose: its tactics are timed with the plan's
            if (untimed_[static_cast<size_t>(ni)]) {  // the CPU INT8 reference: the reformats decide
                for (auto& c : cs) c.ms = 0;
                continue;
            }
            const IrNode& n = g_.nodes[static_cast<size_t>(ni)];
            const std::string forced = forcedTactic(n);
            std::vector<Candidate> timed;
            for (auto& c : cs) {
                std::unique_ptr<IPlugin> k = instance(n, c.creator);
                std::vector<TensorDesc> inMax, outMax;
                std::vector<std::vector<TensorDesc>> in(optDims_.size()), out(optDims_.size());
                std::vector<Dims> mins;
                for (size_t i = 0; i < n.inputs.size(); ++i) {
                    inMax.push_back(desc(n.inputs[i], c.states[i], g_.tensors[static_cast<size_t>(n.inputs[i])].dims));
                    mins.push_back(minDims_[static_cast<size_t>(n.inputs[i])]);
                    for (size_t p = 0; p < optDims_.size(); ++p) in[p].push_back(desc(n.inputs[i], c.states[i], optDims_[p][static_cast<size_t>(n.inputs[i])]));
                }
                for (size_t j = 0; j < n.outputs.size(); ++j) {
                    const State& s = c.states[n.inputs.size() + j];
                    outMax.push_back(desc(n.outputs[j], s, g_.tensors[static_cast<size_t>(n.outputs[j])].dims));
                    mins.push_back(minDims_[static_cast<size_t>(n.outputs[j])]);
                    for (size_t p = 0; p < optDims_.size(); ++p) out[p].push_back(desc(n.outputs[j], s, optDims_[p][static_cast<size_t>(n.outputs[j])]));
                }
                std::vector<Dims> maxs;
                for (const auto& d : inMax) maxs.push_back(d.dims);
                for (const auto& d : outMax) maxs.push_back(d.dims);
                if (configureKernelRange(*k, inMax, outMax, &mins, &maxs) != 0) continue;
                c.ms = fastest(*k, c.creator->getPluginVariant(), in, out, forced, c.tactic);
                if (c.ms < kInf / 10) timed.push_back(c);
            }
            if (timed.empty()) {
                // None runs (or none offers the forced tactic): keep the first, whose build reports why.
                timed.push_back(cs.front());
                timed.back().ms = 0;
            }
            cs = std::move(timed);
        }
    }

    //! Time of a Reformat of tensor t from state a to state b (0 if equal or t is a constant: constants are
    //! converted at build time); kInf when the device has no Reformat kernel for them.
    double reformat(int t, const State& a, const State& bst) {
        if (a == bst || isConst(t)) return 0;
        const std::string key = strcat(t, "|", a.name(), "|", bst.name());
        auto it = reformatMs_.find(key);
        if (it != reformatMs_.end()) return it->second;
        double ms = kInf;
        if (reformatCreator_) {
            FieldMap f;
            f.setInt("to", static_cast<int64_t>(bst.type));
            std::unique_ptr<IPlugin> k(reformatCreator_->createPlugin("reformat", f.collection()));
            if (k) {
                const Dims& maxD = g_.tensors[static_cast<size_t>(t)].dims;
                std::vector<TensorDesc> inMax{desc(t, a, maxD)}, outMax{makeDesc(maxD, bst.type, bst.format)};
                std::vector<std::vector<TensorDesc>> in, out;
                for (const auto& dims : optDims_) {
                    in.push_back({desc(t, a, dims[static_cast<size_t>(t)])});
                    out.push_back({makeDesc(dims[static_cast<size_t>(t)], bst.type, bst.format)});
                    if (bst.type == DataType::kINT8) out.back()[0].scale = scaleOf(t);
                }
                if (bst.type == DataType::kINT8) outMax[0].scale = scaleOf(t);
                std::vector<TensorDesc> both{inMax[0], outMax[0]};
                const bool ok = k->supportsFormatCombination(0, both.data(), 1, 1) && k->supportsFormatCombination(1, both.data(), 1, 1) &&
                                (!isStrided(inMax[0]) || k->supportsStridedInput());
                if (ok && k->configure(inMax.data(), 1, outMax.data(), 1) == 0) {
                    std::string tn;
                    ms = fastest(*k, reformatCreator_->getPluginVariant(), in, out, "", tn);
                }
            }
        }
        reformatMs_[key] = ms;
        return ms;
    }
    //! The least time to have tensor x in state s.
    double bestIn(int x, const State& s) {
        if (isConst(x)) return 0;
        double best = kInf;
        for (const auto& [st, c] : cost_[static_cast<size_t>(x)]) {
            if (c >= kInf) continue;
            best = std::min(best, c + (st == s ? 0 : reformat(x, st, s)));
        }
        return best;
    }

    // ---- dynamic programming ------------------------------------------------------------------------
    std::vector<State> ioStates(int t, bool input) const {
        const IrTensor& x = g_.tensors[static_cast<size_t>(t)];
        const DataType type = input ? x.type : (floatClass(x.type) ? x.ioType : x.type);
        std::vector<State> r;
        for (TensorFormat f : {TensorFormat::kLINEAR, TensorFormat::kNHWC, TensorFormat::kHWC8})
            if ((x.allowedFormats >> static_cast<int>(f) & 1u) && formatFitsRank(f, x.dims.nbDims) && (floatClass(type) || f == TensorFormat::kLINEAR))
                r.push_back({type, f});
        if (r.empty()) r.push_back({type, TensorFormat::kLINEAR});
        return r;
    }

    void forward() {
        cost_.assign(g_.tensors.size(), {});
        for (int t : g_.inputs)
            for (const State& s : ioStates(t, true)) cost_[static_cast<size_t>(t)][s] = 0;
        // Members of a view family that no node writes as such (a concatenation's parent, written through its
        // slices; the slices of a horizontally fused output, written through their parent) are in the family's state.
        for (size_t t = 0; t < g_.tensors.size(); ++t) {
            const int root = familyRoot(static_cast<int>(t));
            if (root >= 0 && producer_[t] < 0) cost_[t][familyState(root)] = 0;
        }
        for (int ni : order_) {
            const IrNode& n = g_.nodes[static_cast<size_t>(ni)];
            for (auto& c : cands_[static_cast<size_t>(ni)]) {
                double total = c.ms;
                for (size_t i = 0; i < n.inputs.size() && total < kInf; ++i) total += bestIn(n.inputs[i], c.states[i]);
                c.total = total;
                for (size_t j = 0; j < n.outputs.size(); ++j) {
                    auto& slot = cost_[static_cast<size_t>(n.outputs[j])];
                    const State& s = c.states[n.inputs.size() + j];
                    auto it = slot.find(s);
                    if (it == slot.end() || total < it->second) slot[s] = total;
                }
            }
        }
    }

    void backward() {
        requests_.assign(g_.tensors.size(), {});
        outputState_.clear();
        for (int t : g_.outputs) {
            State best;
            double bestMs = kInf * 2;
            for (const State& s : ioStates(t, false)) {
                const double ms = bestIn(t, s);
                if (ms < bestMs) bestMs = ms, best = s;
            }
            GIE_CHECK(bestMs < kInf, ErrorCode::kUNSUPPORTED, "output '", g_.tensors[static_cast<size_t>(t)].name, "' cannot be produced as ",
                      ioStates(t, false).front().name(), o_.device == DeviceType::kGPU ? " (no GPU Reformat kernel converts to it)" : "");
            requests_[static_cast<size_t>(t)].insert(best);
            outputState_[t] = best;
        }
        chosen_.assign(g_.nodes.size(), -1);
        for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
            const int ni = *it;
            const IrNode& n = g_.nodes[static_cast<size_t>(ni)];
            auto& cs = cands_[static_cast<size_t>(ni)];
            int best = -1;
            double bestCost = kInf * 4;
            std::vector<double> objective(cs.size(), kInf * 4);
            for (size_t c = 0; c < cs.size(); ++c) {
                double v = cs[c].total;
                for (size_t j = 0; j < n.outputs.size() && v < kInf; ++j)
                    for (const State& r : requests_[static_cast<size_t>(n.outputs[j])]) v += reformat(n.outputs[j], cs[c].states[n.inputs.size() + j], r);
                objective[c] = v;
                if (v < bestCost) bestCost = v, best = static_cast<int>(c);
            }
            GIE_CHECK(best >= 0 && bestCost < kInf, ErrorCode::kUNSUPPORTED, "layer '", n.name, "' (", n.type,
                      "): no choice of kernel, types and formats connects it to its neighbours",
                      o_.device == DeviceType::kGPU && !reformatCreator_ ? " (this build has no GPU Reformat kernel)" : "");
            chosen_[static_cast<size_t>(ni)] = best;
            for (size_t i = 0; i < n.inputs.size(); ++i) requests_[static_cast<size_t>(n.inputs[i])].insert(cs[static_cast<size_t>(best)].states[i]);
            // The report: the chosen candidate and the best rejected one.
            if (cs.size() > 1) {
                int second = -1;
                for (size_t c = 0; c < cs.size(); ++c)
                    if (static_cast<int>(c) != best && (second < 0 || objective[c] < objective[static_cast<size_t>(second)])) second = static_cast<int>(c);
                const Candidate& w = cs[static_cast<size_t>(best)];
                std::string note = strcat("negotiated: ", describeStates(w.states, n.inputs.size()), variantText(w), ", ", ms3(w.ms));
                if (second >= 0) {
                    const Candidate& r = cs[static_cast<size_t>(second)];
                    note += strcat("; best rejected: ", describeStates(r.states, n.inputs.size()), variantText(r), ", ", ms3(r.ms),
                                   " (", ms3(objective[static_cast<size_t>(second)] - bestCost), " slower with its reformats)");
                }
                notes_[ni] = note;
            }
        }
    }
    static std::string variantText(const Candidate& c) {
        const char* v = c.creator->getPluginVariant();
        return v && *v ? strcat(" [", v, "]") : std::string();
    }

    // ---- rewriting the graph ------------------------------------------------------------------------
    int addReformat(int src, const State& from, const State& to, const std::string& outName, std::vector<IPluginCreator*>& creators) {
        GIE_CHECK(reformatCreator_, ErrorCode::kUNSUPPORTED, "tensor '", g_.tensors[static_cast<size_t>(src)].name, "' must be converted from ",
                  from.name(), " to ", to.name(), " but no ", o_.device == DeviceType::kGPU ? "GPU" : "CPU", " Reformat kernel is registered");
        IrTensor nt;
        nt.name = outName;
        nt.dims = g_.tensors[static_cast<size_t>(src)].dims;
        nt.type = to.type;
        nt.format = to.format;
        nt.dynamicRange = g_.tensors[static_cast<size_t>(src)].dynamicRange;
        const int dst = g_.addTensor(nt);
        IrNode r;
        r.name = "reformat_" + outName;
        r.type = "Reformat";
        r.fields.setInt("to", static_cast<int64_t>(to.type));
        r.inputs = {src};
        r.outputs = {dst};
        const double ms = reformat(src, from, to);
        r.notes = {strcat("inserted: ", from.name(), " -> ", to.name(), ms < kInf ? ", " + ms3(ms) : std::string())};
        log_ += strcat("reformat '", g_.tensors[static_cast<size_t>(src)].name, "': ", from.name(), " -> ", to.name(),
                       ms < kInf / 10 && ms > 0 ? " (" + ms3(ms) + ")" : std::string(), "\n");
        g_.nodes.push_back(std::move(r));
        creators.push_back(reformatCreator_);
        return dst;
    }

    std::vector<IPluginCreator*> rewrite() {
        const size_t T = g_.tensors.size();
        std::vector<State> state(T);
        std::vector<bool> known(T, false);
        for (int ni : order_) {
            const IrNode& n = g_.nodes[static_cast<size_t>(ni)];
            const Candidate& c = cands_[static_cast<size_t>(ni)][static_cast<size_t>(chosen_[static_cast<size_t>(ni)])];
            for (size_t j = 0; j < n.outputs.size(); ++j) {
                state[static_cast<size_t>(n.outputs[j])] = c.states[n.inputs.size() + j];
                known[static_cast<size_t>(n.outputs[j])] = true;
            }
        }
        for (int t : g_.inputs) {  // the allowed input state that the consumers' requests make cheapest
            double bestMs = kInf * 4;
            for (const State& s : ioStates(t, true)) {
                double v = 0;
                for (const State& r : requests_[static_cast<size_t>(t)]) v += reformat(t, s, r);
                if (v < bestMs) bestMs = v, state[static_cast<size_t>(t)] = s;
            }
            known[static_cast<size_t>(t)] = true;
        }
        for (size_t t = 0; t < T; ++t) {
            const int root = familyRoot(static_cast<int>(t));
            if (root >= 0 && producer_[t] < 0) state[t] = familyState(root), known[t] = true;
            if (!known[t]) state[t] = {g_.tensors[t].type, TensorFormat::kLINEAR};  // constants (converted per consumer below) and unused
        }
        std::vector<IPluginCreator*> creators(g_.nodes.size(), nullptr);
        for (int ni : order_) creators[static_cast<size_t>(ni)] = cands_[static_cast<size_t>(ni)][static_cast<size_t>(chosen_[static_cast<size_t>(ni)])].creator;
        for (size_t t = 0; t < T; ++t) {
            g_.tensors[t].type = state[t].type;
            g_.tensors[t].format = state[t].format;
        }
        std::map<std::pair<int, State>, int> converted;  // (tensor, state) -> the tensor holding it
        for (int ni : order_) {
            const Candidate& c = cands_[static_cast<size_t>(ni)][static_cast<size_t>(chosen_[static_cast<size_t>(ni)])];
            for (size_t i = 0; i < g_.nodes[static_cast<size_t>(ni)].inputs.size(); ++i) {
                const int x = g_.nodes[static_cast<size_t>(ni)].inputs[i];
                const State& want = c.states[i];
                if (want == state[static_cast<size_t>(x)]) continue;
                auto key = std::make_pair(x, want);
                auto it = converted.find(key);
                int y;
                if (it != converted.end()) {
                    y = it->second;
                } else if (isConst(x)) {
                    IrTensor ct = g_.tensors[static_cast<size_t>(x)];
                    ct.name = convertedConstantName(ct.name, want.type, want.format);
                    ct.constant = std::make_shared<const std::vector<uint8_t>>(convertConstant(g_.tensors[static_cast<size_t>(x)], want.type, want.format));
                    ct.type = want.type;
                    ct.format = want.format;
                    ct.isOutput = false;
                    y = g_.addTensor(ct);
                    converted[key] = y;
                } else {
                    y = addReformat(x, state[static_cast<size_t>(x)], want,
                                    g_.tensors[static_cast<size_t>(x)].name + "_" + dataTypeName(want.type) + "_" + formatName(want.format), creators);
                    converted[key] = y;
                }
                g_.nodes[static_cast<size_t>(ni)].inputs[i] = y;
            }
            auto nt = notes_.find(ni);
            if (nt != notes_.end()) g_.nodes[static_cast<size_t>(ni)].notes.push_back(nt->second);
        }
        for (int& out : g_.outputs) {
            const State want = outputState_[out];
            if (want == state[static_cast<size_t>(out)]) continue;
            // The network output keeps its name and is written by a Reformat from the producer's state.
            IrTensor& src = g_.tensors[static_cast<size_t>(out)];
            const std::string name = src.name;
            src.name += "_" + std::string(dataTypeName(src.type)) + "_" + formatName(src.format);
            src.isOutput = false;
            const int dst = addReformat(out, state[static_cast<size_t>(out)], want, name, creators);
            g_.tensors[static_cast<size_t>(dst)].isOutput = true;
            g_.tensors[static_cast<size_t>(dst)].ioType = want.type;
            g_.tensors[static_cast<size_t>(dst)].allowedFormats = g_.tensors[static_cast<size_t>(out)].allowedFormats;
            out = dst;
        }
        bool anyHalf = false, anyInt8 = false;
        for (const auto& x : g_.tensors) anyHalf = anyHalf || x.type == DataType::kHALF;
        for (const auto& x : g_.tensors) anyInt8 = anyInt8 || (x.type == DataType::kINT8 && x.dynamicRange > 0.f);
        if (o_.int8 && int8Kernels_ && !anyInt8)
            logMessage(logger_, ILogger::Severity::kWARNING,
                       int8CandidateNodes_ > 0
                           ? strcat("INT8 is allowed but no kernel was chosen in INT8 for this network: ", int8CandidateNodes_,
                                    " layer(s) had INT8 kernels as candidates, and timing (kernels plus the reformats around "
                                    "them) chose FP16/FP32 on every one; set a layer's precision to INT8 (with "
                                    "OBEY_PRECISION_CONSTRAINTS to require it) to force INT8: the engine has no INT8 kernel")
                           : std::string("INT8 is allowed but no kernel was chosen in INT8 for this network (no layer with an "
                                         "INT8 kernel has ranges on its tensors): the engine has no INT8 kernel"));
        if (o_.fp16 && !anyHalf)
            logMessage(logger_, ILogger::Severity::kWARNING,
                       strcat("FP16 is allowed but no ", o_.device == DeviceType::kGPU ? "GPU" : "CPU",
                              " kernel was chosen in FP16 for this network (none supports it, or none is faster): the engine is FP32"));
        return creators;
    }

    Graph& g_;
    const NegotiationOptions& o_;
    Backend& b_;
    TimingCache& cache_;
    ILogger* logger_;
    std::string& log_;
    void* stream_ = nullptr;
    bool honour_ = false;
    int int8CandidateNodes_ = 0;         // nodes whose candidates included an INT8 kernel (for the closing warning)
    bool int8Kernels_ = false;           // some kernel of the device computes INT8 and INT8 is allowed or pinned
    std::vector<bool> untimed_;          // per node: CPU INT8 candidates, chosen by their reformats only
    IPluginCreator* reformatCreator_ = nullptr;
    std::vector<int> order_, producer_;
    std::vector<std::vector<Dims>> optDims_;  // per profile: every tensor's dims at its opt shapes
    std::vector<Dims> minDims_;               // every tensor's smallest dims over the profiles' min and opt shapes
    std::vector<bool> hasViews_;
    std::vector<DataType> familyType_;
    std::vector<TensorFormat> familyFormat_;
    std::vector<std::vector<Candidate>> cands_;
    std::map<std::string, double> reformatMs_;
    std::vector<std::map<State, double>> cost_;
    std::vector<std::set<State>> requests_;
    std::map<int, State> outputState_;
    std::vector<int> chosen_;
    std::map<int, std::string> notes_;
};

}  // namespace

std::vector<IPluginCreator*> negotiateFormats(Graph& g, const NegotiationOptions& o, Backend& b, TimingCache& cache, ILogger* logger,
                                              std::string& log) {
    Negotiator n(g, o, b, cache, logger, log);
    return n.run();
}

}  // namespace gie
