// The timing cache: measured tactic times keyed by (device, kernel type/version/variant, the fields that are
// not weights, input/output shapes, strides, types and formats, tactic),
// kept in a text file that a later build reads to skip timing and to choose deterministically.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "gie/plugin.h"

namespace gie {

class TimingCache {
public:
    //! Reads `path` if it exists (a missing file is an empty cache). Entries of another device are
    //! ignored. Throws kINVALID_ARGUMENT naming the file and line for a malformed file.
    void load(const std::string& path, const std::string& device);
    //! Writes every entry (those loaded and those added) atomically: a temporary file, then rename.
    void save(const std::string& path) const;
    bool lookup(const std::string& key, double& ms) const;
    void put(const std::string& key, double ms);
    size_t size() const { return entries_.size(); }
    size_t hits() const { return hits_; }
    //! Timings added by put() (measured in this build), for the build report.
    size_t puts() const { return puts_; }

    //! The key of one tactic of a configured kernel (of creator variant `variant`) for the given tensors.
    static std::string key(const IPlugin& kernel, const char* variant, const std::vector<TensorDesc>& in, const std::vector<TensorDesc>& out,
                           const char* tactic);

private:
    std::string device_;
    std::map<std::string, double> entries_;
    mutable size_t hits_ = 0;
    size_t puts_ = 0;
};

}  // namespace gie
