// gie public API: builder, builder configuration and the INT8 calibrator interface.
#pragma once

#include "gie/engine.h"
#include "gie/network.h"

namespace gie {

enum class BuilderFlag : int32_t {
    //! Allow FP16 kernels: on the GPU the builder times FP16 and FP32 candidates (and the Reformats each
    //! forces) and keeps the faster; on the CPU, which is the reference for the GPU's FP16 numerics, every
    //! layer that can store FP16 does (compute in FP32, round where a GPU FP16 kernel stores half).
    kFP16 = 0,
    //! Allow INT8 kernels for the tensors that have a dynamic range (ITensor::setDynamicRange, or calibration by the
    //! config's IInt8Calibrator, which the builder runs or whose cache it reads when this flag is set); tensors
    //! without one stay FP32/FP16 (a warning says how many). The CPU reference computes every layer that has an
    //! INT8 kernel in INT8 (convolution, fully connected, pooling, element-wise, concatenation); the GPU times its
    //! INT8 kernels (convolution, pooling, element-wise) against FP32/FP16 like any other candidate. docs/int8.md.
    kINT8 = 1,
    kSTRICT_TYPES = 2,  //!< the older name of kOBEY_PRECISION_CONSTRAINTS (same effect)
    //! GPU FP32: allow tensor-core tactics that keep FP32 accuracy (3xTF32: each operand split into two
    //! TF32 parts, three products accumulated in FP32; tactic names contain "tf32"). Set by default; clear
    //! it for CUDA-core FP32 arithmetic only.
    kTF32 = 3,
    //! ILayer::setPrecision / setOutputType are hard constraints: the build fails, naming the layer, when no
    //! kernel honours them.
    kOBEY_PRECISION_CONSTRAINTS = 4,
    //! ILayer::setPrecision / setOutputType are honoured where some kernel supports them; elsewhere the
    //! builder chooses and logs a warning naming the layer. (With neither flag they are ignored, with a warning.)
    kPREFER_PRECISION_CONSTRAINTS = 5,
    //! Allow IRefitter (gie/engine.h) to replace the engine's weights later without a rebuild.
    kREFIT = 6,
};

//! Supplies representative batches for INT8 calibration and keeps the calibration cache (TensorRT's
//! IInt8Calibrator). With BuilderFlag::kINT8 set and a calibrator given, buildEngine first asks for the cache
//! (readCalibrationCache). Without one it calibrates: it runs the network as defined (before any optimizer
//! pass) in FP32 on the CPU on every batch getBatch supplies, observes every float tensor (max |x| and a
//! histogram of |x|), computes each tensor's range with getAlgorithm(), and hands the new cache (text; see
//! docs/int8.md) to writeCalibrationCache. A cache written for another network (structure or weights) or
//! another algorithm is refused: the build fails saying which. Ranges set with ITensor::setDynamicRange take
//! precedence over calibrated ones.
//!
//! Errors: a method that fails records the reason with gie::setLastError(code, message) and returns false /
//! nullptr / -1; the build then fails with that code and message (getBatch returning false WITHOUT a recorded
//! error means "no more batches"). Methods are called from the thread that builds, one at a time; the
//! calibrator is not owned and must outlive the build.
class IInt8Calibrator {
public:
    enum class Algorithm : int32_t {
        kENTROPY = 0,     //!< the threshold that minimises the KL divergence of the quantized histogram (EntropyCalibrator2)
        kMINMAX = 1,      //!< max |x| over all batches
        kPERCENTILE = 2,  //!< the getPercentile()-th percentile of |x| over all batches
    };
    virtual ~IInt8Calibrator() = default;
    //! Items per batch (dimension 0 of every input in getBatch), >= 1.
    virtual int32_t getBatchSize() const noexcept = 0;
    //! Fills the next batch and returns true, or returns false when there is none left. bindings[i] is host
    //! memory for network input names[i], described by inputs[i]: its dims (dims.d[0] = getBatchSize()) and
    //! type (kFLOAT for float inputs, also those declared kHALF, which calibration computes in FP32; kINT32 /
    //! kBOOL for those), packed in C order (kLINEAR). TensorRT's getBatch has no `inputs`; gie passes them so
    //! that a calibrator can check what it writes.
    virtual bool getBatch(void* const* bindings, const char* const* names, const TensorDesc* inputs, int32_t nbBindings) noexcept = 0;
    //! Networks whose inputs have dynamic dimensions other than dimension 0: the shapes of the next batch, asked before
    //! each getBatch (whose `inputs` then carry them). shapes[i] (input names[i]) comes with dimension 0 =
    //! getBatchSize(), the fixed dimensions, and -1 at every other dynamic dimension: write a size there (a -1 left
    //! takes optimization profile 0's opt; where there are no profiles, as in Python's gie.calibrate, the previous
    //! batch's size). Batches may differ in shape; each must lie within one of the build's optimization profiles
    //! (every input in the same one), else the build fails naming the input, the dimension and the profiles' ranges.
    //! The default leaves the -1s. Return false after gie::setLastError to fail.
    virtual bool getBatchShapes(const char* const* names, Dims* shapes, int32_t nbInputs) noexcept {
        (void)names;
        (void)shapes;
        (void)nbInputs;
        return true;
    }
    //! A cache written earlier by writeCalibrationCache, or nullptr (length 0) to calibrate. The memory must
    //! stay valid until the next call on this calibrator.
    virtual const void* readCalibrationCache(size_t& length) noexcept = 0;
    //! Called after calibrating (not when the ranges came from the cache) with the new cache.
    virtual void writeCalibrationCache(const void* data, size_t length) noexcept = 0;
    virtual Algorithm getAlgorithm() const noexcept = 0;
    //! kPERCENTILE: the percentile of |x| used as the range, 0 < p <= 100.
    virtual double getPercentile() const noexcept { return 99.99; }
};

//! The range of shapes the network's inputs take (TensorRT's IOptimizationProfile): for each input with a dynamic
//! (-1) dimension its smallest (kMIN), typical (kOPT: tactics are timed at profile 0's) and largest (kMAX: memory
//! is planned for the largest over all profiles) shape. Created by IBuilder::createOptimizationProfile and owned
//! by the builder (valid while it lives); IBuilderConfig::addOptimizationProfile copies it. Not thread-safe.
class IOptimizationProfile {
public:
    //! Sets one of the three shapes of input `inputName`. False (kINVALID_ARGUMENT, nothing changed) for a null or
    //! empty name, a selector out of range, nbDims outside 1..8 or a dimension below 1. How the shapes fit the
    //! network (rank, fixed dimensions) is checked by buildEngine, naming the input and the profile.
    virtual bool setDimensions(const char* inputName, OptProfileSelector select, const Dims& dims) noexcept = 0;
    //! The shape set for `inputName`, or nbDims == -1 if none.
    virtual Dims getDimensions(const char* inputName, OptProfileSelector select) const noexcept = 0;
    //! True when the profile names at least one input and each input named has all three shapes, of one rank, with
    //! min <= opt <= max in every dimension. False otherwise, with the reason recorded (getLastError).
    virtual bool isValid() const noexcept = 0;

protected:
    virtual ~IOptimizationProfile() = default;
};

//! The most auxiliary streams an engine may use (stream ids 1..63 besides the caller's stream 0).
constexpr int32_t kMAX_AUX_STREAMS = 63;

//! Build options. Not thread-safe.
class IBuilderConfig {
public:
    virtual ~IBuilderConfig() = default;
    virtual void setDevice(DeviceType device) noexcept = 0;
    virtual DeviceType getDevice() const noexcept = 0;
    virtual void setFlag(BuilderFlag flag) noexcept = 0;
    virtual void clearFlag(BuilderFlag flag) noexcept = 0;
    virtual bool getFlag(BuilderFlag flag) const noexcept = 0;
    //! Batch range on dimension 0 of every input: 1 <= min <= opt <= max. Default 1,1,1.
    virtual bool setBatchRange(int64_t minBatch, int64_t optBatch, int64_t maxBatch) noexcept = 0;
    virtual int64_t getMinBatch() const noexcept = 0;
    virtual int64_t getOptBatch() const noexcept = 0;
    virtual int64_t getMaxBatch() const noexcept = 0;
    //! Upper bound on any one kernel's scratch memory, in bytes (0 = unlimited).
    virtual void setWorkspaceLimit(size_t bytes) noexcept = 0;
    virtual size_t getWorkspaceLimit() const noexcept = 0;
    //! Enable or disable an optimizer pass by name (see docs); unknown names return false.
    virtual bool setPassEnabled(const char* pass, bool enabled) noexcept = 0;
    virtual bool getPassEnabled(const char* pass) const noexcept = 0;
    //! Not owned; must outlive the build.
    virtual void setInt8Calibrator(IInt8Calibrator* calibrator) noexcept = 0;
    virtual IInt8Calibrator* getInt8Calibrator() const noexcept = 0;

    //! GPU: capture each execution context's enqueue as a CUDA graph per input shape and replay it
    //! (stored in the engine; IExecutionContext::setCudaGraph overrides it per context).
    virtual void setCudaGraph(bool enabled) noexcept = 0;
    virtual bool getCudaGraph() const noexcept = 0;
    //! A timing-cache file: read before tactic selection (cached timings are reused instead of measured,
    //! which makes builds fast and deterministic) and rewritten afterwards with every timing. "" = none.
    virtual void setTimingCachePath(const char* path) noexcept = 0;
    virtual const char* getTimingCachePath() const noexcept = 0;
    //! Forces a tactic for kernels whose type or name equals `kernel` (where that kernel offers it).
    //! Tactic selection is skipped for them. Returns false for empty arguments.
    virtual bool setTacticOverride(const char* kernel, const char* tactic) noexcept = 0;
    virtual void clearTacticOverrides() noexcept = 0;
    //! Auxiliary streams for independent branches (GPU): -1 (default) assigns up to 3 and keeps them only
    //! when timing the whole engine shows them faster; 0 disables them; n > 0 uses up to n unconditionally.
    //! n < -1 or n > kMAX_AUX_STREAMS is refused (false, kINVALID_ARGUMENT naming the limit; unchanged).
    virtual bool setMaxAuxStreams(int32_t n) noexcept = 0;
    virtual int32_t getMaxAuxStreams() const noexcept = 0;

    //! Adds a copy of `profile` and returns its index (0, 1, ...): -1 (kINVALID_ARGUMENT) for nullptr, an invalid
    //! profile (IOptimizationProfile::isValid) or more than kMAX_OPTIMIZATION_PROFILES. With profiles, shapes are
    //! explicit: every input with a -1 dimension needs min/opt/max in every profile, and setBatchRange must stay at
    //! its default (use one or the other). docs/dynamic_shapes_cpp.md.
    virtual int32_t addOptimizationProfile(const IOptimizationProfile* profile) noexcept = 0;
    virtual int32_t getNbOptimizationProfiles() const noexcept = 0;
    //! The copy of profile `index` the config holds (valid while the config lives), or nullptr.
    virtual const IOptimizationProfile* getOptimizationProfile(int32_t index) const noexcept = 0;
};

//! Creates networks and configs and builds engines. Thread-safe for building distinct networks.
class IBuilder {
public:
    virtual ~IBuilder() = default;
    virtual INetworkDefinition* createNetwork() noexcept = 0;
    virtual IBuilderConfig* createBuilderConfig() noexcept = 0;
    //! An empty optimization profile, owned by the builder (freed with it; do not delete it).
    virtual IOptimizationProfile* createOptimizationProfile() noexcept = 0;
    //! Optimizes the network for the config's device and returns an engine (nullptr on failure, with
    //! the reason logged and in getLastError()). The network is not modified.
    virtual IEngine* buildEngine(const INetworkDefinition& network, const IBuilderConfig& config) noexcept = 0;
    //! Whether a usable GPU (and CUDA kernels) are present in this process.
    virtual bool platformHasGpu() const noexcept = 0;
};

//! The logger must outlive the builder and everything it creates.
GIE_API IBuilder* createBuilder(ILogger& logger) noexcept;

}  // namespace gie
