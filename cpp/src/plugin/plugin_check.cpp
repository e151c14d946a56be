// `gie plugin check`: each property of the plugin contract (gie/plugin.h, docs/plugins.md) exercised on its own,
// so that a broken plugin is told which rule it breaks rather than failing somewhere inside a build.
//
// Kernels run as an engine runs them: instances made by deserializePlugin from the bytes serialize wrote,
// configured with the largest shapes, setTactic, initialize, then enqueue (on the creator's device, through the
// backend). Outputs are compared bitwise except across tactics (floating-point tolerance).
#include "plugin/plugin_check.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <thread>

#include "backend/backend.h"
#include "common/dims.h"
#include "common/error.h"
#include "common/format.h"
#include "common/half_types.h"
#include "common/half.h"
#include "common/json.h"
#include "plugin/configure_range.h"
#include "engine/engine.h"  // makeDesc, tensorBytes

namespace gie {
namespace {

constexpr const char* kLayer = "plugin_check";
constexpr size_t kMaxCombos = 8;  // format combinations run (of those accepted)

std::string lastError() {
    const char* m = nullptr;
    getLastError(&m);
    return m && *m ? std::string(m) : std::string("(no message: the plugin did not call gie::setLastError)");
}

std::string shapeText(const Dims& d) {
    std::string s = "(";
    for (int i = 0; i < d.nbDims; ++i) s += (i ? ", " : "") + std::to_string(d.d[i]);
    return s + ")";
}

std::string comboText(const std::vector<TensorDesc>& all, size_t nIn) {
    std::string s;
    for (size_t i = 0; i < all.size(); ++i)
        s += strcat(i ? ", " : "", i < nIn ? "in" : "out", i < nIn ? i : i - nIn, "=", dataTypeName(all[i].type), " ", formatName(all[i].format));
    return s;
}

struct Deleter {
    void operator()(IPlugin* p) const {
        if (p) delete p;
    }
};
using PluginPtr = std::unique_ptr<IPlugin, Deleter>;

std::vector<uint8_t> serialized(const IPlugin& p) {
    std::vector<uint8_t> b(p.getSerializationSize());
    if (!b.empty()) p.serialize(b.data());
    return b;
}

size_t storedBytes(const TensorDesc& d) { return static_cast<size_t>(tensorBytes(d.dims, d.type, d.format)); }

//! Random contents for a tensor of this type (padding channels of HWC8 zero, as every writer leaves them).
std::vector<uint8_t> randomTensor(const TensorDesc& d, std::mt19937& rng) {
    std::vector<uint8_t> h(storedBytes(d), 0);
    std::uniform_real_distribution<float> u(-2.f, 2.f);
    const int64_t n = formatVolume(d.dims, d.format);
    const int64_t c = d.dims.nbDims == 4 ? d.dims.d[1] : 0, cp = d.dims.nbDims == 4 ? storedChannels(c, d.format) : 0;
    for (int64_t i = 0; i < n; ++i) {
        if (d.format == TensorFormat::kHWC8 && i % cp >= c) continue;
        const float v = u(rng);
        switch (d.type) {
            case DataType::kFLOAT: std::memcpy(&h[static_cast<size_t>(i) * 4], &v, 4); break;
            case DataType::kHALF: {
                const uint16_t x = floatToHalf(v);
                std::memcpy(&h[static_cast<size_t>(i) * 2], &x, 2);
                break;
            }
            case DataType::kINT8: h[static_cast<size_t>(i)] = static_cast<uint8_t>(static_cast<int8_t>(std::lround(v * 30))); break;
            case DataType::kINT32: {
                const int32_t x = static_cast<int32_t>(std::lround(v * 5));
                std::memcpy(&h[static_cast<size_t>(i) * 4], &x, 4);
                break;
            }
            case DataType::kBOOL: h[static_cast<size_t>(i)] = v > 0; break;
        }
    }
    return h;
}

//! One configured, initialized kernel with device buffers for its inputs, outputs and workspace.
class Runner {
public:
    //! Buffers sized for `in`/`out`; enqueue is told `callIn`/`callOut` (default: the same), which may be smaller
    //! (a smaller batch in buffers planned for the largest, as in an engine's arena). Outputs are poisoned and read
    //! back whole, so that writes past the call's shape show.
    Runner(IPlugin& k, Backend& b, const std::vector<TensorDesc>& in, const std::vector<TensorDesc>& out,
           const std::vector<TensorDesc>* callIn = nullptr, const std::vector<TensorDesc>* callOut = nullptr)
        : k_(k), b_(b), in_(callIn ? *callIn : in), out_(callOut ? *callOut : out), allocOut_(out) {
        for (const auto& d : in) inBufs_.emplace_back(b_, storedBytes(d) + 1, "plugin check input");
        for (const auto& d : out) outBufs_.emplace_back(b_, storedBytes(d) + 1, "plugin check output");
        ws_ = DeviceBuffer(b_, k_.getWorkspaceSize() + 1, "plugin check workspace");
        stream_ = b_.createStream();
    }
    ~Runner() {
        if (stream_) b_.destroyStream(stream_);
    }
    void setInputs(const std::vector<std::vector<uint8_t>>& host) {
        for (size_t i = 0; i < host.size(); ++i) b_.copy(inBufs_[i].get(), host[i].data(), host[i].size(), CopyKind::kHostToDevice, stream_);
        b_.synchronize(stream_);
    }
    //! Outputs filled with `poison` bytes, one enqueue, outputs back; false (with why) if enqueue failed.
    bool run(uint8_t poison, std::vector<std::vector<uint8_t>>& outs, std::string& why) {
        std::vector<const void*> ins;
        std::vector<void*> os;
        outs.assign(out_.size(), {});
        for (size_t i = 0; i < out_.size(); ++i) {
            std::vector<uint8_t> p(storedBytes(allocOut_[i]), poison);
            b_.copy(outBufs_[i].get(), p.data(), p.size(), CopyKind::kHostToDevice, stream_);
            os.push_back(outBufs_[i].get());
        }
        for (auto& b : inBufs_) ins.push_back(b.get());
        clearLastError();
        const int32_t rc = k_.enqueue(in_.data(), out_.data(), ins.data(), os.data(), ws_.get(), stream_);
        b_.synchronize(stream_);
        b_.checkErrors("plugin check enqueue");
        if (rc != 0) {
            why = strcat("enqueue returned ", rc, ": ", lastError());
            return false;
        }
        for (size_t i = 0; i < out_.size(); ++i) {
            outs[i].resize(storedBytes(allocOut_[i]));
            b_.copy(outs[i].data(), outBufs_[i].get(), outs[i].size(), CopyKind::kDeviceToHost, stream_);
        }
        b_.synchronize(stream_);
        return true;
    }

private:
    IPlugin& k_;
    Backend& b_;
    std::vector<TensorDesc> in_, out_, allocOut_;
    std::vector<DeviceBuffer> inBufs_, outBufs_;
    DeviceBuffer ws_;
    void* stream_ = nullptr;
};

//! First element (index) at which two outputs differ; -1 if none. `tolerant`: float types compare with a tolerance.
int64_t firstDifference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, DataType t, bool tolerant, int64_t* count = nullptr) {
    const size_t es = static_cast<size_t>(dataTypeSize(t));
    int64_t first = -1, n = 0;
    for (size_t i = 0; i + es <= a.size() && i + es <= b.size(); i += es) {
        bool same = std::memcmp(&a[i], &b[i], es) == 0;
        if (!same && tolerant && (t == DataType::kFLOAT || t == DataType::kHALF)) {
            float x, y;
            if (t == DataType::kFLOAT) {
                std::memcpy(&x, &a[i], 4);
                std::memcpy(&y, &b[i], 4);
            } else {
                uint16_t hx, hy;
                std::memcpy(&hx, &a[i], 2);
                std::memcpy(&hy, &b[i], 2);
                x = halfToFloat(hx);
                y = halfToFloat(hy);
            }
            const float tol = t == DataType::kFLOAT ? 1e-4f + 1e-3f * std::fabs(y) : 1e-2f + 1e-2f * std::fabs(y);
            same = std::fabs(x - y) <= tol || (std::isnan(x) && std::isnan(y));
        }
        if (!same) {
            if (first < 0) first = static_cast<int64_t>(i / es);
            ++n;
        }
    }
    if (count) *count = n;
    return first;
}

//! First element that still holds the poison of its run in both runs (0xAB.. in a, 0x5C.. in b); -1 if none.
//! Comparing a with b alone would also flag an element that is written, but differently on each run.
int64_t poisonKept(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, DataType t, int64_t* count) {
    const size_t es = static_cast<size_t>(dataTypeSize(t));
    int64_t first = -1, n = 0;
    for (size_t i = 0; i + es <= a.size() && i + es <= b.size(); i += es) {
        bool kept = true;
        for (size_t k = 0; k < es && kept; ++k) kept = a[i + k] == 0xAB && b[i + k] == 0x5C;
        if (kept) {
            if (first < 0) first = static_cast<int64_t>(i / es);
            ++n;
        }
    }
    *count = n;
    return first;
}

std::string elementText(const std::vector<uint8_t>& a, int64_t i, DataType t) {
    const size_t o = static_cast<size_t>(i) * static_cast<size_t>(dataTypeSize(t));
    switch (t) {
        case DataType::kFLOAT: {
            float v;
            std::memcpy(&v, &a[o], 4);
            return strcat(v);
        }
        case DataType::kHALF: {
            uint16_t v;
            std::memcpy(&v, &a[o], 2);
            return strcat(halfToFloat(v));
        }
        case DataType::kINT32: {
            int32_t v;
            std::memcpy(&v, &a[o], 4);
            return strcat(v);
        }
        default: return strcat(static_cast<int>(static_cast<int8_t>(a[o])));
    }
}

class Checker {
public:
    Checker(IPluginCreator& c, std::vector<std::vector<int64_t>> shapes, int32_t threads, const PluginFieldCollection* fields)
        : c_(c), shapes_(std::move(shapes)), threads_(std::max(2, threads)), given_(fields) {}

    std::string run() {
        runAll();
        JsonWriter j;
        j.beginArray();
        for (const auto& r : results_)
            j.beginObject().key("check").value(r.name).key("status").value(r.status).key("detail").value(r.detail).endObject();
        j.endArray();
        return j.str();
    }

private:
    struct Result {
        std::string name, status, detail;
    };
    void pass(const std::string& name, const std::string& detail = "") { results_.push_back({name, "pass", detail}); }
    void failed(const std::string& name, const std::string& detail) { results_.push_back({name, "fail", detail}); }
    void skip(const std::string& name, const std::string& detail) { results_.push_back({name, "skip", detail}); }
    //! Runs one check; an exception (gie's, or from the plugin through gie) fails it.
    bool guarded(const std::string& name, const std::function<void()>& fn) {
        const size_t before = results_.size();
        try {
            fn();
        } catch (const std::exception& e) {
            results_.resize(before);
            failed(name, e.what());
        } catch (...) {
            results_.resize(before);
            failed(name, "unknown exception");
        }
        return results_.size() > before && results_.back().status != "fail";
    }

    PluginPtr fresh() {
        PluginPtr k(c_.deserializePlugin(kLayer, bytes_.data(), bytes_.size()));
        GIE_CHECK(k, ErrorCode::kINVALID_ARGUMENT, "deserializePlugin failed: ", lastError());
        return k;
    }

    void runAll() {
        static const char* const kAll[] = {"create", "clone", "serialize round trip", "truncated bytes refused", "output shapes and types",
                                           "format combinations", "writes every output element", "two runs agree",
                                           "smaller batch", "threads agree", "tactics agree with tactic 0"};
        auto skipRest = [&](const std::string& why) {
            for (const char* name : kAll) {
                bool done = false;
                for (const auto& r : results_) done = done || r.name == name;
                if (!done) skip(name, why);
            }
        };
        if (!guarded("create", [&] { create(); })) return skipRest("the plugin could not be created");
        guarded("clone", [&] { checkClone(); });
        const bool roundTrip = guarded("serialize round trip", [&] { checkSerialization(); });
        guarded("truncated bytes refused", [&] { checkTruncated(); });
        if (!roundTrip) return skipRest("kernels are made from the serialized bytes, which do not round-trip");
        if (!guarded("output shapes and types", [&] { checkShapes(); })) return skipRest("no sample inputs the plugin accepts");
        if (!guarded("format combinations", [&] { checkFormats(); }) && combos_.empty())
            return skipRest("no format combination is accepted");
        backend_ = findBackend(c_.getDeviceType());
        if (!backend_ || !backend_->available())
            return skipRest(strcat("no usable ", c_.getDeviceType() == DeviceType::kGPU ? "GPU" : "CPU", " backend in this process"));
        guarded("writes every output element", [&] { checkRuns(); });
        if (refs_.empty()) return skipRest("the kernel did not run");
        guarded("smaller batch", [&] { checkSmallerBatch(); });
        guarded("threads agree", [&] { checkThreads(); });
        guarded("tactics agree with tactic 0", [&] { checkTactics(); });
        skipRest("not reached: an earlier check failed");
    }

    void create() {
        const PluginFieldCollection* declared = c_.getFieldNames();
        std::vector<PluginField> given;
        std::string names;
        auto isGiven = [&](const char* name) {
            for (int32_t i = 0; given_ && name && i < given_->nbFields; ++i)
                if (given_->fields[i].name && std::strcmp(given_->fields[i].name, name) == 0) return true;
            return false;
        };
        for (int32_t i = 0; declared && i < declared->nbFields; ++i) {
            const PluginField& f = declared->fields[i];
            if (f.name && f.data && f.length > 0 && !isGiven(f.name)) {
                given.push_back(f);
                names += (names.empty() ? "" : ", ") + std::string(f.name);
            }
        }
        std::string options;
        for (int32_t i = 0; given_ && i < given_->nbFields; ++i) {
            given.push_back(given_->fields[i]);
            options += (options.empty() ? "" : ", ") + std::string(given_->fields[i].name ? given_->fields[i].name : "");
        }
        if (!options.empty()) names += (names.empty() ? "" : ", ") + options + " (given)";
        PluginFieldCollection fc{static_cast<int32_t>(given.size()), given.data()};
        clearLastError();
        plugin_.reset(c_.createPlugin(kLayer, &fc));
        GIE_CHECK(plugin_, ErrorCode::kINVALID_ARGUMENT, "createPlugin with the fields (", names.empty() ? "none with data" : names,
                  ") failed: ", lastError());
        const std::string type = plugin_->getPluginType() ? plugin_->getPluginType() : "";
        const std::string version = plugin_->getPluginVersion() ? plugin_->getPluginVersion() : "";
        GIE_CHECK(type == c_.getPluginName() && version == c_.getPluginVersion(), ErrorCode::kINVALID_ARGUMENT, "the plugin says it is '",
                  type, "' version ", version, " but its creator makes '", c_.getPluginName(), "' version ", c_.getPluginVersion());
        GIE_CHECK(plugin_->getNbOutputs() >= 1, ErrorCode::kINVALID_ARGUMENT, "getNbOutputs() is ", plugin_->getNbOutputs());
        pass("create", names.empty() ? "no declared field has a default" : "fields: " + names);
    }

    void checkClone() {
        PluginPtr q(plugin_->clone());
        GIE_CHECK(q, ErrorCode::kINVALID_ARGUMENT, "clone() returned nullptr: ", lastError());
        GIE_CHECK(std::string(q->getPluginType()) == plugin_->getPluginType() && std::string(q->getPluginVersion()) == plugin_->getPluginVersion() &&
                      q->getNbOutputs() == plugin_->getNbOutputs(),
                  ErrorCode::kINVALID_ARGUMENT, "the clone has another type, version or number of outputs");
        GIE_CHECK(serialized(*q) == serialized(*plugin_), ErrorCode::kINVALID_ARGUMENT, "the clone serializes to other bytes than the original (",
                  q->getSerializationSize(), " vs ", plugin_->getSerializationSize(), " bytes)");
        pass("clone");
    }

    void checkSerialization() {
        const size_t n = plugin_->getSerializationSize();
        GIE_CHECK(n < (size_t{1} << 30), ErrorCode::kINVALID_ARGUMENT, "getSerializationSize() is ", n);
        std::vector<uint8_t> buf(n + 64, 0xA5);
        plugin_->serialize(buf.data());
        for (size_t i = n; i < buf.size(); ++i)
            GIE_CHECK(buf[i] == 0xA5, ErrorCode::kINVALID_ARGUMENT, "serialize() wrote past getSerializationSize() (", n, " bytes): byte ", i);
        bytes_.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
        GIE_CHECK(serialized(*plugin_) == bytes_, ErrorCode::kINVALID_ARGUMENT, "serializing twice gives different bytes");
        clearLastError();
        PluginPtr d(c_.deserializePlugin(kLayer, bytes_.data(), bytes_.size()));
        GIE_CHECK(d, ErrorCode::kINVALID_ARGUMENT, "deserializePlugin rejected the ", n, " bytes serialize() wrote: ", lastError());
        GIE_CHECK(std::string(d->getPluginType()) == c_.getPluginName(), ErrorCode::kINVALID_ARGUMENT, "the deserialized plugin is a '",
                  d->getPluginType(), "'");
        const std::vector<uint8_t> again = serialized(*d);
        if (again != bytes_) {
            size_t at = 0;
            while (at < again.size() && at < bytes_.size() && again[at] == bytes_[at]) ++at;
            fail(ErrorCode::kINVALID_ARGUMENT, "serialize -> deserialize -> serialize changed the bytes (", n, " then ", again.size(),
                 " bytes, first difference at byte ", at, ")");
        }
        pass("serialize round trip", strcat(n, " bytes"));
    }

    void checkTruncated() {
        if (bytes_.empty()) return skip("truncated bytes refused", "the plugin serializes to no bytes");
        // Every shorter prefix (at most 256 of them, spread out) must be refused, never read past its end: the
        // bytes are copied into a buffer of exactly that size so a sanitizer sees an overread.
        const size_t n = bytes_.size(), step = std::max<size_t>(1, n / 256);
        for (size_t len = 0; len < n; len += step) {
            std::unique_ptr<uint8_t[]> part(new uint8_t[std::max<size_t>(len, 1)]);
            if (len) std::memcpy(part.get(), bytes_.data(), len);
            PluginPtr d(c_.deserializePlugin(kLayer, part.get(), len));
            GIE_CHECK(!d, ErrorCode::kINVALID_ARGUMENT, "deserializePlugin accepted the first ", len, " of the ", n,
                      " serialized bytes (it must check the length before every read)");
        }
        pass("truncated bytes refused");
    }

    void checkShapes() {
        std::vector<std::vector<Dims>> candidates;
        if (!shapes_.empty()) {
            std::vector<Dims> v;
            for (const auto& s : shapes_) v.push_back(makeDims(static_cast<int32_t>(s.size()), s.data()));
            candidates.push_back(v);
        } else {
            for (int k = 1; k <= 4; ++k) candidates.push_back(std::vector<Dims>(static_cast<size_t>(k), dims4(2, 4, 6, 5)));
        }
        const int32_t nOut = plugin_->getNbOutputs();
        std::string tried;
        for (const auto& ins : candidates) {
            std::vector<Dims> outs(static_cast<size_t>(nOut));
            clearLastError();
            if (plugin_->getOutputDimensions(ins.data(), static_cast<int32_t>(ins.size()), outs.data()) != 0) {
                tried += strcat(tried.empty() ? "" : "; ", ins.size(), " input(s) of shape ", shapeText(ins[0]), ": ", lastError());
                continue;
            }
            for (int32_t o = 0; o < nOut; ++o) {
                const Dims& d = outs[static_cast<size_t>(o)];
                GIE_CHECK(d.nbDims >= 0 && d.nbDims <= Dims::MAX_DIMS, ErrorCode::kINVALID_ARGUMENT, "output ", o, " has ", d.nbDims, " dimensions");
                for (int i = 0; i < d.nbDims; ++i)
                    GIE_CHECK(d.d[i] >= 0, ErrorCode::kINVALID_ARGUMENT, "output ", o, " has shape ", shapeText(d));
            }
            std::vector<Dims> again(static_cast<size_t>(nOut));
            PluginPtr d = fresh();
            GIE_CHECK(d->getOutputDimensions(ins.data(), static_cast<int32_t>(ins.size()), again.data()) == 0, ErrorCode::kINVALID_ARGUMENT,
                      "the deserialized plugin rejects the inputs its original accepts: ", lastError());
            for (int32_t o = 0; o < nOut; ++o)
                GIE_CHECK(shapeText(again[static_cast<size_t>(o)]) == shapeText(outs[static_cast<size_t>(o)]), ErrorCode::kINVALID_ARGUMENT,
                          "output ", o, " is ", shapeText(outs[static_cast<size_t>(o)]), " from the original but ",
                          shapeText(again[static_cast<size_t>(o)]), " from the deserialized plugin");
            std::vector<DataType> inT(ins.size(), DataType::kFLOAT), outT(static_cast<size_t>(nOut));
            GIE_CHECK(plugin_->getOutputDataTypes(inT.data(), static_cast<int32_t>(inT.size()), outT.data()) == 0, ErrorCode::kINVALID_ARGUMENT,
                      "getOutputDataTypes rejects float32 inputs: ", lastError());
            inDims_ = ins;
            outDims_ = outs;
            std::string detail;
            for (const auto& i : ins) detail += (detail.empty() ? "" : ", ") + shapeText(i);
            detail += " ->";
            for (int32_t o = 0; o < nOut; ++o) detail += strcat(o ? ", " : " ", shapeText(outs[static_cast<size_t>(o)]), " ", dataTypeName(outT[static_cast<size_t>(o)]));
            return pass("output shapes and types", detail);
        }
        fail(ErrorCode::kINVALID_ARGUMENT, "getOutputDimensions rejected every sample input (", tried,
             shapes_.empty() ? "); give the inputs with --shape" : ")");
    }

    void checkFormats() {
        const size_t nIn = inDims_.size(), nOut = outDims_.size(), n = nIn + nOut;
        const DataType types[] = {DataType::kFLOAT, DataType::kHALF, DataType::kINT8, DataType::kINT32, DataType::kBOOL};
        const TensorFormat formats[] = {TensorFormat::kLINEAR, TensorFormat::kNHWC, TensorFormat::kHWC8};
        auto dimsAt = [&](size_t p) { return p < nIn ? inDims_[p] : outDims_[p - nIn]; };
        std::vector<TensorDesc> all(n);
        for (size_t p = 0; p < n; ++p) all[p] = makeDesc(dimsAt(p), DataType::kBOOL, TensorFormat::kCHW32);  // not yet chosen
        std::vector<std::vector<TensorDesc>> accepted;
        std::string problem;
        size_t asked = 0;
        std::function<void(size_t)> dfs = [&](size_t p) {
            if (!problem.empty() || accepted.size() >= 64 || asked > 20000) return;
            if (p == n) return accepted.push_back(all);
            for (DataType t : types)
                for (TensorFormat f : formats) {
                    if (!formatFitsRank(f, dimsAt(p).nbDims)) continue;
                    all[p] = makeDesc(dimsAt(p), t, f);
                    ++asked;
                    const bool ok = plugin_->supportsFormatCombination(static_cast<int32_t>(p), all.data(), static_cast<int32_t>(nIn), static_cast<int32_t>(nOut));
                    // The answer may depend on positions before p only: ask again with the later ones changed.
                    std::vector<TensorDesc> other = all;
                    for (size_t q = p + 1; q < n; ++q) other[q] = makeDesc(dimsAt(q), DataType::kFLOAT, TensorFormat::kLINEAR);
                    const bool again = plugin_->supportsFormatCombination(static_cast<int32_t>(p), other.data(), static_cast<int32_t>(nIn), static_cast<int32_t>(nOut));
                    if (ok != again && problem.empty())
                        problem = strcat("supportsFormatCombination(", p, ") answers ", ok, " then ", again, " for ", dataTypeName(t), " ",
                                         formatName(f), " when only later positions changed (it may look at positions before pos only)");
                    if (ok) dfs(p + 1);
                    all[p] = makeDesc(dimsAt(p), DataType::kBOOL, TensorFormat::kCHW32);
                }
        };
        dfs(0);
        GIE_CHECK(problem.empty(), ErrorCode::kINVALID_ARGUMENT, problem);
        GIE_CHECK(!accepted.empty(), ErrorCode::kINVALID_ARGUMENT, "supportsFormatCombination accepts no combination of float32/float16/int8/int32/bool "
                  "in LINEAR/NHWC/HWC8 for these shapes");
        // The output types of each accepted combination follow getOutputDataTypes for its input types (FLOAT and
        // HALF are one class: the builder picks either, as the engine loader allows).
        for (const auto& combo : accepted) {
            std::vector<DataType> inT, outT(nOut);
            for (size_t i = 0; i < nIn; ++i) inT.push_back(combo[i].type);
            clearLastError();
            GIE_CHECK(plugin_->getOutputDataTypes(inT.data(), static_cast<int32_t>(nIn), outT.data()) == 0, ErrorCode::kINVALID_ARGUMENT,
                      "getOutputDataTypes rejects the input types of accepted combination {", comboText(combo, nIn), "}: ", lastError());
            for (size_t o = 0; o < nOut; ++o) {
                const DataType got = combo[nIn + o].type;
                GIE_CHECK(got == outT[o] || (floatClass(got) && floatClass(outT[o])), ErrorCode::kINVALID_ARGUMENT,
                          "supportsFormatCombination accepts {", comboText(combo, nIn), "} but getOutputDataTypes makes output ", o, " ",
                          dataTypeName(outT[o]));
            }
        }
        combos_ = accepted;
        if (combos_.size() > kMaxCombos) combos_.resize(kMaxCombos);
        std::string detail = strcat(accepted.size(), accepted.size() >= 64 ? "+" : "", " accepted: {", comboText(accepted[0], nIn), "}");
        if (accepted.size() > 1) detail += ", ...";
        pass("format combinations", detail);
    }

    //! A deserialized kernel configured for combo (at the sample shapes), tactic t set, initialized.
    PluginPtr kernelFor(const std::vector<TensorDesc>& combo, int32_t tactic) {
        PluginPtr k = fresh();
        const size_t nIn = inDims_.size();
        std::vector<TensorDesc> in(combo.begin(), combo.begin() + static_cast<std::ptrdiff_t>(nIn)), out(combo.begin() + static_cast<std::ptrdiff_t>(nIn), combo.end());
        clearLastError();
        GIE_CHECK(configureKernelRange(*k, in, out) == 0, ErrorCode::kINVALID_ARGUMENT,
                  "configure rejected accepted combination {", comboText(combo, nIn), "}: ", lastError());
        GIE_CHECK(k->setTactic(tactic) == 0, ErrorCode::kINVALID_ARGUMENT, "setTactic(", tactic, ") failed after configure: ", lastError());
        GIE_CHECK(k->initialize() == 0, ErrorCode::kINVALID_ARGUMENT, "initialize failed: ", lastError());
        return k;
    }

    struct Initialized {
        PluginPtr k;
        ~Initialized() {
            if (k) k->terminate();
        }
    };

    //! Per combination: poisoned outputs written everywhere, and a second run identical (also against `poison`).
    void checkRuns() {
        const size_t nIn = inDims_.size();
        std::string notWritten, differ;
        for (const auto& combo : combos_) {
            Initialized k{kernelFor(combo, 0)};
            std::vector<TensorDesc> in(combo.begin(), combo.begin() + static_cast<std::ptrdiff_t>(nIn)), out(combo.begin() + static_cast<std::ptrdiff_t>(nIn), combo.end());
            Runner r(*k.k, *backend_, in, out);
            std::mt19937 rng(11);
            std::vector<std::vector<uint8_t>> host;
            for (const auto& d : in) host.push_back(randomTensor(d, rng));
            r.setInputs(host);
            std::vector<std::vector<uint8_t>> a, b, a2;
            std::string why;
            GIE_CHECK(r.run(0xAB, a, why) && r.run(0x5C, b, why) && r.run(0xAB, a2, why), ErrorCode::kINVALID_ARGUMENT,
                      "{", comboText(combo, nIn), "}: ", why);
            for (size_t o = 0; o < out.size(); ++o) {
                int64_t count = 0;
                const int64_t i = poisonKept(a[o], b[o], out[o].type, &count);
                if (i >= 0 && notWritten.empty())
                    notWritten = strcat("output ", o, ": ", count, " of ", formatVolume(out[o].dims, out[o].format), " elements keep the poison "
                                        "they were filled with (first: element ", i, ") in {", comboText(combo, nIn), "}");
                const int64_t j = firstDifference(a[o], a2[o], out[o].type, false);
                if (j >= 0 && differ.empty())
                    differ = strcat("output ", o, " element ", j, " is ", elementText(a[o], j, out[o].type), " then ", elementText(a2[o], j, out[o].type),
                                    " for the same inputs in {", comboText(combo, nIn), "}");
            }
            if (refs_.empty()) {  // the first combination is the reference for threads and tactics
                refs_ = a;
                refInputs_ = host;
                refCombo_ = combo;
            }
        }
        if (notWritten.empty()) pass("writes every output element", strcat(combos_.size(), " combination(s)"));
        else failed("writes every output element", notWritten);
        if (differ.empty()) pass("two runs agree");
        else failed("two runs agree", differ);
    }

    //! Shapes come with every call: the kernel configured for the sample batch, run at batch 1 in the same buffers,
    //! must give the first batch item of the full run and write nothing past the batch-1 outputs (in an engine that
    //! memory belongs to other tensors).
    void checkSmallerBatch() {
        const char* kName = "smaller batch";
        const int64_t batch = inDims_[0].nbDims >= 1 ? inDims_[0].d[0] : 0;
        bool batched = batch >= 2;
        for (const auto* v : {&inDims_, &outDims_})
            for (const Dims& d : *v) batched = batched && d.nbDims >= 1 && d.d[0] == batch;
        if (!batched) return skip(kName, "dimension 0 is not a batch of 2 or more shared by every input and output");
        const size_t nIn = inDims_.size();
        std::vector<Dims> in1 = inDims_, out1(outDims_.size());
        for (Dims& d : in1) d.d[0] = 1;
        clearLastError();
        GIE_CHECK(plugin_->getOutputDimensions(in1.data(), static_cast<int32_t>(in1.size()), out1.data()) == 0, ErrorCode::kINVALID_ARGUMENT,
                  "getOutputDimensions rejects batch 1: ", lastError());
        for (size_t o = 0; o < out1.size(); ++o) {
            Dims want = outDims_[o];
            want.d[0] = 1;
            if (shapeText(out1[o]) != shapeText(want))
                return skip(kName, strcat("output ", o, " at batch 1 is ", shapeText(out1[o]), ", not the sample's with batch 1"));
        }
        std::vector<TensorDesc> in(refCombo_.begin(), refCombo_.begin() + static_cast<std::ptrdiff_t>(nIn)),
            out(refCombo_.begin() + static_cast<std::ptrdiff_t>(nIn), refCombo_.end()), callIn = in, callOut = out;
        for (size_t i = 0; i < nIn; ++i) callIn[i] = makeDesc(in1[i], in[i].type, in[i].format);
        for (size_t o = 0; o < out.size(); ++o) callOut[o] = makeDesc(out1[o], out[o].type, out[o].format);
        Initialized k{kernelFor(refCombo_, 0)};
        Runner r(*k.k, *backend_, in, out, &callIn, &callOut);
        r.setInputs(refInputs_);
        std::vector<std::vector<uint8_t>> got;
        std::string why;
        GIE_CHECK(r.run(0xAB, got, why), ErrorCode::kINVALID_ARGUMENT, "at batch 1: ", why);
        for (size_t o = 0; o < got.size(); ++o) {
            const size_t n = storedBytes(callOut[o]);
            std::vector<uint8_t> first(got[o].begin(), got[o].begin() + static_cast<std::ptrdiff_t>(n)),
                want(refs_[o].begin(), refs_[o].begin() + static_cast<std::ptrdiff_t>(n));
            const int64_t i = firstDifference(first, want, out[o].type, false);
            GIE_CHECK(i < 0, ErrorCode::kINVALID_ARGUMENT, "at batch 1, output ", o, " element ", i, " is ", elementText(first, i, out[o].type),
                      ", the first item of batch ", batch, " has ", elementText(want, i, out[o].type),
                      " (enqueue must take the shapes from its descriptors, not from configure)");
            for (size_t b = n; b < got[o].size(); ++b)
                GIE_CHECK(got[o][b] == 0xAB, ErrorCode::kINVALID_ARGUMENT, "at batch 1, enqueue wrote output ", o, " past its ", n,
                          " bytes (byte ", b, "): it must take the shapes from its descriptors, not from configure");
        }
        pass(kName, strcat("batch 1 after configure at batch ", batch));
    }

    //! threads_ threads share one kernel instance (as the contexts of one engine do), each with its own inputs,
    //! outputs, workspace and stream, several runs each; every result must equal that thread's serial result.
    void checkThreads() {
        const size_t nIn = inDims_.size();
        std::vector<TensorDesc> in(refCombo_.begin(), refCombo_.begin() + static_cast<std::ptrdiff_t>(nIn)),
            out(refCombo_.begin() + static_cast<std::ptrdiff_t>(nIn), refCombo_.end());
        Initialized k{kernelFor(refCombo_, 0)};
        std::vector<std::unique_ptr<Runner>> runners;
        std::vector<std::vector<std::vector<uint8_t>>> expected(static_cast<size_t>(threads_));
        for (int32_t t = 0; t < threads_; ++t) {
            runners.emplace_back(new Runner(*k.k, *backend_, in, out));
            std::mt19937 rng(100 + static_cast<unsigned>(t));
            std::vector<std::vector<uint8_t>> host;
            for (const auto& d : in) host.push_back(randomTensor(d, rng));
            runners.back()->setInputs(host);
            std::string why;
            GIE_CHECK(runners.back()->run(0xAB, expected[static_cast<size_t>(t)], why), ErrorCode::kINVALID_ARGUMENT, why);
        }
        std::vector<std::string> problems(static_cast<size_t>(threads_));
        std::atomic<int> ready{0};
        std::vector<std::thread> pool;
        for (int32_t t = 0; t < threads_; ++t)
            pool.emplace_back([&, t] {
                try {
                    ready.fetch_add(1);
                    while (ready.load() < threads_) std::this_thread::yield();  // start together
                    for (int it = 0; it < 20 && problems[static_cast<size_t>(t)].empty(); ++it) {
                        std::vector<std::vector<uint8_t>> got;
                        std::string why;
                        if (!runners[static_cast<size_t>(t)]->run(0xAB, got, why)) {
                            problems[static_cast<size_t>(t)] = why;
                            break;
                        }
                        for (size_t o = 0; o < got.size(); ++o) {
                            const int64_t i = firstDifference(got[o], expected[static_cast<size_t>(t)][o], out[o].type, false);
                            if (i >= 0) {
                                problems[static_cast<size_t>(t)] =
                                    strcat("thread ", t, ", run ", it, ": output ", o, " element ", i, " is ", elementText(got[o], i, out[o].type),
                                           ", alone it was ", elementText(expected[static_cast<size_t>(t)][o], i, out[o].type),
                                           " (enqueue must not modify the plugin or share scratch memory between calls)");
                                break;
                            }
                        }
                    }
                } catch (const std::exception& e) {
                    problems[static_cast<size_t>(t)] = e.what();
                }
            });
        for (auto& th : pool) th.join();
        for (const auto& p : problems) GIE_CHECK(p.empty(), ErrorCode::kINVALID_ARGUMENT, p);
        pass("threads agree", strcat(threads_, " threads sharing one instance, 20 runs each"));
    }

    void checkTactics() {
        const int32_t n = plugin_->getNbTactics();
        if (n <= 1) return skip("tactics agree with tactic 0", "one tactic");
        const size_t nIn = inDims_.size();
        std::vector<TensorDesc> in(refCombo_.begin(), refCombo_.begin() + static_cast<std::ptrdiff_t>(nIn)),
            out(refCombo_.begin() + static_cast<std::ptrdiff_t>(nIn), refCombo_.end());
        for (int32_t t = 1; t < n; ++t) {
            const std::string name = plugin_->getTacticName(t) ? plugin_->getTacticName(t) : "?";
            Initialized k{kernelFor(refCombo_, t)};
            Runner r(*k.k, *backend_, in, out);
            r.setInputs(refInputs_);
            std::vector<std::vector<uint8_t>> got;
            std::string why;
            GIE_CHECK(r.run(0xAB, got, why), ErrorCode::kINVALID_ARGUMENT, "tactic ", t, " ('", name, "'): ", why);
            for (size_t o = 0; o < got.size(); ++o) {
                const int64_t i = firstDifference(got[o], refs_[o], out[o].type, true);
                GIE_CHECK(i < 0, ErrorCode::kINVALID_ARGUMENT, "tactic ", t, " ('", name, "') output ", o, " element ", i, " is ",
                          elementText(got[o], i, out[o].type), ", tactic 0 gives ", elementText(refs_[o], i, out[o].type));
            }
        }
        pass("tactics agree with tactic 0", strcat(n, " tactics"));
    }

    IPluginCreator& c_;
    std::vector<std::vector<int64_t>> shapes_;
    int32_t threads_;
    const PluginFieldCollection* given_;
    std::vector<Result> results_;
    PluginPtr plugin_;
    std::vector<uint8_t> bytes_;
    std::vector<Dims> inDims_, outDims_;
    std::vector<std::vector<TensorDesc>> combos_;
    Backend* backend_ = nullptr;
    std::vector<std::vector<uint8_t>> refs_, refInputs_;
    std::vector<TensorDesc> refCombo_;
};

}  // namespace

std::string checkPluginCreator(IPluginCreator& creator, const std::vector<std::vector<int64_t>>& inputShapes, int32_t threads,
                               const PluginFieldCollection* fields) {
    return Checker(creator, inputShapes, threads, fields).run();
}

}  // namespace gie
