// A strided gather shared by the GPU data-movement kernels (Shuffle, Slice): a packed output of dims
// n[0..rank) whose element at multi-index i is src[base + sum_k i[k] * s[k]] (source strides in elements,
// any sign). Private to cuda/kernels (shuffle.cu, slice.cu); header-only, everything in an anonymous
// namespace of each including file.
//
// The view is first simplified (size-1 dimensions dropped, neighbours merged when the source walks them
// as one), then copied by the best of:
//   contiguous   one run: a grid-stride copy in 16/8/4/2/1-byte units (the widest that the byte counts
//                and both pointers allow);
//   rows         the innermost dimension is contiguous in the source and long: one warp per 128-unit tile
//                of a row (units widened as above), the row's source offset computed once per tile; rows of
//                fewer than 32 units (after widening) one thread per unit instead (scRowsShort);
//   tiled        a transpose (the innermost output dimension is strided in the source while another
//                output dimension is contiguous there), both at least 16 long: 32x32 tiles through
//                shared memory, coalesced on both sides;
//   elements     anything else: one thread per output element (32-bit index math when it fits).
#pragma once

#include <cstdint>

#include "common.cuh"

namespace gie {
namespace cuda {
namespace {

constexpr int kScMaxRank = Dims::MAX_DIMS;

struct StridedView {
    int rank = 0;
    int64_t n[kScMaxRank] = {};
    int64_t s[kScMaxRank] = {};
    int64_t base = 0;
};

inline int64_t scVolume(const StridedView& v) {
    int64_t t = 1;
    for (int k = 0; k < v.rank; ++k) t *= v.n[k];
    return t;
}

//! Drops size-1 dimensions and merges dimension k into k-1 when s[k-1] == n[k] * s[k]. A view of one
//! element comes back as rank 1, n = 1, s = 1.
inline StridedView scSimplify(const StridedView& v) {
    StridedView o;
    o.base = v.base;
    for (int k = 0; k < v.rank; ++k) {
        if (v.n[k] == 1) continue;
        if (o.rank > 0 && o.s[o.rank - 1] == v.n[k] * v.s[k]) {
            o.n[o.rank - 1] *= v.n[k];
            o.s[o.rank - 1] = v.s[k];
            continue;
        }
        o.n[o.rank] = v.n[k];
        o.s[o.rank] = v.s[k];
        ++o.rank;
    }
    if (o.rank == 0) {
        o.rank = 1;
        o.n[0] = 1;
        o.s[0] = 1;
    }
    return o;
}

// ---- vector units --------------------------------------------------------------------------------------

template <int Bytes> struct ScUnit;
template <> struct ScUnit<1> { using T = uint8_t; };
template <> struct ScUnit<2> { using T = uint16_t; };
template <> struct ScUnit<4> { using T = uint32_t; };
template <> struct ScUnit<8> { using T = uint2; };
template <> struct ScUnit<16> { using T = uint4; };

//! The largest power of two <= u dividing v (units are 1, 2, 4, 8 or 16 bytes).
inline int scShrink(int u, int64_t v) {
    while (u > 1 && (v % u) != 0) u >>= 1;
    return u;
}
inline int scShrinkPtr(int u, const void* p) { return scShrink(u, static_cast<int64_t>(reinterpret_cast<uintptr_t>(p) & 0xFFFF)); }

// ---- kernels -----------------------------------------------------------------------------------------------

template <typename U>
__global__ void __launch_bounds__(256) scContiguous(const U* __restrict__ src, U* __restrict__ dst, int64_t n) {
    const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) dst[i] = src[i];
}

struct ScRowsParams {
    int outerRank;                 // dims before the row
    int64_t n[kScMaxRank - 1];     // outer dims
    int64_t s[kScMaxRank - 1];     // their source strides (units)
    int64_t base;                  // source offset of element 0 (units)
    int64_t len;                   // row length (units), contiguous in both
    int64_t tilesPerRow, tiles;
};

constexpr int kScRowTile = 128;  // units per warp tile (4 per lane)

template <typename U>
__global__ void __launch_bounds__(256) scRows(const U* __restrict__ src, U* __restrict__ dst, ScRowsParams p) {
    const int lane = threadIdx.x & 31;
    const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
    const int64_t nWarps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
    for (int64_t t = warp; t < p.tiles; t += nWarps) {
        const int64_t row = t / p.tilesPerRow;
        const int64_t c0 = (t - row * p.tilesPerRow) * kScRowTile;
        int64_t rem = row, off = p.base;
        for (int k = p.outerRank - 1; k >= 0; --k) {
            const int64_t c = rem % p.n[k];
            rem /= p.n[k];
            off += c * p.s[k];
        }
        const U* __restrict__ sp = src + off + c0;
        U* __restrict__ dp = dst + row * p.len + c0;
        const int w = p.len - c0 < kScRowTile ? static_cast<int>(p.len - c0) : kScRowTile;
        U v[4];
#pragma unroll
        for (int u = 0; u < 4; ++u) {
            const int c = lane + 32 * u;
            if (c < w) v[u] = sp[c];
        }
#pragma unroll
        for (int u = 0; u < 4; ++u) {
            const int c = lane + 32 * u;
            if (c < w) dp[c] = v[u];
        }
    }
}

//! Rows shorter than a warp's 32 units (ViT's heads: 64 halves = 8 units of 16 bytes, where scRows kept 8 of 32
//! lanes busy): one thread per unit, the row's source offset from the unit's index (32-bit index math when it fits).
//! Consecutive threads take consecutive units of the packed output: both sides coalesced within a row.
template <typename U, typename Idx>
__global__ void __launch_bounds__(256) scRowsShort(const U* __restrict__ src, U* __restrict__ dst, ScRowsParams p, Idx total) {
    const Idx step = static_cast<Idx>(gridDim.x) * blockDim.x;
    const Idx len = static_cast<Idx>(p.len);
    for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
        Idx rem = i / len;
        const Idx c = i - rem * len;
        int64_t off = p.base + static_cast<int64_t>(c);
        for (int k = p.outerRank - 1; k >= 0; --k) {
            const Idx nk = static_cast<Idx>(p.n[k]);
            const Idx q = rem / nk;
            off += static_cast<int64_t>(rem - q * nk) * p.s[k];
            rem = q;
        }
        dst[i] = src[off];
    }
}

struct ScElemParams {
    int rank;
    int64_t n[kScMaxRank];
    int64_t s[kScMaxRank];
    int64_t base;
};

template <typename T, typename Idx>
__global__ void __launch_bounds__(256) scElements(const T* __restrict__ src, T* __restrict__ dst, ScElemParams p, Idx total) {
    const Idx step = static_cast<Idx>(gridDim.x) * blockDim.x;
    for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
        Idx rem = i;
        int64_t off = p.base;
#pragma unroll
        for (int k = kScMaxRank - 1; k >= 0; --k) {
            if (k < p.rank) {
                const Idx nk = static_cast<Idx>(p.n[k]);
                const Idx c = rem % nk;
                rem /= nk;
                off += static_cast<int64_t>(c) * p.s[k];
            }
        }
        dst[i] = src[off];
    }
}

// Transpose tiles: output dim A (the innermost, source stride sA) against output dim B (source stride 1,
// output stride oB), repeated over the other dims.
struct ScTileParams {
    int64_t nA, nB, sA, oB;
    int nOthers;
    int64_t n[kScMaxRank - 2], s[kScMaxRank - 2], o[kScMaxRank - 2];  // others: size, source / output stride
    int64_t base;
    int64_t tilesA, tilesB, tiles;
};

template <typename T>
__global__ void __launch_bounds__(256) scTiled(const T* __restrict__ src, T* __restrict__ dst, ScTileParams p) {
    __shared__ T tile[32][33];
    const int tx = threadIdx.x & 31, ty = threadIdx.x >> 5;  // 32 x 8
    for (int64_t t = blockIdx.x; t < p.tiles; t += gridDim.x) {
        const int64_t tb = t % p.tilesB;
        int64_t rest = t / p.tilesB;
        const int64_t ta = rest % p.tilesA;
        rest /= p.tilesA;
        int64_t so = p.base, dof = 0;
        for (int k = p.nOthers - 1; k >= 0; --k) {
            const int64_t c = rest % p.n[k];
            rest /= p.n[k];
            so += c * p.s[k];
            dof += c * p.o[k];
        }
        const int64_t a0 = ta * 32, b0 = tb * 32;
        // Read along B (contiguous in the source).
        const int64_t ib = b0 + tx;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int64_t ia = a0 + ty + 8 * j;
            if (ia < p.nA && ib < p.nB) tile[ty + 8 * j][tx] = src[so + ia * p.sA + ib];
        }
        __syncthreads();
        // Write along A (contiguous in the output).
        const int64_t ja = a0 + tx;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int64_t jb = b0 + ty + 8 * j;
            if (ja < p.nA && jb < p.nB) dst[dof + jb * p.oB + ja] = tile[tx][ty + 8 * j];
        }
        __syncthreads();
    }
}

// ---- host dispatch -------------------------------------------------------------------------------------

template <int B>
void scLaunchContiguous(const void* src, void* dst, int64_t bytes, cudaStream_t st) {
    using U = typename ScUnit<B>::T;
    const int64_t n = bytes / B;
    scContiguous<U><<<gridFor(n), 256, 0, st>>>(static_cast<const U*>(src), static_cast<U*>(dst), n);
    checkLaunch("strided_copy_contiguous");
}

inline void scCopyBytes(const void* src, void* dst, int64_t bytes, cudaStream_t st) {
    if (bytes <= 0 || src == dst) return;
    const int u = scShrinkPtr(scShrinkPtr(scShrink(16, bytes), src), dst);
    switch (u) {
        case 16: scLaunchContiguous<16>(src, dst, bytes, st); break;
        case 8: scLaunchContiguous<8>(src, dst, bytes, st); break;
        case 4: scLaunchContiguous<4>(src, dst, bytes, st); break;
        case 2: scLaunchContiguous<2>(src, dst, bytes, st); break;
        default: scLaunchContiguous<1>(src, dst, bytes, st); break;
    }
}

template <int B>
void scLaunchRows(const void* src, void* dst, const ScRowsParams& p, cudaStream_t st) {
    using U = typename ScUnit<B>::T;
    if (p.len < 32) {  // short rows: one thread per unit (scRowsShort)
        const int64_t units = p.tiles * p.len;  // (tilesPerRow == 1)
        bool fits32 = units < (int64_t{1} << 31);
        for (int k = 0; k < p.outerRank; ++k) fits32 = fits32 && p.n[k] < (int64_t{1} << 31);
        if (fits32)
            scRowsShort<U, uint32_t><<<gridFor(units), 256, 0, st>>>(static_cast<const U*>(src), static_cast<U*>(dst), p,
                                                                      static_cast<uint32_t>(units));
        else
            scRowsShort<U, int64_t><<<gridFor(units), 256, 0, st>>>(static_cast<const U*>(src), static_cast<U*>(dst), p, units);
        checkLaunch("strided_copy_rows_short");
        return;
    }
    const int64_t warps = p.tiles;
    scRows<U><<<gridFor(warps * 32), 256, 0, st>>>(static_cast<const U*>(src), static_cast<U*>(dst), p);
    checkLaunch("strided_copy_rows");
}

template <typename T>
void scLaunchElements(const void* src, void* dst, const StridedView& v, int64_t total, cudaStream_t st) {
    ScElemParams p;
    p.rank = v.rank;
    for (int k = 0; k < kScMaxRank; ++k) {
        p.n[k] = k < v.rank ? v.n[k] : 1;
        p.s[k] = k < v.rank ? v.s[k] : 0;
    }
    p.base = v.base;
    if (total <= INT32_MAX)
        scElements<T, uint32_t><<<gridFor(total), 256, 0, st>>>(static_cast<const T*>(src), static_cast<T*>(dst), p,
                                                                static_cast<uint32_t>(total));
    else
        scElements<T, int64_t><<<gridFor(total), 256, 0, st>>>(static_cast<const T*>(src), static_cast<T*>(dst), p, total);
    checkLaunch("strided_copy_elements");
}

template <typename T>
void scLaunchTiled(const void* src, void* dst, const StridedView& v, int b, cudaStream_t st) {
    const int r = v.rank;
    int64_t outStride[kScMaxRank] = {};
    int64_t acc = 1;
    for (int k = r - 1; k >= 0; --k) {
        outStride[k] = acc;
        acc *= v.n[k];
    }
    ScTileParams p;
    p.nA = v.n[r - 1];
    p.sA = v.s[r - 1];
    p.nB = v.n[b];
    p.oB = outStride[b];
    p.nOthers = 0;
    for (int k = 0; k < r - 1; ++k) {
        if (k == b) continue;
        p.n[p.nOthers] = v.n[k];
        p.s[p.nOthers] = v.s[k];
        p.o[p.nOthers] = outStride[k];
        ++p.nOthers;
    }
    p.base = v.base;
    p.tilesA = ceilDiv(p.nA, 32);
    p.tilesB = ceilDiv(p.nB, 32);
    p.tiles = p.tilesA * p.tilesB * (acc / (p.nA * p.nB));
    int64_t blocks = p.tiles;
    const int64_t cap = static_cast<int64_t>(numSMs()) * 16;
    if (blocks > cap) blocks = cap;
    scTiled<T><<<static_cast<unsigned>(blocks), 256, 0, st>>>(static_cast<const T*>(src), static_cast<T*>(dst), p);
    checkLaunch("strided_copy_tiled");
}

template <typename T>
void scDispatchElem(const void* src, void* dst, const StridedView& v, int64_t total, cudaStream_t st) {
    const int r = v.rank;
    // Transpose: the innermost output dim is strided in the source while another one is contiguous.
    if (r >= 2 && v.s[r - 1] != 1 && v.n[r - 1] >= 16) {
        for (int b = 0; b < r - 1; ++b) {
            if (v.s[b] == 1 && v.n[b] >= 16) {
                scLaunchTiled<T>(src, dst, v, b, st);
                return;
            }
        }
    }
    scLaunchElements<T>(src, dst, v, total, st);
}

//! dst (packed) = the view of src, elements of `elem` bytes (1, 2, 4 or 8). src and dst must not overlap
//! unless the view is the identity of the same buffer (then nothing is done).
inline void stridedCopy(const void* src, void* dst, const StridedView& view, int elem, cudaStream_t st) {
    if (scVolume(view) == 0) return;
    const StridedView v = scSimplify(view);
    const int64_t total = scVolume(v);
    const int r = v.rank;
    const auto* s8 = static_cast<const uint8_t*>(src);
    if (r == 1 && v.s[0] == 1) {
        scCopyBytes(s8 + v.base * elem, dst, total * elem, st);
        return;
    }
    if (v.s[r - 1] == 1 && v.n[r - 1] >= 32) {
        // Rows: widen to the largest unit dividing the row bytes, every outer stride, the base and both
        // pointers (elem itself always does: tensors are aligned to their element size).
        int u = scShrinkPtr(scShrinkPtr(scShrink(16, v.n[r - 1] * elem), src), dst);
        u = scShrink(u, v.base * elem);
        for (int k = 0; k < r - 1; ++k) u = scShrink(u, v.s[k] * elem);
        if (u < elem) u = elem;
        ScRowsParams p;
        p.outerRank = r - 1;
        for (int k = 0; k < r - 1; ++k) {
            p.n[k] = v.n[k];
            p.s[k] = v.s[k] * elem / u;
        }
        p.base = v.base * elem / u;
        p.len = v.n[r - 1] * elem / u;
        p.tilesPerRow = ceilDiv(p.len, kScRowTile);
        p.tiles = p.tilesPerRow * (total / v.n[r - 1]);
        switch (u) {
            case 16: scLaunchRows<16>(src, dst, p, st); break;
            case 8: scLaunchRows<8>(src, dst, p, st); break;
            case 4: scLaunchRows<4>(src, dst, p, st); break;
            case 2: scLaunchRows<2>(src, dst, p, st); break;
            default: scLaunchRows<1>(src, dst, p, st); break;
        }
        return;
    }
    switch (elem) {
        case 1: scDispatchElem<uint8_t>(src, dst, v, total, st); break;
        case 2: scDispatchElem<uint16_t>(src, dst, v, total, st); break;
        case 4: scDispatchElem<uint32_t>(src, dst, v, total, st); break;
        case 8: scDispatchElem<uint2>(src, dst, v, total, st); break;
        default: fail(ErrorCode::kUNSUPPORTED, "strided copy: unsupported element size ", elem);
    }
}

}  // namespace
}  // namespace cuda
}  // namespace gie
