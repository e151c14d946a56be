// MatrixMultiply shape rules: numpy.matmul semantics (float32).
//
// Inputs A, B. Fields: transpose_a, transpose_b (default 0): transpose the last two dimensions of that
// operand first (ignored for a 1-D operand). A 1-D A (K,) is treated as (1, K) and a 1-D B (K,) as (K, 1),
// and that dimension is removed from the result; the batch dimensions (all but the last two) broadcast
// numpy-style.
#pragma once

#include <algorithm>
#include <utility>
#include <vector>

#include "plugin/builtin.h"

namespace gie {

struct MatrixMultiplyOp : OpBase {
    static constexpr const char* kType = "MatrixMultiply";
    static std::vector<FieldSpec> fieldSpecs() {
        return {{"transpose_a", PluginFieldType::kINT64}, {"transpose_b", PluginFieldType::kINT64}};
    }
    bool transA = false, transB = false;

    explicit MatrixMultiplyOp(const FieldMap& f) {
        transA = f.getInt("transpose_a", 0) != 0;
        transB = f.getInt("transpose_b", 0) != 0;
    }

    //! The problem for inputs a, b: batch shape (broadcast), M, N, K, and each operand's batch dims.
    struct Problem {
        Dims batch;  // broadcast batch dims
        Dims aBatch, bBatch;  // each operand's batch dims, right-aligned to batch.nbDims (missing = 1)
        int64_t M, N, K;
        bool aVec, bVec;
        Dims out;
    };
    Problem problem(const Dims& a, const Dims& b) const {
        GIE_CHECK(a.nbDims >= 1 && b.nbDims >= 1, ErrorCode::kINVALID_MODEL, "MatrixMultiply: operands need at least 1 dimension, got A ",
                  toString(a), " and B ", toString(b));
        Problem p;
        p.aVec = a.nbDims == 1;
        p.bVec = b.nbDims == 1;
        int64_t aRows, aCols, bRows, bCols;
        if (p.aVec) {
            aRows = 1;
            aCols = a.d[0];
        } else {
            aRows = a.d[a.nbDims - 2];
            aCols = a.d[a.nbDims - 1];
            if (transA) std::swap(aRows, aCols);
        }
        if (p.bVec) {
            bRows = b.d[0];
            bCols = 1;
        } else {
            bRows = b.d[b.nbDims - 2];
            bCols = b.d[b.nbDims - 1];
            if (transB) std::swap(bRows, bCols);
        }
        GIE_CHECK(aCols == bRows, ErrorCode::kINVALID_MODEL, "MatrixMultiply: inner dimensions differ: A ", toString(a),
                  transA ? " (transposed)" : "", " has ", aCols, " columns but B ", toString(b), transB ? " (transposed)" : "", " has ",
                  bRows, " rows");
        p.M = aRows;
        p.N = bCols;
        p.K = aCols;
        const int na = p.aVec ? 0 : a.nbDims - 2, nb = p.bVec ? 0 : b.nbDims - 2;
        const int nbat = std::max(na, nb);
        p.batch.nbDims = p.aBatch.nbDims = p.bBatch.nbDims = nbat;
        for (int i = 0; i < nbat; ++i) {
            const int ia = i - (nbat - na), ib = i - (nbat - nb);
            const int64_t da = ia >= 0 ? a.d[ia] : 1, db = ib >= 0 ? b.d[ib] : 1;
            GIE_CHECK(da == db || da == 1 || db == 1, ErrorCode::kINVALID_MODEL, "MatrixMultiply: batch dimensions of A ", toString(a),
                      " and B ", toString(b), " do not broadcast (", da, " vs ", db, ")");
            p.aBatch.d[i] = da;
            p.bBatch.d[i] = db;
            p.batch.d[i] = da == 1 ? db : da;
        }
        p.out = p.batch;
        if (!p.aVec) p.out.d[p.out.nbDims++] = p.M;
        if (!p.bVec) p.out.d[p.out.nbDims++] = p.N;
        return p;
    }
    void outputDims(const std::vector<Dims>& in, std::vector<Dims>& out) const {
        expectInputs(in, 2, 2, kType);
        out[0] = problem(in[0], in[1]).out;
    }
};

}  // namespace gie
