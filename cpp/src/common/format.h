// Tensor memory formats: how the logical (N, C, H, W) element of a tensor maps to memory.
//
//   kLINEAR  row-major over the logical dims (any rank).
//   kNHWC    4-D only: element (n, c, h, w) at n*H*W*C + (h*W + w)*C + c. FLOAT / HALF, and INT8 (the INT8
//            tensor-core convolutions' channels-last layout, docs/int8.md: a pixel's channels are contiguous, so 16
//            channels at one tap are one 16-byte copy); no padding channels.
//   kHWC8    4-D only: NHWC with the channels padded to Cp = roundUp(C, 8) (the FP16 tensor-core layout);
//            element (n, c, h, w) at n*H*W*Cp + (h*W + w)*Cp + c. Every kernel that writes an HWC8 tensor
//            writes zeros into the padding channels c in [C, Cp), so readers may load 8 channels at once.
//   kCHW4    4-D only, INT8 tensors only (the dp4a layout): NCHW over channel groups of 4, the 4 channels of a group
//            innermost, C padded to Cp = roundUp(C, 4): element (n, c, h, w) at
//            n*Cp*H*W + (c/4)*H*W*4 + (h*W + w)*4 + c%4. Padding channels are written as 0, like HWC8's.
//            Network inputs and outputs are never CHW4 (tensor.allowed_formats refuses it): it is an internal format.
//
// TensorDesc.strides always holds the element stride of each *logical* dimension, so for NHWC/HWC8
// strides = {H*W*Cp, 1, W*Cp, Cp}. For CHW4 no single channel stride exists: strides = {Cp*H*W, 1, 4*W, 4},
// strides[1] = 1 being the step inside a group of 4; elementOffset() computes the address of any element.
// strides[0] may be larger than packed for a view (channel slice of a concatenation); views exist only for
// kLINEAR tensors today.
#pragma once

#include <algorithm>
#include <cstdint>

#include "common/dims.h"
#include "common/error.h"
#include "gie/plugin.h"  // TensorDesc

namespace gie {

inline const char* formatName(TensorFormat f) {
    switch (f) {
        case TensorFormat::kLINEAR: return "LINEAR";
        case TensorFormat::kNHWC: return "NHWC";
        case TensorFormat::kCHW4: return "CHW4";
        case TensorFormat::kCHW32: return "CHW32";
        case TensorFormat::kHWC8: return "HWC8";
    }
    return "?";
}

inline bool validFormat(int32_t f) { return f >= 0 && f <= 4; }

//! Formats this version of gie places in engines (kCHW32 is reserved for INT8 tensor-core kernels).
inline bool implementedFormat(TensorFormat f) {
    return f == TensorFormat::kLINEAR || f == TensorFormat::kNHWC || f == TensorFormat::kHWC8 || f == TensorFormat::kCHW4;
}

inline bool isChannelsLast(TensorFormat f) { return f == TensorFormat::kNHWC || f == TensorFormat::kHWC8; }

//! Whether a tensor of rank `rank` can be stored in format f (every format but LINEAR needs 4-D).
inline bool formatFitsRank(TensorFormat f, int32_t rank) { return f == TensorFormat::kLINEAR || rank == 4; }

//! Whether a tensor of type t can be stored in format f: CHW4 holds INT8 only, HWC8 float only, NHWC float or INT8.
inline bool formatFitsType(TensorFormat f, DataType t) {
    if (f == TensorFormat::kCHW4) return t == DataType::kINT8;
    if (f == TensorFormat::kNHWC && t == DataType::kINT8) return true;
    return f == TensorFormat::kLINEAR || t == DataType::kFLOAT || t == DataType::kHALF;
}

//! Channels as stored: C rounded up to the format's vector width.
inline int64_t storedChannels(int64_t c, TensorFormat f) {
    if (f == TensorFormat::kHWC8) return (c + 7) / 8 * 8;
    if (f == TensorFormat::kCHW4) return (c + 3) / 4 * 4;
    return c;
}

//! Element strides of the logical dims for a packed tensor in format f (packedStrides for kLINEAR).
inline Dims formatStrides(const Dims& d, TensorFormat f) {
    if (f == TensorFormat::kLINEAR || d.nbDims != 4) return packedStrides(d);
    const int64_t cp = storedChannels(d.d[1], f);
    Dims s;
    s.nbDims = 4;
    if (f == TensorFormat::kCHW4) {
        s.d[3] = 4;
        s.d[2] = d.d[3] * 4;
        s.d[1] = 1;
        s.d[0] = cp * d.d[2] * d.d[3];
        return s;
    }
    s.d[3] = cp;
    s.d[2] = d.d[3] * cp;
    s.d[1] = 1;
    s.d[0] = d.d[2] * d.d[3] * cp;
    return s;
}

//! Element offset of the logical index idx[0..rank) in a tensor described by d (any format; batch stride from
//! d.strides, so views work).
inline int64_t elementOffset(const TensorDesc& d, const int64_t* idx) {
    if (d.format == TensorFormat::kCHW4 && d.dims.nbDims == 4) {
        const int64_t hw = d.dims.d[2] * d.dims.d[3];
        return idx[0] * d.strides.d[0] + (idx[1] / 4) * hw * 4 + idx[1] % 4 + idx[2] * d.strides.d[2] + idx[3] * d.strides.d[3];
    }
    int64_t o = 0;
    for (int i = 0; i < d.dims.nbDims; ++i) o += idx[i] * d.strides.d[i];
    return o;
}

//! Whether a descriptor's batch stride exceeds the packed one of its format (a view inside a wider tensor).
//! strides.nbDims == -1 marks a shape tensor's descriptor (its dims are its host value, layers/shape_op.h): never strided.
inline bool isStrided(const TensorDesc& d) {
    return d.strides.nbDims >= 0 && d.dims.nbDims > 0 && d.strides.d[0] != formatStrides(d.dims, d.format).d[0];
}

//! Elements a packed tensor occupies in format f, padding included (overflow-checked, like volume()).
inline int64_t formatVolume(const Dims& d, TensorFormat f) {
    if (f == TensorFormat::kLINEAR || d.nbDims != 4) return volume(d);
    Dims p = d;
    p.d[1] = storedChannels(d.d[1], f);
    return volume(p);
}

//! A descriptor's batch stride in elements: its strides' first value, or the packed one of its format when the strides
//! were left empty.
inline int64_t batchStrideOf(const TensorDesc& d) {
    if (d.strides.nbDims >= 1 && d.strides.d[0] > 0) return d.strides.d[0];
    return formatVolume(d.dims, d.format) / std::max<int64_t>(d.dims.d[0], 1);
}

}  // namespace gie
