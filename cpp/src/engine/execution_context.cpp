// An execution context: the activation arena and workspace of one inference stream, the current
// input shapes and the I/O bindings. Output shapes follow input shapes through the kernels' shape rules.
#include <chrono>
#include <cstring>

#include "common/dims.h"
#include "common/error.h"
#include "engine/engine.h"

namespace gie {
namespace {

class ExecutionContextImpl final : public IExecutionContext {
public:
    explicit ExecutionContextImpl(const EngineImpl& e) : engine_(e), plan_(e.plan()) {
        Backend& b = e.backend();
        arena_ = DeviceBuffer(b, plan_.arenaBytes, "the activation arena");
        workspace_ = DeviceBuffer(b, plan_.workspaceBytes, "kernel workspace");
        dims_.resize(plan_.tensors.size());
        for (size_t i = 0; i < plan_.tensors.size(); ++i) dims_[i] = plan_.tensors[i].dims;
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

    const IEngine& getEngine() const noexcept override { return engine_; }

    bool setInputShape(const char* name, const Dims& dims) noexcept override {
        return apiGuard(engine_.logger(), false, [&] {
            int32_t t = ioTensor(name, "setInputShape");
            const auto& et = plan_.tensors[static_cast<size_t>(t)];
            GIE_CHECK(et.kind == TensorKind::kInput, ErrorCode::kINVALID_ARGUMENT, "setInputShape: '", et.name, "' is an output, not an input");
            GIE_CHECK(dims.nbDims == et.dims.nbDims, ErrorCode::kINVALID_ARGUMENT, "input '", et.name, "' has ", et.dims.nbDims,
                      " dimensions ", toString(et.dims), " but ", dims.nbDims, " were given ", toString(dims));
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
            int32_t t = ioTensor(name, "getTensorShape");
            const_cast<ExecutionContextImpl*>(this)->updateShapes();
            return dims_[static_cast<size_t>(t)];
        });
    }

    bool setTensorAddress(const char* name, void* data) noexcept override {
        return apiGuard(engine_.logger(), false, [&] {
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
            run(nullptr);
            engine_.backend().synchronize(nullptr);
            return true;
        });
    }

    bool enqueue(void* stream) noexcept override {
        return apiGuard(engine_.logger(), false, [&] {
            run(stream);
            return true;
        });
    }

    void setProfiler(IProfiler* p) noexcept override { profiler_ = p; }

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
        for (size_t s = 0; s < plan_.steps.size(); ++s) {
            const auto& st = plan_.steps[s];
            std::vector<Dims> in, out(st.outputs.size());
            for (int32_t t : st.inputs) in.push_back(dims_[static_cast<size_t>(t)]);
            if (st.plugin->getOutputDimensions(in.data(), static_cast<int32_t>(in.size()), out.data()) != 0) {
                const char* msg = nullptr;
                getLastError(&msg);
                fail(ErrorCode::kINVALID_ARGUMENT, "kernel '", st.name, "' rejects the current input shapes", msg && *msg ? std::string(": ") + msg : std::string());
            }
            for (size_t i = 0; i < out.size(); ++i) {
                const auto& et = plan_.tensors[static_cast<size_t>(st.outputs[i])];
                GIE_CHECK(volume(out[i]) * dataTypeSize(et.type) <= et.bytes, ErrorCode::kINVALID_ARGUMENT, "tensor '", et.name,
                          "' would be ", toString(out[i]), ", larger than its planned ", toString(et.dims),
                          "; the input shapes are inconsistent (all inputs must share one batch)");
                dims_[static_cast<size_t>(st.outputs[i])] = out[i];
                // A view's parent (e.g. an eliminated concatenation) has no kernel of its own: it follows the batch;
                // so do the slices of a wide output (horizontal fusion).
                if (et.viewOf >= 0 && out[i].nbDims > 0) dims_[static_cast<size_t>(et.viewOf)].d[0] = out[i].d[0];
                for (size_t v = 0; v < plan_.tensors.size(); ++v)
                    if (plan_.tensors[v].viewOf == st.outputs[i] && out[i].nbDims > 0) dims_[v].d[0] = out[i].d[0];
            }
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
        if (et.viewOf >= 0) return static_cast<uint8_t*>(address(et.viewOf)) + et.viewOffset * dataTypeSize(et.type);
        switch (et.kind) {
            case TensorKind::kActivation: return static_cast<uint8_t*>(arena_.get()) + et.offset;
            case TensorKind::kConstant: return const_cast<void*>(engine_.constantData(t));
            default: return bindings_[static_cast<size_t>(t)];
        }
    }

    void run(void* stream) {
        updateShapes();
        for (int32_t t : plan_.inputs)
            GIE_CHECK(bindings_[static_cast<size_t>(t)] || volume(dims_[static_cast<size_t>(t)]) == 0, ErrorCode::kINVALID_ARGUMENT,
                      "input '", plan_.tensors[static_cast<size_t>(t)].name, "' has no memory bound (setTensorAddress)");
        for (int32_t t : plan_.outputs)
            GIE_CHECK(bindings_[static_cast<size_t>(t)] || volume(dims_[static_cast<size_t>(t)]) == 0, ErrorCode::kINVALID_ARGUMENT,
                      "output '", plan_.tensors[static_cast<size_t>(t)].name, "' has no memory bound (setTensorAddress)");
        for (size_t s = 0; s < plan_.steps.size(); ++s) {
            const auto& st = plan_.steps[s];
            auto& c = steps_[s];
            for (size_t i = 0; i < st.inputs.size(); ++i) c.inPtr[i] = address(st.inputs[i]);
            for (size_t i = 0; i < st.outputs.size(); ++i) c.outPtr[i] = address(st.outputs[i]);
            auto t0 = std::chrono::steady_clock::now();
            int32_t rc = st.plugin->enqueue(c.inDesc.data(), c.outDesc.data(), c.inPtr.data(), c.outPtr.data(), workspace_.get(), stream);
            if (rc != 0) {
                const char* msg = nullptr;
                getLastError(&msg);
                fail(ErrorCode::kINTERNAL, "kernel '", st.name, "' (", st.type, ") failed", msg && *msg ? std::string(": ") + msg : std::string());
            }
            if (profiler_) {
                engine_.backend().synchronize(stream);
                auto t1 = std::chrono::steady_clock::now();
                profiler_->reportLayerTime(st.name.c_str(), std::chrono::duration<float, std::milli>(t1 - t0).count());
            }
        }
    }

    const EngineImpl& engine_;
    const EnginePlan& plan_;
    DeviceBuffer arena_, workspace_;
    std::vector<Dims> dims_;
    std::vector<void*> bindings_;
    std::vector<StepCall> steps_;
    bool shapesValid_ = false;
    IProfiler* profiler_ = nullptr;
};

}  // namespace

IExecutionContext* createContext(const EngineImpl& engine) { return new ExecutionContextImpl(engine); }

}  // namespace gie
