// The FP16 tensor-core instruction shared by the HMMA kernels (conv2d_implicit_gemm_f16.cuh, gemm_mma_f16.cuh):
// one mma.sync m16n8k16 (sm_80+), half operands, FP32 accumulation, and the ldmatrix loads of its fragments.
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

//! ldmatrix.x4 (b16): lanes 8i..8i+7 give the shared addresses of the eight 16-byte rows of matrix i; r[i] gets
//! matrix i's row lane / 4, elements 2 (lane % 4) and 2 (lane % 4) + 1 (an A quarter, or a B fragment of a matrix
//! stored N x K).
__device__ __forceinline__ void ldmatrixX4(uint32_t (&r)[4], const void* smem) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(static_cast<unsigned>(__cvta_generic_to_shared(smem))));
}
//! ldmatrix.x4.trans: as ldmatrixX4 with each 8 x 8 matrix transposed: r[i] gets rows 2 (lane % 4) and
//! 2 (lane % 4) + 1 of matrix i at column lane / 4 (the B fragment of a matrix stored K x N, row-major).
__device__ __forceinline__ void ldmatrixX4Trans(uint32_t (&r)[4], const void* smem) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(static_cast<unsigned>(__cvta_generic_to_shared(smem))));
}

}  // namespace cuda
}  // namespace gie
