"""gie's subcommands: build, run, inspect, draw, explain (wired into ``python -m gie`` by ``__main__``).

    python -m gie build googlenet --save googlenet.gie --batch 1,4,8
    python -m gie build googlenet --fp16 --input-format fp16:hwc8 --save googlenet_fp16.gie
    python -m gie run googlenet.gie --batch 4 --iterations 100 --profile --export-times times.json
    python -m gie inspect googlenet.gie            # the build report in words (--json: layer_info as JSON)
    python -m gie draw googlenet.gie -o graph.svg --both
    python -m gie explain googlenet.gie            # what it needs; can this machine load it, and why not

MODEL arguments are a built-in model name (lenet, googlenet, resnet50, yolov2: seeded random weights), an
engine file (recognised by its magic bytes) or a model file for ``gie.parse`` (.onnx, .prototxt, .cfg).
Exit codes: 0 success; 1 a gie error (build or load failed, engine not loadable here); 2 a usage error
(unknown model, missing file, a file that cannot be read or written, bad option value).
"""
import functools
import json
import os
import sys
import time

import numpy as np

from . import cli_io, cli_shapes

__all__ = ["SUBCOMMANDS", "BUILTIN_MODELS", "CliError", "load_model", "is_engine_file", "explain_text",
           "latency_stats"]

BUILTIN_MODELS = ("lenet", "googlenet", "resnet50", "yolov2")
ENGINE_MAGIC = b"GIEENGN\x1a"
_ENGINE_EXTS = (".gie", ".engine", ".plan", ".trt")
_FLAG_NAMES = {0: "FP16", 1: "INT8", 2: "STRICT_TYPES", 3: "TF32", 4: "OBEY_PRECISION_CONSTRAINTS",
               5: "PREFER_PRECISION_CONSTRAINTS"}
# --input-format / --output-format TYPE:FORMAT (trtexec's spelling, plus gie's own names).
_SPEC_TYPES = {"fp32": "FLOAT", "float32": "FLOAT", "fp16": "HALF", "float16": "HALF", "half": "HALF"}
_SPEC_FORMATS = {"linear": "LINEAR", "chw": "LINEAR", "nchw": "LINEAR", "nhwc": "NHWC", "hwc": "NHWC", "hwc8": "HWC8"}
_INT8_FORMATS = ("chw4", "chw32")
_IMAGE_EXTS = (".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".pdf", ".eps", ".ps")  # draw refuses these


class CliError(Exception):
    """A usage error: printed as one line, exit code ``code`` (2 by default)."""

    def __init__(self, message, code=2):
        super().__init__(message)
        self.code = code


def _guard(fn):
    @functools.wraps(fn)
    def wrapper(args):
        import gie

        try:
            cli_io.load_plugins(getattr(args, "plugins", None))  # --plugins: before anything is built or loaded
            return fn(args)
        except CliError as e:
            print(f"error: {e}", file=sys.stderr)
            return e.code
        except BrokenPipeError:  # e.g. `gie inspect x | head`
            try:
                sys.stdout = open(os.devnull, "w")
            except OSError:
                pass
            return 0
        except OSError as e:  # a path given on the command line (--save, -o, --export-times) that cannot be used
            text = str(e) if isinstance(e, gie.Error) or not e.filename else f"cannot use '{e.filename}': {e.strerror or e}"
            print(f"error: {text}", file=sys.stderr)
            return 2
        except gie.Error as e:
            print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
    return wrapper


def _warn(msg):
    print(f"warning: {msg}", file=sys.stderr)


class _CliLog:
    """The builder's and runtime's log on stderr: warnings (info and debug too with -v); errors are dropped
    because they come back as exceptions, which the command prints once."""

    def __init__(self, verbose=False):
        self.verbose = verbose

    def log(self, level, message):
        import logging

        if level >= logging.ERROR or (level < logging.WARNING and not self.verbose):
            return
        print(f"gie: {logging.getLevelName(level).lower()}: {message}", file=sys.stderr)


# ---- loading or building an engine ----------------------------------------------------------------

def is_engine_file(path):
    try:
        with open(path, "rb") as f:
            return f.read(len(ENGINE_MAGIC)) == ENGINE_MAGIC
    except OSError:
        return False


def _parse_batch_range(text):
    """'8' -> (1, 8, 8); '1,4,8' -> (1, 4, 8)."""
    try:
        vals = [int(v) for v in str(text).split(",")]
    except ValueError:
        raise CliError(f"--batch wants N or MIN,OPT,MAX (integers), not '{text}'") from None
    if len(vals) == 1:
        vals = [1, vals[0], vals[0]]
    if len(vals) != 3 or not (1 <= vals[0] <= vals[1] <= vals[2]):
        raise CliError(f"--batch wants N or MIN,OPT,MAX with 1 <= MIN <= OPT <= MAX, not '{text}'")
    return tuple(vals)


def _parse_io_formats(option, text):
    """'fp16:hwc8' or 'fp16:hwc8,fp32:linear' -> [(spec, DataType, TensorFormat)]; None when not given."""
    import gie

    if text is None:
        return None
    out = []
    for spec in str(text).split(","):
        spec = spec.strip()
        typ, sep, fmt = spec.lower().partition(":")
        if not sep or typ not in _SPEC_TYPES or fmt not in _SPEC_FORMATS:
            if fmt in _INT8_FORMATS:
                why = f"{fmt} is an internal INT8 layout; network inputs and outputs are linear, nhwc or hwc8"
            elif sep and typ in ("int8", "int32", "bool"):
                why = f"{typ} cannot be set: only float inputs and outputs may be declared FP32 or FP16"
            else:
                why = (f"TYPE is one of {', '.join(_SPEC_TYPES)}; FORMAT one of {', '.join(_SPEC_FORMATS)} "
                       "(chw = nchw = linear, hwc = nhwc; hwc8: NHWC with channels padded to a multiple of 8)")
            raise CliError(f"{option} '{spec}': wants TYPE:FORMAT, e.g. fp16:hwc8; {why}")
        out.append((spec, getattr(gie.DataType, _SPEC_TYPES[typ]), getattr(gie.TensorFormat, _SPEC_FORMATS[fmt])))
    return out


def _apply_io_formats(net, io_formats):
    """Declares the network inputs' / outputs' types and formats (tensor.dtype, tensor.allowed_formats): one spec
    for every tensor, or one per tensor in network order."""
    import gie

    # Declaring an input FP16 may change the types the network infers downstream, outputs included; the
    # outputs keep the types they had unless --output-format declares them.
    before = [net.get_output(i).dtype for i in range(net.num_outputs)]
    for option, tensors in (("--input-format", [net.get_input(i) for i in range(net.num_inputs)]),
                            ("--output-format", [net.get_output(i) for i in range(net.num_outputs)])):
        specs = io_formats.get(option)
        if specs is None:
            if option == "--output-format" and io_formats.get("--input-format"):
                for t, dtype in zip(tensors, before):
                    if t.dtype != dtype:
                        t.dtype = dtype
            continue
        kind = "input" if option == "--input-format" else "output"
        if len(specs) != 1 and len(specs) != len(tensors):
            names = ", ".join(t.name for t in tensors)
            raise CliError(f"{option}: {len(specs)} specs for {len(tensors)} network {kind}"
                           f"{'' if len(tensors) == 1 else 's'} ({names}); give one for all, or one per {kind} "
                           "in this order")
        for t, (spec, dtype, fmt) in zip(tensors, specs * len(tensors) if len(specs) == 1 else specs):
            if t.dtype not in (gie.DataType.FLOAT, gie.DataType.HALF):
                raise CliError(f"{option} '{spec}': network {kind} '{t.name}' is {t.dtype.name}; only float "
                               f"{kind}s may be declared FP32 or FP16")
            try:
                t.dtype = dtype
                t.allowed_formats = [fmt]
            except gie.Error as e:
                # A bad value for this tensor (e.g. HWC8 on a tensor that is not 4-D) is a usage error; anything
                # else (the network's type inference refusing the new type) is a gie error.
                raise CliError(f"{option} '{spec}': {e}", code=2 if isinstance(e, gie.InvalidArgumentError) else 1) \
                    from None


def _has_precision_pins(net):
    for i in range(net.num_layers):
        layer = net.get_layer(i)
        if layer.precision_is_set or any(layer.output_type_is_set(j) for j in range(layer.num_outputs)):
            return True
    return False


class Loaded:
    """An engine and where it came from."""

    def __init__(self, engine, name, source, build_ms=None, engine_bytes=None, path=None):
        self.engine = engine
        self.name = name
        self.source = source  # "engine file", "built-in model", "model file"
        self.build_ms = build_ms
        self.engine_bytes = engine_bytes
        self.path = path


def _define_builtin(name, net, args):
    from . import model_zoo, models

    if name == "lenet":
        models.lenet(seed=args.seed).define(net)
    else:
        model_zoo.define(name, net, seed=args.seed, image=getattr(args, "image", None))


def load_model(model, args, batch_range=None, network_hook=None):
    """Builds (built-in name, model file) or loads (engine file) ``model``; returns a :class:`Loaded`.
    ``network_hook(net)`` may change the network before it is built (e.g. mark more outputs)."""
    import gie
    from .progress import Progress

    log = _CliLog(getattr(args, "verbose", False))
    # Parsed before anything is built or read, so that a bad spec fails at once.
    shapes = cli_shapes.profile_from_args(args) if batch_range is None else None
    io_formats = {"--input-format": _parse_io_formats("--input-format", getattr(args, "input_format", None)),
                  "--output-format": _parse_io_formats("--output-format", getattr(args, "output_format", None))}
    if os.path.isfile(model) and (is_engine_file(model) or os.path.splitext(model)[1].lower() in _ENGINE_EXTS):
        given = [opt for opt, on in (("--fp16", getattr(args, "fp16", False)), ("--int8", getattr(args, "int8", False)),
                                     ("--precision-constraints", getattr(args, "precision_constraints", None)),
                                     ("--calib-data", getattr(args, "calib_data", None)),
                                     ("--calib-cache", getattr(args, "calib_cache", None)),
                                     ("--input-format", io_formats["--input-format"]),
                                     ("--min-shapes", getattr(args, "min_shapes", None)),
                                     ("--opt-shapes", getattr(args, "opt_shapes", None)),
                                     ("--max-shapes", getattr(args, "max_shapes", None)),
                                     ("--output-format", io_formats["--output-format"])) if on]
        if given:
            _warn(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} when MODEL is built here; "
                  f"'{model}' is an engine file, built already: ignored")
        with open(model, "rb") as f:
            data = f.read()
        if not is_engine_file(model):
            reason = "wrong magic bytes"
            fn = getattr(gie._C, "engine_summary", None)
            if fn is not None:
                reason = json.loads(fn(data)).get("reason") or reason
            raise CliError(f"cannot load '{model}': {reason}", code=1)
        with Progress(f"loading {os.path.basename(model)}"):
            engine = gie.Runtime(logger=log).deserialize(data)
        return Loaded(engine, os.path.basename(model), "engine file", engine_bytes=len(data), path=model)

    t_define = time.perf_counter()
    builder = gie.Builder(logger=log)
    if os.path.exists(model):
        parse = getattr(gie, "parse", None)
        if parse is None:
            raise CliError(f"'{model}' is not a gie engine file, and this gie cannot read model files "
                           "(gie.parse is missing); use a built-in model name or an engine file")
        if os.path.isdir(model):
            raise CliError(f"'{model}' is a folder, not a model or engine file")
        weights = getattr(args, "weights", None)
        try:
            net = parse(model, weights=weights, builder=builder) if weights else parse(model, builder=builder)
        except TypeError:  # an importer without the builder keyword
            net = parse(model)
        name, source = os.path.basename(model), "model file"
    elif model.lower() in BUILTIN_MODELS:
        name, source = model.lower(), "built-in model"
        net = builder.create_network()
        _define_builtin(name, net, args)
    else:
        raise CliError(f"unknown model '{model}': not a file, and not a built-in model "
                       f"({', '.join(BUILTIN_MODELS)})")

    define_ms = (time.perf_counter() - t_define) * 1e3
    _apply_io_formats(net, io_formats)
    cli_io.apply_network_options(net, args)
    if network_hook is not None:
        network_hook(net)
    config = builder.create_config()
    device = getattr(args, "device", "auto") or "auto"
    config.device = device
    if shapes is not None:
        cli_shapes.apply_profile(net, config, shapes)
    else:
        lo, opt, hi = batch_range or _parse_batch_range(getattr(args, "batch_range", None) or "1")
        config.set_batch_range(lo, opt, hi)
    config.fp16 = bool(getattr(args, "fp16", False))
    int8 = getattr(args, "int8", False)
    config.int8 = bool(int8)
    if int8 and not (getattr(args, "calib_data", None) or getattr(args, "calib_cache", None)):
        _warn("--int8 without --calib-data or --calib-cache: only tensors with ranges from the model itself (ONNX "
              "QuantizeLinear/DequantizeLinear) can be INT8; the others stay float")
    _calibrate(net, args, int8, log)
    constraints = getattr(args, "precision_constraints", None)
    if constraints:
        config.set_flag(gie.BuilderFlag.OBEY_PRECISION_CONSTRAINTS if constraints == "obey"
                        else gie.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
        if not _has_precision_pins(net):
            _warn(f"--precision-constraints {constraints}: no layer of {name} pins a precision or output type "
                  "(layer.precision / set_output_type), so it changes nothing")
    on_cpu = device == "cpu" or (device == "auto" and not builder.platform_has_gpu)
    if getattr(args, "cuda_graph", False) and not on_cpu:
        config.cuda_graph = True
    cli_io.apply_build_io_options(config, args)
    t0 = time.perf_counter()
    with Progress(f"building {name}"):
        engine = builder.build(net, config)
    build_ms = (time.perf_counter() - t0) * 1e3
    loaded = Loaded(engine, name, source, build_ms=build_ms)
    loaded.define_ms = define_ms
    return loaded


def _calibrate(net, args, int8, log):
    """--calib-data / --calib-cache / --calib-algo: calibrate here (with its own progress bar, before the build's),
    then hand the ranges to the network's tensors that have none."""
    data, cache, algo = (getattr(args, k, None) for k in ("calib_data", "calib_cache", "calib_algo"))
    if not int8:
        given = [o for o, v in (("--calib-data", data), ("--calib-cache", cache), ("--calib-algo", algo)) if v]
        if given:
            _warn(f"{', '.join(given)} apply with --int8: ignored")
        return
    if data or cache:
        from . import calibration

        cal = calibration.make_calibrator(data, algo or "entropy", cache_file=cache)
        calibration.set_dynamic_ranges(net, calibration.calibrate(net, cal, logger=log))


def _add_model_options(p, batch=True):
    """Options that apply when MODEL is built here (built-in name or model file)."""
    g = p.add_argument_group("when MODEL is built here (a built-in name or a model file)")
    if batch:
        g.add_argument("--batch", dest="batch_range", metavar="MIN,OPT,MAX",
                       help="batch range to build for: N (= 1,N,N) or MIN,OPT,MAX (default 1)")
    g.add_argument("--device", type=cli_io.parse_device, default="auto", metavar="cpu|gpu|auto|N",
                   help="device to build for (default auto: the GPU when one is usable, else the CPU); N (also "
                   "gpu:N): GPU number N, through CUDA_VISIBLE_DEVICES")
    g.add_argument("--fp16", action="store_true",
                   help="allow FP16 kernels (GPU: where they are faster, Reformats included; CPU: every layer that "
                   "can stores FP16, the reference for the GPU's FP16 numerics)")
    g.add_argument("--int8", action="store_true", help="allow INT8 kernels where tensors have ranges (CPU: every layer with an INT8 kernel; GPU: convolution, "
                   "pooling, element-wise where faster)")
    g.add_argument("--calib-data", metavar="DIR|NPZ", default=None,
                   help="--int8: calibrate on this data (an .npz of arrays named after the inputs, or a directory of "
                   ".npy files, one sample or batch each)")
    g.add_argument("--calib-cache", metavar="FILE", default=None,
                   help="--int8: calibration cache; read when it exists (calibration skipped; refused if written for "
                   "another network or algorithm), else written after calibrating")
    g.add_argument("--calib-algo", choices=["entropy", "minmax", "percentile"], default=None,
                   help="--int8: calibration algorithm (default entropy; percentile: the 99.99th)")
    g.add_argument("--precision-constraints", choices=["obey", "prefer"], default=None,
                   help="layers' pinned precisions / output types: obey (the build fails where no kernel honours "
                   "one) or prefer (honoured where possible, else a warning); default: ignored")
    g.add_argument("--input-format", metavar="SPEC", default=None,
                   help="declared type and format of the network inputs: TYPE:FORMAT (fp32|fp16 : linear|nhwc|hwc8, "
                   "e.g. fp16:hwc8), one for all or a comma-separated list in network order (default fp32:linear)")
    g.add_argument("--output-format", metavar="SPEC", default=None,
                   help="the same for the network outputs (the engine converts to it)")
    g.add_argument("--seed", type=int, default=0, help="weight seed of built-in models (default 0)")
    g.add_argument("--image", type=int, default=None,
                   help="image size of googlenet/resnet50/yolov2 (default 224, 224, 416)")
    g.add_argument("--weights", default=None, help="weights file for a Caffe or Darknet model file")
    cli_io.add_build_io_options(g)
    p.add_argument("-v", "--verbose", action="store_true", help="also print the builder's and runtime's info messages")


def _model_title(loaded):
    return f"{loaded.name} ({loaded.source})"


# ---- build -----------------------------------------------------------------------------------------

def cmd_build(args):
    from . import report

    loaded = load_model(args.model, args)
    engine = loaded.engine
    data = engine.serialize()
    li = engine.layer_info()
    seeded = f", seeded random weights, seed {args.seed}" if loaded.source == "built-in model" else ""
    print(f"built {loaded.name} ({loaded.source}{seeded}) in {loaded.define_ms + loaded.build_ms:.0f} ms "
          f"({'parse' if loaded.source == 'model file' else 'define'} {loaded.define_ms:.0f} ms + build "
          f"{loaded.build_ms:.0f} ms)")
    print(report.summary(li, engine_bytes=len(data)))
    if args.save:
        engine.save(args.save)
        print(f"saved {args.save} ({len(data)} bytes)")
    return 0


def _add_build(subparsers):
    p = subparsers.add_parser("build", help="build an engine from a built-in model or a model file and save it",
                              description="Builds MODEL (a built-in name: lenet, googlenet, resnet50, yolov2 with "
                              "seeded random weights; or a model file read by gie.parse) and prints the build "
                              "summary; --save writes the engine file.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--save", metavar="FILE", help="write the engine file here")
    _add_model_options(p)
    cli_shapes.add_shape_options(p.add_argument_group("input shapes (dynamic dimensions; instead of --batch)"))
    p.set_defaults(func=_guard(cmd_build))


# ---- run -------------------------------------------------------------------------------------------

def latency_stats(times_ms):
    """{min, median, p90, p99, max, mean} of a list of latencies (numpy's linear percentiles)."""
    t = np.asarray(times_ms, dtype=np.float64)
    q = np.percentile(t, [0, 50, 90, 99, 100])
    return {"min": float(q[0]), "median": float(q[1]), "p90": float(q[2]), "p99": float(q[3]), "max": float(q[4]),
            "mean": float(t.mean())}


def _random_inputs(engine, batch, seed, shapes=None):
    """Seeded random inputs: ``shapes[name]`` where given, else ``batch`` in dimension 0 of the engine's shape."""
    from .engine import numpy_dtype

    rng = np.random.default_rng(seed)
    inputs = {}
    for name in engine.input_names:
        shape = shapes[name] if shapes else (batch,) + tuple(engine.get_tensor_shape(name))[1:]
        dt = numpy_dtype(engine.get_tensor_dtype(name))
        if dt.kind == "f":
            inputs[name] = rng.standard_normal(shape).astype(dt)
        elif dt.kind == "b":
            inputs[name] = rng.random(shape) < 0.5
        else:
            inputs[name] = np.zeros(shape, dtype=dt)
    return inputs


def cmd_run(args):
    from .progress import Progress

    if args.iterations < 1:
        raise CliError("--iterations must be at least 1")
    if args.warmup < 0:
        raise CliError("--warmup must be 0 or more")
    if args.duration < 0:
        raise CliError("--duration must be 0 or more")
    for option, value in (("--peak-tflops", args.peak_tflops), ("--peak-gbps", args.peak_gbps)):
        if value is not None and not value > 0:
            raise CliError(f"{option} must be a positive number, got {value}")
    batch = args.batch
    if batch is not None and batch < 1:
        raise CliError("--batch must be at least 1")
    spec = cli_shapes.profile_from_args(args)
    if spec is not None and (batch is not None or args.load_inputs):
        raise CliError(f"{'--batch' if batch is not None else '--load-inputs'} and --shapes: use one or the other")
    if args.load_inputs:  # the file's batch, unless --batch says otherwise (then they must agree, checked below)
        batch = batch or cli_io.peek_batch(args.load_inputs)
    loaded = load_model(args.model, args, batch_range=None if spec is not None else (1, batch or 1, batch or 1))
    if args.save:
        if loaded.source == "engine file":
            _warn(f"--save: '{args.model}' is an engine file already; not saved again")
        else:
            loaded.engine.save(args.save)
    engine = loaded.engine
    li = engine.layer_info()
    run_shapes = None
    if spec is not None or (not args.load_inputs and not cli_shapes.batch_only(engine)):
        # At --shapes (checked by the context against the engine's profile), else at profile 0's opt shapes.
        run_shapes = cli_shapes.run_shapes(engine, cli_shapes.parse_shapes("--shapes", args.shapes) if args.shapes
                                           else None)
        batch = next(iter(run_shapes.values()))[0]
    if batch is None:
        batch = int(li.get("batch", {}).get("opt") or engine.max_batch)
    if run_shapes is None and not engine.min_batch <= batch <= engine.max_batch:
        raise CliError(f"--batch {batch} is outside the engine's batch range {engine.min_batch}..{engine.max_batch}")
    ctx = engine.create_execution_context()
    on_gpu = getattr(ctx, "is_gpu", False)
    if args.cuda_graph:
        if on_gpu:
            ctx.cuda_graph = True
        else:
            _warn("--cuda-graph applies to GPU engines; this one runs on the CPU")
    if args.load_inputs:
        inputs, file_batch = cli_io.load_inputs(args.load_inputs, engine)
        if file_batch != batch:
            raise CliError(f"--batch {batch}: the inputs in '{args.load_inputs}' have batch {file_batch}")
    else:
        inputs = _random_inputs(engine, batch, args.seed + 1, run_shapes)
    # Binds shapes and addresses (for a GPU engine: device staging buffers); later runs reuse them.
    outputs = ctx.execute(inputs, outputs="numpy") if on_gpu else ctx.execute(inputs)
    if args.save_outputs:
        cli_io.save_outputs(args.save_outputs, outputs)
    for name, arr in outputs.items():
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            _warn(f"output '{name}' has non-finite values")

    if on_gpu:  # enqueue on the context's stream and wait: no host copies, CUDA graph replay when enabled
        def step():
            ctx.enqueue()
            ctx.synchronize()
    else:
        step = ctx.execute_bound
    with Progress("warm-up", total=args.warmup) as bar:
        for _ in range(args.warmup):
            step()
            bar.update()
    times = []
    # trtexec's rule: at least --iterations runs and at least --duration seconds.
    deadline = time.perf_counter() + args.duration
    with Progress("timing", total=args.iterations) as bar:
        while len(times) < args.iterations or time.perf_counter() < deadline:
            t0 = time.perf_counter()
            step()
            times.append((time.perf_counter() - t0) * 1e3)
            bar.update()
    stats = latency_stats(times)
    throughput = batch / stats["median"] * 1e3 if stats["median"] > 0 else float("inf")

    kernels = peaks = None
    if args.profile or args.export_times:
        from . import profile

        kernels = _profile(ctx, li, args.iterations)
        peaks = profile.device_peaks(li, args.peak_tflops, args.peak_gbps)
        profile.annotate(kernels, profile.engine_work(li, batch), peaks)

    print(f"engine: {_model_title(loaded)}, device {li.get('device', '?')}, {engine.num_kernels} kernels, "
          f"batch range {engine.min_batch}..{engine.max_batch}")
    if run_shapes is not None:
        print("shapes: " + ", ".join(f"{n} {'x'.join(map(str, s))}" for n, s in run_shapes.items()))
    print(f"batch {batch}: {len(times)} iterations after {args.warmup} warm-up"
          + (f" (at least {args.duration:g} s)" if args.duration else "")
          + (f"; inputs from {args.load_inputs}" if args.load_inputs else ""))
    if on_gpu:
        print(f"cuda graph: {'on' if ctx.cuda_graph else 'off'} (timed: enqueue on the context's stream + "
              "synchronize, inputs already on the device)")
    print(f"latency (ms): min {stats['min']:.4f}  median {stats['median']:.4f}  p90 {stats['p90']:.4f}  "
          f"p99 {stats['p99']:.4f}  max {stats['max']:.4f}  mean {stats['mean']:.4f}")
    print(f"throughput: {throughput:.1f} images/s (batch {batch} / median latency)")
    if args.profile:
        print()
        print(profile.format_table(kernels, args.iterations, peaks))
    if args.export_times:
        doc = {
            "model": loaded.name, "source": loaded.source, "device": li.get("device"), "batch": batch,
            "warmup": args.warmup, "iterations": len(times), "latency_ms": times, "latency_stats_ms": stats,
            "throughput_images_per_s": throughput, "profile_iterations": args.iterations,
            "cuda_graph": bool(on_gpu and ctx.cuda_graph),
            "kernels": kernels, "peaks": peaks,
        }
        with open(args.export_times, "w") as f:
            json.dump(doc, f, indent=1)
        print(f"wrote {args.export_times}")
    return 0


def _profile(ctx, li, iterations):
    """Per-kernel times over ``iterations`` profiled runs (separate from the timed runs)."""
    from .progress import Progress

    order = [k["name"] for k in li.get("kernels", [])]
    types = {k["name"]: k.get("type", "?") for k in li.get("kernels", [])}
    per_iter = {name: [] for name in order}
    current = {}

    def on_kernel(name, ms):
        current[name] = current.get(name, 0.0) + float(ms)

    ctx.profiler = on_kernel
    try:
        with Progress("profiling", total=iterations) as bar:
            for _ in range(iterations):
                current.clear()
                ctx.execute_bound()
                for name, ms in current.items():
                    per_iter.setdefault(name, []).append(ms)
                bar.update()
    finally:
        ctx.profiler = None
    total = sum(sum(v) for v in per_iter.values())
    rows = []
    for name, vals in per_iter.items():
        s = float(sum(vals))
        rows.append({"name": name, "type": types.get(name, "?"), "calls": len(vals), "total_ms": s,
                     "mean_ms": s / iterations, "percent": 100.0 * s / total if total > 0 else 0.0,
                     "per_iteration_ms": vals})
    rows.sort(key=lambda r: -r["total_ms"])
    return rows


def _add_run(subparsers):
    p = subparsers.add_parser("run", help="time an engine: latency percentiles, throughput, per-kernel profile",
                              description="Runs ENGINE (an engine file) or MODEL (built here for batches 1..N) "
                              "on random inputs and reports latency min/median/p90/p99/max and throughput. "
                              "--profile adds per-kernel times from extra, separately run iterations (the "
                              "profiler's callbacks do not slow the timed ones).")
    p.add_argument("model", metavar="ENGINE|MODEL")
    p.add_argument("--batch", type=int, default=None,
                   help="batch size to run (default: the engine's opt batch; a MODEL is built for 1..N)")
    p.add_argument("--iterations", type=int, default=100, help="timed iterations (default 100)")
    p.add_argument("--warmup", type=int, default=10, help="untimed iterations first (default 10)")
    p.add_argument("--profile", action="store_true",
                   help="print per-kernel times, slowest first, with %% of total, FLOPs, bytes, achieved TFLOP/s and "
                   "GB/s, and the roofline bound and fraction of the device's peak")
    p.add_argument("--peak-tflops", type=float, default=None, metavar="T",
                   help="--profile: the compute peak (every precision) instead of a measured one")
    p.add_argument("--peak-gbps", type=float, default=None, metavar="G",
                   help="--profile: the memory bandwidth peak instead of a measured one")
    p.add_argument("--export-times", metavar="FILE",
                   help="write JSON: per-iteration latencies, their statistics and per-kernel times")
    p.add_argument("--cuda-graph", action="store_true",
                   help="GPU engines: replay each run as a CUDA graph (captured once; built MODELs also store it)")
    p.add_argument("--duration", type=float, default=0.0, metavar="SECONDS",
                   help="time for at least this long (and at least --iterations runs; default 0)")
    p.add_argument("--load-inputs", metavar="FILE.npz", default=None,
                   help="run on these inputs {name: array} (np.savez) instead of random ones; their batch is the run's")
    p.add_argument("--save-outputs", metavar="FILE.npz", default=None,
                   help="write the outputs of the first run to an .npz file")
    p.add_argument("--save", metavar="FILE", default=None, help="a MODEL built here: also write its engine file")
    _add_model_options(p, batch=False)
    cli_shapes.add_shape_options(p.add_argument_group("input shapes (dynamic dimensions; instead of --batch)"), run=True)
    p.set_defaults(func=_guard(cmd_run))


# ---- inspect ---------------------------------------------------------------------------------------

def cmd_inspect(args):
    from . import report

    loaded = load_model(args.model, args)
    li = loaded.engine.layer_info()
    if args.json:
        print(json.dumps(li, indent=2))
        return 0
    size = loaded.engine_bytes if loaded.engine_bytes is not None else len(loaded.engine.serialize())
    title = f"{_model_title(loaded)}: engine file {size} bytes ({report.format_bytes(size)})"
    print(report.format_report(li, title=title))
    return 0


def _add_inspect(subparsers):
    p = subparsers.add_parser("inspect", help="the build report in words: kernels, fusions, tactics, memory, passes",
                              description="Prints the build report of ENGINE (an engine file) or MODEL (built "
                              "here): per kernel the layers it covers, fusions applied and rejected, tactic "
                              "(and runner-up timings), dtype, format, shapes and memory offsets; then the "
                              "totals and the pass log.")
    p.add_argument("model", metavar="ENGINE|MODEL")
    p.add_argument("--json", action="store_true", help="print engine.layer_info() as JSON instead")
    _add_model_options(p)
    p.set_defaults(func=_guard(cmd_inspect))


# ---- draw ------------------------------------------------------------------------------------------

def cmd_draw(args):
    from . import draw

    view = args.view or "both"
    fmt = args.format
    ext = os.path.splitext(args.output or "")[1].lower()
    if fmt is None:
        if ext in _IMAGE_EXTS:
            raise CliError(f"-o '{args.output}': gie draw writes SVG (.svg), DOT (.dot, .gv) or PNG (.png), not {ext}")
        fmt = {".dot": "dot", ".gv": "dot", ".png": "png"}.get(ext, "svg")
    if fmt == "png":
        if not args.output or args.output == "-":
            raise CliError("PNG goes to a file: give -o FILE.png")
        if draw.png_converter() is None:
            raise CliError(f"-o '{args.output}': writing PNG needs Graphviz 'dot' (apt-get install graphviz) or "
                           "'rsvg-convert' (apt-get install librsvg2-bin) on PATH, and neither is; write .svg instead")
    loaded = load_model(args.model, args)
    li = loaded.engine.layer_info()
    if view in ("before", "both") and not li.get("network"):
        raise CliError("this engine's build report has no network section (made by an older gie?): "
                       "only --after can be drawn", code=1)
    renderer = args.renderer
    if fmt == "svg" and renderer == "dot" and not draw.dot_available():
        raise CliError("--renderer dot: Graphviz 'dot' is not on PATH (apt-get install graphviz)")
    graph = draw.build_graph(li, view, title=loaded.name)
    if fmt == "dot":
        text, used = draw.to_dot(graph), "dot text"
    elif fmt == "png":
        try:
            text = draw.to_png(graph, renderer)
        except (RuntimeError, OSError) as e:
            raise CliError(f"cannot write PNG: {e}", code=1) from None
        used = "graphviz dot" if draw.png_converter() == "dot" and renderer != "python" else "rsvg-convert"
    else:
        used = "graphviz dot" if renderer == "dot" or (renderer == "auto" and draw.dot_available()) else "python"
        try:
            text = draw.to_svg(graph, "dot" if used == "graphviz dot" else "python")
        except (RuntimeError, OSError) as e:
            if renderer == "dot":
                raise CliError(f"Graphviz failed: {e}", code=1) from None
            _warn(f"Graphviz failed ({e}); using the built-in layout")
            text, used = draw.to_svg(graph, "python"), "python"
    if not args.output or args.output == "-":
        sys.stdout.write(text)
        return 0
    directory = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(directory, exist_ok=True)
    with open(args.output, "wb") as f:
        f.write(text if isinstance(text, bytes) else text.encode("utf-8"))
    print(f"wrote {args.output}: {view} view of {loaded.name}, {len(graph.nodes)} boxes, {len(graph.edges)} edges, "
          f"{len(graph.clusters)} kernel outlines ({fmt}, {used})")
    return 0


def _add_draw(subparsers):
    p = subparsers.add_parser("draw", help="picture of the network before and/or after optimization (SVG or DOT)",
                              description="Draws ENGINE (an engine file) or MODEL (built here). --before: the "
                              "network as defined; --after: the kernels of the engine, eliminated concatenations "
                              "as views; --both (default): the network with each kernel outlined around the "
                              "layers it runs. SVG through Graphviz 'dot' when it is installed, else a built-in "
                              "layout.")
    p.add_argument("model", metavar="ENGINE|MODEL")
    p.add_argument("-o", "--output", metavar="FILE", help="output file (default: standard output)")
    p.add_argument("--format", choices=["svg", "dot", "png"], default=None,
                   help="default: from the output's extension (.dot/.gv: dot, .png: png), else svg; png needs "
                   "Graphviz dot or rsvg-convert")
    view = p.add_mutually_exclusive_group()
    view.add_argument("--before", dest="view", action="store_const", const="before", help="the network as defined")
    view.add_argument("--after", dest="view", action="store_const", const="after", help="the engine's kernels")
    view.add_argument("--both", dest="view", action="store_const", const="both",
                      help="the network with kernels outlined (default)")
    p.add_argument("--renderer", choices=["auto", "dot", "python"], default="auto",
                   help="SVG layout: Graphviz dot, the built-in one, or auto (dot when found; default)")
    _add_model_options(p)
    p.set_defaults(func=_guard(cmd_draw))


# ---- explain ---------------------------------------------------------------------------------------

def _flags_text(flags):
    names = [name for bit, name in _FLAG_NAMES.items() if flags & (1 << bit)]
    unknown = flags & ~sum(1 << b for b in _FLAG_NAMES)
    if unknown:
        names.append(f"unknown bits 0x{unknown:x}")
    if not names:
        return "none (FP32)"
    text = ", ".join(names)
    return text


def _precision_lines(layer_info):
    """What the engine computes in (from its build report), for explain: the precision counts and the I/O states."""
    from . import report

    io = [f"{kind} {t['name']} {report.tensor_state(t)}" for kind, key in (("input", "inputs"), ("output", "outputs"))
          for t in layer_info.get(key, [])]
    return [report.precision_line(layer_info), "I/O: " + ", ".join(io)]


# What each architecture tag of gie._C.tactic_architecture (engine/tactic_architecture.h) asks of the GPU.
_ARCH_WORDS = {"sm_90a": "wgmma + TMA: compute capability 9.0 (H100/H200) and a build that targets 90a",
               "sm_80": "mma.sync tensor cores: compute capability 8.0 or newer"}


def _architecture_lines(kernels):
    """Which chosen tactics need which GPU architecture (the summary's per-kernel tactic_architecture), for explain."""
    from . import _C

    by_arch = {}
    for k in kernels:
        chosen = [(k.get("tactic", "?"), k.get("tactic_architecture"))]
        if k.get("device") == "gpu":  # the other tactics optimization profiles run (docs/dynamic_shapes.md)
            chosen += [(t, _C.tactic_architecture(t)) for t in sorted(set(k.get("profile_tactics", [])) - {chosen[0][0]})]
        for tactic, arch in chosen:
            if arch:
                tactics = by_arch.setdefault(arch, {})
                tactics[tactic] = tactics.get(tactic, 0) + 1
    if not by_arch:
        gpu = any(k.get("device") == "gpu" for k in kernels)
        return ["tactics needing a GPU architecture: none"] if gpu else []
    lines = ["tactics needing a GPU architecture:"]
    for arch in sorted(by_arch, key=lambda a: (a != "sm_90a", a)):
        used = ", ".join(f"{t} x{n}" for t, n in by_arch[arch].items())
        lines.append(f"  {arch} ({_ARCH_WORDS.get(arch, 'see the tactic')}): {used}")
    return lines


def explain_text(summary, path=None, size=None, layer_info=None):
    """Words for ``gie._C.engine_summary``'s dict; ``layer_info`` (the loaded engine's build report, when it could
    be loaded) adds the precisions actually used."""
    import gie

    lines = []
    if path is not None:
        lines.append(f"engine file: {path}" + (f" ({size} bytes)" if size is not None else ""))
    fv = summary.get("format_version")
    lib = summary.get("library_version", "?")
    if fv:
        lines.append(f"format version {fv}, written by gie {lib} (this is gie {gie.__version__})")
    else:
        lines.append("format version: unknown (the header could not be read)")
    device = summary.get("device", "?")
    cc = summary.get("compute_capability")
    if device == "gpu":
        lines.append(f"device: GPU, compute capability {cc}")
    else:
        lines.append(f"device: {str(device).upper()}" + (" (no compute capability)" if device == "cpu" else ""))
    lines.append(f"builder flags: {_flags_text(int(summary.get('flags', 0) or 0))}")
    if layer_info is not None:
        lines.extend(_precision_lines(layer_info))
    else:
        lines.append("precision: unknown without loading the engine (the flags say only what was allowed)")
    b = summary.get("batch") or {}
    if b.get("max"):
        lines.append(f"batch range: {b.get('min')}..{b.get('max')} (optimized for {b.get('opt')})")
    kernels = summary.get("kernels") or []
    if kernels:
        registered = {tuple(map(str, p)) for p in gie.registered_plugins()}
        counts = {}
        for k in kernels:
            variant = f" [{k['variant']}]" if k.get("variant") else ""
            key = (str(k.get("type")), variant, str(k.get("version")), str(k.get("device")))
            counts[key] = counts.get(key, 0) + 1
        lines.append(f"kernels needed: {len(kernels)} kernels of {len(counts)} types")
        w = max(len(f"{t}{var} v{v} ({d})") for t, var, v, d in counts)
        for (t, var, v, d), n in counts.items():
            here = "registered here" if (t, v, d) in registered else "NOT registered here (load its plugin library)"
            lines.append(f"  {f'{t}{var} v{v} ({d})':<{w}}  x{n:<3} {here}")
    else:
        lines.append("kernels needed: unknown (the body could not be read)")
    lines.extend(_architecture_lines(kernels))
    if summary.get("loadable"):
        lines.append("loadable on this machine: yes")
    else:
        lines.append(f"loadable on this machine: NO: {summary.get('reason') or 'no reason given'}")
    return "\n".join(lines)


def cmd_explain(args):
    import gie

    path = args.engine
    if os.path.isdir(path):
        raise CliError(f"'{path}' is a folder, not an engine file")
    if (os.path.isfile(path) and not is_engine_file(path) and os.path.splitext(path)[1].lower() not in _ENGINE_EXTS) \
            or (not os.path.exists(path) and path.lower() in BUILTIN_MODELS):
        # A model: explain the engine that `gie build` would make of it here, with the same options.
        loaded = load_model(path, args)
        data = loaded.engine.serialize()
        print(f"{_model_title(loaded)}: not an engine file; explaining the engine built from it here "
              f"(as `gie build` would, in {loaded.define_ms + loaded.build_ms:.0f} ms)")
        path = f"{loaded.name} (built here, not saved)"
    elif not os.path.exists(path):
        raise CliError(f"'{path}' does not exist")
    else:
        with open(path, "rb") as f:
            data = f.read()
    fn = getattr(gie._C, "engine_summary", None)
    if fn is None:
        raise CliError("this gie has no engine summary (gie._C.engine_summary); rebuild it", code=1)
    summary = json.loads(fn(data))
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0 if summary.get("loadable") else 1
    layer_info = None
    if summary.get("loadable"):  # the summary has no per-kernel precision: the build report of the loaded engine has
        try:
            layer_info = gie.Runtime(logger=_CliLog()).deserialize(data).layer_info()
        except gie.Error as e:
            _warn(f"the engine could not be loaded to read its precisions: {e}")
    print(explain_text(summary, path, len(data), layer_info))
    return 0 if summary.get("loadable") else 1


def _add_explain(subparsers):
    p = subparsers.add_parser("explain", help="what an engine file needs, and whether this machine can load it",
                              description="Reads the header and the body's kernel list of ENGINE and says in "
                              "words: format and library version, device and compute capability, builder flags, "
                              "batch range, kernels/plugins needed, and whether this machine can load it (exit 0) "
                              "or why not (exit 1); the verdict comes from loading it as gie.Runtime().deserialize "
                              "does, with every check.")
    p.add_argument("engine", metavar="ENGINE|MODEL", help="an engine file; a MODEL (built-in name or model file) is "
                   "built here with the options below and the result explained")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    _add_model_options(p)
    p.set_defaults(func=_guard(cmd_explain))


SUBCOMMANDS = [_add_build, _add_run, _add_inspect, _add_draw, _add_explain]


def _add_plugin(subparsers):  # `gie plugin check` lives in plugin_check.py
    from .plugin_check import _add_plugin as add

    add(subparsers)


SUBCOMMANDS.append(_add_plugin)


def _add_serve(subparsers):  # `gie serve` lives in serve/command.py (which imports no Ray until it runs)
    from .serve.command import add_serve as add

    add(subparsers)


SUBCOMMANDS.append(_add_serve)
