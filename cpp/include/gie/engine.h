// gie public API: engines, execution contexts and the runtime that deserializes engines.
#pragma once

#include "gie/types.h"

namespace gie {

//! Bytes owned by gie (a serialized engine). Free with `delete`.
class IHostMemory {
public:
    virtual ~IHostMemory() = default;
    virtual const void* data() const noexcept = 0;
    virtual size_t size() const noexcept = 0;
};

//! Receives per-kernel times from IExecutionContext::execute (host wall time around each kernel).
class IProfiler {
public:
    virtual ~IProfiler() = default;
    virtual void reportLayerTime(const char* kernelName, float milliseconds) noexcept = 0;
};

class IEngine;

//! Per-inference state: activation memory and bindings.
//! Threading: one context is used by one thread at a time; use several contexts of one engine for
//! concurrency (each owns its activation memory). This is enforced, not only documented: a call that reads
//! or writes the context's state (setInputShape, getTensorShape, setTensorAddress, execute, enqueue) while
//! another thread is inside one of them on the same context fails with kINVALID_ARGUMENT ("already in use by
//! another thread") and changes nothing; it never waits. Calls made in turn from different threads are
//! fine, but the shapes and bindings set by one thread are what the next execute runs with, so a thread
//! should own a context from setInputShape to the end of execute. setProfiler and setCudaGraph may be called
//! at any time; a running execute keeps the values it started with. The check covers host calls only: work
//! enqueued on a stream still uses the context's memory until the stream reaches it (see enqueue).
class IExecutionContext {
public:
    virtual ~IExecutionContext() = default;
    virtual const IEngine& getEngine() const noexcept = 0;
    //! Sets the shape of an input for the next calls: the rank and the fixed dimensions must be the engine's, and
    //! each dynamic dimension within the selected optimization profile's [min, max] (for an engine built without
    //! profiles: dimension 0 within the batch range). Returns false (kINVALID_ARGUMENT, naming the input, the
    //! dimension and the range) otherwise.
    virtual bool setInputShape(const char* name, const Dims& dims) noexcept = 0;
    //! Current shape of any I/O tensor (outputs follow the input shapes set).
    virtual Dims getTensorShape(const char* name) const noexcept = 0;
    //! Binds memory for an I/O tensor (host memory for CPU engines, device memory for GPU engines).
    //! The buffer must hold the tensor's current shape, packed, in the engine's data type.
    virtual bool setTensorAddress(const char* name, void* data) noexcept = 0;
    virtual void* getTensorAddress(const char* name) const noexcept = 0;
    //! Runs synchronously. Returns false (with the reason) if a binding is missing or a kernel fails.
    virtual bool execute() noexcept = 0;
    //! Asynchronous on `stream` (a cudaStream_t; nullptr = CUDA's legacy default stream) for GPU engines:
    //! it only launches kernels (no allocation, no host synchronization). CPU engines run synchronously.
    //! One context must not be enqueued on two streams at once (it has one activation arena).
    virtual bool enqueue(void* stream) noexcept = 0;
    //! Not owned; nullptr to disable. Profiling adds a synchronization after each kernel.
    virtual void setProfiler(IProfiler* profiler) noexcept = 0;
    //! GPU: replay enqueue as a CUDA graph captured per (input shapes, bindings). Defaults to the engine's
    //! build setting. A graph is re-captured when shapes, bound addresses or the optimization profile change.
    virtual void setCudaGraph(bool enabled) noexcept = 0;
    virtual bool getCudaGraph() const noexcept = 0;
    //! Selects the optimization profile whose ranges setInputShape checks and whose tactics run (the builder chose
    //! each kernel's tactic per profile), and sets every input to that profile's kMAX shape. A new context has profile 0 at its kMAX shapes. False (kINVALID_ARGUMENT, naming the number of
    //! profiles; nothing changed) for an index out of range.
    virtual bool setOptimizationProfile(int32_t profileIndex) noexcept = 0;
    virtual int32_t getOptimizationProfile() const noexcept = 0;
};

//! An optimized network for one device. Immutable and shareable between threads.
class IEngine {
public:
    virtual ~IEngine() = default;
    virtual int32_t getNbIOTensors() const noexcept = 0;
    //! Inputs first, in the order the network declared them, then the outputs.
    virtual const char* getIOTensorName(int32_t index) const noexcept = 0;
    virtual bool isInput(const char* name) const noexcept = 0;
    //! The planned (largest) shape: the elementwise max over every profile's kMAX shapes for inputs, what follows
    //! from those for outputs (nbDims == -1 for an unknown name). Contexts give the current shapes.
    virtual Dims getTensorShape(const char* name) const noexcept = 0;
    virtual DataType getTensorDataType(const char* name) const noexcept = 0;
    //! The memory format of an I/O tensor's buffer (kLINEAR unless the network allowed others).
    virtual TensorFormat getTensorFormat(const char* name) const noexcept = 0;
    //! The range of dimension 0 over the inputs in profile 0 (the batch range of an engine built without profiles).
    virtual int64_t getMinBatch() const noexcept = 0;
    virtual int64_t getMaxBatch() const noexcept = 0;
    //! Number of optimization profiles (>= 1: an engine built without profiles has one, from its batch range).
    virtual int32_t getNbOptimizationProfiles() const noexcept = 0;
    //! One shape of input `inputName` in profile `profileIndex`; nbDims == -1 (kINVALID_ARGUMENT recorded) for an
    //! unknown input, a profile out of range or a bad selector.
    virtual Dims getProfileShape(const char* inputName, int32_t profileIndex, OptProfileSelector select) const noexcept = 0;
    virtual DeviceType getDeviceType() const noexcept = 0;
    virtual int32_t getNbKernels() const noexcept = 0;
    //! Bytes of activation memory one context allocates (the planned arena).
    virtual size_t getActivationMemorySize() const noexcept = 0;
    virtual IHostMemory* serialize() const noexcept = 0;
    virtual IExecutionContext* createExecutionContext() noexcept = 0;
    //! The build report as a JSON document (kernels, source layers, shapes, memory plan, totals), written
    //! once on first use: every caller, on any thread, gets the same string. Valid while the engine lives.
    virtual const char* getLayerInformation() const noexcept = 0;
};

class INetworkDefinition;

//! Replaces the weights of an engine built with BuilderFlag::kREFIT, keeping every kernel, tactic, format, stream
//! and the memory plan: no tactic is timed again. The result is a new engine; the original is unchanged (engines
//! are immutable and shared: contexts of the original keep running its weights). The new engine's kernels are
//! created, configured and initialized as an engine file's are, so kernels that pre-pack or upload their weights
//! do so for the new values. Not thread-safe; one refitter per thread. docs/tools.md, "Refit".
class IRefitter {
public:
    virtual ~IRefitter() = default;
    //! New values for the FP32 weight field `field` ("kernel", "bias", ... as the layer's kernel names it) of the
    //! kernel built from layer `layerName`. False (with the reason, naming the layer) for an unknown layer or
    //! field, a count that differs from the engine's, a field that is not FP32, or a layer whose weights the
    //! optimizer combined with another layer's (BatchNorm folded into a convolution, merged 1x1 siblings): refit
    //! those with setNetworkWeights.
    virtual bool setWeights(const char* layerName, const char* field, const float* values, int64_t count) noexcept = 0;
    //! Every weight from `network`, which must have the engine's architecture (same layers, names and shapes):
    //! the network is lowered and optimized again (the passes are deterministic) and each kernel takes the
    //! weights of its counterpart, folded weights included. False, naming the layer, on any difference of
    //! structure, shape or type. Weights of user plugin layers are kept as built.
    virtual bool setNetworkWeights(const INetworkDefinition& network) noexcept = 0;
    //! A new engine with the weights set so far (nullptr with the reason). The refitter may be used again.
    virtual IEngine* refitEngine() noexcept = 0;
};

//! nullptr (kINVALID_ARGUMENT, with the reason) if the engine was not built with BuilderFlag::kREFIT.
//! The engine and the logger must outlive the refitter.
GIE_API IRefitter* createRefitter(const IEngine& engine, ILogger& logger) noexcept;

//! Deserializes engines. The logger must outlive the runtime and its engines.
class IRuntime {
public:
    virtual ~IRuntime() = default;
    //! nullptr (with a specific error code and message) if the data is not a valid engine for this
    //! library and machine. The data is copied; the caller keeps ownership.
    virtual IEngine* deserializeEngine(const void* data, size_t size) noexcept = 0;
};

GIE_API IRuntime* createRuntime(ILogger& logger) noexcept;

}  // namespace gie
