// Explicit quantization (docs/int8.md): ONNX QuantizeLinear / DequantizeLinear, as quantization-aware training tools
// export them.
//   - On known values (weights, per tensor or per axis): folded at import, numpy-exactly (round half to even,
//     saturate; dequantize = float(q - zero_point) * scale), so quantized weights reach the layers as the float values
//     the model means; gie's INT8 kernels requantize them per output channel (exact when a channel's largest |q| is 127).
//   - On a run-time tensor (an activation; per tensor only): the pair Q -> DQ becomes one QuantizeDequantize layer
//     (layers/quantize_dequantize.h): the rounding in float without INT8, the tensor's INT8 range with INT8 (the pass
//     fold_quantize_dequantize). The Q output stands for its dequantized value; the DequantizeLinear that reads it
//     (same scale and zero point) passes it on.
#include <cmath>

#include "parsers/onnx/onnx_importer.h"

namespace gie {
namespace onnx {
namespace {

void quantRange(int32_t dtype, int64_t& lo, int64_t& hi) {
    if (dtype == kINT8) lo = -128, hi = 127;
    else if (dtype == kUINT8) lo = 0, hi = 255;
    else if (dtype == kINT32) lo = -2147483648LL, hi = 2147483647LL;
    else throw Unsupported(strcat("quantized type ", dtype, " (gie takes int8, uint8 and, for DequantizeLinear, int32)"));
}

//! Scale and zero point of input 1 / 2 of a Q or DQ node, broadcast to the axis of `x` (per tensor: one value).
struct QParams {
    std::vector<float> scale;
    std::vector<int64_t> zp;
    int32_t dtype = kUINT8;  // ONNX: without a zero point the quantized type is uint8
    int64_t axis = -1;       // -1: per tensor
};
QParams qparams(Importer& p, const NodeProto& n, const Attrs& a, size_t rank, bool quantize) {
    QParams q;
    if (n.input.size() < 2 || n.input[1].empty() || !p.isConst(n.input[1]))
        throw Unsupported(strcat(n.opType, ": the scale must be a constant"));
    const Value& s = p.constant(n.input[1]);
    q.scale = s.floats();
    if (n.input.size() > 2 && !n.input[2].empty()) {
        if (!p.isConst(n.input[2])) throw Unsupported(strcat(n.opType, ": the zero point must be a constant"));
        const Value& z = p.constant(n.input[2]);
        q.zp = z.ints();
        q.dtype = z.dtype;
        if (z.size() != s.size()) throw Unsupported(strcat(n.opType, ": zero point and scale differ in size"));
    } else {
        q.zp.assign(q.scale.size(), 0);
        if (!quantize) q.dtype = kINT8;  // DequantizeLinear without a zero point: the input's type decides (checked there)
    }
    if (a.has("block_size") && a.i("block_size", 0) != 0) throw Unsupported(strcat(n.opType, " with block_size (blocked quantization)"));
    for (float v : q.scale)
        if (!(std::isfinite(v) && v > 0.f)) fail(ErrorCode::kINVALID_MODEL, n.opType, " '", n.name, "': scale ", v, " is not positive and finite");
    if (s.size() != 1 || !s.shape.empty()) {
        if (s.shape.size() > 1) throw Unsupported(strcat(n.opType, ": a scale of rank ", s.shape.size(), " (blocked quantization)"));
        if (s.size() != 1) {
            int64_t ax = a.i("axis", 1);
            if (ax < 0) ax += int64_t(rank);
            if (ax < 0 || ax >= int64_t(rank)) fail(ErrorCode::kINVALID_MODEL, n.opType, " '", n.name, "': axis out of range");
            q.axis = ax;
        }
    }
    return q;
}

//! Index into the per-axis parameters of element k of a value of shape `shape`.
size_t paramIndex(const std::vector<int64_t>& shape, int64_t axis, int64_t k) {
    if (axis < 0) return 0;
    int64_t inner = 1;
    for (size_t d = size_t(axis) + 1; d < shape.size(); ++d) inner *= shape[d];
    return size_t((k / inner) % shape[size_t(axis)]);
}

void checkAxis(const QParams& q, const std::vector<int64_t>& shape, const NodeProto& n) {
    if (q.axis >= 0 && shape[size_t(q.axis)] != int64_t(q.scale.size()))
        fail(ErrorCode::kINVALID_MODEL, n.opType, " '", n.name, "': ", q.scale.size(), " scales for axis ", q.axis, " of shape ", shapeStr(shape));
}

bool foldQuantize(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    const Value& x = p.constant(n.input.at(0));
    if (!x.isFloat()) return false;
    const QParams q = qparams(p, n, a, x.shape.size(), true);
    checkAxis(q, x.shape, n);
    int64_t lo, hi;
    quantRange(q.dtype, lo, hi);
    std::vector<int64_t> v(size_t(x.size()));
    for (int64_t k = 0; k < x.size(); ++k) {
        const size_t j = paramIndex(x.shape, q.axis, k);
        const float r = std::nearbyint(x.f[size_t(k)] / q.scale[j]);
        const double w = std::isnan(r) ? double(q.zp[j]) : double(r) + double(q.zp[j]);
        v[size_t(k)] = int64_t(w < double(lo) ? double(lo) : (w > double(hi) ? double(hi) : w));
    }
    out.push_back(Value::ofInts(q.dtype, x.shape, std::move(v)));
    return true;
}

bool foldDequantize(Importer& p, const NodeProto& n, const Attrs& a, std::vector<Value>& out) {
    const Value& x = p.constant(n.input.at(0));
    if (x.isFloat()) return false;
    QParams q = qparams(p, n, a, x.shape.size(), false);
    checkAxis(q, x.shape, n);
    std::vector<float> v(size_t(x.size()));
    for (int64_t k = 0; k < x.size(); ++k) {
        const size_t j = paramIndex(x.shape, q.axis, k);
        v[size_t(k)] = float(x.i[size_t(k)] - q.zp[j]) * q.scale[j];
    }
    out.push_back(Value::ofFloats(kFLOAT, x.shape, std::move(v)));
    return true;
}

std::vector<ITensor*> quantizeLinear(Importer& p, const NodeProto& n, const Attrs& a) {
    if (p.readOutsideDequantize.count(n.output.at(0)))
        throw Unsupported("QuantizeLinear of a run-time tensor whose integers are used (read by a node other than DequantizeLinear, or a "
                          "graph output): gie imports Q -> DQ pairs");
    ITensor* x = p.tensor(n.input.at(0));
    const QParams q = qparams(p, n, a, dynamicDimsOf(x).size(), true);
    if (q.scale.size() != 1) throw Unsupported("QuantizeLinear per axis on a run-time tensor (gie quantizes activations per tensor)");
    int64_t lo, hi;
    quantRange(q.dtype, lo, hi);
    if (q.dtype == kINT32) throw Unsupported("QuantizeLinear to int32");
    Fields f;
    f.f("scale", q.scale[0]).i("zero_point", q.zp[0]).i("qmin", lo).i("qmax", hi);
    ITensor* y = p.add("QuantizeDequantize", {x}, f)->getOutput(0);
    p.quantized[n.output.at(0)] = {q.scale[0], q.zp[0]};
    return {y};
}

std::vector<ITensor*> dequantizeLinear(Importer& p, const NodeProto& n, const Attrs& a) {
    const std::string& src = n.input.at(0);
    auto it = p.quantized.find(src);
    if (it == p.quantized.end())
        throw Unsupported("DequantizeLinear of a run-time tensor that no QuantizeLinear of this model made (gie imports Q/DQ pairs)");
    ITensor* x = p.tensor(src);
    const QParams q = qparams(p, n, a, dynamicDimsOf(x).size(), false);
    if (q.scale.size() != 1 || q.scale[0] != it->second.scale || q.zp[0] != it->second.zeroPoint)
        throw Unsupported("DequantizeLinear with another scale or zero point than the QuantizeLinear it reads");
    return {x};
}

}  // namespace

void addQdqConverters(std::map<std::string, Converter>& c) {
    c["QuantizeLinear"] = quantizeLinear;
    c["DequantizeLinear"] = dequantizeLinear;
}

void addQdqFolders(std::map<std::string, Folder>& f) {
    f["QuantizeLinear"] = foldQuantize;
    f["DequantizeLinear"] = foldDequantize;
}

}  // namespace onnx
}  // namespace gie
