"""Human-readable build reports from ``engine.layer_info()`` (what ``gie build`` and ``gie inspect`` print).

    from gie import report
    print(report.summary(engine.layer_info()))        # a few lines: layers -> kernels, memory, fusions
    print(report.format_report(engine.layer_info()))  # every kernel, the memory totals and the pass log

Both take the plain dict (or its JSON), so they also work on a report saved with ``gie inspect --json``.
"""
import json

__all__ = ["summary", "format_report", "format_bytes", "format_shape", "tensor_location", "split_notes",
           "removed_layers", "ITEMSIZE"]

ITEMSIZE = {"float32": 4, "float16": 2, "int8": 1, "int32": 4, "bool": 1}

# Words that mark a note as a fusion/elimination that was considered and NOT applied.
_REJECTED_MARKERS = ("not fused", "not folded", "not merged", "kept:", "is copied because", "declined", "rejected")


def _li(layer_info):
    return json.loads(layer_info) if isinstance(layer_info, (str, bytes)) else layer_info


def format_bytes(n):
    """'4.59 MiB', '45.0 KiB', '160 B'."""
    n = int(n)
    if n < 1024:
        return f"{n} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024.0
        if n < 1024 or unit == "TiB":
            return f"{n:.3g} {unit}" if n < 100 else f"{n:.0f} {unit}"
    return f"{n} B"  # pragma: no cover


def format_shape(shape):
    return "(" + ", ".join(str(d) for d in shape) + ")"


def split_notes(notes):
    """(applied, rejected) lists of a kernel's notes."""
    applied, rejected = [], []
    for n in notes or []:
        (rejected if any(m in n for m in _REJECTED_MARKERS) else applied).append(n)
    return applied, rejected


def tensor_location(t):
    """Where a tensor lives: 'arena +OFFSET', 'slice of X at +N elements', or 'network input/output'."""
    if "view_of" in t:
        n = int(t.get("view_offset_elements", 0))
        b = n * ITEMSIZE.get(t.get("dtype", "float32"), 4)
        shape = t.get("shape") or []
        inner = 1
        for d in shape[2:]:
            inner *= int(d)
        where = f"from channel {n // inner}, " if len(shape) >= 2 and inner > 0 and n % inner == 0 else ""
        return f"slice of {t['view_of']} {where}at +{n} elements (+{b} B)"
    kind = t.get("kind", "activation")
    if kind in ("input", "output"):
        return f"network {kind} (caller's buffer)"
    if "offset" in t:
        return f"arena +{t['offset']}"
    return kind


def removed_layers(layer_info):
    """{layer name: reason} for layers of the network before optimization that no kernel covers."""
    li = _li(layer_info)
    net = li.get("network") or {}
    covered = {s for k in li.get("kernels", []) for s in k.get("source_layers", [])}
    out = {}
    for layer in net.get("layers", []):
        name = layer["name"]
        if name in covered:
            continue
        why = next((line for line in li.get("passes", []) if f"'{name}'" in line), None)
        out[name] = why or "not in any kernel"
    return out


def _memory_lines(mem, indent="  "):
    arena = mem.get("arena_bytes", 0)
    no_reuse = mem.get("no_reuse_bytes", 0)
    lower = mem.get("lower_bound_bytes", 0)
    lines = [f"{indent}activation arena   {arena:>12} B  {format_bytes(arena):>10}"]
    if no_reuse:
        lines.append(f"{indent}without reuse      {no_reuse:>12} B  {format_bytes(no_reuse):>10}  "
                     f"(reuse saves {100.0 * (1 - arena / no_reuse):.1f}%, {no_reuse / max(arena, 1):.2f}x)")
    if lower:
        lines.append(f"{indent}lower bound        {lower:>12} B  {format_bytes(lower):>10}  "
                     f"(arena is {arena / lower:.3f}x the peak of live tensors)")
    lines.append(f"{indent}workspace          {mem.get('workspace_bytes', 0):>12} B  "
                 f"{format_bytes(mem.get('workspace_bytes', 0)):>10}")
    lines.append(f"{indent}constants          {mem.get('constant_bytes', 0):>12} B  "
                 f"{format_bytes(mem.get('constant_bytes', 0)):>10}")
    return lines


def _fusion_counts(li):
    counts = {}
    for line in li.get("passes", []):
        head = line.split(":", 1)[0]
        counts[head] = counts.get(head, 0) + 1
    return counts


def summary(layer_info, engine_bytes=None, build_ms=None, title=None):
    """A few lines: device, batch range, layers before -> kernels after, fusions, memory."""
    li = _li(layer_info)
    kernels = li.get("kernels", [])
    batch = li.get("batch", {})
    mem = li.get("memory", {})
    lines = []
    if title:
        lines.append(title)
    head = f"engine: device {li.get('device', '?')}"
    if batch:
        head += f", batch {batch.get('min')}..{batch.get('max')} (opt {batch.get('opt')})"
    if build_ms is not None:
        head += f", built in {build_ms:.0f} ms"
    if engine_bytes is not None:
        head += f", engine file {engine_bytes} bytes ({format_bytes(engine_bytes)})"
    lines.append(head)
    ins = ", ".join(f"{t['name']} {format_shape(t['shape'])} {t.get('dtype', '')}" for t in li.get("inputs", []))
    outs = ", ".join(f"{t['name']} {format_shape(t['shape'])} {t.get('dtype', '')}" for t in li.get("outputs", []))
    if ins or outs:
        lines.append(f"inputs: {ins}; outputs: {outs}")
    before = li.get("layers_before", "?")
    after = li.get("kernels_after", len(kernels))
    fused = sum(1 for k in kernels if len(k.get("source_layers", [])) > 1)
    lines.append(f"layers: {before} before -> {after} kernels after ({fused} "
                 f"{'kernel covers' if fused == 1 else 'kernels cover'} more than one layer)")
    counts = _fusion_counts(li)
    if counts:
        lines.append("passes: " + ", ".join(f"{name} x{n}" for name, n in sorted(counts.items())))
    if mem:
        arena = mem.get("arena_bytes", 0)
        no_reuse = mem.get("no_reuse_bytes", 0)
        line = f"memory: arena {arena} B ({format_bytes(arena)})"
        if no_reuse:
            line += f", without reuse {no_reuse} B ({format_bytes(no_reuse)})"
        if mem.get("lower_bound_bytes"):
            line += f", lower bound {mem['lower_bound_bytes']} B"
        line += f", workspace {mem.get('workspace_bytes', 0)} B, constants {mem.get('constant_bytes', 0)} B"
        lines.append(line)
    return "\n".join(lines)


def _tactic_line(k):
    times = k.get("tactic_times_ms") or []
    chosen = k.get("tactic", "?")
    if not times:
        return f"tactic {chosen} (the only one)"
    if all(t.get("ms", 0) < 0 for t in times):  # forced through config.force_tactic: nothing was timed
        others = [t["tactic"] for t in times if t.get("tactic") != chosen]
        return f"tactic {chosen} (forced; not timed)" + (f"; also offered: {', '.join(others)}" if others else "")
    ordered = sorted(times, key=lambda t: t.get("ms", float("inf")))
    best = next((t for t in ordered if t.get("tactic") == chosen), ordered[0])
    parts = [f"tactic {chosen} {best['ms']:.4g} ms"]
    others = [t for t in ordered if t is not best]
    if others:
        ru = others[0]
        if ru.get("ms", 1e30) >= 1e29:
            parts.append(f"runner-up {ru['tactic']} (did not run)")
        else:
            rel = (ru["ms"] / best["ms"] - 1) * 100 if best["ms"] > 0 else 0.0
            parts.append(f"runner-up {ru['tactic']} {ru['ms']:.4g} ms (+{rel:.0f}%)")
        if len(others) > 1:
            parts.append("others " + ", ".join(
                f"{t['tactic']} {t['ms']:.4g} ms" if t.get("ms", 1e30) < 1e29 else f"{t['tactic']} n/a"
                for t in others[1:]))
    return "; ".join(parts)


def _tensor_line(t):
    return (f"{t['name']} {format_shape(t.get('shape', []))} {t.get('dtype', '')}  "
            f"{format_bytes(t.get('bytes', 0))}  @ {tensor_location(t)}")


def format_report(layer_info, title=None):
    """The full report: per kernel, then totals, removed layers and the pass log."""
    li = _li(layer_info)
    kernels = li.get("kernels", [])
    out = []
    out.append(summary(li, title=title))
    out.append("")
    out.append(f"kernels ({len(kernels)}):")
    width = len(str(max(len(kernels) - 1, 0)))
    for i, k in enumerate(kernels):
        out.append(f"[{i:>{width}}] {k.get('name', '?')}  {k.get('type', '?')} v{k.get('version', '?')} "
                   f"({k.get('device', '?')})  {k.get('dtype', '?')}/{k.get('format', '?')}")
        pad = " " * (width + 3)
        src = k.get("source_layers", [])
        out.append(f"{pad}covers: {' + '.join(src) if src else '(no layer of the network)'}")
        applied, rejected = split_notes(k.get("notes"))
        for n in applied:
            out.append(f"{pad}applied: {n}")
        for n in rejected:
            out.append(f"{pad}rejected: {n}")
        out.append(f"{pad}{_tactic_line(k)}")
        for t in k.get("inputs", []):
            out.append(f"{pad}in  {_tensor_line(t)}")
        for t in k.get("outputs", []):
            out.append(f"{pad}out {_tensor_line(t)}")
    out.append("")
    out.append("totals:")
    out.append(f"  layers before -> kernels after: {li.get('layers_before', '?')} -> "
               f"{li.get('kernels_after', len(kernels))}")
    out.extend(_memory_lines(li.get("memory", {})))
    removed = removed_layers(li)
    if removed:
        out.append("")
        out.append(f"layers no kernel runs ({len(removed)}):")
        for name, why in removed.items():
            out.append(f"  {name}: {why}")
    passes = li.get("passes", [])
    out.append("")
    out.append(f"pass log ({len(passes)} {'line' if len(passes) == 1 else 'lines'}):")
    for line in passes:
        out.append(f"  {line}")
    if not passes:
        out.append("  (no pass changed the network)")
    return "\n".join(out)
