"""The GPU backend's Python API on any machine: build_info, the new config/context settings, the allocator hook,
the interop helpers, errors without a GPU and ``python -m gie --version``. No GPU needed."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import gie
from gie import interop

HAS_GPU = gie.build_info()["gpu_available"]


def tiny_network(builder):
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (1, 4))
    net.mark_output(net.add_activation(x, gie.ActivationType.RELU).output(0), "y")
    return net


def cpu_engine():
    builder = gie.Builder()
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = 3
    return builder.build(tiny_network(builder), config)


# ---- build_info ------------------------------------------------------------------------------------

def test_build_info_keys_and_types():
    info = gie.build_info()
    assert info["version"] == gie.__version__
    assert isinstance(info["cuda"], bool)
    assert isinstance(info["gpu_available"], bool)
    assert isinstance(info["cuda_archs"], list) and all(isinstance(a, int) for a in info["cuda_archs"])
    for key in ("cuda_version", "gpu_name", "compute_capability", "driver_version", "gpu_error"):
        assert key in info and (info[key] is None or isinstance(info[key], str)), key
    if info["gpu_available"]:
        assert info["cuda"] and info["gpu_name"] and info["gpu_error"] is None
        major, minor = info["compute_capability"].split(".")
        assert int(major) >= 5 and int(minor) >= 0
    else:
        assert info["gpu_name"] is None and info["compute_capability"] is None
        assert info["gpu_error"], "without a GPU, build_info says why"
    if info["cuda"]:
        assert info["cuda_version"] and info["cuda_archs"]
    else:
        assert info["cuda_version"] is None and info["cuda_archs"] == []
    assert gie.Builder().platform_has_gpu == info["gpu_available"]
    assert json.loads(gie._C.build_info_json())  # the raw document is valid JSON


def test_version_command():
    proc = subprocess.run([sys.executable, "-m", "gie", "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    info = gie.build_info()
    assert lines[0] == f"gie {gie.__version__}"
    facts = dict(line.split(": ", 1) for line in lines[1:] if not line.startswith("build_info: "))
    assert list(facts) == ["cuda", "cuda_version", "cuda_archs", "gpu_available", "gpu_name", "compute_capability",
                           "driver_version", "gpu_error"]
    assert facts["cuda"] == ("yes" if info["cuda"] else "no")
    assert facts["gpu_available"] == ("yes" if info["gpu_available"] else "no")
    assert facts["gpu_name"] == (info["gpu_name"] or "-")
    doc = json.loads(lines[-1][len("build_info: "):])
    assert doc == json.loads(json.dumps(info))


# ---- config and context settings -------------------------------------------------------------------

def test_config_round_trips(tmp_path):
    config = gie.Builder().create_config()
    assert config.cuda_graph is False
    config.cuda_graph = True
    assert config.cuda_graph is True
    config.cuda_graph = False
    assert config.cuda_graph is False

    assert config.timing_cache is None
    path = tmp_path / "timing.cache"
    config.timing_cache = str(path)
    assert config.timing_cache == str(path)
    config.timing_cache = pathlib.Path(path)  # any path-like
    assert config.timing_cache == str(path)
    config.timing_cache = ""
    assert config.timing_cache is None
    config.timing_cache = str(path)
    config.timing_cache = None
    assert config.timing_cache is None

    assert config.max_aux_streams == -1  # the builder decides
    for n in (0, 3, -1):
        config.max_aux_streams = n
        assert config.max_aux_streams == n
    with pytest.raises(ValueError):
        config.max_aux_streams = -2

    config.force_tactic("Convolution", "implicit_gemm")
    config.force_tactic("conv1", "direct")
    config.clear_tactic_overrides()
    with pytest.raises(gie.Error):
        config.force_tactic("", "direct")
    with pytest.raises(gie.Error):
        config.force_tactic("Convolution", "")


def test_cpu_engine_ignores_gpu_settings(tmp_path):
    builder = gie.Builder()
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = 2
    config.cuda_graph = True
    config.max_aux_streams = 2
    config.force_tactic("Activation", "no-such-tactic")
    config.timing_cache = str(tmp_path / "cpu.cache")
    with pytest.raises(gie.InvalidArgumentError, match="forced tactic 'no-such-tactic'.*tactics: default"):
        builder.build(tiny_network(builder), config)
    config.clear_tactic_overrides()
    config.force_tactic("Activation", "default")
    engine = builder.build(tiny_network(builder), config)
    assert engine.layer_info()["kernels"][0]["tactic"] == "default"
    ctx = engine.create_execution_context()
    assert not ctx.is_gpu
    ctx.cuda_graph = False
    x = np.array([[-1, 2, -3, 4]], np.float32)
    np.testing.assert_array_equal(ctx.execute({"x": x})["y"], np.maximum(x, 0))


def test_cpu_execute_stream_enqueue_and_errors():
    engine = cpu_engine()
    ctx = engine.create_execution_context()
    x = np.array([[-1, 2, -3, 4], [5, -6, 7, -8]], np.float32)
    np.testing.assert_array_equal(ctx.execute({"x": x}, stream=None)["y"], np.maximum(x, 0))
    np.testing.assert_array_equal(ctx.execute(x, stream=0)["y"], np.maximum(x, 0))  # ignored on the CPU
    y = np.full_like(x, np.nan)
    ctx.set_input_shape("x", x.shape)
    ctx.set_tensor_address("x", x.ctypes.data)
    ctx.set_tensor_address("y", y.ctypes.data)
    ctx.enqueue()  # CPU engines run synchronously
    ctx.synchronize()
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    with pytest.raises(gie.InvalidArgumentError, match="needs a GPU engine"):
        ctx.execute_async({"x": x})
    with pytest.raises(gie.InvalidArgumentError, match="no stream"):
        ctx.stream  # noqa: B018


# ---- no GPU --------------------------------------------------------------------------------------

@pytest.mark.skipif(HAS_GPU, reason="checks the behaviour without a usable GPU")
def test_gpu_build_without_gpu_raises_no_device():
    builder = gie.Builder()
    config = builder.create_config()
    config.device = "gpu"
    with pytest.raises(gie.NoDeviceError) as e:
        builder.build(tiny_network(builder), config)
    msg = str(e.value)
    assert "GPU" in msg or "CUDA" in msg or "gpu" in msg, msg
    assert e.value.code == gie.ErrorCode.NO_DEVICE
    # the CPU backend is unaffected
    ctx = cpu_engine().create_execution_context()
    x = np.array([[-1, 2, -3, 4]], np.float32)
    np.testing.assert_array_equal(ctx.execute({"x": x})["y"], np.maximum(x, 0))
    # device "auto" falls back to the CPU
    config = builder.create_config()
    config.device = "auto"
    assert builder.build(tiny_network(builder), config).device == gie.DeviceType.CPU


@pytest.mark.skipif(HAS_GPU, reason="checks the behaviour without a usable GPU")
def test_gpu_memory_helpers_without_gpu():
    with pytest.raises(gie.NoDeviceError):
        gie._C.gpu_allocate(1024)
    with pytest.raises(gie.NoDeviceError):
        gie._C.gpu_stream_create()
    assert gie._C.gpu_is_device_pointer(np.zeros(4).ctypes.data) is False


# ---- allocator hook ------------------------------------------------------------------------------

class Recorder:
    def __init__(self):
        self.calls = []

    def allocate(self, size, alignment):
        self.calls.append(("allocate", size, alignment))
        return 0

    def deallocate(self, ptr):
        self.calls.append(("deallocate", ptr))


def test_set_gpu_allocator_installs_and_keeps_alive():
    assert gie.get_gpu_allocator() is None
    rec = Recorder()
    gie.set_gpu_allocator(rec)
    try:
        assert gie.get_gpu_allocator() is rec
        ident = id(rec)
        del rec
        assert id(gie.get_gpu_allocator()) == ident  # gie holds a reference while installed
        rec = gie.get_gpu_allocator()
        ctx = cpu_engine().create_execution_context()  # CPU engines never touch device memory
        ctx.execute({"x": np.ones((1, 4), np.float32)})
        assert rec.calls == []
        other = Recorder()
        gie.set_gpu_allocator(other)
        assert gie.get_gpu_allocator() is other
    finally:
        gie.set_gpu_allocator(None)
    assert gie.get_gpu_allocator() is None


def test_set_gpu_allocator_rejects_incomplete_objects():
    class NoFree:
        def allocate(self, size, alignment):
            return 0

    with pytest.raises(TypeError, match="deallocate"):
        gie.set_gpu_allocator(NoFree())
    with pytest.raises(TypeError, match="allocate"):
        gie.set_gpu_allocator(object())
    assert gie.get_gpu_allocator() is None


# ---- interop helpers (no GPU needed) -------------------------------------------------------------

class FakeStream:
    def __init__(self, **attrs):
        self.__dict__.update(attrs)


class CudaStreamProtocol:
    def __cuda_stream__(self):
        return (0, 1234)


def test_stream_handle():
    assert interop.stream_handle(None) is None
    assert interop.stream_handle(0) == 0
    assert interop.stream_handle(0x7F00_0000_1000) == 0x7F00_0000_1000
    assert interop.stream_handle(FakeStream(cuda_stream=77)) == 77  # torch.cuda.Stream
    assert interop.stream_handle(FakeStream(ptr=88)) == 88          # cupy.cuda.Stream
    assert interop.stream_handle(CudaStreamProtocol()) == 1234
    with pytest.raises(gie.InvalidArgumentError):
        interop.stream_handle(True)
    with pytest.raises(gie.InvalidArgumentError, match="stream must be"):
        interop.stream_handle("default")


class FakeCai:
    """A __cuda_array_interface__ producer that is never dereferenced."""

    def __init__(self, shape, typestr="<f4", strides=None, readonly=False, ptr=0x1000):
        self.__cuda_array_interface__ = {"shape": tuple(shape), "typestr": typestr, "data": (ptr, readonly),
                                         "strides": strides, "version": 3}


class FakeDLPackCuda:
    def __dlpack__(self, stream=None):
        raise AssertionError("not consumed by kind_of")

    def __dlpack_device__(self):
        return (2, 0)


def test_kind_of():
    assert interop.kind_of(np.zeros(3)) == "host"
    assert interop.kind_of([1.0, 2.0]) == "host"
    assert interop.kind_of(FakeCai((2, 3))) == "cai"
    assert interop.kind_of(FakeDLPackCuda()) == "dlpack"
    assert interop.kind_of(np.zeros(3, np.float32)) == "host"  # numpy has __dlpack__ too, on the CPU


def test_device_view_checks_without_touching_memory():
    f32 = np.dtype(np.float32)
    v = interop.device_view(FakeCai((2, 3, 4)), "cai", None, "input 'x'")
    assert v.shape == (2, 3, 4) and v.dtype == f32 and v.contiguous and v.ptr == 0x1000 and v.nbytes == 96
    strided = FakeCai((2, 3, 4), strides=(4, 8, 24))  # a transposed view
    v = interop.device_view(strided, "cai", None, "input 'x'")
    assert not v.contiguous
    with pytest.raises(gie.InvalidArgumentError, match=r"input 'x' is not C-contiguous; call \.contiguous\(\)"):
        interop.check_device_view(v, "input 'x'", f32)
    packed = interop.device_view(FakeCai((2, 3, 4), strides=(48, 16, 4)), "cai", None, "x")
    assert packed.contiguous  # explicit strides of a packed layout
    v = interop.device_view(FakeCai((2, 3), typestr="<f8"), "cai", None, "input 'x'")
    with pytest.raises(gie.InvalidArgumentError, match=r"input 'x' has dtype float64; the engine expects float32"):
        interop.check_device_view(v, "input 'x'", f32)
    v = interop.device_view(FakeCai((2, 3), readonly=True), "cai", None, "output 'y'")
    with pytest.raises(gie.InvalidArgumentError, match=r"output 'y' has shape \(2, 3\).*\(2, 4\)"):
        interop.check_device_view(v, "output 'y'", f32, shape=(2, 4), writable=True)
    with pytest.raises(gie.InvalidArgumentError, match="read-only"):
        interop.check_device_view(v, "output 'y'", f32, shape=(2, 3), writable=True)


@pytest.mark.parametrize("shape,strides,ok", [
    ((2, 3), None, True), ((2, 3), (3, 1), True), ((2, 3), (1, 2), False), ((1, 3), (99, 1), True),
    ((2, 1, 3), (3, 7, 1), True), ((0, 3), (5, 9), True), ((4,), (2,), False)])
def test_c_contiguous(shape, strides, ok):
    assert interop._c_contiguous(shape, strides, 1) is ok


def test_dlpack_consume_cpu_capsule():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = gie._C._dlpack_consume(a.__dlpack__())
    assert t.ptr == a.ctypes.data and t.shape == (3, 4) and t.device == (1, 0)
    assert t.dtype == (2, 32, 1)
    assert t.strides in (None, (4, 1))
    b = a[:, ::2]
    tb = gie._C._dlpack_consume(b.__dlpack__())
    assert tb.strides == (4, 2) and tb.shape == (3, 2)
    cap = a.__dlpack__()
    gie._C._dlpack_consume(cap)
    with pytest.raises(TypeError, match="unused DLPack capsule"):
        gie._C._dlpack_consume(cap)  # consumed once only
    del t, tb
    assert a.sum() == 66  # the producer's memory is still fine after the deleters ran


def test_gpu_runner_not_created_for_cpu_engines():
    ctx = cpu_engine().create_execution_context()
    assert ctx._gpu is None and not ctx.is_gpu


def test_interop_does_not_import_frameworks():
    code = "import sys, gie; print('torch' in sys.modules, 'cupy' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]


# ---- the GPU execute path, simulated on the host --------------------------------------------------
# GpuRunner drives a CPU engine's context with a stand-in for gie._C whose "device" memory is host memory:
# this checks the binding, staging and output plumbing of execute/execute_async on any machine.

class HostGpuShim:
    def __init__(self):
        self.buffers = {}
        self.copies = []
        self.syncs = []
        self.stream_count = 0

    def gpu_allocate(self, nbytes):
        buf = np.zeros(nbytes + 64, np.uint8)
        ptr = buf.ctypes.data + (-buf.ctypes.data) % 64
        self.buffers[ptr] = buf
        return ptr

    def gpu_free(self, ptr):
        del self.buffers[ptr]

    def gpu_copy(self, dst, src, nbytes, kind, stream):
        import ctypes

        ctypes.memmove(dst, src, nbytes)
        self.copies.append((kind, nbytes, stream))

    def gpu_stream_create(self):
        self.stream_count += 1
        return 0x5000 + self.stream_count

    def gpu_stream_destroy(self, s):
        pass

    def gpu_stream_synchronize(self, s):
        self.syncs.append(s)

    def gpu_is_device_pointer(self, ptr):
        return True

    def __getattr__(self, name):
        return getattr(gie._C, name)


class HostCai:
    """Host memory presented as a device array (for the simulation only)."""

    def __init__(self, arr, stream=None):
        self.arr = arr
        self.__cuda_array_interface__ = {"shape": arr.shape, "typestr": arr.dtype.str, "strides": None,
                                         "data": (arr.ctypes.data, False), "version": 3, "stream": stream}


@pytest.fixture
def simulated(monkeypatch):
    shim = HostGpuShim()
    monkeypatch.setattr(interop, "_C", shim)
    engine = cpu_engine()
    ctx = engine.create_execution_context()
    ctx._gpu = interop.GpuRunner(ctx._impl, engine)
    yield ctx, shim
    ctx._gpu.close()
    assert shim.buffers == {}  # staging buffers freed


def test_simulated_numpy_path(simulated):
    ctx, shim = simulated
    for batch in (3, 1, 2):
        x = np.linspace(-1, 1, batch * 4, dtype=np.float32).reshape(batch, 4)
        res = ctx.execute({"x": x})
        assert isinstance(res["y"], np.ndarray)
        np.testing.assert_array_equal(res["y"], np.maximum(x, 0))
    assert len(shim.buffers) == 2  # one staging buffer per tensor, at the largest batch, reused
    own = ctx.stream
    assert shim.syncs == [own] * 3 and {c[2] for c in shim.copies} == {own}
    assert [c[0] for c in shim.copies] == [interop.HOST_TO_DEVICE, interop.DEVICE_TO_HOST] * 3
    y = np.full((2, 4), np.nan, np.float32)
    x = -np.ones((2, 4), np.float32)
    assert ctx.execute(x, outputs={"y": y})["y"] is y
    np.testing.assert_array_equal(y, 0)
    with pytest.raises(gie.InvalidArgumentError, match=r"output 'y' must be a writable C-contiguous numpy array"):
        ctx.execute(x, outputs={"y": np.empty((3, 4), np.float32)})
    with pytest.raises(gie.InvalidArgumentError, match=r"input 'x' has dtype float64; the engine expects float32"):
        ctx.execute(x.astype(np.float64))
    with pytest.raises(gie.InvalidArgumentError, match=r"input 'x': batch 4 is outside"):
        ctx.execute(np.zeros((4, 4), np.float32))


def test_simulated_device_tensors_zero_copy(simulated):
    ctx, shim = simulated
    x = np.array([[-1, 2, -3, 4], [5, -6, 7, -8]], np.float32)
    y = np.full((2, 4), np.nan, np.float32)
    res = ctx.execute({"x": HostCai(x)}, outputs={"y": HostCai(y)}, stream=77)
    np.testing.assert_array_equal(y, np.maximum(x, 0))  # written in place
    assert shim.copies == [] and shim.buffers == {}     # no staging, no copies
    assert shim.syncs == [77]
    # the producer's stream (v3) is waited for when gie runs on another one
    ctx.execute({"x": HostCai(x, stream=55)}, outputs={"y": HostCai(y)}, stream=77)
    assert shim.syncs[1:] == [55, 77]
    # not given: numpy for generic device arrays
    res = ctx.execute({"x": HostCai(x)})
    assert isinstance(res["y"], np.ndarray)
    np.testing.assert_array_equal(res["y"], np.maximum(x, 0))
    # async: device tensors only, no wait
    n = len(shim.syncs)
    y2 = np.full((2, 4), np.nan, np.float32)
    out = ctx.execute_async({"x": HostCai(x)}, outputs={"y": HostCai(y2)}, stream=9)
    assert set(out) == {"y"} and len(shim.syncs) == n
    np.testing.assert_array_equal(y2, np.maximum(x, 0))
    with pytest.raises(gie.InvalidArgumentError, match="execute_async needs device outputs"):
        ctx.execute_async({"x": HostCai(x)})
    with pytest.raises(gie.InvalidArgumentError, match="device tensors only"):
        ctx.execute_async({"x": x}, outputs={"y": HostCai(y2)})
    with pytest.raises(gie.InvalidArgumentError, match="'numpy', 'torch' or 'cupy'"):
        ctx.execute({"x": x}, outputs="jax")


def test_simulated_errors_name_the_tensor(simulated):
    ctx, _ = simulated
    x = np.zeros((2, 4), np.float32)
    xt = np.zeros((4, 2), np.float32).T
    with pytest.raises(gie.InvalidArgumentError, match=r"input 'x' is not C-contiguous; call \.contiguous\(\)"):
        ctx.execute({"x": FakeCai(xt.shape, strides=xt.strides)})
    with pytest.raises(gie.InvalidArgumentError, match=r"input 'x' has dtype int32; the engine expects float32"):
        ctx.execute({"x": HostCai(x.astype(np.int32))})
    with pytest.raises(gie.InvalidArgumentError, match=r"output 'y' has shape \(3, 4\).*\(2, 4\)"):
        ctx.execute({"x": HostCai(x)}, outputs={"y": HostCai(np.zeros((3, 4), np.float32))})
    with pytest.raises(gie.InvalidArgumentError, match=r"unknown output\(s\) \['z'\]"):
        ctx.execute({"x": x}, outputs={"z": x})
    with pytest.raises(gie.InvalidArgumentError, match="stream must be"):
        ctx.execute({"x": x}, stream="fast")


def test_tf32_flag_defaults_on_and_round_trips():
    config = gie.Builder().create_config()
    assert config.tf32 is True and config.get_flag(gie.BuilderFlag.TF32)
    config.tf32 = False
    assert config.tf32 is False and not config.get_flag(gie.BuilderFlag.TF32)
