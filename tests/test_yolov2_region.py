"""The YOLOv2 Region plugin (samples/yolov2): its detections against gie's numpy decode_region + the numpy NMS
below (darknet's do_nms_sort with the plugin's fixed tie order), on random feature maps and on hand-made maps
for NMS ties and IoU edge cases; its fields and engine files; the Darknet importer's [region] mapping.

The plugin library is built with CMake against the installed package (skipped without cmake or a compiler).
Loading it registers "Region" for the rest of the process, and the Darknet importer then maps every [region]
to it, so everything that needs it runs in a child process (this file, run as a script) and the pytest process
keeps today's behaviour for the other tests.
"""
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gie
from gie.parsers.darknet_parser import decode_region

HERE = os.path.dirname(os.path.abspath(__file__))
REGION_SRC = os.path.join(os.path.dirname(HERE), "samples", "yolov2")
OUTPUTS = ("boxes", "scores", "classes", "count")
EPS = 1e-5  # float32 (plugin) and float64 (numpy) agree on every decision farther than this from its boundary


# ---- the numpy reference -----------------------------------------------------------------------------------

def box_iou(a, b):
    """darknet's box_iou (box.c) for box a (4,) against boxes b (M, 4), centre/size form, float64; 0 where
    darknet divides 0 by 0."""
    def overlap(x1, w1, x2, w2):
        return np.minimum(x1 + w1 / 2, x2 + w2 / 2) - np.maximum(x1 - w1 / 2, x2 - w2 / 2)
    w = overlap(a[0], a[2], b[:, 0], b[:, 2])
    h = overlap(a[1], a[3], b[:, 1], b[:, 3])
    inter = np.where((w < 0) | (h < 0), 0.0, w * h)
    union = a[2] * a[3] + b[:, 2] * b[:, 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def reference_detections(decoded, threshold, nms_threshold, max_detections):
    """decoded: (A*H*W, 5 + classes) of one image (decode_region). Returns (rows, margin): rows = [(score, box
    index, class)] in the plugin's order (score descending, then box, then class), at most max_detections; margin
    = how far the closest decision (threshold, IoU vs nms_threshold, the order of two boxes that suppress one
    another, the cut at max_detections) is from flipping."""
    boxes = decoded[:, :4].astype(np.float64)
    probs = decoded[:, 5:].astype(np.float64)
    margin = np.inf  # relative to the values compared, as float32 rounding is
    if probs.size:
        margin = (np.abs(probs - threshold) / np.maximum(np.maximum(probs, threshold), 1e-30)).min()
    kept = []
    for k in range(probs.shape[1]):
        p = probs[:, k]
        idx = np.nonzero(p > threshold)[0]
        order = idx[np.lexsort((idx, -p[idx]))]
        suppressed = np.zeros(len(order), bool)
        for i in range(len(order)):
            if suppressed[i]:
                continue
            kept.append((p[order[i]], int(order[i]), k))
            rest = np.nonzero(~suppressed[i + 1:])[0] + i + 1
            if len(rest):
                iou = box_iou(boxes[order[i]], boxes[order[rest]])
                margin = min(margin, np.abs(iou - nms_threshold).min())
                hit = iou > nms_threshold
                if hit.any():  # equal scores are ordered by index on both sides; near-equal ones could swap
                    gaps = (p[order[i]] - p[order[rest[hit]]]) / p[order[i]]
                    gaps = gaps[gaps > 0]
                    if len(gaps):
                        margin = min(margin, gaps.min())
                suppressed[rest[hit]] = True
    kept.sort(key=lambda r: (-r[0], r[1], r[2]))
    if len(kept) > max_detections and kept[max_detections - 1][0] != kept[max_detections][0]:
        margin = min(margin, (kept[max_detections - 1][0] - kept[max_detections][0]) / kept[max_detections - 1][0])
    return kept[:max_detections], margin


def region_options(fields):
    """The [region] options dict of decode_region for the plugin fields."""
    return {"num": fields["num"], "classes": fields["classes"], "coords": 4, "softmax": fields.get("softmax", 0),
            "anchors": ",".join(repr(float(a)) for a in fields["anchors"])}


def check_against_reference(raw, fields, got, options=None, net_size=None):
    """Compares the plugin's outputs `got` for the raw map with decode_region + reference_detections."""
    threshold, nms = fields.get("threshold", 0.24), fields.get("nms_threshold", 0.45)
    max_det = fields.get("max_detections", 100)
    decoded = decode_region(raw, options or region_options(fields), net_size=net_size)
    n = raw.shape[0]
    assert got["boxes"].shape == (n, max_det, 4) and got["boxes"].dtype == np.float32
    assert got["scores"].shape == (n, max_det) and got["scores"].dtype == np.float32
    assert got["classes"].shape == (n, max_det) and got["classes"].dtype == np.int32
    assert got["count"].shape == (n,) and got["count"].dtype == np.int32
    counts = []
    for i in range(n):
        rows, margin = reference_detections(decoded[i], threshold, nms, max_det)
        assert margin > EPS, f"image {i}: a decision lies {margin:g} from its boundary: pick another input"
        count = int(got["count"][i])
        assert count == len(rows), (i, count, len(rows))
        ref_scores = np.array([r[0] for r in rows])
        ref_boxes = decoded[i, [r[1] for r in rows], :4].reshape(-1, 4)
        ref_classes = np.array([r[2] for r in rows], np.int32)
        np.testing.assert_allclose(got["scores"][i, :count], ref_scores, rtol=1e-5, atol=1e-6)
        # Same rows in the same order; rows whose scores differ by less than float32 resolution may swap.
        for j in range(count):
            same = np.nonzero(np.abs(ref_scores - got["scores"][i, j]) <= 1e-6 + 1e-5 * ref_scores)[0]
            ok = [m for m in same if ref_classes[m] == got["classes"][i, j] and
                  np.allclose(got["boxes"][i, j], ref_boxes[m], rtol=1e-5, atol=1e-6)]
            assert ok, (i, j, got["boxes"][i, j], got["classes"][i, j], ref_boxes[same], ref_classes[same])
        # Rows past the count are blank.
        assert not got["boxes"][i, count:].any() and not got["scores"][i, count:].any()
        assert (got["classes"][i, count:] == -1).all()
        counts.append(count)
    return counts


# ---- the child process: loads the library and runs cases ---------------------------------------------------

def _engine(net, device, max_batch):
    builder = gie.Builder()
    config = builder.create_config()
    config.device = device
    config.max_batch = max_batch
    return builder.build(net, config)


def _outputs(engine, feeds, names):
    out = engine.create_execution_context().execute(feeds)
    return {k: np.asarray(out[name]) for k, name in zip(OUTPUTS, names)}


def _run_case(case, tmp):
    kind = case["kind"]
    if kind == "plugin":
        raw = case["raw"]
        builder = gie.Builder()
        net = builder.create_network()
        x = net.add_input("x", gie.float32, raw.shape)
        layer = net.add_plugin("Region", [x], case["fields"])
        for i, name in enumerate(OUTPUTS):
            net.mark_output(layer.output(i), name)
        engine = _engine(net, case["device"], raw.shape[0])
        got = _outputs(engine, {"x": raw}, OUTPUTS)
        if case.get("reload"):  # the engine file round trip, and a smaller batch than the largest
            path = os.path.join(tmp, "region.gie")
            engine.save(path)
            loaded = gie.Runtime().load(path)
            got["reloaded"] = _outputs(loaded, {"x": raw}, OUTPUTS)
            got["first"] = _outputs(loaded, {"x": raw[:1]}, OUTPUTS)
        return got
    if kind == "fields":
        builder = gie.Builder()
        net = builder.create_network()
        x = net.add_input("x", gie.float32, case["shape"])
        try:
            net.add_plugin("Region", [x], case["fields"])
        except gie.Error as e:
            return (type(e).__name__, str(e))
        return None
    if kind == "tamper":  # the engine file with the plugin's serialized fields changed, checksums fixed
        from engine_layout import fix_crcs
        raw = np.zeros(case["shape"], np.float32)
        builder = gie.Builder()
        net = builder.create_network()
        x = net.add_input("x", gie.float32, raw.shape)
        layer = net.add_plugin("Region", [x], case["fields"])
        for i, name in enumerate(OUTPUTS):
            net.mark_output(layer.output(i), name)
        data = _engine(net, "cpu", 1).serialize()
        f = case["fields"]
        fixed = struct.pack("<I5i2f", 1, f["num"], f["classes"], 4, f["softmax"], f["max_detections"], f["threshold"],
                            f["nms_threshold"])
        assert data.count(fixed) == 1
        at = data.index(fixed)
        results = []
        for offset, fmt, value in case["mutations"]:
            bad = bytearray(data)
            struct.pack_into(fmt, bad, at + offset, value)
            try:
                gie.Runtime().deserialize(fix_crcs(bytes(bad)))
                results.append(None)
            except gie.Error as e:
                results.append((type(e).__name__, str(e)))
        return results
    if kind == "darknet":
        parser = gie.parsers.darknet_parser.DarknetParser(seed=case["seed"], batch=case["image"].shape[0])
        net = parser.parse_text(case["cfg"])
        layers = [net.get_layer(i) for i in range(net.num_layers)]
        for layer in layers:
            if layer.type == "Region":
                for k, v in case.get("set", {}).items():
                    setattr(layer, k, v)
        engine = _engine(net, case["device"], case["image"].shape[0])
        out = engine.create_execution_context().execute({"data": case["image"]})
        return {"heads": [h[:2] for h in parser.heads], "outputs": {k: np.asarray(v) for k, v in out.items()},
                "region_layers": [(la.name, la.num, la.classes, la.softmax, np.asarray(la.anchors))
                                  for la in layers if la.type == "Region"]}
    raise ValueError(kind)


def _child(lib, cases_path, out_path):
    gie.load_library(lib)
    with open(cases_path, "rb") as f:
        cases = pickle.load(f)
    results = [_run_case(c, os.path.dirname(out_path)) for c in cases]
    with open(out_path, "wb") as f:
        pickle.dump(results, f)


def run_cases(lib, cases, tmp_path):
    """Runs the cases in a child process that loaded the plugin library; returns their results."""
    from test_samples import gie_env
    cases_path, out_path = tmp_path / "cases.pkl", tmp_path / "results.pkl"
    with open(cases_path, "wb") as f:
        pickle.dump(cases, f)
    proc = subprocess.run([sys.executable, __file__, "--child", lib, str(cases_path), str(out_path)],
                          capture_output=True, text=True, env=gie_env(), timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(out_path, "rb") as f:
        return pickle.load(f)


# ---- fixtures ----------------------------------------------------------------------------------------------

GPU = gie.build_info()["gpu_available"]


@pytest.fixture(scope="module")
def region_lib(tmp_path_factory):
    """samples/yolov2 built with CMake: with its CUDA kernel where a GPU is usable (the GPU tests need it)."""
    from test_samples import _build_cpp_sample
    cc = (gie.build_info()["compute_capability"] or "").replace(".", "")
    args = ["-DREGION_CUDA=ON", f"-DCMAKE_CUDA_ARCHITECTURES={cc}"] if GPU else ["-DREGION_CUDA=OFF"]
    return str(_build_cpp_sample(Path(REGION_SRC), tmp_path_factory.mktemp("region") / "build", "libregion_plugin.so", args))


DEVICES = ["cpu", pytest.param("gpu", marks=pytest.mark.gpu)]

VOC_ANCHORS = [1.3221, 1.73145, 3.19275, 4.00944, 5.05587, 8.09892, 9.47112, 4.84053, 11.2364, 10.0071]


def random_map(seed, n, num, classes, h, w, scale=2.0, objectness=None):
    rng = np.random.default_rng(seed)
    raw = (rng.standard_normal((n, num, 5 + classes, h, w)) * scale).astype(np.float32)
    if objectness is not None:
        raw[:, :, 4] = objectness
    return raw.reshape(n, num * (5 + classes), h, w)


# ---- random feature maps against numpy ---------------------------------------------------------------------

# (name, batch, fields, map): "typical" at darknet's default thresholds, "none" where no score passes, "many"
# at threshold 0 (every box and class is a candidate: NMS alone decides), "cut" with more survivors than
# max_detections, "logistic" with softmax=0.
RANDOM_CASES = [
    ("typical", 1, dict(num=5, classes=20, softmax=1, anchors=VOC_ANCHORS), dict(seed=1, h=7, w=9, scale=1.0)),
    ("typical", 13, dict(num=5, classes=20, softmax=1, anchors=VOC_ANCHORS), dict(seed=2, h=5, w=5, scale=1.0)),
    ("none", 1, dict(num=5, classes=20, softmax=1, anchors=VOC_ANCHORS), dict(seed=3, h=7, w=7, objectness=-30.0)),
    ("none", 13, dict(num=5, classes=20, softmax=1, anchors=VOC_ANCHORS, threshold=0.9), dict(seed=4, h=4, w=4, scale=0.5)),
    ("many", 1, dict(num=5, classes=6, softmax=1, anchors=VOC_ANCHORS, threshold=0.0, max_detections=2000),
     dict(seed=5, h=6, w=6)),
    ("many", 13, dict(num=3, classes=4, softmax=0, anchors=VOC_ANCHORS[:6], threshold=0.05, nms_threshold=0.3,
                      max_detections=400), dict(seed=6, h=5, w=6)),
    ("cut", 2, dict(num=5, classes=8, softmax=1, anchors=VOC_ANCHORS, threshold=0.02, max_detections=7),
     dict(seed=7, h=6, w=5)),
    ("logistic", 3, dict(num=2, classes=3, softmax=0, anchors=[0.5, 1.0, 2.0, 3.0], threshold=0.5, nms_threshold=0.6,
                          max_detections=300),
     dict(seed=8, h=8, w=8)),
]


@pytest.mark.parametrize("device", DEVICES)
def test_random_maps_match_numpy(region_lib, tmp_path, device):
    cases = []
    for name, batch, fields, spec in RANDOM_CASES:
        raw = random_map(n=batch, num=fields["num"], classes=fields["classes"], **spec)
        cases.append(dict(kind="plugin", raw=raw, fields=fields, device=device, reload=name == "typical" and batch > 1))
    results = run_cases(region_lib, cases, tmp_path)
    for (name, batch, fields, _), case, got in zip(RANDOM_CASES, cases, results):
        counts = check_against_reference(case["raw"], fields, got)
        max_det = fields.get("max_detections", 100)
        if name == "none":
            assert counts == [0] * batch
        elif name == "cut":
            assert counts == [max_det] * batch  # more survivors than rows
        else:
            assert all(0 < c < max_det for c in counts), (name, counts)
        if name == "many":
            assert sum(counts) > 50 * batch
        if case["reload"]:
            for k in OUTPUTS:
                np.testing.assert_array_equal(got["reloaded"][k], got[k])
                np.testing.assert_array_equal(got["first"][k], got[k][:1])


# ---- NMS ties and IoU edge cases on hand-made maps ---------------------------------------------------------

def edge_map(boxes, num, classes=2, h=4, w=4):
    """A (1, num*(5+classes), h, w) map where every box has objectness logit -30 (no detection) except
    boxes = [(anchor, row, col, tx, ty, objectness logit, class logits)]; tw = th = 0, so a box's size is its
    anchor / grid size exactly."""
    raw = np.zeros((1, num, 5 + classes, h, w), np.float32)
    raw[:, :, 4] = -30.0
    for a, row, col, tx, ty, obj, logits in boxes:
        raw[0, a, 0, row, col] = tx
        raw[0, a, 1, row, col] = ty
        raw[0, a, 4, row, col] = obj
        raw[0, a, 5:, row, col] = logits
    return raw.reshape(1, num * (5 + classes), h, w)


def box_index(a, row, col, h=4, w=4):
    return a * h * w + row * w + col


# (name, fields, boxes, expected rows as (box index, class) in order)
EDGE_CASES = [
    # Two anchors at one cell, boxes 1x1 and 2x1 cells: IoU exactly 0.5; equal scores (same logits) for both
    # classes. IoU 0.5 does not exceed nms_threshold 0.5: all four rows, ordered by box, then class.
    ("iou_equals_threshold", dict(num=2, classes=2, softmax=1, anchors=[1, 1, 2, 1], threshold=0.3, nms_threshold=0.5),
     [(0, 1, 1, 0.0, 0.0, 4.0, [0, 0]), (1, 1, 1, 0.0, 0.0, 4.0, [0, 0])],
     [(box_index(0, 1, 1), 0), (box_index(0, 1, 1), 1), (box_index(1, 1, 1), 0), (box_index(1, 1, 1), 1)]),
    # Just below: the tie is broken by box index, so anchor 0's box stays in both classes (classes never
    # suppress each other).
    ("tie_lower_index_wins", dict(num=2, classes=2, softmax=1, anchors=[1, 1, 2, 1], threshold=0.3, nms_threshold=0.499),
     [(0, 1, 1, 0.0, 0.0, 4.0, [0, 0]), (1, 1, 1, 0.0, 0.0, 4.0, [0, 0])],
     [(box_index(0, 1, 1), 0), (box_index(0, 1, 1), 1)]),
    # The same with the larger box on anchor 0: still anchor 0 (the index decides, not the size).
    ("tie_lower_index_wins_swapped", dict(num=2, classes=2, softmax=1, anchors=[2, 1, 1, 1], threshold=0.3, nms_threshold=0.499),
     [(0, 1, 1, 0.0, 0.0, 4.0, [0, 0]), (1, 1, 1, 0.0, 0.0, 4.0, [0, 0])],
     [(box_index(0, 1, 1), 0), (box_index(0, 1, 1), 1)]),
    # A higher score beats the index: anchor 1 has the higher objectness.
    ("score_beats_index", dict(num=2, classes=2, softmax=1, anchors=[1, 1, 2, 1], threshold=0.3, nms_threshold=0.499),
     [(0, 1, 1, 0.0, 0.0, 3.0, [5, 0]), (1, 1, 1, 0.0, 0.0, 4.0, [5, 0])],
     [(box_index(1, 1, 1), 0)]),
    # Boxes that only touch (IoU 0) survive even nms_threshold 0; so do empty boxes (anchors 0: 0/0 in darknet).
    ("touching_and_empty", dict(num=3, classes=2, softmax=1, anchors=[1, 1, 0, 0, 0, 0], threshold=0.3, nms_threshold=0.0),
     [(0, 1, 1, 0.0, 0.0, 4.0, [5, 0]), (0, 1, 2, 0.0, 0.0, 3.0, [5, 0]), (0, 2, 1, 0.0, 0.0, 2.0, [5, 0]),
      (1, 3, 3, 0.0, 0.0, 4.0, [5, 0]), (2, 3, 3, 0.0, 0.0, 4.0, [5, 0])],
     [(box_index(0, 1, 1), 0), (box_index(1, 3, 3), 0), (box_index(2, 3, 3), 0), (box_index(0, 1, 2), 0),
      (box_index(0, 2, 1), 0)]),
    # Identical boxes (two equal anchors): IoU 1 never exceeds nms_threshold 1 ...
    ("identical_nms_1", dict(num=2, classes=2, softmax=1, anchors=[1, 1, 1, 1], threshold=0.3, nms_threshold=1.0),
     [(0, 0, 0, 0.0, 0.0, 2.0, [5, 0]), (1, 0, 0, 0.0, 0.0, 4.0, [5, 0])],
     [(box_index(1, 0, 0), 0), (box_index(0, 0, 0), 0)]),
    # ... but exceeds 0.99.
    ("identical_nms_099", dict(num=2, classes=2, softmax=1, anchors=[1, 1, 1, 1], threshold=0.3, nms_threshold=0.99),
     [(0, 0, 0, 0.0, 0.0, 2.0, [5, 0]), (1, 0, 0, 0.0, 0.0, 4.0, [5, 0])],
     [(box_index(1, 0, 0), 0)]),
    # A chain A > B > C (2x2-cell boxes one cell apart: IoU(A,B) = IoU(B,C) = 1/3, IoU(A,C) = 0): A suppresses B,
    # and B, suppressed, no longer suppresses C.
    ("suppressed_box_does_not_suppress", dict(num=1, classes=2, softmax=1, anchors=[2, 2], threshold=0.3, nms_threshold=0.3),
     [(0, 1, 0, 0.0, 0.0, 4.0, [5, 0]), (0, 1, 1, 0.0, 0.0, 3.0, [5, 0]), (0, 1, 2, 0.0, 0.0, 2.0, [5, 0])],
     [(box_index(0, 1, 0), 0), (box_index(0, 1, 2), 0)]),
]


@pytest.mark.parametrize("device", DEVICES)
def test_nms_ties_and_iou_edges(region_lib, tmp_path, device):
    cases = [dict(kind="plugin", raw=edge_map(boxes, fields["num"]), fields=fields, device=device)
             for _, fields, boxes, _ in EDGE_CASES]
    results = run_cases(region_lib, cases, tmp_path)
    for (name, fields, boxes, expected), case, got in zip(EDGE_CASES, cases, results):
        decoded = decode_region(case["raw"], region_options(fields))[0]
        rows, _ = reference_detections(decoded, fields["threshold"], fields["nms_threshold"], 100)
        assert [(b, k) for _, b, k in rows] == expected, (name, "numpy reference", rows)
        count = int(got["count"][0])
        assert count == len(expected), (name, count)
        # The exact rows in the exact order: boxes and scores bit-identical to the decoded ones where the
        # arithmetic is exact (sigmoid(0) = 0.5, exp(0) = 1, power-of-two grid), classes as expected.
        np.testing.assert_array_equal(got["classes"][0, :count], [k for _, k in expected], err_msg=name)
        np.testing.assert_allclose(got["boxes"][0, :count], decoded[[b for b, _ in expected], :4], rtol=0, atol=0,
                                   err_msg=name)
        np.testing.assert_allclose(got["scores"][0, :count], [r[0] for r in rows], rtol=1e-6, err_msg=name)


# ---- fields and the Darknet importer -----------------------------------------------------------------------

def test_fields_are_validated(region_lib, tmp_path):
    shape = (1, 2 * 8, 3, 3)
    good = dict(num=2, classes=3, anchors=[1, 1, 2, 2])
    bad = [
        (dict(good, gain=1.0), "InvalidArgumentError", "unknown field 'gain'"),
        (dict(good, anchors=[1, 2, 3]), "InvalidArgumentError", "'anchors' has 3 values, needs 2 * num = 4"),
        (dict(good, threshold=1.5), "InvalidArgumentError", "'threshold' (1.5) must be in [0, 1)"),
        (dict(good, nms_threshold=-0.1), "InvalidArgumentError", "'nms_threshold' (-0.1) must be in [0, 1]"),
        (dict(good, max_detections=0), "InvalidArgumentError", "'max_detections' (0) must be in [1, 1048576]"),
        (dict(good, coords=5), "InvalidArgumentError", "'coords' (5) must be 4"),
        (dict(good, classes=4), "InvalidModelError", "16 channels, expected num * (coords + 1 + classes) = 18"),
    ]
    huge = (1, 16, 1 << 17, 1 << 17)  # 2 * 2^34 boxes: more than the 32-bit box indices hold
    results = run_cases(region_lib, [dict(kind="fields", shape=shape, fields=good)] +
                        [dict(kind="fields", shape=shape, fields=f) for f, _, _ in bad] +
                        [dict(kind="fields", shape=huge, fields=good)], tmp_path)
    assert results[0] is None
    bad.append((good, "InvalidModelError", f"spatial size {1 << 17}x{1 << 17} is empty or too large"))
    for (fields, cls, text), got in zip(bad, results[1:]):
        assert got is not None and got[0] == cls and text in got[1], (fields, got)


def test_tampered_fields_are_refused(region_lib, tmp_path):
    """deserializePlugin re-validates the fields of an engine file (whose checksums were recomputed)."""
    fields = dict(num=2, classes=3, softmax=1, anchors=[1, 1, 2, 2], threshold=0.25, nms_threshold=0.5,
                  max_detections=7)
    mutations = [  # (offset in the serialized fields, struct format, value): expected exception, message
        ((0, "<I", 2), "InvalidEngineError", "fields of format version 2, this library reads 1"),
        ((4, "<i", 0), "InvalidEngineError", "field 'num' (0) must be in [1, 16384]"),
        ((4, "<i", 3), "InvalidEngineError", "expected 56 bytes of fields, got 48"),
        ((24, "<f", 2.0), "InvalidEngineError", "field 'threshold' (2) must be in [0, 1)"),
        ((20, "<i", -1), "InvalidEngineError", "field 'max_detections' (-1) must be in [1, 1048576]"),
        ((40, "<f", float("nan")), "InvalidEngineError", "anchors must be finite and >= 0"),
    ]
    (got,) = run_cases(region_lib, [dict(kind="tamper", shape=(1, 16, 3, 3), fields=fields,
                                          mutations=[m for m, _, _ in mutations])], tmp_path)
    for (_, cls, text), result in zip(mutations, got):
        assert result is not None and result[0] == cls and text in result[1], (cls, text, result)
        assert "Region kernel" in result[1]


TINY_YOLO = """[net]
width=96
height=64
channels=3
[convolutional]
filters=16
size=3
pad=1
batch_normalize=1
activation=leaky
[maxpool]
size=2
stride=2
[convolutional]
filters=125
size=1
stride=16
activation=linear
[region]
anchors = 1.08,1.19,  3.42,4.41,  6.63,11.38,  9.42,5.11,  16.62,10.52
bias_match=1
classes=20
coords=4
num=5
softmax=1
thresh=.6
"""


@pytest.mark.parametrize("device", DEVICES)
def test_darknet_region_becomes_the_plugin(region_lib, tmp_path, device):
    """With the library loaded, [region] is the Region layer (the cfg's values as fields, thresholds settable on
    the layer); its detections equal numpy's on the raw map that the same cfg gives without the plugin."""
    image = np.random.default_rng(11).random((2, 3, 64, 96), dtype=np.float32)
    settings = {"threshold": 0.05, "nms_threshold": 0.4, "max_detections": 50}
    yolo = TINY_YOLO.replace("[region]", "[yolo]").replace("bias_match=1", "mask=0,1,2,3,4")
    (got, got_yolo) = run_cases(region_lib, [
        dict(kind="darknet", cfg=TINY_YOLO, seed=5, image=image, device=device, set=settings),
        dict(kind="darknet", cfg=yolo, seed=5, image=image, device=device)], tmp_path)
    assert got["heads"] == [("region3", "Region")]
    assert sorted(got["outputs"]) == sorted(f"region3_{k}" for k in OUTPUTS)
    ((_, num, classes, softmax, anchors),) = got["region_layers"]
    assert (num, classes, softmax) == (5, 20, 1)
    np.testing.assert_allclose(anchors, [1.08, 1.19, 3.42, 4.41, 6.63, 11.38, 9.42, 5.11, 16.62, 10.52], rtol=1e-6)
    # [yolo] is not the plugin's: unchanged.
    assert got_yolo["heads"] == [("yolo3", "yolo")] and list(got_yolo["outputs"]) == ["yolo3"]

    # Here (no library loaded) the same cfg keeps today's output: the raw map, decoded by numpy.
    net = gie.parsers.darknet_parser.DarknetParser(seed=5, batch=2).parse_text(TINY_YOLO)
    assert [o.name for o in net.outputs] == ["region3"]
    raw = np.asarray(_engine(net, "cpu", 2).create_execution_context().execute({"data": image})["region3"])
    fields = dict(num=5, classes=20, softmax=1, **settings)
    counts = check_against_reference(raw, fields, {k: got["outputs"][f"region3_{k}"] for k in OUTPUTS},
                                      options=TINY_YOLO)
    assert all(c > 0 for c in counts), counts


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "--child":
    _child(*sys.argv[2:])
