// The network definition: layers (op type + fields, or a user plugin instance) and tensors, with shape
// inference through each layer's kernel rules.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gie/network.h"
#include "plugin/fields.h"

namespace gie {

class NetworkImpl;
struct LayerData;

class TensorImpl final : public ITensor {
public:
    TensorImpl(NetworkImpl* net, std::string name) : net_(net), name_(std::move(name)) {}
    const char* getName() const noexcept override { return name_.c_str(); }
    void setName(const char* name) noexcept override;
    Dims getDimensions() const noexcept override;
    DataType getType() const noexcept override;
    bool isNetworkInput() const noexcept override { return isInput_; }
    bool isNetworkOutput() const noexcept override;
    bool setDynamicRange(float min, float max) noexcept override;
    bool dynamicRangeIsSet() const noexcept override { return rangeSet_; }
    float getDynamicRangeMax() const noexcept override { return rangeMax_; }
    ILayer* getProducer() const noexcept override;
    bool setType(DataType type) noexcept override;
    bool setAllowedFormats(uint32_t formats) noexcept override;
    uint32_t getAllowedFormats() const noexcept override { return allowedFormats_; }
    bool isShapeTensor() const noexcept override;
    Dims getShapeValue() const noexcept override;

    NetworkImpl* net_;
    std::string name_;
    Dims dims_;                  // inferred, -1 where it follows a dynamic input dimension (or declared, for inputs)
    DataType type_ = DataType::kFLOAT;
    bool isInput_ = false;
    //! An imported input whose dimension 0 is a symbolic batch that the importer folded shapes at (ONNX): dims_[0] is
    //! the parse-time batch, and an optimization profile may give dimension 0 any range, as if it were -1.
    bool symbolicBatch_ = false;
    LayerData* producer_ = nullptr;
    int producerOutput_ = 0;
    bool rangeSet_ = false;
    float rangeMax_ = 0.f;
    bool ioTypeSet_ = false;     // an output's buffer type (setType); inputs change type_ itself
    DataType ioType_ = DataType::kFLOAT;
    uint32_t allowedFormats_ = 1u << static_cast<int>(TensorFormat::kLINEAR);
    Dims shapeValue_{};          // a shape tensor's value (-1 where it follows a dynamic input dimension)
};

//! State shared by every typed layer implementation.
struct LayerData {
    NetworkImpl* net = nullptr;
    ILayer* self = nullptr;
    std::string type;
    std::string name;
    std::vector<TensorImpl*> inputs;
    std::vector<TensorImpl*> outputs;
    FieldMap fields;
    std::unique_ptr<IPlugin> plugin;   // a user plugin instance (addPluginLayer), else null
    std::unique_ptr<IPlugin> rules;    // cached kernel used for shape/type inference
    bool precisionSet = false;
    DataType precision = DataType::kFLOAT;
    std::vector<std::pair<bool, DataType>> outputTypes;  // setOutputType, per output (set, type)

    //! The plugin that gives this layer's shape/type rules (creating it from the fields if needed).
    IPlugin& rulesPlugin();
};

class NetworkImpl final : public INetworkDefinition {
public:
    NetworkImpl() = default;
    ~NetworkImpl() override;

    ITensor* addInput(const char* name, DataType type, const Dims& dims) noexcept override;
    bool markOutput(ITensor& tensor) noexcept override;
    bool unmarkOutput(ITensor& tensor) noexcept override;
    ILayer* addLayer(const char* type, ITensor* const* inputs, int32_t nbInputs,
                     const PluginFieldCollection* fields) noexcept override;
    ILayer* addPluginLayer(ITensor* const* inputs, int32_t nbInputs, const IPlugin& plugin) noexcept override;

    IConvolutionLayer* addConvolution(ITensor& input, int64_t nbOutputMaps, const Dims& kernelSize, Weights kernel,
                                      Weights bias) noexcept override;
    IConvolutionLayer* addDeconvolution(ITensor& input, int64_t nbOutputMaps, const Dims& kernelSize, Weights kernel,
                                        Weights bias) noexcept override;
    IFullyConnectedLayer* addFullyConnected(ITensor& input, int64_t nbOutputs, Weights kernel, Weights bias) noexcept override;
    IGenericLayer* addMatrixMultiply(ITensor& a, bool transposeA, ITensor& b, bool transposeB) noexcept override;
    IPoolingLayer* addPooling(ITensor& input, PoolingType type, const Dims& window) noexcept override;
    IActivationLayer* addActivation(ITensor& input, ActivationType type) noexcept override;
    IGenericLayer* addLRN(ITensor& input, int64_t window, float alpha, float beta, float k) noexcept override;
    IGenericLayer* addScale(ITensor& input, ScaleMode mode, Weights shift, Weights scale, Weights power) noexcept override;
    ISoftmaxLayer* addSoftMax(ITensor& input) noexcept override;
    IConcatenationLayer* addConcatenation(ITensor* const* inputs, int32_t nbInputs) noexcept override;
    IGenericLayer* addElementWise(ITensor& a, ITensor& b, ElementWiseOperation op) noexcept override;
    IShuffleLayer* addShuffle(ITensor& input) noexcept override;
    IGenericLayer* addUnary(ITensor& input, UnaryOperation op) noexcept override;
    IGenericLayer* addPadding(ITensor& input, const Dims& prePadding, const Dims& postPadding) noexcept override;
    IReduceLayer* addReduce(ITensor& input, ReduceOperation op, const Dims& axes, bool keepDims) noexcept override;
    ISliceLayer* addSlice(ITensor& input, const Dims& start, const Dims& size, const Dims& stride) noexcept override;
    IGenericLayer* addResize(ITensor& input, ResizeMode mode, const Dims& outputDims) noexcept override;
    IGenericLayer* addConstant(const Dims& dims, Weights weights) noexcept override;
    IGenericLayer* addIdentity(ITensor& input) noexcept override;
    IGenericLayer* addGather(ITensor& data, ITensor& indices, int64_t axis) noexcept override;
    IGenericLayer* addCast(ITensor& input, DataType toType) noexcept override;
    IGenericLayer* addShape(ITensor& input) noexcept override;

    int32_t getNbLayers() const noexcept override { return static_cast<int32_t>(layers_.size()); }
    ILayer* getLayer(int32_t index) const noexcept override;
    int32_t getNbInputs() const noexcept override { return static_cast<int32_t>(inputs_.size()); }
    ITensor* getInput(int32_t index) const noexcept override;
    int32_t getNbOutputs() const noexcept override { return static_cast<int32_t>(outputs_.size()); }
    ITensor* getOutput(int32_t index) const noexcept override;
    bool removeLayer(ILayer& layer) noexcept override;

    // ---- internal ----
    //! How much the network holds (layers, tensors, inputs, outputs): an importer that may have to start again
    //! (the ONNX importer's batch path, onnx_parser.cpp) takes a mark first and rolls back to it.
    struct Mark {
        size_t layers, tensors, inputs, outputs;
    };
    Mark mark() const { return {layers_.size(), tensors_.size(), inputs_.size(), outputs_.size()}; }
    //! Drops everything added since `m` was taken. Valid only when nothing before the mark was removed or made an
    //! output since, and no layer before it reads a tensor added after it (an importer only appends).
    void rollback(const Mark& m);
    void markDirty() { dirty_ = true; }
    //! Re-infers every tensor's shape and type if anything changed; throws on failure.
    void inferShapes() const;
    //! Layers in a topological order; throws kINVALID_MODEL on a cycle.
    std::vector<LayerData*> topologicalOrder() const;
    const std::vector<TensorImpl*>& outputs() const { return outputs_; }
    const std::vector<TensorImpl*>& inputs() const { return inputs_; }
    LayerData& data(ILayer& layer) const;
    TensorImpl* own(ITensor* t, const char* what) const;
    //! Throws when a shape tensor feeds an input that does not read shape values, or the reverse.
    void checkShapeInputs(const LayerData& l) const;

private:
    template <typename I>
    I* addTyped(const char* type, const std::vector<ITensor*>& inputs, FieldMap fields,
                std::unique_ptr<IPlugin> plugin = nullptr);

    struct LayerObject {
        virtual ~LayerObject() = default;
    };
    template <typename I>
    class LayerImpl;
    struct LayerHolder {
        std::unique_ptr<LayerData> data;
        std::unique_ptr<LayerObject> object;
    };
    std::vector<LayerHolder> layers_;
    std::vector<std::unique_ptr<TensorImpl>> tensors_;
    std::vector<TensorImpl*> inputs_;
    std::vector<TensorImpl*> outputs_;
    mutable bool dirty_ = true;
    mutable std::string shapeError_;
};

//! `declared` with every -1 replaced by a sample size (seed 0 or 1): dimension k gets the same value in every
//! input (inputs that share a batch or a sequence length agree), values distinct between the seeds and multiples
//! of 32 (space-to-depth and strided layers divide them). Network-level shapes are evaluated at both seeds.
Dims seededDims(const Dims& declared, int seed);

//! Creator for a layer type: the CPU creator if there is one, else any registered device.
IPluginCreator* findCreator(const std::string& type);

}  // namespace gie
