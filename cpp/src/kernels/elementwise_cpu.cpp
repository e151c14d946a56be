// CPU ElementWise: numpy broadcasting over collapsed dimensions, with contiguous inner loops for the
// common cases (same shape, scalar operand, per-channel vector), parallel over chunks of the output.
//
// Semantics (numpy where numpy has an answer for the same dtypes):
//   float32: SUM PROD SUB DIV POW as IEEE float; MAX/MIN propagate NaN (np.maximum/np.minimum);
//            FLOOR_DIV/MOD are np.floor_divide/np.remainder (the remainder takes the sign of the divisor).
//   int32:   SUM PROD SUB wrap around (two's complement, like numpy); FLOOR_DIV/MOD as numpy (x // 0 == 0,
//            x % 0 == 0); DIV truncates toward zero (x / 0 == 0); POW by repeated squaring, wrapping, and for a
//            negative exponent the truncated real result (1 for base 1, +-1 for base -1, else 0).
//   bool:    AND OR XOR; EQUAL GREATER LESS compare as 0/1.
#include <cmath>
#include <cstdint>
#include <limits>

#include "common/parallel.h"
#include "layers/elementwise.h"

namespace gie {
namespace {

// ---- broadcast walk (the plan: makeBroadcastPlan, layers/elementwise.h) ------------------------------

//! y[i] = f(a[.], b[.]) over the broadcast; inner strides are 0 or 1 by construction.
template <typename TA, typename TY, typename F>
void broadcastApply(const BroadcastPlan& p, const TA* A, const TA* B, TY* Y, F f) {
    if (p.total == 0) return;
    const int R = p.rank;
    const int64_t inner = p.n[R - 1], ia = p.sa[R - 1], ib = p.sb[R - 1];
    auto segment = [&](int64_t o, int64_t offA, int64_t offB, int64_t len) {
        const TA* x = A + offA;
        const TA* y = B + offB;
        TY* z = Y + o;
        if (ia == 1 && ib == 1) {
            for (int64_t i = 0; i < len; ++i) z[i] = f(x[i], y[i]);
        } else if (ia == 1) {
            const TA yv = *y;
            for (int64_t i = 0; i < len; ++i) z[i] = f(x[i], yv);
        } else if (ib == 1) {
            const TA xv = *x;
            for (int64_t i = 0; i < len; ++i) z[i] = f(xv, y[i]);
        } else {
            const TY v = f(*x, *y);
            for (int64_t i = 0; i < len; ++i) z[i] = v;
        }
    };
    const int64_t chunk = 16384;
    const int64_t nChunks = (p.total + chunk - 1) / chunk;
    parallelFor(nChunks, p.total * 2, [&](int64_t ci) {
        int64_t pos = ci * chunk, end = std::min(p.total, pos + chunk);
        int64_t idx[Dims::MAX_DIMS];
        int64_t offA = 0, offB = 0, rem = pos;
        for (int k = R - 1; k >= 0; --k) {
            idx[k] = rem % p.n[k];
            rem /= p.n[k];
            offA += idx[k] * p.sa[k];
            offB += idx[k] * p.sb[k];
        }
        while (pos < end) {
            int64_t len = std::min(inner - idx[R - 1], end - pos);
            segment(pos, offA, offB, len);
            pos += len;
            idx[R - 1] += len;
            offA += len * ia;
            offB += len * ib;
            for (int k = R - 1; k > 0 && idx[k] == p.n[k]; --k) {
                offA -= p.n[k] * p.sa[k];
                offB -= p.n[k] * p.sb[k];
                idx[k] = 0;
                ++idx[k - 1];
                offA += p.sa[k - 1];
                offB += p.sb[k - 1];
            }
        }
    });
}

// ---- scalar semantics -----------------------------------------------------------------------------

inline float npMax(float a, float b) { return std::isnan(a) ? a : (std::isnan(b) ? b : (a >= b ? a : b)); }
inline float npMin(float a, float b) { return std::isnan(a) ? a : (std::isnan(b) ? b : (a <= b ? a : b)); }

//! Python-style division of floats: the quotient rounded toward -inf and the remainder with the sign of b.
inline float floatFloorDivMod(float a, float b, float* remainder) {
    float r = std::fmod(a, b);
    if (b == 0.f) {  // fmod gives NaN; the quotient is the IEEE a / b
        *remainder = r;
        return a / b;
    }
    float q = (a - r) / b;  // nearly an integer
    if (r != 0.f) {
        if ((b < 0.f) != (r < 0.f)) {
            r += b;
            q -= 1.f;
        }
    } else {
        r = std::copysign(0.f, b);
    }
    float fq;
    if (q != 0.f) {
        fq = std::floor(q);
        if (q - fq > 0.5f) fq += 1.f;
    } else {
        fq = std::copysign(0.f, a / b);
    }
    *remainder = r;
    return fq;
}
inline float floatFloorDiv(float a, float b) {
    float r;
    return floatFloorDivMod(a, b, &r);
}
inline float floatMod(float a, float b) {
    float r;
    floatFloorDivMod(a, b, &r);
    return r;
}

inline int32_t wrap(int64_t v) { return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(v))); }
inline int32_t intAdd(int32_t a, int32_t b) { return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b)); }
inline int32_t intSub(int32_t a, int32_t b) { return static_cast<int32_t>(static_cast<uint32_t>(a) - static_cast<uint32_t>(b)); }
inline int32_t intMul(int32_t a, int32_t b) { return static_cast<int32_t>(static_cast<uint32_t>(a) * static_cast<uint32_t>(b)); }
inline int32_t intDiv(int32_t a, int32_t b) { return b == 0 ? 0 : wrap(static_cast<int64_t>(a) / b); }
inline int32_t intFloorDiv(int32_t a, int32_t b) {
    if (b == 0) return 0;
    int64_t q = static_cast<int64_t>(a) / b, r = static_cast<int64_t>(a) % b;
    if (r != 0 && ((r < 0) != (b < 0))) --q;
    return wrap(q);
}
inline int32_t intMod(int32_t a, int32_t b) {
    if (b == 0) return 0;
    int64_t r = static_cast<int64_t>(a) % b;
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return static_cast<int32_t>(r);
}
inline int32_t intPow(int32_t base, int32_t e) {
    if (e < 0) return base == 1 ? 1 : base == -1 ? ((e & 1) ? -1 : 1) : 0;
    uint32_t result = 1, b = static_cast<uint32_t>(base);
    uint32_t k = static_cast<uint32_t>(e);
    while (k) {
        if (k & 1u) result *= b;
        b *= b;
        k >>= 1;
    }
    return static_cast<int32_t>(result);
}

// ---- dispatch -------------------------------------------------------------------------------------

template <typename T>
void runCompare(ElementWiseOperation op, const BroadcastPlan& p, const T* a, const T* b, uint8_t* y) {
    switch (op) {
        case ElementWiseOperation::kEQUAL: broadcastApply(p, a, b, y, [](T x, T z) -> uint8_t { return x == z; }); break;
        case ElementWiseOperation::kGREATER: broadcastApply(p, a, b, y, [](T x, T z) -> uint8_t { return x > z; }); break;
        case ElementWiseOperation::kLESS: broadcastApply(p, a, b, y, [](T x, T z) -> uint8_t { return x < z; }); break;
        default: fail(ErrorCode::kINTERNAL, "ElementWise: ", elementWiseOpName(op), " is not a comparison");
    }
}

void runFloat(ElementWiseOperation op, const BroadcastPlan& p, const float* a, const float* b, float* y) {
    using E = ElementWiseOperation;
    switch (op) {
        case E::kSUM: broadcastApply(p, a, b, y, [](float x, float z) { return x + z; }); break;
        case E::kPROD: broadcastApply(p, a, b, y, [](float x, float z) { return x * z; }); break;
        case E::kSUB: broadcastApply(p, a, b, y, [](float x, float z) { return x - z; }); break;
        case E::kDIV: broadcastApply(p, a, b, y, [](float x, float z) { return x / z; }); break;
        case E::kMAX: broadcastApply(p, a, b, y, [](float x, float z) { return npMax(x, z); }); break;
        case E::kMIN: broadcastApply(p, a, b, y, [](float x, float z) { return npMin(x, z); }); break;
        case E::kPOW: broadcastApply(p, a, b, y, [](float x, float z) { return std::pow(x, z); }); break;
        case E::kFLOOR_DIV: broadcastApply(p, a, b, y, [](float x, float z) { return floatFloorDiv(x, z); }); break;
        case E::kMOD: broadcastApply(p, a, b, y, [](float x, float z) { return floatMod(x, z); }); break;
        default: fail(ErrorCode::kINTERNAL, "ElementWise: ", elementWiseOpName(op), " is not a float32 arithmetic op");
    }
}

void runInt(ElementWiseOperation op, const BroadcastPlan& p, const int32_t* a, const int32_t* b, int32_t* y) {
    using E = ElementWiseOperation;
    switch (op) {
        case E::kSUM: broadcastApply(p, a, b, y, intAdd); break;
        case E::kPROD: broadcastApply(p, a, b, y, intMul); break;
        case E::kSUB: broadcastApply(p, a, b, y, intSub); break;
        case E::kDIV: broadcastApply(p, a, b, y, intDiv); break;
        case E::kMAX: broadcastApply(p, a, b, y, [](int32_t x, int32_t z) { return x > z ? x : z; }); break;
        case E::kMIN: broadcastApply(p, a, b, y, [](int32_t x, int32_t z) { return x < z ? x : z; }); break;
        case E::kPOW: broadcastApply(p, a, b, y, intPow); break;
        case E::kFLOOR_DIV: broadcastApply(p, a, b, y, intFloorDiv); break;
        case E::kMOD: broadcastApply(p, a, b, y, intMod); break;
        default: fail(ErrorCode::kINTERNAL, "ElementWise: ", elementWiseOpName(op), " is not an int32 arithmetic op");
    }
}

void runLogical(ElementWiseOperation op, const BroadcastPlan& p, const uint8_t* a, const uint8_t* b, uint8_t* y) {
    using E = ElementWiseOperation;
    switch (op) {
        case E::kAND: broadcastApply(p, a, b, y, [](uint8_t x, uint8_t z) -> uint8_t { return (x != 0) & (z != 0); }); break;
        case E::kOR: broadcastApply(p, a, b, y, [](uint8_t x, uint8_t z) -> uint8_t { return (x != 0) | (z != 0); }); break;
        case E::kXOR: broadcastApply(p, a, b, y, [](uint8_t x, uint8_t z) -> uint8_t { return (x != 0) ^ (z != 0); }); break;
        default: fail(ErrorCode::kINTERNAL, "ElementWise: ", elementWiseOpName(op), " is not a logical op");
    }
}

class ElementWiseCpu final : public Kernel<ElementWiseCpu, ElementWiseOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        const BroadcastPlan p = makeBroadcastPlan(c.outDims(0), c.inDims(0), c.inDims(1));
        const DataType t = c.inDesc[0].type;
        const ElementWiseOperation op = op_.op;
        if (op_.isComparison()) {
            switch (t) {
                case DataType::kFLOAT: runCompare(op, p, c.in<float>(0), c.in<float>(1), c.out<uint8_t>(0)); return;
                case DataType::kINT32: runCompare(op, p, c.in<int32_t>(0), c.in<int32_t>(1), c.out<uint8_t>(0)); return;
                case DataType::kBOOL: {
                    // Compare truth values (a bool byte may hold any non-zero value).
                    auto norm = [](uint8_t v) { return static_cast<uint8_t>(v != 0); };
                    const uint8_t* a = c.in<uint8_t>(0);
                    const uint8_t* b = c.in<uint8_t>(1);
                    uint8_t* y = c.out<uint8_t>(0);
                    switch (op) {
                        case ElementWiseOperation::kEQUAL:
                            broadcastApply(p, a, b, y, [&](uint8_t x, uint8_t z) -> uint8_t { return norm(x) == norm(z); });
                            break;
                        case ElementWiseOperation::kGREATER:
                            broadcastApply(p, a, b, y, [&](uint8_t x, uint8_t z) -> uint8_t { return norm(x) > norm(z); });
                            break;
                        default:
                            broadcastApply(p, a, b, y, [&](uint8_t x, uint8_t z) -> uint8_t { return norm(x) < norm(z); });
                            break;
                    }
                    return;
                }
                default: break;
            }
        } else if (op_.isLogical()) {
            if (t == DataType::kBOOL) {
                runLogical(op, p, c.in<uint8_t>(0), c.in<uint8_t>(1), c.out<uint8_t>(0));
                return;
            }
        } else if (t == DataType::kFLOAT) {
            runFloat(op, p, c.in<float>(0), c.in<float>(1), c.out<float>(0));
            return;
        } else if (t == DataType::kINT32) {
            runInt(op, p, c.in<int32_t>(0), c.in<int32_t>(1), c.out<int32_t>(0));
            return;
        }
        fail(ErrorCode::kUNSUPPORTED, "ElementWise ", elementWiseOpName(op), ": no CPU kernel for ", dataTypeName(t), " inputs");
    }
};
GIE_REGISTER_KERNEL(ElementWiseCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
