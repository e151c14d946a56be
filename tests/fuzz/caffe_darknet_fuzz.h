// Shared by the Caffe / Darknet fuzz targets (fuzz_caffe_prototxt.cpp, fuzz_caffemodel.cpp, fuzz_darknet_cfg.cpp,
// fuzz_darknet_weights.cpp): each imports one input into a fresh network and requires a clean result —
// success or recorded errors, never a crash, a sanitizer report, an exception escaping the noexcept API, or
// a failure without an error record. Built by scripts/fuzz.sh TARGET: a libFuzzer target with -DGIE_LIBFUZZER,
// otherwise with the plain mutation driver of fuzz_driver.h.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "gie/caffe_parser.h"
#include "gie/darknet_parser.h"
#include "gie/gie.h"

namespace fuzz {

class NullLogger : public gie::ILogger {
public:
    void log(Severity, const char*) noexcept override {}
};

//! A failed parse must leave at least one error record with a message.
inline void requireRecords(bool ok, int32_t n, const gie::IParserError* first) {
    if (!ok && (n < 1 || !first || !first->desc() || !*first->desc())) {
        std::fprintf(stderr, "a failed parse left no error record\n");
        std::abort();
    }
}

inline void caffe(const uint8_t* text, size_t size, const uint8_t* model, size_t modelSize, bool haveModel) {
    static NullLogger logger;
    static std::unique_ptr<gie::IBuilder> builder(gie::createBuilder(logger));
    std::unique_ptr<gie::INetworkDefinition> net(builder->createNetwork());
    std::unique_ptr<gie::ICaffeParser> p(gie::createCaffeParser(*net, logger));
    p->setMaxWeightElements(1 << 16);   // absurd random blobs are refused, not allocated
    bool ok = p->parse(text, size, haveModel ? static_cast<const void*>(model ? model : text) : nullptr, modelSize, "fuzz");
    requireRecords(ok, p->getNbErrors(), p->getError(0));
}

inline void darknet(const uint8_t* cfg, size_t size, const uint8_t* weights, size_t weightsSize, bool haveWeights) {
    static NullLogger logger;
    static std::unique_ptr<gie::IBuilder> builder(gie::createBuilder(logger));
    std::unique_ptr<gie::INetworkDefinition> net(builder->createNetwork());
    std::unique_ptr<gie::IDarknetParser> p(gie::createDarknetParser(*net, logger));
    bool ok = p->parse(cfg, size, haveWeights ? static_cast<const void*>(weights ? weights : cfg) : nullptr, weightsSize);
    requireRecords(ok, p->getNbErrors(), p->getError(0));
}

}  // namespace fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#ifndef GIE_LIBFUZZER
#include "fuzz_driver.h"   // the plain driver where libFuzzer is missing (scripts/fuzz.sh)
#endif
