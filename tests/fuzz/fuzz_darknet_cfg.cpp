// Fuzz target: the Darknet cfg reader and section emitters (input: a cfg, random weights).
#include "caffe_darknet_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::darknet(data, size, nullptr, 0, false);
    return 0;
}
