// Fuzz target: the prototxt text reader and the Caffe layer converters (input: a prototxt, random weights).
#include "caffe_darknet_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::caffe(data, size, nullptr, 0, false);
    return 0;
}
