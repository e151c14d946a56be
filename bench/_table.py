"""Markdown tables of the per-shape benchmarks (bench/conv_f16.py, bench/conv_int8.py): one definition of the header,
the row and the count-weighted totals, each benchmark giving only its columns and how its cells derive from its
measurements. Plain Python: --help and the table tests need neither torch nor gie.

A column is (title, spec): spec is a format spec for numbers (".3f"), "" for a text column (left-aligned).
"""


def header(columns):
    """The header line and the alignment rule of ``columns`` (numbers right-aligned)."""
    return ("| " + " | ".join(title for title, _ in columns) + " |\n"
            "|" + "".join("---:|" if spec else "---|" for _, spec in columns))


def row(columns, cells, specs=None):
    """One row: each cell formatted by its column's spec (``specs``: {title: spec} overrides, e.g. a total rounded
    coarser); a str cell is written as it is, "" as an empty cell."""
    specs = specs or {}
    out = "|"
    for (title, spec), cell in zip(columns, cells, strict=True):
        text = cell if isinstance(cell, str) else format(cell, specs.get(title, spec))
        out += f" {text} |" if text else " |"
    return out


def weighted_sums(rows):
    """rows = [(count, value, value, ...)] -> [sum of count * value] per value column (a model's totals, each shape
    weighted by how often the model has it)."""
    return [sum(r[0] * r[i] for r in rows) for i in range(1, len(rows[0]))] if rows else []
