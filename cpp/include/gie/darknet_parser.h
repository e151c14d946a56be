// gie public API: the Darknet importer (.cfg + optional .weights -> INetworkDefinition).
//
//   std::unique_ptr<gie::IDarknetParser> p(gie::createDarknetParser(*network, logger));
//   if (!p->parseFromFile("yolov2-voc.cfg", "yolov2-voc.weights"))
//       for (int32_t i = 0; i < p->getNbErrors(); ++i) printf("%s\n", p->getError(i)->desc());
//
// The network gets one input (default name "data", N x channels x height x width from [net]) and, when the
// cfg has [region] / [yolo] sections, one output per such section named "<kind><index>" (e.g. "region30")
// holding the raw map the section reads (gie does not decode boxes; Python's
// gie.parsers.darknet_parser.decode_region does). Without them the last layer's output is "output".
// Without a weights file every layer gets seeded random weights (for benchmarks). Keys gie does not read
// are logged as warnings; sections gie cannot import are all listed at once (one error each).
// Supported sections and keys: docs/darknet.md.
//
// Threading: a parser is used by one thread at a time; it writes only into the network it was made for,
// which must outlive it.
#pragma once

#include "gie/network.h"
#include "gie/onnx_parser.h"   // IParserError, shared by the importers

namespace gie {

class IDarknetParser {
public:
    virtual ~IDarknetParser() = default;

    //! Parses `cfgPath` and, when `weightsPath` is not null, the weights file. Returns false on failure (the
    //! network may then hold part of the model: discard it).
    virtual bool parseFromFile(const char* cfgPath, const char* weightsPath) noexcept = 0;
    //! The same from memory: `cfg` is the cfg text (UTF-8), `weights` the bytes of a .weights file, or
    //! nullptr for random weights (a non-null pointer with size 0 is an empty, hence invalid, file).
    virtual bool parse(const void* cfg, size_t cfgSize, const void* weights, size_t weightsSize) noexcept = 0;

    virtual int32_t getNbErrors() const noexcept = 0;
    //! Valid until the next parse or clearErrors; nullptr for an index out of range.
    virtual const IParserError* getError(int32_t index) const noexcept = 0;
    virtual void clearErrors() noexcept = 0;

    // Options (set before parsing).
    //! Seed of the random weights used without a weights file (default 0).
    virtual void setSeed(uint64_t seed) noexcept = 0;
    //! Overrides [net] batch (dimension 0 of the input); 0 (default) keeps the cfg's.
    virtual bool setBatch(int64_t batch) noexcept = 0;
    //! Name of the network input (default "data").
    virtual bool setInputName(const char* name) noexcept = 0;

    //! After a successful parse: the [region] / [yolo] outputs, in file order. `name` is the output tensor's
    //! name, `kind` "region" or "yolo", `layerIndex` the section's darknet layer index. While a plugin creator
    //! named "Region" is registered (samples/yolov2), a [region] section becomes that plugin's layer: `kind` is
    //! "Region" and `name` the prefix of its outputs <name>_boxes, _scores, _classes, _count. Strings stay
    //! valid until the next parse.
    virtual int32_t getNbHeads() const noexcept = 0;
    virtual bool getHead(int32_t index, const char** name, const char** kind, int32_t* layerIndex) const noexcept = 0;
};

//! The parser writes into `network`; `logger` receives warnings (unused keys). Both must outlive the parser.
GIE_API IDarknetParser* createDarknetParser(INetworkDefinition& network, ILogger& logger) noexcept;

}  // namespace gie
