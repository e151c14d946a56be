"""--shapes / --min-shapes / --opt-shapes / --max-shapes (trtexec's spelling; issue 15): input shapes for the build
(an optimization profile) and for the run.

``NAME:D0xD1x...[,NAME2:...]``. When only dimension 0 varies and the other dimensions are the network's, the
shapes become the batch range (``config.set_batch_range``), so such engines are the ones ``--batch`` builds;
otherwise they become one optimization profile (``config.add_profile``).
"""
__all__ = ["parse_shapes", "add_shape_options", "profile_from_args", "apply_profile", "run_shapes", "batch_only"]

_OPTIONS = (("shapes", "--shapes"), ("min_shapes", "--min-shapes"), ("opt_shapes", "--opt-shapes"),
            ("max_shapes", "--max-shapes"))


def _cli_error(message, code=2):
    from .cli import CliError

    return CliError(message, code)


def parse_shapes(option, text):
    """'x:1x3x224x224,y:1x10' -> {'x': (1, 3, 224, 224), 'y': (1, 10)}; CliError naming ``option`` otherwise."""
    shapes = {}
    for part in str(text).split(","):
        name, sep, dims = part.strip().rpartition(":")
        try:
            shape = tuple(int(d) for d in dims.lower().split("x")) if sep and name else None
        except ValueError:
            shape = None
        if shape is None or any(d < 1 for d in shape):
            raise _cli_error(f"{option} '{part}': write NAME:D0xD1x... with positive integers (the batch B first, e.g. "
                             f"{option} x:8x3x224x224; several inputs separated by commas)")
        if name in shapes:
            raise _cli_error(f"{option}: input '{name}' is given twice")
        shapes[name] = shape
    return shapes


def add_shape_options(group, run=False):
    what = "also the shapes to run at; " if run else ""
    group.add_argument("--shapes", metavar="NAME:DIMS[,...]", default=None,
                       help=f"input shapes, e.g. x:1x3x320x320 ({what}alone: build for exactly these shapes)")
    for opt, word in (("--min-shapes", "smallest"), ("--opt-shapes", "typical (tactics are timed here)"),
                      ("--max-shapes", "largest (memory is planned for it)")):
        group.add_argument(opt, metavar="NAME:DIMS[,...]", default=None,
                           help=f"optimization profile: the {word} input shapes (give all three)")


def profile_from_args(args):
    """{input: (min, opt, max)} from the options, or None when none is given."""
    given = {key: parse_shapes(opt, getattr(args, key)) for key, opt in _OPTIONS if getattr(args, key, None)}
    ranges = [k for k in ("min_shapes", "opt_shapes", "max_shapes") if k in given]
    if not given:
        return None
    if getattr(args, "batch_range", None):
        raise _cli_error("--batch and --shapes/--min-shapes/--opt-shapes/--max-shapes: use one or the other")
    if not ranges:
        return {name: (s, s, s) for name, s in given["shapes"].items()}
    if len(ranges) != 3:
        missing = [opt for key, opt in _OPTIONS[1:] if key not in given]
        raise _cli_error(f"{', '.join(missing)} missing: an optimization profile needs --min-shapes, --opt-shapes and "
                         "--max-shapes")
    names = list(given["min_shapes"])
    for key, opt in _OPTIONS[2:]:
        if sorted(given[key]) != sorted(names):
            raise _cli_error(f"{opt} names {sorted(given[key])}, --min-shapes names {sorted(names)}: name the same inputs")
    return {n: (given["min_shapes"][n], given["opt_shapes"][n], given["max_shapes"][n]) for n in names}


def apply_profile(net, config, spec):
    """Gives ``config`` the shapes of ``spec``: a batch range when only dimension 0 varies, else a profile."""
    declared = {t.name: tuple(t.shape) for t in net.inputs}
    unknown = sorted(set(spec) - set(declared))
    if unknown:
        raise _cli_error(f"--shapes: no input named {unknown}; the network's inputs are "
                         + ", ".join(f"{n} {_text(s)}" for n, s in declared.items()))
    for name, triple in spec.items():
        for shape in triple:
            if len(shape) != len(declared[name]):
                raise _cli_error(f"--shapes: input '{name}' has {len(declared[name])} dimensions "
                                 f"{_text(declared[name])}, got {_text(shape)}")
    batch_only = all(all(d > 0 for d in s[1:]) for s in declared.values()) and all(
        shape[1:] == declared[name][1:] for name, triple in spec.items() for shape in triple)
    if batch_only:
        ranges = {tuple(shape[0] for shape in triple) for triple in spec.values()}
        if len(ranges) == 1:
            lo, opt, hi = ranges.pop()
            config.set_batch_range(lo, opt, hi)
            return
    config.add_profile(spec)


def run_shapes(engine, spec, batch=None):
    """{input: shape} to run at: the --shapes given, else (for an engine built for a batch range) ``batch`` in
    dimension 0 of the engine's shape, else profile 0's opt shape."""
    shapes = {}
    for name in engine.input_names:
        if spec and name in spec:
            shapes[name] = tuple(spec[name])
        elif batch is not None:
            shapes[name] = (batch,) + tuple(engine.get_tensor_shape(name))[1:]
        else:
            shapes[name] = tuple(engine.get_profile_shape(name, 0)[1])
    if spec:
        unknown = sorted(set(spec) - set(shapes))
        if unknown:
            raise _cli_error(f"--shapes: no input named {unknown}; the engine's inputs are {engine.input_names}")
    return shapes


def batch_only(engine):
    """Whether only dimension 0 of the engine's inputs varies (an engine built for a batch range)."""
    for i in range(engine.num_optimization_profiles):
        for name in engine.input_names:
            lo, _, hi = engine.get_profile_shape(name, i)
            if tuple(lo[1:]) != tuple(hi[1:]):
                return False
    return True


def _text(shape):
    return "x".join(str(d) for d in shape)

