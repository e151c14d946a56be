// Internal registry facts beyond the public IPluginRegistry: where each creator came from, so that an engine
// built with a plugin can say, when loaded in a process that lacks it, which library (or Python class) to load.
#pragma once

#include <string>
#include <vector>

#include "gie/plugin.h"

namespace gie {

//! Where a creator came from, e.g. "library '/abs/libfoo.so'" or "Python class 'mod.Cls'"; "" if unknown
//! (built-in kernels, creators registered by the program itself).
GIE_API std::string pluginCreatorOrigin(const IPluginCreator* creator);
//! Records the origin of a creator registered outside loadLibrary (Python plugins).
GIE_API void setPluginCreatorOrigin(const IPluginCreator* creator, const std::string& origin);

//! The engine keeps a creator's origin as one of its step's notes (so the engine file format is unchanged):
//! the note for `creator` ("" if its origin is unknown), and the origin back from a step's notes ("" if none).
std::string originNote(const IPluginCreator* creator);
std::string originFromNotes(const std::vector<std::string>& notes);

}  // namespace gie
