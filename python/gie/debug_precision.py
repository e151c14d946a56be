"""``gie debug precision``: which layers must stay FP32 for an FP16 engine to meet a tolerance (Polygraphy's
``debug precision``).

    gie debug precision model.onnx --fp16 --atol 1e-3 --rtol 1e-3 --save fp32_layers.json
    gie build model.onnx --fp16 --layer-precisions fp32_layers.json --precision-constraints obey

The reference is gie's CPU backend in FP32 (or onnxruntime, ``--against``), on the same inputs. Candidates are the
layers that the all-FP16 engine runs in FP16. The search pins a set of them to FP32 (``layer.precision`` with
OBEY_PRECISION_CONSTRAINTS), rebuilds, and compares every output, starting from all candidates and dropping halves,
then quarters, ... down to single layers while the engine still passes (delta debugging): the result is a set from
which no single layer can be dropped (1-minimal), not necessarily the smallest of all. On the CPU the FP16 engine is
the reference of the GPU's FP16 numerics (FP16 storage, FP32 math), so the search runs, and is tested, without a GPU.
"""
import copy
import json
import os

__all__ = ["minimal_fp32_layers", "apply_layer_precisions", "add_subcommand"]


def minimal_fp32_layers(candidates, passes, log=None):
    """A 1-minimal subset S of ``candidates`` (in their order) with ``passes(S)`` true, assuming ``passes`` holds
    for all of them; ``log(text)`` hears every trial. Returns (S, number of trials)."""
    keep = list(candidates)
    trials = 0
    chunk = max(len(keep) // 2, 1)
    while keep:
        i = 0
        while i < len(keep):
            trial = keep[:i] + keep[i + chunk:]
            trials += 1
            ok = passes(trial)
            if log:
                log(f"  without {len(keep) - len(trial)} layer(s) from '{keep[i]}': {len(trial)} in FP32 -> "
                    f"{'pass' if ok else 'fail'}")
            if ok:
                keep = trial
            else:
                i += chunk
        if chunk == 1:
            break
        chunk = max(chunk // 2, 1)
    return keep, trials


def apply_layer_precisions(net, spec, option="--layer-precisions"):
    """Pins layers' precisions from {layer name: "fp32" | "fp16"}; an unknown layer or precision is a usage error."""
    import gie
    from .cli import CliError

    types = {"fp32": gie.DataType.FLOAT, "float32": gie.DataType.FLOAT, "fp16": gie.DataType.HALF,
             "float16": gie.DataType.HALF}
    layers = {net.get_layer(i).name: net.get_layer(i) for i in range(net.num_layers)}
    for name, precision in spec.items():
        if name not in layers:
            raise CliError(f"{option}: the network has no layer '{name}'")
        if str(precision).lower() not in types:
            raise CliError(f"{option}: layer '{name}': precision '{precision}' is not fp32 or fp16")
        layers[name].precision = types[str(precision).lower()]


def load_layer_precisions(path, option="--layer-precisions"):
    """{layer: precision} from a JSON file written by ``gie debug precision --save`` (its "layers" entry) or a
    plain {layer: precision} object, or from trtexec's spelling NAME:fp32,NAME:fp16."""
    from .cli import CliError

    if not os.path.exists(path) and ":" in path:  # trtexec's --layerPrecisions=NAME:fp32,NAME:fp16
        spec = {}
        for item in path.split(","):
            name, _, precision = item.strip().rpartition(":")
            if not name or name == "*":
                raise CliError(f"{option} '{path}': wants NAME:PRECISION items (a layer name; '*' is not supported)")
            spec[name] = precision
        return spec
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as e:
        raise CliError(f"{option} '{path}': {e.strerror or e}") from None
    except ValueError as e:
        raise CliError(f"{option} '{path}': not JSON ({e})") from None
    spec = doc.get("layers", doc) if isinstance(doc, dict) else None
    if not isinstance(spec, dict):
        raise CliError(f"{option} '{path}': expected {{\"layers\": {{layer name: \"fp32\"|\"fp16\"}}}}")
    return spec


def cmd_debug_precision(args):
    from . import cli, cli_io, compare

    if not args.fp16:
        raise cli.CliError("gie debug precision: give --fp16 (the precision to debug); INT8 is not supported by this command yet")
    model = args.model
    if os.path.isfile(model) and cli.is_engine_file(model):
        raise cli.CliError(f"'{model}' is an engine file: debugging precision needs the model, to rebuild it")
    batch = args.batch
    if args.inputs:
        batch = cli_io.peek_batch(args.inputs, "--inputs") or batch
    batch = batch or 1
    batch_range = (1, batch, batch)

    fp32_args = copy.copy(args)
    fp32_args.fp16 = False
    fp32_args.layer_precisions = fp32_args.precision_constraints = None
    reference = cli.load_model(model, fp32_args, batch_range=batch_range)
    if args.inputs:
        inputs, batch = cli_io.load_inputs(args.inputs, reference.engine, "--inputs")
    else:
        inputs = cli._random_inputs(reference.engine, batch, args.seed + 1)
    order = list(reference.engine.output_names)
    if args.against == "onnxruntime":
        expected = compare._onnxruntime_outputs(model, inputs, order)
    else:
        if reference.engine.layer_info().get("device") != "cpu":
            fp32_args.device = "cpu"
            reference = cli.load_model(model, fp32_args, batch_range=batch_range)
        expected = compare._gie_outputs(reference, inputs)

    quiet = copy.copy(args)
    quiet.verbose = False
    quiet.layer_precisions = None  # the search's pins are the only ones
    builds = {"n": 0}

    def build(pinned):
        run_args = copy.copy(quiet)
        run_args.precision_constraints = "obey" if pinned else None

        def pin(net):
            apply_layer_precisions(net, {name: "fp32" for name in pinned})
        builds["n"] += 1
        return cli.load_model(model, run_args, batch_range=batch_range, network_hook=pin)

    def check(pinned):
        results = compare.compare_outputs(compare._gie_outputs(build(pinned), inputs), expected, args.atol, args.rtol,
                                          order)
        return results, bool(results) and all(r["passed"] for r in results)

    def say(text):
        if args.verbose:
            print(text)

    all_fp16 = build([])
    li = all_fp16.engine.layer_info()
    candidates = []
    for k in li.get("kernels", []):
        if k.get("precision") == "float16":
            candidates.extend(n for n in k.get("source_layers", []) if n not in candidates)
    results, ok = check([])
    print(f"debug precision {all_fp16.name}: fp16 on {li.get('device', '?')} vs "
          f"{'onnxruntime' if args.against == 'onnxruntime' else 'gie cpu fp32'}, batch {batch}, atol {args.atol:g}, "
          f"rtol {args.rtol:g}; {len(candidates)} layers run in FP16")
    doc = {"model": model, "atol": args.atol, "rtol": args.rtol, "candidates": candidates}
    if ok:
        print("the all-FP16 engine already meets the tolerance: no layer needs FP32")
        fp32 = []
    else:
        worst = max(results, key=lambda r: r.get("max_abs", float("inf")))
        print(f"all-FP16: FAIL ({worst['name']}: max abs {worst.get('max_abs', float('nan')):.3g}, "
              f"{worst.get('mismatches', '?')} mismatches)")
        _, ok_all = check(candidates)
        if not ok_all:
            print(f"FAILED: even with all {len(candidates)} FP16 layers pinned to FP32 the engine misses the tolerance "
                  "(the difference is not precision: compare with --against, or loosen --atol/--rtol)")
            doc.update(passed=False, layers={})
            _save(args, doc)
            return 1
        fp32, trials = minimal_fp32_layers(candidates, lambda s: check(s)[1], log=say)
        print(f"searched with {builds['n']} builds")
    results, ok = check(fp32)
    for r in results:
        print("\n".join(compare.format_result(r, histogram=False)))
    doc.update(passed=ok, layers={name: "fp32" for name in fp32})
    if fp32:
        print(f"layers that must stay FP32 ({len(fp32)} of {len(candidates)}): {', '.join(fp32)}")
        print(f"apply with: gie build {model} --fp16 --layer-precisions FILE --precision-constraints obey "
              "(FILE: this command's --save)")
    _save(args, doc)
    return 0 if ok else 1


def _save(args, doc):
    if args.save:
        with open(args.save, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
        print(f"wrote {args.save}")


def add_subcommand(subparsers):
    from . import cli

    debug = subparsers.add_parser("debug", help="debugging tools: precision (which layers must stay FP32)",
                                  description="Debugging tools. `gie debug precision MODEL --fp16 --atol A --rtol R` "
                                              "finds layers that must stay FP32 for the FP16 engine to meet the "
                                              "tolerance.")
    sub = debug.add_subparsers(dest="debug_command", metavar="TOOL")
    debug.set_defaults(func=lambda args: (debug.print_help(), 2)[1])
    p = sub.add_parser("precision", help="which layers must stay FP32 for an FP16 engine to meet a tolerance",
                       description="Pins sets of the layers that run in FP16 to FP32, rebuilds and compares with the "
                                   "FP32 reference until no single layer can be dropped; prints (and --save writes) the "
                                   "layers that must stay FP32. Exit 0 when that engine passes, 1 when no set does.")
    p.add_argument("model", metavar="MODEL", help="a model file or a built-in model name")
    p.add_argument("--atol", type=float, default=1e-3, help="absolute tolerance (default 1e-3)")
    p.add_argument("--rtol", type=float, default=1e-3, help="relative tolerance (default 1e-3)")
    p.add_argument("--against", choices=["cpu", "onnxruntime"], default="cpu",
                   help="the FP32 reference: gie's CPU backend (default) or onnxruntime (ONNX models)")
    p.add_argument("--inputs", metavar="FILE.npz", default=None, help="inputs (default: seeded random normal)")
    p.add_argument("--batch", type=int, default=None, help="batch of the random inputs (default 1)")
    p.add_argument("--save", metavar="FILE.json", default=None,
                   help="write {\"layers\": {name: \"fp32\"}} and the search's facts (for --layer-precisions)")
    cli._add_model_options(p, batch=False)
    p.set_defaults(func=cli._guard(cmd_debug_precision))
