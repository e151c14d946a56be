// Fuzz target: the Darknet .weights reader (input: a weights file for the fixed cfg of
// tests/fuzz_corpus/darknet/seed0.cfg, whose .weights files are the seeds).
#include "caffe_darknet_fuzz.h"

static const char kCfg[] = "[net]\nbatch=1\nwidth=5\nheight=5\nchannels=2\n\n[convolutional]\nbatch_normalize=1\nfilters=3\n"
                           "size=3\npad=1\nactivation=leaky\n[connected]\noutput=4\nactivation=linear\n";

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::darknet(reinterpret_cast<const uint8_t*>(kCfg), sizeof kCfg - 1, data, size, true);
    return 0;
}
