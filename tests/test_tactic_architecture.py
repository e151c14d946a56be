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
    ("hgemm_mma_splitk_64x64x32", "sm_80"),      # gemm.cuh: FP16 split-K on mma.sync
    ("hgemm_wgmma_128x128x64_s4", "sm_90a"),     # gemm_wgmma_f16.cu (FullyConnected)
    ("hgemm_wgmma_persist_128x128x64_s4", "sm_90a"),  # its persistent variant
    ("hmma_128x128x32_w64x64_s4_hwc8", "sm_80"),  # mma.sync
    ("hmma1x1_64x64x32_w32x32_s4_splitk4_hwc8", "sm_80"),
    ("hgemm_mma_64x64x32", "sm_80"),
    ("imma_128x64x32_chw4", "sm_80"),
    ("wgmma1x1_s8_128x128x128_s4_chw4", "sm_90a"),  # conv2d_int8.cu / fully_connected_int8.cu: INT8 wgmma
    ("wgmma1x1_s8_128x64x128_s6_chw4", "sm_90a"),
    ("wgmma_s8_128x128x128_s4", "sm_90a"),
    ("attention_flash_mma_64x64", "sm_80"),
    ("attention_flash_mma2_64x64", "sm_80"),
    ("attention_flash_mma2_32x64", "sm_80"),
    ("3xtf32_128x128x16_w64x32", "sm_80"),
    ("sgemm_64x64x8_8x8", ""),                    # SIMT: whatever the build targets
    ("dp4a_128x64x8_chw4", ""),
    ("depthwise_hwc8_f16", ""),
    ("hwc8_spatial_chunk8", ""),                  # reduce.cu: Reduce over H, W of HALF HWC8
    ("default", ""),
]


@pytest.mark.parametrize("tactic,arch", TACTICS, ids=[t for t, _ in TACTICS])
def test_tactic_architecture_rule(tactic, arch):
    assert gie._C.tactic_architecture(tactic) == arch


# The builder skips a tactic the rule lists unless GIE_UNVERIFIED_TACTICS=1 (forcing one always works). Listed today:
# no built-in tactic. Tactics written without a GPU left the list once their GPU tests passed on an H100: the mma2
# attention tactics and the persistent FC tactic (2026-12-07), the FP16 split-K mma.sync GEMM, the many-block
# squeeze-excitation gate and the HWC8 spatial Reduce (2026-12-08). The prefix reserved for the gate's own test stays.
UNVERIFIED = ["unverified_gate_test_cpu", "unverified_gate_test_"]
VERIFIED = ["hgemm_mma_splitk_64x64x32", "se_warps_2k", "hwc8_spatial_chunk8", "attention_flash_mma2_64x64",
            "attention_flash_mma2_32x64", "hgemm_wgmma_persist_128x128x64_s4",
            "attention_flash_mma_64x64", "attention_flash_16x32", "wgmma_128x128x64_s4_hwc8", "hgemm_wgmma_128x128x64_s4",
            "imma_128x128x64_s4", "hmma_128x128x32_w64x64_s4_hwc8", "sgemm_64x64x8_8x8", "default", "",
            "unverified_gate_test", "x_unverified_gate_test_cpu"]


@pytest.mark.parametrize("tactic", UNVERIFIED + VERIFIED)
def test_unverified_tactics_rule(tactic):
    assert gie._C.tactic_unverified(tactic) == (tactic in UNVERIFIED)


def _unverified_tag_engine(force=None):
    """x -> UnverifiedTag (tests/plugins/range_plugins.cpp: tactics "plain", slow, and "unverified_gate_test_cpu",
    fast, under the prefix the rule reserves for this test) on the CPU; outputs y = x + 1 and the index of the tactic
    that ran."""
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (2, 3))
    tag = net.add_plugin("UnverifiedTag", [x], {})
    tag.name = "tag"
    net.mark_output(tag.output(0), "y")
    net.mark_output(tag.output(1), "tactic")
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = 2
    if force:
        config.force_tactic("tag", force)
    engine = builder.build(net, config)
    (k,) = [k for k in engine.layer_info()["kernels"] if k["type"] == "UnverifiedTag"]
    out = engine.create_execution_context().execute({"x": np.arange(6, dtype=np.float32).reshape(2, 3)})
    np.testing.assert_array_equal(out["y"], np.arange(6, dtype=np.float32).reshape(2, 3) + 1)
    return k, int(out["tactic"][0])


@pytest.mark.parametrize("env", [None, "0", "yes"])
def test_builder_does_not_time_unverified_tactics_by_default(range_plugins_lib, monkeypatch, env):
    """The gate of engine/tactic_architecture.h in the builder's timing (builder.cpp selectTactics), by tactic name, so
    a CPU plugin shows it without a GPU: without GIE_UNVERIFIED_TACTICS=1 (exactly "1") the slow verified tactic is
    the only one timed and runs, though the unverified one is faster."""
    assert gie._C.tactic_unverified("unverified_gate_test_cpu")
    if env is None:
        monkeypatch.delenv("GIE_UNVERIFIED_TACTICS", raising=False)
    else:
        monkeypatch.setenv("GIE_UNVERIFIED_TACTICS", env)
    k, ran = _unverified_tag_engine()
    assert [t["tactic"] for t in k["tactic_times_ms"]] == ["plain"], k["tactic_times_ms"]
    assert k["tactic"] == "plain" and ran == 0


def test_builder_times_unverified_tactics_when_asked(range_plugins_lib, monkeypatch):
    monkeypatch.setenv("GIE_UNVERIFIED_TACTICS", "1")
    k, ran = _unverified_tag_engine()
    assert sorted(t["tactic"] for t in k["tactic_times_ms"]) == ["plain", "unverified_gate_test_cpu"], k["tactic_times_ms"]
    assert k["tactic"] == "unverified_gate_test_cpu" and ran == 1  # 2 ms slower "plain" loses


def test_forced_unverified_tactic_runs_without_the_variable(range_plugins_lib, monkeypatch):
    monkeypatch.delenv("GIE_UNVERIFIED_TACTICS", raising=False)
    k, ran = _unverified_tag_engine(force="unverified_gate_test_cpu")
    assert k["tactic"] == "unverified_gate_test_cpu" and ran == 1


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
