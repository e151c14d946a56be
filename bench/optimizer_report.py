"""Optimizer evidence on the built-in models: kernels before -> after, arena vs lower bound vs no-reuse,
and the difference between optimized and unoptimized outputs on the CPU.

    PYTHONPATH=... python3 bench/optimizer_report.py [--batch 2] [--models googlenet resnet50 yolov2]
"""
import argparse

import numpy as np

import gie
from gie import model_zoo

ALL_PASSES = ("constant_folding", "dead_layer_removal", "fold_constant_operands", "collapse_shuffles", "remove_noops",
              "fold_scale", "fuse_epilogue", "horizontal_fusion", "concat_elimination")
IMAGES = {"googlenet": 224, "resnet50": 224, "yolov2": 224}


def build(model, batch, passes_off=()):
    builder = gie.Builder()
    net = builder.create_network()
    model_zoo.define(model, net, image=IMAGES[model])
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = batch
    for p in passes_off:
        config.set_pass_enabled(p, False)
    return builder.build(net, config)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--models", nargs="+", default=list(IMAGES))
    args = ap.parse_args()
    print(f"{'model':10} {'layers':>6} {'kernels':>7} {'arena':>12} {'lower bound':>12} {'no reuse':>12} "
          f"{'arena/lb':>8} {'max abs':>9} {'max rel':>9}")
    for m in args.models:
        opt, plain = build(m, args.batch), build(m, args.batch, ALL_PASSES)
        info = opt.layer_info()
        mem = info["memory"]
        name = opt.input_names[0]
        x = np.random.default_rng(0).standard_normal(opt.get_tensor_shape(name)).astype(np.float32)
        a = opt.create_execution_context().execute({name: x})
        b = plain.create_execution_context().execute({name: x})
        k = next(iter(b))
        diff = float(np.abs(a[k] - b[k]).max())
        rel = diff / max(float(np.abs(b[k]).max()), 1e-30)
        print(f"{m:10} {info['layers_before']:>6} {info['kernels_after']:>7} {mem['arena_bytes']:>12,} "
              f"{mem['lower_bound_bytes']:>12,} {mem['no_reuse_bytes']:>12,} "
              f"{mem['arena_bytes'] / mem['lower_bound_bytes']:>8.3f} {diff:>9.2e} {rel:>9.2e}")


if __name__ == "__main__":
    main()
