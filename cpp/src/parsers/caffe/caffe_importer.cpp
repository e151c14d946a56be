// The Caffe importer's driver: layer list (V1 / V2, TEST phase), weights (caffemodel, prototxt or seeded
// random), plugin layers, outputs, and the ICaffeParser object (caffe_parser.h).
#include <cmath>
#include <algorithm>
#include <cstring>
#include <limits>

#include "parsers/caffe/caffe_importer.h"
#include "parsers/caffe/caffemodel_reader.h"
#include "parsers/caffe/prototxt_reader.h"

namespace gie {
namespace caffe {

using importer::Fields;
using importer::tupleText;

namespace {

const std::map<std::string, std::string>& v1ToType() {
    static const std::map<std::string, std::string> m = {
        {"ABSVAL", "AbsVal"}, {"ARGMAX", "ArgMax"}, {"BNLL", "BNLL"}, {"CONCAT", "Concat"}, {"CONVOLUTION", "Convolution"},
        {"DECONVOLUTION", "Deconvolution"}, {"DROPOUT", "Dropout"}, {"ELTWISE", "Eltwise"}, {"EXP", "Exp"},
        {"FLATTEN", "Flatten"}, {"INNER_PRODUCT", "InnerProduct"}, {"LRN", "LRN"}, {"POOLING", "Pooling"},
        {"POWER", "Power"}, {"RELU", "ReLU"}, {"SIGMOID", "Sigmoid"}, {"SOFTMAX", "Softmax"}, {"SPLIT", "Split"},
        {"SLICE", "Slice"}, {"TANH", "TanH"}, {"SILENCE", "Silence"}, {"THRESHOLD", "Threshold"}};
    return m;
}

int64_t prod(const std::vector<int64_t>& s) {
    int64_t n = 1;
    for (int64_t d : s) {
        if (d != 0 && std::llabs(n) > std::numeric_limits<int64_t>::max() / std::llabs(d)) return std::numeric_limits<int64_t>::max();
        n *= d;
    }
    return n;
}

std::vector<int64_t> squeeze(std::vector<int64_t> s) {
    while (s.size() > 1 && s[0] == 1) s.erase(s.begin());
    return s;
}

bool contains(const std::string& msg, const std::string& part) { return msg.find(part) != std::string::npos; }

}  // namespace

std::string shapeText(ITensor* t) { return tupleText(importer::dimsOf(*t)); }

void Converter::error(const std::string& msg, ErrorCode code) const { throw Error(code, "layer '" + cur_ + "': " + msg); }

std::vector<ITensor*> Converter::ins(const Layer& l, int n, int lo) {
    int have = static_cast<int>(l.bottom.size());
    if (n >= 0 && have != n) error(strcat("needs ", n, " bottom(s), has ", have));
    if (lo >= 0 && have < lo) error(strcat("needs at least ", lo, " bottoms, has ", have));
    std::vector<ITensor*> out;
    for (const std::string& b : l.bottom) out.push_back(tensors_.at(b));
    return out;
}

std::string Converter::uniqueName(const std::string& base, const char* sep) {
    std::string name = base;
    for (int k = 1; layerNames_.count(name); ++k) name = base + sep + std::to_string(k);
    layerNames_.insert(name);
    return name;
}

ITensor* Converter::add(const char* type, const std::vector<ITensor*>& inputs, const Fields& f, const std::string& suffix) {
    ILayer* layer = importer::addLayer(net_, type, inputs, f);
    layer->setName(uniqueName(suffix.empty() ? cur_ : cur_ + "/" + suffix, "_").c_str());
    return layer->getOutput(0);
}

ITensor* Converter::addInput(const std::string& name, std::vector<int64_t> shape, const std::string& where) {
    bool bad = shape.empty() || shape.size() > static_cast<size_t>(Dims::MAX_DIMS);
    for (int64_t d : shape) bad = bad || d <= 0 || d > (int64_t(1) << 31) - 1;
    if (bad) fail(ErrorCode::kINVALID_MODEL, where, " '", name, "': bad input shape ", tupleText(shape));
    if (opts_.batch > 0) shape[0] = opts_.batch;
    declaredBatch_ = shape[0];
    shape[0] = -1;  // the batch: the config's batch range (or a profile) gives it
    ITensor* t = net_.addInput(name.c_str(), DataType::kFLOAT, makeDims(static_cast<int32_t>(shape.size()), shape.data()));
    if (!t) {
        const char* msg = nullptr;
        ErrorCode code = getLastError(&msg);
        throw Error(code == ErrorCode::kSUCCESS ? ErrorCode::kINTERNAL : code, msg && *msg ? msg : "add_input failed");
    }
    tensors_[name] = t;
    return t;
}

int64_t Converter::checkPos(const std::string& field, int64_t v, int64_t lo) const {
    if (v < lo || v > (int64_t(1) << 24)) error(strcat(field, " = ", v, " is out of range"));
    return v;
}

std::vector<int64_t> Converter::pair(const Message& p, const char* scalar, const char* h, const char* w, int64_t dflt,
                                     bool required, int64_t lo) const {
    bool hv = h && p.has(h), wv = w && p.has(w);
    if (hv || wv) {
        if (!(hv && wv)) error(strcat("set both ", h, " and ", w));
        return {checkPos(h, p.getInt(h), lo), checkPos(w, p.getInt(w), lo)};
    }
    std::vector<int64_t> vals = p.ints(scalar);
    if (vals.empty()) {
        if (required) error(strcat(scalar, " is required"));
        return {dflt, dflt};
    }
    if (vals.size() == 1) vals.push_back(vals[0]);
    if (vals.size() != 2) error(strcat(scalar, " has ", vals.size(), " values; only 2D is supported"));
    return {checkPos(scalar, vals[0], lo), checkPos(scalar, vals[1], lo)};
}

Converter::Init Converter::he(int64_t fanIn) {
    double std = std::sqrt(2.0 / static_cast<double>(std::max<int64_t>(1, fanIn)));
    return [this, std](size_t i, int64_t) { return rng_.normal() * (i == 0 ? std : 0.1); };
}

Blob Converter::blobArray(const std::string& lname, size_t i, const Message& blob, const std::vector<int64_t>& expected) const {
    Blob out;
    std::vector<double> data = blob.floats("data");
    if (data.empty()) data = blob.floats("double_data");
    std::vector<int64_t> shape;
    bool hasShape = blob.has("shape");
    if (hasShape) shape = blob.getMessage("shape").ints("dim");
    else shape = {blob.getInt("num"), blob.getInt("channels"), blob.getInt("height"), blob.getInt("width")};
    int64_t n = prod(expected);
    bool legacyZero = !hasShape && static_cast<int64_t>(data.size()) == n && shape == std::vector<int64_t>{0, 0, 0, 0};
    if (squeeze(shape) != squeeze(expected) && !legacyZero)
        fail(ErrorCode::kINVALID_MODEL, "layer '", lname, "': blob ", i, " has shape ", tupleText(shape), ", expected ", tupleText(expected));
    if (static_cast<int64_t>(data.size()) != n)
        fail(ErrorCode::kINVALID_MODEL, "layer '", lname, "': blob ", i, " has ", data.size(), " values, expected ", n,
             " for shape ", tupleText(expected));
    out.shape = expected;
    out.data.resize(data.size());
    for (size_t k = 0; k < data.size(); ++k) out.data[k] = static_cast<float>(data[k]);
    return out;
}

std::vector<Blob> Converter::getBlobs(const Layer& l, const std::vector<std::vector<int64_t>>& expected, const Init& init) {
    const std::string& name = l.name;
    std::vector<const Message*> src;
    auto it = modelBlobs_.find(name);
    if (it != modelBlobs_.end()) src = it->second;
    else src = l.msg->messages("blobs");
    std::vector<Blob> out;
    if (!src.empty()) {
        if (src.size() < expected.size())
            fail(ErrorCode::kINVALID_MODEL, "layer '", name, "': caffemodel has ", src.size(), " blobs, expected ", expected.size());
        for (size_t i = 0; i < expected.size(); ++i) out.push_back(blobArray(name, i, *src[i], expected[i]));
    } else {
        for (size_t i = 0; i < expected.size(); ++i) {
            int64_t n = prod(expected[i]);
            if (n > opts_.maxWeightElements)
                fail(ErrorCode::kINVALID_MODEL, "layer '", name, "': blob ", i, " of shape ", tupleText(expected[i]), " has ", n,
                     " elements, more than max_weight_elements=", opts_.maxWeightElements);
            Blob b;
            b.shape = expected[i];
            b.data.resize(static_cast<size_t>(std::max<int64_t>(0, n)));
            for (int64_t k = 0; k < n; ++k) b.data[static_cast<size_t>(k)] = static_cast<float>(init(i, k));
            out.push_back(std::move(b));
        }
    }
    bool found = false;
    for (auto& e : blobs)
        if (e.first == name) {
            e.second = out;
            found = true;
        }
    if (!found) blobs.emplace_back(name, out);
    return out;
}

ITensor* Converter::uniform(ITensor* x, const char* suffix, double scale, double shift, double power) {
    if (scale == 1.0 && shift == 0.0 && power == 1.0) return x;
    Fields f;
    f.i("mode", static_cast<int64_t>(ScaleMode::kUNIFORM))
        .floats("scale", {static_cast<float>(scale)})
        .floats("shift", {static_cast<float>(shift)})
        .floats("power", {static_cast<float>(power)});
    return add("Scale", {x}, f, suffix ? suffix : "");
}

ITensor* Converter::reshapeTo(ITensor* x, std::vector<int64_t> shape, const char* suffix) {
    std::vector<int64_t> xs = importer::dimsOf(*x);
    // keeps following the run-time batch (a dimension 0 the prototxt wrote as its input's batch, too)
    if (!shape.empty() && !xs.empty() && (shape[0] == xs[0] || (xs[0] < 0 && shape[0] == declaredBatch_))) shape[0] = 0;
    Fields f;
    f.ints("reshape", shape);
    return add("Shuffle", {x}, f, suffix ? suffix : "");
}

ITensor* Converter::broadcast(ITensor* x, const Blob& arr, int64_t axis, ElementWiseOperation op, const char* suffix) {
    int64_t rank = static_cast<int64_t>(importer::dimsOf(*x).size());
    std::vector<int64_t> shape = arr.shape;
    for (int64_t k = 0; k < rank - axis - static_cast<int64_t>(arr.shape.size()); ++k) shape.push_back(1);
    Fields c;
    c.ints("shape", shape).weights("weights", arr.data.data(), static_cast<int64_t>(arr.data.size()));
    // (the former importer named the constant "<suffix>_const", "None_const" without a suffix)
    ITensor* k = add("Constant", {}, c, std::string(suffix ? suffix : "None") + "_const");
    Fields e;
    e.i("op", static_cast<int64_t>(op));
    return add("ElementWise", {x, k}, e, suffix ? suffix : "");
}

ITensor* Converter::scaleLike(const Blob* scale, const Blob* bias, int64_t axis, int64_t end, ITensor* x) {
    int64_t rank = static_cast<int64_t>(importer::dimsOf(*x).size());
    int64_t nAx = end - axis;
    if (nAx == 0 || (nAx == 1 && axis >= 1) || (end == rank && axis >= 1)) {
        ScaleMode mode = nAx == 0 ? ScaleMode::kUNIFORM : nAx == 1 ? ScaleMode::kCHANNEL : ScaleMode::kELEMENTWISE;
        Fields f;
        f.i("mode", static_cast<int64_t>(mode));
        if (scale) f.weights("scale", scale->data.data(), static_cast<int64_t>(scale->data.size()));
        if (bias) f.weights("shift", bias->data.data(), static_cast<int64_t>(bias->data.size()));
        if (nAx) f.i("channel_axis", axis);
        return add("Scale", {x}, f);
    }
    ITensor* y = x;
    if (scale) y = broadcast(y, *scale, axis, ElementWiseOperation::kPROD, bias ? "scale" : nullptr);
    if (bias) y = broadcast(y, *bias, axis, ElementWiseOperation::kSUM, nullptr);
    return y;
}

void Converter::axesShape(ITensor* x, int64_t axis, int64_t numAxes, const char* what, int64_t* a, int64_t* e,
                          std::vector<int64_t>* shape) const {
    std::vector<int64_t> s = importer::dimsOf(*x);
    int64_t rank = static_cast<int64_t>(s.size());
    int64_t ax = axis < 0 ? axis + rank : axis;
    if (!(0 <= ax && ax <= rank)) error(strcat(what, ".axis out of range for shape ", tupleText(s)));
    int64_t end = numAxes == -1 ? rank : ax + numAxes;
    if (numAxes < -1 || end > rank) error(strcat(what, ".num_axes ", numAxes, " out of range for shape ", tupleText(s)));
    *a = ax;
    *e = end;
    shape->assign(s.begin() + ax, s.begin() + end);
}

std::vector<Layer> Converter::layers() {
    std::vector<Layer> out;
    size_t nv2 = netp_.count("layer"), nv1 = netp_.count("layers");
    if (nv2 && nv1) fail(ErrorCode::kINVALID_MODEL, "net mixes 'layer' and legacy 'layers' definitions");
    bool v1 = nv1 > 0;
    std::vector<const Message*> list = netp_.messages(v1 ? "layers" : "layer");
    for (size_t i = 0; i < list.size(); ++i) {
        const Message& lp = *list[i];
        std::string type;
        if (v1) {
            const EnumSpec* e = findEnum("V1LayerParameter.LayerType");
            const char* n = e->nameOf(lp.getInt("type"));
            if (!n) fail(ErrorCode::kINVALID_MODEL, "layers #", i, " '", lp.getString("name"), "': unknown V1 layer type ", lp.getInt("type"));
            auto it = v1ToType().find(n);
            type = it != v1ToType().end() ? it->second : n;
        } else {
            type = lp.getString("type");
        }
        bool skip = false;
        for (const Message* rule : lp.messages("include"))
            if (rule->has("phase") && rule->getInt("phase") != 1) skip = true;
        for (const Message* rule : lp.messages("exclude"))
            if (rule->has("phase") && rule->getInt("phase") == 1) skip = true;
        if (!v1 && lp.has("phase") && lp.getInt("phase") == 0) skip = true;
        if (skip) continue;
        Layer l;
        l.name = lp.getString("name");
        if (l.name.empty()) l.name = (type.empty() ? std::string("layer") : type) + "_" + std::to_string(i);
        l.type = type;
        l.bottom = lp.strings("bottom");
        l.top = lp.strings("top");
        l.msg = &lp;
        out.push_back(std::move(l));
    }
    return out;
}

void Converter::indexModel() {
    if (!model_) return;
    for (const char* key : {"layer", "layers"})
        for (const Message* lp : model_->messages(key)) {
            std::vector<const Message*> b = lp->messages("blobs");
            if (!b.empty()) modelBlobs_[lp->getString("name")] = b;
        }
}

namespace {
bool isRegisteredPlugin(const std::string& type, IPluginCreator** creator) {
    IPluginCreator* c = importer::registeredCreator(type);
    if (creator) *creator = c;
    return c != nullptr;
}

//! The values of one field as a plugin field: floats for float/double fields (or mixed numbers without a
//! schema), int64 for integers and bools, the (last) name or text for enums and strings.
void addPluginField(Fields& out, const std::string& name, const Field& f) {
    const FieldSpec* fs = f.spec;
    if (!f.f32.empty() || !f.f64.empty()) {
        std::vector<float> v(f.f32.begin(), f.f32.end());
        for (double d : f.f64) v.push_back(static_cast<float>(d));
        out.raw(name, PluginFieldType::kFLOAT32, v.data(), static_cast<int64_t>(v.size()), sizeof(float));
        return;
    }
    if (f.values.empty()) return;
    bool anyFloat = false, anyText = false;
    for (const Value& v : f.values) {
        anyFloat |= v.kind == Value::Kind::kFloat;
        anyText |= v.kind == Value::Kind::kString || (v.kind == Value::Kind::kEnum && (!fs || true));
    }
    if (fs && (std::strcmp(fs->type, "float") == 0 || std::strcmp(fs->type, "double") == 0)) anyFloat = true;
    if (anyText) {
        const std::string& s = f.values.back().s;
        out.raw(name, PluginFieldType::kCHAR, s.data(), static_cast<int64_t>(s.size()), 1);
    } else if (anyFloat) {
        std::vector<float> v;
        for (const Value& x : f.values) v.push_back(static_cast<float>(x.kind == Value::Kind::kFloat ? x.d : static_cast<double>(x.i)));
        out.raw(name, PluginFieldType::kFLOAT32, v.data(), static_cast<int64_t>(v.size()), sizeof(float));
    } else {
        std::vector<int64_t> v;
        for (const Value& x : f.values) v.push_back(x.i);
        out.raw(name, PluginFieldType::kINT64, v.data(), static_cast<int64_t>(v.size()), sizeof(int64_t));
    }
}

void flattenParams(Fields& out, const std::string& prefix, const Message& m, const std::set<std::string>* known) {
    for (const Field& f : m.fields) {
        std::string name = prefix + f.name;
        if (!f.values.empty() && f.values.back().kind == Value::Kind::kMessage) {
            flattenParams(out, name + ".", *f.values.back().m, known);
            continue;
        }
        if (known && !known->count(name)) continue;
        addPluginField(out, name, f);
    }
}
}  // namespace

std::vector<ITensor*> Converter::plugin(const Layer& l) {
    std::vector<ITensor*> xs = ins(l);
    IPluginCreator* creator = nullptr;
    isRegisteredPlugin(l.type, &creator);
    // Fields from the layer's *_param blocks, limited to those the creator declares (when it declares any:
    // a creator refuses fields it does not know), then the application's, by type and then by layer name.
    std::set<std::string> known;
    if (const PluginFieldCollection* fc = creator ? creator->getFieldNames() : nullptr)
        for (int32_t i = 0; i < fc->nbFields; ++i)
            if (fc->fields[i].name) known.insert(fc->fields[i].name);
    Fields f;
    for (const Field& fld : l.msg->fields) {
        const std::string& n = fld.name;
        if (n.size() > 6 && n.compare(n.size() - 6, 6, "_param") == 0 && !fld.values.empty() && fld.values.back().m)
            flattenParams(f, "", *fld.values.back().m, known.empty() ? nullptr : &known);
    }
    std::vector<const Message*> src;
    auto it = modelBlobs_.find(l.name);
    src = it != modelBlobs_.end() ? it->second : l.msg->messages("blobs");
    for (size_t i = 0; i < src.size(); ++i) {
        std::string name = "blob" + std::to_string(i);
        if (!known.empty() && !known.count(name)) continue;
        std::vector<double> d = src[i]->floats("data");
        if (d.empty()) d = src[i]->floats("double_data");
        std::vector<float> v(d.begin(), d.end());
        f.raw(name, PluginFieldType::kFLOAT32, v.data(), static_cast<int64_t>(v.size()), sizeof(float));
    }
    for (const std::string& key : {l.type, l.name}) {
        auto pf = opts_.pluginFields.find(key);
        if (pf == opts_.pluginFields.end()) continue;
        PluginFieldCollection c = pf->second->collection();
        for (int32_t i = 0; i < c.nbFields; ++i) {
            const PluginField& p = c.fields[i];
            size_t elem = p.type == PluginFieldType::kCHAR || p.type == PluginFieldType::kINT8 ? 1
                        : p.type == PluginFieldType::kFLOAT16 || p.type == PluginFieldType::kINT16 ? 2
                        : p.type == PluginFieldType::kFLOAT32 || p.type == PluginFieldType::kINT32 ? 4 : 8;
            f.raw(p.name, p.type, p.data, p.length, elem);
        }
    }
    ILayer* layer = importer::addLayer(net_, l.type.c_str(), xs, f);
    layer->setName(uniqueName(l.name, "_").c_str());
    int32_t n = layer->getNbOutputs();
    if (n < static_cast<int32_t>(l.top.size()))
        error(strcat("plugin '", l.type, "' has ", n, " outputs, the layer ", l.top.size(), " tops"));
    std::vector<ITensor*> out;
    for (size_t i = 0; i < l.top.size(); ++i) out.push_back(layer->getOutput(static_cast<int32_t>(i)));
    return out;
}

std::vector<ITensor*> Converter::convertLayer(const Layer& l, bool* silent) {
    cur_ = l.name;
    *silent = false;
    if (LayerFn fn = findConverter(l.type)) {
        std::vector<ITensor*> out = fn(*this, l);
        if (l.type == "Silence") *silent = true;
        return out;
    }
    if (isRegisteredPlugin(l.type, nullptr)) return plugin(l);
    throw Error(ErrorCode::kUNSUPPORTED,
                strcat("layer '", l.name, "': unknown layer type '", l.type, "' (not a supported Caffe layer and not a registered "
                       "plugin; to import it, register a plugin creator named '", l.type, "' (C++: GIE_REGISTER_PLUGIN_CREATOR in "
                       "a library loaded with loadLibrary, Python: gie.load_library): its *_param values reach the creator as "
                       "fields)"));
}

void Converter::run(std::vector<Unsupported>& unsupported) {
    indexModel();
    std::vector<Layer> ls = layers();
    // Inputs declared at the net level.
    std::vector<std::string> inputs = netp_.strings("input");
    std::vector<std::vector<int64_t>> shapes;
    for (const Message* s : netp_.messages("input_shape")) shapes.push_back(s->ints("dim"));
    std::vector<int64_t> dims = netp_.ints("input_dim");
    if (shapes.empty() && !dims.empty()) {
        if (dims.size() != 4 * inputs.size())
            fail(ErrorCode::kINVALID_MODEL, "net: ", dims.size(), " input_dim values for ", inputs.size(), " inputs (need 4 each)");
        for (size_t i = 0; i < inputs.size(); ++i) shapes.emplace_back(dims.begin() + 4 * i, dims.begin() + 4 * i + 4);
    }
    if (shapes.size() != inputs.size())
        fail(ErrorCode::kINVALID_MODEL, "net: ", inputs.size(), " inputs but ", shapes.size(), " input shapes");
    for (size_t i = 0; i < inputs.size(); ++i) addInput(inputs[i], shapes[i], "net input");

    std::set<std::string> consumed, dead;
    std::vector<std::string> produced;
    // Like the ONNX importer, every layer gie cannot import is listed in one error: the tops of such a layer
    // are dead, and layers reading a dead blob are skipped (not listed again).
    for (size_t li = 0; li < ls.size(); ++li) {
        const Layer& l = ls[li];
        bool readsDead = false;
        for (const std::string& b : l.bottom) {
            if (!tensors_.count(b) && !dead.count(b))
                fail(ErrorCode::kINVALID_MODEL, "layer '", l.name, "' (", l.type, "): bottom '", b,
                     "' is not produced by any earlier layer or input");
            consumed.insert(b);
            readsDead = readsDead || dead.count(b);
        }
        if (readsDead) {
            dead.insert(l.top.begin(), l.top.end());
            continue;
        }
        std::vector<ITensor*> outs;
        bool silent = false;
        try {
            outs = convertLayer(l, &silent);
        } catch (const Error& e) {
            std::string msg = e.what();
            std::string tag = "layer '" + l.name + "'";
            if (e.code() == ErrorCode::kUNSUPPORTED) {
                unsupported.push_back(Unsupported{l.name, l.type, contains(msg, tag) ? msg : tag + " (" + l.type + "): " + msg,
                                                  static_cast<int32_t>(li)});
                dead.insert(l.top.begin(), l.top.end());
                continue;
            }
            if (!contains(msg, tag)) msg = tag + " (" + l.type + "): " + msg;
            throw Error(e.code(), msg);
        }
        if (silent) continue;
        if (outs.size() != l.top.size())
            fail(ErrorCode::kINVALID_MODEL, "layer '", l.name, "' (", l.type, "): has ", l.top.size(), " tops, expected ", outs.size());
        for (size_t i = 0; i < outs.size(); ++i) {
            const std::string& top = l.top[i];
            tensors_[top] = outs[i];
            dead.erase(top);
            consumed.erase(top);   // a new version of the blob (in-place layers)
            produced.erase(std::remove(produced.begin(), produced.end(), top), produced.end());
            produced.push_back(top);
        }
    }
    if (!unsupported.empty()) {
        std::string msg = strcat(unsupported.size(), " Caffe layer(s) cannot be imported:");
        for (const auto& u : unsupported) msg += "\n  " + u.message;
        throw Error(ErrorCode::kUNSUPPORTED, msg);
    }
    std::vector<std::string> outNames;
    if (opts_.haveOutputs) outNames = opts_.outputs;
    else
        for (const std::string& p : produced)
            if (!consumed.count(p)) outNames.push_back(p);
    std::set<ITensor*> marked;
    for (const std::string& name : outNames) {
        auto it = tensors_.find(name);
        if (it == tensors_.end()) fail(ErrorCode::kINVALID_ARGUMENT, "output '", name, "' is not a blob of the network");
        ITensor* t = it->second;
        if (marked.count(t) || t->isNetworkInput()) {   // Split / Dropout of an input, or one tensor twice
            cur_ = name;
            t = add("Identity", {t}, Fields(), "output");
        }
        marked.insert(t);
        t->setName(name.c_str());
        if (!net_.markOutput(*t)) {
            const char* msg = nullptr;
            ErrorCode code = getLastError(&msg);
            throw Error(code == ErrorCode::kSUCCESS ? ErrorCode::kINTERNAL : code, msg && *msg ? msg : "mark_output failed");
        }
    }
    if (marked.empty()) fail(ErrorCode::kINVALID_MODEL, "the network has no outputs (no layer produces a blob)");
}

namespace {

class CaffeParser final : public ICaffeParser {
public:
    CaffeParser(INetworkDefinition& net, ILogger& logger) : net_(net), logger_(logger) {}

    bool parseFromFile(const char* prototxt, const char* caffemodel) noexcept override {
        return importer::guardParse(errors_, [&] {
            std::string text;
            try {
                text = importer::readFile(prototxt, "prototxt");
            } catch (const Error& e) {
                fail(e.code(), "cannot read ", e.what());
            }
            std::string bad = importer::utf8Problem(text);
            if (!bad.empty()) fail(ErrorCode::kINVALID_MODEL, "prototxt '", prototxt, "' is not UTF-8 text: ", bad);
            std::string model;
            if (caffemodel) {
                try {
                    model = importer::readFile(caffemodel, "caffemodel");
                } catch (const Error& e) {
                    fail(e.code(), "cannot read ", e.what());
                }
            }
            run(text, caffemodel ? &model : nullptr, prototxt);
        });
    }

    bool parse(const void* prototxt, size_t size, const void* caffemodel, size_t modelSize, const char* name) noexcept override {
        return importer::guardParse(errors_, [&] {
            GIE_CHECK(prototxt || size == 0, ErrorCode::kINVALID_ARGUMENT, "caffe parse: prototxt is null");
            std::string text(static_cast<const char*>(prototxt), size);
            std::string model;
            if (caffemodel) model.assign(static_cast<const char*>(caffemodel), modelSize);
            run(text, caffemodel ? &model : nullptr, name && *name ? name : "<prototxt>");
        });
    }

    int32_t getNbErrors() const noexcept override { return errors_.size(); }
    const IParserError* getError(int32_t i) const noexcept override { return errors_.at(i); }
    void clearErrors() noexcept override { errors_.clear(); }
    void setSeed(uint64_t seed) noexcept override { opts_.seed = seed; }
    bool setBatch(int64_t batch) noexcept override {
        if (batch < 0) {
            setLastError(ErrorCode::kINVALID_ARGUMENT, strcat("caffe parser: batch ", batch, " is negative").c_str());
            return false;
        }
        opts_.batch = batch;
        return true;
    }
    bool setOutputs(const char* const* names, int32_t n) noexcept override {
        if (n < 0 || (n > 0 && !names)) {
            setLastError(ErrorCode::kINVALID_ARGUMENT, "caffe parser: setOutputs: bad names");
            return false;
        }
        try {
            opts_.outputs.clear();
            for (int32_t i = 0; i < n; ++i) opts_.outputs.emplace_back(names[i] ? names[i] : "");
            opts_.haveOutputs = n > 0;
        } catch (...) {
            setLastError(ErrorCode::kOUT_OF_MEMORY, "caffe parser: out of memory");
            return false;
        }
        return true;
    }
    bool setPluginFields(const char* key, const PluginFieldCollection* fc) noexcept override {
        if (!key || !*key || !fc || fc->nbFields < 0 || (fc->nbFields > 0 && !fc->fields)) {
            setLastError(ErrorCode::kINVALID_ARGUMENT, "caffe parser: setPluginFields: bad arguments");
            return false;
        }
        try {
            auto& slot = opts_.pluginFields[key];
            if (!slot) slot = std::make_unique<Fields>();
            for (int32_t i = 0; i < fc->nbFields; ++i) {
                const PluginField& p = fc->fields[i];
                if (!p.name || p.length < 0 || (p.length > 0 && !p.data)) {
                    setLastError(ErrorCode::kINVALID_ARGUMENT, "caffe parser: setPluginFields: a field without a name or data");
                    return false;
                }
                size_t elem = p.type == PluginFieldType::kCHAR || p.type == PluginFieldType::kINT8 ? 1
                            : p.type == PluginFieldType::kFLOAT16 || p.type == PluginFieldType::kINT16 ? 2
                            : p.type == PluginFieldType::kFLOAT32 || p.type == PluginFieldType::kINT32 ? 4 : 8;
                slot->raw(p.name, p.type, p.data, p.length, elem);
            }
        } catch (...) {
            setLastError(ErrorCode::kOUT_OF_MEMORY, "caffe parser: out of memory");
            return false;
        }
        return true;
    }
    bool setMaxWeightElements(int64_t n) noexcept override {
        if (n < 0) {
            setLastError(ErrorCode::kINVALID_ARGUMENT, "caffe parser: max_weight_elements must not be negative");
            return false;
        }
        opts_.maxWeightElements = n;
        return true;
    }
    int32_t getNbBlobLayers() const noexcept override { return static_cast<int32_t>(blobs_.size()); }
    const char* getBlobLayerName(int32_t i) const noexcept override {
        return i >= 0 && i < getNbBlobLayers() ? blobs_[static_cast<size_t>(i)].first.c_str() : nullptr;
    }
    int32_t getNbBlobs(const char* layer) const noexcept override {
        const std::vector<Blob>* b = find(layer);
        return b ? static_cast<int32_t>(b->size()) : 0;
    }
    const float* getBlob(const char* layer, int32_t i, Dims* shape) const noexcept override {
        const std::vector<Blob>* b = find(layer);
        if (!b || i < 0 || i >= static_cast<int32_t>(b->size())) return nullptr;
        const Blob& x = (*b)[static_cast<size_t>(i)];
        if (shape) *shape = makeDims(static_cast<int32_t>(x.shape.size()), x.shape.data());
        return x.data.data();
    }

private:
    const std::vector<Blob>* find(const char* layer) const {
        if (!layer) return nullptr;
        for (const auto& e : blobs_)
            if (e.first == layer) return &e.second;
        return nullptr;
    }

    void run(const std::string& text, const std::string* model, const std::string& name) {
        blobs_.clear();
        std::shared_ptr<Message> netp = parsePrototxt(text, name);
        std::shared_ptr<Message> m = model ? parseCaffemodel(model->data(), model->size()) : nullptr;
        Converter conv(net_, opts_, *netp, m.get());
        std::vector<Unsupported> unsupported;
        try {
            conv.run(unsupported);
        } catch (const Error& e) {
            if (e.code() == ErrorCode::kUNSUPPORTED && !unsupported.empty() &&
                std::string(e.what()).find(" Caffe layer(s) cannot be imported") != std::string::npos)
                for (const auto& u : unsupported) errors_.add(ErrorCode::kUNSUPPORTED, u.message, u.name, u.type, u.index);
            blobs_ = std::move(conv.blobs);
            throw;
        }
        blobs_ = std::move(conv.blobs);
    }

    INetworkDefinition& net_;
    ILogger& logger_;
    Options opts_;
    importer::ErrorList errors_;
    std::vector<std::pair<std::string, std::vector<Blob>>> blobs_;
};

}  // namespace
}  // namespace caffe

ICaffeParser* createCaffeParser(INetworkDefinition& network, ILogger& logger) noexcept {
    try {
        return new caffe::CaffeParser(network, logger);
    } catch (...) {
        setLastError(ErrorCode::kOUT_OF_MEMORY, "createCaffeParser: out of memory");
        return nullptr;
    }
}

}  // namespace gie
