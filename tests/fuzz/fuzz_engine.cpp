// Fuzz target for the engine-file loader (IRuntime::deserializeEngine), as a hostile author would attack it:
// the harness recomputes both checksums of every mutated file before loading it, so mutations reach the
// structural checks instead of being stopped by a CRC. A load must succeed or be refused with a recorded error,
// never crash, hang, read out of bounds or trip UBSan; a loaded engine is also run once (CPU) on zero inputs.
// Seeds: tests/fuzz_corpus/engine (small CPU engines: FP32, FP16 with Reformats, HWC8 I/O; remake them with
// tests/fuzz/make_engine_seeds.py). Built by scripts/fuzz.sh engine.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "common/bytes.h"
#include "gie/gie.h"

namespace {
struct Quiet final : gie::ILogger {
    void log(Severity, const char*) noexcept override {}
};

void put32(std::vector<uint8_t>& b, size_t at, uint32_t v) { std::memcpy(b.data() + at, &v, 4); }
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Quiet logger;
    static gie::IRuntime* runtime = gie::createRuntime(logger);
    std::vector<uint8_t> f(data, data + size);
    if (f.size() >= 64) {  // the file layout: engine_file.cpp's header comment
        uint64_t body;
        std::memcpy(&body, f.data() + 32, 8);
        if (body <= f.size() - 64) put32(f, 40, gie::crc32c(f.data() + 64, static_cast<size_t>(body)));
        put32(f, 56, gie::crc32c(f.data(), 56));
    }
    gie::clearLastError();
    std::unique_ptr<gie::IEngine> engine(runtime->deserializeEngine(f.data(), f.size()));
    if (!engine) {
        if (gie::getLastError(nullptr) == gie::ErrorCode::kSUCCESS) __builtin_trap();  // a refusal must say why
        return 0;
    }
    // Run it once at its largest batch on zeros, if small (the fuzzer must stay fast).
    std::unique_ptr<gie::IExecutionContext> ctx(engine->createExecutionContext());
    if (!ctx) return 0;
    std::vector<std::vector<uint8_t>> buffers;
    int64_t total = 0;
    for (int32_t i = 0; i < engine->getNbIOTensors(); ++i) {
        const char* name = engine->getIOTensorName(i);
        gie::Dims d = engine->getTensorShape(name);
        int64_t n = 1;
        for (int32_t k = 0; k < d.nbDims; ++k) n *= d.d[k] > 0 ? d.d[k] : 1;
        n = n * 32 + 64;  // bytes: room for HWC8's padded channels (C = 1 -> 8) at up to 4 bytes an element
        total += n;
        if (total > (int64_t{1} << 25)) return 0;
        buffers.emplace_back(static_cast<size_t>(n), 0);
        if (engine->isInput(name)) ctx->setInputShape(name, d);
        ctx->setTensorAddress(name, buffers.back().data());
    }
    if (engine->getDeviceType() == gie::DeviceType::kCPU && !ctx->execute() && gie::getLastError(nullptr) == gie::ErrorCode::kSUCCESS)
        __builtin_trap();  // a failed run must say why
    return 0;
}

#ifndef GIE_LIBFUZZER
#include "fuzz_driver.h"
#endif
