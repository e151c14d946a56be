// Gather shape rules (numpy.take): data of any type, int32 indices of any shape (rank 0 included);
// output dims = data[:axis] + indices + data[axis+1:], type of data. Negative indices count from the end.
#pragma once

#include "gie/network.h"
#include "plugin/builtin.h"

namespace gie {

struct GatherOp : OpBase {
    static constexpr const char* kType = "Gather";
    static std::vector<FieldSpec> fieldSpecs() { return {{"axis", PluginFieldType::kINT64}}; }
    int64_t axisField;

    explicit GatherOp(const FieldMap& f) { axisField = f.getInt("axis", 0); }

    int axis(int rank) const { return normalizeAxis(axisField, rank, "Gather"); }

    //! A call's data as `outer` blocks of `axisLen` rows of `inner` bytes, and the number of index values.
    struct CallLayout {
        int axis;
        int64_t outer, axisLen, inner, nIdx;
    };
    CallLayout layout(const KernelCall& c) const {
        const Dims& d = c.inDims(0);
        const int a = axis(d.nbDims);
        const AxisSplit sp = splitAtAxis(d, a);
        return {a, sp.outer, d.d[a], sp.inner * dataTypeSize(c.inDesc[0].type), volume(c.inDims(1))};
    }

    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 2, 2, kType);
        const Dims& data = in[0];
        const Dims& idx = in[1];
        GIE_CHECK(data.nbDims >= 1, ErrorCode::kINVALID_MODEL, "Gather: data ", toString(data), " is a scalar; it needs rank >= 1");
        const int a = axis(data.nbDims);
        GIE_CHECK(data.nbDims - 1 + idx.nbDims <= Dims::MAX_DIMS, ErrorCode::kINVALID_MODEL, "Gather: data ", toString(data),
                  " with indices ", toString(idx), " would give rank ", data.nbDims - 1 + idx.nbDims, "; at most 8 is supported");
        GIE_CHECK(data.d[a] > 0 || volume(idx) == 0, ErrorCode::kINVALID_MODEL, "Gather: axis ", a, " of data ", toString(data),
                  " is empty, so no index can be valid");
        Dims o;
        o.nbDims = data.nbDims - 1 + idx.nbDims;
        int k = 0;
        for (int i = 0; i < a; ++i) o.d[k++] = data.d[i];
        for (int i = 0; i < idx.nbDims; ++i) o.d[k++] = idx.d[i];
        for (int i = a + 1; i < data.nbDims; ++i) o.d[k++] = data.d[i];
        out[0] = o;
    }
    void outputTypes(const std::vector<DataType>& in, std::vector<DataType>& out) const {
        GIE_CHECK(in.size() == 2, ErrorCode::kINVALID_MODEL, "Gather takes 2 inputs (data, indices), got ", in.size());
        GIE_CHECK(in[1] == DataType::kINT32, ErrorCode::kINVALID_MODEL, "Gather: indices (input 1) must be int32, got ",
                  dataTypeName(in[1]));
        out[0] = in[0];
    }
    bool supports(int pos, const TensorDesc* inOut, int nbInputs, int) const {
        if (inOut[pos].format != TensorFormat::kLINEAR) return false;
        if (pos == 0) return true;
        if (pos == 1) return inOut[1].type == DataType::kINT32;
        return inOut[pos].type == inOut[0].type;
    }
};

}  // namespace gie
