// The base for every built-in kernel: an IPlugin whose parameters are a FieldMap, whose shape/type
// rules come from an Op class shared by all backends, and whose serialized form is its fields.
//
// A built-in layer is:
//   struct FooOp : OpBase { static constexpr const char* kType = "Foo"; static std::vector<FieldSpec> fieldSpecs();
//                           explicit FooOp(const FieldMap&); void outputDims(...) const; };   // layers/foo.h
//   class FooCpu final : public Kernel<FooCpu, FooOp> { void run(const KernelCall&) const override; };
//   GIE_REGISTER_KERNEL(FooCpu, DeviceType::kCPU);                                             // kernels/foo.cpp
#pragma once

#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "common/dims.h"
#include "common/error.h"
#include "plugin/fields.h"

namespace gie {

//! Defaults for the rules an op may override (non-virtual; Kernel calls them statically).
struct OpBase {
    int nbOutputs() const { return 1; }
    //! Output types: the type of input 0.
    void outputTypes(const std::vector<DataType>& in, std::vector<DataType>& out) const {
        for (auto& t : out) t = in.empty() ? DataType::kFLOAT : in[0];
    }
    //! Default: float32, linear, for every input and output.
    bool supports(int pos, const TensorDesc* inOut, int nbInputs, int nbOutputs) const {
        (void)nbInputs; (void)nbOutputs;
        return inOut[pos].type == DataType::kFLOAT && inOut[pos].format == TensorFormat::kLINEAR;
    }
    //! Float fields that an FP16 kernel stores as half (GEMM operands such as a convolution's kernel); the CPU
    //! reference rounds them to half values when it runs with HALF inputs (plugin/half_storage_cpu.h).
    static std::vector<const char*> halfWeightFields() { return {}; }
    //! Check the number of inputs (throws).
    static void expectInputs(const std::vector<Dims>& in, size_t lo, size_t hi, const char* type) {
        GIE_CHECK(in.size() >= lo && in.size() <= hi, ErrorCode::kINVALID_MODEL, type, " takes ",
                  (lo == hi ? std::to_string(lo) : std::to_string(lo) + ".." + std::to_string(hi)), " inputs, got ", in.size());
    }
};

//! Everything enqueue received, with typed accessors.
struct KernelCall {
    const TensorDesc* inDesc;
    const TensorDesc* outDesc;
    const void* const* inputs;
    void* const* outputs;
    int nbInputs;
    int nbOutputs;
    void* workspace;
    void* stream;
    template <typename T = float>
    const T* in(int i) const { return static_cast<const T*>(inputs[i]); }
    template <typename T = float>
    T* out(int i) const { return static_cast<T*>(outputs[i]); }
    const Dims& inDims(int i) const { return inDesc[i].dims; }
    const Dims& outDims(int i) const { return outDesc[i].dims; }
};

template <typename Self, typename Op>
class Kernel : public IPlugin {
public:
    using OpType = Op;
    explicit Kernel(FieldMap fields) : fields_(std::move(fields)), op_(fields_) {}

    const char* getPluginType() const noexcept override { return Op::kType; }
    const char* getPluginVersion() const noexcept override { return "1"; }
    IPlugin* clone() const noexcept override {
        try {
            return new Self(static_cast<const Self&>(*this));
        } catch (...) {
            recordCurrentException(nullptr);
            return nullptr;
        }
    }
    int32_t getNbOutputs() const noexcept override { return op_.nbOutputs(); }
    int32_t getOutputDimensions(const Dims* inputs, int32_t nbInputs, Dims* outputs) const noexcept override {
        try {
            std::vector<Dims> in(inputs, inputs + nbInputs), out(static_cast<size_t>(op_.nbOutputs()));
            op_.outputDims(in, out);
            for (size_t i = 0; i < out.size(); ++i) {
                checkedVolume(out[i], ErrorCode::kINVALID_MODEL, Op::kType, ": output ", i, " would be");
                outputs[i] = out[i];
            }
            return 0;
        } catch (...) {
            recordCurrentException(nullptr);
            return -1;
        }
    }
    int32_t getOutputDataTypes(const DataType* inputs, int32_t nbInputs, DataType* outputs) const noexcept override {
        try {
            std::vector<DataType> in(inputs, inputs + nbInputs), out(static_cast<size_t>(op_.nbOutputs()));
            op_.outputTypes(in, out);
            for (size_t i = 0; i < out.size(); ++i) outputs[i] = out[i];
            return 0;
        } catch (...) {
            recordCurrentException(nullptr);
            return -1;
        }
    }
    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t nbInputs,
                                   int32_t nbOutputs) const noexcept override {
        return op_.supports(pos, inOut, nbInputs, nbOutputs);
    }
    int32_t enqueue(const TensorDesc* inputDesc, const TensorDesc* outputDesc, const void* const* inputs,
                    void* const* outputs, void* workspace, void* stream) const noexcept override {
        try {
            KernelCall c{inputDesc, outputDesc, inputs, outputs, nbInputs_, op_.nbOutputs(), workspace, stream};
            run(c);
            return 0;
        } catch (...) {
            recordCurrentException(nullptr);
            return -1;
        }
    }
    int32_t configure(const TensorDesc* inputs, int32_t nbInputs, const TensorDesc* outputs,
                      int32_t nbOutputs) noexcept override {
        try {
            nbInputs_ = nbInputs;
            configureKernel(inputs, nbInputs, outputs, nbOutputs);
            return 0;
        } catch (...) {
            recordCurrentException(nullptr);
            return -1;
        }
    }
    int32_t initialize() noexcept override {
        try {
            initializeKernel();
            return 0;
        } catch (...) {
            recordCurrentException(nullptr);
            return -1;
        }
    }
    // No cached copy of the serialized fields: an engine's kernels are shared by threads (an unguarded
    // lazy cache raced), and a cache would double the host memory of the weights.
    size_t getSerializationSize() const noexcept override { return fields_.serializedSize(); }
    void serialize(void* buffer) const noexcept override {
        try {
            const std::vector<uint8_t> s = fields_.serialize();
            if (!s.empty()) std::memcpy(buffer, s.data(), s.size());
        } catch (...) {
            recordCurrentException(nullptr);  // out of memory; the caller's buffer is left as it was
        }
    }

    const FieldMap& fields() const { return fields_; }
    const Op& op() const { return op_; }

protected:
    virtual void run(const KernelCall& c) const = 0;
    //! Override to precompute per-shape state (packed weights, plans). Default: nothing.
    virtual void configureKernel(const TensorDesc*, int32_t, const TensorDesc*, int32_t) {}
    //! Override to acquire device resources (upload weights; GPU kernels). Default: nothing.
    virtual void initializeKernel() {}

    FieldMap fields_;
    Op op_;
    int32_t nbInputs_ = 0;
};

//! A kernel class's variant name: K::kVariant where it declares one, else "" (see IPluginCreator::getPluginVariant).
template <typename K, typename = void>
struct KernelVariant {
    static constexpr const char* value = "";
};
template <typename K>
struct KernelVariant<K, std::void_t<decltype(K::kVariant)>> {
    static constexpr const char* value = K::kVariant;
};

//! Creator for a built-in kernel class K on device D.
template <typename K, DeviceType D>
class BuiltinCreator final : public IPluginCreator {
public:
    using Op = typename K::OpType;
    BuiltinCreator() {
        specs_ = Op::fieldSpecs();
        for (const auto& s : specs_) {
            PluginField f;
            f.name = s.name;
            f.type = s.type;
            views_.push_back(f);
        }
        fc_.nbFields = static_cast<int32_t>(views_.size());
        fc_.fields = views_.data();
    }
    const char* getPluginName() const noexcept override { return Op::kType; }
    const char* getPluginVersion() const noexcept override { return "1"; }
    DeviceType getDeviceType() const noexcept override { return D; }
    const char* getPluginVariant() const noexcept override { return KernelVariant<K>::value; }
    const PluginFieldCollection* getFieldNames() noexcept override { return &fc_; }
    IPlugin* createPlugin(const char* layerName, const PluginFieldCollection* fields) noexcept override {
        return make(layerName, [&] {
            FieldMap f(fields);
            f.validate(specs_, std::string(Op::kType) + " layer");
            return f;
        });
    }
    IPlugin* deserializePlugin(const char* layerName, const void* data, size_t length) noexcept override {
        return make(layerName, [&] {
            return FieldMap::deserialize(data, length, std::string("fields of ") + Op::kType + " kernel '" + (layerName ? layerName : "") + "'");
        });
    }

private:
    template <typename F>
    IPlugin* make(const char* layerName, F&& getFields) noexcept {
        try {
            return new K(getFields());
        } catch (const Error& e) {
            setLastError(e.code(), strcat(Op::kType, " layer '", layerName ? layerName : "", "': ", e.what()));
            return nullptr;
        } catch (...) {
            recordCurrentException(nullptr);
            return nullptr;
        }
    }
    std::vector<FieldSpec> specs_;
    std::vector<PluginField> views_;
    PluginFieldCollection fc_;
};

}  // namespace gie

//! CPU kernels are registered wrapped in HalfStorageCpu (FP16 storage by conversion; half_storage_cpu.h).
#define GIE_REGISTER_KERNEL(KernelClass, Device)                                                                          \
    static ::gie::PluginRegistrar<::gie::BuiltinCreator<typename ::gie::RegisteredKernel<KernelClass, Device>::type, Device>> \
        GIE_PLUGIN_CONCAT(gieKernelRegistrar_, __LINE__) {}

#include "plugin/half_storage_cpu.h"  // IWYU pragma: export (RegisteredKernel, used by GIE_REGISTER_KERNEL)
