// gie public API: the ONNX importer.
//
//   gie::IOnnxParser* parser = gie::createOnnxParser(*network, logger);
//   if (!parser->parseFromFile("model.onnx"))
//       for (int32_t i = 0; i < parser->getNbErrors(); ++i) puts(parser->getError(i)->desc());
//   delete parser;   // the network keeps what was imported
//
// The importer reads ONNX models of opset 7 and later (docs/onnx.md lists the ops and limits) and adds
// their layers to `network` through the INetworkDefinition API. Values that can be computed at
// import time (initializers, Constant nodes, Shape of tensors whose shapes are known, shape arithmetic on
// them) are folded, so shape subgraphs disappear. External data files are read only from the model's
// directory: absolute paths, `..` and symlinks that resolve outside it are refused.
//
// Symbolic dimensions: beyond dimension 0 they are declared -1 (an optimization profile gives their range). An input
// whose only symbolic dimension is 0 is first declared at the parse-time batch (setBatch), shape values folded as
// following the batch; where a node shows that dimension 0 is not the batch there (attention that gathers, squeezes
// or slices dimension 0 after moving the batch), everything this parse added to `network` is removed and the model
// imported again with that dimension -1 (logged at kINFO); an invalid-model error there gets the same second try,
// and stands if that fails too. What `network` held before the parse is kept; the removal needs a network made by
// IBuilder::createNetwork (with another implementation the first errors stand).
//
// Errors: parse*() return false and record every problem as an IParserError. When nodes have no
// converter (or an attribute combination gie cannot express), *all* of them are listed at once, one error
// each (code kUNSUPPORTED); a malformed model stops at the first problem (kINVALID_MODEL). The same
// message is recorded as the thread's last error (getLastError) and logged.
//
// Ownership and threading: the parser refers to `network` and `logger`, which must outlive it. A parser
// is not thread-safe; parse different models on different threads with different parsers. A parser may
// parse once; a second parse() call fails.
#pragma once

#include "gie/network.h"

namespace gie {

class IParserError {
public:
    virtual ErrorCode code() const noexcept = 0;
    //! The whole message ("'n1' Foo (opset 13): no converter"); valid as long as the parser.
    virtual const char* desc() const noexcept = 0;
    //! The node's name ("" if unnamed or not about a node), op type ("" if not about a node).
    virtual const char* nodeName() const noexcept = 0;
    virtual const char* nodeOpType() const noexcept = 0;
    //! The reason alone ("no converter"), without the node prefix.
    virtual const char* reason() const noexcept = 0;
    //! Index of the node in the graph's topological order (-1 if not about a node).
    virtual int32_t node() const noexcept = 0;

protected:
    virtual ~IParserError() = default;
};

class IOnnxParser {
public:
    virtual ~IOnnxParser() = default;

    //! Reads the file; external data is looked up in the file's directory.
    virtual bool parseFromFile(const char* path) noexcept = 0;
    //! Parses a serialized ModelProto held in memory. `baseDir` (nullable) is the directory of external data
    //! files; without it a model that uses external data is refused.
    virtual bool parse(const void* data, size_t size, const char* baseDir) noexcept = 0;

    virtual int32_t getNbErrors() const noexcept = 0;
    //! Error i, or nullptr if out of range. Valid until the parser is destroyed.
    virtual const IParserError* getError(int32_t index) const noexcept = 0;
    virtual void clearErrors() noexcept = 0;

    //! Options (set before parsing).
    //! Overrides the model's shape of input `name` (all dimensions fixed). Returns false for a bad shape.
    virtual bool setInputShape(const char* name, const Dims& dims) noexcept = 0;
    //! The value a symbolic dimension 0 (the batch) takes at definition time (default 1).
    virtual bool setBatch(int64_t batch) noexcept = 0;
    //! When true (default) an op type without a converter is looked up in the plugin registry by name and
    //! imported as a plugin layer whose fields are the node's attributes (custom-domain ops always are).
    virtual void setPluginFallback(bool enabled) noexcept = 0;

    //! True if a node of this op type (default domain) can be imported: it has a converter, is folded when
    //! its inputs are known, or (with the plugin fallback on) a plugin creator of that name is registered.
    virtual bool supportsOperator(const char* opType) const noexcept = 0;
};

//! The op types of the default ONNX domain the importer converts or folds (plugins not included), in
//! alphabetical order; `index` out of range gives nullptr. The strings are static.
GIE_API int32_t getNbOnnxOperators() noexcept;
GIE_API const char* getOnnxOperator(int32_t index) noexcept;

//! A parser adding layers to `network`. Returns nullptr only if out of memory.
GIE_API IOnnxParser* createOnnxParser(INetworkDefinition& network, ILogger& logger) noexcept;

}  // namespace gie
