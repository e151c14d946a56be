"""Build reports in words (gie.report), graph pictures (gie.draw) and the progress bar (gie.progress)."""
import io
import xml.etree.ElementTree as ET

import pytest

import gie
from gie import draw, model_zoo, models, report
from gie.progress import Progress, progress_enabled

from test_cli import _ok, cli


@pytest.fixture(scope="module")
def lenet_info():
    return models.build(models.lenet(), max_batch=2).layer_info()


@pytest.fixture(scope="module")
def googlenet_info():
    engine, _ = model_zoo.build("googlenet", max_batch=1)
    li = engine.layer_info()
    assert li["kernels_after"] == engine.num_kernels
    return li


def _svg_text(svg):
    root = ET.fromstring(svg)  # well-formed XML
    assert root.tag.endswith("svg")
    return " ".join(root.itertext())


# ---- report ----------------------------------------------------------------------------------------

def test_report_lists_every_kernel_and_total(lenet_info):
    text = report.format_report(lenet_info, title="LeNet")
    assert text.startswith("LeNet")
    for k in lenet_info["kernels"]:
        assert k["name"] in text
    assert f"{lenet_info['layers_before']} -> {lenet_info['kernels_after']}" in text
    s = report.summary(lenet_info, engine_bytes=1234, build_ms=5)
    assert "engine file 1234 bytes" in s and "built in 5 ms" in s
    assert "1 kernel covers more than one layer" in s


def test_report_views_and_removed_layers(googlenet_info):
    text = report.format_report(googlenet_info)
    views = [t for k in googlenet_info["kernels"] for t in k["outputs"] if "view_of" in t]
    assert views, "GoogLeNet's concatenations should be eliminated"
    t = views[0]
    loc = report.tensor_location(t)
    assert loc.startswith(f"slice of {t['view_of']} from channel ") and f"at +{t['view_offset_elements']} elements" in loc
    assert "from channel 64, at +50176 elements (+200704 B)" in text  # inception_3a/3x3 after the 64-channel 1x1
    assert f"slice of {t['view_of']}" in text
    removed = report.removed_layers(googlenet_info)
    concats = [layer["name"] for layer in googlenet_info["network"]["layers"] if layer["type"] == "Concatenation"]
    assert sorted(removed) == sorted(concats) and len(concats) == 9
    assert all("concat_elimination" in why for why in removed.values())
    assert "layers no kernel runs (9):" in text


def test_report_notes_and_tactics():
    applied, rejected = report.split_notes(["fuse_epilogue: fused activation 'r'",
                                            "fuse_epilogue: not fused into 'c': no epilogue",
                                            "concat_elimination: input 0 of 'x' is copied because y"])
    assert applied == ["fuse_epilogue: fused activation 'r'"] and len(rejected) == 2
    k = {"name": "k", "type": "Convolution", "tactic": "gemm", "notes": [],
         "tactic_times_ms": [{"tactic": "direct", "ms": 2.0}, {"tactic": "gemm", "ms": 1.0},
                             {"tactic": "winograd", "ms": 1e30}]}
    text = report.format_report({"kernels": [k], "memory": {}, "passes": []})
    assert "tactic gemm 1 ms; runner-up direct 2 ms (+100%); others winograd n/a" in text
    assert report.format_bytes(160) == "160 B" and report.format_bytes(4816896) == "4.59 MiB"


@pytest.fixture(scope="module")
def fp16_info():
    """LeNet built with FP16 allowed on the CPU: FP16 kernels, a Reformat at the FP32 input and output."""
    b = gie.Builder()
    net = b.create_network()
    models.lenet().define(net)
    config = b.create_config()
    config.device = "cpu"
    config.fp16 = True
    return b.build(net, config).layer_info()


def _reformat_kernel(name, src, dst, note):
    return {"name": name, "type": "Reformat", "version": "1", "device": "gpu", "precision": "float16", "tactic": "default",
            "source_layers": [], "notes": [note],
            "inputs": [{"name": src[0], "shape": [1, 3, 8, 8], "dtype": src[1], "format": src[2], "kind": "input"}],
            "outputs": [{"name": dst[0], "shape": [1, 3, 8, 8], "dtype": dst[1], "format": dst[2], "kind": "activation"}]}


def test_report_precision_notes():
    """A negotiated node shows its choice and the best rejected one on their own lines; Reformats are listed
    with their times; the other "inserted:" note (a constant output's copy) stays an applied note."""
    neg = ("negotiated: in0=float16 HWC8, out0=float16 HWC8 [f16_hwc8_mma], 0.052 ms; best rejected: in0=float32 LINEAR, "
           "out0=float32 LINEAR, 0.081 ms (0.040 ms slower with its reformats)")
    conv = {"name": "conv", "type": "Convolution", "variant": "f16_hwc8_mma", "version": "1", "device": "gpu",
            "precision": "float16", "tactic": "mma_128x64", "source_layers": ["conv"], "notes": [neg],
            "inputs": [{"name": "x16", "shape": [1, 3, 8, 8], "dtype": "float16", "format": "hwc8"}],
            "outputs": [{"name": "y", "shape": [1, 4, 8, 8], "dtype": "float16", "format": "hwc8"}]}
    copy = {"name": "c_copy", "type": "Identity", "precision": "float32", "source_layers": [],
            "notes": ["inserted: the output 'c' is a constant, so a kernel copies it into the output buffer"],
            "inputs": [], "outputs": [{"name": "c", "shape": [2], "dtype": "float32", "format": "linear"}]}
    li = {"inputs": [{"name": "x", "shape": [1, 3, 8, 8], "dtype": "float32", "format": "linear"}],
          "outputs": [{"name": "y2", "shape": [1, 4, 8, 8], "dtype": "float32", "format": "linear"}],
          "kernels": [_reformat_kernel("r_in", ("x", "float32", "linear"), ("x16", "float16", "hwc8"),
                                       "inserted: float32 LINEAR -> float16 HWC8, 0.010 ms"),
                      conv,
                      _reformat_kernel("r_out", ("y", "float16", "hwc8"), ("y2", "float32", "linear"),
                                       "inserted: float16 HWC8 -> float32 LINEAR"),
                      copy],
          "memory": {}, "passes": []}
    assert report.negotiated(conv) == (neg[len("negotiated: "):neg.index("; best")],
                                       neg[neg.index("best rejected: ") + len("best rejected: "):])
    assert report.split_notes(conv["notes"]) == ([], [])
    assert report.split_notes(copy["notes"]) == (copy["notes"], [])
    refs = report.reformats(li)
    assert [(r["name"], r["from"], r["to"], r["ms"], r["producer"], r["consumers"]) for r in refs] == [
        ("r_in", "fp32 linear", "fp16 hwc8", 0.010, "network input x", ["conv"]),
        ("r_out", "fp16 hwc8", "fp32 linear", None, "conv", ["network output y2"])]
    text = report.format_report(li)
    assert "[1] conv  Convolution [f16_hwc8_mma] v1 (gpu)  fp16: fp16 hwc8 -> fp16 hwc8" in text
    assert "    negotiated: in0=float16 HWC8, out0=float16 HWC8 [f16_hwc8_mma], 0.052 ms\n" in text
    assert "    best rejected: in0=float32 LINEAR, out0=float32 LINEAR, 0.081 ms (0.040 ms slower" in text
    assert "rejected: negotiated" not in text and "applied: inserted: float32" not in text
    assert "applied: inserted: the output 'c' is a constant" in text
    assert "reformats inserted (2):" in text  # no total: one of them was not timed
    assert "  [0] r_in: x fp32 linear -> fp16 hwc8, 0.010 ms; network input x -> conv" in text
    assert "  [2] r_out: y fp16 hwc8 -> fp32 linear, not timed; conv -> network output y2" in text
    assert report.summary(li).endswith("\nprecision: 1 kernel fp16, 1 fp32; 2 Reformats inserted")


def test_report_fp16_engine(fp16_info, lenet_info):
    text = report.format_report(fp16_info)
    refs = report.reformats(fp16_info)
    assert len(refs) == 2 and all(r["ms"] is not None for r in refs)
    assert f"reformats inserted (2, {sum(r['ms'] for r in refs):.3f} ms in all):" in text
    kernels = [k for k in fp16_info["kernels"] if k["type"] != "Reformat"]
    assert all(k["precision"] == "float16" for k in kernels)
    assert f"precision: {len(kernels)} kernels fp16; 2 Reformats inserted" in text
    assert "passes: fuse_epilogue x1, reformat x2" in text
    assert f"precision: {len(lenet_info['kernels'])} kernels fp32; no Reformat" in report.summary(lenet_info)


# ---- draw ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("view", ["after", "both"])
def test_draw_reformats_as_own_nodes(fp16_info, view):
    g = draw.build_graph(fp16_info, view)
    refs = report.reformats(fp16_info)
    nodes = [n for n in g.nodes.values() if n.kind == "reformat"]
    assert len(nodes) == len(refs) == 2
    assert all(n.dashed and n.fill != g.nodes[next(iter(g.nodes))].fill for n in nodes)
    assert sorted(n.lines[1][0] for n in nodes) == sorted(r["name"] for r in refs)
    assert {n.lines[2][0] for n in nodes} == {"fp32 linear \u2192 fp16 linear", "fp16 linear \u2192 fp32 linear"}
    ids = {n.lines[1][0]: n.id for n in nodes}
    first, last = ids["reformat_data_float16_LINEAR"], ids["reformat_prob"]
    conv1 = next(n.id for n in g.nodes.values() if n.lines[1][0] == "conv1")
    prob = next(n.id for n in g.nodes.values() if n.lines[1][0] == "prob" and n.kind != "output")
    edges = {(s, d) for s, d, _ in g.edges}
    # the conversion sits on the tensor's edge: input -> Reformat -> conv1, prob -> Reformat -> output
    assert {("in:data", first), (first, conv1), (prob, last), (last, "out:prob")} <= edges
    assert ("in:data", conv1) not in edges and (prob, "out:prob") not in edges
    assert "fp16: out fp16 linear" in [line[0] for line in g.nodes[conv1].lines]
    assert any("Reformat" in line for line in g.legend)
    svg = draw.render(fp16_info, view, renderer="python")
    assert _svg_text(svg).count("Reformat") >= 2 and svg.count('stroke="#c4561b"') == 2
    lay = draw._Layout(g)
    assert all(w > 0 and h > 0 for (_, _, w, h) in lay.node_box.values())


def test_draw_fp32_engine_has_no_precision_lines(lenet_info):
    for view in ("after", "both"):
        g = draw.build_graph(lenet_info, view)
        texts = [line[0] for n in g.nodes.values() for line in n.lines]
        assert not any("fp32" in t or "fp16" in t for t in texts)
        assert not any("Reformat" in line for line in g.legend)


@pytest.mark.parametrize("view", draw.VIEWS)
def test_draw_lenet_views_python(lenet_info, view):
    svg = draw.render(lenet_info, view=view, renderer="python")
    text = _svg_text(svg)
    for k in lenet_info["kernels"]:
        assert k["name"] in text
    if view != "after":
        for layer in lenet_info["network"]["layers"]:
            assert layer["name"] in text
    if view == "both":
        assert "kernel ip1" in text  # the fused FC + ReLU is outlined and labelled


def test_draw_googlenet_cli(tmp_path, googlenet_info):
    """The picture the docs show: every kernel and every layer name present, kernels outlined, views dashed."""
    out = tmp_path / "googlenet.svg"
    p = _ok(cli("draw", "googlenet", "-o", out, "--both", "--renderer", "python"))
    outlined = sum(1 for k in googlenet_info["kernels"] if len(k["source_layers"]) > 1)
    assert f"{outlined} kernel outlines" in p.stdout
    text = _svg_text(out.read_text())
    for layer in googlenet_info["network"]["layers"]:
        assert layer["name"] in text, layer["name"]
    for k in googlenet_info["kernels"]:
        assert k["name"] in text, k["name"]
    assert text.count("view (concat eliminated)") == 9


def test_googlenet_graphs(googlenet_info):
    both = draw.build_graph(googlenet_info, "both")
    kernels = googlenet_info["kernels"]
    multi = [k for k in kernels if len(k["source_layers"]) > 1]
    assert len(both.clusters) == len(multi)
    relus = {layer["name"] for layer in googlenet_info["network"]["layers"] if layer["type"] == "Activation"}
    assert len(relus) == 57 and relus <= {s for k in multi for s in k["source_layers"]}  # every ReLU is fused
    members = [m for c in both.clusters for m in c.members]
    assert len(members) == len(set(members))  # each layer in at most one kernel outline
    for c, k in zip(both.clusters, multi):
        assert c.label == f"kernel {k['name']}"
        assert sorted(both.nodes[m].lines[1][0] for m in c.members) == sorted(k["source_layers"])
    views = [n for n in both.nodes.values() if n.kind == "view"]
    assert len(views) == 9 and all(n.dashed for n in views)
    after = draw.build_graph(googlenet_info, "after")
    assert sum(1 for n in after.nodes.values() if n.kind == "kernel") == len(kernels)
    assert sum(1 for n in after.nodes.values() if n.kind == "view") == 9
    labels = sorted({lab for _, _, lab in after.edges if lab})
    assert "+0 ch" in labels and "+64 ch" in labels  # inception_3a: 1x1 (64) then 3x3 from channel 64
    dot = draw.to_dot(both)
    assert dot.startswith("digraph gie {") and dot.count("subgraph cluster_") == len(multi)


def test_python_layout_has_no_overlaps(googlenet_info):
    for view in draw.VIEWS:
        g = draw.build_graph(googlenet_info, view)
        lay = draw._Layout(g)
        boxes = list(lay.box.values())  # clusters and free nodes
        for i, (x0, y0, w, h) in enumerate(boxes):
            assert w > 0 and h > 0
            for (x1, y1, w1, h1) in boxes[i + 1:]:
                overlap = x0 < x1 + w1 - 0.5 and x1 < x0 + w - 0.5 and y0 < y1 + h1 - 0.5 and y1 < y0 + h - 0.5
                assert not overlap, (view, (x0, y0, w, h), (x1, y1, w1, h1))
        # every edge goes down the page except edges broken out of cycles
        for i, (s, d, _) in enumerate(g.edges):
            pts, back = lay.edge_points(i)
            if not back:
                assert pts[-1][1] > pts[0][1], (view, s, d)


@pytest.mark.skipif(not draw.dot_available(), reason="Graphviz 'dot' is not installed")
def test_draw_with_graphviz(lenet_info):
    svg = draw.render(lenet_info, view="both", renderer="dot")
    text = _svg_text(svg)
    for layer in lenet_info["network"]["layers"]:
        assert layer["name"] in text
    assert "kernel ip1" in text


def test_draw_without_network_section(lenet_info):
    li = {k: v for k, v in lenet_info.items() if k != "network"}
    with pytest.raises(ValueError, match="no 'network' section"):
        draw.build_graph(li, "both")
    assert "conv1" in _svg_text(draw.render(li, "after", renderer="python"))


def test_draw_escapes_names():
    li = {"inputs": [{"name": "in<&>", "shape": [1, 2]}], "outputs": [{"name": "out\"'", "shape": [1, 2]}],
          "kernels": [{"name": "k<1>&\"", "type": "Plug<in>", "source_layers": ["k<1>&\""], "tactic": "default",
                       "inputs": [{"name": "in<&>", "shape": [1, 2]}],
                       "outputs": [{"name": "out\"'", "shape": [1, 2]}], "notes": []}],
          "network": {"layers": [{"name": "k<1>&\"", "type": "Plug<in>", "inputs": ["in<&>"], "outputs": ["out\"'"]}],
                      "network_inputs": ["in<&>"], "network_outputs": ["out\"'"]}}
    for view in draw.VIEWS:
        text = _svg_text(draw.render(li, view, renderer="python"))
        assert "k<1>&\"" in text and "in<&>" in text
    assert "k&lt;1&gt;&amp;" in draw.render(li, "both", fmt="dot")


# ---- progress --------------------------------------------------------------------------------------

class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_silent_unless_terminal(monkeypatch):
    monkeypatch.delenv("GIE_NO_PROGRESS", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    plain = io.StringIO()
    assert not progress_enabled(plain)
    with Progress("x", total=3, stream=plain) as bar:
        for _ in range(3):
            bar.update()
    with Progress("spin", stream=plain):
        pass
    assert plain.getvalue() == ""

    tty = _Tty()
    assert progress_enabled(tty)
    with Progress("timing", total=2, stream=tty, interval=0) as bar:
        bar.update()
        bar.update()
    out = tty.getvalue()
    assert "timing" in out and "2/2" in out and out.endswith("\r\033[K")  # the line is erased at the end
    monkeypatch.setenv("GIE_NO_PROGRESS", "1")
    assert not progress_enabled(_Tty())


def test_build_time_is_reported_for_a_fresh_build_only(tmp_path):
    """layer_info()["build_time"]: where a fresh build's time went (phases in ms, tactic timing counts); a
    deserialized engine has none (its file must not change with the build's speed), and the report says so."""
    cache = tmp_path / "timing.cache"

    def build():
        builder = gie.Builder()
        net = models.lenet().define(builder.create_network())
        config = builder.create_config()
        config.device = "cpu"
        config.max_batch = 2
        config.timing_cache = str(cache)
        return builder.build(net, config)

    engine = build()
    bt = engine.layer_info()["build_time"]
    phases = ["calibration_ms", "optimizer_passes_ms", "format_negotiation_ms", "kernel_configuration_ms", "tactic_selection_ms", "planning_ms"]
    for key in phases + ["total_ms", "timings_measured_negotiation", "timings_measured_tactic_selection", "timings_reused"]:
        assert key in bt and bt[key] >= 0, (key, bt)
    assert sum(bt[k] for k in phases) <= bt["total_ms"] + 1e-6
    assert bt["tactic_setup_ms"] >= 0 and bt["tactic_runs_ms"] >= 0
    assert bt["tactic_setup_ms"] + bt["tactic_runs_ms"] <= bt["format_negotiation_ms"] + bt["tactic_selection_ms"] + 1e-3
    assert bt["optimizer_passes_ms"] > 0 and bt["calibration_ms"] < bt["total_ms"]  # no calibrator: (almost) nothing
    # (the CPU kernels of LeNet have one tactic each: the timing counts are checked on the GPU, test_gpu_engine.py)
    line = report.build_time_line(engine.layer_info())
    assert line.startswith("build time: ") and "tactics" in line and "reused (timing cache" in line
    assert line in report.format_report(engine.layer_info())
    loaded = gie.Runtime().deserialize(engine.serialize())
    assert "build_time" not in loaded.layer_info() and report.build_time_line(loaded.layer_info()) is None
