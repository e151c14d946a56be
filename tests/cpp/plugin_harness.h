// Helpers for C++ tests that run single-input, single-output kernels through the public plugin API (registry,
// createPlugin, configure, enqueue), on the CPU with host buffers and on the GPU with device buffers from
// gie/gpu.h; and an independent float16 reference (double arithmetic). Header-only; each test program includes it
// once. Programs using it link the shared library (tests/cpp/CMakeLists.txt: GIE_PUBLIC_API_TESTS).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "gie/gpu.h"
#include "gie/plugin.h"
#include "test_check.h"

namespace harness {

using namespace gie;

using testcheck::check;
//! Prints the summary line; the program's exit code.
inline int finish(bool gpu) { return testcheck::finish(gpu ? "" : " (CPU only)"); }

// ---- float16 reference ------------------------------------------------------------------------------------------

inline double halfBitsToDouble(uint16_t h) {
    const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 0) v = std::ldexp(static_cast<double>(m), -24);
    else if (e == 31) v = m ? NAN : INFINITY;
    else v = std::ldexp(static_cast<double>(1024 + m), e - 25);
    return s ? -v : v;
}

//! The float16 value nearest to x (ties to even), as a double; +-inf beyond the largest half (65504 + half ulp).
inline double roundToHalf(double x) {
    if (x == 0 || std::isinf(x) || std::isnan(x)) return x;
    const double a = std::fabs(x);
    int e;
    std::frexp(a, &e);                             // a = f * 2^e, f in [0.5, 1): the leading bit is 2^(e-1)
    const int q = e - 1 < -14 ? -24 : e - 1 - 10;  // quantum: 2^-24 for subnormals, else 2^(exponent - 10)
    double r = std::ldexp(std::nearbyint(std::ldexp(a, -q)), q);  // exact scaling; nearbyint: ties to even
    if (r > 65504.0) r = INFINITY;
    return x < 0 ? -r : r;
}

//! The bits of a finite value that float16 holds exactly (e.g. roundToHalf's result).
inline uint16_t halfBitsOf(double v) {
    const uint16_t sign = std::signbit(v) ? 0x8000 : 0;
    const double a = std::fabs(v);
    if (a == 0) return sign;
    if (std::isinf(a)) return sign | 0x7C00;
    int e;
    std::frexp(a, &e);
    if (e - 1 < -14) return sign | static_cast<uint16_t>(std::ldexp(a, 24));
    return sign | static_cast<uint16_t>((e - 1 + 15) << 10) | static_cast<uint16_t>(std::ldexp(a, 10 - (e - 1)) - 1024);
}

// ---- tensors ----------------------------------------------------------------------------------------------------

//! Stored channels per pixel of a 4-D tensor in format f (written here from the format definitions in
//! cpp/src/common/format.h, independently of it).
inline int64_t storedChannels(int64_t c, TensorFormat f) { return f == TensorFormat::kHWC8 ? (c + 7) / 8 * 8 : c; }

//! The descriptor of a tensor of `dims` in (type, format): strides of the logical dims (channels-last: 4-D, strides
//! {H*W*Cp, 1, W*Cp, Cp}); batchStride > 0 replaces strides[0] (a view).
inline TensorDesc describe(const Dims& dims, DataType type, TensorFormat format, int64_t batchStride = 0) {
    TensorDesc d;
    d.dims = dims;
    d.type = type;
    d.format = format;
    d.strides.nbDims = dims.nbDims;
    if (format != TensorFormat::kLINEAR) {
        const int64_t cp = storedChannels(dims.d[1], format);
        d.strides.d[3] = cp;
        d.strides.d[2] = dims.d[3] * cp;
        d.strides.d[1] = 1;
        d.strides.d[0] = dims.d[2] * dims.d[3] * cp;
    } else {
        int64_t s = 1;
        for (int i = dims.nbDims - 1; i >= 0; --i) {
            d.strides.d[i] = s;
            s *= dims.d[i];
        }
    }
    if (dims.nbDims > 0 && batchStride > 0) d.strides.d[0] = batchStride;
    return d;
}

//! Element offset of logical (n, c, h*W + w) in a packed 4-D tensor of C channels and HW pixels per plane.
inline int64_t offset4(TensorFormat f, int64_t C, int64_t HW, int64_t n, int64_t c, int64_t p) {
    if (f == TensorFormat::kLINEAR) return (n * C + c) * HW + p;
    const int64_t cp = storedChannels(C, f);
    return (n * HW + p) * cp + c;
}

// ---- kernels ----------------------------------------------------------------------------------------------------

struct Field {
    const char* name;
    std::vector<int64_t> values;
};

//! A kernel of `type` for `device` with INT64 fields, or nullptr when no such creator is registered (or it refuses).
inline IPlugin* makePlugin(const char* type, DeviceType device, const std::vector<Field>& fields) {
    IPluginCreator* cr = getPluginRegistry()->getCreator(type, nullptr, device);
    if (!cr) return nullptr;
    std::vector<PluginField> pf;
    for (const Field& f : fields) {
        PluginField p;
        p.name = f.name;
        p.data = f.values.data();
        p.type = PluginFieldType::kINT64;
        p.length = static_cast<int64_t>(f.values.size());
        pf.push_back(p);
    }
    PluginFieldCollection fc;
    fc.nbFields = static_cast<int32_t>(pf.size());
    fc.fields = pf.data();
    return cr->createPlugin("harness", &fc);
}

inline std::string lastError(const char* fallback) {
    const char* m = nullptr;
    getLastError(&m);
    return m && *m ? m : fallback;
}

//! Whether the GPU kernels of `type` can run here; says why not otherwise.
inline bool gpuUsable(const char* type) {
    if (!getPluginRegistry()->getCreator(type, nullptr, DeviceType::kGPU)) {
        std::printf("GPU part skipped: this build has no CUDA kernels\n");
        return false;
    }
    void* p = gpuAllocate(256);
    if (!p) {
        std::printf("GPU part skipped: no usable GPU (%s)\n", getBuildInfoJson());
        clearLastError();
        return false;
    }
    gpuFree(p);
    return true;
}

//! Configures k for (id -> od), checks that it supports the combination, and runs it once on `device` with input
//! bytes x; y holds the output buffer's initial bytes (the poison) and receives the result. Deletes k.
inline bool runKernel(DeviceType device, IPlugin* k, const TensorDesc& id, const std::vector<uint8_t>& x, const TensorDesc& od,
                      std::vector<uint8_t>& y, std::string& err) {
    if (!k) return err = lastError("no such kernel"), false;
    const TensorDesc io[2] = {id, od};
    bool ok = k->supportsFormatCombination(0, io, 1, 1) && k->supportsFormatCombination(1, io, 1, 1);
    if (!ok) err = "the kernel refuses the combination";
    ok = ok && k->configure(&id, 1, &od, 1) == 0 && k->initialize() == 0;
    const size_t wsBytes = ok ? k->getWorkspaceSize() : 0;
    if (device == DeviceType::kCPU) {
        std::vector<uint8_t> ws(wsBytes + 1);
        const void* ip[] = {x.data()};
        void* op[] = {y.data()};
        ok = ok && k->enqueue(&id, &od, ip, op, ws.data(), nullptr) == 0;
    } else {
        void* dx = ok ? gpuAllocate(x.size()) : nullptr;
        void* dy = ok ? gpuAllocate(y.size()) : nullptr;
        void* ws = ok && wsBytes ? gpuAllocate(wsBytes) : nullptr;
        ok = ok && dx && dy && (ws || !wsBytes);
        ok = ok && gpuCopy(dx, x.data(), x.size(), GpuCopyKind::kHOST_TO_DEVICE, nullptr);
        ok = ok && gpuCopy(dy, y.data(), y.size(), GpuCopyKind::kHOST_TO_DEVICE, nullptr);
        const void* ip[] = {dx};
        void* op[] = {dy};
        ok = ok && k->enqueue(&id, &od, ip, op, ws, nullptr) == 0;
        ok = ok && gpuStreamSynchronize(nullptr);
        ok = ok && gpuCopy(y.data(), dy, y.size(), GpuCopyKind::kDEVICE_TO_HOST, nullptr);
        gpuFree(ws);
        gpuFree(dx);
        gpuFree(dy);
    }
    if (!ok && err.empty()) err = lastError("the kernel failed");
    k->terminate();
    delete k;
    return ok;
}

//! Index of the first differing byte, or a.size() when equal.
inline size_t firstDifference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
    size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
    return a.size() == b.size() ? i : std::min(a.size(), b.size());
}

}  // namespace harness
