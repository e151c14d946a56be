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

//! Built-in tactics written and compiled but not yet run on a GPU of their architecture (their GPU tests have not
//! passed there): the builder does not time them unless the environment sets GIE_UNVERIFIED_TACTICS=1, so a wrong
//! kernel cannot be chosen silently; a tactic forced with setTacticOverride / force_tactic always runs. Names by
//! prefix: the general FP16 wgmma convolution (wgmma_128x...), the INT8 wgmma FullyConnected / 1x1 convolution
//! (wgmma_s8_*, wgmma1x1_s8_*) and the large-tile / split-K INT8 IMMA tactics (imma_128x128x64*, imma_256x128x64*,
//! imma_64x64x64*). A tactic leaves this list in the commit that reports its passing GPU run.
inline bool tacticUnverified(const std::string& tactic) {
    static const char* const prefixes[] = {"wgmma_128x", "wgmma_s8_", "wgmma1x1_s8_", "imma_128x128x64", "imma_256x128x64", "imma_64x64x64"};
    for (const char* p : prefixes)
        if (tactic.compare(0, std::strlen(p), p) == 0) return true;
    return false;
}
//! Whether the builder times unverified tactics (GIE_UNVERIFIED_TACTICS=1), read at each build.
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
