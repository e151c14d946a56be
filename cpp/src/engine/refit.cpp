// IRefitter (gie/engine.h): new weights for an engine built with BuilderFlag::kREFIT, without choosing kernels or
// tactics again. The new engine is made from the original's plan as an engine file's is (its kernels created from
// their fields through the registry, then configured, given their stored tactics and initialized: EngineImpl), with
// the new fields in place of the old; kernels that pre-pack or upload weights therefore do so for the new values.
//
// Which weights a kernel holds is recorded at build time in its notes (builder/optimize_network.h): those of one
// layer as given, which setWeights may replace by that layer's name, or weights the optimizer computed from several
// layers (BatchNorm/Scale folded into a convolution, merged 1x1 siblings, folded constant operands), which only
// setNetworkWeights can recompute: it runs the same deterministic lowering and passes on the new network and takes
// each kernel's fields from the node of the same name.
#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "builder/negotiation.h"
#include "builder/optimize_network.h"
#include "common/dims.h"
#include "common/error.h"
#include "engine/engine.h"
#include "gie/builder.h"
#include "network/network.h"
#include "plugin/fields.h"

namespace gie {
namespace {

bool startsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

//! The note of a kernel that says where its weights come from ("" for a kernel without FP32 weights or a plugin).
std::string weightNote(const EngineStep& s) {
    for (const auto& n : s.notes)
        if (startsWith(n, kRefitOwnNote) || startsWith(n, kRefitFoldedNote)) return n;
    return "";
}

//! A built-in kernel's fields (weights noted at build time are only ever a built-in kernel's).
FieldMap stepFields(const EngineStep& s) {
    std::vector<uint8_t> bytes(s.plugin->getSerializationSize());
    s.plugin->serialize(bytes.data());
    return FieldMap::deserialize(bytes.data(), bytes.size(), "fields of kernel '" + s.name + "'");
}

std::string weightFieldNames(const FieldMap& f) {
    std::string r;
    for (size_t i = 0; i < f.size(); ++i)
        if (f.at(i).type == PluginFieldType::kFLOAT32) r += (r.empty() ? "" : ", ") + f.at(i).name;
    return r;
}

//! The passes the engine was built without (its build log records them).
std::set<std::string> disabledPasses(const EnginePlan& p) {
    std::set<std::string> r;
    size_t at = p.buildLog.find(kDisabledPassesLine);
    if (at == std::string::npos) return r;
    at += std::string(kDisabledPassesLine).size();
    const std::string line = p.buildLog.substr(at, p.buildLog.find('\n', at) - at);
    size_t start = 0;
    while (start <= line.size()) {
        size_t end = line.find(',', start);
        if (end == std::string::npos) end = line.size();
        if (end > start) r.insert(line.substr(start, end - start));
        start = end + 1;
    }
    return r;
}

class RefitterImpl final : public IRefitter {
public:
    RefitterImpl(const EngineImpl& engine, ILogger& logger) : engine_(engine), logger_(&logger) {}

    bool setWeights(const char* layerName, const char* field, const float* values, int64_t count) noexcept override {
        return apiGuard<bool>(logger_, false, [&] {
            GIE_CHECK(layerName && field && count >= 0 && (values || count == 0), ErrorCode::kINVALID_ARGUMENT,
                      "setWeights needs a layer name, a field name and count >= 0 values");
            const EnginePlan& p = engine_.plan();
            const std::string own = kRefitOwnNote + ("'" + std::string(layerName) + "'");
            int found = -1;
            std::string combined, owners;
            for (size_t i = 0; i < p.steps.size(); ++i) {
                const EngineStep& s = p.steps[i];
                const std::string note = weightNote(s);
                if (note == own) found = static_cast<int>(i);
                else if (startsWith(note, kRefitOwnNote)) owners += (owners.empty() ? "" : ", ") + note.substr(std::string(kRefitOwnNote).size());
                else if (!note.empty() && std::find(s.sourceLayers.begin(), s.sourceLayers.end(), layerName) != s.sourceLayers.end())
                    combined = "kernel '" + s.name + "' (" + s.type + "): " + note.substr(std::string("refit: ").size());
            }
            GIE_CHECK(found >= 0 || combined.empty(), ErrorCode::kINVALID_ARGUMENT, "layer '", layerName,
                      "': the optimizer combined its weights with other layers' (", combined, ")");
            GIE_CHECK(found >= 0, ErrorCode::kINVALID_ARGUMENT, "the engine has no kernel holding the weights of a layer named '", layerName,
                      "' (layers whose weights it holds as given: ", owners.empty() ? "none" : owners, ")");
            const EngineStep& s = p.steps[static_cast<size_t>(found)];
            auto it = pending_.find(static_cast<size_t>(found));
            if (it == pending_.end()) it = pending_.emplace(static_cast<size_t>(found), stepFields(s)).first;
            FieldMap& f = it->second;
            const Field* cur = f.find(field);
            GIE_CHECK(cur && cur->type == PluginFieldType::kFLOAT32, ErrorCode::kINVALID_ARGUMENT, "layer '", layerName, "' (kernel '", s.name,
                      "', ", s.type, ") has no FP32 weight field '", field, "'",
                      cur ? std::string(" (it is ") + fieldTypeName(cur->type) + ": a type mismatch)" : std::string(),
                      " (its weights: ", weightFieldNames(f), ")");
            GIE_CHECK(cur->length == count, ErrorCode::kINVALID_ARGUMENT, "layer '", layerName, "' field '", field, "': ", count,
                      " values given, the engine's has ", cur->length, " (a shape mismatch)");
            f.setFloats(field, std::vector<float>(values, values + count));
            return true;
        });
    }

    bool setNetworkWeights(const INetworkDefinition& network) noexcept override {
        return apiGuard<bool>(logger_, false, [&] {
            const auto* net = dynamic_cast<const NetworkImpl*>(&network);
            GIE_CHECK(net, ErrorCode::kINVALID_ARGUMENT, "setNetworkWeights: the network was not created by this library");
            const EnginePlan& p = engine_.plan();
            PassContext ctx;
            ctx.device = p.device;
            ctx.int8 = (p.flags >> static_cast<int>(BuilderFlag::kINT8)) & 1;  // as the build ran the passes
            ctx.logger = logger_;
            std::vector<Dims> planned;  // the shapes the engine was lowered at (its inputs' planned shapes)
            for (int32_t t : p.inputs) planned.push_back(p.tensors[static_cast<size_t>(t)].dims);
            GIE_CHECK(planned.size() == net->inputs().size(), ErrorCode::kINVALID_ARGUMENT, "setNetworkWeights: the network has ",
                      net->inputs().size(), " inputs, the engine ", planned.size());
            ctx.fixedShapes = fixedInputShapes(p.profiles, planned);
            ctx.inputShapeBounds = inputShapeBounds(p.profiles);
            const Graph g = optimizeNetwork(*net, planned, disabledPasses(p), ctx);
            std::map<std::string, const IrNode*> nodes;
            for (const IrNode& n : g.nodes)
                if (!n.dead) nodes[n.name] = &n;
            std::map<size_t, FieldMap> fields;
            std::set<std::string> taken;
            for (size_t i = 0; i < p.steps.size(); ++i) {
                const EngineStep& s = p.steps[i];
                if (weightNote(s).empty()) continue;  // no FP32 weights: nothing to take
                auto it = nodes.find(s.name);
                GIE_CHECK(it != nodes.end() && it->second->type == s.type && !it->second->userPlugin, ErrorCode::kINVALID_MODEL, "kernel '",
                          s.name, "' (", s.type, ", from layers ", quotedList(s.sourceLayers),
                          ") has no counterpart in the new network once optimized: it does not have the engine's architecture "
                          "(or the optimizer treats its new weights differently); rebuild the engine");
                taken.insert(s.name);
                fields.emplace(i, takeWeights(s, it->second->fields));
            }
            for (const auto& kv : nodes) {
                bool weights = false;
                for (size_t f = 0; f < kv.second->fields.size(); ++f) weights = weights || kv.second->fields.at(f).type == PluginFieldType::kFLOAT32;
                GIE_CHECK(!weights || kv.second->userPlugin || taken.count(kv.first), ErrorCode::kINVALID_MODEL, "layer '", kv.first, "' (",
                          kv.second->type, ") of the new network has weights but no kernel of the engine comes from it: it does not have "
                          "the engine's architecture; rebuild the engine");
            }
            std::map<int32_t, std::vector<uint8_t>> constants;
            for (const EngineTensor& t : p.tensors) {
                if (t.kind != TensorKind::kConstant) continue;
                // The constant itself, or the copy the negotiation converted for a consumer that reads another type/format.
                const IrTensor* same = nullptr;
                const IrTensor* source = nullptr;
                for (const IrTensor& x : g.tensors) {
                    if (!x.constant) continue;
                    if (x.name == t.name && x.type == t.type && x.format == t.format) same = &x;
                    if (convertedConstantName(x.name, t.type, t.format) == t.name) source = &x;
                }
                GIE_CHECK(same || source, ErrorCode::kINVALID_MODEL, "constant '", t.name, "' of the engine has no counterpart in the new network once optimized");
                std::vector<uint8_t> bytes = same ? *same->constant : convertConstant(*source, t.type, t.format);
                const size_t want = p.constants[static_cast<size_t>(t.constant)].size();
                GIE_CHECK(bytes.size() == want, ErrorCode::kINVALID_MODEL, "constant '", t.name, "': ", bytes.size(), " bytes in the new network, ",
                          want, " in the engine (a shape or type mismatch)");
                constants[t.constant] = std::move(bytes);
            }
            pending_ = std::move(fields);
            constants_ = std::move(constants);
            return true;
        });
    }

    IEngine* refitEngine() noexcept override {
        return apiGuard<IEngine*>(logger_, nullptr, [&]() -> IEngine* {
            const std::vector<uint8_t> file = serializePlan(engine_.plan());
            EnginePlan p = deserializePlan(file.data(), file.size());
            p.buildTimes = engine_.plan().buildTimes;  // not serialized; the refitted engine reports its build as before
            for (auto& kv : pending_) {
                EngineStep& s = p.steps[kv.first];
                IPluginCreator* c = getPluginRegistry()->getCreatorVariant(s.type.c_str(), s.version.c_str(), s.device, s.variant.c_str());
                GIE_CHECK(c, ErrorCode::kINTERNAL, "kernel '", s.name, "': its creator is no longer registered");
                const std::vector<uint8_t> bytes = kv.second.serialize();
                s.plugin.reset(c->deserializePlugin(s.name.c_str(), bytes.data(), bytes.size()));
                if (!s.plugin) {
                    const char* msg = nullptr;
                    getLastError(&msg);
                    fail(ErrorCode::kINVALID_ARGUMENT, "kernel '", s.name, "' (", s.type, ") refuses the new weights", msg && *msg ? std::string(": ") + msg : "");
                }
            }
            for (auto& kv : constants_) p.constants[static_cast<size_t>(kv.first)] = kv.second;
            return new EngineImpl(std::move(p), logger_);
        });
    }

private:
    //! The kernel's fields with every FP32 field taken from `given` (same count); every other field must be equal
    //! (it is architecture: shapes, strides, modes).
    static FieldMap takeWeights(const EngineStep& s, const FieldMap& given) {
        FieldMap f = stepFields(s);
        GIE_CHECK(f.size() == given.size(), ErrorCode::kINVALID_MODEL, "kernel '", s.name, "' (", s.type, ") has ", f.size(),
                  " fields, its counterpart in the new network ", given.size(), ": not the engine's architecture");
        for (size_t i = 0; i < f.size(); ++i) {
            const Field& mine = f.at(i);
            const Field* theirs = given.find(mine.name);
            GIE_CHECK(theirs && theirs->type == mine.type, ErrorCode::kINVALID_MODEL, "kernel '", s.name, "' (", s.type, ", layers ",
                      quotedList(s.sourceLayers), ") field '", mine.name, "': ",
                      theirs ? strcat(fieldTypeName(theirs->type), " in the new network, ", fieldTypeName(mine.type), " in the engine (a type mismatch)")
                             : std::string("missing in the new network"));
            if (mine.type == PluginFieldType::kFLOAT32) {
                GIE_CHECK(theirs->length == mine.length, ErrorCode::kINVALID_MODEL, "kernel '", s.name, "' (", s.type, ", layers ",
                          quotedList(s.sourceLayers), ") field '", mine.name, "': ", theirs->length, " values in the new network, ", mine.length,
                          " in the engine (a shape mismatch)");
            } else {
                GIE_CHECK(theirs->data == mine.data, ErrorCode::kINVALID_MODEL, "kernel '", s.name, "' (", s.type, ", layers ",
                          quotedList(s.sourceLayers), ") parameter '", mine.name, "' differs in the new network: not the engine's architecture");
            }
        }
        FieldMap r = f;
        for (size_t i = 0; i < f.size(); ++i)
            if (f.at(i).type == PluginFieldType::kFLOAT32) r.set(given.find(f.at(i).name)->view());
        return r;
    }

    const EngineImpl& engine_;
    ILogger* logger_;
    std::map<size_t, FieldMap> pending_;
    std::map<int32_t, std::vector<uint8_t>> constants_;
};

}  // namespace

IRefitter* createRefitter(const IEngine& engine, ILogger& logger) noexcept {
    return apiGuard<IRefitter*>(&logger, nullptr, [&]() -> IRefitter* {
        const auto* e = dynamic_cast<const EngineImpl*>(&engine);
        GIE_CHECK(e, ErrorCode::kINVALID_ARGUMENT, "createRefitter: the engine was not created by this library");
        GIE_CHECK(e->plan().flags & (1ull << static_cast<int>(BuilderFlag::kREFIT)), ErrorCode::kINVALID_ARGUMENT,
                  "the engine was not built refittable: build it with config.refittable = True (BuilderFlag::kREFIT) to refit it");
        return new RefitterImpl(*e, logger);
    });
}

}  // namespace gie
