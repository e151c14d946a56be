// Shared by the Caffe / Darknet fuzz targets (fuzz_caffe_prototxt.cpp, fuzz_caffemodel.cpp, fuzz_darknet_cfg.cpp,
// fuzz_darknet_weights.cpp): each imports one input into a fresh network and requires a clean result —
// success or recorded errors, never a crash, a sanitizer report, an exception escaping the noexcept API, or
// a failure without an error record. Built with -DGIE_LIBFUZZER as a libFuzzer target; otherwise a small
// random-mutation driver takes its place (main below): `fuzz_X -max_total_time=SECONDS SEED_DIR...`.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

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
namespace fuzz {
inline std::vector<std::string> readSeeds(const char* dir) {
    std::vector<std::string> out;
    DIR* d = opendir(dir);
    if (!d) return out;
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::ifstream in(std::string(dir) + "/" + e->d_name, std::ios::binary);
        out.emplace_back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
    closedir(d);
    return out;
}
}  // namespace fuzz

// Plain driver: every seed, then random mutations (bit flips, byte sets, truncations, splices, repeats of
// a slice, interesting integers as text) of random seeds until the time runs out. Prints the input count.
int main(int argc, char** argv) {
    double seconds = 60;
    std::vector<std::string> pool;
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], "-max_total_time=", 16) == 0) seconds = std::atof(argv[i] + 16);
        else if (argv[i][0] != '-') {
            auto s = fuzz::readSeeds(argv[i]);
            pool.insert(pool.end(), s.begin(), s.end());
        }
    }
    if (pool.empty()) pool.push_back("");
    uint64_t runs = 0;
    for (const std::string& s : pool) {
        LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
        ++runs;
    }
    std::mt19937_64 rng(12345);
    const char* tokens[] = {"-1", "0", "4294967295", "99999999999999999999", "-2147483648", "1e39", "nan", "inf", "\"",
                            "{", "}", "[", "]", ":", "=", ",", "\n", "#", "layer {", "TRAIN", "65536", "1e-45"};
    auto start = std::chrono::steady_clock::now();
    while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds) {
        std::string in = pool[rng() % pool.size()];
        int edits = 1 + static_cast<int>(rng() % 4);
        for (int k = 0; k < edits; ++k) {
            size_t n = in.size();
            switch (rng() % 6) {
                case 0: if (n) in[rng() % n] ^= static_cast<char>(1u << (rng() % 8)); break;
                case 1: if (n) in[rng() % n] = static_cast<char>(rng()); break;
                case 2: if (n) in.resize(rng() % n); break;
                case 3: { const std::string& o = pool[rng() % pool.size()]; if (!o.empty()) in.insert(n ? rng() % n : 0, o.substr(rng() % o.size(), 64)); } break;
                case 4: if (n) { size_t a = rng() % n; in.insert(a, in.substr(a, 1 + rng() % 16)); } break;
                default: in.insert(n ? rng() % n : 0, tokens[rng() % (sizeof tokens / sizeof *tokens)]); break;
            }
        }
        LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(in.data()), in.size());
        ++runs;
    }
    std::printf("fuzz driver: %llu inputs in %.0f s, no failure\n", static_cast<unsigned long long>(runs), seconds);
    return 0;
}
#endif
