// Shuffle shape rules: first transpose -> reshape -> second transpose, any data type.
//
// Fields: first_transpose (permutation: output dim i = input dim perm[i]), reshape (full output shape of the
// reshape step; 0 copies the dimension at the same index when zero_is_placeholder = 1 (default), -1 is
// inferred from the volume; absent = no reshape), second_transpose, zero_is_placeholder. Dimension 0 is the
// batch: reshape with 0 or -1 there to follow the run-time batch.
#pragma once

#include <string>
#include <vector>

#include "layers/simple.h"

namespace gie {

struct ShuffleOp : AnyTypeOp {
    static constexpr const char* kType = "Shuffle";
    static std::vector<FieldSpec> fieldSpecs() {
        return {{"first_transpose", PluginFieldType::kINT64}, {"reshape", PluginFieldType::kINT64},
                {"second_transpose", PluginFieldType::kINT64}, {"zero_is_placeholder", PluginFieldType::kINT64}};
    }
    std::vector<int64_t> perm1, perm2, reshape;
    bool hasPerm1 = false, hasPerm2 = false, hasReshape = false, zeroIsPlaceholder = true;

    static void checkPerm(const std::vector<int64_t>& p, const char* name) {
        GIE_CHECK(p.size() <= static_cast<size_t>(Dims::MAX_DIMS), ErrorCode::kINVALID_ARGUMENT, "Shuffle ", name, " has ", p.size(),
                  " entries; at most 8 dimensions are supported");
        std::vector<bool> seen(p.size(), false);
        for (size_t i = 0; i < p.size(); ++i) {
            GIE_CHECK(p[i] >= 0 && p[i] < static_cast<int64_t>(p.size()), ErrorCode::kINVALID_ARGUMENT, "Shuffle ", name, " ",
                      permString(p), " is not a permutation: entry ", i, " = ", p[i], " is outside [0, ", p.size(), ")");
            GIE_CHECK(!seen[static_cast<size_t>(p[i])], ErrorCode::kINVALID_ARGUMENT, "Shuffle ", name, " ", permString(p),
                      " is not a permutation: ", p[i], " appears twice");
            seen[static_cast<size_t>(p[i])] = true;
        }
    }
    //! Scratch for the intermediate when both transposes are present (the first goes through it), for an
    //! input of up to `in`.
    size_t workspaceBytes(const TensorDesc& in) const {
        return hasPerm1 && hasPerm2 ? static_cast<size_t>(volume(in.dims)) * static_cast<size_t>(dataTypeSize(in.type)) : 0;
    }
    //! One run, the part every device shares: the shapes from the call (input 1: the reshape's shape tensor), then a
    //! plain copy (nothing in place) when neither transpose moves data, one transpose straight into the output, or
    //! both, the first into the workspace of `workspace` bytes (workspaceBytes at configure). `dev` is the device's:
    //! movesData(shape, perm) (false for the identity once size-1 dimensions are dropped), copy(src, dst, bytes) and
    //! transpose(src, dst, shape, perm, element bytes).
    template <class Device>
    void runCall(const KernelCall& c, size_t workspace, const Device& dev) const {
        const Dims& x = c.inDims(0);
        Dims t1, t2, out;
        shapes(x, t1, t2, out, c.nbInputs > 1 ? &c.inDims(1) : nullptr);
        const size_t elem = static_cast<size_t>(dataTypeSize(c.inDesc[0].type));
        const size_t bytes = static_cast<size_t>(volume(x)) * elem;
        if (bytes == 0) return;
        const bool m1 = hasPerm1 && dev.movesData(x, perm1);
        const bool m2 = hasPerm2 && dev.movesData(t2, perm2);
        const void* src = c.inputs[0];
        void* dst = c.outputs[0];
        if (!m1 && !m2) {
            dev.copy(src, dst, bytes);
        } else if (m1 && !m2) {
            dev.transpose(src, dst, x, perm1, elem);
        } else if (!m1 && m2) {
            dev.transpose(src, dst, t2, perm2, elem);
        } else {
            GIE_CHECK(c.workspace && workspace >= bytes, ErrorCode::kINTERNAL, "Shuffle: workspace of ", workspace,
                      " bytes is too small for ", bytes);
            dev.transpose(src, c.workspace, x, perm1, elem);
            dev.transpose(c.workspace, dst, t2, perm2, elem);
        }
    }
    static std::string permString(const std::vector<int64_t>& p) {
        std::string s = "(";
        for (size_t i = 0; i < p.size(); ++i) s += (i ? ", " : "") + std::to_string(p[i]);
        return s + ")";
    }

    explicit ShuffleOp(const FieldMap& f) {
        hasPerm1 = f.has("first_transpose");
        hasPerm2 = f.has("second_transpose");
        hasReshape = f.has("reshape");
        perm1 = f.ints("first_transpose");
        perm2 = f.ints("second_transpose");
        reshape = f.ints("reshape");
        zeroIsPlaceholder = f.getInt("zero_is_placeholder", 1) != 0;
        if (hasPerm1) checkPerm(perm1, "first_transpose");
        if (hasPerm2) checkPerm(perm2, "second_transpose");
        if (hasReshape) {
            GIE_CHECK(reshape.size() <= static_cast<size_t>(Dims::MAX_DIMS), ErrorCode::kINVALID_ARGUMENT, "Shuffle reshape has ",
                      reshape.size(), " dimensions; at most 8 are supported");
            int inferred = 0;
            for (size_t i = 0; i < reshape.size(); ++i) {
                GIE_CHECK(reshape[i] >= -1, ErrorCode::kINVALID_ARGUMENT, "Shuffle reshape ", permString(reshape), ": dimension ", i,
                          " is ", reshape[i], " (allowed: >= 0, or -1 to infer)");
                checkedSizeField(reshape[i], ErrorCode::kINVALID_ARGUMENT, "Shuffle reshape dimension ", i);
                inferred += reshape[i] == -1;
            }
            GIE_CHECK(inferred <= 1, ErrorCode::kINVALID_ARGUMENT, "Shuffle reshape ", permString(reshape),
                      " has more than one -1 (only one dimension can be inferred)");
        }
    }

    static Dims transpose(const Dims& d, const std::vector<int64_t>& p, const char* name) {
        GIE_CHECK(static_cast<int>(p.size()) == d.nbDims, ErrorCode::kINVALID_MODEL, "Shuffle ", name, " ", permString(p), " has ",
                  p.size(), " entries but the tensor it applies to has ", d.nbDims, " dimensions ", toString(d));
        Dims o;
        o.nbDims = d.nbDims;
        for (int i = 0; i < d.nbDims; ++i) o.d[i] = d.d[p[static_cast<size_t>(i)]];
        return o;
    }

    //! The shapes after each step: t1 = first transpose, t2 = reshape, out = second transpose. `runtime`: the value of
    //! the shape tensor at input 1 (a reshape computed at run time, layers/shape_op.h), which replaces the field.
    void shapes(const Dims& in, Dims& t1, Dims& t2, Dims& out, const Dims* runtime = nullptr) const {
        t1 = hasPerm1 ? transpose(in, perm1, "first_transpose") : in;
        t2 = t1;
        if (runtime) {
            GIE_CHECK(!hasReshape, ErrorCode::kINVALID_MODEL, "Shuffle has both a 'reshape' field and a shape tensor at input 1");
            GIE_CHECK(runtime->nbDims >= 0 && runtime->nbDims <= Dims::MAX_DIMS, ErrorCode::kINVALID_MODEL, "Shuffle: bad run-time shape");
            ShuffleOp r(*this);
            r.hasReshape = true;
            r.reshape.assign(runtime->d, runtime->d + runtime->nbDims);
            int inferred = 0;
            for (size_t i = 0; i < r.reshape.size(); ++i) {
                GIE_CHECK(r.reshape[i] >= -1, ErrorCode::kINVALID_MODEL, "Shuffle run-time reshape ", permString(r.reshape), ": dimension ",
                          i, " is ", r.reshape[i], " (allowed: >= 0, or -1 to infer)");
                inferred += r.reshape[i] == -1;
            }
            GIE_CHECK(inferred <= 1, ErrorCode::kINVALID_MODEL, "Shuffle run-time reshape ", permString(r.reshape), " has more than one -1");
            r.hasPerm1 = false;
            Dims u;
            r.shapes(t1, u, t2, out);
            if (hasPerm2) out = transpose(t2, perm2, "second_transpose");
            return;
        }
        if (hasReshape) {
            t2.nbDims = static_cast<int32_t>(reshape.size());
            int64_t known = 1;
            int inferAt = -1;
            for (size_t i = 0; i < reshape.size(); ++i) {
                int64_t v = reshape[i];
                if (v == 0 && zeroIsPlaceholder) {
                    GIE_CHECK(static_cast<int>(i) < t1.nbDims, ErrorCode::kINVALID_MODEL, "Shuffle reshape ", permString(reshape),
                              ": dimension ", i, " is 0 (copy the input dimension) but the input ", toString(t1), " has only ",
                              t1.nbDims, " dimensions");
                    v = t1.d[i];
                }
                if (v == -1) {
                    inferAt = static_cast<int>(i);
                } else {
                    known = checkedMul(known, v, ErrorCode::kINVALID_MODEL, "Shuffle reshape ", permString(reshape), " volume");
                }
                t2.d[i] = v;
            }
            int64_t vol = volume(t1);
            if (inferAt >= 0) {
                GIE_CHECK(known != 0, ErrorCode::kINVALID_MODEL, "Shuffle reshape ", permString(reshape), " of ", toString(t1),
                          ": cannot infer the -1 dimension when the other dimensions have volume 0");
                GIE_CHECK(vol % known == 0, ErrorCode::kINVALID_MODEL, "Shuffle reshape ", permString(reshape), " of ", toString(t1),
                          ": volume ", vol, " is not divisible by ", known, ", so the -1 dimension cannot be inferred");
                t2.d[inferAt] = vol / known;
            } else {
                GIE_CHECK(known == vol, ErrorCode::kINVALID_MODEL, "Shuffle reshape ", permString(reshape), " of ", toString(t1),
                          ": volume mismatch, the input has ", vol, " elements but the reshape dimensions ", toString(t2), " have ", known);
            }
        }
        out = hasPerm2 ? transpose(t2, perm2, "second_transpose") : t2;
    }

    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 1, 2, kType);
        Dims t1, t2;
        shapes(in[0], t1, t2, out[0], in.size() > 1 ? &in[1] : nullptr);
    }
    bool supports(int pos, const TensorDesc* inOut, int nIn, int) const {
        return inOut[pos].format == TensorFormat::kLINEAR && (pos < nIn || inOut[pos].type == inOut[0].type);
    }
};

}  // namespace gie
