// Shuffle composition (passes/shuffle_compose.h).
#include "passes/shuffle_compose.h"

#include <algorithm>

namespace gie {
namespace {

std::vector<int64_t> identityPerm(int rank) {
    std::vector<int64_t> p(static_cast<size_t>(rank));
    for (int i = 0; i < rank; ++i) p[static_cast<size_t>(i)] = i;
    return p;
}

//! Transpose a then b (out[i] = in[a[b[i]]]).
std::vector<int64_t> compose(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
    std::vector<int64_t> c(b.size());
    for (size_t i = 0; i < b.size(); ++i) c[i] = a[static_cast<size_t>(b[i])];
    return c;
}

//! A chain of transposes and reshapes of a tensor of fixed shape, kept as reshape(transpose(reshape(x, g), pi), c):
//! g factors x (no size-1 factors), pi permutes them (h[j] = g[pi[j]]), c is the current shape.
struct StaticChain {
    std::vector<int64_t> g, pi, c;

    explicit StaticChain(const Dims& x) {
        for (int i = 0; i < x.nbDims; ++i)
            if (x.d[i] != 1) g.push_back(x.d[i]);
        pi = identityPerm(static_cast<int>(g.size()));
        c.assign(x.d, x.d + x.nbDims);
        coalesce();
    }
    void reshape(const Dims& r) { c.assign(r.d, r.d + r.nbDims); }
    std::vector<int64_t> h() const {
        std::vector<int64_t> r;
        for (int64_t p : pi) r.push_back(g[static_cast<size_t>(p)]);
        return r;
    }
    //! Splits the factors so that every dimension of c is a run of consecutive factors in h order; `groups` gets
    //! that run (indices into the new h) per dimension of c (empty for a size-1 one). False when c cuts a factor
    //! that it does not divide (then no single transpose of the factors gives c).
    bool refine(std::vector<std::vector<int64_t>>& groups) {
        const std::vector<int64_t> hs = h();
        std::vector<std::vector<int64_t>> split(hs.size());  // per h position: its factors, in order
        groups.assign(c.size(), {});
        size_t j = 0, k = 0;
        int64_t remH = hs.empty() ? 1 : hs[0], remC = 0;
        int64_t nextH = 0;  // index in the new h
        while (k < c.size()) {
            if (c[k] == 1) {
                ++k;
                continue;
            }
            if (remC == 0) remC = c[k];
            if (j >= hs.size()) return false;
            int64_t f;
            if (remH % remC == 0) f = remC;
            else if (remC % remH == 0) f = remH;
            else return false;
            split[j].push_back(f);
            groups[k].push_back(nextH++);
            remH /= f;
            remC /= f;
            if (remC == 1) {
                remC = 0;
                ++k;
            }
            if (remH == 1 && ++j < hs.size()) remH = hs[j];
        }
        if (j != hs.size()) return false;
        // New factors in g order; the new pi lists them in h order.
        std::vector<int64_t> inv(pi.size());
        for (size_t i = 0; i < pi.size(); ++i) inv[static_cast<size_t>(pi[i])] = static_cast<int64_t>(i);
        std::vector<int64_t> firstNew(hs.size());  // h position -> index of its first factor in the new g
        std::vector<int64_t> ng;
        for (size_t gi = 0; gi < g.size(); ++gi) {
            const size_t hp = static_cast<size_t>(inv[gi]);
            firstNew[hp] = static_cast<int64_t>(ng.size());
            ng.insert(ng.end(), split[hp].begin(), split[hp].end());
        }
        std::vector<int64_t> np;
        for (size_t hp = 0; hp < hs.size(); ++hp)
            for (size_t f = 0; f < split[hp].size(); ++f) np.push_back(firstNew[hp] + static_cast<int64_t>(f));
        g = std::move(ng);
        pi = std::move(np);
        return true;
    }
    bool transpose(const std::vector<int64_t>& sigma) {
        std::vector<std::vector<int64_t>> groups;
        if (sigma.size() != c.size() || !refine(groups)) return false;
        std::vector<int64_t> np, nc;
        for (int64_t s : sigma) {
            for (int64_t hp : groups[static_cast<size_t>(s)]) np.push_back(pi[static_cast<size_t>(hp)]);
            nc.push_back(c[static_cast<size_t>(s)]);
        }
        pi = std::move(np);
        c = std::move(nc);
        coalesce();
        return true;
    }
    //! Merges factors that stay neighbours in the same order after pi.
    void coalesce() {
        for (size_t j = 0; j + 1 < pi.size();) {
            if (pi[j + 1] != pi[j] + 1) {
                ++j;
                continue;
            }
            const int64_t a = pi[j];
            g[static_cast<size_t>(a)] *= g[static_cast<size_t>(a) + 1];
            g.erase(g.begin() + a + 1);
            pi.erase(pi.begin() + static_cast<int64_t>(j) + 1);
            for (int64_t& p : pi)
                if (p > a) --p;
        }
    }
    //! The chain as one Shuffle: transpose of x then reshape to c, or reshape then transpose; false if neither.
    bool toShuffle(const Dims& x, FieldMap& f) {
        if (g.empty()) {  // volume 1
            f.setInts("reshape", c);
            return true;
        }
        // Transpose then reshape: every factor is a run of consecutive dimensions of x (no x dimension split).
        std::vector<std::vector<int64_t>> runs(g.size());  // per factor: its x dimensions
        bool whole = true;
        size_t gi = 0;
        int64_t rem = g[0];
        for (int i = 0; i < x.nbDims && whole; ++i) {
            if (x.d[i] == 1) {  // size 1: rides with the factor it stands in (the last one past the end)
                runs[std::min(gi, g.size() - 1)].push_back(i);
            } else if (gi >= g.size() || rem % x.d[i] != 0) {
                whole = false;
            } else {
                runs[gi].push_back(i);
                rem /= x.d[i];
                if (rem == 1 && ++gi < g.size()) rem = g[gi];
            }
        }
        if (whole && gi == g.size()) {
            std::vector<int64_t> tau;
            for (int64_t p : pi) tau.insert(tau.end(), runs[static_cast<size_t>(p)].begin(), runs[static_cast<size_t>(p)].end());
            if (tau != identityPerm(x.nbDims)) f.setInts("first_transpose", tau);
            f.setInts("reshape", c);
            return true;
        }
        // Reshape then transpose: no dimension of c merges factors.
        std::vector<std::vector<int64_t>> groups;
        if (!refine(groups)) return false;
        std::vector<int64_t> shape = g, perm;
        for (const auto& grp : groups) {
            if (grp.size() > 1) return false;
            if (grp.empty()) {
                perm.push_back(static_cast<int64_t>(shape.size()));
                shape.push_back(1);
            } else {
                perm.push_back(pi[static_cast<size_t>(grp[0])]);
            }
        }
        f.setInts("reshape", shape);
        f.setInts("second_transpose", perm);
        return true;
    }
};

//! Shuffles s1 then s2 (one input each) as one Shuffle of input shape x, when every shape is fixed; false if the
//! composition is not one transpose -> reshape or reshape -> transpose.
bool composeFixed(const ShuffleOp& a, const ShuffleOp& b, const Dims& x, FieldMap& f) {
    if (volume(x) <= 0) return false;
    StaticChain ch(x);
    Dims cur = x;
    for (const ShuffleOp* s : {&a, &b}) {
        Dims t1, t2, out;
        s->shapes(cur, t1, t2, out);
        if (s->hasPerm1 && !ch.transpose(s->perm1)) return false;
        if (s->hasReshape) ch.reshape(t2);
        if (s->hasPerm2 && !ch.transpose(s->perm2)) return false;
        cur = out;
    }
    if (!ch.toShuffle(x, f)) return false;
    Dims t1, t2, out;
    ShuffleOp(f).shapes(x, t1, t2, out);
    return out == cur;
}

}  // namespace

bool composeShuffles(const ShuffleOp& a, const ShuffleOp& b, const Dims& in, const Dims& mid, bool fixedShapes, FieldMap& f) {
    const int inRank = in.nbDims, midRank = mid.nbDims;
    const int reshapedRank = a.hasReshape ? static_cast<int>(a.reshape.size()) : inRank;
    auto p1 = a.hasPerm1 ? a.perm1 : identityPerm(inRank);
    auto p2 = a.hasPerm2 ? a.perm2 : identityPerm(reshapedRank);
    auto q1 = b.hasPerm1 ? b.perm1 : identityPerm(midRank);
    if (!a.zeroIsPlaceholder || !b.zeroIsPlaceholder) {
        return fixedShapes && composeFixed(a, b, in, f);
    } else if (!b.hasReshape) {
        auto q2 = b.hasPerm2 ? b.perm2 : identityPerm(midRank);
        if (a.hasPerm1) f.setInts("first_transpose", p1);
        if (a.hasReshape) f.setInts("reshape", a.reshape);
        f.setInts("second_transpose", compose(compose(p2, q1), q2));
    } else if (!a.hasReshape) {
        f.setInts("first_transpose", compose(compose(p1, p2), q1));
        f.setInts("reshape", b.reshape);
        if (b.hasPerm2) f.setInts("second_transpose", b.perm2);
    } else if (!a.hasPerm2 && !b.hasPerm1 && !a.reshape.empty() && a.reshape[0] == 0 && !b.reshape.empty() &&
               (b.reshape[0] == 0 || b.reshape[0] == -1)) {
        // reshape(reshape(x)) = reshape(x): resolve the second's placeholders against the middle shape
        // (batch-independent past dimension 0, because the first keeps the batch in place).
        std::vector<int64_t> r = b.reshape;
        for (size_t i = 1; i < r.size(); ++i)
            if (r[i] == 0) r[i] = mid.d[i];
        if (a.hasPerm1) f.setInts("first_transpose", p1);
        f.setInts("reshape", r);
        if (b.hasPerm2) f.setInts("second_transpose", b.perm2);
    } else {
        return fixedShapes && composeFixed(a, b, in, f);
    }
    // Both transposes: two data passes; with fixed shapes one may do.
    FieldMap one;
    if (fixedShapes && f.has("first_transpose") && f.has("second_transpose") && composeFixed(a, b, in, one)) f = std::move(one);
    return true;
}

}  // namespace gie
