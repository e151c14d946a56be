// The FullyConnected GPU tactics written and compiled but NOT YET RUN ON A GPU (their GPU tests have not passed there):
// kept out of every build unless the environment sets GIE_UNVERIFIED_TACTICS=1 (read each time a kernel's tactic is
// set, i.e. at build and at engine load), so that a wrong kernel cannot be chosen silently. Today:
//   hgemm_wgmma_persist_128x128x64_s4  (cuda/kernels/gemm_wgmma_f16_persistent.cuh, tests/test_gpu_fp16_gemm.py)
// With the variable set the builder times it like any tactic and a config override can force it; without it
// FullyConnected::setTactic refuses it (so forcing it fails too, and an engine built with it does not load).
// To merge into engine/tactic_architecture.h's tacticUnverified(name) once that exists; a name leaves this list in the
// commit that reports its passing GPU run.
#pragma once

#include <cstdlib>
#include <cstring>

namespace gie {

//! Whether `tactic` is one of the FullyConnected tactics above.
inline bool unverifiedFcTactic(const char* tactic) {
    return tactic && std::strcmp(tactic, "hgemm_wgmma_persist_128x128x64_s4") == 0;
}

//! GIE_UNVERIFIED_TACTICS=1 in the environment (the switch the other unverified GPU paths use).
inline bool unverifiedFcTacticsAllowed() {
    const char* v = std::getenv("GIE_UNVERIFIED_TACTICS");
    return v && std::strcmp(v, "1") == 0;
}

}  // namespace gie
