#!/usr/bin/env python3
"""INT8 convolution throughput: every INT8 tactic of gie's convolution (dp4a, imma_128x64x32 and the large-tile
integer tensor-core tactics, docs/int8.md) on the convolution shapes of ResNet-50 (or GoogLeNet, YOLOv2 416; batch
64 by default), next to gie's fastest FP16 tactic and PyTorch FP16 channels-last convolution (cuDNN). PyTorch has
no INT8 convolution on the GPU, so FP16 is its fastest path.

    PYTHONPATH=build/gpu/pkg python3 bench/conv_int8.py                    # every ResNet-50 shape, batch 64
    PYTHONPATH=build/gpu/pkg python3 bench/conv_int8.py --batch 256 --only l3,l4
    PYTHONPATH=build/gpu/pkg python3 bench/conv_int8.py --model all --no-fp16

Per shape: one gie engine holding one Convolution + bias + ReLU pinned to INT8 with an INT8 output (config.int8,
OBEY_PRECISION_CONSTRAINTS, ranges set by hand): the builder times every INT8 tactic on each INT8 layout of the
input (CHW4: dp4a, imma, wgmma ..._chw4; NHWC: the ..._nhwc tactics) while it negotiates the formats, and each
tactic's time is its fastest timing with an INT8 output (read from the build's timing cache, a fresh file per
shape: the median of CUDA-event-timed runs), so the quantizing and dequantizing Reformats around it do not count.
The "INT8 tactic" column is the fastest of them; the engine's own choice (which weighs the Reformats) is logged. The FP16 time is bench/conv_f16.py's (the builder's fastest
FP16 tactic, pinned to HALF), torch's too (F.conv2d + relu_ on half channels_last tensors, cudnn.benchmark on).
Ratios: best INT8 ms / torch FP16 ms and / gie FP16 ms (< 1: INT8 faster). TOPS = 2 * N * K * P * Q * C * R * S /
time. The "weighted" row sums each shape's time times its count in the model. torch is imported only when the
benchmark runs; the shape tables and the FLOP formula are conv_f16.py's.
"""
import argparse
import math
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _table  # noqa: E402
import conv_f16  # noqa: E402  (shape tables, FLOPs, the FP16 gie and torch timings)


def cached_int8_conv_times(path):
    """{tactic: ms} from a timing cache file (builder/timing_cache.cpp: 'key<TAB>ms' lines, key = 'type|version|variant|
    fields|inputs->outputs,|tactic', a descriptor 'type.format:dims/batch stride'): the INT8 convolution's timings with
    an INT8 output (type 2), the fastest over the output formats."""
    times = {}
    with open(path) as f:
        for line in f:
            key, _, ms = line.rstrip("\n").rpartition("\t")
            parts = key.split("|")
            if len(parts) < 6 or parts[0] != "Convolution" or parts[2] != "int8":
                continue
            outs = parts[4].split("->")[1]
            if not outs.startswith("2."):
                continue
            tactic = parts[-1]
            times[tactic] = min(times.get(tactic, float("inf")), float(ms))
    return times


def gie_int8_times(gie, np, n, c, h, k, r, stride, pad):
    """({tactic: ms} of every INT8 tactic the builder timed on any INT8 input layout, the tactic and input format the
    engine chose) for conv + bias + ReLU, INT8 out."""
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((k, c, r, r)) / np.sqrt(c * r * r)).astype(np.float32)
    b = (rng.standard_normal(k) * 0.1).astype(np.float32)
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (n, c, h, h))
    conv = net.add_convolution(x, k, (r, r), w, b, stride=stride, padding=pad)
    conv.precision = gie.int8
    y = net.add_activation(conv.output(0), gie.ActivationType.RELU)
    y.set_output_type(0, gie.int8)
    x.set_dynamic_range(-3.0, 3.0)
    y.output(0).set_dynamic_range(-2.0, 2.0)
    net.mark_output(y.output(0), "y")
    config = builder.create_config()
    config.device = "gpu"
    config.max_batch = n
    config.int8 = True
    config.set_flag(gie.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    tmp = tempfile.mkdtemp(prefix="conv_int8_")
    try:
        config.timing_cache = os.path.join(tmp, "timing.cache")
        engine = builder.build(net, config)
        times = cached_int8_conv_times(config.timing_cache)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    convs = [kk for kk in engine.layer_info()["kernels"] if kk["type"] == "Convolution"]
    assert len(convs) == 1 and convs[0]["precision"] == "int8", convs
    if not times:  # (no cache entries: the chosen layout's tactics as the engine reports them)
        times = {t["tactic"]: t["ms"] for t in convs[0].get("tactic_times_ms") or []}
    return times, f'{convs[0].get("tactic", "?")} ({convs[0]["inputs"][0]["format"]} in)'


COLUMNS = [("shape", ""), ("GOP", ".1f"), ("torch FP16 ms", ".3f"), ("gie FP16 ms", ".3f"), ("gie INT8 ms", ".3f"),
           ("INT8 TOPS", ".0f"), ("INT8/torch", ".2f"), ("INT8/FP16", ".2f"), ("INT8 tactic", "")]
HEADER = _table.header(COLUMNS)


def _cells(name, fl, t_ms, f_ms, i_ms, tactic):
    return [name, fl / 1e9, t_ms, f_ms, i_ms, fl / i_ms / 1e9, i_ms / t_ms, i_ms / f_ms, tactic]


def format_row(name, fl, t_ms, f_ms, i_ms, tactic):
    """One shape's row: FLOPs ``fl``; torch FP16, gie FP16 and gie's best INT8 ms (NaN where one failed or was skipped)."""
    return _table.row(COLUMNS, _cells(name, fl, t_ms, f_ms, i_ms, tactic))


def format_weighted(model, rows):
    """rows = [(count, flops, torch ms, gie FP16 ms, gie INT8 ms)] -> the row weighted by each shape's count."""
    fl, t_ms, f_ms, i_ms = _table.weighted_sums(rows)
    return _table.row(COLUMNS, _cells(f"{model} weighted (x count)", fl, t_ms, f_ms, i_ms, ""), {"GOP": ".0f"})


def format_tactics(times):
    """Every timed INT8 tactic, fastest first."""
    return " ".join(f"{t}={ms:.4f}" for t, ms in sorted(times.items(), key=lambda kv: kv[1]))


def format_tactic_table(per_shape):
    """per_shape = [(name, {tactic: ms})] -> a table of every INT8 tactic's ms per shape (its columns: every tactic seen)."""
    columns = [("shape", "")] + [(t, ".4f") for t in sorted({t for _, times in per_shape for t in times})]
    return "\n".join([_table.header(columns)] + [_table.row(columns, [shape] + [times.get(t, "-") for t, _ in columns[1:]])
                                                 for shape, times in per_shape])


def parse_args(argv=None):
    p = conv_f16.shape_parser(__doc__)
    p.add_argument("--no-fp16", action="store_true", help="skip gie's FP16 build (its column reads nan)")
    return p.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    runtime = conv_f16.import_runtime()
    if runtime is None:
        return 2
    np, torch, gie = runtime
    print(f"# INT8 convolution, batch {a.batch}, {torch.cuda.get_device_name()}, torch {torch.__version__} (FP16: no INT8 path)")
    per_shape, failed = [], False
    for rows, (name, c, h, k, r, stride, pad, count) in conv_f16.each_shape(a, HEADER, format_weighted):
        fl = conv_f16.flops(a.batch, c, h, k, r, stride, pad)
        try:
            times, chosen = gie_int8_times(gie, np, a.batch, c, h, k, r, stride, pad)
            i_ms = min(times.values()) if times else float("nan")
            best = min(times, key=times.get) if times else chosen
            conv_f16.log(f"  {name}: the engine chose {chosen}")
        except Exception as e:  # a failing shape is reported and the benchmark goes on
            conv_f16.log(f"{name}: gie INT8 failed: {e}")
            times, i_ms, best = {}, float("nan"), f"error: {type(e).__name__}"
        f_ms = float("nan")
        if not a.no_fp16:
            try:
                f_ms, f_tactic, _, _ = conv_f16.gie_conv(gie, np, torch, a.batch, c, h, k, r, stride, pad, False)
                conv_f16.log(f"  {name}: gie FP16 {f_ms:.4f} ms ({f_tactic})")
            except Exception as e:
                conv_f16.log(f"{name}: gie FP16 failed: {e}")
        t_ms = conv_f16.torch_conv_ms(torch, a.batch, c, h, k, r, stride, pad, a.runs)
        rows.append((count, fl, t_ms, f_ms, i_ms))
        failed |= math.isnan(i_ms)
        print(format_row(name, fl, t_ms, f_ms, i_ms, best), flush=True)
        per_shape.append((name, times))
        if times:
            conv_f16.log(f"  {name}: INT8 {format_tactics(times)}")
    if per_shape:
        print(f"\n## every INT8 tactic (ms, builder timing)\n\n{format_tactic_table(per_shape)}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
