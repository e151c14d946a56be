// gie C++ sample: an ONNX model through the C++ importer, built, saved, loaded and run.
//
//   onnx_app MODEL.onnx [--input FILE] [--engine FILE] [--gpu]
//
//   --input FILE   raw float32 values (native byte order) for every input, one after the other in the
//                  engine's input order, each packed in its shape; without it a deterministic input is made:
//                  element i of every input is ((i * 7919) % 1000) / 500 - 1, in float32 arithmetic.
//   --engine FILE  where the engine file is written (default onnx_app.gie).
//   --gpu          build for the GPU (fails with gie's NO_DEVICE error without a usable GPU); default CPU.
//
// Prints, for each output: its name, shape, first values and checksum (the sum of all values).
// Any failure prints gie's error (the parser's records, or getLastError) and exits with status 1.
#include <gie/gie.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

namespace {

// Errors reach the user through the parser's records and getLastError (printed by fail()), so only
// warnings are logged here: printing errors too would show each one twice.
class Logger : public gie::ILogger {
public:
    void log(Severity severity, const char* msg) noexcept override {
        if (severity == Severity::kWARNING) std::fprintf(stderr, "[gie warning] %s\n", msg);
    }
};

bool fail(const std::string& what) {
    const char* message = nullptr;
    const gie::ErrorCode code = gie::getLastError(&message);
    std::fprintf(stderr, "error: %s (%s: %s)\n", what.c_str(), gie::errorCodeName(code), message ? message : "");
    return false;
}

bool failPlain(const std::string& what) {  // a failure of the sample itself, not of a gie call
    std::fprintf(stderr, "error: %s\n", what.c_str());
    return false;
}

int64_t volume(const gie::Dims& dims) {
    int64_t n = 1;
    for (int32_t i = 0; i < dims.nbDims; ++i) n *= dims.d[i];
    return n;
}

std::string shapeString(const gie::Dims& dims) {
    std::string s = "[";
    for (int32_t i = 0; i < dims.nbDims; ++i) s += (i ? ", " : "") + std::to_string(dims.d[i]);
    return s + "]";
}

bool readFile(const std::string& path, std::vector<char>& out) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    out.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    return !f.bad();
}

// One I/O tensor: host values, and device memory when the engine runs on the GPU.
struct Buffer {
    std::string name;
    gie::Dims shape;
    gie::DataType type = gie::DataType::kFLOAT;
    std::vector<char> host;
    void* device = nullptr;
    ~Buffer() {
        if (device) gie::gpuFree(device);
    }
    void* binding() { return device ? device : host.data(); }
};

double element(const Buffer& b, int64_t i) {
    switch (b.type) {
        case gie::DataType::kFLOAT: { float v; std::memcpy(&v, b.host.data() + 4 * i, 4); return v; }
        case gie::DataType::kINT32: { int32_t v; std::memcpy(&v, b.host.data() + 4 * i, 4); return v; }
        case gie::DataType::kINT8: return static_cast<int8_t>(b.host[i]);
        case gie::DataType::kBOOL: return b.host[i] != 0;
        case gie::DataType::kHALF: break;  // not produced by this sample's builds (no FP16 flag)
    }
    return 0.0;
}

bool run(const std::string& modelPath, const std::string& inputPath, const std::string& enginePath, bool gpu) {
    Logger logger;

    // 1. Import the model.
    std::unique_ptr<gie::IBuilder> builder(gie::createBuilder(logger));
    if (!builder) return fail("createBuilder");
    std::unique_ptr<gie::INetworkDefinition> network(builder->createNetwork());
    if (!network) return fail("createNetwork");
    {
        std::unique_ptr<gie::IOnnxParser> parser(gie::createOnnxParser(*network, logger));
        if (!parser) return fail("createOnnxParser");
        if (!parser->parseFromFile(modelPath.c_str())) {
            // Every problem is a record of its own (all unsupported nodes at once).
            for (int32_t i = 0; i < parser->getNbErrors(); ++i)
                std::fprintf(stderr, "error: %s\n", parser->getError(i)->desc());
            return failPlain("cannot import " + modelPath);
        }
    }
    std::printf("imported %s: %d layers\n", modelPath.c_str(), network->getNbLayers());

    // 2. Build (batch 1: a symbolic batch dimension takes the parser's default batch) and save the engine.
    std::unique_ptr<gie::IBuilderConfig> config(builder->createBuilderConfig());
    if (!config) return fail("createBuilderConfig");
    config->setDevice(gpu ? gie::DeviceType::kGPU : gie::DeviceType::kCPU);
    {
        std::unique_ptr<gie::IEngine> built(builder->buildEngine(*network, *config));
        if (!built) return fail("buildEngine");
        std::unique_ptr<gie::IHostMemory> blob(built->serialize());
        if (!blob) return fail("serialize");
        std::ofstream f(enginePath, std::ios::binary);
        f.write(static_cast<const char*>(blob->data()), static_cast<std::streamsize>(blob->size()));
        if (!f) return failPlain("cannot write " + enginePath);
        std::printf("built a %s engine (%d kernels), wrote %s (%zu bytes)\n", gpu ? "GPU" : "CPU",
                    built->getNbKernels(), enginePath.c_str(), blob->size());
    }

    // 3. Load the engine file again, as a deployed application does.
    std::vector<char> bytes;
    if (!readFile(enginePath, bytes)) return failPlain("cannot read " + enginePath);
    std::unique_ptr<gie::IRuntime> runtime(gie::createRuntime(logger));
    if (!runtime) return fail("createRuntime");
    std::unique_ptr<gie::IEngine> engine(runtime->deserializeEngine(bytes.data(), bytes.size()));
    if (!engine) return fail("deserializeEngine " + enginePath);
    std::unique_ptr<gie::IExecutionContext> context(engine->createExecutionContext());
    if (!context) return fail("createExecutionContext");

    // 4. Inputs and outputs: host buffers in the engine's shapes (its largest batch).
    std::vector<std::unique_ptr<Buffer>> inputs, outputs;
    for (int32_t i = 0; i < engine->getNbIOTensors(); ++i) {
        auto b = std::make_unique<Buffer>();
        b->name = engine->getIOTensorName(i);
        b->shape = engine->getTensorShape(b->name.c_str());
        b->type = engine->getTensorDataType(b->name.c_str());
        b->host.resize(static_cast<size_t>(volume(b->shape)) * gie::dataTypeSize(b->type));
        const bool isInput = engine->isInput(b->name.c_str());
        if (isInput && b->type != gie::DataType::kFLOAT)
            return failPlain("input '" + b->name + "' is not float32; this sample feeds float32 inputs only");
        if (!isInput && b->type == gie::DataType::kHALF)
            return failPlain("output '" + b->name + "' is float16; this sample prints float32/int32/int8/bool");
        (isInput ? inputs : outputs).push_back(std::move(b));
    }
    if (!inputPath.empty()) {
        std::vector<char> data;
        if (!readFile(inputPath, data)) return failPlain("cannot read " + inputPath);
        size_t expected = 0;
        for (const auto& b : inputs) expected += b->host.size();
        if (data.size() != expected)
            return failPlain(inputPath + " holds " + std::to_string(data.size()) + " bytes; the inputs need " +
                             std::to_string(expected) + " (float32, in input order)");
        size_t offset = 0;
        for (auto& b : inputs) {
            std::memcpy(b->host.data(), data.data() + offset, b->host.size());
            offset += b->host.size();
        }
    } else {
        for (auto& b : inputs) {
            auto* values = reinterpret_cast<float*>(b->host.data());
            for (int64_t i = 0; i < volume(b->shape); ++i)
                values[i] = static_cast<float>((i * 7919) % 1000) / 500.0f - 1.0f;
        }
    }

    // 5. Bind (device memory for a GPU engine), run, copy back.
    for (auto* list : {&inputs, &outputs})
        for (auto& b : *list) {
            if (gpu) {
                b->device = gie::gpuAllocate(b->host.size());
                if (!b->device) return fail("gpuAllocate for '" + b->name + "'");
            }
            if (!context->setTensorAddress(b->name.c_str(), b->binding()))
                return fail("setTensorAddress '" + b->name + "'");
        }
    if (gpu)
        for (auto& b : inputs)
            if (!gie::gpuCopy(b->device, b->host.data(), b->host.size(), gie::GpuCopyKind::kHOST_TO_DEVICE, nullptr))
                return fail("copy of input '" + b->name + "' to the GPU");
    if (!context->execute()) return fail("execute");
    if (gpu) {
        for (auto& b : outputs)
            if (!gie::gpuCopy(b->host.data(), b->device, b->host.size(), gie::GpuCopyKind::kDEVICE_TO_HOST, nullptr))
                return fail("copy of output '" + b->name + "' from the GPU");
        if (!gie::gpuStreamSynchronize(nullptr)) return fail("gpuStreamSynchronize");
    }

    // 6. Print the outputs.
    std::printf("input: %s\n", inputPath.empty() ? "generated" : inputPath.c_str());
    for (const auto& b : outputs) {
        const int64_t n = volume(b->shape);
        double sum = 0;
        for (int64_t i = 0; i < n; ++i) sum += element(*b, i);
        std::printf("output %s shape %s first", b->name.c_str(), shapeString(b->shape).c_str());
        for (int64_t i = 0; i < std::min<int64_t>(n, 8); ++i) std::printf(" %.7g", element(*b, i));
        std::printf(" checksum %.9g\n", sum);
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    std::string model, input, engine = "onnx_app.gie";
    bool gpu = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if ((arg == "--input" || arg == "--engine") && i + 1 < argc) {
            (arg == "--input" ? input : engine) = argv[++i];
        } else if (arg == "--gpu") {
            gpu = true;
        } else if (model.empty() && !arg.empty() && arg[0] != '-') {
            model = arg;
        } else {
            model.clear();
            break;
        }
    }
    if (model.empty()) {
        std::fprintf(stderr, "usage: %s MODEL.onnx [--input FILE] [--engine FILE] [--gpu]\n", argv[0]);
        return 2;
    }
    return run(model, input, engine, gpu) ? 0 : 1;
}
