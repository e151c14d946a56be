"""CPU-side parts of bench/conv_int8.py (no GPU, no torch): --help without torch, the shape table it shares with
bench/conv_f16.py, and its rows, weighted row and per-tactic table on made-up numbers; bench/_table.py, the
formatter both use."""
import importlib.util
import math
import os
import subprocess
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "conv_int8.py")


@pytest.fixture(scope="module")
def ci8():
    spec = importlib.util.spec_from_file_location("conv_int8_under_test", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_help_needs_no_torch():
    child = ("import runpy, sys\n"
             f"sys.argv = [{BENCH!r}, '--help']\n"
             "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
             "assert 'torch' not in sys.modules and 'gie' not in sys.modules\n")
    r = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "--batch" in r.stdout and "INT8" in r.stdout


def test_shapes_are_conv_f16s(ci8):
    a = ci8.parse_args(["--only", "l4"])
    assert (a.model, a.batch, a.no_fp16) == ("resnet50", 64, False)
    rows = [row for _, row in ci8.conv_f16.shapes(a.model, a.only)]
    assert rows and all("l4" in r[0] for r in rows) and rows == [r for r in ci8.conv_f16.RESNET50 if "l4" in r[0]]


def test_rows_and_ratios(ci8):
    # 2 GFLOP; torch 1 ms, gie FP16 0.5 ms, INT8 0.25 ms: 8 TOPS, ratios 0.25 and 0.50
    row = ci8.format_row("s", 2e9, 1.0, 0.5, 0.25, "imma_x")
    assert row == "| s | 2.0 | 1.000 | 0.500 | 0.250 | 8 | 0.25 | 0.50 | imma_x |"
    # weighted by count: 3 x (1 GFLOP, 2 / 1 / 0.5 ms) + 1 x (2 GFLOP, 1 / 1 / 1 ms) = 5 GFLOP, 7 / 4 / 2.5 ms
    w = ci8.format_weighted("m", [(3, 1e9, 2.0, 1.0, 0.5), (1, 2e9, 1.0, 1.0, 1.0)])
    assert w == "| m weighted (x count) | 5 | 7.000 | 4.000 | 2.500 | 2 | 0.36 | 0.62 | |"


def test_tactic_table_lists_every_tactic_seen(ci8):
    table = ci8.format_tactic_table([("a", {"t2": 0.5, "t1": 1.0}), ("b", {"t3": 2.0})]).splitlines()
    assert table[0] == "| shape | t1 | t2 | t3 |"
    assert table[2:] == ["| a | 1.0000 | 0.5000 | - |", "| b | - | - | 2.0000 |"]
    assert ci8.format_tactics({"slow": 2.0, "fast": 1.0}) == "fast=1.0000 slow=2.0000"


# ---- bench/_table.py, the table formatting conv_int8.py shares with conv_f16.py: made-up rows ----------------

TABLE_COLUMNS = [("name", ""), ("ms", ".3f"), ("ratio", ".2f"), ("note", "")]


def test_header_aligns_numbers_right(ci8):
    assert ci8._table.header(TABLE_COLUMNS) == "| name | ms | ratio | note |\n|---|---:|---:|---|"


def test_rows(ci8):
    assert ci8._table.row(TABLE_COLUMNS, ["a", 1.23456, 0.5, "x y"]) == "| a | 1.235 | 0.50 | x y |"
    assert ci8._table.row(TABLE_COLUMNS, ["b", math.nan, 2, ""]) == "| b | nan | 2.00 | |"  # a failed run; an empty cell
    assert ci8._table.row(TABLE_COLUMNS, ["c", 1.23456, 0.5, "-"], {"ms": ".0f"}) == "| c | 1 | 0.50 | - |"
    assert ci8._table.row(TABLE_COLUMNS, ["d", "-", "-", "-"]) == "| d | - | - | - |"  # text in a number column: as it is
    with pytest.raises(ValueError):
        ci8._table.row(TABLE_COLUMNS, ["e", 1.0])  # a missing cell is a bug of the caller, not a short row


def test_weighted_sums(ci8):
    # 3 x (1, 2) + 1 x (2, 0.5) = (5, 6.5)
    assert ci8._table.weighted_sums([(3, 1.0, 2.0), (1, 2.0, 0.5)]) == [5.0, 6.5]
    assert math.isnan(ci8._table.weighted_sums([(1, math.nan), (2, 1.0)])[0])  # a failed shape spoils the total, visibly
