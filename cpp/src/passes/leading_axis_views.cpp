// Leading-axis views: a Gather of one constant index, or a Slice with stride 1 (Split becomes Slices), that takes
// rows along an axis a whose preceding dimensions are all 1 and whose following dimensions it keeps whole takes a
// contiguous run of its row-major input. Its output becomes a range view of the input (IrTensor::viewTail: rows
// [viewOffset, ...) of it, sharing its last dimensions, which may follow run-time shapes) and its kernel is removed;
// the readers of the output read the input's memory at an offset. torchvision's ViT splits q, k and v so (3 Gathers
// on axis 0 of (3, B*heads, N, D) per encoder block).
//
// A view of a view is a view of the first one's parent at the summed offset (a Gather of a Split's part), where the
// rows line up. Runs after concat_elimination, so it sees every channel slice: it never views a channel slice, a tensor
// written or read through channel slices, a network input or output, a constant or a shape tensor. The view and its
// input form a view family for the format negotiation (builder/negotiation.cpp: one type, LINEAR), so they never differ
// in type or format. Kept, with the reason in the node's notes: an index or slice that is not such a contiguous range;
// a dimension before or at the axis that is not the same at every profile's min and max shapes (the rows would move);
// an offset that is not a multiple of the arena alignment (kernels may assume it; counted for FP16, the smallest type
// the family may get); with INT8, a tensor that has a dynamic range (a view family stays float).
#include <cstring>

#include "common/dims.h"
#include "engine/memory_planner.h"
#include "layers/gather.h"
#include "layers/slice.h"
#include "passes/pass.h"

namespace gie {
namespace {

//! Rows [row0, row0 + rows of the output) of the input, which share their last `tail` dimensions; or why not.
struct Range {
    int tail = -1;
    int64_t row0 = 0;
    std::string why;
};
Range kept(std::string why) {
    Range r;
    r.why = std::move(why);
    return r;
}

class LeadingAxisViews final : public Pass {
public:
    const char* name() const override { return "leading_axis_views"; }
    int run(Graph& g, PassContext& ctx) override {
        int changes = 0;
        varying_.clear();
        for (int ni : g.topologicalOrder()) {
            IrNode& n = g.nodes[static_cast<size_t>(ni)];
            if (n.dead || n.userPlugin || (n.type != GatherOp::kType && n.type != SliceOp::kType) || n.outputs.size() != 1) continue;
            const int x = n.inputs[0], y = n.outputs[0];
            // Shape tensors are values (layers/shape_op.h), with no memory to view.
            if (g.tensors[static_cast<size_t>(x)].shapeTensor || g.tensors[static_cast<size_t>(y)].shapeTensor) continue;
            Range r = whyNot(g, n, ctx);
            if (r.why.empty() && varying_.empty()) findVaryingDims(g, ctx);
            if (r.why.empty()) r = n.type == GatherOp::kType ? gatherRange(g, n) : sliceRange(g, n);
            const IrTensor& xt = g.tensors[static_cast<size_t>(x)];
            if (r.why.empty() && xt.rangeView()) r = throughParent(g, xt, r);
            if (r.why.empty()) r.why = misaligned(g, y, r);
            if (!r.why.empty()) {
                n.notes.push_back("leading_axis_views: kept: " + r.why);
                continue;
            }
            const int root = xt.rangeView() ? xt.viewOf : x;
            IrTensor& yt = g.tensors[static_cast<size_t>(y)];
            yt.viewOf = root;
            yt.viewOffset = r.row0;
            yt.viewTail = r.tail;
            n.dead = true;
            const int64_t rows = rangeViewRows(yt.dims, r.tail);
            const IrTensor& rt = g.tensors[static_cast<size_t>(root)];
            ctx.log.push_back(strcat("leading_axis_views: '", n.name, "' (", n.type, ") became a view of rows [", r.row0, ", ",
                                     r.row0 + rows, ") of '", rt.name, "' ", toString(rt.dims), ": no kernel"));
            ++changes;
        }
        if (changes) g.compact();
        return changes;
    }

private:
    //! Per tensor, bit i: dimension i differs between the graph's shapes and some profile's min or max shapes.
    std::vector<uint32_t> varying_;

    void findVaryingDims(const Graph& g, const PassContext& ctx) {
        varying_.assign(g.tensors.size(), 0u);
        if (ctx.fixedShapes) return;
        for (const auto& bound : ctx.inputShapeBounds) {
            std::vector<Dims> dims;
            try {
                dims = g.dimsAt(bound, "a profile's min or max shapes");
            } catch (const Error&) {  // (the build reports it); no dimension is known to be fixed then
                clearLastError();
                varying_.assign(g.tensors.size(), ~0u);
                return;
            }
            for (size_t t = 0; t < g.tensors.size(); ++t) {
                const Dims& a = g.tensors[t].dims;
                if (dims[t].nbDims != a.nbDims) varying_[t] = ~0u;
                for (int i = 0; i < a.nbDims && dims[t].nbDims == a.nbDims; ++i)
                    if (dims[t].d[i] != a.d[i]) varying_[t] |= 1u << i;
            }
        }
    }
    bool dynamic(const Graph& g, const IrTensor& t, int i) const {
        return (varying_[static_cast<size_t>(&t - g.tensors.data())] >> i) & 1u;
    }

    //! What about the tensors rules a view out, whatever the node takes.
    static Range whyNot(const Graph& g, const IrNode& n, const PassContext& ctx) {
        const int x = n.inputs[0], y = n.outputs[0];
        const IrTensor &xt = g.tensors[static_cast<size_t>(x)], &yt = g.tensors[static_cast<size_t>(y)];
        Range r;
        bool sliced = false;
        for (const auto& v : g.tensors) sliced = sliced || (v.channelSlice() && (v.viewOf == x || v.viewOf == y));
        if (yt.isOutput) r.why = "its output is a network output (which owns its buffer)";
        else if (xt.isInput) r.why = "its input is a network input";
        else if (xt.isOutput) r.why = "its input is a network output";
        else if (xt.constant) r.why = "its input is a constant";
        else if (xt.channelSlice()) r.why = "its input is a channel slice of '" + g.tensors[static_cast<size_t>(xt.viewOf)].name + "'";
        else if (yt.viewOf >= 0) r.why = "it writes into a slice of '" + g.tensors[static_cast<size_t>(yt.viewOf)].name + "'";
        else if (sliced) r.why = "its input or output is written or read through channel slices";
        else if (!xt.rangeView() && g.producer(x) < 0) r.why = "its input has no producing kernel";
        else if (xt.type != yt.type) r.why = "its output's type differs from its input's";
        else if (ctx.int8 && (xt.dynamicRange > 0.f || yt.dynamicRange > 0.f))
            r.why = "INT8: its tensors have a dynamic range, and a view of a tensor stays FP32/FP16";
        return r;
    }

    //! Whether dimensions [0, a) of x are 1 at every shape and dimension a is fixed; else why not.
    std::string leadingWhyNot(const Graph& g, const IrTensor& x, int a) const {
        for (int i = 0; i < a; ++i)
            if (x.dims.d[i] != 1 || dynamic(g, x, i))
                return strcat("dimension ", i, " of its input ", toString(x.dims), ", before its axis ", a, ", is not 1 at every shape");
        if (a < x.dims.nbDims && dynamic(g, x, a)) return strcat("its axis ", a, " changes with the input shapes");
        return {};
    }

    Range gatherRange(const Graph& g, const IrNode& n) const {
        const IrTensor &x = g.tensors[static_cast<size_t>(n.inputs[0])], &idx = g.tensors[static_cast<size_t>(n.inputs[1])];
        Range r;
        if (x.dims.nbDims < 1) return kept("its input is a scalar");
        const int a = GatherOp(n.fields).axis(x.dims.nbDims);
        if (!idx.constant || g.producer(n.inputs[1]) >= 0 || idx.type != DataType::kINT32 || volume(idx.dims) != 1 ||
            idx.constant->size() != sizeof(int32_t))
            return kept("its index is not one constant int32 value");
        if (!(r.why = leadingWhyNot(g, x, a)).empty()) return r;
        int32_t i;
        std::memcpy(&i, idx.constant->data(), sizeof i);
        const int64_t len = x.dims.d[a];
        if (i < -len || i >= len)
            return kept(strcat("its index ", i, " is out of range for dimension ", a, " (", len, "); the kernel reports it"));
        r.row0 = i < 0 ? i + len : i;
        r.tail = x.dims.nbDims - a - 1;
        return r;
    }

    Range sliceRange(const Graph& g, const IrNode& n) const {
        const IrTensor& x = g.tensors[static_cast<size_t>(n.inputs[0])];
        Range r;
        if (n.inputs.size() != 1) return kept("its start and size are run-time shape tensors");
        const SliceOp op(n.fields);
        const int rank = x.dims.nbDims;
        int64_t st[Dims::MAX_DIMS], sz[Dims::MAX_DIMS], sd[Dims::MAX_DIMS];
        op.full(x.dims, st, sz, sd);
        // A dimension is whole at every shape when the slice takes all of it and, if the fields name it (the trailing
        // ones), it is fixed (a named size stays when the input's changes).
        const int named = rank - static_cast<int>(op.size.size());
        auto whole = [&](int i) {
            return st[i] == 0 && sz[i] == x.dims.d[i] && (sd[i] == 1 || sz[i] <= 1) && (i < named || !dynamic(g, x, i));
        };
        int a = 0;
        while (a < rank && whole(a)) ++a;
        if (a < rank) {
            for (int i = a + 1; i < rank; ++i)
                if (!whole(i)) return kept(strcat("it slices dimensions ", a, " and ", i, " of its input: not one contiguous range"));
            if (sz[a] < 1) return kept("it is empty");
            if (sd[a] != 1 && sz[a] > 1) return kept(strcat("its stride along dimension ", a, " is ", sd[a], ": not contiguous"));
        }
        if (!(r.why = leadingWhyNot(g, x, a)).empty()) return r;
        r.row0 = a < rank ? st[a] : 0;
        r.tail = a < rank ? rank - a - 1 : rank;
        return r;
    }

    //! r, rows of the range view x, as rows of x's parent (views are never views of views): r's rows must not cut across
    //! x's (its tail within x's), and the dimensions of x between the two tails must be the same at every shape, so that x's
    //! row offset is a fixed number of r's rows.
    Range throughParent(const Graph& g, const IrTensor& x, Range r) const {
        const int nb = x.dims.nbDims;
        const std::string parent = g.tensors[static_cast<size_t>(x.viewOf)].name;
        if (r.tail > x.viewTail) return kept(strcat("its input is a view of rows of '", parent, "', and it would take parts of those rows"));
        int64_t rowsPerRow = 1;
        for (int i = nb - x.viewTail; i < nb - r.tail; ++i) {
            if (dynamic(g, x, i))
                return kept(strcat("its input is a view of rows of '", parent, "' whose dimension ", i, " changes with the input shapes"));
            rowsPerRow *= x.dims.d[i];
        }
        r.row0 += x.viewOffset * rowsPerRow;
        return r;
    }

    //! The view's first byte must keep the arena's alignment at every shape: the row offset times the tail's fixed
    //! dimensions, at 2 bytes an element for a float tensor (the negotiation may make the family FP16).
    std::string misaligned(const Graph& g, int yi, const Range& r) const {
        const IrTensor& y = g.tensors[static_cast<size_t>(yi)];
        if (r.row0 == 0) return {};
        int64_t bytes = r.row0 * (y.type == DataType::kFLOAT || y.type == DataType::kHALF ? 2 : dataTypeSize(y.type));
        for (int i = y.dims.nbDims - r.tail; i < y.dims.nbDims; ++i)
            if (!dynamic(g, y, i)) bytes *= y.dims.d[i];
        if (bytes % kTensorAlignment == 0) return {};
        return strcat("its offset (row ", r.row0, " of its input) is not a multiple of ", kTensorAlignment,
                      " bytes at every shape, an alignment kernels may assume");
    }
};

}  // namespace

std::unique_ptr<Pass> makeLeadingAxisViews() { return std::make_unique<LeadingAxisViews>(); }

}  // namespace gie
