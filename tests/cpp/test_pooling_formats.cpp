// The GPU Pooling kernel (cuda/kernels/pooling.cu) in every (type, format) it supports, FLOAT / HALF x LINEAR /
// NHWC / HWC8, through the public plugin API, against the CPU Pooling kernel on the same values in LINEAR (the CPU
// has no channels-last pooling; with HALF it widens, pools in float32 and rounds, as the GPU does). Awkward shapes:
// C = 3, 8, 13, 64, H x W = 1x1, 7x7, 9x15, batch 1 and 13; max and average (padding excluded and included),
// stride 2, ceil mode, global. Inputs are multiples of 1/64 in [-4, 4], exact in both types, so the only rounding
// is the kernels' own: the channels-last kernel visits the taps in the CPU's order, so results must match bit for
// bit. Outputs are poisoned (0xFF bytes); HWC8 padding channels must come out +0 although the input's hold garbage.
// Without a GPU (or CUDA kernels) it says so and exits 0. Prints "N passed, M failed"; exit code != 0 on failure.
#include <algorithm>
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

struct Window {
    const char* name;
    int64_t kh, kw, sh, sw, pt, pl, pb, pr, exclude, ceil, global;
};
const Window kWindows[] = {
    {"3x3_s2_pad1", 3, 3, 2, 2, 1, 1, 1, 1, 1, 0, 0}, {"3x3_s2_pad1_incl", 3, 3, 2, 2, 1, 1, 1, 1, 0, 0, 0},
    {"2x2_s2_ceil", 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 0}, {"1x3_s1_pad", 1, 3, 1, 1, 0, 1, 0, 1, 1, 0, 0},
    {"global", 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 1},       {"1x1", 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0},
};

IPlugin* pooling(DeviceType dev, bool isMax, const Window& w) {
    return harness::makePlugin("Pooling", dev,
                               {{"pooling_type", {isMax ? 0 : 1}}, {"window_size", {w.kh, w.kw}}, {"stride", {w.sh, w.sw}},
                                {"pre_padding", {w.pt, w.pl}}, {"post_padding", {w.pb, w.pr}}, {"exclude_padding", {w.exclude}},
                                {"ceil_mode", {w.ceil}}, {"global", {w.global}}});
}

//! Logical values (n, c, p) -> bytes of a tensor in (type, format); padding channels get `pad`.
std::vector<uint8_t> store(const std::vector<float>& v, int64_t N, int64_t C, int64_t HW, DataType t, TensorFormat f, float pad) {
    const int64_t cp = harness::storedChannels(C, f);
    const size_t es = t == DataType::kHALF ? 2 : 4;
    std::vector<uint8_t> out(static_cast<size_t>(N * cp * HW) * es);
    auto put = [&](int64_t i, float x) {
        if (t == DataType::kHALF) {
            const uint16_t h = harness::halfBitsOf(x);
            std::memcpy(out.data() + i * 2, &h, 2);
        } else {
            std::memcpy(out.data() + i * 4, &x, 4);
        }
    };
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < cp; ++c)
            for (int64_t p = 0; p < HW; ++p) put(harness::offset4(f, C, HW, n, c, p), c < C ? v[static_cast<size_t>((n * C + c) * HW + p)] : pad);
    return out;
}

void runCase(int64_t N, int64_t C, int64_t H, int64_t W, const Window& w, bool isMax, DataType type, TensorFormat fmt, std::mt19937& rng) {
    Dims xd;
    xd.nbDims = 4;
    xd.d[0] = N, xd.d[1] = C, xd.d[2] = H, xd.d[3] = W;
    IPlugin* probe = pooling(DeviceType::kCPU, isMax, w);
    Dims yd;
    const bool fits = probe && probe->getOutputDimensions(&xd, 1, &yd) == 0;
    delete probe;
    if (!fits) {
        gie::clearLastError();
        return;  // the window does not fit this input
    }
    const char* fname = fmt == TensorFormat::kLINEAR ? "LINEAR" : fmt == TensorFormat::kNHWC ? "NHWC" : "HWC8";
    const std::string what = std::string(isMax ? "max " : "avg ") + w.name + " " + (type == DataType::kHALF ? "f16 " : "f32 ") + fname + " (" +
                             std::to_string(N) + "," + std::to_string(C) + "," + std::to_string(H) + "," + std::to_string(W) + ")";
    const int64_t HW = H * W, PQ = yd.d[2] * yd.d[3];
    std::vector<float> v(static_cast<size_t>(N * C * HW));
    for (float& x : v) x = static_cast<float>(static_cast<int>(rng() % 513) - 256) / 64.f;
    std::string err;
    // The reference: the CPU kernel on LINEAR tensors of the same type.
    const std::vector<uint8_t> xLin = store(v, N, C, HW, type, TensorFormat::kLINEAR, 0.f);
    const size_t es = type == DataType::kHALF ? 2 : 4;
    std::vector<uint8_t> ref(static_cast<size_t>(N * C * PQ) * es, 0xFF);
    if (!harness::runKernel(DeviceType::kCPU, pooling(DeviceType::kCPU, isMax, w), harness::describe(xd, type, TensorFormat::kLINEAR), xLin,
                            harness::describe(yd, type, TensorFormat::kLINEAR), ref, err)) {
        check(false, "CPU " + what + ": " + err);
        return;
    }
    // The GPU in the format under test; HWC8 input padding holds garbage (7.0), which must not leak.
    const std::vector<uint8_t> x = store(v, N, C, HW, type, fmt, 7.f);
    const int64_t cp = harness::storedChannels(C, fmt);
    std::vector<uint8_t> got(static_cast<size_t>(N * cp * PQ) * es, 0xFF);
    if (!harness::runKernel(DeviceType::kGPU, pooling(DeviceType::kGPU, isMax, w), harness::describe(xd, type, fmt), x,
                            harness::describe(yd, type, fmt), got, err)) {
        check(false, "GPU " + what + ": " + err);
        return;
    }
    int bad = 0;
    std::string first;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < cp; ++c)
            for (int64_t p = 0; p < PQ; ++p) {
                const uint8_t* g = got.data() + harness::offset4(fmt, C, PQ, n, c, p) * static_cast<int64_t>(es);
                const bool ok = c < C ? std::memcmp(g, ref.data() + ((n * C + c) * PQ + p) * static_cast<int64_t>(es), es) == 0
                                      : std::all_of(g, g + es, [](uint8_t b) { return b == 0; });
                if (!ok && !bad++)
                    first = (c < C ? "element (" : "padding channel (") + std::to_string(n) + ", " + std::to_string(c) + ", " + std::to_string(p) + ")";
            }
    check(bad == 0, "GPU " + what + ": " + std::to_string(bad) + " elements differ from the CPU kernel, first " + first);
}

}  // namespace

int main() {
    if (!harness::gpuUsable("Pooling")) return harness::finish(false);
    std::mt19937 rng(1206);
    const int64_t spatial[][2] = {{1, 1}, {7, 7}, {9, 15}};
    for (int64_t N : {1, 13})
        for (int64_t C : {3, 8, 13, 64})
            for (const auto& hw : spatial)
                for (const Window& w : kWindows)
                    for (bool isMax : {true, false})
                        for (DataType t : {DataType::kFLOAT, DataType::kHALF})
                            for (TensorFormat f : {TensorFormat::kLINEAR, TensorFormat::kNHWC, TensorFormat::kHWC8})
                                runCase(N, C, hw[0], hw[1], w, isMax, t, f, rng);
    return harness::finish(true);
}
