"""Dynamic shapes (issue 15, phase 1): -1 dims, optimization profiles, run-time shape checks, importers, CLI.

The dynamic-H/W detector is a hand-written ONNX graph (onnx.helper) with symbolic batch, height and width, compared
with onnxruntime at several shapes inside the profile; the Darknet test runs one engine at batches 1 and 4.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import gie

from test_darknet_parser import NET, random_weights, ref_forward, weights_bytes
from util import assert_close


# ---- Darknet [route] groups= follows the run-time batch ----------------------------------------------------------

ROUTE_GROUPS_CFG = NET.format(w=8, h=6, c=3) + """
[convolutional]
filters=8
size=3
pad=1
activation=leaky
[route]
layers=-1
groups=2
group_id=1
[convolutional]
filters=4
size=1
activation=linear
[route]
layers=-1,-2
"""


def test_darknet_route_groups_runs_at_batches_1_and_4_from_one_engine(tmp_path, rng):
    # The slice of a grouped route used to hold the parse-time batch (1): batch 4 failed its shape rule.
    w = random_weights(ROUTE_GROUPS_CFG, rng)
    (tmp_path / "m.cfg").write_text(ROUTE_GROUPS_CFG)
    (tmp_path / "m.weights").write_bytes(weights_bytes(w))
    net = gie.parse(str(tmp_path / "m.cfg"), str(tmp_path / "m.weights"))
    builder = gie.Builder()
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = 4
    engine = builder.build(net, config)
    ctx = engine.create_execution_context()
    for batch in (1, 4):
        x = rng.standard_normal((batch, 3, 6, 8)).astype(np.float32)
        got = ctx.execute({"data": x})
        exp = ref_forward(ROUTE_GROUPS_CFG, w, x)
        assert sorted(got) == sorted(exp)
        for k in exp:
            assert got[k].shape[0] == batch
            assert_close(got[k], exp[k], rtol=1e-4, atol=1e-4, what=f"{k} at batch {batch}")
