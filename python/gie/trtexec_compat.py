"""trtexec's spellings on gie's command line (issue 18): ``gie --onnx=model.onnx --saveEngine=m.gie --fp16`` works,
read as ``gie run model.onnx --save m.gie --fp16``; a trtexec option with no gie equivalent, or any unknown option,
is answered with what to use instead ("did you mean ...").

:func:`translate` rewrites argv before argparse sees it; :class:`SuggestingParser` is the argparse parser class that
adds the suggestions to "unrecognized arguments" errors.
"""
import argparse
import difflib
import re
import sys

__all__ = ["translate", "subcommand_names", "SuggestingParser", "ALIASES", "NOT_IN_GIE"]

# trtexec option -> gie option ("" for the positional MODEL/ENGINE argument); flags have no value.
ALIASES = {
    "onnx": "", "deploy": "", "loadEngine": "", "model": "--weights", "saveEngine": "--save",
    "useCudaGraph": "--cuda-graph", "dumpProfile": "--profile", "exportTimes": "--export-times",
    "exportProfile": "--export-times", "iterations": "--iterations", "duration": "--duration",
    "timingCacheFile": "--timing-cache", "workspace": "--workspace", "device": "--device", "plugins": "--plugins",
    "staticPlugins": "--plugins", "dynamicPlugins": "--plugins", "inputIOFormats": "--input-format",
    "outputIOFormats": "--output-format", "precisionConstraints": "--precision-constraints", "verbose": "-v",
    "batch": "--batch", "fp16": "--fp16", "int8": "--int8", "noTF32": "--no-tf32", "layerPrecisions": "--layer-precisions",
}
_FLAGS = {"useCudaGraph", "dumpProfile", "verbose", "fp16", "int8", "buildOnly", "skipInference", "noTF32"}
_SHAPES = ("shapes", "minShapes", "optShapes", "maxShapes")

# trtexec options gie has no equivalent for, and what to use instead.
NOT_IN_GIE = {
    "warmUp": "trtexec's --warmUp is milliseconds; gie's --warmup N counts iterations",
    "loadInputs": "use --load-inputs FILE.npz (np.savez of {input name: array})",
    "exportOutput": "use --save-outputs FILE.npz",
    "avgRuns": "gie reports percentiles over every iteration (--export-times has each one)",
    "best": "use --fp16 --int8 (with --calib-data or --calib-cache for the INT8 ranges)",
    "calib": "use --calib-cache FILE (gie's own text cache; --calib-data DIR|NPZ calibrates)",
    "separateProfileRun": "gie always profiles in separate runs (--profile)",
    "noDataTransfers": "gie's GPU timing already has the inputs on the device",
    "uff": "UFF models are not supported: convert to ONNX",
    "memPoolSize": "use --workspace SIZE (memPoolSize=workspace:N is read as that)",
    "exportLayerInfo": "use gie inspect ENGINE --json > FILE",
    "dumpOutput": "use --save-outputs FILE.npz",
    "dumpLayerInfo": "use gie inspect ENGINE (the build report in words)",
    "profilingVerbosity": "gie always keeps the whole build report in the engine (gie inspect)",
    "useSpinWait": "the CPU pool's spinning is GIE_CPU_SPIN_US; GPU runs synchronize on the stream",
    "streams": "run one execution context per thread (Python API); the CLI times one",
    "threads": "set GIE_NUM_THREADS for the CPU backend's threads",
    "noBuilderCache": "gie uses a timing cache only when given one (--timing-cache)",
    "sparsity": "structured sparsity is not implemented",
    "allowGPUFallback": "gie has no DLA: nothing falls back",
    "useDLACore": "gie has no DLA backend",
}


def _split(token):
    name, sep, value = token[2:].partition("=")
    return name, (value if sep else None)


def translate(argv, subcommands):
    """(new argv, note or None). Leaves argv alone unless it has a trtexec spelling."""
    out, model, note_parts, shapes, build_only = [], None, [], {}, False
    changed = False
    i = 0
    while i < len(argv):
        tok = argv[i]
        if not tok.startswith("--") or tok == "--":
            out.append(tok)
            i += 1
            continue
        name, value = _split(tok)
        if name in ("buildOnly", "skipInference"):
            build_only, changed = True, True
            i += 1
            continue
        if name in _SHAPES or name in ALIASES and ALIASES[name] != f"--{name}":
            if value is None and name not in _FLAGS and i + 1 < len(argv):
                value, i = argv[i + 1], i + 1
            changed = True
            if name in _SHAPES:
                shapes[name] = value
            elif ALIASES[name] == "":
                model = value
            elif name in _FLAGS:
                out.append(ALIASES[name])
            else:
                out.extend([ALIASES[name], value])
            if name == "exportProfile":
                note_parts.append("--exportProfile: gie's --export-times JSON has the per-kernel times")
            i += 1
            continue
        if name == "memPoolSize" and value and value.startswith("workspace:"):
            out.extend(["--workspace", value.split(":", 1)[1]])
            changed = True
            i += 1
            continue
        out.append(tok)
        i += 1
    if not changed:
        return argv, None
    for name, option in (("shapes", "--shapes"), ("minShapes", "--min-shapes"), ("optShapes", "--opt-shapes"),
                         ("maxShapes", "--max-shapes")):
        if name in shapes:
            out.extend([option] + ([shapes[name]] if shapes[name] is not None else []))
    if not out or out[0] not in subcommands:
        out.insert(0, "build" if build_only else "run")
    elif build_only and out[0] != "build":
        note_parts.append("--buildOnly ignored: the subcommand is given")
    if model is not None:
        out.insert(1, model)
    note = "read trtexec options as: gie " + " ".join(out)
    if note_parts:
        note += " (" + "; ".join(note_parts) + ")"
    return out, note


def subcommand_names(parser):
    return {name for a in parser._actions if isinstance(a, argparse._SubParsersAction)  # noqa: SLF001
            for name in a.choices}


def _all_options(parser):
    opts = set()
    for action in parser._actions:  # noqa: SLF001 - argparse keeps them here
        opts.update(o for o in action.option_strings if o.startswith("--"))
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for sub in action.choices.values():
                opts |= _all_options(sub)
    return opts


class SuggestingParser(argparse.ArgumentParser):
    """argparse, plus "did you mean ..." for unknown options: trtexec names, near misses of gie's own."""

    root = None  # the top-level parser, whose tree of options the suggestions come from

    def error(self, message):
        hints = []
        if "unrecognized arguments:" in message:
            known = _all_options(SuggestingParser.root or self)
            for tok in message.split("unrecognized arguments:", 1)[1].split():
                if not tok.startswith("--"):
                    continue
                name, _ = _split(tok)
                if name in NOT_IN_GIE:
                    hints.append(f"--{name} (trtexec): {NOT_IN_GIE[name]}")
                else:
                    cand = difflib.get_close_matches(f"--{name}".lower(), [k.lower() for k in known], n=1, cutoff=0.6)
                    dashed = "--" + "".join("-" + c.lower() if c.isupper() else c for c in name)
                    if dashed in known:
                        cand = [dashed]
                    if cand:
                        hints.append(f"--{name}: did you mean {cand[0]}?")
        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if m:  # a mistyped subcommand
            choices = re.findall(r"'([^']*)'", m.group(2))
            cand = difflib.get_close_matches(m.group(1), choices, n=1, cutoff=0.6)
            if cand:
                hints.append(f"did you mean {cand[0]}?")
        self.print_usage(sys.stderr)
        text = f"{self.prog}: error: {message}\n" + "".join(f"  {h}\n" for h in hints)
        self.exit(2, text)
