// A careful reader of protobuf text format for the Caffe schema (caffe_schema.h): deploy prototxts.
//
// Bounded everywhere: a token longer than kMaxToken bytes, nesting deeper than kMaxDepth and values out of
// their field's range are refused with kINVALID_MODEL "<name>: prototxt syntax error: LINE:COL : what".
// Like protobuf's text_format.Merge, a non-repeated field given twice keeps the last value and unknown
// fields are refused, except blocks named "*_param" inside a layer that the schema does not know: those
// are read without a schema (values typed by how they are written) and handed to plugins as fields.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "parsers/caffe/caffe_schema.h"

namespace gie {
namespace caffe {

constexpr size_t kMaxToken = size_t(1) << 20;
constexpr int kMaxDepth = 100;

//! Parses `text` as a caffe.NetParameter. `name` names the document in messages.
std::shared_ptr<Message> parsePrototxt(const std::string& text, const std::string& name);

}  // namespace caffe
}  // namespace gie
