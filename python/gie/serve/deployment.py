"""The Ray Serve deployment that serves one gie engine over the Open Inference Protocol.

Each replica loads the engine once (:class:`~gie.serve.runner.EngineRunner`, ``contexts`` execution contexts)
and gathers requests with Ray Serve's batching (``serve.batch``) into batches of at most the engine's maximum
batch *samples* (a request may carry several); a request larger than that is cut into pieces that are batched
like any other. Up to ``contexts`` batches run at once, each on its own context in a worker thread (gie releases
the GIL while it runs), so the replica's event loop keeps reading requests meanwhile.

Metrics (Ray's metrics, exported to Prometheus by every Ray node; tagged with the Serve application,
deployment and replica): ``gie_serve_requests`` (counter, ``status`` ok / client_error / error),
``gie_serve_samples`` (counter), ``gie_serve_batch_size`` (histogram, samples per engine batch),
``gie_serve_batch_requests`` (histogram, requests per batch), ``gie_serve_queue_ms`` (histogram, from a
request's arrival at the replica to the start of its batch) and ``gie_serve_inference_ms`` (histogram, the
batch's run); exact totals in the counters ``gie_serve_batches``, ``gie_serve_queue_ms_total`` and
``gie_serve_inference_ms_total`` (the _sum Ray exports for a histogram is estimated from its buckets).
"""
import asyncio
import concurrent.futures
import json
import time

from . import protocol
from .runner import EngineRunner

__all__ = ["GieModel", "GieServer", "METRIC_PREFIX", "SERVER_APP"]

METRIC_PREFIX = "gie_serve_"
SERVER_APP = "gie-v2"  # the Serve application of the server-wide endpoints
_MS_BOUNDARIES = [0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]


def _samples(items):
    """serve.batch's batch_size_fn: a batch's size is its samples, not its requests."""
    return sum(n for _, n, _ in items)


def _batch_boundaries(max_batch):
    b, out = 1, []
    while b < max_batch:
        out.append(b)
        b *= 2
    return out + [max_batch]


class _Metrics:
    def __init__(self, model, max_batch):
        from ray.serve import metrics

        self.tags = {"model": model}
        self.requests = metrics.Counter(METRIC_PREFIX + "requests", "inference requests answered, by status",
                                        tag_keys=("model", "status"))
        self.samples = metrics.Counter(METRIC_PREFIX + "samples", "samples inferred", tag_keys=("model",))
        self.batch_size = metrics.Histogram(METRIC_PREFIX + "batch_size", "samples per engine batch",
                                            boundaries=_batch_boundaries(max_batch), tag_keys=("model",))
        self.batch_requests = metrics.Histogram(METRIC_PREFIX + "batch_requests", "requests per engine batch",
                                                boundaries=_batch_boundaries(max_batch), tag_keys=("model",))
        self.queue_ms = metrics.Histogram(METRIC_PREFIX + "queue_ms", "ms from a request's arrival at the replica "
                                          "to the start of its batch", boundaries=_MS_BOUNDARIES, tag_keys=("model",))
        self.inference_ms = metrics.Histogram(METRIC_PREFIX + "inference_ms", "ms of one engine batch",
                                              boundaries=_MS_BOUNDARIES, tag_keys=("model",))
        # Exact totals beside the histograms, whose exported _sum Ray estimates from the buckets.
        self.batches = metrics.Counter(METRIC_PREFIX + "batches", "engine batches run", tag_keys=("model",))
        self.queue_ms_total = metrics.Counter(METRIC_PREFIX + "queue_ms_total", "total queue ms of all requests",
                                              tag_keys=("model",))
        self.inference_ms_total = metrics.Counter(METRIC_PREFIX + "inference_ms_total", "total ms of all batches",
                                                  tag_keys=("model",))
        for m in (self.requests, self.samples, self.batch_size, self.batch_requests, self.queue_ms, self.inference_ms,
                  self.batches, self.queue_ms_total, self.inference_ms_total):
            m.set_default_tags(dict(self.tags))  # (Serve adds its own tags to the dict it is given)

    def request(self, status):
        self.requests.inc(1, tags={"status": status})


class GieModel:
    """One replica. ``engine``: the engine file's bytes, or ``[ObjectRef]`` to them (kept in Ray's object store
    rather than in every replica's pickled arguments); ``spec``: its :class:`~gie.serve.protocol.ModelSpec`."""

    def __init__(self, engine, spec, batch_wait_s=0.002, contexts=2, max_batch=None):
        from ray import serve

        if isinstance(engine, list):
            import ray

            engine = ray.get(engine[0])
        self.runner = EngineRunner(engine, contexts)
        self.spec = spec
        self.max_batch = min(int(max_batch or self.runner.max_batch), self.runner.max_batch)
        self._threads = concurrent.futures.ThreadPoolExecutor(contexts, thread_name_prefix="gie-batch")
        self._batched = serve.batch(max_batch_size=self.max_batch, batch_wait_timeout_s=batch_wait_s,
                                    max_concurrent_batches=contexts, batch_size_fn=_samples)(self._run_batch)
        self.metrics = _Metrics(spec.name, self.max_batch)

    # ---- inference -----------------------------------------------------------------------------------

    async def infer(self, inputs):
        """{input: array (batch first)} -> {output: array}: through the batch queue, in pieces of at most
        max_batch samples."""
        n = next(iter(inputs.values())).shape[0]
        now = time.perf_counter()
        pieces = [({k: v[i:i + self.max_batch] for k, v in inputs.items()}, min(self.max_batch, n - i), now)
                  for i in range(0, n, self.max_batch)]
        results = await asyncio.gather(*(self._batched(p) for p in pieces))
        if len(results) == 1:
            return results[0]
        import numpy as np

        return {k: np.concatenate([r[k] for r in results]) for k in results[0]}

    async def _run_batch(self, items):
        start = time.perf_counter()
        for _, _, arrived in items:
            self.metrics.queue_ms.observe((start - arrived) * 1e3)
            self.metrics.queue_ms_total.inc((start - arrived) * 1e3)
        loop = asyncio.get_running_loop()
        results = await loop.run_in_executor(self._threads, self.runner.run_requests, [i for i, _, _ in items])
        ms = (time.perf_counter() - start) * 1e3
        self.metrics.inference_ms.observe(ms)
        self.metrics.inference_ms_total.inc(ms)
        self.metrics.batches.inc(1)
        samples = _samples(items)
        self.metrics.batch_size.observe(samples)
        self.metrics.batch_requests.observe(len(items))
        self.metrics.samples.inc(samples)
        return results

    # ---- HTTP ----------------------------------------------------------------------------------------

    async def __call__(self, request):
        # Serve routes /v2/models/NAME... here (the application's route prefix); the rest of /v2 to GieServer.
        parts = [p for p in request.url.path.split("/") if p]
        method, tail = request.method, parts[3:]
        if len(tail) >= 2 and tail[0] == "versions":  # only version "1" exists
            if tail[1] != "1":
                return _error(f"model '{self.spec.name}' has no version '{tail[1]}' (only '1')", 404)
            tail = tail[2:]
        if method == "GET" and not tail:
            return _json(self.spec.metadata())
        if method == "GET" and tail == ["ready"]:
            return _json({"name": self.spec.name, "ready": True})
        if method == "POST" and tail == ["infer"]:
            return await self._infer_http(request)
        return _error(f"no such endpoint: {method} {request.url.path}", 404)

    async def _infer_http(self, request):
        from starlette.responses import Response

        body = await request.body()
        try:
            req = protocol.parse_infer_request(self.spec, body, request.headers.get(protocol.HEADER_LENGTH))
        except protocol.ProtocolError as e:
            self.metrics.request("client_error")
            return _error(e, e.status)
        try:
            results = await self.infer(req.inputs)
        except Exception as e:  # noqa: BLE001  the engine failed: the client gets the reason, the replica lives on
            self.metrics.request("error")
            return _error(f"inference failed: {type(e).__name__}: {e}", 500)
        content, headers = protocol.encode_infer_response(self.spec, req, results)
        self.metrics.request("ok")
        media_type = headers.pop("content-type")
        return Response(content, status_code=200, headers=headers, media_type=media_type)


def _json(doc, status=200):
    from starlette.responses import Response

    return Response(json.dumps(doc).encode(), status_code=status, media_type="application/json")


def _error(message, status):
    from starlette.responses import Response

    return Response(protocol.error_body(message), status_code=status, media_type="application/json")


class GieServer:
    """The server-wide endpoints (application ``SERVER_APP`` at ``/v2``): server metadata, health, and 404 for
    a model no application serves (each model's application has the longer prefix ``/v2/models/NAME``)."""

    async def __call__(self, request):
        import gie

        parts = [p for p in request.url.path.split("/") if p][1:]
        if request.method == "GET" and not parts:
            return _json({"name": "gie", "version": gie.__version__, "extensions": protocol.EXTENSIONS})
        if request.method == "GET" and parts in (["health", "live"], ["health", "ready"]):
            return _json({parts[1]: True})
        if len(parts) >= 2 and parts[0] == "models":
            return _error(f"unknown model '{parts[1]}': no model of that name is served here", 404)
        return _error(f"no such endpoint: {request.method} {request.url.path}", 404)
