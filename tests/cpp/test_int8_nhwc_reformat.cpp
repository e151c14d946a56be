// INT8 NHWC (channels-last INT8, common/format.h) in the Reformat kernels (layers/reformat.h), through the public
// plugin API as the builder uses them:
//   1. the CPU kernel against an independent reference (the NHWC / CHW4 / HWC8 index formulas and the quantization
//      written here): {FLOAT, HALF} x {LINEAR, NHWC, HWC8} -> INT8 NHWC (quantize), INT8 NHWC -> each of those
//      (dequantize), INT8 NHWC <-> INT8 CHW4 and INT8 LINEAR (re-layout, one scale: the bytes move unchanged),
//      INT8 NHWC -> INT8 NHWC with another scale (requantize), and the round trip FLOAT LINEAR -> INT8 NHWC -> INT8
//      CHW4 -> INT8 NHWC -> FLOAT LINEAR; C = 1, 3, 4, 16, 20, 48, 64, H x W = 1x1, 3x5, 7x7, batch 1 and 13.
//      Outputs are poisoned (0x55 bytes): every logical element must hold the reference, CHW4 / HWC8 padding 0.
//   2. the GPU kernel (cuda/kernels/reformat.cu) against the CPU kernel on the same cases, byte for byte; skipped
//      with a message when the build has no CUDA kernels or no GPU is usable.
//   3. both kernels refuse INT8 NHWC without a usable scale, and INT8 HWC8 (HWC8 holds float only).
// Public API only (linked with the shared library, which holds the CUDA kernels). Prints "N passed, M failed".
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "plugin_harness.h"

using namespace gie;
using harness::check;

namespace {

struct State {
    DataType type;
    TensorFormat format;
};

std::string name(const State& s) {
    const std::string t = s.type == DataType::kFLOAT ? "f32" : s.type == DataType::kHALF ? "f16" : "i8";
    const std::string f = s.format == TensorFormat::kLINEAR ? "LINEAR" : s.format == TensorFormat::kNHWC ? "NHWC" : s.format == TensorFormat::kHWC8 ? "HWC8" : "CHW4";
    return t + "/" + f;
}

struct Shape {
    int64_t N, C, H, W;
};

//! Stored channels in format f (written here from the format definitions).
int64_t storedC(int64_t C, TensorFormat f) {
    if (f == TensorFormat::kHWC8) return (C + 7) / 8 * 8;
    if (f == TensorFormat::kCHW4) return (C + 3) / 4 * 4;
    return C;
}
int64_t elemBytes(DataType t) { return t == DataType::kFLOAT ? 4 : t == DataType::kHALF ? 2 : 1; }
int64_t storedElems(const Shape& s, TensorFormat f) { return s.N * storedC(s.C, f) * s.H * s.W; }

//! Element offset of (n, c, h, w) in a packed tensor of format f.
int64_t offsetOf(const Shape& s, TensorFormat f, int64_t n, int64_t c, int64_t h, int64_t w) {
    const int64_t HW = s.H * s.W, p = h * s.W + w, cp = storedC(s.C, f);
    if (f == TensorFormat::kLINEAR) return ((n * s.C + c) * HW) + p;
    if (f == TensorFormat::kCHW4) return n * cp * HW + (c / 4) * HW * 4 + p * 4 + c % 4;
    return (n * HW + p) * cp + c;  // NHWC, HWC8
}

TensorDesc descOf(const Shape& s, const State& st, float scale) {
    Dims d;
    d.nbDims = 4;
    d.d[0] = s.N, d.d[1] = s.C, d.d[2] = s.H, d.d[3] = s.W;
    TensorDesc t;
    if (st.format == TensorFormat::kCHW4) {
        t.dims = d;
        t.type = st.type;
        t.format = st.format;
        t.strides.nbDims = 4;
        const int64_t cp = storedC(s.C, st.format);
        t.strides.d[0] = cp * s.H * s.W;
        t.strides.d[1] = 1;
        t.strides.d[2] = 4 * s.W;
        t.strides.d[3] = 4;
    } else {
        t = harness::describe(d, st.type, st.format);
    }
    t.scale = scale;
    return t;
}

int8_t quantizeRef(double x, float s) {
    const float v = std::nearbyint(static_cast<float>(x) / s);
    if (std::isnan(v)) return 0;
    return static_cast<int8_t>(v < -128.f ? -128.f : (v > 127.f ? 127.f : v));
}

//! The logical value of element i (bytes at element offset o) of a buffer in state st with scale s.
double valueAt(const std::vector<uint8_t>& b, const State& st, int64_t o, float s) {
    if (st.type == DataType::kFLOAT) {
        float v;
        std::memcpy(&v, b.data() + o * 4, 4);
        return v;
    }
    if (st.type == DataType::kHALF) {
        uint16_t h;
        std::memcpy(&h, b.data() + o * 2, 2);
        return harness::halfBitsToDouble(h);
    }
    return static_cast<double>(static_cast<float>(static_cast<int8_t>(b[static_cast<size_t>(o)])) * s);
}

//! A buffer in state st holding random values (INT8: random q), padding channels filled with garbage (which a
//! correct kernel never reads into a logical element).
std::vector<uint8_t> makeInput(const Shape& s, const State& st, float scale, std::mt19937& rng) {
    const int64_t n = storedElems(s, st.format);
    std::vector<uint8_t> b(static_cast<size_t>(n * elemBytes(st.type)));
    std::normal_distribution<float> dist(0.f, 60.f * scale);
    std::uniform_int_distribution<int> bytes(0, 255);
    for (int64_t i = 0; i < n; ++i) {
        if (st.type == DataType::kINT8) {
            b[static_cast<size_t>(i)] = static_cast<uint8_t>(bytes(rng));
        } else if (st.type == DataType::kFLOAT) {
            float v = dist(rng);
            if (i % 97 == 1) v = 0.5f * scale;   // a tie: rounds to even (0)
            if (i % 97 == 2) v = 2.5f * scale;   // a tie: 2
            if (i % 97 == 3) v = 1e9f;           // saturates
            if (i % 97 == 4) v = -1e9f;
            std::memcpy(b.data() + i * 4, &v, 4);
        } else {
            const uint16_t h = harness::halfBitsOf(harness::roundToHalf(dist(rng)));
            std::memcpy(b.data() + i * 2, &h, 2);
        }
    }
    return b;
}

IPlugin* reformatTo(DataType to, DeviceType device) { return harness::makePlugin("Reformat", device, {{"to", {static_cast<int64_t>(to)}}}); }

//! Runs in -> out on the CPU, checks it against the reference, and on the GPU (when usable) against the CPU.
//! Returns the CPU's output.
std::vector<uint8_t> runCase(const Shape& s, const State& a, float sa, const std::vector<uint8_t>& x, const State& b, float sb, bool gpu) {
    const std::string what = name(a) + " -> " + name(b) + " N" + std::to_string(s.N) + " C" + std::to_string(s.C) + " " + std::to_string(s.H) +
                             "x" + std::to_string(s.W);
    const TensorDesc id = descOf(s, a, sa), od = descOf(s, b, sb);
    std::vector<uint8_t> y(static_cast<size_t>(storedElems(s, b.format) * elemBytes(b.type)), 0x55);
    std::string err;
    if (!harness::runKernel(DeviceType::kCPU, reformatTo(b.type, DeviceType::kCPU), id, x, od, y, err)) {
        check(false, "CPU " + what + ": " + err);
        return y;
    }
    int64_t bad = 0;
    std::string first;
    const int64_t cpo = storedC(s.C, b.format);
    for (int64_t n = 0; n < s.N; ++n)
        for (int64_t c = 0; c < cpo; ++c)
            for (int64_t h = 0; h < s.H; ++h)
                for (int64_t w = 0; w < s.W; ++w) {
                    const int64_t oo = offsetOf(s, b.format, n, c, h, w);
                    bool ok;
                    if (c >= s.C) {  // padding: 0
                        ok = true;
                        for (int64_t k = 0; k < elemBytes(b.type); ++k) ok = ok && y[static_cast<size_t>(oo * elemBytes(b.type) + k)] == 0;
                    } else {
                        const double v = valueAt(x, a, offsetOf(s, a.format, n, c, h, w), sa);
                        if (b.type == DataType::kINT8) {
                            const int8_t want = a.type == DataType::kINT8 && sa == sb ? static_cast<int8_t>(x[static_cast<size_t>(offsetOf(s, a.format, n, c, h, w))])
                                                                                      : quantizeRef(v, sb);
                            ok = static_cast<int8_t>(y[static_cast<size_t>(oo)]) == want;
                        } else if (b.type == DataType::kFLOAT) {
                            float got;
                            std::memcpy(&got, y.data() + oo * 4, 4);
                            ok = got == static_cast<float>(v);
                        } else {
                            uint16_t got;
                            std::memcpy(&got, y.data() + oo * 2, 2);
                            ok = got == harness::halfBitsOf(harness::roundToHalf(static_cast<float>(v)));
                        }
                    }
                    if (!ok && bad++ == 0)
                        first = "(" + std::to_string(n) + "," + std::to_string(c) + "," + std::to_string(h) + "," + std::to_string(w) + ")";
                }
    check(bad == 0, "CPU " + what + ": " + std::to_string(bad) + " wrong, first " + first);
    if (gpu) {
        std::vector<uint8_t> g(y.size(), 0x55);
        if (!harness::runKernel(DeviceType::kGPU, reformatTo(b.type, DeviceType::kGPU), id, x, od, g, err)) {
            check(false, "GPU " + what + ": " + err);
        } else {
            const size_t d = harness::firstDifference(g, y);
            check(d == g.size(), "GPU " + what + ": differs from the CPU kernel from byte " + std::to_string(d));
        }
    }
    return y;
}

}  // namespace

int main() {
    const bool gpu = harness::gpuUsable("Reformat");
    std::mt19937 rng(1406);
    const State i8nhwc{DataType::kINT8, TensorFormat::kNHWC}, i8chw4{DataType::kINT8, TensorFormat::kCHW4}, i8lin{DataType::kINT8, TensorFormat::kLINEAR};
    const State floats[] = {{DataType::kFLOAT, TensorFormat::kLINEAR}, {DataType::kFLOAT, TensorFormat::kNHWC}, {DataType::kFLOAT, TensorFormat::kHWC8},
                            {DataType::kHALF, TensorFormat::kLINEAR},  {DataType::kHALF, TensorFormat::kNHWC},  {DataType::kHALF, TensorFormat::kHWC8}};
    const float s = 0.0371f, s2 = 0.0913f;
    for (int64_t N : {1, 13})
        for (int64_t C : {1, 3, 4, 16, 20, 48, 64})
            for (auto hw : {std::pair<int64_t, int64_t>{1, 1}, {3, 5}, {7, 7}}) {
                const Shape sh{N, C, hw.first, hw.second};
                for (const State& f : floats) {  // quantize and dequantize
                    runCase(sh, f, 1.f, makeInput(sh, f, s, rng), i8nhwc, s, gpu);
                    runCase(sh, i8nhwc, s, makeInput(sh, i8nhwc, s, rng), f, 1.f, gpu);
                }
                for (const State& o : {i8chw4, i8lin}) {  // re-layout, both ways
                    runCase(sh, i8nhwc, s, makeInput(sh, i8nhwc, s, rng), o, s, gpu);
                    std::vector<uint8_t> x = makeInput(sh, o, s, rng);
                    if (o.format == TensorFormat::kCHW4)  // a CHW4 producer writes its padding as 0
                        for (int64_t n = 0; n < N; ++n)
                            for (int64_t c = C; c < storedC(C, o.format); ++c)
                                for (int64_t p = 0; p < sh.H * sh.W; ++p) x[static_cast<size_t>(offsetOf(sh, o.format, n, c, p / sh.W, p % sh.W))] = 0;
                    runCase(sh, o, s, x, i8nhwc, s, gpu);
                }
                runCase(sh, i8nhwc, s, makeInput(sh, i8nhwc, s, rng), i8nhwc, s2, gpu);  // requantize
                // The round trip: FLOAT LINEAR -> INT8 NHWC -> INT8 CHW4 -> INT8 NHWC -> FLOAT LINEAR is quantize + dequantize.
                const State f32{DataType::kFLOAT, TensorFormat::kLINEAR};
                const std::vector<uint8_t> x = makeInput(sh, f32, s, rng);
                const std::vector<uint8_t> q = runCase(sh, f32, 1.f, x, i8nhwc, s, gpu);
                const std::vector<uint8_t> q4 = runCase(sh, i8nhwc, s, q, i8chw4, s, gpu);
                const std::vector<uint8_t> q2 = runCase(sh, i8chw4, s, q4, i8nhwc, s, gpu);
                check(q2 == q, "round trip N" + std::to_string(N) + " C" + std::to_string(C) + ": INT8 NHWC -> CHW4 -> NHWC gives the same bytes");
                const std::vector<uint8_t> y = runCase(sh, i8nhwc, s, q2, f32, 1.f, gpu);
                bool same = true;
                for (int64_t i = 0; i < N * C * sh.H * sh.W && same; ++i) {
                    float xv, yv;
                    std::memcpy(&xv, x.data() + i * 4, 4);
                    std::memcpy(&yv, y.data() + i * 4, 4);
                    same = yv == static_cast<float>(quantizeRef(xv, s)) * s;
                }
                check(same, "round trip N" + std::to_string(N) + " C" + std::to_string(C) + ": FLOAT -> INT8 NHWC -> ... -> FLOAT is quantize + dequantize");
            }
    // Refusals: INT8 NHWC without a usable scale; INT8 HWC8 (float only).
    for (DeviceType dev : {DeviceType::kCPU, DeviceType::kGPU}) {
        if (!getPluginRegistry()->getCreator("Reformat", nullptr, dev)) continue;
        const char* where = dev == DeviceType::kCPU ? "CPU" : "GPU";
        const Shape sh{1, 16, 2, 2};
        IPlugin* k = reformatTo(DataType::kINT8, dev);
        TensorDesc io[2] = {descOf(sh, {DataType::kFLOAT, TensorFormat::kLINEAR}, 1.f), descOf(sh, i8nhwc, 0.1f)};
        check(k && k->supportsFormatCombination(1, io, 1, 1), std::string(where) + ": INT8 NHWC output with a scale is accepted");
        io[1].scale = 0.f;
        check(k && !k->supportsFormatCombination(1, io, 1, 1), std::string(where) + ": INT8 NHWC output with scale 0 is refused");
        io[1] = descOf(sh, {DataType::kINT8, TensorFormat::kHWC8}, 0.1f);
        check(k && !k->supportsFormatCombination(1, io, 1, 1), std::string(where) + ": INT8 HWC8 is refused");
        delete k;
    }
    return harness::finish(gpu);
}
