// Reformat: converts a tensor's data type and/or memory format in one pass (inserted by the builder
// where a producer and a consumer chose different (type, format) states; never in a user's network).
// Field `to`: the output DataType. Formats come from the descriptors (common/format.h); channels-last
// formats need 4-D tensors. FLOAT <-> HALF rounds to nearest even; HWC8 padding channels are written as 0.
// INT8 (to = 2; the CPU and GPU kernels): quantizes FLOAT/HALF with the output descriptor's scale, dequantizes
// INT8 with the input's, or moves INT8 between LINEAR, NHWC and CHW4 (layers/int8_math.h); supports() here is the
// float rule every device shares, the CPU kernel adds the INT8 states.
#pragma once

#include "common/format.h"
#include "gie/network.h"
#include "plugin/builtin.h"

namespace gie {

struct ReformatOp : OpBase {
    static constexpr const char* kType = "Reformat";
    static std::vector<FieldSpec> fieldSpecs() { return {{"to", PluginFieldType::kINT64}}; }
    DataType to = DataType::kFLOAT;

    explicit ReformatOp(const FieldMap& f) {
        const int64_t t = f.getInt("to", 0);
        GIE_CHECK(t == static_cast<int64_t>(DataType::kFLOAT) || t == static_cast<int64_t>(DataType::kHALF) ||
                      t == static_cast<int64_t>(DataType::kINT8),
                  ErrorCode::kINVALID_ARGUMENT, "Reformat: field 'to' is ", t, ", not 0 (float32), 1 (float16) or 2 (int8)");
        to = static_cast<DataType>(t);
    }
    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 1, 1, kType);
        out[0] = in[0];
    }
    void outputTypes(const std::vector<DataType>&, std::vector<DataType>& out) const { out[0] = to; }
    //! FLOAT or HALF in, `to` (FLOAT or HALF) out; LINEAR, NHWC or HWC8 on either side (channels-last only for 4-D).
    bool supports(int pos, const TensorDesc* inOut, int nbInputs, int) const {
        const TensorDesc& d = inOut[pos];
        if (d.type != DataType::kFLOAT && d.type != DataType::kHALF) return false;
        if (!formatFitsRank(d.format, d.dims.nbDims) || !implementedFormat(d.format) || !formatFitsType(d.format, d.type)) return false;
        return pos < nbInputs || d.type == to;
    }
    //! The float rule, plus INT8 on either side (LINEAR, NHWC or CHW4, a positive finite scale): what the CPU kernel does.
    bool supportsWithInt8(int pos, const TensorDesc* inOut, int nbInputs, int nbOutputs) const {
        const TensorDesc& d = inOut[pos];
        if (d.type != DataType::kINT8) return supports(pos, inOut, nbInputs, nbOutputs);
        if (!formatFitsRank(d.format, d.dims.nbDims) || !formatFitsType(d.format, d.type)) return false;
        if (!(d.scale > 0.f && d.scale < 3.0e38f)) return false;
        return pos < nbInputs || to == DataType::kINT8;
    }
};

}  // namespace gie
