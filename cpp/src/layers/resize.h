// Resize shape rules and coordinate mapping (ONNX Resize, opset 11+ semantics, without roi).
//
// Fields: mode ResizeMode (nearest: any data type, any dimensions; linear: float32, multilinear over every
// resized dimension), output_dims (the full output shape; dimension 0 is the batch and keeps the input's
// batch whatever the value) or scales (one float per dimension, output = floor(input * scale); scales[0]
// must be 1), coordinate_transformation ResizeCoordinateTransformation (default half_pixel),
// nearest_mode ResizeRoundMode (default round_prefer_floor).
#pragma once

#include <cmath>
#include <vector>

#include "layers/simple.h"

namespace gie {

struct ResizeOp : OpBase {
    static constexpr const char* kType = "Resize";
    static std::vector<FieldSpec> fieldSpecs() {
        return {{"mode", PluginFieldType::kINT64}, {"output_dims", PluginFieldType::kINT64}, {"scales", PluginFieldType::kFLOAT32},
                {"coordinate_transformation", PluginFieldType::kINT64}, {"nearest_mode", PluginFieldType::kINT64}};
    }
    ResizeMode mode = ResizeMode::kNEAREST;
    ResizeCoordinateTransformation ct = ResizeCoordinateTransformation::kHALF_PIXEL;
    ResizeRoundMode round = ResizeRoundMode::kROUND_PREFER_FLOOR;
    std::vector<int64_t> outDims;
    std::vector<float> scales;
    bool useScales = false;
    bool runtimeDims = false;  // output dims from the shape tensor at input 1 (layers/shape_op.h)

    explicit ResizeOp(const FieldMap& f) {
        int64_t m = f.getInt("mode", 0);
        GIE_CHECK(m == 0 || m == 1, ErrorCode::kINVALID_ARGUMENT, "Resize: unknown mode ", m, " (0 nearest, 1 linear)");
        mode = static_cast<ResizeMode>(m);
        int64_t t = f.getInt("coordinate_transformation", 0);
        GIE_CHECK(t >= 0 && t <= 3, ErrorCode::kINVALID_ARGUMENT, "Resize: unknown coordinate_transformation ", t,
                  " (0 half_pixel, 1 asymmetric, 2 align_corners, 3 pytorch_half_pixel)");
        ct = static_cast<ResizeCoordinateTransformation>(t);
        int64_t r = f.getInt("nearest_mode", 0);
        GIE_CHECK(r >= 0 && r <= 3, ErrorCode::kINVALID_ARGUMENT, "Resize: unknown nearest_mode ", r,
                  " (0 round_prefer_floor, 1 round_prefer_ceil, 2 floor, 3 ceil)");
        round = static_cast<ResizeRoundMode>(r);
        const bool hasDims = f.has("output_dims"), hasScales = f.has("scales");
        // Neither: the output dims come from a shape tensor at input 1 (checked by outputDims).
        GIE_CHECK(!(hasDims && hasScales), ErrorCode::kINVALID_ARGUMENT,
                  "Resize: set either output_dims or scales, not both (remove one field first)");
        runtimeDims = !hasDims && !hasScales;
        useScales = hasScales;
        if (runtimeDims) {
        } else if (hasDims) {
            outDims = f.ints("output_dims");
            GIE_CHECK(!outDims.empty() && outDims.size() <= static_cast<size_t>(Dims::MAX_DIMS), ErrorCode::kINVALID_ARGUMENT,
                      "Resize: output_dims needs 1 to 8 values, got ", outDims.size());
            for (size_t i = 1; i < outDims.size(); ++i)
                GIE_CHECK(outDims[i] > 0, ErrorCode::kINVALID_ARGUMENT, "Resize: output_dims[", i, "] = ", outDims[i], " must be positive");
        } else {
            scales = f.floats("scales");
            GIE_CHECK(!scales.empty() && scales.size() <= static_cast<size_t>(Dims::MAX_DIMS), ErrorCode::kINVALID_ARGUMENT,
                      "Resize: scales needs 1 to 8 values, got ", scales.size());
            for (size_t i = 0; i < scales.size(); ++i)
                GIE_CHECK(scales[i] > 0.f && std::isfinite(scales[i]), ErrorCode::kINVALID_ARGUMENT, "Resize: scales[", i, "] = ",
                          scales[i], " must be positive");
            GIE_CHECK(scales[0] == 1.f, ErrorCode::kINVALID_ARGUMENT, "Resize: scales[0] = ", scales[0],
                      " applies to the batch dimension and must be 1");
        }
    }
    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 1, 2, kType);
        GIE_CHECK((in.size() == 2) == runtimeDims, ErrorCode::kINVALID_MODEL,
                  runtimeDims ? "Resize needs output_dims or scales (or a shape tensor of output dims at input 1)"
                              : "Resize: a shape tensor at input 1 replaces output_dims and scales; remove the field");
        const Dims& x = in[0];
        std::vector<int64_t> sizes = outDims;
        if (runtimeDims) {
            sizes.assign(in[1].d, in[1].d + std::max(0, in[1].nbDims));
            GIE_CHECK(!sizes.empty() && sizes[0] == x.d[0], ErrorCode::kINVALID_MODEL, "Resize: run-time output dims ", toString(in[1]),
                      " must keep dimension 0 of the input ", toString(x));
        }
        const size_t n = useScales ? scales.size() : sizes.size();
        GIE_CHECK(static_cast<int>(n) == x.nbDims, ErrorCode::kINVALID_MODEL, "Resize: ", useScales ? "scales has " : "output_dims has ", n,
                  " values but the input ", toString(x), " has ", x.nbDims, " dimensions");
        out[0] = x;
        for (int i = 1; i < x.nbDims; ++i) {
            const double scaled = std::floor(static_cast<double>(x.d[i]) * static_cast<double>(useScales ? scales[static_cast<size_t>(i)] : 1.f));
            GIE_CHECK(!useScales || scaled <= static_cast<double>(kMaxElements), ErrorCode::kINVALID_MODEL, "Resize: dimension ", i, " of ",
                      toString(x), " scaled by ", scales[static_cast<size_t>(i)], " would be ", scaled, "; sizes are limited to 2^40");
            out[0].d[i] = useScales ? static_cast<int64_t>(scaled) : sizes[static_cast<size_t>(i)];
            GIE_CHECK(out[0].d[i] > 0, ErrorCode::kINVALID_MODEL, "Resize: dimension ", i, " of ", toString(x), " scaled by ",
                      useScales ? scales[static_cast<size_t>(i)] : 0.f, " would be empty");
        }
    }
    //! The scale used by the coordinate transformation of dimension i (given, or output / input).
    double scale(int i, int64_t in, int64_t out) const {
        return useScales ? static_cast<double>(scales[static_cast<size_t>(i)]) : static_cast<double>(out) / static_cast<double>(in);
    }
    //! Input coordinate of output coordinate o along a dimension (ONNX formulas).
    double source(double o, int64_t in, int64_t out, double s) const {
        switch (ct) {
            case ResizeCoordinateTransformation::kHALF_PIXEL: return (o + 0.5) / s - 0.5;
            case ResizeCoordinateTransformation::kASYMMETRIC: return o / s;
            case ResizeCoordinateTransformation::kALIGN_CORNERS:
                return out == 1 ? 0.0 : o * static_cast<double>(in - 1) / static_cast<double>(out - 1);
            case ResizeCoordinateTransformation::kPYTORCH_HALF_PIXEL: return out > 1 ? (o + 0.5) / s - 0.5 : 0.0;
        }
        return 0.0;
    }
    //! Nearest input index for a source coordinate, clamped to [0, in).
    int64_t nearest(double x, int64_t in) const {
        double r;
        switch (round) {
            case ResizeRoundMode::kROUND_PREFER_FLOOR: r = (x - std::floor(x) == 0.5) ? std::floor(x) : std::round(x); break;
            case ResizeRoundMode::kROUND_PREFER_CEIL: r = (x - std::floor(x) == 0.5) ? std::ceil(x) : std::round(x); break;
            case ResizeRoundMode::kFLOOR: r = std::floor(x); break;
            default: r = std::ceil(x); break;
        }
        int64_t i = static_cast<int64_t>(r);
        return i < 0 ? 0 : (i >= in ? in - 1 : i);
    }
    bool supports(int pos, const TensorDesc* inOut, int nIn, int) const {
        if (inOut[pos].format != TensorFormat::kLINEAR) return false;
        if (pos == 1 && nIn == 2) return inOut[pos].type == DataType::kINT32;  // the shape tensor of output dims
        if (mode == ResizeMode::kLINEAR) return inOut[pos].type == DataType::kFLOAT;
        return pos < nIn || inOut[pos].type == inOut[0].type;
    }
};

}  // namespace gie
