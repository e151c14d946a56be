"""Execution contexts: concurrency, input validation, output preallocation, the profiler hook and lifetimes."""
import gc
import threading
import weakref

import numpy as np
import pytest

import gie

C, H, W = 3, 10, 10
MAX_BATCH = 6


def make_network(builder, rng):
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (1, C, H, W))
    conv = net.add_convolution(x, 8, (3, 3), rng.standard_normal((8, C, 3, 3)).astype(np.float32),
                               rng.standard_normal(8).astype(np.float32), padding=1)
    relu = net.add_activation(conv.output(0), gie.ActivationType.RELU)
    pool = net.add_pooling(relu.output(0), gie.PoolingType.MAX, (2, 2))
    pool.stride = (2, 2)
    fc = net.add_fully_connected(pool.output(0), 10, (rng.standard_normal((10, 8 * 5 * 5)) * 0.1).astype(np.float32),
                                 rng.standard_normal(10).astype(np.float32))
    sm = net.add_softmax(fc.output(0))
    net.mark_output(sm.output(0), "prob")
    net.mark_output(pool.output(0), "features")
    return net


def build_engine(rng, batch_range=(1, 1, MAX_BATCH)):
    builder = gie.Builder()
    net = make_network(builder, rng)
    config = builder.create_config()
    config.device = "cpu"
    config.set_batch_range(*batch_range)
    config.set_pass_enabled("fuse_epilogue", False)  # these tests count one kernel per layer
    return builder.build(net, config)


@pytest.fixture(scope="module")
def engine():
    return build_engine(np.random.default_rng(1234))


def two_input_engine():
    builder = gie.Builder()
    net = builder.create_network()
    a = net.add_input("alpha", gie.float32, (1, 4))
    b = net.add_input("beta", gie.int32, (1, 2, 3))
    net.mark_output(net.add_activation(a, gie.ActivationType.RELU).output(0), "relu_alpha")
    net.mark_output(net.add_identity(b).output(0), "beta_copy")
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = 4
    return builder.build(net, config)


# ---- concurrency ---------------------------------------------------------------------------------

def test_eight_threads_one_engine(engine):
    n_threads, iters = 8, 25
    rng = np.random.default_rng(99)
    work = [[rng.standard_normal((int(rng.integers(1, MAX_BATCH + 1)), C, H, W)).astype(np.float32) for _ in range(iters)]
            for _ in range(n_threads)]
    results = [[None] * iters for _ in range(n_threads)]
    errors = []
    barrier = threading.Barrier(n_threads)

    def worker(t):
        try:
            ctx = engine.create_execution_context()
            barrier.wait()
            for i, x in enumerate(work[t]):
                out = ctx.execute({"x": x})
                results[t][i] = {k: v.copy() for k, v in out.items()}
        except BaseException as e:  # noqa: BLE001
            errors.append((t, repr(e)))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=600)
    assert not any(th.is_alive() for th in threads), "a worker hung"
    assert not errors, errors

    ref_ctx = engine.create_execution_context()
    for t in range(n_threads):
        for i, x in enumerate(work[t]):
            expected = ref_ctx.execute({"x": x})
            got = results[t][i]
            assert got.keys() == expected.keys()
            for k in expected:
                assert got[k].shape[0] == x.shape[0]
                np.testing.assert_array_equal(got[k], expected[k], err_msg=f"thread {t} iteration {i} output {k}")


def test_contexts_are_independent(engine):
    """Two contexts with different batch sizes interleaved do not disturb each other's shapes or values."""
    rng = np.random.default_rng(5)
    a, b = engine.create_execution_context(), engine.create_execution_context()
    xa = rng.standard_normal((2, C, H, W)).astype(np.float32)
    xb = rng.standard_normal((5, C, H, W)).astype(np.float32)
    ra = a.execute({"x": xa})["prob"].copy()
    rb = b.execute({"x": xb})["prob"].copy()
    assert a.get_tensor_shape("prob") == (2, 10) and b.get_tensor_shape("prob") == (5, 10)
    np.testing.assert_array_equal(a.execute({"x": xa})["prob"], ra)
    np.testing.assert_array_equal(b.execute({"x": xb})["prob"], rb)
    np.testing.assert_array_equal(engine.create_execution_context().execute({"x": xa})["prob"], ra)


def test_batch_rows_are_independent(engine):
    """Row i of a batch gives the same result as running it alone (no cross-batch leakage)."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((MAX_BATCH, C, H, W)).astype(np.float32)
    ctx = engine.create_execution_context()
    full = ctx.execute({"x": x})["prob"].copy()
    for i in range(MAX_BATCH):
        one = ctx.execute({"x": x[i:i + 1]})["prob"]
        np.testing.assert_allclose(one[0], full[i], rtol=2e-5, atol=1e-6)  # GEMM blocking may differ by batch


# ---- input validation ----------------------------------------------------------------------------

def good(n=2):
    return np.zeros((n, C, H, W), np.float32)


def test_missing_input():
    eng = two_input_engine()
    ctx = eng.create_execution_context()
    with pytest.raises(gie.InvalidArgumentError, match="missing input.*'beta'"):
        ctx.execute({"alpha": np.zeros((1, 4), np.float32)})
    with pytest.raises(gie.InvalidArgumentError, match="missing input.*'alpha'.*'beta'"):
        ctx.execute({})


def test_unknown_input_name(engine):
    ctx = engine.create_execution_context()
    with pytest.raises(gie.InvalidArgumentError, match="unknown input.*'y'"):
        ctx.execute({"x": good(), "y": good()})
    with pytest.raises(gie.InvalidArgumentError, match="unknown input.*'prob'"):
        ctx.execute({"prob": good()})


@pytest.mark.parametrize("shape,pattern", [
    ((2, C, H, W + 1), r"input 'x' must have shape \(batch, 3, 10, 10\).*\(2, 3, 10, 11\).*dimension 3"),
    ((2, C + 1, H, W), r"input 'x'.*dimension 1"),
    ((1, C, 1, W), r"input 'x'.*dimension 2"),
])
def test_wrong_shape(engine, shape, pattern):
    ctx = engine.create_execution_context()
    with pytest.raises(gie.InvalidArgumentError, match=pattern):
        ctx.execute({"x": np.zeros(shape, np.float32)})


@pytest.mark.parametrize("shape", [(2, C, H), (2, C, H, W, 1), (C * H * W,), (1, 1, C, H, W)])
def test_wrong_rank(engine, shape):
    ctx = engine.create_execution_context()
    with pytest.raises(gie.InvalidArgumentError, match=r"input 'x' has 4 dimensions"):
        ctx.execute({"x": np.zeros(shape, np.float32)})


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int32, np.uint8])
def test_wrong_dtype(engine, dtype):
    ctx = engine.create_execution_context()
    with pytest.raises(gie.InvalidArgumentError, match=f"input 'x' has dtype {np.dtype(dtype).name}.*float32"):
        ctx.execute({"x": good().astype(dtype)})


def test_wrong_dtype_int32_input():
    ctx = two_input_engine().create_execution_context()
    with pytest.raises(gie.InvalidArgumentError, match="input 'beta' has dtype float32.*int32"):
        ctx.execute({"alpha": np.zeros((1, 4), np.float32), "beta": np.zeros((1, 2, 3), np.float32)})


def test_batch_out_of_range(engine):
    ctx = engine.create_execution_context()
    with pytest.raises(gie.InvalidArgumentError, match=r"input 'x': batch 7 is outside the engine's batch range \[1, 6\]"):
        ctx.execute({"x": good(MAX_BATCH + 1)})
    with pytest.raises(gie.InvalidArgumentError, match=r"input 'x': batch 0 is outside"):
        ctx.execute({"x": good(0)})
    # The context is still usable and its shapes are not left at the rejected batch.
    out = ctx.execute({"x": good(3)})
    assert out["prob"].shape == (3, 10)
    assert ctx.get_tensor_shape("x") == (3, C, H, W)


def test_batch_below_min():
    eng = build_engine(np.random.default_rng(2), batch_range=(2, 3, 4))
    assert (eng.min_batch, eng.max_batch) == (2, 4)
    ctx = eng.create_execution_context()
    with pytest.raises(gie.InvalidArgumentError, match=r"input 'x': batch 1 is outside the engine's batch range \[2, 4\]"):
        ctx.execute({"x": good(1)})
    with pytest.raises(gie.InvalidArgumentError, match="input 'x': batch 5"):
        ctx.execute({"x": good(5)})
    for n in (2, 3, 4):
        assert ctx.execute({"x": good(n)})["prob"].shape == (n, 10)


def test_set_input_shape_errors(engine):
    ctx = engine.create_execution_context()
    with pytest.raises(gie.InvalidArgumentError, match="no input or output named 'nope'"):
        ctx.set_input_shape("nope", (1, C, H, W))
    with pytest.raises(gie.InvalidArgumentError, match="'prob' is an output"):
        ctx.set_input_shape("prob", (1, 10))
    with pytest.raises(gie.InvalidArgumentError, match="input 'x'.*batch 0"):
        ctx.set_input_shape("x", (0, C, H, W))
    ctx.set_input_shape("x", (4, C, H, W))
    assert ctx.get_tensor_shape("prob") == (4, 10)
    assert ctx.get_tensor_shape("features") == (4, 8, 5, 5)


def test_unbound_input_in_bound_execution(engine):
    ctx = engine.create_execution_context()
    ctx.set_input_shape("x", (1, C, H, W))
    with pytest.raises(gie.InvalidArgumentError, match="input 'x' has no memory bound"):
        ctx.execute_bound()


def test_non_contiguous_and_list_inputs(engine):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, C, H, W)).astype(np.float32)
    ctx = engine.create_execution_context()
    expected = ctx.execute({"x": x})["prob"].copy()
    xt = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)  # same values, non-contiguous
    assert not xt.flags.c_contiguous
    np.testing.assert_array_equal(ctx.execute({"x": xt})["prob"], expected)
    np.testing.assert_array_equal(ctx.execute(x)["prob"], expected)  # a single array for a one-input engine
    wide = np.zeros((2, C, H, 2 * W), np.float32)
    wide[..., ::2] = x
    np.testing.assert_array_equal(ctx.execute({"x": wide[..., ::2]})["prob"], expected)


# ---- output preallocation ------------------------------------------------------------------------

def test_preallocated_outputs(engine):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, C, H, W)).astype(np.float32)
    ctx = engine.create_execution_context()
    expected = {k: v.copy() for k, v in ctx.execute({"x": x}).items()}
    prob = np.full((3, 10), np.nan, np.float32)
    feats = np.full((3, 8, 5, 5), np.nan, np.float32)
    out = ctx.execute({"x": x}, outputs={"prob": prob, "features": feats})
    assert out["prob"] is prob and out["features"] is feats
    np.testing.assert_array_equal(prob, expected["prob"])
    np.testing.assert_array_equal(feats, expected["features"])
    # Only one preallocated: the other is allocated.
    prob2 = np.empty((3, 10), np.float32)
    out = ctx.execute({"x": x}, outputs={"prob": prob2})
    assert out["prob"] is prob2
    np.testing.assert_array_equal(out["features"], expected["features"])
    # A later call with other inputs writes into the same buffer.
    out = ctx.execute({"x": x[:1]}, outputs={"prob": prob2[:1]})
    np.testing.assert_array_equal(prob2[:1], expected["prob"][:1])


@pytest.mark.parametrize("bad", ["shape", "batch", "dtype", "fortran", "strided", "readonly", "list"])
def test_bad_preallocated_outputs(engine, bad):
    x = good(3)
    arr = {
        "shape": np.empty((3, 11), np.float32),
        "batch": np.empty((2, 10), np.float32),
        "dtype": np.empty((3, 10), np.float64),
        "fortran": np.asfortranarray(np.empty((3, 10), np.float32)),
        "strided": np.empty((3, 20), np.float32)[:, ::2],
        "readonly": np.empty((3, 10), np.float32),
        "list": [[0.0] * 10] * 3,
    }[bad]
    if bad == "readonly":
        arr.flags.writeable = False
    ctx = engine.create_execution_context()
    pattern = r"output 'prob' must be a writable C-contiguous numpy array of shape \(3, 10\)"
    with pytest.raises(gie.InvalidArgumentError, match=pattern):
        ctx.execute({"x": x}, outputs={"prob": arr})
    assert ctx.execute({"x": x})["prob"].shape == (3, 10)


# ---- profiler ------------------------------------------------------------------------------------

def test_profiler_one_call_per_kernel(engine):
    kernels = [k["name"] for k in engine.layer_info()["kernels"]]
    assert len(kernels) == engine.num_kernels >= 5
    calls = []
    ctx = engine.create_execution_context()
    ctx.profiler = lambda name, ms: calls.append((name, ms))
    assert ctx.profiler is not None
    ctx.execute({"x": good(2)})
    assert [c[0] for c in calls] == kernels
    assert all(isinstance(ms, float) and ms >= 0 for _, ms in calls)
    calls.clear()
    ctx.execute({"x": good(1)})
    ctx.execute({"x": good(4)})
    assert [c[0] for c in calls] == kernels * 2
    ctx.profiler = None
    calls.clear()
    ctx.execute({"x": good(2)})
    assert calls == []


def test_profiler_per_context(engine):
    a, b = engine.create_execution_context(), engine.create_execution_context()
    calls = []
    a.profiler = lambda name, ms: calls.append(name)
    b.execute({"x": good()})
    assert calls == []
    a.execute({"x": good()})
    assert len(calls) == engine.num_kernels


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_profiler_exception_does_not_break_execution(engine):
    ctx = engine.create_execution_context()
    seen = []

    def bad(name, ms):
        seen.append(name)
        raise RuntimeError("profiler bug")

    ctx.profiler = bad
    expected = engine.create_execution_context().execute({"x": good(2)})["prob"]
    np.testing.assert_array_equal(ctx.execute({"x": good(2)})["prob"], expected)
    assert len(seen) == engine.num_kernels


# ---- lifetimes -----------------------------------------------------------------------------------

def test_engine_outlives_builder_and_network():
    rng = np.random.default_rng(21)
    builder = gie.Builder()
    net = make_network(builder, rng)
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = 2
    engine = builder.build(net, config)
    refs = [weakref.ref(builder), weakref.ref(config)]
    x = rng.standard_normal((2, C, H, W)).astype(np.float32)
    expected = engine.create_execution_context().execute({"x": x})["prob"].copy()
    del builder, net, config
    gc.collect()
    assert all(r() is None for r in refs), "builder/config should have been collected"
    ctx = engine.create_execution_context()
    np.testing.assert_array_equal(ctx.execute({"x": x})["prob"], expected)
    # Errors still log through the (builder's) logger and raise properly.
    with pytest.raises(gie.InvalidArgumentError):
        ctx.execute({"x": good(3)})
    assert engine.serialize()


def test_context_keeps_engine_alive():
    rng = np.random.default_rng(22)
    engine = build_engine(rng)
    x = rng.standard_normal((2, C, H, W)).astype(np.float32)
    expected = engine.create_execution_context().execute({"x": x})["prob"].copy()
    ctx = engine.create_execution_context()
    raw = engine._impl.create_execution_context()  # the native context alone, without the Python wrapper
    eref = weakref.ref(engine)
    del engine
    gc.collect()
    assert eref() is not None  # the Python wrapper keeps it via ctx.engine
    np.testing.assert_array_equal(ctx.execute({"x": x})["prob"], expected)
    del ctx
    gc.collect()
    assert eref() is None
    # The native context still holds the native engine.
    raw.set_input_shape("x", [2, C, H, W])
    out = np.empty((2, 10), np.float32)
    feats = np.empty((2, 8, 5, 5), np.float32)
    xc = np.ascontiguousarray(x)
    raw.set_tensor_address("x", xc.ctypes.data)
    raw.set_tensor_address("prob", out.ctypes.data)
    raw.set_tensor_address("features", feats.ctypes.data)
    raw._execute()
    np.testing.assert_array_equal(out, expected)
    assert raw.engine.num_kernels >= 5


def test_deserialized_engine_outlives_runtime(engine):
    data = engine.serialize()
    rt = gie.Runtime()
    loaded = rt.deserialize(data)
    del rt
    gc.collect()
    x = np.random.default_rng(3).standard_normal((2, C, H, W)).astype(np.float32)
    np.testing.assert_array_equal(loaded.create_execution_context().execute({"x": x})["prob"],
                                  engine.create_execution_context().execute({"x": x})["prob"])
    with pytest.raises(gie.InvalidArgumentError):
        loaded.create_execution_context().execute({"x": good(7)})


def test_engine_properties(engine):
    assert engine.input_names == ["x"]
    assert engine.output_names == ["prob", "features"]
    assert engine.get_tensor_shape("x") == (MAX_BATCH, C, H, W)
    assert engine.get_tensor_shape("prob") == (MAX_BATCH, 10)
    assert engine.get_tensor_dtype("prob") == gie.float32
    assert engine.device == gie.DeviceType.CPU
    assert (engine.min_batch, engine.max_batch) == (1, MAX_BATCH)
    assert engine.activation_memory_size == engine.layer_info()["memory"]["arena_bytes"] > 0
    with pytest.raises(gie.InvalidArgumentError, match="no input or output named 'nope'"):
        engine.get_tensor_shape("nope")


def test_layer_that_cannot_run_at_the_smallest_batch_fails_the_build():
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (4, 3, 2, 2))
    net.mark_output(net.add_shuffle(x, reshape=(4, 12)).output(0), "y")  # fits batch 4 only
    config = builder.create_config()
    config.device = "cpu"
    config.set_batch_range(1, 4, 4)
    with pytest.raises(gie.InvalidModelError, match=r"layer 'Shuffle_0' cannot run at batch 1 \(the smallest of the "
                                                    r"batch range\): .*volume mismatch"):
        builder.build(net, config)
    config.set_batch_range(4, 4, 4)
    engine = builder.build(net, config)
    x4 = np.arange(48, dtype=np.float32).reshape(4, 3, 2, 2)
    np.testing.assert_array_equal(engine.create_execution_context().execute({"x": x4})["y"], x4.reshape(4, 12))


def test_inputs_whose_shapes_a_kernel_rejects_name_the_kernel():
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (4, 3))
    y = net.add_input("y", gie.float32, (4, 3))
    net.mark_output(net.add_elementwise(x, y, gie.ElementWiseOperation.SUM).output(0), "z")
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = 4
    ctx = builder.build(net, config).create_execution_context()
    with pytest.raises(gie.InvalidArgumentError, match=r"kernel 'ElementWise_0' rejects the current input shapes: "
                                                       r".*\(2, 3\) and \(3, 3\) cannot be broadcast"):
        ctx.execute({"x": np.ones((2, 3), np.float32), "y": np.ones((3, 3), np.float32)})
    a, b = np.ones((3, 3), np.float32), np.full((3, 3), 2.0, np.float32)
    np.testing.assert_array_equal(ctx.execute({"x": a, "y": b})["z"], a + b)  # the context is still usable
