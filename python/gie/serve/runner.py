"""Running gathered requests through one engine: what a Serve replica and a Ray Data actor hold. No Ray here.

An :class:`EngineRunner` loads the engine once and keeps a pool of execution contexts, one per batch that may
run at the same time (a context is used by one thread at a time; its activation memory is its own). A batch of
several requests is concatenated along dimension 0, run in pieces of at most the engine's maximum batch, and
split back per request.
"""
import queue

import numpy as np

__all__ = ["EngineRunner", "run_in_pieces", "concat_requests", "split_results"]


def run_in_pieces(ctx, inputs, max_batch):
    """``ctx.execute`` over ``inputs`` (batch first) in runs of at most ``max_batch`` samples; the outputs
    concatenated back."""
    n = next(iter(inputs.values())).shape[0]
    if n <= max_batch:
        return ctx.execute(inputs)
    parts = [ctx.execute({k: v[i:i + max_batch] for k, v in inputs.items()}) for i in range(0, n, max_batch)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def concat_requests(requests):
    """[{input: array}] of requests with the same per-sample shapes -> ({input: concatenated array}, counts)."""
    counts = [next(iter(r.values())).shape[0] for r in requests]
    if len(requests) == 1:
        return requests[0], counts
    return {k: np.concatenate([r[k] for r in requests]) for k in requests[0]}, counts


def split_results(results, counts):
    """The inverse of :func:`concat_requests` for the outputs: [{output: array}] per request."""
    out, start = [], 0
    for n in counts:
        out.append({k: v[start:start + n] for k, v in results.items()})
        start += n
    return out


class EngineRunner:
    """One engine (from engine-file bytes) and ``contexts`` execution contexts. :meth:`run` is thread-safe: it
    takes a free context (waiting for one when all are busy), runs, and gives it back."""

    def __init__(self, engine_bytes, contexts=1):
        import gie

        if contexts < 1:
            raise gie.InvalidArgumentError(f"contexts must be at least 1, not {contexts}")
        self.engine = gie.Runtime().deserialize(engine_bytes)
        self.max_batch = self.engine.max_batch
        self._free = queue.SimpleQueue()
        for _ in range(contexts):
            self._free.put(self.engine.create_execution_context())
        self.contexts = contexts

    def run(self, inputs):
        ctx = self._free.get()
        try:
            return run_in_pieces(ctx, inputs, self.max_batch)
        finally:
            self._free.put(ctx)

    def run_requests(self, requests):
        """Runs the requests [{input: array}] as few engine batches and returns their outputs, one dict each.
        Requests whose per-sample shapes differ (engines with dynamic dimensions) are run as separate groups."""
        groups = {}
        for i, r in enumerate(requests):
            key = tuple((k, v.shape[1:]) for k, v in sorted(r.items()))
            groups.setdefault(key, []).append(i)
        results = [None] * len(requests)
        for members in groups.values():
            inputs, counts = concat_requests([requests[i] for i in members])
            for i, res in zip(members, split_results(self.run(inputs), counts)):
                results[i] = res
        return results
