#include "passes/pass.h"

namespace gie {

std::vector<std::unique_ptr<Pass>> makeAllPasses() {
    std::vector<std::unique_ptr<Pass>> p;
    // Order matters: fold constants and drop dead layers first so later passes see fewer nodes; fold
    // Scale (BatchNorm) into weights before fusing epilogues, so conv+bn+add+relu becomes one kernel.
    p.push_back(makeFoldQuantizeDequantize());  // first: Q/DQ pairs become INT8 ranges before any pass moves tensors
    p.push_back(makeConstantFolding());
    p.push_back(makeDeadLayerRemoval());
    p.push_back(makeRecognizeActivations());  // x * sigmoid(x) -> SiLU, ... (before its constants become Scales)
    p.push_back(makeRecognizeLayerNorm());    // ReduceMean/Sub/Pow/.../Div [* scale + bias] -> LayerNorm (likewise)
    p.push_back(makeRecognizeSqueezeExcitation());  // pool/conv/act/conv/sigmoid -> SqueezeExcitation (before fusion)
    p.push_back(makeRecognizeAttention());  // MatMul/scale/Softmax/MatMul -> Attention (before shuffles collapse)
    p.push_back(makeMatMulToFullyConnected());  // x * constant W -> FC (INT8 kernels; its bias Add folds below)
    // Transpose (0,2,3,1) / LayerNorm / FC / GELU / FC / Transpose (0,3,1,2) -> NCHW with 1x1 convolutions (after the
    // recognisers and the FCs exist; before its re-broadcast constants become Scales and before collapse_shuffles)
    p.push_back(makeChannelsFirstBlocks());
    p.push_back(makeFoldConstantOperands());  // x + c, x * c -> Scale (then removed or folded below)
    p.push_back(makeHoistShufflesAboveGather());  // one Shuffle before a q / k / v split, not one per part
    p.push_back(makeCollapseShuffles());
    p.push_back(makeRemoveNoops());
    p.push_back(makeFoldScale());
    p.push_back(makeFuseEpilogue());
    p.push_back(makeFuseDepthwisePointwise());  // CPU; after fuse_epilogue: each convolution has its epilogue
    p.push_back(makeMoveShufflesAcrossFc());  // after fuse_epilogue: an FC's bias Add no longer parts it from a Shuffle
    p.push_back(makeFlattenIntoFullyConnected());  // after move_shuffles_across_fc (which may merge the Shuffle instead)
    p.push_back(makeHorizontalFusion());   // after fuse_epilogue: siblings merge with their fused activations
    p.push_back(makeConcatElimination());  // it turns tensors into views other passes do not expect
    p.push_back(makeLeadingAxisViews());   // last: after concat_elimination, so it sees (and keeps off) every channel slice
    return p;
}

std::vector<std::string> allPassNames() {
    std::vector<std::string> names;
    for (const auto& p : makeAllPasses()) names.push_back(p->name());
    return names;
}

}  // namespace gie
