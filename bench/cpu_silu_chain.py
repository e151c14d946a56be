#!/usr/bin/env python3
"""CPU latency of an EfficientNet-like SiLU chain: gie with the activation passes on, with them off, and onnxruntime.

    PYTHONPATH=build/C1/pkg python3 bench/cpu_silu_chain.py --threads 1
    PYTHONPATH=build/C1/pkg python3 bench/cpu_silu_chain.py --threads 1 --model efficientnet_b0

The chain (batch 1, 32 channels at 56x56, --blocks blocks): 1x1 conv 32->96, SiLU, 3x3 depthwise conv, SiLU, 1x1
conv 96->32, with each SiLU spelled as ONNX exports torch's SiLU: Sigmoid then Mul with its own input. Three gie
engines are built from the one ONNX model: "fused" (every pass: recognize_activations makes each Sigmoid+Mul one
SILU, fuse_epilogue moves it into the convolution), "silu" (fuse_epilogue off: SILU kernels of their own) and
"unfused" (both off: a Sigmoid and a Mul kernel per SiLU), and onnxruntime runs the same model (default session
options). Runs are interleaved in --rounds blocks so that every engine sees the same machine conditions; the
medians (ms) and the ratios to onnxruntime are printed. --model efficientnet_b0 runs EfficientNet-B0's structure
(random weights, see make_efficientnet_b0) the same way.
"""
import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _timing  # noqa: E402


def make_model(blocks, seed):
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    nodes, inits = [], {}
    t = "x"
    for i in range(blocks):
        inits[f"w1_{i}"] = (rng.standard_normal((96, 32, 1, 1)) * 0.2).astype(np.float32)
        inits[f"w2_{i}"] = (rng.standard_normal((96, 1, 3, 3)) * 0.3).astype(np.float32)
        inits[f"w3_{i}"] = (rng.standard_normal((32, 96, 1, 1)) * 0.1).astype(np.float32)
        for k, c in (("b1", 96), ("b2", 96), ("b3", 32)):
            inits[f"{k}_{i}"] = (rng.standard_normal(c) * 0.1).astype(np.float32)
        nodes += [
            helper.make_node("Conv", [t, f"w1_{i}", f"b1_{i}"], [f"c1_{i}"]),
            helper.make_node("Sigmoid", [f"c1_{i}"], [f"s1_{i}"]),
            helper.make_node("Mul", [f"c1_{i}", f"s1_{i}"], [f"a1_{i}"]),
            helper.make_node("Conv", [f"a1_{i}", f"w2_{i}", f"b2_{i}"], [f"c2_{i}"], group=96, pads=[1, 1, 1, 1]),
            helper.make_node("Sigmoid", [f"c2_{i}"], [f"s2_{i}"]),
            helper.make_node("Mul", [f"c2_{i}", f"s2_{i}"], [f"a2_{i}"]),
            helper.make_node("Conv", [f"a2_{i}", f"w3_{i}", f"b3_{i}"], [f"y_{i}"]),
        ]
        t = f"y_{i}"
    g = helper.make_graph(nodes, "silu_chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32, 56, 56])],
                          [helper.make_tensor_value_info(t, TensorProto.FLOAT, [1, 32, 56, 56])],
                          initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m, t


def make_efficientnet_b0(seed, image=224):
    """EfficientNet-B0's layer structure (stem, 16 MBConv blocks with squeeze-excitation, head, classifier) with
    seeded random weights, BatchNorm left out (gie folds it into the convolutions): 49 SiLUs, each spelled Sigmoid +
    Mul as torch exports it, and 16 squeeze-excitation gates (Sigmoid, then Mul with the block's tensor)."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    nodes, inits = [], {}
    counter = [0]

    def name(p):
        counter[0] += 1
        return f"{p}{counter[0]}"

    def conv(x, cin, cout, k, stride=1, groups=1, act=True):
        w, b, y = name("w"), name("b"), name("c")
        inits[w] = (rng.standard_normal((cout, cin // groups, k, k)) * math.sqrt(2.0 / (cin // groups * k * k))).astype(np.float32)
        inits[b] = (rng.standard_normal(cout) * 0.05).astype(np.float32)
        nodes.append(helper.make_node("Conv", [x, w, b], [y], kernel_shape=[k, k], strides=[stride, stride],
                                      pads=[k // 2] * 4, group=groups))
        return silu(y) if act else y

    def silu(x):
        s, y = name("sig"), name("silu")
        nodes.extend([helper.make_node("Sigmoid", [x], [s]), helper.make_node("Mul", [x, s], [y])])
        return y

    x = conv("x", 3, 32, 3, 2)
    cin = 32
    for expand, cout, repeats, stride, k in ((1, 16, 1, 1, 3), (6, 24, 2, 2, 3), (6, 40, 2, 2, 5), (6, 80, 3, 2, 3),
                                             (6, 112, 3, 1, 5), (6, 192, 4, 2, 5), (6, 320, 1, 1, 3)):
        for r in range(repeats):
            s = stride if r == 0 else 1
            inp = x
            mid = cin * expand
            h = conv(x, cin, mid, 1) if expand != 1 else x
            h = conv(h, mid, mid, k, s, groups=mid)
            # squeeze-excitation: GAP -> 1x1 (cin / 4) + SiLU -> 1x1 + Sigmoid -> scale h
            g = name("gap")
            nodes.append(helper.make_node("GlobalAveragePool", [h], [g]))
            g = conv(g, mid, max(1, cin // 4), 1)
            g = conv(g, max(1, cin // 4), mid, 1, act=False)
            gs, hs = name("gate"), name("se")
            nodes.extend([helper.make_node("Sigmoid", [g], [gs]), helper.make_node("Mul", [h, gs], [hs])])
            x = conv(hs, mid, cout, 1, act=False)
            if s == 1 and cin == cout:
                y = name("add")
                nodes.append(helper.make_node("Add", [x, inp], [y]))
                x = y
            cin = cout
    x = conv(x, cin, 1280, 1)
    g, f = name("gap"), name("flat")
    nodes.extend([helper.make_node("GlobalAveragePool", [x], [g]), helper.make_node("Flatten", [g], [f])])
    inits["fc_w"] = (rng.standard_normal((1000, 1280)) * 0.02).astype(np.float32)
    inits["fc_b"] = np.zeros(1000, np.float32)
    nodes.append(helper.make_node("Gemm", [f, "fc_w", "fc_b"], ["logits"], transB=1))
    g = helper.make_graph(nodes, "efficientnet_b0", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, image, image])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])],
                          initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m, "logits", (1, 3, image, image)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=["chain", "efficientnet_b0"], default="chain")
    p.add_argument("--blocks", type=int, default=4, help="blocks of the chain")
    p.add_argument("--threads", type=int, default=None, help="gie (OMP_NUM_THREADS) and onnxruntime threads")
    p.add_argument("--runs", type=int, default=40)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    if a.threads:
        os.environ["OMP_NUM_THREADS"] = str(a.threads)
    import gie  # after OMP_NUM_THREADS
    import onnxruntime as ort

    if a.model == "chain":
        m, out = make_model(a.blocks, a.seed)
        shape = (1, 32, 56, 56)
    else:
        m, out, shape = make_efficientnet_b0(a.seed)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    runners = {}
    for name, off in (("fused", ()), ("silu", ("fuse_epilogue",)), ("unfused", ("recognize_activations", "fuse_epilogue"))):
        builder = gie.Builder()
        net = gie.OnnxParser(builder=builder).parse(m)
        config = builder.create_config()
        config.device = "cpu"
        for pss in off:
            config.set_pass_enabled(pss, False)
        engine = builder.build(net, config)
        ctx = engine.create_execution_context()
        runners[name] = (lambda c: lambda: c.execute({"x": x})[out])(ctx)
        print(f"gie {name}: {engine.num_kernels} kernels")
    so = ort.SessionOptions()
    if a.threads:
        so.intra_op_num_threads = a.threads
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    runners["onnxruntime"] = lambda: sess.run(None, {"x": x})[0]

    ref = runners["onnxruntime"]()
    for name, f in runners.items():
        y = f()
        print(f"{name}: max |diff| to onnxruntime {np.max(np.abs(y - ref)):.3g} (max |y| {np.max(np.abs(ref)):.3g})")
        for _ in range(3):
            f()
    times, _ = _timing.interleaved(runners, a.runs, a.rounds)
    stats = {name: _timing.summarize([t * 1e3 for t in ts]) for name, ts in times.items()}
    ort_ms = stats["onnxruntime"]["median"]
    print(f"\n{'engine':12s} {'median ms':>10s} {'min ms':>8s} {'/ ort':>6s}")
    for name, s in stats.items():
        print(f"{name:12s} {s['median']:10.3f} {s['min']:8.3f} {s['median'] / ort_ms:6.2f}")


if __name__ == "__main__":
    main()
