// The INT8 implicit GEMM of cuda/kernels/conv2d_int8.cu, shared with the INT8 fully connected layer
// (cuda/kernels/fully_connected_int8.cu): its parameters, the host-side packing of per-channel-quantized weights,
// and its launch (defined once, in conv2d_int8.cu).
//
// GEMM view: rows M = N*P*Q output pixels, columns = the K output channels of one group (blockIdx.z = group),
// reduction over (r, s, channel word) of the group's input channels, 4 channels per word (CHW4's unit). A fully
// connected layer is the convolution whose kernel covers its whole input (R x S = H x W, P = Q = 1, no padding), or,
// for a LINEAR input, a 1x1 convolution over rows of `flat` values (read byte by byte when a row is not whole words).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/error.h"
#include "int8_common.cuh"
#include "kernels/int8_cpu.h"

namespace gie {
namespace cuda {
namespace int8gpu {

constexpr int kGemmBM = 128, kGemmBN = 64, kGemmBK = 8;  // tile: pixels x channels x reduction words

struct Int8GemmParams {
    const int* x = nullptr;           // CHW4 words: [N][C4 * groups][H*W] with batch stride xbs (words)
    const signed char* xb = nullptr;  // instead of x: LINEAR rows of `flat` bytes, xbs bytes apart (H = W = R = S = 1)
    const int* w = nullptr;           // [groups][kredPad][kPad] words, k fastest
    int64_t wgs = 0;                  // words per group of w (kredPad * kPad)
    Int8Epilogue ep;                  // bias / mult: [groups][kPad]
    int64_t xbs = 0;
    int H = 0, W = 0, C4 = 0, K = 0, P = 0, Q = 0, R = 0, S = 0;  // C4: input words per group; K: channels per group
    int sh = 1, sw = 1, pt = 0, pl = 0, dh = 1, dw = 1;
    int kred = 0, kPad = 0, M = 0, flat = 0;
};

//! Weights, bias and scales packed for the GEMM: word (g, rs * C4 + c / 4, k) holds byte c % 4 of weight
//! (g * Kg + k, c, rs) (the CPU's layout [K][Cg][RS]); zero padding up to kredPad rows and kPad columns.
struct Int8GemmWeights {
    std::vector<int32_t> packed, bias;
    std::vector<float> mult;
    int64_t C4 = 0, kred = 0, kPad = 0, kredPad = 0;
};

inline int64_t roundUpTo(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

inline Int8GemmWeights packInt8Gemm(const cpu::int8cpu::ChannelWeights& w, const cpu::int8cpu::Requant& rq, int64_t groups, int64_t Kg,
                                    int64_t Cg, int64_t RS, const char* layer) {
    Int8GemmWeights p;
    p.C4 = (Cg + 3) / 4;
    p.kred = RS * p.C4;
    p.kPad = roundUpTo(Kg, kGemmBN);
    p.kredPad = roundUpTo(p.kred, kGemmBK);
    GIE_CHECK(groups * p.kredPad * p.kPad < (int64_t(1) << 31) && Kg < int64_t(65535) * kGemmBN && groups <= 65535, ErrorCode::kUNSUPPORTED,
              layer, " (INT8 GPU): ", groups * Kg, " output channels x ", p.kred, " reduction words are too many");
    p.packed.assign(static_cast<size_t>(groups * p.kredPad * p.kPad), 0);
    p.bias.assign(static_cast<size_t>(groups * p.kPad), 0);
    p.mult.assign(static_cast<size_t>(groups * p.kPad), 0.f);
    for (int64_t g = 0; g < groups; ++g)
        for (int64_t k = 0; k < Kg; ++k) {
            const int64_t kk = g * Kg + k;
            for (int64_t c = 0; c < Cg; ++c)
                for (int64_t rs = 0; rs < RS; ++rs) {
                    const uint32_t q = static_cast<uint8_t>(w.q[static_cast<size_t>((kk * Cg + c) * RS + rs)]);
                    auto& word = p.packed[static_cast<size_t>(g * p.kredPad * p.kPad + (rs * p.C4 + c / 4) * p.kPad + k)];
                    word = static_cast<int32_t>(static_cast<uint32_t>(word) | q << (8 * (c % 4)));
                }
            p.bias[static_cast<size_t>(g * p.kPad + k)] = rq.bias[static_cast<size_t>(kk)];
            p.mult[static_cast<size_t>(g * p.kPad + k)] = rq.mult[static_cast<size_t>(kk)];
        }
    return p;
}

//! Launches the GEMM on `groups` groups (grid z) with dp4a or, when `mma` (sm_80+ only), integer tensor cores.
void launchInt8Gemm(const Int8GemmParams& a, int groups, bool mma, cudaStream_t stream);

//! mma.sync m16n8k32 on s8 needs sm_80 (the build's archs are 80 and up, so the code is there when this holds).
bool immaRuns() noexcept;

}  // namespace int8gpu
}  // namespace cuda
}  // namespace gie
