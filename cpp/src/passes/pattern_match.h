// Helpers shared by the passes that recognise a pattern of several layers (recognize_activations,
// recognize_layer_norm, recognize_squeeze_excitation, recognize_attention): node kind tests, sole readers,
// constants read from the graph, and their pass class (RecognizerPass).
#pragma once

#include <cmath>
#include <cstring>
#include <vector>

#include "common/dims.h"
#include "gie/network.h"
#include "ir/graph.h"
#include "passes/pass.h"

namespace gie {

class PatternMatcher {
protected:
    Graph* g_ = nullptr;

    //! Tries match(ni) on every live node in topological order (a match kills the nodes it replaces), then
    //! compacts the graph if anything matched. Returns the number of matches.
    template <typename F>
    int matchAll(Graph& g, F&& match) {
        g_ = &g;
        int changes = 0;
        for (int ni : g.topologicalOrder())
            if (!node(ni).dead && match(ni)) ++changes;
        if (changes) g.compact();
        return changes;
    }

    IrNode& node(int i) const { return g_->nodes[static_cast<size_t>(i)]; }
    const IrTensor& tensor(int i) const { return g_->tensors[static_cast<size_t>(i)]; }

    //! A live built-in node of `type` with `nIn` inputs.
    bool isNode(int ni, const char* type, size_t nIn) const {
        const IrNode& n = node(ni);
        return !n.dead && !n.userPlugin && n.type == type && n.inputs.size() == nIn;
    }
    bool isActivation(int ni, ActivationType t) const {
        return isNode(ni, "Activation", 1) && node(ni).fields.getInt("activation_type", -1) == static_cast<int64_t>(t);
    }
    bool isElementWise(int ni, ElementWiseOperation op) const {
        return ni >= 0 && isNode(ni, "ElementWise", 2) && node(ni).fields.getInt("op", -1) == static_cast<int64_t>(op);
    }
    bool isUnary(int ni, UnaryOperation op) const {
        return ni >= 0 && isNode(ni, "Unary", 1) && node(ni).fields.getInt("op", -1) == static_cast<int64_t>(op);
    }
    //! The node reading tensor t, if it is the only one and t is not a network output; else -1.
    int soleReader(int t) const {
        if (t < 0 || tensor(t).isOutput) return -1;
        std::vector<int> c = g_->consumers(t);
        return c.size() == 1 ? c[0] : -1;
    }
    //! The producer of t if t is read by nothing else and is not a network output; else -1.
    int soleProducer(int t, int reader) const {
        if (t < 0 || soleReader(t) != reader) return -1;
        return g_->producer(t);
    }
    //! The input of two-input node ni that is not t (-1 if both are t or neither is).
    int otherInput(int ni, int t) const {
        const IrNode& n = node(ni);
        if (n.inputs[0] == t && n.inputs[1] != t) return n.inputs[1];
        if (n.inputs[1] == t && n.inputs[0] != t) return n.inputs[0];
        return -1;
    }
    //! The values of float constant t (empty if t is not one).
    std::vector<float> constFloats(int t) const {
        if (t < 0) return {};
        const IrTensor& c = tensor(t);
        if (!c.constant || c.type != DataType::kFLOAT || c.constant->size() != static_cast<size_t>(volume(c.dims)) * sizeof(float))
            return {};
        std::vector<float> v(static_cast<size_t>(volume(c.dims)));
        if (!v.empty()) std::memcpy(v.data(), c.constant->data(), v.size() * sizeof(float));
        return v;
    }
    //! Whether tensor t is a float constant holding one value, close to `v` (relative `tol`).
    bool isScalar(int t, double v, double tol = 0.0) const {
        if (t < 0 || volume(tensor(t).dims) != 1) return false;
        const std::vector<float> c = constFloats(t);
        return c.size() == 1 && std::fabs(static_cast<double>(c[0]) - v) <= tol * std::fabs(v);
    }
    //! x and the result of a pattern have the same shape and are float (no broadcast hides in the pattern).
    bool sameShape(int x, int result) const {
        const IrTensor& a = tensor(x);
        const IrTensor& b = tensor(result);
        return a.type == DataType::kFLOAT && b.type == DataType::kFLOAT && a.dims == b.dims;
    }
    //! Appends the source layers of `matched` (in the order they run: last first) to `sources` and their names
    //! ('a', 'b') to `names`.
    void describe(const std::vector<int>& matched, std::vector<std::string>& sources, std::string& names) const {
        for (size_t i = matched.size(); i-- > 0;) {
            const IrNode& n = node(matched[i]);
            sources.insert(sources.end(), n.sourceLayers.begin(), n.sourceLayers.end());
            names += (names.empty() ? "'" : ", '") + n.name + "'";
        }
    }
};

//! The pass class of a recogniser: run tries match(ni, ctx) on every live node (matchAll). A recogniser derives from
//! it and defines name() and match.
class RecognizerPass : public Pass, protected PatternMatcher {
public:
    int run(Graph& g, PassContext& ctx) final {
        return matchAll(g, [&](int ni) { return match(ni, ctx); });
    }

protected:
    //! Replaces the pattern that node ni ends (or starts), if there is one; returns whether it did.
    virtual bool match(int ni, PassContext& ctx) = 0;
};

}  // namespace gie
