// Which GPU architecture a built-in tactic needs, from the naming convention of the CUDA kernels' tactics (one
// place, read by the engine report, the engine summary and `gie explain`):
//   names containing "wgmma"                          sm_90a: wgmma + TMA (cuda/kernels/gemm_wgmma_f16.cuh); they run
//                                                     only on compute capability 9.0 with a build that targets 90a
//   other names containing "mma" or "tf32"            sm_80+: mma.sync tensor-core tiles (hmma*, imma*, hgemm_mma*,
//                                                     attention_flash_mma*, 3xtf32*)
//   anything else                                     "" (no architecture beyond the build's minimum; CPU tactics)
// A kernel that adds a tactic with a new architecture requirement names it accordingly and adds its rule here.
#pragma once

#include <string>

namespace gie {

inline const char* tacticArchitecture(const std::string& tactic) {
    if (tactic.find("wgmma") != std::string::npos) return "sm_90a";
    if (tactic.find("mma") != std::string::npos || tactic.find("tf32") != std::string::npos) return "sm_80";
    return "";
}

}  // namespace gie
