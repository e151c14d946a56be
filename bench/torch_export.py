"""Turns a gie model-zoo description (gie.model_zoo.ModelSpec) into a torch.nn.Module with the same weights,
computing the same function as the gie network and its ONNX twin (bench/onnx_export.py).

    from gie import model_zoo
    import torch_export                      # bench/ on sys.path
    spec = model_zoo.describe("resnet50", seed=0, image=224)
    model = torch_export.to_torch(spec, outputs=["prob", "logits"]).cuda()
    with torch.no_grad():
        prob, logits = model(x)              # a tuple, in the order of ``outputs``

Op mapping (conventions: see the docstring of gie.model_zoo):

* conv -> nn.Conv2d (bias when the spec has one; asymmetric pads -> F.pad + unpadded conv);
* bn -> nn.BatchNorm2d in eval mode with the spec's gamma / beta / mean / var / eps (``fold_bn=True``: folded
  into the preceding conv in float64, as gie does, when that conv feeds only the BN);
* relu / leaky -> F.relu / F.leaky_relu(alpha); add -> +; concat -> torch.cat(dim 1);
* maxpool / avgpool -> F.max_pool2d / F.avg_pool2d (count_include_pad=False). The spec's output size
  rule (Caffe ceil rounding with the "last window must start inside the input or its left padding" clip) is
  the same as PyTorch's ceil_mode rule for symmetric pads <= kernel/2; the module is checked against the
  spec's shapes when it is built, and any pooling that PyTorch's native form would size differently (or
  cannot express) is done with explicit -inf padding / cropping and ceil_mode=False instead (max pooling;
  average pooling with such an edge case raises NotImplementedError);
* global_avgpool -> F.adaptive_avg_pool2d(1); fc -> flatten(1) + nn.Linear; softmax -> F.softmax(dim 1);
* lrn -> F.local_response_norm(size, alpha, beta, k): ``x / (k + alpha / size * sum x^2) ^ beta`` over the
  ``size`` channels centred on each one (= Caffe across-channel LRN = ONNX LRN);
* reorg (darknet) -> reshape (N, C/s^2, H, s, W, s) -> permute (0, 3, 5, 1, 2, 4) -> reshape (N, C*s^2, H/s, W/s)
  (gie.model_zoo.darknet_reorg_reference).

Intermediate tensors are released as soon as their last consumer has run (like a hand-written module).
torch is imported inside the functions only: ``plan(spec)`` (the op list the module will run, pooling modes
included) needs numpy only.

    python3 bench/torch_export.py --plan              # the plan of each zoo model (no torch needed)
    python3 bench/torch_export.py --check             # CPU: torch module vs onnxruntime, small images
"""
import argparse
import sys

import numpy as np


# ---- the plan (no torch) ----------------------------------------------------------------------------

def torch_pool_out(n, k, s, p, ceil):
    """PyTorch's pooling output size (aten pooling_output_shape, dilation 1, symmetric padding p)."""
    o = (n + 2 * p - k + ((s - 1) if ceil else 0)) // s + 1
    if ceil and (o - 1) * s >= n + p:
        o -= 1
    return o


def pool_mode(kind, in_shape, out_shape, attrs):
    """How a maxpool / avgpool op is run: ("native", kwargs) for F.max_pool2d / F.avg_pool2d as is, or
    ("explicit", (left, right, top, bottom)) pad (negative: crop) amounts so that an unpadded floor-mode
    pooling produces exactly ``out_shape`` with the spec's window placement (window i starts at
    i * stride - pad_before)."""
    _, h, w = in_shape
    _, oh, ow = out_shape
    kh, kw = attrs["kernel"]
    sh, sw = attrs["stride"]
    pt, pl, pb, pr = attrs["pads"]
    ceil = bool(attrs.get("ceil", False))
    if pt == pb and pl == pr and pt <= kh // 2 and pl <= kw // 2:
        th = torch_pool_out(h, kh, sh, pt, ceil)
        tw = torch_pool_out(w, kw, sw, pl, ceil)
        if (th, tw) == (oh, ow):
            return "native", dict(kernel_size=(kh, kw), stride=(sh, sw), padding=(pt, pl), ceil_mode=ceil)
    if kind != "maxpool":
        raise NotImplementedError(f"avgpool {attrs} on {in_shape} -> {out_shape}: PyTorch's native form gives "
                                  f"another size and explicit padding would change the averages")
    # the windows cover [i*s - p_before, i*s - p_before + k) for i < o; pad (or crop) the input to exactly that
    bottom = (oh - 1) * sh + kh - h - pt
    right = (ow - 1) * sw + kw - w - pl
    return "explicit", (pl, right, pt, bottom)


def _consumers(ops):
    users = {}
    for i, op in enumerate(ops):
        for t in op.inputs:
            users.setdefault(t, []).append(i)
    return users


def plan(spec, outputs=None, fold_bn=False):
    """The steps the torch module runs: a list of dicts {kind, name, inputs, output, attrs, weights, [mode]}.

    fold_bn: a bn whose input is produced by a conv that feeds only that bn (and is not a model output)
    is folded into the conv (float64, like gie's fold_batchnorm).
    """
    outputs = list(spec.outputs if outputs is None else outputs)
    users = _consumers(spec.ops)
    folded = set()  # indices of bn ops folded into their conv
    steps = []
    for i, op in enumerate(spec.ops):
        if i in folded:
            continue
        st = dict(kind=op.kind, name=op.name, inputs=list(op.inputs), output=op.output, attrs=dict(op.attrs),
                  weights=dict(op.weights))
        if op.kind == "conv" and fold_bn and op.output not in outputs:
            us = users.get(op.output, [])
            if len(us) == 1 and spec.ops[us[0]].kind == "bn":
                bn = spec.ops[us[0]]
                # = gie.model_zoo.fold_batchnorm, kept in float64 until the folded weights are rounded
                bw = {n: bn.weights[n].astype(np.float64) for n in ("gamma", "beta", "mean", "var")}
                scale = bw["gamma"] / np.sqrt(bw["var"] + float(bn.attrs["eps"]))
                shift = bw["beta"] - bw["mean"] * scale
                k = op.weights["kernel"].astype(np.float64)
                b = op.weights.get("bias")
                b = np.zeros(k.shape[0]) if b is None else b.astype(np.float64)
                st["weights"] = {"kernel": (k * scale[:, None, None, None]).astype(np.float32),
                                 "bias": (b * scale + shift).astype(np.float32)}
                st["output"] = bn.output
                st["name"] = f"{op.name}+{bn.name}"
                folded.add(us[0])
        if op.kind in ("maxpool", "avgpool"):
            st["mode"] = pool_mode(op.kind, spec.shapes[op.inputs[0]], spec.shapes[op.output], op.attrs)
        if op.kind == "reorg":
            st["in_shape"] = spec.shapes[op.inputs[0]]
        steps.append(st)
    # last use of every tensor -> free after that step
    last = {}
    for j, st in enumerate(steps):
        for t in st["inputs"]:
            last[t] = j
    keep = set(outputs)
    for j, st in enumerate(steps):
        st["free"] = sorted(t for t in set(st["inputs"]) if last[t] == j and t not in keep)
    produced = {spec.input_name} | {st["output"] for st in steps}
    missing = [o for o in outputs if o not in produced]
    if missing:
        raise ValueError(f"outputs {missing} are not produced by {spec.name}")
    return steps


# ---- the torch module -------------------------------------------------------------------------------

def _key(j, name):
    return f"s{j:03d}_" + "".join(c if c.isalnum() else "_" for c in name)


def to_torch(spec, outputs=None, fold_bn=False):
    """A torch.nn.Module (CPU, float32, eval mode, no grad on parameters) computing ``spec``.

    forward(x) with x of shape (N, *spec.input_shape) returns a tuple of the ``outputs`` (default:
    spec.outputs), each of shape (N, *spec.shapes[name]).
    """
    import torch
    import torch.nn.functional as F
    from torch import nn

    outputs = list(spec.outputs if outputs is None else outputs)
    steps = plan(spec, outputs, fold_bn)

    def t32(a):
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32).copy())

    mods = nn.ModuleDict()
    run = []  # (fn(list of tensors) -> tensor, inputs, output, free)
    for j, st in enumerate(steps):
        kind, a, w = st["kind"], st["attrs"], st["weights"]
        fn = None
        if kind == "conv":
            k = w["kernel"]
            pt, pl, pb, pr = a["pads"]
            sym = pt == pb and pl == pr
            g = int(a.get("groups", 1))
            m = nn.Conv2d(k.shape[1] * g, k.shape[0], tuple(k.shape[2:]), stride=a["stride"],
                          padding=(pt, pl) if sym else 0, bias="bias" in w, groups=g)
            with torch.no_grad():
                m.weight.copy_(t32(k))
                if "bias" in w:
                    m.bias.copy_(t32(w["bias"]))
            mods[_key(j, st["name"])] = m
            if sym:
                fn = (lambda m: lambda xs: m(xs[0]))(m)
            else:
                fn = (lambda m, p: lambda xs: m(F.pad(xs[0], p)))(m, (pl, pr, pt, pb))
        elif kind == "bn":
            c = w["gamma"].shape[0]
            m = nn.BatchNorm2d(c, eps=float(a["eps"]))
            with torch.no_grad():
                m.weight.copy_(t32(w["gamma"]))
                m.bias.copy_(t32(w["beta"]))
                m.running_mean.copy_(t32(w["mean"]))
                m.running_var.copy_(t32(w["var"]))
            mods[_key(j, st["name"])] = m
            fn = (lambda m: lambda xs: m(xs[0]))(m)
        elif kind == "relu":
            fn = lambda xs: F.relu(xs[0])  # noqa: E731
        elif kind == "leaky":
            fn = (lambda al: lambda xs: F.leaky_relu(xs[0], al))(float(a["alpha"]))
        elif kind == "relu6":
            fn = lambda xs: F.relu6(xs[0])  # noqa: E731
        elif kind == "silu":
            fn = lambda xs: F.silu(xs[0])  # noqa: E731
        elif kind == "sigmoid":
            fn = lambda xs: torch.sigmoid(xs[0])  # noqa: E731
        elif kind == "mul":
            fn = lambda xs: xs[0] * xs[1]  # noqa: E731
        elif kind in ("maxpool", "avgpool"):
            mode, arg = st["mode"]
            if mode == "native" and kind == "maxpool":
                fn = (lambda kw: lambda xs: F.max_pool2d(xs[0], **kw))(arg)
            elif mode == "native":
                fn = (lambda kw: lambda xs: F.avg_pool2d(xs[0], count_include_pad=False, **kw))(arg)
            else:
                l, r, t, b = arg
                kk, ss = tuple(a["kernel"]), tuple(a["stride"])

                def fn(xs, l=l, r=r, t=t, b=b, kk=kk, ss=ss):
                    x = xs[0]
                    # crop first (negative amounts), then pad with -inf (never the max of a window that
                    # holds at least one input element, which the spec's size rule guarantees)
                    h, wd = x.shape[-2:]
                    x = x[..., max(0, -t): h + min(0, b), max(0, -l): wd + min(0, r)]
                    pads = (max(0, l), max(0, r), max(0, t), max(0, b))
                    if any(pads):
                        x = F.pad(x, pads, value=float("-inf"))
                    return F.max_pool2d(x, kk, ss, 0, ceil_mode=False)
        elif kind == "global_avgpool":
            fn = lambda xs: F.adaptive_avg_pool2d(xs[0], 1)  # noqa: E731
        elif kind == "add":
            fn = lambda xs: xs[0] + xs[1]  # noqa: E731
        elif kind == "concat":
            fn = lambda xs: torch.cat(xs, 1)  # noqa: E731
        elif kind == "fc":
            k = w["kernel"]
            m = nn.Linear(k.shape[1], k.shape[0], bias="bias" in w)
            with torch.no_grad():
                m.weight.copy_(t32(k))
                if "bias" in w:
                    m.bias.copy_(t32(w["bias"]))
            mods[_key(j, st["name"])] = m
            fn = (lambda m: lambda xs: m(torch.flatten(xs[0], 1)))(m)
        elif kind == "softmax":
            fn = lambda xs: F.softmax(xs[0], dim=1)  # noqa: E731
        elif kind == "lrn":
            fn = (lambda n, al, be, kk: lambda xs: F.local_response_norm(xs[0], n, al, be, kk))(
                int(a["size"]), float(a["alpha"]), float(a["beta"]), float(a["k"]))
        elif kind == "reorg":
            c, h, wd = st["in_shape"]
            s = int(a["stride"])

            def fn(xs, c=c, h=h, wd=wd, s=s):
                x = xs[0]
                n = x.shape[0]
                v = x.reshape(n, c // (s * s), h, s, wd, s).permute(0, 3, 5, 1, 2, 4)
                return v.reshape(n, c * s * s, h // s, wd // s)
        else:
            raise ValueError(f"torch_export: unknown op kind '{kind}'")
        run.append((fn, tuple(st["inputs"]), st["output"], tuple(st["free"])))

    class ZooTorch(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = mods
            self.spec_name = spec.name
            self.input_name = spec.input_name
            self.output_names = outputs
            self._run = run

        def forward(self, x):
            env = {self.input_name: x}
            for fn, ins, out, free in self._run:
                env[out] = fn([env[i] for i in ins])
                for t in free:
                    del env[t]
            return tuple(env[o] for o in self.output_names)

        def extra_repr(self):
            return f"{self.spec_name}: {len(self._run)} steps, outputs {self.output_names}"

    model = ZooTorch().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


# ---- command line -----------------------------------------------------------------------------------

def _print_plan(model, image, fold_bn):
    from gie import model_zoo

    spec = model_zoo.describe(model, image=image)
    steps = plan(spec, fold_bn=fold_bn)
    kinds = {}
    for st in steps:
        kinds[st["kind"]] = kinds.get(st["kind"], 0) + 1
    print(f"{model} ({spec.input_shape}): {len(spec.ops)} ops -> {len(steps)} torch steps "
          f"{dict(sorted(kinds.items()))}, outputs {spec.outputs} {[spec.shapes[o] for o in spec.outputs]}")
    for st in steps:
        if "mode" in st:
            print(f"  {st['name']:<24} {st['kind']:<8} {spec.shapes[st['inputs'][0]]} -> {spec.shapes[st['output']]} "
                  f"{st['mode'][0]} {st['mode'][1]}")
    return spec


def _check(models, images, tol):
    """CPU cross-check of to_torch against onnxruntime on the ONNX twin (bench/onnx_export.py)."""
    import os

    import torch
    from gie import model_zoo

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import onnx_export

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    bad = 0
    for model, image in zip(models, images):
        spec = model_zoo.describe(model, image=image)
        x = spec.random_input(2, seed=1)
        ref = onnx_export.run_onnxruntime(spec, x, check=False)
        for fold in (False, True):
            m = to_torch(spec, fold_bn=fold)
            with torch.no_grad():
                got = dict(zip(spec.outputs, (t.numpy() for t in m(torch.from_numpy(x)))))
            for name in spec.outputs:
                a, e = got[name].astype(np.float64), ref[name].astype(np.float64)
                shape_ok = a.shape == e.shape
                d = float(np.abs(a - e).max()) if shape_ok else float("inf")
                rel = d / max(float(np.abs(e).max()), 1e-30)
                ok = shape_ok and rel < tol
                bad += not ok
                print(f"{model:<10} image {image:>3} fold_bn={fold!s:<5} {name:<18} {str(a.shape):<20} "
                      f"max abs diff {d:.3g}, max |ort| {np.abs(e).max():.3g}, rel {rel:.3g} {'ok' if ok else 'MISMATCH'}")
    return bad


def main(argv=None):
    ap = argparse.ArgumentParser(description="gie model zoo -> torch.nn.Module (plan / CPU check vs onnxruntime)")
    ap.add_argument("--models", default="resnet50,googlenet,yolov2")
    ap.add_argument("--images", default="64,224,128", help="image size per model for --check (small = fast)")
    ap.add_argument("--plan", action="store_true", help="print the step plan (no torch needed)")
    ap.add_argument("--fold-bn", action="store_true")
    ap.add_argument("--check", action="store_true", help="compare with onnxruntime on the CPU (needs torch, onnxruntime)")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    images = [int(v) for v in args.images.split(",")]
    images += [None] * (len(models) - len(images))
    if args.plan or not args.check:
        for m, im in zip(models, images):
            _print_plan(m, im, args.fold_bn)
    if args.check:
        bad = _check(models, images, args.tol)
        print(f"{'FAILED' if bad else 'all outputs match'} ({bad} mismatches)")
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
