"""``gie plugin check LIB [--type NAME]``: runs every plugin a library registers through the plugin contract.

    python -m gie plugin check build/leaky_clip/libleaky_clip_plugin.so
    python -m gie plugin check libyolo.so --type Region --shape 1x125x13x13
    python -m gie plugin check my_plugins.py           # Python plugins: the file registers them (gie.register_plugin)
    python -m gie plugin check libclip.so --field lo=-2 --field hi=0.5   # fields instead of the declared defaults

For each creator the library registers (or only those named ``--type``), it creates the plugin from its declared
fields and checks: clone, serialize -> deserialize -> serialize byte-identical, truncated bytes refused, output
shapes and types for sample inputs, format combinations consistent (answers depend on earlier positions only;
output types as getOutputDataTypes says), enqueue with poisoned outputs writes every element, two runs agree,
batch 1 after configure at the sample batch gives the first item and writes nothing more, several threads
sharing one instance agree, every tactic agrees with tactic 0. It prints one line per check
(pass / fail / skip, and why) and exits 1 if any check failed, 2 on a usage error (no such file, no plugin).
Sample inputs: ``--shape`` once per input (e.g. ``--shape 2x4x6x5 --shape 2x4x6x5``); without it, 1 to 4
inputs of shape 2x4x6x5, the first count the plugin accepts. GPU plugins are run on the GPU when one is usable
(skipped otherwise).
"""
import importlib.util
import json
import os
import sys

__all__ = ["check_library", "format_table"]


def _parse_shape(text):
    try:
        dims = [int(v) for v in text.lower().replace(",", "x").split("x") if v.strip()]
    except ValueError:
        dims = None
    if not dims or any(d < 0 for d in dims):
        from .cli import CliError
        raise CliError(f"--shape {text!r}: expected dimensions separated by 'x', e.g. 2x4x6x5")
    return dims


def _parse_field(text):
    """NAME=VALUE: VALUE as JSON (a number, a list of numbers) when it parses, else the string itself."""
    from .cli import CliError
    from .network import _to_field

    name, sep, value = text.partition("=")
    if not sep or not name:
        raise CliError(f"--field {text!r}: expected NAME=VALUE, e.g. alpha=0.5 or anchors=[1,2,3]")
    try:
        value = json.loads(value)
    except ValueError:
        pass
    return name, _to_field(value, name)


def _load(lib):
    """Loads LIB (a plugin library, or a .py file that registers Python plugins); returns the origin prefix its
    creators carry in the registry."""
    import gie
    from .cli import CliError

    if not os.path.isfile(lib):
        raise CliError(f"no such file: {lib}")
    if lib.endswith(".py"):
        name = "gie_plugin_check_" + os.path.splitext(os.path.basename(lib))[0]
        spec = importlib.util.spec_from_file_location(name, lib)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return f"Python class '{name}."
    gie.load_library(lib)
    return f"library '{os.path.realpath(lib)}'"


def check_library(lib, types=None, shapes=None, threads=4, fields=None):
    """[(creator dict, [check dicts])] for the creators LIB registers (those named in ``types`` if given); ``fields``
    ({name: value}) replace the declared defaults of those names."""
    from . import _C
    from .cli import CliError

    origin = _load(lib)
    creators = [c for c in _C.plugin_creators() if c["origin"].startswith(origin)]
    if types:
        missing = sorted(set(types) - {c["name"] for c in creators})
        if missing:
            have = ", ".join(sorted({c["name"] for c in creators})) or "none"
            raise CliError(f"{lib} registers no plugin {', '.join(missing)} (it registers: {have})")
        creators = [c for c in creators if c["name"] in types]
    if not creators:
        raise CliError(f"{lib} registers no plugin creators")
    return [(c, json.loads(_C.check_plugin(c["name"], c["version"], c["device"], c["variant"], shapes or [], threads,
                                           dict(fields or {})))) for c in creators]


def _title(c):
    variant = f" variant {c['variant']}" if c["variant"] else ""
    return f"{c['name']} v{c['version']} ({c['device']}{variant})"


def format_table(results):
    rows = [(_title(c), r["check"], r["status"].upper(), r["detail"]) for c, checks in results for r in checks]
    w0 = max(len("plugin"), *(len(r[0]) for r in rows))
    w1 = max(len("check"), *(len(r[1]) for r in rows))
    lines = [f"{'plugin':<{w0}}  {'check':<{w1}}  result  detail", f"{'-' * w0}  {'-' * w1}  ------  ------"]
    lines += [f"{a:<{w0}}  {b:<{w1}}  {s:<6}  {d}".rstrip() for a, b, s, d in rows]
    failed = sum(r[2] == "FAIL" for r in rows)
    lines.append(f"{len(results)} plugin(s), {len(rows)} checks: {failed} failed, "
                 f"{sum(r[2] == 'SKIP' for r in rows)} skipped")
    return "\n".join(lines)


def cmd_plugin_check(args):
    shapes = [_parse_shape(s) for s in args.shape or []]
    fields = dict(_parse_field(f) for f in args.field or [])
    results = check_library(args.library, args.type, shapes, args.threads, fields)
    if args.json:
        print(json.dumps([{**c, "checks": checks} for c, checks in results], indent=2))
    else:
        print(format_table(results))
    return 1 if any(r["status"] == "fail" for _, checks in results for r in checks) else 0


def _add_plugin(subparsers):
    from .cli import _guard

    p = subparsers.add_parser("plugin", help="plugin tools: check a plugin library against the plugin contract")
    sub = p.add_subparsers(dest="plugin_command", metavar="COMMAND")
    sub.required = True
    c = sub.add_parser("check", help="run every plugin of a library through the plugin contract (exit 1 on a failure)",
                       description=__doc__.split("\n\n")[2], formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    c.add_argument("library", metavar="LIB", help="plugin library (.so), or a .py file that registers Python plugins")
    c.add_argument("--type", action="append", metavar="NAME", help="check only this plugin type (repeatable)")
    c.add_argument("--shape", action="append", metavar="DIMS", help="a sample input's shape, e.g. 2x4x6x5 (once per input)")
    c.add_argument("--field", action="append", metavar="NAME=VALUE",
                   help="create the plugin with this field instead of its declared default (repeatable; VALUE: JSON or text)")
    c.add_argument("--threads", type=int, default=4, help="threads sharing one instance in the threads check (default 4)")
    c.add_argument("--json", action="store_true", help="print the results as JSON")
    c.set_defaults(func=_guard(cmd_plugin_check))
