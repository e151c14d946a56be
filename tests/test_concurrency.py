"""One execution context per thread is enforced (issue 11 item 10): a context used from a second thread while a
call is running raises InvalidArgumentError, never a wrong result or a crash. Several contexts of one engine
run in parallel (tests/test_execution.py::test_eight_threads_one_engine checks their results)."""
import threading

import numpy as np
import pytest

import gie

C, H, W = 4, 12, 12
MAX_BATCH = 4
BUSY = "already in use by another thread"


@pytest.fixture(scope="module")
def engine():
    rng = np.random.default_rng(7)
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (1, C, H, W))
    conv = net.add_convolution(x, 16, (3, 3), rng.standard_normal((16, C, 3, 3)).astype(np.float32),
                               rng.standard_normal(16).astype(np.float32), padding=1)
    relu = net.add_activation(conv.output(0), gie.ActivationType.RELU)
    conv2 = net.add_convolution(relu.output(0), 8, (3, 3), rng.standard_normal((8, 16, 3, 3)).astype(np.float32),
                                padding=1)
    net.mark_output(conv2.output(0), "y")
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = MAX_BATCH
    return builder.build(net, config)


def _run_threads(n, target):
    errors = []

    def wrap(t):
        try:
            target(t)
        except BaseException as e:  # noqa: BLE001
            errors.append((t, repr(e)))

    threads = [threading.Thread(target=wrap, args=(t,)) for t in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=300)
    assert not any(th.is_alive() for th in threads), "a worker hung"
    assert not errors, errors


def test_threads_sharing_one_context_get_the_right_result_or_a_clear_error(engine):
    """Eight threads hammer one context with different inputs and batch sizes: every call returns that thread's
    correct result or raises the busy error. Without the check most results were another thread's (or garbage)."""
    n_threads, iters = 8, 40
    rng = np.random.default_rng(11)
    work = [[rng.standard_normal((int(rng.integers(1, MAX_BATCH + 1)), C, H, W)).astype(np.float32)
             for _ in range(iters)] for _ in range(n_threads)]
    ref = engine.create_execution_context()
    expected = [[ref.execute(x)["y"].copy() for x in w] for w in work]
    shared = engine.create_execution_context()
    outcomes = [[None] * iters for _ in range(n_threads)]
    barrier = threading.Barrier(n_threads)

    def worker(t):
        barrier.wait()
        for i, x in enumerate(work[t]):
            try:
                y = shared.execute(x)["y"]
            except gie.InvalidArgumentError as e:
                assert BUSY in str(e), str(e)
                outcomes[t][i] = "busy"
                continue
            np.testing.assert_array_equal(y, expected[t][i], err_msg=f"thread {t} call {i}: another thread's result")
            outcomes[t][i] = "ok"

    _run_threads(n_threads, worker)
    flat = [o for row in outcomes for o in row]
    assert None not in flat
    assert "ok" in flat
    # The context still works for one thread afterwards.
    np.testing.assert_array_equal(shared.execute(work[0][0])["y"], expected[0][0])


def test_native_calls_on_a_busy_context_are_refused(engine):
    """The C++ context itself refuses concurrent calls (what C++ users get): threads calling the bound methods
    directly, the GIL released around execute, each get success or the busy error; the bound buffers are
    never corrupted."""
    x = np.random.default_rng(3).standard_normal((MAX_BATCH, C, H, W)).astype(np.float32)
    expected = engine.create_execution_context().execute(x)["y"]
    ctx = engine.create_execution_context()
    impl = ctx._impl
    y = np.empty_like(expected)
    impl.set_input_shape("x", list(x.shape))
    impl.set_tensor_address("x", x.ctypes.data)
    impl.set_tensor_address("y", y.ctypes.data)
    counts = {"ok": 0, "busy": 0}
    lock = threading.Lock()
    calls = [lambda: impl._execute(), lambda: impl.set_input_shape("x", list(x.shape)),
             lambda: impl.set_tensor_address("y", y.ctypes.data), lambda: impl.get_tensor_shape("y")]

    def worker(t):
        for i in range(60):
            try:
                calls[(t + i) % len(calls)]()
                key = "ok"
            except gie.InvalidArgumentError as e:
                assert BUSY in str(e), str(e)
                key = "busy"
            with lock:
                counts[key] += 1

    _run_threads(6, worker)
    assert counts["ok"] + counts["busy"] == 6 * 60
    impl._execute()
    np.testing.assert_array_equal(y, expected)


def _hold_inside_execute(ctx, run):
    """Starts ``run()`` on a thread whose first profiler callback (inside the C++ execute) waits until released.
    Returns (release, join)."""
    entered, release = threading.Event(), threading.Event()

    def profiler(name, ms):
        if not entered.is_set():
            entered.set()
            release.wait(60)

    ctx.profiler = profiler
    errors = []

    def target():
        try:
            run()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    th = threading.Thread(target=target)
    th.start()
    assert entered.wait(60), "execute never reached its first kernel"

    def join():
        release.set()
        th.join(60)
        assert not th.is_alive()
        assert not errors, errors

    return release, join


@pytest.mark.parametrize("call", ["execute", "execute_bound", "set_input_shape", "set_tensor_address",
                                  "get_tensor_shape", "enqueue"])
def test_every_call_is_refused_while_execute_runs(engine, call):
    """Deterministic: one thread is held inside execute (in its profiler callback); each call from another thread
    raises the busy error naming the call, and the held run still completes correctly."""
    x = np.ones((2, C, H, W), np.float32)
    expected = engine.create_execution_context().execute(x)["y"]
    ctx = engine.create_execution_context()
    result = {}
    _, join = _hold_inside_execute(ctx, lambda: result.update(ctx.execute(x)))
    try:
        args = {"execute": (x,), "set_input_shape": ("x", (1, C, H, W)), "set_tensor_address": ("x", 0),
                "get_tensor_shape": ("y",)}.get(call, ())
        with pytest.raises(gie.InvalidArgumentError, match=f"{call}: the execution context is {BUSY}"):
            getattr(ctx, call)(*args)
    finally:
        join()
    np.testing.assert_array_equal(result["y"], expected)


@pytest.mark.parametrize("call", ["_execute", "set_input_shape", "set_tensor_address", "get_tensor_shape", "enqueue"])
def test_native_call_is_refused_while_native_execute_runs(engine, call):
    """The same through the bound C++ methods (no Python lock): the C++ context's own check."""
    x = np.ones((1, C, H, W), np.float32)
    y = np.empty((1, 8, H, W), np.float32)
    ctx = engine.create_execution_context()
    impl = ctx._impl
    impl.set_input_shape("x", [1, C, H, W])
    impl.set_tensor_address("x", x.ctypes.data)
    impl.set_tensor_address("y", y.ctypes.data)
    _, join = _hold_inside_execute(ctx, impl._execute)
    try:
        args = {"set_input_shape": ("x", [1, C, H, W]), "set_tensor_address": ("x", 0),
                "get_tensor_shape": ("y",), "enqueue": (0,)}.get(call, ())
        native = {"_execute": "execute", "set_input_shape": "setInputShape", "set_tensor_address": "setTensorAddress",
                  "get_tensor_shape": "getTensorShape", "enqueue": "enqueue"}[call]
        with pytest.raises(gie.InvalidArgumentError, match=f"{native}: the execution context is {BUSY}"):
            getattr(impl, call)(*args)
    finally:
        join()
    np.testing.assert_array_equal(y, engine.create_execution_context().execute(x)["y"])


def test_contexts_of_one_engine_run_in_parallel_while_one_is_held(engine):
    """Holding one context does not block the others: the check is per context, not per engine."""
    x = np.full((1, C, H, W), 0.5, np.float32)
    expected = engine.create_execution_context().execute(x)["y"]
    held = engine.create_execution_context()
    _, join = _hold_inside_execute(held, lambda: held.execute(x))
    try:
        results = [None] * 4

        def worker(t):
            results[t] = engine.create_execution_context().execute(x)["y"]

        _run_threads(4, worker)
        for r in results:
            np.testing.assert_array_equal(r, expected)
    finally:
        join()
