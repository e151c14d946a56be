"""Offline batch inference over a Ray Data dataset with gie engines: :func:`predict`.

    import ray, gie
    ds = ray.data.read_parquet("s3://bucket/images/")           # or read_numpy, from_numpy, ...
    out = gie.ray.predict(ds, "model.gie", batch_size=64, concurrency=4)
    out.write_parquet("s3://bucket/predictions/")

Needs ``pip install "gie[serve]"``. Each actor of the pool loads the engine once (from Ray's object store) and
runs the batches Ray Data gives it.
"""
import os

import numpy as np

from .errors import InvalidArgumentError

__all__ = ["predict"]


class _Predictor:
    """A Ray Data actor holding one engine and one execution context."""

    def __init__(self, engine, columns, outputs):
        import ray

        from .serve.runner import EngineRunner

        data = ray.get(engine[0])
        self.runner = EngineRunner(data, contexts=1)
        self.columns = columns  # {engine input: dataset column}
        self.outputs = outputs  # {engine output: dataset column}

    def __call__(self, batch):
        inputs = {name: np.ascontiguousarray(batch[col]) for name, col in self.columns.items()}
        results = self.runner.run(inputs)
        out = {col: v for col, v in batch.items() if col not in self.columns.values()}  # passed through (ids, ...)
        for name, col in self.outputs.items():
            out[col] = results[name]
        return out


def _engine_bytes(model, build):
    """An engine file's bytes for ``model``: a gie.Engine, engine-file bytes, or anything ``gie build`` takes
    (an engine file, a model file or a built-in model name; ``build`` holds its options)."""
    import argparse

    import gie

    if isinstance(model, gie.Engine):
        return model.serialize()
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    if not isinstance(model, (str, os.PathLike)):
        raise InvalidArgumentError(f"predict: model must be a gie.Engine, engine-file bytes or a path / built-in model "
                                   f"name, not {type(model).__name__}")
    from . import cli

    args = argparse.Namespace(**{"device": "cpu", "seed": 0, **build})
    try:
        loaded = cli.load_model(os.fspath(model), args, batch_range=build.get("batch_range"))
    except cli.CliError as e:
        raise InvalidArgumentError(f"predict: {e}") from None
    return loaded.engine.serialize()


def predict(dataset, model, batch_size=None, concurrency=1, num_gpus=0, num_cpus=1, columns=None, outputs=None,
            read_args=None, **build):
    """Runs ``model`` over ``dataset`` with Ray Data ``map_batches`` and a pool of ``concurrency`` engine-holding
    actors; returns the output dataset (lazy, as Ray Data is: iterate, ``take``, ``write_parquet``...).

    ``dataset``: a ``ray.data.Dataset``, a numpy array or a dict of arrays (made a dataset with
    ``ray.data.from_numpy`` / ``from_items``), or a path to ``.parquet`` / ``.npy`` files or a folder of them.
    ``model``: a :class:`gie.Engine`, engine-file bytes, an engine file, a model file or a built-in model name
    (built with ``build``: e.g. ``device="gpu"``, ``fp16=True``, ``batch_range=(1, 64, 64)``, ``weights=...``).
    ``batch_size``: rows per ``map_batches`` call (default: the engine's maximum batch; larger ones run in pieces
    of at most that). ``columns``: {engine input: column} (default: the inputs' own names; a one-input engine
    also takes a one-input dataset whose column is named otherwise, e.g. ``data`` from ``from_numpy``).
    ``outputs``: {engine output: column} (default: the outputs' names). ``read_args``: keyword arguments of
    ``ray.data.read_parquet`` / ``read_numpy`` for a path (e.g. ``{"num_cpus": 0.25}`` for parquet: read tasks ask
    for a whole CPU by default, and wait while other actors hold them). Other columns pass through unchanged,
    so an id column stays with its row. ``num_gpus`` / ``num_cpus``: per actor (a GPU engine needs a GPU).
    """
    from .serve import require_ray

    ray = require_ray("gie.ray.predict")
    import gie

    if concurrency is None or int(concurrency) < 1:
        raise InvalidArgumentError(f"predict: concurrency must be at least 1, not {concurrency}")
    if batch_size is not None and int(batch_size) < 1:
        raise InvalidArgumentError(f"predict: batch_size must be at least 1, not {batch_size}")
    data = _engine_bytes(model, build)
    engine = gie.Runtime().deserialize(data)
    if engine.device == gie.DeviceType.GPU and not num_gpus:
        raise InvalidArgumentError("predict: the engine is a GPU engine; give each actor a GPU (num_gpus=1)")

    if isinstance(dataset, (str, os.PathLike)):
        path = os.fspath(dataset)
        probe = path if os.path.isfile(path) else next(
            (os.path.join(path, f) for f in sorted(os.listdir(path)) if f.endswith((".parquet", ".npy"))), path) \
            if os.path.isdir(path) else path
        if probe.endswith(".parquet"):
            dataset = ray.data.read_parquet(path, **(read_args or {}))
        elif probe.endswith(".npy"):
            dataset = ray.data.read_numpy(path, **(read_args or {}))
        else:
            raise InvalidArgumentError(f"predict: '{path}' is neither .parquet nor .npy files (or a folder of them); "
                                       "read it with ray.data and pass the dataset")
    elif isinstance(dataset, np.ndarray):
        dataset = ray.data.from_numpy(dataset)
    elif isinstance(dataset, dict):
        dataset = ray.data.from_numpy(dataset) if len(dataset) == 1 else ray.data.from_arrow(_arrow_table(dataset))
    if not isinstance(dataset, ray.data.Dataset):
        raise InvalidArgumentError(f"predict: dataset must be a ray.data.Dataset, a numpy array, a dict of arrays or "
                                   f"a path, not {type(dataset).__name__}")

    names = dataset.schema().names
    if columns is None:
        columns = {n: n for n in engine.input_names}
        if len(engine.input_names) == 1 and engine.input_names[0] not in names and len(names) == 1:
            columns = {engine.input_names[0]: names[0]}
    unknown = [n for n in columns if n not in engine.input_names]
    if unknown:
        raise InvalidArgumentError(f"predict: columns names {unknown}, which are not inputs of the engine "
                                   f"({engine.input_names})")
    missing = [f"{n} (column '{columns.get(n, n)}')" for n in engine.input_names if columns.get(n) not in names]
    if missing:
        raise InvalidArgumentError(f"predict: the dataset has no column for input(s) {', '.join(missing)}; its "
                                   f"columns are {names} (map them with columns={{input: column}})")
    outputs = {n: n for n in engine.output_names} if outputs is None else dict(outputs)
    bad = [n for n in outputs if n not in engine.output_names]
    if bad:
        raise InvalidArgumentError(f"predict: outputs names {bad}, which are not outputs of the engine "
                                   f"({engine.output_names})")
    max_batch = engine.max_batch
    del engine

    ref = ray.put(data)
    return dataset.map_batches(_Predictor, fn_constructor_args=([ref], columns, outputs),
                               batch_size=int(batch_size or max_batch), batch_format="numpy",
                               compute=ray.data.ActorPoolStrategy(size=int(concurrency)), num_gpus=num_gpus,
                               num_cpus=num_cpus)


def _arrow_table(arrays):
    """A pyarrow table of numpy arrays with the rows first (tensor columns for arrays of more than one dim)."""
    import pyarrow as pa
    from ray.data.extensions import ArrowTensorArray

    return pa.table({k: ArrowTensorArray.from_numpy(np.asarray(v)) if np.asarray(v).ndim > 1 else np.asarray(v)
                     for k, v in arrays.items()})
