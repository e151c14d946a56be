// The cpu::Conv2dParams of a Convolution layer (layers/convolution.h) for an input of dims x (N, C, H, W).
#pragma once

#include "kernels/conv2d_cpu.h"
#include "layers/convolution.h"

namespace gie {

inline cpu::Conv2dParams conv2dParams(const ConvolutionOp& op, const Dims& x) {
    cpu::Conv2dParams p;
    p.N = x.d[0]; p.C = x.d[1]; p.H = x.d[2]; p.W = x.d[3];
    p.K = op.K; p.R = op.R; p.S = op.S;
    p.strideH = op.sh; p.strideW = op.sw;
    p.padTop = op.pt; p.padLeft = op.pl; p.padBottom = op.pb; p.padRight = op.pr;
    p.dilH = op.dh; p.dilW = op.dw; p.groups = op.groups;
    return p;
}

}  // namespace gie
