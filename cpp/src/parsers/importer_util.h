// Helpers shared by the Caffe and Darknet importers: the error list behind IParserError, layer fields
// with their storage, the seeded random weights, file reading and Python-style shape text (the messages
// match those of the former Python importers, which tests and users match on).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "gie/network.h"
#include "gie/onnx_parser.h"

namespace gie {
namespace importer {

//! One error record. `reason` is the message without its "layer 'x' (T): " / section prefix.
class ParserErrorRecord final : public IParserError {
public:
    ParserErrorRecord(ErrorCode code, std::string desc, std::string node, std::string type, int32_t index)
        : code_(code), desc_(std::move(desc)), node_(std::move(node)), type_(std::move(type)), index_(index) {
        reason_ = desc_;
        for (const std::string& prefix : {"layer '" + node_ + "' (" + type_ + "): ", "layer '" + node_ + "': "})
            if (!node_.empty() && desc_.compare(0, prefix.size(), prefix) == 0) reason_ = desc_.substr(prefix.size());
    }
    ErrorCode code() const noexcept override { return code_; }
    const char* desc() const noexcept override { return desc_.c_str(); }
    const char* nodeName() const noexcept override { return node_.c_str(); }
    const char* nodeOpType() const noexcept override { return type_.c_str(); }
    const char* reason() const noexcept override { return reason_.c_str(); }
    int32_t node() const noexcept override { return index_; }

private:
    ErrorCode code_;
    std::string desc_, node_, type_, reason_;
    int32_t index_;
};

//! The records of one parse. `fail` records the summary as the thread's last error as well.
class ErrorList {
public:
    void clear() { errors_.clear(); }
    void add(ErrorCode code, std::string desc, std::string node = "", std::string type = "", int32_t index = -1) {
        errors_.push_back(std::make_unique<ParserErrorRecord>(code, std::move(desc), std::move(node), std::move(type), index));
    }
    int32_t size() const { return static_cast<int32_t>(errors_.size()); }
    const IParserError* at(int32_t i) const {
        return i >= 0 && i < size() ? errors_[static_cast<size_t>(i)].get() : nullptr;
    }
    //! Records `summary` (code, message) as the last error of the calling thread.
    static void setLast(ErrorCode code, const std::string& summary) { setLastError(code, summary); }

private:
    std::vector<std::unique_ptr<ParserErrorRecord>> errors_;
};

//! Runs fn() (which returns normally on success); a gie::Error or any other exception becomes one error
//! record + the thread's last error. Returns success. Nothing is logged: the caller reads the records.
template <typename F>
bool guardParse(ErrorList& errors, F&& fn) noexcept {
    errors.clear();
    clearLastError();
    try {
        fn();
        return true;
    } catch (const Error& e) {
        if (errors.size() == 0) errors.add(e.code(), e.what());
        ErrorList::setLast(e.code(), e.what());
    } catch (const std::bad_alloc&) {
        errors.add(ErrorCode::kOUT_OF_MEMORY, "out of memory while importing the model");
        ErrorList::setLast(ErrorCode::kOUT_OF_MEMORY, "out of memory while importing the model");
    } catch (const std::exception& e) {
        std::string msg = std::string("internal error while importing the model: ") + e.what();
        errors.add(ErrorCode::kINTERNAL, msg);
        ErrorList::setLast(ErrorCode::kINTERNAL, msg);
    } catch (...) {
        errors.add(ErrorCode::kINTERNAL, "internal error while importing the model");
        ErrorList::setLast(ErrorCode::kINTERNAL, "internal error while importing the model");
    }
    return false;
}

//! Named layer fields and the storage they point into (kept until the layer is added: gie copies them).
class Fields {
public:
    Fields& ints(const char* name, std::vector<int64_t> v);
    Fields& i(const char* name, int64_t v) { return ints(name, {v}); }
    Fields& floats(const char* name, std::vector<float> v);
    Fields& f(const char* name, float v) { return floats(name, {v}); }
    Fields& str(const char* name, std::string v);
    //! A view: `data` must outlive the add call.
    Fields& weights(const char* name, const float* data, int64_t count);
    //! Any field (copied): used for plugin fields.
    Fields& raw(const std::string& name, PluginFieldType type, const void* data, int64_t count, size_t elemSize);
    //! Drops an earlier field of that name (plugin fields given twice: the later wins).
    bool has(const std::string& name) const;
    PluginFieldCollection collection() const {
        PluginFieldCollection c;
        c.nbFields = static_cast<int32_t>(list_.size());
        c.fields = list_.data();
        return c;
    }

private:
    void erase(const std::string& name);
    std::deque<std::string> names_;
    std::deque<std::vector<int64_t>> ints_;
    std::deque<std::vector<float>> floats_;
    std::deque<std::string> strs_;
    std::deque<std::vector<unsigned char>> raws_;
    std::vector<PluginField> list_;
};

//! Adds a layer through the network API; on failure throws the network's recorded error.
ILayer* addLayer(INetworkDefinition& net, const char* type, const std::vector<ITensor*>& inputs,
                 const Fields& fields);

//! A registered plugin creator named `type` (any version and device), or nullptr: how the importers find out
//! whether a node type they do not implement themselves (or, for Darknet's [region], one a plugin may take
//! over) can be imported as a plugin layer.
IPluginCreator* registeredCreator(const std::string& type);

//! Deterministic random numbers (splitmix64 + Marsaglia's polar method), the same on every platform and standard library.
class Rng {
public:
    explicit Rng(uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
    uint64_t next();
    double uniform();                                         // [0, 1)
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    double normal();                                          // standard normal
    double normal(double mean, double std) { return mean + std * normal(); }

private:
    uint64_t s_;
    bool haveSpare_ = false;
    double spare_ = 0;
};

//! The whole file, or kINVALID_ARGUMENT "<what> file '<path>': <strerror>" (also for a directory).
std::string readFile(const char* path, const std::string& what);

//! "(2, 3, 4)" / "(5,)" / "()", as Python prints a tuple.
std::string tupleText(const std::vector<int64_t>& v);
//! "[1, 2]", as Python prints a list of ints.
std::string listText(const std::vector<int64_t>& v);
std::vector<int64_t> dimsOf(const ITensor& t);
//! Marks network input t as having a symbolic batch at dimension 0 that the importer declared at its parse-time batch:
//! an optimization profile may then give dimension 0 any range (TensorImpl::symbolicBatch_).
void markSymbolicBatch(ITensor& t);
//! A float as Python's repr prints it (shortest round trip: 0.1, 1.0, 1e-06, inf, nan).
std::string floatText(double v);

//! Checks that `data` is valid UTF-8; returns "" or a description of the first bad byte.
std::string utf8Problem(const std::string& data);

}  // namespace importer
}  // namespace gie
