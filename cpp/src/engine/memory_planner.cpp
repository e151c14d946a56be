#include "engine/memory_planner.h"

#include <algorithm>
#include <numeric>

namespace gie {

MemoryPlan planMemory(const std::vector<MemoryRequest>& req) {
    MemoryPlan plan;
    size_t n = req.size();
    plan.offsets.assign(n, 0);
    std::vector<int64_t> size(n);
    int lastStep = 0;
    for (size_t i = 0; i < n; ++i) {
        size[i] = alignUp(std::max<int64_t>(req[i].bytes, 1));
        plan.noReuseBytes += size[i];
        lastStep = std::max(lastStep, req[i].last);
    }
    // Lower bound: the most bytes simultaneously alive at any step.
    std::vector<int64_t> live(static_cast<size_t>(lastStep) + 2, 0);
    for (size_t i = 0; i < n; ++i) {
        live[static_cast<size_t>(req[i].first)] += size[i];
        live[static_cast<size_t>(req[i].last) + 1] -= size[i];
    }
    int64_t acc = 0;
    for (int64_t d : live) {
        acc += d;
        plan.lowerBoundBytes = std::max(plan.lowerBoundBytes, acc);
    }
    // Greedy by size (largest first), each at the lowest offset that does not collide with an already
    // placed tensor whose lifetime overlaps. Large tensors first leaves small ones to fill the gaps.
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        if (size[a] != size[b]) return size[a] > size[b];
        return req[a].first < req[b].first;
    });
    std::vector<size_t> placed;
    for (size_t i : order) {
        std::vector<std::pair<int64_t, int64_t>> busy;  // [offset, end) of overlapping tensors
        for (size_t j : placed)
            if (req[j].first <= req[i].last && req[i].first <= req[j].last) busy.emplace_back(plan.offsets[j], plan.offsets[j] + size[j]);
        std::sort(busy.begin(), busy.end());
        // Best fit: the smallest gap that holds it, else the end.
        int64_t cursor = 0, bestOffset = -1, bestGap = INT64_MAX;
        for (const auto& [b, e] : busy) {
            if (b - cursor >= size[i] && b - cursor < bestGap) {
                bestGap = b - cursor;
                bestOffset = cursor;
            }
            cursor = std::max(cursor, e);
        }
        plan.offsets[i] = bestOffset >= 0 ? bestOffset : cursor;
        plan.arenaBytes = std::max(plan.arenaBytes, plan.offsets[i] + size[i]);
        placed.push_back(i);
    }
    return plan;
}

}  // namespace gie
