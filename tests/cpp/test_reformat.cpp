// The Reformat kernels (layers/reformat.h) through the public plugin API, as the builder uses them:
//   1. the CPU kernel against an independent reference (index formulas and float16 rounding written here) for
//      every pair of {FLOAT, HALF} x {LINEAR, NHWC, HWC8}, on awkward shapes: C = 1, 3, 8, 13, 20, 64, H x W =
//      1x1, 7x7, 9x15, batch 1 and 13; LINEAR tensors of rank 0-5; batch-strided views. Outputs are poisoned
//      (0xFF bytes: NaN in both float types): every logical element must hold the reference, every HWC8 padding
//      channel +0, every gap of a view its poison. HWC8 inputs carry garbage in their padding channels, which
//      must not leak.
//   2. the GPU kernel (cuda/kernels/reformat.cu) against the CPU kernel on the same cases, byte for byte;
//      skipped with a message when the build has no CUDA kernels or no GPU is usable.
// Links the shared library (the CUDA kernels live there). Prints "N passed, M failed"; exit code != 0 on failure.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "plugin_harness.h"

using namespace gie;

namespace {

using harness::check;

// ---- tensors ------------------------------------------------------------------------------------------------

struct Layout {
    DataType type;
    TensorFormat format;
};
const Layout kLayouts[] = {{DataType::kFLOAT, TensorFormat::kLINEAR}, {DataType::kFLOAT, TensorFormat::kNHWC},
                           {DataType::kFLOAT, TensorFormat::kHWC8},   {DataType::kHALF, TensorFormat::kLINEAR},
                           {DataType::kHALF, TensorFormat::kNHWC},    {DataType::kHALF, TensorFormat::kHWC8}};

const char* name(const Layout& l) {
    static const char* n[2][5] = {{"f32/LINEAR", "f32/NHWC", "", "", "f32/HWC8"}, {"f16/LINEAR", "f16/NHWC", "", "", "f16/HWC8"}};
    return n[l.type == DataType::kHALF][static_cast<int>(l.format)];
}

struct Tensor {
    Dims dims;
    Layout layout;
    int64_t batchGap = 0;  // extra elements between batch items (a view)
    int64_t cp() const { return harness::storedChannels(dims.d[1], layout.format); }
    bool channelsLast() const { return layout.format != TensorFormat::kLINEAR; }
    int64_t item() const {  // stored elements of one batch item, padding included
        int64_t v = 1;
        for (int i = 1; i < dims.nbDims; ++i) v *= dims.d[i];
        return channelsLast() ? v / dims.d[1] * cp() : v;
    }
    int64_t batchStride() const { return item() + batchGap; }
    int64_t elems() const { return dims.nbDims == 0 ? 1 : dims.d[0] * batchStride(); }
    size_t elemBytes() const { return layout.type == DataType::kHALF ? 2 : 4; }
    size_t bytes() const { return static_cast<size_t>(elems()) * elemBytes(); }
    TensorDesc desc() const { return harness::describe(dims, layout.type, layout.format, batchStride()); }
    //! Element offset of the logical index (n, rest...) where rest is the row-major index within one item.
    int64_t offset(int64_t n, int64_t r) const {
        if (!channelsLast()) return n * batchStride() + r;
        const int64_t HW = dims.d[2] * dims.d[3];
        return n * batchStride() + harness::offset4(layout.format, dims.d[1], HW, 0, r / HW, r % HW);
    }
    int64_t batch() const { return dims.nbDims == 0 ? 1 : dims.d[0]; }
    int64_t logicalItem() const {
        int64_t v = 1;
        for (int i = 1; i < dims.nbDims; ++i) v *= dims.d[i];
        return v;
    }
};

double loadValue(const std::vector<uint8_t>& buf, const Tensor& t, int64_t i) {
    if (t.layout.type == DataType::kHALF) {
        uint16_t h;
        std::memcpy(&h, buf.data() + i * 2, 2);
        return harness::halfBitsToDouble(h);
    }
    float f;
    std::memcpy(&f, buf.data() + i * 4, 4);
    return f;
}

//! Random input: finite floats with a few specials (half overflow, subnormals, ties, -0), or random half bit
//! patterns (infinities included, no NaN). Padding channels of HWC8 and the gaps of views hold garbage.
std::vector<uint8_t> makeInput(const Tensor& t, std::mt19937& rng) {
    std::vector<uint8_t> buf(t.bytes());
    std::uniform_real_distribution<float> u(-3.f, 3.f);
    const float specials[] = {65504.f, 65519.f, 65520.f, -70000.f, 1e-7f, -3e-8f, 6e-8f, -0.f, 1.f + 1.f / 2048.f, 1.f + 3.f / 2048.f, 2049.f};
    if (t.layout.type == DataType::kHALF) {
        for (int64_t i = 0; i < t.elems(); ++i) {
            uint16_t h = static_cast<uint16_t>(rng());
            if (((h >> 10) & 31) == 31) h = (h & 0x8000) | 0x7C00;  // NaN -> inf
            std::memcpy(buf.data() + i * 2, &h, 2);
        }
    } else {
        for (int64_t i = 0; i < t.elems(); ++i) {
            float f = rng() % 8 == 0 ? specials[rng() % (sizeof(specials) / sizeof(float))] : u(rng);
            std::memcpy(buf.data() + i * 4, &f, 4);
        }
    }
    return buf;
}

// ---- running a kernel ---------------------------------------------------------------------------------------

IPlugin* create(DeviceType dev, DataType to) { return harness::makePlugin("Reformat", dev, {{"to", {static_cast<int64_t>(to)}}}); }

std::string caseName(const Tensor& in, const Tensor& out) {
    std::string s = std::string(name(in.layout)) + " -> " + name(out.layout) + " dims (";
    for (int i = 0; i < in.dims.nbDims; ++i) s += (i ? "," : "") + std::to_string(in.dims.d[i]);
    s += ")";
    if (in.batchGap || out.batchGap) s += " views (+" + std::to_string(in.batchGap) + ", +" + std::to_string(out.batchGap) + ")";
    return s;
}

//! The CPU output against the reference: logical elements, padding channels (+0) and view gaps (poison).
void checkReference(const Tensor& in, const Tensor& out, const std::vector<uint8_t>& x, const std::vector<uint8_t>& y, const std::string& what) {
    std::vector<char> logical(static_cast<size_t>(out.elems()), 0);
    int bad = 0;
    std::string first;
    for (int64_t n = 0; n < in.batch(); ++n) {
        for (int64_t r = 0; r < in.logicalItem(); ++r) {
            const double v = loadValue(x, in, in.offset(n, r));
            const double ref = out.layout.type == DataType::kHALF ? harness::roundToHalf(v) : v;  // float input: exact in float32
            const int64_t o = out.offset(n, r);
            logical[static_cast<size_t>(o)] = 1;
            const double got = loadValue(y, out, o);
            if (!(got == ref && std::signbit(got) == std::signbit(ref))) {
                if (!bad++) first = "element (" + std::to_string(n) + ", " + std::to_string(r) + "): got " + std::to_string(got) + ", expected " + std::to_string(ref);
            }
        }
    }
    for (int64_t i = 0; i < out.elems(); ++i) {
        if (logical[static_cast<size_t>(i)]) continue;
        const bool gap = out.batchGap > 0 && i % out.batchStride() >= out.item();
        const uint8_t* p = y.data() + i * static_cast<int64_t>(out.elemBytes());
        bool ok = true;
        for (size_t b = 0; b < out.elemBytes(); ++b) ok = ok && p[b] == (gap ? 0xFF : 0x00);
        if (!ok && !bad++) first = std::string(gap ? "view gap" : "padding channel") + " at element " + std::to_string(i) + " was written wrongly";
    }
    check(bad == 0, "CPU " + what + ": " + std::to_string(bad) + " wrong, first: " + first);
}

void runCase(const Tensor& in, const Tensor& out, std::mt19937& rng, bool gpu) {
    const std::string what = caseName(in, out);
    const std::vector<uint8_t> x = makeInput(in, rng);
    std::vector<uint8_t> cpuY(out.bytes(), 0xFF);
    std::string err;
    if (!harness::runKernel(DeviceType::kCPU, create(DeviceType::kCPU, out.layout.type), in.desc(), x, out.desc(), cpuY, err)) {
        check(false, "CPU " + what + ": " + err);
        return;
    }
    checkReference(in, out, x, cpuY, what);
    if (!gpu) return;
    std::vector<uint8_t> gpuY(out.bytes(), 0xFF);
    if (!harness::runKernel(DeviceType::kGPU, create(DeviceType::kGPU, out.layout.type), in.desc(), x, out.desc(), gpuY, err)) {
        check(false, "GPU " + what + ": " + err);
        return;
    }
    const size_t firstDiff = harness::firstDifference(gpuY, cpuY);
    check(firstDiff == gpuY.size(), "GPU " + what + ": differs from the CPU kernel from byte " + std::to_string(firstDiff) + " (element " +
                                        std::to_string(firstDiff / out.elemBytes()) + ")");
}

Dims dims(std::initializer_list<int64_t> v) {
    Dims d;
    d.nbDims = static_cast<int32_t>(v.size());
    int i = 0;
    for (int64_t x : v) d.d[i++] = x;
    return d;
}

}  // namespace

int main() {
    const bool gpu = harness::gpuUsable("Reformat");
    std::mt19937 rng(20261206);
    // 4-D tensors: every pair of layouts.
    const int64_t channels[] = {1, 3, 8, 13, 20, 64};
    const int64_t spatial[][2] = {{1, 1}, {7, 7}, {9, 15}};
    for (int64_t n : {1, 13})
        for (int64_t c : channels)
            for (const auto& hw : spatial)
                for (const Layout& a : kLayouts)
                    for (const Layout& b : kLayouts) runCase({dims({n, c, hw[0], hw[1]}), a}, {dims({n, c, hw[0], hw[1]}), b}, rng, gpu);
    // A larger plane (several 64-pixel tiles, many channel tiles) in every pair.
    for (const Layout& a : kLayouts)
        for (const Layout& b : kLayouts) runCase({dims({2, 72, 17, 19}), a}, {dims({2, 72, 17, 19}), b}, rng, gpu);
    // Views: batch strides beyond the packed ones (the builder gives them to LINEAR tensors only).
    for (const Layout& a : kLayouts)
        for (const Layout& b : kLayouts) {
            if (a.format != TensorFormat::kLINEAR && b.format != TensorFormat::kLINEAR) continue;
            Tensor in{dims({3, 21, 5, 6}), a}, out{dims({3, 21, 5, 6}), b};
            if (a.format == TensorFormat::kLINEAR) in.batchGap = 8 * 30;
            if (b.format == TensorFormat::kLINEAR) out.batchGap = 3 * 30 + 5;
            runCase(in, out, rng, gpu);
        }
    // LINEAR tensors of other ranks: type conversions and copies.
    for (const Dims& d : {dims({}), dims({5}), dims({13, 7}), dims({2, 3, 5}), dims({2, 1, 3, 4, 5}), dims({4, 16, 8})})
        for (const Layout& a : kLayouts)
            for (const Layout& b : kLayouts)
                if (a.format == TensorFormat::kLINEAR && b.format == TensorFormat::kLINEAR) runCase({d, a}, {d, b}, rng, gpu);
    return harness::finish(gpu);
}
