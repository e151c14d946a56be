// Activation memory planning: place tensors with known lifetimes into one arena so that tensors alive
// at the same time never overlap, reusing memory otherwise.
#pragma once

#include <cstdint>
#include <vector>

namespace gie {

struct MemoryRequest {
    int64_t bytes = 0;
    int first = 0;  // step that writes it
    int last = 0;   // last step that reads it (inclusive)
};

struct MemoryPlan {
    std::vector<int64_t> offsets;  // per request
    int64_t arenaBytes = 0;
    int64_t noReuseBytes = 0;      // sum of all (aligned) sizes
    int64_t lowerBoundBytes = 0;   // max over steps of the (aligned) bytes alive at once
};

constexpr int64_t kTensorAlignment = 256;
//! The bytes a tensor of `v` bytes occupies in the arena (v >= 0 and far below INT64_MAX).
inline int64_t alignUp(int64_t v) { return (v + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment; }

MemoryPlan planMemory(const std::vector<MemoryRequest>& requests);

}  // namespace gie
