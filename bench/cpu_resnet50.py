#!/usr/bin/env python3
"""CPU latency of gie vs onnxruntime on the same network (gie.model_zoo + bench/onnx_export.py).

    PYTHONPATH=build/zoo/pkg python3 bench/cpu_resnet50.py                       # ResNet-50, batch 1, 224x224
    PYTHONPATH=build/zoo/pkg python3 bench/cpu_resnet50.py --model yolov2 --runs 10 --profile

Builds the model with gie (CPU device) and its ONNX twin (same weights) in onnxruntime (CPU provider, default
session options, intra-op threads = --threads or os.cpu_count()) in the same process; warms both up, then
times --runs runs of each, split into --rounds interleaved blocks (gie block, ort block, ort block, gie
block, ...) so that both see the same machine conditions; reports median / min / p90 per engine and compares
the outputs: pre-softmax logits for the classifiers (--compare to change), the raw map for YOLOv2.
"""
import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="resnet50", choices=["resnet50", "googlenet", "yolov2"])
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--image", type=int, default=None, help="input height = width (default: 224, 224, 416)")
    p.add_argument("--runs", type=int, default=20, help="timed runs per engine (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs of each engine first (default 3)")
    p.add_argument("--rounds", type=int, default=4, help="interleaved blocks the runs are split into (default 4)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for both engines (gie: OMP_NUM_THREADS; ort: intra_op_num_threads); "
                        "default os.cpu_count()")
    p.add_argument("--omp-wait-policy", choices=["active", "passive"], default=None,
                   help="sets OMP_WAIT_POLICY for gie's OpenMP threads (default: leave the environment as it is); "
                        "passive avoids spin-waiting, which helps a lot on a busy machine")
    p.add_argument("--seed", type=int, default=0, help="weight seed")
    p.add_argument("--compare", default=None,
                   help="output to compare: logits (default for classifiers), prob, or output (yolov2)")
    p.add_argument("--no-ort", action="store_true", help="gie only")
    p.add_argument("--profile", action="store_true", help="per-kernel gie times (one extra profiled pass)")
    p.add_argument("--top", type=int, default=15, help="kernels listed by --profile")
    return p.parse_args(argv)


def fmt_ms(s):
    return f"{s * 1e3:.1f}"


def timed(fns, runs, warmup, rounds):
    """fns: {engine: callable}. Warm-up, then ``runs`` timed calls of each, in ``rounds`` interleaved blocks
    (the order alternates every round). Returns {engine: {median, min, p90}} in seconds."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    ts = {k: [] for k in fns}
    rounds = max(1, min(rounds, runs))
    names = list(fns)
    for r in range(rounds):
        n = runs // rounds + (1 if r < runs % rounds else 0)
        for name in (names if r % 2 == 0 else names[::-1]):
            fn = fns[name]
            for _ in range(n):
                t0 = time.perf_counter()
                fn()
                ts[name].append(time.perf_counter() - t0)
    out = {}
    for name, t in ts.items():
        t.sort()
        out[name] = {"median": statistics.median(t), "min": t[0], "p90": t[min(len(t) - 1, int(0.9 * len(t)))]}
    return out


def main(argv=None):
    args = parse_args(argv)
    threads = args.threads or os.cpu_count()
    # gie's CPU kernels use OpenMP: the thread count must be set before the runtime starts.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if args.omp_wait_policy:
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy.upper()
    import numpy as np

    import gie
    from gie import model_zoo

    sys.path.insert(0, HERE)
    import onnx_export

    spec = model_zoo.describe(args.model, seed=args.seed, image=args.image)
    main_out = spec.outputs[0]
    cmp_name = args.compare or ("logits" if args.model == "resnet50" else spec.outputs[-1])
    if cmp_name == "logits" and args.model == "googlenet":
        cmp_name = "loss3/classifier"
    if cmp_name not in spec.outputs:
        sys.exit(f"--compare: '{cmp_name}' is not an output of {args.model} ({', '.join(spec.outputs)})")
    outs = [main_out] if cmp_name == main_out else [main_out, cmp_name]
    x = spec.random_input(args.batch, seed=1)
    image = spec.input_shape[1]
    print(f"{args.model}: input {tuple(x.shape)}, {spec.num_params() / 1e6:.1f} M params, "
          f"{spec.flops() * args.batch / 1e9:.2f} GFLOP per run, threads {threads}, outputs {outs}")
    print(f"host: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (other processes skew timings), "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}")

    # ---- gie ----
    t0 = time.perf_counter()
    builder = gie.Builder()
    net = builder.create_network()
    spec.to_gie(net, batch=args.batch, mark=outs)
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = args.batch
    engine = builder.build(net, config)
    build_s = time.perf_counter() - t0
    ctx = engine.create_execution_context()
    # preallocated outputs: the timed loop measures execution, not numpy allocation
    preallocated = {name: np.empty((args.batch,) + spec.shapes[name], np.float32) for name in outs}
    res_gie = {k: v.copy() for k, v in ctx.execute({"data": x}, preallocated).items()}
    fns = {"gie": lambda: ctx.execute({"data": x}, preallocated)}
    print(f"gie: built in {build_s:.1f} s, {engine.num_kernels} kernels, "
          f"activation memory {engine.activation_memory_size / 2**20:.1f} MiB")

    if args.profile:
        profile(ctx, engine, x, preallocated, args.top)

    # ---- onnxruntime ----
    res_ort = None
    if not args.no_ort:
        try:
            import onnxruntime as ort
        except ImportError:
            ort = None
            print("onnxruntime is not installed: gie only")
        if ort is not None:
            model = onnx_export.to_onnx(spec, outputs=outs)
            sess = onnx_export.ort_session(model, threads=threads)
            feed = {spec.input_name: x}
            res_ort = dict(zip(outs, sess.run(outs, feed)))
            fns["onnxruntime"] = lambda: sess.run(outs, feed)
            print(f"onnxruntime {ort.__version__}: CPUExecutionProvider, intra_op_num_threads {threads}")

    times = timed(fns, args.runs, args.warmup, args.rounds)
    t_gie, t_ort = times["gie"], times.get("onnxruntime")

    # ---- report ----
    rows = [("gie", t_gie)] + ([("onnxruntime", t_ort)] if t_ort else [])
    print()
    print(f"{'model':<10} {'batch':>5} {'image':>5} {'engine':<12} {'median ms':>10} {'min ms':>8} {'p90 ms':>8} "
          f"{'img/s':>7}")
    for eng, t in rows:
        print(f"{args.model:<10} {args.batch:>5} {image:>5} {eng:<12} {fmt_ms(t['median']):>10} {fmt_ms(t['min']):>8} "
              f"{fmt_ms(t['p90']):>8} {args.batch / t['median']:>7.1f}")
    line = f"{args.model} b{args.batch}: gie {fmt_ms(t_gie['median'])} ms"
    if t_ort:
        a = res_gie[cmp_name].astype(np.float64)
        e = res_ort[cmp_name].astype(np.float64)
        abs_diff = float(np.abs(a - e).max())
        rel_diff = abs_diff / max(float(np.abs(e).max()), 1e-30)
        elem_rel = float((np.abs(a - e) / np.maximum(np.abs(e), 1e-3 * np.abs(e).max())).max())
        print(f"\n{cmp_name} {tuple(e.shape)}: max abs diff {abs_diff:.3g}, max rel diff {rel_diff:.3g} "
              f"(max |gie - ort| / max |ort|), per-element rel diff {elem_rel:.3g} (|d| / max(|ort|, 1e-3 max |ort|)); "
              f"finite: {bool(np.isfinite(a).all())}")
        if main_out != cmp_name:
            pd = float(np.abs(res_gie[main_out].astype(np.float64) - res_ort[main_out]).max())
            print(f"{main_out}: max abs diff {pd:.3g}; argmax agree: "
                  f"{bool((res_gie[main_out].argmax(1) == res_ort[main_out].argmax(1)).all())}")
        ratio = t_gie["median"] / t_ort["median"]
        line += (f", onnxruntime {fmt_ms(t_ort['median'])} ms, ratio {ratio:.2f}x (gie/ort), "
                 f"max rel diff {rel_diff:.1g}")
    print(f"(load average now {os.getloadavg()[0]:.2f})")
    print(line)
    return 0


def profile(ctx, engine, x, outputs, top):
    """Runs once with the profiler on; prints the slowest kernels and totals per layer type."""
    times = []
    ctx.profiler = lambda name, ms: times.append((name, ms))
    ctx.execute({"data": x}, outputs)  # first profiled run may include one-time work; use the second
    times.clear()
    ctx.execute({"data": x}, outputs)
    ctx.profiler = None
    info = {k.get("name"): k for k in engine.layer_info().get("kernels", [])}
    total = sum(ms for _, ms in times) or 1e-9
    print(f"\nprofile: {len(times)} kernels, {total:.1f} ms summed")
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
        print(f"  {ms:8.2f} ms {100 * ms / total:5.1f}%  {name:<28} {k.get('type', '?'):<14} "
              f"{k.get('tactic', ''):<10} {shapes}")


if __name__ == "__main__":
    sys.exit(main())
