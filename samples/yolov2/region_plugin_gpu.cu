// The Region plugin's CUDA kernel and creator (built when the library is configured with CUDA). It computes
// what the CPU kernel computes (region_plugin.h; the arithmetic is shared through region_math.h), on the
// stream gie gives it, in three launches:
//   1. decode: one thread per box writes the box and appends each class's (score, box) key that passes the
//      threshold to the candidate list of (image, class);
//   2. one block per (image, class) sorts its candidates (bitonic, shared memory when they fit) and runs
//      greedy NMS over them in order, appending the survivors to the image's list;
//   3. one block per image sorts its survivors and writes the first max_detections rows.
// The appends (atomicAdd) land in any order; every list is sorted by the same total order as on the CPU
// (makeKey), so the result does not depend on it.
#include "region_plugin.h"

#include "region_math.h"

#include <cuda_runtime.h>

namespace region {
namespace {

constexpr int kThreads = 256;
constexpr int kSmemKeys = 2048;  // a list this long or shorter is sorted in shared memory
constexpr size_t kSmemBytes = kSmemKeys * (sizeof(uint64_t) + 1);

int64_t nextPow2(int64_t v) {
    int64_t p = 1;
    while (p < v) p <<= 1;
    return p;
}
size_t align256(size_t v) { return (v + 255) / 256 * 256; }

//! Workspace: boxes (float4 per box), candidate keys and suppression flags per (image, class) (capacity pb),
//! the candidate and survivor counters, survivor keys per image (capacity ps).
struct Layout {
    int64_t pb = 0, ps = 0;
    size_t boxes = 0, cand = 0, supp = 0, counts = 0, surv = 0, total = 0;
    Layout(int64_t n, int64_t nb, int32_t classes) {
        pb = nextPow2(nb);
        ps = nextPow2(nb * (classes > 0 ? classes : 1));
        const int64_t slots = n * classes;
        size_t off = 0;
        boxes = off;
        off += align256(static_cast<size_t>(n * nb) * sizeof(float4));
        cand = off;
        off += align256(static_cast<size_t>(slots * pb) * sizeof(uint64_t));
        supp = off;
        off += align256(static_cast<size_t>(slots * pb));
        counts = off;
        off += align256(static_cast<size_t>(slots + n) * sizeof(int));
        surv = off;
        off += align256(static_cast<size_t>(n * ps) * sizeof(uint64_t));
        total = off;
    }
};

struct Geometry {
    int64_t n, h, w, nb;
    int32_t num, classes;
    bool softmax;
    float threshold, nmsThreshold;
    int32_t maxDetections;
    int64_t pb, ps;
};

__device__ Box loadBox(const float4* boxes, int64_t i) {
    const float4 f = boxes[i];
    return Box{f.x, f.y, f.z, f.w};
}

//! Sorts keys[0, p) (p a power of two) descending; all threads of the block take part.
__device__ void bitonicSortDesc(uint64_t* keys, int64_t p) {
    for (int64_t k = 2; k <= p; k <<= 1)
        for (int64_t j = k >> 1; j > 0; j >>= 1) {
            for (int64_t i = threadIdx.x; i < p; i += blockDim.x) {
                const int64_t l = i ^ j;
                if (l > i) {
                    const uint64_t a = keys[i], b = keys[l];
                    if ((i & k) == 0 ? a < b : a > b) {
                        keys[i] = b;
                        keys[l] = a;
                    }
                }
            }
            __syncthreads();
        }
}

//! Brings the list `global[0, m)` into shared memory when it fits, pads it with 0 to a power of two and sorts
//! it; returns where the sorted list is.
__device__ uint64_t* sortList(uint64_t* global, int64_t m, int64_t& p, unsigned char* smem) {
    p = 1;
    while (p < m) p <<= 1;
    uint64_t* keys = p <= kSmemKeys ? reinterpret_cast<uint64_t*>(smem) : global;
    for (int64_t i = threadIdx.x; i < p; i += blockDim.x) keys[i] = i < m ? global[i] : 0;
    __syncthreads();
    bitonicSortDesc(keys, p);
    return keys;
}

__global__ void decodeKernel(const float* raw, Geometry g, const float* anchors, float4* boxes, uint64_t* cand, int* candCount) {
    const int64_t hw = g.h * g.w, entries = 5 + g.classes, total = g.n * g.nb;
    for (int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; t < total;
         t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t img = t / g.nb, b = t % g.nb, a = b / hw, cell = b % hw;
        const float* p = raw + (img * g.num + a) * entries * hw + cell;
        const Box box = decodeBox(p, hw, cell / g.w, cell % g.w, g.h, g.w, anchors[2 * a], anchors[2 * a + 1]);
        boxes[t] = make_float4(box.x, box.y, box.w, box.h);
        const ClassStats st = classStats(p, hw, g.classes, g.softmax);
        for (int32_t k = 0; k < g.classes; ++k) {
            const float prob = classProb(p, hw, k, g.softmax, st);
            if (prob > g.threshold) {
                const int64_t slot = img * g.classes + k;
                const int pos = atomicAdd(&candCount[slot], 1);
                cand[slot * g.pb + pos] = makeKey(prob, static_cast<uint32_t>(b));
            }
        }
    }
}

__global__ void nmsKernel(Geometry g, const float4* boxes, uint64_t* cand, unsigned char* supp, const int* candCount,
                          uint64_t* surv, int* survCount) {
    extern __shared__ __align__(16) unsigned char smem[];
    const int64_t slot = blockIdx.x, img = slot / g.classes, k = slot % g.classes;
    const int64_t m = candCount[slot];
    if (m == 0) return;
    int64_t p = 0;
    const uint64_t* keys = sortList(cand + slot * g.pb, m, p, smem);
    unsigned char* sup = p <= kSmemKeys ? smem + kSmemKeys * sizeof(uint64_t) : supp + slot * g.pb;
    for (int64_t i = threadIdx.x; i < m; i += blockDim.x) sup[i] = 0;
    __syncthreads();
    const float4* imgBoxes = boxes + img * g.nb;
    for (int64_t i = 0; i < m; ++i) {
        if (sup[i]) continue;  // final since the last barrier: every thread skips alike
        const Box bi = loadBox(imgBoxes, keyIndex(keys[i]));
        for (int64_t j = i + 1 + threadIdx.x; j < m; j += blockDim.x)
            if (!sup[j] && boxIou(bi, loadBox(imgBoxes, keyIndex(keys[j]))) > g.nmsThreshold) sup[j] = 1;
        __syncthreads();
    }
    for (int64_t i = threadIdx.x; i < m; i += blockDim.x)
        if (!sup[i]) {
            const int pos = atomicAdd(&survCount[img], 1);
            surv[img * g.ps + pos] = makeKey(keyScore(keys[i]), keyIndex(keys[i]) * static_cast<uint32_t>(g.classes) + static_cast<uint32_t>(k));
        }
}

__global__ void selectKernel(Geometry g, const float4* boxes, uint64_t* surv, const int* survCount, float* outBoxes,
                             float* outScores, int32_t* outClasses, int32_t* outCount) {
    extern __shared__ __align__(16) unsigned char smem[];
    const int64_t img = blockIdx.x, s = survCount[img];
    int64_t p = 0;
    const uint64_t* keys = sortList(surv + img * g.ps, s, p, smem);
    const int64_t m = g.maxDetections, count = s < m ? s : m;
    for (int64_t r = threadIdx.x; r < m; r += blockDim.x) {
        Box b{0, 0, 0, 0};
        float score = 0;
        int32_t cls = -1;
        if (r < count) {
            const uint32_t idx = keyIndex(keys[r]);
            b = loadBox(boxes + img * g.nb, idx / static_cast<uint32_t>(g.classes));
            score = keyScore(keys[r]);
            cls = static_cast<int32_t>(idx % static_cast<uint32_t>(g.classes));
        }
        float* row = outBoxes + (img * m + r) * 4;
        row[0] = b.x;
        row[1] = b.y;
        row[2] = b.w;
        row[3] = b.h;
        outScores[img * m + r] = score;
        outClasses[img * m + r] = cls;
    }
    if (threadIdx.x == 0) outCount[img] = static_cast<int32_t>(count);
}

bool cudaOk(cudaError_t e, const char* what) {
    if (e == cudaSuccess) return true;
    gie::setLastError(gie::ErrorCode::kINTERNAL, (std::string("Region (GPU): ") + what + ": " + cudaGetErrorString(e)).c_str());
    return false;
}

class RegionPluginGpu final : public RegionPluginBase {
public:
    using RegionPluginBase::RegionPluginBase;
    // A copy gets its own device anchors at its own initialize().
    RegionPluginGpu(const RegionPluginGpu& o) : RegionPluginBase(o), maxN_(o.maxN_), maxBoxes_(o.maxBoxes_) {}
    RegionPluginGpu& operator=(const RegionPluginGpu&) = delete;
    ~RegionPluginGpu() override { terminate(); }

    gie::IPlugin* clone() const noexcept override { return new (std::nothrow) RegionPluginGpu(*this); }

    int32_t configure(const gie::TensorDesc* inputs, int32_t, const gie::TensorDesc*, int32_t) noexcept override {
        Shape s;
        if (!shapeOf(inputs[0].dims, s)) return -1;
        maxN_ = s.n;
        maxBoxes_ = s.boxes;
        return 0;
    }
    size_t getWorkspaceSize() const noexcept override { return Layout(maxN_, maxBoxes_, p_.classes).total; }

    int32_t initialize() noexcept override {
        if (devAnchors_) return 0;
        const size_t bytes = p_.anchors.size() * sizeof(float);
        if (!cudaOk(cudaMalloc(&devAnchors_, bytes), "cudaMalloc of the anchors")) return -1;
        if (!cudaOk(cudaMemcpy(devAnchors_, p_.anchors.data(), bytes, cudaMemcpyHostToDevice), "copying the anchors")) {
            terminate();
            return -1;
        }
        return 0;
    }
    void terminate() noexcept override {
        if (devAnchors_) cudaFree(devAnchors_);
        devAnchors_ = nullptr;
    }

    int32_t enqueue(const gie::TensorDesc* inputDesc, const gie::TensorDesc*, const void* const* inputs,
                    void* const* outputs, void* workspace, void* streamPtr) const noexcept override {
        try {
            Shape s;
            if (!shapeOf(inputDesc[0].dims, s)) return -1;
            if (s.n == 0) return 0;
            const Layout l(s.n, s.boxes, p_.classes);
            if (!devAnchors_ || l.total > getWorkspaceSize()) {
                gie::setLastError(gie::ErrorCode::kINTERNAL, !devAnchors_ ? "Region (GPU): enqueue before initialize"
                                                                           : "Region (GPU): input larger than at configure");
                return -1;
            }
            cudaStream_t stream = static_cast<cudaStream_t>(streamPtr);
            char* ws = static_cast<char*>(workspace);
            float4* boxes = reinterpret_cast<float4*>(ws + l.boxes);
            uint64_t* cand = reinterpret_cast<uint64_t*>(ws + l.cand);
            unsigned char* supp = reinterpret_cast<unsigned char*>(ws + l.supp);
            int* candCount = reinterpret_cast<int*>(ws + l.counts);
            int* survCount = candCount + s.n * p_.classes;
            uint64_t* surv = reinterpret_cast<uint64_t*>(ws + l.surv);
            const Geometry g{s.n, s.h, s.w, s.boxes, p_.num, p_.classes, p_.softmax != 0, p_.threshold,
                             p_.nmsThreshold, p_.maxDetections, l.pb, l.ps};
            if (!cudaOk(cudaMemsetAsync(candCount, 0, static_cast<size_t>(s.n * p_.classes + s.n) * sizeof(int), stream), "clearing counters"))
                return -1;
            const int64_t total = s.n * s.boxes;
            const int blocks = static_cast<int>(std::min<int64_t>((total + kThreads - 1) / kThreads, 4096));
            decodeKernel<<<blocks, kThreads, 0, stream>>>(static_cast<const float*>(inputs[0]), g, devAnchors_, boxes, cand, candCount);
            if (p_.classes > 0)
                nmsKernel<<<static_cast<unsigned>(s.n * p_.classes), kThreads, kSmemBytes, stream>>>(g, boxes, cand, supp, candCount, surv, survCount);
            selectKernel<<<static_cast<unsigned>(s.n), kThreads, kSmemBytes, stream>>>(
                g, boxes, surv, survCount, static_cast<float*>(outputs[0]), static_cast<float*>(outputs[1]),
                static_cast<int32_t*>(outputs[2]), static_cast<int32_t*>(outputs[3]));
            return cudaOk(cudaGetLastError(), "kernel launch") ? 0 : -1;
        } catch (...) {
            gie::setLastError(gie::ErrorCode::kOUT_OF_MEMORY, "Region: out of memory in enqueue");
            return -1;
        }
    }

private:
    int64_t maxN_ = 0, maxBoxes_ = 0;
    float* devAnchors_ = nullptr;
};

using RegionCreatorGpu = RegionCreator<RegionPluginGpu, gie::DeviceType::kGPU>;

}  // namespace
}  // namespace region

GIE_REGISTER_PLUGIN_CREATOR(region::RegionCreatorGpu);
