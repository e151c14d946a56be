// CPU Cast between float32, float16, int8, int32 and bool, following numpy astype except that out-of-range
// values saturate instead of wrapping or being undefined:
//   float -> int8/int32: truncate toward zero, saturate to the target range, NaN -> 0
//   int32 -> int8: saturate to [-128, 127]
//   anything -> bool: x != 0 (NaN -> true); bool -> anything: 0 or 1
//   float32 -> float16: round to nearest even (overflow -> inf)
// The INT8 quantization scale of a tensor is not applied: Cast converts integer values.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "common/half.h"
#include "common/parallel.h"
#include "layers/cast.h"

namespace gie {
namespace {

// Every source value is first widened to one of: float (float32/float16 sources) or int32 (integer sources).
template <typename Dst>
Dst fromFloat(float v);
template <> float fromFloat<float>(float v) { return v; }
template <> uint16_t fromFloat<uint16_t>(float v) { return floatToHalf(v); }
template <> int32_t fromFloat<int32_t>(float v) {
    if (std::isnan(v)) return 0;
    if (v >= 2147483648.f) return INT32_MAX;
    if (v <= -2147483648.f) return INT32_MIN;
    return static_cast<int32_t>(v);  // truncates toward zero
}
template <> int8_t fromFloat<int8_t>(float v) {
    if (std::isnan(v)) return 0;
    if (v >= 127.f) return 127;
    if (v <= -128.f) return -128;
    return static_cast<int8_t>(static_cast<int32_t>(v));
}
template <> uint8_t fromFloat<uint8_t>(float v) { return v != 0.f; }  // NaN != 0

template <typename Dst>
Dst fromInt(int32_t v);
template <> float fromInt<float>(int32_t v) { return static_cast<float>(v); }
template <> uint16_t fromInt<uint16_t>(int32_t v) { return floatToHalf(static_cast<float>(v)); }  // exact below 2^24; beyond it is inf
template <> int32_t fromInt<int32_t>(int32_t v) { return v; }
template <> int8_t fromInt<int8_t>(int32_t v) { return static_cast<int8_t>(v > 127 ? 127 : v < -128 ? -128 : v); }
template <> uint8_t fromInt<uint8_t>(int32_t v) { return v != 0; }

// Source readers: the element as float (floating sources) or int32 (integer sources).
struct ReadF32 { static float get(const void* p, int64_t i) { return static_cast<const float*>(p)[i]; } static constexpr bool isFloat = true; };
struct ReadF16 { static float get(const void* p, int64_t i) { return halfToFloat(static_cast<const uint16_t*>(p)[i]); } static constexpr bool isFloat = true; };
struct ReadI8 { static int32_t get(const void* p, int64_t i) { return static_cast<const int8_t*>(p)[i]; } static constexpr bool isFloat = false; };
struct ReadI32 { static int32_t get(const void* p, int64_t i) { return static_cast<const int32_t*>(p)[i]; } static constexpr bool isFloat = false; };
struct ReadBool { static int32_t get(const void* p, int64_t i) { return static_cast<const uint8_t*>(p)[i] != 0; } static constexpr bool isFloat = false; };

template <typename Src, typename Dst>
void convert(const void* x, void* y, int64_t n) {
    Dst* out = static_cast<Dst*>(y);
    const int64_t chunk = 16384;
    parallelFor((n + chunk - 1) / chunk, n * 4, [&](int64_t ci) {
        int64_t end = std::min(n, (ci + 1) * chunk);
        for (int64_t i = ci * chunk; i < end; ++i) {
            if constexpr (Src::isFloat) out[i] = fromFloat<Dst>(Src::get(x, i));
            else out[i] = fromInt<Dst>(Src::get(x, i));
        }
    });
}

template <typename Src>
void convertTo(DataType to, const void* x, void* y, int64_t n) {
    switch (to) {
        case DataType::kFLOAT: convert<Src, float>(x, y, n); return;
        case DataType::kHALF: convert<Src, uint16_t>(x, y, n); return;
        case DataType::kINT8: convert<Src, int8_t>(x, y, n); return;
        case DataType::kINT32: convert<Src, int32_t>(x, y, n); return;
        case DataType::kBOOL: convert<Src, uint8_t>(x, y, n); return;
    }
    fail(ErrorCode::kUNSUPPORTED, "Cast: unknown output type ", static_cast<int>(to));
}

class CastCpu final : public Kernel<CastCpu, CastOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        const int64_t n = volume(c.inDims(0));
        if (n == 0) return;
        const DataType from = c.inDesc[0].type, to = op_.to;
        if (from == to && from != DataType::kBOOL) {
            if (c.outputs[0] != c.inputs[0]) std::memcpy(c.outputs[0], c.inputs[0], static_cast<size_t>(n * dataTypeSize(from)));
            return;
        }
        switch (from) {
            case DataType::kFLOAT: convertTo<ReadF32>(to, c.inputs[0], c.outputs[0], n); return;
            case DataType::kHALF: convertTo<ReadF16>(to, c.inputs[0], c.outputs[0], n); return;
            case DataType::kINT8: convertTo<ReadI8>(to, c.inputs[0], c.outputs[0], n); return;
            case DataType::kINT32: convertTo<ReadI32>(to, c.inputs[0], c.outputs[0], n); return;
            case DataType::kBOOL: convertTo<ReadBool>(to, c.inputs[0], c.outputs[0], n); return;
        }
        fail(ErrorCode::kUNSUPPORTED, "Cast: unknown input type ", static_cast<int>(from));
    }
};
GIE_REGISTER_KERNEL(CastCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
