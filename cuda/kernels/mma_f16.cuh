// The FP16 tensor-core instruction shared by the HMMA kernels (conv2d_implicit_gemm_f16.cuh, gemm_mma_f16.cuh):
// one mma.sync m16n8k16 (sm_80+), half operands, FP32 accumulation.
// Fragments (PTX ISA, .f16): A regs {rows g, g+8} x {k 0-7, 8-15}, each a pair of consecutive k; B regs {k 0-7,
// 8-15} of column g; C {c0, c1} row g / {c2, c3} row g+8, columns 2t, 2t+1 (g = lane / 4, t = lane % 4).
#pragma once

#include <cstdint>

namespace gie {
namespace cuda {

//! d += a * b.
__device__ __forceinline__ void mmaF16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

}  // namespace cuda
}  // namespace gie
