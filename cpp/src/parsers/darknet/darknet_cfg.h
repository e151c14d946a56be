// Darknet .cfg reading: sections of key=value lines, and the typed, bounded reading of their values.
// Every message names the section (index, kind, line) and the key, as darknet users know them.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "gie/types.h"

namespace gie {
namespace darknet {

// Limits that keep a malformed cfg from asking for absurd allocations.
constexpr int64_t kMaxDim = 1 << 14;          // width, height, channels, filters, outputs
constexpr int64_t kMaxSmall = 64;             // size, stride, groups of pooling ...
constexpr int64_t kMaxLayers = 10000;
constexpr int64_t kMaxWeights = 1 << 27;      // float values in one layer
constexpr int64_t kMaxElements = 1 << 30;     // elements of one activation tensor (per sample)

//! An integer read from a cfg: `value` saturates at the int64 range; `text` is its decimal form (exact).
struct CfgInt {
    int64_t value = 0;
    std::string text;
};

class Section {
public:
    Section(int32_t index, std::string kind, int32_t line) : index(index), kind(std::move(kind)), line(line) {}

    int32_t index;   // darknet layer index (-1 for [net])
    std::string kind;
    int32_t line;
    std::vector<std::pair<std::string, std::string>> options;   // key -> value, in first-seen order
    std::map<std::string, int32_t> lines;                       // key -> line number (last)
    std::set<std::string> used;

    std::string where(const std::string& key = "") const;
    [[noreturn]] void error(const std::string& msg, const std::string& key = "",
                            ErrorCode code = ErrorCode::kINVALID_MODEL) const;
    bool has(const std::string& key) const;
    const std::string* find(const std::string& key) const;

    //! `required`: no default; lo/hi: bounds (INT64_MIN / INT64_MAX = none).
    int64_t integer(const std::string& key, int64_t dflt, int64_t lo, int64_t hi, bool required = false);
    double number(const std::string& key, double dflt, bool required = false);
    std::string str(const std::string& key, const std::string& dflt, bool required = false);
    //! A comma-separated list of integers; `dflt` used when the key is absent.
    std::vector<CfgInt> ints(const std::string& key, const std::vector<int64_t>* dflt);
    std::vector<double> numbers(const std::string& key, const std::vector<double>& dflt);

    //! Refuses set keys that change inference and gie does not implement; returns the keys gie did not read
    //! and does not know as training-only (the caller warns about them).
    std::vector<std::string> checkKeys();

private:
    const std::string& raw(const std::string& key);
};

//! Splits cfg text into sections (validating the structure, not the values). Lists every unsupported
//! section type in one kUNSUPPORTED error.
struct UnsupportedSection {
    std::string where, kind;
    int32_t index;
};
//! `unsupported` (optional) receives each of them before that error is thrown.
std::vector<Section> readSections(const std::string& text, std::vector<UnsupportedSection>* unsupported = nullptr);

//! Python's int(v, 10) / float(v) on a stripped value: false if `v` is not one.
bool parseInt(const std::string& v, CfgInt* out);
bool parseFloat(const std::string& v, double* out);

}  // namespace darknet
}  // namespace gie

namespace gie {
namespace darknet {

//! What decoding a [region] / [yolo] output needs (Python's decode_region), read and validated like the import.
struct HeadParams {
    std::string kind;
    int32_t index = 0;
    int64_t width = 0, height = 0;   // [net] size
    int64_t classes = 0, num = 0, coords = 4, softmax = 0;
    std::vector<double> anchors;     // 2 * num (region) / 2 * len(mask) (yolo, the masked anchors)
    std::vector<int64_t> mask;       // yolo
    double scaleXY = 1.0;
};

//! The one [region]/[yolo] section of `text` (with layer index `layer`, or -1 for the only one); kINVALID_ARGUMENT
//! "decode_region: ..." when there is not exactly one.
HeadParams readHead(const std::string& text, int64_t layer);
//! readHead for the Python bindings (exported; no exception crosses the library boundary): false with the
//! thread's last error set on failure.
//! readSections for the Python bindings (read_cfg), likewise.
GIE_API bool readSectionsNoThrow(const std::string& text, std::vector<Section>* out) noexcept;
GIE_API bool readHeadNoThrow(const std::string& text, int64_t layer, HeadParams* out) noexcept;

}  // namespace darknet
}  // namespace gie
