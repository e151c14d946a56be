// gie public API: the network definition (layers and tensors).
//
// A network is built layer by layer; every layer is a named op type ("Convolution", "Pooling", ... or
// the type of a registered plugin) plus named fields (its parameters and weights). The typed layer
// classes below are conveniences over those fields. The layer and field vocabulary is listed in
// docs/layers.md. Shapes are explicit: a network input's dimension may be -1 (dynamic); optimization profiles
// (gie/builder.h) give the ranges. Without a profile, dimension 0 of every input follows the builder config's
// batch range (docs/dynamic_shapes_cpp.md).
//
// Ownership: tensors and layers belong to their network and live as long as it does. A network is not
// thread-safe; build different networks on different threads.
#pragma once

#include "gie/plugin.h"

namespace gie {

class ILayer;

class ITensor {
public:
    virtual const char* getName() const noexcept = 0;
    virtual void setName(const char* name) noexcept = 0;
    //! The shape inferred for the declared input shapes (dims with nbDims == -1 if inference failed). A dimension
    //! that follows a dynamic (-1) input dimension is -1: the network evaluates every layer's shape rule at two
    //! assignments of the dynamic input dimensions and reports -1 where the results differ.
    virtual Dims getDimensions() const noexcept = 0;
    virtual DataType getType() const noexcept = 0;
    virtual bool isNetworkInput() const noexcept = 0;
    virtual bool isNetworkOutput() const noexcept = 0;
    //! Quantization range for INT8 (|x| <= max); false if negative.
    virtual bool setDynamicRange(float min, float max) noexcept = 0;
    virtual bool dynamicRangeIsSet() const noexcept = 0;
    virtual float getDynamicRangeMax() const noexcept = 0;
    //! The layer producing this tensor (nullptr for a network input).
    virtual ILayer* getProducer() const noexcept = 0;
    //! Network inputs and outputs: the data type the caller's buffer holds (kFLOAT or kHALF for float
    //! tensors). For an input this is its declared type; for an output the engine converts to it. Returns
    //! false (kINVALID_ARGUMENT) for other tensors or types.
    virtual bool setType(DataType type) noexcept = 0;
    //! Network inputs and outputs: the memory formats the caller's buffer may use, as a bit mask over
    //! TensorFormat (bit 1 << int(format)); the builder picks one of them and the engine reports it
    //! (IEngine::getTensorFormat). Default: kLINEAR only. kNHWC / kHWC8 need a 4-D tensor. Returns false
    //! (kINVALID_ARGUMENT, nothing changed) for other tensors, an empty mask or formats not supported.
    virtual bool setAllowedFormats(uint32_t formats) noexcept = 0;
    virtual uint32_t getAllowedFormats() const noexcept = 0;
    //! True for a shape tensor: a small 1-D (or 0-D) int32/bool tensor whose value is computed on the host from the
    //! input shapes (INetworkDefinition::addShape and ShapeOp layers over it; docs/dynamic_shapes.md "Shape tensors").
    //! getDimensions gives its own shape, (number of values,) or () for a scalar.
    virtual bool isShapeTensor() const noexcept = 0;
    //! A shape tensor's value as the network knows it (-1 where it follows a dynamic input dimension, so -1 is also
    //! what a value that is really -1 reads as); nbDims == -1 for other tensors.
    virtual Dims getShapeValue() const noexcept = 0;

protected:
    virtual ~ITensor() = default;
};

//! Field type for Weights of the given element type.
inline PluginFieldType fieldTypeOf(DataType t) noexcept {
    switch (t) {
        case DataType::kFLOAT: return PluginFieldType::kFLOAT32;
        case DataType::kHALF: return PluginFieldType::kFLOAT16;
        case DataType::kINT8: return PluginFieldType::kINT8;
        case DataType::kINT32: return PluginFieldType::kINT32;
        case DataType::kBOOL: return PluginFieldType::kINT8;
    }
    return PluginFieldType::kUNKNOWN;
}

class ILayer {
public:
    //! The op type, e.g. "Convolution", or a plugin's type name.
    virtual const char* getType() const noexcept = 0;
    virtual const char* getName() const noexcept = 0;
    virtual void setName(const char* name) noexcept = 0;
    virtual int32_t getNbInputs() const noexcept = 0;
    virtual ITensor* getInput(int32_t index) const noexcept = 0;
    virtual bool setInput(int32_t index, ITensor& tensor) noexcept = 0;
    virtual int32_t getNbOutputs() const noexcept = 0;
    virtual ITensor* getOutput(int32_t index) const noexcept = 0;

    //! Pin the precision the layer computes in (kFLOAT, kHALF): the type of its float inputs and outputs. kINT8
    //! pins its float inputs to INT8 (they need dynamic ranges); its outputs follow the consumers unless
    //! setOutputType pins them. Honoured under BuilderFlag::kOBEY_PRECISION_CONSTRAINTS or kPREFER_PRECISION_CONSTRAINTS.
    virtual void setPrecision(DataType type) noexcept = 0;
    virtual DataType getPrecision() const noexcept = 0;
    virtual bool precisionIsSet() const noexcept = 0;
    //! Pin the type of float output `index` (kFLOAT, kHALF or kINT8: that output needs a dynamic range), under the
    //! same flags. False for a bad index or type.
    virtual bool setOutputType(int32_t index, DataType type) noexcept = 0;
    virtual DataType getOutputType(int32_t index) const noexcept = 0;
    virtual bool outputTypeIsSet(int32_t index) const noexcept = 0;

    //! Set (copying the data) or replace a field. Fails for a name the op does not know.
    virtual bool setField(const PluginField& field) noexcept = 0;
    //! The current value of a field, or nullptr if unset. The PluginField stays valid as long as the layer
    //! (its network) lives and always describes the field's current value (length 0, data nullptr once
    //! removed); its `data` is valid until the next setField/removeField on this layer.
    virtual const PluginField* getField(const char* name) const noexcept = 0;
    virtual bool removeField(const char* name) noexcept = 0;
    virtual int32_t getNbFields() const noexcept = 0;
    virtual const PluginField* getFieldAt(int32_t index) const noexcept = 0;

    // Typed conveniences over fields.
    bool setInts(const char* name, const int64_t* v, int64_t n) noexcept {
        PluginField f; f.name = name; f.data = v; f.type = PluginFieldType::kINT64; f.length = n; return setField(f);
    }
    bool setInt(const char* name, int64_t v) noexcept { return setInts(name, &v, 1); }
    bool setDims(const char* name, const Dims& d) noexcept { return setInts(name, d.d, d.nbDims); }
    bool setFloats(const char* name, const float* v, int64_t n) noexcept {
        PluginField f; f.name = name; f.data = v; f.type = PluginFieldType::kFLOAT32; f.length = n; return setField(f);
    }
    bool setFloat(const char* name, float v) noexcept { return setFloats(name, &v, 1); }
    bool setWeights(const char* name, const Weights& w) noexcept {
        PluginField f; f.name = name; f.data = w.values; f.type = fieldTypeOf(w.type); f.length = w.count;
        return setField(f);
    }
    int64_t getInt(const char* name, int64_t fallback) const noexcept {
        const PluginField* f = getField(name);
        if (!f || f->length < 1 || f->type != PluginFieldType::kINT64) return fallback;
        return static_cast<const int64_t*>(f->data)[0];
    }
    float getFloat(const char* name, float fallback) const noexcept {
        const PluginField* f = getField(name);
        if (!f || f->length < 1 || f->type != PluginFieldType::kFLOAT32) return fallback;
        return static_cast<const float*>(f->data)[0];
    }
    Dims getDims(const char* name) const noexcept {
        const PluginField* f = getField(name);
        Dims d;
        if (!f || f->type != PluginFieldType::kINT64 || f->length > Dims::MAX_DIMS) { d.nbDims = -1; return d; }
        return makeDims(static_cast<int32_t>(f->length), static_cast<const int64_t*>(f->data));
    }

protected:
    virtual ~ILayer() = default;
};

// ---- enums used by layer fields (stored as int64 fields) -------------------------------------------

enum class ActivationType : int32_t {
    kRELU = 0, kSIGMOID = 1, kTANH = 2, kLEAKY_RELU = 3 /*alpha*/, kELU = 4 /*alpha*/, kSELU = 5 /*alpha, beta=gamma*/,
    kSOFTSIGN = 6, kSOFTPLUS = 7, kCLIP = 8 /*[alpha, beta]*/, kHARD_SIGMOID = 9 /*alpha*x+beta*/,
    kSCALED_TANH = 10 /*alpha*tanh(beta*x)*/, kTHRESHOLDED_RELU = 11 /*alpha*/, kGELU = 12 /*erf*/,
    kGELU_TANH = 13, kHARD_SWISH = 14, kMISH = 15, kSILU = 16, kRELU6 = 17
};
enum class PoolingType : int32_t { kMAX = 0, kAVERAGE = 1 };
enum class ElementWiseOperation : int32_t {
    kSUM = 0, kPROD = 1, kMAX = 2, kMIN = 3, kSUB = 4, kDIV = 5, kPOW = 6, kFLOOR_DIV = 7,
    kAND = 8, kOR = 9, kXOR = 10, kEQUAL = 11, kGREATER = 12, kLESS = 13, kMOD = 14
};
enum class UnaryOperation : int32_t {
    kEXP = 0, kLOG = 1, kSQRT = 2, kRECIP = 3, kABS = 4, kNEG = 5, kSIN = 6, kCOS = 7, kTAN = 8, kSINH = 9,
    kCOSH = 10, kASIN = 11, kACOS = 12, kATAN = 13, kASINH = 14, kACOSH = 15, kATANH = 16, kCEIL = 17,
    kFLOOR = 18, kERF = 19, kNOT = 20, kSIGN = 21, kROUND = 22
};
enum class ReduceOperation : int32_t { kSUM = 0, kPROD = 1, kMAX = 2, kMIN = 3, kAVG = 4 };
enum class PaddingMode : int32_t { kCONSTANT = 0, kREFLECT = 1, kEDGE = 2 };
enum class ScaleMode : int32_t { kUNIFORM = 0, kCHANNEL = 1, kELEMENTWISE = 2 };
enum class ResizeMode : int32_t { kNEAREST = 0, kLINEAR = 1 };
enum class ResizeCoordinateTransformation : int32_t {
    kHALF_PIXEL = 0, kASYMMETRIC = 1, kALIGN_CORNERS = 2, kPYTORCH_HALF_PIXEL = 3
};
enum class ResizeRoundMode : int32_t { kROUND_PREFER_FLOOR = 0, kROUND_PREFER_CEIL = 1, kFLOOR = 2, kCEIL = 3 };

// ---- typed layers: conveniences over the fields of docs/layers.md ---------------------------------

class IConvolutionLayer : public ILayer {  // "Convolution" and "Deconvolution"
public:
    bool setStride(const Dims& d) noexcept { return setDims("stride", d); }
    Dims getStride() const noexcept { return getDims("stride"); }
    bool setPadding(const Dims& d) noexcept { return setDims("pre_padding", d) && setDims("post_padding", d); }
    bool setPrePadding(const Dims& d) noexcept { return setDims("pre_padding", d); }
    bool setPostPadding(const Dims& d) noexcept { return setDims("post_padding", d); }
    Dims getPrePadding() const noexcept { return getDims("pre_padding"); }
    Dims getPostPadding() const noexcept { return getDims("post_padding"); }
    bool setDilation(const Dims& d) noexcept { return setDims("dilation", d); }
    Dims getDilation() const noexcept { return getDims("dilation"); }
    bool setNbGroups(int64_t g) noexcept { return setInt("num_groups", g); }
    int64_t getNbGroups() const noexcept { return getInt("num_groups", 1); }
    bool setKernelWeights(const Weights& w) noexcept { return setWeights("kernel", w); }
    bool setBiasWeights(const Weights& w) noexcept { return setWeights("bias", w); }
};

class IFullyConnectedLayer : public ILayer {
public:
    bool setKernelWeights(const Weights& w) noexcept { return setWeights("kernel", w); }
    bool setBiasWeights(const Weights& w) noexcept { return setWeights("bias", w); }
};

class IPoolingLayer : public ILayer {
public:
    bool setStride(const Dims& d) noexcept { return setDims("stride", d); }
    Dims getStride() const noexcept { return getDims("stride"); }
    bool setPadding(const Dims& d) noexcept { return setDims("pre_padding", d) && setDims("post_padding", d); }
    bool setPrePadding(const Dims& d) noexcept { return setDims("pre_padding", d); }
    bool setPostPadding(const Dims& d) noexcept { return setDims("post_padding", d); }
    //! Average pooling divides by the number of non-padding elements when true (default true).
    bool setAverageCountExcludesPadding(bool v) noexcept { return setInt("exclude_padding", v ? 1 : 0); }
    bool setCeilMode(bool v) noexcept { return setInt("ceil_mode", v ? 1 : 0); }
};

class IActivationLayer : public ILayer {
public:
    bool setAlpha(float a) noexcept { return setFloat("alpha", a); }
    bool setBeta(float b) noexcept { return setFloat("beta", b); }
};

class ISoftmaxLayer : public ILayer {
public:
    bool setAxis(int64_t axis) noexcept { return setInt("axis", axis); }
    int64_t getAxis() const noexcept { return getInt("axis", 1); }
};

class IConcatenationLayer : public ILayer {
public:
    bool setAxis(int64_t axis) noexcept { return setInt("axis", axis); }
    int64_t getAxis() const noexcept { return getInt("axis", 1); }
};

class IShuffleLayer : public ILayer {
public:
    bool setFirstTranspose(const Dims& perm) noexcept { return setDims("first_transpose", perm); }
    //! 0 copies the input dimension at that index (unless zero_is_placeholder = 0), -1 is inferred.
    bool setReshapeDimensions(const Dims& d) noexcept { return setDims("reshape", d); }
    bool setSecondTranspose(const Dims& perm) noexcept { return setDims("second_transpose", perm); }
    bool setZeroIsPlaceholder(bool v) noexcept { return setInt("zero_is_placeholder", v ? 1 : 0); }
};

class ISliceLayer : public ILayer {
public:
    bool setStart(const Dims& d) noexcept { return setDims("start", d); }
    bool setSize(const Dims& d) noexcept { return setDims("size", d); }
    bool setStride(const Dims& d) noexcept { return setDims("stride", d); }
};

class IReduceLayer : public ILayer {
public:
    bool setKeepDimensions(bool keep) noexcept { return setInt("keep_dims", keep ? 1 : 0); }
};

class IGenericLayer : public ILayer {};

//! A network: layers and tensors. Created by IBuilder::createNetwork().
class INetworkDefinition {
public:
    virtual ~INetworkDefinition() = default;

    //! A network input of 1 to 8 dimensions; each is positive (fixed) or -1 (dynamic: an optimization profile gives
    //! its range, IBuilderConfig::addOptimizationProfile). Without profiles, dimension 0 follows the config's batch
    //! range (its value here, -1 or positive, only seeds shape inference) and the other dimensions must be fixed.
    virtual ITensor* addInput(const char* name, DataType type, const Dims& dims) noexcept = 0;
    virtual bool markOutput(ITensor& tensor) noexcept = 0;
    virtual bool unmarkOutput(ITensor& tensor) noexcept = 0;

    //! Adds a layer of any registered type (built-in or plugin) with the given fields. This is what
    //! parsers use, and what the typed add* functions call.
    virtual ILayer* addLayer(const char* type, ITensor* const* inputs, int32_t nbInputs,
                             const PluginFieldCollection* fields) noexcept = 0;
    //! Adds a user plugin instance (the network keeps a clone). Its type must have a registered creator
    //! for the target device by build time, because engines are deserialized through it.
    virtual ILayer* addPluginLayer(ITensor* const* inputs, int32_t nbInputs, const IPlugin& plugin) noexcept = 0;

    // Typed conveniences (all go through addLayer).
    virtual IConvolutionLayer* addConvolution(ITensor& input, int64_t nbOutputMaps, const Dims& kernelSize,
                                              Weights kernel, Weights bias) noexcept = 0;
    virtual IConvolutionLayer* addDeconvolution(ITensor& input, int64_t nbOutputMaps, const Dims& kernelSize,
                                                Weights kernel, Weights bias) noexcept = 0;
    virtual IFullyConnectedLayer* addFullyConnected(ITensor& input, int64_t nbOutputs, Weights kernel,
                                                    Weights bias) noexcept = 0;
    virtual IGenericLayer* addMatrixMultiply(ITensor& a, bool transposeA, ITensor& b, bool transposeB) noexcept = 0;
    virtual IPoolingLayer* addPooling(ITensor& input, PoolingType type, const Dims& window) noexcept = 0;
    virtual IActivationLayer* addActivation(ITensor& input, ActivationType type) noexcept = 0;
    virtual IGenericLayer* addLRN(ITensor& input, int64_t window, float alpha, float beta, float k) noexcept = 0;
    virtual IGenericLayer* addScale(ITensor& input, ScaleMode mode, Weights shift, Weights scale,
                                    Weights power) noexcept = 0;
    virtual ISoftmaxLayer* addSoftMax(ITensor& input) noexcept = 0;
    virtual IConcatenationLayer* addConcatenation(ITensor* const* inputs, int32_t nbInputs) noexcept = 0;
    virtual IGenericLayer* addElementWise(ITensor& a, ITensor& b, ElementWiseOperation op) noexcept = 0;
    virtual IShuffleLayer* addShuffle(ITensor& input) noexcept = 0;
    virtual IGenericLayer* addUnary(ITensor& input, UnaryOperation op) noexcept = 0;
    virtual IGenericLayer* addPadding(ITensor& input, const Dims& prePadding, const Dims& postPadding) noexcept = 0;
    virtual IReduceLayer* addReduce(ITensor& input, ReduceOperation op, const Dims& axes, bool keepDims) noexcept = 0;
    virtual ISliceLayer* addSlice(ITensor& input, const Dims& start, const Dims& size, const Dims& stride) noexcept = 0;
    virtual IGenericLayer* addResize(ITensor& input, ResizeMode mode, const Dims& outputDims) noexcept = 0;
    virtual IGenericLayer* addConstant(const Dims& dims, Weights weights) noexcept = 0;
    virtual IGenericLayer* addIdentity(ITensor& input) noexcept = 0;
    virtual IGenericLayer* addGather(ITensor& data, ITensor& indices, int64_t axis) noexcept = 0;
    virtual IGenericLayer* addCast(ITensor& input, DataType toType) noexcept = 0;
    //! A ShapeOp layer (op SHAPE) whose output is a shape tensor holding the dimensions of `input` (TensorRT's
    //! addShape). Arithmetic on shape tensors: addLayer("ShapeOp", ...) with the fields of docs/dynamic_shapes.md; layers that
    //! take a shape tensor through ILayer::setInput: Shuffle 1 (reshape), Resize 1 (sizes), Slice 1..3 (start, size,
    //! stride).
    virtual IGenericLayer* addShape(ITensor& input) noexcept = 0;

    virtual int32_t getNbLayers() const noexcept = 0;
    virtual ILayer* getLayer(int32_t index) const noexcept = 0;
    virtual int32_t getNbInputs() const noexcept = 0;
    virtual ITensor* getInput(int32_t index) const noexcept = 0;
    virtual int32_t getNbOutputs() const noexcept = 0;
    virtual ITensor* getOutput(int32_t index) const noexcept = 0;
    //! Removes a layer that no other layer reads from and whose outputs are not marked.
    virtual bool removeLayer(ILayer& layer) noexcept = 0;
};

}  // namespace gie
