#!/usr/bin/env python3
"""FP16 convolution throughput: gie's tensor-core implicit GEMM (variant f16_hwc8_mma) vs PyTorch FP16
channels-last convolution (cuDNN), on the convolution shapes of ResNet-50, GoogLeNet or YOLOv2 416 (batch 64 by
default).

    PYTHONPATH=build/gpu/pkg python3 bench/conv_f16.py                    # every ResNet-50 shape, batch 64
    PYTHONPATH=build/gpu/pkg python3 bench/conv_f16.py --model all        # ResNet-50, GoogLeNet and YOLOv2 416
    PYTHONPATH=build/gpu/pkg python3 bench/conv_f16.py --batch 256 --runs 100
    PYTHONPATH=build/gpu/pkg python3 bench/conv_f16.py --tactics          # also each tactic's time

Per shape: one gie engine holding one Convolution (bias + ReLU fused, like ResNet-50 after BatchNorm folding),
built with the FP16 flag and the layer pinned to HALF (the builder times the tactics and adds Reformats around it,
since the network's input and output are FP32 linear); the convolution's own time is the builder's timing of the
chosen tactic (layer_info()["kernels"][i]["tactic_times_ms"]: the median of CUDA-event-timed runs), so the
Reformats do not count. "rel. err" is max |gie - torch FP16| / max |torch| on one run of the engine. torch: F.conv2d + relu_ on half
channels_last tensors, cudnn.benchmark on, timed with CUDA events around --runs calls (median per call).
TFLOP/s = 2 * N * K * P * Q * C * R * S / time. The "weighted" row sums each shape's time times its count in
the model. Ratios are gie ms / torch ms (< 1: gie faster). torch is imported only when the benchmark runs: the
shape tables, the FLOP formula and the table formatting are plain Python (tests/test_profile.py checks the tables
against the networks gie.model_zoo builds: every convolution shape with its count).
"""
import argparse
import statistics
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _table  # noqa: E402
import _timing  # noqa: E402

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


# GoogLeNet (BVLC, Caffe); the name is the first layer of that shape
GOOGLENET = [
    ("conv1 7x7/2 3>64 @224", 3, 224, 64, 7, 2, 3, 1),
    ("conv2 1x1 64>64 @56", 64, 56, 64, 1, 1, 0, 1),
    ("conv2 3x3 64>192 @56", 64, 56, 192, 3, 1, 1, 1),
    ("3a 1x1 192>64 @28", 192, 28, 64, 1, 1, 0, 1),
    ("3a 1x1 192>96 @28", 192, 28, 96, 1, 1, 0, 1),
    ("3a 3x3 96>128 @28", 96, 28, 128, 3, 1, 1, 1),
    ("3a 1x1 192>16 @28", 192, 28, 16, 1, 1, 0, 1),
    ("3a 5x5 16>32 @28", 16, 28, 32, 5, 1, 2, 1),
    ("3a 1x1 192>32 @28", 192, 28, 32, 1, 1, 0, 1),
    ("3b 1x1 256>128 @28", 256, 28, 128, 1, 1, 0, 2),
    ("3b 3x3 128>192 @28", 128, 28, 192, 3, 1, 1, 1),
    ("3b 1x1 256>32 @28", 256, 28, 32, 1, 1, 0, 1),
    ("3b 5x5 32>96 @28", 32, 28, 96, 5, 1, 2, 1),
    ("3b 1x1 256>64 @28", 256, 28, 64, 1, 1, 0, 1),
    ("4a 1x1 480>192 @14", 480, 14, 192, 1, 1, 0, 1),
    ("4a 1x1 480>96 @14", 480, 14, 96, 1, 1, 0, 1),
    ("4a 3x3 96>208 @14", 96, 14, 208, 3, 1, 1, 1),
    ("4a 1x1 480>16 @14", 480, 14, 16, 1, 1, 0, 1),
    ("4a 5x5 16>48 @14", 16, 14, 48, 5, 1, 2, 1),
    ("4a 1x1 480>64 @14", 480, 14, 64, 1, 1, 0, 1),
    ("4b 1x1 512>160 @14", 512, 14, 160, 1, 1, 0, 1),
    ("4b 1x1 512>112 @14", 512, 14, 112, 1, 1, 0, 2),
    ("4b 3x3 112>224 @14", 112, 14, 224, 3, 1, 1, 1),
    ("4b 1x1 512>24 @14", 512, 14, 24, 1, 1, 0, 2),
    ("4b 5x5 24>64 @14", 24, 14, 64, 5, 1, 2, 2),
    ("4b 1x1 512>64 @14", 512, 14, 64, 1, 1, 0, 3),
    ("4c 1x1 512>128 @14", 512, 14, 128, 1, 1, 0, 2),
    ("4c 3x3 128>256 @14", 128, 14, 256, 3, 1, 1, 1),
    ("4d 1x1 512>144 @14", 512, 14, 144, 1, 1, 0, 1),
    ("4d 3x3 144>288 @14", 144, 14, 288, 3, 1, 1, 1),
    ("4d 1x1 512>32 @14", 512, 14, 32, 1, 1, 0, 1),
    ("4d 5x5 32>64 @14", 32, 14, 64, 5, 1, 2, 1),
    ("4e 1x1 528>256 @14", 528, 14, 256, 1, 1, 0, 1),
    ("4e 1x1 528>160 @14", 528, 14, 160, 1, 1, 0, 1),
    ("4e 3x3 160>320 @14", 160, 14, 320, 3, 1, 1, 1),
    ("4e 1x1 528>32 @14", 528, 14, 32, 1, 1, 0, 1),
    ("4e 5x5 32>128 @14", 32, 14, 128, 5, 1, 2, 1),
    ("4e 1x1 528>128 @14", 528, 14, 128, 1, 1, 0, 1),
    ("5a 1x1 832>256 @7", 832, 7, 256, 1, 1, 0, 1),
    ("5a 1x1 832>160 @7", 832, 7, 160, 1, 1, 0, 1),
    ("5a 3x3 160>320 @7", 160, 7, 320, 3, 1, 1, 1),
    ("5a 1x1 832>32 @7", 832, 7, 32, 1, 1, 0, 1),
    ("5a 5x5 32>128 @7", 32, 7, 128, 5, 1, 2, 1),
    ("5a 1x1 832>128 @7", 832, 7, 128, 1, 1, 0, 2),
    ("5b 1x1 832>384 @7", 832, 7, 384, 1, 1, 0, 1),
    ("5b 1x1 832>192 @7", 832, 7, 192, 1, 1, 0, 1),
    ("5b 3x3 192>384 @7", 192, 7, 384, 3, 1, 1, 1),
    ("5b 1x1 832>48 @7", 832, 7, 48, 1, 1, 0, 1),
    ("5b 5x5 48>128 @7", 48, 7, 128, 5, 1, 2, 1),
]


# YOLOv2 416 (Darknet yolo-voc.cfg); the name is the first layer of that shape
YOLOV2 = [
    ("conv0 3x3 3>32 @416", 3, 416, 32, 3, 1, 1, 1),
    ("conv2 3x3 32>64 @208", 32, 208, 64, 3, 1, 1, 1),
    ("conv4 3x3 64>128 @104", 64, 104, 128, 3, 1, 1, 2),
    ("conv5 1x1 128>64 @104", 128, 104, 64, 1, 1, 0, 1),
    ("conv8 3x3 128>256 @52", 128, 52, 256, 3, 1, 1, 2),
    ("conv9 1x1 256>128 @52", 256, 52, 128, 1, 1, 0, 1),
    ("conv12 3x3 256>512 @26", 256, 26, 512, 3, 1, 1, 3),
    ("conv13 1x1 512>256 @26", 512, 26, 256, 1, 1, 0, 2),
    ("conv18 3x3 512>1024 @13", 512, 13, 1024, 3, 1, 1, 3),
    ("conv19 1x1 1024>512 @13", 1024, 13, 512, 1, 1, 0, 2),
    ("conv23 3x3 1024>1024 @13", 1024, 13, 1024, 3, 1, 1, 2),
    ("conv26 1x1 512>64 @26", 512, 26, 64, 1, 1, 0, 1),
    ("conv29 3x3 1280>1024 @13", 1280, 13, 1024, 3, 1, 1, 1),
    ("conv30 1x1 1024>125 @13", 1024, 13, 125, 1, 1, 0, 1),
]


# ConvNeXt-Tiny's MLP as 1x1 convolutions (what the channels_first_blocks pass makes of its Linear layers; the
# depthwise 7x7 and the stem / downsampling convolutions are not in this table; the network fuses GELU into the
# first and the layer scale + residual into the second, the benchmark ReLU into both).
CONVNEXT_MLP = [
    ("s1 1x1 96>384 @56", 96, 56, 384, 1, 1, 0, 3),
    ("s1 1x1 384>96 @56", 384, 56, 96, 1, 1, 0, 3),
    ("s2 1x1 192>768 @28", 192, 28, 768, 1, 1, 0, 3),
    ("s2 1x1 768>192 @28", 768, 28, 192, 1, 1, 0, 3),
    ("s3 1x1 384>1536 @14", 384, 14, 1536, 1, 1, 0, 9),
    ("s3 1x1 1536>384 @14", 1536, 14, 384, 1, 1, 0, 9),
    ("s4 1x1 768>3072 @7", 768, 7, 3072, 1, 1, 0, 3),
    ("s4 1x1 3072>768 @7", 3072, 7, 768, 1, 1, 0, 3),
]

# (name, C, H, K, R, stride, pad, count in the model): square inputs and kernels, groups 1, dilation 1. (The
# ResNet-50, GoogLeNet and YOLOv2 tables are checked against gie.model_zoo by tests/test_profile.py.)
MODELS = {"resnet50": RESNET50, "googlenet": GOOGLENET, "yolov2": YOLOV2, "convnext_mlp": CONVNEXT_MLP}


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
        return statistics.median(_timing.cuda_event_ms(torch, [f], 10, runs))


def shapes(model, only=""):
    """[(model, shape row)] of --model (a name or "all"), filtered by --only substrings."""
    names = list(MODELS) if model == "all" else [model]
    return [(m, row) for m in names for row in MODELS[m] if not only or any(o in row[0] for o in only.split(","))]


COLUMNS = [("shape", ""), ("GFLOP", ".1f"), ("gie ms", ".3f"), ("gie TFLOP/s", ".0f"), ("torch ms", ".3f"),
           ("torch TFLOP/s", ".0f"), ("gie/torch", ".2f"), ("gie tactic", ""), ("rel. err", ".1e")]
HEADER = _table.header(COLUMNS)


def _cells(name, fl, g_ms, t_ms, tactic, err):
    return [name, fl / 1e9, g_ms, fl / g_ms / 1e9, t_ms, fl / t_ms / 1e9, g_ms / t_ms, tactic, err]


def format_row(name, fl, g_ms, t_ms, tactic, err):
    """One shape's table row: FLOPs ``fl``, gie and torch ms (NaN where it failed)."""
    return _table.row(COLUMNS, _cells(name, fl, g_ms, t_ms, tactic, err))


def format_weighted(model, rows):
    """The row that weights each shape by its count in ``model``: rows = [(count, flops, gie ms, torch ms)]."""
    fl, g_ms, t_ms = _table.weighted_sums(rows)
    return _table.row(COLUMNS, _cells(f"{model} weighted (x count)", fl, g_ms, t_ms, "", ""), {"GFLOP": ".0f"})


def each_shape(a, header, weighted):
    """Yields (rows, shape row) for each shape of --model / --only, printing each model's table header before its
    first shape and weighted(model, rows) after its last; the caller appends its shape's tuple to rows."""
    done = {}
    for model, row in shapes(a.model, a.only):
        if model not in done:
            if done:
                print(weighted(*list(done.items())[-1]))
            print(f"\n## {model}\n\n{header}")
            done[model] = []
        yield done[model], row
    if done:
        print(weighted(*list(done.items())[-1]))


def import_runtime():
    """(numpy, torch, gie), imported when a benchmark runs (--help and the tables need none), cuDNN autotuning on;
    None after log() said why when PyTorch or its CUDA device is missing (the benchmark then exits with status 2)."""
    import numpy

    torch = _timing.import_cuda_torch(log)
    if torch is None:
        return None

    import gie
    torch.backends.cudnn.benchmark = True
    return numpy, torch, gie


def shape_parser(doc):
    """An argument parser (its description and epilog from ``doc``) with the shape options of this benchmark and
    bench/conv_int8.py: --model, --batch, --runs (torch), --only."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(doc.split("\n\n")[1:]))
    p.add_argument("--model", choices=sorted(MODELS) + ["all"], default="resnet50",
                   help="whose convolution shapes (default resnet50; all: each model's table and weighted row)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--only", default="", help="comma-separated substrings of shape names to run")
    return p


def parse_args(argv=None):
    p = shape_parser(__doc__)
    p.add_argument("--tactics", action="store_true", help="print every timed tactic of gie's kernel")
    return p.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    runtime = import_runtime()
    if runtime is None:
        return 2
    np, torch, gie = runtime
    print(f"# FP16 convolution, batch {a.batch}, {torch.cuda.get_device_name()}, torch {torch.__version__}")
    # rows: the model's [(count, flops, gie ms, torch ms)], in the order run
    for rows, (name, c, h, k, r, stride, pad, count) in each_shape(a, HEADER, format_weighted):
        fl = flops(a.batch, c, h, k, r, stride, pad)
        try:
            g_ms, tactic, extra, err = gie_conv(gie, np, torch, a.batch, c, h, k, r, stride, pad, a.tactics)
        except Exception as e:  # a failing shape is reported and the benchmark goes on
            log(f"{name}: gie failed: {e}")
            g_ms, tactic, extra, err = float("nan"), f"error: {type(e).__name__}", "", float("nan")
        t_ms = torch_conv_ms(torch, a.batch, c, h, k, r, stride, pad, a.runs)
        rows.append((count, fl, g_ms, t_ms))
        print(format_row(name, fl, g_ms, t_ms, tactic, err), flush=True)
        if extra:
            log(f"  {name}: {extra}")


if __name__ == "__main__":
    sys.exit(main())
