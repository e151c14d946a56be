// `gie plugin check`: runs one creator's plugin through the contract of gie/plugin.h and reports each property
// as pass / fail / skip (python/gie/plugin_check.py prints the table).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gie/plugin.h"

namespace gie {

//! Checks the plugin `creator` makes: create (from the declared fields, or `fields`), clone, serialization round trip,
//! truncated bytes refused, shapes and types for sample inputs, format combinations, outputs fully written,
//! two runs agree, a smaller batch than configured, `threads` threads sharing one instance agree, every tactic
//! agrees with tactic 0.
//! `inputShapes`: the sample inputs (one shape each); empty: 1 to 4 inputs of shape (2, 4, 6, 5), the first
//! count getOutputDimensions accepts. Returns JSON: [{"check": name, "status": "pass"|"fail"|"skip", "detail": text}].
//! `fields` (may be null): given fields, used instead of the declared defaults of the same names.
GIE_API std::string checkPluginCreator(IPluginCreator& creator, const std::vector<std::vector<int64_t>>& inputShapes,
                                       int32_t threads, const PluginFieldCollection* fields = nullptr);

}  // namespace gie
