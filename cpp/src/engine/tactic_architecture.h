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

//! Built-in tactics written and compiled but not yet run on a GPU (their GPU tests have not passed there): the
//! builder does not time them (builder.cpp selectTactics, negotiation.cpp fastest) unless the environment sets
//! GIE_UNVERIFIED_TACTICS=1, so an untested kernel is never chosen silently; a tactic forced with force_tactic /
//! setTacticOverride always runs. Names by prefix. A new kernel's tactic goes in this list when it lands without a
//! GPU run, and leaves it in the commit that reports its passing GPU run (as attention_flash_mma2_* and
//! hgemm_wgmma_persist_* did on 2026-12-07, and hgemm_mma_splitk_*, se_warps_* and hwc8_spatial_* on 2026-12-08,
//! docs/gpu.md "Hopper tactics" / "Attention" / "Held-back tactics").
//! Today no built-in tactic is listed. "unverified_gate_test_" is reserved: it exists only so that the gate stays
//! tested whatever built-in tactics are listed (tests/plugins/range_plugins.cpp, UnverifiedTag's tactic
//! "unverified_gate_test_cpu"; tests/test_tactic_architecture.py). No built-in tactic may use that prefix.
inline bool tacticUnverified(const std::string& tactic) {
    static const char* const prefixes[] = {"unverified_gate_test_"};
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
