#include "passes/pass.h"

namespace gie {

std::vector<std::unique_ptr<Pass>> makeAllPasses() {
    std::vector<std::unique_ptr<Pass>> p;
    // Order matters: fold constants first so later passes see fewer nodes; remove what became dead last.
    p.push_back(makeConstantFolding());
    p.push_back(makeDeadLayerRemoval());
    return p;
}

std::vector<std::string> allPassNames() {
    std::vector<std::string> names;
    for (const auto& p : makeAllPasses()) names.push_back(p->name());
    return names;
}

}  // namespace gie
