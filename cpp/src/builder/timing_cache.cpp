#include "builder/timing_cache.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "common/bytes.h"
#include "common/error.h"
#include "plugin/fields.h"

namespace gie {
namespace {
constexpr const char* kMagic = "gie-timing-cache 2";  // 2: keys by formats and variant, not by weight values

std::string descKey(const TensorDesc& d) {
    std::string s = std::to_string(static_cast<int>(d.type)) + "." + std::to_string(static_cast<int>(d.format)) + ":";
    for (int i = 0; i < d.dims.nbDims; ++i) s += (i ? "x" : "") + std::to_string(d.dims.d[i]);
    if (d.dims.nbDims > 0) s += "/" + std::to_string(d.strides.d[0]);
    return s;
}


//! A hash of what in a kernel's serialized fields decides its speed: for built-in kernels (whose fields are a
//! FieldMap) every field's name, type and length, and the values of all but long float arrays (weights), so
//! that a retrained model with the same shapes reuses its timings; for other plugins all bytes.
std::string fieldsHash(const std::vector<uint8_t>& bytes) {
    try {
        FieldMap f = FieldMap::deserialize(bytes.data(), bytes.size(), "timing key");
        ByteWriter w;
        for (size_t i = 0; i < f.size(); ++i) {
            const Field& x = f.at(i);
            w.putString(x.name);
            w.put<int32_t>(static_cast<int32_t>(x.type));
            w.put<int64_t>(x.length);
            const bool weights = (x.type == PluginFieldType::kFLOAT32 || x.type == PluginFieldType::kFLOAT16 ||
                                  x.type == PluginFieldType::kFLOAT64 || x.type == PluginFieldType::kINT8) && x.length > 16;
            if (!weights) w.putBytes(x.data.data(), x.data.size());
        }
        const auto& b = w.buffer();
        char hash[40];
        std::snprintf(hash, sizeof hash, "f%08x.%zu", crc32c(b.data(), b.size()), b.size());
        return hash;
    } catch (const Error&) {
    }
    char hash[40];
    std::snprintf(hash, sizeof hash, "%08x.%zu", crc32c(bytes.data(), bytes.size()), bytes.size());
    return hash;
}
}  // namespace

std::string TimingCache::key(const IPlugin& k, const char* variant, const std::vector<TensorDesc>& in, const std::vector<TensorDesc>& out,
                             const char* tactic) {
    std::vector<uint8_t> fields(k.getSerializationSize());
    if (!fields.empty()) k.serialize(fields.data());
    std::string s = std::string(k.getPluginType()) + "|" + k.getPluginVersion() + "|" + (variant ? variant : "") + "|" + fieldsHash(fields) + "|";
    for (const auto& d : in) s += descKey(d) + ",";
    s += "->";
    for (const auto& d : out) s += descKey(d) + ",";
    s += "|";
    s += tactic ? tactic : "";
    for (char& c : s)
        if (c == '\t' || c == '\n' || c == '\r') c = ' ';
    return s;
}

void TimingCache::load(const std::string& path, const std::string& device) {
    device_ = device;
    std::ifstream f(path);
    if (!f) return;
    std::string line;
    int n = 0;
    bool sameDevice = true;
    while (std::getline(f, line)) {
        ++n;
        if (n == 1) {
            if (line != kMagic && line.compare(0, 17, "gie-timing-cache ") == 0) return;  // an older version: remeasured, then replaced
            GIE_CHECK(line == kMagic, ErrorCode::kINVALID_ARGUMENT, "timing cache '", path, "' is not a gie timing cache (first line '",
                      line.substr(0, 40), "')");
            continue;
        }
        if (line.empty()) continue;
        size_t tab = line.rfind('\t');
        GIE_CHECK(tab != std::string::npos, ErrorCode::kINVALID_ARGUMENT, "timing cache '", path, "' line ", n, " is malformed");
        if (line.compare(0, 7, "device\t") == 0) {
            sameDevice = line.substr(7) == device;
            continue;
        }
        if (!sameDevice) continue;
        char* end = nullptr;
        double ms = std::strtod(line.c_str() + tab + 1, &end);
        GIE_CHECK(end && *end == '\0' && ms >= 0, ErrorCode::kINVALID_ARGUMENT, "timing cache '", path, "' line ", n, " has a bad time");
        entries_[line.substr(0, tab)] = ms;
    }
}

void TimingCache::save(const std::string& path) const {
    // A temporary name of its own (process, thread, call): builds running at the same time with the same
    // cache path each write a complete file and rename it over the cache; the last rename wins.
    static std::atomic<uint64_t> calls{0};
    const std::string tmp = strcat(path, ".tmp.", static_cast<long long>(getpid()), ".",
                                   std::hash<std::thread::id>()(std::this_thread::get_id()), ".", calls++);
    bool written = false;
    {
        std::ofstream f(tmp, std::ios::trunc);
        if (f) {
            f << kMagic << "\n" << "device\t" << device_ << "\n";
            char buf[64];
            for (const auto& e : entries_) {
                std::snprintf(buf, sizeof buf, "%.6g", e.second);
                f << e.first << "\t" << buf << "\n";
            }
            f.flush();
            written = f.good();
        }
    }
    if (!written || std::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        std::remove(tmp.c_str());
        fail(ErrorCode::kINVALID_ARGUMENT, "cannot ", written ? "replace" : "write", " the timing cache '", path, "': ", std::strerror(err));
    }
}

bool TimingCache::lookup(const std::string& key, double& ms) const {
    auto it = entries_.find(key);
    if (it == entries_.end()) return false;
    ms = it->second;
    ++hits_;
    return true;
}

void TimingCache::put(const std::string& key, double ms) {
    entries_[key] = ms;
    ++puts_;
}

}  // namespace gie
