// What the test plugin libraries (test_kernels.cpp, range_plugins.cpp) share: an element count, and a base class with
// the type name from Self::kName, version "1", fieldless serialization and clone. Header-only; each library includes
// it once (the definitions sit in an anonymous namespace, one copy per library).
#pragma once

#include <cstdint>
#include <new>

#include "gie/plugin.h"

namespace {

int64_t volume(const gie::Dims& d) {
    int64_t n = 1;
    for (int32_t i = 0; i < d.nbDims; ++i) n *= d.d[i];
    return n;
}

template <typename Self>
class Base : public gie::IPlugin {
public:
    const char* getPluginType() const noexcept override { return Self::kName; }
    const char* getPluginVersion() const noexcept override { return "1"; }
    gie::IPlugin* clone() const noexcept override { return new (std::nothrow) Self(static_cast<const Self&>(*this)); }
    size_t getSerializationSize() const noexcept override { return 0; }
    void serialize(void*) const noexcept override {}
};

}  // namespace
