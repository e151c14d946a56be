// Single-precision GEMM for x86-64 CPUs (AVX-512 / AVX2+FMA micro-kernels selected at run time,
// portable scalar fallback). See docs/cpu_kernels.md for the design.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "epilogue.h"

namespace gie::cpu {

// Row-major C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, leading dimensions in elements.
// beta == 0 means C is write-only (may hold NaN garbage before). Threads with OpenMP when compiled
// with it, and is safe to call concurrently from several user threads.
void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// Same as sgemm with a fused epilogue:
//   C[m,n] = act(alpha * (op(A) op(B))[m,n] + beta * C[m,n] + ep.bias[n] + ep.residual[m*ldc + n])
// (bias is per column N here; residual uses C's layout and ldc; residual may not alias C).
void sgemmEpilogue(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                   int64_t ldc, const Epilogue& ep);

// ---------------------------------------------------------------------------------------------
// Lower-level interface (used by the convolution kernels; may be used by other CPU kernels).
namespace gemm {

// 64-byte aligned allocator for packed operands (keeps micro-kernel loads cache-line aligned).
template <class T>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U>&) {}
  T* allocate(size_t n) {
    void* p = ::operator new[](n * sizeof(T), std::align_val_t(64));
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) { ::operator delete[](p, std::align_val_t(64)); }
  template <class U>
  bool operator==(const AlignedAllocator<U>&) const { return true; }
  template <class U>
  bool operator!=(const AlignedAllocator<U>&) const { return false; }
};
using AlignedFloats = std::vector<float, AlignedAllocator<float>>;

enum class Isa : int { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// The ISA used for new work: the best one the CPU supports, unless overridden by the environment
// variable GIE_CPU_ISA=scalar|avx2|avx512 (read once) or by setIsaOverride().
Isa activeIsa();
const char* isaName(Isa isa);
// Test/benchmark hook: forces the ISA for subsequently *created* work (clamped to what the CPU
// supports). Not meant to be called while other threads run GEMMs.
void setIsaOverride(Isa isa);

// Micro-kernel geometry of an ISA: rows per A panel (mr), max columns per B panel (nr),
// vector width (vw): B panels are zero-padded to a multiple of vw columns.
struct Geometry {
  int mr, nr, vw;
};
Geometry geometry(Isa isa);

// Left operand pre-packed once (e.g. convolution weights). Tied to the ISA it was packed for.
struct PackedA {
  Isa isa = Isa::kScalar;
  int64_t M = 0, K = 0, kc = 0;  // kc: K blocking used for the layout
  AlignedFloats data;
};
void packA(PackedA& out, Isa isa, bool transA, int64_t M, int64_t K, const float* A, int64_t lda);

// Right operand provider. pack() must write op(B)[k0:k0+kc, n0:n0+nc] as consecutive column
// panels: panel j covers columns [n0 + j*nr, n0 + j*nr + w_j), w_j = min(nr, nc - j*nr), starts at
// dst + j*nr*kc and is stored k-major with row length wp_j = w_j rounded up to a multiple of vw
// (element (k, c) at [k*wp_j + c]); the padding columns must be written as 0.
struct BSource {
  void (*pack)(const void* ctx, int64_t k0, int64_t kc, int64_t n0, int64_t nc, int nr, int vw,
               float* dst) = nullptr;
  const void* ctx = nullptr;
};
// Packs a plain row-major matrix; ctx must point to a PlainB.
struct PlainB {
  const float* B;
  int64_t ldb;
  bool trans;
  // gemmPacked may read full column panels of a non-transposed B in place instead of packing them, where the
  // ISA has such a kernel (AVX2) and A has few rows (inPlaceB in gemm.cpp): 1x1 convolutions to 16-96 output
  // channels, where each packed element served only that many rows. B must stay unchanged during the call.
  bool inPlace = false;
};
void packPlainB(const void* ctx, int64_t k0, int64_t kc, int64_t n0, int64_t nc, int nr, int vw,
                float* dst);

// Output epilogue applied when the last K block of a tile is stored:
//   C[m,n] = act(alpha*acc + beta*C_old + biasRow[m] + biasCol[n] + residual[m*ldr + n])
struct OutputEpi {
  const float* biasRow = nullptr;
  const float* biasCol = nullptr;
  const float* residual = nullptr;
  int64_t ldr = 0;
  ActivationType act = kNoActivation;
  float actAlpha = 0.f, actBeta = 0.f;
};

// C[M,N] (ldc) = epilogue(alpha * A * B + beta*C) with pre-packed A (M = A.M, K = A.K).
// nthreads: 0 = all OpenMP threads, 1 = run on the calling thread only (use inside parallel regions).
void gemmPacked(const PackedA& A, const BSource& B, int64_t N, float alpha, float beta, float* C,
                int64_t ldc, const OutputEpi& ep, int nthreads);

// Right operand pre-packed once (panels of the ISA's nr, same K blocking rule as PackedA).
struct PackedB {
  Isa isa = Isa::kScalar;
  int64_t K = 0, N = 0, kc = 0;
  AlignedFloats data;
};
void packB(PackedB& out, Isa isa, bool transB, int64_t K, int64_t N, const float* B, int64_t ldb);

// C[M,N] = epilogue(alpha * A * B + beta*C) with pre-packed B (K = B.K, N = B.N) and the rows of
// A produced by a packer: Arows.pack(ctx, k0, kc, m0, mc, nr, vw, dst) is called with nr >= mc
// and vw = geometry(B.isa).mr and must write A[m0:m0+mc, k0:k0+kc] transposed, i.e. as one
// BSource panel (A's rows are the packer's columns).
void gemmPackedB(const BSource& Arows, int64_t M, const PackedB& B, float alpha, float beta,
                 float* C, int64_t ldc, const OutputEpi& ep, int nthreads);
// Rows per micro-tile gemmPackedB uses for M rows with B packed for `isa` (M is padded to a multiple of it):
// geometry(isa).mr, or 7 with AVX-512 when M is a multiple of 7 but not of 8 (7x7 / 14x14 output planes).
int packedBRowUnit(Isa isa, int64_t M);

// y[i] = activation(act, x[i], alpha, beta) for i < n (layers/activation_math.h), vectorised for one ISA;
// x == y is allowed. Defined in activation_cpu.cpp (compiled without FMA contraction, so that the vector
// body, the scalar tail and every ISA round alike): the unfused Activation kernel and every fused epilogue
// run this code, which keeps fused and unfused results bit-identical.
using ActivationRowFn = void (*)(const float* x, float* y, int64_t n, ActivationType act, float alpha, float beta);
ActivationRowFn activationRowFn(Isa isa);
// In place over n contiguous floats with the ISA chosen by activeIsa().
void activateRow(float* p, int64_t n, ActivationType act, float alpha, float beta);

}  // namespace gemm
}  // namespace gie::cpu
