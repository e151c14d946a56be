// The process-wide plugin registry: built-in kernels register here at library load, user plugin
// libraries when they are loaded.
#include <dlfcn.h>
#include <link.h>

#include <climits>
#include <cstring>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/error.h"
#include "gie/plugin.h"
#include "plugin/registry.h"

namespace gie {
namespace {

//! Set by loadLibrary while it dlopen()s a library: the creators its static initializers register, held back
//! until the library's plugin ABI version is known to match (an incompatible creator must not be called at all).
thread_local std::vector<IPluginCreator*>* tPendingLoad = nullptr;

constexpr const char* kOriginNotePrefix = "plugin origin: ";

std::string versionText(int32_t v) { return strcat(v / 10000, ".", v / 100 % 100, ".", v % 100); }

//! Numeric-aware comparison ("10" > "9"), any number of digits; string order for non-numeric parts.
//! Never throws (it runs inside noexcept lookups): runs of digits compare by length once leading zeros
//! are skipped, then digit by digit.
int compareVersions(const std::string& a, const std::string& b) {
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        if (digit(a[i]) && digit(b[j])) {
            while (i + 1 < a.size() && a[i] == '0' && digit(a[i + 1])) ++i;
            while (j + 1 < b.size() && b[j] == '0' && digit(b[j + 1])) ++j;
            size_t ei = i, ej = j;
            while (ei < a.size() && digit(a[ei])) ++ei;
            while (ej < b.size() && digit(b[ej])) ++ej;
            if (ei - i != ej - j) return ei - i < ej - j ? -1 : 1;
            if (int c = a.compare(i, ei - i, b, j, ej - j)) return c < 0 ? -1 : 1;
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
        if (tPendingLoad) {  // inside loadLibrary's dlopen: registered (or refused) once the ABI check passed
            try {
                tPendingLoad->push_back(&c);
                return true;
            } catch (...) {
                return false;
            }
        }
        return apiGuard(nullptr, false, [&] {
            std::lock_guard<std::mutex> lock(mu_);
            const char* name = c.getPluginName();
            const char* version = c.getPluginVersion();
            GIE_CHECK(name && *name && version, ErrorCode::kINVALID_ARGUMENT, "a plugin creator has no name or version");
            const std::string variant = variantOf(c);
            for (auto* o : creators_)
                if (std::string(o->getPluginName()) == name && std::string(o->getPluginVersion()) == version &&
                    o->getDeviceType() == c.getDeviceType() && variantOf(*o) == variant) {
                    std::string msg = strcat("plugin creator '", name, "' version ", version,
                                             variant.empty() ? std::string() : " variant '" + variant + "'", " is already registered for this device");
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
                origins_.erase(&c);
                return true;
            }
        return false;
    }
    IPluginCreator* getCreator(const char* name, const char* version, DeviceType device) noexcept override {
        return find(name, version, device, nullptr);
    }
    IPluginCreator* getCreatorVariant(const char* name, const char* version, DeviceType device, const char* variant) noexcept override {
        return find(name, version, device, variant ? variant : "");
    }
    IPluginCreator* const* getAllCreators(int32_t* count) noexcept override {
        std::lock_guard<std::mutex> lock(mu_);
        try {
            // Snapshots are immutable and never freed (see plugin.h): a caller's array stays valid whatever
            // other threads register or ask for. A new one is made only after the creators changed.
            if (snapshots_.empty() || snapshots_.back() != creators_) snapshots_.push_back(creators_);
        } catch (...) {
            recordCurrentException(nullptr);
            if (count) *count = 0;
            return nullptr;
        }
        const auto& snap = snapshots_.back();
        if (count) *count = static_cast<int32_t>(snap.size());
        return snap.data();
    }
    bool loadLibrary(const char* path) noexcept override {
        return apiGuard(nullptr, false, [&] {
            GIE_CHECK(path && *path, ErrorCode::kINVALID_ARGUMENT, "loadLibrary: empty path");
            // The library's static initializers register its creators during dlopen (on this thread); they are
            // held back until its ABI version is checked, then registered here.
            std::vector<IPluginCreator*> pending;
            std::vector<IPluginCreator*>* outer = tPendingLoad;
            tPendingLoad = &pending;
            // RTLD_NODELETE: creators live in the library's static storage; they must never go away.
            void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
            tPendingLoad = outer;
            if (!h) {
                const char* err = dlerror();
                fail(ErrorCode::kINVALID_ARGUMENT, "cannot load plugin library '", path, "': ", err ? err : "unknown error");
            }
            // A library that registers nothing would otherwise load silently and fail much later, at build or load.
            // One that exports no ABI version either is no plugin library at all: say that, not "rebuild it". (A
            // library loaded before registered its creators then.)
            const char* const noCreators = "' registers no plugin creators (no GIE_REGISTER_PLUGIN_CREATOR, or built against another gie library)";
            GIE_CHECK(ownSymbol(h, "gie_plugin_abi_version") || !pending.empty() || registersCreator(h), ErrorCode::kINVALID_ARGUMENT,
                      "plugin library '", path, noCreators);
            checkAbi(h, path);
            // The origin an engine records: the file the loader found (a bare name may come from the library path),
            // absolute, so that it does not depend on the working directory.
            std::string origin = path;
            struct link_map* lm = nullptr;
            if (dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name && *lm->l_name) origin = lm->l_name;
            if (char* real = realpath(origin.c_str(), nullptr)) {
                origin = real;
                std::free(real);
            }
            std::vector<std::string> refused;
            for (IPluginCreator* c : pending) {
                if (registerCreator(*c)) {
                    std::lock_guard<std::mutex> lock(mu_);
                    origins_[c] = "library '" + origin + "'";
                } else {
                    const char* msg = nullptr;
                    getLastError(&msg);
                    refused.push_back(msg ? msg : "refused");
                }
            }
            if (!refused.empty()) {
                std::string all;
                for (const auto& r : refused) all += (all.empty() ? "" : "; ") + r;
                fail(ErrorCode::kINVALID_ARGUMENT, "plugin library '", path, "' was loaded, but ",
                     refused.size() == 1 ? std::string("a creator it registers was") : strcat(refused.size(), " creators it registers were"),
                     " refused (the creator registered first stays in use): ", all);
            }
            // Compatible but registering nothing, e.g. registrations that went to another copy of gie.
            GIE_CHECK(registersCreator(h), ErrorCode::kINVALID_ARGUMENT, "plugin library '", path, noCreators);
            return true;
        });
    }

    std::string origin(const IPluginCreator* c) {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = origins_.find(c);
        return it == origins_.end() ? std::string() : it->second;
    }
    void setOrigin(const IPluginCreator* c, const std::string& o) {
        std::lock_guard<std::mutex> lock(mu_);
        origins_[c] = o;
    }

private:
    static std::string variantOf(const IPluginCreator& c) {
        const char* v = c.getPluginVariant();
        return v ? v : "";
    }
    //! The creator named `name` for `device` of `version` (nullptr/"": the highest); `variant` nullptr: the
    //! default variant "" where there is one, else the first registered; otherwise exactly that variant.
    IPluginCreator* find(const char* name, const char* version, DeviceType device, const char* variant) noexcept {
        if (!name) return nullptr;
        try {
            std::lock_guard<std::mutex> lock(mu_);
            IPluginCreator* best = nullptr;
            auto better = [&](IPluginCreator* c) {
                if (!best) return true;
                if (!(version && *version)) {
                    int v = compareVersions(c->getPluginVersion(), best->getPluginVersion());
                    if (v != 0) return v > 0;
                }
                return !variant && variantOf(*c).empty() && !variantOf(*best).empty();
            };
            for (auto* c : creators_) {
                if (std::string(c->getPluginName()) != name) continue;
                if (device != DeviceType::kAUTO && c->getDeviceType() != device) continue;
                if (version && *version && std::string(c->getPluginVersion()) != version) continue;
                if (variant && variantOf(*c) != variant) continue;
                if (better(c)) best = c;
            }
            return best;
        } catch (...) {
            return nullptr;
        }
    }
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

    //! The function `name` exported by the library `h` itself: dlsym also searches the library's dependencies,
    //! libgie.so among them, which exports this gie's plugin ABI version.
    static int32_t (*ownSymbol(void* h, const char* name))() {
        void* sym = dlsym(h, name);
        Dl_info info;
        if (!sym || !dladdr(sym, &info) || !info.dli_fname) return nullptr;
        void* owner = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
        if (owner) dlclose(owner);  // NOLOAD took a reference
        return owner == h ? reinterpret_cast<int32_t (*)()>(sym) : nullptr;
    }
    //! The library's exported plugin ABI version (plugin.h) must be this gie's.
    static void checkAbi(void* h, const char* path) {
        auto abi = ownSymbol(h, "gie_plugin_abi_version");
        auto built = ownSymbol(h, "gie_plugin_gie_version");
        const std::string mine = strcat("this is gie ", versionText(getVersion()), " with plugin ABI version ", GIE_PLUGIN_ABI_VERSION);
        GIE_CHECK(abi, ErrorCode::kVERSION_MISMATCH, "plugin library '", path,
                  "' exports no plugin ABI version (gie_plugin_abi_version): it was built against a gie older than 0.1 or "
                  "without gie/plugin.h; ", mine, ". Rebuild it against this gie; none of its creators was registered");
        const int32_t v = abi();
        GIE_CHECK(v == GIE_PLUGIN_ABI_VERSION, ErrorCode::kVERSION_MISMATCH, "plugin library '", path, "' was built against gie ",
                  built ? versionText(built()) : std::string("?"), " with plugin ABI version ", v, "; ", mine,
                  ". Rebuild it against this gie; none of its creators was registered");
    }

    std::mutex mu_;
    std::map<const IPluginCreator*, std::string> origins_;
    std::vector<IPluginCreator*> creators_;
    std::deque<std::vector<IPluginCreator*>> snapshots_;  // deque: pushing never moves the earlier arrays
};

PluginRegistry* registryImpl() {
    static PluginRegistry* registry = new PluginRegistry();  // never destroyed: creators register from static init/fini
    return registry;
}

}  // namespace

IPluginRegistry* getPluginRegistry() noexcept { return registryImpl(); }

std::string pluginCreatorOrigin(const IPluginCreator* creator) { return registryImpl()->origin(creator); }
void setPluginCreatorOrigin(const IPluginCreator* creator, const std::string& origin) { registryImpl()->setOrigin(creator, origin); }

std::string originNote(const IPluginCreator* creator) {
    std::string o = pluginCreatorOrigin(creator);
    return o.empty() ? o : kOriginNotePrefix + o;
}

std::string originFromNotes(const std::vector<std::string>& notes) {
    for (const auto& n : notes)
        if (n.rfind(kOriginNotePrefix, 0) == 0) return n.substr(std::strlen(kOriginNotePrefix));
    return {};
}

}  // namespace gie
