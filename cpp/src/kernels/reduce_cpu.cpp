// CPU Reduce over any set of axes.
//
// Size-1 dimensions are dropped and adjacent dimensions with the same role (kept / reduced) merged. If the
// innermost group is kept, each task accumulates whole contiguous rows of it (vectorizable); otherwise
// each output element reduces contiguous runs of the innermost reduced group. Sums and products
// accumulate in double.
#include <algorithm>
#include <cmath>
#include <limits>

#include "common/parallel.h"
#include "layers/reduce.h"

namespace gie {
namespace {

struct Group {
    int64_t size, stride;  // stride in the input, elements
};

//! Decomposes index `idx` over `gs` (row-major, last fastest) into an input offset.
inline int64_t offsetOf(int64_t idx, const Group* gs, int n) {
    int64_t off = 0;
    for (int j = n - 1; j >= 0; --j) {
        int64_t c = idx % gs[j].size;
        idx /= gs[j].size;
        off += c * gs[j].stride;
    }
    return off;
}

class ReduceCpu final : public Kernel<ReduceCpu, ReduceOp> {
public:
    using Kernel::Kernel;
    void run(const KernelCall& c) const override {
        const Dims& x = c.inDims(0);
        const float* in = c.in(0);
        float* out = c.out(0);
        const int64_t nOut = volume(c.outDims(0));
        if (nOut == 0) return;
        // Merge dimensions into groups of one role.
        int64_t sizes[Dims::MAX_DIMS];
        bool role[Dims::MAX_DIMS];
        const int ng = op_.groupDims(x, sizes, role);
        Group kept[Dims::MAX_DIMS], reduced[Dims::MAX_DIMS];
        int nk = 0, nr = 0;
        int64_t stride = 1;
        Group tmp[Dims::MAX_DIMS];
        for (int g = ng - 1; g >= 0; --g) {
            tmp[g] = {sizes[g], stride};
            stride *= sizes[g];
        }
        for (int g = 0; g < ng; ++g) (role[g] ? reduced[nr++] : kept[nk++]) = tmp[g];
        const int64_t total = volume(x);
        const int64_t count = nOut == 0 ? 0 : total / nOut;  // elements per output
        const ReduceOperation op = op_.op;
        const bool innerKept = ng > 0 && !role[ng - 1];

        if (innerKept) {
            // out[o, j] over the outer kept groups o and the innermost kept group j (contiguous).
            const int64_t inner = kept[nk - 1].size;
            const int nko = nk - 1;
            const int64_t outer = nOut / inner;
            const int64_t chunk = 256;
            const int64_t nChunks = (inner + chunk - 1) / chunk;
            int64_t rcount = 1;
            for (int j = 0; j < nr; ++j) rcount *= reduced[j].size;
            parallelFor(outer * nChunks, total, [&](int64_t task) {
                const int64_t o = task / nChunks, j0 = (task % nChunks) * chunk, j1 = std::min(inner, j0 + chunk);
                const int64_t base = offsetOf(o, kept, nko) + j0;
                const int64_t w = j1 - j0;
                double acc[chunk];
                float facc[chunk];
                if (op == ReduceOperation::kMAX || op == ReduceOperation::kMIN) {
                    const float init = op == ReduceOperation::kMAX ? -std::numeric_limits<float>::infinity()
                                                                   : std::numeric_limits<float>::infinity();
                    std::fill(facc, facc + w, init);
                    for (int64_t r = 0; r < rcount; ++r) {
                        const float* p = in + base + offsetOf(r, reduced, nr);
                        if (op == ReduceOperation::kMAX)
                            for (int64_t j = 0; j < w; ++j) facc[j] = p[j] > facc[j] || std::isnan(p[j]) ? p[j] : facc[j];
                        else
                            for (int64_t j = 0; j < w; ++j) facc[j] = p[j] < facc[j] || std::isnan(p[j]) ? p[j] : facc[j];
                    }
                    std::copy(facc, facc + w, out + o * inner + j0);
                    return;
                }
                const bool prod = op == ReduceOperation::kPROD;
                std::fill(acc, acc + w, prod ? 1.0 : 0.0);
                for (int64_t r = 0; r < rcount; ++r) {
                    const float* p = in + base + offsetOf(r, reduced, nr);
                    if (prod)
                        for (int64_t j = 0; j < w; ++j) acc[j] *= p[j];
                    else
                        for (int64_t j = 0; j < w; ++j) acc[j] += p[j];
                }
                const double div = op == ReduceOperation::kAVG ? static_cast<double>(count) : 1.0;
                for (int64_t j = 0; j < w; ++j) out[o * inner + j0 + j] = static_cast<float>(acc[j] / div);
            });
            return;
        }

        // The innermost group is reduced (or there are no groups): each output reduces contiguous runs.
        const int64_t run = nr > 0 ? reduced[nr - 1].size : 1;
        const int nro = nr > 0 ? nr - 1 : 0;
        int64_t rcount = 1;
        for (int j = 0; j < nro; ++j) rcount *= reduced[j].size;
        parallelFor(nOut, total, [&](int64_t o) {
            const int64_t base = offsetOf(o, kept, nk);
            if (op == ReduceOperation::kMAX || op == ReduceOperation::kMIN) {
                const bool isMax = op == ReduceOperation::kMAX;
                float m = isMax ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
                for (int64_t r = 0; r < rcount; ++r) {
                    const float* p = in + base + offsetOf(r, reduced, nro);
                    for (int64_t j = 0; j < run; ++j) {
                        float v = p[j];
                        if (isMax ? (v > m || std::isnan(v)) : (v < m || std::isnan(v))) m = v;
                    }
                }
                out[o] = m;
                return;
            }
            const bool prod = op == ReduceOperation::kPROD;
            double acc = prod ? 1.0 : 0.0;
            for (int64_t r = 0; r < rcount; ++r) {
                const float* p = in + base + offsetOf(r, reduced, nro);
                if (prod) {
                    for (int64_t j = 0; j < run; ++j) acc *= p[j];
                } else {
                    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                    int64_t j = 0;
                    for (; j + 4 <= run; j += 4) {
                        s0 += p[j];
                        s1 += p[j + 1];
                        s2 += p[j + 2];
                        s3 += p[j + 3];
                    }
                    for (; j < run; ++j) s0 += p[j];
                    acc += (s0 + s1) + (s2 + s3);
                }
            }
            out[o] = static_cast<float>(op == ReduceOperation::kAVG ? acc / static_cast<double>(count) : acc);
        });
    }
};
GIE_REGISTER_KERNEL(ReduceCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
