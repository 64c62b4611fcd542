// onnx_graph.cpp — see onnx_graph.h.
#include "onnx_graph.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <cstring>
#include <exception>

namespace cellcam::explain {

namespace {

void set_tensor_type(onnx::ValueInfoProto* v, const std::string& name, const std::vector<std::int64_t>& dims) {
  v->set_name(name);
  onnx::TypeProto_Tensor* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  onnx::TensorShapeProto* shape = t->mutable_shape();
  for (std::int64_t d : dims) {
    if (d < 0)
      shape->add_dim()->set_dim_param("N");
    else
      shape->add_dim()->set_dim_value(d);
  }
}

}  // namespace

GraphBuilder::GraphBuilder() : model_(new onnx::ModelProto) {
  model_->set_ir_version(8);
  onnx::OperatorSetIdProto* opset = model_->add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  model_->mutable_graph()->set_name("cellcam");
}

GraphBuilder::~GraphBuilder() { delete model_; }

Result<bool> GraphBuilder::load(const std::string& bytes) {
  onnx::ModelProto parsed;
  if (!parsed.ParseFromString(bytes)) return make_error(ErrorCode::kCorrupt, "not an ONNX model");
  *model_ = parsed;
  used_.clear();
  const onnx::GraphProto& g = model_->graph();
  for (const onnx::ValueInfoProto& v : g.input()) used_[v.name()]++;
  for (const onnx::TensorProto& t : g.initializer()) used_[t.name()]++;
  for (const onnx::NodeProto& n : g.node()) {
    used_[n.name()]++;
    for (const std::string& o : n.output()) used_[o]++;
  }
  return true;
}

std::string GraphBuilder::node_input(const std::string& node_name, int index) const {
  for (const onnx::NodeProto& n : model_->graph().node())
    if (n.name() == node_name && index < n.input_size()) return n.input(index);
  return "";
}

std::string GraphBuilder::node_output(const std::string& node_name) const {
  for (const onnx::NodeProto& n : model_->graph().node())
    if (n.name() == node_name && n.output_size() > 0) return n.output(0);
  return "";
}

bool GraphBuilder::has_output(const std::string& name) const {
  for (const onnx::ValueInfoProto& v : model_->graph().output())
    if (v.name() == name) return true;
  return false;
}

std::size_t GraphBuilder::node_count() const { return static_cast<std::size_t>(model_->graph().node_size()); }

std::string GraphBuilder::fresh(const std::string& hint) {
  const std::string base = hint.empty() ? "t" : hint;
  const int n = used_[base]++;
  return n == 0 ? base : base + "_" + std::to_string(n);
}

void GraphBuilder::add_input(const std::string& name, const std::vector<std::int64_t>& dims) {
  used_[name]++;
  set_tensor_type(model_->mutable_graph()->add_input(), name, dims);
}

void GraphBuilder::add_output(const std::string& name, const std::vector<std::int64_t>& dims) {
  set_tensor_type(model_->mutable_graph()->add_output(), name, dims);
}

std::string GraphBuilder::constant(const std::string& hint, const std::vector<std::int64_t>& dims, const std::vector<float>& values) {
  const std::string name = fresh(hint);
  onnx::TensorProto* t = model_->mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (std::int64_t d : dims) t->add_dims(d);
  t->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  return name;
}

std::string GraphBuilder::constant_ints(const std::string& hint, const std::vector<std::int64_t>& values) {
  const std::string name = fresh(hint);
  onnx::TensorProto* t = model_->mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims(static_cast<std::int64_t>(values.size()));
  t->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(std::int64_t)));
  return name;
}

std::string GraphBuilder::scalar(const std::string& hint, float value) { return constant(hint, {}, {value}); }

std::vector<std::string> GraphBuilder::node_multi(const std::string& op, const std::vector<std::string>& inputs, int outputs,
                                                  const std::vector<Attr>& attrs, const std::string& hint) {
  onnx::NodeProto* n = model_->mutable_graph()->add_node();
  n->set_op_type(op);
  const std::string base = hint.empty() ? op : hint;
  n->set_name(fresh("node/" + base));
  for (const std::string& in : inputs) n->add_input(in);
  std::vector<std::string> names;
  for (int i = 0; i < outputs; ++i) {
    names.push_back(fresh(base));
    n->add_output(names.back());
  }
  for (const Attr& a : attrs) {
    onnx::AttributeProto* p = n->add_attribute();
    p->set_name(a.name);
    switch (a.kind) {
      case Attr::Kind::kInt: p->set_type(onnx::AttributeProto::INT); p->set_i(a.i); break;
      case Attr::Kind::kFloat: p->set_type(onnx::AttributeProto::FLOAT); p->set_f(a.f); break;
      case Attr::Kind::kInts:
        p->set_type(onnx::AttributeProto::INTS);
        for (std::int64_t v : a.ints) p->add_ints(v);
        break;
    }
  }
  return names;
}

std::string GraphBuilder::node(const std::string& op, const std::vector<std::string>& inputs, const std::vector<Attr>& attrs,
                               const std::string& hint) {
  return node_multi(op, inputs, 1, attrs, hint)[0];
}

void GraphBuilder::rename_output(const std::string& from, const std::string& to) {
  onnx::NodeProto* n = model_->mutable_graph()->add_node();
  n->set_op_type("Identity");
  n->set_name("node/" + to);
  n->add_input(from);
  n->add_output(to);
  used_[to]++;
}

Result<std::string> GraphBuilder::finish(const std::string& producer_version, const std::string& doc) {
  model_->set_producer_name("cellcam");
  model_->set_producer_version(producer_version);
  model_->set_doc_string(doc);
  try {
    onnx::checker::check_model(*model_);
    onnx::ShapeInferenceOptions options(/*check_type_val=*/true, /*strict_mode_val=*/1, /*data_prop_val=*/true);
    onnx::shape_inference::InferShapes(*model_, onnx::OpSchemaRegistry::Instance(), options);
    onnx::checker::check_model(*model_);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInternal, std::string("the exported graph fails the ONNX checker: ") + e.what());
  }
  std::string bytes;
  if (!model_->SerializeToString(&bytes)) return make_error(ErrorCode::kInternal, "cannot serialise the ONNX model");
  return bytes;
}

}  // namespace cellcam::explain
