#include "ir/graph.h"

#include "common/format.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/dims.h"
#include "layers/shape_op.h"
#include "network/network.h"

namespace gie {

Dims IrTensor::shapeDims() const { return shapeTensor ? ShapeOp::tensorDims(dims, shapeScalar) : dims; }

int64_t IrTensor::bytes() const { return formatVolume(shapeDims(), format) * dataTypeSize(type); }

Graph Graph::fromNetwork(const NetworkImpl& net, int64_t batch) {
    net.inferShapes();
    std::vector<Dims> dims;
    for (const TensorImpl* in : net.inputs()) {
        Dims d = in->dims_;
        d.d[0] = batch;
        for (int k = 1; k < d.nbDims; ++k)
            GIE_CHECK(d.d[k] > 0, ErrorCode::kUNSUPPORTED, "input '", in->name_, "' dimension ", k,
                      " is dynamic (-1); INT8 calibration runs the network at fixed shapes (only dimension 0 may be dynamic)");
        dims.push_back(d);
    }
    return fromNetwork(net, dims);
}

Graph Graph::fromNetwork(const NetworkImpl& net, const std::vector<Dims>& inputDims) {
    net.inferShapes();
    GIE_CHECK(inputDims.size() == net.inputs().size(), ErrorCode::kINTERNAL, "fromNetwork: ", inputDims.size(), " input shapes for ",
              net.inputs().size(), " inputs");
    Graph g;
    std::map<const TensorImpl*, int> ids;
    auto idOf = [&](const TensorImpl* t) {
        auto it = ids.find(t);
        if (it != ids.end()) return it->second;
        IrTensor irt;
        irt.name = t->name_;
        irt.dims = t->dims_;
        for (int k = 0; k < t->dims_.nbDims; ++k)
            if (t->dims_.d[k] < 0) irt.dynamicDims |= 1u << k;
        irt.type = t->type_;
        irt.isInput = t->isInput_;
        irt.ioType = t->ioTypeSet_ ? t->ioType_ : t->type_;
        irt.allowedFormats = t->allowedFormats_;
        if (t->rangeSet_) irt.dynamicRange = t->rangeMax_;
        if (irt.isInput) {
            const size_t k = static_cast<size_t>(std::find(net.inputs().begin(), net.inputs().end(), t) - net.inputs().begin());
            irt.dims = inputDims[k];
            checkedVolume(irt.dims, ErrorCode::kINVALID_ARGUMENT, "input '", irt.name, "' at its largest shape");
        }
        int id = g.addTensor(irt);
        ids[t] = id;
        return id;
    };
    for (const TensorImpl* in : net.inputs()) g.inputs.push_back(idOf(in));
    for (LayerData* l : net.topologicalOrder()) {
        IrNode n;
        n.name = l->name;
        n.type = l->type;
        n.fields = l->fields;
        if (l->plugin) {
            IPlugin* c = l->plugin->clone();
            GIE_CHECK(c, ErrorCode::kINTERNAL, "plugin layer '", l->name, "' failed to clone");
            n.userPlugin.reset(c);
        }
        for (auto* t : l->inputs) n.inputs.push_back(idOf(t));
        for (auto* t : l->outputs) n.outputs.push_back(idOf(t));
        n.sourceLayers = {l->name};
        n.precisionSet = l->precisionSet;
        n.precision = l->precision;
        n.outputTypes = l->outputTypes;
        g.nodes.push_back(std::move(n));
    }
    std::set<std::string> ioNames;
    for (int id : g.inputs) ioNames.insert(g.tensors[id].name);
    for (const TensorImpl* out : net.outputs()) {
        int id = idOf(out);
        GIE_CHECK(!g.tensors[id].isOutput, ErrorCode::kINVALID_MODEL, "tensor '", out->name_, "' is marked as an output twice");
        GIE_CHECK(ioNames.insert(out->name_).second || g.tensors[id].isInput, ErrorCode::kINVALID_MODEL,
                  "two network inputs/outputs are named '", out->name_, "'; rename one (mark_output(tensor, name))");
        g.tensors[id].isOutput = true;
        g.outputs.push_back(id);
    }
    g.inferShapes();
    return g;
}

int Graph::addTensor(IrTensor t) {
    tensors.push_back(std::move(t));
    return static_cast<int>(tensors.size()) - 1;
}

int Graph::producer(int t) const {
    for (size_t i = 0; i < nodes.size(); ++i) {
        if (nodes[i].dead) continue;
        for (int o : nodes[i].outputs)
            if (o == t) return static_cast<int>(i);
    }
    return -1;
}

bool Graph::hasViews(int t) const {
    for (const auto& v : tensors)
        if (v.viewOf == t) return true;
    return false;
}

std::vector<int> Graph::consumers(int t) const {
    std::vector<int> r;
    for (size_t i = 0; i < nodes.size(); ++i) {
        if (nodes[i].dead) continue;
        for (int in : nodes[i].inputs)
            if (in == t) {
                r.push_back(static_cast<int>(i));
                break;
            }
    }
    return r;
}

std::vector<int> Graph::topologicalOrder() const {
    std::vector<int> prod(tensors.size(), -1);
    for (size_t i = 0; i < nodes.size(); ++i)
        if (!nodes[i].dead)
            for (int o : nodes[i].outputs) prod[static_cast<size_t>(o)] = static_cast<int>(i);
    // A view's producer also produces (part of) its parent: readers of the parent wait for all of them.
    std::vector<std::vector<int>> viewProducers(tensors.size());
    for (size_t t = 0; t < tensors.size(); ++t)
        if (tensors[t].viewOf >= 0 && prod[t] >= 0) viewProducers[static_cast<size_t>(tensors[t].viewOf)].push_back(prod[t]);
    std::vector<int> order, state(nodes.size(), 0);
    for (size_t root = 0; root < nodes.size(); ++root) {
        if (nodes[root].dead || state[root]) continue;
        std::vector<std::pair<int, size_t>> stack{{static_cast<int>(root), 0}};
        state[root] = 1;
        while (!stack.empty()) {
            auto& [n, next] = stack.back();
            const IrNode& node = nodes[static_cast<size_t>(n)];
            size_t nDeps = node.inputs.size();
            for (int in : node.inputs) nDeps += viewProducers[static_cast<size_t>(in)].size();
            if (next < nDeps) {
                // Dependencies: each input's producer, then the producers of each input's views.
                size_t k = next++;
                int p = -1;
                if (k < node.inputs.size()) {
                    int in = node.inputs[k];
                    p = prod[static_cast<size_t>(in)];
                    // A slice of a wider output (horizontal fusion) is written by the wide output's producer.
                    if (p < 0 && tensors[static_cast<size_t>(in)].viewOf >= 0) p = prod[static_cast<size_t>(tensors[static_cast<size_t>(in)].viewOf)];
                } else {
                    k -= node.inputs.size();
                    for (int in : node.inputs) {
                        const auto& vp = viewProducers[static_cast<size_t>(in)];
                        if (k < vp.size()) {
                            p = vp[k];
                            break;
                        }
                        k -= vp.size();
                    }
                }
                if (p < 0) continue;
                GIE_CHECK(state[static_cast<size_t>(p)] != 1, ErrorCode::kINVALID_MODEL, "cycle through node '", nodes[static_cast<size_t>(p)].name, "'");
                if (!state[static_cast<size_t>(p)]) {
                    state[static_cast<size_t>(p)] = 1;
                    stack.push_back({p, 0});
                }
            } else {
                state[static_cast<size_t>(n)] = 2;
                order.push_back(n);
                stack.pop_back();
            }
        }
    }
    return order;
}

std::unique_ptr<IPlugin> Graph::makeRules(const IrNode& n) {
    if (n.userPlugin) {
        std::unique_ptr<IPlugin> p(n.userPlugin->clone());
        GIE_CHECK(p, ErrorCode::kINTERNAL, "plugin '", n.name, "' failed to clone");
        return p;
    }
    IPluginCreator* c = findCreator(n.type);
    GIE_CHECK(c, ErrorCode::kUNSUPPORTED, "node '", n.name, "': no kernel is registered for type '", n.type, "'");
    std::unique_ptr<IPlugin> p(c->createPlugin(n.name.c_str(), n.fields.collection()));
    if (!p) {
        const char* msg = nullptr;
        getLastError(&msg);
        fail(ErrorCode::kINVALID_MODEL, msg && *msg ? msg : "cannot create kernel for '" + n.name + "'");
    }
    return p;
}

void Graph::inferShapes() {
    for (int ni : topologicalOrder()) {
        IrNode& n = nodes[static_cast<size_t>(ni)];
        auto rules = makeRules(n);
        std::vector<Dims> in;
        std::vector<DataType> types;
        for (int t : n.inputs) {
            in.push_back(tensors[static_cast<size_t>(t)].dims);
            types.push_back(tensors[static_cast<size_t>(t)].type);
        }
        std::vector<Dims> out(n.outputs.size());
        std::vector<DataType> outTypes(n.outputs.size());
        GIE_CHECK(rules->getNbOutputs() == static_cast<int>(out.size()), ErrorCode::kINVALID_MODEL, "node '", n.name,
                  "' has ", out.size(), " outputs but its kernel reports ", rules->getNbOutputs());
        if (rules->getOutputDimensions(in.data(), static_cast<int32_t>(in.size()), out.data()) != 0 ||
            rules->getOutputDataTypes(types.data(), static_cast<int32_t>(types.size()), outTypes.data()) != 0) {
            const char* msg = nullptr;
            getLastError(&msg);
            fail(ErrorCode::kINVALID_MODEL, "node '", n.name, "' (", n.type, "): shape inference failed",
                 msg && *msg ? std::string(": ") + msg : std::string());
        }
        for (size_t i = 0; i < out.size(); ++i) {
            auto& t = tensors[static_cast<size_t>(n.outputs[i])];
            t.dims = out[i];
            t.type = outTypes[i];
            t.shapeTensor = n.type == ShapeOp::kType;
            t.shapeScalar = t.shapeTensor && n.fields.getInt("scalar", 0) != 0;
        }
    }
}

std::vector<Dims> Graph::dimsAt(const std::vector<Dims>& inputDims, const std::string& what) const {
    GIE_CHECK(inputDims.size() == inputs.size(), ErrorCode::kINTERNAL, "dimsAt: ", inputDims.size(), " shapes for ", inputs.size(), " inputs");
    std::vector<Dims> dims(tensors.size());
    for (size_t t = 0; t < tensors.size(); ++t) dims[t] = tensors[t].dims;
    for (size_t k = 0; k < inputs.size(); ++k) dims[static_cast<size_t>(inputs[k])] = inputDims[k];
    for (int ni : topologicalOrder()) {
        const IrNode& n = nodes[static_cast<size_t>(ni)];
        auto rules = makeRules(n);
        std::vector<Dims> in, out(n.outputs.size());
        for (int t : n.inputs) in.push_back(dims[static_cast<size_t>(t)]);
        if (rules->getOutputDimensions(in.data(), static_cast<int32_t>(in.size()), out.data()) != 0) {
            const char* msg = nullptr;
            getLastError(&msg);
            fail(ErrorCode::kINVALID_MODEL, "layer '", n.name, "' cannot run at ", what, msg && *msg ? std::string(": ") + msg : std::string());
        }
        for (size_t j = 0; j < out.size(); ++j) {
            const int t = n.outputs[j];
            dims[static_cast<size_t>(t)] = out[j];
            const IrTensor& x = tensors[static_cast<size_t>(t)];
            if (x.channelSlice() && out[j].nbDims > 0)
                dims[static_cast<size_t>(x.viewOf)] = withChannels(out[j], tensors[static_cast<size_t>(x.viewOf)].dims.d[1]);
            // Slices of a horizontally fused output follow it, and so do range views (their last viewTail dimensions).
            for (size_t v = 0; v < tensors.size() && out[j].nbDims > 0; ++v)
                if (tensors[v].viewOf == t)
                    dims[v] = tensors[v].rangeView() ? rangeViewDims(tensors[v].dims, tensors[v].viewTail, out[j])
                                                     : withChannels(out[j], tensors[v].dims.d[1]);
        }
    }
    return dims;
}

void Graph::compact() {
    std::vector<IrNode> live;
    for (auto& n : nodes)
        if (!n.dead) live.push_back(std::move(n));
    nodes = std::move(live);
    std::vector<int> remap(tensors.size(), -1);
    std::vector<IrTensor> kept;
    auto keep = [&](int t) {
        if (remap[static_cast<size_t>(t)] < 0) {
            remap[static_cast<size_t>(t)] = static_cast<int>(kept.size());
            kept.push_back(tensors[static_cast<size_t>(t)]);
        }
        return remap[static_cast<size_t>(t)];
    };
    for (int& t : inputs) t = keep(t);
    for (auto& n : nodes) {
        for (int& t : n.inputs) t = keep(t);
        for (int& t : n.outputs) t = keep(t);
    }
    for (int& t : outputs) t = keep(t);
    // Keep the parents of kept views, and renumber view links.
    for (size_t i = 0; i < kept.size(); ++i)
        if (kept[i].viewOf >= 0) kept[i].viewOf = keep(kept[i].viewOf);
    tensors = std::move(kept);
}

int Graph::liveNodes() const {
    int c = 0;
    for (const auto& n : nodes) c += n.dead ? 0 : 1;
    return c;
}

}  // namespace gie
