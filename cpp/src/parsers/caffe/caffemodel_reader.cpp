#include "parsers/caffe/caffemodel_reader.h"

#include "common/error.h"
#include "parsers/common/protobuf_wire.h"

namespace gie {
namespace caffe {
namespace {

using wire::WireReader;

Value messageValue(std::shared_ptr<Message> m) {
    Value v;
    v.kind = Value::Kind::kMessage;
    v.m = std::move(m);
    return v;
}

Value intValue(int64_t i) {
    Value v;
    v.kind = Value::Kind::kInt;
    v.i = i;
    return v;
}

std::shared_ptr<Message> readBlobShape(WireReader r) {
    auto m = std::make_shared<Message>();
    m->spec = findMessage("BlobShape");
    std::vector<int64_t> dims;
    while (r.next()) {
        if (r.field() == 1) r.appendInt64s(dims);
        else r.skip();
    }
    Field& f = m->add("dim", m->spec->field("dim"));
    for (int64_t d : dims) f.values.push_back(intValue(d));
    return m;
}

std::shared_ptr<Message> readBlob(WireReader r) {
    auto m = std::make_shared<Message>();
    m->spec = findMessage("BlobProto");
    std::vector<float> data;
    std::vector<double> ddata;
    while (r.next()) {
        switch (r.field()) {
            case 7: {
                Field& f = m->add("shape", m->spec->field("shape"));
                f.values.clear();
                f.values.push_back(messageValue(readBlobShape(r.message("BlobShape"))));
                break;
            }
            case 5: r.appendFloats(data); break;
            case 8: r.appendDoubles(ddata); break;
            case 1: case 2: case 3: case 4: {
                static const char* const names[] = {"", "num", "channels", "height", "width"};
                const char* n = names[r.field()];
                Field& f = m->add(n, m->spec->field(n));
                f.values.clear();
                f.values.push_back(intValue(r.int32()));
                break;
            }
            default: r.skip();
        }
    }
    if (!data.empty()) m->add("data", m->spec->field("data")).f32 = std::move(data);
    if (!ddata.empty()) m->add("double_data", m->spec->field("double_data")).f64 = std::move(ddata);
    return m;
}

//! A LayerParameter (v1 = false: name 1, blobs 7) or a V1LayerParameter (name 4, blobs 6).
std::shared_ptr<Message> readLayer(WireReader r, bool v1) {
    auto m = std::make_shared<Message>();
    m->spec = findMessage(v1 ? "V1LayerParameter" : "LayerParameter");
    const uint32_t nameField = v1 ? 4 : 1, blobsField = v1 ? 6 : 7;
    while (r.next()) {
        if (r.field() == nameField) {
            Field& f = m->add("name", m->spec->field("name"));
            f.values.clear();
            Value v;
            v.kind = Value::Kind::kString;
            v.s = r.string();
            f.values.push_back(v);
        } else if (r.field() == blobsField) {
            m->add("blobs", m->spec->field("blobs")).values.push_back(messageValue(readBlob(r.message("BlobProto"))));
        } else {
            r.skip();
        }
    }
    return m;
}

}  // namespace

std::shared_ptr<Message> parseCaffemodel(const void* data, size_t size) {
    auto net = std::make_shared<Message>();
    net->spec = findMessage("NetParameter");
    try {
        WireReader r(data, size, "caffemodel", "NetParameter");
        while (r.next()) {
            if (r.field() == 100) net->add("layer", net->spec->field("layer")).values.push_back(messageValue(readLayer(r.message("LayerParameter"), false)));
            else if (r.field() == 2) net->add("layers", net->spec->field("layers")).values.push_back(messageValue(readLayer(r.message("V1LayerParameter"), true)));
            else r.skip();
        }
    } catch (const Error& e) {
        if (e.code() == ErrorCode::kOUT_OF_MEMORY) throw;
        fail(ErrorCode::kINVALID_MODEL, "caffemodel is truncated or corrupt: ", e.what());
    }
    return net;
}

}  // namespace caffe
}  // namespace gie
