"""Build reports in words (gie.report), graph pictures (gie.draw) and the progress bar (gie.progress)."""
import io
import xml.etree.ElementTree as ET

import pytest

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


# ---- draw ------------------------------------------------------------------------------------------

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
