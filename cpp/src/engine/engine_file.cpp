// Engine file format (all integers little-endian):
//
//   header, 64 bytes:
//     0  char[8]  magic "GIEENGN\x1a"
//     8  u32      format version (kFormatVersion)
//    12  u32      library version (MAJOR*10000 + MINOR*100 + PATCH)
//    16  u32      device (0 cpu, 1 gpu)
//    20  i32      compute capability (major*10 + minor; 0 for cpu)
//    24  u64      flags (builder flags)
//    32  u64      body size in bytes
//    40  u32      CRC-32C of the body
//    44  u32[3]   reserved, zero
//    56  u32      CRC-32C of bytes 0..55
//    60  u32      reserved, zero
//   body: batch range, tensor table (name, dims, type, format, scale, kind, arena offset, bytes, ..., a view's
//         first channel), I/O lists, optimization profiles (u8 explicit-shapes flag, u32 count, then per profile
//         per input: min, opt and max dims), memory plan, steps (kernel type, version, variant, device, tensors,
//         source layers, tactic, per-profile tactics, the kernel's own serialized fields), constants, build log.
//         Per-profile tactics (format 5): u32 count of alternates, each (tactic name, tactic index); u32 count of the
//         profile table (0 without alternates, else the profile count), each the i32 instance profile i runs (0: the
//         step's kernel, j + 1: alternate j).
//         Range views (format 6): after each tensor's view offset, an i32 view tail (-1: a channel slice or no view; n >= 0:
//         a range view of its parent, rows from the view offset, sharing the parent's last n dimensions).
//   Format 5 (still read) has no range views.
//   Format 4 (still read) has no per-profile tactics (every profile runs the step's one tactic).
//   Format 3 (still read) has no profile table (one profile from the batch range) and stores a view's offset in
//   elements per batch item.
//
// Loading checks, in order: size, magic, header checksum, format version, body size, body checksum,
// library version, device; then parses the body with a bounds-checked reader and validates every
// index, size and offset before anything uses it: tensor ids in range, sizes overflow-checked (at most 2^40
// elements), views channel slices that fit their parents, optimization profiles (count, ranks, 1 <= min <= opt <= max
// <= the planned shape; exactly the batch range's without explicit shapes), arena offsets aligned and inside the arena, tensor kinds against the I/O lists, each step's
// device and stream against the engine's, a writer for every tensor before its readers; then every kernel
// must recompute its stored output shapes and types from its stored inputs (which checks its fields against
// its weights) and accept its tensors, and (EngineImpl) fit the planned workspace.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/memory_planner.h"
#include "common/bytes.h"
#include "common/dims.h"
#include "common/format.h"
#include "common/json.h"
#include "engine/engine.h"
#include "engine/tactic_architecture.h"
#include "layers/shape_op.h"
#include "plugin/registry.h"

namespace gie {
namespace {

constexpr char kMagic[8] = {'G', 'I', 'E', 'E', 'N', 'G', 'N', '\x1a'};
// 2: streams per step, CUDA-graph default, timing batch; 3: tensor formats and scales, kernel variants; 4: optimization
// profiles, views by channel; 5: tactics chosen per optimization profile; 6: range views (a tensor's view tail).
constexpr uint32_t kFormatVersion = 6;
constexpr uint32_t kOldestFormatVersion = 3;
constexpr size_t kHeaderSize = 64;
constexpr uint32_t kMaxCount = 1u << 24;  // sanity bound on table sizes

//! A step's per-profile tactics (format 5): alternates (each used by some profile) and the instance every profile runs,
//! or neither. (An alternate repeating a tactic is only wasteful: it loads, like the fuzz seed profile_tactics.gie.)
void readProfileTactics(ByteReader& r, const EnginePlan& p, EngineStep& s) {
    const size_t nbProfiles = p.profiles.size();
    const uint32_t na = r.get<uint32_t>("alternate tactic count");
    GIE_CHECK(na < nbProfiles || na == 0, ErrorCode::kINVALID_ENGINE, "engine file is corrupt: kernel '", s.name, "' has ", na,
              " alternate tactic(s) (field 'alternate tactic count') in an engine of ", nbProfiles, " optimization profile(s); at most ",
              nbProfiles - 1);
    for (uint32_t j = 0; j < na; ++j) {
        EngineStep::Alternate a;
        a.tactic = r.getString("alternate tactic name", 4096);
        a.tacticIndex = r.get<int32_t>("alternate tactic index");
        s.alternates.push_back(std::move(a));
    }
    const uint32_t nk = r.get<uint32_t>("profile kernel count");
    GIE_CHECK(nk == (na == 0 ? 0 : nbProfiles), ErrorCode::kINVALID_ENGINE, "engine file is corrupt: kernel '", s.name, "' has ", nk,
              " entries in its per-profile kernel table (field 'profile kernel count') for ", na, " alternate tactic(s) and ", nbProfiles,
              " optimization profile(s); expected ", na == 0 ? 0 : nbProfiles);
    std::vector<bool> used(na + 1, false);
    for (uint32_t i = 0; i < nk; ++i) {
        const int32_t k = r.get<int32_t>("profile kernel");
        GIE_CHECK(k >= 0 && static_cast<uint32_t>(k) <= na, ErrorCode::kINVALID_ENGINE, "engine file is corrupt: kernel '", s.name,
                  "': optimization profile ", i, " runs instance ", k, " (field 'profile kernel'), outside 0..", na);
        used[static_cast<size_t>(k)] = true;
        s.profileKernel.push_back(k);
    }
    GIE_CHECK(nk == 0 || s.profileKernel[0] == 0, ErrorCode::kINVALID_ENGINE, "engine file is corrupt: kernel '", s.name,
              "': optimization profile 0 must run the kernel's own tactic (field 'profile kernel')");
    for (uint32_t j = 1; j <= na; ++j)
        GIE_CHECK(used[j], ErrorCode::kINVALID_ENGINE, "engine file is corrupt: kernel '", s.name, "': alternate tactic '",
                  s.alternates[j - 1].tactic, "' is run by no optimization profile (field 'profile kernel')");
}

void putDims(ByteWriter& w, const Dims& d) {
    w.put<int32_t>(d.nbDims);
    for (int i = 0; i < d.nbDims; ++i) w.put<int64_t>(d.d[i]);
}

Dims getDims(ByteReader& r, const char* field) {
    Dims d;
    d.nbDims = r.get<int32_t>(field);
    if (d.nbDims < 0 || d.nbDims > Dims::MAX_DIMS) fail(ErrorCode::kINVALID_ENGINE, "engine file is corrupt: ", field, " has ", d.nbDims, " dimensions");
    for (int i = 0; i < d.nbDims; ++i) {
        d.d[i] = r.get<int64_t>(field);
        if (d.d[i] < 0 || d.d[i] > (int64_t{1} << 40)) fail(ErrorCode::kINVALID_ENGINE, "engine file is corrupt: ", field, " dimension ", i, " is ", d.d[i]);
    }
    return d;
}

uint32_t getCount(ByteReader& r, const char* field) {
    uint32_t n = r.get<uint32_t>(field);
    if (n > kMaxCount || n > r.remaining()) fail(ErrorCode::kINVALID_ENGINE, "engine file is corrupt: ", field, " is ", n, ", more than the file can hold");
    return n;
}

std::vector<int32_t> getIds(ByteReader& r, const char* field, size_t nTensors) {
    uint32_t n = getCount(r, field);
    std::vector<int32_t> ids(n);
    for (auto& id : ids) {
        id = r.get<int32_t>(field);
        if (id < 0 || static_cast<size_t>(id) >= nTensors) fail(ErrorCode::kINVALID_ENGINE, "engine file is corrupt: ", field, " refers to tensor ", id, " of ", nTensors);
    }
    return ids;
}

void putIds(ByteWriter& w, const std::vector<int32_t>& ids) {
    w.put<uint32_t>(static_cast<uint32_t>(ids.size()));
    for (int32_t id : ids) w.put<int32_t>(id);
}

void putStrings(ByteWriter& w, const std::vector<std::string>& v) {
    w.put<uint32_t>(static_cast<uint32_t>(v.size()));
    for (const auto& s : v) w.putString(s);
}

std::vector<std::string> getStrings(ByteReader& r, const char* field) {
    uint32_t n = getCount(r, field);
    std::vector<std::string> v;
    for (uint32_t i = 0; i < n; ++i) v.push_back(r.getString(field));
    return v;
}

const char* deviceWord(DeviceType d) { return d == DeviceType::kGPU ? "GPU" : "CPU"; }

//! What to do about a kernel that is not registered: load the library (or register the Python class) that the
//! engine's builder took it from, when the step's notes record it (plugin/registry.h).
std::string loadHint(const std::vector<std::string>& notes) {
    const std::string origin = originFromNotes(notes);
    if (origin.rfind("library ", 0) == 0) return "the engine was built with it from plugin " + origin + ": load that library first (gie.load_library)";
    if (!origin.empty()) return "the engine was built with it from " + origin + ": register it first (gie.register_plugin)";
    return "load the plugin library first (gie.load_library)";
}

//! Auxiliary streams of a GPU engine are numbered below this (the planner's and the context's tables).
constexpr int32_t kMaxStreams = 64;

//! The I/O lists against the tensor kinds: every input or output tensor is listed once (the caller binds
//! memory to listed tensors only), under a name no other I/O tensor has, and is not a view.
void checkIoTable(const EnginePlan& p) {
    std::vector<int> listed(p.tensors.size(), 0);
    auto check = [&](const std::vector<int32_t>& ids, TensorKind kind, const char* list) {
        for (int32_t id : ids) {
            const EngineTensor& t = p.tensors[static_cast<size_t>(id)];
            GIE_CHECK(t.kind == kind, ErrorCode::kINVALID_ENGINE, "engine file is corrupt: the ", list, " names tensor '", t.name,
                      "', which is not an ", kind == TensorKind::kInput ? "input" : "output");
            GIE_CHECK(listed[static_cast<size_t>(id)]++ == 0, ErrorCode::kINVALID_ENGINE, "engine file is corrupt: the ", list,
                      " names tensor '", t.name, "' twice");
        }
    };
    check(p.inputs, TensorKind::kInput, "input list");
    check(p.outputs, TensorKind::kOutput, "output list");
    std::vector<const std::string*> names;
    for (size_t i = 0; i < p.tensors.size(); ++i) {
        const EngineTensor& t = p.tensors[i];
        if (t.kind != TensorKind::kInput && t.kind != TensorKind::kOutput) continue;
        const bool input = t.kind == TensorKind::kInput;
        GIE_CHECK(listed[i] == 1, ErrorCode::kINVALID_ENGINE, "engine file is corrupt: tensor '", t.name, "' is an ",
                  input ? "input" : "output", " but not in the ", input ? "input list" : "output list");
        GIE_CHECK(t.viewOf < 0, ErrorCode::kINVALID_ENGINE, "engine file is corrupt: I/O tensor '", t.name, "' is a view");
        for (const std::string* n : names)
            GIE_CHECK(*n != t.name, ErrorCode::kINVALID_ENGINE, "engine file is corrupt: two inputs or outputs are named '", t.name, "'");
        names.push_back(&t.name);
    }
}

//! Activations that are alive at the same step must not share arena bytes (a kernel would read what another
//! overwrote, or copy between overlapping buffers). A tensor (with its views) lives from its first to its last
//! use in step order; the planner's lifetimes for concurrent streams are wider, so a valid plan always passes.
void checkArenaOverlaps(const EnginePlan& p) {
    const size_t nt = p.tensors.size();
    std::vector<int64_t> first(nt, INT64_MAX), last(nt, -1);
    for (size_t s = 0; s < p.steps.size(); ++s)
        for (const auto* ids : {&p.steps[s].inputs, &p.steps[s].outputs})
            for (int32_t t : *ids) {
                const size_t owner = p.tensors[static_cast<size_t>(t)].viewOf >= 0 ? static_cast<size_t>(p.tensors[static_cast<size_t>(t)].viewOf)
                                                                                   : static_cast<size_t>(t);
                first[owner] = std::min<int64_t>(first[owner], static_cast<int64_t>(s));
                last[owner] = std::max<int64_t>(last[owner], static_cast<int64_t>(s));
            }
    std::vector<size_t> live;
    for (size_t t = 0; t < nt; ++t)
        if (p.tensors[t].kind == TensorKind::kActivation && p.tensors[t].viewOf < 0 && last[t] >= 0) live.push_back(t);
    for (size_t i = 0; i < live.size(); ++i)
        for (size_t j = i + 1; j < live.size(); ++j) {
            const EngineTensor &a = p.tensors[live[i]], &b = p.tensors[live[j]];
            const bool together = first[live[i]] <= last[live[j]] && first[live[j]] <= last[live[i]];
            const bool shared = a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
            GIE_CHECK(!(together && shared), ErrorCode::kINVALID_ENGINE, "engine file is corrupt: tensors '", a.name, "' and '", b.name,
                      "' are in use at the same time but share arena bytes (offsets ", a.offset, " and ", b.offset, ")");
        }
}

//! Each step's kernel must compute, from its inputs' stored shapes (those at the largest batch) and types,
//! exactly its outputs' stored shapes and types, and accept every tensor's type, layout and strides: the shape
//! rules check every field against the weights (a kernel size against the weight count) and the input shapes,
//! so a kernel configured with these tensors reads and writes only what they hold.
void checkSteps(const EnginePlan& p) {
    // Shape tensors: a ShapeOp step's rule gives the value (layers/shape_op.h); its stored shape is (number of values,)
    // or (), and the steps after it read the value, as propagateShapes does.
    std::vector<Dims> value(p.tensors.size());
    for (size_t t = 0; t < p.tensors.size(); ++t) value[t] = p.tensors[t].dims;
    for (const auto& s : p.steps) {
        if (s.type == ShapeOp::kType) {
            for (int32_t o : s.outputs) {
                const EngineTensor& t = p.tensors[static_cast<size_t>(o)];
                GIE_CHECK(t.kind == TensorKind::kActivation && t.viewOf < 0 && t.format == TensorFormat::kLINEAR && t.dims.nbDims <= 1 &&
                              (t.type == DataType::kINT32 || t.type == DataType::kBOOL),
                          ErrorCode::kINVALID_ENGINE, "engine file is corrupt: shape tensor '", t.name, "' is not a linear int32 or bool "
                          "activation of rank 0 or 1");
            }
        }
        for (size_t k = 0; k < s.inputs.size(); ++k) {
            const EngineTensor& t = p.tensors[static_cast<size_t>(s.inputs[k])];
            GIE_CHECK(!t.shapeTensor || takesShapeValue(s.type, k), ErrorCode::kINVALID_ENGINE, "engine file is corrupt: kernel '", s.name,
                      "' (", s.type, ") reads shape tensor '", t.name, "' as data");
            GIE_CHECK(t.shapeTensor || s.type == ShapeOp::kType || !takesShapeValue(s.type, k), ErrorCode::kINVALID_ENGINE,
                      "engine file is corrupt: kernel '", s.name, "' (", s.type, ") takes tensor '", t.name, "' as a shape value");
        }
        std::vector<TensorDesc> all;
        std::vector<DataType> inTypes, outTypes(s.outputs.size());
        for (int32_t t : s.inputs) inTypes.push_back(p.tensors[static_cast<size_t>(t)].type);
        for (int32_t t : s.inputs) all.push_back(tensorDesc(p, t, p.tensors[static_cast<size_t>(t)].dims));
        for (int32_t t : s.outputs) all.push_back(tensorDesc(p, t, p.tensors[static_cast<size_t>(t)].dims));
        const int32_t nIn = static_cast<int32_t>(s.inputs.size()), nOut = static_cast<int32_t>(s.outputs.size());
        for (int32_t k = 0; k < nIn + nOut; ++k) {
            const EngineTensor& t = p.tensors[static_cast<size_t>(k < nIn ? s.inputs[static_cast<size_t>(k)] : s.outputs[static_cast<size_t>(k - nIn)])];
            const TensorDesc& d = all[static_cast<size_t>(k)];
            const bool strided = isStrided(d);
            GIE_CHECK(s.plugin->supportsFormatCombination(k, all.data(), nIn, nOut) &&
                          (!strided || (k < nIn ? s.plugin->supportsStridedInput() : s.plugin->supportsStridedOutput())),
                      ErrorCode::kINVALID_ENGINE, "engine file is corrupt: kernel '", s.name, "' (", s.type, ") does not take ",
                      k < nIn ? "input '" : "output '", t.name, "' as ", dataTypeName(t.type), strided ? " (a strided view)" : "");
        }
        if (s.plugin->getOutputDataTypes(inTypes.data(), nIn, outTypes.data()) != 0) {
            const char* msg = nullptr;
            getLastError(&msg);
            fail(ErrorCode::kINVALID_ENGINE, "engine file is corrupt: kernel '", s.name, "' (", s.type, ") rejects its stored input types",
                 msg && *msg ? std::string(": ") + msg : std::string());
        }
        // The builder chooses FLOAT, HALF or (quantized, docs/int8.md) INT8 for float tensors (a kernel may read HALF
        // and write FLOAT): the type rules fix only the class; supportsFormatCombination above checked the exact types.
        auto floatClass = [](DataType t) { return t == DataType::kFLOAT || t == DataType::kHALF; };
        auto stored = [](DataType t) { return t == DataType::kFLOAT || t == DataType::kHALF || t == DataType::kINT8; };
        for (size_t i = 0; i < outTypes.size(); ++i)
            GIE_CHECK(outTypes[i] == p.tensors[static_cast<size_t>(s.outputs[i])].type ||
                          (floatClass(outTypes[i]) && stored(p.tensors[static_cast<size_t>(s.outputs[i])].type)),
                      ErrorCode::kINVALID_ENGINE,
                      "engine file is corrupt: kernel '", s.name, "' (", s.type, ") makes output ", i, " ",
                      dataTypeName(outTypes[i]), " but the file stores ", dataTypeName(p.tensors[static_cast<size_t>(s.outputs[i])].type));
        std::vector<Dims> in, out(s.outputs.size());
        for (int32_t t : s.inputs) in.push_back(value[static_cast<size_t>(t)]);
        if (s.plugin->getOutputDimensions(in.data(), static_cast<int32_t>(in.size()), out.data()) != 0) {
            const char* msg = nullptr;
            getLastError(&msg);
            fail(ErrorCode::kINVALID_ENGINE, "engine file is corrupt: kernel '", s.name, "' (", s.type, ") rejects its stored shapes",
                 msg && *msg ? std::string(": ") + msg : std::string());
        }
        if (s.type == ShapeOp::kType) {
            for (size_t i = 0; i < out.size(); ++i) {
                const EngineTensor& t = p.tensors[static_cast<size_t>(s.outputs[i])];
                GIE_CHECK(t.dims.nbDims == 0 ? out[i].nbDims == 1 : t.dims.d[0] == out[i].nbDims, ErrorCode::kINVALID_ENGINE,
                          "engine file is corrupt: shape tensor '", t.name, "' of shape ", toString(t.dims), " would hold ", out[i].nbDims, " values");
                value[static_cast<size_t>(s.outputs[i])] = out[i];
            }
            continue;
        }
        for (size_t i = 0; i < out.size(); ++i) {
            const EngineTensor& t = p.tensors[static_cast<size_t>(s.outputs[i])];
            GIE_CHECK(out[i] == t.dims, ErrorCode::kINVALID_ENGINE, "engine file is corrupt: kernel '", s.name, "' (", s.type,
                      ") computes output ", i, " '", t.name, "' as ", toString(out[i]), " but the file stores ", toString(t.dims));
        }
    }
}

//! The optimization profile table (format 4) after its explicit-shapes flag: every profile gives every input a min, opt and max of the input's
//! rank with 1 <= min <= opt <= max <= the planned (largest) shape in each dimension; an engine without explicit
//! shapes has exactly the profile of its batch range.
void readProfiles(ByteReader& r, EnginePlan& p) {
    const uint32_t n = r.get<uint32_t>("profile count");
    GIE_CHECK(n >= 1 && n <= static_cast<uint32_t>(kMAX_OPTIMIZATION_PROFILES), ErrorCode::kINVALID_ENGINE, "engine file is corrupt: ", n,
              " optimization profiles (an engine has 1 to ", kMAX_OPTIMIZATION_PROFILES, ")");
    p.profiles.assign(n, std::vector<InputRange>(p.inputs.size()));
    for (uint32_t i = 0; i < n; ++i)
        for (size_t k = 0; k < p.inputs.size(); ++k) {
            const EngineTensor& t = p.tensors[static_cast<size_t>(p.inputs[k])];
            InputRange& x = p.profiles[i][k];
            x.min = getDims(r, "profile min shape");
            x.opt = getDims(r, "profile opt shape");
            x.max = getDims(r, "profile max shape");
            bool ok = x.min.nbDims == t.dims.nbDims && x.opt.nbDims == t.dims.nbDims && x.max.nbDims == t.dims.nbDims;
            for (int j = 0; ok && j < t.dims.nbDims; ++j)
                ok = 1 <= x.min.d[j] && x.min.d[j] <= x.opt.d[j] && x.opt.d[j] <= x.max.d[j] && x.max.d[j] <= t.dims.d[j];
            GIE_CHECK(ok, ErrorCode::kINVALID_ENGINE, "engine file is corrupt: optimization profile ", i, " gives input '", t.name, "' min ",
                      toString(x.min), ", opt ", toString(x.opt), ", max ", toString(x.max), "; they must have its rank and satisfy 1 <= min <= opt <= max <= ",
                      toString(t.dims), " (its planned shape)");
        }
    if (!p.explicitShapes) {
        const auto expected = batchRangeProfile(p);
        bool same = n == 1;
        for (size_t k = 0; same && k < p.inputs.size(); ++k)
            same = p.profiles[0][k].min == expected[0][k].min && p.profiles[0][k].opt == expected[0][k].opt && p.profiles[0][k].max == expected[0][k].max;
        GIE_CHECK(same, ErrorCode::kINVALID_ENGINE, "engine file is corrupt: an engine without explicit shapes has one optimization profile, its batch range");
    }
}

//! A range view (format 6, EngineTensor::viewTail): an activation read from rows of an activation that is no view and
//! has no channel slices, of one type, both LINEAR, sharing their last viewTail dimensions; the rows it reads
//! lie within its parent's (sizes are checked against 2^40 elements before: the products below cannot overflow).
void checkRangeView(const EnginePlan& p, const EngineTensor& t) {
    const auto& parent = p.tensors[static_cast<size_t>(t.viewOf)];
    const std::string what = strcat("engine file is corrupt: tensor '", t.name, "' is not a valid range view of '", parent.name, "': ");
    GIE_CHECK(parent.viewOf < 0 && t.kind == TensorKind::kActivation && parent.kind == TensorKind::kActivation, ErrorCode::kINVALID_ENGINE,
              what, "both must be activations and the parent no view");
    GIE_CHECK(t.type == parent.type && t.format == TensorFormat::kLINEAR && parent.format == TensorFormat::kLINEAR, ErrorCode::kINVALID_ENGINE,
              what, "their types or formats differ or are not LINEAR");
    for (const auto& v : p.tensors)
        GIE_CHECK(!(v.channelSlice() && v.viewOf == t.viewOf), ErrorCode::kINVALID_ENGINE, what, "'", v.name, "' is a channel slice of it too");
    GIE_CHECK(t.viewTail <= t.dims.nbDims && t.viewTail <= parent.dims.nbDims, ErrorCode::kINVALID_ENGINE, what, "view tail ", t.viewTail,
              " exceeds the rank");
    for (int i = 1; i <= t.viewTail; ++i)
        GIE_CHECK(t.dims.d[t.dims.nbDims - i] == parent.dims.d[parent.dims.nbDims - i], ErrorCode::kINVALID_ENGINE, what,
                  "their last ", t.viewTail, " dimensions differ");
    const int64_t rows = rangeViewRows(t.dims, t.viewTail), parentRows = rangeViewRows(parent.dims, t.viewTail);
    GIE_CHECK(t.viewOffset >= 0 && t.viewOffset <= parentRows - rows, ErrorCode::kINVALID_ENGINE, what, "view offset ", t.viewOffset,
              " (rows ", t.viewOffset, " + ", rows, ") is outside the parent's ", parentRows, " rows");
}

}  // namespace

std::vector<uint8_t> serializePlan(const EnginePlan& p) {
    ByteWriter b;
    b.put<int64_t>(p.minBatch);
    b.put<int64_t>(p.optBatch);
    b.put<int64_t>(p.maxBatch);
    b.put<uint32_t>(static_cast<uint32_t>(p.tensors.size()));
    for (const auto& t : p.tensors) {
        b.putString(t.name);
        putDims(b, t.dims);
        b.put<int32_t>(static_cast<int32_t>(t.type));
        b.put<int32_t>(static_cast<int32_t>(t.format));
        b.put<float>(t.scale);
        b.put<uint8_t>(static_cast<uint8_t>(t.kind));
        b.put<int64_t>(t.offset);
        b.put<int64_t>(t.bytes);
        b.put<int32_t>(t.constant);
        b.put<int32_t>(t.viewOf);
        b.put<int64_t>(t.viewOffset);
        b.put<int32_t>(t.viewTail);
    }
    putIds(b, p.inputs);
    putIds(b, p.outputs);
    b.put<uint8_t>(p.explicitShapes ? 1 : 0);
    b.put<uint32_t>(static_cast<uint32_t>(p.profiles.size()));
    for (const auto& profile : p.profiles)
        for (const InputRange& r : profile) {
            putDims(b, r.min);
            putDims(b, r.opt);
            putDims(b, r.max);
        }
    b.put<uint64_t>(p.arenaBytes);
    b.put<uint64_t>(p.noReuseBytes);
    b.put<uint64_t>(p.lowerBoundBytes);
    b.put<uint64_t>(p.workspaceBytes);
    b.put<int32_t>(p.layersBefore);
    b.put<uint8_t>(p.cudaGraph ? 1 : 0);
    b.put<int64_t>(p.timingBatch);
    b.put<uint32_t>(static_cast<uint32_t>(p.steps.size()));
    for (const auto& s : p.steps) {
        b.putString(s.name);
        b.putString(s.type);
        b.putString(s.version);
        b.putString(s.variant);
        b.put<int32_t>(static_cast<int32_t>(s.device));
        putIds(b, s.inputs);
        putIds(b, s.outputs);
        putStrings(b, s.sourceLayers);
        putStrings(b, s.notes);
        b.putString(s.tactic);
        b.put<int32_t>(s.tacticIndex);
        b.put<uint32_t>(static_cast<uint32_t>(s.tacticTimes.size()));
        for (const auto& tt : s.tacticTimes) {
            b.putString(tt.first);
            b.put<double>(tt.second);
        }
        b.put<uint32_t>(static_cast<uint32_t>(s.alternates.size()));
        for (const auto& a : s.alternates) {
            b.putString(a.tactic);
            b.put<int32_t>(a.tacticIndex);
        }
        putIds(b, s.profileKernel);
        b.put<int32_t>(s.stream);
        std::vector<uint8_t> fields(s.plugin->getSerializationSize());
        if (!fields.empty()) s.plugin->serialize(fields.data());
        b.putBlob(fields.data(), fields.size());
    }
    b.put<uint32_t>(static_cast<uint32_t>(p.constants.size()));
    for (const auto& c : p.constants) {
        b.put<uint64_t>(c.size());
        b.align(64);
        b.putBytes(c.data(), c.size());
    }
    b.putString(p.buildLog);
    b.putString(p.networkJson);

    std::vector<uint8_t> body = std::move(b.buffer());
    ByteWriter h;
    h.putBytes(kMagic, 8);
    h.put<uint32_t>(kFormatVersion);
    h.put<uint32_t>(static_cast<uint32_t>(getVersion()));
    h.put<uint32_t>(static_cast<uint32_t>(p.device));
    h.put<int32_t>(p.computeCapability);
    h.put<uint64_t>(p.flags);
    h.put<uint64_t>(body.size());
    h.put<uint32_t>(crc32c(body.data(), body.size()));
    h.put<uint32_t>(0);
    h.put<uint32_t>(0);
    h.put<uint32_t>(0);
    h.put<uint32_t>(crc32c(h.buffer().data(), h.size()));
    h.put<uint32_t>(0);
    std::vector<uint8_t> out = std::move(h.buffer());
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

EnginePlan deserializePlan(const void* data, size_t size, EngineSummary* summary) {
    GIE_CHECK(data, ErrorCode::kINVALID_ARGUMENT, "deserializeEngine: null data");
    const auto* bytes = static_cast<const uint8_t*>(data);
    GIE_CHECK(size >= kHeaderSize, ErrorCode::kINVALID_ENGINE, "engine file is truncated: ", size,
              " bytes, shorter than the ", kHeaderSize, "-byte header");
    GIE_CHECK(std::memcmp(bytes, kMagic, 8) == 0, ErrorCode::kINVALID_ENGINE,
              "not a gie engine file (wrong magic bytes at offset 0)");
    ByteReader h(bytes, kHeaderSize, "engine file header");
    h.getBytes(8, "magic");
    uint32_t format = h.get<uint32_t>("format version");
    uint32_t libVersion = h.get<uint32_t>("library version");
    uint32_t device = h.get<uint32_t>("device");
    int32_t cc = h.get<int32_t>("compute capability");
    uint64_t flags = h.get<uint64_t>("flags");
    uint64_t bodySize = h.get<uint64_t>("body size");
    uint32_t bodyCrc = h.get<uint32_t>("body checksum");
    h.getBytes(12, "reserved");
    uint32_t headerCrc = h.get<uint32_t>("header checksum");
    uint32_t reservedTail = h.get<uint32_t>("reserved");  // bytes 60..63 are outside the header checksum
    if (summary) {
        summary->formatVersion = format;
        summary->libraryVersion = libVersion;
        summary->device = device == 1 ? DeviceType::kGPU : DeviceType::kCPU;
        summary->computeCapability = cc;
        summary->flags = flags;
    }
    GIE_CHECK(crc32c(bytes, 56) == headerCrc, ErrorCode::kINVALID_ENGINE,
              "engine file header is corrupt (header checksum mismatch)");
    GIE_CHECK(format >= kOldestFormatVersion && format <= kFormatVersion, ErrorCode::kVERSION_MISMATCH, "engine file has format version ",
              format, "; this gie reads format versions ", kOldestFormatVersion, " to ", kFormatVersion, " (rebuild the engine with this gie)");
    GIE_CHECK(reservedTail == 0, ErrorCode::kINVALID_ENGINE, "engine file header is corrupt (reserved bytes 60..63 are not zero)");
    GIE_CHECK(bodySize <= size - kHeaderSize, ErrorCode::kINVALID_ENGINE, "engine file is truncated: the header announces ",
              bodySize, " body bytes but only ", size - kHeaderSize, " follow");
    GIE_CHECK(bodySize == size - kHeaderSize, ErrorCode::kINVALID_ENGINE, "engine file has ", size - kHeaderSize - bodySize,
              " unexpected bytes after its end");
    GIE_CHECK(crc32c(bytes + kHeaderSize, bodySize) == bodyCrc, ErrorCode::kINVALID_ENGINE,
              "engine file is corrupt or was modified (body checksum mismatch)");
    GIE_CHECK(libVersion / 100 == static_cast<uint32_t>(getVersion()) / 100, ErrorCode::kVERSION_MISMATCH,
              "engine was built by gie ", libVersion / 10000, ".", libVersion / 100 % 100, ".", libVersion % 100, "; this is gie ",
              GIE_VERSION_MAJOR, ".", GIE_VERSION_MINOR, ".", GIE_VERSION_PATCH, " (rebuild the engine)");
    GIE_CHECK(device <= 1, ErrorCode::kINVALID_ENGINE, "engine file header names unknown device ", device);

    EnginePlan p;
    p.device = static_cast<DeviceType>(device);
    p.computeCapability = cc;
    p.flags = flags;
    if (p.device == DeviceType::kGPU && !summary) {
        Backend* gpu = findBackend(DeviceType::kGPU);
        GIE_CHECK(gpu && gpu->available(), ErrorCode::kDEVICE_MISMATCH, "engine was built for a GPU (compute capability ",
                  cc / 10, ".", cc % 10, ") but this machine has no usable GPU", gpu ? "" : " (gie was built without CUDA)");
        GIE_CHECK(gpu->computeCapability() == cc, ErrorCode::kDEVICE_MISMATCH, "engine was built for compute capability ",
                  cc / 10, ".", cc % 10, " but this GPU is ", gpu->computeCapability() / 10, ".", gpu->computeCapability() % 10);
    }

    ByteReader r(bytes + kHeaderSize, static_cast<size_t>(bodySize), "engine file");
    p.minBatch = r.get<int64_t>("min batch");
    p.optBatch = r.get<int64_t>("opt batch");
    p.maxBatch = r.get<int64_t>("max batch");
    GIE_CHECK(p.minBatch >= 1 && p.minBatch <= p.optBatch && p.optBatch <= p.maxBatch && p.maxBatch <= kMaxElements,
              ErrorCode::kINVALID_ENGINE, "engine file is corrupt: bad batch range (", p.minBatch, ", ", p.optBatch, ", ", p.maxBatch, ")");
    if (summary) {
        summary->minBatch = p.minBatch;
        summary->optBatch = p.optBatch;
        summary->maxBatch = p.maxBatch;
    }
    uint32_t nt = getCount(r, "tensor count");
    p.tensors.resize(nt);
    const uint32_t fileFormat = format;  // (`format` is a tensor's in the loop below)
    for (auto& t : p.tensors) {
        t.name = r.getString("tensor name", 1 << 16);
        t.dims = getDims(r, strcat("tensor '", t.name, "' dims").c_str());
        int32_t type = r.get<int32_t>("tensor type");
        GIE_CHECK(validDataType(type), ErrorCode::kINVALID_ENGINE, "engine file is corrupt: tensor '", t.name, "' has type ", type);
        t.type = static_cast<DataType>(type);
        const int32_t format = r.get<int32_t>("tensor format");
        GIE_CHECK(validFormat(format) && implementedFormat(static_cast<TensorFormat>(format)), ErrorCode::kINVALID_ENGINE,
                  "engine file is corrupt: tensor '", t.name, "' has format ", format);
        t.format = static_cast<TensorFormat>(format);
        GIE_CHECK(formatFitsRank(t.format, t.dims.nbDims) && formatFitsType(t.format, t.type), ErrorCode::kINVALID_ENGINE,
                  "engine file is corrupt: tensor '", t.name, "' of rank ", t.dims.nbDims, " and type ", dataTypeName(t.type), " has format ",
                  formatName(t.format), " (formats other than LINEAR are 4-D; CHW4 holds int8, HWC8 float, NHWC float or int8)");
        t.scale = r.get<float>("tensor scale");
        GIE_CHECK(std::isfinite(t.scale) && t.scale > 0.f, ErrorCode::kINVALID_ENGINE, "engine file is corrupt: tensor '", t.name,
                  "' has quantization scale ", t.scale);
        uint8_t kind = r.get<uint8_t>("tensor kind");
        GIE_CHECK(kind <= 3, ErrorCode::kINVALID_ENGINE, "engine file is corrupt: tensor '", t.name, "' has kind ", int(kind));
        t.kind = static_cast<TensorKind>(kind);
        t.offset = r.get<int64_t>("tensor offset");
        t.bytes = r.get<int64_t>("tensor bytes");
        t.constant = r.get<int32_t>("tensor constant");
        t.viewOf = r.get<int32_t>("tensor view parent");
        t.viewOffset = r.get<int64_t>("tensor view offset");
        if (fileFormat >= 6) {
            t.viewTail = r.get<int32_t>("tensor view tail");
            GIE_CHECK(t.viewTail >= -1 && (t.viewTail < 0 || t.viewOf >= 0), ErrorCode::kINVALID_ENGINE, "engine file is corrupt: tensor '",
                      t.name, "' has view tail ", t.viewTail, t.viewOf < 0 ? " but is no view" : "");
        }
        checkedVolume(t.dims, ErrorCode::kINVALID_ENGINE, "engine file is corrupt: tensor '", t.name, "' shape");
        Dims stored = t.dims;  // with the padding channels of the format, also within the element limit
        if (stored.nbDims == 4) stored.d[1] = storedChannels(stored.d[1], t.format);
        checkedVolume(stored, ErrorCode::kINVALID_ENGINE, "engine file is corrupt: tensor '", t.name, "' stored shape");
        // At least its planned shape's size; more with explicit shapes, where a tensor may be larger at another shape of a
        // profile than at the largest inputs (checked against the flag below).
        GIE_CHECK(t.bytes >= tensorBytes(t.dims, t.type, t.format) && t.bytes <= kMaxElements * 8, ErrorCode::kINVALID_ENGINE,
                  "engine file is corrupt: tensor '", t.name, "' size does not match its shape");
    }
    for (auto& t : p.tensors) {
        if (t.viewOf < 0) continue;
        GIE_CHECK(static_cast<uint32_t>(t.viewOf) < nt, ErrorCode::kINVALID_ENGINE, "engine file is corrupt: tensor '", t.name, "' is a view of tensor ", t.viewOf);
        const auto& parent = p.tensors[static_cast<size_t>(t.viewOf)];
        if (t.rangeView()) {
            checkRangeView(p, t);
            continue;
        }
        // A channel slice: the parent's shape but for dimension 1, at every shape (common/dims.h), starting at a channel
        // from which the slice's channels fit in the parent's.
        // LINEAR, or (GPU INT8, docs/int8.md) CHW4 INT8 slices of whole CHW4 words: 4-D, a multiple of 4 channels.
        const bool chw4 = t.format == TensorFormat::kCHW4 && t.type == DataType::kINT8 && t.dims.nbDims == 4 && t.dims.d[1] % 4 == 0;
        bool ok = parent.viewOf < 0 && t.kind == TensorKind::kActivation && t.type == parent.type && t.format == parent.format &&
                  (t.format == TensorFormat::kLINEAR || chw4) && (parent.kind == TensorKind::kActivation || parent.kind == TensorKind::kOutput) &&
                  t.dims.nbDims >= 2 && t.dims.nbDims == parent.dims.nbDims;
        for (int i = 0; ok && i < t.dims.nbDims; ++i) ok = i == 1 || t.dims.d[i] == parent.dims.d[i];
        if (ok && format < 4) {  // format 3: elements into each batch item
            const int64_t perChannel = viewChannelSize(t.dims);
            ok = t.viewOffset >= 0 && (perChannel == 0 ? t.viewOffset == 0 : t.viewOffset % perChannel == 0);
            if (ok && perChannel > 0) t.viewOffset /= perChannel;
        }
        ok = ok && t.viewOffset >= 0 && t.viewOffset <= parent.dims.d[1] - t.dims.d[1] && (t.format == TensorFormat::kLINEAR || t.viewOffset % 4 == 0);
        GIE_CHECK(ok, ErrorCode::kINVALID_ENGINE, "engine file is corrupt: tensor '", t.name, "' is not a valid view of '", parent.name, "'");
    }
    p.inputs = getIds(r, "input list", nt);
    p.outputs = getIds(r, "output list", nt);
    for (int32_t t : p.inputs)  // (checkIoTable checks the kinds below; the profile checks need ranks first)
        GIE_CHECK(p.tensors[static_cast<size_t>(t)].dims.nbDims >= 1, ErrorCode::kINVALID_ENGINE, "engine file is corrupt: input '",
                  p.tensors[static_cast<size_t>(t)].name, "' has no dimensions");
    if (format >= 4) {
        const uint8_t flag = r.get<uint8_t>("explicit shapes flag");
        GIE_CHECK(flag <= 1, ErrorCode::kINVALID_ENGINE, "engine file is corrupt: explicit shapes flag is ", int(flag));
        p.explicitShapes = flag == 1;
    }
    if (!p.explicitShapes) {
        for (const auto& t : p.tensors)
            GIE_CHECK(t.bytes == tensorBytes(t.dims, t.type, t.format), ErrorCode::kINVALID_ENGINE, "engine file is corrupt: tensor '", t.name,
                      "' size does not match its shape");
        for (int32_t id : p.inputs) {  // shapes are stored at the largest batch: an input's dimension 0 is the engine's max batch
            const EngineTensor& t = p.tensors[static_cast<size_t>(id)];
            GIE_CHECK(t.dims.d[0] == p.maxBatch, ErrorCode::kINVALID_ENGINE, "engine file is corrupt: input '", t.name, "' has shape ",
                      toString(t.dims), " at max batch ", p.maxBatch);
        }
    }
    if (format >= 4)
        readProfiles(r, p);
    else
        p.profiles = batchRangeProfile(p);
    if (summary) summary->nbProfiles = static_cast<int32_t>(p.profiles.size());
    p.arenaBytes = r.get<uint64_t>("arena size");
    p.noReuseBytes = r.get<uint64_t>("no-reuse size");
    p.lowerBoundBytes = r.get<uint64_t>("lower bound");
    p.workspaceBytes = r.get<uint64_t>("workspace size");
    p.layersBefore = r.get<int32_t>("layer count");
    p.cudaGraph = r.get<uint8_t>("CUDA graph flag") != 0;
    p.timingBatch = r.get<int64_t>("timing batch");
    GIE_CHECK(p.arenaBytes < (uint64_t{1} << 42) && p.workspaceBytes < (uint64_t{1} << 42), ErrorCode::kINVALID_ENGINE,
              "engine file is corrupt: implausible memory sizes");
    // Kernels may assume the memory planner's alignment (vector loads and stores). The planner never makes the
    // arena larger than all its tensors side by side.
    uint64_t sideBySide = 0;
    for (const auto& t : p.tensors)
        if (t.kind == TensorKind::kActivation && t.viewOf < 0) {
            sideBySide += static_cast<uint64_t>(alignUp(std::max<int64_t>(t.bytes, 1)));
            GIE_CHECK(t.offset >= 0 && t.offset % kTensorAlignment == 0, ErrorCode::kINVALID_ENGINE, "engine file is corrupt: tensor '",
                      t.name, "' has arena offset ", t.offset, ", not aligned to ", kTensorAlignment, " bytes");
            GIE_CHECK(static_cast<uint64_t>(t.offset) + static_cast<uint64_t>(t.bytes) <= p.arenaBytes, ErrorCode::kINVALID_ENGINE,
                      "engine file is corrupt: tensor '", t.name, "' lies outside the activation arena");
        }
    checkIoTable(p);
    GIE_CHECK(p.arenaBytes <= sideBySide, ErrorCode::kINVALID_ENGINE, "engine file is corrupt: an activation arena of ", p.arenaBytes,
              " bytes, more than its tensors need side by side (", sideBySide, ")");

    uint32_t ns = getCount(r, "step count");
    std::vector<int> produced(nt, 0), viewsPending(nt, 0);
    for (const auto& t : p.tensors)
        if (t.channelSlice()) viewsPending[static_cast<size_t>(t.viewOf)]++;
    for (uint32_t i = 0; i < ns; ++i) {
        EngineStep s;
        s.name = r.getString("kernel name", 1 << 16);
        s.type = r.getString("kernel type", 4096);
        s.version = r.getString("kernel version", 4096);
        s.variant = r.getString("kernel variant", 4096);
        int32_t dev = r.get<int32_t>("kernel device");
        GIE_CHECK(dev == static_cast<int32_t>(p.device), ErrorCode::kINVALID_ENGINE, "engine file is corrupt: kernel '", s.name,
                  "' has device ", dev, " in a ", deviceWord(p.device), " engine");
        s.device = static_cast<DeviceType>(dev);
        s.inputs = getIds(r, "kernel inputs", nt);
        s.outputs = getIds(r, "kernel outputs", nt);
        for (int32_t in : s.inputs) {
            auto k = p.tensors[static_cast<size_t>(in)].kind;
            int32_t parentOf = p.tensors[static_cast<size_t>(in)].viewOf;
            GIE_CHECK(k == TensorKind::kInput || k == TensorKind::kConstant || produced[static_cast<size_t>(in)] == 1 ||
                          (parentOf >= 0 && produced[static_cast<size_t>(in)] == 0 && produced[static_cast<size_t>(parentOf)] == 1) ||
                          (produced[static_cast<size_t>(in)] == 0 && viewsPending[static_cast<size_t>(in)] == 0 &&
                           std::any_of(p.tensors.begin(), p.tensors.end(),
                                       [&](const EngineTensor& v) { return v.channelSlice() && v.viewOf == in; })),
                      ErrorCode::kINVALID_ENGINE, "engine file is corrupt: kernel '", s.name, "' reads tensor '",
                      p.tensors[static_cast<size_t>(in)].name, "' before any kernel writes it");
        }
        for (int32_t o : s.outputs) {
            auto k = p.tensors[static_cast<size_t>(o)].kind;
            GIE_CHECK(k == TensorKind::kActivation || k == TensorKind::kOutput, ErrorCode::kINVALID_ENGINE,
                      "engine file is corrupt: kernel '", s.name, "' writes a ", k == TensorKind::kInput ? "network input" : "constant");
            GIE_CHECK(!p.tensors[static_cast<size_t>(o)].rangeView(), ErrorCode::kINVALID_ENGINE, "engine file is corrupt: kernel '", s.name,
                      "' writes tensor '", p.tensors[static_cast<size_t>(o)].name, "', a range view (only read)");
            produced[static_cast<size_t>(o)]++;
            int32_t parent = p.tensors[static_cast<size_t>(o)].viewOf;
            if (parent >= 0) viewsPending[static_cast<size_t>(parent)]--;  // (a channel slice: range views are refused above)
        }
        s.sourceLayers = getStrings(r, "source layers");
        s.notes = getStrings(r, "notes");
        s.tactic = r.getString("tactic");
        s.tacticIndex = r.get<int32_t>("tactic index");
        uint32_t ntt = getCount(r, "tactic timings");
        for (uint32_t k = 0; k < ntt; ++k) {
            std::string name = r.getString("tactic name");
            double ms = r.get<double>("tactic time");
            s.tacticTimes.emplace_back(name, ms);
        }
        if (format >= 5) readProfileTactics(r, p, s);
        s.stream = r.get<int32_t>("kernel stream");
        // The CPU runs every step on the caller's thread: only stream 0 exists there.
        GIE_CHECK(s.stream >= 0 && s.stream < (p.device == DeviceType::kCPU ? 1 : kMaxStreams), ErrorCode::kINVALID_ENGINE,
                  "engine file is corrupt: kernel '", s.name, "' runs on stream ", s.stream, "; a ", deviceWord(p.device),
                  " engine has streams 0..", p.device == DeviceType::kCPU ? 0 : kMaxStreams - 1);
        uint64_t len = 0;
        const uint8_t* fields = r.getBlob("kernel fields", &len);
        if (summary) {
            summary->kernels.push_back({s.type, s.version, s.variant, s.device, s.notes, s.tactic, {}});
            if (p.profiles.size() > 1)
                for (size_t i = 0; i < p.profiles.size(); ++i) summary->kernels.back().profileTactics.push_back(s.tacticFor(static_cast<int32_t>(i)));
            p.steps.push_back(std::move(s));
            continue;
        }
        IPluginCreator* c = getPluginRegistry()->getCreatorVariant(s.type.c_str(), s.version.c_str(), s.device, s.variant.c_str());
        GIE_CHECK(c, ErrorCode::kUNSUPPORTED, "engine needs kernel/plugin '", s.type, "' version ", s.version,
                  s.variant.empty() ? std::string() : " variant '" + s.variant + "'", " for the ",
                  deviceWord(s.device), " (kernel '", s.name, "'), which is not registered in this process; ", loadHint(s.notes));
        s.plugin.reset(c->deserializePlugin(s.name.c_str(), fields, static_cast<size_t>(len)));
        if (!s.plugin) {
            const char* msg = nullptr;
            getLastError(&msg);
            fail(ErrorCode::kINVALID_ENGINE, "engine file is corrupt: kernel '", s.name, "' (", s.type, ") could not be deserialized",
                 msg && *msg ? std::string(": ") + msg : std::string());
        }
        GIE_CHECK(s.plugin->getNbOutputs() == static_cast<int32_t>(s.outputs.size()), ErrorCode::kINVALID_ENGINE,
                  "engine file is corrupt: kernel '", s.name, "' has ", s.outputs.size(), " outputs but its plugin reports ", s.plugin->getNbOutputs());
        p.steps.push_back(std::move(s));
    }
    for (size_t t = 0; t < nt; ++t) {
        auto k = p.tensors[t].kind;
        // Written through its channel slices (an eliminated concatenation); the parent of range views is written whole.
        bool hasViews = std::any_of(p.tensors.begin(), p.tensors.end(),
                                    [&](const EngineTensor& v) { return v.channelSlice() && v.viewOf == static_cast<int32_t>(t); });
        int32_t parentOf = p.tensors[t].viewOf;
        bool writtenByParent = parentOf >= 0 && produced[t] == 0 && produced[static_cast<size_t>(parentOf)] == 1;
        if ((k == TensorKind::kActivation || k == TensorKind::kOutput) && !(hasViews && produced[t] == 0) && !writtenByParent)
            GIE_CHECK(produced[t] == 1, ErrorCode::kINVALID_ENGINE, "engine file is corrupt: tensor '", p.tensors[t].name,
                      "' is written by ", produced[t], " kernels");
    }
    uint32_t nc = getCount(r, "constant count");
    for (uint32_t i = 0; i < nc; ++i) {
        uint64_t n = r.get<uint64_t>("constant size");
        r.align(64);
        const uint8_t* c = r.getBytes(static_cast<size_t>(std::min<uint64_t>(n, r.remaining() + 1)), "constant data");
        p.constants.emplace_back(c, c + n);
    }
    for (const auto& t : p.tensors)
        if (t.kind == TensorKind::kConstant)
            GIE_CHECK(t.constant >= 0 && static_cast<uint32_t>(t.constant) < nc &&
                          p.constants[static_cast<size_t>(t.constant)].size() == static_cast<size_t>(t.bytes),
                      ErrorCode::kINVALID_ENGINE, "engine file is corrupt: constant tensor '", t.name, "' has no matching data");
    p.buildLog = r.getString("build log", size);
    p.networkJson = r.getString("network description", size);
    GIE_CHECK(r.remaining() == 0, ErrorCode::kINVALID_ENGINE, "engine file is corrupt: ", r.remaining(), " unread bytes at the end of the body");
    checkArenaOverlaps(p);
    p.nbStreams = countStreams(p);
    markShapeTensors(p);
    if (!summary) checkSteps(p);
    return p;
}

std::string summarizeEngine(const void* data, size_t size) {
    EngineSummary s;
    try {
        deserializePlan(data, size, &s);
        s.loadable = true;
        if (s.device == DeviceType::kGPU) {
            Backend* gpu = findBackend(DeviceType::kGPU);
            if (!gpu || !gpu->available()) {
                s.loadable = false;
                s.reason = gpu ? "it was built for a GPU and this machine has no usable GPU"
                               : "it was built for a GPU and this gie has no CUDA backend";
            } else if (gpu->computeCapability() != s.computeCapability) {
                s.loadable = false;
                s.reason = strcat("it was built for compute capability ", s.computeCapability / 10, ".", s.computeCapability % 10,
                                  " and this GPU is ", gpu->computeCapability() / 10, ".", gpu->computeCapability() % 10);
            }
        }
        if (s.loadable)
            for (const auto& k : s.kernels)
                if (!getPluginRegistry()->getCreatorVariant(k.type.c_str(), k.version.c_str(), k.device, k.variant.c_str())) {
                    s.loadable = false;
                    s.reason = strcat("it needs kernel/plugin '", k.type, "' version ", k.version,
                                      k.variant.empty() ? std::string() : " variant '" + k.variant + "'", " for the ", deviceWord(k.device),
                                      ", which is not registered; ", loadHint(k.notes));
                    break;
                }
        // The verdict is a real load (every check, kernels created, configured and initialized): explain never
        // calls loadable a file that deserializeEngine refuses.
        if (s.loadable) EngineImpl(deserializePlan(data, size), nullptr);
    } catch (const Error& e) {
        s.loadable = false;
        s.reason = e.what();
    }
    JsonWriter j;
    j.beginObject();
    j.key("format_version").value(static_cast<int64_t>(s.formatVersion));
    j.key("library_version").value(strcat(s.libraryVersion / 10000, ".", s.libraryVersion / 100 % 100, ".", s.libraryVersion % 100));
    j.key("device").value(s.device == DeviceType::kGPU ? "gpu" : "cpu");
    j.key("compute_capability").value(strcat(s.computeCapability / 10, ".", s.computeCapability % 10));
    j.key("flags").value(s.flags);
    j.key("batch").beginObject().key("min").value(s.minBatch).key("opt").value(s.optBatch).key("max").value(s.maxBatch).endObject();
    j.key("optimization_profiles").value(static_cast<int64_t>(s.nbProfiles));
    j.key("kernels").beginArray();
    for (const auto& k : s.kernels) {
        j.beginObject().key("type").value(k.type).key("version").value(k.version).key("variant").value(k.variant).key("device").value(k.device == DeviceType::kGPU ? "gpu" : "cpu")
            .key("tactic").value(k.tactic).key("tactic_architecture").value(k.device == DeviceType::kGPU ? tacticArchitecture(k.tactic) : "");
        if (!k.profileTactics.empty()) j.key("profile_tactics").strings(k.profileTactics);
        j.endObject();
    }
    j.endArray();
    j.key("loadable").value(s.loadable);
    j.key("reason").value(s.reason);
    j.endObject();
    return j.str();
}

}  // namespace gie
