"""A subset of Caffe's ``caffe.proto`` (package ``caffe``) as protobuf message classes, built at import time from
descriptors, for Python code that writes or inspects caffemodels (the tests write theirs with it). The importer
does not use it: the C++ importer carries the same tables (cpp/src/parsers/caffe/caffe_schema_tables.cpp).
Needs the ``protobuf`` package.

No protoc is needed: the messages are declared below as tables and turned into a FileDescriptorProto,
then into message classes with ``google.protobuf.message_factory``. Field names and numbers follow
BVLC Caffe (plus ``permute_param`` = 202 of the SSD fork), so ``text_format`` reads deploy prototxts and
``ParseFromString`` reads ``.caffemodel`` files. Fields not declared here are kept as unknown fields
(binary) or rejected (text), so the subset covers every field a deploy net or a trained model uses.

    from gie.parsers import caffe_schema as cs
    net = cs.NetParameter()
"""
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
_T = {
    "double": _F.TYPE_DOUBLE, "float": _F.TYPE_FLOAT, "int64": _F.TYPE_INT64, "uint64": _F.TYPE_UINT64,
    "int32": _F.TYPE_INT32, "uint32": _F.TYPE_UINT32, "bool": _F.TYPE_BOOL, "string": _F.TYPE_STRING,
    "bytes": _F.TYPE_BYTES,
}

# enum name -> [(value name, number)]; enums nested in a message are named "Message.Enum".
_ENUMS = {
    "Phase": [("TRAIN", 0), ("TEST", 1)],
    "FillerParameter.VarianceNorm": [("FAN_IN", 0), ("FAN_OUT", 1), ("AVERAGE", 2)],
    "Engine": [("DEFAULT", 0), ("CAFFE", 1), ("CUDNN", 2)],
    "PoolingParameter.PoolMethod": [("MAX", 0), ("AVE", 1), ("STOCHASTIC", 2)],
    "PoolingParameter.RoundMode": [("CEIL", 0), ("FLOOR", 1)],
    "LRNParameter.NormRegion": [("ACROSS_CHANNELS", 0), ("WITHIN_CHANNEL", 1)],
    "EltwiseParameter.EltwiseOp": [("PROD", 0), ("SUM", 1), ("MAX", 2)],
    "ReductionParameter.ReductionOp": [("SUM", 1), ("ASUM", 2), ("SUMSQ", 3), ("MEAN", 4)],
    "ParamSpec.DimCheckMode": [("STRICT", 0), ("PERMISSIVE", 1)],
    "V1LayerParameter.LayerType": [
        ("NONE", 0), ("ABSVAL", 35), ("ACCURACY", 1), ("ARGMAX", 30), ("BNLL", 2), ("CONCAT", 3),
        ("CONTRASTIVE_LOSS", 37), ("CONVOLUTION", 4), ("DATA", 5), ("DECONVOLUTION", 39), ("DROPOUT", 6),
        ("DUMMY_DATA", 32), ("EUCLIDEAN_LOSS", 7), ("ELTWISE", 25), ("EXP", 38), ("FLATTEN", 8),
        ("HDF5_DATA", 9), ("HDF5_OUTPUT", 10), ("HINGE_LOSS", 28), ("IM2COL", 11), ("IMAGE_DATA", 12),
        ("INFOGAIN_LOSS", 13), ("INNER_PRODUCT", 14), ("LRN", 15), ("MEMORY_DATA", 29),
        ("MULTINOMIAL_LOGISTIC_LOSS", 16), ("MVN", 34), ("POOLING", 17), ("POWER", 26), ("RELU", 18),
        ("SIGMOID", 19), ("SIGMOID_CROSS_ENTROPY_LOSS", 27), ("SILENCE", 36), ("SOFTMAX", 20),
        ("SOFTMAX_LOSS", 21), ("SPLIT", 22), ("SLICE", 33), ("TANH", 23), ("WINDOW_DATA", 24),
        ("THRESHOLD", 31)],
}

# message name -> [(field name, number, type, label, default)]; label: "?" optional, "*" repeated,
# "*p" repeated packed. type: a scalar, "msg:Name" or "enum:Name".
_MESSAGES = {
    "BlobShape": [("dim", 1, "int64", "*p")],
    "BlobProto": [("shape", 7, "msg:BlobShape"), ("data", 5, "float", "*p"), ("diff", 6, "float", "*p"),
                  ("double_data", 8, "double", "*p"), ("double_diff", 9, "double", "*p"),
                  ("num", 1, "int32", "?", "0"), ("channels", 2, "int32", "?", "0"),
                  ("height", 3, "int32", "?", "0"), ("width", 4, "int32", "?", "0")],
    "BlobProtoVector": [("blobs", 1, "msg:BlobProto", "*")],
    "FillerParameter": [("type", 1, "string", "?", "constant"), ("value", 2, "float", "?", "0"),
                        ("min", 3, "float", "?", "0"), ("max", 4, "float", "?", "1"),
                        ("mean", 5, "float", "?", "0"), ("std", 6, "float", "?", "1"),
                        ("sparse", 7, "int32", "?", "-1"),
                        ("variance_norm", 8, "enum:FillerParameter.VarianceNorm", "?", "FAN_IN")],
    "NetState": [("phase", 1, "enum:Phase", "?", "TEST"), ("level", 2, "int32", "?", "0"),
                 ("stage", 3, "string", "*")],
    "NetStateRule": [("phase", 1, "enum:Phase"), ("min_level", 2, "int32"), ("max_level", 3, "int32"),
                     ("stage", 4, "string", "*"), ("not_stage", 5, "string", "*")],
    "ParamSpec": [("name", 1, "string"), ("share_mode", 2, "enum:ParamSpec.DimCheckMode"),
                  ("lr_mult", 3, "float", "?", "1"), ("decay_mult", 4, "float", "?", "1")],
    "NetParameter": [("name", 1, "string"), ("input", 3, "string", "*"), ("input_shape", 8, "msg:BlobShape", "*"),
                     ("input_dim", 4, "int32", "*"), ("force_backward", 5, "bool", "?", "false"),
                     ("state", 6, "msg:NetState"), ("debug_info", 7, "bool", "?", "false"),
                     ("layer", 100, "msg:LayerParameter", "*"), ("layers", 2, "msg:V1LayerParameter", "*")],
    "TransformationParameter": [("scale", 1, "float", "?", "1"), ("mirror", 2, "bool", "?", "false"),
                                ("crop_size", 3, "uint32", "?", "0"), ("mean_file", 4, "string"),
                                ("mean_value", 5, "float", "*"), ("force_color", 6, "bool", "?", "false"),
                                ("force_gray", 7, "bool", "?", "false")],
    "LossParameter": [("ignore_label", 1, "int32"), ("normalize", 2, "bool")],
    "AccuracyParameter": [("top_k", 1, "uint32", "?", "1"), ("axis", 2, "int32", "?", "1"),
                          ("ignore_label", 3, "int32")],
    "ArgMaxParameter": [("out_max_val", 1, "bool", "?", "false"), ("top_k", 2, "uint32", "?", "1"),
                        ("axis", 3, "int32")],
    "ConcatParameter": [("axis", 2, "int32", "?", "1"), ("concat_dim", 1, "uint32", "?", "1")],
    "BatchNormParameter": [("use_global_stats", 1, "bool"), ("moving_average_fraction", 2, "float", "?", "0.999"),
                           ("eps", 3, "float", "?", "1e-5")],
    "BiasParameter": [("axis", 1, "int32", "?", "1"), ("num_axes", 2, "int32", "?", "1"),
                      ("filler", 3, "msg:FillerParameter")],
    "ConvolutionParameter": [("num_output", 1, "uint32"), ("bias_term", 2, "bool", "?", "true"),
                             ("pad", 3, "uint32", "*"), ("kernel_size", 4, "uint32", "*"),
                             ("stride", 6, "uint32", "*"), ("dilation", 18, "uint32", "*"),
                             ("pad_h", 9, "uint32", "?", "0"), ("pad_w", 10, "uint32", "?", "0"),
                             ("kernel_h", 11, "uint32"), ("kernel_w", 12, "uint32"),
                             ("stride_h", 13, "uint32"), ("stride_w", 14, "uint32"),
                             ("group", 5, "uint32", "?", "1"), ("weight_filler", 7, "msg:FillerParameter"),
                             ("bias_filler", 8, "msg:FillerParameter"), ("engine", 15, "enum:Engine", "?", "DEFAULT"),
                             ("axis", 16, "int32", "?", "1"), ("force_nd_im2col", 17, "bool", "?", "false")],
    "CropParameter": [("axis", 1, "int32", "?", "2"), ("offset", 2, "uint32", "*")],
    "DropoutParameter": [("dropout_ratio", 1, "float", "?", "0.5")],
    "EltwiseParameter": [("operation", 1, "enum:EltwiseParameter.EltwiseOp", "?", "SUM"),
                         ("coeff", 2, "float", "*"), ("stable_prod_grad", 3, "bool", "?", "true")],
    "ELUParameter": [("alpha", 1, "float", "?", "1")],
    "ExpParameter": [("base", 1, "float", "?", "-1"), ("scale", 2, "float", "?", "1"),
                     ("shift", 3, "float", "?", "0")],
    "FlattenParameter": [("axis", 1, "int32", "?", "1"), ("end_axis", 2, "int32", "?", "-1")],
    "InnerProductParameter": [("num_output", 1, "uint32"), ("bias_term", 2, "bool", "?", "true"),
                              ("weight_filler", 3, "msg:FillerParameter"), ("bias_filler", 4, "msg:FillerParameter"),
                              ("axis", 5, "int32", "?", "1"), ("transpose", 6, "bool", "?", "false")],
    "InputParameter": [("shape", 1, "msg:BlobShape", "*")],
    "LogParameter": [("base", 1, "float", "?", "-1"), ("scale", 2, "float", "?", "1"),
                     ("shift", 3, "float", "?", "0")],
    "LRNParameter": [("local_size", 1, "uint32", "?", "5"), ("alpha", 2, "float", "?", "1"),
                     ("beta", 3, "float", "?", "0.75"),
                     ("norm_region", 4, "enum:LRNParameter.NormRegion", "?", "ACROSS_CHANNELS"),
                     ("k", 5, "float", "?", "1"), ("engine", 6, "enum:Engine", "?", "DEFAULT")],
    "PoolingParameter": [("pool", 1, "enum:PoolingParameter.PoolMethod", "?", "MAX"), ("pad", 4, "uint32", "?", "0"),
                         ("pad_h", 9, "uint32", "?", "0"), ("pad_w", 10, "uint32", "?", "0"),
                         ("kernel_size", 2, "uint32"), ("kernel_h", 5, "uint32"), ("kernel_w", 6, "uint32"),
                         ("stride", 3, "uint32", "?", "1"), ("stride_h", 7, "uint32"), ("stride_w", 8, "uint32"),
                         ("engine", 11, "enum:Engine", "?", "DEFAULT"), ("global_pooling", 12, "bool", "?", "false"),
                         ("round_mode", 13, "enum:PoolingParameter.RoundMode", "?", "CEIL")],
    "PowerParameter": [("power", 1, "float", "?", "1"), ("scale", 2, "float", "?", "1"),
                       ("shift", 3, "float", "?", "0")],
    "PReLUParameter": [("filler", 1, "msg:FillerParameter"), ("channel_shared", 2, "bool", "?", "false")],
    "ReductionParameter": [("operation", 1, "enum:ReductionParameter.ReductionOp", "?", "SUM"),
                           ("axis", 2, "int32", "?", "0"), ("coeff", 3, "float", "?", "1")],
    "ReLUParameter": [("negative_slope", 1, "float", "?", "0"), ("engine", 2, "enum:Engine", "?", "DEFAULT")],
    "ReshapeParameter": [("shape", 1, "msg:BlobShape"), ("axis", 2, "int32", "?", "0"),
                         ("num_axes", 3, "int32", "?", "-1")],
    "ScaleParameter": [("axis", 1, "int32", "?", "1"), ("num_axes", 2, "int32", "?", "1"),
                       ("filler", 3, "msg:FillerParameter"), ("bias_term", 4, "bool", "?", "false"),
                       ("bias_filler", 5, "msg:FillerParameter")],
    "SigmoidParameter": [("engine", 1, "enum:Engine", "?", "DEFAULT")],
    "SliceParameter": [("axis", 3, "int32", "?", "1"), ("slice_point", 2, "uint32", "*"),
                       ("slice_dim", 1, "uint32", "?", "1")],
    "SoftmaxParameter": [("engine", 1, "enum:Engine", "?", "DEFAULT"), ("axis", 2, "int32", "?", "1")],
    "TanHParameter": [("engine", 1, "enum:Engine", "?", "DEFAULT")],
    "ThresholdParameter": [("threshold", 1, "float", "?", "0")],
    "TileParameter": [("axis", 1, "int32", "?", "1"), ("tiles", 2, "int32")],
    "PermuteParameter": [("order", 1, "uint32", "*")],
    "PythonParameter": [("module", 1, "string"), ("layer", 2, "string"), ("param_str", 3, "string"),
                        ("share_in_parallel", 4, "bool", "?", "false")],
    "LayerParameter": [
        ("name", 1, "string"), ("type", 2, "string"), ("bottom", 3, "string", "*"), ("top", 4, "string", "*"),
        ("phase", 10, "enum:Phase"), ("loss_weight", 5, "float", "*"), ("param", 6, "msg:ParamSpec", "*"),
        ("blobs", 7, "msg:BlobProto", "*"), ("propagate_down", 11, "bool", "*"),
        ("include", 8, "msg:NetStateRule", "*"), ("exclude", 9, "msg:NetStateRule", "*"),
        ("transform_param", 100, "msg:TransformationParameter"), ("loss_param", 101, "msg:LossParameter"),
        ("accuracy_param", 102, "msg:AccuracyParameter"), ("argmax_param", 103, "msg:ArgMaxParameter"),
        ("batch_norm_param", 139, "msg:BatchNormParameter"), ("bias_param", 141, "msg:BiasParameter"),
        ("concat_param", 104, "msg:ConcatParameter"), ("convolution_param", 106, "msg:ConvolutionParameter"),
        ("crop_param", 144, "msg:CropParameter"), ("dropout_param", 108, "msg:DropoutParameter"),
        ("eltwise_param", 110, "msg:EltwiseParameter"), ("elu_param", 140, "msg:ELUParameter"),
        ("exp_param", 111, "msg:ExpParameter"), ("flatten_param", 135, "msg:FlattenParameter"),
        ("inner_product_param", 117, "msg:InnerProductParameter"), ("input_param", 143, "msg:InputParameter"),
        ("log_param", 134, "msg:LogParameter"), ("lrn_param", 118, "msg:LRNParameter"),
        ("pooling_param", 121, "msg:PoolingParameter"), ("power_param", 122, "msg:PowerParameter"),
        ("prelu_param", 131, "msg:PReLUParameter"), ("python_param", 130, "msg:PythonParameter"),
        ("reduction_param", 136, "msg:ReductionParameter"), ("relu_param", 123, "msg:ReLUParameter"),
        ("reshape_param", 133, "msg:ReshapeParameter"), ("scale_param", 142, "msg:ScaleParameter"),
        ("sigmoid_param", 124, "msg:SigmoidParameter"), ("softmax_param", 125, "msg:SoftmaxParameter"),
        ("slice_param", 126, "msg:SliceParameter"), ("tanh_param", 127, "msg:TanHParameter"),
        ("threshold_param", 128, "msg:ThresholdParameter"), ("tile_param", 138, "msg:TileParameter"),
        ("permute_param", 202, "msg:PermuteParameter")],
    "V1LayerParameter": [
        ("bottom", 2, "string", "*"), ("top", 3, "string", "*"), ("name", 4, "string"),
        ("include", 32, "msg:NetStateRule", "*"), ("exclude", 33, "msg:NetStateRule", "*"),
        ("type", 5, "enum:V1LayerParameter.LayerType"), ("blobs", 6, "msg:BlobProto", "*"),
        ("param", 1001, "string", "*"), ("blobs_lr", 7, "float", "*"), ("weight_decay", 8, "float", "*"),
        ("loss_weight", 35, "float", "*"),
        ("accuracy_param", 27, "msg:AccuracyParameter"), ("argmax_param", 23, "msg:ArgMaxParameter"),
        ("concat_param", 9, "msg:ConcatParameter"), ("convolution_param", 10, "msg:ConvolutionParameter"),
        ("dropout_param", 12, "msg:DropoutParameter"), ("eltwise_param", 24, "msg:EltwiseParameter"),
        ("exp_param", 41, "msg:ExpParameter"), ("inner_product_param", 17, "msg:InnerProductParameter"),
        ("lrn_param", 18, "msg:LRNParameter"), ("pooling_param", 19, "msg:PoolingParameter"),
        ("power_param", 21, "msg:PowerParameter"), ("relu_param", 30, "msg:ReLUParameter"),
        ("sigmoid_param", 38, "msg:SigmoidParameter"), ("softmax_param", 39, "msg:SoftmaxParameter"),
        ("slice_param", 31, "msg:SliceParameter"), ("tanh_param", 37, "msg:TanHParameter"),
        ("threshold_param", 25, "msg:ThresholdParameter"), ("transform_param", 36, "msg:TransformationParameter"),
        ("loss_param", 42, "msg:LossParameter")],
}


def _build():
    fdp = descriptor_pb2.FileDescriptorProto(name="gie_caffe_subset.proto", package="caffe", syntax="proto2")
    top_enums = {k: v for k, v in _ENUMS.items() if "." not in k}
    for name, values in top_enums.items():
        e = fdp.enum_type.add(name=name)
        for vn, num in values:
            e.value.add(name=vn, number=num)
    for mname, fields in _MESSAGES.items():
        m = fdp.message_type.add(name=mname)
        for ename, values in _ENUMS.items():
            if ename.startswith(mname + "."):
                e = m.enum_type.add(name=ename.split(".", 1)[1])
                for vn, num in values:
                    e.value.add(name=vn, number=num)
        for spec in fields:
            fname, num, ftype = spec[:3]
            label = spec[3] if len(spec) > 3 else "?"
            default = spec[4] if len(spec) > 4 else None
            f = m.field.add(name=fname, number=num)
            f.label = _F.LABEL_REPEATED if label.startswith("*") else _F.LABEL_OPTIONAL
            if label == "*p":
                f.options.packed = True
            if ftype.startswith("msg:"):
                f.type, f.type_name = _F.TYPE_MESSAGE, ".caffe." + ftype[4:]
            elif ftype.startswith("enum:"):
                f.type, f.type_name = _F.TYPE_ENUM, ".caffe." + ftype[5:]
            else:
                f.type = _T[ftype]
            if default is not None:
                f.default_value = default
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    classes = {}
    for mname in _MESSAGES:
        classes[mname] = message_factory.GetMessageClass(pool.FindMessageTypeByName("caffe." + mname))
    return classes


_CLASSES = _build()
globals().update(_CLASSES)

V1_TYPES = {num: name for name, num in _ENUMS["V1LayerParameter.LayerType"]}

__all__ = list(_CLASSES) + ["V1_TYPES"]
