// The C++ ONNX importer (gie/onnx_parser.h) without Python: a model encoded here (dynamic batch, a shape
// subgraph Shape -> Gather -> Unsqueeze -> Concat -> Reshape that must fold, then Relu) parses from memory
// and from a file, builds for the CPU and runs at another batch; every unsupported node is listed at once
// with its name and op type; a truncated model, an escaping external-data path and a second parse are
// refused; a model the batch path refuses (a Gather of dimension 0 after a Transpose) is imported again with
// dimension 0 dynamic, leaving what the network held before the parse as it was. Prints "N passed, M failed";
// exit code != 0 on failure.
#include <cctype>
#include <cmath>
#include <unistd.h>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gie/gie.h"
#include "gie/onnx_parser.h"
#include "protobuf_encode.h"

using namespace pbenc;

namespace {

int gPassed = 0, gFailed = 0;
void check(bool ok, const std::string& what) {
  if (ok) {
    ++gPassed;
  } else {
    ++gFailed;
    std::printf("FAIL: %s\n", what.c_str());
  }
}

struct Quiet : gie::ILogger {
  void log(Severity, const char*) noexcept override {}
};

// ONNX messages (field numbers of onnx.proto).
Buf valueInfo(const std::string& name, int elemType, const std::vector<std::string>& dims) {
  Buf shape;
  for (const auto& d : dims) {
    Buf dim;
    if (!d.empty() && (std::isdigit(static_cast<unsigned char>(d[0])))) intField(dim, 1, std::stoll(d));
    else lenField(dim, 2, d);
    lenField(shape, 1, dim);
  }
  Buf tensorType;
  intField(tensorType, 1, elemType);
  lenField(tensorType, 2, shape);
  Buf type;
  lenField(type, 1, tensorType);
  Buf vi;
  lenField(vi, 1, name);
  lenField(vi, 2, type);
  return vi;
}

Buf int64Tensor(const std::string& name, const std::vector<int64_t>& dims, const std::vector<int64_t>& v) {
  Buf t;
  if (!dims.empty()) packedInts(t, 1, dims);
  intField(t, 2, 7);  // INT64
  packedInts(t, 7, v);
  lenField(t, 8, name);
  return t;
}

Buf node(const std::string& op, const std::vector<std::string>& ins, const std::vector<std::string>& outs,
         const std::string& name, const Buf& attrs = Buf()) {
  Buf n;
  for (const auto& i : ins) lenField(n, 1, i);
  for (const auto& o : outs) lenField(n, 2, o);
  if (!name.empty()) lenField(n, 3, name);
  lenField(n, 4, op);
  n += attrs;
  return n;
}

Buf intAttr(const std::string& name, int64_t v) {
  Buf a;
  lenField(a, 1, name);
  intField(a, 20, 2);  // INT
  intField(a, 3, v);
  Buf out;
  lenField(out, 5, a);
  return out;
}

Buf model(const std::vector<Buf>& nodes, const std::vector<Buf>& inits, const std::vector<Buf>& inputs,
          const std::vector<Buf>& outputs) {
  Buf g;
  for (const auto& n : nodes) lenField(g, 1, n);
  lenField(g, 2, "g");
  for (const auto& t : inits) lenField(g, 5, t);
  for (const auto& i : inputs) lenField(g, 11, i);
  for (const auto& o : outputs) lenField(g, 12, o);
  Buf opset;
  lenField(opset, 1, "");
  intField(opset, 2, 13);
  Buf m;
  intField(m, 1, 8);
  lenField(m, 8, opset);
  lenField(m, 7, g);
  return m;
}

Buf reshapeModel() {
  return model({node("Shape", {"x"}, {"s"}, "shape"), node("Gather", {"s", "zero"}, {"b"}, "gather", intAttr("axis", 0)),
                node("Unsqueeze", {"b", "axes"}, {"b1"}, "unsq"), node("Concat", {"b1", "c48"}, {"shp"}, "cat", intAttr("axis", 0)),
                node("Reshape", {"x", "shp"}, {"r"}, "reshape"), node("Relu", {"r"}, {"y"}, "relu")},
               {int64Tensor("zero", {}, {0}), int64Tensor("axes", {1}, {0}), int64Tensor("c48", {1}, {48})},
               {valueInfo("x", 1, {"N", "3", "4", "4"})}, {valueInfo("y", 1, {"N", "48"})});
}

void buildAndRun(gie::IBuilder& builder, gie::INetworkDefinition& net, const std::string& what) {
  std::unique_ptr<gie::IBuilderConfig> cfg(builder.createBuilderConfig());
  cfg->setDevice(gie::DeviceType::kCPU);
  cfg->setBatchRange(1, 2, 4);
  std::unique_ptr<gie::IEngine> engine(builder.buildEngine(net, *cfg));
  check(engine != nullptr, what + ": engine built");
  if (!engine) return;
  std::unique_ptr<gie::IExecutionContext> ctx(engine->createExecutionContext());
  const int64_t batch = 3;
  std::vector<float> x(size_t(batch * 48)), y(size_t(batch * 48), NAN);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 7) - 3) * 0.5f;
  check(ctx->setInputShape("x", gie::dims4(batch, 3, 4, 4)), what + ": batch 3");
  const gie::Dims ys = ctx->getTensorShape("y");
  check(ys.nbDims == 2 && ys.d[0] == batch && ys.d[1] == 48, what + ": output (3, 48): the shape subgraph folded to a batch copy");
  ctx->setTensorAddress("x", x.data());
  ctx->setTensorAddress("y", y.data());
  check(ctx->execute(), what + ": execute");
  bool same = true;
  for (size_t i = 0; i < x.size(); ++i) same = same && y[i] == std::max(x[i], 0.f);
  check(same, what + ": outputs are relu(x)");
}

void importsAndRuns() {
  Quiet logger;
  std::unique_ptr<gie::IBuilder> builder(gie::createBuilder(logger));
  {
    std::unique_ptr<gie::INetworkDefinition> net(builder->createNetwork());
    std::unique_ptr<gie::IOnnxParser> parser(gie::createOnnxParser(*net, logger));
    const Buf m = reshapeModel();
    check(parser->parse(m.data(), m.size(), nullptr), "parse from memory");
    check(parser->getNbErrors() == 0, "no errors");
    bool noShapeLayers = true;
    for (int32_t i = 0; i < net->getNbLayers(); ++i)
      noShapeLayers = noShapeLayers && std::string(net->getLayer(i)->getType()) != "Gather";
    check(noShapeLayers, "the Shape/Gather/Concat subgraph was folded, not imported as layers");
    check(net->getNbOutputs() == 1 && std::string(net->getOutput(0)->getName()) == "y", "output y marked");
    buildAndRun(*builder, *net, "memory");
    check(!parser->parse(m.data(), m.size(), nullptr), "a second parse is refused");
  }
  {
    const std::string path = "/tmp/gie_test_onnx_parser_" + std::to_string(::getpid()) + ".onnx";
    const Buf m = reshapeModel();
    std::ofstream(path, std::ios::binary).write(m.data(), std::streamsize(m.size()));
    std::unique_ptr<gie::INetworkDefinition> net(builder->createNetwork());
    std::unique_ptr<gie::IOnnxParser> parser(gie::createOnnxParser(*net, logger));
    check(parser->parseFromFile(path.c_str()), "parseFromFile");
    buildAndRun(*builder, *net, "file");
    std::remove(path.c_str());
  }
}

void listsEveryUnsupportedNode() {
  Quiet logger;
  std::unique_ptr<gie::IBuilder> builder(gie::createBuilder(logger));
  std::unique_ptr<gie::INetworkDefinition> net(builder->createNetwork());
  std::unique_ptr<gie::IOnnxParser> parser(gie::createOnnxParser(*net, logger));
  const Buf m = model({node("FooOp", {"x"}, {"a"}, "f1"), node("Relu", {"a"}, {"b"}, "r"), node("FooOp", {"x"}, {"c"}, "f2"),
                       node("BarOp", {"x"}, {"d"}, ""), node("Add", {"b", "c"}, {"e"}, "add"), node("Add", {"e", "d"}, {"y"}, "add2")},
                      {}, {valueInfo("x", 1, {"1", "4"})}, {valueInfo("y", 1, {"1", "4"})});
  check(!parser->parse(m.data(), m.size(), nullptr), "unsupported nodes refused");
  check(parser->getNbErrors() == 3, "three errors (f1, f2, the unnamed BarOp), not nodes downstream: " +
                                        std::to_string(parser->getNbErrors()));
  if (parser->getNbErrors() == 3) {
    const gie::IParserError* e0 = parser->getError(0);
    check(std::string(e0->nodeName()) == "f1" && std::string(e0->nodeOpType()) == "FooOp" &&
              std::string(e0->reason()) == "no converter" && e0->code() == gie::ErrorCode::kUNSUPPORTED,
          std::string("error 0 names node f1: ") + e0->desc());
    check(std::string(parser->getError(1)->nodeName()) == "f2", "error 1 names f2");
    check(std::string(parser->getError(2)->desc()).find("'(unnamed)' BarOp (opset 13): no converter") != std::string::npos,
          std::string("error 2: ") + parser->getError(2)->desc());
  }
  const char* msg = nullptr;
  check(gie::getLastError(&msg) == gie::ErrorCode::kUNSUPPORTED && std::string(msg).find("3 ONNX node(s) cannot be imported") == 0,
        std::string("last error lists all: ") + (msg ? msg : ""));
  check(parser->getError(3) == nullptr && parser->getError(-1) == nullptr, "getError out of range is nullptr");
  check(parser->supportsOperator("Conv") && parser->supportsOperator("Shape") && !parser->supportsOperator("FooOp"),
        "supportsOperator");
  parser->setPluginFallback(false);
  check(!parser->supportsOperator("Convolution"), "without the plugin fallback a registered layer type is not an op");
}

void refusesBadInput() {
  Quiet logger;
  std::unique_ptr<gie::IBuilder> builder(gie::createBuilder(logger));
  {  // truncated: every prefix of a valid model is refused or parsed, never crashes
    const Buf m = reshapeModel();
    int refused = 0;
    for (size_t n = 0; n < m.size(); n += 7) {
      std::unique_ptr<gie::INetworkDefinition> net(builder->createNetwork());
      std::unique_ptr<gie::IOnnxParser> parser(gie::createOnnxParser(*net, logger));
      if (!parser->parse(m.data(), n, nullptr)) ++refused;
    }
    check(refused > 0, "truncated models refused");
    std::unique_ptr<gie::INetworkDefinition> net(builder->createNetwork());
    std::unique_ptr<gie::IOnnxParser> parser(gie::createOnnxParser(*net, logger));
    check(!parser->parse(m.data(), m.size() - 3, nullptr) && parser->getError(0)->code() == gie::ErrorCode::kINVALID_MODEL &&
              std::string(parser->getError(0)->desc()).find("ONNX model: ") == 0,
          std::string("a cut model names the message: ") + (parser->getNbErrors() ? parser->getError(0)->desc() : ""));
  }
  {  // external data leaving the model's directory
    Buf t;
    packedInts(t, 1, {4});
    intField(t, 2, 1);
    lenField(t, 8, "w");
    Buf kv;
    lenField(kv, 1, "location");
    lenField(kv, 2, "../secret.bin");
    lenField(t, 13, kv);
    intField(t, 14, 1);
    const Buf m = model({node("Add", {"x", "w"}, {"y"}, "add")}, {t}, {valueInfo("x", 1, {"1", "4"})}, {valueInfo("y", 1, {"1", "4"})});
    std::unique_ptr<gie::INetworkDefinition> net(builder->createNetwork());
    std::unique_ptr<gie::IOnnxParser> parser(gie::createOnnxParser(*net, logger));
    check(!parser->parse(m.data(), m.size(), "/tmp") &&
              std::string(parser->getError(0)->desc()).find("'..' leaves the model's directory") != std::string::npos,
          "'..' in an external data path refused");
  }
  check(gie::getNbOnnxOperators() > 100 && gie::getOnnxOperator(0) != nullptr &&
            gie::getOnnxOperator(gie::getNbOnnxOperators()) == nullptr,
        "operator list");
}

struct Recording : gie::ILogger {
  std::vector<std::string> lines;
  void log(Severity, const char* msg) noexcept override { lines.push_back(msg); }
};

// x (N, 4, 6) -> Transpose (4, N, 6) -> Gather row 1 of dimension 0 -> y (N, 6): dimension 0 of the Gather's input is
// not the batch, which the batch path cannot follow.
Buf gatherRowModel() {
  Buf perm;
  lenField(perm, 1, "perm");
  intField(perm, 20, 7);  // INTS
  for (int64_t v : {1, 0, 2}) intField(perm, 8, v);
  Buf permAttr;
  lenField(permAttr, 5, perm);
  return model({node("Transpose", {"x"}, {"t"}, "tr", permAttr), node("Gather", {"t", "one"}, {"y"}, "row", intAttr("axis", 0))},
               {int64Tensor("one", {}, {1})}, {valueInfo("x", 1, {"N", "4", "6"})}, {valueInfo("y", 1, {"N", "6"})});
}

void fallsBackToADynamicBatch() {
  Recording logger;
  std::unique_ptr<gie::IBuilder> builder(gie::createBuilder(logger));
  const Buf m = gatherRowModel();
  std::unique_ptr<gie::INetworkDefinition> net(builder->createNetwork());
  gie::ITensor* pre = net->addInput("pre", gie::DataType::kFLOAT, gie::dims2(2, 3));  // held before the parse
  gie::ILayer* preLayer = net->addActivation(*pre, gie::ActivationType::kRELU);
  net->markOutput(*preLayer->getOutput(0));
  std::unique_ptr<gie::IOnnxParser> parser(gie::createOnnxParser(*net, logger));
  check(parser->parse(m.data(), m.size(), nullptr), "a Gather of dimension 0 after a Transpose imports with a lone symbolic batch");
  check(net->getNbInputs() == 2 && net->getInput(0) == pre && std::string(net->getInput(1)->getName()) == "x",
        "inputs: the one held before, then x (the first attempt's x rolled back)");
  const gie::Dims xd = net->getNbInputs() == 2 ? net->getInput(1)->getDimensions() : gie::Dims{};
  check(xd.nbDims == 3 && xd.d[0] == -1 && xd.d[1] == 4 && xd.d[2] == 6, "x declared (-1, 4, 6)");
  check(net->getNbOutputs() == 2 && net->getOutput(0) == preLayer->getOutput(0) && std::string(net->getOutput(1)->getName()) == "y",
        "outputs: the one held before, then y");
  check(net->getLayer(0) == preLayer, "the layer held before stays first");
  bool logged = false;
  for (const auto& l : logger.lines)
    logged = logged || (l.find("imported as dynamic (-1)") != std::string::npos && l.find("node 'row' (Gather)") != std::string::npos);
  check(logged, "an INFO line names the node the batch path refused");
  // The same network as a parse with x pinned to (-1, 4, 6) (no batch path at all): nothing of the first attempt is left.
  std::unique_ptr<gie::INetworkDefinition> pinned(builder->createNetwork());
  std::unique_ptr<gie::IOnnxParser> pinnedParser(gie::createOnnxParser(*pinned, logger));
  pinnedParser->setInputShape("x", gie::dims3(-1, 4, 6));
  check(pinnedParser->parse(m.data(), m.size(), nullptr), "pinned (-1, 4, 6) parse");
  check(net->getNbLayers() == pinned->getNbLayers() + 1, "layers: the one held before plus the pinned parse's " +
                                                                  std::to_string(pinned->getNbLayers()) + ", got " +
                                                                  std::to_string(net->getNbLayers()));
}

}  // namespace

int main() {
  importsAndRuns();
  fallsBackToADynamicBatch();
  listsEveryUnsupportedNode();
  refusesBadInput();
  std::printf("%d passed, %d failed\n", gPassed, gFailed);
  return gFailed == 0 ? 0 : 1;
}
