"""CPU-side parts of bench/gpu_vs_torch.py (no GPU, no torch): argument defaults of the FP32 and FP16 modes,
the FP16 accuracy / ratio / table code on made-up numbers, and the torch.compile child process's failure and
timeout handling (the benchmark must report them in the row and go on, never hang)."""
import importlib.util
import json
import os
import stat
import sys
import time

import numpy as np
import pytest

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "gpu_vs_torch.py")


@pytest.fixture(scope="module")
def gvt():
    spec = importlib.util.spec_from_file_location("gpu_vs_torch_under_test", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def timing(ms, batch):
    return {"median_ms": ms, "min_ms": ms, "p90_ms": ms, "images_per_s": batch * 1e3 / ms, "runs": 3}


def test_fp32_mode_defaults_unchanged(gvt):
    a = gvt.parse_args([])
    assert (a.batches, a.runs, a.warmup, a.timing_cache, a.fp16) == ([1, 8, 64], 50, 10, None, False)
    assert gvt.parse_args(["--check-only", "--batches", "8"]).batches == [1]


def test_fp16_mode_defaults(gvt):
    a = gvt.parse_args(["--fp16"])
    assert (a.batches, a.runs, a.warmup) == ([1, 8, 64, 256], 20, 5)
    assert a.timing_cache == gvt.DEFAULT_FP16_CACHE
    assert gvt.parse_args(["--fp16", "--timing-cache", "none"]).timing_cache is None
    b = gvt.parse_args(["--fp16", "--runs", "7", "--warmup", "0", "--batches", "2,4"])
    assert (b.batches, b.runs, b.warmup) == ([2, 4], 7, 0)


@pytest.mark.parametrize("argv", [["--torch-compile"], ["--fp16", "--check-only"],
                                  ["--fp16", "--compile-timeout", "0"]])
def test_fp16_argument_errors(gvt, argv):
    with pytest.raises(SystemExit):
        gvt.parse_args(argv)


def test_fp16_accuracy(gvt):
    rng = np.random.default_rng(0)
    ref = [rng.standard_normal((4, 10)).astype(np.float32), rng.standard_normal((1, 10)).astype(np.float32)]
    same = gvt.fp16_accuracy([r.copy() for r in ref], ref, classifier=True)
    assert same["rel"] == 0 and same["top1_agree"] == 1.0 and same["images"] == 5
    out = [r.copy() for r in ref]
    i = int(np.argmin(out[0][2]))
    out[0][2, i] = out[0][2].max() + 1.0  # image 2's argmax moves
    acc = gvt.fp16_accuracy(out, ref, classifier=True)
    big = max(float(np.abs(r).max()) for r in ref)
    assert acc["max_abs_ref"] == pytest.approx(big)
    assert acc["rel"] == pytest.approx(abs(out[0][2, i] - ref[0][2, i]) / big)
    assert acc["top1_agree"] == pytest.approx(4 / 5)
    assert "top1_agree" not in gvt.fp16_accuracy(out, ref, classifier=False)
    out[1][0, 0] = np.nan
    assert gvt.fp16_accuracy(out, ref, classifier=True)["rel"] == float("inf")
    with pytest.raises(ValueError, match="shape mismatch"):
        gvt.fp16_accuracy([ref[0]], [ref[0][:, :5]], classifier=False)


def test_fp16_ratios_pick_the_fastest_torch_column(gvt):
    row = {"gie16": timing(2.0, 8), "gie32": timing(4.0, 8), "torch_eager": timing(5.0, 8),
           "torch_graph": timing(2.5, 8), "torch_compile": None}
    gvt.fp16_ratios(row)
    assert row["ratio_fp16_over_fp32"] == pytest.approx(0.5)
    assert row["best_torch"] == "torch_graph" and row["ratio_gie16_over_best_torch"] == pytest.approx(0.8)
    row = gvt.fp16_ratios({"gie16": timing(2.0, 8), "torch_compile": timing(1.0, 8)})
    assert "ratio_fp16_over_fp32" not in row and row["ratio_gie16_over_best_torch"] == pytest.approx(2.0)


def test_kernel_precisions(gvt):
    li = {"kernels": [{"type": "Reformat", "precision": "float16"}, {"type": "Convolution", "precision": "float16"},
                      {"type": "Softmax", "precision": "float32"}, {"type": "Convolution", "precision": "int8"}]}
    want = {"half": 2, "float": 1, "int8": 1, "reformats": 1, "total": 4}
    assert gvt.kernel_precisions(li) == want
    assert gvt.kernel_precisions(json.dumps(li)) == want


def fp16_rows(gvt, compile_col=True):
    full = {"model": "resnet50", "batch": 64, "image": 224, "errors": [], "compare_output": "logits",
            "gie16": timing(4.0, 64), "gie32": timing(10.0, 64), "torch_eager": timing(6.0, 64),
            "torch_graph": timing(5.0, 64), "torch_compile": timing(4.5, 64) if compile_col else None,
            "compile_s": 123.4 if compile_col else None,
            "gie16_acc": {"rel": 3e-3, "top1_agree": 1.0, "max_abs_diff": 0.03, "max_abs_ref": 10.0, "images": 64},
            "fp16_reference": "gie FP32", "gie16_precisions": {"half": 70, "float": 2, "reformats": 2, "total": 72}}
    slow = {"model": "googlenet", "batch": 8, "image": 224, "errors": [], "compare_output": "loss3/classifier",
            "gie16": timing(3.0, 8), "gie32": timing(2.0, 8), "torch_eager": timing(2.0, 8), "torch_graph": None,
            "torch_compile": None, "compile_error": "timeout", "gie16_acc": {"rel": 5e-2, "top1_agree": 0.5, "max_abs_diff": 0.5,
                                                "max_abs_ref": 10.0, "images": 8},
            "fp16_reference": "gie FP32"}
    slow["errors"].append("torch.compile (max-autotune-no-cudagraphs): timed out after 300 s (--compile-timeout)")
    small = {"model": "yolov2", "batch": 1, "image": 416, "errors": [], "compare_output": "output",
             "gie16": timing(1.0, 1), "gie32": timing(0.9, 1), "torch_eager": None, "torch_graph": None,
             "torch_compile": None, "gie16_acc": {"rel": 1e-3, "max_abs_diff": 0.01, "max_abs_ref": 10.0, "images": 3},
             "fp16_reference": "torch FP32 eager"}
    skipped = {"model": "yolov2", "batch": 64, "image": 416, "errors": ["skipped: --budget-s 60 spent"],
               "compare_output": "output"}
    return [gvt.fp16_ratios(r) for r in (full, slow, small, skipped)]


@pytest.mark.parametrize("compile_col", [False, True])
def test_fp16_table(gvt, compile_col):
    args = gvt.parse_args(["--fp16"] + (["--torch-compile"] if compile_col else []))
    rows = fp16_rows(gvt, compile_col)
    text = gvt.table_fp16(rows, args)
    lines = text.splitlines()
    table = [line for line in lines if line.startswith("|")]
    header = gvt.fp16_header(args)
    assert len(table) == 2 + len(rows)
    assert ("compile s" in header) == compile_col
    for line in table:  # every row has the header's cells (the notes hold no '|')
        assert line.count("|") == len(header) + 1
    cells = {r["model"] + str(r["batch"]): dict(zip(header, gvt.fp16_cells(r, args))) for r in rows}
    r50 = cells["resnet5064"]
    assert (r50["16/32"], r50["rel err"], r50["top-1"], r50["half kernels"]) == ("0.40", "3.00e-03", "100.0", "70/72")
    assert r50["gie16/best torch"] == ("0.89 (compile)" if compile_col else "0.80 (graph)")
    assert r50["notes"] == ""
    if compile_col:
        assert r50["compile s"] == "123.4" and cells["googlenet8"]["compile s"] == "timeout"
    g = cells["googlenet8"]["notes"]
    assert "FP16 NOT FASTER THAN FP32" in g and "FP16 ACCURACY" in g and "FP16 TOP-1" in g and "timed out" in g
    y = cells["yolov21"]  # batch 1: slower than FP32 is not flagged; no top-1 for YOLOv2
    assert "NOT FASTER" not in y["notes"] and y["top-1"] == "-" and "accuracy vs torch FP32 eager" in y["notes"]
    assert "skipped" in cells["yolov264"]["notes"]
    assert "gie FP16 faster than gie FP32 at batch >= 8: 1 of 3 cells (not: googlenet b8, yolov2 b64)" in lines
    assert "ResNet-50 batch 64 gie FP16: 16,000 img/s (issue 12's minimum on the H100: 13,000 img/s)" in lines


def test_int8_table(gvt):
    """--int8: the FP16 table plus gie8 columns (time, img/s, ratio to the best torch column, top-1 agreement with gie
    FP32, INT8 kernels) and issue 14's ResNet-50 lines."""
    args = gvt.parse_args(["--int8"])
    assert args.fp16 and args.int8
    rows = fp16_rows(gvt, compile_col=False)
    r = dict(rows[0], precision="fp16", batch=256, gie8=timing(8.0, 256),
             gie8_acc={"rel": 2e-2, "top1_agree": 0.985, "max_abs_diff": 0.2, "max_abs_ref": 10.0, "images": 256},
             gie8_precisions={"half": 10, "float": 2, "int8": 53, "reformats": 3, "total": 68})
    r = gvt.fp16_ratios(r)
    header = gvt.fp16_header(args)
    cells = dict(zip(header, gvt.fp16_cells(r, args)))
    assert (cells["gie8 ms"], cells["gie8 img/s"], cells["int8 top-1"], cells["int8 kernels"]) == ("8.000", "32000.0", "98.5", "53/68")
    assert cells["gie8/best torch"] == "1.60 (graph)"
    lines = gvt.table_fp16([r], args).splitlines()
    assert "ResNet-50 batch 256 gie INT8: 32,000 img/s (issue 14's target on the H100: 60,000 img/s)" in lines
    assert "PyTorch has no INT8 convolution path on the GPU" in gvt.table_fp16([r], args)
    # a row without gie8 (its build failed) has dashes there
    cells = dict(zip(header, gvt.fp16_cells(rows[1], args)))
    assert cells["gie8 ms"] == cells["int8 top-1"] == cells["int8 kernels"] == "-"


def test_write_outputs_fp16(gvt, tmp_path):
    args = gvt.parse_args(["--fp16", "--json", str(tmp_path / "r.json"), "--markdown", str(tmp_path / "r.md")])
    rows = fp16_rows(gvt)
    md = gvt.write_outputs(rows, {"device": "none"}, {"a note"}, args)
    assert (tmp_path / "r.md").read_text() == md + "\n" and md.endswith("note: a note")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["rows"][0]["ratio_fp16_over_fp32"] == pytest.approx(0.4) and data["notes"] == ["a note"]


def compile_ctx(gvt, *argv):
    return {"args": gvt.parse_args(["--fp16", "--torch-compile", *argv]), "t0": time.perf_counter()}


def test_compile_child_failure_is_reported(gvt):
    # the child fails fast (no torch here, or an unknown model where torch exists): reason in the row
    row = {"errors": []}
    gvt.torch_compile_cell(compile_ctx(gvt), "no_such_model", 8, row)
    assert row["compile_mode"] == "max-autotune-no-cudagraphs" and row["compile_error"] == "error"
    assert row["errors"] and row["errors"][0].startswith("torch.compile (max-autotune-no-cudagraphs): ")
    assert "torch_compile" not in row


def test_compile_child_timeout_kills_its_process_group(gvt, tmp_path, monkeypatch):
    pidfile = tmp_path / "grandchild.pid"
    fake = tmp_path / "fake_python.sh"  # stands for a torch.compile that never finishes, with a worker process
    fake.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {pidfile}\nsleep 300\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(sys, "executable", str(fake))
    row = {"errors": []}
    t0 = time.perf_counter()
    gvt.torch_compile_cell(compile_ctx(gvt, "--compile-timeout", "1"), "resnet50", 1, row)
    assert time.perf_counter() - t0 < 60
    assert row["compile_mode"] == "reduce-overhead" and row["compile_error"] == "timeout"
    assert "timed out after 1 s" in row["errors"][0]
    pid = int(pidfile.read_text())
    for _ in range(50):  # the worker got SIGKILL with the group: gone, or a zombie awaiting its reaper
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the compile child's worker {pid} outlived the timeout")


def test_compile_skipped_when_budget_spent(gvt):
    ctx = compile_ctx(gvt, "--budget-s", "10")
    row = {"errors": []}
    gvt.torch_compile_cell(ctx, "resnet50", 8, row)
    assert row["compile_error"] == "skipped" and "budget" in row["errors"][0]


def test_bench_timing_helpers(gvt):
    """bench/_timing.py (every benchmark's statistics): percentiles as numpy's (linear interpolation, what `gie run`
    reports), NaN statistics without samples, and interleaved blocks that split the runs over the rounds with the
    engines' order reversed every other round."""
    timing_mod = sys.modules["_timing"]  # imported by gpu_vs_torch from bench/
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 40):
        xs = rng.standard_normal(n).tolist()
        s = timing_mod.summarize(xs, quantiles=(0.9, 0.99))
        assert s["median"] == pytest.approx(np.median(xs)) and s["min"] == min(xs) and s["runs"] == n
        assert s["p90"] == pytest.approx(np.percentile(xs, 90)) and s["p99"] == pytest.approx(np.percentile(xs, 99))
    assert all(np.isnan(v) for k, v in timing_mod.summarize([]).items() if k != "runs")
    order = []
    ts, cpu = timing_mod.interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, runs=5, rounds=2,
                                     warmup=1)
    assert order == ["a", "b"] + ["a"] * 3 + ["b"] * 3 + ["b"] * 2 + ["a"] * 2
    assert [len(ts["a"]), len(ts["b"])] == [5, 5] and set(cpu) == {"a", "b"}
    assert gvt.summarize([1.0, 2.0, 4.0], batch=8) == {"median_ms": 2.0, "min_ms": 1.0, "p90_ms": pytest.approx(3.6),
                                                       "images_per_s": 4000.0, "runs": 3}


@pytest.mark.parametrize("env,expect", [({}, None),
                                        ({"GIE_TIMING_SAMPLES": "1"}, "GIE_TIMING_SAMPLES=1: gie's tactics chosen from 1 timing sample(s)"),
                                        ({"GIE_UNVERIFIED_TACTICS": "1"}, "GIE_UNVERIFIED_TACTICS=1: tactics not yet verified"),
                                        ({"GIE_UNVERIFIED_TACTICS": "0"}, None)])
def test_table_caption_says_when_the_build_was_not_normal(gvt, monkeypatch, env, expect):
    """A table measured with a build shortcut in the environment says so in its caption (the zoo table of 2026-12-07
    was measured with GIE_TIMING_SAMPLES=1 and nothing in it said so)."""
    for k in ("GIE_TIMING_SAMPLES", "GIE_UNVERIFIED_TACTICS"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    args = gvt.parse_args(["--fp16"])
    caption = gvt.table_fp16(fp16_rows(gvt, False), args).splitlines()[0]
    if expect is None:
        assert "[" not in caption, caption
    else:
        assert expect in caption, caption
