// Range: y[i] = start + i * delta for i < max(ceil((limit - start) / delta), 0), int32 (ONNX Range over a run-time
// count). Type name "Range". Three inputs, shape tensors of one value each (layers/shape_op.h): start, limit, delta
// (not 0); their values are the rule's input dims and, at enqueue, the descriptors' dims.
#pragma once

#include <algorithm>
#include <vector>

#include "layers/simple.h"

namespace gie {

struct RangeOp : OpBase {
    static constexpr const char* kType = "Range";
    static std::vector<FieldSpec> fieldSpecs() { return {}; }
    explicit RangeOp(const FieldMap&) {}
    //! start, delta and the count from the three values; throws on a bad operand.
    static void params(const Dims& start, const Dims& limit, const Dims& delta, int64_t& s, int64_t& d, int64_t& n) {
        GIE_CHECK(start.nbDims == 1 && limit.nbDims == 1 && delta.nbDims == 1, ErrorCode::kINVALID_MODEL,
                  "Range takes start, limit and delta as shape tensors of one value each");
        s = start.d[0];
        d = delta.d[0];
        GIE_CHECK(d != 0, ErrorCode::kINVALID_MODEL, "Range: delta is 0");
        const int64_t span = limit.d[0] - s;  // shape tensor values are within +-2^31: no overflow
        n = span / d + ((span % d != 0) && ((span < 0) == (d < 0)));  // ceil(span / d)
        if (n < 0) n = 0;
    }
    //! What a kernel writes at enqueue: start, delta and the count from the call's shape-tensor values, the count
    //! clamped to the output's planned length (the values may call for more than the memory planned for them).
    static void callParams(const KernelCall& c, int64_t& s, int64_t& d, int64_t& n) {
        params(c.inDims(0), c.inDims(1), c.inDims(2), s, d, n);
        n = std::min(n, c.outDims(0).d[0]);
    }
    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 3, 3, kType);
        int64_t s, d, n;
        params(in[0], in[1], in[2], s, d, n);
        out[0].nbDims = 1;
        out[0].d[0] = n;
    }
    void outputTypes(const std::vector<DataType>&, std::vector<DataType>& out) const { out[0] = DataType::kINT32; }
    bool supports(int pos, const TensorDesc* inOut, int, int) const {
        return inOut[pos].format == TensorFormat::kLINEAR && inOut[pos].type == DataType::kINT32;
    }
};

}  // namespace gie
