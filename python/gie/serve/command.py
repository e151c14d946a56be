"""``gie serve``: serve MODEL on Ray Serve over the Open Inference Protocol, or print the replicas' metrics.

    gie serve model.gie --replicas 2 --port 8000            # a local Ray; Ctrl-C stops
    gie serve model.onnx --max-batch 16 --batch-wait-ms 5    # built on start for batches 1..16
    gie serve model.gie --gpus-per-replica 1 --address ray://head:10001
    gie serve --status [--address ADDRESS]                   # applications, replicas, their metrics
"""
import os
import signal
import sys
import time

__all__ = ["add_serve"]


def cmd_serve(args):
    from .. import cli
    from . import DEFAULT_PORT, deploy, require_ray, shutdown, start_ray, status_text

    if args.status:
        if args.model:
            raise cli.CliError("--status takes no MODEL: it reports on what the cluster serves")
        require_ray()
        start_ray(args.address or "auto")
        print(status_text())
        return 0
    if not args.model:
        raise cli.CliError("gie serve needs MODEL (an engine file, a model file or a built-in model), or --status")
    for opt, value, low in (("--replicas", args.replicas, 1), ("--max-batch", args.max_batch, 1),
                            ("--contexts", args.contexts, 1), ("--gpus-per-replica", args.gpus_per_replica, 0),
                            ("--batch-wait-ms", args.batch_wait_ms, 0), ("--cpus-per-replica", args.cpus_per_replica, 0)):
        if value is not None and value < low:
            raise cli.CliError(f"{opt} must be at least {low}, not {value}")
    require_ray()
    # A model built here is built for the replicas' device and for batches 1..--max-batch (default 8).
    device = "gpu" if args.gpus_per_replica > 0 else "cpu"
    if args.device not in (None, "auto", device):
        raise cli.CliError(f"--device {args.device} with --gpus-per-replica {args.gpus_per_replica:g}: replicas run "
                           f"{device.upper()} engines (give --gpus-per-replica > 0 for GPU replicas)")
    args.device = device
    batch = args.max_batch or 8
    loaded = cli.load_model(args.model, args, batch_range=(1, batch, batch))
    if args.max_batch and args.max_batch > loaded.engine.max_batch:
        cli._warn(f"--max-batch {args.max_batch}: the engine takes at most {loaded.engine.max_batch} samples per run, "
                  f"so batches stop at {loaded.engine.max_batch} (build it for more: gie build --batch 1,N,N)")
    name = args.name or os.path.splitext(loaded.name)[0]
    data = loaded.engine.serialize()
    how = f"built in {loaded.build_ms:.0f} ms" if loaded.build_ms is not None else "loaded"
    print(f"{loaded.name} ({loaded.source}, {how}): batch {loaded.engine.min_batch}..{loaded.engine.max_batch}, "
          f"device {str(loaded.engine.device.name).lower()}", flush=True)
    del loaded
    gcs = start_ray(args.address)
    port = args.port or DEFAULT_PORT
    url = deploy(data, name, replicas=args.replicas, gpus_per_replica=args.gpus_per_replica,
                 cpus_per_replica=args.cpus_per_replica, max_batch=args.max_batch,
                 batch_wait_ms=args.batch_wait_ms, contexts=args.contexts, host=args.host, port=port)
    # A local Ray is found by `--status` alone (address auto, which also reads its authentication token).
    status = "gie serve --status" + (f" --address {args.address}" if args.address else "")
    print(f"serving '{name}' at {url} ({args.replicas} replica{'s' if args.replicas > 1 else ''}, Ray at {gcs}); "
          f"`{status}` prints the metrics; Ctrl-C stops", flush=True)

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print(f"stopping '{name}'", file=sys.stderr, flush=True)
    # A local Ray ends with this process; on a cluster only this application goes.
    shutdown(None if args.address is None else name)
    return 0


def add_serve(subparsers):
    from .. import cli

    p = subparsers.add_parser(
        "serve", help="serve MODEL on Ray Serve over the Open Inference Protocol (KServe v2, Triton clients)",
        description="Serves MODEL (an engine file; or a model file or built-in model, built on start for batches "
        "1..--max-batch) with Ray Serve: replicas that each load the engine once, requests batched up to "
        "--max-batch samples, HTTP endpoints of the Open Inference Protocol (/v2/health/ready, "
        "/v2/models/NAME, /v2/models/NAME/infer with JSON or binary tensors). Without --address, a local Ray "
        "is started and ends with this command. See docs/serving.md.")
    p.add_argument("model", metavar="MODEL", nargs="?")
    p.add_argument("--name", help="model name in the URLs (default: MODEL's file name without extension)")
    p.add_argument("--replicas", type=int, default=1, help="replicas (default 1)")
    p.add_argument("--gpus-per-replica", type=float, default=0,
                   help="GPUs Ray gives each replica (default 0: CPU replicas running a CPU engine)")
    p.add_argument("--cpus-per-replica", type=float, default=1,
                   help="CPUs Ray reserves for each replica (default 1; a CPU engine runs that many threads)")
    p.add_argument("--max-batch", type=int, default=None,
                   help="most samples per engine batch (default: the engine's maximum batch; a MODEL built here "
                   "is built for 1..N, default 8)")
    p.add_argument("--batch-wait-ms", type=float, default=2.0,
                   help="how long a replica waits for more requests after the first of a batch (default 2)")
    p.add_argument("--contexts", type=int, default=2,
                   help="batches each replica runs at once, one execution context each (default 2)")
    p.add_argument("--address", default=None,
                   help="Ray cluster to join (ray://HEAD:10001, HEAD:6379 or auto); default: start a local Ray")
    p.add_argument("--host", default="127.0.0.1",
                   help="address Serve's HTTP proxy listens on (default 127.0.0.1; 0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=None, help="HTTP port (default 8000)")
    p.add_argument("--status", action="store_true",
                   help="print the cluster's Serve applications and each gie replica's metrics, then exit")
    cli._add_model_options(p, batch=False)
    # --device follows --gpus-per-replica: replicas run the engine where Ray puts them.
    for action in p._actions:
        if action.dest == "device":
            action.default = None
            action.help = ("device to build for; follows --gpus-per-replica (gpu when > 0, else cpu), and must "
                           "agree with it when given")
    p.set_defaults(func=cli._guard(cmd_serve))
