"""Human-readable build reports from ``engine.layer_info()`` (what ``gie build`` and ``gie inspect`` print).

    from gie import report
    print(report.summary(engine.layer_info()))        # a few lines: layers -> kernels, memory, fusions
    print(report.format_report(engine.layer_info()))  # every kernel, the memory totals and the pass log

Both take the plain dict (or its JSON), so they also work on a report saved with ``gie inspect --json``.
"""
import json
import re

__all__ = ["summary", "format_report", "build_time_line", "format_bytes", "format_shape", "tensor_location", "split_notes",
           "removed_layers", "tensor_state", "kernel_states", "is_fp32_linear", "precision_line", "reformats",
           "negotiated", "short_type", "ITEMSIZE"]

ITEMSIZE = {"float32": 4, "float16": 2, "int8": 1, "int32": 4, "bool": 1}
SHORT_TYPE = {"float32": "fp32", "float16": "fp16"}  # the CLI's spelling (--input-format fp16:hwc8)

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


# A Reformat step's note: "inserted: float32 LINEAR -> float16 HWC8, 0.010 ms" (the time absent when not timed).
_REFORMAT_NOTE = re.compile(r"^inserted: (\S+ \S+) -> (\S+ \S+?)(?:, ([0-9.eE+-]+) ms)?$")


def _is_precision_note(note):
    # The negotiation's notes (docs/optimizer.md): "negotiated: ..." on a node that had a choice and a Reformat's
    # "inserted: A -> B". They are shown on their own lines, not as fusions applied or rejected.
    return note.startswith("negotiated: ") or bool(_REFORMAT_NOTE.match(note))


def split_notes(notes):
    """(applied, rejected) lists of a kernel's notes (fusions and eliminations; not the precision notes)."""
    applied, rejected = [], []
    for n in notes or []:
        if _is_precision_note(n):
            continue
        (rejected if any(m in n for m in _REJECTED_MARKERS) else applied).append(n)
    return applied, rejected


def short_type(dtype):
    """'float16' -> 'fp16', 'float32' -> 'fp32'; other types as they are."""
    return SHORT_TYPE.get(dtype, dtype or "?")


def tensor_state(t):
    """A tensor's type and memory format: 'fp16 hwc8', 'fp32 linear', 'int32 linear'."""
    return f"{short_type(t.get('dtype'))} {t.get('format', 'linear')}"


def kernel_states(k):
    """Input and output states of a kernel: 'fp16 hwc8 -> fp16 linear' (several inputs joined by ', ')."""
    ins = ", ".join(tensor_state(t) for t in k.get("inputs", []))
    outs = ", ".join(tensor_state(t) for t in k.get("outputs", []))
    return f"{ins} -> {outs}" if ins else f"-> {outs}"


def is_fp32_linear(layer_info):
    """True when every kernel tensor is FP32 (or not a float) and LINEAR and no Reformat was inserted: the
    report and the pictures then leave the per-kernel precision out, as before negotiation existed."""
    li = _li(layer_info)
    for k in li.get("kernels", []):
        if k.get("type") == "Reformat":
            return False
        for t in k.get("inputs", []) + k.get("outputs", []):
            if t.get("dtype") == "float16" or t.get("format", "linear") != "linear":
                return False
    return True


def negotiated(k):
    """(chosen, best rejected) texts of a kernel's "negotiated: ..." note, or None (the node had no choice).
    The rejected text is None when no alternative was costed."""
    note = next((n for n in k.get("notes") or [] if n.startswith("negotiated: ")), None)
    if note is None:
        return None
    chosen, _, rejected = note[len("negotiated: "):].partition("; best rejected: ")
    return chosen, rejected or None


def _note_state(text):
    """'float32 LINEAR' (the builder's notes) -> 'fp32 linear' (the report's spelling)."""
    dtype, _, fmt = text.partition(" ")
    return f"{short_type(dtype)} {fmt.lower()}"


def reformats(layer_info):
    """Every Reformat step the builder inserted, in execution order, as dicts: index, name, tensor (its input),
    from/to ('fp32 linear'), ms (its timed cost, None when not timed), producer (the
    kernel writing its input, or 'network input NAME') and consumers (kernels reading its output, and
    'network output NAME')."""
    li = _li(layer_info)
    kernels = li.get("kernels", [])
    producer = {}
    for k in kernels:
        for t in k.get("outputs", []):
            producer[t["name"]] = k["name"]
    net_in = {t["name"] for t in li.get("inputs", [])}
    net_out = {t["name"] for t in li.get("outputs", [])}
    out = []
    for i, k in enumerate(kernels):
        if k.get("type") != "Reformat":
            continue
        m = next((m for m in map(_REFORMAT_NOTE.match, k.get("notes") or []) if m), None)
        t_in = (k.get("inputs") or [{}])[0].get("name", "?")
        t_out = (k.get("outputs") or [{}])[0].get("name", "?")
        if t_in in producer:
            prod = producer[t_in]
        else:
            prod = f"network input {t_in}" if t_in in net_in else f"constant {t_in}"
        cons = [c["name"] for c in kernels if any(t["name"] == t_out for t in c.get("inputs", []))]
        if t_out in net_out:
            cons.append(f"network output {t_out}")
        out.append({"index": i, "name": k["name"], "tensor": t_in,
                    "from": _note_state(m.group(1)) if m else tensor_state(k["inputs"][0]),
                    "to": _note_state(m.group(2)) if m else tensor_state(k["outputs"][0]),
                    "ms": float(m.group(3)) if m and m.group(3) else None,
                    "producer": prod, "consumers": cons})
    return out


def _ms_text(ms):
    return "not timed" if ms is None else f"{ms:.3f} ms"


def precision_line(layer_info):
    """'precision: 6 kernels fp16, 1 fp32; 2 Reformats inserted (0.004 ms)': the precisions actually used."""
    li = _li(layer_info)
    counts = {}
    for k in li.get("kernels", []):
        if k.get("type") != "Reformat":
            p = short_type(k.get("precision") or k.get("dtype"))
            counts[p] = counts.get(p, 0) + 1
    order = sorted(counts, key=lambda p: (-counts[p], p))
    parts = [f"{counts[p]} {'kernel' if counts[p] == 1 else 'kernels'} {p}" if i == 0 else f"{counts[p]} {p}"
             for i, p in enumerate(order)]
    text = "precision: " + (", ".join(parts) if parts else "no kernels")
    refs = reformats(li)
    if refs:
        timed = [r["ms"] for r in refs if r["ms"] is not None]
        total = f" ({sum(timed):.3f} ms)" if len(timed) == len(refs) else ""
        text += f"; {len(refs)} Reformat{'s' if len(refs) != 1 else ''} inserted{total}"
    else:
        text += "; no Reformat"
    return text


def tensor_location(t):
    """Where a tensor lives: 'arena +OFFSET', 'slice of X at +N elements', 'rows of X at +N elements' (a range view:
    leading_axis_views), or 'network input/output'."""
    if "view_of" in t:
        n = int(t.get("view_offset_elements", 0))
        b = n * ITEMSIZE.get(t.get("dtype", "float32"), 4)
        if t.get("view_kind") == "rows":
            return f"rows of {t['view_of']} at +{n} elements (+{b} B)"
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
        if head.startswith("reformat '"):  # "reformat 'TENSOR': A -> B": one count for all of them
            head = "reformat"
        counts[head] = counts.get(head, 0) + 1
    return counts


def _io_text(t):
    # The format only where it is not the default, so FP32 reports read as before negotiation existed.
    fmt = t.get("format", "linear")
    return f"{t['name']} {format_shape(t['shape'])} {t.get('dtype', '')}" + (f" {fmt}" if fmt != "linear" else "")


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
    ins = ", ".join(_io_text(t) for t in li.get("inputs", []))
    outs = ", ".join(_io_text(t) for t in li.get("outputs", []))
    if ins or outs:
        lines.append(f"inputs: {ins}; outputs: {outs}")
    before = li.get("layers_before", "?")
    after = li.get("kernels_after", len(kernels))
    fused = sum(1 for k in kernels if len(k.get("source_layers", [])) > 1)
    lines.append(f"layers: {before} before -> {after} kernels after ({fused} "
                 f"{'kernel covers' if fused == 1 else 'kernels cover'} more than one layer)")
    if kernels:
        lines.append(precision_line(li))
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


def build_time_line(layer_info):
    """Where a fresh build's time went (layer_info "build_time"; absent for a deserialized engine): None if unknown."""
    bt = _li(layer_info).get("build_time")
    if not bt:
        return None
    phases = [("calibration", "calibration_ms"), ("passes", "optimizer_passes_ms"), ("negotiation", "format_negotiation_ms"),
              ("configuration", "kernel_configuration_ms"), ("tactics", "tactic_selection_ms"), ("planning", "planning_ms")]
    parts = ", ".join(f"{name} {bt[key] / 1000:.2f} s" for name, key in phases if key in bt)
    if "tactic_setup_ms" in bt:
        parts += (f"; of the negotiation and tactic selection: preparing tactics {bt['tactic_setup_ms'] / 1000:.2f} s, "
                  f"running them {bt.get('tactic_runs_ms', 0) / 1000:.2f} s")
    timings = (f"; tactic timings measured {bt.get('timings_measured_negotiation', 0):.0f} in the negotiation + "
               f"{bt.get('timings_measured_tactic_selection', 0):.0f} in tactic selection, "
               f"{bt.get('timings_reused', 0):.0f} reused (timing cache, or timed earlier in the build)")
    return f"build time: {bt.get('total_ms', 0) / 1000:.2f} s ({parts}){timings}"


def _tactic_line(k):
    per_profile = k.get("profile_tactics") or []
    if len(set(per_profile)) > 1:  # the optimization profiles run different tactics (times: the kernel's notes)
        return "tactic per optimization profile: " + ", ".join(f"{i} {t}" for i, t in enumerate(per_profile))
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
    return (f"{t['name']} {format_shape(t.get('shape', []))} {t.get('dtype', '')} {t.get('format', 'linear')}  "
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
        variant = f" [{k['variant']}]" if k.get("variant") else ""
        out.append(f"[{i:>{width}}] {k.get('name', '?')}  {k.get('type', '?')}{variant} v{k.get('version', '?')} "
                   f"({k.get('device', '?')})  {short_type(k.get('precision') or k.get('dtype'))}: {kernel_states(k)}")
        pad = " " * (width + 3)
        src = k.get("source_layers", [])
        out.append(f"{pad}covers: {' + '.join(src) if src else '(no layer of the network)'}")
        for n in k.get("notes") or []:
            if _REFORMAT_NOTE.match(n):
                out.append(f"{pad}{n}")
        neg = negotiated(k)
        if neg:
            out.append(f"{pad}negotiated: {neg[0]}")
            if neg[1]:
                out.append(f"{pad}best rejected: {neg[1]}")
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
    refs = reformats(li)
    if refs:
        out.append("")
        timed = [r["ms"] for r in refs if r["ms"] is not None]
        total = f", {sum(timed):.3f} ms in all" if timed and len(timed) == len(refs) else ""
        out.append(f"reformats inserted ({len(refs)}{total}):")
        for r in refs:
            out.append(f"  [{r['index']:>{width}}] {r['name']}: {r['tensor']} {r['from']} -> {r['to']}, "
                       f"{_ms_text(r['ms'])}; {r['producer']} -> {', '.join(r['consumers']) or '(no reader)'}")
    out.append("")
    out.append("totals:")
    out.append(f"  layers before -> kernels after: {li.get('layers_before', '?')} -> "
               f"{li.get('kernels_after', len(kernels))}")
    out.extend(_memory_lines(li.get("memory", {})))
    bt = build_time_line(li)
    if bt:
        out.append(f"  {bt}")
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
