#!/usr/bin/env python3
"""FP16 FullyConnected tactic times on the MLP shapes of ConvNeXt-Tiny and ViT-S (FC over the last axis of a rank-4 or
rank-3 input, bias, GELU after the first FC of each block), as the builder timed them: which tactic wins and how far
each is from the tensor cores. Needs a GPU build; no torch.

    PYTHONPATH=build/gpu/pkg python3 bench/fc_f16.py                      # batch 64, every shape
    PYTHONPATH=build/gpu/pkg python3 bench/fc_f16.py --batch 1 --shapes convnext

Per shape: one engine holding one FullyConnected (+ GELU, fused by fuse_epilogue), FP16 allowed and the layer pinned
to HALF (the network's FP32 input and output get Reformats, which do not count): every tactic's time is the builder's
(layer_info()["kernels"][i]["tactic_times_ms"], the median of CUDA-event-timed runs). TFLOP/s = 2 * rows * in * out /
time. The input is never allocated at full size on the host (only its shape is declared)."""
import argparse

import gie

# name, input shape without the batch (the FC is over the last axis), outputs, GELU after it
CONVNEXT = [(f"convnext s{s} fc{i}", (h, h, c if i == 1 else 4 * c), 4 * c if i == 1 else c, i == 1)
            for s, (h, c) in enumerate([(56, 96), (28, 192), (14, 384), (7, 768)], 1) for i in (1, 2)]
VIT = [("vit-s fc1", (197, 384), 1536, True), ("vit-s fc2", (197, 1536), 384, False)]


def build(shape, out, gelu, batch):
    import numpy as np
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (batch,) + shape)
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((out, shape[-1])) / np.sqrt(shape[-1])).astype(np.float32)
    b = rng.standard_normal(out).astype(np.float32)
    y = net.add_fully_connected(x, out, w, b, axis=len(shape)).output(0)
    if gelu:
        y = net.add_activation(y, gie.ActivationType.GELU).output(0)
    net.mark_output(y, "y")
    for i in range(net.num_layers):
        net.get_layer(i).precision = gie.DataType.HALF
    config = builder.create_config()
    config.device = "gpu"
    config.max_batch = batch
    config.fp16 = True
    config.set_flag(gie.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    return builder.build(net, config)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--shapes", default="convnext,vit", help="convnext, vit or both (comma-separated)")
    p.add_argument("--no-gelu", action="store_true", help="the same shapes without the GELU (what the activation costs)")
    args = p.parse_args()
    shapes = (CONVNEXT if "convnext" in args.shapes else []) + (VIT if "vit" in args.shapes else [])
    for name, shape, out, gelu in shapes:
        gelu = gelu and not args.no_gelu
        rows = args.batch
        for d in shape[:-1]:
            rows *= d
        flop = 2.0 * rows * shape[-1] * out
        fc = next(k for k in build(shape, out, gelu, args.batch).layer_info()["kernels"] if k["type"] == "FullyConnected")
        print(f"{name}: {rows} rows x {shape[-1]} -> {out}{' + GELU' if gelu else ''}, {fc['precision']}, chosen {fc['tactic']}")
        for t in fc.get("tactic_times_ms") or []:
            ms = t["ms"]
            print(f"    {t['tactic']:<38} {ms:8.4f} ms  {flop / ms / 1e9:7.1f} TFLOP/s")


if __name__ == "__main__":
    main()
