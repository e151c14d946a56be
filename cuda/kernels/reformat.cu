// GPU Reformat (layers/reformat.h): any of {FLOAT, HALF} x {LINEAR, NHWC, HWC8} and INT8 x {LINEAR, NHWC, CHW4} to any
// other in one pass, the semantics of kernels/reformat_cpu.cpp (FLOAT -> HALF rounds to nearest even; HWC8 and CHW4
// padding channels are written as 0, whatever the input holds there). It runs at network inputs/outputs and between layers that
// chose different states, so every path moves each byte once, coalesced on both sides:
//
//   flat      same memory order on both sides (LINEAR -> LINEAR of any rank, NHWC -> NHWC): a conversion of
//             rows (one row per batch item with the batch strides of both descriptors; one row in all when both
//             are packed), 8 elements per thread (16-byte half / 2x16-byte float accesses) when the pointers
//             (and, for several rows, the row length and strides) allow, the last < 8 of one row one by one;
//             else one element per thread.
//   pixels    channels-last on both sides (NHWC <-> HWC8, HWC8 -> HWC8): one thread per (pixel, group of 8
//             output channels) with 16-byte vector stores (and loads when the input rows allow), or one per
//             output element when the output rows are not multiples of 8.
//   tiled     LINEAR <-> channels-last with more than 16 stored channels: a transpose of each batch item's
//             (C x HW) plane through a 32-channel x 64-pixel shared-memory tile: the planar side is read or
//             written along pixels (128-byte rows per warp), the channels-last side along channels, 8 at a
//             time (16-byte vectors) when the rows allow. The tile holds floats (conversion on the way in
//             and out), padded to 65 columns so that both phases are free of bank conflicts.
//   planes    LINEAR <-> channels-last with at most 16 stored channels (e.g. RGB images to HWC8): one thread
//             per (pixel, group of 8 channels) reading (or writing) up to 8 planes, each coalesced across the
//             warp's consecutive pixels, and writing (or reading) the pixel's channels as one 16-byte vector;
//             a 32-channel tile would leave most of its threads idle.
//
//   int8      INT8 on either side (quantize with the output's scale, dequantize with the input's, or move INT8 between
//             LINEAR, NHWC and CHW4): one thread per (batch item, group of 4 channels, pixel), the arithmetic of
//             layers/int8_math.h as on the CPU; a CHW4 output is written a 4-channel word at a time, padding as 0, and
//             so is an INT8 NHWC output whose pixels are whole aligned words (C % 4 == 0).
//
// A 4-D LINEAR tensor with H*W == 1 has the memory order of NHWC, so it takes the channels-last paths.
// Shapes and strides are read from the descriptors at every call; only the batch stride (strides[0]) may
// exceed the packed one.
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "common.cuh"
#include "common/format.h"
#include "common/half_types.h"
#include "fp16.cuh"
#include "layers/int8_math.h"
#include "layers/reformat.h"
#include "pack8.cuh"

namespace gie {
namespace {

using cuda::convertTo;
using cuda::load8;
using cuda::store8;
using cuda::toFloat;

// ---- flat: rows of `len` elements in the same order on both sides ----------------------------------------------

//! total = rows * rowUnits units of V elements. V = 8: both pointers are 16-byte aligned, and when there are
//! several rows, the row length and both batch strides are multiples of 8; one row may end in `tail` (< 8)
//! more elements, which block 0 converts one by one.
template <typename Ti, typename To, int V, typename Idx>
__global__ void __launch_bounds__(256) reformatFlat(const Ti* __restrict__ x, To* __restrict__ y, Idx rowUnits, int64_t xbs,
                                                    int64_t ybs, Idx total, int tail) {
    if (V == 8 && blockIdx.x == 0 && static_cast<int>(threadIdx.x) < tail) {
        const int64_t e = static_cast<int64_t>(total) * V + threadIdx.x;
        y[e] = convertTo<To>(__ldg(x + e));
    }
    const Idx step = static_cast<Idx>(gridDim.x) * blockDim.x;
    for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
        const Idx b = i / rowUnits;
        const int64_t e = static_cast<int64_t>(i - b * rowUnits) * V;
        const Ti* __restrict__ xp = x + static_cast<int64_t>(b) * xbs + e;
        To* __restrict__ yp = y + static_cast<int64_t>(b) * ybs + e;
        if constexpr (V == 8) {
            float v[8];
            load8(xp, v);
            store8(yp, v);
        } else {
            *yp = convertTo<To>(__ldg(xp));
        }
    }
}

// ---- channel groups: pixels and planes ------------------------------------------------------------------------

//! One thread's (batch item, pixel, first channel) for an index over (batch, pixel, group of 8 channels): groups
//! fastest (a pixel's channels-last row written by neighbouring threads) or pixels fastest (planes coalesced).
template <bool kPixelsFastest, typename Idx>
__device__ __forceinline__ void splitGroupIndex(Idx i, Idx groups, Idx HW, int V, Idx& b, int64_t& pix, int64_t& c0) {
    const Idx fast = kPixelsFastest ? HW : groups;
    const Idx t = i / fast, r = i - t * fast;
    const Idx slow = kPixelsFastest ? groups : HW;
    b = t / slow;
    const Idx q = t - b * slow;
    pix = static_cast<int64_t>(kPixelsFastest ? r : q);
    c0 = static_cast<int64_t>(kPixelsFastest ? q : r) * V;
}

//! The 8 channels c0.. of a channels-last row at xp as floats: one 16-byte-vector load when `vec` (the row and
//! pointer allow it and all 8 are stored), else one by one with the channels from C on read as 0.
template <typename Ti>
__device__ __forceinline__ void loadChannels8(const Ti* __restrict__ xp, float (&v)[8], bool vec, int64_t c0, int64_t C) {
    if (vec) {
        load8(xp, v);
    } else {
#pragma unroll
        for (int j = 0; j < 8; ++j) v[j] = c0 + j < C ? toFloat(__ldg(xp + j)) : 0.f;
    }
}

// ---- pixels: channels-last to channels-last --------------------------------------------------------------------

struct ClParams {
    int64_t C, Cpi, Cpo;  // logical channels; stored channels of the input and of the output
    int64_t HW;
    int64_t xbs, ybs;     // batch strides (elements)
};

//! One thread per (batch, pixel, group of V output channels); V = 8: Cpo, ybs and y are multiples of 8
//! elements / 16 bytes, vecIn: the same for the input (Cpi, xbs, x).
template <typename Ti, typename To, int V, typename Idx>
__global__ void __launch_bounds__(256) reformatPixels(const Ti* __restrict__ x, To* __restrict__ y, ClParams p, bool vecIn,
                                                      Idx groups, Idx total) {
    const Idx step = static_cast<Idx>(gridDim.x) * blockDim.x;
    const Idx HW = static_cast<Idx>(p.HW);
    for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
        Idx b;
        int64_t pix, c0;
        splitGroupIndex<false>(i, groups, HW, V, b, pix, c0);
        const Ti* __restrict__ xp = x + static_cast<int64_t>(b) * p.xbs + pix * p.Cpi + c0;
        To* __restrict__ yp = y + static_cast<int64_t>(b) * p.ybs + pix * p.Cpo + c0;
        if constexpr (V == 8) {
            float v[8];
            loadChannels8(xp, v, vecIn && c0 + 8 <= p.C, c0, p.C);
            store8(yp, v);
        } else {
            *yp = convertTo<To>(c0 < p.C ? toFloat(__ldg(xp)) : 0.f);
        }
    }
}

// ---- planes: LINEAR <-> channels-last, few channels --------------------------------------------------------------

//! One thread per (batch, pixel, group of 8 channels) reading (toCl) or writing up to 8 planes. toCl: LINEAR x ->
//! channels-last y over the output's stored channels, groups fastest (the pixel's output row is written
//! contiguously by neighbouring threads), vec: 16-byte stores allowed. Else channels-last x -> LINEAR y over the
//! logical channels, pixels fastest (each plane is written contiguously), vec: 16-byte loads allowed.
template <typename Ti, typename To, bool toCl, typename Idx>
__global__ void __launch_bounds__(256) reformatPlanes(const Ti* __restrict__ x, To* __restrict__ y, ClParams p, bool vec,
                                                      Idx groups, Idx total) {
    const Idx step = static_cast<Idx>(gridDim.x) * blockDim.x;
    const Idx HW = static_cast<Idx>(p.HW);
    for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
        Idx b;
        int64_t pix, c0;
        splitGroupIndex<!toCl>(i, groups, HW, 8, b, pix, c0);
        const int64_t planar = c0 * p.HW + pix;
        float v[8];
        if constexpr (toCl) {
            const Ti* __restrict__ xp = x + static_cast<int64_t>(b) * p.xbs + planar;
            To* __restrict__ yp = y + static_cast<int64_t>(b) * p.ybs + pix * p.Cpo + c0;
#pragma unroll
            for (int j = 0; j < 8; ++j) v[j] = c0 + j < p.C ? toFloat(__ldg(xp + j * p.HW)) : 0.f;
            if (vec) {
                store8(yp, v);
            } else {
#pragma unroll
                for (int j = 0; j < 8; ++j)
                    if (c0 + j < p.Cpo) yp[j] = convertTo<To>(v[j]);
            }
        } else {
            const Ti* __restrict__ xp = x + static_cast<int64_t>(b) * p.xbs + pix * p.Cpi + c0;
            To* __restrict__ yp = y + static_cast<int64_t>(b) * p.ybs + planar;
            loadChannels8(xp, v, vec && c0 + 8 <= p.Cpi, c0, p.C);
#pragma unroll
            for (int j = 0; j < 8; ++j)
                if (c0 + j < p.C) yp[j * p.HW] = convertTo<To>(v[j]);
        }
    }
}

// ---- tiled: LINEAR <-> channels-last transpose ---------------------------------------------------------------------

constexpr int kTileC = 32, kTileP = 64;  // a tile: 32 channels x 64 pixels, 256 threads, 8 elements each

struct TileParams {
    ClParams p;
    int64_t tilesP, tilesC, tiles;
    bool vec;  // the channels-last side's rows, batch stride and pointer allow 16-byte vectors
};

//! toCl: LINEAR x -> channels-last y (tiles over the output's stored channels, padding written as 0);
//! else channels-last x -> LINEAR y (tiles over the logical channels).
template <typename Ti, typename To, bool toCl>
__global__ void __launch_bounds__(256) reformatTiled(const Ti* __restrict__ x, To* __restrict__ y, TileParams tp) {
    __shared__ float tile[kTileC][kTileP + 1];
    const ClParams& p = tp.p;
    const int tid = threadIdx.x;
    for (int64_t t = blockIdx.x; t < tp.tiles; t += gridDim.x) {
        const int64_t tc = t % tp.tilesC;
        const int64_t rest = t / tp.tilesC;
        const int64_t tpix = rest % tp.tilesP;
        const int64_t b = rest / tp.tilesP;
        const int64_t c0 = tc * kTileC, p0 = tpix * kTileP;
        // Planar side: thread -> (channel tid/64 + 4k, pixel tid%64): each warp covers 32 pixels of one plane.
        // Channels-last side: thread -> (pixel tid/4, channels (tid%4)*8 .. +8): 4 threads cover 32 channels.
        const int planeC = tid / kTileP, planeP = tid % kTileP;
        const int clP = tid / 4, clC = (tid % 4) * 8;
        if (toCl) {
            const Ti* __restrict__ xb = x + b * p.xbs;
            const int64_t pix = p0 + planeP;
#pragma unroll
            for (int k = 0; k < 8; ++k) {
                const int ch = planeC + 4 * k;
                const int64_t c = c0 + ch;
                tile[ch][planeP] = c < p.C && pix < p.HW ? toFloat(__ldg(xb + c * p.HW + pix)) : 0.f;
            }
            __syncthreads();
            To* __restrict__ yb = y + b * p.ybs;
            if (tp.vec) {
                const int64_t c = c0 + clC, q = p0 + clP;
                if (q < p.HW && c < p.Cpo) {  // Cpo is a multiple of 8: the whole vector is inside
                    float v[8];
#pragma unroll
                    for (int j = 0; j < 8; ++j) v[j] = tile[clC + j][clP];
                    store8(yb + q * p.Cpo + c, v);
                }
            } else {
#pragma unroll
                for (int k = 0; k < 8; ++k) {
                    const int e = tid + 256 * k;  // channel fastest
                    const int ch = e % kTileC, px = e / kTileC;
                    const int64_t c = c0 + ch, q = p0 + px;
                    if (q < p.HW && c < p.Cpo) yb[q * p.Cpo + c] = convertTo<To>(tile[ch][px]);
                }
            }
        } else {
            const Ti* __restrict__ xb = x + b * p.xbs;
            if (tp.vec) {
                const int64_t c = c0 + clC, q = p0 + clP;
                float v[8];
                if (q < p.HW && c < p.Cpi) {
                    load8(xb + q * p.Cpi + c, v);
                } else {
#pragma unroll
                    for (int j = 0; j < 8; ++j) v[j] = 0.f;
                }
#pragma unroll
                for (int j = 0; j < 8; ++j) tile[clC + j][clP] = v[j];
            } else {
#pragma unroll
                for (int k = 0; k < 8; ++k) {
                    const int e = tid + 256 * k;
                    const int ch = e % kTileC, px = e / kTileC;
                    const int64_t c = c0 + ch, q = p0 + px;
                    tile[ch][px] = q < p.HW && c < p.C ? toFloat(__ldg(xb + q * p.Cpi + c)) : 0.f;
                }
            }
            __syncthreads();
            To* __restrict__ yb = y + b * p.ybs;
            const int64_t pix = p0 + planeP;
#pragma unroll
            for (int k = 0; k < 8; ++k) {
                const int ch = planeC + 4 * k;
                const int64_t c = c0 + ch;
                if (c < p.C && pix < p.HW) yb[c * p.HW + pix] = convertTo<To>(tile[ch][planeP]);
            }
        }
        __syncthreads();  // the tile is reused by the next iteration
    }
}

// ---- host dispatch ------------------------------------------------------------------------------------------------

bool multipleOf8(int64_t v) { return v % 8 == 0; }

template <typename Ti, typename To>
class Launcher {
public:
    Launcher(const Ti* x, To* y, cudaStream_t st) : x_(x), y_(y), st_(st) {}

    void flat(int64_t rows, int64_t len, int64_t xbs, int64_t ybs) const {
        if (xbs == len && ybs == len) {  // packed on both sides: one row (vectorized even when len is not)
            len *= rows;
            rows = 1;
        }
        const bool vec = cuda::aligned16(x_, y_) && (rows == 1 || (multipleOf8(len) && multipleOf8(xbs) && multipleOf8(ybs)));
        if (vec)
            grid1d(reformatFlat<Ti, To, 8, uint32_t>, reformatFlat<Ti, To, 8, int64_t>, len / 8, xbs, ybs, rows * (len / 8),
                   static_cast<int>(len % 8));
        else
            grid1d(reformatFlat<Ti, To, 1, uint32_t>, reformatFlat<Ti, To, 1, int64_t>, len, xbs, ybs, rows * len, 0);
        cuda::checkLaunch("reformat_flat");
    }

    void pixels(const ClParams& p, int64_t N) const {
        if (vecOut(p)) perGroup(reformatPixels<Ti, To, 8, uint32_t>, reformatPixels<Ti, To, 8, int64_t>, p, vecIn(p), p.Cpo / 8, N, "reformat_pixels");
        else perGroup(reformatPixels<Ti, To, 1, uint32_t>, reformatPixels<Ti, To, 1, int64_t>, p, false, p.Cpo, N, "reformat_pixels");
    }

    void planes(const ClParams& p, int64_t N, bool toCl) const {
        if (toCl)
            perGroup(reformatPlanes<Ti, To, true, uint32_t>, reformatPlanes<Ti, To, true, int64_t>, p, vecOut(p), cuda::ceilDiv(p.Cpo, 8), N,
                     "reformat_from_planes");
        else
            perGroup(reformatPlanes<Ti, To, false, uint32_t>, reformatPlanes<Ti, To, false, int64_t>, p, vecIn(p), cuda::ceilDiv(p.C, 8), N,
                     "reformat_to_planes");
    }

    void tiled(const ClParams& p, int64_t N, bool toCl) const {
        TileParams tp;
        tp.p = p;
        tp.tilesP = cuda::ceilDiv(p.HW, kTileP);
        tp.tilesC = cuda::ceilDiv(toCl ? p.Cpo : p.C, kTileC);
        tp.tiles = N * tp.tilesP * tp.tilesC;
        tp.vec = toCl ? vecOut(p) : vecIn(p);
        const int64_t cap = static_cast<int64_t>(cuda::numSMs()) * 16;
        const unsigned grid = static_cast<unsigned>(tp.tiles < cap ? tp.tiles : cap);
        if (toCl) reformatTiled<Ti, To, true><<<grid, 256, 0, st_>>>(x_, y_, tp);
        else reformatTiled<Ti, To, false><<<grid, 256, 0, st_>>>(x_, y_, tp);
        cuda::checkLaunch("reformat_tiled");
    }

private:
    //! Whether the channels-last output (input) rows, batch stride and pointer allow 16-byte vectors.
    bool vecOut(const ClParams& p) const { return multipleOf8(p.Cpo) && multipleOf8(p.ybs) && cuda::aligned16(y_); }
    bool vecIn(const ClParams& p) const { return multipleOf8(p.Cpi) && multipleOf8(p.xbs) && cuda::aligned16(x_); }

    //! One thread per (batch item, pixel, channel group): 32-bit index math when the count allows.
    template <typename K32, typename K64>
    void perGroup(K32 k32, K64 k64, const ClParams& p, bool vec, int64_t groups, int64_t N, const char* name) const {
        const int64_t total = N * p.HW * groups;
        const unsigned grid = cuda::gridFor(total);
        if (total <= INT32_MAX) k32<<<grid, 256, 0, st_>>>(x_, y_, p, vec, static_cast<uint32_t>(groups), static_cast<uint32_t>(total));
        else k64<<<grid, 256, 0, st_>>>(x_, y_, p, vec, groups, total);
        cuda::checkLaunch(name);
    }

    template <typename K32, typename K64>
    void grid1d(K32 k32, K64 k64, int64_t rowUnits, int64_t xbs, int64_t ybs, int64_t total, int tail) const {
        const unsigned grid = cuda::gridFor(total);
        if (total <= INT32_MAX) k32<<<grid, 256, 0, st_>>>(x_, y_, static_cast<uint32_t>(rowUnits), xbs, ybs, static_cast<uint32_t>(total), tail);
        else k64<<<grid, 256, 0, st_>>>(x_, y_, rowUnits, xbs, ybs, total, tail);
    }

    const Ti* x_;
    To* y_;
    cudaStream_t st_;
};

//! Stored channels of a 4-D tensor's rows in format f: channels-last formats store Cp per pixel; LINEAR with
//! one pixel per plane stores its C channels in the same order as NHWC.
bool rowsAreChannels(TensorFormat f, int64_t HW) { return isChannelsLast(f) || HW == 1; }

template <typename Ti, typename To>
void reformat(const KernelCall& c) {
    const TensorDesc& in = c.inDesc[0];
    const TensorDesc& out = c.outDesc[0];
    const Dims& d = in.dims;
    const int64_t n = volume(d);
    if (n == 0) return;
    const Launcher<Ti, To> run(c.in<Ti>(0), c.out<To>(0), cuda::streamOf(c));
    if (d.nbDims == 0) {
        run.flat(1, 1, 1, 1);
        return;
    }
    const int64_t N = d.d[0];
    const int64_t xbs = in.strides.d[0], ybs = out.strides.d[0];
    const bool cl = isChannelsLast(in.format) || isChannelsLast(out.format);
    if (!cl) {  // LINEAR -> LINEAR, any rank: a type conversion (or a copy)
        run.flat(N, n / N, xbs, ybs);
        return;
    }
    GIE_CHECK(d.nbDims == 4, ErrorCode::kUNSUPPORTED, "Reformat: ", formatName(in.format), " -> ", formatName(out.format), " needs a 4-D tensor, got ",
              toString(d));
    ClParams p;
    p.C = d.d[1];
    p.HW = d.d[2] * d.d[3];
    p.Cpi = storedChannels(p.C, in.format);
    p.Cpo = storedChannels(p.C, out.format);
    p.xbs = xbs;
    p.ybs = ybs;
    const bool clIn = rowsAreChannels(in.format, p.HW), clOut = rowsAreChannels(out.format, p.HW);
    if (clIn && clOut) {
        if (p.Cpi == p.Cpo && p.Cpo == p.C) run.flat(N, p.HW * p.C, xbs, ybs);  // the same order, no padding
        else run.pixels(p, N);
    } else {  // LINEAR <-> channels-last: few stored channels read or write whole planes, more go through tiles
        const bool toCl = clOut;
        if ((toCl ? p.Cpo : p.Cpi) <= 16) run.planes(p, N, toCl);
        else run.tiled(p, N, toCl);
    }
}

// ---- INT8: quantize, dequantize, LINEAR <-> CHW4 -------------------------------------------------------------------

//! A tensor as (N, C, HW): 4-D, or LINEAR of any rank (C = dims[1], HW = the product of the dims after it).
struct Int8Side {
    int fmt;          // 0 LINEAR, 1 channels-last (NHWC / HWC8), 2 CHW4
    int64_t Cp, bs;   // stored channels (channels-last); batch stride
    float scale;      // INT8: real = scale * q
};
struct Int8ReformatParams {
    int64_t C, HW, groups;  // groups of 4 channels covering the channels and any output padding
    Int8Side in, out;
    bool outWords;          // an INT8 output written a group (one aligned 4-byte word) at a time: CHW4, or NHWC with C % 4 == 0
};

__device__ __forceinline__ int64_t int8SideOffset(const Int8Side& s, int64_t n, int64_t c, int64_t pix, int64_t HW) {
    if (s.fmt == 2) return n * s.bs + (c >> 2) * HW * 4 + pix * 4 + (c & 3);
    if (s.fmt == 1) return n * s.bs + pix * s.Cp + c;
    return n * s.bs + c * HW + pix;
}
__device__ __forceinline__ float int8Load(const float* p, float) { return __ldg(p); }
__device__ __forceinline__ float int8Load(const __half* p, float) { return __half2float(__ldg(p)); }
__device__ __forceinline__ float int8Load(const int8_t* p, float s) { return __fmul_rn(static_cast<float>(__ldg(p)), s); }  // int8::dequantize
__device__ __forceinline__ void int8Store(float* p, float v, float) { *p = v; }
__device__ __forceinline__ void int8Store(__half* p, float v, float) { *p = __float2half_rn(v); }
__device__ __forceinline__ void int8Store(int8_t* p, float v, float s) { *p = int8::quantize(v, s); }

//! One thread per (batch item, group of 4 channels, pixel), pixels fastest (planes coalesced, CHW4 words coalesced).
//! Channels in [C, stored channels of the output) are written as 0. INT8 -> INT8 with one scale copies q.
template <typename Ti, typename To>
__global__ void __launch_bounds__(256) reformatInt8(const Ti* __restrict__ x, To* __restrict__ y, Int8ReformatParams p, int64_t total) {
    const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
    const int64_t cpo = p.out.fmt == 2 ? (p.C + 3) / 4 * 4 : p.out.fmt == 1 ? p.out.Cp : p.C;
    constexpr bool kCopyQ = std::is_same<Ti, int8_t>::value && std::is_same<To, int8_t>::value;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
        const int64_t pix = i % p.HW, t = i / p.HW, g = t % p.groups, n = t / p.groups;
        To v[4];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int64_t c = g * 4 + j;
            if (c >= p.C) {
                v[j] = To(0);
            } else {
                const Ti* xp = x + int8SideOffset(p.in, n, c, pix, p.HW);
                if constexpr (kCopyQ) {
                    if (p.in.scale == p.out.scale) {
                        v[j] = __ldg(xp);
                        continue;
                    }
                }
                int8Store(&v[j], int8Load(xp, p.in.scale), p.out.scale);
            }
        }
        if constexpr (std::is_same<To, int8_t>::value) {
            if (p.outWords) {  // a whole CHW4 group, or 4 channels of an NHWC pixel: one aligned word
                uint32_t w = 0;
#pragma unroll
                for (int j = 0; j < 4; ++j) w |= static_cast<uint32_t>(static_cast<uint8_t>(v[j])) << (8 * j);
                *reinterpret_cast<uint32_t*>(y + int8SideOffset(p.out, n, g * 4, pix, p.HW)) = w;
                continue;
            }
        }
#pragma unroll
        for (int j = 0; j < 4; ++j)
            if (g * 4 + j < cpo) y[int8SideOffset(p.out, n, g * 4 + j, pix, p.HW)] = v[j];
    }
}

Int8Side int8Side(const TensorDesc& d) {
    Int8Side s;
    s.fmt = d.format == TensorFormat::kCHW4 ? 2 : isChannelsLast(d.format) ? 1 : 0;
    s.Cp = d.dims.nbDims == 4 ? storedChannels(d.dims.d[1], d.format) : 0;
    s.bs = d.dims.nbDims > 0 ? d.strides.d[0] : 0;
    s.scale = d.scale;
    return s;
}

template <typename Ti, typename To>
void reformatInt8Launch(const KernelCall& c) {
    const TensorDesc& in = c.inDesc[0];
    const TensorDesc& out = c.outDesc[0];
    const Dims& d = in.dims;
    if (volume(d) == 0) return;
    GIE_CHECK(d.nbDims == 4 || (in.format == TensorFormat::kLINEAR && out.format == TensorFormat::kLINEAR), ErrorCode::kUNSUPPORTED, "Reformat: ",
              formatName(in.format), " -> ", formatName(out.format), " needs a 4-D tensor, got ", toString(d));
    Int8ReformatParams p;
    const int64_t N = d.nbDims > 0 ? d.d[0] : 1;
    p.C = d.nbDims > 1 ? d.d[1] : 1;
    p.HW = 1;
    for (int i = 2; i < d.nbDims; ++i) p.HW *= d.d[i];
    p.in = int8Side(in);
    p.out = int8Side(out);
    const int64_t cpo = out.format == TensorFormat::kLINEAR ? p.C : storedChannels(p.C, out.format);
    GIE_CHECK(out.format != TensorFormat::kCHW4 || cuda::alignedTo(c.outputs[0], 4), ErrorCode::kINTERNAL, "Reformat (GPU): a CHW4 output must be 4-byte aligned");
    p.outWords = out.type == DataType::kINT8 &&
                 (out.format == TensorFormat::kCHW4 ||
                  (out.format == TensorFormat::kNHWC && p.C % 4 == 0 && p.out.bs % 4 == 0 && cuda::alignedTo(c.outputs[0], 4)));
    p.groups = cuda::ceilDiv(cpo, 4);
    const int64_t total = N * p.groups * p.HW;
    reformatInt8<Ti, To><<<cuda::gridFor(total), 256, 0, cuda::streamOf(c)>>>(c.in<Ti>(0), c.out<To>(0), p, total);
    cuda::checkLaunch("reformat_int8");
}

//! f(Ti{}, To{}) with the storage types of the call's input and output (float, __half or int8_t).
template <typename F>
void withStorageTypes(const KernelCall& c, F&& f) {
    auto withType = [](DataType t, auto&& g) {
        if (t == DataType::kFLOAT) g(float{});
        else if (t == DataType::kHALF) g(__half{});
        else g(int8_t{});
    };
    withType(c.inDesc[0].type, [&](auto xi) { withType(c.outDesc[0].type, [&](auto yo) { f(xi, yo); }); });
}

class ReformatGpu final : public Kernel<ReformatGpu, ReformatOp> {
public:
    using Kernel::Kernel;
    //! The float rule, plus INT8 LINEAR / NHWC / CHW4 with a scale on either side (quantize, dequantize, move).
    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t nIn, int32_t nOut) const noexcept override {
        return op_.supportsWithInt8(pos, inOut, nIn, nOut);
    }
    void run(const KernelCall& c) const override {
        const DataType ti = c.inDesc[0].type, to = c.outDesc[0].type;
        GIE_CHECK((floatClass(ti) || ti == DataType::kINT8) && (floatClass(to) || to == DataType::kINT8), ErrorCode::kUNSUPPORTED,
                  "Reformat (GPU): ", dataTypeName(ti), " -> ", dataTypeName(to), "; only float32, float16 and int8 are supported");
        withStorageTypes(c, [&](auto xi, auto yo) {
            using Ti = decltype(xi);
            using To = decltype(yo);
            if constexpr (std::is_same<Ti, int8_t>::value || std::is_same<To, int8_t>::value) reformatInt8Launch<Ti, To>(c);
            else reformat<Ti, To>(c);
        });
    }
};
GIE_REGISTER_KERNEL(ReformatGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
