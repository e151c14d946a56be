// An execution context: the activation arena and workspace of one inference stream, the current
// input shapes and the I/O bindings. Output shapes follow input shapes through the kernels' shape rules.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>

#include "common/dims.h"
#include "common/error.h"
#include "engine/engine.h"

namespace gie {
namespace {

//! Marks a context busy for the duration of one call that reads or writes its mutable state (shapes,
//! bindings, step descriptors, the arena, CUDA graphs). A second thread entering meanwhile gets an error
//! instead of racing: two threads on one context corrupted each other's bindings and shapes (wrong results,
//! heap corruption). Erroring rather than serializing keeps TensorRT's contract (one context per thread)
//! visible: a serialized context would silently run one thread's inputs with another's bindings between
//! calls.
class BusyScope {
public:
    BusyScope(std::atomic<bool>& busy, const char* what) : busy_(busy) {
        bool expected = false;
        if (!busy_.compare_exchange_strong(expected, true, std::memory_order_acquire))
            fail(ErrorCode::kINVALID_ARGUMENT, what, ": the execution context is already in use by another thread; use one context ",
                 "per thread (create more with createExecutionContext)");
    }
    ~BusyScope() { busy_.store(false, std::memory_order_release); }
    BusyScope(const BusyScope&) = delete;
    BusyScope& operator=(const BusyScope&) = delete;

private:
    std::atomic<bool>& busy_;
};

class ExecutionContextImpl final : public IExecutionContext {
public:
    explicit ExecutionContextImpl(const EngineImpl& e) : engine_(e), plan_(e.plan()), backend_(e.backend()) {
        Backend& b = e.backend();
        arena_ = DeviceBuffer(b, plan_.arenaBytes, "the activation arena");
        // One workspace per stream: kernels on different streams may run at the same time.
        wsStride_ = (plan_.workspaceBytes + 255) / 256 * 256;
        workspace_ = DeviceBuffer(b, wsStride_ * static_cast<size_t>(plan_.nbStreams), "kernel workspace");
        cudaGraph_ = plan_.cudaGraph;
        try {
            setupStreams();
        } catch (...) {
            releaseStreams();
            throw;
        }
        dims_.resize(plan_.tensors.size());
        for (size_t i = 0; i < plan_.tensors.size(); ++i) dims_[i] = plan_.tensors[i].dims;
        // Profile 0 at its largest shapes (the planned shapes are the largest over every profile).
        for (size_t k = 0; k < plan_.inputs.size(); ++k) dims_[static_cast<size_t>(plan_.inputs[k])] = plan_.profiles[0][k].max;
        bindings_.assign(plan_.tensors.size(), nullptr);
        steps_.resize(plan_.steps.size());
        for (size_t s = 0; s < plan_.steps.size(); ++s) {
            const auto& st = plan_.steps[s];
            auto& c = steps_[s];
            c.inDesc.resize(st.inputs.size());
            c.outDesc.resize(st.outputs.size());
            c.inPtr.resize(st.inputs.size());
            c.outPtr.resize(st.outputs.size());
        }
    }

    ~ExecutionContextImpl() override {
        for (auto& g : graphs_) backend_.destroyGraph(g.second);
        releaseStreams();
    }

    const IEngine& getEngine() const noexcept override { return engine_; }

    // Atomic rather than guarded: these return no status, and launch() reads each once per call.
    void setCudaGraph(bool enabled) noexcept override { cudaGraph_ = enabled && plan_.device == DeviceType::kGPU; }
    bool getCudaGraph() const noexcept override { return cudaGraph_; }

    bool setInputShape(const char* name, const Dims& dims) noexcept override {
        return apiGuard(engine_.logger(), false, [&] {
            BusyScope busy(busy_, "setInputShape");
            int32_t t = ioTensor(name, "setInputShape");
            const auto& et = plan_.tensors[static_cast<size_t>(t)];
            GIE_CHECK(et.kind == TensorKind::kInput, ErrorCode::kINVALID_ARGUMENT, "setInputShape: '", et.name, "' is an output, not an input");
            GIE_CHECK(dims.nbDims == et.dims.nbDims, ErrorCode::kINVALID_ARGUMENT, "input '", et.name, "' has ", et.dims.nbDims,
                      " dimensions ", toString(et.dims), " but ", dims.nbDims, " were given ", toString(dims));
            if (plan_.explicitShapes) {
                const size_t k = static_cast<size_t>(std::find(plan_.inputs.begin(), plan_.inputs.end(), t) - plan_.inputs.begin());
                const InputRange& r = plan_.profiles[static_cast<size_t>(profile_)][k];
                for (int i = 0; i < dims.nbDims; ++i)
                    GIE_CHECK(dims.d[i] >= r.min.d[i] && dims.d[i] <= r.max.d[i], ErrorCode::kINVALID_ARGUMENT, "input '", et.name, "' dimension ", i,
                              " is ", dims.d[i], ", outside optimization profile ", profile_, "'s range [", r.min.d[i], ", ", r.max.d[i], "] (min ",
                              toString(r.min), ", max ", toString(r.max), ")");
                if (dims_[static_cast<size_t>(t)] != dims) {
                    dims_[static_cast<size_t>(t)] = dims;
                    shapesValid_ = false;
                }
                return true;
            }
            for (int i = 1; i < dims.nbDims; ++i)
                GIE_CHECK(dims.d[i] == et.dims.d[i], ErrorCode::kINVALID_ARGUMENT, "input '", et.name, "' must have shape (batch",
                          toString(et.dims).substr(toString(et.dims).find(',')), " but ", toString(dims), " was given (dimension ", i, " differs)");
            GIE_CHECK(dims.d[0] >= plan_.minBatch && dims.d[0] <= plan_.maxBatch, ErrorCode::kINVALID_ARGUMENT, "input '", et.name,
                      "': batch ", dims.d[0], " is outside the engine's batch range [", plan_.minBatch, ", ", plan_.maxBatch, "]");
            if (dims_[static_cast<size_t>(t)] != dims) {
                dims_[static_cast<size_t>(t)] = dims;
                shapesValid_ = false;
            }
            return true;
        });
    }

    Dims getTensorShape(const char* name) const noexcept override {
        Dims bad;
        bad.nbDims = -1;
        return apiGuard(engine_.logger(), bad, [&] {
            BusyScope busy(busy_, "getTensorShape");  // updates the shapes of every tensor
            int32_t t = ioTensor(name, "getTensorShape");
            const_cast<ExecutionContextImpl*>(this)->updateShapes();
            return dims_[static_cast<size_t>(t)];
        });
    }

    bool setTensorAddress(const char* name, void* data) noexcept override {
        return apiGuard(engine_.logger(), false, [&] {
            BusyScope busy(busy_, "setTensorAddress");
            int32_t t = ioTensor(name, "setTensorAddress");
            bindings_[static_cast<size_t>(t)] = data;
            return true;
        });
    }

    void* getTensorAddress(const char* name) const noexcept override {
        int32_t t = engine_.ioIndex(name);
        return t < 0 ? nullptr : bindings_[static_cast<size_t>(t)];
    }

    bool execute() noexcept override {
        return apiGuard(engine_.logger(), false, [&] {
            BusyScope busy(busy_, "execute");
            launch(ownStream_);
            backend_.synchronize(ownStream_);
            return true;
        });
    }

    bool enqueue(void* stream) noexcept override {
        return apiGuard(engine_.logger(), false, [&] {
            BusyScope busy(busy_, "enqueue");
            launch(stream);  // nullptr: CUDA's legacy default stream
            return true;
        });
    }

    void setProfiler(IProfiler* p) noexcept override { profiler_ = p; }

    bool setOptimizationProfile(int32_t index) noexcept override {
        return apiGuard(engine_.logger(), false, [&] {
            BusyScope busy(busy_, "setOptimizationProfile");
            const int32_t n = static_cast<int32_t>(plan_.profiles.size());
            GIE_CHECK(index >= 0 && index < n, ErrorCode::kINVALID_ARGUMENT, "setOptimizationProfile: profile ", index,
                      " does not exist; the engine has ", n, " optimization profile(s) (0..", n - 1, ")");
            profile_ = index;
            for (size_t k = 0; k < plan_.inputs.size(); ++k) {
                Dims& d = dims_[static_cast<size_t>(plan_.inputs[k])];
                const Dims& mx = plan_.profiles[static_cast<size_t>(index)][k].max;
                if (d != mx) {
                    d = mx;
                    shapesValid_ = false;
                }
            }
            return true;
        });
    }
    int32_t getOptimizationProfile() const noexcept override { return profile_; }

private:
    struct StepCall {
        std::vector<TensorDesc> inDesc, outDesc;
        std::vector<const void*> inPtr;
        std::vector<void*> outPtr;
    };

    int32_t ioTensor(const char* name, const char* what) const {
        int32_t t = engine_.ioIndex(name);
        if (t < 0) {
            std::string names;
            for (int32_t i = 0; i < engine_.getNbIOTensors(); ++i) names += (i ? ", " : "") + std::string(engine_.getIOTensorName(i));
            fail(ErrorCode::kINVALID_ARGUMENT, what, ": the engine has no input or output named '", name ? name : "", "' (it has: ", names, ")");
        }
        return t;
    }

    void updateShapes() {
        if (shapesValid_) return;
        if (const ShapeIssue issue = propagateShapes(plan_, dims_, true)) {
            if (issue.tensor >= 0) {
                const auto& et = plan_.tensors[static_cast<size_t>(issue.tensor)];
                if (!issue.message.empty())
                    fail(ErrorCode::kINVALID_ARGUMENT, "tensor '", et.name, "' cannot take the current input shapes: ", issue.message,
                         "; the input shapes are inconsistent");
                fail(ErrorCode::kINVALID_ARGUMENT, "tensor '", et.name, "' would be ", toString(issue.dims), ", larger than its planned ",
                     toString(et.dims), "; the input shapes are inconsistent",
                     plan_.explicitShapes ? std::string(" (inputs whose dimensions must agree do not)") : std::string(" (all inputs must share one batch)"));
            }
            fail(ErrorCode::kINVALID_ARGUMENT, "kernel '", plan_.steps[static_cast<size_t>(issue.step)].name,
                 "' rejects the current input shapes", issue.message.empty() ? std::string() : ": " + issue.message);
        }
        for (size_t s = 0; s < plan_.steps.size(); ++s) {
            const auto& st = plan_.steps[s];
            auto& c = steps_[s];
            for (size_t i = 0; i < st.inputs.size(); ++i) {
                size_t t = static_cast<size_t>(st.inputs[i]);
                c.inDesc[i] = tensorDesc(plan_, static_cast<int32_t>(t), dims_[t]);
            }
            for (size_t i = 0; i < st.outputs.size(); ++i) {
                size_t t = static_cast<size_t>(st.outputs[i]);
                c.outDesc[i] = tensorDesc(plan_, static_cast<int32_t>(t), dims_[t]);
            }
        }
        shapesValid_ = true;
    }

    void* address(int32_t t) {
        const auto& et = plan_.tensors[static_cast<size_t>(t)];
        if (et.viewOf >= 0) {  // the slice's (rows') offset follows the current dimensions
            const Dims& d = dims_[static_cast<size_t>(t)];
            const int64_t elements = et.rangeView() ? rangeViewOffset(d, et.viewTail, et.viewOffset) : viewItemOffset(d, et.viewOffset);
            return static_cast<uint8_t*>(address(et.viewOf)) + elements * dataTypeSize(et.type);
        }
        switch (et.kind) {
            case TensorKind::kActivation: return static_cast<uint8_t*>(arena_.get()) + et.offset;
            case TensorKind::kConstant: return const_cast<void*>(engine_.constantData(t));
            default: return bindings_[static_cast<size_t>(t)];
        }
    }

    void run(void* stream, IProfiler* profiler) {
        updateShapes();
        checkBindings();
        bool multi = plan_.nbStreams > 1 && forceSerial_ == false;
        if (multi) {  // fork: every auxiliary stream starts after what the caller queued before
            backend_.recordEvent(forkEvent_, stream);
            for (void* a : aux_) backend_.waitEvent(a, forkEvent_);
        }
        for (size_t s = 0; s < plan_.steps.size(); ++s) {
            const auto& st = plan_.steps[s];
            auto& c = steps_[s];
            for (size_t i = 0; i < st.inputs.size(); ++i) c.inPtr[i] = address(st.inputs[i]);
            for (size_t i = 0; i < st.outputs.size(); ++i) c.outPtr[i] = address(st.outputs[i]);
            int32_t sid = multi ? st.stream : 0;
            void* sstream = sid == 0 ? stream : aux_[static_cast<size_t>(sid - 1)];
            if (multi)
                for (int w : waits_[s]) backend_.waitEvent(sstream, stepEvents_[static_cast<size_t>(w)]);
            auto t0 = std::chrono::steady_clock::now();
            void* ws = static_cast<uint8_t*>(workspace_.get()) + wsStride_ * static_cast<size_t>(sid);
            int32_t rc = st.kernelFor(profile_).enqueue(c.inDesc.data(), c.outDesc.data(), c.inPtr.data(), c.outPtr.data(), ws, sstream);
            if (rc != 0) {
                const char* msg = nullptr;
                // A kernel that refuses the data it was given (an out-of-range Gather index) is the caller's
                // error, not an internal one: keep its code.
                ErrorCode code = getLastError(&msg);
                fail(code == ErrorCode::kINVALID_ARGUMENT ? code : ErrorCode::kINTERNAL, "kernel '", st.name, "' (", st.type,
                     ") failed", msg && *msg ? std::string(": ") + msg : std::string());
            }
            if (multi && stepEvents_[s]) backend_.recordEvent(stepEvents_[s], sstream);
            if (profiler) {
                backend_.synchronize(sstream);
                auto t1 = std::chrono::steady_clock::now();
                profiler->reportLayerTime(st.name.c_str(), std::chrono::duration<float, std::milli>(t1 - t0).count());
            }
        }
        if (multi)  // join: the caller's stream waits for every auxiliary stream
            for (size_t a = 0; a < aux_.size(); ++a) {
                backend_.recordEvent(joinEvents_[a], aux_[a]);
                backend_.waitEvent(stream, joinEvents_[a]);
            }
    }

    //! run() directly, or through a CUDA graph captured for the current shapes, bindings and optimization profile.
    void launch(void* stream) {
        IProfiler* profiler = profiler_;  // one value for the whole call, whatever another thread sets
        if (!cudaGraph_ || profiler || plan_.device != DeviceType::kGPU) {
            run(stream, profiler);
            return;
        }
        updateShapes();
        std::vector<int64_t> key;
        for (int32_t t : plan_.inputs) {
            const Dims& d = dims_[static_cast<size_t>(t)];
            for (int i = 0; i < d.nbDims; ++i) key.push_back(d.d[i]);
        }
        for (int32_t t : plan_.inputs) key.push_back(reinterpret_cast<int64_t>(bindings_[static_cast<size_t>(t)]));
        for (int32_t t : plan_.outputs) key.push_back(reinterpret_cast<int64_t>(bindings_[static_cast<size_t>(t)]));
        key.push_back(profile_);  // two profiles may admit one shape set and run different tactics at it
        auto it = graphs_.find(key);
        if (it == graphs_.end()) {
            // Validate bindings before capturing (a failure inside a capture would invalidate it).
            checkBindings();
            if (graphs_.size() >= 32) {  // bound the cache: drop everything and start again
                for (auto& g : graphs_) backend_.destroyGraph(g.second);
                graphs_.clear();
            }
            // Capture on the context's own stream (the legacy default stream cannot be captured; capturing
            // executes nothing), then launch on the caller's.
            backend_.beginCapture(ownStream_);
            try {
                run(ownStream_, nullptr);
            } catch (...) {
                try {
                    backend_.destroyGraph(backend_.endCapture(ownStream_));
                } catch (...) {
                }
                throw;
            }
            void* g = backend_.endCapture(ownStream_);
            it = graphs_.emplace(key, g).first;
        }
        backend_.launchGraph(it->second, stream);
    }

    void checkBindings() {
        for (int32_t t : plan_.inputs)
            GIE_CHECK(bindings_[static_cast<size_t>(t)] || volume(dims_[static_cast<size_t>(t)]) == 0, ErrorCode::kINVALID_ARGUMENT,
                      "input '", plan_.tensors[static_cast<size_t>(t)].name, "' has no memory bound (setTensorAddress)");
        for (int32_t t : plan_.outputs)
            GIE_CHECK(bindings_[static_cast<size_t>(t)] || volume(dims_[static_cast<size_t>(t)]) == 0, ErrorCode::kINVALID_ARGUMENT,
                      "output '", plan_.tensors[static_cast<size_t>(t)].name, "' has no memory bound (setTensorAddress)");
    }

    void setupStreams() {
        if (plan_.device != DeviceType::kGPU) return;
        ownStream_ = backend_.createStream();
        if (plan_.nbStreams <= 1) return;
        for (int32_t a = 1; a < plan_.nbStreams; ++a) aux_.push_back(backend_.createStream());
        forkEvent_ = backend_.createEvent(false);
        for (size_t a = 0; a < aux_.size(); ++a) joinEvents_.push_back(backend_.createEvent(false));
        // A step waits for the producers of its inputs that run on other streams (views: all their producers).
        size_t n = plan_.steps.size();
        std::vector<std::vector<int>> writers = tensorWriters(plan_);
        waits_.assign(n, {});
        stepEvents_.assign(n, nullptr);
        for (size_t s = 0; s < n; ++s) {
            std::vector<int> deps;
            for (int32_t t : plan_.steps[s].inputs)
                for (int w : writers[static_cast<size_t>(t)]) deps.push_back(w);
            for (int d : deps) {
                if (plan_.steps[static_cast<size_t>(d)].stream == plan_.steps[s].stream) continue;
                if (std::find(waits_[s].begin(), waits_[s].end(), d) != waits_[s].end()) continue;
                waits_[s].push_back(d);
                if (!stepEvents_[static_cast<size_t>(d)]) stepEvents_[static_cast<size_t>(d)] = backend_.createEvent(false);
            }
        }
    }

    void releaseStreams() {
        for (void* e : stepEvents_) backend_.destroyEvent(e);
        for (void* e : joinEvents_) backend_.destroyEvent(e);
        backend_.destroyEvent(forkEvent_);
        for (void* a : aux_) backend_.destroyStream(a);
        backend_.destroyStream(ownStream_);
        stepEvents_.clear();
        joinEvents_.clear();
        aux_.clear();
        forkEvent_ = ownStream_ = nullptr;
    }

public:
    //! Builder: run every step on the caller's stream even if the plan has auxiliary streams.
    void setForceSerial(bool v) { forceSerial_ = v; }

private:

    const EngineImpl& engine_;
    const EnginePlan& plan_;
    Backend& backend_;
    DeviceBuffer arena_, workspace_;
    size_t wsStride_ = 0;
    std::atomic<bool> cudaGraph_{false};
    bool forceSerial_ = false;
    mutable std::atomic<bool> busy_{false};  // see BusyScope; mutable: getTensorShape updates shapes
    void* ownStream_ = nullptr;  // GPU: execute() runs here; graphs are captured here
    std::vector<void*> aux_, joinEvents_, stepEvents_;
    void* forkEvent_ = nullptr;
    std::vector<std::vector<int>> waits_;
    std::map<std::vector<int64_t>, void*> graphs_;
    std::vector<Dims> dims_;
    std::vector<void*> bindings_;
    std::vector<StepCall> steps_;
    bool shapesValid_ = false;
    int32_t profile_ = 0;  // the optimization profile setInputShape checks against
    std::atomic<IProfiler*> profiler_{nullptr};
};

}  // namespace

IExecutionContext* createContext(const EngineImpl& engine) { return new ExecutionContextImpl(engine); }

void setContextSerial(IExecutionContext* ctx, bool serial) { static_cast<ExecutionContextImpl*>(ctx)->setForceSerial(serial); }

}  // namespace gie
