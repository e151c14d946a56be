// The INT8 paths of the CPU Reformat kernel (layers/reformat.h) and the CHW4 format (common/format.h) against an
// independent reference (the CHW4 index formula and the quantization written here): FLOAT LINEAR -> INT8 CHW4
// (quantize), INT8 CHW4 -> INT8 LINEAR (re-layout), INT8 CHW4 -> FLOAT LINEAR (dequantize), on C = 1, 3, 4, 5, 13,
// H x W = 1x1 and 3x5, batch 1 and 13. Outputs are poisoned (0x55 bytes): every logical element must hold the
// reference and every CHW4 padding channel 0. Also: a GPU Reformat kernel, where the build has one, accepts INT8
// with a scale (and refuses it without). Prints "N passed, M failed"; exit code != 0 on failure.
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

int64_t chw4Offset(int64_t C, int64_t H, int64_t W, int64_t n, int64_t c, int64_t h, int64_t w) {
    const int64_t cp = (C + 3) / 4 * 4;
    return n * cp * H * W + (c / 4) * H * W * 4 + (h * W + w) * 4 + c % 4;
}

int8_t quantizeRef(float x, float s) {
    float v = std::nearbyint(x / s);
    if (std::isnan(v)) return 0;
    return static_cast<int8_t>(v < -128.f ? -128.f : (v > 127.f ? 127.f : v));
}

TensorDesc chw4Desc(const Dims& d, float scale) {
    TensorDesc t;
    t.dims = d;
    t.type = DataType::kINT8;
    t.format = TensorFormat::kCHW4;
    t.scale = scale;
    t.strides.nbDims = 4;
    const int64_t cp = (d.d[1] + 3) / 4 * 4;
    t.strides.d[0] = cp * d.d[2] * d.d[3];
    t.strides.d[1] = 1;
    t.strides.d[2] = 4 * d.d[3];
    t.strides.d[3] = 4;
    return t;
}

IPlugin* reformatTo(DataType to, DeviceType device = DeviceType::kCPU) {
    return harness::makePlugin("Reformat", device, {{"to", {static_cast<int64_t>(to)}}});
}

void testCase(int64_t N, int64_t C, int64_t H, int64_t W, std::mt19937& rng) {
    const std::string tag = "N" + std::to_string(N) + " C" + std::to_string(C) + " " + std::to_string(H) + "x" + std::to_string(W);
    Dims d;
    d.nbDims = 4;
    d.d[0] = N, d.d[1] = C, d.d[2] = H, d.d[3] = W;
    const float s = 0.037f;
    const int64_t n = N * C * H * W, cp = (C + 3) / 4 * 4, stored = N * cp * H * W;
    std::normal_distribution<float> dist(0.f, 3.f);
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = dist(rng);
    x[0] = 0.5f * s;  // a tie: rounds to even (0)
    if (n > 1) x[1] = 1e9f;  // saturates
    std::vector<uint8_t> xb(x.size() * 4);
    std::memcpy(xb.data(), x.data(), xb.size());
    TensorDesc lin = harness::describe(d, DataType::kFLOAT, TensorFormat::kLINEAR);
    TensorDesc q4 = chw4Desc(d, s);
    // FLOAT LINEAR -> INT8 CHW4
    std::vector<uint8_t> y4(static_cast<size_t>(stored), 0x55);
    std::string err;
    bool ok = harness::runKernel(DeviceType::kCPU, reformatTo(DataType::kINT8), lin, xb, q4, y4, err);
    check(ok, tag + ": quantize to CHW4 runs (" + err + ")");
    if (!ok) return;
    bool same = true, pad = true;
    for (int64_t b = 0; b < N; ++b)
        for (int64_t c = 0; c < cp; ++c)
            for (int64_t h = 0; h < H; ++h)
                for (int64_t w = 0; w < W; ++w) {
                    const int8_t got = static_cast<int8_t>(y4[static_cast<size_t>(chw4Offset(C, H, W, b, c, h, w))]);
                    if (c >= C) pad = pad && got == 0;
                    else same = same && got == quantizeRef(x[static_cast<size_t>(((b * C + c) * H + h) * W + w)], s);
                }
    check(same, tag + ": FLOAT LINEAR -> INT8 CHW4 equals the reference (ties to even, saturation)");
    check(pad, tag + ": CHW4 padding channels are 0");
    // INT8 CHW4 -> INT8 LINEAR
    TensorDesc q1 = harness::describe(d, DataType::kINT8, TensorFormat::kLINEAR);
    q1.scale = s;
    std::vector<uint8_t> y1(static_cast<size_t>(n), 0x55);
    ok = harness::runKernel(DeviceType::kCPU, reformatTo(DataType::kINT8), q4, y4, q1, y1, err);
    same = ok;
    for (int64_t i = 0; i < n && same; ++i) same = static_cast<int8_t>(y1[static_cast<size_t>(i)]) == quantizeRef(x[static_cast<size_t>(i)], s);
    check(same, tag + ": INT8 CHW4 -> INT8 LINEAR keeps every value (" + err + ")");
    // INT8 CHW4 -> FLOAT LINEAR
    std::vector<uint8_t> yf(static_cast<size_t>(n) * 4, 0x55);
    ok = harness::runKernel(DeviceType::kCPU, reformatTo(DataType::kFLOAT), q4, y4, lin, yf, err);
    same = ok;
    for (int64_t i = 0; i < n && same; ++i) {
        float v;
        std::memcpy(&v, yf.data() + i * 4, 4);
        same = v == static_cast<float>(quantizeRef(x[static_cast<size_t>(i)], s)) * s;
    }
    check(same, tag + ": INT8 CHW4 -> FLOAT LINEAR dequantizes exactly (" + err + ")");
}

}  // namespace

int main() {
    std::mt19937 rng(14);
    for (int64_t N : {1, 13})
        for (int64_t C : {1, 3, 4, 5, 13})
            for (auto hw : {std::pair<int64_t, int64_t>{1, 1}, {3, 5}}) testCase(N, C, hw.first, hw.second, rng);
    // A CPU Reformat refuses an INT8 side without a usable scale.
    {
        Dims d;
        d.nbDims = 4;
        d.d[0] = 1, d.d[1] = 4, d.d[2] = 2, d.d[3] = 2;
        IPlugin* k = reformatTo(DataType::kINT8);
        TensorDesc io[2] = {harness::describe(d, DataType::kFLOAT, TensorFormat::kLINEAR), chw4Desc(d, 0.f)};
        check(k && !k->supportsFormatCombination(1, io, 1, 1), "INT8 output with scale 0 is refused");
        delete k;
    }
    // The GPU Reformat quantizes too (its results are tested against the CPU in tests/test_int8_gpu.py): it accepts
    // INT8 LINEAR / CHW4 with a scale, and refuses an INT8 output without one, like the CPU's.
    if (getPluginRegistry()->getCreator("Reformat", nullptr, DeviceType::kGPU)) {
        Dims d;
        d.nbDims = 4;
        d.d[0] = 1, d.d[1] = 4, d.d[2] = 2, d.d[3] = 2;
        IPlugin* k = reformatTo(DataType::kINT8, DeviceType::kGPU);
        TensorDesc lin = harness::describe(d, DataType::kFLOAT, TensorFormat::kLINEAR), q = harness::describe(d, DataType::kINT8, TensorFormat::kLINEAR);
        q.scale = 0.1f;
        TensorDesc io[2] = {lin, q};
        check(k && k->supportsFormatCombination(1, io, 1, 1), "the GPU Reformat accepts an INT8 LINEAR output");
        io[1] = chw4Desc(d, 0.1f);
        check(k && k->supportsFormatCombination(1, io, 1, 1), "the GPU Reformat accepts an INT8 CHW4 output");
        io[1] = chw4Desc(d, 0.f);
        check(k && !k->supportsFormatCombination(1, io, 1, 1), "the GPU Reformat refuses an INT8 output with scale 0");
        delete k;
    } else {
        std::printf("GPU part skipped: this build has no CUDA kernels\n");
    }
    return harness::finish(false);
}
