#!/usr/bin/env python3
"""One zoo network on the CPU with an optimizer pass on and off, and onnxruntime, in one process: interleaved blocks
(on, off, ort, then the reverse order), the medians and the medians of the per-block ratios, which a busy shared
machine disturbs less than separate runs (both engines of a block see about the same load).

    PYTHONPATH=build/h11c/pkg python3 bench/cpu_pass_ab.py --model mobilenetv2 --threads 2 --pass fuse_depthwise_pointwise

Also checks that the two gie engines agree (max |on - off| on the first output) and counts the kernels whose type
the pass produces (--kernel-type, default DepthwisePointwise).

--off-env NAME=VALUE builds the "off" engine with that environment variable set (the kernel choices a variable
decides at build time, e.g. GIE_CPU_DIRECT_CONV=0: no direct convolution kernel); with --pass '' it is the only
difference between the two engines:

    PYTHONPATH=build/NAME/pkg python3 bench/cpu_pass_ab.py --model mobilenetv2 --threads 1 --pass '' \
        --off-env GIE_CPU_DIRECT_CONV=0
"""
import argparse
import itertools
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="mobilenetv2")
    p.add_argument("--threads", type=int, default=2, help="both engines (gie: GIE_NUM_THREADS, set before import)")
    p.add_argument("--pass", dest="pass_name", default="fuse_depthwise_pointwise")
    p.add_argument("--kernel-type", default="DepthwisePointwise")
    p.add_argument("--off-first", action="store_true",
                   help="build the 'off' engine first (an A/A check of build order: --pass '' --off-env X=1)")
    p.add_argument("--off-env", action="append", default=[], metavar="NAME=VALUE",
                   help="set while the 'off' engine is built (repeatable)")
    p.add_argument("--blocks", type=int, default=60, help="interleaved blocks per engine (a multiple of 6: each order)")
    p.add_argument("--inner", type=int, default=5, help="runs per block")
    args = p.parse_args()
    os.environ["GIE_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(args.threads)

    import numpy as np
    import onnxruntime as ort

    import gie
    from gie import model_zoo

    sys.path.insert(0, HERE)
    import onnx_export

    spec = model_zoo.describe(args.model, seed=0)
    outs = [spec.outputs[0]]
    x = spec.random_input(1, seed=1)
    pre = {n: np.empty((1,) + spec.shapes[n], np.float32) for n in outs}

    off_env = dict(kv.split("=", 1) for kv in args.off_env)

    def build(on):
        b = gie.Builder()
        net = b.create_network()
        spec.to_gie(net, batch=1, mark=outs)
        c = b.create_config()
        c.device = "cpu"
        if not on and args.pass_name:
            c.set_pass_enabled(args.pass_name, False)
        saved = {k: os.environ.get(k) for k in off_env}
        if not on:
            os.environ.update(off_env)
        try:
            e = b.build(net, c)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        return e, e.create_execution_context()

    if args.off_first:
        eoff, coff = build(False)
        eon, con = build(True)
    else:
        eon, con = build(True)
        eoff, coff = build(False)
    count = sum(k["type"] == args.kernel_type for k in eon.layer_info()["kernels"])
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    model = onnx_export.to_onnx(spec, outputs=outs, batch=1, check=False)
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    iname = sess.get_inputs()[0].name
    con.execute({"data": x}, pre)
    y_on = pre[outs[0]].copy()
    coff.execute({"data": x}, pre)
    print(f"{args.model}, {args.threads} thread(s): {count} {args.kernel_type} kernels; max |on - off| "
          f"{float(np.abs(y_on - pre[outs[0]]).max()):.2e}")
    fns = {"on": lambda: con.execute({"data": x}, pre), "off": lambda: coff.execute({"data": x}, pre),
           "ort": lambda: sess.run(None, {iname: x})}
    for f in fns.values():
        for _ in range(3):
            f()
    t = {k: [] for k in fns}
    # Each block runs the three in one of their 6 orders, in turn: every engine follows each engine (itself included,
    # across a block boundary) equally often. With one order and its reverse alternating (before 2026-12-08) the
    # middle engine ("off") never ran right after itself, always with the other engines' data in the caches, and lost
    # 12-15% at two threads against an identical engine (A/A: --pass '' --off-env GIE_FOO=1).
    orders = list(itertools.permutations(fns.items()))
    for i in range(args.blocks):
        for k, f in orders[i % len(orders)]:
            time.sleep(0.02)  # the other engine's threads stop spinning
            s = time.perf_counter()
            for _ in range(args.inner):
                f()
            t[k].append((time.perf_counter() - s) / args.inner * 1e3)

    def ratio(u, v):
        return statistics.median([a / b for a, b in zip(t[u], t[v])])

    print(f"  median ms: on {statistics.median(t['on']):.2f}, off {statistics.median(t['off']):.2f}, onnxruntime "
          f"{statistics.median(t['ort']):.2f}; median block ratios: on / off {ratio('on', 'off'):.3f}, on / ort "
          f"{ratio('on', 'ort'):.3f}, off / ort {ratio('off', 'ort'):.3f}; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
