"""gie.profile (issue 13, "how to know where the time goes"): each step's FLOPs and bytes from layer_info, the
device peaks (measured once and cached, or given), the roofline columns of `gie run --profile` and its JSON."""
import json
import re

import numpy as np
import pytest

import gie
from gie import profile

from test_cli import _ok, cli

rng = np.random.default_rng(5)


def _w(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def _single(add, input_shapes, device="cpu", max_batch=None, fp16=False, passes_off=()):
    """Builds add(net, *inputs) -> layer (its output 0 is the network output); returns the layer_info entry of the
    kernel built from it (the only kernel whose source layers name it) and the layer_info."""
    builder = gie.Builder()
    net = builder.create_network()
    xs = [net.add_input(f"x{i}", gie.float32, s) for i, s in enumerate(input_shapes)]
    layer = add(net, *xs)
    net.mark_output(layer.output(0), "y")
    config = builder.create_config()
    config.device = device
    config.fp16 = fp16
    if fp16:  # the layer in FP16, not whatever the builder times faster
        layer.precision = gie.float16
        config.set_flag(gie.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    config.max_batch = max_batch or input_shapes[0][0]
    for p in passes_off:
        config.set_pass_enabled(p, False)
    li = builder.build(net, config).layer_info()
    hits = [k for k in li["kernels"] if layer.name in k["source_layers"]]
    assert len(hits) == 1, [(k["name"], k["source_layers"]) for k in li["kernels"]]
    return hits[0], li


# Each case: (builder of one layer, input shapes, FLOPs worked out by hand from the parameters).
CASES = {
    # (2, 6, 11, 9), K=4, kernel 3x2, stride (2, 1), dilation (2, 1), groups 2, padding (1, 0):
    # H_out = (11 + 2 - 2*2 - 1) / 2 + 1 = 5, W_out = (9 - 1 - 1) / 1 + 1 = 8 -> 2*4*5*8 = 320 outputs,
    # each 6/2 * 3*2 = 18 multiply-adds; + 320 bias adds.
    "convolution": (lambda n, x: n.add_convolution(x, 4, (3, 2), _w(4, 3, 3, 2), _w(4), stride=(2, 1), padding=(1, 0),
                                                   dilation=(2, 1), num_groups=2),
                    [(2, 6, 11, 9)], 2 * 320 * 18 + 320),
    # No bias, depthwise (groups = C = K = 5), 1x1 spatial output from a 3x3 input and a 3x3 kernel: 1*5*1*1
    # outputs of 1*3*3 multiply-adds each.
    "convolution depthwise": (lambda n, x: n.add_convolution(x, 5, (3, 3), _w(5, 1, 3, 3), num_groups=5),
                              [(1, 5, 3, 3)], 2 * 5 * 9),
    # Input (1, 4, 3, 5), K=6, groups 2, kernel 2x3, stride 2: every input element scatters to 6/2 * 2*3 = 18
    # outputs (60 * 18 multiply-adds); output (1, 6, 6, 11) = 396 elements get a bias.
    "deconvolution": (lambda n, x: n.add_deconvolution(x, 6, (2, 3), _w(4, 3, 2, 3), _w(6), stride=(2, 2), num_groups=2),
                      [(1, 4, 3, 5)], 2 * 60 * 18 + 6 * 6 * 11),
    # (3, 5, 2, 1) flattens to 10 per row, 7 outputs per row: 3*7 outputs of 10 multiply-adds, + 21 bias adds.
    "fully connected": (lambda n, x: n.add_fully_connected(x, 7, _w(7, 10), _w(7)), [(3, 5, 2, 1)], 2 * 21 * 10 + 21),
    # A (2, 5, 3) transposed -> (2, 3, 5) times B (2, 5, 4): 2*3*4 = 24 outputs, inner dimension 5.
    "matrix multiply": (lambda n, a, b: n.add_matrix_multiply(a, b, transpose_a=True), [(2, 5, 3), (2, 5, 4)], 2 * 24 * 5),
    "activation": (lambda n, x: n.add_activation(x, gie.ActivationType.SIGMOID), [(3, 7, 5)], 3 * 7 * 5),
    "unary": (lambda n, x: n.add_unary(x, gie.UnaryOperation.EXP), [(2, 3, 1, 5)], 30),
    # Broadcast (2, 3, 4, 5) + (1, 3, 1, 1): one add per output element.
    "elementwise": (lambda n, a, b: n.add_elementwise(a, b, gie.ElementWiseOperation.PROD), [(2, 3, 4, 5), (1, 3, 1, 1)], 120),
    # (1, 3, 7, 6), window 3x2, stride 2: H_out = (7-3)/2+1 = 3, W_out = (6-2)/2+1 = 3 -> 27 outputs of 6 reads.
    "pooling": (lambda n, x: n.add_pooling(x, gie.PoolingType.MAX, (3, 2), stride=(2, 2)), [(1, 3, 7, 6)], 27 * 6),
    # Softmax over (2, 9): 18 elements, 5 FLOPs each.
    "softmax": (lambda n, x: n.add_softmax(x, axis=1), [(2, 9)], 5 * 18),
    # Reduce (2, 3, 5) over axis 2: one accumulate per input element.
    "reduce": (lambda n, x: n.add_reduce(x, gie.ReduceOperation.SUM, 2), [(2, 3, 5)], 30),
    # LRN window 5 on (1, 4, 3, 2): 24 outputs, 2*5 + 3 each.
    "lrn": (lambda n, x: n.add_lrn(x, 5, 1e-4, 0.75), [(1, 4, 3, 2)], 24 * 13),
    # Channel scale with scale and shift: 2 FLOPs per element of (2, 3, 2, 2).
    "scale": (lambda n, x: n.add_scale(x, gie.ScaleMode.CHANNEL, shift=_w(3), scale=_w(3)), [(2, 3, 2, 2)], 2 * 24),
    # Linear resize of H and W (2 axes): 3 interpolations (3 FLOPs each) per output element of (1, 2, 6, 4).
    "resize linear": (lambda n, x: n.add_resize(x, gie.ResizeMode.LINEAR, output_shape=(1, 2, 6, 4)), [(1, 2, 3, 2)],
                      48 * 9),
    "resize nearest": (lambda n, x: n.add_resize(x, gie.ResizeMode.NEAREST, output_shape=(1, 2, 6, 4)), [(1, 2, 3, 2)], 0),
    "shuffle": (lambda n, x: n.add_shuffle(x, first_transpose=(0, 2, 1)), [(2, 3, 5)], 0),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_flops_by_hand(case):
    add, shapes, expected = CASES[case]
    k, _ = _single(add, shapes)
    assert profile.step_flops(k) == expected
    assert profile.step_work(k)["flops"] == expected


def test_flops_fused_epilogue_counts_residual_and_activation():
    """conv + bias + residual add + ReLU fused into one kernel counts what the three layers do unfused."""
    def build(fuse):
        builder = gie.Builder()
        net = builder.create_network()
        x = net.add_input("x", gie.float32, (1, 3, 5, 5))
        conv = net.add_convolution(x, 3, (3, 3), _w(3, 3, 3, 3), _w(3), padding=(1, 1))
        add = net.add_elementwise(conv.output(0), x, gie.ElementWiseOperation.SUM)
        relu = net.add_activation(add.output(0), gie.ActivationType.RELU)
        net.mark_output(relu.output(0), "y")
        config = builder.create_config()
        config.device = "cpu"
        if not fuse:
            config.set_pass_enabled("fuse_epilogue", False)
        li = builder.build(net, config).layer_info()
        return li, sum(profile.step_flops(k) for k in li["kernels"])
    fused, fused_flops = build(True)
    unfused, unfused_flops = build(False)
    assert len(fused["kernels"]) == 1 and len(unfused["kernels"]) == 3
    outputs = 3 * 5 * 5
    assert fused_flops == unfused_flops == 2 * outputs * 3 * 9 + 3 * outputs


def test_unknown_kernel_type_has_no_flops():
    k = {"type": "MyPlugin", "inputs": [], "outputs": [{"shape": [2, 3], "bytes": 24}]}
    assert profile.step_flops(k) is None
    assert profile.step_work(k) == {"flops": None, "bytes": 24, "weight_bytes": 0, "precision": "float32"}


def test_layer_info_reports_fields_and_weights():
    k, _ = _single(CASES["convolution"][0], CASES["convolution"][1])
    assert k["fields"]["kernel_size"] == [3, 2] and k["fields"]["num_groups"] == [2] and k["fields"]["dilation"] == [2, 1]
    weights = {w["field"]: w for w in k["weights"]}
    assert weights["kernel"]["elements"] == 4 * 3 * 3 * 2 and weights["bias"]["elements"] == 4
    assert {w["dtype"] for w in k["weights"]} == {"float32"}  # the CPU keeps FP32 weights even for FP16 storage


def test_bytes_fp32_linear_vs_fp16_hwc8():
    """Bytes are counted at the stored type and format: an FP16 HWC8 tensor of 3 channels is stored as 8."""
    shape = (2, 3, 5, 7)

    def input_bytes(dtype, fmt):
        builder = gie.Builder()
        net = builder.create_network()
        x = net.add_input("x", gie.float32, shape)
        x.dtype = dtype
        x.allowed_formats = [fmt]
        relu = net.add_activation(x, gie.ActivationType.RELU)
        net.mark_output(relu.output(0), "y")
        config = builder.create_config()
        config.device = "cpu"
        config.fp16 = dtype == gie.DataType.HALF
        config.max_batch = shape[0]
        li = builder.build(net, config).layer_info()
        first = next(k for k in li["kernels"] if any(t["name"] == "x" for t in k["inputs"]))
        (tensor,) = [t for t in first["inputs"] if t["name"] == "x"]
        work = profile.step_work(first)
        assert work["bytes"] == sum(t["bytes"] for t in first["inputs"] + first["outputs"]) + work["weight_bytes"]
        return tensor["bytes"]

    assert input_bytes(gie.DataType.FLOAT, gie.TensorFormat.LINEAR) == 2 * 3 * 5 * 7 * 4
    assert input_bytes(gie.DataType.HALF, gie.TensorFormat.HWC8) == 2 * 8 * 5 * 7 * 2


def test_work_scales_activations_with_batch_not_weights():
    k, li = _single(lambda n, x: n.add_fully_connected(x, 7, _w(7, 10), _w(7)), [(4, 10)])
    full = profile.engine_work(li)[k["name"]]
    half = profile.engine_work(li, batch=2)[k["name"]]
    weights = (70 + 7) * 4
    assert full["weight_bytes"] == half["weight_bytes"] == weights
    assert full["bytes"] == 4 * 10 * 4 + 4 * 7 * 4 + weights
    assert half["bytes"] == 2 * 10 * 4 + 2 * 7 * 4 + weights
    assert half["flops"] == full["flops"] / 2 == 2 * (2 * 7) * 10 + 2 * 7


def test_annotate_roofline():
    rows = [{"name": "a", "mean_ms": 1.0}, {"name": "b", "mean_ms": 2.0}, {"name": "c", "mean_ms": 1.0}]
    work = {"a": {"flops": 4e9, "bytes": 1e6, "precision": "float16"},   # 4000 FLOP/B
            "b": {"flops": 1e6, "bytes": 2e7, "precision": "float32"},   # 0.05 FLOP/B
            "c": {"flops": None, "bytes": 10, "precision": "float32"}}
    peaks = {"tflops": {"float32": 10.0, "float16": 100.0}, "gbps": 1000.0}  # ridges 10 and 100 FLOP/B
    a, b, c = profile.annotate(rows, work, peaks)
    assert a["bound"] == "compute" and a["tflops"] == pytest.approx(4.0) and a["peak_fraction"] == pytest.approx(0.04)
    assert a["peak_tflops"] == 100.0
    assert b["bound"] == "memory" and b["gbps"] == pytest.approx(10.0) and b["peak_fraction"] == pytest.approx(0.01)
    assert c["bound"] is None and c["tflops"] is None and c["gbps"] == pytest.approx(1e-5)


def test_peaks_given_measured_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("GIE_CACHE_DIR", str(tmp_path))
    li = {"device": "cpu"}
    given = profile.device_peaks(li, tflops=2.0, gbps=30.0)
    assert given["tflops"] == {"float32": 2.0, "float16": 2.0} and given["gbps"] == 30.0
    assert "given" in given["tflops_source"] and "given" in given["gbps_source"]
    assert not (tmp_path / "peaks.json").exists()  # nothing measured
    assert profile.device_peaks(li, measure=False)["tflops"] is None

    measured = profile.device_peaks(li)
    assert measured["tflops"]["float32"] > 0 and measured["gbps"] > 0
    assert measured["tflops_source"].startswith("measured")
    cache = json.loads((tmp_path / "peaks.json").read_text())
    assert len(cache) == 1

    def fail(device):
        raise AssertionError("measured again")
    monkeypatch.setattr(profile, "measure_peaks", fail)
    again = profile.device_peaks(li, gbps=5.0)
    assert again["tflops"] == measured["tflops"] and "cached" in again["tflops_source"]
    assert again["gbps"] == 5.0 and "given" in again["gbps_source"]


_ROW = re.compile(r"^\s+(?P<name>\S+)\s+(?P<type>\S+)\s+(?P<ms>[\d.]+)\s+(?P<pct>[\d.]+)\s+[\d.]+\s+(?P<gflop>[\d.]+|-)\s+"
                  r"(?P<mb>[\d.]+)\s+(?P<tflops>[\d.]+|-)\s+(?P<gbps>[\d.]+)\s+(?P<ai>[\d.]+|-)\s+(?P<bound>compute|memory|-)\s+"
                  r"(?P<frac>[\d.]+|-)$", re.M)


@pytest.mark.parametrize("device", ["cpu", pytest.param("gpu", marks=pytest.mark.gpu)])
def test_cli_profile_table_and_json(tmp_path, device):
    """With given peaks: every kernel's row has its work and bound, consistent with the JSON."""
    times = tmp_path / "t.json"
    p = _ok(cli("run", "lenet", "--batch", "2", "--iterations", "3", "--warmup", "0", "--profile", "--device", device,
                "--peak-tflops", "0.05", "--peak-gbps", "20", "--export-times", times))
    assert re.search(rf"peaks \({device}\): float16 0\.05 TFLOP/s, float32 0\.05 TFLOP/s \[given \(--peak-tflops\)\]; "
                     r"20 GB/s \[given \(--peak-gbps\)\]", p.stdout)
    doc = json.loads(times.read_text())
    assert doc["peaks"]["gbps"] == 20.0 and doc["peaks"]["tflops"]["float32"] == 0.05
    rows = {m["name"]: m for m in _ROW.finditer(p.stdout)}
    assert sorted(rows) == sorted(k["name"] for k in doc["kernels"])
    ridge = 0.05e12 / 20e9
    for k in doc["kernels"]:
        for key in ("flops", "bytes", "tflops", "gbps", "intensity", "bound", "peak_fraction", "peak_tflops"):
            assert key in k, key
        assert k["bytes"] > 0 and k["flops"] is not None
        seconds = k["mean_ms"] * 1e-3
        assert k["gbps"] == pytest.approx(k["bytes"] / seconds / 1e9)
        assert k["bound"] == ("compute" if k["flops"] / k["bytes"] >= ridge else "memory")
        roof = k["tflops"] / 0.05 if k["bound"] == "compute" else k["gbps"] / 20
        assert k["peak_fraction"] == pytest.approx(roof)
        row = rows[k["name"]]
        assert row["bound"] == k["bound"] and float(row["gflop"]) == pytest.approx(k["flops"] / 1e9, abs=1e-4)
    conv = [k for k in doc["kernels"] if k["type"] == "Convolution"]
    assert conv and all(k["bound"] == "compute" for k in conv)  # LeNet's convolutions: ~30+ FLOP/B, ridge 2.5


def test_cli_peak_options_refused():
    p = cli("run", "lenet", "--iterations", "1", "--profile", "--device", "cpu", "--peak-tflops", "0")
    assert p.returncode == 2 and "--peak-tflops must be a positive number" in p.stderr


@pytest.mark.gpu
def test_gpu_fp16_weights_are_half_and_peaks_measured(tmp_path, monkeypatch):
    monkeypatch.setenv("GIE_CACHE_DIR", str(tmp_path))
    k, li = _single(lambda n, x: n.add_convolution(x, 64, (3, 3), _w(64, 64, 3, 3), _w(64), padding=(1, 1)),
                    [(8, 64, 28, 28)], device="gpu", fp16=True)
    assert k["precision"] == "float16"
    weights = {w["field"]: w["dtype"] for w in k["weights"]}
    assert weights["kernel"] == "float16" and weights["bias"] == "float32"
    assert profile.step_work(k)["weight_bytes"] == 64 * 64 * 9 * 2 + 64 * 4
    peaks = profile.device_peaks(li)
    assert peaks["tflops"]["float16"] > peaks["tflops"]["float32"] > 0 and peaks["gbps"] > 100


# ---- bench/conv_f16.py: its shape tables and FLOP formula against the networks gie.model_zoo builds -----------

def _conv_bench():
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "conv_f16.py")
    spec = importlib.util.spec_from_file_location("conv_f16_under_test", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # no torch needed: it is imported only when the benchmark runs
    return mod


@pytest.mark.parametrize("model", ["resnet50", "googlenet", "yolov2"])
def test_conv_bench_shapes_match_model_zoo(model):
    from collections import Counter

    from gie import model_zoo

    bench = _conv_bench()
    net = gie.Builder().create_network()
    model_zoo.define(model, net, seed=0, batch=1)
    zoo, zoo_flops = Counter(), 0
    for i in range(net.num_layers):
        layer = net.get_layer(i)
        if layer.type != "Convolution":
            continue
        _, c, h, w = layer.get_input(0).shape
        f = {name: np.asarray(layer._get_field(name)).ravel().tolist() if layer._get_field(name) is not None else None
             for name in ("num_output_maps", "kernel_size", "stride", "pre_padding", "post_padding", "num_groups", "dilation")}
        r, s = f["kernel_size"]
        stride = f["stride"] or [1, 1]
        pre, post = f["pre_padding"] or [0, 0], f["post_padding"] or pre
        assert h == w and r == s and len(set(stride)) == 1 and len(set(pre + post)) == 1, layer.name  # the table's form
        assert (f["num_groups"] or [1]) == [1] and (f["dilation"] or [1, 1]) == [1, 1], layer.name
        zoo[(c, h, f["num_output_maps"][0], r, stride[0], pre[0])] += 1
        _, k, p, q = layer.output(0).shape
        zoo_flops += 2 * k * p * q * c * r * s
    table = Counter()
    for name, c, h, k, r, stride, pad, count in bench.MODELS[model]:
        table[(c, h, k, r, stride, pad)] += count
    assert table == zoo
    assert sum(row[-1] * bench.flops(1, *row[1:7]) for row in bench.MODELS[model]) == zoo_flops
    assert [row for _, row in bench.shapes(model)] == bench.MODELS[model]


def test_conv_bench_options_and_rows():
    bench = _conv_bench()
    assert bench.parse_args([]).model == "resnet50"
    everything = bench.shapes("all")
    assert [m for m, _ in everything] == (["resnet50"] * len(bench.RESNET50) + ["googlenet"] * len(bench.GOOGLENET)
                                          + ["yolov2"] * len(bench.YOLOV2) + ["convnext_mlp"] * len(bench.CONVNEXT_MLP))
    assert [row[0] for _, row in bench.shapes("all", only="conv29,5x5 48")] == ["5b 5x5 48>128 @7", "conv29 3x3 1280>1024 @13"]
    # 2 GFLOP in 1 ms (gie) and 4 ms (torch): 2 and 0.5 TFLOP/s (the table rounds to whole TFLOP/s), ratio 0.25
    assert bench.format_row("s", 2e9, 1.0, 4.0, "mma", 1e-3) == "| s | 2.0 | 1.000 | 2 | 4.000 | 0 | 0.25 | mma | 1.0e-03 |"
    # counts weight the totals: 2 x (1 GFLOP, 1 ms, 2 ms) + 1 x (2 GFLOP, 3 ms, 3 ms) = 4 GFLOP, 5 ms vs 7 ms
    assert bench.format_weighted("m", [(2, 1e9, 1.0, 2.0), (1, 2e9, 3.0, 3.0)]) == \
        "| m weighted (x count) | 4 | 5.000 | 1 | 7.000 | 1 | 0.71 | | |"
    with pytest.raises(SystemExit):
        bench.parse_args(["--model", "vgg"])


def test_execute_bound_after_execute_whose_arrays_were_dropped():
    """Regression (found by the peak measurement): execute_bound reuses the addresses of the last execute; when the
    caller had dropped that call's input and output arrays, it wrote into freed memory and the process aborted
    ("corrupted double-linked list")."""
    import subprocess
    import sys

    code = """if True:
        import numpy as np, gie
        rng = np.random.default_rng(0)
        builder = gie.Builder(); net = builder.create_network()
        x = net.add_input("x", gie.float32, (64, 64))
        fc = net.add_fully_connected(x, 64, rng.standard_normal((64, 64), dtype=np.float32))
        net.mark_output(fc.output(0), "y")
        config = builder.create_config(); config.device = "cpu"; config.max_batch = 64
        ctx = builder.build(net, config).create_execution_context()
        ctx.execute({"x": rng.standard_normal((64, 64), dtype=np.float32)})  # input and result dropped
        ctx.execute_bound()
        print("ok")
    """
    for _ in range(3):  # the corruption shows when the heap is next checked: most runs, not every run
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0 and p.stdout.strip() == "ok", (p.returncode, p.stderr[-2000:])
