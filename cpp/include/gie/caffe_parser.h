// gie public API: the Caffe importer (deploy .prototxt + optional .caffemodel -> INetworkDefinition).
//
//   std::unique_ptr<gie::ICaffeParser> p(gie::createCaffeParser(*network, logger));
//   if (!p->parseFromFile("deploy.prototxt", "weights.caffemodel"))
//       for (int32_t i = 0; i < p->getNbErrors(); ++i) printf("%s\n", p->getError(i)->desc());
//
// Both layer formats are read (`layer {}` and the legacy V1 `layers {}`, in the prototxt and the caffemodel).
// Layers of the TRAIN phase are dropped. Blobs that no later layer reads become the outputs (or those named
// by setOutputs). Without a caffemodel, or for a layer it lacks, weights are seeded random numbers.
// A layer type gie does not implement is looked up in the plugin registry by its Caffe type name; its
// `*_param` blocks (prior_box_param, detection_output_param, normalize_param, ... also ones gie has no
// schema for) are handed to the creator as fields: each scalar/repeated value under its own name, values of
// nested blocks as "block.field" (e.g. "nms_param.nms_threshold"); integers as kINT64, other numbers as
// kFLOAT32, true/false as kINT64 1/0, enum names and strings as kCHAR. setPluginFields adds or overrides
// fields per layer name or type. Every layer type that is neither built in nor registered is listed, one
// error each, with how to provide it. Supported layers: docs/caffe.md.
//
// Threading: a parser is used by one thread at a time; it writes only into the network it was made for,
// which must outlive it.
#pragma once

#include "gie/network.h"
#include "gie/onnx_parser.h"   // IParserError, shared by the importers

namespace gie {

class ICaffeParser {
public:
    virtual ~ICaffeParser() = default;

    //! Parses the prototxt and, when `caffemodel` is not null, the binary weights. Returns false on failure
    //! (the network may then hold part of the model: discard it).
    virtual bool parseFromFile(const char* prototxt, const char* caffemodel) noexcept = 0;
    //! The same from memory; `caffemodel` nullptr means none. `name` (nullable) names the prototxt in messages.
    virtual bool parse(const void* prototxt, size_t prototxtSize, const void* caffemodel, size_t caffemodelSize,
                       const char* name) noexcept = 0;

    virtual int32_t getNbErrors() const noexcept = 0;
    //! Valid until the next parse or clearErrors; nullptr for an index out of range.
    virtual const IParserError* getError(int32_t index) const noexcept = 0;
    virtual void clearErrors() noexcept = 0;

    // Options (set before parsing).
    //! Seed of the random weights (default 0).
    virtual void setSeed(uint64_t seed) noexcept = 0;
    //! Overrides dimension 0 of every input; 0 (default) keeps the model's.
    virtual bool setBatch(int64_t batch) noexcept = 0;
    //! The blobs to mark as outputs (copied); n = 0 restores the default (every blob no later layer reads).
    virtual bool setOutputs(const char* const* names, int32_t n) noexcept = 0;
    //! Fields (copied) for layers imported as plugins, by layer name or by type; a layer's name wins over its
    //! type, and both over the fields read from its *_param blocks.
    virtual bool setPluginFields(const char* layerNameOrType, const PluginFieldCollection* fields) noexcept = 0;
    //! Largest blob generated at random, in elements (default 2^28): guards against absurd prototxts.
    virtual bool setMaxWeightElements(int64_t n) noexcept = 0;

    //! After a parse: the weights each layer used, in Caffe's layouts (float32), layer by layer in import
    //! order. Pointers stay valid until the next parse.
    virtual int32_t getNbBlobLayers() const noexcept = 0;
    virtual const char* getBlobLayerName(int32_t index) const noexcept = 0;
    virtual int32_t getNbBlobs(const char* layer) const noexcept = 0;
    virtual const float* getBlob(const char* layer, int32_t index, Dims* shape) const noexcept = 0;
};

//! The parser writes into `network`; `logger` receives warnings. Both must outlive the parser.
GIE_API ICaffeParser* createCaffeParser(INetworkDefinition& network, ILogger& logger) noexcept;

}  // namespace gie
