// The engine: an immutable plan (tensors, steps with their kernels, memory plan, constants) plus the
// device resources every context shares (initialized kernels, uploaded constants).
#pragma once

#include <memory>
#include <mutex>
#include <functional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "gie/engine.h"
#include "gie/plugin.h"

namespace gie {

enum class TensorKind : uint8_t { kActivation = 0, kInput = 1, kOutput = 2, kConstant = 3 };

struct EngineTensor {
    std::string name;
    Dims dims;  // at the largest batch
    DataType type = DataType::kFLOAT;
    TensorFormat format = TensorFormat::kLINEAR;  // common/format.h; views are always kLINEAR
    float scale = 1.f;                            // INT8 quantization scale (real = scale * q); 1 otherwise
    TensorKind kind = TensorKind::kActivation;
    int64_t offset = -1;   // arena offset (activations)
    int64_t bytes = 0;     // at the largest batch
    int32_t constant = -1; // index into EnginePlan::constants
    int32_t viewOf = -1;   // a view (channel slice) of this tensor, which is never itself a view
    int64_t viewOffset = 0;  // the first channel of the slice (common/dims.h: viewItemOffset gives elements at any shape)
    //! >= 0: not a channel slice but a range view (ir/graph.h IrTensor::viewTail): rows [viewOffset, ...) of `viewOf`, which
    //! a kernel writes whole; the two share their last viewTail dimensions, type and LINEAR layout. Never written by a step.
    int32_t viewTail = -1;
    bool channelSlice() const { return viewOf >= 0 && viewTail < 0; }
    bool rangeView() const { return viewOf >= 0 && viewTail >= 0; }
    //! Written by a ShapeOp step (not serialized: markShapeTensors). `dims` is its own shape, (n,) or (); in the run-time
    //! dims of propagateShapes it holds its value (layers/shape_op.h).
    bool shapeTensor = false;
};

struct EngineStep {
    std::string name;  // kernel name in reports and the profiler
    std::string type;
    std::string version;
    std::string variant;  // the creator's variant (IPluginCreator::getPluginVariant)
    DeviceType device = DeviceType::kCPU;
    std::vector<int32_t> inputs, outputs;
    std::vector<std::string> sourceLayers;
    std::vector<std::string> notes;
    std::string tactic;
    int32_t tacticIndex = 0;
    std::vector<std::pair<std::string, double>> tacticTimes;  // (tactic, ms) measured at build; ms < 0: not timed
    int32_t stream = 0;  // 0: the caller's stream; k > 0: auxiliary stream k (GPU)
    std::unique_ptr<IPlugin> plugin;  // with tactic `tactic`: optimization profile 0's choice
    //! Tactics chosen per optimization profile, where the profiles' fastest differ: each alternate is another instance
    //! of this kernel (same fields, types, formats and ranges: only the tactic differs), and profileKernel[i] says
    //! which instance profile i runs (0: `plugin`, j + 1: alternates[j]). Both empty when every profile runs `plugin`.
    //! An alternate's instance is made by EngineImpl (a clone of `plugin`, configured like it), at build and at load.
    struct Alternate {
        std::string tactic;
        int32_t tacticIndex = 0;
        std::unique_ptr<IPlugin> plugin;
    };
    std::vector<Alternate> alternates;
    std::vector<int32_t> profileKernel;
    //! The instance optimization profile `profile` runs.
    IPlugin& kernelFor(int32_t profile) const {
        const int32_t k = profileKernel.empty() ? 0 : profileKernel[static_cast<size_t>(profile)];
        return k == 0 ? *plugin : *alternates[static_cast<size_t>(k - 1)].plugin;
    }
    //! The tactic optimization profile `profile` runs.
    const std::string& tacticFor(int32_t profile) const {
        const int32_t k = profileKernel.empty() ? 0 : profileKernel[static_cast<size_t>(profile)];
        return k == 0 ? tactic : alternates[static_cast<size_t>(k - 1)].tactic;
    }
};

//! One input's shapes in an optimization profile.
struct InputRange {
    Dims min, opt, max;
    const Dims& at(OptProfileSelector s) const { return s == OptProfileSelector::kMIN ? min : s == OptProfileSelector::kOPT ? opt : max; }
};

struct EnginePlan {
    DeviceType device = DeviceType::kCPU;
    int32_t computeCapability = 0;
    uint64_t flags = 0;
    int64_t minBatch = 1, optBatch = 1, maxBatch = 1;
    std::vector<EngineTensor> tensors;
    std::vector<int32_t> inputs, outputs;
    std::vector<EngineStep> steps;
    std::vector<std::vector<uint8_t>> constants;
    uint64_t arenaBytes = 0, noReuseBytes = 0, lowerBoundBytes = 0, workspaceBytes = 0;
    std::string buildLog;  // pass log, one line per change, for reports
    std::string networkJson;  // the network before optimization (layers and tensors), for reports and drawings
    //! Where the build's time went (phase name, milliseconds; "tactic timings measured" / "... reused" are counts).
    //! Not serialized: a deserialized engine reports none (its file does not change with the build's speed).
    std::vector<std::pair<std::string, double>> buildTimes;
    int32_t layersBefore = 0;
    bool cudaGraph = false;     // contexts replay enqueue as CUDA graphs by default
    int32_t nbStreams = 1;      // 1 + auxiliary streams used by the steps
    int64_t timingBatch = 0;    // batch at which tactics were timed
    //! Optimization profiles (at least one): profiles[i][k] is the range of input inputs[k] in profile i. An engine
    //! built without profiles (or read from a format-3 file) has one, dimension 0 over the batch range.
    std::vector<std::vector<InputRange>> profiles;
    //! Built with optimization profiles: setInputShape checks every dimension against the selected profile. False:
    //! dimension 0 follows the batch range (messages about "batch"), the others are fixed.
    bool explicitShapes = false;
    //! Not serialized. True for a plan from the builder, which configured every kernel (IPlugin::configure
    //! is called once per instance); EngineImpl configures the kernels of a deserialized plan.
    bool kernelsConfigured = false;
};

//! Places the activations of a plan in one arena (offsets, arena/no-reuse/lower-bound bytes). Tensors
//! used by steps that may run concurrently (on different streams) never share memory. activation_plan.cpp.
void planActivations(EnginePlan& p);
//! For every tensor, the steps that write its memory before a reader may use it: its own producer, the
//! producers of its views (an eliminated concatenation) and, for a view, the producer of its parent (a
//! slice of a horizontally fused output). Step indices ascending, no duplicates.
std::vector<std::vector<int>> tensorWriters(const EnginePlan& p);
//! What propagateShapes found wrong: step >= 0 and tensor < 0: that step's kernel rejected its input shapes
//! (message: its last error); tensor >= 0: that output of `step` would be `dims`, more than its planned bytes (or
//! than 2^40 elements, whatever the plan).
struct ShapeIssue {
    int32_t step = -1, tensor = -1;
    Dims dims{};
    std::string message;
    explicit operator bool() const { return step >= 0; }
};
//! Shapes of every tensor: `dims` (one entry per tensor, the inputs' set) receives each step's output shapes
//! in step order; a view's parent (an eliminated concatenation) and the views of an output (slices of a
//! horizontally fused output) follow its shape but for the channel count. Stops at the first issue: a kernel's
//! rule failing, a size beyond the plan (if `checkBytes`), or views that no longer fit (a slice whose channel count
//! changed, slices of one parent at different shapes: tensor >= 0 and a message).
ShapeIssue propagateShapes(const EnginePlan& p, std::vector<Dims>& dims, bool checkBytes);
//! Calls visit(dims of every tensor) at each profile's min, opt and max shapes and, where a profile has at most 4
//! dynamic dimension positions, at the corners of its box (each such position at its min or its max in every input at
//! once: inputs that share a batch or a sequence length stay consistent; a corner the layers refuse, two inputs that
//! must agree but vary apart, is skipped). A min, opt or max evaluation whose shapes cannot be computed calls
//! failed(profile, selector) instead (which may throw) and is skipped.
void forEachProfileShape(const EnginePlan& p, const std::function<void(const std::vector<Dims>&)>& visit,
                         const std::function<void(size_t, OptProfileSelector)>& failed);
//! The shapes each tensor takes over every profile (forEachProfileShape): elementwise min and max, the max never
//! below the planned dims. What configureWithRange tells each kernel, at build and at engine load.
struct TensorRange {
    Dims min, max;
};
std::vector<TensorRange> tensorRanges(const EnginePlan& p);
//! Configures step s's kernel (configureWithRange) for its tensors' planned dims and ranges; returns its result.
int32_t configureStep(const EnginePlan& p, EngineStep& s, const std::vector<TensorRange>& ranges);
//! Configures kernel k, an instance of step s's kernel (one of its alternates), the same way.
int32_t configureKernel(const EnginePlan& p, const EngineStep& s, IPlugin& k, const std::vector<TensorRange>& ranges);
//! Sets EngineTensor::shapeTensor on the outputs of ShapeOp steps.
void markShapeTensors(EnginePlan& p);
//! execution_context.cpp: builder only, make a context ignore the plan's auxiliary streams.
void setContextSerial(IExecutionContext* ctx, bool serial);
//! Bytes of workspace a configured kernel with its tactic set needs: the one figure the builder checks against the
//! workspace limit and the engine allocates (planWorkspace: the largest over the steps and their alternates) at build
//! and at load.
inline uint64_t kernelWorkspace(const IPlugin& k) { return k.getWorkspaceSize(); }
uint64_t planWorkspace(const EnginePlan& p);
//! Number of streams used by the steps (1 + highest aux stream index).
int32_t countStreams(const EnginePlan& p);

//! Serialized engine (IHostMemory).
class HostMemory final : public IHostMemory {
public:
    explicit HostMemory(std::vector<uint8_t> b) : bytes_(std::move(b)) {}
    const void* data() const noexcept override { return bytes_.data(); }
    size_t size() const noexcept override { return bytes_.size(); }

private:
    std::vector<uint8_t> bytes_;
};

class EngineImpl final : public IEngine {
public:
    //! Takes a plan whose kernels are configured; initializes them and uploads constants.
    EngineImpl(EnginePlan plan, ILogger* logger);
    ~EngineImpl() override;

    int32_t getNbIOTensors() const noexcept override;
    const char* getIOTensorName(int32_t index) const noexcept override;
    bool isInput(const char* name) const noexcept override;
    Dims getTensorShape(const char* name) const noexcept override;
    DataType getTensorDataType(const char* name) const noexcept override;
    TensorFormat getTensorFormat(const char* name) const noexcept override;
    int64_t getMinBatch() const noexcept override { return plan_.minBatch; }
    int64_t getMaxBatch() const noexcept override { return plan_.maxBatch; }
    int32_t getNbOptimizationProfiles() const noexcept override { return static_cast<int32_t>(plan_.profiles.size()); }
    Dims getProfileShape(const char* inputName, int32_t profileIndex, OptProfileSelector select) const noexcept override;
    DeviceType getDeviceType() const noexcept override { return plan_.device; }
    int32_t getNbKernels() const noexcept override { return static_cast<int32_t>(plan_.steps.size()); }
    size_t getActivationMemorySize() const noexcept override { return plan_.arenaBytes; }
    IHostMemory* serialize() const noexcept override;
    IExecutionContext* createExecutionContext() noexcept override;
    const char* getLayerInformation() const noexcept override;

    const EnginePlan& plan() const { return plan_; }
    //! Builder only: ends an engine that no context uses any more (its kernels terminated, its constants
    //! freed) and gives its plan back, so that a plan timed as a trial engine can still be changed before
    //! the engine that is returned is constructed from it.
    static EnginePlan takeApart(std::unique_ptr<EngineImpl> engine);
    Backend& backend() const { return *backend_; }
    ILogger* logger() const { return logger_; }
    //! Device pointer of a constant tensor.
    const void* constantData(int32_t tensor) const;
    //! Tensor index of an I/O name, or -1.
    int32_t ioIndex(const char* name) const;

private:
    EnginePlan plan_;
    ILogger* logger_;
    Backend* backend_;
    std::vector<DeviceBuffer> constantBuffers_;
    std::vector<size_t> initialized_;
    std::vector<IPlugin*> initializedAlternates_;  // the steps' alternates (per-profile tactics) initialized so far
    void terminateKernels();
    void writeReport() const;
    mutable std::once_flag reportOnce_;  // getLayerInformation: report_ is written once, under this flag
    mutable std::string report_;
};

//! The single profile of an engine without optimization profiles: dimension 0 of every input over the plan's batch
//! range, the other dimensions as planned.
std::vector<std::vector<InputRange>> batchRangeProfile(const EnginePlan& p);

//! engine_file.cpp
std::vector<uint8_t> serializePlan(const EnginePlan& plan);
//! What the header and the step table of an engine file say, read without creating any kernel.
struct EngineSummary {
    uint32_t formatVersion = 0, libraryVersion = 0;
    DeviceType device = DeviceType::kCPU;
    int32_t computeCapability = 0;
    uint64_t flags = 0;
    int64_t minBatch = 0, optBatch = 0, maxBatch = 0;
    int32_t nbProfiles = 0;
    struct Kernel {
        std::string type, version, variant;
        DeviceType device;
        std::vector<std::string> notes;  // the step's notes (the plugin's origin among them: plugin/registry.h)
        std::string tactic;              // the chosen tactic (its architecture: engine/tactic_architecture.h)
        std::vector<std::string> profileTactics;  // with several optimization profiles: the tactic each runs
    };
    std::vector<Kernel> kernels;
    bool loadable = false;
    std::string reason;
};

//! Validates everything and recreates the kernels through the plugin registry; throws on bad data.
//! With `summary`, fills it in as it reads and creates no kernels (device checks are left to the caller).
EnginePlan deserializePlan(const void* data, size_t size, EngineSummary* summary = nullptr);
//! The summary of an engine file as JSON, including whether (and why not) this process can load it.
GIE_API std::string summarizeEngine(const void* data, size_t size);  // exported for the Python bindings

//! Packed strides of dims in `format` (common/format.h).
TensorDesc makeDesc(const Dims& dims, DataType type, TensorFormat format = TensorFormat::kLINEAR);
//! Bytes of a packed tensor of `dims`, `type` and `format` (padding channels included).
int64_t tensorBytes(const Dims& dims, DataType type, TensorFormat format);
//! Descriptor of tensor t of a plan with the given current dims: packed, except that a view gets its
//! parent's batch stride.
TensorDesc tensorDesc(const EnginePlan& plan, int32_t t, const Dims& dims);

}  // namespace gie
