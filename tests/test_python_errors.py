"""Every misuse of the Python API raises a gie.Error subclass whose message names what was wrong (issue 11
item 16): never a bare TypeError, ValueError, OverflowError, KeyError, AttributeError or OSError from numpy,
pybind11 or the os module. One row per misuse: (id, call, expected class, regex the message must match)."""
import errno
import os
import shutil

import numpy as np
import pytest

import gie


@pytest.fixture(scope="module")
def env():
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (1, 3, 4, 4))
    relu = net.add_activation(x, gie.ActivationType.RELU)
    net.mark_output(relu.output(0), "y")
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = 2
    engine = builder.build(net, config)
    # A second network to add layers to: the cases must not change the one the engine was built from.
    scratch = builder.create_network()
    scratch.add_activation(scratch.add_input("s", gie.float32, (1, 3, 4, 4)), gie.ActivationType.RELU)
    return {"builder": builder, "net": scratch, "config": builder.create_config(), "engine": engine,
            "ctx": engine.create_execution_context(), "x": np.ones((1, 3, 4, 4), np.float32)}


IA, FE = gie.InvalidArgumentError, gie.FileError

CASES = [
    # ---- execution context: shapes, addresses, inputs, outputs
    ("set_input_shape 2**64", lambda e: e["ctx"].set_input_shape("x", [2**64, 3, 4, 4]), IA,
     r"set_input_shape\('x'\): shape dimension 0 is 18446744073709551616, outside the 64-bit"),
    ("set_input_shape 9 dims", lambda e: e["ctx"].set_input_shape("x", [1] * 9), IA,
     r"set_input_shape\('x'\): shape has 9 dimensions; at most 8"),
    ("set_input_shape None", lambda e: e["ctx"].set_input_shape("x", None), IA,
     r"set_input_shape\('x'\): shape must be a sequence of integers, not NoneType"),
    ("set_input_shape str", lambda e: e["ctx"].set_input_shape("x", "1344"), IA, r"shape must be a sequence of integers, not str"),
    ("set_input_shape float dim", lambda e: e["ctx"].set_input_shape("x", [1.5, 3, 4, 4]), IA,
     r"shape dimension 0 must be an integer, not float 1.5"),
    ("set_input_shape name None", lambda e: e["ctx"].set_input_shape(None, [1, 3, 4, 4]), IA,
     r"ExecutionContext.set_input_shape: wrong argument type.*got \(None, \[1, 3, 4, 4\]\)"),
    ("get_tensor_shape name int", lambda e: e["ctx"].get_tensor_shape(5), IA, r"ExecutionContext.get_tensor_shape: .*got \(5\)"),
    ("set_tensor_address None", lambda e: e["ctx"].set_tensor_address("x", None), IA,
     r"set_tensor_address\('x'\): address must be an integer, not NoneType"),
    ("set_tensor_address negative", lambda e: e["ctx"].set_tensor_address("x", -1), IA, r"address -1 is negative"),
    ("set_tensor_address 2**65", lambda e: e["ctx"].set_tensor_address("x", 2**65), IA, r"address is 36893488147419103232"),
    ("execute outputs list", lambda e: e["ctx"].execute(e["x"], outputs=[np.empty((1, 3, 4, 4), np.float32)]), IA,
     r"outputs must be a dict \{output name: array\} for the outputs \['y'\], or 'numpy'; got list"),
    ("execute outputs torch on CPU", lambda e: e["ctx"].execute(e["x"], outputs="torch"), IA, r"outputs='torch'"),
    ("execute outputs unknown name", lambda e: e["ctx"].execute(e["x"], outputs={"z": np.empty(1)}), IA,
     r"unknown output\(s\) \['z'\]; the engine's outputs are \['y'\]"),
    ("execute outputs wrong dtype", lambda e: e["ctx"].execute(e["x"], outputs={"y": np.empty((1, 3, 4, 4))}), IA,
     r"output 'y' must be a writable C-contiguous numpy array of shape \(1, 3, 4, 4\) and dtype float32"),
    ("execute outputs non-contiguous", lambda e: e["ctx"].execute(e["x"], outputs={"y": np.empty((1, 3, 4, 8), np.float32)[..., ::2]}),
     IA, r"output 'y' must be a writable C-contiguous"),
    ("execute input None", lambda e: e["ctx"].execute(None), IA, r"input 'x' has dtype object"),
    ("execute input float64", lambda e: e["ctx"].execute(e["x"].astype(np.float64)), IA, r"input 'x' has dtype float64"),
    ("execute input ragged", lambda e: e["ctx"].execute([[1.0, 2.0], [3.0]]), IA, r"input 'x': cannot convert list"),
    ("execute input 0-d", lambda e: e["ctx"].execute(np.float32(1)), IA, r"input 'x' has 4 dimensions .* but 0 were given"),
    ("execute input wrong shape", lambda e: e["ctx"].execute(np.ones((1, 3, 5, 4), np.float32)), IA, r"dimension 2 differs"),
    ("execute batch out of range", lambda e: e["ctx"].execute(np.ones((3, 3, 4, 4), np.float32)), IA, r"batch 3 is outside"),
    ("execute unknown input", lambda e: e["ctx"].execute({"q": e["x"]}), IA, r"unknown input\(s\) \['q'\]"),
    ("execute stream object", lambda e: e["ctx"].execute(e["x"], stream=object()), IA, r"stream must be a cudaStream_t"),
    ("enqueue stream str", lambda e: e["ctx"].enqueue("default"), IA, r"stream must be a cudaStream_t .* got str"),
    ("enqueue stream float", lambda e: e["ctx"].enqueue(1.5), IA, r"stream must be a cudaStream_t .* got float"),
    ("enqueue stream negative", lambda e: e["ctx"].enqueue(-1), IA, r"stream -1 is not a cudaStream_t"),
    ("execute_async on CPU", lambda e: e["ctx"].execute_async(e["x"]), IA, r"execute_async needs a GPU engine"),
    ("profiler not callable", lambda e: setattr(e["ctx"], "profiler", 5), IA, r"profiler must be a callable"),
    ("context stream on CPU", lambda e: e["ctx"].stream, IA, r"a CPU engine's context has no stream"),
    # ---- engine
    ("engine shape unknown name", lambda e: e["engine"].get_tensor_shape("zz"), IA, r"no input or output named 'zz'"),
    ("engine dtype unknown name", lambda e: e["engine"].get_tensor_dtype("zz"), IA, r"no input or output named 'zz'"),
    ("engine shape name None", lambda e: e["engine"].get_tensor_shape(None), IA, r"Engine.get_tensor_shape: .*got \(None\)"),
    ("numpy_dtype not a DataType", lambda e: gie.numpy_dtype(5), IA, r"numpy_dtype: 5 is not a gie.DataType"),
    ("save path None", lambda e: e["engine"].save(None), IA, r"save: path must be a path .* not NoneType"),
    ("save to a directory", lambda e: e["engine"].save(e["tmp"]), FE, r"cannot save the engine to '{tmp}': Is a directory"),
    ("save into a missing folder", lambda e: e["engine"].save(os.path.join(e["tmp"], "no", "e.gie")), FE,
     r"cannot save the engine to '{tmp}/no/e.gie': No such file"),
    # ---- runtime
    ("load path None", lambda e: gie.Runtime().load(None), IA, r"load: path must be a path"),
    ("load missing file", lambda e: gie.Runtime().load(os.path.join(e["tmp"], "none.gie")), FE,
     r"cannot read the engine file '{tmp}/none.gie': No such file"),
    ("load a directory", lambda e: gie.Runtime().load(e["tmp"]), FE, r"cannot read the engine file '{tmp}': Is a directory"),
    ("deserialize str", lambda e: gie.Runtime().deserialize("engine"), IA, r"not a str \(to read a file, use Runtime.load"),
    ("deserialize None", lambda e: gie.Runtime().deserialize(None), IA, r"deserialize takes bytes .* not NoneType"),
    ("deserialize int", lambda e: gie.Runtime().deserialize(64), IA, r"deserialize takes bytes .* not int"),
    # ---- plugins
    ("load_library without creators", lambda e: gie.load_library(e["libm"]), IA,
     r"plugin library '.*libm[^']*' registers no plugin creators"),
    ("load_library missing", lambda e: gie.load_library(os.path.join(e["tmp"], "none.so")), IA,
     r"cannot load plugin library '{tmp}/none.so'"),
    ("load_library None", lambda e: gie.load_library(None), IA, r"load_library: path must be a path"),
    ("load_library empty", lambda e: gie.load_library(""), IA, r"load_library: path must be a non-empty path"),
    # ---- importers
    ("parse None", lambda e: gie.parse(None), IA, r"gie.parse: the model file must be a path"),
    ("parse directory", lambda e: gie.parse(e["tmp"]), IA, r"model file '.*' is a directory"),
    ("parse missing", lambda e: gie.parse(os.path.join(e["tmp"], "none.onnx")), IA, r"model file '.*none.onnx' does not exist"),
    ("parse weights int", lambda e: gie.parse(os.path.join(e["tmp"], "none.cfg"), weights=3), IA, r"gie.parse: weights must be a path"),
    # ---- network definition
    ("add_input 2**64", lambda e: e["net"].add_input("a", gie.float32, (2**64,)), IA,
     r"add_input\('a'\): shape dimension 0 is 18446744073709551616"),
    ("add_input 9 dims", lambda e: e["net"].add_input("a", gie.float32, (1,) * 9), IA, r"add_input\('a'\): shape has 9 dimensions"),
    ("add_input dtype str", lambda e: e["net"].add_input("a", "float32", (1, 2)), IA,
     r"NetworkDefinition.add_input: wrong argument type.*dtype: gie.DataType.*got \('a', 'float32', \(1, 2\)\)"),
    ("add_input name None", lambda e: e["net"].add_input(None, gie.float32, (1, 2)), IA, r"NetworkDefinition.add_input"),
    ("add_activation type str", lambda e: e["net"].add_activation(e["net"].get_input(0), "relu"), IA,
     r"add_activation: type must be one of gie.ActivationType.RELU, .* not str 'relu'"),
    ("add_convolution num_output_maps str", lambda e: e["net"].add_convolution(e["net"].get_input(0), "two", 3, np.ones(54, np.float32)),
     IA, r"add_convolution: num_output_maps must be an integer, not str 'two'"),
    ("add_convolution num_output_maps 2**70", lambda e: e["net"].add_convolution(e["net"].get_input(0), 2**70, 3, np.ones(54, np.float32)),
     IA, r"field 'num_output_maps': cannot use 1180591620717411303424"),
    ("add_convolution kernel_shape None", lambda e: e["net"].add_convolution(e["net"].get_input(0), 2, None, np.ones(54, np.float32)),
     IA, r"add_convolution: kernel_shape must be an int or a sequence of ints, not NoneType"),
    ("add_convolution kernel str", lambda e: e["net"].add_convolution(e["net"].get_input(0), 2, 3, "abc"), IA,
     r"kernel weights must be numeric"),
    ("add_convolution kernel ragged", lambda e: e["net"].add_convolution(e["net"].get_input(0), 2, 3, [[1.0], [1.0, 2.0]]), IA,
     r"kernel weights must be a numeric array"),
    ("add_convolution stride float", lambda e: e["net"].add_convolution(e["net"].get_input(0), 2, 3, np.ones(54, np.float32),
                                                                       stride=(1.5, 1)), IA, r"add_convolution: stride must be an integer, not float"),
    ("add_pooling padding str", lambda e: e["net"].add_pooling(e["net"].get_input(0), gie.PoolingType.MAX, 2, padding="ab"), IA,
     r"add_pooling: padding must be an int or a sequence of ints, not str"),
    ("add_pooling type str", lambda e: e["net"].add_pooling(e["net"].get_input(0), "max", 2), IA, r"add_pooling: type must be one of"),
    ("add_elementwise op None", lambda e: e["net"].add_elementwise(e["net"].get_input(0), e["net"].get_input(0), None), IA,
     r"add_elementwise: op must be one of"),
    ("add_slice start None", lambda e: e["net"].add_slice(e["net"].get_input(0), None, (1, 1, 1, 1)), IA,
     r"add_slice: start must be a sequence of ints"),
    ("add_resize scales str", lambda e: e["net"].add_resize(e["net"].get_input(0), gie.ResizeMode.NEAREST, scales="2"), IA,
     r"add_resize: scales must be a sequence of numbers"),
    ("add_lrn alpha str", lambda e: e["net"].add_lrn(e["net"].get_input(0), 5, "a", 0.75), IA, r"add_lrn: alpha must be a number"),
    ("add_constant ragged", lambda e: e["net"].add_constant((2,), [[1], [1, 2]]), IA, r"add_constant: weights must be a numeric"),
    ("add_plugin fields list", lambda e: e["net"].add_plugin("Activation", [e["net"].get_input(0)], fields=[1]), IA,
     r"add_plugin\('Activation'\): fields must be a dict"),
    ("add_plugin inputs None", lambda e: e["net"].add_plugin("Activation", None), IA, r"add_plugin\('Activation'\): inputs must be a list"),
    ("add_layer inputs None", lambda e: e["net"].add_layer("Activation", None), IA, r"NetworkDefinition.add_layer: wrong argument"),
    ("layer field object", lambda e: setattr(e["net"].get_layer(0), "alpha", object()), IA, r"field 'alpha' has unsupported dtype"),
    ("layer field 2**70", lambda e: setattr(e["net"].get_layer(0), "alpha", 2**70), IA, r"field 'alpha': cannot use 1180591620717411303424"),
    ("get_layer out of range", lambda e: e["net"].get_layer(10**6), IA, r"get_layer: index 1000000 is out of range \(\d+ layers\)"),
    ("get_layer 2**40", lambda e: e["net"].get_layer(2**40), IA, r"get_layer: index 1099511627776 is out of range"),
    ("get_input negative", lambda e: e["net"].get_input(-1), IA, r"get_input: index -1 is out of range \(1 inputs\)"),
    ("layer output out of range", lambda e: e["net"].get_layer(0).output(2**40), IA, r"layer '.*': output: index 1099511627776"),
    ("mark_output None", lambda e: e["net"].mark_output(None), IA, r"NetworkDefinition.mark_output: .*got \(None\)"),
    ("layer name None", lambda e: setattr(e["net"].get_layer(0), "name", None), IA, r"setting Layer.name: .*got \(None\)"),
    ("layer precision str", lambda e: setattr(e["net"].get_layer(0), "precision", "fp16"), IA, r"setting Layer.precision: .*gie.DataType"),
    ("layer set_input None", lambda e: e["net"].get_layer(0).set_input(0, None), IA, r"Layer.set_input: .*got \(0, None\)"),
    ("add_softmax axis str", lambda e: e["net"].add_softmax(e["net"].get_input(0), axis="a"), IA, r"add_softmax: axis must be an integer"),
    ("add_shuffle reshape str", lambda e: e["net"].add_shuffle(e["net"].get_input(0), reshape="ab"), IA,
     r"add_shuffle: reshape must be a sequence of ints, not str"),
    ("add_cast to_type str", lambda e: e["net"].add_cast(e["net"].get_input(0), "float"), IA, r"add_cast: to_type must be one of gie.DataType"),
    ("add_concatenation None", lambda e: e["net"].add_concatenation(None), IA, r"Concatenation inputs must be a list of gie.Tensor"),
    ("Builder logger int", lambda e: gie.Builder(logger=5), IA, r"logger must be a logging.Logger or an object with log"),
    ("Runtime logger str", lambda e: gie.Runtime(logger="x"), IA, r"logger must be a logging.Logger"),
    ("tensor name None", lambda e: setattr(e["net"].get_input(0), "name", None), IA, r"setting Tensor.name: .*got \(None\)"),
    ("tensor name empty", lambda e: setattr(e["net"].get_input(0), "name", ""), IA, r"tensor 's': a tensor name cannot be empty"),
    ("tensor dynamic range str", lambda e: e["net"].get_input(0).set_dynamic_range("a", 1), IA, r"Tensor.set_dynamic_range: .*got \('a', 1\)"),
    # ---- builder config and builder
    ("config max_batch str", lambda e: setattr(e["config"], "max_batch", "x"), IA, r"max_batch must be an integer, not str"),
    ("config max_batch 2**70", lambda e: setattr(e["config"], "max_batch", 2**70), IA, r"BuilderConfig.set_batch_range: .*got \(1, 1180591620717411303424"),
    ("config batch_range of two", lambda e: setattr(e["config"], "batch_range", (1, 2)), IA, r"batch_range must be \(min, opt, max\)"),
    ("config device int", lambda e: setattr(e["config"], "device", 7), IA, r"setting BuilderConfig.device: .*gie.DeviceType.*got \(7\)"),
    ("config device unknown str", lambda e: setattr(e["config"], "device", "tpu"), IA, r"unknown device 'tpu'"),
    ("config workspace_limit negative", lambda e: setattr(e["config"], "workspace_limit", -1), IA, r"setting BuilderConfig.workspace_limit"),
    ("config max_aux_streams str", lambda e: setattr(e["config"], "max_aux_streams", "x"), IA, r"setting BuilderConfig.max_aux_streams"),
    ("config timing_cache int", lambda e: setattr(e["config"], "timing_cache", 5), IA, r"timing_cache must be a path .* not int"),
    ("config set_flag str", lambda e: e["config"].set_flag("FP16"), IA, r"BuilderConfig.set_flag: .*gie.BuilderFlag.*got \('FP16'\)"),
    ("config set_pass_enabled None", lambda e: e["config"].set_pass_enabled(None, True), IA, r"BuilderConfig.set_pass_enabled"),
    ("build network None", lambda e: e["builder"].build(None), IA, r"Builder.build: .*got \(None, "),
    ("build config str", lambda e: e["builder"].build(e["net"], "cpu"), IA, r"Builder.build: wrong argument"),
    # ---- GPU allocator (checked before any device is needed)
    ("set_gpu_allocator int", lambda e: gie.set_gpu_allocator(5), IA, r"the GPU allocator needs a callable 'allocate' method"),
]


def _libm():
    import ctypes.util

    name = ctypes.util.find_library("m")
    return name or "libm.so.6"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_misuse_raises_a_gie_error(env, case, tmp_path):
    _, call, cls, pattern = case
    e = dict(env, tmp=str(tmp_path), libm=_libm())
    with pytest.raises(gie.Error) as info:
        call(e)
    assert isinstance(info.value, cls), f"{type(info.value).__mro__}: {info.value}"
    import re

    assert re.search(pattern.replace("{tmp}", re.escape(str(tmp_path))), str(info.value)), str(info.value)


def test_invalid_argument_is_also_value_and_type_error():
    """Code that caught the TypeError/ValueError these calls used to raise keeps working."""
    assert issubclass(gie.InvalidArgumentError, ValueError) and issubclass(gie.InvalidArgumentError, TypeError)
    assert issubclass(gie.FileError, gie.InvalidArgumentError) and issubclass(gie.FileError, OSError)


def test_file_error_keeps_the_os_error_class(env, tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        gie.Runtime().load(tmp_path / "none.gie")
    assert isinstance(info.value, gie.FileError)
    assert info.value.errno == errno.ENOENT and info.value.filename == str(tmp_path / "none.gie")


@pytest.mark.parametrize("failure", [(errno.EROFS, "os.replace"), (errno.ENOSPC, "os.fsync"), (errno.EACCES, "tempfile.mkstemp")],
                         ids=["read-only", "full", "no-permission"])
def test_save_failure_names_the_target_and_keeps_the_old_file(env, tmp_path, monkeypatch, failure):
    """A read-only or full file system: the error names the engine file asked for (not gie's temporary file),
    the existing file is intact and no temporary file is left behind."""
    code, where = failure
    module, attr = where.split(".")
    target = tmp_path / "model.gie"
    target.write_bytes(b"old contents")

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(tmp_path / ".gie-tmp123"))

    monkeypatch.setattr({"os": os, "tempfile": __import__("tempfile")}[module], attr, fail)
    with pytest.raises(gie.FileError) as info:
        env["engine"].save(target)
    assert str(info.value) == f"cannot save the engine to '{target}': {os.strerror(code)}"
    assert info.value.errno == code and info.value.filename == str(target)
    assert ".gie-" not in str(info.value)
    assert target.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.gie"]


def test_save_on_a_read_only_mount(env, tmp_path):
    """The real thing where the machine allows it (root ignores file permissions, so a read-only bind mount)."""
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("needs root and mount for a read-only bind mount")
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "model.gie").write_bytes(b"old contents")
    if os.system(f"mount --bind '{ro}' '{ro}' 2>/dev/null && mount -o remount,ro,bind '{ro}' 2>/dev/null") != 0:
        os.system(f"umount '{ro}' 2>/dev/null")
        pytest.skip("bind mounts are not permitted here")
    try:
        with pytest.raises(gie.FileError, match=f"cannot save the engine to '{ro}/model.gie': Read-only file system"):
            env["engine"].save(ro / "model.gie")
        assert (ro / "model.gie").read_bytes() == b"old contents"
    finally:
        os.system(f"umount '{ro}'")


@pytest.mark.parametrize("args", [("build", "lenet", "--device", "cpu", "--save", "{tmp}"),
                                  ("run", "lenet", "--device", "cpu", "--iterations", "1", "--export-times", "{tmp}")],
                         ids=["build --save", "run --export-times"])
def test_cli_reports_an_unusable_output_path(tmp_path, args):
    """A directory given as an output file: one line naming it, usage exit code 2, no traceback."""
    import subprocess
    import sys

    env = dict(os.environ)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(gie.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([pkg_parent] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    p = subprocess.run([sys.executable, "-m", "gie", *(a.replace("{tmp}", str(tmp_path)) for a in args)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "Traceback" not in p.stderr, p.stderr
    assert f"'{tmp_path}'" in p.stderr and "Is a directory" in p.stderr, p.stderr
