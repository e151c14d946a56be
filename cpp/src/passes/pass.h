// Graph passes. Each pass is one class in one file, registered in pass_manager.cpp's list; the
// builder runs the enabled ones in list order. A pass rewrites the Graph in place, keeps every node's
// sourceLayers (the layers it covers) up to date, and explains what it did or declined in node notes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gie/types.h"
#include "ir/graph.h"

namespace gie {

struct PassContext {
    DeviceType device = DeviceType::kCPU;
    bool int8 = false;  // BuilderFlag::kINT8
    //! Every input runs only at the shape the graph holds (a batch range of one batch, or profiles whose min and max
    //! are that shape): every tensor's shape is then fixed, so a pass may resolve the batch and reshape placeholders.
    bool fixedShapes = false;
    //! Every optimization profile's min and max input shapes (graph input order), where a pass that needs a dimension
    //! to be the same at every shape checks it (Graph::dimsAt). Empty: the graph's shapes are the only ones.
    std::vector<std::vector<Dims>> inputShapeBounds;
    ILogger* logger = nullptr;
    std::vector<std::string> log;  // one line per change, for the build report
};

class Pass {
public:
    virtual ~Pass() = default;
    virtual const char* name() const = 0;
    //! Returns the number of changes made.
    virtual int run(Graph& g, PassContext& ctx) = 0;
};

//! All passes in the order they run.
std::vector<std::unique_ptr<Pass>> makeAllPasses();
//! Names of all passes (for config validation).
std::vector<std::string> allPassNames();

//! Runs `sweep` (returns its number of changes) until a sweep changes nothing, at most `maxSweeps` times; the total.
template <class Sweep>
int untilNoChange(Sweep&& sweep, int maxSweeps = 8) {
    int total = 0;
    for (int round = 0; round < maxSweeps; ++round) {
        const int n = sweep();
        total += n;
        if (n == 0) break;
    }
    return total;
}

std::unique_ptr<Pass> makeFoldQuantizeDequantize();
std::unique_ptr<Pass> makeDeadLayerRemoval();
std::unique_ptr<Pass> makeConstantFolding();
std::unique_ptr<Pass> makeFoldScale();
std::unique_ptr<Pass> makeRecognizeActivations();
std::unique_ptr<Pass> makeRecognizeLayerNorm();
std::unique_ptr<Pass> makeRecognizeSqueezeExcitation();
std::unique_ptr<Pass> makeRecognizeAttention();
std::unique_ptr<Pass> makeFuseEpilogue();
std::unique_ptr<Pass> makeFuseDepthwisePointwise();
std::unique_ptr<Pass> makeConcatElimination();
std::unique_ptr<Pass> makeRemoveNoops();
std::unique_ptr<Pass> makeHorizontalFusion();
std::unique_ptr<Pass> makeFoldConstantOperands();
std::unique_ptr<Pass> makeMatMulToFullyConnected();
std::unique_ptr<Pass> makeChannelsFirstBlocks();
std::unique_ptr<Pass> makeCollapseShuffles();
std::unique_ptr<Pass> makeMoveShufflesAcrossFc();
std::unique_ptr<Pass> makeFlattenIntoFullyConnected();
std::unique_ptr<Pass> makeHoistShufflesAboveGather();
std::unique_ptr<Pass> makeLeadingAxisViews();

}  // namespace gie
