"""gie's command line: ``python -m gie ...`` (also installed as the ``gie`` script).

    python -m gie --version        version and build facts (CUDA, GPU, driver), one per line, then as JSON
    python -m gie --cmake-dir      folder of gieConfig.cmake (cmake -Dgie_DIR=...)
    python -m gie --include-dir    folder of the C++ headers (gie/gie.h)
    python -m gie --library-dir    folder of libgie.so
    python -m gie demo             build LeNet, run it, check it against numpy, time it

Adding a subcommand: write ``_add_<name>(subparsers)`` that creates its parser and sets
``func=<callable(args) -> exit code>``, and append it to ``SUBCOMMANDS`` below.
"""
import argparse
import json
import sys
import time

import numpy as np


# ---- demo ------------------------------------------------------------------------------------------

def _median_latency_ms(ctx, x, runs):
    out = {}
    ctx.execute({"data": x})  # warm-up (allocations, first-touch)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        ctx.execute({"data": x})
        times.append((time.perf_counter() - t0) * 1e3)
    out["median"] = float(np.median(times))
    out["min"] = float(np.min(times))
    return out


def _demo(args):
    import gie
    from gie import models

    info = gie.build_info()
    device = args.device
    if device == "auto":
        device = "gpu" if info["gpu_available"] else "cpu"
    print(f"gie {info['version']}: CUDA compiled {'yes' if info['cuda'] else 'no'}, "
          f"GPU available {'yes' if info['gpu_available'] else 'no'} -> building on the {device.upper()}")

    model = models.lenet(seed=args.seed)
    t0 = time.perf_counter()
    engine = models.build(model, device=device, max_batch=args.batch)
    build_ms = (time.perf_counter() - t0) * 1e3

    # Round-trip through an engine file, as a deployment would.
    engine = gie.Runtime().deserialize(engine.serialize())
    ctx = engine.create_execution_context()

    rng = np.random.default_rng(args.seed + 1)
    x = rng.random((args.batch,) + model.inputs["data"], dtype=np.float32)  # "digits": values in [0, 1)
    prob = ctx.execute({"data": x})["prob"]
    ref = model.reference(x)
    max_diff = float(np.abs(prob.astype(np.float64) - ref).max())
    ok = max_diff < args.tolerance and prob.shape == ref.shape

    li = engine.layer_info()
    kernels = li.get("kernels", [])
    mem = li.get("memory", {})
    print(f"LeNet (seeded random weights, seed {args.seed}): built in {build_ms:.0f} ms")
    print(f"engine: device {li.get('device', '?')}, batch {engine.min_batch}..{engine.max_batch}, "
          f"{engine.num_kernels} kernels, arena {mem.get('arena_bytes', engine.activation_memory_size)} bytes "
          f"(without reuse {mem.get('no_reuse_bytes', '?')}), engine file {len(engine.serialize())} bytes")
    for k in kernels:
        shape = k["outputs"][0]["shape"] if k.get("outputs") else []
        fused = k.get("source_layers", [])
        fused = f"  (fused: {' + '.join(fused)})" if len(fused) > 1 else ""
        print(f"  {k.get('name', '?'):<24} {k.get('type', '?'):<16} tactic {k.get('tactic', '?'):<12} "
              f"-> {tuple(shape)}{fused}")
    print(f"batch of {args.batch}: predicted classes {prob.argmax(axis=1).tolist()}")
    print(f"max abs difference vs numpy reference: {max_diff:.3g} ({'OK' if ok else 'FAIL'}, "
          f"tolerance {args.tolerance:g})")
    for batch in sorted({1, args.batch}):
        lat = _median_latency_ms(ctx, x[:batch], args.runs)
        print(f"latency batch {batch}: median {lat['median']:.3f} ms, min {lat['min']:.3f} ms over {args.runs} runs "
              f"({batch / lat['median'] * 1e3:.0f} images/s)")
    return 0 if ok else 1


def _add_demo(subparsers):
    p = subparsers.add_parser("demo", help="build LeNet, run it, check it against numpy and time it",
                              description="Builds LeNet with seeded random weights (on the GPU when one is usable, "
                              "else the CPU), runs a batch of random digit-shaped inputs, compares with an "
                              "independent numpy forward pass and reports the engine and its latency. Exits 1 "
                              "if the difference exceeds the tolerance.")
    p.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto", help="default: auto")
    p.add_argument("--batch", type=int, default=8, help="batch size to check and time (default 8)")
    p.add_argument("--runs", type=int, default=50, help="timed runs per batch size (default 50)")
    p.add_argument("--seed", type=int, default=0, help="weight seed (default 0)")
    p.add_argument("--tolerance", type=float, default=1e-4, help="max abs difference allowed (default 1e-4)")
    p.set_defaults(func=_demo)


# ---- subcommands -----------------------------------------------------------------------------------
# One entry per subcommand; build / run / inspect / draw / explain go here (each an _add_<name> function,
# possibly imported from its own module).
from .cli import SUBCOMMANDS as _CLI_SUBCOMMANDS  # noqa: E402  (build, run, inspect, draw, explain)
from .compare import add_subcommand as _add_compare  # noqa: E402
from .debug_precision import add_subcommand as _add_debug  # noqa: E402

SUBCOMMANDS = [
    _add_demo,
    *_CLI_SUBCOMMANDS,
    _add_compare,
    _add_debug,
]


# ---- top level -------------------------------------------------------------------------------------

def _version_fact(value):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def _print_version():
    import gie

    info = gie.build_info()
    print(f"gie {info['version']}")
    for key in ("cuda", "cuda_version", "cuda_archs", "gpu_available", "gpu_name", "compute_capability",
                "driver_version", "gpu_error"):
        print(f"{key}: {_version_fact(info.get(key))}")
    print("build_info: " + json.dumps(info, sort_keys=True))


def _prog():
    """The program as invoked: 'gie' for the installed script, 'python -m gie' for the module."""
    import os

    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "python -m gie" if name in ("", "__main__.py", "-m", "-c") else name


def make_parser():
    from .trtexec_compat import SuggestingParser

    parser = SuggestingParser(prog=_prog(), description="gie: a GPU inference optimizer and runtime.")
    SuggestingParser.root = parser
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--version", action="store_true", help="print the version and build information")
    where.add_argument("--cmake-dir", action="store_true", help="print the folder holding gieConfig.cmake")
    where.add_argument("--include-dir", action="store_true", help="print the folder holding the C++ headers")
    where.add_argument("--library-dir", action="store_true", help="print the folder holding libgie.so")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv=None):
    try:
        return _main(argv)
    except BrokenPipeError:  # `gie --version | head -1`: the reader left; nothing more to say
        import os

        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0


def _main(argv=None):
    from .trtexec_compat import subcommand_names, translate

    parser = make_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    argv, note = translate(argv, subcommand_names(parser))
    if note:
        print(f"gie: {note}", file=sys.stderr)
    args = parser.parse_args(argv)
    if args.version:
        _print_version()
        return 0
    if args.cmake_dir or args.include_dir or args.library_dir:
        import gie

        print(gie.cmake_dir() if args.cmake_dir else gie.include_dir() if args.include_dir else gie.library_dir())
        return 0
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except Exception as e:  # gie.Error and the like: one line, not a traceback
        import gie

        if isinstance(e, gie.Error):
            print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
