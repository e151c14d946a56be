#!/usr/bin/env python3
"""FP16 convolution throughput: gie's tensor-core implicit GEMM (variant f16_hwc8_mma) vs PyTorch FP16
channels-last convolution (cuDNN), on the convolution shapes of ResNet-50 (batch 64 by default).

    PYTHONPATH=build/gpu/pkg python3 bench/conv_f16.py                    # every ResNet-50 shape, batch 64
    PYTHONPATH=build/gpu/pkg python3 bench/conv_f16.py --batch 256 --runs 100
    PYTHONPATH=build/gpu/pkg python3 bench/conv_f16.py --tactics          # also each tactic's time

Per shape: one gie engine holding one Convolution (bias + ReLU fused, like ResNet-50 after BatchNorm folding),
built with the FP16 flag and the layer pinned to HALF (the builder times the tactics and adds Reformats around it,
since the network's input and output are FP32 linear); the convolution's own time is the builder's timing of the
chosen tactic (layer_info()["kernels"][i]["tactic_times_ms"]: the median of CUDA-event-timed runs), so the
Reformats do not count. "rel. err" is max |gie - torch FP16| / max |torch| on one run of the engine. torch: F.conv2d + relu_ on half
channels_last tensors, cudnn.benchmark on, timed with CUDA events around --runs calls (median per call).
TFLOP/s = 2 * N * K * P * Q * C * R * S / time. The "weighted" row sums each shape's time times its count in
ResNet-50. Ratios are gie ms / torch ms (< 1: gie faster). torch is imported only when the benchmark runs.
"""
import argparse
import statistics
import sys

# name, C, H, K, R, stride, pad, count in ResNet-50 (torchvision v1.5: the stride on the 3x3)
RESNET50 = [
    ("conv1 7x7/2", 3, 224, 64, 7, 2, 3, 1),
    ("l1 1x1 64>64", 64, 56, 64, 1, 1, 0, 1),
    ("l1 3x3 64", 64, 56, 64, 3, 1, 1, 3),
    ("l1 1x1 64>256", 64, 56, 256, 1, 1, 0, 4),
    ("l1 1x1 256>64", 256, 56, 64, 1, 1, 0, 2),
    ("l2 1x1 256>128", 256, 56, 128, 1, 1, 0, 1),
    ("l2 3x3/2 128", 128, 56, 128, 3, 2, 1, 1),
    ("l2 1x1 128>512", 128, 28, 512, 1, 1, 0, 4),
    ("l2 ds 1x1/2 256>512", 256, 56, 512, 1, 2, 0, 1),
    ("l2 1x1 512>128", 512, 28, 128, 1, 1, 0, 3),
    ("l2 3x3 128", 128, 28, 128, 3, 1, 1, 3),
    ("l3 1x1 512>256", 512, 28, 256, 1, 1, 0, 1),
    ("l3 3x3/2 256", 256, 28, 256, 3, 2, 1, 1),
    ("l3 1x1 256>1024", 256, 14, 1024, 1, 1, 0, 6),
    ("l3 ds 1x1/2 512>1024", 512, 28, 1024, 1, 2, 0, 1),
    ("l3 1x1 1024>256", 1024, 14, 256, 1, 1, 0, 5),
    ("l3 3x3 256", 256, 14, 256, 3, 1, 1, 5),
    ("l4 1x1 1024>512", 1024, 14, 512, 1, 1, 0, 1),
    ("l4 3x3/2 512", 512, 14, 512, 3, 2, 1, 1),
    ("l4 1x1 512>2048", 512, 7, 2048, 1, 1, 0, 3),
    ("l4 ds 1x1/2 1024>2048", 1024, 14, 2048, 1, 2, 0, 1),
    ("l4 1x1 2048>512", 2048, 7, 512, 1, 1, 0, 2),
    ("l4 3x3 512", 512, 7, 512, 3, 1, 1, 2),
]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def flops(n, c, h, k, r, stride, pad):
    p = (h + 2 * pad - r) // stride + 1
    return 2.0 * n * k * p * p * c * r * r


def gie_conv(gie, np, torch, n, c, h, k, r, stride, pad, tactics):
    """(ms, tactic, every tactic's time, max |gie - torch| / max |torch|) of one FP16 convolution + bias + ReLU."""
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((k, c, r, r)) / np.sqrt(c * r * r)).astype(np.float32)
    b = (rng.standard_normal(k) * 0.1).astype(np.float32)
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (n, c, h, h))
    conv = net.add_convolution(x, k, (r, r), w, b, stride=stride, padding=pad)
    y = net.add_activation(conv.output(0), gie.ActivationType.RELU)
    net.mark_output(y.output(0), "y")
    for layer in net.layers:
        layer.precision = gie.float16
    config = builder.create_config()
    config.device = "gpu"
    config.max_batch = n
    config.set_flag(gie.BuilderFlag.FP16)
    if hasattr(gie.BuilderFlag, "OBEY_PRECISION_CONSTRAINTS"):
        config.set_flag(gie.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    engine = builder.build(net, config)
    convs = [kk for kk in engine.layer_info()["kernels"] if kk["type"] == "Convolution"]
    assert len(convs) == 1, convs
    info = convs[0]
    timed = {t["tactic"]: t["ms"] for t in info.get("tactic_times_ms") or []}
    ms = timed.get(info["tactic"], float("nan"))
    # Accuracy against torch on the same (half-rounded) weights and input.
    xin = torch.randn(n, c, h, h, device="cuda")
    q = (h + 2 * pad - r) // stride + 1
    out = {"y": torch.empty((n, k, q, q), device="cuda")}
    engine.create_execution_context().execute({"x": xin}, outputs=out)
    ref = torch.nn.functional.conv2d(xin.half(), torch.from_numpy(w).cuda().half(), stride=stride, padding=pad).float()
    ref = (ref + torch.from_numpy(b).cuda().view(1, -1, 1, 1)).relu()
    err = ((out["y"] - ref).abs().max() / ref.abs().max()).item()
    extra = " ".join(f"{t}={v:.4f}" for t, v in sorted(timed.items(), key=lambda kv: kv[1])) if tactics else ""
    return ms, info.get("tactic", "?"), extra, err


def torch_conv_ms(torch, n, c, h, k, r, stride, pad, runs):
    F = torch.nn.functional
    x = torch.randn(n, c, h, h, device="cuda", dtype=torch.half).to(memory_format=torch.channels_last)
    w = (torch.randn(k, c, r, r, device="cuda", dtype=torch.half) / (c * r * r) ** 0.5).to(memory_format=torch.channels_last)
    b = torch.randn(k, device="cuda", dtype=torch.half) * 0.1
    f = lambda: F.conv2d(x, w, b, stride=stride, padding=pad).relu_()
    with torch.no_grad():
        for _ in range(10):
            f()
        torch.cuda.synchronize()
        ms = []
        for _ in range(runs):
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record()
            f()
            e1.record()
            e1.synchronize()
            ms.append(e0.elapsed_time(e1))
    return statistics.median(ms)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--only", default="", help="comma-separated substrings of shape names to run")
    p.add_argument("--tactics", action="store_true", help="print every timed tactic of gie's kernel")
    a = p.parse_args(argv)
    import numpy as np
    import torch

    import gie
    torch.backends.cudnn.benchmark = True
    sel = [s for s in RESNET50 if not a.only or any(o in s[0] for o in a.only.split(","))]
    print(f"# FP16 convolution, batch {a.batch}, {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print("| shape | GFLOP | gie ms | gie TFLOP/s | torch ms | torch TFLOP/s | gie/torch | gie tactic | rel. err |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|")
    tot_g = tot_t = tot_f = 0.0
    for name, c, h, k, r, stride, pad, count in sel:
        fl = flops(a.batch, c, h, k, r, stride, pad)
        try:
            g_ms, tactic, extra, err = gie_conv(gie, np, torch, a.batch, c, h, k, r, stride, pad, a.tactics)
        except Exception as e:  # a failing shape is reported and the benchmark goes on
            log(f"{name}: gie failed: {e}")
            g_ms, tactic, extra, err = float("nan"), f"error: {type(e).__name__}", "", float("nan")
        t_ms = torch_conv_ms(torch, a.batch, c, h, k, r, stride, pad, a.runs)
        tot_g += g_ms * count
        tot_t += t_ms * count
        tot_f += fl * count
        print(f"| {name} | {fl / 1e9:.1f} | {g_ms:.3f} | {fl / g_ms / 1e9:.0f} | {t_ms:.3f} | {fl / t_ms / 1e9:.0f} | "
              f"{g_ms / t_ms:.2f} | {tactic} | {err:.1e} |", flush=True)
        if extra:
            log(f"  {name}: {extra}")
    print(f"| weighted (x count) | {tot_f / 1e9:.0f} | {tot_g:.3f} | {tot_f / tot_g / 1e9:.0f} | {tot_t:.3f} | "
          f"{tot_f / tot_t / 1e9:.0f} | {tot_g / tot_t:.2f} | | |")


if __name__ == "__main__":
    main()
