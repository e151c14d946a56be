"""Shapes at enqueue on the GPU (issue 12 item 6): one engine, built for batch 13, run at batches 13, 1, 7, 2 and
13 again with every tactic of the Convolution and Deconvolution kernels forced in turn. A kernel that kept a
shape-dependent plan from configure (or from its first call) gets the later, smaller or larger, calls wrong: the
Winograd chunking, the split-K partial layout, the 1x1 loader's H*W alignment and the depthwise / direct grids all
depend on the call's shape. Only the batch can vary through the Python API today; the C++ program
tests/cpp/test_shapes_at_enqueue.cpp covers smaller spatial sizes through the plugin registry (configured at the
largest shape, enqueued smaller, against the CPU configured at the exact shape). FP32, rtol = atol = 1e-4 as in
test_gpu_conv.py (O(1) outputs)."""
import numpy as np
import pytest

from gpu_util import compare_gpu_cpu, gpu_tactics, randn

pytestmark = pytest.mark.gpu

N = 13
BATCHES = (13, 1, 7, 2, 13)
TOL = dict(rtol=1e-4, atol=1e-4)


def every_tactic(define, inputs, kernel):
    tactics = gpu_tactics(define, inputs, kernel)
    assert tactics
    for t in tactics:
        compare_gpu_cpu(define, inputs, force={kernel: t}, batches=BATCHES, **TOL)
    return tactics


@pytest.mark.parametrize("C,H,W,K,RS,fields", [
    (5, 9, 7, 7, (3, 3), dict(padding=1)),           # implicit GEMM, 3xTF32, Winograd, split-K
    (12, 6, 6, 10, (1, 1), dict()),                  # the gemm1x1 loader
    (6, 10, 9, 12, (3, 3), dict(num_groups=6, stride=2, padding=1)),  # depthwise, channel multiplier 2
], ids=["3x3", "1x1", "depthwise"])
def test_convolution_batches_every_tactic(C, H, W, K, RS, fields, rng):
    groups = fields.get("num_groups", 1)
    w = randn(rng, (K, C // groups) + RS, 1.0 / np.sqrt(C // groups * RS[0] * RS[1]))
    b = randn(rng, (K,), 0.5)
    define = lambda net, t: net.add_convolution(t["x"], K, RS, w, b, **fields).output(0)
    every_tactic(define, {"x": randn(rng, (N, C, H, W))}, "Convolution")


def test_deconvolution_batches(rng):
    C, K = 4, 6
    w = randn(rng, (C, K // 2, 3, 3), 1.0 / np.sqrt(2 * 9))
    b = randn(rng, (K,), 0.5)
    define = lambda net, t: net.add_deconvolution(t["x"], K, (3, 3), w, b, stride=2, padding=1, num_groups=2).output(0)
    every_tactic(define, {"x": randn(rng, (N, C, 5, 6))}, "Deconvolution")
