"""Einsum, Det, ScatterND, ScatterElements and GatherND have no gie layer: the C++ ONNX importer folds them when
every input is known (onnx_fold_linalg.cpp, onnx_fold_scatter_gather.cpp). Each folded result is compared with
onnx.reference and with onnxruntime on random inputs of awkward sizes; models the spec forbids (indices out of
range, shapes that do not fit) are gie.InvalidModelError naming the node; run-time inputs are unsupported."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import gie  # noqa: E402

R = np.random.default_rng(16)


def _f(*shape, dtype=np.float32):
    return R.standard_normal(shape).astype(dtype)


def _i(lo, hi, *shape, dtype=np.int64):
    return R.integers(lo, hi, shape).astype(dtype)


def _model(op, ins, attrs, opset=18):
    names = [f"i{k}" for k in range(len(ins))]
    node = helper.make_node(op, names, ["o"], name="N", **attrs)
    g = helper.make_graph([node, helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2]),
                           helper.make_empty_tensor_value_info("o")],
                          [numpy_helper.from_array(v, n) for v, n in zip(ins, names)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


X = {"x": np.zeros((1, 2), np.float32)}


def _gie(model):
    builder = gie.Builder()
    net = gie.OnnxParser(builder=builder, check=False).parse(model)
    assert not {layer.type for layer in net.layers} & {"Einsum", "Det", "ScatterND", "ScatterElements", "GatherND"}
    cfg = builder.create_config()
    cfg.device = "cpu"
    return builder.build(net, cfg).create_execution_context().execute(X)["o"]


def _ort(model):
    ort = pytest.importorskip("onnxruntime")
    model = onnx.shape_inference.infer_shapes(model)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(["o"], X)[0]


def _compare(got, exp, what, rtol):
    exp = np.asarray(exp)
    assert got.shape == exp.shape, f"{what}: shape {got.shape} != {exp.shape}"
    if exp.dtype.kind == "f":
        scale = max(1.0, float(np.max(np.abs(exp)))) if exp.size else 1.0
        np.testing.assert_allclose(got.astype(np.float64), exp.astype(np.float64), rtol=rtol, atol=rtol * scale,
                                   err_msg=what)
    else:
        np.testing.assert_array_equal(got, exp.astype(got.dtype), err_msg=what)


# (id, op, inputs, attributes, onnxruntime computes it too: it has no float64 Det, no Einsum whose ellipses differ
# in rank or whose implicit output mixes cases). Float32 sums: gie accumulates in double, numpy and
# onnxruntime in float32, hence the tolerance below.
CASES = [
    ("einsum_matmul", "Einsum", [_f(3, 5), _f(5, 7)], {"equation": "ij,jk->ik"}, True),
    ("einsum_batched", "Einsum", [_f(3, 2, 5), _f(3, 5, 7)], {"equation": "bij,bjk->bik"}, True),
    ("einsum_implicit", "Einsum", [_f(3, 5), _f(5, 7)], {"equation": "ij,jk"}, True),
    ("einsum_implicit_case_order", "Einsum", [_f(2, 3), _f(3, 4)], {"equation": "ba,aC"}, False),
    ("einsum_trace", "Einsum", [_f(5, 5)], {"equation": "ii"}, True),
    ("einsum_diagonal", "Einsum", [_f(5, 5)], {"equation": "ii->i"}, True),
    ("einsum_diagonal_3d", "Einsum", [_f(3, 3, 4)], {"equation": "iij->ji"}, False),
    ("einsum_repeat_split", "Einsum", [_f(3, 4, 3)], {"equation": "iji"}, False),
    ("einsum_transpose", "Einsum", [_f(3, 7)], {"equation": "ij->ji"}, True),
    ("einsum_sum_all", "Einsum", [_f(3, 7)], {"equation": "ij->"}, True),
    ("einsum_outer", "Einsum", [_f(3), _f(5)], {"equation": "i,j->ij"}, True),
    ("einsum_dot", "Einsum", [_f(7), _f(7)], {"equation": "i,i"}, True),
    ("einsum_three", "Einsum", [_f(2, 3), _f(3, 4), _f(4, 5)], {"equation": "ij,jk,kl->il"}, True),
    ("einsum_ellipsis_broadcast", "Einsum", [_f(2, 1, 3, 4), _f(5, 4, 2)], {"equation": "...ij,...jk->...ik"}, False),
    ("einsum_ellipsis_implicit", "Einsum", [_f(2, 3, 4)], {"equation": "...ij"}, False),
    ("einsum_ellipsis_middle", "Einsum", [_f(2, 3, 4), _f(4, 3)], {"equation": "i...j,j...->i..."}, False),
    ("einsum_ellipsis_summed_away", "Einsum", [_f(2, 3, 4)], {"equation": "...ij->..."}, True),
    ("einsum_size1_label_broadcast", "Einsum", [_f(2, 3), _f(1, 4)], {"equation": "ij,jk->ik"}, False),
    ("einsum_spaces", "Einsum", [_f(3, 5), _f(5, 2)], {"equation": " ij , jk -> ik "}, True),
    ("einsum_double", "Einsum", [_f(3, 4, dtype=np.float64), _f(4, 2, dtype=np.float64)], {"equation": "ij,jk"}, True),
    ("einsum_int32", "Einsum", [_i(-9, 9, 3, 4, dtype=np.int32), _i(-9, 9, 4, 5, dtype=np.int32)],
     {"equation": "ij,jk->ik"}, True),
    ("einsum_int64", "Einsum", [_i(-9, 9, 2, 3, 4), _i(-9, 9, 4)], {"equation": "abc,c->ab"}, True),
    ("einsum_empty_sum", "Einsum", [_f(3, 0), _f(0, 2)], {"equation": "ij,jk->ik"}, True),
    ("det_2x2", "Det", [_f(2, 2)], {}, True),
    ("det_5x5", "Det", [_f(5, 5)], {}, True),
    ("det_batched", "Det", [_f(2, 3, 4, 4)], {}, True),
    ("det_1x1", "Det", [_f(3, 1, 1)], {}, True),
    ("det_singular", "Det", [np.array([[1, 2, 3], [2, 4, 6], [0, 1, 5]], np.float32)], {}, True),
    ("det_needs_pivoting", "Det", [np.array([[0, 1, 2], [3, 0, 1], [4, 5, 0]], np.float32)], {}, True),
    ("det_double", "Det", [_f(3, 6, 6, dtype=np.float64)], {}, False),
    ("scatternd_elements", "ScatterND", [_f(3, 5), np.array([[0, 1], [2, -1], [-3, 3]]), _f(3)], {}, True),
    ("scatternd_slices", "ScatterND", [_f(4, 3, 5), np.array([[[1], [3]], [[0], [-2]]]), _f(2, 2, 3, 5)], {}, True),
    ("scatternd_rows_of_3d", "ScatterND", [_f(4, 3, 5), np.array([[1, 2], [3, -3]]), _f(2, 5)], {}, True),
    ("scatternd_add_duplicates", "ScatterND", [_f(5, 3), np.array([[1], [1], [4], [-4]]), _f(4, 3)],
     {"reduction": "add"}, True),
    ("scatternd_mul", "ScatterND", [_f(5, 3), np.array([[2], [2], [0]]), _f(3, 3)], {"reduction": "mul"}, True),
    ("scatternd_max", "ScatterND", [_f(5, 3), np.array([[2], [2], [0]]), _f(3, 3)], {"reduction": "max"}, True),
    ("scatternd_min", "ScatterND", [_f(5, 3), np.array([[2], [2], [0]]), _f(3, 3)], {"reduction": "min"}, True),
    ("scatternd_int32_add", "ScatterND", [_i(-50, 50, 6, dtype=np.int32), np.array([[5], [0], [5]]),
                                          _i(-50, 50, 3, dtype=np.int32)], {"reduction": "add"}, True),
    ("scatterelements_axis0", "ScatterElements", [_f(4, 5), np.array([[3, 0, -1], [1, -4, 2]]), _f(2, 3)], {}, True),
    ("scatterelements_axis1", "ScatterElements", [_f(3, 7), np.array([[6, 0], [-7, 2], [1, -1]]), _f(3, 2)],
     {"axis": 1}, True),
    ("scatterelements_axis_neg", "ScatterElements", [_f(2, 3, 4), _i(-4, 4, 2, 2, 3), _f(2, 2, 3)], {"axis": -1}, True),
    ("scatterelements_add", "ScatterElements", [_f(5), np.array([1, 1, 3, -4]), _f(4)], {"reduction": "add"}, True),
    ("scatterelements_mul", "ScatterElements", [_f(3, 3), np.array([[0, 0, 2]]), _f(1, 3)],
     {"axis": 1, "reduction": "mul"}, True),
    ("scatterelements_max", "ScatterElements", [_f(6), np.array([0, 0, 5, 5]), _f(4)], {"reduction": "max"}, True),
    ("scatterelements_min", "ScatterElements", [_f(6), np.array([0, 0, 5, 5]), _f(4)], {"reduction": "min"}, True),
    ("scatterelements_int32_indices", "ScatterElements", [_f(4, 3), _i(-4, 4, 2, 3, dtype=np.int32), _f(2, 3)], {},
     True),
    ("scatterelements_int64_mul", "ScatterElements", [_i(-5, 5, 3, 4), _i(-3, 3, 2, 4), _i(-5, 5, 2, 4)],
     {"reduction": "mul"}, True),
    ("gathernd_elements", "GatherND", [_f(3, 5), np.array([[0, 1], [2, -1], [-3, 4]])], {}, True),
    ("gathernd_slices", "GatherND", [_f(4, 3, 5), np.array([[[1], [3]], [[-1], [0]]])], {}, True),
    ("gathernd_batch1", "GatherND", [_f(2, 3, 5), np.array([[[1], [0]], [[2], [-1]]])], {"batch_dims": 1}, True),
    ("gathernd_batch1_elements", "GatherND", [_f(3, 4, 5), _i(-4, 4, 3, 2, 2)], {"batch_dims": 1}, True),
    ("gathernd_batch2", "GatherND", [_f(2, 3, 5, 2), _i(-5, 5, 2, 3, 1)], {"batch_dims": 2}, True),
    ("gathernd_int32", "GatherND", [_i(-99, 99, 3, 4, dtype=np.int32), np.array([[2], [0]])], {}, True),
]


@pytest.mark.parametrize("op,ins,attrs,with_ort", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_known_inputs_fold_like_the_reference_and_onnxruntime(op, ins, attrs, with_ort):
    m = _model(op, ins, attrs)
    got = _gie(m)
    rtol = 1e-4 if op == "Det" else 1e-5
    _compare(got, ReferenceEvaluator(m).run(None, X)[1], f"{op} vs onnx.reference", rtol)
    if with_ort:
        _compare(got, _ort(m), f"{op} vs onnxruntime", rtol)


def test_det_is_computed_in_double():
    # numpy / onnxruntime compute a float32 determinant in float32; gie's LU runs in double, so it matches the
    # float64 determinant to float32 rounding, even for an ill-conditioned matrix.
    x = (np.vander(np.linspace(1, 2, 6)) + 1e-3 * _f(6, 6, dtype=np.float64)).astype(np.float32)
    got = _gie(_model("Det", [x], {}))
    np.testing.assert_allclose(got, np.linalg.det(x.astype(np.float64)), rtol=1e-6)


# (id, op, inputs, attributes, message): models the spec forbids. "ref" marks those onnx.reference refuses too.
ERRORS = [
    ("einsum_bad_dot", "Einsum", [_f(3, 4)], {"equation": "i.j"}, r"'\.' that is not part of one ellipsis"),
    ("einsum_two_ellipses", "Einsum", [_f(3, 4)], {"equation": "...i..."}, r"not part of one ellipsis"),
    ("einsum_bad_char", "Einsum", [_f(3, 4)], {"equation": "i1"}, r"subscripts must be letters"),
    ("einsum_output_unknown", "Einsum", [_f(3, 4)], {"equation": "ij->k"}, r"'k' appears in no operand"),
    ("einsum_output_repeat", "Einsum", [_f(3, 4)], {"equation": "ij->jj"}, r"repeats subscript 'j'"),
    ("einsum_no_output_ellipsis", "Einsum", [_f(2, 3, 4)], {"equation": "...ij->ij"}, r"no '\.\.\.' to put them"),
    ("einsum_operand_count", "Einsum", [_f(3, 4)], {"equation": "ij,jk->ik"}, r"names 2 operand\(s\), the node has 1"),
    ("einsum_rank", "Einsum", [_f(3, 4, 5)], {"equation": "ij->i"}, r"shape \(3, 4, 5\).*'ij' name 2"),
    ("einsum_diagonal_sizes", "Einsum", [_f(3, 4)], {"equation": "ii->i"}, r"repeats subscript 'i'.*\(3 and 4\)"),
    ("einsum_no_broadcast", "Einsum", [_f(3, 4), _f(5, 2)], {"equation": "ij,jk->ik"}, r"subscript 'j' has sizes 4 and 5"),
    ("einsum_types", "Einsum", [_f(3, 4), _f(4, dtype=np.float64)], {"equation": "ij,j->i"}, r"different types"),
    ("einsum_empty", "Einsum", [_f(3)], {"equation": " "}, r"equation is empty"),
    ("det_not_square", "Det", [_f(3, 4)], {}, r"shape \(3, 4\); it must end in two equal dimensions"),
    ("det_rank1", "Det", [_f(3)], {}, r"shape \(3,\)"),
    ("scatternd_index_high", "ScatterND", [_f(3, 4), np.array([[0], [3]]), _f(2, 4)], {},
     r"ScatterND index 3 is out of range \[-3, 2\] for axis 0"),
    ("scatternd_index_low", "ScatterND", [_f(3, 4), np.array([[1, -5]]), _f(1)], {},
     r"ScatterND index -5 is out of range \[-4, 3\] for axis 1"),
    ("scatternd_updates_shape", "ScatterND", [_f(3, 4), np.array([[0], [1]]), _f(2, 3)], {},
     r"updates have shape \(2, 3\).*need \(2, 4\)"),
    ("scatternd_k_too_large", "ScatterND", [_f(3), np.array([[0, 1]]), _f(1)], {}, r"more than data \(3,\) has"),
    ("scatternd_float_indices", "ScatterND", [_f(3), np.array([[0.0]], np.float32), _f(1)], {}, r"indices have type float"),
    ("scatternd_int32_indices", "ScatterND", [_f(3), np.array([[0]], np.int32), _f(1)], {},
     r"indices have type int32; ScatterND takes int64 indices"),
    ("gathernd_int32_indices", "GatherND", [_f(3), np.array([[0]], np.int32)], {},
     r"indices have type int32; GatherND takes int64 indices"),
    ("scatterelements_float_indices", "ScatterElements", [_f(3), np.array([0.0], np.float32), _f(1)], {},
     r"indices have type float32; ScatterElements takes int32 or int64 indices"),
    ("scatternd_reduction", "ScatterND", [_f(3), np.array([[0]]), _f(1)], {"reduction": "sum"}, r"reduction 'sum'"),
    ("scatternd_update_type", "ScatterND", [_f(3), np.array([[0]]), np.array([1], np.int64)], {},
     r"updates have type int64, data float"),
    ("scatterelements_index_high", "ScatterElements", [_f(3, 4), np.array([[0, 4]]), _f(1, 2)], {"axis": 1},
     r"ScatterElements index 4 is out of range \[-4, 3\] for axis 1"),
    ("scatterelements_index_low", "ScatterElements", [_f(3, 4), np.array([[-4]]), _f(1, 1)], {},
     r"ScatterElements index -4 is out of range \[-3, 2\] for axis 0"),
    ("scatterelements_shapes", "ScatterElements", [_f(3, 4), np.array([[0, 1]]), _f(2, 1)], {}, r"must have one shape"),
    ("scatterelements_axis", "ScatterElements", [_f(3, 4), np.array([[0]]), _f(1, 1)], {"axis": 2},
     r"axis 2 is out of range for data of rank 2"),
    ("scatterelements_too_wide", "ScatterElements", [_f(3, 2), np.zeros((1, 3), np.int64), _f(1, 3)], {},
     r"exceed data \(3, 2\) along axis 1"),
    ("gathernd_index_high", "GatherND", [_f(3, 5), np.array([[0, 5]])], {}, r"GatherND index 5 is out of range \[-5, 4\]"),
    ("gathernd_index_low", "GatherND", [_f(2, 3, 5), np.array([[[-4]], [[0]]])], {"batch_dims": 1},
     r"GatherND index -4 is out of range \[-3, 2\] for axis 1"),
    ("gathernd_batch_mismatch", "GatherND", [_f(2, 3, 5), np.zeros((3, 1), np.int64)], {"batch_dims": 1},
     r"differ in batch dimension 0"),
    ("gathernd_batch_dims", "GatherND", [_f(2, 3), np.zeros((2, 1), np.int64)], {"batch_dims": 2},
     r"batch_dims 2 must lie in \[0, 1\]"),
    ("gathernd_k_too_large", "GatherND", [_f(2, 3), np.zeros((2, 2), np.int64)], {"batch_dims": 1},
     r"index 2 dimension\(s\).*\[1, 1\]"),
]


@pytest.mark.parametrize("case", ERRORS, ids=[e[0] for e in ERRORS])
def test_models_the_spec_forbids_are_invalid_naming_the_node(case):
    name, op, ins, attrs, message = case
    m = _model(op, ins, attrs)
    with pytest.raises(gie.InvalidModelError, match=rf"node 'N' \({op}\): .*{message}"):
        gie.OnnxParser(check=False).parse(m)
    if "_index_" in name:  # numpy indexing, as onnx.reference does it, refuses the index too
        with pytest.raises(IndexError):
            ReferenceEvaluator(m).run(None, X)


@pytest.mark.parametrize("op,ins,attrs", [
    ("Einsum", [_f(1, 3), _f(3, 4)], {"equation": "ij,jk->ik"}),
    ("Det", [_f(1, 3, 3)], {}),
    ("ScatterND", [_f(1, 4), np.array([[0]]), _f(1, 4)], {}),
    ("ScatterElements", [_f(1, 4), np.array([[1]]), _f(1, 1)], {"axis": 1}),
    ("GatherND", [_f(1, 4), np.array([[0, 2]])], {}),
], ids=lambda v: v if isinstance(v, str) else "")
def test_run_time_inputs_are_unsupported_naming_the_node(op, ins, attrs):
    # input 0 becomes a network input: the op cannot fold and gie has no layer for it
    m = _model(op, ins, attrs)
    g = m.graph
    g.input.append(helper.make_tensor_value_info("i0", TensorProto.FLOAT, list(ins[0].shape)))
    del g.initializer[0]
    with pytest.raises(gie.UnsupportedError, match=rf"'N' {op} \(opset 18\): inputs are not all constant"):
        gie.OnnxParser(check=False).parse(m)


def test_folding_work_is_bounded():
    # a few kilobytes of input whose contraction would take 2^30 multiplications: refused, not run for minutes
    a, b = np.ones((1024, 32), np.float32), np.ones((32, 1024), np.float32)
    with pytest.raises(gie.UnsupportedError, match=r"'N' Einsum.*would take \d+ multiplications \(over the limit"):
        gie.OnnxParser(check=False).parse(_model("Einsum", [a, b, np.ones(32, np.float32)],
                                                 {"equation": "ik,kj,l->ij"}))


def _node_cases():
    """The onnx package's node test cases (model + reference data) of the five ops: collected once (~10 s)."""
    if not hasattr(_node_cases, "cases"):
        import warnings
        from onnx.backend.test.case import node
        ops = {"Einsum", "Det", "ScatterND", "ScatterElements", "GatherND"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _node_cases.cases = {tc.name: tc for tc in node.collect_testcases(None)
                                 if tc.model is not None and {n.op_type for n in tc.model.graph.node} <= ops}
    return _node_cases.cases


NODE_CASES = ["test_det_2d", "test_det_nd", "test_einsum_transpose", "test_einsum_sum",
              "test_einsum_batch_diagonal", "test_einsum_inner_prod", "test_einsum_batch_matmul",
              "test_einsum_scalar", "test_einsum_batch_matmul_bfloat16", "test_einsum_sum_bfloat16",
              "test_einsum_transpose_bfloat16", "test_gathernd_example_int32", "test_gathernd_example_float32",
              "test_gathernd_example_int32_batch_dim1", "test_scatter_elements_without_axis",
              "test_scatter_elements_with_axis", "test_scatter_elements_with_negative_indices",
              "test_scatter_elements_with_duplicate_indices", "test_scatter_elements_with_reduction_mul",
              "test_scatter_elements_with_reduction_max", "test_scatter_elements_with_reduction_min",
              "test_scatternd", "test_scatternd_add", "test_scatternd_multiply", "test_scatternd_max",
              "test_scatternd_min", "test_scatternd_max_with_element_indices",
              "test_scatternd_min_with_element_indices"]


@pytest.mark.parametrize("case", NODE_CASES)
def test_onnx_node_cases_fold_with_their_inputs_known(case):
    # tests/test_onnx_conformance.py feeds these cases' inputs at run time, where the five ops are unsupported;
    # here every input is an initializer holding the case's data, so the node folds
    tc = _node_cases()[case]
    for inputs, expected in tc.data_sets:
        m = onnx.ModelProto()
        m.CopyFrom(tc.model)
        g = m.graph
        names = [i.name for i in g.input]
        del g.input[:]
        for name, v in zip(names, inputs):
            g.initializer.append(numpy_helper.from_array(np.asarray(v), name))
        g.input.append(helper.make_tensor_value_info("probe_x", TensorProto.FLOAT, [1, 2]))  # gie needs an input
        g.node.append(helper.make_node("Relu", ["probe_x"], ["probe_y"]))
        g.output.append(helper.make_tensor_value_info("probe_y", TensorProto.FLOAT, [1, 2]))
        builder = gie.Builder()
        net = gie.OnnxParser(builder=builder, check=False).parse(m)
        cfg = builder.create_config()
        cfg.device = "cpu"
        res = builder.build(net, cfg).create_execution_context().execute({"probe_x": X["x"]})
        for o, e in zip(tc.model.graph.output, expected):
            _compare(res[o.name], e, f"{case} output {o.name}", 1e-5)


def test_det_of_no_matrices_allocates_nothing():
    # (0, m, m) with a huge m holds no element: the fold must not size its LU scratch by m * m
    t = helper.make_tensor("i0", TensorProto.FLOAT, [0, 1 << 31, 1 << 31], [])
    m = _model("Det", [np.zeros((0, 2, 2), np.float32)], {})
    m.graph.initializer[0].CopyFrom(t)
    net = gie.OnnxParser(check=False).parse(m)
    assert net.num_outputs == 2
