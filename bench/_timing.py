"""Timing helpers of the benchmarks (one definition of the statistics every table reports):

  summarize(samples)            median, min, percentiles (p90 by default; numpy's interpolation) and the count
  interleaved(fns, runs, ...)   CPU wall-clock timing of several engines in interleaved blocks, with process CPU time
  cuda_event_ms(torch, fns, ...) per-run milliseconds between CUDA events (torch is passed in: imported by the caller
                                only when the benchmark runs, so that --help and the table code work without it)
  import_cuda_torch(log)        that import, or None with the reason logged
"""
import math
import statistics
import time


def percentile(sorted_samples, q):
    """The q-quantile (0 <= q <= 1) of sorted samples by linear interpolation between the two nearest ranks: numpy's
    default method, as `gie run` reports (so the median is q = 0.5)."""
    pos = q * (len(sorted_samples) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_samples) - 1)
    return sorted_samples[lo] + (sorted_samples[hi] - sorted_samples[lo]) * (pos - lo)


def summarize(samples, quantiles=(0.9,)):
    """{"median", "min", "p90" (one "pNN" per quantile), "runs"} of samples, in their unit; NaN statistics when there are
    none (a load test whose requests all failed)."""
    s = sorted(samples)
    out = {"median": statistics.median(s) if s else math.nan, "min": s[0] if s else math.nan}
    for q in quantiles:
        out[f"p{round(q * 100)}"] = percentile(s, q) if s else math.nan
    out["runs"] = len(s)
    return out


def interleaved(fns, runs, rounds, warmup=0, settle=0.0):
    """fns: {name: callable}. ``warmup`` untimed calls of each, then ``runs`` timed calls of each in ``rounds`` blocks,
    the engines' order reversed every other round so that all see the same machine conditions; each block starts
    ``settle`` seconds after the previous one ended. Returns ({name: [seconds per call]}, {name: process CPU seconds of
    its timed calls}) (CPU time counts all threads, spinning included)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    ts = {k: [] for k in fns}
    cpu = {k: 0.0 for k in fns}
    rounds = max(1, min(rounds, runs))
    names = list(fns)
    for r in range(rounds):
        n = runs // rounds + (1 if r < runs % rounds else 0)
        for name in (names if r % 2 == 0 else names[::-1]):
            fn = fns[name]
            if settle > 0:
                time.sleep(settle)
            c0 = time.process_time()
            for _ in range(n):
                t0 = time.perf_counter()
                fn()
                ts[name].append(time.perf_counter() - t0)
            cpu[name] += time.process_time() - c0
    return ts, cpu


def import_cuda_torch(log):
    """torch with a CUDA device, or None after ``log`` said why not (the GPU benchmarks then exit with status 2)."""
    try:
        import torch
    except ImportError as e:
        log(f"PyTorch is needed: {e}")
        return None
    if not torch.cuda.is_available():
        log("no CUDA device visible to PyTorch")
        return None
    return torch


def cuda_event_ms(torch, fns, warmup, runs, stream=None):
    """fns: callables launching one run each on ``stream`` (cycled; None: the current stream). ``warmup`` untimed
    runs, then ``runs`` runs each between two CUDA events. Returns per-run milliseconds."""
    k = len(fns)
    for i in range(warmup):
        fns[i % k]()
    torch.cuda.synchronize()
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    ms = []
    for i in range(runs):
        start.record(stream)
        fns[i % k]()
        end.record(stream)
        end.synchronize()
        ms.append(start.elapsed_time(end))
    return ms
