// Memory planning with auxiliary streams, and the timing cache.
//
// Property test of planActivations: on random plans (steps spread over streams, inputs chosen among
// earlier tensors, some outputs wide with channel-slice views read by later steps, like a horizontally
// fused convolution), any two activation buffers that share bytes must be used in an order the runtime
// guarantees: every use of one happens before every use of the other, where "happens before" is what an
// execution context enforces (stream order, and an event from every writer of a tensor to its readers:
// tensorWriters()). Serial plans must still reach the lower bound of a chain. Prints "N passed, M failed".
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "builder/timing_cache.h"
#include "common/error.h"
#include "engine/engine.h"

#include "test_check.h"

using namespace gie;
using namespace testcheck;

namespace {
Dims mkdims(int64_t a, int64_t b) {
    Dims d;
    d.nbDims = 2;
    d.d[0] = a;
    d.d[1] = b;
    return d;
}

EnginePlan randomPlan(std::mt19937& rng, int nSteps, int nStreams) {
    EnginePlan p;
    p.device = DeviceType::kGPU;
    auto add = [&](TensorKind kind, int64_t ch, int32_t viewOf = -1, int64_t viewOffset = 0) {
        EngineTensor t;
        t.name = "t" + std::to_string(p.tensors.size());
        t.dims = mkdims(1, ch);
        t.kind = kind;
        t.bytes = ch * 4;
        t.viewOf = viewOf;
        t.viewOffset = viewOffset;
        p.tensors.push_back(t);
        return static_cast<int32_t>(p.tensors.size() - 1);
    };
    std::vector<int32_t> readable = {add(TensorKind::kInput, 64)};
    p.inputs = {readable[0]};
    std::uniform_int_distribution<int> ch(1, 300);
    for (int i = 0; i < nSteps; ++i) {
        EngineStep s;
        s.name = "s" + std::to_string(i);
        s.stream = std::uniform_int_distribution<int>(0, nStreams - 1)(rng);
        int nIn = std::uniform_int_distribution<int>(1, 2)(rng);
        for (int k = 0; k < nIn; ++k) {
            // Prefer recent tensors (chains and forks), sometimes an old one (long lifetimes).
            int n = static_cast<int>(readable.size());
            int pick = std::uniform_int_distribution<int>(0, 3)(rng) == 0 ? std::uniform_int_distribution<int>(0, n - 1)(rng)
                                                                          : std::max(0, n - 1 - std::uniform_int_distribution<int>(0, 2)(rng));
            s.inputs.push_back(readable[static_cast<size_t>(pick)]);
        }
        if (std::uniform_int_distribution<int>(0, 4)(rng) == 0) {
            // A wide output read through two channel-slice views.
            int64_t a = ch(rng), b = ch(rng);
            int32_t w = add(TensorKind::kActivation, a + b);
            s.outputs.push_back(w);
            readable.push_back(add(TensorKind::kActivation, a, w, 0));
            readable.push_back(add(TensorKind::kActivation, b, w, a));
        } else {
            int32_t o = add(TensorKind::kActivation, ch(rng));
            s.outputs.push_back(o);
            readable.push_back(o);
        }
        p.steps.push_back(std::move(s));
    }
    // The last step's output is the network output.
    p.tensors[static_cast<size_t>(p.steps.back().outputs[0])].kind = TensorKind::kOutput;
    p.outputs = {p.steps.back().outputs[0]};
    p.nbStreams = countStreams(p);
    return p;
}

//! hb[i][j]: step i happens before step j at run time.
std::vector<std::vector<bool>> happensBefore(const EnginePlan& p) {
    size_t n = p.steps.size();
    auto writers = tensorWriters(p);
    std::vector<std::vector<bool>> hb(n, std::vector<bool>(n, false));
    std::vector<int> last(static_cast<size_t>(countStreams(p)), -1);
    for (size_t j = 0; j < n; ++j) {
        std::vector<int> preds;
        int st = p.steps[j].stream;
        if (last[static_cast<size_t>(st)] >= 0) preds.push_back(last[static_cast<size_t>(st)]);
        last[static_cast<size_t>(st)] = static_cast<int>(j);
        for (int32_t t : p.steps[j].inputs)
            for (int w : writers[static_cast<size_t>(t)]) preds.push_back(w);
        for (int i : preds) {
            hb[static_cast<size_t>(i)][j] = true;
            for (size_t k = 0; k < n; ++k)
                if (hb[k][static_cast<size_t>(i)]) hb[k][j] = true;
        }
    }
    return hb;
}

void checkPlan(const EnginePlan& p, const std::string& what) {
    auto hb = happensBefore(p);
    size_t nt = p.tensors.size();
    std::vector<std::vector<int>> uses(nt);  // by owner (a view's uses count for its parent)
    auto owner = [&](int32_t t) { return p.tensors[static_cast<size_t>(t)].viewOf >= 0 ? p.tensors[static_cast<size_t>(t)].viewOf : t; };
    for (size_t s = 0; s < p.steps.size(); ++s) {
        for (int32_t t : p.steps[s].inputs) uses[static_cast<size_t>(owner(t))].push_back(static_cast<int>(s));
        for (int32_t t : p.steps[s].outputs) uses[static_cast<size_t>(owner(t))].push_back(static_cast<int>(s));
    }
    // Every step that writes bytes a reader reads (found here from the raw plan, independently of
    // tensorWriters) must happen before the reader.
    bool depsOk = true;
    std::string depWhy;
    for (size_t r = 0; r < p.steps.size() && depsOk; ++r)
        for (int32_t t : p.steps[r].inputs)
            for (size_t w = 0; w < r && depsOk; ++w)
                for (int32_t o : p.steps[w].outputs) {
                    bool writes = o == t || o == p.tensors[static_cast<size_t>(t)].viewOf || p.tensors[static_cast<size_t>(o)].viewOf == t;
                    if (writes && !hb[w][r]) {
                        depsOk = false;
                        depWhy = p.steps[r].name + " may read " + p.tensors[static_cast<size_t>(t)].name + " before " + p.steps[w].name + " wrote it";
                    }
                }
    check(depsOk, what + ": readers wait for writers" + (depsOk ? "" : ": " + depWhy));
    bool ok = true;
    std::string why;
    for (size_t a = 0; a < nt && ok; ++a)
        for (size_t b = a + 1; b < nt && ok; ++b) {
            const auto& A = p.tensors[a];
            const auto& B = p.tensors[b];
            if (A.kind != TensorKind::kActivation || B.kind != TensorKind::kActivation || A.viewOf >= 0 || B.viewOf >= 0) continue;
            bool overlap = A.offset < B.offset + B.bytes && B.offset < A.offset + A.bytes;
            if (!overlap) continue;
            bool ab = true, ba = true;
            for (int u : uses[a])
                for (int v : uses[b]) {
                    if (!hb[static_cast<size_t>(u)][static_cast<size_t>(v)]) ab = false;
                    if (!hb[static_cast<size_t>(v)][static_cast<size_t>(u)]) ba = false;
                }
            if (!ab && !ba) {
                ok = false;
                why = A.name + " and " + B.name + " share memory but their uses may overlap in time";
            }
        }
    check(ok, what + (ok ? "" : ": " + why));
    check(p.arenaBytes >= p.lowerBoundBytes && p.arenaBytes <= p.noReuseBytes, what + ": arena within [lower bound, no reuse]");
}

void testTimingCache() {
    const std::string path = "/tmp/gie_test_timing_cache_" + std::to_string(::getpid());
    std::remove(path.c_str());
    {
        TimingCache c;
        c.load(path, "GPU X sm90");  // missing file: empty
        check(c.size() == 0, "timing cache: a missing file is an empty cache");
        c.put("Convolution|1|abc|3:1x3x8x8/192,->|implicit_gemm_64x64", 0.125);
        c.put("Pooling|1|def|3:1x3x8x8/192,->|direct", 0.5);
        c.save(path);
    }
    {
        TimingCache c;
        c.load(path, "GPU X sm90");
        double ms = 0;
        check(c.size() == 2 && c.lookup("Pooling|1|def|3:1x3x8x8/192,->|direct", ms) && ms == 0.5, "timing cache: round trip");
        check(!c.lookup("Pooling|1|zzz|direct", ms), "timing cache: unknown key");
    }
    {
        TimingCache c;
        c.load(path, "another GPU sm80");
        check(c.size() == 0, "timing cache: entries of another device are ignored");
    }
    // The message with which loading `text` as a timing cache fails ("" if it loads).
    auto loadError = [&](const char* text) {
        std::ofstream(path) << text;
        TimingCache c;
        try {
            c.load(path, "GPU X sm90");
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    check(loadError("garbage\n").find("not a gie timing cache") != std::string::npos, "timing cache: a foreign file is a clear error");
    check(loadError("gie-timing-cache 2\ndevice\tGPU X sm90\nkey-without-time\n").find("line 3") != std::string::npos,
          "timing cache: a malformed line is named");
    check(loadError("gie-timing-cache 1\ndevice\tGPU X sm90\nkey-without-time\n").empty(),
          "timing cache: a file of an older cache version is ignored (remeasured and replaced), not an error");
    std::remove(path.c_str());
}
}  // namespace

int main() {
    std::mt19937 rng(1234);
    for (int iter = 0; iter < 400; ++iter) {
        int steps = std::uniform_int_distribution<int>(2, 40)(rng);
        int streams = iter % 4 == 0 ? 1 : std::uniform_int_distribution<int>(2, 4)(rng);
        EnginePlan p = randomPlan(rng, steps, streams);
        planActivations(p);
        checkPlan(p, "random plan " + std::to_string(iter) + " (" + std::to_string(steps) + " steps, " + std::to_string(streams) + " streams)");
    }
    // More streams than a builder config allows (kMAX_AUX_STREAMS): the planner's tables follow the plan
    // (it used to index a fixed 64-entry table).
    for (int streams : {64, 65, 200}) {
        EnginePlan p = randomPlan(rng, 400, streams);
        planActivations(p);
        checkPlan(p, "random plan with " + std::to_string(p.nbStreams) + " streams");
    }
    // A chain on one stream reuses memory down to the lower bound; the same chain with every other step
    // on an auxiliary stream is still a chain (each step waits for its producer), so it may reuse as well.
    for (int streams : {1, 2}) {
        EnginePlan p;
        EngineTensor t;
        t.dims = mkdims(1, 256);
        t.bytes = 1024;
        for (int i = 0; i < 6; ++i) {
            t.name = "c" + std::to_string(i);
            t.kind = i == 0 ? TensorKind::kInput : i == 5 ? TensorKind::kOutput : TensorKind::kActivation;
            p.tensors.push_back(t);
        }
        p.inputs = {0};
        p.outputs = {5};
        for (int i = 0; i < 5; ++i) {
            EngineStep s;
            s.name = "s" + std::to_string(i);
            s.inputs = {i};
            s.outputs = {i + 1};
            s.stream = streams == 1 ? 0 : i % 2;
            p.steps.push_back(std::move(s));
        }
        p.nbStreams = countStreams(p);
        planActivations(p);
        checkPlan(p, "chain on " + std::to_string(streams) + " stream(s)");
        check(p.arenaBytes == p.lowerBoundBytes, "chain on " + std::to_string(streams) + " stream(s) reaches the lower bound (" +
                                                     std::to_string(p.arenaBytes) + " vs " + std::to_string(p.lowerBoundBytes) + ")");
    }
    testTimingCache();
    return finish();
}
