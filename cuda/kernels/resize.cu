// GPU Resize: nearest (any element type) and multilinear (float32, or float16 loaded as float32, computed like
// float32 and rounded once at the store), the semantics of
// kernels/resize_cpu.cpp / layers/resize.h: ONNX coordinate transformations (half_pixel, asymmetric,
// align_corners, pytorch_half_pixel) and nearest rounding modes (round_prefer_floor / ceil, floor, ceil);
// the batch (dimension 0) is never resized; linear clamps both taps to the border.
//
// Per resized dimension a table maps each output coordinate to its input index (nearest) or to two input
// indices and float weights (linear), computed in double exactly like the CPU's (same formulas, same IEEE
// operations). The tables of the configured shapes are computed at configure() and uploaded once at
// initialize(); a call whose non-batch dims differ (possible only when a Shuffle moved the batch into
// another dimension) recomputes them on the device into the workspace first.
//
// Then one thread per output element. Linear mode reproduces the CPU's arithmetic order exactly (no FMA
// contraction): the weight of each corner of the interpolated outer dimensions is the product of their
// weights in dimension order, corners are accumulated in the CPU's order onto 0.f, and a non-identity
// innermost dimension contributes w * (w0 * x[i0] + w1 * x[i1]). Dimensions whose table is the identity
// are not interpolated, like on the CPU.
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "common.cuh"
#include "fp16.cuh"
#include "layers/resize.h"

namespace gie {
namespace {

constexpr int kMaxR = Dims::MAX_DIMS;

struct LinearEntry {
    int32_t i0, i1;
    float w0, w1;
};

// ---- coordinate mapping (layers/resize.h, usable on both sides) -----------------------------------------

__host__ __device__ inline double sourceCoord(int ct, double o, int64_t in, int64_t out, double s) {
    switch (ct) {
        case static_cast<int>(ResizeCoordinateTransformation::kHALF_PIXEL): return (o + 0.5) / s - 0.5;
        case static_cast<int>(ResizeCoordinateTransformation::kASYMMETRIC): return o / s;
        case static_cast<int>(ResizeCoordinateTransformation::kALIGN_CORNERS):
            return out == 1 ? 0.0 : o * static_cast<double>(in - 1) / static_cast<double>(out - 1);
        case static_cast<int>(ResizeCoordinateTransformation::kPYTORCH_HALF_PIXEL): return out > 1 ? (o + 0.5) / s - 0.5 : 0.0;
    }
    return 0.0;
}

__host__ __device__ inline int32_t nearestIndex(int round_, double x, int64_t in) {
    double r;
    switch (round_) {
        case static_cast<int>(ResizeRoundMode::kROUND_PREFER_FLOOR): r = (x - floor(x) == 0.5) ? floor(x) : round(x); break;
        case static_cast<int>(ResizeRoundMode::kROUND_PREFER_CEIL): r = (x - floor(x) == 0.5) ? ceil(x) : round(x); break;
        case static_cast<int>(ResizeRoundMode::kFLOOR): r = floor(x); break;
        default: r = ceil(x); break;
    }
    int64_t i = static_cast<int64_t>(r);
    return static_cast<int32_t>(i < 0 ? 0 : (i >= in ? in - 1 : i));
}

__host__ __device__ inline LinearEntry linearEntry(int ct, double o, int64_t in, int64_t out, double s) {
    const double xo = sourceCoord(ct, o, in, out, s);
    const double f = floor(xo);
    const double frac = xo - f;
    int64_t a = static_cast<int64_t>(f), b = a + 1;
    a = a < 0 ? 0 : (a >= in ? in - 1 : a);
    b = b < 0 ? 0 : (b >= in ? in - 1 : b);
    LinearEntry e;
    e.i0 = static_cast<int32_t>(a);
    e.i1 = static_cast<int32_t>(b);
    e.w0 = static_cast<float>(1.0 - frac);
    e.w1 = static_cast<float>(frac);
    return e;
}

//! Everything that defines the tables of one shape.
struct TableSpec {
    int rank = 0;
    int ct = 0, round = 0;
    bool linear = false;
    int64_t in[kMaxR] = {}, out[kMaxR] = {};
    double scale[kMaxR] = {};
    int64_t off[kMaxR] = {};  // first entry of dim k (k >= 1)
    int64_t entries = 0;
    size_t bytes() const { return static_cast<size_t>(entries) * (linear ? sizeof(LinearEntry) : sizeof(int32_t)); }
};

TableSpec makeSpec(const ResizeOp& op, const Dims& x, const Dims& y) {
    TableSpec t;
    t.rank = x.nbDims;
    t.ct = static_cast<int>(op.ct);
    t.round = static_cast<int>(op.round);
    t.linear = op.mode == ResizeMode::kLINEAR;
    for (int k = 0; k < x.nbDims; ++k) {
        t.in[k] = x.d[k];
        t.out[k] = y.d[k];
        if (k == 0) continue;
        t.scale[k] = op.scale(k, x.d[k], y.d[k]);
        t.off[k] = t.entries;
        t.entries += y.d[k];
    }
    return t;
}

//! Host tables (nearest: int32 per entry; linear: LinearEntry) and the identity flag of each dim.
void hostTables(const TableSpec& t, std::vector<uint8_t>& bytes, bool* identity) {
    bytes.assign(t.bytes(), 0);
    identity[0] = true;
    for (int k = 1; k < t.rank; ++k) {
        bool id = t.out[k] == t.in[k];
        for (int64_t o = 0; o < t.out[k]; ++o) {
            const size_t e = static_cast<size_t>(t.off[k] + o);
            if (t.linear) {
                const LinearEntry le = linearEntry(t.ct, static_cast<double>(o), t.in[k], t.out[k], t.scale[k]);
                std::memcpy(bytes.data() + e * sizeof(LinearEntry), &le, sizeof(le));
                if (!(le.i0 == o && le.w1 == 0.f && le.w0 == 1.f)) id = false;
            } else {
                const int32_t ix = nearestIndex(t.round, sourceCoord(t.ct, static_cast<double>(o), t.in[k], t.out[k], t.scale[k]), t.in[k]);
                std::memcpy(bytes.data() + e * sizeof(int32_t), &ix, sizeof(ix));
                if (ix != o) id = false;
            }
        }
        identity[k] = id;
    }
}

// ---- kernels -------------------------------------------------------------------------------------------

//! The tables of `t` on the device (the fallback for shapes other than the configured ones).
__global__ void __launch_bounds__(256) buildTables(TableSpec t, void* __restrict__ tables) {
    const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < t.entries; e += step) {
        int k = 1;
        while (k + 1 < t.rank && e >= t.off[k + 1]) ++k;
        const double o = static_cast<double>(e - t.off[k]);
        if (t.linear)
            static_cast<LinearEntry*>(tables)[e] = linearEntry(t.ct, o, t.in[k], t.out[k], t.scale[k]);
        else
            static_cast<int32_t*>(tables)[e] = nearestIndex(t.round, sourceCoord(t.ct, o, t.in[k], t.out[k], t.scale[k]), t.in[k]);
    }
}

struct MapParams {
    int rank;
    int64_t out[kMaxR];
    int64_t xs[kMaxR];   // input strides
    int64_t off[kMaxR];  // table offsets (entries)
};

template <typename T, typename Idx>
__global__ void __launch_bounds__(256) resizeNearest(const T* __restrict__ x, T* __restrict__ y, const int32_t* __restrict__ map,
                                                     MapParams p, Idx total) {
    const Idx step = static_cast<Idx>(gridDim.x) * blockDim.x;
    for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
        Idx rem = i;
        int64_t off = 0;
#pragma unroll
        for (int k = kMaxR - 1; k >= 1; --k) {
            if (k < p.rank) {
                const Idx nk = static_cast<Idx>(p.out[k]);
                const Idx c = rem % nk;
                rem /= nk;
                off += static_cast<int64_t>(__ldg(map + p.off[k] + c)) * p.xs[k];
            }
        }
        off += static_cast<int64_t>(rem) * p.xs[0];  // the batch
        y[i] = x[off];
    }
}

struct LinearParams {
    MapParams m;
    unsigned interpMask;    // bit k: outer dim k (not the batch, not the innermost) is interpolated
    unsigned identityMask;  // bit k: dim k is taken as is (the batch always)
    bool lastInterp;        // the innermost dim is interpolated
};

template <typename Idx, typename T>
__global__ void __launch_bounds__(256) resizeLinear(const T* __restrict__ x, T* __restrict__ y,
                                                    const LinearEntry* __restrict__ tab, LinearParams p, Idx total) {
    const Idx step = static_cast<Idx>(gridDim.x) * blockDim.x;
    const int r = p.m.rank;
    const int corners = 1 << __popc(p.interpMask);
    for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
        // Decompose; identity dims address directly, interpolated ones fetch their table entry.
        LinearEntry e[kMaxR];
        LinearEntry le{0, 0, 1.f, 0.f};
        int64_t base = 0;
        Idx rem = i;
#pragma unroll
        for (int k = kMaxR - 1; k >= 1; --k) {
            if (k < r) {
                const Idx nk = static_cast<Idx>(p.m.out[k]);
                const Idx c = rem % nk;
                rem /= nk;
                if ((p.identityMask >> k) & 1u) {
                    base += static_cast<int64_t>(c) * p.m.xs[k];
                } else if ((p.interpMask >> k) & 1u) {
                    e[k] = tab[p.m.off[k] + c];
                } else {  // the interpolated innermost dim
                    le = tab[p.m.off[k] + c];
                }
            }
        }
        base += static_cast<int64_t>(rem) * p.m.xs[0];  // the batch
        // Corners in the CPU's order: bit q of cmask is the q-th interpolated dim (ascending).
        float acc = 0.f;
        for (int cmask = 0; cmask < corners; ++cmask) {
            float w = 1.f;
            int64_t off = base;
            int q = 0;
#pragma unroll
            for (int k = 1; k < kMaxR - 1; ++k) {
                if ((p.interpMask >> k) & 1u) {
                    const bool hi = (cmask >> q) & 1;
                    w = __fmul_rn(w, hi ? e[k].w1 : e[k].w0);
                    off += static_cast<int64_t>(hi ? e[k].i1 : e[k].i0) * p.m.xs[k];
                    ++q;
                }
            }
            if (p.lastInterp) {
                const float v = __fadd_rn(__fmul_rn(le.w0, cuda::ldFloat(x + off + le.i0)), __fmul_rn(le.w1, cuda::ldFloat(x + off + le.i1)));
                acc = __fadd_rn(acc, __fmul_rn(w, v));
            } else {
                acc = __fadd_rn(acc, __fmul_rn(w, cuda::ldFloat(x + off)));
            }
        }
        y[i] = cuda::fromFloat<T>(acc);
    }
}

// ---- the kernel class ----------------------------------------------------------------------------------

class ResizeGpu final : public cuda::FloatOrHalfKernel<ResizeGpu, ResizeOp> {
public:
    using FloatOrHalfKernel::FloatOrHalfKernel;
    size_t getWorkspaceSize() const noexcept override { return spec_.bytes(); }
    void initializeKernel() override {
        tablesDev_.reset();
        if (!tablesHost_.empty()) tablesDev_ = cuda::upload(tablesHost_, "Resize coordinate tables");
    }
    void terminate() noexcept override { tablesDev_.reset(); }

protected:
    void configureKernel(const TensorDesc* in, int32_t, const TensorDesc* out, int32_t) override {
        spec_ = makeSpec(op_, in[0].dims, out[0].dims);
        hostTables(spec_, tablesHost_, identity_);
    }

    void run(const KernelCall& c) const override {
        const Dims& x = c.inDims(0);
        const Dims& y = c.outDims(0);
        const int64_t total = volume(y);
        if (total == 0) return;
        const bool linear = op_.mode == ResizeMode::kLINEAR;
        const bool half = c.inDesc[0].type == DataType::kHALF;
        if (linear)
            GIE_CHECK(half || c.inDesc[0].type == DataType::kFLOAT, ErrorCode::kUNSUPPORTED, "Resize: linear mode needs float32 or float16 input, got ",
                      dataTypeName(c.inDesc[0].type));
        cudaStream_t st = cuda::streamOf(c);

        // Tables: the uploaded ones when the non-batch dims are the configured ones, else built on the device.
        const TableSpec spec = makeSpec(op_, x, y);
        bool same = spec.rank == spec_.rank;
        for (int k = 1; same && k < spec.rank; ++k) same = spec.in[k] == spec_.in[k] && spec.out[k] == spec_.out[k];
        const void* tables = nullptr;
        bool identity[kMaxR];
        if (same && (spec.entries == 0 || tablesDev_)) {
            tables = tablesDev_ ? tablesDev_->get() : nullptr;
            for (int k = 0; k < kMaxR; ++k) identity[k] = identity_[k];
        } else {
            GIE_CHECK(spec.bytes() <= spec_.bytes() && (spec.entries == 0 || c.workspace), ErrorCode::kINTERNAL, "Resize: input ",
                      toString(x), " needs ", spec.bytes(), " bytes of coordinate tables; the workspace has ", spec_.bytes());
            std::vector<uint8_t> host;  // only for the identity flags
            hostTables(spec, host, identity);
            if (spec.entries > 0) {
                buildTables<<<cuda::gridFor(spec.entries), 256, 0, st>>>(spec, c.workspace);
                cuda::checkLaunch("resize_tables");
                tables = c.workspace;
            }
        }

        const int r = x.nbDims;
        MapParams m;
        m.rank = r;
        const Dims xs = packedStrides(x);
        for (int k = 0; k < kMaxR; ++k) {
            m.out[k] = k < r ? y.d[k] : 1;
            m.xs[k] = k < r ? xs.d[k] : 0;
            m.off[k] = k < r ? spec.off[k] : 0;
        }
        const bool small = total <= INT32_MAX;
        const unsigned grid = cuda::gridFor(total);
        if (!linear) {
            const auto* map = static_cast<const int32_t*>(tables);
            switch (dataTypeSize(c.inDesc[0].type)) {
                case 1: launchNearest<uint8_t>(c, map, m, total, small, grid, st); break;
                case 2: launchNearest<uint16_t>(c, map, m, total, small, grid, st); break;
                case 4: launchNearest<uint32_t>(c, map, m, total, small, grid, st); break;
                default: fail(ErrorCode::kUNSUPPORTED, "Resize: unsupported data type ", dataTypeName(c.inDesc[0].type));
            }
            return;
        }
        LinearParams p;
        p.m = m;
        p.interpMask = 0;
        p.identityMask = 1u;  // the batch
        p.lastInterp = r >= 2 && !identity[r - 1];
        for (int k = 1; k < r; ++k) {
            if (identity[k])
                p.identityMask |= 1u << k;
            else if (k < r - 1)
                p.interpMask |= 1u << k;
        }
        const auto* tab = static_cast<const LinearEntry*>(tables);
        if (half) launchLinear<__half>(c, tab, p, total, small, grid, st);
        else launchLinear<float>(c, tab, p, total, small, grid, st);
    }

private:
    template <typename T>
    static void launchLinear(const KernelCall& c, const LinearEntry* tab, const LinearParams& p, int64_t total, bool small, unsigned grid,
                             cudaStream_t st) {
        if (small)
            resizeLinear<uint32_t, T><<<grid, 256, 0, st>>>(c.in<T>(0), c.out<T>(0), tab, p, static_cast<uint32_t>(total));
        else
            resizeLinear<int64_t, T><<<grid, 256, 0, st>>>(c.in<T>(0), c.out<T>(0), tab, p, total);
        cuda::checkLaunch("resize_linear");
    }

    template <typename T>
    static void launchNearest(const KernelCall& c, const int32_t* map, const MapParams& m, int64_t total, bool small, unsigned grid,
                              cudaStream_t st) {
        if (small)
            resizeNearest<T, uint32_t><<<grid, 256, 0, st>>>(c.in<T>(0), c.out<T>(0), map, m, static_cast<uint32_t>(total));
        else
            resizeNearest<T, int64_t><<<grid, 256, 0, st>>>(c.in<T>(0), c.out<T>(0), map, m, total);
        cuda::checkLaunch("resize_nearest");
    }

    TableSpec spec_;
    std::vector<uint8_t> tablesHost_;
    bool identity_[kMaxR] = {true, true, true, true, true, true, true, true};
    std::shared_ptr<cuda::DeviceArray> tablesDev_;
};
GIE_REGISTER_KERNEL(ResizeGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
