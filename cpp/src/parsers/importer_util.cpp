#include "parsers/importer_util.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sys/stat.h>

#include "network/network.h"

namespace gie {
namespace importer {

Fields& Fields::ints(const char* name, std::vector<int64_t> v) {
    erase(name);
    names_.emplace_back(name);
    ints_.push_back(std::move(v));
    PluginField f;
    f.name = names_.back().c_str();
    f.data = ints_.back().data();
    f.type = PluginFieldType::kINT64;
    f.length = static_cast<int64_t>(ints_.back().size());
    list_.push_back(f);
    return *this;
}

Fields& Fields::floats(const char* name, std::vector<float> v) {
    erase(name);
    names_.emplace_back(name);
    floats_.push_back(std::move(v));
    PluginField f;
    f.name = names_.back().c_str();
    f.data = floats_.back().data();
    f.type = PluginFieldType::kFLOAT32;
    f.length = static_cast<int64_t>(floats_.back().size());
    list_.push_back(f);
    return *this;
}

Fields& Fields::str(const char* name, std::string v) {
    erase(name);
    names_.emplace_back(name);
    strs_.push_back(std::move(v));
    PluginField f;
    f.name = names_.back().c_str();
    f.data = strs_.back().data();
    f.type = PluginFieldType::kCHAR;
    f.length = static_cast<int64_t>(strs_.back().size());
    list_.push_back(f);
    return *this;
}

Fields& Fields::weights(const char* name, const float* data, int64_t count) {
    erase(name);
    names_.emplace_back(name);
    PluginField f;
    f.name = names_.back().c_str();
    f.data = data;
    f.type = PluginFieldType::kFLOAT32;
    f.length = count;
    list_.push_back(f);
    return *this;
}

Fields& Fields::raw(const std::string& name, PluginFieldType type, const void* data, int64_t count, size_t elemSize) {
    erase(name);
    names_.push_back(name);
    const auto* p = static_cast<const unsigned char*>(data);
    raws_.emplace_back(p, p + static_cast<size_t>(count) * elemSize);
    PluginField f;
    f.name = names_.back().c_str();
    f.data = raws_.back().data();
    f.type = type;
    f.length = count;
    list_.push_back(f);
    return *this;
}

bool Fields::has(const std::string& name) const {
    for (const PluginField& f : list_)
        if (name == f.name) return true;
    return false;
}

void Fields::erase(const std::string& name) {
    for (size_t i = 0; i < list_.size(); ++i)
        if (name == list_[i].name) {
            list_.erase(list_.begin() + static_cast<std::ptrdiff_t>(i));
            return;
        }
}

ILayer* addLayer(INetworkDefinition& net, const char* type, const std::vector<ITensor*>& inputs, const Fields& fields) {
    PluginFieldCollection fc = fields.collection();
    ILayer* layer = net.addLayer(type, inputs.data(), static_cast<int32_t>(inputs.size()), &fc);
    if (!layer) {
        const char* msg = nullptr;
        ErrorCode code = getLastError(&msg);
        if (code == ErrorCode::kSUCCESS) code = ErrorCode::kINTERNAL;
        throw Error(code, msg && *msg ? std::string(msg) : strcat("adding a ", type, " layer failed"));
    }
    return layer;
}

IPluginCreator* registeredCreator(const std::string& type) {
    int32_t n = 0;
    IPluginCreator* const* cs = getPluginRegistry()->getAllCreators(&n);
    for (int32_t i = 0; i < n; ++i)
        if (type == cs[i]->getPluginName()) return cs[i];
    return nullptr;
}

uint64_t Rng::next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double Rng::uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }

double Rng::normal() {
    if (haveSpare_) {
        haveSpare_ = false;
        return spare_;
    }
    // Marsaglia's polar method: one log and one sqrt per pair, no trigonometry.
    double u, v, s;
    do {
        u = 2.0 * uniform() - 1.0;
        v = 2.0 * uniform() - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double m = std::sqrt(-2.0 * std::log(s) / s);
    spare_ = v * m;
    haveSpare_ = true;
    return u * m;
}

std::string readFile(const char* path, const std::string& what) {
    GIE_CHECK(path && *path, ErrorCode::kINVALID_ARGUMENT, what, " file: no path given");
    struct stat st;
    if (stat(path, &st) != 0) fail(ErrorCode::kINVALID_ARGUMENT, what, " file '", path, "': ", std::strerror(errno));
    if (S_ISDIR(st.st_mode)) fail(ErrorCode::kINVALID_ARGUMENT, what, " file '", path, "': Is a directory");
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(ErrorCode::kINVALID_ARGUMENT, what, " file '", path, "': ", std::strerror(errno));
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) fail(ErrorCode::kINVALID_ARGUMENT, what, " file '", path, "': read error");
    return data;
}

std::string tupleText(const std::vector<int64_t>& v) {
    std::string s = "(";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + (v.size() == 1 ? ",)" : ")");
}

std::string listText(const std::vector<int64_t>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
}

std::vector<int64_t> dimsOf(const ITensor& t) {
    Dims d = t.getDimensions();
    return std::vector<int64_t>(d.d, d.d + std::max(0, d.nbDims));
}

void markSymbolicBatch(ITensor& t) {
    if (auto* ti = dynamic_cast<TensorImpl*>(&t)) ti->symbolicBatch_ = true;
}

std::string floatText(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    // Shortest round-trip digits, laid out as Python's repr: scientific below 1e-4 and from 1e16.
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    std::string sci(buf, r.ptr);
    size_t e = sci.find('e');
    std::string mant = sci.substr(0, e);
    int exp = std::stoi(sci.substr(e + 1));
    bool neg = mant[0] == '-';
    if (neg) mant = mant.substr(1);
    std::string digits;
    for (char c : mant)
        if (c != '.') digits += c;
    std::string out;
    if (exp < -4 || exp >= 16) {
        out = digits.substr(0, 1);
        if (digits.size() > 1) out += "." + digits.substr(1);
        char eb[16];
        std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
        out += eb;
    } else if (exp < 0) {
        out = "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
    } else {
        size_t intLen = static_cast<size_t>(exp) + 1;
        if (digits.size() <= intLen) out = digits + std::string(intLen - digits.size(), '0') + ".0";
        else out = digits.substr(0, intLen) + "." + digits.substr(intLen);
    }
    return neg ? "-" + out : out;
}

std::string utf8Problem(const std::string& s) {
    size_t i = 0, n = s.size();
    while (i < n) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
        if (ok && len > 1) {
            uint32_t cp = c & (0x7F >> len);
            for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
            ok = !(len == 2 && cp < 0x80) && !(len == 3 && cp < 0x800) && !(len == 4 && (cp < 0x10000 || cp > 0x10FFFF))
                 && !(cp >= 0xD800 && cp <= 0xDFFF);
        }
        if (!ok) {
            char b[96];
            std::snprintf(b, sizeof b, "'utf-8' codec can't decode byte 0x%02x in position %zu", c, i);
            return b;
        }
        i += len;
    }
    return "";
}

}  // namespace importer
}  // namespace gie
