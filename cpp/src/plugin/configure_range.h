// Configuring a kernel through IPlugin::configureWithRange, the one call every place in gie uses (so that a plugin
// overriding only configureWithRange is configured everywhere, and one overriding only configure() too, through the
// default).
#pragma once

#include <vector>

#include "gie/plugin.h"

namespace gie {

//! Configures k for descs `in` and `out`; `mins` / `maxs` (inputs then outputs, both or neither) give each tensor's
//! range of shapes, else each takes exactly its desc's dims (min == max). Returns configureWithRange's result.
inline int32_t configureKernelRange(IPlugin& k, const std::vector<TensorDesc>& in, const std::vector<TensorDesc>& out,
                                    const std::vector<Dims>* mins = nullptr, const std::vector<Dims>* maxs = nullptr) {
    std::vector<DynamicTensorDesc> din, dout;
    for (size_t i = 0; i < in.size() + out.size(); ++i) {
        const TensorDesc& d = i < in.size() ? in[i] : out[i - in.size()];
        DynamicTensorDesc r{d, mins ? (*mins)[i] : d.dims, maxs ? (*maxs)[i] : d.dims};
        (i < in.size() ? din : dout).push_back(r);
    }
    return k.configureWithRange(din.data(), static_cast<int32_t>(din.size()), dout.data(), static_cast<int32_t>(dout.size()));
}

}  // namespace gie
