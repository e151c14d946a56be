// Evaluates, at build time on the CPU kernels, every built-in node whose inputs are all known
// (Constant layers, and anything computed only from them), replacing it by its values.
// User plugins are never folded: they may have effects gie cannot see.
#include <cstring>

#include "common/dims.h"
#include "passes/pass.h"
#include "plugin/configure_range.h"

namespace gie {
namespace {

class ConstantFolding final : public Pass {
public:
    const char* name() const override { return "constant_folding"; }
    int run(Graph& g, PassContext& ctx) override {
        int folded = 0;
        for (int ni : g.topologicalOrder()) {
            IrNode& n = g.nodes[static_cast<size_t>(ni)];
            if (n.userPlugin || n.type == "ShapeOp") continue;  // a shape tensor's value lives in its dims, never in data
            bool allConst = true;
            for (int t : n.inputs) allConst = allConst && g.tensors[static_cast<size_t>(t)].constant != nullptr;
            bool isNetOutput = false;
            for (int o : n.outputs) isNetOutput = isNetOutput || g.tensors[static_cast<size_t>(o)].isOutput;
            if (!allConst || isNetOutput) continue;
            IPluginCreator* c = getPluginRegistry()->getCreator(n.type.c_str(), nullptr, DeviceType::kCPU);
            if (!c) continue;
            std::unique_ptr<IPlugin> k(c->createPlugin(n.name.c_str(), n.fields.collection()));
            GIE_CHECK(k, ErrorCode::kINVALID_MODEL, "constant_folding: cannot create the CPU kernel of '", n.name, "'");
            std::vector<TensorDesc> inD, outD;
            std::vector<const void*> inP;
            for (int t : n.inputs) {
                const auto& it = g.tensors[static_cast<size_t>(t)];
                TensorDesc d;
                d.dims = it.dims;
                d.type = it.type;
                d.strides = packedStrides(it.dims);
                inD.push_back(d);
                inP.push_back(it.constant->data());
            }
            std::vector<std::shared_ptr<std::vector<uint8_t>>> outBufs;
            std::vector<void*> outP;
            for (int t : n.outputs) {
                const auto& ot = g.tensors[static_cast<size_t>(t)];
                TensorDesc d;
                d.dims = ot.dims;
                d.type = ot.type;
                d.strides = packedStrides(ot.dims);
                outD.push_back(d);
                outBufs.push_back(std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(ot.bytes()) + 1));
                outP.push_back(outBufs.back()->data());
            }
            std::vector<TensorDesc> all(inD);
            all.insert(all.end(), outD.begin(), outD.end());
            bool supported = true;
            for (size_t p = 0; p < all.size(); ++p)
                supported = supported && k->supportsFormatCombination(static_cast<int32_t>(p), all.data(),
                                                                        static_cast<int32_t>(inD.size()), static_cast<int32_t>(outD.size()));
            if (!supported) {
                n.notes.push_back("constant_folding: not folded (the CPU kernel does not take these types)");
                continue;
            }
            GIE_CHECK(configureKernelRange(*k, inD, outD) == 0 &&
                          k->initialize() == 0,
                      ErrorCode::kINVALID_MODEL, "constant_folding: cannot configure the CPU kernel of '", n.name, "'");
            std::vector<uint8_t> ws(k->getWorkspaceSize() + 64);
            int32_t rc = k->enqueue(inD.data(), outD.data(), inP.data(), outP.data(), ws.data(), nullptr);
            k->terminate();
            if (rc != 0) {
                const char* msg = nullptr;
                getLastError(&msg);
                fail(ErrorCode::kINVALID_MODEL, "constant_folding: evaluating '", n.name, "' failed: ", msg ? msg : "");
            }
            for (size_t i = 0; i < n.outputs.size(); ++i) {
                outBufs[i]->pop_back();
                g.tensors[static_cast<size_t>(n.outputs[i])].constant = outBufs[i];
            }
            n.dead = true;
            if (n.type != "Constant") ctx.log.push_back("constant_folding: folded '" + n.name + "' (" + n.type + ")");
            ++folded;
        }
        if (folded) g.compact();
        return folded;
    }
};

}  // namespace

std::unique_ptr<Pass> makeConstantFolding() { return std::make_unique<ConstantFolding>(); }

}  // namespace gie
