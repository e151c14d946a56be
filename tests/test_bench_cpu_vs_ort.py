"""CPU-side parts of bench/cpu_vs_ort.py that need no measurement: --repeat's argument checks and the per-row
median-ratio table on made-up rows (the issue-11 table is the median over repeats of fresh child processes)."""
import importlib.util
import os

import pytest

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "cpu_vs_ort.py")


@pytest.fixture(scope="module")
def cvo():
    spec = importlib.util.spec_from_file_location("cpu_vs_ort_under_test", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def row(model, threads, rep, gie_s, ort_s):
    t = lambda s: {"median": s, "p90": s, "cpu": s}  # noqa: E731
    return {"model": model, "threads": threads, "load": 0, "repeat": rep, "gie": t(gie_s),
            "ort": t(ort_s) if ort_s else None, "compare": "logits", "max_abs": 1.0, "max_abs_diff": 0.0}


def test_repeat_default_and_refusal(cvo):
    assert cvo.parse_args(["--model", "resnet50"]).repeat == 1
    assert cvo.parse_args(["--model", "resnet50", "--repeat", "6"]).repeat == 6
    with pytest.raises(SystemExit):
        cvo.main(["--model", "resnet50", "--repeat", "0"])


def test_repeat_summary_medians(cvo, capsys):
    args = cvo.parse_args(["--model", "resnet50,mobilenetv2", "--repeat", "3"])
    rows = []
    for rep, (g, o) in enumerate([(0.050, 0.048), (0.070, 0.050), (0.049, 0.052)]):
        rows.append(row("resnet50", 2, rep, g, o))
    for rep, (g, o) in enumerate([(0.011, 0.010), (0.009, 0.010), (0.012, 0.010)]):
        rows.append(row("mobilenetv2", 1, rep, g, o))
    cvo.print_repeat_summary(rows, args)
    out = capsys.readouterr().out
    lines = {ln.split("|")[1].strip(): ln for ln in out.splitlines() if ln.startswith("| resnet50") or ln.startswith("| mobilenetv2")}
    # resnet50 ratios 1.04, 1.40, 0.94 -> median 1.04; gie median of the medians 50 ms, ort 50 ms
    assert "1.04 1.40 0.94" in lines["resnet50"] and "**1.04x**" in lines["resnet50"]
    assert "| 50.0 | 50.0 |" in lines["resnet50"]
    # mobilenetv2 1.10 0.90 1.20 -> 1.10
    assert "1.10 0.90 1.20" in lines["mobilenetv2"] and "**1.10x**" in lines["mobilenetv2"]


def test_repeat_summary_gie_only(cvo, capsys):
    args = cvo.parse_args(["--model", "resnet50", "--no-ort", "--repeat", "2"])
    cvo.print_repeat_summary([row("resnet50", 1, 0, 0.08, None), row("resnet50", 1, 1, 0.09, None)], args)
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("| resnet50")][0]
    assert line.split("|")[4].strip() == "85.0" and line.split("|")[5].strip() == "-"
