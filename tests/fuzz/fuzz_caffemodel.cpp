// Fuzz target: the caffemodel (binary) reader and the use of its blobs (input: a caffemodel for a fixed net
// whose layer names match the seeds in tests/fuzz_corpus/caffe).
#include "caffe_darknet_fuzz.h"

static const char kNet[] = R"(name: "tiny"
input: "data"
input_shape { dim: 2 dim: 3 dim: 5 dim: 5 }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 4 kernel_size: 3 pad: 1 stride: 2 } }
layer { name: "bn" type: "BatchNorm" bottom: "conv" top: "conv" }
layer { name: "sc" type: "Scale" bottom: "conv" top: "conv" scale_param { bias_term: true } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" relu_param { negative_slope: 0.1 } }
layer { name: "fc" type: "InnerProduct" bottom: "conv" top: "fc" inner_product_param { num_output: 6 } }
)";

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::caffe(reinterpret_cast<const uint8_t*>(kNet), sizeof kNet - 1, data, size, true);
    return 0;
}
