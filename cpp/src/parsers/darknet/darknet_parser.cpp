// The Darknet importer: cfg sections -> gie layers through the public network API (see darknet_parser.h).
// Layer names are "<index>_<kind>[/suffix]"; messages name the section, line and key (darknet_cfg.h).
#include "gie/darknet_parser.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>

#include "parsers/darknet/darknet_cfg.h"
#include "parsers/importer_util.h"

namespace gie {
namespace darknet {
namespace {

using importer::Fields;
using importer::tupleText;

constexpr int64_t kNoMin = std::numeric_limits<int64_t>::min();

const char* const kActivations[] = {"leaky", "linear", "relu", "logistic", "mish", "swish", "tanh", "elu", "relu6"};

//! Where weight values come from: the .weights file, or seeded random numbers.
class WeightSource {
public:
    virtual ~WeightSource() = default;
    virtual std::vector<float> take(const Section& sec, int64_t n, const std::string& what) = 0;
    virtual void finish(const Section* last) = 0;
    virtual bool isRandom() const = 0;
    int64_t fanIn = 1;
};

class FileWeights final : public WeightSource {
public:
    explicit FileWeights(const std::string& data) {
        if (data.size() < 12)
            fail(ErrorCode::kINVALID_MODEL, "darknet weights: the file has ", data.size(), " bytes, too short for the header (12+)");
        int32_t hdr[3];
        std::memcpy(hdr, data.data(), 12);   // little-endian hosts only, like the engine files
        int64_t major = hdr[0], minor = hdr[1];
        if (major < 0 || minor < 0) fail(ErrorCode::kINVALID_MODEL, "darknet weights: bad header version ", major, ".", minor);
        size_t seenSize = major * 10 + minor >= 2 ? 8 : 4;
        if (data.size() < 12 + seenSize)
            fail(ErrorCode::kINVALID_MODEL, "darknet weights: header of version ", major, ".", minor, " needs ", 12 + seenSize,
                 " bytes, the file has ", data.size());
        size_t body = data.size() - 12 - seenSize;
        if (body % 4)
            fail(ErrorCode::kINVALID_MODEL, "darknet weights: the data after the header is ", body,
                 " bytes, not a multiple of 4 (float32)");
        values_ = reinterpret_cast<const unsigned char*>(data.data()) + 12 + seenSize;
        size_ = static_cast<int64_t>(body / 4);
    }
    std::vector<float> take(const Section& sec, int64_t n, const std::string& what) override {
        if (n > size_ - pos_)
            fail(ErrorCode::kINVALID_MODEL, "darknet weights: too few values for ", sec.where(), " ", what, ": needs ", n,
                 " at float offset ", pos_, ", the file has ", size_ - pos_, " left");
        std::vector<float> out(static_cast<size_t>(n));
        std::memcpy(out.data(), values_ + pos_ * 4, static_cast<size_t>(n) * 4);
        pos_ += n;
        for (float v : out)
            if (!std::isfinite(v)) fail(ErrorCode::kINVALID_MODEL, "darknet weights: ", sec.where(), " ", what, " contains NaN or infinity");
        return out;
    }
    void finish(const Section* last) override {
        if (pos_ != size_)
            fail(ErrorCode::kINVALID_MODEL, "darknet weights: too many values: ", size_ - pos_,
                 " float values left after the last layer with weights (", last ? last->where() : std::string("none"), ")");
    }
    bool isRandom() const override { return false; }

private:
    const unsigned char* values_ = nullptr;
    int64_t size_ = 0, pos_ = 0;
};

//! He-scaled weights and BatchNorm statistics with gain ~1, for weightless imports (benchmarks).
class RandomWeights final : public WeightSource {
public:
    explicit RandomWeights(uint64_t seed) : rng_(seed) {}
    std::vector<float> take(const Section&, int64_t n, const std::string& what) override {
        std::vector<float> out(static_cast<size_t>(n));
        double std = std::sqrt(2.0 / static_cast<double>(std::max<int64_t>(1, fanIn)));
        if (what == "weights")
            for (float& v : out) v = static_cast<float>(rng_.normal() * std);
        else if (what == "rolling variance")
            for (float& v : out) v = static_cast<float>(rng_.uniform(0.5, 2.0));
        else if (what == "scales")
            for (float& v : out) v = static_cast<float>(rng_.uniform(0.8, 1.2));
        else
            for (float& v : out) v = static_cast<float>(rng_.normal(0, 0.1));   // biases, rolling mean
        return out;
    }
    void finish(const Section*) override {}
    bool isRandom() const override { return true; }

private:
    importer::Rng rng_;
};

struct Out {
    ITensor* t = nullptr;
    int64_t c = 0, h = 0, w = 0;
    std::vector<int64_t> chw() const { return {c, h, w}; }
};

//! Darknet BN: scales * (x - mean) / (sqrt(var) + 1e-6) + biases -> (scale, shift), computed in double.
void foldBn(const Section& sec, const std::vector<float>& scales, const std::vector<float>& biases,
            const std::vector<float>& mean, const std::vector<float>& var, std::vector<float>* s, std::vector<float>* b) {
    size_t n = scales.size();
    s->resize(n);
    b->resize(n);
    const double lim = std::numeric_limits<float>::max();
    for (size_t i = 0; i < n; ++i) {
        double si = static_cast<double>(scales[i]) / (std::sqrt(static_cast<double>(var[i])) + 1e-6);
        double bi = static_cast<double>(biases[i]) - static_cast<double>(mean[i]) * si;
        if (!(std::fabs(si) <= lim) || !(std::fabs(bi) <= lim))
            sec.error("the folded batch normalization overflows float32 (rolling variance too small for its scale)");
        (*s)[i] = static_cast<float>(si);
        (*b)[i] = static_cast<float>(bi);
    }
}

class Emitter {
public:
    Emitter(INetworkDefinition& net, ILogger& logger, std::vector<Section>& sections, WeightSource& w, int64_t batch,
            const std::string& inputName)
        : net_(net), logger_(logger), sections_(sections), w_(w), batchOverride_(batch), inputName_(inputName) {}

    struct Head {
        std::string name, kind;
        int32_t index;
    };
    std::vector<Head> heads;

    void run() {
        Section& netSec = sections_[0];
        int64_t width = netSec.integer("width", 0, 1, kMaxDim, true);
        int64_t height = netSec.integer("height", 0, 1, kMaxDim, true);
        int64_t channels = netSec.integer("channels", 3, 1, kMaxDim);
        int64_t batch = batchOverride_ > 0 ? batchOverride_ : netSec.integer("batch", 1, 1, 1 << 16);
        netSec.used.insert("batch");   // overridden: not an unused key
        if (width * height * channels > kMaxElements)
            netSec.error(strcat("input ", channels, "x", height, "x", width, " is too large"));
        // Dimension 0 is dynamic: the config's batch range (or a profile) gives it; the cfg's batch is only checked.
        (void)batch;
        input_ = net_.addInput(inputName_.c_str(), DataType::kFLOAT, dims4(-1, channels, height, width));
        if (!input_) rethrow("add_input('" + inputName_ + "')");
        Out prev{input_, channels, height, width};
        warnUnused(netSec);
        std::vector<std::pair<Section*, ITensor*>> headSecs;
        for (size_t i = 1; i < sections_.size(); ++i) {
            Section& sec = sections_[i];
            Out res = emit(sec, prev);
            warnUnused(sec);
            if (sec.kind == "region" || sec.kind == "yolo") {
                headSecs.emplace_back(&sec, prev.t);
                res = prev;
            }
            outs_.push_back(res);
            prev = res;
        }
        w_.finish(lastWeighted_);
        if (!headSecs.empty()) {
            // A registered "Region" plugin (samples/yolov2) decodes [region] outputs into detections in the
            // engine; without it the raw map is the output, for decode_region.
            const bool regionPlugin = importer::registeredCreator("Region") != nullptr;
            for (auto& hs : headSecs) {
                std::string name = hs.first->kind + std::to_string(hs.first->index);
                if (regionPlugin && hs.first->kind == "region") {
                    regionDetections(*hs.first, hs.second, name);
                    heads.push_back(Head{name, "Region", hs.first->index});
                    continue;
                }
                mark(outputTensor(hs.second, *hs.first), name);
                heads.push_back(Head{name, hs.first->kind, hs.first->index});
            }
        } else {
            mark(outputTensor(prev.t, sections_.back()), "output");
        }
    }

private:
    [[noreturn]] void rethrow(const std::string& what) {
        const char* msg = nullptr;
        ErrorCode code = getLastError(&msg);
        if (code == ErrorCode::kSUCCESS) code = ErrorCode::kINTERNAL;
        throw Error(code, msg && *msg ? std::string(msg) : what + " failed");
    }

    void mark(ITensor* t, const std::string& name) {
        t->setName(name.c_str());
        if (!net_.markOutput(*t)) rethrow("mark_output('" + name + "')");
    }

    void warnUnused(Section& sec) {
        for (const std::string& key : sec.checkKeys())
            logMessage(&logger_, ILogger::Severity::kWARNING,
                       strcat("darknet cfg: ", sec.where(), ": key '", key, "' (line ", sec.lines[key], ") is not used by gie; ignored"));
    }

    ITensor* add(const Section& sec, const char* type, const std::vector<ITensor*>& ins, const Fields& f,
                 const std::string& suffix = "") {
        ILayer* l = importer::addLayer(net_, type, ins, f);
        l->setName(strcat(sec.index, "_", sec.kind, suffix).c_str());
        return l->getOutput(0);
    }

    //! The Region plugin layer on the raw map of [region] section `sec`, with the section's values as fields
    //! (the detection thresholds keep the plugin's defaults: set them on the layer); its four outputs are
    //! <name>_boxes, <name>_scores, <name>_classes, <name>_count.
    void regionDetections(const Section& sec, ITensor* raw, const std::string& name) {
        const RegionValues& v = regions_.at(sec.index);
        Fields f;
        f.i("num", v.num).i("classes", v.classes).i("coords", v.coords).i("softmax", v.softmax);
        f.floats("anchors", std::vector<float>(v.anchors.begin(), v.anchors.end()));
        ILayer* l = importer::addLayer(net_, "Region", {raw}, f);
        l->setName(strcat(sec.index, "_region").c_str());
        static const char* const kOutputs[] = {"boxes", "scores", "classes", "count"};
        if (l->getNbOutputs() != 4)
            sec.error(strcat("the registered 'Region' plugin has ", l->getNbOutputs(), " outputs; the importer maps [region] "
                             "to a Region plugin with 4 (boxes, scores, classes, count), as samples/yolov2 builds it"),
                      "", ErrorCode::kUNSUPPORTED);
        for (int32_t i = 0; i < 4; ++i) mark(l->getOutput(i), name + "_" + kOutputs[i]);
    }

    // A tensor marked twice, or the network input, gets its own identity copy.
    ITensor* outputTensor(ITensor* t, const Section& sec) {
        if (t == input_ || t->isNetworkOutput()) return add(sec, "Identity", {t}, Fields(), "/out");
        return t;
    }

    ITensor* activation(ITensor* x, const Section& sec, const std::string& act) {
        if (act == "linear") return x;
        ActivationType type = ActivationType::kRELU;
        Fields f;
        if (act == "leaky") {
            type = ActivationType::kLEAKY_RELU;
            f.f("alpha", 0.1f);
        } else if (act == "relu") type = ActivationType::kRELU;
        else if (act == "logistic") type = ActivationType::kSIGMOID;
        else if (act == "mish") type = ActivationType::kMISH;
        else if (act == "swish") type = ActivationType::kSILU;
        else if (act == "tanh") type = ActivationType::kTANH;
        else if (act == "elu") {
            type = ActivationType::kELU;
            f.f("alpha", 1.0f);
        } else if (act == "relu6") type = ActivationType::kRELU6;
        f.i("activation_type", static_cast<int64_t>(type));
        return add(sec, "Activation", {x}, f, "/act");
    }

    std::string actKey(Section& sec) {
        std::string act = sec.str("activation", sec.kind == "shortcut" ? "linear" : "logistic");
        for (char& c : act)
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        for (const char* a : kActivations)
            if (act == a) return act;
        std::string list;
        for (const char* a : kActivations) list += (list.empty() ? "" : ", ") + std::string(a);
        sec.error("unsupported activation '" + act + "' (supported: " + list + ")", "activation", ErrorCode::kUNSUPPORTED);
    }

    std::vector<float> take(const Section& sec, int64_t n, const std::string& what) {
        if (n > kMaxWeights) sec.error(strcat("needs ", n, " weight values, more than the limit ", kMaxWeights));
        return w_.take(sec, n, what);
    }

    void checkElems(const Section& sec, int64_t c, int64_t h, int64_t w) {
        if (c < 1 || h < 1 || w < 1) sec.error("output shape " + tupleText({c, h, w}) + " is empty");
        if (c * h * w > kMaxElements) sec.error(strcat("output shape ", tupleText({c, h, w}), " has more than ", kMaxElements, " elements"));
    }

    int64_t layerRef(const Section& sec, const std::string& key, const CfgInt& i) {
        bool big = i.text.size() > 18;
        int64_t idx = i.value < 0 ? sec.index + i.value : i.value;
        if (big || idx < 0 || idx >= sec.index)
            sec.error(strcat("refers to layer ", i.text, " (index ", big ? i.text : std::to_string(idx),
                             "), which does not exist before this section"), key);
        return idx;
    }

    Out emit(Section& sec, const Out& prev) {
        const std::string& k = sec.kind;
        if (k == "convolutional") return convolutional(sec, prev);
        if (k == "maxpool") return maxpool(sec, prev);
        if (k == "avgpool") return avgpool(sec, prev);
        if (k == "connected") return connected(sec, prev);
        if (k == "route") return route(sec);
        if (k == "shortcut") return shortcut(sec, prev);
        if (k == "reorg") return reorg(sec, prev);
        if (k == "upsample") return upsample(sec, prev);
        if (k == "softmax") return softmax(sec, prev);
        if (k == "dropout") return dropout(sec, prev);
        if (k == "region") return region(sec, prev);
        if (k == "yolo") return yolo(sec, prev);
        sec.error("unsupported section", "", ErrorCode::kUNSUPPORTED);   // readSections refused it already
    }

    void bnFromWeights(const Section& sec, std::vector<float>& scales, const std::vector<float>& var) {
        if (w_.isRandom())
            for (size_t i = 0; i < scales.size(); ++i)
                scales[i] = static_cast<float>(scales[i] * (std::sqrt(var[i]) + 1e-6f));
        for (float v : var)
            if (v < 0) sec.error("negative rolling variance in the weights");
    }

    Out convolutional(Section& sec, const Out& prev) {
        int64_t c = prev.c, h = prev.h, w = prev.w;
        int64_t filters = sec.integer("filters", 1, 1, kMaxDim);
        int64_t size = sec.integer("size", 1, 1, kMaxSmall);
        int64_t stride = sec.integer("stride", 1, 1, kMaxSmall);
        if (sec.has("stride_x") || sec.has("stride_y"))
            sec.error("stride_x / stride_y are not supported", "stride_x", ErrorCode::kUNSUPPORTED);
        if (sec.integer("dilation", 1, 1, kMaxSmall) != 1)
            sec.error("dilation other than 1 is not supported", "dilation", ErrorCode::kUNSUPPORTED);
        int64_t padding = sec.integer("padding", 0, 0, kMaxSmall);
        if (sec.integer("pad", 0, 0, 1)) padding = size / 2;
        int64_t groups = sec.integer("groups", 1, 1, kMaxDim);
        bool bn = sec.integer("batch_normalize", 0, 0, 1) != 0;
        std::string act = actKey(sec);
        if (c % groups || filters % groups)
            sec.error(strcat("input channels ", c, " and filters ", filters, " must be multiples of groups ", groups), "groups");
        if (h + 2 * padding < size || w + 2 * padding < size)
            sec.error(strcat("kernel ", size, " is larger than the padded input ", h, "x", w, " (padding ", padding, ")"), "size");
        int64_t oh = (h + 2 * padding - size) / stride + 1;
        int64_t ow = (w + 2 * padding - size) / stride + 1;
        checkElems(sec, filters, oh, ow);
        int64_t nw = filters * (c / groups) * size * size;
        if (nw > kMaxWeights) sec.error(strcat("needs ", nw, " weights, more than the limit ", kMaxWeights), "filters");
        w_.fanIn = (c / groups) * size * size;
        std::vector<float> biases = take(sec, filters, "biases");
        std::vector<float> scales, mean, var;
        if (bn) {
            scales = take(sec, filters, "scales");
            mean = take(sec, filters, "rolling mean");
            var = take(sec, filters, "rolling variance");
        }
        std::vector<float> kernel = take(sec, nw, "weights");
        lastWeighted_ = &sec;
        Fields f;
        f.i("num_output_maps", filters).ints("kernel_size", {size, size}).weights("kernel", kernel.data(), nw);
        f.ints("stride", {stride, stride}).ints("pre_padding", {padding, padding}).ints("post_padding", {padding, padding});
        if (groups > 1) f.i("num_groups", groups);
        ITensor* y;
        if (bn) {
            bnFromWeights(sec, scales, var);
            std::vector<float> s, b;
            foldBn(sec, scales, biases, mean, var, &s, &b);
            ITensor* conv = add(sec, "Convolution", {prev.t}, f);
            Fields sf;
            sf.i("mode", static_cast<int64_t>(ScaleMode::kCHANNEL)).weights("shift", b.data(), filters).weights("scale", s.data(), filters);
            y = add(sec, "Scale", {conv}, sf, "/bn");
        } else {
            f.weights("bias", biases.data(), filters);
            y = add(sec, "Convolution", {prev.t}, f);
        }
        return Out{activation(y, sec, act), filters, oh, ow};
    }

    Out maxpool(Section& sec, const Out& prev) {
        int64_t c = prev.c, h = prev.h, w = prev.w;
        int64_t stride = sec.integer("stride", 1, 1, kMaxSmall);   // darknet's parse_maxpool: stride 1, size = stride
        int64_t size = sec.integer("size", stride, 1, kMaxSmall);
        if (sec.has("stride_x") || sec.has("stride_y") || sec.integer("maxpool_depth", 0, 0, 1))
            sec.error("stride_x / stride_y / maxpool_depth are not supported", "", ErrorCode::kUNSUPPORTED);
        int64_t padding = sec.integer("padding", size - 1, 0, kMaxSmall);
        if (h + padding < size || w + padding < size)
            sec.error(strcat("window ", size, " is larger than the padded input ", h + padding, "x", w + padding, " (input ", h,
                             "x", w, ", padding ", padding, ")"), "size");
        int64_t oh = (h + padding - size) / stride + 1;
        int64_t ow = (w + padding - size) / stride + 1;
        checkElems(sec, c, oh, ow);
        // Darknet: window (i, j) covers input rows i*stride - padding/2 + [0, size); rows outside are skipped.
        int64_t pre = padding / 2;
        int64_t postH = std::max<int64_t>(0, (oh - 1) * stride + size - h - pre);
        int64_t postW = std::max<int64_t>(0, (ow - 1) * stride + size - w - pre);
        if (pre >= size || (oh - 1) * stride - pre >= h || (ow - 1) * stride - pre >= w)
            // A window lying wholly in the padding: darknet outputs -FLT_MAX there; gie has no equivalent.
            sec.error(strcat("padding ", padding, " makes a window lie entirely outside the input"), "padding", ErrorCode::kUNSUPPORTED);
        Fields f;
        f.i("pooling_type", static_cast<int64_t>(PoolingType::kMAX)).ints("window_size", {size, size}).ints("stride", {stride, stride});
        if (pre || postH || postW) f.ints("pre_padding", {pre, pre}).ints("post_padding", {postH, postW});
        return Out{add(sec, "Pooling", {prev.t}, f), c, oh, ow};
    }

    Out avgpool(Section& sec, const Out& prev) {
        Fields f;
        f.i("pooling_type", static_cast<int64_t>(PoolingType::kAVERAGE)).ints("window_size", {prev.h, prev.w});
        return Out{add(sec, "Pooling", {prev.t}, f), prev.c, 1, 1};
    }

    Out connected(Section& sec, const Out& prev) {
        int64_t outputs = sec.integer("output", 1, 1, kMaxDim);
        bool bn = sec.integer("batch_normalize", 0, 0, 1) != 0;
        std::string act = actKey(sec);
        int64_t nin = prev.c * prev.h * prev.w;
        if (outputs * nin > kMaxWeights)
            sec.error(strcat("needs ", outputs * nin, " weights, more than the limit ", kMaxWeights), "output");
        w_.fanIn = nin;
        std::vector<float> biases = take(sec, outputs, "biases");
        std::vector<float> kernel = take(sec, outputs * nin, "weights");
        lastWeighted_ = &sec;
        Fields f;
        f.i("num_outputs", outputs).weights("kernel", kernel.data(), outputs * nin);
        if (!bn) f.weights("bias", biases.data(), outputs);
        ITensor* fc = add(sec, "FullyConnected", {prev.t}, f);
        Fields r;
        r.ints("reshape", {0, outputs, 1, 1});
        ITensor* y = add(sec, "Shuffle", {fc}, r, "/reshape");
        if (bn) {
            std::vector<float> scales = take(sec, outputs, "scales");
            std::vector<float> mean = take(sec, outputs, "rolling mean");
            std::vector<float> var = take(sec, outputs, "rolling variance");
            bnFromWeights(sec, scales, var);
            std::vector<float> s, b;
            foldBn(sec, scales, biases, mean, var, &s, &b);
            Fields sf;
            sf.i("mode", static_cast<int64_t>(ScaleMode::kCHANNEL)).weights("shift", b.data(), outputs).weights("scale", s.data(), outputs);
            y = add(sec, "Scale", {y}, sf, "/bn");
        }
        return Out{activation(y, sec, act), outputs, 1, 1};
    }

    Out route(Section& sec) {
        std::vector<int64_t> idxs;
        for (const CfgInt& i : sec.ints("layers", nullptr)) idxs.push_back(layerRef(sec, "layers", i));
        int64_t groups = sec.integer("groups", 1, 1, kMaxDim);
        int64_t groupId = sec.integer("group_id", 0, 0, groups - 1);
        std::vector<ITensor*> parts;
        std::vector<std::vector<int64_t>> shapes;
        for (int64_t idx : idxs) {
            Out o = outs_[static_cast<size_t>(idx)];
            if (groups > 1) {
                if (o.c % groups)
                    sec.error(strcat("layer ", idx, " has ", o.c, " channels, not a multiple of groups ", groups), "groups");
                int64_t cg = o.c / groups;
                Fields f;
                // (C, H, W) only: Slice keeps the leading dimension (the batch) whole, so the engine runs at every
                // batch of its range, not only the one the cfg was parsed with.
                f.ints("start", {groupId * cg, 0, 0}).ints("size", {cg, o.h, o.w}).ints("stride", {1, 1, 1});
                o.t = add(sec, "Slice", {o.t}, f, strcat("/slice", parts.size()));
                o.c = cg;
            }
            parts.push_back(o.t);
            shapes.push_back(o.chw());
        }
        bool differ = false;
        for (const auto& s : shapes) differ |= s[1] != shapes[0][1] || s[2] != shapes[0][2];
        if (differ) {
            std::string list = "[";
            for (size_t i = 0; i < shapes.size(); ++i) list += (i ? ", " : "") + tupleText({shapes[i][1], shapes[i][2]});
            sec.error("the routed layers " + importer::listText(idxs) + " have different spatial sizes " + list + "]", "layers");
        }
        int64_t c = 0;
        for (const auto& s : shapes) c += s[0];
        checkElems(sec, c, shapes[0][1], shapes[0][2]);
        if (parts.size() == 1) return Out{parts[0], c, shapes[0][1], shapes[0][2]};
        Fields f;
        f.i("axis", 1);
        return Out{add(sec, "Concatenation", parts, f), c, shapes[0][1], shapes[0][2]};
    }

    Out shortcut(Section& sec, const Out& prev) {
        std::vector<CfgInt> frm = sec.ints("from", nullptr);
        if (frm.size() != 1) sec.error("only one 'from' layer is supported", "from", ErrorCode::kUNSUPPORTED);
        int64_t idx = layerRef(sec, "from", frm[0]);
        const Out& o = outs_[static_cast<size_t>(idx)];
        if (o.chw() != prev.chw())
            sec.error(strcat("layer ", idx, " has shape ", tupleText(o.chw()), ", the previous layer ", tupleText(prev.chw()),
                             "; only equal shapes are supported"), "from", ErrorCode::kUNSUPPORTED);
        if (sec.has("weights_type") && sec.str("weights_type", "") != "none")
            sec.error("weighted shortcuts are not supported", "weights_type", ErrorCode::kUNSUPPORTED);
        std::string act = actKey(sec);
        Fields f;
        f.i("op", static_cast<int64_t>(ElementWiseOperation::kSUM));
        ITensor* y = add(sec, "ElementWise", {prev.t, o.t}, f);
        return Out{activation(y, sec, act), prev.c, prev.h, prev.w};
    }

    Out reorg(Section& sec, const Out& prev) {
        int64_t c = prev.c, h = prev.h, w = prev.w;
        int64_t s = sec.integer("stride", 1, 1, kMaxSmall);
        if (sec.integer("reverse", 0, 0, 1) || sec.integer("flatten", 0, 0, 1) || sec.integer("extra", 0, 0, 0))
            sec.error("reverse / flatten / extra are not supported", "", ErrorCode::kUNSUPPORTED);
        if (c % (s * s) || h % s || w % s)
            sec.error(strcat("input ", c, "x", h, "x", w, " is not divisible by stride ", s, " (channels by stride^2)"), "stride");
        Fields f1;
        f1.ints("reshape", {0, c / (s * s), h, s, w, s}).ints("second_transpose", {0, 3, 5, 1, 2, 4});
        ITensor* t = add(sec, "Shuffle", {prev.t}, f1, "/0");
        Fields f2;
        f2.ints("reshape", {0, c * s * s, h / s, w / s});
        return Out{add(sec, "Shuffle", {t}, f2), c * s * s, h / s, w / s};
    }

    Out upsample(Section& sec, const Out& prev) {
        int64_t s = sec.integer("stride", 2, 1, kMaxSmall);
        double scale = sec.number("scale", 1.0);
        checkElems(sec, prev.c, prev.h * s, prev.w * s);
        Fields f;
        f.i("mode", static_cast<int64_t>(ResizeMode::kNEAREST))
            .floats("scales", {1.f, 1.f, static_cast<float>(s), static_cast<float>(s)})
            .i("coordinate_transformation", static_cast<int64_t>(ResizeCoordinateTransformation::kASYMMETRIC))
            .i("nearest_mode", static_cast<int64_t>(ResizeRoundMode::kFLOOR));
        ITensor* y = add(sec, "Resize", {prev.t}, f);
        if (scale != 1.0) y = uniformScale(sec, y, static_cast<float>(scale), "/scale");
        return Out{y, prev.c, prev.h * s, prev.w * s};
    }

    ITensor* uniformScale(const Section& sec, ITensor* x, float scale, const std::string& suffix) {
        Fields f;
        f.i("mode", static_cast<int64_t>(ScaleMode::kUNIFORM)).floats("scale", {scale});
        return add(sec, "Scale", {x}, f, suffix);
    }

    Out softmax(Section& sec, const Out& prev) {
        int64_t c = prev.c, h = prev.h, w = prev.w;
        if (sec.integer("groups", 1, 1, kMaxDim) != 1)
            sec.error("groups other than 1 are not supported", "groups", ErrorCode::kUNSUPPORTED);
        double t = sec.number("temperature", 1.0);
        if (t <= 0) sec.error("must be positive", "temperature");
        ITensor* x = prev.t;
        if (t != 1.0) x = uniformScale(sec, x, static_cast<float>(1.0 / t), "/temperature");
        // Darknet normalizes over all C*H*W values of a sample.
        Fields ax;
        ax.i("axis", 1);
        if (h == 1 && w == 1) return Out{add(sec, "Softmax", {x}, ax), c, h, w};
        Fields f1;
        f1.ints("reshape", {0, c * h * w});
        ITensor* fl = add(sec, "Shuffle", {x}, f1, "/flatten");
        ITensor* y = add(sec, "Softmax", {fl}, ax, "/softmax");
        Fields f2;
        f2.ints("reshape", {0, c, h, w});
        return Out{add(sec, "Shuffle", {y}, f2), c, h, w};
    }

    Out dropout(Section& sec, const Out& prev) {
        double p = sec.number("probability", 0.5);
        if (!(0 <= p && p < 1)) sec.error(importer::floatText(p) + " is not in [0, 1)", "probability");
        return prev;   // inference: identity
    }

    std::vector<double> anchors(Section& sec, int64_t num) {
        std::vector<double> a = sec.numbers("anchors", std::vector<double>(static_cast<size_t>(2 * num), 0.5));
        if (static_cast<int64_t>(a.size()) < 2 * num)
            sec.error(strcat("needs ", 2 * num, " values (num=", num, "), has ", a.size()), "anchors");
        return a;
    }

    Out region(Section& sec, const Out& prev) {
        int64_t num = sec.integer("num", 1, 1, kMaxDim);
        int64_t classes = sec.integer("classes", 20, 0, kMaxDim);
        int64_t coords = sec.integer("coords", 4, 4, 4);
        int64_t softmax = sec.integer("softmax", 0, 0, 1);   // read by decode_region
        std::vector<double> a = anchors(sec, num);
        if (prev.c != num * (coords + 1 + classes))
            sec.error(strcat("the input has ", prev.c, " channels, expected num * (coords + 1 + classes) = ",
                             num * (coords + 1 + classes)), "classes");
        a.resize(static_cast<size_t>(2 * num));   // darknet reads the first 2 * num values
        regions_[sec.index] = RegionValues{num, classes, coords, softmax, a};
        return prev;
    }

    Out yolo(Section& sec, const Out& prev) {
        int64_t total = sec.integer("num", 1, 1, kMaxDim);
        int64_t classes = sec.integer("classes", 20, 0, kMaxDim);
        std::vector<int64_t> all;
        for (int64_t i = 0; i < total; ++i) all.push_back(i);
        std::vector<CfgInt> mask = sec.ints("mask", &all);
        anchors(sec, total);
        for (const CfgInt& m : mask)
            if (m.value < 0 || m.value >= total || m.text.size() > 18)
                sec.error(strcat("values must be in [0, num=", total, ")"), "mask");
        int64_t n = static_cast<int64_t>(mask.size());
        if (prev.c != n * (5 + classes))
            sec.error(strcat("the input has ", prev.c, " channels, expected len(mask) * (5 + classes) = ", n * (5 + classes)), "classes");
        sec.number("scale_x_y", 1.0);
        return prev;
    }

    INetworkDefinition& net_;
    ILogger& logger_;
    std::vector<Section>& sections_;
    WeightSource& w_;
    int64_t batchOverride_;
    std::string inputName_;
    ITensor* input_ = nullptr;
    std::vector<Out> outs_;
    const Section* lastWeighted_ = nullptr;
    struct RegionValues {
        int64_t num, classes, coords, softmax;
        std::vector<double> anchors;
    };
    std::map<int32_t, RegionValues> regions_;   // [region] sections by layer index
};

class DarknetParser final : public IDarknetParser {
public:
    DarknetParser(INetworkDefinition& net, ILogger& logger) : net_(net), logger_(logger) {}

    bool parseFromFile(const char* cfgPath, const char* weightsPath) noexcept override {
        return importer::guardParse(errors_, [&] {
            std::string cfg = importer::readFile(cfgPath, "darknet cfg");
            std::string weights;
            if (weightsPath) weights = importer::readFile(weightsPath, "darknet weights");
            run(cfg, weightsPath ? &weights : nullptr);
        });
    }

    bool parse(const void* cfg, size_t cfgSize, const void* weights, size_t weightsSize) noexcept override {
        return importer::guardParse(errors_, [&] {
            GIE_CHECK(cfg || cfgSize == 0, ErrorCode::kINVALID_ARGUMENT, "darknet parse: cfg is null");
            std::string text(static_cast<const char*>(cfg), cfgSize);
            std::string w;
            if (weights) w.assign(static_cast<const char*>(weights), weightsSize);
            run(text, weights ? &w : nullptr);
        });
    }

    int32_t getNbErrors() const noexcept override { return errors_.size(); }
    const IParserError* getError(int32_t i) const noexcept override { return errors_.at(i); }
    void clearErrors() noexcept override { errors_.clear(); }
    void setSeed(uint64_t seed) noexcept override { seed_ = seed; }
    bool setBatch(int64_t batch) noexcept override {
        if (batch < 0) {
            setLastError(ErrorCode::kINVALID_ARGUMENT, strcat("darknet parser: batch ", batch, " is negative").c_str());
            return false;
        }
        batch_ = batch;
        return true;
    }
    bool setInputName(const char* name) noexcept override {
        if (!name || !*name) {
            setLastError(ErrorCode::kINVALID_ARGUMENT, "darknet parser: empty input name");
            return false;
        }
        inputName_ = name;
        return true;
    }
    int32_t getNbHeads() const noexcept override { return static_cast<int32_t>(heads_.size()); }
    bool getHead(int32_t i, const char** name, const char** kind, int32_t* index) const noexcept override {
        if (i < 0 || i >= getNbHeads()) return false;
        const auto& h = heads_[static_cast<size_t>(i)];
        if (name) *name = h.name.c_str();
        if (kind) *kind = h.kind.c_str();
        if (index) *index = h.index;
        return true;
    }

private:
    void run(const std::string& cfg, const std::string* weights) {
        heads_.clear();
        std::vector<UnsupportedSection> unsupported;
        std::vector<Section> sections;
        try {
            sections = readSections(cfg, &unsupported);
        } catch (const Error& e) {
            if (e.code() == ErrorCode::kUNSUPPORTED)   // one record per section, then the summary as the last error
                for (const auto& u : unsupported)
                    errors_.add(ErrorCode::kUNSUPPORTED, strcat("darknet cfg: ", u.where, ": unsupported section type"),
                                strcat(u.index, "_", u.kind), u.kind, u.index);
            throw;
        }
        std::unique_ptr<WeightSource> w;
        if (weights) w = std::make_unique<FileWeights>(*weights);
        else w = std::make_unique<RandomWeights>(seed_);
        Emitter em(net_, logger_, sections, *w, batch_, inputName_);
        em.run();
        for (const auto& h : em.heads) heads_.push_back(h);
    }

    INetworkDefinition& net_;
    ILogger& logger_;
    importer::ErrorList errors_;
    uint64_t seed_ = 0;
    int64_t batch_ = 0;
    std::string inputName_ = "data";
    std::vector<Emitter::Head> heads_;
};

}  // namespace
}  // namespace darknet

IDarknetParser* createDarknetParser(INetworkDefinition& network, ILogger& logger) noexcept {
    try {
        return new darknet::DarknetParser(network, logger);
    } catch (...) {
        setLastError(ErrorCode::kOUT_OF_MEMORY, "createDarknetParser: out of memory");
        return nullptr;
    }
}

}  // namespace gie
