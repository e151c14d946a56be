#include "builder/optimization_profile.h"

#include "common/dims.h"
#include "common/error.h"

namespace gie {
namespace {
const char* selectorName(int s) { return s == 0 ? "min" : s == 1 ? "opt" : "max"; }
}  // namespace

const OptimizationProfileImpl::Entry* OptimizationProfileImpl::find(const std::string& input) const {
    for (const auto& e : entries_)
        if (e.input == input) return &e;
    return nullptr;
}

bool OptimizationProfileImpl::setDimensions(const char* inputName, OptProfileSelector select, const Dims& dims) noexcept {
    return apiGuard(nullptr, false, [&] {
        GIE_CHECK(inputName && *inputName, ErrorCode::kINVALID_ARGUMENT, "optimization profile: setDimensions needs an input name");
        const int s = static_cast<int>(select);
        GIE_CHECK(s >= 0 && s <= 2, ErrorCode::kINVALID_ARGUMENT, "optimization profile: input '", inputName, "': selector ", s,
                  " is not kMIN (0), kOPT (1) or kMAX (2)");
        GIE_CHECK(dims.nbDims >= 1 && dims.nbDims <= Dims::MAX_DIMS, ErrorCode::kINVALID_ARGUMENT, "optimization profile: input '", inputName,
                  "': the ", selectorName(s), " shape needs 1 to 8 dimensions, got ", dims.nbDims);
        for (int i = 0; i < dims.nbDims; ++i)
            GIE_CHECK(dims.d[i] >= 1, ErrorCode::kINVALID_ARGUMENT, "optimization profile: input '", inputName, "': the ", selectorName(s),
                      " shape ", toString(dims), " has dimension ", i, " = ", dims.d[i], "; profile dimensions must be at least 1");
        checkedVolume(dims, ErrorCode::kINVALID_ARGUMENT, "optimization profile: input '", inputName, "': the ", selectorName(s), " shape");
        Entry* e = const_cast<Entry*>(find(inputName));
        if (!e) {
            entries_.push_back(Entry{});
            e = &entries_.back();
            e->input = inputName;
        }
        e->dims[s] = dims;
        e->set[s] = true;
        return true;
    });
}

Dims OptimizationProfileImpl::getDimensions(const char* inputName, OptProfileSelector select) const noexcept {
    Dims none;
    none.nbDims = -1;
    const int s = static_cast<int>(select);
    if (!inputName || s < 0 || s > 2) return none;
    const Entry* e = find(inputName);
    return e && e->set[s] ? e->dims[s] : none;
}

void OptimizationProfileImpl::validate() const {
    GIE_CHECK(!entries_.empty(), ErrorCode::kINVALID_ARGUMENT, "optimization profile: no input has shapes (setDimensions)");
    for (const auto& e : entries_) {
        for (int s = 0; s < 3; ++s)
            GIE_CHECK(e.set[s], ErrorCode::kINVALID_ARGUMENT, "optimization profile: input '", e.input, "' has no ", selectorName(s),
                      " shape (it needs min, opt and max)");
        GIE_CHECK(e.dims[0].nbDims == e.dims[1].nbDims && e.dims[1].nbDims == e.dims[2].nbDims, ErrorCode::kINVALID_ARGUMENT,
                  "optimization profile: input '", e.input, "': min ", toString(e.dims[0]), ", opt ", toString(e.dims[1]), " and max ",
                  toString(e.dims[2]), " have different ranks");
        for (int i = 0; i < e.dims[0].nbDims; ++i)
            GIE_CHECK(e.dims[0].d[i] <= e.dims[1].d[i] && e.dims[1].d[i] <= e.dims[2].d[i], ErrorCode::kINVALID_ARGUMENT,
                      "optimization profile: input '", e.input, "' dimension ", i, ": min <= opt <= max does not hold (min ", toString(e.dims[0]),
                      ", opt ", toString(e.dims[1]), ", max ", toString(e.dims[2]), ")");
    }
}

bool OptimizationProfileImpl::isValid() const noexcept {
    return apiGuard(nullptr, false, [&] {
        validate();
        return true;
    });
}

}  // namespace gie
