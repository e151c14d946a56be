// The builder's intermediate representation: a mutable graph of nodes (an op type + fields, or a user
// plugin) over tensors with shapes at the largest batch. Passes rewrite it; placement turns its nodes
// into kernels. Every node remembers the network layers it came from.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "plugin/fields.h"

namespace gie {

class NetworkImpl;

struct IrTensor {
    std::string name;
    Dims dims;
    DataType type = DataType::kFLOAT;
    TensorFormat format = TensorFormat::kLINEAR;  // chosen by the builder's negotiation (common/format.h)
    bool isInput = false;
    bool isOutput = false;
    DataType ioType = DataType::kFLOAT;  // network I/O: the caller's buffer type (inputs: = type)
    uint32_t allowedFormats = 1u;        // network I/O: TensorFormat bit mask the caller allows (1 = LINEAR)
    std::shared_ptr<const std::vector<uint8_t>> constant;  // value, if known at build time
    float dynamicRange = -1.f;                             // INT8 |max|, -1 if unset
    //! A view: this tensor is the channel slice [viewOffset, viewOffset + dims[1]) of tensor `viewOf`, whose dims
    //! are this tensor's but for dimension 1 (common/dims.h viewItemOffset / viewItemStride give the element offset
    //! and batch stride at any shape, so views follow run-time dimensions).
    //! viewTail >= 0 instead makes it a range view (common/dims.h rangeViewOffset; passes/leading_axis_views.cpp): the rows
    //! [viewOffset, ...) of `viewOf`, written whole by its producer and only read through the view; the two end with the
    //! same viewTail dimensions and have one layout (LINEAR, one type), so readers need no strides.
    int viewOf = -1;
    int64_t viewOffset = 0;
    int viewTail = -1;
    bool channelSlice() const { return viewOf >= 0 && viewTail < 0; }
    bool rangeView() const { return viewOf >= 0 && viewTail >= 0; }
    //! Bit k: dimension k follows a dynamic network input dimension (the network-level shape has -1 there). Tensors
    //! that passes create copy it from the tensor they stand for.
    uint32_t dynamicDims = 0;
    //! Written by a ShapeOp node (layers/shape_op.h): `dims` holds its VALUE (what the rules of its readers take), its own
    //! shape is (dims.nbDims,) or, with shapeScalar, (). shapeDims() gives that shape.
    bool shapeTensor = false;
    bool shapeScalar = false;
    Dims shapeDims() const;
    int64_t bytes() const;
};

struct IrNode {
    std::string name;
    std::string type;
    FieldMap fields;
    std::shared_ptr<const IPlugin> userPlugin;  // for plugin layers: cloned into the kernel
    std::vector<int> inputs;
    std::vector<int> outputs;
    std::vector<std::string> sourceLayers;
    std::vector<std::string> notes;  // what passes did or declined here, for the build report
    bool precisionSet = false;
    DataType precision = DataType::kFLOAT;
    std::vector<std::pair<bool, DataType>> outputTypes;  // ILayer::setOutputType per output (set, type)
    bool dead = false;
};

class Graph {
public:
    std::vector<IrNode> nodes;
    std::vector<IrTensor> tensors;
    std::vector<int> inputs;   // tensor ids, network order
    std::vector<int> outputs;  // tensor ids, network order

    //! Lowers a network with every input at the given shape (inputDims[k] for the network's input k).
    static Graph fromNetwork(const NetworkImpl& net, const std::vector<Dims>& inputDims);
    //! Lowers a network with every input's dimension 0 set to `batch` (INT8 calibration); fails when another
    //! dimension is dynamic.
    static Graph fromNetwork(const NetworkImpl& net, int64_t batch);

    int addTensor(IrTensor t);
    //! Index of the live node producing tensor t, or -1.
    int producer(int t) const;
    //! Whether some tensor is a view (slice) of tensor t, i.e. t is written through its views.
    bool hasViews(int t) const;
    //! Live nodes reading tensor t.
    std::vector<int> consumers(int t) const;
    //! Live nodes in a topological order.
    std::vector<int> topologicalOrder() const;
    //! A kernel instance that answers shape/type questions for a node (CPU creator preferred).
    static std::unique_ptr<IPlugin> makeRules(const IrNode& n);
    //! Recomputes shapes/types of all node outputs (after a pass changed fields).
    void inferShapes();
    //! Dims of every tensor with the inputs at `inputs` (graph input order), from each node's shape rule, views following
    //! the tensors they are views of (a concatenation's parent its slices'); the graph is not changed. Fails naming the
    //! layer and `what` (the shapes, for the message) when a rule refuses them.
    std::vector<Dims> dimsAt(const std::vector<Dims>& inputs, const std::string& what) const;
    //! Removes dead nodes and tensors nothing refers to, renumbering ids.
    void compact();
    //! Number of live nodes.
    int liveNodes() const;
};

}  // namespace gie
