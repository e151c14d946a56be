// Activation planning shared by the builder and the engine loader: how many streams a plan's steps use,
// and where each activation lives in the arena.
#include <algorithm>
#include <climits>

#include "common/error.h"
#include "engine/engine.h"
#include "engine/memory_planner.h"

namespace gie {

int32_t countStreams(const EnginePlan& p) {
    int32_t n = 1;
    for (const auto& s : p.steps) n = std::max(n, s.stream + 1);
    return n;
}

void planActivations(EnginePlan& p) {
    size_t n = p.steps.size(), nt = p.tensors.size();
    std::vector<int> producerStep(nt, -1), lastUse(nt, -1);
    for (size_t s = 0; s < n; ++s) {
        for (int32_t t : p.steps[s].outputs) producerStep[static_cast<size_t>(t)] = static_cast<int>(s);
        for (int32_t t : p.steps[s].inputs) lastUse[static_cast<size_t>(t)] = static_cast<int>(s);
    }
    // Steps on different streams may overlap unless one happens before the other (stream order, or a
    // data dependency, which the context enforces with an event). lo/hi: the range of step indices a step
    // may overlap with; a tensor used by a step stays allocated over that whole range.
    std::vector<int> lo(n), hi(n);
    for (size_t i = 0; i < n; ++i) lo[i] = hi[i] = static_cast<int>(i);
    if (countStreams(p) > 1) {
        std::vector<std::vector<bool>> anc(n, std::vector<bool>(n, false));
        std::vector<std::vector<int>> writers = tensorWriters(p);
        std::vector<int> lastOnStream(static_cast<size_t>(countStreams(p)), -1);
        for (size_t i = 0; i < n; ++i) {
            std::vector<int> preds;
            int32_t st = p.steps[i].stream;
            if (lastOnStream[static_cast<size_t>(st)] >= 0) preds.push_back(lastOnStream[static_cast<size_t>(st)]);
            lastOnStream[static_cast<size_t>(st)] = static_cast<int>(i);
            for (int32_t t : p.steps[i].inputs)
                for (int w : writers[static_cast<size_t>(t)]) preds.push_back(w);
            for (int pr : preds) {
                anc[i][static_cast<size_t>(pr)] = true;
                for (size_t k = 0; k < n; ++k)
                    if (anc[static_cast<size_t>(pr)][k]) anc[i][k] = true;
            }
        }
        for (size_t i = 0; i < n; ++i)
            for (size_t j = 0; j < n; ++j)
                if (i != j && !anc[i][j] && !anc[j][i]) {
                    lo[i] = std::min(lo[i], static_cast<int>(j));
                    hi[i] = std::max(hi[i], static_cast<int>(j));
                }
    }
    std::vector<int> first(nt, INT32_MAX), last(nt, -1);
    for (size_t t = 0; t < nt; ++t) {
        size_t owner = p.tensors[t].viewOf >= 0 ? static_cast<size_t>(p.tensors[t].viewOf) : t;
        for (int u : {producerStep[t], lastUse[t]}) {
            if (u < 0) continue;
            first[owner] = std::min(first[owner], lo[static_cast<size_t>(u)]);
            last[owner] = std::max(last[owner], hi[static_cast<size_t>(u)]);
        }
    }
    // Every reader of a tensor, not just the last, bounds it from below when streams overlap.
    for (size_t s = 0; s < n; ++s)
        for (int32_t t : p.steps[s].inputs) {
            size_t owner = p.tensors[static_cast<size_t>(t)].viewOf >= 0 ? static_cast<size_t>(p.tensors[static_cast<size_t>(t)].viewOf)
                                                                          : static_cast<size_t>(t);
            first[owner] = std::min(first[owner], lo[s]);
            last[owner] = std::max(last[owner], hi[s]);
        }
    std::vector<MemoryRequest> reqs;
    std::vector<size_t> reqTensor;
    for (size_t t = 0; t < nt; ++t) {
        if (p.tensors[t].kind != TensorKind::kActivation || p.tensors[t].viewOf >= 0) continue;
        GIE_CHECK(first[t] != INT32_MAX, ErrorCode::kINTERNAL, "tensor '", p.tensors[t].name, "' has no producer");
        MemoryRequest r;
        r.bytes = p.tensors[t].bytes;
        r.first = first[t];
        r.last = std::max(first[t], last[t]);
        reqs.push_back(r);
        reqTensor.push_back(t);
    }
    MemoryPlan mp = planMemory(reqs);
    for (size_t i = 0; i < reqs.size(); ++i) p.tensors[reqTensor[i]].offset = mp.offsets[i];
    p.arenaBytes = static_cast<uint64_t>(mp.arenaBytes);
    p.noReuseBytes = static_cast<uint64_t>(mp.noReuseBytes);
    p.lowerBoundBytes = static_cast<uint64_t>(mp.lowerBoundBytes);
}

}  // namespace gie
