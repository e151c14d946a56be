// The process-wide plugin registry: built-in kernels register here at library load, user plugin
// libraries when they are loaded.
#include <dlfcn.h>

#include <mutex>
#include <string>
#include <vector>

#include "common/error.h"
#include "gie/plugin.h"

namespace gie {
namespace {

//! Set by loadLibrary while it dlopen()s a library: collects the registrations refused meanwhile.
thread_local std::vector<std::string>* tLoadRefusals = nullptr;

int compareVersions(const std::string& a, const std::string& b) {
    // Numeric-aware comparison ("10" > "9"); falls back to string order for non-numeric parts.
    size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        if (isdigit(static_cast<unsigned char>(a[i])) && isdigit(static_cast<unsigned char>(b[j]))) {
            size_t ei = i, ej = j;
            while (ei < a.size() && isdigit(static_cast<unsigned char>(a[ei]))) ++ei;
            while (ej < b.size() && isdigit(static_cast<unsigned char>(b[ej]))) ++ej;
            long long x = std::stoll(a.substr(i, ei - i)), y = std::stoll(b.substr(j, ej - j));
            if (x != y) return x < y ? -1 : 1;
            i = ei;
            j = ej;
        } else {
            if (a[i] != b[j]) return a[i] < b[j] ? -1 : 1;
            ++i;
            ++j;
        }
    }
    return (a.size() - i) < (b.size() - j) ? -1 : ((a.size() - i) > (b.size() - j) ? 1 : 0);
}

class PluginRegistry final : public IPluginRegistry {
public:
    bool registerCreator(IPluginCreator& c) noexcept override {
        return apiGuard(nullptr, false, [&] {
            std::lock_guard<std::mutex> lock(mu_);
            const char* name = c.getPluginName();
            const char* version = c.getPluginVersion();
            GIE_CHECK(name && *name && version, ErrorCode::kINVALID_ARGUMENT, "a plugin creator has no name or version");
            for (auto* o : creators_)
                if (std::string(o->getPluginName()) == name && std::string(o->getPluginVersion()) == version &&
                    o->getDeviceType() == c.getDeviceType()) {
                    std::string msg = strcat("plugin creator '", name, "' version ", version, " is already registered for this device");
                    if (tLoadRefusals) tLoadRefusals->push_back(msg);  // loadLibrary reports it
                    fail(ErrorCode::kINVALID_ARGUMENT, msg);
                }
            creators_.push_back(&c);
            return true;
        });
    }
    bool deregisterCreator(const IPluginCreator& c) noexcept override {
        std::lock_guard<std::mutex> lock(mu_);
        for (auto it = creators_.begin(); it != creators_.end(); ++it)
            if (*it == &c) {
                creators_.erase(it);
                return true;
            }
        return false;
    }
    IPluginCreator* getCreator(const char* name, const char* version, DeviceType device) noexcept override {
        if (!name) return nullptr;
        std::lock_guard<std::mutex> lock(mu_);
        IPluginCreator* best = nullptr;
        for (auto* c : creators_) {
            if (std::string(c->getPluginName()) != name) continue;
            if (device != DeviceType::kAUTO && c->getDeviceType() != device) continue;
            if (version && *version) {
                if (std::string(c->getPluginVersion()) == version) return c;
            } else if (!best || compareVersions(c->getPluginVersion(), best->getPluginVersion()) > 0) {
                best = c;
            }
        }
        return best;
    }
    IPluginCreator* const* getAllCreators(int32_t* count) noexcept override {
        std::lock_guard<std::mutex> lock(mu_);
        snapshot_ = creators_;
        if (count) *count = static_cast<int32_t>(snapshot_.size());
        return snapshot_.data();
    }
    bool loadLibrary(const char* path) noexcept override {
        return apiGuard(nullptr, false, [&] {
            GIE_CHECK(path && *path, ErrorCode::kINVALID_ARGUMENT, "loadLibrary: empty path");
            // Registrations the library's static initializers make during dlopen (on this thread) that
            // are refused, e.g. a creator that another library registered first, are reported below.
            std::vector<std::string> refused;
            std::vector<std::string>* outer = tLoadRefusals;
            tLoadRefusals = &refused;
            // RTLD_NODELETE: creators live in the library's static storage; they must never go away.
            void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
            tLoadRefusals = outer;
            if (!h) {
                const char* err = dlerror();
                fail(ErrorCode::kINVALID_ARGUMENT, "cannot load plugin library '", path, "': ", err ? err : "unknown error");
            }
            if (!refused.empty()) {
                std::string all;
                for (const auto& r : refused) all += (all.empty() ? "" : "; ") + r;
                fail(ErrorCode::kINVALID_ARGUMENT, "plugin library '", path, "' was loaded, but ",
                     refused.size() == 1 ? std::string("a creator it registers was") : strcat(refused.size(), " creators it registers were"),
                     " refused (the creator registered first stays in use): ", all);
            }
            // A library that registers nothing (not a plugin library, or one whose registrations went to
            // another copy of gie) would otherwise load silently and fail much later, at build or load.
            GIE_CHECK(registersCreator(h), ErrorCode::kINVALID_ARGUMENT, "plugin library '", path,
                      "' registers no plugin creators (no GIE_REGISTER_PLUGIN_CREATOR, or built against another gie library)");
            return true;
        });
    }

private:
    //! Whether a registered creator lives in the library `handle` (its object or its class's vtable): also
    //! true for a library loaded before, whose static initializers ran then.
    bool registersCreator(void* handle) {
        auto inLibrary = [handle](const void* p) {
            Dl_info info;
            if (!dladdr(p, &info) || !info.dli_fname || !*info.dli_fname) return false;
            void* h = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
            if (h) dlclose(h);  // NOLOAD took a reference
            return h == handle;
        };
        std::lock_guard<std::mutex> lock(mu_);
        for (IPluginCreator* c : creators_)
            if (inLibrary(c) || inLibrary(*reinterpret_cast<void* const*>(c))) return true;
        return false;
    }

    std::mutex mu_;
    std::vector<IPluginCreator*> creators_;
    std::vector<IPluginCreator*> snapshot_;
};

}  // namespace

IPluginRegistry* getPluginRegistry() noexcept {
    static PluginRegistry* registry = new PluginRegistry();  // never destroyed: creators register from static init/fini
    return registry;
}

}  // namespace gie
