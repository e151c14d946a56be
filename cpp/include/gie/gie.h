// gie: the whole public C++ API.
#pragma once
#include "gie/types.h"
#include "gie/plugin.h"
#include "gie/network.h"
#include "gie/engine.h"
#include "gie/builder.h"
#include "gie/gpu.h"
#include "gie/onnx_parser.h"
#include "gie/caffe_parser.h"
#include "gie/darknet_parser.h"
