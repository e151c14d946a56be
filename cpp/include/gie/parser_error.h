// gie public API: the error records every model importer (ONNX, Caffe, Darknet) keeps.
//
// A failed parse returns false and keeps one IParserError per problem found: an importer lists every
// unsupported layer / node / section at once (one record each), and stops at the first malformed one
// (one record). The same text is also recorded as the thread's last error (getLastError), joined into one
// message when there are several records.
#pragma once

#include "gie/types.h"

namespace gie {

class IParserError {
public:
    virtual ErrorCode code() const noexcept = 0;
    //! The message, naming the layer/section, field and line where known.
    virtual const char* desc() const noexcept = 0;
    //! The layer (node, section) at fault, "" when the error is not about one layer.
    virtual const char* node() const noexcept = 0;
    //! Its type as the model writes it ("Convolution", "convolutional", ...), "" when unknown.
    virtual const char* nodeType() const noexcept = 0;

protected:
    virtual ~IParserError() = default;
};

}  // namespace gie
