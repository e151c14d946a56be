"""Tampered engine files: one structural field changed and both checksums recomputed (what a malicious file looks
like). Each must be refused at load with gie.InvalidEngineError naming the field, or load and run; nothing may
crash. Regression tests for issue 11 items 1-5 craft the file each finding was, and a mutation fuzzer changes
every number of the file's structure (counts, ids, kinds, streams, offsets, dims, kernel fields, weight sizes)
in a subprocess so that a crash is reported with its mutant.

Long mode (under the ASan+UBSan build of scripts/asan_fuzz.sh): GIE_FUZZ_SECONDS=600 runs random mutants for
that long instead of the short deterministic set."""
import json
import os
import random
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import gie

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engine_layout import find_step, fix_crcs, parse, patch  # noqa: E402


def build_engine(kind="mixed", seed=0, max_batch=2):
    """Small CPU engines covering the kernels whose fields the loader must check.
    mixed: conv (3x3, pad 1) -> relu -> max pool 2x2 -> [concat with a second conv branch] -> elementwise sum with
    a constant -> FC -> softmax; "pool": average pooling -> tanh; "deconv": deconvolution, padding, slice, shuffle,
    resize, reduce, gather; "views": sigmoid -> shuffle -> three Gathers on axis 0 that become range views
    (leading_axis_views) -> tanh each."""
    rng = np.random.default_rng(seed)
    builder = gie.Builder()
    net = builder.create_network()
    w = lambda *s: rng.standard_normal(s).astype(np.float32) * 0.3  # noqa: E731
    if kind == "pool":
        x = net.add_input("x", gie.float32, (1, 2, 6, 6))
        p = net.add_pooling(x, gie.PoolingType.AVERAGE, (2, 2))
        p.stride = (2, 2)
        p.name = "pool"
        a = net.add_activation(p.output(0), gie.ActivationType.TANH)
        net.mark_output(a.output(0), "y")
    elif kind == "mixed":
        x = net.add_input("x", gie.float32, (1, 3, 8, 8))
        c1 = net.add_convolution(x, 4, (3, 3), w(4, 3, 3, 3), w(4), padding=1)
        c1.name = "conv"
        r = net.add_activation(c1.output(0), gie.ActivationType.RELU)
        p = net.add_pooling(r.output(0), gie.PoolingType.MAX, (2, 2))
        p.stride = (2, 2)
        p.name = "pool"
        c2 = net.add_convolution(p.output(0), 2, (1, 1), w(2, 4, 1, 1), None)
        c2.name = "conv1x1"
        cat = net.add_concatenation([p.output(0), c2.output(0)])
        cat.name = "concat"
        k = net.add_constant((1, 6, 4, 4), w(1, 6, 4, 4))
        s = net.add_elementwise(cat.output(0), k.output(0), gie.ElementWiseOperation.SUM)
        s.name = "sum"
        fc = net.add_fully_connected(s.output(0), 5, w(5, 96), w(5))
        fc.name = "fc"
        sm = net.add_softmax(fc.output(0))
        sm.name = "probs"
        net.mark_output(sm.output(0), "prob")
        net.mark_output(p.output(0), "pooled")
    elif kind == "views":
        x = net.add_input("x", gie.float32, (1, 4, 3, 128))
        s = net.add_activation(x, gie.ActivationType.SIGMOID)
        q = net.add_shuffle(s.output(0), first_transpose=(2, 0, 1, 3))  # (3, batch, 4, 128): rows of 512 * batch
        for i in range(3):
            g = net.add_gather(q.output(0), net.add_constant((), np.array(i, np.int32)).output(0), axis=0)
            net.mark_output(net.add_activation(g.output(0), gie.ActivationType.TANH).output(0), f"y{i}")
    else:
        x = net.add_input("x", gie.float32, (1, 2, 5, 5))
        d = net.add_deconvolution(x, 3, (2, 2), w(2, 3, 2, 2), w(3), stride=2)
        d.name = "deconv"
        pd = net.add_padding(d.output(0), (1, 1), (0, 2))
        pd.name = "pad"
        sl = net.add_slice(pd.output(0), (0, 1, 2), (3, 8, 8), (1, 1, 1))
        sl.name = "slice"
        sh = net.add_shuffle(sl.output(0))
        sh.first_transpose = (0, 1, 3, 2)
        sh.name = "shuffle"
        rs = net.add_resize(sh.output(0), gie.ResizeMode.NEAREST, output_shape=(1, 3, 12, 12))
        rs.name = "resize"
        rd = net.add_reduce(rs.output(0), gie.ReduceOperation.AVG, (3,), keep_dims=False)
        rd.name = "reduce"
        idx = net.add_constant((2,), np.array([0, 2], np.int32))
        g = net.add_gather(rd.output(0), idx.output(0), axis=1)
        g.name = "gather"
        net.mark_output(g.output(0), "y")
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = max_batch
    return builder.build(net, config)


INPUT_SHAPES = {"mixed": (2, 3, 8, 8), "pool": (2, 2, 6, 6), "deconv": (2, 2, 5, 5), "views": (2, 4, 3, 128)}


@pytest.fixture(scope="module")
def engines():
    return {k: build_engine(k).serialize() for k in INPUT_SHAPES}


def refused(data, *patterns):
    """Loading `data` must raise gie.InvalidEngineError whose message names every pattern."""
    with pytest.raises(gie.InvalidEngineError) as ei:
        gie.Runtime().deserialize(data)
    msg = str(ei.value)
    for p in patterns:
        assert p.lower() in msg.lower(), f"message {msg!r} does not mention {p!r}"
    return msg


def test_layout_parser_round_trip(engines):
    """The parser reads every byte of each engine, and patching a number with its own value changes nothing."""
    for data in engines.values():
        e = parse(data)
        assert len(e["nums"]) > 50
        for n in e["nums"][::7]:
            assert patch(data, n, n.value) == data


# ---- issue 11 items 1-5: the crafted files each finding was --------------------------------------

def test_item1_cpu_step_on_an_auxiliary_stream(engines):
    """A CPU engine has only stream 0; a step naming stream 1 indexed the (empty) auxiliary streams at execute."""
    data = engines["mixed"]
    e = parse(data)
    step = find_step(e, "Pooling")
    msg = refused(patch(data, step["stream"], 1), "stream 1", step["name"])
    assert "cpu" in msg.lower()


def test_item2_activation_marked_output_but_not_listed(engines):
    """A tensor whose kind says output must be in the output list (outputs get the caller's memory; an unlisted one
    had none and a kernel wrote through a null pointer); inputs likewise."""
    data = engines["mixed"]
    e = parse(data)
    conv = find_step(e, "Convolution")
    t = e["tensors"][int(conv["outputs"][0].value)]
    assert int(t["kind"].value) == 0
    refused(patch(data, t["kind"], 2), t["name"], "output", "output list")
    refused(patch(data, t["kind"], 1), t["name"], "input", "input list")


def test_item3_huge_convolution_padding(engines):
    """Padding of 2^55 and more overflowed volume() in shape propagation, defeating the planned-size check."""
    data = engines["mixed"]
    e = parse(data)
    conv = find_step(e, "Convolution")
    for v in (1 << 55, 1 << 61, (1 << 63) - 1):
        bad = patch(data, conv["fields"]["pre_padding"]["values"][0], v)
        refused(bad, conv["name"], "pre_padding")


def test_item4_convolution_kernel_size_against_weight_count(engines):
    """A kernel size that no longer matches the weight count read past the weights (heap over-read in packA)."""
    data = engines["mixed"]
    e = parse(data)
    conv = find_step(e, "Convolution")
    ks = conv["fields"]["kernel_size"]["values"]
    refused(patch(data, ks[0], 5), conv["name"], "kernel")
    refused(patch(data, ks[1], 4), conv["name"], "kernel")
    fc = find_step(e, "FullyConnected")
    refused(patch(data, fc["fields"]["num_outputs"]["values"][0], 6), fc["name"])


@pytest.mark.parametrize("delta", [4, 1, 128])
def test_item5_unaligned_activation_offset(engines, delta):
    """Arena offsets must keep the memory planner's alignment (misaligned float stores under UBSan)."""
    data = engines["pool"]
    e = parse(data)
    step = find_step(e, "Pooling")
    out = e["tensors"][int(step["outputs"][0].value)]
    assert int(out["kind"].value) == 0
    refused(patch(data, out["offset"], int(out["offset"].value) + delta), out["name"], "aligned")


def test_explain_verdict_is_the_load_verdict(engines):
    """`gie explain` (gie._C.engine_summary) says loadable only for files that load, and gives load's reason."""
    data = engines["mixed"]
    assert json.loads(gie._C.engine_summary(data))["loadable"] is True
    e = parse(data)
    conv = find_step(e, "Convolution")
    crafted = [patch(data, find_step(e, "Pooling")["stream"], 1),
               patch(data, e["tensors"][int(conv["outputs"][0].value)]["kind"], 2),
               patch(data, conv["fields"]["kernel_size"]["values"][0], 5)]
    for bad in crafted:
        with pytest.raises(gie.InvalidEngineError) as ei:
            gie.Runtime().deserialize(bad)
        s = json.loads(gie._C.engine_summary(bad))
        assert s["loadable"] is False and str(ei.value) in s["reason"]


# ---- the mutation fuzzer -------------------------------------------------------------------------

# Values that break assumptions: zero, signs, alignment, 32-bit and 2^40 limits, int64 extremes.
INTERESTING = [0, 1, 2, 3, 4, -1, -2, 7, 64, 255, 256, 257, 4096, 65535, 2**31 - 1, -2**31, 2**32, 2**32 + 1, 2**40,
               2**40 + 1, 2**48, 2**55, 2**61, 2**62, 2**63 - 1, -2**63]
# Strings whose value the loader interprets (kernel type and version, tactic names).
_MEANINGFUL_STRINGS = (".type", ".version", ".tactic")


class _HeaderNum:
    def __init__(self, offset, fmt, path):
        self.offset, self.fmt, self.path = offset, fmt, path


_HEADER_NUMS = [_HeaderNum(16, "<I", "header.device"), _HeaderNum(20, "<i", "header.compute_capability"),
                _HeaderNum(24, "<Q", "header.flags")]


def mutate(data, layout, rng):
    """One mutant of engine `data` (parsed as `layout`): one to three structural numbers changed, or a meaningful
    string replaced; both checksums recomputed. Returns (description, bytes)."""
    import struct as _struct

    nums = [n for n in layout["nums"] if n.fmt[-1] not in "efd"] + _HEADER_NUMS
    if rng.random() < 0.1:
        strings = [s for s in layout["strings"] if s[2].endswith(_MEANINGFUL_STRINGS) and s[1] > 0]
        off, length, path = rng.choice(strings)
        others = [data[o:o + n] for o, n, _ in layout["strings"] if n == length and data[o:o + n] != data[off:off + length]]
        b = bytearray(data)
        if others and rng.random() < 0.7:
            b[off:off + length] = rng.choice(others)
        else:
            b[off + rng.randrange(length)] = rng.randrange(32, 127)
        return f"{path}<-{bytes(b[off:off + length])!r}", fix_crcs(bytes(b))
    out, desc = data, []
    for _ in range(1 if rng.random() < 0.7 else rng.randint(2, 3)):
        n = rng.choice(nums)
        old = _struct.unpack_from(n.fmt, out, n.offset)[0]
        r = rng.random()
        if r < 0.5:
            v = rng.choice(INTERESTING)
        elif r < 0.8:
            v = old + rng.choice([-256, -64, -4, -2, -1, 1, 2, 4, 64, 256, 2**32])
        else:  # another number of the file: an id, a count or an offset that means something elsewhere
            other = rng.choice(layout["nums"])
            v = int(_struct.unpack_from(other.fmt, out, other.offset)[0]) if other.fmt[-1] not in "efd" else 1
        out = patch(out, n, v)
        desc.append(f"{n.path}:{old}->{_struct.unpack_from(n.fmt, out, n.offset)[0]}")
    return " ".join(desc), out


_WORKER = textwrap.dedent("""
    import json, logging, random, sys, time
    import numpy as np
    sys.path.insert(0, {testdir!r})
    import gie
    from gie.engine import numpy_dtype
    from engine_layout import parse
    from test_engine_fuzz import mutate
    logging.disable(logging.CRITICAL)
    engines = {{k: open(p, "rb").read() for k, p in {paths!r}.items()}}
    layouts = {{k: parse(d) for k, d in engines.items()}}
    rng = random.Random({seed})
    stats = {{"mutants": 0, "refused": 0, "loaded": 0, "ran": 0, "run_refused": 0, "unicode_names": 0}}
    refusals = {{}}
    findings = []
    rt = gie.Runtime()
    deadline = time.time() + {seconds}
    for i in range({count}):
        if time.time() > deadline:
            break
        kind = rng.choice(sorted(engines))
        desc, data = mutate(engines[kind], layouts[kind], rng)
        print("MUTANT", kind, {seed}, i, desc, flush=True)
        stats["mutants"] += 1
        try:
            eng = rt.deserialize(data)
        except gie.Error as e:
            stats["refused"] += 1
            refusals[type(e).__name__] = refusals.get(type(e).__name__, 0) + 1
            continue
        except UnicodeDecodeError:
            stats["unicode_names"] += 1  # a tampered name that is not UTF-8: Python cannot show it
            continue
        except Exception as e:  # noqa: BLE001
            findings.append(f"{{kind}} seed {seed} #{{i}} {{desc}}: load raised {{type(e).__name__}}: {{e}}")
            continue
        stats["loaded"] += 1
        try:
            eng.layer_info()
        except gie.Error:
            pass
        except UnicodeDecodeError:
            stats["unicode_names"] += 1
        except Exception as e:  # noqa: BLE001
            findings.append(f"{{kind}} seed {seed} #{{i}} {{desc}}: layer_info raised {{type(e).__name__}}: {{e}}")
        try:
            ctx = eng.create_execution_context()
            for batch in sorted({{eng.max_batch, eng.min_batch}}):
                x = {{}}
                for name in eng.input_names:
                    shape = (batch,) + tuple(eng.get_tensor_shape(name))[1:]
                    x[name] = np.ones(shape, numpy_dtype(eng.get_tensor_dtype(name)))
                ctx.execute(x)
            stats["ran"] += 1
        except gie.Error:
            stats["run_refused"] += 1
        except UnicodeDecodeError:
            stats["unicode_names"] += 1
        except Exception as e:  # noqa: BLE001
            findings.append(f"{{kind}} seed {seed} #{{i}} {{desc}}: run raised {{type(e).__name__}}: {{e}}")
    print("RESULT", json.dumps({{"stats": stats, "refusals": refusals, "findings": findings}}), flush=True)
""")


def run_fuzz(engines, tmp_path, seconds, count_per_worker, seeds):
    """Runs workers (one subprocess each, so a crash is caught with its mutant) over `seeds` until `seconds`
    have passed. Returns (totals, findings)."""
    paths = {}
    for k, d in engines.items():
        paths[k] = str(tmp_path / f"{k}.gie")
        with open(paths[k], "wb") as f:
            f.write(d)
    testdir = os.path.dirname(os.path.abspath(__file__))
    totals, refusals, findings = {}, {}, []
    start = time.time()
    for seed in seeds:
        left = seconds - (time.time() - start)
        if left <= 0:
            break
        script = _WORKER.format(testdir=testdir, paths=paths, seed=seed, seconds=left, count=count_per_worker)
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
        lines = r.stdout.splitlines()
        result = [ln for ln in lines if ln.startswith("RESULT ")]
        if r.returncode != 0 or not result:
            last = [ln for ln in lines if ln.startswith("MUTANT ")]
            findings.append(f"worker crashed (rc {r.returncode}) at {last[-1] if last else 'start'}\n{r.stderr[-3000:]}")
            # Count the mutants it got through (the last one crashed it).
            totals["mutants"] = totals.get("mutants", 0) + len(last)
            totals["crashed"] = totals.get("crashed", 0) + 1
            continue
        res = json.loads(result[-1][len("RESULT "):])
        for k, v in res["stats"].items():
            totals[k] = totals.get(k, 0) + v
        for k, v in res["refusals"].items():
            refusals[k] = refusals.get(k, 0) + v
        findings += res["findings"]
    totals["refusals"] = refusals
    totals["seconds"] = round(time.time() - start, 1)
    return totals, findings


def test_mutation_fuzz(engines, tmp_path):
    """Short deterministic run (a few seconds) in the normal suite; GIE_FUZZ_SECONDS=N runs random seeds for N s."""
    long_s = float(os.environ.get("GIE_FUZZ_SECONDS", "0"))
    if long_s > 0:
        seeds = [random.randrange(1 << 30) for _ in range(100000)]
        totals, findings = run_fuzz(engines, tmp_path, long_s, 20000, seeds)
    else:
        totals, findings = run_fuzz(engines, tmp_path, 120, 1500, [1, 2])
    print("\nfuzz:", json.dumps(totals))
    report = os.environ.get("GIE_FUZZ_REPORT")
    if report:
        with open(report, "w") as f:
            json.dump({"totals": totals, "findings": findings}, f, indent=1)
    assert not findings, "\n".join(findings[:20])
    assert totals["mutants"] >= (3000 if long_s == 0 else 1)
    assert totals.get("refused", 0) > 0 and totals.get("ran", 0) > 0, totals


# ---- findings of the fuzzer, each crafted again ----------------------------------------------------

def test_finding_workspace_smaller_than_a_kernel_needs(engines):
    """The file's workspace size was trusted: a deconvolution wrote past a 64-byte workspace (heap corruption).
    The engine now sizes the workspace for what its kernels ask for at load (a kernel's need may also depend on
    this process's thread count), so the modified file runs and gives the original's results."""
    data = engines["deconv"]
    e = parse(data)
    assert int(e["workspace"].value) > 64
    x = np.random.default_rng(5).standard_normal(INPUT_SHAPES["deconv"]).astype(np.float32)
    want = gie.Runtime().deserialize(data).create_execution_context().execute({"x": x})["y"]
    for ws in (64, 2**40):  # too small (heap overflow) or absurd (a 1 TiB allocation per context)
        loaded = gie.Runtime().deserialize(patch(data, e["workspace"], ws))
        assert loaded.layer_info()["memory"]["workspace_bytes"] == int(e["workspace"].value)
        np.testing.assert_array_equal(loaded.create_execution_context().execute({"x": x})["y"], want)


def test_finding_max_batch_beyond_the_stored_shapes(engines):
    """A max batch of 2^32 with shapes stored at batch 2 loaded, and running at it needed terabytes."""
    data = engines["mixed"]
    e = parse(data)
    for v in (3, 2**32 + 1, 2**40 + 1):
        refused(patch(data, e["max_batch"], v), "max batch" if v < 2**40 else "batch range")


def test_finding_arena_larger_than_its_tensors(engines):
    """An arena size of 2^40 (within the old plausibility bound of 2^42) made every context allocate 1 TiB."""
    data = engines["mixed"]
    e = parse(data)
    refused(patch(data, e["arena"], 2**40), "arena", "side by side")


def test_modified_network_description_is_an_engine_error(engines):
    """The network description is stored as JSON text and shown by layer_info(): a modified one is an
    InvalidEngineError there, not a JSONDecodeError."""
    data = engines["pool"]
    off, length, path = next(s for s in parse(data)["strings"] if s[2] == "network_json")
    b = bytearray(data)
    b[off] = ord("x")  # the opening brace
    eng = gie.Runtime().deserialize(fix_crcs(bytes(b)))
    with pytest.raises(gie.InvalidEngineError, match="build report is not valid JSON"):
        eng.layer_info()


def test_finding_overlapping_live_activations(engines):
    """Moving a tensor onto another one that is alive at the same time made a kernel copy between overlapping
    buffers (memcpy-param-overlap under ASan; wrong results without it)."""
    data = engines["deconv"]
    e = parse(data)
    t1 = e["tensors"][1]  # the deconvolution's output, read by the padding whose output is tensor 2
    t2 = e["tensors"][2]
    assert int(t1["offset"].value) != int(t2["offset"].value)
    refused(patch(data, t1["offset"], int(t2["offset"].value)), "share arena bytes", t1["name"], t2["name"])
