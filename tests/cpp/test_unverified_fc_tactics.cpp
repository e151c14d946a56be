// engine/unverified_fc_tactics.h: the FullyConnected tactic that has not yet run on a GPU is recognised by its name
// (and no verified one is), and the switch is GIE_UNVERIFIED_TACTICS=1 exactly (the GPU kernel refuses the tactic
// otherwise: tests/test_gpu_fp16_gemm.py checks that side on a GPU).
#include <cstdlib>

#include "engine/unverified_fc_tactics.h"
#include "test_check.h"

using testcheck::check;

int main() {
    check(gie::unverifiedFcTactic("hgemm_wgmma_persist_128x128x64_s4"), "the persistent wgmma tactic is unverified");
    for (const char* verified : {"hgemm_wgmma_128x128x64_s4", "hgemm_mma_128x128x32", "hgemm_mma_64x64x32", "sgemm_64x64x8_8x8",
                                 "gemv_warp_dot", "hgemm_wgmma_persist_128x128x64_s4x", ""})
        check(!gie::unverifiedFcTactic(verified), std::string("not in the unverified list: '") + verified + "'");
    check(!gie::unverifiedFcTactic(nullptr), "a null name is not unverified");

    const char* saved = std::getenv("GIE_UNVERIFIED_TACTICS");
    const std::string keep = saved ? saved : "";
    unsetenv("GIE_UNVERIFIED_TACTICS");
    check(!gie::unverifiedFcTacticsAllowed(), "unset: not allowed");
    for (const char* v : {"0", "", "yes", "true", "11", " 1"}) {
        setenv("GIE_UNVERIFIED_TACTICS", v, 1);
        check(!gie::unverifiedFcTacticsAllowed(), std::string("GIE_UNVERIFIED_TACTICS='") + v + "': not allowed");
    }
    setenv("GIE_UNVERIFIED_TACTICS", "1", 1);
    check(gie::unverifiedFcTacticsAllowed(), "GIE_UNVERIFIED_TACTICS=1: allowed");
    if (saved) setenv("GIE_UNVERIFIED_TACTICS", keep.c_str(), 1);
    else unsetenv("GIE_UNVERIFIED_TACTICS");
    return testcheck::finish();
}
