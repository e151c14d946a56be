// Generated from the tables of the former python/gie/parsers/caffe_schema.py (BVLC caffe.proto field names
// and numbers, permute_param = 202 and the SSD blocks prior_box_param / detection_output_param /
// norm_param of the SSD fork). Edit here.
#include "parsers/caffe/caffe_schema.h"

namespace gie {
namespace caffe {

const std::vector<EnumSpec>& enumSpecs() {
    static const std::vector<EnumSpec> enums = {
        {"Phase", {{"TRAIN", 0}, {"TEST", 1}}},
        {"FillerParameter.VarianceNorm", {{"FAN_IN", 0}, {"FAN_OUT", 1}, {"AVERAGE", 2}}},
        {"Engine", {{"DEFAULT", 0}, {"CAFFE", 1}, {"CUDNN", 2}}},
        {"PoolingParameter.PoolMethod", {{"MAX", 0}, {"AVE", 1}, {"STOCHASTIC", 2}}},
        {"PoolingParameter.RoundMode", {{"CEIL", 0}, {"FLOOR", 1}}},
        {"LRNParameter.NormRegion", {{"ACROSS_CHANNELS", 0}, {"WITHIN_CHANNEL", 1}}},
        {"EltwiseParameter.EltwiseOp", {{"PROD", 0}, {"SUM", 1}, {"MAX", 2}}},
        {"ReductionParameter.ReductionOp", {{"SUM", 1}, {"ASUM", 2}, {"SUMSQ", 3}, {"MEAN", 4}}},
        {"ParamSpec.DimCheckMode", {{"STRICT", 0}, {"PERMISSIVE", 1}}},
        {"V1LayerParameter.LayerType", {{"NONE", 0}, {"ABSVAL", 35}, {"ACCURACY", 1}, {"ARGMAX", 30}, {"BNLL", 2}, {"CONCAT", 3}, {"CONTRASTIVE_LOSS", 37}, {"CONVOLUTION", 4}, {"DATA", 5}, {"DECONVOLUTION", 39}, {"DROPOUT", 6}, {"DUMMY_DATA", 32}, {"EUCLIDEAN_LOSS", 7}, {"ELTWISE", 25}, {"EXP", 38}, {"FLATTEN", 8}, {"HDF5_DATA", 9}, {"HDF5_OUTPUT", 10}, {"HINGE_LOSS", 28}, {"IM2COL", 11}, {"IMAGE_DATA", 12}, {"INFOGAIN_LOSS", 13}, {"INNER_PRODUCT", 14}, {"LRN", 15}, {"MEMORY_DATA", 29}, {"MULTINOMIAL_LOGISTIC_LOSS", 16}, {"MVN", 34}, {"POOLING", 17}, {"POWER", 26}, {"RELU", 18}, {"SIGMOID", 19}, {"SIGMOID_CROSS_ENTROPY_LOSS", 27}, {"SILENCE", 36}, {"SOFTMAX", 20}, {"SOFTMAX_LOSS", 21}, {"SPLIT", 22}, {"SLICE", 33}, {"TANH", 23}, {"WINDOW_DATA", 24}, {"THRESHOLD", 31}}},
        {"PriorBoxParameter.CodeType", {{"CORNER", 1}, {"CENTER_SIZE", 2}, {"CORNER_SIZE", 3}}},
    };
    return enums;
}

const std::vector<MessageSpec>& messageSpecs() {
    static const std::vector<MessageSpec> messages = {
        {"BlobShape", {
            {"dim", 1, "int64", Label::kPacked, nullptr}}},
        {"BlobProto", {
            {"shape", 7, "msg:BlobShape", Label::kOptional, nullptr},
            {"data", 5, "float", Label::kPacked, nullptr},
            {"diff", 6, "float", Label::kPacked, nullptr},
            {"double_data", 8, "double", Label::kPacked, nullptr},
            {"double_diff", 9, "double", Label::kPacked, nullptr},
            {"num", 1, "int32", Label::kOptional, "0"},
            {"channels", 2, "int32", Label::kOptional, "0"},
            {"height", 3, "int32", Label::kOptional, "0"},
            {"width", 4, "int32", Label::kOptional, "0"}}},
        {"BlobProtoVector", {
            {"blobs", 1, "msg:BlobProto", Label::kRepeated, nullptr}}},
        {"FillerParameter", {
            {"type", 1, "string", Label::kOptional, "constant"},
            {"value", 2, "float", Label::kOptional, "0"},
            {"min", 3, "float", Label::kOptional, "0"},
            {"max", 4, "float", Label::kOptional, "1"},
            {"mean", 5, "float", Label::kOptional, "0"},
            {"std", 6, "float", Label::kOptional, "1"},
            {"sparse", 7, "int32", Label::kOptional, "-1"},
            {"variance_norm", 8, "enum:FillerParameter.VarianceNorm", Label::kOptional, "FAN_IN"}}},
        {"NetState", {
            {"phase", 1, "enum:Phase", Label::kOptional, "TEST"},
            {"level", 2, "int32", Label::kOptional, "0"},
            {"stage", 3, "string", Label::kRepeated, nullptr}}},
        {"NetStateRule", {
            {"phase", 1, "enum:Phase", Label::kOptional, nullptr},
            {"min_level", 2, "int32", Label::kOptional, nullptr},
            {"max_level", 3, "int32", Label::kOptional, nullptr},
            {"stage", 4, "string", Label::kRepeated, nullptr},
            {"not_stage", 5, "string", Label::kRepeated, nullptr}}},
        {"ParamSpec", {
            {"name", 1, "string", Label::kOptional, nullptr},
            {"share_mode", 2, "enum:ParamSpec.DimCheckMode", Label::kOptional, nullptr},
            {"lr_mult", 3, "float", Label::kOptional, "1"},
            {"decay_mult", 4, "float", Label::kOptional, "1"}}},
        {"NetParameter", {
            {"name", 1, "string", Label::kOptional, nullptr},
            {"input", 3, "string", Label::kRepeated, nullptr},
            {"input_shape", 8, "msg:BlobShape", Label::kRepeated, nullptr},
            {"input_dim", 4, "int32", Label::kRepeated, nullptr},
            {"force_backward", 5, "bool", Label::kOptional, "false"},
            {"state", 6, "msg:NetState", Label::kOptional, nullptr},
            {"debug_info", 7, "bool", Label::kOptional, "false"},
            {"layer", 100, "msg:LayerParameter", Label::kRepeated, nullptr},
            {"layers", 2, "msg:V1LayerParameter", Label::kRepeated, nullptr}}},
        {"TransformationParameter", {
            {"scale", 1, "float", Label::kOptional, "1"},
            {"mirror", 2, "bool", Label::kOptional, "false"},
            {"crop_size", 3, "uint32", Label::kOptional, "0"},
            {"mean_file", 4, "string", Label::kOptional, nullptr},
            {"mean_value", 5, "float", Label::kRepeated, nullptr},
            {"force_color", 6, "bool", Label::kOptional, "false"},
            {"force_gray", 7, "bool", Label::kOptional, "false"}}},
        {"LossParameter", {
            {"ignore_label", 1, "int32", Label::kOptional, nullptr},
            {"normalize", 2, "bool", Label::kOptional, nullptr}}},
        {"AccuracyParameter", {
            {"top_k", 1, "uint32", Label::kOptional, "1"},
            {"axis", 2, "int32", Label::kOptional, "1"},
            {"ignore_label", 3, "int32", Label::kOptional, nullptr}}},
        {"ArgMaxParameter", {
            {"out_max_val", 1, "bool", Label::kOptional, "false"},
            {"top_k", 2, "uint32", Label::kOptional, "1"},
            {"axis", 3, "int32", Label::kOptional, nullptr}}},
        {"ConcatParameter", {
            {"axis", 2, "int32", Label::kOptional, "1"},
            {"concat_dim", 1, "uint32", Label::kOptional, "1"}}},
        {"BatchNormParameter", {
            {"use_global_stats", 1, "bool", Label::kOptional, nullptr},
            {"moving_average_fraction", 2, "float", Label::kOptional, "0.999"},
            {"eps", 3, "float", Label::kOptional, "1e-5"}}},
        {"BiasParameter", {
            {"axis", 1, "int32", Label::kOptional, "1"},
            {"num_axes", 2, "int32", Label::kOptional, "1"},
            {"filler", 3, "msg:FillerParameter", Label::kOptional, nullptr}}},
        {"ConvolutionParameter", {
            {"num_output", 1, "uint32", Label::kOptional, nullptr},
            {"bias_term", 2, "bool", Label::kOptional, "true"},
            {"pad", 3, "uint32", Label::kRepeated, nullptr},
            {"kernel_size", 4, "uint32", Label::kRepeated, nullptr},
            {"stride", 6, "uint32", Label::kRepeated, nullptr},
            {"dilation", 18, "uint32", Label::kRepeated, nullptr},
            {"pad_h", 9, "uint32", Label::kOptional, "0"},
            {"pad_w", 10, "uint32", Label::kOptional, "0"},
            {"kernel_h", 11, "uint32", Label::kOptional, nullptr},
            {"kernel_w", 12, "uint32", Label::kOptional, nullptr},
            {"stride_h", 13, "uint32", Label::kOptional, nullptr},
            {"stride_w", 14, "uint32", Label::kOptional, nullptr},
            {"group", 5, "uint32", Label::kOptional, "1"},
            {"weight_filler", 7, "msg:FillerParameter", Label::kOptional, nullptr},
            {"bias_filler", 8, "msg:FillerParameter", Label::kOptional, nullptr},
            {"engine", 15, "enum:Engine", Label::kOptional, "DEFAULT"},
            {"axis", 16, "int32", Label::kOptional, "1"},
            {"force_nd_im2col", 17, "bool", Label::kOptional, "false"}}},
        {"CropParameter", {
            {"axis", 1, "int32", Label::kOptional, "2"},
            {"offset", 2, "uint32", Label::kRepeated, nullptr}}},
        {"DropoutParameter", {
            {"dropout_ratio", 1, "float", Label::kOptional, "0.5"}}},
        {"EltwiseParameter", {
            {"operation", 1, "enum:EltwiseParameter.EltwiseOp", Label::kOptional, "SUM"},
            {"coeff", 2, "float", Label::kRepeated, nullptr},
            {"stable_prod_grad", 3, "bool", Label::kOptional, "true"}}},
        {"ELUParameter", {
            {"alpha", 1, "float", Label::kOptional, "1"}}},
        {"ExpParameter", {
            {"base", 1, "float", Label::kOptional, "-1"},
            {"scale", 2, "float", Label::kOptional, "1"},
            {"shift", 3, "float", Label::kOptional, "0"}}},
        {"FlattenParameter", {
            {"axis", 1, "int32", Label::kOptional, "1"},
            {"end_axis", 2, "int32", Label::kOptional, "-1"}}},
        {"InnerProductParameter", {
            {"num_output", 1, "uint32", Label::kOptional, nullptr},
            {"bias_term", 2, "bool", Label::kOptional, "true"},
            {"weight_filler", 3, "msg:FillerParameter", Label::kOptional, nullptr},
            {"bias_filler", 4, "msg:FillerParameter", Label::kOptional, nullptr},
            {"axis", 5, "int32", Label::kOptional, "1"},
            {"transpose", 6, "bool", Label::kOptional, "false"}}},
        {"InputParameter", {
            {"shape", 1, "msg:BlobShape", Label::kRepeated, nullptr}}},
        {"LogParameter", {
            {"base", 1, "float", Label::kOptional, "-1"},
            {"scale", 2, "float", Label::kOptional, "1"},
            {"shift", 3, "float", Label::kOptional, "0"}}},
        {"LRNParameter", {
            {"local_size", 1, "uint32", Label::kOptional, "5"},
            {"alpha", 2, "float", Label::kOptional, "1"},
            {"beta", 3, "float", Label::kOptional, "0.75"},
            {"norm_region", 4, "enum:LRNParameter.NormRegion", Label::kOptional, "ACROSS_CHANNELS"},
            {"k", 5, "float", Label::kOptional, "1"},
            {"engine", 6, "enum:Engine", Label::kOptional, "DEFAULT"}}},
        {"PoolingParameter", {
            {"pool", 1, "enum:PoolingParameter.PoolMethod", Label::kOptional, "MAX"},
            {"pad", 4, "uint32", Label::kOptional, "0"},
            {"pad_h", 9, "uint32", Label::kOptional, "0"},
            {"pad_w", 10, "uint32", Label::kOptional, "0"},
            {"kernel_size", 2, "uint32", Label::kOptional, nullptr},
            {"kernel_h", 5, "uint32", Label::kOptional, nullptr},
            {"kernel_w", 6, "uint32", Label::kOptional, nullptr},
            {"stride", 3, "uint32", Label::kOptional, "1"},
            {"stride_h", 7, "uint32", Label::kOptional, nullptr},
            {"stride_w", 8, "uint32", Label::kOptional, nullptr},
            {"engine", 11, "enum:Engine", Label::kOptional, "DEFAULT"},
            {"global_pooling", 12, "bool", Label::kOptional, "false"},
            {"round_mode", 13, "enum:PoolingParameter.RoundMode", Label::kOptional, "CEIL"}}},
        {"PowerParameter", {
            {"power", 1, "float", Label::kOptional, "1"},
            {"scale", 2, "float", Label::kOptional, "1"},
            {"shift", 3, "float", Label::kOptional, "0"}}},
        {"PReLUParameter", {
            {"filler", 1, "msg:FillerParameter", Label::kOptional, nullptr},
            {"channel_shared", 2, "bool", Label::kOptional, "false"}}},
        {"ReductionParameter", {
            {"operation", 1, "enum:ReductionParameter.ReductionOp", Label::kOptional, "SUM"},
            {"axis", 2, "int32", Label::kOptional, "0"},
            {"coeff", 3, "float", Label::kOptional, "1"}}},
        {"ReLUParameter", {
            {"negative_slope", 1, "float", Label::kOptional, "0"},
            {"engine", 2, "enum:Engine", Label::kOptional, "DEFAULT"}}},
        {"ReshapeParameter", {
            {"shape", 1, "msg:BlobShape", Label::kOptional, nullptr},
            {"axis", 2, "int32", Label::kOptional, "0"},
            {"num_axes", 3, "int32", Label::kOptional, "-1"}}},
        {"ScaleParameter", {
            {"axis", 1, "int32", Label::kOptional, "1"},
            {"num_axes", 2, "int32", Label::kOptional, "1"},
            {"filler", 3, "msg:FillerParameter", Label::kOptional, nullptr},
            {"bias_term", 4, "bool", Label::kOptional, "false"},
            {"bias_filler", 5, "msg:FillerParameter", Label::kOptional, nullptr}}},
        {"SigmoidParameter", {
            {"engine", 1, "enum:Engine", Label::kOptional, "DEFAULT"}}},
        {"SliceParameter", {
            {"axis", 3, "int32", Label::kOptional, "1"},
            {"slice_point", 2, "uint32", Label::kRepeated, nullptr},
            {"slice_dim", 1, "uint32", Label::kOptional, "1"}}},
        {"SoftmaxParameter", {
            {"engine", 1, "enum:Engine", Label::kOptional, "DEFAULT"},
            {"axis", 2, "int32", Label::kOptional, "1"}}},
        {"TanHParameter", {
            {"engine", 1, "enum:Engine", Label::kOptional, "DEFAULT"}}},
        {"ThresholdParameter", {
            {"threshold", 1, "float", Label::kOptional, "0"}}},
        {"TileParameter", {
            {"axis", 1, "int32", Label::kOptional, "1"},
            {"tiles", 2, "int32", Label::kOptional, nullptr}}},
        {"PermuteParameter", {
            {"order", 1, "uint32", Label::kRepeated, nullptr}}},
        {"PythonParameter", {
            {"module", 1, "string", Label::kOptional, nullptr},
            {"layer", 2, "string", Label::kOptional, nullptr},
            {"param_str", 3, "string", Label::kOptional, nullptr},
            {"share_in_parallel", 4, "bool", Label::kOptional, "false"}}},
        {"LayerParameter", {
            {"name", 1, "string", Label::kOptional, nullptr},
            {"type", 2, "string", Label::kOptional, nullptr},
            {"bottom", 3, "string", Label::kRepeated, nullptr},
            {"top", 4, "string", Label::kRepeated, nullptr},
            {"phase", 10, "enum:Phase", Label::kOptional, nullptr},
            {"loss_weight", 5, "float", Label::kRepeated, nullptr},
            {"param", 6, "msg:ParamSpec", Label::kRepeated, nullptr},
            {"blobs", 7, "msg:BlobProto", Label::kRepeated, nullptr},
            {"propagate_down", 11, "bool", Label::kRepeated, nullptr},
            {"include", 8, "msg:NetStateRule", Label::kRepeated, nullptr},
            {"exclude", 9, "msg:NetStateRule", Label::kRepeated, nullptr},
            {"transform_param", 100, "msg:TransformationParameter", Label::kOptional, nullptr},
            {"loss_param", 101, "msg:LossParameter", Label::kOptional, nullptr},
            {"accuracy_param", 102, "msg:AccuracyParameter", Label::kOptional, nullptr},
            {"argmax_param", 103, "msg:ArgMaxParameter", Label::kOptional, nullptr},
            {"batch_norm_param", 139, "msg:BatchNormParameter", Label::kOptional, nullptr},
            {"bias_param", 141, "msg:BiasParameter", Label::kOptional, nullptr},
            {"concat_param", 104, "msg:ConcatParameter", Label::kOptional, nullptr},
            {"convolution_param", 106, "msg:ConvolutionParameter", Label::kOptional, nullptr},
            {"crop_param", 144, "msg:CropParameter", Label::kOptional, nullptr},
            {"dropout_param", 108, "msg:DropoutParameter", Label::kOptional, nullptr},
            {"eltwise_param", 110, "msg:EltwiseParameter", Label::kOptional, nullptr},
            {"elu_param", 140, "msg:ELUParameter", Label::kOptional, nullptr},
            {"exp_param", 111, "msg:ExpParameter", Label::kOptional, nullptr},
            {"flatten_param", 135, "msg:FlattenParameter", Label::kOptional, nullptr},
            {"inner_product_param", 117, "msg:InnerProductParameter", Label::kOptional, nullptr},
            {"input_param", 143, "msg:InputParameter", Label::kOptional, nullptr},
            {"log_param", 134, "msg:LogParameter", Label::kOptional, nullptr},
            {"lrn_param", 118, "msg:LRNParameter", Label::kOptional, nullptr},
            {"pooling_param", 121, "msg:PoolingParameter", Label::kOptional, nullptr},
            {"power_param", 122, "msg:PowerParameter", Label::kOptional, nullptr},
            {"prelu_param", 131, "msg:PReLUParameter", Label::kOptional, nullptr},
            {"python_param", 130, "msg:PythonParameter", Label::kOptional, nullptr},
            {"reduction_param", 136, "msg:ReductionParameter", Label::kOptional, nullptr},
            {"relu_param", 123, "msg:ReLUParameter", Label::kOptional, nullptr},
            {"reshape_param", 133, "msg:ReshapeParameter", Label::kOptional, nullptr},
            {"scale_param", 142, "msg:ScaleParameter", Label::kOptional, nullptr},
            {"sigmoid_param", 124, "msg:SigmoidParameter", Label::kOptional, nullptr},
            {"softmax_param", 125, "msg:SoftmaxParameter", Label::kOptional, nullptr},
            {"slice_param", 126, "msg:SliceParameter", Label::kOptional, nullptr},
            {"tanh_param", 127, "msg:TanHParameter", Label::kOptional, nullptr},
            {"threshold_param", 128, "msg:ThresholdParameter", Label::kOptional, nullptr},
            {"tile_param", 138, "msg:TileParameter", Label::kOptional, nullptr},
            {"permute_param", 202, "msg:PermuteParameter", Label::kOptional, nullptr},
            {"prior_box_param", 203, "msg:PriorBoxParameter", Label::kOptional, nullptr},
            {"detection_output_param", 204, "msg:DetectionOutputParameter", Label::kOptional, nullptr},
            {"norm_param", 206, "msg:NormalizeParameter", Label::kOptional, nullptr}}},
        {"V1LayerParameter", {
            {"bottom", 2, "string", Label::kRepeated, nullptr},
            {"top", 3, "string", Label::kRepeated, nullptr},
            {"name", 4, "string", Label::kOptional, nullptr},
            {"include", 32, "msg:NetStateRule", Label::kRepeated, nullptr},
            {"exclude", 33, "msg:NetStateRule", Label::kRepeated, nullptr},
            {"type", 5, "enum:V1LayerParameter.LayerType", Label::kOptional, nullptr},
            {"blobs", 6, "msg:BlobProto", Label::kRepeated, nullptr},
            {"param", 1001, "string", Label::kRepeated, nullptr},
            {"blobs_lr", 7, "float", Label::kRepeated, nullptr},
            {"weight_decay", 8, "float", Label::kRepeated, nullptr},
            {"loss_weight", 35, "float", Label::kRepeated, nullptr},
            {"accuracy_param", 27, "msg:AccuracyParameter", Label::kOptional, nullptr},
            {"argmax_param", 23, "msg:ArgMaxParameter", Label::kOptional, nullptr},
            {"concat_param", 9, "msg:ConcatParameter", Label::kOptional, nullptr},
            {"convolution_param", 10, "msg:ConvolutionParameter", Label::kOptional, nullptr},
            {"dropout_param", 12, "msg:DropoutParameter", Label::kOptional, nullptr},
            {"eltwise_param", 24, "msg:EltwiseParameter", Label::kOptional, nullptr},
            {"exp_param", 41, "msg:ExpParameter", Label::kOptional, nullptr},
            {"inner_product_param", 17, "msg:InnerProductParameter", Label::kOptional, nullptr},
            {"lrn_param", 18, "msg:LRNParameter", Label::kOptional, nullptr},
            {"pooling_param", 19, "msg:PoolingParameter", Label::kOptional, nullptr},
            {"power_param", 21, "msg:PowerParameter", Label::kOptional, nullptr},
            {"relu_param", 30, "msg:ReLUParameter", Label::kOptional, nullptr},
            {"sigmoid_param", 38, "msg:SigmoidParameter", Label::kOptional, nullptr},
            {"softmax_param", 39, "msg:SoftmaxParameter", Label::kOptional, nullptr},
            {"slice_param", 31, "msg:SliceParameter", Label::kOptional, nullptr},
            {"tanh_param", 37, "msg:TanHParameter", Label::kOptional, nullptr},
            {"threshold_param", 25, "msg:ThresholdParameter", Label::kOptional, nullptr},
            {"transform_param", 36, "msg:TransformationParameter", Label::kOptional, nullptr},
            {"loss_param", 42, "msg:LossParameter", Label::kOptional, nullptr}}},
        {"PriorBoxParameter", {
            {"min_size", 1, "float", Label::kRepeated, nullptr},
            {"max_size", 2, "float", Label::kRepeated, nullptr},
            {"aspect_ratio", 3, "float", Label::kRepeated, nullptr},
            {"flip", 4, "bool", Label::kOptional, "true"},
            {"clip", 5, "bool", Label::kOptional, "false"},
            {"variance", 6, "float", Label::kRepeated, nullptr},
            {"img_size", 7, "uint32", Label::kOptional, nullptr},
            {"img_h", 8, "uint32", Label::kOptional, nullptr},
            {"img_w", 9, "uint32", Label::kOptional, nullptr},
            {"step", 10, "float", Label::kOptional, nullptr},
            {"step_h", 11, "float", Label::kOptional, nullptr},
            {"step_w", 12, "float", Label::kOptional, nullptr},
            {"offset", 13, "float", Label::kOptional, "0.5"}}},
        {"NonMaximumSuppressionParameter", {
            {"nms_threshold", 1, "float", Label::kOptional, "0.3"},
            {"top_k", 2, "int32", Label::kOptional, nullptr},
            {"eta", 3, "float", Label::kOptional, "1.0"}}},
        {"SaveOutputParameter", {
            {"output_directory", 1, "string", Label::kOptional, nullptr},
            {"output_name_prefix", 2, "string", Label::kOptional, nullptr},
            {"output_format", 3, "string", Label::kOptional, nullptr},
            {"label_map_file", 4, "string", Label::kOptional, nullptr},
            {"name_size_file", 5, "string", Label::kOptional, nullptr},
            {"num_test_image", 6, "uint32", Label::kOptional, nullptr}}},
        {"DetectionOutputParameter", {
            {"num_classes", 1, "uint32", Label::kOptional, nullptr},
            {"share_location", 2, "bool", Label::kOptional, "true"},
            {"background_label_id", 3, "int32", Label::kOptional, "0"},
            {"nms_param", 4, "msg:NonMaximumSuppressionParameter", Label::kOptional, nullptr},
            {"save_output_param", 5, "msg:SaveOutputParameter", Label::kOptional, nullptr},
            {"code_type", 6, "enum:PriorBoxParameter.CodeType", Label::kOptional, "CORNER"},
            {"variance_encoded_in_target", 8, "bool", Label::kOptional, "false"},
            {"keep_top_k", 7, "int32", Label::kOptional, "-1"},
            {"confidence_threshold", 9, "float", Label::kOptional, nullptr},
            {"visualize", 10, "bool", Label::kOptional, "false"},
            {"visualize_threshold", 11, "float", Label::kOptional, nullptr},
            {"save_file", 12, "string", Label::kOptional, nullptr}}},
        {"NormalizeParameter", {
            {"across_spatial", 1, "bool", Label::kOptional, "true"},
            {"scale_filler", 2, "msg:FillerParameter", Label::kOptional, nullptr},
            {"channel_shared", 3, "bool", Label::kOptional, "true"},
            {"eps", 4, "float", Label::kOptional, "1e-10"}}},
    };
    return messages;
}

}  // namespace caffe
}  // namespace gie
