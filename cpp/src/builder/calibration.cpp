// INT8 calibration: the FP32 run (CPU, or GPU when the build targets one) with an observer on every float tensor, the range algorithms
// (entropy, min-max, percentile), and the calibration cache. See calibration.h and docs/int8.md.
#include "builder/calibration.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <list>
#include <memory>
#include <set>

#include "common/bytes.h"
#include "common/dims.h"
#include "common/error.h"
#include "common/parallel.h"
#include "backend/backend.h"
#include "engine/engine.h"
#include "ir/graph.h"
#include "network/network.h"
#include "plugin/configure_range.h"

namespace gie {
namespace {

constexpr const char* kCacheMagic = "gie-calibration-cache 1";
constexpr int kQuantLevels = 128;  // |q| <= 127: the 128 non-negative levels of symmetric INT8

// ---- the network's identity ------------------------------------------------------------------------

//! Hashes of the network's structure (layers, types, names, shapes, every non-float field) and of its
//! weights (every float field and user plugin's serialized fields), at batch 1 so that the batch a model is
//! calibrated or built with does not matter.
struct Fingerprint {
    uint32_t structure = 0, weights = 0;
    uint64_t weightBytes = 0;
    std::string structureText() const {
        char b[16];
        std::snprintf(b, sizeof b, "%08x", structure);
        return b;
    }
    std::string weightsText() const {
        char b[48];
        std::snprintf(b, sizeof b, "%08x.%llu", weights, static_cast<unsigned long long>(weightBytes));
        return b;
    }
};

Fingerprint fingerprintOf(const Graph& g) {
    ByteWriter s;
    Fingerprint f;
    auto tensor = [&](int t) {
        const IrTensor& x = g.tensors[static_cast<size_t>(t)];
        s.putString(x.name);
        s.put<int32_t>(static_cast<int32_t>(x.type));
        s.put<int32_t>(x.dims.nbDims);
        for (int i = 0; i < x.dims.nbDims; ++i) s.put<int64_t>(x.dims.d[i]);
    };
    s.put<int32_t>(static_cast<int32_t>(g.inputs.size()));
    for (int t : g.inputs) tensor(t);
    for (int ni : g.topologicalOrder()) {
        const IrNode& n = g.nodes[static_cast<size_t>(ni)];
        s.putString(n.name);
        s.putString(n.type);
        s.put<int32_t>(static_cast<int32_t>(n.inputs.size()));
        for (int t : n.inputs) s.putString(g.tensors[static_cast<size_t>(t)].name);
        s.put<int32_t>(static_cast<int32_t>(n.outputs.size()));
        for (int t : n.outputs) tensor(t);
        for (size_t i = 0; i < n.fields.size(); ++i) {
            const Field& x = n.fields.at(i);
            s.putString(x.name);
            s.put<int32_t>(static_cast<int32_t>(x.type));
            s.put<int64_t>(x.length);
            const bool weights = x.type == PluginFieldType::kFLOAT32 || x.type == PluginFieldType::kFLOAT16 || x.type == PluginFieldType::kFLOAT64;
            if (!weights) {
                s.putBytes(x.data.data(), x.data.size());
            } else {
                f.weights = crc32c(x.data.data(), x.data.size(), f.weights);
                f.weightBytes += x.data.size();
            }
        }
        if (n.userPlugin) {
            s.putString(n.userPlugin->getPluginType());
            s.putString(n.userPlugin->getPluginVersion());
            std::vector<uint8_t> bytes(n.userPlugin->getSerializationSize());
            if (!bytes.empty()) n.userPlugin->serialize(bytes.data());
            f.weights = crc32c(bytes.data(), bytes.size(), f.weights);
            f.weightBytes += bytes.size();
        }
    }
    s.put<int32_t>(static_cast<int32_t>(g.outputs.size()));
    for (int t : g.outputs) s.putString(g.tensors[static_cast<size_t>(t)].name);
    f.structure = crc32c(s.buffer().data(), s.buffer().size());
    return f;
}

//! The network as calibration sees it: lowered with its inputs at `inputs`, float16 inputs fed and computed in float32.
Graph lowerForCalibration(const NetworkImpl& net, const std::vector<Dims>& inputs) {
    Graph g = Graph::fromNetwork(net, inputs);
    bool retype = false;
    for (int t : g.inputs) {
        IrTensor& x = g.tensors[static_cast<size_t>(t)];
        if (x.type == DataType::kHALF) {
            x.type = x.ioType = DataType::kFLOAT;
            retype = true;
        }
    }
    if (retype) g.inferShapes();
    return g;
}

//! The float tensors calibration observes, in the order they are computed (network inputs first).
std::vector<int> observedTensors(const Graph& g, const std::vector<int>& order) {
    std::vector<int> r;
    for (int t : g.inputs)
        if (g.tensors[static_cast<size_t>(t)].type == DataType::kFLOAT) r.push_back(t);
    for (int ni : order)
        for (int t : g.nodes[static_cast<size_t>(ni)].outputs)
            if (g.tensors[static_cast<size_t>(t)].type == DataType::kFLOAT) r.push_back(t);
    return r;
}

//! Names of those tensors; fails if two share a name (the cache and the builder match ranges by name).
std::vector<std::string> observedNames(const Graph& g, const std::vector<int>& tensors) {
    std::vector<std::string> names;
    std::set<std::string> seen;
    for (int t : tensors) {
        const std::string& n = g.tensors[static_cast<size_t>(t)].name;
        GIE_CHECK(seen.insert(n).second, ErrorCode::kINVALID_MODEL, "two tensors are named '", n,
                  "'; INT8 calibration keeps one range per tensor name, so rename one");
        names.push_back(n);
    }
    return names;
}

// ---- the cache text --------------------------------------------------------------------------------

std::string escapeName(const std::string& name) {
    std::string r;
    for (char c : name) {
        if (c == '\\') r += "\\\\";
        else if (c == '\n') r += "\\n";
        else if (c == '\r') r += "\\r";
        else r += c;
    }
    return r;
}

std::string unescapeName(const std::string& s, size_t line) {
    std::string r;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\') {
            r += s[i];
            continue;
        }
        GIE_CHECK(i + 1 < s.size(), ErrorCode::kINVALID_ARGUMENT, "calibration cache, line ", line, ": the tensor name ends with a lone '\\'");
        char c = s[++i];
        GIE_CHECK(c == '\\' || c == 'n' || c == 'r', ErrorCode::kINVALID_ARGUMENT, "calibration cache, line ", line, ": unknown escape '\\", c,
                  "' in a tensor name (only \\\\, \\n and \\r)");
        r += c == 'n' ? '\n' : c == 'r' ? '\r' : '\\';
    }
    return r;
}

std::string formatCache(const Fingerprint& f, const std::string& algorithm, const std::map<std::string, float>& amax,
                        const std::vector<std::string>& order) {
    std::string s = std::string(kCacheMagic) + "\n";
    s += "network " + f.structureText() + " " + f.weightsText() + "\n";
    s += "algorithm " + algorithm + "\n";
    s += "# tensor: amax (the INT8 range |x| <= amax; scale = amax / 127), in the order the network computes them\n";
    char num[32];
    for (const std::string& name : order) {
        std::snprintf(num, sizeof num, "%.9g", static_cast<double>(amax.at(name)));  // 9 digits: the float back exactly
        s += escapeName(name) + ": " + num + "\n";
    }
    return s;
}

struct ParsedCache {
    std::string structure, weights, algorithm;
    std::map<std::string, float> amax;
};

ParsedCache parseCache(const char* data, size_t size) {
    ParsedCache c;
    std::string text(data, size);
    size_t pos = 0, line = 0;
    bool haveNetwork = false, haveAlgorithm = false;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        std::string l = text.substr(pos, end - pos);
        pos = end + 1;
        ++line;
        if (!l.empty() && l.back() == '\r') l.pop_back();
        if (line == 1) {
            GIE_CHECK(l == kCacheMagic, ErrorCode::kINVALID_ARGUMENT, "the calibration cache is not a gie calibration cache: its first line is '",
                      l.substr(0, 60), "', expected '", kCacheMagic, "'");
            continue;
        }
        if (l.empty() || l[0] == '#') continue;
        if (l.compare(0, 8, "network ") == 0) {
            const std::string rest = l.substr(8);
            const size_t sp = rest.find(' ');
            GIE_CHECK(sp != std::string::npos, ErrorCode::kINVALID_ARGUMENT, "calibration cache, line ", line,
                      ": 'network' needs a structure hash and a weights hash");
            c.structure = rest.substr(0, sp);
            c.weights = rest.substr(sp + 1);
            haveNetwork = true;
            continue;
        }
        if (l.compare(0, 10, "algorithm ") == 0) {
            c.algorithm = l.substr(10);
            haveAlgorithm = true;
            continue;
        }
        const size_t colon = l.rfind(": ");
        GIE_CHECK(colon != std::string::npos, ErrorCode::kINVALID_ARGUMENT, "calibration cache, line ", line, ": expected 'tensor name: amax', got '",
                  l.substr(0, 80), "'");
        std::string name = unescapeName(l.substr(0, colon), line);
        const std::string num = l.substr(colon + 2);
        char* endp = nullptr;
        const double v = std::strtod(num.c_str(), &endp);
        GIE_CHECK(!num.empty() && endp && *endp == '\0' && std::isfinite(v) && v >= 0 && v <= std::numeric_limits<float>::max(),
                  ErrorCode::kINVALID_ARGUMENT, "calibration cache, line ", line, ": the range of tensor '", name, "' is '", num,
                  "', not a finite number >= 0");
        GIE_CHECK(c.amax.emplace(name, static_cast<float>(v)).second, ErrorCode::kINVALID_ARGUMENT, "calibration cache, line ", line,
                  ": tensor '", name, "' is listed twice");
    }
    GIE_CHECK(line >= 1, ErrorCode::kINVALID_ARGUMENT, "the calibration cache is empty");
    GIE_CHECK(haveNetwork && haveAlgorithm, ErrorCode::kINVALID_ARGUMENT, "the calibration cache has no '", haveNetwork ? "algorithm" : "network",
              "' line; it was not written by gie or was cut short");
    return c;
}

// ---- observing -------------------------------------------------------------------------------------

//! Max |x| and a histogram of |x| of one tensor over every batch, in one pass over the data: the histogram
//! covers [0, width * bins) with width the smallest power of two that makes it cover the first nonzero batch
//! (its max then lies in the upper half of the bins); when a later batch reaches past it, the width doubles
//! (pairs of bins merged), so no value is ever clipped. A power-of-two width keeps every bin edge and
//! |x| / width exact: the counts are what np.histogram gives over the same range.
class Observer {
public:
    explicit Observer(bool histogram) : wantHistogram_(histogram) {}

    void observe(const float* x, int64_t n, const std::string& name, int32_t batch) {
        const int threads = n >= (1 << 16) ? cpuThreads() : 1;
        const int64_t per = (n + threads - 1) / threads;
        std::vector<float> maxes(static_cast<size_t>(threads), 0.f);
        std::vector<char> bad(static_cast<size_t>(threads), 0);
        parallelForThreads(threads, threads, [&](int64_t t) {
            const int64_t lo = t * per, hi = std::min(n, lo + per);
            float m = 0.f;
            bool nonFinite = false;
            for (int64_t i = lo; i < hi; ++i) {
                const float a = std::fabs(x[i]);
                nonFinite |= !(a <= std::numeric_limits<float>::max());  // NaN compares false
                m = a > m ? a : m;
            }
            maxes[static_cast<size_t>(t)] = m;
            bad[static_cast<size_t>(t)] = nonFinite;
        });
        for (char b : bad)
            GIE_CHECK(!b, ErrorCode::kINVALID_ARGUMENT, "calibration batch ", batch + 1, ": tensor '", name,
                      "' has a NaN or infinite value; check the calibration data (and that the network computes finite values from it)");
        const double bmax = *std::max_element(maxes.begin(), maxes.end());
        stats_.maxAbs = std::max(stats_.maxAbs, bmax);
        stats_.count += n;
        if (!wantHistogram_) return;
        if (stats_.binWidth == 0) {
            if (bmax == 0) {  // only zeros so far: they go to bin 0 once there is a width
                zerosBeforeWidth_ += n;
                return;
            }
            stats_.binWidth = std::ldexp(1.0, std::ilogb(bmax) + 1 - kCalibrationBinsLog2);
            stats_.histogram.assign(kCalibrationBins, 0);
            stats_.histogram[0] = zerosBeforeWidth_;
        }
        while (bmax >= stats_.binWidth * kCalibrationBins) {
            auto& h = stats_.histogram;
            for (int k = 0; k < kCalibrationBins / 2; ++k) h[static_cast<size_t>(k)] = h[2 * static_cast<size_t>(k)] + h[2 * static_cast<size_t>(k) + 1];
            std::fill(h.begin() + kCalibrationBins / 2, h.end(), 0);
            stats_.binWidth *= 2;
        }
        const double width = stats_.binWidth;
        std::vector<std::vector<int64_t>> local(static_cast<size_t>(threads), std::vector<int64_t>(kCalibrationBins, 0));
        parallelForThreads(threads, threads, [&](int64_t t) {
            const int64_t lo = t * per, hi = std::min(n, lo + per);
            int64_t* h = local[static_cast<size_t>(t)].data();
            for (int64_t i = lo; i < hi; ++i) {
                // A division, not a multiplication by 1/width: floor(|x| / width) is then exact for float |x|,
                // so a value on a bin edge lands where np.histogram puts it.
                const int64_t k = static_cast<int64_t>(static_cast<double>(std::fabs(x[i])) / width);
                ++h[k < kCalibrationBins ? k : kCalibrationBins - 1];
            }
        });
        for (const auto& l : local)
            for (int k = 0; k < kCalibrationBins; ++k) stats_.histogram[static_cast<size_t>(k)] += l[static_cast<size_t>(k)];
    }

    const TensorStatistics& stats() const { return stats_; }

private:
    bool wantHistogram_;
    int64_t zerosBeforeWidth_ = 0;
    TensorStatistics stats_;
};

// ---- the FP32 run (CPU or GPU) ----------------------------------------------------------------------

//! The network as defined, each layer on its FP32 linear kernel of the CPU, or of the GPU when `gpu` is given (the
//! default variant of each layer's GPU creator), every tensor in its own buffer (freed after its last reader),
//! every float tensor handed to `observe` once written (on the GPU: after a copy to the host, so that one observer
//! serves both devices).
class FloatRunner {
public:
    FloatRunner(const NetworkImpl& net, const std::vector<Dims>& inputs, Backend* gpu) : g_(lowerForCalibration(net, inputs)), gpu_(gpu) {
        order_ = g_.topologicalOrder();
        lastUse_.assign(g_.tensors.size(), -1);
        for (size_t s = 0; s < order_.size(); ++s)
            for (int t : g_.nodes[static_cast<size_t>(order_[s])].inputs) lastUse_[static_cast<size_t>(t)] = static_cast<int>(s);
        try {
            if (gpu_) stream_ = gpu_->createStream();
            for (int ni : order_) steps_.push_back(makeStep(g_.nodes[static_cast<size_t>(ni)]));
        } catch (...) {
            terminateAll();  // the destructor does not run for a constructor that throws
            throw;
        }
    }
    ~FloatRunner() { terminateAll(); }
    FloatRunner(const FloatRunner&) = delete;
    FloatRunner& operator=(const FloatRunner&) = delete;

    const Graph& graph() const { return g_; }
    std::vector<int> observed() const { return observedTensors(g_, order_); }
    //! Host buffer of network input i (the calibrator writes the batch there).
    void* inputBuffer(size_t i) {
        const int t = g_.inputs[i];
        auto& b = buffers_[t];
        if (!b) b = allocate(t);
        return b.get();
    }

    template <typename Observe>
    void run(Observe&& observe) {
        for (int t : g_.inputs) {
            if (gpu_) gpu_->copy(deviceBuffer(t), buffers_.at(t).get(), bytesOf(t), CopyKind::kHostToDevice, stream_);
            if (g_.tensors[static_cast<size_t>(t)].type == DataType::kFLOAT)
                observe(t, reinterpret_cast<const float*>(buffers_[t].get()));
        }
        for (size_t s = 0; s < order_.size(); ++s) {
            const IrNode& n = g_.nodes[static_cast<size_t>(order_[s])];
            Step& st = steps_[s];
            std::vector<const void*> in;
            std::vector<void*> out;
            for (int t : n.inputs) in.push_back(gpu_ ? devices_.at(t).get() : buffers_.at(t).get());
            for (int t : n.outputs) {
                if (gpu_) {
                    out.push_back(deviceBuffer(t));
                    continue;
                }
                auto& b = buffers_[t];
                if (!b) b = allocate(t);
                out.push_back(b.get());
            }
            void* workspace = gpu_ ? st.deviceWorkspace.get() : st.workspace.data();
            if (st.kernel->enqueue(st.in.data(), st.out.data(), in.data(), out.data(), workspace, stream_) != 0) {
                const char* msg = nullptr;
                getLastError(&msg);
                fail(ErrorCode::kINVALID_MODEL, "calibration: layer '", n.name, "' (", n.type, ") failed on the ", deviceText(),
                     msg && *msg ? std::string(": ") + msg : std::string());
            }
            for (int t : n.outputs) {
                if (g_.tensors[static_cast<size_t>(t)].type != DataType::kFLOAT) continue;
                if (!gpu_) {
                    observe(t, reinterpret_cast<const float*>(buffers_[t].get()));
                    continue;
                }
                staging_.resize(static_cast<size_t>(std::max<int64_t>(volume(g_.tensors[static_cast<size_t>(t)].dims), 1)));
                gpu_->copy(staging_.data(), devices_.at(t).get(), bytesOf(t), CopyKind::kDeviceToHost, stream_);
                gpu_->synchronize(stream_);
                gpu_->checkErrors("INT8 calibration on the GPU");
                observe(t, staging_.data());
            }
            // Free what no later layer reads (network inputs stay: the next batch is written into them).
            for (int t : n.inputs)
                if (lastUse_[static_cast<size_t>(t)] == static_cast<int>(s) && !g_.tensors[static_cast<size_t>(t)].isInput) release(t);
            for (int t : n.outputs)
                if (lastUse_[static_cast<size_t>(t)] < 0) release(t);
        }
    }

private:
    const char* deviceText() const { return gpu_ ? "GPU" : "CPU"; }
    void terminateAll() {
        for (auto& s : steps_)
            if (s.initialized) s.kernel->terminate();
        steps_.clear();
        devices_.clear();
        if (gpu_ && stream_) gpu_->destroyStream(stream_);
        stream_ = nullptr;
    }

    struct Step {
        std::unique_ptr<IPlugin> kernel;
        std::vector<TensorDesc> in, out;
        std::vector<uint8_t> workspace;
        DeviceBuffer deviceWorkspace;
        bool initialized = false;
    };

    size_t bytesOf(int t) const {
        const IrTensor& x = g_.tensors[static_cast<size_t>(t)];
        return static_cast<size_t>(volume(x.dims) * dataTypeSize(x.type));
    }
    std::unique_ptr<uint8_t[]> allocate(int t) const {
        return std::unique_ptr<uint8_t[]>(new uint8_t[std::max<size_t>(bytesOf(t), 1)]);
    }
    void* deviceBuffer(int t) {
        auto it = devices_.find(t);
        if (it == devices_.end()) it = devices_.emplace(t, DeviceBuffer(*gpu_, std::max<size_t>(bytesOf(t), 1), "INT8 calibration tensor")).first;
        return it->second.get();
    }
    void release(int t) {
        buffers_.erase(t);
        devices_.erase(t);
    }

    Step makeStep(const IrNode& n) {
        Step st;
        const DeviceType device = gpu_ ? DeviceType::kGPU : DeviceType::kCPU;
        const char* where = gpu_ ? "calibration runs the network on the GPU" : "calibration runs the network on the CPU";
        if (n.userPlugin) {
            IPluginCreator* c = getPluginRegistry()->getCreator(n.userPlugin->getPluginType(), n.userPlugin->getPluginVersion(), device);
            GIE_CHECK(c, ErrorCode::kUNSUPPORTED, where, ", and plugin layer '", n.name, "' (type '", n.userPlugin->getPluginType(), "') has no ",
                      deviceText(), " creator; set the ranges of its tensors with set_dynamic_range instead");
            st.kernel.reset(n.userPlugin->clone());
        } else {
            // The default (FP32) variant: the INT8 / FP16 ones do not take FLOAT LINEAR everywhere.
            IPluginCreator* c = getPluginRegistry()->getCreatorVariant(n.type.c_str(), nullptr, device, "");
            GIE_CHECK(c, ErrorCode::kUNSUPPORTED, where, ", and layer '", n.name, "' (", n.type, ") has no ", deviceText(), " kernel");
            st.kernel.reset(c->createPlugin(n.name.c_str(), n.fields.collection()));
        }
        if (!st.kernel) {
            const char* msg = nullptr;
            getLastError(&msg);
            fail(ErrorCode::kINVALID_MODEL, "calibration: cannot create the ", deviceText(), " kernel of layer '", n.name, "'",
                 msg && *msg ? std::string(": ") + msg : std::string());
        }
        for (int t : n.inputs) st.in.push_back(makeDesc(g_.tensors[static_cast<size_t>(t)].dims, g_.tensors[static_cast<size_t>(t)].type));
        for (int t : n.outputs) st.out.push_back(makeDesc(g_.tensors[static_cast<size_t>(t)].dims, g_.tensors[static_cast<size_t>(t)].type));
        std::vector<TensorDesc> all(st.in);
        all.insert(all.end(), st.out.begin(), st.out.end());
        const int32_t nIn = static_cast<int32_t>(st.in.size()), nOut = static_cast<int32_t>(st.out.size());
        for (int32_t p = 0; p < nIn + nOut; ++p)
            GIE_CHECK(st.kernel->supportsFormatCombination(p, all.data(), nIn, nOut), ErrorCode::kUNSUPPORTED, "calibration: the ", deviceText(),
                      " kernel of layer '", n.name, "' (", n.type, ") does not take ", p < nIn ? "input " : "output ", p < nIn ? p : p - nIn, " as ",
                      dataTypeName(all[static_cast<size_t>(p)].type), " linear");
        if (configureKernelRange(*st.kernel, st.in, st.out) != 0 || st.kernel->initialize() != 0) {
            const char* msg = nullptr;
            getLastError(&msg);
            fail(ErrorCode::kINVALID_MODEL, "calibration: cannot configure the ", deviceText(), " kernel of layer '", n.name, "'",
                 msg && *msg ? std::string(": ") + msg : std::string());
        }
        st.initialized = true;
        if (gpu_) st.deviceWorkspace = DeviceBuffer(*gpu_, st.kernel->getWorkspaceSize() + 256, "INT8 calibration workspace");
        else st.workspace.resize(st.kernel->getWorkspaceSize() + 64);
        return st;
    }

    Graph g_;
    Backend* gpu_ = nullptr;
    void* stream_ = nullptr;
    std::vector<int> order_;
    std::vector<int> lastUse_;  // step index of a tensor's last reader, -1 if none
    std::vector<Step> steps_;
    std::map<int, std::unique_ptr<uint8_t[]>> buffers_;  // host: every tensor on the CPU; the inputs on the GPU
    std::map<int, DeviceBuffer> devices_;                // GPU
    std::vector<float> staging_;                         // GPU: the tensor being observed, copied to the host
};

//! The runner of the device asked for: the GPU when it is asked for and usable and every layer has a GPU FP32 kernel,
//! else the CPU (`why` says why not the GPU).
std::unique_ptr<FloatRunner> makeRunner(const NetworkImpl& net, const std::vector<Dims>& inputs, DeviceType device, std::string& why) {
    if (device == DeviceType::kGPU) {
        Backend* gpu = findBackend(DeviceType::kGPU);
        if (!gpu || !gpu->available()) {
            why = "no usable GPU";
        } else {
            try {
                return std::make_unique<FloatRunner>(net, inputs, gpu);
            } catch (const Error& e) {
                why = e.what();
            }
        }
    }
    return std::make_unique<FloatRunner>(net, inputs, nullptr);
}

//! The runners (buffers and kernels) of the last kKept input-shape sets, most recently used first: a calibrator that
//! alternates between a few shapes builds each runner once instead of at every change.
class RunnerCache {
public:
    static constexpr size_t kKept = 4;
    struct Entry {
        std::vector<Dims> shapes;
        std::unique_ptr<FloatRunner> runner;
        std::vector<TensorDesc> descs;  // the runner's inputs, as getBatch is given them
        std::vector<void*> bindings;
    };
    //! The runner for `shapes`; `built` says whether it was made now (makeRunner: `notGpu` says why not the GPU).
    Entry& get(const NetworkImpl& net, const std::vector<Dims>& shapes, DeviceType device, bool& built, std::string& notGpu) {
        built = false;
        for (auto it = entries_.begin(); it != entries_.end(); ++it)
            if (it->shapes == shapes) {
                entries_.splice(entries_.begin(), entries_, it);
                return entries_.front();
            }
        if (entries_.size() == kKept) entries_.pop_back();  // freed before the next one is made (device memory)
        Entry e;
        e.shapes = shapes;
        e.runner = makeRunner(net, shapes, device, notGpu);
        const Graph& g = e.runner->graph();
        for (size_t i = 0; i < g.inputs.size(); ++i) {
            const IrTensor& x = g.tensors[static_cast<size_t>(g.inputs[i])];
            e.descs.push_back(makeDesc(x.dims, x.type));
            e.bindings.push_back(e.runner->inputBuffer(i));
        }
        entries_.push_front(std::move(e));
        built = true;
        return entries_.front();
    }

    //! The shapes of the runner used last, or nullptr before the first.
    const std::vector<Dims>* lastShapes() const { return entries_.empty() ? nullptr : &entries_.front().shapes; }

private:
    std::list<Entry> entries_;
};

// ---- talking to the calibrator ------------------------------------------------------------------------

//! Fails with the error the calibrator recorded (gie::setLastError) during `what`, if any.
void checkCalibratorError(const char* what) {
    const char* msg = nullptr;
    const ErrorCode code = getLastError(&msg);
    if (code != ErrorCode::kSUCCESS)
        fail(code, "INT8 calibrator: ", what, " failed", msg && *msg ? std::string(": ") + msg : std::string());
}

struct AlgorithmChoice {
    IInt8Calibrator::Algorithm algorithm;
    double percentile;
    std::string name;  // as in the cache header
};

AlgorithmChoice algorithmOf(const IInt8Calibrator& c) {
    clearLastError();
    const auto a = c.getAlgorithm();
    checkCalibratorError("getAlgorithm");
    const double p = c.getPercentile();
    checkCalibratorError("getPercentile");
    GIE_CHECK(a == IInt8Calibrator::Algorithm::kENTROPY || a == IInt8Calibrator::Algorithm::kMINMAX || a == IInt8Calibrator::Algorithm::kPERCENTILE,
              ErrorCode::kINVALID_ARGUMENT, "INT8 calibrator: getAlgorithm() returned ", static_cast<int>(a),
              ", not an IInt8Calibrator::Algorithm (0 entropy, 1 minmax, 2 percentile)");
    GIE_CHECK(a != IInt8Calibrator::Algorithm::kPERCENTILE || (p > 0 && p <= 100), ErrorCode::kINVALID_ARGUMENT,
              "INT8 calibrator: the percentile must be in (0, 100], got ", p);
    return {a, p, algorithmName(a, p)};
}

//! The ranges of a cache, checked against this network and algorithm.
std::map<std::string, float> rangesFromCache(const void* data, size_t size, const Fingerprint& f, const std::string& algorithm,
                                             const std::vector<std::string>& tensors) {
    ParsedCache c = parseCache(static_cast<const char*>(data), size);
    const char* again = "; delete the cache (or give the calibrator another cache file) to calibrate again";
    GIE_CHECK(c.structure == f.structureText(), ErrorCode::kINVALID_ARGUMENT, "the calibration cache was written for another network: its ",
              "structure hash is ", c.structure, ", this network's is ", f.structureText(), " (layers, names, shapes or parameters differ)", again);
    GIE_CHECK(c.weights == f.weightsText(), ErrorCode::kINVALID_ARGUMENT, "the calibration cache was written for this network's layers with ",
              "other weights: its weights hash is ", c.weights, ", this network's is ", f.weightsText(), again);
    GIE_CHECK(c.algorithm == algorithm, ErrorCode::kINVALID_ARGUMENT, "the calibration cache holds ranges computed with the '", c.algorithm,
              "' algorithm, but the calibrator asks for '", algorithm, "'", again);
    std::map<std::string, float> r;
    for (const std::string& t : tensors) {
        auto it = c.amax.find(t);
        GIE_CHECK(it != c.amax.end(), ErrorCode::kINVALID_ARGUMENT, "the calibration cache has no range for tensor '", t,
                  "' although its header matches this network (was it edited?)", again);
        r.emplace(t, it->second);
        c.amax.erase(it);
    }
    GIE_CHECK(c.amax.empty(), ErrorCode::kINVALID_ARGUMENT, "the calibration cache has a range for tensor '", c.amax.empty() ? "" : c.amax.begin()->first,
              "', which this network does not have, although its header matches (was it edited?)", again);
    return r;
}

//! The inputs' declared dims with dimension 0 at `batch` and every other dynamic dimension at `dynamic` (-1 keeps it).
std::vector<Dims> inputDimsAt(const NetworkImpl& net, int64_t batch, const std::function<int64_t(size_t, int)>& dynamic) {
    std::vector<Dims> r;
    for (size_t i = 0; i < net.inputs().size(); ++i) {
        Dims d = net.inputs()[i]->dims_;
        d.d[0] = batch;
        for (int k = 1; k < d.nbDims; ++k)
            if (d.d[k] < 0) d.d[k] = dynamic(i, k);
        r.push_back(d);
    }
    return r;
}

//! Fails, naming the input and the dimension, when batch `batchNo`'s shapes (after getBatchShapes) are not all known,
//! differ from a fixed dimension, or lie within no optimization profile (every input within the same one).
void checkBatchShapes(const NetworkImpl& net, const std::vector<Dims>& shapes, const std::vector<std::vector<InputRange>>* profiles, int32_t batchNo) {
    const auto& inputs = net.inputs();
    for (size_t i = 0; i < inputs.size(); ++i) {
        const Dims& decl = inputs[i]->dims_;
        GIE_CHECK(shapes[i].nbDims == decl.nbDims, ErrorCode::kINVALID_ARGUMENT, "INT8 calibrator: getBatchShapes gave input '", inputs[i]->name_,
                  "' of calibration batch ", batchNo, " the shape ", toString(shapes[i]), " of rank ", shapes[i].nbDims, "; it has ", decl.nbDims,
                  " dimensions ", toString(decl));
        for (int k = 0; k < decl.nbDims; ++k) {
            GIE_CHECK(shapes[i].d[k] >= 1, ErrorCode::kINVALID_ARGUMENT, "INT8 calibrator: input '", inputs[i]->name_, "' dimension ", k,
                      " of calibration batch ", batchNo, " is ", shapes[i].d[k], "; give every dynamic dimension a size (getBatchShapes, or "
                      "an optimization profile whose opt shapes are the default)");
            GIE_CHECK(k == 0 || decl.d[k] < 0 || shapes[i].d[k] == decl.d[k], ErrorCode::kINVALID_ARGUMENT, "INT8 calibrator: input '",
                      inputs[i]->name_, "' dimension ", k, " of calibration batch ", batchNo, " is ", shapes[i].d[k], " but the network fixes it at ",
                      decl.d[k], " ", toString(decl));
        }
    }
    if (!profiles || profiles->empty()) return;
    auto outside = [&](size_t p, size_t& input, int& dim) {
        for (size_t i = 0; i < inputs.size(); ++i)
            for (int k = 0; k < shapes[i].nbDims; ++k)
                if (shapes[i].d[k] < (*profiles)[p][i].min.d[k] || shapes[i].d[k] > (*profiles)[p][i].max.d[k]) {
                    input = i, dim = k;
                    return true;
                }
        return false;
    };
    size_t input = 0;
    int dim = 0;
    for (size_t p = 0; p < profiles->size(); ++p)
        if (!outside(p, input, dim)) return;
    outside(0, input, dim);
    std::string ranges;
    for (size_t p = 0; p < profiles->size(); ++p)
        ranges += strcat(p ? "; " : "", "profile ", p, ": [", (*profiles)[p][input].min.d[dim], ", ", (*profiles)[p][input].max.d[dim], "]");
    fail(ErrorCode::kINVALID_ARGUMENT, "INT8 calibrator: input '", inputs[input]->name_, "' dimension ", dim, " of calibration batch ", batchNo, " is ",
         shapes[input].d[dim], ", outside every optimization profile (", ranges, "); the inputs of a calibration batch must lie within one profile");
}

double elapsedS(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string secondsText(double s) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f s", s);
    return b;
}

}  // namespace

std::string algorithmName(IInt8Calibrator::Algorithm a, double percentile) {
    switch (a) {
        case IInt8Calibrator::Algorithm::kENTROPY: return "entropy";
        case IInt8Calibrator::Algorithm::kMINMAX: return "minmax";
        case IInt8Calibrator::Algorithm::kPERCENTILE: {
            char b[48];
            std::snprintf(b, sizeof b, "percentile %.10g", percentile);
            return b;
        }
    }
    return "unknown";
}

double entropyAmax(const std::vector<int64_t>& histogram, double binWidth, double maxAbs) {
    const int bins = static_cast<int>(histogram.size());
    if (bins == 0 || binWidth <= 0 || maxAbs <= 0) return std::max(maxAbs, 0.0);
    if (bins <= kQuantLevels) return std::min(bins * binWidth, maxAbs);
    // h[0] counts the exact zeros too (e.g. half of a ReLU's outputs); that spike says nothing about where to clip,
    // so it takes its neighbour's count (as NVIDIA's pytorch-quantization does).
    std::vector<double> h(histogram.begin(), histogram.end());
    h[0] = h[1];
    // Prefix sums over bins: counts, nonzero bins, sum of h log h.
    std::vector<double> H(static_cast<size_t>(bins) + 1, 0), E(static_cast<size_t>(bins) + 1, 0);
    std::vector<int64_t> NZ(static_cast<size_t>(bins) + 1, 0);
    for (int j = 0; j < bins; ++j) {
        const double v = h[static_cast<size_t>(j)];
        H[static_cast<size_t>(j) + 1] = H[static_cast<size_t>(j)] + v;
        NZ[static_cast<size_t>(j) + 1] = NZ[static_cast<size_t>(j)] + (v > 0);
        E[static_cast<size_t>(j) + 1] = E[static_cast<size_t>(j)] + (v > 0 ? v * std::log(v) : 0.0);
    }
    const double total = H[static_cast<size_t>(bins)];
    if (total <= 0) return std::min(binWidth * bins, maxAbs);
    // For a threshold of i bins: P = h[0..i) with the outliers h[i..) added to its last bin; Q = h[0..i) merged
    // into 128 groups (bin j in group j * 128 / i), each group's count spread evenly over its bins where P is
    // nonzero; KL(P || Q) after normalising both. Within a group Q is constant, so
    //   KL = (1/SP) sum_j P_j log P_j - log SP - (1/SP) sum_k PK_k log(G_k / (n_k SQ))
    // (SP, SQ: totals of P and Q; PK_k, G_k: group k's sums of P and of h; n_k: its bins with P_j > 0).
    double best = std::numeric_limits<double>::infinity();
    int bestI = bins;
    for (int i = kQuantLevels; i <= bins; ++i) {
        const double outliers = total - H[static_cast<size_t>(i)];
        const double last = h[static_cast<size_t>(i) - 1], lastP = last + outliers;
        const double SP = total, SQ = H[static_cast<size_t>(i)];
        if (SQ <= 0) continue;
        double kl = E[static_cast<size_t>(i) - 1] + (lastP > 0 ? lastP * std::log(lastP) : 0.0);
        bool infinite = false;
        for (int k = 0; k < kQuantLevels; ++k) {
            const int start = (k * i + kQuantLevels - 1) / kQuantLevels, end = ((k + 1) * i + kQuantLevels - 1) / kQuantLevels;
            double G = H[static_cast<size_t>(end)] - H[static_cast<size_t>(start)];
            double PK = G;
            int64_t n = NZ[static_cast<size_t>(end)] - NZ[static_cast<size_t>(start)];
            if (end == i) {  // the group holding bin i-1, where P has the outliers
                PK += outliers;
                n += (lastP > 0) - (last > 0);
            }
            if (PK <= 0) continue;
            if (G <= 0) {  // P has mass where Q has none
                infinite = true;
                break;
            }
            kl -= PK * std::log(G / (static_cast<double>(n) * SQ));
        }
        if (infinite) continue;
        kl = kl / SP - std::log(SP);
        if (kl <= best) {  // ties: the larger threshold (less clipping)
            best = kl;
            bestI = i;
        }
    }
    return std::min(bestI * binWidth, maxAbs);
}

double percentileAmax(const std::vector<int64_t>& histogram, double binWidth, double maxAbs, double percentile) {
    if (histogram.empty() || binWidth <= 0 || maxAbs <= 0 || percentile >= 100) return std::max(maxAbs, 0.0);
    double total = 0;
    for (int64_t v : histogram) total += static_cast<double>(v);
    const double target = percentile / 100.0 * total;
    double cum = 0;
    for (size_t k = 0; k < histogram.size(); ++k) {
        cum += static_cast<double>(histogram[k]);
        if (cum >= target) return std::min(static_cast<double>(k + 1) * binWidth, maxAbs);  // the bin's upper edge
    }
    return maxAbs;
}

CalibrationResult calibrateNetwork(const INetworkDefinition& network, IInt8Calibrator& calibrator, ILogger* logger, bool keepStatistics,
                                   const std::vector<std::vector<InputRange>>* profiles, DeviceType device) {
    const auto* net = dynamic_cast<const NetworkImpl*>(&network);
    GIE_CHECK(net, ErrorCode::kINVALID_ARGUMENT, "calibration: the network was not created by this library");
    const auto t0 = std::chrono::steady_clock::now();
    CalibrationResult r;
    const AlgorithmChoice choice = algorithmOf(calibrator);
    const std::string& algorithm = choice.name;
    // Batch 1 and the other dynamic dimensions at the sample sizes of network-level shape inference: what identifies the
    // network and its tensors, whatever the profiles or the shapes of the batches.
    net->inferShapes();
    const Graph g1 = lowerForCalibration(*net, inputDimsAt(*net, 1, [&](size_t i, int k) { return seededDims(net->inputs()[i]->dims_, 0).d[k]; }));
    const Fingerprint fp = fingerprintOf(g1);
    const std::vector<std::string> names = observedNames(g1, observedTensors(g1, g1.topologicalOrder()));

    clearLastError();
    size_t cacheSize = 0;
    const void* cache = calibrator.readCalibrationCache(cacheSize);
    checkCalibratorError("readCalibrationCache");
    if (cache && cacheSize > 0) {
        r.calibrated = rangesFromCache(cache, cacheSize, fp, algorithm, names);
        r.fromCache = true;
        logMessage(logger, ILogger::Severity::kINFO, strcat("INT8 calibration: the ranges of ", r.calibrated.size(),
                                                            " tensors were read from the calibration cache (", algorithm, "); calibration skipped"));
    } else {
        clearLastError();
        const int32_t batch = calibrator.getBatchSize();
        checkCalibratorError("getBatchSize");
        GIE_CHECK(batch >= 1, ErrorCode::kINVALID_ARGUMENT, "INT8 calibrator: getBatchSize() returned ", batch, "; it must be at least 1");
        const bool histogram = choice.algorithm != IInt8Calibrator::Algorithm::kMINMAX;
        std::map<std::string, Observer> observers;  // by name: a runner per input-shape set, each with its own tensor ids
        for (const std::string& n : names) observers.emplace(n, Observer(histogram));
        std::vector<std::string> inputNames;
        std::vector<const char*> namePtrs;
        for (const TensorImpl* in : net->inputs()) inputNames.push_back(in->name_);
        for (const auto& n : inputNames) namePtrs.push_back(n.c_str());
        // Dynamic dimensions beyond 0: each batch's shapes come from getBatchShapes (given -1 there: the calibrator's
        // choice; one it leaves takes profile 0's opt), and the network runs at them (a runner per shape set: RunnerCache).
        bool dynamic = false;
        const std::vector<Dims> asked = inputDimsAt(*net, batch, [&](size_t, int) {
            dynamic = true;
            return int64_t{-1};
        });
        RunnerCache runners;
        int runnersBuilt = 0;
        for (;;) {
            std::vector<Dims> shapes = asked;
            if (dynamic) {
                clearLastError();
                const bool ok = calibrator.getBatchShapes(namePtrs.data(), shapes.data(), static_cast<int32_t>(shapes.size()));
                checkCalibratorError(strcat("getBatchShapes (batch ", r.batches + 1, ")").c_str());
                GIE_CHECK(ok, ErrorCode::kINVALID_ARGUMENT, "INT8 calibrator: getBatchShapes (batch ", r.batches + 1, ") failed");
                // A -1 left takes profile 0's opt; without profiles (gie.calibrate), the previous batch's size, so that
                // the call after the last batch (nothing to give shapes of: getBatch says so) does not fail.
                const std::vector<Dims>* defaults = profiles && !profiles->empty() ? nullptr : runners.lastShapes();
                for (size_t i = 0; i < shapes.size() && ((profiles && !profiles->empty()) || defaults); ++i)
                    for (int k = 1; k < shapes[i].nbDims && shapes[i].nbDims == asked[i].nbDims; ++k)
                        if (shapes[i].d[k] == -1 && asked[i].d[k] == -1)
                            shapes[i].d[k] = defaults ? (*defaults)[i].d[k] : (*profiles)[0][i].opt.d[k];
            }
            checkBatchShapes(*net, shapes, profiles, r.batches + 1);
            bool built = false;
            std::string notGpu;
            RunnerCache::Entry& run = runners.get(*net, shapes, device, built, notGpu);
            if (built) {
                if (device == DeviceType::kGPU && !notGpu.empty() && runnersBuilt == 0)  // once, at the first runner
                    logMessage(logger, ILogger::Severity::kWARNING, strcat("INT8 calibration runs on the CPU, not the GPU: ", notGpu));
                r.device = device == DeviceType::kGPU && notGpu.empty() ? DeviceType::kGPU : DeviceType::kCPU;
                ++runnersBuilt;
                std::string text;
                for (const Dims& d : shapes) text += (text.empty() ? "" : ", ") + toString(d);
                logMessage(logger, ILogger::Severity::kVERBOSE, strcat("INT8 calibration: runner ", runnersBuilt, " built, for input shapes ", text));
            }
            FloatRunner* const runner = run.runner.get();
            clearLastError();
            const bool more = calibrator.getBatch(run.bindings.data(), namePtrs.data(), run.descs.data(), static_cast<int32_t>(run.bindings.size()));
            checkCalibratorError(strcat("getBatch (batch ", r.batches + 1, ")").c_str());
            if (!more) break;
            const int32_t b = r.batches;
            const Graph& g = runner->graph();
            runner->run([&](int t, const float* data) {
                const IrTensor& x = g.tensors[static_cast<size_t>(t)];
                observers.at(x.name).observe(data, volume(x.dims), x.name, b);
            });
            ++r.batches;
            logMessage(logger, ILogger::Severity::kVERBOSE, strcat("INT8 calibration: batch ", r.batches, " done"));
        }
        GIE_CHECK(r.batches > 0, ErrorCode::kINVALID_ARGUMENT, "INT8 calibrator: getBatch gave no batch (it returned false at once); calibration "
                  "needs at least one batch of representative inputs");
        const auto a = choice.algorithm;
        std::vector<std::string> order;
        for (const std::string& name : names) {
            const TensorStatistics& s = observers.at(name).stats();
            double amax = s.maxAbs;
            if (a == IInt8Calibrator::Algorithm::kENTROPY) amax = entropyAmax(s.histogram, s.binWidth, s.maxAbs);
            else if (a == IInt8Calibrator::Algorithm::kPERCENTILE) amax = percentileAmax(s.histogram, s.binWidth, s.maxAbs, choice.percentile);
            r.calibrated[name] = static_cast<float>(amax);
            order.push_back(name);
            if (keepStatistics) r.statistics[name] = s;
        }
        const std::string text = formatCache(fp, algorithm, r.calibrated, order);
        clearLastError();
        calibrator.writeCalibrationCache(text.data(), text.size());
        checkCalibratorError("writeCalibrationCache");
        logMessage(logger, ILogger::Severity::kINFO, strcat("INT8 calibration (", algorithm, ") on the ", r.device == DeviceType::kGPU ? "GPU" : "CPU",
                                                            ": ", r.batches, " batches of ", batch, ", ",
                                                            names.size(), " tensors, ", secondsText(elapsedS(t0)), "; cache written (",
                                                            text.size(), " bytes)"));
    }
    r.amax = r.calibrated;
    for (const TensorImpl* in : net->inputs())  // user ranges win
        if (in->rangeSet_) r.amax[in->name_] = in->rangeMax_;
    for (const LayerData* l : net->topologicalOrder())
        for (const TensorImpl* t : l->outputs)
            if (t->rangeSet_) r.amax[t->name_] = t->rangeMax_;
    return r;
}

bool calibrateNetworkNoThrow(const INetworkDefinition& network, IInt8Calibrator& calibrator, ILogger* logger, bool keepStatistics,
                             CalibrationResult* result) noexcept {
    return apiGuard(logger, false, [&] {
        *result = calibrateNetwork(network, calibrator, logger, keepStatistics);
        return true;
    });
}

int applyDynamicRanges(Graph& g, const std::map<std::string, float>& amax) {
    int changed = 0;
    for (IrTensor& t : g.tensors) {
        if (t.dynamicRange >= 0) continue;
        auto it = amax.find(t.name);
        if (it == amax.end() || !(it->second > 0)) continue;
        t.dynamicRange = it->second;
        ++changed;
    }
    return changed;
}

}  // namespace gie
