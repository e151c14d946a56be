"""Writes a gie model-zoo description (gie.model_zoo.ModelSpec) as an ONNX graph (opset 17) with the same
weights, so that onnxruntime runs exactly the network gie builds.

    from gie import model_zoo
    import onnx_export                       # bench/ on sys.path
    spec = model_zoo.describe("resnet50", seed=0, image=224)
    model = onnx_export.to_onnx(spec, outputs=["prob", "logits"])
    sess = onnx_export.ort_session(model, threads=os.cpu_count())
    out = sess.run(None, {"data": x})

Op mapping: conv -> Conv (group); bn -> BatchNormalization; relu -> Relu; relu6 -> Clip(0, 6); leaky ->
LeakyRelu; silu -> Sigmoid + Mul (what torch exports for nn.SiLU); sigmoid -> Sigmoid; mul -> Mul (numpy
broadcasting: the squeeze-excitation scale (N, C, 1, 1)); maxpool / avgpool ->
MaxPool / AveragePool (ceil_mode where gie uses Caffe rounding, count_include_pad=0); global_avgpool ->
GlobalAveragePool; add -> Add; concat -> Concat(axis 1); fc -> Flatten + Gemm(transB); softmax ->
Softmax(axis 1); lrn -> LRN; reorg (darknet) -> Reshape + Transpose + Reshape. The batch dimension is symbolic.
"""
import os

import numpy as np

OPSET = 17


def to_onnx(spec, outputs=None, batch=None, check=True):
    """An onnx.ModelProto for ``spec``. outputs: names from spec.outputs (default: all of them).

    batch: a fixed batch size, or None for a symbolic batch dimension "N". check: run onnx.checker (about
    1.5 s for YOLOv2's 200 MB of weights).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    outputs = list(spec.outputs if outputs is None else outputs)
    nodes, inits = [], []

    def const(name, arr):
        # reshape: np.ascontiguousarray makes a 0-d array 1-d, and Clip's min / max must be scalars
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr).reshape(np.shape(arr)), name))
        return name

    for op in spec.ops:
        a, w, x, y, n = op.attrs, op.weights, op.inputs, op.output, op.name
        if op.kind == "conv":
            ins = [x[0], const(f"{n}.weight", w["kernel"])]
            if "bias" in w:
                ins.append(const(f"{n}.bias", w["bias"]))
            pt, pl, pb, pr = a["pads"]
            nodes.append(helper.make_node("Conv", ins, [y], name=n, kernel_shape=list(w["kernel"].shape[2:]),
                                          strides=[a["stride"]] * 2, pads=[pt, pl, pb, pr],
                                          group=int(a.get("groups", 1))))
        elif op.kind == "bn":
            ins = [x[0]] + [const(f"{n}.{k}", w[k]) for k in ("gamma", "beta", "mean", "var")]
            nodes.append(helper.make_node("BatchNormalization", ins, [y], name=n, epsilon=float(a["eps"])))
        elif op.kind == "relu":
            nodes.append(helper.make_node("Relu", x, [y], name=n))
        elif op.kind == "relu6":
            lo, hi = const(f"{n}.min", np.array(0.0, np.float32)), const(f"{n}.max", np.array(6.0, np.float32))
            nodes.append(helper.make_node("Clip", [x[0], lo, hi], [y], name=n))
        elif op.kind == "silu":
            sig = f"{n}/sigmoid"
            nodes.append(helper.make_node("Sigmoid", x, [sig], name=sig))
            nodes.append(helper.make_node("Mul", [x[0], sig], [y], name=n))
        elif op.kind == "sigmoid":
            nodes.append(helper.make_node("Sigmoid", x, [y], name=n))
        elif op.kind == "mul":
            nodes.append(helper.make_node("Mul", x, [y], name=n))
        elif op.kind == "leaky":
            nodes.append(helper.make_node("LeakyRelu", x, [y], name=n, alpha=float(a["alpha"])))
        elif op.kind in ("maxpool", "avgpool"):
            pt, pl, pb, pr = a["pads"]
            kw = dict(kernel_shape=list(a["kernel"]), strides=list(a["stride"]), pads=[pt, pl, pb, pr],
                      ceil_mode=int(a.get("ceil", False)))
            if op.kind == "avgpool":
                kw["count_include_pad"] = 0
            nodes.append(helper.make_node("MaxPool" if op.kind == "maxpool" else "AveragePool", x, [y], name=n, **kw))
        elif op.kind == "global_avgpool":
            nodes.append(helper.make_node("GlobalAveragePool", x, [y], name=n))
        elif op.kind == "add":
            nodes.append(helper.make_node("Add", x, [y], name=n))
        elif op.kind == "concat":
            nodes.append(helper.make_node("Concat", x, [y], name=n, axis=1))
        elif op.kind == "fc":
            flat = f"{n}/flatten"
            nodes.append(helper.make_node("Flatten", x, [flat], name=flat, axis=1))
            ins = [flat, const(f"{n}.weight", w["kernel"]), const(f"{n}.bias", w["bias"])]
            nodes.append(helper.make_node("Gemm", ins, [y], name=n, transB=1))
        elif op.kind == "softmax":
            nodes.append(helper.make_node("Softmax", x, [y], name=n, axis=1))
        elif op.kind == "lrn":
            nodes.append(helper.make_node("LRN", x, [y], name=n, size=int(a["size"]), alpha=float(a["alpha"]),
                                          beta=float(a["beta"]), bias=float(a["k"])))
        elif op.kind == "reorg":
            c, h, wd = spec.shapes[x[0]]
            s = a["stride"]
            # Darknet reorg (see gie.model_zoo.darknet_reorg_reference); Reshape's 0 copies the batch dimension.
            r1, t1 = f"{n}/reshape0", f"{n}/transpose"
            shape0 = const(f"{n}.shape0", np.array([0, c // (s * s), h, s, wd, s], np.int64))
            shape1 = const(f"{n}.shape1", np.array([0, c * s * s, h // s, wd // s], np.int64))
            nodes.append(helper.make_node("Reshape", [x[0], shape0], [r1], name=r1))
            nodes.append(helper.make_node("Transpose", [r1], [t1], name=t1, perm=[0, 3, 5, 1, 2, 4]))
            nodes.append(helper.make_node("Reshape", [t1, shape1], [y], name=n))
        else:
            raise ValueError(f"onnx_export: unknown op kind '{op.kind}'")

    bdim = batch if batch is not None else "N"
    graph = helper.make_graph(
        nodes, spec.name,
        [helper.make_tensor_value_info(spec.input_name, TensorProto.FLOAT, [bdim] + list(spec.input_shape))],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, [bdim] + list(spec.shapes[o])) for o in outputs],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="gie.model_zoo")
    model.ir_version = min(model.ir_version, 8)  # opset 17 <-> IR 8; keeps older onnxruntime builds happy
    if check:
        onnx.checker.check_model(model)
    return model


def save(spec, path, outputs=None):
    import onnx

    onnx.save(to_onnx(spec, outputs), os.fspath(path))


def ort_session(model, threads=None, optimize=True):
    """An onnxruntime CPU InferenceSession for ``model`` (ModelProto or path) with default options except
    intra_op_num_threads (default os.cpu_count()). optimize=False disables graph optimizations."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads or os.cpu_count())
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    data = model if isinstance(model, (str, os.PathLike)) else model.SerializeToString()
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])


def run_onnxruntime(spec, x, outputs=None, threads=None, check=False):
    """Runs ``spec`` on input ``x`` with onnxruntime; returns {name: array}."""
    outputs = list(spec.outputs if outputs is None else outputs)
    sess = ort_session(to_onnx(spec, outputs, check=check), threads)
    return dict(zip(outputs, sess.run(outputs, {spec.input_name: x})))
