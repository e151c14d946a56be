"""Which GPU architecture each built-in tactic needs (issue 13, Hopper path): the rule of engine/tactic_architecture.h
(gie._C.tactic_architecture), its place in the engine summary and the build report (per kernel "tactic_architecture"),
and the lines `gie explain` prints from it. Runs without a GPU: the rule and the words are host code; the GPU tests
(test_gpu_fp16_conv.py, test_gpu_fp16_gemm.py) check the field on engines that use the tactics."""
import json

import numpy as np
import pytest

import gie
import util
from gie.cli import explain_text

# The tactic names of cuda/kernels (stable: engines and timing caches store them) and what they need.
TACTICS = [
    ("wgmma1x1_128x128x64_s4_hwc8", "sm_90a"),   # conv2d_wgmma_f16.cu: wgmma + TMA
    ("wgmma1x1_128x256x64_s3_hwc8", "sm_90a"),
    ("wgmma_128x128x64_s4_hwc8", "sm_90a"),      # the general (gathering) wgmma convolution
    ("wgmma_128x256x64_s3_hwc8", "sm_90a"),
    ("hgemm_wgmma_128x128x64_s4", "sm_90a"),     # gemm_wgmma_f16.cu (FullyConnected)
    ("hgemm_wgmma_persist_128x128x64_s4", "sm_90a"),  # its persistent variant (not yet run on a GPU)
    ("hmma_128x128x32_w64x64_s4_hwc8", "sm_80"),  # mma.sync
    ("hmma1x1_64x64x32_w32x32_s4_splitk4_hwc8", "sm_80"),
    ("hgemm_mma_64x64x32", "sm_80"),
    ("imma_128x64x32_chw4", "sm_80"),
    ("wgmma1x1_s8_128x128x128_s4_chw4", "sm_90a"),  # conv2d_int8.cu / fully_connected_int8.cu: INT8 wgmma
    ("wgmma1x1_s8_128x64x128_s6_chw4", "sm_90a"),
    ("wgmma_s8_128x128x128_s4", "sm_90a"),
    ("attention_flash_mma_64x64", "sm_80"),
    ("3xtf32_128x128x16_w64x32", "sm_80"),
    ("sgemm_64x64x8_8x8", ""),                    # SIMT: whatever the build targets
    ("dp4a_128x64x8_chw4", ""),
    ("depthwise_hwc8_f16", ""),
    ("default", ""),
]


@pytest.mark.parametrize("tactic,arch", TACTICS, ids=[t for t, _ in TACTICS])
def test_tactic_architecture_rule(tactic, arch):
    assert gie._C.tactic_architecture(tactic) == arch


def summary_of(kernels, device="gpu"):
    return {"format_version": 4, "library_version": gie.__version__, "device": device, "compute_capability": "9.0",
            "flags": 1, "batch": {"min": 1, "opt": 8, "max": 8}, "kernels": kernels, "loadable": True, "reason": ""}


def gpu_kernel(type_, variant, tactic):
    return {"type": type_, "version": "1", "variant": variant, "device": "gpu", "tactic": tactic,
            "tactic_architecture": gie._C.tactic_architecture(tactic)}


def test_explain_names_the_architecture_of_each_tactic():
    kernels = [gpu_kernel("Convolution", "f16_hwc8_wgmma", "wgmma1x1_128x128x64_s4_hwc8"),
               gpu_kernel("Convolution", "f16_hwc8_mma", "hmma_128x128x32_w64x64_s4_hwc8"),
               gpu_kernel("Convolution", "f16_hwc8_wgmma", "wgmma1x1_128x128x64_s4_hwc8"),
               gpu_kernel("FullyConnected", "", "hgemm_wgmma_128x128x64_s4"),
               gpu_kernel("Pooling", "", "default")]
    lines = explain_text(summary_of(kernels)).splitlines()
    at = lines.index("tactics needing a GPU architecture:")
    assert lines[at + 1].startswith("  sm_90a (wgmma + TMA: compute capability 9.0")
    assert lines[at + 1].endswith(": wgmma1x1_128x128x64_s4_hwc8 x2, hgemm_wgmma_128x128x64_s4 x1")
    assert lines[at + 2].startswith("  sm_80 (mma.sync tensor cores") and lines[at + 2].endswith(": hmma_128x128x32_w64x64_s4_hwc8 x1")
    assert not lines[at + 3].startswith("  "), "the SIMT tactic needs no particular architecture"
    only_simt = explain_text(summary_of([gpu_kernel("Pooling", "", "default")]))
    assert "tactics needing a GPU architecture: none" in only_simt


def test_engine_summary_and_report_carry_the_tactic(rng=np.random.default_rng(5)):
    """A CPU engine: every kernel's chosen tactic is in the summary (architecture empty: CPU tactics need none), and
    explain says nothing about GPU architectures."""
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    define = lambda net, t: net.add_convolution(t["x"], 4, (3, 3), w, None, padding=1).output(0)
    engine = util.build(define, {"x": np.zeros((2, 3, 5, 5), np.float32)})
    summary = json.loads(gie._C.engine_summary(engine.serialize()))
    conv, = [k for k in summary["kernels"] if k["type"] == "Convolution"]
    info, = [k for k in engine.layer_info()["kernels"] if k["type"] == "Convolution"]
    assert conv["tactic"] == info["tactic"] and conv["tactic"]
    assert conv["tactic_architecture"] == ""
    assert "tactic_architecture" not in info  # the report names it for GPU kernels only
    assert "GPU architecture" not in explain_text(summary)
