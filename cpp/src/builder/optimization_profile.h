// IOptimizationProfile: the min / opt / max shapes of network inputs, as the user sets them (the builder checks
// them against the network when it builds: resolveProfiles in builder.cpp).
#pragma once

#include <string>
#include <vector>

#include "gie/builder.h"

namespace gie {

class OptimizationProfileImpl final : public IOptimizationProfile {
public:
    struct Entry {
        std::string input;
        Dims dims[3];
        bool set[3] = {false, false, false};
    };
    bool setDimensions(const char* inputName, OptProfileSelector select, const Dims& dims) noexcept override;
    Dims getDimensions(const char* inputName, OptProfileSelector select) const noexcept override;
    bool isValid() const noexcept override;
    ~OptimizationProfileImpl() override = default;

    //! The inputs named, in the order they were first set.
    const std::vector<Entry>& entries() const { return entries_; }
    const Entry* find(const std::string& input) const;
    //! Throws kINVALID_ARGUMENT with the reason unless isValid().
    void validate() const;

private:
    std::vector<Entry> entries_;
};

}  // namespace gie
