"""The engine file: refusal of truncated, corrupt, tampered and foreign files with the right exception class and
a message naming the problem; round trips; atomic Engine.save."""
import os
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gie

MAGIC = b"GIEENGN\x1a"

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# CRC-32C (Castagnoli) and checksum fixing, independent of gie: shared with the tampering tests.
from engine_layout import HEADER, crc32c, fix_crcs  # noqa: E402


def test_crc32c_reference_vectors():
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43


def patch_u32(data, offset, value, body_crc=False):
    b = bytearray(data)
    struct.pack_into("<I", b, offset, value)
    return fix_crcs(b, body=body_crc)


# ---- the engines under test ----------------------------------------------------------------------

def make_engine(constant_folding=True, seed=3):
    """input (N,3,8,8) -> conv 3x3 -> relu -> max pool -> FC 5 -> softmax ('probs'), plus
    Constant -> Activation (tanh) -> Activation (sigmoid) as a second output."""
    rng = np.random.default_rng(seed)
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (1, 3, 8, 8))
    conv = net.add_convolution(x, 4, (3, 3), rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
                               rng.standard_normal(4).astype(np.float32), padding=1)
    conv.name = "conv"
    relu = net.add_activation(conv.output(0), gie.ActivationType.RELU)
    relu.name = "relu"
    pool = net.add_pooling(relu.output(0), gie.PoolingType.MAX, (2, 2))
    pool.stride = (2, 2)
    pool.name = "pool"
    fc = net.add_fully_connected(pool.output(0), 5, rng.standard_normal((5, 64)).astype(np.float32) * 0.2,
                                 rng.standard_normal(5).astype(np.float32))
    fc.name = "fc"
    sm = net.add_softmax(fc.output(0))
    sm.name = "probs"  # so that the only "Softmax" in the file is the kernel type
    net.mark_output(sm.output(0), "prob")
    c = net.add_constant((1, 6), rng.standard_normal((1, 6)).astype(np.float32))
    c.name = "const"
    t = net.add_activation(c.output(0), gie.ActivationType.TANH)
    t.name = "const_tanh"
    s = net.add_activation(t.output(0), gie.ActivationType.SIGMOID)
    s.name = "const_sigmoid"
    net.mark_output(s.output(0), "cval")
    config = builder.create_config()
    config.device = "cpu"
    config.max_batch = 3
    if not constant_folding:
        config.set_pass_enabled("constant_folding", False)
    return builder.build(net, config)


@pytest.fixture(scope="module", params=["folded", "unfolded"])
def engine_and_bytes(request):
    engine = make_engine(constant_folding=request.param == "folded")
    data = engine.serialize()
    info = engine.layer_info()
    if request.param == "folded":
        assert info["memory"]["constant_bytes"] > 0, "the folded variant must have a non-empty constants section"
        assert "Constant" not in [k["type"] for k in info["kernels"]]
    else:
        assert "Constant" in [k["type"] for k in info["kernels"]]
    return engine, data


@pytest.fixture(scope="module")
def sample_input():
    return np.random.default_rng(11).standard_normal((3, 3, 8, 8)).astype(np.float32)


def expect(exc, data, *patterns):
    """Runtime().deserialize(data) must raise exactly `exc` (or a subclass) with every pattern in its message."""
    with pytest.raises(exc) as ei:
        gie.Runtime().deserialize(data)
    msg = str(ei.value)
    for p in patterns:
        assert p.lower() in msg.lower(), f"message {msg!r} does not mention {p!r}"
    return ei.value


# ---- the header as documented --------------------------------------------------------------------

def test_header_layout(engine_and_bytes):
    _, data = engine_and_bytes
    assert data[:8] == MAGIC
    fmt, lib, dev, cc = struct.unpack_from("<IIIi", data, 8)
    flags, body_size = struct.unpack_from("<QQ", data, 24)
    body_crc, r0, r1, r2, header_crc, r3 = struct.unpack_from("<IIIIII", data, 40)
    assert fmt >= 1
    assert lib == gie._C.version()
    assert dev == 0 and cc == 0  # CPU
    assert flags == 0
    assert body_size == len(data) - HEADER
    assert (r0, r1, r2, r3) == (0, 0, 0, 0)
    assert body_crc == crc32c(data[HEADER:])
    assert header_crc == crc32c(data[:56])
    assert fix_crcs(data) == data


# ---- truncation ----------------------------------------------------------------------------------

def test_truncated_in_header_every_byte(engine_and_bytes):
    _, data = engine_and_bytes
    for n in range(HEADER):
        e = expect(gie.InvalidEngineError, data[:n], "truncated")
        assert type(e) is gie.InvalidEngineError, n


def test_truncated_in_body(engine_and_bytes):
    _, data = engine_and_bytes
    cuts = sorted(set(list(range(HEADER, len(data), 97)) + list(range(len(data) - 10, len(data)))))
    assert len(cuts) > 20
    for n in cuts:
        e = expect(gie.InvalidEngineError, data[:n], "truncated")
        assert type(e) is gie.InvalidEngineError, n


def test_truncated_with_consistent_header(engine_and_bytes):
    """A shortened file whose header announces the shorter body (CRCs recomputed) still fails: the parser
    runs out of bytes and says so instead of reading past the end."""
    _, data = engine_and_bytes
    for cut in (1, 7, 64, 500, len(data) // 2):
        if cut >= len(data) - HEADER:
            continue
        short = bytearray(data[:-cut])
        struct.pack_into("<Q", short, 32, len(short) - HEADER)
        with pytest.raises(gie.InvalidEngineError) as ei:
            gie.Runtime().deserialize(fix_crcs(short))
        assert "corrupt" in str(ei.value) or "truncated" in str(ei.value) or "end" in str(ei.value), str(ei.value)


def test_trailing_bytes(engine_and_bytes):
    _, data = engine_and_bytes
    for extra in (b"\x00", b"junk", bytes(64)):
        expect(gie.InvalidEngineError, data + extra, "unexpected bytes after its end")


# ---- corruption ----------------------------------------------------------------------------------

def test_single_bit_flips_header(engine_and_bytes):
    _, data = engine_and_bytes
    for off in range(HEADER):
        for bit in (0, 3, 7):
            b = bytearray(data)
            b[off] ^= 1 << bit
            with pytest.raises(gie.InvalidEngineError) as ei:
                gie.Runtime().deserialize(bytes(b))
            msg = str(ei.value)
            assert type(ei.value) is gie.InvalidEngineError, (off, bit, msg)
            if off < 8:
                assert "magic" in msg, msg
            else:
                assert "corrupt" in msg or "checksum" in msg, (off, bit, msg)


def test_single_bit_flips_body(engine_and_bytes):
    _, data = engine_and_bytes
    offsets = list(range(HEADER, len(data), 37)) + [len(data) - 1]
    for i, off in enumerate(offsets):
        b = bytearray(data)
        b[off] ^= 1 << (i % 8)
        e = expect(gie.InvalidEngineError, bytes(b), "checksum")
        assert type(e) is gie.InvalidEngineError


def test_wrong_magic(engine_and_bytes):
    _, data = engine_and_bytes
    for magic in (b"GIEENGN\x00", b"XIEENGN\x1a", b"\x7fELF\x02\x01\x01\x00", bytes(8)):
        expect(gie.InvalidEngineError, fix_crcs(magic + data[8:]), "magic")


def test_other_format_version(engine_and_bytes):
    _, data = engine_and_bytes
    fmt = struct.unpack_from("<I", data, 8)[0]
    for v in (fmt + 1, 0, 0xFFFFFFFF):
        e = expect(gie.VersionMismatchError, patch_u32(data, 8, v), "format version", str(v))
        assert isinstance(e, gie.InvalidEngineError)  # a VersionMismatchError is an InvalidEngineError


def test_format_version_without_header_crc_is_corruption(engine_and_bytes):
    _, data = engine_and_bytes
    b = bytearray(data)
    struct.pack_into("<I", b, 8, 99)
    e = expect(gie.InvalidEngineError, bytes(b), "checksum")
    assert type(e) is gie.InvalidEngineError


def test_other_library_version(engine_and_bytes):
    _, data = engine_and_bytes
    ours = gie._C.version()
    for v, text in ((ours + 100, "gie {}.{}.".format(ours // 10000, ours // 100 % 100 + 1)),
                    (ours + 10000, "gie {}.".format(ours // 10000 + 1)),
                    (10203, "gie 1.2.3")):
        e = expect(gie.VersionMismatchError, patch_u32(data, 12, v), text, "rebuild")
        assert type(e) is gie.VersionMismatchError


def test_gpu_engine_on_machine_without_gpu(engine_and_bytes):
    if gie.build_info()["gpu_available"]:
        pytest.skip("this machine has a GPU")
    _, data = engine_and_bytes
    b = bytearray(data)
    struct.pack_into("<Ii", b, 16, 1, 86)  # device GPU, compute capability 8.6
    e = expect(gie.DeviceMismatchError, fix_crcs(b), "GPU")
    assert type(e) is gie.DeviceMismatchError
    assert "8.6" in str(e)


def test_unknown_device_value(engine_and_bytes):
    _, data = engine_and_bytes
    e = expect(gie.InvalidEngineError, patch_u32(data, 16, 7), "device")
    assert type(e) is gie.InvalidEngineError


def test_body_size_field(engine_and_bytes):
    _, data = engine_and_bytes
    b = bytearray(data)
    struct.pack_into("<Q", b, 32, len(data))  # announces more than the file holds
    expect(gie.InvalidEngineError, fix_crcs(b, body=False), "truncated")
    struct.pack_into("<Q", b, 32, 2**63)
    expect(gie.InvalidEngineError, fix_crcs(b, body=False), "truncated")


def test_unknown_kernel_type(engine_and_bytes):
    _, data = engine_and_bytes
    needle = struct.pack("<I", 7) + b"Softmax"
    assert data.count(needle) == 1, "expected exactly one kernel of type Softmax"
    patched = data.replace(needle, struct.pack("<I", 7) + b"Softmay")
    # Without fixing the body CRC this is corruption ...
    expect(gie.InvalidEngineError, patched, "checksum")
    # ... with both CRCs recomputed it is a kernel this process does not have.
    e = expect(gie.UnsupportedError, fix_crcs(patched), "Softmay")
    assert not isinstance(e, gie.InvalidEngineError)
    assert "probs" in str(e)  # names the kernel too


TACTIC = struct.pack("<I", 7) + b"default"  # a step's tactic name as stored, followed by its index (i32)


def test_tactic_found_by_name_when_its_index_moved(engine_and_bytes, sample_input):
    """A step stores its tactic's name and index. Where the kernel gives that index another name or has no such
    index (a gie whose kernel lists its tactics in another order), the tactic of that name is used."""
    engine, data = engine_and_bytes
    needle = TACTIC + struct.pack("<i", 0)
    assert data.count(needle) >= 2
    patched = fix_crcs(data.replace(needle, TACTIC + struct.pack("<i", 5)))
    loaded = gie.Runtime().deserialize(patched)
    a = engine.create_execution_context().execute({"x": sample_input})
    b = loaded.create_execution_context().execute({"x": sample_input})
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert [k["tactic"] for k in loaded.layer_info()["kernels"]] == [k["tactic"] for k in engine.layer_info()["kernels"]]


def test_tactic_the_kernel_does_not_offer(engine_and_bytes):
    _, data = engine_and_bytes
    patched = fix_crcs(data.replace(TACTIC, struct.pack("<I", 7) + b"defaulx", 1))
    e = expect(gie.InvalidEngineError, patched, "tactic 'defaulx'", "does not offer", "it has: default", "rebuild")
    assert "kernel '" in str(e)


def test_corrupt_body_with_valid_crcs_never_crashes(engine_and_bytes, tmp_path):
    """Bytes changed inside the body with the CRCs recomputed (tampering): loading either works or raises a
    gie.Error; it never crashes or raises anything else. Runs in a subprocess so a crash is reported."""
    _, data = engine_and_bytes
    path = tmp_path / "engine.bin"
    path.write_bytes(data)
    script = textwrap.dedent(f"""
        import struct, sys
        sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
        import logging
        import numpy as np
        import gie
        from test_engine_file import fix_crcs
        logging.disable(logging.CRITICAL)
        data = open({str(path)!r}, "rb").read()
        rt = gie.Runtime()
        x = np.zeros((3, 3, 8, 8), np.float32)
        loaded = refused = 0
        for off in range(64, len(data), 5):
            for val in (0xFF, 0x00, 0x80):
                b = bytearray(data)
                if b[off] == val:
                    continue
                b[off] = val
                try:
                    e = rt.deserialize(fix_crcs(b))
                except gie.Error:
                    refused += 1
                    continue
                loaded += 1
                try:
                    e.create_execution_context().execute({{"x": x}})
                except gie.Error:
                    pass
                except UnicodeDecodeError:
                    # A tampered tensor name that is not UTF-8 loads, but Python cannot show its name.
                    pass
        print("loaded", loaded, "refused", refused)
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert r.returncode == 0, f"rc {r.returncode}\nstdout: {r.stdout[-2000:]}\nstderr: {r.stderr[-4000:]}"
    assert "refused" in r.stdout


# ---- round trips ---------------------------------------------------------------------------------

def test_round_trip_identical_outputs(engine_and_bytes, sample_input):
    engine, data = engine_and_bytes
    loaded = gie.Runtime().deserialize(data)
    assert loaded.io_tensor_names == engine.io_tensor_names
    assert loaded.min_batch == engine.min_batch and loaded.max_batch == engine.max_batch
    assert loaded.num_kernels == engine.num_kernels
    assert loaded.activation_memory_size == engine.activation_memory_size
    for n in (1, 2, 3):
        a = engine.create_execution_context().execute({"x": sample_input[:n]})
        b = loaded.create_execution_context().execute({"x": sample_input[:n]})
        assert a.keys() == b.keys()
        for k in a:
            assert a[k].shape == b[k].shape
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert loaded.serialize() == data, "re-serializing a loaded engine must give the same bytes"
    ia, ib = engine.layer_info(), loaded.layer_info()
    assert [k["name"] for k in ia["kernels"]] == [k["name"] for k in ib["kernels"]]
    assert ia["memory"] == ib["memory"]


def test_serialize_is_deterministic(engine_and_bytes):
    engine, data = engine_and_bytes
    assert engine.serialize() == data


def test_save_and_load(engine_and_bytes, sample_input, tmp_path):
    engine, data = engine_and_bytes
    path = tmp_path / "model.engine"
    engine.save(path)
    assert path.read_bytes() == data
    loaded = gie.Runtime().load(path)
    np.testing.assert_array_equal(loaded.create_execution_context().execute({"x": sample_input})["prob"],
                                  engine.create_execution_context().execute({"x": sample_input})["prob"])
    loaded2 = gie.Runtime().load(str(path))
    assert loaded2.num_kernels == engine.num_kernels
    assert [p.name for p in tmp_path.iterdir()] == ["model.engine"], "no temporary files may be left behind"


def test_save_replaces_existing_file_atomically(engine_and_bytes, tmp_path, monkeypatch):
    engine, data = engine_and_bytes
    path = tmp_path / "model.engine"
    path.write_bytes(b"old contents")
    replaced = []
    real_replace = os.replace

    def spy_replace(src, dst):
        # At the moment of the rename the old file is still intact and the new one is complete.
        assert path.read_bytes() == b"old contents"
        assert open(src, "rb").read() == data
        assert os.path.dirname(os.path.abspath(src)) == str(tmp_path)
        replaced.append((src, dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy_replace)
    engine.save(path)
    assert len(replaced) == 1 and os.path.abspath(replaced[0][1]) == str(path)
    assert path.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.engine"]


def test_save_keeps_old_file_when_serialize_fails(engine_and_bytes, tmp_path, monkeypatch):
    engine, _ = engine_and_bytes
    path = tmp_path / "model.engine"
    path.write_bytes(b"old contents")

    def boom(self):
        raise gie.InternalError("simulated serialization failure")

    monkeypatch.setattr(gie.Engine, "serialize", boom)
    with pytest.raises(gie.InternalError, match="simulated"):
        engine.save(path)
    assert path.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.engine"]


def test_save_keeps_old_file_when_writing_fails(engine_and_bytes, tmp_path, monkeypatch):
    engine, _ = engine_and_bytes
    path = tmp_path / "model.engine"
    path.write_bytes(b"old contents")

    def boom(fd):
        raise OSError(28, "No space left on device (simulated)")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="simulated"):
        engine.save(path)
    assert path.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.engine"], "the temporary file must be removed"


# ---- files that are not engines ------------------------------------------------------------------

def test_load_non_engine_files(tmp_path):
    rng = np.random.default_rng(5)
    cases = {
        "empty.bin": (b"", "truncated"),
        "short.bin": (b"GIE", "truncated"),
        "random_small.bin": (rng.integers(0, 256, 40, dtype=np.uint8).tobytes(), "truncated"),
        "random_large.bin": (rng.integers(0, 256, 5000, dtype=np.uint8).tobytes(), "magic"),
        "text.txt": (b"This is not an engine file.\n" * 20, "magic"),
        "short_text.txt": (b"hello\n", "truncated"),
        "magic_then_random.bin": (MAGIC + rng.integers(0, 256, 300, dtype=np.uint8).tobytes(), "checksum"),
        "magic_then_zeros.bin": (MAGIC + bytes(100), "checksum"),
        "header_only.bin": (None, None),
    }
    # A valid-looking header with an empty body: header CRC right, body size 0.
    h = bytearray(HEADER)
    h[:8] = MAGIC
    struct.pack_into("<III", h, 8, 1, gie._C.version(), 0)
    struct.pack_into("<I", h, 40, crc32c(b""))
    struct.pack_into("<I", h, 56, crc32c(h[:56]))
    cases["header_only.bin"] = (bytes(h), "")
    for name, (content, pattern) in cases.items():
        p = tmp_path / name
        p.write_bytes(content)
        with pytest.raises(gie.InvalidEngineError) as ei:
            gie.Runtime().load(p)
        assert pattern.lower() in str(ei.value).lower(), (name, str(ei.value))
        with pytest.raises(gie.InvalidEngineError):
            gie.Runtime().deserialize(content)


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        gie.Runtime().load(tmp_path / "nope.engine")


def test_format_3_file_still_loads_and_runs_as_format_4():
    """Issue 15: format 4 added the optimization-profile table and stores a view (concat elimination) by its first
    channel; a format-3 file (no profile table, view offsets in elements per batch item) still loads, with one profile
    from its batch range, and computes what the same engine written as format 4 computes."""
    seeds = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz_corpus", "engine")
    with open(os.path.join(seeds, "fp32_format3.gie"), "rb") as f:
        old_bytes = f.read()
    with open(os.path.join(seeds, "fp32.gie"), "rb") as f:
        new_bytes = f.read()
    assert struct.unpack_from("<I", old_bytes, 8)[0] == 3 and struct.unpack_from("<I", new_bytes, 8)[0] == 4
    old, new = gie.Runtime().deserialize(old_bytes), gie.Runtime().deserialize(new_bytes)
    assert any("view_of" in t for k in old.layer_info()["kernels"] for t in k["outputs"])  # the views are exercised
    x = np.random.default_rng(3).standard_normal((2, 3, 6, 6)).astype(np.float32)
    for batch in (1, 2):
        np.testing.assert_array_equal(old.create_execution_context().execute({"x": x[:batch]})["y"],
                                      new.create_execution_context().execute({"x": x[:batch]})["y"])
