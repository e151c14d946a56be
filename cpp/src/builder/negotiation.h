// Precision and format negotiation: chooses, for every node of the optimized graph, a kernel (creator
// variant) and the (data type, memory format) of each of its inputs and outputs, minimising the engine's
// total time including the Reformat steps that the choices force between neighbours. docs/optimizer.md
// describes the algorithm.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "builder/timing_cache.h"
#include "ir/graph.h"

namespace gie {

struct NegotiationOptions {
    DeviceType device = DeviceType::kCPU;
    bool fp16 = false;     // BuilderFlag::kFP16
    bool int8 = false;     // BuilderFlag::kINT8: INT8 kernels for tensors with a dynamic range
    bool obey = false;     // kOBEY_PRECISION_CONSTRAINTS (or kSTRICT_TYPES)
    bool prefer = false;   // kPREFER_PRECISION_CONSTRAINTS
    bool allowTf32 = true;
    size_t workspaceLimit = 0;
    //! Per optimization profile: its opt and min input shapes (g.inputs order). Candidates are timed at every
    //! profile's opt shapes and compared by their total time, each profile at its fastest tactic (the engine runs
    //! each profile's fastest; the kernel, types and formats are one for all profiles); they are configured for the graph's shapes (the largest)
    //! with the min over the profiles' min and opt. optWhat names each profile's opt shapes in errors ("batch 2 (the
    //! optimum of the batch range)").
    std::vector<std::vector<Dims>> optInputDims, minInputDims;
    std::vector<std::string> optWhat;
    const std::map<std::string, std::string>* overrides = nullptr;  // kernel type or name -> forced tactic
};

//! Chooses every node's kernel, types and formats; sets every tensor's type and format, and inserts Reformat
//! nodes (and converted copies of constants) where a consumer reads a tensor in another state than its
//! producer writes. Returns the chosen creator per node (indexed like g.nodes afterwards; for a user plugin
//! layer, the creator of its type: its kernel is a clone of its instance). Appends one line per decision worth reporting to `log` and
//! notes to the nodes. Throws (kUNSUPPORTED / kINVALID_MODEL) naming the layer when no kernel fits.
std::vector<IPluginCreator*> negotiateFormats(Graph& g, const NegotiationOptions& o, Backend& b, TimingCache& cache, ILogger* logger,
                                              std::string& log);

//! Name of the copy of constant `name` converted to (t, f) that the negotiation adds for a consumer reading it so.
std::string convertedConstantName(const std::string& name, DataType t, TensorFormat f);
//! Constant x's bytes (its type, LINEAR) converted to (type, format) with the CPU Reformat kernel.
std::vector<uint8_t> convertConstant(const IrTensor& x, DataType type, TensorFormat format);
//! "HALF HWC8" style name of a (type, format) state, for reports.
std::string stateName(DataType t, TensorFormat f);

}  // namespace gie
