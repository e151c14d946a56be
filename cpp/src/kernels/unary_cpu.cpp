// CPU Unary: one loop per op (the switch is outside the loop), parallel over chunks.
// ROUND rounds halves to even (numpy.round); SIGN(NaN) is NaN; int32 ABS/NEG wrap like numpy (ABS(INT_MIN) == INT_MIN).
#include <cmath>
#include <cstdint>

#include "common/parallel.h"
#include "layers/unary.h"

namespace gie {
namespace {

template <typename T, typename F>
void mapAll(const T* x, T* y, int64_t n, int64_t costPerElement, F f) {
    const int64_t chunk = 16384;
    int64_t nChunks = (n + chunk - 1) / chunk;
    parallelFor(nChunks, n * costPerElement, [&](int64_t ci) {
        int64_t end = std::min(n, (ci + 1) * chunk);
        for (int64_t i = ci * chunk; i < end; ++i) y[i] = f(x[i]);
    });
}

inline float roundHalfEven(float x) {
    float r = std::floor(x);
    float d = x - r;
    if (d > 0.5f || (d == 0.5f && std::fmod(r, 2.f) != 0.f)) r += 1.f;
    return r;
}

inline float signOf(float x) { return x > 0.f ? 1.f : x < 0.f ? -1.f : x; /* 0 stays 0, NaN stays NaN */ }

void runFloat(UnaryOperation op, const float* x, float* y, int64_t n) {
    using U = UnaryOperation;
    switch (op) {
        case U::kEXP: mapAll(x, y, n, 16, [](float v) { return std::exp(v); }); return;
        case U::kLOG: mapAll(x, y, n, 16, [](float v) { return std::log(v); }); return;
        case U::kSQRT: mapAll(x, y, n, 4, [](float v) { return std::sqrt(v); }); return;
        case U::kRECIP: mapAll(x, y, n, 4, [](float v) { return 1.f / v; }); return;
        case U::kABS: mapAll(x, y, n, 1, [](float v) { return std::fabs(v); }); return;
        case U::kNEG: mapAll(x, y, n, 1, [](float v) { return -v; }); return;
        case U::kSIN: mapAll(x, y, n, 16, [](float v) { return std::sin(v); }); return;
        case U::kCOS: mapAll(x, y, n, 16, [](float v) { return std::cos(v); }); return;
        case U::kTAN: mapAll(x, y, n, 16, [](float v) { return std::tan(v); }); return;
        case U::kSINH: mapAll(x, y, n, 16, [](float v) { return std::sinh(v); }); return;
        case U::kCOSH: mapAll(x, y, n, 16, [](float v) { return std::cosh(v); }); return;
        case U::kASIN: mapAll(x, y, n, 16, [](float v) { return std::asin(v); }); return;
        case U::kACOS: mapAll(x, y, n, 16, [](float v) { return std::acos(v); }); return;
        case U::kATAN: mapAll(x, y, n, 16, [](float v) { return std::atan(v); }); return;
        case U::kASINH: mapAll(x, y, n, 16, [](float v) { return std::asinh(v); }); return;
        case U::kACOSH: mapAll(x, y, n, 16, [](float v) { return std::acosh(v); }); return;
        case U::kATANH: mapAll(x, y, n, 16, [](float v) { return std::atanh(v); }); return;
        case U::kCEIL: mapAll(x, y, n, 2, [](float v) { return std::ceil(v); }); return;
        case U::kFLOOR: mapAll(x, y, n, 2, [](float v) { return std::floor(v); }); return;
        case U::kERF: mapAll(x, y, n, 16, [](float v) { return std::erf(v); }); return;
        case U::kSIGN: mapAll(x, y, n, 1, signOf); return;
        case U::kROUND: mapAll(x, y, n, 4, roundHalfEven); return;
        case U::kNOT: break;
    }
    fail(ErrorCode::kUNSUPPORTED, "Unary ", unaryOpName(op), ": no CPU kernel for float32");
}

void runInt(UnaryOperation op, const int32_t* x, int32_t* y, int64_t n) {
    switch (op) {
        case UnaryOperation::kABS:
            mapAll(x, y, n, 1, [](int32_t v) { return v < 0 ? static_cast<int32_t>(0u - static_cast<uint32_t>(v)) : v; });
            return;
        case UnaryOperation::kNEG:
            mapAll(x, y, n, 1, [](int32_t v) { return static_cast<int32_t>(0u - static_cast<uint32_t>(v)); });
            return;
        case UnaryOperation::kSIGN: mapAll(x, y, n, 1, [](int32_t v) { return static_cast<int32_t>((v > 0) - (v < 0)); }); return;
        default: break;
    }
    fail(ErrorCode::kUNSUPPORTED, "Unary ", unaryOpName(op), ": no CPU kernel for int32");
}

class UnaryCpu final : public Kernel<UnaryCpu, UnaryOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        int64_t n = volume(c.inDims(0));
        switch (c.inDesc[0].type) {
            case DataType::kFLOAT: runFloat(op_.op, c.in<float>(0), c.out<float>(0), n); return;
            case DataType::kINT32: runInt(op_.op, c.in<int32_t>(0), c.out<int32_t>(0), n); return;
            case DataType::kBOOL:
                if (op_.op == UnaryOperation::kNOT) {
                    mapAll(c.in<uint8_t>(0), c.out<uint8_t>(0), n, 1, [](uint8_t v) { return static_cast<uint8_t>(v == 0); });
                    return;
                }
                break;
            default: break;
        }
        fail(ErrorCode::kUNSUPPORTED, "Unary ", unaryOpName(op_.op), ": no CPU kernel for ", dataTypeName(c.inDesc[0].type));
    }
};
GIE_REGISTER_KERNEL(UnaryCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
