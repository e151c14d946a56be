// Slice shape rules: strided windows of a tensor of any type.
//
// Fields: start, size, stride (one value per dimension; fewer values apply to the trailing dimensions and
// the leading ones, such as the batch, are kept whole). Element i of a sliced dimension is
// input[start + i * stride]; stride may be negative but not 0. Every selected index must lie inside the
// input dimension.
#pragma once

#include <vector>

#include "layers/simple.h"

namespace gie {

struct SliceOp : AnyTypeOp {
    static constexpr const char* kType = "Slice";
    static std::vector<FieldSpec> fieldSpecs() {
        return {{"start", PluginFieldType::kINT64}, {"size", PluginFieldType::kINT64}, {"stride", PluginFieldType::kINT64}};
    }
    std::vector<int64_t> start, size, stride;

    explicit SliceOp(const FieldMap& f) {
        start = f.ints("start");
        size = f.ints("size");
        stride = f.ints("stride", std::vector<int64_t>(size.size(), 1));
        GIE_CHECK(start.size() == size.size() && stride.size() == size.size(), ErrorCode::kINVALID_ARGUMENT,
                  "Slice: start, size and stride need the same number of values, got ", start.size(), ", ", size.size(), " and ",
                  stride.size());
        GIE_CHECK(size.size() <= static_cast<size_t>(Dims::MAX_DIMS), ErrorCode::kINVALID_ARGUMENT, "Slice: ", size.size(),
                  " dimensions given; at most 8 are supported");
        for (size_t i = 0; i < size.size(); ++i) {
            GIE_CHECK(stride[i] != 0, ErrorCode::kINVALID_ARGUMENT, "Slice: stride of sliced dimension ", i, " is 0");
            GIE_CHECK(size[i] >= 0, ErrorCode::kINVALID_ARGUMENT, "Slice: size of sliced dimension ", i, " is negative (", size[i], ")");
            checkedSizeField(start[i], ErrorCode::kINVALID_ARGUMENT, "Slice start[", i, "]");
            checkedSizeField(size[i], ErrorCode::kINVALID_ARGUMENT, "Slice size[", i, "]");
            checkedSizeField(stride[i], ErrorCode::kINVALID_ARGUMENT, "Slice stride[", i, "]");
        }
    }
    //! Full-rank start/size/stride for an input `x`; validates that every selected index is in range. `rt` (nRt of them):
    //! the values of shape tensors at inputs 1..3 (layers/shape_op.h): full-rank start, size and (optionally) stride
    //! computed at run time, replacing the fields; a run-time stride may be 0 (every element reads the same index:
    //! broadcasting, as Expand and ConstantOfShape use it).
    void full(const Dims& x, int64_t* st, int64_t* sz, int64_t* sd, const Dims* rt = nullptr, int nRt = 0) const {
        const int rank = x.nbDims;
        if (nRt > 0) {
            GIE_CHECK(size.empty() && nRt >= 2 && nRt <= 3, ErrorCode::kINVALID_MODEL, "Slice with shape tensors takes start and size (and "
                      "stride) at inputs 1..3 and no start/size/stride fields");
            for (int k = 0; k < nRt; ++k)
                GIE_CHECK(rt[k].nbDims == rank, ErrorCode::kINVALID_MODEL, "Slice: run-time ", k == 0 ? "start " : k == 1 ? "size " : "stride ",
                          toString(rt[k]), " needs one value per dimension of the input ", toString(x));
            for (int i = 0; i < rank; ++i) {
                st[i] = rt[0].d[i];
                sz[i] = rt[1].d[i];
                sd[i] = nRt > 2 ? rt[2].d[i] : 1;
                GIE_CHECK(sz[i] >= 0, ErrorCode::kINVALID_MODEL, "Slice: run-time size ", toString(rt[1]), " is negative in dimension ", i);
                if (sz[i] == 0) continue;
                const int64_t last = st[i] + (sz[i] - 1) * sd[i];  // |values| <= 2^31: no overflow
                GIE_CHECK(st[i] >= 0 && st[i] < x.d[i] && last >= 0 && last < x.d[i], ErrorCode::kINVALID_MODEL, "Slice: dimension ", i,
                          " (run-time start ", st[i], ", size ", sz[i], ", stride ", sd[i], ") reaches outside [0, ", x.d[i],
                          ") of input ", toString(x));
            }
            return;
        }
        GIE_CHECK(static_cast<int>(size.size()) <= rank, ErrorCode::kINVALID_MODEL, "Slice: ", size.size(),
                  " values of start/size/stride given for a ", rank, "-dimensional input ", toString(x));
        const int off = rank - static_cast<int>(size.size());
        for (int i = 0; i < rank; ++i) {
            if (i < off) {
                st[i] = 0;
                sz[i] = x.d[i];
                sd[i] = 1;
                continue;
            }
            const size_t j = static_cast<size_t>(i - off);
            st[i] = start[j];
            sz[i] = size[j];
            sd[i] = stride[j];
            if (sz[i] == 0) continue;
            const int64_t last = st[i] + checkedMul(sz[i] - 1, sd[i], ErrorCode::kINVALID_MODEL, "Slice dimension ", i, " (size - 1) * stride");
            GIE_CHECK(st[i] >= 0 && st[i] < x.d[i], ErrorCode::kINVALID_MODEL, "Slice: start ", st[i], " of dimension ", i,
                      " is out of range [0, ", x.d[i], ") for input ", toString(x));
            GIE_CHECK(last >= 0 && last < x.d[i], ErrorCode::kINVALID_MODEL, "Slice: dimension ", i, " (start ", st[i], ", size ", sz[i],
                      ", stride ", sd[i], ") reaches index ", last, ", out of range [0, ", x.d[i], ") for input ", toString(x));
        }
    }
    //! full() for a kernel call: the input's dims, and the shape tensors at inputs 1..3 when there are any.
    void full(const KernelCall& c, int64_t* st, int64_t* sz, int64_t* sd) const {
        Dims rt[3];  // run-time start, size, stride (shape tensors: their values are the descriptors' dims)
        for (int k = 1; k < c.nbInputs && k <= 3; ++k) rt[k - 1] = c.inDims(k);
        full(c.inDims(0), st, sz, sd, rt, c.nbInputs - 1);
    }
    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 1, 4, kType);
        int64_t st[Dims::MAX_DIMS], sz[Dims::MAX_DIMS], sd[Dims::MAX_DIMS];
        full(in[0], st, sz, sd, in.data() + 1, static_cast<int>(in.size()) - 1);
        out[0] = in[0];
        for (int i = 0; i < in[0].nbDims; ++i) out[0].d[i] = sz[i];
    }
    bool supports(int pos, const TensorDesc* inOut, int nIn, int) const {
        if (pos > 0 && pos < nIn) return inOut[pos].type == DataType::kINT32;  // shape tensors
        return inOut[pos].format == TensorFormat::kLINEAR && (pos < nIn || inOut[pos].type == inOut[0].type);
    }
};

}  // namespace gie
