// The ONNX importer's driver: reads the model, checks names and structure, reads initializers (external
// data confined to the model's directory), adds the inputs, converts every node in topological order
// (folding what is known, listing every node that cannot be imported at once) and marks the outputs.
#include "gie/onnx_parser.h"

#include <fstream>
#include <memory>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cctype>
#include <unordered_map>

#include <climits>
#include <cstdlib>

#include "network/network.h"
#include "parsers/importer_util.h"
#include "parsers/onnx/onnx_importer.h"

namespace gie {
namespace onnx {
namespace {

class ParserError final : public IParserError {
public:
    ParserError(ErrorCode code, std::string desc, std::string name, std::string op, std::string reason, int32_t node)
        : code_(code), desc_(std::move(desc)), name_(std::move(name)), op_(std::move(op)), reason_(std::move(reason)),
          node_(node) {}
    ErrorCode code() const noexcept override { return code_; }
    const char* desc() const noexcept override { return desc_.c_str(); }
    const char* nodeName() const noexcept override { return name_.c_str(); }
    const char* nodeOpType() const noexcept override { return op_.c_str(); }
    const char* reason() const noexcept override { return reason_.c_str(); }
    int32_t node() const noexcept override { return node_; }

private:
    ErrorCode code_;
    std::string desc_, name_, op_, reason_;
    int32_t node_;
};

//! Python's repr() of a str (for a location holding a NUL character).
std::string strRepr(const std::string& s) {
    std::string r = "'";
    for (unsigned char c : s) {
        if (c == 0) r += "\\x00";
        else if (c == '\'') r += "\\'";
        else if (c == '\\') r += "\\\\";
        else r += static_cast<char>(c);
    }
    return r + "'";
}

bool isFile(const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string realPath(const std::string& p) {
    // realpath() of a path that does not exist fails: resolve what exists, as os.path.realpath does,
    // by resolving the parent and appending the last component.
    char buf[PATH_MAX];
    if (::realpath(p.c_str(), buf)) return buf;
    const size_t slash = p.find_last_of('/');
    if (slash == std::string::npos || slash == 0) return p;
    return realPath(p.substr(0, slash)) + p.substr(slash);
}

std::string dirName(const std::string& path) {
    std::string abs = path;
    if (abs.empty() || abs[0] != '/') {
        char cwd[PATH_MAX];
        if (::getcwd(cwd, sizeof cwd)) abs = std::string(cwd) + "/" + path;
    }
    const size_t slash = abs.find_last_of('/');
    return slash == std::string::npos ? std::string(".") : slash == 0 ? std::string("/") : abs.substr(0, slash);
}

bool parseInt(const std::string& s, int64_t* out) {
    // int() of Python: optional sign, digits, surrounding whitespace
    size_t b = s.find_first_not_of(" \t\n"), e = s.find_last_not_of(" \t\n");
    if (b == std::string::npos) return false;
    std::string t = s.substr(b, e - b + 1);
    size_t k = (t[0] == '-' || t[0] == '+') ? 1 : 0;
    if (k == t.size()) return false;
    for (size_t j = k; j < t.size(); ++j)
        if (t[j] < '0' || t[j] > '9') return false;
    errno = 0;
    const long long v = std::strtoll(t.c_str(), nullptr, 10);
    if (errno == ERANGE) return false;
    *out = v;
    return true;
}

//! "node 'name' (OpType)" (the op type stands for a missing name), as errors name a node.
std::string nodeRef(const NodeProto& n) { return strcat("node '", n.name.empty() ? n.opType : n.name, "' (", n.opType, ")"); }

struct SchemaInputs {
    const char* op;
    int64_t since;
    const char* inputs;  // "name:S,name:O,..." (S single, O optional, V variadic)
};
const SchemaInputs kSCHEMA_INPUTS[] = {
#include "parsers/onnx/onnx_schema_inputs.inc"
};

//! An empty input name means "absent": allowed only where the op's schema marks the input optional (the ONNX
//! checker refuses it for single inputs, but not inside a variadic list such as Concat's).
void checkRequiredInputs(const GraphProto& g, int64_t opset) {
    for (const auto& n : g.node) {
        if (!(n.domain.empty() || n.domain == "ai.onnx")) continue;
        bool allNamed = true;
        for (const auto& i : n.input) allNamed = allNamed && !i.empty();
        if (allNamed) continue;
        const SchemaInputs* schema = nullptr;
        for (const auto& e : kSCHEMA_INPUTS)
            if (n.opType == e.op && e.since <= opset) schema = &e;
        if (!schema) continue;  // no schema (unknown op): reported as unsupported later
        std::vector<std::pair<std::string, char>> formal;
        std::stringstream ss(schema->inputs);
        std::string item;
        while (std::getline(ss, item, ','))
            if (item.size() >= 2) formal.emplace_back(item.substr(0, item.size() - 2), item.back());
        if (formal.empty()) continue;
        for (size_t k = 0; k < n.input.size(); ++k) {
            if (!n.input[k].empty()) continue;
            const auto& f = formal[std::min(k, formal.size() - 1)];
            if (k >= formal.size() && f.second != 'V') continue;  // more inputs than the schema has
            if (f.second != 'O')
                fail(ErrorCode::kINVALID_MODEL, nodeRef(n), ": input ", k,
                     " ('", f.first, "') is required, but its name is empty (an empty name means a missing input, "
                     "allowed only for optional inputs)");
        }
    }
}

class OnnxParser final : public IOnnxParser {
public:
    OnnxParser(INetworkDefinition& net, ILogger& logger) : net_(net), logger_(logger) {}

    bool parseFromFile(const char* path) noexcept override {
        return guard([&] {
            GIE_CHECK(path != nullptr, ErrorCode::kINVALID_ARGUMENT, "parseFromFile: path is null");
            std::ifstream f(path, std::ios::binary);
            struct stat st;
            if (!f || ::stat(path, &st) != 0)
                fail(ErrorCode::kINVALID_MODEL, "cannot read ONNX model '", path, "': [Errno 2] No such file or directory");
            if (S_ISDIR(st.st_mode))
                fail(ErrorCode::kINVALID_MODEL, "cannot read ONNX model '", path, "': [Errno 21] Is a directory");
            std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
            ModelProto m;
            try {
                m = readModel(data.data(), data.size());
            } catch (const Error& e) {
                fail(ErrorCode::kINVALID_MODEL, "cannot read ONNX model '", path, "': ", e.what());
            }
            run(m, dirName(path), true);
        });
    }

    bool parse(const void* data, size_t size, const char* baseDir) noexcept override {
        return guard([&] {
            GIE_CHECK(data != nullptr || size == 0, ErrorCode::kINVALID_ARGUMENT, "parse: data is null");
            ModelProto m = readModel(data, size);
            run(m, baseDir ? std::string(baseDir) : std::string(), baseDir != nullptr);
        });
    }

    int32_t getNbErrors() const noexcept override { return static_cast<int32_t>(errors_.size()); }
    const IParserError* getError(int32_t i) const noexcept override {
        return i >= 0 && i < getNbErrors() ? errors_[size_t(i)].get() : nullptr;
    }
    void clearErrors() noexcept override { errors_.clear(); }

    bool setInputShape(const char* name, const Dims& dims) noexcept override {
        if (!name || dims.nbDims < 0 || dims.nbDims > Dims::MAX_DIMS) {
            setLastError(ErrorCode::kINVALID_ARGUMENT, "setInputShape: a name and 0..8 dimensions are required");
            return false;
        }
        opts_.inputShapes[name] = std::vector<int64_t>(dims.d, dims.d + dims.nbDims);
        return true;
    }
    bool setBatch(int64_t batch) noexcept override {
        if (batch < 1) {
            setLastError(ErrorCode::kINVALID_ARGUMENT, strcat("setBatch: batch must be >= 1, got ", batch));
            return false;
        }
        opts_.batch = batch;
        return true;
    }
    void setPluginFallback(bool enabled) noexcept override { opts_.pluginFallback = enabled; }

    bool supportsOperator(const char* opType) const noexcept override {
        if (!opType) return false;
        try {
            const std::string op(opType);
            if (converters().count(op) || foldOnlyOps().count(op) || isSpecialFold(op)) return true;
            if (!opts_.pluginFallback) return false;
            int32_t nc = 0;
            IPluginCreator* const* cs = getPluginRegistry()->getAllCreators(&nc);
            for (int32_t k = 0; k < nc; ++k)
                if (op == cs[k]->getPluginName()) return true;
        } catch (...) {
        }
        return false;
    }

private:
    template <typename F>
    bool guard(F&& fn) noexcept {
        clearLastError();
        try {
            if (used_) fail(ErrorCode::kINVALID_ARGUMENT, "this ONNX parser has already parsed a model; create another");
            used_ = true;
            fn();
            return true;
        } catch (const Error& e) {
            if (errors_.empty()) errors_.push_back(std::make_unique<ParserError>(e.code(), e.what(), "", "", e.what(), -1));
            setLastError(e.code(), e.what());
            logMessage(&logger_, ILogger::Severity::kERROR, e.what());
        } catch (const std::bad_alloc&) {
            const char* m = "ONNX importer: out of memory";
            errors_.push_back(std::make_unique<ParserError>(ErrorCode::kOUT_OF_MEMORY, m, "", "", m, -1));
            setLastError(ErrorCode::kOUT_OF_MEMORY, m);
        } catch (const std::exception& e) {
            const std::string m = strcat("ONNX importer: internal error: ", e.what());
            errors_.push_back(std::make_unique<ParserError>(ErrorCode::kINTERNAL, m, "", "", m, -1));
            setLastError(ErrorCode::kINTERNAL, m);
        }
        return false;
    }

    void run(ModelProto& m, const std::string& baseDir, bool hasBaseDir);
    void import(const GraphProto& g, const std::string& baseDir, bool hasBaseDir);
    void checkStrings(const GraphProto& g);
    void checkStructure(const GraphProto& g);
    Value readInitializer(const TensorProto& t, const std::string& baseDir, bool hasBaseDir);
    void convert(const GraphProto& g);
    void convertNode(const NodeProto& n, const std::set<std::string>& plugins);
    std::string describe(const NodeProto& n, const std::string& why) const {
        return strcat("'", n.name.empty() ? "(unnamed)" : n.name, "' ", n.domain.empty() ? "" : n.domain + ".", n.opType,
                      " (opset ", imp_->opset, "): ", why);
    }

    INetworkDefinition& net_;
    ILogger& logger_;
    ImportOptions opts_;
    bool used_ = false;
    std::vector<std::unique_ptr<ParserError>> errors_;
    std::unique_ptr<Importer> imp_;
    std::vector<const NodeProto*> order_;
    //! Inputs whose only symbolic dimension is 0 (a lone symbolic batch), and whether this import declares them
    //! dynamic (-1) rather than at the parse-time batch (the batch path).
    std::vector<std::string> loneBatchInputs_;
    bool loneBatchDynamic_ = false;
    //! The first node the batch path refused (BatchPathRefused), "" if none.
    std::string batchRefusal_;
};

void OnnxParser::run(ModelProto& m, const std::string& baseDir, bool hasBaseDir) {
    int64_t opset = 1;
    for (const auto& o : m.opsetImport)
        if (o.domain.empty() || o.domain == "ai.onnx") opset = o.version;
    imp_ = std::make_unique<Importer>(net_, logger_, opts_);
    imp_->opset = opset;
    if (opset < 7)
        fail(ErrorCode::kUNSUPPORTED, "ONNX opset ", opset,
             " is not supported (the importer reads opset 7 and later; convert with onnx.version_converter)");
    const GraphProto& g = m.graph;
    checkStrings(g);
    checkStructure(g);
    // A lone symbolic batch first takes the batch path, and every model that imports on it keeps it. That path takes
    // dimension 0 of every tensor to be the batch; where a node shows otherwise (attention moves the batch away and
    // gathers, squeezes or slices dimension 0: BatchPathRefused), the network is rolled back and the model imported
    // again with those dimensions dynamic (-1), as when another dimension is symbolic. An invalid-model error on the
    // batch path gets the same second try (a shape folded as following the batch may be what made it invalid); if the
    // second import fails too, the batch path's error stands.
    auto* impl = dynamic_cast<NetworkImpl*>(&net_);
    const NetworkImpl::Mark mark = impl ? impl->mark() : NetworkImpl::Mark{};
    std::unique_ptr<Error> first;
    try {
        import(g, baseDir, hasBaseDir);
        return;
    } catch (const Error& e) {
        const bool refused = !batchRefusal_.empty() && (e.code() == ErrorCode::kUNSUPPORTED || e.code() == ErrorCode::kINVALID_MODEL);
        if (!impl || loneBatchInputs_.empty() || !(refused || e.code() == ErrorCode::kINVALID_MODEL)) throw;
        first = std::make_unique<Error>(e);
    }
    const bool refused = !batchRefusal_.empty();
    const std::string why = refused ? "refuses " + batchRefusal_ : strcat("failed: ", first->what());
    std::string names;
    for (const auto& nm : loneBatchInputs_) names += (names.empty() ? "'" : ", '") + nm + "'";
    logMessage(&logger_, ILogger::Severity::kINFO,
               strcat("ONNX importer: dimension 0 of input ", names, " (the only symbolic dimension) is imported as dynamic "
                      "(-1): the batch path, which takes it for the batch of every tensor, ", why));
    std::vector<std::unique_ptr<ParserError>> firstErrors = std::move(errors_);
    errors_.clear();
    impl->rollback(mark);
    loneBatchInputs_.clear();
    loneBatchDynamic_ = true;
    imp_ = std::make_unique<Importer>(net_, logger_, opts_);
    imp_->opset = opset;
    try {
        import(g, baseDir, hasBaseDir);
    } catch (const Error& e) {
        if (!refused) {
            errors_ = std::move(firstErrors);
            throw Error(*first);
        }
        throw Error(e.code(), strcat(e.what(), "\n(dimension 0 of input ", names, ", the only symbolic dimension, was imported ",
                                     "as dynamic (-1) because the batch path ", why, ")"));
    }
}

void OnnxParser::import(const GraphProto& g, const std::string& baseDir, bool hasBaseDir) {
    Importer& p = *imp_;
    p.batch = opts_.batch;
    for (const auto& init : g.initializer) p.consts[init.name] = readInitializer(init, baseDir, hasBaseDir);
    if (g.nbSparseInitializers)
        fail(ErrorCode::kUNSUPPORTED, "sparse initializer '", g.firstSparseInitializerName, "' is not supported");
    convert(g);
}

void OnnxParser::checkStrings(const GraphProto& g) {
    auto bad = [](const std::string& v, const std::string& what) {
        if (!isValidUtf8(v)) fail(ErrorCode::kINVALID_MODEL, what, " ", bytesRepr(v), " is not valid UTF-8");
    };
    for (size_t k = 0; k < g.node.size(); ++k) {
        const NodeProto& n = g.node[k];
        bad(n.name, strcat("the name of node #", k));
        const std::string where = strcat("node #", k, " '", n.name, "'");
        bad(n.opType, "the op_type of " + where);
        bad(n.domain, "the domain of " + where);
        for (const auto& i : n.input) bad(i, "an input/output name of " + where);
        for (const auto& o : n.output) bad(o, "an input/output name of " + where);
        for (const auto& a : n.attribute) {
            bad(a.name, "an attribute name of " + where);
            bad(a.s, strcat("string attribute '", a.name, "' of ", where));
            for (const auto& x : a.strings) bad(x, strcat("string attribute '", a.name, "' of ", where));
        }
    }
    for (const auto* list : {&g.input, &g.output, &g.valueInfo})
        for (const auto& vi : *list) bad(vi.name, "a graph input/output/value_info name");
    for (const auto& t : g.initializer) {
        bad(t.name, "an initializer name");
        for (const auto& e : t.externalData) {
            bad(e.first, strcat("an external_data key of initializer '", t.name, "'"));
            bad(e.second, strcat("an external_data value of initializer '", t.name, "'"));
        }
    }
}

void OnnxParser::checkStructure(const GraphProto& g) {
    // Single static assignment, as onnx.checker requires: every tensor has one definition (a graph input, an
    // initializer, or one node output; an input that is also an initializer is a defaulted input). A second
    // definition would otherwise silently replace the first.
    std::set<std::string> inputs, inits;
    for (const auto& i : g.input)
        if (!inputs.insert(i.name).second) fail(ErrorCode::kINVALID_MODEL, "graph input '", i.name, "' is declared twice");
    for (const auto& i : g.initializer)
        if (!inits.insert(i.name).second) fail(ErrorCode::kINVALID_MODEL, "initializer '", i.name, "' is defined twice");
    std::set<std::string> known{""};
    known.insert(inputs.begin(), inputs.end());
    known.insert(inits.begin(), inits.end());
    std::unordered_map<std::string, const NodeProto*> produced;
    for (const auto& n : g.node)
        for (const auto& o : n.output) {
            if (o.empty()) continue;
            if (known.count(o))
                fail(ErrorCode::kINVALID_MODEL, nodeRef(n), " writes '", o, "', which is already a graph ",
                     inputs.count(o) ? "input" : "initializer", " (every tensor has one definition)");
            auto ins = produced.emplace(o, &n);
            if (!ins.second)
                fail(ErrorCode::kINVALID_MODEL, nodeRef(n), " writes '", o, "', which ",
                     ins.first->second == &n ? std::string("it already writes") : nodeRef(*ins.first->second) + " already writes",
                     " (every tensor has one definition)");
        }
    for (const auto& n : g.node)
        for (const auto& i : n.input)
            if (!known.count(i) && !produced.count(i))
                fail(ErrorCode::kINVALID_MODEL, nodeRef(n), " reads '", i,
                     "', which no node, input or initializer defines");
    // Depth-first post-order from each node in graph order (iterative: graphs may be deep).
    std::unordered_map<const NodeProto*, int> state;
    order_.clear();
    for (const auto& start : g.node) {
        if (state[&start]) continue;
        std::vector<std::pair<const NodeProto*, size_t>> stack{{&start, 0}};
        state[&start] = 1;
        while (!stack.empty()) {
            auto& top = stack.back();
            const NodeProto* nxt = nullptr;
            while (top.second < top.first->input.size()) {
                const std::string& i = top.first->input[top.second++];
                auto pit = produced.find(i);
                if (pit == produced.end() || known.count(i)) continue;
                const int s = state[pit->second];
                if (s == 1) {
                    const NodeProto* q = pit->second;
                    fail(ErrorCode::kINVALID_MODEL, "the graph has a cycle through node '", q->name.empty() ? q->opType : q->name,
                         "' (", q->opType, ", output '", i, "')");
                }
                if (s == 0) {
                    nxt = pit->second;
                    break;
                }
            }
            if (!nxt) {
                state[top.first] = 2;
                order_.push_back(top.first);
                stack.pop_back();
            } else {
                state[nxt] = 1;
                stack.push_back({nxt, 0});
            }
        }
    }
    for (const auto& o : g.output)
        if (!known.count(o.name) && !produced.count(o.name))
            fail(ErrorCode::kINVALID_MODEL, "graph output '", o.name, "' is not produced by any node");
}

Value OnnxParser::readInitializer(const TensorProto& init, const std::string& baseDir, bool hasBaseDir) {
    const std::string what = strcat("initializer '", init.name, "'");
    if (init.dataLocation != 1) return decodeTensor(init, nullptr, what);
    std::map<std::string, std::string> info;
    for (const auto& e : init.externalData) info[e.first] = e.second;
    const std::string loc = info.count("location") ? info["location"] : "";
    if (!hasBaseDir)
        fail(ErrorCode::kINVALID_MODEL, "initializer '", init.name, "' uses external data '", loc,
             "', but the model has no directory (parse a file, or pass base_dir=)");
    const bool drive = loc.size() >= 2 && loc[1] == ':' && std::isalpha(static_cast<unsigned char>(loc[0]));
    if (loc.empty() || loc[0] == '/' || loc[0] == '\\' || drive)
        fail(ErrorCode::kINVALID_MODEL, "external data file '", loc, "' of initializer '", init.name,
             "' is refused: absolute paths are not allowed");
    if (loc.find('\0') != std::string::npos)
        fail(ErrorCode::kINVALID_MODEL, "external data file ", strRepr(loc), " of initializer '", init.name,
             "' is refused: the name holds a NUL character");
    {
        std::string norm = loc;
        for (auto& c : norm)
            if (c == '\\') c = '/';
        std::stringstream ss(norm);
        std::string part;
        while (std::getline(ss, part, '/'))
            if (part == "..")
                fail(ErrorCode::kINVALID_MODEL, "external data file '", loc, "' of initializer '", init.name,
                     "' is refused: '..' leaves the model's directory");
    }
    const std::string root = realPath(baseDir);
    const std::string full = realPath(root + "/" + loc);
    if (!(full.size() > root.size() && full.compare(0, root.size(), root) == 0 &&
          (root == "/" || full[root.size()] == '/')))
        fail(ErrorCode::kINVALID_MODEL, "external data file '", loc, "' of initializer '", init.name,
             "' is refused: it resolves outside the model's directory");
    if (!isFile(full))
        fail(ErrorCode::kINVALID_MODEL, "external data file '", loc, "' of initializer '", init.name, "' does not exist");
    int64_t offset = 0, length = -1;
    const std::string offS = info.count("offset") ? info["offset"] : "";
    const std::string lenS = info.count("length") ? info["length"] : "";
    if ((!offS.empty() && !parseInt(offS, &offset)) || (!lenS.empty() && !parseInt(lenS, &length)) ||
        (!lenS.empty() && length < 0 && lenS.find('-') == std::string::npos))
        fail(ErrorCode::kINVALID_MODEL, "external data of initializer '", init.name, "' has a malformed offset/length ('",
             offS, "', '", lenS, "')");
    const bool hasLength = !lenS.empty();
    struct stat st;
    ::stat(full.c_str(), &st);
    const int64_t size = st.st_size;
    if (offset < 0 || offset > size || (hasLength && (length < 0 || length > size - offset)))
        fail(ErrorCode::kINVALID_MODEL, "external data of initializer '", init.name, "': offset ", offset, " / length ",
             hasLength ? std::to_string(length) : std::string("None"), " lie outside '", loc, "' (", size, " bytes)");
    const int64_t n = hasLength ? length : size - offset;
    std::ifstream f(full, std::ios::binary);
    std::string raw(size_t(n), '\0');
    f.seekg(offset);
    f.read(&raw[0], n);
    if (f.gcount() != n)
        fail(ErrorCode::kINVALID_MODEL, "external data '", loc, "' of initializer '", init.name, "' could not be read");
    TensorProto t = init;
    t.rawData = std::move(raw);
    t.hasRawData = true;
    try {
        return decodeTensor(t, &t.rawData, what);
    } catch (const Error& e) {
        if (e.code() != ErrorCode::kINVALID_MODEL) throw;
        fail(ErrorCode::kINVALID_MODEL, "external data '", loc, "' of initializer '", init.name, "' is malformed: ", e.what());
    }
}

void OnnxParser::convert(const GraphProto& g) {
    Importer& p = *imp_;
    for (const auto& n : g.node)
        for (const auto& i : n.input)
            if (!i.empty()) p.consumed.insert(i);
    for (const auto& o : g.output) p.consumed.insert(o.name);
    for (const auto& n : g.node)  // a QuantizeLinear output read by these holds integers, not a Q/DQ pair (onnx_qdq.cpp)
        if (n.opType != "DequantizeLinear")
            for (const auto& i : n.input) p.readOutsideDequantize.insert(i);
    for (const auto& o : g.output) p.readOutsideDequantize.insert(o.name);
    checkRequiredInputs(g, p.opset);
    for (const auto& vi : g.input) {
        if (p.consts.count(vi.name)) continue;
        bool typeKnown = false;
        switch (vi.elemType) {
            case kFLOAT: case kDOUBLE: case kFLOAT16: case kINT8: case kINT16: case kINT32: case kINT64: case kUINT8:
            case kUINT16: case kUINT32: case kUINT64: case kBOOL: typeKnown = true; break;
            default: break;
        }
        if (!vi.hasTensorType || !typeKnown)
            fail(ErrorCode::kUNSUPPORTED, "input '", vi.name, "' is not a tensor of a supported type "
                 "(sequence, optional, map and string inputs are not supported)");
        bool dynamicInput = false;
        std::vector<int64_t> shape;
        auto ov = opts_.inputShapes.find(vi.name);
        if (ov != opts_.inputShapes.end()) {
            shape = ov->second;
        } else {
            // A symbolic dimension beyond 0 is dynamic (-1; optimization profiles give its range), and so is a
            // symbolic dimension 0 beside it, so that one profile covers both. A lone symbolic dimension 0 takes
            // the batch path (the parse-time batch there and shape values folded with the kBATCH placeholder)
            // unless that path refused the model (loneBatchDynamic_, see run()): then it is dynamic too.
            bool dynamicBeyondBatch = false;
            for (size_t k = 1; k < vi.dims.size(); ++k) dynamicBeyondBatch = dynamicBeyondBatch || !vi.dims[k].hasValue;
            const bool loneBatch = !vi.dims.empty() && !vi.dims[0].hasValue && !dynamicBeyondBatch;
            if (loneBatch) loneBatchInputs_.push_back(vi.name);
            const bool batchPath = loneBatch && !loneBatchDynamic_;
            for (size_t k = 0; k < vi.dims.size(); ++k) {
                const Dimension& d = vi.dims[k];
                if (d.hasValue) {
                    shape.push_back(d.value);
                    continue;
                }
                shape.push_back(batchPath ? p.batch : -1);
            }
            if (batchPath) {
                p.dynamicBatch = true;
                dynamicInput = true;
            }
        }
        if (shape.empty())
            fail(ErrorCode::kUNSUPPORTED, "input '", vi.name, "' is a scalar (rank 0); gie inputs need a dimension 0, the batch");
        for (int64_t d : shape)
            if (d == 0 || d < -1)
                fail(ErrorCode::kUNSUPPORTED, "input '", vi.name, "' has shape ", shapeStr(shape),
                     "; empty dimensions are not supported");
        if (shape.size() > size_t(Dims::MAX_DIMS))
            fail(ErrorCode::kUNSUPPORTED, "input '", vi.name, "' has rank ", shape.size(), "; gie tensors have at most ",
                 Dims::MAX_DIMS, " dimensions");
        DataType dt;
        try {
            dt = gieType(vi.elemType);
        } catch (const Unsupported& e) {
            fail(ErrorCode::kUNSUPPORTED, "input '", vi.name, "': ", e.what());
        }
        ITensor* t = net_.addInput(vi.name.c_str(), dt, makeDims(int32_t(shape.size()), shape.data()));
        if (!t) {
            const char* msg = nullptr;
            const ErrorCode c = getLastError(&msg);
            throw Error(c, msg ? msg : "addInput failed");
        }
        p.tensors[vi.name] = t;
        if (dynamicInput) importer::markSymbolicBatch(*t);  // a lone symbolic batch: profiles may vary dimension 0
        if (dynamicInput && !p.batchSource) p.batchSource = t;
    }
    std::set<std::string> plugins;
    if (opts_.pluginFallback) {
        int32_t nc = 0;
        IPluginCreator* const* cs = getPluginRegistry()->getAllCreators(&nc);
        for (int32_t k = 0; k < nc; ++k) plugins.insert(cs[k]->getPluginName());
    }
    const auto& conv = converters();
    auto known = [&](const std::string& op) {
        return conv.count(op) || foldOnlyOps().count(op) || isSpecialFold(op);
    };
    std::set<const NodeProto*> missing;
    for (const NodeProto* n : order_) {
        const bool stdDomain = n->domain.empty() || n->domain == "ai.onnx";
        if ((!stdDomain && !plugins.count(n->opType)) || (stdDomain && !known(n->opType) && !plugins.count(n->opType)))
            missing.insert(n);
    }
    std::vector<std::string> errors;
    std::set<std::string> dead;
    int32_t index = 0;
    auto record = [&](const NodeProto* n, const std::string& why, int32_t idx) {
        errors.push_back(describe(*n, why));
        errors_.push_back(std::make_unique<ParserError>(ErrorCode::kUNSUPPORTED, errors.back(), n->name, n->opType, why, idx));
        for (const auto& o : n->output) dead.insert(o);
    };
    for (const NodeProto* n : order_) {
        const int32_t idx = index++;
        if (missing.count(n)) {
            record(n, "no converter", idx);
            continue;
        }
        bool readsDead = false;
        for (const auto& i : n->input) readsDead = readsDead || dead.count(i);
        if (readsDead) {
            for (const auto& o : n->output) dead.insert(o);
            continue;
        }
        try {
            convertNode(*n, plugins);
        } catch (const BatchPathRefused& e) {
            if (batchRefusal_.empty()) batchRefusal_ = strcat(nodeRef(*n), ": ", e.what());
            record(n, e.what(), idx);
        } catch (const Unsupported& e) {
            record(n, e.what(), idx);
        } catch (const std::out_of_range& e) {  // a converter read an input or value the node does not have
            fail(ErrorCode::kINVALID_MODEL, nodeRef(*n), ": IndexError: an input or value is missing");
        } catch (const Error& e) {
            if (e.code() == ErrorCode::kINVALID_MODEL)
                fail(ErrorCode::kINVALID_MODEL, nodeRef(*n), ": ", e.what());
            if (e.code() == ErrorCode::kUNSUPPORTED) {
                record(n, e.what(), idx);
                continue;
            }
            throw;
        }
    }
    if (!errors.empty()) {
        std::string msg = strcat(errors.size(), " ONNX node(s) cannot be imported:");
        for (const auto& e : errors) msg += "\n  " + e;
        throw Error(ErrorCode::kUNSUPPORTED, msg);
    }
    for (const auto& o : g.output) {
        ITensor* t;
        try {
            t = p.tensor(o.name);
        } catch (const Unsupported& e) {
            fail(ErrorCode::kUNSUPPORTED, "graph output '", o.name, "': ", e.what());
        }
        bool alreadyOut = false;
        for (int32_t k = 0; k < net_.getNbOutputs(); ++k)
            alreadyOut = alreadyOut || std::string(net_.getOutput(k)->getName()) == o.name;
        if (t->isNetworkOutput() || t->isNetworkInput() || alreadyOut) t = p.identity(t);
        t->setName(o.name.c_str());
        if (!net_.markOutput(*t)) {
            const char* msg = nullptr;
            const ErrorCode c = getLastError(&msg);
            throw Error(c, msg ? msg : "markOutput failed");
        }
    }
}

void pluginFields(const NodeProto& n, Fields& f) {
    for (const auto& a : n.attribute) {
        const char* name = a.name.c_str();
        switch (a.type) {
            case kATTR_FLOAT: f.f(name, a.f); break;
            case kATTR_INT: f.i(name, a.i); break;
            case kATTR_STRING: f.str(name, a.s); break;
            case kATTR_FLOATS: f.floats(name, a.floats); break;
            case kATTR_INTS: f.ints(name, a.ints); break;
            case kATTR_TENSOR: {
                if (!a.t) fail(ErrorCode::kINVALID_MODEL, "tensor attribute '", a.name, "' holds no tensor");
                Value v = decodeTensor(*a.t, nullptr, strcat("tensor attribute '", a.name, "'"));
                if (v.isFloat()) f.floats(name, v.f);
                else f.ints(name, v.i);
                break;
            }
            default:
                throw Unsupported(strcat("attribute '", a.name, "' of type ", a.type, " cannot be passed to a plugin"));
        }
    }
}

void OnnxParser::convertNode(const NodeProto& n, const std::set<std::string>& plugins) {
    Importer& p = *imp_;
    const Attrs a{&n};
    auto collectInputs = [&] {
        std::vector<ITensor*> ins;
        for (const auto& i : n.input)
            if (!i.empty()) ins.push_back(p.tensor(i));
        return ins;
    };
    auto setOutputs = [&](const std::vector<ITensor*>& outs) {
        for (size_t k = 0; k < n.output.size() && k < outs.size(); ++k) {
            if (n.output[k].empty()) continue;
            p.tensors[n.output[k]] = outs[k];
            if (!n.name.empty() && outs[k]->getProducer()) outs[k]->getProducer()->setName(n.name.c_str());
            // The model's tensor names, so that reports, per-tensor comparisons and marked outputs speak the
            // model's language. A tensor that an earlier name maps to (an op imported as a no-op returns its
            // input) keeps that name, and a network input keeps its own.
            if (outs[k]->getProducer() && !outs[k]->isNetworkInput() && p.named.insert(outs[k]).second)
                outs[k]->setName(n.output[k].c_str());
        }
    };
    auto setConsts = [&](std::vector<Value>& vals) {
        bool sym = false;
        for (const auto& i : n.input) sym = sym || (!i.empty() && p.symbolic.count(i));
        if (!sym && n.opType == "Shape" && p.dynamicBatch)
            for (const auto& v : vals)
                for (int64_t x : v.i) sym = sym || x >= kBATCH;  // the batch, or k times it (a (batch*k, ...) tensor)
        for (size_t k = 0; k < n.output.size() && k < vals.size(); ++k) {
            if (n.output[k].empty()) continue;
            p.consts[n.output[k]] = std::move(vals[k]);
            if (sym) p.symbolic.insert(n.output[k]);
        }
    };
    auto pluginLayer = [&] {
        Fields f;
        pluginFields(n, f);
        std::vector<ITensor*> ins = collectInputs();
        ILayer* l = p.add(n.opType.c_str(), ins, f);
        std::vector<ITensor*> outs;
        for (int32_t k = 0; k < l->getNbOutputs() && size_t(k) < n.output.size(); ++k) outs.push_back(l->getOutput(k));
        return outs;
    };
    if (!(n.domain.empty() || n.domain == "ai.onnx")) {  // a custom-domain op: only a plugin can take it
        setOutputs(pluginLayer());
        return;
    }
    std::vector<ITensor*> shapeOuts;  // run-time shape tensors (onnx_shape_tensors.cpp), before the validators that fold
    if (convertShapeNode(p, n, a, shapeOuts)) {
        setOutputs(shapeOuts);
        return;
    }
    auto vit = validators().find(n.opType);
    if (vit != validators().end()) vit->second(p, n, a);
    std::string why;
    bool allKnown = true;
    bool anyString = false;
    for (const auto& i : n.input) {
        allKnown = allKnown && (i.empty() || p.isConst(i));
        anyString = anyString || (!i.empty() && p.isConst(i) && p.consts.at(i).dtype == kSTRING);
    }
    const auto& conv = converters();
    if (isSpecialFold(n.opType)) {
        std::vector<Value> vals;
        if (foldSpecial(p, n, a, vals)) {
            setConsts(vals);
            return;
        }
    } else if (allKnown && !noFoldOps().count(n.opType)) {
        auto fit = folders().find(n.opType);
        std::vector<Value> vals;
        bool folded = false;
        try {
            folded = !anyString && fit != folders().end() && fit->second(p, n, a, vals);
        } catch (const FoldRefused& e) {
            why = e.what();
        } catch (const Unsupported&) {
            folded = false;  // the values do not fold (as when onnx.reference failed): import it as a layer
        } catch (const std::out_of_range&) {
            folded = false;
        }
        if (folded) {
            setConsts(vals);
            return;
        }
        if (!why.empty() && !conv.count(n.opType)) throw Unsupported(why);
        if (!folded && !conv.count(n.opType) && !plugins.count(n.opType) && foldOnlyOps().count(n.opType))
            throw Unsupported(strcat("its inputs are known, but the importer cannot fold ", n.opType, " with these inputs"));
    }
    auto cit = conv.find(n.opType);
    if (cit != conv.end()) {
        std::vector<ITensor*> outs;
        try {
            outs = cit->second(p, n, a);
        } catch (const BatchPathRefused& e) {
            if (why.empty()) throw;
            throw BatchPathRefused(why + "; as a layer: " + e.what());
        } catch (const Unsupported& e) {
            if (why.empty()) throw;
            throw Unsupported(why + "; as a layer: " + e.what());
        }
        setOutputs(outs);
    } else if (plugins.count(n.opType)) {
        setOutputs(pluginLayer());
    } else {
        throw Unsupported("inputs are not all constant");
    }
}

}  // namespace
}  // namespace onnx

namespace {
const std::vector<std::string>& onnxOperators() {
    static const std::vector<std::string> ops = [] {
        std::set<std::string> s{"Shape", "Size", "Constant"};
        for (const auto& kv : onnx::converters()) s.insert(kv.first);
        for (const auto& op : onnx::foldOnlyOps()) s.insert(op);
        return std::vector<std::string>(s.begin(), s.end());
    }();
    return ops;
}
}  // namespace

int32_t getNbOnnxOperators() noexcept {
    try {
        return static_cast<int32_t>(onnxOperators().size());
    } catch (...) {
        return 0;
    }
}

const char* getOnnxOperator(int32_t index) noexcept {
    try {
        const auto& ops = onnxOperators();
        return index >= 0 && size_t(index) < ops.size() ? ops[size_t(index)].c_str() : nullptr;
    } catch (...) {
        return nullptr;
    }
}

IOnnxParser* createOnnxParser(INetworkDefinition& network, ILogger& logger) noexcept {
    try {
        return new onnx::OnnxParser(network, logger);
    } catch (...) {
        setLastError(ErrorCode::kOUT_OF_MEMORY, "createOnnxParser: out of memory");
        return nullptr;
    }
}

}  // namespace gie
