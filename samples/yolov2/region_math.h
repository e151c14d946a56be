// The arithmetic of the Region plugin, written once for the CPU kernel (region_plugin.cpp) and the CUDA kernel
// (region_plugin_gpu.cu): darknet's box decoding (forward_region_layer + get_region_box), its class
// probabilities (softmax or logistic, times objectness) and its box IoU (box_iou in box.c), plus the sort key
// that orders detections the same way on both devices.
//
// Both builds keep these expressions unfused (CMakeLists.txt: -ffp-contract=off / -fmad=false), so the two
// kernels round alike except where the math library does (expf: the CUDA one is within 2 ulp of glibc's).
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__CUDACC__)
#define REGION_HD __host__ __device__ __forceinline__
#else
#define REGION_HD inline
#endif

namespace region {

//! A box as darknet holds it: centre and size, relative to the network input (0..1).
struct Box {
    float x, y, w, h;
};

REGION_HD float logistic(float x) { return 1.0f / (1.0f + expf(-x)); }

//! Box `b` (anchor a, cell (row, col)) of one image: `p` points at its x channel value; the channel values of
//! this anchor are `stride` (= H*W) apart, as in the raw (C, H, W) map (darknet's entry_index order).
REGION_HD Box decodeBox(const float* p, int64_t stride, int64_t row, int64_t col, int64_t h, int64_t w,
                        float anchorW, float anchorH) {
    Box b;
    b.x = (static_cast<float>(col) + logistic(p[0])) / static_cast<float>(w);
    b.y = (static_cast<float>(row) + logistic(p[stride])) / static_cast<float>(h);
    b.w = expf(p[2 * stride]) * anchorW / static_cast<float>(w);
    b.h = expf(p[3 * stride]) * anchorH / static_cast<float>(h);
    return b;
}

//! Objectness and the softmax statistics of one box (class logits start at channel 5).
struct ClassStats {
    float objectness, largest, sum;
};

REGION_HD ClassStats classStats(const float* p, int64_t stride, int32_t classes, bool softmax) {
    ClassStats s;
    s.objectness = logistic(p[4 * stride]);
    s.largest = -INFINITY;
    s.sum = 0.0f;
    if (softmax) {  // darknet's softmax(): subtract the largest, sum the exponentials in class order
        for (int32_t k = 0; k < classes; ++k) s.largest = fmaxf(s.largest, p[(5 + k) * stride]);
        for (int32_t k = 0; k < classes; ++k) s.sum += expf(p[(5 + k) * stride] - s.largest);
    }
    return s;
}

//! objectness * P(class k), as darknet's get_region_detections computes `prob`.
REGION_HD float classProb(const float* p, int64_t stride, int32_t k, bool softmax, const ClassStats& s) {
    const float v = p[(5 + k) * stride];
    const float c = softmax ? expf(v - s.largest) / s.sum : logistic(v);
    return s.objectness * c;
}

//! darknet's overlap(): the length of the overlap of two 1-D extents given by centre and size.
REGION_HD float overlap(float x1, float w1, float x2, float w2) {
    const float l1 = x1 - w1 / 2, l2 = x2 - w2 / 2;
    const float left = l1 > l2 ? l1 : l2;
    const float r1 = x1 + w1 / 2, r2 = x2 + w2 / 2;
    const float right = r1 < r2 ? r1 : r2;
    return right - left;
}

//! darknet's box_iou(). Where darknet divides 0 by 0 (two empty boxes) the NaN never exceeds a threshold;
//! 0 says the same without the NaN.
REGION_HD float boxIou(const Box& a, const Box& b) {
    const float w = overlap(a.x, a.w, b.x, b.w), h = overlap(a.y, a.h, b.y, b.h);
    const float inter = (w < 0 || h < 0) ? 0.0f : w * h;
    const float uni = a.w * a.h + b.w * b.h - inter;
    return uni > 0 ? inter / uni : 0.0f;
}

//! Detections are ordered by score (descending), then by `index` (ascending): index is the box (NMS within a
//! class) or box * classes + class (the final list). Scores are > threshold >= 0, so their float bits order
//! like the values, and one descending sort of these keys gives that order on either device. Key 0 (below
//! every real key) pads sorts.
REGION_HD uint64_t makeKey(float score, uint32_t index) {
    uint32_t bits;
    memcpy(&bits, &score, sizeof bits);
    return (static_cast<uint64_t>(bits) << 32) | static_cast<uint64_t>(0xFFFFFFFFu - index);
}
REGION_HD float keyScore(uint64_t key) {
    const uint32_t bits = static_cast<uint32_t>(key >> 32);
    float score;
    memcpy(&score, &bits, sizeof score);
    return score;
}
REGION_HD uint32_t keyIndex(uint64_t key) { return 0xFFFFFFFFu - static_cast<uint32_t>(key & 0xFFFFFFFFu); }

}  // namespace region
