// Tensor memory formats: how the logical (N, C, H, W) element of a tensor maps to memory.
//
//   kLINEAR  row-major over the logical dims (any rank).
//   kNHWC    4-D only: element (n, c, h, w) at n*H*W*C + (h*W + w)*C + c.
//   kHWC8    4-D only: NHWC with the channels padded to Cp = roundUp(C, 8) (the FP16 tensor-core layout);
//            element (n, c, h, w) at n*H*W*Cp + (h*W + w)*Cp + c. Every kernel that writes an HWC8 tensor
//            writes zeros into the padding channels c in [C, Cp), so readers may load 8 channels at once.
//
// TensorDesc.strides always holds the element stride of each *logical* dimension, so for NHWC/HWC8
// strides = {H*W*Cp, 1, W*Cp, Cp}. strides[0] may be larger than packed for a view (channel slice of a
// concatenation); views exist only for kLINEAR tensors today.
#pragma once

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

//! Formats this version of gie places in engines (kCHW4 / kCHW32 are reserved for INT8).
inline bool implementedFormat(TensorFormat f) {
    return f == TensorFormat::kLINEAR || f == TensorFormat::kNHWC || f == TensorFormat::kHWC8;
}

inline bool isChannelsLast(TensorFormat f) { return f == TensorFormat::kNHWC || f == TensorFormat::kHWC8; }

//! Whether a tensor of rank `rank` can be stored in format f (channels-last formats need 4-D).
inline bool formatFitsRank(TensorFormat f, int32_t rank) { return f == TensorFormat::kLINEAR || (isChannelsLast(f) && rank == 4); }

//! Channels as stored: C rounded up to the format's vector width.
inline int64_t storedChannels(int64_t c, TensorFormat f) { return f == TensorFormat::kHWC8 ? (c + 7) / 8 * 8 : c; }

//! Element strides of the logical dims for a packed tensor in format f (packedStrides for kLINEAR).
inline Dims formatStrides(const Dims& d, TensorFormat f) {
    if (!isChannelsLast(f) || d.nbDims != 4) return packedStrides(d);
    const int64_t cp = storedChannels(d.d[1], f);
    Dims s;
    s.nbDims = 4;
    s.d[3] = cp;
    s.d[2] = d.d[3] * cp;
    s.d[1] = 1;
    s.d[0] = d.d[2] * d.d[3] * cp;
    return s;
}

//! Whether a descriptor's batch stride exceeds the packed one of its format (a view inside a wider tensor).
inline bool isStrided(const TensorDesc& d) { return d.dims.nbDims > 0 && d.strides.d[0] != formatStrides(d.dims, d.format).d[0]; }

//! Elements a packed tensor occupies in format f, padding included (overflow-checked, like volume()).
inline int64_t formatVolume(const Dims& d, TensorFormat f) {
    if (!isChannelsLast(f) || d.nbDims != 4) return volume(d);
    Dims p = d;
    p.d[1] = storedChannels(d.d[1], f);
    return volume(p);
}

}  // namespace gie
