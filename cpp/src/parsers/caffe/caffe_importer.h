// The Caffe importer's conversion of a parsed NetParameter into gie layers (shared by caffe_importer.cpp,
// the driver, and caffe_layers.cpp, the per-layer-type converters). Messages follow the former Python
// importer: "layer '<name>' (<type>): ..." for the layer at fault.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gie/caffe_parser.h"
#include "parsers/caffe/caffe_schema.h"
#include "parsers/importer_util.h"

namespace gie {
namespace caffe {

struct Blob {
    std::vector<int64_t> shape;
    std::vector<float> data;
};

struct Layer {
    std::string name, type;
    std::vector<std::string> bottom, top;
    const Message* msg = nullptr;
};

struct Options {
    uint64_t seed = 0;
    int64_t batch = 0;
    bool haveOutputs = false;
    std::vector<std::string> outputs;
    int64_t maxWeightElements = int64_t(1) << 28;
    //! layer name or type -> fields given by the application
    std::map<std::string, std::unique_ptr<importer::Fields>> pluginFields;
};

//! One unsupported layer (a record of its own).
struct Unsupported {
    std::string name, type, message;
    int32_t index;   // in the network's layer list (TEST phase)
};

class Converter {
public:
    Converter(INetworkDefinition& net, const Options& opts, const Message& netp, const Message* model)
        : net_(net), opts_(opts), netp_(netp), model_(model), rng_(opts.seed) {}

    //! Throws on the first malformed layer; fills `unsupported` (and then throws kUNSUPPORTED with the summary).
    void run(std::vector<Unsupported>& unsupported);

    std::vector<std::pair<std::string, std::vector<Blob>>> blobs;   // layer -> weights used, import order

    using Init = std::function<double(size_t blobIndex, int64_t elementIndex)>;

    // ---- used by the converters (caffe_layers.cpp) ----
    [[noreturn]] void error(const std::string& msg, ErrorCode code = ErrorCode::kINVALID_MODEL) const;
    std::vector<ITensor*> ins(const Layer& l, int n = -1, int lo = -1);
    ITensor* add(const char* type, const std::vector<ITensor*>& inputs, const importer::Fields& f,
                 const std::string& suffix = "");
    ITensor* addInput(const std::string& name, std::vector<int64_t> shape, const std::string& where);
    std::vector<Blob> getBlobs(const Layer& l, const std::vector<std::vector<int64_t>>& expected, const Init& init);
    Init he(int64_t fanIn);
    int64_t checkPos(const std::string& field, int64_t v, int64_t lo = 1) const;
    std::vector<int64_t> pair(const Message& p, const char* scalar, const char* h, const char* w, int64_t dflt,
                              bool required, int64_t lo) const;
    ITensor* uniform(ITensor* x, const char* suffix, double scale, double shift = 0.0, double power = 1.0);
    ITensor* reshapeTo(ITensor* x, std::vector<int64_t> shape, const char* suffix = nullptr);
    ITensor* broadcast(ITensor* x, const Blob& arr, int64_t axis, ElementWiseOperation op, const char* suffix);
    ITensor* scaleLike(const Blob* scale, const Blob* bias, int64_t axis, int64_t end, ITensor* x);
    void axesShape(ITensor* x, int64_t axis, int64_t numAxes, const char* what, int64_t* a, int64_t* e,
                   std::vector<int64_t>* shape) const;
    importer::Rng& rng() { return rng_; }
    int64_t maxWeightElements() const { return opts_.maxWeightElements; }
    const std::string& cur() const { return cur_; }

    //! Converts one layer: its tops' tensors; `silent` set for layers without outputs (Silence).
    std::vector<ITensor*> convertLayer(const Layer& l, bool* silent);

private:
    std::vector<Layer> layers();
    void indexModel();
    Blob blobArray(const std::string& lname, size_t i, const Message& blob, const std::vector<int64_t>& expected) const;
    std::vector<ITensor*> plugin(const Layer& l);
    std::string uniqueName(const std::string& base, const char* sep);

    INetworkDefinition& net_;
    const Options& opts_;
    const Message& netp_;
    const Message* model_;
    importer::Rng rng_;
    std::map<std::string, ITensor*> tensors_;
    std::map<std::string, std::vector<const Message*>> modelBlobs_;
    std::set<std::string> layerNames_;
    std::string cur_;
    //! Dimension 0 the prototxt (or the batch option) declared for the inputs; the network's is dynamic (-1).
    int64_t declaredBatch_ = 0;
};

//! The converter of a built-in Caffe layer type, or nullptr.
using LayerFn = std::vector<ITensor*> (*)(Converter&, const Layer&);
LayerFn findConverter(const std::string& type);

//! "(2, 3)" for a tensor's shape.
std::string shapeText(ITensor* t);

}  // namespace caffe
}  // namespace gie
