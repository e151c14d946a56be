// GPU Reformat micro-benchmark (cuda/kernels/reformat.cu): the conversions an FP16 engine runs at its inputs, its
// outputs and between layers that disagree, at ResNet-50 sizes. For each: the mean time of 200 back-to-back
// enqueues and the effective bandwidth (bytes read + written, HWC8 padding included), next to a device-to-device
// copy of the larger of the two buffers (the bandwidth a one-pass kernel can approach).
// Build against a CUDA build's shared library, on a machine with a GPU:
//   g++ -O2 -std=c++17 -Icpp/include -Itests/cpp bench/cpp/bench_reformat.cpp -o /tmp/bench_reformat
//       -Lbuild/gpu -lgie -Wl,-rpath,$PWD/build/gpu && /tmp/bench_reformat
#include <algorithm>
#include <chrono>
#include <functional>
#include <cstdio>
#include <string>
#include <vector>

#include "plugin_harness.h"

using namespace gie;

namespace {

struct Case {
    int64_t n, c, h, w;
    DataType ti;
    TensorFormat fi;
    DataType to;
    TensorFormat fo;
    const char* what;
};

const char* fmtName(TensorFormat f) { return f == TensorFormat::kLINEAR ? "LINEAR" : f == TensorFormat::kNHWC ? "NHWC" : "HWC8"; }
const char* typeName(DataType t) { return t == DataType::kHALF ? "f16" : "f32"; }

int64_t bytesOf(const Dims& d, DataType t, TensorFormat f) {
    return d.d[0] * harness::storedChannels(d.d[1], f) * d.d[2] * d.d[3] * (t == DataType::kHALF ? 2 : 4);
}

double timeMs(int runs, const std::function<void()>& fn) {
    fn();  // warm-up
    gpuStreamSynchronize(nullptr);
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < runs; ++r) fn();
    gpuStreamSynchronize(nullptr);
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / runs;
}

}  // namespace

int main() {
    if (!harness::gpuUsable("Reformat")) return 0;
    const DataType F = DataType::kFLOAT, H = DataType::kHALF;
    const TensorFormat L = TensorFormat::kLINEAR, C8 = TensorFormat::kHWC8, NH = TensorFormat::kNHWC;
    const Case cases[] = {
        {64, 3, 224, 224, F, L, H, C8, "network input, batch 64"},
        {1, 3, 224, 224, F, L, H, C8, "network input, batch 1"},
        {64, 3, 224, 224, F, L, H, L, "network input to f16 linear"},
        {64, 64, 56, 56, H, C8, H, L, "conv (HWC8) -> linear layer"},
        {64, 64, 56, 56, H, L, H, C8, "linear layer -> conv (HWC8)"},
        {64, 256, 56, 56, H, C8, F, L, "HWC8 f16 -> f32 linear"},
        {64, 2048, 7, 7, H, C8, H, L, "last stage HWC8 -> linear"},
        {64, 2048, 1, 1, H, C8, F, L, "pooled features -> f32"},
        {64, 64, 56, 56, F, NH, H, C8, "NHWC f32 input -> HWC8"},
        {64, 13, 56, 56, H, L, H, C8, "odd channels -> HWC8"},
    };
    const int runs = 200;
    std::printf("%-32s %-26s %10s %10s %12s\n", "case", "conversion", "time us", "GB/s", "copy GB/s");
    for (const Case& k : cases) {
        Dims d;
        d.nbDims = 4;
        d.d[0] = k.n, d.d[1] = k.c, d.d[2] = k.h, d.d[3] = k.w;
        const TensorDesc id = harness::describe(d, k.ti, k.fi), od = harness::describe(d, k.to, k.fo);
        const int64_t bi = bytesOf(d, k.ti, k.fi), bo = bytesOf(d, k.to, k.fo);
        void* x = gpuAllocate(static_cast<size_t>(bi));
        void* y = gpuAllocate(static_cast<size_t>(std::max(bi, bo)));
        void* z = gpuAllocate(static_cast<size_t>(std::max(bi, bo)));
        IPlugin* p = harness::makePlugin("Reformat", DeviceType::kGPU, {{"to", {static_cast<int64_t>(k.to)}}});
        if (!x || !y || !z || !p || p->configure(&id, 1, &od, 1) != 0 || p->initialize() != 0) {
            std::printf("%-32s failed: %s\n", k.what, harness::lastError("setup").c_str());
            return 1;
        }
        const void* ip[] = {x};
        void* op[] = {y};
        const double ms = timeMs(runs, [&] { p->enqueue(&id, &od, ip, op, nullptr, nullptr); });
        const int64_t big = std::max(bi, bo);
        const double copyMs = timeMs(runs, [&] { gpuCopy(z, y, static_cast<size_t>(big), GpuCopyKind::kDEVICE_TO_DEVICE, nullptr); });
        const std::string conv = std::string(typeName(k.ti)) + "/" + fmtName(k.fi) + " -> " + typeName(k.to) + "/" + fmtName(k.fo);
        std::printf("%-32s %-26s %10.1f %10.0f %12.0f\n", k.what, conv.c_str(), ms * 1e3, (bi + bo) / ms * 1e-6, 2.0 * big / copyMs * 1e-6);
        p->terminate();
        delete p;
        gpuFree(x);
        gpuFree(y);
        gpuFree(z);
    }
    return 0;
}
