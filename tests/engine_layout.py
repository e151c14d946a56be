"""The body of a gie engine file, parsed independently of gie (layout: the comment at the top of
cpp/src/engine/engine_file.cpp), so that tests can change one structural field and recompute the checksums:
what a tampered file looks like. `parse` returns the engine as nested dicts where every number is a `Num`
(its value, offset and struct format), and `patch` writes a new value into a copy of the file with both CRCs
fixed."""
import struct

HEADER = 64


def _make_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _make_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in bytes(data):
        c = (c >> 8) ^ _CRC_TABLE[(c ^ b) & 0xFF]
    return c ^ 0xFFFFFFFF


def fix_crcs(data, body=True):
    """Recomputes the body CRC (offset 40) and then the header CRC (offset 56) of an engine file."""
    b = bytearray(data)
    if body:
        struct.pack_into("<I", b, 40, crc32c(b[HEADER:]))
    struct.pack_into("<I", b, 56, crc32c(b[:56]))
    return bytes(b)


class Num:
    """A number stored at `offset` (from the start of the file) in struct format `fmt`."""

    def __init__(self, value, offset, fmt, path):
        self.value, self.offset, self.fmt, self.path = value, offset, fmt, path

    def __int__(self):
        return int(self.value)

    def __repr__(self):
        return f"{self.path}={self.value}@{self.offset}"


class _Reader:
    def __init__(self, data):
        self.data, self.pos, self.nums, self.strs = data, HEADER, [], []

    def num(self, fmt, path):
        v = struct.unpack_from("<" + fmt, self.data, self.pos)[0]
        n = Num(v, self.pos, "<" + fmt, path)
        self.pos += struct.calcsize("<" + fmt)
        self.nums.append(n)
        return n

    def raw(self, n):
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def string(self, path):
        n = self.num("I", path + ".len")
        self.strs.append((self.pos, int(n), path))
        return self.raw(int(n)).decode("utf-8", "replace")

    def ids(self, path):
        n = self.num("I", path + ".count")
        return [self.num("i", f"{path}[{i}]") for i in range(int(n))]

    def strings(self, path):
        n = self.num("I", path + ".count")
        return [self.string(f"{path}[{i}]") for i in range(int(n))]


_FIELD_FORMATS = {0: "e", 1: "f", 2: "d", 3: "b", 4: "h", 5: "i", 6: "q", 7: "c"}  # PluginFieldType -> element format


def _fields(r, end, path):
    fields = {}
    n = r.num("I", path + ".count")
    for _ in range(int(n)):
        name = r.string(path + ".name")
        ftype = r.num("i", f"{path}.{name}.type")
        length = r.num("q", f"{path}.{name}.length")
        fmt = _FIELD_FORMATS[int(ftype.value)]
        start = r.pos
        if fmt in "iqbh":  # integer fields are structure (sizes, paddings, axes); float and char data are only skipped
            values = [r.num(fmt, f"{path}.{name}[{i}]") for i in range(int(length))]
        else:
            values = None
            r.pos += int(length) * struct.calcsize(fmt)
        fields[name] = {"type": ftype, "length": length, "values": values, "data_offset": start}
    assert r.pos == end, f"{path}: parsed to {r.pos}, blob ends at {end}"
    return fields


def parse(data):
    """The engine file `data` as nested dicts of Num (and strings); `nums` lists every number in file order,
    `strings` every string's (offset, length, path)."""
    r = _Reader(bytes(data))
    version = struct.unpack_from("<I", r.data, 8)[0]
    e = {"min_batch": r.num("q", "min_batch"), "opt_batch": r.num("q", "opt_batch"), "max_batch": r.num("q", "max_batch")}
    e["tensors"] = []
    for i in range(int(r.num("I", "tensor_count"))):
        p = f"tensor[{i}]"
        t = {"name": r.string(p + ".name")}
        nb = r.num("i", p + ".nbDims")
        t["nbDims"] = nb
        t["dims"] = [r.num("q", f"{p}.dims[{k}]") for k in range(int(nb))]
        for key, fmt in (("type", "i"), ("format", "i"), ("scale", "f"), ("kind", "B"), ("offset", "q"), ("bytes", "q"), ("constant", "i"), ("viewOf", "i"),
                         ("viewOffset", "q")):  # format 4: a view's first channel; 3: elements per batch item
            t[key] = r.num(fmt, f"{p}.{key}")
        if version >= 6:  # -1: a channel slice (or no view); n >= 0: a range view sharing its parent's last n dimensions
            t["viewTail"] = r.num("i", f"{p}.viewTail")
        e["tensors"].append(t)
    e["inputs"] = r.ids("inputs")
    e["outputs"] = r.ids("outputs")
    e["format_version"] = version
    e["profiles"] = []
    if e["format_version"] >= 4:  # optimization profiles: per profile, per input, min / opt / max dims
        e["explicit_shapes"] = r.num("B", "explicit_shapes")
        for i in range(int(r.num("I", "profile_count"))):
            prof = []
            for k in range(len(e["inputs"])):
                shapes = {}
                for sel in ("min", "opt", "max"):
                    p = f"profile[{i}][{k}].{sel}"
                    nb = r.num("i", p + ".nbDims")
                    shapes[sel] = [r.num("q", f"{p}[{j}]") for j in range(int(nb))]
                prof.append(shapes)
            e["profiles"].append(prof)
    for key, fmt in (("arena", "Q"), ("no_reuse", "Q"), ("lower_bound", "Q"), ("workspace", "Q"), ("layers_before", "i"),
                     ("cuda_graph", "B"), ("timing_batch", "q")):
        e[key] = r.num(fmt, key)
    e["steps"] = []
    for i in range(int(r.num("I", "step_count"))):
        p = f"step[{i}]"
        s = {"name": r.string(p + ".name"), "type": r.string(p + ".type"), "version": r.string(p + ".version"),
             "variant": r.string(p + ".variant")}
        s["device"] = r.num("i", p + ".device")
        s["inputs"] = r.ids(p + ".inputs")
        s["outputs"] = r.ids(p + ".outputs")
        s["source_layers"] = r.strings(p + ".source_layers")
        s["notes"] = r.strings(p + ".notes")
        s["tactic"] = r.string(p + ".tactic")
        s["tactic_index"] = r.num("i", p + ".tactic_index")
        s["tactic_times"] = []
        for k in range(int(r.num("I", p + ".tactic_times.count"))):
            s["tactic_times"].append((r.string(f"{p}.tactic_times[{k}].name"), r.num("d", f"{p}.tactic_times[{k}].ms")))
        s["alternates"], s["profile_kernel"] = [], []
        if e["format_version"] >= 5:  # tactics chosen per optimization profile: alternates, then each profile's instance
            for k in range(int(r.num("I", p + ".alternates.count"))):
                s["alternates"].append((r.string(f"{p}.alternates[{k}].tactic"), r.num("i", f"{p}.alternates[{k}].tactic_index")))
            s["profile_kernel"] = r.ids(p + ".profile_kernel")
        s["stream"] = r.num("i", p + ".stream")
        blob = r.num("Q", p + ".fields_len")
        s["fields"] = _fields(r, r.pos + int(blob), p + ".fields") if int(blob) else {}  # (a plugin without fields)
        e["steps"].append(s)
    e["constants"] = []
    for i in range(int(r.num("I", "constant_count"))):
        n = r.num("Q", f"constant[{i}].size")
        r.pos += (64 - (r.pos - HEADER) % 64) % 64
        e["constants"].append({"size": n, "offset": r.pos})
        r.pos += int(n)
    e["build_log"] = r.string("build_log")
    e["network_json"] = r.string("network_json")
    assert r.pos == len(data), f"parsed {r.pos} of {len(data)} bytes"
    e["nums"] = r.nums
    e["strings"] = r.strs  # (offset, length, path) of every string's bytes
    return e


def patch(data, num, value):
    """A copy of `data` with `num` set to `value` (wrapped to its width) and both CRCs recomputed."""
    b = bytearray(data)
    size = struct.calcsize(num.fmt)
    if num.fmt[-1] in "efd":
        struct.pack_into(num.fmt, b, num.offset, value)
    else:
        bits = 8 * size
        v = int(value) & ((1 << bits) - 1)
        if num.fmt[-1].islower() and v >= 1 << (bits - 1):
            v -= 1 << bits
        struct.pack_into(num.fmt, b, num.offset, v)
    return fix_crcs(b)


def find_step(engine, kernel_type):
    return next(s for s in engine["steps"] if s["type"] == kernel_type)
