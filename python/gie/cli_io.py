"""Command-line options shared by several subcommands: real inputs and outputs (.npz), plugin libraries, the GPU
index, the timing cache and the workspace limit (issue 18). The subcommands in cli.py and compare.py call these;
every failure a user can cause is a :class:`cli.CliError` (exit 2) naming the option and the file or tensor."""
import os
import re
import sys

import numpy as np

__all__ = ["load_inputs", "save_outputs", "load_plugins", "parse_device", "parse_workspace", "add_build_io_options",
           "apply_build_io_options", "apply_network_options"]


def _cli_error(message, code=2):
    from .cli import CliError

    return CliError(message, code)


def load_inputs(path, engine, option="--load-inputs"):
    """{input name: array} from an .npz file (``np.savez(path, name=array, ...)``) for ``engine``: every input of
    the engine must be there and nothing else; arrays of another dtype of the same kind (float64 for float32, int64
    for int32, as onnxruntime users keep them) are converted. Returns (inputs, batch)."""
    from .engine import numpy_dtype

    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise _cli_error(f"{option} '{path}': no such file") from None
    except (OSError, ValueError, EOFError) as e:
        raise _cli_error(f"{option} '{path}': not a readable .npz file ({e})") from None
    names = list(engine.input_names)
    unknown = sorted(set(arrays) - set(names))
    missing = [n for n in names if n not in arrays]
    if unknown or missing:
        raise _cli_error(f"{option} '{path}': " + "; ".join(
            ([f"no input named {unknown}"] if unknown else []) + ([f"input(s) {missing} missing"] if missing else []))
            + f"; the engine's inputs are {names}")
    inputs, batches = {}, set()
    for name in names:
        arr = arrays[name]
        want = numpy_dtype(engine.get_tensor_dtype(name))
        if arr.dtype != want:
            if arr.dtype.kind != want.kind and not (arr.dtype.kind in "iu" and want.kind in "iu"):
                raise _cli_error(f"{option} '{path}': input '{name}' is {arr.dtype}; the engine takes {want}")
            arr = arr.astype(want)
        expected = tuple(engine.get_tensor_shape(name))[1:]
        # Dimensions that vary in some optimization profile (beyond the batch) are the context's to check.
        varying = {k for i in range(engine.num_optimization_profiles)
                   for k, (lo, hi) in enumerate(zip(*engine.get_profile_shape(name, i)[::2])) if lo != hi}
        expected = tuple(-1 if k + 1 in varying else d for k, d in enumerate(expected))
        if arr.ndim != len(expected) + 1 or any(e not in (-1, d) for d, e in zip(arr.shape[1:], expected)):
            raise _cli_error(f"{option} '{path}': input '{name}' has shape {arr.shape}; the engine takes "
                             f"(batch,) + {expected}" + (" (-1: any size in the engine's profiles)" if varying - {0} else ""))
        inputs[name] = np.ascontiguousarray(arr)
        batches.add(arr.shape[0])
    if len(batches) > 1:
        raise _cli_error(f"{option} '{path}': the inputs have different batch sizes {sorted(batches)}")
    return inputs, batches.pop() if batches else 1


def peek_batch(path, option="--load-inputs"):
    """The batch (dimension 0) of the arrays in an .npz file, read before the engine is built (so that a MODEL is
    built for it); None when the file holds no array with a dimension."""
    try:
        with np.load(path, allow_pickle=False) as f:
            dims = {f[k].shape[0] for k in f.files if f[k].ndim > 0}
    except FileNotFoundError:
        raise _cli_error(f"{option} '{path}': no such file") from None
    except (OSError, ValueError, EOFError) as e:
        raise _cli_error(f"{option} '{path}': not a readable .npz file ({e})") from None
    return max(dims) if dims else None


def save_outputs(path, outputs, option="--save-outputs"):
    """Writes {name: array} to an .npz file (numpy adds .npz to a name without it, so the name is kept exact)."""
    try:
        with open(path, "wb") as f:
            np.savez(f, **{k: np.asarray(v) for k, v in outputs.items()})
    except OSError as e:
        raise _cli_error(f"{option}: cannot write '{path}': {e.strerror or e}") from None


def load_plugins(paths):
    """Loads each --plugins library (in order) before anything is built or loaded."""
    import gie

    for path in paths or ():
        if not os.path.isfile(path):
            raise _cli_error(f"--plugins '{path}': no such file")
        try:
            gie.load_library(path)
        except gie.Error as e:
            raise _cli_error(f"--plugins '{path}': {e}", code=1) from None


_DEVICE = re.compile(r"^(?:(?:gpu|cuda):)?(\d+)$")


def parse_device(text):
    """--device: cpu, gpu, auto, or a GPU index (N, gpu:N, cuda:N; trtexec's --device=N). An index selects that GPU
    through CUDA_VISIBLE_DEVICES, which works because the CLI has not touched CUDA yet when options are read."""
    t = str(text).strip().lower()
    if t in ("cpu", "gpu", "auto"):
        return t
    if t == "cuda":
        return "gpu"
    m = _DEVICE.match(t)
    if not m:
        import argparse

        raise argparse.ArgumentTypeError(f"'{text}': use cpu, gpu, auto, or a GPU index N (also gpu:N, cuda:N)")
    index = int(m.group(1))
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() != "":
        ids = [v.strip() for v in visible.split(",") if v.strip()]
        if index >= len(ids):
            import argparse

            raise argparse.ArgumentTypeError(f"GPU {index}: CUDA_VISIBLE_DEVICES={visible} makes only {len(ids)} "
                                             "GPU(s) visible")
        os.environ["CUDA_VISIBLE_DEVICES"] = ids[index]
    else:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(index)
    return "gpu"


_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?$", re.I)
_UNITS = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_workspace(text):
    """--workspace: a size in MiB (trtexec's unit) or with a unit (512K, 64M, 1G, 1048576B)."""
    m = _SIZE.match(str(text).strip())
    if not m:
        import argparse

        raise argparse.ArgumentTypeError(f"'{text}': a size in MiB, or with a unit: 512K, 64M, 1G, 4096B")
    unit = (m.group(2) or "m")[0].lower()
    return int(float(m.group(1)) * _UNITS[unit])


def add_build_io_options(group):
    """The options of issue 18 that apply when MODEL is built here (added to cli's model-options group)."""
    group.add_argument("--timing-cache", metavar="FILE", default=None,
                       help="timing-cache file: read before tactic selection, rewritten after the build")
    group.add_argument("--workspace", metavar="SIZE", type=parse_workspace, default=None,
                       help="largest scratch memory of any one kernel: MiB, or with a unit (512K, 64M, 1G); default "
                       "unlimited")
    group.add_argument("--plugins", metavar="LIB", action="append", default=[],
                       help="load this plugin library first (repeatable; engine files need it too)")
    group.add_argument("--layer-precisions", metavar="FILE.json|SPEC", default=None,
                       help="pin layers' precisions: a JSON file {\"layers\": {name: \"fp32\"|\"fp16\"}} as `gie debug "
                       "precision --save` writes it, or trtexec's NAME:fp32,NAME:fp16 (with --precision-constraints "
                       "obey|prefer)")
    group.add_argument("--no-tf32", action="store_true",
                       help="GPU FP32: keep every product on the CUDA cores (config.tf32 = False; no 3xTF32 tactics)")


def apply_network_options(net, args):
    """--layer-precisions: pins the named layers' precisions (before the build, and before --precision-constraints
    looks for pins)."""
    path = getattr(args, "layer_precisions", None)
    if path:
        from .debug_precision import apply_layer_precisions, load_layer_precisions

        apply_layer_precisions(net, load_layer_precisions(path))


def apply_build_io_options(config, args):
    if getattr(args, "timing_cache", None):
        config.timing_cache = args.timing_cache
    if getattr(args, "workspace", None) is not None:
        config.workspace_limit = args.workspace
    if getattr(args, "no_tf32", False):
        config.tf32 = False
