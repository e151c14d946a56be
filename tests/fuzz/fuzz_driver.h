// A stand-in for libFuzzer's main where clang's libFuzzer is not installed: runs every file given (or every
// file in the directories given) through LLVMFuzzerTestOneInput, then mutates them at random (bit flips, byte
// overwrites with interesting values, truncations, duplicated and removed chunks, splices of two inputs) for
// -max_total_time=SECONDS. Not coverage-guided, so it finds less than libFuzzer; the sanitizers still
// catch what it reaches. Crashing inputs are written to ./crash-<n> before the input runs (the last one left
// is the culprit). Prints "#N done" lines like libFuzzer's.
#pragma once

#include <dirent.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace fuzz_driver {

inline void addPath(const std::string& p, std::vector<std::string>& files) {
    struct stat st;
    if (::stat(p.c_str(), &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        if (DIR* d = ::opendir(p.c_str())) {
            while (dirent* e = ::readdir(d))
                if (e->d_name[0] != '.') addPath(p + "/" + e->d_name, files);
            ::closedir(d);
        }
    } else if (S_ISREG(st.st_mode)) {
        files.push_back(p);
    }
}

inline std::string readFile(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

inline void run(const std::string& in, const char* saveAs) {
    if (saveAs) std::ofstream(saveAs, std::ios::binary).write(in.data(), std::streamsize(in.size()));
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(in.data()), in.size());
}

inline std::string mutate(std::string s, const std::vector<std::string>& pool, std::mt19937_64& rng) {
    static const uint8_t interesting[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0x08, 0x0a, 0x12, 0x1a, 0x22, 0x3a, 0x42};
    const int n = 1 + int(rng() % 4);
    for (int k = 0; k < n; ++k) {
        const size_t len = s.size();
        switch (rng() % 7) {
            case 0: if (len) s[rng() % len] ^= char(1u << (rng() % 8)); break;
            case 1: if (len) s[rng() % len] = char(interesting[rng() % sizeof interesting]); break;
            case 2: if (len) s.resize(rng() % len); break;
            case 3: if (len) { size_t a = rng() % len, b = 1 + rng() % std::min<size_t>(64, len - a); s.insert(a, s.substr(a, b)); } break;
            case 4: if (len) { size_t a = rng() % len; s.erase(a, 1 + rng() % std::min<size_t>(64, len - a)); } break;
            case 5: { const std::string& o = pool[rng() % pool.size()]; if (!o.empty()) { size_t a = rng() % o.size(); s += o.substr(a, 1 + rng() % (o.size() - a)); } } break;
            case 6: if (len) { size_t a = rng() % len; uint64_t v = rng(); int w = 1 + int(rng() % 10); for (int j = 0; j < w && a + size_t(j) < s.size(); ++j) s[a + size_t(j)] = char((v >> (7 * j) & 0x7f) | (j + 1 < w ? 0x80 : 0)); } break;
        }
    }
    return s;
}

}  // namespace fuzz_driver

int main(int argc, char** argv) {
    using namespace fuzz_driver;
    double seconds = 60;
    uint64_t seed = uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
    std::vector<std::string> files;
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], "-max_total_time=", 16) == 0) seconds = std::atof(argv[i] + 16);
        else if (std::strncmp(argv[i], "-seed=", 6) == 0) seed = std::strtoull(argv[i] + 6, nullptr, 10);
        else if (argv[i][0] != '-') addPath(argv[i], files);
    }
    std::vector<std::string> pool;
    for (const auto& f : files) pool.push_back(readFile(f));
    if (pool.empty()) pool.emplace_back();
    uint64_t execs = 0;
    for (const auto& in : pool) {
        run(in, "crash-input");
        ++execs;
    }
    std::printf("#%llu INITED (plain driver, seed %llu, %zu seed inputs)\n", (unsigned long long)execs,
                (unsigned long long)seed, pool.size());
    std::mt19937_64 rng(seed);
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
        std::string in = mutate(pool[rng() % pool.size()], pool, rng);
        run(in, "crash-input");
        ++execs;
        if (execs % 1000 == 0 && pool.size() < 4096 && rng() % 4 == 0) pool.push_back(std::move(in));
    }
    std::remove("crash-input");
    std::printf("Done %llu runs in %.0f second(s)\n", (unsigned long long)execs, seconds);
    return 0;
}
