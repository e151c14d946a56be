"""An ONNX import in a child process whose import runs under an address-space limit (RLIMIT_AS): a regression that
folds a batch-sized constant allocates gigabytes there, not in the test process. When the import works the child also
builds for the CPU (max batch 3) and runs batches 1 and 3 of x. Used by test_onnx_parser.py (an absolute limit) and
test_onnx_import_memory.py (headroom above what the child already maps)."""
import json
import os
import subprocess
import sys

import numpy as np

_CHILD = r"""
import json, resource, sys, tracemalloc
import numpy as np
import gie
path, mode, limit, x_path, out_path = sys.argv[1], sys.argv[2], int(sys.argv[3]) << 20, sys.argv[4], sys.argv[5]
if mode == "headroom":  # above what the interpreter with gie loaded already maps
    limit += int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) << 10
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
resource.setrlimit(resource.RLIMIT_AS, (limit, hard))   # the import only: folding must stay small
tracemalloc.start()
try:
    builder = gie.Builder()
    net = gie.OnnxParser(builder=builder).parse(path)
except Exception as e:
    json.dump({"error": type(e).__name__, "message": str(e)}, open(out_path, "w"))
    sys.exit(0)
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
largest = max(int(np.prod(l.output(0).shape)) for l in net.layers)
cfg = builder.create_config()
cfg.device = "cpu"
cfg.max_batch = 3
ctx = builder.build(net, cfg).create_execution_context()
x = np.load(x_path)
json.dump({"peak": peak, "largest": largest, "y1": ctx.execute({"x": x[:1]})["y"].tolist(),
           "y3": ctx.execute({"x": x})["y"].tolist()}, open(out_path, "w"))
"""


def import_in_child(tmp_path, m, x, *, limit_mib=None, headroom_mib=None):
    """Saves model m and input x under tmp_path and imports m in a child whose import may map at most `limit_mib` MiB
    in all, or `headroom_mib` MiB above what the child maps before the import (exactly one of them). Returns the
    child's result: {"error", "message"} when the import raised, else {"peak": the import's tracemalloc peak in
    bytes, "largest": the most elements of any layer output, "y1", "y3": output y at batch 1 and 3 as lists}."""
    import onnx

    if (limit_mib is None) == (headroom_mib is None):
        raise ValueError("import_in_child takes limit_mib or headroom_mib")
    mode, mib = ("limit", limit_mib) if limit_mib is not None else ("headroom", headroom_mib)
    onnx.save(m, str(tmp_path / "m.onnx"))
    np.save(tmp_path / "x.npy", x)
    env = dict(os.environ, OMP_NUM_THREADS="1", MALLOC_ARENA_MAX="2")
    r = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path / "m.onnx"), mode, str(mib), str(tmp_path / "x.npy"),
                        str(tmp_path / "out.json")], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    with open(tmp_path / "out.json") as f:
        return json.load(f)
