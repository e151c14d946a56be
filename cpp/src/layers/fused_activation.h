// The activation of a fused epilogue (conv/FC/deconvolution + bias [+ residual] + activation): a kernel's
// activation_type / activation_alpha / activation_beta fields. Every ActivationType has an epilogue form,
// because the epilogues and the Activation kernel apply the same formulas (layers/activation_math.h).
#pragma once

#include "common/error.h"
#include "gie/network.h"
#include "kernels/epilogue.h"

namespace gie {

//! The epilogue activation of a kernel's fused-activation fields (activation < 0: none); fails naming `layer`
//! when the value is not an ActivationType.
inline void setEpilogueActivation(int64_t activation, float alpha, float beta, cpu::Epilogue& ep, const char* layer) {
    if (activation < 0) return;
    GIE_CHECK(isActivationType(activation), ErrorCode::kINVALID_ARGUMENT, layer, ": unknown activation_type ", activation);
    ep.act = static_cast<ActivationType>(activation);
    ep.alpha = alpha;
    ep.beta = beta;
}

}  // namespace gie
