// The caffemodel (binary caffe.NetParameter) reader: only what the importer uses — each layer's name and
// blobs, from both `layer` (V2) and `layers` (V1) — through the bounded protobuf wire reader. The other
// fields are skipped (still checked for well-formed wire structure).
#pragma once

#include <memory>
#include <string>

#include "parsers/caffe/caffe_schema.h"

namespace gie {
namespace caffe {

//! A NetParameter message tree holding `layer` / `layers` entries with `name` and `blobs`. Throws
//! kINVALID_MODEL "caffemodel is truncated or corrupt: ..." on malformed input.
std::shared_ptr<Message> parseCaffemodel(const void* data, size_t size);

}  // namespace caffe
}  // namespace gie
