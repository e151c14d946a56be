#include "parsers/darknet/darknet_cfg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "parsers/importer_util.h"

namespace gie {
namespace darknet {

namespace {

const char* const kSections[] = {"convolutional", "conv", "maxpool", "max", "avgpool", "avg", "connected", "conn",
                                 "route", "shortcut", "reorg", "upsample", "softmax", "soft", "dropout", "region", "yolo"};

std::string alias(const std::string& k) {
    if (k == "conv") return "convolutional";
    if (k == "max") return "maxpool";
    if (k == "avg") return "avgpool";
    if (k == "conn") return "connected";
    if (k == "soft") return "softmax";
    return k;
}

// Keys darknet reads that do not change inference (training, augmentation, loss, NMS settings): ignored quietly.
// Any other key gie does not read is ignored with a warning naming it, as darknet prints "Unused field".
const std::map<std::string, std::set<std::string>>& trainingKeys() {
    static const std::map<std::string, std::set<std::string>> keys = {
        {"*", {"clip", "onlyforward", "dont_update", "burnin_update", "stopbackward", "dontload", "dontloadscales",
               "learning_rate", "dontsave", "numload", "smooth", "train_only_bn"}},
        {"net", {"max_batches", "learning_rate", "learning_rate_min", "sgdr_cycle", "sgdr_mult", "momentum", "decay",
                 "subdivisions", "time_steps", "track", "augment_speed", "sequential_subdivisions", "try_fix_nan",
                 "loss_scale", "dynamic_minibatch", "optimized_memory", "workspace_size_limit_MB", "adam", "B1", "B2",
                 "eps", "inputs", "max_crop", "min_crop", "flip", "blur", "mixup", "cutmix", "mosaic", "mosaic_bound",
                 "letter_box", "label_smooth_eps", "resize_step", "angle", "aspect", "saturation", "exposure", "hue",
                 "power", "policy", "burn_in", "step", "scale", "steps", "scales", "seq_scales", "gamma", "center",
                 "random", "gaussian_noise", "contrastive", "contrastive_jit_flip", "contrastive_color", "unsupervised",
                 "attention", "adversarial_lr", "ema_alpha", "use_cuda_graph", "max_chart_loss", "equidistant_point",
                 "show_receptive_field", "rotate"}},
        {"convolutional", {"assisted_excitation", "bin_output", "dot", "angle"}},
        {"maxpool", {"out_channels"}},
        {"softmax", {"noloss"}},
        {"dropout", {"dropblock", "dropblock_size_rel", "dropblock_size_abs"}},
        {"shortcut", {"weights_normalizion"}},
        {"region", {"max", "log", "sqrt", "focal_loss", "jitter", "rescore", "thresh", "classfix", "absolute", "random",
                    "coord_scale", "object_scale", "noobject_scale", "mask_scale", "class_scale", "bias_match", "map"}},
        {"yolo", {"max", "counters_per_class", "label_smooth_eps", "max_delta", "iou_normalizer", "cls_normalizer",
                  "obj_normalizer", "delta_normalizer", "iou_loss", "iou_thresh_kind", "beta_nms", "nms_kind", "jitter",
                  "resize", "focal_loss", "ignore_thresh", "truth_thresh", "iou_thresh", "random", "map",
                  "objectness_smooth", "track_history_size", "sim_thresh", "dets_for_track", "dets_for_show",
                  "track_ciou_norm", "embedding_layer"}},
    };
    return keys;
}

// Keys darknet reads that change what a layer computes and gie does not implement: refused unless 0.
std::vector<std::string> unsupportedKeys(const std::string& kind) {
    if (kind == "convolutional")
        return {"binary", "xnor", "antialiasing", "sway", "rotate", "stretch", "stretch_sway", "flipped", "cbn"};
    if (kind == "maxpool") return {"antialiasing"};
    if (kind == "softmax") return {"spatial"};
    return {};
}

bool isSpace(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1f); }

std::string strip(const std::string& s) {
    size_t a = 0, b = s.size();
    while (a < b && isSpace(static_cast<unsigned char>(s[a]))) ++a;
    while (b > a && isSpace(static_cast<unsigned char>(s[b - 1]))) --b;
    return s.substr(a, b - a);
}

//! The first n characters (code points) of UTF-8 text, as Python's s[:n].
std::string prefix(const std::string& s, size_t n) {
    size_t i = 0, k = 0;
    while (i < s.size() && k < n) {
        ++i;
        while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
        ++k;
    }
    return s.substr(0, i);
}

//! Python's str.splitlines() for the ASCII line breaks (\n, \r, \r\n, \v, \f, \x1c-\x1e) and U+0085/2028/2029.
std::vector<std::string> splitLines(const std::string& t) {
    std::vector<std::string> out;
    std::string cur;
    size_t i = 0;
    bool pending = false;
    while (i < t.size()) {
        unsigned char c = static_cast<unsigned char>(t[i]);
        size_t brk = 0;
        if (c == '\r') brk = (i + 1 < t.size() && t[i + 1] == '\n') ? 2 : 1;
        else if (c == '\n' || c == '\v' || c == '\f' || c == 0x1c || c == 0x1d || c == 0x1e) brk = 1;
        else if (c == 0xC2 && i + 1 < t.size() && static_cast<unsigned char>(t[i + 1]) == 0x85) brk = 2;
        else if (c == 0xE2 && i + 2 < t.size() && static_cast<unsigned char>(t[i + 1]) == 0x80 &&
                 (static_cast<unsigned char>(t[i + 2]) == 0xA8 || static_cast<unsigned char>(t[i + 2]) == 0xA9))
            brk = 3;
        if (brk) {
            out.push_back(cur);
            cur.clear();
            i += brk;
            pending = false;
            continue;
        }
        cur += t[i++];
        pending = true;
    }
    if (pending) out.push_back(cur);
    return out;
}

std::string lower(std::string s) {
    for (char& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
}

}  // namespace

bool parseInt(const std::string& v0, CfgInt* out) {
    std::string v = strip(v0);
    size_t i = 0;
    bool neg = false;
    if (i < v.size() && (v[i] == '+' || v[i] == '-')) neg = v[i++] == '-';
    std::string digits;
    bool lastDigit = false;
    for (; i < v.size(); ++i) {
        char c = v[i];
        if (c >= '0' && c <= '9') {
            digits += c;
            lastDigit = true;
        } else if (c == '_' && lastDigit && i + 1 < v.size() && v[i + 1] >= '0' && v[i + 1] <= '9') {
            lastDigit = false;
        } else {
            return false;
        }
    }
    if (digits.empty()) return false;
    size_t nz = digits.find_first_not_of('0');
    digits = nz == std::string::npos ? "0" : digits.substr(nz);
    out->text = (neg && digits != "0" ? "-" : "") + digits;
    if (digits.size() > 18) {
        out->value = neg ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
    } else {
        int64_t x = std::stoll(digits);
        out->value = neg ? -x : x;
    }
    return true;
}

bool parseFloat(const std::string& v0, double* out) {
    std::string v = strip(v0);
    std::string s;
    size_t i = 0;
    if (i < v.size() && (v[i] == '+' || v[i] == '-')) s += v[i++];
    std::string rest = lower(v.substr(i));
    if (rest == "inf" || rest == "infinity" || rest == "nan") {
        *out = rest == "nan" ? std::nan("") : std::numeric_limits<double>::infinity();
        if (!s.empty() && s[0] == '-') *out = -*out;
        return true;
    }
    // digits [. digits] [e [sign] digits], at least one mantissa digit; single '_' between digits allowed.
    bool mant = false, dot = false, exp = false, expDigit = false;
    for (; i < v.size(); ++i) {
        char c = v[i];
        bool digit = c >= '0' && c <= '9';
        if (digit) {
            (exp ? expDigit : mant) = true;
            s += c;
        } else if (c == '_' && i > 0 && i + 1 < v.size() && v[i - 1] >= '0' && v[i - 1] <= '9' && v[i + 1] >= '0' &&
                   v[i + 1] <= '9') {
            continue;
        } else if (c == '.' && !dot && !exp) {
            dot = true;
            s += c;
        } else if ((c == 'e' || c == 'E') && mant && !exp) {
            exp = true;
            s += 'e';
            if (i + 1 < v.size() && (v[i + 1] == '+' || v[i + 1] == '-')) s += v[++i];
        } else {
            return false;
        }
    }
    if (!mant || (exp && !expDigit)) return false;
    *out = std::strtod(s.c_str(), nullptr);
    return true;
}

std::string Section::where(const std::string& key) const {
    std::string s = index < 0 ? "[net]" : strcat("section ", index, " [", kind, "]");
    s += strcat(" (line ", line, ")");
    if (!key.empty()) s += ", key '" + key + "'";
    return s;
}

void Section::error(const std::string& msg, const std::string& key, ErrorCode code) const {
    throw Error(code, "darknet cfg: " + where(key) + ": " + msg);
}

const std::string* Section::find(const std::string& key) const {
    for (const auto& kv : options)
        if (kv.first == key) return &kv.second;
    return nullptr;
}

bool Section::has(const std::string& key) const { return find(key) != nullptr; }

const std::string& Section::raw(const std::string& key) {
    used.insert(key);
    return *find(key);
}

int64_t Section::integer(const std::string& key, int64_t dflt, int64_t lo, int64_t hi, bool required) {
    if (!has(key)) {
        if (required) error("is required", key);
        return dflt;
    }
    const std::string& v = raw(key);
    CfgInt x;
    if (!parseInt(v, &x)) {
        double f;
        if (!parseFloat(v, &f) || !std::isfinite(f) || f != std::trunc(f)) error("'" + v + "' is not an integer", key);
        if (std::fabs(f) < 9.0e18) {
            x.value = static_cast<int64_t>(f);
            x.text = std::to_string(x.value);
        } else {
            char b[400];
            std::snprintf(b, sizeof b, "%.0f", f);
            x.text = b;
            x.value = f < 0 ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
        }
    }
    if (lo != std::numeric_limits<int64_t>::min() && x.value < lo) error(x.text + " is below the minimum " + std::to_string(lo), key);
    if (hi != std::numeric_limits<int64_t>::max() && x.value > hi) error(x.text + " is above the maximum " + std::to_string(hi), key);
    return x.value;
}

double Section::number(const std::string& key, double dflt, bool required) {
    if (!has(key)) {
        if (required) error("is required", key);
        return dflt;
    }
    const std::string& v = raw(key);
    double x;
    if (!parseFloat(v, &x)) error("'" + v + "' is not a number", key);
    if (!std::isfinite(x)) error("'" + v + "' is not finite", key);
    return x;
}

std::string Section::str(const std::string& key, const std::string& dflt, bool required) {
    if (!has(key)) {
        if (required) error("is required", key);
        return dflt;
    }
    return raw(key);
}

namespace {
std::vector<std::string> splitComma(const std::string& v) {
    std::vector<std::string> parts;
    size_t a = 0;
    while (true) {
        size_t b = v.find(',', a);
        parts.push_back(strip(v.substr(a, b == std::string::npos ? std::string::npos : b - a)));
        if (b == std::string::npos) break;
        a = b + 1;
    }
    return parts;
}
}  // namespace

std::vector<CfgInt> Section::ints(const std::string& key, const std::vector<int64_t>* dflt) {
    std::vector<CfgInt> out;
    if (!has(key)) {
        if (!dflt) error("is required", key);
        for (int64_t v : *dflt) out.push_back(CfgInt{v, std::to_string(v)});
        return out;
    }
    for (const std::string& p : splitComma(raw(key))) {
        if (p.empty()) continue;
        CfgInt x;
        if (!parseInt(p, &x)) error("'" + p + "' is not an integer", key);
        out.push_back(x);
    }
    if (out.empty()) error("is an empty list", key);
    return out;
}

std::vector<double> Section::numbers(const std::string& key, const std::vector<double>& dflt) {
    if (!has(key)) return dflt;
    std::vector<double> out;
    for (const std::string& p : splitComma(raw(key))) {
        if (p.empty()) continue;
        double x;
        if (!parseFloat(p, &x)) error("'" + p + "' is not a number", key);
        if (!std::isfinite(x)) error("'" + p + "' is not finite", key);
        out.push_back(x);
    }
    return out;
}

std::vector<std::string> Section::checkKeys() {
    for (const std::string& key : unsupportedKeys(kind))
        if (integer(key, 0, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()) != 0)
            error("is not supported (only 0)", key, ErrorCode::kUNSUPPORTED);
    const auto& tk = trainingKeys();
    const std::set<std::string>& common = tk.at("*");
    auto it = tk.find(kind);
    std::vector<std::string> unused;
    for (const auto& kv : options) {
        const std::string& key = kv.first;
        if (used.count(key) || common.count(key) || (it != tk.end() && it->second.count(key))) continue;
        unused.push_back(key);
    }
    return unused;
}

std::vector<Section> readSections(const std::string& text, std::vector<UnsupportedSection>* unsupported) {
    std::string bad = importer::utf8Problem(text);
    if (!bad.empty()) fail(ErrorCode::kINVALID_MODEL, "darknet cfg: not UTF-8 text (", bad, ")");
    std::vector<Section> sections;
    std::vector<std::string> unknown;   // every unsupported section, listed in one error after the whole file is read
    int32_t index = -1;
    int32_t lineno = 0;
    for (const std::string& rawLine : splitLines(text)) {
        ++lineno;
        std::string line = strip(rawLine);
        if (line.empty() || line[0] == '#' || line[0] == ';') continue;
        if (line[0] == '[') {
            if (line.back() != ']' || line.size() < 3)
                fail(ErrorCode::kINVALID_MODEL, "darknet cfg: line ", lineno, ": malformed section header '", prefix(line, 60), "'");
            std::string kind = lower(strip(line.substr(1, line.size() - 2)));
            bool isNet = kind == "net" || kind == "network";
            if (sections.empty() && !isNet)
                fail(ErrorCode::kINVALID_MODEL, "darknet cfg: line ", lineno, ": the first section must be [net], got [", kind, "]");
            if (isNet) {
                if (!sections.empty())
                    fail(ErrorCode::kINVALID_MODEL, "darknet cfg: line ", lineno, ": [net] may appear only once, as the first section");
                sections.emplace_back(-1, "net", lineno);
                continue;
            }
            ++index;
            if (index >= kMaxLayers) fail(ErrorCode::kINVALID_MODEL, "darknet cfg: more than ", kMaxLayers, " sections");
            sections.emplace_back(index, alias(kind), lineno);
            if (std::find(std::begin(kSections), std::end(kSections), kind) == std::end(kSections))
            {
                unknown.push_back(sections.back().where());
                if (unsupported) unsupported->push_back(UnsupportedSection{sections.back().where(), kind, index});
            }
            continue;
        }
        if (sections.empty())
            fail(ErrorCode::kINVALID_MODEL, "darknet cfg: line ", lineno, ": '", prefix(line, 60), "' is outside any section (missing [net])");
        size_t eq = line.find('=');
        if (eq == std::string::npos) sections.back().error(strcat("line ", lineno, ": expected key=value, got '", prefix(line, 60), "'"));
        std::string key = strip(line.substr(0, eq));
        if (key.empty()) sections.back().error(strcat("line ", lineno, ": empty key"));
        std::string value = strip(line.substr(eq + 1));
        Section& s = sections.back();
        bool found = false;
        for (auto& kv : s.options)
            if (kv.first == key) {
                kv.second = value;
                found = true;
            }
        if (!found) s.options.emplace_back(key, value);
        s.lines[key] = lineno;
    }
    if (!unknown.empty()) {
        std::string list;
        for (size_t i = 0; i < unknown.size(); ++i) list += (i ? ", " : "") + unknown[i];
        fail(ErrorCode::kUNSUPPORTED, "darknet cfg: ", unknown.size(), " section(s) of unsupported type: ", list);
    }
    if (sections.empty()) fail(ErrorCode::kINVALID_MODEL, "darknet cfg: missing [net] section (the file has no sections)");
    if (sections.size() == 1) fail(ErrorCode::kINVALID_MODEL, "darknet cfg: no layers after [net]");
    return sections;
}

}  // namespace darknet
}  // namespace gie

namespace gie {
namespace darknet {

HeadParams readHead(const std::string& text, int64_t layer) {
    std::vector<Section> secs = readSections(text);
    std::vector<Section*> heads;
    for (Section& s : secs)
        if ((s.kind == "region" || s.kind == "yolo") && (layer < 0 || s.index == layer)) heads.push_back(&s);
    if (heads.size() != 1)
        fail(ErrorCode::kINVALID_ARGUMENT, "decode_region: the cfg has ", heads.size(),
             " matching [region]/[yolo] sections; pass layer=<index>");
    Section& sec = *heads[0];
    HeadParams h;
    h.kind = sec.kind;
    h.index = sec.index;
    h.width = secs[0].integer("width", 0, 1, kMaxDim, true);
    h.height = secs[0].integer("height", 0, 1, kMaxDim, true);
    h.classes = sec.integer("classes", 20, 0, kMaxDim);
    if (h.kind == "region") {
        h.num = sec.integer("num", 1, 1, kMaxDim);
        h.coords = sec.integer("coords", 4, 4, 4);
        h.anchors = sec.numbers("anchors", std::vector<double>(static_cast<size_t>(2 * h.num), 0.5));
        if (static_cast<int64_t>(h.anchors.size()) < 2 * h.num)
            sec.error(strcat("needs ", 2 * h.num, " values (num=", h.num, "), has ", h.anchors.size()), "anchors");
        h.anchors.resize(static_cast<size_t>(2 * h.num));
        h.softmax = sec.integer("softmax", 0, 0, 1);
    } else {
        h.num = sec.integer("num", 1, 1, kMaxDim);
        std::vector<int64_t> all;
        for (int64_t i = 0; i < h.num; ++i) all.push_back(i);
        for (const CfgInt& m : sec.ints("mask", &all)) {
            if (m.value < 0 || m.value >= h.num || m.text.size() > 18) sec.error(strcat("values must be in [0, num=", h.num, ")"), "mask");
            h.mask.push_back(m.value);
        }
        std::vector<double> a = sec.numbers("anchors", std::vector<double>(static_cast<size_t>(2 * h.num), 0.5));
        if (static_cast<int64_t>(a.size()) < 2 * h.num)
            sec.error(strcat("needs ", 2 * h.num, " values (num=", h.num, "), has ", a.size()), "anchors");
        for (int64_t m : h.mask) {
            h.anchors.push_back(a[static_cast<size_t>(2 * m)]);
            h.anchors.push_back(a[static_cast<size_t>(2 * m + 1)]);
        }
        h.scaleXY = sec.number("scale_x_y", 1.0);
    }
    return h;
}

bool readSectionsNoThrow(const std::string& text, std::vector<Section>* out) noexcept {
    return apiGuard<bool>(nullptr, false, [&] {
        *out = readSections(text);
        return true;
    });
}

bool readHeadNoThrow(const std::string& text, int64_t layer, HeadParams* out) noexcept {
    return apiGuard<bool>(nullptr, false, [&] {
        *out = readHead(text, layer);
        return true;
    });
}

}  // namespace darknet
}  // namespace gie
