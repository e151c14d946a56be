"""The optimizer on whole built-in models: same outputs as the unoptimized engine, far fewer kernels,
and an activation arena within 10% of the lower bound (largest simultaneously live total)."""
import numpy as np
import pytest

import gie
from gie import model_zoo
from util import assert_close

ALL_PASSES = ("constant_folding", "dead_layer_removal", "fold_constant_operands", "collapse_shuffles", "remove_noops",
              "fold_scale", "fuse_epilogue", "horizontal_fusion", "concat_elimination")


def _engine(model, image, passes_off=(), max_batch=2):
    builder = gie.Builder()
    net = builder.create_network()
    model_zoo.define(model, net, image=image, mark=model_zoo.describe(model, image=image).outputs[:1])
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = max_batch
    for p in passes_off:
        config.set_pass_enabled(p, False)
    return builder.build(net, config)


@pytest.mark.parametrize("model,image,max_kernels", [("googlenet", 224, 70), ("resnet50", 64, 60), ("yolov2", 96, 35)])
def test_optimized_model_matches_unoptimized(model, image, max_kernels):
    opt = _engine(model, image)
    plain = _engine(model, image, passes_off=ALL_PASSES)
    info, plain_info = opt.layer_info(), plain.layer_info()
    assert info["layers_before"] == plain_info["kernels_after"]
    assert info["kernels_after"] <= max_kernels < plain_info["kernels_after"]
    mem = info["memory"]
    assert mem["lower_bound_bytes"] <= mem["arena_bytes"] <= 1.10 * mem["lower_bound_bytes"]
    assert mem["arena_bytes"] < plain_info["memory"]["arena_bytes"]
    rng = np.random.default_rng(0)
    name = opt.input_names[0]
    for batch in (1, 2):
        x = rng.standard_normal((batch,) + opt.get_tensor_shape(name)[1:]).astype(np.float32)
        a = opt.create_execution_context().execute({name: x})
        b = plain.create_execution_context().execute({name: x})
        for k in b:
            scale = float(np.abs(b[k]).max())
            assert_close(a[k], b[k], rtol=1e-4, atol=1e-5 * scale, what=f"{model} {k} batch {batch}")


def test_googlenet_has_no_concat_copies_and_merged_1x1():
    info = _engine("googlenet", 224).layer_info()
    types = [k["type"] for k in info["kernels"]]
    assert "Concatenation" not in types and "Identity" not in types and "Activation" not in types
    merged = [k for k in info["kernels"] if "sibling convolutions merged" in " ".join(k["notes"])]
    assert len(merged) == 9  # one per inception module
