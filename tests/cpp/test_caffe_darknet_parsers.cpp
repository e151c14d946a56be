// The C++ Caffe and Darknet importers (gie/caffe_parser.h, gie/darknet_parser.h) without Python: a small
// generated Caffe model (prototxt + a caffemodel written here in the wire format) and a Darknet cfg + weights
// are imported, built for the CPU and run against a plain C++ forward pass; the error records (one per
// unsupported layer / section, with name, type and reason), and an SSD prototxt whose PriorBox /
// DetectionOutput layers reach a registered creator with their *_param values as typed fields.
// Prints "N passed, M failed"; exit code != 0 on failure.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gie/caffe_parser.h"
#include "gie/darknet_parser.h"
#include "gie/gie.h"

namespace {

int gPassed = 0, gFailed = 0;
void check(bool ok, const std::string& what) {
    if (ok) {
        ++gPassed;
    } else {
        ++gFailed;
        std::printf("FAIL: %s\n", what.c_str());
    }
}
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

class QuietLogger : public gie::ILogger {
public:
    void log(Severity s, const char* msg) noexcept override {
        if (s == Severity::kWARNING) warnings.push_back(msg);
    }
    std::vector<std::string> warnings;
};

// ---- protobuf wire format, for the caffemodel ----
using Buf = std::string;
void varint(Buf& b, uint64_t v) {
    while (v >= 0x80) {
        b.push_back(static_cast<char>(v | 0x80));
        v >>= 7;
    }
    b.push_back(static_cast<char>(v));
}
void lenField(Buf& b, uint32_t field, const Buf& payload) {
    varint(b, (uint64_t(field) << 3) | 2);
    varint(b, payload.size());
    b += payload;
}
Buf blob(const std::vector<int64_t>& shape, const std::vector<float>& data) {
    Buf dims, shapeMsg, out;
    for (int64_t d : shape) varint(dims, static_cast<uint64_t>(d));
    lenField(shapeMsg, 1, dims);   // BlobShape.dim, packed
    lenField(out, 7, shapeMsg);    // BlobProto.shape
    lenField(out, 5, Buf(reinterpret_cast<const char*>(data.data()), data.size() * 4));   // BlobProto.data, packed
    return out;
}
Buf layer(const std::string& name, const std::vector<Buf>& blobs) {
    Buf l;
    lenField(l, 1, name);
    for (const Buf& b : blobs) lenField(l, 7, b);
    return l;
}

std::vector<float> ramp(size_t n, float scale, float offset) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = offset + scale * static_cast<float>((i * 7) % 11) - scale * 5;
    return v;
}

//! Builds for the CPU and runs `net` on `input`; returns the named output.
std::vector<float> run(gie::IBuilder& builder, gie::INetworkDefinition& net, const char* inName, std::vector<float> input,
                       const char* outName) {
    std::unique_ptr<gie::IBuilderConfig> cfg(builder.createBuilderConfig());
    cfg->setDevice(gie::DeviceType::kCPU);
    std::unique_ptr<gie::IEngine> engine(builder.buildEngine(net, *cfg));
    if (!engine) return {};
    std::unique_ptr<gie::IExecutionContext> ctx(engine->createExecutionContext());
    gie::Dims od = ctx->getTensorShape(outName);
    int64_t n = 1;
    for (int i = 0; i < od.nbDims; ++i) n *= od.d[i];
    std::vector<float> out(static_cast<size_t>(std::max<int64_t>(n, 0)));
    ctx->setTensorAddress(inName, input.data());
    ctx->setTensorAddress(outName, out.data());
    if (!ctx->execute()) return {};
    return out;
}

// ---- Caffe: conv 1x1 (2 -> 3, bias) + ReLU + InnerProduct (3*2*2 -> 4), weights from a caffemodel ----
const char* kCaffeNet = R"(
name: "tiny"
layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 1 dim: 2 dim: 2 dim: 2 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: 3 kernel_size: 1 } }
layer { name: "relu" type: "ReLU" bottom: "c" top: "c" }
layer { name: "fc" type: "InnerProduct" bottom: "c" top: "fc" inner_product_param { num_output: 4 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" top: "loss" include { phase: TRAIN } }
)";

void caffeModelRuns() {
    QuietLogger logger;
    std::unique_ptr<gie::IBuilder> builder(gie::createBuilder(logger));
    std::unique_ptr<gie::INetworkDefinition> net(builder->createNetwork());
    std::vector<float> cw = ramp(6, 0.25f, 0.1f), cb = ramp(3, 0.5f, 0.0f), fw = ramp(48, 0.125f, 0.05f), fb = ramp(4, 0.5f, 1.f);
    Buf model;
    lenField(model, 100, layer("conv", {blob({3, 2, 1, 1}, cw), blob({3}, cb)}));
    lenField(model, 100, layer("fc", {blob({4, 12}, fw), blob({4}, fb)}));
    std::unique_ptr<gie::ICaffeParser> p(gie::createCaffeParser(*net, logger));
    bool ok = p->parse(kCaffeNet, std::strlen(kCaffeNet), model.data(), model.size(), "tiny.prototxt");
    check(ok, std::string("caffe: parse ") + (p->getNbErrors() ? p->getError(0)->desc() : ""));
    if (!ok) return;
    check(net->getNbOutputs() == 1 && std::string(net->getOutput(0)->getName()) == "fc", "caffe: one output 'fc' (TRAIN layer dropped)");
    gie::Dims d;
    const float* got = p->getBlob("conv", 0, &d);
    check(got && d.nbDims == 4 && d.d[0] == 3 && std::memcmp(got, cw.data(), 24) == 0, "caffe: getBlob returns the caffemodel's weights");
    std::vector<float> x = ramp(8, 1.f, 0.3f);
    std::vector<float> y = run(*builder, *net, "data", x, "fc");
    // Reference: conv 1x1 + ReLU, then FC over (C, H, W).
    std::vector<float> c(12), ref(4);
    for (int k = 0; k < 3; ++k)
        for (int s = 0; s < 4; ++s) {
            float v = cb[k];
            for (int ci = 0; ci < 2; ++ci) v += cw[k * 2 + ci] * x[ci * 4 + s];
            c[k * 4 + s] = std::max(v, 0.f);
        }
    for (int o = 0; o < 4; ++o) {
        ref[o] = fb[o];
        for (int i = 0; i < 12; ++i) ref[o] += fw[o * 12 + i] * c[i];
    }
    bool close = y.size() == 4;
    for (size_t i = 0; close && i < 4; ++i) close = std::fabs(y[i] - ref[i]) <= 1e-4f * (1 + std::fabs(ref[i]));
    check(close, "caffe: the engine's output equals the reference forward pass");
}

void caffeErrors() {
    QuietLogger logger;
    std::unique_ptr<gie::IBuilder> builder(gie::createBuilder(logger));
    {   // every unsupported layer listed, one record each
        std::unique_ptr<gie::INetworkDefinition> net(builder->createNetwork());
        std::unique_ptr<gie::ICaffeParser> p(gie::createCaffeParser(*net, logger));
        const char* text = R"(layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 2 } } }
layer { name: "a" type: "Fancy" bottom: "x" top: "y" }
layer { name: "b" type: "Other" bottom: "x" top: "z" other_param { k: 3 } })";
        check(!p->parse(text, std::strlen(text), nullptr, 0, nullptr), "caffe: unsupported layers fail");
        check(p->getNbErrors() == 2, "caffe: one record per unsupported layer");
        if (p->getNbErrors() == 2) {
            const gie::IParserError* e = p->getError(1);
            check(e->code() == gie::ErrorCode::kUNSUPPORTED && std::string(e->nodeName()) == "b" &&
                      std::string(e->nodeOpType()) == "Other" && e->node() == 2 && contains(e->reason(), "register a plugin creator named 'Other'"),
                  std::string("caffe: the record names the layer, type, index and how to provide it: ") + e->desc());
        }
        const char* msg = nullptr;
        check(gie::getLastError(&msg) == gie::ErrorCode::kUNSUPPORTED && contains(msg, "2 Caffe layer(s) cannot be imported"),
              "caffe: the last error is the summary");
    }
    {   // syntax error with line and column
        std::unique_ptr<gie::INetworkDefinition> net(builder->createNetwork());
        std::unique_ptr<gie::ICaffeParser> p(gie::createCaffeParser(*net, logger));
        const char* text = "layer {\n  name: \"a\"\n  bogus: 1 }\n";
        check(!p->parse(text, std::strlen(text), nullptr, 0, "t.prototxt") && p->getNbErrors() == 1 &&
                  contains(p->getError(0)->desc(), "t.prototxt: prototxt syntax error: 3:3") && contains(p->getError(0)->desc(), "bogus"),
              "caffe: an unknown field is refused with its line and column");
        std::string deep = "layer { include { ";
        for (int i = 0; i < 200; ++i) deep += "stage: \"s\" ";
        deep += "} }";
        std::string nest;
        for (int i = 0; i < 150; ++i) nest += "x_param { ";
        std::string text2 = "layer { " + nest;
        check(!p->parse(text2.data(), text2.size(), nullptr, 0, nullptr) && contains(p->getError(0)->desc(), "nested deeper"),
              "caffe: nesting depth is bounded");
    }
    {   // truncated caffemodel
        std::unique_ptr<gie::INetworkDefinition> net(builder->createNetwork());
        std::unique_ptr<gie::ICaffeParser> p(gie::createCaffeParser(*net, logger));
        Buf model;
        lenField(model, 100, layer("conv", {blob({3, 2, 1, 1}, ramp(6, 1, 0))}));
        model.resize(model.size() - 5);
        check(!p->parse(kCaffeNet, std::strlen(kCaffeNet), model.data(), model.size(), nullptr) &&
                  p->getError(0)->code() == gie::ErrorCode::kINVALID_MODEL && contains(p->getError(0)->desc(), "caffemodel is truncated or corrupt"),
              "caffe: a truncated caffemodel is refused");
    }
}

// ---- SSD: PriorBox / DetectionOutput through the registry, their *_param values as fields ----
std::map<std::string, gie::PluginField> gSeen;   // field name -> (type, length) the creator got
std::map<std::string, std::vector<double>> gValues;
std::map<std::string, std::string> gText;

class PassPlugin final : public gie::IPlugin {
public:
    explicit PassPlugin(const char* type) : type_(type) {}
    const char* getPluginType() const noexcept override { return type_; }
    const char* getPluginVersion() const noexcept override { return "1"; }
    gie::IPlugin* clone() const noexcept override { return new PassPlugin(type_); }
    int32_t getNbOutputs() const noexcept override { return 1; }
    int32_t getOutputDimensions(const gie::Dims* in, int32_t, gie::Dims* out) const noexcept override {
        out[0] = in[0];
        return 0;
    }
    bool supportsFormatCombination(int32_t pos, const gie::TensorDesc* io, int32_t, int32_t) const noexcept override {
        return io[pos].type == gie::DataType::kFLOAT;
    }
    int32_t enqueue(const gie::TensorDesc*, const gie::TensorDesc*, const void* const*, void* const*, void*, void*) const noexcept override {
        return 0;
    }
    size_t getSerializationSize() const noexcept override { return 0; }
    void serialize(void*) const noexcept override {}

private:
    const char* type_;
};

class RecordingCreator final : public gie::IPluginCreator {
public:
    RecordingCreator(const char* name, std::vector<const char*> fields) : name_(name), names_(std::move(fields)) {
        for (const char* n : names_) {
            gie::PluginField f;
            f.name = n;
            list_.push_back(f);
        }
        fc_.nbFields = static_cast<int32_t>(list_.size());
        fc_.fields = list_.data();
    }
    const char* getPluginName() const noexcept override { return name_; }
    const char* getPluginVersion() const noexcept override { return "1"; }
    gie::DeviceType getDeviceType() const noexcept override { return gie::DeviceType::kCPU; }
    const gie::PluginFieldCollection* getFieldNames() noexcept override { return &fc_; }
    gie::IPlugin* createPlugin(const char*, const gie::PluginFieldCollection* fc) noexcept override {
        for (int32_t i = 0; fc && i < fc->nbFields; ++i) {
            const gie::PluginField& f = fc->fields[i];
            gSeen[f.name] = f;
            std::vector<double> v;
            for (int64_t k = 0; k < f.length; ++k) {
                if (f.type == gie::PluginFieldType::kFLOAT32) v.push_back(static_cast<const float*>(f.data)[k]);
                if (f.type == gie::PluginFieldType::kINT64) v.push_back(static_cast<double>(static_cast<const int64_t*>(f.data)[k]));
            }
            gValues[f.name] = v;
            if (f.type == gie::PluginFieldType::kCHAR) gText[f.name] = std::string(static_cast<const char*>(f.data), static_cast<size_t>(f.length));
        }
        return new PassPlugin(name_);
    }
    gie::IPlugin* deserializePlugin(const char*, const void*, size_t) noexcept override { return new PassPlugin(name_); }

private:
    const char* name_;
    std::vector<const char*> names_;
    std::vector<gie::PluginField> list_;
    gie::PluginFieldCollection fc_;
};

void ssdReachesTheRegistry() {
    static RecordingCreator priorBox("PriorBox", {"min_size", "aspect_ratio", "flip", "variance", "step"});
    static RecordingCreator detOut("DetectionOutput", {"num_classes", "nms_param.nms_threshold", "nms_param.top_k", "code_type",
                                                       "keep_top_k", "confidence_threshold", "extra"});
    gie::getPluginRegistry()->registerCreator(priorBox);
    gie::getPluginRegistry()->registerCreator(detOut);
    QuietLogger logger;
    std::unique_ptr<gie::IBuilder> builder(gie::createBuilder(logger));
    std::unique_ptr<gie::INetworkDefinition> net(builder->createNetwork());
    std::unique_ptr<gie::ICaffeParser> p(gie::createCaffeParser(*net, logger));
    int64_t extra = 7;
    gie::PluginField ef;
    ef.name = "extra";
    ef.data = &extra;
    ef.type = gie::PluginFieldType::kINT64;
    ef.length = 1;
    gie::PluginFieldCollection efc{1, &ef};
    check(p->setPluginFields("det", &efc), "ssd: setPluginFields");
    const char* text = R"(
layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 8 dim: 4 dim: 4 } } }
layer { name: "pb" type: "PriorBox" bottom: "x" top: "pb"
        prior_box_param { min_size: 30 aspect_ratio: 2 flip: true variance: 0.1 variance: 0.2 step: 8 offset: 0.5 } }
layer { name: "det" type: "DetectionOutput" bottom: "pb" top: "det"
        detection_output_param { num_classes: 21 nms_param { nms_threshold: 0.45 top_k: 400 }
                                 save_output_param { label_map_file: "labels.txt" } code_type: CENTER_SIZE keep_top_k: 200
                                 confidence_threshold: 0.01 } }
)";
    bool ok = p->parse(text, std::strlen(text), nullptr, 0, nullptr);
    check(ok, std::string("ssd: parses through the registry ") + (p->getNbErrors() ? p->getError(0)->desc() : ""));
    if (!ok) return;
    check(gSeen.count("min_size") && gSeen["min_size"].type == gie::PluginFieldType::kFLOAT32 && gValues["min_size"] == std::vector<double>{30},
          "ssd: prior_box_param.min_size is a float field (declared float, written as an integer)");
    check(gSeen.count("flip") && gSeen["flip"].type == gie::PluginFieldType::kINT64 && gValues["flip"] == std::vector<double>{1},
          "ssd: a bool is an int64 0/1");
    check(gValues["variance"].size() == 2 && std::fabs(gValues["variance"][1] - 0.2) < 1e-7, "ssd: repeated values are one array");
    check(!gSeen.count("offset"), "ssd: fields the creator does not declare are not passed");
    check(gSeen.count("nms_param.nms_threshold") && gSeen["nms_param.top_k"].type == gie::PluginFieldType::kINT64 &&
              gValues["nms_param.top_k"] == std::vector<double>{400},
          "ssd: nested blocks are flattened as block.field");
    check(gText["code_type"] == "CENTER_SIZE", "ssd: an enum is its name (kCHAR)");
    check(gValues["extra"] == std::vector<double>{7}, "ssd: setPluginFields by layer name reaches the creator");
    gie::getPluginRegistry()->deregisterCreator(priorBox);
    gie::getPluginRegistry()->deregisterCreator(detOut);
}

// ---- Darknet: conv 3x3 (2 -> 4, BN, leaky) + maxpool + region ----
const char* kCfg = "[net]\nwidth=4\nheight=4\nchannels=2\n"
                   "[convolutional]\nfilters=4\nsize=1\nstride=1\nbatch_normalize=1\nactivation=leaky\n"
                   "[maxpool]\nsize=2\nstride=2\n"
                   "[convolutional]\nfilters=12\nsize=1\nactivation=linear\n"
                   "[region]\nnum=2\nclasses=1\ncoords=4\nanchors=1,1,2,2\n"
                   "jitter=0.2\nbogus=1\n";

void darknetModelRuns() {
    QuietLogger logger;
    std::unique_ptr<gie::IBuilder> builder(gie::createBuilder(logger));
    std::unique_ptr<gie::INetworkDefinition> net(builder->createNetwork());
    // weights: header (0.2.0, seen as int64), conv1 biases, scales, mean, var, weights; conv2 biases, weights
    std::vector<float> b1 = ramp(4, 0.1f, 0), s1 = ramp(4, 0.05f, 1), m1 = ramp(4, 0.1f, 0), v1(4, 0.5f), w1 = ramp(8, 0.2f, 0);
    std::vector<float> b2 = ramp(12, 0.1f, 0), w2 = ramp(48, 0.1f, 0.02f);
    Buf w;
    int32_t hdr[3] = {0, 2, 0};
    int64_t seen = 0;
    w.append(reinterpret_cast<const char*>(hdr), 12);
    w.append(reinterpret_cast<const char*>(&seen), 8);
    for (const auto* v : {&b1, &s1, &m1, &v1, &w1, &b2, &w2}) w.append(reinterpret_cast<const char*>(v->data()), v->size() * 4);
    std::unique_ptr<gie::IDarknetParser> p(gie::createDarknetParser(*net, logger));
    bool ok = p->parse(kCfg, std::strlen(kCfg), w.data(), w.size());
    check(ok, std::string("darknet: parse ") + (p->getNbErrors() ? p->getError(0)->desc() : ""));
    if (!ok) return;
    const char *name = nullptr, *kind = nullptr;
    int32_t index = -1;
    check(p->getNbHeads() == 1 && p->getHead(0, &name, &kind, &index) && std::string(name) == "region3" && index == 3,
          "darknet: the region output is 'region3'");
    check(logger.warnings.size() == 1 && contains(logger.warnings[0], "key 'bogus' (line 24) is not used by gie"),
          "darknet: an unknown key is warned about, a training key is not");
    std::vector<float> x = ramp(32, 0.5f, 0.1f);
    std::vector<float> y = run(*builder, *net, "data", x, "region3");
    // Reference forward pass.
    std::vector<float> c1(64), pool(16), ref(48);
    for (int k = 0; k < 4; ++k)
        for (int s = 0; s < 16; ++s) {
            float v = 0;
            for (int ci = 0; ci < 2; ++ci) v += w1[k * 2 + ci] * x[ci * 16 + s];
            v = s1[k] * (v - m1[k]) / (std::sqrt(v1[k]) + 1e-6f) + b1[k];
            c1[k * 16 + s] = v > 0 ? v : 0.1f * v;
        }
    for (int k = 0; k < 4; ++k)
        for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j) {
                float m = -1e30f;
                for (int a = 0; a < 2; ++a)
                    for (int b = 0; b < 2; ++b) m = std::max(m, c1[k * 16 + (2 * i + a) * 4 + 2 * j + b]);
                pool[k * 4 + i * 2 + j] = m;
            }
    for (int o = 0; o < 12; ++o)
        for (int s = 0; s < 4; ++s) {
            float v = b2[o];
            for (int ci = 0; ci < 4; ++ci) v += w2[o * 4 + ci] * pool[ci * 4 + s];
            ref[o * 4 + s] = v;
        }
    bool close = y.size() == 48;
    for (size_t i = 0; close && i < 48; ++i) close = std::fabs(y[i] - ref[i]) <= 1e-4f * (1 + std::fabs(ref[i]));
    check(close, "darknet: the engine's output equals the reference forward pass");
}

void darknetErrors() {
    QuietLogger logger;
    std::unique_ptr<gie::IBuilder> builder(gie::createBuilder(logger));
    std::unique_ptr<gie::INetworkDefinition> net(builder->createNetwork());
    std::unique_ptr<gie::IDarknetParser> p(gie::createDarknetParser(*net, logger));
    const char* cfg = "[net]\nwidth=8\nheight=8\n[convolutional]\n[lstm]\n[convolutional]\n[local]\n";
    check(!p->parse(cfg, std::strlen(cfg), nullptr, 0), "darknet: unsupported sections fail");
    check(p->getNbErrors() == 2 && std::string(p->getError(1)->nodeOpType()) == "local" && p->getError(1)->node() == 3,
          "darknet: one record per unsupported section");
    const char* msg = nullptr;
    check(gie::getLastError(&msg) == gie::ErrorCode::kUNSUPPORTED &&
              contains(msg, "2 section(s) of unsupported type: section 1 [lstm] (line 5), section 3 [local] (line 7)"),
          "darknet: the last error lists them all");
    std::unique_ptr<gie::INetworkDefinition> net2(builder->createNetwork());
    std::unique_ptr<gie::IDarknetParser> p2(gie::createDarknetParser(*net2, logger));
    const char* cfg2 = "[net]\nwidth=4\nheight=4\n[convolutional]\nfilters=2\n";
    char weights[20] = {0};
    check(!p2->parse(cfg2, std::strlen(cfg2), weights, sizeof weights) && contains(p2->getError(0)->desc(), "too few values"),
          "darknet: a weights file without the layer's values is refused");
    check(!p2->parseFromFile("/nonexistent/x.cfg", nullptr) && p2->getError(0)->code() == gie::ErrorCode::kINVALID_ARGUMENT,
          "darknet: a missing file is an invalid argument");
}

}  // namespace

int main() {
    caffeModelRuns();
    caffeErrors();
    ssdReachesTheRegistry();
    darknetModelRuns();
    darknetErrors();
    std::printf("%d passed, %d failed\n", gPassed, gFailed);
    return gFailed ? 1 : 0;
}
