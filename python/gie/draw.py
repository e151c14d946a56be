"""Pictures of a network before and after optimization, from ``engine.layer_info()``.

    from gie import draw
    svg = draw.render(engine.layer_info(), view="both")            # SVG text (Graphviz if found, else pure Python)
    dot = draw.render(engine.layer_info(), view="after", fmt="dot")

Views:

* ``before``: the network as defined (``layer_info()["network"]``): one box per layer, colour = layer type.
* ``after``: the engine: one box per kernel (with the layers it covers and its output shape); a concatenation
  that the optimizer eliminated appears as a dashed *view* box that the producing kernels write into.
* ``both``: the network as defined with every kernel drawn as an outline (a cluster) around the layers it
  covers, labelled with the kernel's name; a layer that runs as a kernel of its own has a solid blue border;
  eliminated concatenations are dashed view boxes, other removed layers dashed grey boxes.

Renderers: Graphviz ``dot`` when it is on PATH (``apt-get install graphviz``), else a pure-Python layered
layout (longest-path layering, barycentre ordering, isotonic x placement, smooth edges through the ranks
they cross, clusters as rounded rectangles). Both write the same names and labels, and every node and
cluster carries a ``<title>`` (tooltip) with its full name.
"""
import json
import shutil
import subprocess
from collections import defaultdict

from .report import is_fp32_linear, kernel_states, reformats, short_type, tensor_state

__all__ = ["Graph", "build_graph", "to_dot", "to_svg", "render", "dot_available", "VIEWS"]

VIEWS = ("before", "after", "both")

_TYPE_FILL = {
    "Convolution": "#cfe2f3", "Deconvolution": "#cfe2f3", "Activation": "#fce5cd", "Pooling": "#d9ead3",
    "Concatenation": "#fff2cc", "LRN": "#ead1dc", "FullyConnected": "#d0e0e3", "MatrixMultiply": "#d0e0e3",
    "Softmax": "#f4cccc", "Scale": "#e6e0f8", "ElementWise": "#ffe0b2", "Shuffle": "#eeeeee", "Input": "#ffffff",
    "Output": "#ffffff",
}
_DEFAULT_FILL = "#eeeeee"
_KERNEL_COLOR = "#2f62b0"
_CLUSTER_FILL = "#f2f6fc"
_REFORMAT_FILL = "#fde0c5"   # Reformat steps: orange, dashed border, so the conversions stand out
_REFORMAT_COLOR = "#c4561b"
_REFORMAT_LEGEND = ("dashed orange: Reformat steps the builder inserted (type and/or format conversions); "
                    "'fp16: out fp16 hwc8' = a kernel's precision and output type/format")


# ---- the graph -------------------------------------------------------------------------------------

class Node:
    def __init__(self, id, lines, fill=_DEFAULT_FILL, stroke="#666666", dashed=False, bold_border=False,
                 tooltip="", kind="layer"):
        self.id = id
        self.lines = lines  # [(text, style)], style in {"type", "name", "small"}
        self.fill = fill
        self.stroke = stroke
        self.dashed = dashed
        self.bold_border = bold_border
        self.tooltip = tooltip
        self.kind = kind


class Cluster:
    def __init__(self, id, label, members, tooltip=""):
        self.id = id
        self.label = label
        self.members = members
        self.tooltip = tooltip


class Graph:
    """Nodes (in topological-ish order), edges [(src, dst, label)], clusters, a title and legend lines."""

    def __init__(self, title="", legend=()):
        self.title = title
        self.legend = list(legend)
        self.nodes = {}
        self.edges = []
        self.clusters = []

    def add_node(self, node):
        self.nodes[node.id] = node
        return node

    def add_edge(self, src, dst, label=""):
        if src in self.nodes and dst in self.nodes and src != dst and (src, dst, label) not in self.edges:
            self.edges.append((src, dst, label))


def _shape_text(shape):
    return "\u00d7".join(str(d) for d in shape) if shape else ""


def _short(text, limit):
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def _precision_text(k):
    """'fp16: out fp16 hwc8': what a kernel computes in and writes (its inputs show on the boxes feeding it)."""
    return f"{short_type(k.get('precision') or k.get('dtype'))}: out " + ", ".join(tensor_state(t) for t in k.get("outputs", []))


def _tactic_text(k):
    """The kernel's tactic; 'p0 X / p1 Y' where its optimization profiles run different ones (profile_tactics,
    docs/dynamic_shapes.md): `tactic` alone is profile 0's."""
    per_profile = k.get("profile_tactics") or []
    if len(set(per_profile)) > 1:
        return " / ".join(f"p{i} {t}" for i, t in enumerate(per_profile))
    return k.get("tactic", "?")


def _reformat_node(nid, k, r):
    return Node(nid, [("Reformat", "type"), (k["name"], "name"), (f"{r['from']} \u2192 {r['to']}", "small"),
                      ("not timed" if r["ms"] is None else f"{r['ms']:.3f} ms", "small")],
                fill=_REFORMAT_FILL, stroke=_REFORMAT_COLOR, dashed=True, kind="reformat",
                tooltip=f"kernel {k['name']} (Reformat, inserted by the builder): {r['tensor']} {r['from']} -> "
                        f"{r['to']}; {r['producer']} -> {', '.join(r['consumers'])}")


def _io_nodes(g, li, network_inputs, network_outputs, shapes):
    for name in network_inputs:
        g.add_node(Node(f"in:{name}", [("input", "type"), (name, "name"), (_shape_text(shapes.get(name)), "small")],
                        fill="#ffffff", stroke="#333333", tooltip=f"network input {name}", kind="input"))
    for name in network_outputs:
        g.add_node(Node(f"out:{name}", [("output", "type"), (name, "name"), (_shape_text(shapes.get(name)), "small")],
                        fill="#ffffff", stroke="#333333", tooltip=f"network output {name}", kind="output"))


def _io_shapes(li):
    shapes = {}
    for t in li.get("inputs", []) + li.get("outputs", []):
        shapes[t["name"]] = t.get("shape")
    return shapes


def _network(li):
    net = li.get("network")
    if not net or "layers" not in net:
        raise ValueError("this build report has no 'network' section (the network before optimization); "
                         "only the 'after' view can be drawn")
    return net


def _layer_graph(li, with_kernels):
    net = _network(li)
    layers = net["layers"]
    kernels = li.get("kernels", [])
    shapes = _io_shapes(li)
    owner = {}
    for k in kernels:
        for s in k.get("source_layers", []):
            owner.setdefault(s, k)
    passes = li.get("passes", [])
    if with_kernels:
        title = (f"before -> after optimization: {li.get('layers_before', len(layers))} layers -> "
                 f"{li.get('kernels_after', len(kernels))} kernels")
        legend = ["boxes: layers of the network as defined (colour = layer type)",
                  "blue outlines: kernels, labelled with the kernel's name, around the layers each one runs; "
                  "blue border: a layer that runs as a kernel of its own",
                  "dashed: eliminated concatenations (views: producers write in place) and removed layers"]
    else:
        title = f"network before optimization: {len(layers)} layers"
        legend = ["boxes: layers (colour = layer type); edges: tensors"]
    states = with_kernels and not is_fp32_linear(li)
    if states:
        legend.append(_REFORMAT_LEGEND)
    g = Graph(title, legend)
    _io_nodes(g, li, net.get("network_inputs", []), [], shapes)
    producer = {f"{n}": f"in:{n}" for n in net.get("network_inputs", [])}
    for i, layer in enumerate(layers):
        nid = f"L{i}"
        typ = layer.get("type", "?")
        lines = [(typ, "type"), (layer["name"], "name")]
        out_shapes = layer.get("output_shapes") or []
        if out_shapes and typ not in ("Activation",):
            lines.append((_shape_text(out_shapes[0]), "small"))
        node = Node(nid, lines, fill=_TYPE_FILL.get(typ, _DEFAULT_FILL),
                    tooltip=f"layer {layer['name']} ({typ})")
        if with_kernels:
            k = owner.get(layer["name"])
            if k is None:
                why = next((p for p in passes if f"'{layer['name']}'" in p), "not in any kernel")
                node.dashed = True
                if typ == "Concatenation" and "concat_elimination" in why:
                    node.lines = [("view (concat eliminated)", "type"), (layer["name"], "name")] + lines[2:]
                    node.stroke = "#b7950b"
                    node.kind = "view"
                else:
                    node.lines = [(f"{typ} (removed)", "type"), (layer["name"], "name")] + lines[2:]
                    node.fill = "#f7f7f7"
                    node.stroke = "#999999"
                    node.kind = "removed"
                node.tooltip = f"layer {layer['name']} ({typ}): {why}"
            else:
                node.tooltip += f"; runs in kernel {k['name']}"
        g.add_node(node)
        for t in layer.get("inputs", []):
            if t in producer:
                g.add_edge(producer[t], nid)
        for t in layer.get("outputs", []):
            producer[t] = nid
    _io_nodes(g, li, [], net.get("network_outputs", []), shapes)
    for name in net.get("network_outputs", []):
        if name in producer:
            g.add_edge(producer[name], f"out:{name}")
    if with_kernels:
        index = {layer["name"]: f"L{i}" for i, layer in enumerate(layers)}
        for ki, k in enumerate(kernels):
            members = [index[s] for s in k.get("source_layers", []) if s in index]
            if not members:
                continue
            tip = (f"kernel {k['name']} ({k.get('type', '?')}, tactic {_tactic_text(k)}): "
                   f"{' + '.join(k.get('source_layers', []))}")
            src = k.get("source_layers", [])
            if states:
                tip += f"; {k.get('precision', '?')}: {kernel_states(k)}"
            if len(members) == 1 and src and src[0] == k["name"]:
                node = g.nodes[members[0]]
                node.bold_border = True
                node.stroke = _KERNEL_COLOR
                node.tooltip = tip
                if states:
                    node.lines.append((_precision_text(k), "small"))
                continue
            label = f"kernel {k['name']}" + (f" \u00b7 {_precision_text(k)}" if states else "")
            g.clusters.append(Cluster(f"K{ki}", label, members, tip))
        if states:
            _insert_reformats(g, li, net, index, producer)
    return g


def _insert_reformats(g, li, net, index, producer):
    """The both view: each inserted Reformat as a box of its own on the edge of the tensor it converts, from the
    layer (or network input) writing it to the layers (or network output) reading the converted copy."""
    kernels = li.get("kernels", [])
    layer_inputs = {layer["name"]: layer.get("inputs", []) for layer in net["layers"]}
    node_of_kernel = {}  # kernel name -> the box its output edges leave from / its input edges enter
    for k in kernels:
        src = [s for s in k.get("source_layers", []) if s in index]
        if src:
            node_of_kernel[k["name"]] = (index[src[-1]], src)
    for r in reformats(li):
        k = kernels[r["index"]]
        nid = f"R{r['index']}"
        g.add_node(_reformat_node(nid, k, r))
        node_of_kernel[k["name"]] = (nid, [])
    for r in reformats(li):
        nid = f"R{r['index']}"
        # Edges from the box of the Reformat's producer (a layer, a network input or a Reformat before it) to
        # the boxes of its readers, replacing the direct edge between them.
        tensor = r["tensor"]
        if r["producer"] in node_of_kernel:
            src = node_of_kernel[r["producer"]][0]
        elif r["producer"].startswith("network input "):
            src = f"in:{tensor}"
        else:
            src = producer.get(tensor)
        for c in r["consumers"]:
            if c.startswith("network output "):
                dst = f"out:{c[len('network output '):]}"
            elif c in node_of_kernel:
                dst, layers = node_of_kernel[c]
                # the layer of a fused kernel that reads the converted tensor (else its first layer)
                reads = [s for s in layers if tensor in layer_inputs.get(s, [])]
                dst = index[reads[0]] if reads else index[layers[0]] if layers else dst
            else:
                continue
            if src is not None:
                g.edges = [e for e in g.edges if (e[0], e[1]) != (src, dst)]
                g.add_edge(src, nid)
            g.add_edge(nid, dst)


def _slice_label(t):
    """'+64 ch' (the channel a slice starts at) or '+N el' for a view of an (N, C, ...) tensor."""
    off = int(t.get("view_offset_elements", 0))
    shape = t.get("shape") or []
    inner = 1
    for d in shape[2:]:
        inner *= int(d)
    if len(shape) >= 2 and inner > 0 and off % inner == 0:
        return f"+{off // inner} ch"
    return f"+{off} el"


def _after_graph(li):
    kernels = li.get("kernels", [])
    shapes = _io_shapes(li)
    net = li.get("network") or {}
    ltype = {layer["name"]: layer.get("type", "?") for layer in net.get("layers", [])}
    states = not is_fp32_linear(li)
    g = Graph(f"engine after optimization: {len(kernels)} kernels"
              + (f" (from {li['layers_before']} layers)" if "layers_before" in li else ""),
              ["boxes: kernels (colour = kernel type), with the layers each one runs and its output shape",
               "dashed: concatenation outputs the kernels write into directly (views; no copy kernel)"]
              + ([_REFORMAT_LEGEND] if states else []))
    reformat_of = {r["index"]: r for r in reformats(li)}
    in_names = [t["name"] for t in li.get("inputs", [])]
    out_names = [t["name"] for t in li.get("outputs", [])]
    _io_nodes(g, li, in_names, [], shapes)
    producer = {n: f"in:{n}" for n in in_names}
    produced_by_kernel = {t["name"] for k in kernels for t in k.get("outputs", [])}
    view_nodes = {}

    layer_of_tensor = {t: layer["name"] for layer in net.get("layers", []) for t in layer.get("outputs", [])}

    def view_node(base, shape):
        if base not in view_nodes:
            nid = f"V:{base}"
            lname = layer_of_tensor.get(base)
            lines = [("view (concat eliminated)", "type")]
            lines += [(lname, "name"), (base, "small")] if lname else [(base, "name")]
            g.add_node(Node(nid, lines + [(_shape_text(shape), "small")],
                            fill=_TYPE_FILL["Concatenation"], stroke="#b7950b", dashed=True,
                            tooltip=f"tensor {base}: written in place by the kernels that produce its slices",
                            kind="view"))
            view_nodes[base] = nid
            producer[base] = nid
        return view_nodes[base]

    pending = []  # edges into views are added after every node exists
    for ki, k in enumerate(kernels):
        nid = f"K{ki}"
        src = k.get("source_layers", [])
        lines = [(k.get("type", "?"), "type"), (k["name"], "name")]
        if len(src) > 1:
            counts = {}
            for name in src:
                t = ltype.get(name, "?")
                counts[t] = counts.get(t, 0) + 1
            what = " + ".join(t if n == 1 else f"{n}\u00d7{t}" for t, n in counts.items())
            lines.append(("= " + _short(what, 44), "small"))
        tactic = _tactic_text(k)
        if k.get("tactic") and tactic != "default":
            lines.append((f"tactic {tactic}", "small"))
        if k.get("outputs"):
            lines.append((_shape_text(k["outputs"][0].get("shape")), "small"))
        if states:
            lines.append((_precision_text(k), "small"))
        if ki in reformat_of:
            g.add_node(_reformat_node(nid, k, reformat_of[ki]))
        else:
            g.add_node(Node(nid, lines, fill=_TYPE_FILL.get(k.get("type"), _DEFAULT_FILL), stroke=_KERNEL_COLOR,
                            tooltip=f"kernel {k['name']} ({k.get('type', '?')}, tactic {tactic}): "
                                    f"{' + '.join(src)}", kind="kernel"))
        for t in k.get("inputs", []):
            if t["name"] in producer:
                g.add_edge(producer[t["name"]], nid)
            elif t.get("view_of") in producer:
                g.add_edge(producer[t["view_of"]], nid)
        for t in k.get("outputs", []):
            producer[t["name"]] = nid
            if "view_of" in t:
                pending.append((nid, t))
    # Views whose base no kernel produces: a view node; producers -> view -> consumers.
    base_shape = {}
    for k in kernels:
        for t in k.get("inputs", []) + k.get("outputs", []):
            base_shape.setdefault(t["name"], t.get("shape"))
    for nid, t in pending:
        base = t["view_of"]
        if base in produced_by_kernel:
            continue
        view_node(base, base_shape.get(base))
    # second pass for consumers of view bases (they may come before the view node existed)
    edges = []
    for ki, k in enumerate(kernels):
        for t in k.get("inputs", []):
            if t["name"] in view_nodes:
                edges.append((view_nodes[t["name"]], f"K{ki}"))
    for nid, t in pending:
        base = t["view_of"]
        if base in view_nodes:
            edges.append((nid, view_nodes[base], _slice_label(t)))
    for e in edges:
        g.add_edge(*e)
    _io_nodes(g, li, [], out_names, shapes)
    for name in out_names:
        if name in producer:
            g.add_edge(producer[name], f"out:{name}")
    return g


def build_graph(layer_info, view="both", title=None):
    """The :class:`Graph` of one view ("before", "after", "both") of a build report."""
    li = json.loads(layer_info) if isinstance(layer_info, (str, bytes)) else layer_info
    if view == "before":
        g = _layer_graph(li, with_kernels=False)
    elif view == "both":
        g = _layer_graph(li, with_kernels=True)
    elif view == "after":
        g = _after_graph(li)
    else:
        raise ValueError(f"unknown view '{view}' (use {', '.join(VIEWS)})")
    if title:
        g.title = f"{title}: {g.title}"
    return g


# ---- DOT -------------------------------------------------------------------------------------------

def _html(text):
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;"))


def _dq(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _dot_label(node):
    parts = []
    for text, style in node.lines:
        if not text:
            continue
        if style == "type":
            parts.append(f"<b>{_html(text)}</b>")
        elif style == "small":
            parts.append(f'<font point-size="8" color="#555555">{_html(text)}</font>')
        else:
            parts.append(_html(text))
    return "<" + "<br/>".join(parts) + ">"


def _dot_title(graph):
    rows = [f'<tr><td align="left"><b>{_html(graph.title)}</b></td></tr>']
    rows += [f'<tr><td align="left"><font point-size="10" color="#444444">{_html(t)}</font></td></tr>'
             for t in graph.legend]
    return '<<table border="0" cellpadding="1" cellspacing="0">' + "".join(rows) + "</table>>"


def to_dot(graph):
    """Graphviz DOT text of a :class:`Graph`."""
    ids = {nid: f"n{i}" for i, nid in enumerate(graph.nodes)}
    out = ["digraph gie {",
           f'  graph [rankdir=TB, fontname="Helvetica", fontsize=14, labelloc=t, labeljust=l, nodesep=0.2, '
           f'ranksep=0.3, newrank=true, label={_dot_title(graph)}];',
           '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, margin="0.14,0.05", '
           'height=0.3, penwidth=1];',
           '  edge [arrowsize=0.6, color="#555555", fontname="Helvetica", fontsize=8];']
    in_cluster = set()
    for c in graph.clusters:
        out.append(f"  subgraph cluster_{c.id} {{")
        out.append(f'    label=<<font color="{_KERNEL_COLOR}">{_html(c.label)}</font>>; labeljust=l; fontsize=9; '
                   f'style="rounded,filled"; color="{_KERNEL_COLOR}"; fillcolor="{_CLUSTER_FILL}"; penwidth=1.3; '
                   f"margin=6; tooltip={_dq(c.tooltip)};")
        for m in c.members:
            out.append(f"    {ids[m]};")
            in_cluster.add(m)
        out.append("  }")
    for nid, n in graph.nodes.items():
        style = ["rounded", "filled"] + (["dashed"] if n.dashed else []) + (["bold"] if n.bold_border else [])
        shape = "box"
        if n.kind in ("input", "output"):
            shape = "box"
            style = ["filled"]
        out.append(f'  {ids[nid]} [label={_dot_label(n)}, shape={shape}, style="{",".join(style)}", '
                   f'fillcolor="{n.fill}", color="{n.stroke}", tooltip={_dq(n.tooltip)}];')
    for src, dst, label in graph.edges:
        attr = f" [label={_dq(label)}]" if label else ""
        out.append(f"  {ids[src]} -> {ids[dst]}{attr};")
    out.append("}")
    return "\n".join(out) + "\n"


def dot_available():
    return shutil.which("dot") is not None


# ---- pure-Python layout ----------------------------------------------------------------------------

_FONT = 11.0           # px, node text
_SMALL = 9.0           # px, shapes and cluster labels
_CHAR = 0.60           # average character width / font size (Helvetica-ish, a little generous)
_LINE = 1.3            # line height / font size
_PADX, _PADY = 8.0, 5.0
_NODE_GAP = 18.0       # horizontal gap between units of a rank
_INNER_GAP = 10.0      # gap between members inside a cluster
_RANK_GAP = 26.0       # vertical gap between ranks
_CPAD = 7.0            # cluster padding
_CLABEL = 13.0         # cluster label height
_DUMMY_W = 4.0


def _text_w(text, size):
    return len(text) * size * _CHAR


def _node_size(n):
    w = 0.0
    h = 2 * _PADY
    for text, style in n.lines:
        if not text:
            continue
        size = _SMALL if style == "small" else _FONT
        w = max(w, _text_w(text, size * (1.05 if style == "type" else 1.0)))
        h += size * _LINE
    return max(w + 2 * _PADX, 40.0), h


def _pava(targets, weights):
    """Weighted isotonic (non-decreasing) regression."""
    blocks = []  # [value, weight, count]
    for t, w in zip(targets, weights):
        blocks.append([t, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, c2 = blocks.pop()
            v1, w1, c1 = blocks.pop()
            wt = w1 + w2
            blocks.append([(v1 * w1 + v2 * w2) / wt, wt, c1 + c2])
    out = []
    for v, _, c in blocks:
        out.extend([v] * c)
    return out


class _Layout:
    def __init__(self, graph):
        self.g = graph
        self.size = {nid: _node_size(n) for nid, n in graph.nodes.items()}
        self.block_of = {}
        self.blocks = {}  # block id -> dict(members, cluster)
        for c in graph.clusters:
            members = [m for m in c.members if m in graph.nodes and m not in self.block_of]
            if not members:
                continue
            bid = f"C:{c.id}"
            self.blocks[bid] = {"members": members, "cluster": c}
            for m in members:
                self.block_of[m] = bid
        for nid in graph.nodes:
            if nid not in self.block_of:
                self.block_of[nid] = nid
                self.blocks[nid] = {"members": [nid], "cluster": None}
        order = {nid: i for i, nid in enumerate(graph.nodes)}
        self.block_order = sorted(self.blocks, key=lambda b: min(order[m] for m in self.blocks[b]["members"]))
        self._inner_layout()
        self._rank()
        self._dummies()
        self._order()
        self._place_x()
        self._place_y()
        self._ports()

    # -- clusters: members stacked by their own longest path ------------------------------------------
    def _inner_layout(self):
        g = self.g
        self.inner = {}  # node -> (dx, dy) of its top-left inside the block
        self.bsize = {}
        for bid, b in self.blocks.items():
            members = b["members"]
            if b["cluster"] is None:
                w, h = self.size[members[0]]
                self.inner[members[0]] = (0.0, 0.0)
                self.bsize[bid] = (w, h)
                continue
            mset = set(members)
            preds = defaultdict(list)
            for s, d, _ in g.edges:
                if s in mset and d in mset:
                    preds[d].append(s)
            level = {}

            def lvl(m, seen=()):
                if m in level:
                    return level[m]
                if m in seen:
                    return 0
                level[m] = 1 + max([lvl(p, seen + (m,)) for p in preds[m]], default=-1)
                return level[m]

            for m in members:
                lvl(m)
            rows = defaultdict(list)
            for m in members:
                rows[level[m]].append(m)
            row_w = {r: sum(self.size[m][0] for m in ms) + _INNER_GAP * (len(ms) - 1) for r, ms in rows.items()}
            row_h = {r: max(self.size[m][1] for m in ms) for r, ms in rows.items()}
            label_w = _text_w(b["cluster"].label, _SMALL) + 2 * _CPAD
            inner_w = max(max(row_w.values()), label_w - 2 * _CPAD)
            y = _CPAD + _CLABEL
            for r in sorted(rows):
                x = _CPAD + (inner_w - row_w[r]) / 2
                for m in rows[r]:
                    w, h = self.size[m]
                    self.inner[m] = (x, y + (row_h[r] - h) / 2)
                    x += w + _INNER_GAP
                y += row_h[r] + _INNER_GAP
            self.bsize[bid] = (inner_w + 2 * _CPAD, y - _INNER_GAP + _CPAD)

    # -- layering ------------------------------------------------------------------------------------
    def _rank(self):
        g = self.g
        succ = defaultdict(list)
        pred = defaultdict(list)
        self.bedges = []
        seen = set()
        for s, d, _ in g.edges:
            bs, bd = self.block_of[s], self.block_of[d]
            if bs != bd and (bs, bd) not in seen:
                seen.add((bs, bd))
                self.bedges.append((bs, bd))
        # Break cycles (a kernel that is not convex in the layer graph, say): DFS in block order.
        out = defaultdict(list)
        for bs, bd in self.bedges:
            out[bs].append(bd)
        state = {}
        self.back = set()
        for root in self.block_order:
            if root in state:
                continue
            stack = [(root, iter(out[root]))]
            state[root] = 1
            while stack:
                v, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    state[v] = 2
                    stack.pop()
                elif state.get(nxt) == 1:
                    self.back.add((v, nxt))
                elif nxt not in state:
                    state[nxt] = 1
                    stack.append((nxt, iter(out[nxt])))
        for bs, bd in self.bedges:
            if (bs, bd) in self.back:
                continue
            succ[bs].append(bd)
            pred[bd].append(bs)
        # Topological order (Kahn, ties by block order), longest path from the sources.
        indeg = {b: len(pred[b]) for b in self.blocks}
        pos = {b: i for i, b in enumerate(self.block_order)}
        import heapq
        heap = [(pos[b], b) for b in self.blocks if indeg[b] == 0]
        heapq.heapify(heap)
        topo = []
        while heap:
            _, b = heapq.heappop(heap)
            topo.append(b)
            for d in succ[b]:
                indeg[d] -= 1
                if indeg[d] == 0:
                    heapq.heappush(heap, (pos[d], d))
        rank = {}
        for b in topo:
            rank[b] = 1 + max([rank[p] for p in pred[b]], default=-1)
        # Pull nodes down towards their successors (shorter edges), sources included.
        for b in reversed(topo):
            if succ[b]:
                rank[b] = max(rank[b], min(rank[d] for d in succ[b]) - 1)
        self.rank = rank
        self.succ, self.pred = succ, pred
        self.nranks = max(rank.values(), default=-1) + 1

    def _dummies(self):
        self.units = {b: {"w": self.bsize[b][0], "h": self.bsize[b][1], "dummy": False} for b in self.blocks}
        self.up = defaultdict(list)
        self.down = defaultdict(list)
        self.chain = {}  # (bs, bd) -> [dummy ids]
        n = 0
        for bs, bd in self.bedges:
            if (bs, bd) in self.back:
                continue
            rs, rd = self.rank[bs], self.rank[bd]
            prev = bs
            chain = []
            for r in range(rs + 1, rd):
                did = f"~{n}"
                n += 1
                self.units[did] = {"w": _DUMMY_W, "h": 0.0, "dummy": True}
                self.rank[did] = r
                self.down[prev].append(did)
                self.up[did].append(prev)
                chain.append(did)
                prev = did
            self.down[prev].append(bd)
            self.up[bd].append(prev)
            self.chain[(bs, bd)] = chain

    # -- ordering within ranks -------------------------------------------------------------------------
    def _order(self):
        ranks = [[] for _ in range(self.nranks)]
        # initial order: DFS from the sources in definition order (keeps branches together)
        seen = set()
        order_key = {}
        counter = [0]

        def visit(u):
            stack = [u]
            while stack:
                v = stack.pop()
                if v in seen:
                    continue
                seen.add(v)
                order_key[v] = counter[0]
                counter[0] += 1
                stack.extend(reversed(self.down[v]))

        for b in self.block_order:
            if not self.up[b]:
                visit(b)
        for u in self.units:
            if u not in seen:
                visit(u)
        for u in sorted(self.units, key=lambda u: order_key[u]):
            ranks[self.rank[u]].append(u)
        best = [list(r) for r in ranks]
        best_cross = self._crossings(ranks)
        for it in range(12):
            if it % 2 == 0:
                for r in range(1, self.nranks):
                    self._sort_rank(ranks, r, self.up, r - 1)
            else:
                for r in range(self.nranks - 2, -1, -1):
                    self._sort_rank(ranks, r, self.down, r + 1)
            c = self._crossings(ranks)
            if c < best_cross:
                best_cross, best = c, [list(x) for x in ranks]
        self.ranks = best
        self.crossings = best_cross

    def _sort_rank(self, ranks, r, nbrs, ref):
        pos = {u: i for i, u in enumerate(ranks[ref])}
        cur = {u: i for i, u in enumerate(ranks[r])}

        def key(u):
            ps = [pos[p] for p in nbrs[u] if p in pos]
            return (sum(ps) / len(ps)) if ps else cur[u]

        ranks[r] = sorted(ranks[r], key=lambda u: (key(u), cur[u]))

    def _crossings(self, ranks):
        total = 0
        for r in range(len(ranks) - 1):
            pos_a = {u: i for i, u in enumerate(ranks[r])}
            pos_b = {u: i for i, u in enumerate(ranks[r + 1])}
            es = sorted((pos_a[u], pos_b[v]) for u in ranks[r] for v in self.down[u] if v in pos_b)
            for i in range(len(es)):
                for j in range(i + 1, len(es)):
                    if es[i][0] < es[j][0] and es[i][1] > es[j][1]:
                        total += 1
        return total

    # -- coordinates ------------------------------------------------------------------------------------
    def _place_rank(self, r, desired):
        units = self.ranks[r]
        if not units:
            return
        offs = [0.0]
        for a, b in zip(units, units[1:]):
            gap = _NODE_GAP if not (self.units[a]["dummy"] and self.units[b]["dummy"]) else 8.0
            offs.append(offs[-1] + (self.units[a]["w"] + self.units[b]["w"]) / 2 + gap)
        targets = [desired[u] - o for u, o in zip(units, offs)]
        weights = [1.0 if not self.units[u]["dummy"] else 1.5 for u in units]
        fit = _pava(targets, weights)
        for u, f, o in zip(units, fit, offs):
            self.x[u] = f + o

    def _place_x(self):
        self.x = {}
        for r, units in enumerate(self.ranks):
            x = 0.0
            for u in units:
                w = self.units[u]["w"]
                self.x[u] = x + w / 2
                x += w + _NODE_GAP
        # centre every rank on the widest one first
        widest = max((self.x[rk[-1]] + self.units[rk[-1]]["w"] / 2 for rk in self.ranks if rk), default=0.0)
        for units in self.ranks:
            if units:
                span = self.x[units[-1]] + self.units[units[-1]]["w"] / 2
                for u in units:
                    self.x[u] += (widest - span) / 2
        for it in range(16):
            if it % 2 == 0:
                rng, nbrs = range(1, self.nranks), self.up
            else:
                rng, nbrs = range(self.nranks - 2, -1, -1), self.down
            for r in rng:
                desired = {}
                for u in self.ranks[r]:
                    ps = [self.x[p] for p in nbrs[u]]
                    other = [self.x[p] for p in (self.down if nbrs is self.up else self.up)[u]]
                    if ps and other and it >= 8:
                        desired[u] = 0.5 * (sum(ps) / len(ps)) + 0.5 * (sum(other) / len(other))
                    elif ps:
                        desired[u] = sum(ps) / len(ps)
                    else:
                        desired[u] = self.x[u]
                self._place_rank(r, desired)
        left = min((self.x[u] - self.units[u]["w"] / 2 for u in self.units), default=0.0)
        for u in self.x:
            self.x[u] -= left

    def _place_y(self):
        self.rank_top = []
        self.rank_h = []
        y = 0.0
        for units in self.ranks:
            h = max((self.units[u]["h"] for u in units), default=0.0)
            self.rank_top.append(y)
            self.rank_h.append(h)
            y += h + _RANK_GAP
        self.height = y - _RANK_GAP
        self.width = max((self.x[u] + self.units[u]["w"] / 2 for u in self.units), default=0.0)
        self.box = {}  # block -> (x0, y0, w, h)
        for b in self.blocks:
            r = self.rank[b]
            w, h = self.bsize[b]
            self.box[b] = (self.x[b] - w / 2, self.rank_top[r] + (self.rank_h[r] - h) / 2, w, h)
        self.node_box = {}
        for nid in self.g.nodes:
            b = self.block_of[nid]
            x0, y0, _, _ = self.box[b]
            dx, dy = self.inner[nid]
            w, h = self.size[nid]
            self.node_box[nid] = (x0 + dx, y0 + dy, w, h)

    # -- edges -------------------------------------------------------------------------------------
    def _route(self, src, dst):
        """Points between the two nodes' ports (ports are filled in later)."""
        bs, bd = self.block_of[src], self.block_of[dst]
        if bs == bd:
            return [], False
        mid = []
        if (bs, bd) not in self.back and (bs, bd) in self.chain:
            for d in self.chain[(bs, bd)]:
                r = self.rank[d]
                mid.append((self.x[d], self.rank_top[r]))
                mid.append((self.x[d], self.rank_top[r] + self.rank_h[r]))
        return mid, (bs, bd) in self.back

    def _ports(self):
        """Spreads the ends of several edges leaving (entering) one node along its bottom (top) side."""
        outs, ins = defaultdict(list), defaultdict(list)
        self.routes = []
        for i, (s, d, _) in enumerate(self.g.edges):
            self.routes.append(self._route(s, d))
            outs[s].append(i)
            ins[d].append(i)

        def centre(nid):
            x0, _, w, _ = self.node_box[nid]
            return x0 + w / 2

        def spread(nid, edges, key):
            x0, _, w, _ = self.node_box[nid]
            edges = sorted(edges, key=key)
            n = len(edges)
            span = min(w * 0.7, 16.0 * (n - 1))
            return {e: x0 + w / 2 + (0.0 if n == 1 else (k / (n - 1) - 0.5) * span) for k, e in enumerate(edges)}

        self.out_port, self.in_port = {}, {}
        for nid, es in outs.items():
            self.out_port.update(spread(nid, es, lambda i: (self.routes[i][0][0][0] if self.routes[i][0]
                                                           else centre(self.g.edges[i][1]))))
        for nid, es in ins.items():
            self.in_port.update(spread(nid, es, lambda i: (self.routes[i][0][-1][0] if self.routes[i][0]
                                                          else centre(self.g.edges[i][0]))))

    def edge_points(self, i):
        src, dst, _ = self.g.edges[i]
        sx, sy, sw, sh = self.node_box[src]
        tx, ty, tw, th = self.node_box[dst]
        p0 = (self.out_port[i], sy + sh)
        p1 = (self.in_port[i], ty)
        bs, bd = self.block_of[src], self.block_of[dst]
        if bs == bd:
            return [p0, p1], False
        mid, back = self.routes[i]
        pts = [p0]
        if self.blocks[bs]["cluster"] is not None:
            bx, by, bw, bh = self.box[bs]
            pts.append((p0[0], by + bh))
        pts.extend(mid)
        if self.blocks[bd]["cluster"] is not None:
            bx, by, bw, bh = self.box[bd]
            pts.append((p1[0], by))
        pts.append(p1)
        return pts, back


_HALO = 'stroke="#ffffff" stroke-width="3" paint-order="stroke" stroke-linejoin="round"'


def _esc(text):
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;"))


def _path(pts, back):
    d = [f"M{pts[0][0]:.1f},{pts[0][1]:.1f}"]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if back or abs(x1 - x0) < 0.5:
            d.append(f"L{x1:.1f},{y1:.1f}")
        else:
            dy = (y1 - y0) / 2
            d.append(f"C{x0:.1f},{y0 + dy:.1f} {x1:.1f},{y1 - dy:.1f} {x1:.1f},{y1:.1f}")
    return " ".join(d)


def _svg_python(graph):
    lay = _Layout(graph)
    margin = 16.0
    header_lines = [graph.title] + graph.legend
    header_h = 22.0 + 14.0 * len(graph.legend) + 10.0
    header_w = max([_text_w(graph.title, 15)] + [_text_w(t, 10.5) for t in graph.legend]) + 2 * margin
    width = max(lay.width + 2 * margin, header_w)
    height = lay.height + header_h + 2 * margin
    ox = margin + (width - 2 * margin - lay.width) / 2
    oy = margin + header_h
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif">',
           "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" "
           "markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/>"
           "</marker></defs>",
           f'<rect x="0" y="0" width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
           f'<text x="{margin}" y="{margin + 14}" font-size="15" font-weight="bold">{_esc(header_lines[0])}</text>']
    for i, t in enumerate(graph.legend):
        out.append(f'<text x="{margin}" y="{margin + 32 + 14 * i}" font-size="10.5" fill="#444">{_esc(t)}</text>')
    out.append(f'<g transform="translate({ox:.1f},{oy:.1f})">')
    # clusters
    for bid, b in lay.blocks.items():
        c = b["cluster"]
        if c is None:
            continue
        x0, y0, w, h = lay.box[bid]
        out.append(f'<g class="cluster" id="{_esc(c.id)}"><title>{_esc(c.tooltip or c.label)}</title>'
                   f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{w:.1f}" height="{h:.1f}" rx="8" ry="8" '
                   f'fill="{_CLUSTER_FILL}" stroke="{_KERNEL_COLOR}" stroke-width="1.3"/></g>')
    # edges
    labels = []
    for i, (src, dst, label) in enumerate(graph.edges):
        pts, back = lay.edge_points(i)
        dash = 'stroke-dasharray="4,3" ' if back else ""
        out.append(f'<path class="edge" d="{_path(pts, back)}" fill="none" stroke="#555" stroke-width="1" '
                   f'{dash}marker-end="url(#arrow)"/>')
        if label:
            labels.append(f'<text x="{pts[0][0] + 3:.1f}" y="{pts[0][1] + 10:.1f}" font-size="8.5" fill="#7a6000" '
                          f'{_HALO}>{_esc(label)}</text>')
    # cluster labels and edge labels over the edges, with a halo so that crossing edges do not hide them
    for bid, b in lay.blocks.items():
        c = b["cluster"]
        if c is not None:
            x0, y0, w, h = lay.box[bid]
            out.append(f'<text x="{x0 + _CPAD:.1f}" y="{y0 + _CPAD + _SMALL:.1f}" font-size="{_SMALL}" '
                       f'fill="{_KERNEL_COLOR}" stroke="{_CLUSTER_FILL}" stroke-width="3" paint-order="stroke" '
                       f'stroke-linejoin="round">{_esc(c.label)}</text>')
    out.extend(labels)
    # nodes
    for nid, n in graph.nodes.items():
        x0, y0, w, h = lay.node_box[nid]
        rx = 2 if n.kind in ("input", "output") else 5
        sw = 2.2 if n.bold_border else 1.0
        dash = ' stroke-dasharray="5,3"' if n.dashed else ""
        out.append(f'<g class="node"><title>{_esc(n.tooltip or nid)}</title>'
                   f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{rx}" ry="{rx}" '
                   f'fill="{n.fill}" stroke="{n.stroke}" stroke-width="{sw}"{dash}/>')
        y = y0 + _PADY
        for text, style in n.lines:
            if not text:
                continue
            size = _SMALL if style == "small" else _FONT
            y += size * _LINE
            weight = ' font-weight="bold"' if style == "type" else ""
            fill = "#555" if style == "small" else "#111"
            out.append(f'<text x="{x0 + w / 2:.1f}" y="{y - size * 0.3:.1f}" font-size="{size}" '
                       f'text-anchor="middle" fill="{fill}"{weight}>{_esc(text)}</text>')
        out.append("</g>")
    out.append("</g></svg>")
    return "\n".join(out) + "\n"


def _svg_dot(dot_text, timeout=300):
    proc = subprocess.run(["dot", "-Tsvg"], input=dot_text.encode(), capture_output=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"dot failed ({proc.returncode}): {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout.decode("utf-8")


def to_svg(graph, renderer="auto"):
    """SVG text; renderer "dot" (Graphviz), "python" (built-in layout) or "auto" (dot when on PATH)."""
    if renderer not in ("auto", "dot", "python"):
        raise ValueError(f"unknown renderer '{renderer}' (use auto, dot or python)")
    if renderer == "dot" or (renderer == "auto" and dot_available()):
        if not dot_available():
            raise RuntimeError("Graphviz 'dot' is not on PATH (apt-get install graphviz), use --renderer python")
        return _svg_dot(to_dot(graph))
    return _svg_python(graph)


def png_converter():
    """What can write PNG here: "dot" (Graphviz lays the graph out and rasterizes it), "rsvg-convert" (rasterizes
    gie's own SVG), or None."""
    if dot_available():
        return "dot"
    return "rsvg-convert" if shutil.which("rsvg-convert") else None


def to_png(graph, renderer="auto", timeout=300):
    """PNG bytes, through Graphviz ``dot -Tpng`` (renderer auto/dot, when on PATH) or ``rsvg-convert`` on the SVG of
    the built-in layout; RuntimeError when neither tool is there."""
    tool = png_converter()
    if tool is None or (renderer == "dot" and tool != "dot"):
        raise RuntimeError("writing PNG needs Graphviz 'dot' (apt-get install graphviz) or 'rsvg-convert' (apt-get "
                           "install librsvg2-bin) on PATH")
    if tool == "dot" and renderer != "python":
        cmd, data = ["dot", "-Tpng"], to_dot(graph).encode()
    elif shutil.which("rsvg-convert"):
        cmd, data = ["rsvg-convert", "--format", "png"], _svg_python(graph).encode()
    else:
        raise RuntimeError("--renderer python with PNG needs 'rsvg-convert' (apt-get install librsvg2-bin) on PATH")
    proc = subprocess.run(cmd, input=data, capture_output=True, timeout=timeout)
    if proc.returncode != 0 or not proc.stdout.startswith(b"\x89PNG"):
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def render(layer_info, view="both", fmt="svg", renderer="auto", title=None):
    """SVG or DOT text of one view of a build report (``engine.layer_info()``)."""
    g = build_graph(layer_info, view, title=title)
    if fmt == "dot":
        return to_dot(g)
    if fmt == "svg":
        return to_svg(g, renderer)
    raise ValueError(f"unknown format '{fmt}' (use svg or dot)")
