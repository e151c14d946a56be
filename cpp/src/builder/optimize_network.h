// The builder's front half: a network lowered to the IR graph and optimized by the enabled passes. The builder
// and the refitter (engine/refit.cpp) both call it, so that a refit from a whole network sees the graph the
// engine was built from.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/pass.h"

namespace gie {

class NetworkImpl;
struct InputRange;

//! Lowers `net` with its inputs at `inputDims` (network order: the largest shapes of the build), gives the tensors named in `calibratedRanges` (INT8 calibration) their range
//! where they have none, runs every pass not in `disabled` (in list order) and makes sure every network output is
//! written by a kernel. Pass changes go to ctx.log.
Graph optimizeNetwork(const NetworkImpl& net, const std::vector<Dims>& inputDims, const std::set<std::string>& disabled, PassContext& ctx,
                      const std::map<std::string, float>* calibratedRanges = nullptr);

//! Whether the profiles (inputs in network order) run every input at `planned` only (PassContext::fixedShapes).
bool fixedInputShapes(const std::vector<std::vector<InputRange>>& profiles, const std::vector<Dims>& planned);
//! Every profile's min and max input shapes (PassContext::inputShapeBounds).
std::vector<std::vector<Dims>> inputShapeBounds(const std::vector<std::vector<InputRange>>& profiles);

//! Build-log line that records the passes a refittable engine was built without (the refitter runs the same).
constexpr const char* kDisabledPassesLine = "passes disabled: ";
//! Step-note prefixes of a refittable engine: the kernel holds the weights of one layer as given
//! (kRefitOwnNote + "'layer'"), or weights the optimizer computed from several layers (kRefitFoldedNote ...).
constexpr const char* kRefitOwnNote = "refit: holds the weights of layer ";
constexpr const char* kRefitFoldedNote = "refit: weights computed by the optimizer from layers ";
//! "'a', 'b'": names quoted and joined, as refit messages list layers.
inline std::string quotedList(const std::vector<std::string>& names) {
    std::string r;
    for (const auto& n : names) r += (r.empty() ? "'" : ", '") + n + "'";
    return r;
}
//! Adds the refit notes to every node of `optimized` that holds FP32 weights, comparing with `lowered` (the graph
//! before the passes).
void noteWeightSources(Graph& optimized, const Graph& lowered);

}  // namespace gie
