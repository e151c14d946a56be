"""Serving gie engines on Ray Serve over the Open Inference Protocol (KServe v2): ``gie serve`` and its Python API.

    import gie.serve
    gie.serve.start_ray()                                  # a local Ray (or start_ray("ray://head:10001"))
    url = gie.serve.deploy(engine.serialize(), "lenet", replicas=2, port=8000)
    ...                                                    # tritonclient / curl against url
    print(gie.serve.status_text())                         # the replicas' metrics
    gie.serve.shutdown()

Needs ``pip install "gie[serve]"`` (Ray Serve and Ray Data); importing this module does not import Ray.
See docs/serving.md.
"""
import os
import re

from ..errors import InternalError, InvalidArgumentError, UnsupportedError

__all__ = ["require_ray", "start_ray", "deploy", "status_text", "read_metrics", "shutdown", "DEFAULT_PORT"]

DEFAULT_PORT = 8000
# The engine bytes of each deployed application, in Ray's object store: replicas (and replicas Ray restarts) read
# them from there. This process owns them, so it keeps the references for as long as the application lives.
_ENGINE_REFS = {}


def require_ray(what="gie serve"):
    """Imports Ray; an UnsupportedError with the install command when it is missing."""
    try:
        import ray  # noqa: F401
        from ray import serve  # noqa: F401
    except ImportError as e:
        raise UnsupportedError(f"{what} needs Ray Serve, which is not installed ({e}): pip install \"gie[serve]\"") \
            from None
    return ray


def start_ray(address=None, num_cpus=None, object_store_memory=None, metrics_report_interval_ms=None):
    """Connects to the Ray cluster at ``address`` (``ray://host:10001``, ``host:6379`` or ``auto``), or starts a
    local Ray when it is None (``num_cpus``, ``object_store_memory`` bytes and the metrics export interval apply
    only then). Does nothing when this process is connected already. Returns Ray's GCS address."""
    ray = require_ray()
    if not ray.is_initialized():
        kwargs = {"logging_level": "warning", "log_to_driver": os.environ.get("GIE_SERVE_LOG_TO_DRIVER") == "1"}
        if address is None:
            kwargs.update(num_cpus=num_cpus, object_store_memory=object_store_memory, include_dashboard=False)
            if metrics_report_interval_ms:
                kwargs["_system_config"] = {"metrics_report_interval_ms": int(metrics_report_interval_ms)}
        ray.init(address=address, **kwargs)
    try:
        return ray.get_runtime_context().gcs_address
    except Exception:  # noqa: BLE001  through Ray Client (ray://) the driver does not see the GCS address
        return address


def deploy(engine, name, replicas=1, gpus_per_replica=0, cpus_per_replica=1, max_batch=None, batch_wait_ms=2.0,
           contexts=2, host="127.0.0.1", port=DEFAULT_PORT):
    """Deploys the engine (an engine file's bytes, or a :class:`gie.Engine`) as Ray Serve application ``name``
    with ``replicas`` replicas and returns the model's URL (``http://host:port/v2/models/name``). Serve's HTTP
    proxy listens on ``host:port`` (set when Serve first starts on the cluster). ``max_batch`` (default: the
    engine's) caps the samples per engine batch; ``batch_wait_ms`` is how long a replica waits for more
    requests once one has arrived; ``contexts`` batches run at once per replica. A GPU engine needs
    ``gpus_per_replica`` > 0, a CPU engine 0."""
    import gie

    ray = require_ray()
    from ray import serve

    from .deployment import SERVER_APP, GieModel, GieServer
    from .protocol import ModelSpec

    data = engine.serialize() if isinstance(engine, gie.Engine) else bytes(engine)
    probe = gie.Runtime().deserialize(data)  # refuses a bad file here, before any replica starts
    on_gpu = probe.device == gie.DeviceType.GPU
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name == SERVER_APP:
        raise InvalidArgumentError(f"model name {name!r}: it goes into URLs; use letters, digits, '_', '.', '-' "
                                   f"(and not '{SERVER_APP}', the server endpoints' application)")
    if replicas < 1:
        raise InvalidArgumentError(f"replicas must be at least 1, not {replicas}")
    if contexts < 1:
        raise InvalidArgumentError(f"contexts must be at least 1, not {contexts}")
    if batch_wait_ms < 0:
        raise InvalidArgumentError(f"batch_wait_ms must be 0 or more, not {batch_wait_ms}")
    if max_batch is not None and max_batch < 1:
        raise InvalidArgumentError(f"max_batch must be at least 1, not {max_batch}")
    if on_gpu and not gpus_per_replica > 0:
        raise InvalidArgumentError(f"the engine of '{name}' is a GPU engine: give each replica a GPU "
                                   "(gpus_per_replica / --gpus-per-replica 1)")
    if not on_gpu and gpus_per_replica:
        raise InvalidArgumentError(f"the engine of '{name}' is a CPU engine: it would not use the "
                                   f"{gpus_per_replica} GPU(s) per replica asked for; build it for the GPU "
                                   "(--device gpu) or give 0")
    spec = ModelSpec.from_engine(probe, name, max_batch)
    batch = spec.max_batch
    del probe
    try:
        serve.start(http_options={"host": host, "port": int(port)})
    except Exception as e:  # noqa: BLE001  Ray's error (a RayTaskError with the proxy's traceback) in one line
        raise InvalidArgumentError(f"Ray Serve's HTTP proxy cannot start on {host}:{port}: {_last_line(e)} (is the "
                                   "port in use? choose another with --port)") from None
    if SERVER_APP not in serve.status().applications:
        _serve_run(serve.deployment(GieServer, name=SERVER_APP, ray_actor_options={"num_cpus": 0}).bind(),
                   SERVER_APP, "/v2")
    ref = _ENGINE_REFS[name] = ray.put(data)
    app = serve.deployment(
        GieModel, name=name, num_replicas=int(replicas),
        ray_actor_options={"num_cpus": float(cpus_per_replica), "num_gpus": float(gpus_per_replica)},
        # A replica admits enough requests to fill every batch it may run at once several times over: past this
        # many, Serve's router holds requests back and retries with a backoff, which collapses throughput under
        # many clients (64 clients on 1 replica: 34 req/s at a 32 limit); the replica's own batch queue is FIFO.
        max_ongoing_requests=max(128, 4 * batch * contexts),
    ).bind([ref], spec, batch_wait_ms / 1e3, contexts, batch)
    _serve_run(app, name, f"/v2/models/{name}")
    host, port = _http_address(host, port)
    return f"http://{host}:{port}/v2/models/{name}"


def _last_line(e):
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[-1] if lines else type(e).__name__


def _serve_run(app, name, route_prefix):
    from ray import serve

    try:
        serve.run(app, name=name, route_prefix=route_prefix)
    except Exception as e:  # noqa: BLE001  e.g. a replica that cannot load the engine on its node
        raise InternalError(f"Ray Serve could not start application '{name}': {_last_line(e)} (the replicas' logs "
                            "are in Ray's session folder, logs/serve/)") from None


def _http_address(host, port):
    """Where Serve's proxy really listens: a Serve started earlier on the cluster keeps its own host and port
    (serve.start's options apply only to the first start). Read through Serve's client, not a public API:
    the given values when that fails."""
    try:
        from ray.serve.context import _get_global_client

        cfg = _get_global_client().http_config
        return ("127.0.0.1" if cfg.host in ("0.0.0.0", "::") else cfg.host), cfg.port
    except Exception:  # noqa: BLE001
        return host, port


def shutdown(name=None):
    """Deletes model ``name``'s application (None: stops Serve) on the connected cluster."""
    require_ray()
    from ray import serve

    if name is None:
        serve.shutdown()
        _ENGINE_REFS.clear()
    else:
        serve.delete(name)
        _ENGINE_REFS.pop(name, None)


def read_metrics():
    """The gie serving metrics of every Ray node, read from the nodes' Prometheus endpoints: a list of
    (metric name without Ray's prefix, labels dict, value), histograms as their _bucket/_sum/_count samples."""
    ray = require_ray()
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    from .deployment import METRIC_PREFIX

    out = []
    for node in ray.nodes():
        port = node.get("MetricsExportPort")
        if not node.get("Alive") or not port:
            continue
        url = f"http://{node['NodeManagerAddress']}:{port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                text = r.read().decode()
        except OSError:
            continue  # a node going away: its replicas are gone too
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                name = s.name[len("ray_"):] if s.name.startswith("ray_") else s.name
                if name.startswith(METRIC_PREFIX):
                    out.append((name[len(METRIC_PREFIX):], dict(s.labels), float(s.value)))
    return out


def _replica_key(labels):
    return labels.get("model", "?"), labels.get("replica", "?")


def replica_stats(samples=None):
    """{(model, replica): stats} from :func:`read_metrics`: ``requests`` {status: count}, ``samples``,
    ``batches``, ``queue_ms`` (total over requests), ``inference_ms`` (total over batches) and
    ``max_batch_bucket`` (the upper bound of the batch-size histogram's highest bucket that holds a batch)."""
    samples = read_metrics() if samples is None else samples
    totals = ("samples", "batches", "queue_ms", "inference_ms")
    stats = {}
    buckets = {}
    for name, labels, value in samples:
        s = stats.setdefault(_replica_key(labels), {"requests": {}, "samples": 0.0, "batches": 0.0, "queue_ms": 0.0,
                                                    "inference_ms": 0.0, "max_batch_bucket": 0.0})
        while name.endswith("_total"):  # counters: "x" or "x_total" by exporter; queue_ms_total as queue_ms
            name = name[:-len("_total")]
        if name == "requests":
            status = labels.get("status", "?")
            s["requests"][status] = s["requests"].get(status, 0.0) + value
        elif name in totals:
            s[name] += value
        elif name == "batch_size_bucket" and labels.get("le") not in (None, "+Inf"):
            buckets.setdefault(_replica_key(labels), []).append((float(labels["le"]), value))
    for key, bs in buckets.items():  # cumulative counts: the largest batch is in the first bucket holding them all
        bs.sort()
        prev = 0.0
        for le, count in bs:
            if count > prev:
                stats[key]["max_batch_bucket"] = le
            prev = count
    return stats


def status_text():
    """Words for ``gie serve --status``: Serve's applications and replicas, then each replica's metrics."""
    require_ray()
    from ray import serve

    lines = []
    st = serve.status()
    if not st.applications:
        lines.append("no Serve application is running on this Ray cluster")
    for app_name, app in st.applications.items():
        lines.append(f"application {app_name}: {app.status}")
        for dep_name, dep in app.deployments.items():
            counts = ", ".join(f"{n} {s}" for s, n in sorted((str(k), v) for k, v in dep.replica_states.items()))
            lines.append(f"  deployment {dep_name}: {dep.status}, replicas: {counts or 'none'}")
    stats = replica_stats()
    if not stats:
        lines.append("no gie metrics yet (no request answered, or the nodes' metrics agents have not exported "
                     "them: they do every few seconds)")
    for (model, replica), s in sorted(stats.items()):
        reqs = ", ".join(f"{k} {int(v)}" for k, v in sorted(s["requests"].items())) or "0"
        answered = sum(s["requests"].values()) - s["requests"].get("client_error", 0.0)
        mean_batch = s["samples"] / s["batches"] if s["batches"] else 0.0
        queue = s["queue_ms"] / answered if answered else 0.0
        infer = s["inference_ms"] / s["batches"] if s["batches"] else 0.0
        lines.append(f"model {model} replica {replica}: requests {reqs}; samples {int(s['samples'])}; "
                     f"batches {int(s['batches'])}, mean {mean_batch:.2f} samples, largest <= "
                     f"{int(s['max_batch_bucket'])}; queue {queue:.2f} ms mean; inference {infer:.2f} ms mean "
                     "per batch")
    return "\n".join(lines)
