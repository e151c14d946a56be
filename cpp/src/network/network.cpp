#include "network/network.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/dims.h"
#include "common/error.h"
#include "layers/shape_op.h"

namespace gie {

IPluginCreator* findCreator(const std::string& type) {
    IPluginRegistry* reg = getPluginRegistry();
    if (IPluginCreator* c = reg->getCreator(type.c_str(), nullptr, DeviceType::kCPU)) return c;
    return reg->getCreator(type.c_str(), nullptr, DeviceType::kAUTO);
}

// ---- LayerImpl ---------------------------------------------------------------------------------------

template <typename I>
class NetworkImpl::LayerImpl final : public I, public NetworkImpl::LayerObject {
public:
    explicit LayerImpl(LayerData* d) : d_(d) { d_->self = this; }
    const char* getType() const noexcept override { return d_->type.c_str(); }
    const char* getName() const noexcept override { return d_->name.c_str(); }
    void setName(const char* name) noexcept override {
        if (name) d_->name = name;
    }
    int32_t getNbInputs() const noexcept override { return static_cast<int32_t>(d_->inputs.size()); }
    ITensor* getInput(int32_t i) const noexcept override {
        return i >= 0 && i < getNbInputs() ? d_->inputs[static_cast<size_t>(i)] : nullptr;
    }
    bool setInput(int32_t i, ITensor& t) noexcept override {
        return apiGuard(nullptr, false, [&] {
            // i == getNbInputs() appends an input, as TensorRT's setInput adds the shape-tensor input of a Shuffle (reshape),
            // Resize (output dims) or Slice (start, size, stride); a layer that then fails shape inference keeps its inputs.
            GIE_CHECK(i >= 0 && i <= getNbInputs(), ErrorCode::kINVALID_ARGUMENT, "layer '", d_->name, "' has no input ", i);
            TensorImpl* owned = d_->net->own(&t, "setInput");
            if (i == getNbInputs()) {
                d_->inputs.push_back(owned);
                d_->net->markDirty();
                try {
                    d_->net->inferShapes();
                } catch (...) {
                    d_->inputs.pop_back();
                    d_->net->markDirty();
                    throw;
                }
                return true;
            }
            d_->inputs[static_cast<size_t>(i)] = owned;
            d_->net->markDirty();
            return true;
        });
    }
    int32_t getNbOutputs() const noexcept override { return static_cast<int32_t>(d_->outputs.size()); }
    ITensor* getOutput(int32_t i) const noexcept override {
        return i >= 0 && i < getNbOutputs() ? d_->outputs[static_cast<size_t>(i)] : nullptr;
    }
    void setPrecision(DataType t) noexcept override {
        d_->precision = t;
        d_->precisionSet = true;
    }
    DataType getPrecision() const noexcept override { return d_->precision; }
    bool precisionIsSet() const noexcept override { return d_->precisionSet; }
    bool setOutputType(int32_t index, DataType t) noexcept override {
        return apiGuard(nullptr, false, [&] {
            GIE_CHECK(index >= 0 && index < static_cast<int32_t>(d_->outputs.size()), ErrorCode::kINVALID_ARGUMENT, "layer '", d_->name,
                      "': setOutputType index ", index, " is out of range (", d_->outputs.size(), " outputs)");
            GIE_CHECK(t == DataType::kFLOAT || t == DataType::kHALF || t == DataType::kINT8, ErrorCode::kINVALID_ARGUMENT, "layer '", d_->name,
                      "': setOutputType takes FLOAT, HALF or INT8, got ", dataTypeName(t));
            d_->outputTypes.resize(d_->outputs.size(), {false, DataType::kFLOAT});
            d_->outputTypes[static_cast<size_t>(index)] = {true, t};
            return true;
        });
    }
    DataType getOutputType(int32_t index) const noexcept override {
        if (index >= 0 && index < static_cast<int32_t>(d_->outputTypes.size()) && d_->outputTypes[static_cast<size_t>(index)].first)
            return d_->outputTypes[static_cast<size_t>(index)].second;
        ITensor* o = index >= 0 && index < static_cast<int32_t>(d_->outputs.size()) ? d_->outputs[static_cast<size_t>(index)] : nullptr;
        return o ? o->getType() : DataType::kFLOAT;
    }
    bool outputTypeIsSet(int32_t index) const noexcept override {
        return index >= 0 && index < static_cast<int32_t>(d_->outputTypes.size()) && d_->outputTypes[static_cast<size_t>(index)].first;
    }
    bool setField(const PluginField& f) noexcept override {
        return apiGuard(nullptr, false, [&] {
            FieldMap updated = d_->fields;
            updated.set(f);
            if (!d_->plugin) {
                // Validate by making the kernel rules with the new fields: a bad value fails here, naming it.
                IPluginCreator* c = findCreator(d_->type);
                GIE_CHECK(c, ErrorCode::kUNSUPPORTED, "layer '", d_->name, "': no creator for type '", d_->type, "'");
                std::unique_ptr<IPlugin> p(c->createPlugin(d_->name.c_str(), updated.collection()));
                if (!p) {
                    const char* msg = nullptr;
                    ErrorCode code = getLastError(&msg);
                    fail(code == ErrorCode::kSUCCESS ? ErrorCode::kINVALID_ARGUMENT : code, msg ? msg : "invalid field");
                }
                d_->rules = std::move(p);
            }
            d_->fields = std::move(updated);
            refreshViews();
            d_->net->markDirty();
            return true;
        });
    }
    const PluginField* getField(const char* name) const noexcept override {
        if (!name) return nullptr;
        if (!d_->fields.find(name)) return nullptr;
        try {
            // One PluginField per field name for the layer's life, refreshed whenever the fields change:
            // a returned pointer stays valid however many fields are read (network.h).
            auto it = views_.find(name);
            if (it == views_.end()) it = views_.emplace(name, PluginField{}).first;
            refreshView(*it);
            return &it->second;
        } catch (...) {
            recordCurrentException(nullptr);
            return nullptr;
        }
    }
    bool removeField(const char* name) noexcept override {
        bool r = name && d_->fields.remove(name);
        if (r) {
            refreshViews();
            d_->rules.reset();
            d_->net->markDirty();
        }
        return r;
    }
    int32_t getNbFields() const noexcept override { return static_cast<int32_t>(d_->fields.size()); }
    const PluginField* getFieldAt(int32_t i) const noexcept override {
        if (i < 0 || i >= getNbFields()) return nullptr;
        return getField(d_->fields.at(static_cast<size_t>(i)).name.c_str());
    }

private:
    void refreshView(std::pair<const std::string, PluginField>& v) const {
        const Field* f = d_->fields.find(v.first);
        v.second = f ? f->view() : PluginField{};  // removed: no data, length 0
        v.second.name = v.first.c_str();
    }
    void refreshViews() const {
        for (auto& v : views_) refreshView(v);
    }
    LayerData* d_;
    mutable std::map<std::string, PluginField> views_;  // std::map: entries never move
};

IPlugin& LayerData::rulesPlugin() {
    if (plugin) return *plugin;
    if (!rules) {
        IPluginCreator* c = findCreator(type);
        GIE_CHECK(c, ErrorCode::kUNSUPPORTED, "layer '", name, "': no kernel or plugin creator is registered for type '", type, "'");
        rules.reset(c->createPlugin(name.c_str(), fields.collection()));
        if (!rules) {
            const char* msg = nullptr;
            ErrorCode code = getLastError(&msg);
            fail(code == ErrorCode::kSUCCESS ? ErrorCode::kINVALID_MODEL : code, msg && *msg ? msg : "cannot create kernel for layer '" + name + "'");
        }
    }
    return *rules;
}

// ---- TensorImpl --------------------------------------------------------------------------------------

void TensorImpl::setName(const char* name) noexcept {
    if (name && *name) name_ = name;
}
bool TensorImpl::isShapeTensor() const noexcept { return producer_ && producer_->type == ShapeOp::kType; }

Dims TensorImpl::getShapeValue() const noexcept {
    Dims d;
    d.nbDims = -1;
    if (!isShapeTensor()) return d;
    try {
        net_->inferShapes();
        return shapeValue_;
    } catch (...) {
        recordCurrentException(nullptr);
        return d;
    }
}

Dims TensorImpl::getDimensions() const noexcept {
    try {
        net_->inferShapes();
        return dims_;
    } catch (...) {
        recordCurrentException(nullptr);
        Dims d;
        d.nbDims = -1;
        return d;
    }
}
DataType TensorImpl::getType() const noexcept {
    try {
        net_->inferShapes();
    } catch (...) {
        recordCurrentException(nullptr);
    }
    return ioTypeSet_ && isNetworkOutput() ? ioType_ : type_;
}
bool TensorImpl::setType(DataType type) noexcept {
    return apiGuard(nullptr, false, [&] {
        const bool output = isNetworkOutput();
        GIE_CHECK(isInput_ || output, ErrorCode::kINVALID_ARGUMENT, "tensor '", name_,
                  "': setType applies to network inputs and outputs (the builder chooses the types of the others)");
        if (isInput_) {
            GIE_CHECK(validDataType(static_cast<int32_t>(type)), ErrorCode::kINVALID_ARGUMENT, "tensor '", name_, "': bad data type");
            type_ = type;
            net_->markDirty();
            return true;
        }
        net_->inferShapes();
        GIE_CHECK((type_ == DataType::kFLOAT || type_ == DataType::kHALF) && (type == DataType::kFLOAT || type == DataType::kHALF),
                  ErrorCode::kINVALID_ARGUMENT, "output '", name_, "' is ", dataTypeName(type_), "; only float outputs may be set to FLOAT or HALF, got ",
                  dataTypeName(type));
        ioTypeSet_ = true;
        ioType_ = type;
        return true;
    });
}

bool TensorImpl::setAllowedFormats(uint32_t formats) noexcept {
    return apiGuard(nullptr, false, [&] {
        GIE_CHECK(isInput_ || isNetworkOutput(), ErrorCode::kINVALID_ARGUMENT, "tensor '", name_,
                  "': allowed formats apply to network inputs and outputs (the builder chooses the formats of the others)");
        const uint32_t known = (1u << static_cast<int>(TensorFormat::kLINEAR)) | (1u << static_cast<int>(TensorFormat::kNHWC)) |
                               (1u << static_cast<int>(TensorFormat::kHWC8));
        GIE_CHECK(formats != 0 && (formats & ~known) == 0, ErrorCode::kINVALID_ARGUMENT, "tensor '", name_, "': allowed formats mask ",
                  formats, " must be a non-empty set of LINEAR (1), NHWC (2) and HWC8 (16)");
        net_->inferShapes();
        GIE_CHECK(formats == (1u << static_cast<int>(TensorFormat::kLINEAR)) || dims_.nbDims == 4, ErrorCode::kINVALID_ARGUMENT, "tensor '",
                  name_, "' has ", dims_.nbDims, " dimensions; NHWC and HWC8 need 4 (N, C, H, W)");
        allowedFormats_ = formats;
        return true;
    });
}

bool TensorImpl::isNetworkOutput() const noexcept {
    const auto& o = net_->outputs();
    return std::find(o.begin(), o.end(), this) != o.end();
}
bool TensorImpl::setDynamicRange(float min, float max) noexcept {
    if (!(min <= 0.f && max >= 0.f && max > min)) {
        setLastError(ErrorCode::kINVALID_ARGUMENT, strcat("tensor '", name_, "': dynamic range [", min, ", ", max, "] must contain 0"));
        return false;
    }
    rangeSet_ = true;
    rangeMax_ = std::max(-min, max);
    return true;
}
ILayer* TensorImpl::getProducer() const noexcept { return producer_ ? producer_->self : nullptr; }

// ---- NetworkImpl -------------------------------------------------------------------------------------

NetworkImpl::~NetworkImpl() = default;

TensorImpl* NetworkImpl::own(ITensor* t, const char* what) const {
    GIE_CHECK(t, ErrorCode::kINVALID_ARGUMENT, what, ": null tensor");
    for (const auto& p : tensors_)
        if (p.get() == t) return p.get();
    fail(ErrorCode::kINVALID_ARGUMENT, what, ": tensor '", t->getName(), "' belongs to another network");
}

LayerData& NetworkImpl::data(ILayer& layer) const {
    for (const auto& h : layers_)
        if (h.data->self == &layer) return *h.data;
    fail(ErrorCode::kINVALID_ARGUMENT, "layer '", layer.getName(), "' belongs to another network");
}

ITensor* NetworkImpl::addInput(const char* name, DataType type, const Dims& dims) noexcept {
    return apiGuard<ITensor*>(nullptr, nullptr, [&]() -> ITensor* {
        GIE_CHECK(name && *name, ErrorCode::kINVALID_ARGUMENT, "addInput: an input needs a name");
        GIE_CHECK(dims.nbDims >= 1 && dims.nbDims <= Dims::MAX_DIMS, ErrorCode::kINVALID_ARGUMENT, "addInput '", name,
                  "': needs 1 to 8 dimensions, got ", dims.nbDims);
        for (int i = 0; i < dims.nbDims; ++i)
            GIE_CHECK(dims.d[i] > 0 || dims.d[i] == -1, ErrorCode::kINVALID_ARGUMENT, "addInput '", name, "': dimension ", i, " is ", dims.d[i],
                      "; a dimension is positive (fixed) or -1 (dynamic)");
        checkedVolume(seededDims(dims, 1), ErrorCode::kINVALID_ARGUMENT, "addInput '", name, "': shape (dynamic dimensions at their sample sizes)");
        GIE_CHECK(validDataType(static_cast<int32_t>(type)), ErrorCode::kINVALID_ARGUMENT, "addInput '", name, "': bad data type");
        for (auto* in : inputs_)
            GIE_CHECK(in->name_ != name, ErrorCode::kINVALID_ARGUMENT, "addInput: an input named '", name, "' exists already");
        auto t = std::make_unique<TensorImpl>(this, name);
        t->dims_ = dims;
        t->type_ = type;
        t->isInput_ = true;
        inputs_.push_back(t.get());
        tensors_.push_back(std::move(t));
        markDirty();
        return inputs_.back();
    });
}

bool NetworkImpl::markOutput(ITensor& tensor) noexcept {
    return apiGuard(nullptr, false, [&] {
        TensorImpl* t = own(&tensor, "markOutput");
        GIE_CHECK(!t->isShapeTensor(), ErrorCode::kUNSUPPORTED, "markOutput: tensor '", t->name_, "' is a shape tensor (its value lives "
                  "on the host) and cannot be a network output");
        if (std::find(outputs_.begin(), outputs_.end(), t) == outputs_.end()) outputs_.push_back(t);
        return true;
    });
}

void NetworkImpl::rollback(const Mark& m) {
    GIE_CHECK(m.layers <= layers_.size() && m.tensors <= tensors_.size() && m.inputs <= inputs_.size() &&
                  m.outputs <= outputs_.size(),
              ErrorCode::kINTERNAL, "network rollback past its current contents");
    outputs_.resize(m.outputs);
    inputs_.resize(m.inputs);
    layers_.resize(m.layers);
    tensors_.resize(m.tensors);
    markDirty();
}

bool NetworkImpl::unmarkOutput(ITensor& tensor) noexcept {
    return apiGuard(nullptr, false, [&] {
        TensorImpl* t = own(&tensor, "unmarkOutput");
        auto it = std::find(outputs_.begin(), outputs_.end(), t);
        GIE_CHECK(it != outputs_.end(), ErrorCode::kINVALID_ARGUMENT, "unmarkOutput: tensor '", t->name_, "' is not an output");
        outputs_.erase(it);
        return true;
    });
}

template <typename I>
I* NetworkImpl::addTyped(const char* type, const std::vector<ITensor*>& inputs, FieldMap fields,
                         std::unique_ptr<IPlugin> plugin) {
    auto d = std::make_unique<LayerData>();
    d->net = this;
    d->type = type;
    // Default names must stay unique after removeLayer / setName (layers_.size() alone can repeat).
    size_t idx = layers_.size();
    auto taken = [&](const std::string& n) {
        for (const auto& h : layers_)
            if (h.data->name == n) return true;
        return false;
    };
    while (taken(strcat(type, "_", idx))) ++idx;
    d->name = strcat(type, "_", idx);
    for (size_t i = 0; i < inputs.size(); ++i) d->inputs.push_back(own(inputs[i], (d->name + " input").c_str()));
    d->fields = std::move(fields);
    d->plugin = std::move(plugin);
    IPlugin& rules = d->rulesPlugin();  // validates the fields now, so a bad layer fails at add time
    int n = rules.getNbOutputs();
    GIE_CHECK(n >= 0 && n <= 1024, ErrorCode::kINVALID_MODEL, "layer '", d->name, "' reports ", n, " outputs");
    for (int i = 0; i < n; ++i) {
        auto t = std::make_unique<TensorImpl>(this, n == 1 ? d->name + "_output" : strcat(d->name, "_output", i));
        t->producer_ = d.get();
        t->producerOutput_ = i;
        d->outputs.push_back(t.get());
        tensors_.push_back(std::move(t));
    }
    auto obj = std::make_unique<LayerImpl<I>>(d.get());
    I* iface = obj.get();
    layers_.push_back(LayerHolder{std::move(d), std::move(obj)});
    markDirty();
    // Shape errors show up now rather than at build time.
    try {
        inferShapes();
    } catch (...) {
        layers_.pop_back();
        for (int i = 0; i < n; ++i) tensors_.pop_back();
        markDirty();
        throw;
    }
    return iface;
}

ILayer* NetworkImpl::addLayer(const char* type, ITensor* const* inputs, int32_t nbInputs,
                              const PluginFieldCollection* fields) noexcept {
    return apiGuard<ILayer*>(nullptr, nullptr, [&]() -> ILayer* {
        GIE_CHECK(type && *type, ErrorCode::kINVALID_ARGUMENT, "addLayer: empty type");
        GIE_CHECK(nbInputs >= 0 && (nbInputs == 0 || inputs), ErrorCode::kINVALID_ARGUMENT, "addLayer '", type, "': bad inputs");
        return addTyped<IGenericLayer>(type, std::vector<ITensor*>(inputs, inputs + nbInputs), FieldMap(fields));
    });
}

ILayer* NetworkImpl::addPluginLayer(ITensor* const* inputs, int32_t nbInputs, const IPlugin& plugin) noexcept {
    return apiGuard<ILayer*>(nullptr, nullptr, [&]() -> ILayer* {
        GIE_CHECK(nbInputs >= 0 && (nbInputs == 0 || inputs), ErrorCode::kINVALID_ARGUMENT, "addPluginLayer: bad inputs");
        std::unique_ptr<IPlugin> p(plugin.clone());
        GIE_CHECK(p, ErrorCode::kINVALID_ARGUMENT, "addPluginLayer: plugin '", plugin.getPluginType(), "' failed to clone");
        const char* type = p->getPluginType();
        GIE_CHECK(type && *type, ErrorCode::kINVALID_ARGUMENT, "addPluginLayer: the plugin has no type name");
        return addTyped<IGenericLayer>(type, std::vector<ITensor*>(inputs, inputs + nbInputs), FieldMap(), std::move(p));
    });
}

namespace {
void setWeightsField(FieldMap& f, const char* name, const Weights& w, bool required) {
    if (w.count == 0 && !required) return;
    GIE_CHECK(w.count >= 0 && (w.count == 0 || w.values), ErrorCode::kINVALID_ARGUMENT, "weights '", name, "' have ",
              w.count, " values but a null pointer");
    PluginField pf;
    pf.name = name;
    pf.data = w.values;
    pf.type = fieldTypeOf(w.type);
    pf.length = w.count;
    f.set(pf);
}
std::vector<int64_t> vec(const Dims& d) {
    GIE_CHECK(d.nbDims >= 0 && d.nbDims <= Dims::MAX_DIMS, ErrorCode::kINVALID_ARGUMENT, "bad Dims (nbDims = ", d.nbDims, ")");
    return toVector(d);
}
}  // namespace

#define GIE_ADD(I, expr) return apiGuard<I*>(nullptr, nullptr, [&]() -> I* { expr })

IConvolutionLayer* NetworkImpl::addConvolution(ITensor& input, int64_t k, const Dims& ks, Weights kernel, Weights bias) noexcept {
    GIE_ADD(IConvolutionLayer, {
        FieldMap f;
        f.setInt("num_output_maps", k);
        f.setInts("kernel_size", vec(ks));
        setWeightsField(f, "kernel", kernel, true);
        setWeightsField(f, "bias", bias, false);
        return addTyped<IConvolutionLayer>("Convolution", {&input}, std::move(f));
    });
}
IConvolutionLayer* NetworkImpl::addDeconvolution(ITensor& input, int64_t k, const Dims& ks, Weights kernel, Weights bias) noexcept {
    GIE_ADD(IConvolutionLayer, {
        FieldMap f;
        f.setInt("num_output_maps", k);
        f.setInts("kernel_size", vec(ks));
        setWeightsField(f, "kernel", kernel, true);
        setWeightsField(f, "bias", bias, false);
        return addTyped<IConvolutionLayer>("Deconvolution", {&input}, std::move(f));
    });
}
IFullyConnectedLayer* NetworkImpl::addFullyConnected(ITensor& input, int64_t n, Weights kernel, Weights bias) noexcept {
    GIE_ADD(IFullyConnectedLayer, {
        FieldMap f;
        f.setInt("num_outputs", n);
        setWeightsField(f, "kernel", kernel, true);
        setWeightsField(f, "bias", bias, false);
        return addTyped<IFullyConnectedLayer>("FullyConnected", {&input}, std::move(f));
    });
}
IGenericLayer* NetworkImpl::addMatrixMultiply(ITensor& a, bool ta, ITensor& b, bool tb) noexcept {
    GIE_ADD(IGenericLayer, {
        FieldMap f;
        f.setInt("transpose_a", ta);
        f.setInt("transpose_b", tb);
        return addTyped<IGenericLayer>("MatrixMultiply", {&a, &b}, std::move(f));
    });
}
IPoolingLayer* NetworkImpl::addPooling(ITensor& input, PoolingType type, const Dims& window) noexcept {
    GIE_ADD(IPoolingLayer, {
        FieldMap f;
        f.setInt("pooling_type", static_cast<int64_t>(type));
        f.setInts("window_size", vec(window));
        return addTyped<IPoolingLayer>("Pooling", {&input}, std::move(f));
    });
}
IActivationLayer* NetworkImpl::addActivation(ITensor& input, ActivationType type) noexcept {
    GIE_ADD(IActivationLayer, {
        FieldMap f;
        f.setInt("activation_type", static_cast<int64_t>(type));
        return addTyped<IActivationLayer>("Activation", {&input}, std::move(f));
    });
}
IGenericLayer* NetworkImpl::addLRN(ITensor& input, int64_t window, float alpha, float beta, float k) noexcept {
    GIE_ADD(IGenericLayer, {
        FieldMap f;
        f.setInt("window_size", window);
        f.setFloat("alpha", alpha);
        f.setFloat("beta", beta);
        f.setFloat("k", k);
        return addTyped<IGenericLayer>("LRN", {&input}, std::move(f));
    });
}
IGenericLayer* NetworkImpl::addScale(ITensor& input, ScaleMode mode, Weights shift, Weights scale, Weights power) noexcept {
    GIE_ADD(IGenericLayer, {
        FieldMap f;
        f.setInt("mode", static_cast<int64_t>(mode));
        setWeightsField(f, "shift", shift, false);
        setWeightsField(f, "scale", scale, false);
        setWeightsField(f, "power", power, false);
        return addTyped<IGenericLayer>("Scale", {&input}, std::move(f));
    });
}
ISoftmaxLayer* NetworkImpl::addSoftMax(ITensor& input) noexcept {
    GIE_ADD(ISoftmaxLayer, { return addTyped<ISoftmaxLayer>("Softmax", {&input}, FieldMap()); });
}
IConcatenationLayer* NetworkImpl::addConcatenation(ITensor* const* inputs, int32_t n) noexcept {
    GIE_ADD(IConcatenationLayer, {
        GIE_CHECK(n >= 1 && inputs, ErrorCode::kINVALID_ARGUMENT, "addConcatenation: needs at least one input");
        return addTyped<IConcatenationLayer>("Concatenation", std::vector<ITensor*>(inputs, inputs + n), FieldMap());
    });
}
IGenericLayer* NetworkImpl::addElementWise(ITensor& a, ITensor& b, ElementWiseOperation op) noexcept {
    GIE_ADD(IGenericLayer, {
        FieldMap f;
        f.setInt("op", static_cast<int64_t>(op));
        return addTyped<IGenericLayer>("ElementWise", {&a, &b}, std::move(f));
    });
}
IShuffleLayer* NetworkImpl::addShuffle(ITensor& input) noexcept {
    GIE_ADD(IShuffleLayer, { return addTyped<IShuffleLayer>("Shuffle", {&input}, FieldMap()); });
}
IGenericLayer* NetworkImpl::addUnary(ITensor& input, UnaryOperation op) noexcept {
    GIE_ADD(IGenericLayer, {
        FieldMap f;
        f.setInt("op", static_cast<int64_t>(op));
        return addTyped<IGenericLayer>("Unary", {&input}, std::move(f));
    });
}
IGenericLayer* NetworkImpl::addPadding(ITensor& input, const Dims& pre, const Dims& post) noexcept {
    GIE_ADD(IGenericLayer, {
        FieldMap f;
        f.setInts("pre_padding", vec(pre));
        f.setInts("post_padding", vec(post));
        return addTyped<IGenericLayer>("Padding", {&input}, std::move(f));
    });
}
IReduceLayer* NetworkImpl::addReduce(ITensor& input, ReduceOperation op, const Dims& axes, bool keepDims) noexcept {
    GIE_ADD(IReduceLayer, {
        FieldMap f;
        f.setInt("op", static_cast<int64_t>(op));
        f.setInts("axes", vec(axes));
        f.setInt("keep_dims", keepDims ? 1 : 0);
        return addTyped<IReduceLayer>("Reduce", {&input}, std::move(f));
    });
}
ISliceLayer* NetworkImpl::addSlice(ITensor& input, const Dims& start, const Dims& size, const Dims& stride) noexcept {
    GIE_ADD(ISliceLayer, {
        FieldMap f;
        f.setInts("start", vec(start));
        f.setInts("size", vec(size));
        f.setInts("stride", vec(stride));
        return addTyped<ISliceLayer>("Slice", {&input}, std::move(f));
    });
}
IGenericLayer* NetworkImpl::addResize(ITensor& input, ResizeMode mode, const Dims& outputDims) noexcept {
    GIE_ADD(IGenericLayer, {
        FieldMap f;
        f.setInt("mode", static_cast<int64_t>(mode));
        f.setInts("output_dims", vec(outputDims));
        return addTyped<IGenericLayer>("Resize", {&input}, std::move(f));
    });
}
IGenericLayer* NetworkImpl::addConstant(const Dims& dims, Weights weights) noexcept {
    GIE_ADD(IGenericLayer, {
        FieldMap f;
        f.setInts("shape", vec(dims));
        setWeightsField(f, "weights", weights, true);
        return addTyped<IGenericLayer>("Constant", {}, std::move(f));
    });
}
IGenericLayer* NetworkImpl::addIdentity(ITensor& input) noexcept {
    GIE_ADD(IGenericLayer, { return addTyped<IGenericLayer>("Identity", {&input}, FieldMap()); });
}
IGenericLayer* NetworkImpl::addGather(ITensor& data, ITensor& indices, int64_t axis) noexcept {
    GIE_ADD(IGenericLayer, {
        FieldMap f;
        f.setInt("axis", axis);
        return addTyped<IGenericLayer>("Gather", {&data, &indices}, std::move(f));
    });
}
IGenericLayer* NetworkImpl::addCast(ITensor& input, DataType toType) noexcept {
    GIE_ADD(IGenericLayer, {
        FieldMap f;
        f.setInt("to", static_cast<int64_t>(toType));
        return addTyped<IGenericLayer>("Cast", {&input}, std::move(f));
    });
}
IGenericLayer* NetworkImpl::addShape(ITensor& input) noexcept {
    GIE_ADD(IGenericLayer, {
        FieldMap f;
        f.setInt("op", static_cast<int64_t>(ShapeOpCode::kSHAPE));
        return addTyped<IGenericLayer>(ShapeOp::kType, {&input}, std::move(f));
    });
}
#undef GIE_ADD

ILayer* NetworkImpl::getLayer(int32_t i) const noexcept {
    return i >= 0 && i < getNbLayers() ? layers_[static_cast<size_t>(i)].data->self : nullptr;
}
ITensor* NetworkImpl::getInput(int32_t i) const noexcept {
    return i >= 0 && i < getNbInputs() ? inputs_[static_cast<size_t>(i)] : nullptr;
}
ITensor* NetworkImpl::getOutput(int32_t i) const noexcept {
    return i >= 0 && i < getNbOutputs() ? outputs_[static_cast<size_t>(i)] : nullptr;
}

bool NetworkImpl::removeLayer(ILayer& layer) noexcept {
    return apiGuard(nullptr, false, [&] {
        LayerData& d = data(layer);
        for (auto* out : d.outputs) {
            GIE_CHECK(std::find(outputs_.begin(), outputs_.end(), out) == outputs_.end(), ErrorCode::kINVALID_ARGUMENT,
                      "removeLayer '", d.name, "': its output '", out->name_, "' is a network output");
            for (const auto& h : layers_)
                for (auto* in : h.data->inputs)
                    GIE_CHECK(in != out, ErrorCode::kINVALID_ARGUMENT, "removeLayer '", d.name, "': layer '", h.data->name,
                              "' reads its output");
        }
        std::set<TensorImpl*> dead(d.outputs.begin(), d.outputs.end());
        tensors_.erase(std::remove_if(tensors_.begin(), tensors_.end(), [&](const std::unique_ptr<TensorImpl>& t) { return dead.count(t.get()) > 0; }),
                       tensors_.end());
        layers_.erase(std::remove_if(layers_.begin(), layers_.end(), [&](const LayerHolder& h) { return h.data.get() == &d; }),
                      layers_.end());
        markDirty();
        return true;
    });
}

std::vector<LayerData*> NetworkImpl::topologicalOrder() const {
    std::map<const TensorImpl*, LayerData*> producer;
    for (const auto& h : layers_)
        for (auto* t : h.data->outputs) producer[t] = h.data.get();
    std::vector<LayerData*> order;
    std::map<LayerData*, int> state;  // 0 new, 1 visiting, 2 done
    // Iterative DFS so that very deep networks cannot overflow the stack.
    for (const auto& h : layers_) {
        if (state[h.data.get()] == 2) continue;
        std::vector<std::pair<LayerData*, size_t>> stack{{h.data.get(), 0}};
        state[h.data.get()] = 1;
        while (!stack.empty()) {
            auto& [layer, next] = stack.back();
            if (next < layer->inputs.size()) {
                TensorImpl* in = layer->inputs[next++];
                auto it = producer.find(in);
                if (it == producer.end()) {
                    GIE_CHECK(in->isInput_, ErrorCode::kINVALID_MODEL, "layer '", layer->name, "' reads tensor '", in->name_,
                              "' which no layer produces");
                    continue;
                }
                int& s = state[it->second];
                GIE_CHECK(s != 1, ErrorCode::kINVALID_MODEL, "the network has a cycle through layer '", it->second->name, "'");
                if (s == 0) {
                    s = 1;
                    stack.push_back({it->second, 0});
                }
            } else {
                state[layer] = 2;
                order.push_back(layer);
                stack.pop_back();
            }
        }
    }
    return order;
}

//! Shape tensors go only where a layer reads their value (layers/shape_op.h takesShapeValue), and those places take
//! only shape tensors.
void NetworkImpl::checkShapeInputs(const LayerData& l) const {
    const bool shapeOfTensor = l.type == ShapeOp::kType && l.fields.getInt("op", 0) == static_cast<int64_t>(ShapeOpCode::kSHAPE);
    for (size_t k = 0; k < l.inputs.size(); ++k) {
        const TensorImpl* t = l.inputs[k];
        const bool shape = t->isShapeTensor();
        const bool wants = !shapeOfTensor && takesShapeValue(l.type, k);
        if (shape && shapeOfTensor)
            fail(ErrorCode::kINVALID_MODEL, "layer '", l.name, "' (ShapeOp SHAPE): input '", t->name_, "' is a shape tensor; its shape is "
                 "known when the network is defined (getDimensions)");
        if (shape && !wants)
            fail(ErrorCode::kINVALID_MODEL, "layer '", l.name, "' (", l.type, "): input ", k, " '", t->name_, "' is a shape tensor, which only "
                 "ShapeOp layers, Shuffle input 1, Resize input 1, Slice inputs 1-3 and Range inputs 0-2 take");
        if (!shape && wants)
            fail(ErrorCode::kINVALID_MODEL, "layer '", l.name, "' (", l.type, "): input ", k, " '", t->name_, "' must be a shape tensor "
                 "(addShape, ShapeOp)");
    }
}

Dims seededDims(const Dims& declared, int seed) {
    Dims d = declared;
    for (int k = 0; k < d.nbDims; ++k)
        if (d.d[k] < 0) d.d[k] = k == 0 ? (seed == 0 ? 64 : 96) : (seed == 0 ? 256 : 320) + 64 * int64_t{k};
    return d;
}

void NetworkImpl::inferShapes() const {
    if (!dirty_) {
        if (!shapeError_.empty()) fail(ErrorCode::kINVALID_MODEL, shapeError_);
        return;
    }
    shapeError_.clear();
    try {
        const std::vector<LayerData*> order = topologicalOrder();
        bool dynamic = false;
        for (const TensorImpl* t : inputs_)
            for (int k = 0; k < t->dims_.nbDims; ++k) dynamic = dynamic || t->dims_.d[k] < 0;
        // Shapes at one assignment of the dynamic input dimensions (seed 0 or 1: seededDims); types on the way.
        auto evaluate = [&](int seed, std::map<const TensorImpl*, Dims>& dims) {
            for (const TensorImpl* t : inputs_) dims[t] = seededDims(t->dims_, seed);
            for (LayerData* l : order) {
                checkShapeInputs(*l);
                IPlugin& rules = l->rulesPlugin();
                std::vector<Dims> in;
                std::vector<DataType> types;
                for (auto* t : l->inputs) {
                    in.push_back(dims[t]);
                    types.push_back(t->type_);
                }
                std::vector<Dims> out(l->outputs.size());
                std::vector<DataType> outTypes(l->outputs.size());
                GIE_CHECK(rules.getNbOutputs() == static_cast<int32_t>(out.size()), ErrorCode::kINVALID_MODEL, "layer '", l->name,
                          "' now reports ", rules.getNbOutputs(), " outputs instead of ", out.size());
                auto failWithLast = [&](const char* what) {
                    const char* msg = nullptr;
                    getLastError(&msg);
                    std::string shapes;
                    for (auto& d : in) shapes += (shapes.empty() ? "" : ", ") + toString(d);
                    fail(ErrorCode::kINVALID_MODEL, "layer '", l->name, "' (", l->type, "): ", what, " failed for inputs ", shapes,
                         dynamic ? " (dynamic dimensions at sample sizes)" : "", msg && *msg ? std::string(": ") + msg : std::string());
                };
                if (rules.getOutputDimensions(in.data(), static_cast<int32_t>(in.size()), out.data()) != 0)
                    failWithLast("shape inference");
                if (rules.getOutputDataTypes(types.data(), static_cast<int32_t>(types.size()), outTypes.data()) != 0)
                    failWithLast("type inference");
                for (size_t i = 0; i < out.size(); ++i) {
                    // Built-in shape rules bound their outputs; a plugin's may not. (A shape tensor's "dims" here are its value.)
                    if (l->type != ShapeOp::kType)
                        checkedVolume(out[i], ErrorCode::kINVALID_MODEL, "layer '", l->name, "' (", l->type, "): output ", i, " would be");
                    dims[l->outputs[i]] = out[i];
                    l->outputs[i]->type_ = outTypes[i];
                }
            }
        };
        std::map<const TensorImpl*, Dims> a, b;
        evaluate(0, a);
        if (dynamic) evaluate(1, b);
        for (LayerData* l : order)
            for (TensorImpl* t : l->outputs) {
                Dims d = a[t];
                if (l->type == ShapeOp::kType) {
                    // The value at both seeds: entries that differ follow a dynamic input dimension.
                    Dims v = d;
                    if (dynamic)
                        for (int k = 0; k < v.nbDims; ++k)
                            if (b[t].nbDims != v.nbDims || b[t].d[k] != v.d[k]) v.d[k] = -1;
                    t->shapeValue_ = v;
                    t->dims_ = ShapeOp::tensorDims(d, l->fields.getInt("scalar", 0) != 0);
                    continue;
                }
                // A dimension that differs between the two assignments follows a dynamic input dimension (seeds are
                // distinct at every position); so does a rank that differs, which no built-in rule produces.
                if (dynamic) {
                    const Dims& db = b[t];
                    if (db.nbDims != d.nbDims) fail(ErrorCode::kINVALID_MODEL, "layer '", l->name, "' (", l->type, "): the rank of output '",
                                                    t->name_, "' depends on the dynamic input dimensions");
                    for (int k = 0; k < d.nbDims; ++k)
                        if (db.d[k] != d.d[k]) d.d[k] = -1;
                }
                t->dims_ = d;
            }
    } catch (const Error& e) {
        shapeError_ = e.what();
        dirty_ = false;
        throw;
    }
    dirty_ = false;
}

}  // namespace gie
