"""``gie compare``: runs a model in gie and in a reference on the same inputs and checks every output (and, with
--mark-all, every intermediate tensor) against stated tolerances, as Polygraphy's ``run --trt --onnxrt`` does.

    gie compare model.onnx --fp16 --atol 1e-2 --rtol 1e-2            # against onnxruntime (ONNX) or gie's CPU FP32
    gie compare googlenet --against cpu --fp16 --mark-all            # every tensor of the network
    gie compare model.onnx --inputs x.npz --json                     # the report as JSON

References: ``onnxruntime`` (ONNX models; needs the onnxruntime package), ``cpu`` (gie's CPU backend in FP32, the
reference implementation of every layer) and ``fp32`` (gie in FP32 on the device under test, which isolates the
effect of --fp16 from the device's). An element matches when ``|gie - ref| <= atol + rtol * |ref|`` (numpy's
``isclose``) and both are finite or both the same non-finite value. Exit code 0 when every compared tensor
matches, 1 when one does not, 2 on a usage error.

From Python: :func:`compare_arrays` (one tensor) and :func:`compare_outputs` ({name: array} pairs).
"""
import copy
import json
import os

import numpy as np

__all__ = ["compare_arrays", "compare_outputs", "HISTOGRAM_EDGES", "add_subcommand"]

# Decades of the absolute error: bin i counts errors in [edge[i], edge[i+1]); the first bin holds exact matches.
HISTOGRAM_EDGES = [0.0] + [10.0 ** e for e in range(-8, 2)] + [float("inf")]


def _histogram(abs_err):
    counts = [int(np.count_nonzero(abs_err == 0))]
    for lo, hi in zip(HISTOGRAM_EDGES[1:-1], HISTOGRAM_EDGES[2:]):
        counts.append(int(np.count_nonzero((abs_err >= lo) & (abs_err < hi))))
    counts[1] += int(np.count_nonzero((abs_err > 0) & (abs_err < HISTOGRAM_EDGES[1])))  # below 1e-8: first decade
    return counts


def compare_arrays(actual, expected, atol, rtol, name="output"):
    """One tensor's comparison as a dict: shape, max/mean abs error, max rel error (over elements whose reference
    is not 0), mismatches (count of elements
    outside ``atol + rtol * |expected|``, non-finite disagreements included), histogram (counts per decade of the
    absolute error, see HISTOGRAM_EDGES), passed."""
    a = np.asarray(actual)
    e = np.asarray(expected)
    r = {"name": name, "shape": list(a.shape), "reference_shape": list(e.shape), "dtype": str(a.dtype),
         "elements": int(a.size)}
    if a.shape != e.shape:
        r.update(passed=False, error=f"shape {tuple(a.shape)} differs from the reference's {tuple(e.shape)}")
        return r
    a64 = a.astype(np.float64)
    e64 = e.astype(np.float64)
    both_finite = np.isfinite(a64) & np.isfinite(e64)
    same_special = ~both_finite & ((a64 == e64) | (np.isnan(a64) & np.isnan(e64)))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        diff = np.where(both_finite, np.abs(a64 - e64), 0.0)
        # Relative to the reference where it is not zero (against 0 any difference is infinitely relative: those
        # elements count through atol only).
        rel = np.where(both_finite & (e64 != 0), diff / np.abs(e64), 0.0)
        bad = (~both_finite & ~same_special) | (both_finite & (diff > atol + rtol * np.abs(e64)))
    r.update(max_abs=float(diff.max(initial=0.0)), mean_abs=float(diff.mean()) if diff.size else 0.0,
             max_rel=float(rel.max(initial=0.0)), mismatches=int(np.count_nonzero(bad)),
             nonfinite_mismatches=int(np.count_nonzero(~both_finite & ~same_special)),
             histogram=_histogram(diff[both_finite]))
    if diff.size:
        worst = np.unravel_index(int(np.argmax(np.where(bad, diff, -1.0) if bad.any() else diff)), diff.shape)
        r["worst_index"] = [int(i) for i in worst]
        r["worst_values"] = [float(a64[worst]), float(e64[worst])]
    r["passed"] = r["mismatches"] == 0
    return r


def compare_outputs(actual, expected, atol, rtol, order=None):
    """compare_arrays for every name in both dicts (``order``: the names, in report order; default: actual's)."""
    names = [n for n in (order or list(actual)) if n in actual and n in expected]
    return [compare_arrays(actual[n], expected[n], atol, rtol, n) for n in names]


# ---- text ------------------------------------------------------------------------------------------

def _edge_text(x):
    return "0" if x == 0 else "inf" if x == float("inf") else f"1e{int(round(np.log10(x)))}"


def histogram_lines(counts, width=30):
    total = max(sum(counts), 1)
    lines = []
    labels = ["0 (exact)"] + [f"[{_edge_text(lo)}, {_edge_text(hi)})" for lo, hi in
                              zip(HISTOGRAM_EDGES[1:-1], HISTOGRAM_EDGES[2:])]
    labels[1] = f"(0, {_edge_text(HISTOGRAM_EDGES[2])})"
    for label, n in zip(labels, counts):
        if n:
            lines.append(f"      {label:<14} {'#' * max(1, round(width * n / total)):<{width}} {n}")
    return lines


def format_result(r, histogram=True):
    head = f"[{'PASS' if r['passed'] else 'FAIL'}] {r['name']} {tuple(r['shape'])} {r['dtype']}"
    if "error" in r:
        return [f"{head}: {r['error']}"]
    lines = [f"{head}: max abs {r['max_abs']:.3g}, max rel {r['max_rel']:.3g}, mean abs {r['mean_abs']:.3g}, "
             f"mismatches {r['mismatches']} of {r['elements']}"
             + (f" ({r['nonfinite_mismatches']} non-finite)" if r.get("nonfinite_mismatches") else "")]
    if not r["passed"] and "worst_index" in r:
        g, ref = r["worst_values"]
        lines.append(f"    worst at {tuple(r['worst_index'])}: gie {g:.6g}, reference {ref:.6g}")
    if histogram and r["elements"]:
        lines.append("    |gie - ref| histogram:")
        lines.extend(histogram_lines(r["histogram"]))
    return lines


# ---- running the two sides -------------------------------------------------------------------------

def _mark_all(net):
    """Marks every layer output as a network output (what the network API offers for intermediate tensors);
    returns the names marked, in layer order. The optimizer must then keep each of them, so fusions across them
    are not made: the comparison is per layer."""
    marked = []
    outputs = {net.get_output(i).name for i in range(net.num_outputs)}
    inputs = {net.get_input(i).name for i in range(net.num_inputs)}
    for i in range(net.num_layers):
        layer = net.get_layer(i)
        for k in range(layer.num_outputs):
            t = layer.output(k)
            if t.name in outputs or t.name in inputs:
                continue
            net.mark_output(t)
            outputs.add(t.name)
            marked.append(t.name)
    return marked


def _onnxruntime_outputs(model, inputs, extra_names):
    try:
        import onnxruntime as ort
    except ImportError:
        from .cli import CliError

        raise CliError("--against onnxruntime needs the onnxruntime package (pip install onnxruntime); or use "
                       "--against cpu") from None
    try:
        import onnx
    except ImportError:  # the graph's own outputs only: intermediate tensors are added with onnx
        onnx = None
    if onnx is not None:
        m = onnx.load(model)
        graph_outputs = [o.name for o in m.graph.output]
        produced = {o for n in m.graph.node for o in n.output}
        for name in extra_names:
            if name in produced and name not in graph_outputs:
                m.graph.output.append(onnx.ValueInfoProto(name=name))
        model = m.SerializeToString()
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    types = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
             "tensor(int32)": np.int32, "tensor(float16)": np.float16, "tensor(bool)": np.bool_,
             "tensor(uint8)": np.uint8, "tensor(int8)": np.int8, "tensor(int16)": np.int16}
    feeds = {i.name: np.asarray(inputs[i.name]).astype(types.get(i.type, None) or inputs[i.name].dtype)
             for i in sess.get_inputs() if i.name in inputs}
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def _gie_outputs(loaded, inputs):
    ctx = loaded.engine.create_execution_context()
    out = ctx.execute(inputs, outputs="numpy") if getattr(ctx, "is_gpu", False) else ctx.execute(inputs)
    return {k: np.array(v) for k, v in out.items()}


def cmd_compare(args):
    from . import cli, cli_io

    if args.atol < 0 or args.rtol < 0:
        raise cli.CliError("--atol and --rtol must be 0 or more")
    model = args.model
    if os.path.isfile(model) and cli.is_engine_file(model):
        raise cli.CliError(f"'{model}' is an engine file: compare needs the model it was built from (a model file or "
                           "a built-in name), to run it in the reference too")
    is_onnx = os.path.splitext(model)[1].lower() == ".onnx"
    against = args.against
    if against is None:
        against = "onnxruntime" if is_onnx and _has_onnxruntime() else "cpu"
    if against == "onnxruntime" and not is_onnx:
        raise cli.CliError(f"--against onnxruntime needs an ONNX model; '{model}' is not one (use --against cpu or fp32)")
    batch = args.batch
    if args.inputs:
        batch = cli_io.peek_batch(args.inputs, "--inputs") or batch
    batch = batch or 1

    marked = []

    def mark(net):
        if args.mark_all:
            marked[:] = _mark_all(net)

    tested = cli.load_model(model, args, batch_range=(1, batch, batch), network_hook=mark)
    if args.inputs:
        inputs, batch = cli_io.load_inputs(args.inputs, tested.engine, "--inputs")
    else:
        inputs = cli._random_inputs(tested.engine, batch, args.seed + 1)
    actual = _gie_outputs(tested, inputs)
    order = list(tested.engine.output_names)

    if against == "onnxruntime":
        expected = _onnxruntime_outputs(model, inputs, order)
        ref_title = "onnxruntime (CPUExecutionProvider)"
    else:
        ref_args = copy.copy(args)
        ref_args.fp16 = False
        ref_args.int8 = False
        ref_args.input_format = ref_args.output_format = None
        ref_args.precision_constraints = ref_args.layer_precisions = None
        ref_args.timing_cache = None
        ref_args.device = "cpu" if against == "cpu" else tested.engine.layer_info().get("device", "auto")
        reference = cli.load_model(model, ref_args, batch_range=(1, batch, batch), network_hook=mark)
        expected = _gie_outputs(reference, inputs)
        ref_title = f"gie {ref_args.device} fp32"
    results = compare_outputs(actual, expected, args.atol, args.rtol, order)
    missing = [n for n in order if n not in expected]
    passed = bool(results) and all(r["passed"] for r in results)
    li = tested.engine.layer_info()
    precision = "fp16" if args.fp16 else "fp32"
    doc = {"model": model, "tested": f"gie {li.get('device', '?')} {precision}", "reference": ref_title,
           "batch": batch, "inputs": args.inputs or f"random (seed {args.seed + 1})", "atol": args.atol,
           "rtol": args.rtol, "histogram_edges": [str(x) for x in HISTOGRAM_EDGES], "tensors": results,
           "not_in_reference": missing, "passed": passed}
    if args.save_outputs:
        cli_io.save_outputs(args.save_outputs, actual)
    if args.json:
        print(json.dumps(doc, indent=1))
        return 0 if passed else 1
    print(f"compare {tested.name}: {doc['tested']} vs {ref_title}, batch {batch}, inputs {doc['inputs']}")
    print(f"tolerance: |gie - ref| <= atol + rtol * |ref| with atol {args.atol:g}, rtol {args.rtol:g}")
    if args.mark_all:
        print(f"--mark-all: {len(marked)} intermediate tensors marked as outputs "
              f"({len(results)} tensors compared)")
    for r in results:
        # With --mark-all the histograms of passing tensors would bury the failures: only those of the outputs.
        show = not args.mark_all or not r["passed"] or r["name"] not in marked
        print("\n".join(format_result(r, histogram=show and not args.no_histogram)))
    if missing:
        shown = ", ".join(missing[:10]) + (f", ... ({len(missing)} in all)" if len(missing) > 10 else "")
        print(f"not in the reference (not compared): {shown}")
    failed = [r["name"] for r in results if not r["passed"]]
    if not results:
        print("FAILED: no tensor could be compared")
    elif failed:
        first = failed[0]
        print(f"FAILED: {len(failed)} of {len(results)} tensors mismatch"
              + (f"; the first in network order is '{first}'" if args.mark_all else ""))
    else:
        print(f"PASSED: {len(results)} of {len(results)} tensors match")
    if args.save_outputs:
        print(f"wrote {args.save_outputs}")
    return 0 if passed else 1


def _has_onnxruntime():
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def add_subcommand(subparsers):
    from . import cli

    p = subparsers.add_parser(
        "compare", help="run a model in gie and in a reference; per-tensor errors against tolerances (exit 1 on failure)",
        description="Runs MODEL in gie (built here, with --fp16 etc.) and in a reference on the same inputs and prints, "
                    "per output (and per intermediate tensor with --mark-all), max abs / max rel / mean abs error, the "
                    "number of mismatching elements and a histogram of the error, then PASSED or FAILED. An element "
                    "matches when |gie - ref| <= atol + rtol * |ref|. Exit 0 when all match, 1 otherwise.")
    p.add_argument("model", metavar="MODEL", help="a model file (.onnx, .prototxt, .cfg) or a built-in model name")
    p.add_argument("--against", choices=["onnxruntime", "cpu", "fp32"], default=None,
                   help="the reference: onnxruntime (ONNX models), cpu (gie's CPU backend, FP32) or fp32 (gie in FP32 "
                        "on the tested device); default onnxruntime for ONNX models when installed, else cpu")
    p.add_argument("--atol", type=float, default=1e-5, help="absolute tolerance (default 1e-5)")
    p.add_argument("--rtol", type=float, default=1e-5, help="relative tolerance (default 1e-5)")
    p.add_argument("--inputs", metavar="FILE.npz", default=None,
                   help="inputs {name: array} (np.savez); default: seeded random normal inputs")
    p.add_argument("--batch", type=int, default=None, help="batch of the random inputs (default 1)")
    p.add_argument("--mark-all", action="store_true",
                   help="also compare every intermediate tensor (each layer output is marked as a network output, "
                        "so fusions across them are not made)")
    p.add_argument("--save-outputs", metavar="FILE.npz", default=None, help="write gie's outputs to an .npz file")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-histogram", action="store_true", help="leave the error histograms out")
    cli._add_model_options(p, batch=False)
    p.set_defaults(func=cli._guard(cmd_compare))

