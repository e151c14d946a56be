"""Quick FP16 vs FP32 throughput of gie on the GPU (model zoo, random weights): a smoke check for developers;
bench/gpu_vs_torch.py --fp16 is the benchmark with the PyTorch columns.
    python3 scripts/quick_fp16_bench.py resnet50 64 [image]"""
import sys
import time

import numpy as np

import gie
from gie import model_zoo

model, batch = sys.argv[1], int(sys.argv[2])
image = int(sys.argv[3]) if len(sys.argv) > 3 else None
spec = model_zoo.describe(model, seed=0, image=image)
import torch  # noqa: E402  (device buffers)

x = torch.from_numpy(spec.random_input(batch)).cuda()
for fp16 in (False, True):
    builder = gie.Builder()
    net = builder.create_network()
    spec.to_gie(net, batch=batch, mark=[spec.outputs[0]])
    config = builder.create_config()
    config.device = "gpu"
    config.max_batch = batch
    config.fp16 = fp16
    config.cuda_graph = True
    t0 = time.time()
    e = builder.build(net, config)
    bt = time.time() - t0
    ctx = e.create_execution_context()
    out = {spec.outputs[0]: torch.empty(tuple(e.get_tensor_shape(spec.outputs[0])), device="cuda")}
    for _ in range(10):
        ctx.execute({"data": x}, outputs=out)
    torch.cuda.synchronize()
    n = 50
    t0 = time.time()
    for _ in range(n):
        ctx.execute_async({"data": x}, outputs=out)
    torch.cuda.synchronize()
    ms = (time.time() - t0) / n * 1e3
    kinds = {}
    for k in e.layer_info()["kernels"]:
        key = (k["type"], k["precision"], k["variant"] or "-")
        kinds[key] = kinds.get(key, 0) + 1
    print(f"{model} b{batch} {'FP16' if fp16 else 'FP32'}: {ms:.3f} ms/batch, {batch / ms * 1e3:.0f} img/s, build {bt:.1f} s")
    print("   kernels:", sorted(kinds.items()))
