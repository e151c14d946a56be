// Shapes at enqueue (issue 12 item 6): a kernel configured with the largest shapes must run any smaller shape
// it is enqueued with, reading the shapes from the descriptors; nothing spatial may be baked in at configure.
// Through the plugin registry, for Convolution (several geometries: Winograd-eligible 3x3, 1x1 with a plane
// whose H*W is not a multiple of 4, strided grouped 5x5, depthwise with a channel multiplier, dilation, a
// residual and an activation) and Deconvolution:
//   - CPU configured at the largest shape == CPU configured at the exact shape, bit for bit (the same code
//     prepared for the same plane), also from several threads at once with different planes (the per-plane
//     cache of the CPU convolution is shared by the threads);
//   - GPU (every tactic the configured shapes allow), configured at the largest shape, == the CPU at the exact
//     shape within 2e-4 of the output's largest magnitude (FP32 sums in another order; Winograd); skipped
//     without a GPU.
// Outputs are poisoned with NaN before every run. Prints "N passed, M failed".
#include <algorithm>
#include <cmath>
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
#include "gie/gie.h"

using namespace gie;

namespace {
int gPass = 0, gFail = 0;
void check(bool ok, const std::string& what) {
    if (ok) {
        ++gPass;
    } else {
        ++gFail;
        std::printf("FAILED: %s\n", what.c_str());
    }
}

struct Fields {
    std::vector<std::pair<std::string, std::vector<int64_t>>> ints;
    std::vector<std::pair<std::string, std::vector<float>>> floats;
};

struct Case {
    std::string name;
    const char* type;  // "Convolution" / "Deconvolution"
    Fields fields;
    Dims maxX, smallX, smallX2;  // configured (largest) input and two smaller call shapes
    bool residual = false;
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

//! Input (and residual) descriptors of shape x, and the output's, from the plugin's shape rule.
bool descs(IPlugin& p, const Case& c, const Dims& x, std::vector<TensorDesc>& in, TensorDesc& out) {
    Dims y;
    if (p.getOutputDimensions(&x, 1, &y) != 0) return false;
    in = {desc(x)};
    if (c.residual) in.push_back(desc(y));
    out = desc(y);
    return true;
}

//! The inputs (data, residual) for input shape x.
std::vector<std::vector<float>> inputsFor(const std::vector<TensorDesc>& in, uint32_t seed) {
    std::vector<std::vector<float>> v;
    for (size_t i = 0; i < in.size(); ++i) v.push_back(randomVector(static_cast<size_t>(volume(in[i].dims)), seed + static_cast<uint32_t>(i), 1.f));
    return v;
}

//! Configures p with the shapes of input `configured`, sets tactic t, initializes.
bool prepare(IPlugin& p, const Case& c, const Dims& configured, int32_t tactic) {
    std::vector<TensorDesc> in;
    TensorDesc out;
    if (!descs(p, c, configured, in, out)) return false;
    if (p.configure(in.data(), static_cast<int32_t>(in.size()), &out, 1) != 0) return false;
    if (p.setTactic(tactic) != 0) return false;
    return p.initialize() == 0;
}

//! Runs a configured CPU plugin on input shape x; empty on failure.
std::vector<float> runCpu(const IPlugin& p, const Case& c, const Dims& x, uint32_t seed) {
    std::vector<TensorDesc> in;
    TensorDesc out;
    if (!descs(const_cast<IPlugin&>(p), c, x, in, out)) return {};
    auto data = inputsFor(in, seed);
    std::vector<float> y(static_cast<size_t>(volume(out.dims)), std::numeric_limits<float>::quiet_NaN());
    std::vector<uint8_t> ws(p.getWorkspaceSize() + 64);
    std::vector<const void*> ip;
    for (auto& d : data) ip.push_back(d.data());
    void* op[1] = {y.data()};
    if (p.enqueue(in.data(), &out, ip.data(), op, ws.data(), nullptr) != 0) return {};
    return y;
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

std::vector<float> runGpu(Backend& gpu, const IPlugin& p, const Case& c, const Dims& x, uint32_t seed) {
    std::vector<TensorDesc> in;
    TensorDesc out;
    if (!descs(const_cast<IPlugin&>(p), c, x, in, out)) return {};
    auto data = inputsFor(in, seed);
    std::vector<DeviceBuffer> dIn;
    std::vector<const void*> ip;
    for (auto& d : data) {
        dIn.emplace_back(gpu, d.size() * sizeof(float), "test input");
        gpu.copy(dIn.back().get(), d.data(), d.size() * sizeof(float), CopyKind::kHostToDevice, nullptr);
        ip.push_back(dIn.back().get());
    }
    std::vector<float> y(static_cast<size_t>(volume(out.dims)), std::numeric_limits<float>::quiet_NaN());
    DeviceBuffer dOut(gpu, y.size() * sizeof(float), "test output");
    gpu.copy(dOut.get(), y.data(), y.size() * sizeof(float), CopyKind::kHostToDevice, nullptr);
    DeviceBuffer ws(gpu, p.getWorkspaceSize() + 256, "test workspace");
    void* op[1] = {dOut.get()};
    if (p.enqueue(in.data(), &out, ip.data(), op, ws.get(), nullptr) != 0) return {};
    gpu.synchronize(nullptr);
    gpu.copy(y.data(), dOut.get(), y.size() * sizeof(float), CopyKind::kDeviceToHost, nullptr);
    gpu.synchronize(nullptr);
    return y;
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
    c.maxX = maxX;
    c.smallX = smallX;
    c.smallX2 = smallX2;
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

void runCase(const Case& c, Backend* gpu) {
    // CPU reference: configured at exactly the call's shape.
    std::vector<std::vector<float>> ref;
    for (const Dims& x : {c.smallX, c.smallX2}) {
        auto p = makePlugin(c, DeviceType::kCPU);
        check(p && prepare(*p, c, x, 0), c.name + ": CPU plugin configured at " + toString(x));
        ref.push_back(p ? runCpu(*p, c, x, 11u) : std::vector<float>());
        check(relDiff(ref.back(), ref.back()) == 0, c.name + ": CPU at " + toString(x) + " runs");
    }
    // CPU configured at the largest shape, called with the smaller ones: the same bits.
    {
        auto p = makePlugin(c, DeviceType::kCPU);
        check(p && prepare(*p, c, c.maxX, 0), c.name + ": CPU plugin configured at " + toString(c.maxX));
        if (p) {
            check(relDiff(runCpu(*p, c, c.smallX, 11u), ref[0]) == 0, c.name + ": CPU configured at max == configured at " + toString(c.smallX));
            check(relDiff(runCpu(*p, c, c.smallX2, 11u), ref[1]) == 0, c.name + ": CPU configured at max == configured at " + toString(c.smallX2));
            // Concurrent calls (enqueue is const and shared by an engine's contexts) with different planes.
            std::vector<double> diffs(8, INFINITY);
            std::vector<std::thread> threads;
            for (size_t t = 0; t < diffs.size(); ++t)
                threads.emplace_back([&, t] { diffs[t] = relDiff(runCpu(*p, c, t % 2 ? c.smallX2 : c.smallX, 11u), ref[t % 2]); });
            for (auto& th : threads) th.join();
            check(*std::max_element(diffs.begin(), diffs.end()) == 0, c.name + ": CPU, 8 threads with two planes, same bits");
        }
    }
    if (!gpu) return;
    auto probe = makePlugin(c, DeviceType::kGPU);
    check(probe != nullptr, c.name + ": GPU plugin");
    if (!probe) return;
    int ran = 0;
    for (int32_t t = 0; t < probe->getNbTactics(); ++t) {
        auto p = makePlugin(c, DeviceType::kGPU);
        std::vector<TensorDesc> in;
        TensorDesc out;
        if (!descs(*p, c, c.maxX, in, out) || p->configure(in.data(), static_cast<int32_t>(in.size()), &out, 1) != 0) {
            check(false, c.name + ": GPU configure");
            return;
        }
        if (p->setTactic(t) != 0) continue;  // not applicable to the configured shapes
        const std::string tn = c.name + " GPU tactic " + p->getTacticName(t);
        check(p->initialize() == 0, tn + ": initialize");
        const double d0 = relDiff(runGpu(*gpu, *p, c, c.smallX, 11u), ref[0]);
        const double d1 = relDiff(runGpu(*gpu, *p, c, c.smallX2, 11u), ref[1]);
        check(d0 <= 2e-4 && d1 <= 2e-4, tn + ": configured at max, called smaller, vs CPU: rel diff " + std::to_string(d0) + ", " + std::to_string(d1));
        p->terminate();
        ++ran;
    }
    check(ran > 0, c.name + ": at least one GPU tactic");
    std::printf("%s: %d GPU tactics at smaller shapes\n", c.name.c_str(), ran);
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
    };
    for (const Case& c : cases) runCase(c, gpu);
    std::printf("%d passed, %d failed\n", gPass, gFail);
    return gFail ? 1 : 0;
}
