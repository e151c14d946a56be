#!/usr/bin/env python3
"""Per-layer CPU times of gie against onnxruntime for one zoo network, one table (where the time goes).

    PYTHONPATH=build/zoo/pkg OMP_NUM_THREADS=1 taskset -c 0 python3 bench/cpu_layer_compare.py --model resnet50
    PYTHONPATH=build/zoo/pkg OMP_NUM_THREADS=2 python3 bench/cpu_layer_compare.py --model googlenet --threads 2

gie: the execution context's profiler (one entry per kernel, named after the first layer it runs);
onnxruntime: SessionOptions.enable_profiling (one "Node" event per node, named after the ONNX node, which
bench/onnx_export.py names after the zoo layer). Both run --passes passes, interleaved (gie pass, ort pass, ...),
and each layer's median (or minimum, --stat min) is kept. A gie kernel and an onnxruntime node are matched by name; onnxruntime fuses
Conv+Relu(+Add) under the Conv's name as gie does, so the convolutions line up one to one. Rows of either side
that have no twin are summed as "unmatched". Set OMP_NUM_THREADS to --threads before starting (gie's pool reads
it at start-up).
"""
import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="resnet50")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--passes", type=int, default=20)
    p.add_argument("--settle-ms", type=float, default=50.0,
                   help="pause before each engine's pass (default 50): with several threads each engine's workers "
                        "spin-wait after a pass and would share the cores with the other engine's next pass")
    p.add_argument("--top", type=int, default=40, help="rows listed, largest gie - ort difference first")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--list-unmatched", type=int, default=0, metavar="N",
                   help="also list the N slowest onnxruntime nodes without a gie twin (e.g. the activations it runs "
                        "apart) and the N slowest gie kernels without an onnxruntime twin")
    p.add_argument("--stat", choices=["median", "min"], default="median",
                   help="per-layer statistic over the passes (min: robust to preemption on a busy machine)")
    p.add_argument("--disable-pass", action="append", default=[], metavar="NAME",
                   help="build gie without this optimizer pass (repeatable), e.g. fuse_depthwise_pointwise")
    args = p.parse_args()
    if os.environ.get("OMP_NUM_THREADS") != str(args.threads):
        sys.exit(f"set OMP_NUM_THREADS={args.threads} in the environment (gie reads it when its pool starts)")

    import numpy as np
    import onnxruntime as ort

    import gie
    from gie import model_zoo

    sys.path.insert(0, HERE)
    import onnx_export
    from cpu_vs_ort import build_gie

    spec = model_zoo.describe(args.model, seed=args.seed)
    outs = [spec.outputs[0]]
    x = spec.random_input(args.batch, seed=1)
    args.via_onnx = False  # build_gie: from the zoo description, as cpu_vs_ort.py does by default
    engine, _ = build_gie(gie, spec, args, outs, onnx_export)
    ctx = engine.create_execution_context()
    pre = {n: np.empty((args.batch,) + spec.shapes[n], np.float32) for n in outs}
    info = {k.get("name"): k for k in engine.layer_info().get("kernels", [])}

    tmp = tempfile.mkdtemp()
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(tmp, "ort")
    model = onnx_export.to_onnx(spec, outputs=outs, batch=args.batch, check=False)
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    # onnxruntime names a fused node after the last node it absorbed (Conv+BatchNormalization+Relu is
    # "<relu>_nchwc"); walk back through the absorbed element-wise nodes to the layer gie names its kernel after
    by_name = {n.name: n for n in model.graph.node}
    producer = {o: n for n in model.graph.node for o in n.output}
    absorbed = {"BatchNormalization", "Relu", "Clip", "Add", "Sigmoid", "Mul", "LeakyRelu"}

    def gie_name(node):
        base = re.sub(r"_(nchwc|token_\d+)$", "", node)
        n = by_name.get(base)
        while n is not None and n.op_type in absorbed and n.input and n.input[0] in producer:
            n = producer[n.input[0]]
        return n.name if n is not None else base
    feed = {spec.input_name: x}

    gie_runs = []
    ctx.profiler = lambda name, ms: gie_runs[-1].append((name, ms))
    for i in range(args.passes + 2):
        gie_runs.append([])
        time.sleep(args.settle_ms / 1e3)
        ctx.execute({"data": x}, pre)
        time.sleep(args.settle_ms / 1e3)
        sess.run(outs, feed)
    ctx.profiler = None
    path = sess.end_profiling()
    with open(path) as f:
        events = json.load(f)

    g = {}
    order = []
    for r in gie_runs[2:]:
        for name, ms in r:
            if name not in g:
                order.append(name)
            g.setdefault(name, []).append(ms)
    stat = min if args.stat == "min" else statistics.median
    g = {k: stat(v) for k, v in g.items()}
    o = {}
    runs_seen = {}
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        node = gie_name(e["name"][: -len("_kernel_time")])
        runs_seen[node] = runs_seen.get(node, 0) + 1
        if runs_seen[node] <= 2:  # warm-up passes
            continue
        o.setdefault(node, []).append(e["dur"] / 1e3)
    o_op = {}
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            o_op[gie_name(e["name"][: -len("_kernel_time")])] = e["args"].get("op_name", "?")
    o = {k: stat(v) for k, v in o.items()}

    rows = []
    for name in order:
        k = info.get(name, {})
        shapes = " ".join("x".join(map(str, t["shape"][1:])) for t in k.get("inputs", [])[:1] + k.get("outputs", [])[:1])
        rows.append((name, k.get("type", "?"), shapes, g[name], o.get(name)))
    um_g = sum(r[3] for r in rows if r[4] is None)
    um_o = sum(v for n, v in o.items() if n not in g)
    tg, to = sum(g.values()), sum(o.values())
    print(f"{args.model} batch {args.batch}, {args.threads} thread(s), load average {os.getloadavg()[0]:.2f}, "
          f"{args.stat} of {args.passes} interleaved passes; gie {len(g)} kernels {tg:.2f} ms summed, onnxruntime "
          f"{len(o)} nodes {to:.2f} ms summed")
    print(f"unmatched: gie {um_g:.2f} ms ({', '.join(r[0] for r in rows if r[4] is None)[:200]}); "
          f"onnxruntime {um_o:.2f} ms ({', '.join(f'{n}:{o_op.get(n)}' for n in o if n not in g)[:300]})")
    for n, v in sorted(((n, v) for n, v in o.items() if n not in g), key=lambda t: -t[1])[: args.list_unmatched]:
        print(f"  onnxruntime only: {n} ({o_op.get(n)}) {v:.3f} ms")
    for r in sorted((r for r in rows if r[4] is None), key=lambda r: -r[3])[: args.list_unmatched]:
        print(f"  gie only: {r[0]} ({r[1]}, {r[2]}) {r[3]:.3f} ms")
    print()
    print("| layer | type | in -> out | gie ms | ort ms | gie/ort | gie-ort ms |")
    print("|---|---|---|---:|---:|---:|---:|")
    matched = sorted((r for r in rows if r[4] is not None), key=lambda r: -(r[3] - r[4]))
    for name, typ, shapes, gm, om in matched[: args.top]:
        print(f"| {name} | {typ} | {shapes} | {gm:.3f} | {om:.3f} | {gm / om:.2f} | {gm - om:+.3f} |")
    by = {}
    for name, typ, shapes, gm, om in matched:
        key = typ
        if typ == "Convolution":
            k = info.get(name, {})
            key = f"Conv {k.get('tactic', '')}"
        a = by.setdefault(key, [0.0, 0.0, 0])
        a[0] += gm
        a[1] += om
        a[2] += 1
    print()
    for key, (gm, om, n) in sorted(by.items(), key=lambda kv: -(kv[1][0] - kv[1][1])):
        print(f"  {key:<24} {n:3d} layers: gie {gm:7.2f} ms, ort {om:7.2f} ms, {gm - om:+.2f} ms")


if __name__ == "__main__":
    main()
