"""Tactics chosen per optimization profile (issue 15), as TensorRT does: the builder keeps, per kernel, the fastest
tactic at EACH profile's opt shapes; the engine holds one instance per distinct tactic (one when the profiles agree),
stores the choice in the engine file (format 5) and the execution context runs the selected profile's.

CPU built-in kernels have one tactic each, so the CPU tests use TacticTag (tests/plugins/range_plugins.cpp): y = x + 1
with tactics "plain" and "scratch" (through a workspace), and a second output saying which tactic ran. The choice is
forced through the timing cache: a first build writes it, the test rewrites the times so that one tactic wins at
profile 0's opt shape and the other at profile 1's, and a second build reads them (no test hook). The GPU test does the
same with the built-in FP16 convolution's tactics and checks the results against the CPU engine."""
import json
import os
import re
import struct
import sys

import numpy as np
import pytest

import gie

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engine_layout import fix_crcs, parse, patch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# Batch 1-2 (opt 1) and batch 32-64 (opt 64), as TensorRT users split latency and throughput.
PROFILES = [{"x": ((1, 4, 5, 5), (1, 4, 5, 5), (2, 4, 5, 5))},
            {"x": ((32, 4, 5, 5), (64, 4, 5, 5), (64, 4, 5, 5))}]


def weights():
    rng = np.random.default_rng(5)
    return rng.standard_normal((6, 4, 3, 3)).astype(np.float32) * 0.3, rng.standard_normal(6).astype(np.float32)


def reference(x):
    """relu(conv3x3(x, pad 1) + 1): the network below in numpy."""
    w, b = weights()
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    h, wd = x.shape[2], x.shape[3]
    y = np.zeros((x.shape[0], 6, h, wd), np.float64)
    for i in range(3):
        for j in range(3):
            y += np.einsum("nchw,oc->nohw", xp[:, :, i:i + h, j:j + wd], w[:, :, i, j])
    return np.maximum(y + b[None, :, None, None] + 1, 0)


def build(cache, profiles=PROFILES, force=None, serialize=False):
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (-1, 4, 5, 5))
    w, b = weights()
    conv = net.add_convolution(x, 6, (3, 3), w, b, padding=(1, 1))
    tag = net.add_plugin("TacticTag", [conv.output(0)], {})
    tag.name = "tag"
    relu = net.add_activation(tag.output(0), gie.ActivationType.RELU)
    net.mark_output(relu.output(0), "y")
    net.mark_output(tag.output(1), "tactic")
    config = builder.create_config()
    config.device = "cpu"
    config.timing_cache = cache
    for p in profiles:
        config.add_profile(p)
    if force:
        config.force_tactic("tag", force)
    engine = builder.build(net, config)
    return engine.serialize() if serialize else engine


def force_times(cache, fast):
    """Rewrites the timing cache's TacticTag entries: `fast[batch]` is the tactic that takes 0.01 ms at that batch (the
    first input's dimension 0 in the key); every other entry of it takes 5 ms."""
    lines = open(cache).read().splitlines()
    out, hit = [], set()
    for ln in lines:
        if ln.startswith("TacticTag|"):
            key, _ = ln.rsplit("\t", 1)
            tactic = key.rsplit("|", 1)[1]
            batch = int(key.split("|")[4].split(":", 1)[1].split("x", 1)[0])
            ms = 0.01 if fast.get(batch) == tactic else 5.0
            hit.add((batch, tactic))
            ln = f"{key}\t{ms}"
        out.append(ln)
    assert {(b, t) for b, t in hit if fast.get(b) == t} == set(fast.items()), (hit, fast)
    with open(cache, "w") as f:
        f.write("\n".join(out) + "\n")


def forced_engine(tmp_path, fast, serialize=False):
    cache = str(tmp_path / "timing.cache")
    build(cache)  # writes every (tactic, profile) timing
    force_times(cache, fast)
    return build(cache, serialize=serialize)


def tag_kernel(engine):
    (k,) = [k for k in engine.layer_info()["kernels"] if k["name"] == "tag"]
    return k


def check_runs(engine, expected):
    """Runs every profile at batches inside it; `expected[profile]` is the tactic index it must run."""
    rng = np.random.default_rng(1)
    ctx = engine.create_execution_context()
    for profile, batches in ((0, (1, 2)), (1, (32, 64)), (0, (2,))):
        ctx.set_optimization_profile(profile)
        for n in batches:
            x = rng.standard_normal((n, 4, 5, 5)).astype(np.float32)
            out = ctx.execute({"x": x})
            np.testing.assert_allclose(out["y"], reference(x), rtol=1e-4, atol=1e-4)
            assert out["tactic"][0] == expected[profile], (profile, n, out["tactic"])


def test_each_profile_runs_its_fastest_tactic(range_plugins_lib, tmp_path):
    engine = forced_engine(tmp_path, {1: "plain", 64: "scratch"})
    k = tag_kernel(engine)
    assert k["profile_tactics"] == ["plain", "scratch"] and k["tactic"] == "plain", k
    check_runs(engine, {0: 0, 1: 1})
    # The other way round: the choice follows the times, not the order of the tactics or of the profiles.
    engine = forced_engine(tmp_path, {1: "scratch", 64: "plain"})
    assert tag_kernel(engine)["profile_tactics"] == ["scratch", "plain"]
    check_runs(engine, {0: 1, 1: 0})


def test_agreeing_profiles_share_one_kernel(range_plugins_lib, tmp_path):
    data = forced_engine(tmp_path, {1: "scratch", 64: "scratch"}, serialize=True)
    engine = gie.Runtime().deserialize(data)
    assert tag_kernel(engine)["profile_tactics"] == ["scratch", "scratch"]
    step = next(s for s in parse(data)["steps"] if s["type"] == "TacticTag")
    assert step["alternates"] == [] and step["profile_kernel"] == []  # one instance, no table
    check_runs(engine, {0: 1, 1: 1})


def test_one_profile_has_no_profile_table(range_plugins_lib, tmp_path):
    engine = build(str(tmp_path / "c"), profiles=PROFILES[:1])
    assert "profile_tactics" not in tag_kernel(engine)


def test_forced_tactic_serves_every_profile(range_plugins_lib, tmp_path):
    cache = str(tmp_path / "timing.cache")
    build(cache)
    force_times(cache, {1: "plain", 64: "scratch"})
    engine = build(cache, force="scratch")  # config.force_tactic wins over the times, for every profile
    assert tag_kernel(engine)["profile_tactics"] == ["scratch", "scratch"]
    check_runs(engine, {0: 1, 1: 1})


def test_workspace_is_the_largest_over_the_profiles_kernels(range_plugins_lib, tmp_path):
    """Profile 0 runs "plain" (no workspace); profile 1's "scratch" needs the largest input in floats: the engine's
    workspace must hold it although the step's own kernel (profile 0's) needs none."""
    engine = forced_engine(tmp_path, {1: "plain", 64: "scratch"})
    need = 64 * 6 * 5 * 5 * 4
    assert engine.layer_info()["memory"]["workspace_bytes"] >= need
    loaded = gie.Runtime().deserialize(engine.serialize())
    assert loaded.layer_info()["memory"]["workspace_bytes"] >= need


def test_serialized_engine_keeps_the_choice(range_plugins_lib, tmp_path):
    data = forced_engine(tmp_path, {1: "plain", 64: "scratch"}, serialize=True)
    assert struct.unpack_from("<I", data, 8)[0] >= 5  # per-profile tactics since format 5
    step = next(s for s in parse(data)["steps"] if s["type"] == "TacticTag")
    assert [a[0] for a in step["alternates"]] == ["scratch"] and [int(v) for v in step["profile_kernel"]] == [0, 1]
    engine = gie.Runtime().deserialize(data)
    assert tag_kernel(engine)["profile_tactics"] == ["plain", "scratch"]
    check_runs(engine, {0: 0, 1: 1})
    summary = json.loads(gie._C.engine_summary(data))
    (k,) = [k for k in summary["kernels"] if k["type"] == "TacticTag"]
    assert k["tactic"] == "plain" and k["profile_tactics"] == ["plain", "scratch"], k
    assert engine.serialize() == data  # what was loaded writes the same file


def test_inspect_names_each_profiles_tactic(range_plugins_lib, tmp_path):
    from gie import report
    engine = forced_engine(tmp_path, {1: "plain", 64: "scratch"})
    assert report._tactic_line(tag_kernel(engine)) == "tactic per optimization profile: 0 plain, 1 scratch"


def test_draw_names_each_profiles_tactic(range_plugins_lib, tmp_path):
    """gie draw: the kernel box (--after) and the tooltips (both views) give every profile's tactic where they differ,
    through the CLI on the serialized engine as well."""
    from gie import draw
    from test_cli import _ok, cli
    engine = forced_engine(tmp_path, {1: "plain", 64: "scratch"})
    g = draw.build_graph(engine.layer_info(), "after")
    (node,) = [n for n in g.nodes.values() if n.kind == "kernel" and n.lines[1][0] == "tag"]
    assert ("tactic p0 plain / p1 scratch", "small") in node.lines, node.lines
    assert "tactic p0 plain / p1 scratch" in node.tooltip
    g = draw.build_graph(engine.layer_info(), "both")
    assert any("kernel tag (TacticTag, tactic p0 plain / p1 scratch)" in n.tooltip for n in g.nodes.values())
    path = tmp_path / "tag.gie"
    path.write_bytes(engine.serialize())
    out = tmp_path / "tag.dot"
    _ok(cli("draw", path, "--plugins", range_plugins_lib, "--after", "-o", out))
    assert "tactic p0 plain / p1 scratch" in out.read_text()
    # Profiles that agree: one tactic, as before.
    engine = forced_engine(tmp_path, {1: "scratch", 64: "scratch"})
    (node,) = [n for n in draw.build_graph(engine.layer_info(), "after").nodes.values() if n.lines[1][0] == "tag"]
    assert ("tactic scratch", "small") in node.lines, node.lines


def test_explain_counts_every_profiles_tactic_architecture():
    from gie import cli
    kernels = [{"device": "gpu", "tactic": "simt_64x64", "tactic_architecture": "",
                "profile_tactics": ["simt_64x64", "wgmma1x1_128x128x64_s4_hwc8"]}]
    lines = cli._architecture_lines(kernels)
    assert any(ln.strip().startswith("sm_90a") and "wgmma1x1_128x128x64_s4_hwc8 x1" in ln for ln in lines), lines


def test_cpp_program():
    """tests/cpp/test_per_profile_tactics.cpp: the same through the C++ API (two contexts on different profiles too)."""
    from test_reformat import run_cpp_program
    run_cpp_program("test_per_profile_tactics")


# ---- crafted files: the new fields validated like every other -------------------------------------------

def _insert(data, offset, extra):
    """`extra` bytes inserted into the body at file offset `offset`, the body size and both CRCs fixed."""
    b = bytearray(data[:offset]) + extra + bytearray(data[offset:])
    struct.pack_into("<Q", b, 32, struct.unpack_from("<Q", b, 32)[0] + len(extra))
    return fix_crcs(b)


def _refused(data, *patterns):
    with pytest.raises(gie.InvalidEngineError) as ei:
        gie.Runtime().deserialize(data)
    for p in patterns:
        assert p in str(ei.value), (p, str(ei.value))
    return str(ei.value)


def test_crafted_profile_tables_are_refused(range_plugins_lib, tmp_path):
    data = forced_engine(tmp_path, {1: "plain", 64: "scratch"}, serialize=True)
    step = next(s for s in parse(data)["steps"] if s["type"] == "TacticTag")
    (alt_name, alt_index), table = step["alternates"][0], step["profile_kernel"]
    _refused(patch(data, table[1], 2), "'tag'", "profile 1 runs instance 2", "field 'profile kernel'")
    _refused(patch(data, table[1], -1), "profile 1 runs instance -1", "field 'profile kernel'")
    _refused(patch(data, table[0], 1), "profile 0 must run the kernel's own tactic")
    _refused(patch(data, table[1], 0), "'scratch' is run by no optimization profile")
    # A table of one entry in a two-profile engine (the count lowered, one entry dropped): a count mismatch.
    prefix = table[0].path.split(".")[0]  # "step[k]"
    count = next(n for n in parse(data)["nums"] if n.path == prefix + ".profile_kernel.count")
    short = bytearray(patch(data, count, 1))
    del short[table[1].offset:table[1].offset + 4]
    struct.pack_into("<Q", short, 32, struct.unpack_from("<Q", short, 32)[0] - 4)
    _refused(fix_crcs(short), "1 entries in its per-profile kernel table", "field 'profile kernel count'", "expected 2")
    # Two alternates in a two-profile engine: at most one.
    alt_count = next(n for n in parse(data)["nums"] if n.path == prefix + ".alternates.count")
    two = _insert(patch(data, alt_count, 2), alt_index.offset + 4, struct.pack("<I", 5) + b"other" + struct.pack("<i", 0))
    _refused(two, "2 alternate tactic(s)", "field 'alternate tactic count'", "at most 1")
    # An alternate that repeats the kernel's own tactic: only wasteful, it loads and runs it for profile 1.
    name_at = next(off for off, n, path in parse(data)["strings"] if path.endswith("alternates[0].tactic"))
    same = bytearray(data)
    assert bytes(same[name_at:name_at + 7]) == b"scratch"
    same[name_at:name_at + 7] = b"plain\0\0"
    struct.pack_into("<I", same, name_at - 4, 5)
    del same[name_at + 5:name_at + 7]
    struct.pack_into("<Q", same, 32, struct.unpack_from("<Q", same, 32)[0] - 2)
    check_runs(gie.Runtime().deserialize(fix_crcs(same)), {0: 0, 1: 0})
    # An alternate naming a tactic the kernel does not offer (its index is then looked up by name).
    bogus = bytearray(data)
    bogus[name_at:name_at + 7] = b"nothere"
    _refused(fix_crcs(bogus), "tactic 'nothere'", "does not offer")
    # A stale index with the right name still loads (found by name, as for the step's own tactic).
    stale = gie.Runtime().deserialize(patch(data, alt_index, 7))
    check_runs(stale, {0: 0, 1: 1})


def test_fuzz_seed_with_a_profile_table_loads_and_its_mutants_are_refused_cleanly():
    """tests/fuzz_corpus/engine/profile_tactics.gie (format 5; tests/fuzz/make_engine_seeds.py) gives its convolution an
    alternate instance for profile 1: it loads, both profiles compute the same, and every number of the new fields set
    to a hostile value loads and runs or is refused with InvalidEngineError, never anything else."""
    with open(os.path.join(HERE, "fuzz_corpus", "engine", "profile_tactics.gie"), "rb") as f:
        seed = f.read()
    assert struct.unpack_from("<I", seed, 8)[0] == 5

    def run(data):
        engine = gie.Runtime().deserialize(data)
        ctx = engine.create_execution_context()
        x = np.random.default_rng(0).standard_normal((8, 3, 8, 8)).astype(np.float32)
        outs = []
        for p, n in ((0, 2), (1, 8)):
            ctx.set_optimization_profile(p)
            outs.append(ctx.execute({"x": x[:n]})["y"])
        return outs

    y0, y1 = run(seed)
    np.testing.assert_array_equal(y0, y1[:2])
    fields = [n for n in parse(seed)["nums"] if ".alternates" in n.path or ".profile_kernel" in n.path]
    assert len(fields) == 6  # (one step: conv + relu) its two counts, the alternate (name length, index), the table
    refusals = 0
    for n in fields:
        for v in (-1, 1, 2, 3, 255, 2**31 - 1):
            try:
                run(patch(seed, n, v))
            except gie.InvalidEngineError:
                refusals += 1
    assert refusals > len(fields)


def test_format_4_file_still_loads():
    """Format 5 added the per-profile tactic table; a format-4 file (every profile runs the step's tactic) still loads
    and runs: the two-profile seed of the engine fuzz corpus is one."""
    seeds = os.path.join(HERE, "fuzz_corpus", "engine")
    with open(os.path.join(seeds, "profiles.gie"), "rb") as f:
        old = f.read()
    assert struct.unpack_from("<I", old, 8)[0] == 4
    engine = gie.Runtime().deserialize(old)
    assert engine.num_optimization_profiles == 2
    assert all(len(set(k["profile_tactics"])) == 1 for k in engine.layer_info()["kernels"])
    ctx = engine.create_execution_context()
    for p in range(2):
        ctx.set_optimization_profile(p)
        ctx.execute({name: np.ones(engine.get_profile_shape(name, p)[0], np.float32) for name in engine.input_names})


# ---- GPU: FP16 with two profiles, tactics forced apart, against the CPU engine -------------------------

@pytest.mark.gpu
def test_gpu_fp16_two_profiles_against_cpu(tmp_path):
    """A convolutional network built FP16 for the GPU with profiles batch 1-2 (opt 1) and 32-64 (opt 64). The timing
    cache is rewritten so that, for every convolution kernel, one tactic wins at batch 1 and another at batch 64; each
    profile must then run its own, and both must match the FP32 CPU engine at FP16 tolerance; refit changes the weights
    of every per-profile instance."""
    rng = np.random.default_rng(2)
    shape = (-1, 16, 12, 12)
    profiles = [{"x": ((1,) + shape[1:], (1,) + shape[1:], (2,) + shape[1:])},
                {"x": ((32,) + shape[1:], (64,) + shape[1:], (64,) + shape[1:])}]
    w1 = rng.standard_normal((32, 16, 3, 3)).astype(np.float32) * 0.1
    w2 = rng.standard_normal((32, 32, 1, 1)).astype(np.float32) * 0.1

    def make(device, cache=None, weights=(w1, w2)):
        builder = gie.Builder()
        net = builder.create_network()
        x = net.add_input("x", gie.float32, shape)
        c1 = net.add_convolution(x, 32, (3, 3), weights[0], np.zeros(32, np.float32), padding=(1, 1))
        c1.name = "c1"
        r = net.add_activation(c1.output(0), gie.ActivationType.RELU)
        c2 = net.add_convolution(r.output(0), 32, (1, 1), weights[1], np.zeros(32, np.float32))
        c2.name = "c2"
        net.mark_output(c2.output(0), "y")
        config = builder.create_config()
        config.device = device
        if device == "gpu":
            config.fp16 = True
            config.refittable = True
            config.timing_cache = cache
        for p in profiles:
            config.add_profile(p)
        return builder.build(net, config), net

    cache = str(tmp_path / "gpu.cache")
    make("gpu", cache)
    # Group the cache's entries by kernel (the key without its tactic, dimension 0 of every descriptor blanked): for each
    # kernel timed at batch 1 and 64 with two or more common tactics, the first common tactic in name order wins at
    # batch 1 and the last at batch 64; every other tactic of it takes 50 ms.
    lines = open(cache).read().splitlines()
    groups = {}
    for i, ln in enumerate(lines):
        if "|" not in ln or "\t" not in ln:
            continue
        key = ln.rsplit("\t", 1)[0]
        head, tactic = key.rsplit("|", 1)
        fields = head.split("|")
        batch = int(fields[4].split(":", 1)[1].split("x", 1)[0])
        kernel = re.sub(r":\d+x", ":*x", head)
        groups.setdefault(kernel, {}).setdefault(batch, []).append((tactic, i, key))
    forced = 0
    for by_batch in groups.values():
        if 1 not in by_batch or 64 not in by_batch:
            continue
        common = sorted({t for t, _, _ in by_batch[1]} & {t for t, _, _ in by_batch[64]})
        if len(common) < 2:
            continue
        for batch, winner in ((1, common[0]), (64, common[-1])):
            for tactic, i, key in by_batch[batch]:
                lines[i] = f"{key}\t{0.001 if tactic == winner else 50.0}"
        forced += 1
    assert forced >= 1, "no kernel with two tactics was timed at batches 1 and 64"
    with open(cache, "w") as f:
        f.write("\n".join(lines) + "\n")
    engine, net = make("gpu", cache)
    split = [k for k in engine.layer_info()["kernels"] if len(set(k.get("profile_tactics", []))) > 1]
    assert split, [(k["name"], k.get("profile_tactics")) for k in engine.layer_info()["kernels"]]
    cpu, _ = make("cpu")

    def check(eng, ref_engine):
        loaded = gie.Runtime().deserialize(eng.serialize())
        for e in (eng, loaded):
            ctx, ref = e.create_execution_context(), ref_engine.create_execution_context()
            for profile, n in ((0, 1), (0, 2), (1, 32), (1, 64), (0, 1)):
                ctx.set_optimization_profile(profile)
                ref.set_optimization_profile(profile)
                x = rng.standard_normal((n,) + shape[1:]).astype(np.float32)
                got, want = ctx.execute({"x": x})["y"], ref.execute({"x": x})["y"]
                np.testing.assert_allclose(got, want, rtol=2e-2, atol=2e-2 * float(np.abs(want).max()))

    check(engine, cpu)
    # Refit: new weights reach every per-profile instance of the split kernels.
    v1, v2 = w1[::-1].copy() * 1.5, -w2
    refitter = gie.Refitter(engine)
    refitter.set_weights("c1", "kernel", v1)
    refitter.set_weights("c2", "kernel", v2)
    refitted = refitter.refit()
    cpu2, _ = make("cpu", weights=(v1, v2))
    check(refitted, cpu2)
