// The Region plugin's CPU kernel and creator (see region_plugin.h for what it computes). The library also
// registers the CUDA kernel's creator (region_plugin_gpu.cu) when it was built with CUDA.
#include "region_plugin.h"

#include "region_math.h"

namespace region {
namespace {

class RegionPluginCpu final : public RegionPluginBase {
public:
    using RegionPluginBase::RegionPluginBase;

    gie::IPlugin* clone() const noexcept override { return new (std::nothrow) RegionPluginCpu(*this); }

    // const and reentrant: every scratch vector is local to the call.
    int32_t enqueue(const gie::TensorDesc* inputDesc, const gie::TensorDesc*, const void* const* inputs,
                    void* const* outputs, void*, void*) const noexcept override {
        try {
            Shape s;
            if (!shapeOf(inputDesc[0].dims, s)) return -1;
            const float* raw = static_cast<const float*>(inputs[0]);
            for (int64_t n = 0; n < s.n; ++n) detectImage(s, raw + n * inputDesc[0].dims.d[1] * s.h * s.w, n, outputs);
            return 0;
        } catch (...) {
            gie::setLastError(gie::ErrorCode::kOUT_OF_MEMORY, "Region: out of memory in enqueue");
            return -1;
        }
    }

private:
    void detectImage(const Shape& s, const float* x, int64_t n, void* const* outputs) const {
        const int64_t hw = s.h * s.w, entries = p_.coords + 1 + p_.classes;
        const int32_t classes = p_.classes;
        const bool softmax = p_.softmax != 0;
        std::vector<Box> boxes(static_cast<size_t>(s.boxes));
        std::vector<std::vector<uint64_t>> candidates(static_cast<size_t>(classes));  // per class: key(score, box)
        for (int64_t a = 0; a < p_.num; ++a)
            for (int64_t cell = 0; cell < hw; ++cell) {
                const int64_t b = a * hw + cell;
                const float* p = x + a * entries * hw + cell;
                boxes[static_cast<size_t>(b)] = decodeBox(p, hw, cell / s.w, cell % s.w, s.h, s.w, p_.anchors[2 * a], p_.anchors[2 * a + 1]);
                const ClassStats st = classStats(p, hw, classes, softmax);
                for (int32_t k = 0; k < classes; ++k) {
                    const float prob = classProb(p, hw, k, softmax, st);
                    if (prob > p_.threshold) candidates[static_cast<size_t>(k)].push_back(makeKey(prob, static_cast<uint32_t>(b)));
                }
            }
        // Greedy NMS within each class, in key order; the survivors keyed by (score, box * classes + class).
        std::vector<uint64_t> kept;
        std::vector<char> suppressed;
        for (int32_t k = 0; k < classes; ++k) {
            std::vector<uint64_t>& c = candidates[static_cast<size_t>(k)];
            std::sort(c.begin(), c.end(), [](uint64_t u, uint64_t v) { return u > v; });
            suppressed.assign(c.size(), 0);
            for (size_t i = 0; i < c.size(); ++i) {
                if (suppressed[i]) continue;
                const Box& bi = boxes[keyIndex(c[i])];
                for (size_t j = i + 1; j < c.size(); ++j)
                    if (!suppressed[j] && boxIou(bi, boxes[keyIndex(c[j])]) > p_.nmsThreshold) suppressed[j] = 1;
                kept.push_back(makeKey(keyScore(c[i]), keyIndex(c[i]) * static_cast<uint32_t>(classes) + static_cast<uint32_t>(k)));
            }
        }
        std::sort(kept.begin(), kept.end(), [](uint64_t u, uint64_t v) { return u > v; });
        const int64_t m = p_.maxDetections;
        const int64_t count = std::min<int64_t>(m, static_cast<int64_t>(kept.size()));
        float* outBoxes = static_cast<float*>(outputs[0]) + n * m * 4;
        float* outScores = static_cast<float*>(outputs[1]) + n * m;
        int32_t* outClasses = static_cast<int32_t*>(outputs[2]) + n * m;
        for (int64_t r = 0; r < m; ++r) {
            Box b{0, 0, 0, 0};
            float score = 0;
            int32_t cls = -1;
            if (r < count) {
                const uint32_t idx = keyIndex(kept[static_cast<size_t>(r)]);
                b = boxes[idx / static_cast<uint32_t>(classes)];
                score = keyScore(kept[static_cast<size_t>(r)]);
                cls = static_cast<int32_t>(idx % static_cast<uint32_t>(classes));
            }
            outBoxes[4 * r] = b.x;
            outBoxes[4 * r + 1] = b.y;
            outBoxes[4 * r + 2] = b.w;
            outBoxes[4 * r + 3] = b.h;
            outScores[r] = score;
            outClasses[r] = cls;
        }
        static_cast<int32_t*>(outputs[3])[n] = static_cast<int32_t>(count);
    }
};

using RegionCreatorCpu = RegionCreator<RegionPluginCpu, gie::DeviceType::kCPU>;

}  // namespace
}  // namespace region

// Registered when the library is loaded (gie.load_library / IPluginRegistry::loadLibrary).
GIE_REGISTER_PLUGIN_CREATOR(region::RegionCreatorCpu);
