#!/usr/bin/env python3
"""CPU latency of gie vs onnxruntime on the same networks (gie.model_zoo + bench/onnx_export.py), one table.

    PYTHONPATH=build/zoo/pkg python3 bench/cpu_vs_ort.py --model all --threads 1,2            # the README table
    PYTHONPATH=build/zoo/pkg python3 bench/cpu_vs_ort.py --model all --threads 1,2 --repeat 6 # + median of 6 repeats
    PYTHONPATH=build/zoo/pkg python3 bench/cpu_vs_ort.py --model all --threads 1,2 --load 0,2  # idle and loaded
    PYTHONPATH=build/zoo/pkg python3 bench/cpu_vs_ort.py --model efficientnet_b0 --threads 2 --profile --no-ort

For every (background load, thread count) one child process (so that OMP_NUM_THREADS is set before gie's
thread pool starts) builds each model with gie (CPU device) and its ONNX twin (same weights) in onnxruntime
(CPU provider, default session options except intra_op_num_threads = the thread count); warms both up, then
times --runs runs of each, split into --rounds interleaved blocks (gie block, ort block, ort block, gie block,
...) so that both engines see the same machine conditions, each block after a --settle-ms pause (onnxruntime's
threads spin-wait after a run and would otherwise share the cores with gie's next block), and compares the outputs (pre-softmax logits for
the classifiers, the raw map for YOLOv2). ``--load N`` starts N busy-looping processes before those children
and stops them after (``--load 0,2``: once without, once with). The parent prints one table: model, threads,
load, gie and onnxruntime median ms, ratio gie/ort (> 1: gie is slower), p90s, process CPU time per run and
its ratio (with one thread: the on-core time, steadier than wall time on a busy machine), max abs diff of the
compared output.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _table  # noqa: E402
import _timing  # noqa: E402

ALL_MODELS = ["resnet50", "googlenet", "mobilenetv2", "efficientnet_b0"]  # --model all (YOLOv2 by name only)
KNOWN_MODELS = ALL_MODELS + ["yolov2"]


def int_list(text):
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got '{text}'")
    if not vals or any(v < 0 for v in vals):
        raise argparse.ArgumentTypeError(f"expected non-negative integers, got '{text}'")
    return vals


def model_list(text):
    names = ALL_MODELS if text == "all" else [m for m in text.split(",") if m]
    bad = [m for m in names if m not in KNOWN_MODELS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown model(s) {bad}: choose from all, {', '.join(KNOWN_MODELS)}")
    return names


def parse_args(argv=None, default_model="all"):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=model_list, default=model_list(default_model),
                   help=f"all (= {','.join(ALL_MODELS)}) or a comma-separated list of {', '.join(KNOWN_MODELS)}")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--image", type=int, default=None, help="input height = width (default: the model's, 224 / 416)")
    p.add_argument("--runs", type=int, default=40, help="timed runs per engine (default 40)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs of each engine first (default 3)")
    p.add_argument("--settle-ms", type=float, default=50.0,
                   help="pause before each timed block, so the other engine's threads stop spin-waiting (default 50)")
    p.add_argument("--rounds", type=int, default=4, help="interleaved blocks the runs are split into (default 4)")
    p.add_argument("--repeat", type=int, default=1,
                   help="measure everything N times (fresh child processes each time) and add a table of the "
                        "median ratio per row: on a shared machine one process's figures can move 10-30%%")
    p.add_argument("--threads", type=int_list, default=None,
                   help="CPU threads for both engines, e.g. 1,2 (gie: OMP_NUM_THREADS; ort: intra_op_num_threads); "
                        "default os.cpu_count()")
    p.add_argument("--load", type=int_list, default=[0],
                   help="busy-looping background processes during the measurement, e.g. 0,2 (default 0)")
    p.add_argument("--omp-wait-policy", choices=["active", "passive"], default=None,
                   help="sets OMP_WAIT_POLICY for gie's OpenMP threads (default: leave the environment as it is)")
    p.add_argument("--seed", type=int, default=0, help="weight seed")
    p.add_argument("--compare", default=None,
                   help="output to compare (one model only): logits (default for classifiers), prob, or output (yolov2)")
    p.add_argument("--via-onnx", action="store_true",
                   help="gie imports the ONNX twin (gie.parse) instead of building from the zoo description")
    p.add_argument("--no-ort", action="store_true", help="gie only")
    p.add_argument("--disable-pass", action="append", default=[], metavar="NAME",
                   help="build gie without this optimizer pass (repeatable), e.g. fuse_depthwise_pointwise")
    p.add_argument("--profile", action="store_true", help="per-kernel gie times (one extra profiled pass)")
    p.add_argument("--top", type=int, default=15, help="kernels listed by --profile")
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # child mode: write rows to this file
    args = p.parse_args(argv)
    args.threads = args.threads or [os.cpu_count()]
    if 0 in args.threads:
        p.error("--threads: 0 threads")
    if args.compare and len(args.model) > 1:
        p.error("--compare needs a single --model")
    return args


def fmt_ms(s):
    return f"{s * 1e3:.1f}"


def timed(fns, runs, warmup, rounds, settle=0.05):
    """fns: {engine: callable}. Warm-up, then ``runs`` timed calls of each, in ``rounds`` interleaved blocks
    (the order alternates every round). Each block starts ``settle`` seconds after the previous one ended:
    both engines run in this process, and onnxruntime's pool threads spin-wait for a while after each run, so
    without the pause the next gie block would share the second core with them (and be charged their CPU
    time). Returns {engine: {median, min, p90, cpu}} in seconds; cpu is the
    process CPU time per run (all threads, spinning included): with one thread it does not count the time the
    process waited for a core, so it is the steadier figure on a busy machine."""
    ts, cpu = _timing.interleaved(fns, runs, rounds, warmup=warmup, settle=settle)
    return {name: dict(_timing.summarize(t), cpu=cpu[name] / len(t)) for name, t in ts.items()}


# ---- parent: background load, one child per (load, threads), one table -----------------------------

def start_load(n):
    """n busy-looping processes (each keeps one core busy), stopped by stop_load."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
            for _ in range(n)]


def stop_load(procs):
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


def child_argv(args, threads, out_path):
    argv = [sys.executable, os.path.abspath(__file__), "--model", ",".join(args.model), "--batch", str(args.batch),
            "--runs", str(args.runs), "--warmup", str(args.warmup), "--rounds", str(args.rounds),
            "--settle-ms", str(args.settle_ms),
            "--threads", str(threads), "--seed", str(args.seed), "--top", str(args.top), "--worker", out_path]
    for flag, on in (("--via-onnx", args.via_onnx), ("--no-ort", args.no_ort), ("--profile", args.profile)):
        if on:
            argv.append(flag)
    if args.image:
        argv += ["--image", str(args.image)]
    if args.compare:
        argv += ["--compare", args.compare]
    return argv


def main(argv=None, default_model="all"):
    args = parse_args(argv, default_model)
    if args.worker:
        return worker(args)
    if args.repeat < 1:
        sys.exit("--repeat: at least 1")
    rows = []
    for rep in range(args.repeat):
        if args.repeat > 1:
            print(f"=== repeat {rep + 1} of {args.repeat} ===", flush=True)
        rc = measure(args, rows, rep)
        if rc:
            return rc
    print_table(rows, args)
    if args.repeat > 1:
        print_repeat_summary(rows, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


def measure(args, rows, rep):
    """One pass over every (background load, thread count): one child process each; its rows appended to rows."""
    for load in args.load:
        procs = start_load(load)
        try:
            if load:
                time.sleep(0.5)  # let the busy loops start
            for threads in args.threads:
                env = dict(os.environ, OMP_NUM_THREADS=str(threads))
                if args.omp_wait_policy:
                    env["OMP_WAIT_POLICY"] = args.omp_wait_policy.upper()
                with tempfile.TemporaryDirectory() as tmp:
                    out = os.path.join(tmp, "rows.json")
                    print(f"== threads {threads}, background load {load} ==", flush=True)
                    rc = subprocess.call(child_argv(args, threads, out), env=env)
                    if rc != 0 or not os.path.exists(out):
                        print(f"child for threads {threads}, load {load} failed (exit {rc})", file=sys.stderr)
                        return rc or 1
                    with open(out) as f:
                        for row in json.load(f):
                            row["load"] = load
                            row["repeat"] = rep
                            rows.append(row)
        finally:
            stop_load(procs)
    return 0


def print_repeat_summary(rows, args):
    """Per (model, threads, load): the ratio gie / onnxruntime of every repeat, their median and the medians of both
    engines' median times."""
    groups = {}
    for r in rows:
        groups.setdefault((r["model"], r["threads"], r["load"]), []).append(r)
    columns = [("model", ""), ("threads", "d"), ("load", "d"), ("gie ms (median of repeats)", ".1f"),
               ("onnxruntime ms", ".1f"), ("ratios", ""), ("median ratio", ".2f")]
    print()
    print(f"{args.repeat} repeats; ratio = gie median / onnxruntime median of each repeat, in order; their median")
    print()
    print(_table.header(columns))
    for (model, threads, load), rs in groups.items():
        gie_ms = statistics.median(r["gie"]["median"] for r in rs) * 1e3
        if all(r.get("ort") for r in rs):
            ratios = [r["gie"]["median"] / r["ort"]["median"] for r in rs]
            cells = [model, threads, load, gie_ms, statistics.median(r["ort"]["median"] for r in rs) * 1e3,
                     " ".join(f"{x:.2f}" for x in ratios), f"**{statistics.median(ratios):.2f}x**"]
        else:
            cells = [model, threads, load, gie_ms, "-", "-", "-"]
        print(_table.row(columns, cells))


def print_table(rows, args):
    print()
    print(f"batch {args.batch}, {args.runs} runs per engine in {args.rounds} interleaved rounds; medians; "
          f"ratio = gie / onnxruntime (< 1: gie is faster); CPU = process CPU ms per run (all threads); "
          f"diff = max |gie - ort| on the compared output")
    print()
    print("| model | threads | load | gie ms | onnxruntime ms | ratio | gie p90 | ort p90 | gie CPU | ort CPU | "
          "CPU ratio | max abs diff | output |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        g, o = r["gie"], r.get("ort")
        cells = [r["model"], r["threads"], r["load"], fmt_ms(g["median"]), fmt_ms(o["median"]) if o else "-",
                 f"{g['median'] / o['median']:.2f}x" if o else "-", fmt_ms(g["p90"]), fmt_ms(o["p90"]) if o else "-",
                 fmt_ms(g["cpu"]), fmt_ms(o["cpu"]) if o else "-", f"{g['cpu'] / o['cpu']:.2f}x" if o else "-",
                 f"{r['max_abs_diff']:.2g}" if o else "-",
                 f"{r['compare']} (max {r['max_abs']:.3g})" if o else r["compare"]]
        print("| " + " | ".join(str(c) for c in cells) + " |")


# ---- child: one thread count, every model ------------------------------------------------------------

def worker(args):
    import numpy as np

    import gie
    from gie import model_zoo

    sys.path.insert(0, HERE)
    import onnx_export

    threads = args.threads[0]
    ort = None
    if not args.no_ort:
        try:
            import onnxruntime as ort
        except ImportError:
            print("onnxruntime is not installed: gie only")
    print(f"host: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS')}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}, "
          f"GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT', '(unset)')}"
          + (f", onnxruntime {ort.__version__}" if ort else ""), flush=True)
    rows = []
    for model in args.model:
        spec = model_zoo.describe(model, seed=args.seed, image=args.image)
        main_out = spec.outputs[0]
        cmp_name = args.compare or ("output" if model == "yolov2" else
                                    "loss3/classifier" if model == "googlenet" else "logits")
        if cmp_name == "logits" and model == "googlenet":
            cmp_name = "loss3/classifier"
        if cmp_name not in spec.outputs:
            sys.exit(f"--compare: '{cmp_name}' is not an output of {model} ({', '.join(spec.outputs)})")
        outs = [main_out] if cmp_name == main_out else [main_out, cmp_name]
        x = spec.random_input(args.batch, seed=1)
        engine, build_s = build_gie(gie, spec, args, outs, onnx_export)
        ctx = engine.create_execution_context()
        # preallocated outputs: the timed loop measures execution, not numpy allocation
        preallocated = {name: np.empty((args.batch,) + spec.shapes[name], np.float32) for name in outs}
        res_gie = {k: v.copy() for k, v in ctx.execute({"data": x}, preallocated).items()}
        fns = {"gie": lambda: ctx.execute({"data": x}, preallocated)}
        print(f"{model}: input {tuple(x.shape)}, {spec.num_params() / 1e6:.1f} M params, "
              f"{spec.flops() * args.batch / 1e9:.2f} GFLOP; gie built in {build_s:.1f} s"
              f"{' from ONNX' if args.via_onnx else ''}, {engine.num_kernels} kernels", flush=True)
        if args.profile:
            profile(ctx, engine, x, preallocated, args.top)
        res_ort = None
        if ort is not None:
            sess = onnx_export.ort_session(onnx_export.to_onnx(spec, outputs=outs, check=False), threads=threads)
            feed = {spec.input_name: x}
            res_ort = dict(zip(outs, sess.run(outs, feed)))
            fns["onnxruntime"] = lambda: sess.run(outs, feed)
        times = timed(fns, args.runs, args.warmup, args.rounds, args.settle_ms / 1e3)
        row = {"model": model, "threads": threads, "batch": args.batch, "gie": times["gie"], "compare": cmp_name}
        if res_ort is not None:
            a, e = res_gie[cmp_name].astype(np.float64), res_ort[cmp_name].astype(np.float64)
            row.update(ort=times["onnxruntime"], max_abs_diff=float(np.abs(a - e).max()),
                       max_abs=float(np.abs(e).max()), finite=bool(np.isfinite(a).all()))
            print(f"  gie {fmt_ms(times['gie']['median'])} ms, onnxruntime {fmt_ms(times['onnxruntime']['median'])}"
                  f" ms, ratio {times['gie']['median'] / times['onnxruntime']['median']:.2f}x, {cmp_name} max abs "
                  f"diff {row['max_abs_diff']:.2g} (max |ort| {row['max_abs']:.3g})", flush=True)
        else:
            print(f"  gie {fmt_ms(times['gie']['median'])} ms", flush=True)
        rows.append(row)
        del ctx, engine
    with open(args.worker, "w") as f:
        json.dump(rows, f)
    return 0


def build_gie(gie, spec, args, outs, onnx_export):
    t0 = time.perf_counter()
    builder = gie.Builder()
    if args.via_onnx:
        import onnx

        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, f"{spec.name}.onnx")
            onnx.save(onnx_export.to_onnx(spec, outputs=outs, batch=args.batch, check=False), path)
            net = gie.parse(path, builder=builder)
    else:
        net = builder.create_network()
        spec.to_gie(net, batch=args.batch, mark=outs)
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = args.batch
    for name in getattr(args, "disable_pass", []):
        config.set_pass_enabled(name, False)
    engine = builder.build(net, config)
    return engine, time.perf_counter() - t0


def profile(ctx, engine, x, outputs, top, passes=10):
    """Runs ``passes`` profiled passes; prints each kernel's median time (robust to the odd preempted run on a
    shared machine): the slowest kernels and totals per layer type."""
    runs = []
    ctx.profiler = lambda name, ms: runs[-1].append((name, ms))
    for _ in range(passes + 1):  # the first pass may include one-time work: dropped
        runs.append([])
        ctx.execute({"data": x}, outputs)
    ctx.profiler = None
    order = [name for name, _ in runs[1]]
    per = {name: [] for name in order}
    for r in runs[1:]:
        for name, ms in r:
            per[name].append(ms)
    times = [(name, statistics.median(per[name])) for name in order]
    info = {k.get("name"): k for k in engine.layer_info().get("kernels", [])}
    total = sum(ms for _, ms in times) or 1e-9
    print(f"\nprofile: {len(times)} kernels, {total:.2f} ms summed (per-kernel medians of {passes} passes)")
    by_type = {}
    for name, ms in times:
        k = info.get(name, {})
        typ = k.get("type", "?")
        by_type[typ] = by_type.get(typ, 0.0) + ms
    for typ, ms in sorted(by_type.items(), key=lambda kv: -kv[1]):
        print(f"  {typ:<20} {ms:8.2f} ms {100 * ms / total:5.1f}%")
    print(f"  slowest {top}:")
    for name, ms in sorted(times, key=lambda kv: -kv[1])[:top]:
        k = info.get(name, {})
        shapes = " ".join("x".join(map(str, t["shape"])) for t in k.get("inputs", [])[:1] + k.get("outputs", [])[:1])
        print(f"  {ms:8.3f} ms {100 * ms / total:5.1f}%  {name:<28} {k.get('type', '?'):<14} "
              f"{k.get('tactic', ''):<10} {shapes}")
    print(flush=True)


if __name__ == "__main__":
    sys.exit(main())
