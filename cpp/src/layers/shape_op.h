// ShapeOp: the host ops of run-time shape tensors (issue 15, docs/dynamic_shapes.md "Shape tensors").
//
// A shape tensor is a small 1-D (or 0-D) integer tensor whose VALUE is a function of the input shapes: the dimensions
// of a tensor (op SHAPE) and arithmetic on them. Its value travels where every other tensor's shape travels: through
// the shape rules. The rule of a ShapeOp returns the output VALUE as a Dims (one entry per element, at most 8), and a
// layer that takes a shape tensor (Shuffle input 1, Resize input 1, Slice inputs 1..3, Range inputs 0..2) receives that
// value in place of the input's dimensions. So the network's seeds, the builder's min/opt/max and corner evaluations,
// the engine file's checks and set_input_shape (propagateShapes) evaluate the shape program with no other machinery;
// the tensor's own shape is (number of values,), or () with `scalar`. The kernels do nothing at enqueue (the value is
// host data, already in the descriptors), on every backend.
//
// Fields: op (ShapeOpCode), scalar (output is 0-D: one value), values (CONST), binary (ElementWiseOperation of BINARY:
// SUM, PROD, MAX, MIN, SUB, DIV (truncating), FLOOR_DIV, EQUAL, GREATER, LESS, MOD (floor)), reduce (ReduceOperation of
// REDUCE: SUM, PROD, MAX, MIN), start/end/step (SLICE, Python slice semantics), to (CAST: kINT32 or kBOOL).
// Inputs: SHAPE 1 (any tensor that is not a shape tensor), CONST 0, BINARY 2, GATHER 2 (data, indices; negative indices
// count from the end), CONCAT 1..8, SLICE / RESHAPE / REDUCE / CAST 1, SELECT 3 (condition, a, b). Operands broadcast
// when one of them has one value. Every value stays within +-(2^31 - 1) (TensorRT's int32 shape tensors).
#pragma once

#include <string>
#include <vector>

#include "layers/simple.h"

namespace gie {

enum class ShapeOpCode : int64_t { kSHAPE = 0, kCONST = 1, kBINARY = 2, kGATHER = 3, kCONCAT = 4, kSLICE = 5, kRESHAPE = 6,
                                   kREDUCE = 7, kSELECT = 8, kCAST = 9 };

struct ShapeOp : OpBase {
    static constexpr const char* kType = "ShapeOp";
    static constexpr int64_t kMaxValue = 2147483647;
    static std::vector<FieldSpec> fieldSpecs() {
        return {{"op", PluginFieldType::kINT64},     {"scalar", PluginFieldType::kINT64}, {"values", PluginFieldType::kINT64},
                {"binary", PluginFieldType::kINT64}, {"reduce", PluginFieldType::kINT64}, {"start", PluginFieldType::kINT64},
                {"end", PluginFieldType::kINT64},    {"step", PluginFieldType::kINT64},   {"to", PluginFieldType::kINT64}};
    }
    ShapeOpCode op = ShapeOpCode::kSHAPE;
    bool scalar = false;
    std::vector<int64_t> values;
    int64_t binary = 0, reduce = 0, start = 0, end = 0, step = 1, to = static_cast<int64_t>(DataType::kINT32);

    static const char* opName(ShapeOpCode c) {
        static const char* names[] = {"SHAPE", "CONST", "BINARY", "GATHER", "CONCAT", "SLICE", "RESHAPE", "REDUCE", "SELECT", "CAST"};
        return names[static_cast<int>(c)];
    }
    static int64_t checkedValue(int64_t v, const char* what) {
        GIE_CHECK(v >= -kMaxValue && v <= kMaxValue, ErrorCode::kINVALID_MODEL, "ShapeOp ", what, ": value ", v,
                  " is outside the range of a shape tensor (+-2147483647)");
        return v;
    }

    explicit ShapeOp(const FieldMap& f) {
        const int64_t c = f.getInt("op", 0);
        GIE_CHECK(c >= 0 && c <= 9, ErrorCode::kINVALID_ARGUMENT, "ShapeOp: unknown op ", c, " (0..9: SHAPE, CONST, BINARY, GATHER, "
                  "CONCAT, SLICE, RESHAPE, REDUCE, SELECT, CAST)");
        op = static_cast<ShapeOpCode>(c);
        scalar = f.getInt("scalar", 0) != 0;
        values = f.ints("values");
        binary = f.getInt("binary", 0);
        reduce = f.getInt("reduce", 0);
        start = f.getInt("start", 0);
        end = f.getInt("end", kMaxValue);
        step = f.getInt("step", 1);
        to = f.getInt("to", static_cast<int64_t>(DataType::kINT32));
        if (op == ShapeOpCode::kCONST) {
            GIE_CHECK(values.size() <= static_cast<size_t>(Dims::MAX_DIMS), ErrorCode::kINVALID_ARGUMENT, "ShapeOp CONST has ",
                      values.size(), " values; a shape tensor holds at most 8");
            for (int64_t v : values) checkedValue(v, "CONST");
        }
        using E = ElementWiseOperation;
        if (op == ShapeOpCode::kBINARY) {
            const E b = static_cast<E>(binary);
            GIE_CHECK(b == E::kSUM || b == E::kPROD || b == E::kMAX || b == E::kMIN || b == E::kSUB || b == E::kDIV ||
                          b == E::kFLOOR_DIV || b == E::kEQUAL || b == E::kGREATER || b == E::kLESS || b == E::kMOD,
                      ErrorCode::kINVALID_ARGUMENT, "ShapeOp BINARY: operation ", binary, " is not one of SUM, PROD, MAX, MIN, SUB, "
                      "DIV, FLOOR_DIV, EQUAL, GREATER, LESS, MOD");
        }
        if (op == ShapeOpCode::kREDUCE) {
            const auto r = static_cast<ReduceOperation>(reduce);
            GIE_CHECK(r == ReduceOperation::kSUM || r == ReduceOperation::kPROD || r == ReduceOperation::kMAX || r == ReduceOperation::kMIN,
                      ErrorCode::kINVALID_ARGUMENT, "ShapeOp REDUCE: operation ", reduce, " is not one of SUM, PROD, MAX, MIN");
        }
        if (op == ShapeOpCode::kSLICE) GIE_CHECK(step != 0, ErrorCode::kINVALID_ARGUMENT, "ShapeOp SLICE: step is 0");
        if (op == ShapeOpCode::kCAST)
            GIE_CHECK(to == static_cast<int64_t>(DataType::kINT32) || to == static_cast<int64_t>(DataType::kBOOL),
                      ErrorCode::kINVALID_ARGUMENT, "ShapeOp CAST: a shape tensor is int32 or bool, not type ", to);
    }

    //! The shape of a shape tensor holding `value` (the tensor's real dimensions).
    static Dims tensorDims(const Dims& value, bool scalar) {
        Dims d;
        d.nbDims = scalar ? 0 : 1;
        d.d[0] = value.nbDims;
        return d;
    }

    static Dims broadcastTo(const Dims& v, int n) {
        if (v.nbDims == n) return v;
        Dims r;
        r.nbDims = n;
        for (int i = 0; i < n; ++i) r.d[i] = v.d[0];
        return r;
    }
    static int broadcastCount(const std::vector<Dims>& in) {
        int n = 1;
        for (const Dims& v : in) {
            GIE_CHECK(v.nbDims >= 1, ErrorCode::kINVALID_MODEL, "ShapeOp: an operand has no values");
            if (v.nbDims != 1) {
                GIE_CHECK(n == 1 || n == v.nbDims, ErrorCode::kINVALID_MODEL, "ShapeOp: operands of ", n, " and ", v.nbDims,
                          " values do not broadcast");
                n = v.nbDims;
            }
        }
        return n;
    }
    int64_t apply(int64_t a, int64_t b) const {
        using E = ElementWiseOperation;
        auto floorDiv = [](int64_t x, int64_t y) { return x / y - ((x % y != 0) && ((x < 0) != (y < 0))); };
        switch (static_cast<E>(binary)) {
            case E::kSUM: return a + b;  // |a|, |b| <= 2^31: no overflow in int64
            case E::kSUB: return a - b;
            case E::kPROD: return a * b;
            case E::kMAX: return std::max(a, b);
            case E::kMIN: return std::min(a, b);
            case E::kDIV:
                GIE_CHECK(b != 0, ErrorCode::kINVALID_MODEL, "ShapeOp BINARY DIV: division by 0");
                return a / b;
            case E::kFLOOR_DIV:
                GIE_CHECK(b != 0, ErrorCode::kINVALID_MODEL, "ShapeOp BINARY FLOOR_DIV: division by 0");
                return floorDiv(a, b);
            case E::kMOD:
                GIE_CHECK(b != 0, ErrorCode::kINVALID_MODEL, "ShapeOp BINARY MOD: modulo 0");
                return a - floorDiv(a, b) * b;
            case E::kEQUAL: return a == b;
            case E::kGREATER: return a > b;
            case E::kLESS: return a < b;
            default: return 0;
        }
    }

    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        Dims r;
        r.nbDims = 0;
        auto push = [&](int64_t v) {
            GIE_CHECK(r.nbDims < Dims::MAX_DIMS, ErrorCode::kINVALID_MODEL, "ShapeOp ", opName(op), ": more than 8 values");
            r.d[r.nbDims++] = checkedValue(v, opName(op));
        };
        switch (op) {
            case ShapeOpCode::kSHAPE:
                expectInputs(in, 1, 1, "ShapeOp SHAPE");
                for (int i = 0; i < in[0].nbDims; ++i) push(in[0].d[i]);
                break;
            case ShapeOpCode::kCONST:
                expectInputs(in, 0, 0, "ShapeOp CONST");
                for (int64_t v : values) push(v);
                break;
            case ShapeOpCode::kBINARY: {
                expectInputs(in, 2, 2, "ShapeOp BINARY");
                const int n = broadcastCount(in);
                const Dims a = broadcastTo(in[0], n), b = broadcastTo(in[1], n);
                for (int i = 0; i < n; ++i) push(apply(a.d[i], b.d[i]));
                break;
            }
            case ShapeOpCode::kGATHER:
                expectInputs(in, 2, 2, "ShapeOp GATHER");
                for (int i = 0; i < in[1].nbDims; ++i) {
                    int64_t k = in[1].d[i];
                    if (k < 0) k += in[0].nbDims;
                    GIE_CHECK(k >= 0 && k < in[0].nbDims, ErrorCode::kINVALID_MODEL, "ShapeOp GATHER: index ", in[1].d[i],
                              " is out of range for ", in[0].nbDims, " values");
                    push(in[0].d[k]);
                }
                break;
            case ShapeOpCode::kCONCAT:
                expectInputs(in, 1, 8, "ShapeOp CONCAT");
                for (const Dims& v : in)
                    for (int i = 0; i < v.nbDims; ++i) push(v.d[i]);
                break;
            case ShapeOpCode::kSLICE: {
                expectInputs(in, 1, 1, "ShapeOp SLICE");
                const int64_t n = in[0].nbDims;
                auto clampIdx = [&](int64_t i, bool forward) {
                    if (i < 0) i += n;
                    return forward ? std::clamp<int64_t>(i, 0, n) : std::clamp<int64_t>(i, -1, n - 1);
                };
                const int64_t s = clampIdx(start, step > 0), e = clampIdx(end, step > 0);
                for (int64_t i = s; step > 0 ? i < e : i > e; i += step) push(in[0].d[i]);
                break;
            }
            case ShapeOpCode::kRESHAPE: case ShapeOpCode::kCAST:
                expectInputs(in, 1, 1, "ShapeOp RESHAPE/CAST");
                for (int i = 0; i < in[0].nbDims; ++i) push(op == ShapeOpCode::kCAST && to == static_cast<int64_t>(DataType::kBOOL) ? in[0].d[i] != 0 : in[0].d[i]);
                break;
            case ShapeOpCode::kREDUCE: {
                expectInputs(in, 1, 1, "ShapeOp REDUCE");
                const auto ro = static_cast<ReduceOperation>(reduce);
                GIE_CHECK(in[0].nbDims > 0 || ro == ReduceOperation::kSUM || ro == ReduceOperation::kPROD, ErrorCode::kINVALID_MODEL,
                          "ShapeOp REDUCE MAX/MIN of no values");
                int64_t acc = ro == ReduceOperation::kPROD ? 1 : ro == ReduceOperation::kSUM ? 0 : in[0].d[0];
                for (int i = 0; i < in[0].nbDims; ++i) {
                    const int64_t v = in[0].d[i];
                    acc = ro == ReduceOperation::kSUM ? acc + v : ro == ReduceOperation::kPROD ? acc * v
                          : ro == ReduceOperation::kMAX ? std::max(acc, v) : std::min(acc, v);
                    checkedValue(acc, "REDUCE");  // before the next product can overflow
                }
                push(acc);
                break;
            }
            case ShapeOpCode::kSELECT: {
                expectInputs(in, 3, 3, "ShapeOp SELECT");
                const int n = broadcastCount(in);
                const Dims c = broadcastTo(in[0], n), a = broadcastTo(in[1], n), b = broadcastTo(in[2], n);
                for (int i = 0; i < n; ++i) push(c.d[i] ? a.d[i] : b.d[i]);
                break;
            }
        }
        GIE_CHECK(!scalar || r.nbDims == 1, ErrorCode::kINVALID_MODEL, "ShapeOp ", opName(op), ": a scalar output needs one value, got ",
                  r.nbDims);
        out[0] = r;
    }
    bool isBool() const {
        using E = ElementWiseOperation;
        const E b = static_cast<E>(binary);
        return (op == ShapeOpCode::kBINARY && (b == E::kEQUAL || b == E::kGREATER || b == E::kLESS)) ||
               (op == ShapeOpCode::kCAST && to == static_cast<int64_t>(DataType::kBOOL));
    }
    void outputTypes(const std::vector<DataType>& in, std::vector<DataType>& out) const {
        out[0] = isBool() ? DataType::kBOOL : op == ShapeOpCode::kSELECT && !in.empty() ? in[1] : op == ShapeOpCode::kRESHAPE && !in.empty() ? in[0]
                 : DataType::kINT32;
    }
    //! SHAPE reads only its input's dimensions (any type and format); the shape tensors are linear int32 or bool.
    bool supports(int pos, const TensorDesc* inOut, int nIn, int) const {
        if (op == ShapeOpCode::kSHAPE && pos < nIn) return true;
        return inOut[pos].format == TensorFormat::kLINEAR && (inOut[pos].type == DataType::kINT32 || inOut[pos].type == DataType::kBOOL);
    }
};

//! The base of the ShapeOp kernel on every backend: the rule returns the value (its entries may be 0 or negative, so
//! the volume check of Kernel::getOutputDimensions does not apply) and enqueue has nothing to do.
template <typename Self>
class ShapeOpKernel : public Kernel<Self, ShapeOp> {
public:
    using Kernel<Self, ShapeOp>::Kernel;
    int32_t getOutputDimensions(const Dims* inputs, int32_t nbInputs, Dims* outputs) const noexcept override {
        try {
            std::vector<Dims> in(inputs, inputs + nbInputs), out(1);
            this->op_.outputDims(in, out);
            outputs[0] = out[0];
            return 0;
        } catch (...) {
            recordCurrentException(nullptr);
            return -1;
        }
    }
    void run(const KernelCall&) const override {}
};

//! Layers that read a shape tensor's value (from the rule's input dims) at input `index`: ShapeOp (every input but
//! the one of SHAPE), Shuffle 1, Resize 1, Slice 1..3, Range 0..2. Any other layer refuses a shape tensor.
inline bool takesShapeValue(const std::string& type, size_t index) {
    if (type == "ShapeOp") return true;
    if (type == "Shuffle" || type == "Resize") return index == 1;
    if (type == "Slice") return index >= 1 && index <= 3;
    if (type == "Range") return index <= 2;
    return false;
}

}  // namespace gie
