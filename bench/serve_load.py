"""gie serve under load: throughput and p50/p99 latency at 1, 8 and 64 concurrent clients for 1 and 2 replicas,
against direct in-process execution of the same engine by as many threads (the overhead ratio).

    python bench/serve_load.py                                  # LeNet on the CPU, 1 sample per request
    python bench/serve_load.py googlenet --gpus-per-replica 1   # GPU replicas (one GPU each)
    python bench/serve_load.py model.gie --clients 1,8,64 --replicas 1,2 --seconds 10 --json out.json

Clients are tritonclient.http (binary tensors), one thread and connection each, in this process; on a small
machine they compete with the replicas for the CPU, which the table's header states. Needs gie[serve] and
tritonclient[http].
"""
import argparse
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _timing  # noqa: E402


def _drive(clients, seconds, call):
    """``clients`` threads calling ``call(worker)`` for ``seconds``: (requests/s, p50 ms, p99 ms, errors)."""
    lat, errors, lock = [], [0], threading.Lock()
    stop = time.perf_counter() + seconds

    def worker(k):
        mine, bad = [], 0
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            try:
                call(k)
            except Exception:  # noqa: BLE001  counted, reported
                bad += 1
                continue
            mine.append((time.perf_counter() - t0) * 1e3)
        with lock:
            lat.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    s = _timing.summarize(lat, quantiles=(0.99,))
    return len(lat) / wall, s["median"], s["p99"], errors[0]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", default="lenet", help="engine file, model file or built-in model (lenet)")
    p.add_argument("--clients", default="1,8,64", help="concurrent clients (default 1,8,64)")
    p.add_argument("--replicas", default="1,2", help="replica counts (default 1,2)")
    p.add_argument("--samples", type=int, default=1, help="samples per request (default 1)")
    p.add_argument("--max-batch", type=int, default=8, help="engine batch / replica batch (default 8)")
    p.add_argument("--batch-wait-ms", type=float, default=2.0, help="replica batch wait (default 2)")
    p.add_argument("--gpus-per-replica", type=float, default=0, help="0: CPU engine (default); > 0: GPU engine")
    p.add_argument("--cpus-per-replica", type=float, default=1, help="Ray CPUs per replica (default 1)")
    p.add_argument("--seconds", type=float, default=5.0, help="measuring time per cell (default 5)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = p.parse_args(argv)
    # Direct execution runs with the threads of one replica (Ray gives a replica OMP_NUM_THREADS = its CPUs, which
    # gie's CPU pool follows), so that the ratio compares the serving path, not thread counts.
    os.environ.setdefault("GIE_NUM_THREADS", str(max(1, int(args.cpus_per_replica))))

    import gie
    import gie.serve as gserve
    import tritonclient.http as httpclient
    from gie import cli
    from gie.cli import _random_inputs

    clients = [int(v) for v in args.clients.split(",")]
    replicas = [int(v) for v in args.replicas.split(",")]
    device = "gpu" if args.gpus_per_replica > 0 else "cpu"
    build = argparse.Namespace(device=device, seed=0, fp16=False, int8=False)
    loaded = cli.load_model(args.model, build, batch_range=(1, args.max_batch, args.max_batch))
    engine = loaded.engine
    data = engine.serialize()
    inputs = _random_inputs(engine, args.samples, 1)
    info = gie.build_info()
    where = info.get("gpu_name") if device == "gpu" else f"{os.cpu_count()} CPU cores"
    print(f"# gie serve load: {loaded.name} ({device}, {where}), {args.samples} sample(s)/request, engine batch "
          f"1..{engine.max_batch}, batch wait {args.batch_wait_ms} ms, {args.seconds:g} s per cell; clients run in "
          f"this process (tritonclient.http, binary tensors); direct: GIE_NUM_THREADS={os.environ['GIE_NUM_THREADS']}, "
          f"replicas: {args.cpus_per_replica:g} CPU each", flush=True)

    rows = []
    # Direct: as many threads as clients, each with its own context, one request's inputs per call.
    contexts = {}

    def direct(k):
        ctx = contexts.get(k)
        if ctx is None:
            ctx = contexts[k] = engine.create_execution_context()
        ctx.execute(inputs)

    for c in clients:
        contexts.clear()
        rps, p50, p99, err = _drive(c, args.seconds, direct)
        rows.append({"mode": "direct", "replicas": 0, "clients": c, "rps": rps, "p50_ms": p50, "p99_ms": p99,
                     "errors": err})
        print(f"direct      clients {c:>3}: {rps:9.1f} req/s  p50 {p50:8.3f} ms  p99 {p99:8.3f} ms", flush=True)
    contexts.clear()

    gserve.start_ray(num_cpus=max(os.cpu_count() or 1, int(max(replicas) * args.cpus_per_replica + 0.999)),
                     metrics_report_interval_ms=1000)
    port = _free_port()
    names = list(inputs)
    seen = set()  # replicas of earlier rows
    for r in replicas:
        gserve.deploy(data, "bench", replicas=r, gpus_per_replica=args.gpus_per_replica,
                      cpus_per_replica=args.cpus_per_replica, max_batch=args.max_batch,
                      batch_wait_ms=args.batch_wait_ms, port=port)
        local = threading.local()

        def served(k):
            client = getattr(local, "client", None)
            if client is None:
                client = local.client = httpclient.InferenceServerClient(f"127.0.0.1:{port}", network_timeout=120)
            req = []
            for n in names:
                inp = httpclient.InferInput(n, list(inputs[n].shape), _datatype(inputs[n].dtype))
                inp.set_data_from_numpy(inputs[n], binary_data=True)
                req.append(inp)
            client.infer("bench", req)

        _drive(min(clients), 1.0, served)  # warm-up: connections, first batches
        for c in clients:
            rps, p50, p99, err = _drive(c, args.seconds, served)
            direct_rps = next(x["rps"] for x in rows if x["mode"] == "direct" and x["clients"] == c)
            rows.append({"mode": "served", "replicas": r, "clients": c, "rps": rps, "p50_ms": p50, "p99_ms": p99,
                         "errors": err, "overhead": direct_rps / rps if rps else float("inf")})
            print(f"served x{r}   clients {c:>3}: {rps:9.1f} req/s  p50 {p50:8.3f} ms  p99 {p99:8.3f} ms  "
                  f"direct/served throughput {direct_rps / rps if rps else float('inf'):5.2f}x  errors {err}",
                  flush=True)
        time.sleep(2.5)  # the metrics agents export every second here
        stats = [s for k, s in gserve.replica_stats().items() if k[0] == "bench" and k[1] not in seen]
        seen.update(k[1] for k in gserve.replica_stats() if k[0] == "bench")
        batches, samples = sum(s["batches"] for s in stats), sum(s["samples"] for s in stats)
        if batches:
            print(f"            (these {r} replicas: mean batch {samples / batches:.2f} samples, from the metrics)",
                  flush=True)
        gserve.shutdown("bench")
    gserve.shutdown()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": loaded.name, "device": device, "where": where, "samples": args.samples,
                       "rows": rows}, f, indent=1)
    return 0


def _datatype(dtype):
    from gie.serve.protocol import datatype_of

    return datatype_of(dtype)


if __name__ == "__main__":
    sys.exit(main())
