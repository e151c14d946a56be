// gie public API: the one abstract interface behind every kernel.
//
// Built-in layers and user custom layers are the same thing to gie: an IPlugin made by an IPluginCreator
// that is registered in the process-wide IPluginRegistry. A user plugin library only needs this header
// (and types.h); it registers its creators with GIE_REGISTER_PLUGIN_CREATOR at load time, so that
// `getPluginRegistry()->loadLibrary("libmyplugins.so")` (Python: `gie.load_library(path)`) is all a user
// does before building or deserializing engines that use it.
//
// Exceptions must never leave a plugin method: every method is noexcept; report failure through the
// return value (0 = success for int32_t results) and say why with gie::setLastError(code, message)
// (types.h), which gie puts into the error it reports for the layer.
#pragma once

#include <vector>

#include "gie/types.h"

namespace gie {

//! Types a plugin field may carry.
enum class PluginFieldType : int32_t {
    kFLOAT16 = 0, kFLOAT32 = 1, kFLOAT64 = 2, kINT8 = 3, kINT16 = 4, kINT32 = 5, kINT64 = 6, kCHAR = 7,
    kUNKNOWN = 8
};

//! A named array of values: a layer parameter, weights, or a field a creator understands.
//! For kCHAR the data is a string of `length` bytes (not necessarily NUL-terminated).
struct PluginField {
    const char* name = nullptr;
    const void* data = nullptr;
    PluginFieldType type = PluginFieldType::kUNKNOWN;
    int64_t length = 0;
};

struct PluginFieldCollection {
    int32_t nbFields = 0;
    const PluginField* fields = nullptr;
};

//! Describes one input or output of a kernel at configure/enqueue time.
//! `strides` are in elements per dimension; they equal the packed strides of `dims` unless the builder
//! placed the tensor inside a larger buffer (only for plugins whose supportsStridedOutput() is true).
struct TensorDesc {
    Dims dims;
    DataType type = DataType::kFLOAT;
    TensorFormat format = TensorFormat::kLINEAR;
    float scale = 1.0f;   //!< INT8 quantization scale (real = scale * q); 1 otherwise
    Dims strides;
};

//! One input or output of a kernel together with the range of shapes it takes in the engine (TensorRT's
//! DynamicPluginTensorDesc idea): `desc` is what configure() gets (its dims the planned, largest shape), and
//! every shape enqueue will see lies elementwise within [min, max], over every optimization profile of the
//! engine. For a tensor whose shape never varies, min == max == desc.dims.
struct DynamicTensorDesc {
    TensorDesc desc;
    Dims min;
    Dims max;
};

//! A kernel. Lifetime: made by a creator (createPlugin/deserializePlugin) or clone(); owned by whoever
//! holds it, freed with `delete`.
//!
//! Threading: an engine holds one instance per step (one more, a clone() configured the same way, per other
//! tactic that its optimization profiles chose) and shares it between all of its execution contexts and callers, so `enqueue`, `getSerializationSize` and `serialize` (const; IEngine::serialize
//! and getLayerInformation may run on several threads) may run concurrently and must not modify the
//! plugin; per-call scratch memory comes through `workspace`, which is private to the caller.
//! All other methods are called from one thread at a time during build or engine load.
class IPlugin {
public:
    virtual ~IPlugin() = default;

    //! The type name and version; they must equal those of the creator that makes it.
    virtual const char* getPluginType() const noexcept = 0;
    virtual const char* getPluginVersion() const noexcept = 0;
    virtual IPlugin* clone() const noexcept = 0;

    //! Shape and type rules. Output dims are computed for concrete input dims (dimension 0 is the batch
    //! of the current call); they are called at network construction, at build time for the largest
    //! batch, and again by an execution context whenever its input shapes change. Return 0 on success.
    virtual int32_t getNbOutputs() const noexcept = 0;
    virtual int32_t getOutputDimensions(const Dims* inputs, int32_t nbInputs, Dims* outputs) const noexcept = 0;
    virtual int32_t getOutputDataTypes(const DataType* inputs, int32_t nbInputs, DataType* outputs) const noexcept {
        for (int32_t i = 0; i < getNbOutputs(); ++i) outputs[i] = nbInputs > 0 ? inputs[0] : DataType::kFLOAT;
        return 0;
    }

    //! Whether the (type, format) of inOut[pos] is supported given the already-chosen inOut[0..pos-1].
    //! inOut holds the inputs first, then the outputs.
    virtual bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t nbInputs,
                                           int32_t nbOutputs) const noexcept = 0;
    //! True if the kernel honours strides[0] (the batch stride) of its outputs: the builder may then make
    //! it write straight into a channel slice of a larger buffer (concatenation elimination). The other
    //! strides are always the packed strides of the dims.
    virtual bool supportsStridedOutput() const noexcept { return false; }
    //! Same for inputs: the kernel reads inputs whose strides[0] exceeds the packed batch stride (a
    //! channel slice of a wider tensor, e.g. one output of horizontally fused convolutions).
    virtual bool supportsStridedInput() const noexcept { return false; }

    //! Called once on each instance, before setTactic/initialize, with the chosen types/formats and the
    //! largest shapes: at build on the instance the builder then times and puts into the engine, and at
    //! engine load on each deserialized instance. (Instances made by clone() are configured on their own.)
    virtual int32_t configure(const TensorDesc* inputs, int32_t nbInputs, const TensorDesc* outputs,
                              int32_t nbOutputs) noexcept { (void)inputs; (void)nbInputs; (void)outputs; (void)nbOutputs; return 0; }
    //! The range-aware configure, called instead of configure() wherever gie configures a kernel: the builder and
    //! the engine loader give the min/max over every optimization profile (min, opt, max and, for up to 4 dynamic
    //! dimension positions, the corners of each profile's box); places that configure a kernel for one shape
    //! (constant folding, calibration) give min == max. The default calls configure() with the descs, so plugins
    //! that only override configure() keep working; override this one to see the ranges (e.g. to size tables or
    //! the workspace for max, or choose an algorithm from min). getWorkspaceSize() must then hold for every
    //! shape up to max.
    virtual int32_t configureWithRange(const DynamicTensorDesc* inputs, int32_t nbInputs, const DynamicTensorDesc* outputs,
                                       int32_t nbOutputs) noexcept {
        try {
            std::vector<TensorDesc> in(static_cast<size_t>(nbInputs > 0 ? nbInputs : 0)), out(static_cast<size_t>(nbOutputs > 0 ? nbOutputs : 0));
            for (size_t i = 0; i < in.size(); ++i) in[i] = inputs[i].desc;
            for (size_t i = 0; i < out.size(); ++i) out[i] = outputs[i].desc;
            return configure(in.data(), nbInputs, out.data(), nbOutputs);
        } catch (...) {
            setLastError(ErrorCode::kOUT_OF_MEMORY, "configureWithRange: cannot allocate the descriptors");
            return -1;
        }
    }
    //! Scratch bytes enqueue needs for shapes up to those given to configure (configureWithRange's max).
    virtual size_t getWorkspaceSize() const noexcept { return 0; }

    //! Alternative implementations the builder may time against each other ("tactics").
    virtual int32_t getNbTactics() const noexcept { return 1; }
    virtual const char* getTacticName(int32_t tactic) const noexcept { (void)tactic; return "default"; }
    virtual int32_t setTactic(int32_t tactic) noexcept { return tactic == 0 ? 0 : -1; }
    virtual int32_t getTactic() const noexcept { return 0; }

    //! Acquire / release device resources (e.g. upload weights). initialize runs after configure.
    virtual int32_t initialize() noexcept { return 0; }
    virtual void terminate() noexcept {}

    //! Run the kernel. `stream` is a cudaStream_t for GPU plugins and nullptr for CPU plugins.
    //! inputDesc/outputDesc hold the shapes of this call. Returns 0 on success.
    virtual int32_t enqueue(const TensorDesc* inputDesc, const TensorDesc* outputDesc, const void* const* inputs,
                            void* const* outputs, void* workspace, void* stream) const noexcept = 0;

    //! The plugin's own fields, written into the engine file and handed back to
    //! IPluginCreator::deserializePlugin at load time.
    virtual size_t getSerializationSize() const noexcept = 0;
    virtual void serialize(void* buffer) const noexcept = 0;
};

//! Makes plugins of one type/version for one device.
class IPluginCreator {
public:
    virtual ~IPluginCreator() = default;
    virtual const char* getPluginName() const noexcept = 0;
    virtual const char* getPluginVersion() const noexcept = 0;
    //! kCPU: enqueue gets host pointers; kGPU: device pointers and a CUDA stream.
    virtual DeviceType getDeviceType() const noexcept = 0;
    //! Several creators may serve one (name, version, device), e.g. an FP32 linear convolution and an FP16
    //! HWC8 tensor-core one: each has its own variant name ("" is the default). The builder asks every
    //! variant's plugin which (type, format) combinations it supports and times them; the engine file
    //! records the variant so that loading finds the same creator.
    virtual const char* getPluginVariant() const noexcept { return ""; }
    //! The fields createPlugin understands (data pointers may be null); valid while the creator lives.
    virtual const PluginFieldCollection* getFieldNames() noexcept = 0;
    //! Returns nullptr (after logging why) if the fields are invalid.
    virtual IPlugin* createPlugin(const char* layerName, const PluginFieldCollection* fields) noexcept = 0;
    //! Returns nullptr if the bytes are malformed. Must not trust `length` blindly: check every read.
    virtual IPlugin* deserializePlugin(const char* layerName, const void* data, size_t length) noexcept = 0;
};

//! The process-wide registry of creators. Thread-safe.
class IPluginRegistry {
public:
    //! The registry does not take ownership; the creator must outlive every use (static storage is
    //! typical). Registering a second creator with the same (name, version, device, variant) fails.
    virtual bool registerCreator(IPluginCreator& creator) noexcept = 0;
    virtual bool deregisterCreator(const IPluginCreator& creator) noexcept = 0;
    //! version nullptr or "" means the highest registered version (digit runs compare as numbers, of any
    //! length: "10" > "9").
    //! Among several variants, the default one ("") if registered, else the first registered.
    virtual IPluginCreator* getCreator(const char* name, const char* version, DeviceType device) noexcept = 0;
    //! The creator of exactly this variant (nullptr or "" = the default variant ""), or nullptr.
    virtual IPluginCreator* getCreatorVariant(const char* name, const char* version, DeviceType device, const char* variant) noexcept = 0;
    //! The creators registered at the time of the call. The array is an immutable snapshot owned by the
    //! registry and valid for the life of the process: later calls (from any thread) and (de)registrations
    //! never change or free it. A creator deregistered since then may no longer exist: its owner decides.
    virtual IPluginCreator* const* getAllCreators(int32_t* count) noexcept = 0;
    //! dlopen()s a plugin library whose static initializers register its creators. Returns false (and
    //! records the dlerror text) on failure, and also (kINVALID_ARGUMENT) when no registered creator lives in
    //! the library: it registers nothing. A library whose exported gie_plugin_abi_version() differs from
    //! GIE_PLUGIN_ABI_VERSION, or that exports none (built against a gie before the check), is refused with
    //! kVERSION_MISMATCH naming both versions; its creators are not registered. Libraries are never unloaded.
    virtual bool loadLibrary(const char* path) noexcept = 0;

protected:
    virtual ~IPluginRegistry() = default;
};

GIE_API IPluginRegistry* getPluginRegistry() noexcept;

//! Registers a creator instance with static storage duration when the library holding it is loaded.
template <typename T>
class PluginRegistrar {
public:
    PluginRegistrar() noexcept { getPluginRegistry()->registerCreator(instance); }
    T instance;
};

}  // namespace gie

//! The version of the plugin interface: IPlugin, IPluginCreator, IPluginRegistry, TensorDesc, PluginField and
//! the types they use. It changes whenever a change to them breaks libraries compiled against the old ones.
#define GIE_PLUGIN_ABI_VERSION 2  // 2: IPlugin::configureWithRange (issue 15)

//! Every library that includes this header exports the plugin ABI version and the gie version it was compiled
//! against (weak: one definition per library, whatever the number of files that include this header);
//! IPluginRegistry::loadLibrary reads them before it registers any of the library's creators.
extern "C" __attribute__((visibility("default"), weak)) int32_t gie_plugin_abi_version() noexcept {
    return GIE_PLUGIN_ABI_VERSION;
}
extern "C" __attribute__((visibility("default"), weak)) int32_t gie_plugin_gie_version() noexcept {
    return GIE_VERSION_MAJOR * 10000 + GIE_VERSION_MINOR * 100 + GIE_VERSION_PATCH;
}

#define GIE_PLUGIN_CONCAT_(a, b) a##b
#define GIE_PLUGIN_CONCAT(a, b) GIE_PLUGIN_CONCAT_(a, b)
//! Use once per creator class, at namespace scope in a .cpp file.
#define GIE_REGISTER_PLUGIN_CREATOR(CreatorClass) \
    static ::gie::PluginRegistrar<CreatorClass> GIE_PLUGIN_CONCAT(gieRegistrar_, __LINE__) {}
