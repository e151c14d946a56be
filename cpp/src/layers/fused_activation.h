// Which activations a fused epilogue (conv/FC + bias [+ residual] + activation) can apply, and how.
// Shared by the vertical fusion pass (to decide) and the kernels (to apply).
#pragma once

#include "common/error.h"
#include "gie/network.h"
#include "kernels/epilogue.h"

namespace gie {

//! Maps an Activation layer to an epilogue activation. Returns false (with the reason in `why`) when the
//! activation has no epilogue form.
inline bool toEpilogueActivation(ActivationType t, float alpha, float beta, cpu::ActKind& kind, float& a, float& b,
                                 const char** why = nullptr) {
    a = alpha;
    b = beta;
    switch (t) {
        case ActivationType::kRELU: kind = cpu::ActKind::kRelu; return true;
        case ActivationType::kLEAKY_RELU: kind = cpu::ActKind::kLeakyRelu; return true;
        case ActivationType::kCLIP: kind = cpu::ActKind::kClip; return true;
        case ActivationType::kRELU6: kind = cpu::ActKind::kClip; a = 0.f; b = 6.f; return true;
        case ActivationType::kSIGMOID: kind = cpu::ActKind::kSigmoid; return true;
        case ActivationType::kTANH: kind = cpu::ActKind::kTanh; return true;
        case ActivationType::kELU: kind = cpu::ActKind::kElu; return true;
        case ActivationType::kSILU: kind = cpu::ActKind::kSilu; return true;
        case ActivationType::kGELU: kind = cpu::ActKind::kGelu; return true;
        case ActivationType::kHARD_SWISH: kind = cpu::ActKind::kHardSwish; return true;
        case ActivationType::kHARD_SIGMOID: kind = cpu::ActKind::kHardSigmoid; return true;
        case ActivationType::kSOFTPLUS: kind = cpu::ActKind::kSoftplus; return true;
        case ActivationType::kMISH: kind = cpu::ActKind::kMish; return true;
        case ActivationType::kSELU: kind = cpu::ActKind::kSelu; return true;
        default:
            if (why) *why = "this activation has no fused-epilogue form";
            return false;
    }
}

//! The epilogue activation of a kernel's fused-activation fields (activation < 0: none); fails naming `layer`
//! when the activation has no epilogue form.
inline void setEpilogueActivation(int64_t activation, float alpha, float beta, cpu::Epilogue& ep, const char* layer) {
    if (activation < 0) return;
    const char* why = "";
    GIE_CHECK(activation <= static_cast<int64_t>(ActivationType::kRELU6) &&
                  toEpilogueActivation(static_cast<ActivationType>(activation), alpha, beta, ep.act, ep.alpha, ep.beta, &why),
              ErrorCode::kINVALID_ARGUMENT, layer, " cannot fuse activation ", activation, ": ", why);
}

}  // namespace gie
