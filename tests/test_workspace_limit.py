"""config.workspace_limit is honoured (issue 18): no kernel whose workspace exceeds it is chosen, and when none fits a
layer the build fails naming it. The builder checks the figure the engine allocates (kernelWorkspace), for every
kernel, including those with a single tactic (which were not checked: FP16 LeNet on the CPU built with a 1-byte limit
needed 57600 B)."""
import numpy as np
import pytest

import gie
from gie import models


def _build(define, limit, fp16=False):
    b = gie.Builder()
    c = b.create_config()
    c.device = "cpu"
    c.fp16 = fp16
    c.workspace_limit = limit
    return b.build(define(b.create_network()), c)


def _deconv(net):
    x = net.add_input("x", gie.float32, (1, 4, 6, 6))
    w = np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32)
    d = net.add_deconvolution(x, 3, (3, 3), w, stride=(2, 2))
    d.name = "up"
    net.mark_output(d.output(0), "y")
    return net


@pytest.mark.parametrize("define,fp16,layer", [(models.lenet().define, True, "pool1"), (_deconv, False, "up")])
def test_workspace_limit_is_honoured(define, fp16, layer):
    need = _build(define, 0, fp16).layer_info()["memory"]["workspace_bytes"]
    assert need > 0
    fits = _build(define, need, fp16)
    assert fits.layer_info()["memory"]["workspace_bytes"] <= need
    with pytest.raises(gie.UnsupportedError, match=rf"layer '{layer}' .*needs {need} bytes of workspace, over the limit of {need - 1} bytes"):
        _build(define, need - 1, fp16)
