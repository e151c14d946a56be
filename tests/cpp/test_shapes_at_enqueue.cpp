// Shapes at enqueue (issue 12 item 6): a kernel configured with the largest shapes must run any smaller shape
// it is enqueued with, reading the shapes from the descriptors; nothing spatial may be baked in at configure.
// Through the plugin registry, for Convolution (several geometries: Winograd-eligible 3x3, 1x1 with a plane
// whose H*W is not a multiple of 4, strided grouped 5x5, depthwise with a channel multiplier, dilation, a
// residual and an activation), Deconvolution, FullyConnected and MatrixMultiply, in FP32 and FP16 storage:
//   - CPU configured at the largest shape == CPU configured at the exact shape, bit for bit (the same code
//     prepared for the same plane), also from several threads at once with different planes (the per-plane
//     cache of the CPU convolution is shared by the threads);
//   - GPU (every tactic the configured shapes allow), configured at the largest shape, == the CPU at the exact
//     shape within 2e-4 (FP32: sums in another order, Winograd) or 4e-3 (FP16 storage: the same rounding points,
//     an output may land on the neighbouring half value) of the output's largest magnitude; skipped without a GPU.
// FP16 runs also check the GPU FP16 kernels (issue 12 item 5) without the builder. Outputs are poisoned with NaN
// before every run. Prints "N passed, M failed".
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "common/dims.h"
#include "common/half.h"
#include "gie/gie.h"

#include "test_check.h"

using namespace gie;
using namespace testcheck;

namespace {
struct Fields {
    std::vector<std::pair<std::string, std::vector<int64_t>>> ints;
    std::vector<std::pair<std::string, std::vector<float>>> floats;
};

struct Case {
    std::string name;
    const char* type;
    Fields fields;
    //! The inputs' shapes: [0] configured (the largest), [1] and [2] two smaller calls.
    std::vector<std::vector<Dims>> shapes;
    bool residual = false;  // a residual input shaped like the output follows (Convolution)
};

std::vector<float> randomVector(size_t n, uint32_t seed, float scale) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-scale, scale);
    std::vector<float> v(n);
    for (float& x : v) x = u(rng);
    return v;
}

std::unique_ptr<IPlugin> makePlugin(const Case& c, DeviceType device) {
    IPluginCreator* creator = getPluginRegistry()->getCreator(c.type, "1", device);
    if (!creator) return nullptr;
    std::vector<PluginField> f;
    for (const auto& p : c.fields.ints) f.push_back({p.first.c_str(), p.second.data(), PluginFieldType::kINT64, static_cast<int64_t>(p.second.size())});
    for (const auto& p : c.fields.floats) f.push_back({p.first.c_str(), p.second.data(), PluginFieldType::kFLOAT32, static_cast<int64_t>(p.second.size())});
    PluginFieldCollection fc{static_cast<int32_t>(f.size()), f.data()};
    return std::unique_ptr<IPlugin>(creator->createPlugin(c.name.c_str(), &fc));
}

TensorDesc desc(const Dims& d) {
    TensorDesc t;
    t.dims = d;
    t.strides = packedStrides(d);
    return t;
}

//! Input (and residual) descriptors for input shapes x, and the output's, from the plugin's shape rule.
bool descs(IPlugin& p, const Case& c, const std::vector<Dims>& x, bool half, std::vector<TensorDesc>& in, TensorDesc& out) {
    Dims y;
    if (p.getOutputDimensions(x.data(), static_cast<int32_t>(x.size()), &y) != 0) return false;
    in.clear();
    for (const Dims& d : x) in.push_back(desc(d));
    if (c.residual) in.push_back(desc(y));
    out = desc(y);
    for (auto& t : in) t.type = half ? DataType::kHALF : DataType::kFLOAT;
    out.type = in[0].type;
    return true;
}

//! A host tensor in the call's storage type (float, or half bits) made from float values.
std::vector<uint8_t> stored(const std::vector<float>& v, bool half) {
    std::vector<uint8_t> b(v.size() * (half ? 2 : 4));
    for (size_t i = 0; i < v.size(); ++i) {
        if (half) {
            const uint16_t h = floatToHalf(v[i]);
            std::memcpy(b.data() + 2 * i, &h, 2);
        } else {
            std::memcpy(b.data() + 4 * i, &v[i], 4);
        }
    }
    return b;
}
std::vector<float> widened(const std::vector<uint8_t>& b, bool half) {
    std::vector<float> v(b.size() / (half ? 2 : 4));
    for (size_t i = 0; i < v.size(); ++i) {
        if (half) {
            uint16_t h;
            std::memcpy(&h, b.data() + 2 * i, 2);
            v[i] = halfToFloat(h);
        } else {
            std::memcpy(&v[i], b.data() + 4 * i, 4);
        }
    }
    return v;
}

//! The inputs (data, residual) for input shape x.
std::vector<std::vector<float>> inputsFor(const std::vector<TensorDesc>& in, uint32_t seed) {
    std::vector<std::vector<float>> v;
    for (size_t i = 0; i < in.size(); ++i) v.push_back(randomVector(static_cast<size_t>(volume(in[i].dims)), seed + static_cast<uint32_t>(i), 1.f));
    return v;
}

//! Configures p with the input shapes `configured`, sets tactic t, initializes.
bool prepare(IPlugin& p, const Case& c, const std::vector<Dims>& configured, bool half, int32_t tactic) {
    std::vector<TensorDesc> in;
    TensorDesc out;
    if (!descs(p, c, configured, half, in, out)) return false;
    if (p.configure(in.data(), static_cast<int32_t>(in.size()), &out, 1) != 0) return false;
    if (p.setTactic(tactic) != 0) return false;
    return p.initialize() == 0;
}

//! Runs a configured CPU plugin on input shapes x; the output as floats, empty on failure.
std::vector<float> runCpu(const IPlugin& p, const Case& c, const std::vector<Dims>& x, bool half, uint32_t seed) {
    std::vector<TensorDesc> in;
    TensorDesc out;
    if (!descs(const_cast<IPlugin&>(p), c, x, half, in, out)) return {};
    std::vector<std::vector<uint8_t>> data;
    for (auto& d : inputsFor(in, seed)) data.push_back(stored(d, half));
    auto y = stored(std::vector<float>(static_cast<size_t>(volume(out.dims)), std::numeric_limits<float>::quiet_NaN()), half);
    std::vector<uint8_t> ws(p.getWorkspaceSize() + 64);
    std::vector<const void*> ip;
    for (auto& d : data) ip.push_back(d.data());
    void* op[1] = {y.data()};
    if (p.enqueue(in.data(), &out, ip.data(), op, ws.data(), nullptr) != 0) return {};
    return widened(y, half);
}

//! Max |a - b| relative to max |b| (inf when the sizes differ or a value is not finite).
double relDiff(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size() || a.empty()) return INFINITY;
    double m = 0, scale = 1e-30;
    for (size_t i = 0; i < a.size(); ++i) {
        if (!std::isfinite(a[i])) return INFINITY;
        m = std::max(m, std::fabs(double(a[i]) - double(b[i])));
        scale = std::max(scale, std::fabs(double(b[i])));
    }
    return m / scale;
}

std::vector<float> runGpu(Backend& gpu, const IPlugin& p, const Case& c, const std::vector<Dims>& x, bool half, uint32_t seed) {
    std::vector<TensorDesc> in;
    TensorDesc out;
    if (!descs(const_cast<IPlugin&>(p), c, x, half, in, out)) return {};
    std::vector<DeviceBuffer> dIn;
    std::vector<const void*> ip;
    for (auto& v : inputsFor(in, seed)) {
        const auto d = stored(v, half);
        dIn.emplace_back(gpu, d.size(), "test input");
        gpu.copy(dIn.back().get(), d.data(), d.size(), CopyKind::kHostToDevice, nullptr);
        ip.push_back(dIn.back().get());
    }
    auto y = stored(std::vector<float>(static_cast<size_t>(volume(out.dims)), std::numeric_limits<float>::quiet_NaN()), half);
    DeviceBuffer dOut(gpu, y.size(), "test output");
    gpu.copy(dOut.get(), y.data(), y.size(), CopyKind::kHostToDevice, nullptr);
    DeviceBuffer ws(gpu, p.getWorkspaceSize() + 256, "test workspace");
    void* op[1] = {dOut.get()};
    if (p.enqueue(in.data(), &out, ip.data(), op, ws.get(), nullptr) != 0) return {};
    gpu.synchronize(nullptr);
    gpu.copy(y.data(), dOut.get(), y.size(), CopyKind::kDeviceToHost, nullptr);
    gpu.synchronize(nullptr);
    return widened(y, half);
}

Case conv(const std::string& name, int64_t K, int64_t C, int64_t groups, int64_t R, int64_t S, int64_t stride, int64_t pad, int64_t dil,
          Dims maxX, Dims smallX, Dims smallX2, bool residual = false, int64_t act = -1) {
    Case c;
    c.name = name;
    c.type = "Convolution";
    c.fields.ints = {{"num_output_maps", {K}}, {"kernel_size", {R, S}}, {"stride", {stride, stride}}, {"pre_padding", {pad, pad}},
                     {"dilation", {dil, dil}}, {"num_groups", {groups}}};
    if (act >= 0) c.fields.ints.push_back({"activation_type", {act}});
    c.fields.floats = {{"kernel", randomVector(static_cast<size_t>(K * (C / groups) * R * S), 7u, 0.5f)}, {"bias", randomVector(static_cast<size_t>(K), 9u, 0.5f)}};
    c.shapes = {{maxX}, {smallX}, {smallX2}};
    c.residual = residual;
    return c;
}

Case deconv(const std::string& name, int64_t K, int64_t C, int64_t groups, int64_t R, int64_t stride, int64_t pad, Dims maxX, Dims smallX,
            Dims smallX2) {
    Case c = conv(name, K, C, groups, R, R, stride, pad, 1, maxX, smallX, smallX2);
    c.type = "Deconvolution";
    c.fields.floats[0].second = randomVector(static_cast<size_t>(C * (K / groups) * R * R), 7u, 0.5f);
    return c;
}

std::string shapesText(const std::vector<Dims>& x) {
    std::string t;
    for (const Dims& d : x) t += (t.empty() ? "" : " x ") + toString(d);
    return t;
}

void runCase(const Case& c, bool half, Backend* gpu) {
    const std::string name = c.name + (half ? " FP16" : " FP32");
    // CPU reference: configured at exactly the call's shape.
    std::vector<std::vector<float>> ref;
    for (size_t i = 1; i <= 2; ++i) {
        auto p = makePlugin(c, DeviceType::kCPU);
        check(p && prepare(*p, c, c.shapes[i], half, 0), name + ": CPU plugin configured at " + shapesText(c.shapes[i]));
        ref.push_back(p ? runCpu(*p, c, c.shapes[i], half, 11u) : std::vector<float>());
        check(relDiff(ref.back(), ref.back()) == 0, name + ": CPU at " + shapesText(c.shapes[i]) + " runs");
    }
    // CPU configured at the largest shape, called with the smaller ones: the same bits.
    {
        auto p = makePlugin(c, DeviceType::kCPU);
        check(p && prepare(*p, c, c.shapes[0], half, 0), name + ": CPU plugin configured at " + shapesText(c.shapes[0]));
        if (p) {
            for (size_t i = 1; i <= 2; ++i)
                check(relDiff(runCpu(*p, c, c.shapes[i], half, 11u), ref[i - 1]) == 0,
                      name + ": CPU configured at max == configured at " + shapesText(c.shapes[i]));
            // Concurrent calls (enqueue is const and shared by an engine's contexts) with different planes.
            std::vector<double> diffs(8, INFINITY);
            std::vector<std::thread> threads;
            for (size_t t = 0; t < diffs.size(); ++t)
                threads.emplace_back([&, t] { diffs[t] = relDiff(runCpu(*p, c, c.shapes[1 + t % 2], half, 11u), ref[t % 2]); });
            for (auto& th : threads) th.join();
            check(*std::max_element(diffs.begin(), diffs.end()) == 0, name + ": CPU, 8 threads with two shapes, same bits");
        }
    }
    if (!gpu) return;
    const double tol = half ? 4e-3 : 2e-4;
    auto probe = makePlugin(c, DeviceType::kGPU);
    check(probe != nullptr, name + ": GPU plugin");
    if (!probe) return;
    int ran = 0;
    for (int32_t t = 0; t < probe->getNbTactics(); ++t) {
        auto p = makePlugin(c, DeviceType::kGPU);
        std::vector<TensorDesc> in;
        TensorDesc out;
        if (!descs(*p, c, c.shapes[0], half, in, out) || p->configure(in.data(), static_cast<int32_t>(in.size()), &out, 1) != 0) {
            check(false, name + ": GPU configure");
            return;
        }
        if (p->setTactic(t) != 0) continue;  // not applicable to the configured shapes
        const std::string tn = name + " GPU tactic " + p->getTacticName(t);
        check(p->initialize() == 0, tn + ": initialize");
        const double d0 = relDiff(runGpu(*gpu, *p, c, c.shapes[1], half, 11u), ref[0]);
        const double d1 = relDiff(runGpu(*gpu, *p, c, c.shapes[2], half, 11u), ref[1]);
        check(d0 <= tol && d1 <= tol, tn + ": configured at max, called smaller, vs CPU: rel diff " + std::to_string(d0) + ", " + std::to_string(d1));
        p->terminate();
        ++ran;
    }
    check(ran > 0, name + ": at least one GPU tactic");
    std::printf("%s: %d GPU tactics at smaller shapes\n", name.c_str(), ran);
}

Case fullyConnected(const std::string& name, int64_t K, int64_t flat, std::vector<std::vector<Dims>> shapes) {
    Case c;
    c.name = name;
    c.type = "FullyConnected";
    c.fields.ints = {{"num_outputs", {K}}};
    c.fields.floats = {{"kernel", randomVector(static_cast<size_t>(K * flat), 7u, 1.f / std::sqrt(float(flat)))}, {"bias", randomVector(static_cast<size_t>(K), 9u, 0.5f)}};
    c.shapes = std::move(shapes);
    return c;
}

Case matmul(const std::string& name, bool ta, bool tb, std::vector<std::vector<Dims>> shapes) {
    Case c;
    c.name = name;
    c.type = "MatrixMultiply";
    c.fields.ints = {{"transpose_a", {ta ? 1 : 0}}, {"transpose_b", {tb ? 1 : 0}}};
    c.shapes = std::move(shapes);
    return c;
}
}  // namespace

int main() {
    Backend* gpu = findBackend(DeviceType::kGPU);
    if (gpu && !gpu->available()) gpu = nullptr;
    if (!gpu) std::printf("no usable GPU: the GPU comparisons are skipped\n");
    const int64_t relu = static_cast<int64_t>(ActivationType::kRELU);
    const std::vector<Case> cases = {
        conv("conv3x3_s1_p1_residual_relu", 7, 5, 1, 3, 3, 1, 1, 1, dims4(3, 5, 13, 11), dims4(2, 5, 6, 9), dims4(3, 5, 13, 4), true, relu),
        conv("conv1x1", 12, 8, 1, 1, 1, 1, 0, 1, dims4(3, 8, 8, 8), dims4(2, 8, 5, 3), dims4(1, 8, 4, 4)),
        conv("conv5x5_s2_p2_g2", 4, 6, 2, 5, 5, 2, 2, 1, dims4(2, 6, 17, 15), dims4(2, 6, 9, 7), dims4(1, 6, 5, 15)),
        conv("conv3x3_dil2_p2", 5, 3, 1, 3, 3, 1, 2, 2, dims4(2, 3, 12, 12), dims4(2, 3, 7, 5), dims4(2, 3, 1, 9)),
        conv("depthwise3x3_s2_x2", 12, 6, 6, 3, 3, 2, 1, 1, dims4(2, 6, 12, 10), dims4(1, 6, 5, 8), dims4(2, 6, 11, 3)),
        deconv("deconv3x3_s2_p1_g2", 6, 4, 2, 3, 2, 1, dims4(2, 4, 7, 6), dims4(2, 4, 4, 5), dims4(1, 4, 2, 2)),
        deconv("deconv4x4_s2", 3, 5, 1, 4, 2, 0, dims4(2, 5, 6, 6), dims4(2, 5, 3, 4), dims4(2, 5, 6, 1)),
        // (an FC's input volume per row is fixed by its weights: only the batch shrinks)
        fullyConnected("fc_5x3x3_to_33", 33, 45, {{dims4(13, 5, 3, 3)}, {dims4(1, 5, 3, 3)}, {dims4(6, 5, 3, 3)}}),
        fullyConnected("fc_2048_to_100", 100, 2048, {{makeDims(2, std::array<int64_t, 2>{4, 2048}.data())},
                                                      {makeDims(2, std::array<int64_t, 2>{1, 2048}.data())},
                                                      {makeDims(2, std::array<int64_t, 2>{3, 2048}.data())}}),
        matmul("matmul_nn_broadcast", false, false, {{dims4(4, 2, 33, 65), dims4(4, 1, 65, 7)},
                                                     {dims4(2, 2, 20, 65), dims4(2, 1, 65, 3)},
                                                     {dims4(3, 1, 1, 65), dims4(3, 1, 65, 7)}}),
        matmul("matmul_tn", true, false, {{dims4(3, 2, 40, 17), dims4(3, 2, 40, 9)},
                                          {dims4(1, 2, 40, 5), dims4(1, 2, 40, 9)},
                                          {dims4(2, 1, 40, 17), dims4(2, 2, 40, 2)}}),
        matmul("matmul_nt_vector_like", false, true, {{dims4(5, 3, 4, 64), dims4(5, 3, 8, 64)},
                                                      {dims4(5, 3, 1, 64), dims4(5, 3, 8, 64)},
                                                      {dims4(1, 3, 4, 64), dims4(1, 3, 1, 64)}}),
    };
    for (bool half : {false, true})
        for (const Case& c : cases) runCase(c, half, gpu);
    return finish();
}
