"""gie sample: GoogLeNet from a Caffe deploy prototxt, built in FP32 and FP16, top-5 printed, timings compared.

    python samples/python/googlenet.py [--caffemodel bvlc_googlenet.caffemodel] [--image cat.npy] [--batch 1]
                                       [--device auto|cpu|gpu] [--runs 20] [--labels synset_words.txt]

The sample writes BVLC GoogLeNet's deploy prototxt itself (googlenet_prototxt below; --save-prototxt keeps a
copy) and imports it with gie's Caffe importer, with the weights of --caffemodel (BVLC's
bvlc_googlenet.caffemodel) or, without one, seeded random weights (--seed): the top-5 classes are then
arbitrary, the timings are real. On a GPU it builds an FP32 engine and an FP16 one (config.fp16 = True: the
builder picks FP16 kernels and formats where they are faster) and compares their top-5 and time; on the CPU, an
FP32 engine. The input is --image (a .npy (H, W, 3) uint8 RGB array, or any image Pillow reads), else a
generated picture, resized to 224x224, in Caffe's BGR order minus BVLC's channel means.
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

import gie
from gie.parsers.caffe_parser import CaffeParser

# name: (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj), as in BVLC googlenet/deploy.prototxt
INCEPTION = [("3a", (64, 96, 128, 16, 32, 32)), ("3b", (128, 128, 192, 32, 96, 64)), "pool3",
             ("4a", (192, 96, 208, 16, 48, 64)), ("4b", (160, 112, 224, 24, 64, 64)),
             ("4c", (128, 128, 256, 24, 64, 64)), ("4d", (112, 144, 288, 32, 64, 64)),
             ("4e", (256, 160, 320, 32, 128, 128)), "pool4",
             ("5a", (256, 160, 320, 32, 128, 128)), ("5b", (384, 192, 384, 48, 128, 128))]
BGR_MEAN = np.array([104.0, 117.0, 123.0], np.float32)


def googlenet_prototxt(batch=1):
    """BVLC GoogLeNet's deploy prototxt (the inference layers, no training parameters)."""
    out = [f'name: "GoogleNet"\nlayer {{ name: "data" type: "Input" top: "data" '
           f'input_param {{ shape: {{ dim: {batch} dim: 3 dim: 224 dim: 224 }} }} }}']

    def conv(name, bottom, n, k, stride=1, pad=0):
        out.append(f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{name}" '
                   f'convolution_param {{ num_output: {n} pad: {pad} kernel_size: {k} stride: {stride} }} }}')
        relu = name.replace("/", "/relu_", 1).replace("_s2", "")  # BVLC's names: conv1/relu_7x7, .../relu_1x1
        out.append(f'layer {{ name: "{relu}" type: "ReLU" bottom: "{name}" top: "{name}" }}')
        return name

    def pool(name, bottom, kind, k, stride, pad=0):
        out.append(f'layer {{ name: "{name}" type: "Pooling" bottom: "{bottom}" top: "{name}" '
                   f'pooling_param {{ pool: {kind} kernel_size: {k} stride: {stride} pad: {pad} }} }}')
        return name

    def lrn(name, bottom):
        out.append(f'layer {{ name: "{name}" type: "LRN" bottom: "{bottom}" top: "{name}" '
                   f'lrn_param {{ local_size: 5 alpha: 0.0001 beta: 0.75 }} }}')
        return name

    x = conv("conv1/7x7_s2", "data", 64, 7, stride=2, pad=3)
    x = lrn("pool1/norm1", pool("pool1/3x3_s2", x, "MAX", 3, 2))
    x = conv("conv2/3x3_reduce", x, 64, 1)
    x = lrn("conv2/norm2", conv("conv2/3x3", x, 192, 3, pad=1))
    x = pool("pool2/3x3_s2", x, "MAX", 3, 2)
    for item in INCEPTION:
        if isinstance(item, str):
            x = pool(f"{item}/3x3_s2", x, "MAX", 3, 2)
            continue
        m, (n1, r3, n3, r5, n5, pp) = item
        p = f"inception_{m}"
        branches = [conv(f"{p}/1x1", x, n1, 1),
                    conv(f"{p}/3x3", conv(f"{p}/3x3_reduce", x, r3, 1), n3, 3, pad=1),
                    conv(f"{p}/5x5", conv(f"{p}/5x5_reduce", x, r5, 1), n5, 5, pad=2),
                    conv(f"{p}/pool_proj", pool(f"{p}/pool", x, "MAX", 3, 1, pad=1), pp, 1)]
        out.append(f'layer {{ name: "{p}/output" type: "Concat" ' + " ".join(f'bottom: "{b}"' for b in branches) +
                   f' top: "{p}/output" }}')
        x = f"{p}/output"
    x = pool("pool5/7x7_s1", x, "AVE", 7, 1)
    out.append(f'layer {{ name: "pool5/drop_7x7_s1" type: "Dropout" bottom: "{x}" top: "{x}" '
               f'dropout_param {{ dropout_ratio: 0.4 }} }}')
    out.append(f'layer {{ name: "loss3/classifier" type: "InnerProduct" bottom: "{x}" top: "loss3/classifier" '
               f'inner_product_param {{ num_output: 1000 }} }}')
    out.append('layer { name: "prob" type: "Softmax" bottom: "loss3/classifier" top: "prob" }')
    return "\n".join(out) + "\n"


def generated_image(width=320, height=240):
    """A deterministic picture (a gradient with a disc), (H, W, 3) uint8 RGB."""
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack([x * 255 // width, y * 255 // height, np.full_like(x, 128)], axis=2).astype(np.uint8)
    img[(x - width // 2) ** 2 + (y - height // 2) ** 2 < (height // 3) ** 2] = (200, 60, 40)
    return img


def read_image(path):
    if path.endswith(".npy"):
        img = np.load(path)
    else:
        try:
            from PIL import Image
        except ImportError:
            sys.exit(f"{path}: give a .npy (H, W, 3) uint8 array, or install Pillow to read image files")
        img = np.asarray(Image.open(path).convert("RGB"))
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        sys.exit(f"{path}: expected (H, W, 3) uint8 RGB, got {img.shape} {img.dtype}")
    return img


def preprocess(img, batch):
    """(H, W, 3) uint8 RGB -> (batch, 3, 224, 224) float32: nearest-neighbour resize, BGR, minus the means."""
    h, w = img.shape[:2]
    rows = np.arange(224) * h // 224
    cols = np.arange(224) * w // 224
    x = img[rows][:, cols][:, :, ::-1].astype(np.float32) - BGR_MEAN
    return np.ascontiguousarray(np.broadcast_to(x.transpose(2, 0, 1)[None], (batch, 3, 224, 224)))


def top5(prob):
    idx = np.argsort(-prob, kind="stable")[:5]
    return [(int(i), float(prob[i])) for i in idx]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--caffemodel", help="trained weights (default: seeded random weights)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image", help="input image (default: a generated picture)")
    parser.add_argument("--batch", type=int, default=1, help="batch size (the image repeated)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per engine")
    parser.add_argument("--labels", help="synset_words.txt (one class name per line) to name the classes")
    parser.add_argument("--save-prototxt", help="also write the generated prototxt here")
    parser.add_argument("--json", help="write top-5 and timings to this JSON file")
    args = parser.parse_args()
    if args.batch < 1 or args.runs < 1:
        sys.exit("--batch and --runs must be >= 1")

    device = args.device
    if device == "auto":
        device = "gpu" if gie.build_info()["gpu_available"] else "cpu"
    labels = None
    if args.labels:
        with open(args.labels) as f:
            labels = [line.strip() for line in f]

    text = googlenet_prototxt(args.batch)
    if args.save_prototxt:
        with open(args.save_prototxt, "w") as f:
            f.write(text)
    with tempfile.TemporaryDirectory(prefix="gie-googlenet-") as tmp:
        prototxt = os.path.join(tmp, "googlenet_deploy.prototxt")
        with open(prototxt, "w") as f:
            f.write(text)
        x = preprocess(read_image(args.image) if args.image else generated_image(), args.batch)
        precisions = ["fp32", "fp16"] if device == "gpu" else ["fp32"]
        results = {}
        for precision in precisions:
            builder = gie.Builder()
            net = CaffeParser(builder=builder, seed=args.seed).parse(prototxt, args.caffemodel)
            config = builder.create_config()
            config.device = device
            config.max_batch = args.batch
            config.fp16 = precision == "fp16"
            t0 = time.perf_counter()
            engine = builder.build(net, config)
            build_s = time.perf_counter() - t0
            ctx = engine.create_execution_context()
            prob = np.asarray(ctx.execute({"data": x})["prob"], np.float32)  # also the warm-up
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                ctx.execute({"data": x})
                times.append((time.perf_counter() - t0) * 1000)
            results[precision] = {"top5": top5(prob[0]), "median_ms": float(np.median(times)), "build_s": build_s,
                                  "kernels": engine.num_kernels, "prob": prob[0]}
            print(f"{precision} on the {device.upper()}: built in {build_s:.1f} s, {engine.num_kernels} kernels, "
                  f"median {results[precision]['median_ms']:.2f} ms per batch of {args.batch} ({args.runs} runs)")
            for rank, (k, p) in enumerate(results[precision]["top5"], 1):
                name = labels[k] if labels and k < len(labels) else f"class {k}"
                print(f"  {rank}. {name:<40} {p:.4f}")
        if "fp16" in results:
            a, b = results["fp32"], results["fp16"]
            same = [k for k, _ in a["top5"]] == [k for k, _ in b["top5"]]
            print(f"FP16 vs FP32: {a['median_ms'] / b['median_ms']:.2f}x the speed, top-5 "
                  f"{'identical' if same else 'different'}, largest probability difference "
                  f"{np.abs(a['prob'] - b['prob']).max():.2e}")
        if not args.caffemodel:
            print(f"(random weights, seed {args.seed}: the classes are arbitrary; give --caffemodel for real ones)")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({p: {k: v for k, v in r.items() if k != "prob"} for p, r in results.items()}, f)


if __name__ == "__main__":
    main()
