// Fuzz target for the ONNX importer (gie/onnx_parser.h): any byte string handed to IOnnxParser::parse must
// import or be refused with a recorded error, never crash, hang, leak out of bounds or trip UBSan.
// Built by scripts/fuzz.sh: with clang's libFuzzer (-fsanitize=fuzzer) as a fuzzer, or, where libFuzzer is
// missing, with the plain driver in fuzz_driver.h (runs the corpus files, then mutates them until the time is up).
#include <cstddef>
#include <cstdint>
#include <memory>

#include "gie/gie.h"
#include "gie/onnx_parser.h"

namespace {
struct Quiet final : gie::ILogger {
    void log(Severity, const char*) noexcept override {}
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Quiet logger;
    static gie::IBuilder* builder = gie::createBuilder(logger);
    std::unique_ptr<gie::INetworkDefinition> net(builder->createNetwork());
    std::unique_ptr<gie::IOnnxParser> parser(gie::createOnnxParser(*net, logger));
    // No base directory: external data is refused before any file is opened, so inputs cannot reach the disk.
    const bool ok = parser->parse(data, size, nullptr);
    if (!ok && parser->getNbErrors() == 0) __builtin_trap();  // a failure must say why
    for (int32_t i = 0; i < parser->getNbErrors(); ++i)
        if (!parser->getError(i)->desc()[0]) __builtin_trap();
    return 0;
}

#ifndef GIE_LIBFUZZER
#include "fuzz_driver.h"
#endif
