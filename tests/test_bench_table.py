"""bench/_table.py, the table formatting bench/conv_f16.py and bench/conv_int8.py share (no GPU, no torch): header,
rows with per-column specs and overrides, empty and NaN cells, count-weighted totals, on made-up rows."""
import importlib.util
import math
import os

import pytest

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "_table.py")
COLUMNS = [("name", ""), ("ms", ".3f"), ("ratio", ".2f"), ("note", "")]


@pytest.fixture(scope="module")
def table():
    spec = importlib.util.spec_from_file_location("bench_table_under_test", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_header_aligns_numbers_right(table):
    assert table.header(COLUMNS) == "| name | ms | ratio | note |\n|---|---:|---:|---|"


def test_rows(table):
    assert table.row(COLUMNS, ["a", 1.23456, 0.5, "x y"]) == "| a | 1.235 | 0.50 | x y |"
    assert table.row(COLUMNS, ["b", math.nan, 2, ""]) == "| b | nan | 2.00 | |"  # a failed run; an empty cell
    assert table.row(COLUMNS, ["c", 1.23456, 0.5, "-"], {"ms": ".0f"}) == "| c | 1 | 0.50 | - |"
    assert table.row(COLUMNS, ["d", "-", "-", "-"]) == "| d | - | - | - |"  # text in a number column: as it is
    with pytest.raises(ValueError):
        table.row(COLUMNS, ["e", 1.0])  # a missing cell is a bug of the caller, not a short row


def test_weighted_sums(table):
    # 3 x (1, 2) + 1 x (2, 0.5) = (5, 6.5)
    assert table.weighted_sums([(3, 1.0, 2.0), (1, 2.0, 0.5)]) == [5.0, 6.5]
    assert math.isnan(table.weighted_sums([(1, math.nan), (2, 1.0)])[0])  # a failed shape spoils the total, visibly
