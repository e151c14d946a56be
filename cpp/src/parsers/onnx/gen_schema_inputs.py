"""Regenerates onnx_schema_inputs.inc: the formal inputs (name, single/optional/variadic) of the ONNX operator
schemas the importer knows, per version in which they changed. Needs the onnx package (a build-time tool only):

    PYTHONPATH=build/X/pkg python3 cpp/src/parsers/onnx/gen_schema_inputs.py
"""
import os

import onnx
from onnx import defs

from gie.parsers.onnx_parser import supported_ops

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "onnx_schema_inputs.inc")


def main():
    ops = sorted(supported_ops())
    opt = defs.OpSchema.FormalParameterOption
    code = {opt.Single: "S", opt.Optional: "O", opt.Variadic: "V"}
    lines = []
    for op in ops:
        vers = []
        for v in range(1, defs.onnx_opset_version() + 1):
            try:
                s = defs.get_schema(op, v, "")
            except Exception:  # no schema at this version
                continue
            ins = tuple((f.name, code[f.option]) for f in s.inputs)
            if vers and vers[-1][0] == s.since_version:
                continue
            if not vers or vers[-1][1] != ins:
                vers.append((s.since_version, ins))
        for since, ins in vers:
            lines.append('    {"%s", %d, "%s"},' % (op, since, ",".join(f"{n}:{c}" for n, c in ins)))
    hdr = ("// Formal inputs of the ONNX operator schemas the importer knows (name and option: S single/required,\n"
           "// O optional, V variadic), per version they changed in. Generated from onnx.defs (onnx %s) by\n"
           "// gen_schema_inputs.py; used to refuse an empty input name where the schema requires an input.\n"
           "// clang-format off\n" % onnx.__version__)
    with open(OUT, "w") as f:
        f.write(hdr + "\n".join(lines) + "\n// clang-format on\n")


if __name__ == "__main__":
    main()
