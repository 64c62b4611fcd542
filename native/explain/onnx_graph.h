// onnx_graph.h — a small builder over libonnx's GraphProto: named constants, nodes with attributes,
// fresh tensor names, then check + shape inference + serialisation.
//
// Why by hand: LibTorch 1.13 has no C++ ONNX exporter (torch.onnx is Python-only) and the Grad-CAM
// backward pass must be written as ONNX operators anyway (ONNX Runtime Web has no autograd).
// Constraint: opset 13, IR version 8, float32 initialisers as raw_data. No LibTorch here.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cellcam/error.h"

namespace onnx {
class ModelProto;
}

namespace cellcam::explain {

constexpr int kOnnxOpset = 13;

// One node attribute: an int, a float, or a list of ints.
struct Attr {
  std::string name;
  enum class Kind { kInt, kFloat, kInts } kind = Kind::kInt;
  std::int64_t i = 0;
  float f = 0.0f;
  std::vector<std::int64_t> ints;
  static Attr Int(std::string n, std::int64_t v) { Attr a; a.name = std::move(n); a.kind = Kind::kInt; a.i = v; return a; }
  static Attr Float(std::string n, float v) { Attr a; a.name = std::move(n); a.kind = Kind::kFloat; a.f = v; return a; }
  static Attr Ints(std::string n, std::vector<std::int64_t> v) { Attr a; a.name = std::move(n); a.kind = Kind::kInts; a.ints = std::move(v); return a; }
};

class GraphBuilder {
 public:
  GraphBuilder();
  ~GraphBuilder();
  GraphBuilder(const GraphBuilder&) = delete;
  GraphBuilder& operator=(const GraphBuilder&) = delete;

  // Continues a finished model (its serialised bytes): what is added comes after its nodes, with fresh
  // names that do not clash with its own. Errors: bytes that are not an ONNX model.
  Result<bool> load(const std::string& bytes);
  // The tensor the node named `node_name` ("node/<hint>") reads as input `index` / writes as output 0;
  // empty when there is no such node. Whether the graph has an output of that name.
  std::string node_input(const std::string& node_name, int index) const;
  std::string node_output(const std::string& node_name) const;
  bool has_output(const std::string& name) const;

  // A float32 input or output; a dimension of -1 is the symbolic batch dimension "N".
  void add_input(const std::string& name, const std::vector<std::int64_t>& dims);
  void add_output(const std::string& name, const std::vector<std::int64_t>& dims);

  // Initialisers; each returns the tensor's (fresh) name.
  std::string constant(const std::string& hint, const std::vector<std::int64_t>& dims, const std::vector<float>& values);
  std::string constant_ints(const std::string& hint, const std::vector<std::int64_t>& values);  // 1-D int64
  std::string scalar(const std::string& hint, float value);                                     // 0-D float

  // One node with one output; returns the output's (fresh) name.
  std::string node(const std::string& op, const std::vector<std::string>& inputs, const std::vector<Attr>& attrs = {},
                   const std::string& hint = "");
  // One node with several outputs (e.g. MaxPool with indices).
  std::vector<std::string> node_multi(const std::string& op, const std::vector<std::string>& inputs, int outputs,
                                      const std::vector<Attr>& attrs = {}, const std::string& hint = "");
  // Makes the tensor `from` available under the graph output name `to` (an Identity node).
  void rename_output(const std::string& from, const std::string& to);

  // Runs onnx::checker and strict shape inference; then the model's bytes.
  Result<std::string> finish(const std::string& producer_version, const std::string& doc);

  std::size_t node_count() const;

 private:
  std::string fresh(const std::string& hint);
  onnx::ModelProto* model_;
  std::map<std::string, int> used_;
};

}  // namespace cellcam::explain
