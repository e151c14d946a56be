"""The samples: the C++ apps (LeNet, ONNX) built with CMake against the installed package, and the Python sample."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gie

REPO = Path(__file__).resolve().parent.parent
CPP_SAMPLE = REPO / "samples" / "cpp" / "lenet"
ONNX_APP = REPO / "samples" / "cpp" / "onnx_app"
PY_SAMPLE = REPO / "samples" / "python" / "lenet.py"


def gie_env():
    """The environment for a child process that must use this same gie (also from a dev build)."""
    env = os.environ.copy()
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(gie.__file__)))  # no resolve(): dev builds symlink
    env["PYTHONPATH"] = os.pathsep.join([pkg_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def _cxx_compiler():
    for name in [os.environ.get("CXX"), "c++", "g++", "clang++"]:
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def _build_cpp_sample(source, build, target, cmake_args=()):
    """Configures and builds a C++ sample (or plugin library) against the installed gie CMake package; returns
    the program (the library)."""
    if not source.is_dir():
        pytest.skip(f"needs the source tree ({source} not found)")
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed (pip install cmake, or the system package)")
    if _cxx_compiler() is None:
        pytest.skip("no C++ compiler found (set CXX, or install g++ / clang++)")
    configure = ["cmake", "-S", str(source), "-B", str(build), f"-Dgie_DIR={gie.cmake_dir()}",
                 "-DCMAKE_BUILD_TYPE=Release", *cmake_args]
    if shutil.which("ninja"):
        configure += ["-G", "Ninja"]
    _run(configure, timeout=300)
    _run(["cmake", "--build", str(build)], timeout=600)
    exe = build / target
    assert exe.is_file()
    return exe


def _env_without_library_path():
    """No LD_LIBRARY_PATH: libgie.so must be found through the program's RPATH."""
    return {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}


def test_cpp_lenet_sample(tmp_path):
    exe = _build_cpp_sample(CPP_SAMPLE, tmp_path / "build", "lenet_sample")
    engine_file = tmp_path / "lenet.gie"
    proc = _run([str(exe), str(engine_file)], cwd=tmp_path, env=_env_without_library_path(), timeout=300)
    assert "PASSED" in proc.stdout, proc.stdout
    assert engine_file.is_file() and engine_file.stat().st_size > 0
    # The engine file the C++ sample wrote loads in Python too (one format for both APIs).
    engine = gie.Runtime().load(engine_file)
    assert engine.input_names == ["data"] and engine.output_names == ["prob"]
    assert engine.max_batch == 2


def test_python_lenet_sample(tmp_path):
    if not PY_SAMPLE.is_file():
        pytest.skip(f"needs the source tree ({PY_SAMPLE} not found)")
    engine_file = tmp_path / "lenet.gie"
    proc = _run([sys.executable, str(PY_SAMPLE), "--engine", str(engine_file), "--batch", "3"], cwd=tmp_path,
                env=gie_env(), timeout=300)
    assert "PASSED" in proc.stdout, proc.stdout
    assert engine_file.is_file()


# ---- samples/cpp/onnx_app ---------------------------------------------------------------------------

def _onnx_app_model(path, unsupported=False):
    """A small ONNX model with two inputs and two outputs: x (N,3,8,8), s (N,4,8,8) ->
    features = Relu(Conv(x) + s), prob = Softmax(Gemm(Flatten(GlobalAveragePool(features)))).
    With `unsupported`, two nodes of op types gie has no converter (or plugin) for."""
    onnx = pytest.importorskip("onnx", reason="the onnx package generates the test model")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(16)
    inits = [numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.3, name)
             for name, shape in [("w", (4, 3, 3, 3)), ("b", (4,)), ("wg", (5, 4)), ("bg", (5,))]]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["conv"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["conv", "s"], ["sum"], name="add"),
        helper.make_node("Relu", ["sum"], ["features"], name="relu"),
        helper.make_node("GlobalAveragePool", ["features"], ["pooled"], name="gap"),
        helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "wg", "bg"], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["prob"], name="softmax", axis=1),
    ]
    if unsupported:
        nodes[2:3] = [helper.make_node("NoSuchOpA", ["sum"], ["mid"], name="bad_a"),
                      helper.make_node("NoSuchOpB", ["mid"], ["features"], name="bad_b")]
    graph = helper.make_graph(
        nodes, "onnx_app_test",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8]),
         helper.make_tensor_value_info("s", TensorProto.FLOAT, ["N", 4, 8, 8])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 4, 8, 8]),
         helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", 5])],
        inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def _reference_outputs(model, feeds):
    """onnxruntime's outputs when it is installed, else gie's Python API on the same model and input."""
    try:
        import onnxruntime
    except ImportError:
        builder = gie.Builder()
        engine = builder.build(gie.parse(str(model), builder=builder), builder.create_config())
        return {k: np.asarray(v) for k, v in engine.create_execution_context().execute(feeds).items()}
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))


_OUTPUT_LINE = re.compile(r"^output (\S+) shape \[([\d, ]*)\] first ([-+.\deE naif]+) checksum (\S+)$", re.M)


def _check_printed_outputs(stdout, expected):
    printed = {m[0]: m for m in _OUTPUT_LINE.findall(stdout)}
    assert sorted(printed) == sorted(expected), stdout
    for name, ref in expected.items():
        _, shape, first, checksum = printed[name]
        assert tuple(int(d) for d in shape.split(",")) == ref.shape, (name, stdout)
        first = np.array([float(v) for v in first.split()])
        np.testing.assert_allclose(first, ref.ravel()[:8], rtol=1e-4, atol=1e-5, err_msg=name)
        assert float(checksum) == pytest.approx(ref.astype(np.float64).sum(), rel=1e-4,
                                                abs=float(1e-5 * np.abs(ref).sum()) + 1e-6), (name, stdout)


@pytest.fixture(scope="module")
def onnx_app(tmp_path_factory):
    return _build_cpp_sample(ONNX_APP, tmp_path_factory.mktemp("onnx_app") / "build", "onnx_app")


def test_cpp_onnx_app_sample(onnx_app, tmp_path):
    model = _onnx_app_model(tmp_path / "model.onnx")
    env = _env_without_library_path()
    rng = np.random.default_rng(1)
    feeds = {"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32),
             "s": rng.standard_normal((1, 4, 8, 8)).astype(np.float32)}
    input_file = tmp_path / "input.bin"
    input_file.write_bytes(feeds["x"].tobytes() + feeds["s"].tobytes())  # the engine's input order
    engine_file = tmp_path / "model.gie"
    proc = _run([str(onnx_app), str(model), "--input", str(input_file), "--engine", str(engine_file)],
                cwd=tmp_path, env=env, timeout=300)
    _check_printed_outputs(proc.stdout, _reference_outputs(model, feeds))
    # The engine file it wrote loads in Python too.
    engine = gie.Runtime().load(engine_file)
    assert engine.input_names == ["x", "s"] and sorted(engine.output_names) == ["features", "prob"]

    # Without --input: the generated input the sample documents (element i: ((i*7919) % 1000)/500 - 1).
    def generated(shape):
        i = np.arange(np.prod(shape), dtype=np.int64)
        return (((i * 7919) % 1000).astype(np.float32) / np.float32(500) - np.float32(1)).reshape(shape)

    proc = _run([str(onnx_app), str(model)], cwd=tmp_path, env=env, timeout=300)
    assert (tmp_path / "onnx_app.gie").is_file()
    _check_printed_outputs(proc.stdout, _reference_outputs(model, {"x": generated((1, 3, 8, 8)),
                                                                   "s": generated((1, 4, 8, 8))}))

    gpu = [str(onnx_app), str(model), "--gpu", "--engine", str(tmp_path / "gpu.gie")]
    if gie.build_info()["gpu_available"]:
        _check_printed_outputs(_run(gpu, cwd=tmp_path, env=env, timeout=300).stdout,
                               _reference_outputs(model, {"x": generated((1, 3, 8, 8)),
                                                          "s": generated((1, 4, 8, 8))}))
    else:
        proc = subprocess.run(gpu, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 1 and "NO_DEVICE" in proc.stderr, proc.stderr


def test_cpp_onnx_app_sample_failures(onnx_app, tmp_path):
    """Every failure prints gie's error and exits with status 1."""
    env = _env_without_library_path()

    def fails(*args):
        proc = subprocess.run([str(onnx_app), *map(str, args)], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
        return proc.stderr

    # The parser's records: both unsupported nodes, at once.
    stderr = fails(_onnx_app_model(tmp_path / "bad.onnx", unsupported=True))
    assert "NoSuchOpA" in stderr and "NoSuchOpB" in stderr and "bad_a" in stderr and "bad_b" in stderr, stderr
    # getLastError from the parser for a file that does not exist.
    assert "missing.onnx" in fails(tmp_path / "missing.onnx")
    # An input file of the wrong size.
    model = _onnx_app_model(tmp_path / "model.onnx")
    short = tmp_path / "short.bin"
    short.write_bytes(np.zeros(5, np.float32).tobytes())
    stderr = fails(model, "--input", short)
    assert "20 bytes" in stderr and str((3 * 64 + 4 * 64) * 4) in stderr, stderr
    # An engine path that cannot be written.
    assert "cannot write" in fails(model, "--engine", tmp_path / "no_such_dir" / "x.gie")


# ---- samples/yolov2 ---------------------------------------------------------------------------------

YOLOV2_SAMPLE = REPO / "samples" / "yolov2" / "yolov2.py"


def _import_sample(path):
    import importlib.util
    spec = importlib.util.spec_from_file_location(path.stem + "_sample", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("device", ["cpu", pytest.param("gpu", marks=pytest.mark.gpu)])
def test_yolov2_sample_end_to_end(tmp_path, device):
    """The sample builds the Region plugin, imports its YOLOv2-VOC cfg (at 128x128) and runs an image; its
    detections equal decode_region + the numpy NMS on the raw map that the same cfg and seed give here, where the
    plugin is not loaded (the Darknet importer then outputs the raw map), and the PNG shows their boxes."""
    if not YOLOV2_SAMPLE.is_file():
        pytest.skip(f"needs the source tree ({YOLOV2_SAMPLE} not found)")
    if shutil.which("cmake") is None or _cxx_compiler() is None:
        pytest.skip("the sample builds its plugin: needs cmake and a C++ compiler")
    from test_yolov2_region import reference_detections, EPS
    from gie.parsers.darknet_parser import DarknetParser, decode_region

    yolo = _import_sample(YOLOV2_SAMPLE)
    size = 128
    img = yolo.generated_image(size, size)  # the network's size: no resizing
    image = tmp_path / "image.ppm"
    image.write_bytes(f"P6\n{size} {size}\n255\n".encode() + img.tobytes())
    cfg_file, result, png = tmp_path / "yolov2.cfg", tmp_path / "detections.json", tmp_path / "detections.png"
    threshold, nms = 0.08, 0.45
    proc = _run([sys.executable, str(YOLOV2_SAMPLE), "--size", str(size), "--image", str(image), "--device", device,
                 "--threshold", str(threshold), "--nms", str(nms), "--output", str(png), "--json", str(result),
                 "--save-cfg", str(cfg_file), "--build-dir", str(tmp_path / "build"),
                 "--plugin-cuda", "ON" if device == "gpu" else "OFF"],
                cwd=tmp_path, env=gie_env(), timeout=600)
    import json
    got = json.loads(result.read_text())["detections"]
    assert f"{len(got)} detection(s)" in proc.stdout and len(got) > 3, proc.stdout

    cfg = cfg_file.read_text()
    net = DarknetParser(seed=0).parse_text(cfg)
    assert [o.name for o in net.outputs] == ["region31"]
    builder = gie.Builder()
    config = builder.create_config()
    config.device = device
    raw = builder.build(net, config).create_execution_context().execute({"data": yolo.preprocess(img, size, size)})
    raw = {k: np.asarray(v) for k, v in raw.items()}
    decoded = decode_region(raw["region31"], cfg)[0]
    rows, margin = reference_detections(decoded, threshold, nms, 100)
    assert margin > EPS
    assert [d["class"] for d in got] == [k for _, _, k in rows]
    np.testing.assert_allclose([d["score"] for d in got], [s for s, _, _ in rows], rtol=1e-4)
    np.testing.assert_allclose([d["box"] for d in got], decoded[[b for _, b, _ in rows], :4], rtol=1e-4, atol=1e-5)

    # The PNG: the image with each box's outline in its class's colour.
    drawn = yolo.read_png(png.read_bytes())
    assert drawn.shape == img.shape
    changed = (drawn != img).any(axis=2)
    outline = np.zeros_like(changed)
    for d in got:
        left, top, right, bottom = d["pixels"]
        ring = np.zeros_like(changed)
        ring[top:bottom + 1, left:right + 1] = True
        ring[top + 3:bottom - 2, left + 3:right - 2] = False
        outline |= ring
    assert changed.any() and not (changed & ~outline).any()
    last = got[-1]  # drawn last: its top-left corner has its colour
    assert tuple(drawn[last["pixels"][1], last["pixels"][0]]) == yolo.colour(last["class"])


# ---- samples/python/googlenet.py --------------------------------------------------------------------

GOOGLENET_SAMPLE = REPO / "samples" / "python" / "googlenet.py"
SHARED_GOOGLENET = REPO.parent / "shared" / "models" / "caffe" / "googlenet_deploy.prototxt"


def _layers(net):
    return [(net.get_layer(i).name, net.get_layer(i).type,
             [tuple(net.get_layer(i).output(j).shape) for j in range(net.get_layer(i).num_outputs)])
            for i in range(net.num_layers)]


def test_googlenet_sample_prototxt_is_bvlc_googlenet():
    """The prototxt the sample writes imports to the same layers (names, types, shapes) as BVLC's deploy file."""
    if not GOOGLENET_SAMPLE.is_file():
        pytest.skip(f"needs the source tree ({GOOGLENET_SAMPLE} not found)")
    if not SHARED_GOOGLENET.is_file():
        pytest.skip(f"{SHARED_GOOGLENET} is missing (the shared model folder is not beside this checkout)")
    from gie.parsers.caffe_parser import CaffeParser
    sample = _import_sample(GOOGLENET_SAMPLE)
    mine = CaffeParser(batch=1).parse_string(sample.googlenet_prototxt(1))
    bvlc = CaffeParser(batch=1).parse(str(SHARED_GOOGLENET))
    assert _layers(mine) == _layers(bvlc)


def test_googlenet_sample_runs_on_cpu(tmp_path):
    if not GOOGLENET_SAMPLE.is_file():
        pytest.skip(f"needs the source tree ({GOOGLENET_SAMPLE} not found)")
    from gie.parsers.caffe_parser import CaffeParser
    import json
    result, prototxt = tmp_path / "googlenet.json", tmp_path / "googlenet.prototxt"
    proc = _run([sys.executable, str(GOOGLENET_SAMPLE), "--device", "cpu", "--runs", "1", "--json", str(result),
                 "--save-prototxt", str(prototxt)], cwd=tmp_path, env=gie_env(), timeout=600)
    assert "fp32 on the CPU" in proc.stdout and "1. class " in proc.stdout, proc.stdout
    got = json.loads(result.read_text())
    assert list(got) == ["fp32"] and got["fp32"]["median_ms"] > 0
    # The same prototxt, seed and input here give the same top-5.
    sample = _import_sample(GOOGLENET_SAMPLE)
    builder = gie.Builder()
    net = CaffeParser(builder=builder, seed=0).parse(str(prototxt))
    config = builder.create_config()
    config.device = "cpu"
    prob = builder.build(net, config).create_execution_context().execute(
        {"data": sample.preprocess(sample.generated_image(), 1)})["prob"][0]
    ref = sample.top5(np.asarray(prob))
    assert got["fp32"]["top5"][0][0] == ref[0][0]
    np.testing.assert_allclose([p for _, p in got["fp32"]["top5"]], [p for _, p in ref], rtol=1e-4, atol=1e-6)
