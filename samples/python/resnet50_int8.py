"""gie sample: ResNet-50 in INT8 on the GPU: calibrate, cache, build FP32 / FP16 / INT8 engines, compare.

    python samples/python/resnet50_int8.py [--source auto|torchvision|zoo|onnx] [--onnx FILE] [--batch 32]
                                           [--calib-batches 32] [--calib-batch-size 4] [--cache resnet50.calib]
                                           [--runs 20] [--seed 0] [--json FILE]

The network is torchvision's ResNet-50 with seeded random weights (--source torchvision; the default when
torchvision is installed), exported to ONNX and imported with gie's ONNX parser; or gie.model_zoo's ResNet-50 (the
same architecture, seeded weights, no torch needed; --source zoo); or an ONNX file of yours (--onnx). Calibration
uses gie's entropy calibrator on --calib-batches batches of --calib-batch-size random but fixed images (a seeded
generator: the same images on every run), and writes the calibration cache (--cache); a second build reads it and
skips calibration (both build times are printed). With random weights and random images the classes are arbitrary;
what the sample measures is real: each engine's throughput at --batch and the INT8 and FP16 engines' top-1
agreement with the FP32 engine and their largest logit error, on --batch fixed random images.

On a machine without a GPU the sample says so and stops: the INT8 engine it is about runs on the GPU (the CPU
reference INT8 kernels are for checking, not speed).
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

import gie


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", choices=("auto", "torchvision", "zoo", "onnx"), default="auto",
                   help="where ResNet-50 comes from (auto: torchvision if installed, else zoo; --onnx implies onnx)")
    p.add_argument("--onnx", help="an ONNX ResNet-50-like classifier with one 1x3xHxW input")
    p.add_argument("--batch", type=int, default=32, help="batch of the engines and of the comparison (default 32)")
    p.add_argument("--calib-batches", type=int, default=32, help="calibration batches (default 32)")
    p.add_argument("--calib-batch-size", type=int, default=4, help="images per calibration batch (default 4)")
    p.add_argument("--cache", help="calibration cache file (default: resnet50_<source>_s<seed>.calib in the temp dir)")
    p.add_argument("--runs", type=int, default=20, help="timed runs per engine (default 20)")
    p.add_argument("--seed", type=int, default=0, help="weight seed")
    p.add_argument("--json", help="also write the figures as JSON")
    args = p.parse_args(argv)
    if args.onnx:
        args.source = "onnx"
    if args.source == "onnx" and not args.onnx:
        p.error("--source onnx needs --onnx FILE")
    if min(args.batch, args.calib_batches, args.calib_batch_size, args.runs) < 1:
        p.error("--batch, --calib-batches, --calib-batch-size and --runs must be >= 1")
    return args


def torchvision_onnx(seed, path):
    """torchvision's ResNet-50 with torch.manual_seed(seed) weights (eval mode), exported to ONNX at `path`."""
    import torch
    import torchvision

    torch.manual_seed(seed)
    model = torchvision.models.resnet50(weights=None).eval()
    x = torch.zeros(1, 3, 224, 224)
    kw = dict(input_names=["input"], output_names=["logits"], opset_version=17,
              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    try:
        torch.onnx.export(model, x, path, dynamo=False, **kw)
    except TypeError:  # a torch without the dynamo switch exports with TorchScript anyway
        torch.onnx.export(model, x, path, **kw)
    return path


class Model:
    """How to define the network (a fresh one per build) and its input / output names."""

    def __init__(self, args, workdir):
        self.source = args.source
        if self.source == "auto":
            try:
                import torchvision  # noqa: F401
                self.source = "torchvision"
            except ImportError:
                self.source = "zoo"
        self.onnx = args.onnx
        if self.source == "torchvision":
            try:
                self.onnx = torchvision_onnx(args.seed, os.path.join(workdir, "resnet50.onnx"))
            except Exception as e:  # noqa: BLE001  (e.g. the onnx package missing): the zoo has the same network
                print(f"torchvision export failed ({type(e).__name__}: {e}); using gie.model_zoo's ResNet-50")
                self.source = "zoo"
        if self.source == "zoo":
            from gie import model_zoo
            self.spec = model_zoo.describe("resnet50", seed=args.seed)
            self.input, self.output = self.spec.input_name, "logits"
        else:
            probe = gie.OnnxParser(builder=gie.Builder()).parse(self.onnx)
            self.input, self.output = probe.get_input(0).name, probe.get_output(0).name

    def define(self, builder, batch):
        if self.source == "zoo":
            net = builder.create_network()
            self.spec.to_gie(net, batch=batch, mark=[self.output])
            return net
        return gie.OnnxParser(builder=builder).parse(self.onnx)

    def image_shape(self, net):
        return tuple(net.get_input(0).shape[1:])


def build(model, batch, *, fp16=False, calibrator=None):
    builder = gie.Builder()
    net = model.define(builder, batch)
    config = builder.create_config()
    config.device = "gpu"
    config.set_batch_range(batch, batch, batch)
    config.fp16 = fp16 or calibrator is not None  # INT8 where it wins, FP16 / FP32 elsewhere (as TensorRT does)
    if calibrator is not None:
        config.int8 = True
        config.int8_calibrator = calibrator
    t0 = time.perf_counter()
    engine = builder.build(net, config)
    return engine, time.perf_counter() - t0, model.image_shape(net)


def run_and_time(engine, model, x, runs):
    """(logits, median ms, images/s): device tensors through torch when it has CUDA (no host copies timed)."""
    ctx = engine.create_execution_context()
    ctx.set_input_shape(model.input, x.shape)
    try:
        import torch
        dev = torch.cuda.is_available()
    except ImportError:
        dev = False
    if dev:
        xi = torch.from_numpy(x).cuda()
        out = torch.empty(tuple(ctx.get_tensor_shape(model.output)), dtype=torch.float32, device="cuda")
        call = lambda: ctx.execute({model.input: xi}, outputs={model.output: out})  # noqa: E731
    else:
        call = lambda: ctx.execute({model.input: x})  # noqa: E731
    res = call()  # warm-up (and the output)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    logits = out.cpu().numpy() if dev else np.asarray(res[model.output])
    ms = float(np.median(times))
    return logits, ms, x.shape[0] / ms * 1000


def main(argv=None):
    args = parse_args(argv)
    if not gie.build_info().get("gpu_available"):
        print("no usable GPU (gie.build_info()['gpu_available'] is False): this sample builds GPU engines")
        return 0
    workdir = tempfile.mkdtemp(prefix="gie_resnet50_int8_")
    model = Model(args, workdir)
    cache = args.cache or os.path.join(tempfile.gettempdir(), f"resnet50_{model.source}_s{args.seed}.calib")
    print(f"ResNet-50 from {model.source}" + (f" ({model.onnx})" if model.source == "onnx" else "") + f", batch {args.batch}")

    fp32, t32, shape = build(model, args.batch)
    rng = np.random.default_rng(1234)  # random but fixed calibration images
    calib = rng.standard_normal((args.calib_batches * args.calib_batch_size,) + shape).astype(np.float32)
    if os.path.exists(cache):
        os.remove(cache)  # the first INT8 build calibrates; the second reads the cache
    cal = gie.EntropyCalibrator(calib, batch_size=args.calib_batch_size, cache_file=cache)
    int8, t8, _ = build(model, args.batch, calibrator=cal)
    again, t8c, _ = build(model, args.batch, calibrator=gie.EntropyCalibrator(None, cache_file=cache))
    fp16, t16, _ = build(model, args.batch, fp16=True)
    print(f"build: FP32 {t32:.1f} s, FP16 {t16:.1f} s, INT8 {t8:.1f} s with calibration of {len(calib)} images "
          f"(cache {cache}), {t8c:.1f} s from the cache")

    x = np.random.default_rng(99).standard_normal((args.batch,) + shape).astype(np.float32)
    results = {}
    ref = None
    for name, engine in (("fp32", fp32), ("fp16", fp16), ("int8", int8), ("int8_from_cache", again)):
        logits, ms, ips = run_and_time(engine, model, x, args.runs)
        kinds = [k["precision"] for k in engine.layer_info()["kernels"]]
        r = {"median_ms": ms, "images_per_s": ips, "int8_kernels": kinds.count("int8"), "fp16_kernels": kinds.count("float16"),
             "kernels": len(kinds)}
        if ref is None:
            ref = logits
        else:
            r["top1_agreement"] = float((logits.argmax(1) == ref.argmax(1)).mean())
            r["max_logit_error"] = float(np.abs(logits - ref).max())
        results[name] = r
        extra = (f", top-1 agreement with FP32 {r['top1_agreement']:.1%}, max |logit error| {r['max_logit_error']:.3g}"
                 f" (logits up to {np.abs(ref).max():.3g})" if "top1_agreement" in r else "")
        print(f"{name:>16}: {ms:8.3f} ms, {ips:9.1f} img/s; kernels {len(kinds)} ({r['int8_kernels']} INT8, "
              f"{r['fp16_kernels']} FP16){extra}")
    print(f"INT8 / FP32 speed-up: {results['fp32']['median_ms'] / results['int8']['median_ms']:.2f}x, "
          f"INT8 / FP16: {results['fp16']['median_ms'] / results['int8']['median_ms']:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"source": model.source, "batch": args.batch, "build_s": {"fp32": t32, "fp16": t16, "int8": t8,
                       "int8_from_cache": t8c}, "engines": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
