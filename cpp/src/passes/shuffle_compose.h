// Shuffle composition: the fields of one Shuffle that does Shuffle a then Shuffle b (collapse_shuffles, and the
// passes that move a Shuffle next to another).
#pragma once

#include "common/dims.h"
#include "layers/shuffle.h"
#include "plugin/fields.h"

namespace gie {

//! Fills `f` with one Shuffle equal to `a` then `b` on an input of shape `in` (`mid`: a's output shape) and returns
//! true, or returns false when no one Shuffle is known to do both. With shape placeholders (0) in both, only
//! compositions that hold at any batch; with `fixedShapes` (every shape fixed: PassContext::fixedShapes) also any
//! whose composition is one transpose and one reshape, in either order, tracked as a permutation of factors of the
//! input (e.g. torch's head split reshape (S, B*H, d) -> transpose (1, 0, 2) -> reshape (B, H, S, d) is reshape
//! (S, B, H, d) -> transpose (1, 2, 0, 3)).
bool composeShuffles(const ShuffleOp& a, const ShuffleOp& b, const Dims& in, const Dims& mid, bool fixedShapes, FieldMap& f);

}  // namespace gie
