// Reduce shape rules: sum / prod / max / min / average over any set of axes (float32).
//
// Fields: op ReduceOperation (default sum), axes (one or more distinct axes; negative counts from the
// end), keep_dims (default 1: reduced axes stay with size 1; 0: they are removed).
#pragma once

#include <vector>

#include "gie/network.h"
#include "plugin/builtin.h"

namespace gie {

struct ReduceOp : OpBase {
    static constexpr const char* kType = "Reduce";
    static std::vector<FieldSpec> fieldSpecs() {
        return {{"op", PluginFieldType::kINT64}, {"axes", PluginFieldType::kINT64}, {"keep_dims", PluginFieldType::kINT64}};
    }
    ReduceOperation op = ReduceOperation::kSUM;
    std::vector<int64_t> axes;
    bool keepDims = true;

    explicit ReduceOp(const FieldMap& f) {
        int64_t o = f.getInt("op", 0);
        GIE_CHECK(o >= 0 && o <= 4, ErrorCode::kINVALID_ARGUMENT, "Reduce: unknown op ", o, " (0 sum, 1 prod, 2 max, 3 min, 4 avg)");
        op = static_cast<ReduceOperation>(o);
        axes = f.ints("axes");
        GIE_CHECK(!axes.empty(), ErrorCode::kINVALID_ARGUMENT, "Reduce: 'axes' must name at least one axis");
        GIE_CHECK(axes.size() <= static_cast<size_t>(Dims::MAX_DIMS), ErrorCode::kINVALID_ARGUMENT, "Reduce: ", axes.size(),
                  " axes given; at most 8 dimensions are supported");
        keepDims = f.getInt("keep_dims", 1) != 0;
    }
    //! reduced[i] for each input dimension; fails on an axis out of range or repeated.
    void reducedAxes(int rank, bool* reduced) const {
        for (int i = 0; i < rank; ++i) reduced[i] = false;
        for (int64_t a : axes) {
            GIE_CHECK(a >= -rank && a < rank, ErrorCode::kINVALID_MODEL, "Reduce: axis ", a, " is out of range for a ", rank,
                      "-dimensional input (valid: ", -rank, " to ", rank - 1, ")");
            int n = static_cast<int>(a < 0 ? a + rank : a);
            GIE_CHECK(!reduced[n], ErrorCode::kINVALID_MODEL, "Reduce: axis ", a, " is given twice (axes refer to dimension ", n, " more than once)");
            reduced[n] = true;
        }
    }
    //! The dimensions of input `x` merged into runs of one role (reduced or kept), size-1 dimensions
    //! dropped, outermost first: sizes[g] and role[g] (true = reduced). Returns the number of runs.
    int groupDims(const Dims& x, int64_t* sizes, bool* role) const {
        bool red[Dims::MAX_DIMS];
        reducedAxes(x.nbDims, red);
        int ng = 0;
        for (int i = 0; i < x.nbDims; ++i) {
            if (x.d[i] == 1) continue;
            if (ng > 0 && role[ng - 1] == red[i]) {
                sizes[ng - 1] *= x.d[i];
            } else {
                sizes[ng] = x.d[i];
                role[ng] = red[i];
                ++ng;
            }
        }
        return ng;
    }
    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 1, 1, kType);
        const Dims& x = in[0];
        bool red[Dims::MAX_DIMS];
        reducedAxes(x.nbDims, red);
        Dims y;
        y.nbDims = 0;
        for (int i = 0; i < x.nbDims; ++i) {
            if (!red[i])
                y.d[y.nbDims++] = x.d[i];
            else if (keepDims)
                y.d[y.nbDims++] = 1;
        }
        out[0] = y;
    }
};

}  // namespace gie
