"""The ONNX backend node tests shipped with the onnx package (onnx/backend/test/data/node/<case>/model.onnx
with test_data_set_*/{input,output}_*.pb), run through the gie ONNX importer on the CPU.

Only cases whose every node has a gie converter are collected. A case ends as
  passed   - gie's outputs match the reference outputs (rtol 1e-3, atol 1e-5, like onnx's own backend tests),
  skipped  - the importer raises gie.UnsupportedError for an attribute/input combination it does not map
             (reported with the importer's reason),
  xfailed  - a documented semantic gap (KNOWN_GAPS below, see docs/onnx.md),
  failed   - anything else.
Run ``python tests/test_onnx_conformance.py`` for a summary (passed / failed / unsupported counts).
"""
import glob
import os
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

import gie  # noqa: E402
from gie.parsers.onnx_parser import supported_ops  # noqa: E402

DATA = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node")

# case-name prefix -> why gie differs (documented in docs/onnx.md, "Known gaps").
KNOWN_GAPS = {
    "test_resize_downsample_scales_linear_align_corners":
        "align_corners with a fractional scale*in: gie uses the integer output length (like onnxruntime and "
        "PyTorch), the ONNX reference uses scale*in (docs/layers_b.md, Resize)",
}


def _supported(model):
    ops = supported_ops()
    return all(n.op_type in ops and n.domain in ("", "ai.onnx") for n in model.graph.node)


def _load_pb(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return onnx.numpy_helper.to_array(t)


def _collect():
    """{case name: (model, [(inputs, outputs)], rtol, atol)} for the node cases whose ops gie imports.

    Uses the shipped data directory when the onnx wheel has one; otherwise generates the same cases with
    onnx.backend.test.case.node.collect_testcases (models + reference outputs, ~15 s)."""
    cases = {}
    if os.path.isdir(DATA):
        for d in sorted(glob.glob(os.path.join(DATA, "*"))):
            path = os.path.join(d, "model.onnx")
            if not os.path.isfile(path):
                continue
            m = onnx.load(path)
            if not _supported(m):
                continue
            sets = []
            for s in sorted(glob.glob(os.path.join(d, "test_data_set_*"))):
                sets.append(([_load_pb(p) for p in sorted(glob.glob(os.path.join(s, "input_*.pb")))],
                             [_load_pb(p) for p in sorted(glob.glob(os.path.join(s, "output_*.pb")))]))
            cases[os.path.basename(d)] = (m, sets, 1e-3, 1e-7)
        return cases
    import warnings
    from onnx.backend.test.case import node
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for tc in node.collect_testcases(None):
            if tc.model is None or not _supported(tc.model):
                continue
            cases[tc.name] = (tc.model, [(list(i), list(o)) for i, o in tc.data_sets], tc.rtol, tc.atol)
    return cases


CASES = _collect()


def _to_gie(arr):
    arr = np.asarray(arr)
    if arr.dtype == np.float64:
        return arr.astype(np.float32)
    if arr.dtype.kind in "iu" and arr.dtype not in (np.int32, np.int8):
        return arr.astype(np.int32)
    return arr


def _bake_unbatched(model, feeds):
    """gie takes dimension 0 of every network input as the (shared) batch. The node tests often feed
    parameters as inputs (a (5,) scale next to a (2, 3, 4, 5) tensor): inputs after the first whose
    dimension 0 differs from the first input's become initializers with the test's values."""
    names = list(feeds)
    if len(names) < 2 or not feeds[names[0]].ndim:
        return model, feeds
    b = feeds[names[0]].shape[0]
    bake = [n for n in names[1:] if feeds[n].ndim == 0 or feeds[n].shape[0] != b]
    if not bake:
        return model, feeds
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for n in bake:  # the graph input stays (an input with an initializer is a defaulted input)
        m.graph.initializer.append(onnx.numpy_helper.from_array(np.asarray(feeds[n]), n))
    return m, {n: v for n, v in feeds.items() if n not in bake}


def run_case(case):
    """Returns (status, reason): status in passed / failed / unsupported / gap."""
    for prefix, why in KNOWN_GAPS.items():
        if case == prefix or case.startswith(prefix + "_"):
            return "gap", why
    model, sets, rtol, atol = CASES[case]
    rtol, atol = max(rtol, 1e-3), max(atol, 1e-5)
    if not sets:
        return "failed", "no test data"
    init_names = {i.name for i in model.graph.initializer}
    in_names = [i.name for i in model.graph.input if i.name not in init_names]
    out_names = [o.name for o in model.graph.output]
    for inputs, expected in sets:
        feeds = {n: _to_gie(v) for n, v in zip(in_names, inputs)}
        if any(v.dtype == object for v in feeds.values()):  # float8 / int4 data, kept as TensorProtos: numpy has no dtype
            return "unsupported", "test data of a type numpy cannot hold"
        model_k, feeds = _bake_unbatched(model, feeds)
        shapes = {n: v.shape for n, v in feeds.items()}
        try:
            builder = gie.Builder()
            net = gie.OnnxParser(builder=builder, input_shapes=shapes).parse(model_k)
        except gie.UnsupportedError as e:
            return "unsupported", str(e).splitlines()[-1].strip()
        except gie.Error as e:
            return "failed", f"import: {type(e).__name__}: {str(e).splitlines()[0]}"
        except Exception as e:  # noqa: BLE001 - reported as a failure of the case
            return "failed", f"import crashed: {type(e).__name__}: {e}"
        try:
            cfg = builder.create_config()
            cfg.device = "cpu"
            b = max([v.shape[0] for v in feeds.values() if v.ndim] or [1])
            cfg.batch_range = (b, b, b)
            eng = builder.build(net, cfg)
            res = eng.create_execution_context().execute(feeds)
        except gie.Error as e:
            return "failed", f"build/run: {type(e).__name__}: {str(e).splitlines()[0]}"
        for name, exp in zip(out_names, expected):
            got = np.asarray(res[name])
            exp = _to_gie(exp)
            if got.shape != exp.shape:
                return "failed", f"output '{name}': shape {got.shape} != expected {exp.shape}"
            if exp.dtype.kind == "f":
                g64, e64 = got.astype(np.float64), exp.astype(np.float64)
                bad = ~(np.abs(g64 - e64) <= atol + rtol * np.abs(e64)) & ~(np.isnan(g64) & np.isnan(e64)) & \
                    ~(g64 == e64)
                if bad.any():
                    i = np.argmax(bad)
                    return "failed", (f"output '{name}': {bad.sum()} of {bad.size} differ, e.g. got "
                                      f"{g64.ravel()[i]} expected {e64.ravel()[i]}")
            elif not np.array_equal(got.astype(exp.dtype), exp):
                return "failed", f"output '{name}': values differ"
    return "passed", ""


@pytest.mark.parametrize("case", sorted(CASES))
def test_node(case):
    status, reason = run_case(case)
    if status == "unsupported":
        pytest.skip(f"unsupported: {reason}")
    if status == "gap":
        pytest.xfail(reason)
    assert status == "passed", reason


def test_some_cases_found():
    assert len(CASES) > 100


if __name__ == "__main__":
    counts = {}
    for c in sorted(CASES):
        st, why = run_case(c)
        counts[st] = counts.get(st, 0) + 1
        if st != "passed" or "-v" in sys.argv:
            print(f"{st:12s} {c}: {why}")
    print(counts)
