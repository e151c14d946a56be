// Which GPU architecture a built-in tactic needs, from the naming convention of the CUDA kernels' tactics (one
// place, read by the engine report, the engine summary and `gie explain`):
//   names containing "wgmma"                          sm_90a: wgmma + TMA (cuda/kernels/gemm_wgmma_f16.cuh); they run
//                                                     only on compute capability 9.0 with a build that targets 90a
//   other names containing "mma" or "tf32"            sm_80+: mma.sync tensor-core tiles (hmma*, imma*, hgemm_mma*,
//                                                     attention_flash_mma*, 3xtf32*)
//   anything else                                     "" (no architecture beyond the build's minimum; CPU tactics)
// A kernel that adds a tactic with a new architecture requirement names it accordingly and adds its rule here.
#pragma once

#include <cstdlib>
#include <cstring>
#include <string>

namespace gie {

//! GPU paths written and compiled but not yet run on a GPU (their GPU tests have not passed there) stay out of the
//! builder's choices unless the environment sets GIE_UNVERIFIED_TACTICS=1 (read at each build), so that a wrong
//! kernel cannot be chosen silently. Today: the INT8 NHWC format (docs/int8.md "INT8 NHWC"): its tensor-core
//! convolution tactics (*_nhwc), pooling, element-wise and Reformat kernels; without the variable the negotiation
//! never gives an INT8 tensor the NHWC format, so none of them runs; and the FP16 FullyConnected's HWC8 input laid out
//! as LINEAR (cuda/kernels/fully_connected.cu; an engine built with it is refused at load without the variable). The
//! gate leaves in the commit that reports their passing GPU run.
inline bool unverifiedTacticsAllowed() {
    const char* v = std::getenv("GIE_UNVERIFIED_TACTICS");
    return v && std::strcmp(v, "1") == 0;
}

inline const char* tacticArchitecture(const std::string& tactic) {
    if (tactic.find("wgmma") != std::string::npos) return "sm_90a";
    if (tactic.find("mma") != std::string::npos || tactic.find("tf32") != std::string::npos) return "sm_80";
    return "";
}

}  // namespace gie
