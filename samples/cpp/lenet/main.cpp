// gie C++ sample: LeNet through the public C++ API.
//
// Defines Caffe's MNIST LeNet with random weights from a fixed-seed generator, builds a CPU engine,
// writes it to an engine file, loads that file with a runtime, runs a batch of 2 and checks the output
// (a probability distribution per row, equal to a plain C++ reference forward pass within 1e-4).
//
//   cmake -S samples/cpp/lenet -B build/sample -Dgie_DIR=$(python -m gie --cmake-dir)
//   cmake --build build/sample && ./build/sample/lenet_sample [engine file, default lenet_sample.gie]
//
// Exit status 0 when every check passes, 1 otherwise.
#include <gie/gie.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

namespace {

// ---- logging and errors ---------------------------------------------------------------------------

class Logger : public gie::ILogger {
public:
    void log(Severity severity, const char* msg) noexcept override {
        if (severity > Severity::kWARNING) return;  // errors and warnings only
        std::fprintf(stderr, "[gie %s] %s\n", severity == Severity::kWARNING ? "warning" : "error", msg);
    }
};

bool fail(const char* what) {
    const char* message = nullptr;
    gie::ErrorCode code = gie::getLastError(&message);
    std::fprintf(stderr, "FAILED: %s (%s: %s)\n", what, gie::errorCodeName(code), message ? message : "");
    return false;
}

// ---- weights: a portable fixed-seed generator (same values on every platform) ---------------------

class Rng {
public:
    explicit Rng(uint64_t seed) : state_(seed) {}
    uint64_t next() {  // splitmix64
        uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    float uniform(float lo, float hi) { return lo + (hi - lo) * static_cast<float>((next() >> 40) * (1.0 / 16777216.0)); }

private:
    uint64_t state_;
};

struct LeNetWeights {
    std::vector<float> conv1k, conv1b, conv2k, conv2b, ip1k, ip1b, ip2k, ip2b;
};

std::vector<float> randomTensor(Rng& rng, size_t count, float bound) {
    std::vector<float> v(count);
    for (float& x : v) x = rng.uniform(-bound, bound);
    return v;
}

LeNetWeights makeWeights(uint64_t seed) {
    Rng rng(seed);
    auto he = [](double fanIn) { return static_cast<float>(std::sqrt(6.0 / fanIn)); };  // He-uniform bound
    LeNetWeights w;
    w.conv1k = randomTensor(rng, 20 * 1 * 5 * 5, he(25));
    w.conv1b = randomTensor(rng, 20, 0.1f);
    w.conv2k = randomTensor(rng, 50 * 20 * 5 * 5, he(500));
    w.conv2b = randomTensor(rng, 50, 0.1f);
    w.ip1k = randomTensor(rng, 500 * 800, he(800));
    w.ip1b = randomTensor(rng, 500, 0.1f);
    w.ip2k = randomTensor(rng, 10 * 500, he(500));
    w.ip2b = randomTensor(rng, 10, 0.1f);
    return w;
}

gie::Weights view(const std::vector<float>& v) {
    gie::Weights w;
    w.type = gie::DataType::kFLOAT;
    w.values = v.data();
    w.count = static_cast<int64_t>(v.size());
    return w;
}

// ---- the network -----------------------------------------------------------------------------------

// data (N,1,28,28) -> conv 5x5x20 -> maxpool 2/2 -> conv 5x5x50 -> maxpool 2/2 -> FC 500 -> ReLU -> FC 10
// -> softmax -> prob (N,10)
bool defineLeNet(gie::INetworkDefinition& net, const LeNetWeights& w) {
    gie::ITensor* data = net.addInput("data", gie::DataType::kFLOAT, gie::dims4(1, 1, 28, 28));
    if (!data) return fail("addInput");
    gie::IConvolutionLayer* conv1 = net.addConvolution(*data, 20, gie::dims2(5, 5), view(w.conv1k), view(w.conv1b));
    if (!conv1) return fail("addConvolution conv1");
    conv1->setName("conv1");
    gie::IPoolingLayer* pool1 = net.addPooling(*conv1->getOutput(0), gie::PoolingType::kMAX, gie::dims2(2, 2));
    if (!pool1 || !pool1->setStride(gie::dims2(2, 2))) return fail("addPooling pool1");
    pool1->setName("pool1");
    gie::IConvolutionLayer* conv2 = net.addConvolution(*pool1->getOutput(0), 50, gie::dims2(5, 5), view(w.conv2k),
                                                       view(w.conv2b));
    if (!conv2) return fail("addConvolution conv2");
    conv2->setName("conv2");
    gie::IPoolingLayer* pool2 = net.addPooling(*conv2->getOutput(0), gie::PoolingType::kMAX, gie::dims2(2, 2));
    if (!pool2 || !pool2->setStride(gie::dims2(2, 2))) return fail("addPooling pool2");
    pool2->setName("pool2");
    gie::IFullyConnectedLayer* ip1 = net.addFullyConnected(*pool2->getOutput(0), 500, view(w.ip1k), view(w.ip1b));
    if (!ip1) return fail("addFullyConnected ip1");
    ip1->setName("ip1");
    gie::IActivationLayer* relu1 = net.addActivation(*ip1->getOutput(0), gie::ActivationType::kRELU);
    if (!relu1) return fail("addActivation relu1");
    relu1->setName("relu1");
    gie::IFullyConnectedLayer* ip2 = net.addFullyConnected(*relu1->getOutput(0), 10, view(w.ip2k), view(w.ip2b));
    if (!ip2) return fail("addFullyConnected ip2");
    ip2->setName("ip2");
    gie::ISoftmaxLayer* prob = net.addSoftMax(*ip2->getOutput(0));
    if (!prob) return fail("addSoftMax");
    prob->setName("prob");
    prob->getOutput(0)->setName("prob");
    if (!net.markOutput(*prob->getOutput(0))) return fail("markOutput");
    return true;
}

// ---- the reference: the same network in plain C++ (double accumulation) --------------------------

// Stride-1 unpadded convolution of one image: in (C,H,W), kernel (K,C,R,S) -> (K,H-R+1,W-S+1).
std::vector<double> conv(const std::vector<double>& in, int C, int H, int W, const std::vector<float>& k,
                         const std::vector<float>& b, int K, int R, int S) {
    const int P = H - R + 1, Q = W - S + 1;
    std::vector<double> out(static_cast<size_t>(K) * P * Q);
    for (int ko = 0; ko < K; ++ko)
        for (int p = 0; p < P; ++p)
            for (int q = 0; q < Q; ++q) {
                double acc = b[ko];
                for (int c = 0; c < C; ++c)
                    for (int r = 0; r < R; ++r)
                        for (int s = 0; s < S; ++s)
                            acc += static_cast<double>(k[((ko * C + c) * R + r) * S + s]) *
                                   in[(static_cast<size_t>(c) * H + p + r) * W + q + s];
                out[(static_cast<size_t>(ko) * P + p) * Q + q] = acc;
            }
    return out;
}

std::vector<double> maxpool2(const std::vector<double>& in, int C, int H, int W) {
    const int P = H / 2, Q = W / 2;
    std::vector<double> out(static_cast<size_t>(C) * P * Q);
    for (int c = 0; c < C; ++c)
        for (int p = 0; p < P; ++p)
            for (int q = 0; q < Q; ++q) {
                double m = -INFINITY;
                for (int i = 0; i < 2; ++i)
                    for (int j = 0; j < 2; ++j) m = std::max(m, in[(static_cast<size_t>(c) * H + 2 * p + i) * W + 2 * q + j]);
                out[(static_cast<size_t>(c) * P + p) * Q + q] = m;
            }
    return out;
}

std::vector<double> fc(const std::vector<double>& in, const std::vector<float>& k, const std::vector<float>& b,
                       int outputs) {
    const size_t n = in.size();
    std::vector<double> out(outputs);
    for (int o = 0; o < outputs; ++o) {
        double acc = b[o];
        for (size_t i = 0; i < n; ++i) acc += static_cast<double>(k[o * n + i]) * in[i];
        out[o] = acc;
    }
    return out;
}

std::vector<double> referenceForward(const LeNetWeights& w, const float* image) {
    std::vector<double> h(image, image + 28 * 28);
    h = maxpool2(conv(h, 1, 28, 28, w.conv1k, w.conv1b, 20, 5, 5), 20, 24, 24);
    h = maxpool2(conv(h, 20, 12, 12, w.conv2k, w.conv2b, 50, 5, 5), 50, 8, 8);
    h = fc(h, w.ip1k, w.ip1b, 500);
    for (double& v : h) v = std::max(v, 0.0);
    h = fc(h, w.ip2k, w.ip2b, 10);
    const double m = *std::max_element(h.begin(), h.end());
    double sum = 0;
    for (double& v : h) sum += (v = std::exp(v - m));
    for (double& v : h) v /= sum;
    return h;
}

// ---- files -------------------------------------------------------------------------------------------

bool writeFile(const std::string& path, const void* data, size_t size) {
    std::ofstream f(path, std::ios::binary);
    f.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    return static_cast<bool>(f);
}

bool readFile(const std::string& path, std::vector<char>& out) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    out.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    return true;
}

bool run(const std::string& enginePath) {
    Logger logger;
    const int64_t kBatch = 2;
    const LeNetWeights weights = makeWeights(2016);

    // 1. Define the network and build an engine for the CPU, batches 1..2.
    std::unique_ptr<gie::IBuilder> builder(gie::createBuilder(logger));
    if (!builder) return fail("createBuilder");
    std::unique_ptr<gie::INetworkDefinition> network(builder->createNetwork());
    if (!network || !defineLeNet(*network, weights)) return false;
    std::unique_ptr<gie::IBuilderConfig> config(builder->createBuilderConfig());
    config->setDevice(gie::DeviceType::kCPU);
    if (!config->setBatchRange(1, kBatch, kBatch)) return fail("setBatchRange");
    std::unique_ptr<gie::IEngine> built(builder->buildEngine(*network, *config));
    if (!built) return fail("buildEngine");
    std::printf("built a CPU engine: %d layers -> %d kernels, activation arena %zu bytes\n", network->getNbLayers(),
                built->getNbKernels(), built->getActivationMemorySize());

    // 2. Serialize it to an engine file.
    {
        std::unique_ptr<gie::IHostMemory> blob(built->serialize());
        if (!blob) return fail("serialize");
        if (!writeFile(enginePath, blob->data(), blob->size())) {
            std::fprintf(stderr, "FAILED: cannot write %s\n", enginePath.c_str());
            return false;
        }
        std::printf("wrote %s (%zu bytes)\n", enginePath.c_str(), blob->size());
    }
    built.reset();

    // 3. Load the engine file with a runtime (what a deployed application does).
    std::vector<char> bytes;
    if (!readFile(enginePath, bytes)) {
        std::fprintf(stderr, "FAILED: cannot read %s\n", enginePath.c_str());
        return false;
    }
    std::unique_ptr<gie::IRuntime> runtime(gie::createRuntime(logger));
    if (!runtime) return fail("createRuntime");
    std::unique_ptr<gie::IEngine> engine(runtime->deserializeEngine(bytes.data(), bytes.size()));
    if (!engine) return fail("deserializeEngine");
    std::unique_ptr<gie::IExecutionContext> context(engine->createExecutionContext());
    if (!context) return fail("createExecutionContext");

    // 4. Run a batch of 2 random "digits" (values in [0, 1)).
    Rng rng(7);
    std::vector<float> input(kBatch * 28 * 28);
    for (float& v : input) v = rng.uniform(0.0f, 1.0f);
    if (!context->setInputShape("data", gie::dims4(kBatch, 1, 28, 28))) return fail("setInputShape");
    const gie::Dims outDims = context->getTensorShape("prob");
    if (outDims.nbDims != 2 || outDims.d[0] != kBatch || outDims.d[1] != 10) {
        std::fprintf(stderr, "FAILED: output 'prob' has an unexpected shape (nbDims %d)\n", outDims.nbDims);
        return false;
    }
    std::vector<float> output(kBatch * 10, -1.0f);
    if (!context->setTensorAddress("data", input.data())) return fail("setTensorAddress data");
    if (!context->setTensorAddress("prob", output.data())) return fail("setTensorAddress prob");
    if (!context->execute()) return fail("execute");

    // 5. Check: each row is a probability distribution and matches the reference.
    bool ok = true;
    double maxDiff = 0;
    for (int64_t n = 0; n < kBatch; ++n) {
        const float* row = output.data() + n * 10;
        const std::vector<double> ref = referenceForward(weights, input.data() + n * 28 * 28);
        double sum = 0;
        bool nonNegative = true;
        for (int i = 0; i < 10; ++i) {
            sum += row[i];
            nonNegative = nonNegative && row[i] >= 0.0f && row[i] <= 1.0f;
            maxDiff = std::max(maxDiff, std::fabs(row[i] - ref[i]));
        }
        const int best = static_cast<int>(std::max_element(row, row + 10) - row);
        std::printf("row %lld: class %d (p=%.4f), sum of probabilities %.6f\n", static_cast<long long>(n), best,
                    row[best], sum);
        if (!nonNegative || std::fabs(sum - 1.0) > 1e-5) {
            std::fprintf(stderr, "FAILED: row %lld is not a probability distribution\n", static_cast<long long>(n));
            ok = false;
        }
    }
    std::printf("max abs difference vs C++ reference: %.3g\n", maxDiff);
    if (!(maxDiff < 1e-4)) {
        std::fprintf(stderr, "FAILED: max abs difference %.3g >= 1e-4\n", maxDiff);
        ok = false;
    }
    return ok;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string enginePath = argc > 1 ? argv[1] : "lenet_sample.gie";
    const bool ok = run(enginePath);
    std::printf("%s\n", ok ? "PASSED" : "FAILED");
    return ok ? 0 : 1;
}
